"""The district: ``GET /api/scene`` (domains, their fields, sensors and actions),
``GET /api/plugins`` and ``GET /api/assets/{id}`` (one asset, its live state and
sensors)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import msgspec
import numpy as np

from twin.plugins.actions import catalogue
from twin.plugins.contributions import ViewerStyle
from twin.serving.routing import ApiError, ApiFailure, ApiRoute, Call
from twin.serving.protocol import AlarmSummary, ApiErrorCode


class ActionParamInfo(msgspec.Struct):
    name: str
    unit: str
    description: str
    #: null: the parameter is required
    default: float | None
    #: the valid range [low, high]; null for an unbounded side
    valid: tuple[float | None, float | None]


class ActionInfo(msgspec.Struct):
    """One action a director (or a drill) may apply: ``POST /api/actions``."""

    name: str
    #: its domain, or ``sensor`` for the core's sensor faults
    domain: str
    plugin: str
    #: what ``target`` names: an asset or a sensor
    target: Literal["asset", "sensor"]
    #: the asset kinds it applies to
    kinds: list[str]
    description: str
    params: list[ActionParamInfo]


class SceneField(msgspec.Struct):
    name: str
    dtype: str
    unit: str
    #: the physical range [low, high]; null for an unbounded side
    valid: tuple[float | None, float | None]
    description: str
    #: true: a static attribute from the scene; false: a live field
    attribute: bool
    label_zh: str
    #: a kernel gives NaN or infinity on some rows: their last values are kept
    stale: bool


class SensorCounts(msgspec.Struct):
    sensors: int
    online: int
    offline: int
    suspect: int
    #: null before the first tick judged them
    online_share: float | None


class SceneDomain(msgspec.Struct):
    title: str
    title_zh: str
    assets: int
    #: asset count per kind
    kinds: dict[str, int]
    plugin: str
    #: null for a domain without sensors
    sensors: SensorCounts | None
    #: how the viewer draws it (its plugin's style, as the stream's Hello gives it); null: none declared
    style: ViewerStyle | None
    fields: list[SceneField]


class SceneInfo(msgspec.Struct):
    """The district: its domains with their fields and sensors' health, and every action."""

    name: str
    title: str
    title_zh: str
    #: the local frame's origin as the scene gives it
    origin: list[float]
    domains: dict[str, SceneDomain]
    sensors: int
    buildings: int
    time: float
    actions: list[ActionInfo]


class PluginStatus(msgspec.Struct):
    name: str
    version: str
    hooks: list[str]
    status: Literal["active", "quarantined"]
    #: why it is quarantined; empty when active
    reason: str


class PluginList(msgspec.Struct):
    plugins: list[PluginStatus]


class ActionList(msgspec.Struct):
    actions: list[ActionInfo]


class AssetSensor(msgspec.Struct):
    id: str
    #: the live field it feeds
    field: str
    #: no good reading within its interval: the field shows the last known value
    stale: bool
    last_value: float | None
    #: the time of its last good reading (null: none yet)
    last_time: float | None


class AssetInfo(msgspec.Struct):
    """One asset: its identity, static attributes, live state and sensors, and its open
    alarms (summaries), as of frame ``seq`` at ``time``."""

    id: str
    domain: str
    kind: str
    #: the unit dispatched when it alarms
    owner: str
    attributes: dict[str, Any]
    #: ids of the assets it connects to or lies beside
    links: list[str]
    #: GeoJSON geometry in metres of the local frame
    geometry: dict[str, Any]
    #: each live field's value (null where not a finite number)
    state: dict[str, float | int | bool | None]
    sensors: list[AssetSensor]
    time: float
    #: the frame whose state this is (the stream's ``seq``)
    seq: int
    alarms: list[AlarmSummary]


def json_value(value: Any) -> Any:
    """A numpy or Python scalar as JSON takes it; a float that is not finite is None."""
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


async def scene(call: Call) -> SceneInfo:
    """The district: domains, their fields and units, sensor health, and every action."""
    e = call.twin
    counts = e.scene.counts()
    health = e.sensor_health.by_domain()
    domains = {}
    for name, domain in e.registry.domains.items():
        style = e.registry.styles.get(name)
        sensors = health.get(name)
        domains[name] = SceneDomain(
            domain.title, domain.title_zh, len(e.world.tables[name]), counts.get(name, {}), e.registry.domain_owner[name],
            None if sensors is None else SensorCounts(**sensors),
            # a plain dict of labels: a plugin may give any mapping, JSON takes a dict
            None if style is None else dataclasses.replace(style, field_labels_zh=dict(style.field_labels_zh)),
            [SceneField(f.name, f.dtype, f.unit, (json_value(f.valid[0]), json_value(f.valid[1])), f.description,
                        f.attribute, f.label_zh, (name, f.name) in e.stale_fields) for f in domain.fields],
        )
    return SceneInfo(e.scene.name, e.scene.title, e.scene.title_zh, list(e.scene.origin), domains, len(e.scene.sensors),
                     len(e.scene.buildings), e.time, msgspec.convert(catalogue(e.registry), list[ActionInfo]))


async def plugins(call: Call) -> PluginList:
    """Every plugin: its version, hooks, and status (active or quarantined, with why)."""
    return PluginList([PluginStatus(p.name, p.version, p.hooks, p.status, p.reason)  # type: ignore[arg-type]
                       for p in call.twin.registry.plugins.values()])


async def asset(call: Call) -> AssetInfo:
    """One asset: attributes, live state, its sensors' last readings and its open alarms."""
    e = call.twin
    asset_id = call.request.path_params["asset_id"]
    try:
        table, row = e.world.locate(asset_id)
    except KeyError:
        raise ApiFailure(ApiErrorCode.NOT_FOUND, f"no asset {asset_id!r} in scene {e.scene.name!r}") from None
    found = e.scene.asset(asset_id)
    state = {name: json_value(table.columns[name][row]) for name in table.live_fields()}
    sensors = [
        AssetSensor(s.id, s.field, bool(e.ingest.stale[i]), json_value(e.ingest.last_value[i]), json_value(e.ingest.last_time[i]))
        for i, s in enumerate(e.scene.sensors) if s.asset == asset_id
    ]
    return AssetInfo(found.id, found.domain, found.kind, found.owner, found.attributes, list(found.links), found.geometry,
                     state, sensors, e.time, e.seq, [a.summary() for a in e.alarms.active() if a.asset == asset_id])


ROUTES = [
    ApiRoute("GET", "/api/scene", scene, tag="scene", answers={200: SceneInfo}),
    ApiRoute("GET", "/api/plugins", plugins, tag="scene", answers={200: PluginList}),
    ApiRoute("GET", "/api/assets/{asset_id:str}", asset, tag="scene", answers={200: AssetInfo, 404: ApiError}),
]
