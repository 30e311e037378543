"""The synthetic city's storm drainage: a tree of gravity sewers that drains every
street towards the river.

Each north-south street carries a trunk sewer from the far edge of the district down to
an outfall on its river bank; each east-west street carries short laterals that drain
to the trunks at the intersections (the western third of a block's street to the west,
the eastern third to the east). Manholes stand at every intersection and every 40 m in
between, 3 m off the street's centreline under the carriageway; each drains a
subcatchment of 0.15-0.35 ha of the blocks beside it (C 0.55-0.85, rational method);
water that rises out of it ponds on 300-800 m2 of street around the inlet.

Pipes are designed as an engineer would (GB 50014-2021): design flow C·i·A over
everything upstream at a design intensity of DESIGN_INTENSITY, the smallest standard
diameter whose full Manning capacity carries it, at least MIN_SLOPE, crowns at
COVER below the street. Then, as in every real city, a few legacy pipes were never
upsized: about one trunk pipe in fifty is two sizes too small and laid flat. They are
where a heavy storm surcharges first.
"""

from __future__ import annotations

import math

from twin.authoring.citygen import CityPlan, line, point

from twin_drainage.model import MM_PER_HOUR, manning_full_capacity

OWNER_TRUNK = "合肥市排水管理办公室"
OWNER_LATERAL = "合肥城建排水工程有限公司"
SIZES = (0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.2, 1.35, 1.5, 1.65, 1.8, 2.0)  # m, standard DN
DESIGN_INTENSITY = 110.0  # mm/h: about a 3-year, 10-minute storm (GB 50014-2021: P = 3-5 a in big cities)
COVER = 1.5  # m of soil over a pipe's crown
MIN_SLOPE = 0.002  # GB 50014: self-cleansing slope of a DN 800-1000 storm sewer
LEGACY_SLOPE = 0.001  # m/m: a settled legacy pipe
SPACING = 40.0  # m between manholes along a street
OFFSET = 3.0  # m off the street's centreline
ROUGHNESS = 0.013  # Manning n, concrete pipe
DEPTH_NOISE = 0.005  # m: a radar level sensor in the shaft
RAIN_NOISE = 0.2  # mm/h: a tipping-bucket gauge
FLOW_NOISE = 0.01  # m3/s: an area-velocity meter in the outfall pipe
GAUGE_EVERY = 4  # blocks between rain gauges, both ways


def generate(plan: CityPlan) -> None:
    # How often each kind of sensor reports (s): levels and flows every 10 s (a storm
    # fills a manhole in minutes), rain gauges each minute (they count tips per minute).
    for field_name, seconds in (("depth", 10.0), ("flow", 10.0), ("rain_intensity", 60.0)):
        plan.report_every("drainage", field_name, seconds)
    rng = plan.rng("drainage")
    block = plan.width / plan.blocks_x
    south_of_river = [j for j in range(plan.blocks_y + 1) if j * block < plan.river_y]
    north_of_river = [j for j in range(plan.blocks_y + 1) if j * block > plan.river_y]

    # --- nodes and the tree (each manhole names the node its one outlet pipe drains to)
    nodes: dict[tuple, dict] = {}  # key -> {x, y, trunk}
    downstream: dict[tuple, tuple] = {}

    def node(key: tuple, x: float, y: float, trunk: bool) -> tuple:
        nodes.setdefault(key, {"x": x, "y": y, "trunk": trunk})
        return key

    for i in range(plan.blocks_x + 1):
        x = i * block + OFFSET
        for side, rows, toward in ((-1, south_of_river, +1), (+1, north_of_river, -1)):
            if not rows:
                continue
            # from the far edge to the river: j ascending south of it, descending north
            chain_rows = rows if toward > 0 else rows[::-1]
            chain = []
            for a, j in enumerate(chain_rows):
                chain.append(node(("X", i, j), x, j * block - OFFSET, True))
                if a + 1 < len(chain_rows):
                    for k in range(1, int(block / SPACING)):
                        y = j * block + toward * k * SPACING
                        chain.append(node(("NS", i, j, k * toward), x, y - OFFSET, True))
            bank = plan.river_y + side * 34.0
            chain.append(node(("OF", i, side), x, bank, True))
            for up, down in zip(chain, chain[1:]):
                downstream[up] = down
    for j in range(plan.blocks_y + 1):
        if not any(j in rows for rows in (south_of_river, north_of_river)):
            continue
        y = j * block - OFFSET
        for i in range(plan.blocks_x):
            stops = int(block / SPACING)
            for k in range(1, stops):
                key = node(("EW", i, j, k), i * block + k * SPACING + OFFSET, y, False)
                downstream[key] = ("X", i, j) if k <= stops // 2 else ("X", i + 1, j)

    # Order upstream-first (a tree: count each node's inflowing pipes).
    incoming: dict[tuple, list] = {k: [] for k in nodes}
    for up, down in downstream.items():
        incoming[down].append(up)
    order, ready = [], [k for k in sorted(nodes, key=_key_order) if not incoming[k]]
    waiting = {k: len(v) for k, v in incoming.items()}
    while ready:
        k = ready.pop()
        order.append(k)
        if k in downstream:
            d = downstream[k]
            waiting[d] -= 1
            if waiting[d] == 0:
                ready.append(d)

    # --- subcatchments, design and legacy pipes
    for k in sorted(nodes, key=_key_order):
        n = nodes[k]
        n["ground"] = plan.ground(n["x"], n["y"])
        if k[0] != "OF":
            n["area"] = round(float(rng.uniform(0.15, 0.35)), 3)
            n["c"] = round(float(rng.uniform(0.55, 0.85)), 2)
    trunk_pipes = [k for k in sorted(downstream, key=_key_order) if nodes[k]["trunk"] and downstream[k][0] != "OF"]
    legacy = set()
    if trunk_pipes:
        count = max(2, round(len(trunk_pipes) / 50))
        for idx in rng.choice(len(trunk_pipes), size=min(count, len(trunk_pipes)), replace=False):
            legacy.add(trunk_pipes[int(idx)])

    ca = {k: 0.0 for k in nodes}  # Σ C·A upstream (ha), inclusive
    # Pipes meet crown to crown (管顶平接, GB 50014-2021 5.3): a node's outlet crown lies
    # no higher than the lowest inflowing crown, its invert no higher than any inflow's.
    low = {k: math.inf for k in nodes}  # lowest invert an inflowing pipe arrives at
    low_crown = {k: math.inf for k in nodes}
    widest = {k: 0.0 for k in nodes}  # a pipe is never narrower than those above it
    invert: dict[tuple, float] = {}
    pipes = []
    for k in order:
        n = nodes[k]
        ca[k] += n.get("c", 0.0) * n.get("area", 0.0)
        if k not in downstream:  # an outfall
            invert[k] = min(low[k], n["ground"] - COVER - 0.3)
            continue
        d_key = downstream[k]
        dn = nodes[d_key]
        length = math.hypot(dn["x"] - n["x"], dn["y"] - n["y"])
        design_q = ca[k] * 1.0e4 * DESIGN_INTENSITY * MM_PER_HOUR
        for diameter in SIZES:
            if diameter < widest[k]:
                continue
            inv_up = min(n["ground"] - COVER - diameter, low[k], low_crown[k] - diameter)
            inv_dn = min(dn["ground"] - COVER - diameter, inv_up - MIN_SLOPE * length)
            slope = (inv_up - inv_dn) / length
            if manning_full_capacity(diameter, ROUGHNESS, slope) >= design_q:
                break
        if k in legacy:
            diameter = SIZES[max(0, SIZES.index(diameter) - 2)]
            inv_up = min(n["ground"] - COVER - diameter, low[k], low_crown[k] - diameter)
            inv_dn = inv_up - LEGACY_SLOPE * length
        invert[k] = inv_up
        low[d_key] = min(low[d_key], inv_dn)
        low_crown[d_key] = min(low_crown[d_key], inv_dn + diameter)
        widest[d_key] = max(widest[d_key], diameter)
        ca[d_key] += ca[k]
        pipes.append((k, d_key, diameter, length, inv_up, inv_dn))

    # --- assets and sensors
    width = max(4, len(str(len(nodes))))
    ids: dict[tuple, str] = {}
    counter = {"MH": 0, "OF": 0, "P": 0}

    def new_id(prefix: str) -> str:
        counter[prefix] += 1
        return f"D-{prefix}-{counter[prefix]:0{width}d}"

    gauges = 0
    for k in sorted(nodes, key=_key_order):
        n = nodes[k]
        if k[0] == "OF":
            ids[k] = asset = new_id("OF")
            stage = plan.ground(n["x"], plan.river_y) - 2.5
            plan.add_asset("drainage", asset, "outfall", point(n["x"], n["y"], invert[k]), OWNER_TRUNK, {
                "invert_elevation": round(invert[k], 3),
                "tailwater_elevation": round(min(stage, invert[k] - 0.2), 3),
            })
            continue
        ids[k] = asset = new_id("MH")
        shaft = math.pi / 4 * (1.5 if ca[k] > 3.0 else 1.2) ** 2  # a 1.5 m shaft on big trunks
        plan.add_asset("drainage", asset, "manhole", point(n["x"], n["y"], n["ground"]),
                       OWNER_TRUNK if n["trunk"] else OWNER_LATERAL, {
                           "invert_elevation": round(invert[k], 3),
                           "rim_elevation": round(n["ground"], 3),
                           "shaft_area": round(shaft, 3),
                           "ponding_area": round(float(rng.uniform(300.0, 800.0)), 1),
                           "catchment_area": n["area"],
                           "runoff_coefficient": n["c"],
                       })
        if k[0] == "X":
            plan.add_sensor(f"D-LS-{asset[5:]}", asset, "depth", noise=DEPTH_NOISE)
            if k[1] % GAUGE_EVERY == 0 and k[2] % GAUGE_EVERY == 0:
                plan.add_sensor(f"D-RG-{asset[5:]}", asset, "rain_intensity", noise=RAIN_NOISE)
                gauges += 1
        elif k in legacy:  # a known hot spot: the utility watches it
            plan.add_sensor(f"D-LS-{asset[5:]}", asset, "depth", noise=DEPTH_NOISE)
    for up, down, diameter, length, inv_up, inv_dn in pipes:
        asset = new_id("P")
        a, b = nodes[up], nodes[down]
        plan.add_asset("drainage", asset, "pipe",
                       line([(a["x"], a["y"], inv_up + diameter / 2), (b["x"], b["y"], inv_dn + diameter / 2)]),
                       OWNER_TRUNK if a["trunk"] else OWNER_LATERAL, {
                           "diameter": diameter,
                           "length": round(length, 3),
                           "roughness": ROUGHNESS,
                           "inlet_offset": round(max(inv_up - invert[up], 0.0), 3),
                           "outlet_offset": round(max(inv_dn - invert[down], 0.0), 3),
                       }, links=[ids[up], ids[down]])
        if down[0] == "OF":
            plan.add_sensor(f"D-FM-{asset[4:]}", asset, "flow", noise=FLOW_NOISE)


def _key_order(key: tuple) -> tuple:
    """A total order of node keys (kinds first, then the grid position)."""
    return (key[0],) + tuple(int(v) for v in key[1:])
