"""Low-impact development (LID) controls as SWMM 5.2 computes them: permeable pavement,
green roofs, bio-retention cells, rain gardens, infiltration trenches, rain barrels and
rooftop disconnection placed in subcatchments ([LID_CONTROLS], [LID_USAGE]).

Source: SWMM 5.2.4's lid.c and lidproc.c (Build 5.2.4, 07/13/23) and Rossman & Huber,
SWMM Reference Manual Vol. III – Water Quality (EPA/600/R-16/093), ch. 6 (LIDs):

- lid.c: an LID unit takes its area out of its subcatchment (the subareas and their
  overland flow use the non-LID area, validateLidGroup / subcatch_validate); it
  receives rain, the shares FromImp and FromPerv of the runoff that the non-LID
  impervious and pervious areas send to the outlet (getImpervAreaRunoff /
  getPervAreaRunoff) and, when the LIDs fill the subcatchment, its run-on
  (lid_getRunoff); its surface outflow joins the subcatchment's runoff or, with ToPerv,
  returns to the pervious area the next step (evalLidUnit, subcatch_getRunon); its
  underdrain flow goes to DrainTo (the subcatchment's outlet by default), interpolated
  between runoff steps like runoff (lid_addDrainInflow) or, to a subcatchment, as run-on
  the next step (lid_addDrainRunon).
- lidproc.c: each unit's layers (surface, pavement, soil, storage or drainage mat) are
  moisture levels advanced by explicit Euler over the runoff step (modpuls_solve with
  omega 0) from flux rates that each type's function computes (pavementFluxRates,
  greenRoofFluxRates, biocellFluxRates, trenchFluxRates, barrelFluxRates,
  roofFluxRates), with SWMM's limits for full and adjoining saturated layers; the
  surface infiltrates into a soil layer by modified Green-Ampt (grnampt_getInfil).

A vegetative swale (swaleFluxRates) is a trapezoidal channel whose level is solved by
modified Puls (omega 0.5, iterated to 1 mm) and which infiltrates at the native soil's
rate (findNativeInfil: the pervious subarea's, or the subcatchment's infiltration model
on the swale's water) or, on Green-Ampt subcatchments, by its own Green-Ampt state.
An underdrain's control curve multiplies its flow by the curve's value at the head (in
the file's units, held at its end values beyond them: table_lookup). Evaporation is
zero, as in the rest of the twin's hydrology. Units are SI (m, m/s, m²); the underdrain equation
q = C·(h - Hd)^n is evaluated in the file's units (in and in/h, or mm and mm/h) as SWMM
does, with the factors kept per unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from twin_drainage import _numba_cache  # noqa: F401 - before any kernel: the package-wide cache key
from twin_drainage import hydrology

FOOT = 0.3048
#: LID types (SWMM's LidTypeWords order)
BIO_CELL, RAIN_GARDEN, GREEN_ROOF, INFIL_TRENCH, POROUS_PAVEMENT, RAIN_BARREL, VEG_SWALE, ROOF_DISCON = range(8)
TYPES = {"BC": BIO_CELL, "RG": RAIN_GARDEN, "GR": GREEN_ROOF, "IT": INFIL_TRENCH, "PP": POROUS_PAVEMENT,
         "RB": RAIN_BARREL, "VS": VEG_SWALE, "RD": ROOF_DISCON}
#: layer moisture levels (lidproc.c's order): surface depth, soil moisture, storage depth, pavement depth
SURF, SOIL, STOR, PAVE = range(4)
#: SWMM's BIG and ZERO (lidproc.c), MINFLOW (0.001 in/h) and MIN_RUNOFF in m/s
BIG = 1.0e10
ZERO = 1.0e-10
MINFLOW = 2.3e-8 * FOOT
MIN_RUNOFF = 2.31481e-8 * FOOT
#: per-unit parameters (rows of Lids.params), SI
PARAMS = ("type", "area", "width", "number", "from_imperv", "from_perv", "to_perv", "init_sat",
          "surf_thick", "surf_void", "surf_alpha", "surf_overflow",
          "pave_thick", "pave_void", "pave_imperv", "pave_ksat", "pave_clog", "pave_regen_days", "pave_regen_degree",
          "soil_thick", "soil_porosity", "soil_fieldcap", "soil_wilt", "soil_ksat", "soil_kslope",
          "stor_thick", "stor_void", "stor_ksat", "stor_clog", "stor_covered",
          "drain_coeff", "drain_expon", "drain_offset", "drain_delay", "drain_open", "drain_close",
          "depth_unit", "rate_unit", "mat_alpha", "side_slope", "curve_points")
(TYPE, AREA, WIDTH, NUMBER, FROM_IMPERV, FROM_PERV, TO_PERV, INIT_SAT,
 SURF_THICK, SURF_VOID, SURF_ALPHA, SURF_OVERFLOW,
 PAVE_THICK, PAVE_VOID, PAVE_IMPERV, PAVE_KSAT, PAVE_CLOG, PAVE_REGEN_DAYS, PAVE_REGEN_DEGREE,
 SOIL_THICK, SOIL_POROSITY, SOIL_FIELDCAP, SOIL_WILT, SOIL_KSAT, SOIL_KSLOPE,
 STOR_THICK, STOR_VOID, STOR_KSAT, STOR_CLOG, STOR_COVERED,
 DRAIN_COEFF, DRAIN_EXPON, DRAIN_OFFSET, DRAIN_DELAY, DRAIN_OPEN, DRAIN_CLOSE,
 DEPTH_UNIT, RATE_UNIT, MAT_ALPHA, SIDE_SLOPE, CURVE_POINTS) = range(len(PARAMS))
#: after the named parameters, a row holds its underdrain control curve: K heads then K
#: multipliers, K the longest curve of the network (CURVE_POINTS of them used)
#: per-unit state (rows of Lids.state): the 4 moisture levels, then
(S_DRY_TIME, S_VOL_TREATED, S_NEXT_REGEN, S_OLD_DRAIN, S_NEW_DRAIN,
 S_WB_INFLOW, S_WB_EVAP, S_WB_INFIL, S_WB_SURFACE, S_WB_DRAIN, S_WB_INIT) = range(4, 15)
#: the previous step's 4 flux rates (modified Puls)
S_OLD_FLUX = 15
NSTATE = 19
#: modpuls_solve's tolerance on a level (STOPTOL, 1 mm) and its iterations
STOPTOL = 0.001
MAX_STEPS = 20
#: the flux function's shared variables (lidproc.c's module-level ones)
(V_SURF_INFLOW, V_SURF_INFIL, V_SURF_EVAP, V_SURF_OUTFLOW, V_SURF_VOL, V_PAVE_EVAP, V_PAVE_PERC, V_PAVE_VOL,
 V_SOIL_EVAP, V_SOIL_PERC, V_SOIL_VOL, V_STOR_INFLOW, V_STOR_EXFIL, V_STOR_EVAP, V_STOR_DRAIN, V_STOR_VOL,
 V_EVAP_RATE, V_DT, V_TIME) = range(19)
NVARS = 19


@dataclass
class Lids:
    """The LID units of a network, as arrays (one row per [LID_USAGE] line)."""

    names: list[str]
    #: index of each unit's subcatchment
    subcatchment: np.ndarray
    #: units x (PARAMS + 2·K), SI (see CURVE_POINTS)
    params: np.ndarray
    #: the soil surface's Green-Ampt parameters (suction, Ks, IMDmax, Lu; Ks 0 without a soil layer)
    ga_params: np.ndarray
    #: where the underdrain flows: the subcatchment receiving it (-1 if a node), its node's name ("" if a subcatchment)
    drain_subcatchment: np.ndarray
    drain_node: list[str]
    #: whether the underdrain goes where its subcatchment's runoff goes (then ToPerv returns it too)
    same_outlet: np.ndarray
    #: total LID area per subcatchment (m²; its whole area when within 0.1 % of it)
    lid_area: np.ndarray
    #: runoff steps start with this many dry seconds (SWMM's DRY_DAYS)
    dry_days: float = 0.0

    @classmethod
    def from_spec(cls, spec: list[dict], subcatchments: list[dict], dry_days: float = 0.0) -> "Lids":
        """From the importer's JSON records (``hydrology.json``'s ``lids`` and
        ``subcatchments``)."""
        index = {s["name"]: k for k, s in enumerate(subcatchments)}
        units = [u for u in spec if u["subcatchment"] in index]
        longest = max((len(u.get("drain_curve", [])) for u in units), default=0)
        params = np.zeros((len(units), len(PARAMS) + 2 * longest))
        ga = np.zeros((len(units), 5))
        for k, u in enumerate(units):
            for p, name in enumerate(PARAMS):
                params[k, p] = float(u["params"].get(name, 0.0)) if name != "type" else TYPES[u["type"]]
            curve = u.get("drain_curve", [])
            params[k, CURVE_POINTS] = len(curve)
            for i, (head, factor) in enumerate(curve):
                params[k, len(PARAMS) + i] = head
                params[k, len(PARAMS) + longest + i] = factor
            ga[k, :len(u.get("green_ampt", []))] = u.get("green_ampt", [])
        sub = np.array([index[u["subcatchment"]] for u in units], dtype=np.int64)
        drain_sub = np.array([index.get(u["drain_to"], -1) if u["drain_kind"] == "subcatchment" else -1
                              for u in units], dtype=np.int64)
        same = np.array([u["drain_to"] == subcatchments[index[u["subcatchment"]]]["outlet"] for u in units],
                        dtype=np.bool_)
        area = np.zeros(len(subcatchments))
        for k, u in enumerate(units):
            area[sub[k]] += params[k, AREA] * params[k, NUMBER]
        for j, s in enumerate(subcatchments):  # validateLidGroup
            if area[j] > 0.999 * float(s["area"]):
                area[j] = float(s["area"])
        return cls([u["lid"] for u in units], sub, params, ga, drain_sub,
                   [u["drain_to"] if u["drain_kind"] != "subcatchment" else "" for u in units], same, area, dry_days)

    def initial_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Each unit's state at the start and its Green-Ampt state (lid_initState)."""
        n = len(self.names)
        state = np.zeros((n, NSTATE))
        ga_state = np.zeros((n, hydrology.INFIL_STATE))
        for k in range(n):
            p = self.params[k]
            state[k, S_DRY_TIME] = self.dry_days * 86400.0
            state[k, S_NEXT_REGEN] = p[PAVE_REGEN_DAYS]
            init = 0.0
            if p[SOIL_THICK] > 0.0:
                state[k, SOIL] = p[SOIL_WILT] + p[INIT_SAT] * (p[SOIL_POROSITY] - p[SOIL_WILT])
                init += state[k, SOIL] * p[SOIL_THICK]
            if p[STOR_THICK] > 0.0:
                state[k, STOR] = p[INIT_SAT] * p[STOR_THICK]
                init += state[k, STOR] * p[STOR_VOID]
            state[k, S_WB_INIT] = init
            ga_state[k, 0] = self.ga_params[k, 2]  # IMD = IMDmax
        return state, ga_state


def stored_depth(params: np.ndarray, x: np.ndarray) -> float:
    """Water held in one unit per unit area (m), as lidproc.c counts its layer volumes."""
    perv = 1.0 - params[PAVE_IMPERV]
    return float(x[SURF] * params[SURF_VOID] + x[PAVE] * params[PAVE_VOID] * perv + x[SOIL] * params[SOIL_THICK]
                 + x[STOR] * params[STOR_VOID])


# --- lidproc.c's rate functions ----------------------------------------------------------
@njit(cache=True, nogil=True)
def _surface_outflow(p, v, depth):  # pragma: no cover - compiled
    """getSurfaceOutflowRate: Manning's overland flow above the berm, per unit area."""
    delta = depth - p[SURF_THICK]
    if delta < 0.0:
        return 0.0
    out = p[SURF_ALPHA] * delta ** (5.0 / 3.0) * p[WIDTH] / p[AREA]
    return min(out, delta / v[V_DT])


@njit(cache=True, nogil=True)
def _pavement_perm(p, s, v):  # pragma: no cover - compiled
    """getPavementPermRate: the pavement's permeability reduced by clogging (the volume
    treated over the clogging factor), regenerated every RegenDays."""
    reduction = 0.0
    if p[PAVE_CLOG] > 0.0:
        if p[PAVE_REGEN_DAYS] > 0.0 and v[V_TIME] / 86400.0 >= s[S_NEXT_REGEN]:
            s[S_VOL_TREATED] *= 1.0 - p[PAVE_REGEN_DEGREE]
            s[S_NEXT_REGEN] += p[PAVE_REGEN_DAYS]
        reduction = min(s[S_VOL_TREATED] / p[PAVE_CLOG], 1.0)
    return p[PAVE_KSAT] * (1.0 - reduction)


@njit(cache=True, nogil=True)
def _soil_perc(p, theta):  # pragma: no cover - compiled
    """getSoilPercRate: K = Ksat·exp(-(porosity - θ)·HCO) above field capacity."""
    if theta <= p[SOIL_FIELDCAP]:
        return 0.0
    return p[SOIL_KSAT] * math.exp(-(p[SOIL_POROSITY] - theta) * p[SOIL_KSLOPE])


@njit(cache=True, nogil=True)
def _storage_exfil(p, s):  # pragma: no cover - compiled
    """getStorageExfilRate: the storage layer's Ksat reduced by clogging (no groundwater
    limit in the twin)."""
    if p[STOR_KSAT] == 0.0:
        return 0.0
    clog = p[STOR_CLOG]
    if clog > 0.0:
        clog = min(s[S_WB_INFLOW] / clog, 1.0)
    return p[STOR_KSAT] * (1.0 - clog)


@njit(cache=True, nogil=True)
def _storage_drain(p, s, storage_depth, soil_theta, pave_depth, surface_depth):  # pragma: no cover - compiled
    """getStorageDrainRate: q = C·(h - Hd)^n in the file's units, the head h the storage
    level plus the saturated layers above it, opening above the open level and closing
    below the closed one (Build 5.2.4's head with both soil and pavement)."""
    head = storage_depth
    if storage_depth >= p[STOR_THICK]:
        if p[SOIL_THICK] > 0.0:
            if soil_theta > p[SOIL_FIELDCAP]:
                head += (soil_theta - p[SOIL_FIELDCAP]) / (p[SOIL_POROSITY] - p[SOIL_FIELDCAP]) * p[SOIL_THICK]
                if soil_theta >= p[SOIL_POROSITY]:
                    if p[PAVE_THICK] > 0.0:
                        head += pave_depth
                        if pave_depth >= p[PAVE_THICK]:
                            head += surface_depth
                    else:
                        head += surface_depth
        elif p[PAVE_THICK] > 0.0:
            head += pave_depth
            if pave_depth >= p[PAVE_THICK]:
                head += surface_depth
    if s[S_OLD_DRAIN] == 0.0 and head <= p[DRAIN_OPEN]:
        return 0.0
    if s[S_OLD_DRAIN] > 0.0 and head <= p[DRAIN_CLOSE]:
        return 0.0
    head -= p[DRAIN_OFFSET]
    if head > ZERO * FOOT:
        head /= p[DEPTH_UNIT]
        out = p[DRAIN_COEFF] * head ** p[DRAIN_EXPON]
        count = int(p[CURVE_POINTS])
        if count > 0:
            out *= _curve_value(p, count, head)
        return out * p[RATE_UNIT]
    return 0.0


@njit(cache=True, nogil=True)
def _curve_value(p, count, x):  # pragma: no cover - compiled
    """table_lookup on the unit's control curve: linear between points, the end values
    beyond them."""
    base = len(PARAMS)
    longest = (p.shape[0] - base) // 2
    x1, y1 = p[base], p[base + longest]
    if x <= x1:
        return y1
    for i in range(1, count):
        x2, y2 = p[base + i], p[base + longest + i]
        if x <= x2:
            dx = x2 - x1
            return (y1 + y2) / 2.0 if abs(dx) < 1.0e-20 else y1 + (x - x1) * (y2 - y1) / dx
        x1, y1 = x2, y2
    return y1


@njit(cache=True, nogil=True)
def _drain_mat(p, v, depth):  # pragma: no cover - compiled
    """getDrainMatOutflow: Manning's flow through the green roof's drainage mat."""
    if p[MAT_ALPHA] > 0.0:
        return p[MAT_ALPHA] * depth ** (5.0 / 3.0) * p[WIDTH] / p[AREA] * p[STOR_VOID]
    return v[V_SOIL_PERC]


@njit(cache=True, nogil=True)
def _evap_rates(v, surface_vol, pave_vol, soil_vol, storage_vol, perv_frac):  # pragma: no cover - compiled
    """getEvapRates: evaporation taken from the surface down (the twin passes 0)."""
    dt = v[V_DT]
    avail = v[V_EVAP_RATE]
    v[V_SURF_EVAP] = max(0.0, min(avail, surface_vol / dt))
    avail = max(0.0, avail - v[V_SURF_EVAP]) * perv_frac
    if v[V_SURF_INFIL] > 0.0:
        v[V_PAVE_EVAP] = 0.0
        v[V_SOIL_EVAP] = 0.0
        v[V_STOR_EVAP] = 0.0
    else:
        v[V_PAVE_EVAP] = min(avail, pave_vol / dt)
        avail = max(0.0, avail - v[V_PAVE_EVAP])
        v[V_SOIL_EVAP] = min(avail, soil_vol / dt)
        avail = max(0.0, avail - v[V_SOIL_EVAP])
        v[V_STOR_EVAP] = min(avail, storage_vol / dt)


# --- lidproc.c's flux functions, one per type ---------------------------------------------
@njit(cache=True, nogil=True)
def _drain_limit(p, drain, inflow, exfil, evap_st, storage, stor_thick, stor_void, dt):  # pragma: no cover - compiled
    """The underdrain's flow no larger than the storage layer can give this step: what
    is above the drain's offset, plus what flows in (``inflow``: the soil's percolation,
    or a trench's surface inflow) once the layer is full, less exfiltration and
    evaporation (lid.c: pavementFluxRates, biocellFluxRates and trenchFluxRates alike)."""
    if drain <= 0.0:
        return drain
    top = -exfil - evap_st
    if storage >= stor_thick:
        top += inflow
    if p[DRAIN_OFFSET] <= storage:
        top += (storage - p[DRAIN_OFFSET]) * stor_void / dt
    return min(drain, max(top, 0.0))


@njit(cache=True, nogil=True)
def _pavement_fluxes(p, s, v, x, f):  # pragma: no cover - compiled
    """pavementFluxRates (Build 5.2.4)."""
    dt = v[V_DT]
    perv = 1.0 - p[PAVE_IMPERV]
    pave_void = p[PAVE_VOID] * perv
    pave_thick, soil_thick = p[PAVE_THICK], p[SOIL_THICK]
    porosity, fieldcap = p[SOIL_POROSITY], p[SOIL_FIELDCAP]
    stor_thick, stor_void = p[STOR_THICK], p[STOR_VOID]
    surface, pave, theta, storage = x[SURF], x[PAVE], x[SOIL], x[STOR]
    v[V_SURF_VOL] = surface * p[SURF_VOID]
    v[V_PAVE_VOL] = pave * pave_void
    v[V_SOIL_VOL] = theta * soil_thick
    v[V_STOR_VOL] = storage * stor_void
    _evap_rates(v, v[V_SURF_VOL], v[V_PAVE_VOL], v[V_SOIL_VOL] - p[SOIL_WILT] * soil_thick, v[V_STOR_VOL], perv)
    if pave >= pave_thick or (soil_thick > 0.0 and theta >= porosity):
        v[V_STOR_EVAP] = 0.0
    infil = v[V_SURF_INFLOW] + v[V_SURF_VOL] / dt
    pave_perc = _pavement_perm(p, s, v) * perv
    infil = min(infil, pave_perc)
    pave_perc = min(pave_perc, max(v[V_PAVE_VOL] / dt + infil - v[V_PAVE_EVAP], 0.0))
    if soil_thick > 0.0:
        soil_perc = _soil_perc(p, theta)
        soil_perc = max(min(soil_perc, max((theta - fieldcap) * soil_thick, 0.0) / dt - v[V_SOIL_EVAP]), 0.0)
    else:
        soil_perc = pave_perc
    exfil = _storage_exfil(p, s)
    drain = _storage_drain(p, s, storage, theta, pave, surface) if p[DRAIN_COEFF] > 0.0 else 0.0
    evap_st = v[V_STOR_EVAP]
    if soil_thick == 0.0 and storage >= stor_thick and pave >= pave_thick:
        top = evap_st + drain + exfil
        if pave_perc > top:
            pave_perc = top
        else:
            exfil = min(exfil, pave_perc)
            drain = pave_perc - exfil
        soil_perc = pave_perc
        infil = min(infil, pave_perc)
    elif soil_thick > 0.0 and storage >= stor_thick and theta >= porosity and pave >= pave_thick:
        top = exfil + drain
        if soil_perc < top:
            top = soil_perc
        else:
            top = min(top, pave_perc)
        if top > exfil:
            drain = top - exfil
        else:
            exfil = top
            drain = 0.0
        soil_perc = top
        pave_perc = top
        infil = min(infil, pave_perc)
    elif soil_thick > 0.0 and storage >= stor_thick and theta >= porosity:
        top = drain + exfil
        if soil_perc > top:
            soil_perc = top
        else:
            exfil = min(exfil, soil_perc)
            drain = soil_perc - exfil
        pave_perc = min(pave_perc, soil_perc)
        infil = min(infil, (pave_thick - pave) * pave_void / dt + pave_perc + v[V_PAVE_EVAP])
    elif soil_thick > 0.0 and pave >= pave_thick and theta >= porosity:
        pave_perc = min(pave_perc, soil_perc)
        soil_perc = pave_perc
        infil = min(infil, pave_perc)
        exfil = min(exfil, max(v[V_STOR_VOL] / dt + soil_perc - evap_st, 0.0))
    else:
        exfil = min(exfil, max(0.0, soil_perc - evap_st + v[V_STOR_VOL] / dt))
        drain = _drain_limit(p, drain, soil_perc, exfil, evap_st, storage, stor_thick, stor_void, dt)
        top = max((stor_thick - storage) * stor_void / dt + evap_st + drain + exfil, 0.0)
        if soil_thick > 0.0:
            soil_perc = min(soil_perc, top)
            top = (porosity - theta) * soil_thick / dt + soil_perc
        pave_perc = min(pave_perc, top)
        infil = min(infil, (pave_thick - pave) * pave_void / dt + pave_perc + v[V_PAVE_EVAP])
    v[V_SURF_INFIL], v[V_PAVE_PERC], v[V_STOR_EXFIL], v[V_STOR_DRAIN] = infil, pave_perc, exfil, drain
    v[V_SURF_OUTFLOW] = _surface_outflow(p, v, surface)
    f[SURF] = v[V_SURF_INFLOW] - v[V_SURF_EVAP] - infil - v[V_SURF_OUTFLOW]
    f[PAVE] = (infil - v[V_PAVE_EVAP] - pave_perc) / pave_void
    if soil_thick > 0.0:
        f[SOIL] = (pave_perc - v[V_SOIL_EVAP] - soil_perc) / soil_thick
        inflow = soil_perc
        v[V_SOIL_PERC] = soil_perc
    else:
        f[SOIL] = 0.0
        inflow = pave_perc
        v[V_SOIL_PERC] = 0.0
    f[STOR] = (inflow - evap_st - exfil - drain) / stor_void


@njit(cache=True, nogil=True)
def _green_roof_fluxes(p, s, v, x, f):  # pragma: no cover - compiled
    """greenRoofFluxRates: soil over a drainage mat."""
    dt = v[V_DT]
    soil_thick, stor_thick = p[SOIL_THICK], p[STOR_THICK]
    porosity, stor_void, fieldcap = p[SOIL_POROSITY], p[STOR_VOID], p[SOIL_FIELDCAP]
    surface, theta, storage = x[SURF], x[SOIL], x[STOR]
    v[V_SURF_VOL] = surface * p[SURF_VOID]
    v[V_SOIL_VOL] = theta * soil_thick
    v[V_STOR_VOL] = storage * stor_void
    _evap_rates(v, v[V_SURF_VOL], 0.0, v[V_SOIL_VOL] - p[SOIL_WILT] * soil_thick, v[V_STOR_VOL], 1.0)
    if theta >= porosity:
        v[V_STOR_EVAP] = 0.0
    perc = _soil_perc(p, theta)
    perc = max(min(perc, max((theta - fieldcap) * soil_thick, 0.0) / dt - v[V_SOIL_EVAP]), 0.0)
    v[V_SOIL_PERC] = perc
    v[V_STOR_EXFIL] = 0.0
    drain = _drain_mat(p, v, storage)
    infil = v[V_SURF_INFIL]
    if theta >= porosity and storage >= stor_thick:
        top = min(perc, drain)
        perc = top
        drain = top
        infil = min(infil, top)
    else:
        top = storage * stor_void / dt - v[V_STOR_EVAP]
        if storage >= stor_thick:
            top += perc
        drain = min(drain, max(top, 0.0))
        perc = min(perc, (stor_thick - storage) * stor_void / dt + drain + v[V_STOR_EVAP])
        infil = min(infil, (porosity - theta) * soil_thick / dt + perc + v[V_SOIL_EVAP])
    v[V_SOIL_PERC], v[V_STOR_DRAIN], v[V_SURF_INFIL] = perc, drain, infil
    v[V_SURF_OUTFLOW] = _surface_outflow(p, v, surface)
    f[SURF] = (v[V_SURF_INFLOW] - v[V_SURF_EVAP] - infil - v[V_SURF_OUTFLOW]) / p[SURF_VOID]
    f[SOIL] = (infil - v[V_SOIL_EVAP] - perc) / soil_thick
    f[STOR] = (perc - v[V_STOR_EVAP] - drain) / stor_void


@njit(cache=True, nogil=True)
def _biocell_fluxes(p, s, v, x, f):  # pragma: no cover - compiled
    """biocellFluxRates: bio-retention cells and rain gardens (soil over optional storage)."""
    dt = v[V_DT]
    soil_thick, porosity, fieldcap = p[SOIL_THICK], p[SOIL_POROSITY], p[SOIL_FIELDCAP]
    stor_thick, stor_void = p[STOR_THICK], p[STOR_VOID]
    surface, theta, storage = x[SURF], x[SOIL], x[STOR]
    v[V_SURF_VOL] = surface * p[SURF_VOID]
    v[V_SOIL_VOL] = theta * soil_thick
    v[V_STOR_VOL] = storage * stor_void
    _evap_rates(v, v[V_SURF_VOL], 0.0, v[V_SOIL_VOL] - p[SOIL_WILT] * soil_thick, v[V_STOR_VOL], 1.0)
    if theta >= porosity:
        v[V_STOR_EVAP] = 0.0
    evap_st = v[V_STOR_EVAP]
    perc = _soil_perc(p, theta)
    perc = max(min(perc, max((theta - fieldcap) * soil_thick, 0.0) / dt - v[V_SOIL_EVAP]), 0.0)
    exfil = _storage_exfil(p, s)
    drain = _storage_drain(p, s, storage, theta, 0.0, surface) if p[DRAIN_COEFF] > 0.0 else 0.0
    infil = v[V_SURF_INFIL]
    if stor_thick == 0.0:
        evap_st = 0.0
        top = min(perc, exfil)
        perc = top
        exfil = top
        infil = min(infil, (porosity - theta) * soil_thick / dt + perc + v[V_SOIL_EVAP])
    elif theta >= porosity and storage >= stor_thick:
        top = exfil + drain
        if perc < top:
            top = perc
            if top > exfil:
                drain = top - exfil
            else:
                exfil = top
                drain = 0.0
        else:
            perc = top
        infil = min(infil, top)
    else:
        exfil = max(min(exfil, perc - evap_st + storage * stor_void / dt), 0.0)
        drain = _drain_limit(p, drain, perc, exfil, evap_st, storage, stor_thick, stor_void, dt)
        perc = min(perc, exfil + drain + evap_st + (stor_thick - storage) * stor_void / dt)
        infil = min(infil, (porosity - theta) * soil_thick / dt + perc + v[V_SOIL_EVAP])
    v[V_STOR_EVAP], v[V_SOIL_PERC], v[V_STOR_EXFIL] = evap_st, perc, exfil
    v[V_STOR_DRAIN], v[V_SURF_INFIL] = drain, infil
    v[V_SURF_OUTFLOW] = _surface_outflow(p, v, surface)
    f[SURF] = (v[V_SURF_INFLOW] - v[V_SURF_EVAP] - infil - v[V_SURF_OUTFLOW]) / p[SURF_VOID]
    f[SOIL] = (infil - v[V_SOIL_EVAP] - perc) / soil_thick
    f[STOR] = 0.0 if stor_thick == 0.0 else (perc - evap_st - exfil - drain) / stor_void


@njit(cache=True, nogil=True)
def _trench_fluxes(p, s, v, x, f):  # pragma: no cover - compiled
    """trenchFluxRates: infiltration trenches (storage under the surface)."""
    dt = v[V_DT]
    stor_thick, stor_void = p[STOR_THICK], p[STOR_VOID]
    surface, storage = x[SURF], x[STOR]
    v[V_SURF_VOL] = surface * p[SURF_VOID]
    v[V_SOIL_VOL] = 0.0
    v[V_STOR_VOL] = storage * stor_void
    _evap_rates(v, v[V_SURF_VOL], 0.0, 0.0, v[V_STOR_VOL], 1.0)
    if surface > 0.0:
        v[V_STOR_EVAP] = 0.0
    evap_st = v[V_STOR_EVAP]
    inflow = v[V_SURF_INFLOW] + v[V_SURF_VOL] / dt
    exfil = _storage_exfil(p, s)
    drain = _storage_drain(p, s, storage, 0.0, 0.0, surface) if p[DRAIN_COEFF] > 0.0 else 0.0
    exfil = max(min(exfil, inflow - evap_st + storage * stor_void / dt), 0.0)
    drain = _drain_limit(p, drain, inflow, exfil, evap_st, storage, stor_thick, stor_void, dt)
    inflow = min(inflow, (stor_thick - storage) * stor_void / dt + exfil + evap_st + drain)
    v[V_STOR_INFLOW], v[V_SURF_INFIL], v[V_STOR_EXFIL], v[V_STOR_DRAIN] = inflow, inflow, exfil, drain
    v[V_SURF_OUTFLOW] = _surface_outflow(p, v, surface)
    f[SURF] = (v[V_SURF_INFLOW] - v[V_SURF_EVAP] - inflow - v[V_SURF_OUTFLOW]) / p[SURF_VOID]
    f[STOR] = (inflow - evap_st - exfil - drain) / stor_void
    f[SOIL] = 0.0


@njit(cache=True, nogil=True)
def _barrel_fluxes(p, s, v, x, f):  # pragma: no cover - compiled
    """barrelFluxRates: a rain barrel drains once dry for its drain delay."""
    dt = v[V_DT]
    storage = x[STOR]
    v[V_SURF_VOL] = 0.0
    v[V_SOIL_VOL] = 0.0
    v[V_STOR_VOL] = storage
    v[V_SURF_INFIL] = 0.0
    v[V_SURF_OUTFLOW] = 0.0
    drain = 0.0
    if p[DRAIN_DELAY] == 0.0 or s[S_DRY_TIME] >= p[DRAIN_DELAY]:
        head = storage - p[DRAIN_OFFSET]
        if head > 0.0:
            drain = min(_storage_drain(p, s, storage, 0.0, 0.0, 0.0), head / dt)
    inflow = min(v[V_SURF_INFLOW], (p[STOR_THICK] - storage) / dt + drain)
    v[V_STOR_DRAIN], v[V_STOR_INFLOW], v[V_SURF_INFIL] = drain, inflow, inflow
    f[SURF] = v[V_SURF_INFLOW] - inflow
    f[STOR] = inflow - drain
    f[SOIL] = 0.0


@njit(cache=True, nogil=True)
def _roof_fluxes(p, s, v, x, f):  # pragma: no cover - compiled
    """roofFluxRates: rooftop disconnection (the roof drains at most C to the drain)."""
    depth = x[SURF]
    v[V_SURF_INFIL] = 0.0
    _evap_rates(v, depth, 0.0, 0.0, 0.0, 1.0)
    v[V_SURF_VOL] = depth
    out = 0.0
    if p[SURF_ALPHA] > 0.0:
        out = _surface_outflow(p, v, depth)
    drain = min(p[DRAIN_COEFF] * p[RATE_UNIT], out)
    v[V_STOR_DRAIN] = drain
    v[V_SURF_OUTFLOW] = out - drain
    f[SURF] = v[V_SURF_INFLOW] - v[V_SURF_EVAP] - drain - v[V_SURF_OUTFLOW]


@njit(cache=True, nogil=True)
def _swale_fluxes(p, s, v, x, f):  # pragma: no cover - compiled
    """swaleFluxRates: a trapezoidal channel of the unit's width, its outflow by
    Manning's equation, spilling when full; rates per unit area."""
    dt = v[V_DT]
    thick = p[SURF_THICK]
    depth = min(x[SURF], thick)
    side = p[SIDE_SLOPE]
    half_foot = 0.5 * FOOT  # SWMM's 0.5 ft minimum widths
    top = max(p[WIDTH], half_foot)
    bottom = top - 2.0 * side * thick
    if bottom < half_foot:
        bottom = half_foot
        side = 0.5 * (top - half_foot) / thick
    area = p[AREA]
    length = area / top
    surf_area = length * (bottom + 2.0 * side * depth)
    flow_area = depth * (bottom + side * depth) * p[SURF_VOID]
    volume = length * flow_area
    inflow = v[V_SURF_INFLOW] * area
    evap = min(v[V_EVAP_RATE] * surf_area, volume / dt)
    exfil = v[V_SURF_INFIL] * surf_area
    out = 0.0
    zero = ZERO * FOOT
    if depth > zero and flow_area >= zero * FOOT:
        radius = flow_area / (bottom + 2.0 * depth * math.sqrt(1.0 + side * side))
        out = p[SURF_ALPHA] * flow_area * radius ** (2.0 / 3.0)
    dvdt = inflow - evap - exfil - out
    if depth == thick and dvdt > 0.0:
        out += dvdt
        dvdt = 0.0
    v[V_SURF_EVAP] = evap / area
    v[V_STOR_EXFIL] = exfil / area
    v[V_SURF_OUTFLOW] = out / area
    f[SURF] = dvdt / surf_area
    f[SOIL] = 0.0
    f[STOR] = 0.0
    v[V_SURF_VOL] = volume / area
    v[V_SOIL_VOL] = 0.0
    v[V_STOR_VOL] = 0.0


@njit(cache=True, nogil=True)
def unit_outflow(p, s, ga_p, ga_s, v, inflow, native_infil, dt, t):  # pragma: no cover - compiled
    """lidproc_getOutflow + lidproc_saveResults for one unit over ``dt`` s from runoff time
    ``t``: its layers advanced by explicit Euler from the flux rates at the step's start
    (modpuls_solve, omega 0), a swale's by modified Puls (omega 0.5); returns the
    surface outflow (m/s of unit area), the underdrain and exfiltration rates in ``v``
    and whether the unit is still wet. ``native_infil`` (m/s) is the native soil's
    infiltration rate, which a swale without Green-Ampt parameters takes."""
    for i in range(NVARS):
        v[i] = 0.0
    v[V_DT], v[V_TIME] = dt, t
    v[V_SURF_INFLOW] = inflow
    kind = int(p[TYPE])
    x = s[:4]
    if kind != POROUS_PAVEMENT and ga_p[1] > 0.0:
        v[V_SURF_INFIL] = hydrology._green_ampt(ga_p, ga_s, dt, inflow, x[SURF], True)
    elif kind != POROUS_PAVEMENT:
        v[V_SURF_INFIL] = native_infil
    lo = np.zeros(4)
    hi = np.full(4, BIG)
    if p[SOIL_THICK] > 0.0:
        lo[SOIL], hi[SOIL] = p[SOIL_WILT], p[SOIL_POROSITY]
    if p[PAVE_THICK] > 0.0:
        hi[PAVE] = p[PAVE_THICK]
    if p[STOR_THICK] > 0.0:
        hi[STOR] = p[STOR_THICK]
    f = np.zeros(4)
    if kind == VEG_SWALE:  # modpuls_solve with omega 0.5, iterated until the level moves < STOPTOL
        old = x.copy()
        prev = x.copy()
        for _ in range(MAX_STEPS - 1):
            _swale_fluxes(p, s, v, x, f)
            done = True
            for i in range(4):
                x[i] = max(min(old[i] + 0.5 * (s[S_OLD_FLUX + i] + f[i]) * dt, hi[i]), lo[i])
                if abs(x[i] - prev[i]) > STOPTOL:
                    done = False
                prev[i] = x[i]
            if done:
                break
    else:
        if kind == BIO_CELL or kind == RAIN_GARDEN:
            _biocell_fluxes(p, s, v, x, f)
        elif kind == GREEN_ROOF:
            _green_roof_fluxes(p, s, v, x, f)
        elif kind == INFIL_TRENCH:
            _trench_fluxes(p, s, v, x, f)
        elif kind == POROUS_PAVEMENT:
            _pavement_fluxes(p, s, v, x, f)
        elif kind == RAIN_BARREL:
            _barrel_fluxes(p, s, v, x, f)
        elif kind == ROOF_DISCON:
            _roof_fluxes(p, s, v, x, f)
        else:
            return 0.0, False
        for i in range(4):
            x[i] = max(min(x[i] + f[i] * dt, hi[i]), lo[i])
    if p[SURF_OVERFLOW] > 0.0 or p[WIDTH] == 0.0:  # getSurfaceOverflowRate
        delta = x[SURF] - p[SURF_THICK]
        if delta > 0.0:
            x[SURF] = p[SURF_THICK]
            v[V_SURF_OUTFLOW] += delta * p[SURF_VOID] / dt
    for i in range(4):
        s[S_OLD_FLUX + i] = f[i]
    evap = v[V_SURF_EVAP] + v[V_PAVE_EVAP] + v[V_SOIL_EVAP] + v[V_STOR_EVAP]
    # updateWaterBalance
    s[S_VOL_TREATED] += inflow * dt
    s[S_WB_INFLOW] += inflow * dt
    s[S_WB_EVAP] += evap * dt
    s[S_WB_INFIL] += v[V_STOR_EXFIL] * dt
    s[S_WB_SURFACE] += v[V_SURF_OUTFLOW] * dt
    s[S_WB_DRAIN] += v[V_STOR_DRAIN] * dt
    wet = not (inflow < MINFLOW and v[V_SURF_OUTFLOW] < MINFLOW and v[V_STOR_DRAIN] < MINFLOW
               and v[V_STOR_EXFIL] < MINFLOW and evap < MINFLOW)
    return v[V_SURF_OUTFLOW], wet


@njit(cache=True, nogil=True)
def lid_step(dt, t, gauge_rain, gauge, sub_params, route_to, lid_area, runon, sub_runoff, new_runoff, flow_to_perv,
             native_infil, infil_model, infil_params, infil_state, unit_sub, params, state, ga_params, ga_state,
             drain_same_outlet):  # pragma: no cover - compiled
    """lid_getRunoff for every subcatchment with LIDs, after its subareas' runoff step:
    each unit receives rain, its shares of the non-LID runoff bound for the outlet and
    (filling its subcatchment) the run-on; the subcatchment's outflow ``new_runoff``
    (m³/s) loses what the units captured and gains their surface outflow, unless
    returned to the pervious area (``flow_to_perv``, m³/s, for the next step); each
    unit's underdrain flow (m³/s) goes to ``state[:, S_NEW_DRAIN]``. ``native_infil``
    (m/s over the non-LID area, from the runoff step) is the native soil's infiltration;
    where the subcatchment has no non-LID pervious area it is its infiltration model's
    on the LIDs' ponded water (findNativeInfil). Returns True while any unit is wet
    (SWMM's HasWetLids)."""
    n = sub_params.shape[1]
    q_imperv = np.zeros(n)
    q_perv = np.zeros(n)
    captured = np.zeros(n)
    ponded = np.zeros(n)
    for u in range(unit_sub.shape[0]):  # getSurfaceDepth
        ponded[unit_sub[u]] += state[u, SURF] * params[u, SURF_VOID] * params[u, AREA] * params[u, NUMBER]
    for j in range(n):
        flow_to_perv[j] = 0.0
        if lid_area[j] <= 0.0:
            continue
        area = sub_params[hydrology.P_AREA, j]
        non_lid = area - lid_area[j]
        fi = sub_params[hydrology.P_FRAC_IMPERV, j]
        if not (non_lid > 0.0 and fi < 1.0):
            rain = gauge_rain[gauge[j]] if gauge[j] >= 0 else 0.0
            native_infil[j] = hydrology.infiltration(infil_model[j], infil_params[j], infil_state[j], dt, rain,
                                                     runon[j], ponded[j] / lid_area[j])
        if non_lid <= 0.0:
            continue
        f0 = fi * sub_params[hydrology.P_FRAC_ZERO, j]
        q = sub_runoff[hydrology.IMPERV0, j] * f0 + sub_runoff[hydrology.IMPERV1, j] * (fi - f0)
        if route_to[j] == hydrology.TO_PERV and fi < 1.0:
            q *= 1.0 - sub_params[hydrology.P_FRAC_ROUTED, j]
        q_imperv[j] = q * non_lid
        q = sub_runoff[hydrology.PERV, j] * (1.0 - fi)
        if route_to[j] == hydrology.TO_IMPERV and fi > 0.0:
            q *= 1.0 - sub_params[hydrology.P_FRAC_ROUTED, j]
        q_perv[j] = q * non_lid
    v = np.zeros(NVARS)
    wet = False
    for u in range(unit_sub.shape[0]):
        j = unit_sub[u]
        p = params[u]
        s = state[u]
        s[S_OLD_DRAIN] = s[S_NEW_DRAIN]  # lid_setOldGroupState
        s[S_NEW_DRAIN] = 0.0
        area_u = p[AREA] * p[NUMBER]
        if area_u <= 0.0:
            continue
        area = sub_params[hydrology.P_AREA, j]
        rain = gauge_rain[gauge[j]] if gauge[j] >= 0 else 0.0
        inflow = (q_imperv[j] * p[FROM_IMPERV] + q_perv[j] * p[FROM_PERV]) / area_u
        captured[j] += inflow * area_u
        if not (int(p[TYPE]) == RAIN_BARREL and p[STOR_COVERED] > 0.0):
            inflow += rain
        if lid_area[j] >= area:
            inflow += runon[j]
        out, unit_wet = unit_outflow(p, s, ga_params[u], ga_state[u], v, inflow, native_infil[j], dt, t)
        wet = wet or unit_wet
        surface = out * area_u
        drain = v[V_STOR_DRAIN] * area_u
        if p[TO_PERV] > 0.0 and area > lid_area[j]:  # evalLidUnit: returned to the pervious area
            flow_to_perv[j] += surface
            surface = 0.0
            if drain_same_outlet[u]:
                flow_to_perv[j] += drain
                drain = 0.0
        s[S_NEW_DRAIN] = drain
        new_runoff[j] += surface
        # dry time since the last rain (rain barrels' drain delay)
        s[S_DRY_TIME] = 0.0 if rain > MIN_RUNOFF else s[S_DRY_TIME] + dt
    for j in range(n):
        new_runoff[j] -= captured[j]
    return wet
