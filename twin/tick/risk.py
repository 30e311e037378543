"""The one risk convention shared by every domain (MODELS.md).

An indicator x maps to a risk r in [0, 1] piecewise-linearly through its level
breakpoints ``[x_normal, x_IV, x_III, x_II, x_I, x_max]`` onto
``[0, .25, .50, .75, .90, 1]``. Breakpoints may fall (for indicators where low is bad,
such as oxygen or a frequency ratio). Levels start at the risks in
:data:`twin.types.LEVEL_RISK_THRESHOLDS`, so a level and its threshold agree by
construction.
"""

from __future__ import annotations

import numba
import numpy as np

RISK_AT_BREAKPOINTS = np.array([0.0, 0.25, 0.50, 0.75, 0.90, 1.0])


@numba.njit(cache=True, nogil=True, inline="always")
def piecewise_risk(x, breakpoints):  # pragma: no cover - compiled
    """Risk in [0, 1] of indicator ``x`` through six monotone ``breakpoints``.

    NaN (no value) maps to 0: a missing reading is flagged stale, not alarmed.
    """
    ys = (0.0, 0.25, 0.50, 0.75, 0.90, 1.0)
    s = 1.0 if breakpoints[5] >= breakpoints[0] else -1.0
    xs = x * s
    if xs <= breakpoints[0] * s:
        return 0.0  # most assets most of the time: a branch the CPU predicts
    # Past normal, the segment is found by counting the breakpoints passed, without
    # further branches (3x faster than a search when values spread over the levels).
    k = (xs > breakpoints[1] * s) + (xs > breakpoints[2] * s) + (xs > breakpoints[3] * s) + (xs > breakpoints[4] * s)
    a = breakpoints[k]
    d = breakpoints[k + 1] - a
    t = (x - a) / d if d != 0.0 else (1.0 if xs >= a * s else 0.0)
    t = min(max(t, 0.0), 1.0)
    r = ys[k] + t * (ys[k + 1] - ys[k])
    return r if r == r else 0.0


def level_of(risk: float) -> int:
    """Warning level 0-4 of a risk score (no hysteresis)."""
    from twin.types import LEVEL_RISK_THRESHOLDS

    return sum(risk >= t for t in LEVEL_RISK_THRESHOLDS)


def check_breakpoints(name: str, values: tuple[float, ...]) -> None:
    """Refuse breakpoints that are not six strictly monotone numbers."""
    if len(values) != 6:
        raise ValueError(f"{name}: expected six breakpoints [normal, IV, III, II, I, max]; got {len(values)}")
    diffs = np.diff(np.asarray(values, dtype=float))
    if not (np.all(diffs > 0) or np.all(diffs < 0)):
        raise ValueError(f"{name}: breakpoints {list(values)} must rise (or fall) strictly")
