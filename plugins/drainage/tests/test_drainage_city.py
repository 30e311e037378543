"""The drainage network of a generated city: plausible, deterministic, quiet in dry
weather, and alarmed by the demo's storm; the twin learns of rain and blockages only
through its sensors."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from twin.authoring.citygen import plan_city, populate
from twin.plugins.registry import load_registry
from twin.authoring.testing import Harness
from twin.types import LEVEL_BLUE

from twin_drainage import plugin

DEMO_SEED, DEMO_BLOCKS = 20261123, (8, 7)
#: the demo's storm (scenes/demo/scene.toml): 100 mm/h for an hour from t = 10 s
DEMO_STORM = dict(at=10.0, action="drainage.rain", asset="D-MH-0001", intensity=100.0, duration=3600.0)


def drainage_plan(seed=DEMO_SEED, blocks=DEMO_BLOCKS):
    plan = plan_city(seed, *blocks, buildings=False)
    populate(plan, load_registry([plugin], entry_points=False))
    return plan


def test_the_generator_is_deterministic_and_plausible():
    plan = drainage_plan()
    assert plan.assets == drainage_plan().assets and plan.sensors == drainage_plan().sensors
    features = {f["properties"]["id"]: f for f in plan.assets["drainage"]}
    kinds = [f["properties"]["kind"] for f in features.values()]
    assert kinds.count("pipe") == kinds.count("manhole") > 100 and kinds.count("outfall") >= 2
    assert all(re.fullmatch(r"D-(MH|P|OF)-\d{4}", i) for i in features)
    assert all(f["properties"]["owner"] for f in features.values())
    props = {i: f["properties"] for i, f in features.items()}
    for pid, p in props.items():
        if p["kind"] != "pipe":
            continue
        up, down = (props[n] for n in p["links"])
        z_up = up["invert_elevation"] + p["inlet_offset"]
        z_down = down["invert_elevation"] + p["outlet_offset"]
        assert z_up - z_down >= 0.0009 * p["length"], pid  # downhill, at least the legacy slope
        assert 0.3 <= p["diameter"] <= 2.0 and 20.0 <= p["length"] <= 80.0, pid
        if up["kind"] == "manhole":  # buried: at least 1.4 m of cover over the crown
            assert up["rim_elevation"] - (z_up + p["diameter"]) >= 1.4, pid
    # every manhole drains, pipe by pipe, to an outfall on the river bank
    outlet = {p["links"][0]: p["links"][1] for p in props.values() if p["kind"] == "pipe"}
    for mid, m in props.items():
        if m["kind"] != "manhole":
            continue
        node, hops = mid, 0
        while props[node]["kind"] != "outfall":
            node, hops = outlet[node], hops + 1
            assert hops < 100
        y = features[node]["geometry"]["coordinates"][1]
        assert 30.0 < abs(y - plan.river_y) < 40.0
        assert 0.15 <= m["catchment_area"] <= 0.35 and m["rim_elevation"] > m["invert_elevation"]


def test_the_demo_storm_raises_a_blue_alarm_within_two_minutes(tmp_path):
    """The demo's incident, put in the scene as it is in scenes/demo/scene.toml."""
    storm = dict(DEMO_STORM)
    hook = lambda plan: plan.add_incident(storm.pop("at"), storm.pop("action"), storm.pop("asset"), **storm)  # noqa: E731
    h = Harness(tmp_path, plugins=[plugin], blocks=DEMO_BLOCKS, seed=DEMO_SEED, plan_hook=hook)
    h.run(10)
    assert h.alarms() == []  # dry weather: quiet
    first = None
    for second in range(11, 121):
        h.run(1)
        node_alarms = [a for a in h.alarms() if a.rule == "drainage.node"]
        if node_alarms and first is None:
            first = second
    assert first is not None and 60 <= first <= 120
    assert max(a.level for a in node_alarms) >= LEVEL_BLUE
    # it surcharged in the simulated city, and the twin saw the rain through its gauges
    truth = h.engine.simulator.world.tables["drainage"]
    assert truth["surcharged"].any()
    twin = h.engine.world.tables["drainage"]
    manholes = twin.rows("manhole")
    assert np.abs(twin["rain_intensity"][manholes] - 100.0).max() < 5 * 0.2  # the gauges' noise
    assert all(a.owner for a in node_alarms)


def test_dry_weather_is_still_and_runs_are_deterministic(tmp_path):
    a = Harness(tmp_path / "a", plugins=[plugin], blocks=(4, 4), seed=3)
    b = Harness(tmp_path / "b", plugins=[plugin], blocks=(4, 4), seed=3)
    for h in (a, b):
        h.run(30)
    truth = a.engine.simulator.world.tables["drainage"]
    assert truth["flow"].max() == 0.0 and truth["depth"].max() == 0.0 and not a.alarms()
    for h in (a, b):
        h.act("drainage.rain", h.plan.assets["drainage"][0]["properties"]["id"], intensity=60.0, duration=600.0)
    a.run(120)
    b.run(30)
    b.run(90)
    assert a.engine.world.tables["drainage"]["flow"].max() > 0.0
    assert a.engine.digest() == b.engine.digest()
    assert a.engine.simulator.world.digest() == b.engine.simulator.world.digest()


def test_a_blocked_trunk_surcharges_the_manhole_above_it_and_the_twin_sees_it(tmp_path):
    plan = drainage_plan(seed=5, blocks=(4, 4))
    watched = {s["asset"] for s in plan.sensors if s["field"] == "depth"}
    props = {f["properties"]["id"]: f["properties"] for f in plan.assets["drainage"]}
    # a trunk pipe below a watched intersection, not into an outfall
    pipe = next(p["id"] for p in props.values() if p["kind"] == "pipe" and p["links"][0] in watched
                and props[p["links"][1]]["kind"] == "manhole" and p["diameter"] >= 0.4)
    above = props[pipe]["links"][0]
    runs = {}
    for blocked in (False, True):
        h = Harness(tmp_path / str(blocked), plugins=[plugin], blocks=(4, 4), seed=5)
        h.act("drainage.rain", above, intensity=40.0, duration=3600.0)
        if blocked:
            h.act("drainage.block_pipe", pipe, fraction=0.95)
        h.run(300)
        runs[blocked] = h
    clear, blocked = runs[False], runs[True]
    assert not clear.value(above, "surcharged", truth=True)
    assert blocked.value(above, "surcharged", truth=True)
    assert blocked.value(pipe, "capacity", truth=True) == pytest.approx(0.05 * clear.value(pipe, "capacity", truth=True))
    # The twin does not know of the blockage; its level sensor tells it of the water.
    assert blocked.value(pipe, "blockage") == 0.0
    assert math.isclose(blocked.value(above, "depth"), blocked.value(above, "depth", truth=True), abs_tol=0.03)
    assert [a.asset for a in blocked.alarms() if a.rule == "drainage.node" and a.asset == above]


def test_rain_gauges_keep_rolling_totals_and_raise_the_cma_signal(tmp_path):
    h = Harness(tmp_path, plugins=[plugin], blocks=(4, 4), seed=2)
    gauges = [s["asset"] for s in h.plan.sensors if s["field"] == "rain_intensity"]
    assert gauges
    h.act("drainage.rain", gauges[0], intensity=240.0, duration=900.0)
    h.run(1000)
    # 240 mm/h for 15 minutes is 60 mm: CMA orange (50 mm in 3 h) at every gauge.
    for g in gauges:
        assert h.value(g, "rain_1h") == pytest.approx(60.0, abs=0.5)  # the gauges' noise, summed
        assert h.value(g, "rain_12h") == pytest.approx(h.value(g, "rain_1h"), abs=1e-3)
    rain_alarms = {a.asset: a.level for a in h.alarms() if a.rule == "drainage.rainstorm"}
    assert set(rain_alarms) == set(gauges) and set(rain_alarms.values()) == {3}
