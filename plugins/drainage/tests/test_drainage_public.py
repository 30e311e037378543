"""Public SWMM networks that nobody here wrote — every ``.inp`` the pyswmm 2.2 and swmmio
0.8.6 wheels ship (swmm-toolkit 0.17 ships none) — imported whole and run against
SWMM 5.2 itself (issue 16).

SWMM refuses some of them (REFUSED_BY_SWMM, with its own error); those are checked to be
refused by SWMM still, and skipped. Every other file imports without a hand edit, its
scene loads, and each element the twin leaves out is named in a warning (which
``strict`` turns into an error). The slow test runs each file in the twin and in SWMM
and holds the issue's tolerances; where a file has a feature the twin cannot match yet,
the test names it (NOT_YET, strict xfail: when the feature lands, the xfail fails and
the entry must go).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from twin.plugins.registry import load_registry
from twin.tick.scene import load_scene

from twin_drainage import inp, plugin, run, swmm

pyswmm = pytest.importorskip("pyswmm")

SWMMIO = Path(__file__).parent / "data" / "swmmio"
PYSWMM = Path(pyswmm.__file__).parent / "tests" / "data"
FILES = sorted(SWMMIO.glob("*.inp")) + sorted(PYSWMM.glob("*.inp"))

#: files SWMM 5.2.4 itself refuses, with its error (from their .rpt)
REFUSED_BY_SWMM = {
    "Example1.inp": "ERROR 209: undefined object TS1 at line 205 of [HYDROGRAPH] section",
    "invalid_model.inp": "ERROR 209: undefined object NonExistantnode1 at line 59 of [SUBCATCHMENT] section",
    "model-with-infiltration-parse-failure.inp": "ERROR 209: undefined object SCS_Type_II_2.95in_1yr (a rain gauge)",
    "model_blank.inp": "ERROR 205: invalid keyword at line 159",
    "model_blank_01.inp": "ERROR 191: simulation start date comes after ending date",
    "model_full_features_network.inp": "ERROR 209: undefined object C6 at line 94 of [DIVIDER] section",
    "model_mod_green_ampt.inp": "ERROR 235: invalid infiltration parameters at line 71 of [INFIL] section",
    "model_bad_input_1.inp": "ERROR 209: undefined object * at line 56 of [SUBCATCHMENT] section",
    "alt_test3.inp": "ERROR 115: adverse slope for Conduit outfall_pipe (SWMM aborts the process)",
}

#: the issue's tolerances
DEPTH_P95, DEPTH_MAX, FLOW_P95, VOLUME, FLOODING = 0.05, 0.15, 0.10, 0.02, 0.10
#: a flooding volume (m³) below which a file is taken not to flood
FLOODS = 1.0

#: what keeps a file outside the tolerances, by file: the feature the twin lacks or the
#: difference not yet explained (strict xfail: when it is fixed, the entry must go)
NOT_YET: dict[str, str] = {
}
#: files whose comparison with SWMM has not been run yet to set its expectation (their
#: import is tested above; docs/models.md lists them); the list must only shrink
NOT_COMPARED: set[str] = set()


def runnable() -> list[Path]:
    return [p for p in FILES if p.name not in REFUSED_BY_SWMM]


def label(path: Path) -> str:
    """``swmmio/NAME.inp`` or ``pyswmm/NAME.inp``: both wheels ship a model_full_features.inp."""
    return f"{'swmmio' if path.parent == SWMMIO else 'pyswmm'}/{path.name}"


def test_the_wheels_ship_the_files_named_here():
    names = {p.name for p in FILES}
    assert len(FILES) == 27 + 17
    assert set(REFUSED_BY_SWMM) <= names


@pytest.mark.parametrize("path", runnable(), ids=label)
def test_every_file_swmm_runs_imports_whole(tmp_path, path):
    """No hand edit: the file imports, the scene loads with every node and conduit, and
    the warnings are one line each naming what is left out."""
    counts = swmm.write_scene(path, tmp_path / "scene")
    net = inp.parse_network(inp.read_inp(path))
    registry = load_registry([plugin], entry_points=False)
    scene = load_scene(tmp_path / "scene", registry.domains)
    kinds = scene.counts()["drainage"]
    assert kinds.get("manhole", 0) == len(net.manholes) == counts["manhole"]
    assert kinds.get("outfall", 0) == len(net.outfalls)
    assert kinds.get("pipe", 0) == len(net.pipes)
    for warning in counts["warnings"]:
        assert "\n" not in warning and len(warning) < 400
    hydro = json.loads((tmp_path / "scene" / "data" / "hydrology.json").read_text(encoding="utf-8"))
    assert len(hydro["subcatchments"]) <= len(inp.read_inp(path).rows("SUBCATCHMENTS"))
    if counts["warnings"]:
        with pytest.raises(inp.InpError) as info:
            swmm.write_scene(path, tmp_path / "strict", strict=True)
        assert f"{len(counts['warnings'])} element(s)" in str(info.value)
        assert not (tmp_path / "strict").exists()


def test_no_coordinates_lays_the_network_out(tmp_path):
    text = (SWMMIO / "Example1_parallel_loop.inp").read_text(encoding="utf-8")
    head, rest = text.split("[COORDINATES]", 1)
    bare = tmp_path / "bare.inp"
    bare.write_text(head + rest[rest.index("\n["):], encoding="utf-8")
    counts = swmm.write_scene(bare, tmp_path / "scene")
    laid = [w for w in counts["warnings"] if "no [COORDINATES]" in w]
    assert len(laid) == 1 and "14 nodes are laid out automatically" in laid[0]
    doc = json.loads((tmp_path / "scene" / "data" / "drainage.geojson").read_text(encoding="utf-8"))
    points = {tuple(f["geometry"]["coordinates"][:2]) for f in doc["features"] if f["geometry"]["type"] == "Point"}
    assert len(points) == 14  # every node has a place of its own


def test_a_link_may_be_named_like_a_node(tmp_path):
    """Example 1's conduits are numbered like its junctions (conduit 10 runs from 10)."""
    swmm.write_scene(SWMMIO / "Example1_parallel_loop.inp", tmp_path / "scene")
    doc = json.loads((tmp_path / "scene" / "data" / "drainage.geojson").read_text(encoding="utf-8"))
    by_id = {f["properties"]["id"]: f["properties"] for f in doc["features"]}
    assert by_id["10"]["kind"] == "manhole"
    assert by_id["10 (link)"]["kind"] == "pipe" and by_id["10 (link)"]["swmm_name"] == "10"


def test_pumps_follow_their_curves_and_simple_controls(tmp_path):
    """Pump_Control_Model.inp: PUMP1 (a PUMP4 curve) is switched on at 4 ft in its wet
    well and off below 1 ft by two control rules, which become its startup and shutoff
    depths; nothing is left out."""
    counts = swmm.write_scene(SWMMIO / "Pump_Control_Model.inp", tmp_path / "scene")
    assert counts["warnings"] == [] and counts["regulator"] == 1
    pumps = json.loads((tmp_path / "scene" / "data" / "regulators.json").read_text(encoding="utf-8"))
    pump = pumps["PUMP1"]
    assert (pump["kind"], pump["subtype"]) == ("pump", 4)
    assert (pump["startup"], pump["shutoff"]) == pytest.approx((4 * 0.3048, 1 * 0.3048))
    assert pump["curve"][1] == pytest.approx((0.3048, 0.2 * 0.028316846592))


def test_elements_left_out_are_named_with_their_consequence(tmp_path):
    """A control rule the twin does not follow: named with its line and what follows
    (Example 6's ROADWAY weir, tabular storage curve and culvert are modelled,
    test_drainage_example6, and its trapezoidal channel and 2-barrel culvert have their
    own sections, test_drainage_dynwave_sections: it imports with no warning)."""
    text = (SWMMIO / "Pump_Control_Model.inp").read_text(encoding="utf-8")
    changed = tmp_path / "timed.inp"
    changed.write_text(text.replace("IF NODE SU1 DEPTH >= 4", "IF SIMULATION TIME > 4"), encoding="utf-8")
    warnings = swmm.write_scene(changed, tmp_path / "a")["warnings"]
    assert any(w.startswith("[CONTROLS] rule 'PUMP1A' (line 176) not applied") for w in warnings), warnings
    warnings = swmm.write_scene(SWMMIO / "Example6.inp", tmp_path / "b")["warnings"]
    assert warnings == []


def test_a_storage_unit_seeps_under_the_kinematic_wave(tmp_path):
    """model_green_ampt.inp: storage P005 seeps into the soil (suction 1 in, Ksat
    100 in/h, IMDmax 0.12) through its 1000 ft²; the twin drains it by modified
    Green-Ampt (the agreement test below holds it to SWMM: without it the outfall
    received 36 % more)."""
    counts = swmm.write_scene(SWMMIO / "model_green_ampt.inp", tmp_path / "scene")
    assert not [w for w in counts["warnings"] if "seep" in w], counts["warnings"]
    source = json.loads((tmp_path / "scene" / "data" / "hydrology.json").read_text(encoding="utf-8"))["source"]
    seep = source["seepage"]["P005"]
    assert seep["area"] == pytest.approx(1000 * 0.3048**2)
    assert seep["params"][:3] == pytest.approx([0.0254, 100 * 0.0254 / 3600, 0.12])


def test_the_momentum_options_reach_the_scene(tmp_path):
    """INERTIAL_DAMPING NONE (SWMM's convective terms, which the router now keeps) and
    SURCHARGE_METHOD go into the scene's data/hydrology.json, for the router
    (model.inertial_damping); a file without them gets SWMM's defaults; a value SWMM
    does not know is refused with the valid ones."""
    def source(path: Path, scene: str) -> dict:
        warnings = swmm.write_scene(path, tmp_path / scene)["warnings"]
        assert not [w for w in warnings if "INERTIAL_DAMPING" in w or "SURCHARGE" in w], warnings
        return json.loads((tmp_path / scene / "data" / "hydrology.json").read_text(encoding="utf-8"))["source"]

    assert source(PYSWMM / "model_delayed_report.inp", "a")["inertial_damping"] == "NONE"
    assert (source(SWMMIO / "Pump_Control_Model.inp", "b")["inertial_damping"], source(
        SWMMIO / "Pump_Control_Model.inp", "c")["surcharge_method"]) == ("PARTIAL", "EXTRAN")
    text = (SWMMIO / "Pump_Control_Model.inp").read_text(encoding="utf-8")
    bad = tmp_path / "bad.inp"
    bad.write_text(text.replace("INERTIAL_DAMPING     PARTIAL", "INERTIAL_DAMPING     SOME"), encoding="utf-8")
    with pytest.raises(inp.InpError, match=r"INERTIAL_DAMPING 'SOME'; valid: NONE, PARTIAL, FULL"):
        swmm.write_scene(bad, tmp_path / "d")


def test_subcatchments_drain_to_outfalls_and_to_each_other(tmp_path):
    swmm.write_scene(PYSWMM / "model_subcatch_stats.inp", tmp_path / "scene")
    hydro = json.loads((tmp_path / "scene" / "data" / "hydrology.json").read_text(encoding="utf-8"))
    kinds = {s["name"]: (s["outlet"], s["outlet_kind"]) for s in hydro["subcatchments"]}
    assert kinds == {"S1": ("S2", "subcatchment"), "S2": ("1", "outfall")}


def test_the_statistics_start_at_the_report_start():
    """model_delayed_report.inp is model_weir_setting.inp started 2 h before its report
    start: SWMM keeps no statistics before it (stats.c stats_updateFlowStats), so J1's
    EXTRAN leap to its rim 41 s into the run is not among its peaks, and run_twin's
    peaks start there too (test_agrees_with_swmm: J1 2.79 m above SWMM's peak once the
    router's steps were read within ticks, before the peaks started there)."""
    delayed = inp.parse_network(inp.read_inp(PYSWMM / "model_delayed_report.inp")).options
    assert delayed["report_start"] == 7200.0
    assert inp.parse_network(inp.read_inp(PYSWMM / "model_weir_setting.inp")).options["report_start"] == 0.0


def test_map_units_give_metres(tmp_path):
    """model_state_plane.inp: state-plane coordinates in feet ([MAP] Units Feet)."""
    path = SWMMIO / "model_state_plane.inp"
    net = inp.parse_network(inp.read_inp(path))
    raw = {r.tokens[0]: (float(r.tokens[1]), float(r.tokens[2])) for r in inp.read_inp(path).rows("COORDINATES")}
    a, b = list(raw)[:2]
    feet = math.dist(raw[a], raw[b])
    assert math.dist(net.xy[a], net.xy[b]) == pytest.approx(feet * 0.3048, rel=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REFUSED_BY_SWMM))
def test_the_files_left_out_are_those_swmm_refuses(tmp_path, name):
    """The comparison leaves out only what SWMM itself will not run (one process per
    file: SWMM aborts its process on alt_test3.inp)."""
    path = next(p for p in FILES if p.name == name)
    copy = tmp_path / name  # SWMM writes its report beside the file
    copy.write_bytes(path.read_bytes())
    script = ("import sys\nfrom pyswmm import Simulation\n"
              "with Simulation(sys.argv[1]) as sim:\n    sim.execute()\n")
    result = subprocess.run([sys.executable, "-c", script, str(copy)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    report = copy.with_suffix(".rpt").read_text(encoding="utf-8", errors="replace")
    assert REFUSED_BY_SWMM[name].split(":")[0] in report


def test_every_file_swmm_runs_is_compared_or_listed():
    names = {label(p) for p in runnable()}
    assert NOT_COMPARED <= names and set(NOT_YET) <= names and not NOT_COMPARED & set(NOT_YET)


def _params() -> list:
    out = []
    for path in runnable():
        if label(path) in NOT_COMPARED:
            continue
        marks = [pytest.mark.slow]
        reason = NOT_YET.get(label(path))
        if reason:
            marks.append(pytest.mark.xfail(reason=reason, strict=True))
        out.append(pytest.param(path, marks=marks, id=label(path)))
    return out


@pytest.mark.parametrize("path", _params())
def test_agrees_with_swmm(path):
    """The issue's tolerances against SWMM 5.2 on the same file, run at the file's own
    routing step: peak depth p95 <= 0.05 m and max <= 0.15 m over the nodes, peak flow
    p95 <= 10 % over the links carrying flow, runoff and outfall volumes within 2 %,
    flooding volume within 10 % where SWMM floods. The outfall volume is within 2 % of
    SWMM's, or of SWMM's less the water its own routing made or lost (its flow routing
    continuity error, run.Comparison.outfall_volume_net): SWMM lets out 2.7 % more than
    comes into test_inlet_drains.inp."""
    c = run.compare(path)
    depth, flow = c.peak_depth.stats(), c.peak_flow.stats()
    problems = []
    if depth["p95"] > DEPTH_P95 or depth["max"] > DEPTH_MAX:
        problems.append(f"peak depth p95 {depth['p95']:.3f} m, max {depth['max']:.3f} m ({c.peak_depth.worst()})")
    if flow["p95"] > FLOW_P95:
        problems.append(f"peak flow p95 {100 * flow['p95']:.1f} % ({c.peak_flow.worst()})")
    if c.swmm.runoff_volume > 0.0 and abs(c.runoff_volume) > VOLUME:
        problems.append(f"runoff volume {100 * c.runoff_volume:+.2f} %")
    if sum(c.swmm.outfall_volume.values()) > 0.0 and abs(c.outfall_volume) > VOLUME \
            and not abs(c.outfall_volume_net) <= VOLUME:
        problems.append(f"outfall volume {100 * c.outfall_volume:+.2f} % ({100 * c.outfall_volume_net:+.2f} % against "
                        f"SWMM's less its continuity error)")
    if sum(c.swmm.flooding_volume.values()) > FLOODS and not abs(c.flooding_volume) <= FLOODING:
        problems.append(f"flooding volume {100 * c.flooding_volume:+.1f} %")
    assert not problems, "; ".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pyswmm/model_weir_setting.inp", "pyswmm/model_weir_setting_a.inp"])
def test_at_the_file_s_own_step_the_twin_follows_swmm_s_extran_leap(name):
    """J1 of the weir files: 9 cfs switched on at 0 s into its 1-ft outlet take it past
    its crown at 41 s, and SWMM's EXTRAN surcharge (dynwave.c setNodeDepth: no storage
    above the crown, the head moved by dQ/ΣdQ/dH) leaps it to its 4.572 m rim in one
    1-s step, from where it pushes water back up C1 into J5 while its trials' relaxed
    flows (dwflow.c, OMEGA) hold it high. The router follows EXTRAN with SWMM's relaxed
    trials at the file's 1 s step (model.router_step), and at 1 s ticks its J1 leaps to
    the rim too, every depth agrees and C1's backflow is SWMM's within 10 % (it was
    half: 0.0073 against 0.0139 m3/s, with 0.5 s sub-steps and the heads solved to
    convergence; test_agrees_with_swmm holds the default 10 s tick)."""
    path = next(p for p in FILES if label(p) == name)
    c = run.compare(path, dt=1.0)
    assert c.swmm.peak_depth["J1"] == pytest.approx(15.0 * inp.FOOT, abs=1e-3)  # the rim
    assert c.twin.peak_depth["J1"] == pytest.approx(c.swmm.peak_depth["J1"], abs=0.01)
    d = c.peak_depth.stats()
    assert d["p95"] <= DEPTH_P95 and d["max"] <= DEPTH_MAX, c.peak_depth.rows
    assert abs(c.swmm.peak_flow["C1"]) == pytest.approx(0.0139, abs=1e-4)  # J1 into J5: against C1's direction
    assert abs(c.twin.peak_flow["C1"]) == pytest.approx(abs(c.swmm.peak_flow["C1"]), rel=0.10)


@pytest.fixture(scope="module")
def inlet_drains() -> run.Comparison:
    return run.compare(next(p for p in FILES if p.name == "test_inlet_drains.inp"))


@pytest.mark.slow
def test_a_surcharged_head_is_corrected_over_swmm_s_own_step(inlet_drains):
    """test_inlet_drains.inp's J2a surcharges as Street3's inlet fills it, and SWMM's
    EXTRAN correction (dQ / ΣdQ/dh, dQ/dh = g·A·Δt/L) taken at SWMM's 15 s step leaps it
    to 1.040 m, 0.18 m below its rim, for one step. Taken over the router's shorter
    sub-step the same correction leapt it to the 1.219 m rim; over SWMM's step
    (model.route's routing_step) it stops within 0.05 m of SWMM's."""
    c = inlet_drains
    assert c.swmm.peak_depth["J2a"] == pytest.approx(1.040, abs=0.001)
    assert c.twin.peak_depth["J2a"] == pytest.approx(c.swmm.peak_depth["J2a"], abs=DEPTH_P95)


@pytest.mark.slow
def test_the_outfall_volume_is_compared_net_of_swmm_s_continuity_error(inlet_drains):
    """SWMM lets out 2.7 % more water than comes into test_inlet_drains.inp: its report's
    flow routing continuity error is -2.674 %, 42.4 m³ made at J11 while it stands
    above the crowns of P8 and P3. The twin's outfall volume is 2.6 % below SWMM's, and
    within 0.1 % of SWMM's less the water SWMM made: the twin's outfall lets out its
    runoff (1585.4 of 1585.6 m³)."""
    c = inlet_drains
    assert c.swmm.routing_error == pytest.approx(-2.674, abs=0.001)
    assert c.swmm.routing_imbalance == pytest.approx(42.4, abs=0.1)  # m³ made
    assert c.outfall_volume < -VOLUME
    assert abs(c.outfall_volume_net) <= 0.001
    assert sum(c.twin.outfall_volume.values()) == pytest.approx(c.twin.runoff_volume, rel=0.001)
    assert "continuity error -2.674 % (42.4 m3 made); outfall volume against SWMM's less that -0.0" in run.table(c)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["test_inlet_drains.inp", "outfalls_issue.inp", "alt_test1.inp"])
def test_swmm_s_continuity_error_is_read_in_the_file_s_units(tmp_path, name):
    """SWMM's flow routing totals, rebuilt from pyswmm's as massbal.c sums them, give back
    the continuity error of SWMM's report, in a US file and in an SI one (pyswmm gives
    the storages in ft³ whatever the file's units: outfalls_issue.inp, CMS, came out
    -341 % for SWMM's -7.9 % when they were taken in the file's)."""
    path = next(p for p in FILES if p.name == name)
    peaks = run.run_swmm(path)
    assert peaks.routing_inflow > 0.0
    assert -100.0 * peaks.routing_imbalance / peaks.routing_inflow == pytest.approx(peaks.routing_error, abs=0.01)
