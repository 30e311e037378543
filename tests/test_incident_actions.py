"""An incident's actions act on its alarms, in the same transaction, each alarm event
recorded; an incident whose alarms are all acknowledged one by one is acknowledged
(docs/incidents.md, "Actions on an incident act on its alarms")."""

from __future__ import annotations

import sqlite3

import pytest
from test_incidents import _asset, _books, _clear, _raise, _scene

from twin.errors import TwinError
from twin.tick.alarms import StoreUnavailable


def _three(tmp_path):
    """An incident of three water alarms 10 m apart (ids 1, 2, 3), on a store."""
    path = tmp_path / "alarms.sqlite"
    scene = _scene(_asset("W-1", "water", 0, 0), _asset("W-2", "water", 10, 0), _asset("W-3", "water", 20, 0))
    alarms, book = _books(path, scene)
    for n, asset in enumerate(("W-1", "W-2", "W-3")):
        _raise(alarms, asset, 2, float(n))
    alarms.take_events()
    return path, alarms, book


def test_acknowledge_dispatch_close_carry_to_the_alarms_with_who_note_and_unit(tmp_path):
    path, alarms, book = _three(tmp_path)
    alarms.act(2, "acknowledge", "Wang", "seen on the map", now=5.0)  # one already acknowledged on its own
    book.act(1, "acknowledge", "Li", "on it", now=10.0)
    assert [alarms.alarms[i].state for i in (1, 2, 3)] == ["acknowledged"] * 3
    assert alarms.alarms[1].actions[-1] == {"action": "acknowledge", "who": "Li", "time": 10.0, "note": "on it", "unit": ""}
    assert alarms.alarms[2].actions[-1]["who"] == "Wang"  # left as it was: already acknowledged

    _raise(alarms, "W-1", 3, 20.0)  # escalates: the incident stays acknowledged
    book.act(1, "dispatch", "Li", "crew 3 go", now=30.0, unit="Binhe water crew")
    assert {alarms.alarms[i].dispatched_to for i in (1, 2, 3)} == {"Binhe water crew"}
    assert {alarms.alarms[i].state for i in (1, 2, 3)} == {"dispatched"}
    for n in (1, 2, 3):
        _clear(alarms, f"W-{n}", 40.0)
    closed = book.act(1, "close", "Li", "main repaired", now=50.0)
    assert closed.state == "closed" and {alarms.alarms[i].state for i in (1, 2, 3)} == {"resolved"}
    assert alarms.active() == []

    # every alarm event is there for the stream and the recorder (take_events), in order,
    # with the incident's who and note, and in the store's audit trail
    events = [(e.kind, e.alarm["id"], e.who, e.note) for e in alarms.take_events() if e.kind in ("acknowledge", "dispatch", "resolve")]
    assert events == [("acknowledge", 2, "Wang", "seen on the map"), ("acknowledge", 1, "Li", "on it"),
                      ("acknowledge", 3, "Li", "on it"), *[("dispatch", i, "Li", "crew 3 go") for i in (1, 2, 3)],
                      *[("resolve", i, "Li", "main repaired") for i in (1, 2, 3)]]
    rows = sqlite3.connect(path).execute("SELECT kind, alarm, who FROM events WHERE kind = 'resolve' ORDER BY seq").fetchall()
    assert rows == [("resolve", i, "Li") for i in (1, 2, 3)]
    kinds = [k for (k,) in sqlite3.connect(path).execute("SELECT kind FROM incident_events ORDER BY seq")]
    assert kinds.count("acknowledge") == 1 and kinds[-1] == "close"


def test_dispatch_acknowledges_a_raised_alarm_first_and_a_new_unit_takes_them_all(tmp_path):
    _, alarms, book = _three(tmp_path)
    book.act(1, "acknowledge", "Li", now=10.0)
    book.act(1, "dispatch", "Li", now=20.0)  # to the owner
    assert {alarms.alarms[i].dispatched_to for i in (1, 2, 3)} == {"water works"}
    book.act(1, "dispatch", "Zhao", "hand over", now=30.0, unit="district crew")
    assert {alarms.alarms[i].dispatched_to for i in (1, 2, 3)} == {"district crew"}
    assert alarms.alarms[3].actions[-1] == {"action": "dispatch", "who": "Zhao", "time": 30.0, "note": "hand over",
                                            "unit": "district crew"}


def test_a_raised_alarm_joining_later_is_acknowledged_then_dispatched(tmp_path):
    path = tmp_path / "alarms.sqlite"
    scene = _scene(_asset("W-1", "water", 0, 0), _asset("W-2", "water", 10, 0))
    alarms, book = _books(path, scene)
    _raise(alarms, "W-1", 2, 0.0)
    book.act(1, "acknowledge", "Li", now=1.0)
    _raise(alarms, "W-2", 1, 2.0)  # joins the acknowledged incident: raised, someone must look at it
    assert book.incidents[1].alarms == [1, 2] and alarms.alarms[2].state == "raised"
    assert book.incidents[1].state == "acknowledged"
    alarms.take_events()
    book.act(1, "dispatch", "Li", "go", now=3.0)
    assert [a["action"] for a in alarms.alarms[2].actions] == ["acknowledge", "dispatch"]
    assert [(e.kind, e.alarm["id"]) for e in alarms.take_events()] == [("dispatch", 1), ("acknowledge", 2), ("dispatch", 2)]


def test_close_resolves_a_cleared_alarm_nobody_acknowledged_and_still_refuses_an_active_one(tmp_path):
    _, alarms, book = _three(tmp_path)
    book.act(1, "acknowledge", "Li", now=10.0)
    with pytest.raises(TwinError, match=r"still has 3 active alarm\(s\)"):
        book.act(1, "close", "Li", now=11.0)
    assert {alarms.alarms[i].state for i in (1, 2, 3)} == {"acknowledged"}  # the refusal changed nothing
    for n in (1, 2, 3):
        _clear(alarms, f"W-{n}", 20.0)
    book.act(1, "close", "Li", "false alarm", now=30.0)
    assert {alarms.alarms[i].state for i in (1, 2, 3)} == {"resolved"}


def test_a_store_that_cannot_be_written_leaves_the_incident_and_every_alarm_as_they_were(tmp_path):
    path, alarms, book = _three(tmp_path)
    before = {i: alarms.alarms[i].to_json() for i in (1, 2, 3)}
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    with pytest.raises(StoreUnavailable):
        book.act(1, "acknowledge", "Li", "seen", now=10.0)
    assert {i: alarms.alarms[i].to_json() for i in (1, 2, 3)} == before and book.incidents[1].state == "open"
    assert alarms.pending_events == [] and book.incidents[1].actions == []
    other.execute("ROLLBACK")
    book.act(1, "acknowledge", "Li", "seen", now=11.0)  # once, all of it
    assert [(k, a) for k, a in sqlite3.connect(path).execute("SELECT kind, alarm FROM events WHERE kind = 'acknowledge'")] == [
        ("acknowledge", 1), ("acknowledge", 2), ("acknowledge", 3)]


def test_acknowledging_every_alarm_one_by_one_acknowledges_the_incident_and_no_further(tmp_path):
    path, alarms, book = _three(tmp_path)
    alarms.act(1, "acknowledge", "Wang", now=5.0)
    alarms.act(2, "acknowledge", "Wang", now=6.0)
    assert book.incidents[1].state == "open"  # one is still raised
    alarms.act(3, "acknowledge", "Zhao", "all seen", now=7.0)
    incident = book.incidents[1]
    assert incident.state == "acknowledged" and incident.response_times()["acknowledge"] == 7.0 - incident.opened
    assert incident.actions == [{"action": "acknowledge", "who": "Zhao", "time": 7.0,
                                 "note": "every alarm of it acknowledged: all seen", "unit": ""}]
    rows = sqlite3.connect(path).execute("SELECT kind, who, alarm FROM incident_events WHERE kind = 'acknowledge'").fetchall()
    assert rows == [("acknowledge", "Zhao", 3)]
    # dispatching and resolving every alarm does not dispatch or close the incident
    for i in (1, 2, 3):
        alarms.act(i, "dispatch", "Zhao", now=8.0)
        alarms.act(i, "resolve", "Zhao", now=9.0)
    assert book.incidents[1].state == "acknowledged"
