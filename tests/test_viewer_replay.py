"""The viewer's replay timeline, in Debian's headless chromium against a real server
replaying a recorded drill (``twin serve --replay``, in process).

A director's screen plays at 64x, drags and clicks the timeline; a second screen
follows the same clock and shows the state of the moment sought (an asset's colour read
back from the page). The alarm marks carry their level in colour and in words. A
viewer token's screen has every control disabled with the reason; a director's branch
turns every screen live.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import httpx
import pytest
from conftest import CHROMIUM, running, wait_started
from test_viewer import LEVEL_RGB, open_page, wait_for

from twin.serving.access import TokenStore
from twin.runs.replay import Replay, recorded_alarm_events
from twin.serving.server import STATIC_DIR, create_app

pytestmark = [
    pytest.mark.slow,  # a drill recorded, then 20-35 s of browsing per test
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/install installs it)"),
    pytest.mark.skipif(not (STATIC_DIR / "index.html").exists(), reason="the viewer is not built (scripts/install builds it)"),
]


@contextmanager
def serve_replay(path, tmp, data_dir=None):
    server = create_app(lambda: Replay(path, tmp), speed=1.0, data_dir=data_dir)
    with running(server.app) as url:
        wait_started(server)
        yield server, url


def replay_info(page):
    return page.evaluate("window.__twin.replay()")


def page_time(page):
    return page.evaluate("window.__twin.stats().time")


#: the scene's time zone, whose local time the viewer shows for a clock from an instant
ZONE = "UTC"


def clock(seconds):
    """The viewer's clock: local time of the scene's zone for an absolute clock (a drill
    starts at an instant), else hours from 0."""
    if seconds > 1e8:
        from datetime import datetime
        from zoneinfo import ZoneInfo

        return datetime.fromtimestamp(int(seconds), ZoneInfo(ZONE)).strftime("%H:%M:%S")
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def settled(server, pages, timeout=20.0):
    """Wait until the server's replay stands still and every page shows its moment."""
    deadline = time.monotonic() + timeout
    while True:
        t = server.replay.engine.time
        times = [page_time(p) for p in pages]
        if all(x == t for x in times) and server.replay.engine.time == t:
            return t
        assert time.monotonic() < deadline, (t, times)
        time.sleep(0.05)


def track_x(page, fraction):
    box = page.locator("#replay-track").bounding_box()
    return box["x"] + fraction * box["width"], box["y"] + box["height"] - 12


def test_director_plays_drags_and_every_screen_follows(browser, gas_drill_recording, tmp_path):
    events = recorded_alarm_events(gas_drill_recording)
    raise_ = next(e for e in events if e["kind"] == "raise")
    asset, raised_at = raise_["alarm"]["asset"], raise_["time"]
    # the moment to seek to: the asset's alarm is open there (no clear or resolve before)
    target = raised_at + 8.0
    assert not any(e["alarm"]["asset"] == asset and e["kind"] in ("clear", "resolve") and e["time"] <= target for e in events)
    errors: list[str] = []
    with serve_replay(gas_drill_recording, tmp_path) as (server, url):
        global ZONE
        ZONE = server.replay.engine.scene.timezone
        t0 = server.replay.engine.start  # the drill's start instant: its recording runs 180 s from there
        a = open_page(browser, url + "/", errors)
        b = open_page(browser, url + "/", errors)
        for page in (a, b):
            wait_for(page, "t0 => window.__twin.replay().mode === 'replay' && window.__twin.replay().end === t0 + 180", arg=t0)
            info = replay_info(page)
            assert info["canControl"] is True and info["reason"] == "" and not info["playing"]  # open server: admin
            assert page.locator(".topbar .mode").inner_text() == "REPLAY"
            assert page.locator("#replay-play").is_enabled() and page.locator("#replay-branch").is_enabled()
        # The alarm marks: one per raise or escalation (close ones merged), coloured by
        # level and named in words (a roman numeral on the mark, the level in its tooltip).
        marks = a.locator(".timeline .mark")
        assert marks.count() >= 1
        levels = {int(marks.nth(i).get_attribute("data-level")) for i in range(marks.count())}
        assert levels and levels <= {1, 2, 3, 4}
        first = marks.first
        level = int(first.get_attribute("data-level"))
        name = {1: "Blue (IV)", 2: "Yellow (III)", 3: "Orange (II)", 4: "Red (I)"}[level]
        assert name in first.get_attribute("title") and first.inner_text() == name.split("(")[1].rstrip(")")
        rgb = first.evaluate("n => getComputedStyle(n).backgroundColor")
        assert rgb == "rgb({}, {}, {})".format(*LEVEL_RGB[level])
        total = sum(int(marks.nth(i).get_attribute("data-count")) for i in range(marks.count()))
        assert total == len(server.replay.marks)

        # Play at 64x: the other screen's clock runs with the deltas.
        a.locator("#replay-speed").select_option("64")
        wait_for(b, "() => window.__twin.replay().speed === 64")
        a.locator("#replay-play").click()
        wait_for(b, "() => window.__twin.replay().playing")
        assert b.locator("#replay-play").inner_text() == "❚❚"
        wait_for(b, "t0 => window.__twin.stats().time >= t0 + 40", arg=t0)
        assert "64×" in b.locator("#replay-time").inner_text()
        a.locator("#replay-play").click()  # pause
        wait_for(b, "() => !window.__twin.replay().playing")
        paused = settled(server, [a, b])
        assert paused >= t0 + 40
        for page in (a, b):
            assert page.locator("#clock").inner_text().endswith(clock(paused))  # the date, then the time
            assert clock(paused) in page.locator("#replay-time").inner_text()

        # Seek by dragging: the time shows under the pointer while dragging; nothing is
        # sent until the release.
        a.mouse.move(*track_x(a, 0.9))
        a.mouse.down()
        a.mouse.move(*track_x(a, 0.5), steps=4)
        x, y = track_x(a, (target - t0) / 180.0)
        a.mouse.move(x, y, steps=4)
        drag = a.locator("#replay-drag")
        assert drag.is_visible()
        shown = drag.inner_text()
        assert abs(a.evaluate("window.__twin.replay().dragging") - target) < 1.5 and shown == clock(a.evaluate("window.__twin.replay().dragging"))
        assert server.replay.engine.time == paused and page_time(b) == paused
        a.mouse.up()
        assert drag.is_hidden()
        wait_for(b, "t => window.__twin.stats().time !== t", arg=paused)
        sought = settled(server, [a, b])
        assert abs(sought - target) <= 2.0
        # Both screens show that moment: the asset alarmed then is drawn in its level's colour.
        for page in (a, b):
            wait_for(page, "id => window.__twin.severity(id) >= 1", arg=asset)
            sev, colour = page.evaluate("id => [window.__twin.severity(id), window.__twin.assetColour(id)]", asset)
            assert all(abs(x - y) <= 3 for x, y in zip(colour, LEVEL_RGB[sev])), (colour, sev)
            assert page.locator("#clock").inner_text().endswith(clock(sought))

        # A click at the start of the track: both screens go back before the leak.
        a.mouse.click(*track_x(a, 0.0))
        wait_for(b, "t0 => window.__twin.stats().time < t0 + 5", arg=t0)
        start = settled(server, [a, b])
        assert start < t0 + 5
        for page in (a, b):
            wait_for(page, "id => window.__twin.severity(id) === 0", arg=asset)
            assert page.evaluate("id => window.__twin.assetColour(id)", asset) not in LEVEL_RGB.values()
        assert not errors
        a.close()
        b.close()


def test_viewer_token_sees_the_controls_disabled_and_a_branch_turns_screens_live(browser, gas_drill_recording, tmp_path):
    data = tmp_path / "data"
    store = TokenStore(data)
    _, viewer = store.add("viewer")
    _, director = store.add("director")
    with serve_replay(gas_drill_recording, tmp_path, data_dir=data) as (server, url):
        wall = open_page(browser, f"{url}/?token={viewer}")
        lead = open_page(browser, f"{url}/?token={director}")
        wait_for(wall, "() => window.__twin.replay().mode === 'replay'")
        wait_for(lead, "() => window.__twin.replay().mode === 'replay'")
        info = replay_info(wall)
        assert info["canControl"] is False and "director" in info["reason"] and "viewer" in info["reason"]
        for control in ("#replay-play", "#replay-speed", "#replay-branch"):
            assert wall.locator(control).is_disabled(), control
            assert "director" in wall.locator(control).get_attribute("title")
        reason = wall.locator("#replay-reason")
        assert reason.is_visible() and "director" in reason.inner_text()
        assert "director" in wall.locator("#replay-track").get_attribute("title")
        # a click on the track sends nothing
        before = server.replay.engine.time
        wall.mouse.click(*track_x(wall, 0.6))
        wall.wait_for_timeout(500)
        assert server.replay.engine.time == before and wall.locator("#replay-drag").is_hidden()
        # the director's screen may
        assert replay_info(lead)["canControl"] is True and lead.locator("#replay-play").is_enabled()
        assert lead.locator("#replay-reason").is_hidden()
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {director}"}) as c:
            t0 = server.replay.engine.start
            assert c.post("/api/replay", json={"action": "seek", "time": t0 + 30.0}).status_code == 200
        wait_for(wall, "t => window.__twin.stats().time >= t", arg=t0 + 29)
        # Branch: a second click confirms; every screen turns live and runs on.
        branch = lead.locator("#replay-branch")
        branch.click()
        assert "Click again" in branch.inner_text()
        branch.click()
        for page in (lead, wall):
            wait_for(page, "() => window.__twin.replay().mode === 'live'", timeout=120000)
            assert page.locator(".topbar .mode").inner_text() == "LIVE"
            assert page.locator("#replay-play").is_disabled()
        assert server.mode == "live"
        t = page_time(wall)
        wait_for(wall, "t => window.__twin.stats().time > t + 1", arg=t)
        lead.close()
        wall.close()
