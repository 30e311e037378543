"""``/api/history/...``: a sensor's readings, an asset's field and the alarm counts over
a time range, from the history store (twin.history) and the alarm store's events.

- ``GET /api/history/sensors/{id}?from=&to=&step=``: a sensor's accepted readings.
- ``GET /api/history/assets/{id}?field=&from=&to=&step=``: an asset's field: the values
  its plugin stores when the field is marked historical, else its sensor's readings.
- ``GET /api/history/alarms?from=&to=&step=``: alarms raised (or escalated) per bucket,
  per domain and level.

Times are epoch seconds, as everywhere in the API (``from`` and ``to`` may also be RFC
3339 with a zone); the range is [from, to), by default the 24 hours before the twin's
clock. A series answers raw points when they are at most :data:`MAX_POINTS` and no
``step`` is asked, else buckets (min, mean, max, count) of at least ``step`` seconds,
never more than :data:`MAX_POINTS` of them. ``source`` says which data answered: ``raw``
readings, or ``minutes``, the per-minute aggregates kept past the raw retention, or ``recording``: a
replaying server answers a sensor's readings from the recording it replays (its raw
``/input/readings``), with the drill's ``truth`` beside them when the recording keeps
one (issues 14, 17). JSON by
default; CSV or Parquet by ``?format=`` or ``Accept`` (text/csv,
application/vnd.apache.parquet). Viewers and every role above may read. The routes are
declared in :data:`ROUTES` (``twin.serving.routing``), listed by ``twin.serving.routes``
(docs/history.md is the user's page).
"""

from __future__ import annotations

import asyncio
import csv
import io
import math
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
import numpy as np
from starlette.requests import Request
from starlette.responses import Response

from twin.history.export import parse_time
from twin.history.fields import field_series, is_historical
from twin.history.store import MAX_POINTS, HistoryError, Series, Store, buckets
from twin.serving.protocol import ApiErrorCode
from twin.serving.routing import ApiError, ApiFailure, ApiRoute, Call, Media
from twin.tick.alarms import SYSTEM_DOMAIN
from twin.types import LEVEL_RISK_THRESHOLDS

if TYPE_CHECKING:
    from twin.serving.server import TwinServer
    from twin.tick.engine import Engine

#: the range asked when ``from`` is not given: this many seconds before ``to``
DEFAULT_SPAN = 86400.0
#: buckets an alarm-count answer holds when no step is asked
ALARM_BUCKETS = 96
#: the longest range one request may ask for (seconds): ten years
MAX_SPAN = 10 * 366 * 86400.0
#: alarm marks an answer lists at most (the first ones in the window)
MAX_MARKS = 1000
FORMATS = {"json": "application/json", "csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
#: event kinds that put an alarm at a level: counted by /api/history/alarms, marked on charts
RAISING = ("raise", "escalate")
UNSET = msgspec.UNSET


# -- the answers' shapes (the contract) ----------------------------------------------------
class Threshold(msgspec.Struct):
    """The field's value at which an alarm level starts (4 red .. 1 blue)."""

    level: int
    value: float


class AlarmMark(msgspec.Struct):
    """An alarm raised, or escalated, on the asset at ``t``: the level it reached and its id
    (``GET /api/alarms/{id}``)."""

    t: float
    level: int
    id: int


class Points(msgspec.Struct):
    """Raw points (``t``, ``v``) or buckets (``t`` = the bucket's start, ``min``, ``mean``,
    ``max``, ``count``); the other keys are absent."""

    t: list[float]
    v: list[float] | msgspec.UnsetType = UNSET
    min: list[float] | msgspec.UnsetType = UNSET
    mean: list[float] | msgspec.UnsetType = UNSET
    max: list[float] | msgspec.UnsetType = UNSET
    count: list[int] | msgspec.UnsetType = UNSET


class SeriesAnswer(msgspec.Struct, rename={"start": "from", "end": "to"}):
    """``GET /api/history/sensors/{id}`` and ``/api/history/assets/{id}``."""

    series: str
    unit: str
    source: Literal["raw", "minutes", "recording"]
    start: float
    end: float
    #: the buckets' width in seconds; None for raw points
    step: float | None
    points: Points
    #: where the alarm levels start on this field, when an alarm rule watches it
    thresholds: list[Threshold]
    #: alarms raised or escalated on the asset in the range
    alarms: list[AlarmMark]
    #: a drill's ground truth (a replay's ``/truth`` channel, or what a served drill's
    #: recording samples as it runs): the true value of the field, as raw points (``t``,
    #: ``v``) of a step function, each value held until the next; the first point is the
    #: value held at ``from``. Absent when no truth of it is kept (a live twin, a
    #: recording of real sensors, a run not recorded)
    truth: Points | msgspec.UnsetType = UNSET


class AlarmCounts(msgspec.Struct, rename={"start": "from", "end": "to"}):
    """``GET /api/history/alarms``: ``counts[domain][level][i]`` alarms raised or escalated
    to ``level`` ("1" blue .. "4" red) in the bucket starting at ``t[i]``."""

    start: float
    end: float
    step: float
    t: list[float]
    counts: dict[str, dict[str, list[int]]]


Format = Literal["json", "csv", "parquet"]


#: what a time of a query is, for /api/openapi.json: epoch seconds, or RFC 3339 with its
#: zone (a document-only pattern: parse_time checks and words the refusals)
TIME = msgspec.Meta(extra_json_schema={"pattern": r"^(-?[0-9]{1,12}(\.[0-9]+)?|(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
                                                  r"T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?"
                                                  r"(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9]))$"})


class RangeQuery(msgspec.Struct):
    """A time range, its buckets, and the answer's format."""

    #: the range's start: epoch seconds, or RFC 3339 with a zone; default: ``to`` less 24 hours
    start: Annotated[str, TIME] | None = msgspec.field(default=None, name="from")
    #: the range's end (excluded): epoch seconds, or RFC 3339 with a zone; default: the twin's clock
    end: Annotated[str, TIME] | None = msgspec.field(default=None, name="to")
    #: seconds a bucket spans at least; default: raw points when they are few. The bounds
    #: are declared for /api/openapi.json only: :func:`_range` checks them, so that a
    #: refusal names the field and what is valid in words (not msgspec's "Expected
    #: `float` > 0.0")
    step: Annotated[float, msgspec.Meta(extra_json_schema={"exclusiveMinimum": 0, "maximum": MAX_SPAN})] | None = None
    #: json (the default), csv or parquet; else the Accept header says
    format: Format | None = None


class FieldQuery(RangeQuery):
    """A field of the asset, a time range, its buckets, and the answer's format."""

    #: one of the asset's fields that keep history (historical, or measured by a sensor)
    field: str | None = None


def _bad(message: str) -> ApiFailure:
    return ApiFailure(ApiErrorCode.INVALID_QUERY, message)


# -- reading the request ---------------------------------------------------------------------
def _range(q: RangeQuery, now: float) -> tuple[float, float, float | None]:
    try:
        end = parse_time(q.end, "to") if q.end is not None else now
        start = parse_time(q.start, "from") if q.start is not None else end - DEFAULT_SPAN
    except HistoryError as exc:
        raise _bad(str(exc)) from None
    if not end > start:
        raise _bad(f"the range is empty: from ({start:.15g}) must come before to ({end:.15g})")
    if end - start > MAX_SPAN:
        raise _bad(f"the range is {(end - start) / 86400:.0f} days; at most {MAX_SPAN / 86400:.0f} are answered at once")
    if q.step is not None and not (math.isfinite(q.step) and q.step > 0):
        raise _bad(f"step: give a positive number of seconds, not {q.step:g}")
    if q.step is not None and q.step > MAX_SPAN:
        raise _bad(f"step: give at most {MAX_SPAN:.0f} seconds (ten years), not {q.step:g}")
    return start, end, q.step


def negotiate(request: Request, q: RangeQuery) -> str:
    """json, csv or parquet: ``?format=`` first, else the Accept header, else JSON."""
    if q.format is not None:
        return q.format
    accept = request.headers.get("accept", "").lower()
    if "parquet" in accept:
        return "parquet"
    if "text/csv" in accept:
        return "csv"
    return "json"


# -- shaping the answer -------------------------------------------------------------------------
def floats(a: np.ndarray | None) -> list[float]:
    """Values stored as float32, each as its shortest decimal ("20.1", not
    20.100000381469727); non-finite ones become NaN (JSON: null)."""
    if a is None or not len(a):
        return []
    return [float(x) for x in np.asarray(a, dtype=np.float32).astype(str)]


def _times(t: np.ndarray) -> list[float]:
    return np.round(np.asarray(t, dtype=np.float64), 3).tolist()


def _table(answer: SeriesAnswer) -> tuple[list[str], list[list[Any]]]:
    p = answer.points
    if p.v is not UNSET:
        return ["t", "v"], [p.t, p.v]  # type: ignore[list-item]
    return ["t", "min", "mean", "max", "count"], [p.t, p.min, p.mean, p.max, p.count]  # type: ignore[list-item]


def render(kind: str, answer: SeriesAnswer | AlarmCounts, filename: str) -> Response:
    """The answer as JSON, or its table as CSV or Parquet (an attachment)."""
    if kind == "json":
        return Response(msgspec.json.encode(answer), media_type=FORMATS["json"])
    if isinstance(answer, SeriesAnswer):
        names, columns = _table(answer)
        meta = {"series": answer.series, "unit": answer.unit, "source": answer.source,
                "step": "" if answer.step is None else repr(answer.step)}
    else:
        names, columns = ["t", "domain", "level", "count"], [[], [], [], []]
        for domain, levels in answer.counts.items():
            for level, counts in levels.items():
                for t, n in zip(answer.t, counts):
                    if n:
                        for col, value in zip(columns, (t, domain, int(level), n)):
                            col.append(value)
        order = sorted(range(len(columns[0])), key=lambda i: (columns[0][i], columns[1][i], columns[2][i]))
        columns = [[c[i] for i in order] for c in columns]
        meta = {"step": repr(answer.step)}
    headers = {"Content-Disposition": f'attachment; filename="{filename}.{kind}"'}
    if kind == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(zip(*columns))
        return Response(out.getvalue(), media_type=FORMATS["csv"], headers=headers)
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"t": pa.float64(), "v": pa.float32(), "min": pa.float32(), "mean": pa.float32(), "max": pa.float32(),
             "count": pa.int64(), "domain": pa.string(), "level": pa.int8()}
    table = pa.table({n: pa.array(c, type=types[n]) for n, c in zip(names, columns)})
    table = table.replace_schema_metadata({f"twin.{k}": v for k, v in meta.items()})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return Response(sink.getvalue().to_pybytes(), media_type=FORMATS["parquet"], headers=headers)


def thresholds(engine: Engine, domain: str, asset_id: str, field: str) -> list[Threshold]:
    """The levels' thresholds on ``field`` of the asset, when an alarm rule of its domain
    takes its risk from that field for the asset's kind (the one convention of MODELS.md);
    else none."""
    kind = engine.scene.asset(asset_id).kind
    for _plugin, rule in engine.registry.rules:
        if rule.domain == domain and rule.risk_field == field and (not rule.kinds or kind in rule.kinds):
            return [Threshold(level, float(v)) for level, v in reversed(list(enumerate(LEVEL_RISK_THRESHOLDS, 1)))]
    return []


# -- the alarm store's events -------------------------------------------------------------------
def _alarm_db(path: Path) -> sqlite3.Connection | None:
    if not path.exists():
        return None
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)


def alarm_marks(path: Path, asset_id: str, start: float, end: float) -> list[AlarmMark]:
    """Alarms raised or escalated on ``asset_id`` in [start, end), by time."""
    db = _alarm_db(path)
    if db is None:
        return []
    try:
        rows = db.execute(
            "SELECT e.time, e.level, e.alarm FROM events e JOIN alarms a ON a.id = e.alarm WHERE e.time >= ? AND e.time < ?"
            f" AND e.kind IN {RAISING} AND a.asset = ? ORDER BY e.time, e.seq LIMIT ?", (start, end, asset_id, MAX_MARKS)).fetchall()
    finally:
        db.close()
    return [AlarmMark(float(t), int(level or 0), int(alarm)) for t, level, alarm in rows]


def alarm_counts(path: Path, start: float, end: float, step: float, domains: list[str]) -> AlarmCounts:
    """Alarms raised or escalated per bucket of ``step`` seconds from ``start``, per
    domain (every one of ``domains``, and any other the store names) and level."""
    n = math.ceil((end - start) / step)
    counts: dict[str, dict[str, list[int]]] = {}

    def domain(name: str) -> dict[str, list[int]]:
        return counts.setdefault(name, {str(level): [0] * n for level in range(1, 5)})

    for name in domains:
        domain(name)
    db = _alarm_db(path)
    if db is not None:
        try:
            rows = db.execute(
                "SELECT a.domain, e.level, CAST((e.time - ?) / ? AS INTEGER) AS b, count(*) FROM events e"
                f" JOIN alarms a ON a.id = e.alarm WHERE e.time >= ? AND e.time < ? AND e.kind IN {RAISING}"
                " GROUP BY a.domain, e.level, b", (start, step, start, end)).fetchall()
        finally:
            db.close()
        for name, level, b, count in rows:
            if level in (1, 2, 3, 4) and 0 <= b < n:
                domain(name)[str(level)][b] += count
    return AlarmCounts(start, end, step, _times(start + step * np.arange(n)), counts)


def nice_step(span: float, buckets: int) -> float:
    """The smallest of 1, 5, 15, 30 minutes, 1, 3, 6, 12 hours, days and weeks that cuts
    ``span`` into at most ``buckets``."""
    for step in (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400):
        if span / step <= buckets:
            return float(step)
    return float(math.ceil(span / buckets / 86400) * 86400)


# -- the routes -----------------------------------------------------------------------------------
_readonly: dict[Path, Store] = {}
_readonly_lock = threading.Lock()


def store_of(server: TwinServer, engine: Engine) -> Store:
    """The engine's store (a live twin's, or a served drill's own: twin.history.feed), or
    (a replay, a branch) the data folder's, read only."""
    if engine.history is not None:
        return engine.history.store
    folder = server.data_dir / "history" if server.data_dir is not None else None
    with _readonly_lock:
        if folder is not None and folder not in _readonly and (folder / "history.sqlite").exists():
            _readonly[folder] = Store(folder, readonly=True)
        if folder is None or folder not in _readonly:
            raise ApiFailure(ApiErrorCode.NOT_FOUND, "this twin keeps no history: a `twin serve` with a data folder stores "
                                                     "one (a live twin the city's, a drill or --fast run its own) unless "
                                                     "[history] enabled = false; a replay answers readings from its recording")
        return _readonly[folder]


def _alarm_path(server: TwinServer) -> Path:
    return (server.data_dir or Path("/nonexistent")) / "alarms.sqlite"


# -- a replay: the recording answers ---------------------------------------------------------
class _Recorded:
    """What one recording holds for the history API: each sensor's good readings (by its
    index in the scene's sensors: times, values, sorted) and its truth (None without)."""

    def __init__(self, path: Path) -> None:
        from twin.runs.recording import RecordingReader, decode_batch, read_truth

        times: dict[int, list[np.ndarray]] = {}
        values: dict[int, list[np.ndarray]] = {}
        reader = RecordingReader(path)
        try:
            for _, _, data in reader.messages(("/input/readings",)):
                index, at, value, quality = decode_batch(data)
                # the good readings, as ingest accepts them and the report charts them
                keep = (quality == 0) & np.isfinite(value) & (index >= 0)
                index, at, value = index[keep], at[keep], value[keep]
                order = np.argsort(index, kind="stable")
                index, at, value = index[order], at[order], value[order]
                cuts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]]) if len(index) else np.empty(0, np.int64)
                for a, b in zip(cuts.tolist(), [*cuts[1:].tolist(), len(index)]):
                    times.setdefault(int(index[a]), []).append(at[a:b])
                    values.setdefault(int(index[a]), []).append(value[a:b])
        finally:
            reader.close()
        self.readings: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for i, ts in times.items():
            t, v = np.concatenate(ts).astype(np.float64), np.concatenate(values[i]).astype(np.float64)
            order = np.argsort(t, kind="stable")
            self.readings[i] = (t[order], v[order])
        self.truth = read_truth(path)


#: recordings read, by path and (mtime, size): a replay seeks often, each chart asks again
_recorded: dict[Path, tuple[tuple[int, int], _Recorded]] = {}
_recorded_lock = threading.Lock()


def recorded(path: Path) -> _Recorded:
    """The readings and truth of the recording at ``path``, read once per file version."""
    stat = path.stat()
    version = (stat.st_mtime_ns, stat.st_size)
    with _recorded_lock:
        held = _recorded.get(path)
        if held is not None and held[0] == version:
            return held[1]
        made = _Recorded(path)
        _recorded[path] = (version, made)
        return made


def points_of(s: Series) -> Points:
    """A store's Series as the answer's points: raw (``t``, ``v``) or buckets."""
    if s.kind == "points":
        return Points(_times(s.time), v=floats(s.value))
    return Points(_times(s.time), min=floats(s.min), mean=floats(s.mean), max=floats(s.max), count=np.asarray(s.count).tolist())


def truth_points(times: np.ndarray, values: np.ndarray, start: float, end: float) -> Points:
    """A step function's points in [start, end): the value held at ``start`` first (when
    one was), then each change; past MAX_POINTS, the last value of each of MAX_POINTS
    equal slices (a step function still)."""
    lo = int(np.searchsorted(times, start, side="right"))
    hi = int(np.searchsorted(times, end, side="left"))
    t, v = times[lo:hi], values[lo:hi]
    if lo > 0:
        t, v = np.r_[start, t], np.r_[values[lo - 1], v]
    if len(t) > MAX_POINTS:
        b = np.floor((t - start) / ((end - start) / MAX_POINTS)).astype(np.int64)
        last = np.flatnonzero(np.r_[b[1:] != b[:-1], True])
        t, v = t[last], v[last]
    return Points(_times(t), v=floats(v))


def _replayed_marks(replay: Any, asset_id: str, start: float, end: float) -> list[AlarmMark]:
    marks = [AlarmMark(float(a["time"]), int(a["alarm"].get("level") or 0), int(a["alarm"]["id"])) for a in replay.info.alarms
             if a["kind"] in RAISING and a["alarm"].get("asset") == asset_id and start <= a["time"] < end]
    return sorted(marks, key=lambda m: m.t)[:MAX_MARKS]


async def _recorded_series(call: Call, kind: str, sensor_id: str, index: int, unit: str, asset_id: str, field: str,
                           limits: list[Threshold]) -> Response:
    """A sensor's readings in a replay, from the recording replayed, with its truth."""
    replay = call.server.replay
    start, end, step = _range(call.query, call.twin.time)

    def work() -> SeriesAnswer:
        held = recorded(Path(replay.path))
        t, v = held.readings.get(index, (np.empty(0), np.empty(0)))
        lo, hi = int(np.searchsorted(t, start, side="left")), int(np.searchsorted(t, end, side="left"))
        t, v = t[lo:hi], v[lo:hi]
        width: float | None = None
        if step is None and len(t) <= MAX_POINTS:
            points = Points(_times(t), v=floats(v))
        else:
            # the store's buckets (Store.series), each reading one of count 1
            s = buckets(sensor_id, "recording", start, end, np.round(t * 1000.0).astype(np.int64), v, v,
                        np.ones(len(t), np.int64), v, MAX_POINTS, step)
            points, width = points_of(s), s.step
        truth: Points | msgspec.UnsetType = UNSET
        true = held.truth.series.get((asset_id, field)) if held.truth is not None else None
        if true is not None:
            truth = truth_points(true.times, true.values, start, end)
        return SeriesAnswer(sensor_id, unit, "recording", start, end, width, points, limits,
                            _replayed_marks(replay, asset_id, start, end), truth)

    answer = await asyncio.to_thread(work)
    return render(kind, answer, sensor_id.replace("/", "_"))


async def sensor_history(call: Call) -> Response:
    """A sensor's accepted readings over a time range: raw points, or buckets.

    Raw points (``t``, ``v``) when the range holds at most 2,000 and no ``step`` is asked,
    else buckets of at least ``step`` seconds (``t`` = each one's start, ``min``, ``mean``,
    ``max``, ``count``), never more than 2,000. ``source``: ``raw`` readings, or
    ``minutes`` past the raw retention. JSON (a ``SeriesAnswer``), or the points' table as
    CSV or Parquet (``?format=`` or ``Accept``). See docs/history.md."""
    engine, q = call.twin, call.query
    kind = negotiate(call.request, q)
    sensor_id = call.request.path_params["sensor_id"]
    index = engine.ingest.sensor_index.get(sensor_id)
    if call.server.replay is not None and index is not None:
        sensor = engine.ingest.sensors[index]
        table, _row = engine.world.locate(sensor.asset)
        return await _recorded_series(call, kind, sensor_id, index, table.specs[sensor.field].unit, sensor.asset, sensor.field,
                                      thresholds(engine, table.domain.name, sensor.asset, sensor.field))
    store = store_of(call.server, engine)
    if index is None:
        if store.key(sensor_id) is None:
            raise ApiFailure(ApiErrorCode.NOT_FOUND, f"no sensor {sensor_id!r} in scene {engine.scene.name!r} nor in its "
                                                     f"history; GET /api/assets/{{id}} lists an asset's sensors")
        unit, marks_on, limits, field = "", None, [], None
    else:
        sensor = engine.ingest.sensors[index]
        table, _row = engine.world.locate(sensor.asset)
        unit, marks_on, field = table.specs[sensor.field].unit, sensor.asset, sensor.field
        limits = thresholds(engine, table.domain.name, sensor.asset, sensor.field)
    return await _series(call, kind, store, sensor_id, unit, marks_on, limits, field)


async def asset_history(call: Call) -> Response:
    """An asset's field over a time range: its stored state if the field is historical,
    else its sensor's readings; raw points, or buckets.

    Answered as ``GET /api/history/sensors/{id}`` answers, with the alarm levels'
    thresholds on the field when an alarm rule reads it, and the alarms raised or
    escalated on the asset in the range. See docs/history.md."""
    engine, q = call.twin, call.query
    kind = negotiate(call.request, q)
    asset_id = call.request.path_params["asset_id"]
    try:
        table, _row = engine.world.locate(asset_id)
    except KeyError:
        raise ApiFailure(ApiErrorCode.NOT_FOUND, f"no asset {asset_id!r} in scene {engine.scene.name!r}") from None
    domain = table.domain.name
    fed = {s.field: s.id for s in engine.ingest.sensors if s.asset == asset_id}
    kept = [f for f, spec in table.specs.items() if is_historical(spec) or f in fed]
    field = q.field
    if field is None or field not in kept:
        said = "give field=" if field is None else f"field {field[:40]!r} of {asset_id} keeps no history;"
        raise ApiFailure(ApiErrorCode.INVALID_VALUE, f"{said} one of "
                                                     f"{', '.join(kept) or '(none: no field of this asset is historical or measured)'}")
    series = field_series(domain, asset_id, field) if is_historical(table.specs[field]) else fed[field]
    if call.server.replay is not None and field in fed:
        # a measured field in a replay: its sensor's readings, from the recording (which
        # keeps those raw, and the field's truth beside them)
        return await _recorded_series(call, kind, fed[field], engine.ingest.sensor_index[fed[field]], table.specs[field].unit,
                                      asset_id, field, thresholds(engine, domain, asset_id, field))
    store = store_of(call.server, engine)
    return await _series(call, kind, store, series, table.specs[field].unit, asset_id, thresholds(engine, domain, asset_id, field),
                         field)


def running_truth(server: TwinServer, asset_id: str, field: str) -> Any:
    """The truth of ``field`` on ``asset_id`` (a ``TruthSeries``) that the recording of a
    drill running on this server samples (a served run on a simulated clock whose recorder
    has the simulator's truth: an exercise records itself); None for a live twin, a run
    not recorded, or a field the truth does not keep. Read on the event loop, where the
    recorder samples it after each tick."""
    engine, recorder = server.engine, server.recorder
    if engine is None or engine.live or server.replay is not None or recorder is None:
        return None
    sampler = getattr(recorder, "truth", None)
    return sampler.truth.series.get((asset_id, field)) if sampler is not None else None


async def _series(call: Call, kind: str, store: Store, series: str, unit: str, asset_id: str | None,
                  limits: list[Threshold], field: str | None = None) -> Response:
    start, end, step = _range(call.query, call.twin.time)
    alarms_at = _alarm_path(call.server)
    true = running_truth(call.server, asset_id, field) if asset_id is not None and field is not None else None

    def work() -> SeriesAnswer:
        s = store.series(series, start, end, MAX_POINTS, step)
        points = points_of(s)
        marks = alarm_marks(alarms_at, asset_id, start, end) if asset_id is not None else []
        truth = truth_points(true.times, true.values, start, end) if true is not None else UNSET
        return SeriesAnswer(series, unit, "raw" if s.source == "raw" else "minutes", start, end, s.step, points, limits, marks,
                            truth)

    try:
        answer = await asyncio.to_thread(work)
    except HistoryError as exc:
        raise _bad(str(exc)) from None
    return render(kind, answer, series.replace("/", "_"))


async def alarm_history(call: Call) -> Response:
    """Alarms raised (or escalated) per bucket, per domain and level, from the alarm
    store's events: for the wall's trend charts.

    ``counts[domain][level][i]`` alarms were raised or escalated to ``level`` ("1" blue ..
    "4" red) in the bucket starting at ``t[i]``; every domain of the twin is listed.
    Without a step, buckets of 1, 5, 15, 30 minutes, 1, 3, 6, 12 hours, a day or a week,
    the shortest giving at most 96. CSV and Parquet: rows ``t,domain,level,count``."""
    engine, q = call.twin, call.query
    kind = negotiate(call.request, q)
    start, end, step = _range(q, engine.time)
    step = max(step or nice_step(end - start, ALARM_BUCKETS), (end - start) / MAX_POINTS)
    domains = [*engine.registry.domains, SYSTEM_DOMAIN]
    answer = await asyncio.to_thread(alarm_counts, _alarm_path(call.server), start, end, step, domains)
    return render(kind, answer, "alarms")


#: the answers of ?format=csv and ?format=parquet
_CSV = Media("text/csv", {"type": "string"}, "CSV (?format=csv)")
_PARQUET = Media("application/vnd.apache.parquet", {"type": "string", "contentMediaType": "application/vnd.apache.parquet"},
                 "Parquet (?format=parquet)")

ROUTES = [
    ApiRoute("GET", "/api/history/sensors/{sensor_id:str}", sensor_history, tag="history", query=RangeQuery,
             answers={200: (SeriesAnswer, _CSV, _PARQUET), 404: ApiError}),
    ApiRoute("GET", "/api/history/assets/{asset_id:str}", asset_history, tag="history", query=FieldQuery,
             answers={200: (SeriesAnswer, _CSV, _PARQUET), 404: ApiError}),
    ApiRoute("GET", "/api/history/alarms", alarm_history, tag="history", query=RangeQuery,
             answers={200: (AlarmCounts, _CSV, _PARQUET)}),
]
