"""Structured logs: one JSON object per line, with whatever ``extra=`` fields a call adds."""

from __future__ import annotations

import json
import logging
import sys
import time

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class Throttle:
    """Whether a key (a sensor, a topic, a token) may be logged now: at most once per
    ``every`` seconds each, so that a device sending bad readings a thousand times a
    second costs one line a minute, not a full disk. Its memory is bounded: past
    ``max_keys`` keys, those not logged within ``every`` are forgotten."""

    def __init__(self, every: float = 60.0, max_keys: int = 10_000) -> None:
        self.every = every
        self.max_keys = max_keys
        self._last: dict[object, float] = {}

    def allow(self, key: object, now: float | None = None) -> bool:
        """True (and the key counts as logged at ``now``, by default the monotonic clock)
        if ``key`` was not logged in the last ``every`` seconds."""
        now = time.monotonic() if now is None else now
        last = self._last.get(key)
        if last is not None and now - last < self.every:
            return False
        if len(self._last) >= self.max_keys:  # a flood of made-up keys must not grow this without end
            self._last = {k: t for k, t in self._last.items() if now - t < self.every}
        self._last[key] = now
        return True
