"""The history writer: a thread that takes reading batches from the tick and appends
them to the store, off the tick.

:meth:`Writer.submit` never blocks: it puts the batch on a queue bounded in readings
and returns at once. When the store falls behind and the queue is full, the batch is
shed and counted (``shed``), never dropped silently. The thread coalesces whatever is
queued into one append, so a store that lags catches up in bigger, cheaper batches.
Retention runs on the same thread every ``prune_every`` seconds of wall time.
"""

from __future__ import annotations

import logging
import threading
import time as wallclock
from collections import deque
from collections.abc import Callable

import numpy as np

from twin.history.store import Store

log = logging.getLogger("twin.history")


class Writer:
    def __init__(self, store: Store, max_queued: int = 5_000_000, prune_every: float = 3600.0,
                 clock: Callable[[], float] = wallclock.time) -> None:
        """``max_queued``: readings the queue holds at most (17 bytes each in the store's
        form; the default is ~85 MB, about 50 minutes of a 100,000-sensor city at 1/min).
        ``clock``: what "now" is for the retention (the twin's clock in a simulated run)."""
        if max_queued < 1:
            raise ValueError(f"max_queued must be at least 1 reading, got {max_queued}")
        self.store, self.max_queued, self.prune_every, self.clock = store, max_queued, prune_every, clock
        self._queue: deque[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = deque()
        self._cond = threading.Condition()
        self.queued = 0  # readings waiting
        self.written = 0  # readings appended to the store
        self.batches = 0  # appends made
        self.shed = 0  # readings refused because the queue was full
        self.failed = 0  # readings the store could not take (error below)
        self.error: str | None = None  # the last store error, None once writes succeed again
        self._stop = False
        # the first pass soon after the start: a twin restarted more often than every
        # ``prune_every`` would otherwise never prune
        self._next_prune = wallclock.monotonic() + min(prune_every, 60.0)
        self._thread = threading.Thread(target=self._run, name="twin-history-writer", daemon=True)
        self._thread.start()

    def submit(self, series: np.ndarray, time: np.ndarray, value: np.ndarray, quality: np.ndarray | None = None) -> bool:
        """Queue a batch (series keys, epoch seconds, values); False if it was shed."""
        n = len(series)
        if n == 0:
            return True
        q = np.zeros(n, np.uint8) if quality is None else np.asarray(quality).astype(np.uint8)
        # copies: the caller's arrays (the engine's) may change after the tick
        batch = (np.array(series, dtype=np.int32), np.array(time, dtype=np.float64), np.array(value, dtype=np.float32), q)
        with self._cond:
            if self._stop or self.queued + n > self.max_queued:
                self.shed += n
                return False
            self._queue.append(batch)
            self.queued += n
            self._cond.notify()
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stop:
                    self._cond.wait(timeout=max(0.0, min(1.0, self._next_prune - wallclock.monotonic())))
                    if wallclock.monotonic() >= self._next_prune:
                        break
                batches = list(self._queue)
                self._queue.clear()
                stop = self._stop
            if batches:
                n = sum(len(b[0]) for b in batches)
                try:
                    self.store.append(*(np.concatenate([b[i] for b in batches]) for i in range(4)))
                except Exception as exc:  # a full disk, a locked file: count, say, go on
                    self.failed += n
                    if self.error is None:
                        log.error("history: the store cannot be written; readings are counted as failed",
                                  extra={"error": str(exc)})
                    self.error = f"history store: {exc}"
                else:
                    self.written += n
                    self.batches += 1
                    self.error = None
                with self._cond:
                    self.queued -= n
                    self._cond.notify_all()
            if wallclock.monotonic() >= self._next_prune and not stop:
                self._next_prune = wallclock.monotonic() + self.prune_every
                try:
                    self.store.prune(self.clock())
                except Exception as exc:
                    log.error("history: retention failed", extra={"error": str(exc)})
            if stop and not batches:
                return

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every queued reading is written (tests, a clean shutdown)."""
        deadline = wallclock.monotonic() + timeout
        with self._cond:
            while self.queued:
                left = deadline - wallclock.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, stop the thread (the store stays open: its owner closes it)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def metrics(self) -> dict[str, float]:
        """Counters for /metrics: readings written, shed, failed, queued; appends."""
        return {"written": self.written, "shed": self.shed, "failed": self.failed, "queued": self.queued, "batches": self.batches}
