"""Outfalls whose stage varies — SWMM's TIMESERIES and TIDAL outfalls — follow it
(forcing.outfall_stage, model.OutfallStages), and flap gates (on outfalls, and on
conduits in [LOSSES], with their entry, exit and average losses: model.link_losses)
keep a river out, checked against SWMM 5.2 on swmmio's outfalls_issue.inp and on
variants of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from twin_drainage import run, swmm
from twin_drainage.forcing import outfall_stage

pytest.importorskip("pyswmm")

SOURCE = Path(__file__).parent / "data" / "swmmio" / "outfalls_issue.inp"


def test_a_timeseries_stage_is_read_and_held_beyond_its_ends(tmp_path):
    counts = swmm.write_scene(SOURCE, tmp_path / "scene")
    assert not [w for w in counts["warnings"] if "stage" in w], counts["warnings"]
    source = json.loads((tmp_path / "scene" / "data" / "hydrology.json").read_text(encoding="utf-8"))["source"]
    stage = source["outfall_stages"]["StagedOutfall"]
    assert stage == {"kind": "TIMESERIES", "t": [0.0, 3600.0, 7200.0], "z": [0.1, 0.5, 0.9]}
    assert [outfall_stage(stage, t) for t in (-10.0, 1800.0, 5400.0, 9000.0)] == pytest.approx([0.1, 0.3, 0.7, 0.9])
    doc = json.loads((tmp_path / "scene" / "data" / "drainage.geojson").read_text(encoding="utf-8"))
    tail = {f["properties"]["id"]: f["properties"].get("tailwater_elevation") for f in doc["features"]}
    assert tail["StagedOutfall"] == 0.1 and tail["FreeOutfall"] is None


def test_a_tidal_curve_runs_on_the_hours_since_the_start():
    stage = {"kind": "TIDAL", "x": [0.0, 6.0, 12.0, 18.0, 24.0], "z": [1.0, 2.0, 1.0, 0.0, 1.0]}
    assert outfall_stage(stage, 3 * 3600.0) == pytest.approx(1.5)
    assert outfall_stage(stage, 27 * 3600.0) == pytest.approx(1.5)  # the next day
    assert outfall_stage(stage, 15 * 3600.0) == pytest.approx(0.5)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["TIMESERIES", "TIDAL"])
def test_the_staged_outfall_agrees_with_swmm(tmp_path, kind):
    """The staged outfall's peak depth and the conduit feeding it against SWMM 5.2: with
    the stage ignored (a free outfall, as before) the outfall's peak depth was 0.66 m
    below SWMM's. TIDAL: the stage rises from 0.1 m to 0.9 m in 1.5 h, above the conduit's
    crown (1 m) at no time, then falls."""
    text = SOURCE.read_text(encoding="utf-8")
    if kind == "TIDAL":
        text = text.replace("TIMESERIES OutfallStage", "TIDAL      Tide       ")
        text = text.replace("[REPORT]", "[CURVES]\nTide  Tidal  0 0.1\nTide  1.5 0.9\nTide  24 0.1\n\n[REPORT]")
    path = tmp_path / f"{kind.lower()}.inp"
    path.write_text(text, encoding="utf-8")
    c = run.compare(path)
    assert c.twin.peak_depth["StagedOutfall"] == pytest.approx(c.swmm.peak_depth["StagedOutfall"], abs=0.01)
    assert c.twin.peak_depth["StagedOutfall"] > 0.5
    assert c.peak_depth.stats()["max"] <= 0.05
    assert c.peak_flow.stats()["max"] <= 0.02
    assert abs(c.outfall_volume) <= 0.01


def _backwater(tmp_path: Path, kind: str) -> Path:
    """outfalls_issue.inp with the staged outfall rising to 3 m, above junction 3's 1 m
    conduit: the river floods back into the network unless a flap gate stops it (on the
    outfall, or on the conduit in [LOSSES], with entry/exit/average losses on both)."""
    text = SOURCE.read_text(encoding="utf-8").replace("OutfallStage     01/01/2020 02:00      0.9",
                                                      "OutfallStage     01/01/2020 02:00      3.0")
    if kind == "outfall flap":
        text = text.replace("TIMESERIES OutfallStage     NO", "TIMESERIES OutfallStage     YES")
    elif kind == "conduit flap":
        text = text.replace("[INFLOWS]", "[LOSSES]\n2  0.5  1.0  0.1  YES\n3  0.5  1.0  0.1  NO\n\n[INFLOWS]")
    path = tmp_path / f"{kind.replace(' ', '_')}.inp"
    path.write_text(text, encoding="utf-8")
    return path


def test_flap_gates_and_losses_are_imported(tmp_path):
    for kind, gates, losses in (("outfall flap", ["2"], {}),
                                ("conduit flap", ["2"], {"2": [0.5, 1.0, 0.1], "3 (link)": [0.5, 1.0, 0.1]})):
        counts = swmm.write_scene(_backwater(tmp_path, kind), tmp_path / kind)
        assert counts["warnings"] == []
        source = json.loads((tmp_path / kind / "data" / "hydrology.json").read_text(encoding="utf-8"))["source"]
        assert (source["flap_gates"], source["losses"]) == (gates, losses)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["no gate", "outfall flap", "conduit flap"])
def test_flap_gates_agree_with_swmm(tmp_path, kind):
    """Against SWMM 5.2: without a gate the river runs back up conduit 2 (1.5 m³/s) and
    floods junction 3; a flap gate on the outfall or on the conduit keeps it out."""
    c = run.compare(_backwater(tmp_path, kind))
    back = c.twin.peak_flow["2"]
    if kind == "no gate":
        assert back < -1.0
    else:
        assert back > 0.0
        assert abs(c.outfall_volume) <= 0.01
    assert c.peak_depth.stats()["max"] <= 0.02
    assert c.peak_flow.stats()["max"] <= 0.01
    assert abs(c.flooding_volume) <= 0.02
