"""Layer meshes for the viewer (twin.serving.geometry): shapes, row -> vertex runs, GLB, routes."""

import numpy as np
import pytest
import trimesh

from twin.serving.geometry import boxes, extrude, layers_for, triangulate


def test_boxes_are_closed_and_wind_outwards():
    v, f = boxes(np.array([[0, 0, 0], [5, 5, 0]]), np.array([[10, 0, 0], [5, 5, 4]]), np.array([2.0, 1.0]), np.array([1.0, 1.0]))
    along = trimesh.Trimesh(v[:8], f[:12], process=False)
    upright = trimesh.Trimesh(v[8:], f[12:] - 8, process=False)
    assert along.is_watertight and along.volume == pytest.approx(20.0)
    assert upright.is_watertight and upright.volume == pytest.approx(4.0)


def test_extrude_handles_a_concave_footprint():
    ring = np.array([[0, 0], [4, 0], [4, 1], [1, 1], [1, 3], [0, 3], [0, 0]], dtype=float)
    v, f = extrude(ring, 10.0, 12.0)
    mesh = trimesh.Trimesh(v, f, process=False)
    assert mesh.is_watertight and mesh.volume == pytest.approx(12.0)
    assert len(triangulate(ring[:-1])) == 4


def test_demo_layers_map_every_asset_row_to_its_own_vertex_run(tmp_path):
    from twin.runtime import open_scene
    from twin.plugins.registry import load_registry
    import shutil
    from pathlib import Path

    shutil.copy(Path(__file__).resolve().parents[1] / "scenes" / "demo" / "scene.toml", tmp_path / "scene.toml")
    registry = load_registry(None)
    scene = open_scene(tmp_path, registry)
    cache = layers_for(scene, list(registry.domains))
    assert cache.names()[:3] == ["terrain", "buildings", "river"]
    for domain in registry.domains:
        layer = cache.get(domain)
        assert layer.ids == [a.id for a in scene.assets[domain]]
        offsets = np.array(layer.offsets)
        assert offsets[0] == 0 and offsets[-1] == layer.vertices and np.all(np.diff(offsets) > 0)
        mesh = trimesh.load(trimesh.util.wrap_as_stream(layer.glb), file_type="glb", force="mesh", process=False)
        assert len(mesh.vertices) == layer.vertices  # order kept: the runs hold in the GLB
        # Each face lies within one asset's run, so painting a run colours whole faces.
        faces = np.asarray(mesh.faces)
        owner = np.searchsorted(offsets, faces, side="right") - 1
        assert np.all(owner[:, 0] == owner[:, 1]) and np.all(owner[:, 0] == owner[:, 2])
        # Every asset's shapes are closed and wind outwards: the viewer draws front faces
        # only (half the fragments of DoubleSide), which shows all of each shape from outside.
        for row in range(len(layer.ids)):
            mine = faces[owner[:, 0] == row] - offsets[row]
            part = trimesh.Trimesh(mesh.vertices[offsets[row]:offsets[row + 1]], mine, process=False)
            for shape in part.split(only_watertight=False):
                assert shape.is_watertight and shape.volume > 0, (domain, layer.ids[row])
    assert cache.get("gas") is cache.get("gas")  # built once
    with pytest.raises(KeyError):
        cache.get("nope")
