"""The history store (twin.history): real files, a real killed process."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from twin.history import HistoryError, Store, Writer
from twin.history.log import generations, log_path

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DAY = 86400.0


def minute_readings(keys: np.ndarray, minute: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every series' reading of ``minute``, each at its own second of it."""
    t = T0 + minute * 60 + (keys % 60) + rng.integers(0, 200, len(keys)) / 1000
    return keys, t, rng.normal(20.0, 3.0, len(keys)).astype(np.float32)


def test_readings_come_back_exactly_pending_sealed_and_after_reopening(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    store = Store(tmp_path / "h")
    keys = store.keys([f"S-{i}" for i in range(50)])
    sent: dict[int, list[tuple[float, float]]] = {int(k): [] for k in keys}
    for m in range(150):  # two and a half hours: two sealed, the rest pending
        k, t, v = minute_readings(keys, m, rng)
        store.append(k, t, v)
        for a, b, c in zip(k.tolist(), t.tolist(), v.tolist()):
            sent[a].append((round(b * 1000) / 1000, c))
    assert store.pending_readings < 50 * 60, "the first hours were sealed"
    assert store.db.execute("SELECT count(*) FROM raw").fetchone()[0] == 2 * 50

    def check(s: Store) -> None:
        for k in (int(keys[0]), int(keys[17]), int(keys[49])):
            t, v, q = s.raw(k, T0, T0 + 3 * 3600)
            want = np.array(sent[k])
            np.testing.assert_allclose(t, want[:, 0], rtol=0, atol=1e-6)
            np.testing.assert_array_equal(v, want[:, 1].astype(np.float32))
            assert not q.any()
        # a range inside one hour and across the sealed/pending border
        t, _, _ = s.raw(int(keys[3]), T0 + 1800, T0 + 2.25 * 3600)
        assert len(t) == 105 and t[0] >= T0 + 1800 and t[-1] < T0 + 2.25 * 3600

    check(store)
    store.close()
    again = Store(tmp_path / "h")
    assert np.array_equal(again.keys([f"S-{i}" for i in range(50)]), keys), "keys are stable across opening"
    check(again)
    again.close()


def test_late_and_out_of_order_readings_are_merged_into_their_hour(tmp_path: Path) -> None:
    store = Store(tmp_path / "h", seal_grace=0)
    (k,) = store.keys(["late"])
    store.append(np.array([k, k]), np.array([T0 + 120, T0 + 60]), np.array([2.0, 1.0]))
    store.append(np.array([k]), np.array([T0 + 3600 + 5]), np.array([9.0]))  # seals hour 0
    assert store.db.execute("SELECT count(*) FROM raw").fetchone()[0] == 1
    store.append(np.array([k]), np.array([T0 + 30]), np.array([0.5]))  # late, for the sealed hour
    store.append(np.array([k]), np.array([T0 + 7200 + 5]), np.array([10.0]))  # seals it again
    t, v, _ = store.raw(int(k), T0, T0 + 3 * 3600)
    np.testing.assert_array_equal(t - T0, [30, 60, 120, 3605, 7205])
    np.testing.assert_array_equal(v, [0.5, 1.0, 2.0, 9.0, 10.0])
    store.close()


def test_series_answers_raw_points_when_few_and_exact_buckets_otherwise(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    store = Store(tmp_path / "h")
    (k,) = store.keys(["fast"])
    t = T0 + np.arange(0, 6 * 3600, 10.0)  # every 10 s for six hours
    v = rng.normal(5, 1, len(t)).astype(np.float32)
    for a in range(0, len(t), 360):
        store.append(np.full(360, k), t[a:a + 360], v[a:a + 360])
    few = store.series("fast", T0, T0 + 600)
    assert (few.kind, few.source, len(few.time)) == ("points", "raw", 60)
    many = store.series("fast", T0, T0 + 6 * 3600, max_points=100)
    assert many.kind == "buckets" and len(many.time) <= 100 and many.step == 216.0
    b = ((t - T0) // 216).astype(int)
    for i in (0, 37, 99):
        np.testing.assert_allclose([many.min[i], many.mean[i], many.max[i], many.count[i]],
                                   [v[b == i].min(), v[b == i].astype(float).mean(), v[b == i].max(), (b == i).sum()], rtol=1e-6)
    stepped = store.series("fast", T0, T0 + 3600, step=600)
    assert stepped.kind == "buckets" and len(stepped.time) == 6 and stepped.count.tolist() == [60] * 6
    assert store.series("nobody", T0, T0 + 10).time.size == 0
    store.close()


def test_bad_arguments_are_refused_with_one_clear_line(tmp_path: Path) -> None:
    store = Store(tmp_path / "h")
    with pytest.raises(HistoryError, match="must have one length, got 2, 1, 2, 2"):
        store.append(np.array([1, 1]), np.array([T0]), np.array([1.0, 2.0]))
    with pytest.raises(HistoryError, match="finite from < to"):
        store.series("x", T0 + 10, T0)
    with pytest.raises(HistoryError, match="step must be a positive number of seconds"):
        store.series("x", T0, T0 + 10, step=0)
    store.close()
    with pytest.raises(HistoryError, match="minute_days 10 >= raw_days"):
        Store(tmp_path / "h2", raw_days=30, minute_days=10)


def test_retention_on_a_fabricated_month(tmp_path: Path) -> None:
    """40 days of 10 series at 1/min and one at every 10 s, pruned on day 40 with raw kept
    30 days and aggregates 35: days 0-4 are gone, 5-9 are per-minute aggregates, 10-39
    are raw as written."""
    rng = np.random.default_rng(3)
    store = Store(tmp_path / "h", raw_days=30, minute_days=35)
    keys = store.keys([f"S-{i}" for i in range(10)])
    (fast,) = store.keys(["fast"])
    fast_v: list[np.ndarray] = []
    slow: dict[int, list[np.ndarray]] = {}
    for day in range(40):
        t = T0 + day * DAY + np.repeat(np.arange(1440) * 60.0, 10) + np.tile(keys % 60, 1440)
        v = rng.normal(0, 1, len(t)).astype(np.float32)
        ft = T0 + day * DAY + np.arange(0, DAY, 10.0)
        fv = rng.normal(50, 5, len(ft)).astype(np.float32)
        fast_v.append(fv)
        slow[day] = v
        # a day a batch, as a writer catching up coalesces
        store.append(np.r_[np.tile(keys, 1440), np.full(len(ft), fast)], np.r_[t, ft], np.r_[v, fv])
    done = store.prune(T0 + 40 * DAY)
    assert done["days_downsampled"] == 10 and done["raw_rows_removed"] == 10 * 24 * 11
    assert done["minute_rows_removed"] == 5 * 11
    days = lambda table, unit: sorted({int(d) for (d,) in store.db.execute(f"SELECT DISTINCT {unit} FROM {table}")})  # noqa: E731
    day0 = int(T0 // DAY)
    assert days("minute", "day") == list(range(day0 + 5, day0 + 10))
    assert [h // 24 - day0 for h in days("raw", "hour")][0] == 10

    # days 0-4: nothing
    gone = store.series("fast", T0, T0 + 5 * DAY)
    assert gone.time.size == 0
    # day 7: per-minute aggregates, exact
    m, lo, mean, hi, count = store.minutes(int(fast), T0 + 7 * DAY, T0 + 8 * DAY)
    assert len(m) == 1440 and (count == 6).all()
    fv = fast_v[7].reshape(1440, 6)
    np.testing.assert_array_equal(lo, fv.min(1))
    np.testing.assert_array_equal(hi, fv.max(1))
    np.testing.assert_allclose(mean, fv.astype(float).mean(1), rtol=1e-6)
    assert store.raw(int(fast), T0 + 5 * DAY, T0 + 10 * DAY)[0].size == 0
    s7 = store.series("S-3", T0 + 7 * DAY, T0 + 8 * DAY, max_points=5000)
    assert s7.source == "downsampled" and s7.kind == "buckets" and s7.count.sum() == 1440
    np.testing.assert_array_equal(s7.min, slow[7][3::10])
    # day 12 onwards: raw, as written
    t, v, _ = store.raw(int(keys[3]), T0 + 12 * DAY, T0 + 13 * DAY)
    np.testing.assert_array_equal(v, slow[12][3::10])
    both = store.series("S-3", T0 + 9 * DAY, T0 + 11 * DAY)
    assert both.source == "raw+downsampled" and both.count.sum() == 2880
    # pruning again changes nothing; the store reopens the same
    assert store.prune(T0 + 40 * DAY) == {"days_downsampled": 0, "raw_rows_removed": 0, "minute_rows_removed": 0}
    store.close()
    again = Store(tmp_path / "h", raw_days=30, minute_days=35)
    np.testing.assert_array_equal(again.minutes(int(fast), T0 + 7 * DAY, T0 + 8 * DAY)[1], lo)
    again.close()


def test_a_day_is_downsampled_the_same_read_whole_or_a_series_at_a_time(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    stores = [Store(tmp_path / name, raw_days=1, minute_days=10) for name in ("whole", "one-by-one")]
    t = T0 + np.repeat(np.arange(0, DAY, 20.0), 30)
    v = rng.normal(0, 1, len(t))
    for store in stores:
        keys = store.keys([f"S-{i}" for i in range(30)])
        store.append(np.tile(keys, len(t) // 30), t + np.tile(keys % 20, len(t) // 30), v)
    assert stores[0].prune(T0 + 3 * DAY)["days_downsampled"] == 1
    assert stores[1].prune(T0 + 3 * DAY, budget=1)["days_downsampled"] == 1  # each series a run of its own
    rows = [s.db.execute("SELECT day, series, n FROM minute ORDER BY series").fetchall() for s in stores]
    assert rows[0] == rows[1] and len(rows[0]) == 30 and {n for _, _, n in rows[0]} == {1440}
    for key in (1, 17, 30):
        a, b = (s.minutes(key, T0, T0 + DAY) for s in stores)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    for store in stores:
        store.close()


CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from pathlib import Path
    from twin.history import Store
    store = Store(Path(sys.argv[1]), seal_grace=0)
    keys = store.keys([f"S-{i}" for i in range(500)])
    for m in range(100000):
        t = 1767225600.0 + m * 60.0 + np.arange(500) / 1000
        store.append(keys, t, np.full(500, m, dtype=np.float32))
        print(m, flush=True)  # batch m is committed
""")


def test_a_killed_writer_loses_at_most_the_batch_in_flight(tmp_path: Path) -> None:
    folder = tmp_path / "h"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    committed = -1
    with subprocess.Popen([sys.executable, "-c", CHILD, str(folder)], stdout=subprocess.PIPE, text=True, env=env) as child:
        assert child.stdout is not None
        for line in child.stdout:
            committed = int(line)
            if committed >= 250:  # past four hour seals: the kill may land in a seal
                break
        child.send_signal(signal.SIGKILL)
        child.wait()
        for line in child.stdout:  # what it printed before it died: all committed
            committed = int(line)
    store = Store(folder)
    (k,) = store.keys(["S-499"])
    t, v, _ = store.raw(int(k), T0, T0 + 10 * DAY)
    # every committed batch, and at most the one in flight (written, not yet printed)
    assert committed + 1 <= len(t) <= committed + 2, f"batch {committed} was the last committed; the store holds {len(t)}"
    np.testing.assert_array_equal(v, np.arange(len(t), dtype=np.float32))
    assert len(generations(folder)) == 1
    # a torn record at the end of the log (a kill inside write()) is dropped, the rest kept
    gen = generations(folder)[0]
    with log_path(folder, gen).open("ab") as f:
        f.write(b"TWHL\x00\x10\x00\x00")
    store.close()
    again = Store(folder)
    assert len(again.raw(int(k), T0, T0 + 10 * DAY)[0]) == len(t)
    again.close()


def test_a_running_writer_prunes_on_its_schedule(tmp_path: Path) -> None:
    """A writer with a retention pass every 0.2 s, on a real store keeping raw readings a
    day and minutes two: five days written through it stay whole while the twin's clock
    is at their start; moved to day 3, the next pass leaves day 0 gone, day 1 as
    minutes and 2-4 raw; moved to day 5, a later pass leaves day 3 as minutes and day 4
    raw. Nobody calls prune: the writer's schedule does."""
    store = Store(tmp_path / "h", raw_days=1, minute_days=2)
    (key,) = store.keys(["S-1"])
    now = [T0]
    writer = Writer(store, prune_every=0.2, clock=lambda: now[0])
    try:
        for day in range(5):
            t = T0 + day * DAY + np.arange(1440) * 60.0
            assert writer.submit(np.full(len(t), key), t, np.full(len(t), day, np.float32))
        assert writer.wait_idle()
        time.sleep(0.5)  # passes at the clock's start: nothing is old yet
        assert len(store.raw(int(key), T0, T0 + 5 * DAY)[0]) == 5 * 1440

        def raw_days() -> list[int]:
            t = store.raw(int(key), T0 - DAY, T0 + 5 * DAY)[0]
            return sorted({int((x - T0) // DAY) for x in t})

        def minute_days() -> list[int]:
            t = store.minutes(int(key), T0 - DAY, T0 + 5 * DAY)[0]
            return sorted({int((x - T0) // DAY) for x in t})

        def settled(raw: list[int], minutes: list[int]) -> bool:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if raw_days() == raw and minute_days() == minutes:
                    return True
                time.sleep(0.05)
            return False

        now[0] = T0 + 3 * DAY
        assert settled([2, 3, 4], [1]), (raw_days(), minute_days())
        now[0] = T0 + 5 * DAY
        assert settled([4], [3]), (raw_days(), minute_days())
        m = store.minutes(int(key), T0 + 3 * DAY, T0 + 4 * DAY)
        assert len(m[0]) == 1440 and (m[4] == 1).all() and (m[2] == 3).all()  # one reading a minute, day 3's value
    finally:
        writer.close()
        store.close()


def test_the_writer_never_blocks_and_counts_what_it_sheds(tmp_path: Path) -> None:
    store = Store(tmp_path / "h")
    (k,) = store.keys(["S"])
    writer = Writer(store, max_queued=1000)
    ok = writer.submit(np.full(10, k), T0 + np.arange(10.0), np.arange(10.0))
    assert ok and writer.wait_idle()
    assert writer.metrics()["written"] == 10
    with store._lock:  # the store is busy (a long seal): the writer thread waits on it
        writer.submit(np.full(10, k), T0 + 100 + np.arange(10.0), np.arange(10.0))
        time.sleep(0.2)  # the writer has taken that batch and waits in append
        took = []
        for i in range(30):
            t0 = time.perf_counter()
            writer.submit(np.full(100, k), T0 + 1000 + i * 100 + np.arange(100.0), np.arange(100.0))
            took.append(time.perf_counter() - t0)
        # the batch in flight still counts as queued until written: 900 more fit
        assert writer.metrics()["shed"] == 30 * 100 - 900
        assert max(took) < 0.5, "submit waited for the store"
    assert writer.wait_idle()
    writer.close()
    m = writer.metrics()
    assert (m["written"], m["shed"], m["queued"]) == (920, 2100, 0)
    t, _, _ = store.raw(int(k), T0, T0 + DAY)
    assert len(t) == 920
    assert not threading.Thread.is_alive(writer._thread)
    store.close()


def test_queries_are_answered_while_a_seal_waits_and_see_every_reading_after(tmp_path: Path) -> None:
    store = Store(tmp_path / "h", seal_grace=0)
    keys = store.keys([f"S-{i}" for i in range(20)])
    t = T0 + np.repeat(np.arange(3600.0), 20)
    store.append(np.tile(keys, 3600), t, np.arange(len(t), dtype=np.float32))
    assert store.pending_readings == 72000
    other = sqlite3.connect(tmp_path / "h" / "history.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the database: the seal waits for it
    sealing = threading.Thread(target=store.flush)
    sealing.start()
    try:
        time.sleep(0.5)  # the seal has encoded the hour and waits to begin its transaction
        assert sealing.is_alive()
        answered: list[int] = []
        query = threading.Thread(target=lambda: answered.append(len(store.raw(int(keys[7]), T0, T0 + 3600)[0])))
        query.start()
        query.join(10)
        assert answered == [3600], "a query waited for the seal"
    finally:
        other.execute("ROLLBACK")
        other.close()
    sealing.join(30)
    assert store.pending_readings == 0 and store.db.execute("SELECT count(*) FROM raw").fetchone()[0] == 20
    t7, v7, _ = store.raw(int(keys[7]), T0, T0 + 3600)
    np.testing.assert_array_equal(t7, T0 + np.arange(3600.0))
    np.testing.assert_array_equal(v7, np.arange(7, 72000, 20, dtype=np.float32))
    store.close()
