"""The hooks of the drainage plugin: a storm drainage network of manholes, pipes and
outfalls, its rain, its hydraulics and its flood and rainstorm warnings.

Each hook returns descriptions; the twin decides when to call the functions they name.
"""

from __future__ import annotations

import math

from twin import (
    Action,
    ActionParam,
    AlarmRule,
    AssetGenerator,
    AssetKind,
    Command,
    Coupling,
    Domain,
    FieldSpec,
    IncidentGrouping,
    Kernel,
    Param,
    SceneImporter,
    Updater,
    ViewerStyle,
    hookimpl,
)

from twin_drainage import generate, hydrology, model

PLUGIN_NAME = "drainage"
DOMAIN = "drainage"

ELEVATION = (-1000.0, 9000.0)


@hookimpl
def twin_domains():
    kinds = (
        AssetKind("manhole", "Point", "a manhole (检查井) with a street inlet and the subcatchment it drains", label_zh="检查井"),
        AssetKind("pipe", "LineString", "a circular gravity sewer between two nodes; links = [upstream, downstream]", label_zh="管道"),
        AssetKind("outfall", "Point", "where the network discharges into the river (排放口)", label_zh="排放口"),
        AssetKind("regulator", "LineString", "a pump, weir, orifice or outlet between two nodes (an imported SWMM "
                  "network's; its parameters in data/regulators.json); links = [inlet, outlet]", label_zh="调节设施"),
    )
    attr = dict(attribute=True)
    fields = (
        # Static attributes, read from the scene.
        FieldSpec("invert_elevation", "float64", "m", ELEVATION, "invert (lowest inside point) of the node",
                  required_for=("manhole", "outfall"), label_zh="井底高程", **attr),
        FieldSpec("rim_elevation", "float64", "m", ELEVATION, "rim (ground level at the cover) of the manhole",
                  required_for=("manhole",), label_zh="井口高程", **attr),
        FieldSpec("shaft_area", "float64", "m2", (0.01, 1.0e7), "plan area of the manhole shaft (or storage unit)", 1.13,
                  label_zh="井室面积", **attr),
        FieldSpec("ponding_area", "float64", "m2", (0.0, 1.0e7),
                  "street area that ponds above the rim (0: water rising above the rim is lost, SWMM's "
                  "ALLOW_PONDING NO)", 100.0,
                  label_zh="积水面积", **attr),
        FieldSpec("catchment_area", "float64", "ha", (0.0, 1000.0), "area of the subcatchment draining to the manhole",
                  label_zh="汇水面积", **attr),
        FieldSpec("runoff_coefficient", "float64", "1", (0.0, 1.0), "runoff coefficient C (ψ) of the subcatchment", 0.7,
                  label_zh="径流系数", **attr),
        FieldSpec("tailwater_elevation", "float64", "m", ELEVATION,
                  "river stage at an outfall (the default lies below any outfall: a free outfall)", -1000.0,
                  label_zh="河道水位", **attr),
        FieldSpec("diameter", "float64", "m", (0.01, 50.0), "inside diameter of the pipe",
                  required_for=("pipe",), label_zh="管径", **attr),
        FieldSpec("length", "float64", "m", (0.1, 1.0e5), "length of the pipe",
                  required_for=("pipe",), label_zh="管长", **attr),
        FieldSpec("roughness", "float64", "s/m^(1/3)", (0.0005, 1.0), "Manning's n of the pipe", 0.013,
                  label_zh="糙率", **attr),
        FieldSpec("inlet_offset", "float64", "m", (0.0, 1000.0), "height of the pipe's upstream invert above the node's",
                  label_zh="进口高差", **attr),
        FieldSpec("outlet_offset", "float64", "m", (0.0, 1000.0), "height of the pipe's downstream invert above the node's",
                  label_zh="出口高差", **attr),
        # Live state.
        # Resolutions (the smallest change that is news; see FieldSpec): at or above the noise of the
        # sensors that feed a field (RAIN_NOISE 0.2 mm/h, DEPTH_NOISE 5 mm, FLOW_NOISE 0.01 m3/s), so
        # that noise is neither streamed nor recorded. Rain: 1 mm/h (the CMA's classes are tens of mm).
        FieldSpec("rain_intensity", "float64", "mm/h", (0.0, 300.0), "rain intensity over the subcatchment (rain gauge)",
                  label_zh="降雨强度", resolution=1.0, historical=True, precision=0.1),
        # a countdown: to the 10 s, not every tick
        FieldSpec("rain_remaining", "float64", "s", (0.0, 1.0e7), "time left of a scripted rain (drainage.rain)",
                  label_zh="剩余降雨时长", resolution=10.0),
        # 0.1 mm: a tipping-bucket gauge's resolution
        FieldSpec("rain_1h", "float32", "mm", (0.0, 5000.0), "rain in the last hour at a rain gauge", label_zh="1小时雨量",
                  resolution=0.1),
        FieldSpec("rain_3h", "float32", "mm", (0.0, 5000.0), "rain in the last 3 hours at a rain gauge", label_zh="3小时雨量",
                  resolution=0.1),
        FieldSpec("rain_6h", "float32", "mm", (0.0, 5000.0), "rain in the last 6 hours at a rain gauge", label_zh="6小时雨量",
                  resolution=0.1),
        FieldSpec("rain_12h", "float32", "mm", (0.0, 5000.0), "rain in the last 12 hours at a rain gauge", label_zh="12小时雨量",
                  resolution=0.1),
        # 1 L/s
        FieldSpec("inflow", "float64", "m3/s", (0.0, 1.0e5), "water entering the manhole: C·i·A plus external_inflow",
                  label_zh="入流量", resolution=0.001),
        FieldSpec("external_inflow", "float64", "m3/s", (0.0, 1.0e5),
                  "runoff of an imported network's subcatchments (SWMM hydrology) and its external and dry-weather "
                  "inflows reaching the node", label_zh="外部入流", resolution=0.001),
        # 1 cm: twice the level sensors' noise (DEPTH_NOISE, 5 mm)
        FieldSpec("depth", "float64", "m", (0.0, 100.0), "water depth above the node's invert (level sensor)", label_zh="水深",
                  resolution=0.01, historical=True, precision=0.001),
        FieldSpec("head", "float64", "m", ELEVATION, "water level above datum", label_zh="水位", resolution=0.01),
        FieldSpec("crown_elevation", "float64", "m", ELEVATION, "crown of the highest pipe at the manhole", label_zh="管顶高程",
                  resolution=0.001),
        FieldSpec("surcharged", "bool", "1", (0.0, 1.0), "water above the crown of the highest pipe", label_zh="满管超载",
                  resolution=0.0),
        FieldSpec("flooding", "float64", "m3/s", (0.0, 1000.0), "water rising out of the manhole onto the street",
                  label_zh="溢流量", resolution=0.001),
        FieldSpec("ponded_depth", "float64", "m", (0.0, 20.0), "water standing on the street above the rim", label_zh="积水深度",
                  resolution=0.01),
        FieldSpec("volume", "float64", "m3", (0.0, 1.0e8), "water held in the shaft and half of each pipe at the manhole",
                  label_zh="蓄水量", resolution=0.1),
        # twice the flow meters' noise (FLOW_NOISE, 0.01 m3/s)
        FieldSpec("flow", "float64", "m3/s", (-1000.0, 1000.0), "flow in the pipe, positive downstream (flow meter)",
                  label_zh="流量", resolution=0.02, historical=True, precision=0.001),
        FieldSpec("capacity", "float64", "m3/s", (0.0, 1000.0), "full-pipe Manning capacity Qfull (less any blockage)",
                  label_zh="满管流量", resolution=0.001),
        # fill and velocity follow the depths at the pipes' ends: 2 % of the diameter, 0.1 m/s (sewer
        # design speaks of 0.6 to 5 m/s, GB 50014)
        FieldSpec("fill", "float32", "1", (0.0, 1.0), "fill ratio y/D of the pipe", label_zh="充满度",
                  resolution=0.02, historical=True),
        FieldSpec("velocity", "float32", "m/s", (-50.0, 50.0), "mean velocity Q/A in the pipe", label_zh="流速",
                  resolution=0.1),
        FieldSpec("blockage", "float64", "1", (0.0, 1.0), "fraction of the pipe's section blocked (silt, debris)",
                  label_zh="堵塞比例", resolution=0.01),
        FieldSpec("discharge", "float64", "m3/s", (-1000.0, 1000.0), "flow out of the network at an outfall",
                  label_zh="排放流量", resolution=0.01),
        FieldSpec("discharged_volume", "float64", "m3", (-1.0e12, 1.0e12), "water discharged at an outfall since the start",
                  label_zh="累计排放量", resolution=1.0),
        # a move across a level is news however small
        FieldSpec("risk", "float64", "1", (0.0, 1.0), "risk of surcharge, flooding and street ponding", label_zh="内涝风险",
                  resolution=0.01, historical=True),
        FieldSpec("rain_risk", "float64", "1", (0.0, 1.0), "rainstorm warning level of the CMA at a rain gauge",
                  label_zh="暴雨风险", resolution=0.01, historical=True),
    )
    return [Domain(DOMAIN, "Storm drainage", kinds, fields, title_zh="雨水排水管网")]


@hookimpl
def twin_updaters():
    return [
        Updater("drainage.rain_totals", DOMAIN, model.step_rain_totals, reads=("rain_intensity",),
                writes=("rain_1h", "rain_3h", "rain_6h", "rain_12h")),
        # An imported network's subcatchments and inflows (data/hydrology.json), before the routing.
        Updater("drainage.hydrology", DOMAIN, hydrology.step_hydrology, reads=(), writes=("external_inflow",)),
        Updater(
            "drainage.route", DOMAIN, model.step_drainage,
            reads=("rain_intensity", "rain_remaining", "catchment_area", "runoff_coefficient", "external_inflow",
                   "blockage", "depth", "flow",
                   "invert_elevation", "rim_elevation", "shaft_area", "ponding_area", "tailwater_elevation",
                   "diameter", "length", "roughness", "inlet_offset", "outlet_offset"),
            writes=("rain_intensity", "rain_remaining", "inflow", "depth", "head", "crown_elevation", "surcharged",
                    "flooding", "ponded_depth", "volume", "flow", "capacity", "fill", "velocity", "discharge",
                    "discharged_volume"),
        ),
    ]


# MODELS.md "Drainage": the node levels are *default* (our proposal); the rain levels are
# the CMA's rainstorm warning signals.
NODE_SOURCE = "MODELS.md drainage node levels (default): IV surcharge, III within 0.5 m of rim, II within 0.2 m or flooding, I ponding >= 0.15 m"
NODE_PARAMS = (
    Param("freeboard_yellow", 0.5, "m", NODE_SOURCE, default=True),
    Param("freeboard_orange", 0.2, "m", NODE_SOURCE, default=True),
    Param("ponding_red", 0.15, "m", NODE_SOURCE, default=True),
    Param("ponding_max", 0.30, "m", NODE_SOURCE + "; risk 1 at 0.30 m of ponding", default=True),
)
CMA_SOURCE = "China Meteorological Administration Order No. 16 (2007), rainstorm warning signals"
RAIN_PARAMS = (
    Param("blue_12h", 50.0, "mm", CMA_SOURCE + ": blue, 50 mm in 12 h"),
    Param("yellow_6h", 50.0, "mm", CMA_SOURCE + ": yellow, 50 mm in 6 h"),
    Param("orange_3h", 50.0, "mm", CMA_SOURCE + ": orange, 50 mm in 3 h"),
    Param("red_3h", 100.0, "mm", CMA_SOURCE + ": red, 100 mm in 3 h"),
)


@hookimpl
def twin_kernels():
    return [
        Kernel("drainage.node", DOMAIN, model.node_flood_risk,
               inputs=("depth", "invert_elevation", "rim_elevation", "crown_elevation"), outputs=("risk",),
               params=NODE_PARAMS),
        Kernel("drainage.rainstorm", DOMAIN, model.rainstorm_risk,
               inputs=("rain_3h", "rain_6h", "rain_12h"), outputs=("rain_risk",), params=RAIN_PARAMS),
    ]


@hookimpl
def twin_couplings():
    # Idle in a city without the tunnel plugin.
    return [
        Coupling("drainage.openings", "tunnel", DOMAIN, model.step_openings,
                 "MODELS.md coupling 3, the drainage side: street water pouring into a station or tunnel over its "
                 "opening's sill (the tunnel's flood_inflow) leaves the ponding at the manhole the opening links",
                 writes=("depth", "head", "ponded_depth"),
                 reads=("tunnel.flood_inflow", "drainage.depth", "drainage.rim_elevation", "drainage.invert_elevation",
                        "drainage.ponding_area")),
    ]


@hookimpl
def twin_alarm_rules():
    return [
        # A level sensor's noise must not flicker an alarm: hold for 5 s, clear after a minute.
        AlarmRule("drainage.node", DOMAIN, "risk", "Manhole surcharge / flooding", title_zh="检查井满溢内涝",
                  kinds=("manhole",), hysteresis=0.05, raise_dwell=5.0, clear_dwell=60.0),
        AlarmRule("drainage.rainstorm", DOMAIN, "rain_risk", "Rainstorm warning", title_zh="暴雨预警",
                  kinds=("manhole",), hysteresis=0.02, raise_dwell=0.0, clear_dwell=600.0),
    ]


@hookimpl
def twin_incident_groupings():
    # A storm floods a whole catchment: surcharging manholes chain across the district,
    # 400 m (a few blocks) and an hour apart at most; its warnings are one incident
    # wherever the gauges are, as the storm is one.
    return [
        IncidentGrouping(DOMAIN, distance=400.0, window=3600.0,
                         description="flooded manholes of one storm: within 400 m of each other, within an hour"),
        IncidentGrouping(DOMAIN, distance=math.inf, window=6 * 3600.0, rules=("drainage.rainstorm",), same_rule=True,
                         description="one rainstorm's warnings, anywhere in the district, within six hours"),
    ]


def start_rain(world, asset_id, intensity, duration):
    """Rain of ``intensity`` mm/h for ``duration`` s over the whole district: every
    manhole's subcatchment, whichever manhole the action names (the rain gauges then
    read it). A later rain replaces an earlier one; intensity 0 stops it."""
    table, _ = world.locate(asset_id)
    manholes = table.rows("manhole")
    table["rain_intensity"][manholes] = intensity
    table["rain_remaining"][manholes] = duration if intensity > 0.0 else 0.0


def block_pipe(world, asset_id, fraction):
    """Silt or debris blocks ``fraction`` of the pipe's section (0 clears it)."""
    table, row = world.locate(asset_id)
    table["blockage"][row] = fraction


@hookimpl
def twin_actions():
    return [
        Action("drainage.rain", DOMAIN, start_rain,
               "rain over the whole district (name any manhole; every subcatchment gets it)",
               params=(ActionParam("intensity", "mm/h", "rain intensity", default=100.0, valid=(0.0, 300.0)),
                       ActionParam("duration", "s", "how long it rains", default=3600.0, valid=(1.0, 3.0 * 86400.0))),
               kinds=("manhole",), district=True),
        Action("drainage.block_pipe", DOMAIN, block_pipe, "block a fraction of a pipe's section (0 clears it)",
               params=(ActionParam("fraction", "1", "fraction of the section blocked", default=0.8, valid=(0.0, 1.0)),),
               kinds=("pipe",)),
    ]


@hookimpl
def twin_viewer_styles():
    return [ViewerStyle(DOMAIN, "Storm drainage", "雨水排水管网", "#2b8cbe", colour_field="risk",
                        field_labels_zh={"depth": "水深", "flow": "流量", "fill": "充满度", "risk": "内涝风险",
                                         "ponded_depth": "积水深度", "rain_intensity": "降雨强度"})]


@hookimpl
def twin_asset_generators():
    return [AssetGenerator(DOMAIN, generate.generate)]


# [docs:start importer]
@hookimpl
def twin_scene_importers():
    # `twin import swmm network.inp --out scenes/network` writes a scene from a SWMM file.
    from twin_drainage import swmm  # the reader loads only when importers are listed

    return [SceneImporter("swmm", (".inp",), "EPA SWMM 5 input file: nodes, storage units, outfalls, conduits of "
                          "SWMM's sections, pumps, weirs, orifices, outlets, subcatchments with their LIDs, rain "
                          "gauges and inflows", swmm.write_scene)]
# [docs:end importer]


# [docs:start cli]
@hookimpl
def twin_cli():
    # `twin drainage run NET.inp --summary peaks.csv` and `twin drainage compare NET.inp`.
    from twin_drainage import cli  # loads only when a plugin command is asked for

    return [Command("drainage", "run a SWMM network headless in the twin, or against SWMM itself", cli.arguments,
                    cli.main)]
# [docs:end cli]
