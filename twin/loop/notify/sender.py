"""The sender: a thread that delivers the outbox, oldest first, and retries with backoff.

It reads and marks rows through its own connection to the alarm store, so that a slow
channel never holds the tick. A row is marked ``sent`` only after its channel took it: a
process killed in between sends it again after the restart, with the same body and
idempotency key (at least once, never twice under two keys). A failing channel backs off
(1 s, 2 s, 4 s ... at most :data:`MAX_BACKOFF`) and never gives up; the other channels
go on meanwhile. Each channel's state is in :meth:`Sender.status` and /metrics.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time as wallclock
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.loop.notify.channels import DeliveryFailed, send
from twin.loop.notify.config import Channel

log = logging.getLogger("twin.loop.notify")

#: longest wait between two tries of one channel (seconds)
MAX_BACKOFF = 300.0
#: rows read per pass
BATCH = 100
#: how long the thread sleeps when nothing is due and nobody wakes it (seconds)
IDLE = 1.0


def backoff(failures: int) -> float:
    """Seconds to wait after the ``failures``-th failure in a row: 1, 2, 4 ... MAX_BACKOFF."""
    return min(MAX_BACKOFF, 2.0 ** max(failures - 1, 0))


@dataclass
class ChannelState:
    """How one channel fares, since the process started (counts) and now (the rest)."""

    name: str
    kind: str
    sent: int = 0
    failed_tries: int = 0
    #: failures in a row; 0 once a delivery succeeds
    failures: int = 0
    last_error: str = ""
    last_sent: float | None = None
    last_failed: float | None = None
    #: wall-clock time before which it is not tried again
    retry_at: float = 0.0

    def as_json(self, pending: int) -> dict[str, Any]:
        state = "failing" if self.failures else ("ok" if self.sent or not pending else "waiting")
        return {"name": self.name, "kind": self.kind, "state": state, "pending": pending, "sent": self.sent,
                "failed_tries": self.failed_tries, "failures_in_a_row": self.failures, "last_error": self.last_error,
                "last_sent": self.last_sent, "last_failed": self.last_failed,
                "retry_at": self.retry_at if self.failures else None}


class Sender:
    """Delivers ``path``'s outbox through ``channels`` in a thread of its own."""

    def __init__(self, path: Path, channels: dict[str, Channel],
                 on_result: Callable[[str, bool], None] = lambda channel, ok: None,
                 on_pending: Callable[[dict[str, int]], None] = lambda pending: None) -> None:
        """``on_result(channel, ok)`` after each try; ``on_pending({channel: rows})`` after
        each pass, with the rows still waiting."""
        self.path = path
        self.channels = channels
        self.on_result = on_result
        self.on_pending = on_pending
        self.states = {name: ChannelState(name, c.kind) for name, c in channels.items()}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        #: the last error of the sender itself (the store unreadable), None while it works
        self.error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="twin-notify", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the loop ------------------------------------------------------------------------------
    def _run(self) -> None:
        db: sqlite3.Connection | None = None
        while not self._stop.is_set():
            try:
                if db is None:
                    db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
                    db.execute("PRAGMA busy_timeout = 5000")
                delay = self.deliver_due(db)
                self.error = None
            except sqlite3.Error as exc:
                if self.error is None:
                    log.error("the notification sender cannot read the outbox; retrying", extra={"error": str(exc)})
                self.error = f"outbox: {exc}"
                if db is not None:
                    db.close()
                    db = None
                delay = IDLE
            self._wake.wait(delay)
            self._wake.clear()
        if db is not None:
            db.close()

    def deliver_due(self, db: sqlite3.Connection) -> float:
        """Try every due row once (a failing channel's later rows wait for its backoff);
        return how long to wait before the next pass."""
        now = wallclock.time()
        rows = db.execute("SELECT id, key, channel, body FROM outbox WHERE state = 'pending' AND next_try <= ?"
                          " ORDER BY id LIMIT ?", (now, BATCH)).fetchall()
        for row_id, key, name, body in rows:
            if self._stop.is_set():
                break
            state = self.states.get(name)
            channel = self.channels.get(name)
            if channel is None or state is None:
                # A channel removed from the file since the row was written: kept, not lost.
                db.execute("UPDATE outbox SET next_try = ?, last_error = ? WHERE id = ?",
                           (now + MAX_BACKOFF, f"no channel {name!r} in the notifications file now", row_id))
                continue
            if state.retry_at > wallclock.time():
                continue
            try:
                send(channel, body, json.loads(body))
            except DeliveryFailed as exc:
                self._failed(db, state, row_id, str(exc))
            except Exception as exc:  # a bug in a channel must not stop the others
                log.exception("a notification channel failed unexpectedly", extra={"channel": name})
                self._failed(db, state, row_id, f"{type(exc).__name__}: {exc}")
            else:
                sent = wallclock.time()
                db.execute("UPDATE outbox SET state = 'sent', sent = ?, attempts = attempts + 1, last_error = NULL"
                           " WHERE id = ?", (sent, row_id))
                with self._lock:
                    state.sent += 1
                    state.failures = 0
                    state.last_sent = sent
                    state.retry_at = 0.0
                self.on_result(name, True)
        self.on_pending(dict(db.execute("SELECT channel, COUNT(*) FROM outbox WHERE state = 'pending' GROUP BY channel")))
        if len(rows) == BATCH:
            return 0.0
        upcoming = db.execute("SELECT MIN(next_try) FROM outbox WHERE state = 'pending'").fetchone()[0]
        waits = [s.retry_at for s in self.states.values() if s.failures]
        soonest = min([t for t in (upcoming, *waits) if t is not None], default=None)
        return IDLE if soonest is None else min(IDLE, max(0.05, soonest - wallclock.time()))

    def _failed(self, db: sqlite3.Connection, state: ChannelState, row_id: int, reason: str) -> None:
        now = wallclock.time()
        with self._lock:
            state.failures += 1
            state.failed_tries += 1
            state.last_error = reason
            state.last_failed = now
            state.retry_at = now + backoff(state.failures)
        if state.failures == 1:
            log.error("a notification could not be delivered; retrying with backoff",
                      extra={"channel": state.name, "error": reason})
        db.execute("UPDATE outbox SET attempts = attempts + 1, next_try = ?, last_error = ? WHERE id = ?",
                   (state.retry_at, reason, row_id))
        self.on_result(state.name, False)

    # -- what it says --------------------------------------------------------------------------
    def status(self, pending: dict[str, int]) -> list[dict[str, Any]]:
        with self._lock:
            return [s.as_json(pending.get(name, 0)) for name, s in self.states.items()]
