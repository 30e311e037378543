"""The scene and drill references in docs/ are generated from the declarations of the
files (twin/tick/scenefile.py, twin/runs/drillfile.py) and the plugins' actions; these
tests keep the pages in step. ``python tests/test_format_docs.py`` rewrites them."""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENES = ROOT / "docs" / "scenes.md"
DRILLS = ROOT / "docs" / "drills.md"
EXAMPLE = ROOT / "scenes" / "demo" / "drills" / "compound-storm-gas.toml"


def _section(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- generated: {name} -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


def sections() -> dict[Path, dict[str, str]]:
    """What each generated section of each page must hold."""
    from twin.plugins.registry import load_registry
    from twin.runs import drillfile
    from twin.tick import scenefile

    return {
        SCENES: {"scene-keys": scenefile.reference()},
        DRILLS: {"drill-keys": drillfile.reference(), "drill-actions": drillfile.actions_reference(load_registry()),
                 "drill-example": "```toml\n" + EXAMPLE.read_text(encoding="utf-8") + "```\n"},
    }


def test_the_generated_sections_are_in_step_with_the_declarations() -> None:
    for page, wanted in sections().items():
        text = page.read_text(encoding="utf-8")
        for name, body in wanted.items():
            found = _section(name).search(text)
            assert found, f"{page.name} needs a generated section <!-- generated: {name} -->"
            assert found.group("body") == body, f"{page.name} ({name}) is out of date; run python tests/test_format_docs.py"


def test_every_key_and_action_is_on_the_pages() -> None:
    import msgspec

    from twin.plugins.registry import load_registry
    from twin.runs import drillfile
    from twin.tick import scenefile

    drills, scenes = DRILLS.read_text(encoding="utf-8"), SCENES.read_text(encoding="utf-8")
    for page, tables in ((drills, drillfile.TABLES), (scenes, scenefile.TABLES)):
        for title, struct in tables:
            assert f"### `{title}`" in page
            for f in msgspec.structs.fields(struct):
                assert f"| `{f.encode_name}` |" in page, (title, f.encode_name)
    for name in [*load_registry().actions, "sensor.stuck", "sensor.drift", "sensor.dead", "sensor.repair"]:
        assert f"#### `{name}`" in drills
    for kind in drillfile.EXPECTATION_KINDS:
        assert f"| `{kind}` |" in drills


def test_the_worked_example_is_a_drill_that_checks() -> None:
    from twin.runs.drill import load_drill

    drill = load_drill(EXAMPLE)
    assert drill.start is not None and {e.action for e in drill.events} >= {"drainage.rain", "gas.leak", "sensor.drift"}
    assert {x.kind for x in drill.expectations} == {"by", "never"}


def test_the_page_says_where_asset_and_sensor_ids_come_from(tmp_path) -> None:
    """A fault needs a sensor id, and which asset the sensor sits on (issue 17's audit):
    the page names the sensors file and its columns, and its examples are the demo's
    own sensors on their own assets (a copy of the demo, its data made on first use)."""
    import shutil

    from twin.plugins.registry import load_registry
    from twin.runtime import open_scene

    page = DRILLS.read_text(encoding="utf-8")
    section = page[page.index("## Where the ids come from"):page.index("## Actions and sensor faults")]
    assert "scenes/<name>/data/sensors.csv" in section and "`id,asset,field[,noise,stale_after,stuck_after]`" in section
    assert "GET /api/assets/" in section and "twin check" in section
    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", tmp_path / "scene.toml")
    scene = open_scene(tmp_path, load_registry())
    sensors = {s.id: (s.asset, s.field) for s in scene.sensors}
    examples = re.findall(r"grep '[^']+' scenes/demo/data/sensors\.csv +# (\S+)", section)
    assert len(examples) == 2, examples
    for line in examples:
        sensor, asset, field = line.split(",")[:3]
        assert sensors.get(sensor) == (asset, field), line


if __name__ == "__main__":  # rewrite the generated sections
    sys.path.insert(0, str(ROOT))
    for page, wanted in sections().items():
        text = page.read_text(encoding="utf-8")
        for name, body in wanted.items():
            text = _section(name).sub(lambda m, body=body: m.group(1) + body + m.group(3), text)
        page.write_text(text, encoding="utf-8")
        print(f"wrote {page}")
