"""Topics and payloads of readings as devices send them: pure functions, no I/O.

A topic is ``city/<district>/<sensor-id>/<field>``. A payload is one sample
``{"t": <epoch s or RFC 3339>, "v": <number>, "q": <0-255, optional>}`` or an array of
them (a gateway's batch), as JSON or as msgpack; the content is told apart by the MQTT v5
content type when there is one, else by its first byte. Utilities' exports come as CSV
rows ``sensor,t,v[,q]``.

Nothing here raises on bad input: every function that reads what a device sent returns a
:class:`Rejected` with the reason it counts under (one of ``twin.tick.ingest.REJECT_REASONS``)
and a one-line description of what was wrong and what would be valid.
"""

from __future__ import annotations

import csv
import datetime
import io
from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec

from twin.types import Reading

#: reject reasons counted here (the full list is ``twin.tick.ingest.REJECT_REASONS``)
BAD_TOPIC = "bad_topic"
MALFORMED = "malformed"

#: the topic level under a district that carries commands to the field, never readings
COMMAND_LEVEL = "cmd"

SAMPLE_SHAPE = '{"t": <epoch s or RFC 3339>, "v": <number>, "q": <0-255, optional>}'

#: a time with its offset: RFC 3339 requires one, and a reading's time must be absolute
Rfc3339 = Annotated[datetime.datetime, msgspec.Meta(tz=True)]
Quality = Annotated[int, msgspec.Meta(ge=0, le=255)]


class Sample(msgspec.Struct, frozen=True):
    """One measurement as a device sends it: time ``t`` (epoch seconds, or an RFC 3339
    string with its offset), value ``v`` in the field's unit, quality ``q`` (0 good,
    anything else the device's own bad-quality code). Unknown keys are ignored, so that
    devices may send more (a unit, a sequence number) without being refused."""

    t: float | Rfc3339
    v: float
    q: Quality = 0


_JSON = msgspec.json.Decoder(Sample | list[Sample])
_MSGPACK = msgspec.msgpack.Decoder(Sample | list[Sample])

#: MQTT v5 content types (and HTTP Content-Types) understood, without parameters
CONTENT_TYPES: dict[str, Literal["json", "msgpack"]] = {
    "application/json": "json",
    "application/msgpack": "msgpack",
    "application/x-msgpack": "msgpack",
    "application/vnd.msgpack": "msgpack",
}


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why something a device sent was refused: ``reason`` is what it is counted under,
    ``detail`` one line for a log or an HTTP answer; ``line`` the CSV line, if any."""

    reason: str
    detail: str
    line: int | None = None


# -- topics ------------------------------------------------------------------------------

def topic_level_problem(name: str) -> str | None:
    """Why ``name`` cannot be one level of an MQTT topic (a district, a sensor id, a
    field), or None when it can. ``+`` and ``#`` are wildcards, ``/`` separates levels."""
    if not name:
        return "it is empty"
    for char, what in (("/", "a level separator"), ("+", "a wildcard"), ("#", "a wildcard"), ("\x00", "not allowed in MQTT")):
        if char in name:
            return f"{char!r} is {what}"
    return None


def topic_for(district: str, sensor: str, field: str) -> str:
    """The topic a device publishes ``sensor``'s readings of ``field`` on."""
    return f"city/{district}/{sensor}/{field}"


def subscription(district: str) -> str:
    """The subscription that receives every reading of ``district``: the whole district,
    not ``+/+``, so that a device publishing a wrong shape (``city/d/S-1``) is counted
    as ``bad_topic`` rather than silently never seen."""
    return f"city/{district}/#"


def parse_topic(topic: str, district: str) -> tuple[str, str] | Rejected | None:
    """``(sensor id, field)`` of a reading topic of ``district``; None for the district's
    command topics (``city/<district>/cmd/...``: the twin's own orders to the field, not
    readings); a :class:`Rejected` (``bad_topic``) for any other shape."""
    parts = topic.split("/")
    if len(parts) >= 3 and parts[0] == "city" and parts[1] == district and parts[2] == COMMAND_LEVEL:
        return None
    if len(parts) != 4 or parts[0] != "city":
        return Rejected(BAD_TOPIC, f"topic {topic!r}: expected city/{district}/<sensor-id>/<field>")
    if parts[1] != district:
        return Rejected(BAD_TOPIC, f"topic {topic!r}: district {parts[1]!r} is not this twin's; expected city/{district}/<sensor-id>/<field>")
    for what, name in (("sensor id", parts[2]), ("field", parts[3])):
        problem = topic_level_problem(name)
        if problem:
            return Rejected(BAD_TOPIC, f"topic {topic!r}: {what} {name!r}: {problem}")
    return parts[2], parts[3]


# -- payloads ----------------------------------------------------------------------------

def payload_format(payload: bytes, content_type: str | None = None) -> Literal["json", "msgpack"] | Rejected:
    """``"json"`` or ``"msgpack"``: by ``content_type`` when given (parameters such as
    ``; charset=utf-8`` are ignored), else by the first byte: a msgpack map or array
    starts with 0x80-0x9f or 0xdc-0xdf, bytes that never start JSON text."""
    if content_type:
        known = CONTENT_TYPES.get(content_type.split(";", 1)[0].strip().lower())
        if known is None:
            return Rejected(MALFORMED, f"content type {content_type!r}: expected one of {', '.join(CONTENT_TYPES)}")
        return known
    if not payload:
        return Rejected(MALFORMED, f"empty payload: expected {SAMPLE_SHAPE} or an array of them, as JSON or msgpack")
    first = payload[0]
    return "msgpack" if 0x80 <= first <= 0x9F or 0xDC <= first <= 0xDF else "json"


def decode_samples(payload: bytes, content_type: str | None = None) -> list[Sample] | Rejected:
    """The samples of one payload (one object or an array of them, JSON or msgpack), or
    why it is malformed. A payload is taken whole or refused whole: a gateway's batch with
    one bad element is refused, and the detail names the element (``$[3].v``)."""
    kind = payload_format(payload, content_type)
    if isinstance(kind, Rejected):
        return kind
    try:
        decoded = (_JSON if kind == "json" else _MSGPACK).decode(payload)
    except msgspec.DecodeError as exc:  # ValidationError is one: the message names the path
        return Rejected(MALFORMED, f"{kind} payload: {_one_line(str(exc))}; expected {SAMPLE_SHAPE} or an array of them")
    except (RecursionError, OverflowError, ValueError) as exc:  # pathological nesting or numbers
        return Rejected(MALFORMED, f"{kind} payload: {_one_line(str(exc)) or type(exc).__name__}; expected {SAMPLE_SHAPE}")
    return decoded if isinstance(decoded, list) else [decoded]


def decoder_for(payload: bytes, content_type: str | None = None) -> msgspec.json.Decoder | msgspec.msgpack.Decoder | None:
    """The decoder of ``payload``'s samples (one :class:`Sample` or a list of them), told
    apart as :func:`payload_format` does; None for an unknown content type or an empty
    payload. For a source's hot path: its ``decode`` raises on anything but well-formed
    samples, and :func:`decode_samples` then says why."""
    if content_type is not None:
        kind = CONTENT_TYPES.get(content_type)
        return None if kind is None else _JSON if kind == "json" else _MSGPACK
    if not payload:
        return None
    first = payload[0]
    return _MSGPACK if 0x80 <= first <= 0x9F or 0xDC <= first <= 0xDF else _JSON


def decode_readings(sensor: str, payload: bytes, content_type: str | None = None) -> list[Reading] | Rejected:
    """The readings of one payload for ``sensor``, or why the payload is malformed."""
    samples = decode_samples(payload, content_type)
    if isinstance(samples, Rejected):
        return samples
    return [Reading(sensor, s.t.timestamp() if isinstance(s.t, datetime.datetime) else float(s.t), s.v, s.q) for s in samples]


# -- CSV ---------------------------------------------------------------------------------

CSV_SHAPE = "sensor,t,v[,q] (t epoch seconds or RFC 3339, v a number, q 0-255)"


def parse_csv(body: bytes | str) -> tuple[list[Reading], list[Rejected]]:
    """Readings from CSV rows ``sensor,t,v[,q]`` (a header row naming those columns is
    optional; blank lines are skipped) and the rows refused, each with its line number.
    A value of ``nan`` or ``inf`` parses here: ingest counts it as ``not_finite``."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return [], [Rejected(MALFORMED, f"CSV body is not UTF-8 text (byte {exc.start}); expected rows {CSV_SHAPE}", 1)]
    readings: list[Reading] = []
    rejected: list[Rejected] = []
    reader = csv.reader(io.StringIO(body, newline=""))
    try:
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            cells = [c.strip() for c in row]
            if line == 1 and cells[0].lower() == "sensor":
                if [c.lower() for c in cells] not in (["sensor", "t", "v"], ["sensor", "t", "v", "q"]):
                    rejected.append(Rejected(MALFORMED, f"header {','.join(cells)!r}: expected {CSV_SHAPE}", line))
                continue
            parsed = _csv_row(cells, line)
            (rejected if isinstance(parsed, Rejected) else readings).append(parsed)  # type: ignore[arg-type]
    except csv.Error as exc:  # a NUL byte, an unterminated quote at the end
        rejected.append(Rejected(MALFORMED, f"line {reader.line_num}: not CSV ({exc}); expected {CSV_SHAPE}", reader.line_num))
    return readings, rejected


def _csv_row(cells: list[str], line: int) -> Reading | Rejected:
    where = f"line {line}"
    if len(cells) not in (3, 4):
        return Rejected(MALFORMED, f"{where}: {len(cells)} columns; expected {CSV_SHAPE}", line)
    sensor, t_text, v_text = cells[0], cells[1], cells[2]
    if not sensor:
        return Rejected(MALFORMED, f"{where}: the sensor column is empty; expected {CSV_SHAPE}", line)
    t = _time_from_text(t_text)
    if t is None:
        return Rejected(MALFORMED, f"{where}: t {t_text!r} is neither epoch seconds nor an RFC 3339 time with its offset "
                                   "(e.g. 2026-05-01T08:00:00+08:00)", line)
    try:
        v = float(v_text)
    except ValueError:
        return Rejected(MALFORMED, f"{where}: v {v_text!r} is not a number", line)
    q = 0
    if len(cells) == 4 and cells[3]:
        try:
            q = int(cells[3])
        except ValueError:
            q = -1
        if not 0 <= q <= 255:
            return Rejected(MALFORMED, f"{where}: q {cells[3]!r} is not an integer in 0-255", line)
    return Reading(sensor, t, v, q)


def _time_from_text(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return msgspec.convert(text, Rfc3339).timestamp()
    except (msgspec.ValidationError, OverflowError, ValueError):
        return None


def _one_line(text: str) -> str:
    return " ".join(text.split())
