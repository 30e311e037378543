"""The server process of ``bench/stream.py``: builds one engine and serves the phases.

It runs in its own process (the clients run in another) and obeys commands from the
parent over a pipe. Each command names a phase and its schedule in ``time.monotonic()``
seconds (CLOCK_MONOTONIC, shared by every process of the machine):

- ``ours``: the real server (``twin.serving.server.create_app``, uvicorn, protocol v1, the
  Hub) ticking the engine at ``rate`` ticks per second, open loop.
- ``baseline``: a naive server: a starlette WebSocket endpoint and a tick loop that,
  after each tick, sends ``json.dumps`` of every column to each client in turn.
- ``ours_max``: the real server with its tick loop paused; a publisher pushes recorded
  frames through ``Hub.publish`` as fast as every client takes them (at most one frame
  pending per client: nothing merged; a client whose socket is too full for the next
  one has its sender woken each turn of the loop, as each tick would), to measure
  fan-out throughput.
- ``raw``: ``websockets.asyncio.server.serve`` and ``broadcast()`` of the very bytes
  of the same frames, paced by the write buffers (each kept under the 64 KiB high-water
  mark of an asyncio transport), the floor for Python fan-out.

For every phase it reports the process CPU time and the ticks (end time, thread CPU)
inside the measured window ``[t0, t1]``; ``stamps`` maps each tick's ``seq`` to the
moment ``engine.tick`` returned in the worker thread: the end of the tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Bench:
    def __init__(self, assets: int, share: float) -> None:
        sys.path.insert(0, str(HERE))
        import _stream_churn as churn

        from twin.authoring.testing import Harness

        churn.COUNT, churn.SHARE = assets, share
        self.tmp = tempfile.TemporaryDirectory(prefix="twin-stream-bench-")
        self.harness = Harness(Path(self.tmp.name) / "scene", plugins=[churn], blocks=(1, 1), simulate=False)
        self.engine = engine = self.harness.engine
        self.stamps: dict[int, float] = {}
        self.ticks: list[tuple[float, float, float]] = []  # (end, wall seconds, thread CPU seconds)
        original = engine.tick

        def stamped_tick():  # runs in the tick's worker thread
            w0, c0 = time.monotonic(), time.thread_time()
            frame = original()
            end = time.monotonic()
            self.stamps[frame.seq] = end
            self.ticks.append((end, end - w0, time.thread_time() - c0))
            return frame

        engine.tick = stamped_tick  # type: ignore[method-assign]
        for _ in range(3):  # compile and warm up
            engine.tick()

    def reset(self) -> None:
        self.stamps, self.ticks = {}, []

    async def window(self, t0: float, t1: float) -> dict[str, float]:
        """CPU time of this process over [t0, t1], sampled from a thread (so that a busy
        event loop cannot delay the samples)."""

        def sample() -> dict[str, float]:
            time.sleep(max(0.0, t0 - time.monotonic()))
            c0, w0 = time.process_time(), time.monotonic()
            time.sleep(max(0.0, t1 - time.monotonic()))
            c1, w1 = time.process_time(), time.monotonic()
            return {"cpu": c1 - c0, "wall": w1 - w0, "t0": w0, "t1": w1}

        return await asyncio.to_thread(sample)

    def tick_stats(self, t0: float, t1: float) -> dict[str, float]:
        inside = [t for t in self.ticks if t0 <= t[0] <= t1]
        return {"ticks": len(inside), "tick_wall": sum(t[1] for t in inside), "tick_cpu": sum(t[2] for t in inside)}


async def _serve_uvicorn(app: Any, port: int) -> tuple[Any, asyncio.Task[None]]:
    import uvicorn

    from twin.serving.stream import uvicorn_options

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="auto", **uvicorn_options())
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    return server, task


async def _stop_uvicorn(server: Any, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, 20)


async def phase_ours(bench: Bench, conn: Any, rate: float, t0: float, t1: float, t_end: float) -> dict[str, Any]:
    from twin.serving.server import create_app

    engine = bench.engine
    server = create_app(lambda: engine, speed=rate * engine.dt)
    port = _free_port()
    uv, task = await _serve_uvicorn(server.app, port)
    while server.hub is None:
        await asyncio.sleep(0.01)
    hub = server.hub
    publishes: list[tuple[int, float, float, float]] = []  # (seq, start, end, CPU seconds): the Hub's own fan-out
    publish = hub.publish

    def timed_publish(frame: Any) -> None:
        start, cpu = time.monotonic(), time.thread_time()
        publish(frame)
        publishes.append((frame.seq, start, time.monotonic(), time.thread_time() - cpu))

    hub.publish = timed_publish  # type: ignore[method-assign]
    bench.reset()
    conn.send(("ready", f"ws://127.0.0.1:{port}/ws"))
    window = await bench.window(t0, t1)
    sent = {"frames": sum(c.sent_frames for c in hub.clients), "bytes": sum(c.sent_bytes for c in hub.clients)}
    # The world stops: the slow clients read on at their pace and must reach this state.
    server.running.clear()
    async with server.tick_lock:  # a tick under way finishes and is published
        pass
    final = {"seq": engine.seq, "digest": state_digest(engine)}
    await asyncio.sleep(max(0.0, t_end - time.monotonic()) + 0.5)
    await _stop_uvicorn(uv, task)
    return {**window, **bench.tick_stats(window["t0"], window["t1"]), "stamps": dict(bench.stamps), "sent": sent, "final": final,
            "publishes": [x for x in publishes if window["t0"] <= x[1] <= window["t1"]]}


def state_digest(engine: Any) -> str:
    """The digest of every live column, as the clients' mirrors hold them."""
    from _stream_clients import digest

    return digest({d: {f: t.columns[f] for f in t.live_fields()} for d, t in engine.world.tables.items()})


async def phase_baseline(bench: Bench, conn: Any, rate: float, t0: float, t1: float, t_end: float) -> dict[str, Any]:
    """The naive server: after each tick, JSON of the whole state to every client in turn."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    engine = bench.engine
    clients: list[WebSocket] = []

    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        clients.append(ws)
        try:
            while (await ws.receive())["type"] != "websocket.disconnect":
                pass
        finally:
            with contextlib.suppress(ValueError):
                clients.remove(ws)

    async def tick_loop() -> None:
        interval = 1.0 / rate
        deadline = time.monotonic()
        while time.monotonic() < t_end:
            frame = await asyncio.to_thread(engine.tick)
            state = {d: {f: t.columns[f].tolist() for f in t.live_fields()} for d, t in engine.world.tables.items()}
            payload = json.dumps({"seq": frame.seq, "time": frame.time, "domains": state})
            for ws in list(clients):
                try:
                    await ws.send_text(payload)
                except Exception:
                    with contextlib.suppress(ValueError):
                        clients.remove(ws)
            deadline += interval
            delay = deadline - time.monotonic()
            if delay < -5 * interval:
                deadline = time.monotonic()
            await asyncio.sleep(max(0.0, delay))

    app = Starlette(routes=[WebSocketRoute("/baseline", endpoint)])
    port = _free_port()
    uv, task = await _serve_uvicorn(app, port)
    bench.reset()
    ticker = asyncio.create_task(tick_loop())
    conn.send(("ready", f"ws://127.0.0.1:{port}/baseline"))
    window = await bench.window(t0, t1)
    await asyncio.sleep(max(0.0, t_end - time.monotonic()) + 0.5)
    ticker.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await ticker
    await _stop_uvicorn(uv, task)
    return {**window, **bench.tick_stats(window["t0"], window["t1"]), "stamps": dict(bench.stamps)}


def recorded_frames(bench: Bench, n: int) -> list[Any]:
    """The last ``n`` frames the engine made (one tick each)."""
    return list(bench.engine.frames)[-n:]


def encoded(bench: Bench, frames: list[Any]) -> list[bytes]:
    """The bytes the Hub sends a subscriber of everything for each single frame."""
    from twin.serving import protocol as p
    from twin.serving.stream import Pending, Subscription

    sub = Subscription.resolve(bench.engine, None)
    out = []
    for frame in frames:
        pending = Pending(base=frame.seq - 1)
        pending.add(frame, sub)
        out.append(p.encode(*pending.message()))
    return out


async def phase_ours_max(bench: Bench, conn: Any, frames: list[Any], t_pub: float, t0: float, t1: float, t_end: float) -> dict[str, Any]:
    from twin.tick.engine import Frame
    from twin.serving.server import create_app

    engine = bench.engine
    server = create_app(lambda: engine, speed=1.0)
    server.running.clear()  # the tick loop waits; the publisher below feeds the Hub
    port = _free_port()
    uv, task = await _serve_uvicorn(server.app, port)
    while server.hub is None:
        await asyncio.sleep(0.01)
    hub = server.hub
    conn.send(("ready", f"ws://127.0.0.1:{port}/ws"))
    published = 0

    async def publisher() -> None:
        nonlocal published
        await asyncio.sleep(max(0.0, t_pub - time.monotonic()))
        seq = engine.seq
        while time.monotonic() < t1 + 0.1:
            for f in frames:
                seq += 1
                hub.publish(Frame(seq, f.time, f.changes, [], []))
                published += 1
                # at most one frame pending per client: wait until every client took it
                # (written at once to most; a client whose socket was too full has it
                # pending, and its sender looks again at each tick: here, each turn)
                await asyncio.sleep(0)
                while waiting := [c for c in hub.clients if c.pending is not None and c.pending.ticks]:
                    for c in waiting:
                        c.wake.set()
                    await asyncio.sleep(0)

    pub = asyncio.create_task(publisher())
    window = await bench.window(t0, t1)
    await asyncio.sleep(max(0.0, t_end - time.monotonic()) + 0.3)
    pub.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await pub
    await _stop_uvicorn(uv, task)
    return {**window, "published": published}


async def phase_raw(bench: Bench, conn: Any, payloads: list[bytes], t_pub: float, t0: float, t1: float, t_end: float) -> dict[str, Any]:
    from websockets.asyncio.server import broadcast, serve

    async def handler(ws: Any) -> None:
        await ws.wait_closed()

    port = _free_port()
    high_water = 64 * 1024  # asyncio's default transport high-water mark, as under uvicorn
    sent = 0
    async with serve(handler, "127.0.0.1", port, compression=None, max_size=None) as server:
        conn.send(("ready", f"ws://127.0.0.1:{port}/"))

        async def broadcaster() -> None:
            nonlocal sent
            await asyncio.sleep(max(0.0, t_pub - time.monotonic()))
            while time.monotonic() < t1 + 0.1:
                for data in payloads:
                    connections = server.connections
                    broadcast(connections, data)
                    sent += 1
                    await asyncio.sleep(0)
                    while any(c.transport.get_write_buffer_size() > high_water for c in connections):
                        await asyncio.sleep(0)

        task = asyncio.create_task(broadcaster())
        window = await bench.window(t0, t1)
        await asyncio.sleep(max(0.0, t_end - time.monotonic()) + 0.3)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    return {**window, "published": sent}


async def _main(conn: Any, assets: int, share: float) -> None:
    logging.getLogger("twin").setLevel(logging.ERROR)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # writes to clients gone at the end of a phase
    t = time.monotonic()
    bench = Bench(assets, share)
    conn.send(("built", {"seconds": time.monotonic() - t, "assets": assets}))
    frames: list[Any] = []
    while True:
        cmd, kw = await asyncio.to_thread(conn.recv)
        if cmd == "quit":
            break
        if cmd == "ours":
            profile = None
            if os.environ.get("STREAM_BENCH_PROFILE"):  # a developer's look at where the time goes
                import cProfile

                profile = cProfile.Profile(time.process_time)
                profile.enable()
            stats = await phase_ours(bench, conn, **kw)
            if profile is not None:
                profile.disable()
                profile.dump_stats(os.environ["STREAM_BENCH_PROFILE"])
            frames = recorded_frames(bench, 20)
        elif cmd == "baseline":
            stats = await phase_baseline(bench, conn, **kw)
        elif cmd == "ours_max":
            stats = await phase_ours_max(bench, conn, frames, **kw)
        elif cmd == "raw":
            payloads = encoded(bench, frames)
            stats = await phase_raw(bench, conn, payloads, **kw)
            stats["frame_bytes"] = sum(map(len, payloads)) / len(payloads)
        else:
            raise ValueError(cmd)
        conn.send(("stats", stats))
    bench.harness.close()
    bench.tmp.cleanup()


def server_process(conn: Any, assets: int, share: float) -> None:
    try:
        asyncio.run(_main(conn, assets, share))
    except BaseException as exc:
        import traceback

        conn.send(("failed", traceback.format_exc()))
        raise SystemExit(1) from exc
