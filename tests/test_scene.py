"""A broken scene gets an error that names the file, the asset or line, the field and
what would be valid."""

import json
import re
import shutil

import pytest
from conftest import scene_problems as problems

from twin.plugins.registry import load_registry
from twin.tick.scene import load_scene


def edit_feature(root, index, **props):
    path = root / "data" / "toy.geojson"
    doc = json.loads(path.read_text())
    doc["features"][index]["properties"].update(props)
    path.write_text(json.dumps(doc))
    return path


def test_valid_scene_loads_with_counts(scene_dir):
    root, registry = scene_dir
    scene = load_scene(root, registry.domains)
    assert scene.counts() == {"toy": {"tank": 16}}
    assert len(scene.sensors) == 16 and len(scene.buildings) > 10
    assert scene.terrain is not None and 15 < scene.terrain.height_at(100, 100) < 30


def test_attribute_out_of_range_names_file_asset_field_and_range(scene_dir):
    root, registry = scene_dir
    path = edit_feature(root, 2, capacity=-3)
    [msg] = problems(root, registry)
    assert str(path) in msg and "'T-002'" in msg and "'capacity'" in msg and "[0.1, 1000.0]" in msg


def test_missing_required_attribute_and_wrong_kind(scene_dir):
    root, registry = scene_dir
    path = root / "data" / "toy.geojson"
    doc = json.loads(path.read_text())
    del doc["features"][0]["properties"]["capacity"]
    doc["features"][1]["properties"]["kind"] = "silo"
    path.write_text(json.dumps(doc))
    msgs = problems(root, registry)
    assert any("'T-000'" in m and "'capacity'" in m and "required" in m for m in msgs)
    assert any("'T-001'" in m and "'silo'" in m and "valid: tank" in m for m in msgs)


def test_duplicate_id_names_both_places(scene_dir):
    root, registry = scene_dir
    edit_feature(root, 5, id="T-004")
    [msg] = problems(root, registry)
    assert "used twice" in msg and "feature 4" in msg and "feature 5" in msg


def test_invalid_json_names_the_line(scene_dir):
    root, registry = scene_dir
    path = root / "data" / "toy.geojson"
    path.write_text('{"type": "FeatureCollection",\n "features": [\n  {oops}\n]}')
    [msg] = problems(root, registry)
    assert str(path) in msg and "line 3" in msg


def test_sensor_on_unknown_field_names_the_csv_line(scene_dir):
    root, registry = scene_dir
    path = root / "data" / "sensors.csv"
    lines = path.read_text().splitlines()
    lines[3] = re.sub(r",level,", ",pressure,", lines[3])
    path.write_text("\n".join(lines) + "\n")
    [msg] = problems(root, registry)
    assert f"{path}: line 4" in msg and "'pressure'" in msg and "valid: inflow, level, risk" in msg


def test_unknown_domain_is_named_with_the_known_ones(scene_dir):
    root, registry = scene_dir
    toml = root / "scene.toml"
    toml.write_text(toml.read_text().replace('domain = "toy"', 'domain = "water"'))
    [msg] = problems(root, registry)
    assert "'water'" in msg and "known: toy" in msg


def test_broken_link_and_bad_geometry(scene_dir):
    root, registry = scene_dir
    path = root / "data" / "toy.geojson"
    doc = json.loads(path.read_text())
    doc["features"][0]["properties"]["links"] = ["T-999"]
    doc["features"][1]["geometry"] = {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}
    path.write_text(json.dumps(doc))
    msgs = problems(root, registry)
    assert any("'T-000'" in m and "'T-999'" in m for m in msgs)
    assert any("'T-001'" in m and "expected a GeoJSON Point" in m for m in msgs)


def test_generated_scene_files_are_made_when_missing(tmp_path, toy):
    from twin.authoring.citygen import generate_into

    registry = load_registry([toy], entry_points=False)
    root = tmp_path / "gen"
    root.mkdir()
    (root / "scene.toml").write_text(
        '[scene]\nname = "gen"\n[generated]\nseed = 4\nblocks = [3, 3]\n'
        '[layers]\nbuildings = "data/buildings.geojson"\n'
        '[[assets]]\ndomain = "toy"\nfile = "data/toy.geojson"\n[sensors]\nfile = "data/sensors.csv"\n'
    )
    make = lambda r, p, listed: generate_into(r, p, registry, listed)  # noqa: E731
    first = load_scene(root, registry.domains, generate=make)
    before = (root / "data" / "buildings.geojson").read_bytes()
    shutil.rmtree(root / "data")
    second = load_scene(root, registry.domains, generate=make)
    assert (root / "data" / "buildings.geojson").read_bytes() == before
    assert first.counts() == second.counts() == {"toy": {"tank": 16}}


def test_generated_files_are_remade_when_the_parameters_change(tmp_path, toy):
    from twin.authoring.citygen import generate_into

    registry = load_registry([toy], entry_points=False)
    root = tmp_path / "gen"
    root.mkdir()
    toml = '[scene]\nname = "gen"\n[generated]\nseed = SEED\nblocks = [3, 3]\n[layers]\nbuildings = "data/buildings.geojson"\n'
    make = lambda r, p, listed: generate_into(r, p, registry, listed)  # noqa: E731
    (root / "scene.toml").write_text(toml.replace("SEED", "4"))
    load_scene(root, registry.domains, generate=make)
    first = (root / "data" / "buildings.geojson").read_bytes()
    load_scene(root, registry.domains, generate=make)  # same parameters: kept as they are
    assert (root / "data" / "buildings.geojson").read_bytes() == first
    (root / "scene.toml").write_text(toml.replace("SEED", "5"))
    load_scene(root, registry.domains, generate=make)
    assert (root / "data" / "buildings.geojson").read_bytes() != first


def test_a_generated_scene_leaves_out_the_domains_it_does_not_list(tmp_path, toy):
    # Installing a plugin (churn, with a generator that places assets and sensors) must
    # not break a [generated] scene that lists only toy: churn's assets and sensors are
    # left out, and listing churn takes them in.
    import churnplugin

    from twin.authoring.citygen import generate_into
    from twin.runtime import left_out

    registry = load_registry([toy, churnplugin], entry_points=False)
    root = tmp_path / "gen"
    root.mkdir()
    toml = ('[scene]\nname = "gen"\n[generated]\nseed = 4\nblocks = [3, 3]\n'
            '[[assets]]\ndomain = "toy"\nfile = "data/toy.geojson"\n[sensors]\nfile = "data/sensors.csv"\n')
    (root / "scene.toml").write_text(toml)
    make = lambda r, p, listed: generate_into(r, p, registry, listed)  # noqa: E731
    scene = load_scene(root, registry.domains, generate=make)
    assert scene.counts() == {"toy": {"tank": 16}, "churn": {}}
    assert {s.asset[:2] for s in scene.sensors} == {"T-"} and len(scene.sensors) == 16
    assert not (root / "data" / "churn.geojson").exists()
    [(note, add)] = left_out(scene, registry)
    assert "domain 'churn' (plugin 'churn') is installed" in note and str(root / "scene.toml") in note
    assert add == '[[assets]]\ndomain = "churn"\nfile = "data/churn.geojson"'

    (root / "scene.toml").write_text(toml + "\n" + add + "\n")  # what the note says to add
    scene = load_scene(root, registry.domains, generate=make)
    assert scene.counts() == {"toy": {"tank": 16}, "churn": {"probe": churnplugin.COUNT}}
    assert len(scene.sensors) == 16 + churnplugin.COUNT // 10
    assert left_out(scene, registry) == []


def test_a_listed_scene_ignores_an_installed_domain_it_does_not_list(scene_dir, toy):
    import churnplugin

    from twin.runtime import left_out

    root, _ = scene_dir  # written by twin generate with toy alone
    registry = load_registry([toy, churnplugin], entry_points=False)
    scene = load_scene(root, registry.domains)
    assert scene.counts() == {"toy": {"tank": 16}, "churn": {}}
    [(note, add)] = left_out(scene, registry)
    assert "write its assets as a GeoJSON file" in note and 'domain = "churn"' in add
