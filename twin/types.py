"""The few types that cross every boundary of the twin.

Everything here is plain data: no behaviour, no imports of the rest of the core.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: A stable asset id as written in the scene, e.g. ``"G-0012"``.
AssetId = str

#: Warning levels of the urban lifeline programmes: 0 none, then blue IV to red I.
LEVEL_NONE, LEVEL_BLUE, LEVEL_YELLOW, LEVEL_ORANGE, LEVEL_RED = 0, 1, 2, 3, 4

LEVEL_NAMES = {
    "en": ("normal", "blue (IV)", "yellow (III)", "orange (II)", "red (I)"),
    "zh-CN": ("正常", "蓝色预警", "黄色预警", "橙色预警", "红色预警"),
}

#: Risk score at which each level starts (MODELS.md, "One risk convention").
LEVEL_RISK_THRESHOLDS = (0.25, 0.50, 0.75, 0.90)


@dataclass(frozen=True)
class Asset:
    """One asset of the scene: its identity, place and static attributes."""

    #: unique across every domain of the scene (``G-M-0028``)
    id: AssetId
    #: the domain whose table holds its row
    domain: str
    #: one of its domain's asset kinds (``main``, ``manhole``)
    kind: str
    #: the unit dispatched when it alarms (权属单位)
    owner: str
    #: its GeoJSON geometry, positions in metres of the local frame (x east, y north, z up)
    geometry: dict[str, Any]
    #: its static attributes as the scene gives them (the domain's attribute fields and
    #: any other property of the feature)
    attributes: dict[str, Any] = field(default_factory=dict)
    #: ids of assets this one connects to or lies beside (any domain)
    links: tuple[AssetId, ...] = ()


#: A healthy device reports this many times within its sensor's expected interval
#: (:attr:`Sensor.stale_after`), so that one report lost or late does not make it
#: offline: a generated city gives each sensor the interval of this many of its kind's
#: reporting periods (declared by the plugin's generator), and the device fleet
#: (``twin devices run``) reports each sensor once per interval / REPORTS_PER_INTERVAL.
REPORTS_PER_INTERVAL = 3


@dataclass(frozen=True)
class Sensor:
    """A sensor feeds one field of one asset."""

    #: unique in the scene, as its readings name it
    id: str
    #: the asset it measures
    asset: AssetId
    #: the live field of the asset's domain it feeds
    field: str
    #: standard deviation of its measurement noise, in the field's unit: the simulator
    #: adds it; sensor health calls readings flatter than it stuck
    noise: float = 0.0
    #: its expected interval: seconds without a good reading before its value is stale
    #: and the sensor offline (twin.tick.sensor_health)
    stale_after: float = 30.0
    #: seconds of readings flat within a tenth of its noise before the sensor is suspect
    #: (stuck); 0: never judged (a sensor without noise, such as a valve's position, is not)
    stuck_after: float = 300.0


@dataclass(frozen=True)
class Reading:
    """One measurement as it arrives from any source."""

    sensor: str
    time: float
    value: float
    quality: int = 0  # 0 good; anything else is the source's own bad-quality code


#: the core's own live field, which every domain with sensors carries in snapshots and
#: deltas besides the fields its Hello lists (no plugin declares it): a bool column
#: (``|u1``), 1 where some measured field of the asset is fed only by sensors without a
#: reading within their interval (offline, or not heard from yet), so that the row shows
#: last known or modelled values, not measured ones (twin.tick.sensor_health)
STALE_ROWS_FIELD = "stale"
