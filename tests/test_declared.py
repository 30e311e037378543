"""Files declared once (issue 13): the lines tomllib does not keep, checks from msgspec
declarations that name every problem (not only the first) with file, line, key and what
would be valid, and the scene, --config and [thresholds] formats built on them."""

import subprocess
import sys
from typing import Annotated, Literal

import msgspec
import pytest
from msgspec import Meta, Struct

from twin.authoring.citygen import plan_city, populate, write_scene
from twin.declared import check, check_tables, expected
from twin.errors import SceneError, TwinError
from twin.plugins.registry import load_registry
from twin.runtime import load_config, open_twin
from twin.tick.params import thresholds_type
from twin.tick.scene import load_scene
from twin.tomlfile import TomlFile

TRICKY = '''# a comment with [[events]] in it
title = """a [[events]] header
inside a string"""
[ drill ]
name = 'x # not a comment'
[[ events ]]   # spaced
at = 5
params = { diameter = 0.01, "cd" = 0.6 }
[[events]]
at = [
  1,   # an element per line
  2,
]
[sensors.kinds."gas.ch4"]
interval = 30
events2 = [ { a = 1 },
            { a = 2 } ]
'''


def test_every_key_header_and_element_has_its_line():
    toml = TomlFile.parse("t.toml", TRICKY)
    assert toml.data["title"].startswith("a [[events]]") and len(toml.data["events"]) == 2
    lines = {keys: toml.line(keys) for keys in [
        ("title",), ("drill",), ("drill", "name"), ("events", 0), ("events", 0, "at"), ("events", 0, "params", "cd"),
        ("events", 1), ("events", 1, "at", 1), ("sensors", "kinds", "gas.ch4", "interval"),
        ("sensors", "kinds", "gas.ch4", "events2", 1, "a")]}
    assert lines == {("title",): 2, ("drill",): 4, ("drill", "name"): 5, ("events", 0): 6, ("events", 0, "at"): 7,
                     ("events", 0, "params", "cd"): 8, ("events", 1): 9, ("events", 1, "at", 1): 12,
                     ("sensors", "kinds", "gas.ch4", "interval"): 15, ("sensors", "kinds", "gas.ch4", "events2", 1, "a"): 17}
    assert toml.where(("events", 1, "at", 1)) == "t.toml: line 12: [[events]] #2 at[1]"
    assert toml.where(("sensors", "kinds", "gas.ch4", "interval")) == 't.toml: line 15: [sensors.kinds."gas.ch4"] interval'
    assert toml.where(("events", 0, "params", "cd")) == "t.toml: line 8: [[events]] #1 params.cd"
    assert toml.where(("events", 0, "nope")) == "t.toml: line 6: [[events]] #1 nope"  # the nearest line it has


class Inner(Struct, forbid_unknown_fields=True, kw_only=True):
    #: a level
    level: Literal["low", "high"]
    #: a share
    share: Annotated[float, Meta(ge=0, le=1)] = 0.5


class Outer(Struct, forbid_unknown_fields=True, kw_only=True):
    #: the inner tables
    items: list[Inner] = []
    #: a count
    count: Annotated[int, Meta(ge=1, extra={"expected": "how many, at least one"})]

    def __post_init__(self) -> None:
        if len(self.items) > self.count:
            raise ValueError(f"{len(self.items)} items but count = {self.count}")


def test_every_problem_is_named_not_only_the_first():
    toml = TomlFile.parse("f.toml", 'count = 0\nextra = 1\n[[items]]\nlevel = "mid"\nshare = 2\n[[items]]\nshare = nan\n')
    problems: list[str] = []
    assert check(toml, Outer, problems) is None
    assert problems == [
        "f.toml: line 2: unknown extra; valid keys: items, count",
        "f.toml: line 4: [[items]] #1 level = 'mid'; expected one of \"low\", \"high\"",
        "f.toml: line 5: [[items]] #1 share = 2; expected a number in [0, 1]",
        "f.toml: line 6: [[items]] #2: level is missing; expected one of \"low\", \"high\"",
        "f.toml: line 7: [[items]] #2 share = nan; expected a number in [0, 1]",
        "f.toml: line 1: count = 0; expected how many, at least one",
    ]
    # a table's own check (__post_init__), once its keys are right
    problems = []
    toml = TomlFile.parse("f.toml", 'count = 1\n[[items]]\nlevel = "low"\n[[items]]\nlevel = "high"\n')
    assert check(toml, Outer, problems) is None and problems == ["f.toml: 2 items but count = 1"]
    toml = TomlFile.parse("f.toml", 'count = 2\n[[items]]\nlevel = "low"\n')
    assert check(toml, Outer, problems := []) == Outer(items=[Inner(level="low")], count=2) and problems == []
    assert expected(Annotated[float, Meta(gt=0)]) == "a number > 0"
    assert expected(list[Literal[1, 2]]) == "a list of one of 1, 2"


def test_a_wrong_table_leaves_the_others_judged():
    toml = TomlFile.parse("f.toml", 'count = "x"\n[[items]]\nlevel = "low"\n[[items]]\nlevel = 3\n[[items]]\nlevel = "high"\n')
    problems: list[str] = []
    tables = check_tables(toml, Outer, problems)
    assert tables["count"] is None and tables["items"] == [Inner(level="low"), None, Inner(level="high")]
    assert len(problems) == 2


@pytest.fixture
def toytown(tmp_path, toy):
    registry = load_registry([toy], entry_points=False)
    plan = plan_city(3, 3, 3)
    populate(plan, registry)
    write_scene(plan, tmp_path, "toytown", registry)
    return tmp_path, registry


def scene_problems(root, registry, thresholds=True):
    with pytest.raises(SceneError) as raised:
        load_scene(root, registry.domains, thresholds=thresholds_type(registry) if thresholds else None)
    return raised.value.problems


def test_the_scene_file_is_checked_against_its_declaration(toytown):
    root, registry = toytown
    toml = root / "scene.toml"
    good = toml.read_text()
    toml.write_text(good.replace("[scene]\n", '[scene]\ntitel = "typo"\norigin = [500.0, 31.8]\n', 1).replace(
        'origin = [117.2272, 31.8206]\n', '') + '\n[generated]\nblocks = [0, 3]\n\n[alarms]\ndeadlines = { 5 = 60 }\n'
        '\n[[incidents]]\nat = -1\naction = "toy.open_tap"\nasset = "T-000"\n')
    lines = toml.read_text().splitlines()
    TYPO = 'titel = "typo"'

    def line(text):
        return lines.index(text) + 1

    assert scene_problems(root, registry) == [
        f"{toml}: line {line(TYPO)}: [scene]: unknown titel; valid keys: name, title, title_zh, origin, "
        "units, crs, timezone, start, district",
        f"{toml}: line {line('origin = [500.0, 31.8]')}: [scene] origin = [500.0, 31.8]; expected [longitude, latitude] "
        "in degrees: longitude in [-180, 180], latitude in [-90, 90]",
        f"{toml}: line {line('blocks = [0, 3]')}: [generated] blocks = [0, 3]; expected [an integer in [1, 500], an "
        "integer in [1, 500]]",
        f"{toml}: line {line('at = -1')}: [[incidents]] #1 at = -1; expected a number >= 0",
        f"{toml}: line {line('deadlines = { 5 = 60 }')}: [alarms] deadlines: unknown 5; valid keys: 1, 2, 3, 4",
    ]


def test_a_scenes_thresholds_are_checked_against_the_plugins_with_their_lines(toytown):
    root, registry = toytown
    toml = root / "scene.toml"
    toml.write_text(toml.read_text() + '\n[thresholds."toy.overfill"]\nbreakpoints = [50, 60, 70]\n'
                    '\n[thresholds.fil]\nweir = 3\n')
    lines = toml.read_text().splitlines()
    assert scene_problems(root, registry) == [
        f"{toml}: line {lines.index('[thresholds.fil]') + 1}: [thresholds]: unknown fil; valid keys: fill, toy.overfill",
        f"{toml}: line {lines.index('breakpoints = [50, 60, 70]') + 1}: [thresholds.\"toy.overfill\"] breakpoints = "
        "[50, 60, 70]; expected six numbers in % rising or falling strictly: [normal, IV, III, II, I, max]",
    ]


def test_a_config_file_is_checked_with_its_lines(tmp_path, toytown):
    root, registry = toytown
    config = tmp_path / "lower.toml"
    config.write_text('[alarms]\ndeadline = { 1 = 60 }\n')
    with pytest.raises(TwinError, match=rf"^{config}: line 2: \[alarms\]: unknown deadline; valid keys: deadlines$"):
        load_config(config)
    config.write_text('[thresholds."toy.overfill"]\nbreakpoints = [50, 60, 70, 70, 90, 100]\n')
    loaded = load_config(config)
    with pytest.raises(TwinError, match=rf"^{config}: line 1: \[thresholds.\"toy.overfill\"\]: breakpoints = "
                                        r"\[50.0, 60.0, 70.0, 70.0, 90.0, 100.0\] must rise \(or fall\) strictly"):
        open_twin(root, tmp_path / "data", config=loaded, modules=[registry.plugins["toy"].module], persist=False)
    config.write_text('[thresholds."toy.overfill"]\nbreakpoints = [0, 5, 6, 7, 8, 9]\n')
    engine = open_twin(root, tmp_path / "data", config=load_config(config), modules=[registry.plugins["toy"].module],
                       persist=False)
    engine.close()
    done = subprocess.run([sys.executable, "-m", "twin.cli", "rerun", str(tmp_path / "none.mcap"), "--config", str(config)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "Traceback" not in done.stderr


def test_the_thresholds_declaration_follows_the_plugins(toy):
    registry = load_registry([toy], entry_points=False)
    kind = thresholds_type(registry)
    assert [f.encode_name for f in msgspec.structs.fields(kind)] == ["fill", "toy.overfill"]
    table = msgspec.convert({"fill": {"weir": 60}}, kind)
    assert table.t0.weir == 60.0 and table.t1 is None
