"""The tick is supervised: nothing that goes wrong in a tick stops the twin for good,
and /api/health says what is true. Real uvicorn on loopback, real SQLite files, a real
second process holding the store's lock."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import running, sqlite_locked, wait_for

import hangingplugins
from twin.serving.server import create_app
from twin.authoring.testing import Harness


def health(client):
    r = client.get("/api/health")
    return r.status_code, r.json()


def serve(tmp_path, plugins, speed=10.0, deadline=None, data_dir=None, act=None):
    holder = {}

    def build():
        h = Harness(tmp_path / "scene", plugins=plugins, blocks=(2, 2), simulate=False, data_dir=data_dir)
        if act is not None:
            act(h)
        holder["h"] = h
        return h.engine

    server = create_app(build, speed=speed)
    server.plugin_deadline = deadline
    return server, holder


def advancing(client, ticks=3, timeout=30.0):
    """The seq moves by ``ticks`` within ``timeout`` seconds."""
    start = health(client)[1]["seq"]
    wait_for(lambda: health(client)[1]["seq"] >= start + ticks, timeout, f"{ticks} more ticks after seq {start}")


# -- NaN is never all clear ----------------------------------------------------------
def test_nan_risk_keeps_the_red_alarm_marks_the_field_stale_and_raises_a_system_alarm(tmp_path, toy):
    h = Harness(tmp_path, plugins=[toy, hangingplugins.nan_risk()], blocks=(2, 2), simulate=False)
    h.act("toy.open_tap", "T-001", rate=0.5)
    h.run(60)
    red = [a for a in h.alarms("T-001") if a.rule == "toy.overfill"]
    assert red and red[0].level == 4

    h.engine.world.tables["toy"]["inflow"][h.engine.world.locate("T-001")[1]] = 9.5  # the kernel now gives NaN there
    h.run(5)
    alarm = [a for a in h.alarms("T-001") if a.rule == "toy.overfill"][0]
    assert alarm.level == 4 and alarm.state == "raised", "a NaN risk must not clear a red alarm"
    assert np.isfinite(h.column("toy", "risk")).all(), "NaN must not reach the state, the stream or the recording"
    assert ("toy", "risk") in h.engine.stale_fields
    system = [a for a in h.engine.alarms.active() if a.rule == "system.nonfinite"]
    assert len(system) == 1 and system[0].level == 3 and "nanrisk" in system[0].title and "T-001" in system[0].title
    assert h.engine.registry.plugins["nanrisk"].status == "active"  # other rows go on being scored
    assert b'twin_nonfinite_rows_total{kernel="nanrisk.k",plugin="nanrisk"} 5.0' in h.engine.metrics.exposition()

    h.engine.world.tables["toy"]["inflow"][h.engine.world.locate("T-001")[1]] = 0.5
    h.run(2)
    assert ("toy", "risk") not in h.engine.stale_fields
    assert [a for a in h.engine.alarms.active() if a.rule == "system.nonfinite"][0].level == 0


# -- a plugin that never returns -----------------------------------------------------
def test_a_plugin_looping_for_ever_is_interrupted_and_quarantined_and_the_tick_goes_on(tmp_path, toy):
    trigger = threading.Event()
    server, _ = serve(tmp_path, [toy, hangingplugins.spinning(trigger)], deadline=1.0)
    with running(server.app) as url, httpx.Client(base_url=url, timeout=10) as client:
        wait_for(lambda: health(client)[0] == 200, what="a healthy start")
        trigger.set()
        try:
            status, body = wait_for(lambda: (lambda r: r if r[1]["plugins"]["spinning"] == "quarantined" else None)(health(client)),
                                    what="the spinning plugin's quarantine")
            assert status == 503 and "plugin spinning quarantined" in body["detail"] and "deadline of 1 s" in body["detail"]
            advancing(client)
            assert body["plugins"]["toy"] == "active"
            alarms = client.get("/api/alarms").json()["alarms"]
            assert any(a["rule"] == "system.plugin_quarantined" and a["asset"] == "plugin:spinning" for a in alarms)
            metrics = client.get("/metrics").text
            assert 'twin_plugin_overruns_total{plugin="spinning"} 1.0' in metrics
        finally:
            trigger.clear()


def test_a_plugin_blocked_in_c_is_abandoned_and_the_twin_ticks_on_in_a_new_thread(tmp_path, toy):
    trigger, release = threading.Event(), threading.Event()
    server, _ = serve(tmp_path, [toy, hangingplugins.blocked(trigger, release)], deadline=1.0)
    with running(server.app) as url, httpx.Client(base_url=url, timeout=10) as client:
        wait_for(lambda: health(client)[0] == 200, what="a healthy start")
        trigger.set()
        try:
            wait_for(lambda: health(client)[1]["plugins"]["blocked"] == "quarantined", what="the quarantine")
            advancing(client, timeout=30)  # the interrupt cannot reach a lock wait: only a new thread ticks on
            body = health(client)[1]
            assert "did not return" in (body["last_tick_error"] or "")
            assert 'twin_tick_errors_total{where="tick"} 1.0' in client.get("/metrics").text
        finally:
            release.set()  # the abandoned thread returns, and its TickAbandoned ends it quietly
        advancing(client)


# -- the alarm store locked by another process ---------------------------------------
def test_a_store_locked_by_another_process_degrades_then_recovers_and_loses_no_alarm(tmp_path, toy):
    data = tmp_path / "data"
    server, holder = serve(tmp_path, [toy], data_dir=data)
    with running(server.app) as url, httpx.Client(base_url=url, timeout=10) as client:
        wait_for(lambda: health(client)[0] == 200, what="a healthy start")
        with sqlite_locked(data / "alarms.sqlite", 4):
            # An alarm is raised while the store is locked: the tank overfills.
            holder["h"].engine.world.tables["toy"]["level"][0] = 100.0
            holder["h"].engine.world.tables["toy"]["inflow"][0] = 1.0
            status, body = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(health(client)), what="503 while locked")
            assert body["subsystems"]["alarm_store"]["state"] == "degraded" and "locked" in body["detail"]
            advancing(client, ticks=2)  # ticks go on while the store is locked
            raised = wait_for(lambda: [a for a in client.get("/api/alarms").json()["alarms"] if a["rule"] == "toy.overfill"],
                              what="the overfill alarm")[0]
            r = client.post(f"/api/alarms/{raised['id']}/ack", json={"note": "seen"})
            assert r.status_code == 503 and "cannot be written" in r.json()["error"] and r.headers["retry-after"] == "1"
        wait_for(lambda: health(client)[0] == 200, timeout=30, what="health again after the lock is released")
        r = client.post(f"/api/alarms/{raised['id']}/ack", json={"note": "seen"})
        assert r.status_code == 200 and r.json()["alarm"]["state"] == "acknowledged"  # the refused attempt left no trace
        alarms = client.get("/api/alarms").json()["alarms"]
        assert any(a["rule"] == "toy.overfill" and a["asset"] == "T-000" for a in alarms), alarms
        store = [a for a in alarms if a["rule"] == "system.alarm_store"]
        assert store and store[0]["level"] == 0 and store[0]["peak_level"] == 3  # the outage is on record, and over
    import sqlite3

    with sqlite3.connect(data / "alarms.sqlite") as db:
        kinds = {row[0] for row in db.execute("SELECT rule FROM alarms")}
    assert {"toy.overfill", "system.alarm_store"} <= kinds  # written durably once the lock went


# -- operator notes ------------------------------------------------------------------
def test_a_lone_surrogate_or_an_endless_note_is_refused_and_the_tick_goes_on(tmp_path, toy):
    data = tmp_path / "data"
    server, holder = serve(tmp_path, [toy], data_dir=data, act=lambda h: h.act("toy.open_tap", "T-001", rate=5.0))
    with running(server.app) as url, httpx.Client(base_url=url, timeout=10) as client:
        wait_for(lambda: health(client)[0] == 200, what="a healthy start")
        alarm = wait_for(lambda: [a for a in client.get("/api/alarms").json()["alarms"] if a["asset"] == "T-001"], what="an alarm")[0]
        # The raw JSON escape, as an attacker sends it: it decodes to a lone surrogate.
        r = client.post(f"/api/alarms/{alarm['id']}/ack", content=b'{"note": "\\ud800"}', headers={"content-type": "application/json"})
        assert r.status_code == 400 and "Unicode" in r.json()["error"]
        r = client.post(f"/api/alarms/{alarm['id']}/ack", json={"note": "x" * 5000})
        assert r.status_code == 413 and "at most 4000" in r.json()["error"]
        advancing(client)
        assert health(client)[0] == 200
        r = client.post(f"/api/alarms/{alarm['id']}/ack", json={"note": "valve checked"})
        assert r.status_code == 200 and r.json()["alarm"]["state"] == "acknowledged"


# -- start-up failures ---------------------------------------------------------------
def test_a_failed_start_is_reported_by_health_and_calls_on_fatal(tmp_path):
    def build():
        raise ValueError("scene.toml line 3: units = 'ft': only metres are supported")

    server = create_app(build)
    fatal = []
    server.on_fatal = fatal.append
    with running(server.app) as url, httpx.Client(base_url=url, timeout=10) as client:
        status, body = wait_for(lambda: (lambda r: r if r[1]["status"] == "failed" else None)(health(client)), what="failed")
        assert status == 503 and "only metres" in body["detail"]
    assert fatal == ["scene.toml line 3: units = 'ft': only metres are supported"]


def _serve_cli(args, tmp_path, timeout=120):
    from conftest import free_port

    return subprocess.run([sys.executable, "-m", "twin.cli", "serve", *args, "--port", str(free_port()), "--data", str(tmp_path / "d")],
                          capture_output=True, text=True, timeout=timeout)


def test_serve_exits_non_zero_on_a_bad_scene(tmp_path):
    scene = tmp_path / "bad"
    scene.mkdir()
    (scene / "scene.toml").write_text('name = "bad"\n[[assets]\n', encoding="utf-8")
    done = _serve_cli([str(scene)], tmp_path)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("twin serve: the twin failed to start:") and "scene.toml" in last, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow  # builds the demo district
def test_serve_exits_non_zero_when_its_recording_cannot_be_created(tmp_path, demo_scene_copy):
    done = _serve_cli([str(demo_scene_copy), "--record", str(tmp_path / "missing" / "run.mcap")], tmp_path, timeout=300)
    assert done.returncode != 0
    assert "missing" in done.stderr.strip().splitlines()[-1] and "Traceback" not in done.stderr, done.stderr


@pytest.fixture
def demo_scene_copy(tmp_path) -> Path:
    import shutil

    root = Path(__file__).resolve().parents[1] / "scenes" / "demo"
    target = tmp_path / "demo"
    target.mkdir()
    shutil.copy(root / "scene.toml", target / "scene.toml")
    return target


def test_a_first_call_that_compiles_is_not_an_overrun(tmp_path, toy):
    # numba compiles an updater on its first call, for many seconds on a cold cache: that
    # must not quarantine the plugin (a fresh machine's first tick once lost its gas domain)
    server, _ = serve(tmp_path, [toy, hangingplugins.slow_first_call(2.5)], deadline=1.0)
    with running(server.app) as url, httpx.Client(base_url=url, timeout=10) as client:
        body = wait_for(lambda: (lambda r: r[1] if r[0] == 200 else None)(health(client)), what="a healthy start")
        assert body["plugins"]["coldstart"] == "active"
        advancing(client)
        assert health(client)[1]["plugins"]["coldstart"] == "active"
