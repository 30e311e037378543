"""The history API on a replaying server (issues 14 and 17): a recorded drill whose methane
detector drifts low while its manhole fills with gas, replayed; GET /api/history/sensors
answers the detector's readings from the recording (raw, or bucketed as the live store
buckets them) with the manhole's true methane beside them, which the drift departs from."""

import httpx
import numpy as np
import pytest
from conftest import demo_drill, record_drill, running, wait_healthy

from twin.runs.recording import decode_batch, read_stream, read_truth
from twin.runs.replay import Replay
from twin.serving.server import create_app

DRIFT_AT = 40.0
SENSOR, ASSET, FIELD = "GS-CH4-0089", "G-MH-0055", "ch4"
DRILL = f"""
[drill]
name = "Drifting detector"
scene = ".."
seed = 11
duration = "00:01:40"

[[events]]
at = 5
action = "gas.leak"
target = "G-M-0028"
params = {{ diameter = 0.012 }}

[[events]]
at = {DRIFT_AT:g}
action = "sensor.drift"
target = "{SENSOR}"
params = {{ rate = -600 }}
"""


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    root = tmp_path_factory.mktemp("history-replay")
    path = root / "drift.mcap"
    _, start = record_drill(demo_drill(root, "drift", DRILL), path)
    server = create_app(lambda: Replay(path, root / "data"), speed=1.0)
    with running(server.app) as http:
        wait_healthy(http)
        with httpx.Client(base_url=http, timeout=60) as c:
            yield c, path, start, server


def recorded_readings(path, index):
    t, v = [], []
    for _, _, data in read_stream(path, ("/input/readings",)):
        i, at, value, quality = decode_batch(data)
        pick = (i == index) & (quality == 0) & np.isfinite(value)
        t += at[pick].tolist()
        v += value[pick].tolist()
    return np.asarray(t), np.asarray(v)


def test_a_replay_answers_the_recordings_readings_and_truth(replayed):
    c, path, start, server = replayed
    index = server.engine.ingest.sensor_index[SENSOR]
    t, v = recorded_readings(path, index)
    assert len(t) >= 50
    r = c.get(f"/api/history/sensors/{SENSOR}", params={"from": start, "to": start + 1000})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["source"] == "recording" and answer["step"] is None and answer["unit"] == "%vol"
    got_t, got_v = np.asarray(answer["points"]["t"]), np.asarray(answer["points"]["v"], dtype=np.float64)
    assert np.allclose(got_t, t, atol=1e-3)
    assert np.allclose(got_v, v.astype(np.float32).astype(np.float64), rtol=1e-6)
    # the truth: the recording's true methane of the manhole, held from each sample on
    truth = read_truth(path).series[(ASSET, FIELD)]
    tt, tv = np.asarray(answer["truth"]["t"]), np.asarray(answer["truth"]["v"], dtype=np.float64)
    assert np.allclose(tt, truth.times, atol=1e-3) and np.allclose(tv, truth.values, rtol=1e-6)
    true_at = tv[np.searchsorted(tt, got_t, side="right") - 1]
    before = (got_t > start + 15) & (got_t < start + DRIFT_AT)
    after = got_t > start + 80
    assert before.sum() >= 10 and after.sum() >= 10
    assert np.max(np.abs(got_v[before] - true_at[before])) < 0.5  # the detector reads the truth within its noise
    assert np.all(true_at[after] - got_v[after] > 2.0)  # then drifts far below it
    # a window starting late holds the value true at its start first
    mid = start + 50.5
    late = c.get(f"/api/history/sensors/{SENSOR}", params={"from": mid, "to": start + 1000}).json()
    assert late["truth"]["t"][0] == pytest.approx(mid) and late["truth"]["v"][0] == pytest.approx(truth.at(mid), rel=1e-6)
    assert all(x >= mid for x in late["points"]["t"])


def test_a_replay_buckets_as_the_live_store_does(replayed):
    c, path, start, server = replayed
    t, v = recorded_readings(path, server.engine.ingest.sensor_index[SENSOR])
    answer = c.get(f"/api/history/sensors/{SENSOR}", params={"from": start, "to": start + 100, "step": 10}).json()
    assert answer["source"] == "recording" and answer["step"] == 10.0
    p = answer["points"]
    assert "v" not in p and sum(p["count"]) == int(((t >= start) & (t < start + 100)).sum())
    b = 3
    inside = (t >= start + 10 * b) & (t < start + 10 * b + 10)
    i = p["t"].index(pytest.approx(start + 10 * b, abs=1e-3))
    assert p["count"][i] == inside.sum()
    assert p["mean"][i] == pytest.approx(v[inside].mean(), rel=1e-5)
    assert p["min"][i] == pytest.approx(v[inside].min(), rel=1e-5) and p["max"][i] == pytest.approx(v[inside].max(), rel=1e-5)
    # the asset's measured field answers the same, from its sensor
    same = c.get(f"/api/history/assets/{ASSET}", params={"field": FIELD, "from": start, "to": start + 100, "step": 10})
    assert same.status_code == 200, same.text
    same = same.json()
    assert same["points"] == p and same["source"] == "recording" and "truth" in same


#: the chart's truth line colour (historyChart.js TRUE) as RGB
TRUE_RGB = (255, 138, 92)


@pytest.mark.slow  # the demo district replayed and browsed in chromium
def test_the_replays_inspector_charts_the_recording_with_its_truth(replayed, browser):
    from test_viewer import open_page, wait_for

    c, path, start, server = replayed
    assert c.post("/api/replay", json={"action": "seek", "time": start + 90}).status_code == 200
    page = open_page(browser, str(c.base_url).rstrip("/"))
    wait_for(page, "id => document.querySelector(`#alarm-list li[data-asset='${id}']`) !== null", arg=ASSET, timeout=30000)
    page.locator(f"#alarm-list li[data-asset='{ASSET}']").first.click()
    wait_for(page, "() => window.__twin.history() !== null")
    page.locator(f"#inspector table.live tr[data-field='{FIELD}']").click()
    wait_for(page, "f => window.__twin.history().field === f && window.__twin.history().source === 'recording'"
                   " && window.__twin.history().truth > 0 && window.__twin.history().points >= 50", arg=FIELD, timeout=30000)
    chart = page.evaluate("window.__twin.history()")
    assert chart["drawn"] == chart["points"] and chart["canvas"]
    painted = page.evaluate(
        """([r, g, b]) => {
            const canvas = document.querySelector('#history-chart canvas');
            const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            let n = 0;
            for (let i = 0; i < data.length; i += 4) {
                if (Math.abs(data[i] - r) < 24 && Math.abs(data[i + 1] - g) < 24 && Math.abs(data[i + 2] - b) < 24 && data[i + 3] > 200) n++;
            }
            return n;
        }""", list(TRUE_RGB))
    assert painted > 50  # the dashed truth line is drawn
    assert "true value" in page.locator("#inspector .history-source").inner_text()
    page.close()
