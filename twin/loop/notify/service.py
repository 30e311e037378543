"""Notifications for one engine: its notifications file, its outbox in the alarm store,
the sender thread, the figures for /metrics and ``GET /api/notifications``.

Only a twin with a data folder notifies (``twin serve``): drills, replays and reruns
keep their alarms in memory and tell nobody.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Gauge

from twin.loop.notify.config import NotifyConfig, NotifyConfigError, config_path, load
from twin.loop.notify.outbox import Outbox
from twin.loop.notify.sender import Sender


class Notifications:
    """The outbox and its sender for ``engine``, whose alarm store is ``store``."""

    def __init__(self, engine: Any, store: Path, config: NotifyConfig) -> None:
        self.store = store
        self.config = config
        registry = engine.metrics.registry
        self.queued = Counter("twin_notifications_queued_total", "Notifications written to the outbox, per channel",
                              ["channel"], registry=registry)
        self.sent = Counter("twin_notifications_sent_total", "Notifications a channel took, per channel", ["channel"],
                            registry=registry)
        self.failed = Counter("twin_notifications_failed_total", "Deliveries that failed and will be tried again, per channel",
                              ["channel"], registry=registry)
        self.pending = Gauge("twin_notifications_pending", "Notifications waiting in the outbox, per channel", ["channel"],
                             registry=registry)
        self.sender = Sender(store, config.channels, self._result, self._pending)
        # Attached after the incident book (the engine made it first): it reads the
        # incidents' events of the same commit.
        self.outbox = Outbox(engine.alarms, engine.incidents, config, engine.scene.name, self._queued)
        # The thread starts with the first row to send: rows a killed process left, or the
        # first of this one (an engine that never notifies has none).
        self._started = False
        if sum(self.pending_by_channel().values()):
            self._start()

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self.sender.start()

    def _queued(self, channels: list[str]) -> None:
        for channel in channels:
            self.queued.labels(channel).inc()
        self._start()
        self.sender.wake()

    def _pending(self, pending: dict[str, int]) -> None:
        for name in self.config.channels:
            self.pending.labels(name).set(pending.get(name, 0))

    def _result(self, channel: str, ok: bool) -> None:
        (self.sent if ok else self.failed).labels(channel).inc()

    def pending_by_channel(self) -> dict[str, int]:
        """Rows waiting per channel, read from the store (so that it counts the rows a
        killed process left too)."""
        with sqlite3.connect(self.store, timeout=1.0) as db:
            rows = db.execute("SELECT channel, COUNT(*) FROM outbox WHERE state = 'pending' GROUP BY channel").fetchall()
        return dict(rows)

    def status(self) -> dict[str, Any]:
        """``GET /api/notifications``: the file in force, each channel's state, the rules."""
        pending = self.pending_by_channel()
        self._pending(pending)
        return {
            "file": str(self.config.path) if self.config.path else None,
            "sender": "failed" if self.sender.error else "ok",
            "sender_error": self.sender.error,
            "channels": self.sender.status(pending),
            "rules": [{"name": r.name, "channels": list(r.channels), "on": list(r.on), "subject": r.subject,
                       "domains": list(r.domains), "min_level": r.min_level, "owners": list(r.owners)}
                      for r in self.config.rules],
        }

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest outbox rows, newest first, without their bodies."""
        with sqlite3.connect(self.store, timeout=1.0) as db:
            rows = db.execute("SELECT id, key, channel, event, created, state, attempts, last_error, sent FROM outbox"
                              " ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        keys = ("id", "key", "channel", "event", "created", "state", "attempts", "last_error", "sent")
        return [dict(zip(keys, row)) for row in rows]

    def close(self) -> None:
        self.sender.stop()


def open_notifications(engine: Any, data_dir: Path | None) -> Notifications | None:
    """The engine's notifications, or None for an engine without a data folder. A bad
    notifications file stops the start with its one-line reason (NotifyConfigError)."""
    if data_dir is None:
        return None
    config = load(config_path(data_dir, engine.config))
    for n, step in enumerate(engine.incidents.escalator.policy.chain, start=1):
        unknown = [c for c in step["channels"] if c not in config.channels]
        if unknown:
            raise NotifyConfigError(f"[[escalation.chain]] #{n} ({step['name']}): channels {', '.join(map(repr, unknown))} are not "
                                    f"in {config.path or 'the notifications file (there is none)'}; valid: {', '.join(config.channels)}")
    return Notifications(engine, data_dir / "alarms.sqlite", config)
