"""True sections under the kinematic wave (twin_drainage.sections, kinwave.section_step):
a steady flow leaves a long channel at Manning's normal depth, found here independently
by scipy's brentq on each shape's own area and wetted perimeter; and an imported
KINWAVE file routes its rectangles and triangles as they are, without a warning."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import brentq

from twin_drainage import sections, swmm
from twin_drainage.kinwave import section_step
from twin_drainage.sections import A_FULL, KINDS, S_FULL, Y_FULL, area_of_depth, depth_of_area, geometry

SWMMIO = Path(__file__).parent / "data" / "swmmio"


def _open_channel(shape, h, w, g3, g4):
    """(area, wetted perimeter) of depth y, from the shape's drawing (no top: open flow)."""
    if shape == "RECT_OPEN":
        return lambda y: (w * y, w + 2.0 * y)
    if shape == "RECT_CLOSED":
        return lambda y: (w * y, w + 2.0 * y)
    if shape == "TRAPEZOIDAL":
        return lambda y: ((w + 0.5 * (g3 + g4) * y) * y, w + y * (math.hypot(1, g3) + math.hypot(1, g4)))
    if shape == "TRIANGULAR":
        return lambda y: (0.5 * w / h * y * y, 2.0 * math.hypot(y, 0.5 * w / h * y))
    # RECT_TRIANGULAR: a V of height g3 under a rectangle of width w
    def rect_triangular(y):
        half = 0.5 * w
        if y <= g3:
            top = w * y / g3
            return 0.5 * top * y, 2.0 * math.hypot(y, 0.5 * top)
        return half * g3 + w * (y - g3), 2.0 * math.hypot(g3, half) + 2.0 * (y - g3)
    return rect_triangular


CASES = [("RECT_OPEN", 1.5, 3.0, 0.0, 0.0), ("RECT_CLOSED", 2.0, 3.0, 0.0, 0.0),
         ("TRAPEZOIDAL", 2.0, 1.0, 1.5, 0.5), ("TRIANGULAR", 1.0, 2.0, 0.0, 0.0),
         ("RECT_TRIANGULAR", 2.1336, 4.2672, 0.4572, 0.0)]


@pytest.mark.parametrize("shape,h,w,g3,g4", CASES, ids=[c[0] for c in CASES])
def test_geometry_inverts_itself_and_matches_the_drawing(shape, h, w, g3, g4):
    g = geometry(shape, h, w, g3, g4)
    kind = KINDS[shape]
    shape_of = _open_channel(shape, h, w, g3, g4)
    assert g[Y_FULL] == h
    assert g[A_FULL] == pytest.approx(shape_of(h)[0], rel=1e-12)
    for x in (1e-6, 0.01, 0.1, 0.2, 0.5, 0.9):
        alpha = area_of_depth(kind, x, g)
        assert alpha * g[A_FULL] == pytest.approx(shape_of(x * h)[0], rel=1e-9)
        assert depth_of_area(kind, alpha, g) == pytest.approx(x, rel=1e-9)


@pytest.mark.parametrize("shape,h,w,g3,g4", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("share", [1e-4, 0.05, 0.6])
def test_steady_flow_leaves_at_manning_normal_depth(shape, h, w, g3, g4, share):
    """500 m of channel, n 0.015, S 0.001, a steady inflow of ``share`` of the full flow:
    after the wave has passed, the outlet depth is Manning's normal depth (brentq)."""
    n, slope, length = 0.015, 0.001, 500.0
    g = geometry(shape, h, w, g3, g4)
    kind = KINDS[shape]
    q_full = math.sqrt(slope) / n * g[S_FULL]
    q = share * q_full
    shape_of = _open_channel(shape, h, w, g3, g4)

    def manning(y):
        a, p = shape_of(y)
        return math.sqrt(slope) / n * a * (a / p) ** (2.0 / 3.0) - q

    normal = brentq(manning, 1e-12, h * 0.97, xtol=1e-14, rtol=1e-13)
    a1 = q1 = a2 = q2 = 0.0
    y2 = 0.0
    for _ in range(3000):
        taken, out, a1, q1, a2, q2, y1, y2 = section_step(q, a1, q1, a2, q2, length, 30.0, g[A_FULL], q_full, kind, g)
        assert taken == pytest.approx(q, rel=1e-12)
    assert out == pytest.approx(q, rel=1e-6)
    assert y2 * h == pytest.approx(normal, rel=1e-6)
    assert y1 * h == pytest.approx(normal, rel=1e-6)


def test_an_overfull_conduit_takes_its_full_flow():
    g = geometry("RECT_CLOSED", 1.0, 2.0)
    q_full = math.sqrt(0.001) / 0.013 * g[S_FULL]
    state = (0.0, 0.0, 0.0, 0.0)
    for _ in range(400):
        taken, out, *state, y1, y2 = section_step(3.0 * q_full, *state, 100.0, 10.0, g[A_FULL], q_full,
                                                  KINDS["RECT_CLOSED"], g)
    assert taken == pytest.approx(q_full, rel=1e-12)
    assert out == pytest.approx(q_full, rel=1e-3)
    assert y1 == 1.0


def test_a_degenerate_section_is_refused():
    with pytest.raises(ValueError, match="RECT_TRIANGULAR"):
        geometry("RECT_TRIANGULAR", 2.0, 3.0, 0.0)
    with pytest.raises(ValueError, match="not one of"):
        geometry("EGG", 2.0, 0.0)


def test_a_kinwave_file_keeps_its_sections(tmp_path):
    """alt_test1.inp (KINWAVE): its RECT_TRIANGULAR and RECT_CLOSED conduits are routed
    as they are (no warning, their sections in hydrology.json); the dynamic wave's own
    sections are test_drainage_dynwave_sections'."""
    counts = swmm.write_scene(SWMMIO / "alt_test1.inp", tmp_path / "scene")
    assert not [w for w in counts["warnings"] if "circular pipe" in w], counts["warnings"]
    source = json.loads((tmp_path / "scene" / "data" / "hydrology.json").read_text(encoding="utf-8"))["source"]
    sections = source["sections"]
    assert set(sections) == {"outfall_pipe", "pipe1", "pipe2", "pipe5"}
    assert sections["pipe1"]["shape"] == "RECT_TRIANGULAR"
    assert np.allclose(sections["pipe1"]["geom"], [7 * 0.3048, 14 * 0.3048, 1.5 * 0.3048, 0.0])
    assert sections["outfall_pipe"]["roughness"] == 0.013


@pytest.mark.parametrize("shape, geom", [("RECT_TRIANGULAR", [1.0, 1.2, 0.3]), ("RECT_CLOSED", [1.0, 1.2]),
                                         ("CUSTOM", [1.0]), ("CIRCULAR", [1.0])])
def test_a_closed_shape_is_closed_to_the_router_whatever_its_top_width(shape, geom):
    """The router weights open sections (streets, channels) from Froude number 0.5 and
    closed ones only from 1 (model.route). RECT_TRIANGULAR's table keeps a 2 m top width
    at full and was taken for open by it; SWMM's xsect_isOpen says closed."""
    curve = [(0.0, 0.5), (0.5, 1.0), (1.0, 0.5)] if shape == "CUSTOM" else None
    table = sections.dynamic_section(shape, geom, curve=curve)[1]
    assert table[sections.SEC_STEPS, sections.SO] == 0.0


@pytest.mark.parametrize("shape, geom", [("RECT_OPEN", [1.0, 2.0]), ("TRAPEZOIDAL", [1.0, 2.0, 1.0, 1.0]),
                                         ("TRIANGULAR", [1.0, 2.0])])
def test_an_open_shape_is_open_to_the_router(shape, geom):
    table = sections.dynamic_section(shape, geom)[1]
    assert table[sections.SEC_STEPS, sections.SO] == 1.0
