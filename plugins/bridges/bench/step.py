#!/usr/bin/env python
"""Wall time of the bridge plugin's updaters per tick on a large table of spans.

    NUMBA_CACHE_DIR=... .venv/bin/python plugins/bridges/bench/step.py            # 1,000,000 spans
    .venv/bin/python plugins/bridges/bench/step.py --assets 1000000              # as bench/tick.py: ~610,000 spans

The table is the demo district's bridge assets (the plugin's generator on the demo
plan) tiled to ``--spans`` spans (with the piers in the demo's proportion) or to
``--assets`` rows, stepped by
the plugin's own updaters in registration order through a ``twin.tick.world.StepContext``
whose world holds only this table: what ``bench/tick.py`` times as the bridge domain's
updaters, without the other domains (a few hundred MB instead of 14 GB). The clock
starts at 08:00 (the morning peak, the heaviest traffic). Prints the median and minimum
per updater and for the whole step over ``--ticks`` ticks after ``--warmup`` ticks,
wall time and this thread's CPU time (``time.thread_time``): on a machine other jobs
share, the CPU time is the steadier measure of what the step costs. A profiling aid for
the plugin's author (no baseline to compare with: ``bench/tick.py`` is the benchmark);
its last line is ``RESULT`` with the medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import numpy as np

from twin.authoring.citygen import plan_city
from twin.tick.state import DomainTable
from twin.tick.world import StepContext
from twin_bridges import plugin
from twin_bridges.generate import generate


class TableWorld:
    """The part of ``twin.tick.world.World`` an updater uses: tables, memo, rng."""

    def __init__(self, table: DomainTable, seed: int) -> None:
        self.tables = {plugin.DOMAIN: table}
        self.time = 0.0
        self._memo: dict[Any, Any] = {}
        self.rng = np.random.default_rng(seed)

    def memo(self, key: Any, build: Any) -> Any:
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]


def tiled_table(assets: int | None, spans: int | None) -> DomainTable:
    plan = plan_city(20261123, 8, 7, preset="demo", buildings=False)
    generate(plan)
    features = plan.assets[plugin.DOMAIN]
    if assets is None:
        per_copy = sum(f["properties"]["kind"] == "span" for f in features)
        assets = -(-spans // per_copy) * len(features)
    reps = -(-assets // len(features))
    base = [f["properties"] for f in features]
    order = np.tile(np.arange(len(base)), reps)[:assets]
    domain = plugin.twin_domains()[0]
    ids = [f"{base[k]['id']}~{n}" for n, k in enumerate(order)]
    table = DomainTable(domain, ids, [base[k]["kind"] for k in order])
    for spec in domain.fields:
        if spec.attribute:
            values = np.array([p.get(spec.name, spec.default) for p in base], dtype=spec.dtype)
            table.columns[spec.name][:] = values[order]
    return table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = p.add_mutually_exclusive_group()
    size.add_argument("--spans", type=int, default=1_000_000, help="at least this many spans (default 1,000,000)")
    size.add_argument("--assets", type=int, help="this many rows, spans and piers, as bench/tick.py counts")
    p.add_argument("--ticks", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    t0 = time.perf_counter()
    table = tiled_table(args.assets, None if args.assets else args.spans)
    spans = int(np.count_nonzero(table.kind == table.kind_names.index("span")))
    print(f"table: {len(table):,} rows ({spans:,} spans) in {time.perf_counter() - t0:.1f} s")
    world = TableWorld(table, args.seed)
    updaters = plugin.twin_updaters()
    names = [u.name for u in updaters] + ["bridge step"]
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for tick in range(args.warmup + args.ticks):
        world.time += 1.0
        start, start_cpu = time.perf_counter(), time.thread_time()
        for u in updaters:
            t, c = time.perf_counter(), time.thread_time()
            u.step(StepContext(world, plugin.DOMAIN, world.time, 1.0, world.rng))
            if tick >= args.warmup:
                wall[u.name].append(time.perf_counter() - t)
                cpu[u.name].append(time.thread_time() - c)
        if tick >= args.warmup:
            wall["bridge step"].append(time.perf_counter() - start)
            cpu["bridge step"].append(time.thread_time() - start_cpu)
    print(f"{'ms per tick':20s} {'wall median':>12s} {'wall min':>9s} {'cpu median':>11s} {'cpu min':>8s}")
    for name in names:
        print(f"{name:20s} {statistics.median(wall[name]) * 1e3:12.2f} {min(wall[name]) * 1e3:9.2f} "
              f"{statistics.median(cpu[name]) * 1e3:11.2f} {min(cpu[name]) * 1e3:8.2f}")
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    damage = table["fatigue_damage"][table.kind == table.kind_names.index("span")]
    print(f"trucks on spans now: {int(np.count_nonzero(table['truck_load'] > 0)):,}; "
          f"spans whose damage grew: {int(np.count_nonzero(damage > table['initial_damage'][table.kind == 0])):,}")
    figures = {"rows": len(table), "spans": spans}
    for name in names:
        key = name.replace("bridge.", "").replace(" ", "_")
        figures[f"{key}_wall_ms"] = round(statistics.median(wall[name]) * 1e3, 2)
        figures[f"{key}_cpu_ms"] = round(statistics.median(cpu[name]) * 1e3, 2)
    print("RESULT " + " ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
