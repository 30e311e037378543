"""The engine's clock: UTC wall time for a live twin, a simulated clock from a fixed
instant for every other run (the drill's `start`, else the scene's, else a documented
default); drills, recordings, replay, rerun and branch count from the clock's start."""

import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets
from conftest import running

from twin.serving import protocol as p
from twin.runs.drill import load_drill
from twin.tick.engine import Engine
from twin.runs.recording import Recorder, RecordingReader, info, read_stream
from twin.runs.replay import Replay
from twin.runs.reruns import branch_engine, compare, rerun, run_drill
from twin.runtime import open_twin
from twin.serving.server import create_app

ROOT = Path(__file__).resolve().parents[1]
#: a clock start as a live twin has one: 2027-01-15 08:00:00 UTC (16:00 in Shanghai)
EPOCH = 1_800_000_000.0
#: the demo scene's `start`: 2026-07-15T14:00:00+08:00
DEMO_START = 1_784_095_200.0


# ------------------------------------------------------------------- drills and recordings


@pytest.fixture(scope="module")
def gas_drill(tmp_path_factory):
    """The demo's gas drill, cut to 3 min (its expectation is due by 2 min)."""
    root = tmp_path_factory.mktemp("clock")
    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", root / "scene.toml")
    (root / "drills").mkdir()
    text = (ROOT / "scenes" / "demo" / "drills" / "gas-leak.toml").read_text().replace('duration = "00:06:00"', 'duration = "00:03:00"')
    (root / "drills" / "gas.toml").write_text(text)
    return load_drill(root / "drills" / "gas.toml")


def _record(drill, folder: Path, start: float | None):
    """The drill recorded on a clock from ``start`` (None: as `twin drill run` does, from
    the drill's or its scene's start)."""
    engine = open_twin(drill.scene, folder / "data", seed=drill.seed, config=drill.config, dt=drill.dt, persist=False,
                       start=drill.start if start is None else start)
    path = folder / f"run-{engine.start:.0f}.mcap"
    recorder = Recorder(path, engine, {"drill": drill.name})
    result = run_drill(drill, engine, recorder)
    recorder.close()
    return path, result, engine


@pytest.fixture(scope="module")
def runs(gas_drill, tmp_path_factory):
    """The same drill recorded on its own clock (the demo scene's start) and on one from EPOCH."""
    folder = tmp_path_factory.mktemp("runs")
    return _record(gas_drill, folder, None), _record(gas_drill, folder, EPOCH)


def _shape(events, start):
    """Alarm events as (kind, asset, level, offset from the clock's start)."""
    return [(e["kind"], e["alarm"]["asset"], e["alarm"]["level"], round(e["time"] - start, 6)) for e in events]


def test_a_drill_runs_on_a_simulated_clock_from_its_scenes_start(runs, gas_drill):
    (path, result, engine), _ = runs
    assert gas_drill.start is None  # the demo's gas drill names no start: its scene's
    assert engine.start == DEMO_START and engine.absolute_clock and not engine.live
    assert math.isclose(engine.time, DEMO_START + gas_drill.duration)
    i = info(path)
    assert i.metadata["start"] == repr(DEMO_START) and i.metadata["timezone"] == "Asia/Shanghai"
    reader = RecordingReader(path)
    assert reader.clock_start == DEMO_START and i.start == DEMO_START
    reader.close()
    # the drill's events are recorded at the clock's time: its start plus their offsets
    actions = [a["time"] for a in (json.loads(d) for _, _, d in read_stream(path, ("/input/action",)))]
    assert actions == [DEMO_START + e.at for e in gas_drill.events if e.action]
    assert result.passed and result.events and all(DEMO_START < e["time"] <= DEMO_START + 180 for e in result.events)


def test_the_same_drill_from_another_instant_is_the_same_run_shifted(runs, gas_drill):
    (path0, result0, _), (path1, result1, engine) = runs
    assert engine.start == EPOCH and engine.absolute_clock
    assert engine.time == EPOCH + gas_drill.duration
    # drill times are offsets from the start: the same actions, alarms and scores
    assert _shape(result1.events, EPOCH) == _shape(result0.events, DEMO_START)
    assert [(s.passed, s.detail) for s in result1.scores] == [(s.passed, s.detail) for s in result0.scores]
    assert result1.passed and not result1.warnings
    i = info(path1)
    assert i.metadata["start"] == repr(EPOCH) and i.metadata["timezone"] == "Asia/Shanghai"
    assert i.start == EPOCH and i.end == EPOCH + gas_drill.duration
    actions = [a["time"] for a in (json.loads(d) for _, _, d in read_stream(path1, ("/input/action",)))]
    assert actions == [EPOCH + e.at for e in gas_drill.events if e.action]


def test_a_recording_on_an_absolute_clock_reruns_from_its_start(runs):
    _, (path, _, _) = runs
    recorded, replayed = rerun(path, None)
    assert recorded and [d for d in compare(recorded, replayed) if d.change != "same"] == []
    assert all(EPOCH < e["time"] <= EPOCH + 180 for e in replayed)


def test_a_recording_on_an_absolute_clock_branches_at_an_offset(runs):
    (path0, _, _), (path1, _, _) = runs
    branched = branch_engine(path1, 90.0)
    same = branch_engine(path0, 90.0)
    try:
        assert branched.start == EPOCH and branched.time == EPOCH + 90.0
        # the recorded incidents were scheduled at their offsets: the same gas network as the
        # run from the scene's start (the bridges' daily cycles read the clock: their state may differ)
        assert branched.world.tables["gas"].digest() == same.world.tables["gas"].digest()
        assert {(a.asset, a.level) for a in branched.alarms.active()} == {(a.asset, a.level) for a in same.alarms.active()}
        assert "G-VW-0028" in {a.asset for a in branched.alarms.active()}
    finally:
        branched.close()
        same.close()
    with pytest.raises(ValueError, match=r"cannot branch at 00:05:00: the recording ends at 00:03:00"):
        branch_engine(path1, 300.0)


def test_a_recording_on_an_absolute_clock_replays_on_its_clock(runs, tmp_path):
    _, (path, result, _) = runs
    replay = Replay(path, tmp_path)
    try:
        assert replay.engine.start == EPOCH and replay.engine.absolute_clock
        assert replay.start == EPOCH and replay.end == EPOCH + 180.0
        replay.seek(EPOCH + 90.0)
        assert replay.engine.time == EPOCH + 90.0
        raised = {e["alarm"]["asset"] for e in result.events if e["kind"] == "raise" and e["time"] <= EPOCH + 90.0}
        assert raised and raised <= {a.asset for a in replay.engine.alarms.active()}
    finally:
        replay.close()


def test_twin_branch_at_is_an_offset_from_the_recordings_start(runs, tmp_path):
    _, (path, _, _) = runs
    out = tmp_path / "branch.mcap"
    done = subprocess.run([sys.executable, "-m", "twin.cli", "branch", str(path), "--at", "90", "--duration", "10",
                           "--out", str(out), "--data", str(tmp_path / "data")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"branched {path} at 00:01:30; ran to 00:01:40; recorded to {out}" in done.stdout
    i = info(out)
    assert i.metadata["start"] == repr(EPOCH) and i.metadata["branch_time"] == "90.0"
    assert i.start == EPOCH + 90.0 and i.end == EPOCH + 100.0
    shown = subprocess.run([sys.executable, "-m", "twin.cli", "record", "info", str(out)], capture_output=True, text=True, timeout=120)
    assert "clock start  2027-01-15T08:00:00Z" in shown.stdout and "00:01:30 .. 00:01:40" in shown.stdout, shown.stdout + shown.stderr


def test_skip_to_moves_the_clock_by_whole_ticks_and_counts(tmp_path, toy):
    from twin.authoring.testing import Harness

    h = Harness(tmp_path / "s", plugins=[toy], blocks=(2, 2))
    engine = Engine(h.scene, h.registry, start=EPOCH)
    try:
        engine.tick()
        assert engine.time == EPOCH + 1.0
        assert engine.skip_to(EPOCH + 0.5) == 0.0 and engine.clock_jumps == 0  # behind the clock: nothing
        assert engine.skip_to(EPOCH + 7.6) == 6.0
        assert engine.time == engine.simulator.world.time == EPOCH + 7.0
        assert (engine.clock_jumps, engine.clock_skipped) == (1, 6.0)
        assert engine.tick().time == EPOCH + 8.0
    finally:
        engine.close()
        h.close()


# ------------------------------------------------------------------------ a live server


def _live_build(root: Path, toy, made: dict):
    """Build a live twin over the toy city on UTC wall time, with a tap that alarms at once."""
    from twin.authoring.testing import Harness

    def build():
        h = Harness(root / "scene", plugins=[toy], blocks=(2, 2))
        h.engine.close()
        h.engine = Engine(h.scene, h.registry, data_dir=root / "data", start=float(math.floor(time.time())), live=True)
        made["h"] = h
        return h.engine

    return build


def _hello(http: str) -> p.Hello:
    """The Hello a client gets from the server at ``http``."""
    import asyncio

    async def first() -> p.Hello:
        async with websockets.connect(http.replace("http://", "ws://") + "/ws", subprotocols=[p.SUBPROTOCOL], max_size=None) as ws:
            message, _ = p.decode_server(await ws.recv())
            return message

    return asyncio.run(first())


def _wait(check, seconds=30.0):
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_live_twin_runs_on_utc_wall_time_and_its_alarms_survive_a_restart(tmp_path, toy):
    made: dict = {}
    (tmp_path / "data").mkdir()
    server = create_app(_live_build(tmp_path, toy, made), speed=1.0, data_dir=tmp_path / "data")
    with running(server.app) as http, httpx.Client(base_url=http, timeout=30) as c:
        _wait(lambda: "h" in made and c.get("/api/health").status_code == 200)
        engine = made["h"].engine
        assert engine.absolute_clock and abs(engine.time - time.time()) < 5.0
        hello = _hello(http)
        assert hello.absolute_clock is True and hello.timezone == "UTC" and abs(hello.time - time.time()) < 5.0
        engine.apply_action("toy.open_tap", "T-001", {"rate": 5.0})
        _wait(lambda: c.get("/api/alarms").json()["alarms"])
        before = c.get("/api/alarms").json()
        alarm = next(a for a in before["alarms"] if a["asset"] == "T-001")
        assert abs(alarm["since"] - time.time()) < 10.0 and abs(before["time"] - time.time()) < 10.0
    old_updated = alarm["updated"]
    time.sleep(1.1)  # the next run starts at a later second

    made.clear()
    server = create_app(_live_build(tmp_path, toy, made), speed=1.0, data_dir=tmp_path / "data")
    with running(server.app) as http, httpx.Client(base_url=http, timeout=30) as c:
        _wait(lambda: "h" in made and c.get("/api/health").status_code == 200)
        engine = made["h"].engine
        # nothing goes backwards: the new run's clock is past everything the old one stored
        _wait(lambda: engine.seq >= 1)
        assert engine.start >= old_updated and engine.time > old_updated
        kept = {a["id"]: a for a in c.get("/api/alarms").json()["alarms"]}
        assert kept[alarm["id"]]["since"] == alarm["since"]
        restart = engine.time
        r = c.post(f"/api/alarms/{alarm['id']}/ack", json={"note": "after the restart"})
        assert r.status_code == 200, r.text
        changed = c.get("/api/alarms", params={"since": restart}).json()["alarms"]
        assert [a["id"] for a in changed] == [alarm["id"]] and changed[0]["state"] == "acknowledged"
        assert changed[0]["updated"] >= restart > old_updated
        assert c.get("/api/alarms", params={"since": engine.time + 60}).json()["alarms"] == []


def test_a_scene_names_its_time_zone_and_a_wrong_one_is_refused_with_its_line(tmp_path, toy):
    from twin.errors import SceneError
    from twin.tick.scene import load_scene
    from twin.authoring.testing import Harness

    h = Harness(tmp_path / "s", plugins=[toy], blocks=(2, 2))
    h.close()
    assert h.scene.timezone == "UTC"  # the default
    toml = tmp_path / "s" / "scene.toml"
    text = toml.read_text()
    toml.write_text(text.replace("[scene]\n", '[scene]\ntimezone = "Asia/Shanghai"\n', 1))
    assert load_scene(tmp_path / "s", h.registry.domains).timezone == "Asia/Shanghai"
    toml.write_text(text.replace("[scene]\n", '[scene]\ntimezone = "Mars/Olympus_Mons"\n', 1))
    with pytest.raises(SceneError) as raised:
        load_scene(tmp_path / "s", h.registry.domains)
    line = text.splitlines().index("[scene]") + 2
    assert str(raised.value).splitlines()[-1].strip() == (
        f"{toml}: line {line}: [scene] timezone = 'Mars/Olympus_Mons'; expected an IANA time zone name such as \"Asia/Shanghai\" or \"UTC\"")


def test_a_simulated_twin_says_so_in_its_hello(tmp_path, toy):
    from twin.authoring.testing import Harness

    made: dict = {}

    def build():
        made["h"] = Harness(tmp_path / "s", plugins=[toy], blocks=(2, 2))
        return made["h"].engine

    server = create_app(build, speed=50.0)
    with running(server.app) as http:
        _wait(lambda: "h" in made and httpx.get(http + "/api/health").status_code == 200)
        hello = _hello(http)
        assert hello.absolute_clock is False and hello.timezone == "UTC" and hello.time < 1e6


def test_a_simulated_clock_starts_at_the_drills_start_else_the_scenes_else_the_default(tmp_path, toy):
    from twin.authoring.testing import Harness
    from twin.errors import SceneError
    from twin.runs.drill import DrillError
    from twin.runtime import open_drill
    from twin.tick.scene import load_scene
    from twin.tick.scenefile import DEFAULT_START

    h = Harness(tmp_path / "s", plugins=[toy], blocks=(2, 2))
    h.close()
    toml = tmp_path / "s" / "scene.toml"
    text = toml.read_text()
    assert h.scene.start == DEFAULT_START.timestamp() == 1_767_225_600.0  # 2026-01-01T00:00:00Z
    toml.write_text(text.replace("[scene]\n", "[scene]\nstart = 2026-07-15T14:00:00+08:00\n", 1))
    assert load_scene(tmp_path / "s", h.registry.domains).start == DEMO_START
    drill = tmp_path / "d.toml"
    head = f'[drill]\nname = "clock"\nscene = "{tmp_path / "s"}"\nduration = 5\n'
    drill.write_text(head)
    engine = open_drill(load_drill(drill), tmp_path / "data", modules=[toy])
    assert engine.start == DEMO_START and not engine.live  # the scene's
    engine.close()
    drill.write_text(head + "start = 2026-08-01T09:30:00+08:00\n")
    engine = open_drill(load_drill(drill), tmp_path / "data", modules=[toy])
    assert engine.start == DEMO_START + 17 * 86400 - 4.5 * 3600  # the drill's own wins
    run_drill(load_drill(drill), engine)
    assert engine.time == engine.start + 5
    engine.close()
    # an instant without its offset would be read in some zone or other: refused, with the line
    drill.write_text(head + "start = 2026-08-01T09:30:00\n")
    with pytest.raises(DrillError) as raised:
        load_drill(drill)
    assert raised.value.problems == [f"{drill}: line 5: [drill] start = 2026-08-01T09:30:00; expected a date and time with "
                                     "its offset from UTC (TOML's offset date-time), such as 2026-07-15T14:00:00+08:00"]
    toml.write_text(text.replace("[scene]\n", "[scene]\nstart = 2026-07-15\n", 1))
    with pytest.raises(SceneError, match=r"line \d+: \[scene\] start = 2026-07-15; expected a date and time with its offset"):
        load_scene(tmp_path / "s", h.registry.domains)
