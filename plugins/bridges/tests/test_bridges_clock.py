"""The bridges on the twin's clock, UTC epoch seconds from any start: the daily cycles
keep China Standard Time, and the first tick and the years of monitoring count from
the run's own start, not from 0."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from twin.authoring.testing import Harness
from twin.tick.engine import Engine
from twin_bridges import plugin
from twin_bridges.model import deck_temperature, traffic_factor

SEED = 20261123
CST = timezone(timedelta(hours=8))
#: 08:00 China Standard Time, as a clock from 0 reads (epoch 0 is 08:00 in Beijing)
MORNING = datetime(2026, 7, 15, 8, 0, tzinfo=CST).timestamp()


def _bridge_tables(engine: Engine) -> list[np.ndarray]:
    world, truth = engine.world.tables["bridge"], engine.simulator.world.tables["bridge"]
    return [np.array(t.columns[f]) for t in (world, truth) for f in sorted(t.columns)]


def test_the_same_time_of_day_gives_the_same_bridges_from_any_start(tmp_path):
    h = Harness(tmp_path, plugins=[plugin], blocks=(8, 7), seed=SEED)  # a clock from 0
    later = Engine(h.scene, h.registry, seed=SEED, start=MORNING)  # a clock from 08:00 on a day of 2026
    try:
        assert len(h.engine.world.tables["bridge"]) > 0
        h.run(90)
        later.run(90)
        assert later.time == MORNING + 90
        # the same up to the rounding of an hour of the day read from 1.8e9 s rather than 0
        for a, b in zip(_bridge_tables(h.engine), _bridge_tables(later)):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    finally:
        later.close()
        h.close()


def test_the_deck_follows_the_daily_cycle_from_the_first_tick_at_any_start(tmp_path):
    afternoon = datetime(2026, 7, 15, 14, 0, tzinfo=CST).timestamp()
    h = Harness(tmp_path, plugins=[plugin], blocks=(8, 7), seed=SEED)
    engine = Engine(h.scene, h.registry, seed=SEED, start=afternoon)
    try:
        engine.run(1)
        spans = engine.world.tables["bridge"].rows("span")
        truth = engine.simulator.world.tables["bridge"]["temperature"][spans]
        # the span's own offset starts at 0: within a few random-walk steps of the cycle
        assert np.abs(truth - deck_temperature(afternoon + 1.0)).max() < 0.5
        assert deck_temperature(afternoon) > deck_temperature(MORNING) + 3  # afternoon is warmer
        assert traffic_factor(MORNING) == 1.0 and traffic_factor(afternoon) == 0.75  # the profile's 08:00 and 14:00
    finally:
        engine.close()
        h.close()
