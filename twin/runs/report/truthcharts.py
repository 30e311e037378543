"""The truth beside the measurement, in the report: for the sensors that matter, what the
sensor said and what the simulated world really held, on one chart, and the all-clears
the truth contradicts.

A recording of a run with the simulator keeps the ground truth of the measured fields
and of the alarm rules' risk (:mod:`twin.runs.truth`). :func:`truth_charts` picks the
sensors that matter — every sensor a fault was injected into (drift, stuck, dead), then
the sensors of the worst alarms' assets and of any asset whose alarm fell while its
truth had not — and gives per sensor the series a chart is drawn from:
``measured`` (its raw readings as recorded), ``true`` (the truth of the field it
measures), and on the alarm rule's risk, the twin's (from the recorded frames) and the
true one, against the level thresholds. :func:`false_clears` finds each fall of an
alarm's level while the truth was still at the level it fell from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twin.runs.report.data import AlarmLife, Run, Twin
from twin.runs.report.groups import AlarmGroup

#: sensors charted at most (every faulty one first)
MAX_CHARTS = 6
#: the sensor faults whose state lasts until a repair
FAULTS = ("sensor.drift", "sensor.stuck", "sensor.dead")


@dataclass
class FalseClear:
    """An alarm whose level fell (``before`` to ``after``) at ``time`` while the truth of
    its rule was still at ``truth`` >= ``before``; ``faults``: (sensor, fault, since) of
    its asset's sensors faulty at that moment."""

    alarm: AlarmLife
    time: float
    before: int
    after: int
    truth: int
    faults: list[tuple[str, str, float]] = field(default_factory=list)


@dataclass
class TruthChart:
    """One sensor's chart: its readings and the truth of the field it measures, and the
    risk of its asset's worst alarm rule, the twin's and the true one."""

    sensor: str
    asset: str
    domain: str
    field: str
    unit: str
    #: why it is charted: "fault" (a fault was injected into it) or "alarm"
    why: str
    #: the fault actions applied to it ({time, action, params})
    faults: list[dict[str, Any]]
    measured_times: np.ndarray
    measured: np.ndarray
    true_times: np.ndarray
    true: np.ndarray
    #: (rule, risk field) charted below, or None when its asset has no alarm rule's risk in the truth
    risk: tuple[str, str] | None = None
    risk_times: np.ndarray = field(default_factory=lambda: np.empty(0))
    twin_risk: np.ndarray = field(default_factory=lambda: np.empty(0))
    true_risk_times: np.ndarray = field(default_factory=lambda: np.empty(0))
    true_risk: np.ndarray = field(default_factory=lambda: np.empty(0))
    alarms: list[AlarmLife] = field(default_factory=list)
    false_clears: list[FalseClear] = field(default_factory=list)
    path: Path | None = None

    def true_at(self, times: np.ndarray) -> np.ndarray:
        """The truth (a step function) at each of ``times``; NaN before its first sample."""
        times = np.asarray(times, dtype=np.float64)
        if not len(self.true):
            return np.full(len(times), np.nan)
        i = np.searchsorted(self.true_times, times + 1e-9, side="right") - 1
        return np.where(i >= 0, self.true[np.clip(i, 0, None)], np.nan).astype(np.float64)

    def gap(self) -> float:
        """The largest |measured - true| over the readings (0 without readings)."""
        if not len(self.measured):
            return 0.0
        d = np.abs(self.measured - self.true_at(self.measured_times))
        return float(np.nanmax(d)) if np.isfinite(d).any() else 0.0


def faults_by_sensor(run: Run) -> dict[str, list[dict[str, Any]]]:
    """Each sensor's fault and repair actions, in time order, from the run's inputs."""
    out: dict[str, list[dict[str, Any]]] = {}
    for action in run.inputs:
        if str(action.get("action", "")).startswith("sensor."):
            out.setdefault(str(action.get("target", "")), []).append(action)
    return out


def faulty_at(sensors: list[str], faults: dict[str, list[dict[str, Any]]], t: float) -> list[tuple[str, str, float]]:
    """(sensor, fault, since) of each of ``sensors`` faulty (drift, stuck, dead, not
    repaired since) at ``t``."""
    out = []
    for s in sensors:
        state = None
        for f in faults.get(s, []):
            if float(f["time"]) <= t + 1e-9:
                state = (s, str(f["action"]), float(f["time"])) if f["action"] in FAULTS else None
        if state is not None:
            out.append(state)
    return out


def false_clears(run: Run, truth: Any, sensors_of: dict[str, list[str]] | None = None) -> list[FalseClear]:
    """Every fall of an alarm's level (an ease or a clear) while the truth of its rule
    on its asset was still at the level it fell from or worse, in time order; with the
    faulty sensors of its asset (``sensors_of``: asset -> its sensors)."""
    if truth is None:
        return []
    faults = faults_by_sensor(run)
    out = []
    for a in run.alarms.values():
        previous = 0
        for when, level in a.levels:
            if 0 < level < previous or (level == 0 and previous > 0):
                true = truth.level_at(a.asset, a.rule, when)
                if true is not None and true >= previous:
                    out.append(FalseClear(a, when, previous, level, true, faulty_at((sensors_of or {}).get(a.asset, []), faults, when)))
            previous = level
    return sorted(out, key=lambda f: (f.time, f.alarm.id))


def worst_false_clears(found: list[FalseClear]) -> list[FalseClear]:
    """One per alarm: its fall to the lowest level the truth contradicts (its clear, if
    that was one), worst truth first."""
    by_alarm: dict[int, FalseClear] = {}
    for f in found:
        kept = by_alarm.get(f.alarm.id)
        if kept is None or (f.after, -f.time) <= (kept.after, -kept.time):
            by_alarm[f.alarm.id] = f
    return sorted(by_alarm.values(), key=lambda f: (-f.truth, f.time))


def _readings(path: Path, indices: dict[int, str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The good raw readings of the sensors at ``indices`` (scene order -> id): times and values."""
    from twin.runs.recording import decode_batch, read_stream

    times: dict[str, list[np.ndarray]] = {s: [] for s in indices.values()}
    values: dict[str, list[np.ndarray]] = {s: [] for s in indices.values()}
    wanted = np.asarray(sorted(indices), dtype=np.int64)
    for _, _, data in read_stream(Path(path), ("/input/readings",)):
        index, at, value, quality = decode_batch(data)
        if not len(index):
            continue
        pick = np.isin(index, wanted) & (quality == 0) & np.isfinite(value)
        for i in np.flatnonzero(pick):
            sensor = indices[int(index[i])]
            times[sensor].append(at[i : i + 1])
            values[sensor].append(value[i : i + 1])
    out = {}
    for s in indices.values():
        t = np.concatenate(times[s]).astype(np.float64) if times[s] else np.empty(0)
        v = np.concatenate(values[s]).astype(np.float64) if values[s] else np.empty(0)
        order = np.argsort(t, kind="stable")
        out[s] = (t[order], v[order])
    return out


def truth_charts(run: Run, twin: Twin, truth: Any, groups: list[AlarmGroup], found: list[FalseClear],
                 limit: int = MAX_CHARTS) -> tuple[list[TruthChart], int]:
    """The charts of the sensors that matter (see the module's docstring), at most
    ``limit``, and how many sensors mattered in all. Only sensors whose field the truth
    keeps are charted."""
    from twin.runs.report.data import field_series

    sensors = {s.id: (i, s) for i, s in enumerate(twin.scene.sensors)}
    faults = faults_by_sensor(run)
    order: list[tuple[str, str]] = [(s, "fault") for s in faults if s in sensors]
    assets = [f.alarm.asset for f in found] + [g.worst.asset for g in groups]
    by_asset: dict[str, list[str]] = {}
    for sid, (_, s) in sensors.items():
        by_asset.setdefault(s.asset, []).append(sid)
    for asset in assets:
        order += [(sid, "alarm") for sid in by_asset.get(asset, [])]
    seen: set[str] = set()
    chosen: list[tuple[str, str]] = []
    for sid, why in order:
        s = sensors[sid][1]
        if sid in seen or (s.asset, s.field) not in truth.series:
            continue
        seen.add(sid)
        chosen.append((sid, why))
    mattered = len(chosen)
    chosen = chosen[:limit]
    if not chosen:
        return [], 0
    readings = _readings(run.path, {sensors[sid][0]: sid for sid, _ in chosen})
    charts: list[TruthChart] = []
    for sid, why in chosen:
        s = sensors[sid][1]
        series = truth.series[(s.asset, s.field)]
        spec = twin.spec(series.domain, s.field)
        t, v = readings[sid]
        chart = TruthChart(sid, s.asset, series.domain, s.field, series.unit or (spec.unit if spec is not None else ""), why,
                           faults.get(sid, []), t, v, series.times, series.values)
        chart.alarms = sorted((a for a in run.alarms.values() if a.asset == s.asset), key=lambda a: (-a.peak_level, a.raised))
        rules = [a.rule for a in chart.alarms] + [r.name for _, r in twin.registry.rules if r.domain == series.domain]
        for rule in rules:
            where = truth.rules.get(rule)
            if where is not None and (s.asset, where[1]) in truth.series:
                chart.risk = (rule, where[1])
                break
        chart.false_clears = [f for f in found if f.alarm.asset == s.asset]
        charts.append(chart)
    # the twin's risk on each charted asset, from the recorded frames (one pass)
    wanted: dict[str, dict[str, list[int]]] = {}
    columns: dict[tuple[str, str, str], int] = {}
    for c in charts:
        if c.risk is None:
            continue
        row = twin.rows(c.domain).get(c.asset)
        if row is None:
            continue
        rows = wanted.setdefault(c.domain, {}).setdefault(c.risk[1], [])
        key = (c.domain, c.risk[1], c.asset)
        if key not in columns:
            columns[key] = len(rows)
            rows.append(row)
    if wanted:
        times, values = field_series(run.path, wanted)
        for c in charts:
            if c.risk is not None and (c.domain, c.risk[1], c.asset) in columns:
                c.risk_times = times
                c.twin_risk = values[(c.domain, c.risk[1])][:, columns[(c.domain, c.risk[1], c.asset)]]
    for c in charts:
        if c.risk is not None:
            true_risk = truth.series[(c.asset, c.risk[1])]
            c.true_risk_times, c.true_risk = true_risk.times, true_risk.values
    return charts, mattered


def plot_truth(c: TruthChart, run: Run, twin: Twin, out: Path, lang: str) -> Path:
    """Draw one sensor's chart: above, its readings (measured) and the truth of its
    field; below, the twin's risk and the true risk against the level thresholds
    (bands), the alarm's level along the bottom, and each all-clear the truth
    contradicts marked and named."""
    from twin.i18n import LEVEL_COLOURS, words
    from twin.runs.report.plots import field_label, fonts, pyplot, time_axis
    from twin.runs.report.text import domain_name, level_name
    from twin.types import LEVEL_RISK_THRESHOLDS

    plt = pyplot()
    w = words(lang)
    rows = 2 if c.risk is not None else 1
    with plt.rc_context(fonts(lang)):
        fig, axes = plt.subplots(rows, 1, figsize=(10, 2.2 + 2.3 * rows), sharex=True, squeeze=False)
        axes = axes[:, 0]
        ax = axes[0]
        ax.plot(c.measured_times, c.measured, color="#1f5fbf", lw=1.2, marker=".", ms=2.5, label=w["truthMeasured"].format(sensor=c.sensor))
        if len(c.true_times):
            t = np.append(c.true_times, max(run.end, float(c.true_times[-1])))
            v = np.append(c.true, c.true[-1])
            ax.step(t, v, where="post", color="#c4161c", lw=1.8, label=w["truthTrue"])
        ax.set_ylabel(field_label(twin, c.domain, c.field, lang), fontsize=8)
        ax.legend(loc="upper left", fontsize=8, framealpha=0.85)
        ax.grid(alpha=0.3)
        if c.risk is not None:
            rk = axes[1]
            edges = [0.0, *LEVEL_RISK_THRESHOLDS, 1.04]
            for level in range(1, 5):
                rk.axhspan(edges[level], edges[level + 1], color=LEVEL_COLOURS[level], alpha=0.14, lw=0)
                rk.axhline(edges[level], color=LEVEL_COLOURS[level], lw=0.8, alpha=0.8)
            if len(c.risk_times):
                rk.plot(c.risk_times, c.twin_risk, color="#1f5fbf", lw=1.4, label=w["truthTwinRisk"])
            if len(c.true_risk_times):
                t = np.append(c.true_risk_times, max(run.end, float(c.true_risk_times[-1])))
                rk.step(t, np.append(c.true_risk, c.true_risk[-1]), where="post", color="#c4161c", lw=1.8, label=w["truthTrueRisk"])
            for a in c.alarms:
                edges_t = [*a.levels, (a.resolved if a.resolved is not None else run.end, 0)]
                for (t0, lvl), (t1, _) in zip(edges_t, edges_t[1:]):
                    if lvl > 0 and t1 > t0:
                        rk.axvspan(t0, t1, ymin=0.0, ymax=0.05, color=LEVEL_COLOURS[lvl], lw=0)
            rk.set_ylim(0, 1.04)
            rk.set_ylabel(f"{w['risk']} ({c.risk[0]})", fontsize=8)
            rk.legend(loc="upper left", fontsize=8, framealpha=0.85)
        for f in worst_false_clears(c.false_clears):
            for a_ in axes:
                a_.axvline(f.time, color="#c4161c", lw=2.2, ls="-", alpha=0.9)
            axes[-1].annotate(w["truthFalseMark"].format(level=level_name(f.truth, lang)), (f.time, 0.5),
                              xycoords=("data", "axes fraction"), xytext=(-6, 0), textcoords="offset points", ha="right",
                              va="center", fontsize=8, fontweight="bold", color="#c4161c",
                              bbox={"boxstyle": "round", "fc": "white", "ec": "#c4161c"})
        for action in c.faults:
            for a_ in axes:
                a_.axvline(float(action["time"]), color="#555555", ls="--", lw=1)
            ax.text(float(action["time"]), 0.97, f" {action['action']}", rotation=90, va="top", ha="left", fontsize=7,
                    transform=ax.get_xaxis_transform())
        for a_ in axes:
            a_.set_xlim(run.start, max(run.end, run.start + 1))
        time_axis(axes[-1], run)
        axes[-1].set_xlabel(f"{w['tAxis']} ({run.timezone})" if run.clock_start else w["tAxis"])
        fig.suptitle(w["truthTitle"].format(sensor=c.sensor, asset=c.asset, domain=domain_name(twin, c.domain, lang)), fontsize=11)
        fig.tight_layout()
        path = out / f"truth-{re.sub(r'[^A-Za-z0-9_.-]+', '_', c.sensor)}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return path
