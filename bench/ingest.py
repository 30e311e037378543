#!/usr/bin/env python
"""Ingest benchmark: readings through a real mosquitto into ``twin serve --mqtt``, against
mosquitto's own C subscriber on the same topics in the same run; the latency from publish
to the reading being visible in a stream frame; and HTTP batches of 1,000 readings.

    python bench/ingest.py              # 2 publishers offering 50,000 readings/s for 60 s, the demo district (~1.5 min)
    python bench/ingest.py --batch 10   # the same readings as gateways send them: 10 per message (a JSON array)
    python bench/ingest.py --quick      # 2 publishers, 5,000 readings/s for 10 s

On 127.0.0.1, each its own process: mosquitto (``twin.sources.broker``), the twin
(``twin serve SCENE --mqtt``, its persistent QoS 1 session), ``mosquitto_sub`` subscribed
to the same readings at QoS 1, and ``--publishers`` publisher processes (gmqtt, MQTT v5,
QoS 1, up to the broker's receive maximum in flight: the fleet's client), each sending its
share of ``--rate`` readings per second for ``--seconds``, one reading per message (or
``--batch`` readings per message: a gateway's array), on the scene's sensors' own topics,
every reading with its own time.

- **Throughput**: readings per second from the first publish to the moment the twin had
  applied them all (``twin_readings_accepted_total`` in ``/metrics``, counted per tick),
  against mosquitto_sub's (from the first publish to its last message). Their ratio is
  ``ingest_over_mosquitto_sub`` (goal >= 0.5); ``lost`` is readings published (and
  acknowledged by the broker) that the twin never applied (goal 0). When both keep up
  with the publishers the ratio is near 1 and the offered rate is the figure; the
  publishers' own rate is printed beside it.
- **Latency**: while the load runs, this process publishes a probe reading on one of
  ``--probes`` sensors every ``1.3 s / probes`` (one sensor at most once a tick, so none
  is superseded), and reads the twin's stream (``/ws``, the probes' domain and field);
  latency is from the publish call to the frame that carries the probe's value (both
  clocks this process's). Goal: p99 under one tick plus 50 ms.
- **HTTP**: then, ``POST /api/readings`` with JSON arrays of 1,000 readings, one request
  after another for ``--http-seconds``: batches and readings per second, request p50/p99.

CPU: the twin process's CPU time per reading over the MQTT phase (one core = 1 s/s).
The last line is ``RESULT ingest_over_mosquitto_sub= readings_per_s= lost=
publish_to_frame_p99_ms= ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
T0 = time.monotonic()


def say(msg: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f} s] {msg}", flush=True)


def _args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 publishers, 5,000 readings/s for 10 s, HTTP for 3 s")
    ap.add_argument("--scene", type=Path, help="scene folder (default: the demo district)")
    ap.add_argument("--publishers", type=int, default=2,
                    help="publisher processes (default 2: on a two-core machine more only contend with the broker and the twin)")
    ap.add_argument("--rate", type=float, help="readings per second offered in all (default 50,000; 5,000 with --quick)")
    ap.add_argument("--seconds", type=float, help="how long the publishers publish (default 60; 10 with --quick)")
    ap.add_argument("--batch", type=int, default=1, help="readings per message (default 1; more: a gateway's JSON array)")
    ap.add_argument("--probes", type=int, default=5, help="sensors the latency probes take turns on (default 5)")
    ap.add_argument("--http-seconds", type=float, help="how long to post HTTP batches (default 10; 3 with --quick)")
    # the publisher processes run this file too
    ap.add_argument("--publisher", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    a.rate = a.rate or (5_000.0 if a.quick else 50_000.0)
    a.seconds = a.seconds or (10.0 if a.quick else 60.0)
    a.http_seconds = a.http_seconds if a.http_seconds is not None else (3.0 if a.quick else 10.0)
    if a.batch < 1 or a.publishers < 1 or a.probes < 1 or not a.rate > 0 or not a.seconds > 0:
        ap.error("--batch, --publishers and --probes must be at least 1; --rate and --seconds above zero")
    return a


def value_in(low: float, high: float, k: int) -> float:
    """A value inside [low, high] that changes with ``k`` (readings must be in range)."""
    base = 0.0 if low <= 0.0 <= high else (low if math.isfinite(low) else high - 1.0)
    step = 1e-3 if not math.isfinite(high) or high - base >= 0.02 else 0.0
    return base + step * (k % 10)


# -- a publisher process ------------------------------------------------------------------

async def publish(job: dict[str, Any]) -> dict[str, Any]:
    """Send ``job["readings"]`` readings over ``job["sensors"]`` (topic, low, high) at
    ``job["rate"]`` readings/s, ``job["batch"]`` per message, QoS 1; wait for every
    acknowledgement. Returns what was sent and when."""
    from gmqtt.mqtt.constants import MQTTv50

    from twin.sources.fleet import _FleetClient

    client = _FleetClient(f"bench-pub-{os.getpid()}", clean_session=True)
    client.on_disconnect = lambda *args: client.lost.set()
    await client.connect("127.0.0.1", job["port"], version=MQTTv50)
    sensors = job["sensors"]
    batch, total = job["batch"], job["readings"]
    messages = math.ceil(total / batch)
    per_second = job["rate"] / batch
    last = [0.0] * len(sensors)
    start = job["start"]
    await asyncio.sleep(max(0.0, start - time.time()))
    began = time.time()
    sent = 0
    k = 0
    while sent < messages:
        due = min(messages, int((time.time() - began) * per_second) + 1)
        while sent < due:
            i = sent % len(sensors)
            topic, low, high = sensors[i]
            n = min(batch, total - sent * batch)
            samples = []
            for _ in range(n):
                t = max(time.time(), last[i] + 1e-6)  # each reading its own time: none is a duplicate
                last[i] = t
                samples.append(f'{{"t":{t!r},"v":{value_in(low, high, k)!r}}}')
                k += 1
            payload = (samples[0] if batch == 1 else "[" + ",".join(samples) + "]").encode()
            while True:
                try:
                    client.publish(topic, payload, qos=1)
                    break
                except OverflowError:  # the broker's receive maximum: wait for an acknowledgement
                    client.acked.clear()
                    await client.wait_acked()
                    if client.lost.is_set():
                        raise SystemExit("the broker dropped the publisher")
            sent += 1
        await asyncio.sleep(0.005)
    published = time.time()
    await asyncio.wait_for(client._persistent_storage.wait_empty(), 120)
    acked = time.time()
    await client.disconnect()
    return {"messages": sent, "readings": total, "began": began, "published": published, "acked": acked}


def publisher_main(job_file: Path) -> int:
    job = json.loads(job_file.read_text())
    print(json.dumps(asyncio.run(publish(job))), flush=True)
    return 0


# -- this process -----------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def rejected(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith("twin_readings_rejected_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            out[reason] = float(line.split()[1])
    return out


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def probe_and_watch(url: str, port: int, district: str, probes: list[tuple[str, str, int, float, float]],
                          domain: str, field: str, stop: asyncio.Event) -> tuple[list[float], int]:
    """Publish probe readings and read the twin's stream until ``stop``: the latencies
    (ms) of the probes seen in a frame, and how many were sent."""
    import numpy as np
    import websockets
    from gmqtt.mqtt.constants import MQTTv50

    from twin.serving import protocol as p
    from twin.sources.fleet import _FleetClient

    sent: dict[tuple[int, float], float] = {}  # (row, value) -> publish time
    latencies: list[float] = []
    client = _FleetClient(f"bench-probe-{os.getpid()}", clean_session=True)
    await client.connect("127.0.0.1", port, version=MQTTv50)
    ws = await websockets.connect(url.replace("http", "ws") + "/ws", subprotocols=[p.SUBPROTOCOL], max_size=None,
                                  compression=None)
    await ws.send(p.encode_client(p.Subscribe(domains={domain: [field]})))

    async def read() -> None:
        async for frame in ws:
            now = time.time()
            message, base = p.decode_server(frame)
            if not isinstance(message, p.Delta):
                continue
            change = message.domains.get(domain, {}).get(field)
            if change is None:
                continue
            rows = p.view(frame, base, change.rows)
            values = p.view(frame, base, change.values)
            for row, value in zip(rows.tolist(), np.asarray(values, dtype=np.float64).tolist()):
                published = sent.pop((row, round(value, 1)), None)
                if published is not None:
                    latencies.append((now - published) * 1000.0)

    reader = asyncio.create_task(read())
    interval = 1.3 / len(probes)  # each probe sensor at most once a tick (1 s)
    k = 0
    try:
        while not stop.is_set():
            topic, _sensor, row, low, high = probes[k % len(probes)]
            base = 0.0 if low <= 0.0 <= high else low
            value = base + 1.0 + (k % 37) if base + 38.0 <= high else round(base + (high - base) * (k % 7 + 1) / 8, 1)
            t = time.time()
            sent[(row, value)] = t
            client.publish(topic, f'{{"t":{t!r},"v":{value!r}}}'.encode(), qos=1)
            k += 1
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except asyncio.TimeoutError:
                pass
        await asyncio.sleep(2.5)  # the last probes' frames
    finally:
        reader.cancel()
        await ws.close()
        await client.disconnect()
    return latencies, k


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    if args.publisher is not None:
        return publisher_main(args.publisher)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".venv" / "numba-cache" / _fingerprint()))
    import httpx

    from twin.tick.ingest import sensor_columns
    from twin.plugins.registry import load_registry
    from twin.runtime import default_scene, open_scene
    from twin.sources.broker import Broker, free_port, mosquitto_path
    from twin.sources.mqtt import district_of
    from twin.sources.payloads import topic_for
    from twin.tick.world import World

    scene_path = args.scene or default_scene()
    registry = load_registry()
    scene = open_scene(scene_path, registry)
    district = district_of(scene)
    world = World(scene, registry)
    _, low, high = sensor_columns(scene.sensors, world)
    # probes: sensors of one (domain, field) whose value the twin takes from its sensor
    by_column: dict[tuple[str, str], list[int]] = {}
    for i, s in enumerate(scene.sensors):
        table, _row = world.locate(s.asset)
        by_column.setdefault((table.domain.name, s.field), []).append(i)
    (domain, field), members = max(by_column.items(), key=lambda kv: (kv[0] == ("bridge", "strain"), len(kv[1])))
    probe_idx = members[: args.probes]
    probes = [(topic_for(district, scene.sensors[i].id, scene.sensors[i].field), scene.sensors[i].id,
               world.locate(scene.sensors[i].asset)[1], float(low[i]), float(high[i])) for i in probe_idx]
    load = [i for i in range(len(scene.sensors)) if i not in set(probe_idx)]
    load_topics = [(topic_for(district, scene.sensors[i].id, scene.sensors[i].field), float(low[i]), float(high[i])) for i in load]
    mosquitto_version = subprocess.run([mosquitto_path(), "-h"], capture_output=True, text=True).stdout.splitlines()[0].strip()
    say(f"scene {scene.name!r}: {len(load)} sensors under load, probes on {len(probes)} {domain}.{field} sensors; "
        f"{args.publishers} publishers offering {args.rate:,.0f} readings/s for {args.seconds:g} s, {args.batch} per message; "
        f"{mosquitto_version}; {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")

    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    procs: list[subprocess.Popen[Any]] = []
    broker = Broker(work / "broker").start()
    try:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        twin_log = (work / "twin.log").open("w")
        twin = subprocess.Popen([sys.executable, "-m", "twin.cli", "serve", str(scene_path), "--mqtt", broker.url, "--port",
                                 str(port), "--data", str(work / "data")], stdout=subprocess.DEVNULL, stderr=twin_log)
        procs.append(twin)
        http = httpx.Client(base_url=url, timeout=30)
        deadline = time.monotonic() + 300
        while True:
            try:
                if http.get("/api/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if twin.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the twin did not become healthy; see {work / 'twin.log'}")
            time.sleep(0.2)
        say(f"twin ready at {url}, subscribed to {broker.url}")

        # the publishers' jobs: each its share of the load sensors and of the readings
        per = int(args.rate * args.seconds) // args.publishers
        total_readings = per * args.publishers
        messages = 0
        start = time.time() + 3.0
        jobs = []
        for n in range(args.publishers):
            share = load_topics[n :: args.publishers]
            job = {"port": broker.port, "sensors": share, "readings": per, "rate": args.rate / args.publishers,
                   "batch": args.batch, "start": start}
            messages += math.ceil(per / args.batch)
            path = work / f"job{n}.json"
            path.write_text(json.dumps(job))
            jobs.append(path)
        sub_args = ["mosquitto_sub", "-p", str(broker.port), "-V", "5", "-q", "1", "-t", f"city/{district}/+/+",
                    "-C", str(messages), "-W", str(int(args.seconds * 4 + 120))]
        for topic, *_ in probes:
            sub_args += ["-T", topic]
        sub_log = (work / "mosquitto_sub.log").open("w")
        sub = subprocess.Popen(sub_args, stdout=subprocess.DEVNULL, stderr=sub_log)
        procs.append(sub)
        ended: dict[str, float] = {}
        # mosquitto_sub exits with its last message (-C): its end is stamped the moment it exits
        waiter = threading.Thread(target=lambda: (sub.wait(), ended.__setitem__("sub", time.time())), daemon=True)
        waiter.start()
        time.sleep(0.5)
        before = http.get("/metrics").text
        accepted0 = metric(before, "twin_readings_accepted_total")
        rejected0 = rejected(before)
        cpu0 = cpu_seconds(twin.pid)
        pubs = [subprocess.Popen([sys.executable, __file__, "--publisher", str(job)], stdout=subprocess.PIPE, text=True)
                for job in jobs]
        procs += pubs

        stop = asyncio.Event()
        result: dict[str, Any] = {}
        samples: list[tuple[float, float]] = []  # (time, twin_readings_accepted_total) while publishing

        async def measure() -> None:
            probing = asyncio.create_task(probe_and_watch(url, broker.port, district, probes, domain, field, stop))
            while any(p.poll() is None for p in pubs):
                text = (await asyncio.to_thread(http.get, "/metrics")).text
                samples.append((time.time(), metric(text, "twin_readings_accepted_total")))
                await asyncio.sleep(0.5)
            stop.set()
            result["probe"] = await probing
            result["pub_exit"] = time.time()

        say(f"publishing {total_readings:,} readings in {messages:,} messages from {start - time.time():.1f} s on")
        asyncio.run(measure())
        stats = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in pubs]
        if any(p.returncode for p in pubs):
            raise SystemExit("a publisher failed")
        latencies, probes_sent = result["probe"]
        began = min(s["began"] for s in stats)
        published = max(s["published"] for s in stats)
        # the twin: until it has applied every reading published (load and probes), or stalls
        expected = accepted0 + total_readings + probes_sent
        seen, last_change, twin_done = accepted0, time.time(), None
        while True:
            text = http.get("/metrics").text
            now = time.time()
            accepted = metric(text, "twin_readings_accepted_total")
            if accepted != seen:
                seen, last_change = accepted, now
            if accepted >= expected:
                twin_done = now
                break
            if now - last_change > 15:
                break
            time.sleep(0.1)
        cpu = cpu_seconds(twin.pid) - cpu0
        waiter.join(args.seconds * 4 + 150)
        sub_log.close()
        sub_err = (work / "mosquitto_sub.log").read_text()
        sub_rate = total_readings / (ended["sub"] - began) if sub.returncode == 0 and "sub" in ended else None
        applied = seen - accepted0
        lost = max(0, int(total_readings + probes_sent - applied))
        reasons = {k: v - rejected0.get(k, 0.0) for k, v in rejected(text).items() if v - rejected0.get(k, 0.0)}
        twin_rate = (total_readings + probes_sent) / (twin_done - began) if twin_done else applied / (last_change - began)
        publish_rate = total_readings / (published - began)
        say(f"publishers: {total_readings:,} readings in {published - began:.1f} s = {publish_rate:,.0f}/s "
            f"(offered {args.rate:,.0f}/s); all acknowledged {max(s['acked'] for s in stats) - began:.1f} s after the first")
        say(f"mosquitto_sub: {'all ' + format(total_readings, ',') + ' readings' if sub.returncode == 0 else 'exit ' + str(sub.returncode) + ' ' + sub_err.strip()}"
            + (f", {sub_rate:,.0f}/s" if sub_rate else ""))
        say(f"twin: applied {applied:,.0f} of {total_readings + probes_sent:,} ({lost:,} lost"
            + (f", rejected {reasons}" if reasons else "") + f") "
            + (f"all {twin_done - began:.1f} s after the first publish = {twin_rate:,.0f}/s" if twin_done else
               f"stalled; {twin_rate:,.0f}/s until then")
            + f"; twin CPU {cpu:.1f} s = {cpu / max(applied, 1) * 1e6:.1f} us per reading")
        # while publishing: the slope of what the twin applied, from a fifth of the way in
        inside = [(t, a) for t, a in samples if began + 0.2 * (published - began) <= t <= published]
        if len(inside) >= 2:
            (ta, aa), (tb, ab) = inside[0], inside[-1]
            say(f"twin while publishing: {(ab - aa) / (tb - ta):,.0f} readings/s applied "
                f"(publishers {publish_rate:,.0f}/s); {twin_done - published if twin_done else math.nan:.1f} s after the "
                f"last publish it had applied them all (ticks are {1.0:g} s apart and /metrics counts per tick)")
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        say(f"publish -> frame: {len(latencies)} of {probes_sent} probes seen in a frame; p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
            f"max {max(latencies, default=math.nan):.0f} ms (goal: p99 under one tick + 50 ms = 1050 ms)")

        http_batches, http_readings, http_ms = post_batches(http, [scene.sensors[i].id for i in load],
                                                            [(float(low[i]), float(high[i])) for i in load], args.http_seconds)
        if http_batches:
            say(f"HTTP: {http_batches / args.http_seconds:,.1f} batches of 1,000 per second = "
                f"{http_readings / args.http_seconds:,.0f} readings/s accepted; request p50 {percentile(http_ms, 0.5):.0f} ms, "
                f"p99 {percentile(http_ms, 0.99):.0f} ms")
        ratio = twin_rate / sub_rate if sub_rate else math.nan
        say(f"twin / mosquitto_sub: {ratio:.2f}x (goal >= 0.5x); readings/s {twin_rate:,.0f} (goal >= 50,000 for 60 s, 0 lost)")
        print("RESULT " + " ".join([
            f"ingest_over_mosquitto_sub={ratio:.2f}", f"readings_per_s={twin_rate:.0f}", f"lost={lost}",
            f"publish_to_frame_p99_ms={p99:.0f}", f"publish_to_frame_p50_ms={p50:.0f}",
            f"mosquitto_sub_per_s={sub_rate or math.nan:.0f}", f"published_per_s={publish_rate:.0f}", f"offered_per_s={args.rate:.0f}",
            f"twin_cpu_us_per_reading={cpu / max(applied, 1) * 1e6:.1f}",
            f"http_batches_per_s={http_batches / args.http_seconds if args.http_seconds else math.nan:.1f}",
            f"http_readings_per_s={http_readings / args.http_seconds if args.http_seconds else math.nan:.0f}",
        ]), flush=True)
        return 0 if lost == 0 else 1
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


def post_batches(http: Any, sensors: list[str], ranges: list[tuple[float, float]], seconds: float) -> tuple[int, int, list[float]]:
    """POST JSON arrays of 1,000 readings one after another for ``seconds``: (batches,
    readings accepted, each request's milliseconds)."""
    if seconds <= 0:
        return 0, 0, []
    batches = accepted = 0
    times: list[float] = []
    last = [0.0] * len(sensors)
    k = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        body = []
        for _ in range(1000):
            i = k % len(sensors)
            t = max(time.time() - 5.0, last[i] + 1e-6)  # a little in the past: never ahead of the twin's clock
            last[i] = t
            body.append({"sensor": sensors[i], "t": t, "v": value_in(*ranges[i], k)})
            k += 1
        started = time.perf_counter()
        r = http.post("/api/readings", json=body)
        times.append((time.perf_counter() - started) * 1000.0)
        if r.status_code != 200:
            raise SystemExit(f"POST /api/readings answered {r.status_code}: {r.text[:300]}")
        answer = r.json()
        accepted += answer["accepted"]
        if answer["rejected"]:
            raise SystemExit(f"POST /api/readings rejected {answer['rejected']}: {answer['reasons']} {answer['rejects'][:2]}")
        batches += 1
    return batches, accepted, times


def _fingerprint() -> str:
    import hashlib

    return hashlib.sha256((ROOT / "twin" / "tick" / "risk.py").read_bytes()).hexdigest()[:12]


if __name__ == "__main__":
    sys.exit(main())
