"""Heavy vehicles crossing: one at a time, the next only after the last has left, in the
kerb lanes, arriving as a Poisson process over the time the span is free, with the
weights and speeds the model states; and the random draws behind them."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from twin_bridges.model import TRUCKS_PER_LANE_PER_SECOND, draw_normals, traffic_update


def test_vehicles_cross_one_at_a_time_and_arrive_as_a_poisson_process():
    rng = np.random.default_rng(2)
    spans, ticks, dt = 2000, 200, 1.0
    rows = np.arange(spans)
    length = rng.choice([15.0, 20.0, 40.0], spans)
    lanes = np.full(spans, 4, dtype=np.uint8)
    load, position, speed, light, overload, until = (np.zeros(spans) for _ in range(6))
    lane = np.zeros(spans, dtype=np.uint8)
    vehicle = np.zeros(spans, dtype=np.float32)
    factor = 3.0  # busier than any hour, so that spans are often busy
    expected = departures_then_arrivals = 0.0
    weights, speeds, sides = [], [], []
    for k in range(ticks):
        load0, x0, v0 = load.copy(), position.copy(), speed.copy()
        traffic_update(rows, length, lanes, float(k + 1), dt, factor, np.uint64(1000 + k), until, light, load,
                       position, speed, lane, overload, vehicle)
        left = (load0 > 0) & (x0 + v0 * dt > length)
        stayed = (load0 > 0) & ~left
        # the vehicle that stayed moved on at its speed, alone
        np.testing.assert_allclose(position[stayed], x0[stayed] + v0[stayed] * dt, rtol=1e-15)
        assert np.array_equal(load[stayed], load0[stayed])
        # the span was free for the whole tick, or from the moment the last one left
        free = np.where(load0 == 0, dt, np.where(left, dt - (length - x0) / np.where(v0 > 0, v0, 1.0), 0.0))
        new = (free > 0) & (load > 0)
        # a new vehicle entered within the free part of the tick, no earlier
        assert np.all(position[new] <= speed[new] * free[new] * (1 + 1e-12))
        assert np.all(position[new] <= length[new])
        assert np.all(np.isin(lane[new], [1, 2])) and np.all(lane[load == 0] == 0)
        weights += list(load[new])
        speeds += list(speed[new])
        sides += list(lane[new])
        p = 1.0 - np.exp(-4 * TRUCKS_PER_LANE_PER_SECOND * factor * free)
        expected += p[free > 0].sum()
        departures_then_arrivals += (left & new).sum()
    arrivals = len(weights)
    # Poisson arrivals over the free time: the count within 5 standard deviations
    assert abs(arrivals - expected) < 5 * math.sqrt(expected)
    assert departures_then_arrivals > 100  # the case the fatigue updater must rebuild
    # kerb lane on the detail's side or the opposite one, half each
    assert abs(np.mean(np.array(sides) == 1) - 0.5) < 5 * math.sqrt(0.25 / arrivals)
    # speeds uniform on 8-14 m/s
    assert stats.kstest(speeds, stats.uniform(8.0, 6.0).cdf).pvalue > 1e-4
    # weights: half N(15, 4) t, half N(38, 6) t, clipped to 3-49 t; its mean and its atom
    # at the 49 t cap, by integration against the normal densities
    weights = np.array(weights)
    assert weights.min() >= 3.0 and weights.max() <= 49.0
    w = np.linspace(-60.0, 120.0, 200_001)
    density = 0.5 * stats.norm.pdf(w, 15.0, 4.0) + 0.5 * stats.norm.pdf(w, 38.0, 6.0)
    mean = np.trapezoid(np.clip(w, 3.0, 49.0) * density, w)
    variance = np.trapezoid((np.clip(w, 3.0, 49.0) - mean) ** 2 * density, w)
    assert abs(weights.mean() - mean) < 5 * math.sqrt(variance / arrivals)
    capped = 0.5 * stats.norm.sf(49.0, 38.0, 6.0)
    assert abs(np.mean(weights == 49.0) - capped) < 5 * math.sqrt(capped / arrivals)


def test_draws_are_standard_normal_and_the_seed_fixes_them():
    first, again, other = np.empty(400_000), np.empty(400_000), np.empty(400_000)
    draw_normals(np.uint64(20261123), first)
    draw_normals(np.uint64(20261123), again)
    draw_normals(np.uint64(20261124), other)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert stats.kstest(first, "norm").pvalue > 1e-4
    assert stats.kstest(other, "norm").pvalue > 1e-4
    # the tails the ziggurat draws by its slow paths (beyond r = 3.44, and the wedges)
    for z in (1.0, 2.0, 3.0, 3.5):
        share = np.mean(np.abs(first) > z)
        expected = 2 * stats.norm.sf(z)
        assert abs(share - expected) < 5 * math.sqrt(expected / len(first))
    # neighbouring spans' draws are not correlated
    assert abs(np.corrcoef(first[:-1], first[1:])[0, 1]) < 5 / math.sqrt(len(first))
