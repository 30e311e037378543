"""``POST /api/readings``: readings over HTTP, judged before the answer.

A device (a token of role ``device``, or an admin) posts readings in the body, of the
type its Content-Type names: JSON or msgpack, one object
``{"sensor": "<id>", "t": <epoch s or RFC 3339>, "v": <number>, "q": <0-255, optional>}``
or an array of them; or CSV rows ``sensor,t,v[,q]`` (``twin.sources.payloads`` reads
them). The body's size is bounded by the guard (``twin.serving.guard.READINGS_MAX_BODY``).

The answer is final. Every reading is judged at once, between two ticks, by ingest's own
compiled rules (``twin.tick.ingest``: unknown sensor, bad quality, not finite, out of range,
too old, in the future, duplicate) against the clock and the sensors' last times that
the next tick will judge it with. The good ones are queued for that tick, so that they
reach the state, ``twin_readings_accepted_total`` and a recording's inputs the way MQTT's
readings do; the bad ones are counted under their reason
(``twin_readings_rejected_total``) and never queued, so every reading is counted once.
Readings posted in several requests between two ticks are judged one after the other
(a reading sent twice is a duplicate the second time). Only a reading that another
source (MQTT, the simulator) delivers for the same sensor at the same time before that
tick can make a reading accepted here a duplicate there (counted then, as a duplicate).
"""

from __future__ import annotations

import asyncio
import csv
import datetime
import io
import logging
import time as wallclock
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
import numba
import numpy as np
from msgspec import UNSET, UnsetType
from starlette.requests import Request
from starlette.responses import Response

from twin.serving.access import DEVICE, TokenRecord
from twin.serving.protocol import ApiErrorCode
from twin.serving.routing import ApiFailure, json_response
from twin.tick.ingest import REJECT_REASONS, _validate_and_keep
from twin.sources.payloads import CONTENT_TYPES, MALFORMED, Rejected, Sample, parse_csv
from twin.types import Reading

if TYPE_CHECKING:
    from twin.tick.engine import Engine
    from twin.serving.server import TwinServer

log = logging.getLogger("twin.readings")

#: rejected readings described one by one in an answer (all are counted)
SHOWN_REJECTS = 10
CSV_TYPE = "text/csv"
READING_SHAPE = '{"sensor": "<id>", "t": <epoch s or RFC 3339>, "v": <number>, "q": <0-255, optional>}'
Kind = Literal["json", "msgpack", "csv"]
_NAMES = {"json": "JSON", "msgpack": "msgpack", "csv": "CSV"}
Reason = Literal[REJECT_REASONS]  # type: ignore[valid-type]


class Reject(msgspec.Struct, omit_defaults=True):
    """One refused reading: where it is in the body (``index`` in an array, ``line`` of
    a CSV body, or ``reading``: its position when neither is known), why, and what would
    be valid."""

    reason: Reason
    detail: str
    index: int | None | UnsetType = UNSET
    line: int | None | UnsetType = UNSET
    reading: int | UnsetType = UNSET
    sensor: str | UnsetType = UNSET


class ReadingsAnswer(msgspec.Struct, omit_defaults=True):
    """The verdict on every reading of the body, final: the good ones are applied at the
    next tick (``time``), the others counted by reason, the first few described."""

    accepted: int
    rejected: int
    #: rejected readings per reason
    reasons: dict[Reason, int]
    #: the first refusals, in the body's order (at most 10; all are counted)
    rejects: list[Reject]
    #: the twin's clock the readings were judged against: the next tick's
    time: float
    #: why the body as a whole is not readings (400)
    error: str | UnsetType = UNSET


class SensorSample(Sample, frozen=True, kw_only=True):
    """A :class:`~twin.sources.payloads.Sample` that names its sensor: over MQTT the
    topic names it, over HTTP one body carries many sensors' readings."""

    sensor: Annotated[str, msgspec.Meta(min_length=1)]


_BODY = {"json": msgspec.json.Decoder(SensorSample | list[SensorSample]),
         "msgpack": msgspec.msgpack.Decoder(SensorSample | list[SensorSample])}
_ITEMS = {"json": msgspec.json.Decoder(list[msgspec.Raw]), "msgpack": msgspec.msgpack.Decoder(list[msgspec.Raw])}
_ITEM = {"json": msgspec.json.Decoder(SensorSample), "msgpack": msgspec.msgpack.Decoder(SensorSample)}


@dataclass
class Parsed:
    """A body read into readings: ``readings`` with their places (``places[i]`` is the
    array index, or the CSV line, of ``readings[i]``; None where not known), and the
    items refused as malformed, each with its place in ``Rejected.line``. ``unreadable``:
    why the body as a whole is not readings (then nothing else is set)."""

    kind: Kind
    readings: list[Reading] = field(default_factory=list)
    places: list[int | None] = field(default_factory=list)
    malformed: list[Rejected] = field(default_factory=list)
    unreadable: str | None = None


def body_kind(content_type: str | None) -> Kind | None:
    """``json``, ``msgpack`` or ``csv`` for a Content-Type (parameters ignored), or None."""
    if content_type is None:
        return None
    bare = content_type.split(";", 1)[0].strip().lower()
    return "csv" if bare == CSV_TYPE else CONTENT_TYPES.get(bare)


def parse_body(body: bytes, kind: Kind) -> Parsed:
    """The readings of a body of ``kind``. An array is judged item by item: one bad item
    is refused alone, naming its index (``$[3].v``), and the others are kept."""
    if kind == "csv":
        readings, refused = parse_csv(body)
        return Parsed(kind, readings, [None] * len(readings), refused)
    try:
        decoded = _BODY[kind].decode(body)
    except msgspec.ValidationError as exc:
        return _item_by_item(body, kind, exc)
    except msgspec.DecodeError as exc:
        said = "the body is empty" if not body.strip() else f"the body is not {_NAMES[kind]} ({_one_line(exc)})"
        return Parsed(kind, unreadable=f"{said}; expected {READING_SHAPE} or an array of them")
    except (RecursionError, OverflowError, ValueError) as exc:  # pathological nesting or numbers
        return Parsed(kind, unreadable=f"the body is not readings ({_one_line(exc)}); expected {READING_SHAPE} or an array of them")
    samples = decoded if isinstance(decoded, list) else [decoded]
    return Parsed(kind, [_reading(s) for s in samples], list(range(len(samples))))


def _item_by_item(body: bytes, kind: Kind, whole: msgspec.ValidationError) -> Parsed:
    """The good items of an array some of whose items are not readings."""
    try:
        items = _ITEMS[kind].decode(body)
    except (msgspec.DecodeError, RecursionError, OverflowError, ValueError):
        return Parsed(kind, unreadable=f"the body is not readings: {_one_line(whole)}; expected {READING_SHAPE} or an array of them")
    parsed = Parsed(kind)
    for i, item in enumerate(items):
        try:
            sample = _ITEM[kind].decode(item)
        except (msgspec.DecodeError, RecursionError, OverflowError, ValueError) as exc:
            said = _one_line(exc)
            said = said.replace("`$", f"`$[{i}]") if " - at `$" in said else f"{said} - at `$[{i}]`"
            parsed.malformed.append(Rejected(MALFORMED, f"{said}; expected {READING_SHAPE}", i))
            continue
        parsed.readings.append(_reading(sample))
        parsed.places.append(i)
    return parsed


def _reading(s: SensorSample) -> Reading:
    return Reading(s.sensor, s.t.timestamp() if isinstance(s.t, datetime.datetime) else float(s.t), s.v, s.q)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def csv_lines(body: bytes, parsed: Parsed) -> None:
    """Fill in the CSV line of each reading of ``parsed`` (``parse_csv`` gives the lines
    of the rows it refuses, not of the readings): the rows that are neither blank, nor
    the header, nor refused, in order. Left unknown (None) if they do not pair up."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return
    refused = {r.line for r in parsed.malformed}
    lines: list[int] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()) or line in refused:
                continue
            if line == 1 and row[0].strip().lower() == "sensor":
                continue
            lines.append(line)
    except csv.Error:
        pass
    if len(lines) == len(parsed.readings):
        parsed.places = list(lines)


@numba.njit(nogil=True)  # pragma: no cover - compiled
def _judge(index, times, values, quality, low, high, oldest, newest, last_time, last_value, counts, verdict):
    """verdict[i] = the position in REJECT_REASONS of reading i's first failing check, or
    -1 when it is good: ingest's own pass (``_validate_and_keep``) run a reading at a
    time, carrying ``last_time`` and ``last_value`` along as the tick would. Not cached
    on disk: Numba's cache is checked against this file only, and would keep ingest's
    rules as they were when it was written."""
    for i in range(index.shape[0]):
        counts[:] = 0
        _validate_and_keep(index[i:i + 1], times[i:i + 1], values[i:i + 1], quality[i:i + 1], low, high,
                           oldest, newest, last_time, last_value, counts)
        verdict[i] = -1
        for r in range(counts.shape[0]):
            if counts[r] != 0:
                verdict[i] = r


def _compile() -> None:
    """Compile :func:`_judge` (half a second, once per process) before a request takes
    the tick lock: a tick must not wait for the compiler."""
    if not _judge.signatures:
        whole, real = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        _judge(whole, real, real, whole, real, real, 0.0, 0.0, real, real, np.zeros(len(REJECT_REASONS), dtype=np.int64), whole)


class ReadingsRoute:
    """The route's handler (:meth:`post`) for one :class:`~twin.serving.server.TwinServer`; it
    keeps what the readings posted since the last tick did to the sensors' last times."""

    def __init__(self, server: TwinServer) -> None:
        self.server = server
        #: (engine, its seq) the pending state below belongs to
        self._pending_of: tuple[Any, int] | None = None
        self._pending: tuple[np.ndarray, np.ndarray] | None = None
        #: when each token's refused readings were last logged (at most once a minute each)
        self._logged: dict[str, float] = {}

    async def post(self, request: Request) -> Response:
        """The verdict on the body's readings (a :class:`ReadingsAnswer`: 200, 422 when
        none is accepted, 400 when the body is not readings); ApiFailure 409 on a replay."""
        server = self.server
        who = _device(server, request)
        kind = body_kind(request.headers.get("content-type"))
        if kind is None:  # the guard answers first; this holds without it too
            raise ApiFailure(ApiErrorCode.UNSUPPORTED_MEDIA_TYPE, f"Content-Type {request.headers.get('content-type')!r}: "
                                                                  f"expected one of {', '.join((*CONTENT_TYPES, CSV_TYPE))}")
        server._ready()
        body = await request.body()
        parsed = await asyncio.to_thread(parse_body, body, kind)
        await asyncio.to_thread(_compile)
        async with server._tick_lock:  # between ticks: the clock and last times are the next tick's
            engine = server._ready()
            if server.replay is not None:
                raise ApiFailure(ApiErrorCode.CONFLICT, "this server replays a recording and takes no readings; "
                                                        "post them to a live twin")
            if parsed.unreadable is not None:
                engine.ingest.reject(MALFORMED)
                self._log(who.name, {MALFORMED: 1})
                return json_response(ReadingsAnswer(0, 1, {MALFORMED: 1}, [], engine.time + engine.dt, parsed.unreadable),
                                     status=400)
            now, verdict = await asyncio.to_thread(self._verdicts, engine, parsed.readings)
            good = verdict < 0
            engine.ingest.submit([r for r, ok in zip(parsed.readings, good.tolist()) if ok])
            reasons = {MALFORMED: len(parsed.malformed)} if parsed.malformed else {}
            for code, n in zip(*np.unique(verdict[~good], return_counts=True)):
                reason = REJECT_REASONS[int(code)]
                reasons[reason] = reasons.get(reason, 0) + int(n)
            for reason, n in reasons.items():
                engine.ingest.reject(reason, n)
        if kind == "csv" and not good.all():
            await asyncio.to_thread(csv_lines, body, parsed)
        accepted, rejected = int(good.sum()), sum(reasons.values())
        if rejected:
            self._log(who.name, reasons)
        answer = ReadingsAnswer(accepted, rejected, dict(sorted(reasons.items())), self._shown(engine, parsed, verdict, now), now)
        return json_response(answer, status=422 if rejected and not accepted else 200)

    def _verdicts(self, engine: Engine, readings: list[Reading]) -> tuple[float, np.ndarray]:
        """The clock the next tick judges with, and each reading's verdict (see
        :func:`_judge`) against the last times that tick will hold; updates those."""
        ingest = engine.ingest
        if self._pending_of is None or self._pending_of[0] is not engine or self._pending_of[1] != engine.seq:
            self._pending_of = (engine, engine.seq)
            self._pending = (ingest.last_time.copy(), ingest.last_value.copy())
        assert self._pending is not None
        last_time, last_value = self._pending
        now = engine.time + engine.dt  # what Engine.tick calls now
        verdict = np.empty(len(readings), dtype=np.int64)
        if readings:
            _judge(np.array([ingest.sensor_index.get(r.sensor, -1) for r in readings], dtype=np.int64),
                   np.array([r.time for r in readings], dtype=np.float64),
                   np.array([r.value for r in readings], dtype=np.float64),
                   np.array([r.quality for r in readings], dtype=np.int64),
                   ingest.low, ingest.high, now - ingest.max_age, now + ingest.max_future, last_time, last_value,
                   np.zeros(len(REJECT_REASONS), dtype=np.int64), verdict)
        return now, verdict

    def _shown(self, engine: Engine, parsed: Parsed, verdict: np.ndarray, now: float) -> list[Reject]:
        """The first SHOWN_REJECTS refusals in the body's order, each with its place."""
        where = "line" if parsed.kind == "csv" else "index"
        shown: list[tuple[float, Reject]] = [
            (r.line if r.line is not None else -1, Reject(r.reason, r.detail, **{where: r.line}))
            for r in parsed.malformed[:SHOWN_REJECTS]
        ]
        for i in np.flatnonzero(verdict >= 0)[:SHOWN_REJECTS].tolist():
            reading, place = parsed.readings[i], parsed.places[i]
            reason = REJECT_REASONS[int(verdict[i])]
            at: dict[str, int] = {where: place} if place is not None else {"reading": i}
            entry = Reject(reason, _why(engine, reading, reason, now), sensor=_short(reading.sensor), **at)
            shown.append((place if place is not None else float("inf"), entry))
        shown.sort(key=lambda pair: pair[0])
        return [entry for _, entry in shown[:SHOWN_REJECTS]]

    def _log(self, name: str, reasons: dict[str, int]) -> None:
        now = wallclock.monotonic()
        if now - self._logged.get(name, -60.0) >= 60.0:
            if len(self._logged) > 10_000:
                self._logged = {k: t for k, t in self._logged.items() if now - t < 60.0}
            self._logged[name] = now
            log.warning("http: readings refused", extra={"token": name, "reasons": reasons})


def _device(server: TwinServer, request: Request) -> TokenRecord:
    """The caller's token record if it may post readings; else what ``_who`` refuses
    with, a 403 saying which token may (``_who`` words it for the ladder of roles)."""
    try:
        return server._who(request, DEVICE)
    except Exception as exc:
        if getattr(exc, "status", None) != 403:
            raise
        said = str(exc).split("; this needs", 1)[0]
        raise type(exc)(403, f"{said}; posting readings needs a {DEVICE} or admin token") from None


def _short(sensor: str) -> str:
    """A sensor id as an answer shows it: an id of a megabyte is not echoed back whole."""
    return sensor if len(sensor) <= 64 else sensor[:64] + "..."


def _instant(t: float) -> str:
    """A time as sent (epoch seconds) and, when it is one, as a UTC instant."""
    try:
        utc = datetime.datetime.fromtimestamp(t, datetime.UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return repr(t)
    return f"{t!r} ({utc})"


def _why(engine: Engine, r: Reading, reason: str, now: float) -> str:
    """One line saying why ``r`` was refused for ``reason`` and what would be valid."""
    ingest = engine.ingest
    sensor = _short(r.sensor)
    if reason == "unknown_sensor":
        return f"no sensor {sensor!r} in scene {engine.scene.name!r} (the ids are those of its sensors file)"
    s = ingest.sensor_index[r.sensor]
    spec = engine.scene.sensors[s]
    if reason == "bad_quality":
        return f"sensor {sensor!r}: q {r.quality} is a bad-quality code; only readings with q 0 are applied"
    if reason == "not_finite":
        return f"sensor {sensor!r}: v {r.value!r} is not a finite number"
    if reason == "out_of_range":
        table, _ = engine.world.locate(spec.asset)
        unit = table.specs[spec.field].unit
        return (f"sensor {sensor!r}: v {r.value!r} is outside the physical range of {spec.field}, "
                f"{ingest.low[s]:g} to {ingest.high[s]:g} {unit}")
    if reason == "too_old":
        return (f"sensor {sensor!r}: t {_instant(r.time)} is {now - r.time:,.0f} s behind the twin's clock "
                f"{_instant(now)}; readings up to {ingest.max_age:g} s old are accepted")
    if reason == "in_future":
        return (f"sensor {sensor!r}: t {_instant(r.time)} is {r.time - now:,.0f} s ahead of the twin's clock "
                f"{_instant(now)}; up to {ingest.max_future:g} s ahead is accepted (t is in seconds, not milliseconds)")
    if reason == "duplicate":
        return f"sensor {sensor!r} has a reading at t {_instant(r.time)} already; a reading is applied once"
    return f"sensor {sensor!r}: t {r.time!r} is not a time; expected epoch seconds or RFC 3339 with its offset"
