"""Escalation (twin.loop.escalation): deadlines per level to acknowledge, dispatch and
close an incident, configurable per domain; a missed one hands the incident up the chain
and tells the next in it, recorded on the incident with who was told and when. The
engine's clock runs as fast as it computes, so minutes of deadlines take a moment."""

from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import wait_for
from test_notify import Receiver, _verify, _webhook, _write_config

from twin.authoring.testing import Harness
from twin.loop.escalation import DEFAULT_CHAIN, EscalationError, policy
from twin.loop.notify.config import NotifyConfigError

CHAIN = {"escalation": {
    "deadlines": {str(level): {"acknowledge": 20, "dispatch": 60, "close": 600} for level in range(1, 5)},
    "chain": [{"name": "duty officer", "channels": ["log"]},
              {"name": "section chief", "name_zh": "科长", "role": "chief", "channels": ["hook"]},
              {"name": "district emergency office", "channels": ["hook"]}],
}}


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _harness(tmp_path, toy, receiver, config):
    _write_config(tmp_path / "data", _webhook(receiver.url))
    return Harness(tmp_path / "scene", plugins=[toy], blocks=(2, 2), data_dir=tmp_path / "data", config=config)


def test_a_missed_deadline_goes_up_the_chain_and_tells_the_next(tmp_path, toy, receiver):
    h = _harness(tmp_path, toy, receiver, CHAIN)
    try:
        h.act("toy.open_tap", "T-001", rate=0.5)
        h.run(25)
        [incident] = h.engine.incidents.ordered()
        opened = incident.opened
        h.run(opened + 45 - h.engine.time)  # past two acknowledge deadlines (20 s each)
        h.engine.incidents.act(incident.id, "acknowledge", "duty officer", "late", h.engine.time)
        h.run(10)  # the dispatch deadline (60 s) is still ahead
        incident = h.engine.incidents.incidents[incident.id]
        records = incident.escalations
        assert [(r["time"], r["step"], r["from"], r["to"]) for r in records] == [
            (opened + 20, "acknowledge", "duty officer", "section chief"),
            (opened + 40, "acknowledge", "section chief", "district emergency office")]
        assert records[0]["channels"] == ["hook"] and records[0]["to_zh"] == "科长" and records[0]["role"] == "chief"
        assert records[0]["level"] == incident.peak_level and records[0]["deadline"] == 20.0

        wait_for(lambda: len(receiver.posts) == 2, 10, "the chain's two notifications")
        bodies = [_verify(post) for post in receiver.posts]
        assert [(b["event"], b["escalation"]["to"], b["time"]) for b in bodies] == [
            ("overdue", "section chief", opened + 20), ("overdue", "district emergency office", opened + 40)]
        assert "handed up from duty officer to section chief" in bodies[0]["text"]["en"]
        db = sqlite3.connect(tmp_path / "data" / "alarms.sqlite")
        told = "SELECT channel, event, state FROM outbox WHERE event = 'overdue'"
        wait_for(lambda: db.execute(told).fetchall() == [("hook", "overdue", "sent")] * 2, 10, "both rows marked sent")
        kinds = [k for (k,) in db.execute("SELECT kind FROM incident_events WHERE kind = 'overdue'")]
        assert kinds == ["overdue", "overdue"]
        db.close()
    finally:
        h.close()


def test_acting_in_time_escalates_nothing_and_domains_have_their_own_deadlines(tmp_path, toy, receiver):
    config = json.loads(json.dumps(CHAIN))
    config["escalation"]["domains"] = {"toy": {"deadlines": {"4": {"acknowledge": 5}}}}
    h = _harness(tmp_path, toy, receiver, config)
    try:
        escalator = h.engine.incidents.escalator
        assert escalator.policy.deadline("toy", 4, "acknowledge") == 5 and escalator.policy.deadline("toy", 4, "dispatch") == 60
        assert escalator.policy.deadline("toy", 3, "acknowledge") == 20
        h.act("toy.open_tap", "T-001", rate=0.5)
        h.run(12)
        [incident] = h.engine.incidents.ordered()
        h.engine.incidents.act(incident.id, "acknowledge", "op", now=h.engine.time)
        h.engine.incidents.act(incident.id, "dispatch", "op", now=h.engine.time, unit="tank crew")
        h.run(100)
        assert h.engine.incidents.incidents[incident.id].escalations == []  # acknowledged and dispatched in time
        h.run(600)  # not closed within 600 s (the tank stays full): up one step
        [record] = h.engine.incidents.incidents[incident.id].escalations
        assert record["step"] == "close" and record["to"] == "section chief" and record["time"] == incident.opened + 600
    finally:
        h.close()


def test_the_default_chain_and_deadlines():
    p = policy({})
    assert [s["name"] for s in p.chain] == [s["name"] for s in DEFAULT_CHAIN]
    assert p.deadline("any", 4, "acknowledge") == 300 and p.deadline("any", 1, "close") == 72 * 3600


@pytest.mark.parametrize(("table", "says"), [
    ({"deadline": {}}, "[escalation]: unknown key(s) deadline; valid: deadlines, domains, chain"),
    ({"deadlines": {"5": {"acknowledge": 1}}}, "[escalation.deadlines] 5 = {'acknowledge': 1}; expected a level 1-4"),
    ({"deadlines": {"4": {"ack": 1}}}, "[escalation.deadlines] 4: unknown step(s) ack; valid: acknowledge, dispatch, close"),
    ({"deadlines": {"4": {"close": -1}}}, "[escalation.deadlines] 4.close = -1; expected seconds > 0"),
    ({"chain": []}, "[[escalation.chain]] must list at least one step"),
    ({"chain": [{"who": "x"}]}, "[[escalation.chain]] #1: needs name"),
    ({"domains": {"gas": {"deadline": {}}}}, "[escalation.domains.gas] takes deadlines"),
])
def test_a_wrong_escalation_table_is_one_line(table, says):
    with pytest.raises(EscalationError) as info:
        policy({"escalation": table})
    assert says in str(info.value) and "\n" not in str(info.value)


def test_a_chain_naming_a_channel_the_notifications_file_lacks_does_not_start(tmp_path, toy, receiver):
    config = {"escalation": {"chain": [{"name": "duty officer"}, {"name": "chief", "channels": ["pager"]}]}}
    with pytest.raises(NotifyConfigError, match=r"\[\[escalation.chain\]\] #2 \(chief\): channels 'pager' are not in .*notifications.toml; valid: log, hook"):
        _harness(tmp_path, toy, receiver, config)
