"""Recordings: the frame stream and the inputs of a run, in an MCAP file.

Channels (message encoding in brackets):

- ``/frame/keyframe`` [lifeline-twin.v1]: a protocol v1 Snapshot of every live field,
  every ``keyframe_every`` seconds of simulation time (and at the start);
- ``/frame/delta`` [lifeline-twin.v1]: the protocol v1 Delta of each tick;
- ``/alarm/event`` [json]: each alarm event, in order;
- ``/input/readings`` [lifeline-twin.v1]: each tick's raw reading batches, before
  validation, so that a rerun validates them again under its own configuration;
- ``/input/action`` [json]: each action applied (drill events, background incidents,
  a director's actions), with its simulation time;
- ``/operator/action`` [json]: acknowledge, dispatch and resolve, with who and note.

Log times are simulation nanoseconds, so the same drill with the same seed writes the
same bytes; only the ``twin.run`` metadata's ``created`` (wall clock) differs. A writer
thread takes the encoding and I/O off the tick; it closes a chunk and flushes every
second of simulation time, so a killed process loses at most that second.
"""

from __future__ import annotations

import json
import queue
import threading
import time as wallclock
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from mcap.reader import make_reader
from mcap.writer import CompressionType, Writer

from twin import protocol as p
from twin.engine import Engine, Frame
from twin.ingest import ReadingBatch

PROFILE = "lifeline-twin"
NS = 1_000_000_000
TOPICS = ("/frame/keyframe", "/frame/delta", "/alarm/event", "/input/readings", "/input/action", "/operator/action")


class ReadingBatchMessage(msgspec.Struct, tag="readings", tag_field="type"):
    """One batch of raw readings: sensor index (-1 unknown), time, value, quality."""

    time: float
    sensor: p.ArrayRef
    at: p.ArrayRef
    value: p.ArrayRef
    quality: p.ArrayRef


_batch_decoder = msgspec.msgpack.Decoder(ReadingBatchMessage)


def ns(seconds: float) -> int:
    return int(round(seconds * NS))


def encode_batch(time: float, batch: ReadingBatch) -> bytes:
    body = p.Body()
    index, times, values, quality = batch
    refs = [body.add(a) for a in (index.astype(np.int64, copy=False), times.astype(np.float64, copy=False),
                                  values.astype(np.float64, copy=False), quality.astype(np.int64, copy=False))]
    return p.encode(ReadingBatchMessage(time, *refs), body)


def decode_batch(data: bytes) -> ReadingBatch:
    import struct

    (n,) = struct.unpack_from("<I", data, 0)
    message = _batch_decoder.decode(data[4 : 4 + n])
    base = p.body_offset(data)
    return tuple(p.view(data, base, ref).copy() for ref in (message.sensor, message.at, message.value, message.quality))  # type: ignore[return-value]


def delta_bytes(frame: Frame) -> bytes:
    body = p.Body()
    domains = {
        d: {f: p.FieldDelta(body.add(rows), body.add(values)) for f, (rows, values) in fields.items()}
        for d, fields in frame.changes.items()
    }
    events = [p.AlarmEventInfo(e.kind, e.time, e.alarm, e.who, e.note) for e in frame.events]
    return p.encode(p.Delta(frame.seq - 1, frame.seq, frame.time, domains, events, list(frame.stale)), body)


def keyframe_bytes(engine: Engine) -> bytes:
    body = p.Body()
    domains = {n: {f: body.add(t.columns[f]) for f in t.live_fields()} for n, t in engine.world.tables.items()}
    alarms = [a.to_json() for a in engine.alarms.active()]
    return p.encode(p.Snapshot(engine.seq, engine.time, domains, alarms, sorted(engine.stale_fields)), body)


class Recorder:
    """Appends a running engine's frames and inputs to an MCAP file, off the tick."""

    def __init__(self, path: Path, engine: Engine, metadata: dict[str, Any] | None = None, keyframe_every: float = 5.0) -> None:
        self.path = Path(path)
        self.engine = engine
        self.keyframe_every = keyframe_every
        self._next_keyframe = 0.0
        self._next_flush = 1.0
        self._actions_seen = 0
        self._incidents_seen = 0
        self._queue: queue.Queue[tuple[str, float, bytes] | None] = queue.Queue(maxsize=10_000)
        self._stream = self.path.open("wb")
        # LZ4 over zstd: 4x the speed for a third less compression (bench/record.py),
        # so that the writer keeps up with a busy city.
        self._writer = Writer(self._stream, compression=CompressionType.LZ4)
        self._writer.start(profile=PROFILE, library=f"lifeline-twin {p.PROTOCOL_VERSION}")
        self._channels: dict[str, int] = {}
        for topic in TOPICS:
            encoding = "json" if topic in ("/alarm/event", "/input/action", "/operator/action") else "lifeline-twin.v1"
            self._channels[topic] = self._writer.register_channel(topic, encoding, schema_id=0)
        meta = {
            "scene": engine.scene.name,
            "scene_path": str(engine.scene.root.resolve()),
            "seed": str(engine.seed),
            "dt": repr(engine.dt),
            "protocol": str(p.PROTOCOL_VERSION),
            "plugins": json.dumps({n: {"version": i.version, "status": i.status} for n, i in sorted(engine.registry.plugins.items())}),
            "config": json.dumps(engine.config.get("thresholds", {}), sort_keys=True),
            "keyframe_every": repr(keyframe_every),
        }
        meta.update({k: str(v) for k, v in (metadata or {}).items()})
        self._writer.add_metadata("twin.run", meta)
        self._writer.add_metadata("twin.created", {"wall_clock": wallclock.strftime("%Y-%m-%dT%H:%M:%SZ", wallclock.gmtime())})
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="twin-recorder", daemon=True)
        self._thread.start()
        self._put("/frame/keyframe", engine.time, keyframe_bytes(engine))
        self._next_keyframe = engine.time + keyframe_every

    def _put(self, topic: str, time: float, data: bytes) -> None:
        if self.error is not None:
            raise RuntimeError(f"recording to {self.path} failed: {self.error}")
        self._queue.put((topic, time, data))

    def record(self, frame: Frame) -> None:
        """Queue one tick: its inputs, its delta, its alarm events and a keyframe when due.
        Call it right after ``engine.tick()`` returned ``frame``."""
        e = self.engine
        for batch in e.last_inputs:
            self._put("/input/readings", frame.time, encode_batch(frame.time, batch))
        applied = []
        if e.simulator is not None:
            applied = [{"time": i.at, "action": i.action, "target": i.asset, "params": i.params, "who": "script"}
                       for i in e.simulator.applied[self._incidents_seen :]]
            self._incidents_seen = len(e.simulator.applied)
        applied += e.actions[self._actions_seen :]
        self._actions_seen = len(e.actions)
        for action in applied:
            self._put("/input/action", frame.time, json.dumps(action, sort_keys=True).encode())
        self._put("/frame/delta", frame.time, delta_bytes(frame))
        for event in frame.events:
            body = {"kind": event.kind, "time": event.time, "who": event.who, "note": event.note, "alarm": event.alarm}
            topic = "/operator/action" if event.kind in ("acknowledge", "dispatch", "resolve") else "/alarm/event"
            self._put(topic, frame.time, json.dumps(body, sort_keys=True, ensure_ascii=False).encode())
        if frame.time >= self._next_keyframe - 1e-9:
            self._put("/frame/keyframe", frame.time, keyframe_bytes(e))
            self._next_keyframe = frame.time + self.keyframe_every

    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    break
                topic, time, data = item
                self._writer.add_message(self._channels[topic], log_time=ns(time), data=data, publish_time=ns(time))
                if time >= self._next_flush:
                    # Close the chunk and hand it to the OS: a killed process loses at most this second.
                    self._writer.flush()
                    self._next_flush = float(np.floor(time)) + 1.0
        except BaseException as exc:  # reported on the next record() call
            self.error = exc

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self.error is None:
            self._writer.finish()
        self._stream.close()


# ------------------------------------------------------------------------- reading


@dataclass
class RecordingInfo:
    path: Path
    metadata: dict[str, str]
    created: str
    start: float
    end: float
    counts: dict[str, int]
    chunks: int
    complete: bool
    alarms: list[dict[str, Any]] = field(default_factory=list)


def info(path: Path) -> RecordingInfo:
    """What is in a recording. A file cut short by a crash is read record by record."""
    from mcap.records import Metadata

    meta: dict[str, str] = {}
    created = ""
    chunks = 0
    with Path(path).open("rb") as stream:
        try:
            summary = make_reader(stream).get_summary()
        except Exception:
            summary = None
        chunks = len(summary.chunk_indexes) if summary is not None else 0
    for record in _records(path):
        if isinstance(record, Metadata):
            if record.name == "twin.run":
                meta = dict(record.metadata)
            elif record.name == "twin.created":
                created = record.metadata.get("wall_clock", "")
    counts: dict[str, int] = {t: 0 for t in TOPICS}
    start, end = float("inf"), float("-inf")
    alarms = []
    for topic, t, data in read_stream(path):
        counts[topic] = counts.get(topic, 0) + 1
        start, end = min(start, t), max(end, t)
        if topic == "/alarm/event":
            alarms.append(json.loads(data))
    return RecordingInfo(Path(path), meta, created, start, end, counts, chunks, summary is not None, alarms)


def _records(path: Path) -> Iterator[Any]:
    from mcap.stream_reader import StreamReader

    with Path(path).open("rb") as stream:
        try:
            yield from StreamReader(stream, skip_magic=False, emit_chunks=False).records
        except Exception:
            return  # cut short by a crash: every whole record before the cut was yielded


def read_stream(path: Path, topics: tuple[str, ...] | None = None) -> Iterator[tuple[str, float, bytes]]:
    """Every message in log-time order: (topic, simulation time, data). Works on a file a
    crash cut short (it stops at the last whole record)."""
    from mcap.records import Channel, Message

    channels: dict[int, str] = {}
    for record in _records(path):
        if isinstance(record, Channel):
            channels[record.id] = record.topic
        elif isinstance(record, Message):
            topic = channels[record.channel_id]
            if topics is None or topic in topics:
                yield topic, record.log_time / NS, record.data


class RecordingReader:
    """A recording opened once for many seeks (a replay, a report): MCAP's summary and
    indexes are read once, not at every seek."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._stream = self.path.open("rb")
        self._reader = make_reader(self._stream)
        meta = next((r.metadata for r in self._reader.iter_metadata() if r.name == "twin.run"), {})
        self.keyframe_every = float(meta.get("keyframe_every", "nan"))
        self.dt = float(meta.get("dt", "nan"))
        summary = self._reader.get_summary()
        stats = summary.statistics if summary is not None else None
        self.start = stats.message_start_time / NS if stats is not None else 0.0

    def seek(self, time: float) -> tuple[bytes, list[bytes]]:
        """The last keyframe at or before ``time`` and the deltas after it up to ``time``,
        in one pass over only the chunks that span that stretch."""
        if np.isfinite(self.keyframe_every) and np.isfinite(self.dt):
            # Keyframes fall every keyframe_every from the start (to within a tick): read
            # from just before the last one due, not a whole period earlier.
            period, dt = self.keyframe_every, self.dt
            due = self.start + np.floor((time - self.start + 1e-9) / period) * period
            keyframe: bytes | None = None
            deltas: list[bytes] = []
            for _, channel, message in self._reader.iter_messages(
                topics=["/frame/keyframe", "/frame/delta"], starting_at=ns(max(due - dt / 2, 0.0)), ending_at=ns(time)
            ):
                if channel.topic == "/frame/keyframe":
                    keyframe, deltas = message.data, []
                elif keyframe is not None:
                    deltas.append(message.data)
            if keyframe is not None:
                return keyframe, deltas
        return self._seek_two_passes(time)

    def _seek_two_passes(self, time: float) -> tuple[bytes, list[bytes]]:
        keyframe: bytes | None = None
        key_time = 0.0
        for _, _, message in self._reader.iter_messages(topics=["/frame/keyframe"], ending_at=ns(time), reverse=True):
            keyframe, key_time = message.data, message.log_time / NS
            break
        if keyframe is None:
            raise ValueError(f"{self.path}: no keyframe at or before {time} s")
        deltas = [m.data for _, _, m in self._reader.iter_messages(topics=["/frame/delta"], starting_after=ns(key_time), ending_at=ns(time))]
        return keyframe, deltas

    def close(self) -> None:
        self._stream.close()


def seek(path: Path, time: float) -> tuple[bytes, list[bytes]]:
    """The state at ``time``: the last keyframe at or before it and the deltas after it,
    read through MCAP's indexes (only the chunks that hold them are decoded)."""
    reader = RecordingReader(path)
    try:
        return reader.seek(time)
    finally:
        reader.close()
