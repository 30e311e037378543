"""The tunnel plugin's hooks: a utility tunnel's compartments (综合管廊舱室) and metro stations.

A utility tunnel runs under a main avenue, cut by fire walls into sections; each
section has a power, a water and a gas compartment, each one well-mixed air space with
fans and a sump. The twin follows their air (CH4, O2, H2S, CO, humidity), their heat
(cable losses, soil, ventilation and a fire), the fire detectors, the fans GB 50838
switches, and the water in the sumps, and warns on the MODELS.md levels. A metro
station is an underground space with the same air and sump. The physics is in
:mod:`twin_tunnels.model`, the synthetic city's tunnel in :mod:`twin_tunnels.generate`.
"""

from __future__ import annotations

import math

from twin import (
    Action, ActionParam, AlarmRule, AssetGenerator, AssetKind, Coupling, Domain, FieldSpec, IncidentGrouping, Kernel, Param,
    Updater, ViewerStyle, hookimpl,
)

from twin_tunnels import generate, model

# The plugin's name when a test registers this module directly; the entry point gives
# the same name when it is installed.
PLUGIN_NAME = "tunnel"
COMPARTMENTS = ("gas_compartment", "power_compartment", "water_compartment")
SPACES = COMPARTMENTS + ("metro_station",)

KINDS = (
    AssetKind("gas_compartment", "LineString", "the natural-gas compartment of one fire section", label_zh="燃气舱"),
    AssetKind("power_compartment", "LineString", "the power-cable compartment of one fire section", label_zh="电力舱"),
    AssetKind("water_compartment", "LineString", "the water-supply compartment of one fire section", label_zh="给水舱"),
    AssetKind("metro_station", "Polygon", "an underground metro station box", label_zh="地铁车站"),
)


def _attribute(name, unit, valid, description, label_zh, default=0.0, required=SPACES):
    return FieldSpec(name, "float64", unit, valid, description, default, attribute=True, required_for=required,
                     label_zh=label_zh)


def _live(name, unit, valid, description, label_zh, default=0.0, dtype="float64", **news):
    # news: resolution=, historical= and the sensors' precision= (see FieldSpec)
    return FieldSpec(name, dtype, unit, valid, description, default, label_zh=label_zh, **news)


FIELDS = (
    # Attributes: static, read from the scene and checked against `valid` on load.
    _attribute("length", "m", (1.0, 2000.0), "length of the compartment between its fire walls (station: box length)",
               "长度"),
    _attribute("cross_section", "m2", (0.5, 500.0), "clear cross-section the ventilation air flows through",
               "断面面积"),
    _attribute("ceiling_height", "m", (1.5, 30.0), "floor to ceiling", "净高"),
    _attribute("volume", "m3", (1.0, 1.0e6), "air volume", "容积"),
    _attribute("ua", "W/K", (1.0, 1.0e7), "heat conductance of the walls to the soil", "围护结构传热系数"),
    _attribute("cable_heat", "W", (0.0, 1.0e7), "heat of the cables' losses (station: equipment and people)",
               "电缆/设备发热", required=("power_compartment", "metro_station")),
    _attribute("soil_temperature", "degC", (-10.0, 40.0), "temperature of the soil around the walls", "土壤温度",
               18.0, required=()),
    _attribute("inlet_temperature", "degC", (-30.0, 45.0), "temperature of the outdoor air the fans draw",
               "进风温度", 25.0, required=()),
    _attribute("inlet_humidity", "%RH", (0.0, 100.0), "relative humidity of the outdoor air", "进风湿度", 70.0,
               required=()),
    _attribute("normal_ach", "1/h", (0.0, 60.0), "air changes per hour in normal ventilation (GB 50838-2015 §7.2.2: "
               ">= 6 in a gas compartment)", "正常换气次数", 6.0, required=()),
    _attribute("emergency_ach", "1/h", (0.0, 60.0), "air changes per hour in emergency ventilation (GB 50838-2015 "
               "§7.2.2: >= 12 in a gas compartment)", "事故换气次数", 12.0, required=()),
    _attribute("h2s_emission", "mg/s", (0.0, 1000.0), "H2S given off by standing water and sewage", "硫化氢散发量",
               required=()),
    _attribute("sump_area", "m2", (0.1, 500.0), "plan area of the sump pit", "集水坑面积"),
    _attribute("floor_area", "m2", (1.0, 1.0e5), "floor the water spreads over when the sump overflows", "地面面积"),
    _attribute("sump_depth", "m", (0.2, 10.0), "depth of the sump pit: water above it floods the floor", "集水坑深度"),
    _attribute("pump_start", "m", (0.05, 10.0), "level at which the sump pump starts", "启泵水位"),
    _attribute("pump_stop", "m", (0.0, 10.0), "level at which the sump pump stops", "停泵水位"),
    _attribute("sump_high", "m", (0.05, 10.0), "high-water alarm level of the sump", "高水位"),
    _attribute("pump_capacity", "m3/s", (0.0, 10.0), "capacity of the sump pumps together", "排水泵流量"),
    _attribute("seepage", "m3/s", (0.0, 1.0), "groundwater seeping in through the structure", "渗漏量", required=()),
    _attribute("detector_temperature", "degC", (40.0, 200.0), "alarm temperature of the linear heat detector "
               "(EN 54-5 class A1 responds at 54-65 C)", "感温探测器报警温度", 57.0, required=()),
    _attribute("sill_height", "m", (0.0, 3.0), "entrance sill above the street (where street water gets in)",
               "出入口挡水高度", required=("metro_station",)),
    _attribute("opening_width", "m", (0.0, 50.0), "width b of the opening to the street (entrance, vent, hatch) "
               "over whose sill ponding pours in; 0: none", "孔口宽度", required=()),
    _attribute("weir_coefficient", "1", (0.1, 1.0), "Cw of Q = Cw b sqrt(2 g) (dp - h_sill)^(3/2) over the sill "
               "(0.385: broad crest, critical depth on it; Henderson 1966 §6.6)", "堰流系数",
               model.BROAD_CREST_CW, required=()),
    # Live state: stepped by the updaters, overwritten where a sensor reads it.
    # Resolutions (the smallest change that is news; see FieldSpec): two to three times the noise of
    # the sensors that feed a field (generate.py), so that noise is neither streamed nor recorded.
    _live("temperature", "degC", (-40.0, 1400.0), "air temperature", "温度", 20.0, resolution=0.5, historical=True, precision=0.1),
    _live("humidity", "%RH", (0.0, 100.0), "relative humidity", "湿度", 70.0, resolution=2.0, precision=0.1),
    # noise 0.05 %vol; the alarm is at 19.5 %vol
    _live("o2", "%vol", (0.0, 25.0), "oxygen", "氧气浓度", model.O2_AMBIENT, resolution=0.1, historical=True, precision=0.01),
    # noise 0.5 %LEL
    _live("ch4", "%LEL", (0.0, 2000.0), "methane as a share of its lower explosive limit (5 %vol)", "甲烷浓度",
          resolution=1.5, historical=True, precision=0.1),
    # noise 0.1 mg/m3
    _live("h2s", "mg/m3", (0.0, 1000.0), "hydrogen sulphide", "硫化氢浓度", resolution=0.3, historical=True, precision=0.01),
    # noise 1 ppm
    _live("co", "ppm", (0.0, 1.0e5), "carbon monoxide", "一氧化碳浓度", resolution=3.0, historical=True, precision=1.0),
    # noise 10 mm
    _live("sump_level", "m", (0.0, 20.0), "water above the sump's floor (above its depth: on the floor)", "集水坑水位",
          resolution=0.02, historical=True, precision=0.001),
    _live("water_ingress", "m3/s", (0.0, 100.0), "water entering besides seepage (a burst main, a flood)", "进水量",
          resolution=1.0e-4),
    _live("water_inflow", "m3/s", (0.0, 100.0), "all water entering the sump", "总进水量", resolution=1.0e-4),
    _live("pump_ok", "1", (0.0, 1.0), "1 the sump pump is available, 0 failed", "水泵可用", 1.0, "uint8", resolution=0.0),
    _live("pump_on", "1", (0.0, 1.0), "1 the sump pump runs", "水泵运行", 0.0, "uint8", resolution=0.0, precision=1.0),
    _live("gas_ingress", "m3/s", (0.0, 100.0), "methane entering from a leak (tunnel.gas_ingress)", "燃气泄漏量",
          resolution=1.0e-5),
    _live("gas_from_mains", "m3/s", (0.0, 100.0), "methane leaking from the gas mains in the compartment "
          "(coupling tunnel.gas_mains)", "舱内燃气管道泄漏量", resolution=1.0e-5),
    _live("flood_inflow", "m3/s", (0.0, 100.0), "street water pouring over the opening's sill into the sump "
          "(coupling tunnel.street_water)", "地面积水倒灌流量", resolution=1.0e-4),
    _live("powered", "1", (0.0, 1.0), "1 the section's fans and pumps have power, 0 cut by a fire or flood "
          "(coupling tunnel.power)", "动力供电", 1.0, "uint8", resolution=0.0),
    _live("fan_mode", "1", (0.0, 2.0), "0 off, 1 normal, 2 emergency ventilation", "风机状态", 1.0, "uint8",
          resolution=0.0, precision=1.0),
    _live("air_changes", "1/h", (0.0, 60.0), "air changes per hour the fans now give", "换气次数", 6.0, resolution=0.1),
    _live("fire", "1", (0.0, 1.0), "1 a fire is detected (latched until the fire is put out)", "火灾报警", 0.0, "uint8",
          resolution=0.0, precision=1.0),
    _live("heat_release", "kW", (0.0, 1.0e5), "heat release rate of a fire", "火灾热释放速率", resolution=10.0),
    _live("fire_growth", "kW/s2", (0.0, 1.0), "t-squared growth coefficient alpha of a burning fire", "火灾增长系数",
          resolution=0.0),
    _live("fire_max_hrr", "kW", (0.0, 1.0e5), "heat release rate the fire levels off at", "最大热释放速率", resolution=0.0),
    # a count of seconds: to the 10 s, not every tick
    _live("fire_age", "s", (0.0, math.inf), "time since ignition", "燃烧时间", resolution=10.0),
    # noise 0.3 degC; the heat detector alarms at 54-65 degC
    _live("ceiling_temperature", "degC", (-40.0, 1500.0), "hottest gas under the ceiling (linear heat detector)",
          "顶棚最高温度", 20.0, resolution=1.0, historical=True, precision=0.1),
    # a move across a level is news however small
    _live("risk", "1", (0.0, 1.0), "risk of the compartment, the maximum over its indicators", "风险", 0.0, "float32",
          resolution=0.01, historical=True),
    _live("risk_driver", "1", (0.0, len(model.DRIVERS) - 1.0), "what set the risk: " + ", ".join(
        f"{n} {d}" for n, d in enumerate(model.DRIVERS)), "主要风险因素", 0.0, "uint8", resolution=0.0),
)


@hookimpl
def twin_domains():
    return [Domain("tunnel", "Utility tunnels and metro stations", KINDS, FIELDS, title_zh="综合管廊与地铁车站")]


@hookimpl
def twin_updaters():
    # In this order: the fans from last tick's detectors, then the air they move, then water.
    return [
        Updater("tunnel.ventilation", "tunnel", model.step_ventilation,
                reads=("ch4", "fire", "normal_ach", "emergency_ach", "fan_mode", "powered"),
                writes=("fan_mode", "air_changes"),
                params=(
                    Param("emergency_on", model.EMERGENCY_ON_LEL, "%LEL",
                          "GB 50838-2015 §7.5: the gas detectors alarm at <= 20 %LEL and start the emergency "
                          "ventilation of the section and its neighbours"),
                    Param("emergency_off", model.EMERGENCY_OFF_LEL, "%LEL",
                          "emergency ventilation runs until the section and its neighbours are below this "
                          "(hysteresis; the standard gives none)", default=True),
                )),
        Updater("tunnel.climate", "tunnel", model.step_climate,
                reads=("temperature", "humidity", "o2", "ch4", "h2s", "co", "fire_age", "fire", "length", "volume",
                       "cross_section", "ceiling_height", "ua", "cable_heat", "soil_temperature", "inlet_temperature",
                       "inlet_humidity", "air_changes", "gas_ingress", "gas_from_mains", "h2s_emission", "fire_growth",
                       "fire_max_hrr",
                       "detector_temperature"),
                writes=("temperature", "humidity", "o2", "ch4", "h2s", "co", "heat_release", "fire_age", "fire",
                        "ceiling_temperature"),
                params=(
                    Param("ch4_lel", model.CH4_LEL, "%vol",
                          "methane's lower explosive limit: NFPA 497 (2008) and Chinese practice; IEC 60079-20-1 "
                          "gives 4.4 (keep it equal to gas.lel_risk's lel_volume_percent)"),
                    Param("lower_oxygen_limit", model.LOWER_OXYGEN_LIMIT, "%vol",
                          "a fire burns only while O2 stays above this (CFAST Technical Reference Guide, NIST SP "
                          "1889v1, its default lower oxygen limit)"),
                )),
        Updater("tunnel.sumps", "tunnel", model.step_sumps,
                reads=("sump_level", "pump_on", "seepage", "water_ingress", "flood_inflow", "pump_capacity", "pump_ok",
                       "powered", "sump_area", "floor_area", "sump_depth", "pump_start", "pump_stop"),
                writes=("sump_level", "pump_on", "water_inflow")),
    ]


@hookimpl
def twin_kernels():
    return [
        Kernel(
            "tunnel.compartment_risk", "tunnel", model.compartment_risk,
            inputs=("ch4", "temperature", "ceiling_temperature", "fire", "o2", "h2s", "sump_level", "pump_stop",
                    "pump_start", "sump_high", "sump_depth"),
            outputs=("risk", "risk_driver"),
            params=(
                Param("ch4_levels", (0.0, 10.0, 20.0, 25.0, 50.0, 100.0), "%LEL",
                      "GB 50838-2015 §7.5 (a gas compartment alarms at <= 20 %LEL and cuts the gas off at <= 25 "
                      "%LEL): III at the alarm, II at the cut-off; IV 10 and I 50 are our defaults (MODELS.md "
                      "proposed II at 35, above the standard's cut-off)", default=True),
                Param("temperature_levels", (30.0, 40.0, 50.0, 60.0, 70.0, 90.0), "degC",
                      "MODELS.md defaults IV 40, III 50, II 60; normal up to 30, I at 70 (a detected fire is I "
                      "whatever the temperature)", default=True),
                Param("o2_levels", (20.5, 19.5, 18.75, 18.0, 17.0, 15.0), "%vol",
                      "MODELS.md defaults IV < 19.5 (GBZ/T 205 oxygen-deficiency limit), II < 18; III and I "
                      "interpolated and extended so the breakpoints fall strictly", default=True),
                Param("h2s_levels", (0.0, 5.0, 10.0, 20.0, 30.0, 70.0), "mg/m3",
                      "MODELS.md defaults IV 5, III 10 (GBZ 2.1-2019 MAC 10 mg/m3), II 20; I 30", default=True),
                Param("floor_water_i", 0.10, "m", "MODELS.md: sump at pump start IV, high III, overflow II; "
                      "level I at this depth of water on the floor", default=True),
                Param("floor_water_max", 0.30, "m", "water on the floor at which the risk is 1", default=True),
            ),
        )
    ]


@hookimpl
def twin_couplings():
    # MODELS.md "Couplings across domains"; a coupling to a domain that is not installed is idle.
    return [
        Coupling("tunnel.gas_mains", "gas", "tunnel", model.step_gas_mains,
                 "MODELS.md coupling 2: the leak m of a gas main that runs in a gas compartment (the main links it) "
                 "enters the compartment's air as m / rho(T); fans go to emergency at 20 %LEL (tunnel.ventilation)",
                 writes=("gas_from_mains",), reads=("gas.leak_rate", "tunnel.temperature")),
        Coupling("tunnel.street_water", "drainage", "tunnel", model.step_street_water,
                 "MODELS.md coupling 3: ponding dp at the drainage manhole a station or compartment links pours over "
                 "its opening's sill into the sump, Q = Cw b sqrt(2 g) (dp - h_sill)^(3/2)",
                 writes=("flood_inflow",),
                 reads=("drainage.ponded_depth", "tunnel.sill_height", "tunnel.opening_width", "tunnel.weir_coefficient")),
        Coupling("tunnel.power", "tunnel", "tunnel", model.step_power,
                 "MODELS.md coupling 4: a detected fire or water on the floor cuts the power of a section's fans and "
                 "pumps (a boolean network, see model.power_network)",
                 writes=("powered",), reads=("tunnel.fire", "tunnel.sump_level", "tunnel.sump_depth")),
    ]


@hookimpl
def twin_alarm_rules():
    return [
        AlarmRule("tunnel.compartment", "tunnel", "risk", "Utility tunnel compartment hazard", title_zh="综合管廊舱室险情",
                  kinds=COMPARTMENTS, raise_dwell=5.0, clear_dwell=30.0),
        AlarmRule("tunnel.station", "tunnel", "risk", "Metro station flooding or air hazard", title_zh="地铁车站险情",
                  kinds=("metro_station",), raise_dwell=5.0, clear_dwell=30.0),
    ]


@hookimpl
def twin_incident_groupings():
    # A fire or a gas release spreads along the tunnel through its sections: alarms of
    # compartments and stations within 300 m and half an hour are one incident.
    return [IncidentGrouping("tunnel", distance=300.0, window=1800.0,
                             description="one fire, leak or flood in the tunnel: within 300 m, within half an hour")]


# -- actions ---------------------------------------------------------------------------
def fire(world, asset_id, growth, alpha, max_hrr):
    """A fire starts: t-squared growth of class ``growth`` (1 slow .. 4 ultrafast) or, if
    given, coefficient ``alpha`` (kW/s2), levelling off at ``max_hrr`` (kW)."""
    table, row = world.locate(asset_id)
    if table["fire_growth"][row] > 0.0:
        raise ValueError(f"tunnel.fire on {asset_id!r}: a fire already burns there "
                         f"(alpha {table['fire_growth'][row]} kW/s2); put it out with tunnel.extinguish first")
    if alpha <= 0.0:
        if growth not in model.GROWTH_CLASSES:
            raise ValueError(f"tunnel.fire on {asset_id!r}: growth = {growth}; valid are 1 slow, 2 medium, 3 fast, "
                             "4 ultrafast (or give alpha in kW/s2)")
        alpha = model.GROWTH_CLASSES[int(growth)]
    table["fire_growth"][row] = alpha
    table["fire_max_hrr"][row] = max_hrr
    table["fire_age"][row] = 0.0


def extinguish(world, asset_id):
    """The fire is put out and the fire alarm panel reset; the fans return to their mode."""
    table, row = world.locate(asset_id)
    for name in ("fire_growth", "fire_max_hrr", "fire_age", "heat_release", "fire"):
        table[name][row] = 0


def set_field(name, value=None, param=None):
    def apply(world, asset_id, **params):
        table, row = world.locate(asset_id)
        table[name][row] = params[param] if param else value
    return apply


@hookimpl
def twin_actions():
    return [
        Action("tunnel.fire", "tunnel", fire, "a fire starts in a compartment (t-squared growth)", (
            ActionParam("growth", "class", "growth class: 1 slow, 2 medium, 3 fast, 4 ultrafast (SFPE)", 2.0,
                        valid=(1.0, 4.0)),
            ActionParam("alpha", "kW/s2", "growth coefficient; overrides the class when > 0", 0.0, valid=(0.0, 1.0)),
            ActionParam("max_hrr", "kW", "heat release rate the fire levels off at", 3000.0, valid=(10.0, 1.0e5)),
        ), kinds=COMPARTMENTS),
        Action("tunnel.extinguish", "tunnel", extinguish, "the fire is put out and the alarm panel reset",
               kinds=COMPARTMENTS),
        Action("tunnel.pump_fail", "tunnel", set_field("pump_ok", 0), "the sump pump fails", kinds=SPACES),
        Action("tunnel.pump_restore", "tunnel", set_field("pump_ok", 1), "the sump pump is back", kinds=SPACES),
        Action("tunnel.gas_ingress", "tunnel", set_field("gas_ingress", param="rate"),
               "methane leaks into a gas compartment from its main (0 stops it)", (
                   ActionParam("rate", "m3/s", "methane entering", valid=(0.0, 10.0)),
               ), kinds=("gas_compartment",)),
        Action("tunnel.water_ingress", "tunnel", set_field("water_ingress", param="rate"),
               "water enters a compartment or station (a burst main, a flood; 0 stops it)", (
                   ActionParam("rate", "m3/s", "water entering besides seepage", valid=(0.0, 100.0)),
               ), kinds=SPACES),
    ]


@hookimpl
def twin_viewer_styles():
    return [ViewerStyle("tunnel", "Utility tunnel", "综合管廊", "#7b61ff", colour_field="risk",
                        field_labels_zh={f.name: f.label_zh for f in FIELDS})]


@hookimpl
def twin_asset_generators():
    # After drainage: stations and compartments open onto the street beside its manholes.
    return [AssetGenerator("tunnel", generate.generate, after=("drainage",))]
