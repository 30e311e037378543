"""The alarm store's events keep their level, for the history's alarm counts: a store
written before they did is migrated on opening (real SQLite files)."""

from __future__ import annotations

import sqlite3

from twin.serving.history_api import alarm_counts, alarm_marks
from twin.tick.alarms import AlarmBook

T0 = 1_798_761_600.0


def _fill(book: AlarmBook) -> None:
    book.set_level("r", "gas", "G-1", "owner", 1, T0 + 10)  # raise blue
    book.set_level("r", "gas", "G-1", "owner", 3, T0 + 70)  # escalate to orange
    book.set_level("r", "gas", "G-1", "owner", 2, T0 + 130)  # de-escalate: not a raise
    book.set_level("r", "sewer", "S-1", "owner", 4, T0 + 3700)  # raise red
    book.take_events()


def test_events_written_before_the_level_column_get_their_levels_on_opening(tmp_path):
    path = tmp_path / "alarms.sqlite"
    book = AlarmBook(path)
    _fill(book)
    book.close()
    want = sqlite3.connect(path).execute("SELECT seq, kind, level FROM events ORDER BY seq").fetchall()
    assert [(k, lv) for _, k, lv in want] == [("raise", 1), ("escalate", 3), ("deescalate", 2), ("raise", 4)]
    # the same store as a twin before the migration wrote it: no level column, no index
    db = sqlite3.connect(path)
    db.executescript("DROP INDEX events_time; ALTER TABLE events DROP COLUMN level;")
    db.close()
    AlarmBook(path).close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT seq, kind, level FROM events ORDER BY seq").fetchall() == want
    plan = " ".join(str(r) for r in db.execute("EXPLAIN QUERY PLAN SELECT * FROM events WHERE time >= 1 AND time < 2"))
    assert "events_time" in plan
    db.close()


def test_raises_and_escalations_are_counted_per_domain_level_and_bucket_and_marked_per_asset(tmp_path):
    path = tmp_path / "alarms.sqlite"
    book = AlarmBook(path)
    _fill(book)
    book.close()
    counts = alarm_counts(path, T0, T0 + 7200, 3600, ["gas", "tunnel"])
    assert counts.t == [T0, T0 + 3600]
    assert counts.counts == {
        "gas": {"1": [1, 0], "2": [0, 0], "3": [1, 0], "4": [0, 0]},
        "tunnel": {"1": [0, 0], "2": [0, 0], "3": [0, 0], "4": [0, 0]},
        "sewer": {"1": [0, 0], "2": [0, 0], "3": [0, 0], "4": [0, 1]},  # a domain the store names is counted too
    }
    assert [(m.t, m.level) for m in alarm_marks(path, "G-1", T0, T0 + 7200)] == [(T0 + 10, 1), (T0 + 70, 3)]
    assert alarm_marks(path, "G-1", T0 + 71, T0 + 7200) == []
    assert alarm_marks(tmp_path / "none.sqlite", "G-1", T0, T0 + 1) == []  # no store yet: no marks
