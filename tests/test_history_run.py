"""A drill on a real server keeps a history of its own (twin.history.feed.open_run_history):
`twin serve --exercise` of a demo drill on its simulated clock, in a subprocess over a
temporary data folder; the history API answers the drill's readings and stored fields
from its start, from a store in the data folder's runs/, never in the city's history/,
with the truth the exercise's recording samples beside them."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest
from conftest import ROOT, free_port, running, wait_for, wait_healthy

pytestmark = pytest.mark.slow  # the demo served at 10x for a simulated minute: 20-40 s here

#: the gas-leak drill's leak reaches this manhole's detector about 20 s in (a yellow alarm by 2 min)
ASSET = "G-MH-0055"


def test_a_drill_on_a_server_answers_its_history_from_its_start(tmp_path):
    data = tmp_path / "data"
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "twin.cli", "serve", "--exercise",
                                   str(ROOT / "scenes" / "demo" / "drills" / "gas-leak.toml"), "--speed", "10",
                                   "--data", str(data), "--port", str(port)], stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, 120, ticking=True, process=server, log=log)
        with httpx.Client(base_url=url, timeout=30) as api:
            sensor = api.get(f"/api/assets/{ASSET}").json()["sensors"][0]["id"]

            def exercised():
                s = api.get("/api/exercise").json()
                return s if s["state"] != "idle" and s["at"] >= 90 else None

            state = wait_for(exercised, 60, "a minute and a half of the drill")
            start, now = state["start"], state["time"]
            assert abs(start - time.time()) > 86400  # the drill's clock (its scene's start), not the wall's

            r = api.get(f"/api/history/sensors/{sensor}", params={"from": start, "to": now})
            assert r.status_code == 200, r.text
            readings = r.json()
            assert readings["source"] == "raw" and readings["step"] is None
            t = readings["points"]["t"]
            assert len(t) >= 30 and start <= t[0] < start + 10 and t[-1] < now and t == sorted(t)
            assert max(readings["points"]["v"]) > min(readings["points"]["v"])  # the leak reached it
            # the exercise records itself: the truth its recorder samples comes beside, as in a replay
            assert state["recording"]
            truth = readings["truth"]
            assert truth["t"][0] <= start + 5 and len(truth["t"]) == len(truth["v"]) >= 2 and truth["t"][-1] < now
            assert max(truth["v"]) > min(truth["v"])

            # the asset's stored risk, with the level bands and the raise of its alarm
            r = api.get(f"/api/history/assets/{ASSET}", params={"field": "risk", "from": start, "to": now})
            assert r.status_code == 200, r.text
            risk = r.json()
            assert risk["series"] == f"gas/{ASSET}/risk" and len(risk["thresholds"]) == 4
            assert len(risk["points"]["t"]) >= 3 and risk["points"]["t"][0] < start + 15
            assert risk["alarms"] and start < risk["alarms"][0]["t"] < now
            assert max(risk["truth"]["v"]) >= 0.25  # the true risk rose past the first level (blue) too

        # the run's own store; the city's history/ was never opened
        assert not (data / "history").exists()
        (run,) = (data / "runs").iterdir()
        assert (run / "history" / "history.sqlite").is_file()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_branch_of_a_replay_keeps_its_own_history_from_the_branch_point(tmp_path):
    """A director branches a replayed run ("run live from here"): the what-if run that goes
    on keeps a store of its own in runs/, and the API answers its readings from the branch
    point on (before it, the data folder's history has nothing of a run on its clock)."""
    from twin.authoring.testing import Harness
    from twin.runs.recording import Recorder
    from twin.runs.replay import Replay
    from twin.serving.server import create_app

    h = Harness(tmp_path / "city", entry_points=True, blocks=(2, 2))
    path = tmp_path / "run.mcap"
    recorder = Recorder(path, h.engine)
    try:
        for _ in range(20):
            recorder.record(h.engine.tick())
    finally:
        recorder.close()
        h.engine.close()
    sensor = h.scene.sensors[0].id
    data = tmp_path / "data"
    server = create_app(lambda: Replay(path, data), speed=20.0, data_dir=data)
    with running(server.app) as url:
        wait_healthy(url)
        with httpx.Client(base_url=url, timeout=120) as c:
            start = c.get("/api/replay").json()["start"]
            assert c.post("/api/replay", json={"action": "seek", "time": start + 15.0}).status_code == 200
            r = c.post("/api/replay", json={"action": "branch"})
            assert r.status_code == 200 and r.json()["mode"] == "live", r.text
            assert server.engine.history is not None
            branched = server.engine.time
            wait_for(lambda: server.engine.time > branched + 60, 30, "a minute of the branch")
            now = server.engine.time
            answer = c.get(f"/api/history/sensors/{sensor}", params={"from": start, "to": now}).json()
    assert answer["source"] == "raw", answer
    t = answer["points"]["t"]
    assert t and branched - 1 <= t[0] < branched + 60 and t == sorted(t) and t[-1] < now
    assert not (data / "history").exists()
    assert [p.name for p in (next((data / "runs").iterdir())).iterdir()] == ["history"]
