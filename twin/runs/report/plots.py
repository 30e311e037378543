"""The report's charts (matplotlib, off screen): the timeline of the alarm groups, and
the key fields of each alarmed asset. Fonts with Chinese glyphs are found for zh-CN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from twin.i18n import LEVEL_COLOURS, words
from twin.runs.report.data import AssetPlot, Run, Twin, input_asset
from twin.runs.report.groups import AlarmGroup
from twin.runs.report.text import alarm_title, domain_name, group_title, level_name

#: fonts with CJK glyphs, tried in order (Debian: fonts-wqy-microhei)
CJK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "SimHei", "Microsoft YaHei")
CJK_FONT_FILES = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
#: groups per timeline chart: a longer run gets more charts, each fit for one page
TIMELINE_ROWS = 24
#: input actions named on a chart at most (the others are drawn, not named)
NAMED_INPUTS = 8


def cjk_fonts() -> list[str]:
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


def fonts(lang: str) -> dict[str, Any]:
    """matplotlib rc for ``lang``: a CJK font first for zh-CN (a fallback for en, whose
    plots may still show an owner's or title's Chinese name)."""
    cjk = cjk_fonts()
    if lang == "zh-CN" and not cjk:
        raise RuntimeError("zh-CN plots need a font with Chinese glyphs (Debian: apt install fonts-wqy-microhei)")
    order = cjk + ["DejaVu Sans"] if lang == "zh-CN" else ["DejaVu Sans"] + cjk
    return {"font.family": "sans-serif", "font.sans-serif": order, "axes.unicode_minus": False}


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def time_axis(ax: Any, run: Run) -> None:
    """Ticks on whole clock steps (10 s, 30 s, 1 min, ...), labelled HH:MM:SS in the
    scene's local time."""
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    lo, hi = ax.get_xlim()
    step = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600) if (hi - lo) / s <= 9), 43200)
    ax.xaxis.set_major_locator(MultipleLocator(step))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: run.moment(v) if v >= run.clock_start else ""))


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plot_timeline(run: Run, groups: list[AlarmGroup], twin: Twin | None, worst: float, out: Path, lang: str) -> list[Path]:
    """Charts of each group's highest level over time, worst group on top,
    :data:`TIMELINE_ROWS` groups per chart (``timeline.png``, ``timeline-2.png``, ...)."""
    if not groups:
        return []
    plt = pyplot()
    from matplotlib.patches import Patch

    w = words(lang)
    credited = {id(a.detect_from[1]): a.detect_from[1] for g in groups for a in g.alarms[:1] if a.detect_from is not None}
    named = list(credited.values())[:NAMED_INPUTS]
    parts = [groups[i : i + TIMELINE_ROWS] for i in range(0, len(groups), TIMELINE_ROWS)]
    paths = []
    with plt.rc_context(fonts(lang)):
        for n, part in enumerate(parts, start=1):
            fig, ax = plt.subplots(figsize=(11, 1.9 + 0.36 * len(part)))
            for y, g in enumerate(part):
                times = sorted({t for a in g.alarms for t, _ in a.levels} | {a.resolved for a in g.alarms if a.resolved is not None}
                               | {run.end})
                for t0, t1 in zip(times, times[1:]):
                    lvl = g.level_at(t0)
                    if t1 > t0:
                        ax.barh(y, t1 - t0, left=t0, height=0.62, color=LEVEL_COLOURS[lvl] if lvl else "#d9dde3", edgecolor="none")
                for attr, marker in (("acknowledged", "^"), ("dispatched", "s"), ("resolved", "X")):
                    when = sorted({getattr(a, attr) for a in g.alarms if getattr(a, attr) is not None})
                    if when:
                        ax.plot(when, [y] * len(when), marker=marker, color="#111111", ms=6, ls="none")
            for action in run.inputs:
                ax.axvline(action["time"], color="#777777", ls="--", lw=0.8, alpha=0.6)
            for action in named:
                ax.text(action["time"], 1.0, f" {action['action']} {action['target']}", rotation=90, va="bottom", ha="center",
                        fontsize=7, transform=ax.get_xaxis_transform())
            ax.axvline(worst, color="black", ls=":", lw=1.2)
            labels = [f"{_short(group_title(g, twin, lang), 46)} ({len(g.alarms)})" for g in part]
            ax.set_yticks(range(len(part)), labels, fontsize=8)
            ax.set_ylim(len(part) - 0.5, -0.5)
            ax.set_xlim(run.start, max(run.end, run.start + 1))
            time_axis(ax, run)
            ax.set_xlabel(f"{w['tAxis']} ({run.timezone})" if run.clock_start else w["tAxis"])
            ax.legend(handles=[Patch(color=LEVEL_COLOURS[lvl], label=level_name(lvl, lang)) for lvl in range(1, 5)],
                      loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
            ax.text(worst, 0.0, f" {w['worstShort']}", va="bottom", ha="left", fontsize=7, transform=ax.get_xaxis_transform())
            if len(parts) > 1:
                ax.set_title(w["timelinePart"].format(n=n, of=len(parts)), fontsize=9, loc="right")
            ax.grid(axis="x", alpha=0.3)
            fig.tight_layout()
            path = out / ("timeline.png" if n == 1 else f"timeline-{n}.png")
            fig.savefig(path, dpi=110)
            plt.close(fig)
            paths.append(path)
    return paths


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
    """One asset's risk and driving fields over the run, with its alarms' levels, the
    operator actions and the input actions that can have caused them."""
    import re

    plt = pyplot()
    w = words(lang)
    causes = twin.causes(p.asset, p.domain)
    alarms = sorted((a for a in run.alarms.values() if a.asset == p.asset), key=lambda a: (-a.peak_level, a.raised))
    acting = [a for a in run.inputs if input_asset(a, twin) in causes]
    with plt.rc_context(fonts(lang)):
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
            for when, marker in ((a.acknowledged, "^"), (a.dispatched, "s"), (a.resolved, "X")):
                if when is not None:
                    ax.plot([when], [0.06], marker=marker, color="#111111", ms=7, clip_on=False, ls="none",
                            transform=ax.get_xaxis_transform(), zorder=5)
        ax.set_ylim(0, 1.04)
        if len(p.risks) == 1:
            ax.set_ylabel(f"{w['risk']}: {p.risks[0][1]} ({p.risks[0][0]})", fontsize=9)
        else:
            ax.set_ylabel(w["risk"])
            ax.legend(loc="upper left", fontsize=8, framealpha=0.85)
        for i, f in enumerate(p.drivers, start=1):
            col = columns[(p.domain, f)][p.asset]
            axes[i].plot(times, series[(p.domain, f)][:, col], color=f"C{i - 1}", lw=1.6)
            axes[i].set_ylabel(field_label(twin, p.domain, f, lang), fontsize=8)
            axes[i].grid(alpha=0.3)
        for a_ in axes:
            for action in acting:
                a_.axvline(action["time"], color="#555555", ls="--", lw=1)
            a_.axvline(worst, color="black", ls=":", lw=1.2)
            a_.set_xlim(run.start, max(run.end, run.start + 1))
        for action in acting[:NAMED_INPUTS]:
            ax.text(action["time"], 0.97, f" {action['action']} {action['target']}", rotation=90, va="top", ha="left",
                    fontsize=7, color="#333333", transform=ax.get_xaxis_transform())
        time_axis(axes[-1], run)
        axes[-1].set_xlabel(f"{w['tAxis']} ({run.timezone})" if run.clock_start else w["tAxis"])
        peak = max(a.peak_level for a in alarms)
        fig.suptitle(f"{p.asset} ({domain_name(twin, p.domain, lang)}) — {alarm_title(alarms[0], lang)} — {level_name(peak, lang)}",
                     fontsize=11)
        fig.tight_layout()
        path = out / f"field-{re.sub(r'[^A-Za-z0-9_.-]+', '_', p.asset)}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return path
