"""A domain whose assets change at random each tick: traffic for stream tests and the
stream benchmark. ``COUNT`` assets; ``SHARE`` of them change per tick."""

from __future__ import annotations

import numpy as np

from twin import AssetGenerator, AssetKind, Domain, FieldSpec, Updater, hookimpl
from twin.authoring.citygen import point

PLUGIN_NAME = "churn"
COUNT = 2000
SHARE = 0.05
#: set True to stop every change, so that a test can compare a client's mirror with the
#: server's state once the stream has settled
FROZEN = False


@hookimpl
def twin_domains():
    return [Domain("churn", "Churning sensors", (AssetKind("probe", "Point", "a probe whose value wanders"),), (
        FieldSpec("value", "float32", "1", (-1e9, 1e9), "a wandering value"),
        FieldSpec("count", "int32", "1", (0, 2**31 - 1), "how often it changed"),
        FieldSpec("flag", "bool", "", (0, 1), "odd number of changes"),
        FieldSpec("reading", "float64", "1", (-1e9, 1e9), "a sensor-fed value"),
    ))]


def wander(ctx):
    if FROZEN:
        return
    t = ctx.table
    n = len(t)
    rows = ctx.rng.choice(n, size=max(1, int(n * SHARE)), replace=False)
    t["value"][rows] += ctx.rng.standard_normal(len(rows)).astype(np.float32)
    t["count"][rows] += 1
    t["flag"][rows] = t["count"][rows] % 2 == 1


@hookimpl
def twin_updaters():
    return [Updater("wander", "churn", wander, (), ("value", "count", "flag"))]


def generate(plan):
    for i in range(COUNT):
        plan.add_asset("churn", f"C-{i:06d}", "probe", point(i % 100, i // 100, 0.0), "churn co")
    for i in range(0, COUNT, 10):
        plan.add_sensor(f"CS-{i:06d}", f"C-{i:06d}", "reading", noise=1.0)


@hookimpl
def twin_asset_generators():
    return [AssetGenerator("churn", generate)]
