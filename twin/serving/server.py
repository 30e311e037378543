"""The HTTP and WebSocket server (starlette on uvicorn).

The app answers at once; the twin is built (plugins loaded, kernels compiled, scene
loaded) in a worker thread, and ``/api/health`` says 503 until that is done. Ticks run
in a worker thread too, so requests are served while kernels compute.

Access: once a token exists in the data folder every request needs one (``Authorization:
Bearer`` or ``?token=``), except ``/api/health``; each mutation checks the role.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import time as wallclock
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from twin import __version__
from twin.serving import protocol as p
from twin.plugins.actions import catalogue
from twin.serving.access import TokenRecord, TokenStore, allows, utc_text
from twin.tick.engine import Engine
from twin.serving.geometry import LayerCache, layers_for
from twin.tick.alarms import SYSTEM_DOMAIN, InvalidAction, StoreUnavailable
from twin.errors import TwinError
from twin.serving.guard import Guard, Refused, json_object, origin_allowed
from twin.serving.health import PartState, Subsystems
from twin.serving.incidents_api import incident_routes
from twin.serving.history_api import history_routes
from twin.serving.readings_api import ReadingsRoute
from twin.tick.supervision import Step, TickAbandoned, interrupt
from twin.types import LEVEL_ORANGE
from twin.serving.stream import MAX_CHANNEL, MAX_CONTROL, SEND_BUFFER, Client, Hub, Subscription
from twin.serving.stream import hello as stream_hello

log = logging.getLogger("twin.serving.server")

PROTOCOL_VERSION = p.PROTOCOL_VERSION
MAX_CLIENT_ERRORS = 5
STATIC_DIR = Path(__file__).resolve().parent / "static"  # built by `npm run build` in viewer/
OPEN = TokenRecord("open", "admin", "", 0.0)  # who you are when no token is configured
#: a plugin step (updater, kernel, coupling) running longer than this is stopped and its
#: plugin quarantined (seconds; ``[engine] plugin_deadline`` in the configuration)
PLUGIN_DEADLINE = 10.0
#: a step's first call may compile (numba, cold cache): it gets this many times the deadline
FIRST_CALL_GRACE = 30
#: after interrupting an overrunning step, how long to wait for the tick to finish
#: before abandoning its thread (seconds)
ABANDON_AFTER = 2.0
#: /api/health answers 503 when no tick completed for this many tick intervals ...
STALL_TICKS = 3
#: ... and at least this many seconds (a tick of a big city takes a while)
STALL_FLOOR = 5.0


def _json_value(value: Any) -> Any:
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _bearer(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


class _NotReady(Exception):
    pass


class _Denied(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class TwinServer:
    """Owns the engine, its tick loop and the connected clients."""

    def __init__(
        self,
        build: Callable[[], Engine],
        speed: float = 1.0,
        fast: bool = False,
        data_dir: Path | None = None,
        allowed_origins: tuple[str, ...] = (),
        allowed_hosts: tuple[str, ...] = (),
        bound_host: str | None = None,
        mqtt_url: str | None = None,
        mqtt_user: str | None = None,
        mqtt_password: str | None = None,
    ) -> None:
        self._build = build
        self.data_dir = data_dir
        #: the broker a twin fed by real sensors subscribes to (twin.sources.mqtt), and
        #: its subscriber once the twin is built; None without one
        self.mqtt_url = mqtt_url
        self.mqtt_user = mqtt_user
        self.mqtt_password = mqtt_password
        self.mqtt: Any = None
        self._mqtt_seen = (0, 0)  # (messages, commands) already counted in /metrics
        self.engine: Engine | None = None
        self.hub: Hub | None = None
        self.startup_error: str | None = None
        self.speed = speed
        self.fast = fast
        self.mode = "live"
        self.replay: Any = None
        self.record_path: Path | None = None
        self.recorder: Any = None
        #: held around each tick and publish, and by replay controls, so that a seek and
        #: the snapshots it sends never interleave with a tick
        self._tick_lock = asyncio.Lock()
        self.running = asyncio.Event()
        self.running.set()
        self.tokens = TokenStore(data_dir if data_dir is not None else Path("/nonexistent/twin-no-tokens"))
        #: recordings a director may open for replay on a running server
        self.recordings_dir = data_dir / "recordings" if data_dir is not None else None
        self.allowed_origins = allowed_origins
        #: open mode is decided at start-up: a server that starts with tokens never turns
        #: open while it runs, whatever `twin token open` writes meanwhile
        self._open = self.tokens.mode == "open"
        #: each connected WebSocket client's token, re-checked every tick (revalidate_clients)
        self._client_tokens: dict[Client, TokenRecord] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        #: the one thread that runs ticks; replaced when a stuck tick is abandoned
        self._tick_thread = ThreadPoolExecutor(1, thread_name_prefix="twin-tick")
        self.plugin_deadline: float | None = None  # None: the configuration's, else PLUGIN_DEADLINE
        #: called with the reason when start-up fails (`twin serve` exits non-zero)
        self.on_fatal: Callable[[str], None] | None = None
        self.subsystems = Subsystems(self._subsystem_changed)
        self.subsystems.set("engine", "starting", "loading plugins, compiling kernels and loading the scene")
        #: monotonic time the last tick completed (or the loop last waited on a paused replay)
        self.last_tick: float | None = None
        self.last_tick_error: str | None = None
        self.app = Starlette(
            routes=[
                Route("/api/health", self.health),
                Route("/api/scene", self.scene),
                Route("/api/plugins", self.plugins),
                Route("/api/assets/{asset_id:str}", self.asset),
                Route("/api/alarms", self.alarms),
                Route("/api/alarms/{alarm_id:int}", self.alarm),
                Route("/api/alarms/{alarm_id:int}/{action:str}", self.alarm_action, methods=["POST"]),
                Route("/metrics", self.metrics),
                Route("/api/replay", self.replay_route, methods=["GET", "POST"]),
                Route("/api/actions", self.actions_route, methods=["GET", "POST"]),
                Route("/api/readings", ReadingsRoute(self).post, methods=["POST"]),
                *history_routes(self),
                *incident_routes(self),
                Route("/api/recordings", self.recordings),
                Route("/api/layers", self.layers),
                Route("/api/layers/{name:str}.glb", self.layer_glb),
                Route("/api/layers/{name:str}.json", self.layer_map),
                WebSocketRoute("/ws", self.websocket),
                # The built viewer (viewer/ -> twin/serving/static); last, so that it never hides an API route.
                Mount("/", StaticFiles(directory=STATIC_DIR, html=True, check_dir=False), name="viewer"),
            ],
            lifespan=self.lifespan,
            middleware=[Middleware(Guard, open_mode=self._is_open, bound_host=bound_host, allowed_hosts=allowed_hosts,
                                   allowed_origins=allowed_origins)],
            exception_handlers={_NotReady: _not_ready_handler, _Denied: _denied_handler},  # type: ignore[dict-item]
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
            self._tick_thread.shutdown(wait=False)  # an abandoned tick's thread is not waited for
            if self.recorder is not None:
                self.recorder.close()
            if self.replay is not None:
                self.replay.close()
            elif self.engine is not None:
                self.engine.close()

    async def _start(self) -> None:
        """Build the twin; any failure is a failed start: logged, shown by /api/health,
        and (from `twin serve`) the process exits with it."""
        try:
            engine = await asyncio.to_thread(self._build)
            from twin.runs.replay import Replay

            if isinstance(engine, Replay):
                self.replay, self.mode, engine = engine, "replay", engine.engine
            if self.record_path is not None and self.replay is None:
                from twin.runs.recording import Recorder

                self.recorder = Recorder(self.record_path, engine, {"source": "live server"})
                self.subsystems.set("recorder", "ok")
        except Exception as exc:
            self.startup_error = str(exc) or type(exc).__name__
            if not isinstance(exc, (TwinError, ValueError, KeyError, OSError)):
                log.exception("the twin failed to start")
            self.subsystems.set("engine", "failed", self.startup_error)
            if self.on_fatal is not None:
                self.on_fatal(self.startup_error)
            return
        self.hub = Hub(engine)
        self.engine = engine
        if self.plugin_deadline is None:
            self.plugin_deadline = float(engine.config.get("engine", {}).get("plugin_deadline", PLUGIN_DEADLINE))
        log.info("twin ready", extra={"scene": engine.scene.name, "assets": sum(len(t) for t in engine.world.tables.values())})
        self.subsystems.set("engine", "ok")
        self.subsystems.set("alarm_store", "ok")
        self._tasks.append(asyncio.create_task(self._tick_loop()))
        if self.mqtt_url and self.replay is None:
            self._subscribe(engine)

    def _subscribe(self, engine: Engine) -> None:
        """Subscribe the district's readings at ``mqtt_url``; its state is the subsystem
        ``mqtt`` (503 from /api/health while the broker cannot be reached), and plugin
        actions are sent to the field on its connection (the twin has no truth of its own)."""
        from twin.runtime import default_data_dir
        from twin.sources.commands import Command, command_topic, encode_command
        from twin.sources.mqtt import MqttSubscriber, client_id_for, district_of

        url = self.mqtt_url
        try:
            district = district_of(engine.scene)
            self.mqtt = MqttSubscriber(url, engine.ingest, district, username=self.mqtt_user, password=self.mqtt_password,
                                       client_id=client_id_for(district, self.data_dir or default_data_dir()))
        except TwinError as exc:  # `twin serve` checks both before it starts: this is for other callers
            self.subsystems.set("mqtt", "failed", str(exc))
            return

        def state(connected: bool, reason: str) -> None:
            if connected:
                self.subsystems.set("mqtt", "ok")
            else:
                self.subsystems.set("mqtt", "degraded", f"broker {url}: {reason}; readings wait in the broker, retrying")

        def to_field(action: str, target: str, params: dict[str, Any], who: str) -> None:
            command = Command(action, target, {k: float(v) for k, v in params.items()}, who, engine.time)
            self.mqtt.publish(command_topic(district, target), encode_command(command))

        self.mqtt.on_state = state
        if engine.simulator is None:
            engine.actuator = to_field
        self.subsystems.set("mqtt", "starting", f"connecting to {url}")
        task = asyncio.create_task(self.mqtt.run())
        task.add_done_callback(self._subscriber_ended)
        self._tasks.append(task)

    def _subscriber_ended(self, task: asyncio.Task[Any]) -> None:
        """The subscriber never returns but when cancelled; if a bug ends it, say so."""
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("the MQTT subscriber stopped", exc_info=exc)
            self.subsystems.set("mqtt", "failed", f"the subscriber stopped: {type(exc).__name__}: {exc}")

    async def _tick_loop(self) -> None:
        """Tick at the pace asked for, for ever. Nothing that goes wrong in a tick ends
        this loop: it is logged, counted in /metrics, shown by /api/health, and the next
        tick comes (twin.tick.supervision for plugins that never return)."""
        assert self.engine is not None and self.hub is not None
        interval = self.engine.dt / self.speed
        deadline = wallclock.monotonic()
        while True:
            if not self.running.is_set():
                await self.running.wait()
                deadline = wallclock.monotonic()
            if self.replay is not None and not self.replay.playing:
                self.last_tick = wallclock.monotonic()  # the loop is alive, only paused
                await asyncio.sleep(0.05)
                deadline = wallclock.monotonic()
                continue
            async with self._tick_lock:
                try:
                    frame = await self._supervised_tick()
                except (Exception, TickAbandoned) as exc:
                    self._tick_failed("tick", exc)
                else:
                    if frame is None:  # the replay reached its end and paused
                        self.last_tick = wallclock.monotonic()
                        self._broadcast_replay_state()
                        continue
                    self._after_tick(frame)
            interval = self.engine.dt / (self.replay.speed if self.replay is not None else self.speed)
            if self.fast:
                await asyncio.sleep(0)
                continue
            deadline += interval
            delay = deadline - wallclock.monotonic()
            if delay < -5 * interval:
                deadline = wallclock.monotonic()  # fell far behind: do not sprint to catch up
            engine = self.engine
            if self.replay is None and engine.absolute_clock and self.speed == 1.0 and wallclock.time() - engine.time > 5 * engine.dt:
                # A live clock is the wall's (a slow start-up, a stall): skip the missed
                # ticks, logged and counted by the engine, rather than lag for ever.
                async with self._tick_lock:
                    engine.skip_to(wallclock.time() - engine.dt)
            await asyncio.sleep(max(0.0, delay))

    async def _supervised_tick(self) -> Any:
        """One tick in the tick thread, watched: a plugin step past its deadline is
        interrupted and its plugin quarantined; if it still does not return, the tick
        is abandoned (TickAbandoned) and the next one runs in a fresh thread."""
        engine, hub = self.engine, self.hub
        assert engine is not None and hub is not None
        deadline = self.plugin_deadline or PLUGIN_DEADLINE
        # self.engine, not the one the loop started with: a branch swaps it
        tick = self.replay.tick if self.replay is not None else engine.tick
        future = asyncio.get_running_loop().run_in_executor(self._tick_thread, tick)
        # An abandoned tick's exception, if its stuck call ever returns, is nobody's news.
        future.add_done_callback(lambda f: None if f.cancelled() else f.exception())
        hub.ticking = True
        try:
            interrupted: tuple[Step, float] | None = None
            while True:
                done, _ = await asyncio.wait({future}, timeout=min(0.25, deadline / 4))
                if done:
                    return future.result()
                step = engine.watch.current
                limit = deadline if step is None or step.warm else deadline * FIRST_CALL_GRACE
                if step is None or step.elapsed() < limit:
                    continue
                if interrupted is None or interrupted[0] is not step:
                    log.error("a plugin step overran its deadline; quarantining the plugin",
                              extra={"plugin": step.plugin, "step": step.what, "deadline": limit})
                    engine.overran(step, limit)
                    interrupt(step)
                    interrupted = (step, wallclock.monotonic())
                elif wallclock.monotonic() - interrupted[1] > ABANDON_AFTER:
                    engine.watch.abandon()
                    self._tick_thread.shutdown(wait=False)
                    self._tick_thread = ThreadPoolExecutor(1, thread_name_prefix="twin-tick")
                    raise TickAbandoned(f"{step.what} of plugin {step.plugin!r} did not return after being interrupted; "
                                        f"its thread is left behind and the twin ticks on without it")
        finally:
            hub.ticking = False

    def _after_tick(self, frame: Any) -> None:
        """Record and publish a frame; a failing recorder or stream degrades alone."""
        assert self.hub is not None and self.engine is not None
        if self.recorder is not None and self.replay is None:
            try:
                self.recorder.record(frame)  # queues only: the writer thread does the work
            except Exception as exc:
                self._tick_failed("recorder", exc)
            failure = getattr(self.recorder, "error", None)
            if failure:
                self.subsystems.set("recorder", "failed", f"{failure}; the twin goes on without recording")
            else:
                self.subsystems.set("recorder", "ok")
        try:
            self.hub.publish(frame)
        except Exception as exc:
            self._tick_failed("stream", exc)
        store_error = self.engine.alarms.store_error
        if store_error:
            self.subsystems.set("alarm_store", "degraded", f"{store_error}; alarm changes wait until it can be written")
        else:
            self.subsystems.set("alarm_store", "ok")
        if self.engine.history is not None:
            self.engine.history.report(self.subsystems)  # its state: twin.history.feed.History.health
        self.last_tick = wallclock.monotonic()
        try:
            self.revalidate_clients()
        except Exception as exc:
            self._tick_failed("access", exc)

    def _tick_failed(self, where: str, exc: BaseException) -> None:
        self.last_tick_error = f"{where}: {type(exc).__name__}: {exc}"
        log.error("caught in the tick loop; the twin ticks on", exc_info=exc, extra={"where": where})
        if self.engine is not None:
            self.engine.metrics.tick_errors.labels(where).inc()

    def _subsystem_changed(self, name: str, before: PartState | None, after: PartState) -> None:
        """A degraded or failed part raises a system alarm; its recovery clears it."""
        engine = self.engine
        if engine is None or name == "engine":
            return
        level = 0 if after.state in ("ok", "starting") else LEVEL_ORANGE
        if level == 0 and (before is None or before.state in ("ok", "starting")):
            return
        engine.alarms.set_level(
            f"system.{name}", SYSTEM_DOMAIN, f"subsystem:{name}", "platform operations", level, engine.time,
            title=f"{name.replace('_', ' ').capitalize()} {after.state}: {after.reason}",
            title_zh={"alarm_store": "报警库写入失败", "recorder": "录制失败", "mqtt": "传感器接入中断（MQTT）"}.get(name, f"子系统 {name} 异常"),
            rising=level > 0,
        )

    def _ready(self) -> Engine:
        if self.engine is None:
            raise _NotReady(self.startup_error)
        return self.engine

    def _is_open(self) -> bool:
        """Does this server run without tokens? Only if it started so and the data folder
        is still in open mode: a first token added locks it at once, for good."""
        if self._open:
            try:
                self._open = self.tokens.mode == "open"
            except TwinError:
                self._open = False  # an unreadable token file never opens the server
        return self._open

    def _who(self, conn: HTTPConnection, needed: str = "viewer") -> TokenRecord:
        """The caller's token record, if it may do what ``needed`` may; else 401/403
        (503 when the token file cannot be read)."""
        if self._is_open():
            return OPEN
        token = conn.query_params.get("token") or _bearer(conn.headers.get("authorization"))
        try:
            record = self.tokens.find(token)
            valid = bool(record) or bool(self.tokens.valid())
        except TwinError as exc:
            raise _Denied(503, str(exc)) from None
        if record is None:
            if not valid:
                raise _Denied(401, f"no valid token exists: every token of {self.tokens.path} is revoked or expired; "
                                   f"an administrator adds one with `twin token add ROLE --data {self.tokens.path.parent}`")
            raise _Denied(401, "a valid token is needed: send 'Authorization: Bearer <token>' or add ?token=<token>")
        if record.expired():
            raise _Denied(401, f"token {record.name!r} expired at {utc_text(record.expires or 0.0)}; "
                               f"ask for a new one (`twin token add {record.role}`)")
        if not allows(record.role, needed):
            raise _Denied(403, f"token {record.name!r} has role {record.role}; this needs {needed} or above")
        return record

    def _revoked(self, record: TokenRecord) -> str | None:
        """Why a connected client's token no longer holds, or None while it does."""
        if record is OPEN:
            return None if self._is_open() else "this server now needs a token; reconnect with ?token=<token>"
        current = self.tokens.current(record)
        if current is None:
            return f"token {record.name!r} was revoked"
        if current.expired():
            return f"token {record.name!r} expired at {utc_text(current.expires or 0.0)}"
        return None

    def revalidate_clients(self) -> None:
        """Close (4401, the reason in the close frame) every WebSocket client whose token
        was revoked or expired since it connected, or that came in while the server was
        open and it no longer is. Called after each tick and before each message that acts."""
        hub = self.hub
        if hub is None or not self._client_tokens:
            return
        try:
            gone = [(c, why) for c, r in list(self._client_tokens.items()) if (why := self._revoked(r)) is not None]
        except TwinError as exc:
            # Unreadable token file: new requests get 503 (_who); who is connected stays.
            log.error("cannot re-check connected clients' tokens", extra={"error": str(exc)})
            return
        for client, why in gone:
            self._client_tokens.pop(client, None)
            hub.drop(client, why, code=4401)

    # -- HTTP --------------------------------------------------------------------------
    async def health(self, request: Request) -> JSONResponse:
        """200 only when the twin ticks and every part works; else 503 with the reasons."""
        if self.engine is None or (self.engine.seq == 0 and self.replay is None and self.last_tick is None):
            status = "failed" if self.startup_error else "starting"
            detail = self.startup_error or (
                "loading plugins, compiling kernels and loading the scene" if self.engine is None
                else "running the first tick (compiling the updaters)"
            )
            return JSONResponse({"status": status, "detail": detail, "subsystems": self.subsystems.as_json()}, status_code=503)
        e = self.engine
        age = self.tick_age()
        limit = self.stall_limit()
        problems = self.subsystems.problems()
        problems += [f"plugin {n} quarantined: {p.reason.splitlines()[0] if p.reason else ''}"
                     for n, p in e.registry.plugins.items() if p.status == "quarantined"]
        problems += [f"{d}.{f} is stale: a kernel gives NaN or infinity on some rows (their last values are kept)"
                     for d, f in sorted(e.nonfinite_fields)]
        if age is not None and age > limit:
            problems.insert(0, f"no tick completed for {age:.1f} s (the limit is {limit:.1f} s)"
                               + (f"; last error {self.last_tick_error}" if self.last_tick_error else ""))
        return JSONResponse(
            {
                "status": "ok" if not problems else "degraded",
                **({"detail": "; ".join(problems)} if problems else {}),
                "scene": e.scene.name,
                "time": e.time,
                "seq": e.seq,
                "last_tick_age": age,
                "last_tick_error": self.last_tick_error,
                "subsystems": self.subsystems.as_json(),
                "protocol": PROTOCOL_VERSION,
                "version": __version__,
                "plugins": {n: p.status for n, p in e.registry.plugins.items()},
            },
            status_code=503 if problems else 200,
        )

    def tick_age(self) -> float | None:
        """Seconds since the last tick completed; None while paused (a test's or a
        replay's pause is not a stall) or before the first."""
        if self.last_tick is None or not self.running.is_set():
            return None
        return wallclock.monotonic() - self.last_tick

    def stall_limit(self) -> float:
        assert self.engine is not None
        speed = self.replay.speed if self.replay is not None else self.speed
        return max(STALL_TICKS * self.engine.dt / max(speed, 1e-9), STALL_FLOOR) if not self.fast else STALL_FLOOR

    async def scene(self, request: Request) -> JSONResponse:
        self._who(request)
        e = self._ready()
        counts = e.scene.counts()
        # per domain with sensors: how many, online, offline, suspect, and the share online
        health = e.sensor_health.by_domain()
        domains = {}
        for name, domain in e.registry.domains.items():
            style = e.registry.styles.get(name)
            domains[name] = {
                "title": domain.title,
                "title_zh": domain.title_zh,
                "assets": len(e.world.tables[name]),
                "kinds": counts.get(name, {}),
                "plugin": e.registry.domain_owner[name],
                "sensors": health.get(name),
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
             "domains": domains, "sensors": len(e.scene.sensors), "buildings": len(e.scene.buildings), "time": e.time,
             "actions": catalogue(e.registry)}
        )

    async def plugins(self, request: Request) -> JSONResponse:
        self._who(request)
        e = self._ready()
        return JSONResponse({"plugins": [
            {"name": p.name, "version": p.version, "hooks": p.hooks, "status": p.status, "reason": p.reason}
            for p in e.registry.plugins.values()
        ]})

    async def asset(self, request: Request) -> JSONResponse:
        self._who(request)
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
            "alarms": [a.summary() for a in e.alarms.active() if a.asset == asset_id],
        })

    async def alarms(self, request: Request) -> JSONResponse:
        self._who(request)
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
        # summaries: a list's size must not grow with the notes (the full record: /api/alarms/{id})
        return JSONResponse({"alarms": [a.summary() for a in found], "time": e.time})

    async def alarm(self, request: Request) -> JSONResponse:
        """One alarm's full record, every operator action with its note (the stream
        carries summaries without the notes)."""
        self._who(request)
        e = self._ready()
        alarm_id = request.path_params["alarm_id"]
        found = e.alarms.alarms.get(alarm_id)
        if found is None:
            return JSONResponse({"error": f"no alarm {alarm_id}; GET /api/alarms lists them"}, status_code=404)
        return JSONResponse({"alarm": found.to_json(), "time": e.time})

    async def alarm_action(self, request: Request) -> JSONResponse:
        who = self._who(request, "operator")
        e = self._ready()
        action = {"ack": "acknowledge", "acknowledge": "acknowledge", "dispatch": "dispatch", "resolve": "resolve"}.get(
            request.path_params["action"]
        )
        if action is None:
            return JSONResponse({"error": "unknown action; use ack, dispatch or resolve"}, status_code=404)
        try:
            body = await json_object(request, '{"note": ..., "unit": ...}', empty={})
        except ValueError:
            return JSONResponse({"error": "the body must be a JSON object: {\"note\": ..., \"unit\": ...}"}, status_code=400)
        name = _actor(who, body)
        try:
            alarm = await asyncio.to_thread(
                e.alarms.act, request.path_params["alarm_id"], action, name, str(body.get("note", "")), e.time, str(body.get("unit", ""))
            )
        except KeyError as exc:
            return JSONResponse({"error": str(exc).strip("'\"")}, status_code=404)
        except InvalidAction as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except StoreUnavailable as exc:
            return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": "1"})
        except TwinError as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse({"alarm": alarm.to_json()})

    async def metrics(self, request: Request) -> Response:
        self._who(request)
        e = self._ready()
        e.metrics.stream_clients.set(len(self.hub.clients) if self.hub else 0)
        age = self.tick_age()
        e.metrics.last_tick_age.set(age if age is not None else 0.0)
        for name, part in self.subsystems.parts.items():
            e.metrics.subsystem_up.labels(name).set(1 if part.state == "ok" else 0)
        if self.mqtt is not None:
            seen, self._mqtt_seen = self._mqtt_seen, (self.mqtt.messages, self.mqtt.published)
            e.metrics.mqtt_messages.inc(self.mqtt.messages - seen[0])
            e.metrics.mqtt_commands.inc(self.mqtt.published - seen[1])
            e.metrics.mqtt_connected.set(1 if self.mqtt.connected else 0)
        return Response(e.metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")

    # -- geometry for the viewer (twin.serving.geometry): one GLB per layer, built once ------
    def _layers(self) -> LayerCache:
        e = self._ready()
        return layers_for(e.scene, list(e.world.tables))

    async def layers(self, request: Request) -> JSONResponse:
        self._who(request)
        cache = self._layers()
        return JSONResponse({"scene": cache.scene.name, "layers": [
            {"name": n, "domain": n if n in cache.domains else None,
             "glb": f"/api/layers/{n}.glb", "map": f"/api/layers/{n}.json"} for n in cache.names()
        ]})

    async def _layer(self, request: Request) -> Any:
        self._who(request)
        cache = self._layers()
        name = request.path_params["name"]
        try:
            return await asyncio.to_thread(cache.get, name)
        except KeyError:
            return JSONResponse({"error": f"no layer {name!r}; valid: {', '.join(cache.names())}"}, status_code=404)

    async def layer_glb(self, request: Request) -> Response:
        layer = await self._layer(request)
        if isinstance(layer, Response):
            return layer
        return Response(layer.glb, media_type="model/gltf-binary", headers={"Cache-Control": "no-cache"})

    async def layer_map(self, request: Request) -> Response:
        layer = await self._layer(request)
        if isinstance(layer, Response):
            return layer
        return JSONResponse(layer.map())

    # -- WebSocket: protocol v1 (twin.serving.protocol), fan-out by twin.serving.stream ----------------
    async def websocket(self, ws: WebSocket) -> None:
        offered = ws.scope.get("subprotocols") or []
        if offered and p.SUBPROTOCOL not in offered:
            await ws.accept()
            await self._refuse(ws, 4406, "protocol_mismatch", f"this server speaks {p.SUBPROTOCOL}; the client offered {', '.join(offered)}")
            return
        await ws.accept(subprotocol=p.SUBPROTOCOL if offered else None)
        origin = ws.headers.get("origin")
        if origin is not None and not self._origin_allowed(origin, ws.headers.get("host", "")):
            await self._refuse(ws, 4403, "forbidden_origin", f"origin {origin} is not allowed; start the server with --allow-origin {origin}")
            return
        try:
            record = self._who(ws)
        except _Denied as exc:
            await self._refuse(ws, 4401 if exc.status == 401 else 4403, "unauthorized", str(exc))
            return
        engine, hub = self.engine, self.hub
        if engine is None or hub is None:
            await self._refuse(ws, 1013, "starting", "the twin is starting; retry in a few seconds")
            return
        peer = f"{ws.client.host}:{ws.client.port}" if ws.client else "unknown"
        transport = _transport(ws)
        _limit_send_buffer(transport)
        client = Client(ws.send_bytes, ws.close, record.role, record.name if record is not OPEN else f"anonymous ({peer})",
                        abort=transport.abort if transport is not None else None)
        hub.clients.add(client)
        self._client_tokens[client] = record
        sender = client.sender = asyncio.create_task(self._sender(hub, client))
        client.push(stream_hello(engine, record.role, self.mode, __version__, hub.epoch))
        if self.replay is not None:
            client.push(p.encode(self.replay.state()))
        errors = 0
        try:
            while not client.closed:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                data = message.get("bytes")
                if data is None:
                    data = (message.get("text") or "").encode()
                try:
                    request = p.decode_client(data)
                    if isinstance(request, (p.AlarmAction, p.ReplayControl)):
                        # a token revoked between ticks must not act: check it now
                        held = self._client_tokens.get(client)
                        if held is None:  # dropped by revalidate_clients while this message came
                            break
                        try:
                            why = self._revoked(held)
                        except TwinError as exc:
                            client.push(p.encode(p.Result(request.request, False, f"cannot check your token now: {exc}")))
                            continue
                        if why is not None:
                            client.push(p.encode(p.Result(request.request, False, why)))
                            await asyncio.sleep(0.05)  # let the sender deliver the answer first
                            self._client_tokens.pop(client, None)
                            hub.drop(client, why, code=4401)
                            break
                    await self._handle(engine, hub, client, request)
                except p.ProtocolError as exc:
                    errors += 1
                    if len(client.control) >= MAX_CONTROL:
                        hub.drop(client, f"{len(client.control)} answers left unread", code=1008)
                        break
                    client.push(p.encode(p.Error(exc.code, str(exc))))
                    if errors >= MAX_CLIENT_ERRORS:
                        client.push(p.encode(p.Error("too_many_errors", f"{errors} bad messages; closing")))
                        await asyncio.sleep(0.05)
                        hub.drop(client, f"{errors} bad messages", code=1008)
                        break
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            client.closed = True
            client.wake.set()
            hub.clients.discard(client)
            self._client_tokens.pop(client, None)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

    async def _sender(self, hub: Hub, client: Client) -> None:
        try:
            await hub.run_sender(client)
        except (WebSocketDisconnect, RuntimeError, OSError):
            client.closed = True

    async def _handle(self, engine: Engine, hub: Hub, client: Client, request: Any) -> None:
        if isinstance(request, p.Subscribe):
            if request.follow is not None:
                _check_channel(request.follow)
            hub.subscribe(client, Subscription.resolve(engine, request.domains), request.since, request.epoch)
            hub.set_follow(client, request.follow)
        elif isinstance(request, p.CameraUpdate):
            _check_channel(request.channel)
            if not all(math.isfinite(v) for v in (*request.position, *request.target)):
                raise p.ProtocolError("invalid", "camera position and target must be finite numbers")
            hub.relay_camera(client, request)
        elif isinstance(request, p.Ping):
            client.push(p.encode(p.Result(request.request, True)))
        elif isinstance(request, p.ReplayControl):
            try:
                await self.control_replay(client.role, request.action, request.time, request.speed)
            except _Denied as exc:
                client.push(p.encode(p.Result(request.request, False, str(exc))))
                return
            except ValueError as exc:
                client.push(p.encode(p.Result(request.request, False, str(exc))))
                return
            client.push(p.encode(p.Result(request.request, True)))
        elif isinstance(request, p.AlarmAction):
            if not allows(client.role, "operator"):
                client.push(p.encode(p.Result(request.request, False, f"role {client.role} may not act on alarms; an operator token is needed")))
                return
            try:
                alarm = await asyncio.to_thread(
                    engine.alarms.act, request.alarm, request.action, client.name, request.note, engine.time, request.unit
                )
            except (KeyError, TwinError) as exc:
                client.push(p.encode(p.Result(request.request, False, str(exc).strip("'\""))))
                return
            client.push(p.encode(p.Result(request.request, True, alarm=alarm.summary())))

    async def actions_route(self, request: Request) -> JSONResponse:
        """GET: every action with its parameters, units, ranges and target kinds
        (:func:`twin.plugins.actions.catalogue`). POST {action, target, params}: a director applies
        one to the world (a drill inject, a valve closed by a crew)."""
        if request.method == "GET":
            self._who(request)
            return JSONResponse({"actions": catalogue(self._ready().registry)})
        who = self._who(request, "director")
        e = self._ready()
        if self.replay is not None:
            return JSONResponse({"error": "a replay cannot take actions; branch it into a live twin first"}, status_code=409)
        try:
            body = await json_object(request, '{"action": "<domain>.<verb>", "target": "<asset or sensor id>", "params": {...}}')
            name, target, params = body["action"], body["target"], body.get("params", {})
            if not isinstance(name, str) or not isinstance(target, str) or not isinstance(params, dict) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in params.values()):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": 'the body must be {"action": "<domain>.<verb>", "target": "<asset or sensor id>", "params": {"<name>": <number>, ...}}'}, status_code=400)
        async with self._tick_lock:  # between ticks: the truth is not being stepped
            try:
                e.apply_action(name, target, params, who=who.name)
            except (KeyError, ValueError) as exc:
                return JSONResponse({"error": str(exc).strip("'\"")}, status_code=400)
            except ConnectionError as exc:  # the field cannot be reached: nothing was sent
                return JSONResponse({"error": f"{exc}; the action was not sent to the field"}, status_code=503,
                                    headers={"Retry-After": "1"})
        return JSONResponse({"applied": {"action": name, "target": target, "params": params, "time": e.time, "who": who.name}})

    # -- replay ------------------------------------------------------------------------
    async def control_replay(self, role: str, action: str, time: float | None, speed: float | None, recording: str | None = None) -> None:
        """Apply a director's replay control; every screen follows."""
        if action == "open":
            if not allows(role, "director"):
                raise _Denied(403, f"role {role} may not switch to a replay; a director token is needed")
            await self._open_replay(recording)
            return
        if self.replay is None:
            raise ValueError("this server is live, not replaying a recording (start it with --replay FILE)")
        if not allows(role, "director"):
            raise _Denied(403, f"role {role} may not control the replay; a director token is needed")
        if action == "branch":
            await self._branch()
            return
        async with self._tick_lock:
            await asyncio.to_thread(self.replay.control, action, time, speed)
            if action == "seek" and self.hub is not None:
                self.hub.reset_all()
        self._broadcast_replay_state()

    def _recording_path(self, name: str | None) -> Path:
        if name is None:
            if self.recorder is None:
                raise ValueError("this server is not recording; name one of GET /api/recordings")
            return Path(self.recorder.path)
        folder = self.recordings_dir
        if folder is None or "/" in name or "\\" in name or not name.endswith(".mcap"):
            raise ValueError(f"recording {name!r}: give the name of an .mcap file in the data folder's recordings/")
        path = folder / name
        if not path.exists():
            known = ", ".join(sorted(p.name for p in folder.glob("*.mcap"))) if folder.exists() else ""
            raise ValueError(f"no recording {name!r} in {folder}; known: {known or 'none'}")
        return path

    async def _open_replay(self, name: str | None) -> None:
        """Switch a live server to replaying a recording (by default its own, which is
        then finished); screens get the replay's state and its timeline."""
        from twin.runs.replay import Replay

        if self.replay is not None:
            raise ValueError("already replaying; branch to go live, or restart the server")
        path = self._recording_path(name)
        hub = self.hub
        assert hub is not None and self.engine is not None
        async with self._tick_lock:
            if name is None and self.recorder is not None:
                await asyncio.to_thread(self.recorder.close)
                self.recorder = None
            replay = await asyncio.to_thread(Replay, path, None, self.engine.registry)
            live, self.replay, self.mode = self.engine, replay, "replay"
            self.engine = hub.engine = replay.engine
            hub.reset_all()
            live.close()
        self._broadcast_replay_state()
        log.info("switched to replay", extra={"recording": str(path)})

    async def recordings(self, request: Request) -> JSONResponse:
        self._who(request)
        folder = self.recordings_dir
        files = sorted(p.name for p in folder.glob("*.mcap")) if folder is not None and folder.exists() else []
        return JSONResponse({"recordings": files, "recording_now": str(self.recorder.path) if self.recorder else None,
                             "folder": str(folder) if folder else None})

    async def _branch(self) -> None:
        """Leave the replay: the twin re-runs the recording's actions to the current moment
        and runs live from there; every screen gets a snapshot and the live Hello mode."""
        from twin.runs.reruns import branch_engine

        replay, hub = self.replay, self.hub
        assert replay is not None and hub is not None
        async with self._tick_lock:
            replay.playing = False
            self._broadcast_replay_state()
            # branch_engine counts from the recording's clock start (a live recording's is epoch seconds)
            engine = await asyncio.to_thread(branch_engine, replay.path, replay.engine.time - replay.engine.start)
            self.replay, self.mode = None, "live"
            replay.close()
            self.engine = hub.engine = engine
            hub.reset_all()
        log.info("branched from a replay", extra={"recording": str(replay.path), "at": engine.time})

    def _broadcast_replay_state(self) -> None:
        if self.replay is None or self.hub is None:
            return
        message = p.encode(self.replay.state())
        for client in list(self.hub.clients):
            if len(client.control) < MAX_CONTROL:
                client.push(message)

    async def replay_route(self, request: Request) -> JSONResponse:
        if request.method == "GET":
            self._who(request)
            self._ready()
            if self.replay is None:
                return JSONResponse({"error": "this server is live, not replaying a recording"}, status_code=404)
            return JSONResponse(msgspec.to_builtins(self.replay.state()))
        who = self._who(request, "director")
        self._ready()
        body = _replay_body(await json_object(request, _REPLAY_SHAPE))
        if self.replay is None and body.get("action") not in ("open",):
            return JSONResponse({"error": "this server is live, not replaying a recording; POST {\"action\": \"open\"} switches to one"}, status_code=404)
        try:
            await self.control_replay(who.role, str(body.get("action")), body.get("time"), body.get("speed"), body.get("recording"))
        except (ValueError, TwinError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        if self.replay is None:  # branched: live from here
            return JSONResponse({"mode": "live", "time": self.engine.time if self.engine else None})
        return JSONResponse(msgspec.to_builtins(self.replay.state()))

    async def _refuse(self, ws: WebSocket, code: int, error: str, message: str) -> None:
        with contextlib.suppress(Exception):
            await ws.send_bytes(p.encode(p.Error(error, message)))
            await ws.close(code, message[:120])

    def _origin_allowed(self, origin: str, host: str) -> bool:
        return origin_allowed(origin, host, self.allowed_origins)


_REPLAY_SHAPE = ('{"action": "play" | "pause" | "seek" | "speed" | "branch" | "open", "time": <seconds>, '
                 '"speed": <number>, "recording": "<name>.mcap"}')


def _replay_body(body: dict[str, Any]) -> dict[str, Any]:
    """A POST /api/replay body whose keys have the types control_replay takes, or Refused (400)."""
    for key, kind in (("action", str), ("time", float), ("speed", float), ("recording", str)):
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else str):
            raise Refused(400, f"{key!r} must be {'a number' if kind is float else 'a string'}; the body is {_REPLAY_SHAPE}")
    return body


def _actor(who: TokenRecord, body: dict[str, Any]) -> str:
    """The name an alarm action is recorded under. A token's name; in open mode nobody is
    authenticated, so a ``who`` the caller gives is kept as what they said, never as who acted."""
    if who is not OPEN:
        return who.name
    said = body.get("who")
    if isinstance(said, str) and said.split():
        return f"anonymous (said: {' '.join(said.split())[:64]})"
    return "anonymous"


def _transport(ws: WebSocket) -> asyncio.Transport | None:
    """The connection's asyncio transport, or None under a server where it cannot be
    found. ASGI has no way to cut off a peer that stopped reading (its socket never takes
    a close frame) or to size a socket's send buffer; uvicorn's ``receive`` is a method
    of the connection's protocol object, which holds the transport."""
    transport = getattr(getattr(ws._receive, "__self__", None), "transport", None)
    return transport if isinstance(transport, asyncio.Transport) else None


def _limit_send_buffer(transport: asyncio.Transport | None) -> None:
    """Give the WebSocket's socket a small kernel send buffer (stream.SEND_BUFFER), so
    that a client that stops reading is noticed after kilobytes, not megabytes."""
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)


def _check_channel(channel: str) -> None:
    if not 0 < len(channel) <= MAX_CHANNEL:
        raise p.ProtocolError("invalid", f"a camera channel is 1 to {MAX_CHANNEL} characters")


async def _not_ready_handler(request: Request, exc: Exception) -> JSONResponse:
    detail = getattr(exc, "args", [None])[0]
    return JSONResponse({"error": "the twin is not ready", "detail": detail or "starting"}, status_code=503)


async def _denied_handler(request: Request, exc: Exception) -> JSONResponse:
    status = exc.status if isinstance(exc, _Denied) else 403
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": str(exc)}, status_code=status, headers=headers)


def create_app(
    build: Callable[[], Engine],
    speed: float = 1.0,
    fast: bool = False,
    data_dir: Path | None = None,
    allowed_origins: tuple[str, ...] = (),
    record: Path | None = None,
    allowed_hosts: tuple[str, ...] = (),
    bound_host: str | None = None,
    mqtt_url: str | None = None,
    mqtt_user: str | None = None,
    mqtt_password: str | None = None,
) -> TwinServer:
    server = TwinServer(build, speed=speed, fast=fast, data_dir=data_dir, allowed_origins=allowed_origins,
                        allowed_hosts=allowed_hosts, bound_host=bound_host, mqtt_url=mqtt_url, mqtt_user=mqtt_user,
                        mqtt_password=mqtt_password)
    server.record_path = record
    return server
