"""The synthetic city's gas network: a main under each street, its valve and valve well,
and the manholes, sewer and cable vaults beside it, with their detectors.

Arterials (every third street) carry medium-pressure A mains (0.4 MPa gauge, DN300-400),
the others medium-pressure B (0.15 MPa) or low-pressure (3 kPa) distribution mains,
after GB 50028-2006's pressure classes. Mains lie 6 m off the street's centreline at
1.2 m cover (GB 50028-2006 asks at least 0.9 m under a carriageway); the sewer and its
manholes run under the carriageway's centreline. Streets over the river have no main (the bridge carries it).

Beside other domains (the generator runs after ``drainage`` and ``tunnel`` when they are
there; without them it places the same assets with the same ids):

- drainage: each manhole *is* the drainage manhole nearest it (within 8 m): it moves
  there, takes its shaft (volume = shaft area times rim - invert) and links it, so it
  takes that node's water depth (coupling ``gas.sewer_water``). The sewer segment is the
  drainage pipe between the two manholes' nodes (else the first node's outlet pipe): it
  takes the pipe's bore and length, links the pipe and the gas manholes at its ends, and
  exchanges gas with them at k = E A / (L/2) (E ``model.SEWER_DISPERSION``, A the
  pipe's section, L its length).
- tunnel: every gas compartment carries a medium-pressure A main (DN300, 0.4 MPa) that
  links the compartment, with its own shut-off valve; ids follow the street network's.
"""

from __future__ import annotations

import math

from twin.authoring.citygen import CityPlan, line, point

from twin_gas.model import ATMOSPHERIC, SEWER_DISPERSION

GAS_COMPANY = "合肥燃气集团有限公司"
SEWER_OWNER = "合肥市排水管理办公室"
CABLE_OWNERS = ("国网安徽省电力有限公司合肥供电公司", "中国电信股份有限公司合肥分公司")
MAIN_OFFSET = 6.0  # m from the street's centreline
COVER = 1.2  # m of soil above the main
CH4_NOISE = 0.05  # %vol (1 %LEL): a catalytic or laser methane detector
PRESSURE_NOISE = 500.0  # Pa: 0.1 % of a 0.5 MPa transmitter's span
BESIDE = 8.0  # m: a gas manhole is the drainage manhole within this distance
TUNNEL_MAIN = (0.3, 0.4e6)  # diameter (m) and gauge pressure (Pa) of a main in a tunnel's gas compartment


def generate(plan: CityPlan) -> None:
    # How often each kind of sensor reports (s): methane, the hazard, every 5 s; pressure
    # every 10 s; a valve's position, which changes only when someone turns it, each minute.
    for field_name, seconds in (("ch4", 5.0), ("pressure", 10.0), ("valve_open", 60.0)):
        plan.report_every("gas", field_name, seconds)
    rng = plan.rng("gas")
    width = max(4, len(str(2 * len(plan.streets))))
    count: dict[str, int] = {}
    block = plan.width / plan.blocks_x  # metres between street centrelines

    def new_id(prefix: str) -> str:
        count[prefix] = count.get(prefix, 0) + 1
        return f"{prefix}-{count[prefix]:0{width}d}"

    drainage = _Drainage(plan) if plan.assets_of("drainage") else None
    for street in plan.streets:
        if street.crosses_river:
            continue
        across = street.start[1] if street.axis == "ew" else street.start[0]
        arterial = round(across / block) % 3 == 0
        if arterial:
            gauge, diameter = 0.4e6, float(rng.choice([0.3, 0.4]))
        elif rng.random() < 0.7:
            gauge, diameter = 0.15e6, float(rng.choice([0.15, 0.2]))
        else:
            gauge, diameter = 3.0e3, float(rng.choice([0.1, 0.15]))

        def at(s: float, offset: float) -> tuple[float, float]:
            """Position ``s`` metres along the street, ``offset`` to its left."""
            (x0, y0), (x1, y1) = street.start, street.end
            length = math.hypot(x1 - x0, y1 - y0)
            ux, uy = (x1 - x0) / length, (y1 - y0) / length
            return x0 + s * ux - offset * uy, y0 + s * uy + offset * ux

        def below(s: float, offset: float, depth: float) -> dict:
            x, y = at(s, offset)
            return point(x, y, plan.ground(x, y) - depth)

        pipe_depth = COVER + diameter / 2
        path = [(*at(s, MAIN_OFFSET), 0.0) for s in (4.0, 40.0, 80.0, 116.0)]
        main = new_id("G-M")
        plan.add_asset("gas", main, "main", line([(x, y, plan.ground(x, y) - pipe_depth) for x, y, _ in path]),
                       GAS_COMPANY, {"diameter": diameter, "operating_pressure": ATMOSPHERIC + gauge})
        if gauge >= 0.2e6:
            plan.add_sensor(new_id("GS-P"), main, "pressure", noise=PRESSURE_NOISE)

        valve = new_id("G-V")
        plan.add_asset("gas", valve, "valve", below(8.0, MAIN_OFFSET, pipe_depth), GAS_COMPANY,
                       {"vent_diameter": 0.05}, links=[main])
        plan.add_sensor(new_id("GS-VP"), valve, "valve_open")

        side, depth = rng.uniform(1.2, 1.5), rng.uniform(1.8, 2.4)
        _space(plan, new_id("G-VW"), "valve_well", below(8.0, MAIN_OFFSET, depth / 2), GAS_COMPANY, main,
               side * side * depth, side * side, rng.uniform(0.5, 2.0), rng.uniform(0.015, 0.025), sensor=new_id("GS-CH4"))

        manholes = []
        for n, s in enumerate((40.0, 80.0)):
            bore, depth = float(rng.choice([1.0, 1.25])), rng.uniform(2.5, 4.0)
            area = math.pi / 4 * bore**2
            # The first manhole of each main has a detector, the second does not.
            manholes.append(_space(plan, new_id("G-MH"), "manhole", below(s, 0.0, depth / 2), SEWER_OWNER, main,
                                   area * depth, area, rng.uniform(1.0, 3.0), rng.uniform(0.008, 0.012),
                                   sensor=new_id("GS-CH4") if n == 0 else None))

        bore, depth = float(rng.choice([0.6, 0.8, 1.0])), rng.uniform(2.5, 4.0)
        sewer = _space(plan, new_id("G-SW"), "sewer_segment", below(60.0, 0.0, depth), SEWER_OWNER, main,
                       math.pi / 4 * bore**2 * 40.0, bore * 40.0, None, rng.uniform(0.003, 0.006),
                       sensor=new_id("GS-CH4"), ventilation=rng.uniform(0.01, 0.03),
                       background_ch4=rng.uniform(0.05, 0.25))
        if drainage is not None:
            drainage.place(manholes, sewer)

        if rng.random() < 1 / 3:
            _space(plan, new_id("G-CV"), "cable_vault", below(100.0, -MAIN_OFFSET, 0.9), str(rng.choice(CABLE_OWNERS)),
                   main, 2.0 * 1.5 * 1.8, 2.0 * 1.5, rng.uniform(0.3, 1.0), rng.uniform(0.004, 0.008),
                   sensor=new_id("GS-CH4"))

    for compartment in plan.assets_of("tunnel", "gas_compartment"):
        # The main in a tunnel's gas compartment (GB 50838-2015 §4.3: natural gas in its
        # own compartment), on supports at mid-height, with its shut-off valve at the
        # section's west fire wall; no soil, so no spaces beside it: it leaks into the
        # compartment itself (coupling ``tunnel.gas_mains``).
        diameter, gauge = TUNNEL_MAIN
        path = [tuple(c) for c in compartment["geometry"]["coordinates"]]
        main = new_id("G-M")
        plan.add_asset("gas", main, "main", line(path), GAS_COMPANY,
                       {"diameter": diameter, "operating_pressure": ATMOSPHERIC + gauge},
                       links=[compartment["properties"]["id"]])
        plan.add_sensor(new_id("GS-P"), main, "pressure", noise=PRESSURE_NOISE)
        valve = new_id("G-V")
        plan.add_asset("gas", valve, "valve", point(*path[0]), GAS_COMPANY, {"vent_diameter": 0.05}, links=[main])
        plan.add_sensor(new_id("GS-VP"), valve, "valve_open")

    if plan.preset == "demo":
        incident = demo_incident(plan)
        plan.add_incident(incident["at"], incident["action"], incident["asset"], **incident["params"])


def _space(plan: CityPlan, asset_id: str, kind: str, where: dict, owner: str, main: str, volume: float,
           floor_area: float, air_changes: float | None, share: float, sensor: str | None,
           ventilation: float | None = None, background_ch4: float = 0.0) -> None:
    """A space beside ``main``; ventilation from air changes per hour unless given in m3/s."""
    if ventilation is None:
        ventilation = volume * air_changes / 3600.0
    attributes = {"volume": round(volume, 3), "floor_area": round(floor_area, 3), "ventilation": round(ventilation, 6),
                  "migration_share": round(share, 4)}
    if background_ch4:
        attributes["background_ch4"] = round(background_ch4, 3)
    feature = plan.add_asset("gas", asset_id, kind, where, owner, attributes, links=[main])
    if sensor:
        plan.add_sensor(sensor, asset_id, "ch4", noise=CH4_NOISE)
    return feature


class _Drainage:
    """The drainage network of the plan, to put manholes and sewers where its are."""

    def __init__(self, plan: CityPlan) -> None:
        self.plan = plan
        self.cells: dict[tuple[int, int], list[dict]] = {}  # a grid of BESIDE-sized cells: big cities stay linear
        for f in plan.assets_of("drainage", "manhole"):
            x, y = f["geometry"]["coordinates"][:2]
            self.cells.setdefault((math.floor(x / BESIDE), math.floor(y / BESIDE)), []).append(f)
        self.pipes = {tuple(f["properties"]["links"]): f for f in plan.assets_of("drainage", "pipe")}
        self.outlet = {links[0]: f for links, f in self.pipes.items()}

    def nearest(self, x: float, y: float) -> dict | None:
        best, found = BESIDE, None
        cx, cy = math.floor(x / BESIDE), math.floor(y / BESIDE)
        for i in (cx - 1, cx, cx + 1):
            for j in (cy - 1, cy, cy + 1):
                for f in self.cells.get((i, j), ()):
                    mx, my = f["geometry"]["coordinates"][:2]
                    d = math.hypot(mx - x, my - y)
                    if d < best:
                        best, found = d, f
        return found

    def place(self, manholes: list[dict], sewer: dict) -> None:
        nodes = []
        for f in manholes:
            x, y, _ = f["geometry"]["coordinates"]
            node = self.nearest(x, y)
            nodes.append(node["properties"]["id"] if node else None)
            if node is None:
                continue
            p, q = f["properties"], node["properties"]
            nx, ny, _ = node["geometry"]["coordinates"]
            height = q["rim_elevation"] - q["invert_elevation"]
            air_changes = p["ventilation"] / p["volume"]
            f["geometry"] = point(nx, ny, q["invert_elevation"] + height / 2)
            p["volume"] = round(q["shaft_area"] * height, 3)
            p["floor_area"] = q["shaft_area"]
            p["ventilation"] = round(air_changes * p["volume"], 6)
            p["links"].append(q["id"])
        a, b = nodes
        pipe = self.pipes.get((a, b)) or self.pipes.get((b, a)) or self.outlet.get(a) or self.outlet.get(b)
        if pipe is None:
            return
        q, p = pipe["properties"], sewer["properties"]
        (x0, y0, z0), (x1, y1, z1) = pipe["geometry"]["coordinates"]
        area = math.pi / 4 * q["diameter"] ** 2
        sewer["geometry"] = point((x0 + x1) / 2, (y0 + y1) / 2, (z0 + z1) / 2)
        air_changes = p["ventilation"] / p["volume"]
        p["volume"] = round(area * q["length"], 3)
        p["ventilation"] = round(air_changes * p["volume"], 6)
        # V_air = V - A h with A = V / D: all air when dry, none when full (MODELS.md's linear
        # form; the circular section's own curve differs from it by at most 6 % of V)
        p["floor_area"] = round(area * q["length"] / q["diameter"], 3)
        p["links"].append(q["id"])
        ends = [f for f, node in zip(manholes, nodes) if node in q["links"]]
        if ends:
            p["links"] += [f["properties"]["id"] for f in ends]
            p["exchange"] = round(SEWER_DISPERSION * area / (q["length"] / 2), 6)


def demo_incident(plan: CityPlan) -> dict:
    """The demo's background incident: a 12 mm hole at t = 5 s in the medium-pressure A
    main nearest the centre of town; its first manhole's detector sees the gas.

    Returns the incident and, under ``"watch"``, that manhole's id.
    """
    cx, cy = plan.width / 2, plan.height / 2
    best: tuple[float, str] | None = None
    for feature in plan.assets_of("gas", "main"):
        props = feature["properties"]
        if props["operating_pressure"] < ATMOSPHERIC + 0.2e6 or props.get("links"):
            continue  # low pressure, or in a tunnel
        (x0, y0, _), (x1, y1, _) = feature["geometry"]["coordinates"][0], feature["geometry"]["coordinates"][-1]
        distance = math.hypot((x0 + x1) / 2 - cx, (y0 + y1) / 2 - cy)
        if best is None or distance < best[0]:
            best = (distance, props["id"])
    if best is None:
        raise ValueError("the plan has no medium-pressure gas main for the demo incident")
    main = best[1]
    monitored = {s["asset"] for s in plan.sensors if s["field"] == "ch4"}
    watch = next(f["properties"]["id"] for f in plan.assets_of("gas", "manhole")
                 if f["properties"]["links"][0] == main and f["properties"]["id"] in monitored)
    return {"at": 5.0, "action": "gas.leak", "asset": main, "params": {"diameter": 0.012, "cd": 0.62}, "watch": watch}

