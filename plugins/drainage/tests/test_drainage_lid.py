"""LID controls (issue 16, SWMM 5.2's lid.c and lidproc.c): a subcatchment's
permeable pavement, green roof, bio-retention cell, rain garden, infiltration trench,
rain barrel, rooftop disconnection or vegetative swale, checked against closed forms and
against SWMM itself on small files that hold one LID each."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin_drainage import forcing, hydrology, inp, lid

#: one subcatchment S1 (2 acres, 60 % impervious, Horton) draining to an outfall, with
#: the LID of {controls} placed by {usage}, under {rain}; C1 an underdrain control curve
TEMPLATE = """[OPTIONS]
FLOW_UNITS CFS
INFILTRATION HORTON
FLOW_ROUTING KINWAVE
START_DATE 01/01/2020
START_TIME 00:00:00
END_DATE 01/{end_day}/2020
END_TIME 00:00:00
WET_STEP 00:05:00
DRY_STEP 01:00:00
ROUTING_STEP 0:01:00
REPORT_STEP 00:05:00
[RAINGAGES]
RG1 INTENSITY 1:00 1.0 TIMESERIES TS1
[SUBCATCHMENTS]
S1 RG1 O1 {area} {imperv} 300 1.0 0
[SUBAREAS]
S1 0.015 0.1 0.05 0.1 25 OUTLET
[INFILTRATION]
{infiltration}
[LID_CONTROLS]
{controls}
[LID_USAGE]
{usage}
[OUTFALLS]
O1 90 FREE NO
[CURVES]
C1 Control 0 0.2
C1 2 0.5
C1 6 1.5
C1 12 1.0
[TIMESERIES]
{rain}
[COORDINATES]
O1 0 0
"""
#: a storm of five hours and a shower the next day (in/h from each hour)
STORM = [(0, 0.2), (1, 0.6), (2, 1.5), (3, 0.8), (4, 0.3), (5, 0.0), (20, 0.4), (22, 0.0)]
CFS, FT3 = 0.028316846592, 0.3048**3


def _write(path: Path, controls: str, usage: str, rain=STORM, area: float = 2.0, imperv: float = 60.0,
           end_day: int = 3, infiltration: str = "S1 3.0 0.5 4 7 0") -> Path:
    series = "\n".join(f"TS1 {h}:00 {v}" for h, v in rain)
    path.write_text(TEMPLATE.format(controls=controls, usage=usage, rain=series, area=area, imperv=imperv,
                                    end_day=end_day, infiltration=infiltration), encoding="utf-8")
    return path


def _run(path: Path, record: float = 60.0):
    """The twin's runoff of the file's subcatchments: total volume (m³, surface and
    underdrain) and peak flow (m³/s) at each ``record`` s, and the runoff model."""
    net = inp.parse_network(inp.read_inp(path))
    spec = net.hydrology
    gauges = forcing.Forcing.from_spec(spec).gauges
    catchments = hydrology.Catchments.from_spec(spec["subcatchments"], [g.name for g in gauges])
    lids = lid.Lids.from_spec(spec["lids"], spec["subcatchments"], spec["dry_days"])
    runoff = hydrology.Runoff(catchments, gauges, spec["wet_step"], spec["dry_step"], spec["duration"], lids)
    volume = peak = t = 0.0
    while t < spec["duration"]:
        runoff.advance(t + record)
        q = float(runoff.outflow(t).sum() + runoff.drain_outflow(t).sum())
        volume += q * record
        peak = max(peak, q)
        t += record
    return volume, peak, runoff


def test_permeable_pavement_drains_at_swmms_underdrain_equation(tmp_path):
    """A permeable pavement filling its subcatchment, under 0.5 in/h for two days on a
    sealed storage layer: the water stands where SWMM's underdrain equation
    q = C·(h - Hd)^n carries the rain, h = Hd + (i/C)^(1/n) = 2 + (0.5/0.5)^2 = 3 in
    (getStorageDrainRate), and the unit's water balance closes: rain = stored +
    drained + surface outflow."""
    path = _write(tmp_path / "pp.inp", "P PP\nP SURFACE 6 0.0 0.013 1.0 5\nP PAVEMENT 6 0.15 0 100 0\n"
                                       "P STORAGE 12 0.75 0 0\nP DRAIN 0.5 0.5 2 0",
                  "S1 P 1 87120 300 0 0 0 * * 0", rain=[(h, 0.5) for h in range(48)],
                  end_day=3)
    volume, peak, runoff = _run(path)
    state = runoff.lid_state[0]
    head_in = 2.0 + (0.5 / 0.5) ** (1.0 / 0.5)
    assert state[lid.STOR] / 0.0254 == pytest.approx(head_in, rel=1e-3)
    area = 87120 * 0.3048**2
    rain = 0.5 * 0.0254 / 3600.0
    assert state[lid.S_NEW_DRAIN] == pytest.approx(rain * area, rel=1e-3)
    stored = lid.stored_depth(runoff.lids.params[0], state)
    balance = state[lid.S_WB_DRAIN] + state[lid.S_WB_SURFACE] + state[lid.S_WB_INFIL] + stored
    assert balance == pytest.approx(state[lid.S_WB_INFLOW], rel=1e-3)
    assert state[lid.S_WB_INFLOW] == pytest.approx(rain * 48 * 3600.0, rel=1e-6)
    assert volume == pytest.approx(state[lid.S_WB_DRAIN] * area, rel=1e-2)  # all of it leaves by the drain


#: one LID of each type SWMM models by layers, each in S1 (US units: in, in/h, ft²)
CASES = {
    "PP with soil, clogging, drain levels": ("P PP\nP SURFACE 6 0.0 0.013 1.0 5\nP PAVEMENT 6 0.15 0.2 20 50\n"
                                             "P SOIL 12 0.5 0.2 0.1 5 10 3.5\nP STORAGE 12 0.75 0.1 0.5\n"
                                             "P DRAIN 0.5 0.5 2 0 4 1", "S1 P 2 10000 100 0 100 0 * * 30"),
    "PP with an underdrain control curve": ("P PP\nP SURFACE 6 0.0 0.013 1.0 5\nP PAVEMENT 6 0.15 0 100 0\n"
                                            "P STORAGE 12 0.75 0.1 0\nP DRAIN 0.5 0.5 2 0 0 0 C1",
                                            "S1 P 1 20000 100 0 100 0 * * 0"),
    "PP returning to the pervious area": ("P PP\nP SURFACE 6 0.0 0.013 1.0 5\nP PAVEMENT 6 0.15 0 100 0\n"
                                          "P STORAGE 12 0.75 0.1 0\nP DRAIN 0.5 0.5 2 0",
                                          "S1 P 1 20000 100 0 100 1 * * 0"),
    "GR": ("G GR\nG SURFACE 3 0.1 0.1 1.0 5\nG SOIL 6 0.5 0.2 0.1 2 10 3.5\nG DRAINMAT 2 0.5 0.1",
           "S1 G 1 20000 100 0 80 0 * * 0"),
    "BC": ("B BC\nB SURFACE 6 0.1 0.1 1.0 5\nB SOIL 18 0.5 0.2 0.1 1 10 3.5\nB STORAGE 12 0.75 0.2 0\n"
           "B DRAIN 0.5 0.5 3 0", "S1 B 1 10000 50 0 100 0 * * 50"),
    "RG": ("R RG\nR SURFACE 6 0.1 0.1 1.0 5\nR SOIL 18 0.5 0.2 0.1 1 10 3.5", "S1 R 1 10000 50 0 100 0 * * 0"),
    "IT": ("I IT\nI SURFACE 6 0.0 0.1 1.0 5\nI STORAGE 24 0.75 0.3 0\nI DRAIN 0.5 0.5 6 0",
           "S1 I 1 5000 50 0 100 0 * * 0"),
    "RB": ("B RB\nB STORAGE 36 0.75 0 0\nB DRAIN 0.2 0.5 0 6", "S1 B 200 30 0 0 100 0 * * 0"),
    "RD": ("D RD\nD SURFACE 1 0.0 0.015 1.0 5\nD DRAIN 0.5 0 0 0", "S1 D 1 20000 100 0 50 1 * * 0"),
    "VS": ("V VS\nV SURFACE 6 0.1 0.2 0.5 3", "S1 V 2 10000 20 0 100 0 * * 40"),
    "VS on Green-Ampt soil": ("V VS\nV SURFACE 6 0.1 0.2 0.5 3", "S1 V 2 10000 20 0 100 0 * * 40",
                              "S1 3.0 0.5 0.25 GREEN_AMPT"),
    "VS filling its subcatchment": ("V VS\nV SURFACE 6 0.1 0.2 0.5 3", "S1 V 1 87120 300 0 100 0 * * 40",
                                    "S1 3.0 0.5 0.25 MODIFIED_GREEN_AMPT"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_lid_type_agrees_with_swmm(tmp_path, case):
    """SWMM 5.2 (pyswmm) on the same small file is the reference: the subcatchment's
    runoff volume within 0.5 % and its peak (surface and underdrain) within 1 %, where
    the LID changes them by more than either (so the test cannot pass with the LID
    ignored)."""
    pyswmm = pytest.importorskip("pyswmm")
    controls, usage, *infiltration = CASES[case]
    path = _write(tmp_path / "case.inp", controls, usage,
                  infiltration=infiltration[0] if infiltration else "S1 3.0 0.5 4 7 0")
    tokens = usage.split()
    bare = path.with_name("bare.inp")  # no unit placed
    bare.write_text(path.read_text(encoding="utf-8").replace(usage, " ".join(tokens[:2] + ["0"] + tokens[3:])),
                    encoding="utf-8")
    volume, peak, _ = _run(path)
    bare_volume, bare_peak, _ = _run(bare)
    with pyswmm.Simulation(str(path)) as sim:
        sim.execute()
    with pyswmm.Simulation(str(path)) as sim:
        for _ in sim:
            pass
        stats = pyswmm.Subcatchments(sim)["S1"].statistics
    swmm_volume, swmm_peak = stats["runoff"] * FT3, stats["peak_runoff_rate"] * CFS
    assert volume == pytest.approx(swmm_volume, rel=0.005)
    assert peak == pytest.approx(swmm_peak, rel=0.01)
    assert abs(bare_volume / swmm_volume - 1.0) > 0.005 or abs(bare_peak / swmm_peak - 1.0) > 0.01


@pytest.mark.parametrize("controls, usage, expected", [
    ("P PP\nP SURFACE 6 0.0 0.013 1.0 5", "S1 P 1 1000 10 0 50 0",
     r"'P' \(PP\) has no PAVEMENT layer of positive thickness"),
    ("G GR\nG SOIL 6 0.5 0.2 0.1 2 10 3.5\nG DRAINMAT 2 0.5 0.1", "S1 G 10 10000 10 0 50 0",
     r"the LIDs of subcatchment 'S1' cover 9290.3 m², more than its 8093.7 m²"),
    ("G GR\nG SOIL 6 0.5 0.2 0.1 2 10 3.5\nG DRAINMAT 2 0.5 0.1", "S1 X 1 1000 10 0 50 0",
     r"field 'LID' = 'X' is not an LID of \[LID_CONTROLS\]"),
])
def test_lid_errors_name_the_line(tmp_path, controls, usage, expected):
    path = _write(tmp_path / "bad.inp", controls, usage)
    with pytest.raises(inp.InpError, match=expected):
        inp.parse_network(inp.read_inp(path))


def test_lids_take_their_area_from_the_subcatchment(tmp_path):
    """The subareas' overland flow runs on the non-LID area (subcatch_validate): a
    subcatchment half covered by a sealed rain barrel bank that receives nothing yields
    half the runoff of the uncovered one."""
    bare = _write(tmp_path / "bare.inp", "B RB\nB STORAGE 36 0.75 0 0", "S1 B 0 1000 0 0 0 0", imperv=100.0)
    half = _write(tmp_path / "half.inp", "B RB\nB STORAGE 1000 0.75 0 0", "S1 B 1 43560 0 0 0 0", imperv=100.0)
    v_bare, _, _ = _run(bare)
    v_half, _, runoff = _run(half)
    assert runoff.lid_area[0] == pytest.approx(43560 * 0.3048**2)
    assert v_half == pytest.approx(v_bare / 2.0, rel=0.02)


def test_an_underdrain_reaches_its_drainto_node_through_the_network(tmp_path):
    """DrainTo names another outfall than the subcatchment's (lid_addDrainInflow): run
    through the imported scene, O1 receives the surface runoff and O2 the underdrain
    flow, each within 0.5 % of what SWMM's outfalls receive."""
    pyswmm = pytest.importorskip("pyswmm")
    from twin_drainage import run

    path = _write(tmp_path / "drainto.inp", "P PP\nP SURFACE 6 0.0 0.013 1.0 5\nP PAVEMENT 6 0.15 0 100 0\n"
                                            "P STORAGE 12 0.75 0 0\nP DRAIN 0.5 0.5 2 0",
                  "S1 P 1 20000 100 0 100 0 * O2 0", end_day=2)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("O1 90 FREE NO", "O1 90 FREE NO\nO2 90 FREE NO").replace("O1 0 0", "O1 0 0\nO2 10 10"),
                    encoding="utf-8")
    twin = run.run_twin(path).outfall_volume
    with pyswmm.Simulation(str(path)) as sim:
        for _ in sim:
            pass
        swmm = {n.nodeid: n.cumulative_inflow * FT3 for n in pyswmm.Nodes(sim)}
    assert swmm["O2"] > swmm["O1"] > 0.0  # the pavement's drain carries most of it
    assert twin["O1"] == pytest.approx(swmm["O1"], rel=0.005)
    assert twin["O2"] == pytest.approx(swmm["O2"], rel=0.005)
