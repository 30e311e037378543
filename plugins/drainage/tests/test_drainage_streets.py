"""SWMM 5.2's STREET sections ([STREETS], street.c and transect.c) against the street's
own geometry, worked out by hand from its curb, cross slope and backing."""

import numpy as np
import pytest

from twin_drainage.sections import dynamic_section, swmm_section

FT = 0.3048
# test_inlet_drains.inp's FullStreet: Tcrown 20 ft, Hcurb 0.5 ft, Sx 4 %, nRoad 0.016, no
# depressed gutter, two sides, a 20 ft backing at 4 % of n 0.016
FULL = [20 * FT, 0.5 * FT, 4.0, 0.016, 0.0, 0.0, 2, 20 * FT, 4.0, 0.016]
HALF = FULL[:6] + [1] + FULL[7:]


def test_a_full_street_holds_the_water_its_road_and_backing_hold():
    # full height: the backing's top, 0.5 ft curb + 4 % of 20 ft = 1.3 ft above the gutter
    y_full = swmm_section("STREET", FULL, None)[0]
    assert y_full == pytest.approx(1.3 * FT)
    # 0.4 ft deep: below the 0.8 ft crown a triangle each side, 0.4 / 0.04 = 10 ft wide
    # (area 2 ft² a side); 1.0 ft deep: the road under water (20·1.0 - 20·0.8/2 = 12 ft² a
    # side) and the backing 0.5 / 0.04 = 12.5 ft into it (3.125 ft² a side)
    _, a, _, t = swmm_section("STREET", FULL, np.array([0.4, 1.0]) * FT)
    assert a / FT**2 == pytest.approx([4.0, 30.25], rel=5e-3)
    assert t / FT == pytest.approx([20.0, 65.0], rel=5e-3)
    # a half street is half of it
    _, a_half, _, t_half = swmm_section("STREET", HALF, np.array([0.4, 1.0]) * FT)
    assert a_half == pytest.approx(a / 2.0, rel=1e-9)
    assert t_half == pytest.approx(t / 2.0, rel=1e-9)


def test_the_router_takes_a_street_as_an_open_section():
    d, table, _, _ = dynamic_section("STREET", FULL)
    assert d == pytest.approx(1.3 * FT)
    # full: the road (2·(20·1.3 - 20·0.8/2) = 36 ft²) and the backings' triangles
    # (2 · 20·0.8/2 = 16 ft²) over d²; full top width 80 ft
    assert table[-1, 0] * d * d / FT**2 == pytest.approx(52.0, rel=1e-6)
    assert table[-1, 5] * d / FT == pytest.approx(80.0, rel=1e-6)


def test_a_street_swmm_refuses_is_refused():
    with pytest.raises(ValueError, match="Tcrown"):
        swmm_section("STREET", [0.0] + FULL[1:], None)
