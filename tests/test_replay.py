"""Replay on the server: the same alarms at the same simulation times, seek, controls."""

import asyncio
import time

import httpx
import numpy as np
import websockets
from conftest import overfilling_build, running, wait_healthy

from twin.serving import protocol as p
from twin.serving.client import Mirror
from twin.runs.recording import info, seek
from twin.runs.replay import Replay, recorded_alarm_events
from twin.serving.server import create_app

def clock_start(path) -> float:
    """A recording's clock start (UTC epoch seconds): the demo's drills run from its scene's start."""
    return float(info(path).metadata["start"])


async def connect(url):
    return await websockets.connect(url, subprotocols=[p.SUBPROTOCOL], max_size=None, compression=None)


def serve_replay(path, tmp_path):
    server = create_app(lambda: Replay(path, tmp_path), speed=1.0)
    return server


def test_replayed_alarms_match_the_recording(gas_drill_recording, tmp_path):
    server = serve_replay(gas_drill_recording, tmp_path)
    with running(server.app) as http:
        wait_healthy(http)

        async def main():
            ws = await connect(http.replace("http", "ws") + "/ws")
            m = Mirror()
            assert isinstance(m.apply(await ws.recv()), p.Hello) and m.hello.mode == "replay"
            state, _ = p.decode_server(await ws.recv())
            start = clock_start(gas_drill_recording)
            assert isinstance(state, p.ReplayState) and not state.playing and (state.start, state.end) == (start, start + 180.0)
            assert state.marks  # the alarms to come are marked on the timeline
            await ws.send(p.encode_client(p.Subscribe()))
            await ws.send(p.encode_client(p.ReplayControl(request=1, action="speed", speed=64.0)))
            await ws.send(p.encode_client(p.ReplayControl(request=2, action="play")))
            async with asyncio.timeout(60):
                while m.seq < 180:
                    m.apply(await ws.recv())
            await ws.close()
            return m

        m = asyncio.run(main())
    replayed = [(e.kind, e.time, e.alarm["asset"], e.alarm["level"]) for e in m.events]
    recorded = [(e["kind"], e["time"], e["alarm"]["asset"], e["alarm"]["level"]) for e in recorded_alarm_events(gas_drill_recording)]
    # the same alarm events at the same simulation times; operator actions come along too
    assert recorded and [r for r in replayed if r[0] not in ("acknowledge", "dispatch", "resolve")] == recorded
    assert any(r[0] == "acknowledge" for r in replayed)


def test_seek_sends_every_screen_the_state_at_that_moment(gas_drill_recording, tmp_path):
    server = serve_replay(gas_drill_recording, tmp_path)
    moment = clock_start(gas_drill_recording) + 123.0
    with running(server.app) as http:
        wait_healthy(http)

        async def main():
            screens = []
            for _ in range(2):
                ws = await connect(http.replace("http", "ws") + "/ws")
                m = Mirror()
                m.apply(await ws.recv())
                m.apply(await ws.recv())
                await ws.send(p.encode_client(p.Subscribe()))
                async with asyncio.timeout(20):
                    while m.seq < 0:
                        m.apply(await ws.recv())
                screens.append((ws, m))
            director = screens[0][0]
            await director.send(p.encode_client(p.ReplayControl(request=9, action="seek", time=moment)))
            for ws, m in screens:  # every screen follows the director
                async with asyncio.timeout(20):
                    while m.seq != 123:
                        msg = m.apply(await ws.recv())
                assert m.time == moment
            for ws, _ in screens:
                await ws.close()
            return screens[1][1]

        follower = asyncio.run(main())
        with httpx.Client(base_url=http) as c:
            assert c.get("/api/replay").json()["time"] == moment
            bad = c.post("/api/replay", json={"action": "speed", "speed": 1000})
            assert bad.status_code == 400 and "between 0.25 and 64" in bad.json()["error"]
    keyframe, deltas = seek(gas_drill_recording, moment)
    expected = Mirror()
    expected.apply(keyframe)
    for d in deltas:
        expected.apply(d)
    for domain, fields in expected.tables.items():
        for name, values in fields.items():
            np.testing.assert_array_equal(follower.tables[domain][name], values, err_msg=f"{domain}.{name}")


def test_live_server_refuses_replay_controls(tmp_path, toy):
    from twin.authoring.testing import Harness

    server = create_app(lambda: Harness(tmp_path / "s", plugins=[toy], blocks=(2, 2)).engine, speed=20.0)
    with running(server.app) as http:
        wait_healthy(http)
        with httpx.Client(base_url=http) as c:
            r = c.post("/api/replay", json={"action": "pause"})
            assert r.status_code == 404 and "live" in r.json()["error"]


def test_director_branches_a_replay_into_a_live_twin(gas_drill_recording, tmp_path):
    server = serve_replay(gas_drill_recording, tmp_path)
    start = clock_start(gas_drill_recording)
    with running(server.app) as http:
        wait_healthy(http)
        with httpx.Client(base_url=http, timeout=120) as c:
            assert c.post("/api/replay", json={"action": "seek", "time": start + 90.0}).status_code == 200
            r = c.post("/api/replay", json={"action": "branch"})
            assert r.status_code == 200
            assert server.mode == "live" and server.replay is None
            deadline = time.monotonic() + 30
            while server.engine.time < start + 95.0:  # it runs on live from 90 s
                assert time.monotonic() < deadline
                time.sleep(0.1)
            # on the recording's simulated clock: never skipped to the wall's, as a live twin's is
            assert server.engine.start == start and server.engine.clock_jumps == 0 and server.engine.time < start + 200
            alarms = {a["asset"] for a in c.get("/api/alarms").json()["alarms"]}
            assert "G-VW-0028" in alarms  # the incident before the branch point is still there
            assert c.get("/api/replay").status_code == 404


def _tap_server(tmp_path, toy, **kwargs):
    """A live server over the toy city with a tap open on T-001 before the first tick."""
    build, made = overfilling_build(tmp_path / "s", toy)
    return create_app(build, speed=50.0, **kwargs), made


def _run_until(http, made, seconds):
    """Wait for the server's first tick, then until its twin has run ``seconds``."""
    wait_healthy(http)
    deadline = time.monotonic() + 30
    while made["h"].engine.time < seconds:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_live_server_records_and_its_recording_replays(tmp_path, toy):
    from twin.runs.recording import info

    path = tmp_path / "live.mcap"
    server, made = _tap_server(tmp_path, toy, record=path)
    with running(server.app) as http:
        _run_until(http, made, 40.0)
    i = info(path)
    assert i.complete and i.metadata["source"] == "live server"
    # the tap opened before the first tick is an input too: a rerun needs it
    assert i.counts["/frame/delta"] >= 40 and i.counts["/input/action"] == 1
    assert [a["kind"] for a in i.alarms][:2] == ["raise", "escalate"]


def test_director_switches_a_recording_live_server_to_replay(tmp_path, toy):
    server, made = _tap_server(tmp_path, toy, record=tmp_path / "live.mcap", data_dir=tmp_path / "data")
    with running(server.app) as http:
        _run_until(http, made, 40.0)
        with httpx.Client(base_url=http, timeout=60) as c:
            missing = c.post("/api/replay", json={"action": "open", "recording": "nope.mcap"})
            assert missing.status_code == 400 and "no recording 'nope.mcap'" in missing.json()["error"]
            r = c.post("/api/replay", json={"action": "open"})  # its own recording, finished now
            assert r.status_code == 200, r.text
            state = r.json()
            assert server.mode == "replay" and state["end"] >= 40.0 and state["marks"]
            assert c.post("/api/replay", json={"action": "seek", "time": 20.0}).json()["time"] == 20.0
            level = {a["asset"]: a["level"] for a in c.get("/api/alarms").json()["alarms"]}
            assert level.get("T-001", 0) >= 1  # the alarms as they were at 20 s of the recording
            again = c.post("/api/replay", json={"action": "open"})
            assert again.status_code == 400 and "already replaying" in again.json()["error"]
