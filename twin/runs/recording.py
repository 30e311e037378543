"""Recordings: the frame stream and the inputs of a run, in an MCAP file.

Channels (message encoding in brackets):

- ``/frame/keyframe`` [lifeline-twin.frames.v2]: a protocol v1 Snapshot of every live field
  as last sent (within each field's resolution of the exact state, as every client holds
  it), at the start and then once the deltas since the last one add up to its size (the
  rows and values they carry against its columns), but
  no sooner than ``keyframe_every`` and no later than ``keyframe_within`` seconds of
  simulation time after it: a seek reads one keyframe and about as many bytes of deltas
  at most, and a quiet twin, whose deltas are small, is not recorded whole every few
  seconds;
- ``/frame/delta`` [lifeline-twin.frames.v2]: the protocol v1 Delta of each tick;
- ``/alarm/event`` [json]: each alarm event, in order;
- ``/input/readings`` [lifeline-twin.readings.v2]: each tick's raw reading batches,
  before validation, so that a rerun validates them again under its own configuration;
- ``/input/action`` [json]: each action applied (drill events, background incidents,
  a director's actions), with its simulation time;
- ``/operator/action`` [json]: acknowledge, dispatch and resolve, with who and note;
- ``/operator/incident`` [json]: a person's own acknowledge, dispatch and close of an
  incident (not the one the all-alarms-acknowledged rule makes), with who, note, unit and
  the incident as it was (its id, title, assets and alarms' ids, rules and assets), so
  that a rerun or a branch can act on the incident that holds the same alarms in it; its
  alarms' own steps are on ``/operator/action`` too. Registered when first used;
- ``/truth`` [lifeline-twin.v1]: a run with the simulator only: the ground truth of the
  fields its sensors measure and the alarm rules' risk on it, every few seconds and
  whenever an alarm's level fell, news only (:mod:`twin.runs.truth`; its declaration in
  the ``twin.truth`` metadata; :func:`read_truth` reads it);
- ``/exercise/inject``, ``/exercise/message``, ``/exercise/note``, ``/exercise/record``
  [json]: a live exercise's timeline of injects as the controller changes it, the
  messages sent to the players, the observers' notes (``twin.runs.exercise``) and, at
  its end, its whole record as scored (the report's debrief); registered when first used,
  so that a recording without an exercise is what it always was.

Readings and frames are stored packed (:mod:`twin.runs.packed`: readings as whole numbers
of their sensor's precision, bit for bit; frames to 1/64 of each field's resolution),
described once in the ``twin.codec`` metadata; every reader gets them back plain, as the
recorder was given them (recordings from before, whose channels are all
``lifeline-twin.v1``, hold them plain).

Log times are nanoseconds of the run's clock (from 0 for a simulated run, UTC epoch
for a live one, whose start is the ``twin.run`` metadata's ``start``), so the same drill
with the same seed writes the same bytes; only the ``twin.created`` metadata's
``wall_clock`` differs. A writer thread takes the packing and the I/O off the tick (the
tick only copies the readings its simulator will overwrite, and a keyframe's columns); it
closes a chunk and flushes after the last tick of every second of simulation time, so a
chunk holds whole ticks and a killed process loses at most that second. A recorder whose writes fail (a
full disk, a file-size limit) stops and says why in :attr:`Recorder.error`; it never
raises into the tick.

Every reader goes through :class:`RecordingReader`, which reads a complete file through
its MCAP summary and a file cut short (killed writer, full disk: no summary, no footer,
maybe a partial last record) by scanning it once and keeping everything before the cut.
"""

from __future__ import annotations

import collections
import errno
import io
import json
import logging
import os
import queue
import struct
import threading
import time as wallclock
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mcap.reader
import msgspec
import numpy as np
from mcap.data_stream import ReadDataStream
from mcap.opcode import Opcode
from mcap.reader import SeekingReader
from mcap.records import Channel, Chunk, Message, MessageIndex, Metadata
from mcap.writer import CompressionType, Writer

from twin.runs import packed
from twin.serving import protocol as p
from twin.tick.engine import Engine, Frame
from twin.errors import TwinError
from twin.tick.ingest import ReadingBatch

log = logging.getLogger("twin.runs.recording")

PROFILE = "lifeline-twin"
NS = 1_000_000_000
MAGIC = b"\x89MCAP0\r\n"
#: How long record() waits for room in a full queue before it gives the recording up:
#: back-pressure for a writer briefly behind, never a tick frozen on a stuck disk.
STALL_SECONDS = 10.0
#: the chunks' compression (see Recorder.__init__)
COMPRESSION = CompressionType.LZ4
TOPICS = ("/frame/keyframe", "/frame/delta", "/alarm/event", "/input/readings", "/input/action", "/operator/action")
#: a person's action on an incident (see the module's docstring), registered when first used
INCIDENT_TOPIC = "/operator/incident"
#: the channels of a live exercise, each a JSON record (Recorder.record_event)
EXERCISE_TOPICS = ("/exercise/inject", "/exercise/message", "/exercise/note", "/exercise/record")


class ReadingBatchMessage(msgspec.Struct, tag="readings", tag_field="type"):
    """One batch of raw readings: sensor index (-1 unknown), time, value, quality.

    What is the same for every reading of a batch is left out rather than repeated: no
    ``sensor`` when the batch is the sensors 0..n-1 in order (the simulator's), no ``at``
    when every reading is at the message's ``time``, no ``quality`` when all are good (0).
    A simulated city's batch is then its values and little else."""

    time: float
    value: p.ArrayRef
    sensor: p.ArrayRef | None = None
    at: p.ArrayRef | None = None
    quality: p.ArrayRef | None = None


_batch_decoder = msgspec.msgpack.Decoder(ReadingBatchMessage)


def ns(seconds: float) -> int:
    return int(round(seconds * NS))


def encode_batch(time: float, batch: ReadingBatch) -> bytes:
    """A batch as :func:`decode_batch` gives it back, array for array (dtypes: int64,
    float64, float64, int64)."""
    body = p.Body()
    index, times, values, quality = batch
    n = len(values)
    value = body.add(values.astype(np.float64, copy=False))
    in_order = n == 0 or (index[0] == 0 and index[-1] == n - 1 and bool(np.all(np.diff(index) == 1)))
    sensor = None if in_order else body.add(index.astype(np.int64, copy=False))
    at = None if bool(np.all(times == time)) else body.add(times.astype(np.float64, copy=False))
    good = None if not np.any(quality) else body.add(quality.astype(np.int64, copy=False))
    return p.encode(ReadingBatchMessage(time, value, sensor, at, good), body)


def decode_batch(data: bytes) -> ReadingBatch:
    """(sensor index, time, value, quality) arrays of a batch, as the engine took it;
    reads the batches of older recordings too, which carried every array."""
    (n,) = struct.unpack_from("<I", data, 0)
    message = _batch_decoder.decode(data[4 : 4 + n])
    base = p.body_offset(data)

    def array(ref: p.ArrayRef) -> np.ndarray:
        # an empty batch has no body for its empty arrays to point into
        return p.view(data, base, ref).copy() if ref.count else np.empty(0, dtype=ref.dtype)

    values = array(message.value)
    count = len(values)
    index = array(message.sensor) if message.sensor is not None else np.arange(count, dtype=np.int64)
    times = array(message.at) if message.at is not None else np.full(count, message.time)
    quality = array(message.quality) if message.quality is not None else np.zeros(count, dtype=np.int64)
    return index, times, values, quality


def delta_bytes(frame: Frame) -> bytes:
    body = p.Body()
    domains = {
        d: {f: p.FieldDelta(body.add(rows), body.add(values)) for f, (rows, values) in fields.items()}
        for d, fields in frame.changes.items()
    }
    events = [p.AlarmEventInfo(e.kind, e.time, e.alarm, e.who, e.note) for e in frame.events]
    # the incidents the tick changed, as the stream carries them (reports group alarms by them)
    return p.encode(p.Delta(frame.seq - 1, frame.seq, frame.time, domains, events, list(frame.stale), list(frame.incidents)), body)


def _keyframe_parts(engine: Engine) -> tuple[dict[str, dict[str, np.ndarray]], list[dict[str, Any]], list[Any], list[dict[str, Any]]]:
    """Every live field as last sent (DomainTable.sent), the open alarms, the stale
    fields and the open incidents: what a keyframe holds."""
    columns = {n: {f: t.sent(f) for f in t.live_fields()} for n, t in engine.world.tables.items()}
    alarms = [a.summary() for a in engine.alarms.active()]  # as the stream carries them: notes are in /operator/action
    incidents = [i.summary() for i in engine.incidents.ordered()]  # every open one, as a snapshot of the stream
    return columns, alarms, sorted(engine.stale_fields), incidents


def keyframe_bytes(engine: Engine) -> bytes:
    """A Snapshot of every live field as last sent (DomainTable.sent): what a client that
    applied every delta holds, so that a seek (a keyframe and the deltas after it) gives
    what playing the recording from the start gives, value for value."""
    body = p.Body()
    columns, alarms, stale, incidents = _keyframe_parts(engine)
    domains = {n: {f: body.add(v) for f, v in fields.items()} for n, fields in columns.items()}
    return p.encode(p.Snapshot(engine.seq, engine.time, domains, alarms, stale, incidents), body)


class RecordingError(TwinError, ValueError):
    """A recording cannot be written or read; the message names the file and why."""


def _reason(exc: BaseException) -> str:
    """One line for an exception: an OSError's text and errno name, else its type and text."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{exc.strerror or exc} ({errno.errorcode.get(exc.errno, exc.errno)})"
    return f"{type(exc).__name__}: {exc}"


def when(seconds: float) -> str:
    """A moment of a run for a message: HH:MM:SS of simulation time, or UTC for a live
    run's clock (epoch seconds)."""
    if seconds >= 1e9:
        return wallclock.strftime("%Y-%m-%dT%H:%M:%SZ", wallclock.gmtime(seconds))
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


#: A queue item that ends a tick: the writer may close a chunk only there.
_END_OF_TICK = ""


class _Packing:
    """A message the writer thread packs (twin.runs.packed) before it writes it: the
    packing function and its arguments, copies or arrays no tick changes again. ``len``
    is the plain size of what it holds, which the keyframes' cadence weighs."""

    __slots__ = ("fn", "args", "size")

    def __init__(self, fn: Any, *args: Any, size: int) -> None:
        self.fn, self.args, self.size = fn, args, size

    def __call__(self) -> bytes:
        return self.fn(*self.args)

    def __len__(self) -> int:
        return self.size


class Recorder:
    """Appends a running engine's frames and inputs to an MCAP file, off the tick.

    Creating one on a path it cannot write (a missing folder, no permission, no space for
    the header) raises :class:`RecordingError`. After that, :meth:`record` and
    :meth:`close` never raise: when a write fails (ENOSPC, EFBIG, EIO...) or the writer
    stalls, the recorder stops, cuts the file back to its last whole chunk (readable up to
    there), logs the reason once and keeps it in :attr:`error`; the run goes on unrecorded.
    """

    def __init__(self, path: Path, engine: Engine, metadata: dict[str, Any] | None = None, keyframe_every: float = 5.0,
                 keyframe_within: float = 60.0, truth_every: float = 5.0, truth_from: Path | None = None) -> None:
        """Keyframes: see the module's docstring; ``keyframe_within`` below
        ``keyframe_every`` is taken as ``keyframe_every`` (a keyframe every so often).
        The truth is sampled every ``truth_every`` seconds when the engine has a simulator;
        an engine without one (a rerun) may carry another recording's truth over
        (``truth_from``: the same world, measured the same)."""
        self.path = Path(path)
        self.engine = engine
        self.keyframe_every = keyframe_every
        self.keyframe_within = max(keyframe_within, keyframe_every)
        #: bytes of the last keyframe's columns, and of the deltas' rows and values since
        self._keyframe_size = 0
        self._deltas_since = 0
        #: why the recording stopped, one line naming the file; None while it works
        self.error: str | None = None
        #: the simulation time up to which the file holds every tick (its last flush)
        self.flushed = float("-inf")
        self._last_time = engine.time
        self._keyframe_time = engine.time
        self._next_flush = 1.0
        self._actions_seen = 0
        self._incidents_seen = 0
        #: incident actions committed since the last tick (an incident listener fills it,
        #: maybe from a server thread; deque appends and pops are atomic)
        self._incident_actions: collections.deque[dict[str, Any]] = collections.deque()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=10_000)
        #: the messages of the tick being recorded (None outside record()), queued as one
        self._tick_items: list[tuple[str, float, bytes | _Packing]] | None = None
        self._error_lock = threading.Lock()
        self._closed = False
        if not self.path.parent.is_dir():
            raise RecordingError(f"cannot record to {self.path}: the folder {self.path.parent} does not exist")
        try:
            self._stream = self.path.open("wb")
        except OSError as exc:
            raise RecordingError(f"cannot record to {self.path}: {_reason(exc)}") from None
        try:
            # LZ4 over zstd: 4x the speed for a third less compression (bench/record.py),
            # so that the writer keeps up with a busy city. No size limit on a chunk: it
            # closes only at the end of a tick (see _run), so a file cut anywhere holds
            # whole ticks.
            self._writer = Writer(self._stream, compression=COMPRESSION, chunk_size=1 << 62)
            self._writer.start(profile=PROFILE, library=f"lifeline-twin {p.PROTOCOL_VERSION}")
            self._channels: dict[str, int] = {}
            #: how readings and frames are packed (twin.runs.packed), fixed for the file
            self._codec = packed.Codec.of(engine)
            for topic in TOPICS:
                encoding = "json" if topic in ("/alarm/event", "/input/action", "/operator/action") else \
                    packed.READINGS_ENCODING if topic == "/input/readings" else packed.FRAMES_ENCODING
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
                "keyframe_within": repr(self.keyframe_within),
            }
            if engine.config.get("alarms"):
                # the run's [alarms] table (deadlines), for a branch to run with; left out when
                # none was given, so that such a run writes the bytes it always did
                meta["alarms"] = json.dumps(engine.config["alarms"], sort_keys=True)
            if engine.start:
                # the clock's start (a live run's UTC epoch seconds): drill times and branch
                # points are offsets from it. Left out at 0, so that a simulated run writes
                # the bytes it always did; readers take a missing start for 0.
                meta["start"] = repr(engine.start)
                meta["timezone"] = engine.scene.timezone  # where its local times are read (reports)
            meta.update({k: str(v) for k, v in (metadata or {}).items()})
            self._writer.add_metadata("twin.run", meta)
            self._writer.add_metadata(packed.METADATA, self._codec.metadata())
            self._writer.add_metadata("twin.created", {"wall_clock": wallclock.strftime("%Y-%m-%dT%H:%M:%SZ", wallclock.gmtime())})
            self._open_truth(truth_every, truth_from)
            self._stream.flush()  # a disk that cannot take the header fails here, at the start
            self._whole = self._stream.tell()  # the file is whole up to here
        except OSError as exc:
            self._abandon_stream(0)
            raise RecordingError(f"cannot record to {self.path}: {_reason(exc)}") from None
        self._thread = threading.Thread(target=self._run, name="twin-recorder", daemon=True)
        self._thread.start()
        self._book = getattr(engine, "incidents", None)
        if self._book is not None:
            self._book.listeners.append(self._on_incident)
        self._keyframe(engine.time)
        if self.truth is not None:
            self._put_truth(engine.time, self.truth.start())

    def _open_truth(self, every: float, source: Path | None) -> None:
        """The ``/truth`` channel and its metadata: sampled from the simulator, or copied."""
        from twin.runs.truth import METADATA, TOPIC, TruthCopy, TruthSampler

        #: samples the simulator's truth (None without a simulator)
        self.truth: TruthSampler | None = TruthSampler(self.engine, every) if self.engine.simulator is not None else None
        self._truth_copy = TruthCopy.of(source) if source is not None and self.truth is None else None
        meta = self.truth.metadata() if self.truth is not None else self._truth_copy.metadata if self._truth_copy else None
        if meta is not None:
            self._channels[TOPIC] = self._writer.register_channel(TOPIC, "lifeline-twin.v1", schema_id=0)
            self._writer.add_metadata(METADATA, meta)

    def _put_truth(self, time: float, data: bytes | None) -> None:
        from twin.runs.truth import TOPIC

        if data is not None:
            self._put(TOPIC, time, data)
        copied = self._truth_copy
        while copied is not None and copied.messages and copied.messages[0][0] <= time + 1e-9:
            at, message = copied.messages.pop(0)
            self._put(TOPIC, at, message)

    def _keyframe(self, time: float) -> None:
        e = self.engine
        columns, alarms, stale, incidents = _keyframe_parts(e)
        # copies: the columns sent change with the next tick, while the writer packs them
        columns = {n: {f: v.copy() for f, v in fields.items()} for n, fields in columns.items()}
        size = sum(v.nbytes for fields in columns.values() for v in fields.values())
        self._keyframe_time, self._keyframe_size, self._deltas_since = time, size, 0
        self._put("/frame/keyframe", time, _Packing(self._codec.pack_keyframe, e.seq, e.time, columns, alarms, stale, incidents,
                                                    size=size))

    @property
    def failed(self) -> bool:
        """True once the recording stopped on an error (see :attr:`error`)."""
        return self.error is not None

    def _fail(self, why: str, at: float) -> None:
        """Stop recording: keep the first reason, log it once."""
        with self._error_lock:
            if self.error is not None:
                return
            kept = f"the file holds the run up to {when(self.flushed)}" if np.isfinite(self.flushed) else "the file holds no frame"
            self.error = f"recording to {self.path} stopped at {when(at)}: {why}; {kept}"
        log.error(self.error, extra={"file": str(self.path)})
        while True:  # free what will never be written
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break

    def _put(self, topic: str, time: float, data: bytes | _Packing) -> None:
        """Queue one message (or the end of a tick: topic ``_END_OF_TICK``); within
        :meth:`record`, with the rest of the tick's (see :meth:`_enqueue`)."""
        if self._tick_items is not None:
            self._tick_items.append((topic, time, data))
        else:
            self._enqueue((topic, time, data))

    def _enqueue(self, item: Any) -> None:
        """Queue one item for the writer: a message, or a tick's messages as one list (one
        hand-over a tick: each put wakes the writer thread, which then holds the GIL the
        tick waits for). A full queue is back-pressure on the tick, for at most
        STALL_SECONDS: then the writer is taken for stuck and the recording given up."""
        deadline = wallclock.monotonic() + STALL_SECONDS
        while self.error is None:
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                if wallclock.monotonic() > deadline:
                    self._fail(f"the writer took nothing for {STALL_SECONDS:g} s (a stuck disk?)", self.engine.time)

    def record(self, frame: Frame) -> None:
        """Queue one tick: its inputs, its delta, its alarm events and a keyframe when due.
        Call it right after ``engine.tick()`` returned ``frame``. Never raises; once the
        recording has failed it does nothing."""
        if self.error is not None:
            return
        self._tick_items = []
        try:
            self._record(frame)
        except Exception as exc:
            self._fail(f"encoding a frame failed: {_reason(exc)}", frame.time)
        finally:
            items, self._tick_items = self._tick_items, None
        if self.error is None:
            self._enqueue(items)
            if frame.time - self._last_time > 1.0:
                # the writer is more than a second of the run behind (what a kill may lose):
                # let it have the GIL a moment, so that a busy tick loop does not leave it
                # further behind (each tick waits up to the switch interval, 5 ms, then)
                wallclock.sleep(0)

    def _record(self, frame: Frame) -> None:
        e = self.engine
        # Packing is the writer thread's (_Packing): the tick only copies what it would
        # overwrite (the simulator's buffers); a frame's rows and values are its own.
        for batch in e.last_inputs:
            copies = tuple(a.copy() for a in batch)
            self._put("/input/readings", frame.time,
                      _Packing(self._codec.pack_batch, frame.time, copies, size=sum(a.nbytes for a in copies)))
        applied = []
        if e.simulator is not None:
            # an incident's ``at`` is an offset; the recording speaks the run's clock
            applied = [{"time": e.start + i.at, "action": i.action, "target": i.asset, "params": i.params, "who": "script"}
                       for i in e.simulator.applied[self._incidents_seen :]]
            self._incidents_seen = len(e.simulator.applied)
        applied += e.actions[self._actions_seen :]
        self._actions_seen = len(e.actions)
        for action in applied:
            self._put("/input/action", frame.time, json.dumps(action, sort_keys=True).encode())
        self._deltas_since += frame.nbytes
        self._put("/frame/delta", frame.time, _Packing(self._codec.pack_delta, frame, size=frame.nbytes))
        while self._incident_actions:
            record = self._incident_actions.popleft()
            self._put(INCIDENT_TOPIC, frame.time, json.dumps(record, sort_keys=True, ensure_ascii=False).encode())
        for event in frame.events:
            body = {"kind": event.kind, "time": event.time, "who": event.who, "note": event.note, "alarm": event.alarm}
            topic = "/operator/action" if event.kind in ("acknowledge", "dispatch", "resolve") else "/alarm/event"
            self._put(topic, frame.time, json.dumps(body, sort_keys=True, ensure_ascii=False).encode())
        self._put_truth(frame.time, self.truth.after_tick(frame) if self.truth is not None else None)
        since = frame.time - self._keyframe_time
        if since >= self.keyframe_every - 1e-9 and (self._deltas_since >= self._keyframe_size or since >= self.keyframe_within - 1e-9):
            self._keyframe(frame.time)
        self._put(_END_OF_TICK, frame.time, b"")

    def _on_incident(self, event: Any) -> None:
        """Keep a person's own action on an incident (twin.loop.incidents.IncidentEvent,
        committed) for the next tick's record; the acknowledgement the all-alarms rule
        makes names the alarm that brought it and is left out (a rerun makes it again)."""
        if event.kind not in ("acknowledge", "dispatch", "close") or event.alarm is not None or self.error is not None:
            return
        summary = event.incident
        alarms = self.engine.alarms.alarms
        members = [{"id": i, "rule": alarms[i].rule, "asset": alarms[i].asset} for i in summary["alarms"] if i in alarms]
        self._incident_actions.append({
            "kind": event.kind, "time": event.time, "who": event.who, "note": event.note,
            "unit": summary.get("dispatched_to", "") if event.kind == "dispatch" else "",
            "incident": {"id": summary["id"], "title": summary.get("title", ""), "assets": list(summary["assets"]),
                         "alarms": members},
        })

    def record_event(self, topic: str, time: float, record: dict[str, Any]) -> None:
        """Queue one JSON record of a live exercise (a topic of EXERCISE_TOPICS) at
        ``time``, the twin's clock; call it between ticks. Never raises; once the
        recording has failed it does nothing."""
        assert topic in EXERCISE_TOPICS, topic
        if self.error is None:
            self._put(topic, time, json.dumps(record, sort_keys=True, ensure_ascii=False).encode())

    def _run(self) -> None:
        time = self.engine.time
        try:
            while self.error is None:
                item = self._queue.get()
                if item is None:
                    break
                for topic, time, data in item if isinstance(item, list) else (item,):
                    self._write(topic, time, data)
        except Exception as exc:
            self._fail(f"writing failed: {_reason(exc)}", time)
            self._abandon_stream(self._whole)  # at once: the space is freed while the twin runs on

    def _write(self, topic: str, time: float, data: bytes | _Packing) -> None:
        self._last_time = time
        if isinstance(data, _Packing):
            data = data()
        if topic != _END_OF_TICK:
            if topic not in self._channels:  # an exercise's or incidents' channel, on its first record
                self._channels[topic] = self._writer.register_channel(topic, "json", schema_id=0)
            self._writer.add_message(self._channels[topic], log_time=ns(time), data=data, publish_time=ns(time))
        elif time >= self._next_flush:
            # Close the chunk and hand it to the OS: a killed process loses at most this second.
            self._writer.flush()
            self._whole, self.flushed = self._stream.tell(), time
            self._next_flush = float(np.floor(time)) + 1.0

    def _abandon_stream(self, whole: int) -> None:
        """Cut the file back to ``whole`` bytes and close it without writing what is buffered.

        The cut drops a chunk the failure left half-written (on a full disk it frees its
        space for the rest of the twin); closing the raw file leaves the buffered writer
        closed too, so nothing is flushed past the cut later."""
        try:
            os.ftruncate(self._stream.fileno(), whole)
        except (OSError, ValueError):
            pass
        try:
            self._stream.raw.close()  # type: ignore[attr-defined]
        except OSError:
            pass

    def close(self) -> None:
        """Write what is queued, then MCAP's summary and footer. Never raises: a failure is
        in :attr:`error`, and the file is readable up to its last whole chunk."""
        if self._closed:
            return
        self._closed = True
        if self._book is not None and self._on_incident in self._book.listeners:
            self._book.listeners.remove(self._on_incident)
        try:
            self._queue.put(None, timeout=STALL_SECONDS)
        except queue.Full:
            self._fail(f"the writer took nothing for {STALL_SECONDS:g} s (a stuck disk?)", self.engine.time)
        self._thread.join(timeout=None if self.error is None else STALL_SECONDS)
        if self._thread.is_alive():
            return  # stuck in a write the OS does not finish; the file stays as the writer leaves it
        if self.error is None:
            try:
                self._writer.flush()  # the last chunk first: a failure in the summary keeps it
                self._whole, self.flushed = self._stream.tell(), self._last_time
                self._writer.finish()
                self._stream.flush()
                self._stream.close()
                return
            except Exception as exc:
                self._fail(f"writing the summary failed: {_reason(exc)}", self.engine.time)
        self._abandon_stream(self._whole)


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
    #: False for a file without a usable summary (its writer was killed or its disk
    #: filled up): it is read up to its last whole chunk, which ``end`` is the time of
    complete: bool
    alarms: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class _ChunkSpan:
    offset: int  # where the chunk record starts (its opcode byte)
    length: int  # of the whole record, opcode and length included
    start: int  # log time of its first and last message, ns
    end: int
    #: log times of its keyframes (ns) when known (a scanned file); None: read them from
    #: the keyframes' MCAP message index at ``keyframe_index`` (a complete file's)
    keyframes: tuple[int, ...] | None = ()
    keyframe_index: int = -1


_RECORD_HEAD = struct.Struct("<BQ")  # opcode, length of the record's body
#: the indexes of the files read last (RecordingReader), by (device, inode, size, mtime)
_INDEXES: dict[tuple[int, int, int, int], tuple[Any, ...]] = {}
_INDEXES_KEPT = 8
_INDEXES_LOCK = threading.Lock()
_OPCODES = {int(o) for o in Opcode}


def _parse_chunk(body: bytes, validate: bool) -> list[Any]:
    """The records inside a chunk record's body; raises on a body that is not one whole chunk."""
    stream = ReadDataStream(io.BytesIO(body))
    chunk = Chunk.read(stream)
    if stream.count != len(body):
        raise ValueError("the chunk's lengths disagree with its record")
    # looked up at each call, so that bench/record.py can count the chunks a seek decodes
    return mcap.reader.breakup_chunk(chunk, validate_crc=validate)


class RecordingReader:
    """A recording opened once for many reads and seeks (a replay, a report, a rerun).

    A complete file is read through its MCAP summary: chunk indexes, channels and metadata,
    without touching the data. A file without a usable summary (its writer was killed, or
    its disk filled up) is scanned once, record by record; the scan stops at the first
    record that is cut short or corrupt (its length runs past the end of the file, an
    unknown opcode, a chunk whose CRC or compression fails) and keeps every whole chunk
    before it. Either way the readers below see the same thing: every message of every
    whole chunk, in log-time order. Safe to read from several threads.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self._stream = self.path.open("rb")
        except FileNotFoundError:
            raise RecordingError(f"{self.path}: no such recording") from None
        except OSError as exc:
            raise RecordingError(f"{self.path}: cannot read it: {_reason(exc)}") from None
        self._lock = threading.Lock()
        stat = os.fstat(self._stream.fileno())
        self.size = stat.st_size
        #: metadata records by name (``twin.run``, ``twin.created``)
        self.metadata: dict[str, dict[str, str]] = {}
        self.channels: dict[int, str] = {}
        #: each channel's message encoding: packed channels are unpacked as they are read
        self._encodings: dict[int, str] = {}
        self._codec: packed.Codec | None = None
        self._chunks: list[_ChunkSpan] = []
        # The index of this very file (same inode, size and modification time) as another
        # reader read it: a replay, a report or a seek opens the same file many times, and
        # reading an hour's summary costs more than a seek (a file still being written
        # changes size at every flush, so it is read anew)
        key = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        known = _INDEXES.get(key)
        try:
            if known is not None:
                metadata, channels, encodings, chunks, self.complete, self.used, self._keyframes = known
                # copies of what a caller could change; the chunks' spans are frozen
                self.metadata = {name: dict(m) for name, m in metadata.items()}
                self.channels, self._encodings, self._chunks = dict(channels), dict(encodings), list(chunks)
            else:
                self._keyframes: dict[int, tuple[int, ...]] = {}
                magic = self._read(0, len(MAGIC))
                if not MAGIC.startswith(magic):
                    raise RecordingError(f"{self.path}: not an MCAP recording (it does not begin with the MCAP magic bytes)")
                #: True when the file has its summary and footer; False when it was cut short
                self.complete = magic == MAGIC and self._read_summary()
                #: how many bytes of the file hold usable data (all of a complete file)
                self.used = self.size if self.complete else self._scan() if magic == MAGIC else 0
                with _INDEXES_LOCK:
                    while len(_INDEXES) >= _INDEXES_KEPT:
                        _INDEXES.pop(next(iter(_INDEXES)))
                    _INDEXES[key] = (self.metadata, self.channels, self._encodings, self._chunks, self.complete, self.used,
                                     self._keyframes)
        except BaseException:
            self._stream.close()
            raise
        run = self.metadata.get("twin.run", {})
        self.keyframe_every = float(run.get("keyframe_every", "nan"))
        self.dt = float(run.get("dt", "nan"))
        #: the run's clock start (``Engine.start``): 0 for a simulated run, UTC epoch
        #: seconds for a live one; drill times and branch points are offsets from it
        self.clock_start = float(run.get("start", "0"))
        #: the first and last moment with data (seconds); 0 for a file with none
        self.start = min((c.start for c in self._chunks), default=0) / NS
        self.end = max((c.end for c in self._chunks), default=0) / NS

    @property
    def chunks(self) -> int:
        return len(self._chunks)

    def run_metadata(self) -> dict[str, str]:
        """The ``twin.run`` metadata (scene, seed, dt...); RecordingError when the file has
        none naming a scene (not a Lifeline Twin recording, or cut before it was written)."""
        run = self.metadata.get("twin.run", {})
        if "scene_path" not in run and not self.complete:
            raise RecordingError(f"{self.path}: cut short before its twin.run metadata was written: it holds nothing to use")
        if "scene_path" not in run:
            raise RecordingError(f"{self.path}: not a Lifeline Twin recording (it has no twin.run metadata naming its scene)")
        return run

    def _read(self, offset: int, length: int) -> bytes:
        with self._lock:  # one file position, shared by every reader of this recording
            self._stream.seek(offset)
            return self._stream.read(length)

    def _read_summary(self) -> bool:
        """Take the index from MCAP's summary; False when there is none to use."""
        try:
            with self._lock:
                self._stream.seek(0)
                reader = SeekingReader(self._stream)
                summary = reader.get_summary()
                if summary is None or not summary.chunk_indexes:
                    return False
                metadata = {m.name: dict(m.metadata) for m in reader.iter_metadata()}
        except Exception:  # no footer, or a summary cut or corrupt: the scan reads what is there
            return False
        self.metadata = metadata
        self.channels = {i: c.topic for i, c in summary.channels.items()}
        self._encodings = {i: c.message_encoding for i, c in summary.channels.items()}
        keyframe_ids = [i for i, topic in self.channels.items() if topic == "/frame/keyframe"]

        def span(c: Any) -> _ChunkSpan:
            # where the chunk's keyframes are listed, if it holds any: read when a seek needs them
            index = next((c.message_index_offsets[i] for i in keyframe_ids if i in c.message_index_offsets), -1)
            return _ChunkSpan(c.chunk_start_offset, c.chunk_length, c.message_start_time, c.message_end_time,
                              None if index >= 0 else (), index)

        self._chunks = sorted((span(c) for c in summary.chunk_indexes), key=lambda c: (c.start, c.offset))
        return True

    def _scan(self) -> int:
        """Index a file without a summary; returns the offset where its usable data ends."""
        pos = len(MAGIC)
        while pos + _RECORD_HEAD.size <= self.size:
            opcode, length = _RECORD_HEAD.unpack(self._read(pos, _RECORD_HEAD.size))
            end = pos + _RECORD_HEAD.size + length
            if opcode not in _OPCODES or end > self.size:
                break  # a record the cut went through, or bytes that are no record at all
            if opcode in (Opcode.DATA_END, Opcode.FOOTER):
                pos = end
                break  # the data section is whole; only its summary was unusable
            if opcode in (Opcode.CHUNK, Opcode.METADATA, Opcode.CHANNEL):
                body = self._read(pos + _RECORD_HEAD.size, length)
                try:
                    if opcode == Opcode.CHUNK:
                        # CRCs are checked here only: a complete file's summary vouches for it
                        records = _parse_chunk(body, validate=True)
                    else:
                        stream = ReadDataStream(io.BytesIO(body))
                        records = [(Metadata if opcode == Opcode.METADATA else Channel).read(stream)]
                except Exception:
                    break  # corrupt: everything before it is kept
                times = [r.log_time for r in records if isinstance(r, Message)]
                for r in records:
                    if isinstance(r, Channel):
                        self.channels[r.id] = r.topic
                        self._encodings[r.id] = r.message_encoding
                    elif isinstance(r, Metadata):
                        self.metadata[r.name] = dict(r.metadata)
                if times:
                    keyframes = tuple(r.log_time for r in records
                                      if isinstance(r, Message) and self.channels.get(r.channel_id) == "/frame/keyframe")
                    self._chunks.append(_ChunkSpan(pos, end - pos, min(times), max(times), keyframes))
            pos = end
        self._chunks.sort(key=lambda c: (c.start, c.offset))
        return pos

    def _keyframe_times(self, chunk: _ChunkSpan) -> tuple[int, ...]:
        """Log times (ns) of a chunk's keyframes, from its MCAP message index when the
        summary was read: a small read, no chunk decompressed, once per file."""
        if chunk.keyframes is not None:
            return chunk.keyframes
        known = self._keyframes.get(chunk.offset)
        if known is None:
            known = self._keyframes[chunk.offset] = self._read_keyframe_times(chunk)
        return known

    def _read_keyframe_times(self, chunk: _ChunkSpan) -> tuple[int, ...]:
        opcode, length = _RECORD_HEAD.unpack(self._read(chunk.keyframe_index, _RECORD_HEAD.size))
        if opcode != Opcode.MESSAGE_INDEX:
            raise RecordingError(f"{self.path}: the summary points at no message index at byte {chunk.keyframe_index}")
        body = self._read(chunk.keyframe_index + _RECORD_HEAD.size, length)
        return tuple(t for t, _ in MessageIndex.read(ReadDataStream(io.BytesIO(body))).records)

    def _records(self, chunk: _ChunkSpan) -> list[Any]:
        return _parse_chunk(self._read(chunk.offset + _RECORD_HEAD.size, chunk.length - _RECORD_HEAD.size), validate=False)

    def codec(self) -> packed.Codec:
        """The recording's packing (its ``twin.codec`` metadata); RecordingError if it has none."""
        if self._codec is None:
            meta = self.metadata.get(packed.METADATA)
            if meta is None:
                raise RecordingError(f"{self.path}: packed messages but no {packed.METADATA} metadata to unpack them with")
            try:
                self._codec = packed.Codec.from_metadata(meta)
            except (ValueError, KeyError, msgspec.DecodeError) as exc:
                raise RecordingError(f"{self.path}: its {packed.METADATA} metadata is unusable: {exc}") from None
        return self._codec

    def _plain(self, topic: str, encoding: str, data: bytes) -> bytes:
        """A message as the recorder was given it: a packed one unpacked."""
        if encoding == packed.READINGS_ENCODING:
            return encode_batch(*self.codec().unpack_batch(data))
        if encoding == packed.FRAMES_ENCODING:
            return self.codec().unpack_delta(data) if topic == "/frame/delta" else self.codec().unpack_keyframe(data)
        return data

    def messages(self, topics: Iterable[str] | None = None, start: int | None = None, end: int | None = None,
                 after: int | None = None, stored: bool = False) -> Iterator[tuple[str, int, bytes]]:
        """(topic, log time in ns, data) of the messages on ``topics`` (all when None) with
        ``start <= time <= end`` and ``time > after`` (each bound left out when None), in
        log-time order (file order among equal times). Only the chunks that span that
        stretch are read. Packed messages (readings, frames: :mod:`twin.runs.packed`) come
        back as the recorder was given them (:func:`decode_batch` reads a batch, protocol
        v1 a frame), the bytes on file with ``stored``."""
        for topic, t, encoding, data in self._messages(topics, start, end, after):
            yield topic, t, data if stored else self._plain(topic, encoding, data)

    def _messages(self, topics: Iterable[str] | None, start: int | None, end: int | None,
                  after: int | None) -> Iterator[tuple[str, int, str, bytes]]:
        wanted = None if topics is None else set(topics)
        low = start if after is None else (after + 1 if start is None else max(start, after + 1))
        pending: list[tuple[int, int, str, str, bytes]] = []  # read, not yet given: (time, order, topic, encoding, data)
        order = 0
        for chunk in self._chunks:
            if (low is not None and chunk.end < low) or (end is not None and chunk.start > end):
                continue
            # chunks are sorted by their first time: no later chunk has a message before it
            pending.sort(key=lambda m: (m[0], m[1]))
            ready = sum(1 for m in pending if m[0] < chunk.start)
            for t, _, topic, encoding, data in pending[:ready]:
                yield topic, t, encoding, data
            del pending[:ready]
            for record in self._records(chunk):
                if not isinstance(record, Message):
                    continue
                topic = self.channels.get(record.channel_id)
                t = record.log_time
                if topic is None or (wanted is not None and topic not in wanted):
                    continue
                if (low is not None and t < low) or (end is not None and t > end):
                    continue
                pending.append((t, order, topic, self._encodings.get(record.channel_id, ""), record.data))
                order += 1
        pending.sort(key=lambda m: (m[0], m[1]))
        for t, _, topic, encoding, data in pending:
            yield topic, t, encoding, data

    def seek(self, time: float) -> tuple[bytes, list[bytes]]:
        """The last keyframe at or before ``time`` and the deltas after it up to ``time``,
        reading only the chunks that span that stretch: the keyframe is found in the
        chunks' message indexes, whatever the keyframes' schedule."""
        target = ns(time)
        for chunk in reversed(self._chunks):
            if chunk.start > target:
                continue
            before = [t for t in self._keyframe_times(chunk) if t <= target]
            if not before:
                continue
            keyframe: bytes | None = None
            deltas: list[bytes] = []
            for topic, _, data in self.messages(("/frame/keyframe", "/frame/delta"), start=max(before), end=target):
                if topic == "/frame/keyframe":
                    keyframe, deltas = data, []
                elif keyframe is not None:
                    deltas.append(data)
            if keyframe is not None:
                return keyframe, deltas
        raise RecordingError(f"{self.path}: no keyframe at or before {when(time)}"
                             + ("" if self.complete else f" (the file was cut short; it holds data up to {when(self.end)})"))

    def info(self) -> RecordingInfo:
        """What is in the recording (reads every message once)."""
        counts: dict[str, int] = {t: 0 for t in TOPICS}
        alarms = []
        for topic, _, data in self.messages():
            counts[topic] = counts.get(topic, 0) + 1
            if topic == "/alarm/event":
                alarms.append(json.loads(data))
        return RecordingInfo(self.path, self.metadata.get("twin.run", {}), self.metadata.get("twin.created", {}).get("wall_clock", ""),
                             self.start, self.end, counts, self.chunks, self.complete, alarms)

    def close(self) -> None:
        self._stream.close()


def info(path: Path) -> RecordingInfo:
    """What is in a recording; a file cut short is read up to its last whole chunk."""
    reader = RecordingReader(path)
    try:
        return reader.info()
    finally:
        reader.close()


def read_stream(path: Path, topics: tuple[str, ...] | None = None) -> Iterator[tuple[str, float, bytes]]:
    """Every message in log-time order: (topic, simulation time, data). A file cut short is
    read up to its last whole chunk."""
    reader = RecordingReader(path)
    try:
        for topic, t, data in reader.messages(topics):
            yield topic, t / NS, data
    finally:
        reader.close()


def seek(path: Path, time: float) -> tuple[bytes, list[bytes]]:
    """The state at ``time``: the last keyframe at or before it and the deltas after it,
    read through the recording's index (only the chunks that hold them are decoded)."""
    reader = RecordingReader(path)
    try:
        return reader.seek(time)
    finally:
        reader.close()


def read_truth(path: Path, until: float | None = None) -> Any:
    """The ground truth a recording keeps beside the measurement
    (:class:`twin.runs.truth.Truth`: ``.series[(asset, field)]`` is a
    :class:`~twin.runs.truth.TruthSeries` with ``times``, ``values``, ``unit`` and
    ``kind``, "measured" or "risk"), or None when it keeps none (a twin fed by real
    sensors, an older recording)."""
    from twin.runs.truth import read_truth as read

    return read(path, until)
