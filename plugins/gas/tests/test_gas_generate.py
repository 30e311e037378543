"""The gas network the generator places in a synthetic city."""

from __future__ import annotations

import json
import math
import re

from twin.authoring.citygen import plan_city

from twin_gas.generate import demo_incident, generate
from twin_gas.model import ATMOSPHERIC, SPACE_KINDS


def city(seed: int = 7, preset: str = "synthetic"):
    plan = plan_city(seed, 6, 5, preset=preset, buildings=False)
    generate(plan)
    return plan


def test_same_seed_same_network():
    a, b = city(), city()
    assert json.dumps(a.assets, ensure_ascii=False) == json.dumps(b.assets, ensure_ascii=False)
    assert a.sensors == b.sensors
    assert json.dumps(city(8).assets) != json.dumps(a.assets)


def test_ids_owners_and_links():
    plan = city()
    features = plan.assets["gas"]
    prefixes = {"main": "G-M", "valve": "G-V", "manhole": "G-MH", "valve_well": "G-VW", "cable_vault": "G-CV",
                "sewer_segment": "G-SW"}
    mains = {f["properties"]["id"] for f in features if f["properties"]["kind"] == "main"}
    valves_per_main: dict[str, int] = {}
    for f in features:
        p = f["properties"]
        assert re.fullmatch(rf"{prefixes[p['kind']]}-\d{{4,}}", p["id"]), p["id"]
        assert re.search(r"[\u4e00-\u9fff]", p["owner"]), p["owner"]
        if p["kind"] != "main":
            assert len(p["links"]) == 1 and p["links"][0] in mains
        if p["kind"] == "valve":
            valves_per_main[p["links"][0]] = valves_per_main.get(p["links"][0], 0) + 1
    assert set(valves_per_main) == mains and set(valves_per_main.values()) == {1}
    kinds = {f["properties"]["kind"] for f in features}
    assert kinds == {"main", "valve", *SPACE_KINDS}


def test_everything_lies_below_the_street_in_plausible_sizes():
    plan = city()
    for f in plan.assets["gas"]:
        p, coords = f["properties"], f["geometry"]["coordinates"]
        for x, y, z in coords if f["geometry"]["type"] == "LineString" else [coords]:
            assert z < plan.ground(x, y) - 0.5, p["id"]
            assert not plan.in_river(y), p["id"]
        if p["kind"] == "main":
            gauge = p["operating_pressure"] - ATMOSPHERIC
            assert gauge in (3.0e3, 0.15e6, 0.4e6) and 0.1 <= p["diameter"] <= 0.4
            (x0, y0, _), (x1, y1, _) = coords[0], coords[-1]
            assert 100 < math.hypot(x1 - x0, y1 - y0) < 120
        elif p["kind"] != "valve":
            assert 0.5 < p["volume"] < 100 and 0 < p["migration_share"] < 0.05
            assert 0 < p["ventilation"] / p["volume"] * 3600 < 10  # air changes per hour


def test_detectors_watch_the_spaces_and_valves_report_their_position():
    plan = city()
    by_field: dict[str, set[str]] = {}
    for s in plan.sensors:
        by_field.setdefault(s["field"], set()).add(s["asset"])
    kind = {f["properties"]["id"]: f["properties"]["kind"] for f in plan.assets["gas"]}
    assert {kind[a] for a in by_field["ch4"]} == set(SPACE_KINDS)
    assert by_field["valve_open"] == {i for i, k in kind.items() if k == "valve"}
    assert {kind[a] for a in by_field["pressure"]} == {"main"}


def test_the_demo_district_scripts_its_leak():
    plan = city(20261123, preset="demo")
    incident = demo_incident(plan)
    assert plan.incidents == [{k: incident[k] for k in ("at", "action", "asset", "params")}]
    assert city(20261123).incidents == []
