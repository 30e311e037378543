"""``[history] durability``: "power" reaches the live twin's store (SQLite synchronous=FULL
on the writer's connection, read back from the live connection), "process" stays NORMAL,
and a bad value is a one-line error (real engine, real SQLite files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from twin.authoring.testing import Harness
from twin.history.feed import HistoryConfig
from twin.history.store import HistoryError, Store
from twin.tick.engine import Engine

EPOCH = 1_798_761_600.0  # 2027-01-01T00:00:00Z: a live twin's clock
#: PRAGMA synchronous's answers
NORMAL, FULL = 1, 2


def live(h: Harness, data: Path, config: dict | None = None) -> Engine:
    return Engine(h.scene, h.registry, simulate=False, data_dir=data, start=EPOCH, live=True, config=config)


@pytest.mark.parametrize(("durability", "synchronous"), [(None, NORMAL), ("process", NORMAL), ("power", FULL)])
def test_the_durability_setting_reaches_the_live_store(tmp_path, toy, durability, synchronous):
    h = Harness(tmp_path / "s", plugins=[toy], blocks=(2, 2), simulate=False)
    config = {"history": {"durability": durability}} if durability else {}
    engine = live(h, tmp_path / "data", config)
    try:
        assert engine.history is not None
        assert engine.history.store.durability == (durability or "process")
        assert engine.history.store.db.execute("PRAGMA synchronous").fetchone()[0] == synchronous
    finally:
        engine.close()
        h.close()


def test_a_power_durable_store_keeps_what_it_was_given_across_a_reopen(tmp_path):
    store = Store(tmp_path / "h", durability="power")
    key = store.keys(["S-1"])[0]
    times = EPOCH + np.arange(0, 3 * 3600, 60.0)  # three hours: the first ones are sealed into SQLite
    for t in times:
        store.append(np.array([key]), np.array([t]), np.array([float(t - EPOCH)]))
    store.close()
    again = Store(tmp_path / "h")
    t, v, _q = again.raw(again.key("S-1"), 0, 4e9)
    again.close()
    assert t.tolist() == times.tolist() and v.tolist() == (times - EPOCH).tolist()


def test_a_bad_durability_is_a_one_line_error():
    with pytest.raises(HistoryError) as caught:
        HistoryConfig.from_config({"history": {"durability": "disk"}})
    assert str(caught.value) == "[history] durability must be one of 'process', 'power', not 'disk'"
