"""What drives an imported network besides its own hydraulics: rain gauges, external
inflows and dry-weather flow, in time since the run's start, as SWMM 5 reads them.

Sources: Rossman & Huber, SWMM Reference Manual Vol. I – Hydrology (EPA/600/R-15/162A),
ch. 2 (rainfall: a value holds for the gauge's recording interval from its time; a gap
is no rain), and the SWMM 5 user's manual (EPA/600/R-17/040), appendix D, for
``[INFLOWS]`` (inflow = scale · series(t) + baseline · pattern factor, the series
interpolated linearly and zero outside its range) and ``[DWF]`` (average · monthly ·
daily · hourly factors, the weekend pattern replacing the hourly one on Saturdays and
Sundays).

Everything here is plain data (:func:`Forcing.from_spec` reads the importer's
``hydrology.json``) and is evaluated at a time in seconds since the run's start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

#: SWMM marches its clock one second ahead when it asks a gauge for its rain (gage.c),
#: so that a time that falls on an interval's start is inside it
AHEAD = 0.5


@dataclass
class RainGauge:
    """A gauge's rain as intervals [start, end) of constant intensity (m/s), only those
    with rain."""

    name: str
    start: np.ndarray
    end: np.ndarray
    rain: np.ndarray
    breaks: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.breaks = np.unique(np.concatenate([self.start, self.end]))

    def rain_at(self, t: float) -> float:
        """Intensity (m/s) at ``t`` s since the start."""
        k = int(np.searchsorted(self.start, t + AHEAD, side="right")) - 1
        if k >= 0 and t + AHEAD < self.end[k]:
            return float(self.rain[k])
        return 0.0

    def next_change(self, t: float) -> float:
        """The first time after ``t`` when the intensity may change (inf if never)."""
        k = int(np.searchsorted(self.breaks, t + AHEAD, side="right"))
        return float(self.breaks[k]) if k < len(self.breaks) else np.inf

    def depth_between(self, t0: float, t1: float) -> float:
        """Rain (m) that falls from ``t0`` to ``t1``."""
        overlap = np.clip(np.minimum(self.end, t1) - np.maximum(self.start, t0), 0.0, None)
        return float((overlap * self.rain).sum())


@dataclass
class Pattern:
    """A SWMM time pattern: MONTHLY (12 factors), DAILY (7, Sunday first), HOURLY or
    WEEKEND (24, from midnight)."""

    kind: str
    factors: list[float]

    def factor(self, when: datetime) -> float:
        if self.kind == "MONTHLY":
            k = when.month - 1
        elif self.kind == "DAILY":
            k = (when.weekday() + 1) % 7  # Sunday = 0
        else:
            k = when.hour
        return self.factors[k] if k < len(self.factors) else 1.0


@dataclass
class Inflow:
    """An inflow at a node (m³/s): an ``[INFLOWS]`` row (scale · series + baseline ·
    pattern) or a ``[DWF]`` row (average · its patterns)."""

    node: str
    series_t: np.ndarray
    series_v: np.ndarray
    scale: float
    baseline: float
    patterns: list[Pattern]
    dry_weather: bool

    def at(self, t: float, when: datetime) -> float:
        if self.dry_weather:
            weekend = (when.weekday() + 1) % 7 in (0, 6)
            f = 1.0
            hourly = [p for p in self.patterns if p.kind == "HOURLY"]
            weekend_patterns = [p for p in self.patterns if p.kind == "WEEKEND"]
            for p in self.patterns:
                if p.kind in ("MONTHLY", "DAILY"):
                    f *= p.factor(when)
            if weekend_patterns and weekend:
                f *= weekend_patterns[0].factor(when)
            elif hourly:
                f *= hourly[0].factor(when)
            return self.baseline * f
        value = 0.0
        if len(self.series_t) and self.series_t[0] <= t <= self.series_t[-1]:
            value = float(np.interp(t, self.series_t, self.series_v)) * self.scale
        base = self.baseline
        for p in self.patterns:
            base *= p.factor(when)
        return value + base


@dataclass
class Forcing:
    """The rain gauges and node inflows of an imported network."""

    start: datetime
    gauges: list[RainGauge]
    inflows: list[Inflow]

    @classmethod
    def from_spec(cls, spec: dict) -> "Forcing":
        start = datetime.fromisoformat(spec["start"])
        gauges = [RainGauge(g["name"], np.asarray(g["start"], dtype=float), np.asarray(g["end"], dtype=float),
                            np.asarray(g["rain"], dtype=float) / 3.6e6) for g in spec.get("gauges", [])]
        patterns = {name: Pattern(p["kind"], list(p["factors"])) for name, p in spec.get("patterns", {}).items()}
        series = spec.get("series", {})
        inflows = []
        for f in spec.get("inflows", []):
            s = series.get(f.get("series") or "", {"t": [], "v": []})
            inflows.append(Inflow(f["node"], np.asarray(s["t"], dtype=float), np.asarray(s["v"], dtype=float),
                                  float(f.get("scale", 1.0)), float(f.get("baseline", 0.0)),
                                  [patterns[p] for p in f.get("patterns", []) if p in patterns],
                                  bool(f.get("dry_weather", False))))
        return cls(start, gauges, inflows)

    def gauge_rain(self, t: float) -> np.ndarray:
        """Intensity (m/s) of every gauge at ``t`` s since the start."""
        return np.array([g.rain_at(t) for g in self.gauges])

    def node_inflows(self, t: float, node_index: dict[str, int], out: np.ndarray) -> None:
        """Add every inflow at ``t`` (m³/s) to ``out`` at its node's index."""
        if not self.inflows:
            return
        when = self.start + timedelta(seconds=t)
        for f in self.inflows:
            k = node_index.get(f.node)
            if k is not None:
                out[k] += f.at(t, when)


def outfall_stage(stage: dict, t: float) -> float:
    """The water elevation (m) at an outfall with a stage (inp.py's ``stage`` record) ``t``
    s after the run's start, as SWMM's outfall_setOutletDepth: a TIMESERIES stage
    interpolated linearly and held beyond its ends; a TIDAL curve at its first hour plus
    the hours since the start, modulo a day, held beyond its ends."""
    if stage["kind"] == "TIMESERIES":
        return float(np.interp(t, stage["t"], stage["z"]))
    x = stage["x"]
    return float(np.interp(x[0] + (t / 3600.0) % 24.0, x, stage["z"]))
