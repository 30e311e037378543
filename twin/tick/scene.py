"""Scenes: ``scene.toml`` plus data files in the formats utilities use.

A scene names the district, its base layers (building footprints with heights as
GeoJSON, terrain as an ESRI ASCII grid, named areas drawn on the ground as GeoJSON
polygons), the asset files of each
domain (GeoJSON features whose properties hold id, kind, owner, links and the
attributes the domain declares) and the sensors (CSV). :func:`load_scene` validates
all of it against the domains of the active plugins and reports every problem with
the file, the feature or line, the field and what would be valid.

Positions are metres in the scene's local frame (x east, y north of the origin), unless
the scene or a GeoJSON file names a CRS to convert them from (:mod:`twin.tick.coordinates`,
docs/scenes.md).
"""

from __future__ import annotations

import csv
import io
import json
import math
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twin.declared import check, check_tables
from twin.errors import SceneError
from twin.plugins.contributions import Domain
from twin.tick import coordinates
from twin.tick.scenefile import BASE_LAYERS, DEFAULT_START, AssetFile, Layers, SceneFile, SceneHead, Sensors, deprecated_areas
from twin.tick.scenefile import Incident as DeclaredIncident
from twin.tomlfile import TomlFile, read_text
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
class AreaLayer:
    """A ``[[layers.areas]]``: how it is drawn, and its polygon features in the scene's frame."""

    name: str
    title: str
    title_zh: str
    #: "#rrggbb"
    colour: str
    #: 0 (invisible) to 1
    opacity: float
    #: GeoJSON Features, each a Polygon or a MultiPolygon
    features: list[dict[str, Any]]


@dataclass
class Scene:
    """A loaded, validated scene: the district, its assets and its sensors."""

    #: ``[scene] name``
    name: str
    #: ``[scene] title``, in English
    title: str
    #: the folder of its ``scene.toml``
    root: Path
    #: (longitude, latitude) in degrees of the local (0, 0)
    origin: tuple[float, float]
    #: every installed domain's assets by domain name, in table row order (empty for a
    #: domain the scene does not list)
    assets: dict[str, list[Asset]]
    #: every sensor of the scene
    sensors: list[Sensor]
    incidents: list[Incident]
    buildings: list[dict[str, Any]]
    #: the areas drawn on the ground, in the order scene.toml declares them
    areas: list[AreaLayer]
    terrain: Terrain | None
    config: dict[str, Any]
    title_zh: str = ""
    #: the IANA time zone its local times are shown in (viewer, reports)
    timezone: str = "UTC"
    #: where a simulated clock starts unless a drill says otherwise, UTC epoch seconds
    #: (``[scene] start``, else :data:`~twin.tick.scenefile.DEFAULT_START`)
    start: float = DEFAULT_START.timestamp()

    def asset(self, asset_id: str) -> Asset:
        """The asset of that id, of any domain; KeyError if there is none."""
        for assets in self.assets.values():
            for asset in assets:
                if asset.id == asset_id:
                    return asset
        raise KeyError(asset_id)

    def counts(self) -> dict[str, dict[str, int]]:
        """Asset counts per domain and kind."""
        return {d: dict(sorted(Counter(a.kind for a in assets).items())) for d, assets in self.assets.items()}


def load_scene(path: str | Path, domains: dict[str, Domain], generate: Any = None, thresholds: type | None = None) -> Scene:
    """Load and validate the scene at ``path`` (a folder or its ``scene.toml``).

    Its TOML is checked against its declaration (:class:`twin.tick.scenefile.SceneFile`),
    and its ``[thresholds]`` against ``thresholds`` when given (the plugins'
    declaration: :func:`twin.tick.params.thresholds_type`). ``generate(root, params,
    domains)`` is called for a scene with a ``[generated]`` table, ``domains`` being
    those its ``[[assets]]`` list; it (re)makes the data files when they are missing or
    were made by other generators. An installed domain the scene does not list stays
    empty, whether or not a generator could place it.
    """
    root = Path(path)
    toml_path = root / "scene.toml" if root.is_dir() else root
    root = toml_path.parent
    if not toml_path.exists():
        raise SceneError([f"{toml_path}: no such file (a scene is a folder with a scene.toml)"])
    unreadable: list[str] = []
    text = read_text(toml_path, "a TOML file", unreadable)
    if text is None:
        raise SceneError(unreadable)
    try:
        toml = TomlFile.parse(toml_path, text)
    except tomllib.TOMLDecodeError as exc:
        raise SceneError([f"{toml_path}: not valid TOML: {exc}"]) from None
    config = toml.data

    problems: list[str] = []
    tables = check_tables(toml, SceneFile, problems)
    head: SceneHead | None = tables["scene"]
    if head is None:
        raise SceneError(problems)
    entries: list[AssetFile] = [e for e in tables["assets"] if e is not None]
    if "generated" in config and generate is not None:
        if tables["generated"] is None:
            raise SceneError(problems)  # nothing to generate the data files from
        generate(root, config["generated"], tuple(e.domain for e in entries))
    if thresholds is not None and "thresholds" in config:
        check(toml, thresholds, problems, keys=("thresholds",))

    # the frame knows an origin only when scene.toml gives one: the default (0, 0) is no
    # place to centre a projection on, nor evidence that positions are degrees
    frame = _Frame(toml_path, head.origin)
    if head.crs is not None:
        crs, wrong = coordinates.parse_crs(head.crs)
        where = toml.where(("scene", "crs"))
        if wrong:
            problems.append(f"{where} = {head.crs!r}: {wrong}")
            frame.broken = True
        elif frame.origin is None:
            problems.append(f"{where} = {head.crs!r} needs origin = [longitude, latitude] in [scene]: "
                            "the point in degrees that becomes the local (0, 0) the sources are converted to")
            frame.broken = True
        else:
            frame.crs, frame.crs_name = crs, head.crs

    layers: Layers = tables["layers"] or Layers()
    buildings = _read_buildings(root, layers.buildings, frame, problems)
    areas = _read_areas(toml, root, layers, set(domains), frame, problems)
    terrain = _read_terrain(root / layers.terrain, frame, problems) if layers.terrain else None

    assets: dict[str, list[Asset]] = {name: [] for name in domains}
    seen: dict[str, str] = {}
    for number, entry in enumerate(tables["assets"]):
        if entry is None:
            continue
        domain = domains.get(entry.domain)
        if domain is None:
            known = ", ".join(sorted(domains)) or "none"
            problems.append(f"{toml.where(('assets', number, 'domain'))}: domain {entry.domain!r} is not declared by any "
                            f"active plugin (known: {known})")
            continue
        for asset in _read_assets(root / entry.file, domain, seen, frame, problems):
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
    health = _sensor_health_settings(toml, tables["sensors"], domains, problems)
    sensors_file = tables["sensors"].file if tables["sensors"] is not None else None
    sensors = _read_sensors(root, {"file": sensors_file}, assets, domains, problems if complete else [], health)
    incidents = _read_incidents(toml, tables["incidents"], all_ids, problems if complete else [])
    if not _is_timezone(head.timezone):
        problems.append(f"{toml.where(('scene', 'timezone'))} = {head.timezone!r}; expected an IANA time zone name such as "
                        "\"Asia/Shanghai\" or \"UTC\"")
    if problems:
        raise SceneError(problems)
    return Scene(
        name=head.name,
        title=head.title or head.name,
        title_zh=head.title_zh,
        timezone=head.timezone,
        start=(head.start or DEFAULT_START).timestamp(),
        root=root,
        origin=head.origin or (0.0, 0.0),
        assets=assets,
        sensors=sensors,
        incidents=incidents,
        buildings=buildings,
        areas=areas,
        terrain=terrain,
        config=config,
    )


@dataclass
class _Frame:
    """How the scene's sources reach its local metric frame."""

    toml_path: Path
    origin: tuple[float, float] | None  # (longitude, latitude) when scene.toml gives it
    crs: Any = None  # the pyproj.CRS that [scene] crs names, if any
    crs_name: str = ""
    broken: bool = False  # [scene] crs was refused: the sources are not judged again
    _transforms: dict[str, tuple[coordinates.Transform, coordinates.Transform]] = field(default_factory=dict)

    def source(self, path: Path, own: str | None, problems: list[str]) -> tuple[Any, str] | None:
        """The CRS ``path`` is in, as ``(pyproj.CRS or None for metres, name)``; None
        with a problem when it is unusable or cannot be converted for want of an origin."""
        crs, name = self.crs, self.crs_name
        if own is not None:
            crs, wrong = coordinates.parse_crs(own)
            if wrong:
                problems.append(f"{path}: its 'crs' member names {own!r}: {wrong}")
                return None
            name = own
        if crs is not None and self.origin is None:
            problems.append(f"{path}: its positions are in {name}; converting them to metres needs "
                            f"origin = [longitude, latitude] in [scene] of {self.toml_path}")
            return None
        return crs, name

    def transforms(self, crs: Any, name: str) -> tuple[coordinates.Transform, coordinates.Transform]:
        if name not in self._transforms:
            assert self.origin is not None
            self._transforms[name] = coordinates.transforms(crs, self.origin)
        return self._transforms[name]

    def degrees_problem(self, path: Path, example: Any) -> str:
        return (f"{path}: positions such as {example!r} look like longitude and latitude in degrees, but the scene "
                f"is in metres; add crs = \"EPSG:4326\" (or the CRS they are in) to [scene] of {self.toml_path}")

    def place(self, path: Path, own: str | None, features: list[Any], problems: list[str]) -> bool:
        """Bring the features' positions into the frame in place: convert them from the
        file's CRS or the scene's, or, with neither, refuse what can only be degrees.
        False with a problem when the file cannot be placed."""
        if self.broken:
            return True
        source = self.source(path, own, problems)
        if source is None:
            return False
        crs, name = source
        points = coordinates.positions(features)
        if crs is None:
            xs = np.array([p[0] for p in points], dtype=np.float64)
            ys = np.array([p[1] for p in points], dtype=np.float64)
            if coordinates.looks_like_degrees(xs, ys, self.origin):
                problems.append(self.degrees_problem(path, points[0]))
                return False
            return True
        wrong = coordinates.convert_positions(points, self.transforms(crs, name)[0])
        if wrong:
            problems.append(f"{path}: converting from {name}: {wrong}")
            return False
        return True


def _is_timezone(name: Any) -> bool:
    """True for a time zone name zoneinfo knows (from the system's tz database or tzdata)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(name, str) or not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder such as "Asia"
        return False
    return True


def _load_geojson(path: Path, frame: _Frame, problems: list[str]) -> list[dict[str, Any]] | None:
    text = read_text(path, "a GeoJSON file", problems)
    if text is None:
        return None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.append(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}")
        return None
    except RecursionError:
        problems.append(f"{path}: JSON nested too deeply; expected a GeoJSON FeatureCollection")
        return None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        problems.append(f"{path}: expected a GeoJSON FeatureCollection with a list of features")
        return None
    own, wrong = coordinates.geojson_crs(doc)
    if wrong:
        problems.append(f"{path}: {wrong}")
        return None
    if not frame.place(path, own, doc["features"], problems):
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


def _read_buildings(root: Path, rel: str | None, frame: _Frame, problems: list[str]) -> list[dict[str, Any]]:
    if not rel:
        return []
    path = root / rel
    features = _load_geojson(path, frame, problems) or []
    for number, feature in enumerate(features):
        if not isinstance(feature, dict):
            problems.append(f"{path}: feature {number}: expected a GeoJSON Feature object")
            continue
        props = feature.get("properties") or {}
        wrong = _check_geometry(feature.get("geometry"), "Polygon")
        if wrong:
            problems.append(f"{path}: feature {number}: {wrong}")
        height = props.get("height")
        if not isinstance(height, (int, float)) or not 0 < height <= 700:
            problems.append(f"{path}: feature {number}: height = {height!r}; expected metres in (0, 700]")
    return features


def _read_areas(toml: TomlFile, root: Path, layers: Layers, domains: set[str], frame: _Frame,
                problems: list[str]) -> list[AreaLayer]:
    """The ``[[layers.areas]]``, and those deprecated keys stand for (with a warning naming
    their line). A name may be neither a base layer's, nor a domain's, nor another
    area's: each is a layer of the viewer."""
    declared = [(a, toml.where(("layers", "areas", n, "name"))) for n, a in enumerate(layers.areas)]
    declared += deprecated_areas(layers, toml.where)
    seen: dict[str, str] = {}
    out: list[AreaLayer] = []
    for area, where in declared:
        taken = "a base layer" if area.name in BASE_LAYERS else "a domain" if area.name in domains else seen.get(area.name)
        if taken:
            problems.append(f"{where} = {area.name!r}: the name of {taken}; each area needs a layer name of its own "
                            f"(not {', '.join(BASE_LAYERS)}, a domain's or another area's)")
            continue
        seen[area.name] = f"the area at {where}"
        title = area.title or area.name
        out.append(AreaLayer(area.name, title, area.title_zh or title, area.colour, area.opacity,
                             _read_polygons(root / area.file, frame, problems)))
    return out


def _read_polygons(path: Path, frame: _Frame, problems: list[str]) -> list[dict[str, Any]]:
    """The features of a GeoJSON file of Polygons and MultiPolygons (an area's)."""
    features = _load_geojson(path, frame, problems) or []
    for number, feature in enumerate(features):
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        if isinstance(geometry, dict) and geometry.get("type") == "MultiPolygon":
            parts = geometry.get("coordinates")
            wrong = next((w for w in (_check_geometry({"type": "Polygon", "coordinates": p}, "Polygon")
                                      for p in (parts if isinstance(parts, list) else [None])) if w), None)
            wrong = wrong or (None if parts else "a MultiPolygon needs at least one polygon")
        else:
            wrong = _check_geometry(geometry, "Polygon")
            wrong = wrong and wrong.replace("a GeoJSON Polygon", "a GeoJSON Polygon or MultiPolygon")
        if wrong:
            problems.append(f"{path}: feature {number}: {wrong}")
    return features


def _read_terrain(path: Path, frame: _Frame, problems: list[str]) -> Terrain | None:
    """ESRI ASCII grid: six header lines, then rows from north to south; in the scene's
    CRS when it names one (an .asc names none), resampled into the local frame."""
    text = read_text(path, "an ESRI ASCII grid file", problems)
    if text is None:
        return None
    lines = text.splitlines()
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
    if not (math.isfinite(header["cellsize"]) and header["cellsize"] > 0):
        problems.append(f"{path}: cellsize {header['cellsize']}; expected a positive size")
        return None
    try:
        heights = np.loadtxt(lines[6:], dtype=np.float64, ndmin=2)
    except ValueError as exc:
        problems.append(f"{path}: grid rows: {exc}")
        return None
    if heights.shape != (int(header["nrows"]), int(header["ncols"])):
        problems.append(f"{path}: grid is {heights.shape[0]}x{heights.shape[1]}; the header says {int(header['nrows'])}x{int(header['ncols'])}")
        return None
    x0, y0, cell = header["xllcorner"], header["yllcorner"], header["cellsize"]
    if frame.broken:
        return Terrain(x0, y0, cell, heights)
    source = frame.source(path, None, problems)
    if source is None:
        return None
    crs, name = source
    if crs is None:
        rows, cols = heights.shape
        xs, ys = np.array([x0, x0 + (cols - 1) * cell]), np.array([y0, y0 + (rows - 1) * cell])
        if coordinates.looks_like_degrees(xs, ys, frame.origin):
            problems.append(frame.degrees_problem(path, [x0, y0]))
            return None
        return Terrain(x0, y0, cell, heights)
    placed = coordinates.resample_grid(x0, y0, cell, heights, *frame.transforms(crs, name))
    if isinstance(placed, str):
        problems.append(f"{path}: converting from {name}: {placed}")
        return None
    return Terrain(*placed)


def _read_assets(path: Path, domain: Domain, seen: dict[str, str], frame: _Frame, problems: list[str]) -> list[Asset]:
    features = _load_geojson(path, frame, problems)
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
    root: Path, section: dict[str, Any], assets: dict[str, list[Asset]], domains: dict[str, Domain], problems: list[str],
    health: dict[str, dict[str, float]] | None = None,
) -> list[Sensor]:
    """The sensors of the CSV file; a row's empty or absent ``stale_after`` (its expected
    interval) and ``stuck_after`` come from its kind's settings in ``health``
    (:func:`_sensor_health_settings`)."""
    health = health or {"": {"interval": Sensor.stale_after, "stuck_after": Sensor.stuck_after}}
    rel = section.get("file")
    if not rel:
        return []
    path = root / rel
    text = read_text(path, "a CSV file", problems)
    if text is None:
        return []
    by_id = {a.id: a for domain_assets in assets.values() for a in domain_assets}
    sensors: list[Sensor] = []
    ids: set[str] = set()
    with io.StringIO(text, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"id", "asset", "field"} - set(reader.fieldnames or [])
        if missing:
            problems.append(f"{path}: line 1: header lacks {', '.join(sorted(missing))}; expected id,asset,field[,noise,stale_after,stuck_after]")
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
            kind = health.get(f"{asset.domain}.{field_name}", health[""])
            try:
                noise = float(row.get("noise") or 0.0)
                stale_after = float(row.get("stale_after") or kind["interval"])
                stuck_after = float(row.get("stuck_after") or kind["stuck_after"])
            except ValueError:
                problems.append(f"{where}: sensor {sensor_id!r}: noise, stale_after and stuck_after must be numbers")
                continue
            if not (noise >= 0 and stale_after > 0 and stuck_after >= 0) or math.isinf(stale_after):
                problems.append(f"{where}: sensor {sensor_id!r}: noise must be >= 0, stale_after a finite number of seconds > 0 "
                                "and stuck_after seconds >= 0 (0: never judged stuck)")
                continue
            sensors.append(Sensor(sensor_id, asset_id, field_name, noise, stale_after, stuck_after))
    return sensors


def _sensor_health_settings(
    toml: TomlFile, section: Sensors | None, domains: dict[str, Domain], problems: list[str]
) -> dict[str, dict[str, float]]:
    """Each sensor kind's expected ``interval`` and ``stuck_after`` window (seconds), by
    kind ``"<domain>.<field>"`` (what the sensor measures), and under ``""`` the defaults:
    from ``[sensors] interval, stuck_after`` and ``[sensors.kinds."<domain>.<field>"]``
    (checked by their declaration), else :class:`~twin.types.Sensor`'s. A kind that
    names no live field of an installed domain is a problem with its line."""
    defaults = {"interval": float(Sensor.stale_after), "stuck_after": float(Sensor.stuck_after)}
    raw = toml.data.get("sensors")
    kinds = raw.get("kinds") if isinstance(raw, dict) else None
    # the kinds' names are judged even when a value of [sensors] is wrong: one reading of
    # the file names every problem
    for kind in kinds if isinstance(kinds, dict) else {}:
        domain_name, _, field_name = kind.partition(".")
        domain = domains.get(domain_name)
        where = toml.where(("sensors", "kinds", kind))
        if domain is None:
            problems.append(f"{where}: a sensor kind is \"<domain>.<field>\"; no domain {domain_name!r} "
                            f"(known: {', '.join(sorted(domains)) or 'none'})")
            continue
        live = [f.name for f in domain.fields if not f.attribute]
        if field_name not in live:
            problems.append(f"{where}: {field_name!r} is not a live field of domain {domain_name!r}; valid: {', '.join(live)}")
    if section is None:
        return {"": defaults}
    if section.interval is not None:
        defaults["interval"] = section.interval
    if section.stuck_after is not None:
        defaults["stuck_after"] = section.stuck_after
    out = {"": defaults}
    for kind, entry in section.kinds.items():
        out[kind] = dict(defaults)
        if entry.interval is not None:
            out[kind]["interval"] = entry.interval
        if entry.stuck_after is not None:
            out[kind]["stuck_after"] = entry.stuck_after
    return out


def _read_incidents(toml: TomlFile, entries: list[DeclaredIncident | None], ids: set[str], problems: list[str]) -> list[Incident]:
    """The background incidents (each already checked by its declaration; None for a
    wrong one), refusing one on an asset the scene does not have."""
    incidents = []
    for number, entry in enumerate(entries):
        if entry is None:
            continue
        if entry.asset not in ids:
            problems.append(f"{toml.where(('incidents', number, 'asset'))}: asset {entry.asset!r} is not in the scene")
            continue
        incidents.append(Incident(entry.at, entry.action, entry.asset, dict(entry.params)))
    return incidents
