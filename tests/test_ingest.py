"""Ingest's compiled pass: a reading is applied once (a duplicate is counted, not
applied), and the reasons sources count are the one list REJECT_REASONS."""

from __future__ import annotations

import pytest

from twin.tick.ingest import REJECT_REASONS
from twin.authoring.testing import Harness
from twin.types import Reading


def test_a_reading_at_the_time_of_the_last_good_one_is_a_duplicate(tmp_path, toy):
    h = Harness(tmp_path, plugins=[toy], blocks=(2, 2), simulate=False)
    e = h.engine
    e.ingest.submit([Reading("TS-002", 1.0, 10.0), Reading("TS-002", 1.0, 20.0)])  # a redelivery in the same batch
    e.tick()
    assert h.value("T-002", "level") == 10.0  # the first stays
    assert e.ingest.accepted == 1 and dict(e.ingest.rejected) == {"duplicate": 1}
    e.ingest.submit([Reading("TS-002", 1.0, 30.0)])  # a redelivery a tick later
    e.ingest.submit([Reading("TS-002", 0.5, 40.0)])  # older, inside the window: good, but not the live value
    e.tick()
    assert h.value("T-002", "level") == 10.0
    assert e.ingest.accepted == 2 and dict(e.ingest.rejected) == {"duplicate": 2}
    e.ingest.submit([Reading("TS-002", 1.5, 50.0)])
    e.tick()
    assert h.value("T-002", "level") == 50.0
    assert 'twin_readings_rejected_total{reason="duplicate"} 2.0' in e.metrics.exposition().decode()


def test_sources_count_only_the_listed_reasons(tmp_path, toy):
    h = Harness(tmp_path, plugins=[toy], blocks=(2, 2), simulate=False)
    before = h.engine.ingest.rejected
    h.engine.ingest.reject("bad_topic")
    h.engine.ingest.reject("bad_topic", 2)
    assert h.engine.ingest.rejected == {"bad_topic": 3}
    assert before == {}  # a new reason replaces the Counter a tick may be iterating
    with pytest.raises(ValueError, match="reject reason 'garbled' is not one of unknown_sensor, malformed"):
        h.engine.ingest.reject("garbled")
    assert set(REJECT_REASONS) >= {"duplicate", "bad_topic", "malformed", "unknown_sensor"}
