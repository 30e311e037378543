"""Running drills headless, and re-running recordings through changed configuration.

A rerun feeds a recording's raw readings and operator actions, tick by tick, to a fresh
twin (no simulator) built with another configuration, and lists how the alarms differ:
the "what if" of a drill team.
"""

from __future__ import annotations

import time as wallclock
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twin.runs.drill import Drill, Score, check_against, score
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

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.scores)


def _event_dict(e: Any) -> dict[str, Any]:
    return {"kind": e.kind, "time": e.time, "alarm": e.alarm, "who": e.who, "note": e.note}


def operator_act(engine: Engine, action: str, asset: str, who: str, note: str, rule: str = "") -> str | None:
    """Apply an operator action to the worst open alarm of ``asset`` ("*": to every open
    alarm the action fits, as an operator's "acknowledge all"); a warning if none fits,
    naming the moment as an offset from the run's start."""
    offset = engine.time - engine.start
    if asset == "*":
        state = {"acknowledge": "raised", "dispatch": "acknowledged", "resolve": "dispatched"}[action]
        targets = [a for a in engine.alarms.active() if a.state == state]
        for alarm in targets:
            engine.alarms.act(alarm.id, action, who, note, engine.time)
        return None if targets else f"{action} at {offset:g} s: no open alarm to {action}"
    candidates = [a for a in engine.alarms.active() if a.asset == asset and (not rule or a.rule == rule)]
    if not candidates:
        return f"{action} at {offset:g} s: no open alarm on {asset}"
    alarm = max(candidates, key=lambda a: (a.level, -a.id))
    try:
        engine.alarms.act(alarm.id, action, who, note, engine.time)
    except Exception as exc:
        return f"{action} at {offset:g} s on {asset}: {exc}"
    return None


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
    ticks = int(round(drill.duration / drill.dt))
    started = wallclock.monotonic()
    for n in range(ticks):
        while operator and engine.start + operator[0].at <= engine.time + 1e-9:
            e = operator.pop(0)
            problem = operator_act(engine, e.operator, e.target, "drill script", e.note)
            if problem:
                warnings.append(f"{drill.path}:{e.line}: {problem}")
        frame = engine.tick()
        if recorder is not None:
            recorder.record(frame)
        events.extend(_event_dict(ev) for ev in frame.events)
        if progress is not None:
            progress(engine.time - engine.start)
        if speed:
            delay = started + (n + 1) * drill.dt / speed - wallclock.monotonic()
            if delay > 0:
                wallclock.sleep(delay)
    return DrillResult(drill, score(drill, events, engine.start), events, ticks, wallclock.monotonic() - started, warnings)


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


def rerun(path: Path, config: dict[str, Any] | None, data_dir: Path | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Feed a recording's inputs to a twin with ``config``, from the recording's clock
    start; return (recorded, rerun) alarm events. A recording cut short is re-run up to
    its last whole chunk."""
    import json

    from twin.plugins.registry import load_registry
    from twin.runs.recording import NS, RecordingReader, decode_batch
    from twin.runtime import check_config, open_scene

    reader = RecordingReader(path)
    try:
        meta = reader.run_metadata()
        start = reader.clock_start
        messages = list(reader.messages(("/input/readings", "/alarm/event", "/operator/action")))
    finally:
        reader.close()
    registry = load_registry()
    check_config(config, registry)
    scene = open_scene(Path(meta["scene_path"]), registry)
    engine = Engine(scene, registry, seed=int(meta["seed"]), dt=float(meta["dt"]), simulate=False, config=config or {}, start=start)
    recorded: list[dict[str, Any]] = []
    # by tick number from the start: at epoch seconds a float time has no 9 decimals to round to
    readings: dict[int, list[tuple[np.ndarray, ...]]] = {}
    operator: list[dict[str, Any]] = []
    last = start
    for topic, log_time, data in messages:
        t = log_time / NS
        last = max(last, t)
        if topic == "/input/readings":
            readings.setdefault(_tick_number(t, start, engine.dt), []).append(decode_batch(data))
        else:
            event = json.loads(data)
            recorded.append(event)
            if topic == "/operator/action":
                operator.append(event)
    recorded.sort(key=lambda e: e["time"])  # both topics interleave by log time already; keep it stable
    replayed: list[dict[str, Any]] = []
    ticks = _tick_number(last, start, engine.dt)
    for n in range(ticks):
        while operator and operator[0]["time"] <= engine.time + 1e-9:
            e = operator.pop(0)
            operator_act(engine, e["kind"], e["alarm"]["asset"], e["who"], e["note"], e["alarm"]["rule"])
        batches = readings.get(n + 1, [])
        batch = tuple(np.concatenate([b[i] for b in batches]) for i in range(4)) if batches else None
        frame = engine.tick(readings=batch)  # type: ignore[arg-type]
        replayed.extend(_event_dict(ev) for ev in frame.events)
    engine.close()
    return recorded, replayed


# -------------------------------------------------------------------------- branch


def branch_engine(path: Path, at: float, data_dir: Path | None = None, config: dict[str, Any] | None = None) -> Engine:
    """A live twin in the state a recording had at ``at`` seconds from its clock start
    (an offset, whatever the clock: the twin's clock is then ``engine.start + at``).

    Runs are deterministic, so the twin is re-run from the start with the recording's
    scene, seed and recorded actions (drill events, background incidents, a director's
    actions, operator responses) up to ``at``: this restores the simulator's truth and
    every plugin's inner state too, which a keyframe of the streamed fields could not.
    From there it runs live with whatever actions come next. A recording cut short
    branches at any moment up to its last whole chunk; RecordingError past its end.
    """
    import json

    from twin.plugins.registry import load_registry
    from twin.runs.recording import RecordingError, RecordingReader, when
    from twin.runtime import open_scene

    reader = RecordingReader(path)
    try:
        meta = reader.run_metadata()
        start = reader.clock_start
        if start + at > reader.end + 1e-9:
            cut = "" if reader.complete else " (it was cut short: it holds data up to there)"
            raise RecordingError(f"{path}: cannot branch at {when(at)}: the recording ends at {when(reader.end - start)}{cut}")
        messages = list(reader.messages(("/input/action", "/operator/action")))
    finally:
        reader.close()
    registry = load_registry()
    scene = open_scene(Path(meta["scene_path"]), registry)
    engine = Engine(scene, registry, seed=int(meta["seed"]), dt=float(meta["dt"]), simulate=True, config=config or {}, start=start)
    sim = engine.simulator
    assert sim is not None
    sim.incidents = []
    operator: list[dict[str, Any]] = []
    # recorded times are the run's clock; incidents are scheduled as offsets from its start
    for topic, _, data in messages:
        record = json.loads(data)
        if topic == "/input/action" and record["time"] < start + at + 1e-9:
            sim.schedule(Incident(record["time"] - start, record["action"], record["target"], dict(record["params"])))
        elif topic == "/operator/action" and record["time"] < start + at + 1e-9:
            operator.append(record)
    for _ in range(int(round(at / engine.dt))):
        while operator and operator[0]["time"] <= engine.time + 1e-9:
            e = operator.pop(0)
            operator_act(engine, e["kind"], e["alarm"]["asset"], e["who"], e["note"], e["alarm"]["rule"])
        engine.tick()
    return engine
