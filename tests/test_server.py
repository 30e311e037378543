"""The HTTP API against a real uvicorn on a loopback port."""

import threading
import time

import pytest
from conftest import overfilling_toy, wait_for, wait_healthy


@pytest.fixture
def served(tmp_path, toy):
    gate = threading.Event()  # holds start-up so that the test sees the 503 first
    with overfilling_toy(tmp_path, toy, gate=gate, ready=False) as (_, client, _, made):
        yield client, gate, made


def test_health_is_503_until_built_then_ok(served):
    client, gate, _ = served
    r = client.get("/api/health")
    assert r.status_code == 503 and r.json()["status"] == "starting"
    assert client.get("/api/scene").status_code == 503
    gate.set()
    body = wait_healthy(client)
    assert body["status"] == "ok" and body["plugins"] == {"toy": "active"}


def test_scene_asset_alarms_and_metrics(served):
    client, gate, _ = served
    gate.set()
    wait_healthy(client)
    scene = client.get("/api/scene").json()
    toy = scene["domains"]["toy"]
    assert scene["name"] == "harness" and toy["assets"] == 9 and toy["kinds"] == {"tank": 9}
    assert {f["name"]: f["unit"] for f in toy["fields"]}["level"] == "%"

    missing = client.get("/api/assets/NOPE-1")
    assert missing.status_code == 404 and "no asset 'NOPE-1'" in missing.json()["error"]

    # 0.5 m3/s into 10 m3 is 5 %/s of simulated time; at 20x a red alarm comes quickly
    wait_for(lambda: any(a["level"] == 4 for a in client.get("/api/alarms").json()["alarms"]), 20, "a red alarm")
    [alarm] = client.get("/api/alarms").json()["alarms"]
    assert alarm["level"] == 4 and alarm["asset"] == "T-001" and alarm["domain"] == "toy" and alarm["rule"] == "toy.overfill"
    assert alarm["state"] == "raised" and alarm["since"] > 0

    asset = client.get("/api/assets/T-001").json()
    assert asset["kind"] == "tank" and asset["owner"] == "toy works" and asset["state"]["level"] >= 90
    assert asset["attributes"]["capacity"] == 10.0 and asset["alarms"][0]["id"] == alarm["id"]

    acked = client.post(f"/api/alarms/{alarm['id']}/ack", json={"who": "op1", "note": "on it"})
    assert acked.status_code == 200 and acked.json()["alarm"]["state"] == "acknowledged"
    again = client.post(f"/api/alarms/{alarm['id']}/ack", json={"who": "op1"})
    assert again.status_code == 409 and "is acknowledged" in again.json()["error"]

    metrics = client.get("/metrics").text
    assert "twin_tick_seconds_bucket" in metrics
    assert 'twin_kernel_seconds_total{kernel="toy.overfill",plugin="toy"}' in metrics
    assert "twin_readings_accepted_total" in metrics


def test_director_applies_actions_over_http(served):
    client, gate, made = served
    gate.set()
    wait_healthy(client)
    listed = {a["name"]: a for a in client.get("/api/actions").json()["actions"]}
    assert listed["toy.open_tap"]["params"][0]["unit"] == "m3/s" and "sensor.dead" in listed
    bad = client.post("/api/actions", json={"action": "toy.open_tap", "target": "T-002", "params": {"rate": 99}})
    assert bad.status_code == 400 and "rate = 99.0 m3/s is outside [0, 10]" in bad.json()["error"]
    unknown = client.post("/api/actions", json={"action": "toy.open_tap", "target": "T-999", "params": {"rate": 1}})
    assert unknown.status_code == 400 and "no asset 'T-999'" in unknown.json()["error"]
    ok = client.post("/api/actions", json={"action": "toy.open_tap", "target": "T-002", "params": {"rate": 1.0}})
    assert ok.status_code == 200
    engine = made["h"].engine
    assert engine.actions[-1]["action"] == "toy.open_tap" and engine.actions[-1]["target"] == "T-002"
    deadline = time.monotonic() + 10
    while made["h"].value("T-002", "level", truth=True) == 0.0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
