#!/usr/bin/env python
"""Ingest benchmark: readings through a real mosquitto into ``twin serve --mqtt``, against
mosquitto's own C subscriber on the same topics in the same run; the latency from publish
to the reading being visible in a stream frame; and HTTP batches of 1,000 readings.

    python bench/ingest.py              # 2 publishers offering 50,000 readings/s for 60 s, the demo district (~1.5 min)
    python bench/ingest.py --batch 10   # the same readings as gateways send them: 10 per message (a JSON array)
    python bench/ingest.py --quick      # 2 publishers, 5,000 readings/s for 10 s

On 127.0.0.1, each its own process: mosquitto (``twin.sources.broker``), the twin
(``twin serve SCENE --mqtt``, its persistent QoS 1 session), ``mosquitto_sub`` subscribed
to the same readings at QoS 1, and ``--publishers`` publisher processes, each sending its
share of ``--rate`` readings per second for ``--seconds``, one reading per message (or
``--batch`` readings per message: a gateway's array), on the scene's sensors' own topics,
every reading with its own time. A publisher is a device fleet's gateway reduced to its
wire: MQTT 3.1.1 (what most field devices speak) on a plain socket, QoS 1, up to
``--window`` messages unacknowledged, every PUBACK counted; it spends ~2 us of CPU a
message, so that on a machine of two cores the broker and the subscribers get the rest.

- **Throughput**: readings per second from the first publish to the moment the twin had
  applied them all (``twin_readings_accepted_total`` in ``/metrics``, polled every
  0.25 s; the twin counts per tick, 1 s apart), against mosquitto_sub's (from the first
  publish to its last message). Their ratio is ``ingest_over_mosquitto_sub`` (goal >=
  0.5); ``lost`` is readings published (and acknowledged by the broker) that the twin
  never applied (goal 0). When both keep up with the publishers the ratio is near 1 and
  the offered rate is the figure; the publishers' own rate is printed beside it, and the
  twin's slowest 10 s while publishing (``twin_min_10s_per_s``) says whether it was
  sustained.
- **Latency**: while the load runs, this process publishes a probe reading on one of
  ``--probes`` sensors every ``1.3 s / probes`` (one sensor at most once a tick, so none
  is superseded), and reads the twin's stream (``/ws``, the probes' domain and field);
  latency is from the publish call to the frame that carries the probe's value (both
  clocks this process's). Goal: p99 under one tick plus 50 ms. A reading waits up to one
  tick for the next tick to take it (0.5 tick on average); the rest is the tick's own
  work and the frame's way to the screen, printed beside it (the twin's tick time from
  ``twin_tick_seconds``).
- **HTTP**: then, ``POST /api/readings`` with JSON arrays of 1,000 readings, one request
  after another for ``--http-seconds``: batches and readings per second, request p50/p99.

CPU: the seconds each process spent over the MQTT phase (twin, mosquitto, mosquitto_sub,
publishers) against what two cores offer in that time, and the twin's CPU per reading.
The last line is ``RESULT ingest_over_mosquitto_sub= readings_per_s= lost=
publish_to_frame_p99_ms= ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import select
import shutil
import socket
import struct
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
    ap.add_argument("--window", type=int, default=10_000, help="messages a publisher leaves unacknowledged at most (default 10,000)")
    ap.add_argument("--probes", type=int, default=5, help="sensors the latency probes take turns on (default 5)")
    ap.add_argument("--http-seconds", type=float, help="how long to post HTTP batches (default 10; 3 with --quick)")
    ap.add_argument("--drain", action="store_true",
                    help="instead: queue the readings while the twin and mosquitto_sub are away, then time both taking "
                         "them from their persistent sessions (what the twin takes in when the broker only forwards)")
    # the publisher processes run this file too
    ap.add_argument("--publisher", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    a.rate = a.rate or (5_000.0 if a.quick else 50_000.0)
    a.seconds = a.seconds or (10.0 if a.quick else 60.0)
    a.http_seconds = a.http_seconds if a.http_seconds is not None else (3.0 if a.quick else 10.0)
    if a.batch < 1 or a.publishers < 1 or a.probes < 1 or not a.rate > 0 or not a.seconds > 0 or not 1 <= a.window <= 65_535:
        ap.error("--batch, --publishers and --probes must be at least 1; --rate and --seconds above zero; --window 1-65535")
    return a


def value_in(low: float, high: float, k: int) -> float:
    """A value inside [low, high] that changes with ``k`` (readings must be in range)."""
    base = 0.0 if low <= 0.0 <= high else (low if math.isfinite(low) else high - 1.0)
    step = 1e-3 if not math.isfinite(high) or high - base >= 0.02 else 0.0
    return base + step * (k % 10)


# -- a publisher process ------------------------------------------------------------------

def _varint(n: int) -> bytes:
    """MQTT's remaining length: 7 bits a byte, the high bit says more follow."""
    out = bytearray()
    while True:
        n, byte = n >> 7, n & 0x7F
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish(job: dict[str, Any]) -> dict[str, Any]:
    """Send ``job["readings"]`` readings over ``job["sensors"]`` (topic, low, high) at
    ``job["rate"]`` readings/s, ``job["batch"]`` per message, QoS 1 on MQTT 3.1.1, at most
    ``job["window"]`` unacknowledged; wait for every PUBACK. Returns what was sent, when,
    and this process's CPU seconds."""
    sock = socket.create_connection(("127.0.0.1", job["port"]))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client_id = f"bench-pub-{os.getpid()}".encode()
    # CONNECT: protocol "MQTT" level 4 (3.1.1), clean session, keep alive 600 s
    body = b"\x00\x04MQTT\x04\x02" + struct.pack("!HH", 600, len(client_id)) + client_id
    sock.sendall(b"\x10" + _varint(len(body)) + body)
    connack = b""
    while len(connack) < 4:
        chunk = sock.recv(4 - len(connack))
        if not chunk:
            raise SystemExit("the broker closed the publisher's connection before its CONNACK")
        connack += chunk
    if connack[0] != 0x20 or connack[3] != 0:
        raise SystemExit(f"the broker refused the publisher: CONNACK {connack.hex()}")
    sensors = job["sensors"]
    heads = [struct.pack("!H", len(topic.encode())) + topic.encode() for topic, _low, _high in sensors]
    batch, total, window = job["batch"], job["readings"], job["window"]
    messages = math.ceil(total / batch)
    per_second = job["rate"] / batch
    last = [0.0] * len(sensors)
    await_start = job["start"] - time.time()
    if await_start > 0:
        time.sleep(await_start)
    began = time.time()
    sent = acked = k = mid = 0
    unread = b""

    def read_acks(timeout: float) -> None:
        nonlocal acked, unread
        if select.select([sock], [], [], timeout)[0]:
            data = sock.recv(1 << 20)
            if not data:
                raise SystemExit(f"the broker dropped the publisher after {acked:,} acknowledgements")
            unread += data
            whole = len(unread) // 4  # PUBACK: 0x40 0x02 <id>, the only packet a publisher is sent
            acked += whole
            unread = unread[whole * 4:]

    while sent < messages:
        now = time.time()
        due = min(messages, int((now - began) * per_second) + 1, acked + window)
        packets = []
        while sent < due:
            i = sent % len(sensors)
            _topic, low, high = sensors[i]
            samples = []
            for _ in range(min(batch, total - sent * batch)):
                t = last[i] = max(now, last[i] + 1e-6)  # each reading its own time: none is a duplicate
                samples.append(f'{{"t":{t!r},"v":{value_in(low, high, k)!r}}}')
                k += 1
            payload = (samples[0] if batch == 1 else "[" + ",".join(samples) + "]").encode()
            mid = mid % 65_535 + 1
            body = heads[i] + mid.to_bytes(2, "big") + payload
            packets.append(b"\x32" + _varint(len(body)) + body)  # PUBLISH, QoS 1
            sent += 1
        if packets:
            sock.sendall(b"".join(packets))
        read_acks(0.002 if sent >= due else 0.0)  # also the pause between sends
    published = time.time()
    deadline = time.monotonic() + 120
    while acked < messages:
        if time.monotonic() > deadline:
            raise SystemExit(f"the broker acknowledged {acked:,} of {messages:,} messages in 120 s")
        read_acks(1.0)
    acked_at = time.time()
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"messages": sent, "readings": total, "began": began, "published": published, "acked": acked_at,
            "cpu": usage.ru_utime + usage.ru_stime}


def publisher_main(job_file: Path) -> int:
    job = json.loads(job_file.read_text())
    print(json.dumps(publish(job)), flush=True)
    return 0


# -- this process -----------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
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


def tick_buckets(text: str) -> dict[float, float]:
    """``twin_tick_seconds``' cumulative bucket counts, by upper bound."""
    out = {}
    for line in text.splitlines():
        if line.startswith('twin_tick_seconds_bucket{le="'):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            out[math.inf if bound == "+Inf" else float(bound)] = float(line.split()[1])
    return out


def bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """The upper bound of the bucket holding the ``q`` quantile of what was observed
    between two scrapes of a histogram."""
    counts = sorted((bound, after[bound] - before.get(bound, 0.0)) for bound in after)
    total = counts[-1][1] if counts else 0.0
    for bound, n in counts:
        if total and n >= q * total:
            return bound
    return math.nan


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def probe_and_watch(url: str, port: int, probes: list[tuple[str, str, int, float, float]], domain: str, field: str,
                          stop: asyncio.Event) -> tuple[list[float], int, list[float], list[float]]:
    """Publish probe readings and read the twin's stream until ``stop``: the latencies
    (ms) of the probes seen in a frame, how many were sent, when each frame came, and for
    each probe seen how long before the frame preceding its own it was published (s): a
    probe published well before a frame that does not carry it took an extra hop."""
    import numpy as np
    import websockets
    from gmqtt.mqtt.constants import MQTTv50

    from twin.serving import protocol as p
    from twin.sources.fleet import _FleetClient

    sent: dict[tuple[int, float], float] = {}  # (row, value) -> publish time
    latencies: list[float] = []
    frames: list[float] = []
    leads: list[float] = []
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
            frames.append(now)
            change = message.domains.get(domain, {}).get(field)
            if change is None:
                continue
            rows = p.view(frame, base, change.rows)
            values = p.view(frame, base, change.values)
            for row, value in zip(rows.tolist(), np.asarray(values, dtype=np.float64).tolist()):
                published = sent.pop((row, round(value, 1)), None)
                if published is not None:
                    latencies.append((now - published) * 1000.0)
                    leads.append(frames[-2] - published if len(frames) >= 2 else math.nan)

    reader = asyncio.create_task(read())
    skipped = [0]
    interval = 1.3 / len(probes)  # each probe sensor at most once a tick (1 s)
    k = 0
    try:
        while not stop.is_set():
            topic, _sensor, row, low, high = probes[k % len(probes)]
            # 10 units apart, from 100 up: a probe's value is news (the stream sends only
            # changes of at least the field's resolution, 5 µε for strain), also against
            # the value the twin's model had before the sensor's first probe
            base = 0.0 if low <= 0.0 <= high else low
            value = base + 100.0 + 10.0 * (k % 37) if base + 500.0 <= high else round(base + (high - base) * (k % 7 + 1) / 8, 1)
            t = time.time()
            try:
                client.publish(topic, f'{{"t":{t!r},"v":{value!r}}}'.encode(), qos=1)
            except OverflowError:  # the broker has not acknowledged its receive maximum of probes: skip this one
                skipped[0] += 1
            else:
                sent[(row, value)] = t
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
    if skipped[0]:
        say(f"{skipped[0]} probes not sent: the broker had not acknowledged the ones before")
    return latencies, k, frames, leads


class Poller(threading.Thread):
    """Scrapes the twin's /metrics every 0.25 s: (time, readings accepted) samples, until
    the count reaches :attr:`expected` (once it is set) or stays put for 120 s;
    :attr:`done_at` is the first scrape that saw it reached (set late: from the samples)."""

    def __init__(self, http: Any) -> None:
        super().__init__(daemon=True)
        self.http = http
        self.samples: list[tuple[float, float]] = []
        self.expected = math.inf
        self.done_at: float | None = None
        self.last_text = ""
        self.error = ""
        self.stop = threading.Event()

    def run(self) -> None:
        last_change = time.time()
        while not self.stop.is_set():
            try:
                text = self.http.get("/metrics").text
            except Exception as exc:  # the twin is gone: the main thread says so
                self.error = f"{type(exc).__name__}: {exc}"
                return
            now = time.time()
            accepted = metric(text, "twin_readings_accepted_total")
            if not self.samples or accepted != self.samples[-1][1]:
                last_change = now
            self.samples.append((now, accepted))
            self.last_text = text
            if accepted >= self.expected:
                self.done_at = next(t for t, a in self.samples if a >= self.expected)
                return
            if math.isfinite(self.expected) and now - last_change > 120:
                return  # stalled
            self.stop.wait(0.25)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    if args.publisher is not None:
        return publisher_main(args.publisher)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".venv" / "numba-cache" / _fingerprint()))
    import httpx

    from twin.plugins.registry import load_registry
    from twin.runtime import default_scene, open_scene
    from twin.sources.broker import Broker, free_port, mosquitto_path
    from twin.sources.mqtt import district_of
    from twin.sources.payloads import topic_for
    from twin.tick.ingest import sensor_columns
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
    keep = [False]  # the folder stays when the twin failed: its log says why
    procs: list[subprocess.Popen[Any]] = []
    broker = Broker(work / "broker").start()
    try:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        twin_log = (work / "twin.log").open("w")
        http = httpx.Client(base_url=url, timeout=30)

        def start_twin() -> subprocess.Popen[Any]:
            """``twin serve`` on the broker, its data (and so its MQTT session) in ``work``;
            returns once /api/health says 200 (it ticks and is subscribed)."""
            twin = subprocess.Popen([sys.executable, "-m", "twin.cli", "serve", str(scene_path), "--mqtt", broker.url, "--port",
                                     str(port), "--data", str(work / "data")], stdout=subprocess.DEVNULL, stderr=twin_log)
            procs.append(twin)
            deadline = time.monotonic() + 300
            while True:
                try:
                    if http.get("/api/health").status_code == 200:
                        return twin
                except httpx.TransportError:
                    pass
                if twin.poll() is not None or time.monotonic() > deadline:
                    twin_log.flush()
                    tail = (work / "twin.log").read_text(errors="replace").strip().splitlines()[-5:]
                    raise SystemExit("the twin did not become healthy; the end of its log:\n" + "\n".join(tail))
                time.sleep(0.1)

        twin = start_twin()
        say(f"twin ready at {url}, subscribed to {broker.url}")
        if args.drain:
            return drain(args, work, broker, twin, start_twin, http, load_topics, district)

        # the publishers' jobs: each its share of the load sensors and of the readings
        per = int(args.rate * args.seconds) // args.publishers
        total_readings = per * args.publishers
        messages = 0
        start = time.time() + 3.0
        jobs = []
        for n in range(args.publishers):
            share = load_topics[n :: args.publishers]
            job = {"port": broker.port, "sensors": share, "readings": per, "rate": args.rate / args.publishers,
                   "batch": args.batch, "window": args.window, "start": start}
            messages += math.ceil(per / args.batch)
            path = work / f"job{n}.json"
            path.write_text(json.dumps(job))
            jobs.append(path)
        # the baseline as able as the twin: it too may have 65,535 messages unacknowledged
        # (libmosquitto's default is 20, which throttles it), as gmqtt's CONNECT allows the twin
        sub_args = ["mosquitto_sub", "-p", str(broker.port), "-V", "5", "-q", "1", "-t", f"city/{district}/+/+",
                    "-D", "connect", "receive-maximum", "65535", "-C", str(messages), "-W", str(int(args.seconds * 4 + 120))]
        for topic, *_ in probes:
            sub_args += ["-T", topic]
        sub_log = (work / "mosquitto_sub.log").open("w")
        sub = subprocess.Popen(sub_args, stdout=subprocess.DEVNULL, stderr=sub_log)
        procs.append(sub)
        ended: dict[str, float] = {}
        # mosquitto_sub exits with its last message (-C): its end is stamped the moment it exits
        sub_cpu: list[float] = []

        def wait_sub() -> None:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            sub.wait()
            ended["sub"] = time.time()
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            sub_cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)

        waiter = threading.Thread(target=wait_sub, daemon=True)
        waiter.start()
        time.sleep(0.5)
        before = http.get("/metrics").text
        accepted0 = metric(before, "twin_readings_accepted_total")
        rejected0, ticks0 = rejected(before), tick_buckets(before)
        broker_pid = broker.process.pid if broker.process else -1
        cpu0 = {"twin": cpu_seconds(twin.pid), "mosquitto": cpu_seconds(broker_pid)}
        poller = Poller(http)
        poller.start()
        pubs = [subprocess.Popen([sys.executable, __file__, "--publisher", str(job)], stdout=subprocess.PIPE, text=True)
                for job in jobs]
        procs += pubs

        stop = asyncio.Event()
        result: dict[str, Any] = {}

        async def measure() -> None:
            probing = asyncio.create_task(probe_and_watch(url, broker.port, probes, domain, field, stop))
            while any(p.poll() is None for p in pubs):
                await asyncio.sleep(0.1)
            stop.set()
            result["probe"] = await probing

        say(f"publishing {total_readings:,} readings in {messages:,} messages from {start - time.time():.1f} s on")
        asyncio.run(measure())
        outputs = [p.communicate()[0] for p in pubs]
        if any(p.returncode for p in pubs):
            raise SystemExit(f"a publisher failed: {[o.strip()[-300:] for o in outputs]}")
        stats = [json.loads(o.strip().splitlines()[-1]) for o in outputs]
        latencies, probes_sent, frames, leads = result["probe"]
        began = min(s["began"] for s in stats)
        published = max(s["published"] for s in stats)
        # the twin: until it has applied every reading published (load and probes), or stalls
        poller.expected = accepted0 + total_readings + probes_sent
        poller.join(args.seconds * 4 + 150)
        poller.stop.set()
        if poller.error or twin.poll() is not None:
            twin_log.flush()
            tail = (work / "twin.log").read_text(errors="replace").strip().splitlines()[-8:]
            keep[0] = True
            raise SystemExit(f"the twin stopped answering ({poller.error or 'exited ' + str(twin.returncode)}); "
                             f"its log is {work / 'twin.log'}, ending:\n" + "\n".join(tail))
        text = http.get("/metrics").text
        cpu = {name: cpu_seconds(pid) - cpu0[name] for name, pid in (("twin", twin.pid), ("mosquitto", broker_pid))}
        wall = (poller.done_at or time.time()) - began
        waiter.join(args.seconds * 4 + 150)
        sub_log.close()
        sub_err = (work / "mosquitto_sub.log").read_text()
        sub_rate = total_readings / (ended["sub"] - began) if sub.returncode == 0 and "sub" in ended else None
        seen = poller.samples[-1][1] if poller.samples else accepted0
        applied = seen - accepted0
        lost = max(0, int(total_readings + probes_sent - applied))
        reasons = {k: v - rejected0.get(k, 0.0) for k, v in rejected(text).items() if v - rejected0.get(k, 0.0)}
        twin_done = poller.done_at
        last_change = next((t for t, a in poller.samples if a == seen), time.time())
        twin_rate = (total_readings + probes_sent) / (twin_done - began) if twin_done else applied / (last_change - began)
        publish_rate = total_readings / (published - began)
        pub_cpu = sum(s["cpu"] for s in stats)
        say(f"publishers: {total_readings:,} readings in {published - began:.1f} s = {publish_rate:,.0f}/s "
            f"(offered {args.rate:,.0f}/s); all acknowledged {max(s['acked'] for s in stats) - began:.1f} s after the first")
        say(f"mosquitto_sub: {'all ' + format(total_readings, ',') + ' readings' if sub.returncode == 0 else 'exit ' + str(sub.returncode) + ' ' + sub_err.strip()}"
            + (f", {sub_rate:,.0f}/s" if sub_rate else ""))
        say(f"twin: applied {applied:,.0f} of {total_readings + probes_sent:,} ({lost:,} lost"
            + (f", rejected {reasons}" if reasons else "") + ") "
            + (f"all {twin_done - began:.1f} s after the first publish = {twin_rate:,.0f}/s" if twin_done else
               f"stalled; {twin_rate:,.0f}/s until then")
            + f"; twin CPU {cpu['twin']:.1f} s = {cpu['twin'] / max(applied, 1) * 1e6:.1f} us per reading")
        # while publishing: the slope of what the twin applied, from a fifth of the way in,
        # and its slowest 10 s (it counts once a tick: 10 s hold 9-11 of its counts)
        inside = [(t, a) for t, a in poller.samples if began + 0.2 * (published - began) <= t <= published]
        slowest = math.nan
        if len(inside) >= 2:
            (ta, aa), (tb, ab) = inside[0], inside[-1]
            rates = [(a2 - a1) / (t2 - t1) for (t1, a1) in inside for (t2, a2) in inside if 10.0 <= t2 - t1 < 10.25]
            slowest = min(rates, default=math.nan)
            say(f"twin while publishing: {(ab - aa) / (tb - ta):,.0f} readings/s applied, slowest 10 s {slowest:,.0f}/s "
                f"(publishers {publish_rate:,.0f}/s); {twin_done - published if twin_done else math.nan:.1f} s after the "
                f"last publish it had applied them all (it counts per tick, 1 s apart)")
        cores = os.cpu_count() or 1
        budget = cores * wall
        say(f"CPU over the {wall:.1f} s of the MQTT phase (of {budget:.0f} core-seconds on {cores} cores): twin {cpu['twin']:.1f} s, "
            f"mosquitto {cpu['mosquitto']:.1f} s, mosquitto_sub {sub_cpu[0] if sub_cpu else math.nan:.1f} s, "
            f"publishers {pub_cpu:.1f} s; load average now {os.getloadavg()[0]:.1f}")
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        gaps = [b - a for a, b in zip(frames, frames[1:])]
        ticks1 = tick_buckets(text)
        say(f"publish -> frame: {len(latencies)} of {probes_sent} probes seen in a frame; p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
            f"max {max(latencies, default=math.nan):.0f} ms (goal: p99 under one tick + 50 ms = 1050 ms); "
            f"frames {percentile(gaps, 0.5) * 1000:.0f} ms apart (p99 {percentile(gaps, 0.99) * 1000:.0f} ms); "
            f"tick time p50 <= {bucket_quantile(ticks0, ticks1, 0.5) * 1000:g} ms, p99 <= {bucket_quantile(ticks0, ticks1, 0.99) * 1000:g} ms "
            f"({ticks1.get(math.inf, 0) - ticks0.get(math.inf, 0):.0f} ticks, "
            f"{(ticks1.get(math.inf, 0) - ticks0.get(math.inf, 0)) - (ticks1.get(0.1, 0) - ticks0.get(0.1, 0)):.0f} over 100 ms, "
            f"{(ticks1.get(math.inf, 0) - ticks0.get(math.inf, 0)) - (ticks1.get(1.0, 0) - ticks0.get(1.0, 0)):.0f} over 1 s)")
        late = [lead for lead in leads if lead > 0.25]
        say(f"probes that missed a frame arriving more than 250 ms after their publish (an extra hop): {len(late)} of "
            f"{len(leads)}" + (f", by {', '.join(f'{x * 1000:.0f}' for x in sorted(late)[-5:])} ms" if late else ""))

        http_batches, http_readings, http_ms = post_batches(http, [scene.sensors[i].id for i in load],
                                                            [(float(low[i]), float(high[i])) for i in load], args.http_seconds)
        if http_batches:
            say(f"HTTP: {http_batches / args.http_seconds:,.1f} batches of 1,000 per second = "
                f"{http_readings / args.http_seconds:,.0f} readings/s accepted; request p50 {percentile(http_ms, 0.5):.0f} ms, "
                f"p99 {percentile(http_ms, 0.99):.0f} ms")
        ratio = twin_rate / sub_rate if sub_rate else math.nan
        say(f"twin / mosquitto_sub: {ratio:.2f}x (goal >= 0.5x); readings/s {twin_rate:,.0f} "
            f"(goal >= 50,000 for 60 s, 0 lost; offered {args.rate:,.0f}/s for {args.seconds:g} s)")
        print("RESULT " + " ".join([
            f"ingest_over_mosquitto_sub={ratio:.2f}", f"readings_per_s={twin_rate:.0f}", f"lost={lost}",
            f"publish_to_frame_p99_ms={p99:.0f}", f"publish_to_frame_p50_ms={p50:.0f}",
            f"mosquitto_sub_per_s={sub_rate or math.nan:.0f}", f"published_per_s={publish_rate:.0f}", f"offered_per_s={args.rate:.0f}",
            f"twin_min_10s_per_s={slowest:.0f}", f"seconds={args.seconds:g}", f"batch={args.batch}",
            f"probes_seen={len(latencies)}", f"probes_sent={probes_sent}", f"probes_extra_hop={len(late)}",
            f"twin_cpu_us_per_reading={cpu['twin'] / max(applied, 1) * 1e6:.1f}",
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
        if not keep[0]:
            shutil.rmtree(work, ignore_errors=True)


def drain(args: argparse.Namespace, work: Path, broker: Any, twin: subprocess.Popen[Any], start_twin: Any, http: Any,
          load_topics: list[tuple[str, float, float]], district: str) -> int:
    """``--drain``: the readings published while the twin and mosquitto_sub are away, each
    then taking them from its persistent session at the same time, timed from the twin
    being subscribed again to its last reading applied (mosquitto_sub: from the same
    moment to its last message). The broker only forwards: no publisher competes."""
    sub_id = f"bench-sub-{os.getpid()}"
    sub_base = ["mosquitto_sub", "-p", str(broker.port), "-V", "5", "-q", "1", "-t", f"city/{district}/+/+", "-c", "-i", sub_id,
                "-x", "3600", "-D", "connect", "receive-maximum", "65535"]
    made = subprocess.run([*sub_base, "-W", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if made.returncode not in (0, 27):  # 27: its -W time-out, once subscribed
        raise SystemExit(f"mosquitto_sub could not make its session: {made.stderr.strip()}")
    twin.terminate()  # a clean stop: the broker keeps its session and queues for it
    twin.wait(60)
    per = int(args.rate * args.seconds) // args.publishers
    total = per * args.publishers
    jobs = []
    for n in range(args.publishers):
        job = {"port": broker.port, "sensors": load_topics[n :: args.publishers], "readings": per, "rate": 1e12,
               "batch": args.batch, "window": args.window, "start": time.time()}
        path = work / f"job{n}.json"
        path.write_text(json.dumps(job))
        jobs.append(path)
    say(f"the twin and mosquitto_sub are away; publishing {total:,} readings ({args.batch} per message) into their sessions")
    began = time.time()
    pubs = [subprocess.Popen([sys.executable, __file__, "--publisher", str(job)], stdout=subprocess.PIPE, text=True) for job in jobs]
    outputs = [p.communicate()[0] for p in pubs]
    if any(p.returncode for p in pubs):
        raise SystemExit(f"a publisher failed: {[o.strip()[-300:] for o in outputs]}")
    say(f"queued in {time.time() - began:.1f} s ({total / (time.time() - began):,.0f}/s); the twin comes back")
    messages = sum(json.loads(o.strip().splitlines()[-1])["messages"] for o in outputs)
    accepted0 = 0.0  # a new process: its counters start at 0
    twin = start_twin()  # healthy: it ticks, and its subscriber is connected (health says so)
    back = time.time()
    sub = subprocess.Popen([*sub_base, "-C", str(messages), "-W", str(int(args.seconds * 10 + 300))], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    cpu0 = cpu_seconds(twin.pid)
    poller = Poller(http)
    poller.expected = accepted0 + total
    poller.start()
    sub_err = sub.communicate()[1]
    sub_end = time.time()
    poller.join(args.seconds * 10 + 300)
    poller.stop.set()
    if poller.error:
        raise SystemExit(f"the twin stopped answering: {poller.error}")
    applied = poller.samples[-1][1] - accepted0 if poller.samples else 0.0
    lost = max(0, int(total - applied))
    reasons = rejected(poller.last_text)
    if reasons or lost:
        kept = Path(tempfile.mkdtemp(prefix="bench-ingest-lost-"))
        shutil.copy(work / "twin.log", kept / "twin.log")
        shutil.copy(broker.log, kept / "mosquitto.log")
        say(f"the twin refused {reasons or 'nothing'}; it took {metric(poller.last_text, 'twin_mqtt_messages_total'):,.0f} "
            f"messages; its log and the broker's are in {kept}")
    twin_rate = total / (poller.done_at - back) if poller.done_at else math.nan
    sub_rate = total / (sub_end - back) if sub.returncode == 0 else None
    cpu = cpu_seconds(twin.pid) - cpu0
    rates = [(a2 - a1) / (t2 - t1) for (t1, a1) in poller.samples for (t2, a2) in poller.samples
             if 10.0 <= t2 - t1 < 10.25 and a2 < total]
    say(f"mosquitto_sub: " + (f"all {total:,} readings in {sub_end - back:.1f} s = {sub_rate:,.0f}/s" if sub_rate else
                              f"exit {sub.returncode} {sub_err.strip()}"))
    say(f"twin: applied {applied:,.0f} of {total:,} ({lost:,} lost) "
        + (f"in {poller.done_at - back:.1f} s = {twin_rate:,.0f}/s" if poller.done_at else "and stalled")
        + f", slowest 10 s {min(rates, default=math.nan):,.0f}/s; twin CPU {cpu:.1f} s = {cpu / max(applied, 1) * 1e6:.1f} us per reading")
    ratio = twin_rate / sub_rate if sub_rate else math.nan
    say(f"twin / mosquitto_sub: {ratio:.2f}x (goal >= 0.5x); readings/s {twin_rate:,.0f} (goal >= 50,000 for 60 s, 0 lost)")
    print("RESULT " + " ".join([
        "mode=drain", f"ingest_over_mosquitto_sub={ratio:.2f}", f"readings_per_s={twin_rate:.0f}", f"lost={lost}",
        f"mosquitto_sub_per_s={sub_rate or math.nan:.0f}", f"readings={total}", f"batch={args.batch}",
        f"seconds={poller.done_at - back if poller.done_at else math.nan:.1f}", f"twin_min_10s_per_s={min(rates, default=math.nan):.0f}",
        f"twin_cpu_us_per_reading={cpu / max(applied, 1) * 1e6:.1f}",
    ]), flush=True)
    return 0 if lost == 0 else 1


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
