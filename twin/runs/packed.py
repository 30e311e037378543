"""How a recording stores readings and frames (version 2): whole numbers, not floats.

A reading batch stores each reading as a whole number of its sensor's precision (the
step its device reports in: FieldSpec.precision, :func:`twin.tick.simulator.reading_grid`)
when the reading lies on that grid exactly, else as the float it was; decoding gives back
every value bit for bit. A frame (a delta, a keyframe) stores each value of a float field
with a resolution as a whole number of ``resolution / SUBSTEPS`` (the values sent are news
of at least a resolution: this keeps them to 1/128 of one), an integer or bool field's
values as they are, and a float field without a resolution as its floats; the rows of a
delta as gaps from its first row, once for fields that changed on the same rows. The whole numbers of a message share the narrowest integer type that
holds them and are stored byte plane by byte plane (the k-th byte of every number
together), so that the chunk's compression finds the runs of small high bytes.

What is fixed for a recording (each sensor's grid, each field's step) is written once, in
the ``twin.codec`` metadata (:meth:`Codec.metadata`); the messages carry only numbers.
:class:`Codec` turns the stored messages back into the plain ones the recorder was given
(:func:`twin.runs.recording.encode_batch`'s batch, protocol v1 Delta and Snapshot), which
is what :class:`twin.runs.recording.RecordingReader` hands every caller.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import msgspec
import numpy as np

from twin.serving import protocol as p

#: the metadata record that describes a recording's packing
METADATA = "twin.codec"
VERSION = "2"
#: the message encodings of the packed channels (older recordings: "lifeline-twin.v1")
READINGS_ENCODING = "lifeline-twin.readings.v2"
FRAMES_ENCODING = "lifeline-twin.frames.v2"
#: a float field's values are kept to its resolution / SUBSTEPS (rounded: half of that)
SUBSTEPS = 64
#: whole numbers beyond this are not exact in a float64: such a field goes plain
_LIMIT = 2.0**52

_INTS = (np.int8, np.int16, np.int32, np.int64)
_UINTS = (np.uint8, np.uint16, np.uint32, np.uint64)


def _narrow(q: np.ndarray, signed: bool = True) -> np.ndarray:
    """``q`` (int64) in the narrowest integer type that holds all of it."""
    if not len(q):
        return q.astype(np.int8 if signed else np.uint8)
    lo, hi = int(q.min()), int(q.max())
    for t in _INTS if signed else _UINTS:
        info = np.iinfo(t)
        if info.min <= lo and hi <= info.max:
            return q.astype(t)
    raise ValueError("integers out of range")  # not reached: int64 holds every int64


def _planes(q: np.ndarray) -> np.ndarray:
    """The bytes of ``q`` plane by plane (byte k of every element together), as uint8."""
    return np.ascontiguousarray(q.view(np.uint8).reshape(len(q), q.itemsize).T).reshape(-1)


def _unplanes(raw: np.ndarray, dtype: str) -> np.ndarray:
    t = np.dtype(dtype)
    return np.ascontiguousarray(raw.reshape(t.itemsize, -1).T).view(t).reshape(-1)


class Ints(msgspec.Struct, array_like=True):
    """Whole numbers of one message: their type (``<i2``...) and their byte planes."""

    dtype: str
    planes: p.ArrayRef


def _add_ints(body: p.Body, q: np.ndarray, signed: bool = True) -> Ints:
    q = _narrow(q, signed)
    return Ints(q.dtype.str, body.add(_planes(q)))


def _ints(data: bytes, base: int, ints: Ints) -> np.ndarray:
    raw = p.view(data, base, ints.planes) if ints.planes.count else np.empty(0, np.uint8)
    return _unplanes(raw, ints.dtype).astype(np.int64)


def _array(data: bytes, base: int, ref: p.ArrayRef | None, dtype: Any, default: np.ndarray | None = None) -> np.ndarray:
    if ref is None:
        assert default is not None
        return default
    return p.view(data, base, ref).copy() if ref.count else np.empty(0, dtype=dtype)


def _unpack(data: bytes, decoder: msgspec.msgpack.Decoder) -> tuple[Any, int]:
    (n,) = struct.unpack_from("<I", data, 0)
    return decoder.decode(data[4 : 4 + n]), p.body_offset(data)


# ---------------------------------------------------------------------------- readings


class PackedReadings(msgspec.Struct, array_like=True):
    """One batch of readings: ``whole`` the on-grid ones as whole numbers of their
    sensor's grid, in batch order with the ``off`` positions left out; those are
    ``raw`` floats. ``sensor`` None: the sensors 0..n-1 in order, else the differences
    of their indices; ``at`` None: every reading at ``time``, else each one's offset from
    it (its time when ``absolute``: an offset would not give it back exactly);
    ``quality`` None: all good."""

    time: float
    count: int
    whole: Ints
    off: Ints | None = None
    raw: p.ArrayRef | None = None
    sensor: Ints | None = None
    at: p.ArrayRef | None = None
    quality: Ints | None = None
    absolute: bool = False


_readings_decoder = msgspec.msgpack.Decoder(PackedReadings)


class FieldsTable(msgspec.Struct, array_like=True):
    """One field of a recording's frames: its domain, name, dtype and step (> 0: whole
    numbers of it; 0: values as they are, integers or floats)."""

    domain: str
    field: str
    dtype: str
    step: float


class PackedDelta(msgspec.Struct, array_like=True):
    """A protocol Delta packed: ``fields`` (numbers in the codec's table) with ``counts``
    rows each, a negative count meaning the same rows as the field before (gas.ch4 and
    gas.lel move together); the rows of the others from their ``firsts``, as gaps less
    one (0: the next row) in field order; their whole numbers (stepped and integer
    fields) in field order; ``floats`` one array per field without a step, in its own
    dtype; ``plain`` any field the table lacks or whose values do not fit (NaN)."""

    base: int
    seq: int
    time: float
    fields: list[int]
    counts: list[int]
    firsts: list[int]
    gaps: Ints
    whole: Ints
    floats: list[p.ArrayRef]
    events: list[p.AlarmEventInfo]
    stale: list[tuple[str, str]]
    incidents: list[dict[str, Any]]
    plain: dict[str, dict[str, p.FieldDelta]]


class PackedKeyframe(msgspec.Struct, array_like=True):
    """A protocol Snapshot packed: every column of ``fields`` whole, as in
    :class:`PackedDelta`, ``counts`` rows each."""

    seq: int
    time: float
    fields: list[int]
    counts: list[int]
    whole: Ints
    floats: list[p.ArrayRef]
    alarms: list[dict[str, Any]]
    stale: list[tuple[str, str]]
    incidents: list[dict[str, Any]]
    plain: dict[str, dict[str, p.ArrayRef]]


_delta_decoder = msgspec.msgpack.Decoder(PackedDelta)
#: Codecs by their metadata's (precision, fields) text (Codec.from_metadata); a Codec never changes
_CODECS: dict[tuple[str, str], Codec] = {}
_keyframe_decoder = msgspec.msgpack.Decoder(PackedKeyframe)


class Codec:
    """The packing of one recording: each sensor's grid and each frame field's step."""

    def __init__(self, precision: np.ndarray, fields: list[FieldsTable]) -> None:
        from twin.tick.simulator import reading_grid

        self.precision = np.asarray(precision, dtype=np.float64)
        self._num, self._den = reading_grid(self.precision)
        self.fields = fields
        self._number = {(f.domain, f.field): i for i, f in enumerate(fields)}

    @classmethod
    def of(cls, engine: Any) -> Codec:
        """The packing for an engine's scene: sensors by their field's precision, fields by
        their resolution."""
        from twin.tick.simulator import sensor_precision

        fields = []
        for name, table in engine.world.tables.items():
            for f in table.live_fields():
                spec = table.specs[f]
                kind = np.dtype(table.columns[f].dtype).kind
                step = spec.resolution / SUBSTEPS if kind == "f" and spec.resolution > 0 else 0.0
                fields.append(FieldsTable(name, f, np.dtype(table.columns[f].dtype).str, step))
        return cls(sensor_precision(engine.scene.sensors, engine.world), fields)

    def metadata(self) -> dict[str, str]:
        return {"version": VERSION, "substeps": str(SUBSTEPS), "precision": json.dumps(self.precision.tolist()),
                "fields": msgspec.json.encode(self.fields).decode()}

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> Codec:
        """The packing a ``twin.codec`` metadata record describes; the same record gives the
        same Codec (kept for the last few: a city's 60,000 sensors' precisions take longer
        to read than a seek's frames, and readers of one file come one after another)."""
        if meta.get("version") != VERSION:
            raise ValueError(f"packing version {meta.get('version')!r}; this twin reads version {VERSION}")
        key = (meta["precision"], meta["fields"])
        known = _CODECS.get(key)
        if known is None:
            fields = msgspec.json.decode(meta["fields"].encode(), type=list[FieldsTable])
            known = cls(np.array(json.loads(meta["precision"]), dtype=np.float64), fields)
            while len(_CODECS) >= 8:
                _CODECS.pop(next(iter(_CODECS)), None)
            _CODECS[key] = known
        return known

    # -- readings ------------------------------------------------------------------------
    def pack_batch(self, time: float, batch: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> bytes:
        index, times, values, quality = batch
        n = len(values)
        values = values.astype(np.float64, copy=False)
        known = (index >= 0) & (index < len(self.precision))
        slot = np.where(known, index, 0)
        num = np.where(known, self._num[slot], 0.0) if len(self.precision) else np.zeros(n)
        den = np.where(known, self._den[slot], 1.0) if len(self.precision) else np.ones(n)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            q = np.rint(values * den / np.where(num > 0, num, 1.0))
            ok = (num > 0) & (np.abs(q) < _LIMIT) & (q * num / den == values)
        # -0.0 == 0.0: the grid would give the sign back wrong; keep such a reading raw
        ok &= ~((values == 0) & np.signbit(values))
        body = p.Body()
        whole = _add_ints(body, q[ok].astype(np.int64))
        off = raw = None
        if not ok.all():
            where = np.flatnonzero(~ok)
            off, raw = _add_ints(body, where.astype(np.int64), signed=False), body.add(values[where])
        in_order = n == 0 or (index[0] == 0 and index[-1] == n - 1 and bool(np.all(np.diff(index) == 1)))
        sensor = None if in_order else _add_ints(body, np.diff(index.astype(np.int64), prepend=0))
        at, absolute = None, False
        if not bool(np.all(times == time)):
            times = times.astype(np.float64, copy=False)
            offset = times - time
            # offsets (mostly 0) when they give each time back exactly, else the times
            absolute = not bool(np.all(offset + time == times))
            at = body.add(times if absolute else offset)
        quality = _add_ints(body, quality.astype(np.int64)) if np.any(quality) else None
        return p.encode(PackedReadings(time, n, whole, off, raw, sensor, at, quality, absolute), body)

    def unpack_batch(self, data: bytes) -> tuple[float, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """The time and the batch :meth:`pack_batch` was given, array for array (int64,
        float64, float64, int64)."""
        m, base = _unpack(data, _readings_decoder)
        n = m.count
        index = np.cumsum(_ints(data, base, m.sensor)) if m.sensor is not None else np.arange(n, dtype=np.int64)
        values = np.empty(n, dtype=np.float64)
        ok = np.ones(n, dtype=bool)
        if m.off is not None:
            where = _ints(data, base, m.off)
            ok[where] = False
            values[where] = _array(data, base, m.raw, np.float64)
        slot = index[ok]
        values[ok] = _ints(data, base, m.whole) * self._num[slot] / self._den[slot]
        if m.at is None:
            times = np.full(n, m.time)
        else:
            times = _array(data, base, m.at, np.float64) + (0.0 if m.absolute else m.time)
        quality = _ints(data, base, m.quality) if m.quality is not None else np.zeros(n, dtype=np.int64)
        return m.time, (index.astype(np.int64), times, values, quality)

    # -- frames ------------------------------------------------------------------------
    def _pack_values(self, body: p.Body, named: list[tuple[str, str, np.ndarray]]
                     ) -> tuple[list[int], list[np.ndarray], list[p.ArrayRef], list[tuple[str, str]]]:
        """Field numbers, whole-number parts and float arrays (added to ``body``) of
        ``named`` columns (domain, field, values); the (domain, field) pairs that go plain."""
        numbers: list[int] = []
        whole: list[np.ndarray] = []
        floats: list[p.ArrayRef] = []
        plain: list[tuple[str, str]] = []
        for domain, name, values in named:
            i = self._number.get((domain, name))
            spec = self.fields[i] if i is not None else None
            if spec is None or values.dtype.str != spec.dtype:
                plain.append((domain, name))
                continue
            if spec.step > 0:
                with np.errstate(invalid="ignore", over="ignore"):
                    q = np.rint(values.astype(np.float64) / spec.step)
                if not (np.all(np.isfinite(q)) and np.all(np.abs(q) < _LIMIT)):
                    plain.append((domain, name))
                    continue
                whole.append(q.astype(np.int64))
            elif values.dtype.kind in "iub":
                whole.append(values.astype(np.int64))
            else:
                floats.append(body.add(values))
            numbers.append(i)
        return numbers, whole, floats, plain

    def _unpack_values(self, data: bytes, base: int, numbers: list[int], counts: list[int], whole: np.ndarray,
                       floats: list[p.ArrayRef]) -> list[np.ndarray]:
        out = []
        w = f = 0
        for i, count in zip(numbers, counts):
            spec = self.fields[i]
            count = abs(count)
            dtype = np.dtype(spec.dtype)
            if spec.step > 0:
                out.append((whole[w : w + count] * spec.step).astype(dtype))
                w += count
            elif dtype.kind in "iub":
                out.append(whole[w : w + count].astype(dtype))
                w += count
            else:
                out.append(_array(data, base, floats[f], dtype))
                f += 1
        return out

    def pack_delta(self, frame: Any) -> bytes:
        body = p.Body()
        ascending = {(d, f): rows for d, fields in frame.changes.items() for f, (rows, _) in fields.items()
                     if len(rows) < 2 or bool(np.all(rows[1:] > rows[:-1]))}
        named = [(d, f, values) for d, fields in frame.changes.items() for f, (_, values) in fields.items() if (d, f) in ascending]
        numbers, whole, floats, plain = self._pack_values(body, named)
        plain += [(d, f) for d, fields in frame.changes.items() for f in fields if (d, f) not in ascending]
        counts: list[int] = []
        firsts: list[int] = []
        gaps: list[np.ndarray] = []
        before: np.ndarray | None = None
        for i in numbers:
            rows = ascending[(self.fields[i].domain, self.fields[i].field)]
            if before is not None and len(rows) and np.array_equal(rows, before):
                counts.append(-len(rows))
                continue
            counts.append(len(rows))
            if len(rows):
                firsts.append(int(rows[0]))
                gaps.append(np.diff(rows.astype(np.int64)) - 1)
            before = rows
        packed_gaps = _add_ints(body, np.concatenate(gaps) if gaps else np.empty(0, np.int64), signed=False)
        packed_whole = _add_ints(body, np.concatenate(whole) if whole else np.empty(0, np.int64))
        kept: dict[str, dict[str, p.FieldDelta]] = {}
        for d, f in plain:
            r, v = frame.changes[d][f]
            kept.setdefault(d, {})[f] = p.FieldDelta(body.add(r), body.add(v))
        events = [p.AlarmEventInfo(e.kind, e.time, e.alarm, e.who, e.note) for e in frame.events]
        return p.encode(PackedDelta(frame.seq - 1, frame.seq, frame.time, numbers, counts, firsts, packed_gaps, packed_whole,
                                    floats, events, list(frame.stale), list(frame.incidents), kept), body)

    def unpack_delta(self, data: bytes) -> bytes:
        """The protocol v1 Delta that :meth:`pack_delta` packed (values to their step)."""
        m, base = _unpack(data, _delta_decoder)
        gaps = _ints(data, base, m.gaps) + 1
        values = self._unpack_values(data, base, m.fields, m.counts, _ints(data, base, m.whole), m.floats)
        body = p.Body()
        domains: dict[str, dict[str, p.FieldDelta]] = {}
        g = k = 0
        rows = np.empty(0, np.uint32)
        for i, count, column in zip(m.fields, m.counts, values):
            if count >= 0:
                rows = np.empty(count, np.uint32)
                if count:
                    rows[0] = m.firsts[k]
                    rows[1:] = m.firsts[k] + np.cumsum(gaps[g : g + count - 1])
                    k += 1
                    g += count - 1
            spec = self.fields[i]
            domains.setdefault(spec.domain, {})[spec.field] = p.FieldDelta(body.add(rows), body.add(column))
        for d, fields in m.plain.items():
            for name, fd in fields.items():
                domains.setdefault(d, {})[name] = p.FieldDelta(body.add(p.view(data, base, fd.rows)),
                                                               body.add(p.view(data, base, fd.values)))
        return p.encode(p.Delta(m.base, m.seq, m.time, domains, m.events, m.stale, m.incidents), body)

    def pack_keyframe(self, seq: int, time: float, columns: dict[str, dict[str, np.ndarray]], alarms: list[dict[str, Any]],
                      stale: list[tuple[str, str]], incidents: list[dict[str, Any]]) -> bytes:
        body = p.Body()
        named = [(d, f, values) for d, fields in columns.items() for f, values in fields.items()]
        numbers, whole, floats, plain = self._pack_values(body, named)
        counts = [len(columns[self.fields[i].domain][self.fields[i].field]) for i in numbers]
        packed_whole = _add_ints(body, np.concatenate(whole) if whole else np.empty(0, np.int64))
        kept: dict[str, dict[str, p.ArrayRef]] = {}
        for d, f in plain:
            kept.setdefault(d, {})[f] = body.add(columns[d][f])
        return p.encode(PackedKeyframe(seq, time, numbers, counts, packed_whole, floats, alarms, stale, incidents, kept), body)

    def unpack_keyframe(self, data: bytes) -> bytes:
        """The protocol v1 Snapshot that :meth:`pack_keyframe` packed (values to their step)."""
        m, base = _unpack(data, _keyframe_decoder)
        values = self._unpack_values(data, base, m.fields, m.counts, _ints(data, base, m.whole), m.floats)
        body = p.Body()
        domains: dict[str, dict[str, p.ArrayRef]] = {}
        for i, column in zip(m.fields, values):
            domains.setdefault(self.fields[i].domain, {})[self.fields[i].field] = body.add(column)
        for d, fields in m.plain.items():
            for name, ref in fields.items():
                domains.setdefault(d, {})[name] = body.add(p.view(data, base, ref))
        return p.encode(p.Snapshot(m.seq, m.time, domains, m.alarms, m.stale, m.incidents), body)
