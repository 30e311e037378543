"""Geometry for the viewer: one binary mesh (GLB, written by trimesh) per layer.

Layers are the base ones (``terrain``, ``buildings``, then each area the scene declares
in ``[[layers.areas]]``, by its name) and one per domain.
A domain's layer is a single merged mesh in which every asset owns a contiguous run of
vertices, in the order of the domain's state table (the ``ids`` of the Hello message):
asset row ``r`` owns vertices ``offsets[r]`` to ``offsets[r + 1]``. The viewer gives the
mesh a per-vertex colour attribute and paints each run from the stream's state, so
colouring an asset never rebuilds geometry, and a city of 100,000 pipes is one draw call.

Coordinates stay those of the scene: metres, x east, y north, z up (elevation). The
GLB is therefore z-up; the viewer sets its camera's up to +z rather than rotating.

Shapes, from the asset's GeoJSON geometry and the common engineering attributes it may
have (the core knows no domain, only these generic names):

- LineString: a box along each segment. Width and height from ``cross_section`` and
  ``ceiling_height`` (a compartment), ``lanes`` (a deck, 3.5 m a lane), or
  ``diameter`` (a pipe, drawn at least :data:`MIN_PIPE` wide so it reads on a wall).
- Point: a small vertical box, from ``invert_elevation`` to ``rim_elevation`` when
  given (a shaft), up ``pier_height`` when given, else centred on the point.
- Polygon: the footprint extruded, ``ceiling_height`` tall (4 m if not given), its top
  at the point's z or, without one, :data:`BURIED_TOP` below the terrain (a station).
"""

from __future__ import annotations

import io
import math
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.tick.scene import AreaLayer, Scene, Terrain
from twin.tick.scenefile import BASE_LAYERS
from twin.types import Asset

#: narrowest pipe drawn (m): a 0.2 m main would be under a pixel at district scale
MIN_PIPE = 1.2
#: how much wider than its diameter a pipe is drawn
PIPE_SCALE = 2.5
#: side of the box drawn for a point asset (m)
POINT_SIZE = 2.6
#: depth below the terrain of the top of a buried polygon without elevation (m)
BURIED_TOP = 3.0
#: height of an area's surface above the terrain under it (m): enough not to flicker
#: through the ground mesh at district scale
AREA_ABOVE_GROUND = 0.3
LANE_WIDTH = 3.5
DECK_THICKNESS = 1.2

# One box: corners 0-3 at the segment's start, 4-7 at its end, each ring going round
# (-side,-up), (+side,-up), (+side,+up), (-side,+up); triangles wind outwards.
_BOX_FACES = np.array(
    [[0, 2, 1], [0, 3, 2], [4, 5, 6], [4, 6, 7]]
    + [f for k in range(4) for f in ([k, (k + 1) % 4, 4 + (k + 1) % 4], [k, 4 + (k + 1) % 4, 4 + k])],
    dtype=np.int64,
)[:, ::-1].copy()
_RING = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64) / 2.0


@dataclass
class Layer:
    """One layer's mesh as GLB bytes and its map from asset row to vertex run."""

    name: str
    glb: bytes
    vertices: int
    faces: int
    bounds: list[list[float]]
    domain: str | None = None
    ids: list[str] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "domain": self.domain, "vertices": self.vertices, "faces": self.faces,
                "bytes": len(self.glb), "bounds": self.bounds, "assets": len(self.ids)}

    def map(self) -> dict[str, Any]:
        """What the viewer needs to colour and pick assets: row -> vertex run."""
        return {**self.summary(), "ids": self.ids, "offsets": self.offsets}


def boxes(start: np.ndarray, end: np.ndarray, width: np.ndarray, height: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (8 per box) and faces (12 per box) of boxes from ``start`` to ``end``.

    ``width`` is across the segment, horizontally; ``height`` across it, vertically. A
    vertical segment's width lies along x.
    """
    start = np.asarray(start, dtype=np.float64).reshape(-1, 3)
    end = np.asarray(end, dtype=np.float64).reshape(-1, 3)
    n = len(start)
    axis = end - start
    length = np.linalg.norm(axis, axis=1, keepdims=True)
    axis = np.divide(axis, length, out=np.tile([0.0, 0.0, 1.0], (n, 1)), where=length > 0)
    side = np.cross(axis, [0.0, 0.0, 1.0])
    norm = np.linalg.norm(side, axis=1, keepdims=True)
    side = np.divide(side, norm, out=np.tile([1.0, 0.0, 0.0], (n, 1)), where=norm > 1e-9)
    up = np.cross(side, axis)
    w = np.broadcast_to(np.asarray(width, dtype=np.float64), (n,))[:, None]
    h = np.broadcast_to(np.asarray(height, dtype=np.float64), (n,))[:, None]
    ring = side[:, None, :] * (w[:, None, :] * _RING[None, :, 0:1]) + up[:, None, :] * (h[:, None, :] * _RING[None, :, 1:2])
    vertices = np.concatenate([start[:, None, :] + ring, end[:, None, :] + ring], axis=1).reshape(-1, 3)
    faces = (_BOX_FACES[None, :, :] + 8 * np.arange(n)[:, None, None]).reshape(-1, 3)
    return vertices, faces


def triangulate(ring: np.ndarray) -> np.ndarray:
    """Triangles (indices into ``ring``) of a simple polygon, by ear clipping.

    ``ring`` is (n, 2) without the closing repeat; counter-clockwise or not.
    """
    n = len(ring)
    if n < 3:
        return np.zeros((0, 3), dtype=np.int64)
    x, y = ring[:, 0], ring[:, 1]
    ccw = float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)) > 0
    order = list(range(n)) if ccw else list(range(n - 1, -1, -1))
    out: list[tuple[int, int, int]] = []

    def cross(a: int, b: int, c: int) -> float:
        return float((x[b] - x[a]) * (y[c] - y[a]) - (y[b] - y[a]) * (x[c] - x[a]))

    def inside(p: int, a: int, b: int, c: int) -> bool:
        return cross(a, b, p) >= 0 and cross(b, c, p) >= 0 and cross(c, a, p) >= 0

    guard = 0
    while len(order) > 3 and guard < 10 * n * n:
        guard += 1
        m = len(order)
        for i in range(m):
            a, b, c = order[i - 1], order[i], order[(i + 1) % m]
            if cross(a, b, c) <= 0:
                continue  # reflex or degenerate corner: not an ear
            if any(inside(p, a, b, c) for p in order if p not in (a, b, c)):
                continue
            out.append((a, b, c))
            del order[i]
            break
        else:
            break  # self-intersecting: fan what is left rather than loop for ever
    for i in range(1, len(order) - 1):
        out.append((order[0], order[i], order[i + 1]))
    return np.array(out, dtype=np.int64).reshape(-1, 3)


def extrude(ring: np.ndarray, bottom: float, top: float) -> tuple[np.ndarray, np.ndarray]:
    """A prism over a polygon ring (n, 2) from ``bottom`` to ``top``: vertices, faces."""
    ring = np.asarray(ring, dtype=np.float64)[:, :2]
    if len(ring) > 1 and np.allclose(ring[0], ring[-1]):
        ring = ring[:-1]
    n = len(ring)
    x, y = ring[:, 0], ring[:, 1]
    if float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)) < 0:
        ring = ring[::-1]
    tris = triangulate(ring)
    low = np.column_stack([ring, np.full(n, bottom)])
    high = np.column_stack([ring, np.full(n, top)])
    vertices = np.concatenate([low, high])
    k = np.arange(n)
    k2 = (k + 1) % n
    walls = np.concatenate([np.column_stack([k, k2, n + k2]), np.column_stack([k, n + k2, n + k])])
    faces = np.concatenate([tris[:, ::-1], tris + n, walls])
    return vertices, faces


def _coords(geometry: dict[str, Any]) -> np.ndarray:
    kind = geometry["type"]
    coords = geometry["coordinates"]
    if kind == "Point":
        coords = [coords]
    elif kind == "Polygon":
        coords = coords[0]
    rows = [list(c) + [math.nan] * (3 - len(c)) for c in coords]
    return np.array(rows, dtype=np.float64)


def _ground(terrain: Terrain | None, x: float, y: float) -> float:
    return terrain.height_at(x, y) if terrain is not None else 0.0


def _asset_shape(asset: Asset, terrain: Terrain | None) -> tuple[list[tuple[np.ndarray, np.ndarray, float, float]], tuple[np.ndarray, np.ndarray] | None]:
    """Boxes (start, end, width, height) or a prism for one asset."""
    a = asset.attributes
    pts = _coords(asset.geometry)
    for i in range(len(pts)):
        if math.isnan(pts[i, 2]):
            pts[i, 2] = _ground(terrain, pts[i, 0], pts[i, 1])
    kind = asset.geometry["type"]
    if kind == "Polygon":
        height = float(a.get("ceiling_height", 4.0))
        has_z = all(len(c) >= 3 for c in asset.geometry["coordinates"][0])
        top = float(pts[:, 2].max()) if has_z else min(_ground(terrain, x, y) for x, y in pts[:, :2]) - BURIED_TOP
        return [], extrude(pts[:, :2], top - height, top)
    if kind == "Point":
        x, y, z = pts[0]
        if "rim_elevation" in a and "invert_elevation" in a:
            bottom, top = float(a["invert_elevation"]), float(a["rim_elevation"])
        elif "pier_height" in a:
            bottom, top = z, z + float(a["pier_height"])
        else:
            bottom, top = z - POINT_SIZE / 2, z + POINT_SIZE / 2
        top = max(top, bottom + 0.5)
        return [(np.array([x, y, bottom]), np.array([x, y, top]), POINT_SIZE, POINT_SIZE)], None
    if "cross_section" in a and "ceiling_height" in a:
        height = float(a["ceiling_height"])
        width = float(a["cross_section"]) / height
        lift = height / 2  # the path runs along the floor
    elif "lanes" in a:
        width, height = float(a["lanes"]) * LANE_WIDTH + 2.0, DECK_THICKNESS
        lift = -DECK_THICKNESS / 2  # the path runs along the deck's surface
    else:
        d = float(a.get("diameter", 0.3))
        width = height = max(MIN_PIPE, PIPE_SCALE * d)
        lift = 0.0
    lifted = pts + np.array([0.0, 0.0, lift])
    return [(lifted[i], lifted[i + 1], width, height) for i in range(len(pts) - 1)], None


def domain_layer(name: str, assets: list[Asset], terrain: Terrain | None) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Merged vertices and faces of a domain, and each asset row's first vertex."""
    starts, ends, widths, heights, box_row = [], [], [], [], []
    prisms: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for row, asset in enumerate(assets):
        shape_boxes, prism = _asset_shape(asset, terrain)
        for s, e, w, h in shape_boxes:
            starts.append(s)
            ends.append(e)
            widths.append(w)
            heights.append(h)
            box_row.append(row)
        if prism is not None:
            prisms[row] = prism
    if starts:
        bv, bf = boxes(np.array(starts), np.array(ends), np.array(widths), np.array(heights))
    else:
        bv, bf = np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
    counts = np.bincount(np.array(box_row, dtype=np.int64), minlength=len(assets)) * 8 if box_row else np.zeros(len(assets), dtype=np.int64)
    if not prisms:
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return bv, bf, offsets.tolist()
    # Mixed: splice each prism into the row order.
    box_first = np.concatenate([[0], np.cumsum(counts)])
    vparts, fparts, offsets = [], [], [0]
    total = 0
    for row in range(len(assets)):
        lo, hi = int(box_first[row]), int(box_first[row + 1])
        if hi > lo:
            vparts.append(bv[lo:hi])
            fparts.append(bf[lo // 8 * 12 : hi // 8 * 12] - lo + total)
            total += hi - lo
        if row in prisms:
            pv, pf = prisms[row]
            vparts.append(pv)
            fparts.append(pf + total)
            total += len(pv)
        offsets.append(total)
    return np.concatenate(vparts), np.concatenate(fparts), offsets


def terrain_mesh(terrain: Terrain) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = terrain.heights.shape
    c, r = np.meshgrid(np.arange(cols), np.arange(rows))
    x = terrain.x0 + c * terrain.cell
    y = terrain.y0 + (rows - 1 - r) * terrain.cell
    vertices = np.column_stack([x.ravel(), y.ravel(), terrain.heights.ravel()])
    idx = np.arange(rows * cols).reshape(rows, cols)
    a, b, cc, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, 1:].ravel(), idx[1:, :-1].ravel()
    # row 0 is north: (a, d, b) runs counter-clockwise seen from above
    faces = np.concatenate([np.column_stack([a, d, b]), np.column_stack([b, d, cc])])
    return vertices, faces


def _merged(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """One mesh of several (vertices, faces): each part's faces shifted past the vertices before it."""
    if not parts:
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
    starts = np.cumsum([0] + [len(v) for v, _ in parts[:-1]])
    return np.concatenate([v for v, _ in parts]), np.concatenate([f + start for (_, f), start in zip(parts, starts)])


def buildings_mesh(buildings: list[dict[str, Any]], terrain: Terrain | None) -> tuple[np.ndarray, np.ndarray]:
    parts = []
    for feature in buildings:
        ring = np.array(feature["geometry"]["coordinates"][0], dtype=np.float64)[:, :2]
        props = feature.get("properties") or {}
        ground = props.get("ground")
        if not isinstance(ground, (int, float)):
            ground = min(_ground(terrain, x, y) for x, y in ring)
        parts.append(extrude(ring, float(ground) - 0.5, float(ground) + float(props["height"])))
    return _merged(parts)


def _outer_rings(features: list[dict[str, Any]]) -> list[list[Any]]:
    """The outer ring of every Polygon and of every part of every MultiPolygon."""
    rings = []
    for feature in features:
        geometry = feature.get("geometry") or {}
        if geometry.get("type") == "Polygon":
            rings.append(geometry["coordinates"][0])
        elif geometry.get("type") == "MultiPolygon":
            rings.extend(part[0] for part in geometry["coordinates"])
    return rings


def area_mesh(features: list[dict[str, Any]], terrain: Terrain | None) -> tuple[np.ndarray, np.ndarray]:
    """A surface draped over the terrain inside each polygon of ``features`` (an area:
    ground that slopes, so a flat sheet would sink into it or float above it)."""
    parts = []
    for outer in _outer_rings(features):
        ring = np.array(outer, dtype=np.float64)[:, :2]
        if np.allclose(ring[0], ring[-1]):
            ring = ring[:-1]
        x, y = ring[:, 0], ring[:, 1]
        ccw = float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)) > 0
        tris = triangulate(ring)
        v, f = _subdivide(np.column_stack([ring, np.zeros(len(ring))]), tris if ccw else tris[:, ::-1], terrain.cell if terrain else 1e9)
        v[:, 2] = [bilinear(terrain, px, py) + AREA_ABOVE_GROUND for px, py in v[:, :2]] if terrain else 0.0
        parts.append((v, f))
    return _merged(parts)


def _subdivide(vertices: np.ndarray, faces: np.ndarray, max_edge: float) -> tuple[np.ndarray, np.ndarray]:
    import trimesh

    if len(faces) == 0:
        return vertices, faces
    v, f = trimesh.remesh.subdivide_to_size(vertices, faces, max_edge=max_edge / 2, max_iter=12)
    return np.asarray(v, dtype=np.float64), np.asarray(f, dtype=np.int64)


def bilinear(terrain: Terrain, x: float, y: float) -> float:
    """Terrain height at (x, y), interpolated as the terrain mesh draws it."""
    rows, cols = terrain.heights.shape
    c = min(max((x - terrain.x0) / terrain.cell, 0.0), cols - 1.0)
    r = min(max((rows - 1) - (y - terrain.y0) / terrain.cell, 0.0), rows - 1.0)
    c0, r0 = min(int(c), cols - 2), min(int(r), rows - 2)
    fc, fr = c - c0, r - r0
    h = terrain.heights
    top = h[r0, c0] * (1 - fc) + h[r0, c0 + 1] * fc
    bottom = h[r0 + 1, c0] * (1 - fc) + h[r0 + 1, c0 + 1] * fc
    return float(top * (1 - fr) + bottom * fr)


def to_glb(name: str, vertices: np.ndarray, faces: np.ndarray) -> bytes:
    """One mesh as GLB, vertex order kept (no merging, no reordering)."""
    import trimesh

    mesh = trimesh.Trimesh(vertices=np.asarray(vertices, dtype=np.float64), faces=np.asarray(faces, dtype=np.int64), process=False)
    scene = trimesh.Scene()
    scene.add_geometry(mesh, geom_name=name, node_name=name)
    out = io.BytesIO()
    out.write(trimesh.exchange.gltf.export_glb(scene, include_normals=False))
    return out.getvalue()


def _bounds(vertices: np.ndarray) -> list[list[float]]:
    if len(vertices) == 0:
        return [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    return [vertices.min(axis=0).round(3).tolist(), vertices.max(axis=0).round(3).tolist()]


def build_layer(scene: Scene, name: str, domains: list[str]) -> Layer:
    """Build one layer of ``scene``; ``name`` is a base layer, an area or a domain."""
    area = area_of(scene, name)
    if name == "terrain":
        if scene.terrain is None:
            raise KeyError(name)
        v, f = terrain_mesh(scene.terrain)
    elif name == "buildings":
        v, f = buildings_mesh(scene.buildings, scene.terrain)
    elif area is not None:
        v, f = area_mesh(area.features, scene.terrain)
    elif name in domains:
        assets = scene.assets.get(name, [])
        v, f, offsets = domain_layer(name, assets, scene.terrain)
        return Layer(name, to_glb(name, v, f), len(v), len(f), _bounds(v), domain=name,
                     ids=[a.id for a in assets], offsets=offsets)
    else:
        raise KeyError(name)
    return Layer(name, to_glb(name, v, f), len(v), len(f), _bounds(v))


def area_of(scene: Scene, name: str) -> AreaLayer | None:
    """The area of ``scene`` whose layer is ``name``, if any."""
    return next((a for a in scene.areas if a.name == name), None)


class LayerCache:
    """Layers of one scene, each built once on first request (thread-safe)."""

    def __init__(self, scene: Scene, domains: list[str]) -> None:
        self.scene = scene
        self.domains = list(domains)
        self._layers: dict[str, Layer] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        base = [n for n in BASE_LAYERS if n != "terrain" or self.scene.terrain is not None]
        return base + [a.name for a in self.scene.areas] + self.domains

    def get(self, name: str) -> Layer:
        """The layer ``name``; KeyError if the scene has no such layer."""
        if name not in self.names():
            raise KeyError(name)
        with self._lock:
            layer = self._layers.get(name)
            if layer is None:
                layer = self._layers[name] = build_layer(self.scene, name, self.domains)
            return layer


_caches: dict[int, LayerCache] = {}
_caches_lock = threading.Lock()


def layers_for(scene: Scene, domains: list[str]) -> LayerCache:
    """The layer cache of ``scene`` (one per scene object, kept while the process runs)."""
    with _caches_lock:
        cache = _caches.get(id(scene))
        if cache is None or cache.scene is not scene:
            cache = _caches[id(scene)] = LayerCache(scene, domains)
            weakref.finalize(scene, _caches.pop, id(scene), None)
        return cache
