"""`twin import swmm FILE.inp`: a SWMM 5 input file becomes a scene that `twin check`
accepts and the engine runs; errors name the line and the field."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib

import numpy as np
import pytest

from twin.tick.engine import Engine
from twin.plugins.registry import load_registry
from twin.tick.scene import load_scene

from twin_drainage import plugin, swmm

# A small branched network as an engineer would hand it over: metric units, offsets as
# depths, two subcatchments on one junction, a junction whose depth is left to its
# highest pipe (MaxDepth 0), a FIXED outfall under the river's stage, a storm at 5-minute
# intervals with a gap (no value from 0:20 to 0:30: no rain then, as in SWMM).
NETWORK_INP = """\
[TITLE]
Two streets draining to the river

[OPTIONS]
FLOW_UNITS           CMS
FLOW_ROUTING         DYNWAVE
LINK_OFFSETS         DEPTH
START_DATE           06/01/2024
START_TIME           00:00:00
END_DATE             06/01/2024
END_TIME             01:00:00
ROUTING_STEP         1
ALLOW_PONDING        YES
MIN_SURFAREA         1.2

[RAINGAGES]
;;Name  Format    Interval SCF Source
RG1     INTENSITY 0:05     1.0 TIMESERIES storm

[SUBCATCHMENTS]
;;Name Gage Outlet Area %Imperv Width %Slope CurbLen
S1     RG1  J1     1.2  80      200   1.0    0
S2     RG1  J2     0.8  50      150   1.0    0
S3     RG1  J2     0.4  100     80    1.0    0
S4     RG1  "J 3"  1.0  70      150   1.0    0

[JUNCTIONS]
;;Name Elevation MaxDepth InitDepth SurDepth Aponded
J1     20.0      2.5      0         0        300
J2     19.7      0        0         0        0
"J 3"  19.4      2.6      0         0        400

[OUTFALLS]
;;Name Elevation Type  Stage Gated
OUT1   18.9      FIXED 19.0  NO

[CONDUITS]
;;Name From  To    Length Roughness InOffset OutOffset InitFlow MaxFlow
C1     J1    J2    60     0.013     0        0.1      0        0
C2     J2    "J 3" 80     0.013     0        0        0        0
C3     "J 3" OUT1  50     0.014     0        0        0        0

[XSECTIONS]
;;Link Shape    Geom1 Geom2 Geom3 Geom4 Barrels
C1     CIRCULAR 0.5   0     0     0     1
C2     CIRCULAR 0.6   0     0     0     1
C3     CIRCULAR 0.8   0     0     0     1

[TIMESERIES]
;;Name Date       Time  Value
storm  06/01/2024 00:00 20
storm  06/01/2024 00:05 60
storm  06/01/2024 00:10 90
storm  06/01/2024 00:15 40
storm  06/01/2024 00:30 10

[COORDINATES]
;;Node X         Y
J1     500100.0  3520000.0
J2     500160.0  3520000.0
"J 3"  500240.0  3520000.0
OUT1   500290.0  3520000.0

[VERTICES]
C2     500200.0  3520010.0

[SYMBOLS]
RG1    500170.0  3520005.0

[SUBAREAS]
;;Subcatch N-Imperv N-Perv S-Imperv S-Perv PctZero RouteTo
S1        0.013    0.15   1.5      5      25      OUTLET
S2        0.013    0.15   1.5      5      25      OUTLET
S3        0.013    0.15   1.5      5      25      OUTLET
S4        0.013    0.15   1.5      5      25      PERVIOUS 40

[INFILTRATION]
;;Subcatch MaxRate MinRate Decay DryTime MaxInfil
S1        75      6.5     4     7       0
S2        75      6.5     4     7       0
S3        75      6.5     4     7       0
S4        75      6.5     4     7       0
"""


@pytest.fixture
def inp(tmp_path):
    path = tmp_path / "two_streets.inp"
    path.write_text(NETWORK_INP, encoding="utf-8")
    return path


def props(scene_dir):
    doc = json.loads((scene_dir / "data" / "drainage.geojson").read_text(encoding="utf-8"))
    return {f["properties"]["id"]: f for f in doc["features"]}


def test_import_writes_a_scene_that_loads_with_every_field(tmp_path, inp):
    counts = swmm.write_scene(inp, tmp_path / "scene")
    assert counts == {"manhole": 3, "outfall": 1, "pipe": 3, "regulator": 0, "subcatchment": 4, "sensor": 4, "rain interval": 5,
                      "warnings": []}
    registry = load_registry([plugin], entry_points=False)
    scene = load_scene(tmp_path / "scene", registry.domains)
    assert scene.counts() == {"drainage": {"manhole": 3, "outfall": 1, "pipe": 3}}

    f = props(tmp_path / "scene")
    j1, j2, j3 = f["J1"]["properties"], f["J2"]["properties"], f["J 3"]["properties"]
    assert (j1["invert_elevation"], j1["rim_elevation"], j1["ponding_area"], j1["shaft_area"]) == (20.0, 22.5, 300.0, 1.2)
    # the runoff is SWMM's hydrology (data/hydrology.json), not the rational method
    assert j1["catchment_area"] == 0.0
    # MaxDepth 0: as deep as the crown of its highest pipe (C1 arrives 0.1 m up, 0.5 m wide)
    assert j2["rim_elevation"] == pytest.approx(19.7 + 0.6)
    assert j2["ponding_area"] == 0.0  # Aponded 0: SWMM loses what floods there
    assert j3["rim_elevation"] == pytest.approx(22.0)
    assert f["OUT1"]["properties"]["tailwater_elevation"] == 19.0
    c1 = f["C1"]["properties"]
    assert (c1["links"], c1["diameter"], c1["length"], c1["outlet_offset"]) == (["J1", "J2"], 0.5, 60.0, 0.1)
    assert f["C3"]["properties"]["roughness"] == 0.014
    # map coordinates shifted near the origin; C2 bends at its vertex
    assert f["J1"]["geometry"]["coordinates"][:2] == [0.0, 0.0]
    assert [p[:2] for p in f["C2"]["geometry"]["coordinates"]] == [[60.0, 0.0], [100.0, 10.0], [140.0, 0.0]]

    hydro = json.loads((tmp_path / "scene" / "data" / "hydrology.json").read_text(encoding="utf-8"))
    assert hydro["source"]["offset"] == [500100.0, 3520000.0] and hydro["source"]["file"] == "two_streets.inp"
    assert (hydro["start"], hydro["duration"]) == ("2024-06-01T00:00:00", 3600.0)
    s2, s4 = hydro["subcatchments"][1], hydro["subcatchments"][3]
    assert (s2["outlet"], s2["area"], s2["frac_imperv"], s2["width"], s2["slope"]) == ("J2", 8000.0, 0.5, 150.0, 0.01)
    assert (s2["ds_imperv"], s2["ds_perv"], s2["frac_zero"]) == pytest.approx((0.0015, 0.005, 0.25))
    assert (s4["outlet"], s4["route_to"], s4["frac_routed"]) == ("J 3", "PERVIOUS", 0.4)
    assert s2["infiltration"] == "HORTON"
    assert s2["infiltration_params"][:3] == pytest.approx([75e-3 / 3600, 6.5e-3 / 3600, 4 / 3600])
    # the gauge's intervals, in mm/h; the gap 0:20-0:30 has none (no rain)
    gauge = hydro["gauges"][0]
    assert list(zip(gauge["start"], gauge["end"], gauge["rain"])) == [
        (0.0, 300.0, 20.0), (300.0, 600.0, 60.0), (600.0, 900.0, 90.0), (900.0, 1200.0, 40.0), (1800.0, 2100.0, 10.0)]

    # a level sensor per junction, the rain gauge at the junction nearest the SWMM gauge
    sensors = {(s.asset, s.field) for s in scene.sensors}
    assert sensors == {("J1", "depth"), ("J2", "depth"), ("J 3", "depth"), ("J2", "rain_intensity")}
    # the storm as incidents too (the rainstorm warnings read the gauge)
    rain = [(i.at, i.params["intensity"], i.params["duration"]) for i in scene.incidents]
    assert rain == [(0.0, 20.0, 300.0), (300.0, 60.0, 300.0), (600.0, 90.0, 300.0), (900.0, 40.0, 300.0),
                    (1800.0, 10.0, 300.0)]


def test_imported_network_routes_the_storm(tmp_path, inp):
    """The imported scene through a real engine: the rain of the .inp runs off the
    subcatchments (SWMM's hydrology), fills the network and leaves at the outfall;
    water is conserved."""
    swmm.write_scene(inp, tmp_path / "scene")
    registry = load_registry([plugin], entry_points=False)
    engine = Engine(load_scene(tmp_path / "scene", registry.domains), registry, simulate=True, seed=3)
    truth = engine.simulator.world.tables["drainage"]
    entered = 0.0
    peak_flow = 0.0
    for second in range(3600):
        engine.run(1.0)
        entered += truth["inflow"].sum()
        peak_flow = max(peak_flow, truth["flow"][truth.index["C3"]])
    hydro = engine.simulator.world.memo(("drainage", "hydrology", "drainage"), lambda: None)
    # what the subcatchments gave is what entered the manholes
    assert entered == pytest.approx(hydro.runoff_volume, rel=1e-9)
    # 18 mm of rain on 3.4 ha, a good part of the pervious area's infiltrated: runoff between
    # the impervious share (0.6 ha-weighted) and all of it
    rained = hydro.runoff.rain_volume
    assert rained == pytest.approx(3.4e4 * (20 + 60 + 90 + 40 + 10) / 12 / 1000, rel=1e-6)
    assert 0.3 * rained < hydro.runoff_volume < 0.9 * rained
    assert peak_flow > 0.2
    stored = truth["volume"].sum() + (truth["ponded_depth"] * truth["ponding_area"]).sum()
    lost = 0.0  # nothing floods in this storm
    assert truth["flooding"].max() == 0.0
    assert entered == pytest.approx(truth["discharged_volume"].sum() + stored + lost, rel=1e-9)
    # the twin follows through its level sensors
    twin_depth = engine.world.tables["drainage"]["depth"]
    assert np.all(np.isfinite(twin_depth))
    engine.close()


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("C2     CIRCULAR 0.6", "C2     BOX 0.6", ["line 46", "[XSECTIONS]", "'Shape'", "'BOX'"]),
    ("C1     J1    J2    60 ", "C1     J1    J9    60 ", ["line 39", "[CONDUITS]", "'ToNode'", "'J9'"]),
    ("J1     20.0      2.5", "J1     twenty    2.5", ["line 29", "[JUNCTIONS]", "'Elevation'", "'twenty'"]),
    ("S1     RG1  J1     1.2  80 ", "S1     RG1  J1     1.2  180", ["line 22", "'PctImperv'", "[0, 100]"]),
    ("OUT1   18.9      FIXED", "OUT1   18.9      LAKE", ["line 35", "'Type'", "FREE, NORMAL, FIXED"]),
    ("storm  06/01/2024 00:10 90", "storm  06/01/2024 00:10 ninety", ["line 53", "[TIMESERIES]", "'ninety'"]),
])
def test_errors_name_the_line_and_the_field(tmp_path, old, new, expected):
    assert old in NETWORK_INP
    path = tmp_path / "broken.inp"
    path.write_text(NETWORK_INP.replace(old, new), encoding="utf-8")
    with pytest.raises(swmm.InpError) as info:
        swmm.write_scene(path, tmp_path / "scene")
    message = str(info.value)
    assert str(path) in message
    for part in expected:
        assert part in message, message


def twin(*args, data):
    env = {**os.environ, "TWIN_DATA": str(data)}
    return subprocess.run([sys.executable, "-m", "twin.cli", *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
def test_twin_import_and_twin_check_on_the_command_line(tmp_path, inp):
    out = tmp_path / "imported"
    result = twin("import", "swmm", str(inp), "--out", str(out), data=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert "manhole 3, outfall 1, pipe 3" in result.stdout and f"twin check {out}" in result.stdout
    check = twin("check", str(out), data=tmp_path / "data")
    assert check.returncode == 0, check.stderr
    assert "manhole 3" in check.stdout and "incidents         5" in check.stdout

    unknown = twin("import", "epanet", str(inp), data=tmp_path / "data")
    assert unknown.returncode == 2
    assert "no importer for format 'epanet'" in unknown.stderr and "swmm (.inp, plugin drainage)" in unknown.stderr

    broken = tmp_path / "broken.inp"
    broken.write_text(NETWORK_INP.replace("C3     CIRCULAR", "C3     BOX"), encoding="utf-8")
    failed = twin("import", "swmm", str(broken), data=tmp_path / "data")
    assert failed.returncode == 2 and "line 47" in failed.stderr and "'Shape'" in failed.stderr
