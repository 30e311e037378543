"""The truth beside the measurement: what the simulated world really held, kept with a
run so that a debrief can set it against what the sensors told the twin.

A run with the simulator (a drill, ``twin serve --source sim``) knows the ground truth
that its sensors measure, with their noise and faults (a drifting detector, a stuck one,
a dead one). :class:`TruthSampler` takes, every ``every`` seconds of simulation time
(5 s by default) and at every tick where an alarm's level fell, two things from the
truth:

- ``measured``: the true value of each field some sensor measures, on the assets its
  sensors measure (``ch4`` of a manhole with a methane detector);
- ``risk``: each alarm rule's risk field computed by the plugins' kernels on the true
  state (:meth:`twin.tick.simulator.Simulator.true_risk`): the level the twin would
  show with perfect sensors.

Only news is kept: a value that moved by its field's ``resolution`` or more since it was
last kept (any move for a field whose resolution is 0), and a risk that crossed a level's
threshold however little it moved. A recording carries it on the channel ``/truth``
(:class:`TruthMessage`, the protocol's framing: a msgpack header and raw arrays) with its
declaration in the ``twin.truth`` metadata; :func:`read_truth` gives it back as one
:class:`TruthSeries` per asset and field. The scorer asks it for the true level at the
moment an alarm cleared (:meth:`Truth.level_at`).
"""

from __future__ import annotations

import bisect
import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec
import numpy as np

from twin.serving import protocol as p
from twin.types import LEVEL_RISK_THRESHOLDS

#: the recording's channel and metadata record of the truth
TOPIC = "/truth"
METADATA = "twin.truth"
#: seconds of simulation time between two samples of the truth, by default
EVERY = 5.0
#: alarm events after which the truth is sampled at once: a level fell, and the scorer
#: asks what the truth was at that very moment
_FALLS = ("clear", "deescalate")

Kind = Literal["measured", "risk"]


class TruthMessage(msgspec.Struct, tag="truth", tag_field="type"):
    """One sample of the truth: per domain and field, the rows (``<u4``, the domain's
    table rows in scene order, as in a delta) whose true value is news, and their values
    (``<f8``); ``names`` gives the asset id of each row the truth names for the first
    time in this recording, as ``[row, id]`` pairs per domain."""

    time: float
    fields: dict[str, dict[str, p.FieldDelta]]
    names: dict[str, list[tuple[int, str]]] = {}


_decoder = msgspec.msgpack.Decoder(TruthMessage)


@dataclass(frozen=True)
class FieldTruth:
    """What the truth of one field is: its unit, the resolution news is judged by, the
    value an asset the truth never named holds (risk fields: its default), and whether
    it is a ``measured`` field or an alarm rule's ``risk`` field."""

    domain: str
    field: str
    unit: str
    resolution: float
    default: float
    kind: Kind


@dataclass
class TruthSeries:
    """The truth of one field of one asset: a step function, each value held until the
    next (a value is kept only when it moved by the field's resolution or more, so the
    truth stays within that of the value held). ``times`` are the run's clock (as every
    time in a recording: UTC epoch seconds for a run from an instant)."""

    asset: str
    domain: str
    field: str
    unit: str
    kind: Kind
    times: np.ndarray
    values: np.ndarray

    def at(self, t: float) -> float | None:
        """The true value at ``t``; None before the first sample."""
        i = int(np.searchsorted(self.times, t + 1e-9, side="right")) - 1
        return float(self.values[i]) if i >= 0 else None


def level_of(risk: float) -> int:
    """The level (0 none .. 4 red) of a risk in [0, 1], without hysteresis."""
    return sum(1 for t in LEVEL_RISK_THRESHOLDS if risk >= t)


class Truth:
    """The truth of a run, as it was sampled: built sample by sample (:meth:`add`) by a
    :class:`TruthSampler` while the run goes, or read back from a recording
    (:func:`read_truth`)."""

    def __init__(self, every: float, fields: list[FieldTruth], rules: dict[str, tuple[str, str]]) -> None:
        #: seconds between samples
        self.every = every
        #: (domain, field) -> its declaration
        self.fields = {(f.domain, f.field): f for f in fields}
        #: alarm rule -> (domain, risk field)
        self.rules = dict(rules)
        #: the first and last sample's time (run clock); None before the first
        self.start: float | None = None
        self.end: float | None = None
        self._names: dict[str, dict[int, str]] = {}
        # (domain, field) -> row -> ([times], [values])
        self._points: dict[tuple[str, str], dict[int, tuple[list[float], list[float]]]] = {}
        self._rows: dict[str, dict[str, int]] = {}  # domain -> asset id -> row
        self._series: dict[tuple[str, str], TruthSeries] | None = None  # built on first use after a change

    # -- building ------------------------------------------------------------------------
    def add(self, time: float, fields: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]],
            names: dict[str, list[tuple[int, str]]]) -> None:
        """Take one sample: per domain and field, the rows with news and their values."""
        self._series = None
        for domain, pairs in names.items():
            own = self._names.setdefault(domain, {})
            rows = self._rows.setdefault(domain, {})
            for row, asset in pairs:
                own[int(row)] = asset
                rows[asset] = int(row)
        for domain, by_field in fields.items():
            for name, (rows, values) in by_field.items():
                points = self._points.setdefault((domain, name), {})
                for row, value in zip(rows.tolist(), values.tolist()):
                    times, held = points.setdefault(row, ([], []))
                    times.append(time)
                    held.append(value)
        if self.start is None:
            self.start = time
        self.end = time

    def metadata(self) -> dict[str, str]:
        """Its declaration as the recording's ``twin.truth`` metadata."""
        return {
            "every": repr(self.every),
            "fields": json.dumps([[f.domain, f.field, f.unit, f.resolution, f.default, f.kind] for f in self.fields.values()]),
            "rules": json.dumps({rule: list(where) for rule, where in sorted(self.rules.items())}),
        }

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> Truth:
        fields = [FieldTruth(d, f, unit, float(res), float(default), kind) for d, f, unit, res, default, kind in json.loads(meta["fields"])]
        rules = {rule: (where[0], where[1]) for rule, where in json.loads(meta["rules"]).items()}
        return cls(float(meta["every"]), fields, rules)

    # -- reading -------------------------------------------------------------------------
    @property
    def series(self) -> dict[tuple[str, str], TruthSeries]:
        """Every series the truth holds, by (asset, field): the measured fields of every
        asset a sensor measures, and the risk fields of every asset whose true risk ever
        left its default."""
        if self._series is not None:
            return self._series
        out: dict[tuple[str, str], TruthSeries] = {}
        for (domain, name), points in self._points.items():
            spec = self.fields.get((domain, name))
            for row, (times, values) in points.items():
                asset = self._names.get(domain, {}).get(row)
                if asset is None:
                    continue
                out[(asset, name)] = self._one(asset, domain, name, spec, times, values)
        self._series = out
        return out

    def _one(self, asset: str, domain: str, name: str, spec: FieldTruth | None, times: list[float],
                values: list[float]) -> TruthSeries:
        if spec is not None and spec.kind == "risk" and self.start is not None and times[0] > self.start:
            # a risk is kept from its default on: before its first news it held that
            times, values = [self.start, *times], [spec.default, *values]
        return TruthSeries(asset, domain, name, spec.unit if spec else "", spec.kind if spec else "measured",
                           np.asarray(times, dtype=np.float64), np.asarray(values, dtype=np.float64))

    def value_at(self, asset: str, name: str, t: float, domain: str | None = None) -> float | None:
        """The true value of ``name`` on ``asset`` at ``t`` (run clock); None when the truth
        does not know it (before its first sample, or a field it does not keep). A risk
        field the truth never named the asset in held its default."""
        if self.start is None or t < self.start - 1e-9:
            return None
        for d in [domain] if domain else sorted({d for d, f in self.fields if f == name}):
            spec = self.fields.get((d, name))
            if spec is None:
                continue
            row = self._rows.get(d, {}).get(asset)
            points = self._points.get((d, name), {}).get(row) if row is not None else None
            if points is not None:
                i = bisect.bisect_right(points[0], t + 1e-9) - 1
                if i >= 0:
                    return points[1][i]
            if spec.kind == "risk" and (domain or row is not None):
                return spec.default
        return None

    def level_at(self, asset: str, rule: str, t: float) -> int | None:
        """The level (0 none .. 4 red) the truth was at for ``rule`` on ``asset`` at
        ``t``: its risk field on the true state, without hysteresis or dwell. None when
        the truth does not know it (a rule whose kernel it could not run, a time before
        its first sample)."""
        where = self.rules.get(rule)
        if where is None:
            return None
        risk = self.value_at(asset, where[1], t, domain=where[0])
        return None if risk is None or not math.isfinite(risk) else level_of(risk)

    def until(self, t: float) -> Truth:
        """A copy holding the samples at or before ``t`` only (a branch's parent, up to
        the branch point)."""
        out = Truth(self.every, list(self.fields.values()), self.rules)
        out._names = {d: dict(n) for d, n in self._names.items()}
        out._rows = {d: dict(r) for d, r in self._rows.items()}
        for key, points in self._points.items():
            kept = {}
            for row, (times, values) in points.items():
                n = bisect.bisect_right(times, t + 1e-9)
                if n:
                    kept[row] = (times[:n], values[:n])
            out._points[key] = kept
        out.start = self.start if self.start is not None and self.start <= t + 1e-9 else None
        out.end = min(self.end, t) if self.end is not None and out.start is not None else None
        return out

    def then(self, after: Truth) -> Truth:
        """This truth followed by ``after`` (a branch's own, from its branch point on):
        each series continues with ``after``'s samples."""
        out = self.until(math.inf)
        for domain, names in after._names.items():
            out._names.setdefault(domain, {}).update(names)
            out._rows.setdefault(domain, {}).update({a: r for r, a in names.items()})
        for key, spec in after.fields.items():
            out.fields.setdefault(key, spec)
        out.rules.update(after.rules)
        for key, spec in after.fields.items():
            mine = out._points.setdefault(key, {})
            theirs = after._points.get(key, {})
            for row, (times, values) in theirs.items():
                before = mine.get(row, ([], []))
                cut = bisect.bisect_left(before[0], times[0] - 1e-9) if times else len(before[0])
                mine[row] = (before[0][:cut] + times, before[1][:cut] + values)
            if spec.kind == "risk" and after.start is not None:
                # ``after`` named only the risks off their default at its start: the others held it
                for row, (times, values) in mine.items():
                    if row not in theirs and values and values[-1] != spec.default and times[-1] < after.start:
                        times.append(after.start)
                        values.append(spec.default)
        if after.start is not None:
            out.start = after.start if out.start is None else out.start
            out.end = after.end
        return out


class TruthSampler:
    """Samples a running engine's truth (it needs the simulator): call :meth:`start`
    once, then :meth:`after_tick` with every frame; each returns the message to record
    (None when there is no news). :attr:`truth` keeps every sample, for the scorer."""

    def __init__(self, engine: Any, every: float = EVERY) -> None:
        sim = engine.simulator
        if sim is None:
            raise ValueError("the truth is the simulator's: this twin has none")
        self.engine = engine
        self.every = float(every)
        tables = sim.world.tables
        kept: list[tuple[str, str, np.ndarray, Kind]] = [(d, f, rows, "measured") for d, f, rows in sim.measured()]
        risk_rows: dict[tuple[str, str], np.ndarray] = {}
        rules: dict[str, tuple[str, str]] = {}
        for _, rule in engine.registry.rules:
            table = tables.get(rule.domain)
            if table is None or rule.risk_field not in table.columns:
                continue
            rows = table.rows(*rule.kinds) if rule.kinds else np.arange(len(table))
            key = (rule.domain, rule.risk_field)
            risk_rows[key] = np.union1d(risk_rows.get(key, rows[:0]), rows)
            rules[rule.name] = key
        measured = {(d, f) for d, f, _, _ in kept}
        kept += [(d, f, rows.astype(np.int64), "risk") for (d, f), rows in sorted(risk_rows.items()) if (d, f) not in measured]
        self._kept = kept
        specs = []
        self._last: dict[tuple[str, str], np.ndarray] = {}
        for domain, name, rows, kind in kept:
            spec = tables[domain].specs[name]
            specs.append(FieldTruth(domain, name, spec.unit, float(spec.resolution), float(spec.default), kind))
            # a measured field is kept whole at the first sample; a risk from its default on
            self._last[(domain, name)] = np.full(len(rows), np.nan if kind == "measured" else float(spec.default))
        self._named = {domain: np.zeros(len(table), dtype=bool) for domain, table in tables.items()}
        self._thresholds = np.asarray(LEVEL_RISK_THRESHOLDS, dtype=np.float64)
        self.truth = Truth(self.every, specs, rules)
        self._next = math.inf

    def metadata(self) -> dict[str, str]:
        return self.truth.metadata()

    def start(self) -> bytes | None:
        """Sample the truth as the run starts (the engine's time now)."""
        t = float(self.engine.time)
        self._next = t + self.every
        return self._sample(t)

    def after_tick(self, frame: Any) -> bytes | None:
        """Sample after a tick when one is due, or when an alarm's level fell in it."""
        t = float(frame.time)
        if math.isinf(self._next):
            self._next = t
        fell = any(e.kind in _FALLS for e in frame.events)
        if t < self._next - 1e-9 and not fell:
            return None
        while self._next <= t + 1e-9:
            self._next += self.every
        return self._sample(t)

    def _sample(self, t: float) -> bytes | None:
        sim = self.engine.simulator
        tables = sim.world.tables
        risk = sim.true_risk()
        news: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
        for domain, name, rows, kind in self._kept:
            column = tables[domain].columns[name] if kind == "measured" else risk.get((domain, name))
            if column is None:
                continue  # its kernel did not run: the truth does not know it now
            now = column[rows].astype(np.float64)
            last = self._last[(domain, name)]
            resolution = self.truth.fields[(domain, name)].resolution
            nan_now, nan_last = np.isnan(now), np.isnan(last)
            with np.errstate(invalid="ignore"):
                moved = np.abs(now - last) >= resolution if resolution > 0 else now != last
            changed = (moved & ~nan_now & ~nan_last) | (nan_now != nan_last)
            if kind == "risk":
                crossed = np.searchsorted(self._thresholds, now, side="right") != np.searchsorted(self._thresholds, last, side="right")
                changed |= crossed & ~nan_now
            picked = np.flatnonzero(changed)
            if len(picked):
                last[picked] = now[picked]
                news.setdefault(domain, {})[name] = (rows[picked].astype(np.uint32), now[picked])
        if not news:
            self.truth.add(t, {}, {})
            return None
        names: dict[str, list[tuple[int, str]]] = {}
        for domain, by_field in news.items():
            named = self._named[domain]
            fresh = np.unique(np.concatenate([rows for rows, _ in by_field.values()]))
            fresh = fresh[~named[fresh]]
            if len(fresh):
                named[fresh] = True
                ids = tables[domain].ids
                names[domain] = [(int(r), ids[r]) for r in fresh.tolist()]
        self.truth.add(t, news, names)
        return encode(t, news, names)


def encode(time: float, fields: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]],
           names: dict[str, list[tuple[int, str]]]) -> bytes:
    body = p.Body()
    refs = {d: {f: p.FieldDelta(body.add(rows.astype(np.uint32)), body.add(values.astype(np.float64)))
                for f, (rows, values) in by_field.items()} for d, by_field in fields.items()}
    return p.encode(TruthMessage(time, refs, names), body)


def decode(data: bytes) -> tuple[float, dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], dict[str, list[tuple[int, str]]]]:
    """(time, per domain and field (rows, values), names) of one ``/truth`` message."""
    (n,) = struct.unpack_from("<I", data, 0)
    message = _decoder.decode(data[4 : 4 + n])
    base = p.body_offset(data)
    fields = {d: {f: (p.view(data, base, ref.rows).astype(np.int64), p.view(data, base, ref.values).copy())
                  for f, ref in by_field.items()} for d, by_field in message.fields.items()}
    return message.time, fields, message.names


def read_truth(path: Path, until: float | None = None) -> Truth | None:
    """The truth a recording keeps (its ``/truth`` channel), or None when it keeps none
    (a recording of a twin fed by real sensors, or one made before the truth was kept).
    With ``until``, only the samples at or before that time (run clock). A file cut short
    gives the truth up to its last whole chunk."""
    from twin.runs.recording import RecordingReader, ns

    reader = RecordingReader(Path(path))
    try:
        meta = reader.metadata.get(METADATA)
        if meta is None:
            return None
        truth = Truth.from_metadata(meta)
        for _, _, data in reader.messages((TOPIC,), end=None if until is None else ns(until)):
            t, fields, names = decode(data)
            truth.add(t, fields, names)
    finally:
        reader.close()
    return truth


@dataclass
class TruthCopy:
    """A recording's truth, to be written again into another recording of the same world
    (a rerun: same inputs, another configuration, no simulator): its metadata and its
    messages in time order."""

    metadata: dict[str, str]
    messages: list[tuple[float, bytes]] = field(default_factory=list)

    @classmethod
    def of(cls, path: Path) -> TruthCopy | None:
        from twin.runs.recording import NS, RecordingReader

        reader = RecordingReader(Path(path))
        try:
            meta = reader.metadata.get(METADATA)
            if meta is None:
                return None
            return cls(dict(meta), [(t / NS, data) for _, t, data in reader.messages((TOPIC,))])
        finally:
            reader.close()
