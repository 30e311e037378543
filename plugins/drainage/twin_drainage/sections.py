"""True cross-section geometry of SWMM's analytic open and closed shapes, for the
kinematic wave (:mod:`twin_drainage.kinwave`): area, depth and section factor
S = A·R^(2/3) of each other, as SWMM 5.2's xsect.c computes them.

Source: Rossman, SWMM 5.2 Reference Manual vol. II – Hydraulics (EPA/600/R-17/111),
ch. 2 and appendix A, and SWMM 5.2's xsect.c, which this follows: the closed rectangle
and the rectangle with a triangular bottom carry no top in their wetted perimeter below
97 % (98 %) of their full area, and their section factor falls linearly from its largest
value there to the full one at the crown — the lower branch of S(A) is the one normal
flow follows, the upper one a conduit that fills.

Shapes taken exactly by the kinematic wave: RECT_CLOSED, RECT_OPEN, RECT_TRIANGULAR,
TRAPEZOIDAL, TRIANGULAR (:data:`KINDS`); the rest (the circle aside) are still their
equivalent circle there, and the importer says so. The dynamic wave's sections (the
second half of this module, :func:`dynamic_section`) take every shape of
:data:`DYNAMIC_SHAPES` and barrels; still equivalent circles there, each with its
warning: FORCE_MAIN (its Hazen-Williams or Darcy-Weisbach friction), RECT_ROUND and
MODBASKETHANDLE (not yet), and IRREGULAR (transects, read by SWMM's transect.c, not
yet here). STREET sections ([STREETS]) are the street's transect as SWMM 5.2 builds it
(transect.c transect_createStreetTransect and createTables: :func:`street_tables`).

A section is a row of :data:`FIELDS` floats per barrel, in metres (see :func:`geometry`);
the compiled functions take normalised areas α = A/A_full and return normalised section
factors S/S_full and depths y/y_full.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from twin_drainage import _numba_cache  # noqa: F401 - before any kernel: the package-wide cache key

#: shape name -> kind code in the compiled functions (0 is the router's own circle)
KINDS = {"RECT_CLOSED": 1, "RECT_OPEN": 2, "RECT_TRIANGULAR": 3, "TRAPEZOIDAL": 4, "TRIANGULAR": 5}
#: α above which a closed shape's section factor runs linearly to the full one (xsect.c)
RECT_ALFMAX = 0.97
RECT_TRIANG_ALFMAX = 0.98
#: the row of one section: y_full, A_full, S_full (m, m², m^(8/3)), α at the largest S,
#: that S over S_full, and three shape parameters (see geometry)
Y_FULL, A_FULL, S_FULL, ALPHA_MAX, S_MAX, C1, C2, C3 = range(8)
FIELDS = 8


def geometry(shape: str, h: float, w: float, g3: float = 0.0, g4: float = 0.0) -> np.ndarray:
    """The row of a ``shape`` section ``h`` m high (Geom1), ``w`` m wide (Geom2; the
    bottom width for TRAPEZOIDAL), ``g3``/``g4`` its Geom3/Geom4 (already in metres where
    SWMM takes a length: RECT_TRIANGULAR's bottom height; slopes and counts as given).
    Raises ValueError for a shape not in KINDS or a degenerate section."""
    kind = KINDS.get(shape.upper())
    if kind is None:
        raise ValueError(f"{shape}: not one of {', '.join(KINDS)}")
    row = np.zeros(FIELDS)
    row[Y_FULL] = h
    if kind == 1:  # RECT_CLOSED
        a, p = w * h, 2.0 * (w + h)
        row[C1] = w
        alpha_max = RECT_ALFMAX
    elif kind == 2:  # RECT_OPEN: Geom3 sides left out of the wetted perimeter (0, 1 or 2)
        ignored = min(max(g3, 0.0), 2.0)
        a, p = w * h, (2.0 - ignored) * h + w
        row[C1], row[C2] = w, ignored
        alpha_max = 1.0
    elif kind == 3:  # RECT_TRIANGULAR: Geom3 the triangle's height
        bottom = min(g3, h)
        if bottom <= 0.0:
            raise ValueError("RECT_TRIANGULAR: its bottom's height (Geom3) must be > 0")
        side = w / bottom / 2.0
        wall = math.sqrt(1.0 + side * side)
        a = w * (h - bottom / 2.0)
        p = 2.0 * bottom * wall + 2.0 * (h - bottom) + w
        row[C1], row[C2], row[C3] = w, bottom, side
        alpha_max = RECT_TRIANG_ALFMAX
    elif kind == 4:  # TRAPEZOIDAL: bottom width, the two side slopes (run over rise)
        slope = (g3 + g4) / 2.0
        walls = math.sqrt(1.0 + g3 * g3) + math.sqrt(1.0 + g4 * g4)
        if w <= 0.0 and slope <= 0.0:
            raise ValueError("TRAPEZOIDAL: a bottom width or a side slope must be > 0")
        a = (w + slope * h) * h
        p = w + h * walls
        row[C1], row[C2], row[C3] = w, slope, walls
        alpha_max = 1.0
    else:  # TRIANGULAR: Geom2 the top width
        side = w / h / 2.0
        wall = math.sqrt(1.0 + side * side)
        a = h * h * side
        p = 2.0 * h * wall
        row[C2], row[C3] = side, wall
        alpha_max = 1.0
    if not (h > 0.0 and a > 0.0):
        raise ValueError(f"{shape}: a section needs a height and a width > 0")
    row[A_FULL] = a
    row[S_FULL] = a * (a / p) ** (2.0 / 3.0)
    row[ALPHA_MAX] = alpha_max
    row[S_MAX] = 1.0 if alpha_max >= 1.0 else _open_s(kind, alpha_max, row) / row[S_FULL]
    return row


def _open_s(kind: int, alpha: float, row: np.ndarray) -> float:
    """S (m^(8/3)) at α with the perimeter below the top (for S_MAX, in Python)."""
    return float(section_factor_below_top(kind, alpha, row))


@njit(cache=True, nogil=True)
def depth_of_area(kind, alpha, g):  # pragma: no cover - compiled
    """y/y_full of a section filled to α = A/A_full."""
    if alpha <= 0.0:
        return 0.0
    a = alpha * g[A_FULL]
    if kind == 1 or kind == 2:
        y = a / g[C1]
    elif kind == 3:
        bottom_area = g[C2] * g[C1] / 2.0
        y = math.sqrt(a / g[C3]) if a <= bottom_area else g[C2] + (a - bottom_area) / g[C1]
    elif kind == 4:
        y = a / g[C1] if g[C2] == 0.0 else (math.sqrt(g[C1] * g[C1] + 4.0 * g[C2] * a) - g[C1]) / (2.0 * g[C2])
    else:
        y = math.sqrt(a / g[C2])
    return y / g[Y_FULL]


@njit(cache=True, nogil=True)
def area_of_depth(kind, x, g):  # pragma: no cover - compiled
    """α = A/A_full of a section filled to y/y_full = ``x``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    y = x * g[Y_FULL]
    if kind == 1 or kind == 2:
        a = y * g[C1]
    elif kind == 3:
        a = y * y * g[C3] if y <= g[C2] else g[C2] * g[C1] / 2.0 + (y - g[C2]) * g[C1]
    elif kind == 4:
        a = (g[C1] + g[C2] * y) * y
    else:
        a = y * y * g[C2]
    return a / g[A_FULL]


@njit(cache=True, nogil=True)
def section_factor_below_top(kind, alpha, g):  # pragma: no cover - compiled
    """S = A·R^(2/3) (m^(8/3)) at α, the wetted perimeter leaving out any top."""
    if alpha <= 0.0:
        return 0.0
    a = alpha * g[A_FULL]
    y = depth_of_area(kind, alpha, g) * g[Y_FULL]
    if kind == 1:
        p = g[C1] + 2.0 * y
    elif kind == 2:
        p = (2.0 - g[C2]) * y + g[C1]
    elif kind == 3:
        wall = math.sqrt(1.0 + g[C3] * g[C3])
        p = 2.0 * y * wall if y <= g[C2] else 2.0 * g[C2] * wall + 2.0 * (y - g[C2])
    elif kind == 4:
        p = g[C1] + y * g[C3]
    else:
        p = 2.0 * y * g[C3]
    if p <= 0.0:
        return 0.0
    return a * (a / p) ** (2.0 / 3.0)


@njit(cache=True, nogil=True)
def section_factor(kind, alpha, g):  # pragma: no cover - compiled
    """S/S_full at α: below α_max the open-channel formula, above it the straight line
    from the largest S down to S_full at the crown (xsect.c's closed shapes)."""
    if alpha <= 0.0:
        return 0.0
    if alpha > g[ALPHA_MAX]:
        top = min(alpha, 1.0)
        return g[S_MAX] + (1.0 - g[S_MAX]) * (top - g[ALPHA_MAX]) / (1.0 - g[ALPHA_MAX])
    return section_factor_below_top(kind, alpha, g) / g[S_FULL]


@njit(cache=True, nogil=True)
def area_of_section_factor(kind, s, g):  # pragma: no cover - compiled
    """α on the lower branch (α <= α_max) at which S/S_full is ``s`` (bisection: S rises
    with α there)."""
    if s <= 0.0:
        return 0.0
    if s >= g[S_MAX]:
        return g[ALPHA_MAX]
    lo, hi = 0.0, g[ALPHA_MAX]
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if section_factor(kind, mid, g) < s:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


# --- the dynamic wave's sections ---------------------------------------------------------
# The dynamic-wave router (twin_drainage.model.route) keeps its own circle (exact, from
# tables in sqrt(y/d)) and reads every other section from a table of this module: A/d²,
# A·R^(4/3)/d^(10/3), A·R^(2/3)/d^(8/3), R/d, (R/d)^(4/3) and T/d at SEC_STEPS equal steps of
# y/d (d = y_full, the section's height; barrels included in A and T), so the router's
# formulas, written in units of d, serve every shape; and normal and critical depth from
# INV_STEPS equal steps of sqrt(Φ), as for the circle. A(y), R(y) and T(y) are SWMM 5.2's
# (xsect.c xsect_getAofY, xsect_getRofY, xsect_getWofY, which dwflow.c's getArea, getHydRad
# and getWidth call): the analytic shapes exactly, the rounded ones from xsect.dat's tables
# (twin_drainage.xsect_dat) by SWMM's lookup and invLookup. SEC_STEPS is a multiple of the
# tables' 20, 25 and 50 intervals, so linear interpolation here is SWMM's own between its
# entries (but for the quadratic first two intervals of its lookup).
SEC_STEPS = 400
INV_STEPS = 1024
#: the table's columns: A, A·R^(4/3), A·R^(2/3), R, R^(4/3), T, and SO: 1 in an open
#: section's rows, 0 in a closed one's (SWMM's xsect_isOpen: A_max/A_full >= 1)
SA, SK43, SK23, SR, SR43, ST, SO = range(7)
SEC_COLUMNS = 7
#: the shapes SWMM takes as open (xsect.c Amax >= 1): no crown, never surcharged
OPEN_SHAPES = ("RECT_OPEN", "TRAPEZOIDAL", "TRIANGULAR", "PARABOLIC", "POWER", "STREET")
FOOT = 0.3048
#: SWMM's [XSECTIONS] shapes the dynamic wave routes by their own geometry (a CIRCULAR
#: conduit only with several barrels: one barrel is the router's own circle)
DYNAMIC_SHAPES = ("CIRCULAR", "FILLED_CIRCULAR", "RECT_CLOSED", "RECT_OPEN", "RECT_TRIANGULAR", "TRAPEZOIDAL",
                  "TRIANGULAR", "EGG", "HORSESHOE", "GOTHIC", "CATENARY", "SEMIELLIPTICAL", "BASKETHANDLE",
                  "SEMICIRCULAR", "ARCH", "HORIZ_ELLIPSE", "VERT_ELLIPSE", "PARABOLIC", "POWER", "CUSTOM",
                  "STREET")
#: the rounded shapes of xsect.dat: (A_full/y², R_full/y, W_max/y) of xsect_setParams and the
#: tables A(y) (or None: A from invLookup of Y(A)), R(y) (or None: R = (S(A)/A)^(3/2)), W(y)
_ROUNDED = {
    "EGG": (0.5105, 0.1931, 2.0 / 3.0, "A_Egg", "R_Egg", "Y_Egg", "S_Egg", "W_Egg"),
    "HORSESHOE": (0.8293, 0.2538, 1.0, "A_Horseshoe", "R_Horseshoe", "Y_Horseshoe", "S_Horseshoe", "W_Horseshoe"),
    "GOTHIC": (0.6554, 0.2269, 0.84, None, None, "Y_Gothic", "S_Gothic", "W_Gothic"),
    "CATENARY": (0.70277, 0.23172, 0.9, None, None, "Y_Catenary", "S_Catenary", "W_Catenary"),
    "SEMIELLIPTICAL": (0.785, 0.242, 1.0, None, None, "Y_SemiEllip", "S_SemiEllip", "W_SemiEllip"),
    "BASKETHANDLE": (0.7862, 0.2464, 0.944, "A_Baskethandle", "R_Baskethandle", "Y_BasketHandle",
                     "S_BasketHandle", "W_BasketHandle"),
    "SEMICIRCULAR": (1.2697, 0.2946, 1.64, None, None, "Y_SemiCirc", "S_SemiCirc", "W_SemiCirc"),
}


def _lookup(x: np.ndarray, table) -> np.ndarray:
    """SWMM's lookup (xsect.c): the table's value at x in [0, 1], linear between its equal
    intervals, quadratic in the first two where that stays positive."""
    t = np.asarray(table, dtype=np.float64)
    n = len(t)
    delta = 1.0 / (n - 1)
    x = np.asarray(x, dtype=np.float64)
    i = np.minimum((x / delta).astype(np.int64), n - 1)
    last = i >= n - 1
    i = np.minimum(i, n - 2)
    x0, x1 = i * delta, (i + 1) * delta
    y = t[i] + (x - x0) * (t[i + 1] - t[i]) / delta
    low = i < 2
    y2 = y + (x - x0) * (x - x1) / (delta * delta) * (t[i] / 2.0 - t[i + 1] + t[np.minimum(i + 2, n - 1)] / 2.0)
    y = np.where(low & (y2 > 0.0), y2, y)
    y = np.maximum(y, 0.0)
    return np.where(last, t[-1], y)


def _inv_lookup(y: np.ndarray, table) -> np.ndarray:
    """SWMM's invLookup (xsect.c): x in [0, 1] where the table reaches y, on its
    increasing part (a section-factor table's last two entries may fall)."""
    t = np.asarray(table, dtype=np.float64)
    items = len(t)
    dx = 1.0 / (items - 1)
    n = items - 2 if t[items - 3] > t[items - 1] else items
    out = np.empty(len(y))
    for k, v in enumerate(np.asarray(y, dtype=np.float64)):
        if n < items and v > t[items - 1]:
            if v >= t[items - 3]:
                out[k] = (n - 1) * dx
                continue
            i = items - 2 if v <= t[items - 2] else items - 3
        else:
            i = int(np.searchsorted(t[:n], v, side="right") - 1) if v > t[0] else 0
            i = min(i, n - 1)
        if i >= n - 1:
            out[k] = (n - 1) * dx
            continue
        dy = t[i + 1] - t[i]
        x = i * dx if dy == 0.0 else i * dx + (v - t[i]) * dx / dy
        out[k] = min(max(x, 0.0), 1.0)
    return out


def shape_tables(points: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float, float]:
    """A CUSTOM section's geometry tables from its SHAPE curve (width against height, both
    over the full height), as SWMM 5.2's shape.c computeShapeTables builds them: A/A_full,
    R/R_full and W/W_max at N_SHAPE_TBL = 51 equal steps of y/y_full, the area and wetted
    perimeter summed over trapezoids between the table's levels and the curve's points
    (the bottom width in the perimeter, the top's added at the crown), the width flat above
    the curve's last point; and A_full, R_full, W_max of a unit height. Raises ValueError
    as shape_validate refuses a curve."""
    pts = [(float(y), float(w)) for y, w in points]
    if not pts:
        raise ValueError("CUSTOM: its shape curve has no points")
    at = 1
    y1, w1 = pts[0]
    if y1 < 0.0 or y1 >= 1.0 or w1 < 0.0:
        raise ValueError("CUSTOM: the shape curve's first height must lie in [0, 1) and its widths be >= 0")
    w_max = w1
    if y1 != 0.0:
        y2, w2, y1, w1 = y1, w1, 0.0, 0.0
    else:
        if len(pts) < 2:
            raise ValueError("CUSTOM: the shape curve needs a second point")
        y2, w2 = pts[1]
        at = 2
        if y2 < y1 or w2 < 0.0:
            raise ValueError("CUSTOM: the shape curve's heights must rise and its widths be >= 0")
        y2 = min(y2, 1.0)
        w_max = max(w_max, w2)

    def area(y, w, y_low, w_low):  # shape.c getArea
        return (min(w, w_low) + abs(w - w_low) / 2.0) * (y - y_low)

    def perim(y, w, y_low, w_low):  # shape.c getPerim
        return 2.0 * math.sqrt((y - y_low) ** 2 + (abs(w - w_low) / 2.0) ** 2)

    n = 50
    dy = 1.0 / n
    a_tab, r_tab, w_tab = np.zeros(n + 1), np.zeros(n + 1), np.zeros(n + 1)
    w_tab[0] = w1
    a_total, p_total = 0.0, w1
    y, w = 0.0, w1
    for i in range(1, n + 1):
        y_last, w_last = y, w
        y += dy
        if abs(y - 1.0) < 1e-6:
            y = 1.0
        if y > y2:  # shape.c getNextInterval: on to the curve's interval holding y
            while y > y2:
                if y2 > y_last:
                    a_total += area(y2, w2, y_last, w_last)
                    p_total += perim(y2, w2, y_last, w_last)
                    y_last, w_last = y2, w2
                y1, w1 = y2, w2
                if at >= len(pts):
                    y2 = 1.0
                    break
                y2, w2 = pts[at]
                at += 1
                w_max = max(w_max, w2)
                if y2 < y1 or w2 < 0.0:
                    raise ValueError("CUSTOM: the shape curve's heights must rise and its widths be >= 0")
                y2 = min(y2, 1.0)
            y_last, w_last = y1, w1
        w = w2 if y2 == y1 else w1 + (y - y1) / (y2 - y1) * (w2 - w1)
        a_total += area(y, w, y_last, w_last)
        p_total += perim(y, w, y_last, w_last)
        if y == 1.0:
            p_total += w2
        w_tab[i], a_tab[i] = w, a_total
        r_tab[i] = a_total / p_total if p_total > 0.0 else 0.0
    a_full, r_full = a_tab[n], r_tab[n]
    if a_full == 0.0 or r_full == 0.0 or w_max == 0.0:
        raise ValueError("CUSTOM: the shape curve encloses no area")
    return a_tab / a_full, r_tab / r_full, w_tab / w_max, a_full, r_full, w_max


#: SWMM's N_TRANSECT_TBL: a transect's (and a street's) geometry tables hold 51 entries
N_TRANSECT_TBL = 51
#: consts.h PHI, the US Manning constant transect.c's getFlow takes (and 1.49 to undo it)
_PHI = 1.486


def street_stations(geom: list[float]) -> tuple[list[float], list[float], list[float], float]:
    """The station/elevation points of a SWMM 5.2 [STREETS] section, as transect.c's
    transect_createStreetTransect lays them out: ``geom`` is [Tcrown, Hcurb, Sx (%), nRoad,
    a (gutter depression), W (gutter width), Sides, Tback, Sback (%), nBack], lengths in
    metres. Returns (stations, elevations, [nChannel, nLeft, nRight, xLeftBank, xRightBank],
    y_full). Raises ValueError for a street SWMM's street_readParams refuses."""
    g = (list(geom) + [0.0] * 10)[:10]
    t_crown, h_curb, sx, n_road, dep, w_gut, sides, t_back, s_back, n_back = g
    if not (t_crown > 0.0 and h_curb > 0.0 and sx > 0.0 and n_road > 0.0):
        raise ValueError("STREET: Tcrown, Hcurb, Sx and nRoad must be > 0")
    if dep < 0.0 or w_gut < 0.0 or t_back < 0.0 or int(sides) not in (1, 2):
        raise ValueError("STREET: a and W must be >= 0, Sides 1 or 2")
    if t_back > 0.0 and not (s_back > 0.0 and n_back > 0.0):
        raise ValueError("STREET: with Tback > 0, Sback and nBack must be > 0")
    slope, back_slope = sx / 100.0, s_back / 100.0
    w1, w2, w3 = t_back, w_gut, t_crown
    w4 = w3 - w2
    y3 = dep + slope * w2
    y1 = h_curb + dep
    y4 = y3 + slope * w4
    ymax = max(back_slope * t_back + y1, y4)
    st = [0.0, w1, w1, w1 + w2, w1 + w3]
    el = [ymax, y1, 0.0, y3, y4]
    if int(sides) == 1:
        st.append(st[4])
        el.append(ymax)
    else:  # the right side of a full street mirrors the left
        st += [st[4] + w4, st[4] + w4 + w2, st[4] + w4 + w2, st[4] + w4 + w2 + w1]
        el += [y3, 0.0, y1, ymax]
    n_stations = len(st) - 1
    if t_back == 0.0:
        rough = [n_road, n_road, n_road, st[0], st[n_stations]]
    else:
        rough = [n_road, n_back, n_back, st[1], st[n_stations - 1] if int(sides) == 2 else st[n_stations]]
    return st, el, rough, ymax


def street_tables(geom: list[float]) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, float, float, float]:
    """A STREET section's geometry tables as SWMM 5.2's transect.c createTables builds them
    from :func:`street_stations`: (y_full; A/A_full, R/R_full, W/W_max at N_TRANSECT_TBL
    equal steps of depth; A_full, R_full, W_max), the slices' areas, widths and wetted
    perimeters summed (getSliceGeom) and R from the Manning flow of the sub-sections of
    like roughness (getGeometry, getFlow), in metres."""
    st, el, (n_ch, n_left, n_right, x_left, x_right), ymax = street_stations(geom)
    n_st = len(st) - 1
    n = N_TRANSECT_TBL
    a_tab, r_tab, w_tab = np.zeros(n), np.zeros(n), np.zeros(n)
    dy = ymax / (n - 1)
    y = 0.0
    for i in range(1, n):
        y += dy
        wp_sum = a_sum = q_sum = 0.0
        for k in range(1, n_st + 1):
            yhi, ylo = max(el[k - 1], el[k]), min(el[k - 1], el[k])
            if ylo >= y:
                continue
            width = abs(st[k] - st[k - 1])  # getSliceGeom
            w, wp, a = width, math.sqrt(width * width + (yhi - ylo) ** 2), 0.0
            if y > yhi:
                a = width * ((y - yhi) + (y - ylo)) / 2.0
            elif yhi > ylo:
                ratio = (y - ylo) / (yhi - ylo)
                a = width * (yhi - ylo) / 2.0 * ratio * ratio
                w, wp = w * ratio, wp * ratio
            wp_sum += wp
            a_sum += a
            a_tab[i] += a
            w_tab[i] += w
            find = el[k] >= y  # getFlow: a sub-section ends where the bank rises above the water
            if not find:
                if k == n_st - 1:
                    find = True
                elif st[k] == x_left:
                    find = n_left != n_ch and st[k] != st[k - 1]
                elif st[k] == x_right:
                    find = n_right != n_ch and st[k] != st[k + 1]
            if find:
                rough = n_ch
                if st[k - 1] < x_left:
                    rough = n_left
                if st[k] > x_right:
                    rough = n_right
                q = _PHI / rough * a_sum * (a_sum / wp_sum) ** (2.0 / 3.0) if wp_sum > 0.0 else 0.0
                if q > 0.0:
                    q_sum += q
                    a_sum = wp_sum = 0.0
        r_tab[i] = r_tab[i - 1] if a_tab[i] == 0.0 else (q_sum * n_ch / 1.49 / a_tab[i]) ** 1.5
    a_full, r_full, w_max = a_tab[-1], r_tab[-1], w_tab[-1]
    a_tab[1:] /= a_full
    r_tab[1:] /= r_full
    w_tab[1:] /= w_max
    w_tab[0] = w_tab[1]
    return ymax, a_tab, r_tab, w_tab, a_full, r_full, w_max


def _circle(y: np.ndarray, d: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area, wetted perimeter and top width of a circle of diameter ``d`` filled to ``y``
    (closed forms, as the router's own circle)."""
    x = np.clip(y / d, 0.0, 1.0)
    theta = 2.0 * np.arccos(1.0 - 2.0 * x)
    return d * d / 8.0 * (theta - np.sin(theta)), d * theta / 2.0, 2.0 * np.sqrt(np.maximum(y * (d - y), 0.0))


def _ellipse_or_arch(shape: str, g: list[float]) -> tuple[float, float, float, float]:
    """(y_full, W_max, A_full, R_full) in m of an ARCH or ELLIPSE section: a standard size
    by its code (Geom3, or Geom1 when Geom2 is 0, as xsect_setParams reads it), else its
    height and width."""
    from twin_drainage import xsect_dat as dat

    h, w, code = g[0], g[1], g[2]
    if code > 0.0:
        index = int(math.floor(code)) - 1
        if shape == "ARCH":
            if not 0 <= index < len(dat.Yfull_Arch):
                raise ValueError(f"ARCH: size code {code:g}; valid: 1 to {len(dat.Yfull_Arch)}")
            return (dat.Yfull_Arch[index] / 12.0 * FOOT, dat.Wmax_Arch[index] / 12.0 * FOOT,
                    dat.Afull_Arch[index] * FOOT * FOOT, dat.Rfull_Arch[index] * FOOT)
        if not 0 <= index < len(dat.MinorAxis_Ellipse):
            raise ValueError(f"{shape}: size code {code:g}; valid: 1 to {len(dat.MinorAxis_Ellipse)}")
        minor, major = dat.MinorAxis_Ellipse[index] / 12.0 * FOOT, dat.MajorAxis_Ellipse[index] / 12.0 * FOOT
        y_full, w_max = (minor, major) if shape == "HORIZ_ELLIPSE" else (major, minor)
        return y_full, w_max, dat.Afull_Ellipse[index] * FOOT * FOOT, dat.Rfull_Ellipse[index] * FOOT
    if not (h > 0.0 and w > 0.0):
        raise ValueError(f"{shape}: a height (Geom1) and a width (Geom2) > 0, or a standard size code (Geom3)")
    if shape == "ARCH":
        return h, w, 0.7879 * h * w, 0.2991 * h
    if shape == "HORIZ_ELLIPSE":
        return h, w, 1.2692 * h * h, 0.3061 * h
    return h, w, 1.2692 * w * w, 0.3061 * w


def swmm_section(shape: str, geom: list[float], y: np.ndarray,
                 curve: list[tuple[float, float]] | None = None) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """(y_full m, A m², R m, T m) of one barrel of a SWMM ``shape`` at depths ``y`` (m, 0 to
    y_full), as xsect.c's xsect_getAofY, xsect_getRofY and xsect_getWofY give them; ``geom``
    is [Geom1..Geom4] with lengths in metres (RECT_TRIANGULAR's Geom3 and FILLED_CIRCULAR's
    Geom2 too), slopes, side counts and size codes as the file gives them. ``y`` must be
    given once y_full is known: pass None to get y_full alone (the arrays then empty).
    A CUSTOM section takes its SHAPE ``curve`` (:func:`shape_tables`)."""
    from twin_drainage import xsect_dat as dat

    shape = shape.upper()
    if shape == "STREET":  # xsect.c STREET_XSECT: the street transect's tables by lookup
        y_full, a_tab, r_tab, w_tab, a_full, r_full, w_max = street_tables(geom)
        if y is None:
            return y_full, np.zeros(0), np.zeros(0), np.zeros(0)
        x = np.clip(np.asarray(y, dtype=np.float64), 0.0, y_full) / y_full
        return y_full, a_full * _lookup(x, a_tab), r_full * _lookup(x, r_tab), w_max * _lookup(x, w_tab)
    h, w, g3, g4 = (list(geom) + [0.0, 0.0, 0.0, 0.0])[:4]
    if shape in ("ARCH", "HORIZ_ELLIPSE", "VERT_ELLIPSE"):
        y_full, w_max, a_full, r_full = _ellipse_or_arch(shape, [h, w, g3])
    elif shape == "FILLED_CIRCULAR":
        if not 0.0 <= w < h:
            raise ValueError(f"FILLED_CIRCULAR: the filled depth (Geom2) must lie in [0, {h:g}) m; got {w:g}")
        y_full = h - w
    else:
        y_full = h
    if not y_full > 0.0:
        raise ValueError(f"{shape}: a section needs a height (Geom1) > 0")
    if y is None:
        return y_full, np.zeros(0), np.zeros(0), np.zeros(0)
    y = np.clip(np.asarray(y, dtype=np.float64), 0.0, y_full)
    x = y / y_full
    if shape == "CIRCULAR":
        a, p, t = _circle(y, h)
        r = np.divide(a, p, out=np.zeros_like(a), where=p > 0.0)
    elif shape == "FILLED_CIRCULAR":
        # xsect.c filled_circ_*: the circle's area, perimeter and width at y + the fill,
        # less the filled segment's area, its perimeter traded for its flat top (sBot)
        a_bot, p_bot, s_bot = (float(v[0]) for v in _circle(np.array([w]), h))
        a, p, t = _circle(y + w, h)
        a, p = a - a_bot, p - p_bot + s_bot
        r = np.divide(a, p, out=np.zeros_like(a), where=(p > 0.0) & (y > 0.0))
    elif shape in ("RECT_CLOSED", "RECT_OPEN"):
        if not w > 0.0:
            raise ValueError(f"{shape}: a width (Geom2) > 0")
        a = y * w
        t = np.full_like(y, w)
        if shape == "RECT_CLOSED":
            # rect_closed_getRofA: no top in the perimeter up to RECT_ALFMAX of the full
            # area, then the top grows in linearly; no width at the crown (getWofY)
            p = w + 2.0 * a / w + np.maximum(a / (w * h) - RECT_ALFMAX, 0.0) / (1.0 - RECT_ALFMAX) * w
            t = np.where(x >= 1.0, 0.0, t)
        else:
            sides = min(max(g3, 0.0), 2.0)
            p = w + (2.0 - sides) * a / w
        r = np.divide(a, p, out=np.zeros_like(a), where=a > 0.0)
    elif shape == "RECT_TRIANGULAR":
        bottom = min(g3, h)
        if not (w > 0.0 and bottom > 0.0):
            raise ValueError("RECT_TRIANGULAR: a width (Geom2) and a bottom's height (Geom3) > 0")
        side = w / bottom / 2.0
        wall = math.sqrt(1.0 + side * side)
        a_bot = bottom * w / 2.0
        a_full = w * (h - bottom / 2.0)
        below = y <= bottom
        a = np.where(below, y * y * side, a_bot + (y - bottom) * w)
        p = np.where(below, 2.0 * y * wall, 2.0 * bottom * wall + 2.0 * (y - bottom))
        p = p + np.where(below, 0.0, np.maximum(a / a_full - RECT_TRIANG_ALFMAX, 0.0) / (1.0 - RECT_TRIANG_ALFMAX) * w)
        r = np.divide(a, p, out=np.zeros_like(a), where=a > 0.0)
        t = np.where(below, 2.0 * side * y, w)
    elif shape == "TRAPEZOIDAL":
        if w < 0.0 or g3 < 0.0 or g4 < 0.0 or (w == 0.0 and g3 + g4 == 0.0):
            raise ValueError("TRAPEZOIDAL: a bottom width (Geom2) or a side slope (Geom3, Geom4) > 0, none < 0")
        slope = (g3 + g4) / 2.0
        walls = math.sqrt(1.0 + g3 * g3) + math.sqrt(1.0 + g4 * g4)
        a = (w + slope * y) * y
        p = w + y * walls
        r = np.divide(a, p, out=np.zeros_like(a), where=y > 0.0)
        t = w + 2.0 * y * slope
    elif shape == "TRIANGULAR":
        if not w > 0.0:
            raise ValueError("TRIANGULAR: a top width (Geom2) > 0")
        side = w / h / 2.0
        wall = math.sqrt(1.0 + side * side)
        a = y * y * side
        r = y * side / (2.0 * wall)
        t = 2.0 * side * y
    elif shape in _ROUNDED:
        fa, fr, fw, a_tab, r_tab, y_tab, s_tab, w_tab = _ROUNDED[shape]
        a_full, r_full, w_max = fa * h * h, fr * h, fw * h
        # xsect_getAofY: A(y) from its table, or by invLookup of Y(A); xsect_getRofY: R(y)
        # from its table, or xsect_getRofA's default, (S(A)/A)^(3/2) with S(A) tabulated
        alpha = _lookup(x, getattr(dat, a_tab)) if a_tab else _inv_lookup(x, getattr(dat, y_tab))
        a = a_full * alpha
        if r_tab:
            r = r_full * _lookup(x, getattr(dat, r_tab))
        else:
            s = a_full * r_full ** (2.0 / 3.0) * _lookup(alpha, getattr(dat, s_tab))
            r = np.divide(s, a, out=np.zeros_like(a), where=a > 0.0) ** 1.5
        t = w_max * _lookup(x, getattr(dat, w_tab))
    elif shape == "PARABOLIC":  # xsect.c parab_*: y = c·x², rBot = 1/sqrt(c)
        if not w > 0.0:
            raise ValueError("PARABOLIC: a top width (Geom2) > 0")
        c = w / 2.0 / math.sqrt(h)
        a = 4.0 / 3.0 * c * y * np.sqrt(y)
        u = 2.0 * np.sqrt(y) / c
        root = np.sqrt(1.0 + u * u)
        p = 0.5 * c * c * (u * root + np.log(u + root))
        r = np.divide(a, p, out=np.zeros_like(a), where=y > 0.0)
        t = 2.0 * c * np.sqrt(y)
    elif shape == "POWER":  # xsect.c powerfunc_*: half width ∝ y^(1/Geom3)
        if not (w > 0.0 and g3 > 0.0):
            raise ValueError("POWER: a top width (Geom2) and an exponent (Geom3) > 0")
        m = 1.0 / g3
        c = w / (m + 1.0) / h ** m
        a = c * y ** (m + 1.0)
        t = (m + 1.0) * c * y ** m
        half = (m + 1.0) * c / 2.0
        p = np.zeros_like(y)
        for k, depth in enumerate(y):  # powerfunc_getPofY: the wall in steps of 0.02·y_full
            y1 = x1 = total = 0.0
            while depth > 0.0:
                y2 = min(y1 + 0.02 * h, depth)
                x2 = half * y2 ** m
                total += math.hypot(x2 - x1, y2 - y1)
                x1, y1 = x2, y2
                if y2 >= depth:
                    break
            p[k] = 2.0 * total
        r = np.divide(a, p, out=np.zeros_like(a), where=p > 0.0)
    elif shape == "CUSTOM":  # xsect.c: the shape's tables by lookup, scaled by y_full
        a_tab, r_tab, w_tab, a_unit, r_unit, w_unit = shape_tables(curve or [])
        a = a_unit * h * h * _lookup(x, a_tab)
        r = r_unit * h * _lookup(x, r_tab)
        t = w_unit * h * _lookup(x, w_tab)
    elif shape in ("ARCH", "HORIZ_ELLIPSE", "VERT_ELLIPSE"):
        name = {"ARCH": "Arch", "HORIZ_ELLIPSE": "HorizEllipse", "VERT_ELLIPSE": "VertEllipse"}[shape]
        a = a_full * _lookup(x, getattr(dat, "A_" + name))
        r = r_full * _lookup(x, getattr(dat, "R_" + name))
        t = w_max * _lookup(x, getattr(dat, "W_" + name))
    else:
        raise ValueError(f"{shape}: not one of {', '.join(DYNAMIC_SHAPES)}")
    return y_full, a, r, t


def dynamic_section(shape: str, geom: list[float], barrels: float = 1.0,
                    curve: list[tuple[float, float]] | None = None) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """The router's section of ``barrels`` identical barrels of a SWMM ``shape`` (``geom``
    as :func:`swmm_section` takes it): (d = y_full m; the (SEC_STEPS + 1, SEC_COLUMNS)
    table at y/d = k/SEC_STEPS; the (2, INV_STEPS + 1) y/d of the normal depth at equal
    steps of sqrt(Φ), Φ = Q·n/(S^(1/2)·d^(8/3)), up to the largest A·R^(2/3), and of the
    critical depth at equal steps of sqrt(Φ), Φ = Q/(g·d^5)^(1/2); the two scales INV_STEPS
    over the largest sqrt(Φ) of each; a CUSTOM one's SHAPE ``curve``). Raises ValueError
    for a shape or size it cannot take."""
    if not barrels >= 1.0:
        raise ValueError(f"{shape}: barrels must be >= 1; got {barrels:g}")
    d = swmm_section(shape, geom, None)[0]
    closed = shape.upper() not in OPEN_SHAPES
    table = np.zeros((SEC_STEPS + 1, SEC_COLUMNS))
    x = np.arange(SEC_STEPS + 1) / SEC_STEPS
    _, a, r, t = swmm_section(shape, geom, x * d, curve)
    a, r, t = barrels * a / (d * d), r / d, barrels * t / d
    table[:, SA], table[:, SR], table[:, ST] = a, r, t
    table[:, SO] = 0.0 if closed else 1.0
    table[:, SR43] = r ** (4.0 / 3.0)
    table[:, SK43] = a * table[:, SR43]
    table[:, SK23] = a * r ** (2.0 / 3.0)
    # the inverses from a fine sampling of the same (linearly interpolated) table
    fine = np.linspace(0.0, 1.0, 64 * SEC_STEPS + 1)
    k23 = np.interp(fine, x, table[:, SK23])
    top = int(np.argmax(k23))
    u = np.maximum.accumulate(np.sqrt(k23[: top + 1]))
    normal = np.interp(np.linspace(0.0, u[-1], INV_STEPS + 1), u, fine[: top + 1])
    width = np.interp(fine, x, t)
    keep = (fine <= 0.999) if closed else (fine <= 1.0)
    area = np.interp(fine, x, a)[keep]
    v = np.sqrt(np.sqrt(np.divide(area ** 3, width[keep], out=np.zeros_like(area), where=width[keep] > 0.0)))
    v = np.maximum.accumulate(v)
    critical = np.interp(np.linspace(0.0, v[-1], INV_STEPS + 1), v, fine[keep])
    return d, table, np.stack([normal, critical]), np.array([INV_STEPS / u[-1], INV_STEPS / v[-1]])


@njit(cache=True, nogil=True)
def sec_cell(x):  # pragma: no cover - compiled
    """Where y/d = ``x`` (0 <= x < 1) falls in a section table: (k, weight of entry k + 1)."""
    at = max(x, 0.0) * SEC_STEPS
    k = min(int(at), SEC_STEPS - 1)
    return k, at - k


@njit(cache=True, nogil=True)
def sec_value(table, s, k, w, j):  # pragma: no cover - compiled
    """Column ``j`` of section ``s``'s table interpolated at (k, w) from :func:`sec_cell`."""
    low = table[s, k, j]
    return low + w * (table[s, k + 1, j] - low)


@njit(cache=True, nogil=True)
def sec_at(table, s, x, j):  # pragma: no cover - compiled
    """Column ``j`` of section ``s`` at y/d = ``x``: 0 when dry, the full value at and above the crown."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return table[s, SEC_STEPS, j]
    k, w = sec_cell(x)
    return sec_value(table, s, k, w, j)


@njit(cache=True, nogil=True)
def sec_inverse(inverse, scale, s, which, root_phi):  # pragma: no cover - compiled
    """y/d of section ``s``'s normal (``which`` 0) or critical (1) depth for sqrt(Φ); 1
    (full) beyond the table."""
    at = root_phi * scale[s, which]
    if at >= INV_STEPS:
        return 1.0
    k = int(at)
    low = inverse[s, which, k]
    return low + (at - k) * (inverse[s, which, k + 1] - low)
