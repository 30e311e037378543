"""The district at the worst moment: rendered off screen by pyvista from the viewer's
meshes (:mod:`twin.serving.geometry`), labelled by matplotlib.

Every asset alarmed at that moment is drawn in its level's colour, but only what
matters is named: the worst alarm of each of the :data:`MAX_LABELS` worst groups, with
how many more alarms its group holds, and the input actions credited with them. Labels
stand in the picture's margins, ordered like their assets from top to bottom, each
with a leader line to its asset, so that none covers another however many alarms there
are; the caption counts the groups left unlabelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twin.i18n import LEVEL_COLOURS, LEVEL_INK, words
from twin.runs.report.data import Run, Twin, input_asset
from twin.runs.report.groups import AlarmGroup
from twin.runs.report.text import alarm_title, level_name

#: groups named in the picture at most
MAX_LABELS = 8
#: input actions marked in the picture at most
MAX_MARKS = 4


@dataclass(frozen=True)
class Label:
    """A name in the picture: the asset it points at, its text and the level whose
    colour it wears (0: an input action's mark)."""

    asset: str
    text: str
    level: int


@dataclass
class DistrictPicture:
    """The picture of the worst moment and what it names."""

    path: Path
    #: the labels drawn, worst first
    labels: list[Label] = field(default_factory=list)
    #: the groups open at that moment, and those of them left unlabelled
    groups: int = 0
    unlabelled: int = 0
    #: (alarm id, asset, level) of each labelled alarm
    alarms: list[tuple[int, str, int]] = field(default_factory=list)


def _rgb(hex_colour: str) -> np.ndarray:
    h = hex_colour.lstrip("#")
    return np.array([int(h[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.float64)


def district_picture(run: Run, groups: list[AlarmGroup], twin: Twin, worst: float, total: int, out: Path,
                     lang: str) -> DistrictPicture:
    """The picture of the worst moment, labelled with the worst alarm of each of the
    worst open groups and the input actions credited with those alarms."""
    w = words(lang)
    open_groups = sorted((g for g in groups if g.open_at(worst)), key=lambda g: (-g.level_at(worst), g.first_raised, g.worst.id))
    labels: list[Label] = []
    chosen: list[tuple[int, str, int]] = []
    marks: dict[str, Label] = {}
    for g in open_groups[:MAX_LABELS]:
        members = g.open_at(worst)
        a = members[0]
        level = a.level_at(worst)
        more = f"  {w['labelMore'].format(n=len(members) - 1)}" if len(members) > 1 else ""
        title = alarm_title(a, lang)
        title = title if len(title) <= 34 else title[:33] + "…"
        labels.append(Label(a.asset, f"{a.asset}  {level_name(level, lang)}{more}\n{title}", level))
        chosen.append((a.id, a.asset, level))
        if a.detect_from is not None and len(marks) < MAX_MARKS:
            when, action = a.detect_from
            target = input_asset(action, twin)
            marks.setdefault(target, Label(target, f"{action['action']} {action['target']}  {run.moment(when)}", 0))
    rest = len(open_groups) - len(labels)
    title = f"{run.metadata.get('scene', '')}  {run.moment(worst)}  {w['sumLevels'].format(total=total)}"
    note = w["labelGroupMore"].format(n=rest) if rest > 0 else ""
    path = render_district(twin, run.open_levels(worst), out / "district-worst.png", title=title, labels=labels + list(marks.values()),
                           lang=lang, note=note)
    return DistrictPicture(path, labels + list(marks.values()), len(open_groups), rest, chosen)


def render_district(twin: Twin, levels: dict[str, int], path: Path, title: str = "", labels: list[Label] | None = None,
                    size: tuple[int, int] = (1400, 900), lang: str = "en", note: str = "") -> Path:
    """The district off screen: buildings translucent, each asset in its alarm level's
    colour (``levels``: asset -> level; others faded in their domain's colour, alarmed
    ones ringed), and ``labels`` in the margins with leader lines to their assets.
    Writes a PNG of ``size`` pixels to ``path``."""
    import pyvista as pv

    from twin.serving.geometry import area_mesh, buildings_mesh, domain_layer, terrain_mesh

    scene = twin.scene
    wanted = {label.asset for label in labels or ()}

    def poly(v: np.ndarray, f: np.ndarray) -> Any:
        return pv.PolyData(np.asarray(v, dtype=np.float64), np.hstack([np.full((len(f), 1), 3), f]).ravel())

    plotter = pv.Plotter(off_screen=True, window_size=list(size))
    anchors: dict[str, np.ndarray] = {}
    try:
        plotter.set_background("#f4f6f8")
        if scene.terrain is not None:
            v, f = terrain_mesh(scene.terrain)
            plotter.add_mesh(poly(v, f), color="#c9c2b0", opacity=0.35, ambient=0.4)
        for area in scene.areas:
            v, f = area_mesh(area.features, scene.terrain)
            if len(f):  # paled like the rest of the base map, so that the assets stand out
                plotter.add_mesh(poly(v, f), color=(0.6 * _rgb(area.colour) / 255 + 0.4).tolist(), opacity=area.opacity, ambient=0.3)
        v, f = buildings_mesh(scene.buildings, scene.terrain)
        if len(f):
            plotter.add_mesh(poly(v, f), color="#b8bec8", opacity=0.18, ambient=0.3)
        rings: list[tuple[np.ndarray, int]] = []
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
                a, b = offsets[row], offsets[row + 1]
                if asset.id in wanted and b > a:
                    anchors[asset.id] = v[a:b].mean(axis=0) * [1, 1, 0] + [0, 0, v[a:b, 2].max()]
                level = levels.get(asset.id, 0)
                if level and b > a:
                    colours[a:b] = _rgb(LEVEL_COLOURS[level])
                    rings.append((v[a:b].mean(axis=0) * [1, 1, 0] + [0, 0, v[a:b, 2].max()], level))
            mesh = poly(v, f)
            mesh.point_data["colours"] = colours.astype(np.uint8)
            plotter.add_mesh(mesh, scalars="colours", rgb=True, ambient=0.35)
            lo = v.min(axis=0) if lo is None else np.minimum(lo, v.min(axis=0))
            hi = v.max(axis=0) if hi is None else np.maximum(hi, v.max(axis=0))
        extent = float(np.max(hi - lo)) if lo is not None else 100.0
        for centre, level in sorted(rings, key=lambda r: r[1]):  # the worst drawn last, on top
            ring = pv.Disc(center=centre, inner=0.0, outer=0.016 * extent, normal=(0, 0, 1), c_res=40)
            plotter.add_mesh(ring, color=LEVEL_COLOURS[level], opacity=0.55, ambient=0.6)
        plotter.view_vector((0.3, -1.0, 1.1), viewup=(0, 0, 1))
        plotter.reset_camera()
        plotter.camera.zoom(1.35)
        image = plotter.screenshot(None, return_img=True)
        pixels = {asset: _to_pixels(plotter, point, size) for asset, point in anchors.items()}
    finally:
        plotter.close()
    _annotate(image, [label for label in labels or () if label.asset in pixels], pixels, path, size, title, lang, note)
    return path


def _to_pixels(plotter: Any, point: np.ndarray, size: tuple[int, int]) -> tuple[float, float]:
    """Where a scene point lands in the picture: (x, y) pixels from the top left."""
    import vtk

    coordinate = vtk.vtkCoordinate()
    coordinate.SetCoordinateSystemToWorld()
    coordinate.SetValue(*(float(c) for c in point))
    x, y = coordinate.GetComputedDoubleDisplayValue(plotter.renderer)
    return float(x), float(size[1] - y)


def _slots(wanted: list[float], low: float, high: float, gap: float) -> list[float]:
    """Heights for labels that want to stand at ``wanted`` (sorted), at least ``gap``
    apart and within [low, high]: pushed down, then back up where they overflow."""
    out: list[float] = []
    for y in wanted:
        out.append(max(min(max(y, low), high), out[-1] + gap if out else low))
    for i in range(len(out) - 1, -1, -1):
        limit = high if i == len(out) - 1 else out[i + 1] - gap
        out[i] = max(min(out[i], limit), low)
    return out


def _annotate(image: np.ndarray, labels: list[Label], pixels: dict[str, tuple[float, float]], path: Path,
              size: tuple[int, int], title: str, lang: str, note: str) -> None:
    """Draw the title, the labels in the left and right margins (each beside its asset's
    side of the picture) with leader lines, and the note of what is left unlabelled."""
    from twin.runs.report.plots import fonts, pyplot

    plt = pyplot()
    width, height = size
    with plt.rc_context(fonts(lang)):
        fig = plt.figure(figsize=(width / 100, height / 100), dpi=100)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.imshow(image, extent=(0, width, height, 0))
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
        ax.axis("off")
        if title:
            ax.text(14, 14, title, fontsize=13, va="top", ha="left", color="#111111")
        for side in ("left", "right"):
            mine = sorted((label for label in labels if (pixels[label.asset][0] < width / 2) == (side == "left")),
                          key=lambda label: pixels[label.asset][1])
            ys = _slots([pixels[label.asset][1] for label in mine], 70.0, height - 40.0, 52.0)
            x = 14 if side == "left" else width - 14
            for label, y in zip(mine, ys):
                colour = LEVEL_COLOURS[label.level] if label.level else "#ffffff"
                ink = LEVEL_INK[label.level] if label.level else "#111111"
                ax.annotate(label.text, xy=pixels[label.asset], xytext=(x, y), textcoords="data", ha=side, va="center",
                            fontsize=9.5 if label.level else 8.5, color=ink, linespacing=1.25,
                            bbox={"boxstyle": "round,pad=0.35", "fc": colour, "ec": "#333333" if not label.level else "none",
                                  "alpha": 0.94},
                            arrowprops={"arrowstyle": "-|>" if label.level else "-", "color": "#222222", "lw": 1.1,
                                        "shrinkA": 0, "shrinkB": 2})
                if not label.level:
                    ax.plot(*pixels[label.asset], marker="o", ms=5, color="#111111")
        if note:
            ax.text(width - 14, height - 12, note, fontsize=10, va="bottom", ha="right", color="#333333",
                    bbox={"boxstyle": "round,pad=0.3", "fc": "#ffffff", "ec": "none", "alpha": 0.85})
        fig.savefig(path, dpi=100)
        plt.close(fig)
