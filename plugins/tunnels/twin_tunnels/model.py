"""Physics of a utility tunnel's compartments (综合管廊舱室) and of a metro station.

Each compartment between two fire walls is one well-mixed air space with a sump
(集水坑). Per tick the plugin advances, in this order: the fans (from the detectors),
the air (gases, heat, humidity, a fire and what its ceiling jet does to the detectors),
and the water in the sump. Every step is the exact solution of its ODE over the tick,
so the model is stable and tick-length independent for constant inputs.

Units: temperatures in deg C (kelvin inside the formulas that need it), flows in
m3/s, heat in W except a fire's heat release rate (kW, as fire engineering quotes it),
gases as detectors report them: CH4 in %LEL, O2 in %vol, H2S in mg/m3, CO in ppm.

Sources (MODELS.md, "Utility tunnels"):

- GB 50838-2015 城市综合管廊工程技术规范 §7.2 (ventilation: >= 6 air changes per hour
  normally and >= 12 in an emergency; the fans of a burning fire section and its
  neighbours stop) and §7.5 (the gas compartment's detectors: alarm at <= 20 %LEL, which
  starts the emergency ventilation of the section and its neighbours; emergency
  cut-off of the gas at <= 25 %LEL).
- Crowl & Louvar, Chemical Process Safety (3rd ed., 2011), ch. 3: the well-mixed,
  ventilated enclosure.
- SFPE Handbook of Fire Protection Engineering (5th ed., 2016): t-squared fires
  Q = alpha t^2 with alpha 0.00293, 0.01172, 0.0469, 0.1876 kW/s2 (slow to ultrafast);
  Huggett (1980): 13.1 MJ of heat per kg of O2 consumed.
- Li, Lei & Ingason, "The maximum temperature of buoyancy-driven smoke flow beneath the
  ceiling in tunnel fires", Fire Safety Journal 46 (2011) 204-210, and Ingason, Li &
  Lonnermark, Tunnel Fire Dynamics (Springer 2015) ch. 7: maximum ceiling gas
  temperature above a fire.
- Peacock et al., CFAST Technical Reference Guide (NIST SP 1889v1, 2023): a fire in a
  closed room burns only while the oxygen above its lower oxygen limit (15 %vol by
  default) lasts, then at the rate the supply of fresh air supports.
- McCaffrey, Quintiere & Harkleroad, Fire Technology 17 (1981) 98-119, and Walton &
  Thomas, SFPE Handbook ch. "Estimating temperatures in compartment fires": the heat a
  fire's hot gas loses into thermally thick walls, h_k = sqrt(k rho c / t) until the
  heat has crossed the wall (t_p = (rho c / k)(delta / 2)^2), k / delta after; in series
  with the convective film alpha_c = 25 W/(m2 K) of EN 1991-1-2 §3.2.1. Concrete near
  20 C (EN 1992-1-2 §3.3): k 1.6 W/(m K), rho 2300 kg/m3, c 900 J/(kg K).
- Alduchov & Eskridge (1996), J. Appl. Meteor. 35: Magnus form of the saturation vapour
  pressure of water (humidity).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from twin import piecewise_risk

# -- constants -------------------------------------------------------------------------
AIR_DENSITY = 1.2  # kg/m3, near 20 C at sea level
AIR_CP = 1005.0  # J/(kg K)
ATMOSPHERIC = 101325.0  # Pa
R = 8.314462618  # J/(mol K)
KELVIN = 273.15
GRAVITY = 9.81  # m/s2
#: methane's lower explosive limit, %vol (NFPA 497; Chinese practice; IEC 60079-20-1 gives
#: 4.4): the default of the ``tunnel.climate`` parameter ``ch4_lel``
CH4_LEL = 5.0
#: CFAST's default lower oxygen limit, %vol: the ``tunnel.climate`` parameter's default
LOWER_OXYGEN_LIMIT = 15.0
#: GB 50838-2015 §7.5: emergency ventilation at <= 20 %LEL (the ``tunnel.ventilation``
#: parameter ``emergency_on``); it stops below ``emergency_off`` (our hysteresis)
EMERGENCY_ON_LEL = 20.0
EMERGENCY_OFF_LEL = 10.0
#: O2 in outdoor air, %vol
O2_AMBIENT = 20.95
#: heat released per kg of O2 consumed, kJ/kg (Huggett 1980; SFPE Handbook)
HUGGETT = 13.1e3
O2_MOLAR_MASS = 0.032  # kg/mol
CO_MOLAR_MASS = 0.028  # kg/mol
#: CO released per kJ of fire heat, kg/kJ: yield 0.063 g/g over an effective heat of
#: combustion of 5.7 kJ/g, about Tewarson's values for PVC cable sheath (SFPE Handbook,
#: "Generation of heat and gaseous, liquid and solid products in fires"). A *default*:
#: CO is reported, not alarmed on.
CO_PER_KJ = 0.063 / 5.7e3
#: t-squared growth coefficients, kW/s2, by class 1 slow .. 4 ultrafast (SFPE Handbook)
GROWTH_CLASSES = {1: 0.00293, 2: 0.01172, 3: 0.0469, 4: 0.1876}
#: height of a cable-tray fire's base above the floor (the lowest tray), m; the effective
#: height H_ef of Li & Ingason is the ceiling height less this
FIRE_BASE_HEIGHT = 0.5
#: equivalent radius b_fo of a cable-tray fire source (about 0.8 m2), m
FIRE_SOURCE_RADIUS = 0.5
#: Li & Ingason: the maximum excess ceiling temperature levels off at about 1350 K
CEILING_EXCESS_CAP = 1350.0
#: dimensionless ventilation velocity V' between the two regimes of Li & Ingason
CRITICAL_VENTILATION = 0.19
#: walls: concrete's thermal conductivity (W/(m K)), density (kg/m3) and specific heat
#: (J/(kg K)) near 20 C (EN 1992-1-2 §3.3), the wall's thickness (m; GB 50838 tunnels
#: have 250-400 mm of reinforced concrete) and the convective film of a fire-exposed
#: surface (W/(m2 K), EN 1991-1-2 §3.2.1)
WALL_CONDUCTIVITY = 1.6
WALL_DENSITY = 2300.0
WALL_SPECIFIC_HEAT = 900.0
WALL_THICKNESS = 0.3
WALL_FILM = 25.0
#: fan modes
FAN_OFF, FAN_NORMAL, FAN_EMERGENCY = 0, 1, 2
#: methane's molar mass, kg/mol (its density at the compartment's air: p M / (R T))
CH4_MOLAR_MASS = 0.01604
#: Cw of a broad-crested sill in Q = Cw b sqrt(2 g) H^(3/2): critical depth 2H/3 over the
#: crest gives Q = (2/3)^(3/2) sqrt(g) b H^(3/2) (Henderson, Open Channel Flow, 1966, §6.6;
#: Chow, Open-Channel Hydraulics, 1959, §14-9), so Cw = (2/3)^(3/2)/sqrt(2) = 0.385. A
#: sharp crest (Rehbock; SWMM's transverse weir, 1.84 in SI) would give 0.415.
BROAD_CREST_CW = (2.0 / 3.0) ** 1.5 / math.sqrt(2.0)
#: what set a compartment's risk (``risk_driver``)
DRIVERS = ("none", "ch4", "temperature", "fire", "o2", "h2s", "water")


# -- the well-mixed box --------------------------------------------------------------------
@njit(cache=True, nogil=True)
def phi(k, z):
    """phi_k(z) of exponential integrators: phi_1 = (e^z - 1)/z, phi_2 = (e^z - 1 - z)/z^2,
    phi_3 = (e^z - 1 - z - z^2/2)/z^3 (k = 1, 2, 3); phi_k(0) = 1/k!. expm1 keeps phi_1
    exact near 0; phi_2 and phi_3 use their Taylor series there, where the closed forms
    cancel."""
    if k == 1:
        return 1.0 if z == 0.0 else math.expm1(z) / z
    if abs(z) < 0.5:
        term = 1.0
        for j in range(1, k + 1):
            term /= j
        total = term
        for j in range(1, 20):
            term *= z / (j + k)
            total += term
        return total
    if k == 2:
        return (math.expm1(z) - z) / (z * z)
    return (math.expm1(z) - z - 0.5 * z * z) / (z * z * z)


@njit(cache=True, nogil=True)
def well_mixed_step(x0, source, outflow, volume, dt):
    """Amount x (fraction, or mg/m3) of a species in a well-mixed space after ``dt`` s.

    Crowl & Louvar ch. 3, ventilated enclosure: V dx/dt = S - Q x, with the species
    source S (m3/s of gas times its fraction in what enters, or mg/s) and the air leaving
    Q (m3/s, ventilation plus the gas that enters). For constant inputs the exact
    solution is x(t) = S/Q + (x0 - S/Q) exp(-Q t/V), written here as
    x0 exp(-k) + S dt/V phi_1(-k), k = Q dt/V, which also holds as Q -> 0 (fans off).
    Inputs: x0, S, Q (m3/s), V (m3), dt (s).
    """
    k = outflow * dt / volume
    return x0 * math.exp(-k) + source * dt / volume * phi(1, -k)


@njit(cache=True, nogil=True)
def box_factors(outflow, volume, dt):
    """(exp(-k), dt/V phi_1(-k)), k = Q dt/V: :func:`well_mixed_step` is then
    x0 * first + S * second. Every species of a space shares them."""
    k = outflow * dt / volume
    # one expm1 gives both: exp(-k) = 1 + expm1(-k), phi_1(-k) = expm1(-k)/(-k)
    em = math.expm1(-k)
    return 1.0 + em, dt / volume * (em / -k if k != 0.0 else 1.0)


@njit(cache=True, nogil=True)
def heat_step(t0, a, p0, p1, p2, h):
    """Temperature after ``h`` seconds of dT/ds = -a T + p0 + p1 s + p2 s^2, exactly.

    The lumped heat balance rho cp V dT/dt = q(t) + UA (T_soil - T) + rho cp Qv (T_in - T)
    divided by rho cp V, with a heat source q polynomial in time over the step (a cable
    load and a t-squared fire). Variation of constants:
    T(h) = T0 e^(-a h) + p0 h phi_1(-a h) + p1 h^2 phi_2(-a h) + 2 p2 h^3 phi_3(-a h).
    Inputs: T0 (deg C), a (1/s), p0 (K/s), p1 (K/s2), p2 (K/s3), h (s).
    """
    z = -a * h
    em = math.expm1(z)  # exp(z) = 1 + em and phi_1(z) = em / z from one call
    t = t0 * (1.0 + em) + p0 * h * (em / z if z != 0.0 else 1.0)
    if p1 != 0.0 or p2 != 0.0:  # only while a fire grows
        t += p1 * h * h * phi(2, z) + 2.0 * p2 * h * h * h * phi(3, z)
    return t


# -- fire -----------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def fire_hrr(alpha, age, max_hrr):
    """Heat release rate (kW) of a t-squared fire ``age`` seconds after ignition:
    Q = alpha t^2 (SFPE Handbook), capped at ``max_hrr`` (kW); alpha in kW/s2."""
    return min(alpha * age * age, max_hrr)


@njit(cache=True, nogil=True)
def ceiling_excess_temperature(hrr, velocity, effective_height, source_radius, ambient):
    """Maximum excess gas temperature (K) under the ceiling above a fire in a tunnel.

    Li, Lei & Ingason (2011); Tunnel Fire Dynamics ch. 7. With the dimensionless
    ventilation velocity V' = u0 / w*, w* = (g Q / (b_fo rho0 cp T0))^(1/3):
        dT_max = Q / (u0 b_fo^(1/3) H_ef^(5/3))      for V' > 0.19,
        dT_max = 17.5 Q^(2/3) / H_ef^(5/3)            for V' <= 0.19,
    at most 1350 K. Inputs: Q (kW), longitudinal velocity u0 (m/s), H_ef (m, ceiling
    above the fire's base), b_fo (m), ambient T0 (deg C). rho0 cp in kJ/(m3 K).
    """
    if hrr <= 0.0:
        return 0.0
    h53 = effective_height ** (5.0 / 3.0)
    w_star = (GRAVITY * hrr / (source_radius * AIR_DENSITY * AIR_CP * 1e-3 * (ambient + KELVIN))) ** (1.0 / 3.0)
    if velocity > CRITICAL_VENTILATION * w_star:
        excess = hrr / (velocity * source_radius ** (1.0 / 3.0) * h53)
    else:
        excess = 17.5 * hrr ** (2.0 / 3.0) / h53
    return min(excess, CEILING_EXCESS_CAP)


@njit(cache=True, nogil=True)
def saturation_pressure(celsius):
    """Saturation vapour pressure of water over liquid (Pa), Magnus form
    e_s = 610.94 exp(17.625 T/(T + 243.04)) (Alduchov & Eskridge 1996), T in deg C."""
    return 610.94 * math.exp(17.625 * celsius / (celsius + 243.04))


@njit(cache=True, nogil=True)
def wall_conductance(fire_age, wall_area, ua):
    """Conductance (W/K) through which a compartment's air loses heat to its walls.

    Without a fire: ``ua``, the steady conduction through the wall to the soil. While a
    fire burns the walls are a heat sink first (McCaffrey, Quintiere & Harkleroad 1981;
    SFPE Handbook): h_k = sqrt(k rho c / t) for a thermally thick wall t seconds into
    the fire, k / delta once the heat has crossed it (t >= t_p = (rho c / k)(delta/2)^2),
    in series with the convective film alpha_c (EN 1991-1-2): h = 1 / (1/alpha_c + 1/h_k),
    times the wall area A_T (m2); never less than ``ua``. Radiation to the walls is left
    out, so the air stays hotter than it would: conservative for the heat detectors.
    """
    if fire_age <= 0.0:
        return ua
    penetration = WALL_DENSITY * WALL_SPECIFIC_HEAT / WALL_CONDUCTIVITY * (0.5 * WALL_THICKNESS) ** 2
    if fire_age < penetration:
        hk = math.sqrt(WALL_CONDUCTIVITY * WALL_DENSITY * WALL_SPECIFIC_HEAT / fire_age)
    else:
        hk = WALL_CONDUCTIVITY / WALL_THICKNESS
    return max(ua, wall_area / (1.0 / WALL_FILM + 1.0 / hk))


@njit(cache=True, nogil=True)
def box_surface(length, volume, ceiling_height):
    """Inner surface (m2: walls, floor and ceiling) of a box L long and H high holding V,
    its width being V / (L H)."""
    width = volume / (length * ceiling_height)
    return 2.0 * (length * width + length * ceiling_height + width * ceiling_height)


@njit(cache=True, nogil=True)
def fire_energy(alpha, age, max_hrr, dt):
    """Heat (kJ) a t-squared fire ``age`` s old releases in the next ``dt`` s, uncapped
    by oxygen: the integral of min(alpha t^2, max_hrr) dt."""
    if alpha <= 0.0:
        return 0.0
    growing = min(dt, max(0.0, math.sqrt(max_hrr / alpha) - age))
    return alpha * ((age + growing) ** 3 - age ** 3) / 3.0 + max_hrr * (dt - growing)


@njit(cache=True, nogil=True)
def advance_temperature(temperature, volume, conductance, ventilation, soil, inlet, cable_heat, alpha, age, max_hrr,
                        fire_scale, dt):
    """Air temperature (deg C) after ``dt`` and the fire's heat released in it (kJ).

    rho cp V dT/dt = q_cable + s q_fire(t) + G (T_soil - T) + rho cp Qv (T_in - T)
    (MODELS.md, lumped balance), with q_fire = alpha t^2 up to ``max_hrr``: exact over
    the growth part of the tick and over the capped part (:func:`heat_step`). ``s``
    (``fire_scale``, 0..1) is the share of that heat the oxygen allows
    (:func:`climate`); all of it goes into the air. Inputs: V (m3), G the wall
    conductance (W/K, :func:`wall_conductance`), Qv (m3/s), T_soil and T_in (deg C),
    q_cable (W), alpha (kW/s2), age of the fire at the start of the tick (s), max HRR (kW).
    """
    capacity = AIR_DENSITY * AIR_CP * volume
    flow = AIR_DENSITY * AIR_CP * ventilation
    a = (conductance + flow) / capacity
    base = (cable_heat + conductance * soil + flow * inlet) / capacity
    if alpha <= 0.0 or fire_scale <= 0.0:
        return heat_step(temperature, a, base, 0.0, 0.0, dt), 0.0
    growing = min(dt, max(0.0, math.sqrt(max_hrr / alpha) - age))
    t = temperature
    released = 0.0
    if growing > 0.0:
        w = 1000.0 * fire_scale * alpha / capacity  # kW -> W
        t = heat_step(t, a, base + w * age * age, 2.0 * w * age, w, growing)
        released += fire_scale * alpha * ((age + growing) ** 3 - age ** 3) / 3.0
    rest = dt - growing
    if rest > 0.0:
        t = heat_step(t, a, base + 1000.0 * fire_scale * max_hrr / capacity, 0.0, 0.0, rest)
        released += fire_scale * max_hrr * rest
    return t, released


@njit(cache=True, nogil=True)
def climate(temperature, humidity, o2, ch4, h2s, co, heat_release, fire_age, fire, ceiling_temperature,
            length, volume, cross_section, ceiling_height, ua, cable_heat, soil_temperature, inlet_temperature,
            inlet_humidity, air_changes, gas_ingress, h2s_emission, fire_growth, fire_max_hrr,
            detector_temperature, ch4_lel, lower_oxygen_limit, dt):
    """Advance every row's air by ``dt``: heat and fire, then gases and humidity.

    Per row: ventilation Qv = ACH V / 3600 (m3/s); the air leaving Q = Qv + Q_CH4 sets
    every species' box factors (:func:`well_mixed_step`, :func:`box_factors`):
      CH4 (fraction): S = Q_CH4 (pure methane ingress), outdoor air has none; kept in
                      %LEL of ``ch4_lel`` (%vol);
      O2 (fraction):  S = Qv 0.2095 - (tick-mean HRR / 13.1 MJ/kg) / rho_O2 (Huggett);
      H2S (mg/m3):    S = the emission from sump and sewage water (mg/s);
      CO (fraction):  S = tick-mean HRR * CO_PER_KJ / rho_CO;
      water vapour (mole fraction e/p): S = Qv e_s(T_in) RH_in / p.
    A fire burns on its t-squared curve (:func:`fire_energy`) only as far as the oxygen
    lets it (CFAST's lower oxygen limit): the O2 it may take in the tick is what would
    bring the box, by the same exact step, down to ``lower_oxygen_limit`` (%vol), so a
    compartment whose fans are stopped starves its fire, and a ventilated one feeds it
    at the rate fresh air brings O2. The temperature follows :func:`advance_temperature`
    with the walls as a heat sink (:func:`wall_conductance`, at the middle of the tick).
    Relative humidity is e / e_s(T) (at most 100 %). The fire's age advances, its HRR
    (kW, the oxygen's share of the t-squared curve at the end of the tick) is reported;
    the maximum ceiling temperature above it follows Li & Ingason
    (:func:`ceiling_excess_temperature`) with u0 = Qv / A, over the compartment's air
    (the plume entrains it) but at most 1350 K above the soil's temperature (the
    correlation's flame limit), and the fire flag latches when that temperature reaches
    the heat detector's alarm temperature (deg C).
    """
    for i in range(temperature.shape[0]):
        v = volume[i]
        qv = air_changes[i] * v / 3600.0
        t_old = temperature[i]
        kelvin = t_old + KELVIN
        vapour = 0.01 * humidity[i] * saturation_pressure(t_old) / ATMOSPHERIC
        keep, gain = box_factors(qv + gas_ingress[i], v, dt)
        x_o2 = 0.01 * o2[i]
        o2_density = ATMOSPHERIC * O2_MOLAR_MASS / (R * kelvin)  # kg/m3 of pure O2
        # oxygen: what the fuel would take, and what the box can give before the limit
        wanted = fire_energy(fire_growth[i], fire_age[i], fire_max_hrr[i], dt)
        scale = 0.0
        if wanted > 0.0:
            spare = (x_o2 * keep + qv * 0.01 * O2_AMBIENT * gain - 0.01 * lower_oxygen_limit) / gain  # m3/s of O2
            allowed = max(0.0, spare) * o2_density * HUGGETT * dt  # kJ
            scale = min(1.0, allowed / wanted)
        age_mid = fire_age[i] + 0.5 * dt if fire_growth[i] > 0.0 else 0.0
        conductance = wall_conductance(age_mid, box_surface(length[i], v, ceiling_height[i]), ua[i])
        t_new, released = advance_temperature(t_old, v, conductance, qv, soil_temperature[i], inlet_temperature[i],
                                              cable_heat[i], fire_growth[i], fire_age[i], fire_max_hrr[i], scale, dt)
        mean_hrr = released / dt
        # CH4 as a fraction of the air, kept in %LEL
        lel = 0.01 * ch4_lel
        x = lel * 0.01 * ch4[i] * keep + gas_ingress[i] * gain
        ch4[i] = 100.0 * x / lel
        o2_use = mean_hrr / HUGGETT / o2_density
        o2[i] = max(0.0, 100.0 * (x_o2 * keep + (qv * 0.01 * O2_AMBIENT - o2_use) * gain))
        h2s[i] = h2s[i] * keep + h2s_emission[i] * gain
        co_made = mean_hrr * CO_PER_KJ / (ATMOSPHERIC * CO_MOLAR_MASS / (R * kelvin))
        co[i] = co[i] * keep + 1e6 * co_made * gain
        vapour_in = 0.01 * inlet_humidity[i] * saturation_pressure(inlet_temperature[i]) / ATMOSPHERIC
        vapour = vapour * keep + qv * vapour_in * gain
        humidity[i] = min(100.0, 100.0 * vapour * ATMOSPHERIC / saturation_pressure(t_new))
        temperature[i] = t_new
        if fire_growth[i] > 0.0:
            fire_age[i] += dt
            heat_release[i] = scale * fire_hrr(fire_growth[i], fire_age[i], fire_max_hrr[i])
        else:
            heat_release[i] = 0.0
        velocity = qv / cross_section[i] if cross_section[i] > 0.0 else 0.0
        height = max(ceiling_height[i] - FIRE_BASE_HEIGHT, 0.5)
        excess = ceiling_excess_temperature(heat_release[i], velocity, height, FIRE_SOURCE_RADIUS, t_new)
        ceiling_temperature[i] = max(t_new, min(t_new + excess, soil_temperature[i] + CEILING_EXCESS_CAP))
        if ceiling_temperature[i] >= detector_temperature[i]:
            fire[i] = 1


# -- fans ----------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def fan_control(ch4, fire, neighbours, normal_ach, emergency_ach, emergency_on, emergency_off, fan_mode, air_changes):
    """Fan mode and air changes per hour of every row (GB 50838-2015 §7.2, §7.5).

    Each row with its neighbours (``neighbours[i]``: the rows of the same compartment in
    the adjacent fire sections, -1 where none): a fire detected in any of them stops the
    fans (mode 0: starve the fire, hold the smoke); else methane at ``emergency_on``
    (20 %LEL) in any of them starts emergency ventilation (mode 2), which runs until all
    of them are below ``emergency_off`` (%LEL, the hysteresis); else normal (mode 1).
    Air changes follow the mode: 0, ``normal_ach`` or ``emergency_ach`` (1/h).
    """
    for i in range(ch4.shape[0]):
        burning = fire[i] != 0
        gas = ch4[i]
        for j in range(neighbours.shape[1]):
            k = neighbours[i, j]
            if k >= 0:
                burning = burning or fire[k] != 0
                gas = max(gas, ch4[k])
        if burning:
            mode = FAN_OFF
        elif gas >= emergency_on or (fan_mode[i] == FAN_EMERGENCY and gas >= emergency_off):
            mode = FAN_EMERGENCY
        else:
            mode = FAN_NORMAL
        fan_mode[i] = mode
        if mode == FAN_EMERGENCY:
            air_changes[i] = emergency_ach[i]
        elif mode == FAN_NORMAL:
            air_changes[i] = normal_ach[i]
        else:
            air_changes[i] = 0.0


# -- sump ------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def sump_step(level, pump_on, inflow, capacity, pump_ok, sump_area, floor_area, depth, start, stop, dt):
    """Water level (m above the sump's floor) and pump state after ``dt``, exactly.

    Sump balance A dh/dt = Q_in - Q_pump (MODELS.md): the level moves linearly between
    events, which are found in closed form: the pump starts at ``start`` and stops at
    ``stop`` (m); above the sump's ``depth`` the water spreads over the floor, so A
    becomes ``floor_area`` (m2); an empty sump stays empty. A failed pump (``pump_ok``
    0) does not run. Flows in m3/s, areas in m2. Returns (level, pump_on).
    """
    if pump_ok == 0 or level <= stop:
        pump_on = 0
    elif level >= start:
        pump_on = 1
    remaining = dt
    for _ in range(16):
        if remaining <= 0.0:
            break
        net = inflow - (capacity if pump_on else 0.0)
        if net == 0.0:
            break
        area = sump_area if (level < depth or (level == depth and net < 0.0)) else floor_area
        if net > 0.0:
            target = math.inf
            if pump_ok != 0 and not pump_on and level < start:
                target = start
            if level < depth:
                target = min(target, depth)
        else:
            target = 0.0
            if pump_on and level > stop:
                target = stop
            if level > depth:
                target = max(target, depth)
        rate = net / area
        hit = (target - level) / rate
        if hit >= remaining:
            level += rate * remaining
            break
        level = target
        remaining -= hit
        if pump_ok != 0 and level == start and net > 0.0:
            pump_on = 1
        elif level == stop and net < 0.0:
            pump_on = 0
        elif level <= 0.0 and net < 0.0:
            level = 0.0
            break
    return level, pump_on


@njit(cache=True, nogil=True)
def sumps(sump_level, pump_on, water_inflow, seepage, water_ingress, pump_capacity, pump_ok, sump_area, floor_area,
          sump_depth, pump_start, pump_stop, dt):
    """Advance every row's sump by :func:`sump_step`; the inflow is seepage plus ingress (m3/s)."""
    for i in range(sump_level.shape[0]):
        inflow = seepage[i] + water_ingress[i]
        water_inflow[i] = inflow
        if sump_area[i] <= 0.0:
            continue
        level, running = sump_step(sump_level[i], pump_on[i], inflow, pump_capacity[i], pump_ok[i], sump_area[i],
                                   floor_area[i], sump_depth[i], pump_start[i], pump_stop[i], dt)
        sump_level[i] = level
        pump_on[i] = running


# -- risk ------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def compartment_risk(ch4, temperature, ceiling_temperature, fire, o2, h2s, sump_level, pump_stop, pump_start,
                     sump_high, sump_depth, ch4_levels, temperature_levels, o2_levels, h2s_levels, floor_water_i,
                     floor_water_max, risk, risk_driver):
    """Risk in [0, 1] of each compartment or station, the maximum over its indicators.

    MODELS.md, one risk convention (:func:`twin.piecewise_risk`) and the tunnels'
    default levels: CH4 (%LEL); temperature (deg C), the hotter of the air and the
    ceiling above a fire (a linear heat detector's maximum); a detected fire is risk 1
    (level I); O2 (%vol, falling); H2S (mg/m3); the sump level (m) through the row's
    own breakpoints [pump stop, pump start (IV), high (III), overflow (II), overflow +
    ``floor_water_i`` (I), overflow + ``floor_water_max``] (m of water on the floor).
    Outputs: ``risk`` and ``risk_driver``, the index in :data:`DRIVERS` of the
    indicator that set it.
    """
    sump_levels = np.empty(6)
    for i in range(risk.shape[0]):
        best = 0.0
        driver = 0
        r = piecewise_risk(ch4[i], ch4_levels)
        if r > best:
            best, driver = r, 1
        r = piecewise_risk(max(temperature[i], ceiling_temperature[i]), temperature_levels)
        if r > best:
            best, driver = r, 2
        if fire[i] != 0:
            best, driver = 1.0, 3
        r = piecewise_risk(o2[i], o2_levels)
        if r > best:
            best, driver = r, 4
        r = piecewise_risk(h2s[i], h2s_levels)
        if r > best:
            best, driver = r, 5
        if sump_depth[i] > 0.0:
            # a row's own levels; forced strictly rising so a bad scene cannot divide by zero
            sump_levels[0] = pump_stop[i]
            sump_levels[1] = max(pump_start[i], sump_levels[0] + 1e-3)
            sump_levels[2] = max(sump_high[i], sump_levels[1] + 1e-3)
            sump_levels[3] = max(sump_depth[i], sump_levels[2] + 1e-3)
            sump_levels[4] = sump_levels[3] + floor_water_i
            sump_levels[5] = sump_levels[3] + max(floor_water_max, floor_water_i + 1e-3)
            r = piecewise_risk(sump_level[i], sump_levels)
            if r > best:
                best, driver = r, 6
        risk[i] = best
        risk_driver[i] = driver


# -- step functions (the updaters) ---------------------------------------------------------
def neighbour_rows(world, domain):
    """Rows of the same compartment in the adjacent fire sections, from the scene's links
    (built once per world; -1 where there is none)."""
    def build():
        table = world.tables[domain]
        rows = np.full((len(table), 2), -1, dtype=np.int64)
        for asset in world.scene.assets.get(domain, []):
            row = table.index[asset.id]
            linked = [table.index[a] for a in asset.links if a in table.index and
                      table.kind[table.index[a]] == table.kind[row]][:2]
            rows[row, : len(linked)] = linked
        return rows
    return world.memo(("tunnel.neighbours", domain), build)


def step_ventilation(ctx):
    """Updater: fan modes and air changes from the detectors (:func:`fan_control`) at the
    set points ``ctx.params["emergency_on"]`` and ``["emergency_off"]`` (%LEL); fans
    without power (coupling ``tunnel.power``) stand still."""
    t = ctx.table
    fan_control(t["ch4"], t["fire"], neighbour_rows(ctx.world, ctx.domain), t["normal_ach"], t["emergency_ach"],
                ctx.params["emergency_on"], ctx.params["emergency_off"], t["fan_mode"], t["air_changes"])
    dark = np.flatnonzero(t["powered"] == 0)
    if len(dark):
        t["fan_mode"][dark] = FAN_OFF
        t["air_changes"][dark] = 0.0


def step_climate(ctx):
    """Updater: heat, fire, gases and humidity of every row (:func:`climate`)."""
    t = ctx.table
    methane = t["gas_ingress"] + t["gas_from_mains"]  # the action's leak and the mains' (coupling)
    climate(t["temperature"], t["humidity"], t["o2"], t["ch4"], t["h2s"], t["co"], t["heat_release"], t["fire_age"],
            t["fire"], t["ceiling_temperature"], t["length"], t["volume"], t["cross_section"], t["ceiling_height"],
            t["ua"], t["cable_heat"], t["soil_temperature"], t["inlet_temperature"], t["inlet_humidity"],
            t["air_changes"], methane, t["h2s_emission"], t["fire_growth"], t["fire_max_hrr"],
            t["detector_temperature"], ctx.params["ch4_lel"], ctx.params["lower_oxygen_limit"], ctx.dt)


def step_sumps(ctx):
    """Updater: sump levels and pumps (:func:`sumps`). Water enters as seepage, ingress
    (``tunnel.water_ingress``) and street water over the opening's sill (coupling
    ``tunnel.street_water``); a pump runs only if it is sound and has power."""
    t = ctx.table
    sumps(t["sump_level"], t["pump_on"], t["water_inflow"], t["seepage"], t["water_ingress"] + t["flood_inflow"],
          t["pump_capacity"], np.minimum(t["pump_ok"], t["powered"]), t["sump_area"], t["floor_area"],
          t["sump_depth"], t["pump_start"], t["pump_stop"], ctx.dt)


# -- couplings (MODELS.md "Couplings across domains") ----------------------------------------
def _link_pairs(world, domain, other, kinds, own_kinds):
    """(own row, other row) for each asset of ``domain`` (of ``own_kinds``, all if empty)
    that links an asset of ``other`` of ``kinds``; the first such link counts."""
    table, target = world.tables[domain], world.tables[other]
    own, theirs = [], []
    for asset in world.scene.assets.get(domain, []):
        if own_kinds and asset.kind not in own_kinds:
            continue
        for link in asset.links:
            row = target.index.get(link)
            if row is not None and target.kind_names[target.kind[row]] in kinds:
                own.append(table.index[asset.id])
                theirs.append(int(row))
                break
    return np.asarray(own, dtype=np.int64), np.asarray(theirs, dtype=np.int64)


def _main_pairs(world):
    """(compartment row, main row) for each gas main that links a gas compartment."""
    mains, compartments = _link_pairs(world, "gas", "tunnel", ("gas_compartment",), ("main",))
    return compartments, mains


def step_gas_mains(ctx):
    """Coupling gas -> tunnel (MODELS.md coupling 2): the leak of a main in a gas
    compartment enters the compartment's air, Q = eta m / rho with eta = 1 (the main lies
    in the compartment's air: nothing is held back by soil) and rho = pa M / (R T) at the
    compartment's temperature (m3/s of pure methane). A closed, blown-down main leaks
    nothing (the gas plugin's ``gas.tunnel_cutoff`` and ``gas.supply``)."""
    compartments, mains = ctx.world.memo(("tunnel", "gas mains"), lambda: _main_pairs(ctx.world))
    t = ctx.table
    if not len(compartments):
        return
    leak = ctx.tables["gas"]["leak_rate"][mains]
    density = ATMOSPHERIC * CH4_MOLAR_MASS / (R * (t["temperature"][compartments] + KELVIN))
    inflow = np.zeros(len(t))
    np.add.at(inflow, compartments, leak / density)
    t["gas_from_mains"][compartments] = inflow[compartments]


@njit(cache=True, nogil=True)
def weir_inflow(ponded_depth, sill_height, opening_width, weir_coefficient):
    """Street water pouring over an opening's sill (m3/s), MODELS.md coupling 3:
    Q = Cw b sqrt(2 g) (dp - h_sill)^(3/2) when the ponding dp (m above the street)
    tops the sill h_sill (m); b the opening's width (m), Cw the weir coefficient
    (:data:`BROAD_CREST_CW`). Zero otherwise."""
    head = ponded_depth - sill_height
    if head <= 0.0 or opening_width <= 0.0:
        return 0.0
    return weir_coefficient * opening_width * math.sqrt(2.0 * GRAVITY) * head ** 1.5


@njit(cache=True, nogil=True)
def weir_inflows(rows, nodes, ponded_depth, sill_height, opening_width, weir_coefficient, flood_inflow):
    for j in range(rows.shape[0]):
        i = rows[j]
        flood_inflow[i] = weir_inflow(ponded_depth[nodes[j]], sill_height[i], opening_width[i], weir_coefficient[i])


def street_openings(world):
    """(tunnel row, drainage manhole row) of every station or compartment that opens
    onto the street beside a drainage manhole (it links the manhole)."""
    return world.memo(("tunnel", "street openings"),
                      lambda: _link_pairs(world, "tunnel", "drainage", ("manhole",), ()))


def step_street_water(ctx):
    """Coupling drainage -> tunnel (MODELS.md coupling 3): :func:`weir_inflow` from the
    ponding at the linked manhole into the sump (``flood_inflow``; the drainage plugin
    takes the same water off its street)."""
    rows, nodes = street_openings(ctx.world)
    if not len(rows):
        return
    t = ctx.table
    weir_inflows(rows, nodes, ctx.tables["drainage"]["ponded_depth"], t["sill_height"], t["opening_width"],
                 t["weir_coefficient"], t["flood_inflow"])


@njit(cache=True, nogil=True)
def power_network(fire, sump_level, sump_depth, feeder, powered):
    """Which rows' fans and pumps have power (MODELS.md coupling 4), a boolean network:

        lost(r)    = fire(r) or sump_level(r) > sump_depth(r)    (a detected fire burns
                     the cables; water on the floor drowns motors and control boxes)
        powered(r) = not lost(r) and not lost(feeder(r))

    ``feeder[r]`` is the power compartment whose section distribution panel feeds row r
    (a water or gas compartment of the same fire section; -1 for a power compartment
    itself and for a metro station, which has its own substation). Nothing comes back by
    itself: a fire stays detected until ``tunnel.extinguish``, and a flooded sump whose
    pumps lost power only fills (so a flood can become worse)."""
    for r in range(fire.shape[0]):
        lost = fire[r] != 0 or sump_level[r] > sump_depth[r]
        f = feeder[r]
        if f >= 0:
            lost = lost or fire[f] != 0 or sump_level[f] > sump_depth[f]
        powered[r] = 0 if lost else 1


def feeder_rows(world, domain):
    """The power compartment feeding each row (see :func:`power_network`): the power
    compartment a water or gas compartment links (its own section's)."""
    def build():
        table = world.tables[domain]
        feeder = np.full(len(table), -1, dtype=np.int64)
        own, power = _link_pairs(world, domain, domain, ("power_compartment",), ("water_compartment", "gas_compartment"))
        feeder[own] = power
        return feeder
    return world.memo(("tunnel", "feeders", domain), build)


def step_power(ctx):
    """Coupling tunnel -> tunnel (MODELS.md coupling 4): :func:`power_network`."""
    t = ctx.table
    power_network(t["fire"], t["sump_level"], t["sump_depth"], feeder_rows(ctx.world, ctx.domain), t["powered"])
