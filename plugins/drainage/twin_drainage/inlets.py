"""Street inlets as SWMM 5.2 models them ([INLETS], [INLET_USAGE]; inlet.c).

An inlet usage sits in a conduit (a STREET section; a DROP_GRATE or DROP_CURB in an
open TRAPEZOIDAL or RECT_OPEN channel): each routing step it takes the flow it
captures out of the conduit's downstream (bypass) node and puts it into its capture
node, a sewer manhole, and the capture node's overflow comes back to the bypass node
in proportion to the inlet's open area (inlet.c inlet_findCapturedFlows,
getBackflowRatios). What the inlet does not capture stays in the street and flows on.
The capture is worked out from the conduit's flow and the bypass node's depth at the
start of the step, by HEC-22's equations (FHWA, Urban Drainage Design Manual, 3rd ed.,
2009, ch. 4), in US units as inlet.c evaluates them:

- placement: ON_GRADE, ON_SAG, or AUTOMATIC (on grade when the bypass node has a link
  leaving it, else on sag: getInletPlacement);
- on grade (getOnGradeCapturedFlow): each of ``Number`` inlets in turn takes its share
  of a side's flow, the spread from Izzard's equation (getFlowSpread, HEC-22 4-2, 4-4,
  4-6); a grate captures its frontal flow less what splashes over above the grate
  type's splash-over velocity and a part of the side flow (getGrateInletCapture,
  HEC-22 4-16 to 4-21); a curb opening the fraction of the length for full capture
  (getCurbInletCapture, HEC-22 4-22a to 4-24); a combination inlet's curb opening
  upstream of its grate sweeps first; a slotted inlet is a curb opening;
- on sag (getOnSagCapturedFlow): weir and orifice flow at the bypass node's depth
  (findOnSagGrateFlows HEC-22 4-26/4-27; findOnSagCurbFlows 4-28, 4-30, 4-31a with the
  HORIZONTAL, INCLINED and VERTICAL throats, interpolated between weir and orifice;
  getOnSagSlottedFlow 4-32/4-33), for each inlet on each side;
- % clogged scales the capture, Qmax limits each inlet's, and a local depression
  (aLocal, wLocal) replaces the gutter's depression width and adds to its depth
  (getConduitGeometry); CUSTOM inlets take a DIVERSION curve of captured against
  approach flow or a RATING curve of captured flow against depth.

Left out: a DROP_GRATE placed on grade in an open channel (SWMM's capture there
inverts the channel's section factor); the importer refuses it by name.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from twin_drainage import _numba_cache  # noqa: F401 - before any kernel: the package-wide cache key

FOOT = 0.3048
CFS = FOOT ** 3
#: consts.h: the least flow an inlet acts on (cfs) and the capture taken as none
MIN_RUNOFF_FLOW = 0.001
FUDGE = 0.0001
BIG = 1.0e10
#: inlet.c InletType (COMBO: a GRATE and a CURB of the same name)
GRATE, CURB, COMBO, SLOTTED, DROP_GRATE, DROP_CURB, CUSTOM = range(7)
TYPE_WORDS = {"GRATE": GRATE, "CURB": CURB, "SLOTTED": SLOTTED, "DROP_GRATE": DROP_GRATE, "DROP_CURB": DROP_CURB,
              "CUSTOM": CUSTOM}
#: inlet.c GrateType; GENERIC takes its open area and splash-over velocity from the file
GRATE_WORDS = ("P_BAR-50", "P_BAR-50X100", "P_BAR-30", "CURVED_VANE", "TILT_BAR-45", "TILT_BAR-30", "RETICULINE",
               "GENERIC")
GENERIC = 7
#: inlet.c SplashCoeffs: the cubic in the grate's length (ft) of HEC-22 chart 5B (ft/s)
SPLASH = np.array([[2.22, 4.03, 0.65, 0.06], [0.74, 2.44, 0.27, 0.02], [1.76, 3.12, 0.45, 0.03],
                   [0.30, 4.85, 1.31, 0.15], [0.99, 2.64, 0.36, 0.03], [0.51, 2.34, 0.2, 0.01],
                   [0.28, 2.28, 0.18, 0.01]])
#: inlet.c GrateOpeningRatios (HEC-22 chart 9B)
OPENING = (0.90, 0.80, 0.60, 0.35, 0.17, 0.34, 0.80, 1.00)
#: inlet.c ThroatAngleType
HORIZONTAL, INCLINED, VERTICAL = range(3)
THROAT_WORDS = ("HORIZONTAL", "INCLINED", "VERTICAL")
#: inlet.c InletPlacementType
AUTOMATIC, ON_GRADE, ON_SAG = range(3)
PLACEMENT_WORDS = ("AUTOMATIC", "ON_GRADE", "ON_SAG")
#: a custom inlet's curve: captured against approach flow, or against depth
DIVERSION, RATING = range(2)

# one inlet usage: integers and floats (US units: ft, cfs, slopes as fractions)
I_PIPE, I_BYPASS, I_CAPTURE, I_TYPE, I_GRATE, I_THROAT, I_PLACEMENT, I_SIDES, I_NUMBER, I_CURVE, I_CURVE_KIND = range(11)
INT_FIELDS = 11
(F_SX, F_A, F_W, F_N, F_TCROWN, F_SL, F_QFACTOR, F_CLOG, F_QMAX, F_GL, F_GW, F_GOPEN, F_GSPLASH, F_CL, F_CH, F_SLL,
 F_SLW, F_BACKFLOW, F_STREET) = range(19)
FLOAT_FIELDS = 19


def inlet_area(design: dict, number: int, clog: float) -> float:
    """The unclogged open area of a usage's inlets (ft²; inlet.c getInletArea): the
    grate's open area, the curb opening beyond the grate, or the slot."""
    area = 0.0
    if design.get("grate_length", 0.0) > 0.0:
        area = design["grate_length"] * design["grate_width"] * design["grate_open"]
    curb = design.get("curb_length", 0.0) - design.get("grate_length", 0.0)
    if curb > 0.0:
        area += curb * design["curb_height"]
    if design.get("slot_length", 0.0) > 0.0:
        area = design["slot_length"] * design["slot_width"]
    return area * number * clog


def backflow_ratios(usages: list[dict], designs: dict[str, dict]) -> list[float]:
    """The share of its capture node's overflow each usage takes back into its street
    (inlet.c getBackflowRatios): by open area among standard inlets, by number among
    custom ones, the two groups weighted by their count of inlet links."""
    nodes: dict[str, list[float]] = {}
    for u in usages:
        n = nodes.setdefault(u["node"], [0, 0, 0, 0.0])
        n[0] += 1
        area = inlet_area(designs[u["inlet"]], u["number"], u["clog"])
        if area > 0.0:
            n[1] += 1
            n[3] += area
        else:
            n[2] += u["number"]
    out = []
    for u in usages:
        n = nodes[u["node"]]
        f = n[1] / n[0]
        area = inlet_area(designs[u["inlet"]], u["number"], u["clog"])
        out.append(u["number"] / n[2] * (1.0 - f) if area == 0.0 else area / n[3] * f)
    return out


@njit(cache=True, nogil=True)
def get_eo(sr, ts, w):  # pragma: no cover - compiled
    """inlet.c getEo: the gutter's share of a composite gutter's flow, HEC-22 4-4 with
    T/w - 1 = ts/w."""
    x = sr / (ts / w)
    x = (1.0 + x) ** 2.67 - 1.0
    return 1.0 / (1.0 + sr / x)


@njit(cache=True, nogil=True)
def flow_spread(q, f, a, w, sx, tcrown):  # pragma: no cover - compiled
    """inlet.c getFlowSpread: the spread T (ft) of a side's flow ``q`` (cfs) from Izzard's
    Q = f·T^2.67 (HEC-22 4-2), through the depressed gutter by 4-4 and 4-6 (ten trials
    to 0.01 ft), no wider than the crown."""
    if a == 0.0:
        t = (q / f) ** 0.375
    else:
        f1 = f * ((a / w) / sx) ** 1.67
        tw = (q / f1) ** 0.375
        if tw <= w:
            t = tw
        else:
            sr = (sx + a / w) / sx
            ts1 = (q / f) ** 0.375 - w
            if ts1 <= 0.0:
                ts1 = tw - w
            ts2 = ts1
            for _ in range(10):
                eo = get_eo(sr, ts1, w)
                ts2 = ((1.0 - eo) * q / f) ** 0.375
                if abs(ts2 - ts1) < 0.01:
                    break
                ts1 = ts2
            t = ts2 + w
    return min(t, tcrown)


@njit(cache=True, nogil=True)
def gutter_flow_ratio(width, t, a, sw, sx):  # pragma: no cover - compiled
    """inlet.c getGutterFlowRatio: the share of the flow over ``width`` ft of gutter
    (HEC-22 4-16, or 4-4 for a depressed gutter)."""
    if t <= width:
        return 1.0
    if a > 0.0:
        return get_eo(sw / sx, t - width, width)
    return 1.0 - (1.0 - width / t) ** 2.67


@njit(cache=True, nogil=True)
def gutter_area_ratio(wg, area, t, w, a, sw, sx):  # pragma: no cover - compiled
    """inlet.c getGutterAreaRatio: the flow area over the grate over that over the
    depressed gutter (HEC-22 4-20a)."""
    if wg >= w or t <= wg:
        return 1.0
    if t <= w:
        return wg / t
    a_side = 0.5 * (t - w) ** 2 * sx
    a_grate = wg * (t * sx + a - wg * sw / 2.0)
    return a_grate / (area - a_side)


@njit(cache=True, nogil=True)
def splash_velocity(grate, length, given):  # pragma: no cover - compiled
    """inlet.c getSplashOverVelocity: the grate type's splash-over velocity (ft/s) at its
    length (ft); a GENERIC grate's ``given`` one."""
    if grate < 0 or grate == GENERIC:
        return given
    c = SPLASH[grate]
    return c[0] + c[1] * length - c[2] * length * length + c[3] * length ** 3


@njit(cache=True, nogil=True)
def grate_capture(q, t, lg, wg, grate, splash, sx, a, w, sw, tcrown, qfactor):  # pragma: no cover - compiled
    """inlet.c getGrateInletCapture (street gutters): the flow (cfs) an on-grade grate
    ``lg`` by ``wg`` ft captures of ``q`` at spread ``t``: frontal flow less splash-over,
    HEC-22 4-18, and side flow, 4-19, combined by 4-21."""
    qo = q
    if a == 0.0:
        area = t * t * sx / 2.0
        eo = gutter_flow_ratio(wg, t, a, sw, sx)
        if t >= tcrown:
            qo = qfactor * tcrown ** 2.67
    else:
        area = t * t * sw / 2.0 if t <= w else (t * t * sx + a * w) / 2.0
        eo = gutter_flow_ratio(w, t, a, sw, sx)
        if eo < 1.0:
            if t >= tcrown:
                qo = qfactor * tcrown ** 2.67 / (1.0 - eo)
            eo = eo * gutter_area_ratio(wg, area, t, w, a, sw, sx)
    v = qo / area
    vo = splash_velocity(grate, lg, splash)
    rf = 1.0 - 0.09 * (v - vo) if v > vo else 1.0
    rs = 0.0
    if eo < 1.0:
        rs = 1.0 / (1.0 + 0.15 * v ** 1.8 / sx / lg ** 2.3)
    return q * (rf * eo + rs * (1.0 - eo))


@njit(cache=True, nogil=True)
def curb_capture(q, length, t, sx, a, w, sw, sl, n):  # pragma: no cover - compiled
    """inlet.c getCurbInletCapture: the flow (cfs) an on-grade curb opening ``length`` ft
    long captures of ``q``: HEC-22 4-22a's length for full capture, 4-23's efficiency,
    4-24's equivalent slope over a depressed gutter."""
    se = sx
    if a > 0.0:
        eo = get_eo(sw / sx, t - w, w)
        se = sx + (a / w) * eo
    lt = 0.6 * q ** 0.42 * sl ** 0.3 * (1.0 / (n * se)) ** 0.6
    e = 1.0
    if length < lt:
        e = 1.0 - (1.0 - length / lt) ** 1.8
    return min(max(e, 0.0), 1.0) * q


@njit(cache=True, nogil=True)
def curb_orifice(di, h, length, throat):  # pragma: no cover - compiled
    """inlet.c getCurbOrificeFlow: HEC-22 4-31a at the throat's effective head."""
    d = di
    if throat == HORIZONTAL:
        d = di - h / 2.0
    elif throat == INCLINED:
        d = di - (h / 2.0) * 0.7071
    return 0.67 * h * length * math.sqrt(2.0 * 32.16 * max(d, 0.0))


@njit(cache=True, nogil=True)
def sag_curb(kind, d, length, h, throat, a, w):  # pragma: no cover - compiled
    """inlet.c findOnSagCurbFlows: (weir, orifice) flow (cfs) of a curb opening on sag at
    depth ``d`` ft: HEC-22 4-30 (4-28 over a depressed gutter of an opening up to 12 ft)
    below the weir depth, 4-31a above 1.4·h, interpolated between."""
    if length <= 0.0:
        return 0.0, 0.0
    if kind == DROP_CURB:
        length = length * 4.0
    dorif = 1.4 * h
    if d > dorif:
        return 0.0, curb_orifice(d, h, length, throat)
    if a == 0.0 or length > 12.0:
        dweir = h
        if d < dweir:
            return 3.0 * length * d ** 1.5, 0.0
        qweir = 3.0 * length * dweir ** 1.5
    else:
        p = length + 1.8 * w
        dweir = h + a
        if d < dweir:
            return 2.3 * p * d ** 1.5, 0.0
        qweir = 2.3 * p * dweir ** 1.5
    qorif = curb_orifice(dorif, h, length, throat)
    r = (d - dweir) / (dorif - dweir)
    return (1.0 - r) * qweir, r * qorif


@njit(cache=True, nogil=True)
def sag_grate(kind, d, lg, wg, grate, open_ratio, sw):  # pragma: no cover - compiled
    """inlet.c findOnSagGrateFlows: (weir, orifice) flow (cfs) of a grate on sag at depth
    ``d`` ft, HEC-22 4-26 below the depth 1.79·A_open/P, 4-27 above."""
    if kind == DROP_GRATE:
        di = d
        p = 2.0 * (lg + wg)
    else:
        if d <= wg * sw:
            wg = d / sw
        di = d - (wg / 2.0) * sw
        p = lg + 2.0 * wg
    ao = lg * wg * open_ratio
    di = max(di, 0.0)
    if d <= 1.79 * ao / p:
        return 3.0 * p * di ** 1.5, 0.0
    return 0.0, 0.67 * ao * math.sqrt(2.0 * 32.16 * di)


@njit(cache=True, nogil=True)
def sag_capture(ii, ff, d):  # pragma: no cover - compiled
    """inlet.c getOnSagInletCapture: one inlet's capture (cfs) on sag at depth ``d`` ft."""
    kind = ii[I_TYPE]
    sw = ff[F_SX] + ff[F_A] / ff[F_W] if ff[F_W] * ff[F_A] > 0.0 else ff[F_SX]
    if ff[F_SLL] > 0.0:  # getOnSagSlottedFlow, HEC-22 4-32 / 4-33
        if d <= 2.587 * ff[F_SLW]:
            return 2.48 * ff[F_SLL] * d ** 1.5
        return 0.8 * ff[F_SLL] * ff[F_SLW] * math.sqrt(64.32 * d)
    lg, lc = ff[F_GL], ff[F_CL]
    qgw = qgo = qsw = qso = qco = 0.0
    if lg > 0.0:
        qgw, qgo = sag_grate(kind, d, lg, ff[F_GW], ii[I_GRATE], ff[F_GOPEN], sw)
    if lc > 0.0:
        sweep = lc - lg
        if sweep > 0.0:
            qsw, qso = sag_curb(kind, d, sweep, ff[F_CH], ii[I_THROAT], ff[F_A], ff[F_W])
        if qgo > 0.0:
            qco = sag_curb(kind, d, lg, ff[F_CH], ii[I_THROAT], ff[F_A], ff[F_W])[1]
    return qgw + qgo + qsw + qso + qco


@njit(cache=True, nogil=True)
def grade_capture(ii, ff, q, d):  # pragma: no cover - compiled
    """inlet.c getOnGradeInletCapture: one inlet's capture (cfs) of a side's flow ``q``
    (cfs) on grade; ``d`` (ft) the bypass node's depth."""
    kind = ii[I_TYPE]
    if kind == DROP_CURB:
        return min(sag_capture(ii, ff, d), q)
    sx, a, w, tcrown = ff[F_SX], ff[F_A], ff[F_W], ff[F_TCROWN]
    sw = sx + a / w if w * a > 0.0 else sx
    f = ff[F_QFACTOR]
    t = flow_spread(q, f, a, w, sx, tcrown)
    if kind == SLOTTED:
        return min(curb_capture(q, ff[F_SLL], t, sx, a, w, sw, ff[F_SL], ff[F_N]), q)
    lc, lg = ff[F_CL], ff[F_GL]
    q1, qc = q, 0.0
    if lc > 0.0:
        sweep = lc - lg
        if sweep > 0.0:
            qc = curb_capture(q1, sweep, t, sx, a, w, sw, ff[F_SL], ff[F_N])
            q1 -= qc
    if lg > 0.0 and q1 > 0.0:
        if q1 != q:
            t = flow_spread(q1, f, a, w, sx, tcrown)
        qc += grate_capture(q1, t, lg, ff[F_GW], ii[I_GRATE], ff[F_GSPLASH], sx, a, w, sw, tcrown, f)
    return qc


@njit(cache=True, nogil=True)
def _curve_at(curve_ptr, curve_x, curve_y, c, x):  # pragma: no cover - compiled
    """table_lookupEx: the curve linear between its points, extended along its end segments."""
    lo, hi = curve_ptr[c], curve_ptr[c + 1]
    if hi - lo == 1:
        return curve_y[lo]
    k = lo
    while k < hi - 2 and x > curve_x[k + 1]:
        k += 1
    dx = curve_x[k + 1] - curve_x[k]
    if dx == 0.0:
        return curve_y[k]
    return curve_y[k] + (x - curve_x[k]) * (curve_y[k + 1] - curve_y[k]) / dx


@njit(cache=True, nogil=True)
def usage_capture(ii, ff, q, d, curve_ptr, curve_x, curve_y):  # pragma: no cover - compiled
    """The flow (cfs) a usage's ``Number`` inlets capture from the conduit's flow ``q``
    (cfs, its magnitude) at the bypass node's depth ``d`` (ft): inlet.c
    getCustomCapturedFlow, getOnGradeCapturedFlow and getOnSagCapturedFlow."""
    number = ii[I_NUMBER]
    if number == 0:
        return 0.0
    sides = ii[I_SIDES]
    clog = ff[F_CLOG]
    qmax = ff[F_QMAX] if ff[F_QMAX] > 0.0 else BIG
    if ii[I_TYPE] == CUSTOM:  # curves in SI: m3/s against m3/s or m
        if ii[I_CURVE] < 0:
            return 0.0
        bypassed = q / sides
        captured = 0.0
        if ii[I_CURVE_KIND] == DIVERSION:
            for _ in range(number):
                inc = clog * _curve_at(curve_ptr, curve_x, curve_y, ii[I_CURVE], bypassed * CFS) / CFS
                inc = min(inc, qmax, bypassed)
                captured += inc
                bypassed -= inc
                if bypassed < MIN_RUNOFF_FLOW:
                    break
        else:
            captured = number * clog * _curve_at(curve_ptr, curve_x, curve_y, ii[I_CURVE], d * FOOT) / CFS
        return captured * sides
    if ii[I_PLACEMENT] == ON_GRADE:
        if q < MIN_RUNOFF_FLOW:
            return 0.0
        bypassed = q / sides
        captured = 0.0
        for _ in range(number):
            qc = grade_capture(ii, ff, bypassed, d) * clog
            qc = min(qc, qmax, bypassed)
            captured += qc
            bypassed -= qc
            if bypassed < MIN_RUNOFF_FLOW:
                break
        return captured * sides
    qc = sag_capture(ii, ff, abs(d)) * clog
    return min(qc, qmax) * (sides * number)


@njit(cache=True, nogil=True)
def captured_flows(inlet_int, inlet_float, flow, depth, overflow, curve_ptr, curve_x, curve_y,
                   lateral, captured):  # pragma: no cover - compiled
    """inlet.c inlet_findCapturedFlows for one step: from each usage's conduit flow
    (``flow``, m3/s per pipe) and its bypass node's depth (``depth``, m per manhole),
    the captured flow (``captured``, m3/s per usage) and the lateral flows it moves
    (``lateral``, m3/s per manhole, added to: less the capture and plus the backflow at
    the bypass node, plus the capture at the capture node); ``overflow`` (m3/s per
    manhole) is each capture node's overflow, its share of which comes back."""
    for u in range(inlet_int.shape[0]):
        ii, ff = inlet_int[u], inlet_float[u]
        q = abs(flow[ii[I_PIPE]]) / CFS
        d = depth[ii[I_BYPASS]] / FOOT
        qc = usage_capture(ii, ff, q, d, curve_ptr, curve_x, curve_y)
        if abs(qc) < FUDGE:
            qc = 0.0
        back = overflow[ii[I_CAPTURE]] * ff[F_BACKFLOW]
        if abs(back) < FUDGE * CFS:
            back = 0.0
        captured[u] = qc * CFS
        lateral[ii[I_BYPASS]] -= qc * CFS - back
        lateral[ii[I_CAPTURE]] += qc * CFS
