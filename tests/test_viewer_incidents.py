"""Incidents on the wall (issue 15): the alarm list shows incidents (the wall's default)
or alarms, an incident's timeline, an operator's actions from the list, and replays that
show the incidents of the moment replayed.

The browser tests drive Debian's headless chromium against a real server: the live demo
district with its background gas leak and storm, and a replay of the demo's compound
drill (a storm with a gas leak) recorded here. Every check reads back what the page shows.
``TWIN_DOCS_SCREENSHOTS=1`` also writes the wall's incident list to docs/wall-incidents.png.
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from conftest import CHROMIUM, demo_drill, record_drill, running, wait_healthy
from conftest import wait_for as poll
from test_viewer import LEVEL_RGB, wait_for

from twin.serving.access import TokenStore

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
    root = tmp_path_factory.mktemp("storm-drill")
    text = (ROOT / "scenes" / "demo" / "drills" / "compound-storm-gas.toml").read_text()
    for old, new in (('duration = "00:12:00"', 'duration = "00:06:00"'), ('by = "00:11:00"', 'by = "00:06:00"')):
        assert old in text, f"the compound drill changed ({old} is gone): cut it to 6 minutes another way"
        text = text.replace(old, new)
    path = root / "storm.mcap"
    record_drill(demo_drill(root, "storm", text), path, root / "data")
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


# -- the wall ------------------------------------------------------------------------------------
@contextmanager
def serve_storm(root: Path, data: Path, speed: float = 20.0):
    """The live demo district with its background gas leak and storm only (the bridge's
    and the tunnel's happenings left out), ticking ``speed`` times faster than the wall."""
    from twin.runtime import open_twin
    from twin.tick.scene import Incident

    def build():
        engine = open_twin(root, data, start=0.0)
        engine.simulator.incidents = []
        engine.simulator.schedule(Incident(5.0, "gas.leak", "G-M-0028", {"diameter": 0.012, "cd": 0.62}))
        engine.simulator.schedule(Incident(10.0, "drainage.rain", "D-MH-0001", {"intensity": 100.0, "duration": 3600.0}))
        return engine

    server = create_app(build, speed=speed, data_dir=data)
    with running(server.app) as url:
        wait_healthy(url)
        yield server, url


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", root / "scene.toml")
    return root


@contextmanager
def closing(pages):
    """Close the pages opened in the block (chromium draws on the CPU here: a page left
    open slows the next test's)."""
    try:
        yield
    finally:
        for page in pages:
            page.close()


def goto(page, url):
    """Open ``url`` in ``page`` and wait for its first snapshot (generous: chromium draws
    on the CPU here, beside the twin)."""
    page.goto(url, timeout=90000)
    page.wait_for_function("window.__twin && window.__twin.stats().ready && window.__twin.stats().snapshots > 0", timeout=60000)


def open_page(browser, url, errors):
    """A new page at ``url``, its errors collected, once it holds its first snapshot."""
    page = browser.new_page(viewport={"width": 1600, "height": 900})
    page.on("pageerror", lambda e: errors.append(str(e)))
    goto(page, url)
    return page


def rows(page, selector="#alarm-list li[data-incident]:not(.incident-detail)"):
    return page.evaluate(f"""() => [...document.querySelectorAll({selector!r})].map(r => ({{...r.dataset, text: r.innerText}}))""")


@pytest.mark.slow  # the storm takes 20 s of the wall's time to escalate the gas incident
@pytest.mark.skipif(not CHROMIUM.exists() or not (STATIC_DIR / "index.html").exists(), reason="needs chromium and the built viewer")
def test_the_wall_lists_incidents_worst_first_with_their_timeline_and_an_operator_acknowledges(browser, demo, tmp_path):
    data = tmp_path / "data"
    store = TokenStore(data)
    _, operator = store.add("operator", "duty-officer")
    _, viewer = store.add("viewer", "wall-2")
    errors: list[str] = []
    pages = []
    with serve_storm(demo, data) as (server, url), closing(pages):
        book = server.engine.incidents
        wall = open_page(browser, f"{url}/?wall=1&token={operator}", errors)
        pages.append(wall)
        # The wall lists incidents by default: the gas leak's on top once the storm has one too.
        assert wall.locator("#list-incidents").get_attribute("aria-pressed") == "true"
        assert wall.locator("#list-alarms").get_attribute("aria-pressed") == "false"
        wait_for(wall, "() => document.querySelectorAll('#alarm-list li.incident').length >= 2", timeout=60000)
        wait_for(wall, "() => document.querySelector('#alarm-list li.incident').dataset.level === '4'", timeout=30000)

        def in_the_servers_order():
            """The rows, once they are in the order of the server's list (the storm keeps
            changing its incidents' levels: the page may be a delta behind)."""
            listed = rows(wall)
            return listed if [int(r["incident"]) for r in listed] == [i.id for i in book.ordered()] else None

        listed = poll(in_the_servers_order, 20, "the wall's incidents in the server's order")
        gas = listed[0]
        assert gas["domains"] == "gas" and gas["state"] == "open"
        assert all(r["domains"] == "drainage" for r in listed[1:])
        gas_id = int(gas["incident"])
        incident = book.incidents[gas_id]
        row = wall.locator(f"#alarm-list li.incident[data-incident='{gas_id}']")
        poll(lambda: row.locator(".incident-title").inner_text() == book.incidents[gas_id].title, 20, "the title")
        assert "Combustible gas" in row.locator(".incident-title").inner_text()
        assert row.locator(".chip").inner_text() == "Red (I)"
        assert row.locator(".chip").evaluate("n => getComputedStyle(n).backgroundColor") == "rgb({}, {}, {})".format(*LEVEL_RGB[4])
        # (the leak may still be reaching a further space: the page may be a delta behind)
        poll(lambda: row.locator(".alarm-count").inner_text() == f"{len(book.incidents[gas_id].alarms)} alarms", 20, "the alarm count")
        assert incident.owner in row.locator(".owner").inner_text()
        assert row.locator(".age").inner_text().endswith(("s", "min"))
        assert row.locator(".state").inner_text().startswith("open")
        # big type on the wall: the title is larger than the alarm list's rule text
        size = float(row.locator(".incident-title").evaluate("n => parseFloat(getComputedStyle(n).fontSize)"))
        root = float(wall.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)"))
        assert size >= 1.5 * root, (size, root)

        # The toggle switches to the alarms, and back.
        wall.locator("#list-alarms").click()
        wait_for(wall, "() => document.querySelectorAll('#alarm-list li[data-alarm]').length > 0")
        assert wall.locator("#alarm-list li.incident").count() == 0
        shown = {int(x) for x in wall.evaluate("[...document.querySelectorAll('#alarm-list li[data-alarm]')].map(r => r.dataset.alarm)")}
        assert set(incident.alarms) <= shown
        wall.locator("#list-incidents").click()
        wait_for(wall, "() => document.querySelectorAll('#alarm-list li.incident').length >= 2")

        # A click expands the incident: its alarms, its timeline, the camera over it.
        before = wall.evaluate("window.__twin.camera().target")
        row.click()
        timeline = wall.locator(f"#incident-timeline-{gas_id}")
        wait_for(wall, f"() => document.querySelectorAll('#incident-timeline-{gas_id} li[data-kind]').length > 0")
        kinds = timeline.evaluate("n => [...n.querySelectorAll('li')].map(l => l.dataset.kind)")
        detail_alarms = wall.evaluate("[...document.querySelectorAll('.incident-detail li[data-alarm]')].map(r => Number(r.dataset.alarm))")
        assert kinds[0] == "open" and kinds.count("raise") == len(detail_alarms) and "escalate" in kinds
        times = timeline.evaluate("n => [...n.querySelectorAll('li')].map(l => Number(l.dataset.time))")
        assert times == sorted(times)
        assert detail_alarms == book.incidents[gas_id].alarms[: len(detail_alarms)] and detail_alarms
        cx = sum(p[0] for p in incident.outline) / len(incident.outline)
        cy = sum(p[1] for p in incident.outline) / len(incident.outline)
        wait_for(wall, "() => !window.__twin.camera().gliding")
        wall.wait_for_timeout(1500)  # the flight (1.2 s)
        target = wall.evaluate("window.__twin.camera().target")
        assert target != before and abs(target[0] - cx) < 60 and abs(target[1] - cy) < 60, (target, cx, cy)

        # Nobody acknowledges within five minutes of the twin's clock: the incident is
        # handed up; the row and the open timeline show it as it happens.
        wait_for(wall, f"() => document.querySelector('#incident-timeline-{gas_id} li[data-kind=\"escalation\"]') !== null", timeout=60000)
        assert "section chief" in timeline.locator("li[data-kind='escalation']").first.inner_text()
        wait_for(wall, f"() => document.querySelector('li.incident[data-incident=\"{gas_id}\"] .esc-flag') !== null")
        assert book.incidents[gas_id].escalations
        server.speed = 1.0  # the storm has done its part: leave the machine to the pages

        # The operator acknowledges from the list, with a note: the state changes and the
        # timeline says who, with the note.
        detail = wall.locator(".incident-detail")
        detail.locator("textarea.note").fill("gas company informed, crew 3 on the way")
        detail.locator(".action-acknowledge").click()
        wait_for(wall, f"() => document.querySelector('li.incident[data-incident=\"{gas_id}\"]').dataset.state === 'acknowledged'")
        assert book.incidents[gas_id].state == "acknowledged"
        assert book.incidents[gas_id].actions[-1]["who"] == "duty-officer"
        assert "acknowledged" in row.locator(".state").inner_text()
        wait_for(wall, f"() => document.querySelector('#incident-timeline-{gas_id} li[data-kind=\"acknowledge\"]') !== null")
        ack = timeline.locator("li[data-kind='acknowledge']").inner_text()
        assert "duty-officer" in ack and "crew 3 on the way" in ack
        assert detail.locator(".action-acknowledge").is_disabled() and detail.locator(".action-dispatch").is_enabled()
        assert detail.locator(".action-close").is_enabled()  # the server refuses while its alarms are active (below)
        assert detail.locator(".action-message").inner_text() == "Acknowledge: done"

        # Dispatched from the list, the owner's crew reports from the field (its phone
        # page's API): each step comes onto the open timeline and the row as it happens.
        detail.locator("textarea.note").fill("crew 3 to the valve well")
        detail.locator(".action-dispatch").click()
        wait_for(wall, f"() => document.querySelector('li.incident[data-incident=\"{gas_id}\"]').dataset.state === 'dispatched'")
        assert book.incidents[gas_id].dispatched_to == incident.owner
        wait_for(wall, f"() => document.querySelector('#incident-timeline-{gas_id} li[data-kind=\"dispatch\"]') !== null")
        assert incident.owner in timeline.locator("li[data-kind='dispatch']").inner_text()
        _, crew = store.add("crew", "gas crew 3", unit=incident.owner)
        as_crew = {"Authorization": f"Bearer {crew}"}
        for step in ("accept", "arrive"):
            r = httpx.post(f"{url}/api/field/tasks/{gas_id}/{step}", json={"note": f"{step} from the field"}, headers=as_crew, timeout=20)
            assert r.status_code == 200, r.text
            wait_for(wall, f"() => document.querySelector('#incident-timeline-{gas_id} li[data-kind=\"{step}\"]') !== null")
            assert "gas crew 3" in timeline.locator(f"li[data-kind='{step}']").inner_text()
        # The row follows the stream, the open timeline its own fetch: either may come first.
        wait_for(wall, f"() => document.querySelector('li.incident[data-incident=\"{gas_id}\"] .crew')?.textContent === 'crew on site'")

        # Closing waits for its alarms to clear: the refusal is shown where it was asked.
        detail.locator(".action-close").click()
        wait_for(wall, "() => document.querySelector('.incident-detail .action-message.error') !== null")
        assert "still has" in detail.locator(".action-message").inner_text()
        assert book.incidents[gas_id].state == "dispatched"

        # Another wall, a viewer's (one page at a time: chromium draws on the CPU here):
        # the incident dispatched, the actions disabled with the reason.
        goto(wall, f"{url}/?wall=1&token={viewer}")
        wait_for(wall, f"() => document.querySelector('li.incident[data-incident=\"{gas_id}\"]')?.dataset.state === 'dispatched'", timeout=30000)
        wall.locator(f"li.incident[data-incident='{gas_id}']").click()
        wait_for(wall, f"() => document.querySelector('#incident-timeline-{gas_id} li[data-kind=\"acknowledge\"]') !== null")
        assert wall.locator(".incident-detail .action-acknowledge").is_disabled()
        assert "needs an operator token" in wall.locator(".incident-detail .reason").inner_text()

        # An operator's screen shows the alarms by default; ?list=incidents asks for incidents.
        goto(wall, f"{url}/?token={operator}")
        assert wall.locator("#list-alarms").get_attribute("aria-pressed") == "true"
        wait_for(wall, "() => document.querySelectorAll('#alarm-list li[data-alarm]').length > 0")
        goto(wall, f"{url}/?token={operator}&list=incidents")
        wait_for(wall, "() => document.querySelectorAll('#alarm-list li.incident').length >= 2", timeout=30000)

        if os.environ.get("TWIN_DOCS_SCREENSHOTS") == "1":
            zh = wall
            zh.set_viewport_size({"width": 1920, "height": 1080})
            goto(zh, f"{url}/?wall=1&lang=zh-CN&token={viewer}")
            wait_for(zh, f"() => document.querySelector('li.incident[data-incident=\"{gas_id}\"]') !== null", timeout=30000)
            zh.locator(f"li.incident[data-incident='{gas_id}']").click()
            wait_for(zh, f"() => document.querySelectorAll('#incident-timeline-{gas_id} li[data-kind]').length > 3")
            zh.wait_for_timeout(2000)
            (ROOT / "docs" / "wall-incidents.png").write_bytes(zh.screenshot())
        assert not errors, errors


@pytest.mark.slow  # a drill recorded, then a replay browsed
@pytest.mark.skipif(not CHROMIUM.exists() or not (STATIC_DIR / "index.html").exists(), reason="needs chromium and the built viewer")
def test_a_replayed_wall_shows_the_incidents_of_the_moment_sought(browser, storm_recording, tmp_path):
    errors: list[str] = []
    pages = []
    with serve_replay(storm_recording, tmp_path) as (server, url), httpx.Client(base_url=url, timeout=20) as c, closing(pages):
        start = server.replay.start
        wall = open_page(browser, f"{url}/?wall=1", errors)
        pages.append(wall)
        assert wall.locator("#list-incidents").get_attribute("aria-pressed") == "true"

        def seek(offset):
            """Seek, and the list once it shows what the replay's API lists (the list is
            drawn on the next animation frame, which a busy machine may delay)."""
            assert c.post("/api/replay", json={"action": "seek", "time": start + offset}).status_code == 200
            wait_for(wall, "t => window.__twin.stats().time === t", arg=start + offset)
            listed = [f"{i['id']}:{i['state']}" for i in c.get("/api/incidents").json()["incidents"]]
            wait_for(wall, "ids => [...document.querySelectorAll('#alarm-list li.incident')].map(r => `${r.dataset.incident}:${r.dataset.state}`).join() === ids.join()", arg=listed)
            return rows(wall)

        # 80 s in: the gas leak only (the storm floods its first manhole at 99 s), not yet acknowledged.
        shown = seek(80.0)
        assert [(r["domains"], r["state"]) for r in shown] == [("gas", "open")]
        # After the drill's acknowledge: the storm's incidents too, the gas one on top, all acknowledged.
        shown = seek(240.0)
        assert len(shown) >= 2 and shown[0]["domains"] == "gas" and shown[0]["level"] == "4"
        assert {r["state"] for r in shown} == {"acknowledged"}
        recorded = recorded_incidents(storm_recording, start + 240.0)
        assert {int(r["incident"]): int(r["alarms"]) for r in shown} == {k: len(v["alarms"]) for k, v in recorded.items()}
        # Its timeline, as it was: opened, its alarms raised, the drill's acknowledge.
        gas_id = int(shown[0]["incident"])
        wall.locator(f"li.incident[data-incident='{gas_id}']").click()
        wait_for(wall, f"() => document.querySelector('#incident-timeline-{gas_id} li[data-kind=\"acknowledge\"]') !== null")
        kinds = wall.evaluate(f"[...document.querySelectorAll('#incident-timeline-{gas_id} li')].map(l => l.dataset.kind)")
        assert kinds[0] == "open" and "raise" in kinds
        # what was cannot be acted on: the actions are disabled, saying why
        assert wall.locator(".incident-detail .action-dispatch").is_disabled()
        assert "A replay shows what was" in wall.locator(".incident-detail .reason").inner_text()
        # Enter on a focused row folds it as a click does
        wall.locator(f"li.incident[data-incident='{gas_id}']").press("Enter")
        wait_for(wall, "() => document.querySelector('.incident-detail') === null")
        # Back before the leak: nothing.
        seek(10.0)
        wait_for(wall, "() => document.querySelectorAll('#alarm-list li.incident').length === 0")
        assert wall.locator("#alarm-list li.empty").inner_text() == "No open incidents"
        # Played from one minute in, the storm's first incident comes with the deltas.
        seek(60.0)
        assert len(rows(wall)) == 1
        assert c.post("/api/replay", json={"action": "speed", "speed": 16}).status_code == 200
        assert c.post("/api/replay", json={"action": "play"}).status_code == 200
        wait_for(wall, "() => [...document.querySelectorAll('#alarm-list li.incident')].some(r => r.dataset.domains === 'drainage')", timeout=30000)
        c.post("/api/replay", json={"action": "pause"})
        assert not errors, errors


#: what the tour is showing, the list's expanded and framed incident and the page's
#: incidents, read at one instant (the tour may step between two reads)
TOUR_NOW = """() => ({tour: window.__twin.tour(), list: window.__twin.list(), selected: window.__twin.selected(),
  incidents: window.__twin.incidents().map(i => i.id)})"""


@pytest.mark.slow  # a drill recorded, then a replay toured
@pytest.mark.skipif(not CHROMIUM.exists() or not (STATIC_DIR / "index.html").exists(), reason="needs chromium and the built viewer")
def test_the_unattended_tour_shows_incidents_worst_first_framed_as_a_click_does(browser, storm_recording, tmp_path):
    errors: list[str] = []
    pages = []
    with serve_replay(storm_recording, tmp_path) as (server, url), httpx.Client(base_url=url, timeout=20) as c, closing(pages):
        start = server.replay.start
        # 4 min in, paused: the gas leak's incident on top of the storm's
        for body in ({"action": "seek", "time": start + 240.0}, {"action": "pause"}):
            assert c.post("/api/replay", json=body).status_code == 200
        worst_first = [i["id"] for i in c.get("/api/incidents").json()["incidents"]]
        assert len(worst_first) >= 2
        wall = open_page(browser, f"{url}/?wall=1&tour=1&tour_idle=0&tour_every=2", errors)
        pages.append(wall)
        # the debug hook gives the page's incidents in the list's order: the server's
        wait_for(wall, "ids => window.__twin.incidents().map(i => i.id).join() === ids.join()", arg=worst_first)
        assert wall.evaluate("window.__twin.list().mode") == "incidents"
        # Each stop is the next incident, worst first, expanded with its timeline and framed
        # in 3D as a click on its row does; after the last, the worst again.
        seen = []
        deadline = time.monotonic() + 120
        while len(seen) <= len(worst_first) and time.monotonic() < deadline:
            now = wall.evaluate(TOUR_NOW)
            tour = now["tour"]
            if tour["stops"] and (not seen or seen[-1] != tour["stops"]):
                assert tour["active"] and tour["current"]["kind"] == "incident", tour
                shown = tour["current"]["id"]
                assert shown == worst_first[(tour["stops"] - 1) % len(worst_first)], (tour, worst_first)
                assert now["list"]["incident"] == shown and now["list"]["framed"] == shown, now
                seen.append(tour["stops"])
            wall.wait_for_timeout(300)
        assert len(seen) > len(worst_first), f"the tour made {seen} stops in 2 min"
        expanded = wall.evaluate("window.__twin.list().incident")
        wait_for(wall, f"() => document.querySelector('#incident-timeline-{expanded} li[data-kind=\"open\"]') !== null")
        # Any input stops it; idle again, it starts over from the worst.
        stops = wall.evaluate("() => { window.dispatchEvent(new KeyboardEvent('keydown')); return window.__twin.tour().stops; }")
        wait_for(wall, "n => window.__twin.tour().stops > n", arg=stops)
        now = wall.evaluate(TOUR_NOW)
        assert now["tour"]["current"]["id"] == worst_first[0] and now["list"]["framed"] == worst_first[0], now
        wall.close()
        pages.remove(wall)

        # A wall that lists alarms tours the alarms, the worst first.
        alarms = c.get("/api/alarms").json()["alarms"]
        worst = max(a["level"] for a in alarms)
        wall = open_page(browser, f"{url}/?wall=1&list=alarms&tour=1&tour_idle=0&tour_every=2", errors)
        pages.append(wall)
        wait_for(wall, "() => (window.__twin.tour()?.stops ?? 0) > 0", timeout=30000)
        now = wall.evaluate(TOUR_NOW)
        assert now["tour"]["current"]["kind"] == "alarm" and now["list"] == {"mode": "alarms", "incident": None, "framed": None}, now
        first = next(a for a in alarms if a["id"] == now["tour"]["current"]["id"])
        assert first["level"] == worst and now["selected"]["alarm"] == first["id"]
        assert not errors, errors
