"""Blob encodings of one sensor's readings over a span (raw) and of its per-minute
aggregates over a day (downsampled).

Both are columns cut into byte planes (the k-th byte of every element together, as
blosc's shuffle and Parquet's BYTE_STREAM_SPLIT do: the slowly changing high bytes of
times and values line up) and compressed with zstd. Times are milliseconds, stored as
int32 differences from the span's start (the first) and from each other (the rest), so a
sensor reporting every minute gives nearly constant deltas. bench/history.py measured
this at about 4.4 bytes per reading of noisy 1/min sensors, sealed by the hour.
"""

from __future__ import annotations

import numpy as np
import zstandard

_cctx = zstandard.ZstdCompressor(level=3)
_dctx = zstandard.ZstdDecompressor()


def planes(a: np.ndarray) -> np.ndarray:
    """Byte planes of ``a`` [rows, n]: [rows, n * itemsize], byte k of every element together."""
    rows, n = a.shape
    return np.ascontiguousarray(a.view(np.uint8).reshape(rows, n, a.itemsize).transpose(0, 2, 1)).reshape(rows, n * a.itemsize)


def unplanes(raw: np.ndarray, n: int, dtype: type) -> np.ndarray:
    """The inverse of :func:`planes` for one row of ``n`` elements."""
    size = np.dtype(dtype).itemsize
    return np.ascontiguousarray(raw[: n * size].reshape(size, n).T).view(dtype).ravel()


def encode_rows(start_ms: int | np.ndarray, t: np.ndarray, value: np.ndarray, quality: np.ndarray) -> list[bytes]:
    """One blob per row of ``t`` [rows, n] (int64 ms, sorted within a row), ``value``
    [rows, n] float32, ``quality`` [rows, n] uint8: many sensors with as many readings
    each, in one numpy pass. ``start_ms``: one start for all rows or one per row; every
    time must lie within 2**31 ms (24 days) of its row's start."""
    dt = np.diff(t - np.asarray(start_ms, dtype=np.int64).reshape(-1, 1), axis=1, prepend=0).astype(np.int32)
    body = np.hstack([planes(dt), planes(value.astype(np.float32, copy=False)), quality.astype(np.uint8, copy=False)])
    compress = _cctx.compress
    return [compress(row.data) for row in body]


def encode(start_ms: int, t: np.ndarray, value: np.ndarray, quality: np.ndarray) -> bytes:
    """One sensor's readings over a span as a blob (see :func:`encode_rows`)."""
    return encode_rows(start_ms, t[None], value[None], quality[None])[0]


def decode(start_ms: int, n: int, blob: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time int64 ms, value float32, quality uint8) of a blob from :func:`encode`."""
    raw = np.frombuffer(_dctx.decompress(blob), dtype=np.uint8)
    t = np.cumsum(unplanes(raw, n, np.int32), dtype=np.int64) + start_ms
    value = unplanes(raw[4 * n:], n, np.float32)
    quality = raw[8 * n: 9 * n].copy()
    return t, value, quality


def encode_minutes(start_ms: int, minute: np.ndarray, lo: np.ndarray, mean: np.ndarray, hi: np.ndarray, count: np.ndarray) -> bytes:
    """A sensor's per-minute aggregates: the minute's start (ms), min, mean, max (float32)
    and the count of readings (uint32)."""
    dt = np.diff(minute - start_ms, prepend=0).astype(np.int32)
    body = np.concatenate([planes(a.astype(dt_, copy=False)[None])[0] for a, dt_ in
                           ((dt, np.int32), (lo, np.float32), (mean, np.float32), (hi, np.float32), (count, np.uint32))])
    return _cctx.compress(body.data)


def decode_minutes(start_ms: int, n: int, blob: bytes) -> tuple[np.ndarray, ...]:
    """(minute start int64 ms, min, mean, max float32, count uint32) of :func:`encode_minutes`."""
    raw = np.frombuffer(_dctx.decompress(blob), dtype=np.uint8)
    minute = np.cumsum(unplanes(raw, n, np.int32), dtype=np.int64) + start_ms
    lo, mean, hi = (unplanes(raw[4 * n * (k + 1):], n, np.float32) for k in range(3))
    count = unplanes(raw[16 * n:], n, np.uint32)
    return minute, lo, mean, hi, count
