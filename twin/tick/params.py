"""Configurable parameters of kernels, updaters and couplings.

A plugin declares each set point or breakpoint array it uses as a :class:`twin.Param`
with its source; a scene (``[thresholds."<name>"]`` in scene.toml) or a ``--config``
file may replace any of them by name. This module resolves the values once, when the
engine or a world is built, so that a bad value stops the start-up with an error
naming the contribution and the parameter, never a tick.
"""

from __future__ import annotations

from typing import Any, Protocol

from twin.plugins.contributions import Param
from twin.tick.risk import check_breakpoints


class HasParams(Protocol):
    name: str
    params: tuple[Param, ...]


def resolve_params(owner: HasParams, overrides: dict[str, Any]) -> list[Any]:
    """Parameter values of a kernel, updater or coupling, in declaration order: the
    plugin's defaults, overridden by the configuration's ``[thresholds.<owner name>]``
    table. Scalars come back as floats, breakpoints as float64 arrays (six, strictly
    monotone). Errors name the owner and the parameter."""
    table = overrides.get(owner.name, {})
    if not isinstance(table, dict):
        raise ValueError(f"[thresholds.{owner.name}] must be a table of parameters; got {table!r}")
    unknown = set(table) - {p.name for p in owner.params}
    if unknown:
        valid = ", ".join(p.name for p in owner.params) or "none (it takes no parameters)"
        raise ValueError(f"[thresholds.{owner.name}]: unknown parameter(s) {', '.join(sorted(unknown))}; valid: {valid}")
    values = []
    for p in owner.params:
        value = table.get(p.name, p.value)
        where = f"[thresholds.{owner.name}] {p.name}"
        if isinstance(p.value, tuple):
            if not isinstance(value, (tuple, list)):
                raise ValueError(f"{where}: expected a list of six numbers; got {value!r}")
            value = tuple(float(v) for v in value)
            if len(p.value) == 6:
                check_breakpoints(where, value)
            elif len(value) != len(p.value):
                raise ValueError(f"{where}: expected {len(p.value)} numbers in {p.unit}; got {len(value)}")
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{where}: expected a number in {p.unit}; got {value!r}")
        values.append(p.as_argument(value))
    return values


def param_map(owner: HasParams, overrides: dict[str, Any]) -> dict[str, Any]:
    """:func:`resolve_params` as a mapping from parameter name to value (``ctx.params``)."""
    return dict(zip((p.name for p in owner.params), resolve_params(owner, overrides)))
