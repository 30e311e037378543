"""SWMM 5.2's street inlets (inlet.c; twin_drainage.inlets) against HEC-22's equations
worked by hand here (FHWA HEC-22, 3rd ed., ch. 4, US units), and the importer's reading
of [INLETS] and [INLET_USAGE]."""

from pathlib import Path

import numpy as np
import pytest

from twin_drainage import inlets as il
from twin_drainage.inp import parse_network, read_inp

DATA = Path(__file__).parent / "data" / "swmmio"
SX, SL, N, T_CROWN = 0.04, 0.01, 0.016, 20.0  # a street of uniform cross slope, no gutter depression


def _usage(kind, placement, grate=-1, gl=0.0, gw=0.0, cl=0.0, ch=0.0, throat=il.VERTICAL, number=1, clog=1.0):
    ii = np.zeros(il.INT_FIELDS, dtype=np.int64)
    ff = np.zeros(il.FLOAT_FIELDS)
    ii[il.I_TYPE], ii[il.I_GRATE], ii[il.I_THROAT], ii[il.I_PLACEMENT] = kind, grate, throat, placement
    ii[il.I_SIDES], ii[il.I_NUMBER], ii[il.I_CURVE] = 1, number, -1
    ff[il.F_SX], ff[il.F_N], ff[il.F_TCROWN], ff[il.F_SL] = SX, N, T_CROWN, SL
    ff[il.F_QFACTOR] = 0.56 / N * SL ** 0.5 * SX ** 1.67
    ff[il.F_CLOG], ff[il.F_GL], ff[il.F_GW], ff[il.F_CL], ff[il.F_CH] = clog, gl, gw, cl, ch
    ff[il.F_GOPEN] = il.OPENING[grate] if grate >= 0 else 1.0
    return ii, ff


def _capture(ii, ff, q, d=0.0):
    return il.usage_capture(ii, ff, q, d, np.zeros(1, dtype=np.int64), np.zeros(1), np.zeros(1))


def test_a_grate_on_grade_captures_what_hec22_says():
    q = 3.0  # cfs in the gutter
    # HEC-22 eq. 4-2 (Izzard): Q = 0.56/n · Sx^1.67 · SL^0.5 · T^2.67 -> the spread
    t = (q * N / (0.56 * SX ** 1.67 * SL ** 0.5)) ** (1.0 / 2.67)
    eo = 1.0 - (1.0 - 2.0 / t) ** 2.67          # 4-16: the 2 ft grate's frontal share
    v = q / (0.5 * t * t * SX)                  # the gutter's mean velocity
    vo = 2.22 + 4.03 * 2.0 - 0.65 * 4.0 + 0.06 * 8.0  # P-50 bar grate 2 ft long (chart 5B)
    rf = 1.0 if v <= vo else 1.0 - 0.09 * (v - vo)  # 4-18
    rs = 1.0 / (1.0 + 0.15 * v ** 1.8 / (SX * 2.0 ** 2.3))  # 4-19
    expected = q * (rf * eo + rs * (1.0 - eo))  # 4-21
    assert 0.2 * q < expected < q
    ii, ff = _usage(il.GRATE, il.ON_GRADE, grate=0, gl=2.0, gw=2.0)
    assert _capture(ii, ff, q) == pytest.approx(expected, rel=2e-3)
    # half clogged: half the capture; two in a row: the second takes from the first's bypass
    ii, ff = _usage(il.GRATE, il.ON_GRADE, grate=0, gl=2.0, gw=2.0, clog=0.5)
    assert _capture(ii, ff, q) == pytest.approx(expected / 2.0, rel=2e-3)
    ii, ff = _usage(il.GRATE, il.ON_GRADE, grate=0, gl=2.0, gw=2.0, number=2)
    assert expected < _capture(ii, ff, q) < 2.0 * expected


def test_a_curb_opening_on_grade_captures_what_hec22_says():
    q, length = 3.0, 5.0
    lt = 0.6 * q ** 0.42 * SL ** 0.3 * (1.0 / (N * SX)) ** 0.6  # 4-22a: the length for full capture
    expected = q * (1.0 - (1.0 - length / lt) ** 1.8)          # 4-23
    assert length < lt
    ii, ff = _usage(il.CURB, il.ON_GRADE, cl=length, ch=0.5)
    assert _capture(ii, ff, q) == pytest.approx(expected, rel=1e-9)


def test_a_curb_opening_on_sag_is_a_weir_then_an_orifice():
    length, h = 5.0, 0.5
    ii, ff = _usage(il.CURB, il.ON_SAG, cl=length, ch=h, throat=il.VERTICAL)
    assert _capture(ii, ff, 0.0, 0.3) == pytest.approx(3.0 * length * 0.3 ** 1.5)  # 4-30, d < h
    d = 1.0  # > 1.4 h: 4-31a, the vertical throat's head the depth at the lip
    assert _capture(ii, ff, 0.0, d) == pytest.approx(0.67 * h * length * (2.0 * 32.16 * d) ** 0.5)
    ii, ff = _usage(il.CURB, il.ON_SAG, cl=length, ch=h, throat=il.HORIZONTAL)
    assert _capture(ii, ff, 0.0, d) == pytest.approx(0.67 * h * length * (2.0 * 32.16 * (d - h / 2.0)) ** 0.5)


def test_the_importer_places_the_inlets_of_test_inlet_drains():
    net = parse_network(read_inp(DATA / "test_inlet_drains.inp"))
    usages = {u["pipe"]: u for u in net.options["inlets"]}
    assert sorted(usages) == ["Street1", "Street3", "Street4", "Street5"]
    # a GRATE and a CURB row of one name make a combination inlet
    assert {u["int"][il.I_TYPE] for u in usages.values()} == {il.COMBO}
    # AUTOMATIC: on grade where a street leaves the bypass node, on sag at the street's end
    assert [usages[s]["int"][il.I_PLACEMENT] for s in ("Street1", "Street3", "Street4", "Street5")] == \
        [il.ON_GRADE, il.ON_GRADE, il.ON_GRADE, il.ON_SAG]
    s1 = usages["Street1"]
    assert (s1["bypass"], s1["capture"], s1["int"][il.I_SIDES]) == ("Aux2", "J1", 2)
    # 50 % clogged, Qmax 2.2 cfs, the local depression 0.5 ft over 2 ft
    assert s1["float"][il.F_CLOG] == pytest.approx(0.5)
    assert s1["float"][il.F_QMAX] == pytest.approx(2.2)
    assert (s1["float"][il.F_A], s1["float"][il.F_W]) == pytest.approx((0.5, 2.0))
    assert usages["Street5"]["int"][il.I_NUMBER] == 2
    assert not any("inlet" in w for w in net.warnings)


def test_the_streets_of_test_inlet_drains_carry_swmm_s_peaks():
    """Street3 runs near critical flow (Froude number about 0.9-1 at mid depth) into the
    inlet of J2a; what it bypasses, with J2's overflow sent back, feeds Street4 and
    Street5. SWMM weights an open street's section towards its upstream end from Fr 0.5
    (dwflow.c, rho = sigma); the router's switch at Fr 1 alone made Street3 drop 12 % at
    constant heads as its Froude number fell through 1, and Street4 and Street5 peaked
    11 % and 30 % low, J2 flooding 0.9 against SWMM's 4.4 m3."""
    pytest.importorskip("pyswmm")
    from twin_drainage import run

    c = run.compare(DATA / "test_inlet_drains.inp")
    flows = {name: d for name, _, _, d in c.peak_flow.rows}
    for street in ("Street1", "Street2", "Street3", "Street4", "Street5"):
        assert abs(flows[street]) <= 0.05, (street, flows[street])
    assert c.twin.flooding_volume["J2"] == pytest.approx(c.swmm.flooding_volume["J2"], rel=0.2)
