"""The state of each part of a running server, for ``/api/health``, ``/metrics`` and
the log: a part is ``ok``, ``starting``, ``degraded`` (it works in part, or retries) or
``failed`` (it stopped), with a one-line reason. Every change is logged once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("twin.serving.health")

STATES = ("ok", "starting", "degraded", "failed")


@dataclass(frozen=True)
class PartState:
    state: str
    reason: str = ""


class Subsystems:
    """Each named part's state. ``on_change(name, before, after)`` is called on every
    change (the server raises and clears system alarms from it)."""

    def __init__(self, on_change: Callable[[str, PartState | None, PartState], None] | None = None) -> None:
        self.parts: dict[str, PartState] = {}
        self.on_change = on_change

    def set(self, name: str, state: str, reason: str = "") -> None:
        assert state in STATES, state
        after = PartState(state, reason if state != "ok" else "")
        before = self.parts.get(name)
        if before == after:
            return
        self.parts[name] = after
        level = logging.INFO if state in ("ok", "starting") else logging.ERROR
        log.log(level, f"{name} is {state}", extra={"subsystem": name, "state": state, "reason": after.reason,
                                                     "was": before.state if before else None})
        if self.on_change is not None:
            self.on_change(name, before, after)

    def problems(self) -> list[str]:
        """One line per part that is not ok."""
        return [f"{name} {s.state}: {s.reason}" for name, s in self.parts.items() if s.state != "ok"]

    def as_json(self) -> dict[str, dict[str, str]]:
        return {name: {"state": s.state, "reason": s.reason} for name, s in self.parts.items()}
