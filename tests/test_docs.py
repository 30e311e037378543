"""docs/plugins.md cannot drift from the code: every hook has a section headed by its
full signature, every contribution field is listed, every code example on the page
is cut from a file that runs (the template's project, or this module), and the reference
of the objects handed to plugin code is generated from their declarations.

After changing a marked region, refresh the page with ``python tests/test_docs.py``.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pluggy
import pytest

import twin
from twin import Coupling, hookimpl
from twin.plugins import contributions, hookspecs
from twin.plugins.registry import load_registry
from twin.authoring.scaffold import FILES, MARKER, template_text

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "plugins.md"
#: include paths under this prefix are files of the project `twin plugin new water` writes
PROJECT = "twin-water/"
INCLUDE = re.compile(
    r"<!-- include: (?P<path>\S+) (?P<region>[a-z0-9-]+) -->\n```(?P<lang>\w*)\n(?P<body>.*?)```\n<!-- end include -->",
    re.S,
)


def _hook_names() -> list[str]:
    pm = pluggy.PluginManager("twin")
    pm.add_hookspecs(hookspecs)
    return sorted(name for name in dir(pm.hook) if name.startswith("twin_"))


def _headings() -> list[tuple[int, str, int]]:
    """(level, text without backticks, offset) of every Markdown heading."""
    out = []
    for match in re.finditer(r"^(#+) (.+)$", DOC.read_text(encoding="utf-8"), re.M):
        out.append((len(match.group(1)), match.group(2).replace("`", "").strip(), match.start()))
    return out


def _source(path: str) -> str:
    """The file an include names, with its docs markers."""
    if path.startswith(PROJECT):
        relative = path[len(PROJECT):]
        for template, target in FILES.items():
            if target.format(package="twin_water", name="water") == relative:
                return template_text(template, "water")
        raise AssertionError(f"docs/plugins.md includes {path}, which `twin plugin new water` does not write")
    return (ROOT / path).read_text(encoding="utf-8")


def _regions(text: str) -> dict[str, str]:
    regions: dict[str, str] = {}
    open_at: dict[str, int] = {}
    lines = text.splitlines(keepends=True)
    for number, line in enumerate(lines):
        match = MARKER.match(line)
        if not match:
            continue
        kind, name = match.groups()
        if kind == "start":
            open_at[name] = number + 1
        else:
            regions[name] = "".join(lines[open_at.pop(name) : number])
    assert not open_at, f"docs markers opened and never closed: {sorted(open_at)}"
    return regions


def _all_marked() -> set[tuple[str, str]]:
    marked = set()
    for template, target in FILES.items():
        path = PROJECT + target.format(package="twin_water", name="water")
        marked |= {(path, region) for region in _regions(template_text(template, "water"))}
    marked |= {("tests/test_docs.py", region) for region in _regions(Path(__file__).read_text(encoding="utf-8"))}
    # The built-in plugins' code is an example too where no template shows a hook (importers).
    for path in sorted(ROOT.glob("plugins/*/twin_*/*.py")):
        marked |= {(path.relative_to(ROOT).as_posix(), region) for region in _regions(path.read_text(encoding="utf-8"))}
    return marked


INCLUDES = [(m.group("path"), m.group("region"), m.group("body")) for m in INCLUDE.finditer(DOC.read_text(encoding="utf-8"))]


# -- hooks ------------------------------------------------------------------------------
@pytest.mark.parametrize("hook", _hook_names())
def test_plugin_hooks_are_documented(hook: str) -> None:
    pm = pluggy.PluginManager("twin")
    pm.add_hookspecs(hookspecs)
    caller = getattr(pm.hook, hook)
    signature = f"{hook}({', '.join(caller.spec.argnames)})"
    assert signature in {text for _, text, _ in _headings()}, f"docs/plugins.md needs a heading `{signature}`"


def test_every_documented_hook_exists() -> None:
    documented = {text.split("(")[0] for _, text, _ in _headings() if text.startswith("twin_")}
    assert documented == set(_hook_names())


def test_hook_sections_give_the_return_type_and_an_example() -> None:
    text = DOC.read_text(encoding="utf-8")
    headings = _headings()
    for index, (level, title, start) in enumerate(headings):
        if not title.startswith("twin_"):
            continue
        end = headings[index + 1][2] if index + 1 < len(headings) else len(text)
        section = text[start:end]
        assert "**Returns** `list[twin." in section, f"{title}: say what it returns"
        assert "<!-- include: " in section, f"{title}: include a working example"


# -- contribution classes ------------------------------------------------------------------
CLASSES = [
    name for name in twin.__all__
    if dataclasses.is_dataclass(getattr(contributions, name, None))
]


@pytest.mark.parametrize("name", CLASSES)
def test_contribution_fields_are_documented(name: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    headings = _headings()
    found = [i for i, (_, title, _) in enumerate(headings) if title == name]
    assert found, f"docs/plugins.md needs a section `{name}`"
    index = found[0]
    end = headings[index + 1][2] if index + 1 < len(headings) else len(text)
    section = text[headings[index][2] : end]
    documented = set(re.findall(r"^\| `(\w+)` \|", section, re.M))
    fields = {f.name for f in dataclasses.fields(getattr(contributions, name))}
    assert documented == fields, f"{name}: fields {sorted(fields)}; the page lists {sorted(documented)}"


# -- examples ------------------------------------------------------------------------------
def test_page_has_examples_and_includes_every_marked_region() -> None:
    included = {(path, region) for path, region, _ in INCLUDES}
    assert len(included) == len(INCLUDES), "a region is included twice"
    assert included == _all_marked()


@pytest.mark.parametrize(("path", "region", "body"), INCLUDES, ids=[f"{p}:{r}" for p, r, _ in INCLUDES])
def test_snippet_equals_the_code(path: str, region: str, body: str) -> None:
    regions = _regions(_source(path))
    assert region in regions, f"{path} has no region {region!r}"
    assert body == regions[region], f"docs/plugins.md is out of date for {path}:{region}; run python tests/test_docs.py"


def test_the_guides_commands_exist() -> None:
    from twin import cli

    text = DOC.read_text(encoding="utf-8")
    for command in ("twin plugin new water", "twin plugins", "twin generate", "twin check", "twin import"):
        assert command in text
    assert {"plugins", "plugin", "generate", "check", "import"} <= set(cli.COMMANDS)


# -- the coupling example ------------------------------------------------------------------
# [docs:start coupling]
def same_corner(world):
    """(junction rows, tank rows) of the water junctions and toy tanks at one corner."""
    tank_at = {tuple(a.geometry["coordinates"][:2]): row for row, a in enumerate(world.scene.assets["toy"])}
    pairs = [(row, tank_at[xy]) for row, a in enumerate(world.scene.assets["water"])
             if (xy := tuple(a.geometry["coordinates"][:2])) in tank_at]
    return tuple(np.array(side, dtype=np.int64) for side in zip(*pairs))


def burst_fills_tanks(ctx):
    junctions, tanks = ctx.world.memo("water->toy corners", lambda: same_corner(ctx.world))
    # ctx.table is the target's (toy); the source's columns are in ctx.tables.
    ctx.table["inflow"][tanks] = ctx.tables["water"]["burst_flow"][junctions]


class FloodPlugin:
    PLUGIN_NAME = "flood"

    @hookimpl
    def twin_couplings(self):
        return [Coupling("water_to_toy.flood", "water", "toy", burst_fills_tanks,
                         "water from a burst main runs into the tank at its corner",
                         writes=("inflow",), reads=("water.burst_flow",))]
# [docs:end coupling]


@pytest.fixture(scope="module")
def water_plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    from twin.authoring.scaffold import new_plugin

    root = new_plugin("water", tmp_path_factory.mktemp("scaffold") / "twin-water")
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module("twin_water.plugin")
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == "twin_water" or m.startswith("twin_water.")]:
            del sys.modules[name]


def test_coupling_example_runs(twin_harness, water_plugin: ModuleType) -> None:
    import toyplugin

    h = twin_harness(plugins=[water_plugin, toyplugin, FloodPlugin()])
    assert h.registry.plugins["flood"].status == "active", h.registry.plugins["flood"].reason
    junction = h.plan.sensors[0]["asset"]
    x, y = h.scene.asset(junction).geometry["coordinates"][:2]
    tank = next(a.id for a in h.scene.assets["toy"] if a.geometry["coordinates"][:2] == [x, y])
    others = [a.id for a in h.scene.assets["toy"] if a.id != tank]
    h.act("water.burst", junction, flow=0.05)
    h.run(20)
    # 0.05 m3/s into a 10 m3 tank is 0.5 % a second. Couplings run after the updaters,
    # so the tank's own updater sees the inflow from the second tick on: 19 s of it.
    assert h.value(tank, "level", truth=True) == pytest.approx(9.5)
    assert h.value(tank, "level") == pytest.approx(9.5)  # the twin, through the tank's sensor
    assert all(h.value(t, "level", truth=True) == 0.0 for t in others)


# -- the objects handed to plugin code -------------------------------------------------------------
GENERATED = re.compile(r"(<!-- generated: plugin-objects -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)
#: how plugin code names each handed object, and the pattern of a member access on it
USES = [
    ("ctx", r"\bctx\.(?!world\.|table\.)(\w+)"),
    ("world", r"\bworld\.(?!scene\.)(\w+)"),
    ("scene", r"\bworld\.scene\.(\w+)"),
    ("table", r"\b(?:ctx\.)?table\.(\w+)"),
    ("plan", r"\bplan\.(\w+)"),
    ("asset", r"\basset\.(\w+)"),
]


def test_object_reference_is_generated_from_the_declarations() -> None:
    from twin.plugins import api as plugin_api

    found = GENERATED.search(DOC.read_text(encoding="utf-8"))
    assert found, "docs/plugins.md needs a generated section <!-- generated: plugin-objects -->"
    assert found.group("body") == plugin_api.reference(), "docs/plugins.md is out of date; run python tests/test_docs.py"


def test_every_handed_member_is_described() -> None:
    from twin.plugins import api as plugin_api

    # members() and helpers() refuse a member without a docstring or #: comment
    for handed in plugin_api.HANDED:
        assert all(m.meaning for m in plugin_api.members(handed))
    assert all(m.meaning for m in plugin_api.helpers())


def test_plugin_code_uses_only_documented_members() -> None:
    from twin.plugins import api as plugin_api

    documented = {h.alias: {m.written.split("(")[0].removeprefix(h.alias + ".") for m in plugin_api.members(h)}
                  for h in plugin_api.HANDED}
    helpers = {m.written.split("(")[0].rsplit(".", 1)[1] for m in plugin_api.helpers()}
    classes = {h.target.split(":")[1] for h in plugin_api.HANDED}
    sources = {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8") for p in sorted(ROOT.glob("plugins/*/twin_*/*.py"))}
    sources |= {PROJECT + t: template_text(t, "water") for t in FILES if t.endswith(".py.tmpl")}
    undocumented = []
    for path, text in sources.items():
        for alias, pattern in USES:
            for match in re.finditer(pattern, text):
                if match.group(1) not in documented[alias]:
                    undocumented.append(f"{path}:{text.count(chr(10), 0, match.start()) + 1}: {alias}.{match.group(1)}")
        if not path.rsplit("/", 1)[1].startswith("bench"):  # benchmarks build cities themselves
            for imported in re.findall(r"from twin\.citygen import ([^\n]+)", text):
                undocumented += [f"{path}: twin.authoring.citygen.{n}" for n in re.findall(r"\w+", imported) if n not in helpers | classes]
    assert undocumented == [], "plugin code uses members docs/plugins.md does not document (add them to twin/plugins/api.py)"
    assert len(sources) > 10


# -- couplings to absent domains: one rule on both pages, and the code's ------------------------
MODELS = ROOT / "docs" / "models.md"
#: what the pages once said against the rule (a coupling to an absent domain quarantines)
CONTRADICTIONS = [
    r"domains must be declared[^.]*quarantined",
    r"coupling an undeclared domain",
    r"coupling[^.]{0,80}(?:undeclared|absent|not installed) domain[^.]{0,80}quarantin",
]


def _section(path: Path, heading: str) -> str:
    """The text under ``heading`` up to the next heading of its level or above, on one line."""
    text = path.read_text(encoding="utf-8")
    level = heading.split(" ")[0]
    start = text.index(heading + "\n")
    following = re.compile(rf"^#{{1,{len(level)}}} ", re.M).search(text, start + len(heading) + 1)
    return re.sub(r"\s+", " ", text[start : following.start() if following else len(text)])


def test_plugins_and_models_agree_on_couplings_to_absent_domains(toy) -> None:
    import brokenplugins

    # The code: a coupling to a domain nobody declares is idle and its plugin active.
    registry = load_registry([toy, brokenplugins.coupling_to_absent_domain()], entry_points=False)
    assert registry.active("coupler") and registry.couplings == []

    idle = re.compile(r"not installed is \*\*idle\*\*, not an error|idle \(not an error\) when the other plugin is not installed")
    assert idle.search(_section(DOC, "### `twin_couplings()`")), "plugins.md: say a coupling to an absent domain is idle"
    assert idle.search(_section(MODELS, "## Couplings across domains")), "models.md: say a coupling to an absent domain is idle"
    for page in (DOC, MODELS):
        text = re.sub(r"\s+", " ", page.read_text(encoding="utf-8"))
        for pattern in CONTRADICTIONS:
            found = re.search(pattern, text, re.I)
            assert found is None, f"{page.name} says {found.group(0)!r}: a coupling to an absent domain is idle"


# -- refresh the page ----------------------------------------------------------------------
def update() -> None:
    """Rewrite every include of docs/plugins.md from the code it names."""
    text = DOC.read_text(encoding="utf-8")

    def fill(match: re.Match[str]) -> str:
        body = _regions(_source(match.group("path")))[match.group("region")]
        return match.group(0).replace(f"```{match.group('lang')}\n{match.group('body')}```", f"```{match.group('lang')}\n{body}```", 1)

    from twin.plugins import api as plugin_api

    text = INCLUDE.sub(fill, text)
    text = GENERATED.sub(lambda m: m.group(1) + plugin_api.reference() + m.group(3), text)
    DOC.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    update()
