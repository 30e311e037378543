"""Heavy vehicles crossing: one at a time, the next only after the last has left, in the
kerb lanes, arriving as a Poisson process over the time the span is free."""

from __future__ import annotations

import math

import numpy as np

from twin_bridges.model import TRUCKS_PER_LANE_PER_SECOND, traffic_update


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
    expected = arrivals = departures_then_arrivals = 0
    sides = []
    for k in range(ticks):
        before = (load.copy(), position.copy(), speed.copy())
        draws = rng.random(spans)
        weights = rng.uniform(10.0, 49.0, spans)
        speeds = rng.uniform(8.0, 14.0, spans)
        side = rng.random(spans)
        traffic_update(rows, length, lanes, float(k + 1), dt, factor, rng.standard_normal(spans), draws, weights,
                       speeds, side, until, light, load, position, speed, lane, overload, vehicle)
        load0, x0, v0 = before
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
        assert np.array_equal(load[new], weights[new]) and np.all(np.isin(lane[new], [1, 2]))
        assert np.all(lane[load == 0] == 0)
        sides += list(lane[new])
        p = 1.0 - np.exp(-4 * TRUCKS_PER_LANE_PER_SECOND * factor * free)
        expected += p[free > 0].sum()
        arrivals += int(new.sum())
        departures_then_arrivals += int((left & new).sum())
    # Poisson arrivals over the free time: the count within 5 standard deviations
    assert abs(arrivals - expected) < 5 * math.sqrt(expected)
    assert departures_then_arrivals > 100  # the case the fatigue updater must rebuild
    # kerb lane on the detail's side or the opposite one, half each
    share = np.mean(np.array(sides) == 1)
    assert abs(share - 0.5) < 5 * math.sqrt(0.25 / len(sides))
