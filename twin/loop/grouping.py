"""Which alarms make one incident: the grouping in force for each domain and rule.

Plugins contribute :class:`twin.IncidentGrouping` (hook ``twin_incident_groupings``);
a domain without one gets :data:`DEFAULT`, the core's own alarms (domain ``system``)
:data:`SYSTEM`. The configuration (scene.toml or ``--config``) may override any of them
by domain or by rule name (``[[incidents]]`` of a scene are its scripted background
happenings, another thing)::

    [incident_grouping."drainage"]
    distance = 600        # metres
    window = 3600         # seconds

    [incident_grouping."drainage.rainstorm"]
    distance = inf
    same_rule = true
"""

from __future__ import annotations

import math
from typing import Any

from twin.plugins.contributions import IncidentGrouping

#: the core's default for a domain whose plugin contributes no grouping (docs/incidents.md)
DEFAULT_DISTANCE = 200.0
DEFAULT_WINDOW = 1800.0
#: the domain of the core's own alarms (twin.tick.alarms.SYSTEM_DOMAIN)
SYSTEM_DOMAIN = "system"
#: the core's own alarms (a plugin quarantined, sensors offline) group by cause and owner
#: unit: 40 sensors of one unit going offline in one outage are one incident wherever
#: they are, and each unit whose devices went silent gets its own to dispatch (grouped
#: anywhere, the outage's incident took the first alarm's owner, the bridge authority's
#: for the gas company's detectors too)
SYSTEM = IncidentGrouping(SYSTEM_DOMAIN, math.inf, 3600.0, same_rule=True, same_owner=True,
                          description="the twin's own alarms: one incident per cause and owner unit, anywhere")
_KEYS = {"distance": float, "window": float, "same_rule": bool, "same_owner": bool}


class GroupingError(ValueError):
    """A grouping override in the configuration that cannot be used; one line naming
    the table, the key and what would be valid."""


def default_for(domain: str) -> IncidentGrouping:
    return SYSTEM if domain == SYSTEM_DOMAIN else IncidentGrouping(
        domain, DEFAULT_DISTANCE, DEFAULT_WINDOW, description="the core's default")


class Groupings:
    """The grouping of each (domain, rule): a rule's own grouping if there is one, else
    its domain's, else the default; configuration overrides applied on top."""

    def __init__(self, contributed: list[IncidentGrouping], config: dict[str, Any] | None = None,
                 rules: dict[str, str] | None = None) -> None:
        """``rules`` maps every alarm rule name to its domain, so that an override can
        name a rule."""
        self._by_domain: dict[str, IncidentGrouping] = {}
        self._by_rule: dict[tuple[str, str], IncidentGrouping] = {}
        for g in contributed:
            if g.rules:
                for rule in g.rules:
                    self._by_rule.setdefault((g.domain, rule), g)
            else:
                self._by_domain.setdefault(g.domain, g)
        self._apply_overrides((config or {}).get("incident_grouping", {}), rules or {})

    def __call__(self, domain: str, rule: str) -> IncidentGrouping:
        found = self._by_rule.get((domain, rule)) or self._by_domain.get(domain)
        return found if found is not None else default_for(domain)

    def _apply_overrides(self, table: Any, rules: dict[str, str]) -> None:
        if not isinstance(table, dict):
            raise GroupingError("[incident_grouping] must be a table of tables, one per domain or alarm rule")
        for name, keys in table.items():
            where = f'[incident_grouping."{name}"]'
            if not isinstance(keys, dict):
                raise GroupingError(f"{where} must be a table with distance, window, same_rule or same_owner")
            unknown = sorted(set(keys) - set(_KEYS))
            if unknown:
                raise GroupingError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(_KEYS)}")
            values: dict[str, Any] = {}
            for key, value in keys.items():
                values[key] = _checked(where, key, value)
            if name in rules:
                domain = rules[name]
                base = self(domain, name)
                self._by_rule[(domain, name)] = _replace(base, values, rules=(name,))
            else:
                domain = name
                base = self._by_domain.get(domain) or default_for(domain)
                self._by_domain[domain] = _replace(base, values)


def _checked(where: str, key: str, value: Any) -> Any:
    if key in ("same_rule", "same_owner"):
        if not isinstance(value, bool):
            raise GroupingError(f"{where} {key} = {value!r}; expected true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
        unit = "metres (inf: anywhere)" if key == "distance" else "seconds"
        raise GroupingError(f"{where} {key} = {value!r}; expected a number >= 0 of {unit}")
    return float(value)


def _replace(base: IncidentGrouping, values: dict[str, Any], rules: tuple[str, ...] | None = None) -> IncidentGrouping:
    import dataclasses

    changes: dict[str, Any] = dict(values, description=f"{base.description} (configured)".strip())
    if rules is not None:
        changes["rules"] = rules
    return dataclasses.replace(base, **changes)
