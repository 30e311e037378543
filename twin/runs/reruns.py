"""Running drills headless, and re-running recordings through changed configuration.

A rerun feeds a recording's raw readings and operator actions, tick by tick, to a fresh
twin (no simulator) built with another configuration, and lists how the alarms differ:
the "what if" of a drill team; :func:`rerun_and_score` also records it, re-scores the
drill's expectations on it and writes its report. A branch (:func:`run_branch`) restores
a recording's state at a moment and runs on with other actions; it is scored as one run,
before the branch point from the original and after it from the branch
(:func:`score_recording` reads any recording that way).
"""

from __future__ import annotations

import time as wallclock
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twin.runs.drill import Drill, Evidence, Score, Scorecard, check_against, load_drill, scorecard
from twin.runs.truth import TruthSampler
from twin.tick.engine import Engine
from twin.tick.scene import Incident


@dataclass
class DrillResult:
    drill: Drill
    scores: list[Score]
    events: list[dict[str, Any]]
    ticks: int
    wall_seconds: float
    warnings: list[str] = field(default_factory=list)
    #: the scores with the platform's own deadlines that passed (overdue, escalations)
    card: Scorecard | None = None
    #: what the scorer judged by besides the events (the truth, incidents, faults)
    evidence: Evidence | None = None

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.scores)


def _event_dict(e: Any) -> dict[str, Any]:
    return {"kind": e.kind, "time": e.time, "alarm": e.alarm, "who": e.who, "note": e.note}


def operator_act(engine: Engine, action: str, asset: str, who: str, note: str, rule: str = "", unit: str = "") -> str | None:
    """Apply an operator action to the worst open alarm of ``asset`` ("*": to every open
    alarm the action fits, as an operator's "acknowledge all"); ``unit``: where a dispatch
    goes ("": the owner). A warning if none fits, naming the moment as an offset from the
    run's start."""
    offset = engine.time - engine.start
    if asset == "*":
        state = {"acknowledge": "raised", "dispatch": "acknowledged", "resolve": "dispatched"}[action]
        targets = [a for a in engine.alarms.active() if a.state == state]
        for alarm in targets:
            engine.alarms.act(alarm.id, action, who, note, engine.time, unit)
        return None if targets else f"{action} at {offset:g} s: no open alarm to {action}"
    candidates = [a for a in engine.alarms.active() if a.asset == asset and (not rule or a.rule == rule)]
    if not candidates:
        return f"{action} at {offset:g} s: no open alarm on {asset}"
    alarm = max(candidates, key=lambda a: (a.level, -a.id))
    try:
        engine.alarms.act(alarm.id, action, who, note, engine.time, unit)
    except Exception as exc:
        return f"{action} at {offset:g} s on {asset}: {exc}"
    return None


def incident_act(engine: Engine, action: str, which: str, who: str, note: str, unit: str = "") -> str | None:
    """Apply an operator action (acknowledge, dispatch, close) to an incident, which acts
    on its alarms too (docs/incidents.md): ``which`` is "worst" (the worst open incident
    the action fits), "*" (every open incident it fits) or an asset id (the open incident
    holding its alarm). A warning if none fits, naming the moment as an offset from the
    run's start."""
    from twin.errors import TwinError
    from twin.loop.incidents import ACTIONS

    offset = engine.time - engine.start
    book = engine.incidents

    def fits(incident: Any) -> bool:
        if incident.state not in ACTIONS[action][0]:
            return False
        # a close waits for its alarms to clear (twin.loop.incidents.IncidentBook.act)
        return action != "close" or not any(a.condition_active and a.state != "resolved" for a in book._members(incident))

    open_ = book.ordered()  # worst first
    if which == "*":
        targets = [i for i in open_ if fits(i)]
    elif which == "worst":
        targets = [i for i in open_ if fits(i)][:1]
    else:
        holding = [i for i in open_ if which in i.assets]
        if not holding:
            return f"{action} at {offset:g} s: no open incident holds an alarm on {which}"
        targets = [holding[0]]
    if not targets:
        return f"{action} at {offset:g} s: no open incident to {action}"
    for incident in targets:
        try:
            book.act(incident.id, action, who, note, engine.time, unit)
        except TwinError as exc:
            return f"{action} at {offset:g} s on incident {incident.id}: {exc}"
    return None


def _unit(record: dict[str, Any]) -> str:
    """Where a recorded dispatch went (the alarm's ``dispatched_to`` after it), for replaying it."""
    return str(record["alarm"].get("dispatched_to", "")) if record["kind"] == "dispatch" else ""


#: an incident action -> the alarm actions it brings (twin.loop.incidents.IncidentBook._cascade)
_CASCADE = {"acknowledge": ("acknowledge",), "dispatch": ("acknowledge", "dispatch"), "close": ("acknowledge", "resolve")}


def recorded_operator(alarm_actions: list[dict[str, Any]], incident_actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A recording's operator actions in the order to replay them: its incident actions
    (``/operator/incident``) each in the place of the alarm steps it brought, which are
    left out (the incident's action in the replay brings its own), and the alarm actions
    people took one by one (``/operator/action``). An incident action's steps are those of
    its alarms at its moment, by the same who and note; one that brought none goes after
    the alarm actions of its moment. An incident action is told by its ``incident`` key."""
    brought: dict[int, int] = {}  # index of an alarm step -> index of the incident action that brought it
    for n, action in enumerate(incident_actions):
        members = {a["id"] for a in action["incident"]["alarms"]}
        kinds = _CASCADE.get(action["kind"], ())
        for i, e in enumerate(alarm_actions):
            if (i not in brought and e["kind"] in kinds and abs(e["time"] - action["time"]) < 1e-9 and e["who"] == action["who"]
                    and e["note"] == action["note"] and e["alarm"].get("id") in members):
                brought[i] = n
    keyed: list[tuple[float, int, int, dict[str, Any]]] = []
    for i, e in enumerate(alarm_actions):
        if i not in brought:
            keyed.append((e["time"], 2 * i + 1, 0, e))
    first = {}
    for i, n in sorted(brought.items()):
        first.setdefault(n, i)
    for n, action in enumerate(incident_actions):
        if n in first:
            keyed.append((action["time"], 2 * first[n], n, action))
        else:
            before = [i for i, e in enumerate(alarm_actions) if e["time"] <= action["time"] + 1e-9]
            keyed.append((action["time"], 2 * (before[-1] + 1) if before else 0, n, action))
    keyed.sort(key=lambda k: k[:3])
    return [k[3] for k in keyed]


def incident_replay(engine: Engine, record: dict[str, Any]) -> str | None:
    """Replay a recorded incident action (``/operator/incident``) on the open incident
    of ``engine`` that holds the most of the recorded incident's alarms, by (rule,
    asset), then of its assets (incident ids may differ in a rerun); the worst of equals.
    A warning if none holds any, or if the incident refuses the action, naming the moment
    as an offset from the run's start."""
    from twin.errors import TwinError

    offset = engine.time - engine.start
    action, recorded = record["kind"], record["incident"]
    pairs = {(a["rule"], a["asset"]) for a in recorded["alarms"]}
    assets = set(recorded["assets"])
    alarms = engine.alarms.alarms
    best, most = None, (0, 0)
    for incident in engine.incidents.ordered():  # open ones, worst first
        held = {(alarms[i].rule, alarms[i].asset) for i in incident.alarms if i in alarms}
        score = (len(pairs & held), len(assets.intersection(incident.assets)))
        if score > most:
            best, most = incident, score
    was = f"recorded incident {recorded['id']} ({', '.join(recorded['assets'][:3])}{', ...' if len(recorded['assets']) > 3 else ''})"
    if best is None:
        return f"{action} at {offset:g} s: no open incident holds an alarm of {was}; not replayed"
    try:
        engine.incidents.act(best.id, action, record["who"], record["note"], engine.time, record.get("unit", ""))
    except (TwinError, KeyError) as exc:
        return f"{action} at {offset:g} s on incident {best.id}, for {was}: {exc}"
    return None


def replay_operator(engine: Engine, record: dict[str, Any]) -> str | None:
    """Replay one recorded operator action (:func:`recorded_operator`'s): on an incident
    (:func:`incident_replay`) or on an alarm (:func:`operator_act`); a warning if it
    finds none to act on."""
    if "incident" in record:
        return incident_replay(engine, record)
    return operator_act(engine, record["kind"], record["alarm"]["asset"], record["who"], record["note"],
                        record["alarm"]["rule"], _unit(record))


def respond(engine: Engine, event: Any) -> str | None:
    """A drill's scripted operator response (:class:`twin.runs.drill.Event` with
    ``operator``), to an alarm or to an incident; a warning if it finds none to act on."""
    if event.incident:
        return incident_act(engine, event.operator, event.incident, "drill script", event.note, event.unit)
    return operator_act(engine, event.operator, event.target, "drill script", event.note, unit=event.unit)


def run_drill(
    drill: Drill,
    engine: Engine,
    recorder: Any = None,
    speed: float | None = None,
    progress: Callable[[float], None] | None = None,
    background: bool = False,
) -> DrillResult:
    """Run ``drill`` on ``engine`` (built from the drill's scene, seed and dt); the drill's
    times are offsets from the engine's clock start, and so is what ``progress`` gets."""
    check_against(drill, engine)
    sim = engine.simulator
    if sim is None:
        raise ValueError("a drill needs the simulator (the world its incidents act on)")
    if not background:
        sim.incidents = []  # the scene's own background incidents are not part of a drill
    for e in drill.events:
        if e.action:
            sim.schedule(Incident(e.at, e.action, e.target, dict(e.params)))
    operator = [e for e in drill.events if e.operator]
    events: list[dict[str, Any]] = []
    warnings: list[str] = []
    incidents: dict[int, dict[str, Any]] = {}
    # its own, not the recorder's: a recorder that fails stops sampling, the scorer must not
    truth = TruthSampler(engine)
    truth.start()
    ticks = int(round(drill.duration / drill.dt))
    messages = _MessageRecorder(drill, recorder, 0.0)
    started = wallclock.monotonic()
    for n in range(ticks):
        while operator and engine.start + operator[0].at <= engine.time + 1e-9:
            e = operator.pop(0)
            problem = respond(engine, e)
            if problem:
                warnings.append(f"{drill.path}:{e.line}: {problem}")
        messages.due(engine)
        frame = engine.tick()
        if recorder is not None:
            recorder.record(frame)
        truth.after_tick(frame)
        events.extend(_event_dict(ev) for ev in frame.events)
        incidents.update((int(i["id"]), i) for i in frame.incidents)
        if progress is not None:
            progress(engine.time - engine.start)
        if speed:
            delay = started + (n + 1) * drill.dt / speed - wallclock.monotonic()
            if delay > 0:
                wallclock.sleep(delay)
    messages.due(engine)  # one at the drill's very end
    evidence = Evidence(truth.truth, incidents, applied_faults(engine), sensor_assets(engine.scene), engine.time)
    card = scorecard(drill, events, engine.start, evidence)
    return DrillResult(drill, card.scores, events, ticks, wallclock.monotonic() - started, warnings, card, evidence)


class _MessageRecorder:
    """Records a drill's ``[[messages]]`` at their moments on the recording's
    ``/exercise/message`` channel, as a live exercise does (twin.runs.exercise), so that a
    headless run's recording holds what the players would have been told."""

    def __init__(self, drill: Drill, recorder: Any, after: float) -> None:
        from twin.runs.exercise import drill_messages

        self.recorder = recorder
        #: those at or after ``after`` (a branch point), in time order
        self.pending = [m for m in drill_messages(drill) if m[0] >= after - 1e-9] if recorder is not None else []

    def due(self, engine: Engine) -> None:
        """Record every message whose moment has come (call it between ticks)."""
        from twin.runs.exercise import message_record

        while self.pending and engine.start + self.pending[0][0] <= engine.time + 1e-9:
            _, inject = self.pending.pop(0)
            self.recorder.record_event("/exercise/message", engine.time, message_record(inject, engine.time))


def applied_faults(engine: Engine) -> list[dict[str, Any]]:
    """The sensor faults the simulator applied so far, as ``/input/action`` records (run clock)."""
    sim = engine.simulator
    return [{"time": engine.start + i.at, "action": i.action, "target": i.asset, "params": dict(i.params)}
            for i in (sim.applied if sim is not None else []) if i.action.startswith("sensor.")]


def sensor_assets(scene: Any) -> dict[str, str]:
    """Each sensor's asset."""
    return {s.id: s.asset for s in scene.sensors}


# --------------------------------------------------------------------------- rerun


@dataclass
class AlarmDiff:
    asset: str
    rule: str
    level: int
    before: float | None  # first time the level was reached in the recording
    after: float | None  # ... in the rerun

    @property
    def change(self) -> str:
        if self.before is None:
            return "appears"
        if self.after is None:
            return "vanishes"
        d = self.after - self.before
        return "same" if abs(d) < 1e-9 else (f"{-d:g} s earlier" if d < 0 else f"{d:g} s later")


def first_levels(events: list[dict[str, Any]]) -> dict[tuple[str, str, int], float]:
    out: dict[tuple[str, str, int], float] = {}
    for ev in events:
        if ev["kind"] in ("raise", "escalate"):
            a = ev["alarm"]
            for level in range(1, a["level"] + 1):
                out.setdefault((a["asset"], a["rule"], level), ev["time"])
    return out


def compare(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[AlarmDiff]:
    a, b = first_levels(before), first_levels(after)
    keys = sorted(set(a) | set(b), key=lambda k: (min(a.get(k, np.inf), b.get(k, np.inf)), k))
    return [AlarmDiff(k[0], k[1], k[2], a.get(k), b.get(k)) for k in keys]


def _tick_number(t: float, start: float, dt: float) -> int:
    """Which tick of a run with clock ``start`` and tick ``dt`` ends at time ``t``."""
    return int(round((t - start) / dt))


def rerun(path: Path, config: dict[str, Any] | None, data_dir: Path | None = None,
          out: Path | None = None, warnings: list[str] | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Feed a recording's inputs to a twin with ``config``'s tables over the recording's
    own configuration (:func:`parent_config`), from the recording's clock start; return (recorded, rerun) alarm events. A recording cut short is re-run up to
    its last whole chunk. With ``out``, the rerun is recorded there: its frames, the
    inputs it was fed, the original's actions and ground truth (the same world), and
    metadata naming the original (``rerun_of``) and its drill.

    The operators' actions are replayed at their moments (:func:`recorded_operator`):
    those on alarms on the worst open alarm of the same asset and rule, those on an
    incident on the incident that holds its alarms (:func:`incident_replay`), which acts
    on its alarms as it did. One that finds nothing to act on is appended to ``warnings``
    (if given), one line each."""
    import json

    from twin.plugins.registry import load_registry
    from twin.runs.recording import INCIDENT_TOPIC, NS, Recorder, RecordingReader, decode_batch
    from twin.runtime import check_config, open_scene

    reader = RecordingReader(path)
    try:
        meta = reader.run_metadata()
        start = reader.clock_start
        messages = list(reader.messages(("/input/readings", "/alarm/event", "/operator/action", "/input/action", INCIDENT_TOPIC)))
    finally:
        reader.close()
    registry = load_registry()
    check_config(config, registry)
    scene = open_scene(Path(meta["scene_path"]), registry)
    # what is not changed stays as the recording ran (its [thresholds] and [alarms])
    engine = Engine(scene, registry, seed=int(meta["seed"]), dt=float(meta["dt"]), simulate=False,
                    config=parent_config(meta, config), start=start)
    recorded: list[dict[str, Any]] = []
    # by tick number from the start: at epoch seconds a float time has no 9 decimals to round to
    readings: dict[int, list[tuple[np.ndarray, ...]]] = {}
    operator: list[dict[str, Any]] = []
    on_incidents: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    last = start
    for topic, log_time, data in messages:
        t = log_time / NS
        if topic == "/input/action":
            actions.append(json.loads(data))
            continue
        if topic == INCIDENT_TOPIC:
            on_incidents.append(json.loads(data))
            continue
        last = max(last, t)
        if topic == "/input/readings":
            readings.setdefault(_tick_number(t, start, engine.dt), []).append(decode_batch(data))
        else:
            event = json.loads(data)
            recorded.append(event)
            if topic == "/operator/action":
                operator.append(event)
    recorded.sort(key=lambda e: e["time"])  # both topics interleave by log time already; keep it stable
    operator = recorded_operator(operator, on_incidents)
    recorder = None
    if out is not None:
        kept = {k: meta[k] for k in ("drill", "drill_path") if k in meta}
        recorder = Recorder(out, engine, {"rerun_of": str(Path(path).resolve()), **kept}, truth_from=path)
    replayed: list[dict[str, Any]] = []
    ticks = _tick_number(last, start, engine.dt)
    for n in range(ticks):
        while operator and operator[0]["time"] <= engine.time + 1e-9:
            problem = replay_operator(engine, operator.pop(0))
            if problem and warnings is not None:
                warnings.append(f"{path}: {problem}")
        while actions and actions[0]["time"] <= engine.time + engine.dt + 1e-9:
            # what acted on the world the readings come from: recorded again, not applied
            engine.actions.append(actions.pop(0))
        batches = readings.get(n + 1, [])
        batch = tuple(np.concatenate([b[i] for b in batches]) for i in range(4)) if batches else None
        frame = engine.tick(readings=batch)  # type: ignore[arg-type]
        if recorder is not None:
            recorder.record(frame)
        replayed.extend(_event_dict(ev) for ev in frame.events)
    if recorder is not None:
        recorder.close()
    engine.close()
    if recorder is not None and recorder.failed:
        from twin.runs.recording import RecordingError

        raise RecordingError(f"rerun of {path}: {recorder.error}")
    return recorded, replayed


@dataclass
class RerunResult:
    """A rerun recorded, compared and re-scored (:func:`rerun_and_score`)."""

    recorded: list[dict[str, Any]]
    replayed: list[dict[str, Any]]
    diffs: list[AlarmDiff]
    #: the rerun's recording
    out: Path
    #: the drill's expectations re-scored on the rerun (None: the recording names no drill file)
    card: Scorecard | None
    #: the report written of the rerun (twin.runs.report.Report), if asked for
    report: Any = None
    #: the recorded operator actions the rerun found nothing to act on (:func:`rerun`)
    warnings: list[str] = field(default_factory=list)


def rerun_and_score(path: Path, config: dict[str, Any] | None, out: Path, report: Path | None = None, lang: str = "en",
                    data_dir: Path | None = None) -> RerunResult:
    """Re-run ``path`` with ``config`` into the recording ``out``, compare its alarms
    with the recorded ones, re-score the drill the recording names (its ``drill_path``)
    on it, against the original's ground truth, and write its report into the folder
    ``report`` (none: no report)."""
    warnings: list[str] = []
    recorded, replayed = rerun(path, config, data_dir, out=out, warnings=warnings)
    card = score_recording(out)
    written = None
    if report is not None:
        from twin.runs.report import write_report

        written = write_report(out, report, lang=lang)
    return RerunResult(recorded, replayed, compare(recorded, replayed), out, card, written, warnings)


# -------------------------------------------------------------------------- branch


def parent_config(meta: dict[str, str], config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The configuration a recording ran with (its ``[thresholds]`` and ``[alarms]``,
    from its ``twin.run`` metadata), with ``config``'s tables over it: a branch runs as
    its parent did unless told otherwise."""
    import json

    from twin.tick.engine import _merge

    recorded: dict[str, Any] = {}
    for key, name in (("config", "thresholds"), ("alarms", "alarms")):
        table = json.loads(meta.get(key, "{}") or "{}")
        if table:
            recorded[name] = table
    return _merge(recorded, config or {})


def branch_engine(path: Path, at: float, data_dir: Path | None = None, config: dict[str, Any] | None = None,
                  warnings: list[str] | None = None) -> Engine:
    """A live twin in the state a recording had at ``at`` seconds from its clock start
    (an offset, whatever the clock: the twin's clock is then ``engine.start + at``),
    configured as the recording's run was (its ``[thresholds]`` and ``[alarms]``), with
    ``config``'s tables over them.

    Runs are deterministic, so the twin is re-run from the start with the recording's
    scene, seed and recorded actions (drill events, background incidents, a director's
    actions, operator responses) up to ``at``: this restores the simulator's truth and
    every plugin's inner state too, which a keyframe of the streamed fields could not.
    Operator actions on incidents are replayed on the incident holding the same alarms
    (:func:`rerun`); one that finds nothing to act on is appended to ``warnings``.
    From there it runs live with whatever actions come next. A recording cut short
    branches at any moment up to its last whole chunk; RecordingError past its end.
    """
    import json

    from twin.plugins.registry import load_registry
    from twin.runs.recording import INCIDENT_TOPIC, RecordingError, RecordingReader, when
    from twin.runtime import open_scene

    reader = RecordingReader(path)
    try:
        meta = reader.run_metadata()
        start = reader.clock_start
        if start + at > reader.end + 1e-9:
            cut = "" if reader.complete else " (it was cut short: it holds data up to there)"
            raise RecordingError(f"{path}: cannot branch at {when(at)}: the recording ends at {when(reader.end - start)}{cut}")
        messages = list(reader.messages(("/input/action", "/operator/action", INCIDENT_TOPIC)))
    finally:
        reader.close()
    registry = load_registry()
    scene = open_scene(Path(meta["scene_path"]), registry)
    engine = Engine(scene, registry, seed=int(meta["seed"]), dt=float(meta["dt"]), simulate=True,
                    config=parent_config(meta, config), start=start)
    sim = engine.simulator
    assert sim is not None
    sim.incidents = []
    operator: list[dict[str, Any]] = []
    on_incidents: list[dict[str, Any]] = []
    # recorded times are the run's clock; incidents are scheduled as offsets from its start
    for topic, _, data in messages:
        record = json.loads(data)
        if topic == "/input/action" and record["time"] < start + at + 1e-9:
            sim.schedule(Incident(record["time"] - start, record["action"], record["target"], dict(record["params"])))
        elif topic == "/operator/action" and record["time"] < start + at + 1e-9:
            operator.append(record)
        elif topic == INCIDENT_TOPIC and record["time"] < start + at + 1e-9:
            on_incidents.append(record)
    operator = recorded_operator(operator, on_incidents)
    for _ in range(int(round(at / engine.dt))):
        while operator and operator[0]["time"] <= engine.time + 1e-9:
            problem = replay_operator(engine, operator.pop(0))
            if problem and warnings is not None:
                warnings.append(f"{path}: {problem}")
        engine.tick()
    return engine


# ------------------------------------------------------------------------- scoring


def recorded_run(path: Path, until: float | None = None) -> tuple[list[dict[str, Any]], Evidence, dict[str, str], float]:
    """What a recording shows for the scorer, up to ``until`` (run clock) if given: its
    alarm events and operator actions in order, the evidence (its ground truth, the
    latest record of each incident, the sensor faults applied, where it ends), its
    ``twin.run`` metadata and its clock start. A branch's recording holds its run from
    the branch point only: see :func:`score_recording`."""
    import json

    from twin.runs.recording import RecordingReader, ns
    from twin.runs.truth import read_truth
    from twin.serving import protocol as p

    reader = RecordingReader(Path(path))
    try:
        meta = reader.run_metadata()
        start = reader.clock_start
        events: list[dict[str, Any]] = []
        faults: list[dict[str, Any]] = []
        incidents: dict[int, dict[str, Any]] = {}
        topics = ("/alarm/event", "/operator/action", "/input/action", "/frame/keyframe", "/frame/delta")
        for topic, _, data in reader.messages(topics, end=None if until is None else ns(until)):
            if topic in ("/frame/keyframe", "/frame/delta"):
                message, _ = p.decode_server(data)
                incidents.update((int(i["id"]), i) for i in getattr(message, "incidents", None) or ())
                continue
            record = json.loads(data)
            if topic != "/input/action":
                events.append(record)
            elif record["action"].startswith("sensor.") and (until is None or record["time"] <= until + 1e-9):
                faults.append(record)
        end = reader.end if until is None else min(reader.end, until)
    finally:
        reader.close()
    return events, Evidence(read_truth(Path(path), until), incidents, faults, {}, end), meta, start


def _whole_run(path: Path, until: float | None = None) -> tuple[list[dict[str, Any]], Evidence, dict[str, str], float]:
    """:func:`recorded_run`, with a branch's recording preceded by its parent's up to the
    branch point (and so on up, for a branch of a branch)."""
    events, evidence, meta, start = recorded_run(path, until)
    if "parent" not in meta or "branch_time" not in meta:
        return events, evidence, meta, start
    at = start + float(meta["branch_time"])
    before, earlier, _, _ = _whole_run(Path(meta["parent"]), at)
    truth = evidence.truth
    if earlier.truth is not None:
        truth = earlier.truth.until(at).then(truth) if truth is not None else earlier.truth
    merged = Evidence(truth, {**earlier.incidents, **evidence.incidents},
                      [f for f in earlier.faults if f["time"] <= at + 1e-9] + [f for f in evidence.faults if f["time"] > at + 1e-9],
                      {}, evidence.end)
    return [e for e in before if e["time"] <= at + 1e-9] + [e for e in events if e["time"] > at + 1e-9], merged, meta, start


def score_recording(path: Path, drill: Drill | None = None) -> Scorecard | None:
    """Score a recording as one run: ``drill``'s expectations (default: the drill file
    its metadata names, ``drill_path``; None when it names none that exists) against its
    alarm events and what else it keeps (the truth, incidents, sensor faults). A
    branch's recording is scored with its parent's run before the branch point and its
    own after it; a rerun's with the truth of the run it re-ran."""
    events, evidence, meta, start = _whole_run(Path(path))
    if drill is None:
        drill_path = meta.get("drill_path", "")
        if not drill_path or not Path(drill_path).is_file():
            return None
        drill = load_drill(Path(drill_path))
    if evidence.faults:
        evidence.sensors = _scene_sensors(meta)
    return scorecard(drill, events, start, evidence)


def _scene_sensors(meta: dict[str, str]) -> dict[str, str]:
    """Each sensor's asset, from the recording's scene; empty if it cannot be read (the
    scorecard then names faulty sensors by their faults only)."""
    from twin.plugins.registry import load_registry
    from twin.runtime import open_scene

    try:
        return sensor_assets(open_scene(Path(meta["scene_path"]), load_registry()))
    except Exception:  # a scene moved or changed since: the detail is left out, the score stands
        return {}


@dataclass
class BranchResult:
    """A branch run (:func:`run_branch`)."""

    out: Path
    #: the branch point and where it ran to (offsets from the clock start)
    at: float
    end: float
    #: the drill's expectations scored on the whole run (None without a drill)
    card: Scorecard | None
    warnings: list[str] = field(default_factory=list)


def run_branch(recording: Path, at: float, out: Path, drill: Drill | None = None, duration: float | None = None,
               data_dir: Path | None = None) -> BranchResult:
    """Restore ``recording`` at ``at`` seconds from its clock start, run on from there
    with ``drill``'s events at or after ``at`` for ``duration`` seconds (default: to the
    drill's end, else 10 minutes), recorded to ``out``; then score the drill's
    expectations on the branch as one run: its parent's before the branch point, its
    own after (:func:`score_recording`). An expectation met before the branch point
    stays met."""
    from twin.runs.recording import Recorder, RecordingError
    from twin.runs.drill import clock

    warnings: list[str] = []
    engine = branch_engine(recording, at, data_dir, warnings=warnings)
    try:
        if drill is not None:
            check_against(drill, engine)
        end = at + duration if duration is not None else (drill.duration if drill else at + 600.0)
        meta = {"parent": str(Path(recording).resolve()), "branch_time": repr(at)}
        if drill is not None:
            meta.update(drill=drill.name, drill_path=str(drill.path.resolve()))
        recorder = Recorder(out, engine, meta)
        scheduled = [e for e in (drill.events if drill else []) if e.at >= at]
        for e in scheduled:
            if e.action:
                engine.simulator.schedule(Incident(e.at, e.action, e.target, dict(e.params)))  # type: ignore[union-attr]
        operator = [e for e in scheduled if e.operator]
        messages = _MessageRecorder(drill, recorder, at) if drill is not None else None
        # the branch point, the duration and the drill's times are offsets from the recording's clock start
        while engine.time - engine.start < end - 1e-9:
            while operator and engine.start + operator[0].at <= engine.time + 1e-9:
                e = operator.pop(0)
                problem = respond(engine, e)
                if problem and drill is not None:
                    warnings.append(f"{drill.path}:{e.line}: {problem}")
            if messages is not None:
                messages.due(engine)
            recorder.record(engine.tick())
        recorder.close()
        reached = engine.time - engine.start
    finally:
        engine.close()
    if recorder.failed:
        raise RecordingError(f"branched {recording} at {clock(at)} and ran to {clock(reached)}, but {recorder.error}")
    card = score_recording(out, drill) if drill is not None else None
    return BranchResult(out, at, reached, card, warnings)
