#!/usr/bin/env python
"""Recording benchmark: ``twin.runs.recording.Recorder`` writing a 100,000-asset twin at 10
ticks per second to MCAP, and ``twin.runs.recording.seek`` reading a moment back.

    python bench/record.py            # one simulated hour (36,000 ticks) + 30 s of the real city + 30 min of the demo (~9 min)
    python bench/record.py --quick    # five simulated minutes (3,000 ticks) + 5 s of a 20,000-asset city + 10 min of the demo
    python bench/record.py --skip-hour --skip-city    # the demo district alone (~1 min)

Three twins, each recorded as fast as the machine allows; the first two with dt = 0.1 s:

1. hour: the stream bench's churning domain (``bench/_stream_churn.py``): 100,000
   probes, 5% of them changing each tick (three live fields), no sensors. Its tick costs a
   few milliseconds, so one simulated hour (36,000 ticks) is recorded for real, and the
   file, the seeks and the scans are those of an hour-long recording.
2. city: the tiled synthetic city of the built-in plugins (``bench/_city.py``, ~25,000
   assets per domain, ~300,000 sensors) with its simulator. This is the realistic frame:
   at dt = 0.1 s every physical field of most assets moves a little each tick (about
   five changed values per asset) and every sensor reports (the recorder keeps the raw
   readings too), so one tick is ~16 MB of payload. An hour of it would be ~0.5 TB of
   payload and ~1 hour of ticks on this machine, so only ``--city-ticks`` ticks are
   recorded; its MB per hour is extrapolated from them, and its seeks and scans are in
   that shorter file (a seek's cost depends on the keyframe interval, not the file's
   length; a scan's grows with the moment, reported per simulated second).

Measured for each, in the same run:

- the tick thread: ``engine.tick`` alone (ticks before the recorder starts), the tick
  while the recorder's writer thread runs beside it, the time inside ``record()`` split
  into encoding (delta, readings, keyframes) and ``queue.put``; ratios to the tick;
- the writer thread: its busy time (wall time packing the messages, twin.runs.packed, and
  inside mcap's ``add_message`` and ``flush``; thread CPU beside it), split into packing,
  zstd compression, file I/O and the rest (mcap's Python record building, LZ4); its
  throughput in payload bytes (as written: packed) per busy second
  against a raw write of the same payload bytes to a plain file (``f.write`` per message,
  same order, cycling the first 256 MiB of payloads until the total matches);
- the file: bytes per simulated hour, chunks, compression ratio;
- seeks to ``--seeks`` random moments: ``twin.runs.recording.seek`` wall time (p50, p99),
  the chunks it decoded (mcap's ``breakup_chunk`` counted) against the chunks it needs
  (from the summary's chunk indexes: the chunk holding the keyframe and those whose
  time range meets the deltas after it), against a scan that reads the file from the start
  to the same moment with ``twin.runs.recording.read_stream`` (p50, p99);
- correctness at 3 moments: the state from ``seek`` applied to a ``twin.serving.client.Mirror``
  equals the state from playing the file from the start into a Mirror, and both equal the
  values the engine sent (``DomainTable.sent``: news only, issue 14) captured at that
  tick, each within its field's resolution of the engine's exact columns.

3. demo: the demo district (1,458 assets, its simulator, dt = 1 s) after ``--demo-warm``
   simulated seconds (its leak and its storm under way), recorded for ``--demo-ticks``
   ticks: the stream's delta bytes per simulated second (what a subscriber to everything
   receives, before WebSocket framing), the recording's MB per simulated hour and its
   payload per channel, against the issue's goals (stream under 10 KB/s, recording under
   20 MB/h).

If the writer falls behind by more than ``--backlog-mb`` of queued payload, the tick loop
waits for it (reported as backlog wait) instead of letting the queue grow without bound.

The last line is ``RESULT key=value ...``: the hour recording's figures under the issue's
keys, the city's prefixed ``city_``, and the demo's ``demo_stream_kbps`` and
``demo_mb_per_hour``.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

T0 = time.perf_counter()
BUILTIN = "gas,drainage,bridge,tunnel"
DT = 0.1


def say(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f} s] {msg}", flush=True)


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="5 simulated minutes; a 20,000-asset city for 5 s")
    ap.add_argument("--ticks", type=int, help="ticks of the hour recording (default 36,000; 3,000 with --quick)")
    ap.add_argument("--assets", type=int, default=100_000, help="probes of the churning twin (default 100,000)")
    ap.add_argument("--share", type=float, default=0.05, help="share of probes changing per tick (default 0.05)")
    ap.add_argument("--city-assets", type=int, help="city assets per domain (default 25,000; 5,000 with --quick)")
    ap.add_argument("--city-ticks", type=int, help="ticks of the city recording (default 300; 50 with --quick)")
    ap.add_argument("--baseline-ticks", type=int, help="ticks timed before the recorder starts (default 600 hour / 30 city)")
    ap.add_argument("--seeks", type=int, help="random moments sought (default 40; 20 with --quick)")
    ap.add_argument("--scans", type=int, help="of which also scanned from the start (default 20)")
    ap.add_argument("--city-seeks", type=int, default=12, help="random moments sought in the city file (default 12)")
    ap.add_argument("--city-scans", type=int, default=6, help="of which scanned (default 6)")
    ap.add_argument("--keyframe-every", type=float, default=5.0, help="the recorder's keyframe interval (s, default 5)")
    ap.add_argument("--backlog-mb", type=float, default=1024.0, help="queued payload at which the tick loop waits (default 1024)")
    ap.add_argument("--skip-city", action="store_true", help="no city recording")
    ap.add_argument("--skip-hour", action="store_true", help="no hour recording (of the churning twin)")
    ap.add_argument("--demo-ticks", type=int, help="ticks of the demo district's recording (default 1,800; 600 with --quick)")
    ap.add_argument("--demo-warm", type=int, default=120, help="demo ticks before its recorder starts (default 120)")
    ap.add_argument("--skip-demo", action="store_true", help="no demo district recording")
    ap.add_argument("--dir", type=Path, help="where the files go (default a temporary folder, removed at the end)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    a.ticks = a.ticks or (3_000 if a.quick else 36_000)
    a.city_assets = a.city_assets or (5_000 if a.quick else 25_000)
    a.city_ticks = a.city_ticks or (50 if a.quick else 300)
    a.demo_ticks = a.demo_ticks or (600 if a.quick else 1_800)
    a.seeks = a.seeks or (20 if a.quick else 40)
    a.scans = min(a.seeks, a.scans or 20)
    a.city_scans = min(a.city_seeks, a.city_scans)
    return a


ARGS = _args()
os.environ["TWIN_PLUGINS"] = BUILTIN

import _record_probe as probe  # noqa: E402
from _record_probe import READ, TICK, WRITER  # noqa: E402

import twin.runs.recording as rec  # noqa: E402
from twin.serving import protocol as p  # noqa: E402
from twin.serving.client import Mirror  # noqa: E402
from twin.tick.engine import Engine  # noqa: E402

probe.install()
#: the demo's per-channel share is given for the recorder's own chunk codec (mcap's zstd is level 3)
CHUNK_CODEC = {"LZ4": "lz4", "ZSTD": "zstd-3"}[rec.COMPRESSION.name]


def pct(values: list[float] | np.ndarray, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


State = tuple[int, dict[str, dict[str, np.ndarray]], dict[str, dict[str, np.ndarray]], dict[str, dict[str, float]]]


def state_of(engine: Engine) -> State:
    """The engine's live values as sent (what a keyframe carries and every client holds),
    its exact columns, and each field's resolution."""
    tables = engine.world.tables.items()
    return (engine.seq, {n: {f: t.sent(f).copy() for f in t.live_fields()} for n, t in tables},
            {n: {f: t.columns[f].copy() for f in t.live_fields()} for n, t in tables},
            {n: {f: float(t.specs[f].resolution) for f in t.live_fields()} for n, t in tables})


def same_state(label: str, mirror: Mirror, want: State) -> None:
    """The mirror holds the values sent as the recording stores them (a float field with a
    resolution to 1/64 of it: twin.runs.packed), bit for bit, and they are within each
    field's resolution (and half that step) of the exact columns (equal where it is 0)."""
    seq, tables, exact, resolution = want
    if mirror.seq != seq:
        raise AssertionError(f"{label}: seq {mirror.seq}, engine {seq}")
    for d, fields in tables.items():
        for f, column in fields.items():
            got = mirror.tables[d][f]
            if got.dtype == np.uint8 and column.dtype == np.bool_:
                got = got.view(np.bool_)
            step = resolution[d][f] / rec.packed.SUBSTEPS if column.dtype.kind == "f" else 0.0
            stored = (np.rint(column.astype(np.float64) / step) * step).astype(column.dtype) if step else column
            np.testing.assert_array_equal(got, stored, err_msg=f"{label}: {d}.{f}")
            held, truth = got.astype(np.float64), exact[d][f].astype(np.float64)
            off = ~((np.abs(held - truth) < resolution[d][f] * (1 + 0.5 / rec.packed.SUBSTEPS) + np.spacing(np.abs(truth)))
                    | (held == truth) | (np.isnan(held) & np.isnan(truth)))
            if off.any():
                raise AssertionError(f"{label}: {d}.{f}: {int(off.sum())} values a resolution ({resolution[d][f]}) or more "
                                     "from the exact state")


def tick_alone(engine: Engine, n: int) -> tuple[np.ndarray, np.ndarray]:
    gc.collect()
    wall, cpu = np.empty(n), np.empty(n)
    for i in range(n):
        c0, t0 = time.thread_time(), time.perf_counter()
        engine.tick()
        wall[i], cpu[i] = time.perf_counter() - t0, time.thread_time() - c0
    return wall, cpu


def codecs(sample: list[bytes], limit: int = 64 * 2**20) -> dict[str, tuple[float, float]]:
    """Single-thread CPU speed (MB/s of input) and ratio of chunk compressors on the first
    ``limit`` bytes of payloads cut into 1 MiB chunks, as mcap's writer cuts them."""
    import lz4.frame
    import zstandard

    chunks, part, size = [], [], 0
    for data in sample:
        part.append(data)
        size += len(data)
        if size > 2**20:
            chunks.append(b"".join(part))
            part, size = [], 0
        if sum(len(c) for c in chunks) >= limit:
            break
    if part:
        chunks.append(b"".join(part))
    total = sum(len(c) for c in chunks)
    out = {}
    for name, fn in (("zstd level 3 (mcap's zstandard.compress)", zstandard.compress),
                     ("zstd level 1, one reused ZstdCompressor", zstandard.ZstdCompressor(level=1).compress),
                     ("zstd level -1", zstandard.ZstdCompressor(level=-1).compress),
                     ("lz4 (mcap's CompressionType.LZ4)", lz4.frame.compress)):
        c0 = time.thread_time()
        compressed = sum(len(fn(c)) for c in chunks)
        out[name] = (total / max(time.thread_time() - c0, 1e-9) / 1e6, total / compressed)
    return out


# -- recording -------------------------------------------------------------------------
def record(engine: Engine, path: Path, ticks: int, baseline: int, captures: set[int], label: str) -> dict[str, Any]:
    """Tick ``baseline`` times alone, then ``ticks`` times with a recorder; time both."""
    gc.collect()
    alone, alone_cpu = tick_alone(engine, baseline)
    say(f"{label}: tick alone (no recorder), mean {alone.mean() * 1e3:.2f} ms over {baseline} ticks")

    WRITER.reset()
    TICK.reset()
    start_time = engine.time
    t_start = time.perf_counter()
    recorder = probe.CountingRecorder(path, engine, {"bench": "record"}, keyframe_every=ARGS.keyframe_every)
    init_s = time.perf_counter() - t_start
    tick_s, rec_s, tick_c, rec_c = np.empty(ticks), np.empty(ticks), np.empty(ticks), np.empty(ticks)
    wait_s = 0.0
    max_backlog = 0
    cap = ARGS.backlog_mb * 2**20
    captured: dict[float, Any] = {}
    step = max(1, ticks // 5)
    cpu0 = time.process_time()
    for i in range(ticks):
        backlog = recorder.backlog()
        max_backlog = max(max_backlog, backlog)
        if backlog > cap:
            w0 = time.perf_counter()
            while recorder.backlog() > cap / 2:
                time.sleep(0.001)
            wait_s += time.perf_counter() - w0
        c0, t0 = time.thread_time(), time.perf_counter()
        frame = engine.tick()
        c1, t1 = time.thread_time(), time.perf_counter()
        recorder.record(frame)
        c2, t2 = time.thread_time(), time.perf_counter()
        tick_s[i], rec_s[i], tick_c[i], rec_c[i] = t1 - t0, t2 - t1, c1 - c0, c2 - c1
        if i in captures:
            captured[frame.time] = state_of(engine)
        if (i + 1) % step == 0:
            say(f"{label}: {i + 1}/{ticks} ticks, sim t = {frame.time:.0f} s, written {WRITER.n['file_bytes'] / 2**20:.0f} MiB, "
                f"backlog {recorder.backlog() / 2**20:.0f} MiB, peak RSS {peak_gb():.2f} GiB")
    loop_s = time.perf_counter() - t_start - init_s
    t0 = time.perf_counter()
    recorder.close()
    close_s = time.perf_counter() - t0
    cpu_s = time.process_time() - cpu0
    wall_s = time.perf_counter() - t_start
    if recorder.error is not None:
        raise RuntimeError(recorder.error)
    payload = WRITER.n["payload_bytes"]  # as written: packed by the writer thread
    end_time = engine.time
    # the tick alone again, after: the machine is shared, so take the baseline on both sides
    after, after_cpu = tick_alone(engine, baseline)
    alone, alone_cpu = np.concatenate([alone, after]), np.concatenate([alone_cpu, after_cpu])
    busy = WRITER.s["add_message"] + WRITER.s["flush"] + WRITER.s["pack"]
    out = {
        "ticks": ticks, "sim_s": end_time - start_time, "start": start_time, "end": end_time, "alone": alone, "tick": tick_s, "rec": rec_s,
        "alone_cpu": alone_cpu, "tick_cpu": tick_c, "rec_cpu": rec_c,
        "wait_s": wait_s, "max_backlog": max_backlog, "init_s": init_s, "loop_s": loop_s, "close_s": close_s,
        "wall_s": wall_s, "cpu_s": cpu_s, "payload": payload, "messages": recorder.queued,
        "file_bytes": path.stat().st_size, "busy_s": busy, "writer": dict(WRITER.s), "writer_n": dict(WRITER.n),
        "tick_parts": dict(TICK.s), "captured": captured,
    }
    # Raw baseline: the same payload bytes, in the same order and message sizes, to a plain file.
    raw_path = path.with_suffix(".raw")
    sample = recorder.sample
    del recorder
    gc.collect()
    t0 = time.perf_counter()
    written = 0
    with raw_path.open("wb") as f:
        while written < payload:
            for data in sample:
                left = payload - written
                if left <= 0:
                    break
                f.write(data if len(data) <= left else memoryview(data)[:left])
                written += min(len(data), left)
    out["raw_s"] = time.perf_counter() - t0
    out["raw_sample"] = sum(len(d) for d in sample)
    raw_path.unlink()
    out["codecs"] = codecs(sample)
    del sample
    gc.collect()
    return out


# -- reading back ----------------------------------------------------------------------
def summary_of(path: Path) -> Any:
    from mcap.reader import make_reader

    with path.open("rb") as f:
        return make_reader(f).get_summary()


def needed_chunks(summary: Any, key_time: float, t: float) -> int:
    ids = {c.topic: i for i, c in summary.channels.items()}
    kf, dl = ids["/frame/keyframe"], ids["/frame/delta"]
    k, end = rec.ns(key_time), rec.ns(t)
    n = 0
    for c in summary.chunk_indexes:
        holds_key = kf in c.message_index_offsets and c.message_start_time <= k <= c.message_end_time
        holds_delta = dl in c.message_index_offsets and c.message_start_time <= end and c.message_end_time > k
        n += holds_key or holds_delta
    return n


def scan(path: Path, t: float) -> tuple[bytes | None, list[bytes]]:
    """What seek returns, by reading the file from the start (read_stream) up to ``t``."""
    key: bytes | None = None
    deltas: list[bytes] = []
    for topic, when, data in rec.read_stream(path, ("/frame/keyframe", "/frame/delta")):
        if when > t + 1e-9:
            break
        if topic == "/frame/keyframe":
            key, deltas = data, []
        else:
            deltas.append(data)
    return key, deltas


def read_back(path: Path, start: float, end: float, seeks: int, scans: int, captured: dict[float, Any], label: str) -> dict[str, Any]:
    rng = np.random.default_rng(ARGS.seed)
    moments = sorted(rng.uniform(start + DT, end, seeks).tolist())
    scan_set = set(rng.choice(len(moments), scans, replace=False).tolist())
    summary = summary_of(path)
    s0 = time.perf_counter()
    for _ in range(3):
        summary_of(path)
    summary_ms = (time.perf_counter() - s0) / 3 * 1e3
    seek_ms, apply_ms, decoded, distinct, needed, deltas_n, scan_ms, scan_sim = [], [], [], [], [], [], [], []
    seek_cpu: list[float] = []
    order = rng.permutation(len(moments))  # not in file order: no reader gains from the last one's cache
    for j in order:
        t = moments[j]
        READ.reset()
        t0, c0 = time.perf_counter(), time.thread_time()
        keyframe, deltas = rec.seek(path, t)
        seek_ms.append((time.perf_counter() - t0) * 1e3)
        seek_cpu.append((time.thread_time() - c0) * 1e3)
        decoded.append(READ.n["chunks"])
        distinct.append(len(READ.seen))
        t0 = time.perf_counter()
        m = Mirror()
        m.apply(keyframe)
        key_time = m.time
        for d in deltas:
            m.apply(d)
        apply_ms.append((time.perf_counter() - t0) * 1e3)
        needed.append(needed_chunks(summary, key_time, t))
        deltas_n.append(len(deltas))
        if j in scan_set:
            t0 = time.perf_counter()
            key2, deltas2 = scan(path, t)
            scan_ms.append((time.perf_counter() - t0) * 1e3)
            scan_sim.append(t - start)
            if key2 != keyframe or deltas2 != deltas:
                raise AssertionError(f"{label}: seek and scan disagree at t = {t}")
    say(f"{label}: {seeks} seeks, {scans} scans done")

    # Correctness: seek vs playing from the start vs the engine, at the captured moments.
    checks = sorted(captured)
    for t in checks:
        keyframe, deltas = rec.seek(path, t)
        m = Mirror()
        for frame in [keyframe, *deltas]:
            m.apply(frame)
        same_state(f"{label} seek to {t:.1f} s vs engine", m, captured[t])
    played = Mirror()
    pending = list(checks)
    for topic, when, data in rec.read_stream(path, ("/frame/keyframe", "/frame/delta")):
        while pending and when > pending[0] + 1e-9:
            same_state(f"{label} play to {pending[0]:.1f} s vs engine", played, captured[pending.pop(0)])
        if not pending:
            break
        played.apply(data)
    while pending:
        same_state(f"{label} play to {pending[0]:.1f} s vs engine", played, captured[pending.pop(0)])
    say(f"{label}: state from seek == state played from the start == engine's columns at t = "
        f"{', '.join(f'{t:.1f}' for t in checks)} s")
    return {"moments": moments, "seek_ms": seek_ms, "seek_cpu": seek_cpu, "apply_ms": apply_ms, "decoded": decoded, "distinct": distinct, "needed": needed,
            "deltas": deltas_n, "scan_ms": scan_ms, "scan_sim": scan_sim, "summary_ms": summary_ms,
            "chunks": len(summary.chunk_indexes), "checks": checks}


# -- report ----------------------------------------------------------------------------
def report(label: str, r: dict[str, Any], s: dict[str, Any], assets: int, extrapolated: bool) -> dict[str, float]:
    ms = 1e3
    alone, tick, recd = r["alone"].mean() * ms, r["tick"].mean() * ms, r["rec"].mean() * ms
    parts = r["tick_parts"]
    n = r["ticks"]
    enc = {k: parts.get(k, 0.0) / n * ms for k in ("encode_delta", "encode_readings", "encode_keyframe")}
    put = parts.get("queue_put", 0.0) / n * ms
    other = recd - sum(enc.values()) - put
    total = (r["tick"] + r["rec"]).mean() * ms
    w = r["writer"]
    busy = r["busy_s"]
    writer_bps = r["payload"] / busy
    raw_bps = r["payload"] / r["raw_s"]
    per_hour = 3600.0 / r["sim_s"]
    mb_hour = r["file_bytes"] * per_hour / 1e6
    wn = r["writer_n"]
    print()
    print(f"== {label}: {assets:,} assets, dt = {DT} s, {n:,} ticks = {r['sim_s']:.0f} s simulated, "
          f"recorded in {r['wall_s']:.1f} s wall ({r['sim_s'] / r['wall_s']:.1f}x real time)")
    print(f"{'tick thread, per tick (mean)':46s} {'ms':>9s} {'of tick':>8s}")
    rows = [("engine.tick alone (no recorder)", alone), ("engine.tick while recording", tick),
            ("record() (time on the tick thread)", recd),
            ("  encode delta", enc["encode_delta"]), ("  encode readings (inputs)", enc["encode_readings"]),
            ("  encode keyframe (amortised)", enc["encode_keyframe"]), ("  queue.put", put),
            ("  other (json, bookkeeping)", other), ("tick + record()", total)]
    for name, v in rows:
        print(f"{name:46s} {v:9.3f} {v / tick:8.1%}")
    print(f"record() p50 {pct(r['rec'], 50) * ms:.3f} ms, p99 {pct(r['rec'], 99) * ms:.3f} ms, max "
          f"{r['rec'].max() * ms:.1f} ms; tick slowed by the writer thread {tick / alone - 1:+.1%}; "
          f"backlog wait {r['wait_s']:.1f} s, peak backlog {r['max_backlog'] / 2**20:.0f} MiB; "
          f"process CPU {r['cpu_s'] / r['loop_s']:.2f} cores while recording")
    print(f"writer thread: busy {busy:.1f} s of {r['loop_s'] + r['close_s']:.1f} s "
          f"({busy / (r['loop_s'] + r['close_s']):.0%}; thread CPU {w.get('cpu', 0):.1f} s): packing {w.get('pack', 0):.1f} s "
          f"(deltas {w.get('pack_encode_delta', 0):.1f}, readings {w.get('pack_encode_readings', 0):.1f}, keyframes "
          f"{w.get('pack_encode_keyframe', 0):.1f}), zstd {w.get('compress', 0):.1f} s, file I/O {w.get('io', 0):.1f} s, "
          f"mcap's Python (and LZ4) {busy - w.get('pack', 0) - w.get('compress', 0) - w.get('io', 0):.1f} s; "
          f"close {r['close_s'] * ms:.0f} ms")
    rec_cpu, tick_cpu, alone_cpu = r["rec_cpu"].mean() * ms, r["tick_cpu"].mean() * ms, r["alone_cpu"].mean() * ms
    print(f"thread CPU per tick (robust to the shared machine): tick alone {alone_cpu:.3f} ms, tick while recording "
          f"{tick_cpu:.3f} ms, record() {rec_cpu:.3f} ms = {rec_cpu / tick_cpu:.1%} of the tick")
    print(f"writer throughput {writer_bps / 1e6:8.1f} MB/s of payload per busy second; raw f.write of the same "
          f"{r['payload'] / 1e6:,.0f} MB: {raw_bps / 1e6:8.1f} MB/s ({r['raw_s']:.1f} s, cycling the first "
          f"{r['raw_sample'] / 2**20:.0f} MiB); writer_vs_raw {writer_bps / raw_bps:.3f}; per writer CPU second "
          f"{r['payload'] / max(w.get('cpu', 0), 1e-9) / 1e6:.1f} MB/s; without the packing (MCAP and I/O alone, "
          f"as before packing moved to the writer) {r['payload'] / max(busy - w.get('pack', 0), 1e-9) / raw_bps:.3f}")
    compress = w.get("compress", 0.0)
    base_speed = next(iter(r["codecs"].values()))[0]
    for name, (speed, ratio) in r["codecs"].items():
        projected = r["payload"] / (busy - compress + compress * base_speed / speed)
        print(f"  chunk codec {name:42s} {speed:7.0f} MB/s one core, ratio {ratio:5.2f}; writer_vs_raw with it "
              f"~{projected / raw_bps:.3f}")
    print(f"file: {r['file_bytes'] / 1e6:,.1f} MB for {r['sim_s']:.0f} s -> {mb_hour:,.0f} MB per simulated hour"
          f"{' (extrapolated)' if extrapolated else ''}; {r['messages']:,} messages, {r['payload'] / 1e6:,.1f} MB payload, "
          f"{s['chunks']:,} chunks, zstd {wn.get('chunk_in', 0) / max(1, wn.get('chunk_out', 1)):.2f}x")
    chunks_per_seek = float(np.mean(s["decoded"]))
    extra = [d - k for d, k in zip(s["decoded"], s["needed"])]
    print(f"seek to {len(s['seek_ms'])} random moments: p50 {pct(s['seek_ms'], 50):.1f} ms, p99 {pct(s['seek_ms'], 99):.1f} ms "
          f"(of which reading the summary ~{s['summary_ms']:.1f} ms; RecordingReader keeps a file's index after its first "
          f"reading); thread CPU p50 {pct(s['seek_cpu'], 50):.1f} ms, p99 {pct(s['seek_cpu'], 99):.1f} ms (robust to the "
          f"shared machine); applying it to a Mirror p50 "
          f"{pct(s['apply_ms'], 50):.1f} ms; deltas per seek p50 {pct(s['deltas'], 50):.0f}")
    twice = sum(d > k for d, k in zip(s["decoded"], s["distinct"]))
    print(f"chunks decoded per seek: mean {chunks_per_seek:.1f}, max {max(s['decoded'])} (distinct chunks mean "
          f"{np.mean(s['distinct']):.1f}; {twice} of {len(s['decoded'])} seeks decoded a chunk twice); needed mean "
          f"{np.mean(s['needed']):.1f}; decoded - needed max {max(extra)} ("
          f"{'at most what it needs' if max(extra) <= 0 else 'MORE than it needs'}), distinct - needed max "
          f"{max(d - k for d, k in zip(s['distinct'], s['needed']))}")
    per_sim = np.asarray(s["scan_ms"]) / np.maximum(np.asarray(s["scan_sim"]), 1e-9)
    print(f"scan from the start ({len(s['scan_ms'])} of them): p50 {pct(s['scan_ms'], 50):.0f} ms, p99 "
          f"{pct(s['scan_ms'], 99):.0f} ms ({np.median(per_sim):.2f} ms per simulated second read); "
          f"seek/scan p50 {pct(s['seek_ms'], 50) / pct(s['scan_ms'], 50):.4f}")
    return {
        "recorder_over_tick": recd / tick, "recorder_over_tick_cpu": rec_cpu / tick_cpu, "slowdown": total / alone - 1, "writer_vs_raw": writer_bps / raw_bps,
        "seek_p50_ms": pct(s["seek_ms"], 50), "seek_p99_ms": pct(s["seek_ms"], 99), "seek_cpu_p99_ms": pct(s["seek_cpu"], 99),
        "scan_p50_ms": pct(s["scan_ms"], 50), "scan_p99_ms": pct(s["scan_ms"], 99), "mb_per_hour": mb_hour,
        "chunks_per_seek": chunks_per_seek, "extra_chunks": float(max(extra)), "tick_ms": tick, "record_ms": recd,
        "writer_mbps": writer_bps / 1e6, "raw_mbps": raw_bps / 1e6, "wait_s": r["wait_s"],
        "writer_mcap_vs_raw": r["payload"] / max(busy - w.get("pack", 0.0), 1e-9) / raw_bps,
    }


def demo(workdir: Path) -> dict[str, float]:
    """The demo district recorded with the default Recorder (see the module's docstring, 3)."""
    from twin.runtime import default_scene, open_twin

    t = time.perf_counter()
    engine = open_twin(default_scene(), workdir / "demo-data", seed=ARGS.seed, persist=False)
    assets = sum(len(table) for table in engine.world.tables.values())
    for _ in range(ARGS.demo_warm):
        engine.tick()
    say(f"demo: {assets:,} assets, {len(engine.scene.sensors):,} sensors, {ARGS.demo_warm} ticks of warm-up in "
        f"{time.perf_counter() - t:.1f} s")
    path = workdir / "demo.mcap"
    recorder = rec.Recorder(path, engine, {"bench": "record-demo"})
    start, values = engine.time, 0
    for _ in range(ARGS.demo_ticks):
        frame = engine.tick()
        values += frame.changed_rows()
        recorder.record(frame)
    recorder.close()
    if recorder.error is not None:
        raise RuntimeError(recorder.error)
    seconds = engine.time - start
    engine.close()
    payload: dict[str, int] = {}  # as readers get them (readings batches, protocol v1 frames)
    stored: dict[str, int] = {}  # as the file holds them (packed: twin.runs.packed)
    seconds_of: dict[str, dict[int, list[bytes]]] = {}  # each channel's stored messages by second: a chunk's share
    reader = rec.RecordingReader(path)
    try:
        for (topic, t, data), (_, _, kept) in zip(reader.messages(), reader.messages(stored=True)):
            payload[topic] = payload.get(topic, 0) + len(data)
            stored[topic] = stored.get(topic, 0) + len(kept)
            seconds_of.setdefault(topic, {}).setdefault(t // rec.NS, []).append(kept)
    finally:
        reader.close()
    hour = 3600.0 / seconds
    # Each channel's share of the file: its messages of each second (one chunk) compressed
    # alone with each candidate chunk codec (the chunk mixes channels; this is its part).
    import lz4.frame
    import zstandard

    candidates = {"lz4": lz4.frame.compress, "zstd-1": zstandard.ZstdCompressor(level=1).compress,
                  "zstd-3": zstandard.ZstdCompressor(level=3).compress}
    shares = {name: {topic: sum(len(fn(b"".join(m))) for m in by_second.values()) * hour / 1e6
                     for topic, by_second in seconds_of.items()} for name, fn in candidates.items()}
    out = {"stream_kbps": payload.get("/frame/delta", 0) / seconds / 1e3, "mb_per_hour": path.stat().st_size * hour / 1e6,
           "values_per_tick": values / ARGS.demo_ticks}
    for topic in ("/input/readings", "/frame/delta", "/frame/keyframe"):
        out[f"mb_{topic.rsplit('/', 1)[-1]}"] = shares[CHUNK_CODEC][topic]
    print()
    print(f"== demo district: {assets:,} assets, dt = {engine.dt:g} s, {ARGS.demo_ticks:,} ticks = {seconds:.0f} s simulated "
          f"after {ARGS.demo_warm} s")
    print(f"stream: {out['stream_kbps']:.2f} KB/s of deltas ({out['values_per_tick']:.0f} values a tick), what a client "
          f"subscribed to everything receives before WebSocket framing")
    print(f"recording: {out['mb_per_hour']:.1f} MB per simulated hour on disk ({CHUNK_CODEC} chunks); per channel, MB/h:")
    print(f"  {'channel':18s} {'as read':>8s} {'stored':>8s} " + " ".join(f"{name:>8s}" for name in candidates))
    for topic in sorted(payload, key=lambda k: -payload[k]):
        print(f"  {topic:18s} {payload[topic] * hour / 1e6:8.2f} {stored[topic] * hour / 1e6:8.2f} "
              + " ".join(f"{shares[name][topic]:8.2f}" for name in candidates))
    print(f"  {'all':18s} {sum(payload.values()) * hour / 1e6:8.2f} {sum(stored.values()) * hour / 1e6:8.2f} "
          + " ".join(f"{sum(shares[name].values()):8.2f}" for name in candidates)
          + "  (as read: what readers get, plain; stored: packed, before the chunk codec; then each codec per second)")
    path.unlink()
    return out


def goals(label: str, g: dict[str, float]) -> None:
    marks = [
        ("recorder under 5% of the tick", g["recorder_over_tick"] < 0.05,
         f"{g['recorder_over_tick']:.1%} wall, {g['recorder_over_tick_cpu']:.1%} thread CPU"),
        ("writer at least half of a raw write", g["writer_vs_raw"] >= 0.5,
         f"{g['writer_vs_raw']:.3f} packing included; MCAP and I/O alone {g['writer_mcap_vs_raw']:.3f}"),
        ("seek decodes at most the chunks it needs", g["extra_chunks"] <= 0, f"{g['chunks_per_seek']:.1f} chunks"),
        ("seek under 50 ms p99", g["seek_p99_ms"] < 50, f"{g['seek_p99_ms']:.1f} ms; thread CPU {g['seek_cpu_p99_ms']:.1f} ms"),
    ]
    print(f"Goals ({label}): " + "; ".join(f"{name}: {'met' if ok else 'NOT met'} ({v})" for name, ok, v in marks))


def demo_goals(g: dict[str, float]) -> None:
    marks = [("stream under 10 KB/s", g["stream_kbps"] < 10, f"{g['stream_kbps']:.2f} KB/s"),
             ("recording under 20 MB/h", g["mb_per_hour"] < 20, f"{g['mb_per_hour']:.1f} MB/h")]
    print("Goals (demo): " + "; ".join(f"{name}: {'met' if ok else 'NOT met'} ({v})" for name, ok, v in marks))


def main() -> None:
    workdir = Path(ARGS.dir) if ARGS.dir else Path(tempfile.mkdtemp(prefix="twin-record-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"files in {workdir}; NUMBA_CACHE_DIR={os.environ.get('NUMBA_CACHE_DIR', '(default)')}")
    try:
        # 3. the demo district first: it takes a minute ------------------------------------
        shown = demo(workdir) if not ARGS.skip_demo else None
        hour: dict[str, float] | None = None
        if not ARGS.skip_hour:
            hour = the_hour(workdir)
        city: dict[str, float] | None = None
        if not ARGS.skip_city:
            city = the_city(workdir)
        print()
        if hour:
            goals("hour", hour)
        if city:
            goals("city", city)
        if shown:
            demo_goals(shown)
        print(f"run {time.perf_counter() - T0:.0f} s; peak RSS {peak_gb():.2f} GiB")
        keys = ("recorder_over_tick", "writer_vs_raw", "seek_p99_ms", "scan_p99_ms", "mb_per_hour", "chunks_per_seek")
        fmt = {"recorder_over_tick": "{:.4f}", "writer_vs_raw": "{:.3f}", "mb_per_hour": "{:.0f}", "chunks_per_seek": "{:.1f}"}
        result: dict[str, str] = {}
        if hour:
            result.update({k: fmt.get(k, "{:.1f}").format(hour[k]) for k in keys})
            result.update(recorder_over_tick_cpu=f"{hour['recorder_over_tick_cpu']:.4f}", seek_p50_ms=f"{hour['seek_p50_ms']:.1f}",
                          writer_mcap_vs_raw=f"{hour['writer_mcap_vs_raw']:.3f}", seek_cpu_p99_ms=f"{hour['seek_cpu_p99_ms']:.1f}",
                          scan_p50_ms=f"{hour['scan_p50_ms']:.0f}", tick_ms=f"{hour['tick_ms']:.3f}",
                          record_ms=f"{hour['record_ms']:.3f}", writer_mbps=f"{hour['writer_mbps']:.1f}",
                          raw_mbps=f"{hour['raw_mbps']:.1f}")
        if city:
            for k in (*keys, "tick_ms", "record_ms", "writer_mbps", "raw_mbps", "seek_p50_ms"):
                result[f"city_{k}"] = fmt.get(k, "{:.1f}").format(city[k])
            result["city_recorder_over_tick_cpu"] = f"{city['recorder_over_tick_cpu']:.4f}"
            result["city_wait_s"] = f"{city['wait_s']:.1f}"
        if shown:
            result["demo_stream_kbps"] = f"{shown['stream_kbps']:.2f}"
            result["demo_mb_per_hour"] = f"{shown['mb_per_hour']:.1f}"
        result["peak_gb"] = f"{peak_gb():.2f}"
        print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    finally:
        if not ARGS.dir:
            shutil.rmtree(workdir, ignore_errors=True)


def the_hour(workdir: Path) -> dict[str, float]:
    """1. the hour: the churning twin recorded (see the module's docstring)."""
    import _stream_churn as churn

    from twin.authoring.testing import Harness

    churn.COUNT, churn.SHARE = ARGS.assets, ARGS.share
    t = time.perf_counter()
    h = Harness(workdir / "churn-scene", plugins=[churn], blocks=(1, 1), simulate=False, seed=ARGS.seed)
    engine = h.engine
    engine.dt = DT
    for _ in range(3):
        engine.tick()
    say(f"hour: churning twin of {len(engine.world.tables['churn']):,} probes built in {time.perf_counter() - t:.1f} s")
    n = ARGS.ticks
    captures = {n // 3 + 17, (2 * n) // 3 + 3, n - 8}
    base = ARGS.baseline_ticks or 600
    path = workdir / "hour.mcap"
    r = record(engine, path, n, base, captures, "hour")
    say(f"hour: recorded {r['file_bytes'] / 1e6:,.0f} MB in {r['wall_s']:.1f} s; raw write {r['raw_s']:.1f} s")
    s = read_back(path, r["start"], r["end"], ARGS.seeks, ARGS.scans, r.pop("captured"), "hour")
    h.close()
    del engine, h
    gc.collect()
    hour = report("hour (churning twin)", r, s, ARGS.assets, extrapolated=abs(r["sim_s"] - 3600) > 1)
    path.unlink()
    return hour


def the_city(workdir: Path) -> dict[str, float]:
    """2. the realistic frame: the tiled city recorded (see the module's docstring)."""
    from _city import tiled_city

    from twin.plugins.registry import load_registry

    t = time.perf_counter()
    registry = load_registry()
    scene, info = tiled_city(registry, ARGS.city_assets, seed=ARGS.seed)
    engine = Engine(scene, registry, seed=ARGS.seed, dt=DT, simulate=True)
    assets = sum(info.assets.values())
    say(f"city: {assets:,} assets ({', '.join(f'{d} {k:,}' for d, k in sorted(info.assets.items()))}), "
        f"{len(scene.sensors):,} sensors, built in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    engine.tick()
    say(f"city: first tick (topology memos) {time.perf_counter() - t:.1f} s")
    n = ARGS.city_ticks
    base = ARGS.baseline_ticks or 30
    captures = {n // 3 + 7, (2 * n) // 3 + 3, n - 4}
    path = workdir / "city.mcap"
    r2 = record(engine, path, n, base, captures, "city")
    say(f"city: recorded {r2['file_bytes'] / 1e6:,.0f} MB in {r2['wall_s']:.1f} s; raw write {r2['raw_s']:.1f} s")
    s2 = read_back(path, r2["start"], r2["end"], ARGS.city_seeks, ARGS.city_scans, r2.pop("captured"), "city")
    engine.close()
    city = report("city (tiled synthetic city, realistic frame)", r2, s2, assets, extrapolated=True)
    path.unlink()
    return city


if __name__ == "__main__":
    main()
