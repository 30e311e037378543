"""The twin's server: it builds the twin, hosts its tick loop, and assembles the app
(starlette on uvicorn) from the declared routes (``twin.serving.routes``, each route's
role, query, body and answers declared in ``twin.serving.routing``), the WebSocket
(``twin.serving.routes.websocket``) and the built viewer.

The app answers at once; the twin is built (plugins loaded, kernels compiled, scene
loaded) in a worker thread, and ``/api/health`` says 503 until that is done. Ticks run
in a worker thread too, so requests are served while kernels compute.

Access: once a token exists in the data folder every request needs one (``Authorization:
Bearer`` or ``?token=``), except ``/api/health`` and the API's own description
(``/api/openapi.json``, ``/api/docs``); the middleware ``twin.serving.auth.Authenticate``
recognises the caller, and each route's declared role is checked by the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time as wallclock
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from twin.errors import TwinError
from twin.serving import protocol as p
from twin.serving.access import TokenRecord, TokenStore, utc_text
from twin.serving.auth import OPEN, Authenticate, authorize, caller_of
from twin.serving.guard import Guard
from twin.serving.health import PartState, Subsystems
from twin.serving.incidents_api import FieldGzip
from twin.serving.protocol import ApiErrorCode, CloseCode
from twin.serving.readings_api import ReadingsRoute
from twin.serving.routes import api_routes
from twin.serving.routes.exercise import broadcast as broadcast_message
from twin.serving.routes.replay import broadcast_state
from twin.serving.routes.websocket import websocket
from twin.serving.routing import ApiFailure, fallback, http_exception, routed, server_error, starlette_routes
from twin.serving.stream import Client, Hub
from twin.tick.alarms import SYSTEM_DOMAIN
from twin.tick.engine import Engine
from twin.tick.supervision import Step, TickAbandoned, interrupt
from twin.types import LEVEL_ORANGE

log = logging.getLogger("twin.serving.server")

PROTOCOL_VERSION = p.PROTOCOL_VERSION
STATIC_DIR = Path(__file__).resolve().parent / "static"  # built by `npm run build` in viewer/
#: every method the fallback takes: a route of starlette's takes only GET (and HEAD) by
#: default, and a method it does not take fell through to the viewer's files (405 "GET, HEAD")
FALLBACK_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
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
        self.tick_lock = asyncio.Lock()
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
        self.client_tokens: dict[Client, TokenRecord] = {}
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
        #: POST /api/readings keeps what the readings posted since the last tick did
        self.readings = ReadingsRoute(self)
        api = starlette_routes(api_routes(), self)
        self.app = Starlette(
            routes=[
                *api,
                WebSocketRoute("/ws", self._websocket),
                # Any other /api request is a 404 or 405 of the API's own shape, not the viewer's page.
                Route("/api/{rest:path}", fallback(api), methods=FALLBACK_METHODS),
                # The built viewer (viewer/ -> twin/serving/static); last, so that it never hides an API route.
                Mount("/", StaticFiles(directory=STATIC_DIR, html=True, check_dir=False), name="viewer"),
            ],
            lifespan=self.lifespan,
            middleware=[
                Middleware(Guard, open_mode=self.is_open, bound_host=bound_host, allowed_hosts=allowed_hosts,
                           allowed_origins=allowed_origins, routed=routed(api)),
                Middleware(Authenticate, server=self),
                Middleware(FieldGzip),
            ],
            exception_handlers={ApiFailure: _failure, HTTPException: http_exception, Exception: server_error},  # type: ignore[dict-item]
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
            if self.replay is None and engine.history is None:
                # a run on a simulated clock (a drill served, --speed, --fast): a history of
                # its own in the data folder's runs/, so that its charts come from the API
                # as a live twin's do, never mixed into the city's (twin.history.feed)
                from twin.history.feed import open_run_history

                engine.history = await asyncio.to_thread(open_run_history, engine, self.data_dir)
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
            async with self.tick_lock:
                try:
                    frame = await self._supervised_tick()
                except (Exception, TickAbandoned) as exc:
                    self._tick_failed("tick", exc)
                else:
                    if frame is None:  # the replay reached its end and paused
                        self.last_tick = wallclock.monotonic()
                        broadcast_state(self)
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
            if self.replay is None and engine.live and self.speed == 1.0 and wallclock.time() - engine.time > 5 * engine.dt:
                # A live clock is the wall's (a slow start-up, a stall): skip the missed
                # ticks, logged and counted by the engine, rather than lag for ever.
                async with self.tick_lock:
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
            if self.replay is not None:  # a drill's message injects, at their time, as the exercise sent them
                for message in self.replay.take_messages():
                    broadcast_message(self, message)
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

    # -- access ------------------------------------------------------------------------
    def ready(self) -> Engine:
        """The built twin, or ApiFailure 503 ``not_ready`` (with the start-up error, if any)."""
        if self.engine is None:
            raise ApiFailure(ApiErrorCode.NOT_READY, "the twin is not ready", detail=self.startup_error or "starting")
        return self.engine

    def is_open(self) -> bool:
        """Does this server run without tokens? Only if it started so and the data folder
        is still in open mode: a first token added locks it at once, for good."""
        if self._open:
            try:
                self._open = self.tokens.mode == "open"
            except TwinError:
                self._open = False  # an unreadable token file never opens the server
        return self._open

    def _who(self, conn: HTTPConnection, needed: str = "viewer") -> TokenRecord:
        """The caller's token record if it may do what ``needed`` may, else ApiFailure
        (401, 403, 503): for routes that are not declared in the table."""
        return authorize(caller_of(conn), needed)

    _ready = ready

    @property
    def _tick_lock(self) -> asyncio.Lock:
        return self.tick_lock

    def revoked(self, record: TokenRecord) -> str | None:
        """Why a connected client's token no longer holds, or None while it does."""
        if record is OPEN:
            return None if self.is_open() else "this server now needs a token; reconnect with ?token=<token>"
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
        if hub is None or not self.client_tokens:
            return
        try:
            gone = [(c, why) for c, r in list(self.client_tokens.items()) if (why := self.revoked(r)) is not None]
        except TwinError as exc:
            # Unreadable token file: new requests get 503 (_who); who is connected stays.
            log.error("cannot re-check connected clients' tokens", extra={"error": str(exc)})
            return
        for client, why in gone:
            self.client_tokens.pop(client, None)
            hub.drop(client, why, code=CloseCode.UNAUTHORIZED)

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

    def count_mqtt(self) -> None:
        """Bring the MQTT subscriber's counts into /metrics (only what is new since the last call)."""
        if self.mqtt is None or self.engine is None:
            return
        metrics = self.engine.metrics
        seen, self._mqtt_seen = self._mqtt_seen, (self.mqtt.messages, self.mqtt.published)
        metrics.mqtt_messages.inc(self.mqtt.messages - seen[0])
        metrics.mqtt_commands.inc(self.mqtt.published - seen[1])
        metrics.mqtt_connected.set(1 if self.mqtt.connected else 0)

    async def _websocket(self, ws: WebSocket) -> None:
        await websocket(self, ws)


async def _failure(request: Request, exc: Exception) -> Response:
    """A refusal raised outside a declared route's handler (by a route that is not in the table)."""
    assert isinstance(exc, ApiFailure)
    return exc.response()


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
