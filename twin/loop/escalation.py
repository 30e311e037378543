"""Escalation: each level gives an incident deadlines to be acknowledged, dispatched and
closed; a missed one hands it up a chain (duty officer -> section chief -> district
emergency office), tells the next in the chain and is recorded on the incident.

The deadlines of a step count from the incident's opening, at the deadline of the
highest level it reached: a blue incident that turns red an hour later, still not
acknowledged, is overdue at once. Each further deadline that passes with the step still
not done hands it one step further up, to the chain's end. The configuration (scene.toml
or ``--config``) sets them, per domain if need be::

    [escalation.deadlines]               # seconds, per level (1 blue .. 4 red)
    4 = { acknowledge = 300, dispatch = 900, close = 14400 }

    [escalation.domains.gas.deadlines]   # a domain's own (the incident's worst alarm's domain)
    4 = { acknowledge = 120 }

    [[escalation.chain]]
    name = "duty officer"                # who holds the incident first (told by the rules)
    [[escalation.chain]]
    name = "section chief"
    channels = ["duty-phones"]           # channels of the notifications file
    [[escalation.chain]]
    name = "district emergency office"
    channels = ["city-platform"]

Everything here reads the simulation clock, so a drill escalates the same on every run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twin.errors import TwinError

if TYPE_CHECKING:
    from twin.loop.incidents import Incident, IncidentBook

STEPS = ("acknowledge", "dispatch", "close")
#: the state an incident is in once each step is done
DONE = {"acknowledge": ("acknowledged", "dispatched", "closed"), "dispatch": ("dispatched", "closed"), "close": ("closed",)}
#: our defaults (seconds), per level: acknowledge as the alarms' response deadlines, dispatch
#: within three times that, close within a working shift to three days
DEFAULT_DEADLINES: dict[int, dict[str, float]] = {
    4: {"acknowledge": 300.0, "dispatch": 900.0, "close": 4 * 3600.0},
    3: {"acknowledge": 900.0, "dispatch": 2700.0, "close": 8 * 3600.0},
    2: {"acknowledge": 1800.0, "dispatch": 5400.0, "close": 24 * 3600.0},
    1: {"acknowledge": 7200.0, "dispatch": 21600.0, "close": 72 * 3600.0},
}
#: the chain without a configuration: names only, told through the log
DEFAULT_CHAIN = (
    {"name": "duty officer", "name_zh": "值班员", "channels": ["log"]},
    {"name": "section chief", "name_zh": "科长", "channels": ["log"]},
    {"name": "district emergency office", "name_zh": "区应急管理局", "channels": ["log"]},
)


class EscalationError(TwinError, ValueError):
    """An ``[escalation]`` table that cannot be used; one line naming the key."""


@dataclass(frozen=True)
class Policy:
    #: level -> step -> seconds, for any domain
    deadlines: dict[int, dict[str, float]]
    #: domain -> level -> step -> seconds, over the above
    domains: dict[str, dict[int, dict[str, float]]]
    chain: tuple[dict[str, Any], ...]

    def deadline(self, domain: str, level: int, step: str) -> float:
        own = self.domains.get(domain, {}).get(level, {})
        return own.get(step, self.deadlines.get(level, {}).get(step, math.inf))


def policy(config: dict[str, Any]) -> Policy:
    """The escalation policy of a configuration (its ``[escalation]`` table, defaults
    for what it leaves out)."""
    table = config.get("escalation", {})
    if not isinstance(table, dict):
        raise EscalationError("[escalation] must be a table with deadlines, domains and chain")
    unknown = sorted(set(table) - {"deadlines", "domains", "chain"})
    if unknown:
        raise EscalationError(f"[escalation]: unknown key(s) {', '.join(unknown)}; valid: deadlines, domains, chain")
    deadlines = {level: dict(steps) for level, steps in DEFAULT_DEADLINES.items()}
    for level, steps in _levels("[escalation.deadlines]", table.get("deadlines", {})).items():
        deadlines[level].update(steps)
    domains_table = table.get("domains", {})
    if not isinstance(domains_table, dict):
        raise EscalationError("[escalation.domains] must be a table of domains, each with its deadlines")
    domains = {}
    for domain, entry in domains_table.items():
        if not isinstance(entry, dict) or set(entry) - {"deadlines"}:
            raise EscalationError(f"[escalation.domains.{domain}] takes deadlines = {{<level> = {{acknowledge = s, ...}}}} only")
        domains[domain] = _levels(f"[escalation.domains.{domain}.deadlines]", entry.get("deadlines", {}))
    chain = table.get("chain", DEFAULT_CHAIN)
    if not isinstance(chain, (list, tuple)) or not chain:
        raise EscalationError("[[escalation.chain]] must list at least one step: name = \"duty officer\", channels = [...]")
    steps = []
    for n, step in enumerate(chain, start=1):
        where = f"[[escalation.chain]] #{n}"
        if not isinstance(step, dict) or not isinstance(step.get("name"), str) or not step["name"]:
            raise EscalationError(f"{where}: needs name = \"...\" (who is told: \"section chief\")")
        wrong = sorted(set(step) - {"name", "name_zh", "role", "channels"})
        if wrong:
            raise EscalationError(f"{where}: unknown key(s) {', '.join(wrong)}; valid: name, name_zh, role, channels")
        channels = step.get("channels", ["log"])
        if not isinstance(channels, list) or not all(isinstance(c, str) and c for c in channels):
            raise EscalationError(f"{where}: channels = {channels!r}; expected a list of channel names")
        steps.append({"name": step["name"], "name_zh": str(step.get("name_zh", "")), "role": str(step.get("role", "")),
                      "channels": list(channels)})
    return Policy(deadlines, domains, tuple(steps))


def _levels(where: str, table: Any) -> dict[int, dict[str, float]]:
    if not isinstance(table, dict):
        raise EscalationError(f"{where} must be a table of levels 1-4")
    out: dict[int, dict[str, float]] = {}
    for level, steps in table.items():
        if str(level) not in ("1", "2", "3", "4") or not isinstance(steps, dict):
            raise EscalationError(f"{where} {level} = {steps!r}; expected a level 1-4 = {{acknowledge = s, dispatch = s, close = s}}")
        wrong = sorted(set(steps) - set(STEPS))
        if wrong:
            raise EscalationError(f"{where} {level}: unknown step(s) {', '.join(wrong)}; valid: {', '.join(STEPS)}")
        for step, seconds in steps.items():
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
                raise EscalationError(f"{where} {level}.{step} = {seconds!r}; expected seconds > 0")
        out[int(level)] = {s: float(v) for s, v in steps.items()}
    return out


class Escalator:
    """Checks every open incident's deadlines each tick (an IncidentBook deadline hook)."""

    def __init__(self, book: IncidentBook, config: dict[str, Any]) -> None:
        self.book = book
        self.policy = policy(config)
        book.deadline_hooks.append(self.check)

    def due(self, incident: Incident) -> list[tuple[str, float, float]]:
        """(step, deadline in seconds, first due time) of each step not yet done."""
        level = max(incident.peak_level, 1)
        out = []
        for step in STEPS:
            if incident.state in DONE[step]:
                continue
            seconds = self.policy.deadline(incident.domain, level, step)
            if math.isfinite(seconds):
                out.append((step, seconds, incident.opened + seconds))
        return out

    def check(self, now: float) -> None:
        chain = self.policy.chain
        for incident in list(self.book.incidents.values()):
            if incident.state == "closed":
                continue
            # One step up the chain per deadline passed, counted for the step most behind.
            passed, cause = 0, None
            for step, seconds, _ in self.due(incident):
                times = int((now - incident.opened) // seconds)
                if times > passed:
                    passed, cause = times, (step, seconds)
            reached = len(incident.escalations)  # steps it went up already
            target = min(passed, len(chain) - 1)
            while cause is not None and reached < target:
                reached += 1
                step, seconds = cause
                to, holder = chain[reached], chain[reached - 1]
                self.book.note_escalation(incident.id, {
                    "time": now, "step": step, "due": incident.opened + passed * seconds, "deadline": seconds,
                    "level": incident.peak_level, "from": holder["name"], "from_zh": holder["name_zh"], "to": to["name"],
                    "to_zh": to["name_zh"],
                    "role": to["role"], "channels": list(to["channels"]),
                    "summary": f"not {DONE[step][0]} within {seconds:g} s: handed up from {holder['name']} to {to['name']}",
                }, now)
