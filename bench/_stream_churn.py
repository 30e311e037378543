"""The stream benchmark's domain: ``COUNT`` probes of which ``SHARE`` change at random
each tick (three live fields: float32, int32, bool). Like ``tests/churnplugin.py`` but
without sensors, so that the engine's tick is the updater and the change scan only."""

from __future__ import annotations

import numpy as np

from twin import AssetGenerator, AssetKind, Domain, FieldSpec, Updater, hookimpl
from twin.authoring.citygen import point

PLUGIN_NAME = "streambench"
COUNT = 100_000
SHARE = 0.05


@hookimpl
def twin_domains():
    return [Domain("churn", "Churning probes", (AssetKind("probe", "Point", "a probe whose value wanders"),), (
        FieldSpec("value", "float32", "1", (-1e9, 1e9), "a wandering value"),
        FieldSpec("count", "int32", "1", (0, 2**31 - 1), "how often it changed"),
        FieldSpec("flag", "bool", "", (0, 1), "odd number of changes"),
    ))]


def wander(ctx):
    t = ctx.table
    n = len(t)
    k = max(1, int(n * SHARE))
    # k distinct rows, cheaper than rng.choice(n, k, replace=False) for large n
    rows = np.unique(ctx.rng.integers(0, n, size=int(k * 1.06)))[:k]
    ctx.rng.shuffle(rows)
    rows = np.sort(rows[:k])
    t["value"][rows] += ctx.rng.standard_normal(len(rows)).astype(np.float32) + np.float32(0.5)
    t["count"][rows] += 1
    t["flag"][rows] = t["count"][rows] % 2 == 1


@hookimpl
def twin_updaters():
    return [Updater("wander", "churn", wander, (), ("value", "count", "flag"))]


def generate(plan):
    for i in range(COUNT):
        plan.add_asset("churn", f"P-{i:06d}", "probe", point(i % 400, i // 400, 0.0), "bench co")


@hookimpl
def twin_asset_generators():
    return [AssetGenerator("churn", generate)]
