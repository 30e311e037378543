import numpy as np
import pytest

from twin.tick.alarms import AlarmBook, LevelTracker
from twin.plugins.contributions import AlarmRule
from twin.errors import TwinError


def run(tracker, risks, dt=1.0):
    """Feed one row's risk series; return its level after each step."""
    levels = []
    for step, r in enumerate(risks, start=1):
        tracker.update(np.array([r]), step * dt)
        levels.append(int(tracker.level[0]))
    return levels


def rule(**kw):
    return AlarmRule("t.rule", "t", "risk", "test", **kw)


def test_levels_follow_thresholds_without_dwell():
    t = LevelTracker(rule(raise_dwell=0, clear_dwell=0, hysteresis=0.05), 1, np.ones(1, bool))
    assert run(t, [0.1, 0.25, 0.5, 0.76, 0.95, 0.5, 0.1]) == [0, 1, 2, 3, 4, 2, 0]


def test_hysteresis_holds_a_level_until_risk_falls_below_threshold_minus_band():
    t = LevelTracker(rule(raise_dwell=0, clear_dwell=0, hysteresis=0.05), 1, np.ones(1, bool))
    # enters yellow at .5, stays while >= .45, drops to blue at .44
    assert run(t, [0.5, 0.47, 0.451, 0.44]) == [2, 2, 2, 1]


def test_dwell_delays_raise_and_a_blip_does_not_count():
    t = LevelTracker(rule(raise_dwell=3, clear_dwell=5, hysteresis=0.0), 1, np.ones(1, bool))
    # a one-step blip to .3 never raises; a sustained .3 raises after 3 s
    assert run(t, [0.3, 0.0, 0.3, 0.3, 0.3, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]) == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0]


def test_mask_limits_rows():
    t = LevelTracker(rule(raise_dwell=0), 2, np.array([True, False]))
    t.update(np.array([1.0, 1.0]), 1.0)
    assert list(t.level) == [4, 0]


def test_one_alarm_per_asset_and_rule_escalates_with_history(tmp_path):
    book = AlarmBook(tmp_path / "a.sqlite")
    r = rule()
    book.set_level(r, "t", "A-1", "unit", 1, 10.0)
    book.set_level(r, "t", "A-1", "unit", 3, 20.0)
    book.set_level(r, "t", "A-1", "unit", 2, 30.0)
    events = book.take_events()
    assert [e.kind for e in events] == ["raise", "escalate", "deescalate"]
    [alarm] = book.active()
    assert alarm.level == 2 and alarm.peak_level == 3
    assert [h["level"] for h in alarm.history] == [1, 3, 2]


def test_lifecycle_and_restart_recovery(tmp_path):
    path = tmp_path / "alarms.sqlite"
    book = AlarmBook(path)
    book.set_level(rule(), "t", "A-1", "Water Co.", 2, 5.0)
    book.take_events()
    alarm_id = book.active()[0].id
    with pytest.raises(TwinError, match="acknowledge"):
        book.act(alarm_id, "resolve", "op1", "too early", 6.0)
    book.act(alarm_id, "acknowledge", "op1", "seen", 6.0)
    book.act(alarm_id, "dispatch", "op1", "crew sent", 7.0)
    book.close()

    again = AlarmBook(path)
    [alarm] = again.active()
    assert alarm.state == "dispatched" and alarm.dispatched_to == "Water Co."
    assert [a["action"] for a in alarm.actions] == ["acknowledge", "dispatch"]
    assert alarm.actions[1]["note"] == "crew sent"
    again.act(alarm_id, "resolve", "op2", "fixed", 9.0)
    assert again.active() == []
    # the condition returns after resolution: a new alarm, not the old one reopened
    again.set_level(rule(), "t", "A-1", "Water Co.", 1, 12.0)
    [new] = again.active()
    assert new.id != alarm_id


def test_overdue_when_not_acknowledged_in_time():
    book = AlarmBook(deadlines={4: 300.0})
    book.set_level(rule(), "t", "A-1", "u", 4, 0.0)
    book.check_deadlines(299.0)
    assert not book.active()[0].overdue
    book.check_deadlines(300.0)
    assert book.active()[0].overdue
    assert [e.kind for e in book.take_events()] == ["raise", "overdue"]


def test_resolved_while_active_easing_is_not_a_new_alarm_but_a_rise_is():
    book = AlarmBook()
    book.set_level(rule(), "t", "A-1", "u", 3, 1.0)
    alarm_id = book.active()[0].id
    book.act(alarm_id, "acknowledge", "op", "", 2.0)
    book.act(alarm_id, "resolve", "op", "handled on site", 3.0)
    book.set_level(rule(), "t", "A-1", "u", 2, 4.0, rising=False)
    assert book.active() == []
    book.set_level(rule(), "t", "A-1", "u", 3, 5.0, rising=True)
    [again] = book.active()
    assert again.id != alarm_id and again.level == 3


def test_closing_the_book_waits_for_the_commit_in_flight(tmp_path):
    """The engine commits on its worker thread while a server that shuts down closes the
    book from another; closed in the middle of the commit, the connection crashed the
    whole process (SIGSEGV inside sqlite3, CI of d9da4ca). close() now waits for it."""
    import threading

    class Slow:
        """A participant whose write holds the commit's transaction open until told."""

        def __init__(self):
            self.inside, self.go = threading.Event(), threading.Event()

        def open_store(self, db):
            pass

        def pending(self):
            return True

        def write(self, db, events):
            self.inside.set()
            assert self.go.wait(10)
            db.execute("SELECT count(*) FROM alarms").fetchone()  # the connection is still open

        def committed(self):
            pass

        def rolled_back(self):
            pass

        def check_deadlines(self, now):
            pass

    path = tmp_path / "alarms.sqlite"
    book = AlarmBook(path)
    slow = Slow()
    book.attach(slow)
    book.set_level(rule(), "t", "A-1", "unit", 2, 10.0)
    tick = threading.Thread(target=book.commit)
    tick.start()
    assert slow.inside.wait(10)
    closing = threading.Thread(target=book.close)
    closing.start()
    closing.join(0.5)
    assert closing.is_alive(), "close() returned while a commit was inside the connection"
    slow.go.set()
    tick.join(10)
    closing.join(10)
    assert not closing.is_alive() and book.store_error is None
    assert [a.level for a in AlarmBook(path).active()] == [2]  # the commit landed before the close
