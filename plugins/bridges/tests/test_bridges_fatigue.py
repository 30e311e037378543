"""Miner damage on the EN 1993-1-9 curve against fatpack, and the fatigue updater's
bookkeeping against rainflow + fatpack on the same stress history."""

from __future__ import annotations

import math

import fatpack
import numpy as np
import pytest
import rainflow

from twin_bridges.model import (
    SECONDS_PER_YEAR, RainflowState, cycles_to_failure, fatigue_update, miner_damage,
)


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


def test_fatigue_updater_books_what_rainflow_and_fatpack_count():
    rng = np.random.default_rng(11)
    samples, spans = 3000, 2
    strain = rng.normal(0.0, 150.0, size=(samples, spans)).cumsum(axis=0) * 0.05 + rng.normal(0, 120.0, (samples, spans))
    # Ties with the first sample, as the simulation makes them (the stress starts at 0
    # and comes back to exactly 0 when the deck empties): ASTM counts those ranges as
    # half cycles. Span 0 starts at 0 and returns to it now and then.
    strain[0, 0] = 0.0
    strain[rng.choice(np.arange(2, samples - 2), 40, replace=False), 0] = 0.0
    # one more sample turning back confirms the last one as a reversal, as the end of
    # a history is for the standard (and for rainflow)
    turn = -np.sign(strain[-1] - strain[-2])
    fed = np.vstack([strain, strain[-1] + turn])
    E = np.array([206_000.0, 206_000.0])
    category = np.array([71.0, 56.0])
    life, age, initial = np.array([100.0, 100.0]), np.array([20.0, 10.0]), np.array([0.1, 0.05])
    state = RainflowState(spans, 64)
    stress, damage, rate, projected = (np.zeros(spans) for _ in range(4))
    rows = np.arange(spans)
    for k in range(len(fed)):
        fatigue_update(rows, fed[k], E, category, life, age, initial, state.residue, state.count,
                       state.candidate, state.slope, state.phase, state.ranges, state.cycles, state.overflows,
                       float(k + 1), 1.0, 7 * 86400.0, stress, damage, rate, projected)
    assert state.overflows[0] == 0
    for s in range(spans):
        history = E[s] * strain[:, s] * 1e-6
        cycles = [(r, n) for r, _, n, _, _ in rainflow.extract_cycles(history)]
        curve = fatpack.TriLinearEnduranceCurve(category[s])
        assert sum(n for _, n in cycles if n == 1.0) > 100
        # everything the standard counts for the history (full and half cycles) is what
        # the updater booked plus the half cycles still open on its stack (step 6)
        everything = curve.find_miner_sum(np.array(cycles))
        open_halves = np.abs(np.diff(state.residue[s, : state.count[s]]))
        booked = damage[s] - initial[s]
        assert booked + curve.find_miner_sum(np.c_[open_halves, np.full(len(open_halves), 0.5)]) == pytest.approx(
            everything, rel=1e-9)
        # the updater books every full cycle, and the half cycles counted on the way
        full = curve.find_miner_sum(np.array([c for c in cycles if c[1] == 1.0]))
        assert full < booked < everything
        assert damage[s] > initial[s]
        assert stress[s] == pytest.approx(E[s] * fed[-1, s] * 1e-6)
        remaining = life[s] - age[s] - len(fed) / SECONDS_PER_YEAR
        assert projected[s] == pytest.approx(damage[s] + rate[s] * remaining, rel=1e-12)
        assert rate[s] > initial[s] / age[s]  # this history is far harsher than the service mean


def test_damage_rate_starts_at_the_service_mean_and_follows_a_window():
    # one closed cycle of known damage: the rate moves by dD/dt·(dt/window), in 1/a
    E, c = np.array([206_000.0]), np.array([71.0])
    life, age, initial = np.array([100.0]), np.array([20.0]), np.array([0.2])
    state = RainflowState(1, 16)
    stress, damage, rate, projected = (np.zeros(1) for _ in range(4))
    window = 1000.0
    sigma = [0.0, 100.0, 20.0, 120.0, 0.0]  # closes the 80 MPa cycle (100, 20) on the 5th sample
    rates = []
    for k, s in enumerate(sigma):
        fatigue_update(np.array([0]), np.array([s / E[0] * 1e6]), E, c, life, age, initial, state.residue,
                       state.count, state.candidate, state.slope, state.phase, state.ranges, state.cycles,
                       state.overflows,
                       float(k + 1), 1.0, window, stress, damage, rate, projected)
        rates.append(rate[0])
    mean = 0.2 / 20.0
    assert rates[0] == pytest.approx(mean * (1 - 1 / window) ** 1)
    closed = 1.0 / (2e6 * (71.0 / 80.0) ** 3)
    assert damage[0] == pytest.approx(0.2 + closed, rel=1e-12)
    expected = mean * (1 - 1 / window) ** 5 + closed * SECONDS_PER_YEAR / window
    assert rate[0] == pytest.approx(expected, rel=1e-9)
