"""Incidents on the wall (issue 15): the alarm list shows incidents (the wall's default)
or alarms, an incident's timeline, an operator's actions from the list, and replays that
show the incidents of the moment replayed.

The browser tests drive Debian's headless chromium against a real server: the live demo
with its background gas leak and storm, and a replay of the demo's compound drill (a
storm with a gas leak) recorded here. Every check reads back what the page shows.
"""

from __future__ import annotations

import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from conftest import CHROMIUM, running, wait_healthy

from twin.runs.recording import read_stream
from twin.runs.replay import Replay
from twin.serving import protocol as p
from twin.serving.server import STATIC_DIR, create_app

ROOT = Path(__file__).resolve().parents[1]
#: the drill's operator acknowledges every alarm and incident at 00:03:00
ACK_AT = 180.0

needs_browser = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/install installs it)"),
    pytest.mark.skipif(not (STATIC_DIR / "index.html").exists(), reason="the viewer is not built (scripts/install builds it)"),
]


@pytest.fixture(scope="module")
def storm_recording(tmp_path_factory) -> Path:
    """The demo's compound drill (a storm, a gas leak beside a sewer, a blocked pipe by the
    metro station) cut to six minutes, recorded as ``twin drill run --record`` does."""
    from twin.runs.drill import load_drill
    from twin.runs.recording import Recorder
    from twin.runs.reruns import run_drill
    from twin.runtime import open_twin

    root = tmp_path_factory.mktemp("storm-drill")
    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", root / "scene.toml")
    (root / "drills").mkdir()
    text = (ROOT / "scenes" / "demo" / "drills" / "compound-storm-gas.toml").read_text()
    for old, new in (('duration = "00:12:00"', 'duration = "00:06:00"'), ('by = "00:11:00"', 'by = "00:06:00"')):
        assert old in text, f"the compound drill changed ({old} is gone): cut it to 6 minutes another way"
        text = text.replace(old, new)
    (root / "drills" / "storm.toml").write_text(text)
    drill = load_drill(root / "drills" / "storm.toml")
    engine = open_twin(drill.scene, root / "data", seed=drill.seed, config=drill.config, dt=drill.dt, persist=False)
    path = root / "storm.mcap"
    recorder = Recorder(path, engine, {"drill": drill.name, "drill_path": str(drill.path.resolve())})
    try:
        run_drill(drill, engine, recorder)
    finally:
        recorder.close()
        engine.close()
    assert not recorder.failed, recorder.error
    return path


def recorded_incidents(path: Path, moment: float) -> dict[int, dict]:
    """The open incidents at ``moment`` as the recording's deltas tell them, read from its
    start (a replay's seek starts from the nearest keyframe instead)."""
    seen: dict[int, dict] = {}
    for _, _, data in read_stream(path, ("/frame/delta",)):
        delta, _ = p.decode_server(data)
        if delta.time > moment:
            break
        seen.update({i["id"]: i for i in delta.incidents})
    return {k: v for k, v in seen.items() if v["state"] != "closed"}


@contextmanager
def serve_replay(path: Path, tmp: Path):
    server = create_app(lambda: Replay(path, tmp), speed=1.0)
    with running(server.app) as url:
        wait_healthy(url)
        yield server, url


def test_a_replay_seeks_to_the_incidents_of_that_moment(storm_recording, tmp_path):
    with serve_replay(storm_recording, tmp_path) as (server, url), httpx.Client(base_url=url, timeout=20) as c:
        start = server.replay.start
        shown = {}
        # forwards, back to before the storm's first incident, and forwards again
        for offset in (200.0, 60.0, 300.0, 10.0, 359.0):
            r = c.post("/api/replay", json={"action": "seek", "time": start + offset})
            assert r.status_code == 200, r.text
            listed = c.get("/api/incidents").json()["incidents"]
            expected = recorded_incidents(storm_recording, start + offset)
            assert {i["id"]: (i["level"], i["state"], i["alarms"]) for i in listed} == \
                   {k: (v["level"], v["state"], v["alarms"]) for k, v in expected.items()}, offset
            shown[offset] = listed
        # a minute in, only the gas leak is an incident, not yet acknowledged; after the
        # drill's acknowledge at 00:03:00 the storm's too, and the gas one stays on top
        assert [(i["domains"], i["state"]) for i in shown[60.0]] == [(["gas"], "open")]
        assert len(shown[200.0]) >= 2 and shown[200.0][0]["domains"] == ["gas"] and shown[200.0][0]["level"] == 4
        assert all(i["state"] == "acknowledged" for i in shown[200.0])
        assert shown[10.0] == []  # the gas alarm rises at 17 s
        # one record, with its alarms, as on a live twin
        gas = shown[359.0][0]
        one = c.get(f"/api/incidents/{gas['id']}").json()
        assert [a["id"] for a in one["alarms"]] == gas["alarms"] and one["incident"]["title_zh"] == gas["title_zh"]
