"""Live exercises on a running server (docs/exercises.md): ``POST /api/exercise`` starts
a drill's exercise (director role), ``GET /api/exercise`` shows its timeline, notes and
state (observer or director: the injects to come are not for the players),
``POST /api/exercise/injects/{n}/fire|delay|skip`` and ``POST /api/exercise/injects``
are the controller's, ``POST /api/exercise/notes`` the observers', ``POST
/api/exercise/stop`` ends it and writes the debrief (``GET /api/exercise/debrief``), and
``GET /api/exercise/messages`` gives any screen the messages sent so far.

An :class:`ExerciseHost` per server drives the :class:`twin.runs.exercise.Exercise`
between ticks (under the server's tick lock): it fires the injects whose moment has
come, sends message injects to every screen (protocol ``ExerciseMessage``), records
them, the notes and the timeline's changes (``/exercise/*`` channels; the exercise
starts a recording in the data folder when the server is not recording), and at the
drill's end, or a stop, scores the exercise and writes its debrief.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time as wallclock
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from twin.errors import TwinError
from twin.runs import debrief as debriefs
from twin.runs.credit import Scope
from twin.runs.drill import DrillError, clock, load_drill
from twin.runs.exercise import (
    MAX_DELAY, ON_TIME, Exercise, ExerciseError, Inject, MessageBody, Note, Objective, Text, prepare,
)
from twin.serving import protocol as p
from twin.serving.access import OBSERVER
from twin.serving.protocol import ApiErrorCode
from twin.serving.routing import ApiError, ApiFailure, ApiRoute, Call, Media, Reply
from twin.serving.stream import MAX_CONTROL

if TYPE_CHECKING:
    from twin.serving.server import TwinServer

log = logging.getLogger("twin.serving.exercise")

#: how often the host looks for injects that are due (seconds of wall time)
POLL = 0.1
#: the largest drill file a director may send (bytes)
MAX_DRILL_BYTES = 256 * 1024
#: how long a stop waits for the next tick, which brings the players' last actions (seconds)
STOP_WAIT = 5.0
#: who may read the exercise's timeline (injects to come included) and write notes
WATCHERS = (OBSERVER, "director")


# ----------------------------------------------------------------------------- shapes


class StartRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The drill to play: its TOML text (``drill``, with ``file`` its name in messages,
    as ``twin exercise start`` sends it), or the ``name`` of a drill of the scene's
    ``drills/`` folder (``GET /api/exercise`` lists them). It runs on this server's
    scene, whatever its ``scene`` key says."""

    #: the drill file's TOML text
    drill: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_DRILL_BYTES)] | None = None
    #: its file name, as problems name it
    file: Annotated[str, msgspec.Meta(max_length=200)] = ""
    #: or: a drill file of the scene's drills/ folder
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None


class NewInject(msgspec.Struct, forbid_unknown_fields=True):
    """An inject added on the fly: ``kind`` ``action`` (a plugin action on an asset),
    ``fault`` (a sensor fault on a sensor) or ``message`` (to the players); ``at``: its
    moment, seconds from the exercise's start (none: now)."""

    #: a plugin action, a sensor fault, or a message
    kind: Literal["action", "fault", "message"]
    #: its moment, seconds from the exercise's start; none: now
    at: Annotated[float, msgspec.Meta(ge=0)] | None = None
    #: an action or fault's name (`<domain>.<verb>`, `sensor.<fault>`)
    action: str = ""
    #: the asset an action acts on, or the sensor of a fault
    target: str = ""
    #: the action's parameters, in their units (those left out take their defaults)
    params: dict[str, float] = {}
    #: a message's words
    message: MessageBody | None = None


class InjectControl(msgspec.Struct, forbid_unknown_fields=True):
    """``delay``'s seconds (above 0); ``fire`` and ``skip`` take an empty object."""

    #: delay: how much later, seconds
    seconds: Annotated[float, msgspec.Meta(gt=0, le=MAX_DELAY)] | None = None


class StopRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Nothing: an empty object (or no body)."""


class NewNote(msgspec.Struct, forbid_unknown_fields=True):
    """An observer's note: what they saw."""

    #: what you saw
    text: Text


class MessageList(msgspec.Struct):
    """The messages sent to the players of the exercise running (or last run), in order."""

    #: in the order they were sent
    messages: list[p.ExerciseMessage]


class DebriefQuery(msgspec.Struct):
    lang: Literal["en", "zh-CN"] = "en"


class ExerciseState(msgspec.Struct):
    """The exercise of this server: ``idle`` (none yet: ``drills`` lists those one may
    start), ``running`` or ``ended`` (its objectives scored, its debrief written).
    Moments (``at``, an inject's ``at``/``fired``, a note's ``at``) are seconds from its
    start; ``time``, ``start`` and ``end`` the twin's clock."""

    #: idle (none yet), running, or ended
    state: Literal["idle", "running", "ended"]
    #: the twin's clock now
    time: float
    #: the twin's clock is UTC epoch seconds (shown as local time in `timezone`)
    absolute_clock: bool
    #: the scene's IANA time zone
    timezone: str
    #: the drill files of the scene's drills/ folder a director may start by name
    drills: list[str]
    #: the drill's name
    drill: str = ""
    #: the drill's name in Chinese
    drill_zh: str = ""
    #: the drill file's name
    file: str = ""
    #: the twin's clock when it started
    start: float | None = None
    #: the twin's clock when it ended
    end: float | None = None
    #: its moment now (at its end, once ended), seconds from its start
    at: float = 0.0
    #: the drill's duration, seconds
    duration: float = 0.0
    #: who started it (a token name)
    started_by: str = ""
    #: who ended it: a token name, or `the drill's end`
    ended_by: str = ""
    #: why it ended
    end_reason: str = ""
    #: the timeline
    injects: list[Inject] = []
    #: the observers' notes, in order
    notes: list[Note] = []
    #: the messages sent to the players, in order
    messages: list[p.ExerciseMessage] = []
    #: the drill's expectations as scored at the end
    objectives: list[Objective] = []
    #: the drill's scripted operator responses: the players' to make
    left_to_players: list[str] = []
    #: what the running twin could not take from the drill, and what went wrong while it ran
    warnings: list[str] = []
    #: the recording that holds it (a file of the data folder's recordings/)
    recording: str = ""
    #: where its debrief is, by language (after the end)
    debrief: dict[str, str] = {}


# ------------------------------------------------------------------------------- host


class ExerciseHost:
    """The exercise of one server and the task that drives it."""

    def __init__(self, server: TwinServer) -> None:
        self.server = server
        self.exercise: Exercise | None = None
        self.debrief: debriefs.Debrief | None = None
        self.folder: Path | None = None
        self._task: asyncio.Task[Any] | None = None
        self._recorder: Any = None  # a recording the exercise started itself

    @property
    def running(self) -> bool:
        return self.exercise is not None and self.exercise.state == "running"

    async def start(self, drill: Any, who: str, file: str) -> Exercise:
        """Start ``drill`` on the server's live twin (ApiFailure: one running, a replay, a
        drill that does not fit the scene)."""
        server = self.server
        if self.running:
            assert self.exercise is not None
            raise ApiFailure(ApiErrorCode.CONFLICT, f"the exercise {self.exercise.drill.name!r} is running; "
                                                    f"stop it first (POST /api/exercise/stop)")
        if server.replay is not None:
            raise ApiFailure(ApiErrorCode.CONFLICT, "this server replays a recording; an exercise plays on a live twin "
                                                    "(branch the replay, or serve live)")
        engine = server.ready()
        try:
            warnings = prepare(drill, engine)
        except DrillError as exc:
            raise ApiFailure(ApiErrorCode.INVALID_VALUE, f"the drill does not fit this twin: {'; '.join(exc.problems)}") from None
        async with server.tick_lock:
            exercise = Exercise(drill, engine, who, file, warnings)
            if server.recorder is None and server.recordings_dir is not None:
                await asyncio.to_thread(self._start_recording, exercise)
            elif server.recorder is not None:
                exercise.recording = Path(server.recorder.path).name
            self.exercise, self.debrief, self.folder = exercise, None, None
            for inject in exercise.injects:
                self._record("/exercise/inject", msgspec.to_builtins(inject))
        self._task = asyncio.create_task(self._drive(exercise))
        server._tasks.append(self._task)  # cancelled with the server's own tasks at shutdown
        log.info("exercise started", extra={"drill": drill.name, "by": who, "injects": len(exercise.injects)})
        return exercise

    def _start_recording(self, exercise: Exercise) -> None:
        from twin.runs.recording import Recorder, RecordingError

        folder = self.server.recordings_dir
        assert folder is not None
        stamp = wallclock.strftime("%Y%m%dT%H%M%SZ", wallclock.gmtime())
        path = folder / f"exercise-{_slug(exercise.drill.name)}-{stamp}.mcap"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._recorder = Recorder(path, exercise.engine, {"source": "exercise", "drill": exercise.drill.name,
                                                              "exercise_file": exercise.file})
        except (RecordingError, OSError) as exc:
            exercise.warnings.append(f"not recorded: {exc}")
            return
        self.server.recorder = self._recorder
        exercise.recording = path.name

    def _record(self, topic: str, record: dict[str, Any]) -> None:
        recorder = self.server.recorder
        if recorder is not None and self.exercise is not None:
            recorder.record_event(topic, float(self.exercise.engine.time), record)

    async def _drive(self, exercise: Exercise) -> None:
        """Between ticks, every POLL seconds: take the ticks' alarm events, fire what is
        due, and end the exercise at the drill's end (or when the twin is replaced)."""
        server = self.server
        while exercise.state == "running":
            await asyncio.sleep(POLL)
            async with server.tick_lock:
                if exercise.state != "running":
                    break
                if server.engine is not exercise.engine:
                    await self._end(exercise, "the server", "the twin was replaced (a replay was opened)")
                    break
                exercise.observe()
                for inject in exercise.due():
                    self._fire(exercise, inject.n, ON_TIME)
                over = exercise.over
            if over:
                await self._conclude(exercise, "the drill's end", f"its duration, {clock(exercise.drill.duration)}, ran out")
                break

    def _fire(self, exercise: Exercise, n: int, who: str) -> None:
        """Fire inject ``n`` (under the tick lock): send a message to every screen; an
        inject that fails is recorded failed and ExerciseError raised."""
        try:
            message = exercise.fire(n, who)
        except ExerciseError:
            self._record("/exercise/inject", msgspec.to_builtins(exercise.inject(n)))
            if who == ON_TIME:
                return  # logged by the exercise; the timeline shows it failed
            raise
        self._record("/exercise/inject", msgspec.to_builtins(exercise.inject(n)))
        if message is not None:
            self._record("/exercise/message", msgspec.to_builtins(message))
            broadcast(self.server, message)

    async def stop(self, who: str) -> Exercise:
        """End the running exercise now (ApiFailure 409 when none runs)."""
        exercise = self.exercise
        if exercise is None or exercise.state != "running":
            raise ApiFailure(ApiErrorCode.CONFLICT, "no exercise is running; start one with POST /api/exercise")
        # A player's action since the last tick reaches the alarm events with the next
        # tick's frame: wait for it (not on a paused twin), so that the last one counts.
        seq, waited = exercise.engine.seq, wallclock.monotonic()
        while exercise.engine.seq == seq and self.server.running.is_set() and wallclock.monotonic() - waited < STOP_WAIT:
            await asyncio.sleep(0.02)
        await self._conclude(exercise, who, "stopped by the controller")
        return exercise

    async def _conclude(self, exercise: Exercise, who: str, reason: str) -> None:
        """End the exercise: the ground truth its recording kept is read first (off the
        tick), then it is scored and debriefed between two ticks."""
        from twin.runs.truth import read_truth

        truth = None
        recorder = self.server.recorder
        if recorder is not None and exercise.engine.simulator is not None and not recorder.failed:
            try:
                truth = await asyncio.to_thread(read_truth, Path(recorder.path))
            except Exception as exc:  # a recording it cannot read judges no all-clear; the rest is scored
                exercise.warnings.append(f"the ground truth could not be read from {Path(recorder.path).name}: {exc}")
        async with self.server.tick_lock:
            if exercise.state == "running":
                await self._end(exercise, who, reason, truth)

    async def _end(self, exercise: Exercise, who: str, reason: str, truth: Any = None) -> None:
        """Score the exercise, write its debrief (the data folder's exercises/) and close
        the recording it started. Called under the tick lock."""
        exercise.observe()
        exercise.finish(who, reason, truth)
        for inject in exercise.injects:
            if inject.log and inject.log[-1].who == "the end":
                self._record("/exercise/inject", msgspec.to_builtins(inject))
        record = exercise.record()
        # the whole record, scored, in the recording: the report's debrief (twin report)
        self._record("/exercise/record", msgspec.to_builtins(record))
        # each alarm credited to its cause as the report will credit it (twin.runs.credit)
        self.debrief = debriefs.debrief(record, Scope(exercise.engine.scene, exercise.engine.registry))
        log.info("exercise ended", extra={"drill": exercise.drill.name, "by": who, "reason": reason,
                                          "met": self.debrief.met, "judged": self.debrief.judged})
        data = self.server.data_dir
        if data is not None:
            stamp = wallclock.strftime("%Y%m%dT%H%M%SZ", wallclock.gmtime())
            folder = data / "exercises" / f"{stamp}-{_slug(exercise.drill.name)}"
            try:
                await asyncio.to_thread(_write, folder, record, self.debrief)
                self.folder = folder
            except OSError as exc:
                exercise.warnings.append(f"the debrief could not be written to {folder}: {exc}")
        recorder, self._recorder = self._recorder, None
        if recorder is not None and self.server.recorder is recorder:
            self.server.recorder = None
            await asyncio.to_thread(recorder.close)

    # -- the answers -------------------------------------------------------------------
    def state(self) -> ExerciseState:
        server = self.server
        engine = server.engine
        now = float(engine.time) if engine is not None else 0.0
        absolute = bool(engine.absolute_clock) if engine is not None else False
        zone = engine.scene.timezone if engine is not None else "UTC"
        drills = _drills(server)
        exercise = self.exercise
        if exercise is None:
            return ExerciseState("idle", now, absolute, zone, drills)
        d = exercise.drill
        return ExerciseState(
            exercise.state, now, absolute, zone, drills, d.name, d.name_zh, Path(exercise.file).name, exercise.start,
            exercise.end, exercise.now, d.duration, exercise.started_by, exercise.ended_by, exercise.end_reason,
            exercise.injects, exercise.notes, exercise.sent, exercise.objectives, exercise.left_to_players,
            exercise.warnings, exercise.recording,
            {lang: f"/api/exercise/debrief?lang={lang}" for lang in debriefs.LANGS} if self.debrief is not None else {})


def _write(folder: Path, record: Any, debrief: debriefs.Debrief) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "record.json").write_bytes(msgspec.json.format(msgspec.json.encode(record), indent=1))
    debriefs.write(debrief, folder)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()[:40] or "drill"


def _drills(server: TwinServer) -> list[str]:
    """The drill files of the served scene's drills/ folder."""
    engine = server.engine
    folder = engine.scene.root / "drills" if engine is not None else None
    return sorted(f.name for f in folder.glob("*.toml")) if folder is not None and folder.is_dir() else []


def broadcast(server: TwinServer, message: p.ExerciseMessage) -> None:
    """Send a message inject to every screen that has room for it (one that does not
    reads it from GET /api/exercise/messages)."""
    if server.hub is None:
        return
    data = p.encode(message)
    for client in list(server.hub.clients):
        if len(client.control) < MAX_CONTROL:
            client.push(data)


_hosts: weakref.WeakKeyDictionary[Any, ExerciseHost] = weakref.WeakKeyDictionary()


def host_of(server: TwinServer) -> ExerciseHost:
    """The exercise host of ``server`` (made on first use)."""
    host = _hosts.get(server)
    if host is None:
        host = _hosts[server] = ExerciseHost(server)
    return host


def start_on_ready(server: TwinServer, drill_path: Path) -> None:
    """Start the exercise of ``drill_path`` as soon as ``server``'s twin is built (``twin
    serve --exercise``): a drill that does not fit is a failed start, as a scene that
    does not load. Wraps the app's lifespan; call it before the server runs."""
    inner = server.app.router.lifespan_context

    async def when_ready() -> None:
        while server.engine is None:
            if server.startup_error is not None:
                return
            await asyncio.sleep(0.05)
        try:
            drill = load_drill(drill_path)
            await host_of(server).start(drill, "twin serve --exercise", str(drill_path))
        except (ApiFailure, DrillError, TwinError) as exc:
            reason = exc.message if isinstance(exc, ApiFailure) else str(exc)
            server.startup_error = f"the exercise {drill_path} cannot start: {reason}"
            log.error(server.startup_error)
            if server.on_fatal is not None:
                server.on_fatal(server.startup_error)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with inner(app):
            task = asyncio.create_task(when_ready())
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    server.app.router.lifespan_context = lifespan


# ----------------------------------------------------------------------------- routes


def _refused(exc: ExerciseError) -> ApiFailure:
    return ApiFailure(ApiErrorCode.CONFLICT if exc.conflict else ApiErrorCode.INVALID_VALUE, str(exc))


def _running(call: Call) -> tuple[ExerciseHost, Exercise]:
    host = host_of(call.server)
    if host.exercise is None or host.exercise.state != "running":
        raise ApiFailure(ApiErrorCode.CONFLICT, "no exercise is running; a director starts one with POST /api/exercise")
    return host, host.exercise


async def exercise_state(call: Call) -> ExerciseState:
    """The exercise: its state, the timeline of injects (those to come included), the
    observers' notes, the messages sent, and after its end the objectives met."""
    return host_of(call.server).state()


async def start_exercise(call: Call) -> Reply:
    """Start a live exercise: the drill's actions, sensor faults and messages at their
    moments from now, on this twin, while people play; scored and debriefed at its end."""
    body, server = call.body, call.server
    if (body.drill is None) == (body.name is None):
        raise ApiFailure(ApiErrorCode.INVALID_VALUE, "give the drill's TOML text as drill (and its file name as file), "
                                                     "or the name of a drill of the scene's drills/ folder as name")
    if body.name is not None:
        known = _drills(server)
        if body.name not in known:
            raise ApiFailure(ApiErrorCode.INVALID_VALUE, f"no drill {body.name!r} in the scene's drills/ folder; "
                                                         f"known: {', '.join(known) or 'none'}")
        engine = server.ready()
        path = engine.scene.root / "drills" / body.name
        drill = await asyncio.to_thread(_load, path, body.name)
        file = body.name
    else:
        # the name problems are told under; a file of our own is made of it
        file = re.sub(r"[^\w.-]+", "_", Path(body.file or "drill.toml").name).strip(".") or "drill.toml"
        drill = await asyncio.to_thread(_load_text, body.drill, file, server)
    await host_of(server).start(drill, call.caller.name, file)
    return Reply(host_of(server).state(), 201)


def _load(path: Path, shown: str) -> Any:
    try:
        return load_drill(path)
    except DrillError as exc:
        raise ApiFailure(ApiErrorCode.INVALID_VALUE, "; ".join(p.replace(str(path), shown) for p in exc.problems)) from None


def _load_text(text: str, file: str, server: TwinServer) -> Any:
    """A drill sent as text, read from a file of its own (problems name it ``file``)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="twin-exercise-") as folder:
        path = Path(folder) / (file if file.endswith(".toml") else file + ".toml")
        # a lone surrogate (JSON lets one through) is written as it is: the TOML reader
        # then refuses the file as not UTF-8, naming it
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        drill = _load(path, file)
    # what the scene then finds wrong names the file as its sender did
    drill.path = Path(file)
    if drill.toml is not None:
        drill.toml.path = Path(file)
    return drill


async def stop_exercise(call: Call) -> ExerciseState:
    """End the running exercise now: its objectives are scored and its debrief written."""
    host = host_of(call.server)
    await host.stop(call.caller.name)
    return host.state()


async def control_inject(call: Call) -> Inject:
    """Fire an inject now, delay it (by ``seconds``) or skip it."""
    host, exercise = _running(call)
    n, action = call.request.path_params["inject_id"], call.request.path_params["action"]
    if action not in ("fire", "delay", "skip"):
        raise ApiFailure(ApiErrorCode.NOT_FOUND, f"no inject action {action!r}; valid: fire, delay, skip")
    if not 1 <= n <= len(exercise.injects):
        raise ApiFailure(ApiErrorCode.NOT_FOUND, f"no inject {n}; this exercise has injects 1 to {len(exercise.injects)}")
    if action == "delay" and call.body.seconds is None:
        raise ApiFailure(ApiErrorCode.INVALID_VALUE, "delay needs {\"seconds\": <number above 0>}")
    who = call.caller.name
    async with call.server.tick_lock:
        try:
            if action == "fire":
                host._fire(exercise, n, who)
            elif action == "delay":
                exercise.delay(n, call.body.seconds, who)
                host._record("/exercise/inject", msgspec.to_builtins(exercise.inject(n)))
            else:
                exercise.skip(n, who)
                host._record("/exercise/inject", msgspec.to_builtins(exercise.inject(n)))
        except ExerciseError as exc:
            raise _refused(exc) from None
        return exercise.inject(n)


async def add_inject(call: Call) -> Reply:
    """Add an inject on the fly: an action, a sensor fault or a message, now or at a moment."""
    host, exercise = _running(call)
    body = call.body
    async with call.server.tick_lock:
        try:
            inject = exercise.add(body.kind, call.caller.name, body.at, body.action, body.target, body.params, body.message)
        except ExerciseError as exc:
            raise _refused(exc) from None
        host._record("/exercise/inject", msgspec.to_builtins(inject))
    return Reply(inject, 201)


async def add_note(call: Call) -> Reply:
    """Note what you see, timestamped with the twin's clock and the exercise's moment."""
    host, exercise = _running(call)
    try:
        note = exercise.note(call.caller.name, call.body.text)
    except ExerciseError as exc:
        raise _refused(exc) from None
    host._record("/exercise/note", msgspec.to_builtins(note))
    return Reply(note, 201)


async def exercise_messages(call: Call) -> MessageList:
    """The messages sent to the players so far (a screen that connects late shows them);
    on a replay, those sent up to the moment replayed."""
    if call.server.replay is not None:
        return MessageList(call.server.replay.sent())
    exercise = host_of(call.server).exercise
    return MessageList(list(exercise.sent) if exercise is not None else [])


async def exercise_debrief(call: Call) -> Any:
    """The debrief of the exercise last ended, as an HTML page."""
    from starlette.responses import HTMLResponse

    host = host_of(call.server)
    if host.debrief is None:
        raise ApiFailure(ApiErrorCode.NOT_FOUND, "no exercise has ended on this server yet; its debrief comes at its end")
    return HTMLResponse(await asyncio.to_thread(debriefs.render_html, host.debrief, call.query.lang))


_HTML = Media("text/html", {"type": "string"}, "the debrief page")

ROUTES = [
    ApiRoute("GET", "/api/exercise", exercise_state, role=WATCHERS, tag="exercise", answers={200: ExerciseState}),
    ApiRoute("POST", "/api/exercise", start_exercise, role="director", tag="exercise", body=StartRequest,
             doing="starting an exercise", answers={201: ExerciseState, 400: ApiError, 409: ApiError}),
    ApiRoute("POST", "/api/exercise/stop", stop_exercise, role="director", tag="exercise", body=StopRequest,
             empty_body=True, doing="stopping the exercise", answers={200: ExerciseState, 409: ApiError}),
    ApiRoute("POST", "/api/exercise/injects", add_inject, role="director", tag="exercise", body=NewInject,
             doing="adding injects", answers={201: Inject, 400: ApiError, 409: ApiError}),
    ApiRoute("POST", "/api/exercise/injects/{inject_id:int}/{action:str}", control_inject, role="director", tag="exercise",
             body=InjectControl, empty_body=True, doing="controlling injects",
             path_params={"action": Literal["fire", "delay", "skip"]},
             answers={200: Inject, 400: ApiError, 404: ApiError, 409: ApiError}),
    ApiRoute("POST", "/api/exercise/notes", add_note, role=WATCHERS, tag="exercise", body=NewNote, doing="noting",
             answers={201: Note, 409: ApiError}),
    ApiRoute("GET", "/api/exercise/messages", exercise_messages, tag="exercise", answers={200: MessageList}),
    ApiRoute("GET", "/api/exercise/debrief", exercise_debrief, role=WATCHERS, tag="exercise", query=DebriefQuery,
             answers={200: _HTML, 404: ApiError}),
]
