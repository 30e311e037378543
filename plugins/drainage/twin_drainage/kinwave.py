"""Kinematic wave routing, for the networks whose SWMM file asks for it
(``FLOW_ROUTING KINWAVE``).

Source: Rossman, SWMM 5.2 Reference Manual vol. II – Hydraulics (EPA/600/R-17/111),
ch. 3.3, and SWMM 5.2's kinwave.c and flowrout.c, which this follows: links are taken
from upstream to downstream (a topological order); each conduit solves the continuity
equation over the step with Manning's normal flow Q = β·A·R^(2/3) (β = S^(1/2)/n) at
its outlet, in the weighted finite-difference form

    f(a) = s(a) + C1·a + C2 = 0,  C1 = (L/Δt)(A_full/Q_full)·W_T/W_X,
    C2 = [(1 - W_T)(a_in - a1) - W_T·a2]·(L/Δt)(A_full/Q_full)/W_X + (1 - W_X)/W_X·(q2 - q1) - q_in,

with areas and flows made dimensionless by the full section's (W_X = W_T = 0.6), solved
for the outlet area by bisection; a conduit takes no more than its full flow, and what a
node cannot pass on floods there (lost, or ponded where ponding is allowed). Nodes hold
no water but that (storage units hold theirs); a node's depth is the deepest of the
conduit ends that meet it (above their offsets), its full depth while it floods — what
SWMM reports. Regulators pass the flow their equations give for the inlet's head and a
free outlet. There is no backwater: that is what the file's author chose.

Circles are computed here; the analytic shapes of :mod:`twin_drainage.sections`
(rectangles, trapezoids, triangles) by their own geometry, solved as SWMM's
solveContinuity does (the root between the largest section factor and the full one
first, else below it); barrels share the flow equally. Other shapes come in as their
equivalent circle.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from numba import njit

from twin_drainage import _numba_cache  # noqa: F401 - before any kernel: the package-wide cache key
from twin_drainage.hydrology import INFIL_STATE, MOD_GREEN_AMPT, infiltration
from twin_drainage.regulators import RI_DOWN, RI_UP, regulator_flow
from twin_drainage.sections import (ALPHA_MAX, S_MAX, area_of_depth, area_of_section_factor, depth_of_area,
                                     section_factor)

WX = 0.6
WT = 0.6
#: y/d where A·R^(2/3) of a circle is largest, and that largest value over the full one's
Y_MAX = 0.9381
FULL_AREA = 0.25 * math.pi
#: a storage unit's seepage row: bottom area (m²), Green-Ampt parameters, their state
SEEP_AREA, SEEP_PARAMS = 0, 1
SEEP_STATE = SEEP_PARAMS + 5
SEEP_FIELDS = SEEP_STATE + INFIL_STATE
#: water a junction keeps below this (m³) is round-off, not flooding
FUDGE_VOLUME = 1.0e-6


@njit(cache=True, nogil=True)
def _circle(x):  # pragma: no cover - compiled
    """(A/A_full, A·R^(2/3) / (A·R^(2/3))_full) of a circle filled to y/d = ``x``."""
    if x <= 0.0:
        return 0.0, 0.0
    if x >= 1.0:
        return 1.0, 1.0
    theta = 2.0 * math.acos(1.0 - 2.0 * x)
    area = (theta - math.sin(theta)) / 8.0
    radius = area / (0.5 * theta)
    return area / FULL_AREA, area * radius ** (2.0 / 3.0) / (FULL_AREA * 0.25 ** (2.0 / 3.0))


@njit(cache=True, nogil=True)
def _depth_of_section_factor(s):  # pragma: no cover - compiled
    """y/d at which A·R^(2/3) is ``s`` of full, on the lower branch (y/d <= Y_MAX)."""
    if s <= 0.0:
        return 0.0
    lo, hi = 0.0, Y_MAX
    for _ in range(48):
        mid = 0.5 * (lo + hi)
        if _circle(mid)[1] < s:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@njit(cache=True, nogil=True)
def conduit_step(qin, a1, q1, a2, q2, length, dt, a_full, q_full):  # pragma: no cover - compiled
    """One kinematic-wave step of a conduit (kinwave.c): inflow ``qin`` (m³/s), the last
    step's inlet and outlet area and flow (dimensionless). Returns (inflow taken, outflow
    m³/s, new a1, q1, a2, q2, y1/d, y2/d)."""
    if q_full <= 0.0:
        return 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    q = qin / q_full
    y_in = 1.0 if q >= 1.0 else _depth_of_section_factor(q)
    ain = _circle(y_in)[0]
    q = min(q, 1.0)
    if q <= 1e-12 and q2 <= 1e-12:
        return q * q_full, 0.0, ain, q, 0.0, 0.0, y_in, 0.0
    dxdt = length / dt * a_full / q_full
    c1 = dxdt * WT / WX
    c2 = ((1.0 - WT) * (ain - a1) - WT * a2) * dxdt / WX + (1.0 - WX) / WX * (q2 - q1) - q
    a_max, s_max = _circle(Y_MAX)
    f_lo, f_hi = c2, s_max + c1 * a_max + c2
    if f_lo >= 0.0:
        y_out = 0.0
    elif f_hi <= 0.0:
        y_out = Y_MAX
    else:  # f rises with the depth on the lower branch: bisection in y/d
        lo, hi = 0.0, Y_MAX
        for _ in range(48):
            mid = 0.5 * (lo + hi)
            a, s = _circle(mid)
            if s + c1 * a + c2 < 0.0:
                lo = mid
            else:
                hi = mid
        y_out = 0.5 * (lo + hi)
    aout, qout = _circle(y_out)
    return q * q_full, qout * q_full, ain, q, aout, qout, y_in, y_out


@njit(cache=True, nogil=True)
def section_step(qin, a1, q1, a2, q2, length, dt, a_full, q_full, kind, g):  # pragma: no cover - compiled
    """:func:`conduit_step` for a section of :mod:`twin_drainage.sections` (``kind``, its
    row ``g``), in normalised areas as kinwave.c: the outlet area is sought between the
    largest section factor's area and the full one first, else below it; a conduit whose
    continuity has no root runs full (or empty)."""
    if q_full <= 0.0:
        return 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    q = qin / q_full
    ain = 1.0 if q >= 1.0 else area_of_section_factor(kind, q, g)
    y_in = depth_of_area(kind, ain, g)
    if q <= 1e-12 and q2 <= 1e-12:
        return min(q, 1.0) * q_full, 0.0, ain, min(q, 1.0), 0.0, 0.0, y_in, 0.0
    dxdt = length / dt * a_full / q_full
    c1 = dxdt * WT / WX
    c2 = ((1.0 - WT) * (ain - a1) - WT * a2) * dxdt / WX + (1.0 - WX) / WX * (q2 - q1) - q
    a_hi, f_hi = 1.0, 1.0 + c1 + c2
    a_lo = g[ALPHA_MAX]
    f_lo = g[S_MAX] + c1 * a_lo + c2 if a_lo < 1.0 else f_hi
    if f_hi * f_lo > 0.0:
        a_hi, f_hi = a_lo, f_lo
        a_lo, f_lo = 0.0, c2
    if f_hi * f_lo <= 0.0:
        for _ in range(60):
            mid = 0.5 * (a_lo + a_hi)
            f = section_factor(kind, mid, g) + c1 * mid + c2
            if (f < 0.0) == (f_lo < 0.0):
                a_lo, f_lo = mid, f
            else:
                a_hi = mid
        aout = 0.5 * (a_lo + a_hi)
    elif f_lo < 0.0:
        aout = ain if q > 1.0 else 1.0
    else:
        aout = 0.0
    q = min(q, 1.0)
    qout = section_factor(kind, aout, g)
    return q * q_full, qout * q_full, ain, q, aout, qout, y_in, depth_of_area(kind, aout, g)


def topological_order(up: np.ndarray, down: np.ndarray, nodes: int) -> np.ndarray:
    """Links (0..len(up)-1 between nodes ``up`` -> ``down``) so that every link comes after
    those draining into its upstream node (Kahn's algorithm; a loop's links come last, in
    file order, as SWMM warns and goes on)."""
    incoming = np.zeros(nodes, dtype=np.int64)
    np.add.at(incoming, down, 1)
    leaving: dict[int, list[int]] = {}
    for k, n in enumerate(up):
        leaving.setdefault(int(n), []).append(k)
    ready = deque(int(n) for n in range(nodes) if incoming[n] == 0)
    order: list[int] = []
    seen = np.zeros(len(up), dtype=bool)
    while ready:
        n = ready.popleft()
        for k in leaving.get(n, []):
            if seen[k]:
                continue
            seen[k] = True
            order.append(k)
            m = int(down[k])
            incoming[m] -= 1
            if incoming[m] == 0:
                ready.append(m)
    order += [k for k in range(len(up)) if not seen[k]]
    return np.array(order, dtype=np.int64)


@njit(cache=True, nogil=True)
def route_kinwave(dt, substeps, runoff, depth, flow, order, pipe_up, pipe_down, invert_up, invert_down, node_invert,
                  y_full, length, a_full_of, q_full_of, kind, sec_row, sec_geom, max_depth, shaft, pond, storage_node,
                  state, reg_int, reg_float, curve_ptr,
                  curve_x, curve_y, reg_on, reg_flow, volume, inflow, head, outflow, flooded,
                  pipe_depth, pipe_area, seepage):  # pragma: no cover - compiled
    """Advance the network ``dt`` s in ``substeps`` kinematic-wave steps. Links are
    numbered pipes first (``order`` over pipes and regulators, pipes < len(pipe_up)).
    state: ``depth`` (per manhole), ``flow`` (per pipe), ``state`` (6 x pipes: a1, q1, a2,
    q2 and the two ends' y/y_full), ``volume`` (per manhole: water held, storage units and ponds), ``reg_flow``,
    ``reg_on``. Per conduit: ``y_full`` (m), the full area and flow of all its barrels
    (``a_full_of``, ``q_full_of``), its section ``kind`` (0 a circle) and row
    ``sec_row`` of ``sec_geom`` (twin_drainage.sections). outputs: ``outflow`` (m³ per outfall), ``flooded`` (m³ per manhole),
    ``pipe_depth`` (mean of its two end depths, m), ``pipe_area`` (mean flow area, m²).
    ``seepage`` (per manhole: the bottom area that seeps, m², 0 none; then modified
    Green-Ampt parameters and state, twin_drainage.hydrology) drains storage units into the
    soil (SWMM's exfil.c, the ponded head their depth)."""
    m_count = depth.shape[0]
    p_count = pipe_up.shape[0]
    tau = dt / substeps
    outflow[:] = 0.0
    flooded[:] = 0.0
    for _ in range(substeps):
        for n in range(inflow.shape[0]):
            inflow[n] = runoff[n] if n < m_count else 0.0
        for n in range(m_count):
            head[n] = node_invert[n] + depth[n]
        for k in range(order.shape[0]):
            link = order[k]
            if link < p_count:
                p = link
                up, down = pipe_up[p], pipe_down[p]
                a_full, q_full, k = a_full_of[p], q_full_of[p], kind[p]
                g = sec_geom[max(sec_row[p], 0)]
                if storage_node[up]:
                    # a storage unit passes what its depth above the conduit carries at normal flow
                    x = min(max(depth[up] - (invert_up[p] - node_invert[up]), 0.0), y_full[p]) / y_full[p]
                    s = _circle(x)[1] if k == 0 else section_factor(k, area_of_depth(k, x, g), g)
                    offer = min(q_full * s, volume[up] / tau + inflow[up])
                else:
                    offer = inflow[up] + volume[up] / tau
                if k == 0:
                    taken, qout, a1, q1, a2, q2, y1, y2 = conduit_step(offer, state[0, p], state[1, p], state[2, p],
                                                                       state[3, p], length[p], tau, a_full, q_full)
                else:
                    taken, qout, a1, q1, a2, q2, y1, y2 = section_step(offer, state[0, p], state[1, p], state[2, p],
                                                                       state[3, p], length[p], tau, a_full, q_full,
                                                                       k, g)
                state[0, p], state[1, p], state[2, p], state[3, p], state[4, p], state[5, p] = a1, q1, a2, q2, y1, y2
                flow[p] = qout
                volume[up] += (inflow[up] - taken) * tau
                inflow[up] = 0.0
                inflow[down] += qout
                pipe_depth[p] = 0.5 * y_full[p] * (y1 + y2)
                pipe_area[p] = 0.5 * (a1 + a2) * a_full
            else:
                r = link - p_count
                up, down = reg_int[RI_UP, r], reg_int[RI_DOWN, r]
                if up >= m_count:
                    reg_flow[r] = 0.0
                    continue
                available = volume[up] + inflow[up] * tau
                saved = head[down]
                head[down] = node_invert[down]  # kinematic wave: a free outlet
                q = regulator_flow(r, reg_int, reg_float, curve_ptr, curve_x, curve_y, reg_on, head, node_invert,
                                   depth, volume, available, tau, m_count)
                head[down] = saved
                q = min(max(q, 0.0), available / tau)
                reg_flow[r] = q
                volume[up] += inflow[up] * tau - q * tau
                inflow[up] = 0.0
                inflow[down] += q
        # nodes: what they could not pass floods (or ponds), storage units fill
        for n in range(m_count):
            volume[n] += inflow[n] * tau
            inflow[n] = 0.0
            if volume[n] < 0.0:
                volume[n] = 0.0
            full = max_depth[n] * shaft[n] if storage_node[n] else 0.0
            if storage_node[n]:
                if seepage[n, SEEP_AREA] > 0.0 and volume[n] > 0.0:
                    rate = infiltration(MOD_GREEN_AMPT, seepage[n, SEEP_PARAMS:SEEP_STATE],
                                        seepage[n, SEEP_STATE:], tau, 0.0, 0.0, depth[n])
                    volume[n] -= min(rate * seepage[n, SEEP_AREA] * tau, volume[n])
                if volume[n] > full:
                    if pond[n] > 0.0:
                        depth[n] = max_depth[n] + (volume[n] - full) / pond[n]
                    else:
                        flooded[n] += volume[n] - full
                        volume[n] = full
                        depth[n] = max_depth[n]
                else:
                    depth[n] = volume[n] / shaft[n]
            else:
                # what a junction could not pass on (round-off aside: SWMM's FUDGE)
                if volume[n] > FUDGE_VOLUME:
                    if pond[n] > 0.0:
                        depth[n] = max_depth[n] + volume[n] / pond[n]
                    else:
                        flooded[n] += volume[n]
                        volume[n] = 0.0
                        depth[n] = max_depth[n]
                else:
                    volume[n] = 0.0
                    depth[n] = 0.0
        for n in range(m_count, inflow.shape[0]):
            outflow[n - m_count] += inflow[n] * tau
        # a node is as deep as the deepest conduit end meeting it (SWMM's updateNodeDepth)
        for p in range(p_count):
            up, down = pipe_up[p], pipe_down[p]
            if not storage_node[up] and up < m_count and depth[up] < max_depth[up]:
                y1 = state[4, p] * y_full[p] + invert_up[p] - node_invert[up]
                depth[up] = min(max(depth[up], y1), max_depth[up])
            if down < m_count and not storage_node[down] and depth[down] < max_depth[down]:
                y2 = state[5, p] * y_full[p] + invert_down[p] - node_invert[down]
                depth[down] = min(max(depth[down], y2), max_depth[down])
