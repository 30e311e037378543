"""A replaying server shows what was: it refuses what people would do to the live twin
(acknowledge, dispatch, resolve an alarm; act on an incident; a crew's step), with a
409 that says how to act live, and the replay's record stays as recorded. The viewer
disables those buttons in a replay; a client that is not the viewer must meet the same
refusal from the server (docs/api.md)."""

from __future__ import annotations

import time

import httpx
import pytest
from conftest import running, wait_started

from twin.runs.replay import Replay
from twin.serving.server import create_app

pytestmark = pytest.mark.slow  # a drill recorded once for the session (conftest), then a replay server


def test_a_replay_refuses_actions_on_its_alarms_and_incidents(gas_drill_recording, tmp_path):
    server = create_app(lambda: Replay(gas_drill_recording, tmp_path / "replay"), speed=1.0)
    with running(server.app) as url:
        wait_started(server)
        with httpx.Client(base_url=url, timeout=30) as http:
            ended = http.get("/api/replay").json()["end"]
            assert http.post("/api/replay", json={"action": "seek", "time": ended}).status_code == 200
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not http.get("/api/alarms").json()["alarms"]:
                time.sleep(0.2)
            alarms = http.get("/api/alarms").json()["alarms"]
            assert alarms, "the gas drill's replay shows its alarms at its end"
            # the action a live twin would take next on each alarm (so only the replay refuses it)
            following = {"raised": "ack", "acknowledged": "dispatch", "dispatched": "resolve"}
            alarm = next(a for a in alarms if a["state"] in following)
            answer = http.post(f"/api/alarms/{alarm['id']}/{following[alarm['state']]}",
                               json={"note": "from a replay", "unit": "gas"})
            assert answer.status_code == 409, answer.text
            said = answer.json()
            assert said["code"] == "conflict"
            assert "replay" in said["error"] and "live" in said["error"]
            assert "\n" not in said["error"]
            after = http.get(f"/api/alarms/{alarm['id']}").json()["alarm"]
            assert after["state"] == alarm["state"], "the replay's alarm stays as recorded"
            incidents = http.get("/api/incidents").json()["incidents"]
            assert incidents, "the gas drill's replay shows its incident"
            answer = http.post(f"/api/incidents/{incidents[0]['id']}/ack", json={"note": "from a replay"})
            assert answer.status_code == 409 and "replay" in answer.json()["error"], answer.text
