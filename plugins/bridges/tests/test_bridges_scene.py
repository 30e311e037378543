"""The plugin in a running twin (Harness): the demo incident, damage, quiet traffic,
and the generator's scene."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin.authoring.citygen import plan_city
from twin.authoring.testing import Harness
from twin_bridges import plugin
from twin_bridges.generate import generate, lane_load_moment

SEED = 20261123
DEMO_SPAN = "B-S-0013"  # the 40 m main span of bridge B-0005, at the centre of the demo district
G = 9.81


def endurance(stress_range, category):
    """N on EN 1993-1-9's curve, written out: 2e6·(Δσc/Δσ)^3 down to Δσd = (2/5)^(1/3)·Δσc,
    5e6·(Δσd/Δσ)^5 down to Δσl = (5/100)^(1/5)·Δσd, no damage below."""
    delta_d = (2 / 5) ** (1 / 3) * category
    if stress_range < (5 / 100) ** (1 / 5) * delta_d:
        return math.inf
    if stress_range >= delta_d:
        return 2e6 * (category / stress_range) ** 3
    return 5e6 * (delta_d / stress_range) ** 5


def detail_peak(table, row, load, lane=1):
    """Stress (MPa) at the span's fatigue detail under ``load`` t at midspan in a kerb
    lane: M = PL/4, the deck's σ = M·y/I, times the detail girder's share of the
    vehicle relative to an even one (girders · share)."""
    share = table["near_lane_share"][row] if lane == 1 else table["far_lane_share"][row]
    moment = load * 1e3 * G * table["length"][row] / 4
    return table["girders"][row] * share * moment * table["fibre_distance"][row] / table["moment_of_inertia"][row] * 1e-6


def demo_overload(plan):
    plan.add_incident(20.0, "bridge.overload", DEMO_SPAN, load=120.0, duration=60.0)


def test_demo_overload_raises_an_alarm_on_the_span_within_a_minute(tmp_path):
    h = Harness(tmp_path, plugins=[plugin], blocks=(8, 7), seed=SEED, plan_hook=demo_overload)
    try:
        h.run(19)
        assert not h.alarms()
        first = None
        for second in range(20, 121):
            h.run(1)
            if first is None and any(a.asset == DEMO_SPAN and a.level >= 1 for a in h.alarms()):
                first = second
        assert first is not None and first <= 30
        alarm = h.alarms(DEMO_SPAN)[0]
        assert alarm.peak_level >= 1 and alarm.owner
        assert {a.asset for a in h.alarms()} == {DEMO_SPAN}
        # the vehicle left at 80 s; the twin only ever learnt of it through its gauges
        assert h.value(DEMO_SPAN, "overload", truth=True) == 0.0 and h.value(DEMO_SPAN, "overload") == 0.0
        assert h.value(DEMO_SPAN, "risk") < 0.25
    finally:
        h.close()


def test_overload_strain_is_the_closed_form_of_a_midspan_load(tmp_path):
    h = Harness(tmp_path, plugins=[plugin], blocks=(8, 7), seed=SEED, simulate=False)
    try:
        h.run(5)
        h.act("bridge.overload", DEMO_SPAN, load=120.0, duration=30.0)
        h.run(1)
        table, row = h.engine.world.locate(DEMO_SPAN)
        L, y = table["length"][row], table["fibre_distance"][row]
        ei = table["elastic_modulus"][row] * 1e6 * table["moment_of_inertia"][row]
        q, truck, at = table["traffic_load"][row] * 1e3, table["truck_load"][row] * 9.81e3, table["truck_position"][row]
        b = min(at, L - at)
        P = 120e3 * 9.81
        moment = q * L**2 / 8 + truck * b / 2 + P * L / 4
        delta = 5 * q * L**4 / 384 / ei + truck * b * (3 * L**2 - 4 * b**2) / 48 / ei + P * L**3 / 48 / ei
        assert table["strain"][row] == pytest.approx(moment * y / ei * 1e6, rel=1e-9)
        assert table["deflection"][row] == pytest.approx(delta * 1e3, rel=1e-9)
        assert table["vehicle_load"][row] == pytest.approx(max(120.0, table["truck_load"][row]))
        h.run(40)
        assert table["overload"][row] == 0.0
    finally:
        h.close()


def test_stiffness_loss_lowers_the_frequency_ratio_and_alarms(tmp_path):
    h = Harness(tmp_path, plugins=[plugin], blocks=(8, 7), seed=SEED)
    try:
        h.run(10)
        before = h.value(DEMO_SPAN, "frequency_ratio")
        h.act("bridge.damage", DEMO_SPAN, fraction=0.3)
        h.run(30)
        after = h.value(DEMO_SPAN, "frequency_ratio")
        # f ∝ sqrt(EI): a 30 % stiffness loss scales λ by sqrt(0.7), within the sensor noise
        assert after / before == pytest.approx(math.sqrt(0.7), abs=0.01)
        assert after < 0.95  # healthy λ is 1.06-1.14, so sqrt(0.7)·λ < 0.95: at least yellow
        assert max(a.level for a in h.alarms(DEMO_SPAN)) >= 2
    finally:
        h.close()


def test_ordinary_traffic_raises_no_alarm_and_adds_small_but_real_fatigue_damage(tmp_path):
    h = Harness(tmp_path, plugins=[plugin], blocks=(8, 7), seed=SEED)
    try:
        truth = h.engine.simulator.world.tables["bridge"]
        spans = truth.rows("span")
        heaviest = peak_risk = 0.0
        h.run(1)
        start = truth["fatigue_damage"].copy()
        arrived = {int(i): [] for i in spans}  # (t, lane) of each heavy vehicle that entered
        last = truth["truck_load"].copy()
        for _ in range(1800):
            h.run(1)
            for i in np.flatnonzero((truth["truck_load"] > 0) & (truth["truck_load"] != last)):
                arrived[int(i)].append((float(truth["truck_load"][i]), int(truth["truck_lane"][i])))
            last = truth["truck_load"].copy()
            heaviest = max(heaviest, float(truth["truck_load"].max()))
            peak_risk = max(peak_risk, float(h.column("bridge", "risk").max()))
        assert h.alarms() == []
        assert 30.0 < heaviest <= 49.0  # laden trucks crossed, none above the legal limit
        assert peak_risk < 0.25
        # Fatigue, in the truth: each heavy vehicle in the kerb lane above the detail
        # makes about one cycle of its peak there (its rise and fall over the light
        # traffic), so the damage is at least about what those peaks alone make; and no
        # cycle can exceed the heaviest legal truck's peak above the detail to its dip
        # under the opposite lane (the edge girder lifts), plus the light traffic.
        added = truth["fatigue_damage"] - start
        grew = 0
        for i in spans:
            category = truth["detail_category"][i]
            alone = sum(1 / endurance(detail_peak(truth, i, load), category) for load, lane in arrived[i] if lane == 1)
            worst = detail_peak(truth, i, 49.0) - detail_peak(truth, i, 49.0, lane=2) + 2.0
            assert 0.5 * alone <= added[i] <= (len(arrived[i]) + 1) / endurance(worst, category)
            grew += added[i] > 0.0
        assert grew >= 0.8 * len(spans)
        # small: even at the peak hour's rate all year round, under D = 2 in the 100-year
        # design life on the worst span (the daily profile averages 0.56 of the peak)
        per_year = added[spans] * 2 * 24 * 365
        assert 1e-4 < per_year.max() * 100 < 2.0
    finally:
        h.close()


def test_an_overload_adds_one_cycle_of_its_stress_at_the_detail(tmp_path):
    h = Harness(tmp_path, plugins=[plugin], blocks=(8, 7), seed=SEED)
    try:
        truth = h.engine.simulator.world.tables["bridge"]
        row = truth.index[DEMO_SPAN]
        h.run(300)
        before = truth["fatigue_damage"][row]
        h.act("bridge.overload", DEMO_SPAN, load=120.0, duration=60.0)
        h.run(90)
        added = truth["fatigue_damage"][row] - before
        category = truth["detail_category"][row]
        one_cycle = 1 / endurance(detail_peak(truth, row, 120.0), category)
        # 120 t in the kerb lane at midspan of the 40 m span: 68 MPa at the detail
        assert 60.0 < detail_peak(truth, row, 120.0) < 80.0
        # One cycle of its range, give or take the light traffic (about 1 MPa); at most,
        # if the heaviest legal truck crossed above the detail while it stood, one cycle
        # of both on top of each other, and the other trucks' own cycles.
        on_top = detail_peak(truth, row, 120.0) + detail_peak(truth, row, 49.0) + 2.0
        truck_cycles = 10 / endurance(detail_peak(truth, row, 49.0) - detail_peak(truth, row, 49.0, lane=2), category)
        assert 0.9 * one_cycle <= added <= 1 / endurance(on_top, category) + truck_cycles
        # and clearly more than the heaviest legal truck's crossing
        assert added > 20 / endurance(detail_peak(truth, row, 49.0), category)
    finally:
        h.close()


def test_runs_are_deterministic(tmp_path):
    digests = []
    for k in range(2):
        h = Harness(tmp_path / str(k), plugins=[plugin], blocks=(5, 4), seed=3, plan_hook=demo_small)
        h.run(60)
        digests.append(h.engine.digest())
        h.close()
    assert digests[0] == digests[1]


def test_a_fresh_counter_keeps_the_damage_a_restored_table_holds(tmp_path):
    """A world restored from a recording (a branch) has its fatigue_damage column but not
    the counter's memory: the new counter starts from that damage, not from the initial."""
    h = Harness(tmp_path, plugins=[plugin], blocks=(5, 4), seed=3, plan_hook=demo_small)
    h.run(60)  # the 90 t overload on B-S-0002 has been counted
    world = h.engine.simulator.world
    table, row = world.locate("B-S-0002")
    before = float(table["fatigue_damage"][row])
    assert before > float(table["initial_damage"][row])
    del world._memo[("bridge", "fatigue")]  # what a branch's world lacks
    h.run(1)
    assert table["fatigue_damage"][row] >= before
    h.close()


def demo_small(plan):
    plan.add_incident(10.0, "bridge.overload", "B-S-0002", load=90.0, duration=20.0)


def test_generator_places_spans_over_the_river_on_every_crossing_street():
    plan = plan_city(SEED, 8, 7, buildings=False)
    generate(plan)
    again = plan_city(SEED, 8, 7, preset="demo")
    generate(again)
    assert plan.assets == again.assets and plan.sensors == again.sensors
    crossings = [s for s in plan.streets if s.crosses_river]
    spans, piers = plan.assets_of("bridge", "span"), plan.assets_of("bridge", "pier")
    assert len({f["properties"]["bridge"] for f in spans}) == len(crossings) == 9
    ids = [f["properties"]["id"] for f in plan.assets["bridge"]]
    assert len(set(ids)) == len(ids) and all(i.startswith(("B-S-", "B-P-")) and len(i) == 8 for i in ids)
    for bridge in {f["properties"]["bridge"] for f in spans}:
        mine = [f for f in spans if f["properties"]["bridge"] == bridge]
        ys = [c[1] for f in mine for c in f["geometry"]["coordinates"]]
        assert min(ys) < plan.river_y - 30 and max(ys) > plan.river_y + 30  # bank to bank
        assert sum(f["properties"]["length"] for f in mine) == pytest.approx(max(ys) - min(ys))
    for f in spans:
        p = f["properties"]
        assert p["owner"] and p["deflection_limit"] == pytest.approx(p["length"] / 600 * 1000, abs=1e-3)
        x, y, z = f["geometry"]["coordinates"][1]
        assert z > plan.ground(x, plan.river_y)  # the deck is above the water
        ei = p["elastic_modulus"] * 1e6 * p["moment_of_inertia"]
        strain = lane_load_moment(p["length"], p["lanes"]) * p["fibre_distance"] / ei * 1e6
        assert p["design_live_strain"] == pytest.approx(strain, rel=1e-3)
        f1 = math.pi / (2 * p["length"] ** 2) * math.sqrt(ei / p["mass_per_length"])
        assert 1.05 < f1 / p["design_frequency"] < 1.15  # healthy: λ above the first band
    for f in piers:
        assert plan.in_river(f["geometry"]["coordinates"][1])
        # Courbon, written out: six girders 3.2 m apart (a = ±1.6, ±4.8, ±8.0 m), the
        # detail's girder at a = 8.0 m, the kerb lanes' centres at ±5.25 m
        assert p["girders"] == 6
        assert p["near_lane_share"] == pytest.approx(1 / 6 + 5.25 * 8.0 / 179.2, abs=1e-5)
        assert p["far_lane_share"] == pytest.approx(1 / 6 - 5.25 * 8.0 / 179.2, abs=1e-5)
        # a laden truck of 30-55 t above the detail: tens of MPa there
        share = p["girders"] * p["near_lane_share"]
        for load in (30.0, 55.0):
            peak = share * load * 1e3 * 9.81 * p["length"] / 4 * p["fibre_distance"] / p["moment_of_inertia"] * 1e-6
            assert 15.0 < peak < 60.0
    # the heaviest legal truck (49 t) passes the cut-off of its detail on some spans
    # and not on others
    above = [0.405 * f["properties"]["detail_category"] < 6 * 0.401 * 49e3 * 9.81 * f["properties"]["length"] / 4
             * f["properties"]["fibre_distance"] / f["properties"]["moment_of_inertia"] * 1e-6 for f in spans]
    assert 0 < sum(above) < len(above)
    monitored = {(s["asset"], s["field"]) for s in plan.sensors}
    assert (DEMO_SPAN, "strain") in monitored and (DEMO_SPAN, "frequency") in monitored
    assert all(s["asset"] in ids for s in plan.sensors)


def test_lane_load_moment_of_jtg_d60():
    # 30 m, four lanes: 0.67·4·(10.5·30²/8 + 2·(30 + 130)·30/4) kN·m
    assert lane_load_moment(30.0, 4) == pytest.approx(0.67 * 4 * (10.5 * 900 / 8 + 320 * 7.5) * 1e3)
    assert lane_load_moment(60.0, 2) == pytest.approx(2 * (10.5 * 3600 / 8 + 360 * 15) * 1e3)
