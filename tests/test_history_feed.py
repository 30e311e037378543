"""The live twin's history (twin.history.feed): what the tick hands over reaches the store
(real engine, real SQLite files in a temporary data folder)."""

from __future__ import annotations

import os
import threading
import types
from pathlib import Path

import numpy as np
import pytest

from twin import Domain, FieldSpec, hookimpl
from twin.authoring.testing import Harness
from twin.history.feed import HistoryConfig
from twin.history.fields import field_series
from twin.history.store import HistoryError
from twin.tick.engine import Engine

EPOCH = 1_798_761_600.0  # 2027-01-01T00:00:00Z: a live twin's clock


def live(h: Harness, data: Path, config: dict | None = None) -> Engine:
    """A live engine (epoch clock, no simulator: readings come from the test) over ``h``'s city."""
    return Engine(h.scene, h.registry, simulate=False, data_dir=data, start=EPOCH, live=True, config=config)


def stored(engine: Engine, series: str) -> list[tuple[float, float]]:
    assert engine.history is not None and engine.history.writer.wait_idle()
    key = engine.history.store.key(series)
    if key is None:
        return []
    t, v, _q = engine.history.store.raw(key, 0, 4e9)
    return [(round(a - EPOCH, 3), float(b)) for a, b in zip(t.tolist(), v.tolist())]


def test_every_accepted_reading_reaches_the_store_and_no_rejected_one(tmp_path, toy):
    h = Harness(tmp_path / "s", plugins=[toy], blocks=(2, 2), simulate=False)
    engine = live(h, tmp_path / "data")
    try:
        i = engine.ingest.sensor_index
        s0, s1, s2, s3 = i["TS-000"], i["TS-001"], i["TS-002"], i["TS-003"]
        batch = [  # (sensor index, time from EPOCH, value, quality) and what ingest makes of it
            (s0, 0.5, 10.0, 0),  # good
            (s0, 0.5, 11.0, 0),  # duplicate: the first one stays
            (s1, 0.6, 150.0, 0),  # out of range (level is 0..100 %)
            (-1, 0.7, 1.0, 0),  # unknown sensor
            (s2, 0.8, 20.0, 3),  # bad quality
            (s2, 0.9, np.nan, 0),  # not finite
            (s3, 100.0, 5.0, 0),  # in the future (more than 60 s ahead)
            (s3, -4000.0, 5.0, 0),  # too old (more than an hour)
        ]
        engine.tick(tuple(np.array(c) for c in zip(*[(s, EPOCH + t, v, q) for s, t, v, q in batch])))
        late = [(s0, 1.5, 12.0, 0), (s0, 0.2, 9.0, 0), (s1, 1.7, 50.0, 0)]  # a late reading is good, and stored
        from twin.types import Reading

        engine.ingest.submit([Reading("TS-002", EPOCH + 1.9, 33.0)])  # the inbox: MQTT's and HTTP's way in
        engine.tick(tuple(np.array(c) for c in zip(*[(s, EPOCH + t, v, q) for s, t, v, q in late])))
        assert stored(engine, "TS-000") == [(0.2, 9.0), (0.5, 10.0), (1.5, 12.0)]
        assert stored(engine, "TS-001") == [(1.7, 50.0)]
        assert stored(engine, "TS-002") == [(1.9, 33.0)]
        assert stored(engine, "TS-003") == []
        assert engine.ingest.accepted == 5
        assert dict(engine.ingest.rejected) == {"duplicate": 1, "out_of_range": 1, "unknown_sensor": 1, "bad_quality": 1,
                                                "not_finite": 1, "in_future": 1, "too_old": 1}
        metrics = engine.metrics.exposition().decode()
        assert 'twin_history_submitted_total{kind="readings"} 5.0' in metrics
        assert "twin_history_values_written_total 5.0" in metrics and "twin_history_values_shed_total 0.0" in metrics
        assert engine.history.store.catalogue("toy")[engine.history.store.key("TS-000")] == ("TS-000", "toy")
    finally:
        engine.close()
        h.close()
    assert (tmp_path / "data" / "history" / "history.sqlite").exists()


def test_only_a_live_twin_with_a_data_folder_keeps_a_history(tmp_path, toy):
    h = Harness(tmp_path / "s", plugins=[toy], blocks=(2, 2), simulate=False)
    for engine in (Engine(h.scene, h.registry, data_dir=tmp_path / "a", start=EPOCH),  # a drill's clock, from an instant
                   Engine(h.scene, h.registry, start=EPOCH),  # no data folder
                   live(h, tmp_path / "c", {"history": {"enabled": False}})):
        assert engine.history is None and not engine.ingest.keep_accepted
        engine.tick()
        engine.close()
    assert not any((tmp_path / d / "history").exists() for d in "ac")
    h.close()


def test_a_served_run_on_a_simulated_clock_keeps_its_own_store_and_the_newest_ten(tmp_path, toy):
    """open_run_history (what a server calls for a drill's engine): a store in the data
    folder's runs/, never its history/; the ten newest run folders stay; none for a live
    engine, without a data folder, or with the history disabled."""
    from twin.history.feed import KEEP_RUNS, open_run_history

    h = Harness(tmp_path / "s", plugins=[toy], blocks=(2, 2), simulate=False)
    data = tmp_path / "data"
    runs = data / "runs"
    runs.mkdir(parents=True)
    for n in range(KEEP_RUNS + 2):  # older runs' stores, the first the oldest
        (runs / f"2026010{n // 10}T0000{n % 10:02d}Z" / "history").mkdir(parents=True)
        os.utime(runs / f"2026010{n // 10}T0000{n % 10:02d}Z", (1e9 + n, 1e9 + n))
    (runs / "notes").mkdir()  # not a run's store: left alone
    engine = Engine(h.scene, h.registry, simulate=False, data_dir=data, start=EPOCH)  # a drill's clock, from an instant
    try:
        assert engine.history is None
        engine.history = open_run_history(engine, data)
        assert engine.history is not None and engine.ingest.keep_accepted
        folder = engine.history.store.folder
        assert folder.parent.parent == runs and folder.name == "history"
        engine.tick((np.array([engine.ingest.sensor_index["TS-000"]]), np.array([EPOCH + 0.5]), np.array([42.0]),
                     np.array([0])))
        assert stored(engine, "TS-000") == [(0.5, 42.0)]
    finally:
        engine.close()
    left = sorted(p.name for p in runs.iterdir())
    assert len([p for p in left if (runs / p / "history").is_dir()]) == KEEP_RUNS and "notes" in left
    assert "20260100T000000Z" not in left and "20260100T000002Z" not in left and "20260101T000001Z" in left
    assert not (data / "history").exists()
    for engine, where in ((live(h, tmp_path / "live"), tmp_path / "live"), (Engine(h.scene, h.registry, start=EPOCH), None),
                          (Engine(h.scene, h.registry, data_dir=tmp_path / "off", start=EPOCH,
                                  config={"history": {"enabled": False}}), tmp_path / "off")):
        try:
            before = engine.history
            assert open_run_history(engine, where) is None and engine.history is before
        finally:
            engine.close()
    assert not (tmp_path / "live" / "runs").exists() and not (tmp_path / "off" / "runs").exists()
    h.close()


def _historical_toy(toy) -> types.ModuleType:
    """The toy plugin with its level (resolution 0.5 %) and risk (0.01) kept in the history."""
    module = types.ModuleType("historicaltoy")
    module.PLUGIN_NAME = "toy"
    for name in ("twin_updaters", "twin_kernels", "twin_alarm_rules", "twin_actions", "twin_asset_generators"):
        setattr(module, name, getattr(toy, name))

    @hookimpl
    def twin_domains():
        (domain,) = toy.twin_domains()
        marks = {"level": 0.5, "risk": 0.01}
        fields = tuple(FieldSpec(f.name, f.dtype, f.unit, f.valid, f.description, f.default, f.attribute, f.required_for,
                                 resolution=marks.get(f.name, 0.0), historical=f.name in marks) for f in domain.fields)
        return [Domain(domain.name, domain.title, domain.kinds, fields)]

    module.twin_domains = twin_domains
    return module


def test_historical_fields_are_stored_on_news_at_most_once_per_interval_and_on_heartbeat(tmp_path, toy):
    h = Harness(tmp_path / "s", plugins=[_historical_toy(toy)], blocks=(2, 2), simulate=False)
    engine = live(h, tmp_path / "data", {"history": {"field_interval": 10, "field_heartbeat": 60}})
    try:
        level = engine.world.tables["toy"]["level"]
        row = engine.world.tables["toy"].index["T-000"]
        script = {3: 0.3, 4: 5.0, 12: 5.2, 25: 9.0, 26: 30.0, 40: float("nan"), 50: 30.0}  # tick -> level set before it
        for n in range(1, 101):
            if n in script:
                level[row] = script[n]
            engine.tick()  # at EPOCH + n
        assert engine.history is not None
        assert engine.history.fields.series == 2 * len(engine.world.tables["toy"])
        assert stored(engine, field_series("toy", "T-000", "level")) == [
            (1.0, 0.0),  # the first value
            # 0.3 at 3: less than the resolution; 5.0 at 4: news, but the asset was stored at 1: waits for 11
            (11.0, 5.0),
            # 5.2 at 12: not news; 9.0 at 25 is (due since 21); 30.0 at 26 waits for 35
            (25.0, 9.0), (35.0, 30.0),
            # NaN at 40 is never stored; 30.0 at 50 is no news against the 30.0 stored at 35; the heartbeat is at 95
            (95.0, 30.0),
        ]
        # the risk stays 0 below 50 %: stored at 1, then by the heartbeat, on the asset's stored ticks at or after it
        assert stored(engine, field_series("toy", "T-000", "risk")) == [(1.0, 0.0), (61.0, 0.0)]
        assert stored(engine, field_series("toy", "T-001", "level")) == [(1.0, 0.0), (61.0, 0.0)]
        metrics = engine.metrics.exposition().decode()
        assert f'twin_history_submitted_total{{kind="fields"}} {4 * len(level) + 3}.0' in metrics  # 2N at 1, 2N - 1 at 61, 4 news
    finally:
        engine.close()
        h.close()


@pytest.mark.parametrize("table, message", [
    ({"raw_day": 3}, "[history] has no setting 'raw_day'; valid: enabled, raw_days, minute_days, field_interval, "
                     "field_heartbeat, max_queued, prune_every, durability"),
    ({"raw_days": -1}, "[history] raw_days must be a positive number, not -1"),
    ({"raw_days": "30"}, "[history] raw_days must be a positive number, not '30'"),
    ({"field_interval": True}, "[history] field_interval must be a positive number, not True"),
    ({"max_queued": 10.5}, "[history] max_queued must be a whole number of values, not 10.5"),
    ({"enabled": "no"}, "[history] enabled must be true or false, not 'no'"),
    ({"raw_days": 60, "minute_days": 30}, "[history] minute_days (30) must be at least raw_days (60): "
                                          "per-minute data is made from the raw readings leaving"),
])
def test_the_history_table_is_checked_with_one_line_errors(table, message):
    with pytest.raises(HistoryError) as caught:
        HistoryConfig.from_config({"history": table})
    assert str(caught.value) == message


def test_the_history_table_sets_the_retention(tmp_path, toy):
    assert HistoryConfig.from_config({}) == HistoryConfig(True, 30.0, 730.0, 10.0, 600.0, 5_000_000, 3600.0)
    h = Harness(tmp_path / "s", plugins=[toy], blocks=(2, 2), simulate=False)
    engine = live(h, tmp_path / "data", {"history": {"raw_days": 7, "minute_days": 365, "max_queued": 1000}})
    assert engine.history is not None
    assert (engine.history.store.raw_days, engine.history.store.minute_days, engine.history.writer.max_queued) == (7.0, 365.0, 1000)
    engine.close()
    with pytest.raises(HistoryError, match=r"^\[history\] raw_days must be a positive number, not 0$"):
        live(h, tmp_path / "data", {"history": {"raw_days": 0}})
    h.close()


def test_a_store_that_falls_behind_never_holds_the_tick_and_is_counted(tmp_path, toy):
    h = Harness(tmp_path / "s", plugins=[toy], blocks=(2, 2), simulate=False)
    engine = live(h, tmp_path / "data", {"history": {"max_queued": 8}})
    assert engine.history is not None
    s = engine.ingest.sensor_index["TS-000"]
    held, release = threading.Event(), threading.Event()

    def hold_the_store() -> None:  # as a long seal does: the writer thread waits on the store's lock
        with engine.history.store._lock:
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold_the_store)
    holder.start()
    held.wait(10)
    try:
        def ticks() -> None:
            for n in range(1, 31):
                engine.tick((np.full(3, s), EPOCH + n - 1 + np.array([0.1, 0.2, 0.3]), np.full(3, float(n)), np.zeros(3, int)))

        ticking = threading.Thread(target=ticks)
        ticking.start()
        ticking.join(60)
        assert not ticking.is_alive(), "a tick waited for the store"
        w = engine.history.writer.metrics()
        assert w["shed"] >= 90 - 2 * 8, w  # at most the queue and the batch in flight got through
        state, reason = engine.history.health()
        assert state == "degraded" and reason.startswith(f"the store fell behind: {w['shed']} values shed in the last minute")
        assert f"twin_history_values_shed_total {float(w['shed'])}" in engine.metrics.exposition().decode()
    finally:
        release.set()
        holder.join()
    assert engine.history.writer.wait_idle()
    w = engine.history.writer.metrics()
    assert w["written"] + w["shed"] == 90 and w["failed"] == 0
    assert len(stored(engine, "TS-000")) == w["written"]
    engine.close()
    h.close()
