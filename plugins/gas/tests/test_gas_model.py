"""The gas models against independent references: fluids (API 520), chemicals (NFPA 497),
closed forms written out here, and scipy's ODE solver."""

from __future__ import annotations

import math

import numpy as np
import pytest
from chemicals import LFL
from fluids.compressible import P_critical_flow
from fluids.safety_valve import API520_A_g
from scipy.integrate import solve_ivp

import twin_gas.plugin as gas_plugin
from twin_gas import model

PA = 101325.0
T = 288.15
K, M, RGAS = 1.31, 0.01604, 8.314462618


def hole_flow(p1: float, d: float, cd: float = 0.62) -> float:
    return cd * math.pi / 4 * d * d * model.orifice_mass_flux(p1, PA, T)


def risk_kernel() -> tuple:
    (kernel,) = gas_plugin.twin_kernels()
    return kernel, [p.as_argument() for p in kernel.params]


# -- leak through a hole ---------------------------------------------------------------
@pytest.mark.parametrize("gauge", [0.1e6, 0.2e6, 0.4e6, 1.6e6])  # medium B to high pressure: choked
@pytest.mark.parametrize("d", [0.002, 0.012, 0.05])
def test_choked_hole_flow_reproduces_api520_area(gauge, d):
    p1 = PA + gauge
    assert PA <= P_critical_flow(p1, K)  # the regime the case means to test
    area = API520_A_g(m=hole_flow(p1, d), T=T, Z=1.0, MW=M * 1000, k=K, P1=p1, P2=PA, Kd=0.62)
    assert area == pytest.approx(math.pi / 4 * d * d, rel=1e-3)


@pytest.mark.parametrize("gauge", [2.0e3, 3.0e3, 10.0e3, 50.0e3])  # low pressure and medium B: subcritical
def test_subcritical_hole_flow_reproduces_api520_area(gauge):
    p1, d = PA + gauge, 0.02
    assert PA > P_critical_flow(p1, K)
    area = API520_A_g(m=hole_flow(p1, d), T=T, Z=1.0, MW=M * 1000, k=K, P1=p1, P2=PA, Kd=0.62)
    assert area == pytest.approx(math.pi / 4 * d * d, rel=1e-3)


def test_flow_chokes_at_the_critical_pressure_of_fluids():
    p1 = 400e3
    assert model.CRITICAL_PRESSURE_RATIO * p1 == pytest.approx(P_critical_flow(p1, K), rel=1e-12)
    # Choked flow is proportional to p1; subcritical flow grows more slowly: the two
    # forms meet where pa equals the critical pressure.
    p_star = PA / model.CRITICAL_PRESSURE_RATIO
    below, above = model.orifice_mass_flux(p_star * (1 - 1e-9), PA, T), model.orifice_mass_flux(p_star * (1 + 1e-9), PA, T)
    assert below == pytest.approx(above, rel=1e-6)
    assert model.orifice_mass_flux(PA, PA, T) == 0.0
    assert model.orifice_mass_flux(PA - 1000, PA, T) == 0.0


def test_choked_flux_written_out():
    # Crowl & Louvar ch. 4, choked: m = Cd A p1 sqrt(k M/(Z R T) (2/(k+1))^((k+1)/(k-1)))
    p1 = PA + 0.4e6
    expected = 0.62 * math.pi / 4 * 0.012**2 * p1 * math.sqrt(K * M / (RGAS * T) * (2 / (K + 1)) ** ((K + 1) / (K - 1)))
    assert hole_flow(p1, 0.012) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.0609, rel=1e-2)  # 12 mm in a 0.4 MPa main: about 60 g/s


def test_default_lel_is_nfpa_497():
    (kernel,) = gas_plugin.twin_kernels()
    lel = next(p for p in kernel.params if p.name == "lel_volume_percent")
    assert lel.value == pytest.approx(100 * LFL(CASRN="74-82-8", method="NFPA 497 (2008)"))
    assert "NFPA 497" in lel.source


# -- accumulation in a space -----------------------------------------------------------
def space(n: int = 1, volume=3.0, floor_area=1.0, ventilation=0.002, inflow=5e-4, water=0.0, background=0.0):
    return {
        "rows": np.arange(n, dtype=np.int64), "ch4": np.zeros(n), "gas_inflow": np.full(n, inflow),
        "ventilation": np.full(n, ventilation), "volume": np.full(n, volume), "floor_area": np.full(n, floor_area),
        "water_level": np.full(n, water), "background_ch4": np.full(n, background),
    }


def step(s: dict, dt: float) -> None:
    model.accumulate(s["rows"], s["ch4"], s["gas_inflow"], s["ventilation"], s["volume"], s["floor_area"],
                     s["water_level"], s["background_ch4"], dt)


@pytest.mark.parametrize("dt", [1.0, 7.0, 600.0])
@pytest.mark.parametrize("water", [0.0, 1.2])
def test_accumulation_is_the_exact_well_mixed_solution(dt, water):
    V, A, Qv, Qg = 3.0, 1.0, 0.002, 5e-4
    s = space(volume=V, floor_area=A, ventilation=Qv, inflow=Qg, water=water)
    t = 0.0
    for _ in range(int(1800 / dt)):
        step(s, dt)
        t += dt
        # Crowl & Louvar ch. 3: C = Css (1 - exp(-t/tau)), Css = Qg/(Qg+Qv), tau = (V - A h)/(Qg+Qv)
        expected = Qg / (Qg + Qv) * (1 - math.exp(-t * (Qg + Qv) / (V - A * water)))
        assert s["ch4"][0] == pytest.approx(100 * expected, rel=1e-9)


def test_ventilation_brings_a_sewer_to_its_biogas_level():
    s = space(volume=20.0, ventilation=0.02, inflow=0.0, background=0.2)
    for t in range(1, 3001):
        step(s, 1.0)
        # inflow concentration C_in: C = C_in (1 - exp(-t Qv/V))
        assert s["ch4"][0] == pytest.approx(0.2 * (1 - math.exp(-t * 0.02 / 20.0)), rel=1e-9)


def test_accumulation_follows_solve_ivp_with_a_varying_source():
    V, Qv, Qin, tau_source = 2.5, 0.0015, 8e-4, 60.0

    def source(t):  # a leak that decays as its main blows down, then a second one
        return Qin * math.exp(-t / tau_source) + (4e-4 if t > 200 else 0.0)

    def rhs(t, c):
        return [(source(t) - (source(t) + Qv) * c[0]) / V]

    times = np.arange(0.0, 400.0 + 1e-9, 0.1)
    ref = solve_ivp(rhs, (0, 400), [0.0], t_eval=times[::100], rtol=1e-10, atol=1e-12, max_step=0.05).y[0]
    s = space(volume=V, floor_area=1.0, ventilation=Qv, inflow=0.0)
    ours = [0.0]
    for n, t in enumerate(times[1:], start=1):
        # as in a tick: the updaters compute the inflow at the tick's time, then mix
        s["gas_inflow"][0] = source(t)
        step(s, 0.1)
        if n % 100 == 0:
            ours.append(s["ch4"][0] / 100)
    # The source is held over each 0.1 s step: first order in dt/tau_source (< 0.2 %).
    np.testing.assert_allclose(ours[1:], ref[1:], rtol=3e-3)


def test_time_to_lel_matches_the_solver_event():
    V, Qv, Qg, c0 = 4.0, 0.001, 4e-4, 0.004
    kernel, params = risk_kernel()

    def reach(t, c):
        return c[0] - 0.05

    reach.terminal = True
    sol = solve_ivp(lambda t, c: [(Qg - (Qg + Qv) * c[0]) / V], (0, 1e5), [c0], events=reach, rtol=1e-11, atol=1e-14)
    s = space(volume=V, ventilation=Qv, inflow=Qg)
    lel, risk, t_lel = np.zeros(1), np.zeros(1), np.zeros(1)
    kernel.func(np.array([100 * c0]), s["background_ch4"], s["gas_inflow"], s["ventilation"], s["volume"],
                s["floor_area"], s["water_level"], *params, lel, risk, t_lel)
    assert t_lel[0] == pytest.approx(sol.t_events[0][0], rel=1e-6)


# -- risk ------------------------------------------------------------------------------
def run_kernel(ch4, background=0.0, inflow=0.0, ventilation=0.002, volume=3.0):
    kernel, params = risk_kernel()
    n = len(ch4)
    s = space(n, volume=volume, ventilation=ventilation, inflow=inflow, background=background)
    lel, risk, t_lel = np.zeros(n), np.zeros(n), np.zeros(n)
    kernel.func(np.asarray(ch4, float), s["background_ch4"], s["gas_inflow"], s["ventilation"], s["volume"],
                s["floor_area"], s["water_level"], *params, lel, risk, t_lel)
    return lel, risk, t_lel


def test_levels_sit_at_the_default_lel_thresholds_net_of_background():
    # MODELS.md: IV 10, III 25, II 50, I 75 %LEL -> risk .25, .50, .75, .90; LEL 5 %vol
    net_lel = np.array([0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 150.0])
    background = 0.15  # %vol of sewer biogas = 3 %LEL
    lel, risk, _ = run_kernel(background + net_lel * 0.05, background=background)
    np.testing.assert_allclose(risk, [0.0, 0.125, 0.25, 0.5, 0.75, 0.9, 1.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(lel, net_lel + 3.0)


def test_predicted_arrival_within_30_minutes_is_level_one():
    # Qg/(Qg+Qv) well above 5 %: 100 %LEL is coming. Without the source, no prediction.
    lel, risk, t_lel = run_kernel([0.1, 0.1], inflow=3e-4, ventilation=0.001, volume=3.0)
    expected = -(3.0 / 1.3e-3) * math.log((3e-4 / 1.3e-3 - 0.05) / (3e-4 / 1.3e-3 - 0.001))
    assert t_lel[0] == pytest.approx(expected, rel=1e-9) and expected < 1800
    assert risk[0] == pytest.approx(0.9)
    _, risk_slow, t_slow = run_kernel([0.1], inflow=2e-5, ventilation=0.001, volume=30.0)
    assert t_slow[0] > 1800 and risk_slow[0] < 0.25
    _, risk_none, t_none = run_kernel([0.1], inflow=0.0)
    assert t_none[0] == model.NO_PREDICTION and risk_none[0] < 0.25


# -- blow-down of an isolated main -----------------------------------------------------
def flux_written_out(p):
    """Crowl & Louvar ch. 4 gas through a hole, per unit Cd*A, written out again here."""
    r = PA / p
    a = M / (RGAS * T)
    if r <= (2 / (K + 1)) ** (K / (K - 1)):
        return p * math.sqrt(K * a * (2 / (K + 1)) ** ((K + 1) / (K - 1)))
    return p * math.sqrt(2 * a * K / (K - 1) * (r ** (2 / K) - r ** ((K + 1) / K)))


def test_blow_down_is_exponential_while_choked():
    V, cda, p0 = 8.5, 0.62 * math.pi / 4 * 0.05**2, PA + 0.4e6
    tau = V * M / (RGAS * T) / (cda * math.sqrt(K * M / (RGAS * T) * (2 / (K + 1)) ** ((K + 1) / (K - 1))))
    p, t = p0, 0.0
    while p > PA / model.CRITICAL_PRESSURE_RATIO * 1.05:
        p = model.blow_down(p, T, V, cda, 1.0)
        t += 1.0
        assert p == pytest.approx(p0 * math.exp(-t / tau), rel=1e-9)
    assert 10 < t < 200  # a DN50 riser vents a 120 m DN300 section in about a minute


def test_blow_down_follows_solve_ivp_to_atmospheric():
    V, cda, p0 = 8.5, 0.62 * math.pi / 4 * 0.05**2, PA + 0.4e6
    times = np.arange(0, 240.0 + 1e-9, 0.05)
    sol = solve_ivp(lambda t, p: [-RGAS * T / (V * M) * cda * flux_written_out(max(p[0], PA))], (0, 240), [p0],
                    t_eval=times[::200], rtol=1e-10, atol=1e-6)
    p, ours = p0, [p0]
    for n in range(1, len(times)):
        p = model.blow_down(p, T, V, cda, 0.05)
        if n % 200 == 0:
            ours.append(p)
    # compare the gauge pressure; the subcritical tail is integrated to first order
    np.testing.assert_allclose(np.array(ours) - PA, sol.y[0] - PA, rtol=2e-2, atol=50.0)
    assert ours[-1] - PA < 1000.0
