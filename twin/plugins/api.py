"""The objects the core hands to plugin code, named once.

A plugin's hooks return contributions (:mod:`twin.plugins.contributions`); the functions those
name are then called with objects of the core: an updater's ``ctx``, an action's
``world``, a generator's ``plan``, the assets of the scene. :data:`HANDED` names each,
with the members plugin code may use. :func:`reference` writes their reference for
``docs/plugins.md`` from their declarations alone (type hints, docstrings and ``#:``
comments), so that the page cannot drift from the code; ``tests/test_docs.py`` checks
that it does not, and that the built-in plugins use no member left out here.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Handed:
    """One class whose instances plugin code is handed, and the members it may use."""

    #: ``module:Class``
    target: str
    #: the name plugin code gives it (``ctx``), used in the member column
    alias: str
    #: how plugin code comes by it
    given: str
    #: the members documented, in this order; empty for every public one in source order
    members: tuple[str, ...] = ()


HANDED = (
    Handed("twin.tick.world:StepContext", "ctx", "the argument of an updater's or a coupling's `step(ctx)`"),
    Handed("twin.tick.world:World", "world", "`ctx.world`; the first argument of an action's `apply(world, asset_id, **params)`",
           ("scene", "tables", "time", "locate", "memo")),
    Handed("twin.tick.state:DomainTable", "table", "`ctx.table` (the step's own domain), `ctx.tables[domain]`, `world.locate(id)[0]`",
           ("domain", "ids", "index", "kind", "kind_names", "columns", "__getitem__", "__len__", "rows", "mask", "live_fields")),
    Handed("twin.tick.scene:Scene", "scene", "`world.scene`, the scene the world was built from",
           ("name", "title", "root", "origin", "assets", "sensors", "asset", "counts")),
    Handed("twin.types:Asset", "asset", "the items of `world.scene.assets[domain]`, in table row order"),
    Handed("twin.types:Sensor", "sensor", "the items of `world.scene.sensors`", ("id", "asset", "field")),
    Handed("twin.authoring.citygen:CityPlan", "plan", "the argument of an asset generator's `generate(plan)`"),
    Handed("twin.authoring.citygen:Street", "street", "the items of `plan.streets`"),
)

#: functions and constants of the core that plugin code imports, ``module:name``
HELPERS = (
    "twin.authoring.citygen:point",
    "twin.authoring.citygen:line",
    "twin.authoring.citygen:polygon",
    "twin.authoring.citygen:BLOCK",
    "twin.authoring.citygen:STREET_WIDTH",
    "twin.authoring.citygen:RIVER_HALF_WIDTH",
    "twin.tick.risk:piecewise_risk",
)

#: how a special method reads in plugin code
_SPELLED = {"__getitem__": "{alias}[{args}]", "__len__": "len({alias})"}


@dataclass(frozen=True)
class Member:
    """One documented member: how plugin code writes it, its type, what it is."""

    written: str
    type: str
    meaning: str


class Undocumented(ValueError):
    """A member handed to plugin code has no docstring or ``#:`` comment."""


def members(handed: Handed) -> list[Member]:
    """The documented members of ``handed``, from its class's source; raises
    :class:`Undocumented` naming each member without a description."""
    cls = _resolve(handed.target)
    found = _class_members(cls, handed.alias)
    names = handed.members or tuple(n for n in found if not n.startswith("_"))
    unknown = [n for n in names if n not in found]
    if unknown:
        raise Undocumented(f"{handed.target}: no member(s) {', '.join(unknown)} in its source")
    missing = [f"{handed.target}.{n}" for n in names if not found[n].meaning]
    if missing:
        raise Undocumented(f"give these a docstring or a #: comment: {', '.join(missing)}")
    return [found[n] for n in names]


def helpers() -> list[Member]:
    """The documented helpers of :data:`HELPERS`; raises :class:`Undocumented` for a
    helper without a docstring or ``#:`` comment."""
    out, missing = [], []
    for target in HELPERS:
        module_name, name = target.split(":")
        module = importlib.import_module(module_name)
        member = _module_member(module, name)
        if not member.meaning:
            missing.append(target)
        out.append(member)
    if missing:
        raise Undocumented(f"give these a docstring or a #: comment: {', '.join(missing)}")
    return out


def reference() -> str:
    """The Markdown of the reference: a section per handed class, then the helpers."""
    parts = []
    for handed in HANDED:
        cls = _resolve(handed.target)
        module, name = handed.target.split(":")
        parts.append(f"### `{name}` (`{handed.alias}`)\n\n{_first_paragraph(cls.__doc__)} "
                     f"`{module}.{name}`; plugin code gets it as {handed.given}.\n\n{_table(members(handed))}")
    parts.append("### Helpers\n\nImported from the core by plugin code (`from twin.authoring.citygen import point, line`).\n\n"
                 + _table(helpers(), "name"))
    return "\n".join(parts)


# -- reading the declarations -----------------------------------------------------------------
def _resolve(target: str) -> Any:
    module_name, name = target.split(":")
    return getattr(importlib.import_module(module_name), name)


def _class_members(cls: type, alias: str) -> dict[str, Member]:
    """Every member the source of ``cls`` declares: annotated fields, properties and
    methods, and the attributes ``__init__`` assigns, each with its description."""
    lines = inspect.getsource(inspect.getmodule(cls)).splitlines()
    tree = ast.parse("\n".join(lines))
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
    out: dict[str, Member] = {}
    for item in node.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            out[item.target.id] = Member(f"{alias}.{item.target.id}", ast.unparse(item.annotation), _comment(lines, item))
        elif isinstance(item, ast.FunctionDef):
            if item.name == "__init__":
                for statement in item.body:
                    target = _self_target(statement)
                    if target is not None and target not in out:
                        out[target] = Member(f"{alias}.{target}", _assigned_type(statement, item), _comment(lines, statement))
                continue
            returns = ast.unparse(item.returns) if item.returns is not None else ""
            meaning = _first_paragraph(ast.get_docstring(item))
            if any(isinstance(d, ast.Name) and d.id == "property" for d in item.decorator_list):
                out[item.name] = Member(f"{alias}.{item.name}", returns, meaning)
            else:
                args = _arguments(item)
                spelled = _SPELLED.get(item.name, f"{alias}.{item.name}({{args}})")
                out[item.name] = Member(spelled.format(alias=alias, args=args), returns, meaning)
    return out


def _module_member(module: Any, name: str) -> Member:
    lines = inspect.getsource(module).splitlines()
    for item in ast.parse("\n".join(lines)).body:
        if isinstance(item, ast.FunctionDef) and item.name == name:
            returns = ast.unparse(item.returns) if item.returns is not None else ""
            return Member(f"{module.__name__}.{name}({_arguments(item)})", returns, _first_paragraph(ast.get_docstring(item)))
        targets = item.targets if isinstance(item, ast.Assign) else [item.target] if isinstance(item, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            value = getattr(module, name)
            return Member(f"{module.__name__}.{name}", type(value).__name__, f"{_comment(lines, item)} ({value!r})")
    raise Undocumented(f"{module.__name__}.{name}: not defined at the top of its module")


def _self_target(statement: ast.stmt) -> str | None:
    targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target] if isinstance(statement, ast.AnnAssign) else []
    for t in targets:
        if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self" and not t.attr.startswith("_"):
            return t.attr
    return None


def _assigned_type(statement: ast.stmt, init: ast.FunctionDef) -> str:
    """The declared type of ``self.x = ...`` in ``__init__``: its annotation, the
    annotation of the parameter it is set from, or the type of the literal it is set to."""
    if isinstance(statement, ast.AnnAssign):
        return ast.unparse(statement.annotation)
    value = statement.value if isinstance(statement, ast.Assign) else None
    if isinstance(value, ast.Name):
        for arg in init.args.args + init.args.kwonlyargs:
            if arg.arg == value.id and arg.annotation is not None:
                return ast.unparse(arg.annotation)
    if isinstance(value, ast.Constant) and value.value is not None:
        return type(value.value).__name__
    return ""


def _arguments(function: ast.FunctionDef) -> str:
    args = function.args
    names = [a.arg for a in args.posonlyargs + args.args if a.arg not in ("self", "cls")]
    defaults = dict(zip(reversed(names), reversed([ast.unparse(d) for d in args.defaults])))
    out = [f"{n}={defaults[n]}" if n in defaults else n for n in names]
    if args.vararg:
        out.append(f"*{args.vararg.arg}")
    out += [f"{a.arg}={ast.unparse(d)}" if d is not None else a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    if args.kwarg:
        out.append(f"**{args.kwarg.arg}")
    return ", ".join(out)


def _comment(lines: list[str], node: ast.stmt) -> str:
    """The ``#:`` comment lines just above ``node``, joined."""
    found: list[str] = []
    number = node.lineno - 2
    while number >= 0 and lines[number].strip().startswith("#:"):
        found.insert(0, lines[number].strip()[2:].strip())
        number -= 1
    return " ".join(found)


def _first_paragraph(doc: str | None) -> str:
    text = textwrap.dedent(doc or "").strip().split("\n\n")[0]
    return re.sub(r"\s+", " ", text)


def _table(rows: list[Member], first: str = "member") -> str:
    body = "".join(f"| `{m.written}` | {f'`{m.type}`' if m.type else ''} | {_cell(m.meaning)} |\n" for m in rows)
    return f"| {first} | type | meaning |\n| --- | --- | --- |\n{body}"


def _cell(text: str) -> str:
    # Sphinx-style roles and double backticks read as code on the page
    text = re.sub(r":(?:class|func|meth|data|mod|attr):`~?([^`]+)`", r"`\1`", text).replace("``", "`")
    return text.replace("|", "\\|")
