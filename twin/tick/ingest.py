"""Ingest: validate readings, map sensor to (domain, asset row, field), keep the last
good value of each sensor and write it into the twin's state.

Bad readings are dropped and counted by reason; the last good value stays, marked
stale once it is older than the sensor's ``stale_after``.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable

import numba
import numpy as np

from twin.logs import Throttle
from twin.types import Reading, Sensor
from twin.tick.world import World

log = logging.getLogger("twin.ingest")

#: (sensor index, time, value, quality) arrays; sensor index -1 means an unknown sensor
ReadingBatch = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

#: reasons a reading is rejected, in the order the compiled pass checks them; its
#: ``counts`` are indexed by position here. ``bad_topic`` (and ``malformed``, for payloads
#: that never became readings) are counted by the sources (twin.sources) before ingest.
REJECT_REASONS = ("unknown_sensor", "malformed", "bad_quality", "not_finite", "out_of_range", "too_old", "in_future",
                  "duplicate", "bad_topic")


@numba.njit(cache=True, nogil=True)
def _validate_and_keep(index, times, values, quality, low, high, oldest, newest, last_time, last_value, counts):  # pragma: no cover
    """One pass over a batch: reject by the first failing check (counted in the order of
    REJECT_REASONS), keep each sensor's latest good reading (a later time wins; an older
    reading arriving late is good but changes nothing). A reading at the very time of the
    sensor's last good one is a duplicate (a QoS 1 redelivery, a device's retry): the first
    one stays, so that a reading is applied once. Returns how many were good."""
    return _judge(index, times, values, quality, low, high, oldest, newest, last_time, last_value, counts,
                  np.empty(0, dtype=np.bool_))


@numba.njit(cache=True, nogil=True)
def _judge(index, times, values, quality, low, high, oldest, newest, last_time, last_value, counts, good_mask):  # pragma: no cover
    """:func:`_validate_and_keep`, also setting ``good_mask[i]`` for each good reading
    when ``good_mask`` is as long as the batch (an empty one is not written)."""
    mark = good_mask.shape[0] == index.shape[0]
    good = 0
    n_sensors = low.shape[0]
    for i in range(index.shape[0]):
        s = index[i]
        v = values[i]
        t = times[i]
        if s < 0 or s >= n_sensors:
            counts[0] += 1
        elif quality[i] != 0:
            counts[2] += 1
        elif not np.isfinite(v):
            counts[3] += 1
        elif v < low[s] or v > high[s]:
            counts[4] += 1
        elif not np.isfinite(t):
            counts[1] += 1  # a reading without a usable time is malformed
        elif t < oldest:
            counts[5] += 1
        elif t > newest:
            counts[6] += 1
        elif t == last_time[s]:
            counts[7] += 1
        else:
            good += 1
            if mark:
                good_mask[i] = True
            if t > last_time[s]:
                last_time[s] = t
                last_value[s] = v
    return good


@numba.njit(cache=True, nogil=True)
def _mark_stale(now, last_time, stale_after, stale):  # pragma: no cover - compiled
    """stale[s] = the sensor's last good reading is older than its stale_after, in place."""
    for s in range(stale.shape[0]):
        stale[s] = now - last_time[s] > stale_after[s]


@numba.njit(cache=True, nogil=True)
def _assimilate(column, rows, idx, last_value):  # pragma: no cover - compiled
    """column[rows[j]] = last_value[idx[j]] wherever that value is a number (NaN: the
    sensor has not reported yet). One pass, no temporaries; compiled per column dtype."""
    for j in range(rows.shape[0]):
        v = last_value[idx[j]]
        if v == v:
            column[rows[j]] = v


def sensor_columns(sensors: list[Sensor], world: World) -> tuple[list[tuple[str, str, np.ndarray, np.ndarray]], np.ndarray, np.ndarray]:
    """Sensors grouped by the state column they feed, so that each column is read or
    written with one call: ``[(domain, field, sensor indices, rows)]`` sorted by
    (domain, field); and each sensor's valid range (low, high) from its field."""
    low, high = np.empty(len(sensors)), np.empty(len(sensors))
    by_column: dict[tuple[str, str], tuple[list[int], list[int]]] = {}
    for i, s in enumerate(sensors):
        table, row = world.locate(s.asset)
        low[i], high[i] = table.specs[s.field].valid
        idx, rows = by_column.setdefault((table.domain.name, s.field), ([], []))
        idx.append(i)
        rows.append(row)
    groups = [(domain, field, np.array(idx, dtype=np.int64), np.array(rows, dtype=np.int64))
              for (domain, field), (idx, rows) in sorted(by_column.items())]
    return groups, low, high


class Ingest:
    def __init__(self, sensors: list[Sensor], world: World, max_future: float = 60.0, max_age: float = 3600.0) -> None:
        self.world = world
        self.sensors = sensors
        self.sensor_index = {s.id: i for i, s in enumerate(sensors)}
        self.max_future, self.max_age = max_future, max_age
        n = len(sensors)
        self.last_value = np.full(n, np.nan, dtype=np.float64)
        self.last_time = np.full(n, -np.inf, dtype=np.float64)
        self.stale_after = np.array([s.stale_after for s in sensors], dtype=np.float64)
        self.stale = np.ones(n, dtype=bool)
        self.groups, self.low, self.high = sensor_columns(sensors, world)
        self.accepted = 0
        #: keep each tick's accepted readings for :meth:`take_accepted` (the history sets it)
        self.keep_accepted = False
        self._accepted: list[ReadingBatch] = []
        self.rejected: Counter[str] = Counter()
        self._inbox: list[Reading] = []
        self._inbox_batches: list[ReadingBatch] = []
        self._inbox_lock = threading.Lock()
        #: refused readings are logged at most once a minute per sensor
        self.reject_log = Throttle(60.0)

    # -- from other threads (MQTT, HTTP) -----------------------------------------------
    def submit(self, readings: Iterable[Reading]) -> None:
        """Queue readings from any thread; they are validated at the next tick."""
        with self._inbox_lock:
            self._inbox.extend(readings)

    def submit_arrays(self, batch: ReadingBatch) -> None:
        """Queue a batch already in arrays (sensor index, time, value, quality; index -1
        for an unknown sensor) from any thread: a source that reads thousands of messages
        a second (MQTT) makes no Reading per message. The arrays are the source's to give
        away: they are read at the next tick, not copied."""
        with self._inbox_lock:
            self._inbox_batches.append(batch)

    def reject(self, reason: str, count: int = 1) -> None:
        """Count readings a source could not even parse; from any thread."""
        if reason not in REJECT_REASONS:
            raise ValueError(f"reject reason {reason!r} is not one of {', '.join(REJECT_REASONS)}")
        self._count(reason, count)

    def _count(self, reason: str, count: int) -> None:
        # Sources count from their threads while the tick reads the counts (metrics): a
        # new reason replaces the Counter rather than growing the one being iterated.
        with self._inbox_lock:
            if reason in self.rejected:
                self.rejected[reason] += count
            else:
                self.rejected = self.rejected + Counter({reason: count})

    def take_inbox(self) -> ReadingBatch | None:
        """The readings queued by :meth:`submit` and :meth:`submit_arrays` since the last
        call, as one batch of arrays (the array batches in their order, then the others)."""
        with self._inbox_lock:
            inbox, self._inbox = self._inbox, []
            batches, self._inbox_batches = self._inbox_batches, []
        if inbox:
            batches.append((
                np.array([self.sensor_index.get(r.sensor, -1) for r in inbox], dtype=np.int64),
                np.array([r.time for r in inbox], dtype=np.float64),
                np.array([r.value for r in inbox], dtype=np.float64),
                np.array([r.quality for r in inbox], dtype=np.int64),
            ))
        if len(batches) <= 1:
            return batches[0] if batches else None
        return tuple(np.concatenate([b[i] for b in batches]) for i in range(4))  # type: ignore[return-value]

    # -- on the tick -------------------------------------------------------------------
    def accept_arrays(self, index: np.ndarray, times: np.ndarray, values: np.ndarray, quality: np.ndarray, now: float) -> int:
        """Validate a batch (sensor index -1 means unknown); keep the good ones; count
        the bad ones by reason, in the order of :data:`REJECT_REASONS`."""
        counts = np.zeros(len(REJECT_REASONS), dtype=np.int64)
        index, times = np.ascontiguousarray(index, dtype=np.int64), np.ascontiguousarray(times, dtype=np.float64)
        values, quality = np.ascontiguousarray(values, dtype=np.float64), np.ascontiguousarray(quality, dtype=np.int64)
        mask = np.zeros(len(index), dtype=np.bool_)  # the history keeps the good ones; the reject log names the others
        good = _judge(index, times, values, quality, self.low, self.high, now - self.max_age, now + self.max_future,
                      self.last_time, self.last_value, counts, mask)
        for reason, n in zip(REJECT_REASONS, counts):
            if n:
                self._count(reason, int(n))
        self.accepted += int(good)
        if good < len(index):
            self._log_rejects(index, times, values, quality, ~mask, now)
        if self.keep_accepted and good:
            # copies (boolean indexing): a source's arrays (the simulator's buffers) change next tick
            self._accepted.append((index[mask], times[mask], values[mask], quality[mask]))
        return int(good)

    def take_accepted(self) -> ReadingBatch | None:
        """The readings accepted since the last call (every batch of the tick, in order),
        as (sensor index, time, value, quality) arrays; None when there were none. Kept
        only while :attr:`keep_accepted` is set."""
        batches, self._accepted = self._accepted, []
        if not batches:
            return None
        if len(batches) == 1:
            return batches[0]
        return tuple(np.concatenate([b[i] for b in batches]) for i in range(4))  # type: ignore[return-value]

    def assimilate(self, now: float) -> None:
        """Write each sensor's last good value over the model's value of its row."""
        _mark_stale(now, self.last_time, self.stale_after, self.stale)  # in place: no fresh pages a tick
        for domain, field, idx, rows in self.groups:
            _assimilate(self.world.tables[domain].columns[field], rows, idx, self.last_value)

    # -- the reject log ----------------------------------------------------------------
    def _log_rejects(self, index: np.ndarray, times: np.ndarray, values: np.ndarray, quality: np.ndarray,
                     refused: np.ndarray, now: float, most: int = 20) -> None:
        """Log the refused readings of a batch, at most once a minute per sensor (and at
        most ``most`` lines a batch: a flood says how many sensors it left unsaid). The
        compiled pass counts by reason; the reason of each refused reading is found again
        here, only for batches that had one: the first check it fails in the pass's order,
        or ``duplicate`` when it fails none of the others."""
        where = np.flatnonzero(refused)
        s, t, v, q = index[where], times[where], values[where], quality[where]
        known = (s >= 0) & (s < len(self.low))
        si = np.where(known, s, 0)
        checks = [~known, q != 0, ~np.isfinite(v), (v < self.low[si]) | (v > self.high[si]), ~np.isfinite(t),
                  t < now - self.max_age, t > now + self.max_future]
        reasons = ("unknown_sensor", "bad_quality", "not_finite", "out_of_range", "malformed", "too_old", "in_future")
        code = np.select(checks, [REJECT_REASONS.index(r) for r in reasons], default=REJECT_REASONS.index("duplicate"))
        logged = 0
        firsts = np.unique(s, return_index=True)[1].tolist()  # the first refused reading of each sensor
        for n, k in enumerate(firsts):
            if logged == most:  # the rest wait for a later batch
                log.warning("ingest: readings of more sensors refused", extra={"sensors": len(firsts) - n})
                break
            sensor = self.sensors[int(s[k])].id if known[k] else None
            if not self.reject_log.allow(sensor):
                continue
            logged += 1
            log.warning("ingest: reading refused", extra={
                "reason": REJECT_REASONS[int(code[k])], "sensor": sensor if sensor is not None else "(unknown)",
                "t": float(t[k]), "v": float(v[k]), "q": int(q[k]), "refused_in_batch": int(np.count_nonzero(s == s[k]))})
