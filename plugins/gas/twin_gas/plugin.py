"""The gas plugin's hooks: mains, valves and the underground spaces beside them.

A leak in a main (``gas.leak``) flows out through its hole, a share of it migrates
through the soil into the manholes, valve wells, cable vaults and sewers beside the
main, and accumulates there; the twin warns on the %LEL its detectors read. Closing a
valve (``gas.close_valve``) isolates the mains it links to and vents them. The physics
is in :mod:`twin_gas.model`, the synthetic city's gas network in :mod:`twin_gas.generate`.
"""

from __future__ import annotations

from twin import (
    Action, ActionParam, AlarmRule, AssetGenerator, AssetKind, Coupling, Domain, FieldSpec, IncidentGrouping, Kernel, Param,
    Updater, ViewerStyle, hookimpl,
)

from twin_gas import __version__, generate, model  # noqa: F401 (the host lists __version__)

# The plugin's name when a test registers this module directly; the entry point gives
# the same name when it is installed.
PLUGIN_NAME = "gas"
SPACES = model.SPACE_KINDS

KINDS = (
    AssetKind("main", "LineString", "a buried gas main between two valves or junctions", label_zh="燃气管道"),
    AssetKind("valve", "Point", "a sectioning valve; its links are the mains its closing isolates", label_zh="阀门"),
    AssetKind("manhole", "Point", "a sewer or utility manhole beside a main", label_zh="检查井"),
    AssetKind("valve_well", "Point", "the chamber around a gas valve", label_zh="阀门井"),
    AssetKind("cable_vault", "Point", "a power or telecom cable vault beside a main", label_zh="电缆井"),
    AssetKind("sewer_segment", "Point", "a sewer pipe between two manholes, as one air space", label_zh="污水管段"),
)

FIELDS = (
    # Attributes: static, read from the scene and checked against `valid` on load.
    FieldSpec("diameter", "float64", "m", (0.02, 1.6), "inner diameter of the main", attribute=True,
              required_for=("main",), label_zh="管径"),
    FieldSpec("operating_pressure", "float64", "Pa", (model.ATMOSPHERIC, 4.2e6),
              "absolute pressure the regulators hold the main at (GB 50028 classes: low < 0.01 MPa gauge, "
              "medium B 0.01-0.2, medium A 0.2-0.4)", attribute=True, required_for=("main",), label_zh="运行压力"),
    FieldSpec("vent_diameter", "float64", "m", (0.0, 0.2), "bore of the vent riser opened when the valve isolates",
              0.05, attribute=True, label_zh="放散管径"),
    FieldSpec("volume", "float64", "m3", (0.1, 5000.0), "gross volume of the space", attribute=True,
              required_for=SPACES, label_zh="容积"),
    FieldSpec("ventilation", "float64", "m3/s", (0.0, 50.0), "air exchanged with the outside", attribute=True,
              required_for=SPACES, label_zh="通风量"),
    FieldSpec("floor_area", "float64", "m2", (0.05, 2000.0), "plan area (water level times it is not air)",
              attribute=True, required_for=SPACES, label_zh="底面积"),
    FieldSpec("migration_share", "float64", "1", (0.0, 1.0), "share eta of a linked main's leak that reaches the space",
              attribute=True, required_for=SPACES, label_zh="迁移比例"),
    FieldSpec("background_ch4", "float64", "%vol", (0.0, 5.0), "methane the ventilation air brings (sewer biogas)",
              attribute=True, label_zh="本底甲烷"),
    FieldSpec("exchange", "float64", "m3/s", (0.0, 10.0),
              "exchange conductance k with each neighbouring space the space links to: k (Ci - Cj) m3/s of methane",
              attribute=True, label_zh="相邻空间交换量"),
    # Live state: stepped by the updaters, overwritten where a sensor reads it.
    # Resolutions (the smallest change that is news; see FieldSpec): at or above the noise of the
    # detectors that feed a field, so that noise is neither streamed nor recorded. Pressure: 1 kPa, the
    # last digit of a 0.001 MPa gauge and twice its noise (PRESSURE_NOISE, 500 Pa).
    FieldSpec("pressure", "float64", "Pa", (0.0, 1.0e7), "absolute pressure in the main", model.ATMOSPHERIC,
              label_zh="管道压力", resolution=1000.0, precision=100.0, historical=True),
    FieldSpec("temperature", "float64", "K", (233.15, 333.15), "gas or air temperature", 288.15, label_zh="温度",
              resolution=0.1),
    # 0.1 mm: a fifth of the smallest hole gas.leak takes (0.5 mm)
    FieldSpec("leak_diameter", "float64", "m", (0.0, 1.6), "equivalent diameter of a hole in the main",
              label_zh="泄漏孔径", resolution=1.0e-4),
    FieldSpec("discharge_coefficient", "float64", "1", (0.0, 1.0), "Cd of the hole", model.SHARP_HOLE_CD,
              label_zh="流量系数", resolution=0.01),
    # 0.01 g/s: a pinhole at low pressure leaks about 0.1 g/s
    FieldSpec("leak_rate", "float64", "kg/s", (0.0, 1000.0), "mass flow out of the hole", label_zh="泄漏速率",
              resolution=1.0e-5),
    FieldSpec("valve_open", "uint8", "1", (0.0, 1.0), "1 open, 0 closed", 1.0, label_zh="阀门开关", resolution=0.0, precision=1.0),
    # A methane detector's noise is 0.05 %vol (1 %LEL, CH4_NOISE): a change of 0.1 %vol (2 %LEL) is
    # news, a fifth of the 10 %LEL band below the first alarm; lel and risk follow it.
    FieldSpec("ch4", "float64", "%vol", (0.0, 100.0), "methane in the space's air", label_zh="甲烷浓度",
              resolution=0.1, historical=True, precision=0.01),
    FieldSpec("lel", "float64", "%LEL", (0.0, 2000.0), "methane as a share of its lower explosive limit",
              label_zh="爆炸下限百分比", resolution=2.0, historical=True),
    # 1 cm, as the drainage depth it is coupled from
    FieldSpec("water_level", "float64", "m", (0.0, 50.0), "standing water above the floor", label_zh="水位",
              resolution=0.01),
    FieldSpec("gas_inflow", "float64", "m3/s", (0.0, 1000.0), "methane entering from the mains beside",
              label_zh="燃气流入量", resolution=1.0e-5),
    # a countdown: to the 10 s, not every tick
    FieldSpec("time_to_lel", "float64", "s", (0.0, model.NO_PREDICTION),
              "predicted time to 100 %LEL from the known source; a day means not within a day",
              model.NO_PREDICTION, label_zh="预计达爆炸下限时间", resolution=10.0),
    # float64: in float32 the level-I risk 0.9 rounds to 0.8999999762, below its threshold.
    # risk = 0.025 per %LEL below the first level: 2 %LEL, as lel. A move across a level is news anyway.
    FieldSpec("risk", "float64", "1", (0.0, 1.0), "explosion risk of the space", label_zh="爆炸风险",
              resolution=0.05, historical=True),
)


@hookimpl
def twin_domains():
    return [Domain("gas", "Gas mains and adjacent spaces", KINDS, FIELDS, title_zh="燃气管网及相邻地下空间")]


@hookimpl
def twin_updaters():
    # In this order: pressure, then the leak it drives, then where the gas goes.
    return [
        Updater("gas.supply", "gas", model.step_supply,
                reads=("valve_open", "vent_diameter", "operating_pressure", "temperature", "leak_diameter",
                       "discharge_coefficient", "diameter", "pressure"),
                writes=("pressure",)),
        Updater("gas.leak_flow", "gas", model.step_leaks,
                reads=("pressure", "temperature", "leak_diameter", "discharge_coefficient"), writes=("leak_rate",)),
        Updater("gas.spaces", "gas", model.step_spaces,
                reads=("migration_share", "leak_rate", "temperature", "ventilation", "volume", "floor_area",
                       "water_level", "background_ch4", "exchange", "ch4"),
                writes=("gas_inflow", "ch4")),
    ]


@hookimpl
def twin_kernels():
    return [
        Kernel(
            "gas.lel_risk", "gas", model.space_gas_risk,
            inputs=("ch4", "background_ch4", "gas_inflow", "ventilation", "volume", "floor_area", "water_level"),
            outputs=("lel", "risk", "time_to_lel"),
            params=(
                Param("lel_volume_percent", 5.0, "%vol",
                      "NFPA 497 (2008) and Chinese practice; IEC 60079-20-1 gives 4.4"),
                Param("breakpoints", (0.0, 10.0, 25.0, 50.0, 75.0, 100.0), "%LEL net of background",
                      "GB/T 50493-2019 (first alarm <= 25 %LEL, second <= 50 %LEL); levels IV 10, III 25, II 50, "
                      "I 75 are MODELS.md defaults", default=True),
                Param("horizon", 1800.0, "s", "MODELS.md: level I when 100 %LEL is predicted within 30 min",
                      default=True),
            ),
        )
    ]


@hookimpl
def twin_couplings():
    # Idle (not an error) in a city without the drainage or the tunnel plugin.
    return [
        Coupling("gas.sewer_water", "drainage", "gas", model.step_sewer_water,
                 "MODELS.md coupling 1: a gas space linked to a drainage manhole (or pipe) takes its water depth "
                 "as water_level, which shrinks its air volume V_air = V - A h",
                 writes=("water_level",), reads=("drainage.depth", "drainage.fill", "drainage.diameter")),
        Coupling("gas.tunnel_cutoff", "tunnel", "gas", model.step_tunnel_cutoff,
                 "MODELS.md coupling 2 (GB 50838-2015 §7.5): methane at the cut-off in a tunnel's gas compartment "
                 "closes the valves of the mains that run in it; the isolated main blows down and the source stops",
                 writes=("valve_open",), reads=("tunnel.ch4",),
                 params=(
                     Param("cutoff", model.TUNNEL_CUTOFF_LEL, "%LEL",
                           "GB 50838-2015 §7.5: the emergency cut-off of a gas compartment is set at no more than "
                           "25 %LEL (MODELS.md read 35)"),
                 )),
    ]


@hookimpl
def twin_alarm_rules():
    return [AlarmRule("gas.lel", "gas", "risk", "Combustible gas in an underground space",
                      title_zh="地下空间可燃气体浓度超限", kinds=SPACES, raise_dwell=2.0, clear_dwell=30.0)]


# [docs:start grouping]
@hookimpl
def twin_incident_groupings():
    # One leak fills the spaces beside its main, on both sides of the nearest valves:
    # gas alarms within 150 m and an hour of each other are one incident.
    return [IncidentGrouping("gas", distance=150.0, window=3600.0,
                             description="the spaces one leak fills: within 150 m of each other, within an hour")]
# [docs:end grouping]


def leak(world, asset_id, diameter, cd):
    """A hole of equivalent ``diameter`` (m) and discharge coefficient ``cd`` opens in a main."""
    table, row = world.locate(asset_id)
    bore = float(table["diameter"][row])
    if diameter > bore:
        raise ValueError(f"gas.leak on {asset_id!r}: hole diameter {diameter} m is larger than the main's "
                         f"diameter {bore} m; valid is (0, {bore}] m")
    table["leak_diameter"][row] = diameter
    table["discharge_coefficient"][row] = cd


def repair(world, asset_id):
    table, row = world.locate(asset_id)
    table["leak_diameter"][row] = 0.0
    table["leak_rate"][row] = 0.0


def set_valve(open_: int):
    def apply(world, asset_id):
        table, row = world.locate(asset_id)
        table["valve_open"][row] = open_
    return apply


@hookimpl
def twin_actions():
    return [
        Action("gas.leak", "gas", leak, "a hole opens in a main", (
            ActionParam("diameter", "m", "equivalent diameter of the hole", valid=(0.0005, 1.6)),
            ActionParam("cd", "1", "discharge coefficient (0.62 for a sharp-edged hole)", model.SHARP_HOLE_CD,
                        valid=(0.1, 1.0)),
        ), kinds=("main",)),
        Action("gas.repair", "gas", repair, "the hole in a main is clamped", kinds=("main",)),
        Action("gas.close_valve", "gas", set_valve(0), "close a valve: isolate its mains and vent them",
               kinds=("valve",)),
        Action("gas.open_valve", "gas", set_valve(1), "reopen a valve: its mains return to operating pressure",
               kinds=("valve",)),
    ]


@hookimpl
def twin_viewer_styles():
    return [ViewerStyle("gas", "Gas", "燃气", "#f2a900", colour_field="risk",
                        field_labels_zh={f.name: f.label_zh for f in FIELDS})]


@hookimpl
def twin_asset_generators():
    # After drainage (spaces beside its manholes and pipes) and the tunnel (mains in its
    # gas compartments); without them the gas network stands alone.
    return [AssetGenerator("gas", generate.generate, after=("drainage", "tunnel"))]
