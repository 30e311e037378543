"""Every action a drill, a director or an operator can run, described once for listings.

Plugin actions (``twin_actions``) act on an asset of their domain; the core's sensor
faults act on a sensor of the simulated world. :func:`catalogue` describes them all the
same way, for ``twin plugins``, ``GET /api/actions`` and ``GET /api/scene``: name,
domain, plugin, target (an asset or a sensor), the asset kinds it applies to, and each
parameter with its unit, valid range and default.
"""

from __future__ import annotations

import math
from typing import Any

from twin.plugins.contributions import ActionParam
from twin.plugins.registry import Registry

#: the simulator's sensor faults (``Simulator.fault_sensor``): name, what it does, params
SENSOR_FAULTS: tuple[tuple[str, str, tuple[ActionParam, ...]], ...] = (
    ("sensor.stuck", "the sensor repeats its last reading", ()),
    ("sensor.drift", "the sensor drifts from the truth",
     (ActionParam("rate", "field unit per hour", "drift rate", default=0.0),)),
    ("sensor.dead", "the sensor stops sending", ()),
    ("sensor.repair", "the sensor is healthy again", ()),
)


def catalogue(registry: Registry) -> list[dict[str, Any]]:
    """Every action of the active plugins, by name, then the core's sensor faults, as
    JSON-ready records. ``kinds`` lists the asset kinds an action applies to (all of its
    domain's when it names none); a bound that is infinite is ``None``."""
    out = []
    for name, (plugin, action) in sorted(registry.actions.items()):
        domain = registry.domains.get(action.domain)
        kinds = list(action.kinds) or ([k.name for k in domain.kinds] if domain is not None else [])
        out.append(_record(action.name, action.domain, plugin, "asset", kinds, action.description, action.params))
    for name, description, params in SENSOR_FAULTS:
        out.append(_record(name, "sensor", "core", "sensor", [], description, params))
    return out


def _record(name: str, domain: str, plugin: str, target: str, kinds: list[str], description: str,
            params: tuple[ActionParam, ...]) -> dict[str, Any]:
    return {
        "name": name, "domain": domain, "plugin": plugin, "target": target, "kinds": kinds, "description": description,
        "params": [{"name": p.name, "unit": p.unit, "description": p.description, "default": p.default,
                    "valid": [_bound(v) for v in p.valid]} for p in params],
    }


def _bound(value: float) -> float | None:
    return None if math.isinf(value) else float(value)


def lines(record: dict[str, Any]) -> list[str]:
    """One action as ``twin plugins`` prints it: a line for the action, one per parameter."""
    on = f"{record['domain']} {', '.join(record['kinds'])}" if record["kinds"] else f"a {record['target']}"
    out = [f"{record['name']}  on {on}: {record['description']}"]
    for p in record["params"]:
        lo, hi = ("-inf" if p["valid"][0] is None else f"{p['valid'][0]:g}", "inf" if p["valid"][1] is None else f"{p['valid'][1]:g}")
        default = "required" if p["default"] is None else f"default {p['default']:g}"
        out.append(f"    {p['name']} ({p['unit']}) in [{lo}, {hi}], {default}: {p['description']}")
    return out

