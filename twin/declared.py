"""Files declared once, as msgspec Structs: checked and documented from the declaration.

A file format (a scene, a drill, a configuration) is a tree of ``msgspec.Struct``
classes declared with ``forbid_unknown_fields=True``; each field's type says what is
valid (``Annotated[float, Meta(ge=0)]``, ``Literal[...]``) and the ``#:`` comment above
it what it means. :func:`check` converts a parsed :class:`~twin.tomlfile.TomlFile`
with ``msgspec.convert`` and reports **every** problem, not only the first, one line
each: file, line, key and what would be valid. :func:`reference` writes a Struct's
keys as a Markdown table for the docs, from the same declaration.

``Meta(extra={"expected": "..."})`` on a type gives the words for what is valid when
the type's own (``a number >= 0``) would not say it well.
"""

from __future__ import annotations

import ast
import inspect
import math
import re
import textwrap
import types
import typing
from collections.abc import Iterator
from typing import Any, Literal

import msgspec
from msgspec import inspect as mi

from twin.tomlfile import Keys, TomlFile, shown

#: the type of a file that is not a table where a table is declared
_TABLE_WORDS = "a table"


def check(toml: TomlFile, kind: Any, problems: list[str], keys: Keys = (), value: Any = ...) -> Any:
    """``value`` (by default the value at ``keys`` of ``toml``) converted to the declared
    ``kind``, or None when it is not valid; every problem found is appended to
    ``problems`` as ``file: line N: key ...; expected ...``."""
    if value is ...:
        value = toml.value(keys)
    found: list[str] = []
    _walk(toml, value, kind, keys, found)
    if found:
        problems.extend(found)
        return None
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        # a check the declaration runs on a whole table (a Struct's __post_init__)
        message, at = _split(str(exc))
        problems.append(f"{toml.where(keys + at)}: {message}")
        return None


def check_tables(toml: TomlFile, kind: type, problems: list[str]) -> dict[str, Any]:
    """Each top-level table of ``toml`` checked on its own against its field of the
    declared file ``kind`` (an array of tables element by element), so that a wrong
    table leaves the others usable: their values by key (the default for a key the file
    leaves out; None for a wrong table or element). Problems go to ``problems``."""
    fields = {f.encode_name: f for f in msgspec.structs.fields(kind)}
    for key in toml.data:
        if key not in fields:
            problems.append(f"{toml.where((key,))}: unknown table; valid: {', '.join(fields)}")
    out: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in toml.data:
            if f.required:
                problems.append(f"{toml.path}: no [{name}]; it is required: {expected(f.type)}")
                out[name] = None
            else:
                out[name] = f.default if f.default is not msgspec.NODEFAULT else f.default_factory()
            continue
        base = _unwrap(f.type)
        if typing.get_origin(base) is list and isinstance(toml.data[name], list):
            (item,) = typing.get_args(base)
            out[name] = [check(toml, item, problems, keys=(name, n)) for n in range(len(toml.data[name]))]
        else:
            out[name] = check(toml, f.type, problems, keys=(name,))
    return out


def _walk(toml: TomlFile, value: Any, kind: Any, keys: Keys, problems: list[str]) -> None:
    base = _unwrap(kind)
    if typing.get_origin(base) in (typing.Union, types.UnionType):
        others = [a for a in typing.get_args(base) if a is not type(None)]
        if len(others) == 1:  # X | None: a key that may be left out, never None in TOML
            _walk(toml, value, others[0], keys, problems)
            return
    if _is_struct(base):
        if not isinstance(value, dict):
            problems.append(f"{toml.where(keys)} = {shown(value)}; expected {expected(kind)}")
            return
        before = len(problems)
        fields = {f.encode_name: f for f in msgspec.structs.fields(base)}
        for key in value:
            if key not in fields:
                problems.append(f"{toml.where(keys, at=keys + (key,))}: unknown {key}; valid keys: {', '.join(fields)}")
        for name, f in fields.items():
            if name in value:
                _walk(toml, value[name], f.type, keys + (name,), problems)
            elif f.required:
                problems.append(f"{toml.where(keys)}: {name} is missing; expected {expected(f.type)}")
        if len(problems) == before:
            # the checks a declaration runs on the whole table (its __post_init__), here
            # so that each table's are reported, not only the first one's
            try:
                msgspec.convert(value, base)
            except msgspec.ValidationError as exc:
                message, at = _split(str(exc))
                problems.append(f"{toml.where(keys + at)}: {message}")
        return
    origin = typing.get_origin(base)
    if origin is list and isinstance(value, list):
        before = len(problems)
        _leaf_length(toml, value, kind, keys, problems)
        if len(problems) == before:
            (item,) = typing.get_args(base)
            for n, element in enumerate(value):
                _walk(toml, element, item, keys + (n,), problems)
        return
    if origin is dict and isinstance(value, dict):
        key_kind, item = typing.get_args(base)
        for key, element in value.items():
            try:
                msgspec.convert(key, key_kind)
            except msgspec.ValidationError:
                names = typing.get_args(_unwrap(key_kind)) if typing.get_origin(_unwrap(key_kind)) is Literal else ()
                valid = ", ".join(map(str, names)) or expected(key_kind)
                problems.append(f"{toml.where(keys, at=keys + (key,))}: unknown {key}; valid keys: {valid}")
                continue
            _walk(toml, element, item, keys + (key,), problems)
        return
    try:
        msgspec.convert(value, kind)
    except msgspec.ValidationError:
        problems.append(f"{toml.where(keys)} = {shown(value)}; expected {expected(kind)}")
        return
    if any(not math.isfinite(v) for v in _floats(value)):
        problems.append(f"{toml.where(keys)} = {shown(value)}; expected {expected(kind)} (a finite number: not nan or inf)")


def _leaf_length(toml: TomlFile, value: list[Any], kind: Any, keys: Keys, problems: list[str]) -> None:
    """A list's own constraints (its length), before its items are judged one by one."""
    info = mi.type_info(kind)
    info = info.type if isinstance(info, mi.Metadata) else info
    low, high = getattr(info, "min_length", None), getattr(info, "max_length", None)
    if (low is not None and len(value) < low) or (high is not None and len(value) > high):
        problems.append(f"{toml.where(keys)} = {shown(value)}; expected {expected(kind)}")


def _floats(value: Any) -> Iterator[float]:
    if isinstance(value, float):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _floats(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _floats(v)


def _split(message: str) -> tuple[str, Keys]:
    """msgspec's ``what - at `$.a[2].b``` as (what, ("a", 2, "b"))."""
    m = re.fullmatch(r"(?s)(.*?) - at `\$(.*)`", message)
    if m is None:
        return message, ()
    keys: list[str | int] = []
    for name, index in re.findall(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]", m.group(2)):
        if name:
            keys.append(name)
        elif index != "...":
            keys.append(int(index))
    return m.group(1), tuple(keys)


def _unwrap(kind: Any) -> Any:
    while typing.get_origin(kind) is typing.Annotated:
        kind = typing.get_args(kind)[0]
    return kind


def _is_struct(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, msgspec.Struct)


# -- what is valid, in words ----------------------------------------------------------------------
def expected(kind: Any) -> str:
    """What a value of the declared ``kind`` may be, in words: ``a number in [0, 1]``,
    ``one of "acknowledge", "dispatch", "resolve"``; a type's ``Meta(extra={"expected"})``
    wins."""
    return _words(mi.type_info(kind), kind)


def _words(info: Any, kind: Any = None) -> str:
    if isinstance(info, mi.Metadata):
        said = (info.extra or {}).get("expected")
        return str(said) if said else _words(info.type, _unwrap(kind) if kind is not None else None)
    if isinstance(info, mi.UnionType):
        parts = [t for t in info.types if not isinstance(t, mi.NoneType)]
        args = [a for a in typing.get_args(kind) if a is not type(None)] if kind is not None else [None] * len(parts)
        if len(args) != len(parts):
            args = [None] * len(parts)
        return " or ".join(_words(t, a) for t, a in zip(parts, args))
    if isinstance(info, mi.LiteralType):
        values = [a for a in typing.get_args(kind)] if kind is not None and typing.get_args(kind) else list(info.values)
        return _literal(values[0]) if len(values) == 1 else "one of " + ", ".join(_literal(v) for v in values)
    if isinstance(info, (mi.IntType, mi.FloatType)):
        noun = "an integer" if isinstance(info, mi.IntType) else "a number"
        return noun + _bounds(info)
    if isinstance(info, mi.StrType):
        if info.pattern:
            return f"a string of the form /{info.pattern}/"
        return "a non-empty string" if info.min_length else "a string"
    if isinstance(info, mi.BoolType):
        return "true or false"
    if isinstance(info, mi.DateTimeType):
        return "a date and time with its offset, such as 2026-07-15T14:00:00+08:00" if info.tz else "a date and time"
    if isinstance(info, (mi.ListType, mi.VarTupleType)):
        item = typing.get_args(_unwrap(kind))[0] if kind is not None and typing.get_args(_unwrap(kind)) else None
        size = ""
        if info.min_length is not None and info.min_length == info.max_length:
            size = f" of {info.min_length}"
        elif info.min_length:
            size = f" of at least {info.min_length}"
        return f"a list{size} of {_words(info.item_type, item)}"
    if isinstance(info, mi.TupleType):
        return "[" + ", ".join(_words(t) for t in info.item_types) + "]"
    if isinstance(info, mi.DictType):
        return f"a table, each value {_words(info.value_type)}"
    if isinstance(info, mi.StructType):
        required = [f.encode_name for f in info.fields if f.required]
        return _TABLE_WORDS + (f" with {', '.join(required)}" if required else "")
    return getattr(info, "__class__", type(info)).__name__.removesuffix("Type").lower()


def _literal(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else ("true" if value is True else "false" if value is False else str(value))


def _bounds(info: Any) -> str:
    low = (">=", info.ge) if info.ge is not None else (">", info.gt) if info.gt is not None else None
    high = ("<=", info.le) if info.le is not None else ("<", info.lt) if info.lt is not None else None
    if low and high:
        return f" in {'[' if low[0] == '>=' else '('}{low[1]:g}, {high[1]:g}{']' if high[0] == '<=' else ')'}"
    if low:
        return f" {low[0]} {low[1]:g}"
    if high:
        return f" {high[0]} {high[1]:g}"
    return ""


# -- the reference, for the docs ------------------------------------------------------------------
def meanings(struct: type) -> dict[str, str]:
    """The ``#:`` comment above each field of ``struct``'s declaration, by field name."""
    lines = inspect.getsource(inspect.getmodule(struct)).splitlines()  # type: ignore[arg-type]
    tree = ast.parse("\n".join(lines))
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == struct.__name__)
    out: dict[str, str] = {}
    for item in node.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            found: list[str] = []
            number = item.lineno - 2
            while number >= 0 and lines[number].strip().startswith("#:"):
                found.insert(0, lines[number].strip()[2:].strip())
                number -= 1
            out[item.target.id] = " ".join(found)
    return out


def reference(struct: type, keys: tuple[str, ...] | None = None) -> str:
    """``struct``'s keys (or those named in ``keys``, in that order) as a Markdown table:
    key, what is valid, the default, what it means. A key without a ``#:`` comment is a
    ValueError naming it (the reference would have a hole)."""
    said = meanings(struct)
    fields = {f.encode_name: f for f in msgspec.structs.fields(struct)}
    rows = []
    for name in keys or tuple(fields):
        f = fields[name]
        if not said.get(f.name):
            raise ValueError(f"{struct.__module__}.{struct.__qualname__}.{f.name}: give it a #: comment for the reference")
        if f.required:
            default = "required"
        else:
            value = f.default if f.default is not msgspec.NODEFAULT else f.default_factory()
            default = "none" if value in (None, "", {}, [], ()) else f"`{_toml(value)}`"
        rows.append(f"| `{name}` | {_cell(expected(f.type))} | {default} | {_cell(said[f.name])} |")
    return "| key | valid | default | meaning |\n| --- | --- | --- | --- |\n" + "\n".join(rows) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _cell(text: str) -> str:
    return textwrap.dedent(text).replace("|", "\\|").replace("\n", " ")
