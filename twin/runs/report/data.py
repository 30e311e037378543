"""What a report knows of a run: the recording read back (alarms, their times, input and
operator actions, incidents, field values over time), the scene and plugins it ran on,
and the analysis that needs no picture (who caused what, which fields drive a risk).

Nothing here draws or writes: :mod:`.plots`, :mod:`.district`, :mod:`.render` and
:mod:`.pdf` do, from these objects.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from twin.runs.credit import Scope, credit
from twin.runs.drill import clock

ALARM_KINDS = ("raise", "escalate", "deescalate", "clear", "overdue")
OPERATOR_KINDS = ("acknowledge", "dispatch", "resolve")
#: a field's change under this share of its valid range does not make it a driver
NEGLIGIBLE = 1e-3


# ------------------------------------------------------------------------ the run


@dataclass
class AlarmLife:
    """One alarm's life in the recording."""

    id: int
    asset: str
    domain: str
    rule: str
    title: str
    title_zh: str
    owner: str
    raised: float
    peak_level: int = 0
    #: (time, level) at each level change, from the raise
    levels: list[tuple[float, int]] = field(default_factory=list)
    acknowledged: float | None = None
    dispatched: float | None = None
    resolved: float | None = None
    cleared: float | None = None
    overdue: float | None = None
    #: where "to detect" is measured from: (time, input action) or None for the run's start
    detect_from: tuple[float, dict[str, Any]] | None = None

    def level_at(self, t: float) -> int:
        """The level at time ``t`` (0 before the raise and once resolved)."""
        if t < self.raised or (self.resolved is not None and t >= self.resolved):
            return 0
        level = 0
        for when, lvl in self.levels:
            if when <= t:
                level = lvl
        return level

    def first_at(self, level: int) -> float | None:
        """When it first reached ``level`` or worse; None if it never did."""
        return next((when for when, lvl in self.levels if lvl >= level), None)


@dataclass
class Run:
    """What a recording holds that a report needs."""

    path: Path
    metadata: dict[str, str]
    created: str
    start: float
    end: float
    complete: bool
    #: alarm events and operator actions, in the order they happened ({kind, time, who, note, alarm})
    events: list[dict[str, Any]]
    #: input actions ({time, action, target, params, who})
    inputs: list[dict[str, Any]]
    alarms: dict[int, AlarmLife]
    #: the run's clock start: UTC epoch seconds (0 for an old recording of a clock from 0)
    clock_start: float = 0.0
    #: the scene's time zone (IANA), where the run's moments are read
    timezone: str = "UTC"
    #: each incident's latest summary as the recorded frames carried it (twin.loop.incidents),
    #: by id; empty for a recording that carries none
    incidents: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: the drill's messages to the players as the screens were sent them (protocol
    #: ExerciseMessage records of /exercise/message), in time order
    messages: list[dict[str, Any]] = field(default_factory=list)
    #: a person's own acknowledge, dispatch and close of an incident, in time order
    #: ({kind, time, who, note, unit, incident: {id, title, assets, alarms}} of
    #: /operator/incident); empty for a recording that carries none
    incident_actions: list[dict[str, Any]] = field(default_factory=list)

    def moment(self, t: float, date: bool = False) -> str:
        """A moment of the run as people read it: the local time in the scene's zone
        (with the date and the zone if asked), or HH:MM:SS from 0 for a recording whose
        clock started at 0."""
        if not self.clock_start:
            return clock(t)
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        local = datetime.fromtimestamp(t, zone)
        return local.strftime("%Y-%m-%d %H:%M:%S %Z" if date else "%H:%M:%S")

    def offset(self, t: float) -> str:
        """A moment as an offset from the run's start (HH:MM:SS), as a drill file writes it."""
        return clock(t - self.clock_start)

    def open_levels(self, t: float) -> dict[str, int]:
        """The worst level of each asset's open alarms at time ``t``."""
        out: dict[str, int] = {}
        for a in self.alarms.values():
            level = a.level_at(t)
            if level:
                out[a.asset] = max(out.get(a.asset, 0), level)
        return out

    def within(self, start: float, end: float) -> Run:
        """The part of the run from ``start`` to ``end`` (an exercise on a server that was
        already recording): the alarms raised in it with their events in it, the inputs
        in it; the alarms' causes are not credited yet (:func:`credit_detection`)."""
        eps = 1e-9
        raised = {a.id for a in self.alarms.values() if start - eps <= a.raised <= end + eps}
        events = [e for e in self.events if e["alarm"]["id"] in raised and start - eps <= float(e["time"]) <= end + eps]
        inputs = [i for i in self.inputs if start - eps <= float(i["time"]) <= end + eps]
        return replace(self, start=start, end=end, events=events, inputs=inputs, alarms=alarm_lives(events),
                       messages=[m for m in self.messages if start - eps <= float(m.get("time", start)) <= end + eps])

    def worst_moment(self) -> tuple[float, int]:
        """The first time the sum of the levels of the open alarms is highest, and that sum
        (the end of the run and 0 when nothing alarmed)."""
        best_t, best = self.end, 0
        for t in sorted({e["time"] for e in self.events}):
            total = sum(a.level_at(t) for a in self.alarms.values())
            if total > best:
                best_t, best = t, total
        return best_t, best


def alarm_lives(events: list[dict[str, Any]]) -> dict[int, AlarmLife]:
    """Each alarm's life from its events and the operators' steps on it, in order, by id."""
    alarms: dict[int, AlarmLife] = {}
    for ev in events:
        a = ev["alarm"]
        s = alarms.get(a["id"])
        if s is None:
            s = alarms[a["id"]] = AlarmLife(a["id"], a["asset"], a["domain"], a["rule"], a.get("title", ""), a.get("title_zh", ""),
                                               a.get("owner", ""), float(a.get("since", ev["time"])))
        kind, t = ev["kind"], float(ev["time"])
        s.peak_level = max(s.peak_level, int(a.get("peak_level", a["level"])))
        if kind in ("raise", "escalate", "deescalate", "clear"):
            s.levels.append((t, int(a["level"])))
            if kind == "clear" and s.cleared is None:
                s.cleared = t
        elif kind == "overdue" and s.overdue is None:
            s.overdue = t
        elif kind == "acknowledge" and s.acknowledged is None:
            s.acknowledged = t
        elif kind == "dispatch" and s.dispatched is None:
            s.dispatched = t
        elif kind == "resolve" and s.resolved is None:
            s.resolved = t
    return alarms


def read_run(path: Path) -> Run:
    """Read a recording's metadata, alarm events, operator actions (on alarms and on
    incidents), input actions and the incidents its frames carry."""
    from twin.runs.recording import INCIDENT_TOPIC, info, read_stream

    i = info(Path(path))
    events: list[dict[str, Any]] = []
    inputs: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    incident_actions: list[dict[str, Any]] = []
    topics = ("/alarm/event", "/operator/action", "/input/action", "/exercise/message", INCIDENT_TOPIC)
    by_topic = {"/input/action": inputs, "/exercise/message": messages, INCIDENT_TOPIC: incident_actions}
    for topic, _, data in read_stream(Path(path), topics):
        by_topic.get(topic, events).append(json.loads(data))
    alarms = alarm_lives(events)
    start = i.start if math.isfinite(i.start) else 0.0
    end = i.end if math.isfinite(i.end) else start
    return Run(Path(path), dict(i.metadata), i.created, start, end, i.complete, events, inputs, alarms,
               float(i.metadata.get("start", "0")), i.metadata.get("timezone", "UTC"), recorded_incidents(Path(path)),
               messages, incident_actions)


def recorded_incidents(path: Path) -> dict[int, dict[str, Any]]:
    """The latest summary of every incident the recorded keyframes and deltas carry, by
    id, in the order they were first seen (empty for a recording made before frames
    carried incidents)."""
    from twin.runs.recording import read_stream
    from twin.serving import protocol as p

    out: dict[int, dict[str, Any]] = {}
    for _, _, data in read_stream(Path(path), ("/frame/keyframe", "/frame/delta")):
        message, _ = p.decode_server(data)
        for incident in getattr(message, "incidents", ()):
            out[int(incident["id"])] = incident
    return out


# ----------------------------------------------------------------------- the scene


@dataclass
class Twin:
    """The recorded run's scene and the plugins' declarations, when they can be loaded."""

    scene: Any
    registry: Any

    def __post_init__(self) -> None:
        self._assets = {a.id: a for assets in self.scene.assets.values() for a in assets}
        self._linked: dict[str, set[str]] = {}
        for a in self._assets.values():
            for other in a.links:
                self._linked.setdefault(a.id, set()).add(other)
                self._linked.setdefault(other, set()).add(a.id)
        self._sensors = {s.id: s.asset for s in self.scene.sensors}
        self._couplings = {(c.source, c.target) for _, c in self.registry.couplings}
        #: what crediting an alarm to its cause knows of the scene (twin.runs.credit)
        self.scope = Scope(self.scene, self.registry)

    def asset(self, asset_id: str) -> Any:
        """The scene's asset, or None (a system alarm's pseudo-asset)."""
        return self._assets.get(asset_id)

    def related(self, asset: str) -> set[str]:
        """The asset, the assets it links and the assets that link it."""
        return {asset} | self._linked.get(asset, set())

    def coupled(self, a: str, b: str) -> bool:
        """Whether domains ``a`` and ``b`` act on each other: the same domain, or a
        plugin's coupling runs between them (either way)."""
        return a == b or (a, b) in self._couplings or (b, a) in self._couplings

    def causes(self, asset: str, domain: str) -> set[str]:
        """The assets whose inputs can cause an alarm of ``domain`` on ``asset``: itself,
        and the assets linked to it whose domain is ``domain`` or coupled to it."""
        out = {asset}
        for other in self._linked.get(asset, ()):
            linked = self._assets.get(other)
            if linked is not None and self.coupled(linked.domain, domain):
                out.add(other)
        return out

    def sensor_asset(self, target: str) -> str:
        """The asset a sensor feeds (a sensor fault's target), else ``target`` itself."""
        return self._sensors.get(target, target)

    def rows(self, domain: str) -> dict[str, int]:
        return {a.id: r for r, a in enumerate(self.scene.assets.get(domain, []))}

    def rule(self, name: str) -> Any:
        return next((r for _, r in self.registry.rules if r.name == name), None)

    def spec(self, domain: str, name: str) -> Any:
        d = self.registry.domains.get(domain)
        return next((f for f in d.fields if f.name == name), None) if d is not None else None

    def place(self, asset_id: str, lang: str) -> str:
        """The asset's ``place`` (``place_zh`` in Chinese) as the scene names it, or ""."""
        a = self._assets.get(asset_id)
        if a is None:
            return ""
        names = a.attributes
        return str((names.get("place_zh") if lang == "zh-CN" else None) or names.get("place") or "")

    def position(self, asset_id: str) -> tuple[tuple[float, float], ...]:
        """The asset's (x, y) vertices in scene metres (none for a pseudo-asset)."""
        from twin.loop.places import vertices

        a = self._assets.get(asset_id)
        return vertices(a.geometry) if a is not None else ()

    def drivers(self, domain: str, risk_field: str) -> tuple[list[str], list[str]]:
        """Live inputs and other live outputs of the kernels that write ``risk_field``."""
        d = self.registry.domains.get(domain)
        live = {f.name for f in d.fields if not f.attribute} if d is not None else set()
        inputs: list[str] = []
        outputs: list[str] = []
        for _, k in self.registry.kernels:
            if k.domain == domain and risk_field in k.outputs:
                inputs += [f for f in k.inputs if f in live and f not in inputs and f != risk_field]
                outputs += [f for f in k.outputs if f in live and f not in outputs and f != risk_field]
        if not inputs and not outputs:
            inputs = sorted(live - {risk_field})
        return inputs, [f for f in outputs if f not in inputs]


def load_twin(run: Run) -> tuple[Twin | None, str]:
    """The run's scene and registry, or None and why not."""
    scene_path = run.metadata.get("scene_path", "")
    if not scene_path or not (Path(scene_path) / "scene.toml").exists():
        return None, f"the recorded scene {scene_path or '(none named)'} is not here"
    from twin.plugins.registry import load_registry
    from twin.runtime import open_scene

    try:
        registry = load_registry()
        scene = open_scene(Path(scene_path), registry)
    except Exception as exc:  # a report without pictures beats no report
        return None, f"the scene {scene_path} does not load: {str(exc).splitlines()[0]}"
    if "timezone" not in run.metadata:
        run.timezone = scene.timezone
    return Twin(scene, registry), ""


def input_asset(action: dict[str, Any], twin: Twin | None) -> str:
    """The asset an input action acted on (a sensor fault's sensor's asset)."""
    target = str(action.get("target", ""))
    if twin is not None and str(action.get("action", "")).startswith("sensor."):
        return twin.sensor_asset(target)
    return target


def credit_detection(run: Run, twin: Twin | None, since: float = -math.inf) -> None:
    """Set each alarm's ``detect_from``: (time, input action) of the plugin action it is
    credited to by :func:`twin.runs.credit.credit` (the nearest before its raise on its
    own asset, a linked one, or district-wide in its domain), or None (measured from the
    run's start) when there is none. Only inputs at or after ``since`` count (an
    exercise's, on a server recording before it)."""
    scope = twin.scope if twin is not None else Scope()
    causes = [scope.cause(action) if float(action["time"]) >= since - 1e-9 else None for action in run.inputs]
    for a in run.alarms.values():
        n = credit(a.asset, a.domain, a.raised, causes, scope)
        a.detect_from = (float(run.inputs[n]["time"]), run.inputs[n]) if n is not None else None


# ------------------------------------------------------------------------ the frames


def field_series(path: Path, wanted: dict[str, dict[str, list[int]]]) -> tuple[np.ndarray, dict[tuple[str, str], np.ndarray]]:
    """Values of some rows of some fields at every recorded frame, from the first keyframe
    and the deltas after it: times (n,), and per (domain, field) an array (n, rows) in the
    order of ``wanted[domain][field]``. A gap in the deltas waits for the next keyframe."""
    from twin.runs.recording import read_stream
    from twin.serving.client import Mirror

    mirror = Mirror()
    synced = False
    times: list[float] = []
    samples: dict[tuple[str, str], list[np.ndarray]] = {(d, f): [] for d, fs in wanted.items() for f in fs}
    index = {(d, f): np.asarray(rows, dtype=np.int64) for d, fs in wanted.items() for f, rows in fs.items()}

    def sample(t: float) -> None:
        if times and abs(times[-1] - t) < 1e-9:
            times.pop()
            for v in samples.values():
                v.pop()
        times.append(t)
        for (d, f), rows in index.items():
            column = mirror.tables.get(d, {}).get(f)
            samples[(d, f)].append(column[rows].astype(np.float64) if column is not None else np.full(len(rows), np.nan))

    for topic, t, data in read_stream(Path(path), ("/frame/keyframe", "/frame/delta")):
        if topic == "/frame/keyframe":
            if not synced:
                mirror.apply(data)
                synced = True
                sample(t)
            continue
        if not synced:
            continue
        try:
            mirror.apply(data)
        except AssertionError:
            synced = False  # a lost delta: resume at the next keyframe
            continue
        sample(t)
    out = {k: np.array(v, dtype=np.float64).reshape(len(times), len(index[k])) for k, v in samples.items()}
    return np.array(times, dtype=np.float64), out


def _change(values: np.ndarray) -> float:
    """How much a series changed, relative to its magnitude (0 when constant)."""
    v = values[np.isfinite(values)]
    if len(v) < 2:
        return 0.0
    lo, hi = float(v.min()), float(v.max())
    scale = max(abs(lo), abs(hi))
    return (hi - lo) / scale if scale > 0 else 0.0


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """|Pearson correlation| of two series over the samples where both are finite."""
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return 0.0
    return float(abs(np.corrcoef(a[ok], b[ok])[0, 1]))


@dataclass
class AssetPlot:
    """One alarmed asset's plot: its rules' risk fields and the fields that drive them."""

    asset: str
    domain: str
    #: (rule name, risk field) of each of the asset's alarm rules
    risks: list[tuple[str, str]]
    drivers: list[str]
    path: Path | None = None


def choose_fields(alarms: list[AlarmLife], twin: Twin) -> list[AssetPlot]:
    """Per alarmed asset (with a row in the scene), in the order of ``alarms``: its
    rules' risk fields and the candidate drivers, in the order they are ranked once the
    series are known."""
    plots: dict[str, AssetPlot] = {}
    for a in alarms:
        if a.asset not in twin.rows(a.domain):
            continue  # system alarms (a plugin quarantined) have no row
        rule = twin.rule(a.rule)
        risk = rule.risk_field if rule is not None else "risk"
        p = plots.setdefault(a.asset, AssetPlot(a.asset, a.domain, [], []))
        if (a.rule, risk) not in p.risks:
            p.risks.append((a.rule, risk))
        inputs, outputs = twin.drivers(a.domain, risk)
        p.drivers += [f for f in inputs + outputs if f not in p.drivers]
    return list(plots.values())


def rank_drivers(plots: list[AssetPlot], twin: Twin, times: np.ndarray, series: dict[tuple[str, str], np.ndarray],
                 columns: dict[tuple[str, str], dict[str, int]], limit: int = 3) -> None:
    """Keep up to ``limit`` drivers per asset: inputs before outputs, then by how much they
    changed (relative to their magnitude) times how closely they follow the risk. A change
    under :data:`NEGLIGIBLE` of the field's declared valid range does not count (a
    water level rising by a millimetre beside a gas leak is no driver)."""
    for p in plots:
        risk_fields = {r for _, r in p.risks}
        scored = []
        for order, f in enumerate(p.drivers):
            col = columns.get((p.domain, f), {}).get(p.asset)
            if col is None or f in risk_fields:
                continue
            values = series[(p.domain, f)][:, col]
            change = _change(values)
            spec = twin.spec(p.domain, f)
            span = float(spec.valid[1] - spec.valid[0]) if spec is not None else math.inf
            finite = values[np.isfinite(values)]
            if math.isfinite(span) and span > 0 and len(finite) and np.ptp(finite) < NEGLIGIBLE * span:
                continue
            if change > 1e-6:
                inputs, _ = twin.drivers(p.domain, p.risks[0][1])
                risk = series[(p.domain, p.risks[0][1])][:, columns[(p.domain, p.risks[0][1])][p.asset]]
                scored.append((f not in inputs, -change * max(_correlation(values, risk), 0.1), order, f))
        p.drivers = [f for *_, f in sorted(scored)[:limit]]


def plot_series(plots: list[AssetPlot], twin: Twin, path: Path) -> tuple[np.ndarray, dict[tuple[str, str], np.ndarray],
                                                                       dict[tuple[str, str], dict[str, int]]]:
    """The recorded values of every field ``plots`` name, on their assets' rows: times,
    the series per (domain, field) and, per (domain, field), each asset's column."""
    wanted: dict[str, dict[str, list[int]]] = {}
    columns: dict[tuple[str, str], dict[str, int]] = {}
    for p in plots:
        row = twin.rows(p.domain)[p.asset]
        for f in [r for _, r in p.risks] + p.drivers:
            rows = wanted.setdefault(p.domain, {}).setdefault(f, [])
            cols = columns.setdefault((p.domain, f), {})
            if p.asset not in cols:
                cols[p.asset] = len(rows)
                rows.append(row)
    times, series = field_series(path, wanted)
    return times, series, columns
