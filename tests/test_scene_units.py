"""A scene's units and coordinate systems are checked, sources in another CRS are
converted into the local metric frame, unreadable files are named, and the data folder
is the user's alone."""

import json
import os
import sqlite3
import stat
import subprocess
import sys

import numpy as np
import pyproj
import pytest
from conftest import scene_problems as problems

from twin.plugins.registry import load_registry
from twin.tick.scene import load_scene

ORIGIN = (117.2272, 31.8206)  # longitude, latitude of the local (0, 0)


def set_units(root, value):
    toml = root / "scene.toml"
    text = toml.read_text()
    assert 'units = "m"' in text
    toml.write_text(text.replace('units = "m"', f"units = {value}"))
    return toml, next(n for n, line in enumerate(toml.read_text().splitlines(), 1) if line.startswith("units"))


@pytest.mark.parametrize("value", ['"ft"', "42"])
def test_units_other_than_metres_are_refused_with_line_and_valid_spellings(scene_dir, value):
    root, registry = scene_dir
    toml, line = set_units(root, value)
    [msg] = problems(root, registry)
    assert msg.startswith(f"{toml}: line {line}: [scene] units = {value.replace(chr(34), chr(39))}")
    assert "'m'" in msg and "'metres'" in msg and "'meters'" in msg


def test_metres_may_be_spelt_out(scene_dir):
    root, registry = scene_dir
    set_units(root, '"Metres"')
    assert load_scene(root, registry.domains).counts() == {"toy": {"tank": 16}}


def geo_scene(root, positions, crs_line="", member=None):
    """A scene of one tank per position, written as given (degrees, or another CRS)."""
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": list(p)},
                 "properties": {"id": f"T-{i}", "kind": "tank", "owner": "toy works", "capacity": 10.0}}
                for i, p in enumerate(positions)]
    doc = {"type": "FeatureCollection", "features": features}
    if member is not None:
        doc["crs"] = {"type": "name", "properties": {"name": member}}
    (root / "tanks.geojson").write_text(json.dumps(doc))
    (root / "scene.toml").write_text(
        f'[scene]\nname = "geo"\norigin = [{ORIGIN[0]}, {ORIGIN[1]}]\nunits = "m"\n{crs_line}\n'
        '[[assets]]\ndomain = "toy"\nfile = "tanks.geojson"\n'
    )
    return root / "tanks.geojson"


# The origin, 0.001 degree north of it, and 0.001 degree east of it
DEGREES = [(ORIGIN[0], ORIGIN[1]), (ORIGIN[0], ORIGIN[1] + 0.001), (ORIGIN[0] + 0.001, ORIGIN[1])]


def test_degrees_without_a_crs_are_refused_naming_the_file(tmp_path, toy):
    registry = load_registry([toy], entry_points=False)
    path = geo_scene(tmp_path, DEGREES)
    [msg] = problems(tmp_path, registry)
    assert msg.startswith(f"{path}: ")
    assert "degrees" in msg[len(str(path)):] and 'crs = "EPSG:4326"' in msg


def test_degrees_far_from_the_origin_are_refused_too(tmp_path, toy):
    registry = load_registry([toy], entry_points=False)
    path = geo_scene(tmp_path, [(2.3522, 48.8566), (2.3622, 48.8666)])  # Paris, under a Hefei origin
    [msg] = problems(tmp_path, registry)
    assert msg.startswith(f"{path}: ") and 'crs = "EPSG:4326"' in msg


def gk_zone_117(positions):
    to_gk = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:4548", always_xy=True)
    return [to_gk.transform(lon, lat) for lon, lat in positions]


@pytest.mark.parametrize("how", ["scene crs", "GeoJSON crs member", "Gauss-Kruger zone"])
def test_positions_in_a_named_crs_are_converted_to_metres(tmp_path, toy, how):
    registry = load_registry([toy], entry_points=False)
    if how == "scene crs":
        geo_scene(tmp_path, DEGREES, crs_line='crs = "EPSG:4326"')
    elif how == "GeoJSON crs member":
        geo_scene(tmp_path, DEGREES, member="urn:ogc:def:crs:OGC:1.3:CRS84")
    else:  # CGCS2000 / 3-degree Gauss-Kruger CM 117E, easting first as GIS exports write it
        geo_scene(tmp_path, gk_zone_117(DEGREES), member="urn:ogc:def:crs:EPSG::4548")
    scene = load_scene(tmp_path, registry.domains)
    origin, north, east = (np.array(a.geometry["coordinates"][:2]) for a in scene.assets["toy"])
    geod = pyproj.Geod(ellps="WGS84")  # the independent reference: distances on the ellipsoid
    _, _, d_north = geod.inv(*DEGREES[0], *DEGREES[1])
    _, _, d_east = geod.inv(*DEGREES[0], *DEGREES[2])
    assert 110.0 < d_north < 112.0
    assert np.allclose(origin, 0.0, atol=1e-3)
    assert north[0] == pytest.approx(0.0, abs=1e-3) and north[1] == pytest.approx(d_north, abs=0.01)
    assert east[1] == pytest.approx(0.0, abs=0.01) and east[0] == pytest.approx(d_east, abs=0.01)


def test_a_crs_without_an_origin_or_unknown_is_refused(tmp_path, toy):
    registry = load_registry([toy], entry_points=False)
    geo_scene(tmp_path, DEGREES, crs_line='crs = "EPSG:999999"')
    [msg] = problems(tmp_path, registry)
    assert msg.startswith(f"{tmp_path / 'scene.toml'}: line 5: [scene] crs = 'EPSG:999999': not a CRS PROJ knows") and "EPSG:4326" in msg
    toml = tmp_path / "scene.toml"
    toml.write_text(toml.read_text().replace(f"origin = [{ORIGIN[0]}, {ORIGIN[1]}]\n", "").replace("EPSG:999999", "EPSG:4326"))
    [msg] = problems(tmp_path, registry)
    assert "[scene] crs" in msg and "needs origin = [longitude, latitude]" in msg


def test_a_wrong_crs_that_lands_far_away_is_refused(tmp_path, toy):
    registry = load_registry([toy], entry_points=False)
    path = geo_scene(tmp_path, gk_zone_117(DEGREES), member="EPSG:4547")  # the zone beside it: 285 km west
    [msg] = problems(tmp_path, registry)
    assert msg.startswith(f"{path}: converting from EPSG:4547") and "km from the scene origin" in msg


def test_terrain_in_degrees_is_refused_without_crs_and_resampled_with_it(scene_dir):
    root, registry = scene_dir
    # 21 x 21 nodes 0.0001 degree apart centred on the origin, rising 1 m per node eastwards
    grid = "\n".join(" ".join(str(10 + c) for c in range(21)) for _ in range(21))
    terrain = root / "data" / "terrain.asc"
    terrain.write_text(f"ncols 21\nnrows 21\nxllcorner {ORIGIN[0] - 0.001}\nyllcorner {ORIGIN[1] - 0.001}\n"
                       f"cellsize 0.0001\nnodata_value -9999\n{grid}\n")
    [msg] = problems(root, registry)
    assert msg.startswith(f"{terrain}: ") and 'crs = "EPSG:4326"' in msg
    # the other layers are metres: only the grid is in degrees, so it is converted alone
    toml = root / "scene.toml"
    toml.write_text(toml.read_text().replace('units = "m"', 'units = "m"\ncrs = "EPSG:4326"'))
    for name in ("buildings", "river", "toy"):
        path = root / "data" / f"{name}.geojson"
        doc = json.loads(path.read_text())
        doc["crs"] = {"type": "name", "properties": {"name": "+proj=tmerc +lat_0=31.8206 +lon_0=117.2272 +k=1 +x_0=0 +y_0=0 +ellps=WGS84"}}
        path.write_text(json.dumps(doc))
    scene = load_scene(root, registry.domains)
    geod = pyproj.Geod(ellps="WGS84")
    _, _, five_east = geod.inv(*ORIGIN, ORIGIN[0] + 0.0005, ORIGIN[1])
    # nearest node twice (the local grid's, then the source's): right within one node
    assert abs(scene.terrain.height_at(0.0, 0.0) - 20.0) <= 1.0  # the node at the origin
    assert abs(scene.terrain.height_at(five_east, 0.0) - 25.0) <= 1.0  # five nodes east
    assert abs(scene.terrain.height_at(2 * five_east, 0.0) - 30.0) <= 1.0  # the east edge
    assert abs(scene.terrain.height_at(0.0, 100.0) - 20.0) <= 1.0  # north, on the origin's meridian
    assert scene.terrain.cell == pytest.approx(five_east / 5, rel=1e-3)  # the finer side of a cell, in metres


@pytest.mark.parametrize("name, content, said", [
    ("data/toy.geojson", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a binary file (a NUL byte at offset 8)"),
    ("data/toy.geojson", '{"type": "FeatureCollection", "name": "Caf\u00e9", "features": []}'.encode("latin-1"),
     "line 1: not UTF-8 text (byte 0xe9 at offset 42)"),
    ("data/terrain.asc", b"PK\x03\x04\x14\x00\x00\x00\x08\x00\x9c\xa5", "a binary file (a NUL byte at offset 5)"),
    ("data/sensors.csv", "id,asset,field\nTS-\u00e9,T-000,level\n".encode("latin-1"), "line 2: not UTF-8 text (byte 0xe9"),
])
def test_binary_or_non_utf8_sources_are_refused_naming_the_file(scene_dir, name, content, said):
    root, registry = scene_dir
    (root / name).write_bytes(content)
    [msg] = problems(root, registry)
    assert msg.startswith(f"{root / name}: {said}")


def test_non_utf8_scene_toml_is_refused_with_its_line(scene_dir):
    root, registry = scene_dir
    toml = root / "scene.toml"
    toml.write_bytes(toml.read_text().replace('title = "toytown"', 'title = "Caf\u00e9 town"').encode("latin-1"))
    [msg] = problems(root, registry)
    assert msg.startswith(f"{toml}: line 4: not UTF-8 text (byte 0xe9")


@pytest.mark.parametrize("case", ["units", "binary"])
def test_twin_check_prints_one_line_and_fails(tmp_path, case):
    root = tmp_path / "scene"
    root.mkdir()
    (root / "buildings.geojson").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (root / "scene.toml").write_text(
        '[scene]\nname = "bad"\n' + ('units = "ft"\n' if case == "units" else 'units = "m"\n')
        + ("" if case == "units" else '[layers]\nbuildings = "buildings.geojson"\n')
    )
    result = subprocess.run([sys.executable, "-m", "twin.cli", "check", str(root), "--data", str(tmp_path / "data")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if not line.startswith("{")]  # JSON lines are logs
    assert line.startswith("twin check: ")
    if case == "units":
        assert f"{root / 'scene.toml'}: line 3: [scene] units = 'ft'" in line and "'metres'" in line
    else:
        assert f"{root / 'buildings.geojson'}: a binary file" in line


def modes(root):
    """{path relative to root: permission bits} of everything under root, root included."""
    out = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        out[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return out


def test_the_data_folder_is_private_to_the_user(scene_dir, toy):
    from twin.runtime import open_twin

    root, _ = scene_dir
    data = root / "state"
    before = os.umask(0o022)  # what a shell usually has: files 0644, folders 0755
    try:
        # what an older twin left: a world-readable folder, alarm store and sub-folder
        (data / "old").mkdir(parents=True)
        (data / "old" / "notes.txt").write_text("operator notes")
        with sqlite3.connect(data / "alarms.sqlite") as db:
            db.execute("PRAGMA journal_mode=WAL")
        assert stat.S_IMODE((data / "alarms.sqlite").stat().st_mode) == 0o644
        engine = open_twin(root, data, modules=[toy])
        try:
            engine.apply_action("toy.open_tap", "T-001", {"rate": 1.0})  # 10 %/s: blue at 60 %
            raised = []
            for _ in range(10):
                raised += engine.tick().events
            assert raised, "no alarm was written"
            (data / "later").mkdir()  # made by the twin later on
            (data / "later" / "export.csv").write_text("a,b\n")
            found = modes(data)
            assert {"alarms.sqlite", "alarms.sqlite-wal", "alarms.sqlite-shm"} <= set(found)
            for name, mode in found.items():
                expected = 0o700 if (data / name).is_dir() else 0o600
                assert mode == expected, f"{name}: {oct(mode)}, expected {oct(expected)}"
        finally:
            engine.close()
    finally:
        os.umask(before)


def test_a_shared_folder_is_refused_as_data_folder(tmp_path):
    from twin.errors import TwinError
    from twin.runtime import prepare_data_dir

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    with pytest.raises(TwinError, match="shared folder"):
        prepare_data_dir(shared)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
