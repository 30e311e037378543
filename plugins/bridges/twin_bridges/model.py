"""Bridge physics: traffic, beam response, frequency, streaming rainflow and Miner damage.

Units follow the state table: lengths in m, E in MPa, I in m^4, mass in kg/m, loads in
t (vehicles) or kN/m (distributed traffic), deflection in mm (downward positive),
strain in microstrain, stress in MPa, time in s. Sources are those of MODELS.md,
"Bridges"; each function names its own.

The step functions (``step_*``) are what the updaters call: plain Python that hands
whole columns to one Numba loop each, with a seed drawn from ``ctx.rng`` for the loops
that draw random numbers (see "random draws").

The loops run over a million spans a tick, so they keep to what a span costs least:
they draw their random numbers in the loop (no column of draws), call only helpers that
take scalars (a Numba call that takes an array counts a reference to it each time),
divide little, and the fatigue updater counts every span's samples in one call
(:func:`rainflow_count`). ``plugins/bridges/bench/step.py`` times them.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from twin import piecewise_risk

G = 9.81  # m/s^2
SECONDS_PER_YEAR = 365.25 * 86400.0

#: The daily cycles (traffic, deck temperature) keep China Standard Time, UTC+8 with no
#: daylight saving: the twin's clock is UTC epoch seconds, and the traffic profile and
#: the climate below are a Chinese city's.
LOCAL_UTC_OFFSET_HOURS = 8.0

#: Deck temperature: a daily cycle peaking mid-afternoon (Hefei, late autumn).
DECK_MEAN_TEMPERATURE = 14.0  # degC
DECK_DAILY_AMPLITUDE = 6.0  # degC
DECK_PEAK_HOUR = 15.0

#: Relative change of the first frequency per degC of deck temperature. Decks stiffen
#: when cold; -0.1 .. -0.3 %/degC is typical above freezing (Peeters & De Roeck 2001,
#: the Z24 bridge). The same value compensates measured frequencies in the kernel.
FREQUENCY_TEMPERATURE_COEFFICIENT = -0.0015  # 1/degC
REFERENCE_TEMPERATURE = 20.0  # degC, the design reference temperature

#: Light traffic per lane at the hourly peak, as a distributed load (about one 1.5 t
#: car per 25 m of lane), and its correlation time.
LANE_TRAFFIC_LOAD = 0.6  # kN/m
TRAFFIC_CORRELATION_TIME = 30.0  # s
#: Heavy vehicles entering a span, per lane, at the hourly peak.
TRUCKS_PER_LANE_PER_SECOND = 1.0 / 150.0

#: Typical urban hourly traffic profile (fraction of the peak hour), 00:00 .. 23:00.
HOURLY_TRAFFIC = np.array(
    [0.15, 0.10, 0.08, 0.08, 0.12, 0.30, 0.60, 0.90, 1.00, 0.85, 0.75, 0.75,
     0.70, 0.70, 0.75, 0.80, 0.90, 1.00, 0.95, 0.75, 0.60, 0.45, 0.30, 0.20]
)

#: Modal damping ratio of the first mode (steel-concrete composite girders).
DAMPING_RATIO = 0.02
#: Standard deviation of the ambient micro-tremor in the peak acceleration (m/s^2).
AMBIENT_TREMOR = 0.003

#: Days over which the fatigue damage rate is averaged for the projection.
DAMAGE_RATE_WINDOW = 7.0 * 86400.0  # s

#: Reversals the streaming rainflow counter keeps per span (its stack). The standard's
#: stack holds ranges that strictly decrease from its start, so it stays short on any
#: real signal; should it fill, the oldest range is counted as a half cycle at once (see
#: :func:`rainflow_count`).
RESIDUE_CAPACITY = 32


# -- closed forms ------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def midspan_deflection(length, flexural_rigidity, distributed_load, point_load, point_offset):
    """Midspan deflection (m) of a simply supported beam.

    Euler-Bernoulli closed forms (any structural handbook; MODELS.md): 5qL^4/(384EI)
    for the distributed load ``q`` (N/m) plus P·b·(3L^2 - 4b^2)/(48EI) for a point
    load ``P`` (N) at ``b`` (m) from the nearer support, which is PL^3/(48EI) at
    midspan. ``length`` L in m, ``flexural_rigidity`` EI in N·m^2.
    """
    b = min(point_offset, length - point_offset)
    b = max(b, 0.0)
    return (5.0 * distributed_load * length**4 / 384.0
            + point_load * b * (3.0 * length**2 - 4.0 * b * b) / 48.0) / flexural_rigidity


@njit(cache=True, nogil=True)
def midspan_moment(length, distributed_load, point_load, point_offset):
    """Midspan bending moment (N·m) of a simply supported beam: qL^2/8 + P·b/2 for a
    point load at ``b`` from the nearer support (PL/4 at midspan)."""
    b = max(min(point_offset, length - point_offset), 0.0)
    return distributed_load * length * length / 8.0 + point_load * b / 2.0


@njit(cache=True, nogil=True)
def natural_frequency(mode, length, flexural_rigidity, mass_per_length):
    """Natural frequency f_n (Hz) of a simply supported Euler-Bernoulli beam:
    f_n = (n^2·pi / (2L^2))·sqrt(EI/m), L in m, EI in N·m^2, m in kg/m (MODELS.md)."""
    return mode * mode * math.pi / (2.0 * length * length) * math.sqrt(flexural_rigidity / mass_per_length)


@njit(cache=True, nogil=True)
def impact_factor(frequency):
    """Dynamic impact factor mu of JTG D60-2015 §4.3.2 from the first frequency (Hz):
    0.05 below 1.5 Hz, 0.1767·ln f - 0.0157 up to 14 Hz, 0.45 above."""
    if frequency < 1.5:
        return 0.05
    if frequency > 14.0:
        return 0.45
    return 0.1767 * math.log(frequency) - 0.0157


#: EN 1993-1-9 §7.1's knees: the constant amplitude fatigue limit Δσd = (2/5)^(1/3)·Δσc
#: and the cut-off Δσl = (5/100)^(1/5)·Δσd (multiplied in this order, as fatpack does)
CONSTANT_AMPLITUDE_LIMIT = (2.0 / 5.0) ** (1.0 / 3.0)  # 0.7368
CUT_OFF = (5.0 / 100.0) ** 0.2  # 0.5493


@njit(cache=True, nogil=True)
def cycles_to_failure(stress_range, detail_category):
    """Endurance N of a constant-amplitude stress range (MPa) for a detail category
    Δσc (MPa), EN 1993-1-9 §7.1 (JTG D64-2015 uses the same categories):

    N = 2e6·(Δσc/Δσ)^3 down to Δσd = (2/5)^(1/3)·Δσc (= 0.737·Δσc),
    N = 5e6·(Δσd/Δσ)^5 down to the cut-off Δσl = (5/100)^(1/5)·Δσd (= 0.549·Δσd),
    no damage below (returns inf). (The powers as products: a call to pow costs more
    than the rest of a rainflow step.)
    """
    limit = CONSTANT_AMPLITUDE_LIMIT * detail_category
    if stress_range < CUT_OFF * limit or stress_range <= 0.0:
        return np.inf
    if stress_range >= limit:
        ratio = detail_category / stress_range
        return 2.0e6 * ratio * ratio * ratio
    ratio = limit / stress_range
    square = ratio * ratio
    return 5.0e6 * square * square * ratio


@njit(cache=True, nogil=True)
def half_cycle_damage(stress_range, detail_category):
    """Miner damage 0.5/N of half a cycle of ``stress_range`` (MPa), by
    :func:`cycles_to_failure`; 0 below the cut-off."""
    if stress_range < CUT_OFF * (CONSTANT_AMPLITUDE_LIMIT * detail_category):
        return 0.0
    return 0.5 / cycles_to_failure(stress_range, detail_category)


@njit(cache=True, nogil=True)
def miner_damage(stress_ranges, counts, detail_category):
    """Miner's sum D = sum n_i/N_i over stress ranges with their counts (EN 1993-1-9
    Annex A, Palmgren-Miner rule)."""
    total = 0.0
    for k in range(stress_ranges.shape[0]):
        total += counts[k] / cycles_to_failure(stress_ranges[k], detail_category)
    return total


# -- random draws ----------------------------------------------------------------------------
#
# A step draws one seed a tick from ctx.rng and hands it to its kernel, where each span
# draws from its own stream: SplitMix64 (Steele, Lea & Flood 2014, "Fast splittable
# pseudorandom number generators"), started at the span's place in the sequence the seed
# keys, as uniforms (53 bits) and standard normals (the ziggurat of Marsaglia & Tsang
# 2000 in the form Doornik 2005 gives it, 128 blocks). The same seed gives the same draws,
# whatever the order in which the spans are visited; no column of draws is built.

SPLITMIX_GAMMA = np.uint64(0x9E3779B97F4A7C15)
ZIGGURAT_R = 3.442619855899  # where the tail of the 128-block ziggurat starts
ZIGGURAT_AREA = 9.91256303526217e-3  # each block's area


def _ziggurat_edges() -> tuple[np.ndarray, np.ndarray]:
    """The blocks' right edges x_0 .. x_128 (x_0 = area / f(r), the base block's width
    with its tail; x_1 = r; x_128 = 0) for f(x) = exp(-x^2/2), and x_{i+1}/x_i."""
    x = np.zeros(129)
    x[0] = ZIGGURAT_AREA / math.exp(-0.5 * ZIGGURAT_R**2)
    x[1] = ZIGGURAT_R
    for i in range(2, 128):
        x[i] = math.sqrt(-2.0 * math.log(ZIGGURAT_AREA / x[i - 1] + math.exp(-0.5 * x[i - 1] ** 2)))
    return x, x[1:] / x[:-1]


ZIGGURAT_X, ZIGGURAT_RATIO = _ziggurat_edges()


@njit(cache=True, nogil=True, inline="always")
def splitmix(z):
    """SplitMix64's output function: a 64-bit hash of the state ``z`` (uint64)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True, inline="always")
def draw_stream(seed, span):
    """The state span ``span`` starts its draws from under the tick's ``seed``: a hash of
    the two (SplitMix64's output at the span's place in the seed's sequence)."""
    return splitmix(np.uint64(seed) + np.uint64(span) * SPLITMIX_GAMMA)


@njit(cache=True, nogil=True, inline="always")
def draw_uniform(state):
    """(u, next state): u uniform on [0, 1), 53 random bits."""
    state += SPLITMIX_GAMMA
    return float(np.int64(splitmix(state) >> np.uint64(11))) * (1.0 / 9007199254740992.0), state


@njit(cache=True, nogil=True, inline="always")
def draw_normal(state):
    """(x, next state): x standard normal, by the ziggurat (Doornik 2005, ZIGNOR): a
    draw u·x_i inside block i's rectangle under the next block is taken at once (98.8 %);
    else the base block's tail beyond r (Marsaglia 1964) or the wedge's test against
    f(x) = exp(-x^2/2)."""
    while True:
        state += SPLITMIX_GAMMA
        z = splitmix(state)
        i = int(z & np.uint64(127))
        u = 2.0 * float(np.int64(z >> np.uint64(11))) * (1.0 / 9007199254740992.0) - 1.0
        if abs(u) < ZIGGURAT_RATIO[i]:
            return u * ZIGGURAT_X[i], state
        if i == 0:
            while True:
                a, state = draw_uniform(state)
                b, state = draw_uniform(state)
                tail = -math.log(1.0 - a) / ZIGGURAT_R
                if -2.0 * math.log(1.0 - b) > tail * tail:
                    return (-(ZIGGURAT_R + tail) if u < 0.0 else ZIGGURAT_R + tail), state
        x = u * ZIGGURAT_X[i]
        inner = math.exp(-0.5 * (ZIGGURAT_X[i] ** 2 - x * x))
        outer = math.exp(-0.5 * (ZIGGURAT_X[i + 1] ** 2 - x * x))
        w, state = draw_uniform(state)
        if outer + w * (inner - outer) < 1.0:
            return x, state


@njit(cache=True, nogil=True)
def draw_normals(seed, out):
    """Fill ``out`` with span k's first normal in ``out[k]`` (for the tests)."""
    for k in range(out.shape[0]):
        out[k], _ = draw_normal(draw_stream(seed, k))


def tick_seed(rng: np.random.Generator) -> np.uint64:
    """The seed of one kernel call, from the step's generator (``ctx.rng``)."""
    return np.uint64(rng.integers(0, 2**63))


# -- streaming rainflow (ASTM E1049-85 §5.4.4) -------------------------------------------

@njit(cache=True, nogil=True)
def rainflow_reversal(x, phase, slope, candidate):
    """One sample ``x`` through a streaming counter's search for reversals, as ASTM
    E1049-85 §5.4.4 and the ``rainflow`` package find them: the first sample is one,
    equal consecutive samples are one plateau, and a sample is a reversal once the next
    different sample goes the other way.

    The counter's state: ``phase`` 0 before the first sample, 1 after it, 2 later (3
    once ended); ``slope`` the sign of the last change (-1, 0, 1); ``candidate`` the
    last sample, a reversal not yet confirmed. Returns the new (phase, slope, candidate)
    and (True, the reversal) when a reversal is confirmed, else (False, 0.0). Scalars
    only: the span loops call it once a sample at no cost beyond its arithmetic.
    """
    if phase == 0:
        return 1, 0, x, True, x
    if phase == 1:
        return 2, (1 if x > candidate else (-1 if x < candidate else 0)), x, False, 0.0
    if x == candidate:
        return phase, slope, candidate, False, 0.0
    # Compare signs, not the product of the changes: two tiny slopes multiply to an
    # underflowed 0 (which is what `rainflow` does, and where the two part).
    rising = x > candidate
    turned = (slope > 0 and not rising) or (slope < 0 and rising)
    return phase, (1 if rising else -1), x, turned, candidate


@njit(cache=True, nogil=True)
def rainflow_count(stack, count, candidate, slope, phase, settled, overflows, spans, samples, categories, counted,
                   end_span):
    """Feed ``samples[k]`` to span ``spans[k]``'s streaming rainflow counter, k = 0, 1, ...
    (each span's samples in time order), then end span ``end_span``'s history (if >= 0)
    as the standard does: its last sample is a reversal too (step 1 runs out of data).

    Span s's counter is its search for reversals (:func:`rainflow_reversal`: ``phase``,
    ``slope``, ``candidate``) and its stack ``stack[:count[s], s]``, a column a span so
    that a pass over the spans reads each level of their stacks in order. Each confirmed
    reversal goes on the stack and is counted by ASTM E1049-85 (2017) §5.4.4 (rainflow
    counting), steps 2-5: of the three most recent points, X is the newest range and Y
    the one before; while X >= Y, Y is counted: as one half cycle when it holds the
    starting point (the stack's first point, which is then discarded and the next point
    becomes the starting point), else as one full cycle (its peak and valley are
    discarded). Ties (X = Y) count, as in the standard. The ranges left on the stack
    are the half cycles of step 6, counted when the history ends.

    A full stack (``stack.shape[0]`` points) first counts its oldest range as a half
    cycle and discards its first point, as step 5 would (and adds one to
    ``overflows[0]``): the standard counts a range that holds the starting point as a
    half cycle whenever it goes, but might have let the starting range grow first.

    ``settled[s]`` is the Miner damage (EN 1993-1-9, :func:`half_cycle_damage`, for the
    detail category ``categories[s]`` > 0) of everything counted so far plus the stack's
    ranges as half cycles: a push opens one range; a full cycle B-C out of A B C D books
    two halves of BC and turns the open AB, BC, CD into AD; a half cycle moves an open
    half to the counted ones and changes nothing. Unless ``counted`` is None, each
    counted range goes to ``counted[0, n]`` with 1.0 or 0.5 in ``counted[1, n]``
    (``counted`` must hold one for each sample and each point on the stacks); returns n.
    """
    capacity = stack.shape[0]

    # a closure: it reaches the arrays without taking them as arguments, which would
    # cost a reference count at every reversal
    def push(s, reversal, category, n):
        c = int(count[s])
        if c == capacity:
            if counted is not None:
                counted[0, n] = abs(stack[1, s] - stack[0, s])
                counted[1, n] = 0.5
            n += 1
            for k in range(c - 1):
                stack[k, s] = stack[k + 1, s]
            c -= 1
            overflows[0] += 1
        if category > 0.0 and c > 0:
            opened = half_cycle_damage(abs(reversal - stack[c - 1, s]), category)
            if opened != 0.0:  # as good as always 0: spare the write
                settled[s] += opened
        stack[c, s] = reversal
        c += 1
        while c >= 3:
            x = abs(stack[c - 1, s] - stack[c - 2, s])
            y = abs(stack[c - 2, s] - stack[c - 3, s])
            if x < y:
                break
            if counted is not None:
                counted[0, n] = y
                counted[1, n] = 0.5 if c == 3 else 1.0
            n += 1
            if c == 3:
                stack[0, s] = stack[1, s]
                stack[1, s] = stack[2, s]
                c = 2
            else:
                if category > 0.0:
                    a = stack[c - 4, s]
                    d = stack[c - 1, s]
                    change = (half_cycle_damage(y, category) + half_cycle_damage(abs(d - a), category)
                              - half_cycle_damage(abs(stack[c - 3, s] - a), category)
                              - half_cycle_damage(x, category))
                    if change != 0.0:
                        settled[s] += change
                stack[c - 3, s] = stack[c - 1, s]
                c -= 2
        count[s] = c
        return n

    n = 0
    for k in range(samples.shape[0]):
        s = spans[k]
        phase[s], slope[s], candidate[s], confirmed, reversal = rainflow_reversal(samples[k], phase[s], slope[s],
                                                                                candidate[s])
        if confirmed:
            n = push(s, reversal, categories[s], n)
    if end_span >= 0 and phase[end_span] == 2:
        phase[end_span] = 3
        n = push(end_span, candidate[end_span], categories[end_span], n)
    return n


class RainflowState:
    """The streaming rainflow counters of a set of spans (:func:`rainflow_count`)."""

    def __init__(self, spans: int, capacity: int = RESIDUE_CAPACITY) -> None:
        if not 4 <= capacity <= 255:
            raise ValueError(f"a rainflow stack holds 4 to 255 points, not {capacity}")
        self.residue = np.zeros((capacity, spans), dtype=np.float64)
        self.count = np.zeros(spans, dtype=np.uint8)
        self.candidate = np.zeros(spans, dtype=np.float64)
        self.slope = np.zeros(spans, dtype=np.int8)
        self.phase = np.zeros(spans, dtype=np.int8)
        self.settled = np.zeros(spans, dtype=np.float64)
        self.overflows = np.zeros(1, dtype=np.int64)

    def _count(self, span: int, samples: np.ndarray, end: bool) -> tuple[np.ndarray, np.ndarray]:
        samples = np.ascontiguousarray(samples, dtype=np.float64)
        counted = np.empty((2, self.residue.shape[0] + len(samples) + 1))
        n = rainflow_count(self.residue, self.count, self.candidate, self.slope, self.phase, self.settled,
                           self.overflows, np.full(len(samples), span, dtype=np.int64), samples,
                           np.zeros(len(self.count)), counted, span if end else -1)
        return counted[0, :n].copy(), counted[1, :n].copy()

    def feed(self, span: int, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Feed ``samples`` of ``span``; the ranges and cycles (1.0 or 0.5) they counted."""
        return self._count(span, samples, end=False)

    def end(self, span: int) -> tuple[np.ndarray, np.ndarray]:
        """End ``span``'s history: what that counted, followed by the remaining stack's
        ranges as half cycles (step 6). The counter is spent."""
        ranges, cycles = self._count(span, np.zeros(0), end=True)
        halves = np.abs(np.diff(self.residue[: self.count[span], span]))
        return np.concatenate([ranges, halves]), np.concatenate([cycles, np.full(len(halves), 0.5)])


def stream_count(signal: np.ndarray, capacity: int = RESIDUE_CAPACITY,
                 chunks: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Count a whole history with the streaming counter, as ``rainflow.extract_cycles``
    counts it: feed ``signal`` in chunks of the sizes ``chunks`` (default: one sample at
    a time, as the updater does), then end it. Returns the ranges and their cycles (1.0
    full, 0.5 half) in the order the standard counts them."""
    signal = np.asarray(signal, dtype=np.float64)
    state = RainflowState(1, capacity)
    sizes = chunks if chunks is not None else [1] * len(signal)
    ranges, cycles, at = [], [], 0
    for size in sizes:
        r, c = state.feed(0, signal[at: at + size])
        ranges.append(r)
        cycles.append(c)
        at += size
    if at != len(signal):
        raise ValueError(f"chunks add up to {at} samples; the signal has {len(signal)}")
    r, c = state.end(0)
    return np.concatenate(ranges + [r]), np.concatenate(cycles + [c])


# -- fatigue at the detail -----------------------------------------------------------------
#
# The gauge's strain is the deck's bending (the girders' mean): by equilibrium it does not
# depend on where across the deck a load stands. The fatigue detail is on one girder, the
# edge girder under a kerb lane, which carries much more of a vehicle in that lane than an
# even share: ``girders · share`` times the deck's stress for that vehicle, the share by
# Courbon's method (see generate.py). Light traffic spreads over all lanes and reaches the
# detail at an even share. A heavy vehicle crosses a 15-40 m span in 1-5 s, so a 1 s tick
# sees its peak (at midspan) at best by chance: the fatigue updater rebuilds, for each
# tick, the vertices of the detail's stress history between the two samples from the
# crossing vehicles' influence line (the moment at midspan of a load P at b from the
# nearer support is P·b/2, PL/4 at midspan), and counts them all.

@njit(cache=True, nogil=True)
def truck_ahead(position, speed, dt):
    """Where a heavy vehicle at ``position`` (m) moving at ``speed`` (m/s) is ``dt`` s
    later: one expression for the traffic and the fatigue updaters, so that both see
    the same crossings (a vehicle has left a span once this is beyond its length)."""
    return position + speed * dt


@njit(cache=True, nogil=True)
def crossing_vertices(length, dt, load0, position0, speed0, share0, load1, position1, speed1, share1):
    """The vertices of one tick of a span's heavy-vehicle moment at midspan, strictly
    inside the tick: where it peaks (a vehicle at midspan) or starts and stops (a vehicle
    leaving or entering); between them, and to the tick's ends, it is linear in time.

    The vehicle on the span at the tick's start (``load0`` t, at ``position0`` m, at
    ``speed0`` m/s; 0 t for none) and the one at its end (``load1``, ...), as
    :func:`traffic_update` moves them: the same vehicle if the first has not left (then
    the second is ignored), else a vehicle that entered after it left. ``share0`` and
    ``share1`` weight each vehicle's moment (1 for the deck, girders·share for the
    detail). Returns, for the first vehicle at midspan, the first vehicle leaving, the
    second entering and the second at midspan (time order): whether it happens in the
    tick, when (a fraction of ``dt``) and the moment P·b/2 then (t·m, times the share).
    """
    middle = 0.5 * length
    at_middle0 = leaves = enters = at_middle1 = False
    t_middle0 = t_leaves = t_enters = t_middle1 = 0.0
    if load0 > 0.0:
        travel = speed0 * dt
        ahead = truck_ahead(position0, speed0, dt)
        at_middle0 = position0 < middle < ahead
        t_middle0 = (middle - position0) / travel
        leaves = ahead > length
        t_leaves = (length - position0) / travel
    if (leaves or load0 <= 0.0) and load1 > 0.0:
        travel = speed1 * dt
        enters = True
        t_enters = max(1.0 - position1 / travel, t_leaves if leaves else 0.0)
        at_middle1 = position1 > middle
        t_middle1 = 1.0 - (position1 - middle) / travel
    return ((at_middle0, leaves, enters, at_middle1), (t_middle0, t_leaves, t_enters, t_middle1),
            (share0 * load0 * middle / 2.0, 0.0, 0.0, share1 * load1 * middle / 2.0))


@njit(cache=True, nogil=True)
def lane_share(lane, near, far):
    """The detail's factor for a vehicle in ``lane``: ``near`` in the kerb lane on the
    detail's side (1), ``far`` in the opposite one (2), an even share (1) otherwise."""
    if lane == 1:
        return near
    if lane == 2:
        return far
    return 1.0


class FatigueState(RainflowState):
    """The fatigue updater's memory per span: its rainflow counter, and what the span
    carried at the last sample (the start of the tick it counts next)."""

    def __init__(self, spans: int, capacity: int = RESIDUE_CAPACITY) -> None:
        super().__init__(spans, capacity)
        self.truck_load = np.zeros(spans, dtype=np.float64)
        self.overload = np.zeros(spans, dtype=np.float64)
        #: the vehicle at the last sample: position (m), speed (m/s), lane; and the span's
        #: constants: length (m), MPa per t·m of midspan moment at full stiffness, the
        #: detail's factors for the near and far kerb lanes. A row a span (one cache
        #: line), for the few spans with a vehicle, which read them apart from the stream.
        self.motion = np.zeros((spans, 3), dtype=np.float64)
        self.constants = np.zeros((spans, 4), dtype=np.float64)
        #: one tick's samples for the counter, by span (at most a vehicle's four vertices
        #: and the sample; the pages are touched only as far as they are used)
        self.sample_spans = np.empty(5 * spans, dtype=np.int32)
        self.samples = np.empty(5 * spans, dtype=np.float64)
        self.categories = np.zeros(spans, dtype=np.float64)
        #: design life left when monitoring started (a)
        self.life_left = np.zeros(spans, dtype=np.float64)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The arrays :func:`fatigue_update` takes after the span's columns, in order."""
        return (self.residue, self.count, self.candidate, self.slope, self.phase, self.overflows, self.settled,
                self.truck_load, self.overload, self.motion, self.constants, self.sample_spans, self.samples,
                self.categories, self.life_left)


@njit(cache=True, nogil=True)
def fatigue_update(span_rows, strain, elastic_modulus, moment_of_inertia, fibre_distance, stiffness_factor, length,
                   girders, near_lane_share, far_lane_share, truck_load, truck_position, truck_speed, truck_lane,
                   overload, detail_category, design_life, service_age, initial_damage,
                   stack, count, candidate, slope, phase, overflows, settled,
                   last_load, last_overload, last_motion, constants, sample_spans, samples, categories, life_left,
                   time, dt, rate_window, stress, detail_stress, damage, rate, projected):
    """Stress at the gauge and at the fatigue detail, streaming rainflow and Miner damage
    of every span, for the tick that ended with the current sample.

    The gauge: stress = E·strain (MPa; Hooke). The detail: the gauge's stress split into
    the heavy vehicles' part (the crossing vehicle, P·b/2, and the overload, P·L/4,
    times y/(k·I); the same beam as :func:`response_update`) and the rest, the
    background; the detail takes the vehicles times ``girders · share`` (the crossing
    vehicle's lane by :func:`lane_share`; an overload stands in the kerb lane on the
    detail's side, ``near``) and the background as it is. Between the last sample and
    this one, the background and the overload are linear in time and the crossing
    vehicles follow their influence line exactly: the detail's stress at the vertices of
    :func:`crossing_vertices`, then at this sample, goes to the span's rainflow counter
    (:func:`rainflow_count`, once for all spans). The last sample's background is the
    last value the counter took (``candidate``) less its vehicles (``last_load``,
    ``last_overload``, ``last_motion``: what the span carried then). Without a heavy
    vehicle at either sample there is no vertex and the detail's stress is the gauge's.
    The span's static attributes the vehicles need go to ``constants`` at its first
    sample.

    ``damage`` is Miner's sum (EN 1993-1-9 §7, :func:`cycles_to_failure`), from
    ``initial_damage`` at the start of monitoring, over the cycles ASTM E1049 counts in
    the detail's history up to its last reversal, as if it ended there (step 6: the
    ranges still open are half cycles): the counter's ``settled`` damage, which starts
    at ``initial_damage``. So an overload, usually the largest cycle so far and one
    that stays open on the stack, counts once the stress turns after it; the stress
    since the last reversal (less than one rise or fall) counts once it turns. (The sum
    can dip by a few per cent of a cycle when a full cycle closes across the curve's
    knee at Δσd, where the open halves it replaces weighed a little more.) ``rate``
    (1/year) is the damage rate averaged over ``rate_window`` s, started at the
    service-history mean ``initial_damage / service_age``; ``projected`` is the damage
    at the end of the design life at that rate, ``time`` (s) having passed since
    monitoring started.

    In the truth the detail's history is exact (up to the light traffic, linear within
    a tick). In the twin the samples are the gauge's readings and the vehicles are its
    model's: a load the model does not know (the real trucks, an overload) reaches the
    detail at the deck's stress, without its lateral concentration or its peak between
    readings.
    """
    n = 0
    for s in range(span_rows.shape[0]):
        i = span_rows[s]
        sigma = elastic_modulus[i] * strain[i] * 1e-6
        stress[i] = sigma
        if phase[s] == 0:
            # A fresh counter starts from the damage the table holds when that is more
            # than the initial (a world restored from a recording's keyframe, a branch):
            # what was counted before stays counted. Its open ranges, already booked as
            # half cycles, are booked again when they close: conservative.
            start = max(initial_damage[i], damage[i])
            damage[i] = start
            settled[s] = start
            if not rate[i] > 0.0:
                rate[i] = initial_damage[i] / service_age[i] if service_age[i] > 0.0 else 0.0
            life_left[s] = design_life[i] - service_age[i]
            categories[s] = detail_category[i]
            constants[s, 0] = length[i]
            constants[s, 1] = G * 1e3 * fibre_distance[i] / moment_of_inertia[i] * 1e-6  # MPa/(t·m)
            constants[s, 2] = float(girders[i]) * near_lane_share[i]
            constants[s, 3] = float(girders[i]) * far_lane_share[i]
        detail = sigma
        load1, load0, heavy1, heavy0 = truck_load[i], last_load[s], overload[i], last_overload[s]
        if load1 > 0.0 or load0 > 0.0 or heavy1 > 0.0 or heavy0 > 0.0:
            L = constants[s, 0]
            per_moment = constants[s, 1] / stiffness_factor[i]
            near, far = constants[s, 2], constants[s, 3]
            position1, speed1, lane1 = truck_position[i], truck_speed[i], truck_lane[i]
            position0, speed0, lane0 = last_motion[s, 0], last_motion[s, 1], int(last_motion[s, 2])
            share1 = lane_share(lane1, near, far)
            truck1 = load1 * max(min(position1, L - position1), 0.0) / 2.0
            over1 = heavy1 * L / 4.0
            background = sigma - (truck1 + over1) * per_moment
            detail = background + (share1 * truck1 + near * over1) * per_moment
            if phase[s] != 0:
                share0 = lane_share(lane0, near, far)
                truck0 = load0 * max(min(position0, L - position0), 0.0) / 2.0
                over0 = heavy0 * L / 4.0
                b0 = candidate[s] - (share0 * truck0 + near * over0) * per_moment
                happens, when, moment = crossing_vertices(L, dt, load0, position0, speed0, share0, load1, position1,
                                                          speed1, share1)
                for k in range(4):
                    if happens[k]:
                        f = when[k]
                        sample_spans[n] = s
                        samples[n] = b0 + (background - b0) * f + (near * (over0 + (over1 - over0) * f)
                                                                   + moment[k]) * per_moment
                        n += 1
            last_load[s] = load1
            last_overload[s] = heavy1
            last_motion[s, 0] = position1
            last_motion[s, 1] = speed1
            last_motion[s, 2] = lane1
        detail_stress[i] = detail
        sample_spans[n] = s
        samples[n] = detail
        n += 1

    rainflow_count(stack, count, candidate, slope, phase, settled, overflows, sample_spans[:n], samples[:n],
                   categories, None, -1)

    weight = min(1.0, dt / rate_window)
    per_year = SECONDS_PER_YEAR / dt
    years = time / SECONDS_PER_YEAR
    for s in range(span_rows.shape[0]):
        i = span_rows[s]
        so_far = settled[s]
        added = so_far - damage[i]
        if added != 0.0:
            damage[i] = so_far
        rate[i] += (added * per_year - rate[i]) * weight
        projected[i] = so_far + rate[i] * max(0.0, life_left[s] - years)


# -- traffic, temperature, response --------------------------------------------------------

def local_hours(time: float) -> float:
    """Hours since midnight of 1970-01-01 in China Standard Time at clock ``time`` (UTC
    epoch seconds): its remainder by 24 is the hour of the day."""
    return LOCAL_UTC_OFFSET_HOURS + time / 3600.0


def traffic_factor(time: float) -> float:
    """Traffic as a fraction of the peak hour at clock ``time`` (UTC epoch seconds),
    interpolated hourly in a typical urban profile (two rush hours)."""
    hour = local_hours(time) % 24.0
    i = int(hour)
    w = hour - i
    return float((1.0 - w) * HOURLY_TRAFFIC[i] + w * HOURLY_TRAFFIC[(i + 1) % 24])


def deck_temperature(time: float) -> float:
    """Deck temperature (degC) of the daily cycle at clock ``time`` (UTC epoch seconds):
    a cosine with its maximum at DECK_PEAK_HOUR."""
    hour = local_hours(time)
    return DECK_MEAN_TEMPERATURE + DECK_DAILY_AMPLITUDE * math.cos(2.0 * math.pi * (hour - DECK_PEAK_HOUR) / 24.0)


@njit(cache=True, nogil=True)
def traffic_update(span_rows, length, lanes, time, dt, factor, seed, overload_until, traffic_load, truck_load,
                   truck_position, truck_speed, truck_lane, overload, vehicle_load):
    """Advance the traffic on each span by ``dt``, drawing from span s's stream under
    ``seed`` (:func:`draw_stream`).

    Light traffic is a distributed load (kN/m): an Ornstein-Uhlenbeck process around
    ``lanes · LANE_TRAFFIC_LOAD · factor`` (correlation time TRAFFIC_CORRELATION_TIME,
    30 % standard deviation; one standard normal draw a tick). Heavy vehicles arrive as
    a Poisson process (a uniform draw against the rate over the part of the tick the
    span is free), one at a time per span, and cross the span at constant speed. A
    vehicle that leaves during the tick frees the span for the rest of it; the next one
    can only enter after that. A vehicle that arrives is empty or laden, one half each,
    of gross weight 15 ± 4 t or 38 ± 6 t (normal, clipped to 3-49 t: 49 t is the legal
    limit of GB 1589-2016 for six-axle combinations), at 8-14 m/s (uniform), and keeps
    to the kerb lane of its direction (the right-hand lane, as Chinese traffic law
    requires of slow vehicles): the lane on the fatigue detail's side (``truck_lane``
    1) or the opposite one (2), one half each. A drill's overload (t) stays at midspan
    until ``overload_until``. ``vehicle_load`` is the heaviest vehicle on the span (t),
    as a weigh-in-motion station reports it.
    """
    decay = math.exp(-dt / TRAFFIC_CORRELATION_TIME)
    spread = math.sqrt(1.0 - decay * decay)
    # the chance of an arrival in a whole free tick, by the number of lanes (0-255)
    whole_tick = np.empty(256)
    for n in range(256):
        whole_tick[n] = 1.0 - math.exp(-float(n) * TRUCKS_PER_LANE_PER_SECOND * factor * dt)
    for s in range(span_rows.shape[0]):
        i = span_rows[s]
        draws = draw_stream(seed, s)
        noise, draws = draw_normal(draws)
        lane_count = float(lanes[i])  # a uint8 column: negate only as a float
        mean = lane_count * LANE_TRAFFIC_LOAD * factor
        q = mean + (traffic_load[i] - mean) * decay + 0.3 * mean * spread * noise
        traffic_load[i] = max(q, 0.0)
        free = dt  # seconds of this tick with no heavy vehicle on the span
        if truck_load[i] > 0.0:
            ahead = truck_ahead(truck_position[i], truck_speed[i], dt)
            if ahead > length[i]:
                free = dt - (length[i] - truck_position[i]) / truck_speed[i]
                truck_load[i] = 0.0
                truck_position[i] = 0.0
                truck_lane[i] = 0
            else:
                truck_position[i] = ahead
                free = 0.0
        if free > 0.0:
            if free == dt:
                probability = whole_tick[lanes[i]]
            else:
                probability = 1.0 - math.exp(-lane_count * TRUCKS_PER_LANE_PER_SECOND * factor * free)
            arrival, draws = draw_uniform(draws)
            if arrival < probability:
                laden, draws = draw_uniform(draws)
                weight, draws = draw_normal(draws)
                weight = 38.0 + 6.0 * weight if laden < 0.5 else 15.0 + 4.0 * weight
                speed, draws = draw_uniform(draws)
                side, draws = draw_uniform(draws)
                truck_load[i] = min(max(weight, 3.0), 49.0)
                truck_speed[i] = 8.0 + 6.0 * speed
                truck_lane[i] = 1 if side < 0.5 else 2
                # it entered at a uniform time within the free part of the tick
                truck_position[i] = arrival / probability * min(truck_speed[i] * free, length[i])
        if overload[i] > 0.0 and time >= overload_until[i]:
            overload[i] = 0.0
        vehicle_load[i] = max(truck_load[i], overload[i])


@njit(cache=True, nogil=True)
def temperature_update(span_rows, temperature, base, previous_base, dt, restart, seed):
    """Deck temperature of every span (degC): the daily cycle's ``base`` plus the span's
    own offset (sun, wind), a random walk pulled back by 2 % a tick with steps of
    0.05 degC per sqrt(s) (one standard normal draw a tick, span s's stream under
    ``seed``). The offset is what the temperature was above ``previous_base``, the
    cycle at the last tick; 0 on ``restart``."""
    step = 0.05 * math.sqrt(dt)
    for s in range(span_rows.shape[0]):
        i = span_rows[s]
        noise, _ = draw_normal(draw_stream(seed, s))
        offset = 0.0 if restart else temperature[i] - previous_base
        temperature[i] = base + 0.98 * offset + step * noise


@njit(cache=True, nogil=True)
def response_update(span_rows, length, elastic_modulus, moment_of_inertia, mass_per_length, fibre_distance,
                    stiffness_factor, traffic_load, truck_load, truck_position, overload, temperature,
                    tremor, seed, dt, deflection, strain, frequency, acceleration):
    """Static response and first frequency of each span, a simply supported beam.

    deflection (mm) by :func:`midspan_deflection`, strain at the gauged fibre (µε) =
    M·y/(k·E·I) with M by :func:`midspan_moment`, for the light traffic (kN/m), the
    crossing vehicle (t, at its position) and the overload (t, at midspan); k is the
    stiffness factor (1 intact, lower when damaged). First frequency (Hz) by
    :func:`natural_frequency` on k·EI, shifted by the deck temperature
    (FREQUENCY_TEMPERATURE_COEFFICIENT). Peak vertical acceleration (m/s^2): the
    crossing vehicle excites the first mode with amplitude (2·pi·f)^2·mu·delta
    (mu the JTG D60-2015 impact factor, delta its static deflection), which decays
    with DAMPING_RATIO; the ambient micro-tremor adds |``tremor`` (m/s^2) times a
    standard normal draw| (span s's stream under ``seed``).

    The closed forms are written out here with one division by EI and one for the
    frequency: a division costs more than the rest of a span's arithmetic.
    """
    for s in range(span_rows.shape[0]):
        i = span_rows[s]
        L = length[i]
        L2 = L * L
        EI = stiffness_factor[i] * elastic_modulus[i] * 1e6 * moment_of_inertia[i]
        flexibility = 1.0 / EI
        q = traffic_load[i] * 1e3
        truck = truck_load[i] * 1e3 * G
        heavy = overload[i] * 1e3 * G
        b = max(min(truck_position[i], L - truck_position[i]), 0.0)
        # Pb(3L² - 4b²)/48EI for the vehicle, 5qL⁴/384EI + P·L³/48EI for the rest
        truck_delta = truck * b * (3.0 * L2 - 4.0 * b * b) * (1.0 / 48.0) * flexibility
        delta = (q * L2 * L2 * (5.0 / 384.0) + heavy * L2 * L * (1.0 / 48.0)) * flexibility + truck_delta
        moment = q * L2 * 0.125 + truck * b * 0.5 + heavy * L * 0.25  # qL²/8 + Pb/2 + PL/4
        deflection[i] = delta * 1e3
        strain[i] = moment * fibre_distance[i] * flexibility * 1e6
        # (pi / 2L²)·sqrt(EI/m)
        f = 0.5 * math.pi * math.sqrt(EI / (mass_per_length[i] * L2 * L2))
        f *= 1.0 + FREQUENCY_TEMPERATURE_COEFFICIENT * (temperature[i] - REFERENCE_TEMPERATURE)
        frequency[i] = f
        omega = 2.0 * math.pi * f
        excited = 0.0
        if truck > 0.0:
            excited = omega * omega * impact_factor(f) * truck_delta
        decayed = acceleration[i] * math.exp(-omega * DAMPING_RATIO * dt)
        ambient, _ = draw_normal(draw_stream(seed, s))
        acceleration[i] = max(decayed, excited) + abs(tremor * ambient)


def step_traffic(ctx) -> None:
    t = ctx.table
    traffic_update(span_rows(ctx), t["length"], t["lanes"], ctx.time, ctx.dt, traffic_factor(ctx.time),
                   tick_seed(ctx.rng), t["overload_until"], t["traffic_load"], t["truck_load"], t["truck_position"],
                   t["truck_speed"], t["truck_lane"], t["overload"], t["vehicle_load"])


def step_temperature(ctx) -> None:
    """Deck temperature of every span: the daily cycle (DECK_* constants) and the span's
    own random walk around it (:func:`temperature_update`)."""
    first = ctx.time - ctx.dt <= monitoring_start(ctx)
    temperature_update(span_rows(ctx), ctx.table["temperature"], deck_temperature(ctx.time),
                       deck_temperature(ctx.time - ctx.dt), ctx.dt, first, tick_seed(ctx.rng))


def step_response(ctx) -> None:
    t = ctx.table
    response_update(span_rows(ctx), t["length"], t["elastic_modulus"], t["moment_of_inertia"], t["mass_per_length"],
                    t["fibre_distance"], t["stiffness_factor"], t["traffic_load"], t["truck_load"],
                    t["truck_position"], t["overload"], t["temperature"], AMBIENT_TREMOR, tick_seed(ctx.rng), ctx.dt,
                    t["deflection"], t["strain"], t["frequency"], t["acceleration"])
    piers = ctx.world.memo(("bridge", "pier_rows"), lambda: ctx.table.rows("pier"))
    # Piers settle over years, not seconds: the truth holds the last survey's value.
    t["settlement"][piers] = t["surveyed_settlement"][piers]


def step_fatigue(ctx) -> None:
    """Runs first in the tick, on the strain as it stands from the last tick: in the
    twin that is the gauges' reading, so the damage follows the measured signal; it
    counts the tick that ended there (:func:`fatigue_update`)."""
    t = ctx.table
    rows = span_rows(ctx)
    state = ctx.world.memo(("bridge", "fatigue"), lambda: FatigueState(len(rows)))
    fatigue_update(rows, t["strain"], t["elastic_modulus"], t["moment_of_inertia"], t["fibre_distance"],
                   t["stiffness_factor"], t["length"], t["girders"], t["near_lane_share"], t["far_lane_share"],
                   t["truck_load"], t["truck_position"], t["truck_speed"], t["truck_lane"], t["overload"],
                   t["detail_category"], t["design_life"], t["service_age"], t["initial_damage"], *state.arrays(),
                   ctx.time - monitoring_start(ctx), ctx.dt, DAMAGE_RATE_WINDOW,
                   t["stress"], t["detail_stress"], t["fatigue_damage"], t["fatigue_rate"], t["fatigue_projected"])


def monitoring_start(ctx) -> float:
    """When monitoring started: the clock at the start of the first tick this world
    stepped (UTC epoch seconds), whatever instant the run's clock starts at."""
    return ctx.world.memo(("bridge", "monitoring_start"), lambda: ctx.time - ctx.dt)


def span_rows(ctx) -> np.ndarray:
    """Row numbers of the deck spans, built once per world (int32: every loop reads them)."""
    return ctx.world.memo(("bridge", "span_rows"), lambda: ctx.table.rows("span").astype(np.int32))


# -- risk ----------------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def bridge_risk(deflection, deflection_limit, strain, design_live_strain, frequency, temperature, design_frequency,
                fatigue_projected, settlement, settlement_limit,
                response_levels, frequency_levels, fatigue_levels, temperature_coefficient, reference_temperature,
                frequency_ratio, risk):
    """Risk in [0, 1] of each span or pier: the maximum over its indicators, each
    through :func:`twin.tick.risk.piecewise_risk` (MODELS.md, "Bridges").

    - deflection / limit (mm/mm; L/600, JTG 3362-2018) and strain / design live-load
      strain (µε/µε; JTG D60-2015 lane load) on ``response_levels``;
    - frequency ratio λ = f / (1 + α·(T - T_ref)) / f_design (JTG/T J21-2011),
      compensated for the deck temperature T (degC) with ``temperature_coefficient`` α,
      on the falling ``frequency_levels``; written to ``frequency_ratio``;
    - the projected Miner damage at the end of the design life on ``fatigue_levels``;
    - pier settlement / limit (mm/mm) on ``response_levels``.

    An indicator whose inputs are missing (zero limit, no frequency yet) is skipped.
    """
    for i in range(risk.shape[0]):
        r = piecewise_risk(fatigue_projected[i], fatigue_levels)
        if deflection_limit[i] > 0.0:
            r = max(r, piecewise_risk(deflection[i] / deflection_limit[i], response_levels))
        if design_live_strain[i] > 0.0:
            r = max(r, piecewise_risk(strain[i] / design_live_strain[i], response_levels))
        if settlement_limit[i] > 0.0:
            r = max(r, piecewise_risk(settlement[i] / settlement_limit[i], response_levels))
        if design_frequency[i] > 0.0 and frequency[i] > 0.0:
            compensated = frequency[i] / (1.0 + temperature_coefficient * (temperature[i] - reference_temperature))
            ratio = compensated / design_frequency[i]
            frequency_ratio[i] = ratio
            r = max(r, piecewise_risk(ratio, frequency_levels))
        risk[i] = r
