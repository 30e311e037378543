"""Pumps, weirs, orifices and outlets: links whose flow is set by the heads at their ends
(or a pump's curve), not by momentum.

Source: Rossman, SWMM 5.2 Reference Manual vol. II – Hydraulics (EPA/600/R-17/111),
ch. 7 (flow regulators), with the equations as SWMM 5.2's link.c evaluates them:

- weirs: Q = Cw·L·h^1.5 (transverse, L less 0.1·h per end contraction), Cw·L^0.83·h^1.67
  (side flow), Cw·s·h^2.5 (V-notch), the two together (trapezoidal); submerged, times
  Villemonte's (1 - (h2/h1)^p)^0.385; water above the opening makes an orifice of the
  full opening (if the weir may surcharge); a ROADWAY weir (SWMM 5.2's roadway.c, FHWA
  HDS-7 / FHWA-RD-86-108's coefficients): Q = Cr·kt·L·h^1.5, Cr read from the paved or
  gravel road's curve by the head (h/road width <= 0.15) or by h/road width, kt the
  submergence factor by the downstream head over the road over h, never surcharged;
- orifices: Q = Cd·A·sqrt(2g·h), h from the upstream head to the downstream head or to
  the opening's mid-height, whichever is higher; while the opening is partly
  submerged on its upstream side, a weir Q = Cd·A·sqrt(2g·hc/2)·f^1.5 (f the opening's
  share under water), continuous at f = 1;
- outlets: Q = C·h^n or a rating curve, h the depth above the outlet or the head
  difference;
- pumps: a curve of flow against wet-well volume (type 1, stepwise), inlet depth (type
  2, stepwise; type 4, continuous) or head rise (type 3); an IDEAL pump passes what
  reaches its wet well; on at its startup depth, off at its shutoff depth; never in
  reverse.

A flap gate stops reverse flow. The router evaluates each regulator every sub-step from
the nodes' heads, then takes its flow implicit in them, linearised with its dQ/dh
(:func:`regulator_gain`) and the nodes' surface areas: the flow at the heads its nodes
reach at the step's end (backward Euler), as SWMM's iterations on the heads give it
(twin_drainage.model.route). It exchanges that flow like a pipe's (node continuity,
outflows limited to what a node holds).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from twin_drainage import _numba_cache  # noqa: F401 - before any kernel: the package-wide cache key

G = 9.80665
REG_PUMP, REG_WEIR, REG_ORIFICE, REG_OUTLET = 0, 1, 2, 3
KINDS = {"pump": REG_PUMP, "weir": REG_WEIR, "orifice": REG_ORIFICE, "outlet": REG_OUTLET}
#: rows of the integer parameters
REG_INTS = ("kind", "up", "down", "subtype", "gated")
RI_KIND, RI_UP, RI_DOWN, RI_SUBTYPE, RI_GATED = range(len(REG_INTS))
#: rows of the float parameters (SI)
REG_FLOATS = ("crest", "height", "width", "c1", "c2", "slope", "end_contractions", "startup", "shutoff",
              "surcharge_coeff", "can_surcharge", "road_width", "road_surface")
(RF_CREST, RF_HEIGHT, RF_WIDTH, RF_C1, RF_C2, RF_SLOPE, RF_END, RF_STARTUP, RF_SHUTOFF, RF_CSUR,
 RF_CAN_SURCHARGE, RF_ROAD_WIDTH, RF_ROAD_SURFACE) = range(len(REG_FLOATS))
#: SWMM's FUDGE: heads below it carry no flow, m
FUDGE = 0.0001 * 0.3048
#: the exponent of the head in each weir's equation (transverse, side flow, V-notch, trapezoidal, roadway)
WEIR_POWER = np.array([1.5, 5.0 / 3.0, 2.5, 1.5, 1.5])
#: a ROADWAY weir's sub-type, and its road surfaces (RF_ROAD_SURFACE; 0: none given)
WEIR_ROADWAY = 4
ROAD_PAVED, ROAD_GRAVEL = 1, 2
FOOT = 0.3048
#: roadway.c's tables (from FHWA/RD-86/108, figure 10), in feet and cfs: the discharge
#: coefficient against the head (ft) for head/road width <= 0.15, against head/road
#: width above it, and the submergence factor against the downstream over the upstream
#: head on the road; paved and gravel
CR_LOW_PAVED = np.array([[0.0, 2.85], [0.2, 2.95], [0.7, 3.03], [4.0, 3.05]])
CR_LOW_GRAVEL = np.array([[0.0, 2.5], [0.5, 2.7], [1.0, 2.8], [1.5, 2.9], [2.0, 2.98], [2.5, 3.02], [3.0, 3.03],
                          [4.0, 3.05]])
CR_HIGH_PAVED = np.array([[0.15, 3.05], [0.25, 3.10]])
CR_HIGH_GRAVEL = np.array([[0.15, 2.95], [0.30, 3.10]])
KT_PAVED = np.array([[0.8, 1.0], [0.85, 0.98], [0.90, 0.92], [0.93, 0.85], [0.95, 0.80], [0.97, 0.70], [0.98, 0.60],
                     [0.99, 0.50], [1.00, 0.40]])
KT_GRAVEL = np.array([[0.75, 1.00], [0.80, 0.985], [0.83, 0.97], [0.86, 0.93], [0.89, 0.90], [0.90, 0.87],
                      [0.92, 0.80], [0.94, 0.70], [0.96, 0.60], [0.98, 0.50], [0.99, 0.40], [1.00, 0.24]])
#: a coefficient in cfs/ft^2.5 times this is the SI one (m³/s per m^2.5)
US_COEFF = math.sqrt(FOOT)


def build(specs: list[dict], node_index: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                                   np.ndarray, np.ndarray]:
    """Arrays of the regulators ``specs`` (twin_drainage.inp's records, in order):
    (ints, floats, curve_ptr, curve_x, curve_y, initially on)."""
    n = len(specs)
    ints = np.zeros((len(REG_INTS), n), dtype=np.int64)
    floats = np.zeros((len(REG_FLOATS), n))
    ptr = np.zeros(n + 1, dtype=np.int64)
    xs: list[float] = []
    ys: list[float] = []
    on = np.zeros(n)
    for k, s in enumerate(specs):
        ints[:, k] = (KINDS[s["kind"]], node_index[s["links"][0]], node_index[s["links"][1]], s["subtype"],
                      int(bool(s["gated"])))
        for name in ("crest", "height", "width", "c1", "c2", "slope", "end_contractions", "startup", "shutoff"):
            floats[REG_FLOATS.index(name), k] = float(s[name])
        floats[RF_CAN_SURCHARGE, k] = 1.0 if s.get("surcharge", True) else 0.0
        floats[RF_ROAD_WIDTH, k] = float(s.get("road_width", 0.0))
        floats[RF_ROAD_SURFACE, k] = float(s.get("road_surface", 0))
        for x, y in s.get("curve", []):
            xs.append(float(x))
            ys.append(float(y))
        ptr[k + 1] = len(xs)
        on[k] = 1.0 if s.get("initially_on", True) else 0.0
    for k in range(n):
        # a roadway weir never surcharges (roadway.c; link.c weir_setSetting leaves it out)
        if ints[RI_KIND, k] == REG_WEIR and floats[RF_HEIGHT, k] > 0.0 and ints[RI_SUBTYPE, k] != WEIR_ROADWAY:
            # the orifice a surcharged weir becomes: its flow at a head of the full
            # opening, seen from the opening's mid-height (link.c weir_validate)
            h = floats[RF_HEIGHT, k]
            floats[RF_CSUR, k] = _weir_free(ints[RI_SUBTYPE, k], h, floats[RF_C1, k], floats[RF_C2, k],
                                            floats[RF_WIDTH, k], floats[RF_SLOPE, k], floats[RF_END, k], 1.0) \
                / math.sqrt(h / 2.0)
    return ints, floats, ptr, np.array(xs), np.array(ys), on


def head_gain(ints: np.ndarray, floats: np.ndarray, ptr: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """An upper estimate of each regulator's dq/dh (m²/s) over its working range, for the
    router's step (model.REG_GAIN_STEPS)."""
    out = np.zeros(ints.shape[1])
    for r in range(ints.shape[1]):
        kind, sub = ints[RI_KIND, r], ints[RI_SUBTYPE, r]
        height = floats[RF_HEIGHT, r]
        if kind == REG_WEIR:
            h = max(height, 0.3)
            if sub == WEIR_ROADWAY:  # at the largest coefficient of its tables, or its own
                c = max(floats[RF_C1, r], 3.10 * US_COEFF) if floats[RF_ROAD_SURFACE, r] > 0.0 else floats[RF_C1, r]
                q = c * floats[RF_WIDTH, r] * h ** 1.5
            else:
                q = _weir_free(sub, h, floats[RF_C1, r], floats[RF_C2, r], floats[RF_WIDTH, r], floats[RF_SLOPE, r],
                               floats[RF_END, r], 1.0)
            out[r] = WEIR_POWER[sub] * q / h
            if floats[RF_CSUR, r] > 0.0:
                out[r] = max(out[r], floats[RF_CSUR, r] / (2.0 * math.sqrt(0.05)))
        elif kind == REG_ORIFICE:
            h = max(height, 0.05)
            out[r] = max(1.5 * floats[RF_C2, r] / h, floats[RF_C1, r] / (2.0 * math.sqrt(h / 2.0)))
        elif kind == REG_OUTLET:
            if sub < 2:
                n = floats[RF_C2, r]
                out[r] = floats[RF_C1, r] * n * (max(height, 1.0) ** (n - 1.0) if n >= 1.0 else 0.05 ** (n - 1.0))
            else:
                out[r] = _max_slope(xs[ptr[r]:ptr[r + 1]], ys[ptr[r]:ptr[r + 1]])
        elif kind == REG_PUMP and sub in (3, 4):
            out[r] = _max_slope(xs[ptr[r]:ptr[r + 1]], ys[ptr[r]:ptr[r + 1]])
    return out


def _max_slope(xs: np.ndarray, ys: np.ndarray) -> float:
    dx, dy = np.diff(xs), np.diff(ys)
    keep = dx > 0.0
    return float(np.max(np.abs(dy[keep] / dx[keep]))) if keep.any() else 0.0


@njit(cache=True, nogil=True)
def _weir_free(subtype, h, c1, c2, width, slope, ends, direction):  # pragma: no cover - compiled
    """A weir's free (unsubmerged) flow at a head ``h`` above its crest (m³/s)."""
    if h <= 0.0:
        return 0.0
    if subtype == 0:
        return c1 * max(width - 0.1 * ends * h, 0.0) * h ** 1.5
    if subtype == 1:
        length = max(width - 0.1 * ends * h, 0.0)
        return c1 * length * h ** 1.5 if direction < 0.0 else c1 * length ** 0.83 * h ** 1.67
    if subtype == 2:
        return c1 * slope * h ** 2.5
    return c1 * width * h ** 1.5 + c2 * slope * h ** 2.5


@njit(cache=True, nogil=True)
def _table(x, rows):  # pragma: no cover - compiled
    """roadway.c getY: ``rows`` (of x, y) at ``x``, linear inside, held at its ends."""
    n = rows.shape[0]
    if x <= rows[0, 0]:
        return rows[0, 1]
    if x >= rows[n - 1, 0]:
        return rows[n - 1, 1]
    for i in range(1, n):
        if x <= rows[i, 0]:
            x1, y1 = rows[i - 1, 0], rows[i - 1, 1]
            return y1 + (x - x1) * (rows[i, 1] - y1) / (rows[i, 0] - x1)
    return rows[n - 1, 1]


@njit(cache=True, nogil=True)
def roadway_coefficient(h, h2, road_width, surface):  # pragma: no cover - compiled
    """roadway.c getCd: the discharge coefficient (cfs/ft^2.5) of a road ``road_width`` m
    wide, of ``surface`` (ROAD_PAVED or ROAD_GRAVEL), at a head ``h`` (m) above it
    upstream and ``h2`` (m) downstream: Cr from the head (ft) while h/road width <= 0.15,
    else from h/road width, times the submergence factor kt of h2/h (1 while h2 <= 0)."""
    if h <= 0.0:
        return 0.0
    paved = surface == ROAD_PAVED
    ratio = h / road_width
    if ratio <= 0.15:
        cr = _table(h / FOOT, CR_LOW_PAVED if paved else CR_LOW_GRAVEL)
    else:
        cr = _table(ratio, CR_HIGH_PAVED if paved else CR_HIGH_GRAVEL)
    kt = 1.0
    if h2 > 0.0:
        kt = _table(h2 / h, KT_PAVED if paved else KT_GRAVEL)
    return cr * kt


@njit(cache=True, nogil=True)
def roadway_flow(h1, h2, road, coeff, length, road_width, surface):  # pragma: no cover - compiled
    """roadway.c roadway_getInflow: the flow (m³/s, >= 0) over a road at elevation ``road``
    from the head ``h1`` to ``h2`` (h1 >= h2, m), Q = C·L·(h1 - road)^1.5 over a length
    ``length`` (m), C the HDS-7 coefficient (:func:`roadway_coefficient`) where the road's
    width and surface are given, else ``coeff`` (SI)."""
    h = h1 - road
    if h <= FUDGE:
        return 0.0
    c = coeff
    if road_width > 0.0 and surface >= 1.0:
        c = roadway_coefficient(h, h2 - road, road_width, surface) * US_COEFF
    return c * length * h ** 1.5


@njit(cache=True, nogil=True)
def _lookup(x, xs, ys, lo, hi, stepwise):  # pragma: no cover - compiled
    """A curve (``xs[lo:hi]``, ``ys[lo:hi]``) at ``x``: linear inside and held at its ends,
    or (``stepwise``, SWMM's table_intervalLookup) the value of the first point at or
    beyond ``x``."""
    if hi <= lo:
        return 0.0
    if stepwise:
        for k in range(lo, hi):
            if x <= xs[k]:
                return ys[k]
        return ys[hi - 1]
    if x <= xs[lo]:
        return ys[lo]
    for k in range(lo + 1, hi):
        if x <= xs[k]:
            span = xs[k] - xs[k - 1]
            return ys[k] if span <= 0.0 else ys[k - 1] + (ys[k] - ys[k - 1]) * (x - xs[k - 1]) / span
    return ys[hi - 1]


@njit(cache=True, nogil=True)
def regulator_flow(r, ints, floats, curve_ptr, curve_x, curve_y, on, head, node_invert, depth, volume, available,
                   tau, m_count):  # pragma: no cover - compiled
    """Flow (m³/s, positive from the inlet to the outlet node) of regulator ``r`` from the
    nodes' heads now; ``available`` is what its inlet holds (m³), ``on`` a pump's state
    (updated in place at its startup and shutoff depths)."""
    up, down = ints[RI_UP, r], ints[RI_DOWN, r]
    d = depth[up] if up < m_count else 0.0
    if ints[RI_KIND, r] == REG_PUMP:
        startup, shutoff = floats[RF_STARTUP, r], floats[RF_SHUTOFF, r]
        if startup > 0.0 and d >= startup:
            on[r] = 1.0
        if shutoff > 0.0 and d <= shutoff:
            on[r] = 0.0
    return _flow(r, ints, floats, curve_ptr, curve_x, curve_y, on[r], head[up], max(head[down], node_invert[down]),
                 node_invert[up], d, volume[up] if up < m_count else 0.0, available, tau)


#: the step in head over which regulator_gain differentiates the flow, m
GAIN_STEP = 1.0e-3


@njit(cache=True, nogil=True)
def regulator_gain(r, ints, floats, curve_ptr, curve_x, curve_y, on, head, node_invert, depth, volume, available,
                   tau, m_count):  # pragma: no cover - compiled
    """(dQ/dh at the inlet, -dQ/dh at the outlet) of regulator ``r`` now (m²/s, both >= 0
    where the flow rises with the head difference), a difference over GAIN_STEP of the
    flow :func:`regulator_flow` gives, with a pump's state as it is. What SWMM's
    ``Link.dqdh`` is for its node update (link.c weir_getdqdh, orifice and outlet
    ``dqdh``; dynwave.c); 0 for an outfall end, an IDEAL pump (it passes what reaches it)
    and the stepwise pump curves (types 1 and 2: a jump, not a slope)."""
    up, down = ints[RI_UP, r], ints[RI_DOWN, r]
    kind, subtype = ints[RI_KIND, r], ints[RI_SUBTYPE, r]
    if kind == REG_PUMP and (on[r] <= 0.0 or subtype < 3):
        return 0.0, 0.0
    d = depth[up] if up < m_count else 0.0
    vol = volume[up] if up < m_count else 0.0
    h1, z_up, z_down = head[up], node_invert[up], node_invert[down]
    q = _flow(r, ints, floats, curve_ptr, curve_x, curve_y, on[r], h1, max(head[down], z_down), z_up, d, vol,
              available, tau)
    g_up, g_down = 0.0, 0.0
    if up < m_count:
        g_up = (_flow(r, ints, floats, curve_ptr, curve_x, curve_y, on[r], h1 + GAIN_STEP, max(head[down], z_down),
                      z_up, d + GAIN_STEP, vol, available, tau) - q) / GAIN_STEP
    if down < m_count:
        g_down = (q - _flow(r, ints, floats, curve_ptr, curve_x, curve_y, on[r], h1, max(head[down] + GAIN_STEP, z_down),
                            z_up, d, vol, available, tau)) / GAIN_STEP
    return max(g_up, 0.0), max(g_down, 0.0)


@njit(cache=True, nogil=True)
def _flow(r, ints, floats, curve_ptr, curve_x, curve_y, on_r, h1, h2, z_up, d, vol, available,
          tau):  # pragma: no cover - compiled
    """Regulator ``r``'s flow at an inlet head ``h1`` (its depth ``d`` and volume ``vol``)
    and an outlet head ``h2`` (no lower than the outlet's invert), a pump ``on_r``."""
    kind = ints[RI_KIND, r]
    crest = z_up + floats[RF_CREST, r]
    lo, hi = curve_ptr[r], curve_ptr[r + 1]
    if kind == REG_PUMP:
        if on_r <= 0.0:
            return 0.0
        subtype = ints[RI_SUBTYPE, r]
        if subtype == 0:
            q = available / tau
        elif subtype == 1:
            q = _lookup(vol, curve_x, curve_y, lo, hi, True)
        elif subtype == 2:
            q = _lookup(d, curve_x, curve_y, lo, hi, True)
        elif subtype == 3:
            q = _lookup(max(h2 - h1, 0.0), curve_x, curve_y, lo, hi, False)
        else:
            q = _lookup(d, curve_x, curve_y, lo, hi, False)
        return max(q, 0.0)
    direction = 1.0
    if h2 > h1:
        # roadway.c checks no flap gate: a roadway weir carries reverse flow regardless
        if ints[RI_GATED, r] and not (kind == REG_WEIR and ints[RI_SUBTYPE, r] == WEIR_ROADWAY):
            return 0.0
        direction = -1.0
        h1, h2 = h2, h1
    if kind == REG_WEIR and ints[RI_SUBTYPE, r] == WEIR_ROADWAY:
        return direction * roadway_flow(h1, h2, crest, floats[RF_C1, r], floats[RF_WIDTH, r],
                                        floats[RF_ROAD_WIDTH, r], floats[RF_ROAD_SURFACE, r])
    if kind == REG_WEIR:
        height = floats[RF_HEIGHT, r]
        crown = crest + height
        h = h1 - crest
        if h <= FUDGE:
            return 0.0
        subtype = ints[RI_SUBTYPE, r]
        if h1 >= crown and height > 0.0:
            if floats[RF_CAN_SURCHARGE, r] > 0.0:
                mid = 0.5 * (crest + crown)
                head_eff = h1 - mid if h2 < mid else h1 - h2
                return direction * floats[RF_CSUR, r] * math.sqrt(max(head_eff, 0.0))
            h = height
        q1 = _weir_free(subtype, h, floats[RF_C1, r], 0.0 if subtype != 3 else 0.0, floats[RF_WIDTH, r],
                        floats[RF_SLOPE, r], floats[RF_END, r], direction)
        q2 = 0.0
        if subtype == 3:
            q1 = floats[RF_C1, r] * floats[RF_WIDTH, r] * h ** 1.5
            q2 = floats[RF_C2, r] * floats[RF_SLOPE, r] * h ** 2.5
        if h2 > crest:
            ratio = min((h2 - crest) / (h1 - crest), 1.0)
            q1 *= (1.0 - ratio ** WEIR_POWER[subtype]) ** 0.385
            if q2 > 0.0:
                q2 *= (1.0 - ratio ** 2.5) ** 0.385
        return direction * (q1 + q2)
    if kind == REG_ORIFICE:
        height = floats[RF_HEIGHT, r]
        hcrit = floats[RF_SLOPE, r]
        if ints[RI_SUBTYPE, r] == 1:  # bottom
            if h1 < crest:
                h = 0.0
            elif h2 > crest:
                h = h1 - h2
            else:
                h = h1 - crest
            f = min(h / hcrit, 1.0) if hcrit > 0.0 else 1.0
        else:  # side
            crown = crest + height
            mid = 0.5 * (crest + crown)
            f = (h1 - crest) / (crown - crest) if h1 < crown and crown > crest else 1.0
            if f < 1.0:
                h = h1 - crest
            elif h2 < mid:
                h = h1 - mid
            else:
                h = h1 - h2
        if h <= FUDGE or f <= 0.0:
            return 0.0
        q = floats[RF_C2, r] * f ** 1.5 if f < 1.0 else floats[RF_C1, r] * math.sqrt(h)
        if f < 1.0 and h2 > crest:
            ratio = min((h2 - crest) / (h1 - crest), 1.0)
            q *= (1.0 - ratio ** 1.5) ** 0.385
        return direction * q
    # outlet
    subtype = ints[RI_SUBTYPE, r]
    if subtype == 0 or subtype == 2:
        h = h1 - crest
    else:
        h = h1 - max(h2, crest)
    if h <= FUDGE:
        return 0.0
    if subtype < 2:
        q = floats[RF_C1, r] * h ** floats[RF_C2, r]
    else:
        q = _lookup(h, curve_x, curve_y, lo, hi, False)
    return direction * max(q, 0.0)
