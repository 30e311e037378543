"""True sections under the dynamic wave (twin_drainage.sections.dynamic_section, read by
model.route): a steady flow down a long conduit of each shape SWMM utilities use runs at
Manning's normal depth, found here independently by scipy's brentq on the shape's own
area and wetted perimeter (the rounded shapes: on SWMM 5.2's xsect.dat tables, read here
by plain interpolation); the router keeps its mass balance to round-off with them; an
imported DYNWAVE file routes them without a warning, and what is still an equivalent
circle keeps its one-line warning."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq

from twin.plugins.registry import load_registry
from twin.tick.scene import load_scene
from twin.tick.simulator import Simulator

from twin_drainage import inp, plugin, swmm, xsect_dat
from twin_drainage.sections import SA, SEC_STEPS, SR, ST, dynamic_section

SWMMIO = Path(__file__).parent / "data" / "swmmio"

#: one conduit J -> O, 1000 m at a slope of 0.001, n 0.015, fed a steady inflow
FILE = """[OPTIONS]
FLOW_UNITS           CMS
FLOW_ROUTING         DYNWAVE
START_DATE           01/01/2020
START_TIME           00:00:00
REPORT_START_DATE    01/01/2020
REPORT_START_TIME    00:00:00
END_DATE             01/01/2020
END_TIME             03:00:00
REPORT_STEP          00:01:00
WET_STEP             00:01:00
DRY_STEP             00:01:00
ROUTING_STEP         0:00:10

[JUNCTIONS]
J                1          {rim}          0          0          0

[OUTFALLS]
O                0          NORMAL                      NO

[CONDUITS]
C                J                O                1000       0.015      0          0          0          0

[XSECTIONS]
C                {shape}      {geom}       {barrels}

[INFLOWS]
J                FLOW             ""               FLOW     1.0      1.0      {inflow}

[COORDINATES]
J                0                  0
O                1000               0
"""
SLOPE, N = 0.001, 0.015


def _run(tmp_path: Path, shape: str, geom: str, barrels: int, inflow: float, rim: float, minutes: int = 120,
         tick: float = 10.0, extra: str = "") -> tuple[list[str], np.ndarray, np.ndarray, float, float]:
    """The file (with ``extra`` sections) run in the twin: its warnings, J's depth and
    the conduit's mid depth at each tick, the water discharged and held at the end (m³)."""
    path = tmp_path / "one.inp"
    path.write_text(FILE.format(shape=shape, geom=geom, barrels=barrels, inflow=inflow, rim=rim) + extra,
                    encoding="utf-8")
    warnings = swmm.write_scene(path, tmp_path / "scene")["warnings"]
    registry = load_registry([plugin], entry_points=False)
    truth = Simulator(load_scene(tmp_path / "scene", registry.domains), registry, 0)
    table = truth.world.tables["drainage"]
    ids = list(table.ids)
    node, link = ids.index("J"), ids.index("C")

    def fail(plugin_name: str, what: str, exc: BaseException) -> None:
        raise RuntimeError(f"{plugin_name}: {what}: {exc}") from exc

    depth, fill = [], []
    for _ in range(int(minutes * 60 / tick)):
        truth.step(tick, fail)
        depth.append(float(table["depth"][node]))
        fill.append(float(table["fill"][link]))
    return warnings, np.array(depth), np.array(fill), float(table["discharged_volume"].sum()), float(
        table["volume"].sum())


def _drawn(shape: str, h: float, w: float, g3: float, g4: float, barrels: int):
    """(area, wetted perimeter) at depth y from the shape's drawing, below its crown's top."""
    if shape in ("RECT_OPEN", "RECT_CLOSED"):
        return lambda y: (w * y, w + 2.0 * y)
    if shape == "TRAPEZOIDAL":
        return lambda y: ((w + 0.5 * (g3 + g4) * y) * y, w + y * (math.hypot(1, g3) + math.hypot(1, g4)))
    if shape == "TRIANGULAR":
        return lambda y: (0.5 * w / h * y * y, 2.0 * math.hypot(y, 0.5 * w / h * y))
    if shape == "RECT_TRIANGULAR":
        def rect_triangular(y):
            if y <= g3:
                top = w * y / g3
                return 0.5 * top * y, 2.0 * math.hypot(y, 0.5 * top)
            return 0.5 * w * g3 + w * (y - g3), 2.0 * math.hypot(g3, 0.5 * w) + 2.0 * (y - g3)
        return rect_triangular

    if shape in ("PARABOLIC", "POWER"):  # half width (w/2)·sqrt(y/h): POWER's exponent here is 2
        def parabola(y):
            slope = lambda z: math.sqrt(1.0 + (0.25 * w / math.sqrt(h * z)) ** 2)  # noqa: E731
            return 2.0 / 3.0 * w * math.sqrt(y / h) * y, 2.0 * quad(slope, 0.0, y, limit=200)[0]
        return parabola

    def segment(y):  # a circle of diameter h filled to y
        theta = 2.0 * math.acos(1.0 - 2.0 * y / h)
        return h * h / 8.0 * (theta - math.sin(theta)), h * theta / 2.0

    if shape == "FILLED_CIRCULAR":  # the circle above a fill w deep: its flat top is wetted
        a_fill, p_fill = segment(w)
        chord = 2.0 * math.sqrt(w * (h - w))
        return lambda y: (segment(y + w)[0] - a_fill, segment(y + w)[1] - p_fill + chord)
    assert shape == "CIRCULAR"
    return lambda y: (barrels * segment(y)[0], barrels * segment(y)[1])


#: SWMM's rounded shapes: A_full/y², R_full/y, the table of A (y -> A) or of Y (A -> y),
#: and of R (y -> R) or of S (A -> S), as xsect.c reads them
ROUNDED = {
    "EGG": (0.5105, 0.1931, "A_Egg", "R_Egg"), "HORSESHOE": (0.8293, 0.2538, "A_Horseshoe", "R_Horseshoe"),
    "GOTHIC": (0.6554, 0.2269, "Y_Gothic", "S_Gothic"), "CATENARY": (0.70277, 0.23172, "Y_Catenary", "S_Catenary"),
    "SEMIELLIPTICAL": (0.785, 0.242, "Y_SemiEllip", "S_SemiEllip"),
    "BASKETHANDLE": (0.7862, 0.2464, "A_Baskethandle", "R_Baskethandle"),
    "SEMICIRCULAR": (1.2697, 0.2946, "Y_SemiCirc", "S_SemiCirc"),
    "ARCH": (0.7879 * 1.5, 0.2991, "A_Arch", "R_Arch"),  # h 1, w 1.5 (not a standard size)
    "HORIZ_ELLIPSE": (1.2692, 0.3061, "A_HorizEllipse", "R_HorizEllipse"),
}


def _tabled(shape: str, h: float):
    """(A, R·A... as area and perimeter) at depth y from SWMM's tables by np.interp."""
    fa, fr, first, second = ROUNDED[shape]
    a_full, r_full = fa * h * h, fr * h

    def grid(table):
        return np.linspace(0.0, 1.0, len(table))

    def at(y):
        x = y / h
        tab = getattr(xsect_dat, first)
        alpha = np.interp(x, grid(tab), tab) if first.startswith("A_") else np.interp(x, tab, grid(tab))
        tab2 = getattr(xsect_dat, second)
        if second.startswith("R_"):
            r = r_full * np.interp(x, grid(tab2), tab2)
        else:
            s = a_full * r_full ** (2.0 / 3.0) * np.interp(alpha, grid(tab2), tab2)
            r = (s / (alpha * a_full)) ** 1.5
        return alpha * a_full, alpha * a_full / r
    return at


#: shape, its [XSECTIONS] geometry, barrels, the flow as a share of its full flow (a
#: depth between a tenth and nine tenths), the check's tolerance (m)
CASES = [
    ("RECT_OPEN", (1.5, 3.0, 0.0, 0.0), 1, 0.4), ("RECT_CLOSED", (2.0, 3.0, 0.0, 0.0), 1, 0.5),
    ("TRAPEZOIDAL", (2.0, 1.0, 1.5, 0.5), 1, 0.3), ("TRIANGULAR", (1.0, 2.0, 0.0, 0.0), 1, 0.5),
    ("RECT_TRIANGULAR", (2.0, 3.0, 0.5, 0.0), 1, 0.4), ("FILLED_CIRCULAR", (1.5, 0.3, 0.0, 0.0), 1, 0.5),
    ("CIRCULAR", (0.9, 0.0, 0.0, 0.0), 3, 0.4),
    ("EGG", (1.2, 0.0, 0.0, 0.0), 1, 0.4), ("HORSESHOE", (1.2, 0.0, 0.0, 0.0), 1, 0.4),
    ("GOTHIC", (1.2, 0.0, 0.0, 0.0), 1, 0.4), ("CATENARY", (1.2, 0.0, 0.0, 0.0), 1, 0.4),
    ("SEMIELLIPTICAL", (1.2, 0.0, 0.0, 0.0), 1, 0.4), ("BASKETHANDLE", (1.2, 0.0, 0.0, 0.0), 1, 0.4),
    ("SEMICIRCULAR", (1.2, 0.0, 0.0, 0.0), 1, 0.4), ("ARCH", (1.0, 1.5, 0.0, 0.0), 1, 0.4),
    ("HORIZ_ELLIPSE", (1.0, 1.5, 0.0, 0.0), 1, 0.4), ("PARABOLIC", (1.0, 2.0, 0.0, 0.0), 1, 0.4),
    ("POWER", (1.0, 2.0, 2.0, 0.0), 1, 0.4),
]


@pytest.mark.parametrize("shape,geom,barrels,share", CASES, ids=[c[0] for c in CASES])
def test_steady_flow_runs_at_manning_normal_depth(tmp_path, shape, geom, barrels, share):
    """1000 m of conduit at S 0.001, n 0.015, a NORMAL outfall, a steady inflow: after
    two hours the junction and the conduit's middle stand at Manning's normal depth
    (brentq). As equivalent circles (before) the trapezoid's stood 34 % low, the
    triangle's 39 %, the open rectangle's 13 %, the filled circle's 37 % high at the
    junction."""
    h, w, g3, g4 = geom
    y_full = h - w if shape == "FILLED_CIRCULAR" else h
    shape_of = _tabled(shape, h) if shape in ROUNDED else _drawn(shape, h, w, g3, g4, barrels)

    def conveyance(y):
        a, p = shape_of(y)
        return math.sqrt(SLOPE) / N * a * (a / p) ** (2.0 / 3.0)

    q = share * conveyance(0.9 * y_full)
    normal = brentq(lambda y: conveyance(y) - q, 1e-6 * y_full, 0.9 * y_full, xtol=1e-12)
    text = " ".join(f"{v:g}" for v in geom)
    warnings, depth, fill, _, _ = _run(tmp_path, shape, text, barrels, q, rim=y_full + 2.0)
    assert not [x for x in warnings if "circular pipe" in x], warnings
    assert depth[-1] == pytest.approx(normal, abs=2e-3 * y_full)
    assert fill[-1] * y_full == pytest.approx(normal, abs=2e-3 * y_full)
    assert abs(depth[-1] - depth[-30]) < 1e-4 * y_full  # steady


def test_a_custom_shape_runs_at_its_normal_depth(tmp_path):
    """A CUSTOM section (a SHAPE curve: a V 0.3 of the height deep under vertical walls,
    closed at the top) 1.2 m high runs at the normal depth of its drawing (brentq), read
    through SWMM's 51-entry shape tables (shape.c)."""
    h, points = 1.2, [(0.0, 0.4), (0.3, 1.0), (1.0, 1.0)]

    def drawn(y):  # area and wetted perimeter below the top
        x = y / h
        if x <= 0.3:
            w = 0.4 + 2.0 * x
            return h * h * (0.4 + 0.5 * (w - 0.4)) * x, h * (0.4 + 2.0 * math.hypot(x, x))
        return h * h * (0.21 + (x - 0.3)), h * (0.4 + 2.0 * math.hypot(0.3, 0.3) + 2.0 * (x - 0.3))

    def conveyance(y):
        a, p = drawn(y)
        return math.sqrt(SLOPE) / N * a * (a / p) ** (2.0 / 3.0)

    q = 0.4 * conveyance(0.9 * h)
    normal = brentq(lambda y: conveyance(y) - q, 1e-6, 0.9 * h, xtol=1e-12)
    curve = "\n[CURVES]\nU SHAPE " + " ".join(f"{y:g} {w:g}" for y, w in points) + "\n"
    warnings, depth, fill, _, _ = _run(tmp_path, "CUSTOM", "1.2 U 0 0", 1, q, rim=h + 2.0, extra=curve)
    assert not [x for x in warnings if "circular pipe" in x], warnings
    assert depth[-1] == pytest.approx(normal, abs=2e-3 * h)
    assert fill[-1] * h == pytest.approx(normal, abs=2e-3 * h)


def test_tables_match_the_drawing_and_swmm():
    """The router's table of a trapezoid is its drawing's area, hydraulic radius and
    width; an egg's reproduces xsect.dat's entries; barrels multiply area and width, not
    the hydraulic radius."""
    d, tab, _, _ = dynamic_section("TRAPEZOIDAL", [2.0, 1.0, 1.5, 0.5], 1)
    for k in (40, 200, 360):
        y = k / SEC_STEPS * d
        a, p = _drawn("TRAPEZOIDAL", 2.0, 1.0, 1.5, 0.5, 1)(y)
        assert tab[k, SA] * d * d == pytest.approx(a, rel=1e-12)
        assert tab[k, SR] * d == pytest.approx(a / p, rel=1e-12)
        assert tab[k, ST] * d == pytest.approx(1.0 + 2.0 * y, rel=1e-12)
    d, tab, _, _ = dynamic_section("EGG", [1.2], 1)
    for k in range(2, 26):  # A_Egg's entries at y/y_full = k/25 (past lookup's quadratic first two)
        assert tab[16 * k, SA] == pytest.approx(0.5105 * xsect_dat.A_Egg[k], rel=1e-12)
        assert tab[16 * k, SR] == pytest.approx(0.1931 * xsect_dat.R_Egg[k], rel=1e-12)
    _, two, _, _ = dynamic_section("CIRCULAR", [1.0], 2)
    _, one, _, _ = dynamic_section("CIRCULAR", [1.0], 1)
    assert np.allclose(two[:, SA], 2.0 * one[:, SA]) and np.allclose(two[:, SR], one[:, SR])
    assert np.allclose(two[:, ST], 2.0 * one[:, ST])


def test_a_bad_section_is_refused_with_its_line(tmp_path):
    path = tmp_path / "bad.inp"
    path.write_text(FILE.format(shape="FILLED_CIRCULAR", geom="1.0 1.2 0 0", barrels=1, inflow=0.1, rim=3.0),
                    encoding="utf-8")
    with pytest.raises(inp.InpError, match=r"line \d+.*FILLED_CIRCULAR: the filled depth \(Geom2\)"):
        swmm.write_scene(path, tmp_path / "scene")
    path.write_text(FILE.format(shape="ARCH", geom="500 0 0 0", barrels=1, inflow=0.1, rim=3.0), encoding="utf-8")
    with pytest.raises(inp.InpError, match=r"ARCH: size code 500; valid: 1 to 102"):
        swmm.write_scene(path, tmp_path / "scene")


def test_the_router_conserves_mass_in_its_sections(tmp_path):
    """A trapezoidal channel whose junction floods and drains again (its ponded area 0:
    what rises above the rim leaves): inflow = discharged + held + flooded, to round-off,
    with the channel's storage read from its table at both ends. Under SLOT: SWMM's
    default EXTRAN sets a surcharged junction's volume to its storage at its head, which
    keeps no balance (nor does SWMM's)."""
    path = tmp_path / "pulse.inp"
    text = FILE.format(shape="TRAPEZOIDAL", geom="1.0 1.0 1.5 0.5", barrels=1, inflow=1.0, rim=1.2)
    # a 6 m³/s pulse for 20 minutes: twice what the 1 m deep channel carries
    text = text.replace('J                FLOW             ""               FLOW     1.0      1.0      1.0',
                        'J                FLOW             pulse            FLOW     1.0      1.0')
    text += "\n[TIMESERIES]\npulse 0:00 6.0\npulse 0:20 6.0\npulse 0:21 0.0\npulse 3:00 0.0\n"
    text = text.replace("[OPTIONS]\n", "[OPTIONS]\nSURCHARGE_METHOD SLOT\n", 1)
    assert "SURCHARGE_METHOD SLOT" in text
    path.write_text(text, encoding="utf-8")
    swmm.write_scene(path, tmp_path / "scene")
    registry = load_registry([plugin], entry_points=False)
    truth = Simulator(load_scene(tmp_path / "scene", registry.domains), registry, 0)
    table = truth.world.tables["drainage"]

    def fail(plugin_name: str, what: str, exc: BaseException) -> None:
        raise RuntimeError(f"{plugin_name}: {what}: {exc}") from exc

    came = flooded = 0.0
    for k in range(360):
        truth.step(10.0, fail)
        came += float(table["inflow"].sum()) * 10.0
        flooded += float(table["flooding"].sum()) * 10.0
        if k in (60, 120, 359):
            held = float(table["volume"].sum())
            assert came == pytest.approx(float(table["discharged_volume"].sum()) + held + flooded, rel=1e-10)
    assert flooded > 10.0  # it did flood: the balance covered it


def test_example6_routes_its_channel_and_culvert_as_they_are(tmp_path):
    """Example6.inp (DYNWAVE): its trapezoidal channel and its 2-barrel culvert go to the
    router as their own sections, without the equivalent circle's warning; a section the
    twin still takes as a circle keeps its one-line warning naming line and consequence."""
    counts = swmm.write_scene(SWMMIO / "Example6.inp", tmp_path / "a")
    assert not [w for w in counts["warnings"] if "circular pipe" in w], counts["warnings"]
    text = (SWMMIO / "Example6.inp").read_text(encoding="utf-8")
    changed = tmp_path / "main.inp"
    changed.write_text(re.sub(r"(Channel\s+)TRAPEZOIDAL", r"\1FORCE_MAIN", text), encoding="utf-8")
    warnings = swmm.write_scene(changed, tmp_path / "b")["warnings"]
    left = [w for w in warnings if w.startswith("conduit 'Channel'")]
    assert len(left) == 1 and "FORCE_MAIN is a 2.743 m circular pipe of the same full-flow capacity" in left[0]


def test_a_junction_guessed_above_its_rim_without_a_pond_is_solved(tmp_path):
    """A 1.167 m² junction without a ponded area that a 10 s tick's first step fills far
    past its rim (its depth's first guess, the volume over the shaft, lies above the
    rim, where its storage has no surface at all): the depth is bisected instead of
    dividing by that surface (the router stopped on a division by zero before)."""
    warnings, depth, _, discharged, held = _run(tmp_path, "CIRCULAR", "1.0 0 0 0", 1, 2.0, rim=3.0, minutes=10)
    assert np.all(np.isfinite(depth)) and depth.max() <= 3.0
    assert discharged > 0.0 and held > 0.0
