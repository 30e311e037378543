"""Bridge physics: traffic, beam response, frequency, streaming rainflow and Miner damage.

Units follow the state table: lengths in m, E in MPa, I in m^4, mass in kg/m, loads in
t (vehicles) or kN/m (distributed traffic), deflection in mm (downward positive),
strain in microstrain, stress in MPa, time in s. Sources are those of MODELS.md,
"Bridges"; each function names its own.

The step functions (``step_*``) are what the updaters call: plain Python that draws
its random numbers from ``ctx.rng`` and hands whole columns to one Numba loop each.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from twin import piecewise_risk

G = 9.81  # m/s^2
SECONDS_PER_YEAR = 365.25 * 86400.0

#: The simulation clock starts at 08:00 local time (the core has no time of day).
CLOCK_START_HOUR = 8.0

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

#: Days over which the fatigue damage rate is averaged for the projection.
DAMAGE_RATE_WINDOW = 7.0 * 86400.0  # s

#: Reversals the streaming rainflow counter keeps per span (its stack). The standard's
#: stack holds ranges that strictly decrease from its start, so it stays short on any
#: real signal; should it fill, the oldest range is counted as a half cycle at once (see
#: :func:`rainflow_push_reversal`).
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


@njit(cache=True, nogil=True)
def cycles_to_failure(stress_range, detail_category):
    """Endurance N of a constant-amplitude stress range (MPa) for a detail category
    Δσc (MPa), EN 1993-1-9 §7.1 (JTG D64-2015 uses the same categories):

    N = 2e6·(Δσc/Δσ)^3 down to Δσd = (2/5)^(1/3)·Δσc (= 0.737·Δσc),
    N = 5e6·(Δσd/Δσ)^5 down to the cut-off Δσl = (5/100)^(1/5)·Δσd (= 0.549·Δσd),
    no damage below (returns inf).
    """
    constant_amplitude_limit = (2.0 / 5.0) ** (1.0 / 3.0) * detail_category
    cut_off = (5.0 / 100.0) ** 0.2 * constant_amplitude_limit
    if stress_range < cut_off or stress_range <= 0.0:
        return np.inf
    if stress_range >= constant_amplitude_limit:
        return 2.0e6 * (detail_category / stress_range) ** 3
    return 5.0e6 * (constant_amplitude_limit / stress_range) ** 5


@njit(cache=True, nogil=True)
def half_cycle_damage(stress_range, detail_category):
    """Miner damage 0.5/N of half a cycle of ``stress_range`` (MPa), by
    :func:`cycles_to_failure`; 0 below the cut-off without computing N."""
    if stress_range < 0.4047 * detail_category:  # below the cut-off Δσl = 0.40472·Δσc for certain
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


# -- streaming rainflow (ASTM E1049-85 §5.4.4) -------------------------------------------

@njit(cache=True, nogil=True)
def rainflow_push_reversal(s, reversal, residue, count, ranges, cycles, n, overflows, settled, detail_category):
    """Put a confirmed ``reversal`` on span ``s``'s stack and count what it closes, by
    ASTM E1049-85 (2017) §5.4.4 (rainflow counting), steps 2-5: of the three most recent
    points, X is the newest range and Y the one before; while X >= Y, Y is counted:
    as one half cycle when it holds the starting point (the stack's first point, which
    is then discarded and the next point becomes the starting point), else as one full
    cycle (its peak and valley are discarded). Ties (X = Y) count, as in the standard.

    Each counted range goes to ``ranges[n]`` with 1.0 or 0.5 in ``cycles[n]``; returns
    the new ``n``. The ranges left on the stack are the half cycles of step 6, counted
    when the history ends. A full stack (``residue.shape[1]``) first counts its oldest
    range as a half cycle and discards its first point, as step 5 would, and adds one to
    ``overflows[0]``: the standard counts a range that holds the starting point as a half
    cycle whenever it goes, but might have let the starting range grow first.

    With ``detail_category`` > 0, ``settled[s]`` keeps the Miner damage (EN 1993-1-9,
    :func:`half_cycle_damage`) of everything counted plus the stack's ranges as half
    cycles, updated by what each step changes: a push opens one range; a full cycle
    B-C out of A B C D books 2 halves of BC and turns the open AB, BC, CD into AD; a
    half cycle moves an open half to the counted ones and changes nothing.
    """
    capacity = residue.shape[1]
    if count[s] == capacity:
        ranges[n] = abs(residue[s, 1] - residue[s, 0])
        cycles[n] = 0.5
        n += 1
        for k in range(capacity - 1):
            residue[s, k] = residue[s, k + 1]
        count[s] = capacity - 1
        overflows[0] += 1
    if detail_category > 0.0 and count[s] > 0:
        settled[s] += half_cycle_damage(abs(reversal - residue[s, count[s] - 1]), detail_category)
    residue[s, count[s]] = reversal
    count[s] += 1
    while count[s] >= 3:
        k = count[s]
        x = abs(residue[s, k - 1] - residue[s, k - 2])
        y = abs(residue[s, k - 2] - residue[s, k - 3])
        if x < y:
            break
        ranges[n] = y
        if k == 3:
            cycles[n] = 0.5
            residue[s, 0] = residue[s, 1]
            residue[s, 1] = residue[s, 2]
            count[s] = 2
        else:
            cycles[n] = 1.0
            if detail_category > 0.0:
                a = residue[s, k - 4]
                d = residue[s, k - 1]
                settled[s] += (half_cycle_damage(y, detail_category) + half_cycle_damage(abs(d - a), detail_category)
                               - half_cycle_damage(abs(residue[s, k - 3] - a), detail_category)
                               - half_cycle_damage(x, detail_category))
            residue[s, k - 3] = residue[s, k - 1]
            count[s] = k - 2
        n += 1
    return n


@njit(cache=True, nogil=True)
def confirms_reversal(slope, previous, x):
    """Whether sample ``x`` confirms the sample before it, ``previous`` (reached by a
    change of sign ``slope``), as a reversal: it goes the other way."""
    return (slope > 0 and x < previous) or (slope < 0 and x > previous)


@njit(cache=True, nogil=True)
def rainflow_add_sample(s, x, residue, count, candidate, slope, phase, ranges, cycles, n, overflows, settled,
                        detail_category):
    """Feed one sample ``x`` of span ``s`` to its streaming rainflow counter.

    Reversals are found online as ASTM E1049-85 §5.4.4 and the ``rainflow`` package
    find them: the first sample is one, equal consecutive samples are one plateau, and a
    sample is a reversal once the next different sample goes the other way; each goes
    to :func:`rainflow_push_reversal`, which appends what it counts to ``ranges`` and
    ``cycles`` from ``n`` on (and keeps ``settled`` with ``detail_category`` > 0).
    Returns the new ``n``.

    ``residue[s, :count[s]]`` is the span's stack; ``candidate[s]`` the last sample, a
    reversal not yet confirmed; ``slope[s]`` the sign of the last change (-1, 0, 1);
    ``phase[s]`` 0 before the first sample, 1 after it, 2 later, 3 once ended.
    """
    if phase[s] == 0:
        phase[s] = 1
        candidate[s] = x
        residue[s, 0] = x
        count[s] = 1
        return n
    if phase[s] == 1:
        phase[s] = 2
        if x > candidate[s]:
            slope[s] = 1
        elif x < candidate[s]:
            slope[s] = -1
        else:
            slope[s] = 0
        candidate[s] = x
        return n
    if x == candidate[s]:
        return n
    # Compare signs, not the product of the changes: two tiny slopes multiply to an
    # underflowed 0 (which is what `rainflow` does, and where the two part).
    if confirms_reversal(slope[s], candidate[s], x):
        n = rainflow_push_reversal(s, candidate[s], residue, count, ranges, cycles, n, overflows, settled,
                                   detail_category)
    slope[s] = 1 if x > candidate[s] else -1
    candidate[s] = x
    return n


@njit(cache=True, nogil=True)
def rainflow_add_samples(s, samples, residue, count, candidate, slope, phase, ranges, cycles, overflows):
    """Feed ``samples`` in order to span ``s``'s counter (:func:`rainflow_add_sample`);
    returns how many cycles went to ``ranges``/``cycles``, which must hold
    ``residue.shape[1] + len(samples)`` (each counted range discards at least one point
    of the stack, and each sample brings at most one)."""
    n = 0
    for k in range(samples.shape[0]):
        n = rainflow_add_sample(s, samples[k], residue, count, candidate, slope, phase, ranges, cycles, n, overflows,
                                ranges, 0.0)
    return n


@njit(cache=True, nogil=True)
def rainflow_end(s, residue, count, candidate, phase, ranges, cycles, overflows):
    """End span ``s``'s history as the standard does: its last sample is a reversal
    (step 1 runs out of data), pushed with what it closes; returns how many cycles went
    to ``ranges``/``cycles``. The stack that remains holds the half cycles of step 6."""
    if phase[s] != 2:
        return 0
    phase[s] = 3
    return rainflow_push_reversal(s, candidate[s], residue, count, ranges, cycles, 0, overflows, ranges, 0.0)


class RainflowState:
    """The streaming rainflow counters of a set of spans (one stack row each)."""

    def __init__(self, spans: int, capacity: int = RESIDUE_CAPACITY) -> None:
        self.residue = np.zeros((spans, capacity), dtype=np.float64)
        self.count = np.zeros(spans, dtype=np.int32)
        self.candidate = np.zeros(spans, dtype=np.float64)
        self.slope = np.zeros(spans, dtype=np.int8)
        self.phase = np.zeros(spans, dtype=np.int8)
        #: what one call counted: ranges and their cycles (1.0 full, 0.5 half)
        self.ranges = np.zeros(capacity + 8, dtype=np.float64)
        self.cycles = np.zeros(capacity + 8, dtype=np.float64)
        self.overflows = np.zeros(1, dtype=np.int64)

    def feed(self, span: int, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Feed ``samples`` of ``span``; the ranges and cycles (1.0 or 0.5) they counted."""
        samples = np.ascontiguousarray(samples, dtype=np.float64)
        size = self.residue.shape[1] + len(samples)
        ranges, cycles = np.empty(size), np.empty(size)
        n = rainflow_add_samples(span, samples, self.residue, self.count, self.candidate, self.slope, self.phase,
                                 ranges, cycles, self.overflows)
        return ranges[:n], cycles[:n]

    def end(self, span: int) -> tuple[np.ndarray, np.ndarray]:
        """End ``span``'s history (:func:`rainflow_end`); what that counted, followed by
        the remaining stack's ranges as half cycles (step 6). The counter is spent."""
        size = self.residue.shape[1] + 1
        ranges, cycles = np.empty(size), np.empty(size)
        n = rainflow_end(span, self.residue, self.count, self.candidate, self.phase, ranges, cycles, self.overflows)
        stack = self.residue[span, : self.count[span]]
        halves = np.abs(np.diff(stack))
        return np.concatenate([ranges[:n], halves]), np.concatenate([cycles[:n], np.full(len(halves), 0.5)])


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
def crossing_vertices(length, dt, load0, position0, speed0, share0, load1, position1, speed1, share1, when, moment):
    """The vertices of one tick of a span's heavy-vehicle moment at midspan, strictly
    inside the tick: where it peaks (a vehicle at midspan) or starts and stops (a vehicle
    leaving or entering); between them, and to the tick's ends, it is linear in time.

    The vehicle on the span at the tick's start (``load0`` t, at ``position0`` m, at
    ``speed0`` m/s; 0 t for none) and the one at its end (``load1``, ...), as
    :func:`traffic_update` moves them: the same vehicle if the first has not left (then
    the second is ignored), else a vehicle that entered after it left. ``share0`` and
    ``share1`` weight each vehicle's moment (1 for the deck, girders·share for the
    detail). Writes the vertices' times (fractions of ``dt``) to ``when`` and their
    moments P·b/2 (t·m, times the share) to ``moment``, in time order; returns how many
    (at most 4).
    """
    k = 0
    middle = 0.5 * length
    if load0 > 0.0:
        travel = speed0 * dt
        ahead = truck_ahead(position0, speed0, dt)
        if position0 < middle < ahead:
            when[k] = (middle - position0) / travel
            moment[k] = share0 * load0 * middle / 2.0
            k += 1
        if not ahead > length:
            return k
        when[k] = (length - position0) / travel
        moment[k] = 0.0
        k += 1
    if load1 > 0.0:
        travel = speed1 * dt
        when[k] = max(1.0 - position1 / travel, when[k - 1] if k > 0 else 0.0)
        moment[k] = 0.0
        k += 1
        if position1 > middle:
            when[k] = 1.0 - (position1 - middle) / travel
            moment[k] = share1 * load1 * middle / 2.0
            k += 1
    return k


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
        #: the stress not due to heavy vehicles (MPa): light traffic, in the twin also
        #: what its model does not explain of the gauge's reading
        self.background = np.zeros(spans, dtype=np.float64)
        self.truck_load = np.zeros(spans, dtype=np.float64)
        self.truck_position = np.zeros(spans, dtype=np.float64)
        self.truck_speed = np.zeros(spans, dtype=np.float64)
        self.truck_lane = np.zeros(spans, dtype=np.uint8)
        self.overload = np.zeros(spans, dtype=np.float64)
        #: Miner damage of what the counter has counted plus its stack's ranges as half
        #: cycles (see rainflow_push_reversal)
        self.settled = np.zeros(spans, dtype=np.float64)
        #: vertices of one tick (scratch)
        self.when = np.zeros(4, dtype=np.float64)
        self.moment = np.zeros(4, dtype=np.float64)


@njit(cache=True, nogil=True)
def fatigue_update(span_rows, strain, elastic_modulus, moment_of_inertia, fibre_distance, stiffness_factor, length,
                   girders, near_lane_share, far_lane_share, truck_load, truck_position, truck_speed, truck_lane,
                   overload, detail_category, design_life, service_age, initial_damage,
                   residue, count, candidate, slope, phase, ranges, cycles, overflows, settled,
                   last_background, last_load, last_position, last_speed, last_lane, last_overload, when, moment,
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
    (:func:`rainflow_add_sample`).

    ``damage`` is Miner's sum (EN 1993-1-9 §7, :func:`cycles_to_failure`), from
    ``initial_damage`` at the start of monitoring, over the cycles ASTM E1049 counts in
    the detail's history up to its last reversal, as if it ended there (step 6: the
    ranges still open are half cycles): the counter's ``settled`` damage. So an
    overload, usually the largest cycle so far and one that stays open on the stack,
    counts once the stress turns after it; the stress since the last reversal (less
    than one rise or fall) counts once it turns. (The sum can dip by a few per cent of
    a cycle when a full cycle closes across the curve's knee at Δσd, where the open
    halves it replaces weighed a little more.) ``rate``
    (1/year) is the damage rate averaged over ``rate_window`` s, started at the
    service-history mean ``initial_damage / service_age``; ``projected`` is the damage
    at the end of the design life at that rate.

    In the truth the detail's history is exact (up to the light traffic, linear within
    a tick). In the twin the samples are the gauge's readings and the vehicles are its
    model's: a load the model does not know (the real trucks, an overload) reaches the
    detail at the deck's stress, without its lateral concentration or its peak between
    readings.
    """
    for s in range(span_rows.shape[0]):
        i = span_rows[s]
        L = length[i]
        category = detail_category[i]
        per_moment = G * 1e3 * fibre_distance[i] / (stiffness_factor[i] * moment_of_inertia[i]) * 1e-6  # MPa/(t·m)
        sigma = elastic_modulus[i] * strain[i] * 1e-6
        stress[i] = sigma
        n_girders = float(girders[i])
        near = n_girders * near_lane_share[i]
        far = n_girders * far_lane_share[i]
        share = lane_share(truck_lane[i], near, far)
        b = min(truck_position[i], L - truck_position[i])
        truck_moment = truck_load[i] * max(b, 0.0) / 2.0
        overload_moment = overload[i] * L / 4.0
        background = sigma - (truck_moment + overload_moment) * per_moment
        detail = background + (share * truck_moment + near * overload_moment) * per_moment
        detail_stress[i] = detail
        if phase[s] == 0:
            damage[i] = initial_damage[i]
            rate[i] = initial_damage[i] / service_age[i] if service_age[i] > 0.0 else 0.0
        else:
            vertices = crossing_vertices(L, dt, last_load[s], last_position[s], last_speed[s],
                                         lane_share(last_lane[s], near, far), truck_load[i], truck_position[i],
                                         truck_speed[i], share, when, moment)
            b0 = last_background[s]
            o0 = last_overload[s] * L / 4.0
            for k in range(vertices):
                f = when[k]
                value = b0 + (background - b0) * f + (near * (o0 + (overload_moment - o0) * f) + moment[k]) * per_moment
                rainflow_add_sample(s, value, residue, count, candidate, slope, phase, ranges, cycles, 0, overflows,
                                    settled, category)
        rainflow_add_sample(s, detail, residue, count, candidate, slope, phase, ranges, cycles, 0, overflows, settled,
                            category)
        last_background[s] = background
        last_load[s] = truck_load[i]
        last_position[s] = truck_position[i]
        last_speed[s] = truck_speed[i]
        last_lane[s] = truck_lane[i]
        last_overload[s] = overload[i]
        so_far = initial_damage[i] + settled[s]
        added = so_far - damage[i]
        damage[i] = so_far
        weight = min(1.0, dt / rate_window)
        rate[i] += (added / dt * SECONDS_PER_YEAR - rate[i]) * weight
        remaining = max(0.0, design_life[i] - service_age[i] - time / SECONDS_PER_YEAR)
        projected[i] = damage[i] + rate[i] * remaining


# -- traffic, temperature, response --------------------------------------------------------

def traffic_factor(time: float) -> float:
    """Traffic as a fraction of the peak hour at clock ``time`` (s), interpolated
    hourly in a typical urban profile (two rush hours)."""
    hour = (CLOCK_START_HOUR + time / 3600.0) % 24.0
    i = int(hour)
    w = hour - i
    return float((1.0 - w) * HOURLY_TRAFFIC[i] + w * HOURLY_TRAFFIC[(i + 1) % 24])


def deck_temperature(time: float) -> float:
    """Deck temperature (degC) of the daily cycle at clock ``time`` (s): a cosine with
    its maximum at DECK_PEAK_HOUR."""
    hour = CLOCK_START_HOUR + time / 3600.0
    return DECK_MEAN_TEMPERATURE + DECK_DAILY_AMPLITUDE * math.cos(2.0 * math.pi * (hour - DECK_PEAK_HOUR) / 24.0)


@njit(cache=True, nogil=True)
def traffic_update(span_rows, length, lanes, time, dt, factor, noise, arrivals, weights, speeds, sides,
                   overload_until, traffic_load, truck_load, truck_position, truck_speed, truck_lane, overload,
                   vehicle_load):
    """Advance the traffic on each span by ``dt``.

    Light traffic is a distributed load (kN/m): an Ornstein-Uhlenbeck process around
    ``lanes · LANE_TRAFFIC_LOAD · factor`` (correlation time TRAFFIC_CORRELATION_TIME,
    30 % standard deviation; ``noise`` are standard normal draws). Heavy vehicles arrive
    as a Poisson process (``arrivals`` uniform draws against the rate over the part of
    the tick the span is free), one at a time per span, with gross weight ``weights``
    (t) and speed ``speeds`` (m/s), and cross the span at constant speed. A vehicle
    that leaves during the tick frees the span for the rest of it; the next one can
    only enter after that. Heavy vehicles keep to the kerb lane of their direction
    (the right-hand lane, as Chinese traffic law requires of slow vehicles): the lane
    on the fatigue detail's side (``truck_lane`` 1) or the opposite one (2), by
    ``sides`` uniform draws, one half each. A drill's overload (t) stays at midspan
    until ``overload_until``. ``vehicle_load`` is the heaviest vehicle on the span (t),
    as a weigh-in-motion station reports it.
    """
    decay = math.exp(-dt / TRAFFIC_CORRELATION_TIME)
    spread = math.sqrt(1.0 - decay * decay)
    for s in range(span_rows.shape[0]):
        i = span_rows[s]
        lane_count = float(lanes[i])  # a uint8 column: negate only as a float
        mean = lane_count * LANE_TRAFFIC_LOAD * factor
        q = mean + (traffic_load[i] - mean) * decay + 0.3 * mean * spread * noise[s]
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
            probability = 1.0 - math.exp(-lane_count * TRUCKS_PER_LANE_PER_SECOND * factor * free)
            if arrivals[s] < probability:
                truck_load[i] = weights[s]
                truck_speed[i] = speeds[s]
                truck_lane[i] = 1 if sides[s] < 0.5 else 2
                # it entered at a uniform time within the free part of the tick
                truck_position[i] = arrivals[s] / probability * min(truck_speed[i] * free, length[i])
        if overload[i] > 0.0 and time >= overload_until[i]:
            overload[i] = 0.0
        vehicle_load[i] = max(truck_load[i], overload[i])


@njit(cache=True, nogil=True)
def response_update(span_rows, length, elastic_modulus, moment_of_inertia, mass_per_length, fibre_distance,
                    stiffness_factor, traffic_load, truck_load, truck_position, overload, temperature,
                    ambient, dt, deflection, strain, frequency, acceleration):
    """Static response and first frequency of each span, a simply supported beam.

    deflection (mm) by :func:`midspan_deflection`, strain at the gauged fibre (µε) =
    M·y/(k·E·I) with M by :func:`midspan_moment`, for the light traffic (kN/m), the
    crossing vehicle (t, at its position) and the overload (t, at midspan); k is the
    stiffness factor (1 intact, lower when damaged). First frequency (Hz) by
    :func:`natural_frequency` on k·EI, shifted by the deck temperature
    (FREQUENCY_TEMPERATURE_COEFFICIENT). Peak vertical acceleration (m/s^2): the
    crossing vehicle excites the first mode with amplitude (2·pi·f)^2·mu·delta
    (mu the JTG D60-2015 impact factor, delta its static deflection), which decays
    with DAMPING_RATIO; ``ambient`` adds the micro-tremor (m/s^2).
    """
    for s in range(span_rows.shape[0]):
        i = span_rows[s]
        L = length[i]
        EI = stiffness_factor[i] * elastic_modulus[i] * 1e6 * moment_of_inertia[i]
        q = traffic_load[i] * 1e3
        truck = truck_load[i] * 1e3 * G
        heavy = overload[i] * 1e3 * G
        delta = (midspan_deflection(L, EI, q, truck, truck_position[i])
                 + midspan_deflection(L, EI, 0.0, heavy, 0.5 * L))
        moment = midspan_moment(L, q, truck, truck_position[i]) + midspan_moment(L, 0.0, heavy, 0.5 * L)
        deflection[i] = delta * 1e3
        strain[i] = moment * fibre_distance[i] / EI * 1e6
        f = natural_frequency(1, L, EI, mass_per_length[i])
        f *= 1.0 + FREQUENCY_TEMPERATURE_COEFFICIENT * (temperature[i] - REFERENCE_TEMPERATURE)
        frequency[i] = f
        omega = 2.0 * math.pi * f
        excited = omega * omega * impact_factor(f) * midspan_deflection(L, EI, 0.0, truck, truck_position[i])
        decayed = acceleration[i] * math.exp(-omega * DAMPING_RATIO * dt)
        acceleration[i] = max(decayed, excited) + abs(ambient[s])


def step_traffic(ctx) -> None:
    t = ctx.table
    rows = span_rows(ctx)
    n = len(rows)
    rng = ctx.rng
    noise = rng.standard_normal(n)
    arrivals = rng.random(n)
    # Gross vehicle weight (t): empty and laden trucks, capped at the 49 t legal limit
    # of GB 1589-2016 for six-axle combinations.
    laden = rng.random(n) < 0.5
    weights = np.clip(np.where(laden, rng.normal(38.0, 6.0, n), rng.normal(15.0, 4.0, n)), 3.0, 49.0)
    speeds = rng.uniform(8.0, 14.0, n)
    sides = rng.random(n)
    traffic_update(rows, t["length"], t["lanes"], ctx.time, ctx.dt, traffic_factor(ctx.time), noise, arrivals, weights,
                   speeds, sides, t["overload_until"], t["traffic_load"], t["truck_load"], t["truck_position"],
                   t["truck_speed"], t["truck_lane"], t["overload"], t["vehicle_load"])


def step_temperature(ctx) -> None:
    """Deck temperature of every span (daily cycle, DECK_* constants) with a small
    per-span random walk around it (sun, wind), 0.05 degC per sqrt(s)."""
    t = ctx.table
    rows = span_rows(ctx)
    base = deck_temperature(ctx.time)
    current = t["temperature"][rows]
    offset = np.where(ctx.time <= ctx.dt, 0.0, current - deck_temperature(ctx.time - ctx.dt))
    offset = 0.98 * offset + 0.05 * np.sqrt(ctx.dt) * ctx.rng.standard_normal(len(rows))
    t["temperature"][rows] = base + offset


def step_response(ctx) -> None:
    t = ctx.table
    rows = span_rows(ctx)
    ambient = 0.003 * ctx.rng.standard_normal(len(rows))
    response_update(rows, t["length"], t["elastic_modulus"], t["moment_of_inertia"], t["mass_per_length"],
                    t["fibre_distance"], t["stiffness_factor"], t["traffic_load"], t["truck_load"],
                    t["truck_position"], t["overload"], t["temperature"], ambient, ctx.dt,
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
                   t["detail_category"], t["design_life"], t["service_age"], t["initial_damage"],
                   state.residue, state.count, state.candidate, state.slope, state.phase, state.ranges, state.cycles,
                   state.overflows, state.settled, state.background, state.truck_load,
                   state.truck_position, state.truck_speed,
                   state.truck_lane, state.overload, state.when, state.moment, ctx.time, ctx.dt, DAMAGE_RATE_WINDOW,
                   t["stress"], t["detail_stress"], t["fatigue_damage"], t["fatigue_rate"], t["fatigue_projected"])


def span_rows(ctx) -> np.ndarray:
    """Row numbers of the deck spans, built once per world."""
    return ctx.world.memo(("bridge", "span_rows"), lambda: ctx.table.rows("span"))


# -- risk ----------------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def bridge_risk(deflection, deflection_limit, strain, design_live_strain, frequency, temperature, design_frequency,
                fatigue_projected, settlement, settlement_limit,
                response_levels, frequency_levels, fatigue_levels, temperature_coefficient, reference_temperature,
                frequency_ratio, risk):
    """Risk in [0, 1] of each span or pier: the maximum over its indicators, each
    through :func:`twin.risk.piecewise_risk` (MODELS.md, "Bridges").

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
