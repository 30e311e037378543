"""MODELS.md coupling 1 (gas into sewers, manholes and vaults) and the gas side of
coupling 2 (a tunnel's gas compartment shuts its main off), through the Harness with
the plugins involved, against closed forms written out here."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import twin_drainage.plugin as drainage_plugin
import twin_gas.plugin as gas_plugin
import twin_tunnels.plugin as tunnel_plugin
from twin_gas import model

SEED, BLOCKS = 20261123, (8, 7)
#: the demo's leak and storm (scenes/demo/scene.toml)
LEAK = dict(diameter=0.012, cd=0.62)
STORM = dict(intensity=100.0, duration=3600.0)


def couplings(h) -> set[str]:
    return {c.name for _, c in h.registry.couplings}


def truth(h):
    return h.engine.simulator.world.tables


# -- the exchange between neighbouring spaces ------------------------------------------------
def test_pair_exchange_is_exact_and_conserves_methane():
    """Two closed boxes (no vent, no source): the difference decays as
    exp(-k (1/Va + 1/Vb) t) and Va Ca + Vb Cb stays."""
    volume, area, water = np.array([3.0, 20.0]), np.array([1.0, 8.0]), np.array([0.5, 0.0])
    ch4 = np.array([4.0, 0.2])
    k = 0.002
    va, vb = 3.0 - 0.5, 20.0
    total = va * 4.0 + vb * 0.2
    pair = np.array([1]), np.array([0]), np.array([k]), np.array([1])  # the sewer (row 1) declares it
    t = 0.0
    for dt in (1.0, 7.5, 60.0, 600.0):  # uneven ticks: exact at any length
        model.exchange(*pair, ch4, volume, area, water, dt)
        t += dt
        diff = (4.0 - 0.2) * math.exp(-k * (1 / va + 1 / vb) * t)
        assert ch4[0] - ch4[1] == pytest.approx(diff, rel=1e-12)
        assert va * ch4[0] + vb * ch4[1] == pytest.approx(total, rel=1e-14)
    # a sewer running full keeps MIN_AIR_SHARE of its air, and k shrinks with it
    level = np.array([0.5, 20.0 / 8.0])
    vb = model.MIN_AIR_SHARE * 20.0
    d0 = ch4[0] - ch4[1]
    model.exchange(*pair, ch4, volume, area, level, 60.0)
    k_full = k * model.MIN_AIR_SHARE
    assert ch4[0] - ch4[1] == pytest.approx(d0 * math.exp(-k_full * (1 / va + 1 / vb) * 60.0), rel=1e-12)


def test_a_sewer_between_two_manholes_against_solve_ivp():
    """Manhole - sewer - manhole with a leak into the first, vents and biogas: the split
    update (exact box step, then exact pair exchanges) against solve_ivp on the full ODE
    V_i dC_i/dt = Qg_i - (Qg_i + Qv_i) C_i + Qv_i Cb_i - sum_j k_ij (C_i - C_j)."""
    v = np.array([2.1, 5.0, 2.1])
    qv = np.array([0.0014, 0.012, 0.0011])
    qg = np.array([3e-4, 0.0, 0.0])
    cb = np.array([0.0, 0.0015, 0.0])
    k = 0.05 * (math.pi / 4 * 0.4**2) / 20.0  # E A / (L/2), as the generator writes it

    def rhs(_, c):
        out = qg - (qg + qv) * c + qv * cb
        out[0] -= k * (c[0] - c[1])
        out[2] -= k * (c[2] - c[1])
        out[1] -= k * (c[1] - c[0]) + k * (c[1] - c[2])
        return out / v

    times = np.arange(1.0, 601.0)
    ivp = solve_ivp(rhs, (0, 600.0), np.zeros(3), t_eval=times, rtol=1e-10, atol=1e-13).y.T
    c = np.zeros(3)  # %vol in the model
    got = []
    a, b, kk = np.array([1, 1]), np.array([0, 2]), np.array([k, k])
    for _ in times:
        for i in range(3):
            c[i] = 100 * model.well_mixed_step(0.01 * c[i], qg[i], qv[i], cb[i], v[i], 1.0)
        model.exchange(a, b, kk, a.copy(), c, v, v, np.zeros(3), 1.0)
        got.append(c / 100)
    # splitting error O(dt k / V) ~ 1e-4 relative at 1 s ticks
    np.testing.assert_allclose(got, ivp, rtol=2e-3, atol=1e-7)


# -- coupling 1: drainage water takes air from the gas spaces ---------------------------------
def _no_exchange(plan):
    for f in plan.assets["gas"]:
        f["properties"].pop("exchange", None)  # a pure box: the closed form below is exact


def test_drainage_water_shrinks_the_air_and_the_box_follows_the_closed_form(twin_harness):
    h = twin_harness(plugins=[gas_plugin, drainage_plugin], plan_hook=_no_exchange)
    assert "gas.sewer_water" in couplings(h)
    gas_assets = {a.id: a for a in h.scene.assets["gas"]}
    space = next(a for a in gas_assets.values() if a.kind == "manhole" and len(a.links) == 2)
    main, node = space.links
    outlet = next(a.id for a in h.scene.assets["drainage"] if a.kind == "pipe" and a.links[0] == node)
    h.act("gas.leak", main, diameter=0.01)
    h.act("drainage.rain", node, intensity=120.0, duration=3600.0)
    h.act("drainage.block_pipe", outlet, fraction=1.0)

    g, d = truth(h)["gas"], truth(h)["drainage"]
    row, drow = g.index[space.id], d.index[node]
    volume, area, vent = float(g["volume"][row]), float(g["floor_area"][row]), float(g["ventilation"][row])
    shaft_height = volume / area
    h.run(1)
    reduced = 0
    for _ in range(600):
        c0, level0 = float(g["ch4"][row]) / 100, float(g["water_level"][row])
        h.run(1)
        # the coupling: the space's water level is its drainage manhole's depth, at once
        assert g["water_level"][row] == d["depth"][drow]
        # the accumulation over the tick, with the air volume the water left (Crowl & Louvar ch. 3)
        qg = float(g["gas_inflow"][row])
        v_air = max(volume - area * level0, 0.01 * volume)
        steady = qg / (qg + vent)
        expected = steady + (c0 - steady) * math.exp(-(qg + vent) / v_air)
        assert float(g["ch4"][row]) / 100 == pytest.approx(expected, rel=1e-9)
        reduced += level0 > 0.5 * shaft_height
    assert reduced > 60, "the water should have filled half the shaft for a minute at least"


def test_no_water_without_a_link_or_without_the_drainage_plugin(twin_harness):
    cut: dict = {}

    def unlink(plan):
        f = next(f for f in plan.assets_of("gas", "manhole") if len(f["properties"]["links"]) == 2)
        cut["space"], cut["node"] = f["properties"]["id"], f["properties"]["links"].pop()

    h = twin_harness(plugins=[gas_plugin, drainage_plugin], plan_hook=unlink)
    outlet = next(a.id for a in h.scene.assets["drainage"] if a.kind == "pipe" and a.links[0] == cut["node"])
    h.act("drainage.rain", cut["node"], intensity=120.0, duration=3600.0)
    h.act("drainage.block_pipe", outlet, fraction=1.0)
    h.run(300)
    assert h.value(cut["node"], "depth", truth=True) > 1.0
    assert h.value(cut["space"], "water_level", truth=True) == 0.0  # the link is gone: dry
    linked = truth(h)["gas"]["water_level"]
    assert linked.max() > 0.0  # ...while the linked spaces took water

    alone = twin_harness(plugins=[gas_plugin])
    assert couplings(alone) == set()  # idle, not an error: no drainage, no tunnel
    alone.run(5)
    assert np.all(truth(alone)["gas"]["water_level"] == 0.0)


# -- the compound incident: gas leaking into a sewer during a storm ------------------------------
def _sewer_lel(twin_harness, storm: bool, seconds: int = 300):
    h = twin_harness(plugins=[gas_plugin, drainage_plugin], blocks=BLOCKS, seed=SEED)
    h.act("gas.leak", "G-M-0028", **LEAK)
    if storm:
        h.act("drainage.rain", "D-MH-0001", **STORM)
    g = truth(h)["gas"]
    row = g.index["G-SW-0028"]
    lel, air = [], []
    for _ in range(seconds):
        h.run(1)
        lel.append(100 * float(g["ch4"][row]) / 5.0)  # %LEL at 5 %vol (the truth runs no kernels)
        air.append(model.air_volume(g["volume"][row], g["floor_area"][row], g["water_level"][row]) / g["volume"][row])
    return np.array(lel), np.array(air), h


def test_compound_gas_in_a_sewer_during_the_demo_storm(twin_harness):
    """The demo's leak (G-M-0028) with and without the demo's storm: the storm water in the
    sewer beside the main (G-SW-0028, drainage pipe D-P-0164) takes a share of its air,
    and the methane there reaches each %LEL sooner."""
    dry, air_dry, _ = _sewer_lel(twin_harness, storm=False)
    wet, air_wet, h = _sewer_lel(twin_harness, storm=True)
    assert "D-P-0164" in next(a for a in h.scene.assets["gas"] if a.id == "G-SW-0028").links
    assert np.all(air_dry == 1.0) and air_wet.min() < 0.8  # the storm took over 20 % of the air
    assert np.all(wet[60:] > dry[60:])
    t_dry, t_wet = int(np.argmax(dry >= 25.0)), int(np.argmax(wet >= 25.0))
    assert wet.max() >= 25.0 and (dry.max() < 25.0 or t_wet < t_dry)
    # while the leak's gas arrives the rise is about inversely proportional to the air volume
    assert wet[299] / dry[299] > 1.1


# -- coupling 2, the gas side: 25 %LEL in a gas compartment shuts its main off ------------------
def test_tunnel_cutoff_closes_only_the_valve_of_the_main_in_that_compartment(twin_harness):
    h = twin_harness(plugins=[gas_plugin, tunnel_plugin])
    assert {"gas.tunnel_cutoff", "tunnel.gas_mains"} <= couplings(h)
    gas = {a.id: a for a in h.scene.assets["gas"]}
    in_tunnel = {a.id: a.links[0] for a in gas.values() if a.kind == "main" and a.links}
    assert in_tunnel and all(c.startswith("T-G-") for c in in_tunnel.values())
    valve_of = {a.links[0]: a.id for a in gas.values() if a.kind == "valve"}
    main, compartment = sorted(in_tunnel.items())[1]
    other = sorted(in_tunnel)[2]
    # detectors read 24, then 26 %LEL in the compartment (set in the truth): GB 50838-2015
    # §7.5 cuts the gas off at no more than 25 %LEL, so the coupling closes at the second
    world = h.engine.simulator.world
    table, row = world.locate(compartment)
    h.run(1)
    assert h.value(valve_of[main], "valve_open", truth=True) == 1
    table["ch4"][row] = 24.0
    world.step_couplings(1.0, lambda *a: (_ for _ in ()).throw(a[2]))
    assert h.value(valve_of[main], "valve_open", truth=True) == 1
    table["ch4"][row] = 26.0
    world.step_couplings(1.0, lambda *a: (_ for _ in ()).throw(a[2]))
    assert h.value(valve_of[main], "valve_open", truth=True) == 0
    assert h.value(valve_of[other], "valve_open", truth=True) == 1  # its compartment is clean
    h.run(120)
    assert h.value(main, "pressure", truth=True) == pytest.approx(model.ATMOSPHERIC)  # vented
    assert h.value(valve_of[main], "valve_open") == 0  # the twin knows from the position sensor
