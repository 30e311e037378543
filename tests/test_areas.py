"""Areas drawn on the ground (``[[layers.areas]]``): any number of named polygon layers,
each served, drawn and checked like the base layers; the core knows areas, not rivers."""

import ast
import json
import logging
import re
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest
import trimesh
from conftest import running, wait_healthy
from conftest import scene_problems as problems

from twin.authoring.citygen import polygon
from twin.tick.scene import load_scene

ROOT = Path(__file__).resolve().parents[1]

LAKE = [(40.0, 40.0), (160.0, 40.0), (160.0, 100.0), (40.0, 100.0)]
PARK = [[(200.0, 200.0), (260.0, 200.0), (260.0, 250.0)], [(300.0, 40.0), (340.0, 40.0), (340.0, 90.0), (300.0, 90.0)]]

AREAS = '''
[[layers.areas]]
name = "lake"
title = "Lake"
title_zh = "湖"
file = "data/lake.geojson"
colour = "#2266aa"
opacity = 0.7

[[layers.areas]]
name = "park"
title = "Park"
file = "data/park.geojson"
colour = "#4f8a4b"
'''


def _features(*geometries):
    return json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": g}
                                                                 for g in geometries]})


def _without_areas(root: Path) -> str:
    """scene.toml of ``root`` without the generator's [[layers.areas]] (its river)."""
    return re.sub(r"\[\[layers\.areas\]\]\n(?:\w+ = .*\n)+", "", (root / "scene.toml").read_text(encoding="utf-8"))


@pytest.fixture
def two_areas(scene_dir):
    """The toy town whose ground has a lake (a Polygon) and a park (a MultiPolygon of
    two parts) instead of the generator's river."""
    root, registry = scene_dir
    (root / "scene.toml").write_text(_without_areas(root).replace("[[assets]]", AREAS.lstrip() + "\n[[assets]]", 1),
                                     encoding="utf-8")
    (root / "data" / "lake.geojson").write_text(_features(polygon(LAKE)))
    park = polygon(PARK[0])
    park = {"type": "MultiPolygon", "coordinates": [park["coordinates"], polygon(PARK[1])["coordinates"]]}
    (root / "data" / "park.geojson").write_text(_features(park))
    return root, registry


def _area(ring):
    x, y = np.array(ring).T
    return 0.5 * abs(float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)))


def _inside(ring, x, y):
    """(x, y) within or on the convex, counter-clockwise ``ring`` (those above are)."""
    return all((bx - ax) * (y - ay) - (by - ay) * (x - ax) >= -1e-6 for (ax, ay), (bx, by) in zip(ring, ring[1:] + ring[:1]))


def _line(toml: Path, text: str) -> int:
    return next(n for n, line in enumerate(toml.read_text(encoding="utf-8").splitlines(), 1) if line.startswith(text))


def test_a_scene_with_a_lake_and_a_park_serves_both_layers(two_areas):
    from twin.serving.server import create_app
    from twin.tick.engine import Engine

    root, registry = two_areas
    scene = load_scene(root, registry.domains)
    assert [(a.name, a.title, a.title_zh) for a in scene.areas] == [("lake", "Lake", "湖"), ("park", "Park", "Park")]
    server = create_app(lambda: Engine(scene, registry, simulate=False))
    with running(server.app) as url, httpx.Client(base_url=url, timeout=30) as client:
        wait_healthy(client)
        listed = client.get("/api/layers").json()["layers"]
        assert [e["name"] for e in listed] == ["terrain", "buildings", "lake", "park", "toy"]
        looks = {e["name"]: e["area"] for e in listed}
        assert looks["lake"] == {"title": "Lake", "title_zh": "湖", "colour": "#2266aa", "opacity": 0.7}
        assert looks["park"] == {"title": "Park", "title_zh": "Park", "colour": "#4f8a4b", "opacity": 0.85}
        assert looks["terrain"] is None and looks["toy"] is None
        for name, rings in (("lake", [LAKE]), ("park", PARK)):
            glb = client.get(f"/api/layers/{name}.glb")
            assert glb.status_code == 200 and glb.headers["content-type"] == "model/gltf-binary"
            mesh = trimesh.load(trimesh.util.wrap_as_stream(glb.content), file_type="glb", force="mesh", process=False)
            # the whole of each polygon is covered, and nothing outside any of them
            area = sum(_area(r) for r in rings)
            flat = np.asarray(mesh.vertices)[np.asarray(mesh.faces)][:, :, :2]
            u, w = flat[:, 1] - flat[:, 0], flat[:, 2] - flat[:, 0]
            covered = 0.5 * np.abs(u[:, 0] * w[:, 1] - u[:, 1] * w[:, 0]).sum()
            assert covered == pytest.approx(area, rel=1e-6), name
            for x, y, z in mesh.vertices:  # draped: a little above the ground everywhere
                assert any(_inside(r, x, y) for r in rings), (name, x, y)
        assert client.get("/api/layers/river.glb").status_code == 404


def test_an_area_lies_just_above_the_terrain(two_areas):
    from twin.serving.geometry import AREA_ABOVE_GROUND, area_mesh, bilinear

    root, registry = two_areas
    scene = load_scene(root, registry.domains)
    v, f = area_mesh(scene.areas[0].features, scene.terrain)
    assert len(f) > 2  # subdivided to the terrain's cells, so that it follows the slope
    ground = np.array([bilinear(scene.terrain, x, y) for x, y in v[:, :2]])
    assert np.allclose(v[:, 2] - ground, AREA_ABOVE_GROUND) and np.ptp(ground) > 0.1


def test_the_old_river_key_is_an_area_with_a_warning_naming_its_line(scene_dir, caplog):
    root, registry = scene_dir
    toml = root / "scene.toml"
    toml.write_text(_without_areas(root).replace("[layers]\n", '[layers]\nriver = "data/river.geojson"\n'), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="twin.tick.scene"):
        scene = load_scene(root, registry.domains)
    [area] = scene.areas
    assert (area.name, area.title, area.colour, len(area.features)) == ("river", "River", "#1d5b8f", 1)
    [record] = [r for r in caplog.records if r.name == "twin.tick.scene"]
    said = record.getMessage()
    assert said.startswith(f"{toml}: line {_line(toml, 'river = ')}: [layers] river: deprecated;") and "\n" not in said
    assert '[[layers.areas]] name = "river" file = "data/river.geojson"' in said


@pytest.mark.parametrize("name, taken", [("terrain", "a base layer"), ("toy", "a domain"), ("lake", "the area at")])
def test_an_area_may_not_take_the_name_of_another_layer(two_areas, name, taken):
    root, registry = two_areas
    toml = root / "scene.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('name = "park"', f'name = "{name}"'), encoding="utf-8")
    [msg] = problems(root, registry)
    park_line = [n for n, line in enumerate(toml.read_text().splitlines(), 1) if line == f'name = "{name}"'][-1]
    assert msg.startswith(f"{toml}: line {park_line}: [[layers.areas]] #2 name = {name!r}: the name of {taken}")


@pytest.mark.parametrize("key, value, said", [
    ("colour", '"blue"', 'expected a colour "#rrggbb"'),
    ("opacity", "1.5", "expected a number in [0, 1]"),
    ("name", '"North Park"', 'lower-case letters, digits, "_" and "-"'),
])
def test_a_wrong_key_of_an_area_names_its_line(two_areas, key, value, said):
    root, registry = two_areas
    toml = root / "scene.toml"
    old = {"colour": 'colour = "#4f8a4b"', "opacity": 'colour = "#4f8a4b"', "name": 'name = "park"'}[key]
    new = f"{old}\nopacity = {value}" if key == "opacity" else f"{key} = {value}"
    toml.write_text(toml.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    [msg] = problems(root, registry)
    line = _line(toml, f"{key} = {value}")
    assert msg.startswith(f"{toml}: line {line}: [[layers.areas]] #2 {key} = ") and said in msg, msg


def test_an_area_of_lines_is_refused_naming_the_feature(two_areas):
    root, registry = two_areas
    lake = root / "data" / "lake.geojson"
    lake.write_text(_features(polygon(LAKE), {"type": "LineString", "coordinates": [[0, 0], [10, 10]]}))
    assert problems(root, registry) == [
        f"{lake}: feature 1: geometry is 'LineString'; expected a GeoJSON Polygon or MultiPolygon"]


def _outside_the_shim(path: Path, numbers: list[int]) -> list[int]:
    """The lines of ``numbers`` in twin/tick/scenefile.py that are not the deprecated key:
    its declaration in ``Layers`` and the function that reads it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    shim: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "deprecated_areas":
            shim |= set(range(node.lineno, node.end_lineno + 1))
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "river":
            shim |= {node.lineno - 1, node.lineno}  # with its #: comment
    return [n for n in numbers if n not in shim]


def test_the_core_knows_areas_not_rivers():
    found = subprocess.run(["grep", "-rniw", "--exclude-dir=static", "river", "twin", "viewer/src"], cwd=ROOT,
                           capture_output=True, text=True, check=False).stdout.splitlines()
    assert found, "the grep found nothing at all: citygen's synthetic river should be there"
    by_file: dict[str, list[int]] = {}
    for hit in found:
        path, number, _ = hit.split(":", 2)
        by_file.setdefault(path, []).append(int(number))
    shim = "twin/tick/scenefile.py"
    stray = {path: numbers for path, numbers in by_file.items() if path not in ("twin/authoring/citygen.py", shim)}
    stray_shim = _outside_the_shim(ROOT / shim, by_file.get(shim, []))
    assert not stray and not stray_shim, (stray, stray_shim)
