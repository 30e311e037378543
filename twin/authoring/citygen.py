"""Synthetic cities: a street grid with blocks of buildings, terrain, a river, and the
assets each plugin places along the streets (through ``twin_asset_generators``).

The core draws only what no domain owns (streets, buildings, ground, and the river
written as an area of the scene, ``[[layers.areas]]``); every pipe, tunnel or bridge
comes from its plugin's generator. Everything is derived from
the seed, so the same parameters always give the same city, byte for byte.

Coordinates are metres east (x) and north (y) of the scene origin; z is elevation in
metres (ground is about 20 m above datum, falling gently towards the river).
"""

from __future__ import annotations

import csv
import hashlib
import inspect
import json
import math
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from twin.authoring import placenames
from twin.authoring.placenames import PlaceNamer, name_places
from twin.plugins.registry import Registry
from twin.types import REPORTS_PER_INTERVAL, Sensor

#: metres between street centrelines: the side of a block
BLOCK = 120.0
#: metres from kerb to kerb
STREET_WIDTH = 24.0
#: metres from the river's centreline to each bank
RIVER_HALF_WIDTH = 30.0
#: the scene's area for the river (``[[layers.areas]]``): how the viewer names and draws it
#: (the Chinese title escaped, so that the scene.toml written stays ASCII)
_RIVER_AREA = ('name = "river"', 'title = "River"', 'title_zh = "\\u6cb3\\u6d41"', 'file = "data/river.geojson"',
              'colour = "#1d5b8f"', "opacity = 0.85")


@dataclass(frozen=True)
class Street:
    """One street between two neighbouring intersections of the grid."""

    #: ``S-EW-<i>-<j>`` or ``S-NS-<i>-<j>``
    id: str
    #: (x, y) of its west or south end, m
    start: tuple[float, float]
    #: (x, y) of its east or north end, m
    end: tuple[float, float]
    #: m, kerb to kerb
    width: float
    #: "ew" (east-west) or "ns" (north-south)
    axis: str
    #: a bridge carries this street over the river
    crosses_river: bool = False


@dataclass
class CityPlan:
    """The layout shared by every generator, and the assets placed so far."""

    #: the city's seed: the same seed gives the same city, byte for byte
    seed: int
    #: blocks from west to east
    blocks_x: int
    #: blocks from south to north
    blocks_y: int
    #: ``"demo"`` for the demo district (a generator may place its showpieces there),
    #: else ``"synthetic"``
    preset: str = "synthetic"
    #: every street of the grid, east-west ones first
    streets: list[Street] = field(default_factory=list)
    #: street intersections, ``nodes[(i, j)] = (x, y)``
    nodes: dict[tuple[int, int], tuple[float, float]] = field(default_factory=dict)
    #: y of the river's centreline, m; it runs east-west through a block row
    river_y: float = 0.0
    #: building footprints placed by the core, GeoJSON features with ``height`` (m)
    buildings: list[dict[str, Any]] = field(default_factory=list)
    #: the assets placed so far by domain, as GeoJSON features (see ``add_asset``)
    assets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: the sensors placed so far, each ``{"id", "asset", "field", "noise", "stale_after"}``
    #: (``stale_after`` None: from its kind's reporting period when the scene is written)
    sensors: list[dict[str, Any]] = field(default_factory=list)
    #: each sensor kind's reporting period, seconds, by ``"<domain>.<field>"`` (``report_every``)
    sensor_kinds: dict[str, float] = field(default_factory=dict)
    #: the background incidents placed so far, each ``{"at", "action", "asset", "params"}``
    incidents: list[dict[str, Any]] = field(default_factory=list)
    _ids: set[str] = field(default_factory=set)
    _domain_of: dict[str, str] = field(default_factory=dict)

    @property
    def width(self) -> float:
        """West to east extent of the street grid, m."""
        return self.blocks_x * BLOCK

    @property
    def height(self) -> float:
        """South to north extent of the street grid, m."""
        return self.blocks_y * BLOCK

    def rng(self, name: str) -> np.random.Generator:
        """A generator of its own per plugin, so adding one plugin moves no other's assets."""
        return np.random.default_rng([self.seed, zlib.crc32(name.encode())])

    def ground(self, x: float, y: float) -> float:
        """Ground elevation (m): a gentle tilt towards the river, a shallow valley at it."""
        valley = 4.0 * math.exp(-(((y - self.river_y) / 90.0) ** 2))
        return round(20.0 + 0.004 * x + 0.006 * abs(y - self.river_y) - valley, 3)

    def in_river(self, y: float, margin: float = 0.0) -> bool:
        """True where ``y`` lies in the river, or within ``margin`` m of its banks."""
        return abs(y - self.river_y) < RIVER_HALF_WIDTH + margin

    def add_asset(
        self,
        domain: str,
        asset_id: str,
        kind: str,
        geometry: dict[str, Any],
        owner: str,
        attributes: dict[str, Any] | None = None,
        links: list[str] | None = None,
    ) -> dict[str, Any]:
        """Place an asset: a GeoJSON feature of ``geometry`` whose properties are ``id``,
        ``kind``, ``owner`` (the unit dispatched when it alarms), its ``attributes`` and
        ``links`` (ids of assets it connects to or lies beside). Returns the feature.

        The id must be unique across every domain of the city (ValueError otherwise).
        """
        if asset_id in self._ids:
            raise ValueError(f"generator of {domain!r}: asset id {asset_id!r} is used twice")
        self._ids.add(asset_id)
        self._domain_of[asset_id] = domain
        props = {"id": asset_id, "kind": kind, "owner": owner, **(attributes or {})}
        if links:
            props["links"] = list(links)
        feature = {"type": "Feature", "geometry": geometry, "properties": props}
        self.assets.setdefault(domain, []).append(feature)
        return feature

    def report_every(self, domain: str, field_name: str, seconds: float) -> None:
        """Declare how often a sensor of this kind (one measuring ``field_name`` of
        ``domain``) reports, in seconds: the device fleet publishes it that often, and its
        expected interval (``stale_after``, past which it is offline) is
        ``REPORTS_PER_INTERVAL`` periods, so that one lost report does not call it offline.
        A kind not declared keeps the twin's default interval (30 s)."""
        if not (isinstance(seconds, (int, float)) and 0 < seconds < math.inf):
            raise ValueError(f"report_every({domain!r}, {field_name!r}, {seconds!r}): expected seconds > 0")
        self.sensor_kinds[f"{domain}.{field_name}"] = float(seconds)

    def add_sensor(self, sensor_id: str, asset: str, field_name: str, noise: float = 0.0,
                   stale_after: float | None = None) -> None:
        """Place a sensor on ``asset`` that measures its live field ``field_name``, with
        simulated noise (standard deviation, in the field's unit); ``stale_after``, the
        seconds without a reading after which it is offline, comes from its kind's
        reporting period (:meth:`report_every`) unless given."""
        self.sensors.append({"id": sensor_id, "asset": asset, "field": field_name, "noise": noise, "stale_after": stale_after})

    def expected_interval(self, sensor: dict[str, Any]) -> float:
        """A placed sensor's ``stale_after``: its own, else ``REPORTS_PER_INTERVAL`` of its
        kind's reporting periods, else the twin's default."""
        if sensor["stale_after"] is not None:
            return float(sensor["stale_after"])
        period = self.sensor_kinds.get(f"{self._domain_of.get(sensor['asset'], '')}.{sensor['field']}")
        return REPORTS_PER_INTERVAL * period if period is not None else Sensor.stale_after

    def add_incident(self, at: float, action: str, asset: str, **params: float) -> None:
        """A scripted background incident (the demo's, so that it shows life)."""
        self.incidents.append({"at": at, "action": action, "asset": asset, "params": params})

    def assets_of(self, domain: str, kind: str | None = None) -> list[dict[str, Any]]:
        """The features placed so far in ``domain`` (of ``kind`` only, if given), in the
        order placed; empty for a domain with none (its plugin may not be installed)."""
        return [f for f in self.assets.get(domain, []) if kind is None or f["properties"]["kind"] == kind]


def point(x: float, y: float, z: float) -> dict[str, Any]:
    """A GeoJSON Point at (x, y, z) m, rounded to the millimetre."""
    return {"type": "Point", "coordinates": [round(x, 3), round(y, 3), round(z, 3)]}


def line(points: list[tuple[float, float, float]]) -> dict[str, Any]:
    """A GeoJSON LineString through ``points`` (x, y, z) m, rounded to the millimetre."""
    return {"type": "LineString", "coordinates": [[round(x, 3), round(y, 3), round(z, 3)] for x, y, z in points]}


def polygon(ring: list[tuple[float, float]]) -> dict[str, Any]:
    """A GeoJSON Polygon of the (x, y) m corners in ``ring``, closed for you, rounded to
    the millimetre."""
    closed = list(ring) + [ring[0]]
    return {"type": "Polygon", "coordinates": [[[round(x, 3), round(y, 3)] for x, y in closed]]}


def plan_city(seed: int, blocks_x: int, blocks_y: int, preset: str = "synthetic", buildings: bool = True) -> CityPlan:
    """Lay out streets, river and buildings; no domain assets yet."""
    plan = CityPlan(seed=seed, blocks_x=blocks_x, blocks_y=blocks_y, preset=preset)
    # The river runs east-west through the middle of a block row, never along a street.
    plan.river_y = (blocks_y // 2 + 0.5) * BLOCK
    for i in range(blocks_x + 1):
        for j in range(blocks_y + 1):
            plan.nodes[(i, j)] = (i * BLOCK, j * BLOCK)
    for j in range(blocks_y + 1):
        for i in range(blocks_x):
            plan.streets.append(Street(f"S-EW-{i:03d}-{j:03d}", (i * BLOCK, j * BLOCK), ((i + 1) * BLOCK, j * BLOCK), STREET_WIDTH, "ew"))
    for i in range(blocks_x + 1):
        for j in range(blocks_y):
            y0, y1 = j * BLOCK, (j + 1) * BLOCK
            crosses = y0 < plan.river_y < y1
            plan.streets.append(Street(f"S-NS-{i:03d}-{j:03d}", (i * BLOCK, y0), (i * BLOCK, y1), STREET_WIDTH, "ns", crosses))
    if buildings:
        _place_buildings(plan)
    return plan


def _place_buildings(plan: CityPlan) -> None:
    rng = plan.rng("buildings")
    inset = STREET_WIDTH / 2 + 4.0
    for i in range(plan.blocks_x):
        for j in range(plan.blocks_y):
            x0, y0 = i * BLOCK + inset, j * BLOCK + inset
            span = BLOCK - 2 * inset
            if plan.in_river(j * BLOCK + BLOCK / 2, margin=BLOCK / 2 - RIVER_HALF_WIDTH - 1):
                continue  # the river's block row is embankment and water
            # A 2x2 or 3x2 grid of lots per block; taller towards the centre of town.
            lots_x, lots_y = (3, 2) if rng.random() < 0.5 else (2, 2)
            cx, cy = plan.width / 2, plan.height / 2
            centrality = 1.0 - min(1.0, math.hypot(x0 - cx, y0 - cy) / max(cx, cy, 1.0))
            for a in range(lots_x):
                for b in range(lots_y):
                    if rng.random() < 0.12:
                        continue  # an open lot: a square, a car park
                    w, h = span / lots_x, span / lots_y
                    bx = x0 + a * w + rng.uniform(1.0, 3.0)
                    by = y0 + b * h + rng.uniform(1.0, 3.0)
                    bw, bh = w - rng.uniform(3.0, 8.0), h - rng.uniform(3.0, 8.0)
                    storeys = int(max(2, rng.gamma(2.0 + 6.0 * centrality, 2.0)))
                    height = round(min(storeys * 3.2, 180.0), 1)
                    plan.buildings.append(
                        {
                            "type": "Feature",
                            "geometry": polygon([(bx, by), (bx + bw, by), (bx + bw, by + bh), (bx, by + bh)]),
                            "properties": {"id": f"B-{len(plan.buildings):05d}", "height": height, "storeys": storeys,
                                           "ground": plan.ground(bx + bw / 2, by + bh / 2)},
                        }
                    )


def populate(plan: CityPlan, registry: Registry, progress: Callable[[str], None] | None = None) -> None:
    """Run every active plugin's generator, dependencies first, then give every asset
    placed the ``place`` and ``place_zh`` of where it lies (:func:`name_assets`)."""
    pending = [g for p, g in registry.generators if registry.active(p)]
    done: set[str] = set()
    while pending:
        ready = [g for g in pending if set(g.after) <= done or not set(g.after) & {x.domain for x in pending}]
        if not ready:
            raise ValueError(f"asset generators wait on each other: {', '.join(g.domain for g in pending)}")
        for gen in ready:
            gen.generate(plan)
            done.add(gen.domain)
            pending.remove(gen)
            if progress:
                progress(gen.domain)
    name_assets(plan)


def name_assets(plan: CityPlan) -> None:
    """Give every asset placed so far, of every domain alike, ``place`` and ``place_zh``
    properties: the block it lies in, or the stretch of street a line runs along
    (:mod:`twin.authoring.placenames`), so that an incident's title says where it is.
    An asset that has a ``place`` already keeps it. Run after the generators, it draws
    nothing at random and moves nothing: the ids, geometry and sensors stay as they were."""
    river_row = next((j for j in range(plan.blocks_y) if plan.in_river(j * BLOCK + BLOCK / 2, margin=BLOCK / 2 - RIVER_HALF_WIDTH - 1)), None)
    namer = PlaceNamer(plan.blocks_x, plan.blocks_y, BLOCK, STREET_WIDTH, river_row)
    for domain in sorted(plan.assets):
        name_places(plan.assets[domain], namer)


def blocks_for(assets: int, registry: Registry) -> tuple[int, int]:
    """Grid size whose city has about ``assets`` assets (from a small trial city)."""
    trial = plan_city(0, 6, 6, buildings=False)
    populate(trial, registry)
    per_block = max(1.0, sum(len(v) for v in trial.assets.values()) / 36.0)
    blocks = max(4, int(round(math.sqrt(assets / per_block))))
    return blocks, blocks


def write_scene(plan: CityPlan, root: Path, name: str, registry: Registry, toml: bool = True, title: str = "") -> None:
    """Write the plan as scene data files (and, with ``toml``, a scene.toml)."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)

    def dump(path: Path, features: list[dict[str, Any]]) -> None:
        path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, separators=(",", ":"), ensure_ascii=False), encoding="utf-8")

    dump(data / "buildings.geojson", plan.buildings)
    river = [{"type": "Feature", "properties": {"id": "river", "name": "南淝河 (synthetic)"},
              "geometry": polygon([(-60, plan.river_y - RIVER_HALF_WIDTH), (plan.width + 60, plan.river_y - RIVER_HALF_WIDTH),
                                   (plan.width + 60, plan.river_y + RIVER_HALF_WIDTH), (-60, plan.river_y + RIVER_HALF_WIDTH)])}]
    dump(data / "river.geojson", river)
    _write_terrain(plan, data / "terrain.asc")
    for domain in sorted(plan.assets):
        dump(data / f"{domain}.geojson", plan.assets[domain])
    with (data / "sensors.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, ["id", "asset", "field", "noise", "stale_after"], lineterminator="\n")
        writer.writeheader()
        writer.writerows({**s, "stale_after": plan.expected_interval(s)} for s in plan.sensors)
    if toml:
        lines = [
            "# Written by `twin generate`: a synthetic city for tests and benchmarks.",
            "[scene]", f'name = "{name}"', f'title = "{title or name}"', "origin = [117.2272, 31.8206]", 'units = "m"', "",
            "[layers]", 'buildings = "data/buildings.geojson"', 'terrain = "data/terrain.asc"', "",
            "[[layers.areas]]", *_RIVER_AREA, "",
        ]
        for domain in sorted(plan.assets):
            lines += ["[[assets]]", f'domain = "{domain}"', f'file = "data/{domain}.geojson"', ""]
        lines += ["[sensors]", 'file = "data/sensors.csv"', ""]
        for inc in plan.incidents:
            params = ", ".join(f"{k} = {v!r}" for k, v in inc["params"].items())
            lines += ["[[incidents]]", f"at = {inc['at']!r}", f'action = "{inc["action"]}"', f'asset = "{inc["asset"]}"', f"params = {{ {params} }}", ""]
        (root / "scene.toml").write_text("\n".join(lines), encoding="utf-8")


def _write_terrain(plan: CityPlan, path: Path, cell: float = 20.0) -> None:
    cols = int(plan.width / cell) + 7
    rows = int(plan.height / cell) + 7
    x0, y0 = -3 * cell, -3 * cell
    out = [f"ncols {cols}", f"nrows {rows}", f"xllcorner {x0}", f"yllcorner {y0}", f"cellsize {cell}", "NODATA_value -9999"]
    for r in range(rows):
        y = y0 + (rows - 1 - r) * cell
        out.append(" ".join(f"{plan.ground(x0 + c * cell, y):.2f}" for c in range(cols)))
    path.write_text("\n".join(out) + "\n", encoding="ascii")


def fingerprint(params: dict[str, Any], registry: Registry, domains: tuple[str, ...] | None = None) -> str:
    """What generated data depends on: the parameters, the domains written, and the
    source of the city planner (with its place names) and of every active plugin's
    generator module."""
    h = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    if domains is not None:
        h.update(json.dumps(sorted(domains)).encode())
    h.update(inspect.getsource(sys.modules[__name__]).encode())
    h.update(inspect.getsource(placenames).encode())
    for plugin, gen in sorted(((p, g) for p, g in registry.generators if registry.active(p)), key=lambda x: x[0]):
        module = inspect.getmodule(gen.generate)
        h.update(plugin.encode())
        h.update(inspect.getsource(module).encode() if module is not None else gen.domain.encode())
    return h.hexdigest()


def generate_into(
    root: Path, params: dict[str, Any], registry: Registry, domains: tuple[str, ...] | None = None
) -> CityPlan | None:
    """Make the data files of a scene from its ``[generated]`` table, unless they exist
    and were made from the same parameters by the same generators.

    ``domains`` are the domains the scene lists (None: all): only their asset files and
    the sensors on their assets are written. Every generator still runs, so that a
    listed domain placed beside an unlisted one lies where it always does, and a plugin
    installed later changes nothing in a scene that does not list its domain.
    """
    stamp = root / "data" / ".fingerprint"
    current = fingerprint(params, registry, domains)
    if stamp.exists() and stamp.read_text() == current:
        return None
    blocks = params.get("blocks", [8, 7])
    plan = plan_city(int(params.get("seed", 0)), int(blocks[0]), int(blocks[1]), str(params.get("preset", "synthetic")))
    populate(plan, registry)
    if domains is not None:
        plan = _only(plan, set(domains))
    write_scene(plan, root, root.name, registry, toml=False)
    stamp.write_text(current)
    return plan


def _only(plan: CityPlan, domains: set[str]) -> CityPlan:
    """The plan with only the assets of ``domains``, and the sensors and incidents on them."""
    assets = {d: features for d, features in plan.assets.items() if d in domains}
    kept = {f["properties"]["id"] for features in assets.values() for f in features}
    return replace(
        plan, assets=assets, sensors=[s for s in plan.sensors if s["asset"] in kept],
        incidents=[i for i in plan.incidents if i["asset"] in kept],
    )
