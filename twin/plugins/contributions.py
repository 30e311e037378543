"""What a plugin contributes, one class per kind of contribution.

A plugin returns instances of these from its hooks (see :mod:`twin.plugins.hookspecs`).
They are plain, frozen descriptions: the engine decides when to call the functions
they name. Plugin authors import them from :mod:`twin` directly.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from twin.tick.world import StepContext

DTYPES = ("float32", "float64", "int8", "int16", "int32", "uint8", "uint16", "uint32", "bool")
GEOMETRIES = ("Point", "LineString", "Polygon")


@dataclass(frozen=True)
class FieldSpec:
    """One column of a domain's state table.

    ``attribute=True`` marks a static field read from each asset's attributes in the
    scene (a pipe's diameter, a space's volume); the others are live state. ``valid`` is
    the physical range: the scene loader refuses attributes outside it and ingest drops
    readings outside it.

    ``resolution`` is the smallest change of a live field that means something, in its
    ``unit`` (2 %LEL, 5 mm of water): a row whose value moved less than that since the
    value last sent is not news, so it is neither streamed nor recorded (a heartbeat
    refreshes it within a minute; alarms always see the exact value). 0, the default,
    makes every change news: right for integer and bool fields (states, counts, levels),
    and what a float field gets until its author sets it; set it on every float field
    that carries measurement noise or slow drift, at or above the noise of the sensors
    that feed it, or the twin streams and records noise. ``precision`` is the step in
    which a device measuring the field reports (its display resolution: 0.01 %vol, 1 mm,
    100 Pa), below its noise and its resolution: the simulator rounds its readings to it
    as a real device does, and a recording stores readings as whole numbers of it; 0, the
    default, is a reading of any value. ``historical=True`` asks for
    the field's values to be kept in the history store (the risk, the level and the
    headline physical quantities of a domain).
    """

    name: str
    dtype: str
    unit: str
    valid: tuple[float, float]
    description: str
    default: float = 0.0
    attribute: bool = False
    #: the attribute must be given in the scene for assets of these kinds ("*" = all)
    required_for: tuple[str, ...] = ()
    label_zh: str = ""
    #: smallest change that is news, in ``unit``; 0: every change (see above)
    resolution: float = 0.0
    #: kept in the history store (see above)
    historical: bool = False
    #: step of a sensor's readings of this field, in ``unit``; 0: any value (see above)
    precision: float = 0.0

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"field {self.name!r}: dtype {self.dtype!r} is not one of {', '.join(DTYPES)}")
        lo, hi = self.valid
        if not lo <= hi:
            raise ValueError(f"field {self.name!r}: valid range {self.valid} has its low end above its high end")
        if isinstance(self.resolution, (int, float)) and not 0.0 <= self.resolution < float("inf"):
            raise ValueError(f"field {self.name!r}: resolution {self.resolution!r} must be a finite number >= 0 "
                             f"(in {self.unit or 'the field unit'}; 0 makes every change news)")
        if isinstance(self.precision, (int, float)) and not 0.0 <= self.precision < float("inf"):
            raise ValueError(f"field {self.name!r}: precision {self.precision!r} must be a finite number >= 0 "
                             f"(the step of its sensors' readings in {self.unit or 'the field unit'}; 0: any value)")

    def required(self, kind: str) -> bool:
        return "*" in self.required_for or kind in self.required_for


@dataclass(frozen=True)
class AssetKind:
    """A kind of asset within a domain (a main, a manhole, a deck span)."""

    name: str
    geometry: str
    description: str
    label_zh: str = ""

    def __post_init__(self) -> None:
        if self.geometry not in GEOMETRIES:
            raise ValueError(f"asset kind {self.name!r}: geometry {self.geometry!r} is not one of {GEOMETRIES}")


@dataclass(frozen=True)
class Domain:
    """A domain: its asset kinds and the fields of its state table."""

    name: str
    title: str
    kinds: tuple[AssetKind, ...]
    fields: tuple[FieldSpec, ...]
    title_zh: str = ""

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(f"domain {self.name!r} has no field {name!r}; it has {', '.join(f.name for f in self.fields)}")

    def kind(self, name: str) -> AssetKind:
        for kind in self.kinds:
            if kind.name == name:
                return kind
        raise KeyError(f"domain {self.name!r} has no asset kind {name!r}; it has {', '.join(k.name for k in self.kinds)}")


@dataclass(frozen=True)
class Param:
    """A configurable scalar or breakpoint array passed to a kernel.

    ``source`` names where the value comes from (a standard's clause); ``default=True``
    says the value is our proposal, not a standard's text.
    """

    name: str
    value: float | tuple[float, ...]
    unit: str
    source: str
    default: bool = False

    def as_argument(self, value: float | tuple[float, ...] | None = None) -> Any:
        v = self.value if value is None else value
        if isinstance(v, (tuple, list)):
            return np.asarray(v, dtype=np.float64)
        return float(v)


@dataclass(frozen=True)
class Updater:
    """A step function over a domain's arrays: physics and derived fields.

    ``step(ctx)`` reads ``ctx.table`` (this domain's table), ``ctx.dt`` and ``ctx.time``
    and writes the fields named in ``writes`` in place. Its ``params`` (set points a
    standard fixes, such as the %LEL that starts emergency fans) reach it as
    ``ctx.params[name]``, from the plugin's defaults or the configuration's
    ``[thresholds.<updater name>]`` table.
    """

    name: str
    domain: str
    step: Callable[[StepContext], None]
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    params: tuple[Param, ...] = ()


@dataclass(frozen=True)
class Kernel:
    """A Numba-compiled risk function over a domain's arrays.

    The engine calls ``func(*inputs, *params, *outputs)``: the input columns, then the
    parameter values (floats, or float64 arrays for breakpoints), then the output
    columns, which the kernel fills in place. ``func`` must be an ``@njit`` dispatcher.
    """

    name: str
    domain: str
    func: Any
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: tuple[Param, ...] = ()


@dataclass(frozen=True)
class AlarmRule:
    """Raises an alarm per asset from a risk field in [0, 1].

    Levels follow the one convention: blue at 0.25, yellow 0.50, orange 0.75, red 0.90.
    A level is entered when the risk reaches its threshold and left when the risk falls
    ``hysteresis`` below it; either change must hold for its dwell before it counts.
    """

    name: str
    domain: str
    risk_field: str
    title: str
    title_zh: str = ""
    kinds: tuple[str, ...] = ()
    hysteresis: float = 0.05
    raise_dwell: float = 2.0
    clear_dwell: float = 10.0


@dataclass(frozen=True)
class ActionParam:
    name: str
    unit: str
    description: str
    default: float | None = None
    valid: tuple[float, float] = (-np.inf, np.inf)


@dataclass(frozen=True)
class Action:
    """Something a drill or an operator can do to the world (``gas.leak``).

    ``apply(world, asset_id, **params)`` changes the world's state in place.
    ``district``: it acts on the whole district whichever asset it names (a storm), so a
    report credits it with the alarms of its domain anywhere (twin.runs.credit).
    """

    name: str
    domain: str
    apply: Callable[..., None]
    description: str
    params: tuple[ActionParam, ...] = ()
    kinds: tuple[str, ...] = ()
    district: bool = False


@dataclass(frozen=True)
class Coupling:
    """An effect of one domain's state on another's, stepped after the kernels.

    ``step(ctx)`` sees the ``target`` domain as ``ctx.table`` and reads ``source`` from
    ``ctx.tables``; it writes only the ``target`` fields named in ``writes`` (declared so
    that a quarantined plugin's coupled fields are marked stale) and reads only the
    fields named in ``reads``, as ``"<domain>.<field>"`` of its source or target (at
    least one of the source's). Both are checked against the domains on load. ``params``
    reach it as ``ctx.params``, configurable in ``[thresholds.<coupling name>]`` like a
    kernel's.
    """

    name: str
    source: str
    target: str
    step: Callable[[StepContext], None]
    description: str
    writes: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    reads: tuple[str, ...] = ()


@dataclass(frozen=True)
class ViewerStyle:
    """How the viewer draws a domain: legend, colours, labels in both languages."""

    domain: str
    label: str
    label_zh: str
    color: str
    colour_field: str | None = None
    field_labels_zh: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AssetGenerator:
    """Places a domain's assets and sensors in a synthetic city (see :mod:`twin.authoring.citygen`).

    ``generate(plan)`` calls ``plan.add_asset`` and ``plan.add_sensor``; ``after`` names
    domains whose assets must already be in the plan (to lie beside them).
    """

    domain: str
    generate: Callable[..., None]
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class SceneImporter:
    """Turns a file in a utility's own format into a twin scene (``twin import``).

    ``write(source_path, scene_dir)`` reads ``source_path`` and writes ``scene.toml`` and
    its data files into ``scene_dir`` (created if missing), so that ``twin check
    scene_dir`` accepts them; it returns counts of what it wrote (``{"pipe": 120, ...}``;
    a ``"warnings"`` entry, a list of strings, is printed as warnings). Errors in the
    source raise ``ValueError`` naming the file, the line and the field.
    """

    format: str
    suffixes: tuple[str, ...]
    description: str
    write: Callable[[Path, Path], Mapping[str, Any]]


@dataclass(frozen=True)
class Command:
    """A subcommand of ``twin`` that a plugin contributes (``twin drainage run NET.inp``).

    The core makes the subparser ``twin <name>`` with ``help`` and hands it to
    ``arguments(parser)``, which adds the command's arguments (and its own
    subcommands); ``twin <name> ...`` then calls ``run(args)`` with the parsed
    ``argparse.Namespace`` and exits with the int it returns. A ``ValueError`` it raises
    is printed as one line, ``twin <name>: message``, with exit code 2.
    """

    name: str
    help: str
    arguments: Callable[[Any], None]
    run: Callable[[Any], int]


@dataclass(frozen=True)
class IncidentGrouping:
    """Which of a domain's alarms are one incident (see :mod:`twin.loop.incidents`).

    A new alarm of ``domain`` (of one of ``rules``; empty: any of the domain's) joins the
    open incident holding an alarm of the same domain (and rule, if ``same_rule``) whose
    asset lies within ``distance`` metres of its own (``math.inf``: anywhere) and whose
    condition is active or changed less than ``window`` seconds before it was raised, and
    (if ``same_owner``) whose asset has the same owner unit, so that each unit gets its
    own incident to dispatch. Failing that it joins an incident a coupling links it to,
    else it opens one.
    """

    domain: str
    distance: float
    window: float
    rules: tuple[str, ...] = ()
    same_rule: bool = False
    description: str = ""
    same_owner: bool = False


# -- checking what a plugin returns against these declarations ---------------------------------
def wrong_fields(item: Any) -> list[str]:
    """What is wrong with a contribution's fields against their declared types (the
    annotations above), one entry per field: ``"reads = ['depth'] is a list; expected
    tuple[str, ...]"``. Nested contributions (a domain's kinds and fields, a kernel's
    params) are checked too. Empty when every field has its declared type."""
    out: list[str] = []
    hints = _field_types(type(item))
    for spec in dataclasses.fields(item):
        value = getattr(item, spec.name)
        hint = hints.get(spec.name, Any)
        if not _matches(value, hint):
            args = typing.get_args(hint)
            if isinstance(value, tuple) and typing.get_origin(hint) is tuple and len(args) == 2 and args[1] is Ellipsis:
                # name the item that is wrong, not the whole tuple
                index, bad = next((i, v) for i, v in enumerate(value) if not _matches(v, args[0]))
                out.append(f"{spec.name}[{index}] = {brief(bad)} is {_a(bad)}; expected {_type_name(args[0])}")
            else:
                out.append(f"{spec.name} = {brief(value)} is {_a(value)}; expected {_type_name(hint)}")
            continue
        for index, inner in enumerate(value if isinstance(value, tuple) else (value,)):
            if dataclasses.is_dataclass(inner) and not isinstance(inner, type):
                where = f"{spec.name}[{index}]" if isinstance(value, tuple) else spec.name
                out.extend(f"{where}.{problem}" for problem in wrong_fields(inner))
    return out


def _field_types(cls: type) -> dict[str, Any]:
    # Annotations are strings (postponed evaluation); StepContext is imported only for
    # type checkers, and a Callable's argument types are not checked anyway.
    return typing.get_type_hints(cls, localns={"StepContext": object})


def _matches(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if hint is bool:
        return isinstance(value, (bool, np.bool_))
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(v, args[0]) for v in value)
        return len(value) == len(args) and all(_matches(v, a) for v, a in zip(value, args))
    if origin is Callable or hint is Callable:
        return callable(value)
    if origin is Mapping:
        return isinstance(value, Mapping) and all(_matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items())
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _type_name(hint: Any) -> str:
    if hint is type(None):
        return "None"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is tuple:
        inner = f"{_type_name(args[0])}, ..." if len(args) == 2 and args[1] is Ellipsis else ", ".join(_type_name(a) for a in args)
        return f"tuple[{inner}]"
    if origin is Callable or hint is Callable:
        return "a function"
    if origin is Mapping:
        return f"Mapping[{_type_name(args[0])}, {_type_name(args[1])}]"
    return getattr(hint, "__name__", str(hint))


def _a(value: Any) -> str:
    name = type(value).__name__
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


def brief(value: Any) -> str:
    """``repr(value)``, cut to 60 characters: enough to recognise a value in an error."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
