"""The tunnel physics against independent references: closed forms written out here,
scipy's ``solve_ivp``, steam-table values, and the MODELS.md risk table."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from twin.tick.risk import level_of
from twin_tunnels import model, plugin

RHO_CP = 1.2 * 1005.0  # J/(m3 K), the air the model assumes


# -- the well-mixed box (Crowl & Louvar ch. 3) -------------------------------------------------
@pytest.mark.parametrize("x0, source, outflow, volume", [
    (0.0, 0.02, 1.5, 700.0),     # methane ingress into a gas compartment
    (0.2095, 0.31, 1.5, 700.0),  # oxygen: fresh air in, a fire's consumption out
    (3.0, 0.4, 0.0, 900.0),      # H2S with the fans stopped: grows linearly
])
def test_well_mixed_box_matches_closed_form_and_solve_ivp(x0, source, outflow, volume):
    times = np.array([1.0, 10.0, 60.0, 600.0, 3600.0])
    if outflow > 0:
        steady, tau = source / outflow, volume / outflow
        closed = steady + (x0 - steady) * np.exp(-times / tau)
    else:
        closed = x0 + source * times / volume
    ivp = solve_ivp(lambda t, x: (source - outflow * x) / volume, (0, times[-1]), [x0], t_eval=times,
                    rtol=1e-11, atol=1e-14).y[0]
    stepped, x, t = [], x0, 0.0
    for target in times:  # uneven steps: exact at any tick length
        x = model.well_mixed_step(x, source, outflow, volume, target - t)
        t = target
        stepped.append(x)
    np.testing.assert_allclose(stepped, closed, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(stepped, ivp, rtol=1e-8, atol=1e-12)


def test_phi_functions_near_zero_and_far():
    for z in (-1e-9, -0.3, -0.49, -0.51, -2.0, -40.0):
        np.testing.assert_allclose(model.phi(1, z), math.expm1(z) / z if z else 1.0, rtol=1e-12)
        exact2 = (math.exp(z) - 1 - z) / z**2
        exact3 = (math.exp(z) - 1 - z - z * z / 2) / z**3
        if abs(z) > 1e-3:  # the closed forms themselves cancel badly below that
            np.testing.assert_allclose(model.phi(2, z), exact2, rtol=1e-8)
            np.testing.assert_allclose(model.phi(3, z), exact3, rtol=1e-6)
    assert model.phi(2, 0.0) == pytest.approx(0.5) and model.phi(3, 0.0) == pytest.approx(1 / 6)


# -- heat balance --------------------------------------------------------------------------------
COMPARTMENT = dict(volume=998.4, ua=1117.0, ventilation=6 * 998.4 / 3600, soil=18.0, inlet=25.0, cable_heat=6000.0)


def _rhs(fire):
    c = COMPARTMENT

    def rhs(t, y):
        q = c["cable_heat"] + 1000.0 * fire(t)
        return [(q + c["ua"] * (c["soil"] - y[0]) + RHO_CP * c["ventilation"] * (c["inlet"] - y[0]))
                / (RHO_CP * c["volume"])]
    return rhs


def _advance(t0, seconds, dt, alpha=0.0, max_hrr=0.0, ventilation=None):
    c = dict(COMPARTMENT)
    if ventilation is not None:
        c["ventilation"] = ventilation
    temps, released, t, age = [], 0.0, t0, 0.0
    for _ in range(int(round(seconds / dt))):
        t, e = model.advance_temperature(t, c["volume"], c["ua"], c["ventilation"], c["soil"], c["inlet"],
                                         c["cable_heat"], alpha, age, max_hrr, 1.0, dt)
        age += dt
        released += e
        temps.append(t)
    return np.array(temps), released


def test_heat_balance_without_fire_matches_exponential_and_solve_ivp():
    c = COMPARTMENT
    g = RHO_CP * c["ventilation"]
    a = (c["ua"] + g) / (RHO_CP * c["volume"])
    steady = (c["cable_heat"] + c["ua"] * c["soil"] + g * c["inlet"]) / (c["ua"] + g)
    temps, _ = _advance(12.0, 3600.0, 1.0)
    times = np.arange(1, 3601, dtype=float)
    closed = steady + (12.0 - steady) * np.exp(-a * times)
    np.testing.assert_allclose(temps, closed, rtol=1e-12)
    ivp = solve_ivp(_rhs(lambda t: 0.0), (0, 3600), [12.0], t_eval=times, rtol=1e-11, atol=1e-11).y[0]
    np.testing.assert_allclose(temps, ivp, rtol=1e-8)
    coarse, _ = _advance(12.0, 3600.0, 60.0)  # one-minute ticks land on the same curve
    np.testing.assert_allclose(coarse, closed[59::60], rtol=1e-12)


@pytest.mark.parametrize("alpha, max_hrr, ventilation", [
    (0.01172, 500.0, None),  # medium fire, capped at 206.5 s, mid-tick; fans normal
    (0.0469, 2000.0, 0.0),   # fast fire with the fans stopped (GB 50838 on fire)
])
def test_heat_balance_with_t_squared_fire_matches_solve_ivp(alpha, max_hrr, ventilation):
    fire = lambda t: min(alpha * t * t, max_hrr)  # noqa: E731 - SFPE t-squared fire
    cap = math.sqrt(max_hrr / alpha)
    temps, released = _advance(20.0, 400.0, 1.0, alpha, max_hrr, ventilation)
    c = dict(COMPARTMENT)
    if ventilation is not None:
        c["ventilation"] = ventilation
    saved = dict(COMPARTMENT)
    COMPARTMENT.update(c)
    try:
        times = np.arange(1, 401, dtype=float)
        ivp = solve_ivp(_rhs(fire), (0, 400), [20.0], t_eval=times, rtol=1e-11, atol=1e-10,
                        max_step=0.25).y[0]
        coarse, _ = _advance(20.0, 400.0, 8.0, alpha, max_hrr, ventilation)
    finally:
        COMPARTMENT.clear()
        COMPARTMENT.update(saved)
    np.testing.assert_allclose(temps, ivp, rtol=1e-7)
    np.testing.assert_allclose(coarse, temps[7::8], rtol=1e-10)  # exact: the tick does not matter
    energy = alpha * cap**3 / 3 + max_hrr * (400.0 - cap)  # kJ, the integral of Q dt
    assert released == pytest.approx(energy, rel=1e-12)


def test_fire_heat_release_follows_sfpe_classes():
    assert model.GROWTH_CLASSES == {1: 0.00293, 2: 0.01172, 3: 0.0469, 4: 0.1876}
    # the classes reach 1055 kW (1000 BTU/s) in 600, 300, 150 and 75 s (SFPE definition)
    for cls, seconds in zip((1, 2, 3, 4), (600, 300, 150, 75)):
        assert model.fire_hrr(model.GROWTH_CLASSES[cls], seconds, 1e5) == pytest.approx(1055.0, rel=2e-3)
    assert model.fire_hrr(0.0469, 1000.0, 5000.0) == 5000.0


# -- ceiling temperature (Li, Lei & Ingason 2011) -------------------------------------------------
def _li_ingason(q, u0, h_ef, b_fo=0.5, t0=20.0):
    """The correlation as printed: V' = u0/w*, w* = (g Q/(b_fo rho0 cp T0))^(1/3)."""
    w_star = (9.81 * q / (b_fo * 1.2 * 1.005 * (t0 + 273.15))) ** (1 / 3)
    if u0 / w_star > 0.19:
        return min(q / (u0 * b_fo ** (1 / 3) * h_ef ** (5 / 3)), 1350.0)
    return min(17.5 * q ** (2 / 3) / h_ef ** (5 / 3), 1350.0)


@pytest.mark.parametrize("q, u0", [(30.0, 0.0), (30.0, 0.2), (300.0, 0.2), (300.0, 2.5), (5000.0, 1.0), (5e4, 0.1)])
def test_ceiling_temperature_is_li_ingason(q, u0):
    got = model.ceiling_excess_temperature(q, u0, 2.7, 0.5, 20.0)
    assert got == pytest.approx(_li_ingason(q, u0, 2.7), rel=1e-12)


def test_ceiling_temperature_branches_meet_at_the_critical_velocity():
    """An independent check of the coefficients: at V' = 0.19 the ventilated branch
    Q/(u0 b^(1/3) H^(5/3)) equals Q^(2/3)/(0.19 (g/(rho cp T))^(1/3) H^(5/3)), which is
    17.4 Q^(2/3)/H^(5/3) for air at 20 C: the 17.5 of the buoyancy branch."""
    for q in (20.0, 200.0, 2000.0):
        w_star = (9.81 * q / (0.5 * 1.2 * 1.005 * 293.15)) ** (1 / 3)
        below = model.ceiling_excess_temperature(q, 0.19 * w_star * 0.999, 3.0, 0.5, 20.0)
        above = model.ceiling_excess_temperature(q, 0.19 * w_star * 1.001, 3.0, 0.5, 20.0)
        assert above == pytest.approx(below, rel=0.01)


# -- a fire in a closed compartment: oxygen limit and wall losses -----------------------------------
#: the demo's gas-free compartment T-P-0005: 120 m of 2.6 m x 3.2 m, fans stopped by the fire
CELL = dict(length=120.0, width=2.6, height=3.2, ua=1117.0, soil=18.0, inlet=25.0, cable=6000.0)


def _wall_conductance(t, cell=CELL):
    """McCaffrey, Quintiere & Harkleroad (1981) as the SFPE Handbook writes it, for a
    thermally thick concrete wall (EN 1992-1-2: k 1.6 W/(m K), rho 2300 kg/m3, c 900
    J/(kg K)) 0.3 m thick, in series with EN 1991-1-2's convective 25 W/(m2 K), over the
    box's inner surface; the steady U A to the soil before the fire and at least that."""
    k, rho, c, delta = 1.6, 2300.0, 900.0, 0.3
    length, width, height = cell["length"], cell["width"], cell["height"]
    area = 2 * (length * width + length * height + width * height)
    if t <= 0:
        return cell["ua"]
    hk = math.sqrt(k * rho * c / t) if t < rho * c / k * (delta / 2) ** 2 else k / delta
    return max(cell["ua"], area / (1 / 25.0 + 1 / hk))


def _run_cell(alpha, max_hrr, seconds, ach=0.0, dt=1.0, lol=15.0):
    """The plugin's climate over one row, tick by tick: time, T, O2, HRR per tick."""
    c = CELL
    volume = c["length"] * c["width"] * c["height"]
    f = lambda v, dtype=np.float64: np.array([v], dtype=dtype)  # noqa: E731
    row = dict(temperature=f(20.0), humidity=f(60.0), o2=f(20.95), ch4=f(0.0), h2s=f(0.0), co=f(0.0),
               heat_release=f(0.0), fire_age=f(0.0), fire=f(0, np.uint8), ceiling=f(20.0))
    out = []
    for n in range(int(round(seconds / dt))):
        model.climate(row["temperature"], row["humidity"], row["o2"], row["ch4"], row["h2s"], row["co"],
                      row["heat_release"], row["fire_age"], row["fire"], row["ceiling"], f(c["length"]), f(volume),
                      f(c["width"] * c["height"]), f(c["height"]), f(c["ua"]), f(c["cable"]), f(c["soil"]),
                      f(c["inlet"]), f(70.0), f(ach), f(0.0), f(0.0), f(alpha), f(max_hrr), f(57.0), 5.0, lol, dt)
        out.append(((n + 1) * dt, row["temperature"][0], row["o2"][0], row["heat_release"][0], row["ceiling"][0]))
    return np.array(out)


def _ivp_cell(alpha, max_hrr, seconds, lol=15.0):
    """The same compartment written as one ODE system from the sources, fans stopped:
    rho cp V dT/dt = q_cable + Q(t) + G(t)(T_soil - T);  V dx/dt = -Q(t)/(13.1 MJ/kg rho_O2(T)),
    Q = alpha t^2 (capped) while x > LOL, then nothing (no air comes in: CFAST's limit)."""
    c = CELL
    volume = c["length"] * c["width"] * c["height"]
    capacity = RHO_CP * volume
    o2_density = lambda temp: 101325.0 * 0.032 / (8.314462618 * (temp + 273.15))  # noqa: E731

    def rhs(t, y, burning):
        q = 1000.0 * min(alpha * t * t, max_hrr) if burning else 0.0  # W
        dtemp = (c["cable"] + q + _wall_conductance(t) * (c["soil"] - y[0])) / capacity
        return [dtemp, -100.0 * (q / 13.1e6 / o2_density(y[0])) / volume]

    starve = lambda t, y, burning: y[1] - lol  # noqa: E731
    starve.terminal, starve.direction = True, -1
    first = solve_ivp(rhs, (0, seconds), [20.0, 20.95], args=(True,), events=starve, rtol=1e-10, atol=1e-10,
                      max_step=0.5, dense_output=True)
    t_starve = first.t_events[0][0] if first.t_events[0].size else None
    second = None
    if t_starve is not None:
        second = solve_ivp(rhs, (t_starve, seconds), first.y[:, -1], args=(False,), rtol=1e-10, atol=1e-10,
                           max_step=0.5, dense_output=True)

    def at(t):
        return first.sol(t) if t_starve is None or t <= t_starve else second.sol(t)
    return t_starve, at


def test_a_fire_with_the_fans_stopped_starves_at_the_lower_oxygen_limit_like_the_ode():
    """GB 50838 stops the fans of a burning section to starve the fire: a medium fire
    levelling at 3 MW in the demo's 1000 m3 compartment uses up the O2 above CFAST's 15 %
    limit in about 11 minutes and goes out; the walls take most of its heat."""
    alpha, max_hrr = model.GROWTH_CLASSES[2], 3000.0
    run = _run_cell(alpha, max_hrr, 1800.0)
    t_starve, exact = _ivp_cell(alpha, max_hrr, 1800.0)
    assert t_starve is not None and 600.0 < t_starve < 720.0, t_starve
    times, temps, o2, hrr = run[:, 0], run[:, 1], run[:, 2], run[:, 3]
    # the O2 limit holds to round-off; the tick that reaches it burns only what is left, and
    # the fire is out from the next one
    assert o2.min() >= 15.0 - 1e-9
    first_out = times[np.argmax(hrr == 0.0)]  # the end of the first tick without fire
    assert hrr[-1] == 0.0 and 0.0 < first_out - t_starve <= 2.0, (first_out, t_starve)
    # the trajectory agrees with the continuous system: 1 s ticks against a 0.5 s-step ODE
    # solve; the model holds rho_O2 and the walls' h at the tick's start and middle
    for t, temp, x in zip(times[::30], temps[::30], o2[::30]):
        want_t, want_x = exact(t)
        assert temp == pytest.approx(want_t, rel=5e-3, abs=0.2), t
        assert x == pytest.approx(want_x, abs=0.02), t
    # the heat it released before it starved, by the t-squared curve to the ODE's starving time
    volume = CELL["length"] * CELL["width"] * CELL["height"]
    cap = math.sqrt(max_hrr / alpha)
    released = alpha * min(t_starve, cap) ** 3 / 3.0 + max_hrr * max(0.0, t_starve - cap)  # kJ
    # and the air stays far below what an adiabatic box would reach (about 690 K above 20 C)
    assert temps.max() < 250.0
    assert released * 1e3 / (RHO_CP * volume) > 600.0


def test_a_ventilated_fire_burns_at_the_rate_fresh_air_brings_oxygen():
    """With 12 air changes an hour the box is held at the limit and the fire burns the O2
    the fans bring: Q = 13.1 MJ/kg rho_O2 Qv (20.95 % - 15 %), about 2.5 MW here."""
    alpha, max_hrr = model.GROWTH_CLASSES[3], 5000.0
    run = _run_cell(alpha, max_hrr, 3600.0, ach=12.0)
    volume = CELL["length"] * CELL["width"] * CELL["height"]
    qv = 12.0 * volume / 3600.0
    temp = run[-1, 1]
    supported = 13.1e3 * 101325.0 * 0.032 / (8.314462618 * (temp + 273.15)) * qv * (20.95 - 15.0) / 100.0
    assert run[-1, 2] == pytest.approx(15.0, abs=1e-6)
    assert run[-1, 3] == pytest.approx(supported, rel=2e-3)


def test_wall_conductance_is_mqh_thermally_thick_in_series_with_the_film():
    area = 2 * (120.0 * 2.6 + 120.0 * 3.2 + 2.6 * 3.2)
    surface = model.box_surface(120.0, 120.0 * 2.6 * 3.2, 3.2)
    assert surface == pytest.approx(area, rel=1e-12)
    for t in (0.0, 0.5, 60.0, 600.0, 3600.0, 20000.0, 40000.0):
        age_hk = _wall_conductance(t)
        assert model.wall_conductance(t, surface, 1117.0) == pytest.approx(age_hk, rel=1e-12), t


def test_ceiling_temperature_stays_within_the_correlations_flame_limit():
    """Li & Ingason's excess is over the air the plume entrains, at most 1350 K: an
    ultrafast 20 MW fire, ventilated so that it keeps burning, never puts the ceiling
    more than 1350 K above the soil, nor below the air."""
    run = _run_cell(model.GROWTH_CLASSES[4], 2.0e4, 1200.0, ach=60.0)
    ceiling, temps = run[:, 4], run[:, 1]
    assert ceiling.max() <= CELL["soil"] + 1350.0 + 1e-9
    assert np.all(ceiling >= temps)


# -- humidity --------------------------------------------------------------------------------------
@pytest.mark.parametrize("celsius, kpa", [(0.01, 0.61165), (10.0, 1.2282), (20.0, 2.3392), (30.0, 4.2467),
                                          (40.0, 7.3849)])
def test_saturation_pressure_matches_steam_tables(celsius, kpa):
    # IAPWS-95 saturation pressures (NIST Chemistry WebBook); Magnus is good to about 0.2 %
    assert model.saturation_pressure(celsius) == pytest.approx(1000 * kpa, rel=3e-3)


# -- sump --------------------------------------------------------------------------------------------
SUMP = dict(capacity=0.03, sump_area=1.44, floor_area=300.0, depth=1.5, start=0.8, stop=0.3)


def _sump(level, pump_on, inflow, pump_ok, seconds, dt, **over):
    s = {**SUMP, **over}
    out = []
    for _ in range(int(round(seconds / dt))):
        level, pump_on = model.sump_step(level, pump_on, inflow, s["capacity"], pump_ok, s["sump_area"],
                                         s["floor_area"], s["depth"], s["start"], s["stop"], dt)
        out.append((level, pump_on))
    return out


def test_sump_cycles_between_start_and_stop_as_the_closed_form_says():
    q_in, s = 0.004, SUMP
    fill0 = s["start"] * s["sump_area"] / q_in                       # empty -> start: 288 s
    drain = (s["start"] - s["stop"]) * s["sump_area"] / (s["capacity"] - q_in)  # start -> stop
    refill = (s["start"] - s["stop"]) * s["sump_area"] / q_in         # stop -> start: 180 s

    def closed(t):
        if t <= fill0:
            return q_in * t / s["sump_area"], 0
        t -= fill0
        period = drain + refill
        phase = t - period * math.floor(t / period)
        if phase < drain:
            return s["start"] - (s["capacity"] - q_in) * phase / s["sump_area"], 1
        return s["stop"] + q_in * (phase - drain) / s["sump_area"], 0

    run = _sump(0.0, 0, q_in, 1, 2000.0, 1.0)
    for t in (1, 100, 288, 289, 300, 315, 316, 500, 700, 1000, 1999):
        level, on = run[t - 1]
        want, want_on = closed(float(t))
        assert level == pytest.approx(want, abs=1e-9), t
        assert on == want_on, t
    coarse = _sump(0.0, 0, q_in, 1, 2000.0, 40.0)  # events inside a long tick are still exact
    assert coarse[-1][0] == pytest.approx(closed(2000.0)[0], abs=1e-9)


def test_failed_pump_lets_the_sump_overflow_onto_the_floor():
    q_in, s = 0.01, SUMP
    run = _sump(0.5, 1, q_in, 0, 600.0, 1.0)
    t_full = (s["depth"] - 0.5) * s["sump_area"] / q_in  # 144 s
    assert run[99][0] == pytest.approx(0.5 + q_in * 100 / s["sump_area"], abs=1e-12)
    assert run[-1][0] == pytest.approx(s["depth"] + q_in * (600 - t_full) / s["floor_area"], abs=1e-12)
    assert all(on == 0 for _, on in run)


# -- fans (GB 50838-2015 §7.2) -------------------------------------------------------------------
def _fans(ch4, fire, mode, neighbours=None):
    n = len(ch4)
    neighbours = np.full((n, 2), -1, dtype=np.int64) if neighbours is None else neighbours
    fan_mode = np.array(mode, dtype=np.uint8)
    ach = np.zeros(n)
    model.fan_control(np.array(ch4, float), np.array(fire, np.uint8), neighbours, np.full(n, 6.0), np.full(n, 12.0),
                      20.0, 10.0, fan_mode, ach)
    return fan_mode.tolist(), ach.tolist()


def test_fans_switch_to_emergency_at_20_lel_and_back_below_10():
    modes, ach = _fans([19.99, 20.0, 15.0, 15.0, 9.99, 50.0], [0, 0, 0, 0, 0, 1], [1, 1, 1, 2, 2, 2])
    assert modes == [1, 2, 1, 2, 1, 0]
    assert ach == [6.0, 12.0, 6.0, 12.0, 6.0, 0.0]


def test_fans_of_the_neighbouring_sections_follow():
    # rows 0-1-2 are one compartment in three sections; row 3 is elsewhere
    neighbours = np.array([[1, -1], [0, 2], [1, -1], [-1, -1]], dtype=np.int64)
    assert _fans([25.0, 0.0, 0.0, 0.0], [0, 0, 0, 0], [1] * 4, neighbours)[0] == [2, 2, 1, 1]
    assert _fans([0.0, 0.0, 0.0, 0.0], [0, 0, 1, 0], [1] * 4, neighbours)[0] == [1, 0, 0, 1]


# -- the risk table (MODELS.md defaults) --------------------------------------------------------------
def _levels(**values):
    kernel = plugin.twin_kernels()[0]
    base = dict(ch4=0.0, temperature=22.0, ceiling_temperature=22.0, fire=0, o2=20.9, h2s=0.0, sump_level=0.0,
                pump_stop=0.3, pump_start=0.8, sump_high=1.2, sump_depth=1.5)
    n = max(len(v) for v in values.values())
    columns = []
    for name in kernel.inputs:
        v = values.get(name, [base[name]] * n)
        columns.append(np.array(v, dtype=plugin.model.np.uint8 if name == "fire" else float))
    risk = np.zeros(n, dtype=np.float32)
    driver = np.zeros(n, dtype=np.uint8)
    kernel.func(*columns, *[p.as_argument() for p in kernel.params], risk, driver)
    return [level_of(float(r) + 1e-6) for r in risk], [model.DRIVERS[d] for d in driver]


def test_risk_levels_meet_the_models_md_thresholds():
    assert _levels(ch4=[9.0, 10.0, 20.0, 35.0, 50.0])[0] == [0, 1, 2, 3, 4]
    assert _levels(temperature=[39.0, 40.0, 50.0, 60.0, 70.0])[0] == [0, 1, 2, 3, 4]
    assert _levels(ceiling_temperature=[39.0, 40.0, 50.0])[0] == [0, 1, 2]
    assert _levels(o2=[19.6, 19.5, 18.0, 16.9])[0] == [0, 1, 3, 4]
    assert _levels(h2s=[4.9, 5.0, 10.0, 20.0])[0] == [0, 1, 2, 3]
    assert _levels(sump_level=[0.79, 0.8, 1.2, 1.5, 1.6])[0] == [0, 1, 2, 3, 4]
    levels, drivers = _levels(fire=[0, 1])
    assert levels == [0, 4] and drivers == ["none", "fire"]
    assert _levels(ch4=[12.0], h2s=[25.0])[1] == ["h2s"]
