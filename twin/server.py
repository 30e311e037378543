"""The HTTP and WebSocket server (starlette on uvicorn).

The app answers at once; the twin is built (plugins loaded, kernels compiled, scene
loaded) in a worker thread, and ``/api/health`` says 503 until that is done. Ticks run
in a worker thread too, so requests are served while kernels compute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time as wallclock
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgpack
import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from twin.engine import Engine, Frame
from twin.errors import TwinError

log = logging.getLogger("twin.server")

PROTOCOL_VERSION = 1


def _json_value(value: Any) -> Any:
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


class TwinServer:
    """Owns the engine, its tick loop and the connected clients."""

    def __init__(self, build: Callable[[], Engine], speed: float = 1.0, fast: bool = False) -> None:
        self._build = build
        self.engine: Engine | None = None
        self.startup_error: str | None = None
        self.speed = speed
        self.fast = fast
        self.clients: set[asyncio.Queue[bytes | None]] = set()
        self._tasks: list[asyncio.Task[Any]] = []
        self.app = Starlette(
            routes=[
                Route("/api/health", self.health),
                Route("/api/scene", self.scene),
                Route("/api/plugins", self.plugins),
                Route("/api/assets/{asset_id:str}", self.asset),
                Route("/api/alarms", self.alarms),
                Route("/api/alarms/{alarm_id:int}/{action:str}", self.alarm_action, methods=["POST"]),
                Route("/metrics", self.metrics),
                WebSocketRoute("/ws", self.websocket),
            ],
            lifespan=self.lifespan,
        )

    # -- lifecycle ---------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._tasks.append(asyncio.create_task(self._start()))
        try:
            yield
        finally:
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if self.engine is not None:
                self.engine.close()

    async def _start(self) -> None:
        try:
            self.engine = await asyncio.to_thread(self._build)
        except Exception as exc:
            self.startup_error = str(exc)
            log.error("the twin failed to start", extra={"error": str(exc)})
            return
        log.info("twin ready", extra={"scene": self.engine.scene.name, "assets": sum(len(t) for t in self.engine.world.tables.values())})
        self._tasks.append(asyncio.create_task(self._tick_loop()))

    async def _tick_loop(self) -> None:
        engine = self.engine
        assert engine is not None
        interval = engine.dt / self.speed
        deadline = wallclock.monotonic()
        while True:
            frame = await asyncio.to_thread(engine.tick)
            self._broadcast(frame)
            if self.fast:
                await asyncio.sleep(0)
                continue
            deadline += interval
            delay = deadline - wallclock.monotonic()
            if delay < -5 * interval:
                deadline = wallclock.monotonic()  # fell far behind: do not sprint to catch up
            await asyncio.sleep(max(0.0, delay))

    def _ready(self) -> Engine:
        if self.engine is None:
            raise _NotReady(self.startup_error)
        return self.engine

    # -- HTTP --------------------------------------------------------------------------
    async def health(self, request: Request) -> JSONResponse:
        if self.engine is None:
            status = "failed" if self.startup_error else "starting"
            detail = self.startup_error or "loading plugins, compiling kernels and loading the scene"
            return JSONResponse({"status": status, "detail": detail}, status_code=503)
        e = self.engine
        return JSONResponse(
            {
                "status": "ok",
                "scene": e.scene.name,
                "time": e.time,
                "seq": e.seq,
                "protocol": PROTOCOL_VERSION,
                "plugins": {n: p.status for n, p in e.registry.plugins.items()},
            }
        )

    async def scene(self, request: Request) -> JSONResponse:
        e = self._ready()
        counts = e.scene.counts()
        domains = {}
        for name, domain in e.registry.domains.items():
            style = e.registry.styles.get(name)
            domains[name] = {
                "title": domain.title,
                "title_zh": domain.title_zh,
                "assets": len(e.world.tables[name]),
                "kinds": counts.get(name, {}),
                "plugin": e.registry.domain_owner[name],
                "style": None if style is None else {"label": style.label, "label_zh": style.label_zh, "color": style.color},
                "fields": [
                    {
                        "name": f.name, "dtype": f.dtype, "unit": f.unit, "valid": [_json_value(v) for v in f.valid],
                        "description": f.description, "attribute": f.attribute, "label_zh": f.label_zh,
                        "stale": (name, f.name) in e.stale_fields,
                    }
                    for f in domain.fields
                ],
            }
        return JSONResponse(
            {"name": e.scene.name, "title": e.scene.title, "title_zh": e.scene.title_zh, "origin": list(e.scene.origin),
             "domains": domains, "sensors": len(e.scene.sensors), "buildings": len(e.scene.buildings), "time": e.time}
        )

    async def plugins(self, request: Request) -> JSONResponse:
        e = self._ready()
        return JSONResponse({"plugins": [
            {"name": p.name, "version": p.version, "hooks": p.hooks, "status": p.status, "reason": p.reason}
            for p in e.registry.plugins.values()
        ]})

    async def asset(self, request: Request) -> JSONResponse:
        e = self._ready()
        asset_id = request.path_params["asset_id"]
        try:
            table, row = e.world.locate(asset_id)
        except KeyError:
            return JSONResponse({"error": f"no asset {asset_id!r} in scene {e.scene.name!r}"}, status_code=404)
        asset = e.scene.asset(asset_id)
        state = {name: _json_value(table.columns[name][row]) for name in table.live_fields()}
        sensors = [
            {"id": s.id, "field": s.field, "stale": bool(e.ingest.stale[i]),
             "last_value": _json_value(e.ingest.last_value[i]), "last_time": _json_value(e.ingest.last_time[i])}
            for i, s in enumerate(e.scene.sensors) if s.asset == asset_id
        ]
        return JSONResponse({
            "id": asset.id, "domain": asset.domain, "kind": asset.kind, "owner": asset.owner,
            "attributes": asset.attributes, "links": list(asset.links), "geometry": asset.geometry,
            "state": state, "sensors": sensors, "time": e.time,
            "alarms": [a.to_json() for a in e.alarms.active() if a.asset == asset_id],
        })

    async def alarms(self, request: Request) -> JSONResponse:
        e = self._ready()
        q = request.query_params
        try:
            severity = int(q["severity"]) if "severity" in q else None
            since = float(q["since"]) if "since" in q else None
        except ValueError:
            return JSONResponse({"error": "severity must be an integer 1-4 and since a number of seconds"}, status_code=400)
        if any(k in q for k in ("state", "severity", "domain", "since")):
            found = e.alarms.query(q.get("state"), severity, q.get("domain"), since)
        else:
            found = e.alarms.active()
        return JSONResponse({"alarms": [a.to_json() for a in found], "time": e.time})

    async def alarm_action(self, request: Request) -> JSONResponse:
        e = self._ready()
        action = {"ack": "acknowledge", "acknowledge": "acknowledge", "dispatch": "dispatch", "resolve": "resolve"}.get(
            request.path_params["action"]
        )
        if action is None:
            return JSONResponse({"error": "unknown action; use ack, dispatch or resolve"}, status_code=404)
        try:
            body = await request.json() if await request.body() else {}
        except ValueError:
            return JSONResponse({"error": "the body must be JSON: {\"who\": ..., \"note\": ..., \"unit\": ...}"}, status_code=400)
        try:
            alarm = await asyncio.to_thread(
                e.alarms.act, request.path_params["alarm_id"], action, str(body.get("who", "anonymous")),
                str(body.get("note", "")), e.time, str(body.get("unit", "")),
            )
        except KeyError as exc:
            return JSONResponse({"error": str(exc).strip("'\"")}, status_code=404)
        except TwinError as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse({"alarm": alarm.to_json()})

    async def metrics(self, request: Request) -> Response:
        e = self._ready()
        e.metrics.stream_clients.set(len(self.clients))
        return Response(e.metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")

    # -- WebSocket (a first cut: greeting with the schema, snapshot, deltas) -----------
    async def websocket(self, ws: WebSocket) -> None:
        await ws.accept()
        try:
            e = self._ready()
        except _NotReady:
            await ws.close(code=1013, reason="twin is starting")
            return
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=64)
        self.clients.add(queue)
        try:
            await ws.send_bytes(msgpack.packb({"type": "hello", "version": PROTOCOL_VERSION, "scene": e.scene.name,
                                               "time": e.time, "seq": e.seq}))
            await ws.send_bytes(_pack_snapshot(e))
            while True:
                message = await queue.get()
                if message is None:
                    break
                await ws.send_bytes(message)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.clients.discard(queue)

    def _broadcast(self, frame: Frame) -> None:
        if not self.clients:
            return
        message = _pack_frame(frame)
        for queue in list(self.clients):
            if queue.full():
                # A slow client: drop it rather than grow its queue; it reconnects.
                self.clients.discard(queue)
                queue.put_nowait(None) if not queue.full() else None
                continue
            queue.put_nowait(message)


class _NotReady(Exception):
    pass


def _pack_frame(frame: Frame) -> bytes:
    changes = {
        domain: {name: {"rows": rows.tobytes(), "dtype": values.dtype.str, "values": values.tobytes()} for name, (rows, values) in fields.items()}
        for domain, fields in frame.changes.items()
    }
    return msgpack.packb({"type": "delta", "seq": frame.seq, "time": frame.time, "changes": changes,
                          "events": [{"kind": ev.kind, "alarm": ev.alarm, "time": ev.time} for ev in frame.events]},
                         default=_json_value)


def _pack_snapshot(engine: Engine) -> bytes:
    tables = {
        name: {f: {"dtype": table.columns[f].dtype.str, "values": table.columns[f].tobytes()} for f in table.live_fields()}
        for name, table in engine.world.tables.items()
    }
    return msgpack.packb({"type": "snapshot", "seq": engine.seq, "time": engine.time,
                          "ids": {n: t.ids for n, t in engine.world.tables.items()}, "tables": tables})


async def _not_ready_handler(request: Request, exc: Exception) -> JSONResponse:
    detail = getattr(exc, "args", [None])[0]
    return JSONResponse({"error": "the twin is not ready", "detail": detail or "starting"}, status_code=503)


def create_app(build: Callable[[], Engine], speed: float = 1.0, fast: bool = False) -> TwinServer:
    server = TwinServer(build, speed=speed, fast=fast)
    server.app.add_exception_handler(_NotReady, _not_ready_handler)
    return server
