"""The tunnel plugin in a generated city, through the Harness: the generator, the demo's
fire, fans against the closed-form time to 20 %LEL, a station flooding."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from twin.authoring.citygen import BLOCK, plan_city
from twin.plugins.registry import load_registry
from twin.authoring.testing import Harness
from twin_tunnels import generate, model, plugin

DEMO = dict(plugins=[plugin], blocks=(8, 7), seed=20261123)
#: the incident for the demo scene.toml
DEMO_FIRE = dict(at=30.0, action="tunnel.fire", asset="T-P-0005", growth=2.0, max_hrr=3000.0)


def _plan(seed=20261123, blocks=(8, 7)):
    plan = plan_city(seed, *blocks, buildings=False)
    generate.generate(plan)
    return plan


def test_generator_is_deterministic_and_plausible():
    plan = _plan()
    assert plan.assets == _plan().assets and plan.sensors == _plan().sensors
    assert plan.assets != _plan(seed=7).assets  # the seed moves the random sizes
    features = plan.assets["tunnel"]
    ids = [f["properties"]["id"] for f in features]
    assert all(re.fullmatch(r"T-[PWGS]-\d{4}", i) for i in ids) and len(set(ids)) == len(ids)
    kinds = [f["properties"]["kind"] for f in features]
    assert {k: kinds.count(k) for k in set(kinds)} == {"power_compartment": 8, "water_compartment": 8,
                                                      "gas_compartment": 8, "metro_station": 1}
    (row,) = generate.tunnel_rows(plan)
    avenue_y = row * BLOCK
    assert not plan.in_river(avenue_y, margin=20.0)
    by_id = {f["properties"]["id"]: f for f in features}
    for f in features:
        p = f["properties"]
        assert re.search(r"[\u4e00-\u9fff]", p["owner"])
        assert p["pump_stop"] < p["pump_start"] < p["sump_high"] < p["sump_depth"]
        assert all(link in by_id for link in p.get("links", []))
        if p["kind"] == "metro_station":
            continue
        assert 100.0 <= p["length"] <= 200.0
        assert p["volume"] == pytest.approx(p["cross_section"] * p["length"], rel=1e-3)
        for x, y, z in f["geometry"]["coordinates"]:
            assert abs(y - avenue_y) < 12.0  # under the 24 m avenue
            depth = plan.ground(x, y) - z
            # roof under 3 m of cover, floor above 6.5 m (coordinates are kept to the mm)
            assert 2.995 <= depth - p["ceiling_height"] / 2 and depth + p["ceiling_height"] / 2 <= 6.5
    power = [f["properties"] for f in features if f["properties"]["kind"] == "power_compartment"]
    assert all(30.0 <= p["cable_heat"] / p["length"] <= 60.0 for p in power)
    assert all(p["normal_ach"] == 6.0 and p["emergency_ach"] == 12.0 for p in power)
    sensed = {(s["asset"], s["field"]) for s in plan.sensors}
    assert ("T-G-0001", "ch4") in sensed and ("T-P-0001", "fire") in sensed and ("T-S-0001", "sump_level") in sensed


def test_bigger_cities_get_more_tunnels_at_moderate_density():
    small, big = _plan(blocks=(8, 7)), _plan(blocks=(30, 30))
    assert len(generate.tunnel_rows(big)) == 5 and len(big.assets["tunnel"]) == 5 * (30 * 3 + 5)
    per_block = len(small.assets["tunnel"]) / 56
    assert per_block < 1.0


def test_entry_point_names_the_plugin_tunnel():
    registry = load_registry(entry_points=True)
    assert registry.plugins["tunnel"].status == "active", registry.plugins["tunnel"].reason
    assert registry.domain_owner["tunnel"] == "tunnel"


def test_quiet_city_raises_no_alarm(tmp_path):
    h = Harness(tmp_path, **DEMO)
    try:
        h.run(600)
        assert h.alarms() == []
        risk = h.column("tunnel", "risk")
        assert float(risk.max()) < 0.1
    finally:
        h.close()


def test_demo_fire_raises_an_alarm_within_two_minutes(tmp_path):
    """The demo's incident, scheduled through the scene like scene.toml's [[incidents]]."""
    fire = dict(DEMO_FIRE)
    hook = lambda plan: plan.add_incident(fire.pop("at"), fire.pop("action"), fire.pop("asset"), **fire)  # noqa: E731
    h = Harness(tmp_path, plan_hook=hook, **DEMO)
    try:
        h.run(30)
        assert h.alarms() == []
        first_blue = None
        for second in range(31, 121):
            h.run(1)
            alarms = h.alarms("T-P-0005")
            if alarms and first_blue is None:
                first_blue = second
        assert first_blue is not None and 60 <= first_blue <= 120, first_blue
        (alarm,) = h.alarms("T-P-0005")
        assert alarm.level == 4 and alarm.rule == "tunnel.compartment"  # the fire is detected: red
        assert h.value("T-P-0005", "fire") == 1 and h.value("T-P-0005", "fan_mode") == 0
        # GB 50838: the fans of the fire section and its neighbours stop; the others run
        assert h.value("T-P-0004", "fan_mode", truth=True) == 0 and h.value("T-P-0006", "fan_mode", truth=True) == 0
        assert h.value("T-P-0003", "fan_mode", truth=True) == 1
        # the ceiling temperature the detector read is Li & Ingason's above a medium fire
        # an incident "at 30 s" acts before the tick that ends at 30 s: it has burnt 91 s at 120 s
        assert h.value("T-P-0005", "fire_age", truth=True) == 91.0
        hrr = model.GROWTH_CLASSES[2] * 91.0**2
        assert h.value("T-P-0005", "heat_release", truth=True) == pytest.approx(hrr, rel=1e-9)
        excess = 17.5 * hrr ** (2 / 3) / (3.2 - model.FIRE_BASE_HEIGHT) ** (5 / 3)  # fans off: buoyancy regime
        truth_t = h.value("T-P-0005", "temperature", truth=True)
        assert h.value("T-P-0005", "ceiling_temperature", truth=True) == pytest.approx(truth_t + excess, rel=1e-9)
    finally:
        h.close()


def test_gas_ingress_starts_emergency_fans_when_the_box_model_reaches_20_lel(tmp_path):
    h = Harness(tmp_path, **DEMO)
    try:
        world = h.engine.simulator.world
        table, row = world.locate("T-G-0003")
        h.run(5)
        rate = 0.05  # m3/s of methane: a ruptured service line
        h.act("tunnel.gas_ingress", "T-G-0003", rate=rate)
        volume = float(table["volume"][row])
        ventilation = 6.0 * volume / 3600.0
        c0 = 0.01 * 5.0 * 0.01 * float(table["ch4"][row])
        steady, tau = rate / (rate + ventilation), volume / (rate + ventilation)
        target = 0.20 * 0.05  # 20 %LEL of methane's 5 %vol
        t_star = -tau * math.log((steady - target) / (steady - c0))  # Crowl & Louvar ch. 3
        elapsed = 0
        while table["fan_mode"][row] != model.FAN_EMERGENCY:
            h.run(1)
            elapsed += 1
            assert elapsed < 600
        # the ingress acts from the next tick; fans see the tick's CH4 one tick later
        assert elapsed == math.ceil(t_star) + 1, (elapsed, t_star)
        assert table["fan_mode"][table.index["T-G-0002"]] == 2 and table["fan_mode"][table.index["T-G-0004"]] == 2
        assert table["air_changes"][row] == 12.0
        assert table["fan_mode"][table.index["T-P-0003"]] == 1  # another compartment: no gas
        h.run(10)
        (alarm,) = h.alarms("T-G-0003")
        assert alarm.level >= 2  # yellow at GB 50838's 20 %LEL alarm
    finally:
        h.close()


def test_station_floods_when_its_pump_fails(tmp_path):
    h = Harness(tmp_path, **DEMO)
    try:
        world = h.engine.simulator.world
        table, row = world.locate("T-S-0001")
        h.act("tunnel.pump_fail", "T-S-0001")
        h.act("tunnel.water_ingress", "T-S-0001", rate=0.1)
        h.run(100)
        area = float(table["sump_area"][row])
        inflow = 0.1 + float(table["seepage"][row])
        assert table["sump_level"][row] == pytest.approx(100 * inflow / area, rel=1e-9)  # A dh/dt = Q_in
        assert table["pump_on"][row] == 0
        h.run(60)
        alarms = h.alarms("T-S-0001")
        assert alarms and alarms[0].rule == "tunnel.station" and alarms[0].level >= 3  # overflowing
        assert h.value("T-S-0001", "risk_driver") == model.DRIVERS.index("water")
        assert np.isfinite(h.column("tunnel", "risk")).all()
    finally:
        h.close()


def test_actions_refuse_what_is_invalid_and_extinguish_resets(tmp_path):
    h = Harness(tmp_path, **DEMO)
    try:
        with pytest.raises(ValueError, match="applies to kinds gas_compartment"):
            h.act("tunnel.gas_ingress", "T-P-0001", rate=0.01)
        with pytest.raises(ValueError, match="growth = 2.5; valid are 1 slow"):
            h.act("tunnel.fire", "T-P-0001", growth=2.5)
        h.act("tunnel.fire", "T-P-0001", alpha=0.1876, max_hrr=500.0)
        with pytest.raises(ValueError, match="'T-P-0001': a fire already burns"):
            h.act("tunnel.fire", "T-P-0001")
        h.run(30)
        # ultrafast alpha reaches 500 kW after sqrt(500/0.1876) = 51.6 s
        assert h.value("T-P-0001", "heat_release", truth=True) == pytest.approx(0.1876 * 30**2)
        h.run(30)
        assert h.value("T-P-0001", "heat_release", truth=True) == 500.0
        assert h.value("T-P-0001", "fire", truth=True) == 1
        h.act("tunnel.extinguish", "T-P-0001")
        h.run(2)
        assert h.value("T-P-0001", "heat_release", truth=True) == 0.0 and h.value("T-P-0001", "fan_mode", truth=True) == 1
    finally:
        h.close()
