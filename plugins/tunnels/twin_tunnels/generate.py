"""The synthetic city's utility tunnels and metro stations.

A tunnel runs under the east-west avenue through the middle of the grid (and, in a big
city, under every sixth avenue from there), in fire sections one block (120 m) long
between the cross streets: GB 50838-2015 §7.1 asks for fire walls at most 200 m apart.
Each section has a power, a water and a gas compartment side by side, roofed at 3 m of
cover; the gas compartment is on its own side, as the code separates it. A metro
station box lies under the cross street at the tunnel's middle intersection (and every
sixth one from there). Sizes are those of common urban tunnels (power 2.6 x 3.2 m,
water 2.4 x 3.2 m, gas 1.8 x 3.2 m) and of a two-level island station
(180 x 21 x 12 m). Everything comes from ``plan.rng("tunnel")``.

Links besides the neighbouring sections: a water or gas compartment links the power
compartment of its section (whose distribution panel feeds its fans and pumps, coupling
``tunnel.power``); when the plan has a drainage network (this generator runs after it),
each station's entrance and each compartment's vent opening links the drainage manhole
nearest it (coupling ``tunnel.street_water``). Entrances are 5 m wide behind a 0.45 m
sill (GB 50157-2013 raises station entrances 0.3-0.45 m above the street); vent and
hatch openings are 1 m wide behind a 0.5 m upstand (a *default*: GB 50838-2015 asks only
that openings keep street water out).
"""

from __future__ import annotations

import math

from twin.authoring.citygen import BLOCK, line, polygon

OWNER_TUNNEL = "合肥市城市综合管廊投资运营有限公司"
OWNER_METRO = "合肥市轨道交通集团有限公司"
COVER = 3.0  # m of soil over the tunnel's roof
HEIGHT = 3.2  # m, clear height of every compartment
WALL = 0.3  # m
#: (kind, id prefix, nominal width m) across the avenue from south to north
COMPARTMENTS = (("power_compartment", "T-P", 2.6), ("water_compartment", "T-W", 2.4), ("gas_compartment", "T-G", 1.8))
#: every this many rows of avenues and columns of stations
SPACING = 6
#: W per m of compartment wall and K: a concrete wall in moist soil, long-term
WALL_U = 0.8
#: (width m, sill m) of a station entrance and of a compartment's vent or hatch opening
ENTRANCE = (5.0, 0.45)
VENT = (1.0, 0.5)
#: an opening links a drainage manhole within this distance (m)
REACH = 40.0


class _Manholes:
    """Drainage manholes of the plan on a grid of REACH-sized cells (linear in big cities)."""

    def __init__(self, plan):
        self.cells = {}
        for f in plan.assets_of("drainage", "manhole"):
            x, y = f["geometry"]["coordinates"][:2]
            self.cells.setdefault((math.floor(x / REACH), math.floor(y / REACH)), []).append(f)

    def nearest(self, x, y):
        best, found = REACH, None
        cx, cy = math.floor(x / REACH), math.floor(y / REACH)
        for i in (cx - 1, cx, cx + 1):
            for j in (cy - 1, cy, cy + 1):
                for f in self.cells.get((i, j), ()):
                    mx, my = f["geometry"]["coordinates"][:2]
                    d = math.hypot(mx - x, my - y)
                    if d < best:
                        best, found = d, f["properties"]["id"]
        return found


def tunnel_rows(plan):
    """The east-west avenues (street row indices j) that carry a tunnel."""
    centre = plan.blocks_y // 2
    return [j for j in range(1, plan.blocks_y) if (j - centre) % SPACING == 0] or [centre]


def station_columns(plan):
    """The intersections (column indices i) along a tunnel with a metro station."""
    centre = plan.blocks_x // 2
    return [i for i in range(1, plan.blocks_x) if (i - centre) % SPACING == 0] or [centre]


def generate(plan):
    # How often each kind of sensor reports (s): gas and fire detection every 5 s, the
    # air every 10 s (humidity 30 s), the sump every 30 s, fans' and pumps' states each minute.
    for field_name, seconds in (("ch4", 5.0), ("fire", 5.0), ("ceiling_temperature", 5.0), ("h2s", 10.0), ("co", 10.0),
                                ("o2", 10.0), ("temperature", 10.0), ("humidity", 30.0), ("sump_level", 30.0),
                                ("fan_mode", 60.0), ("pump_on", 60.0)):
        plan.report_every("tunnel", field_name, seconds)
    rng = plan.rng("tunnel")
    drains = _Manholes(plan)
    count = {prefix: 0 for _, prefix, _ in COMPARTMENTS}
    stations = 0
    for j in tunnel_rows(plan):
        y_axis = j * BLOCK
        widths = [w + round(float(rng.uniform(-0.2, 0.2)), 1) for _, _, w in COMPARTMENTS]
        total = sum(widths) + WALL * (len(widths) + 1)
        offsets, edge = [], y_axis - total / 2 + WALL
        for w in widths:
            offsets.append(edge + w / 2)
            edge += w + WALL
        previous: dict[str, str] = {}
        section_ids: list[dict[str, str]] = []
        for i in range(plan.blocks_x):
            x0, x1 = i * BLOCK, (i + 1) * BLOCK
            ids = {}
            for (kind, prefix, _), width, y in zip(COMPARTMENTS, widths, offsets):
                count[prefix] += 1
                ids[kind] = f"{prefix}-{count[prefix]:04d}"
            section_ids.append(ids)
            for (kind, prefix, _), width, y in zip(COMPARTMENTS, widths, offsets):
                asset_id = ids[kind]
                length = x1 - x0
                z0 = plan.ground(x0, y) - COVER - HEIGHT / 2
                z1 = plan.ground(x1, y) - COVER - HEIGHT / 2
                area = width * HEIGHT
                attributes = {
                    "length": length,
                    "cross_section": round(area, 3),
                    "ceiling_height": HEIGHT,
                    "volume": round(area * length, 1),
                    "ua": round(WALL_U * 2 * (width + HEIGHT) * length, 1),
                    "soil_temperature": round(float(rng.uniform(16.5, 19.0)), 1),
                    "inlet_temperature": 25.0,
                    "inlet_humidity": 70.0,
                    "normal_ach": 6.0,
                    "emergency_ach": 12.0,
                    "h2s_emission": round(float(rng.uniform(0.05, 0.4 if kind == "water_compartment" else 0.1)), 3),
                    "sump_area": 1.44,  # a 1.2 x 1.2 m pit
                    "floor_area": round(width * length, 1),
                    "sump_depth": 1.5,
                    "pump_stop": 0.3,
                    "pump_start": 0.8,
                    "sump_high": 1.2,
                    "pump_capacity": round(float(rng.choice([25.0, 30.0, 40.0])) / 3600.0, 5),  # m3/h -> m3/s
                    "seepage": round(float(rng.uniform(0.5, 3.0)) * 1e-6, 8),
                    "detector_temperature": 57.0,
                }
                if kind == "power_compartment":
                    # 110 kV and 10 kV circuits: 35-60 W of losses per metre at load
                    attributes["cable_heat"] = round(float(rng.uniform(35.0, 60.0)) * length, 0)
                attributes["opening_width"], attributes["sill_height"] = VENT
                links = [previous[kind]] if kind in previous else []
                if i + 1 < plan.blocks_x:
                    links.append(f"{prefix}-{count[prefix] + 1:04d}")
                if kind != "power_compartment":
                    links.append(ids["power_compartment"])  # its section's distribution panel
                drain = drains.nearest((x0 + x1) / 2, y)  # the vent opens at mid-section
                if drain:
                    links.append(drain)
                plan.add_asset("tunnel", asset_id, kind, line([(x0 + WALL, y, z0), (x1 - WALL, y, z1)]),
                               OWNER_TUNNEL, attributes, links)
                previous[kind] = asset_id
                _add_sensors(plan, asset_id, kind)
        for i in station_columns(plan):
            stations += 1
            x = i * BLOCK
            station_id = f"T-S-{stations:04d}"
            length, width, height = 180.0, 21.0, 12.0
            plan.add_asset(
                "tunnel", station_id, "metro_station",
                polygon([(x - width / 2, y_axis - length / 2), (x + width / 2, y_axis - length / 2),
                         (x + width / 2, y_axis + length / 2), (x - width / 2, y_axis + length / 2)]),
                OWNER_METRO,
                {
                    "length": length, "cross_section": width * height / 2, "ceiling_height": 4.5,
                    "volume": length * width * height, "ua": 20000.0,
                    "cable_heat": round(float(rng.uniform(120e3, 180e3)), 0),
                    "soil_temperature": 18.0, "normal_ach": 4.0, "emergency_ach": 8.0, "h2s_emission": 0.2,
                    "sump_area": 6.0, "floor_area": length * width, "sump_depth": 2.0, "pump_stop": 0.4,
                    "pump_start": 1.0, "sump_high": 1.5, "pump_capacity": 0.05, "seepage": 2e-5,
                    "sill_height": ENTRANCE[1], "opening_width": ENTRANCE[0],
                },
                # the sections beside it, whose water and air it shares; the street its entrance opens on
                [section_ids[i - 1]["power_compartment"], section_ids[i]["power_compartment"]]
                + ([drain] if (drain := drains.nearest(x, y_axis)) else []),
            )
            for field, noise in (("temperature", 0.2), ("o2", 0.05), ("sump_level", 0.01), ("pump_on", 0.0)):
                plan.add_sensor(f"{station_id}-{field}", station_id, field, noise=noise)
    if plan.preset == "demo" and stations:
        # Life in the demo: water from a leaking joint reaches the station's sump; its
        # pumps cycle about every seven minutes, well below any alarm.
        plan.add_incident(60.0, "tunnel.water_ingress", "T-S-0001", rate=0.01)


def _add_sensors(plan, asset_id, kind):
    """The monitoring GB 50838-2015 §7.5 asks for: temperature, humidity and O2 in every
    compartment, CH4 in the gas compartment, H2S where water stands, linear heat
    detection and a fire panel in the power and gas compartments, sump level and the
    status of fans and pumps everywhere."""
    sensors = [("temperature", 0.2), ("humidity", 1.0), ("o2", 0.05), ("sump_level", 0.01), ("fan_mode", 0.0),
               ("pump_on", 0.0)]
    if kind == "gas_compartment":
        sensors += [("ch4", 0.5)]
    if kind == "water_compartment":
        sensors += [("h2s", 0.1)]
    if kind in ("power_compartment", "gas_compartment"):
        sensors += [("ceiling_temperature", 0.3), ("fire", 0.0), ("co", 1.0)]
    for field, noise in sensors:
        plan.add_sensor(f"{asset_id}-{field}", asset_id, field, noise=noise)
