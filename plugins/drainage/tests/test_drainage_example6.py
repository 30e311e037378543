"""SWMM's culvert and roadway example (swmmio's Example6.inp): a culvert's inlet control
(FHWA HDS-5), a ROADWAY weir (FHWA HDS-7's coefficients) and a TABULAR storage curve,
each against its equations evaluated here by hand, and the three together against SWMM
5.2 on Example 6 with one barrel and a circular channel (the twin's router takes the
file's two barrels and trapezoidal channel as equivalent circles; Example6.inp itself is
in test_drainage_public's NOT_YET)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from twin_drainage import culvert, inp, model, regulators, swmm

EXAMPLE6 = Path(__file__).parent / "data" / "swmmio" / "Example6.inp"
FOOT = 0.3048
CFS = FOOT**3
G = 9.80665
#: HDS-5's Ku: its coefficients take Q/(A·D^0.5) in ft^0.5/s
KU = 1.0 / math.sqrt(FOOT)


def _circle(d: float, y: float) -> tuple[float, float]:
    theta = 2.0 * math.acos(1.0 - 2.0 * y / d)
    return d * d / 8.0 * (theta - math.sin(theta)), d * math.sin(theta / 2.0)


def _flow(code: int, h: float, d: float = 3 * FOOT, slope: float = 0.05) -> float:
    area, width = culvert.circle(d)
    return culvert.inlet_flow(code, h, d, math.pi / 4 * d * d, slope, area, width)


@pytest.mark.parametrize("yc", [0.1, 0.3, 0.5])
def test_an_unsubmerged_inlet_follows_hds5_form_1(yc):
    """Code 4 (corrugated metal pipe, headwall: form 1, K 0.0078, M 2): the headwater
    that passes the critical flow at a depth yc, from HDS-5's equation written forward,
    h/D = yc/D + yh/(2D) + K·(Ku·Qc/(A·D^0.5))^M - 0.5·S, gives that flow back."""
    d, s = 3 * FOOT, 0.05
    ac, wc = _circle(d, yc)
    yh = ac / wc
    qc = ac * math.sqrt(G * yh)
    a_d = math.pi / 4 * d * d * math.sqrt(d)
    h = d * (yc / d + yh / (2 * d) + 0.0078 * (KU * qc / a_d) ** 2.0 - 0.5 * s)
    assert h <= 0.95 * d  # unsubmerged
    assert _flow(4, h) == pytest.approx(qc, rel=1e-7)


def test_a_submerged_inlet_and_the_transition_follow_hds5():
    """Code 4 submerged: h/D = c·(Ku·Q/(A·D^0.5))² + Y - 0.5·S (c 0.0379, Y 0.69), from
    h >= D·(16·c + Y - 0.5·S); between 0.95·D and there, the straight line. Example 6's
    peak: 5.3 ft of headwater on each 3 ft barrel passes 66.0 cfs."""
    d, s, c, y = 3 * FOOT, 0.05, 0.0379, 0.69
    a_d = math.pi / 4 * d * d * math.sqrt(d)

    def submerged(h: float) -> float:
        return a_d / KU * math.sqrt((h / d - y + 0.5 * s) / c)

    y2 = d * (16 * c + y - 0.5 * s)
    for h in (y2, 1.5, 5.3 * FOOT, 3.0):
        assert _flow(4, h) == pytest.approx(submerged(h), rel=1e-12)
    assert _flow(4, 5.3 * FOOT) / CFS == pytest.approx(66.0, abs=0.1)
    y1 = 0.95 * d
    q1 = _flow(4, y1)
    for f in (0.25, 0.5, 0.9):
        h = y1 + f * (y2 - y1)
        assert _flow(4, h) == pytest.approx(q1 + f * (submerged(y2) - q1), rel=1e-12)


def test_form_2_and_a_mitered_inlet_follow_hds5():
    """Code 12 (box, 45 deg flare, top bevel: form 2, K 0.510, M 0.667): h/D =
    K·(Ku·Q/(A·D^0.5))^M; code 5 (mitered CMP) submerged takes SWMM's -7·S slope term."""
    d = 3 * FOOT
    a_d = math.pi / 4 * d * d * math.sqrt(d)
    for h in (0.2, 0.5, 0.8):
        assert _flow(12, h) == pytest.approx(a_d / KU * (h / d / 0.510) ** (1 / 0.667), rel=1e-12)
    s = 0.01
    h = 2.5
    assert _flow(5, h, slope=s) == pytest.approx(a_d / KU * math.sqrt((h / d - 0.75 - 7 * s) / 0.0463), rel=1e-12)
    with pytest.raises(ValueError, match="culvert code 58: valid codes are 1 to 57"):
        _flow(58, 1.0)


def test_the_routers_culvert_table_follows_the_equations():
    """The router reads the inlet control from a table below submergence and in closed
    form above it (culvert.culvert_flow): within 0.2 % of the equations, 2 barrels twice one."""
    d = 3 * FOOT
    area, width = culvert.circle(d)
    row = culvert.router_row(4, d, math.pi / 4 * d * d, 0.05, 2.0, area, width)
    for h in np.linspace(0.05, 3.0, 40):
        assert culvert.culvert_flow(row, h) == pytest.approx(2.0 * _flow(4, h), rel=2e-3)


def _roadway(tmp_path: Path, h1: float, h2: float, width_ft: float, surface: str) -> float:
    """The flow (cfs) Example 6's ROADWAY weir (crest 5 ft, 200 ft long) passes with the
    heads ``h1``, ``h2`` (ft above the road), its RoadWidth and RoadSurf changed:
    imported, built and evaluated as the router does."""
    text = EXAMPLE6.read_text(encoding="utf-8").replace("\t40        \tGRAVEL\n", f"\t{width_ft}        \t{surface}\n")
    path = tmp_path / f"road_{width_ft}_{surface}.inp"
    path.write_text(text, encoding="utf-8")
    spec = inp.parse_network(inp.read_inp(path)).regulators["Roadway"]
    ints, floats, ptr, xs, ys, on = regulators.build([spec], {"Inlet": 0, "Outlet": 1})
    invert = np.array([878 * FOOT, 868 * FOOT])
    head = np.array([invert[0] + (5 + h1) * FOOT, invert[0] + (5 + h2) * FOOT])
    q = regulators.regulator_flow(0, ints, floats, ptr, xs, ys, on, head, invert, head - invert, np.zeros(2), 1e9,
                                  1.0, 2)
    return q / CFS


def test_a_roadway_weir_follows_hds7(tmp_path):
    """roadway.c's equations by hand, Q = Cr·kt·L·h^1.5 (cfs, ft), L = 200 ft:
    a gravel road 40 ft wide at 0.3 ft of head (h/W <= 0.15: Cr by the head, 2.5 at 0 to
    2.7 at 0.5 ft -> 2.62), free; a paved road 2 ft wide at 0.4 ft (h/W 0.2 > 0.15: Cr
    3.05 at 0.15 to 3.10 at 0.25 -> 3.075); the gravel road at 1 ft with the tailwater
    0.9 ft over it (Cr 2.8, kt 0.87 at 0.9); flowing back the other way alike; without a
    road surface, the file's own coefficient 3.33."""
    assert _roadway(tmp_path, 0.3, -2.0, 40, "GRAVEL") == pytest.approx(2.62 * 200 * 0.3**1.5, rel=1e-9)
    assert _roadway(tmp_path, 0.4, -2.0, 2, "PAVED") == pytest.approx(3.075 * 200 * 0.4**1.5, rel=1e-9)
    assert _roadway(tmp_path, 1.0, 0.9, 40, "GRAVEL") == pytest.approx(2.8 * 0.87 * 200, rel=1e-9)
    assert _roadway(tmp_path, 0.9, 1.0, 40, "GRAVEL") == pytest.approx(-2.8 * 0.87 * 200, rel=1e-9)
    # the file's coefficient in SI: SWMM divides by 0.552, the twin converts by sqrt(0.3048)
    assert _roadway(tmp_path, 0.3, -2.0, 0, "GRAVEL") == pytest.approx(3.33 * 200 * 0.3**1.5, rel=1e-3)
    assert _roadway(tmp_path, -0.01, -2.0, 40, "GRAVEL") == 0.0


def test_a_tabular_storage_curve_holds_its_integral():
    """Example 6's storage curve (area 0, 9583, 33977, 72310, 136778 ft² at 0, 2, 4, 6,
    8 ft; 9 ft deep): the volume is the curve's integral (trapezoids of the linear area,
    extrapolated along the last segment beyond 8 ft, as SWMM's table.c), within the
    chord's ΔA·Δy/8 between the points the router keeps; depth from volume inverts it."""
    node = inp.parse_network(inp.read_inp(EXAMPLE6)).manholes["Inlet"]
    curve = node["storage_curve"]
    assert curve[1] == pytest.approx([2 * FOOT, 9583 * FOOT**2])
    pts = [(0, 0), (2, 9583), (4, 33977), (6, 72310), (8, 136778)]

    def by_hand(y_ft: float) -> float:  # ft³
        v, extended = 0.0, pts + [(9, 136778 + (136778 - 72310) / 2)]
        for (d0, a0), (d1, a1) in zip(extended, extended[1:]):
            if y_ft <= d0:
                break
            top = min(y_ft, d1)
            a_top = a0 + (a1 - a0) * (top - d0) / (d1 - d0)
            v += (a0 + a_top) / 2 * (top - d0)
        return v

    max_depth = np.array([node["max_depth"]])
    xs, vs = model.storage_curve_points(curve, node["max_depth"])
    ptr = np.array([0, len(xs)])
    xy = np.stack([xs, vs])
    empty = np.zeros(0)
    args = (max_depth, np.array([node["shaft_area"]]), np.zeros(1), np.zeros(2, dtype=np.int64),
            np.zeros(0, dtype=np.int64), empty, empty, empty)
    full = model.node_volume(0, node["max_depth"], *args, store_ptr=ptr, store_xy=xy)
    assert full == pytest.approx(by_hand(9.0) * FOOT**3, rel=1e-12)
    for y_ft in (0.5, 1.0, 2.0, 3.3, 5.0, 5.27, 7.9, 8.0, 8.6):
        v = model.node_volume(0, y_ft * FOOT, *args, store_ptr=ptr, store_xy=xy)
        step = 2.0 / model.STORE_CURVE_STEPS  # ft between the router's points
        chord = 32234 * step * step / 8  # ft³: the steepest segment's ΔA·Δy/8
        assert v == pytest.approx(by_hand(y_ft) * FOOT**3, abs=chord * FOOT**3)
        assert model.node_depth(0, v, 1.0, full, *args, store_ptr=ptr, store_xy=xy) == pytest.approx(y_ft * FOOT,
                                                                                                   abs=1e-9)


def test_example6_imports_its_roadway_storage_and_culvert():
    """Nothing of the three is left out any more: no warning names the roadway, the
    storage curve or the culvert, and the scene carries the curve and the culvert for
    the router."""
    warnings = inp.parse_network(inp.read_inp(EXAMPLE6)).warnings
    assert not [w for w in warnings if "ROADWAY" in w or "tabular" in w or "culvert" in w], warnings
    net = inp.parse_network(inp.read_inp(EXAMPLE6))
    assert net.pipes["Culvert"]["culvert"] == {"code": 4, "barrels": 2.0, "y_full": pytest.approx(3 * FOOT),
                                               "a_full": pytest.approx(math.pi / 4 * (3 * FOOT) ** 2),
                                               "shape": "CIRCULAR", "geom": [pytest.approx(3 * FOOT), 0.0, 0.0, 0.0]}
    road = net.regulators["Roadway"]
    assert (road["subtype"], road["road_surface"], road["road_width"]) == (4, 2, pytest.approx(40 * FOOT))


def test_a_bad_culvert_code_is_refused(tmp_path):
    bad = tmp_path / "bad.inp"
    bad.write_text(EXAMPLE6.read_text(encoding="utf-8").replace("\t2         \t4\n", "\t2         \t99\n"),
                   encoding="utf-8")
    with pytest.raises(inp.InpError, match=r"line 79: \[XSECTIONS\] 'Culvert' culvert code '99'; valid: 1 to 57"):
        inp.parse_network(inp.read_inp(bad))


@pytest.mark.slow
def test_example6_with_one_barrel_and_a_circular_channel_agrees_with_swmm(tmp_path):
    """Example 6 with its culvert one barrel and its channel a 9 ft pipe (the router's
    circles, so the three features alone differ from SWMM): the inlet's peak depth,
    the roadway's and the culvert's peak flows as SWMM 5.2's (without them: 0.40 m
    low, the roadway dry, the culvert 129 % over)."""
    pytest.importorskip("pyswmm")
    from twin_drainage import run

    text = EXAMPLE6.read_text(encoding="utf-8")
    text = text.replace("CIRCULAR    \t3               \t0         \t0         \t0         \t2         \t4",
                        "CIRCULAR    \t3               \t0         \t0         \t0         \t1         \t4")
    text = text.replace("TRAPEZOIDAL \t9               \t10        \t2         \t2         \t1",
                        "CIRCULAR    \t9               \t0         \t0         \t0         \t1")
    path = tmp_path / "one_barrel.inp"
    path.write_text(text, encoding="utf-8")
    assert swmm.write_scene(path, tmp_path / "scene")["warnings"] == []
    c = run.compare(path)
    assert c.peak_depth.stats()["max"] <= 0.01, c.peak_depth.worst()
    assert c.peak_flow.stats()["max"] <= 0.01, c.peak_flow.worst()
    assert c.twin.peak_flow["Roadway"] > 4.0  # m³/s: the road is overtopped
    assert abs(c.outfall_volume) <= 0.002
