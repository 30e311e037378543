"""Bridges: deck spans over the river and the piers that carry them.

Spans are simply supported beams loaded by traffic (light vehicles as a distributed
load, heavy vehicles crossing, a drill's overload parked at midspan); their strain,
deflection, first frequency and fatigue damage are watched against the codes' limits.
"""

from __future__ import annotations

from twin import (
    Action, ActionParam, AlarmRule, AssetGenerator, AssetKind, Domain, FieldSpec, IncidentGrouping, Kernel, Param, Updater,
    ViewerStyle, hookimpl,
)

from twin_bridges import __version__  # noqa: F401  (read by the plugin host)
from twin_bridges import model
from twin_bridges.generate import generate

PLUGIN_NAME = "bridge"
DOMAIN = "bridge"

SPAN = ("span",)
PIER = ("pier",)


def _attribute(name, dtype, unit, valid, description, kinds, label_zh, required=True):
    return FieldSpec(name, dtype, unit, valid, description, attribute=True, required_for=kinds if required else (),
                     label_zh=label_zh)


FIELDS = (
    # static attributes of a span
    _attribute("length", "float64", "m", (5.0, 300.0), "span length between bearings", SPAN, "跨径"),
    _attribute("elastic_modulus", "float64", "MPa", (1e3, 3e5), "elastic modulus E of the gauged material", SPAN, "弹性模量"),
    _attribute("moment_of_inertia", "float64", "m4", (1e-3, 100.0), "second moment of area I of the deck section (in E's units)", SPAN, "截面惯性矩"),
    _attribute("mass_per_length", "float64", "kg/m", (100.0, 2e5), "deck mass per metre, superimposed dead load included", SPAN, "延米质量"),
    _attribute("fibre_distance", "float64", "m", (0.05, 5.0), "distance from the neutral axis to the strain gauge (bottom flange)", SPAN, "测点至中性轴距离"),
    _attribute("lanes", "uint8", "1", (1, 8), "traffic lanes on the deck", SPAN, "车道数"),
    _attribute("design_frequency", "float64", "Hz", (0.1, 50.0), "first vertical frequency of the design calculation", SPAN, "设计基频"),
    _attribute("deflection_limit", "float64", "mm", (1.0, 1000.0), "live-load deflection limit L/600 (JTG 3362-2018)", SPAN, "挠度限值"),
    _attribute("design_live_strain", "float64", "µε", (1.0, 3000.0), "static strain at the gauge under the JTG D60-2015 lane load", SPAN, "设计活载应变"),
    _attribute("girders", "uint8", "1", (1, 20), "main girders sharing the deck section (I is theirs together)", SPAN, "主梁片数"),
    _attribute("near_lane_share", "float64", "1", (-1.0, 1.0), "share of a vehicle in the kerb lane above the fatigue detail that the detail's girder carries (lateral distribution factor, Courbon)", SPAN, "近侧车道横向分布系数"),
    _attribute("far_lane_share", "float64", "1", (-1.0, 1.0), "share of a vehicle in the opposite kerb lane that the detail's girder carries (negative: it lifts)", SPAN, "远侧车道横向分布系数"),
    _attribute("detail_category", "float64", "MPa", (36.0, 160.0), "fatigue detail category Δσc of the detail on the edge girder's bottom flange at midspan (EN 1993-1-9, JTG D64-2015)", SPAN, "疲劳细节类别"),
    _attribute("design_life", "float64", "a", (10.0, 200.0), "design service life", SPAN, "设计使用年限"),
    _attribute("service_age", "float64", "a", (0.0, 150.0), "years in service when monitoring started", SPAN, "已服役年限"),
    _attribute("initial_damage", "float64", "1", (0.0, 2.0), "Miner damage assessed when monitoring started", SPAN, "初始疲劳损伤"),
    # static attributes of a pier
    _attribute("settlement_limit", "float64", "mm", (1.0, 1000.0), "uniform settlement limit 2.0·sqrt(L) cm, L the adjacent span (>= 25 m) in m (JTG D63-2007)", PIER, "沉降限值"),
    _attribute("surveyed_settlement", "float64", "mm", (-100.0, 1000.0), "settlement at the last survey", PIER, "实测沉降"),
    _attribute("pier_height", "float64", "m", (0.5, 100.0), "pier height from the river bed to the bearings", PIER, "墩高", required=False),
    # live state
    # Resolutions (the smallest change that is news; see FieldSpec): two to three times the noise of the sensors that feed a
    # field (generate.py), so that noise is neither streamed nor recorded; the simulated traffic's to half a tonne.
    FieldSpec("traffic_load", "float64", "kN/m", (0.0, 500.0), "light traffic on the span as a distributed load", label_zh="交通均布荷载", resolution=0.5),
    FieldSpec("truck_load", "float64", "t", (0.0, 1000.0), "gross weight of the heavy vehicle crossing the span", label_zh="重车总重", resolution=0.5),
    FieldSpec("truck_position", "float64", "m", (0.0, 300.0), "position of the crossing heavy vehicle from the span's start", label_zh="重车位置", resolution=1.0),
    FieldSpec("truck_speed", "float64", "m/s", (0.0, 40.0), "speed of the crossing heavy vehicle", label_zh="重车车速", resolution=0.1),
    FieldSpec("truck_lane", "uint8", "1", (0, 2), "kerb lane of the crossing heavy vehicle: 1 on the fatigue detail's side, 2 opposite, 0 none", label_zh="重车车道", resolution=0.0),
    FieldSpec("overload", "float64", "t", (0.0, 1000.0), "overweight vehicle standing at midspan in the kerb lane on the fatigue detail's side (drill)", label_zh="超载车辆", resolution=0.5),
    FieldSpec("overload_until", "float64", "s", (0.0, 1e12), "clock time the overload leaves the span", label_zh="超载结束时刻", resolution=1.0),
    FieldSpec("stiffness_factor", "float64", "1", (0.0, 2.0), "flexural stiffness relative to intact (damage lowers it)", default=1.0, label_zh="刚度系数", resolution=0.001),
    # weigh-in-motion reads to a few per cent: 2 t (noise 1 t)
    FieldSpec("vehicle_load", "float32", "t", (0.0, 1000.0), "heaviest vehicle on the span (weigh-in-motion)", label_zh="车辆荷载", resolution=2.0, historical=True, precision=0.1),
    # strain gauges' noise is 2 µε: 5 µε is news; on steel (E = 206 GPa) that is 1 MPa of stress
    FieldSpec("strain", "float64", "µε", (-3000.0, 3000.0), "live-load strain at midspan, bottom flange (the girders' mean: the deck's bending)", label_zh="应变", resolution=5.0, historical=True, precision=1.0),
    FieldSpec("stress", "float64", "MPa", (-600.0, 600.0), "live-load stress σ = E·ε at the gauge", label_zh="应力", resolution=1.0),
    FieldSpec("detail_stress", "float64", "MPa", (-600.0, 600.0), "live-load stress at the fatigue detail (edge girder, bottom flange, midspan) at the last sample", label_zh="疲劳细节应力", resolution=1.0),
    # 1 mm, three times the gauges' noise (0.3 mm)
    FieldSpec("deflection", "float64", "mm", (-100.0, 1000.0), "live-load midspan deflection, downward positive", label_zh="挠度", resolution=1.0, historical=True, precision=0.1),
    # three times the accelerometers' noise (0.01 m/s2)
    FieldSpec("acceleration", "float32", "m/s2", (0.0, 50.0), "peak vertical acceleration at midspan", label_zh="振动加速度", resolution=0.03, precision=0.001),
    FieldSpec("temperature", "float32", "°C", (-40.0, 80.0), "deck temperature", default=model.DECK_MEAN_TEMPERATURE, label_zh="温度", resolution=0.5, precision=0.1),
    # twice the identified frequency's noise (0.005 Hz)
    FieldSpec("frequency", "float64", "Hz", (0.0, 50.0), "identified first vertical natural frequency", label_zh="实测基频", resolution=0.01, historical=True, precision=0.001),
    # 0.01 Hz over a first frequency of a few Hz
    FieldSpec("frequency_ratio", "float32", "1", (0.0, 5.0), "λ = temperature-compensated frequency / design frequency (0: not measured)", label_zh="频率比", resolution=0.003),
    # Miner's D to four decimals: it grows by about 1e-8 a tick
    FieldSpec("fatigue_damage", "float64", "1", (0.0, 100.0), "Miner damage D so far", label_zh="疲劳损伤", resolution=1.0e-4, historical=True),
    FieldSpec("fatigue_rate", "float64", "1/a", (0.0, 1e6), "fatigue damage rate, averaged over a week", label_zh="损伤速率", resolution=1.0e-4),
    FieldSpec("fatigue_projected", "float64", "1", (0.0, 1e6), "Miner damage projected to the end of the design life", label_zh="设计寿命末期损伤", resolution=0.001),
    # 1 mm, three times the levelling noise (0.3 mm)
    FieldSpec("settlement", "float64", "mm", (-100.0, 1000.0), "pier settlement", label_zh="沉降", resolution=1.0, historical=True, precision=0.1),
    # a move across a level is news however small
    FieldSpec("risk", "float64", "1", (0.0, 1.0), "structural response risk (max over indicators)", label_zh="风险", resolution=0.01, historical=True),
)


@hookimpl
def twin_domains():
    return [Domain(DOMAIN, "Bridges", (
        AssetKind("span", "LineString", "a deck span between two supports", "桥跨"),
        AssetKind("pier", "Point", "a pier carrying two spans (its bearing level)", "桥墩"),
    ), FIELDS, title_zh="桥梁")]


@hookimpl
def twin_updaters():
    return [
        Updater("bridge.fatigue", DOMAIN, model.step_fatigue,
                reads=("strain", "elastic_modulus", "moment_of_inertia", "fibre_distance", "stiffness_factor", "length",
                       "girders", "near_lane_share", "far_lane_share", "truck_load", "truck_position", "truck_speed",
                       "truck_lane", "overload", "detail_category", "design_life", "service_age", "initial_damage"),
                writes=("stress", "detail_stress", "fatigue_damage", "fatigue_rate", "fatigue_projected")),
        Updater("bridge.traffic", DOMAIN, model.step_traffic,
                reads=("length", "lanes", "overload_until"),
                writes=("traffic_load", "truck_load", "truck_position", "truck_speed", "truck_lane", "overload",
                        "vehicle_load")),
        Updater("bridge.temperature", DOMAIN, model.step_temperature, reads=("temperature",), writes=("temperature",)),
        Updater("bridge.response", DOMAIN, model.step_response,
                reads=("length", "elastic_modulus", "moment_of_inertia", "mass_per_length", "fibre_distance",
                       "stiffness_factor", "traffic_load", "truck_load", "truck_position", "overload", "temperature",
                       "surveyed_settlement"),
                writes=("deflection", "strain", "frequency", "acceleration", "settlement")),
    ]


RESPONSE_LEVELS = (0.5, 0.7, 0.85, 1.0, 1.2, 1.5)
FREQUENCY_LEVELS = (1.05, 1.0, 0.95, 0.90, 0.75, 0.6)
FATIGUE_LEVELS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0)


@hookimpl
def twin_kernels():
    return [Kernel(
        "bridge.response", DOMAIN, model.bridge_risk,
        inputs=("deflection", "deflection_limit", "strain", "design_live_strain", "frequency", "temperature",
                "design_frequency", "fatigue_projected", "settlement", "settlement_limit"),
        outputs=("frequency_ratio", "risk"),
        params=(
            Param("response_levels", RESPONSE_LEVELS, "1",
                  "response over its code limit (deflection L/600 JTG 3362-2018, design live-load strain "
                  "JTG D60-2015, pier settlement JTG D63-2007); levels IV .7 III .85 II 1.0 I 1.2", default=True),
            Param("frequency_levels", FREQUENCY_LEVELS, "1",
                  "frequency ratio λ, JTG/T J21-2011 bands; levels IV <1.0 III <.95 II <.90 I <.75", default=True),
            Param("fatigue_levels", FATIGUE_LEVELS, "1",
                  "Miner damage projected to the end of the design life (EN 1993-1-9); levels IV .5 III .8 II 1.0 I 1.5",
                  default=True),
            Param("temperature_coefficient", model.FREQUENCY_TEMPERATURE_COEFFICIENT, "1/°C",
                  "frequency change per °C of deck temperature (Peeters & De Roeck 2001); calibrate per bridge", default=True),
            Param("reference_temperature", model.REFERENCE_TEMPERATURE, "°C", "design reference temperature", default=True),
        ),
    )]


@hookimpl
def twin_alarm_rules():
    return [AlarmRule("bridge.response", DOMAIN, "risk", "Bridge structural response", "桥梁结构响应异常")]


@hookimpl
def twin_incident_groupings():
    # An overload or a strike loads a whole bridge: its spans and piers, 150 m and half
    # an hour apart at most, are one incident; the next bridge along the river is another.
    return [IncidentGrouping(DOMAIN, distance=150.0, window=1800.0,
                             description="one bridge's spans and piers: within 150 m, within half an hour")]


def overload(world, asset_id, load, duration):
    """An overweight vehicle of ``load`` t stands at midspan for ``duration`` s, in the
    kerb lane on the fatigue detail's side."""
    table, row = world.locate(asset_id)
    table["overload"][row] = load
    table["overload_until"][row] = world.time + duration


def damage(world, asset_id, fraction):
    """The span loses ``fraction`` of its flexural stiffness (cracking, a failed bearing)."""
    table, row = world.locate(asset_id)
    table["stiffness_factor"][row] *= 1.0 - fraction


@hookimpl
def twin_actions():
    return [
        Action("bridge.overload", DOMAIN, overload, "an overweight vehicle stops at midspan", (
            ActionParam("load", "t", "gross vehicle weight", valid=(1.0, 1000.0)),
            ActionParam("duration", "s", "how long it stands on the span", default=60.0, valid=(1.0, 86400.0)),
        ), kinds=SPAN),
        Action("bridge.damage", DOMAIN, damage, "the span loses part of its flexural stiffness", (
            ActionParam("fraction", "1", "stiffness lost, 0 to 0.9", valid=(0.0, 0.9)),
        ), kinds=SPAN),
    ]


@hookimpl
def twin_viewer_styles():
    return [ViewerStyle(DOMAIN, "Bridges", "桥梁", "#8c6bb1", colour_field="risk", field_labels_zh={
        f.name: f.label_zh for f in FIELDS if f.label_zh
    })]


@hookimpl
def twin_asset_generators():
    return [AssetGenerator(DOMAIN, generate)]
