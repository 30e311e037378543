"""Rain to runoff as SWMM 5 computes it: subcatchments of three subareas, each a
non-linear reservoir, with depression storage and infiltration.

Source: Rossman & Huber, Storm Water Management Model Reference Manual, Volume I –
Hydrology (revised), EPA/600/R-15/162A, 2016:

- ch. 3 (Surface runoff): a subcatchment is split into an impervious area without
  depression storage (the %Zero share of the impervious area, A1), an impervious area
  with it (A2) and a pervious area (A3). Each is a reservoir of ponded depth d:
  dd/dt = i - e - f - q, with the outflow per unit area from Manning's equation over a
  plane of the subcatchment's width W and slope S, q = α·(d - ds)^(5/3) for d > ds,
  α = W·S^(1/2)/(n·A) (eq. 3-4 to 3-6; SI: 1.0, US: 1.49), A the impervious area for
  both A1 and A2 and the pervious area for A3. The depth is integrated over the step
  with an adaptive Runge-Kutta method (SWMM's odesolve, tolerance 1e-4) once
  depression storage is full; the outflow is then evaluated at the new depth.
  Runoff may be re-routed between subareas (§3.4: "% routed" from the impervious to the
  pervious area or back) and from one subcatchment onto another (run-on, spread over
  the receiving area), each with the previous step's runoff.
- ch. 4 (Infiltration): Horton (§4.2, the integrated form on the capacity curve, with
  regeneration while dry), modified Horton (§4.3, capacity reduced by the cumulative
  infiltration above fmin), Green-Ampt (§4.4, the two-stage Mein-Larson form with the
  upper-zone depth Lu = 4·Ks^(1/2) [in, in/h] and recovery between events; modified
  Green-Ampt keeps the deficit through small rains) and the Curve Number method (§4.5,
  infiltration F = P - P²/(P + S) over an event, S = 1000/CN - 10 in).
- ch. 2 (Rainfall): a gauge's value holds for its recording interval from each time of
  its series; a gap means no rain. The runoff step is WET_STEP while it rains or any
  subcatchment runs off, else DRY_STEP, and never passes a change of a gauge's rain.
  The drainage network sees each subcatchment's outflow interpolated between the last
  two runoff steps (SWMM's routing does the same).

LID controls ([LID_USAGE]) take their area out of the subareas and treat their runoff
after each runoff step (:mod:`twin_drainage.lid`). Evaporation and snow are not
modelled (the importer warns when a file has them).
Units here are SI: m, s, m/s, m³/s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from twin_drainage import _numba_cache  # noqa: F401 - before any kernel: the package-wide cache key

#: subareas: impervious without depression storage, impervious with it, pervious
IMPERV0, IMPERV1, PERV = 0, 1, 2
#: where a subarea's runoff goes (SWMM's RouteTo)
TO_OUTLET, TO_IMPERV, TO_PERV = 0, 1, 2
#: infiltration models
NO_INFILTRATION, HORTON, MOD_HORTON, GREEN_AMPT, MOD_GREEN_AMPT, CURVE_NUMBER = range(6)
INFILTRATION_MODELS = {"HORTON": HORTON, "MODIFIED_HORTON": MOD_HORTON, "GREEN_AMPT": GREEN_AMPT,
                       "MODIFIED_GREEN_AMPT": MOD_GREEN_AMPT, "CURVE_NUMBER": CURVE_NUMBER}
FOOT = 0.3048
#: SWMM's "effective zero" (1e-10 ft/s), in m/s
ZERO = 1.0e-10 * FOOT
#: SWMM's MIN_TOTAL_DEPTH (0.05 in): below it a Curve Number surface is dry
MIN_TOTAL_DEPTH = 0.004167 * FOOT
#: exponent of Manning's overland flow
MEXP = 5.0 / 3.0
#: relative tolerance of the runoff ODE (SWMM's ODETOL)
ODE_TOLERANCE = 1.0e-4
#: per-subcatchment parameters: rows of Catchments.params
PARAMS = ("area", "width", "slope", "frac_imperv", "n_imperv", "n_perv", "ds_imperv", "ds_perv", "frac_zero",
          "frac_routed")
(P_AREA, P_WIDTH, P_SLOPE, P_FRAC_IMPERV, P_N_IMPERV, P_N_PERV, P_DS_IMPERV, P_DS_PERV, P_FRAC_ZERO,
 P_FRAC_ROUTED) = range(len(PARAMS))
#: infiltration state per subcatchment (meaning depends on the model)
INFIL_STATE = 6


@dataclass
class Catchments:
    """The subcatchments of a network, as arrays (one column per subcatchment)."""

    names: list[str]
    #: PARAMS x n, SI units (m², m, m/m, fractions, Manning's n, m)
    params: np.ndarray
    #: RouteTo per subcatchment (TO_OUTLET, TO_IMPERV, TO_PERV)
    route_to: np.ndarray
    #: index of the rain gauge of each subcatchment
    gauge: np.ndarray
    #: the receiving subcatchment (run-on), or -1
    outlet_subcatchment: np.ndarray
    #: infiltration model code and its parameters (5 per subcatchment, SI; see infiltration())
    infil_model: np.ndarray
    infil_params: np.ndarray

    @classmethod
    def from_spec(cls, spec: list[dict], gauges: list[str]) -> "Catchments":
        """From the importer's JSON records (``hydrology.json``'s ``subcatchments``)."""
        names = [s["name"] for s in spec]
        index = {n: k for k, n in enumerate(names)}
        n = len(spec)
        params = np.zeros((len(PARAMS), n))
        for k, s in enumerate(spec):
            for p, name in enumerate(PARAMS):
                params[p, k] = float(s[name])
        route = np.array([{"OUTLET": TO_OUTLET, "IMPERVIOUS": TO_IMPERV, "PERVIOUS": TO_PERV}[s["route_to"]]
                          for s in spec], dtype=np.int64)
        gauge = np.array([gauges.index(s["gauge"]) if s.get("gauge") in gauges else -1 for s in spec], dtype=np.int64)
        outlet_sub = np.array([index.get(s["outlet"], -1) if s["outlet_kind"] == "subcatchment" else -1 for s in spec],
                              dtype=np.int64)
        model = np.array([INFILTRATION_MODELS.get(s.get("infiltration", ""), NO_INFILTRATION) for s in spec],
                         dtype=np.int64)
        infil = np.zeros((n, 5))
        for k, s in enumerate(spec):
            values = s.get("infiltration_params", [])
            infil[k, :len(values)] = values
        return cls(names, params, route, gauge, outlet_sub, model, infil)


def infiltration_params(model: str, values: list[float], us: bool) -> list[float]:
    """A row of [INFILTRATION] in the file's units -> the kernel's SI parameters.

    Horton and modified Horton: f0, fmin (in/h or mm/h), decay (1/h), drying time (d),
    Fmax (in or mm; 0 none) -> [f0, fmin (m/s), decay (1/s), regeneration (1/s), Fmax (m)].
    Green-Ampt: suction (in or mm), Ksat (in/h or mm/h), IMDmax -> [suction (m), Ksat
    (m/s), IMDmax, Lu (m), 0]. Curve Number: CN, (Ksat, unused), drying time (d) ->
    [Smax (m), regeneration (1/s), inter-event time (s), 0, 0]. Vol. I §4.2-4.5."""
    depth = 0.0254 if us else 0.001  # in or mm -> m
    rate = depth / 3600.0  # in/h or mm/h -> m/s
    code = INFILTRATION_MODELS[model]
    v = list(values) + [0.0] * (5 - len(values))
    if code in (HORTON, MOD_HORTON):
        dry = v[3] if v[3] > 0.0 else 1.0e-6
        # the drying time is the time to recover 98 % of the capacity (Vol. I eq. 4-5)
        return [v[0] * rate, v[1] * rate, v[2] / 3600.0, -math.log(1.0 - 0.98) / dry / 86400.0, v[4] * depth]
    if code in (GREEN_AMPT, MOD_GREEN_AMPT):
        ks_in_per_hour = v[1] * rate / (0.0254 / 3600.0)
        # Mein's upper zone depth (Vol. I eq. 4-30): Lu = 4·sqrt(Ks) inches, Ks in in/h
        return [v[0] * depth, v[1] * rate, v[2], 4.0 * math.sqrt(ks_in_per_hour) * 0.0254, 0.0]
    cn = min(max(v[0], 10.0), 99.0)
    regen = 1.0 / (v[2] * 86400.0)
    # S = 1000/CN - 10 inches (Vol. I eq. 4-38); a new event after 0.06/regen seconds dry
    return [(1000.0 / cn - 10.0) * 0.0254, regen, 0.06 / regen, 0.0, 0.0]


def initial_infil_state(model: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Each subcatchment's infiltration state at the start: dry soil."""
    state = np.zeros((len(model), INFIL_STATE))
    for k, code in enumerate(model):
        if code in (GREEN_AMPT, MOD_GREEN_AMPT):
            state[k, 0] = params[k, 2]  # IMD = IMDmax
        elif code == CURVE_NUMBER:
            state[k, 0] = params[k, 0]  # S = Smax
            state[k, 4] = params[k, 0]  # Se = Smax
    return state


# --- infiltration (Vol. I ch. 4) ------------------------------------------------------
@njit(cache=True, nogil=True)
def _horton(p, s, dt, irate, depth):  # pragma: no cover - compiled
    """Horton (Vol. I §4.2): the rate averaged over the step on the capacity curve
    f = fmin + (f0 - fmin)·exp(-kd·tp), tp moved back when less than capacity
    infiltrates, regenerating while dry. p: f0, fmin, kd, kr, Fmax; s: tp, Fe."""
    f0, fmin, kd, kr, fmax = p[0], p[1], p[2], p[3], p[4]
    df = f0 - fmin
    tp = s[0]
    if df < 0.0 or kd < 0.0 or kr < 0.0:
        return 0.0
    if df == 0.0 or kd == 0.0:
        return max(0.0, min(f0, irate + depth / dt))
    fa = irate + depth / dt
    fp = 0.0
    if fa > ZERO:
        t1 = tp + dt
        tlim = 16.0 / kd
        if tp >= tlim:
            big_fp = fmin * tp + df / kd
            big_f1 = big_fp + fmin * dt
        else:
            big_fp = fmin * tp + df / kd * (1.0 - math.exp(-kd * tp))
            big_f1 = fmin * t1 + df / kd * (1.0 - math.exp(-kd * t1))
        fp = max((big_f1 - big_fp) / dt, fmin)
        if fp > fa:
            fp = fa
        if t1 > tlim:
            tp = t1
        elif fp < fa:
            tp = t1
        else:  # limited by the water available: find tp where F(tp) = F(old tp) + fp·dt
            big_f1 = big_fp + fp * dt
            tp = tp + dt / 2.0
            for _ in range(20):
                kt = min(60.0, kd * tp)
                ex = math.exp(-kt)
                r = (fmin * tp + df / kd * (1.0 - ex) - big_f1) / (fmin + df * ex)
                tp = tp - r
                if abs(r) <= 0.001 * dt:
                    break
        if fmax > 0.0:
            if s[1] + fp * dt > fmax:
                fp = (fmax - s[1]) / dt
            fp = max(fp, 0.0)
            s[1] += fp * dt
    elif kr > 0.0:
        r = math.exp(-kr * dt)
        tp = 1.0 - math.exp(-kd * tp)
        tp = -math.log(1.0 - r * tp) / kd
        if fmax > 0.0:
            s[1] = fmin * tp + (df / kd) * (1.0 - math.exp(-kd * tp))
    s[0] = tp
    return fp


@njit(cache=True, nogil=True)
def _modified_horton(p, s, dt, irate, depth):  # pragma: no cover - compiled
    """Modified Horton (Vol. I §4.3): capacity f0 - kd·Fe (not below fmin), Fe the
    cumulative infiltration above fmin, decaying while dry. s: _, Fe."""
    f0, fmin, kd, kr, fmax = p[0], p[1], p[2], p[3], p[4]
    df = f0 - fmin
    if df < 0.0 or kd < 0.0 or kr < 0.0:
        return 0.0
    if df == 0.0 or kd == 0.0:
        return max(0.0, min(f0, irate + depth / dt))
    fa = irate + depth / dt
    f = 0.0
    if fa > ZERO:
        if fmax > 0.0 and s[1] >= fmax:
            return 0.0
        fp = max(f0 - kd * s[1], fmin)
        f = min(fa, fp)
        s[1] += max(f - fmin, 0.0) * dt
        if fmax > 0.0:
            s[1] = max(s[1], fmax)  # as SWMM 5.2 writes it
    elif kr > 0.0:
        s[1] = max(s[1] * math.exp(-kr * dt), 0.0)
    return f


@njit(cache=True, nogil=True)
def _green_ampt_f2(f1, c1, ks, ts):  # pragma: no cover - compiled
    """Cumulative infiltration after ``ts`` s of saturated Green-Ampt infiltration from
    ``f1`` (Vol. I eq. 4-25, solved by Newton's method)."""
    f2min = f1 + ks * ts
    if c1 == 0.0:
        return f2min
    if ts < 10.0 and f1 > 0.01 * c1:
        return max(f1 + ks * (1.0 + c1 / f1) * ts, f2min)
    c2 = c1 * math.log(f1 + c1) - ks * ts
    f2 = f1
    for _ in range(20):
        df2 = (f2 - f1 - c1 * math.log(f2 + c1) + c2) / (1.0 - c1 / (f2 + c1))
        if abs(df2) < 0.00001 * FOOT:
            return max(f2, f2min)
        f2 -= df2
    return f2min


@njit(cache=True, nogil=True)
def _ga_saturated(p, s, dt, ia, depth):  # pragma: no cover - compiled
    """Green-Ampt with the upper zone saturated (SWMM's grnampt_getSatInfil), ``ia`` the
    water available (m/s)."""
    suction, ks, imd_max, lu = p[0], p[1], p[2], p[3]
    if ia < ZERO:
        return 0.0
    s[4] = 5400.0 / (lu / FOOT)
    df = _green_ampt_f2(s[1], (suction + depth) * s[0], ks, dt) - s[1]
    if df > ia * dt:
        df = ia * dt
        s[3] = 0.0
    s[1] += df
    s[2] = min(s[2] + df, imd_max * lu)
    return df / dt


@njit(cache=True, nogil=True)
def _green_ampt(p, s, dt, irate, depth, modified):  # pragma: no cover - compiled
    """Green-Ampt (Vol. I §4.4). p: suction, Ks, IMDmax, Lu (m); s: IMD, F, Fu, saturated,
    time to the next event. SWMM's recovery constants (kr = Lu/90000, T = 5400/Lu) take Lu
    in feet."""
    suction, ks, imd_max, lu = p[0], p[1], p[2], p[3]
    lu_ft = lu / FOOT
    fumax = imd_max * lu
    s[4] -= dt
    ia = irate + depth / dt
    if s[3] > 0.0:  # the upper zone is saturated
        return _ga_saturated(p, s, dt, ia, depth)
    if ia < ZERO:
        ia = 0.0
    if ia == 0.0:  # no rain: the upper zone drains
        if s[2] <= 0.0:
            return 0.0
        df = lu_ft / 90000.0 * fumax * dt
        s[1] -= df
        s[2] -= df
        if s[2] <= 0.0:
            s[2] = 0.0
            s[1] = 0.0
            s[0] = imd_max
            return 0.0
        if s[4] <= 0.0:
            s[0] = (fumax - s[2]) / lu
            s[1] = 0.0
        return 0.0
    if ia <= ks:
        df = ia * dt
        s[1] += df
        s[2] = min(s[2] + df, fumax)
        if not modified and s[4] <= 0.0:
            s[0] = (fumax - s[2]) / lu
            s[1] = 0.0
        return ia
    s[4] = 5400.0 / lu_ft
    fs = ks * (suction + depth) * s[0] / (ia - ks)  # volume to saturate the surface
    if s[1] > fs:
        s[3] = 1.0
        return _ga_saturated(p, s, dt, ia, depth)
    if s[1] + ia * dt < fs:
        df = ia * dt
        s[1] += df
        s[2] = min(s[2] + df, fumax)
        return ia
    ts = max(dt - (fs - s[1]) / ia, 0.0)
    f2 = min(_green_ampt_f2(fs, (suction + depth) * s[0], ks, ts), fs + ia * ts)
    df = f2 - s[1]
    s[1] = f2
    s[2] = min(s[2] + df, fumax)
    s[3] = 1.0
    return df / dt


@njit(cache=True, nogil=True)
def _curve_number(p, s, dt, irate, depth):  # pragma: no cover - compiled
    """Curve Number (Vol. I §4.5): during an event, cumulative infiltration
    F = P·(1 - P/(P + Se)); the capacity S shrinks by what infiltrates and regenerates
    while dry. p: Smax, regen, Tmax; s: S, P, F, T, Se, f. ``depth`` includes run-on."""
    smax, regen, tmax = p[0], p[1], p[2]
    fa = irate + depth / dt
    f1 = 0.0
    if irate > ZERO:
        if s[3] >= tmax:  # a new event
            s[1] = 0.0
            s[2] = 0.0
            s[5] = 0.0
            s[4] = s[0]
        s[3] = 0.0
        s[1] += irate * dt
        big_f1 = s[1] * (1.0 - s[1] / (s[1] + s[4]))
        f1 = (big_f1 - s[2]) / dt
        if f1 < 0.0 or s[0] <= 0.0:
            f1 = 0.0
    else:
        if depth > MIN_TOTAL_DEPTH and s[0] > 0.0:
            f1 = s[5]
            if f1 * dt > s[0]:
                f1 = s[0] / dt
        else:
            s[3] += dt
    if f1 > 0.0:
        f1 = max(min(f1, fa), 0.0)
        s[2] += f1 * dt
        if regen > 0.0:
            s[0] = max(s[0] - f1 * dt, 0.0)
    else:
        s[0] = min(s[0] + regen * smax * dt, smax)
    s[5] = f1
    return f1


@njit(cache=True, nogil=True)
def infiltration(model, p, s, dt, rain, runon, depth):  # pragma: no cover - compiled
    """Infiltration rate (m/s) of a pervious subarea over a step of ``dt`` s, from its
    rain and run-on (m/s) and ponded depth (m), updating its state ``s``."""
    if model == HORTON:
        return _horton(p, s, dt, rain + runon, depth)
    if model == MOD_HORTON:
        return _modified_horton(p, s, dt, rain + runon, depth)
    if model == GREEN_AMPT or model == MOD_GREEN_AMPT:
        return _green_ampt(p, s, dt, rain + runon, depth, model == MOD_GREEN_AMPT)
    if model == CURVE_NUMBER:
        return _curve_number(p, s, dt, rain, depth + runon * dt)
    return 0.0


# --- the non-linear reservoir (Vol. I ch. 3) ----------------------------------------
@njit(cache=True, nogil=True)
def _reservoir_rate(d, inflow, alpha, ds):  # pragma: no cover - compiled
    x = d - ds
    return inflow - (alpha * x ** MEXP if x > 0.0 else 0.0)


@njit(cache=True, nogil=True)
def _integrate_reservoir(d, inflow, alpha, ds, span):  # pragma: no cover - compiled
    """dd/dt = inflow - α·(d - ds)^(5/3) over ``span`` s by Cash-Karp Runge-Kutta with
    an adaptive step, relative tolerance ODE_TOLERANCE (SWMM's odesolve)."""
    t = 0.0
    h = span
    for _ in range(10000):
        if t >= span:
            break
        h = min(h, span - t)
        k1 = _reservoir_rate(d, inflow, alpha, ds)
        k2 = _reservoir_rate(d + h * 0.2 * k1, inflow, alpha, ds)
        k3 = _reservoir_rate(d + h * (3.0 / 40.0 * k1 + 9.0 / 40.0 * k2), inflow, alpha, ds)
        k4 = _reservoir_rate(d + h * (0.3 * k1 - 0.9 * k2 + 1.2 * k3), inflow, alpha, ds)
        k5 = _reservoir_rate(d + h * (-11.0 / 54.0 * k1 + 2.5 * k2 - 70.0 / 27.0 * k3 + 35.0 / 27.0 * k4),
                             inflow, alpha, ds)
        k6 = _reservoir_rate(d + h * (1631.0 / 55296.0 * k1 + 175.0 / 512.0 * k2 + 575.0 / 13824.0 * k3
                                      + 44275.0 / 110592.0 * k4 + 253.0 / 4096.0 * k5), inflow, alpha, ds)
        fifth = d + h * (37.0 / 378.0 * k1 + 250.0 / 621.0 * k3 + 125.0 / 594.0 * k4 + 512.0 / 1771.0 * k6)
        fourth = d + h * (2825.0 / 27648.0 * k1 + 18575.0 / 48384.0 * k3 + 13525.0 / 55296.0 * k4
                          + 277.0 / 14336.0 * k5 + 0.25 * k6)
        scale = abs(d) + abs(h * k1) + 1.0e-30
        err = abs(fifth - fourth) / scale / ODE_TOLERANCE
        if err <= 1.0 or h < 1.0e-3:
            t += h
            d = max(fifth, 0.0)
            h = h * min(5.0, 0.9 * err ** -0.2) if err > 1.89e-4 else 5.0 * h
        else:
            h = h * max(0.1, 0.9 * err ** -0.25)
    return d


@njit(cache=True, nogil=True)
def _add_runon(params, lid_area, runon, inflow, k, q):  # pragma: no cover - compiled
    """subcatch_addRunonFlow: ``q`` m³/s spread over subcatchment k's non-LID area (its
    whole area when LIDs fill it)."""
    if params[P_AREA, k] <= 0.0:
        return
    receiving = params[P_AREA, k] - lid_area[k]
    q = q / (receiving if receiving > 0.0 else params[P_AREA, k])
    runon[k] += q
    for i in range(3):
        inflow[i, k] += q


@njit(cache=True, nogil=True)
def runoff_step(dt, gauge_rain, params, route_to, gauge, outlet_sub, infil_model, infil_params, infil_state, depth,
                sub_runoff, inflow, old_runoff, new_runoff, lid_area, runon, flow_to_perv, drain_runon,
                native_infil):  # pragma: no cover - compiled
    """One runoff step of ``dt`` s for every subcatchment (SWMM's runoff_execute).

    inputs: ``gauge_rain`` (m/s per gauge over the step), the parameters
    (:class:`Catchments`), each subcatchment's LID area ``lid_area`` (m², taken out of
    its subareas), the LIDs' outflow returned to its pervious area ``flow_to_perv`` and
    underdrain flow it receives from other subcatchments' LIDs ``drain_runon`` (m³/s,
    from the previous step; :mod:`twin_drainage.lid`). state, in place: ``depth`` (m,
    3 x n subareas), ``sub_runoff`` (m/s per subarea's own area), ``infil_state``,
    ``old_runoff`` and ``new_runoff`` (m³/s leaving each subcatchment at the start and
    the end of the step, before LID treatment). out: ``runon`` (m/s over the non-LID
    area, for LIDs that fill their subcatchment) and ``native_infil`` (the pervious
    subarea's infiltration per non-LID area, m/s, for swales). scratch: ``inflow``
    (3 x n). Returns True while any subcatchment runs off.
    """
    n = params.shape[1]
    for j in range(n):
        old_runoff[j] = new_runoff[j]
        runon[j] = 0.0
        native_infil[j] = 0.0
        for i in range(3):
            inflow[i, j] = 0.0
    for j in range(n):  # run-on and re-routing use the previous step's runoff (subcatch_getRunon)
        area = params[P_AREA, j]
        if area <= 0.0:
            continue
        fi = params[P_FRAC_IMPERV, j]
        f0 = fi * params[P_FRAC_ZERO, j]
        f1 = fi - f0
        fp = 1.0 - fi
        k = outlet_sub[j]
        if k >= 0 and k != j:
            _add_runon(params, lid_area, runon, inflow, k, old_runoff[j])
        if drain_runon[j] > 0.0:  # underdrain flow from other subcatchments' LIDs (lid_addDrainRunon)
            _add_runon(params, lid_area, runon, inflow, j, drain_runon[j])
        routed = params[P_FRAC_ROUTED, j]
        if route_to[j] == TO_PERV and fp > 0.0:
            inflow[PERV, j] += (sub_runoff[IMPERV0, j] * f0 + sub_runoff[IMPERV1, j] * f1) * routed / fp
        if route_to[j] == TO_IMPERV and fi > 0.0 and f1 > 0.0:
            inflow[IMPERV1, j] += sub_runoff[PERV, j] * routed * fp / f1
        perv_area = fp * (area - lid_area[j])
        if lid_area[j] > 0.0 and fp > 0.0 and perv_area > 0.0:
            inflow[PERV, j] += flow_to_perv[j] / perv_area
    wet = False
    for j in range(n):
        area = params[P_AREA, j] - lid_area[j]
        if area <= 0.0:
            new_runoff[j] = 0.0
            continue
        rain = gauge_rain[gauge[j]] if gauge[j] >= 0 else 0.0
        fi = params[P_FRAC_IMPERV, j]
        slope_root = math.sqrt(params[P_SLOPE, j])
        width = params[P_WIDTH, j]
        outflow = 0.0
        total = 0.0
        for i in range(3):
            if i == PERV:
                frac = 1.0 - fi
                n_manning = params[P_N_PERV, j]
                ds = params[P_DS_PERV, j]
                alpha_area = frac * area
            else:
                frac = fi * params[P_FRAC_ZERO, j] if i == IMPERV0 else fi * (1.0 - params[P_FRAC_ZERO, j])
                n_manning = params[P_N_IMPERV, j]
                ds = 0.0 if i == IMPERV0 else params[P_DS_IMPERV, j]
                alpha_area = fi * area
            if frac <= 0.0:
                sub_runoff[i, j] = 0.0
                continue
            alpha = width / alpha_area * slope_root / n_manning if alpha_area > 0.0 and n_manning > 0.0 else 0.0
            d = depth[i, j]
            moisture = d / dt
            infil = 0.0
            if i == PERV:
                infil = infiltration(infil_model[j], infil_params[j], infil_state[j], dt, rain, inflow[i, j], d)
                native_infil[j] = infil * frac
            inflow[i, j] += rain
            moisture += inflow[i, j]
            t_runoff = dt
            if infil >= moisture:
                d = 0.0
            else:
                ix = inflow[i, j] - infil
                if d + ix * dt <= ds:
                    d += ix * dt
                else:
                    # fill the depression storage first, then integrate the rest of the step
                    gap = ds - d
                    if gap > 0.0 and ix > 0.0:
                        t_runoff -= gap / ix
                        d = ds
                    if alpha > 0.0 and t_runoff > 0.0:
                        d = _integrate_reservoir(d, ix, alpha, ds, t_runoff)
                    else:
                        d += ix * max(t_runoff, 0.0)
                d = max(d, 0.0)
            # the outflow at the end of the step (SWMM's findSubareaRunoff)
            x = d - ds
            rate = 0.0
            if x > ZERO:
                if n_manning > 0.0:
                    rate = alpha * x ** MEXP
                else:
                    rate = x / t_runoff
                    d = ds
            depth[i, j] = d
            sub_runoff[i, j] = rate
            keep = 1.0
            if (i == PERV and route_to[j] == TO_IMPERV) or (i != PERV and route_to[j] == TO_PERV):
                keep = 1.0 - params[P_FRAC_ROUTED, j]
            outflow += keep * rate * frac * area
            total += rate * frac * area
        new_runoff[j] = outflow
        if total > 0.0:
            wet = True
    return wet


class Runoff:
    """The subcatchments' runoff on SWMM's runoff clock (Vol. I ch. 2-4).

    :meth:`advance` takes runoff steps (WET_STEP while it rains or anything runs off,
    else DRY_STEP, never past a change of a gauge's rain or the run's end) until the
    runoff clock reaches a routing time; :meth:`outflow` is each subcatchment's outflow
    (m³/s) at a routing time, interpolated between the last two runoff steps."""

    def __init__(self, catchments: Catchments, gauges: list, wet_step: float, dry_step: float,
                 duration: float = math.inf, lids=None) -> None:
        from twin_drainage import lid as lid_module

        self.c = catchments
        #: the LID units (:class:`twin_drainage.lid.Lids`) or None
        self.lids = lids if lids is not None and len(lids.names) else None
        self.gauges = gauges
        self.wet_step, self.dry_step, self.duration = wet_step, dry_step, duration
        n = len(catchments.names)
        self.depth = np.zeros((3, n))
        self.sub_runoff = np.zeros((3, n))
        self.inflow = np.zeros((3, n))
        self.old_runoff = np.zeros(n)
        self.new_runoff = np.zeros(n)
        self.infil_state = initial_infil_state(catchments.infil_model, catchments.infil_params)
        self.runon = np.zeros(n)
        self.flow_to_perv = np.zeros(n)
        self.drain_runon = np.zeros(n)
        self.native_infil = np.zeros(n)
        self.lid_area = self.lids.lid_area if self.lids is not None else np.zeros(n)
        if self.lids is not None:
            self.lid_state, self.lid_ga_state = self.lids.initial_state()
            subs = self.lids.subcatchment
            self._drains_to_sub = (self.lids.drain_subcatchment >= 0) & (self.lids.drain_subcatchment != subs)
            self._lid = lid_module
        self.old_time = 0.0
        self.new_time = 0.0
        # initially saturated LIDs start on the wet step (lid_initState's HasWetLids)
        self.wet = self.lids is not None and bool(self.lids.params[:, lid_module.INIT_SAT].any())
        #: rain fallen on the subcatchments (m³), for the water balance
        self.rain_volume = 0.0
        #: runoff that left the subcatchments to nodes or outfalls (m³, integrated as routed)
        self.steps = 0

    def step(self) -> None:
        """One runoff step from ``new_time``."""
        t = self.new_time
        rain = np.array([g.rain_at(t) for g in self.gauges]) if self.gauges else np.zeros(1)
        limit = self.dry_step
        for g in self.gauges:
            gap = g.next_change(t) - t
            if 0.0 < gap < limit:
                limit = gap
        raining = bool((rain > 0.0).any())
        dt = min(self.wet_step if (raining or self.wet) else self.dry_step, limit)
        dt = max(min(dt, self.duration - t), 1.0e-3)
        lids = self.lids
        self.drain_runon[:] = 0.0
        if lids is not None and self._drains_to_sub.any():
            np.add.at(self.drain_runon, lids.drain_subcatchment[self._drains_to_sub],
                      self.lid_state[self._drains_to_sub, self._lid.S_NEW_DRAIN])
        self.wet = runoff_step(dt, rain, self.c.params, self.c.route_to, self.c.gauge, self.c.outlet_subcatchment,
                               self.c.infil_model, self.c.infil_params, self.infil_state, self.depth, self.sub_runoff,
                               self.inflow, self.old_runoff, self.new_runoff, self.lid_area, self.runon,
                               self.flow_to_perv, self.drain_runon, self.native_infil)
        if lids is not None:
            wet_lids = self._lid.lid_step(dt, t, rain, self.c.gauge, self.c.params, self.c.route_to, self.lid_area,
                                          self.runon, self.sub_runoff, self.new_runoff, self.flow_to_perv,
                                          self.native_infil, self.c.infil_model, self.c.infil_params,
                                          self.infil_state, lids.subcatchment, lids.params, self.lid_state, lids.ga_params,
                                          self.lid_ga_state, lids.same_outlet)
            self.wet = self.wet or wet_lids
        gauge_of = self.c.gauge
        area = self.c.params[P_AREA]
        used = gauge_of >= 0
        self.rain_volume += float((rain[gauge_of[used]] * area[used]).sum() * dt)
        self.old_time, self.new_time = t, t + dt
        self.steps += 1

    def advance(self, t: float) -> None:
        """Run runoff steps until the runoff clock is at or past ``t`` s."""
        while self.new_time < t and self.new_time < self.duration:
            self.step()

    def outflow(self, t: float) -> np.ndarray:
        """Each subcatchment's outflow (m³/s) at ``t``, between the last two steps."""
        span = self.new_time - self.old_time
        f = min(max((t - self.old_time) / span, 0.0), 1.0) if span > 0.0 else 1.0
        return (1.0 - f) * self.old_runoff + f * self.new_runoff

    def drain_outflow(self, t: float) -> np.ndarray:
        """Each LID unit's underdrain flow (m³/s) at ``t``, between the last two steps
        (lid_addDrainInflow); empty without LIDs."""
        if self.lids is None:
            return np.zeros(0)
        span = self.new_time - self.old_time
        f = min(max((t - self.old_time) / span, 0.0), 1.0) if span > 0.0 else 1.0
        return (1.0 - f) * self.lid_state[:, self._lid.S_OLD_DRAIN] + f * self.lid_state[:, self._lid.S_NEW_DRAIN]


# --- the updater ------------------------------------------------------------------------
#: where an imported scene keeps its subcatchments, rain gauges and inflows
HYDROLOGY_FILE = "data/hydrology.json"


@dataclass
class HydrologyRun:
    """One world's hydrology of an imported network: the runoff clock, the forcing, and
    where each subcatchment's outflow goes in the domain table."""

    runoff: Runoff
    forcing: object
    start: float
    #: table row receiving each subcatchment's outflow (a manhole or outfall), or -1
    #: (run-on onto another subcatchment, which the runoff step handles)
    target_row: np.ndarray
    node_row: dict
    #: rows written each tick
    rows: np.ndarray
    scratch: np.ndarray
    #: m³ of runoff and of external and dry-weather inflow handed to the network so far
    runoff_volume: float = 0.0
    inflow_volume: float = 0.0
    #: table row receiving each LID unit's underdrain flow, or -1 (to a subcatchment)
    drain_row: np.ndarray = None  # type: ignore[assignment]


def load_hydrology(world, domain: str, start: float) -> HydrologyRun | None:
    """The hydrology of the scene's ``data/hydrology.json`` (None when it has none)."""
    import json

    from twin_drainage import forcing as forcing_module
    from twin_drainage import lid as lid_module

    root = getattr(world.scene, "root", None)
    path = None if root is None else root / HYDROLOGY_FILE
    if path is None or not path.is_file():
        return None
    spec = json.loads(path.read_text(encoding="utf-8"))
    table = world.tables[domain]
    forcing = forcing_module.Forcing.from_spec(spec)
    catchments = Catchments.from_spec(spec["subcatchments"], [g.name for g in forcing.gauges])
    lids = lid_module.Lids.from_spec(spec.get("lids", []), spec["subcatchments"], float(spec.get("dry_days", 0.0)))
    runoff = Runoff(catchments, forcing.gauges, float(spec["wet_step"]), float(spec["dry_step"]),
                    float(spec["duration"]), lids)
    target = np.array([int(table.index.get(s["outlet"], -1)) if s["outlet_kind"] != "subcatchment" else -1
                       for s in spec["subcatchments"]], dtype=np.int64)
    node_row = {f.node: int(table.index[f.node]) for f in forcing.inflows if f.node in table.index}
    drain_row = np.array([int(table.index.get(name, -1)) if name else -1 for name in lids.drain_node], dtype=np.int64)
    rows = np.unique(np.concatenate([target[target >= 0], np.array(list(node_row.values()), dtype=np.int64),
                                     drain_row[drain_row >= 0]]))
    return HydrologyRun(runoff, forcing, start, target, node_row, rows, np.zeros(len(table)), drain_row=drain_row)


def step_hydrology(ctx) -> None:
    """One tick of an imported network's hydrology: each subcatchment's outflow (SWMM's
    runoff, interpolated at the tick's start as SWMM's routing does) and the nodes'
    external and dry-weather inflows, into ``external_inflow`` (m³/s) of the manholes and
    outfalls they reach. A scene without ``data/hydrology.json`` has none."""
    run = ctx.world.memo(("drainage", "hydrology", ctx.domain),
                         lambda: load_hydrology(ctx.world, ctx.domain, ctx.time - ctx.dt))
    if run is None:
        return
    column = ctx.table["external_inflow"]
    t1 = ctx.time - run.start
    t0 = t1 - ctx.dt
    column[run.rows] = 0.0
    if len(run.target_row):
        run.runoff.advance(t1)
        q = run.runoff.outflow(t0)
        to_node = run.target_row >= 0
        np.add.at(column, run.target_row[to_node], q[to_node])
        run.runoff_volume += float(q[to_node].sum()) * ctx.dt
        if run.runoff.lids is not None:  # LID underdrains, to their DrainTo node (lid_addDrainInflow)
            drains = run.runoff.drain_outflow(t0)
            to_node = run.drain_row >= 0
            np.add.at(column, run.drain_row[to_node], drains[to_node])
            run.runoff_volume += float(drains[to_node].sum()) * ctx.dt
    if run.node_row:
        scratch = run.scratch
        scratch[:] = 0.0
        run.forcing.node_inflows(t0, run.node_row, scratch)
        column += scratch
        run.inflow_volume += float(scratch.sum()) * ctx.dt
