"""Each sensor kind's expected interval, from the reporting period its plugin declares:
a generated city gives every sensor the interval of its kind, the device fleet publishes
each sensor once per period, and a slow kind is not called offline where a fast one is."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from twin.authoring.citygen import plan_city, populate, write_scene
from twin.tick.engine import Engine
from twin.types import REPORTS_PER_INTERVAL

T0 = 1_777_593_600.0


@pytest.fixture(scope="module")
def gastown(tmp_path_factory):
    """A small gas city (the gas plugin's generator: CH4 every 5 s, pressure every 10 s,
    valve positions every minute) and the registry that made it."""
    import twin_gas.plugin

    from twin.plugins.registry import load_registry
    from twin.runtime import open_scene

    registry = load_registry([twin_gas.plugin], entry_points=False)
    plan = plan_city(3, 3, 3, buildings=False)
    populate(plan, registry)
    plan.add_sensor("GS-OWN", plan.sensors[0]["asset"], plan.sensors[0]["field"], stale_after=45.0)
    root = tmp_path_factory.mktemp("gastown")
    write_scene(plan, root, "gastown", registry)
    return open_scene(root, registry), registry, root


def test_a_generated_city_gives_each_sensor_its_kind_s_interval(gastown):
    scene, _registry, root = gastown
    with (root / "data" / "sensors.csv").open(encoding="utf-8", newline="") as handle:
        written = {row["id"]: (row["field"], float(row["stale_after"])) for row in csv.DictReader(handle)}
    periods = {"ch4": 5.0, "pressure": 10.0, "valve_open": 60.0}
    for sensor, (field, interval) in written.items():
        expected = 45.0 if sensor == "GS-OWN" else REPORTS_PER_INTERVAL * periods[field]
        assert interval == expected, sensor
    assert {s.field for s in scene.sensors} == set(periods)
    assert {s.id: s.stale_after for s in scene.sensors} == {sensor: v for sensor, (_f, v) in written.items()}


def test_the_fleet_publishes_each_sensor_once_per_period_and_a_slow_kind_is_not_offline_at_31_s(gastown):
    """The fleet's readings, 31 s of them, taken by a twin: every sensor online, though
    the valves spoke once (at 60 s periods) and the methane detectors six times or more;
    when all fall silent, the methane detectors are offline 15 s after their last reading
    and the valves not before 180 s."""
    from twin.sources.fleet import Fleet
    from twin.sources.payloads import decode_readings

    scene, registry, _root = gastown
    fleet = Fleet(scene, registry, "mqtt://127.0.0.1:1", start=T0, incidents=False)
    twin = Engine(scene, registry, simulate=False, start=T0)
    counts: dict[str, int] = {}
    for _ in range(31):
        messages = fleet.messages(*fleet.measure())
        for topic, payload in messages:
            sensor = topic.split("/")[2]
            counts[sensor] = counts.get(sensor, 0) + 1
            twin.ingest.submit(decode_readings(sensor, payload))
        twin.tick()
    assert twin.time == T0 + 31
    by_kind: dict[str, list[int]] = {}
    for s in scene.sensors:
        by_kind.setdefault(s.field, []).append(counts.get(s.id, 0))
    # one report as they came up, then one a period, their phases spread over it
    assert set(by_kind["valve_open"]) == {1, 2}
    assert min(by_kind["ch4"]) >= 6 and max(by_kind["ch4"]) <= 8
    assert min(by_kind["pressure"]) >= 3 and max(by_kind["pressure"]) <= 5
    health = twin.sensor_health
    assert not health.offline.any() and twin.ingest.accepted == sum(counts.values())
    last = {s.field: max(twin.ingest.last_time[i] for i, x in enumerate(scene.sensors) if x.field == s.field)
            for s in scene.sensors}
    while twin.time < T0 + 31 + 60:  # the field falls silent
        twin.tick()
        silent = twin.time - last["ch4"]
        ch4 = [health.offline[i] for i, s in enumerate(scene.sensors) if s.field == "ch4"]
        valves = [health.offline[i] for i, s in enumerate(scene.sensors) if s.field == "valve_open"]
        assert not any(valves)  # 180 s: not yet
        if silent > 15.0 + 5.0:  # each detector's own last reading is at most 5 s before the last of all
            assert all(ch4)
