"""MODELS.md couplings 2, 3 and 4 on the tunnel's side, through the Harness with the
plugins involved: a gas main leaking in the gas compartment, street water pouring over a
station's sill, and a fire or flood cutting a section's power. Closed forms are written
out here."""

from __future__ import annotations

import math

import numpy as np
import pytest

import twin_drainage.plugin as drainage_plugin
import twin_gas.plugin as gas_plugin
from twin.authoring.testing import Harness
from twin_tunnels import model, plugin

R, PA, M_CH4 = 8.314462618, 101325.0, 0.01604
#: broad-crested weir (Henderson 1966 §6.6): Q = (2/3)^(3/2) sqrt(g) b H^(3/2) = Cw b sqrt(2g) H^(3/2)
CW = (2.0 / 3.0) ** 1.5 / math.sqrt(2.0)
DEMO = dict(blocks=(8, 7), seed=20261123)


def couplings(h) -> set[str]:
    return {c.name for _, c in h.registry.couplings}


@pytest.fixture
def harness(tmp_path):
    made = []

    def make(**kwargs):
        h = Harness(tmp_path / f"h{len(made)}", **kwargs)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


# -- coupling 2: a gas main in the gas compartment -----------------------------------------------
def test_a_leaking_main_fills_its_compartment_fans_then_valve(harness):
    h = harness(plugins=[plugin, gas_plugin])
    assert {"tunnel.gas_mains", "gas.tunnel_cutoff"} <= couplings(h)
    gas_assets = h.scene.assets["gas"]
    main = next(a for a in gas_assets if a.kind == "main" and a.links)
    compartment = main.links[0]
    valve = next(a.id for a in gas_assets if a.kind == "valve" and a.links == (main.id,))
    world = h.engine.simulator.world
    t, g = world.tables["tunnel"], world.tables["gas"]
    row, mrow = t.index[compartment], g.index[main.id]
    volume = float(t["volume"][row])
    h.run(2)
    h.act("gas.leak", main.id, diameter=0.012, cd=0.62)
    emergency_at = closed_at = None
    for second in range(1, 400):
        x0, source = 0.01 * float(t["ch4"][row]) * 0.05, float(t["gas_from_mains"][row])
        h.run(1)
        # the source: the whole leak m, as a volume at the compartment's air, m / (pa M / (R T))
        density = PA * M_CH4 / (R * (float(t["temperature"][row]) + 273.15))
        assert t["gas_from_mains"][row] == pytest.approx(float(g["leak_rate"][mrow]) / density, rel=1e-12)
        # the box over the tick, with the source the coupling set at the end of the last one
        q = float(t["air_changes"][row]) * volume / 3600.0 + source
        steady = source / q
        expected = steady + (x0 - steady) * math.exp(-q / volume)
        assert 0.01 * float(t["ch4"][row]) * 0.05 == pytest.approx(expected, rel=1e-9, abs=1e-15)
        lel = float(t["ch4"][row])
        if emergency_at is None and t["fan_mode"][row] == model.FAN_EMERGENCY:
            emergency_at = second
        if closed_at is None and g["valve_open"][g.index[valve]] == 0:
            closed_at = second
            assert lel >= 25.0  # GB 50838-2015 §7.5: cut-off at no more than 25 %LEL
        elif closed_at is None:
            assert lel < 25.0
    assert emergency_at is not None and closed_at is not None and emergency_at < closed_at
    # after the valve: the main blows down through its leak and vent, the source stops, fans clear the air
    assert g["pressure"][mrow] == pytest.approx(PA) and t["gas_from_mains"][row] < 1e-4
    assert t["ch4"][row] < 25.0
    assert h.value(valve, "valve_open") == 0 and h.alarms(compartment)


def test_no_gas_without_a_main_in_the_compartment_or_without_the_gas_plugin(harness):
    h = harness(plugins=[plugin, gas_plugin])
    buried = next(a.id for a in h.scene.assets["gas"] if a.kind == "main" and not a.links)
    h.act("gas.leak", buried, diameter=0.02)
    h.run(60)
    assert h.value(buried, "leak_rate", truth=True) > 0
    assert np.all(h.engine.simulator.world.tables["tunnel"]["gas_from_mains"] == 0.0)
    alone = harness(plugins=[plugin])
    assert couplings(alone) == {"tunnel.power"}  # the cross-domain ones are idle


# -- coupling 3: street water over a station's sill ----------------------------------------------
def _station_flood(harness, link=True, block=True, pump=True, blocks=(4, 4), seed=20261123):
    removed = []

    def unlink(plan):
        if not link:
            for f in plan.assets_of("tunnel", "metro_station"):
                removed.append(f["properties"]["links"].pop())

    h = harness(plugins=[plugin, drainage_plugin], plan_hook=unlink, blocks=blocks, seed=seed)
    node = removed[0] if removed else next(f.links[-1] for f in h.scene.assets["tunnel"] if f.kind == "metro_station")
    assert node.startswith("D-MH-")
    outlet = next(a.id for a in h.scene.assets["drainage"] if a.kind == "pipe" and a.links[0] == node)
    h.act("drainage.rain", node, intensity=100.0, duration=3600.0)
    if block:
        h.act("drainage.block_pipe", outlet, fraction=1.0)
    if not pump:
        h.act("tunnel.pump_fail", "T-S-0001")
    return h, node


def test_ponding_above_the_sill_pours_in_by_the_weir_formula(harness):
    h, node = _station_flood(harness, pump=False)
    assert {"tunnel.street_water", "drainage.openings"} <= couplings(h)
    order = [c.name for _, c in h.registry.couplings]
    world = h.engine.simulator.world
    t, d = world.tables["tunnel"], world.tables["drainage"]
    row, drow = t.index["T-S-0001"], d.index[node]
    b, sill = float(t["opening_width"][row]), float(t["sill_height"][row])
    pond = float(d["ponding_area"][drow])
    assert (b, sill) == (5.0, 0.45)

    def stored(level):  # water in the station: sump pit, then its floor
        depth = float(t["sump_depth"][row])
        return float(t["sump_area"][row]) * min(level, depth) + float(t["floor_area"][row]) * max(level - depth, 0.0)

    flowing, poured, v0 = 0, 0.0, stored(float(t["sump_level"][row]))
    for _ in range(1200):
        inflow_before = float(t["flood_inflow"][row])
        h.run(1)
        poured += inflow_before + float(t["seepage"][row])  # the sump takes last tick's coupling
        q = float(t["flood_inflow"][row])
        dp = float(d["ponded_depth"][drow])
        if order.index("drainage.openings") > order.index("tunnel.street_water"):
            dp += q / pond  # the drainage side took this tick's inflow after the weir saw the ponding
        expected = CW * b * math.sqrt(2 * 9.81) * max(dp - sill, 0.0) ** 1.5
        assert q == pytest.approx(expected, rel=1e-9, abs=1e-12)
        flowing += q > 0
    assert flowing > 300
    # water balance of the station (its pump failed): every m3 that poured in is there
    assert stored(float(t["sump_level"][row])) - v0 == pytest.approx(poured, rel=1e-9)


def test_no_inflow_without_the_link_or_without_the_drainage_plugin(harness):
    h, node = _station_flood(harness, link=False)
    h.run(1200)
    assert h.value(node, "ponded_depth", truth=True) > 0.5  # over the sill: it would pour in if linked
    assert np.all(h.engine.simulator.world.tables["tunnel"]["flood_inflow"] == 0.0)
    alone = harness(plugins=[plugin])
    assert "tunnel.street_water" not in couplings(alone)


def test_compound_storm_and_a_blocked_outfall_reach_the_metro_station(harness):
    """The drill's incident in the demo district: the demo storm, and the outfall pipe of
    the station's manhole blocked. Without the blockage the storm alone stays out."""
    h, node = _station_flood(harness, **DEMO)
    rain_only, _ = _station_flood(harness, block=False, **DEMO)
    assert node == "D-MH-0272"
    h.run(900)
    rain_only.run(900)
    assert h.value("T-S-0001", "flood_inflow", truth=True) > 0.1
    assert h.value("T-S-0001", "sump_level", truth=True) > 1.5  # over its high level: the pumps cannot keep up
    assert max(a.level for a in h.alarms("T-S-0001")) >= 3 and h.alarms("T-S-0001")[0].rule == "tunnel.station"
    assert rain_only.value("T-S-0001", "flood_inflow", truth=True) == 0.0
    assert rain_only.value("T-S-0001", "sump_level", truth=True) < 0.1 and not rain_only.alarms("T-S-0001")


# -- coupling 4: a fire or a flood cuts a section's power ----------------------------------------
def test_a_fire_cuts_the_sections_pumps_and_fans(harness):
    h = harness(plugins=[plugin], **DEMO)
    t = h.engine.simulator.world.tables["tunnel"]
    w = t.index["T-W-0005"]
    area, seep = float(t["sump_area"][w]), float(t["seepage"][w])
    h.act("tunnel.fire", "T-P-0005", growth=3.0, max_hrr=3000.0)
    h.run(60)
    assert t["fire"][t.index["T-P-0005"]] == 1
    for c in ("T-P-0005", "T-W-0005", "T-G-0005"):
        assert h.value(c, "powered", truth=True) == 0 and h.value(c, "fan_mode", truth=True) == 0
    assert h.value("T-W-0004", "powered", truth=True) == 1  # the next section is fed by its own panel
    h.act("tunnel.water_ingress", "T-W-0005", rate=0.005)  # below the pump's capacity
    level0 = float(t["sump_level"][w])
    h.run(300)
    # no power, no pump: A dh/dt = Q_in, however high it goes past pump start
    assert t["sump_level"][w] == pytest.approx(level0 + 300 * (0.005 + seep) / area, rel=1e-9)
    assert t["pump_on"][w] == 0 and t["sump_level"][w] > t["pump_start"][w]


def test_a_flooded_power_compartment_makes_its_sections_flood_worse(harness):
    """Water over the floor of T-P-0003 drowns its panel: the water compartment beside it,
    which its pump kept dry, loses the pump and floods too."""
    runs = {}
    for flood in (False, True):
        h = harness(plugins=[plugin], **DEMO)
        h.act("tunnel.water_ingress", "T-W-0003", rate=0.005)
        if flood:
            h.act("tunnel.water_ingress", "T-P-0003", rate=0.05)  # a burst main: far over the pump
        h.run(900)
        runs[flood] = h
    t = runs[True].engine.simulator.world.tables["tunnel"]
    p = t.index["T-P-0003"]
    assert t["sump_level"][p] > t["sump_depth"][p] and runs[True].value("T-W-0003", "powered", truth=True) == 0
    dry = runs[False].value("T-W-0003", "sump_level", truth=True)
    wet = runs[True].value("T-W-0003", "sump_level", truth=True)
    assert dry <= runs[False].value("T-W-0003", "pump_start", truth=True) + 1e-9 < wet
    assert runs[False].value("T-W-0003", "powered", truth=True) == 1
