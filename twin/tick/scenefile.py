"""The ``scene.toml`` format, declared once.

:func:`twin.tick.scene.load_scene` checks a scene's TOML against :class:`SceneFile`
(every key, type and range, with file and line: :mod:`twin.declared`), then what only
the rest of the scene can tell (an asset file's features, a sensor's asset and field,
a CRS that PROJ knows). ``docs/scenes.md``'s key reference is generated from here
(:func:`reference`), and ``tests/test_docs.py`` keeps the two in step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Annotated, Literal

from msgspec import Meta, Struct

from twin.declared import meanings
from twin.declared import reference as table_reference
from twin.tick.config import AlarmsTable, EngineTable, Owned, Thresholds

log = logging.getLogger("twin.tick.scene")

#: the first instant of a simulated clock whose drill and scene give no ``start``
DEFAULT_START = datetime(2026, 1, 1, tzinfo=timezone.utc)

#: an instant with its offset from UTC (TOML's offset date-time)
Instant = Annotated[datetime, Meta(tz=True, extra={
    "expected": "a date and time with its offset from UTC (TOML's offset date-time), such as 2026-07-15T14:00:00+08:00"})]
#: a relative path to a data file
DataFile = Annotated[str, Meta(min_length=1, extra={"expected": 'a path relative to scene.toml, such as "data/gas.geojson"'})]
Name = Annotated[str, Meta(min_length=1)]
Longitude = Annotated[float, Meta(ge=-180, le=180)]
Latitude = Annotated[float, Meta(ge=-90, le=90)]
Seconds = Annotated[float, Meta(ge=0)]


class SceneHead(Struct, forbid_unknown_fields=True, kw_only=True):
    """``[scene]``: the district."""

    #: the scene's short name: recordings and reports name it, and so do MQTT topics
    #: unless `district` is given
    name: Name
    #: its title in English (default: `name`)
    title: str = ""
    #: its title in Chinese
    title_zh: str = ""
    #: where the local (0, 0) lies, in degrees (WGS 84); needed to convert a `crs`
    origin: Annotated[tuple[Longitude, Latitude], Meta(extra={
        "expected": "[longitude, latitude] in degrees: longitude in [-180, 180], latitude in [-90, 90]"})] | None = None
    #: the unit of the local frame: metres only (other units are converted by naming a `crs`)
    units: Annotated[str, Meta(pattern=r"(?i)^\s*(m|metre|metres|meter|meters)\s*$", extra={
        "expected": "metres, spelt 'm', 'metre', 'metres', 'meter' or 'meters' (positions in another CRS or unit "
                    "are converted when [scene] crs names it)"})] = "m"
    #: the CRS the data files' positions are in, as PROJ names it ("EPSG:4326"); none: local metres
    crs: Name | None = None
    #: the IANA time zone local times are shown in (viewer, reports)
    timezone: Annotated[str, Meta(min_length=1, extra={
        "expected": 'an IANA time zone name such as "Asia/Shanghai" or "UTC"'})] = "UTC"
    #: the first instant of a simulated clock (drills, `--fast`) unless a drill gives its own
    #: (none: 2026-01-01T00:00:00Z); a live twin's clock is the wall's
    start: Instant | None = None
    #: the district of its MQTT topics `city/<district>/...` (none: `name`)
    district: Name | None = None


class Generated(Struct, forbid_unknown_fields=True, kw_only=True):
    """``[generated]``: a city planned by the core and every installed plugin's generator;
    the data files are (re)made when missing or made from other parameters."""

    #: the planner's and generators' seed: the same seed, the same district
    seed: int = 0
    #: blocks east and north
    blocks: tuple[Annotated[int, Meta(ge=1, le=500)], Annotated[int, Meta(ge=1, le=500)]] = (8, 7)
    #: "demo" places the demo's incidents' assets where its drills expect them
    preset: Literal["synthetic", "demo"] = "synthetic"


#: names the core's own base layers take
BASE_LAYERS = ("terrain", "buildings")

#: a layer's name: it stands in /api/layers/<name>.glb and the viewer's ?layers=
LayerName = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64, extra={
    "expected": 'a name of lower-case letters, digits, "_" and "-", such as "lake" or "north-park"'})]
#: a colour in hex, as CSS writes it
Colour = Annotated[str, Meta(pattern=r"^#[0-9A-Fa-f]{6}$", extra={"expected": 'a colour "#rrggbb", such as "#1d5b8f"'})]


class Area(Struct, forbid_unknown_fields=True, kw_only=True):
    """``[[layers.areas]]``: a named area drawn flat on the ground, draped over the terrain
    (water, a park, a site): a base layer of its own in the viewer and the reports."""

    #: the layer's name; not `terrain`, `buildings`, a domain's or another area's
    name: LayerName
    #: its title in English (default: `name`)
    title: str = ""
    #: its title in Chinese (default: `title`)
    title_zh: str = ""
    #: its shapes, as GeoJSON Polygon or MultiPolygon features (holes are not cut)
    file: DataFile
    #: its colour
    colour: Colour = "#6f8f72"
    #: how opaque it is drawn, 0 (invisible) to 1
    opacity: Annotated[float, Meta(ge=0, le=1)] = 0.85


class Layers(Struct, forbid_unknown_fields=True, kw_only=True):
    """``[layers]``: the base layers drawn under the assets."""

    #: building footprints with a `height` (m) property, as GeoJSON Polygons
    buildings: DataFile | None = None
    #: the terrain, as an ESRI ASCII grid
    terrain: DataFile | None = None
    #: areas drawn on the ground, each a layer (`[[layers.areas]]` below)
    areas: list[Area] = []
    #: deprecated: the same as an area named "river" (a warning names the line to rewrite)
    river: DataFile | None = None


def deprecated_areas(layers: Layers, where: Callable[[tuple[str, ...]], str]) -> list[tuple[Area, str]]:
    """The areas that deprecated keys of ``[layers]`` stand for, each with ``where`` it is
    declared (``where(keys)`` names a key's file and line); each is logged as a warning
    naming its line and the ``[[layers.areas]]`` to write instead."""
    if not layers.river:
        return []
    at = where(("layers", "river"))
    log.warning(f'{at}: deprecated; write [[layers.areas]] name = "river" file = "{layers.river}" '
                "(with its title, colour and opacity) instead")
    return [(Area(name="river", title="River", title_zh="河流", file=layers.river, colour="#1d5b8f", opacity=0.85), at)]


class AssetFile(Struct, forbid_unknown_fields=True, kw_only=True):
    """``[[assets]]``: one domain's asset file."""

    #: the domain (an installed plugin declares it)
    domain: Name
    #: its GeoJSON file: one Feature per asset, with id, kind, owner, links and attributes
    file: DataFile


class SensorKind(Struct, forbid_unknown_fields=True, kw_only=True):
    """``[sensors.kinds."<domain>.<field>"]``: the health settings of the sensors that
    measure that field (a row's own `stale_after`/`stuck_after` win)."""

    #: seconds between readings; a sensor silent for longer is offline
    interval: Annotated[float, Meta(gt=0, extra={"expected": "seconds > 0"})] | None = None
    #: seconds of flat readings after which a sensor is suspect (stuck); 0: never
    stuck_after: Annotated[float, Meta(ge=0, extra={"expected": "seconds >= 0 (0: never judged stuck)"})] | None = None


class Sensors(Struct, forbid_unknown_fields=True, kw_only=True):
    """``[sensors]``: the sensors, and their health settings."""

    #: the CSV of the sensors: id,asset,field[,noise,stale_after,stuck_after]
    file: DataFile | None = None
    #: seconds between readings of every sensor, unless its kind or row says otherwise (none: 30)
    interval: Annotated[float, Meta(gt=0, extra={"expected": "seconds > 0"})] | None = None
    #: seconds of flat readings after which any sensor is suspect; 0: never (none: 300)
    stuck_after: Annotated[float, Meta(ge=0, extra={"expected": "seconds >= 0 (0: never judged stuck)"})] | None = None
    #: settings per kind of sensor, `"<domain>.<field>"` (what it measures)
    kinds: dict[str, SensorKind] = {}


class Incident(Struct, forbid_unknown_fields=True, kw_only=True):
    """``[[incidents]]``: a background incident, so that the district shows life."""

    #: seconds after the clock's start
    at: Seconds
    #: the plugin action, "<domain>.<verb>"
    action: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$", extra={
        "expected": '"<domain>.<verb>" such as "gas.leak"'})]
    #: the asset it acts on
    asset: Name
    #: the action's parameters by name
    params: dict[str, float] = {}


class SceneFile(Struct, forbid_unknown_fields=True, kw_only=True):
    """A ``scene.toml``."""

    #: the district: name, titles, frame, time zone, clock start
    scene: SceneHead
    #: a generated city's parameters
    generated: Generated | None = None
    #: base layers
    layers: Layers | None = None
    #: each domain's asset file
    assets: list[AssetFile] = []
    #: the sensors
    sensors: Sensors | None = None
    #: background incidents
    incidents: list[Incident] = []
    #: alarm handling (a `--config` file may refine it)
    alarms: AlarmsTable | None = None
    #: the engine's limits
    engine: EngineTable | None = None
    #: plugin parameters by kernel, updater or coupling name (docs/plugins.md lists them)
    thresholds: Thresholds = {}
    #: the history store's settings, checked by the store (docs/history.md)
    history: Owned = {}
    #: where the notification channels are configured (docs/notifications.md)
    notifications: Owned = {}
    #: escalation deadlines and chain, checked by the escalation (docs/notifications.md)
    escalation: Owned = {}
    #: overrides of the plugins' incident grouping rules (docs/incidents.md)
    incident_grouping: Owned = {}


#: the tables of the reference, in the order docs/scenes.md gives them
TABLES = (("[scene]", SceneHead), ("[generated]", Generated), ("[layers]", Layers), ("[[layers.areas]]", Area),
          ("[[assets]]", AssetFile),
          ("[sensors]", Sensors), ('[sensors.kinds."<domain>.<field>"]', SensorKind), ("[[incidents]]", Incident),
          ("[alarms]", AlarmsTable), ("[engine]", EngineTable))


def reference() -> str:
    """The Markdown of docs/scenes.md's key reference: a section per table, from the
    declarations above."""
    parts = []
    for title, struct in TABLES:
        doc = (struct.__doc__ or "").strip().split("\n\n")[0]
        said = " ".join(doc.split(":", 1)[1].split()) if ":" in doc else " ".join(doc.split())
        parts.append(f"### `{title}`\n\n{said[0].upper() + said[1:]}\n\n{table_reference(struct)}")
    parts.append('### `[thresholds."<name>"]`\n\nParameters of a kernel, updater or coupling by its name, each a number or '
                 "a list of numbers; the plugins declare which exist, with their units and defaults "
                 "(`twin plugins` lists them).\n")
    said = meanings(SceneFile)
    owned = [f"- `[{name}]`: {said[name]}" for name in ("history", "notifications", "escalation", "incident_grouping")]
    parts.append("### Tables other parts of the twin read\n\nEach is checked by the part that reads it when the twin "
                 "starts, which names a wrong key or value the same way:\n\n" + "\n".join(owned) + "\n")
    return "\n".join(parts)
