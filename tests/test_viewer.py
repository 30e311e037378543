"""The browser viewer, driven by Playwright in Debian's headless chromium (real WebGL
through SwiftShader) against a real server with the demo district.

Every check reads back what the page holds or draws (``window.__twin``, the DOM, the
canvas), never what it is assumed to do.
"""

from __future__ import annotations

import shutil
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import CHROMIUM, free_port, running, wait_started

from twin.serving.access import TokenStore
from twin.serving.server import STATIC_DIR, create_app

ROOT = Path(__file__).resolve().parents[1]
#: LEVEL_COLOURS of viewer/src/levels.js, as 0-255 RGB
LEVEL_RGB = {1: [47, 123, 255], 2: [255, 210, 31], 3: [255, 122, 26], 4: [255, 45, 45]}

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/install installs it)"),
    pytest.mark.skipif(not (STATIC_DIR / "index.html").exists(), reason="the viewer is not built (scripts/install builds it)"),
]


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A copy of the demo scene; its data files are generated on first load."""
    root = tmp_path_factory.mktemp("demo")
    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", root / "scene.toml")
    return root


@contextmanager
def serve(scene, data, *, port=None, paused=False, speed=10.0, start=0.0):
    """A real server (uvicorn in a thread) on the demo; paused: no tick until resumed;
    ``start``: the engine's clock start (UTC epoch seconds: a live twin's clock)."""
    from twin.runtime import open_twin

    server = create_app(lambda: open_twin(scene, data, start=start), speed=speed, data_dir=data)
    if paused:
        server.running.clear()
    with running(server.app, port) as url:
        wait_started(server)
        yield server, url


@pytest.fixture(scope="module")
def shared(scene, tmp_path_factory):
    """One running server for the tests that only look."""
    with serve(scene, tmp_path_factory.mktemp("data")) as (server, url):
        yield server, url


def open_page(browser, url, errors=None):
    page = browser.new_page(viewport={"width": 1600, "height": 900})
    errors = errors if errors is not None else []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_function("window.__twin && window.__twin.stats().ready && window.__twin.stats().snapshots > 0", timeout=30000)
    return page


def stats(page):
    return page.evaluate("window.__twin.stats()")


def wait_for(page, expression, timeout=20000, arg=None):
    page.wait_for_function(expression, arg=arg, timeout=timeout)


def test_page_loads_and_decodes_frames_as_aligned_views_without_copy(browser, shared):
    server, url = shared
    errors: list[str] = []
    page = open_page(browser, url + "/", errors)
    before = stats(page)
    wait_for(page, "n => window.__twin.stats().deltas >= n", arg=before["deltas"] + 3)
    s = stats(page)
    assert s["connected"] and s["frames"] >= 5 and s["views"] > 0
    assert s["misaligned"] == 0  # the decoder asserts (bodyStart + offset) % BYTES_PER_ELEMENT == 0
    assert s["gaps"] == 0 and s["seq"] > before["seq"]
    assert abs(s["seq"] - server.engine.seq) <= 3
    # A state array is a view into the snapshot frame's buffer, not a copy of its bytes.
    for domain, field in (("gas", "risk"), ("drainage", "depth"), ("tunnel", "temperature")):
        info = page.evaluate("([d, f]) => window.__twin.arrayInfo(d, f)", [domain, field])
        assert info is not None, (domain, field)
        assert info["length"] == len(server.engine.world.tables[domain])
        assert info["bufferBytes"] > info["byteLength"] and info["byteOffset"] > 0
        assert info["byteOffset"] % info["bytesPerElement"] == 0
    # Every asset is drawn: the canvas shows a WebGL image, not the clear colour alone.
    assert page.evaluate("document.querySelector('#stage canvas').getContext('webgl2') !== null")
    assert s["rendered"] >= 1
    # No growth of DOM nodes per frame: many more deltas, the same page (aside from the
    # alarm rows and level chips, which follow the number of alarms and are capped).
    count = "window.__twin.domNodes() - document.querySelectorAll('#alarm-list *, .counts *').length"
    nodes = page.evaluate(count)
    wait_for(page, "n => window.__twin.stats().deltas >= n", arg=stats(page)["deltas"] + 10)
    assert page.evaluate(count) == nodes
    assert not errors
    page.close()


@pytest.mark.slow
def test_alarm_colours_the_asset_lists_it_opens_inspector_and_an_operator_acknowledges(browser, scene, tmp_path):
    data = tmp_path / "data"
    store = TokenStore(data)
    _, operator = store.add("operator", "duty-officer")
    _, viewer = store.add("viewer", "wall-1")
    with serve(scene, data, paused=True) as (server, url):
        # The demo's gas leak (scene.toml) raises blue on manhole G-MH-0055 at about 20 s.
        asset = "G-MH-0055"
        op = open_page(browser, f"{url}/?token={operator}")
        wall = open_page(browser, f"{url}/?token={viewer}")
        assert stats(op)["role"] == "operator" and stats(wall)["role"] == "viewer"
        before = op.evaluate("id => window.__twin.assetColour(id)", asset)
        assert op.evaluate("id => window.__twin.severity(id)", asset) == 0
        assert before not in LEVEL_RGB.values()
        server.running.set()

        wait_for(op, "id => document.querySelector(`#alarm-list li[data-asset='${id}']`) !== null", arg=asset, timeout=30000)
        level, colour = op.evaluate("id => [window.__twin.severity(id), window.__twin.assetColour(id)]", asset)
        assert level >= 1 and colour != before
        # 8-bit linear vertex colours: the sRGB shown is the level's within rounding
        assert all(abs(a - b) <= 3 for a, b in zip(colour, LEVEL_RGB[level])), (colour, LEVEL_RGB[level])
        row = op.locator(f"#alarm-list li[data-asset='{asset}']")
        text = row.inner_text()
        assert asset in text and "Gas" in text and "raised" in text and ("Blue (IV)" in text or "Yellow (III)" in text)
        alarm_id = int(row.get_attribute("data-alarm"))

        row.click()
        wait_for(op, "id => window.__twin.selected().asset === id", arg=asset)
        assert op.locator("#inspector").is_visible() and op.locator("#inspector-title").inner_text() == asset
        wait_for(op, "() => document.querySelectorAll('#inspector table.live tr').length > 3")
        wait_for(op, "() => document.querySelector('#inspector dl.attributes dt') !== null")
        assert "合肥市排水管理办公室" in op.locator("#inspector dl.attributes").inner_text()  # its owner unit, from /api/assets

        # The wall's viewer token may look but not act: buttons disabled, with the reason in words.
        wall.locator(f"#alarm-list li[data-asset='{asset}']").click()
        wait_for(wall, "() => document.querySelector('#inspector .action-acknowledge') !== null")
        assert wall.locator("#inspector .action-acknowledge").is_disabled()
        assert "operator" in wall.locator("#inspector .reason").inner_text()

        ack = op.locator(f"#inspector .action-acknowledge[data-alarm='{alarm_id}']")
        assert ack.is_enabled()
        op.locator("#inspector input.note").fill("crew on the way")
        ack.click()
        wait_for(op, "() => document.querySelector('#inspector .action-message.ok') !== null")
        # The other screen sees the new state from the stream.
        wait_for(wall, "id => document.querySelector(`#alarm-list li[data-alarm='${id}']`)?.dataset.state === 'acknowledged'", arg=str(alarm_id))
        stored = server.engine.alarms.alarms[alarm_id]
        assert stored.state == "acknowledged" and stored.actions[-1]["who"] == "duty-officer"
        assert stored.actions[-1]["note"] == "crew on the way"
        op.close()
        wall.close()


def test_a_live_twins_clock_and_alarm_times_are_local_times_of_the_scenes_zone(browser, scene, tmp_path):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    shanghai = ZoneInfo("Asia/Shanghai")  # the demo scene's timezone
    start = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC, 16:00 in Shanghai
    with serve(scene, tmp_path / "data", paused=True, start=start) as (server, url):
        page = open_page(browser, url)
        assert page.locator("#clock").inner_text() == "2027-01-15 16:00:00"
        assert page.locator("#clock-label").inner_text() == "local time (Asia/Shanghai)"
        server.running.set()
        # The demo's gas leak (scene.toml) raises an alarm on manhole G-MH-0055 about 20 s in.
        wait_for(page, "() => document.querySelector(`#alarm-list li[data-asset='G-MH-0055']`) !== null", timeout=30000)
        alarm = next(a for a in server.engine.alarms.active() if a.asset == "G-MH-0055")
        since = page.locator("#alarm-list li[data-asset='G-MH-0055'] .since").inner_text()
        assert since == datetime.fromtimestamp(alarm.since, shanghai).strftime("%H:%M:%S") and since.startswith("16:0")
        shown = datetime.strptime(page.locator("#clock").inner_text(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=shanghai).timestamp()
        # the clock shows the time of the frame that carried the alarm, or a later one; the
        # leak's alarm comes "about 20 s in" (19.x s in the CI run of 4c4460c, whose
        # clock showed 16:00:19 against a fixed start + 20)
        assert start + 10 <= alarm.since and int(alarm.since) <= shown <= server.engine.time


def test_underground_view_changes_what_is_drawn(browser, shared):
    _, url = shared
    page = open_page(browser, url + "/")
    g = page.evaluate("window.__twin.ground()")
    assert g["underground"] is False and g["terrainOpacity"] == 1 and g["terrainDepthWrite"] is True and g["buildingsOpacity"] == 1
    page.wait_for_timeout(300)
    drawn_before = page.evaluate("document.querySelector('#stage canvas').toDataURL()")
    page.locator("#underground").check()
    g = page.evaluate("window.__twin.ground()")
    assert g["underground"] is True and g["terrainOpacity"] == pytest.approx(0.25) and g["terrainDepthWrite"] is False
    assert g["buildingsOpacity"] < 1
    # the next rendered frame differs; on a loaded machine a frame can take seconds
    deadline = time.monotonic() + 30
    while page.evaluate("document.querySelector('#stage canvas').toDataURL()") == drawn_before:
        assert time.monotonic() < deadline, "the underground view drew nothing different"
        page.wait_for_timeout(200)
    page.locator("#ground-opacity").fill("0")  # the slider to 0: ground cut away
    g = page.evaluate("window.__twin.ground()")
    assert g["terrainVisible"] is False
    page.close()


def test_picking_an_asset_opens_its_inspector(browser, shared):
    _, url = shared
    page = open_page(browser, url + "/?underground=1")
    page.wait_for_timeout(300)
    at = page.evaluate("window.__twin.screenOf('B-S-0013')")  # a bridge span, above ground
    picked = page.evaluate("([x, y]) => window.__twin.pickAt(x, y)", [at["x"], at["y"]])
    assert picked is not None
    page.mouse.click(at["x"], at["y"])
    wait_for(page, "id => window.__twin.selected().asset === id", arg=picked)
    assert page.locator("#inspector-title").inner_text() == picked
    page.close()


def test_wall_mode_in_chinese_with_chosen_layers(browser, shared):
    _, url = shared
    page = open_page(browser, url + "/?lang=zh-CN&layers=gas,tunnel&tour=1")
    panel = page.locator(".panel.left").inner_text()
    for label in ("燃气", "综合管廊", "雨水排水管网", "桥梁", "河流"):  # the plugins' label_zh, the river area's title_zh
        assert label in panel
    for level in ("蓝色预警", "黄色预警", "橙色预警", "红色预警"):  # from the Hello's levels
        assert level in panel
    assert "示范片区" in page.locator(".topbar").inner_text()
    assert page.evaluate("window.__twin.layerVisible('gas')") is True
    assert page.evaluate("window.__twin.layerVisible('drainage')") is False
    assert page.evaluate("window.__twin.layerVisible('river')") is True  # an area is ground: shown unless named
    assert page.locator("input[data-layer='drainage']").is_checked() is False
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    page.close()


def test_reconnects_after_a_server_restart_with_a_banner(browser, scene, tmp_path):
    port = free_port()
    data = tmp_path / "data"
    with serve(scene, data, port=port) as (server, url):
        page = open_page(browser, url + "/")
        wait_for(page, "() => window.__twin.stats().seq >= 3")
        assert page.locator("#banner").is_hidden()
    # The server is gone: the page says so, and keeps trying.
    wait_for(page, "() => !window.__twin.stats().connected")
    wait_for(page, "() => !document.querySelector('#banner').hidden")
    assert "Disconnected" in page.locator("#banner").inner_text()
    with serve(scene, data, port=port) as (server, url):
        wait_for(page, "() => window.__twin.stats().connected && window.__twin.stats().reconnects >= 1", timeout=30000)
        wait_for(page, "() => document.querySelector('#banner').hidden")
        first = stats(page)["seq"]
        wait_for(page, "n => window.__twin.stats().seq >= n + 2", arg=first)
        s = stats(page)
        assert abs(s["seq"] - server.engine.seq) <= 3 and s["snapshots"] >= 2 and s["gaps"] == 0
    page.close()


CAMERA_CLOSE = """([position, target, tol]) => {
  const c = window.__twin.camera();
  const far = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
  return far(c.position, position) < tol && far(c.target, target) < tol;
}"""


def _distance(a, b):
    return sum((x - y) ** 2 for x, y in zip(a, b)) ** 0.5


@pytest.mark.slow
def test_a_follower_screen_shows_the_camera_of_the_screen_it_follows(browser, shared):
    """?lead=wall1 sends its camera through the server; ?follow=wall1 glides to it, with
    its own orbit controls off and a badge; a drag on the follower moves nothing."""
    _, url = shared
    errors: list[str] = []
    leader = open_page(browser, url + "/?lead=wall1", errors)
    follower = open_page(browser, url + "/?follow=wall1&tour=1&tour_idle=0", errors)
    try:
        cam = follower.evaluate("window.__twin.camera()")
        assert cam["following"] and cam["follow"] == "wall1" and cam["controls"] is False
        badge = follower.locator(".follow-badge")
        assert badge.is_visible() and "wall1" in badge.inner_text()
        assert leader.evaluate("window.__twin.camera()")["controls"] is True
        assert leader.locator(".follow-badge").count() == 0
        for turn in range(2):  # two different moves of the leader, each followed
            before = leader.evaluate("window.__twin.camera()")
            leader.mouse.move(800, 450)
            leader.mouse.down()
            leader.mouse.move(800 + 160 * (1 - 2 * turn), 420, steps=12)
            leader.mouse.up()
            leader.mouse.wheel(0, -300)
            leader.wait_for_timeout(300)
            moved = leader.evaluate("window.__twin.camera()")
            assert _distance(moved["position"], before["position"]) > 5, "the drag did not move the leader's camera"
            wait_for(follower, CAMERA_CLOSE, arg=[moved["position"], moved["target"], 0.05])
            got = follower.evaluate("window.__twin.camera()")
            assert _distance(got["position"], moved["position"]) < 0.05 and _distance(got["target"], moved["target"]) < 0.05
        # the follower's own drag does not move its camera (its controls are off), and
        # its alarm tour (tour=1) stays off while it follows
        follower.mouse.move(800, 450)
        follower.mouse.down()
        follower.mouse.move(600, 300, steps=10)
        follower.mouse.up()
        follower.wait_for_timeout(1500)
        still = follower.evaluate("window.__twin.camera()")
        assert _distance(still["position"], got["position"]) < 0.05 and _distance(still["target"], got["target"]) < 0.05
        assert follower.evaluate("window.__twin.camera()")["received"] >= 2
        # a screen opened later follows at once, from the server's last camera
        late = open_page(browser, url + "/?follow=wall1", errors)
        wait_for(late, CAMERA_CLOSE, arg=[moved["position"], moved["target"], 0.05])
        late.close()
        assert not errors, errors
    finally:
        leader.close()
        follower.close()
