"""A culvert's inlet control: the flow its entrance lets through at a headwater depth,
by the FHWA HDS-5 equations (Hydraulic Design of Highway Culverts, 2001, appendix A) as
SWMM 5.2 evaluates them for a conduit given a culvert code in [XSECTIONS] (culvert.c,
culvert_getInflow; the dynamic wave applies it in dwflow.c dwflow_findConduitFlow).

With h the headwater depth above the culvert's inlet invert, D its full depth, A its
full area, S its slope and (FORM, K, M, c, Y) the coefficients of its code (culvert.c
Params, FHWA's table; Q/(A·D^0.5) in ft^0.5/s, so SI flows take Ku = 1/sqrt(0.3048)):

- unsubmerged (h <= 0.95·D), form 1: h/D + 0.5·S = yc/D + yh/(2·D) + K·(Ku·Qc/(A·D^0.5))^M,
  solved for the critical depth yc, Qc = Ac·sqrt(g·yh) (yh = Ac/Wc, the hydraulic depth
  there); form 2: h/D = K·(Ku·Q/(A·D^0.5))^M;
- submerged (h >= D·(16·c + Y - 0.5·S), where Ku·Q/(A·D^0.5) = 4):
  h/D = c·(Ku·Q/(A·D^0.5))² + Y - 0.5·S;
- between the two, the straight line from the one to the other.

SWMM's slope term is 0.5·S, and -7·S for the mitered inlets (codes 5, 37 and 46: FHWA
writes +0.7·S there; SWMM's -7 is kept, as the comparison is with SWMM). Every flow is
one barrel's; the router takes the conduit's barrels times it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numba import njit

from twin_drainage import _numba_cache  # noqa: F401 - before any kernel: the package-wide cache key

G = 9.80665
FOOT = 0.3048
#: HDS-5's unit factor: Ku·Q/(A·D^0.5) with SI values is the ft^0.5/s its coefficients take
KU = 1.0 / math.sqrt(FOOT)
FORM, K, M, C, Y = range(5)
#: FORM, K, M, c, Y by culvert code 1-57 (row 0 unused), culvert.c's Params
PARAMS = np.array([
    [0.0, 0.0, 0.0, 0.0, 0.00],
    # circular concrete: square edge w/headwall, groove end w/headwall, groove end projecting
    [1.0, 0.0098, 2.00, 0.0398, 0.67], [1.0, 0.0018, 2.00, 0.0292, 0.74], [1.0, 0.0045, 2.00, 0.0317, 0.69],
    # circular corrugated metal pipe: headwall, mitered to slope, projecting
    [1.0, 0.0078, 2.00, 0.0379, 0.69], [1.0, 0.0210, 1.33, 0.0463, 0.75], [1.0, 0.0340, 1.50, 0.0553, 0.54],
    # circular pipe, beveled ring entrance: 45 and 33.7 deg bevels
    [1.0, 0.0018, 2.50, 0.0300, 0.74], [1.0, 0.0018, 2.50, 0.0243, 0.83],
    # rectangular box with flared wingwalls: 30-75, 90 or 15, 0 deg flares
    [1.0, 0.026, 1.0, 0.0347, 0.81], [1.0, 0.061, 0.75, 0.0400, 0.80], [1.0, 0.061, 0.75, 0.0423, 0.82],
    # rectangular box with flared wingwalls and top edge bevel
    [2.0, 0.510, 0.667, 0.0309, 0.80], [2.0, 0.486, 0.667, 0.0249, 0.83],
    # rectangular box, 90 deg headwall, chamfered or beveled inlet edges
    [2.0, 0.515, 0.667, 0.0375, 0.79], [2.0, 0.495, 0.667, 0.0314, 0.82], [2.0, 0.486, 0.667, 0.0252, 0.865],
    # rectangular box, skewed headwall, chamfered or beveled inlet edges
    [2.0, 0.545, 0.667, 0.04505, 0.73], [2.0, 0.533, 0.667, 0.0425, 0.705], [2.0, 0.522, 0.667, 0.0402, 0.68],
    [2.0, 0.498, 0.667, 0.0327, 0.75],
    # rectangular box, non-offset flared wingwalls, 3/4" chamfer at top of inlet
    [2.0, 0.497, 0.667, 0.0339, 0.803], [2.0, 0.493, 0.667, 0.0361, 0.806], [2.0, 0.495, 0.667, 0.0386, 0.71],
    # rectangular box, offset flared wingwalls, beveled edge at inlet top
    [2.0, 0.497, 0.667, 0.0302, 0.835], [2.0, 0.495, 0.667, 0.0252, 0.881], [2.0, 0.493, 0.667, 0.0227, 0.887],
    # corrugated metal box: 90 deg headwall, thick wall projecting, thin wall projecting
    [1.0, 0.0083, 2.00, 0.0379, 0.69], [1.0, 0.0145, 1.75, 0.0419, 0.64], [1.0, 0.0340, 1.50, 0.0496, 0.57],
    # horizontal ellipse concrete
    [1.0, 0.0100, 2.00, 0.0398, 0.67], [1.0, 0.0018, 2.50, 0.0292, 0.74], [1.0, 0.0045, 2.00, 0.0317, 0.69],
    # vertical ellipse concrete
    [1.0, 0.0100, 2.00, 0.0398, 0.67], [1.0, 0.0018, 2.50, 0.0292, 0.74], [1.0, 0.0095, 2.00, 0.0317, 0.69],
    # pipe arch, 18" corner radius, corrugated metal
    [1.0, 0.0083, 2.00, 0.0379, 0.69], [1.0, 0.0300, 1.00, 0.0463, 0.75], [1.0, 0.0340, 1.50, 0.0496, 0.57],
    [1.0, 0.0300, 1.50, 0.0496, 0.57], [1.0, 0.0088, 2.00, 0.0368, 0.68], [1.0, 0.0030, 2.00, 0.0269, 0.77],
    # pipe arch, 31" corner radius, corrugated metal
    [1.0, 0.0300, 1.50, 0.0496, 0.57], [1.0, 0.0088, 2.00, 0.0368, 0.68], [1.0, 0.0030, 2.00, 0.0269, 0.77],
    # arch, corrugated metal
    [1.0, 0.0083, 2.00, 0.0379, 0.69], [1.0, 0.0300, 1.00, 0.0473, 0.75], [1.0, 0.0340, 1.50, 0.0496, 0.57],
    # circular culvert: smooth and rough tapered inlet throat
    [2.0, 0.534, 0.555, 0.0196, 0.90], [2.0, 0.519, 0.640, 0.0210, 0.90],
    # elliptical inlet face
    [2.0, 0.536, 0.622, 0.0368, 0.83], [2.0, 0.5035, 0.719, 0.0478, 0.80], [2.0, 0.547, 0.800, 0.0598, 0.75],
    # rectangular, tapered inlet throat
    [2.0, 0.475, 0.667, 0.0179, 0.97],
    # rectangular concrete, side tapered: less and more favorable edges
    [2.0, 0.560, 0.667, 0.0446, 0.85], [2.0, 0.560, 0.667, 0.0378, 0.87],
    # rectangular concrete, slope tapered: less and more favorable edges
    [2.0, 0.500, 0.667, 0.0446, 0.65], [2.0, 0.500, 0.667, 0.0378, 0.71],
])
MAX_CODE = len(PARAMS) - 1
#: the codes of mitered inlets, whose slope term SWMM takes as -7·S (culvert.c)
MITERED = (5, 37, 46)

#: the router's row of one culvert (:func:`router_row`): the headwater depth from which
#: the inlet is submerged (m), the submerged flow's A·D^0.5/Ku times the barrels, D, Y
#: less the slope term, c; then the flow (m³/s, all barrels) at TABLE_STEPS + 1 equal
#: steps of the depth from 0 to that depth
CF_SUBMERGED, CF_SCALE, CF_DEPTH, CF_OFFSET, CF_C = range(5)
CF_TABLE = 5
TABLE_STEPS = 256


def slope_term(code: int, slope: float) -> float:
    """SWMM's scf: 0.5·S, or -7·S for a mitered inlet."""
    return -7.0 * slope if code in MITERED else 0.5 * slope


def inlet_flow(code: int, h: float, y_full: float, a_full: float, slope: float,
               area: Callable[[float], float], width: Callable[[float], float]) -> float:
    """One barrel's inlet-controlled flow (m³/s) at a headwater depth ``h`` (m above the
    inlet invert) of a culvert of ``code`` (1-57), full depth ``y_full`` (m), full area
    ``a_full`` (m²) and ``slope``; ``area(y)`` and ``width(y)`` give its flow area and top
    width at a depth y (form 1's critical depth). math.inf where the submerged equation
    has no root (h below Y - 0.5·S), as SWMM's BIG."""
    if not 1 <= code <= MAX_CODE:
        raise ValueError(f"culvert code {code}: valid codes are 1 to {MAX_CODE}")
    if h <= 0.0:
        return 0.0
    form, k, m, c, y = PARAMS[code]
    scf = slope_term(code, slope)
    ad = a_full * math.sqrt(y_full)
    y2 = y_full * (16.0 * c + y - scf)
    y1 = 0.95 * y_full

    def submerged(head: float) -> float:
        arg = (head / y_full - y + scf) / c
        return math.inf if arg <= 0.0 else math.sqrt(arg) * ad / KU

    def unsubmerged(head: float) -> float:
        if form == 2.0:
            return ad * (head / y_full / k) ** (1.0 / m) / KU
        return _form1(head, y_full, ad, scf, k, m, area, width)

    if h >= y2:
        return submerged(h)
    if h <= y1:
        return unsubmerged(h)
    q1, q2 = unsubmerged(y1), submerged(y2)
    return q1 + (q2 - q1) * (h - y1) / (y2 - y1)


def _form1(h: float, y_full: float, ad: float, scf: float, k: float, m: float,
           area: Callable[[float], float], width: Callable[[float], float]) -> float:
    """Form 1's flow: the critical flow at the depth yc in [0.01·h, h] that solves it
    (culvert.c getForm1Flow; SWMM's Ridder search to 0.001 ft, here bisection to 1e-10
    of h). Without a root in the range, SWMM's search ends on the flow at yc = h."""
    def residual(yc: float) -> tuple[float, float]:
        ac, wc = area(yc), width(yc)
        yh = ac / wc if wc > 0.0 else yc
        qc = ac * math.sqrt(G * yh)
        return h / y_full + scf - yc / y_full - yh / 2.0 / y_full - k * (KU * qc / ad) ** m, qc

    lo, hi = 0.01 * h, h
    f_lo, _ = residual(lo)
    f_hi, q_hi = residual(hi)
    if f_lo * f_hi > 0.0:
        return q_hi
    q = q_hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        f_mid, q = residual(mid)
        if (f_mid > 0.0) == (f_lo > 0.0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
        if hi - lo <= 1e-10 * h:
            break
    return q


def router_row(code: int, y_full: float, a_full: float, slope: float, barrels: float,
               area: Callable[[float], float], width: Callable[[float], float]) -> np.ndarray:
    """The router's row of a culvert (CF_*): its submerged flow in closed form, and below
    that the flow of :func:`inlet_flow` tabulated (all barrels)."""
    form, k, m, c, y = PARAMS[code]
    scf = slope_term(code, slope)
    submerged = max(y_full * (16.0 * c + y - scf), 1e-6)
    row = np.zeros(CF_TABLE + TABLE_STEPS + 1)
    row[CF_SUBMERGED] = submerged
    row[CF_SCALE] = barrels * a_full * math.sqrt(y_full) / KU
    row[CF_DEPTH] = y_full
    row[CF_OFFSET] = y - scf
    row[CF_C] = c
    for j in range(TABLE_STEPS + 1):
        row[CF_TABLE + j] = barrels * inlet_flow(code, submerged * j / TABLE_STEPS, y_full, a_full, slope, area,
                                                 width)
    # where the submerged equation has no root below its own threshold (a steep mitered
    # inlet) the flow is not limited: a large finite number keeps the interpolation sane
    row[CF_TABLE:] = np.minimum(row[CF_TABLE:], 1.0e9)
    return row


def circle(d: float) -> tuple[Callable[[float], float], Callable[[float], float]]:
    """Area and top width of a circle of diameter ``d`` at a depth y."""
    def area(y: float) -> float:
        y = min(max(y, 0.0), d)
        theta = 2.0 * math.acos(1.0 - 2.0 * y / d)
        return d * d / 8.0 * (theta - math.sin(theta))

    def width(y: float) -> float:
        return 2.0 * math.sqrt(max(y * (d - y), 0.0))

    return area, width


def section(spec: dict) -> tuple[Callable[[float], float], Callable[[float], float]]:
    """Area and top width at a depth y of one barrel of the culvert ``spec`` (its
    ``shape``, ``geom`` in metres, ``y_full``): a shape of twin_drainage.sections exactly
    (the width as the area's slope), any other the circle of its full depth, as the
    router takes it."""
    from twin_drainage import sections

    shape = str(spec.get("shape", "CIRCULAR")).upper()
    y_full = float(spec["y_full"])
    if shape not in sections.KINDS:
        return circle(y_full)
    kind = sections.KINDS[shape]
    g = sections.geometry(shape, *spec["geom"])

    def area(y: float) -> float:
        return float(sections.area_of_depth(kind, y / y_full, g)) * g[sections.A_FULL]

    def width(y: float) -> float:
        step = 1e-6 * y_full
        lo, hi = max(y - step, 0.0), min(y + step, y_full)
        return (area(hi) - area(lo)) / (hi - lo)

    return area, width


@njit(cache=True, nogil=True)
def culvert_flow(row, h):  # pragma: no cover - compiled
    """The inlet-controlled flow (m³/s, all barrels) of the culvert of ``row``
    (:func:`router_row`) at a headwater depth ``h`` (m)."""
    if h <= 0.0:
        return 0.0
    top = row[CF_SUBMERGED]
    if h >= top:
        arg = (h / row[CF_DEPTH] - row[CF_OFFSET]) / row[CF_C]
        return math.inf if arg <= 0.0 else math.sqrt(arg) * row[CF_SCALE]
    at = h / top * TABLE_STEPS
    j = min(int(at), TABLE_STEPS - 1)
    low = row[CF_TABLE + j]
    return low + (at - j) * (row[CF_TABLE + j + 1] - low)
