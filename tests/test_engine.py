"""The tick pipeline: determinism, ingest validation, frames."""

import math

import numpy as np
import pytest

from twin.tick.engine import Engine
from twin.authoring.testing import Harness
from twin.types import Reading


def test_same_scene_seed_and_inputs_give_bit_identical_state(tmp_path, toy):
    def run(seed, where):
        def noisy(plan):
            for sensor in plan.sensors:
                sensor["noise"] = 0.5

        h = Harness(tmp_path / where, plugins=[toy], blocks=(3, 3), seed=seed, plan_hook=noisy)
        h.act("toy.open_tap", "T-004", rate=0.05)
        digests = []
        for _ in range(30):
            h.engine.tick()
            digests.append(h.engine.digest())
        h.close()
        return digests

    a, b, c = run(7, "a"), run(7, "b"), run(8, "c")
    assert a == b
    assert a[-1] != c[-1]  # the seed drives the sensor noise: it must matter


def test_frame_carries_exactly_the_changed_rows(tmp_path, toy):
    h = Harness(tmp_path, plugins=[toy], blocks=(2, 2))
    h.engine.tick()  # first frame after start: nothing has moved yet
    h.act("toy.open_tap", "T-003", rate=0.1)
    frame = h.engine.tick()
    rows, values = frame.changes["toy"]["level"]
    table = h.engine.world.tables["toy"]
    assert [table.ids[r] for r in rows] == ["T-003"]
    assert values[0] == pytest.approx(1.0)
    assert "risk" not in frame.changes["toy"]  # still zero: not sent


def test_alarm_raised_through_the_whole_pipeline(tmp_path, toy):
    h = Harness(tmp_path, plugins=[toy], blocks=(2, 2))
    h.act("toy.open_tap", "T-001", rate=0.1)  # 1 %/s: blue at 60 %, yellow at 70 %
    events = []
    for _ in range(75):
        events += [(e.kind, e.alarm["level"], e.time) for e in h.engine.tick().events]
    assert events == [("raise", 1, 60.0), ("escalate", 2, 70.0)]
    [alarm] = h.alarms("T-001")
    assert alarm.owner == "toy works" and alarm.rule == "toy.overfill"


def test_bad_readings_are_counted_by_reason_and_the_last_good_value_stays(tmp_path, toy):
    h = Harness(tmp_path, plugins=[toy], blocks=(2, 2), simulate=False)
    e: Engine = h.engine
    e.ingest.submit([Reading("TS-002", 0.5, 42.0)])
    e.tick()
    assert h.value("T-002", "level") == 42.0
    e.ingest.submit([
        Reading("NOPE", 1.0, 1.0),
        Reading("TS-002", 1.5, math.nan),
        Reading("TS-002", 1.5, 250.0),  # level is 0..100 %
        Reading("TS-002", 5000.0, 50.0),  # an hour in the future
        Reading("TS-002", 1.5, 55.0, quality=3),
    ])
    e.tick()
    assert dict(e.ingest.rejected) == {"unknown_sensor": 1, "not_finite": 1, "out_of_range": 1, "in_future": 1, "bad_quality": 1}
    assert h.value("T-002", "level") == 42.0
    assert not e.ingest.stale[e.ingest.sensor_index["TS-002"]]
    for _ in range(40):
        e.tick()
    assert h.value("T-002", "level") == 42.0
    assert e.ingest.stale[e.ingest.sensor_index["TS-002"]]  # older than stale_after (30 s)
    text = e.metrics.exposition().decode()
    assert 'twin_readings_rejected_total{reason="out_of_range"} 1.0' in text


def test_config_overrides_thresholds_and_refuses_unknown_ones(tmp_path, toy):
    h = Harness(tmp_path / "a", plugins=[toy], blocks=(2, 2),
                config={"thresholds": {"toy.overfill": {"breakpoints": [0, 5, 6, 7, 8, 9]}}})
    h.act("toy.open_tap", "T-000", rate=0.1)
    h.run(6)
    assert h.alarms("T-000")[0].level == 2
    with pytest.raises(ValueError, match=r'\[thresholds."toy.overfill"\]: unknown limit; valid keys: breakpoints'):
        Harness(tmp_path / "b", plugins=[toy], blocks=(2, 2), config={"thresholds": {"toy.overfill": {"limit": 3}}})
    with pytest.raises(ValueError, match="must rise"):
        Harness(tmp_path / "c", plugins=[toy], blocks=(2, 2),
                config={"thresholds": {"toy.overfill": {"breakpoints": [0, 5, 4, 7, 8, 9]}}})


def test_config_sets_updater_params_in_twin_and_truth_and_refuses_unknown_names(tmp_path, toy):
    h = Harness(tmp_path / "a", plugins=[toy], blocks=(2, 2), config={"thresholds": {"fill": {"weir": 60.0}}})
    h.act("toy.open_tap", "T-000", rate=1.0)  # 10 % of a 10 m3 tank per second
    h.run(10)
    assert h.value("T-000", "level", truth=True) == 60.0  # the truth's tank spills at the configured weir
    assert h.value("T-000", "level") == pytest.approx(60.0, abs=1e-9)  # and so does the twin's
    with pytest.raises(ValueError, match=r"\[thresholds\]: no kernel, updater or coupling with parameters is named "
                                         r"'toy.overfil'; valid: fill, toy.overfill"):
        Harness(tmp_path / "b", plugins=[toy], blocks=(2, 2), config={"thresholds": {"toy.overfil": {"breakpoints": []}}})
    with pytest.raises(ValueError, match=r"\[thresholds.fill\] weir = 'high'; expected a number in %"):
        Harness(tmp_path / "c", plugins=[toy], blocks=(2, 2), config={"thresholds": {"fill": {"weir": "high"}}})


def test_frame_history_is_bounded_by_bytes_as_well_as_count(tmp_path, toy):
    h = Harness(tmp_path, plugins=[toy], blocks=(2, 2))
    h.act("toy.open_tap", "T-000", rate=0.01)  # one row changes every tick
    h.run(3)
    size = h.engine.frames[-1].nbytes
    assert size > 0 and len(h.engine.frames) == 3
    h.engine.history_bytes = int(2.5 * size)
    h.run(5)
    assert [f.seq for f in h.engine.frames] == [h.engine.seq - 1, h.engine.seq]  # two fit in 2.5 frames' bytes
    h.engine.history_bytes = 1
    h.run(1)
    assert [f.seq for f in h.engine.frames] == [h.engine.seq]  # the newest always stays
    h.close()


def test_change_tracking_treats_nan_as_unchanged():
    from twin.plugins.contributions import AssetKind, Domain, FieldSpec
    from twin.tick.state import DomainTable

    d = Domain("d", "d", (AssetKind("k", "Point", ""),), (FieldSpec("x", "float64", "", (0, 1), "", default=math.nan),))
    t = DomainTable(d, ["a", "b", "c"], ["k"] * 3)
    t.mark_baseline()
    t["x"][1] = 0.5
    assert list(t.take_changes("x")) == [1]
    assert list(t.take_changes("x")) == []
    t["x"][1] = np.nan
    assert list(t.take_changes("x")) == [1]
    # take_delta, what frames carry: the same rows as uint32, with their new values
    t["x"][0], t["x"][2] = 0.25, 0.75
    rows, values = t.take_delta("x")
    assert rows.dtype == np.uint32 and list(rows) == [0, 2] and list(values) == [0.25, 0.75]
    rows, values = t.take_delta("x")
    assert len(rows) == 0 and len(values) == 0


def test_sensor_faults_stuck_drift_dead(tmp_path, toy):
    h = Harness(tmp_path, plugins=[toy], blocks=(2, 2))
    for tank in ("T-000", "T-001", "T-002"):
        h.act("toy.open_tap", tank, rate=0.01)  # 0.1 %/s
    h.run(10)
    h.act("sensor.stuck", "TS-000")
    h.act("sensor.drift", "TS-001", rate=360.0)  # +0.1 %/s on top of the truth
    h.act("sensor.dead", "TS-002")
    h.run(40)
    e = h.engine
    assert h.value("T-000", "level", truth=True) == pytest.approx(5.0)
    assert h.value("T-000", "level") == pytest.approx(1.0)  # stuck at the reading when it failed
    assert h.value("T-001", "level") == pytest.approx(5.0 + 4.0)  # truth plus 40 s of drift
    assert h.value("T-002", "level") == pytest.approx(1.0)  # last good value ...
    assert e.ingest.stale[e.ingest.sensor_index["TS-002"]]  # ... marked stale
    assert not e.ingest.stale[e.ingest.sensor_index["TS-000"]]  # a stuck sensor still talks: not stale
    with pytest.raises(KeyError, match="no sensor 'TS-999'"):
        h.act("sensor.dead", "TS-999")
    with pytest.raises(ValueError, match="sensor.stuck takes no parameters; got rate"):
        h.act("sensor.stuck", "TS-003", rate=1.0)
    h.act("sensor.repair", "TS-000")
    h.run(1)
    assert h.value("T-000", "level") == pytest.approx(5.1)


def test_latest_reading_wins_and_late_old_ones_are_ignored(tmp_path, toy):
    h = Harness(tmp_path, plugins=[toy], blocks=(2, 2), simulate=False)
    e = h.engine
    e.ingest.submit([Reading("TS-001", 0.9, 30.0), Reading("TS-001", 0.4, 10.0), Reading("TS-001", 0.9, 31.0)])
    e.tick()
    # Same sensor, same time: a redelivery (QoS 1) or a device's retry, applied once:
    # the first stays and the second is counted as a duplicate.
    assert h.value("T-001", "level") == 30.0 and e.ingest.rejected["duplicate"] == 1
    e.ingest.submit([Reading("TS-001", 0.5, 99.0)])  # older than what we hold
    e.tick()
    assert h.value("T-001", "level") == 30.0


def test_a_reading_without_a_usable_time_is_malformed(tmp_path, toy):
    h = Harness(tmp_path, plugins=[toy], blocks=(2, 2), simulate=False)
    h.engine.ingest.submit([Reading("TS-001", math.nan, 5.0)])
    h.engine.tick()
    assert dict(h.engine.ingest.rejected) == {"malformed": 1}
