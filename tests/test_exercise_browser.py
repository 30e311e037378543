"""A live exercise played in Debian's headless chromium against a real server on the
demo district: the controller starts a drill from the console (console.html), a duty
officer acknowledges its alarm on the wall, the controller fires a message inject from
the console and it comes up on the wall as a banner and in the feed, an observer notes
what they see (observer.html), and the controller's stop produces the debrief.

``TWIN_DOCS_SCREENSHOTS=1`` also writes the console's picture to docs/exercise-console.png.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import CHROMIUM, demo_drill, running, wait_started
from test_viewer import open_page, wait_for

from twin.serving.access import TokenStore
from twin.serving.server import STATIC_DIR, create_app

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,  # the demo district built, then 30-60 s of browsing
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/install installs it)"),
    pytest.mark.skipif(not (STATIC_DIR / "console.html").exists(), reason="the viewer is not built (scripts/install builds it)"),
]

DRILL = """\
# A detector in a manhole beside a leaking main: played live, with a resident's call.
[drill]
name = "Gas in the manhole, played live"
name_zh = "窨井燃气泄漏实战演练"
scene = ".."
seed = 11
duration = "00:15:00"

[[events]]
at = 5
action = "gas.leak"
target = "G-M-0028"
params = { diameter = 0.012, cd = 0.62 }

[[events]]
at = "00:01:00"
operator = "acknowledge"
target = "G-MH-0055"

[[messages]]
at = "00:10:00"
kind = "call"
from = "A resident of 12 Heping Road"
from_zh = "和平路12号居民"
text = "There is a strong smell of gas in our stairwell"
text_zh = "楼道里煤气味很重"

[[events]]
at = "00:12:00"
action = "gas.close_valve"
target = "G-V-0028"

[[expect]]
by = "00:02:00"
asset = "G-MH-0055"
level = "blue"

[[expect]]
acknowledged_within = "00:05:00"
asset = "G-MH-0055"
level = "blue"
"""


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A copy of the demo scene with the exercise's drill in its drills/ folder."""
    root = tmp_path_factory.mktemp("demo")
    demo_drill(root, "exercise", DRILL)
    return root


def test_a_live_exercise_with_a_player_a_controller_inject_and_an_observer_note(browser, scene, tmp_path):
    from twin.runtime import open_twin

    data = tmp_path / "data"
    store = TokenStore(data)
    director = store.add("director", "controller")[1]
    operator = store.add("operator", "duty-officer")[1]
    observer = store.add("observer", "observer-1")[1]

    def build():
        engine = open_twin(scene, data)
        engine.simulator.incidents = []  # the scene's background leak is no part of the exercise (as twin serve --exercise)
        return engine

    errors: list[str] = []
    server = create_app(build, speed=4.0, data_dir=data)
    with running(server.app) as url:
        wait_started(server, 120)

        # The controller starts the drill from the console.
        console = browser.new_page(viewport={"width": 1500, "height": 1000})
        console.on("pageerror", lambda e: errors.append(str(e)))
        console.goto(f"{url}/console.html?token={director}")
        wait_for(console, "() => document.querySelector('#start-drill option[value=\"exercise.toml\"]') !== null")
        assert console.locator("#exercise-state").inner_text() == ""  # idle
        console.select_option("#start-drill", "exercise.toml")
        console.locator("#start").click()
        # the exercise starts its recording with a keyframe of the whole district: give it time
        wait_for(console, "() => document.querySelector('#exercise-state').dataset.state === 'running'", timeout=90000)
        wait_for(console, "() => document.querySelectorAll('#injects tr').length === 3")
        assert console.locator("#drill-name").inner_text() == "Gas in the manhole, played live"
        assert console.locator("#injects tr[data-inject='2']").get_attribute("data-kind") == "message"
        assert "00:01:00 acknowledge G-MH-0055" in console.locator("#left").inner_text()  # left to the players

        # The duty officer acknowledges the alarm the leak raises, on the wall.
        wall = open_page(browser, f"{url}/?token={operator}", errors)
        asset = "G-MH-0055"
        wait_for(wall, "id => document.querySelector(`#alarm-list li[data-asset='${id}']`) !== null", arg=asset, timeout=60000)
        wait_for(console, "() => document.querySelector('#injects tr[data-inject=\"1\"]').dataset.state === 'fired'")
        row = wall.locator(f"#alarm-list li[data-asset='{asset}']")
        alarm_id = int(row.get_attribute("data-alarm"))
        row.click()
        wait_for(wall, "() => document.querySelector('#inspector .action-acknowledge') !== null")
        wall.locator("#inspector input.note").fill("duty officer: gas company called")
        wall.locator(f"#inspector .action-acknowledge[data-alarm='{alarm_id}']").click()
        wait_for(wall, "() => document.querySelector('#inspector .action-message.ok') !== null")

        # The controller fires the resident's call now, ten minutes early: the wall shows it.
        assert wall.locator("#message-banner").is_hidden()
        console.locator("#injects tr[data-inject='2'] button.fire").click()
        wait_for(console, "() => document.querySelector('#injects tr[data-inject=\"2\"]').dataset.state === 'fired'")
        assert "controller" in console.locator("#injects tr[data-inject='2'] .when").inner_text()
        wait_for(wall, "() => !document.querySelector('#message-banner').hidden")
        banner = wall.locator("#message-banner").inner_text()
        assert "There is a strong smell of gas in our stairwell" in banner and "A resident of 12 Heping Road" in banner
        assert "Phone call" in banner
        assert "stairwell" in wall.locator("#message-feed li[data-n='2']").inner_text()
        assert wall.evaluate("window.__twin.messages()") == {"held": [2], "banner": 2}
        # a screen that comes later has the message in its feed, without the banner (one
        # 3D page at a time: software WebGL on a small machine)
        wall.close()
        late = browser.new_page(viewport={"width": 1600, "height": 900})
        late.on("pageerror", lambda e: errors.append(str(e)))
        late.goto(f"{url}/?token={operator}&lang=zh-CN", timeout=120000)
        wait_for(late, "() => document.querySelector('#message-feed li[data-n=\"2\"]') !== null", timeout=60000)
        assert "楼道里煤气味很重" in late.locator("#message-feed").inner_text() and late.locator("#message-banner").is_hidden()
        late.close()

        # An observer notes what they see; the console shows it.
        watcher = browser.new_page(viewport={"width": 1200, "height": 800})
        watcher.on("pageerror", lambda e: errors.append(str(e)))
        watcher.goto(f"{url}/observer.html?token={observer}")
        wait_for(watcher, "() => document.querySelector('#exercise-state').dataset.state === 'running'")
        watcher.locator("#note-text").fill("The duty officer called the gas company before the resident's call came")
        watcher.locator("#note-add").click()
        wait_for(watcher, "() => document.querySelector('#notes li[data-n=\"1\"]') !== null")
        assert "observer-1" in watcher.locator("#notes li[data-n='1']").inner_text()
        wait_for(console, "() => document.querySelector('#notes li[data-n=\"1\"]') !== null")
        assert "before the resident's call came" in console.locator("#notes").inner_text()
        assert "stairwell" in console.locator("#messages").inner_text()

        console.wait_for_timeout(1200)  # a poll with every countdown
        shot = console.screenshot(full_page=True)
        assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 20000
        if os.environ.get("TWIN_DOCS_SCREENSHOTS") == "1":
            (ROOT / "docs" / "exercise-console.png").write_bytes(shot)

        # The controller stops the exercise (two clicks): scored, debriefed.
        console.locator("#stop").click()
        assert console.locator("#stop").inner_text() == "Click again to stop and debrief"
        console.locator("#stop").click()
        wait_for(console, "() => document.querySelector('#exercise-state').dataset.state === 'ended'", timeout=30000)
        wait_for(console, "() => document.querySelectorAll('#objectives li').length === 2")
        statuses = console.evaluate("[...document.querySelectorAll('#objectives li')].map(li => li.dataset.status)")
        assert statuses == ["met", "met"]
        assert console.locator("#injects tr[data-inject='3']").get_attribute("data-state") == "skipped"  # never came
        link = console.locator("#debrief-links a[data-lang='en']").get_attribute("href")
        report = browser.new_page()
        report.goto(url + link)
        text = report.locator("body").inner_text()
        for words in ("Exercise debrief: Gas in the manhole, played live", "2 / 2", "duty-officer",
                      "duty officer: gas company called", "before the resident's call came", "observer-1",
                      "fired (controller)", "A resident of 12 Heping Road"):
            assert words in text, words
        # one of the alarms the leak raised (the manhole's; the valve well's and others' were not) acknowledged
        acknowledged = report.locator("#phases tr[data-phase='acknowledge'] td.num").first.inner_text()
        raised = report.locator("#responses tr[data-alarm]").count()
        assert acknowledged == f"1 of {raised}" and raised >= 1
        report.close()
        zh = console.locator("#debrief-links a[data-lang='zh-CN']").get_attribute("href")
        report = browser.new_page()
        report.goto(url + zh)
        assert "演练复盘报告" in report.locator("h1").inner_text() and "窨井燃气泄漏实战演练" in report.locator("h1").inner_text()
        report.close()
        for page in (console, watcher):
            page.close()
    stored = server.engine.alarms.alarms[alarm_id]
    assert stored.actions[0]["who"] == "duty-officer" and stored.actions[0]["action"] == "acknowledge"
    assert not errors, errors
