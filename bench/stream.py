#!/usr/bin/env python
"""Stream benchmark: the real server's WebSocket fan-out against a naive baseline and
against the ``websockets`` library's own ``broadcast()``, on loopback.

    python bench/stream.py            # 100,000 assets, 50 clients (5 slow), 20 s windows (~2 min)
    python bench/stream.py --quick    # 10,000 assets, 10 clients (2 slow), 5 s windows
    # a wall of 500 screens, 50 of them reading at half the stream's rate (phase 1 only)
    python bench/stream.py --assets 10000 --clients 500 --slow 50 --rate 2 --slow-sleep 1.0 --phases ours

Besides this one, a server process (``bench/_stream_server.py``: one engine over a
churning domain, ``bench/_stream_churn.py``, ``--share`` of its assets changing each tick)
and ``--client-procs`` client processes (``bench/_stream_clients.py``: lean readers, a
hand-written WebSocket frame parser on a plain asyncio protocol each, the clients dealt
out among the processes so that no reader queues behind hundreds of others; they run
under SCHED_BATCH, so that a frame arriving for one does not pre-empt the server in the
middle of its fan-out, as screens on machines of their own would not). The same
run measures four phases, one after the other, on 127.0.0.1 (``--phases`` picks some):

1. ours: ``twin.serving.server`` under uvicorn, the engine ticking at ``--rate`` per second
   open loop (a tick starts on its schedule, whatever the clients do); ``--clients``
   clients subscribe to everything, ``--slow`` of them read one message and then stop
   reading for ``--slow-sleep`` seconds, on an 8 KiB receive buffer. Every client
   confirms each delta it applied (the protocol's ``Confirm``; ``--no-confirm``: none
   does, the server then goes by its sockets' unacknowledged bytes alone). At the end of
   the window the server stops ticking; the slow clients read on at their pace, and
   each one *converged* if its mirror (``twin.serving.client.Mirror``, which refuses a
   delta that does not follow) then holds the server's last ``seq`` and state, value
   for value (a digest of every column, compared by the parent).
2. baseline: a starlette endpoint that, after each tick, sends ``json.dumps`` of every
   live column to each client in turn (the same engine, rate and clients).
3. ours at full speed: the real server's Hub fed the last 20 recorded frames as fast as
   the fast clients take them (at most one frame pending per client, so nothing is
   merged and every client gets every frame).
4. raw: ``websockets.asyncio.server.broadcast()`` of the same frames' bytes to the same
   number of fast clients, paced by the write buffers (each under 64 KiB).

Latency is from the end of the tick (the moment ``engine.tick`` returned in the
server's worker thread, stamped per ``seq`` in the server process) to the moment the
client had read the last byte of the frame holding that ``seq`` (both
``time.monotonic()``, one clock for the whole machine; stamped before the client decodes
anything); a slow client's latency is the staleness of what it reads. The server's own
share is shown apart: from the tick's end to ``Hub.publish`` (the event loop taking the
frame) and the publish itself (merging, encoding once, the writes to every client
keeping pace), in wall and CPU time: on a loaded machine the wall time of the fan-out is
the machine's, its CPU time the server's. Bytes per frame are the WebSocket message sizes of the
fast clients' single-tick deltas; the raw payload is their rows (4 bytes each) plus
values (the field's item size), read from each frame's header. Server CPU is the server
process's CPU time over the measured window (one core = 100%), with the engine's own
tick (worker thread CPU) shown apart. Fan-out throughput is the bytes the clients
received per second in phases 3 and 4.

The last line is ``RESULT p99_ms=... p50_ms=... slow_p99_ms=... slow_merged=... publish_p99_ms=...
publish_cpu_p50_ms=... slow_converged=... server_cpu=... payload_overhead=... baseline_p99_ms=...
bytes_ratio=... fanout_vs_raw=...``
(keys of the phases not run left out; slow_converged is the share of slow clients that
converged): bytes_ratio is the baseline's bytes per frame over ours,
payload_overhead our frame bytes over their raw index-plus-value bytes, and
fanout_vs_raw our delivered bytes per second (phase 3) over raw ``broadcast()``'s (phase 4).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

T0 = time.monotonic()


def say(msg: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f} s] {msg}", flush=True)


def _args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10,000 assets, 10 clients (2 slow), 5 s windows")
    ap.add_argument("--assets", type=int, help="assets in the churning domain (default 100,000; 10,000 with --quick)")
    ap.add_argument("--share", type=float, default=0.05, help="share of assets changing per tick (default 0.05)")
    ap.add_argument("--rate", type=float, default=10.0, help="ticks per second (default 10)")
    ap.add_argument("--clients", type=int, help="clients in all (default 50; 10 with --quick)")
    ap.add_argument("--slow", type=int, help="of which slow readers (default 5; 2 with --quick)")
    ap.add_argument("--slow-sleep", type=float, default=0.5, help="a slow client's pause after each message (s, default 0.5)")
    ap.add_argument("--seconds", type=float, help="measured window of phases 1 and 2 (default 20; 5 with --quick)")
    ap.add_argument("--max-seconds", type=float, help="measured window of phases 3 and 4 (default 6; 3 with --quick)")
    ap.add_argument("--client-procs", type=int, default=3, help="client processes the clients are dealt among (default 3)")
    ap.add_argument("--no-confirm", action="store_true", help="clients send no Confirm (the server goes by its sockets alone)")
    ap.add_argument("--phases", default="ours,baseline,max,raw",
                    help="phases to run, comma-separated, of ours,baseline,max,raw (default all)")
    a = ap.parse_args(argv)
    a.assets = a.assets or (10_000 if a.quick else 100_000)
    a.clients = a.clients or (10 if a.quick else 50)
    a.slow = a.slow if a.slow is not None else (2 if a.quick else 5)
    a.seconds = a.seconds or (5.0 if a.quick else 20.0)
    a.max_seconds = a.max_seconds or (3.0 if a.quick else 6.0)
    if not 0 <= a.slow < a.clients:
        ap.error("--slow must be below --clients")
    a.phases = [x.strip() for x in a.phases.split(",") if x.strip()]
    unknown = [x for x in a.phases if x not in ("ours", "baseline", "max", "raw")]
    if unknown or not a.phases:
        ap.error(f"--phases: unknown phase(s) {', '.join(unknown) or '(none given)'}; valid: ours, baseline, max, raw")
    if "raw" in a.phases and "ours" not in a.phases or "max" in a.phases and "ours" not in a.phases:
        ap.error("--phases: max and raw replay the frames of phase ours; add ours")
    if a.client_procs < 1:
        ap.error("--client-procs must be at least 1")
    return a


class Run:
    """The two worker processes and the phases' schedule."""

    def __init__(self, args: argparse.Namespace) -> None:
        from _stream_clients import client_process
        from _stream_server import server_process

        self.args = args
        ctx = mp.get_context("spawn")
        self.server, server_end = ctx.Pipe()
        self.procs = [ctx.Process(target=server_process, args=(server_end, args.assets, args.share), name="stream-server", daemon=True)]
        self.clients = []
        for i in range(min(args.client_procs, args.clients)):
            mine, theirs = ctx.Pipe()
            self.clients.append(mine)
            self.procs.append(ctx.Process(target=client_process, args=(theirs,), name=f"stream-clients-{i}", daemon=True))
        for proc in self.procs:
            proc.start()
        self.built = self._expect(self.server, "built", 300)

    def _expect(self, conn: Any, tag: str, timeout: float) -> Any:
        if not conn.poll(timeout):
            raise SystemExit(f"no {tag!r} from a worker process within {timeout:.0f} s")
        got, value = conn.recv()
        if got == "failed":
            raise SystemExit(f"a worker process failed:\n{value}")
        assert got == tag, (got, tag)
        return value

    def phase(self, kind: str, fast: int, slow: int, connect: float, seconds: float, publish_lead: float | None = None,
              tail: float = 0.6) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        now = time.monotonic()
        t0 = now + connect + (publish_lead or 0.0)
        t1 = t0 + seconds
        t_end = t1 + tail
        kw: dict[str, Any] = {"t0": t0, "t1": t1, "t_end": t_end}
        if publish_lead is None:
            kw["rate"] = self.args.rate
        else:
            kw["t_pub"] = now + connect
        self.server.send((kind, kw))
        url = self._expect(self.server, "ready", 60)
        # the slow ones spread among the fast ones, the clients dealt out round robin
        n = fast + slow
        slow_at = {round((i + 0.5) * n / slow) for i in range(slow)} if slow else set()
        flags = [i in slow_at for i in range(n)]
        k = len(self.clients)
        for j, conn in enumerate(self.clients):
            conn.send({"kind": kind, "url": url, "slow_flags": flags[j::k], "t0": t0, "t1": t1, "t_end": t_end,
                       "slow_sleep": self.args.slow_sleep, "confirm": not self.args.no_confirm})
        results = [r for conn in self.clients for r in self._expect(conn, "results", connect + seconds + tail + 120)]
        stats = self._expect(self.server, "stats", 60)
        return results, stats

    def close(self) -> None:
        self.server.send(("quit", {}))
        for conn in self.clients:
            conn.send(None)
        for proc in self.procs:
            proc.join(timeout=20)
            if proc.is_alive():
                proc.kill()


def _pct(values: list[float]) -> dict[str, float]:
    if not values:
        return {k: float("nan") for k in ("p50", "p95", "p99", "max", "n")}
    a = np.asarray(values) * 1000.0
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "p99": float(np.percentile(a, 99)),
            "max": float(a.max()), "n": len(a)}


def latency_phase(results: list[dict[str, Any]], stats: dict[str, Any]) -> dict[str, Any]:
    stamps = stats["stamps"]
    wall = stats["wall"]
    out: dict[str, Any] = {}
    for group in ("fast", "slow"):
        clients = [c for c in results if c["slow"] == (group == "slow")]
        records = [r for c in clients for r in c["records"] if r[0] in stamps]
        out[group] = {
            "latency": _pct([r[2] - stamps[r[0]] for r in records]),
            "messages_per_s": len(records) / wall / max(1, len(clients)),
            "merged": sum(1 for r in records if r[0] > r[1] + 1),
            "messages": len(records),
            "bytes_per_message": float(np.mean([r[3] for r in records])) if records else float("nan"),
            "clients": len(clients),
            "closed": [c["closed"] for c in clients if c["closed"]],
            "gaps": sum(c.get("gaps", 0) for c in clients),
        }
    final = stats.get("final")
    slow = [c for c in results if c["slow"]]
    out["converged"] = sum(1 for c in slow if final is not None and c.get("seq") == final["seq"] and c.get("digest") == final["digest"])
    out["slow_seqs"] = sorted({c.get("seq") for c in slow}) if slow else []
    out["final_seq"] = final["seq"] if final else None
    first: dict[int, float] = {}
    for c in results:
        if not c["slow"]:
            for r in c["records"]:
                if r[0] in stamps and r[0] == r[1] + 1:
                    first[r[0]] = min(first.get(r[0], float("inf")), r[2] - stamps[r[0]])
    out["first"] = {"latency": _pct(list(first.values())), "messages": len(first), "messages_per_s": float("nan")}
    single = [r for c in results if not c["slow"] for r in c["records"] if r[0] == r[1] + 1]
    frame_bytes = sum(r[3] for r in single)
    payload = sum(r[4] for r in single)
    out["frame_bytes"] = frame_bytes / len(single) if single else float("nan")
    out["payload_bytes"] = payload / len(single) if single else float("nan")
    out["overhead"] = frame_bytes / payload if payload else float("nan")
    pubs = [x for x in stats.get("publishes", ()) if x[0] in stamps]
    # the server's share of the latency: from the tick's end to the publish (the event
    # loop taking the frame) and the publish itself (merging, encoding, the direct writes)
    out["to_publish"] = _pct([x[1] - stamps[x[0]] for x in pubs])
    out["publish"] = _pct([x[2] - x[1] for x in pubs])
    out["publish_cpu"] = _pct([x[3] for x in pubs])
    out["ticks_per_s"] = stats["ticks"] / wall
    out["cpu"] = stats["cpu"] / wall
    out["tick_cpu"] = stats["tick_cpu"] / wall
    return out


def throughput_phase(results: list[dict[str, Any]], stats: dict[str, Any], seconds: float) -> dict[str, Any]:
    delivered = sum(c["bytes"] for c in results)
    return {"bytes_per_s": delivered / seconds, "cpu": stats["cpu"] / stats["wall"], "client_cpu": sum(_unique_cpu(results)),
            "frames_per_client": float(np.mean([c["frames"] for c in results])) / seconds, "published": stats["published"]}


def _unique_cpu(results: list[dict[str, Any]]) -> list[float]:
    """Each client process's CPU share (repeated in every one of its clients' results)."""
    return list({c["proc"]: c["cpu"] for c in results}.values())


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    os.environ.setdefault("NUMBA_CACHE_DIR", "/tmp/numba-stream-bench")
    fast = args.clients - args.slow
    say(f"{args.assets:,} assets, {args.share:.0%} changing per tick, {args.rate:g} ticks/s; "
        f"{args.clients} clients ({args.slow} slow, pausing {args.slow_sleep:g} s per message); cores: {os.cpu_count()}")
    run = Run(args)
    ours = base = ours_max = raw = None
    try:
        say(f"server process built the engine in {run.built['seconds']:.1f} s; {len(run.clients)} client processes")
        connect = 3.0 if args.quick else 6.0 + args.clients / 25
        if "ours" in args.phases:
            say(f"phase 1: ours at {args.rate:g} ticks/s, {args.seconds:g} s measured, then the slow clients converge")
            tail = max(0.6, 6 * args.slow_sleep + 2.0) if args.slow else 0.6
            ours = latency_phase(*run.phase("ours", fast, args.slow, connect, args.seconds, tail=tail))
        if "baseline" in args.phases:
            say(f"phase 2: naive JSON baseline at {args.rate:g} ticks/s, {args.seconds:g} s measured")
            base = latency_phase(*run.phase("baseline", fast, args.slow, connect, args.seconds))
        if "max" in args.phases:
            say(f"phase 3: ours at full speed, {fast} fast clients, {args.max_seconds:g} s measured")
            ours_max = throughput_phase(*run.phase("ours_max", fast, 0, connect, args.max_seconds, publish_lead=1.0), args.max_seconds)
        if "raw" in args.phases:
            say(f"phase 4: websockets broadcast() of the same frames, {fast} fast clients, {args.max_seconds:g} s measured")
            raw_results, raw_stats = run.phase("raw", fast, 0, connect, args.max_seconds, publish_lead=1.0)
            raw = throughput_phase(raw_results, raw_stats, args.max_seconds)
            raw["frame_bytes"] = raw_stats["frame_bytes"]
    finally:
        run.close()

    report(args, ours, base, ours_max, raw)
    return 0


def _f(x: float, digits: int = 1) -> str:
    return "n/a" if x != x else f"{x:,.{digits}f}"


def report(args: argparse.Namespace, ours: dict[str, Any] | None, base: dict[str, Any] | None,
           ours_max: dict[str, Any] | None, raw: dict[str, Any] | None) -> None:
    nan = float("nan")
    print()
    print(f"{'latency, tick end -> client (ms)':<36}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>10}{'frames':>8}{'msg/s/cl':>10}")
    rows = []
    if ours:
        rows += [("ours, fast clients", ours["fast"]), ("ours, first fast client per tick", ours["first"]),
                 ("ours, slow clients (staleness)", ours["slow"])]
    if base:
        rows += [("baseline, fast clients", base["fast"]), ("baseline, slow clients", base["slow"])]
    for name, group in rows:
        lat = group["latency"]
        print(f"{name:<36}{_f(lat['p50']):>9}{_f(lat['p95']):>9}{_f(lat['p99']):>9}{_f(lat['max']):>10}"
              f"{group['messages']:>8}{_f(group['messages_per_s'], 2):>10}")
    if ours and ours["publish"]["n"]:
        for name, lat in (("server: tick end -> publish", ours["to_publish"]), ("server: publish (the fan-out)", ours["publish"]),
                          ("server: publish, CPU time", ours["publish_cpu"])):
            print(f"{name:<36}{_f(lat['p50']):>9}{_f(lat['p95']):>9}{_f(lat['p99']):>9}{_f(lat['max']):>10}{lat['n']:>8}")
    of = ours["fast"]["latency"] if ours else {"p50": nan, "p99": nan}
    bf = base["fast"]["latency"] if base else {"p99": nan}
    bytes_ratio = base["frame_bytes"] / ours["frame_bytes"] if ours and base else nan
    p99_ratio = bf["p99"] / of["p99"]
    fanout = ours_max["bytes_per_s"] / raw["bytes_per_s"] if ours_max and raw else nan
    print()
    print(f"{'':<36}{'ours':>14}{'baseline':>14}{'ratio':>10}")
    if ours:
        print(f"{'bytes per frame (fast clients)':<36}{_f(ours['frame_bytes'], 0):>14}{_f(base['frame_bytes'] if base else nan, 0):>14}{bytes_ratio:>9.1f}x")
        print(f"{'raw index+value bytes per frame':<36}{_f(ours['payload_bytes'], 0):>14}{'':>14}{ours['overhead']:>9.4f}x")
    print(f"{'p99 latency, fast clients (ms)':<36}{_f(of['p99']):>14}{_f(bf['p99']):>14}{p99_ratio:>9.1f}x")
    print(f"{'ticks per second reached':<36}{_f(ours['ticks_per_s'] if ours else nan, 2):>14}{_f(base['ticks_per_s'] if base else nan, 2):>14}")
    print(f"{'server CPU, whole process':<36}{ours['cpu'] if ours else nan:>13.0%}{base['cpu'] if base else nan:>14.0%}")
    print(f"{'  of which the engine tick':<36}{ours['tick_cpu'] if ours else nan:>13.0%}{base['tick_cpu'] if base else nan:>14.0%}")
    if ours:
        print(f"{'fast clients: deltas merged / gaps':<36}{ours['fast']['merged']:>8} / {ours['fast']['gaps']:<4}")
        print(f"{'slow clients: merged deltas':<36}{ours['slow']['merged']:>8} of {ours['slow']['messages']}")
        print(f"{'slow clients converged':<36}{ours['converged']:>8} of {ours['slow']['clients']}"
              f"  (server's last seq {ours['final_seq']}; theirs {ours['slow_seqs'][:5]})")
        closed = ours["slow"]["closed"] + ours["fast"]["closed"]
        print(f"{'clients disconnected by the server':<36}{len(closed):>8}  {closed[:2] if closed else ''}")
    if ours_max or raw:
        print()
        print(f"{'fan-out at full speed':<36}{'ours (Hub)':>14}{'broadcast()':>14}{'ratio':>10}")
        om = ours_max or {"bytes_per_s": nan, "frames_per_client": nan, "cpu": nan, "client_cpu": nan}
        rw = raw or {"bytes_per_s": nan, "frames_per_client": nan, "cpu": nan, "client_cpu": nan}
        print(f"{'delivered MB/s (all clients)':<36}{om['bytes_per_s'] / 1e6:>14,.1f}{rw['bytes_per_s'] / 1e6:>14,.1f}{fanout:>9.2f}x")
        print(f"{'frames per second per client':<36}{_f(om['frames_per_client']):>14}{_f(rw['frames_per_client']):>14}")
        print(f"{'server CPU (spins while it waits)':<36}{om['cpu']:>13.0%}{rw['cpu']:>14.0%}")
        print(f"{'client processes CPU (sum)':<36}{om['client_cpu']:>13.0%}{rw['client_cpu']:>14.0%}")
    print()
    goals = []
    if ours:
        slow_ok = ours["slow"]["clients"] == 0 or (ours["slow"]["merged"] > 0 and ours["converged"] == ours["slow"]["clients"])
        goals += [("p99 < 50 ms for the fast clients", of["p99"] < 50),
                  ("frame bytes <= 1.05x raw payload", ours["overhead"] <= 1.05),
                  ("slow clients get merged deltas and converge", slow_ok)]
    if base:
        goals += [(">= 10x fewer bytes than the baseline", bytes_ratio >= 10), (">= 5x lower p99 than the baseline", p99_ratio >= 5)]
    if ours_max and raw:
        goals += [(">= 0.8x the bytes/s of raw broadcast()", fanout >= 0.8)]
    for text, ok in goals:
        print(f"  [{'met' if ok else 'MISSED'}] {text}")
    keys = []
    if ours:
        slow_share = ours["converged"] / ours["slow"]["clients"] if ours["slow"]["clients"] else 1.0
        keys += [f"p99_ms={of['p99']:.2f}", f"p50_ms={of['p50']:.2f}", f"slow_p99_ms={ours['slow']['latency']['p99']:.1f}",
                 f"slow_merged={ours['slow']['merged']}", f"publish_p99_ms={ours['publish']['p99']:.2f}", f"publish_cpu_p50_ms={ours['publish_cpu']['p50']:.2f}", f"slow_converged={slow_share:.2f}", f"server_cpu={ours['cpu']:.2f}",
                 f"payload_overhead={ours['overhead']:.4f}"]
    if base:
        keys += [f"baseline_p99_ms={bf['p99']:.2f}"]
    if ours and base:
        keys += [f"bytes_ratio={bytes_ratio:.2f}"]
    if ours_max and raw:
        keys += [f"fanout_vs_raw={fanout:.3f}"]
    print("RESULT " + " ".join(keys), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
