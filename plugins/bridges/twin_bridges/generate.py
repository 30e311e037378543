"""Places the bridges of a synthetic city: one steel-concrete composite girder bridge
wherever a street crosses the river, its deck spans, its piers in the water, and the
structural health monitoring sensors on them.

Sizes follow common practice for urban river crossings of 60-80 m: two or three simply
supported spans of 15-40 m, four lanes, first frequency near 100/L Hz, sections sized
so that a healthy deck's measured frequency is 6-14 % above the design calculation's.
The section is the whole deck's, six steel girders with their slab: about 0.63 m^4 for
a 40 m span, 0.105 m^4 a girder, with the gauge 0.7 of the depth (L/20 + 0.3 m) below
the neutral axis. A check by hand: a 2.3 m deep composite plate girder (bottom flange
600x40 mm, web 1985x16, top flange 400x25, a 3.2 m x 250 mm slab at Es/Ec = 6) has
I = 0.124 m^4 with its neutral axis at 0.75 of the depth. A heavy vehicle loads the
girders under its lane most: the fatigue detail sits on the edge girder under a kerb
lane, whose share of a vehicle comes from Courbon's method (:func:`courbon_share`):
0.40 for the kerb lane above it, 2.4 times an even sixth.
"""

from __future__ import annotations

import math

from twin.authoring.citygen import RIVER_HALF_WIDTH, CityPlan, line, point

DOMAIN = "bridge"
OWNERS = ("合肥市市政设施管理处", "合肥市重点工程建设管理局", "合肥城建投资控股有限公司", "合肥市公路桥梁工程有限责任公司")
#: span arrangements (m) between the abutments, which stand 5 m behind each bank
LAYOUTS = ((35.0, 35.0), (20.0, 30.0, 20.0), (17.5, 35.0, 17.5), (15.0, 40.0, 15.0))
STEEL_E = 206_000.0  # MPa (GB 50017-2017); sections are transformed to steel
LANE_WIDTH = 3.5  # m
SIDEWALK_WIDTH = 2.5  # m
#: lateral reduction of multi-lane loading, JTG D60-2015 Table 4.3.1-5 (lanes -> factor)
LANE_REDUCTION = {1: 1.2, 2: 1.0, 3: 0.78, 4: 0.67, 5: 0.60, 6: 0.55, 7: 0.52, 8: 0.50}
#: main girders and their spacing (m): 2.5-3.5 m is the usual spacing of steel-concrete
#: composite plate-girder decks; six at 3.2 m carry the 19 m deck with 1.5 m cantilevers
GIRDERS = 6
GIRDER_SPACING = 3.2


def courbon_share(girders: int, spacing: float, girder: int, eccentricity: float) -> float:
    """Share of a load at ``eccentricity`` (m from the deck's centre line) that girder
    ``girder`` (0 .. girders - 1, from one edge) of equal, equally spaced girders
    carries, by Courbon's method (rigid cross-beams; the "eccentric compression method",
    偏心压力法, of the Chinese bridge-engineering texts): R = 1/n + e·a/Σa², a the
    girders' distances from the centre line. For a vehicle the share at its centre line
    is the mean over its two wheel lines, the influence line being straight.

    Rigid cross-beams suit spans at least twice the deck's width; on the shorter spans
    the method gives the edge girder somewhat more than a grillage would (conservative).
    """
    offsets = [(k - (girders - 1) / 2.0) * spacing for k in range(girders)]
    return 1.0 / girders + eccentricity * offsets[girder] / sum(a * a for a in offsets)


def lane_load_moment(length: float, lanes: int) -> float:
    """Midspan moment (N·m) of the JTG D60-2015 §4.3.1 class-I lane load on a simply
    supported span: q_k = 10.5 kN/m plus P_k = 2(L + 130) kN (270 kN up to 5 m, 360 kN
    from 50 m) in each lane, times the multi-lane reduction factor."""
    point_load = min(max(2.0 * (length + 130.0), 270.0), 360.0) * 1e3
    per_lane = 10.5e3 * length**2 / 8.0 + point_load * length / 4.0
    return lanes * LANE_REDUCTION[lanes] * per_lane


def generate(plan: CityPlan) -> None:
    # How often each kind of sensor reports (s): strain, deflection, acceleration and
    # weigh-in-motion every 5 s (summaries of their fast sampling); the modal frequency and
    # the deck temperature each minute; a pier's settlement, a levelling, every 5 minutes.
    for field_name, seconds in (("strain", 5.0), ("deflection", 5.0), ("acceleration", 5.0), ("vehicle_load", 5.0),
                                ("frequency", 60.0), ("temperature", 60.0), ("settlement", 300.0)):
        plan.report_every(DOMAIN, field_name, seconds)
    rng = plan.rng(DOMAIN)
    crossings = sorted((s for s in plan.streets if s.crosses_river), key=lambda s: s.id)
    abutment = RIVER_HALF_WIDTH + 5.0
    spans = piers = 0
    for number, street in enumerate(crossings, start=1):
        x = street.start[0]
        layout = LAYOUTS[int(rng.integers(len(LAYOUTS)))]
        owner = OWNERS[int(rng.integers(len(OWNERS)))]
        lanes = 4
        width = lanes * LANE_WIDTH + 2 * SIDEWALK_WIDTH
        # the detail's girder is the last edge girder; the kerb lanes' centres are half a
        # lane inside the carriageway's edges, on its side and on the other
        kerb_lane = lanes * LANE_WIDTH / 2.0 - LANE_WIDTH / 2.0
        near_share = courbon_share(GIRDERS, GIRDER_SPACING, GIRDERS - 1, kerb_lane)
        far_share = courbon_share(GIRDERS, GIRDER_SPACING, GIRDERS - 1, -kerb_lane)
        service_age = float(round(rng.uniform(5.0, 30.0), 1))
        detail_category = float(rng.choice([56.0, 71.0, 80.0, 90.0]))
        y_start, y_end = plan.river_y - abutment, plan.river_y + abutment
        z_start, z_end = plan.ground(x, y_start), plan.ground(x, y_end)

        def deck_level(y: float) -> float:
            # a straight grade between the abutments with a 0.8 m crest vertical curve
            s = (y - y_start) / (y_end - y_start)
            return z_start + (z_end - z_start) * s + 0.8 * math.sin(math.pi * s)

        main = max(range(len(layout)), key=lambda k: layout[k])
        ids = [f"B-S-{spans + k + 1:04d}" for k in range(len(layout))]
        pier_ids = [f"B-P-{piers + k + 1:04d}" for k in range(len(layout) - 1)]
        y = y_start
        for k, length in enumerate(layout):
            y0, y1 = y, y + length
            y = y1
            mass = width * rng.uniform(900.0, 1100.0)  # kg/m: slab, girders, paving
            frequency = 100.0 / length * rng.uniform(0.9, 1.1)
            rigidity = mass * (2.0 * length**2 * frequency / math.pi) ** 2
            depth = length / 20.0 + 0.3
            fibre = 0.7 * depth  # neutral axis high in a composite section
            design_strain = lane_load_moment(length, lanes) * fibre / rigidity * 1e6
            attributes = {
                "length": length, "elastic_modulus": STEEL_E,
                "moment_of_inertia": round(rigidity / (STEEL_E * 1e6), 6),
                "mass_per_length": round(mass, 1), "fibre_distance": round(fibre, 3), "lanes": lanes,
                "design_frequency": round(frequency / rng.uniform(1.06, 1.14), 4),
                "deflection_limit": round(length / 600.0 * 1000.0, 3),
                "design_live_strain": round(design_strain, 2), "girders": GIRDERS,
                "near_lane_share": round(near_share, 5), "far_lane_share": round(far_share, 5),
                "detail_category": detail_category,
                "design_life": 100.0, "service_age": service_age,
                "initial_damage": round(service_age / 100.0 * rng.uniform(0.1, 0.45), 5),
                "bridge": f"B-{number:04d}", "name": f"{street.id} bridge", "name_zh": f"{number}号桥",
            }
            links = [p for p in (pier_ids[k - 1] if k > 0 else None, pier_ids[k] if k < len(pier_ids) else None) if p]
            geometry = line([(x, y0, deck_level(y0)), (x, (y0 + y1) / 2, deck_level((y0 + y1) / 2)), (x, y1, deck_level(y1))])
            plan.add_asset(DOMAIN, ids[k], "span", geometry, owner, attributes, links)
            monitored = (("strain", 2.0), ("deflection", 0.3))
            if k == main:
                monitored += (("acceleration", 0.01), ("frequency", 0.005), ("temperature", 0.2), ("vehicle_load", 1.0))
            for field_name, noise in monitored:
                plan.add_sensor(f"{ids[k]}-{SENSOR_CODES[field_name]}", ids[k], field_name, noise=noise)
            if k < len(pier_ids):
                adjacent = max(length, layout[k + 1], 25.0)
                bearing = deck_level(y1) - depth - 0.3
                bed = plan.ground(x, plan.river_y) - 3.0
                plan.add_asset(DOMAIN, pier_ids[k], "pier", point(x, y1, bearing), owner, {
                    "settlement_limit": round(20.0 * math.sqrt(adjacent), 1),
                    "surveyed_settlement": round(rng.uniform(1.0, 12.0), 1),
                    "pier_height": round(bearing - bed, 2), "bridge": f"B-{number:04d}",
                }, [ids[k], ids[k + 1]])
                plan.add_sensor(f"{pier_ids[k]}-{SENSOR_CODES['settlement']}", pier_ids[k], "settlement", noise=0.3)
        spans += len(layout)
        piers += len(pier_ids)


#: sensor id suffixes: strain gauge, displacement, accelerometer, frequency (from the
#: accelerometer's spectrum), thermometer, weigh-in-motion, static level
SENSOR_CODES = {"strain": "SG", "deflection": "DS", "acceleration": "AC", "frequency": "FQ", "temperature": "TM",
                "vehicle_load": "WIM", "settlement": "LV"}
