"""Scenes: ``scene.toml`` plus data files in the formats utilities use.

A scene names the district, its base layers (building footprints with heights as
GeoJSON, terrain as an ESRI ASCII grid, the river as GeoJSON), the asset files of each
domain (GeoJSON features whose properties hold id, kind, owner, links and the
attributes the domain declares) and the sensors (CSV). :func:`load_scene` validates
all of it against the domains of the active plugins and reports every problem with
the file, the feature or line, the field and what would be valid.
"""

from __future__ import annotations

import csv
import json
import math
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twin.contributions import Domain
from twin.errors import SceneError
from twin.types import Asset, Sensor

_ASSET_KEYS = {"id", "kind", "owner", "links"}


@dataclass(frozen=True)
class Incident:
    """A scripted action at a simulation time (background incidents, drill events)."""

    at: float
    action: str
    asset: str
    params: dict[str, float] = field(default_factory=dict)


@dataclass
class Terrain:
    """A regular elevation grid: ``heights[row, col]``, row 0 at the north edge."""

    x0: float
    y0: float
    cell: float
    heights: np.ndarray

    def height_at(self, x: float, y: float) -> float:
        rows, cols = self.heights.shape
        c = min(max((x - self.x0) / self.cell, 0.0), cols - 1.0)
        r = min(max((rows - 1) - (y - self.y0) / self.cell, 0.0), rows - 1.0)
        return float(self.heights[int(round(r)), int(round(c))])


@dataclass
class Scene:
    name: str
    title: str
    root: Path
    origin: tuple[float, float]
    assets: dict[str, list[Asset]]
    sensors: list[Sensor]
    incidents: list[Incident]
    buildings: list[dict[str, Any]]
    river: list[dict[str, Any]]
    terrain: Terrain | None
    config: dict[str, Any]
    title_zh: str = ""

    def asset(self, asset_id: str) -> Asset:
        for assets in self.assets.values():
            for asset in assets:
                if asset.id == asset_id:
                    return asset
        raise KeyError(asset_id)

    def counts(self) -> dict[str, dict[str, int]]:
        """Asset counts per domain and kind."""
        return {d: dict(sorted(Counter(a.kind for a in assets).items())) for d, assets in self.assets.items()}


def load_scene(path: str | Path, domains: dict[str, Domain], generate: Any = None) -> Scene:
    """Load and validate the scene at ``path`` (a folder or its ``scene.toml``).

    ``generate(root, params)`` is called for a scene with a ``[generated]`` table; it
    (re)makes the data files when they are missing or were made by other generators.
    """
    root = Path(path)
    toml_path = root / "scene.toml" if root.is_dir() else root
    root = toml_path.parent
    if not toml_path.exists():
        raise SceneError([f"{toml_path}: no such file (a scene is a folder with a scene.toml)"])
    try:
        config = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SceneError([f"{toml_path}: not valid TOML: {exc}"]) from None

    problems: list[str] = []
    head = config.get("scene")
    if not isinstance(head, dict) or not isinstance(head.get("name"), str):
        raise SceneError([f"{toml_path}: [scene] needs name = \"...\" (a string)"])
    if "generated" in config and generate is not None:
        generate(root, config["generated"])

    origin = head.get("origin", [0.0, 0.0])
    if not (isinstance(origin, list) and len(origin) == 2 and all(isinstance(v, (int, float)) for v in origin)):
        problems.append(f"{toml_path}: [scene] origin = {origin!r}; expected [longitude, latitude] in degrees")
        origin = [0.0, 0.0]

    layers = config.get("layers", {})
    buildings = _read_buildings(root, layers.get("buildings"), problems)
    river = _read_features(root, layers.get("river"), problems) if layers.get("river") else []
    terrain = _read_terrain(root / layers["terrain"], problems) if layers.get("terrain") else None

    assets: dict[str, list[Asset]] = {name: [] for name in domains}
    seen: dict[str, str] = {}
    for number, entry in enumerate(config.get("assets", []), start=1):
        where = f"{toml_path}: [[assets]] #{number}"
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) or not isinstance(entry.get("domain"), str):
            problems.append(f"{where}: needs domain = \"...\" and file = \"...\"")
            continue
        domain = domains.get(entry["domain"])
        if domain is None:
            known = ", ".join(sorted(domains)) or "none"
            problems.append(f"{where}: domain {entry['domain']!r} is not declared by any active plugin (known: {known})")
            continue
        for asset in _read_assets(root / entry["file"], domain, seen, problems):
            assets[domain.name].append(asset)

    all_ids = set(seen)
    for domain_assets in assets.values():
        for asset in domain_assets:
            for link in asset.links:
                if link not in all_ids:
                    problems.append(f"{seen[asset.id]}: asset {asset.id!r}: link {link!r} names no asset of the scene")

    # Sensors and incidents on assets already reported as broken would only repeat the
    # cause; they are checked only when every asset file was read.
    complete = not problems
    sensors = _read_sensors(root, config.get("sensors", {}), assets, domains, problems if complete else [])
    incidents = _read_incidents(toml_path, config.get("incidents", []), all_ids, problems if complete else [])
    if problems:
        raise SceneError(problems)
    return Scene(
        name=head["name"],
        title=str(head.get("title", head["name"])),
        title_zh=str(head.get("title_zh", "")),
        root=root,
        origin=(float(origin[0]), float(origin[1])),
        assets=assets,
        sensors=sensors,
        incidents=incidents,
        buildings=buildings,
        river=river,
        terrain=terrain,
        config=config,
    )


def _load_geojson(path: Path, problems: list[str]) -> list[dict[str, Any]] | None:
    if not path.exists():
        problems.append(f"{path}: no such file")
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        problems.append(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}")
        return None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        problems.append(f"{path}: expected a GeoJSON FeatureCollection with a list of features")
        return None
    return doc["features"]


def _check_geometry(geometry: Any, expected: str) -> str | None:
    """Return what is wrong with ``geometry`` for the ``expected`` type, or None."""
    if not isinstance(geometry, dict) or geometry.get("type") != expected:
        got = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
        return f"geometry is {got!r}; expected a GeoJSON {expected}"
    coords = geometry.get("coordinates")
    if expected == "Point":
        points = [coords]
    elif expected == "LineString":
        points = coords if isinstance(coords, list) else None
        if not points or len(points) < 2:
            return "a LineString needs at least two positions"
    else:
        points = coords[0] if isinstance(coords, list) and coords and isinstance(coords[0], list) else None
        if not points or len(points) < 4:
            return "a Polygon needs a ring of at least four positions"
    for p in points:
        if not (isinstance(p, list) and 2 <= len(p) <= 3 and all(isinstance(v, (int, float)) and math.isfinite(v) for v in p)):
            return f"position {p!r} is not [x, y] or [x, y, z] in metres"
    return None


def _read_buildings(root: Path, rel: str | None, problems: list[str]) -> list[dict[str, Any]]:
    if not rel:
        return []
    path = root / rel
    features = _load_geojson(path, problems) or []
    for number, feature in enumerate(features):
        props = feature.get("properties") or {}
        wrong = _check_geometry(feature.get("geometry"), "Polygon")
        if wrong:
            problems.append(f"{path}: feature {number}: {wrong}")
        height = props.get("height")
        if not isinstance(height, (int, float)) or not 0 < height <= 700:
            problems.append(f"{path}: feature {number}: height = {height!r}; expected metres in (0, 700]")
    return features


def _read_features(root: Path, rel: str, problems: list[str]) -> list[dict[str, Any]]:
    return _load_geojson(root / rel, problems) or []


def _read_terrain(path: Path, problems: list[str]) -> Terrain | None:
    """ESRI ASCII grid: six header lines, then rows from north to south."""
    if not path.exists():
        problems.append(f"{path}: no such file")
        return None
    lines = path.read_text(encoding="ascii").splitlines()
    header: dict[str, float] = {}
    for number, line in enumerate(lines[:6], start=1):
        parts = line.split()
        if len(parts) != 2:
            problems.append(f"{path}: line {number}: expected a header 'key value' (ncols, nrows, xllcorner, yllcorner, cellsize, nodata_value)")
            return None
        try:
            header[parts[0].lower()] = float(parts[1])
        except ValueError:
            problems.append(f"{path}: line {number}: {parts[1]!r} is not a number")
            return None
    for key in ("ncols", "nrows", "xllcorner", "yllcorner", "cellsize"):
        if key not in header:
            problems.append(f"{path}: header lacks {key}")
            return None
    try:
        heights = np.loadtxt(lines[6:], dtype=np.float64, ndmin=2)
    except ValueError as exc:
        problems.append(f"{path}: grid rows: {exc}")
        return None
    if heights.shape != (int(header["nrows"]), int(header["ncols"])):
        problems.append(f"{path}: grid is {heights.shape[0]}x{heights.shape[1]}; the header says {int(header['nrows'])}x{int(header['ncols'])}")
        return None
    return Terrain(header["xllcorner"], header["yllcorner"], header["cellsize"], heights)


def _read_assets(path: Path, domain: Domain, seen: dict[str, str], problems: list[str]) -> list[Asset]:
    features = _load_geojson(path, problems)
    if features is None:
        return []
    kinds = {k.name: k for k in domain.kinds}
    attributes = [f for f in domain.fields if f.attribute]
    out: list[Asset] = []
    for number, feature in enumerate(features):
        props = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(props, dict):
            problems.append(f"{path}: feature {number}: has no properties object")
            continue
        asset_id = props.get("id")
        where = f"{path}: feature {number} (id {asset_id!r})"
        if not isinstance(asset_id, str) or not asset_id:
            problems.append(f"{path}: feature {number}: property 'id' must be a non-empty string")
            continue
        if asset_id in seen:
            problems.append(f"{where}: id is used twice; first at {seen[asset_id]}")
            continue
        seen[asset_id] = f"{path}: feature {number}"
        kind = kinds.get(props.get("kind"))  # type: ignore[arg-type]
        if kind is None:
            problems.append(f"{where}: kind {props.get('kind')!r} is not a kind of domain {domain.name!r}; valid: {', '.join(kinds)}")
            continue
        wrong = _check_geometry(feature.get("geometry"), kind.geometry)
        if wrong:
            problems.append(f"{where}: {wrong}")
            continue
        owner = props.get("owner")
        if not isinstance(owner, str) or not owner:
            problems.append(f"{where}: property 'owner' (the unit dispatched when it alarms) must be a non-empty string")
            continue
        links = props.get("links", [])
        if not (isinstance(links, list) and all(isinstance(x, str) for x in links)):
            problems.append(f"{where}: property 'links' must be a list of asset ids")
            continue
        attrs: dict[str, Any] = {k: v for k, v in props.items() if k not in _ASSET_KEYS}
        bad = False
        for spec in attributes:
            value = attrs.get(spec.name)
            if value is None:
                if spec.required(kind.name):
                    problems.append(f"{where}: attribute {spec.name!r} ({spec.unit}, {spec.description}) is required for kind {kind.name!r}")
                    bad = True
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                problems.append(f"{where}: attribute {spec.name!r} = {value!r} is not a number; expected {spec.unit} in [{spec.valid[0]}, {spec.valid[1]}]")
                bad = True
            elif not spec.valid[0] <= value <= spec.valid[1]:
                problems.append(f"{where}: attribute {spec.name!r} = {value} {spec.unit} is out of range; valid is [{spec.valid[0]}, {spec.valid[1]}] {spec.unit}")
                bad = True
        if bad:
            continue
        out.append(Asset(asset_id, domain.name, kind.name, owner, feature["geometry"], attrs, tuple(links)))
    return out


def _read_sensors(
    root: Path, section: dict[str, Any], assets: dict[str, list[Asset]], domains: dict[str, Domain], problems: list[str]
) -> list[Sensor]:
    rel = section.get("file")
    if not rel:
        return []
    path = root / rel
    if not path.exists():
        problems.append(f"{path}: no such file")
        return []
    by_id = {a.id: a for domain_assets in assets.values() for a in domain_assets}
    sensors: list[Sensor] = []
    ids: set[str] = set()
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"id", "asset", "field"} - set(reader.fieldnames or [])
        if missing:
            problems.append(f"{path}: line 1: header lacks {', '.join(sorted(missing))}; expected id,asset,field[,noise,stale_after]")
            return []
        for row in reader:
            line = reader.line_num
            where = f"{path}: line {line}"
            sensor_id, asset_id, field_name = row.get("id") or "", row.get("asset") or "", row.get("field") or ""
            if not sensor_id or sensor_id in ids:
                problems.append(f"{where}: sensor id {sensor_id!r} is empty or used twice")
                continue
            ids.add(sensor_id)
            asset = by_id.get(asset_id)
            if asset is None:
                problems.append(f"{where}: sensor {sensor_id!r}: asset {asset_id!r} is not in the scene")
                continue
            domain = domains[asset.domain]
            live = [f.name for f in domain.fields if not f.attribute]
            if field_name not in live:
                problems.append(f"{where}: sensor {sensor_id!r}: field {field_name!r} is not a live field of domain {asset.domain!r}; valid: {', '.join(live)}")
                continue
            try:
                noise = float(row.get("noise") or 0.0)
                stale_after = float(row.get("stale_after") or 30.0)
            except ValueError:
                problems.append(f"{where}: sensor {sensor_id!r}: noise and stale_after must be numbers")
                continue
            if noise < 0 or stale_after <= 0:
                problems.append(f"{where}: sensor {sensor_id!r}: noise must be >= 0 and stale_after > 0 seconds")
                continue
            sensors.append(Sensor(sensor_id, asset_id, field_name, noise, stale_after))
    return sensors


def _read_incidents(toml_path: Path, entries: list[Any], ids: set[str], problems: list[str]) -> list[Incident]:
    incidents = []
    for number, entry in enumerate(entries, start=1):
        where = f"{toml_path}: [[incidents]] #{number}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a table with at, action, asset and params")
            continue
        at, action, asset = entry.get("at"), entry.get("action"), entry.get("asset")
        if not isinstance(at, (int, float)) or at < 0:
            problems.append(f"{where}: at = {at!r}; expected seconds of simulation time >= 0")
            continue
        if not isinstance(action, str) or "." not in action:
            problems.append(f"{where}: action = {action!r}; expected '<domain>.<verb>' such as 'gas.leak'")
            continue
        if asset not in ids:
            problems.append(f"{where}: asset {asset!r} is not in the scene")
            continue
        params = entry.get("params", {})
        incidents.append(Incident(float(at), action, str(asset), {k: float(v) for k, v in params.items()}))
    return incidents
