"""True cross-section geometry of SWMM's analytic open and closed shapes, for the
kinematic wave (:mod:`twin_drainage.kinwave`): area, depth and section factor
S = A·R^(2/3) of each other, as SWMM 5.2's xsect.c computes them.

Source: Rossman, SWMM 5.2 Reference Manual vol. II – Hydraulics (EPA/600/R-17/111),
ch. 2 and appendix A, and SWMM 5.2's xsect.c, which this follows: the closed rectangle
and the rectangle with a triangular bottom carry no top in their wetted perimeter below
97 % (98 %) of their full area, and their section factor falls linearly from its largest
value there to the full one at the crown — the lower branch of S(A) is the one normal
flow follows, the upper one a conduit that fills.

Shapes taken exactly: RECT_CLOSED, RECT_OPEN, RECT_TRIANGULAR, TRAPEZOIDAL, TRIANGULAR
(:data:`KINDS`). The rest (the circle aside, which the router computes itself) are
still their equivalent circle, and the importer says so.

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
