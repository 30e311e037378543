"""The viewer benchmark's city: the street grid and buildings of ``twin.authoring.citygen`` and one
domain of buried pipe segments laid along the streets, whose ``risk`` churns.

``SHARE`` of the segments get a new risk each tick (a value drawn so that every level
shows up), so each delta repaints that many assets. :func:`build` returns the engine and
the plain geometry (segments and building boxes) that the naive baseline page draws.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from twin import AssetKind, Domain, FieldSpec, Updater, hookimpl

PLUGIN_NAME = "viewerbench"
SHARE = 0.02
#: buildings per block of citygen's layout, about (lots less open lots and the river row)
BUILDINGS_PER_BLOCK = 4.3


@hookimpl
def twin_domains():
    return [Domain("pipes", "Pipe segments", (AssetKind("segment", "LineString", "a buried pipe segment"),), (
        FieldSpec("risk", "float32", "1", (0.0, 1.0), "a churning risk score"),
    ))]


def churn(ctx):
    t = ctx.table
    n = len(t)
    k = max(1, int(n * SHARE))
    rows = np.unique(ctx.rng.integers(0, n, size=k))
    # mostly calm, some of every level
    t["risk"][rows] = (ctx.rng.random(len(rows)) ** 2).astype(np.float32)


@hookimpl
def twin_updaters():
    return [Updater("churn", "pipes", churn, (), ("risk",))]


def build(pipes: int, buildings: int, seed: int = 1) -> tuple[Any, dict[str, Any], tempfile.TemporaryDirectory]:
    """An engine over a city of about ``buildings`` buildings and ``pipes`` segments."""
    import sys

    from twin.authoring.citygen import line, plan_city, write_scene
    from twin.tick.engine import Engine
    from twin.plugins.registry import load_registry
    from twin.tick.scene import load_scene

    registry = load_registry([sys.modules[__name__]], entry_points=False)
    side = max(2, math.ceil(math.sqrt(buildings / BUILDINGS_PER_BLOCK)))
    plan = plan_city(seed, side, side, buildings=True)
    per_street = max(1, math.ceil(pipes / len(plan.streets)))
    segments: list[list[float]] = []
    n = 0
    for street in plan.streets:
        (x0, y0), (x1, y1) = street.start, street.end
        for k in range(per_street):
            if n >= pipes:
                break
            # 4 m off the street's axis, 1.8 m under the ground, end to end along it
            ox, oy = (0.0, 4.0) if street.axis == "ew" else (4.0, 0.0)
            a, b = k / per_street, (k + 1) / per_street
            p0 = (x0 + (x1 - x0) * a + ox, y0 + (y1 - y0) * a + oy)
            p1 = (x0 + (x1 - x0) * b + ox, y0 + (y1 - y0) * b + oy)
            z0, z1 = plan.ground(*p0) - 1.8, plan.ground(*p1) - 1.8
            plan.add_asset("pipes", f"P-{n:06d}", "segment", line([(*p0, z0), (*p1, z1)]), "bench co")
            segments.append([round(v, 2) for v in (*p0, z0, *p1, z1)])
            n += 1
    tmp = tempfile.TemporaryDirectory(prefix="twin-viewer-bench-")
    write_scene(plan, Path(tmp.name), "viewer-bench", registry, title="viewer benchmark city")
    scene = load_scene(Path(tmp.name), registry.domains)
    engine = Engine(scene, registry, seed=seed, simulate=False)
    boxes = []
    for f in plan.buildings:
        ring = f["geometry"]["coordinates"][0]
        xs, ys = [p[0] for p in ring], [p[1] for p in ring]
        props = f["properties"]
        boxes.append([round(min(xs), 2), round(min(ys), 2), round(max(xs) - min(xs), 2), round(max(ys) - min(ys), 2),
                      props["ground"], props["height"]])
    city = {"pipes": segments, "buildings": boxes, "width": plan.width, "height": plan.height}
    return engine, city, tmp
