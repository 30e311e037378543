"""Sensor health: offline and suspect (stuck) sensors raise system alarms per asset,
bounded in number; the share online per domain is in /metrics and /api/scene; a row
whose measured field has no online sensor is stale in the stream, and the viewer greys it.

The faults are the simulator's (``sensor.dead``, ``sensor.stuck``, ``sensor.repair``),
acting on the measuring chain of a real engine.
"""

from __future__ import annotations

import time

import httpx
import pytest
from conftest import running

from twin.tick.engine import Engine
from twin.errors import SceneError
from twin.tick.scene import load_scene
from twin.tick.sensor_health import MAX_ASSET_ALARMS, RULE_OFFLINE, RULE_SUSPECT
from twin.serving.server import create_app
from twin.authoring.testing import Harness


def noisy(plan):
    """Every toy sensor with a real transducer's noise (the toy's are noiseless)."""
    for sensor in plan.sensors:
        sensor["noise"] = 0.5


def sensor_events(frames_or_engine, run=0):
    """Run ``run`` ticks of an engine and return its sensor-health alarm events as
    (time, kind, rule, asset, level)."""
    out = []
    for _ in range(run):
        frame = frames_or_engine.tick()
        out += [(e.time, e.kind, e.alarm["rule"], e.alarm["asset"], e.alarm["level"]) for e in frame.events
                if e.alarm["rule"] in (RULE_OFFLINE, RULE_SUSPECT)]
    return out


def with_scene_lines(h: Harness, text: str, sensors: str = "", **engine) -> Engine:
    """A new engine over the harness's scene with ``text`` appended to its scene.toml
    (and ``sensors`` added to its [sensors] table)."""
    toml = h.scene.root / "scene.toml"
    here = 'file = "data/sensors.csv"\n'
    toml.write_text(toml.read_text(encoding="utf-8").replace(here, here + sensors) + "\n" + text, encoding="utf-8")
    scene = load_scene(h.scene.root, h.registry.domains)
    return Engine(scene, h.registry, seed=1, **engine)


def test_a_dead_sensor_goes_offline_after_its_interval_alarms_once_and_clears_when_it_reports_again(tmp_path, toy):
    h = Harness(tmp_path, plugins=[toy], blocks=(2, 2), plan_hook=noisy)
    e = h.engine
    e.run(5)
    h.act("sensor.dead", "TS-002")  # its last reading is at t = 5; interval 30 s
    assert sensor_events(e, 30) == []  # t = 35: silent 30 s, not past its interval
    assert sensor_events(e, 1) == [(36.0, "raise", RULE_OFFLINE, "T-002", 1)]
    [alarm] = h.alarms("T-002")
    assert alarm.domain == "system" and alarm.owner == "toy works"
    assert alarm.title_zh.startswith("设备离线") and "TS-002" in alarm.title and "TS-002" in alarm.title_zh
    assert sensor_events(e, 120) == []  # raised once, not again each tick
    h.act("sensor.repair", "TS-002")
    assert sensor_events(e, 1) == [(157.0, "clear", RULE_OFFLINE, "T-002", 0)]
    assert sensor_events(e, 60) == []


def test_a_stuck_sensor_is_suspect_and_healthy_or_noiseless_ones_never_are(tmp_path, toy):
    def plan_hook(plan):
        noisy(plan)
        plan.sensors[3]["noise"] = 0.0  # TS-003: a noiseless sensor on a still tank: flat, and fine

    h = Harness(tmp_path, plugins=[toy], blocks=(2, 2), plan_hook=plan_hook)
    e = with_scene_lines(h, '[sensors.kinds."toy.level"]\nstuck_after = 60\n')
    try:
        assert e.sensor_health.stuck_after.tolist().count(60.0) == 8  # every sensor with noise
        e.apply_action("toy.open_tap", "T-001", {"rate": 0.1})  # 1 %/s: no two readings alike
        e.run(10)
        e.apply_action("sensor.stuck", "TS-001", {})  # repeats its reading of t = 10 from now on
        [(at, *event)] = sensor_events(e, 600)
        assert event == ["raise", RULE_SUSPECT, "T-001", 1] and 69.0 <= at <= 70.0
        [alarm] = [a for a in e.alarms.active() if a.asset == "T-001"]
        assert alarm.title_zh.startswith("数据异常") and "TS-001" in alarm.title
        assert e.sensor_health.by_domain()["toy"] == {"sensors": 9, "online": 9, "offline": 0, "suspect": 1, "online_share": 1.0}
        e.apply_action("sensor.repair", "TS-001", {})
        assert sensor_events(e, 3) == [(611.0, "clear", RULE_SUSPECT, "T-001", 0)]
    finally:
        e.close()


def test_a_field_fed_only_by_offline_sensors_is_stale_for_that_row(tmp_path, toy):
    def plan_hook(plan):
        noisy(plan)
        plan.add_sensor("TS-001-B", "T-001", "level", noise=0.5)  # a second gauge on the same tank

    h = Harness(tmp_path, plugins=[toy], blocks=(2, 2), plan_hook=plan_hook)
    e = h.engine
    stale = e.world.tables["toy"].columns["stale"]
    e.tick()
    assert not stale.any()  # every measured row has a fresh reading
    h.act("sensor.dead", "TS-001")
    h.act("sensor.dead", "TS-004")
    frames = [e.tick() for _ in range(40)]
    table = e.world.tables["toy"]
    # T-004 lost its only sensor; T-001 still hears its second gauge
    changes = [f.changes["toy"]["stale"] for f in frames if "stale" in f.changes.get("toy", {})]
    assert [([table.ids[r] for r in rows], values.tolist()) for rows, values in changes] == [(["T-004"], [True])]
    assert stale[table.index["T-004"]] and not stale[table.index["T-001"]]
    assert [a.asset for a in h.alarms()] == ["T-001", "T-004"]  # T-001's dead gauge is offline all the same
    h.act("sensor.dead", "TS-001-B")
    e.run(32)
    assert stale[table.index["T-001"]]
    h.act("sensor.repair", "TS-004")
    frame = e.tick()
    rows, values = frame.changes["toy"]["stale"]
    assert [table.ids[r] for r in rows] == ["T-004"] and values.tolist() == [False]


def test_a_district_losing_its_gateway_gets_a_bounded_number_of_alarms(tmp_path, toy):
    h = Harness(tmp_path, plugins=[toy], blocks=(8, 8), plan_hook=noisy)  # 81 tanks, one sensor each
    e = h.engine
    assert len(e.scene.sensors) == 81 > MAX_ASSET_ALARMS
    e.tick()
    for sensor in e.scene.sensors:
        h.act("sensor.dead", sensor.id)
    events = sensor_events(e, 40)
    raised = [x for x in events if x[1] == "raise"]
    assert len(raised) == MAX_ASSET_ALARMS + 1 and {x[0] for x in raised} == {32.0}
    summary = next(a for a in h.alarms() if a.asset == "sensors:offline")
    assert summary.title.startswith(f"{81 - MAX_ASSET_ALARMS} more assets have offline sensors")
    assert summary.title_zh.startswith("设备离线") and summary.owner == "platform operations"
    assert e.sensor_health.by_domain()["toy"]["online_share"] == 0.0
    # Ten come back: their alarms clear, and ten waiting assets take the room
    for sensor in e.scene.sensors[:10]:
        h.act("sensor.repair", sensor.id)
    events = sensor_events(e, 1)
    assert sorted(k for _, k, *_ in events) == ["clear"] * 10 + ["raise"] * 10
    assert sum(1 for a in h.alarms() if a.rule == RULE_OFFLINE and a.level > 0) == MAX_ASSET_ALARMS + 1
    for sensor in e.scene.sensors[10:]:
        h.act("sensor.repair", sensor.id)
    events = sensor_events(e, 1)
    assert sorted(k for _, k, *_ in events) == ["clear"] * (MAX_ASSET_ALARMS + 1)
    assert all(a.level == 0 for a in h.alarms())


def test_an_offline_alarm_survives_a_restart_without_a_second_raise_and_clears_when_the_sensor_speaks(tmp_path, toy):
    data = tmp_path / "data"
    h = Harness(tmp_path / "scene", plugins=[toy], blocks=(2, 2), plan_hook=noisy, data_dir=data)
    h.run(1)
    h.act("sensor.dead", "TS-002")
    assert [x[1:4] for x in sensor_events(h.engine, 40)] == [("raise", RULE_OFFLINE, "T-002")]
    h.close()
    again = Engine(h.scene, h.registry, seed=1, data_dir=data)
    try:
        again.apply_action("sensor.dead", "TS-002", {})  # still dead after the restart
        assert sensor_events(again, 100) == []  # the open alarm goes on; none raised anew
        assert [a.asset for a in again.alarms.active() if a.level > 0] == ["T-002"]
        again.apply_action("sensor.repair", "TS-002", {})
        assert [x[1:4] for x in sensor_events(again, 1)] == [("clear", RULE_OFFLINE, "T-002")]
    finally:
        again.close()


def test_sensor_kinds_set_intervals_and_stuck_windows_and_bad_ones_are_named_with_their_line(tmp_path, toy):
    h = Harness(tmp_path, plugins=[toy], blocks=(2, 2), plan_hook=noisy)
    csv_path = h.scene.root / "data" / "sensors.csv"
    rows = csv_path.read_text(encoding="utf-8").splitlines()
    rows[1] = rows[1].rsplit(",", 1)[0] + ","  # TS-000 without its own stale_after: its kind's applies
    csv_path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    e = with_scene_lines(h, '[sensors.kinds."toy.level"]\ninterval = 120\n', sensors="stuck_after = 900\n")
    by_id = {s.id: s for s in e.scene.sensors}
    assert (by_id["TS-000"].stale_after, by_id["TS-000"].stuck_after) == (120.0, 900.0)
    assert by_id["TS-001"].stale_after == 30.0  # the CSV's own value wins for its sensor
    e.close()

    toml = h.scene.root / "scene.toml"
    good = toml.read_text(encoding="utf-8")
    toml.write_text(good + '\n[sensors.kinds."toy.levle"]\ninterval = 60\n\n[sensors.kinds."toy.risk"]\ninterval = -1\n'
                    'stuck_after = "long"\n\n[sensors.kinds."toy.inflow"]\nintervall = 5\n', encoding="utf-8")
    with pytest.raises(SceneError) as err:
        load_scene(h.scene.root, h.registry.domains)
    problems = err.value.problems
    lines = good.count("\n") + 2
    assert any(f'line {lines}: [sensors.kinds."toy.levle"]: \'levle\' is not a live field of domain \'toy\'; valid: inflow, level, risk'
               in p for p in problems), problems
    assert any(f'line {lines + 4}: [sensors.kinds."toy.risk"] interval = -1; expected seconds > 0' in p for p in problems), problems
    assert any(f"line {lines + 5}: [sensors.kinds.\"toy.risk\"] stuck_after = 'long'; expected seconds >= 0" in p for p in problems)
    assert any('[sensors.kinds."toy.inflow"]: unknown intervall; valid keys: interval, stuck_after' in p for p in problems), problems
    assert all("\n" not in p for p in problems)


def test_the_share_online_per_domain_is_in_metrics_and_api_scene(tmp_path, toy):
    def build():
        h = Harness(tmp_path / "scene", plugins=[toy], blocks=(2, 2), plan_hook=noisy)
        h.act("sensor.dead", "TS-002")  # never reports: offline 30 s after the start
        return h.engine

    server = create_app(build, speed=20.0)
    with running(server.app) as url, httpx.Client(base_url=url) as client:
        deadline = time.monotonic() + 60
        while not (server.engine is not None and server.engine.time > 32):
            assert time.monotonic() < deadline, "the twin did not run 32 s"
            time.sleep(0.05)
        metrics = client.get("/metrics").text
        assert 'twin_sensors_online_ratio{domain="toy"} 0.888888' in metrics  # 8 of 9
        assert 'twin_sensors_offline{domain="toy"} 1.0' in metrics
        assert 'twin_sensors_suspect{domain="toy"} 0.0' in metrics
        scene = client.get("/api/scene").json()
        assert scene["domains"]["toy"]["sensors"] == {"sensors": 9, "online": 8, "offline": 1, "suspect": 0,
                                                      "online_share": pytest.approx(8 / 9)}
        asset = client.get("/api/assets/T-002").json()
        assert asset["state"]["stale"] is True and asset["alarms"][0]["rule"] == RULE_OFFLINE


# ------------------------------------------------------------------ the viewer (chromium)

from test_viewer import CHROMIUM, open_page, scene, serve, wait_for  # noqa: E402,F401  (fixtures too; browser is conftest's)

from twin.serving.server import STATIC_DIR  # noqa: E402

#: STALE_COLOUR of viewer/src/levels.js, as 0-255 sRGB
STALE_RGB = [92, 92, 92]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/install installs it)")
@pytest.mark.skipif(not (STATIC_DIR / "index.html").exists(), reason="the viewer is not built (scripts/install builds it)")
@pytest.mark.slow
def test_the_viewer_greys_an_asset_whose_sensor_is_offline_lists_its_alarm_and_shows_the_share_online(browser, scene, tmp_path):
    asset, sensor = "B-S-0001", "B-S-0001-SG"  # a bridge span's strain gauge, one of its six sensors
    with serve(scene, tmp_path / "data", paused=True) as (server, url):
        page = open_page(browser, url + "/")
        before = page.evaluate("id => window.__twin.assetColour(id)", asset)
        assert max(abs(a - b) for a, b in zip(before, STALE_RGB)) > 20  # drawn in its domain's colour
        server.engine.apply_action("sensor.dead", sensor, {})  # it never reports: strain has no live reading
        server.running.set()

        wait_for(page, "id => document.querySelector(`#alarm-list li[data-asset='${id}']`) !== null", arg=asset, timeout=30000)
        assert server.engine.world.tables["bridge"].columns["stale"][server.engine.world.tables["bridge"].index[asset]]
        colour, level = page.evaluate("id => [window.__twin.assetColour(id), window.__twin.severity(id)]", asset)
        assert level == 0 and all(abs(a - b) <= 3 for a, b in zip(colour, STALE_RGB)), colour
        row = page.locator(f"#alarm-list li[data-asset='{asset}']")
        assert f"Sensor {sensor} offline" in row.inner_text() and "system" in row.inner_text()
        assert page.locator(".legend-level.stale").inner_text() == "—\nno live reading (sensors offline)"
        wait_for(page, "() => document.querySelector(`.layer.domain[data-domain='bridge'] .online`)?.hidden === false", timeout=15000)
        assert page.locator(".layer.domain[data-domain='bridge'] .online").inner_text() == "online 99.0%"  # 101 of 102
        assert page.locator(".layer.domain[data-domain='gas'] .online").inner_text() == "online 100%"

        row.click()  # flies to the span; the inspector shows the alarm and the stale field
        wait_for(page, "id => window.__twin.selected().asset === id", arg=asset)
        wait_for(page, "() => document.querySelector('#inspector .asset-alarm') !== null")
        assert "offline" in page.locator("#inspector .asset-alarm").inner_text()
        wait_for(page, "() => document.querySelector(`#inspector tr[data-field='strain'] .value`)?.textContent.includes('stale')")
        assert "stale" not in page.locator("#inspector tr[data-field='deflection'] .value").inner_text()
        page.close()


def test_a_slow_start_gives_sensors_not_yet_heard_their_interval_from_when_the_clock_catches_up(tmp_path, toy):
    # A live twin fed from the field (no simulator) whose start-up outlasts its sensors'
    # interval: the server skips the clock to the wall after the first tick. The devices
    # were never silent on the twin's watch: none is offline at once, each one is an
    # interval after the skip if it still says nothing, and one that speaks is fine.
    import numpy as np

    h = Harness(tmp_path, plugins=[toy], blocks=(2, 2), plan_hook=noisy)
    start = 1_800_000_000.0
    e = Engine(h.scene, h.registry, seed=1, simulate=False, live=True, start=start)
    try:
        interval = float(e.sensor_health.interval.max())
        heard = e.scene.sensors[0]
        value = float((e.ingest.low[0] + e.ingest.high[0]) / 2) if np.isfinite(e.ingest.high[0]) else 1.0

        def run(ticks):
            out = []
            for _ in range(ticks):  # the first sensor reports every tick, the others never
                batch = (np.array([0]), np.array([e.time + e.dt]), np.array([value]), np.array([0]))
                frame = e.tick(batch)
                out += [(x.time, x.kind, x.alarm["asset"]) for x in frame.events if x.alarm["rule"] == RULE_OFFLINE]
            return out

        assert run(1) == []
        e.skip_to(start + 10 * interval)  # compiling and loading took ten intervals
        caught_up = e.time
        assert run(1) == []  # was: every sensor not heard yet offline at once
        assert e.sensor_health.by_domain()["toy"]["offline"] == 0
        events = run(int(interval / e.dt) + 2)
        raised = {x[2] for x in events if x[1] == "raise"}
        assert {x[0] for x in events} == {caught_up + interval + e.dt}  # one interval of listening, then
        assert raised == {s.asset for s in e.scene.sensors} - {heard.asset}
    finally:
        e.close()
