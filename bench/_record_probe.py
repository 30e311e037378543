"""Instruments for bench/record.py: a timed MCAP writer (the recorder's writer thread),
a recorder that counts what it queues, and a counter of the chunks a reader decodes.

Nothing in ``twin/`` is changed: ``twin.runs.recording.Writer`` and ``mcap.reader.breakup_chunk``
are swapped for timed wrappers while the bench runs, and :class:`CountingRecorder` is a
subclass of :class:`twin.runs.recording.Recorder` that only adds counting to ``_put``.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

import mcap.reader
import mcap.writer
import zstandard

import twin.runs.recording as rec


class Clock:
    """Seconds and counts by key; each key is touched by one thread only."""

    def __init__(self) -> None:
        self.s: dict[str, float] = defaultdict(float)
        self.n: dict[str, int] = defaultdict(int)
        self.seen: set[tuple[int, ...]] = set()

    def reset(self) -> None:
        self.s.clear()
        self.n.clear()
        self.seen.clear()


WRITER = Clock()   # writer thread: add_message, flush, compress, stream write
TICK = Clock()     # tick thread: encode parts of record(), queue.put
READ = Clock()     # readers: chunks decoded


class TimedStream:
    """The recorder's file, timing and counting the bytes the MCAP writer hands it."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, data: Any) -> int:
        t0 = time.perf_counter()
        n = self._stream.write(data)
        WRITER.s["io"] += time.perf_counter() - t0
        WRITER.n["file_bytes"] += len(data)
        return n

    def flush(self) -> None:
        t0 = time.perf_counter()
        self._stream.flush()
        WRITER.s["io"] += time.perf_counter() - t0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _TimedZstd:
    """Stands in for the ``zstandard`` module inside ``mcap.writer``: times compress()."""

    @staticmethod
    def compress(data: bytes, *args: Any) -> bytes:
        t0 = time.perf_counter()
        out = zstandard.compress(data, *args)
        WRITER.s["compress"] += time.perf_counter() - t0
        WRITER.n["chunks"] += 1
        WRITER.n["chunk_in"] += len(data)
        WRITER.n["chunk_out"] += len(out)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(zstandard, name)


class TimedWriter(mcap.writer.Writer):
    """mcap's Writer with its calls on the writer thread timed (wall and thread CPU)."""

    def __init__(self, stream: Any, **kwargs: Any) -> None:
        super().__init__(TimedStream(stream), **kwargs)

    def _timed(self, key: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            WRITER.s[key] += time.perf_counter() - t0
            WRITER.s["cpu"] += time.thread_time() - c0
            WRITER.n[key] += 1

    def add_message(self, channel_id: int, log_time: int, data: bytes, publish_time: int, sequence: int = 0) -> None:
        WRITER.n["payload_bytes"] += len(data)
        if WRITER.n["sampled"] < SAMPLE_BYTES:  # the first payloads as written (packed), for the raw-write baseline
            SAMPLE.append(data)
            WRITER.n["sampled"] += len(data)
        self._timed("add_message", super().add_message, channel_id, log_time, data, publish_time, sequence)

    def flush(self) -> None:
        self._timed("flush", super().flush)

    def finish(self) -> None:
        self._timed("finish", super().finish)


#: the first payloads the writer hands MCAP (packed), for the raw-write baseline
SAMPLE: list[bytes] = []
SAMPLE_BYTES = 256 * 2**20


class CountingRecorder(rec.Recorder):
    """A Recorder that counts what it queues (plain bytes: the writer thread packs them)
    and times ``queue.put``; the payload the writer writes (packed) is the TimedWriter's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        SAMPLE.clear()
        self.queued_bytes = 0
        self.queued = 0
        self.ticks = 0
        super().__init__(*args, **kwargs)

    @property
    def sample(self) -> list[bytes]:
        return SAMPLE

    def _put(self, topic: str, time_: float, data: Any) -> None:
        self.queued_bytes += len(data)
        self.queued += 1
        super()._put(topic, time_, data)

    def _enqueue(self, item: Any) -> None:
        t0 = time.perf_counter()
        super()._enqueue(item)
        TICK.s["queue_put"] += time.perf_counter() - t0

    def backlog(self) -> int:
        """Plain bytes queued and not yet taken by the writer thread (ticks waiting, at
        the mean plain size of a tick's messages)."""
        return int(self._queue.qsize() * self.queued_bytes / max(1, self.ticks))

    def record(self, frame: Any) -> None:
        self.ticks += 1
        super().record(frame)


def _timed_encoder(name: str, fn: Any) -> Any:
    """Times ``fn`` on the tick thread (TICK) or, packing on the writer thread, as the
    writer's ``pack`` (WRITER: wall and thread CPU, part of its busy time)."""
    def timed(*args: Any) -> Any:
        on_tick = threading.current_thread() is threading.main_thread()
        t0, c0 = time.perf_counter(), time.thread_time()
        out = fn(*args)
        if on_tick:
            TICK.s[name] += time.perf_counter() - t0
            TICK.n[name] += 1
        else:
            WRITER.s["pack"] += time.perf_counter() - t0
            WRITER.s["cpu"] += time.thread_time() - c0
            WRITER.s[f"pack_{name}"] += time.perf_counter() - t0
        return out
    return timed


_originals: dict[str, Any] = {}


def install() -> None:
    """Swap in the timed writer, encoders and chunk counter (idempotent)."""
    if _originals:
        return
    codec = rec.packed.Codec
    _originals.update(Writer=rec.Writer, zstd=mcap.writer.zstandard, breakup=mcap.reader.breakup_chunk,
                      delta=codec.pack_delta, keyframe=codec.pack_keyframe, batch=codec.pack_batch)
    rec.Writer = TimedWriter  # type: ignore[misc]
    mcap.writer.zstandard = _TimedZstd()  # type: ignore[assignment]
    # the recorder packs through its Codec (twin.runs.packed): time its methods
    codec.pack_delta = _timed_encoder("encode_delta", codec.pack_delta)  # type: ignore[method-assign]
    codec.pack_keyframe = _timed_encoder("encode_keyframe", codec.pack_keyframe)  # type: ignore[method-assign]
    codec.pack_batch = _timed_encoder("encode_readings", codec.pack_batch)  # type: ignore[method-assign]
    breakup = mcap.reader.breakup_chunk

    def counted(chunk: Any, *args: Any, **kwargs: Any) -> Any:
        READ.n["chunks"] += 1
        READ.n["chunk_bytes"] += chunk.uncompressed_size
        READ.seen.add((chunk.message_start_time, chunk.message_end_time, chunk.uncompressed_crc, chunk.uncompressed_size))
        return breakup(chunk, *args, **kwargs)

    mcap.reader.breakup_chunk = counted
