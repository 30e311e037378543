"""Live exercises (演练): a drill played by people on a running twin.

The drill's physics (its actions, sensor faults and ``[[series]]`` points, at their
moments) runs on the live twin in real time while people play: operators acknowledge,
dispatch and resolve for real (the drill's scripted operator responses are left to
them); a controller (director role) fires, delays or skips an inject, or adds one on the
fly; the players get the drill's ``[[messages]]`` (a resident's call, a field report, a
press enquiry) on the wall and in the alarm list's feed; observers note what they see.
At the end (stop, or the drill's duration) the alarm events since the start are scored
against the drill's expectations (:func:`twin.runs.drill.score`) and the debrief is made
from :meth:`Exercise.record` (:mod:`twin.runs.debrief`).

This module knows no server: an :class:`Exercise` holds the timeline and what happened,
and its owner (``twin.serving.routes.exercise``) drives it between ticks: it applies
what :meth:`Exercise.fire` applies, sends the messages it hands back, and calls
:meth:`Exercise.observe` so that it sees every tick's alarm events. Moments are offsets
in seconds from the exercise's start, as in the drill file; times are the twin's clock.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from twin.errors import TwinError
from twin.runs.drill import Drill, DrillError, Event, Evidence, check_against, clock, scorecard
from twin.serving.protocol import ExerciseMessage
from twin.tick.alarms import MAX_NAME_CHARS, MAX_NOTE_CHARS, InvalidAction, checked_text
from twin.tomlfile import TomlFile

log = logging.getLogger("twin.runs.exercise")

#: what an inject is: a plugin action, a sensor fault, or a message to the players
INJECT_KINDS = ("action", "fault", "message")
#: the longest delay the controller may give an inject at once (seconds)
MAX_DELAY = 24 * 3600.0
#: the most injects a controller may add, and notes observers may write, to one exercise
MAX_ADDED = 500
MAX_NOTES = 2000
#: what the schedule is called when an inject fires at its moment
ON_TIME = "on time"

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NOTE_CHARS)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME_CHARS)]


class ExerciseError(TwinError):
    """A controller's or observer's request the exercise cannot take: the message says why
    and what would do. ``conflict``: the exercise's state refuses it (an inject already
    fired, no exercise running), as opposed to a value that is wrong."""

    def __init__(self, message: str, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict


class MessageBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A message to the players: what it is (``call``, ``field_report``, ``press``,
    ``other``), who it is from and what they say, each also in Chinese if given."""

    #: what it is: a phone call, a report from the field, a press enquiry, or another message
    kind: Literal["call", "field_report", "press", "other"] = "other"
    #: who it is from, as the players would hear it
    sender: Name = msgspec.field(name="from")
    #: who it is from, in Chinese
    from_zh: Annotated[str, msgspec.Meta(max_length=MAX_NAME_CHARS)] = ""
    #: what they say
    text: Text
    #: what they say, in Chinese
    text_zh: Annotated[str, msgspec.Meta(max_length=MAX_NOTE_CHARS)] = ""


class InjectChange(msgspec.Struct):
    """One change of an inject: added, fired, delayed (by ``seconds``) or skipped, by
    whom (``on time``: the schedule), at which moment of the exercise."""

    #: the change
    what: Literal["add", "fire", "delay", "skip"]
    #: the controller's token name, or `on time` (the schedule), or `the end` (left at the exercise's end)
    who: str
    #: the moment of the exercise, seconds from its start
    at: float
    #: how much later a delay moved it
    seconds: float | None = None


class Inject(msgspec.Struct):
    """One inject of the timeline. ``at``: its moment (seconds from the start), moved by
    delays; ``planned``: the moment the drill (or the controller who added it) gave it.
    ``fired``: the moment it fired; ``by``: who fired it (``on time``: the schedule, or
    the controller who fired it early); ``error``: why it failed (state ``failed``)."""

    #: its number in the timeline, from 1
    n: int
    #: a plugin action, a sensor fault, or a message to the players
    kind: Literal["action", "fault", "message"]
    #: its moment, seconds from the exercise's start (moved by delays)
    at: float
    #: the moment the drill, or the controller who added it, gave it
    planned: float
    #: pending, fired, skipped, or failed (the twin refused the action: `error`)
    state: Literal["pending", "fired", "skipped", "failed"]
    #: where it comes from: the drill file and line, or "added by <who>"
    source: str
    #: the action or sensor fault (`<domain>.<verb>`, `sensor.<fault>`)
    action: str = ""
    #: the asset an action acts on, or the sensor of a fault
    target: str = ""
    #: the action's parameters, in their units
    params: dict[str, float] = {}
    #: a message inject's words
    message: MessageBody | None = None
    #: the moment it fired, seconds from the start
    fired: float | None = None
    #: who fired it: `on time` (the schedule), or the controller's token name
    by: str = ""
    #: why it failed
    error: str = ""
    #: each change, in order
    log: list[InjectChange] = []

    def describe(self) -> str:
        """One line for a list: the action on its target, or the message's sender and text."""
        if self.message is not None:
            return f"{self.message.kind} from {self.message.sender}: {self.message.text}"
        params = ", ".join(f"{k} = {v:g}" for k, v in self.params.items())
        return f"{self.action} on {self.target}" + (f" ({params})" if params else "")


class Note(msgspec.Struct):
    """An observer's note: by whom, when (the twin's clock and the moment of the exercise)."""

    #: its number, from 1
    n: int
    #: the twin's clock when it was written
    time: float
    #: the moment of the exercise, seconds from its start
    at: float
    #: the observer's (or director's) token name
    who: str
    #: what they saw
    text: str


class Objective(msgspec.Struct):
    """An expectation of the drill as the exercise met it: ``met``, ``not met``, or ``not
    judged`` (its moment came after the exercise ended)."""

    #: the expectation, in words
    text: str
    #: met, not met, or not judged
    status: Literal["met", "not met", "not judged"]
    #: what the twin showed
    detail: str
    #: its line in the drill file
    line: int = 0
    #: the expectation's own terms (twin.runs.drill.Expectation), for other languages
    kind: str = ""
    #: the least alarm level it is about (1 blue ... 4 red)
    level: int = 0
    #: its moment (`by`) or its length of time (`..._within`)
    seconds: float = 0.0
    #: the asset it is about, if given
    asset: str = ""
    #: the domain it is about, if given
    domain: str = ""
    #: the alarm rule it is about, if given
    rule: str = ""
    #: the owner unit it is about, if given
    owner: str = ""


class ExerciseRecord(msgspec.Struct):
    """What an exercise was and what happened in it: the debrief's input
    (:func:`twin.runs.debrief.debrief`), written as ``record.json`` beside the debrief.
    ``alarm_events`` are the alarm events from its start to its end, as the stream
    carries them (kind, time, alarm, who, note); ``incidents`` the incidents they fell
    into, as their records were at the end."""

    drill: str
    drill_zh: str
    file: str
    scene: str
    timezone: str
    absolute_clock: bool
    start: float
    end: float | None
    state: Literal["running", "ended"]
    started_by: str
    ended_by: str
    end_reason: str
    duration: float
    injects: list[Inject]
    notes: list[Note]
    alarm_events: list[dict[str, Any]]
    incidents: list[dict[str, Any]]
    objectives: list[Objective]
    #: the drill's scripted operator responses, left to the players
    left_to_players: list[str]
    warnings: list[str]
    recording: str = ""
    #: the platform's own deadlines that passed during it (twin.runs.drill.Scorecard):
    #: each alarm that went overdue {time, id, asset, rule, level}, each escalation of
    #: an incident (its record with the incident's id and title)
    overdue: list[dict[str, Any]] = []
    escalations: list[dict[str, Any]] = []


def planned_injects(drill: Drill, where: Any = lambda line: str(line)) -> list[Inject]:
    """The drill's injects as an exercise's timeline numbers them: its actions, sensor
    faults and messages in time order (the file's order at one moment), numbered from 1;
    ``where(line)`` says where each stands in the file."""
    planned: list[tuple[float, Inject]] = []
    for e in drill.events:
        if e.action:
            kind: Literal["action", "fault"] = "fault" if e.action.startswith("sensor.") else "action"
            planned.append((e.at, Inject(0, kind, e.at, e.at, "pending", where(e.line), e.action, e.target, dict(e.params))))
    for at, m, line in drill.messages:
        body = MessageBody(kind=m.kind, sender=m.sender, from_zh=m.from_zh, text=m.text, text_zh=m.text_zh)
        planned.append((at, Inject(0, "message", at, at, "pending", where(line), message=body)))
    injects = []
    for n, (_, inject) in enumerate(sorted(planned, key=lambda p: p[0]), 1):  # stable: the file's order at one moment
        inject.n = n
        injects.append(inject)
    return injects


def drill_messages(drill: Drill) -> list[tuple[float, Inject]]:
    """The drill's ``[[messages]]`` as injects numbered as a live exercise would number
    them, with their moments (offsets from the drill's start), in time order: what a
    headless run records on ``/exercise/message`` (:func:`message_record`)."""
    return [(i.at, i) for i in planned_injects(drill) if i.message is not None]


def message_record(inject: Inject, now: float) -> dict[str, Any]:
    """The ``/exercise/message`` record of a message inject that came at ``now`` (the
    twin's clock): the :class:`~twin.serving.protocol.ExerciseMessage` a live exercise
    sends to the screens and records."""
    m = inject.message
    assert m is not None, inject
    return msgspec.to_builtins(ExerciseMessage(inject.n, float(now), m.kind, m.sender, m.text, m.from_zh, m.text_zh))


class Exercise:
    """One drill played live on ``engine`` from its current time. ``who``: the director
    who started it; ``file``: how the drill file is named in messages (its path)."""

    def __init__(self, drill: Drill, engine: Any, who: str, file: str = "", warnings: list[str] | None = None) -> None:
        self.drill = drill
        self.engine = engine
        self.start = float(engine.time)
        self.started_by = who
        self.file = file or str(drill.path)
        self.warnings = list(warnings or [])
        self.injects: list[Inject] = planned_injects(drill, self._where)
        #: scripted operator responses are the players' to make: listed, not played
        self.left_to_players = [f"{clock(e.at)} {e.operator} {e.aim()}" + (f" ({e.note})" if e.note else "")
                                for e in drill.events if e.operator]
        self.notes: list[Note] = []
        self.sent: list[ExerciseMessage] = []
        self.alarm_events: list[dict[str, Any]] = []
        self._seen = int(engine.seq)
        self.state: Literal["running", "ended"] = "running"
        self.end: float | None = None
        self.ended_by = ""
        self.end_reason = ""
        self.objectives: list[Objective] = []
        self.overdue: list[dict[str, Any]] = []
        self.escalations: list[dict[str, Any]] = []
        self.added = 0
        #: the recording that holds it, if any (a file name)
        self.recording = ""

    def _where(self, line: int) -> str:
        return f"{Path(self.file).name}:{line}" if line else Path(self.file).name

    # -- the clock ---------------------------------------------------------------------
    @property
    def now(self) -> float:
        """The moment of the exercise: seconds since its start (its end's, once ended)."""
        return (self.end if self.end is not None else float(self.engine.time)) - self.start

    @property
    def over(self) -> bool:
        """Has the drill's duration passed?"""
        return self.now >= self.drill.duration - 1e-9

    def _running(self) -> None:
        if self.state != "running":
            raise ExerciseError("the exercise has ended; start another with POST /api/exercise", conflict=True)

    # -- what happened -----------------------------------------------------------------
    def observe(self) -> None:
        """Take the alarm events of the ticks since the last call, from the engine's
        recent frames (call it between ticks, often enough that none has left them)."""
        frames = [f for f in self.engine.frames if f.seq > self._seen]
        if frames and frames[0].seq > self._seen + 1:
            self.warnings.append(f"ticks {self._seen + 1} to {frames[0].seq - 1} left the twin's memory before the "
                                 f"exercise saw them: their alarm events are not scored")
        for frame in frames:
            self.alarm_events.extend({"kind": e.kind, "time": e.time, "alarm": e.alarm, "who": e.who, "note": e.note}
                                     for e in frame.events)
            self._seen = frame.seq

    # -- the timeline ------------------------------------------------------------------
    def inject(self, n: int) -> Inject:
        """Inject number ``n``; ExerciseError naming the valid numbers if there is none."""
        if 1 <= n <= len(self.injects):
            return self.injects[n - 1]
        raise ExerciseError(f"no inject {n}; this exercise has injects 1 to {len(self.injects)}" if self.injects
                            else f"no inject {n}; this exercise has none")

    def due(self) -> list[Inject]:
        """The pending injects whose moment has come, in order of their moments."""
        if self.state != "running":
            return []
        now = self.now
        return sorted((i for i in self.injects if i.state == "pending" and i.at <= now + 1e-9), key=lambda i: (i.at, i.n))

    def fire(self, n: int, who: str = ON_TIME) -> ExerciseMessage | None:
        """Fire inject ``n`` now: an action or sensor fault is applied to the twin (as a
        director's action: recorded with ``who``), a message is handed back for the
        stream. An action the twin refuses marks the inject ``failed`` with the reason
        and raises ExerciseError with it; one already fired or skipped is a conflict.
        Call it between ticks."""
        self._running()
        inject = self.inject(n)
        if inject.state != "pending":
            raise ExerciseError(f"inject {n} is {inject.state}; only a pending inject fires", conflict=True)
        now = self.now
        inject.log.append(InjectChange("fire", who, now))
        inject.fired, inject.by = now, who
        if inject.message is not None:
            inject.state = "fired"
            m = inject.message
            message = ExerciseMessage(inject.n, float(self.engine.time), m.kind, m.sender, m.text, m.from_zh, m.text_zh)
            self.sent.append(message)
            return message
        try:
            self.engine.apply_action(inject.action, inject.target, dict(inject.params),
                                     who=f"exercise ({who})" if who != ON_TIME else "exercise")
        except (KeyError, ValueError, ConnectionError) as exc:
            inject.state, inject.error = "failed", str(exc).strip("'\"")
            log.warning("an inject failed", extra={"inject": n, "error": inject.error})
            raise ExerciseError(f"inject {n} ({inject.describe()}) failed: {inject.error}") from None
        inject.state = "fired"
        return None

    def delay(self, n: int, seconds: float, who: str) -> Inject:
        """Move pending inject ``n`` later by ``seconds`` (0 < seconds <= MAX_DELAY)."""
        self._running()
        inject = self.inject(n)
        if inject.state != "pending":
            raise ExerciseError(f"inject {n} is {inject.state}; only a pending inject can be delayed", conflict=True)
        if not 0 < seconds <= MAX_DELAY:
            raise ExerciseError(f"delay by {seconds:g} s: give seconds above 0 and at most {MAX_DELAY:g}")
        inject.at = max(inject.at, self.now) + seconds
        inject.log.append(InjectChange("delay", who, self.now, seconds))
        return inject

    def skip(self, n: int, who: str) -> Inject:
        """Leave pending inject ``n`` out of this exercise."""
        self._running()
        inject = self.inject(n)
        if inject.state != "pending":
            raise ExerciseError(f"inject {n} is {inject.state}; only a pending inject can be skipped", conflict=True)
        inject.state = "skipped"
        inject.log.append(InjectChange("skip", who, self.now))
        return inject

    def add(self, kind: str, who: str, at: float | None = None, action: str = "", target: str = "",
            params: dict[str, float] | None = None, message: MessageBody | None = None) -> Inject:
        """Add an inject on the fly at moment ``at`` (None: now, so that it fires between
        the next two ticks): an action or sensor fault, checked now against the twin as
        a drill's would be (target, kind of asset, parameters and their ranges), or a
        message. ExerciseError naming every problem."""
        self._running()
        if self.added >= MAX_ADDED:
            raise ExerciseError(f"this exercise has {self.added} added injects, the most it takes", conflict=True)
        now = self.now
        moment = now if at is None else float(at)
        if moment < now - 1e-9:
            raise ExerciseError(f"at = {moment:g} s is past: the exercise is at {now:.0f} s; give a later moment or none (now)")
        params = dict(params or {})
        if kind == "message":
            if message is None or action or target or params:
                raise ExerciseError("a message inject gives message = {from, text, ...} and no action, target or params")
            for name in ("sender", "from_zh", "text", "text_zh"):
                _valid_text(getattr(message, name), "message " + ("from" if name == "sender" else name))
        elif kind in ("action", "fault"):
            if message is not None:
                raise ExerciseError(f"an {kind} inject gives action, target and params, not a message")
            if (kind == "fault") != action.startswith("sensor."):
                raise ExerciseError(f"kind {kind!r} with action {action!r}: a sensor fault is sensor.stuck, sensor.drift, "
                                    f"sensor.dead or sensor.repair, kind \"fault\"; a plugin action is kind \"action\"")
            self._check_action(action, target, params)
        else:
            raise ExerciseError(f"kind {kind!r}: valid kinds are {', '.join(INJECT_KINDS)}")
        self.added += 1
        inject = Inject(len(self.injects) + 1, kind, moment, moment, "pending", f"added by {who}",  # type: ignore[arg-type]
                        action, target, params, message, log=[InjectChange("add", who, now)])
        self.injects.append(inject)
        return inject

    def _check_action(self, action: str, target: str, params: dict[str, float]) -> None:
        """The drill's own checks (twin.runs.drill.check_against) of one action on the twin."""
        if not action or not target:
            raise ExerciseError("an action inject names its action (\"<domain>.<verb>\" or \"sensor.<fault>\") and its target")
        event = Event(0.0, target, action, params=params)
        probe = dataclasses.replace(self.drill, events=[event], expectations=[], messages=[], problems=[],
                                    toml=TomlFile.unplaced({}, "the new inject"), config={})
        try:
            check_against(probe, self.engine)
        except DrillError as exc:
            raise ExerciseError("; ".join(p.removeprefix("the new inject: ") for p in exc.problems)) from None

    # -- observers ---------------------------------------------------------------------
    def note(self, who: str, text: str) -> Note:
        """Keep an observer's note at this moment (text: 1 to MAX_NOTE_CHARS characters)."""
        self._running()
        text = _valid_text(text, "text").strip()
        if not text:
            raise ExerciseError("a note needs some text")
        if len(self.notes) >= MAX_NOTES:
            raise ExerciseError(f"this exercise has {len(self.notes)} notes, the most it keeps", conflict=True)
        note = Note(len(self.notes) + 1, float(self.engine.time), self.now, who, text)
        self.notes.append(note)
        return note

    # -- the end -----------------------------------------------------------------------
    def finish(self, who: str, reason: str, truth: Any = None) -> list[Objective]:
        """End the exercise now and score it with the drill's scorecard: its expectations
        against the alarm events since the start (call :meth:`observe` first), the
        platform's deadlines that passed, and, given the ground truth the recording kept
        (:func:`twin.runs.truth.read_truth`), the all-clears it contradicts. An expectation
        whose moment is after the end, or that the run holds nothing to judge by, is
        ``not judged``; so is a deadline that had not run out."""
        self._running()
        self.end = float(self.engine.time)
        self.state, self.ended_by, self.end_reason = "ended", who, reason
        elapsed = self.end - self.start
        for inject in self.injects:
            if inject.state == "pending":
                inject.log.append(InjectChange("skip", "the end", elapsed))
                inject.state = "skipped"
        played = dataclasses.replace(self.drill, duration=elapsed)
        faults = [{"time": self.start + (i.fired or 0.0), "action": i.action, "target": i.target, "params": dict(i.params)}
                  for i in self.injects if i.kind == "fault" and i.state == "fired"]
        evidence = Evidence(truth, {i["id"]: i for i in self._incidents()}, faults,
                            {s.id: s.asset for s in self.engine.scene.sensors}, self.end)
        card = scorecard(played, self.alarm_events, self.start, evidence)
        self.objectives = []
        for s in card.scores:
            x = s.expectation
            status: Literal["met", "not met", "not judged"] = "met" if s.passed else "not met"
            detail = s.detail
            if not s.judged:
                status = "not judged"
            elif x.kind == "by" and not s.passed and x.time > elapsed + 1e-9:
                status, detail = "not judged", f"{detail}; the exercise ended at {clock(elapsed)}, before {clock(x.time)}"
            self.objectives.append(Objective(x.describe(), status, detail, x.line, x.kind, x.level, x.time, x.asset, x.domain,
                                             x.rule, getattr(x, "owner", "")))
        self.overdue = list(card.overdue)
        self.escalations = [e for e in card.escalations if e["time"] >= self.start - 1e-9]
        return self.objectives

    def _incidents(self) -> list[dict[str, Any]]:
        """The records of the incidents the exercise's alarms fell into, as they are now."""
        book = self.engine.incidents
        ids: list[int] = []
        for alarm_id in sorted({e["alarm"]["id"] for e in self.alarm_events}):
            incident = book.of_alarm(alarm_id)
            if incident is not None and incident.id not in ids:
                ids.append(incident.id)
        return [book.incidents[i].to_json() for i in ids if i in book.incidents]

    def record(self) -> ExerciseRecord:
        """What the exercise was and what happened, so far (the debrief's input)."""
        engine = self.engine
        incidents = self._incidents()
        return ExerciseRecord(
            self.drill.name, self.drill.name_zh, Path(self.file).name, engine.scene.name, engine.scene.timezone,
            bool(engine.absolute_clock), self.start, self.end, self.state, self.started_by, self.ended_by,
            self.end_reason, self.drill.duration, [msgspec.structs.replace(i) for i in self.injects], list(self.notes),
            list(self.alarm_events), incidents, list(self.objectives), list(self.left_to_players), list(self.warnings),
            self.recording, list(self.overdue), list(self.escalations))


def _valid_text(value: str, field: str) -> str:
    """Text a person wrote, as the alarm store takes it (valid Unicode, within its limit)."""
    try:
        return checked_text(value, field, MAX_NOTE_CHARS)
    except InvalidAction as exc:
        raise ExerciseError(str(exc)) from None


def prepare(drill: Drill, engine: Any) -> list[str]:
    """Check ``drill`` against a running twin before it is played there: DrillError naming
    every problem (as ``twin drill check``); returns warnings about what a running twin
    cannot take from the drill (its configuration, its tick, its seed, its clock)."""
    check_against(drill, engine)
    warnings = []
    if drill.config:
        tables = " and ".join(f"[{k}]" for k in sorted(drill.config))
        warnings.append(f"the drill's {tables} are not applied to a running twin (start it with "
                        f"`twin serve --exercise` to have them)")
    if abs(drill.dt - engine.dt) > 1e-9:
        warnings.append(f"the drill's dt = {drill.dt:g} s; the twin ticks every {engine.dt:g} s")
    sim = engine.simulator
    coming = len(sim.incidents) - len(sim.applied) if sim is not None else 0
    if coming > 0:
        warnings.append(f"the scene's background incidents still to come ({coming}) run too: their alarms count "
                        f"in the scoring (`twin serve --exercise` leaves them out)")
    return warnings
