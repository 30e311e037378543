"""Topics and payloads of readings (twin.sources.payloads): every shape a device may
send is read, everything else is refused with a reason ingest counts and one line
that says what was wrong."""

from __future__ import annotations

import math

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.tick.ingest import REJECT_REASONS
from twin.sources.payloads import (
    BAD_TOPIC,
    MALFORMED,
    Rejected,
    decode_readings,
    parse_csv,
    parse_topic,
    payload_format,
    subscription,
    topic_for,
)
from twin.types import Reading

T0 = 1_777_593_600.0  # 2026-05-01T00:00:00Z


def test_reasons_counted_here_are_ingest_reasons():
    assert BAD_TOPIC in REJECT_REASONS and MALFORMED in REJECT_REASONS


@pytest.mark.parametrize("topic, expected", [
    ("city/demo/S-0001/ch4", ("S-0001", "ch4")),
    ("city/demo/井盖 12/level", ("井盖 12", "level")),  # any UTF-8 but / + # is a legal level
    ("city/demo/cmd/gas.close_valve", None),  # the twin's own orders to the field
    ("city/demo/cmd/a/b", None),
])
def test_reading_topics(topic, expected):
    assert parse_topic(topic, "demo") == expected


@pytest.mark.parametrize("topic, words", [
    ("city/demo/S-0001", "expected city/demo/<sensor-id>/<field>"),
    ("city/demo/S-0001/ch4/extra", "expected city/demo/<sensor-id>/<field>"),
    ("town/demo/S-0001/ch4", "expected city/demo/"),
    ("city/other/S-0001/ch4", "district 'other' is not this twin's"),
    ("city/demo//ch4", "sensor id '': it is empty"),
    ("city/demo/S-0001/", "field '': it is empty"),
    ("city/demo/S+1/ch4", "'+' is a wildcard"),
    ("city/demo/S-1/ch#", "'#' is a wildcard"),
    ("", "expected city/demo/"),
])
def test_wrong_topic_shapes_are_bad_topic(topic, words):
    rejected = parse_topic(topic, "demo")
    assert isinstance(rejected, Rejected) and rejected.reason == "bad_topic"
    assert words in rejected.detail and "\n" not in rejected.detail


def test_topic_and_subscription_agree():
    topic = topic_for("demo", "S-0001", "ch4")
    assert topic == "city/demo/S-0001/ch4" and parse_topic(topic, "demo") == ("S-0001", "ch4")
    assert subscription("demo") == "city/demo/#"


def test_one_sample_in_json_with_epoch_seconds():
    assert decode_readings("S-1", b'{"t": 1777593600.5, "v": 2.5, "q": 0}') == [Reading("S-1", T0 + 0.5, 2.5, 0)]
    assert decode_readings("S-1", b' {"t": 1777593600, "v": 3}\n') == [Reading("S-1", T0, 3.0, 0)]  # q defaults to good


def test_rfc3339_times_with_any_offset_are_absolute():
    [a] = decode_readings("S-1", b'{"t": "2026-05-01T08:00:00+08:00", "v": 1}')
    [b] = decode_readings("S-1", b'{"t": "2026-05-01T00:00:00.250Z", "v": 1}')
    assert a.time == T0 and b.time == T0 + 0.25


def test_a_gateway_batch_is_an_array_and_unknown_keys_are_ignored():
    body = b'[{"t": 1777593600, "v": 1, "unit": "%LEL"}, {"t": "2026-05-01T00:00:01Z", "v": 2, "q": 7}]'
    assert decode_readings("S-1", body) == [Reading("S-1", T0, 1.0), Reading("S-1", T0 + 1, 2.0, 7)]
    assert decode_readings("S-1", b"[]") == []


def test_msgpack_is_told_apart_by_its_first_byte_or_the_content_type():
    one = msgpack.packb({"t": T0, "v": 4.0})
    batch = msgpack.packb([{"t": T0, "v": 4.0}, {"t": "2026-05-01T00:00:02Z", "v": 5.0, "q": 1}])
    assert payload_format(one) == "msgpack" and payload_format(batch) == "msgpack"
    assert decode_readings("S-1", one) == [Reading("S-1", T0, 4.0)]
    assert decode_readings("S-1", batch) == [Reading("S-1", T0, 4.0), Reading("S-1", T0 + 2, 5.0, 1)]
    assert decode_readings("S-1", one, "application/msgpack") == [Reading("S-1", T0, 4.0)]
    assert decode_readings("S-1", b'{"t": 1777593600, "v": 1}', "application/json; charset=utf-8") == [Reading("S-1", T0, 1.0)]
    big = msgpack.packb([{"t": T0 + i, "v": float(i)} for i in range(20)])  # array16: first byte 0xdc
    assert big[0] == 0xDC and len(decode_readings("S-1", big)) == 20


def test_msgpack_times_may_be_msgpack_timestamps():
    import datetime

    body = msgpack.packb({"t": datetime.datetime(2026, 5, 1, tzinfo=datetime.timezone.utc), "v": 1.0}, datetime=True)
    assert decode_readings("S-1", body) == [Reading("S-1", T0, 1.0)]


def test_msgpack_may_carry_nan_which_ingest_counts_as_not_finite():
    [r] = decode_readings("S-1", msgpack.packb({"t": T0, "v": math.nan}))
    assert math.isnan(r.value)


@pytest.mark.parametrize("payload, content_type, words", [
    (b"", None, "empty payload"),
    (b"42", None, "Expected `object | array`, got `int`"),
    (b'{"v": 1}', None, "missing required field `t`"),
    (b'{"t": 1777593600}', None, "missing required field `v`"),
    (b'{"t": "2026-05-01T08:00:00", "v": 1}', None, "timezone"),  # RFC 3339 needs its offset
    (b'{"t": "yesterday", "v": 1}', None, "at `$.t`"),
    (b'{"t": 1777593600, "v": "12"}', None, "at `$.v`"),
    (b'{"t": 1777593600, "v": true}', None, "at `$.v`"),
    (b'{"t": 1777593600, "v": 1, "q": 256}', None, "<= 255"),
    (b'{"t": 1777593600, "v": 1, "q": -1}', None, ">= 0"),
    (b'[{"t": 1777593600, "v": 1}, {"t": 1777593601}]', None, "at `$[1]`"),
    (b'{"t": 1777593600, "v": 1', None, "truncated"),
    (b'{"t": 1777593600, "v": 1}', "text/plain", "content type 'text/plain': expected one of application/json"),
    (msgpack.packb({"t": 1.0, "v": 1.0}), "application/json", "json payload"),
    (b"\x81\xa1t", None, "msgpack payload"),
])
def test_malformed_payloads_are_refused_whole_with_one_line(payload, content_type, words):
    rejected = decode_readings("S-1", payload, content_type)
    assert isinstance(rejected, Rejected) and rejected.reason == "malformed"
    assert words in rejected.detail, rejected.detail
    assert "\n" not in rejected.detail


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200), st.sampled_from([None, "", "application/json", "application/msgpack", "x/y"]))
def test_random_bytes_never_raise_they_decode_or_reject(payload, content_type):
    result = decode_readings("S-1", payload, content_type)
    if isinstance(result, Rejected):
        assert result.reason == "malformed" and result.detail and "\n" not in result.detail
    else:
        assert all(isinstance(r.time, float) and isinstance(r.value, float) and 0 <= r.quality <= 255 for r in result)


#: topic levels: any text, and the ones that make a topic nearly or truly valid
LEVELS = st.text(max_size=6) | st.sampled_from(["city", "demo", "cmd", "", "S-1", "ch4", "+", "#", "a+b"])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80) | st.lists(LEVELS, min_size=1, max_size=6).map("/".join)
       | st.tuples(st.sampled_from(["city", "town"]), st.sampled_from(["demo", "other"]), LEVELS, LEVELS).map("/".join))
def test_random_topics_never_raise(topic):
    """Any topic is a reading topic (its sensor and field are its 3rd and 4th levels), a
    command topic (None) or bad_topic with one line naming it; never an exception."""
    result = parse_topic(topic, "demo")
    levels = topic.split("/")
    if result is None:
        assert levels[:3] == ["city", "demo", "cmd"], topic
    elif isinstance(result, tuple):
        assert len(levels) == 4 and levels[:2] == ["city", "demo"] and result == (levels[2], levels[3]), (topic, result)
        assert all(level and not set(level) & {"+", "#", "\x00"} for level in result), (topic, result)
    else:
        assert result.reason == "bad_topic" and f"topic {topic!r}" in result.detail and "\n" not in result.detail, result


def test_csv_rows_with_and_without_header():
    body = ("sensor,t,v,q\n"
            "S-1,1777593600,1.5\n"
            "\n"
            "S-2,2026-05-01T08:00:01+08:00,2,3\n"
            '"S,3",1777593602,nan,\n')
    readings, rejected = parse_csv(body.encode())
    assert rejected == []
    assert readings[:2] == [Reading("S-1", T0, 1.5), Reading("S-2", T0 + 1, 2.0, 3)]
    assert readings[2].sensor == "S,3" and math.isnan(readings[2].value)
    assert parse_csv("S-1,1777593600,1.5\r\n")[0] == [Reading("S-1", T0, 1.5)]  # no header
    assert parse_csv(b"\xef\xbb\xbfsensor,t,v\nS-1,1777593600,1\n")[0] == [Reading("S-1", T0, 1.0)]  # Excel's BOM


def test_csv_bad_rows_are_refused_by_line_and_the_rest_kept():
    body = ("sensor,t,v\n"
            "S-1,1777593600,1\n"
            "S-1,1777593601\n"
            ",1777593601,1\n"
            "S-1,soon,1\n"
            "S-1,2026-05-01T08:00:00,1\n"
            "S-1,1777593601,high\n"
            "S-1,1777593601,1,300\n"
            "S-1,1777593601,1,bad\n"
            "S-1,1777593605,5\n")
    readings, rejected = parse_csv(body)
    assert readings == [Reading("S-1", T0, 1.0), Reading("S-1", T0 + 5, 5.0)]
    assert [(r.line, r.reason) for r in rejected] == [(n, "malformed") for n in range(3, 10)]
    details = [r.detail for r in rejected]
    assert details[0].startswith("line 3: 2 columns; expected sensor,t,v[,q]")
    assert "the sensor column is empty" in details[1]
    assert "t 'soon' is neither epoch seconds nor an RFC 3339 time" in details[2]
    assert "t '2026-05-01T08:00:00'" in details[3]  # no offset: not absolute
    assert "v 'high' is not a number" in details[4]
    assert "q '300' is not an integer in 0-255" in details[5] and "q 'bad'" in details[6]


def test_csv_wrong_header_and_non_utf8_body():
    readings, rejected = parse_csv("sensor,time,value\nS-1,1777593600,1\n")
    assert readings == [Reading("S-1", T0, 1.0)] and rejected[0].line == 1
    assert "header 'sensor,time,value': expected sensor,t,v[,q]" in rejected[0].detail
    readings, [bad] = parse_csv(b"S-1,1777593600,\xff\n")
    assert readings == [] and bad.reason == "malformed" and "not UTF-8 text (byte 15)" in bad.detail


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_csv_bytes_never_raise(body):
    readings, rejected = parse_csv(body)
    assert all(r.reason == "malformed" and r.line and "\n" not in r.detail for r in rejected)
