"""The inspector's history chart (ECharts), in Debian's headless chromium against a real
server with the demo district: a live twin's chart is fed by the history API, a drill's
by the API too (from the run's own store), a field nobody stores by the values the screen
received (its live window); either way the points are drawn
(read back from the chart and from the canvas's pixels), the level thresholds are bands
and the alarm raise is marked."""

from __future__ import annotations

import time
from contextlib import contextmanager

import httpx
import pytest
from conftest import CHROMIUM, running, wait_started
from conftest import wait_for as poll
from test_typescript import conforms, interfaces, load_script
from test_viewer import open_page, scene, serve, wait_for  # noqa: F401 (scene: the fixture)

from twin.serving.server import STATIC_DIR, create_app

pytestmark = [
    pytest.mark.slow,  # the demo district served and browsed: 10-25 s per test here
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/install installs it)"),
    pytest.mark.skipif(not (STATIC_DIR / "index.html").exists(), reason="the viewer is not built (scripts/install builds it)"),
]

#: the demo's gas leak (scene.toml) raises an alarm on this manhole about 20 s in; it has a CH4 detector
ASSET = "G-MH-0055"
#: the chart's line colour (historyChart.js LINE) as RGB
LINE_RGB = (92, 200, 255)


@contextmanager
def serve_live(scene, data, speed):
    """A live twin (the wall's clock, so it keeps a history) on the demo, in a thread;
    ``speed`` above 1 runs it ahead of the wall, so that a test sees minutes in seconds."""
    from twin.runtime import open_twin

    server = create_app(lambda: open_twin(scene, data, start=time.time(), live=True), speed=speed, data_dir=data)
    with running(server.app) as url:
        wait_started(server)
        yield server, url


def chart(page):
    return page.evaluate("window.__twin.history()")


def line_pixels(page) -> int:
    """Pixels of the chart's canvas in the line's colour: what was really painted."""
    return page.evaluate(
        """([r, g, b]) => {
            const canvas = document.querySelector('#history-chart canvas');
            if (!canvas) return 0;
            const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            let n = 0;
            for (let i = 0; i < data.length; i += 4) {
                if (Math.abs(data[i] - r) < 24 && Math.abs(data[i + 1] - g) < 24 && Math.abs(data[i + 2] - b) < 24 && data[i + 3] > 200) n++;
            }
            return n;
        }""",
        list(LINE_RGB),
    )


def open_inspector(page, asset):
    """Its alarm's row is clicked: the inspector opens on the asset, with its chart."""
    page.locator(f"#alarm-list li[data-asset='{asset}']").first.click()
    wait_for(page, "id => window.__twin.selected().asset === id", arg=asset)
    wait_for(page, "() => window.__twin.history() !== null")


def test_a_live_twins_inspector_charts_the_stored_history_with_thresholds_and_the_alarm(browser, scene, tmp_path):
    with serve_live(scene, tmp_path / "data", speed=10.0) as (server, url):
        assert server.engine.history is not None
        page = open_page(browser, url)
        wait_for(page, "id => document.querySelector(`#alarm-list li[data-asset='${id}']`) !== null", arg=ASSET, timeout=30000)
        open_inspector(page, ASSET)
        # First the field the asset is coloured by (risk, which its plugin stores): its
        # level thresholds are bands, the alarm's raise a mark, from the history API.
        c = chart(page)
        assert c["field"] == "risk" and c["asset"] == ASSET and c["window"] == "1h"
        wait_for(page, "() => window.__twin.history().source === 'raw' && window.__twin.history().alarms >= 1"
                       " && window.__twin.history().points >= 2", timeout=30000)
        c = chart(page)
        assert c["thresholds"] == 4 and c["canvas"] and c["drawn"] == c["points"]

        # Then the CH4 reading: a click on its row; the stored readings, drawn.
        sensors = httpx.get(f"{url}/api/assets/{ASSET}").json()["sensors"]
        field = sensors[0]["field"]
        page.locator(f"#inspector table.live tr[data-field='{field}']").click()
        wait_for(page, "f => window.__twin.history().field === f && window.__twin.history().source === 'raw'"
                       " && window.__twin.history().points >= 5", arg=field, timeout=30000)
        c = chart(page)
        assert c["drawn"] == c["points"]  # every point inside the plot
        assert line_pixels(page) > 50  # and painted
        # The server holds what the chart shows: the API answers the same series, in the
        # shape the viewer's generated declarations give it (as does the asset's answer).
        # (the chart adds the values the stream brings between its fetches; the store
        # keeps the field every 10 s, so the API may be a point behind for a few seconds)
        def stored():
            a = httpx.get(f"{url}/api/history/assets/{ASSET}", params={"field": field, "from": c["from"]}).json()
            return a if len(a["points"]["t"]) >= 5 else None

        answer = poll(stored, 30, "five stored points of the charted field")
        assert answer["source"] == "raw"
        types = interfaces(load_script("gen-protocol-dts").render())
        assert conforms(answer, "SeriesAnswer", types, "history") == []
        assert conforms(httpx.get(f"{url}/api/assets/{ASSET}").json(), "AssetInfo", types, "asset") == []
        assert page.locator(f"#inspector table.live tr[data-field='{field}']").get_attribute("aria-pressed") == "true"

        # Another window: asked again, over 24 h.
        page.locator("#inspector .history-window[data-window='24h']").click()
        wait_for(page, "() => window.__twin.history().window === '24h' && window.__twin.history().to - window.__twin.history().from > 86000")
        wait_for(page, "() => window.__twin.history().points >= 5 && window.__twin.history().source === 'raw'")
        assert page.locator("#inspector .history-window[data-window='24h']").get_attribute("aria-pressed") == "true"
        page.close()


def test_a_drills_inspector_charts_its_own_history_and_a_field_nobody_stores_live(browser, scene, tmp_path):
    with serve(scene, tmp_path / "data", start=0.0, speed=10.0) as (server, url):
        # a simulated clock is not the city's: the run keeps a store of its own (runs/)
        history = server.engine.history
        assert history is not None and history.store.folder.parent.parent == tmp_path / "data" / "runs"
        page = open_page(browser, url)
        wait_for(page, "id => document.querySelector(`#alarm-list li[data-asset='${id}']`) !== null", arg=ASSET, timeout=30000)
        open_inspector(page, ASSET)
        # the risk, from the history API: the drill's stored span, the bands, the raise
        wait_for(page, "() => window.__twin.history().source === 'raw' && window.__twin.history().alarms >= 1"
                       " && window.__twin.history().points >= 10", timeout=30000)
        c = chart(page)
        assert c["field"] == "risk" and c["thresholds"] == 4 and c["from"] < 0 < c["to"]  # the hour holds the drill's start
        assert c["drawn"] == c["points"]
        assert line_pixels(page) > 50
        assert "live window" not in page.locator("#inspector .history-source").inner_text()
        # what the chart was given: the run's risk from its first ticks on
        answer = httpx.get(f"{url}/api/history/assets/{ASSET}", params={"field": "risk", "from": c["from"], "to": c["to"]}).json()
        assert answer["source"] == "raw" and answer["points"]["t"][0] < 15 and answer["alarms"]

        # a field neither historical nor measured: the API has none, the screen's live window
        page.locator("#inspector table.live tr[data-field='gas_inflow']").click()
        wait_for(page, "() => window.__twin.history().field === 'gas_inflow' && window.__twin.history().source === 'live'"
                       " && window.__twin.history().points >= 10", timeout=30000)
        c = chart(page)
        assert c["drawn"] == c["points"]
        assert "live window" in page.locator("#inspector .history-source").inner_text()
        page.close()
