"""Storm drainage hydraulics and the node flood-risk kernel.

Sources (MODELS.md, "Drainage"):

- Runoff: the rational method Q = C·i·A (GB 50014-2021 writes it Q = ψ·q·F), each
  manhole's subcatchment feeding its manhole directly (no inlet lag).
- Pipes: Manning's equation Q = (1/n)·A·R^(2/3)·S^(1/2) on a partially full circular
  section, inside the link momentum equation of SWMM's dynamic wave with the inertial
  terms damped (Rossman, SWMM Reference Manual vol. II, EPA/600/R-17/111, ch. 3), which
  is the local inertial scheme of Bates, Horritt & Fewtrell (2010, J. Hydrol. 387,
  33-45): the friction slope is treated semi-implicitly,

      Q_new = (Q + g·A·dt·(H_up - H_down)/L) / (1 + g·n²·|Q|·dt / (A·R^(4/3)))

  whose steady state is exactly Manning's equation with the head gradient as slope,
  and SWMM's normal flow limitation (supercritical inlet or a water surface flatter
  than the bed: no more than Manning's normal flow at the upstream depth).
- Pipe ends: a pipe's depth at each end is its node's water level above the pipe's
  invert there, except at an end that drops into its node (the pipe's invert above
  the node's) while the node's water lies below the flow's normal or critical depth:
  that end flows at the smaller of the two, as water falling freely into a manhole
  does (the DN_CRITICAL and UP_CRITICAL flow classes of SWMM 5's dynamic wave
  solver, dwflow.c getFlowClass). Taking the node's low level there instead halves the
  pipe's mean depth and nearly doubles the depth upstream of every drop.
- Nodes: continuity dV/dt = runoff + Σ inflows - Σ outflows on each manhole's storage,
  which is its shaft, half the length of every pipe that meets it, and, above the rim,
  a ponding area on the street (SWMM's "ponded area"). Depth is found from the stored
  volume exactly (a safeguarded Newton solve), so the router conserves mass to
  round-off: rain in = discharge at the outfalls + water in the network + water ponded.
- Outfalls: SWMM's NORMAL outfall (the last pipe ends at the normal depth of its
  flow, or at the smaller of normal and critical depth when it drops to the outfall's
  invert), under a fixed tailwater (the river's stage) when that is higher.

Units: metres, seconds, m³/s; rain in mm/h; subcatchment areas in hectares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from twin import piecewise_risk

G = 9.80665  # m/s2
MM_PER_HOUR = 1.0 / 3.6e6  # m/s per mm/h
HECTARE = 1.0e4  # m2
#: the wet-dry threshold of a pipe's flow area, m2 (a film of water carries no flow)
DRY_AREA = 1.0e-8
#: the slope used for the full-flow capacity of a flat or adverse pipe (m/m)
MIN_CAPACITY_SLOPE = 1.0e-4


# --- circular section ---------------------------------------------------------------
@njit(cache=True, nogil=True)
def circular_area(y, d):  # pragma: no cover - compiled
    """Flow area (m2) at depth ``y`` (m) in a circular pipe of diameter ``d`` (m):
    A = d²/8·(θ - sin θ) with θ = 2·acos(1 - 2y/d), the central angle of the wetted arc."""
    if y <= 0.0:
        return 0.0
    if y >= d:
        return 0.25 * math.pi * d * d
    theta = 2.0 * math.acos(1.0 - 2.0 * y / d)
    return d * d / 8.0 * (theta - math.sin(theta))


@njit(cache=True, nogil=True)
def circular_radius(y, d):  # pragma: no cover - compiled
    """Hydraulic radius R = A/P (m) at depth ``y`` in a circular pipe, P = d·θ/2."""
    if y <= 0.0:
        return 0.0
    if y >= d:
        return 0.25 * d
    theta = 2.0 * math.acos(1.0 - 2.0 * y / d)
    return 0.25 * d * (1.0 - math.sin(theta) / theta)


@njit(cache=True, nogil=True)
def circular_width(y, d):  # pragma: no cover - compiled
    """Top width (m) of the water surface at depth ``y``: 2·sqrt(y·(d - y)); 0 when dry or full."""
    if y <= 0.0 or y >= d:
        return 0.0
    return 2.0 * math.sqrt(y * (d - y))


# --- normal and critical depth ---------------------------------------------------------
# Both are found from dimensionless tables of a circle, as SWMM finds them from its
# cross-section tables (xsect.c): the depth ratio y/d tabulated at equal steps of
# u = Φ^p, where Φ is the flow made dimensionless and p makes y/d nearly linear in u
# near the invert (A·R^(2/3) ~ (y/d)^(13/6), sqrt(A³/T) ~ (y/d)^2), so linear
# interpolation between 1025 entries is good to 1e-5·d below y/d = 0.85 (and to
# 4e-3·d in the last steps below the peak of A·R^(2/3), at y/d = 0.938).
SECTION_TABLE_STEPS = 1024


def _section_tables(steps: int = SECTION_TABLE_STEPS) -> tuple[float, np.ndarray, float, np.ndarray]:
    x = np.linspace(0.0, 1.0, 400_001)
    theta = 2.0 * np.arccos(1.0 - 2.0 * x)
    area = (theta - np.sin(theta)) / 8.0
    radius = np.divide(area, 0.5 * theta, out=np.zeros_like(x), where=theta > 0.0)
    width = 2.0 * np.sqrt(x * (1.0 - x))
    factor = area * radius ** (2.0 / 3.0)  # A·R^(2/3) / d^(8/3)
    top = int(np.argmax(factor))
    u = factor[: top + 1] ** (6.0 / 13.0)
    normal = np.interp(np.linspace(0.0, u[-1], steps + 1), u, x[: top + 1])
    keep = x <= 0.999  # sqrt(A³/T) grows without bound at the crown
    froude = np.sqrt(np.divide(area[keep] ** 3, width[keep], out=np.zeros(int(keep.sum())), where=width[keep] > 0.0))
    v = np.sqrt(froude)
    critical = np.interp(np.linspace(0.0, v[-1], steps + 1), v, x[keep])
    return float(u[-1]), normal, float(v[-1]), critical


NORMAL_U_MAX, NORMAL_TABLE, CRITICAL_U_MAX, CRITICAL_TABLE = _section_tables()


@njit(cache=True, nogil=True)
def _lookup(u, u_max, table):  # pragma: no cover - compiled
    """Linear interpolation in a table of y/d at equal steps of u from 0 to ``u_max``."""
    steps = table.shape[0] - 1
    k = u / u_max * steps
    if k >= steps:
        return table[steps]
    i = int(k)
    w = k - i
    return table[i] + w * (table[i + 1] - table[i])


@njit(cache=True, nogil=True)
def normal_depth(q, d, n, slope, open_fraction):  # pragma: no cover - compiled
    """Manning's normal depth (m) of a flow ``q`` (m3/s) in a circular pipe of diameter
    ``d``, roughness ``n`` and bed ``slope``, ``open_fraction`` of its section open:
    (1/n)·A·R^(2/3)·S^(1/2) = |q|. A flow beyond the section's largest Manning flow
    (at y/d = 0.938), or any flow on a flat or adverse bed, has the full depth (SWMM's
    rule)."""
    if q == 0.0:
        return 0.0
    if slope <= 0.0 or open_fraction <= 0.0:
        return d
    phi = abs(q) * n / (open_fraction * math.sqrt(slope) * d ** (8.0 / 3.0))
    u = phi ** (6.0 / 13.0)
    if u >= NORMAL_U_MAX:
        return d
    return d * _lookup(u, NORMAL_U_MAX, NORMAL_TABLE)


@njit(cache=True, nogil=True)
def critical_depth(q, d, open_fraction):  # pragma: no cover - compiled
    """Critical depth (m) of a flow ``q`` (m3/s) in a circular pipe of diameter ``d``:
    Q²/g = A³/T, the section's area and top width scaled by its ``open_fraction``;
    the full depth when no depth below 0.999·d is critical."""
    if q == 0.0:
        return 0.0
    if open_fraction <= 0.0:
        return d
    v = math.sqrt(abs(q) / (open_fraction * math.sqrt(G * d ** 5)))
    if v >= CRITICAL_U_MAX:
        return d
    return d * _lookup(v, CRITICAL_U_MAX, CRITICAL_TABLE)


def manning_full_capacity(diameter, roughness, slope, open_fraction=1.0):
    """Full-pipe capacity Qfull = (1/n)·A·R^(2/3)·S^(1/2) (m3/s), A = π d²/4, R = d/4,
    times the open fraction of the section; flat or adverse pipes use MIN_CAPACITY_SLOPE."""
    s = np.maximum(np.abs(slope), MIN_CAPACITY_SLOPE)
    area = 0.25 * np.pi * diameter**2
    return open_fraction * area * (0.25 * diameter) ** (2.0 / 3.0) * np.sqrt(s) / roughness


# --- the network, built once per world --------------------------------------------
@dataclass(frozen=True)
class Network:
    """Topology and geometry of one drainage network as flat arrays.

    Nodes are numbered manholes first (0..M-1), then outfalls (M..M+O-1). ``*_row`` map
    nodes and pipes to rows of the domain table. Each manhole lists the pipe ends that
    meet it (CSR: ``end_ptr``, ``end_pipe``, ``end_offset`` = height of the pipe's invert
    at that end above the manhole's invert).
    """

    manhole_row: np.ndarray
    outfall_row: np.ndarray
    pipe_row: np.ndarray
    node_invert: np.ndarray
    max_depth: np.ndarray
    shaft_area: np.ndarray
    ponding_area: np.ndarray
    tailwater: np.ndarray
    crown: np.ndarray
    pipe_up: np.ndarray
    pipe_down: np.ndarray
    invert_up: np.ndarray
    invert_down: np.ndarray
    length: np.ndarray
    diameter: np.ndarray
    roughness: np.ndarray
    slope: np.ndarray
    end_ptr: np.ndarray
    end_pipe: np.ndarray
    end_offset: np.ndarray
    #: water held at each manhole filled to its rim (m3)
    full_volume: np.ndarray
    #: the largest stable router step (s), from the network's stiffest pipe
    stable_dt: float


def build_network(table, links: dict[str, tuple[str, ...]]) -> Network:
    """Flatten the domain table and the pipes' ``links`` ([upstream, downstream]) into a
    :class:`Network`. Errors name the pipe and what would be valid."""
    kinds = table.kind_names
    kind = table.kind
    manholes = np.flatnonzero(kind == kinds.index("manhole"))
    outfalls = np.flatnonzero(kind == kinds.index("outfall"))
    pipes = np.flatnonzero(kind == kinds.index("pipe"))
    node_of = {int(r): k for k, r in enumerate(manholes)}
    node_of.update({int(r): len(manholes) + k for k, r in enumerate(outfalls)})
    outfall_rows = set(outfalls.tolist())
    up = np.empty(len(pipes), dtype=np.int64)
    down = np.empty(len(pipes), dtype=np.int64)
    for p, row in enumerate(pipes):
        pipe_id = table.ids[row]
        ends = links.get(pipe_id, ())
        if len(ends) != 2:
            raise ValueError(f"drainage pipe {pipe_id!r}: links must be [upstream node, downstream node]; got {list(ends)}")
        rows = []
        for end in ends:
            r = table.index.get(end)
            if r is None or int(r) not in node_of:
                raise ValueError(f"drainage pipe {pipe_id!r}: link {end!r} is not a manhole or outfall of the drainage domain")
            rows.append(int(r))
        if rows[0] in outfall_rows:
            raise ValueError(f"drainage pipe {pipe_id!r}: its upstream node {ends[0]!r} is an outfall; an outfall can only be a pipe's downstream end")
        up[p], down[p] = node_of[rows[0]], node_of[rows[1]]

    node_rows = np.concatenate([manholes, outfalls])
    invert = table["invert_elevation"][node_rows].astype(np.float64)
    diameter = table["diameter"][pipes].astype(np.float64)
    length = table["length"][pipes].astype(np.float64)
    invert_up = invert[up] + table["inlet_offset"][pipes]
    invert_down = invert[down] + table["outlet_offset"][pipes]
    for name, values in (("diameter", diameter), ("length", length)):
        bad = np.flatnonzero(values <= 0.0)
        if len(bad):
            raise ValueError(f"drainage pipe {table.ids[pipes[bad[0]]]!r}: {name} must be > 0 m; got {values[bad[0]]}")
    m = len(manholes)
    rim = table["rim_elevation"][manholes].astype(np.float64)
    max_depth = rim - invert[:m]
    bad = np.flatnonzero(max_depth <= 0.0)
    if len(bad):
        raise ValueError(f"drainage manhole {table.ids[manholes[bad[0]]]!r}: rim_elevation {rim[bad[0]]} m must lie above invert_elevation {invert[bad[0]]} m")

    # Pipe ends meeting each manhole, in CSR form (outfalls hold no storage).
    end_node = np.concatenate([up, down])
    end_pipe = np.concatenate([np.arange(len(pipes)), np.arange(len(pipes))])
    end_z = np.concatenate([invert_up, invert_down])
    keep = end_node < m
    order = np.argsort(end_node[keep], kind="stable")
    end_node, end_pipe, end_z = end_node[keep][order], end_pipe[keep][order], end_z[keep][order]
    end_ptr = np.zeros(m + 1, dtype=np.int64)
    np.add.at(end_ptr, end_node + 1, 1)
    end_ptr = np.cumsum(end_ptr)
    end_offset = end_z - invert[end_node]

    crown = rim.copy()
    if len(end_node):
        top = end_z + diameter[end_pipe]
        crown_by_node = np.full(m, -np.inf)
        np.maximum.at(crown_by_node, end_node, top)
        crown = np.where(np.isfinite(crown_by_node), crown_by_node, rim)

    shaft = table["shaft_area"][manholes].astype(np.float64)
    # Stability: the stiffest mode is a full pipe between two surcharged shafts, an
    # oscillator of ω² = g·A_full/L·(1/S_up + 1/S_down); symplectic Euler needs ω·dt < 2
    # and we keep a factor 2 in hand. Partly full pipes: the CFL bound of Bates et al.
    # (2010) dt < 0.7·L/sqrt(g·d).
    stable_dt = math.inf
    if len(pipes):
        inv_shaft = np.concatenate([1.0 / shaft, np.zeros(len(outfalls))])
        omega2 = G * 0.25 * np.pi * diameter**2 / length * (inv_shaft[up] + inv_shaft[down])
        stable_dt = float(min(np.min(1.0 / np.sqrt(omega2)), np.min(0.7 * length / np.sqrt(G * diameter))))
    return Network(
        manhole_row=manholes, outfall_row=outfalls, pipe_row=pipes, node_invert=invert, max_depth=max_depth,
        shaft_area=shaft, ponding_area=table["ponding_area"][manholes].astype(np.float64),
        tailwater=table["tailwater_elevation"][outfalls].astype(np.float64), crown=crown,
        pipe_up=up, pipe_down=down, invert_up=invert_up, invert_down=invert_down, length=length, diameter=diameter,
        roughness=table["roughness"][pipes].astype(np.float64), slope=(invert_up - invert_down) / length,
        end_ptr=end_ptr, end_pipe=end_pipe, end_offset=end_offset, stable_dt=stable_dt,
        full_volume=full_volume(max_depth, shaft, table["ponding_area"][manholes].astype(np.float64), end_ptr, end_pipe,
                                end_offset, length, diameter),
    )


# --- node storage -------------------------------------------------------------------
@njit(cache=True, nogil=True)
def node_volume(m, depth, max_depth, shaft, pond, end_ptr, end_pipe, end_offset, length, diameter):  # pragma: no cover
    """Water stored at manhole ``m`` at ``depth`` (m above its invert), m3: the shaft up to
    the rim, half of each pipe meeting it (filled to the node's level at that end), and
    the street's ponding area above the rim."""
    v = shaft[m] * min(depth, max_depth[m]) + pond[m] * max(depth - max_depth[m], 0.0)
    for e in range(end_ptr[m], end_ptr[m + 1]):
        p = end_pipe[e]
        y = min(max(depth - end_offset[e], 0.0), diameter[p])
        v += 0.5 * length[p] * circular_area(y, diameter[p])
    return v


@njit(cache=True, nogil=True)
def node_surface(m, depth, max_depth, shaft, pond, end_ptr, end_pipe, end_offset, length, diameter):  # pragma: no cover
    """dV/d(depth) of :func:`node_volume` (m2): the free-surface area at the node."""
    a = shaft[m] if depth < max_depth[m] else pond[m]
    for e in range(end_ptr[m], end_ptr[m + 1]):
        p = end_pipe[e]
        a += 0.5 * length[p] * circular_width(depth - end_offset[e], diameter[p])
    return a


@njit(cache=True, nogil=True)
def node_depth(m, volume, guess, full, max_depth, shaft, pond, end_ptr, end_pipe, end_offset, length, diameter):  # pragma: no cover
    """Depth (m) at which manhole ``m`` stores ``volume`` (m3): the inverse of
    :func:`node_volume`, by Newton's method kept inside a shrinking bracket. ``full``
    is the volume at the rim, ``node_volume(m, max_depth[m], ...)``."""
    if volume <= 0.0:
        return 0.0
    lo = 0.0
    if volume <= full:
        hi = max_depth[m]
    else:
        lo = max_depth[m]
        hi = max_depth[m] + (volume - full) / pond[m]  # the surface is at least the pond above the rim
    d = min(max(guess, lo), hi)
    tol = 1e-13 * max(volume, 1.0)
    for _ in range(100):
        f = node_volume(m, d, max_depth, shaft, pond, end_ptr, end_pipe, end_offset, length, diameter) - volume
        if abs(f) <= tol:
            return d
        if f > 0.0:
            hi = d
        else:
            lo = d
        a = node_surface(m, d, max_depth, shaft, pond, end_ptr, end_pipe, end_offset, length, diameter)
        nxt = d - f / a if a > 0.0 else 0.5 * (lo + hi)
        if not lo < nxt < hi:
            nxt = 0.5 * (lo + hi)
        if hi - lo <= 1e-14 * max(hi, 1.0):
            return nxt
        d = nxt
    return d


# --- the router ---------------------------------------------------------------------
@njit(cache=True, nogil=True)
def route(dt, substeps, runoff, depth, flow, open_fraction,
          max_depth, full_volume, shaft, pond, node_invert, tailwater, end_ptr, end_pipe, end_offset,
          pipe_up, pipe_down, invert_up, invert_down, length, diameter, roughness,
          outflow, flooded, stored, pipe_depth, pipe_area):  # pragma: no cover - compiled
    """Advance the network by ``dt`` seconds in ``substeps`` equal steps (local inertial
    links, node continuity; see the module docstring).

    inputs: ``runoff`` (m3/s per manhole), ``open_fraction`` (1 - blockage, per pipe).
    state, updated in place: ``depth`` (m per manhole), ``flow`` (m3/s per pipe,
    positive downstream). outputs: ``outflow`` (m3 discharged per outfall during
    ``dt``), ``flooded`` (m3 that rose above each rim during ``dt``), ``stored`` (m3
    held in the network at each manhole, the pond excluded), ``pipe_depth`` (m, mean of
    the two end depths per pipe) and ``pipe_area`` (m2, its open flow area).
    """
    m_count = depth.shape[0]
    o_count = tailwater.shape[0]
    p_count = flow.shape[0]
    h = np.empty(m_count + o_count)
    volume = np.empty(m_count)
    leaving = np.empty(m_count)
    tau = dt / substeps
    outflow[:] = 0.0
    flooded[:] = 0.0
    for m in range(m_count):  # sensors may have set the depth: start from it
        volume[m] = node_volume(m, depth[m], max_depth, shaft, pond, end_ptr, end_pipe, end_offset, length, diameter)
    for _ in range(substeps):
        for m in range(m_count):
            h[m] = node_invert[m] + depth[m]
            leaving[m] = 0.0
        for o in range(o_count):
            h[m_count + o] = tailwater[o]
        # Link momentum.
        for p in range(p_count):
            d = diameter[p]
            up, down = pipe_up[p], pipe_down[p]
            hu = h[up]
            hd = h[down]
            q = flow[p]
            # An end that drops into its node (an offset above the node's invert, or an
            # outfall) flows at its normal or critical depth when the node's water lies
            # below that: SWMM's DN_CRITICAL / UP_CRITICAL flow classes (dwflow.c,
            # getFlowClass) and its NORMAL outfall (the normal depth, or the smaller of
            # normal and critical depth over an offset).
            if q >= 0.0:
                outfall = down >= m_count
                if outfall or invert_down[p] > node_invert[down]:
                    y_end = normal_depth(q, d, roughness[p], (invert_up[p] - invert_down[p]) / length[p], open_fraction[p])
                    if not outfall or invert_down[p] > node_invert[down] or h[down] > node_invert[down]:
                        y_end = min(y_end, critical_depth(q, d, open_fraction[p]))
                    hd = max(hd, invert_down[p] + y_end)
            elif invert_up[p] > node_invert[up]:
                y_end = min(normal_depth(q, d, roughness[p], (invert_down[p] - invert_up[p]) / length[p], open_fraction[p]),
                            critical_depth(q, d, open_fraction[p]))
                hu = max(hu, invert_up[p] + y_end)
            yu = min(max(hu - invert_up[p], 0.0), d)
            yd = min(max(hd - invert_down[p], 0.0), d)
            y = 0.5 * (yu + yd)
            pipe_depth[p] = y
            area = open_fraction[p] * circular_area(y, d)
            pipe_area[p] = area
            if area <= DRY_AREA:
                flow[p] = 0.0
                continue
            r = circular_radius(y, d)
            friction = G * roughness[p] ** 2 * abs(q) * tau / (area * r ** (4.0 / 3.0))
            flow[p] = (q + G * area * tau * (hu - hd) / length[p]) / (1.0 + friction)
            # SWMM's normal flow limitation (NORMAL_FLOW_LIMITED = BOTH): when the flow at
            # the inlet is supercritical, or the water surface is flatter than the bed, a
            # pipe carries no more than Manning's normal flow at its upstream depth. It
            # keeps steep pipes from oscillating; uniform flow is left exactly as it is.
            fall = invert_up[p] - invert_down[p]
            if flow[p] > 0.0 and fall > 0.0 and yu < d:
                a_up = open_fraction[p] * circular_area(yu, d)
                if a_up > DRY_AREA:
                    top = circular_width(yu, d)
                    froude = flow[p] / a_up / math.sqrt(G * a_up / top) if top > 0.0 else 0.0
                    if froude >= 1.0 or hu - hd < fall:
                        normal = a_up * circular_radius(yu, d) ** (2.0 / 3.0) * math.sqrt(fall / length[p]) / roughness[p]
                        if flow[p] > normal:
                            flow[p] = normal
            if flow[p] > 0.0:
                leaving[pipe_up[p]] += flow[p]
            elif pipe_down[p] < m_count:
                leaving[pipe_down[p]] -= flow[p]
        # A node cannot give more than it holds: scale its outflows down if needed.
        for m in range(m_count):
            demand = leaving[m] * tau
            available = volume[m] + runoff[m] * tau
            leaving[m] = available / demand if demand > available else 1.0
        for p in range(p_count):
            if flow[p] > 0.0:
                flow[p] *= leaving[pipe_up[p]]
            elif pipe_down[p] < m_count:
                flow[p] *= leaving[pipe_down[p]]
        # Node continuity.
        for m in range(m_count):
            volume[m] += runoff[m] * tau
        for p in range(p_count):
            q = flow[p] * tau
            volume[pipe_up[p]] -= q
            if pipe_down[p] < m_count:
                volume[pipe_down[p]] += q
            else:
                outflow[pipe_down[p] - m_count] += q
        for m in range(m_count):
            above_before = max(depth[m] - max_depth[m], 0.0)
            depth[m] = node_depth(m, volume[m], depth[m], full_volume[m], max_depth, shaft, pond, end_ptr, end_pipe,
                                  end_offset, length, diameter)
            rise = max(depth[m] - max_depth[m], 0.0) - above_before
            if rise > 0.0:
                flooded[m] += rise * pond[m]
    for m in range(m_count):
        stored[m] = volume[m] - pond[m] * max(depth[m] - max_depth[m], 0.0)


# --- the risk kernel ----------------------------------------------------------------
@njit(cache=True, nogil=True)
def node_flood_risk(depth, invert_elevation, rim_elevation, crown_elevation,
                    freeboard_yellow, freeboard_orange, ponding_red, ponding_max, risk):  # pragma: no cover
    """Risk in [0, 1] that a manhole surcharges, floods and ponds the street.

    The indicator is the water level (head = invert + depth, m above datum) and its
    breakpoints are the node's own elevations (MODELS.md *default* drainage levels):
    normal at the invert, blue IV at the crown of its highest pipe (surcharge), yellow
    III ``freeboard_yellow`` m below the rim, orange II ``freeboard_orange`` m below the
    rim (and so whenever it floods), red I at ``ponding_red`` m of water on the street,
    1 at ``ponding_max``. Breakpoints that would cross (a shallow manhole whose crown is
    near its rim) are pushed up by a millimetre each, so a surcharge there is already
    yellow. inputs: depth, invert_elevation, rim_elevation, crown_elevation (m).
    outputs: risk (1). Rows with no rim above the invert (pipes, outfalls) get 0.
    """
    bp = np.empty(6)
    step = 1e-3
    for i in range(depth.shape[0]):
        invert = invert_elevation[i]
        rim = rim_elevation[i]
        if not rim > invert:
            risk[i] = 0.0
            continue
        bp[0] = invert
        bp[1] = max(crown_elevation[i], bp[0] + step)
        bp[2] = max(rim - freeboard_yellow, bp[1] + step)
        bp[3] = max(rim - freeboard_orange, bp[2] + step)
        bp[4] = max(rim + ponding_red, bp[3] + step)
        bp[5] = max(rim + ponding_max, bp[4] + step)
        risk[i] = piecewise_risk(invert + depth[i], bp)


# --- the updater ----------------------------------------------------------------------
@dataclass(frozen=True)
class RainGauges:
    """Which manholes carry a rain gauge, and the nearest gauge of every manhole.

    Rain over a subcatchment is the reading of its nearest gauge (Thiessen polygons, as
    SWMM assigns a rain gauge to each subcatchment). With no gauge in the scene each
    manhole keeps the intensity in its own row.
    """

    gauge_row: np.ndarray
    nearest_gauge_row: np.ndarray


def find_rain_gauges(world, domain: str, net: Network) -> RainGauges:
    table = world.tables[domain]
    rows = sorted({table.index[s.asset] for s in world.scene.sensors
                   if s.field == "rain_intensity" and s.asset in table.index})
    manhole_rows = set(net.manhole_row.tolist())
    gauge_row = np.array([r for r in rows if r in manhole_rows], dtype=np.int64)
    if not len(gauge_row):
        return RainGauges(gauge_row, net.manhole_row)
    assets = world.scene.assets[domain]
    xy = np.array([assets[r].geometry["coordinates"][:2] for r in net.manhole_row], dtype=np.float64)
    g = np.array([assets[r].geometry["coordinates"][:2] for r in gauge_row], dtype=np.float64)
    nearest = np.empty(len(net.manhole_row), dtype=np.int64)
    for start in range(0, len(xy), 4096):  # bounded memory in big cities
        d2 = ((xy[start:start + 4096, None, :] - g[None, :, :]) ** 2).sum(axis=2)
        nearest[start:start + 4096] = gauge_row[np.argmin(d2, axis=1)]
    return RainGauges(gauge_row, nearest)


def step_drainage(ctx):
    """One tick of the network: rain -> rational runoff -> local-inertial routing.

    Reads the attributes, ``rain_intensity``, ``rain_remaining``, ``blockage`` and the
    state ``depth`` (manholes) and ``flow`` (pipes), which sensors may have overwritten;
    writes every live field of the network (see plugin.py)."""
    t = ctx.table
    world = ctx.world
    net = world.memo(("drainage", "network", ctx.domain), lambda: build_network(
        t, {a.id: a.links for a in world.scene.assets.get(ctx.domain, [])}))
    gauges = world.memo(("drainage", "gauges", ctx.domain), lambda: find_rain_gauges(world, ctx.domain, net))
    mh, pipes, outfalls = net.manhole_row, net.pipe_row, net.outfall_row
    dt = ctx.dt

    intensity = t["rain_intensity"]
    if len(gauges.gauge_row):
        intensity[mh] = intensity[gauges.nearest_gauge_row]
    runoff = t["runoff_coefficient"][mh] * (intensity[mh] * MM_PER_HOUR) * (t["catchment_area"][mh] * HECTARE)
    t["inflow"][mh] = runoff

    depth = np.maximum(t["depth"][mh].astype(np.float64), 0.0)
    flow = t["flow"][pipes].astype(np.float64)
    open_fraction = 1.0 - np.clip(t["blockage"][pipes].astype(np.float64), 0.0, 1.0)
    outflow = np.zeros(len(outfalls))
    flooded = np.zeros(len(mh))
    pipe_depth = np.zeros(len(pipes))
    area = np.zeros(len(pipes))
    stored = np.zeros(len(mh))
    substeps = max(1, math.ceil(dt / net.stable_dt - 1e-9)) if len(pipes) else 1
    route(dt, substeps, runoff, depth, flow, open_fraction,
          net.max_depth, net.full_volume, net.shaft_area, net.ponding_area, net.node_invert, net.tailwater,
          net.end_ptr, net.end_pipe, net.end_offset, net.pipe_up, net.pipe_down, net.invert_up, net.invert_down,
          net.length, net.diameter, net.roughness, outflow, flooded, stored, pipe_depth, area)

    head = net.node_invert[: len(mh)] + depth
    t["depth"][mh] = depth
    t["head"][mh] = head
    t["crown_elevation"][mh] = net.crown
    t["surcharged"][mh] = head > net.crown
    t["ponded_depth"][mh] = np.maximum(depth - net.max_depth, 0.0)
    t["flooding"][mh] = flooded / dt
    t["volume"][mh] = stored

    t["flow"][pipes] = flow
    t["fill"][pipes] = pipe_depth / net.diameter
    t["velocity"][pipes] = np.divide(flow, area, out=np.zeros_like(flow), where=area > DRY_AREA)
    t["capacity"][pipes] = manning_full_capacity(net.diameter, net.roughness, net.slope, open_fraction)

    t["discharge"][outfalls] = outflow / dt
    t["discharged_volume"][outfalls] += outflow
    # The outfall's water level: the tailwater, or the normal depth of its last pipe.
    into = net.pipe_down >= len(mh)
    outfall_head = net.tailwater.copy()
    np.maximum.at(outfall_head, net.pipe_down[into] - len(mh), net.invert_down[into] + pipe_depth[into])
    t["head"][outfalls] = outfall_head
    t["depth"][outfalls] = np.maximum(outfall_head - net.node_invert[len(mh):], 0.0)

    # Scripted rain (drainage.rain) runs down its clock after it fell this tick.
    remaining = t["rain_remaining"]
    raining = np.flatnonzero(remaining > 0.0)
    if len(raining):
        remaining[raining] = np.maximum(remaining[raining] - dt, 0.0)
        stopped = raining[remaining[raining] <= 0.0]
        intensity[stopped] = 0.0


@njit(cache=True, nogil=True)
def _full_volume(max_depth, shaft, pond, end_ptr, end_pipe, end_offset, length, diameter, out):  # pragma: no cover
    for m in range(max_depth.shape[0]):
        out[m] = node_volume(m, max_depth[m], max_depth, shaft, pond, end_ptr, end_pipe, end_offset, length, diameter)


def full_volume(max_depth, shaft, pond, end_ptr, end_pipe, end_offset, length, diameter) -> np.ndarray:
    """Water each manhole holds when filled to its rim (m3)."""
    out = np.empty(len(max_depth))
    _full_volume(max_depth, shaft, pond, end_ptr, end_pipe, end_offset, length, diameter, out)
    return out


# --- couplings -----------------------------------------------------------------------
def _openings(world, domain):
    """(tunnel row, manhole row) of every tunnel space that links a manhole of ours (an
    entrance, vent or hatch opening onto the street beside it)."""
    tunnel, table = world.tables["tunnel"], world.tables[domain]
    manhole = table.kind_names.index("manhole")
    spaces, nodes = [], []
    for asset in world.scene.assets.get("tunnel", []):
        for link in asset.links:
            row = table.index.get(link)
            if row is not None and table.kind[row] == manhole:
                spaces.append(tunnel.index[asset.id])
                nodes.append(int(row))
                break
    return np.asarray(spaces, dtype=np.int64), np.asarray(nodes, dtype=np.int64)


def step_openings(ctx):
    """Coupling tunnel -> drainage (the other half of MODELS.md coupling 3): the street
    water that pours into a station or tunnel over its opening's sill (the tunnel's
    ``flood_inflow``, m3/s) leaves the ponding at the manhole the opening links, so water
    is conserved across the two domains. Above the rim the node's surface is its ponding
    area, so the depth falls by Q dt / A_pond, never below the rim (the weir flows only
    while the ponding tops its sill)."""
    t = ctx.table
    spaces, nodes = ctx.world.memo(("drainage", "openings", ctx.domain), lambda: _openings(ctx.world, ctx.domain))
    if not len(spaces):
        return
    inflow = ctx.tables["tunnel"]["flood_inflow"][spaces]
    if not inflow.any():
        return
    taken = np.zeros(len(t))
    np.add.at(taken, nodes, inflow * ctx.dt)
    rows = np.unique(nodes)
    rim = t["rim_elevation"][rows] - t["invert_elevation"][rows]
    depth = t["depth"][rows]
    depth = np.where(depth > rim, np.maximum(depth - taken[rows] / t["ponding_area"][rows], rim), depth)
    t["depth"][rows] = depth
    t["head"][rows] = t["invert_elevation"][rows] + depth
    t["ponded_depth"][rows] = np.maximum(depth - rim, 0.0)


# --- rain totals and the rainstorm warning ------------------------------------------
RAIN_WINDOWS = (("rain_1h", 3600.0), ("rain_3h", 3 * 3600.0), ("rain_6h", 6 * 3600.0), ("rain_12h", 12 * 3600.0))
MARK_EVERY = 60.0  # s between marks of the cumulative rain


class RainHistory:
    """Cumulative rain (mm) at each rain gauge, marked every minute over the last 12 h.

    A rolling total over a window W is the cumulative rain now minus its value W ago,
    interpolated between the minute marks (exact for rain that is steady within each
    minute at the window's start; the last minute is always exact)."""

    def __init__(self, gauge_row: np.ndarray, start: float) -> None:
        self.gauge_row = gauge_row
        self.total = np.zeros(len(gauge_row))
        self.times = np.array([start])
        self.marks = np.zeros((1, len(gauge_row)))
        self.next_mark = start + MARK_EVERY
        self.keep = int(RAIN_WINDOWS[-1][1] / MARK_EVERY) + 2

    def add(self, intensity: np.ndarray, now: float, dt: float) -> None:
        self.total += intensity * dt / 3600.0
        if now >= self.next_mark - 1e-9:
            self.times = np.append(self.times, now)[-self.keep:]
            self.marks = np.vstack([self.marks, self.total])[-self.keep:]
            self.next_mark = now + MARK_EVERY

    def since(self, now: float, window: float) -> np.ndarray:
        """Rain (mm) at each gauge in the ``window`` seconds up to ``now``."""
        t0 = now - window
        if t0 <= self.times[0]:
            return self.total - self.marks[0]
        k = int(np.searchsorted(self.times, t0, side="right")) - 1
        if k >= len(self.times) - 1:
            before = self.marks[-1] + (self.total - self.marks[-1]) * (t0 - self.times[-1]) / max(now - self.times[-1], 1e-12)
        else:
            w = (t0 - self.times[k]) / (self.times[k + 1] - self.times[k])
            before = (1.0 - w) * self.marks[k] + w * self.marks[k + 1]
        return self.total - before


def step_rain_totals(ctx):
    """Rolling rain totals over 1, 3, 6 and 12 h (mm) at each rain gauge (a manhole with
    a ``rain_intensity`` sensor), the inputs of the CMA rainstorm warning. Manholes
    without a gauge keep 0: a warning belongs to a gauge, not to every manhole."""
    t = ctx.table
    world = ctx.world
    net = world.memo(("drainage", "network", ctx.domain), lambda: build_network(
        t, {a.id: a.links for a in world.scene.assets.get(ctx.domain, [])}))
    gauges = world.memo(("drainage", "gauges", ctx.domain), lambda: find_rain_gauges(world, ctx.domain, net))
    if not len(gauges.gauge_row):
        return
    history = world.memo(("drainage", "rain_history", ctx.domain), lambda: RainHistory(gauges.gauge_row, ctx.time - ctx.dt))
    history.add(t["rain_intensity"][gauges.gauge_row], ctx.time, ctx.dt)
    for name, window in RAIN_WINDOWS:
        t[name][gauges.gauge_row] = np.maximum(history.since(ctx.time, window), 0.0)


@njit(cache=True, nogil=True)
def rainstorm_risk(rain_3h, rain_6h, rain_12h, blue_12h, yellow_6h, orange_3h, red_3h, rain_risk):  # pragma: no cover
    """Risk in [0, 1] of the CMA rainstorm warning signals (Order No. 16, 2007): blue at
    ``blue_12h`` mm in 12 h, yellow ``yellow_6h`` mm in 6 h, orange ``orange_3h`` mm in
    3 h, red ``red_3h`` mm in 3 h.

    The indicator is a warning stage x: the level reached (0-4) plus the progress
    towards the next level's criterion (below 1 until it is met; above red, the excess
    over ``red_3h`` up to twice it). It goes through piecewise_risk with breakpoints
    0..5, so each criterion met is exactly the start of its level. inputs: rain_3h,
    rain_6h, rain_12h (mm). outputs: rain_risk (1).
    """
    bp = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    for i in range(rain_3h.shape[0]):
        r3, r6, r12 = rain_3h[i], rain_6h[i], rain_12h[i]
        if r3 >= red_3h:
            x = 4.0 + min(r3 / red_3h - 1.0, 1.0)
        elif r3 >= orange_3h:
            x = 3.0 + r3 / red_3h
        elif r6 >= yellow_6h:
            x = 2.0 + r3 / orange_3h
        elif r12 >= blue_12h:
            x = 1.0 + r6 / yellow_6h
        else:
            x = r12 / blue_12h
        rain_risk[i] = piecewise_risk(x, bp)
