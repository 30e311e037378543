"""Drills: scripted incidents with expectations that score the run.

A drill is a TOML file (docs/drills.md is its reference, generated from
:mod:`twin.runs.drillfile`)::

    [drill]
    name = "Gas leak beside a manhole"
    scene = "../scenes/demo"      # relative to this file
    seed = 7
    duration = "00:10:00"         # or seconds
    start = 2026-07-15T14:00:00+08:00   # optional: else the scene's start

    [[series]]                    # a value over time carried by an action (a storm)
    action = "drainage.rain"
    target = "D-MH-0001"
    param = "intensity"
    points = [[0, 0.0], [120, 80.0], [1800, 0.0]]   # [moment, mm/h], held until the next

    [[events]]                    # a plugin action, or sensor.stuck|drift|dead|repair
    at = "00:00:05"
    action = "gas.leak"
    target = "G-M-0028"
    params = { diameter = 0.012 }

    [[events]]                    # a scripted operator response
    at = "00:01:30"
    operator = "acknowledge"      # acknowledge | dispatch | resolve
    target = "G-MH-0055"          # the asset whose open alarm it acts on; "*" for all
    note = "crew on the way"

    [[expect]]                    # by a moment, an alarm of at least a level on an asset
    by = "00:05:00"
    asset = "G-MH-0055"
    level = "orange"

Moments are offsets from the drill's clock start. :func:`load_drill` checks the file
against its declaration, :func:`check_against` against the scene and the plugins:
``twin drill check`` reports every problem with the file's line and the key, and
``twin drill run`` never meets a drill that check refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from twin.declared import check, check_tables
from twin.errors import TwinError
from twin.runs.drillfile import LEVELS, OPERATOR_ACTIONS, DrillFile, DrillHead, Moment, seconds
from twin.runs.drillfile import Event as DeclaredEvent
from twin.runs.drillfile import Expect as DeclaredExpect
from twin.tomlfile import TomlFile, shown

__all__ = ["LEVELS", "OPERATOR_ACTIONS", "DrillError", "Event", "Expectation", "Drill", "clock", "load_drill", "check_against",
           "Score", "score"]


class DrillError(TwinError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"the drill has {len(problems)} problem(s):\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Event:
    """A timed action, sensor fault or operator response of a drill (a ``[[series]]``
    point is an action too)."""

    at: float
    target: str
    action: str = ""
    operator: str = ""
    params: dict[str, float] = field(default_factory=dict)
    note: str = ""
    line: int = 0
    #: where it stands in the file (``("events", 2)``, ``("series", 0)``)
    keys: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Expectation:
    kind: str  # "by", "never", "acknowledged_within"
    level: int
    line: int
    time: float = 0.0
    asset: str = ""
    domain: str = ""
    rule: str = ""
    keys: tuple[Any, ...] = ()

    def describe(self) -> str:
        name = ("none", "blue", "yellow", "orange", "red")[self.level]
        on = "".join(f" {word} {value}" for word, value in (("on", self.asset), ("in", self.domain)) if value)
        rule = f" ({self.rule})" if self.rule else ""
        if self.kind == "by":
            return f"by {clock(self.time)} an alarm of at least {name} on {self.asset}{rule}"
        if self.kind == "never":
            return f"no alarm of {name} or worse{on}{rule}"
        return f"every alarm of at least {name}{on}{rule} acknowledged within {self.time:g} s"


@dataclass
class Drill:
    path: Path
    name: str
    scene: Path
    seed: int
    duration: float
    dt: float
    events: list[Event]
    expectations: list[Expectation]
    config: dict[str, Any]
    #: the first instant of its clock, UTC epoch seconds; None: its scene's
    start: float | None = None
    name_zh: str = ""
    #: the file as read, with the lines of its keys
    toml: TomlFile | None = None
    #: what :func:`load_drill` with ``keep_going`` found wrong (its entries are left out)
    problems: list[str] = field(default_factory=list)
    #: ``[[messages]]`` to the players of a live exercise: (moment, declaration, line), in
    #: time order; a headless run leaves them out (twin.runs.exercise plays them)
    messages: list[tuple[float, Any, int]] = field(default_factory=list)


def clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _seconds(value: Any) -> float | None:
    """A moment as the drill format writes it (seconds >= 0 or "HH:MM:SS"), in seconds;
    None when it is not one (the command line's ``--at`` and ``--duration``)."""
    try:
        return seconds(msgspec.convert(value, Moment))
    except msgspec.ValidationError:
        return None


def load_drill(path: str | Path, keep_going: bool = False) -> Drill:
    """Parse a drill file and check it against its declaration
    (:class:`twin.runs.drillfile.DrillFile`) and its own end: DrillError naming every
    problem's line and key. Not yet against a scene: see :func:`check_against`. With
    ``keep_going``, a drill whose ``[drill]`` table is right comes back with its valid
    entries and the problems in :attr:`Drill.problems`, which :func:`check_against`
    reports with its own (``twin drill check`` names every problem at once)."""
    path = Path(path)
    problems: list[str] = []
    toml = TomlFile.read(path, "a drill file (TOML)", problems)
    if toml is None:
        raise DrillError(problems)
    tables = check_tables(toml, DrillFile, problems)
    head: DrillHead | None = tables["drill"]
    if head is None:
        raise DrillError(problems)
    duration = seconds(head.duration)

    def late(moment: float, keys: tuple[Any, ...]) -> bool:
        if moment > duration + 1e-9:
            problems.append(f"{toml.where(keys)} = {shown(toml.value(keys))}: after the drill's end; expected a moment "
                            f"up to its duration, {clock(duration)}")
            return True
        return False

    events: list[Event] = []
    for n, entry in enumerate(tables["events"]):
        if entry is None:
            continue
        keys = ("events", n)
        at = seconds(entry.at)
        if not late(at, keys + ("at",)):
            events.append(Event(at, entry.target, entry.action or "", entry.operator or "", dict(entry.params), entry.note,
                                toml.line(keys) or 0, keys))
    for n, series in enumerate(tables["series"]):
        if series is None:
            continue
        keys = ("series", n)
        times = [seconds(t) for t, _ in series.points]
        for i, ((moment, value), end) in enumerate(zip(zip(times, (v for _, v in series.points)), times[1:] + [duration])):
            if moment > duration + 1e-9:
                continue  # past the end, it still says how long the value before it holds
            params = {series.param: float(value)}
            if series.duration_param:
                params[series.duration_param] = max(end - moment, 0.0)
            events.append(Event(moment, series.target, series.action, params=params, line=toml.line(keys + ("points", i)) or 0,
                                keys=keys))

    expectations: list[Expectation] = []
    for n, x in enumerate(tables["expect"]):
        if x is None:
            continue
        keys = ("expect", n)
        kind = x.kind
        time = seconds(x.by) if kind == "by" else seconds(x.acknowledged_within) if kind == "acknowledged_within" else 0.0
        if kind == "by" and late(time, keys + ("by",)):
            continue
        expectations.append(Expectation(kind, LEVELS[x.level], toml.line(keys) or 0, time=time, asset=x.asset, domain=x.domain,
                                        rule=x.rule, keys=keys))
    messages = []
    for n, message in enumerate(tables["messages"]):
        if message is not None and not late(seconds(message.at), ("messages", n, "at")):
            messages.append((seconds(message.at), message, toml.line(("messages", n)) or 0))
    if problems and not keep_going:
        raise DrillError(problems)
    start = head.start.timestamp() if head.start is not None else None
    return Drill(path, head.name, (path.parent / head.scene).resolve(), head.seed, duration, float(head.dt),
                 sorted(events, key=lambda e: e.at), expectations,
                 {k: v for k, v in toml.data.items() if k in ("thresholds", "alarms")}, start, head.name_zh, toml, problems,
                 sorted(messages, key=lambda m: m[0]))


def check_against(drill: Drill, engine: Any) -> None:
    """Check a drill against a loaded twin: each target exists and is of a kind its
    action applies to, each action or sensor fault exists and its parameters are those
    it declares, within their ranges; each expectation's asset and domain exist; its
    ``[thresholds]`` name the plugins' parameters. DrillError naming every problem."""
    from twin.plugins.actions import SENSOR_FAULTS
    from twin.tick.params import thresholds_type

    problems: list[str] = list(drill.problems)
    toml = drill.toml or TomlFile.unplaced({}, str(drill.path))
    scene = engine.scene.name
    sensors = {s.id for s in engine.scene.sensors}
    faults = {name: params for name, _, params in SENSOR_FAULTS}
    registry = engine.registry
    for e in drill.events:
        def where(key: str, e: Event = e) -> str:
            # a [[series]] point's parameters stand under its `param`
            return toml.where(e.keys + ("param" if e.keys[:1] == ("series",) and key == "params" else key,))

        if e.operator:
            if e.target != "*" and e.target not in engine.world.locations:
                problems.append(f"{where('target')}: {e.target!r} is not an asset of scene {scene!r}")
            continue
        if e.action.startswith("sensor."):
            if e.action not in faults:
                problems.append(f"{where('action')}: {e.action!r} is not a sensor fault; valid: {', '.join(faults)}")
                continue
            if e.target not in sensors:
                problems.append(f"{where('target')}: {e.target!r} is not a sensor of scene {scene!r}")
            problems.extend(_param_problems(where("params"), e, faults[e.action]))
            continue
        if e.action not in registry.actions:
            known = ", ".join([*sorted(registry.actions), *faults])
            problems.append(f"{where('action')}: unknown action {e.action!r}; known: {known}")
            continue
        _, action = registry.actions[e.action]
        located = engine.world.locations.get(e.target)
        if located is None:
            problems.append(f"{where('target')}: {e.target!r} is not an asset of scene {scene!r}")
        else:
            domain, row = located
            kind = engine.world.tables[domain].kind_names[engine.world.tables[domain].kind[row]]
            domain_kinds = [k.name for k in registry.domains[action.domain].kinds] if action.domain in registry.domains else []
            kinds = list(action.kinds) or domain_kinds
            if domain != action.domain or kind not in kinds:
                problems.append(f"{where('target')}: {e.target!r} is a {domain} {kind}; {e.action} acts on "
                                f"{action.domain} {', '.join(kinds) or '(no kind)'}")
        problems.extend(_param_problems(where("params"), e, action.params))
    for x in drill.expectations:
        if x.asset and x.asset not in engine.world.locations:
            problems.append(f"{toml.where(x.keys + ('asset',))}: {x.asset!r} is not an asset of scene {scene!r}")
        if x.domain and x.domain not in engine.world.tables:
            problems.append(f"{toml.where(x.keys + ('domain',))}: {x.domain!r} is not installed; known: {', '.join(engine.world.tables)}")
    if "thresholds" in toml.data:
        check(toml, thresholds_type(registry), problems, keys=("thresholds",))
    if problems:
        raise DrillError(problems)


def _param_problems(where: str, event: Event, declared: tuple[Any, ...]) -> list[str]:
    """What is wrong with an action's parameters against its declaration (names,
    required ones, valid ranges)."""
    out = []
    params = {p.name: p for p in declared}
    for key, value in event.params.items():
        p = params.get(key)
        if p is None:
            out.append(f"{where}: {event.action!r} has no parameter {key!r}; it takes {', '.join(params) or 'none'}")
        elif not p.valid[0] <= value <= p.valid[1]:
            out.append(f"{where}: {key} = {value:g}; {event.action} takes {key} in {_range(p.valid)} {p.unit}")
    for p in declared:
        if p.default is None and p.name not in event.params:
            out.append(f"{where}: {event.action!r} needs {p.name} ({p.unit}, {_range(p.valid)}): {p.description}")
    return out


def _range(valid: tuple[float, float]) -> str:
    low, high = valid
    return f"[{'-inf' if math.isinf(low) else f'{low:g}'}, {'inf' if math.isinf(high) else f'{high:g}'}]"


@dataclass
class Score:
    expectation: Expectation
    passed: bool
    detail: str


def score(drill: Drill, events: list[dict[str, Any]], start: float = 0.0) -> list[Score]:
    """Score a run from its alarm events (each {kind, time, alarm, ...}, in order);
    ``start`` is the run's clock start, which the drill's times are offsets from."""
    first_level: dict[tuple[str, str], dict[int, float]] = {}
    raised: dict[int, tuple[float, int, dict[str, Any]]] = {}
    acked: dict[int, float] = {}
    peaks: dict[int, dict[str, Any]] = {}
    for ev in events:
        a = ev["alarm"]
        key = (a["asset"], a["rule"])
        offset = ev["time"] - start
        if ev["kind"] in ("raise", "escalate"):
            levels = first_level.setdefault(key, {})
            for lvl in range(1, a["level"] + 1):
                levels.setdefault(lvl, offset)
        if ev["kind"] == "raise":
            raised[a["id"]] = (offset, a["level"], a)
        if ev["kind"] == "acknowledge":
            acked.setdefault(a["id"], offset)
        peaks[a["id"]] = a
    out = []
    for x in drill.expectations:
        if x.kind == "by":
            times = [lv[x.level] for (asset, rule), lv in first_level.items()
                     if asset == x.asset and (not x.rule or rule == x.rule) and x.level in lv]
            when = min(times) if times else None
            ok = when is not None and when <= x.time
            out.append(Score(x, ok, f"reached at {clock(when)}" if when is not None else "never reached"))
        elif x.kind == "never":
            bad = [a for a in peaks.values() if a["peak_level"] >= x.level and _about(x, a)]
            out.append(Score(x, not bad, "none" if not bad else f"{len(bad)}: " + ", ".join(sorted({a['asset'] for a in bad}))[:200]))
        else:
            late = []
            for alarm_id, (t, _, a) in raised.items():
                if peaks[alarm_id]["peak_level"] < x.level or not _about(x, a):
                    continue
                ack = acked.get(alarm_id)
                if ack is None and drill.duration - t <= x.time:
                    continue  # raised too near the end to judge
                if ack is None or ack - t > x.time:
                    late.append(f"{a['asset']} ({'not acknowledged' if ack is None else f'{ack - t:.0f} s'})")
            out.append(Score(x, not late, "all in time" if not late else "late: " + ", ".join(late)[:200]))
    return out


def _about(x: Expectation, alarm: dict[str, Any]) -> bool:
    """Whether ``alarm`` is one the expectation's ``asset``, ``domain`` and ``rule`` name
    (each that is given)."""
    return ((not x.asset or alarm["asset"] == x.asset) and (not x.domain or alarm["domain"] == x.domain)
            and (not x.rule or alarm["rule"] == x.rule))
