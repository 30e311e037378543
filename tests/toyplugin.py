"""A deliberately tiny plugin the core's tests run: one domain, one of everything."""

from __future__ import annotations

import numpy as np
from numba import njit

from twin import (
    Action, ActionParam, AlarmRule, AssetGenerator, AssetKind, Domain, FieldSpec, Kernel, Param, Updater, hookimpl,
    piecewise_risk,
)
from twin.authoring.citygen import point

PLUGIN_NAME = "toy"


@hookimpl
def twin_domains():
    return [Domain("toy", "Toy tanks", (AssetKind("tank", "Point", "a tank that fills"),), (
        FieldSpec("capacity", "float64", "m3", (0.1, 1000.0), "tank volume", 10.0, attribute=True, required_for=("*",)),
        FieldSpec("inflow", "float64", "m3/s", (0.0, 10.0), "inflow"),
        FieldSpec("level", "float64", "%", (0.0, 100.0), "fill level"),
        FieldSpec("risk", "float32", "1", (0.0, 1.0), "overfill risk"),
    ))]


def fill(ctx):
    """The tank fills until its overflow weir, at ``ctx.params["weir"]`` % of its height."""
    t = ctx.table
    t["level"][:] = np.minimum(ctx.params["weir"], t["level"] + 100.0 * t["inflow"] * ctx.dt / t["capacity"])


@njit(cache=True, nogil=True)
def overfill_risk(level, breakpoints, risk):
    for i in range(level.shape[0]):
        risk[i] = piecewise_risk(level[i], breakpoints)


@hookimpl
def twin_updaters():
    return [Updater("fill", "toy", fill, reads=("inflow", "capacity", "level"), writes=("level",),
                    params=(Param("weir", 100.0, "%", "toy: the overflow weir's height"),))]


@hookimpl
def twin_kernels():
    return [Kernel("toy.overfill", "toy", overfill_risk, ("level",), ("risk",),
                   (Param("breakpoints", (50.0, 60.0, 70.0, 80.0, 90.0, 100.0), "%", "toy"),))]


@hookimpl
def twin_alarm_rules():
    return [AlarmRule("toy.overfill", "toy", "risk", "Tank overfill", raise_dwell=0.0, clear_dwell=0.0)]


def open_tap(world, asset_id, rate):
    table, row = world.locate(asset_id)
    table["inflow"][row] = rate


@hookimpl
def twin_actions():
    return [Action("toy.open_tap", "toy", open_tap, "open the inflow", (ActionParam("rate", "m3/s", "inflow", valid=(0, 10)),))]


def generate(plan):
    for n, (i, j) in enumerate(sorted(plan.nodes)):
        x, y = plan.nodes[(i, j)]
        plan.add_asset("toy", f"T-{n:03d}", "tank", point(x, y, 0.0), "toy works", {"capacity": 10.0})
        plan.add_sensor(f"TS-{n:03d}", f"T-{n:03d}", "level", noise=0.0)


@hookimpl
def twin_asset_generators():
    return [AssetGenerator("toy", generate)]
