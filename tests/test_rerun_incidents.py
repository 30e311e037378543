"""Reruns and branches replay what people did to incidents (twin.runs.reruns): the
recording keeps each acknowledge, dispatch and close of an incident (``/operator/incident``)
with the incident's alarms, and a rerun or a branch acts on the incident that holds those
alarms in it, which acts on its alarms as the original did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import demo_drill, record_drill

from twin.runs.recording import INCIDENT_TOPIC, read_stream
from twin.runs.reruns import branch_engine, recorded_run, rerun, rerun_and_score
#: the owner unit of the demo's gas mains, where a dispatch without a unit goes
GAS_OWNER = "合肥燃气集团有限公司"

# A gas leak fills the spaces beside its main (one incident), then an overweight vehicle
# stands on a span for a minute (another). The duty officer acknowledges both incidents,
# dispatches the bridge's to a crew of another name than its owner, acknowledges a sewer
# alarm on its own and, at the same moment, dispatches the gas incident; the bridge's is
# closed once its alarm has cleared (which resolves the alarm).
DRILL = '''[drill]
name = "incident responses"
scene = ".."
seed = 31
duration = 180

[[events]]
at = 5
action = "gas.leak"
target = "G-M-0028"
params = { diameter = 0.012, cd = 0.62 }

[[events]]
at = 20
action = "bridge.overload"
target = "B-S-0013"
params = { load = 120.0, duration = 60.0 }

[[events]]
at = 40
operator = "acknowledge"
incident = "*"
note = "both seen"

[[events]]
at = 50
operator = "dispatch"
incident = "B-S-0013"
unit = "bridge crew 2"
note = "inspect the span"

[[events]]
at = 60
operator = "acknowledge"
target = "G-SW-0028"
note = "the sewer too"

[[events]]
at = 60
operator = "dispatch"
incident = "G-VW-0028"
note = "gas company"

[[events]]
at = 150
operator = "close"
incident = "B-S-0013"
note = "vehicle gone, span inspected"
'''


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """The drill run and recorded: (its recording, its result, its clock start)."""
    tmp = tmp_path_factory.mktemp("rerun-incidents")
    root = tmp / "demo"
    root.mkdir()
    recording = tmp / "run.mcap"
    result, start = record_drill(demo_drill(root, "responses", DRILL), recording, tmp / "data")
    assert result.warnings == []
    return recording, result, start


def _events(events: list[dict]) -> list[tuple]:
    """Alarm events as a comparison sees them (alarm ids may differ in a rerun)."""
    return sorted((e["kind"], e["time"], e["alarm"]["asset"], e["alarm"]["rule"], e["alarm"]["level"], e["alarm"]["state"],
                   e["alarm"].get("dispatched_to", ""), e["who"], e["note"]) for e in events)


def _incidents(path: Path) -> list[tuple]:
    """Each incident of a recording as its last frame shows it."""
    _, evidence, _, start = recorded_run(path)
    return sorted((i["state"], i["assets"], i["dispatched_to"], i["closed"] - start if i["closed"] is not None else None,
                   [(a["action"], a["who"], a["time"] - start, a["unit"]) for a in i["actions"]])
                  for i in evidence.incidents.values())


def test_the_recording_keeps_each_incident_action_with_its_alarms(recorded):
    recording, _, start = recorded
    kept = [json.loads(data) for _, _, data in read_stream(recording, (INCIDENT_TOPIC,))]
    assert [(r["kind"], r["time"] - start, r["incident"]["id"], r["who"], r["note"], r["unit"]) for r in kept] == [
        ("acknowledge", 40.0, 1, "drill script", "both seen", ""),
        ("acknowledge", 40.0, 2, "drill script", "both seen", ""),
        ("dispatch", 50.0, 2, "drill script", "inspect the span", "bridge crew 2"),
        ("dispatch", 60.0, 1, "drill script", "gas company", GAS_OWNER),
        ("close", 150.0, 2, "drill script", "vehicle gone, span inspected", "")]
    assert [{(a["rule"], a["asset"]) for a in r["incident"]["alarms"]} for r in kept] == [
        {("gas.lel", "G-VW-0028"), ("gas.lel", "G-MH-0055")}, {("bridge.response", "B-S-0013")},
        {("bridge.response", "B-S-0013")},
        {("gas.lel", "G-VW-0028"), ("gas.lel", "G-MH-0055"), ("gas.lel", "G-SW-0028")}, {("bridge.response", "B-S-0013")}]


def test_a_rerun_with_the_same_configuration_acts_on_the_incidents_as_the_run_did(recorded, tmp_path):
    recording, result, start = recorded
    original = _incidents(recording)
    # the run: the gas incident acknowledged and dispatched, the bridge's dispatched to the crew and closed
    assert original == [
        ("closed", ["B-S-0013"], "bridge crew 2", 150.0,
         [("acknowledge", "drill script", 40.0, ""), ("dispatch", "drill script", 50.0, "bridge crew 2"),
          ("close", "drill script", 150.0, "")]),
        ("dispatched", ["G-VW-0028", "G-MH-0055", "G-SW-0028"], GAS_OWNER, None,
         [("acknowledge", "drill script", 40.0, ""), ("dispatch", "drill script", 60.0, GAS_OWNER)])]
    assert ("acknowledge", start + 60.0, "G-SW-0028", "the sewer too") in [
        (e["kind"], e["time"], e["alarm"]["asset"], e["note"]) for e in result.events]
    warnings: list[str] = []
    was, replayed = rerun(recording, None, out=tmp_path / "rerun.mcap", warnings=warnings)
    assert warnings == []
    # the same alarm events, the sewer's own acknowledgement before the dispatch of its incident included
    assert _events(replayed) == _events(was) == _events(result.events)
    assert _incidents(tmp_path / "rerun.mcap") == original
    # the rerun's recording keeps them too, so that a rerun of the rerun replays them
    _, replayed_again = rerun(tmp_path / "rerun.mcap", None, warnings=warnings)
    assert warnings == [] and _events(replayed_again) == _events(replayed)


def test_a_branch_after_the_close_holds_the_incidents_as_recorded(recorded, tmp_path):
    recording, _, _ = recorded
    warnings: list[str] = []
    engine = branch_engine(recording, 160.0, tmp_path / "b", warnings=warnings)
    try:
        got = {i.id: (i.state, i.dispatched_to, [(a["action"], a["time"] - engine.start) for a in i.actions])
               for i in engine.incidents.incidents.values()}
        states = {a.asset: a.state for a in engine.alarms.alarms.values()}
    finally:
        engine.close()
    assert warnings == []
    assert got == {1: ("dispatched", GAS_OWNER, [("acknowledge", 40.0), ("dispatch", 60.0)]),
                   2: ("closed", "bridge crew 2", [("acknowledge", 40.0), ("dispatch", 50.0), ("close", 150.0)])}
    assert states == {"G-VW-0028": "dispatched", "G-MH-0055": "dispatched", "G-SW-0028": "dispatched",
                      "B-S-0013": "resolved"}


def test_a_rerun_acts_on_the_incident_holding_the_same_alarms_and_says_when_none_does(recorded, tmp_path):
    recording, _, _ = recorded
    # a lower explosive limit far above the leak's methane: no gas alarm, no gas incident,
    # and the bridge's incident is the rerun's first (it was the run's second)
    quiet = {"thresholds": {"gas.lel_risk": {"lel_volume_percent": 100.0}}}
    result = rerun_and_score(recording, quiet, tmp_path / "quiet.mcap")
    assert {e["alarm"]["asset"] for e in result.replayed} == {"B-S-0013"}
    assert _incidents(tmp_path / "quiet.mcap") == [
        ("closed", ["B-S-0013"], "bridge crew 2", 150.0,
         [("acknowledge", "drill script", 40.0, ""), ("dispatch", "drill script", 50.0, "bridge crew 2"),
          ("close", "drill script", 150.0, "")])]
    assert result.warnings == [f"{recording}: {w}" for w in (
        "acknowledge at 40 s: no open incident holds an alarm of recorded incident 1 (G-VW-0028, G-MH-0055); not replayed",
        "acknowledge at 60 s: no open alarm on G-SW-0028",
        "dispatch at 60 s: no open incident holds an alarm of recorded incident 1 (G-VW-0028, G-MH-0055, G-SW-0028); "
        "not replayed")]


def test_a_live_servers_recording_keeps_what_operators_did_to_incidents_through_the_api(tmp_path, toy):
    import httpx
    from conftest import overfilling_build, running, wait_for, wait_healthy

    from twin.serving.server import create_app

    build, _ = overfilling_build(tmp_path, toy)
    path = tmp_path / "live.mcap"
    server = create_app(build, speed=20.0, record=path)
    with running(server.app) as url, httpx.Client(base_url=url, timeout=10) as client:
        wait_healthy(client)
        wait_for(lambda: client.get("/api/incidents").json()["incidents"], 30, "an incident")
        [incident] = client.get("/api/incidents").json()["incidents"]
        assert client.post(f"/api/incidents/{incident['id']}/ack", json={"note": "seen", "who": "Li"}).status_code == 200
        r = client.post(f"/api/incidents/{incident['id']}/dispatch", json={"note": "go", "unit": "tank crew 2"})
        assert r.status_code == 200
        acted = server.engine.seq
        wait_for(lambda: server.engine.seq > acted + 1, 30, "a tick after the actions")  # they are recorded with it
    kept = [json.loads(data) for _, _, data in read_stream(path, (INCIDENT_TOPIC,))]
    assert [(k["kind"], k["who"], k["note"], k["unit"], k["incident"]["id"], k["incident"]["assets"]) for k in kept] == [
        ("acknowledge", "anonymous (said: Li)", "seen", "", incident["id"], ["T-001"]),
        ("dispatch", "anonymous", "go", "tank crew 2", incident["id"], ["T-001"])]
    assert [[(a["rule"], a["asset"]) for a in k["incident"]["alarms"]] for k in kept] == [[("toy.overfill", "T-001")]] * 2
