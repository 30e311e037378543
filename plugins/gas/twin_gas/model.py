"""Physics of a gas leak: from the hole in a main, through the soil, into the spaces beside it.

Units are SI (Pa absolute, K, m, kg/s, m3/s) except the concentrations, which the
fields keep in %vol (``ch4``) and %LEL (``lel``) as detectors report them. The gas is
taken as methane, which is more than 90 % of the natural gas Chinese cities distribute.

Sources (MODELS.md, "Gas"):

- TNO Yellow Book, CPR 14E (3rd ed., 2005), ch. 2 "Outflow and spray release";
  CCPS, Guidelines for Consequence Analysis of Chemical Releases (1999);
  Crowl & Louvar, Chemical Process Safety (3rd ed., 2011), ch. 4 (source models: gas
  through holes, discharge of a vessel) and ch. 3 (well-mixed enclosures).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from twin import piecewise_risk

R = 8.314462618  # J/(mol K), molar gas constant (CODATA 2018)
ATMOSPHERIC = 101325.0  # Pa
METHANE_K = 1.31  # cp/cv of methane near 15 C
METHANE_M = 0.01604  # kg/mol
METHANE_Z = 1.0  # compressibility: 0.99 at 0.5 MPa and 15 C, so ideal gas
#: Cd of a sharp-edged hole (TNO Yellow Book); also used for an open vent riser
SHARP_HOLE_CD = 0.62
#: pa/p1 at and below which the flow through a hole is choked (0.544 for methane)
CRITICAL_PRESSURE_RATIO = (2.0 / (METHANE_K + 1.0)) ** (METHANE_K / (METHANE_K - 1.0))
#: a flooded space keeps this share of its volume as air (the box model needs V_air > 0)
MIN_AIR_SHARE = 0.01

#: ``time_to_lel`` saturates here (one day): no arrival predicted within it
NO_PREDICTION = 86400.0

SPACE_KINDS = ("manhole", "valve_well", "cable_vault", "sewer_segment")

#: Exchange between neighbouring spaces (MODELS.md coupling 1): a *default* effective
#: dispersion coefficient of methane along a sewer's air space, m2/s. The generator sets
#: k = E A_air / L per sewer segment (Fickian exchange between two well-mixed boxes whose
#: centres are L apart through the pipe's free section A_air). E is a calibration value:
#: air in a gravity sewer moves at a few cm/s to tenths of m/s (wastewater drag, stack
#: and wind effects; Pescod & Price 1982; Ward et al., WERF 2011), so E = 0.05 m2/s is a
#: modest, round figure, not a measured one.
SEWER_DISPERSION = 0.05
#: GB 50838-2015 §7.5: the gas main of a utility tunnel's gas compartment is shut off at
#: no more than 25 %LEL in the compartment (the default of the ``gas.tunnel_cutoff``
#: parameter ``cutoff``; MODELS.md read 35, the standard's text says 25)
TUNNEL_CUTOFF_LEL = 25.0


# -- leak through a hole ---------------------------------------------------------------
@njit(cache=True, nogil=True)
def orifice_mass_flux(p1, pa, temperature):
    """Mass flow of methane per unit effective hole area Cd*A, kg/(s m2).

    TNO Yellow Book (CPR 14E) ch. 2, gas outflow through a hole; Crowl & Louvar ch. 4.
    Inputs: upstream pressure ``p1`` and ambient ``pa`` (Pa abs), gas temperature (K).
    Choked when pa/p1 <= (2/(k+1))^(k/(k-1)):
        G = p1 * sqrt(k M/(Z R T) * (2/(k+1))^((k+1)/(k-1)))
    otherwise, with r = pa/p1,
        G = p1 * sqrt(2 M/(Z R T) * k/(k-1) * (r^(2/k) - r^((k+1)/k))).
    No flow when p1 <= pa.
    """
    if not p1 > pa:
        return 0.0
    k = METHANE_K
    density_factor = METHANE_M / (METHANE_Z * R * temperature)
    r = pa / p1
    if r <= CRITICAL_PRESSURE_RATIO:
        return p1 * math.sqrt(k * density_factor * (2.0 / (k + 1.0)) ** ((k + 1.0) / (k - 1.0)))
    return p1 * math.sqrt(2.0 * density_factor * k / (k - 1.0) * (r ** (2.0 / k) - r ** ((k + 1.0) / k)))


@njit(cache=True, nogil=True)
def leak_mass_flow(pressure, temperature, leak_diameter, discharge_coefficient, leak_rate):
    """Leak mass flow (kg/s) of every row with a hole: m = Cd * (pi/4) d^2 * G(p1, pa, T).

    Inputs: ``pressure`` (Pa abs), ``temperature`` (K), ``leak_diameter`` d (m),
    ``discharge_coefficient`` Cd (0.62 for a sharp-edged hole, TNO Yellow Book).
    Output: ``leak_rate`` (kg/s), zero where d = 0.
    """
    for i in range(pressure.shape[0]):
        d = leak_diameter[i]
        if d > 0.0:
            area = 0.25 * math.pi * d * d
            leak_rate[i] = discharge_coefficient[i] * area * orifice_mass_flux(pressure[i], ATMOSPHERIC, temperature[i])
        else:
            leak_rate[i] = 0.0


@njit(cache=True, nogil=True)
def blow_down(p, temperature, section_volume, effective_area, dt):
    """Pressure (Pa abs) of an isolated section of main after ``dt`` seconds of venting.

    Crowl & Louvar ch. 4, discharge of a gas from a vessel, isothermal: the gas in the
    section, m = p V M/(Z R T), leaves through the effective area Cd*A (its leak plus
    the vent riser opened when it was isolated):
        V M/(Z R T) dp/dt = -Cd A G(p).
    Stepped as p <- p exp(-dt Z R T Cd A G(p) / (V M p)): exact while the outflow is
    choked (G is then proportional to p, so p = p0 exp(-t/tau) with
    tau = V M/(Z R T Cd A psi)); first order in dt below; never under atmospheric.
    Inputs: section volume (m3), effective area Cd*A (m2), temperature (K).
    """
    if effective_area <= 0.0 or section_volume <= 0.0 or p <= ATMOSPHERIC:
        return p
    rate = METHANE_Z * R * temperature * effective_area * orifice_mass_flux(p, ATMOSPHERIC, temperature)
    rate /= section_volume * METHANE_M * p
    return max(ATMOSPHERIC, p * math.exp(-rate * dt))


@njit(cache=True, nogil=True)
def supply_pressure(main_rows, valve_rows, valve_mains, valve_open, vent_diameter, operating_pressure,
                    temperature, leak_diameter, discharge_coefficient, section_volume, vent_area, pressure, dt):
    """Pressure (Pa abs) of every main after ``dt``.

    A main is isolated when a valve that links to it is closed; closing a valve also
    opens its vent riser (放散管, a sharp orifice of ``vent_diameter``), as crews do when
    they isolate a leaking section (CJJ 51-2016, 城镇燃气设施运行、维护和抢修安全技术规程).
    An isolated main blows down through its leak and the riser (:func:`blow_down`); a
    supplied one is held at its operating pressure by the regulators upstream.
    ``vent_area`` is scratch space of one value per row.
    """
    for i in main_rows:
        vent_area[i] = -1.0  # supplied
    for j in range(valve_rows.shape[0]):
        v = valve_rows[j]
        if valve_open[v] == 0:
            m = valve_mains[j]
            d = vent_diameter[v]
            vent_area[m] = max(vent_area[m], 0.0) + SHARP_HOLE_CD * 0.25 * math.pi * d * d
    for i in main_rows:
        if vent_area[i] < 0.0:
            pressure[i] = operating_pressure[i]
        else:
            d = leak_diameter[i]
            area = vent_area[i] + discharge_coefficient[i] * 0.25 * math.pi * d * d
            pressure[i] = blow_down(pressure[i], temperature[i], section_volume[i], area, dt)


# -- from the main into the spaces beside it -------------------------------------------
@njit(cache=True, nogil=True)
def migrate(link_spaces, link_mains, migration_share, leak_rate, temperature, gas_inflow):
    """Gas inflow (m3/s at ambient conditions) of each space from the mains it lies beside.

    MODELS.md coupling 1: the space receives the share eta of each linked main's leak
    that migrates through the soil, as a volume Q = eta * m / rho with
    rho = pa M/(Z R T) the methane density at the space's temperature.
    Inputs: link pairs (space row, main row), ``migration_share`` eta (-),
    ``leak_rate`` m (kg/s), ``temperature`` (K). Output: ``gas_inflow`` (m3/s).
    """
    for j in range(link_spaces.shape[0]):
        gas_inflow[link_spaces[j]] = 0.0
    for j in range(link_spaces.shape[0]):
        s = link_spaces[j]
        density = ATMOSPHERIC * METHANE_M / (METHANE_Z * R * temperature[s])
        gas_inflow[s] += migration_share[s] * leak_rate[link_mains[j]] / density


@njit(cache=True, nogil=True)
def air_volume(volume, floor_area, water_level):
    """Air volume of a space (m3): V_air = V - A h, never below MIN_AIR_SHARE of V."""
    return max(volume - floor_area * water_level, MIN_AIR_SHARE * volume)


@njit(cache=True, nogil=True)
def well_mixed_step(c0, inflow, ventilation, c_in, v_air, dt):
    """Gas fraction of a well-mixed space after ``dt`` seconds, exactly.

    Crowl & Louvar ch. 3 (ventilated enclosure): V dC/dt = Qg - (Qg + Qv) C + Qv C_in,
    with C_in the gas fraction of the ventilation air (a sewer's biogas, else 0). For
    constant inputs C(t) = Css + (C0 - Css) exp(-t/tau), Css = (Qg + Qv C_in)/(Qg + Qv),
    tau = V/(Qg + Qv): stable at any tick length. Inputs: fractions (-), flows (m3/s),
    air volume (m3), dt (s).
    """
    q = inflow + ventilation
    if q <= 0.0 or v_air <= 0.0:
        return c0
    steady = (inflow + ventilation * c_in) / q
    return steady + (c0 - steady) * math.exp(-dt * q / v_air)


@njit(cache=True, nogil=True)
def time_to_reach(c_target, c0, inflow, ventilation, c_in, v_air):
    """Seconds until a well-mixed space reaches the fraction ``c_target`` (inf if never).

    Inverts the exact solution of :func:`well_mixed_step` (MODELS.md, Gas):
    t* = -tau ln((Css - C*)/(Css - C0)) when Css > C*; 0 if already there.
    """
    if c0 >= c_target:
        return 0.0
    q = inflow + ventilation
    if q <= 0.0 or v_air <= 0.0:
        return math.inf
    steady = (inflow + ventilation * c_in) / q
    if steady <= c_target:
        return math.inf
    return -(v_air / q) * math.log((steady - c_target) / (steady - c0))


@njit(cache=True, nogil=True)
def accumulate(space_rows, ch4, gas_inflow, ventilation, volume, floor_area, water_level, background_ch4, dt):
    """Advance ``ch4`` (%vol) of each space by ``dt`` with :func:`well_mixed_step`.

    Inputs: ``gas_inflow`` and ``ventilation`` (m3/s), ``volume`` (m3), ``floor_area``
    (m2), ``water_level`` (m), ``background_ch4`` (%vol, a sewer's biogas).
    """
    for i in space_rows:
        v_air = air_volume(volume[i], floor_area[i], water_level[i])
        c = well_mixed_step(0.01 * ch4[i], gas_inflow[i], ventilation[i], 0.01 * background_ch4[i], v_air, dt)
        ch4[i] = 100.0 * c


@njit(cache=True, nogil=True)
def exchange(pair_a, pair_b, pair_k, pair_share_row, ch4, volume, floor_area, water_level, dt):
    """Gas exchanged between neighbouring spaces over ``dt`` (MODELS.md coupling 1).

    Each pair (a, b) exchanges k (Ca - Cb) m3/s of methane, k the pair's exchange
    conductance (m3/s), scaled by the air share V_air/V of the space that declared the
    link (a sewer running full carries no air). For one pair alone the exact solution
    keeps the methane Va Ca + Vb Cb and lets the difference decay:
        Ca - Cb = (Ca0 - Cb0) exp(-k (1/Va + 1/Vb) t),
    which is applied pair after pair in a fixed order (a Lie splitting): each update is
    exact for its pair, conserves methane and never overshoots, so the whole step is
    stable at any tick length and deterministic. Volumes are air volumes (m3),
    concentrations %vol (updated in place).
    """
    for j in range(pair_a.shape[0]):
        a = pair_a[j]
        b = pair_b[j]
        s = pair_share_row[j]
        va = air_volume(volume[a], floor_area[a], water_level[a])
        vb = air_volume(volume[b], floor_area[b], water_level[b])
        k = pair_k[j] * air_volume(volume[s], floor_area[s], water_level[s]) / volume[s]
        if k <= 0.0:
            continue
        total = va * ch4[a] + vb * ch4[b]
        diff = (ch4[a] - ch4[b]) * math.exp(-k * (1.0 / va + 1.0 / vb) * dt)
        ch4[a] = (total + vb * diff) / (va + vb)
        ch4[b] = (total - va * diff) / (va + vb)


# -- risk ------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def space_gas_risk(ch4, background_ch4, gas_inflow, ventilation, volume, floor_area, water_level,
                   lel_volume_percent, breakpoints, horizon, lel, risk, time_to_lel):
    """Explosion risk of each space from its methane, in [0, 1] (MODELS.md convention).

    Inputs: ``ch4`` (%vol), ``background_ch4`` (%vol, subtracted: sewers hold biogas),
    the box model's inputs (m3/s, m3, m2, m). Params: ``lel_volume_percent`` (%vol),
    ``breakpoints`` in net %LEL [normal, IV, III, II, I, max], ``horizon`` (s).
    Outputs: ``lel`` (%LEL, gross), ``time_to_lel`` (s until 100 %LEL from the known
    source, at most NO_PREDICTION), ``risk``: piecewise through the breakpoints, raised to the
    level-I risk when 100 %LEL is predicted within ``horizon``. The prediction needs the
    source: the twin knows it only where the leak is modelled or measured, so a space
    whose gas it only sees through a detector is judged on its %LEL alone.
    """
    level_one = piecewise_risk(breakpoints[4], breakpoints)
    for i in range(ch4.shape[0]):
        lel[i] = 100.0 * ch4[i] / lel_volume_percent
        r = piecewise_risk(100.0 * (ch4[i] - background_ch4[i]) / lel_volume_percent, breakpoints)
        t = math.inf
        if volume[i] > 0.0:
            v_air = air_volume(volume[i], floor_area[i], water_level[i])
            t = time_to_reach(0.01 * lel_volume_percent, 0.01 * ch4[i], gas_inflow[i], ventilation[i],
                              0.01 * background_ch4[i], v_air)
        time_to_lel[i] = min(t, NO_PREDICTION)
        if t <= horizon and r < level_one:
            r = level_one
        risk[i] = r


# -- topology and the step functions the updaters name ---------------------------------
@dataclass(frozen=True)
class Topology:
    """Row lookups of one world, built once (``world.memo``)."""

    main_rows: np.ndarray
    space_rows: np.ndarray
    #: a closed valve ``valve_rows[j]`` isolates main ``valve_mains[j]``
    valve_rows: np.ndarray
    valve_mains: np.ndarray
    #: space ``link_spaces[j]`` lies beside main ``link_mains[j]``
    link_spaces: np.ndarray
    link_mains: np.ndarray
    #: gas volume of each main (m3): pi/4 D^2 times its length along the geometry
    section_volume: np.ndarray
    scratch: np.ndarray
    #: neighbouring spaces: space ``pair_a[j]`` names space ``pair_b[j]`` in its links and
    #: they exchange ``pair_k[j]`` m3/s (its ``exchange``), scaled by the air share of
    #: ``pair_share_row[j]`` (the declaring space)
    pair_a: np.ndarray
    pair_b: np.ndarray
    pair_k: np.ndarray
    pair_share_row: np.ndarray


def topology(world) -> Topology:
    return world.memo(("gas", "topology"), lambda: _build_topology(world))


def _build_topology(world) -> Topology:
    table = world.tables["gas"]
    assets = world.scene.assets.get("gas", [])
    kind_of = {a.id: a.kind for a in assets}
    pairs: dict[str, tuple[list[int], list[int]]] = {"valve": ([], []), "space": ([], []), "neighbour": ([], [])}
    section_volume = np.zeros(len(table))
    for row, asset in enumerate(assets):
        if asset.kind == "main":
            xyz = np.asarray(asset.geometry["coordinates"], dtype=float)
            length = float(np.linalg.norm(np.diff(xyz, axis=0), axis=1).sum())
            section_volume[row] = 0.25 * math.pi * table["diameter"][row] ** 2 * length
            continue
        group = "valve" if asset.kind == "valve" else "space"
        seen = set()
        for link in asset.links:
            if kind_of.get(link) == "main":  # links to other domains' assets are not ours
                pairs[group][0].append(row)
                pairs[group][1].append(table.index[link])
            elif group == "space" and kind_of.get(link) in SPACE_KINDS and link not in seen and link != asset.id:
                seen.add(link)  # a neighbouring space: they exchange gas
                pairs["neighbour"][0].append(row)
                pairs["neighbour"][1].append(table.index[link])

    def rows(values: list[int]) -> np.ndarray:
        return np.asarray(values, dtype=np.int64)

    pair_a, pair_b = rows(pairs["neighbour"][0]), rows(pairs["neighbour"][1])
    return Topology(
        table.rows("main"), table.rows(*SPACE_KINDS),
        rows(pairs["valve"][0]), rows(pairs["valve"][1]), rows(pairs["space"][0]), rows(pairs["space"][1]),
        section_volume, np.zeros(len(table)),
        pair_a, pair_b, table["exchange"][pair_a].astype(np.float64), pair_a.copy(),
    )


def _start_at_background(table, space_rows: np.ndarray) -> bool:
    table["ch4"][space_rows] = table["background_ch4"][space_rows]
    return True


def step_supply(ctx) -> None:
    """Updater: valves -> which mains are supplied -> main pressure (see supply_pressure)."""
    t, topo = ctx.table, topology(ctx.world)
    supply_pressure(topo.main_rows, topo.valve_rows, topo.valve_mains, t["valve_open"], t["vent_diameter"],
                    t["operating_pressure"], t["temperature"], t["leak_diameter"], t["discharge_coefficient"],
                    topo.section_volume, topo.scratch, t["pressure"], ctx.dt)


def step_leaks(ctx) -> None:
    """Updater: leak mass flow of every main with a hole (see leak_mass_flow)."""
    t = ctx.table
    leak_mass_flow(t["pressure"], t["temperature"], t["leak_diameter"], t["discharge_coefficient"], t["leak_rate"])


def step_spaces(ctx) -> None:
    """Updater: gas migrates into the spaces beside leaking mains and accumulates there.

    A space starts at its background methane (a sewer holds biogas before any leak).
    """
    t, topo = ctx.table, topology(ctx.world)
    ctx.world.memo(("gas", "spaces start at background"), lambda: _start_at_background(t, topo.space_rows))
    migrate(topo.link_spaces, topo.link_mains, t["migration_share"], t["leak_rate"], t["temperature"], t["gas_inflow"])
    accumulate(topo.space_rows, t["ch4"], t["gas_inflow"], t["ventilation"], t["volume"], t["floor_area"],
               t["water_level"], t["background_ch4"], ctx.dt)
    if len(topo.pair_a):
        exchange(topo.pair_a, topo.pair_b, topo.pair_k, topo.pair_share_row, t["ch4"], t["volume"], t["floor_area"],
                 t["water_level"], ctx.dt)


# -- couplings (MODELS.md "Couplings across domains") ----------------------------------
@dataclass(frozen=True)
class WaterLinks:
    """Gas spaces linked to a drainage asset: a manhole takes its node's depth, a sewer
    segment its pipe's depth (fill times diameter)."""

    node_spaces: np.ndarray
    node_rows: np.ndarray
    pipe_spaces: np.ndarray
    pipe_rows: np.ndarray


def _water_links(world) -> WaterLinks:
    gas, drainage = world.tables["gas"], world.tables["drainage"]
    found: dict[str, tuple[list[int], list[int]]] = {"node": ([], []), "pipe": ([], [])}
    for row, asset in enumerate(world.scene.assets.get("gas", [])):
        if asset.kind not in SPACE_KINDS:
            continue
        for link in asset.links:
            drow = drainage.index.get(link)
            if drow is None:
                continue
            kind = drainage.kind_names[drainage.kind[drow]]
            group = "pipe" if kind == "pipe" else "node"
            found[group][0].append(row)
            found[group][1].append(int(drow))
            break  # one drainage asset per space: the first named

    def rows(values: list[int]) -> np.ndarray:
        return np.asarray(values, dtype=np.int64)

    return WaterLinks(rows(found["node"][0]), rows(found["node"][1]), rows(found["pipe"][0]), rows(found["pipe"][1]))


def step_sewer_water(ctx) -> None:
    """Coupling drainage -> gas: the water standing in a drainage manhole or pipe is the
    water level of the gas space linked to it, which takes air volume away
    (V_air = V - A h, :func:`air_volume`). Runs after the kernels: the gas updaters use
    it from the next tick."""
    links = ctx.world.memo(("gas", "water links"), lambda: _water_links(ctx.world))
    gas, drainage = ctx.table, ctx.tables["drainage"]
    level = gas["water_level"]
    if len(links.node_spaces):
        level[links.node_spaces] = np.clip(drainage["depth"][links.node_rows], 0.0, 50.0)
    if len(links.pipe_spaces):
        fill = np.clip(drainage["fill"][links.pipe_rows].astype(np.float64), 0.0, 1.0)
        level[links.pipe_spaces] = fill * drainage["diameter"][links.pipe_rows]


@dataclass(frozen=True)
class TunnelMains:
    """Mains that run in a tunnel's gas compartment (a main links the compartment), and
    the valves that isolate them."""

    compartment_rows: np.ndarray
    valve_rows: np.ndarray


def _tunnel_mains(world) -> TunnelMains:
    gas, tunnel = world.tables["gas"], world.tables["tunnel"]
    assets = world.scene.assets.get("gas", [])
    compartment_of: dict[str, int] = {}
    for asset in assets:
        if asset.kind == "main":
            for link in asset.links:
                row = tunnel.index.get(link)
                if row is not None and tunnel.kind_names[tunnel.kind[row]] == "gas_compartment":
                    compartment_of[asset.id] = int(row)
                    break
    compartments, valves = [], []
    for asset in assets:
        if asset.kind == "valve":
            for link in asset.links:
                if link in compartment_of:
                    compartments.append(compartment_of[link])
                    valves.append(gas.index[asset.id])
    return TunnelMains(np.asarray(compartments, dtype=np.int64), np.asarray(valves, dtype=np.int64))


def step_tunnel_cutoff(ctx) -> None:
    """Coupling tunnel -> gas (GB 50838-2015 §7.5, MODELS.md coupling 2): methane at
    ``ctx.params["cutoff"]`` (25 %LEL) in a tunnel's gas compartment closes the valves of the
    mains that run in it. The valve only closes here (an operator reopens it with
    ``gas.open_valve``); the isolated main then blows down through its leak and vent
    (:func:`supply_pressure`), so the source into the compartment falls to zero."""
    mains = ctx.world.memo(("gas", "tunnel mains"), lambda: _tunnel_mains(ctx.world))
    if not len(mains.valve_rows):
        return
    high = ctx.tables["tunnel"]["ch4"][mains.compartment_rows] >= ctx.params["cutoff"]
    if high.any():
        ctx.table["valve_open"][mains.valve_rows[high]] = 0
