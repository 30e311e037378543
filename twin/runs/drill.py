"""Drills: scripted incidents with expectations that score the run.

A drill is a TOML file::

    [drill]
    name = "Gas leak beside a manhole"
    scene = "../scenes/demo"      # relative to this file
    seed = 7
    duration = "00:10:00"         # or seconds
    dt = 1.0

    [weather]                     # optional: rain over time, as a plugin action
    action = "drainage.rain"
    target = "D-MH-0001"
    rain = [[0, 0.0], [120, 80.0], [1800, 0.0]]   # [seconds, mm/h], held until the next point

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

    [[expect]]                    # by a time, an alarm of at least a level on an asset
    by = "00:05:00"
    asset = "G-MH-0055"
    level = "orange"

    [[expect]]                    # never: no alarm of at least a level in a domain
    never = true
    domain = "tunnel"
    level = "red"

    [[expect]]                    # every alarm of at least a level acknowledged in time
    acknowledged_within = 120
    level = "yellow"

``twin drill check`` reports every problem with the file's line and the field.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin.errors import TwinError

LEVELS = {"blue": 1, "iv": 1, "yellow": 2, "iii": 2, "orange": 3, "ii": 3, "red": 4, "i": 4}
OPERATOR_ACTIONS = ("acknowledge", "dispatch", "resolve")


class DrillError(TwinError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"the drill has {len(problems)} problem(s):\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Event:
    at: float
    target: str
    action: str = ""
    operator: str = ""
    params: dict[str, float] = field(default_factory=dict)
    note: str = ""
    line: int = 0


@dataclass(frozen=True)
class Expectation:
    kind: str  # "by", "never", "acknowledged_within"
    level: int
    line: int
    time: float = 0.0
    asset: str = ""
    domain: str = ""
    rule: str = ""

    def describe(self) -> str:
        name = ("none", "blue", "yellow", "orange", "red")[self.level]
        if self.kind == "by":
            return f"by {clock(self.time)} an alarm of at least {name} on {self.asset}" + (f" ({self.rule})" if self.rule else "")
        if self.kind == "never":
            return f"no alarm of {name} or worse" + (f" in {self.domain}" if self.domain else "")
        return f"every alarm of at least {name} acknowledged within {self.time:g} s"


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


def clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value >= 0 else None
    if isinstance(value, str):
        m = re.fullmatch(r"(\d+):([0-5]\d):([0-5]\d(?:\.\d+)?)", value.strip())
        if m:
            return int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
    return None


def _level(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 4:
        return value
    if isinstance(value, str):
        return LEVELS.get(value.strip().lower())
    return None


def _table_lines(text: str, name: str) -> list[int]:
    """Line numbers of each ``[[name]]`` header, in order."""
    return [i for i, line in enumerate(text.splitlines(), start=1) if line.strip().startswith(f"[[{name}]]")]


def load_drill(path: str | Path) -> Drill:
    """Parse and validate a drill file (not yet against a scene: see :func:`check_against`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DrillError([f"{path}: no such file"]) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DrillError([f"{path}: not valid TOML: {exc}"]) from None
    problems: list[str] = []
    head = doc.get("drill")
    head_line = next((i for i, l in enumerate(text.splitlines(), 1) if l.strip() == "[drill]"), 1)
    if not isinstance(head, dict):
        raise DrillError([f"{path}: a drill needs a [drill] table with name, scene, seed and duration"])
    where = f"{path}:{head_line} [drill]"
    name = head.get("name")
    if not isinstance(name, str) or not name:
        problems.append(f"{where}: name must be a non-empty string")
    scene = head.get("scene")
    if not isinstance(scene, str):
        problems.append(f"{where}: scene must be a path to a scene folder, relative to the drill file")
        scene = "."
    seed = head.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        problems.append(f"{where}: seed = {seed!r}; expected an integer")
        seed = 0
    duration = _seconds(head.get("duration"))
    if duration is None or duration <= 0:
        problems.append(f"{where}: duration = {head.get('duration')!r}; expected seconds or \"HH:MM:SS\" above zero")
        duration = 0.0
    dt = head.get("dt", 1.0)
    if not isinstance(dt, (int, float)) or dt <= 0:
        problems.append(f"{where}: dt = {dt!r}; expected a tick length in seconds above zero")
        dt = 1.0

    events: list[Event] = []
    for n, (entry, line) in enumerate(zip(doc.get("events", []), _table_lines(text, "events")), start=1):
        w = f"{path}:{line} [[events]] #{n}"
        at = _seconds(entry.get("at"))
        if at is None:
            problems.append(f"{w}: at = {entry.get('at')!r}; expected seconds or \"HH:MM:SS\"")
            continue
        if duration and at > duration:
            problems.append(f"{w}: at {clock(at)} is after the drill's end ({clock(duration)})")
        target = entry.get("target")
        if not isinstance(target, str) or not target:
            problems.append(f"{w}: target must name an asset (or a sensor for sensor.* actions)")
            continue
        action, operator = entry.get("action", ""), entry.get("operator", "")
        if bool(action) == bool(operator):
            problems.append(f"{w}: give either action = \"<domain>.<verb>\" or operator = \"acknowledge|dispatch|resolve\"")
            continue
        if operator and operator not in OPERATOR_ACTIONS:
            problems.append(f"{w}: operator = {operator!r}; valid: {', '.join(OPERATOR_ACTIONS)}")
            continue
        if action and (not isinstance(action, str) or "." not in action):
            problems.append(f"{w}: action = {action!r}; expected \"<domain>.<verb>\" such as \"gas.leak\"")
            continue
        params = entry.get("params", {})
        if not isinstance(params, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in params.values()):
            problems.append(f"{w}: params must be a table of numbers")
            continue
        events.append(Event(at, target, action, operator, {k: float(v) for k, v in params.items()}, str(entry.get("note", "")), line))

    weather = doc.get("weather")
    if weather is not None:
        w = f"{path} [weather]"
        points = weather.get("rain")
        if not isinstance(weather.get("action"), str) or not isinstance(weather.get("target"), str):
            problems.append(f"{w}: needs action = \"<domain>.<verb>\" (the plugin's rain action) and target = \"<asset>\"")
        elif not (isinstance(points, list) and all(isinstance(x, list) and len(x) == 2 for x in points)):
            problems.append(f"{w}: rain must be a list of [seconds, intensity] pairs")
        else:
            times = [_seconds(t) for t, _ in points]
            if any(t is None for t in times) or times != sorted(times):
                problems.append(f"{w}: rain times must be seconds or \"HH:MM:SS\", in order")
            else:
                ends = times[1:] + [duration]
                key_i, key_d = weather.get("intensity_param", "intensity"), weather.get("duration_param", "duration")
                for (t, (_, value)), end in zip(zip(times, points), ends):
                    events.append(Event(t, weather["target"], weather["action"], params={key_i: float(value), key_d: max(end - t, 0.0)}))

    expectations: list[Expectation] = []
    for n, (entry, line) in enumerate(zip(doc.get("expect", []), _table_lines(text, "expect")), start=1):
        w = f"{path}:{line} [[expect]] #{n}"
        level = _level(entry.get("level"))
        if level is None:
            problems.append(f"{w}: level = {entry.get('level')!r}; valid: blue, yellow, orange, red (or IV..I, 1..4)")
            continue
        if "by" in entry:
            t = _seconds(entry["by"])
            if t is None or not isinstance(entry.get("asset"), str):
                problems.append(f"{w}: 'by' needs a time (\"HH:MM:SS\") and asset = \"<id>\"")
                continue
            expectations.append(Expectation("by", level, line, time=t, asset=entry["asset"], rule=str(entry.get("rule", ""))))
        elif entry.get("never") is True:
            expectations.append(Expectation("never", level, line, domain=str(entry.get("domain", "")), asset=str(entry.get("asset", ""))))
        elif "acknowledged_within" in entry:
            t = _seconds(entry["acknowledged_within"])
            if t is None:
                problems.append(f"{w}: acknowledged_within must be seconds")
                continue
            expectations.append(Expectation("acknowledged_within", level, line, time=t))
        else:
            problems.append(f"{w}: an expectation needs by = \"HH:MM:SS\" (with asset), never = true, or acknowledged_within = seconds")
    if problems:
        raise DrillError(problems)
    return Drill(path, str(name), (path.parent / scene).resolve(), int(seed), float(duration), float(dt),
                 sorted(events, key=lambda e: e.at), expectations, {k: v for k, v in doc.items() if k in ("thresholds", "alarms")})


def check_against(drill: Drill, engine: Any) -> None:
    """Check a drill's targets, actions and parameters against a loaded twin."""
    problems = []
    sensors = {s.id for s in engine.scene.sensors}
    registry = engine.registry
    for e in drill.events:
        w = f"{drill.path}:{e.line} [[events]]" if e.line else f"{drill.path} [weather]"
        if e.operator and e.target == "*":
            continue
        if e.action.startswith("sensor."):
            if e.target not in sensors:
                problems.append(f"{w}: target {e.target!r} is not a sensor of scene {engine.scene.name!r}")
            continue
        if e.target not in engine.world.locations:
            problems.append(f"{w}: target {e.target!r} is not an asset of scene {engine.scene.name!r}")
            continue
        if e.action:
            if e.action not in registry.actions:
                problems.append(f"{w}: unknown action {e.action!r}; known: {', '.join(sorted(registry.actions))}, sensor.stuck, sensor.drift, sensor.dead, sensor.repair")
                continue
            _, action = registry.actions[e.action]
            known = {p.name for p in action.params}
            for key in e.params:
                if key not in known:
                    problems.append(f"{w}: action {e.action!r} has no parameter {key!r}; it takes {', '.join(sorted(known)) or 'none'}")
    for x in drill.expectations:
        if x.asset and x.asset not in engine.world.locations:
            problems.append(f"{drill.path}:{x.line} [[expect]]: asset {x.asset!r} is not in scene {engine.scene.name!r}")
        if x.domain and x.domain not in engine.world.tables:
            problems.append(f"{drill.path}:{x.line} [[expect]]: domain {x.domain!r} is not installed; known: {', '.join(engine.world.tables)}")
    if problems:
        raise DrillError(problems)


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
            bad = [a for a in peaks.values() if a["peak_level"] >= x.level and (not x.domain or a["domain"] == x.domain)
                   and (not x.asset or a["asset"] == x.asset)]
            out.append(Score(x, not bad, "none" if not bad else f"{len(bad)}: " + ", ".join(sorted({a['asset'] for a in bad}))[:200]))
        else:
            late = []
            for alarm_id, (t, _, a) in raised.items():
                if peaks[alarm_id]["peak_level"] < x.level:
                    continue
                ack = acked.get(alarm_id)
                if ack is None and drill.duration - t <= x.time:
                    continue  # raised too near the end to judge
                if ack is None or ack - t > x.time:
                    late.append(f"{a['asset']} ({'not acknowledged' if ack is None else f'{ack - t:.0f} s'})")
            out.append(Score(x, not late, "all in time" if not late else "late: " + ", ".join(late)[:200]))
    return out
