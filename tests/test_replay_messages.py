"""A drill's message injects come back in its replay and its report (issue 17): a headless
`twin drill run --record` records them on /exercise/message; a replay of that recording
sends each to the screens at its time (protocol ExerciseMessage, as the live exercise
did), GET /api/exercise/messages lists those up to the moment replayed, and the report's
timeline lists them. A replayed wall shows them at their time and forgets them when
sought back."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from conftest import CHROMIUM, demo_drill, record_drill, running, wait_healthy
from test_drill_messages import DRILL
from test_viewer import wait_for
from test_viewer_incidents import open_page

from twin.runs.replay import Replay
from twin.serving import protocol as p
from twin.serving.server import STATIC_DIR, create_app


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    """test_drill_messages' drill (a call at 12 s, a press enquiry at 30 s, a message at
    40 s, its last moment) recorded as `twin drill run --record` records it."""
    root = tmp_path_factory.mktemp("messages")
    path = root / "messages.mcap"
    record_drill(demo_drill(root, "messages", DRILL), path, root / "data")
    return path


def test_a_replay_sends_each_message_at_its_time_and_lists_those_sent_so_far(recorded, tmp_path):
    from websockets.sync.client import connect

    server = create_app(lambda: Replay(recorded, tmp_path), speed=1.0)
    with running(server.app) as url, httpx.Client(base_url=url, timeout=20) as c:
        wait_healthy(url)
        start = server.replay.start

        def listed(offset):
            assert c.post("/api/replay", json={"action": "seek", "time": start + offset}).status_code == 200
            return [(m["n"], m["time"] - start) for m in c.get("/api/exercise/messages").json()["messages"]]

        # What the players had been told by each moment, after seeks both ways.
        assert listed(20.0) == [(2, 12.0)]
        assert listed(35.0) == [(2, 12.0), (3, 30.0)]
        assert listed(5.0) == []
        assert listed(40.0) == [(2, 12.0), (3, 30.0), (4, 40.0)]

        # Played from 5 s in: each message reaches the screen when the replay reaches its
        # time, after the frames before it and not before.
        listed(5.0)
        ws_url = httpx.URL(url).copy_with(scheme="ws", path="/ws")
        with connect(str(ws_url), subprotocols=[p.SUBPROTOCOL]) as ws:
            hello, _ = p.decode_server(ws.recv(timeout=20))
            assert isinstance(hello, p.Hello)
            ws.send(p.encode_client(p.Subscribe()))
            snapshot = None
            while not isinstance(snapshot, p.Snapshot):
                snapshot, _ = p.decode_server(ws.recv(timeout=20))
            assert snapshot.time == start + 5.0
            assert c.post("/api/replay", json={"action": "speed", "speed": 8}).status_code == 200
            assert c.post("/api/replay", json={"action": "play"}).status_code == 200
            got: list[tuple[p.ExerciseMessage, float]] = []
            seen = start + 5.0  # the latest frame time the screen was sent
            deadline = time.monotonic() + 60
            while len(got) < 3 and time.monotonic() < deadline:
                message, _ = p.decode_server(ws.recv(timeout=30))
                if isinstance(message, (p.Snapshot, p.Delta)):
                    seen = max(seen, message.time)
                elif isinstance(message, p.ExerciseMessage):
                    got.append((message, seen))
        assert [(m.n, m.kind, m.time - start) for m, _ in got] == [(2, "call", 12.0), (3, "press", 30.0), (4, "other", 40.0)]
        assert got[0][0].text_zh == "楼道里有煤气味" and got[0][0].sender == "a resident of 12 Heping Road"
        dt = server.replay.engine.dt
        for m, frames_sent in got:
            # a message is pushed as a control message, ahead of its tick's delta if that
            # delta is still queued: never more than a tick early, never late by a frame
            assert m.time - 2 * dt - 1e-6 <= frames_sent <= m.time + 1e-6, (m.n, m.time - start, frames_sent - start)


def test_the_report_lists_the_messages_in_its_timeline(recorded, tmp_path):
    from twin.runs.report import write_report

    report = write_report(recorded, tmp_path / "report", pdf=False)
    html = report.html.read_text(encoding="utf-8")
    timeline = html[html.index('<table id="timeline">'):]
    timeline = timeline[: timeline.index("</table>")]
    assert "a resident of 12 Heping Road" in timeline and "It smells of gas in the stairwell" in timeline
    assert timeline.index("It smells of gas in the stairwell") < timeline.index("Is there a gas leak on Heping Road?")
    assert "the drill&#39;s very last moment" in timeline or "the drill's very last moment" in timeline


@pytest.mark.slow  # a drill recorded, then its replay watched in chromium
@pytest.mark.skipif(not CHROMIUM.exists() or not (STATIC_DIR / "index.html").exists(), reason="needs chromium and the built viewer")
def test_a_replayed_wall_shows_each_message_at_its_time_and_forgets_it_when_sought_back(browser, recorded, tmp_path):
    errors: list[str] = []
    server = create_app(lambda: Replay(recorded, tmp_path), speed=1.0)
    with running(server.app) as url, httpx.Client(base_url=url, timeout=20) as c:
        wait_healthy(url)
        start = server.replay.start
        assert c.post("/api/replay", json={"action": "seek", "time": start + 8.0}).status_code == 200
        wall = open_page(browser, f"{url}/?wall=1", errors)
        try:
            assert wall.evaluate("window.__twin.messages()") == {"held": [], "banner": None}
            # Played: the resident's call comes at 12 s, as a banner and in the feed.
            assert c.post("/api/replay", json={"action": "play"}).status_code == 200
            wait_for(wall, "() => window.__twin.messages().banner === 2", timeout=30000)
            assert c.post("/api/replay", json={"action": "pause"}).status_code == 200
            assert wall.evaluate("window.__twin.stats().time") >= start + 12.0
            banner = wall.locator("#message-banner")
            assert "It smells of gas in the stairwell" in banner.inner_text() and "Phone call" in banner.inner_text()
            assert wall.locator("#message-feed li").count() == 1
            # Sought back before it: the feed forgets it and the banner goes.
            assert c.post("/api/replay", json={"action": "seek", "time": start + 5.0}).status_code == 200
            wait_for(wall, "() => window.__twin.messages().held.length === 0 && window.__twin.messages().banner === null")
            assert banner.is_hidden() and wall.locator("#message-feed li").count() == 0
            # Sought past two: both in the feed, as a screen opened then would list them, no banner (old news).
            assert c.post("/api/replay", json={"action": "seek", "time": start + 35.0}).status_code == 200
            wait_for(wall, "() => window.__twin.messages().held.join() === '2,3'")
            assert wall.evaluate("window.__twin.messages().banner") is None
            assert not errors, errors
        finally:
            wall.close()
