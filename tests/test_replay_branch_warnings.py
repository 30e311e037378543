"""A replay server's branch answers (and logs) the re-run's warnings: a recorded operator
action that finds nothing to act on in the re-run is said, not dropped."""

from __future__ import annotations

import logging

import httpx
from conftest import running, wait_healthy

from twin.authoring.testing import Harness
from twin.runs.recording import Recorder
from twin.runs.replay import Replay
from twin.serving.server import create_app


def _recording_with_a_field_only_alarm(tmp_path):
    """A recording of a small city of the installed plugins, 20 s, in which an operator
    acknowledges at 10 s an alarm the twin alone had (as real readings raise one; the
    re-run's simulator never does): (its path, the alarm's asset)."""
    h = Harness(tmp_path / "city", entry_points=True, blocks=(2, 2))
    engine = h.engine
    path = tmp_path / "run.mcap"
    recorder = Recorder(path, engine)
    try:
        plugin, rule = engine.registry.rules[0]
        asset = engine.scene.assets[rule.domain][0]
        for n in range(20):
            if n == 10:
                engine.alarms.set_level(rule, rule.domain, asset.id, asset.owner, 3, engine.time)
                [alarm] = [a for a in engine.alarms.active() if a.asset == asset.id and a.rule == rule.name]
                engine.alarms.act(alarm.id, "acknowledge", "Li", "seen in the field", engine.time)
            recorder.record(engine.tick())
    finally:
        recorder.close()
        engine.close()
    assert not recorder.failed, recorder.error
    return path, asset.id


def test_a_branch_answers_and_logs_the_actions_its_rerun_found_nothing_for(tmp_path, caplog):
    path, asset = _recording_with_a_field_only_alarm(tmp_path)
    server = create_app(lambda: Replay(path, tmp_path / "replay"), speed=1.0)
    with running(server.app) as http:
        wait_healthy(http)
        with httpx.Client(base_url=http, timeout=120) as c:
            start = c.get("/api/replay").json()["start"]
            assert c.post("/api/replay", json={"action": "seek", "time": start + 15.0}).status_code == 200
            with caplog.at_level(logging.WARNING, logger="twin.serving.replay"):
                r = c.post("/api/replay", json={"action": "branch"})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["mode"] == "live"
    assert answer["warnings"] == [f"{path}: acknowledge at 10 s: no open alarm on {asset}"]
    assert [m.getMessage() for m in caplog.records if m.name == "twin.serving.replay" and m.levelno == logging.WARNING] == [
        f"branch: {path}: acknowledge at 10 s: no open alarm on {asset}"]


def test_a_branch_over_the_websocket_answers_the_warnings_in_its_result(tmp_path):
    """The director's screen branches over the WebSocket (the viewer's replay controls):
    its Result carries the re-run's warnings, for the screen to show."""
    import asyncio

    import websockets

    from twin.serving import protocol as p

    path, asset = _recording_with_a_field_only_alarm(tmp_path)
    server = create_app(lambda: Replay(path, tmp_path / "replay"), speed=1.0)
    with running(server.app) as http:
        wait_healthy(http)
        with httpx.Client(base_url=http, timeout=120) as c:
            start = c.get("/api/replay").json()["start"]

        async def branch() -> list[p.Result]:
            async with websockets.connect(http.replace("http", "ws") + "/ws", subprotocols=[p.SUBPROTOCOL], max_size=None,
                                          compression=None) as ws:
                answers = []
                for n, control in enumerate((p.ReplayControl(1, "seek", time=start + 15.0), p.ReplayControl(2, "branch")), 1):
                    await ws.send(p.encode_client(control))
                    async with asyncio.timeout(120):
                        while True:
                            msg, _ = p.decode_server(await ws.recv())
                            if isinstance(msg, p.Result) and msg.request == n:
                                answers.append(msg)
                                break
                return answers

        seek, branched = asyncio.run(branch())
    assert seek.ok and seek.warnings == [], seek
    assert branched.ok and server.replay is None, branched
    assert branched.warnings == [f"{path}: acknowledge at 10 s: no open alarm on {asset}"]
