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

    [[events]]                    # ... or to an incident, with its alarms
    at = "00:02:00"
    operator = "dispatch"         # acknowledge | dispatch | close
    incident = "worst"            # or "*", or an asset id: the incident holding its alarm
    unit = "gas crew 3"

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
from twin.runs.drillfile import INCIDENT_ACTIONS, LEVELS, OPERATOR_ACTIONS, WITHIN, DrillFile, DrillHead, Moment, seconds
from twin.runs.drillfile import Event as DeclaredEvent
from twin.runs.drillfile import Expect as DeclaredExpect
from twin.tomlfile import TomlFile, shown

__all__ = ["LEVELS", "OPERATOR_ACTIONS", "INCIDENT_ACTIONS", "DrillError", "Event", "Expectation", "Drill", "clock", "load_drill", "check_against",
           "Score", "score", "Evidence", "Scorecard", "scorecard", "alarm_tracks", "judge_within", "Judged"]


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
    #: an operator response to an incident: "worst", "*" or an asset id (``target`` is then "")
    incident: str = ""
    #: where an operator's dispatch goes ("": the owner)
    unit: str = ""

    def aim(self) -> str:
        """What an operator response acts on, as a scorecard or a timeline says it."""
        return f"incident {self.incident}" if self.incident else self.target


@dataclass(frozen=True)
class Expectation:
    """One ``[[expect]]``: its kind (twin.runs.drillfile.EXPECTATION_KINDS), the least
    level that counts, the moment (``by``) or seconds (``*_within``) it gives, and which
    alarms it is about (each selector that is given narrows it)."""

    kind: str  # "by", "never", "acknowledged_within", "dispatched_within", "resolved_within", "no_false_clear",
    # "incidents_at_most"
    level: int
    line: int
    time: float = 0.0
    asset: str = ""
    domain: str = ""
    rule: str = ""
    keys: tuple[Any, ...] = ()
    #: the owner unit whose assets it is about
    owner: str = ""
    #: about incidents, not alarms (``incident = true``; ``incidents_at_most`` always)
    incident: bool = False
    #: ``incidents_at_most``: how many
    most: int = 0

    def describe(self) -> str:
        name = ("none", "blue", "yellow", "orange", "red")[self.level]
        on = "".join(f" {word} {value}" for word, value in (("on", self.asset), ("in", self.domain), ("owned by", self.owner))
                     if value)
        rule = f" ({self.rule})" if self.rule else ""
        what = "incident" if self.incident else "alarm"
        if self.kind == "incidents_at_most":
            return f"at most {self.most} incident(s) of at least {name}{on}{rule}"
        if self.kind == "by":
            return f"by {clock(self.time)} an {what} of at least {name}{on}{rule}"
        if self.kind == "never":
            return f"no {what} of {name} or worse{on}{rule}"
        if self.kind == "no_false_clear":
            return f"no alarm of {name} or worse{on}{rule} cleared while the truth was still {name} or worse"
        done = {"acknowledged_within": "acknowledged", "dispatched_within": "dispatched",
                "resolved_within": "closed" if self.incident else "resolved"}[self.kind]
        return f"every {what} of at least {name}{on}{rule} {done} within {self.time:g} s"


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
    #: time order; a live exercise plays them (twin.runs.exercise), a headless run records them
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
            events.append(Event(at, entry.target or "", entry.action or "", entry.operator or "", dict(entry.params),
                                entry.note, toml.line(keys) or 0, keys, entry.incident or "", entry.unit))
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
        time = seconds(x.by) if kind == "by" else seconds(getattr(x, kind)) if kind in WITHIN else 0.0
        if kind == "by" and late(time, keys + ("by",)):
            continue
        if kind in WITHIN and time >= duration - 1e-9:
            # no alarm could be late: the expectation could only pass
            problems.append(f"{toml.where(keys + (kind,))} = {shown(toml.value(keys + (kind,)))}: as long as the drill or longer "
                            f"({clock(duration)}), so no alarm could be found late; expected less than its duration")
            continue
        expectations.append(Expectation(kind, LEVELS[x.level], toml.line(keys) or 0, time=time, asset=x.asset, domain=x.domain,
                                        rule=x.rule, keys=keys, owner=x.owner,
                                        incident=bool(x.incident) or kind == "incidents_at_most",
                                        most=x.incidents_at_most or 0))
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
    #: a copy of the twin's world the drill's actions are tried on, in time order (made when first needed)
    scratch: dict[str, Any] = {}
    for e in drill.events:
        def where(key: str, e: Event = e) -> str:
            # a [[series]] point's parameters stand under its `param`
            return toml.where(e.keys + ("param" if e.keys[:1] == ("series",) and key == "params" else key,))

        if e.operator:
            if e.incident:
                if e.incident not in ("worst", "*") and e.incident not in engine.world.locations:
                    problems.append(f"{where('incident')}: {e.incident!r} is neither \"worst\", \"*\" nor an asset of "
                                    f"scene {scene!r}")
            elif e.target != "*" and e.target not in engine.world.locations:
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
        target_ok = located is not None
        if located is None:
            problems.append(f"{where('target')}: {e.target!r} is not an asset of scene {scene!r}")
        else:
            domain, row = located
            kind = engine.world.tables[domain].kind_names[engine.world.tables[domain].kind[row]]
            domain_kinds = [k.name for k in registry.domains[action.domain].kinds] if action.domain in registry.domains else []
            kinds = list(action.kinds) or domain_kinds
            if domain != action.domain or kind not in kinds:
                target_ok = False
                problems.append(f"{where('target')}: {e.target!r} is a {domain} {kind}; {e.action} acts on "
                                f"{action.domain} {', '.join(kinds) or '(no kind)'}")
        found = _param_problems(where("params"), e, action.params)
        problems.extend(found)
        if not found and target_ok:
            refused = _dry_run(e, engine, scratch)
            if refused:
                problems.append(f"{where('params')}: {refused}")
    # A dispatch's unit is not checked against the owners: a task may go to a crew of a
    # unit that owns nothing here (a contractor; `twin token add crew --unit NAME` gives
    # it its phone page), as on the live twin's API.
    owners = sorted(set(engine.owners.values()))
    rules = {r.name: r.domain for _, r in registry.rules} | {name: "system" for name in SYSTEM_RULES}
    for x in drill.expectations:
        problems.extend(_selector_problems(x, toml, engine, scene, owners, rules))
    if "thresholds" in toml.data:
        check(toml, thresholds_type(registry), problems, keys=("thresholds",))
    if problems:
        raise DrillError(problems)


#: the core's own alarm rules (domain "system"), which an expectation may name too
SYSTEM_RULES = ("system.plugin_quarantined", "system.nonfinite", "system.sensor_offline", "system.sensor_suspect")


def _selector_problems(x: Expectation, toml: TomlFile, engine: Any, scene: str, owners: list[str],
                       rules: dict[str, str]) -> list[str]:
    """What is wrong with an expectation's selectors on this twin: an asset, domain,
    owner or rule it does not have, or two that no alarm could satisfy at once (an asset
    of another domain or owner than the one given, a rule of another domain): each would
    leave the expectation about nothing, passing (``never``, ``*_within``) whatever
    happened."""
    out = []

    def where(key: str) -> str:
        return f"{toml.where(x.keys + (key,))} = {shown(getattr(x, key))}"

    located = engine.world.locations.get(x.asset) if x.asset else None
    if x.asset and located is None:
        out.append(f"{toml.where(x.keys + ('asset',))}: {x.asset!r} is not an asset of scene {scene!r}")
    if x.domain and x.domain not in engine.world.tables:
        out.append(f"{toml.where(x.keys + ('domain',))}: {x.domain!r} is not installed; known: {', '.join(engine.world.tables)}")
    if x.owner and x.owner not in owners:
        out.append(f"{toml.where(x.keys + ('owner',))}: {x.owner!r} owns no asset of scene {scene!r}; its owners: "
                   f"{', '.join(owners)}")
    if x.rule and x.rule not in rules:
        out.append(f"{where('rule')}: no alarm rule is called so; known: {', '.join(sorted(rules))}")
    if located is not None:
        domain = located[0]
        if x.domain and x.domain in engine.world.tables and x.domain != domain:
            out.append(f"{where('domain')}: {x.asset} is a {domain} asset, so no alarm is on it and in {x.domain}; "
                       f"expected domain = {shown(domain)} or no domain")
        owner = engine.owners.get(x.asset, "")
        if x.owner and x.owner in owners and x.owner != owner:
            out.append(f"{where('owner')}: {x.asset} is owned by {owner or '(no unit)'}, so no alarm on it is {x.owner}'s; "
                       f"expected owner = {shown(owner)} or no owner")
        if x.rule in rules and rules[x.rule] != domain:
            valid = sorted(name for name, d in rules.items() if d == domain)
            out.append(f"{where('rule')}: a {rules[x.rule]} rule, and {x.asset} is a {domain} asset; its rules: {', '.join(valid)}")
    elif x.rule in rules and x.domain and x.domain in engine.world.tables and rules[x.rule] != x.domain:
        valid = sorted(name for name, d in rules.items() if d == x.domain)
        out.append(f"{where('rule')}: a {rules[x.rule]} rule, not one of {x.domain}; its rules: {', '.join(valid)}")
    return out


def _dry_run(event: Event, engine: Any, scratch: dict[str, Any]) -> str:
    """Why the plugin's action refuses ``event`` ("" if it takes it), tried on a copy of
    the twin's world: a limit no declaration states (a leak's hole no wider than its
    main) is met here, by ``twin drill check``, not by ``twin drill run``."""
    import copy

    world = scratch.get("world")
    if world is None:
        source = engine.world
        # the scene and the plugins are shared, not copied: only the state is tried on
        world = scratch["world"] = copy.deepcopy(source, {id(source.registry): source.registry, id(source.scene): source.scene})
    try:
        world.apply_action(event.action, event.target, dict(event.params))
    except Exception as exc:  # the plugin's own refusal (ValueError by its contract), or its fault: one line either way
        said = " ".join(str(exc).split())
        return said if isinstance(exc, (ValueError, KeyError)) else f"{event.action} fails on it: {type(exc).__name__}: {said}"
    return ""


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
    #: False when the run holds nothing to judge it by (``no_false_clear`` on a run that
    #: kept no ground truth): it neither passes nor fails, and ``passed`` stays True so
    #: that it fails no run
    judged: bool = True

    @property
    def mark(self) -> str:
        """PASS, FAIL, or N/A (not judged)."""
        return "N/A" if not self.judged else "PASS" if self.passed else "FAIL"


@dataclass
class Evidence:
    """What a run shows beyond its alarm events, for the scorer: the ground truth it
    kept (:class:`twin.runs.truth.Truth`), the latest record of each incident (their
    escalations), the sensor faults applied (``/input/action`` records of ``sensor.*``,
    run clock) with the asset each sensor measures, and where the run ended (run clock;
    None: its drill's duration from its start)."""

    truth: Any = None
    incidents: dict[int, dict[str, Any]] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)
    sensors: dict[str, str] = field(default_factory=dict)
    end: float | None = None


@dataclass
class Scorecard:
    """A run scored: each expectation, and the platform's own deadlines that passed
    (alarms overdue, incidents escalated), counted whatever the drill expects."""

    scores: list[Score]
    #: each alarm that went overdue: {time, id, asset, rule, level} (run clock)
    overdue: list[dict[str, Any]]
    #: each escalation of an incident: its record (twin.loop.escalation) with the incident's id and title
    escalations: list[dict[str, Any]]
    #: the run's clock start: times are shown as offsets from it
    start: float = 0.0

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.scores)

    def lines(self) -> list[str]:
        """The scorecard as ``twin drill run``, ``twin branch`` and ``twin rerun`` print it."""
        out = [f"  {s.mark:<4}  {s.expectation.describe()}: {s.detail}" for s in self.scores]
        names = ("none", "blue", "yellow", "orange", "red")
        if self.overdue:
            listed = ", ".join(f"{o['asset']} ({names[o['level']]}, {clock(o['time'] - self.start)})" for o in self.overdue[:8])
            more = f", and {len(self.overdue) - 8} more" if len(self.overdue) > 8 else ""
            out.append(f"  overdue: {len(self.overdue)} alarm(s) not acknowledged within their level's deadline: {listed}{more}")
        else:
            out.append("  overdue: none (every alarm acknowledged within its level's deadline, or still within it)")
        if self.escalations:
            listed = ", ".join(f"incident {e['incident']} at {clock(e['time'] - self.start)} ({e.get('summary', '')})"
                               for e in self.escalations[:6])
            more = f", and {len(self.escalations) - 6} more" if len(self.escalations) > 6 else ""
            out.append(f"  escalations: {len(self.escalations)}: {listed}{more}")
        else:
            out.append("  escalations: none")
        return out


def score(drill: Drill, events: list[dict[str, Any]], start: float = 0.0, evidence: Evidence | None = None) -> list[Score]:
    """Score a run from its alarm events (each {kind, time, alarm, ...}, in order, run
    clock); ``start`` is the run's clock start, which the drill's times are offsets from.
    ``evidence`` gives what some expectations need beyond the events (the truth for
    ``no_false_clear``)."""
    return scorecard(drill, events, start, evidence).scores


@dataclass
class _Track:
    """One alarm as its events tell it."""

    alarm: dict[str, Any]
    level: int = 0
    peak: int = 0
    #: level -> the first offset at which the alarm was at it or higher
    reached: dict[int, float] = field(default_factory=dict)
    #: operator step -> its first offset
    acted: dict[str, float] = field(default_factory=dict)
    #: (offset, run-clock time, level before, level after) of each fall of its level
    falls: list[tuple[float, float, int, int]] = field(default_factory=list)


def alarm_tracks(events: list[dict[str, Any]], start: float = 0.0,
                 overdue: list[dict[str, Any]] | None = None) -> dict[int, _Track]:
    """Each alarm as its events tell it (offsets from ``start``), by id; each ``overdue``
    event appended to ``overdue`` if given. The scorecard's reading of a run, and the
    report's executive summary's (:func:`judge_within`)."""
    tracks: dict[int, _Track] = {}
    for ev in events:
        a = ev["alarm"]
        offset = ev["time"] - start
        track = tracks.get(a["id"])
        if track is None:
            track = tracks[a["id"]] = _Track(a)
        track.alarm = a
        kind = ev["kind"]
        if kind in ("raise", "escalate", "deescalate", "clear"):
            level = int(a["level"])
            if level < track.level:
                track.falls.append((offset, ev["time"], track.level, level))
            track.level = level
            track.peak = max(track.peak, level, int(a.get("peak_level", level)))
            for lvl in range(1, level + 1):
                track.reached.setdefault(lvl, offset)
        elif kind in ("acknowledge", "dispatch", "resolve"):
            track.acted.setdefault(kind, offset)
        elif kind == "overdue" and overdue is not None:
            overdue.append({"time": ev["time"], "id": a["id"], "asset": a["asset"], "rule": a["rule"], "level": int(a["level"])})
        track.peak = max(track.peak, int(a.get("peak_level", 0)))
    return tracks


def scorecard(drill: Drill, events: list[dict[str, Any]], start: float = 0.0, evidence: Evidence | None = None) -> Scorecard:
    """:func:`score` with the platform's own deadlines counted: every ``overdue`` alarm
    event, and every escalation of the incidents in ``evidence``."""
    evidence = evidence or Evidence()
    overdue: list[dict[str, Any]] = []
    tracks = alarm_tracks(events, start, overdue)
    end = (evidence.end - start) if evidence.end is not None else drill.duration
    out = []
    incidents = _incident_tracks(tracks, evidence, start)
    for x in drill.expectations:
        if x.incident:
            out.append(_incident_score(x, incidents, bool(tracks), end))
            continue
        mine = [t for t in tracks.values() if _about(x, t.alarm)]
        if x.kind == "by":
            times = [t.reached[x.level] for t in mine if x.level in t.reached]
            when = min(times) if times else None
            ok = when is not None and when <= x.time + 1e-9
            out.append(Score(x, ok, f"reached at {clock(when)}" if when is not None else "never reached"))
        elif x.kind == "never":
            bad = [t.alarm for t in mine if t.peak >= x.level]
            out.append(Score(x, not bad, "none" if not bad else f"{len(bad)}: " + ", ".join(sorted({a['asset'] for a in bad}))[:200]))
        elif x.kind in WITHIN:
            out.append(_within(x, mine, end))
        else:
            out.append(_no_false_clear(x, mine, evidence, start))
    escalations = []
    for incident in evidence.incidents.values():
        for record in incident.get("escalations", ()):
            escalations.append({**record, "incident": incident["id"], "title": incident.get("title", "")})
    escalations.sort(key=lambda e: (e["time"], e["incident"]))
    return Scorecard(out, overdue, escalations, start)


@dataclass(frozen=True)
class Judged:
    """One alarm (or incident) judged against a ``*_within`` expectation: its id, when it
    reached the expectation's level (offset), whether its step came late, and why
    (``"G-MH-0055 (75 s)"``; "" when in time)."""

    id: int
    reached: float
    late: bool
    why: str = ""


def judge_within(x: Expectation, tracks: Any, end: float) -> list[Judged]:
    """Each of ``tracks`` (:func:`alarm_tracks`' values) the ``*_within`` expectation ``x``
    judges, in the order they reached its level: those its selectors (asset, domain,
    owner, rule) name that reached the level, timed from then to their step (acknowledge,
    dispatch, resolve); ``end`` is the run's end (offset). One not taken and still within
    its time at the end is not judged (left out). The scorecard's judgement, and the
    executive summary's on-time counts: one function, so they cannot disagree."""
    step = WITHIN[x.kind]
    done = {"acknowledge": "acknowledged", "dispatch": "dispatched", "resolve": "closed" if x.incident else "resolved"}[step]
    out = []
    mine = [t for t in tracks if x.incident or _about(x, t.alarm)]
    for t in sorted(mine, key=lambda t: (t.reached.get(x.level, math.inf), t.alarm["id"])):
        reached = t.reached.get(x.level)
        if reached is None:
            continue
        taken = t.acted.get(step)
        asset = t.alarm["asset"]
        if taken is not None:
            took = max(taken - reached, 0.0)  # a step taken before the level was reached is in time
            late = took > x.time + 1e-9
            out.append(Judged(t.alarm["id"], reached, late, f"{asset} ({took:.0f} s)" if late else ""))
        elif "resolve" in t.acted:
            out.append(Judged(t.alarm["id"], reached, True, f"{asset} ({'closed' if x.incident else 'resolved'} without being {done})"))
        elif end - reached > x.time + 1e-9:
            out.append(Judged(t.alarm["id"], reached, True, f"{asset} (not {done})"))
        # else: it reached the level too near the end to tell
    return out


def _within(x: Expectation, tracks: list[_Track], end: float) -> Score:
    """Each alarm that reached the level: its step (acknowledge, dispatch, resolve) taken
    within ``x.time`` of reaching it (:func:`judge_within`)."""
    late = [j.why for j in judge_within(x, tracks, end) if j.late]
    return Score(x, not late, "all in time" if not late else "late: " + ", ".join(late)[:200])


def _incident_tracks(tracks: dict[int, _Track], evidence: Evidence, start: float) -> list[tuple[dict[str, Any], _Track]]:
    """Each incident of the run (its latest record in ``evidence``) as a track: it reached
    a level when the first of its alarms did, its peak is its alarms', and its steps are
    its own actions (``close`` counted as the resolve step), offsets from ``start``."""
    out = []
    for incident in sorted(evidence.incidents.values(), key=lambda i: int(i["id"])):
        members = [tracks[a] for a in incident.get("alarms", ()) if a in tracks]
        t = _Track({"id": int(incident["id"]), "asset": f"incident {incident['id']} ({incident.get('title', '')})",
                    "rules": {m.alarm["rule"] for m in members} | {incident.get("rule", "")}})
        for m in members:
            for level, offset in m.reached.items():
                t.reached[level] = min(offset, t.reached.get(level, math.inf))
        if not members:  # its alarms' events are not in this part of the run: from its own record
            for level in range(1, int(incident.get("peak_level", 0)) + 1):
                t.reached[level] = float(incident.get("opened", start)) - start
        t.peak = max([int(incident.get("peak_level", 0)), *(m.peak for m in members)])
        for action in incident.get("actions", ()):
            step = "resolve" if action["action"] == "close" else action["action"]
            t.acted.setdefault(step, float(action["time"]) - start)
        out.append((incident, t))
    return out


def _incident_score(x: Expectation, incidents: list[tuple[dict[str, Any], _Track]], alarms: bool, end: float) -> Score:
    """An expectation about incidents (``incident = true``, ``incidents_at_most``), judged
    on the incidents the run kept; not judged when it raised alarms but kept no incident
    (a recording made before incidents were recorded)."""
    if alarms and not incidents:
        return Score(x, True, "not judged: the run raised alarms but keeps no incidents (a recording made before "
                              "incidents were recorded)", judged=False)
    mine = [t for incident, t in incidents if _about_incident(x, incident, t.alarm["rules"])]
    if x.kind == "by":
        times = [t.reached[x.level] for t in mine if x.level in t.reached]
        when = min(times) if times else None
        return Score(x, when is not None and when <= x.time + 1e-9,
                     f"reached at {clock(when)}" if when is not None else "never reached")
    if x.kind in WITHIN:
        return _within(x, mine, end)
    bad = [t for t in mine if t.peak >= x.level]
    listed = ", ".join(t.alarm["asset"] for t in bad)[:200]
    if x.kind == "never":
        return Score(x, not bad, "none" if not bad else f"{len(bad)}: {listed}")
    return Score(x, len(bad) <= x.most, f"{len(bad)}" + (f": {listed}" if bad else ""))


def _about_incident(x: Expectation, incident: dict[str, Any], rules: set[str]) -> bool:
    """Whether ``incident`` (its alarms of ``rules``) holds an alarm on the expectation's
    ``asset`` and of its ``rule``, one in its ``domain``, and is owned by its ``owner``
    (each that is given)."""
    return ((not x.asset or x.asset in incident.get("assets", ())) and (not x.domain or x.domain in incident.get("domains", ()))
            and (not x.owner or incident.get("owner", "") == x.owner) and (not x.rule or x.rule in rules))


_FAULT_WORDS = {"sensor.drift": "drifting", "sensor.stuck": "stuck", "sensor.dead": "dead"}


def _no_false_clear(x: Expectation, tracks: list[_Track], evidence: Evidence, start: float) -> Score:
    """Each fall of an alarm from the level or worse to below it, against the ground
    truth at that moment: a fall while the truth was still at the level is a false
    all-clear, named with the faulty sensors of its asset, if any."""
    truth = evidence.truth
    if truth is None:
        return Score(x, True, "not judged: the run keeps no ground truth (a twin fed by real sensors, or a recording made "
                              "before the truth was kept)", judged=False)
    names = ("none", "blue", "yellow", "orange", "red")
    false, unknown = [], 0
    for t in tracks:
        a = t.alarm
        for offset, when, before, after in t.falls:
            if not (before >= x.level > after):
                continue
            true_level = truth.level_at(a["asset"], a["rule"], when)
            if true_level is None:
                unknown += 1
            elif true_level >= x.level:
                what = "cleared" if after == 0 else f"fell to {names[after]}"
                false.append(f"{a['asset']} {what} at {clock(offset)} while the truth was {names[true_level]}"
                             + _faulty(a["asset"], when, evidence, start))
    if false:
        return Score(x, False, f"{len(false)}: " + "; ".join(false)[:300])
    return Score(x, True, "none" + (f" ({unknown} fall(s) the truth does not know)" if unknown else ""))


def _faulty(asset: str, when: float, evidence: Evidence, start: float) -> str:
    """", on a drifting sensor (GS-CH4-0002, since 00:02:00)" for each sensor of
    ``asset`` with a fault at ``when``, from the faults applied before it."""
    state: dict[str, tuple[str, float]] = {}
    for f in evidence.faults:
        if f["time"] <= when + 1e-9 and evidence.sensors.get(f["target"]) == asset:
            state[f["target"]] = (f["action"], f["time"])
    said = [f"{_FAULT_WORDS[action]} sensor ({sensor}, since {clock(since - start)})"
            for sensor, (action, since) in sorted(state.items()) if action in _FAULT_WORDS]
    return f", on a {' and a '.join(said)}" if said else ""


def _about(x: Expectation, alarm: dict[str, Any]) -> bool:
    """Whether ``alarm`` is one the expectation's ``asset``, ``domain``, ``owner`` and
    ``rule`` name (each that is given)."""
    return ((not x.asset or alarm["asset"] == x.asset) and (not x.domain or alarm["domain"] == x.domain)
            and (not x.owner or alarm.get("owner", "") == x.owner) and (not x.rule or alarm["rule"] == x.rule))
