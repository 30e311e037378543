"""Miner damage on the EN 1993-1-9 curve against fatpack, and the fatigue updater against
rainflow + fatpack on stress histories written out here from the closed forms: a
vehicle's moment at midspan P·b/2 (PL/4 at midspan), σ = M·y/I, its share of it at the
detail, and where each vehicle is when."""

from __future__ import annotations

import math

import fatpack
import numpy as np
import pytest
import rainflow

from twin_bridges.model import SECONDS_PER_YEAR, FatigueState, cycles_to_failure, fatigue_update, miner_damage

G = 9.81
#: a 20 m span of the demo's kind: the whole deck's section, six girders, the detail on
#: the edge girder, whose shares of a vehicle in the kerb lane above it and in the
#: opposite one are Courbon's 1/6 ± 5.25·8.0/179.2
L, E, I, Y, GIRDERS = 20.0, 206_000.0, 0.15, 0.91, 6
NEAR, FAR = 1 / 6 + 5.25 * 8.0 / 179.2, 1 / 6 - 5.25 * 8.0 / 179.2


@pytest.mark.parametrize("category", [36.0, 56.0, 71.0, 90.0, 160.0])
def test_miner_sum_equals_fatpack_trilinear_curve(category):
    curve = fatpack.TriLinearEnduranceCurve(category)
    # ranges on all three branches, at the knees, and below the cut-off
    ranges = np.concatenate([
        np.linspace(0.1, 2.0, 40) * category,
        [curve.Sd, curve.Sl, curve.Sl * (1 - 1e-9), category],
    ])
    counts = np.arange(1, len(ranges) + 1, dtype=float) * 7.0
    expected = curve.find_miner_sum(np.c_[ranges, counts])
    assert miner_damage(ranges, counts, category) == pytest.approx(expected, rel=1e-12)


def test_endurance_knees_are_those_of_en_1993_1_9():
    # written from EN 1993-1-9 §7.1: N(Δσc) = 2e6, N(Δσd) = 5e6 with Δσd = 0.737Δσc,
    # N(Δσl) = 1e8 with Δσl = 0.549Δσd, nothing below
    c = 71.0
    assert cycles_to_failure(c, c) == pytest.approx(2e6, rel=1e-12)
    assert cycles_to_failure(0.737 * c, c) == pytest.approx(5e6, rel=2e-3)
    assert cycles_to_failure(1.001 * 0.549 * 0.737 * c, c) == pytest.approx(1e8, rel=1e-2)
    assert math.isinf(cycles_to_failure(0.54 * 0.737 * c, c))


class Spans:
    """The columns :func:`fatigue_update` reads and writes, for ``n`` spans, and its
    memory; a test sets the loads and the strain, then calls :meth:`tick`."""

    def __init__(self, n=1, category=71.0, life=100.0, age=20.0, initial=0.1, capacity=64):
        one = np.ones(n)
        self.rows = np.arange(n)
        self.length, self.E, self.I, self.y = L * one, E * one, I * one, Y * one
        self.stiffness = one.copy()
        self.girders = np.full(n, GIRDERS, dtype=np.uint8)
        self.near, self.far = NEAR * one, FAR * one
        self.category = np.broadcast_to(np.asarray(category, dtype=float), (n,)).copy()
        self.life = np.broadcast_to(np.asarray(life, dtype=float), (n,)).copy()
        self.age = np.broadcast_to(np.asarray(age, dtype=float), (n,)).copy()
        self.initial = np.broadcast_to(np.asarray(initial, dtype=float), (n,)).copy()
        self.strain, self.truck_load, self.truck_position, self.truck_speed, self.overload = (np.zeros(n) for _ in range(5))
        self.truck_lane = np.zeros(n, dtype=np.uint8)
        self.stress, self.detail_stress, self.damage, self.rate, self.projected = (np.zeros(n) for _ in range(5))
        self.state = FatigueState(n, capacity)

    def tick(self, time, dt=1.0, window=7 * 86400.0):
        st = self.state
        fatigue_update(self.rows, self.strain, self.E, self.I, self.y, self.stiffness, self.length, self.girders,
                       self.near, self.far, self.truck_load, self.truck_position, self.truck_speed, self.truck_lane,
                       self.overload, self.category, self.life, self.age, self.initial, *st.arrays(), time, dt, window,
                       self.stress, self.detail_stress, self.damage, self.rate, self.projected)


def reference_damage(history, category):
    """fatpack's Miner sum over the cycles `rainflow` counts in ``history`` (full and
    half: the history ends at its last sample). For two samples `rainflow` counts
    nothing (its reversals are then the first sample only); the standard counts their
    range as half a cycle."""
    history = np.asarray(history, dtype=float)
    if len(history) == 2:
        cycles = np.array([[abs(history[1] - history[0]), 0.5]])
    else:
        cycles = np.array([(r, n) for r, _, n, _, _ in rainflow.extract_cycles(history)])
    if not len(cycles):
        return 0.0
    return fatpack.TriLinearEnduranceCurve(category).find_miner_sum(cycles)


def up_to_last_reversal(history):
    """The history up to its last reversal that a later sample confirmed (the sample
    after which the stress goes the other way): what the updater has counted. `rainflow`
    takes the last sample for a reversal by definition; the one before is the last
    confirmed one."""
    points = list(rainflow.reversals(np.asarray(history, dtype=float)))
    return history[: points[-2][0] + 1] if len(points) >= 2 else history[:1]


def test_fatigue_damage_is_what_rainflow_and_fatpack_count_in_the_history_so_far():
    rng = np.random.default_rng(11)
    samples, spans = 3000, 2
    strain = rng.normal(0.0, 150.0, size=(samples, spans)).cumsum(axis=0) * 0.05 + rng.normal(0, 120.0, (samples, spans))
    # Ties with the first sample, as the simulation makes them (the stress starts at 0
    # and comes back to exactly 0 when the deck empties): ASTM counts those ranges as
    # half cycles. Span 0 starts at 0 and returns to it now and then.
    strain[0, 0] = 0.0
    strain[rng.choice(np.arange(2, samples - 2), 40, replace=False), 0] = 0.0
    category = np.array([71.0, 56.0])
    life, age, initial = np.array([100.0, 100.0]), np.array([20.0, 10.0]), np.array([0.1, 0.05])
    spans_ = Spans(spans, category, life, age, initial)
    checks = {1, 2, 3, 10, 11, 250, 999, 1000, 2222, samples - 1}
    so_far = {}
    for k in range(samples):
        spans_.strain[:] = strain[k]
        spans_.tick(float(k + 1))
        if k in checks:
            so_far[k] = spans_.damage.copy()
    stress, damage, rate, projected = spans_.stress, spans_.damage, spans_.rate, spans_.projected
    # no heavy vehicle: the detail takes the deck's stress as it is
    np.testing.assert_array_equal(spans_.detail_stress, stress)
    assert spans_.state.overflows[0] == 0
    for s in range(spans):
        history = E * strain[:, s] * 1e-6
        cycles = [(r, n) for r, _, n, _, _ in rainflow.extract_cycles(history)]
        assert sum(n for _, n in cycles if n == 1.0) > 100
        # at every check the damage is everything the standard counts in the history up
        # to its last reversal, full and half cycles, the ranges still open as half cycles
        for k, value in so_far.items():
            expected = reference_damage(up_to_last_reversal(history[: k + 1]), category[s])
            assert value[s] - initial[s] == pytest.approx(expected, rel=1e-9)
        assert damage[s] > initial[s]
        assert stress[s] == pytest.approx(E * strain[-1, s] * 1e-6)
        remaining = life[s] - age[s] - samples / SECONDS_PER_YEAR
        assert projected[s] == pytest.approx(damage[s] + rate[s] * remaining, rel=1e-12)
        assert rate[s] > initial[s] / age[s]  # this history is far harsher than the service mean


def test_damage_rate_starts_at_the_service_mean_and_follows_a_window():
    # the rate moves each tick by (dD/dt - rate)·(dt/window), in 1/a, D the damage so far
    span = Spans(1, 71.0, 100.0, 20.0, 0.2, capacity=16)
    window = 1000.0
    sigma = [0.0, 100.0, 20.0, 120.0, 0.0, 5.0]  # closes the 80 MPa cycle (100, 20) on the 5th sample
    damage = []
    for k, s in enumerate(sigma):
        span.strain[0] = s / E * 1e6
        span.tick(float(k + 1), window=window)
        damage.append(span.damage[0])
        if k == 0:
            assert span.rate[0] == pytest.approx(0.2 / 20.0 * (1 - 1 / window))
    # EN 1993-1-9 written out (Δσ >= Δσd: N = 2e6·(Δσc/Δσ)^3): up to its last reversal
    # (0, confirmed by the rise to 5) the history counts one full cycle of 80 MPa and two
    # halves of 120 MPa (0 -> 120 holds the start point, 120 -> 0 is open)
    def n(r):
        return 2e6 * (71.0 / r) ** 3
    assert damage[-1] == pytest.approx(0.2 + 1 / n(80.0) + 1 / n(120.0), rel=1e-12)
    assert damage[2] == pytest.approx(0.2 + 0.5 / n(100.0), rel=1e-12)  # 0 -> 100, confirmed by 20, open
    assert damage[1] == 0.2  # 100 is not a reversal yet
    rate = 0.2 / 20.0
    for before, after in zip([0.2] + damage[:-1], damage):
        rate += ((after - before) * SECONDS_PER_YEAR - rate) / window
    assert span.rate[0] == pytest.approx(rate, rel=1e-9)
    assert span.rate[0] > 0.2 / 20.0


# -- heavy vehicles crossing between two samples ----------------------------------------

def run_crossings(trucks, light, overload, dt=1.0, category=71.0):
    """Feed one span the ticks of a known traffic and return it with the detail's stress
    history written out from the closed forms.

    ``trucks``: (entry time s, gross weight t, speed m/s, lane 1 near / 2 far), one on
    the span at a time; ``light``: the light traffic (kN/m) at each tick, ``overload``
    the overload (t) at each tick, both linear in time between ticks. Returns the span
    and (times, detail stress in MPa) at every tick and at every instant a vehicle
    enters, passes midspan or leaves.
    """
    ticks = np.arange(len(light)) * dt
    events = [t for entry, _, v, _ in trucks for t in (entry, entry + L / (2 * v), entry + L / v)]
    times = np.union1d(ticks, events)
    per_newton_metre = Y / I * 1e-6  # MPa

    def vehicle(t):
        """(weight t, position m, speed, lane) of the vehicle on the span at t."""
        for entry, load, v, lane in trucks:
            if entry <= t <= entry + L / v:
                return load, v * (t - entry), v, lane
        return 0.0, 0.0, 0.0, 0

    def moments(t):
        """Midspan moments (N·m) at t: light traffic qL²/8, the vehicle P·b/2 with its
        share at the detail, and the overload PL/4 (its share: the near kerb lane)."""
        q = np.interp(t, ticks, light) * 1e3
        load, x, _, lane = vehicle(t)
        truck = load * 1e3 * G * min(x, L - x) / 2
        heavy = np.interp(t, ticks, overload) * 1e3 * G * L / 4
        share = GIRDERS * (NEAR if lane == 1 else FAR)
        return q * L**2 / 8, truck, share, heavy

    detail = []
    for t in times:
        q, truck, share, heavy = moments(t)
        detail.append((q + share * truck + GIRDERS * NEAR * heavy) * per_newton_metre)
    span = Spans(1, category=category, initial=0.0)
    span.damage_at = []
    for t in ticks:
        q, truck, _, heavy = moments(t)
        span.strain[0] = (q + truck + heavy) * per_newton_metre / E * 1e6  # the gauge: the deck's bending
        load, x, v, lane = vehicle(t)
        span.truck_load[0], span.truck_position[0], span.truck_speed[0], span.truck_lane[0] = load, x, v, lane
        span.overload[0] = np.interp(t, ticks, overload)
        span.tick(t, dt)
        span.damage_at.append(span.damage[0])
    return span, times, np.array(detail)


def test_one_crossing_peaks_at_PL_over_4_times_its_share_between_two_samples():
    # a 45 t truck in the kerb lane above the detail enters at 0.3 s at 11 m/s: at the
    # samples (1 s, 2 s) it stands 7.7 m and 18.7 m from the start, never at midspan
    load = 45.0
    light = np.array([0.0, 0.0, 0.0, 0.0, 0.5])  # light traffic comes at last: the stress turns up
    span, _, _ = run_crossings([(0.3, load, 11.0, 1)], light, np.zeros(5))
    M = load * 1e3 * G * L / 4
    deck_peak = M * Y / I * 1e-6  # 13.4 MPa: the whole deck's σ = M·y/I
    detail_peak = GIRDERS * NEAR * deck_peak  # 32.2 MPa on the edge girder
    assert 25.0 < detail_peak < 40.0  # tens of MPa, as gauges on such girders read
    # The counter was fed the crossing's vertices: 0 -> peak -> 0 -> the light traffic,
    # two half cycles of the peak (the rise holds the starting point, the fall is open),
    # one cycle in all; the fall counts once the stress turns up again (at 4 s). EN
    # 1993-1-9 written out: 32.2 MPa lies between the cut-off 0.405·71 = 28.7 MPa and
    # Δσd = 0.737·71 = 52.3 MPa, so N = 5e6·(Δσd/Δσ)^5.
    delta_d = (2 / 5) ** (1 / 3) * 71.0
    cycle = 1 / (5e6 * (delta_d / detail_peak) ** 5)
    assert span.damage_at[:4] == pytest.approx([0.0, 0.0, 0.5 * cycle, 0.5 * cycle], rel=1e-12)
    assert span.damage_at[4] == pytest.approx(cycle, rel=1e-12)
    assert 1e-9 < cycle < 1e-7  # small, and not zero
    # while the detail's stress at the samples never came near it
    sampled = []
    probe = Spans(1)
    for t, x in ((1.0, 7.7), (2.0, 18.7)):
        probe.truck_load[0], probe.truck_position[0], probe.truck_speed[0], probe.truck_lane[0] = load, x, 11.0, 1
        probe.strain[0] = load * 1e3 * G * min(x, L - x) / 2 * Y / I / E
        probe.tick(t)
        sampled.append(probe.detail_stress[0])
    assert max(sampled) < 0.8 * detail_peak
    assert sampled[0] == pytest.approx(GIRDERS * NEAR * load * 1e3 * G * 7.7 / 2 * Y / I * 1e-6, rel=1e-12)


TRAFFIC = [
    (2.3, 45.0, 11.0, 1),   # near kerb lane
    (4.6, 38.0, 9.0, 2),    # opposite lane, enters in the tick the first one left
    (9.05, 52.0, 13.0, 1),
    (16.5, 30.0, 12.0, 1),  # while the overload stands
    (24.2, 49.0, 8.0, 1),
    (27.1, 15.0, 10.0, 2),  # leaves after the last sample, 29 s
]


def test_damage_of_known_crossings_is_what_rainflow_and_fatpack_count_on_the_closed_form():
    rng = np.random.default_rng(5)
    light = rng.uniform(1.5, 3.0, 30)
    overload = np.where((np.arange(30) >= 14) & (np.arange(30) <= 20), 120.0, 0.0)
    span, times, detail = run_crossings(TRAFFIC, light, overload)
    # at every sample, the damage so far is what rainflow + fatpack count in the
    # history up to it
    for k, t in enumerate(np.arange(30.0)):
        expected = reference_damage(up_to_last_reversal(detail[times <= t]), 71.0)
        assert span.damage_at[k] == pytest.approx(expected, rel=1e-9, abs=1e-18)
    reference = reference_damage(up_to_last_reversal(detail), 71.0)
    # the overload's cycle (86 MPa at the detail) is most of it
    overload_range = GIRDERS * NEAR * 120e3 * G * L / 4 * Y / I * 1e-6
    assert reference > 0.9 / cycles_to_failure(overload_range, 71.0)


def test_damage_of_known_crossings_matches_fatpack_rainflow_ranges():
    # Trucks in the kerb lane above the detail on a steady light traffic: the history
    # starts and ends at its lowest value, where fatpack's closing of the residue (the
    # residue repeated) and the standard's half cycles count the same.
    trucks = [(entry, load, speed, 1) for entry, load, speed, _ in TRAFFIC[:-1]]
    light = np.full(30, 2.0)
    light[-1] = 2.2  # a last turn up confirms the last valley
    span, times, detail = run_crossings(trucks, light, np.zeros(30), category=56.0)
    ranges = fatpack.find_rainflow_ranges(detail, k=2**15)
    expected = fatpack.TriLinearEnduranceCurve(56.0).find_miner_sum(np.c_[ranges, np.ones(len(ranges))])
    # its largest ranges are the trucks' peaks over the light traffic, η·P·L/4·y/I
    peaks = sorted(GIRDERS * NEAR * load * 1e3 * G * L / 4 * Y / I * 1e-6 for _, load, _, _ in trucks)
    assert sorted(ranges)[-len(peaks):] == pytest.approx(peaks, abs=2 * np.ptp(detail) / 2**15)
    assert expected > 0.0
    assert span.damage[0] == pytest.approx(expected, rel=1e-3)
