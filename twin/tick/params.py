"""Configurable parameters of kernels, updaters and couplings.

A plugin declares each set point or breakpoint array it uses as a :class:`twin.Param`
with its source; a scene (``[thresholds."<name>"]`` in scene.toml), a drill or a
``--config`` file may replace any of them by name. :func:`thresholds_type` turns the
plugins' declarations into the declaration of the ``[thresholds]`` table, which checks
a file's table with its lines (:func:`twin.declared.check`) and a configuration given
as a dict alike (:func:`resolve_params`), so that a bad value stops the start-up with an
error naming the contribution and the parameter, never a tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import msgspec
from msgspec import Meta

from twin.plugins.contributions import Param
from twin.tick.risk import check_breakpoints


class HasParams(Protocol):
    name: str
    params: tuple[Param, ...]


@dataclass(frozen=True)
class Shared:
    """The owner of one ``[thresholds."<name>"]`` table: every kernel, updater and
    coupling of that name at once (a plugin may give its response updater and the kernel
    judging it one name), with the parameters of them all."""

    name: str
    params: tuple[Param, ...]


def owners(registry: Any) -> list[HasParams]:
    """The owner of each ``[thresholds."<name>"]`` table ``registry`` allows, by name:
    every name some kernel, updater or coupling with parameters bears, with the
    parameters of all the contributions of that name (the first declaration of a
    parameter name kept: kernels before updaters before couplings)."""
    found: dict[str, dict[str, Param]] = {}
    for _, c in [*registry.kernels, *registry.updaters, *registry.couplings]:
        for p in c.params:
            found.setdefault(c.name, {}).setdefault(p.name, p)
    return [Shared(name, tuple(found[name].values())) for name in sorted(found)]


def shared_owner(registry: Any, name: str) -> HasParams:
    """The owner of ``[thresholds."<name>"]`` in ``registry`` (:func:`owners`); one
    without parameters when no contribution of that name declares any."""
    return next((o for o in owners(registry) if o.name == name), Shared(name, ()))


def owner_type(owner: HasParams) -> type:
    """The declaration of ``[thresholds."<owner>"]``: one optional key per parameter, a
    number or a list of as many numbers as the default has (six breakpoints rise or
    fall strictly), defaulting to the plugin's value."""
    fields = []
    for p in owner.params:
        if isinstance(p.value, tuple):
            n = len(p.value)
            words = (f"six numbers in {p.unit} rising or falling strictly: [normal, IV, III, II, I, max]" if n == 6
                     else f"a list of {n} numbers in {p.unit}")
            kind: Any = Annotated[list[float], Meta(min_length=n, max_length=n, extra={"expected": words})]
            fields.append((p.name, kind, msgspec.field(default_factory=lambda v=p.value: list(v))))
        else:
            kind = Annotated[float, Meta(extra={"expected": f"a number in {p.unit}"})]
            fields.append((p.name, kind, float(p.value)))

    def __post_init__(self: Any) -> None:
        for p in owner.params:
            if isinstance(p.value, tuple) and len(p.value) == 6:
                value = getattr(self, p.name)
                try:
                    check_breakpoints(p.name, tuple(value))
                except ValueError:
                    raise ValueError(f"{p.name} = {value} must rise (or fall) strictly; expected six numbers "
                                     f"in {p.unit}: [normal, IV, III, II, I, max]") from None

    return msgspec.defstruct(f"Thresholds_{owner.name}", fields, forbid_unknown_fields=True, kw_only=True,
                             namespace={"__post_init__": __post_init__})


def thresholds_type(registry: Any) -> type:
    """The declaration of the whole ``[thresholds]`` table for ``registry``'s plugins: a
    table per kernel, updater or coupling with parameters, no other."""
    found = owners(registry)
    fields = [(f"t{n}", owner_type(o) | None, None) for n, o in enumerate(found)]
    return msgspec.defstruct("Thresholds", fields, forbid_unknown_fields=True, kw_only=True,
                             rename={f"t{n}": o.name for n, o in enumerate(found)})


def resolve_params(owner: HasParams, overrides: dict[str, Any], registry: Any = None) -> list[Any]:
    """Parameter values of a kernel, updater or coupling, in declaration order: the
    plugin's defaults, overridden by the configuration's ``[thresholds.<owner name>]``
    table. Scalars come back as floats, breakpoints as float64 arrays. A wrong table is
    a ValueError naming the owner, the parameter and what would be valid (the same
    words as a file's check, without the file). With ``registry``, the table is the one
    of every contribution of that name (:func:`shared_owner`): a key another of them
    declares is checked and left to it, not refused."""
    from twin.declared import check
    from twin.tomlfile import TomlFile

    given = overrides.get(owner.name, {})
    judge = owner if registry is None else shared_owner(registry, owner.name)
    problems: list[str] = []
    toml = TomlFile.unplaced({"thresholds": {owner.name: given}}, "configuration")
    table = check(toml, owner_type(judge), problems, keys=("thresholds", owner.name))
    if table is None:
        raise ValueError(problems[0])
    # a key the table leaves out takes this owner's own default, which may differ from
    # the one of a same-named parameter of another contribution
    return [p.as_argument(tuple(v) if isinstance(v := getattr(table, p.name), list) else v) if p.name in given
            else p.as_argument() for p in owner.params]


def param_map(owner: HasParams, overrides: dict[str, Any], registry: Any = None) -> dict[str, Any]:
    """:func:`resolve_params` as a mapping from parameter name to value (``ctx.params``)."""
    return dict(zip((p.name for p in owner.params), resolve_params(owner, overrides, registry)))
