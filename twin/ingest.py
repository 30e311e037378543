"""Ingest: validate readings, map sensor to (domain, asset row, field), keep the last
good value of each sensor and write it into the twin's state.

Bad readings are dropped and counted by reason; the last good value stays, marked
stale once it is older than the sensor's ``stale_after``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable

import numba
import numpy as np

from twin.types import Reading, Sensor
from twin.world import World

#: (sensor index, time, value, quality) arrays; sensor index -1 means an unknown sensor
ReadingBatch = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

#: reasons a reading is rejected, in the order they are checked
REJECT_REASONS = ("unknown_sensor", "malformed", "bad_quality", "not_finite", "out_of_range", "too_old", "in_future")


@numba.njit(cache=True, nogil=True)
def _keep_latest(index, times, values, ok, last_time, last_value):  # pragma: no cover - compiled
    """Keep each sensor's latest good reading. A later reading wins, and of two with the
    same time the one later in the batch; an older one arriving late changes nothing."""
    for i in range(index.shape[0]):
        if ok[i]:
            s = index[i]
            if times[i] >= last_time[s]:
                last_time[s] = times[i]
                last_value[s] = values[i]


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
        lo = np.empty(n)
        hi = np.empty(n)
        # Sensors grouped by the column they feed, so assimilation is one fancy-index each.
        self.groups: list[tuple[str, str, np.ndarray, np.ndarray]] = []
        by_column: dict[tuple[str, str], tuple[list[int], list[int]]] = {}
        for i, s in enumerate(sensors):
            table, row = world.locate(s.asset)
            spec = table.specs[s.field]
            lo[i], hi[i] = spec.valid
            key = (table.domain.name, s.field)
            by_column.setdefault(key, ([], []))
            by_column[key][0].append(i)
            by_column[key][1].append(row)
        self.low, self.high = lo, hi
        for (domain, field), (idx, rows) in sorted(by_column.items()):
            self.groups.append((domain, field, np.array(idx, dtype=np.int64), np.array(rows, dtype=np.int64)))
        self.accepted = 0
        self.rejected: Counter[str] = Counter()
        self._inbox: list[Reading] = []
        self._inbox_lock = threading.Lock()

    # -- from other threads (MQTT, HTTP) -----------------------------------------------
    def submit(self, readings: Iterable[Reading]) -> None:
        """Queue readings from any thread; they are validated at the next tick."""
        with self._inbox_lock:
            self._inbox.extend(readings)

    def reject(self, reason: str, count: int = 1) -> None:
        """Count readings a source could not even parse."""
        self.rejected[reason] += count

    def take_inbox(self) -> ReadingBatch | None:
        """The readings queued by :meth:`submit` since the last call, as arrays."""
        with self._inbox_lock:
            inbox, self._inbox = self._inbox, []
        if not inbox:
            return None
        return (
            np.array([self.sensor_index.get(r.sensor, -1) for r in inbox], dtype=np.int64),
            np.array([r.time for r in inbox], dtype=np.float64),
            np.array([r.value for r in inbox], dtype=np.float64),
            np.array([r.quality for r in inbox], dtype=np.int64),
        )

    # -- on the tick -------------------------------------------------------------------
    def accept_arrays(self, index: np.ndarray, times: np.ndarray, values: np.ndarray, quality: np.ndarray, now: float) -> int:
        """Validate a batch (sensor index -1 means unknown); keep the good ones."""
        ok = np.ones(len(index), dtype=bool)

        def drop(bad: np.ndarray, reason: str) -> None:
            bad &= ok
            n = int(bad.sum())
            if n:
                self.rejected[reason] += n
                ok[bad] = False

        drop(index < 0, "unknown_sensor")
        safe = np.where(index < 0, 0, index)
        drop(quality != 0, "bad_quality")
        drop(~np.isfinite(values), "not_finite")
        if len(self.sensors):
            drop((values < self.low[safe]) | (values > self.high[safe]), "out_of_range")
        drop(times < now - self.max_age, "too_old")
        drop(times > now + self.max_future, "in_future")
        good = int(ok.sum())
        _keep_latest(index, times, values, ok, self.last_time, self.last_value)
        self.accepted += good
        return good

    def assimilate(self, now: float) -> None:
        """Write each sensor's last good value over the model's value of its row."""
        self.stale = (now - self.last_time) > self.stale_after
        for domain, field, idx, rows in self.groups:
            have = ~np.isnan(self.last_value[idx])
            column = self.world.tables[domain].columns[field]
            column[rows[have]] = self.last_value[idx[have]]
