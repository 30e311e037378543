"""After-action reports: what happened in a recorded run, for the drill team's review.

``twin report RECORDING [-o DIR] [--lang en|zh-CN]`` reads a recording (see
:mod:`twin.runs.recording`) and writes ``report.html`` with its pictures beside it in
``DIR`` (no internet needed to read it), and ``report.pdf`` with the same pictures and a
summary page (matplotlib's ``PdfPages``):

- the run: scene, drill, seed, tick, span, when it was recorded, plugins;
- the scorecard: the drill's expectations re-scored from the recorded alarm events with
  :func:`twin.runs.drill.score`, when the recording names a drill file that still exists;
- per alarm the times to detect, acknowledge, dispatch and resolve (and when the
  condition cleared). *Detect* runs from the first input action (drill event, scripted
  incident, director's action) on the alarmed asset or an asset linked to it, taken at or
  before the alarm was raised, else from the start of the run, to the raise; the others
  run from the raise to the operator's first such action;
- the timeline of alarm events, operator actions and input actions, as a chart and a
  table (levels in colour and in words);
- plots of the key fields of every asset that alarmed, decoded from the recorded
  keyframes and deltas: the risk field of each of its alarm rules and up to three live
  fields that drive it. The drivers are chosen without knowing any domain: the live
  inputs (then outputs) of the kernel that writes the rule's risk field, ranked by how
  much they changed on that asset during the run;
- the district at the worst moment (the first time the sum of the levels of the open
  alarms is highest), rendered off screen by pyvista from the viewer's meshes
  (:mod:`twin.serving.geometry`): buildings translucent, assets coloured by their alarm level at
  that moment, alarmed assets pinned and labelled.

The core knows no domain here either: titles, units and Chinese field labels come from
the plugins' declarations (:class:`~twin.plugins.contributions.FieldSpec`, alarm events).
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twin.runs.drill import clock
from twin.types import LEVEL_NAMES

#: display colours per level (0 none .. 4 red), as the viewer draws them (viewer/src/levels.js)
LEVEL_COLOURS = ("#6b7686", "#2f7bff", "#ffd21f", "#ff7a1a", "#ff2d2d")
#: text colour that reads on each level's colour
LEVEL_INK = ("#ffffff", "#ffffff", "#101010", "#101010", "#ffffff")
ALARM_KINDS = ("raise", "escalate", "deescalate", "clear", "overdue")
OPERATOR_KINDS = ("acknowledge", "dispatch", "resolve")
LANGS = ("en", "zh-CN")
#: a field's change under this share of its valid range does not make it a driver
NEGLIGIBLE = 1e-3
#: fonts with CJK glyphs, tried in order for zh-CN plots (Debian: fonts-wqy-microhei)
CJK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "SimHei", "Microsoft YaHei")
CJK_FONT_FILES = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "After-action report",
        "run": "The run",
        "scene": "Scene",
        "drill": "Drill",
        "seed": "Seed",
        "tick": "Tick",
        "span": "Simulated",
        "recorded": "Recorded (UTC)",
        "file": "Recording",
        "plugins": "Plugins",
        "thresholds": "Threshold overrides",
        "incomplete": "The recording was cut short (no MCAP summary: its writer was killed or could not write on); this report covers what it holds, up to {end}.",
        "summary": "{n} alarms raised on {assets} assets; highest level {peak}; worst moment {worst} (sum of open alarm levels {total}).",
        "summary_none": "No alarm was raised.",
        "scorecard": "Scorecard",
        "score_note": "The drill's expectations in {path}, re-scored from the recorded alarm events.",
        "no_drill": "No scorecard: the recording names no drill file, or it no longer exists ({path}).",
        "pass": "PASS",
        "fail": "FAIL",
        "expectation": "Expectation",
        "result": "Result",
        "detail": "Detail",
        "worst": "The district at the worst moment",
        "worst_caption": "At {time}: {n} open alarms, sum of levels {total}. Buildings translucent; assets in their alarm level's colour (others in their domain's colour, faded); alarmed assets pinned and labelled. Rendered off screen.",
        "no_picture": "No picture of the district: {why}.",
        "alarms": "Alarms",
        "alarm": "Alarm",
        "asset": "Asset",
        "rule": "Rule",
        "owner": "Owner",
        "peak": "Peak level",
        "raised": "Raised",
        "detect": "To detect",
        "ack": "To acknowledge",
        "dispatch": "To dispatch",
        "resolve": "To resolve",
        "cleared": "Condition cleared",
        "from": "from",
        "run_start": "start of the run",
        "not_done": "not within the recording",
        "measures": "How the times are measured. <b>To detect</b>: from the first input action (drill event, scripted incident or director's action) on the alarmed asset or an asset linked to it, taken at or before the raise (named in each cell), otherwise from the start of the run, to the moment the alarm was raised (its first level, after the rule's dwell). <b>To acknowledge, dispatch, resolve</b>: from the raise to the first such operator action. <b>Condition cleared</b>: when the level first fell back to none. —: not within the recording.",
        "timeline": "Timeline",
        "time": "Time",
        "event": "Event",
        "what": "What",
        "level": "Level",
        "who": "Who / note",
        "input": "action",
        "fields": "Key fields of the assets that alarmed",
        "fields_note": "Per asset: the risk field of each alarm rule, with the level thresholds shaded, and up to three live fields that drive it (the inputs of the kernel that computes the risk, then its other outputs, ranked by how much they changed on this asset). Dashed lines: input actions on this asset or a linked one; triangles: operator actions; black dotted line: the worst moment.",
        "no_fields": "No field plots: {why}.",
        "pdf": "The same pictures with a summary page: {pdf}.",
        "risk": "risk",
        "t_axis": "simulation time",
        "level_axis": "level",
        "timeline_chart": "Each alarm's level over time (colour), with operator actions (triangle acknowledge, square dispatch, cross resolve) and input actions (dashed).",
        "worst_short": "worst moment",
        "raise": "raised",
        "escalate": "escalated",
        "deescalate": "de-escalated",
        "clear": "cleared",
        "overdue": "overdue (not acknowledged in time)",
        "acknowledge": "acknowledged",
        "resolve_k": "resolved",
        "dispatch_k": "dispatched",
    },
    "zh-CN": {
        "title": "演练复盘报告",
        "run": "运行概况",
        "scene": "场景",
        "drill": "演练",
        "seed": "随机种子",
        "tick": "步长",
        "span": "模拟时长",
        "recorded": "记录时间（UTC）",
        "file": "记录文件",
        "plugins": "插件",
        "thresholds": "阈值覆盖",
        "incomplete": "记录文件不完整（无 MCAP 摘要：写入进程被终止或无法继续写入）；本报告涵盖其已有数据，截至 {end}。",
        "summary": "共触发 {n} 条报警，涉及 {assets} 个设施；最高等级 {peak}；最严重时刻 {worst}（未关闭报警等级之和 {total}）。",
        "summary_none": "未触发任何报警。",
        "scorecard": "评分表",
        "score_note": "按演练文件 {path} 中的预期，根据记录的报警事件重新评分。",
        "no_drill": "无评分表：记录未指明演练文件，或该文件已不存在（{path}）。",
        "pass": "通过",
        "fail": "未通过",
        "expectation": "预期",
        "result": "结果",
        "detail": "说明",
        "worst": "最严重时刻的片区态势",
        "worst_caption": "{time}：{n} 条未关闭报警，等级之和 {total}。建筑半透明；设施按报警等级着色（其余按所属专业颜色淡显）；报警设施以标签标出。服务器端离屏渲染。",
        "no_picture": "无片区图：{why}。",
        "alarms": "报警",
        "alarm": "报警",
        "asset": "设施",
        "rule": "规则",
        "owner": "权属单位",
        "peak": "最高等级",
        "raised": "触发时间",
        "detect": "发现用时",
        "ack": "确认用时",
        "dispatch": "派遣用时",
        "resolve": "处置完成用时",
        "cleared": "险情消除",
        "from": "起点",
        "run_start": "运行开始",
        "not_done": "记录内未发生",
        "measures": "用时的计算方法。<b>发现用时</b>：自报警设施本身或与其关联设施上的首个输入动作（演练事件、脚本事件或导演操作，且不晚于报警触发；单元格中注明），若无则自运行开始，至报警触发（经规则驻留时间后首次达到某一等级）。<b>确认、派遣、处置完成用时</b>：自报警触发至首次相应的值班操作。<b>险情消除</b>：等级首次回落为正常的时间。—：记录内未发生。",
        "timeline": "时间线",
        "time": "时间",
        "event": "事件",
        "what": "内容",
        "level": "等级",
        "who": "操作人 / 备注",
        "input": "动作",
        "fields": "报警设施的关键指标",
        "fields_note": "每个设施：各报警规则的风险值（阴影为各等级阈值），以及至多三个驱动它的实时指标（计算风险的内核的输入，其次为其其他输出，按该设施上的变化幅度排序）。虚线：该设施或关联设施上的输入动作；三角：值班操作；黑色点线：最严重时刻。",
        "no_fields": "无指标曲线：{why}。",
        "pdf": "相同图片及摘要页：{pdf}。",
        "risk": "风险",
        "t_axis": "模拟时间",
        "level_axis": "等级",
        "timeline_chart": "各报警等级随时间变化（颜色），及值班操作（三角：确认，方块：派遣，叉：处置完成）和输入动作（虚线）。",
        "worst_short": "最严重时刻",
        "raise": "触发",
        "escalate": "升级",
        "deescalate": "降级",
        "clear": "消除",
        "overdue": "超时未确认",
        "acknowledge": "确认",
        "resolve_k": "处置完成",
        "dispatch_k": "派遣",
    },
}


# ------------------------------------------------------------------------ the run


@dataclass
class AlarmSummary:
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
    alarms: dict[int, AlarmSummary]
    #: the run's clock start, UTC epoch seconds (0: a clock that counted from nothing)
    clock_start: float = 0.0
    #: the scene's time zone (IANA), where the run's moments are read
    timezone: str = "UTC"

    def moment(self, t: float, date: bool = False) -> str:
        """A moment of the run as people read it: the local time in the scene's zone of a
        clock from an instant (a drill's, a live run's), with the date and zone if asked;
        HH:MM:SS of a clock that counted from 0."""
        if not self.clock_start:
            return clock(t)
        from datetime import datetime
        from zoneinfo import ZoneInfo

        local = datetime.fromtimestamp(t, ZoneInfo(self.timezone))
        return local.strftime("%Y-%m-%d %H:%M:%S %Z" if date else "%H:%M:%S")

    def open_levels(self, t: float) -> dict[str, int]:
        """The worst level of each asset's open alarms at time ``t``."""
        out: dict[str, int] = {}
        for a in self.alarms.values():
            level = a.level_at(t)
            if level:
                out[a.asset] = max(out.get(a.asset, 0), level)
        return out

    def worst_moment(self) -> tuple[float, int]:
        """The first time the sum of the levels of the open alarms is highest, and that sum
        (the end of the run and 0 when nothing alarmed)."""
        best_t, best = self.end, 0
        times = sorted({e["time"] for e in self.events})
        for t in times:
            total = sum(a.level_at(t) for a in self.alarms.values())
            if total > best:
                best_t, best = t, total
        return best_t, best


def read_run(path: Path) -> Run:
    """Read a recording's metadata, alarm events, operator actions and input actions."""
    from twin.runs.recording import info, read_stream

    i = info(Path(path))
    events: list[dict[str, Any]] = []
    inputs: list[dict[str, Any]] = []
    for topic, _, data in read_stream(Path(path), ("/alarm/event", "/operator/action", "/input/action")):
        body = json.loads(data)
        (inputs if topic == "/input/action" else events).append(body)
    alarms: dict[int, AlarmSummary] = {}
    for ev in events:
        a = ev["alarm"]
        s = alarms.get(a["id"])
        if s is None:
            s = alarms[a["id"]] = AlarmSummary(a["id"], a["asset"], a["domain"], a["rule"], a.get("title", ""), a.get("title_zh", ""),
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
    start = i.start if math.isfinite(i.start) else 0.0
    end = i.end if math.isfinite(i.end) else start
    return Run(Path(path), dict(i.metadata), i.created, start, end, i.complete, events, inputs, alarms,
               float(i.metadata.get("start", "0")), i.metadata.get("timezone", "UTC"))


# ----------------------------------------------------------------------- the scene


@dataclass
class Twin:
    """The recorded run's scene and the plugins' declarations, when they can be loaded."""

    scene: Any
    registry: Any

    def related(self, asset: str) -> set[str]:
        """The asset, the assets it links and the assets that link it."""
        out = {asset}
        try:
            out |= set(self.scene.asset(asset).links)
        except KeyError:
            return out
        for assets in self.scene.assets.values():
            for a in assets:
                if asset in a.links:
                    out.add(a.id)
        return out

    def sensor_asset(self, target: str) -> str:
        for s in self.scene.sensors:
            if s.id == target:
                return s.asset
        return target

    def rows(self, domain: str) -> dict[str, int]:
        return {a.id: r for r, a in enumerate(self.scene.assets.get(domain, []))}

    def rule(self, name: str) -> Any:
        return next((r for _, r in self.registry.rules if r.name == name), None)

    def spec(self, domain: str, name: str) -> Any:
        d = self.registry.domains.get(domain)
        return next((f for f in d.fields if f.name == name), None) if d is not None else None

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
    return Twin(scene, registry), ""


def link_detection(run: Run, twin: Twin | None) -> None:
    """Set each alarm's ``detect_from``: the first input action on its asset or a linked
    one at or before the raise."""
    for a in run.alarms.values():
        related = twin.related(a.asset) if twin is not None else {a.asset}
        for action in sorted(run.inputs, key=lambda x: x["time"]):
            if action["time"] > a.raised + 1e-9:
                break
            target = str(action.get("target", ""))
            if str(action.get("action", "")).startswith("sensor.") and twin is not None:
                target = twin.sensor_asset(target)
            if target in related:
                a.detect_from = (float(action["time"]), action)
                break


# ------------------------------------------------------------------------ the frames


def field_series(path: Path, wanted: dict[str, dict[str, list[int]]]) -> tuple[np.ndarray, dict[tuple[str, str], np.ndarray]]:
    """Values of some rows of some fields at every recorded frame, from the first keyframe
    and the deltas after it: times (n,), and per (domain, field) an array (n, rows) in the
    order of ``wanted[domain][field]``. A gap in the deltas waits for the next keyframe."""
    from twin.serving.client import Mirror
    from twin.runs.recording import read_stream

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
    asset: str
    domain: str
    #: (rule name, risk field) of each of the asset's alarm rules
    risks: list[tuple[str, str]]
    drivers: list[str]
    path: Path | None = None


def choose_fields(run: Run, twin: Twin) -> list[AssetPlot]:
    """Per alarmed asset (with a row in the scene): its rules' risk fields and the candidate
    drivers, in the order they are ranked once the series are known."""
    plots: dict[str, AssetPlot] = {}
    for a in sorted(run.alarms.values(), key=lambda a: (a.raised, a.id)):
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


# ------------------------------------------------------------------------ rendering


def level_name(level: int, lang: str) -> str:
    return LEVEL_NAMES[lang][max(0, min(4, level))]


def span_text(seconds: float | None, lang: str) -> str:
    if seconds is None:
        return "—"
    s = int(round(seconds))
    if lang == "zh-CN":
        if s < 120:
            return f"{s} 秒"
        return f"{s // 60} 分 {s % 60:02d} 秒" if s < 3600 else f"{s // 3600} 小时 {s % 3600 // 60:02d} 分"
    if s < 120:
        return f"{s} s"
    return f"{s // 60} min {s % 60:02d} s" if s < 3600 else f"{s // 3600} h {s % 3600 // 60:02d} min"


def _cjk_fonts() -> list[str]:
    """Names of installed fonts with Chinese glyphs, registered from the system's files if
    matplotlib's cache does not know them yet."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    if not any(n in names for n in CJK_FONTS):
        for path in CJK_FONT_FILES:
            if Path(path).exists():
                font_manager.fontManager.addfont(path)
        names = {f.name for f in font_manager.fontManager.ttflist}
    return [n for n in CJK_FONTS if n in names]


def _fonts(lang: str) -> dict[str, Any]:
    """matplotlib rc for ``lang``: a CJK font first for zh-CN (a fallback for en, whose
    plots may still show an owner's or title's Chinese name)."""
    cjk = _cjk_fonts()
    if lang == "zh-CN" and not cjk:
        raise RuntimeError("zh-CN plots need a font with Chinese glyphs (Debian: apt install fonts-wqy-microhei)")
    order = cjk + ["DejaVu Sans"] if lang == "zh-CN" else ["DejaVu Sans"] + cjk
    return {"font.family": "sans-serif", "font.sans-serif": order, "axes.unicode_minus": False}


def _mpl() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _time_axis(ax: Any, run: Run) -> None:
    """Ticks on whole clock steps (10 s, 30 s, 1 min, ...), labelled HH:MM:SS (of the
    simulated clock, or local time of the scene's zone for a live run's)."""
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    lo, hi = ax.get_xlim()
    step = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600) if (hi - lo) / s <= 9), 43200)
    ax.xaxis.set_major_locator(MultipleLocator(step))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: run.moment(v) if v >= run.clock_start else ""))


def field_label(twin: Twin, domain: str, name: str, lang: str) -> str:
    spec = twin.spec(domain, name)
    unit = spec.unit if spec is not None and spec.unit not in ("1", "") else ""
    label = name
    if lang == "zh-CN":
        style = twin.registry.styles.get(domain)
        zh = (spec.label_zh if spec is not None else "") or (style.field_labels_zh.get(name, "") if style is not None else "")
        label = f"{zh} ({name})" if zh else name
    return f"{label} [{unit}]" if unit else label


def plot_asset(p: AssetPlot, run: Run, twin: Twin, times: np.ndarray, series: dict[tuple[str, str], np.ndarray],
               columns: dict[tuple[str, str], dict[str, int]], worst: float, out: Path, lang: str) -> Path:
    plt = _mpl()
    t = TEXT[lang]
    related = twin.related(p.asset)
    alarms = [a for a in run.alarms.values() if a.asset == p.asset]
    with plt.rc_context(_fonts(lang)):
        n = 1 + len(p.drivers)
        fig, axes = plt.subplots(n, 1, figsize=(9.5, 1.2 + 2.0 * n), sharex=True, squeeze=False)
        axes = axes[:, 0]
        ax = axes[0]
        lo = [0.0, 0.25, 0.5, 0.75, 0.9, 1.0]
        for level in range(1, 5):
            ax.axhspan(lo[level], lo[level + 1], color=LEVEL_COLOURS[level], alpha=0.13, lw=0)
        for rule, risk in p.risks:
            col = columns[(p.domain, risk)][p.asset]
            ax.plot(times, series[(p.domain, risk)][:, col], color="#222222", lw=1.8, label=f"{risk} ({rule})")
        for a in alarms:  # the alarm's level, as a coloured band along the bottom
            edges = [(when, lvl) for when, lvl in a.levels] + [(a.resolved if a.resolved is not None else run.end, 0)]
            for (t0, lvl), (t1, _) in zip(edges, edges[1:]):
                if lvl > 0 and t1 > t0:
                    ax.axvspan(t0, t1, ymin=0.0, ymax=0.06, color=LEVEL_COLOURS[lvl], lw=0)
                    ax.text((t0 + t1) / 2, 0.03, level_name(lvl, lang).split(" ")[0].replace("预警", ""), ha="center",
                            va="center", fontsize=7, color=LEVEL_INK[lvl], transform=ax.get_xaxis_transform(), clip_on=True)
            for when, marker in ((a.acknowledged, "^"), (a.dispatched, "s"), (a.resolved, "X")):
                if when is not None:
                    ax.plot([when], [0.06], marker=marker, color="#111111", ms=7, clip_on=False, ls="none",
                            transform=ax.get_xaxis_transform(), zorder=5)
        ax.set_ylim(0, 1.04)
        if len(p.risks) == 1:
            ax.set_ylabel(f"{t['risk']}: {p.risks[0][1]} ({p.risks[0][0]})", fontsize=9)
        else:
            ax.set_ylabel(t["risk"])
            ax.legend(loc="upper left", fontsize=8, framealpha=0.85)
        for i, f in enumerate(p.drivers, start=1):
            col = columns[(p.domain, f)][p.asset]
            axes[i].plot(times, series[(p.domain, f)][:, col], color=f"C{i - 1}", lw=1.6)
            axes[i].set_ylabel(field_label(twin, p.domain, f, lang), fontsize=8)
            axes[i].grid(alpha=0.3)
        for a_ in axes:
            for action in run.inputs:
                target = twin.sensor_asset(action["target"]) if str(action["action"]).startswith("sensor.") else action["target"]
                if target in related:
                    a_.axvline(action["time"], color="#555555", ls="--", lw=1)
            a_.axvline(worst, color="black", ls=":", lw=1.2)
            a_.set_xlim(run.start, max(run.end, run.start + 1))
        for action in run.inputs:
            target = twin.sensor_asset(action["target"]) if str(action["action"]).startswith("sensor.") else action["target"]
            if target in related:
                ax.text(action["time"], 0.97, f" {action['action']} {action['target']}", rotation=90, va="top", ha="left",
                        fontsize=7, color="#333333", transform=ax.get_xaxis_transform())
        _time_axis(axes[-1], run)
        axes[-1].set_xlabel(t["t_axis"])
        title = alarms[0].title_zh if lang == "zh-CN" and alarms[0].title_zh else alarms[0].title
        peak = max(a.peak_level for a in alarms)
        fig.suptitle(f"{p.asset} — {title} — {level_name(peak, lang)}", fontsize=11)
        fig.tight_layout()
        path = out / f"field-{_safe(p.asset)}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return path


def plot_timeline(run: Run, worst: float, out: Path, lang: str) -> Path | None:
    if not run.alarms:
        return None
    plt = _mpl()
    t = TEXT[lang]
    alarms = sorted(run.alarms.values(), key=lambda a: (a.raised, a.id))
    with plt.rc_context(_fonts(lang)):
        fig, ax = plt.subplots(figsize=(11, 2.5 + 0.42 * len(alarms)))
        for y, a in enumerate(alarms):
            edges = list(a.levels) + [(a.resolved if a.resolved is not None else run.end, 0)]
            for (t0, lvl), (t1, _) in zip(edges, edges[1:]):
                if t1 > t0:
                    ax.barh(y, t1 - t0, left=t0, height=0.6, color=LEVEL_COLOURS[lvl] if lvl else "#d9dde3", edgecolor="none")
            for when, marker in ((a.acknowledged, "^"), (a.dispatched, "s"), (a.resolved, "X")):
                if when is not None:
                    ax.plot([when], [y], marker=marker, color="#111111", ms=8, ls="none")
        for action in run.inputs:
            ax.axvline(action["time"], color="#555555", ls="--", lw=1)
            ax.text(action["time"], 1.0, f" {action['action']} {action['target']}", rotation=90, va="bottom", ha="center",
                    fontsize=7, transform=ax.get_xaxis_transform())
        ax.axvline(worst, color="black", ls=":", lw=1.2)
        ax.set_yticks(range(len(alarms)), [f"#{a.id} {a.asset} ({a.rule})" for a in alarms], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(run.start, max(run.end, run.start + 1))
        _time_axis(ax, run)
        ax.set_xlabel(t["t_axis"])
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color=LEVEL_COLOURS[lvl], label=level_name(lvl, lang)) for lvl in range(1, 5)],
                  loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
        ax.text(worst, 0.0, f" {t['worst_short']}", va="bottom", ha="left", fontsize=7, transform=ax.get_xaxis_transform())
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        path = out / "timeline.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return path


def _rgb(hex_colour: str) -> np.ndarray:
    h = hex_colour.lstrip("#")
    return np.array([int(h[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.float64)


def render_district(twin: Twin, levels: dict[str, int], path: Path, title: str = "", marks: dict[str, str] | None = None,
                    size: tuple[int, int] = (1400, 900)) -> Path:
    """The district off screen: buildings translucent, each asset in its alarm level's
    colour (``levels``: asset -> level; others faded in their domain's colour), alarmed
    assets pinned and labelled, and ``marks`` (asset -> text: where the input actions
    acted) dotted and labelled. Writes a PNG to ``path``."""
    import pyvista as pv

    from twin.serving.geometry import buildings_mesh, domain_layer, river_mesh, terrain_mesh

    scene = twin.scene

    def poly(v: np.ndarray, f: np.ndarray) -> Any:
        return pv.PolyData(np.asarray(v, dtype=np.float64), np.hstack([np.full((len(f), 1), 3), f]).ravel())

    plotter = pv.Plotter(off_screen=True, window_size=list(size))
    try:
        plotter.set_background("#f4f6f8")
        if scene.terrain is not None:
            v, f = terrain_mesh(scene.terrain)
            plotter.add_mesh(poly(v, f), color="#c9c2b0", opacity=0.35, ambient=0.4)
        v, f = river_mesh(scene.river, scene.terrain)
        if len(f):
            plotter.add_mesh(poly(v, f), color="#7fb3d5", opacity=0.8, ambient=0.3)
        v, f = buildings_mesh(scene.buildings, scene.terrain)
        if len(f):
            plotter.add_mesh(poly(v, f), color="#b8bec8", opacity=0.18, ambient=0.3)
        pins: list[tuple[np.ndarray, str, int]] = []
        centres: dict[str, np.ndarray] = {}
        lo = hi = None
        for name, assets in scene.assets.items():
            if not assets:
                continue
            v, f, offsets = domain_layer(name, assets, scene.terrain)
            if not len(f):
                continue
            style = twin.registry.styles.get(name)
            base = 0.6 * _rgb(style.color if style is not None else "#888888") + 0.4 * _rgb("#e6e8ec")
            colours = np.tile(base, (len(v), 1))
            for row, asset in enumerate(assets):
                if asset.id in (marks or {}):
                    centres[asset.id] = v[offsets[row] : offsets[row + 1]].mean(axis=0)
                level = levels.get(asset.id, 0)
                if level:
                    a, b = offsets[row], offsets[row + 1]
                    colours[a:b] = _rgb(LEVEL_COLOURS[level])
                    pins.append((v[a:b].mean(axis=0) * [1, 1, 0] + [0, 0, v[a:b, 2].max()], asset.id, level))
            mesh = poly(v, f)
            mesh.point_data["colours"] = colours.astype(np.uint8)
            plotter.add_mesh(mesh, scalars="colours", rgb=True, ambient=0.35)
            lo = v.min(axis=0) if lo is None else np.minimum(lo, v.min(axis=0))
            hi = v.max(axis=0) if hi is None else np.maximum(hi, v.max(axis=0))
        extent = float(np.max(hi - lo)) if lo is not None else 100.0
        height = 0.06 * extent
        # Pins of neighbouring assets get staggered heights so that their labels do not overlap.
        pins.sort(key=lambda pin: (-pin[2], pin[0][0], pin[1]))
        tips: list[np.ndarray] = []
        for top, asset_id, level in pins:
            near = sum(1 for other, _, _ in pins[: len(tips)] if np.linalg.norm((other - top)[:2]) < 0.15 * extent)
            tip = top + [0, 0, height * (1 + 1.4 * near)]
            tips.append(tip)
            colour = LEVEL_COLOURS[level]
            halo = pv.Disc(center=top, inner=0.0, outer=0.022 * extent, normal=(0, 0, 1), c_res=48)
            plotter.add_mesh(halo, color=colour, opacity=0.55, ambient=0.6)
            plotter.add_mesh(pv.Line(top, tip), color="#222222", line_width=2)
            plotter.add_mesh(pv.Sphere(radius=0.008 * extent, center=tip), color=colour, ambient=0.4)
            plotter.add_point_labels(np.array([tip + [0, 0, 0.012 * extent]]), [f"{asset_id}  {level_name(level, 'en')}"],
                                     font_size=16, point_size=1, shape_color=colour, text_color=LEVEL_INK[level],
                                     shape_opacity=0.92, always_visible=True, show_points=False, margin=4)
        for asset_id, text in (marks or {}).items():
            if asset_id not in centres:
                continue
            low = centres[asset_id]
            plotter.add_point_labels(np.array([low + [0, 0, 0.01 * extent]]), [text], font_size=13, point_size=9,
                                     point_color="#111111", shape_color="#ffffff", text_color="#111111", shape_opacity=0.85,
                                     always_visible=True, render_points_as_spheres=True, margin=3)
        if title:
            plotter.add_text(title, position="upper_left", font_size=12, color="#111111")
        plotter.view_vector((0.3, -1.0, 1.1), viewup=(0, 0, 1))
        plotter.reset_camera()
        if tips:  # lean towards the alarmed assets, keeping the district in view
            focus = 0.5 * np.mean(tips, axis=0) + 0.5 * np.array(plotter.camera.focal_point)
            shift = focus - np.array(plotter.camera.focal_point)
            plotter.camera.focal_point = tuple(np.array(plotter.camera.focal_point) + shift)
            plotter.camera.position = tuple(np.array(plotter.camera.position) + shift)
        plotter.camera.zoom(1.5)
        plotter.screenshot(str(path))
    finally:
        plotter.close()
    return path


# ------------------------------------------------------------------------ the report


@dataclass
class Report:
    html: Path
    pdf: Path | None
    images: list[Path]
    picture: Path | None
    worst: float
    notes: list[str] = field(default_factory=list)


def action_marks(run: Run, until: float) -> dict[str, str]:
    """Asset -> "action HH:MM:SS" of the input actions up to ``until`` (the last per asset)."""
    return {str(a["target"]): f"{a['target']}  {a['action']} {run.moment(a['time'])}" for a in run.inputs if a["time"] <= until + 1e-9}


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def badge(level: int, lang: str) -> str:
    return (f'<span class="lvl" style="background:{LEVEL_COLOURS[level]};color:{LEVEL_INK[level]}">'
            f"{_e(level_name(level, lang))}</span>")


def describe_zh(x: Any) -> str:
    name = level_name(x.level, "zh-CN")
    if x.kind == "by":
        return f"{clock(x.time)} 前 {x.asset} 出现不低于{name}的报警" + (f"（{x.rule}）" if x.rule else "")
    if x.kind == "never":
        where = f"{x.domain} " if x.domain else ""
        return f"{where}不出现{name}及以上报警" + (f"（{x.asset}）" if x.asset else "")
    return f"{name}及以上报警均在 {x.time:g} 秒内确认"


def detail_zh(detail: str) -> str:
    for pattern, repl in ((r"^reached at (\S+)$", r"于 \1 达到"), (r"^never reached$", "未达到"), (r"^none$", "无"),
                          (r"^all in time$", "均及时确认"), (r"^late: ", "超时："), (r"not acknowledged", "未确认")):
        detail = re.sub(pattern, repl, detail)
    return detail


def rescore(run: Run) -> tuple[Any, list[Any] | None, str]:
    """The drill and its expectations re-scored from the recorded events (None if no drill file)."""
    from twin.runs.drill import load_drill, score

    path = run.metadata.get("drill_path", "")
    if not path or not Path(path).is_file():
        return None, None, path or "-"
    drill = load_drill(Path(path))
    return drill, score(drill, run.events, run.clock_start), path


def write_report(recording: Path, out: Path, lang: str = "en", pdf: bool = True) -> Report:
    """Write ``out/report.html`` (and ``out/report.pdf``) about ``recording``."""
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; valid: {', '.join(LANGS)}")
    t = TEXT[lang]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run = read_run(Path(recording))
    twin, why = load_twin(run)
    link_detection(run, twin)
    worst, total = run.worst_moment()
    drill, scores, drill_path = rescore(run)
    notes: list[str] = []
    images: list[Path] = []

    timeline = plot_timeline(run, worst, out, lang)
    if timeline is not None:
        images.append(timeline)

    plots: list[AssetPlot] = []
    if twin is None:
        notes.append(t["no_fields"].format(why=why))
    elif run.alarms:
        plots = choose_fields(run, twin)
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
        times, series = field_series(run.path, wanted)
        if len(times) < 2:
            notes.append(t["no_fields"].format(why="the recording holds fewer than two frames"))
            plots = []
        else:
            # a risk field the frames lack (a plugin's renamed field) cannot be plotted
            plots = [p for p in plots if all(np.isfinite(series[(p.domain, r)]).any() for _, r in p.risks)]
            rank_drivers(plots, twin, times, series, columns)
            for p in plots:
                p.path = plot_asset(p, run, twin, times, series, columns, worst, out, lang)
                images.append(p.path)

    picture: Path | None = None
    if twin is None:
        notes.append(t["no_picture"].format(why=why))
    else:
        levels = run.open_levels(worst)
        picture = render_district(twin, levels, out / "district-worst.png", marks=action_marks(run, worst),
                                  title=f"{run.metadata.get('scene', '')}  {run.moment(worst)}  (sum of alarm levels {total})")
        images.append(picture)

    pdf_path = None
    if pdf:
        pdf_path = write_pdf(run, scores, images, worst, total, out / "report.pdf", lang)
    body = render_html(run, twin, drill, scores, drill_path, worst, total, timeline, plots, picture, pdf_path, notes, lang)
    html_path = out / "report.html"
    html_path.write_text(body, encoding="utf-8")
    return Report(html_path, pdf_path, images, picture, worst, notes)


def _time_cell(run: Run, a: AlarmSummary, when: float | None, lang: str) -> str:
    if when is None:
        return f'<td class="na" title="{_e(TEXT[lang]["not_done"])}">—</td>'
    return f"<td><b>{_e(span_text(when - a.raised, lang))}</b><br><small>{_e(run.moment(when))}</small></td>"


def render_html(run: Run, twin: Twin | None, drill: Any, scores: list[Any] | None, drill_path: str, worst: float, total: int,
                timeline: Path | None, plots: list[AssetPlot], picture: Path | None, pdf: Path | None, notes: list[str], lang: str) -> str:
    t = TEXT[lang]
    meta = run.metadata
    scene_title = meta.get("scene", "")
    if twin is not None:
        s = twin.scene
        scene_title = f"{s.name} — {s.title_zh or s.title}" if lang == "zh-CN" else f"{s.name} — {s.title}"
    drill_name = meta.get("drill", "") or (drill.name if drill is not None else "—")
    plugins = ", ".join(f"{n} {v.get('version', '?')}" + ("" if v.get("status") == "active" else f" ({v.get('status')})")
                        for n, v in json.loads(meta.get("plugins", "{}") or "{}").items())
    rows = [
        (t["scene"], scene_title), (t["drill"], drill_name), (t["seed"], meta.get("seed", "—")),
        (t["tick"], f"{meta.get('dt', '—')} s"),
        (t["span"], f"{run.moment(run.start, date=True)} – {run.moment(run.end)} ({span_text(run.end - run.start, lang)})"),
        (t["recorded"], run.created or "—"), (t["file"], str(run.path)), (t["plugins"], plugins or "—"),
    ]
    if meta.get("config", "{}") not in ("{}", ""):
        rows.append((t["thresholds"], meta["config"]))
    parts = [f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8">
<title>{_e(t['title'])}: {_e(drill_name)}</title>
<style>
body {{ font-family: "Noto Sans", "DejaVu Sans", "WenQuanYi Micro Hei", "Microsoft YaHei", sans-serif; margin: 2em auto; max-width: 1150px; color: #1b1f24; padding: 0 1em; }}
h1 {{ margin-bottom: 0.1em; }} h2 {{ border-bottom: 2px solid #d0d5dc; padding-bottom: 0.2em; margin-top: 1.6em; }}
table {{ border-collapse: collapse; margin: 0.6em 0; }} th, td {{ border: 1px solid #d0d5dc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }}
th {{ background: #eef1f5; }} table.meta th {{ width: 11em; }}
.lvl {{ display: inline-block; padding: 0.05em 0.5em; border-radius: 0.3em; font-weight: 600; white-space: nowrap; }}
.pass {{ color: #0a7a2f; font-weight: 700; }} .fail {{ color: #c4161c; font-weight: 700; }}
.na {{ color: #8a929c; }} .id, #timeline td:nth-child(-n+2) {{ white-space: nowrap; }} img {{ max-width: 100%; border: 1px solid #d0d5dc; }} small {{ color: #5b636d; }}
.note {{ color: #3d4550; font-size: 0.92em; max-width: 70em; }} tr.input td {{ background: #f7f7f2; }} tr.op td {{ background: #f2f6fb; }}
</style></head><body>
<h1>{_e(t['title'])}</h1>
<p class="note">{_e(drill_name)}</p>
<h2>{_e(t['run'])}</h2>
<table class="meta">""" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows) + "</table>"]
    if not run.complete:
        parts.append(f'<p class="note">{_e(t["incomplete"].format(end=run.moment(run.end)))}</p>')
    if run.alarms:
        peak = max(a.peak_level for a in run.alarms.values())
        parts.append("<p>" + t["summary"].format(n=len(run.alarms), assets=len({a.asset for a in run.alarms.values()}),
                                                   peak=badge(peak, lang), worst=_e(run.moment(worst)), total=total) + "</p>")
    else:
        parts.append(f"<p>{_e(t['summary_none'])}</p>")

    parts.append(f"<h2>{_e(t['scorecard'])}</h2>")
    if scores is None:
        parts.append(f'<p class="note">{_e(t["no_drill"].format(path=drill_path))}</p>')
    else:
        parts.append(f'<p class="note">{_e(t["score_note"].format(path=drill_path))}</p><table id="scorecard">'
                     f"<tr><th>{_e(t['result'])}</th><th>{_e(t['expectation'])}</th><th>{_e(t['detail'])}</th></tr>")
        for sc in scores:
            text = describe_zh(sc.expectation) if lang == "zh-CN" else sc.expectation.describe()
            detail = detail_zh(sc.detail) if lang == "zh-CN" else sc.detail
            cls, word = ("pass", t["pass"]) if sc.passed else ("fail", t["fail"])
            parts.append(f'<tr class="score" data-passed="{str(sc.passed).lower()}"><td class="{cls}">{_e(word)}</td>'
                         f"<td>{_e(text)}</td><td>{_e(detail)}</td></tr>")
        parts.append("</table>")

    parts.append(f"<h2>{_e(t['worst'])}</h2>")
    if picture is not None:
        levels = run.open_levels(worst)
        parts.append(f'<figure><img id="district" src="{_e(picture.name)}" alt="{_e(t["worst"])}">'
                     f'<figcaption class="note">{_e(t["worst_caption"].format(time=run.moment(worst), n=sum(1 for a in run.alarms.values() if a.level_at(worst)), total=total))} '
                     + " ".join(f"{_e(asset)} {badge(level, lang)}" for asset, level in sorted(levels.items(), key=lambda x: -x[1]))
                     + "</figcaption></figure>")
    for n in notes:
        if n.startswith(t["no_picture"].split("{")[0]):
            parts.append(f'<p class="note">{_e(n)}</p>')

    parts.append(f"<h2>{_e(t['alarms'])}</h2>")
    if run.alarms:
        parts.append(f'<table id="alarms"><tr><th>{_e(t["alarm"])}</th><th>{_e(t["asset"])}</th><th>{_e(t["rule"])}</th>'
                     f'<th>{_e(t["owner"])}</th><th>{_e(t["peak"])}</th><th>{_e(t["raised"])}</th><th>{_e(t["detect"])}</th>'
                     f'<th>{_e(t["ack"])}</th><th>{_e(t["dispatch"])}</th><th>{_e(t["resolve"])}</th><th>{_e(t["cleared"])}</th></tr>')
        for a in sorted(run.alarms.values(), key=lambda a: (a.raised, a.id)):
            title = a.title_zh if lang == "zh-CN" and a.title_zh else a.title
            if a.detect_from is not None:
                when, action = a.detect_from
                ref = f"{t['from']} {action['action']} {action['target']} {run.moment(when)}"
            else:
                when, ref = run.start, f"{t['from']} {t['run_start']} {run.moment(run.start)}"
            parts.append(
                f'<tr class="alarm" data-alarm="{a.id}" data-asset="{_e(a.asset)}"><td>#{a.id}</td><td class="id"><b>{_e(a.asset)}</b><br><small>{_e(a.domain)}</small></td>'
                f"<td>{_e(title)}<br><small>{_e(a.rule)}</small></td><td>{_e(a.owner)}</td><td>{badge(a.peak_level, lang)}</td>"
                f'<td class="raised">{_e(run.moment(a.raised))}</td>'
                f"<td><b>{_e(span_text(a.raised - when, lang))}</b><br><small>{_e(ref)}</small></td>"
                + _time_cell(run, a, a.acknowledged, lang) + _time_cell(run, a, a.dispatched, lang)
                + _time_cell(run, a, a.resolved, lang) + _time_cell(run, a, a.cleared, lang) + "</tr>")
        parts.append(f'</table><p class="note">{t["measures"]}</p>')
    else:
        parts.append(f"<p>{_e(t['summary_none'])}</p>")

    parts.append(f"<h2>{_e(t['timeline'])}</h2>")
    if timeline is not None:
        parts.append(f'<figure><img src="{_e(timeline.name)}" alt="{_e(t["timeline"])}"><figcaption class="note">{_e(t["timeline_chart"])}</figcaption></figure>')
    parts.append(f'<table id="timeline"><tr><th>{_e(t["time"])}</th><th>{_e(t["event"])}</th><th>{_e(t["what"])}</th>'
                 f'<th>{_e(t["level"])}</th><th>{_e(t["who"])}</th></tr>')
    entries: list[tuple[float, int, str]] = []
    for n, action in enumerate(run.inputs):
        params = ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in sorted((action.get("params") or {}).items()))
        entries.append((float(action["time"]), n, f'<tr class="input"><td>{_e(run.moment(action["time"]))}</td><td>{_e(t["input"])}</td>'
                        f"<td><b>{_e(action['action'])}</b> {_e(action['target'])}" + (f" <small>({_e(params)})</small>" if params else "")
                        + f"</td><td></td><td>{_e(action.get('who', ''))}</td></tr>"))
    for n, ev in enumerate(run.events, start=len(run.inputs)):
        a = ev["alarm"]
        kind = ev["kind"]
        word = t.get({"resolve": "resolve_k", "dispatch": "dispatch_k"}.get(kind, kind), kind)
        title = a.get("title_zh") if lang == "zh-CN" and a.get("title_zh") else a.get("title", "")
        who = " — ".join(x for x in (ev.get("who", ""), ev.get("note", "")) if x)
        cls = "op" if kind in OPERATOR_KINDS else "alarm-event"
        entries.append((float(ev["time"]), n, f'<tr class="{cls}" data-alarm="{a["id"]}" data-kind="{_e(kind)}"><td>{_e(run.moment(ev["time"]))}</td>'
                        f"<td>{_e(word)}</td><td>#{a['id']} <b>{_e(a['asset'])}</b> {_e(title)}</td>"
                        f"<td>{badge(int(a['level']), lang)}</td><td>{_e(who)}</td></tr>"))
    parts += [row for *_, row in sorted(entries)]
    parts.append("</table>")

    parts.append(f"<h2>{_e(t['fields'])}</h2>")
    if plots:
        parts.append(f'<p class="note">{_e(t["fields_note"])}</p>')
        for p in plots:
            if p.path is not None:
                parts.append(f'<figure><img class="field-plot" src="{_e(p.path.name)}" alt="{_e(p.asset)}"></figure>')
    for n in notes:
        if n.startswith(t["no_fields"].split("{")[0]):
            parts.append(f'<p class="note">{_e(n)}</p>')
    if pdf is not None:
        parts.append(f'<p class="note">{t["pdf"].format(pdf=f"<a href={_e(pdf.name)!r}>{_e(pdf.name)}</a>")}</p>')
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_pdf(run: Run, scores: list[Any] | None, images: list[Path], worst: float, total: int, path: Path, lang: str) -> Path:
    """A summary page (run, scorecard, alarm times) and the report's pictures, one per page."""
    plt = _mpl()
    from matplotlib.backends.backend_pdf import PdfPages

    t = TEXT[lang]
    meta = run.metadata
    with plt.rc_context(_fonts(lang)), PdfPages(path) as pdf:
        fig = plt.figure(figsize=(8.27, 11.69))
        lines = [(t["title"], 16, "bold"), (meta.get("drill", ""), 12, "normal"), ("", 8, "normal")]
        lines += [(f"{t['scene']}: {meta.get('scene', '')}    {t['seed']}: {meta.get('seed', '')}    {t['tick']}: {meta.get('dt', '')} s", 9, "normal"),
                  (f"{t['span']}: {run.moment(run.start, date=True)} – {run.moment(run.end)}    {t['recorded']}: {run.created}", 9, "normal"), ("", 8, "normal")]
        if scores is not None:
            lines.append((t["scorecard"], 12, "bold"))
            for sc in scores:
                text = describe_zh(sc.expectation) if lang == "zh-CN" else sc.expectation.describe()
                detail = detail_zh(sc.detail) if lang == "zh-CN" else sc.detail
                lines.append((f"{t['pass'] if sc.passed else t['fail']}  {text}: {detail}"[:110], 9, "normal"))
            lines.append(("", 8, "normal"))
        lines.append((t["alarms"], 12, "bold"))
        for a in sorted(run.alarms.values(), key=lambda a: (a.raised, a.id)):
            ref = a.detect_from[0] if a.detect_from is not None else run.start
            lines.append((f"#{a.id} {a.asset} {a.rule}  {level_name(a.peak_level, lang)}  {t['raised']} {run.moment(a.raised)}  "
                          f"{t['detect']} {span_text(a.raised - ref, lang)}  {t['ack']} {span_text(None if a.acknowledged is None else a.acknowledged - a.raised, lang)}  "
                          f"{t['dispatch']} {span_text(None if a.dispatched is None else a.dispatched - a.raised, lang)}  "
                          f"{t['resolve']} {span_text(None if a.resolved is None else a.resolved - a.raised, lang)}"[:120], 8, "normal"))
        y = 0.95
        for text, size, weight in lines[:60]:
            fig.text(0.07, y, text, fontsize=size, weight=weight if lang == "en" else "normal", va="top")
            y -= 0.012 + size * 0.0018
        pdf.savefig(fig)
        plt.close(fig)
        for image in images:
            data = plt.imread(image)
            h, w = data.shape[:2]
            fig = plt.figure(figsize=(11.69, 11.69 * h / w))
            ax = fig.add_axes((0, 0, 1, 1))
            ax.imshow(data)
            ax.axis("off")
            pdf.savefig(fig)
            plt.close(fig)
    return path
