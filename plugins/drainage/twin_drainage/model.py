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
  than the bed: no more than Manning's normal flow at the upstream depth). The
  section (A, R) is taken at the mean of the two end depths, each capped at the crown.
- A network whose SWMM file asks for ``INERTIAL_DAMPING NONE`` gets SWMM 5.2's own link
  momentum (dwflow.c, dwflow_findConduitFlow): the Froude number at mid depth (0 within
  FUDGE of the crown) gives σ = 1 below 0.5, 2·(1 - Fr) to 0 at 1; a part-full conduit
  flowing downhill takes A and R weighted towards its inlet's, A_w = A_1 + (A_mid - A_1)·σ
  (R likewise; friction keeps v = Q/A_mid), and the convective terms
  2·v·(A_mid - A_old) + τ·v²·(A_2 - A_1)/L join the numerator, except in a full conduit:

      Q_new = (Q + g·A_w·τ·(H_up - H_down)/L + 2·v·(A_mid - A_old) + τ·v²·(A_2 - A_1)/L)
              / (1 + g·n²·|v|·τ/R_w^(4/3))

  SWMM's default PARTIAL damping keeps the centred local inertial link above, with two
  of SWMM's rules: the mid depth is the mean of the end depths not capped at the crown
  (SWMM's SLOT surcharge), then capped at it, so a pipe out of a surcharged node is full
  at mid depth once the node stands as far above the crown as the outlet lies below it
  (SWMM's Froude number 0 there); and a part-full pipe flowing downhill supercritical
  at mid depth (Fr >= 1, SWMM's σ = 0) takes its inlet's A and R (friction keeps
  v = Q/A_mid); an open section (a street or channel) is weighted as SWMM weights it
  from Fr 0.5, A_w = A_1 + (A_mid - A_1)·σ, R likewise, convective terms still
  dropped. Without that weighting the supercritical trunks of a generated city
  surge (peak flows up to 20 % over SWMM's, test_drainage_city_scale). SWMM's
  weighting and σ-damped convective terms between Fr 0.5 and 1 as well, even iterated
  as SWMM does (dynwave.c), left test_drainage_swmm's surcharged branched network's
  manholes up to 0.2 m too high: the dropped terms are the one departure (the
  measurements are in test_drainage_city_scale's docstring). FULL keeps the centred
  link alone.
- Pipe ends: a pipe's depth at each end is its node's water level above the pipe's
  invert there, except at an end that drops into its node (the pipe's invert above
  the node's) while the node's water lies below the flow's normal or critical depth:
  that end flows at the smaller of the two, as water falling freely into a manhole
  does (the DN_CRITICAL and UP_CRITICAL flow classes of SWMM 5's dynamic wave
  solver, dwflow.c getFlowClass). Taking the node's low level there instead halves the
  pipe's mean depth and nearly doubles the depth upstream of every drop. A pipe with
  one end dry (its node's water at or below the pipe's invert there) and the other
  end's head below that invert carries nothing (SWMM's UP_DRY and DN_DRY classes).
- Nodes: continuity dV/dt = runoff + Σ inflows - Σ outflows on each manhole's storage,
  which is its shaft, half the length of every pipe that meets it, and, above the rim,
  a ponding area on the street (SWMM's "ponded area"). The storage is piecewise linear
  in depth (a half pipe's area from a 129-entry table of the circle), so the depth
  that holds a volume is found exactly, and the router conserves mass to round-off:
  rain in = discharge at the outfalls + water in the network + water ponded. A pipe
  whose end is level with its node's invert and below its crown lends the node, beyond
  the half pipe at the node's level (w_end·L/2 of surface), SWMM's surface
  (w_end + w_mid)·L/4 (dwflow.c findSurfArea), w_mid the width at the pipe's mid depth,
  when that is more: the depth follows the volume on that larger surface, and the water
  held beyond the storage (at most L/4·(A_mid - A_end) per pipe) is kept with the
  volume, so mass is still conserved to round-off.
- Storage units with a TABULAR curve (SWMM's [STORAGE] and [CURVES]) hold the curve's
  own integral in place of a shaft: the area linear in the depth between the curve's
  points, extrapolated along its last segment (SWMM's table_getStorageVolume), kept at
  STORE_CURVE_STEPS points per segment with the chord between them (within ΔA·Δy/8),
  so the depth that holds a volume is still found exactly.
- Culverts (a culvert code in [XSECTIONS]): a conduit flowing part full passes no more
  than its inlet control lets through at the headwater, FHWA HDS-5's equations
  (twin_drainage.culvert), and takes no normal flow limitation (dwflow.c,
  culvert.c culvert_getInflow).
- Surcharge: a network whose SWMM file leaves ``SURCHARGE_METHOD`` at SWMM's EXTRAN
  (SWMM's default; a scene without a SWMM file keeps the scheme above, which agrees
  with SWMM's SLOT) gets SWMM's EXTRAN surcharge (dynwave.c setNodeDepth): a junction
  above the crown of its highest link (pipes, weirs and orifices) keeps no storage of
  its own; its head moves by corr·dQ/Σ(dQ/dh) of its links, blended just above the
  crown from the surface it had there, iterated as SWMM's trials are (dynwave.c
  dynwave_execute: 8 at most, 0.005 ft, at least three here): its links' flows
  linearised in the heads and under-relaxed between trials by SWMM's OMEGA 0.5
  (dwflow.c), so a junction that leaps to its rim stays high a step or two, as SWMM's
  does; the links then carry those flows. The sub-step is then the file's ROUTING_STEP
  where that lies within the factor 2 the stable step keeps in hand (router_step):
  Σ(dQ/dh) grows with the step, and so do the surges. Where the sub-step is shorter,
  the correction is still taken over SWMM's step (Σ(dQ/dh) scaled by Δt_SWMM/τ, the
  surface's term area/Δt_SWMM), so the head moves at SWMM's pace over several
  sub-steps: over the sub-step, test_inlet_drains.inp's J2a leapt to its rim, 0.18 m
  above SWMM's 1.040 m. Within those trials a link with a dry end takes no flow class
  of its own (below): SWMM classifies it again each trial, which linearised trials
  cannot, and held nil it lost model_weir_setting.inp's backflow into the dry J5. Its volume is its storage at that head (SWMM's node_getVolume:
  what a step brings beyond it is not kept, SWMM's own continuity error under EXTRAN),
  and a junction at its rim floods its net inflow. Pipes lend their nodes SWMM's
  surface with its crown cutoff (a closed conduit's width above 0.96·d is the width
  there), full ends included, so a storage unit above its pipes' crowns rises on its
  own area plus theirs, as SWMM's does. Kept as a shaft between the full pipes'
  water columns instead, a surcharged junction rang: SWMMExtCntrlModel.inp's J7 stood
  1.0 m above SWMM's at the file's 30 s ticks (0.96 m at 1 s), and the storage unit of
  model_full_features_network_xy.inp rose 12 % too fast on its 1000 ft², flooding its
  inflow junction 11 % more than SWMM. Left: the generated city exported with EXTRAN
  (767 manholes) has clusters of surcharged junctions whose links out are nearly dry;
  with no storage they take a few L/s as a rise of a metre for a step (one junction
  0.67 m above SWMM's peak at 1 s ticks, 0.16 m at 10 s, where SWMM's own EXTRAN spikes
  elsewhere); a shaft under them stops it but loses model_pump_setting.inp's rise to
  the rim (1.03 m low), so it is not taken.
- Geometry: area, A·R^(4/3), A·R^(2/3), normal and critical depth of the circle come
  from dimensionless tables, as SWMM's come from its section tables; a square root and
  a few table reads instead of the arccos, sine and powers of the closed forms.
- Sections: a conduit of another SWMM shape, or of several identical barrels, has its
  own table of the same quantities in units of its height d (twin_drainage.sections
  dynamic_section: A(y), R(y) and T(y) as SWMM 5.2's xsect.c gives them, the rounded
  shapes from xsect.dat's tables, CUSTOM from its shape curve as shape.c tabulates it;
  n barrels carry n times the area, width and conveyance at the same hydraulic radius,
  as SWMM's link code multiplies one barrel's flow, volume and surface), so every
  formula above, the node storage and the surface a pipe lends its node read the
  shape's table where the circle reads its own; the circle stays the fast path.
- Street inlets (SWMM 5.2's [INLETS] and [INLET_USAGE], twin_drainage.inlets): each
  tick, from the street conduits' flows and their downstream (bypass) nodes' depths at
  its start, the flow each inlet captures by HEC-22's equations leaves the bypass node
  and enters the inlet's sewer node, and that node's overflow of the last tick comes
  back to the street (inlet.c inlet_findCapturedFlows, which SWMM runs each routing
  step), as lateral flows added to the runoff (:class:`InletSetup`).
- Outfalls: SWMM's NORMAL outfall (the last pipe ends at the normal depth of its
  flow, or at the smaller of normal and critical depth when it drops to the outfall's
  invert), under a fixed tailwater (the river's stage) when that is higher.

Units: metres, seconds, m³/s; rain in mm/h; subcatchment areas in hectares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numba import njit, types
from numba.extending import overload

from twin import piecewise_risk
# Numba's cache keys this package's kernels on all its files (_numba_cache): route and
# kinwave_tick carry kinwave.py's, regulators.py's and sections.py's code in their entries
from twin_drainage import _numba_cache  # noqa: F401 - before any kernel: the package-wide cache key
from twin_drainage.culvert import culvert_flow
from twin_drainage.kinwave import route_kinwave
from twin_drainage.regulators import REG_PUMP, RI_DOWN, RI_GATED, RI_KIND, RI_UP, regulator_flow, regulator_gain
from twin_drainage.sections import (INV_STEPS, SA, SEC_COLUMNS, SEC_STEPS, SK23, SK43, SO, SR, SR43, ST, sec_at, sec_cell,
                                     sec_inverse, sec_value)

#: the largest τ·dQ/dh/A a step gives a regulator on its smaller node (route() takes
#: its flow implicit in the heads, linearised; build_network)
REG_GAIN_STEPS = 2.0

G = 9.80665  # m/s2
MM_PER_HOUR = 1.0 / 3.6e6  # m/s per mm/h
HECTARE = 1.0e4  # m2
#: the wet-dry threshold of a pipe's flow area, m2 (a film of water carries no flow)
DRY_AREA = 1.0e-8
#: the slope used for the full-flow capacity of a flat or adverse pipe (m/m)
MIN_CAPACITY_SLOPE = 1.0e-4
#: the smallest drop SWMM gives a conduit, m (MIN_DELTA_Z, 0.001 ft)
MIN_DELTA_Z = 0.001 * 0.3048
#: SWMM's FUDGE, m (0.0001 ft): a closed conduit this close to its crown has Froude number 0
FUDGE = 0.0001 * 0.3048
#: SWMM's largest flow out of a dry node, m3/s (dwflow.c: FUDGE, 0.0001 cfs)
DRY_FLOW = 0.0001 * 0.028316846592
#: SWMM's largest velocity in the momentum equation, m/s (dwflow.c MAXVELOCITY, 50 ft/s)
MAX_VELOCITY = 50.0 * 0.3048
#: [OPTIONS] INERTIAL_DAMPING (route's ``damping``): NONE keeps the inertial terms
#: (dwflow.c), PARTIAL (SWMM's default) and FULL get the centred local inertial link
DAMPING_NONE, DAMPING_PARTIAL, DAMPING_FULL = 0, 1, 2
DAMPING = {"NONE": DAMPING_NONE, "PARTIAL": DAMPING_PARTIAL, "FULL": DAMPING_FULL}
#: [OPTIONS] SURCHARGE_METHOD (route's ``surcharge``): SLOT keeps a surcharged node's
#: continuity on its storage (the router's own scheme, and a scene without a SWMM file);
#: EXTRAN (SWMM's default) sets a surcharged junction's head from its flows (dynwave.c
#: setNodeDepth) and lets pipes lend their nodes SWMM's surface with its crown cutoff
SURCHARGE_SLOT, SURCHARGE_EXTRAN = 0, 1
SURCHARGE = {"SLOT": SURCHARGE_SLOT, "EXTRAN": SURCHARGE_EXTRAN}
#: SWMM's crown cutoff under EXTRAN (dynwave.c EXTRAN_CROWN_CUTOFF): a closed conduit's top
#: width above this share of its depth is the width there (dwflow.c getWidth)
EXTRAN_CROWN_CUTOFF = 0.96
#: rows of route's ``extran`` (per manhole): the depth of the crown of its highest link,
#: pipes and regulators (inf: never surcharged the EXTRAN way, e.g. a storage unit), and
#: SWMM's correction of the head's change (0.6 at a node no link flows into, else 1)
EX_CROWN, EX_CORR = 0, 1
#: SWMM's MAX_TRIALS and HEAD_TOLERANCE (m) defaults, for the heads of EXTRAN's surcharged junctions
EXTRAN_TRIALS = 8
EXTRAN_HEAD_TOLERANCE = 0.005 * 0.3048
#: SWMM's under-relaxation of a link's flow between trials (dynwave.c OMEGA)
EXTRAN_OMEGA = 0.5


# --- circular section ---------------------------------------------------------------
# The router reads the geometry of a circle from dimensionless tables, as SWMM reads its
# circular sections from tables (xsect.c, 51 entries), here CIRCLE_STEPS equal steps of
# s = sqrt(y/d) below half full and of s = sqrt(1 - y/d) above it. In s the area and the
# conveyances are smooth at both ends (A ~ (y/d)^(3/2) at the invert; the wetted
# perimeter ~ sqrt(1 - y/d) at the crown), so linear interpolation between the entries
# is good to 7e-6 (area), 3e-5 (A·R^(4/3)) and 2e-5 (A·R^(2/3)) relative for 0.05 <
# y/d < 0.95, to 3e-7 above and to 1.5e-3 at 0.001 < y/d < 0.05. A square root and a
# few table reads replace the arccos, sine and fractional powers of the closed forms,
# which took most of the router's time.
CIRCLE_STEPS = 1024
CIRCLE_SCALE = CIRCLE_STEPS / math.sqrt(0.5)
#: a full pipe's A/d², A·R^(4/3)/d^(10/3) and A·R^(2/3)/d^(8/3) (R = d/4)
FULL_AREA = 0.25 * math.pi
FULL_K43 = FULL_AREA * 0.25 ** (4.0 / 3.0)
FULL_K23 = FULL_AREA * 0.25 ** (2.0 / 3.0)
FULL_R43 = 0.25 ** (4.0 / 3.0)


def _circle_tables(steps: int = CIRCLE_STEPS) -> np.ndarray:
    """``[half, k, j]``: A/d² (j = 0), A·R^(4/3)/d^(10/3) (1), A·R^(2/3)/d^(8/3) (2), R/d
    (3) and (R/d)^(4/3) (4) at y/d = s² (half 0) and y/d = 1 - s² (half 1), s =
    k·sqrt(1/2)/steps. From the closed forms A = d²/8·(θ - sin θ), P = d·θ/2, θ =
    2·acos(1 - 2y/d)."""
    s = np.linspace(0.0, math.sqrt(0.5), steps + 1)
    out = np.empty((2, steps + 1, 5))
    for half, x in enumerate((s * s, 1.0 - s * s)):
        theta = 2.0 * np.arccos(np.clip(1.0 - 2.0 * x, -1.0, 1.0))
        area = (theta - np.sin(theta)) / 8.0
        radius = np.divide(area, 0.5 * theta, out=np.zeros_like(x), where=theta > 0.0)
        out[half, :, 0] = area
        out[half, :, 1] = area * radius ** (4.0 / 3.0)
        out[half, :, 2] = area * radius ** (2.0 / 3.0)
        out[half, :, 3] = radius
        out[half, :, 4] = radius ** (4.0 / 3.0)
    out[0, 0] = 0.0
    out[1, 0] = (FULL_AREA, FULL_K43, FULL_K23, 0.25, FULL_R43)
    out[1, steps] = out[0, steps]  # the halves meet at y/d = 1/2
    return out


CIRCLE = _circle_tables()


@njit(cache=True, nogil=True)
def circle_cell(x):  # pragma: no cover - compiled
    """Where y/d = ``x`` (0 <= x <= 1) falls in CIRCLE: (half, k, weight of entry k + 1)."""
    if x <= 0.5:
        at = math.sqrt(max(x, 0.0)) * CIRCLE_SCALE
        half = 0
    else:
        at = math.sqrt(max(1.0 - x, 0.0)) * CIRCLE_SCALE
        half = 1
    k = min(int(at), CIRCLE_STEPS - 1)
    return half, k, at - k


@njit(cache=True, nogil=True)
def circle_value(half, k, w, j):  # pragma: no cover - compiled
    """Entry ``j`` of CIRCLE interpolated at (half, k, w) from :func:`circle_cell`."""
    low = CIRCLE[half, k, j]
    return low + w * (CIRCLE[half, k + 1, j] - low)


@njit(cache=True, nogil=True)
def circular_area(y, d):  # pragma: no cover - compiled
    """Flow area (m2) at depth ``y`` (m) in a circular pipe of diameter ``d`` (m),
    A = d²/8·(θ - sin θ) with θ = 2·acos(1 - 2y/d), read from CIRCLE."""
    x = y / d
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return FULL_AREA * d * d
    half, k, w = circle_cell(x)
    return circle_value(half, k, w, 0) * d * d


@njit(cache=True, nogil=True)
def circular_width(y, d):  # pragma: no cover - compiled
    """Top width (m) of the water surface at depth ``y``: 2·sqrt(y·(d - y)); 0 when dry or full."""
    if y <= 0.0 or y >= d:
        return 0.0
    return 2.0 * math.sqrt(y * (d - y))


@njit(cache=True, nogil=True)
def circle_section(x):  # pragma: no cover - compiled
    """A/d², R/d and (R/d)^(4/3) of a circle filled to y/d = ``x`` (0 <= x <= 1), from CIRCLE."""
    if x >= 1.0:
        return FULL_AREA, 0.25, FULL_R43
    half, k, w = circle_cell(x)
    return circle_value(half, k, w, 0), circle_value(half, k, w, 3), circle_value(half, k, w, 4)


# --- every other section --------------------------------------------------------------
def section_at(sections, i):  # pragma: no cover - compiled through its overload
    """``sections[i]``, or -1 (the circle) when ``sections`` is None."""
    return -1 if sections is None else sections[i]


@overload(section_at, jit_options={"cache": True})
def _section_at(sections, i):  # pragma: no cover - compiled
    # a network of circles passes None: its route is compiled without the sections'
    # branches (they cost 5 % of the 24-block city's tick as loads and tests)
    if isinstance(sections, types.NoneType):
        return lambda sections, i: -1
    return lambda sections, i: sections[i]


# A pipe's section ``s`` (Network.pipe_int[PI_SECTION], an end's end_section) is -1 for the
# router's own circle, else a row of the network's section tables (twin_drainage.sections
# dynamic_section: A/d², A·R^(4/3)/d^(10/3), A·R^(2/3)/d^(8/3), R/d, (R/d)^(4/3), T/d at
# equal steps of y/d, d the section's height, barrels included), so the router's
# formulas, all in units of d, take any shape; the circle keeps its own tables.
@njit(cache=True, nogil=True)
def any_section(s, x, sec_table):  # pragma: no cover - compiled
    """:func:`circle_section` of section ``s`` (-1: the circle) at y/d = ``x``."""
    if s < 0:
        return circle_section(x)
    if x <= 0.0:
        return 0.0, 0.0, 0.0
    if x >= 1.0:
        return sec_table[s, SEC_STEPS, SA], sec_table[s, SEC_STEPS, SR], sec_table[s, SEC_STEPS, SR43]
    k, w = sec_cell(x)
    return sec_value(sec_table, s, k, w, SA), sec_value(sec_table, s, k, w, SR), sec_value(sec_table, s, k, w, SR43)


@njit(cache=True, nogil=True)
def any_width(s, y, d, sec_table):  # pragma: no cover - compiled
    """Top width (m) of section ``s`` (-1: the circle) at depth ``y``; a closed section's is 0 when full."""
    if s < 0:
        return circular_width(y, d)
    return sec_at(sec_table, s, y / d, ST) * d


@njit(cache=True, nogil=True)
def any_area(s, y, d, sec_table):  # pragma: no cover - compiled
    """Flow area (m2) of section ``s`` (-1: the circle) at depth ``y``."""
    if s < 0:
        return circular_area(y, d)
    return sec_at(sec_table, s, y / d, SA) * d * d


# --- normal and critical depth ---------------------------------------------------------
# Both are read from dimensionless tables of the circle too: y/d at equal steps of
# u = sqrt(Φ), Φ the flow made dimensionless (Q·n/(S^(1/2)·d^(8/3)) for the normal
# depth, Q/(g·d^5)^(1/2) for the critical depth), so linear interpolation between 1025
# entries is good to 5e-6·d for 0.05 < y/d < 0.85 (and to 4e-3·d in the last steps below
# the peak of A·R^(2/3), at y/d = 0.938, where the normal depth is ill-conditioned).
SECTION_TABLE_STEPS = 1024


def _section_tables(steps: int = SECTION_TABLE_STEPS) -> tuple[float, np.ndarray, float, np.ndarray]:
    x = np.linspace(0.0, 1.0, 400_001)
    theta = 2.0 * np.arccos(1.0 - 2.0 * x)
    area = (theta - np.sin(theta)) / 8.0
    radius = np.divide(area, 0.5 * theta, out=np.zeros_like(x), where=theta > 0.0)
    width = 2.0 * np.sqrt(x * (1.0 - x))
    factor = area * radius ** (2.0 / 3.0)  # A·R^(2/3) / d^(8/3)
    top = int(np.argmax(factor))
    u = np.sqrt(factor[: top + 1])
    normal = np.interp(np.linspace(0.0, u[-1], steps + 1), u, x[: top + 1])
    keep = x <= 0.999  # sqrt(A³/T) grows without bound at the crown
    froude = np.sqrt(np.divide(area[keep] ** 3, width[keep], out=np.zeros(int(keep.sum())), where=width[keep] > 0.0))
    v = np.sqrt(froude)
    critical = np.interp(np.linspace(0.0, v[-1], steps + 1), v, x[keep])
    return float(u[-1]), normal, float(v[-1]), critical


NORMAL_U_MAX, NORMAL_TABLE, CRITICAL_U_MAX, CRITICAL_TABLE = _section_tables()
NORMAL_SCALE = SECTION_TABLE_STEPS / NORMAL_U_MAX
CRITICAL_SCALE = SECTION_TABLE_STEPS / CRITICAL_U_MAX


@njit(cache=True, nogil=True)
def _section_lookup(table, at):  # pragma: no cover - compiled
    """Linear interpolation in a section table at fractional index ``at``; 1 (full) past
    its end."""
    if at >= SECTION_TABLE_STEPS:
        return 1.0
    k = int(at)
    return table[k] + (at - k) * (table[k + 1] - table[k])


@njit(cache=True, nogil=True)
def normal_ratio(root_phi):  # pragma: no cover - compiled
    """y/d of Manning's normal depth in a circle for sqrt(Φ), Φ = |Q|·n/(S^(1/2)·d^(8/3)):
    1 for a flow beyond the section's largest Manning flow (at y/d = 0.938), as in SWMM."""
    return _section_lookup(NORMAL_TABLE, root_phi * NORMAL_SCALE)


@njit(cache=True, nogil=True)
def critical_ratio(root_phi):  # pragma: no cover - compiled
    """y/d of the critical depth (Q²/g = A³/T) in a circle for sqrt(Φ), Φ = |Q|/(g·d^5)^(1/2):
    1 when no depth below 0.999·d is critical."""
    return _section_lookup(CRITICAL_TABLE, root_phi * CRITICAL_SCALE)


@njit(cache=True, nogil=True)
def any_normal(s, root_phi, sec_inv, sec_scale):  # pragma: no cover - compiled
    """:func:`normal_ratio` of section ``s`` (-1: the circle)."""
    if s < 0:
        return normal_ratio(root_phi)
    return sec_inverse(sec_inv, sec_scale, s, 0, root_phi)


@njit(cache=True, nogil=True)
def any_critical(s, root_phi, sec_inv, sec_scale):  # pragma: no cover - compiled
    """:func:`critical_ratio` of section ``s`` (-1: the circle)."""
    if s < 0:
        return critical_ratio(root_phi)
    return sec_inverse(sec_inv, sec_scale, s, 1, root_phi)


@njit(cache=True, nogil=True)
def normal_depth(q, d, n, slope, open_fraction):  # pragma: no cover - compiled
    """Manning's normal depth (m) of a flow ``q`` (m3/s) in a circular pipe of diameter
    ``d``, roughness ``n`` and bed ``slope``, ``open_fraction`` of its section open:
    (1/n)·A·R^(2/3)·S^(1/2) = |q|. A flow beyond the section's largest Manning flow, or
    any flow on a flat or adverse bed, has the full depth (SWMM's rule)."""
    if q == 0.0:
        return 0.0
    if slope <= 0.0 or open_fraction <= 0.0:
        return d
    return d * normal_ratio(math.sqrt(abs(q) * n / (open_fraction * math.sqrt(slope) * d ** (8.0 / 3.0))))


@njit(cache=True, nogil=True)
def critical_depth(q, d, open_fraction):  # pragma: no cover - compiled
    """Critical depth (m) of a flow ``q`` (m3/s) in a circular pipe of diameter ``d``:
    Q²/g = A³/T, the section's area and top width scaled by its ``open_fraction``."""
    if q == 0.0:
        return 0.0
    if open_fraction <= 0.0:
        return d
    return d * critical_ratio(math.sqrt(abs(q) / (open_fraction * math.sqrt(G * d ** 5))))


def manning_full_capacity(diameter, roughness, slope, open_fraction=1.0):
    """Full-pipe capacity Qfull = (1/n)·A·R^(2/3)·S^(1/2) (m3/s), A = π d²/4, R = d/4,
    times the open fraction of the section; flat or adverse pipes use MIN_CAPACITY_SLOPE."""
    s = np.maximum(np.abs(slope), MIN_CAPACITY_SLOPE)
    area = 0.25 * np.pi * diameter**2
    return open_fraction * area * (0.25 * diameter) ** (2.0 / 3.0) * np.sqrt(s) / roughness


# --- the network, built once per world --------------------------------------------
#: how a pipe's downstream end meets its node (Network.down_end)
END_LEVEL, END_NORMAL, END_FREE = 0, 1, 2

# The network's per-pipe, per-manhole and per-end numbers are rows of a few 2-D arrays,
# so the tick's one numba call takes a few arrays (a call costs ~80 ns per argument):
# Network.pipe_float[PF_DIAMETER] is the pipes' diameters, and so on.
PIPE_FLOATS = (
    "diameter",             # m
    "per_diameter",         # 1/d, 1/m
    "invert_up",            # m, the pipe's invert at its upstream end
    "invert_down",          # m, at its downstream end
    "gravity",              # g·d²/L: the momentum equation's head term per unit of A/d², m3/s² per m
    "friction",             # g·n²/d^(10/3): its friction term per unit of |Q|/(A·R^(4/3)/d^(10/3))
    "conveyance",           # d^(8/3)·|S|^(1/2)/n, m3/s: Manning's flow per unit of A·R^(2/3)/d^(8/3)
    "root_per_conveyance",  # (1/conveyance)^(1/2): sqrt(Q) times this is sqrt(Φ) of the normal depth
    "root_per_critical",    # (g·d^5)^(-1/4): sqrt(Q) times this is sqrt(Φ) of the critical depth
    "capacity",             # m3/s, Manning's full-pipe capacity with the section open
    "length",               # m
    "roughness",            # Manning's n
    "slope",                # m/m, (invert_up - invert_down)/length
)
(PF_DIAMETER, PF_PER_DIAMETER, PF_INVERT_UP, PF_INVERT_DOWN, PF_GRAVITY, PF_FRICTION, PF_CONVEYANCE,
 PF_ROOT_PER_CONVEYANCE, PF_ROOT_PER_CRITICAL, PF_CAPACITY, PF_LENGTH, PF_ROUGHNESS, PF_SLOPE) = range(len(PIPE_FLOATS))
#: per pipe: its upstream and downstream node; its downstream end (END_*); an inlet offset (0/1);
#: its section (-1 the circle, else a row of Network.sec_table)
PIPE_INTS = ("pipe_up", "pipe_down", "down_end", "up_drop", "pipe_section")
PI_UP, PI_DOWN, PI_DOWN_END, PI_UP_DROP, PI_SECTION = range(len(PIPE_INTS))
#: per manhole: depth to the rim, volume at the rim (m3), shaft and ponding area (m2), crown (m)
MANHOLE_FLOATS = ("max_depth", "full_volume", "shaft_area", "ponding_area", "crown")
MF_MAX_DEPTH, MF_FULL_VOLUME, MF_SHAFT_AREA, MF_PONDING_AREA, MF_CROWN = range(len(MANHOLE_FLOATS))
#: per pipe end at a manhole: its invert above the manhole's (m), the pipe's diameter (m),
#: half its length times d² (m3, the half pipe's volume per unit of A/d²)
END_FLOATS = ("end_offset", "end_diameter", "end_capacity")
EF_OFFSET, EF_DIAMETER, EF_CAPACITY = range(len(END_FLOATS))


@dataclass(frozen=True)
class Network:
    """Topology and geometry of one drainage network as flat arrays.

    Nodes are numbered manholes first (0..M-1), then outfalls (M..M+O-1). ``*_row`` map
    nodes and pipes to rows of the domain table. Each manhole lists the pipe ends that
    meet it (CSR: ``end_ptr``, ``end_pipe`` and the rows of ``end_float``). Every name
    of PIPE_FLOATS, PIPE_INTS, MANHOLE_FLOATS and END_FLOATS reads as an attribute
    (``net.diameter`` is ``net.pipe_float[PF_DIAMETER]``).
    """

    manhole_row: np.ndarray
    outfall_row: np.ndarray
    pipe_row: np.ndarray
    #: invert of every node, manholes then outfalls (m)
    node_invert: np.ndarray
    #: the river's stage at each outfall (m)
    tailwater: np.ndarray
    pipe_float: np.ndarray
    pipe_int: np.ndarray
    manhole_float: np.ndarray
    #: the pipes that discharge at an outfall
    outfall_pipe: np.ndarray
    end_ptr: np.ndarray
    end_pipe: np.ndarray
    end_float: np.ndarray
    #: the largest stable router step (s), from the network's stiffest pipe
    stable_dt: float
    #: pumps, weirs, orifices and outlets (twin_drainage.regulators): table rows, their
    #: integer and float parameters, their curves (CSR), whether each starts on
    reg_row: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    reg_int: np.ndarray = field(default_factory=lambda: np.zeros((5, 0), dtype=np.int64))
    reg_float: np.ndarray = field(default_factory=lambda: np.zeros((13, 0)))
    curve_ptr: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    curve_x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    curve_y: np.ndarray = field(default_factory=lambda: np.zeros(0))
    reg_on: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: storage units with a TABULAR curve (CSR over manholes): the depth (m) and volume
    #: (m3) at the points of :func:`storage_curve_points`, which replace their shaft
    store_ptr: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    store_xy: np.ndarray = field(default_factory=lambda: np.zeros((2, 0)))
    #: culverts: each pipe's row of ``culvert`` (-1: none), the rows of
    #: twin_drainage.culvert.router_row (their inlet control)
    culvert_of: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    culvert: np.ndarray = field(default_factory=lambda: np.zeros((0, 1)))
    #: each pipe end's section (-1 the circle; end_pipe's pipe_section), and the sections'
    #: tables (twin_drainage.sections.dynamic_section, one row per section)
    end_section: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sec_table: np.ndarray = field(default_factory=lambda: NO_SECTIONS)
    sec_inv: np.ndarray = field(default_factory=lambda: np.zeros((0, 2, INV_STEPS + 1)))
    sec_scale: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))

    def __getattr__(self, name: str) -> np.ndarray:
        for rows, names in (("pipe_float", PIPE_FLOATS), ("pipe_int", PIPE_INTS), ("manhole_float", MANHOLE_FLOATS),
                            ("end_float", END_FLOATS)):
            if name in names:
                return object.__getattribute__(self, rows)[names.index(name)]
        raise AttributeError(f"Network has no {name!r}")


def build_network(table, links: dict[str, tuple[str, ...]], regulator_specs: dict[str, dict] | None = None,
                  sections: dict[str, dict] | None = None, storage_curves: dict[str, list] | None = None,
                  culverts: dict[str, dict] | None = None) -> Network:
    """Flatten the domain table and the pipes' ``links`` ([upstream, downstream]) into a
    :class:`Network`, with the rows of kind ``regulator`` described by
    ``regulator_specs`` (id -> twin_drainage.inp's record), the pipes of ``sections``
    (id -> {shape, geom, barrels}, the importer's record) routed by their own section
    (twin_drainage.sections.dynamic_section) instead of a circle of their diameter (the
    section's height), the storage units of ``storage_curves`` (id -> [[depth m, area
    m2], ...], a SWMM TABULAR curve) holding what their curve holds instead of their
    shaft, and the pipes of ``culverts`` (id -> {code, barrels, y_full, a_full, shape,
    geom}, twin_drainage.inp) limited by their inlet control. Errors name the pipe and
    what would be valid."""
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
    roughness = table["roughness"][pipes].astype(np.float64)
    invert_up = invert[up] + table["inlet_offset"][pipes]
    invert_down = invert[down] + table["outlet_offset"][pipes]
    for name, values in (("diameter", diameter), ("length", length)):
        bad = np.flatnonzero(values <= 0.0)
        if len(bad):
            raise ValueError(f"drainage pipe {table.ids[pipes[bad[0]]]!r}: {name} must be > 0 m; got {values[bad[0]]}")
    pipe_section = np.full(len(pipes), -1, dtype=np.int64)
    full_area = 0.25 * np.pi * diameter**2
    full_k23 = np.full(len(pipes), FULL_K23)  # A·R^(2/3)/d^(8/3) when full
    rows, inverses, scales = [], [], []
    if sections:
        from twin_drainage.sections import dynamic_section

        for p, row in enumerate(pipes):
            sec = sections.get(table.ids[row])
            if sec is None:
                continue
            try:
                d, tab, inv, scale = dynamic_section(sec["shape"], sec["geom"], float(sec.get("barrels", 1.0)),
                                                     sec.get("curve"))
            except ValueError as exc:
                raise ValueError(f"drainage pipe {table.ids[row]!r}: section {exc}") from None
            if abs(d - diameter[p]) > 1e-9 * max(d, 1.0):
                raise ValueError(f"drainage pipe {table.ids[row]!r}: diameter {diameter[p]} m must be its section's "
                                 f"height {d} m")
            pipe_section[p] = len(rows)
            rows.append(tab)
            inverses.append(inv)
            scales.append(scale)
            full_area[p] = tab[SEC_STEPS, SA] * d * d
            full_k23[p] = tab[SEC_STEPS, SK23]
    sec_table = np.array(rows) if rows else NO_SECTIONS
    sec_inv = np.array(inverses) if rows else np.zeros((0, 2, INV_STEPS + 1))
    sec_scale = np.array(scales) if rows else np.zeros((0, 2))
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
    end_diameter = diameter[end_pipe]
    end_section = pipe_section[end_pipe]
    end_capacity = 0.5 * length[end_pipe] * end_diameter * end_diameter

    crown = rim.copy()
    if len(end_node):
        top = end_z + diameter[end_pipe]
        crown_by_node = np.full(m, -np.inf)
        np.maximum.at(crown_by_node, end_node, top)
        crown = np.where(np.isfinite(crown_by_node), crown_by_node, rim)

    shaft = table["shaft_area"][manholes].astype(np.float64)
    pond = table["ponding_area"][manholes].astype(np.float64)
    store_ptr, store_xy = _storage_curves(table, manholes, max_depth, storage_curves or {})
    tailwater = table["tailwater_elevation"][outfalls].astype(np.float64)
    # Stability: the stiffest mode is a full pipe between two surcharged shafts, an
    # oscillator of ω² = g·A_full/L·(1/S_up + 1/S_down); symplectic Euler needs ω·dt < 2
    # and we keep a factor 2 in hand. Partly full pipes: the CFL bound of Bates et al.
    # (2010) dt < 0.7·L/sqrt(g·d).
    stable_dt = math.inf
    if len(pipes):
        inv_shaft = np.concatenate([1.0 / shaft, np.zeros(len(outfalls))])
        pull = G * 0.25 * np.pi * diameter**2 / length
        pull[pipe_section >= 0] = (G * full_area / length)[pipe_section >= 0]  # their own full areas
        omega2 = pull * (inv_shaft[up] + inv_shaft[down])
        stable_dt = float(min(np.min(1.0 / np.sqrt(omega2)), np.min(0.7 * length / np.sqrt(G * diameter))))

    slope = (invert_up - invert_down) / length
    conveyance = diameter ** (8.0 / 3.0) * np.sqrt(np.abs(slope)) / roughness
    into_outfall = down >= m
    down_drop = invert_down > invert[down]
    fixed = np.zeros(len(pipes), dtype=bool)
    fixed[into_outfall] = tailwater[down[into_outfall] - m] > invert[down[into_outfall]]
    down_end = np.where(into_outfall & ~down_drop & ~fixed, END_NORMAL,
                        np.where(into_outfall | down_drop, END_FREE, END_LEVEL))
    gravity = G * diameter**2 / length
    friction = G * roughness**2 / diameter ** (10.0 / 3.0)
    root_per_conveyance = np.sqrt(np.divide(1.0, conveyance, out=np.zeros_like(conveyance), where=conveyance > 0.0))
    capacity = manning_full_capacity(diameter, roughness, slope)
    if rows:  # Manning's full flow of the true sections (barrels included)
        capacity = np.where(pipe_section >= 0, full_k23 * diameter ** (8.0 / 3.0) * np.sqrt(
            np.maximum(np.abs(slope), MIN_CAPACITY_SLOPE)) / roughness, capacity)
    pipe_float = np.stack([
        diameter, 1.0 / diameter, invert_up, invert_down, gravity, friction, conveyance, root_per_conveyance,
        (G * diameter**5) ** -0.25, capacity, length, roughness, slope])
    pipe_int = np.stack([up, down, down_end, (invert_up > invert[up]).astype(np.int64), pipe_section]).astype(np.int64)
    end_float = np.stack([end_offset, end_diameter, end_capacity])
    full = full_volume(max_depth, shaft, pond, end_ptr, end_offset, end_diameter, end_capacity, end_section, sec_table,
                       store_ptr, store_xy)
    culvert_of, culvert = _culverts(table, pipes, slope, culverts or {})
    manhole_float = np.stack([max_depth, full, shaft, pond, crown])
    extra = {}
    if "regulator" in kinds and regulator_specs:
        from twin_drainage import regulators

        reg_rows = np.flatnonzero(kind == kinds.index("regulator"))
        node_index = {table.ids[r]: k for r, k in node_of.items()}
        specs = []
        for row in reg_rows:
            spec = regulator_specs.get(table.ids[row])
            if spec is None:
                raise ValueError(f"drainage regulator {table.ids[row]!r}: data/regulators.json does not describe it")
            ends = links.get(table.ids[row], ())
            specs.append({**spec, "links": list(ends)})
        ints, floats, ptr, xs, ys, on = regulators.build(specs, node_index)
        # route() takes a regulator's flow implicit in its nodes' heads, linearised (a =
        # τ·dQ/dh/A); the step keeps a <= REG_GAIN_STEPS on the smaller node (the
        # explicit flow needed a < 1/2, which held a weir on a 1.17 m² junction to 0.2 s
        # on model_curve_num.inp). Unbounded (10 s steps there), a pump passes only what
        # its wet well held at the step's start, the well keeps a step's inflow, and
        # model_full_features_b.inp floods 19 % less than SWMM.
        gain = regulators.head_gain(ints, floats, ptr, xs, ys)
        for r in range(len(reg_rows)):
            areas = [shaft[ints[regulators.RI_UP, r]]] if ints[regulators.RI_UP, r] < m else []
            if ints[regulators.RI_DOWN, r] < m:
                areas.append(shaft[ints[regulators.RI_DOWN, r]])
            if areas and gain[r] > 0.0:
                stable_dt = min(stable_dt, REG_GAIN_STEPS * min(areas) / gain[r])
        extra = dict(reg_row=reg_rows, reg_int=ints, reg_float=floats, curve_ptr=ptr, curve_x=xs, curve_y=ys,
                     reg_on=on)
    return Network(
        manhole_row=manholes, outfall_row=outfalls, pipe_row=pipes, node_invert=invert, tailwater=tailwater,
        pipe_float=pipe_float, pipe_int=pipe_int, manhole_float=manhole_float,
        outfall_pipe=np.flatnonzero(into_outfall),
        end_ptr=end_ptr, end_pipe=end_pipe, end_float=end_float, stable_dt=stable_dt, end_section=end_section,
        sec_table=sec_table, sec_inv=sec_inv, sec_scale=sec_scale, store_ptr=store_ptr, store_xy=store_xy,
        culvert_of=culvert_of, culvert=culvert, **extra,
    )


#: points per segment of a storage curve (storage_curve_points): the storage is linear
#: between them, exact at each
STORE_CURVE_STEPS = 64


def storage_curve_points(curve: list, max_depth: float) -> tuple[np.ndarray, np.ndarray]:
    """(depths m, volumes m3) of a SWMM TABULAR storage curve (``curve``: [depth m, area
    m2] pairs) from 0 to ``max_depth``: STORE_CURVE_STEPS points in each of its segments,
    the volume at each the curve's own integral as SWMM takes it (SWMM's
    table_getStorageVolume): the area linear in the depth between the curve's points,
    from 0 at depth 0 to its first point, and beyond its last one extrapolated along its
    last segment (not below 0). The storage is linear between these points (the chord):
    within ΔA·Δy/8 of the curve's integral, ΔA the change of area over a step Δy."""
    pts = sorted((float(d), float(a)) for d, a in curve)
    xs = [d for d, _ in pts]
    ys = [a for _, a in pts]

    def area(y: float) -> float:
        if y <= xs[0]:
            return ys[0] * y / xs[0] if xs[0] > 1e-9 else ys[0]
        for k in range(1, len(xs)):
            if y <= xs[k]:
                span = xs[k] - xs[k - 1]
                return ys[k] if span <= 0.0 else ys[k - 1] + (ys[k] - ys[k - 1]) * (y - xs[k - 1]) / span
        if len(xs) > 1 and xs[-1] - xs[-2] > 1e-9:
            return max(ys[-1] + (ys[-1] - ys[-2]) / (xs[-1] - xs[-2]) * (y - xs[-1]), 0.0)
        return ys[-1]

    marks = sorted({0.0, max_depth, *[x for x in xs if 0.0 < x < max_depth]})
    depth = [0.0]
    for a, b in zip(marks, marks[1:]):
        depth += [a + (b - a) * k / STORE_CURVE_STEPS for k in range(1, STORE_CURVE_STEPS + 1)]
    # Simpson's rule on each step: exact where the area is linear, i.e. between the
    # curve's points (an extrapolation cut at 0 is the one kink, inside a step)
    volume = [0.0]
    for a, b in zip(depth, depth[1:]):
        mid = 0.5 * (a + b)
        volume.append(volume[-1] + (area(a) + 4.0 * area(mid) + area(b)) / 6.0 * (b - a))
    return np.array(depth), np.array(volume)


def _storage_curves(table, manholes: np.ndarray, max_depth: np.ndarray,
                    curves: dict[str, list]) -> tuple[np.ndarray, np.ndarray]:
    """Network.store_ptr and store_xy for the manholes named in ``curves``."""
    ptr = np.zeros(len(manholes) + 1, dtype=np.int64)
    depths, volumes = [], []
    for k, row in enumerate(manholes):
        curve = curves.get(table.ids[row])
        if curve:
            if any(len(pt) != 2 for pt in curve):
                raise ValueError(f"drainage storage {table.ids[row]!r}: its curve must be [depth, area] pairs; "
                                 f"got {curve!r}")
            d, v = storage_curve_points(curve, float(max_depth[k]))
            depths.append(d)
            volumes.append(v)
        ptr[k + 1] = ptr[k] + (len(depths[-1]) if curve else 0)
    if not depths:
        return ptr, np.zeros((2, 0))
    return ptr, np.stack([np.concatenate(depths), np.concatenate(volumes)])


def _culverts(table, pipes: np.ndarray, slope: np.ndarray, culverts: dict[str, dict]) -> tuple[np.ndarray, np.ndarray]:
    """Network.culvert_of and culvert for the pipes named in ``culverts``."""
    from twin_drainage import culvert as hds5

    of = np.full(len(pipes), -1, dtype=np.int64)
    rows = []
    for p, row in enumerate(pipes):
        spec = culverts.get(table.ids[row])
        if spec is None:
            continue
        code = int(spec["code"])
        if not 1 <= code <= hds5.MAX_CODE:
            raise ValueError(f"drainage pipe {table.ids[row]!r}: culvert code {code}; valid: 1 to {hds5.MAX_CODE}")
        area, width = hds5.section(spec)
        of[p] = len(rows)
        # SWMM's conduit slope (culvert.c takes Conduit.slope; its sign aside, as here)
        rows.append(hds5.router_row(code, float(spec["y_full"]), float(spec["a_full"]), abs(float(slope[p])),
                                    float(spec.get("barrels", 1.0)), area, width))
    return of, np.array(rows) if rows else np.zeros((0, 1))


# --- node storage -------------------------------------------------------------------
# A manhole's storage is piecewise linear in its depth: the shaft, the pond above the rim,
# and each half pipe meeting it with its area read from STORE, A/d² of a circle at
# STORE_STEPS equal steps of y/d, linear between them as SWMM interpolates its section
# tables (within 1.4e-4·d² of the circle: about d/2000 of depth at a manhole). So the
# depth that holds a volume is found exactly: Newton's step is exact once it stays
# between two breakpoints, and the router's mass balance holds to round-off. The router
# keeps each node's linear piece from one step to the next, so most steps of most
# nodes cost one division.
STORE_STEPS = 128


def _store_table(steps: int = STORE_STEPS) -> np.ndarray:
    x = np.linspace(0.0, 1.0, steps + 1)
    theta = 2.0 * np.arccos(np.clip(1.0 - 2.0 * x, -1.0, 1.0))
    area = (theta - np.sin(theta)) / 8.0
    area[0], area[-1] = 0.0, FULL_AREA
    return area


STORE = _store_table()


@njit(cache=True, nogil=True)
def storage(m, depth, max_depth, shaft, pond, end_ptr, end_offset, end_diameter, end_capacity, end_section,
            sec_table, store_ptr, store_xy):  # pragma: no cover
    """The storage of manhole ``m`` around ``depth`` (m above its invert): (intercept m3,
    surface m2, low m, high m) such that it holds intercept + surface·y (m3) at every
    depth y from ``low`` to ``high``. It holds the shaft up to the rim (or, for a storage
    unit with a curve, ``store_xy``'s volumes from ``store_ptr[m]``, linear between its
    points), half of each pipe meeting it (filled to the node's level at that end; a
    section other than the circle, ``end_section`` >= 0, from its table's SEC_STEPS
    linear pieces) and, above the rim, the street's ponding area. The volume at ``depth``
    is the same sum whichever way the depth was reached, so it is a function of the depth
    alone, to the bit."""
    rim = max_depth[m]
    lo, hi = store_ptr[m], store_ptr[m + 1]
    if hi > lo:
        # SWMM's TABULAR storage curve (node.c storage_getVolume): the chord between the
        # two points of the curve's table around the depth (binary search)
        if depth < rim:
            hi -= 1  # the points lo..hi run from depth 0 to the rim: x[lo] <= depth < x[hi]
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if store_xy[0, mid] <= depth:
                    lo = mid
                else:
                    hi = mid
            x0, x1 = store_xy[0, lo], store_xy[0, lo + 1]
            v0, v1 = store_xy[1, lo], store_xy[1, lo + 1]
            surface = (v1 - v0) / (x1 - x0) if x1 > x0 else 0.0
            intercept, low, high = v0 - surface * x0, x0, x1
        else:
            intercept, surface, low, high = store_xy[1, hi - 1] - pond[m] * rim, pond[m], rim, math.inf
    elif depth < rim:
        intercept, surface, low, high = 0.0, shaft[m], 0.0, rim
    else:
        intercept, surface, low, high = (shaft[m] - pond[m]) * rim, pond[m], rim, math.inf
    for e in range(end_ptr[m], end_ptr[m + 1]):
        d = end_diameter[e]
        offset = end_offset[e]
        x = (depth - offset) / d
        if x <= 0.0:
            high = min(high, offset)
        elif x >= 1.0:
            s = section_at(end_section, e)
            intercept += end_capacity[e] * (FULL_AREA if s < 0 else sec_table[s, SEC_STEPS, SA])
            low = max(low, offset + d)
        elif section_at(end_section, e) < 0:  # the circle, with constant steps (the fast path)
            k = int(x * STORE_STEPS)
            bottom = offset + k * d / STORE_STEPS
            slope = end_capacity[e] * (STORE[k + 1] - STORE[k]) * STORE_STEPS / d
            intercept += end_capacity[e] * STORE[k] - slope * bottom
            surface += slope
            low = max(low, bottom)
            high = min(high, offset + (k + 1) * d / STORE_STEPS)
        else:
            s = section_at(end_section, e)
            k = int(x * SEC_STEPS)
            bottom = offset + k * d / SEC_STEPS
            slope = end_capacity[e] * (sec_table[s, k + 1, SA] - sec_table[s, k, SA]) * SEC_STEPS / d
            intercept += end_capacity[e] * sec_table[s, k, SA] - slope * bottom
            surface += slope
            low = max(low, bottom)
            high = min(high, offset + (k + 1) * d / SEC_STEPS)
    return intercept, surface, low, high


@njit(cache=True, nogil=True)
def storage_depth(m, volume, guess, full, max_depth, shaft, pond, end_ptr, end_offset, end_diameter,
                  end_capacity, end_section, sec_table, store_ptr, store_xy, lent=0.0):  # pragma: no cover
    """The depth (m) at which manhole ``m`` stores ``volume`` (m3), the inverse of
    :func:`storage` plus ``lent``·depth (``lent`` >= 0, m2: the surface its pipes lend it
    beyond their half pipes, see route), with the storage of :func:`storage` around it: (depth,
    intercept, surface, low, high). Newton's method from ``guess`` inside a shrinking
    bracket; a step that stays where the storage is linear is exact. ``full`` is the
    volume at the rim, ``lent``·rim included."""
    if volume <= 0.0:
        intercept, surface, low, high = storage(m, 0.0, max_depth, shaft, pond, end_ptr, end_offset, end_diameter,
                                                end_capacity, end_section, sec_table, store_ptr, store_xy)
        return 0.0, intercept, surface, low, high
    if pond[m] <= 0.0 and volume >= full:  # no ponding: full to the rim, no higher
        intercept, surface, low, high = storage(m, max_depth[m] * (1.0 - 1e-12), max_depth, shaft, pond, end_ptr,
                                                end_offset, end_diameter, end_capacity, end_section, sec_table,
                                                store_ptr, store_xy)
        return max_depth[m], intercept, surface, low, high
    lo = 0.0
    if volume <= full:
        hi = max_depth[m]
    else:
        lo = max_depth[m]
        hi = max_depth[m] + (volume - full) / pond[m]  # the surface is at least the pond above the rim
    d = min(max(guess, lo), hi)
    for _ in range(200):
        intercept, surface, low, high = storage(m, d, max_depth, shaft, pond, end_ptr, end_offset, end_diameter,
                                                end_capacity, end_section, sec_table, store_ptr, store_xy)
        # no surface (the rim of a unit that cannot pond): bisect
        nxt = (volume - intercept) / (surface + lent) if surface + lent > 0.0 else -1.0
        if low <= nxt <= high:
            return nxt, intercept, surface, low, high
        if intercept + (surface + lent) * d > volume:
            hi = d
        else:
            lo = d
        if not lo < nxt < hi:
            nxt = 0.5 * (lo + hi)
        d = nxt
    return d, intercept, surface, low, high


@njit(cache=True, nogil=True)
def _full_volume(max_depth, shaft, pond, end_ptr, end_offset, end_diameter, end_capacity, end_section, sec_table,
                 store_ptr, store_xy, out):  # pragma: no cover
    for m in range(max_depth.shape[0]):
        intercept, surface, _, _ = storage(m, max_depth[m], max_depth, shaft, pond, end_ptr, end_offset, end_diameter,
                                           end_capacity, end_section, sec_table, store_ptr, store_xy)
        out[m] = intercept + surface * max_depth[m]


#: no section tables: every pipe the router's own circle
NO_SECTIONS = np.zeros((0, SEC_STEPS + 1, SEC_COLUMNS))
#: drainage_tick's ``lateral`` for a network without street inlets (one array, not one per tick)
NO_LATERAL = np.zeros(0)


def _circles(end_section, sec_table, count: int) -> tuple[np.ndarray, np.ndarray]:
    if end_section is None:
        return np.full(count, -1, dtype=np.int64), NO_SECTIONS
    return np.asarray(end_section, dtype=np.int64), sec_table


def full_volume(max_depth, shaft, pond, end_ptr, end_offset, end_diameter, end_capacity, end_section=None,
                sec_table=None, store_ptr=None, store_xy=None) -> np.ndarray:
    """Water each manhole holds when filled to its rim (m3); ends of ``end_section`` >= 0
    have the sections of ``sec_table`` (default: every end a circle), storage units of
    ``store_ptr`` their curves (default: none)."""
    out = np.empty(len(max_depth))
    end_section, sec_table = _circles(end_section, sec_table, len(end_offset))
    store_ptr, store_xy = _no_curves(len(max_depth), store_ptr, store_xy)
    _full_volume(max_depth, shaft, pond, end_ptr, end_offset, end_diameter, end_capacity, end_section, sec_table,
                 store_ptr, store_xy, out)
    return out


def _no_curves(m: int, store_ptr, store_xy) -> tuple[np.ndarray, np.ndarray]:
    """``store_ptr``/``store_xy`` as given, or those of no storage curve at all."""
    if store_ptr is None:
        return np.zeros(m + 1, dtype=np.int64), np.zeros((2, 0))
    return store_ptr, store_xy


def node_volume(m, depth, max_depth, shaft, pond, end_ptr, end_pipe, end_offset, length, diameter, end_section=None,
                sec_table=None, store_ptr=None, store_xy=None) -> float:
    """:func:`storage`'s volume (m3) at manhole ``m``, from per-pipe ``length`` and
    ``diameter`` and the ends' ``end_pipe`` (for tests and tools; sections as
    :func:`full_volume` takes them)."""
    d = np.asarray(diameter, dtype=np.float64)[end_pipe]
    end_section, sec_table = _circles(end_section, sec_table, len(end_pipe))
    store_ptr, store_xy = _no_curves(len(max_depth), store_ptr, store_xy)
    intercept, surface, _, _ = storage(m, depth, max_depth, shaft, pond, end_ptr, end_offset, d,
                                       0.5 * np.asarray(length, dtype=np.float64)[end_pipe] * d * d, end_section,
                                       sec_table, store_ptr, store_xy)
    return intercept + surface * depth


def node_depth(m, volume, guess, full, max_depth, shaft, pond, end_ptr, end_pipe, end_offset, length,
               diameter, end_section=None, sec_table=None, store_ptr=None, store_xy=None) -> float:
    """:func:`storage_depth` at manhole ``m``, with the arguments of :func:`node_volume`."""
    d = np.asarray(diameter, dtype=np.float64)[end_pipe]
    end_section, sec_table = _circles(end_section, sec_table, len(end_pipe))
    store_ptr, store_xy = _no_curves(len(max_depth), store_ptr, store_xy)
    return storage_depth(m, volume, guess, full, max_depth, shaft, pond, end_ptr, end_offset, d,
                         0.5 * np.asarray(length, dtype=np.float64)[end_pipe] * d * d, end_section, sec_table,
                         store_ptr, store_xy)[0]


@njit(cache=True, nogil=True)
def lent_surface(s, y, d, w_mid, a_mid, quarter, sec_table, cutoff):  # pragma: no cover - compiled
    """What a pipe end level with its node's invert lends the node (route): SWMM's
    surface (w_end + w_mid)·L/4 (dwflow.c findSurfArea; ``quarter`` = L/4, ``w_mid`` the
    width at the pipe's mid depth), each width capped at ``cutoff``·d (dwflow.c
    getWidth: EXTRAN_CROWN_CUTOFF under EXTRAN, 1 under SLOT; SWMM caps closed
    shapes there, and an open channel's width at 0.96·d is taken too, a few per cent
    under its top width), less the half pipe
    w(y)·L/2 at the node's level ``y`` above the end's invert that the storage holds
    (m²); and the water it holds beyond that half pipe, L/4·(A_mid - A(y)) plus, above
    the crown, the surface times the rise (m³)."""
    y_in = min(max(y, 0.0), d)
    w_end = any_width(s, min(y_in, cutoff * d), d, sec_table)
    w_in = any_width(s, y_in, d, sec_table)
    lent = quarter * (w_mid - w_in + (w_end - w_in))  # (SLOT: w_end = w_in, exactly)
    beyond = quarter * (max(a_mid - any_area(s, y_in, d, sec_table), 0.0) + (w_end + w_mid) * max(y - d, 0.0))
    return lent, beyond


# --- the router ---------------------------------------------------------------------
@njit(cache=True, nogil=True)
def route(dt, substeps, runoff, depth, flow, open_fraction,
          max_depth, full_volume, shaft, pond, node_invert, tailwater,
          end_ptr, end_offset, end_diameter, end_capacity,
          pipe_up, pipe_down, invert_up, invert_down, diameter, per_diameter, gravity, friction, conveyance,
          root_per_conveyance, root_per_critical, down_end, up_drop, head, volume, settled, intercept, surface,
          low, high, lent, held, leaving, outflow, flooded, stored, pipe_depth, pipe_area, reg_int, reg_float,
          curve_ptr, curve_x, curve_y, reg_on, reg_flow, losses, damping, pipe_section, end_section, sec_table, sec_inv,
          sec_scale, store_ptr, store_xy, culvert_of, culvert, surcharge=SURCHARGE_SLOT,
          extran=np.zeros((2, 0)), end_pipe=np.zeros(0, dtype=np.int64), peak_depth=np.zeros(0),
          peak_flow=np.zeros(0), routing_step=0.0):  # pragma: no cover - compiled
    """Advance the network by ``dt`` seconds in ``substeps`` equal steps (local inertial
    links, node continuity; see the module docstring). Each step is four passes: the
    links' momentum, each node's outflow limit, the exchange of water, the nodes'
    depths.

    inputs: ``runoff`` (m3/s per manhole), ``open_fraction`` (1 - blockage, per pipe),
    the network's arrays (:class:`Network`). state, updated in place: ``depth`` (m per
    manhole), ``flow`` (m3/s per pipe, positive downstream). scratch: ``head`` (m per
    node); per manhole ``volume`` (m3), ``leaving``, and its storage around its depth
    (:func:`storage`: ``intercept``, ``surface``, ``low``, ``high``), kept from the last
    tick for the depth it ended at, ``settled``: a pure function of the depth, so
    reusing it when the depth is still the same changes nothing but the time; ``lent``
    (m2, the surface its pipes lend it beyond their half pipes) and ``held`` (m3, the
    water it holds beyond its storage; on entry, the table's volume, as ``stored``
    gave it). outputs:
    ``outflow`` (m3 discharged per outfall during ``dt``), ``flooded`` (m3 that rose
    above each rim during ``dt``), ``stored`` (m3 held in the network at each manhole,
    the pond excluded), ``pipe_depth`` (m, mean of the two end depths per pipe; under
    PARTIAL of the end depths taken above the crown, then capped at it, as SWMM's SLOT) and
    ``pipe_area`` (m2, its open flow area). Regulators (pumps, weirs, orifices, outlets:
    ``reg_*``, ``curve_*``, twin_drainage.regulators) set their flow ``reg_flow`` (m3/s)
    each step from the heads, implicit in them (linearised), and ``reg_on`` holds each
    pump's state. ``damping`` (a DAMPING_* code, the file's INERTIAL_DAMPING): NONE gives
    SWMM's own link momentum, upstream-weighted and with the convective terms (module
    docstring); ``pipe_area`` keeps the last step's mid area for them. PARTIAL takes the
    inlet's section in a pipe supercritical at mid depth, FULL the centred link alone.
    ``pipe_section`` and ``end_section`` give each pipe's and each end's section (-1 the
    circle, else a row of ``sec_table``, ``sec_inv`` and ``sec_scale``, Network's); both
    None for a network of circles, which compiles the fast path alone.
    Storage units with a curve hold what ``store_xy`` says (:func:`storage`); a culvert
    (``culvert_of``, ``culvert``) passes no more than its inlet control lets through.
    ``surcharge`` (a SURCHARGE_* code, the file's SURCHARGE_METHOD): under EXTRAN a
    manhole above the crown of its highest link (``extran``'s EX_CROWN row) takes its
    head from its flows, as SWMM's does (see the node depths below), and pipes lend
    their nodes SWMM's surface with the crown cutoff; ``end_pipe`` is then the pipe of
    each end (:class:`Network`). ``peak_depth`` (per manhole) and ``peak_flow`` (per
    pipe, signed), when given, receive the largest depth and the largest flow in
    magnitude at the end of the tick's steps, every ``routing_step`` s of it (at the first
    step's end at or after each mark; 0: every step) and at its end: SWMM's statistics
    take each of its routing steps (stats.c), so a surge within a tick is not lost
    between its ends, nor one counted that SWMM's own step passes over.
    """
    m_count = depth.shape[0]
    p_count = flow.shape[0]
    tau = dt / substeps
    # each node's net inflow but for the regulator at hand (the regulators' update)
    net = np.zeros(m_count if reg_flow.shape[0] else 0)
    beyond = np.zeros(m_count)
    # EXTRAN: each node's Σ dQ/dh of its links this step, and its volume at the step's start
    is_extran = surcharge == SURCHARGE_EXTRAN and extran.shape[1] == m_count and end_pipe.shape[0] == end_ptr[m_count]
    dqdh = np.zeros(m_count if is_extran else 0)
    start = np.zeros(m_count if is_extran else 0)
    lift = np.zeros(m_count if is_extran else 0)
    diag = np.zeros(m_count if is_extran else 0)
    resid = np.zeros(m_count if is_extran else 0)
    pipe_dqdh = np.zeros(p_count if is_extran else 0)
    reg_gain = np.zeros((2, reg_flow.shape[0] if is_extran else 0))
    relax = np.zeros(p_count if is_extran else 0)
    active = np.zeros(p_count if is_extran else 0, dtype=np.int64)
    reg_relax = np.zeros(reg_flow.shape[0] if is_extran else 0)
    gained = np.zeros(m_count if is_extran else 0)
    cap = np.zeros(reg_flow.shape[0])
    outflow[:] = 0.0
    flooded[:] = 0.0
    for m in range(m_count):  # sensors may have set the depth: start from it
        moved = depth[m] != settled[m]
        if moved:
            intercept[m], surface[m], low[m], high[m] = storage(m, depth[m], max_depth, shaft, pond, end_ptr,
                                                                end_offset, end_diameter, end_capacity, end_section,
                                                                sec_table, store_ptr, store_xy)
        volume[m] = intercept[m] + surface[m] * depth[m]
        # The water beyond the storage (see the node depths below) is state, kept in the
        # table's volume column (``held`` on entry) so that a restored table continues
        # bit for bit; a depth set from outside mid-run, or a table that never ran,
        # holds its storage alone.
        if (not moved or settled[m] != settled[m]) and held[m] > 0.0:
            volume[m] = held[m] + pond[m] * max(depth[m] - max_depth[m], 0.0)
        held[m] = volume[m] - (intercept[m] + surface[m] * depth[m])
        head[m] = node_invert[m] + depth[m]
        leaving[m] = 0.0
    for o in range(tailwater.shape[0]):
        head[m_count + o] = tailwater[o]
    peaks = peak_depth.shape[0] == m_count and peak_flow.shape[0] == p_count
    if peaks:
        peak_depth[:] = 0.0
        peak_flow[:] = 0.0
    marks = 0
    for step_i in range(substeps):
        if is_extran:
            dqdh[:] = 0.0
            pipe_dqdh[:] = 0.0
            reg_gain[:] = 0.0
        # Link momentum.
        for p in range(p_count):
            d = diameter[p]
            s = section_at(pipe_section, p)
            up, down = pipe_up[p], pipe_down[p]
            hu = head[up]
            hd = head[down]
            q = flow[p]
            f = open_fraction[p]
            fall = invert_up[p] - invert_down[p]
            # SWMM's UP_DRY and DN_DRY flow classes (dwflow.c getFlowClass): one end dry (its
            # node's water at or below the pipe's invert there) and the other end's head
            # below that invert: no water can reach across, the flow is nil
            # (dwflow_findConduitFlow), whatever the heads below the dry invert say
            dry_end = False
            if down < m_count:
                wet_up = hu > invert_up[p] + FUDGE
                wet_down = hd > invert_down[p] + FUDGE
                dry_end = (wet_down and not wet_up and hd < invert_up[p]) or (
                    wet_up and not wet_down and hu < invert_down[p])
                # Under EXTRAN a link at a surcharged junction is left to the trials below,
                # linearised as any other: SWMM classifies it again in each trial, which
                # linearised trials cannot, and held nil through them it loses
                # model_weir_setting.inp's backflow up C1 into the dry J5 once J1 leaps
                # above J5's invert (C1 72 % low; 34 % with the class tested each trial)
                if dry_end and is_extran and (depth[up] > extran[EX_CROWN, up]
                                              or depth[down] > extran[EX_CROWN, down]):
                    dry_end = False
            # An end that drops into its node (an offset above the node's invert, or an
            # outfall) flows at its normal or critical depth when the node's water lies
            # below that: SWMM's DN_CRITICAL / UP_CRITICAL flow classes (dwflow.c,
            # getFlowClass) and its NORMAL outfall (the normal depth, or the smaller of
            # normal and critical depth over an offset).
            if q >= 0.0:
                if down_end[p] != END_LEVEL and hd < invert_down[p] + d:
                    y_end = 0.0
                    if q > 0.0:
                        y_end = d
                        if f > 0.0:
                            root_q = math.sqrt(q if f == 1.0 else q / f)
                            if fall > 0.0:
                                y_end = d * any_normal(s, root_q * root_per_conveyance[p], sec_inv, sec_scale)
                            if down_end[p] == END_FREE:
                                y_end = min(y_end, d * any_critical(s, root_q * root_per_critical[p], sec_inv,
                                                                    sec_scale))
                    hd = max(hd, invert_down[p] + y_end)
            elif up_drop[p] and hu < invert_up[p] + d:
                y_end = d
                if f > 0.0:
                    root_q = math.sqrt(-q if f == 1.0 else -q / f)
                    if fall < 0.0:
                        y_end = d * any_normal(s, root_q * root_per_conveyance[p], sec_inv, sec_scale)
                    y_end = min(y_end, d * any_critical(s, root_q * root_per_critical[p], sec_inv, sec_scale))
                hu = max(hu, invert_up[p] + y_end)
            yu = min(max(hu - invert_up[p], 0.0), d)
            yd = min(max(hd - invert_down[p], 0.0), d)
            y = 0.5 * (yu + yd)
            if damping == DAMPING_PARTIAL:
                # SWMM's mid depth with the SLOT surcharge (dwflow.c): the mean of the end
                # depths not capped at the crown, so a pipe out of a surcharged node is full
                # at mid depth (its Froude number 0) once the node stands as far above the
                # crown as the outlet below it; capped at the crown as SWMM's link depth is
                y = min(0.5 * (max(hu - invert_up[p], 0.0) + max(hd - invert_down[p], 0.0)), d)
            pipe_depth[p] = y
            if y <= 0.0 or f <= 0.0:
                pipe_area[p] = 0.0
                flow[p] = 0.0
                continue
            if s >= 0:  # a section of its own (any_section)
                x = min(y * per_diameter[p], 1.0)
                k, w = sec_cell(x) if x < 1.0 else (SEC_STEPS - 1, 1.0)
                a = sec_value(sec_table, s, k, w, SA)
                k43 = sec_value(sec_table, s, k, w, SK43)
                r_mid = sec_value(sec_table, s, k, w, SR)
            elif y >= d:
                a, k43, r_mid = FULL_AREA, FULL_K43, 0.25
            else:
                half, k, w = circle_cell(y * per_diameter[p])
                a = circle_value(half, k, w, 0)
                k43 = circle_value(half, k, w, 1)
                r_mid = circle_value(half, k, w, 3)
            area = f * a * d * d
            area_old = pipe_area[p]
            pipe_area[p] = area
            if area <= DRY_AREA:
                flow[p] = 0.0
                continue
            if dry_end:
                flow[p] = 0.0
                continue
            # (q + g·A·τ·ΔH/L + inertia) / (1 + g·n²·|q|·τ/(A·R^(4/3))), with one division
            conveyed = f * k43
            inertia = 0.0
            a_up, r_up, r43_up, a_down = 0.0, 0.0, 0.0, 0.0
            if damping == DAMPING_NONE or losses[LL_ANY, p] > 0.0:
                a_up, r_up, r43_up = any_section(s, yu * per_diameter[p], sec_table)
                a_down = any_section(s, yd * per_diameter[p], sec_table)[0]
            if damping == DAMPING_NONE:
                # SWMM's own momentum (dwflow.c dwflow_findConduitFlow). The Froude number at
                # mid depth (link_getFroude: 0 in a closed conduit within FUDGE of its crown)
                # gives σ: 1 up to Fr 0.5, 2·(1 - Fr) to 0 at Fr 1
                full = yu >= d and yd >= d
                speed = min(max(q / area, -MAX_VELOCITY), MAX_VELOCITY)
                sigma = 1.0
                if y < d - FUDGE:
                    froude2 = speed * speed * any_width(s, y, d, sec_table) / (G * a * d * d)
                    if froude2 >= 1.0:
                        sigma = 0.0
                    elif froude2 > 0.25:
                        sigma = 2.0 * (1.0 - math.sqrt(froude2))
                # upstream weighting: a part-full pipe flowing downhill takes its area and
                # hydraulic radius towards its inlet's as the flow nears critical (ρ = σ);
                # friction keeps v = Q/A at mid depth
                rho = sigma if (not full and q > 0.0 and hu >= hd) else 1.0
                if rho < 1.0:
                    r43 = r43_up if rho == 0.0 else (r_up + (r_mid - r_up) * rho) ** (4.0 / 3.0)
                    conveyed = f * a * r43
                    a = a_up + (a - a_up) * rho
                # the convective terms 2·v·(A_mid - A_old) + τ·v²·(A_down - A_up)/L, undamped
                # (NONE) but in a full closed conduit (1/L = gravity/(g·d²)); A_old is the last
                # step's mid area
                if not full:
                    inertia = speed * (2.0 * (area - area_old) + tau * speed * f * (a_down - a_up) * gravity[p] / G)
            elif damping == DAMPING_PARTIAL and q > 0.0 and hu >= hd and y < d - FUDGE and not (yu >= d and yd >= d):
                # PARTIAL: a part-full pipe flowing downhill supercritical at mid depth (Froude
                # number >= 1, SWMM's σ = 0) takes its inlet's area and hydraulic radius, as
                # SWMM's upstream weighting does there; friction keeps v = Q/A at mid depth.
                # Below Fr 1 a closed conduit's section stays centred and the convective terms
                # are dropped (SWMM weights by σ and keeps them σ-damped: the city of
                # test_drainage_city_scale passes either way, test_drainage_swmm's branched
                # surcharge only without; module docstring). An open section (a street, a
                # channel: SWMM's open shapes, sections.OPEN_SHAPES), which never surcharges, takes
                # SWMM's weighting from Fr 0.5 (σ = 2·(1 - Fr), dwflow.c): a street near
                # critical flow otherwise drops a tenth of its flow as its Froude number
                # falls through 1 (test_inlet_drains.inp's Street3, test_drainage_inlets)
                speed = min(q / area, MAX_VELOCITY)
                froude2 = speed * speed * any_width(s, y, d, sec_table) / (G * a * d * d)
                if froude2 >= 1.0 or (froude2 > 0.25 and s >= 0 and sec_table[s, SEC_STEPS, SO] > 0.0):
                    sigma = 0.0 if froude2 >= 1.0 else 2.0 * (1.0 - math.sqrt(froude2))
                    a_up, r_up, r43_up = any_section(s, yu * per_diameter[p], sec_table)
                    r43 = r43_up if sigma == 0.0 else (r_up + (r_mid - r_up) * sigma) ** (4.0 / 3.0)
                    conveyed = f * a * r43
                    a = a_up + (a - a_up) * sigma
            local = 0.0
            if losses[LL_ANY, p] > 0.0:
                # [LOSSES]: K·|v|·τ/(2L) at the entry, the exit and along the pipe (dwflow.c
                # findLocalLosses), v of the last flow through each end's area
                speed = 0.0
                if f * a_up * d * d > DRY_AREA:
                    speed += losses[LL_ENTRY, p] * abs(q) / (f * a_up * d * d)
                if f * a_down * d * d > DRY_AREA:
                    speed += losses[LL_EXIT, p] * abs(q) / (f * a_down * d * d)
                speed += losses[LL_AVERAGE, p] * abs(q) / area
                local = speed * tau * gravity[p] / (2.0 * G * d * d)  # 1/L = gravity/(g·d²)
            if is_extran and (depth[up] > extran[EX_CROWN, up]
                              or (down < m_count and depth[down] > extran[EX_CROWN, down])):
                # the flow's derivative with respect to either head (dwflow.c: Link.dqdh,
                # summed at both end nodes by dynwave.c updateNodeFlows), wanted at a
                # surcharged end only
                slope_q = gravity[p] * f * a * tau * conveyed / (conveyed * (1.0 + local) + friction[p] * abs(q) * tau)
                pipe_dqdh[p] = slope_q
                dqdh[up] += slope_q
                if down < m_count:
                    dqdh[down] += slope_q
            q = (q + gravity[p] * f * a * tau * (hu - hd) + inertia) * conveyed / (
                conveyed * (1.0 + local) + friction[p] * abs(q) * tau)
            # A culvert flowing part full passes no more than its inlet lets through at the
            # headwater (FHWA HDS-5, twin_drainage.culvert), and SWMM applies no normal
            # flow limitation to it (dwflow.c dwflow_findConduitFlow, culvert_getInflow)
            if culvert_of.shape[0] and culvert_of[p] >= 0:
                if q > 0.0 and not (yu >= d and yd >= d):
                    q = min(q, culvert_flow(culvert[culvert_of[p]], hu - invert_up[p]))
            # SWMM's normal flow limitation (NORMAL_FLOW_LIMITED = BOTH): when the flow at
            # the inlet is supercritical, or the water surface is flatter than the bed, a
            # pipe carries no more than Manning's normal flow at its upstream depth. It
            # keeps steep pipes from oscillating; uniform flow is left exactly as it is.
            elif q > 0.0 and fall > 0.0 and 0.0 < yu < d:
                if s < 0:
                    half, k, w = circle_cell(yu * per_diameter[p])
                    a_up = f * circle_value(half, k, w, 0) * d * d
                    width2 = 4.0 * yu * (d - yu)
                else:
                    k, w = sec_cell(yu * per_diameter[p])
                    a_up = f * sec_value(sec_table, s, k, w, SA) * d * d
                    width2 = (sec_value(sec_table, s, k, w, ST) * d) ** 2
                # Froude number >= 1 at the inlet: Q²·T >= g·A³, squared (T² = 4·y·(d - y))
                if a_up > DRY_AREA and (hu - hd < fall or q ** 4 * width2 >= (G * a_up ** 3) ** 2):
                    if s < 0:
                        normal = f * conveyance[p] * circle_value(half, k, w, 2)
                    else:
                        normal = f * conveyance[p] * sec_value(sec_table, s, k, w, SK23)
                    if q > normal:
                        q = normal
            if q < 0.0 and losses[LL_FLAP, p] > 0.0:
                q = 0.0  # a flap gate: no reverse flow (link.c link_setFlapGate)
            flow[p] = q
            if q > 0.0:
                leaving[up] += q
            elif down < m_count:
                leaving[down] -= q
        # The surface a pipe lends each end node: SWMM's (w_end + w_mid)·L/4 (dwflow.c
        # findSurfArea, subcritical flow) where the storage holds the half pipe at the
        # node's level, w_end·L/2; lent is the difference, at this step's depths. The
        # volume stays the state (the exchange below moves it) and the depth follows it
        # on the storage's slope plus lent; what the node holds beyond its storage
        # (held) grows by lent·(its rise), so the mass balance holds to round-off. A
        # dry lateral filled by backflow from its lower end thus lends its upper node
        # the width at mid depth from the start, and the node rises as slowly as SWMM's
        # (model_curve_num.inp's lateral 4: -16 % -> -8 % against SWMM's peak).
        # Only ends level with their node's invert and below their crown: over an
        # offset the node's water is not the pipe's, and a node above its crowns is
        # surcharged (SWMM takes its level from the flows there, not from areas). Never
        # negative: above the crowns the storage's slope falls to the shaft's, which a
        # negative lent would reverse (tried: floods model_curve_num.inp's J3).
        for m in range(m_count):
            lent[m] = 0.0
            beyond[m] = 0.0
        cutoff = EXTRAN_CROWN_CUTOFF if is_extran else 1.0
        for p in range(p_count):
            d = diameter[p]
            s = section_at(pipe_section, p)
            quarter = 0.25 * G * d * d / gravity[p]  # L/4 (gravity = g·d²/L)
            w_mid = any_width(s, min(pipe_depth[p], cutoff * d), d, sec_table)
            a_mid = any_area(s, pipe_depth[p], d, sec_table)
            up, down = pipe_up[p], pipe_down[p]
            # EXTRAN: SWMM's surface with the crown cutoff, which a full end lends as well
            # (a storage unit or a node below its highest crown rises on it; a surcharged
            # junction's head blends from it, see the node depths); what the node holds
            # beyond its storage grows on it by (its rise above the crown) times that
            # surface. SLOT: ends below their crown only
            y = head[up] - invert_up[p]
            if invert_up[p] <= node_invert[up] and (is_extran or y < d):
                more, held_more = lent_surface(s, y, d, w_mid, a_mid, quarter, sec_table, cutoff)
                lent[up] += more
                beyond[up] += held_more
            if down < m_count and invert_down[p] <= node_invert[down]:
                y = head[down] - invert_down[p]
                if is_extran or y < d:
                    more, held_more = lent_surface(s, y, d, w_mid, a_mid, quarter, sec_table, cutoff)
                    lent[down] += more
                    beyond[down] += held_more
        for m in range(m_count):
            lent[m] = max(lent[m], 0.0)
            # never more beyond the storage than the pipes hold above the half pipes at
            # the node's level, L/4·(A_mid - A_end) each: a node rising to its crowns
            # gives it back as its pipes fill (kept, it held test_drainage_swmm's
            # surcharged manhole A 0.2 m low)
            held[m] = min(held[m], beyond[m])
        # Regulators, implicit in the heads: a weir or an orifice between junctions of
        # SWMM's 1.17 m² would swing its nodes' levels from one step to the next if its
        # flow followed the heads at the step's start (dQ/dh·τ > A), so each takes the
        # flow at the heads its nodes will have at the step's end, linearised: with a =
        # τ·dQ/dh1/A1, b = τ·(-dQ/dh2)/A2 and N1, N2 the nodes' other net inflows,
        # Q = (Q0 + a·N1 - b·N2)/(1 + a + b) (backward Euler of dh/dt = (N - Q)/A; SWMM
        # reaches the same by its Picard iterations on the nodes' heads, dynwave.c, with
        # each regulator's dqdh, link.c).
        for r in range(reg_flow.shape[0]):
            up = reg_int[RI_UP, r]
            available = volume[up] + runoff[up] * tau if up < m_count else 0.0
            reg_flow[r] = regulator_flow(r, reg_int, reg_float, curve_ptr, curve_x, curve_y, reg_on, head,
                                         node_invert, depth, volume, available, tau, m_count)
        if reg_flow.shape[0]:
            for m in range(m_count):
                net[m] = runoff[m]
            for p in range(p_count):
                q = flow[p]
                net[pipe_up[p]] -= q
                if pipe_down[p] < m_count:
                    net[pipe_down[p]] += q
            # what each regulator can pass at most: what its inlet holds (the outflow
            # limit below cuts it so; a pump's curve at an empty wet well asks far more
            # than arrives, and the nodes downstream must not count on more)
            for r in range(reg_flow.shape[0]):
                up, down = reg_int[RI_UP, r], reg_int[RI_DOWN, r]
                q = reg_flow[r]
                cap[r] = math.inf
                if up < m_count:
                    cap[r] = (volume[up] + runoff[up] * tau) / tau
                    q = min(q, cap[r])
                if up < m_count:
                    net[up] -= q
                if down < m_count:
                    net[down] += q
        for r in range(reg_flow.shape[0]):
            up, down = reg_int[RI_UP, r], reg_int[RI_DOWN, r]
            q0 = reg_flow[r]
            counted = min(q0, cap[r])
            available = volume[up] + runoff[up] * tau if up < m_count else 0.0
            g_up, g_down = regulator_gain(r, reg_int, reg_float, curve_ptr, curve_x, curve_y, reg_on, head,
                                          node_invert, depth, volume, available, tau, m_count)
            if is_extran:
                reg_gain[0, r], reg_gain[1, r] = g_up, g_down
                if up < m_count:
                    dqdh[up] += g_up
                if down < m_count:
                    dqdh[down] += g_down
            a = g_up * tau / (surface[up] + lent[up]) if up < m_count and surface[up] + lent[up] > 0.0 else 0.0
            b = g_down * tau / (surface[down] + lent[down]) if down < m_count and surface[down] + lent[down] > 0.0 \
                else 0.0
            q = q0
            if a > 0.0 or b > 0.0:
                others_up = net[up] + counted if up < m_count else 0.0
                others_down = net[down] - counted if down < m_count else 0.0
                # a node full to its rim without a pond stays there (what rises above
                # floods): its head does not rise with what it gains
                if a > 0.0 and pond[up] <= 0.0 and depth[up] >= max_depth[up] and others_up > q0:
                    a = 0.0
                if b > 0.0 and pond[down] <= 0.0 and depth[down] >= max_depth[down] and others_down + q0 > 0.0:
                    b = 0.0
                q = (q0 + a * others_up - b * others_down) / (1.0 + a + b)
                # no reversal within a step (dwflow.c: a flow changes direction only
                # through zero), and none at all through a pump or a flap gate
                if q * q0 < 0.0 or (q < 0.0 and (reg_int[RI_KIND, r] == REG_PUMP or reg_int[RI_GATED, r])):
                    q = 0.0
                # asking more than its inlet holds even so (a pump at an empty wet well),
                # it is starved: the outflow limit shares what the inlet holds among its
                # outflows by what each asks, whatever the heads
                if q > cap[r]:
                    q = q0
                if up < m_count:
                    net[up] += counted - min(q, cap[r])
                if down < m_count:
                    net[down] += min(q, cap[r]) - counted
            reg_flow[r] = q
            if q > 0.0:
                if up < m_count:
                    leaving[up] += q
                else:
                    reg_flow[r] = 0.0
            elif q < 0.0:
                if down < m_count:
                    leaving[down] -= q
                else:
                    reg_flow[r] = 0.0
        # A node cannot give more than it holds: scale its outflows down if needed.
        for m in range(m_count):
            if is_extran:
                start[m] = volume[m]
            available = volume[m] + runoff[m] * tau
            demand = leaving[m] * tau
            # (a node emptied to round-off, -1e-17 m3, and asked nothing: no division)
            leaving[m] = max(available, 0.0) / demand if demand > available and demand > 0.0 else 1.0
            volume[m] = available
        # Node continuity: the exchange of water.
        for p in range(p_count):
            q = flow[p]
            down = pipe_down[p]
            if q > 0.0:
                q *= leaving[pipe_up[p]]
            elif q < 0.0 and down < m_count:
                q *= leaving[down]
            flow[p] = q
            q *= tau
            volume[pipe_up[p]] -= q
            if down < m_count:
                volume[down] += q
            else:
                outflow[down - m_count] += q
        for r in range(reg_flow.shape[0]):
            q = reg_flow[r]
            up, down = reg_int[RI_UP, r], reg_int[RI_DOWN, r]
            if q > 0.0:
                q *= leaving[up]
            elif q < 0.0:
                q *= leaving[down]
            reg_flow[r] = q
            q *= tau
            volume[up] -= q
            if down < m_count:
                volume[down] += q
            else:
                outflow[down - m_count] += q
        if is_extran:
            # SWMM's EXTRAN surcharge (dynwave.c setNodeDepth): a junction above the crown
            # of its highest link, and not ponded, keeps no storage of its own: its head
            # moves by corr·dQ/denom, dQ its net inflow and denom the Σ dQ/dh of its links
            # (the momentum's, dwflow.c; a regulator's, link.c), blended within a quarter
            # of the crown's depth above it from the surface it had at the crown (its
            # shaft and lent, SWMM's oldSurfArea) by exp(-15·(y - y_crown)/y_crown); never
            # below the crown, nor above a rim it cannot pond over. SWMM repeats this with
            # the flows of the new heads (Picard iterations, MAX_TRIALS 8, HEAD_TOLERANCE
            # 0.005 ft): here the heads of the surcharged junctions are iterated so with
            # their links' flows linearised, Q + dQ/dh·(Δh_up - Δh_down) (Gauss-Seidel),
            # then the links carry those flows (no reversal within the step) and their
            # ends' nodes exchange the difference. Taken once and explicit, a surcharged
            # junction is a mass between its pipes' water columns that rings
            # (SWMMExtCntrlModel.inp's J7, 1 m above SWMM's at 30 s ticks).
            # The correction is SWMM's over SWMM's own routing step (routing_step), where that is
            # longer than the sub-step: dQ/dh = g·A·Δt/L grows with the step, so SWMM moves
            # a surcharged head by as much as its flows can answer within one of its steps,
            # and the same correction over a shorter sub-step leaps further, each trial
            # asking the flows to balance within it (test_inlet_drains.inp's J2a: to its
            # 1.219 m rim at the router's sub-step, against SWMM's 1.040 m at its 15 s step;
            # 1.009 m so). Σ dQ/dh is scaled by Δt_SWMM/τ and the surface's term is
            # area/Δt_SWMM: the head follows at SWMM's pace over several sub-steps.
            surcharged = 0
            for m in range(m_count):
                lift[m] = math.nan
                crown_y = extran[EX_CROWN, m]
                if depth[m] > crown_y and not (pond[m] > 0.0 and depth[m] > max_depth[m]):
                    # over SWMM's step, not the sub-step: k = Δt_SWMM/τ (see above)
                    k = max(routing_step / tau, 1.0)
                    denom = dqdh[m] * k
                    if depth[m] < 1.25 * crown_y:
                        denom += ((surface[m] + lent[m]) / (tau * k) - dqdh[m] * k) * math.exp(
                            -15.0 * (depth[m] - crown_y) / crown_y)
                    if denom > 0.0:
                        lift[m] = 0.0
                        diag[m] = denom
                        resid[m] = (volume[m] - start[m]) / tau
                        surcharged += 1
            # the links at a surcharged junction, whose flows follow its head
            n_active = 0
            for p in range(p_count if surcharged else 0):
                down = pipe_down[p]
                if lift[pipe_up[p]] == lift[pipe_up[p]] or (down < m_count and lift[down] == lift[down]):
                    active[n_active] = p
                    n_active += 1
                    relax[p] = 0.0
            for r in range(reg_flow.shape[0] if surcharged else 0):
                reg_relax[r] = 0.0
            for trial in range(EXTRAN_TRIALS if surcharged else 0):
                # SWMM's trials (dynwave.c dynwave_execute): the first takes the flows at
                # the step's start heads; each later one the flows at the last heads,
                # linearised (Q + dQ/dh·(Δh_up - Δh_down)), under-relaxed towards the
                # last trial's by OMEGA (dwflow.c dwflow_findConduitFlow, dynwave.c
                # findNonConduitFlow: q = (1 - ω)·q_last + ω·q); then every surcharged
                # head moves by corr·dQ/denom from its last (setNodeDepth), dQ its net
                # inflow at those flows; converged after two trials when no head moved
                # more than the tolerance. The relaxation keeps a junction that leapt to
                # its rim high for a step or two as SWMM's does, pushing water back up
                # its other links (model_weir_setting.inp's C1 into J5).
                for m in range(m_count):
                    gained[m] = 0.0
                if trial > 0:
                    for k in range(n_active):
                        p = active[k]
                        up, down = pipe_up[p], pipe_down[p]
                        du = lift[up] if lift[up] == lift[up] else 0.0
                        dd = lift[down] if down < m_count and lift[down] == lift[down] else 0.0
                        relax[p] = (1.0 - EXTRAN_OMEGA) * relax[p] + EXTRAN_OMEGA * pipe_dqdh[p] * (du - dd)
                        gained[up] -= relax[p]
                        if down < m_count:
                            gained[down] += relax[p]
                    for r in range(reg_flow.shape[0]):
                        up, down = reg_int[RI_UP, r], reg_int[RI_DOWN, r]
                        du = lift[up] if up < m_count and lift[up] == lift[up] else 0.0
                        dd = lift[down] if down < m_count and lift[down] == lift[down] else 0.0
                        reg_relax[r] = (1.0 - EXTRAN_OMEGA) * reg_relax[r] + EXTRAN_OMEGA * (
                            reg_gain[0, r] * du - reg_gain[1, r] * dd)
                        if up < m_count:
                            gained[up] -= reg_relax[r]
                        if down < m_count:
                            gained[down] += reg_relax[r]
                worst = 0.0
                for m in range(m_count):
                    if lift[m] != lift[m]:
                        continue
                    y_new = depth[m] + lift[m] + extran[EX_CORR, m] * (resid[m] + gained[m]) / diag[m]
                    if y_new < extran[EX_CROWN, m]:
                        y_new = extran[EX_CROWN, m] - FUDGE
                    if pond[m] <= 0.0 and y_new > max_depth[m]:
                        y_new = max_depth[m]
                    worst = max(worst, abs(y_new - depth[m] - lift[m]))
                    lift[m] = y_new - depth[m]
                # (SWMM tests every node, and the ends of a surcharged junction's links
                # move with their first relaxed flows: not before the second)
                if trial > 1 and worst <= EXTRAN_HEAD_TOLERANCE:
                    break
            for m in range(m_count if surcharged else 0):
                if lift[m] == lift[m] and pond[m] > 0.0 and depth[m] + lift[m] > max_depth[m]:
                    lift[m] = math.nan  # it ponds: from its volume, below
            for p in range(p_count if surcharged else 0):
                up, down = pipe_up[p], pipe_down[p]
                du = lift[up] if lift[up] == lift[up] else 0.0
                dd = lift[down] if down < m_count and lift[down] == lift[down] else 0.0
                if du == 0.0 and dd == 0.0:
                    continue
                q = flow[p]
                change = relax[p]
                # no reversal within the step (dwflow.c: through zero first), but from a
                # flow no larger than SWMM gives out of a dry node (FUDGE)
                if q * (q + change) < 0.0 and abs(q) > DRY_FLOW:
                    change = -q
                # a node left to its storage gives no more than it holds
                if change > 0.0 and lift[up] != lift[up]:
                    change = min(change, max(volume[up], 0.0) / tau)
                elif change < 0.0 and down < m_count and lift[down] != lift[down]:
                    change = max(change, -max(volume[down], 0.0) / tau)
                flow[p] = q + change
                volume[up] -= change * tau
                if down < m_count:
                    volume[down] += change * tau
                else:
                    outflow[down - m_count] += change * tau
            for r in range(reg_flow.shape[0] if surcharged else 0):
                up, down = reg_int[RI_UP, r], reg_int[RI_DOWN, r]
                du = lift[up] if up < m_count and lift[up] == lift[up] else 0.0
                dd = lift[down] if down < m_count and lift[down] == lift[down] else 0.0
                if du == 0.0 and dd == 0.0:
                    continue
                q = reg_flow[r]
                change = reg_relax[r]
                if q * (q + change) < 0.0 or (q + change < 0.0 and (reg_int[RI_KIND, r] == REG_PUMP
                                                                      or reg_int[RI_GATED, r])):
                    change = -q
                if change > 0.0 and up < m_count and lift[up] != lift[up]:
                    change = min(change, max(volume[up], 0.0) / tau)
                elif change < 0.0 and down < m_count and lift[down] != lift[down]:
                    change = max(change, -max(volume[down], 0.0) / tau)
                reg_flow[r] = q + change
                if up < m_count:
                    volume[up] -= change * tau
                if down < m_count:
                    volume[down] += change * tau
                else:
                    outflow[down - m_count] += change * tau
        # Node depths: exact in the storage's linear piece around the last depth (most
        # nodes, most steps), else solved (storage_depth).
        for m in range(m_count):
            above_before = max(depth[m] - max_depth[m], 0.0)
            v = volume[m]
            if is_extran and lift[m] == lift[m]:
                # an EXTRAN surcharged junction (above): its head moved, its volume is its
                # storage there (node_getVolume) and what it gained beyond that floods
                # at its rim (getFloodedDepth: overflow = dV/dt) or is not kept (SWMM's
                # continuity error under EXTRAN)
                y_new = depth[m] + lift[m]
                if y_new >= max_depth[m] * (1.0 - 1e-12):  # at its rim (lift was cut there)
                    y_new = max_depth[m]
                    flooded[m] += max(volume[m] - start[m], 0.0)
                    intercept[m], surface[m], low[m], high[m] = storage(
                        m, max_depth[m] * (1.0 - 1e-12), max_depth, shaft, pond, end_ptr, end_offset,
                        end_diameter, end_capacity, end_section, sec_table, store_ptr, store_xy)
                elif not low[m] <= y_new <= high[m]:
                    intercept[m], surface[m], low[m], high[m] = storage(
                        m, y_new, max_depth, shaft, pond, end_ptr, end_offset, end_diameter, end_capacity,
                        end_section, sec_table, store_ptr, store_xy)
                depth[m] = y_new
                volume[m] = intercept[m] + surface[m] * y_new + held[m]
                head[m] = node_invert[m] + y_new
                leaving[m] = 0.0
                continue
            # the storage plus lent·depth holds, at the new depth, what the step brought
            # (volume beyond the storage, ``held``, grows by lent·(new depth - old))
            vs = v - held[m] + lent[m] * depth[m]
            full = full_volume[m] + lent[m] * max_depth[m]
            if pond[m] <= 0.0 and vs > full:
                # No ponding (SWMM's ALLOW_PONDING NO, or no ponded area): what rises
                # above the rim leaves the network for good, as SWMM's flooding does.
                flooded[m] += vs - full
                v -= vs - full
                volume[m] = v
                depth[m] = max_depth[m]
                intercept[m], surface[m], low[m], high[m] = storage(
                    m, max_depth[m] * (1.0 - 1e-12), max_depth, shaft, pond, end_ptr, end_offset, end_diameter,
                    end_capacity, end_section, sec_table, store_ptr, store_xy)
                held[m] = v - (intercept[m] + surface[m] * depth[m])
                head[m] = node_invert[m] + depth[m]
                leaving[m] = 0.0
                continue
            if v <= 0.0:
                vs = 0.0  # an empty node is dry, whatever it held beyond its storage
            if vs > 0.0:
                d = (vs - intercept[m]) / (surface[m] + lent[m]) if surface[m] + lent[m] > 0.0 else -1.0
                if not low[m] <= d <= high[m]:
                    d, intercept[m], surface[m], low[m], high[m] = storage_depth(
                        m, vs, d, full, max_depth, shaft, pond, end_ptr, end_offset, end_diameter,
                        end_capacity, end_section, sec_table, store_ptr, store_xy, lent[m])
                depth[m] = d
            elif depth[m] != 0.0:
                depth[m], intercept[m], surface[m], low[m], high[m] = storage_depth(
                    m, vs, 0.0, full, max_depth, shaft, pond, end_ptr, end_offset, end_diameter, end_capacity,
                    end_section, sec_table, store_ptr, store_xy, lent[m])
            held[m] = v - (intercept[m] + surface[m] * depth[m])  # exact: the volume is the state
            rise = max(depth[m] - max_depth[m], 0.0) - above_before
            if rise > 0.0:
                flooded[m] += rise * pond[m]
            head[m] = node_invert[m] + depth[m]
            leaving[m] = 0.0
        due = peaks and (routing_step <= 0.0 or step_i == substeps - 1)
        if peaks and not due and math.floor((step_i + 1) * tau / routing_step + 1e-9) > marks:
            marks = math.floor((step_i + 1) * tau / routing_step + 1e-9)
            due = True
        if due:
            for m in range(m_count):
                peak_depth[m] = max(peak_depth[m], depth[m])
            for p in range(p_count):
                if abs(flow[p]) > abs(peak_flow[p]):
                    peak_flow[p] = flow[p]
    for m in range(m_count):
        stored[m] = volume[m] - pond[m] * max(depth[m] - max_depth[m], 0.0)
        settled[m] = depth[m]


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


#: the router's working arrays per manhole (RouterWork.manhole) and per pipe (RouterWork.pipe)
#: (``peak_depth`` and ``peak_flow``: the largest over the last tick's steps, route)
MANHOLE_WORK = ("runoff", "depth", "volume", "leaving", "intercept", "surface", "low", "high", "settled", "flooded",
                "stored", "lent", "held", "peak_depth")
(MW_RUNOFF, MW_DEPTH, MW_VOLUME, MW_LEAVING, MW_INTERCEPT, MW_SURFACE, MW_LOW, MW_HIGH, MW_SETTLED, MW_FLOODED,
 MW_STORED, MW_LENT, MW_HELD, MW_PEAK_DEPTH) = range(len(MANHOLE_WORK))
PIPE_WORK = ("flow", "open_fraction", "pipe_depth", "pipe_area", "peak_flow")
PW_FLOW, PW_OPEN_FRACTION, PW_PIPE_DEPTH, PW_PIPE_AREA, PW_PEAK_FLOW = range(len(PIPE_WORK))


class RouterWork:
    """The router's working arrays for one network (the names of MANHOLE_WORK and
    PIPE_WORK read as attributes), kept between ticks so that a tick allocates nothing.
    They carry no state: each tick overwrites them, but for each node's storage around
    the depth it ended at (a pure function of that depth, see route); what a node holds
    beyond it comes from the table's volume column each tick."""

    def __init__(self, net: Network) -> None:
        m, p, o = len(net.manhole_row), len(net.pipe_row), len(net.outfall_row)
        self.manhole = np.zeros((len(MANHOLE_WORK), m))
        self.manhole[MW_SETTLED] = np.nan  # no depth yet: the first tick evaluates every node's storage
        self.pipe = np.zeros((len(PIPE_WORK), p))
        self.head, self.outflow = np.zeros(m + o), np.zeros(o)
        #: each regulator's flow (m3/s) and each pump's state (1 on)
        self.reg_flow = np.zeros(len(net.reg_row))
        self.reg_on = net.reg_on.copy()

    def __getattr__(self, name: str) -> np.ndarray:
        if name in MANHOLE_WORK:
            return self.manhole[MANHOLE_WORK.index(name)]
        if name in PIPE_WORK:
            return self.pipe[PIPE_WORK.index(name)]
        raise AttributeError(f"RouterWork has no {name!r}")


@njit(cache=True, nogil=True)
def gather_inputs(manhole_row, pipe_row, nearest_gauge_row, use_gauges, rain_intensity, runoff_coefficient,
                  catchment_area, external_inflow, depth_in, flow_in, blockage, inflow, runoff, depth, flow,
                  open_fraction):  # pragma: no cover - compiled
    """The router's inputs from the table's columns (rows ``manhole_row``, ``pipe_row``).

    Each manhole takes the rain of its nearest gauge (when ``use_gauges``) and makes
    runoff C·i·A plus its ``external_inflow`` (m3/s: SWMM hydrology and inflows of an
    imported network), written to ``inflow`` and ``runoff``; ``depth`` (m, negative
    readings as 0), ``flow`` (m3/s) and ``open_fraction`` (1 - blockage clipped to
    [0, 1]) are copied out for the router. A depth or flow that is not a finite number,
    or a blockage that is not a number (the ingest rejects such readings; a script
    might not), counts as 0 rather than poisoning the network and its table lookups."""
    for k in range(manhole_row.shape[0]):
        r = manhole_row[k]
        if use_gauges:
            rain_intensity[r] = rain_intensity[nearest_gauge_row[k]]
        q = runoff_coefficient[r] * (rain_intensity[r] * MM_PER_HOUR) * (catchment_area[r] * HECTARE)
        e = external_inflow[r]
        if 0.0 < e < math.inf:
            q += e
        runoff[k] = q
        inflow[r] = q
        d = depth_in[r]
        depth[k] = d if 0.0 < d < math.inf else 0.0
    for k in range(pipe_row.shape[0]):
        r = pipe_row[k]
        q = flow_in[r]
        flow[k] = q if -math.inf < q < math.inf else 0.0
        b = blockage[r]
        open_fraction[k] = 1.0 - (b if 0.0 < b < 1.0 else (1.0 if b >= 1.0 else 0.0))


@njit(cache=True, nogil=True)
def publish(dt, manhole_row, pipe_row, outfall_row, node_invert, max_depth, crown, diameter, capacity, invert_down,
            pipe_down, outfall_pipe, tailwater, depth, flow, open_fraction, flooded, stored, pipe_depth, pipe_area,
            outflow, external_inflow, depth_out, head_out, crown_out, surcharged_out, ponded_out, flooding_out, volume_out, flow_out,
            fill_out, velocity_out, capacity_out, discharge_out, discharged_out, rain_remaining,
            rain_intensity):  # pragma: no cover - compiled
    """Write the router's results to the table's columns after a tick of ``dt`` s.

    Manholes: depth, head, crown, surcharged (head above the crown), ponded depth,
    flooding (m3/s over the tick), volume. Pipes: flow, fill y/D, velocity Q/A,
    capacity (Qfull of the open section). Outfalls: discharge (m3/s), discharged volume
    (m3, running total, with any ``external_inflow`` straight to the outfall), head (the
    tailwater or the depth of the last pipe) and depth.
    Then scripted rain (drainage.rain) runs down its clock after it fell this tick."""
    m_count = manhole_row.shape[0]
    for k in range(m_count):
        r = manhole_row[k]
        h = node_invert[k] + depth[k]
        depth_out[r] = depth[k]
        head_out[r] = h
        crown_out[r] = crown[k]
        surcharged_out[r] = h > crown[k]
        ponded_out[r] = max(depth[k] - max_depth[k], 0.0)
        flooding_out[r] = flooded[k] / dt
        volume_out[r] = stored[k]
        if rain_remaining[r] > 0.0:
            rain_remaining[r] = max(rain_remaining[r] - dt, 0.0)
            if rain_remaining[r] <= 0.0:
                rain_intensity[r] = 0.0
    for k in range(pipe_row.shape[0]):
        r = pipe_row[k]
        flow_out[r] = flow[k]
        fill_out[r] = pipe_depth[k] / diameter[k]
        velocity_out[r] = flow[k] / pipe_area[k] if pipe_area[k] > DRY_AREA else 0.0
        capacity_out[r] = open_fraction[k] * capacity[k]
    for o in range(outfall_row.shape[0]):
        r = outfall_row[o]
        direct = external_inflow[r] * dt if 0.0 < external_inflow[r] < math.inf else 0.0
        discharge_out[r] = (outflow[o] + direct) / dt
        discharged_out[r] += outflow[o] + direct
        head_out[r] = tailwater[o]
    # The outfall's water level: the tailwater, or the depth of its last pipe.
    for p in outfall_pipe:
        r = outfall_row[pipe_down[p] - m_count]
        head_out[r] = max(head_out[r], invert_down[p] + pipe_depth[p])
    for o in range(outfall_row.shape[0]):
        r = outfall_row[o]
        depth_out[r] = max(head_out[r] - node_invert[m_count + o], 0.0)


@njit(cache=True, nogil=True)
def drainage_tick(dt, substeps, use_gauges, nearest_gauge_row, manhole_row, pipe_row, outfall_row, outfall_pipe,
                  node_invert, tailwater, pipe_float, pipe_int, manhole_float, end_ptr, end_float, work_manhole,
                  work_pipe, head, outflow, rain_intensity, rain_remaining, runoff_coefficient, catchment_area,
                  external_inflow, blockage, depth_col, head_col, crown_col, surcharged_col, ponded_col, flooding_col, volume_col,
                  inflow_col, flow_col, fill_col, velocity_col, capacity_col, discharge_col,
                  discharged_col, reg_row, reg_int, reg_float, curve_ptr, curve_x, curve_y, reg_on,
                  reg_flow, losses, damping, pipe_section, end_section, sec_table, sec_inv, sec_scale, store_ptr,
                  store_xy, culvert_of, culvert, surcharge=SURCHARGE_SLOT,
                  extran=np.zeros((2, 0)), end_pipe=np.zeros(0, dtype=np.int64),
                  lateral=np.zeros(0), routing_step=0.0):  # pragma: no cover - compiled
    """One tick of the network on the table's columns (``*_col``, ``rain_*``, ...):
    gather_inputs, route, publish, in one call from Python, with the network
    (:class:`Network`) and the working arrays (:class:`RouterWork`) packed in rows;
    ``damping``, the sections, the storage curves, the culverts, ``surcharge``, ``extran``
    and ``end_pipe`` as :func:`route` takes them; ``lateral`` (m3/s per manhole, or
    empty), the street inlets' moves added to the runoff (:class:`InletSetup`);
    ``routing_step`` (s) as route takes it, for the peaks it keeps in the work rows and
    the EXTRAN heads."""
    runoff, depth, flow, open_fraction = work_manhole[MW_RUNOFF], work_manhole[MW_DEPTH], work_pipe[PW_FLOW], \
        work_pipe[PW_OPEN_FRACTION]
    flooded, stored = work_manhole[MW_FLOODED], work_manhole[MW_STORED]
    pipe_depth, pipe_area = work_pipe[PW_PIPE_DEPTH], work_pipe[PW_PIPE_AREA]
    diameter, invert_down, capacity = pipe_float[PF_DIAMETER], pipe_float[PF_INVERT_DOWN], pipe_float[PF_CAPACITY]
    max_depth, crown = manhole_float[MF_MAX_DEPTH], manhole_float[MF_CROWN]
    gather_inputs(manhole_row, pipe_row, nearest_gauge_row, use_gauges, rain_intensity, runoff_coefficient,
                  catchment_area, external_inflow, depth_col, flow_col, blockage, inflow_col, runoff, depth, flow, open_fraction)
    if lateral.shape[0] == runoff.shape[0]:
        for k in range(runoff.shape[0]):
            runoff[k] += lateral[k]
    held = work_manhole[MW_HELD]
    for k in range(manhole_row.shape[0]):
        held[k] = volume_col[manhole_row[k]]  # the water each manhole held (route)
    route(dt, substeps, runoff, depth, flow, open_fraction,
          max_depth, manhole_float[MF_FULL_VOLUME], manhole_float[MF_SHAFT_AREA], manhole_float[MF_PONDING_AREA],
          node_invert, tailwater, end_ptr, end_float[EF_OFFSET], end_float[EF_DIAMETER], end_float[EF_CAPACITY],
          pipe_int[PI_UP], pipe_int[PI_DOWN], pipe_float[PF_INVERT_UP], invert_down, diameter,
          pipe_float[PF_PER_DIAMETER], pipe_float[PF_GRAVITY], pipe_float[PF_FRICTION], pipe_float[PF_CONVEYANCE],
          pipe_float[PF_ROOT_PER_CONVEYANCE], pipe_float[PF_ROOT_PER_CRITICAL], pipe_int[PI_DOWN_END],
          pipe_int[PI_UP_DROP], head, work_manhole[MW_VOLUME], work_manhole[MW_SETTLED], work_manhole[MW_INTERCEPT],
          work_manhole[MW_SURFACE], work_manhole[MW_LOW], work_manhole[MW_HIGH], work_manhole[MW_LENT], work_manhole[MW_HELD],
          work_manhole[MW_LEAVING],
          outflow, flooded, stored, pipe_depth, pipe_area, reg_int, reg_float, curve_ptr, curve_x, curve_y, reg_on,
          reg_flow, losses, damping, pipe_section, end_section, sec_table, sec_inv, sec_scale, store_ptr, store_xy,
          culvert_of, culvert, surcharge, extran, end_pipe, work_manhole[MW_PEAK_DEPTH], work_pipe[PW_PEAK_FLOW],
          routing_step)
    for r in range(reg_row.shape[0]):
        flow_col[reg_row[r]] = reg_flow[r]
    publish(dt, manhole_row, pipe_row, outfall_row, node_invert, max_depth, crown, diameter, capacity, invert_down,
            pipe_int[PI_DOWN], outfall_pipe, tailwater, depth, flow, open_fraction, flooded, stored, pipe_depth,
            pipe_area, outflow, external_inflow, depth_col, head_col, crown_col, surcharged_col, ponded_col, flooding_col, volume_col,
            flow_col, fill_col, velocity_col, capacity_col, discharge_col, discharged_col, rain_remaining,
            rain_intensity)


@njit(cache=True, nogil=True)
def kinwave_tick(dt, substeps, use_gauges, nearest_gauge_row, manhole_row, pipe_row, outfall_row, outfall_pipe,
                 node_invert, tailwater, pipe_float, pipe_int, manhole_float, work_manhole, work_pipe, head, outflow,
                 order, y_full, a_full_of, q_full_of, sec_kind, sec_row, sec_geom, storage_node, kw_state, kw_volume, kw_inflow, rain_intensity, rain_remaining,
                 runoff_coefficient, catchment_area, external_inflow, blockage, depth_col, head_col, crown_col,
                 surcharged_col, ponded_col, flooding_col, volume_col, inflow_col, flow_col, fill_col, velocity_col,
                 capacity_col, discharge_col, discharged_col, reg_row, reg_int, reg_float, curve_ptr, curve_x, curve_y,
                 reg_on, reg_flow, seepage):  # pragma: no cover - compiled
    """:func:`drainage_tick` for a network routed by the kinematic wave
    (twin_drainage.kinwave, a file's ``FLOW_ROUTING KINWAVE``)."""
    runoff, depth, flow, open_fraction = work_manhole[MW_RUNOFF], work_manhole[MW_DEPTH], work_pipe[PW_FLOW], \
        work_pipe[PW_OPEN_FRACTION]
    flooded = work_manhole[MW_FLOODED]
    pipe_depth, pipe_area = work_pipe[PW_PIPE_DEPTH], work_pipe[PW_PIPE_AREA]
    diameter, invert_down, capacity = pipe_float[PF_DIAMETER], pipe_float[PF_INVERT_DOWN], pipe_float[PF_CAPACITY]
    max_depth, crown = manhole_float[MF_MAX_DEPTH], manhole_float[MF_CROWN]
    gather_inputs(manhole_row, pipe_row, nearest_gauge_row, use_gauges, rain_intensity, runoff_coefficient,
                  catchment_area, external_inflow, depth_col, flow_col, blockage, inflow_col, runoff, depth, flow,
                  open_fraction)
    route_kinwave(dt, substeps, runoff, depth, flow, order, pipe_int[PI_UP], pipe_int[PI_DOWN],
                  pipe_float[PF_INVERT_UP], invert_down, node_invert, y_full, pipe_float[PF_LENGTH], a_full_of,
                  q_full_of, sec_kind, sec_row, sec_geom, max_depth,
                  manhole_float[MF_SHAFT_AREA], manhole_float[MF_PONDING_AREA], storage_node, kw_state, reg_int,
                  reg_float, curve_ptr, curve_x, curve_y, reg_on, reg_flow, kw_volume, kw_inflow, head, outflow, flooded,
                  pipe_depth, pipe_area, seepage)
    for r in range(reg_row.shape[0]):
        flow_col[reg_row[r]] = reg_flow[r]
    publish(dt, manhole_row, pipe_row, outfall_row, node_invert, max_depth, crown, diameter, capacity, invert_down,
            pipe_int[PI_DOWN], outfall_pipe, tailwater, depth, flow, open_fraction, flooded, kw_volume, pipe_depth,
            pipe_area, outflow, external_inflow, depth_col, head_col, crown_col, surcharged_col, ponded_col,
            flooding_col, volume_col, flow_col, fill_col, velocity_col, capacity_col, discharge_col, discharged_col,
            rain_remaining, rain_intensity)


class KinwaveSetup:
    """What the kinematic wave needs beyond the network: the links' order, each conduit's
    full depth, area and flow (Manning, β = S^(1/2)/n) and section, which manholes are
    storage units, and its own state. ``sections``: pipe index -> the true section of a
    conduit the file gives a shape of twin_drainage.sections (shape, geom, barrels,
    roughness); the others are the network's circles."""

    def __init__(self, net: Network, storage: set[int], step: float,
                 sections: dict[int, dict] | None = None, min_slope: float = 0.0,
                 seepage: dict[int, dict] | None = None) -> None:
        from twin_drainage.kinwave import topological_order
        from twin_drainage.sections import A_FULL, FIELDS, KINDS, S_FULL, Y_FULL, geometry

        m, o, p = len(net.manhole_row), len(net.outfall_row), len(net.pipe_row)
        up = np.concatenate([net.pipe_int[PI_UP], net.reg_int[1]]) if len(net.reg_row) else net.pipe_int[PI_UP]
        down = np.concatenate([net.pipe_int[PI_DOWN], net.reg_int[2]]) if len(net.reg_row) else net.pipe_int[PI_DOWN]
        self.order = topological_order(up, down, m + o)
        # SWMM's conduit slope (link.c): the drop, at least MIN_DELTA_Z, over the horizontal
        # length, at least the file's MIN_SLOPE; its sign does not matter to the kinematic wave
        length = net.pipe_float[PF_LENGTH]
        drop = np.maximum(np.abs(net.pipe_float[PF_SLOPE]) * length, MIN_DELTA_Z)
        slope = np.where(drop < length, drop / np.sqrt(np.maximum(length ** 2 - drop ** 2, 1e-300)), drop / length)
        slope = np.maximum(slope, min_slope)
        self.beta = np.sqrt(slope) / net.pipe_float[PF_ROUGHNESS]
        diameter = net.pipe_float[PF_DIAMETER]
        self.y_full = diameter.copy()
        self.a_full = 0.25 * math.pi * diameter ** 2
        self.q_full = self.beta * self.a_full * (0.25 * diameter) ** (2.0 / 3.0)
        self.kind = np.zeros(p, dtype=np.int64)
        self.sec_row = np.full(p, -1, dtype=np.int64)
        rows = [np.zeros(FIELDS)]  # one row at least: the compiled code indexes it for circles too
        for k, sec in sorted((sections or {}).items()):
            g = geometry(sec["shape"], *sec["geom"])
            barrels = float(sec.get("barrels", 1.0))
            self.kind[k], self.sec_row[k] = KINDS[sec["shape"].upper()], len(rows)
            self.y_full[k] = g[Y_FULL]
            self.a_full[k] = barrels * g[A_FULL]
            self.q_full[k] = barrels * math.sqrt(slope[k]) / float(sec["roughness"]) * g[S_FULL]
            rows.append(g)
        self.sec_geom = np.array(rows)
        # storage units seeping into the soil (modified Green-Ampt, dry soil at the start)
        from twin_drainage.kinwave import SEEP_AREA, SEEP_FIELDS, SEEP_PARAMS, SEEP_STATE

        self.seepage = np.zeros((m, SEEP_FIELDS))
        for n, seep in (seepage or {}).items():
            self.seepage[n, SEEP_AREA] = float(seep["area"])
            self.seepage[n, SEEP_PARAMS:SEEP_STATE] = seep["params"]
            self.seepage[n, SEEP_STATE] = seep["params"][2]  # IMD = IMDmax
        self.storage_node = np.zeros(m, dtype=np.bool_)
        self.storage_node[list(storage)] = True
        self.state = np.zeros((6, p))
        self.volume = np.zeros(m)
        self.inflow = np.zeros(m + o)
        self.step = step


def swmm_source(world) -> tuple[dict, Path | None]:
    """What the SWMM importer recorded of the scene's file for the router
    (``data/hydrology.json``'s ``source``: routing, options, losses, outfall stages...)
    and that file's path; ``({}, None)`` for a scene without one."""
    import json

    root = getattr(world.scene, "root", None)
    path = None if root is None else root / "data" / "hydrology.json"
    if path is None or not path.is_file():
        return {}, None
    return json.loads(path.read_text(encoding="utf-8")).get("source", {}), path


def kinwave_setup(world, table, net: Network) -> KinwaveSetup | None:
    """The kinematic wave's set-up when the scene's SWMM file routes by it (its
    ``data/hydrology.json`` says FLOW_ROUTING KINWAVE), else None."""
    source, _ = swmm_source(world)
    if source.get("flow_routing") != "KINWAVE":
        return None
    index = {table.ids[r]: k for k, r in enumerate(net.manhole_row)}
    storage = {index[name] for name in source.get("storage_nodes", []) if name in index}
    pipe_index = {table.ids[r]: k for k, r in enumerate(net.pipe_row)}
    sections = {pipe_index[name]: sec for name, sec in source.get("sections", {}).items() if name in pipe_index}
    seepage = {index[name]: seep for name, seep in source.get("seepage", {}).items() if name in index}
    return KinwaveSetup(net, storage, max(float(source.get("routing_step", 30.0)), 1.0), sections,
                        float(source.get("min_slope", 0.0)), seepage)


def dynamic_sections(world) -> dict[str, dict]:
    """The pipes the scene's SWMM file routes by the dynamic wave in a section of their
    own (``data/hydrology.json``'s ``sections``, id -> shape, geom, barrels); none under
    the kinematic wave (KinwaveSetup takes them)."""
    source, _ = swmm_source(world)
    return {} if source.get("flow_routing") == "KINWAVE" else source.get("sections", {})


#: where an imported scene describes its pumps, weirs, orifices and outlets
REGULATORS_FILE = "data/regulators.json"


def regulator_specs(world) -> dict[str, dict]:
    """The scene's regulators (id -> parameters, twin_drainage.inp's records), if any."""
    import json

    root = getattr(world.scene, "root", None)
    path = None if root is None else root / REGULATORS_FILE
    if path is None or not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


class OutfallStages:
    """Outfalls whose stage varies (a SWMM TIMESERIES or TIDAL outfall): where they sit in
    the network's ``tailwater``, their stage records, and when the run started."""

    def __init__(self, net: Network, table, stages: dict[str, dict], start: float) -> None:
        index = {table.ids[r]: o for o, r in enumerate(net.outfall_row)}
        self.at = [(index[name], stage) for name, stage in stages.items() if name in index]
        self.start = start
        # SWMM sets a staged outfall to the stage or, above it, the smaller of the critical
        # and normal depths of its conduit (node.c outfall_setOutletDepth): a free end
        m = len(net.manhole_row)
        staged = np.zeros(len(net.outfall_row), dtype=np.bool_)
        staged[[o for o, _ in self.at]] = True
        down = net.pipe_int[PI_DOWN]
        into = down >= m
        net.pipe_int[PI_DOWN_END][into & staged[np.where(into, down - m, 0)]] = END_FREE

    def apply(self, tailwater: np.ndarray, now: float) -> None:
        """Set each staged outfall's tailwater to its stage at ``now`` (the tick's end)."""
        from twin_drainage.forcing import outfall_stage

        for o, stage in self.at:
            tailwater[o] = outfall_stage(stage, now - self.start)


def outfall_stages(world, table, net: Network, start: float) -> OutfallStages | None:
    """The staged outfalls of the scene's SWMM file (``data/hydrology.json``), or None."""
    stages = swmm_source(world)[0].get("outfall_stages", {})
    return OutfallStages(net, table, stages, start) if stages else None


#: rows of the links' losses array: entry, exit, average loss coefficients, any of them
#: (their sum), and a flap gate (1: no reverse flow)
LL_ENTRY, LL_EXIT, LL_AVERAGE, LL_ANY, LL_FLAP = range(5)


def link_losses(world, table, net: Network) -> np.ndarray:
    """(5, pipes) array of each pipe's [LOSSES] coefficients and flap gate from the
    scene's SWMM file (``data/hydrology.json``); zeros for a scene without one."""
    out = np.zeros((5, len(net.pipe_row)))
    source, _ = swmm_source(world)
    index = {table.ids[r]: k for k, r in enumerate(net.pipe_row)}
    for name, (k_in, k_out, k_avg) in source.get("losses", {}).items():
        if name in index:
            out[:4, index[name]] = k_in, k_out, k_avg, k_in + k_out + k_avg
    for name in source.get("flap_gates", []):
        if name in index:
            out[LL_FLAP, index[name]] = 1.0
    return out


def inertial_damping(world) -> int:
    """The scene's SWMM file's ``[OPTIONS] INERTIAL_DAMPING`` (``data/hydrology.json``) as a
    DAMPING_* code; a scene without one gets SWMM's default, PARTIAL."""
    source, path = swmm_source(world)
    damping = source.get("inertial_damping", "PARTIAL")
    if damping not in DAMPING:
        raise ValueError(f"{path}: source.inertial_damping {damping!r}; valid: NONE, PARTIAL, FULL")
    return DAMPING[damping]


def surcharge_method(world, table, net: Network) -> tuple[int, np.ndarray, np.ndarray]:
    """The scene's SWMM file's ``[OPTIONS] SURCHARGE_METHOD`` (``data/hydrology.json``) as a
    SURCHARGE_* code, and route's ``extran`` rows for it: per manhole the depth of the
    crown of its highest link (dynwave.c dynwave_init: pipes, and weirs and orifices at
    their crest plus their opening at both ends, link.c link_setParams; inf for a storage
    unit, which SWMM does not surcharge without a surcharge depth, or a node no link
    reaches) and 0.6 at a node no link flows into (dynwave.c setNodeDepth's correction
    for an upstream terminal node), else 1; and the network's ``end_pipe``. A scene
    without a SWMM file keeps SLOT."""
    source, path = swmm_source(world)
    method = source.get("surcharge_method", "SLOT")
    if method not in SURCHARGE:
        raise ValueError(f"{path}: source.surcharge_method {method!r}; valid: EXTRAN, SLOT")
    m = len(net.manhole_row)
    if SURCHARGE[method] != SURCHARGE_EXTRAN:
        return SURCHARGE_SLOT, np.zeros((2, 0)), np.zeros(0, dtype=np.int64)
    from twin_drainage.regulators import REG_ORIFICE, REG_WEIR, RF_CREST, RF_HEIGHT

    crown = np.zeros(m)
    reached = np.zeros(m, dtype=np.bool_)
    fed = np.zeros(m, dtype=np.bool_)
    for k in range(m):
        ends = slice(net.end_ptr[k], net.end_ptr[k + 1])
        if net.end_ptr[k + 1] > net.end_ptr[k]:
            crown[k] = float(np.max(net.end_offset[ends] + net.end_diameter[ends]))
            reached[k] = True
    down = net.pipe_int[PI_DOWN]
    fed[down[down < m]] = True
    for r in range(len(net.reg_row)):
        kind = net.reg_int[RI_KIND, r]
        top = net.reg_float[RF_CREST, r] + (net.reg_float[RF_HEIGHT, r] if kind in (REG_ORIFICE, REG_WEIR) else 0.0)
        for node in (net.reg_int[RI_UP, r], net.reg_int[RI_DOWN, r]):
            if node < m:
                crown[node] = max(crown[node], top)
                reached[node] = True
        if net.reg_int[RI_DOWN, r] < m:
            fed[net.reg_int[RI_DOWN, r]] = True
    index = {table.ids[r]: k for k, r in enumerate(net.manhole_row)}
    for name in source.get("storage_nodes", []):
        if name in index:
            reached[index[name]] = False
    crown = np.where(reached & (crown > 0.0), crown, np.inf)
    return SURCHARGE_EXTRAN, np.stack([crown, np.where(fed, 1.0, 0.6)]), net.end_pipe.astype(np.int64)


class InletSetup:
    """The scene's street inlets (``data/hydrology.json``'s ``inlets``, twin_drainage.inp
    _inlets) on the router's indices: each tick :meth:`step` works out what they capture
    from the street conduits' flows and their bypass nodes' depths at the tick's start
    and the capture nodes' overflow of the last tick (inlet.c inlet_findCapturedFlows,
    once per tick where SWMM does it once per routing step), as lateral flows per
    manhole."""

    def __init__(self, net: Network, table, usages: list[dict]) -> None:
        from twin_drainage import inlets as il

        manhole = {table.ids[r]: k for k, r in enumerate(net.manhole_row)}
        pipe = {table.ids[r]: k for k, r in enumerate(net.pipe_row)}
        self.ints = np.array([u["int"] for u in usages], dtype=np.int64)
        self.floats = np.array([u["float"] for u in usages], dtype=np.float64)
        ptr, xs, ys = [0], [], []
        for k, u in enumerate(usages):
            self.ints[k, il.I_PIPE] = pipe[u["pipe"]]
            self.ints[k, il.I_BYPASS], self.ints[k, il.I_CAPTURE] = manhole[u["bypass"]], manhole[u["capture"]]
            self.ints[k, il.I_CURVE] = -1
            if u.get("curve"):
                self.ints[k, il.I_CURVE] = len(ptr) - 1
                xs += [x for x, _ in u["curve"]]
                ys += [y for _, y in u["curve"]]
                ptr.append(len(xs))
        self.curve_ptr, self.curve_x, self.curve_y = np.array(ptr, dtype=np.int64), np.array(xs + [0.0]), \
            np.array(ys + [0.0])
        self.manhole_row, self.pipe_row = net.manhole_row, net.pipe_row
        self.lateral = np.zeros(len(net.manhole_row))
        self.captured = np.zeros(len(usages))

    def step(self, flow_col: np.ndarray, depth_col: np.ndarray, flooding_col: np.ndarray) -> np.ndarray:
        """The lateral flows (m3/s per manhole) the inlets move this tick."""
        from twin_drainage.inlets import captured_flows

        self.lateral[:] = 0.0
        depth = np.nan_to_num(depth_col[self.manhole_row])
        captured_flows(self.ints, self.floats, np.nan_to_num(flow_col[self.pipe_row]), np.maximum(depth, 0.0),
                       np.nan_to_num(flooding_col[self.manhole_row]), self.curve_ptr, self.curve_x, self.curve_y,
                       self.lateral, self.captured)
        return self.lateral


def inlet_setup(world, table, net: Network) -> InletSetup | None:
    """The scene's street inlets, or None when it has none."""
    usages = swmm_source(world)[0].get("inlets") or []
    return InletSetup(net, table, usages) if usages and len(net.pipe_row) else None


def file_routing_step(world) -> float:
    """The scene's SWMM file's ``ROUTING_STEP`` (s; 0 without a file): route() keeps its
    peaks at its marks (SWMM's statistics take each routing step) and, under EXTRAN,
    takes a surcharged head's correction over it."""
    return float(swmm_source(world)[0].get("routing_step", 0.0) or 0.0)


def router_step(world, table, net: Network) -> float:
    """The longest sub-step route() takes: the network's stable step (Network.stable_dt),
    but under SWMM's EXTRAN surcharge the file's own ROUTING_STEP where that is longer
    by no more than the factor 2 stable_dt keeps in hand. A surcharged junction's head
    moves by dQ/Σ(dQ/dh) and dQ/dh grows with the step (dwflow.c: g·A·Δt/L), so its
    surges depend on the step: model_weir_setting.inp's J1 leaps to its rim and pushes
    C1's backflow into J5 as SWMM's does at SWMM's 1 s step, and at half of it only
    half as much (0.0070 against 0.0139 m3/s at 0.5 s; stable_dt 0.86 s there, the weir
    C3 on J3's 1.17 m2, whose flow route() takes implicit in the heads)."""
    step = net.stable_dt
    own = file_routing_step(world)
    if surcharge_method(world, table, net)[0] == SURCHARGE_EXTRAN and step < own <= 2.0 * step:
        return own
    return step


def step_drainage(ctx):
    """One tick of the network: rain -> rational runoff -> local-inertial routing.

    Reads the attributes, ``rain_intensity``, ``rain_remaining``, ``blockage`` and the
    state ``depth`` (manholes) and ``flow`` (pipes), which sensors may have overwritten;
    writes every live field of the network (see plugin.py)."""
    t = ctx.table
    world = ctx.world
    net = world.memo(("drainage", "network", ctx.domain), lambda: build_network(
        t, {a.id: a.links for a in world.scene.assets.get(ctx.domain, [])}, regulator_specs(world),
        dynamic_sections(world), swmm_source(world)[0].get("storage_curves"), swmm_source(world)[0].get("culverts")))
    gauges = world.memo(("drainage", "gauges", ctx.domain), lambda: find_rain_gauges(world, ctx.domain, net))
    work = world.memo(("drainage", "router", ctx.domain), lambda: RouterWork(net))
    dt = ctx.dt
    c = t.columns
    kinematic = world.memo(("drainage", "kinwave", ctx.domain), lambda: kinwave_setup(world, t, net))
    stages = world.memo(("drainage", "stages", ctx.domain), lambda: outfall_stages(world, t, net, ctx.time - dt))
    if stages is not None:
        stages.apply(net.tailwater, ctx.time)
    if kinematic is not None:
        substeps = max(1, math.ceil(dt / kinematic.step - 1e-9))
        kinwave_tick(dt, substeps, len(gauges.gauge_row) > 0, gauges.nearest_gauge_row, net.manhole_row, net.pipe_row,
                     net.outfall_row, net.outfall_pipe, net.node_invert, net.tailwater, net.pipe_float, net.pipe_int,
                     net.manhole_float, work.manhole, work.pipe, work.head, work.outflow, kinematic.order,
                     kinematic.y_full, kinematic.a_full, kinematic.q_full, kinematic.kind, kinematic.sec_row,
                     kinematic.sec_geom, kinematic.storage_node, kinematic.state, kinematic.volume, kinematic.inflow,
                     c["rain_intensity"], c["rain_remaining"], c["runoff_coefficient"], c["catchment_area"],
                     c["external_inflow"], c["blockage"], c["depth"], c["head"], c["crown_elevation"], c["surcharged"],
                     c["ponded_depth"], c["flooding"], c["volume"], c["inflow"], c["flow"], c["fill"], c["velocity"],
                     c["capacity"], c["discharge"], c["discharged_volume"], net.reg_row, net.reg_int, net.reg_float,
                     net.curve_ptr, net.curve_x, net.curve_y, work.reg_on, work.reg_flow, kinematic.seepage)
        return
    step = world.memo(("drainage", "substep", ctx.domain), lambda: router_step(world, t, net))
    substeps = max(1, math.ceil(dt / step - 1e-9)) if len(net.pipe_row) else 1
    inlets = world.memo(("drainage", "inlets", ctx.domain), lambda: inlet_setup(world, t, net))
    lateral = inlets.step(c["flow"], c["depth"], c["flooding"]) if inlets is not None else NO_LATERAL
    drainage_tick(dt, substeps, len(gauges.gauge_row) > 0, gauges.nearest_gauge_row, net.manhole_row, net.pipe_row,
                  net.outfall_row, net.outfall_pipe, net.node_invert, net.tailwater, net.pipe_float, net.pipe_int,
                  net.manhole_float, net.end_ptr, net.end_float, work.manhole, work.pipe, work.head, work.outflow,
                  c["rain_intensity"], c["rain_remaining"], c["runoff_coefficient"], c["catchment_area"],
                  c["external_inflow"], c["blockage"],
                  c["depth"], c["head"], c["crown_elevation"], c["surcharged"], c["ponded_depth"], c["flooding"],
                  c["volume"], c["inflow"], c["flow"], c["fill"], c["velocity"], c["capacity"], c["discharge"],
                  c["discharged_volume"], net.reg_row, net.reg_int, net.reg_float, net.curve_ptr, net.curve_x,
                  net.curve_y, work.reg_on, work.reg_flow,
                  world.memo(("drainage", "losses", ctx.domain), lambda: link_losses(world, t, net)),
                  world.memo(("drainage", "damping", ctx.domain), lambda: inertial_damping(world)),
                  *((net.pipe_int[PI_SECTION], net.end_section) if len(net.sec_table) else (None, None)),
                  net.sec_table, net.sec_inv, net.sec_scale, net.store_ptr, net.store_xy, net.culvert_of, net.culvert,
                  *world.memo(("drainage", "surcharge", ctx.domain), lambda: surcharge_method(world, t, net)),
                  lateral, world.memo(("drainage", "routing_step", ctx.domain), lambda: file_routing_step(world)))


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
RAIN_WINDOW_S = tuple(window for _, window in RAIN_WINDOWS)
MARK_EVERY = 60.0  # s between marks of the cumulative rain


class RainHistory:
    """Cumulative rain (mm) at each rain gauge, marked every minute over the last 12 h.

    A rolling total over a window W is the cumulative rain now minus its value W ago,
    interpolated between the minute marks (exact for rain that is steady within each
    minute at the window's start; the last minute is always exact). The marks are a
    ring of ``keep`` rows, so a tick copies nothing."""

    def __init__(self, gauge_row: np.ndarray, start: float) -> None:
        self.gauge_row = gauge_row
        self.keep = int(RAIN_WINDOWS[-1][1] / MARK_EVERY) + 2
        self.total = np.zeros(len(gauge_row))
        self.times = np.zeros(self.keep)
        self.marks = np.zeros((self.keep, len(gauge_row)))
        self.times[0] = start
        #: marks held, and the ring's row of the oldest
        self.ring = np.array([1, 0], dtype=np.int64)
        self.next_mark = np.array([start + MARK_EVERY])
        self.since_scratch = np.zeros(len(gauge_row))

    def add(self, intensity: np.ndarray, now: float, dt: float) -> None:
        _rain_add(self.total, self.times, self.marks, self.ring, self.next_mark, np.arange(len(self.total)),
                  np.asarray(intensity, dtype=np.float64), now, dt)

    def since(self, now: float, window: float) -> np.ndarray:
        """Rain (mm) at each gauge in the ``window`` seconds up to ``now``."""
        out = np.empty(len(self.total))
        _rain_since(self.total, self.times, self.marks, self.ring, now, window, out)
        return out


@njit(cache=True, nogil=True)
def _rain_add(total, times, marks, ring, next_mark, rows, intensity, now, dt):  # pragma: no cover - compiled
    """Add ``intensity[rows]`` (mm/h) over ``dt`` s to the totals; mark them every minute."""
    for g in range(total.shape[0]):
        total[g] += intensity[rows[g]] * dt / 3600.0
    if now >= next_mark[0] - 1e-9:
        keep = times.shape[0]
        count, head = ring[0], ring[1]
        if count < keep:
            slot = (head + count) % keep
            ring[0] = count + 1
        else:  # the ring is full: the oldest mark goes
            slot = head
            ring[1] = (head + 1) % keep
        times[slot] = now
        marks[slot, :] = total
        next_mark[0] = now + MARK_EVERY


@njit(cache=True, nogil=True)
def _rain_since(total, times, marks, ring, now, window, out):  # pragma: no cover - compiled
    """Rain (mm) at each gauge in the ``window`` s up to ``now``, into ``out``."""
    keep = times.shape[0]
    count, head = ring[0], ring[1]
    t0 = now - window
    if t0 <= times[head]:
        for g in range(total.shape[0]):
            out[g] = total[g] - marks[head, g]
        return
    lo, hi = 0, count  # how many marks lie at or before t0 (a binary search in ring order)
    while lo < hi:
        mid = (lo + hi) // 2
        if times[(head + mid) % keep] <= t0:
            lo = mid + 1
        else:
            hi = mid
    k = lo - 1
    at = (head + k) % keep
    if k >= count - 1:
        span = max(now - times[at], 1e-12)
        for g in range(total.shape[0]):
            out[g] = total[g] - (marks[at, g] + (total[g] - marks[at, g]) * (t0 - times[at]) / span)
    else:
        after = (head + k + 1) % keep
        w = (t0 - times[at]) / (times[after] - times[at])
        for g in range(total.shape[0]):
            out[g] = total[g] - ((1.0 - w) * marks[at, g] + w * marks[after, g])


@njit(cache=True, nogil=True)
def rain_totals(total, times, marks, ring, next_mark, gauge_row, rain_intensity, now, dt, rain_1h, rain_3h,
                rain_6h, rain_12h, scratch):  # pragma: no cover - compiled
    """One tick of the rain totals: add the gauges' ``rain_intensity`` (mm/h) over ``dt``
    s, then write the rolling totals over 1, 3, 6 and 12 h (mm, never below 0) at the
    gauges' rows (RainHistory's arrays, updated in place)."""
    _rain_add(total, times, marks, ring, next_mark, gauge_row, rain_intensity, now, dt)
    for out, window in ((rain_1h, RAIN_WINDOW_S[0]), (rain_3h, RAIN_WINDOW_S[1]), (rain_6h, RAIN_WINDOW_S[2]),
                        (rain_12h, RAIN_WINDOW_S[3])):
        _rain_since(total, times, marks, ring, now, window, scratch)
        for g in range(gauge_row.shape[0]):
            out[gauge_row[g]] = max(scratch[g], 0.0)


def step_rain_totals(ctx):
    """Rolling rain totals over 1, 3, 6 and 12 h (mm) at each rain gauge (a manhole with
    a ``rain_intensity`` sensor), the inputs of the CMA rainstorm warning. Manholes
    without a gauge keep 0: a warning belongs to a gauge, not to every manhole."""
    t = ctx.table
    world = ctx.world
    net = world.memo(("drainage", "network", ctx.domain), lambda: build_network(
        t, {a.id: a.links for a in world.scene.assets.get(ctx.domain, [])}, regulator_specs(world),
        dynamic_sections(world), swmm_source(world)[0].get("storage_curves"), swmm_source(world)[0].get("culverts")))
    gauges = world.memo(("drainage", "gauges", ctx.domain), lambda: find_rain_gauges(world, ctx.domain, net))
    if not len(gauges.gauge_row):
        return
    h = world.memo(("drainage", "rain_history", ctx.domain), lambda: RainHistory(gauges.gauge_row, ctx.time - ctx.dt))
    columns = t.columns
    rain_totals(h.total, h.times, h.marks, h.ring, h.next_mark, h.gauge_row, columns["rain_intensity"], ctx.time,
                ctx.dt, columns["rain_1h"], columns["rain_3h"], columns["rain_6h"], columns["rain_12h"], h.since_scratch)


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
