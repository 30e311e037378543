"""The pending log: readings appended since the last seal, one framed record per batch.

A batch is committed when :meth:`PendingLog.append` returns: its bytes are in the
kernel's page cache, which a killed process does not lose (a power cut may; the alarm
store is the place for fsync). A record cut by a kill (short, or its CRC wrong) ends the
log: it and anything after it are dropped when the log is read back.

Logs have generations, ``log-<gen>.bin``. A seal starts generation g+1 holding the
readings it did not seal (one record flagged *carried*), then commits the sealed blobs
and ``log_gen = g+1`` in SQLite, then removes generation g. Reading back, every log of
generation >= the committed one is replayed in order, except the carried records of a
log newer than the committed generation: the seal that wrote them did not commit, so
their readings are still in the older log.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

MAGIC = 0x5457484C  # "TWHL"
_HEAD = struct.Struct("<IBII")  # magic, flags, readings, crc32 of the body
CARRIED = 1
#: bytes of one reading in a record: sensor int32, time int64 ms, value float32, quality uint8
READING_BYTES = 17

Batch = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def log_path(folder: Path, gen: int) -> Path:
    return folder / f"log-{gen:08d}.bin"


def generations(folder: Path) -> list[int]:
    out = []
    for p in folder.glob("log-*.bin"):
        try:
            out.append(int(p.stem[4:]))
        except ValueError:
            continue
    return sorted(out)


def _record(batch: Batch, flags: int) -> bytes:
    sensor, t, value, quality = batch
    body = b"".join((sensor.astype("<i4", copy=False).tobytes(), t.astype("<i8", copy=False).tobytes(),
                     value.astype("<f4", copy=False).tobytes(), quality.astype(np.uint8, copy=False).tobytes()))
    return _HEAD.pack(MAGIC, flags, len(sensor), zlib.crc32(body)) + body


class PendingLog:
    """Appends records to ``log-<gen>.bin`` in ``folder``."""

    def __init__(self, folder: Path, gen: int) -> None:
        self.folder, self.gen = folder, gen
        self.file = log_path(folder, gen).open("ab")

    def append(self, batch: Batch, flags: int = 0) -> None:
        """Write one batch; it survives a process kill once this returns."""
        self.file.write(_record(batch, flags))
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def read(path: Path, skip_carried: bool) -> tuple[list[Batch], int]:
    """The batches of a log up to its first damaged record, and the byte length of that
    good prefix (the rest is a kill's torn write)."""
    data = path.read_bytes()
    out: list[Batch] = []
    pos = 0
    while pos + _HEAD.size <= len(data):
        magic, flags, n, crc = _HEAD.unpack_from(data, pos)
        end = pos + _HEAD.size + n * READING_BYTES
        if magic != MAGIC or end > len(data):
            break
        body = memoryview(data)[pos + _HEAD.size:end]
        if zlib.crc32(body) != crc:
            break
        if not (skip_carried and flags & CARRIED):
            b = np.frombuffer(body, dtype=np.uint8)
            out.append((b[: 4 * n].view("<i4").astype(np.int32), b[4 * n: 12 * n].view("<i8").astype(np.int64),
                        b[12 * n: 16 * n].view("<f4").astype(np.float32), b[16 * n: 17 * n].copy()))
        pos = end
    return out, pos
