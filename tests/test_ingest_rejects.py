"""Ingest's refusals are logged, not only counted: at most once a minute per sensor, each
line naming the sensor, the reason and the reading, and a flood of bad sensors costs a
bounded number of lines per tick."""

from __future__ import annotations

import logging
import math
import time

from twin.authoring.testing import Harness
from twin.logs import Throttle
from twin.types import Reading


def refusals(caplog) -> list[tuple[str, str]]:
    return [(r.sensor, r.reason) for r in caplog.records if r.getMessage() == "ingest: reading refused"]


def test_each_sensor_s_refusal_is_logged_once_a_minute_with_its_reason(tmp_path, toy, caplog):
    caplog.set_level(logging.INFO, logger="twin.ingest")
    h = Harness(tmp_path, plugins=[toy], blocks=(2, 2), simulate=False)
    e = h.engine
    e.ingest.submit([Reading("TS-001", 0.5, 250.0), Reading("TS-001", 0.6, 260.0), Reading("TS-001", 0.7, 50.0),
                     Reading("TS-002", 0.5, math.nan), Reading("TS-003", 0.5, 10.0, 7), Reading("NOPE", 0.5, 1.0),
                     Reading("NOPE-2", 0.5, 1.0), Reading("TS-004", 0.5, 10.0), Reading("TS-004", 0.5, 11.0),
                     Reading("TS-005", 90.0, 10.0), Reading("TS-006", -4000.0, 10.0), Reading("TS-007", math.inf, 10.0)])
    e.tick()
    assert sorted(refusals(caplog)) == [("(unknown)", "unknown_sensor"), ("TS-001", "out_of_range"), ("TS-002", "not_finite"),
                                        ("TS-003", "bad_quality"), ("TS-004", "duplicate"), ("TS-005", "in_future"),
                                        ("TS-006", "too_old"), ("TS-007", "malformed")]
    line = next(r for r in caplog.records if getattr(r, "sensor", "") == "TS-001")
    assert (line.v, line.t, line.refused_in_batch) == (250.0, 0.5, 2)  # the first of its two refused, and how many
    assert e.ingest.accepted == 2 and sum(e.ingest.rejected.values()) == 10  # counted as before
    caplog.clear()
    e.ingest.submit([Reading("TS-001", 1.5, 300.0), Reading("TS-002", 1.5, math.nan), Reading("TS-008", 1.5, -1.0)])
    e.tick()
    assert refusals(caplog) == [("TS-008", "out_of_range")]  # TS-001 and TS-002 were said less than a minute ago
    caplog.clear()
    e.ingest.reject_log = Throttle(every=0.05)  # the minute, shortened
    e.ingest.submit([Reading("TS-001", 2.5, 300.0)])
    e.tick()
    time.sleep(0.1)
    e.ingest.submit([Reading("TS-001", 3.5, 300.0)])
    e.tick()
    assert refusals(caplog) == [("TS-001", "out_of_range")] * 2


def test_a_flood_of_bad_sensors_costs_a_bounded_number_of_lines(tmp_path, toy, caplog):
    caplog.set_level(logging.INFO, logger="twin.ingest")
    h = Harness(tmp_path, plugins=[toy], blocks=(5, 5), simulate=False)
    e = h.engine
    ids = [s.id for s in e.scene.sensors]
    assert len(ids) == 36
    e.ingest.submit([Reading(sensor, 0.5, -5.0) for sensor in ids for _ in range(3)])
    e.tick()
    first = {sensor for sensor, _ in refusals(caplog)}
    assert len(first) == 20
    summary = [r for r in caplog.records if r.getMessage() == "ingest: readings of more sensors refused"]
    assert [r.sensors for r in summary] == [16]
    caplog.clear()
    e.ingest.submit([Reading(sensor, 1.5, -5.0) for sensor in ids])
    e.tick()  # the 16 not said yet are said now, the 20 said are not said again
    assert sorted(sensor for sensor, _ in refusals(caplog)) == sorted(set(ids) - first)
    assert e.ingest.rejected["out_of_range"] == 36 * 4


def test_the_throttle_forgets_keys_it_no_longer_needs():
    throttle = Throttle(every=60.0, max_keys=100)
    assert all(throttle.allow(k, now=0.0) for k in range(100))
    assert not throttle.allow(5, now=30.0)
    assert throttle.allow("new", now=61.0)  # full: the keys older than a minute are let go first
    assert len(throttle._last) == 1 and throttle.allow(5, now=61.5)
