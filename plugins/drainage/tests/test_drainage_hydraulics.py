"""The router against closed forms: Manning normal depth, the rational method, and the
water balance. Each network is built in a small scene and run by a real engine."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from twin.authoring.citygen import line, point
from twin.authoring.testing import Harness

from twin_drainage import model, plugin


def network(plan, manholes, pipes, outfalls):
    """Replace the generated network by a hand-made one (ids T-...), without sensors.

    manholes: {id: (x, invert, rim, catchment ha, C)}, outfalls: {id: (x, invert)},
    pipes: [(id, up, down, diameter, length)]; all on the line y = 0."""
    plan.assets["drainage"] = []
    plan.sensors = [s for s in plan.sensors if not s["id"].startswith("D-")]
    plan.incidents = []
    for mid, (x, invert, rim, area, c) in manholes.items():
        plan.add_asset("drainage", mid, "manhole", point(x, 0.0, rim), "test", {
            "invert_elevation": invert, "rim_elevation": rim, "catchment_area": area, "runoff_coefficient": c,
            "shaft_area": 1.13, "ponding_area": 50.0})
    for oid, (x, invert) in outfalls.items():
        plan.add_asset("drainage", oid, "outfall", point(x, 0.0, invert), "test", {"invert_elevation": invert})
    for pid, up, down, diameter, length in pipes:
        plan.add_asset("drainage", pid, "pipe", line([(0.0, 0.0, 0.0), (length, 0.0, 0.0)]), "test",
                       {"diameter": diameter, "length": length, "roughness": 0.013}, links=[up, down])


def harness(tmp_path, build):
    return Harness(tmp_path, plugins=[plugin], blocks=(2, 2), seed=7, simulate=False, plan_hook=build)


# --- oracles, written out here ------------------------------------------------------
def circle_area(y, d):
    theta = 2.0 * math.acos(1.0 - 2.0 * y / d)
    return d * d / 8.0 * (theta - math.sin(theta))


def circle_perimeter(y, d):
    return d * math.acos(1.0 - 2.0 * y / d)


def manning_normal_depth(q, d, n, s):
    """y with (1/n)·A·(A/P)^(2/3)·S^(1/2) = Q, by brentq (MODELS.md's oracle)."""
    def residual(y):
        a = circle_area(y, d)
        return a * (a / circle_perimeter(y, d)) ** (2.0 / 3.0) * math.sqrt(s) / n - q
    return brentq(residual, 1e-6, 0.938 * d, xtol=1e-12)  # Manning's Q peaks at y/D = 0.938


def test_oracle_normal_depth_matches_models_md():
    assert manning_normal_depth(0.30, 0.8, 0.013, 1 / 200) == pytest.approx(0.3116, abs=5e-5)


def test_steady_flow_runs_at_manning_normal_depth(tmp_path):
    """Three 0.8 m pipes, n 0.013, slope 1/200, 0.30 m3/s (MODELS.md): the steady depth
    at every node is the normal depth. The last pipe is a NORMAL outfall (SWMM), so the
    steady profile is uniform and the router must reproduce the oracle to 1e-3."""
    s, length = 1 / 200, 100.0
    inv = [20.0, 20.0 - s * length, 20.0 - 2 * s * length, 20.0 - 3 * s * length]
    # 0.30 m3/s = C·i·A with C = 1, i = 36 mm/h = 1e-5 m/s, A = 3 ha
    build = lambda plan: network(  # noqa: E731
        plan,
        {"T-1": (0.0, inv[0], inv[0] + 4, 3.0, 1.0), "T-2": (100.0, inv[1], inv[1] + 4, 0.0, 1.0),
         "T-3": (200.0, inv[2], inv[2] + 4, 0.0, 1.0)},
        [("T-P1", "T-1", "T-2", 0.8, length), ("T-P2", "T-2", "T-3", 0.8, length), ("T-P3", "T-3", "T-OF", 0.8, length)],
        {"T-OF": (300.0, inv[3])},
    )
    h = harness(tmp_path, build)
    h.act("drainage.rain", "T-1", intensity=36.0, duration=86400)
    h.run(1800)
    expected = manning_normal_depth(0.30, 0.8, 0.013, s)
    for node in ("T-1", "T-2", "T-3"):
        assert h.value(node, "depth") == pytest.approx(expected, rel=1e-3)
    for pipe in ("T-P1", "T-P2", "T-P3"):
        assert h.value(pipe, "flow") == pytest.approx(0.30, rel=1e-6)
        assert h.value(pipe, "fill") == pytest.approx(expected / 0.8, rel=1e-3)
    assert h.value("T-OF", "discharge") == pytest.approx(0.30, rel=1e-6)
    assert not h.alarms()


def test_rational_method_steady_state(tmp_path):
    """10 ha fully impervious at 36 mm/h: Q = C·i·A = 1 · 1e-5 m/s · 1e5 m2 = 1.0 m3/s,
    at the manhole and, once steady, at the outfall (SWMM gives 1.0001, MODELS.md)."""
    build = lambda plan: network(  # noqa: E731
        plan, {"T-1": (0.0, 18.0, 21.0, 10.0, 1.0)}, [("T-P1", "T-1", "T-OF", 1.0, 80.0)], {"T-OF": (80.0, 17.6)})
    h = harness(tmp_path, build)
    h.act("drainage.rain", "T-1", intensity=36.0, duration=86400)
    h.run(1200)
    c, i, area = 1.0, 36.0 / 1000.0 / 3600.0, 10.0 * 1.0e4
    assert h.value("T-1", "inflow") == pytest.approx(c * i * area, rel=1e-12)
    assert h.value("T-OF", "discharge") == pytest.approx(1.0, rel=1e-6)
    assert h.value("T-P1", "capacity") == pytest.approx(
        math.pi / 4 * (1.0 / 4) ** (2 / 3) * math.sqrt(0.4 / 80.0) / 0.013, rel=1e-9)


def test_a_pipe_that_drops_into_its_manhole_runs_at_normal_depth(tmp_path):
    """A steep 0.4 m pipe (n 0.013, slope 2 %) whose outlet lies 0.3 m above the next
    manhole's invert carries 0.10 m3/s: its flow is supercritical (normal depth below
    critical), so the whole pipe, and the manhole above it, run at Manning's normal
    depth. The outlet end, falling freely into the manhole, flows at the smaller of the
    normal and critical depths (SWMM's DN_CRITICAL end), not at the manhole's low level:
    taking that level would halve the pipe's mean depth and nearly double the depth
    upstream."""
    length, slope, offset = 40.0, 0.02, 0.3

    def build(plan):
        network(plan, {"T-1": (0.0, 20.0, 23.0, 1.0, 1.0), "T-2": (40.0, 20.0 - slope * length - offset, 22.5, 0.0, 1.0)},
                [("T-P1", "T-1", "T-2", 0.4, length), ("T-P2", "T-2", "T-OF", 0.6, 40.0)],
                {"T-OF": (80.0, 18.5)})
        pipe = next(f for f in plan.assets["drainage"] if f["properties"]["id"] == "T-P1")
        pipe["properties"]["outlet_offset"] = offset

    h = harness(tmp_path, build)
    h.act("drainage.rain", "T-1", intensity=36.0, duration=86400)  # 1 ha, C 1: 0.10 m3/s
    h.run(1200)
    normal = manning_normal_depth(0.10, 0.4, 0.013, slope)
    assert normal < 0.20  # 0.161 m, below the critical depth of 0.228 m: supercritical
    assert h.value("T-P1", "flow") == pytest.approx(0.10, rel=1e-6)
    assert h.value("T-1", "depth") == pytest.approx(normal, rel=1e-3)


def branched(plan):
    """Two branches joining, the lower one through an undersized pipe: a storm that
    surcharges, floods and ponds."""
    network(
        plan,
        {"T-A": (0.0, 20.0, 22.5, 1.5, 0.9), "T-B": (60.0, 19.7, 22.3, 1.0, 0.8), "T-C": (0.0, 19.9, 22.4, 2.0, 0.7),
         "T-J": (120.0, 19.4, 21.8, 0.5, 0.9), "T-K": (180.0, 19.2, 21.5, 0.3, 0.6)},
        [("T-P1", "T-A", "T-B", 0.5, 60.0), ("T-P2", "T-B", "T-J", 0.6, 60.0), ("T-P3", "T-C", "T-J", 0.5, 120.0),
         ("T-P4", "T-J", "T-K", 0.4, 60.0), ("T-P5", "T-K", "T-OF", 0.8, 50.0)],
        {"T-OF": (230.0, 18.9)},
    )


def test_router_conserves_mass_through_surcharge_flooding_and_ponding(tmp_path):
    h = harness(tmp_path, branched)
    table = h.engine.world.tables["drainage"]
    rained = 0.0
    ponded_max = 0.0
    schedule = {0: 120.0, 600: 40.0, 900: 0.0}
    for second in range(2400):
        if second in schedule:
            h.act("drainage.rain", "T-A", intensity=schedule[second], duration=86400)
        h.run(1)
        rained += table["inflow"].sum() * 1.0
        ponded_max = max(ponded_max, table["ponded_depth"].max())
        if second in (300, 1000, 2399):
            stored = table["volume"].sum() + (table["ponded_depth"] * table["ponding_area"]).sum()
            discharged = table["discharged_volume"].sum()
            assert rained == pytest.approx(discharged + stored, rel=1e-10)
    assert ponded_max > 0.15  # the storm did pond the street: the balance covered it
    assert table["surcharged"].sum() == 0  # and it all drained away again


def test_storage_inverse_is_exact():
    """node_depth inverts node_volume (the router's mass balance rests on it)."""
    diameter, length = np.array([0.5, 0.8]), np.array([40.0, 60.0])
    end_ptr, end_pipe, end_offset = np.array([0, 2]), np.array([0, 1]), np.array([0.0, 0.3])
    max_depth, shaft, pond = np.array([2.0]), np.array([1.13]), np.array([80.0])
    for depth in (0.0, 0.01, 0.25, 0.5, 0.79, 1.1, 1.999, 2.0, 2.2):
        v = model.node_volume(0, depth, max_depth, shaft, pond, end_ptr, end_pipe, end_offset, length, diameter)
        full = model.node_volume(0, 2.0, max_depth, shaft, pond, end_ptr, end_pipe, end_offset, length, diameter)
        got = model.node_depth(0, v, 1.0, full, max_depth, shaft, pond, end_ptr, end_pipe, end_offset, length, diameter)
        assert got == pytest.approx(depth, abs=1e-9)
    # and the volume itself, written out: shaft, two half pipes, the pond
    v = model.node_volume(0, 2.2, max_depth, shaft, pond, end_ptr, end_pipe, end_offset, length, diameter)
    assert v == pytest.approx(1.13 * 2.0 + 80.0 * 0.2 + 20.0 * math.pi / 4 * 0.25 + 30.0 * math.pi / 4 * 0.64, rel=1e-12)


def test_a_restored_state_routes_bit_for_bit_as_the_running_one(tmp_path):
    """The router keeps each manhole's linear piece of storage from one tick to the next,
    but only as a function of the depth it ended at: an engine given the same table
    (a fresh one, as after a restart or a branch) takes the next ticks bit for bit as
    the engine that ran up to it."""
    running = harness(tmp_path / "a", branched)
    running.act("drainage.rain", "T-A", intensity=120.0, duration=86400)
    running.run(500)  # surcharged, flooding and ponding by now
    table = running.engine.world.tables["drainage"]
    assert table["surcharged"].any() and table["ponded_depth"].max() > 0.0
    fresh = harness(tmp_path / "b", branched)
    restored = fresh.engine.world.tables["drainage"]
    for name, column in table.columns.items():
        restored.columns[name][:] = column
    running.run(30)
    fresh.run(30)
    for name in ("depth", "flow", "volume", "flooding", "discharged_volume"):
        np.testing.assert_array_equal(restored[name], table[name], err_msg=name)



def test_no_flow_reaches_across_a_dry_pipe_end(tmp_path):
    """SWMM's UP_DRY flow class (dwflow.c getFlowClass, dwflow_findConduitFlow): a pipe
    whose upstream end sits 0.7 m up its manhole's wall, above the water there, and whose
    downstream head is lower than that end carries nothing, whatever the two manholes'
    levels below the dry end say. A minute's rain leaves T-1 about 0.27 m deep (head
    20.57 m, under the pipe's 21.0 m invert) and T-2, below, full to the 0.5 m offset of
    its outlet (head 20.5 m, wetting the pipe's lower end). The router used to drain T-1
    through the pipe down to T-2's level."""

    def build(plan):
        network(plan, {"T-1": (0.0, 20.3, 23.0, 0.01, 1.0), "T-2": (40.0, 20.0, 22.5, 0.3, 1.0)},
                [("T-P1", "T-1", "T-2", 0.4, 40.0), ("T-P2", "T-2", "T-OF", 0.6, 40.0)], {"T-OF": (80.0, 19.0)})
        for pipe in plan.assets["drainage"]:
            if pipe["properties"]["id"] == "T-P1":
                pipe["properties"]["inlet_offset"] = 0.7
            if pipe["properties"]["id"] == "T-P2":
                pipe["properties"]["inlet_offset"] = 0.5

    h = harness(tmp_path, build)
    h.act("drainage.rain", "T-1", intensity=180.0, duration=60)  # T-1 0.005 m3/s, T-2 0.15 m3/s for a minute
    h.run(60)
    held = h.value("T-1", "depth")
    assert held == pytest.approx(0.01e4 * 0.180 / 60.0 / 1.13, rel=0.02)  # all the rain, on its 1.13 m2 shaft
    h.run(900)
    assert 0.5 <= h.value("T-2", "depth") < 20.3 + 0.7 - 20.0  # T-2 wets the pipe's lower end, below its upper
    assert 20.0 + h.value("T-2", "depth") < 20.3 + held  # the heads alone would drive T-1 into T-2
    assert h.value("T-P1", "flow") == 0.0
    assert h.value("T-1", "depth") == pytest.approx(held, abs=1e-9)
