"""A SWMM file run headless by the twin's drainage model, the same file run by SWMM 5
itself (pyswmm), and the differences between the two, element by element.

:func:`run_twin` imports the file (:func:`twin_drainage.swmm.write_scene`) and steps
the imported scene's ground truth (the simulator's world: the drainage plugin's own
updaters, SWMM's hydrology and the router) over the file's period, keeping per node the peak depth and its time, the
hours surcharged (water above the crown of the node's highest pipe) and the volume
flooded, per link the peak flow, and the runoff and outfall volumes. :func:`run_swmm`
keeps the same from SWMM 5.2 run on the file as it is. :func:`compare` sets them side
by side with the largest, 95th-percentile and median differences.

Units: metres, seconds, m³/s, m³ (SWMM's results are converted from the file's units).
"""

from __future__ import annotations

import csv
import math
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from twin_drainage.inp import FLOW_FACTOR, FOOT, US_UNITS, InpError, parse_network, read_inp

#: the origin of SWMM's DateTime (days)
SWMM_EPOCH = datetime(1899, 12, 30)
#: flows below this are "no flow" when relative differences are taken, m³/s
FLOW_FLOOR = 1.0e-3
#: the twin's tick when none is given: the file's routing step, but no shorter than this
#: (s); the router sub-steps within a tick as stability needs, so a file routed by SWMM
#: at 1 s runs here in 10 s ticks with the same peaks to the millimetre (checked on
#: model_full_features.inp: 0.008 m and 2.8 % at 1 s and at 10 s); a transient shorter
#: than a tick is kept by the router's peaks at the file's routing-step marks within each
#: tick (model.route's routing_step: model_weir_setting.inp's EXTRAN leap of J1 to its rim
#: in one 1-s step, lost between 10 s tick ends before)
DEFAULT_TICK = 10.0


@dataclass
class Peaks:
    """What one model gave on one file."""

    #: node name -> peak depth (m), time of the peak (s from the start), hours surcharged,
    #: flooding volume (m³)
    peak_depth: dict[str, float]
    peak_time: dict[str, float]
    surcharge_hours: dict[str, float]
    flooding_volume: dict[str, float]
    #: link name -> peak flow (m³/s, the largest in magnitude, signed; positive from the
    #: file's FromNode to its ToNode)
    peak_flow: dict[str, float]
    #: m³ of subcatchment runoff handed to the network, and discharged at each outfall
    runoff_volume: float
    outfall_volume: dict[str, float]
    #: the run's cost: the twin's from its second tick (the first builds the network and
    #: loads the compiled router: ``first_tick_s``), SWMM's from opening the file
    wall_s: float
    cpu_s: float
    warnings: list[str] = field(default_factory=list)
    first_tick_s: float = 0.0
    #: SWMM's flow routing continuity error (%, its report's "Continuity Error" under
    #: "Flow Routing Continuity"), the volume it stands for (m³: what its routing let out,
    #: flooded and kept beyond what came in and was there; positive: water made) and that
    #: total inflow (m³, the initial storage included). Not measured for the twin: 0.
    routing_error: float = 0.0
    routing_imbalance: float = 0.0
    routing_inflow: float = 0.0


def run_twin(path: str | Path, dt: float | None = None, workdir: str | Path | None = None,
             duration: float | None = None) -> Peaks:
    """Import ``path`` and run it headless in ticks of ``dt`` s (default: the file's
    routing step, at least DEFAULT_TICK) over the file's period (or ``duration`` s)."""
    from twin.plugins.registry import load_registry
    from twin.tick.scene import load_scene
    from twin.tick.simulator import Simulator

    from twin_drainage import plugin, swmm
    from twin_drainage.model import MW_PEAK_DEPTH, PW_PEAK_FLOW

    path = Path(path)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(workdir) if workdir is not None else Path(scratch)
        counts = swmm.write_scene(path, root / "scene")
        net = parse_network(read_inp(path))
        registry = load_registry([plugin], entry_points=False)
        scene = load_scene(root / "scene", registry.domains)
        # the simulator's ground truth: the plugin's updaters under the scene's incidents
        truth = Simulator(scene, registry, 0)
        table = truth.world.tables["drainage"]
        step = float(dt) if dt is not None else max(float(net.options["routing_step"]), DEFAULT_TICK)
        total = float(duration if duration is not None else net.options["duration"])
        # SWMM keeps its statistics from the report start (stats.c stats_updateFlowStats;
        # model_delayed_report.inp starts 2 h before it): so do the peaks, the hours
        # surcharged and the flooding here (the runoff and outfall volumes are the run's)
        report_start = float(net.options.get("report_start", 0.0))
        ids = list(table.ids)
        nodes = np.concatenate([table.rows("manhole"), table.rows("outfall")])
        manholes = table.rows("manhole")
        pipes = np.concatenate([table.rows("pipe"), table.rows("regulator")]) if "regulator" in table.kind_names \
            else table.rows("pipe")
        links = {**net.pipes, **net.regulators}
        swmm_name = {(f"{n} (link)" if (n in net.manholes or n in net.outfalls) else n): n for n in links}
        sign = np.array([-1.0 if links[swmm_name[ids[r]]].get("reversed") else 1.0 for r in pipes])
        peak_depth = np.zeros(len(nodes))
        peak_time = np.zeros(len(nodes))
        surcharged = np.zeros(len(manholes))
        flooded = np.zeros(len(manholes))
        peak_flow = np.zeros(len(pipes))

        def fail(plugin_name: str, what: str, exc: BaseException) -> None:
            raise RuntimeError(f"{plugin_name}: {what}: {exc}") from exc

        wall, cpu = time.perf_counter(), time.process_time()
        first = 0.0
        t = 0.0
        depth, flow, flooding, sur = table["depth"], table["flow"], table["flooding"], table["surcharged"]
        # the dynamic-wave router's peaks over its steps within each tick (model.route's
        # peak_depth and peak_flow, as SWMM's statistics take every routing step): by node
        # and pipe, where it has them (-1: an outfall or a regulator, read at tick ends)
        router = None
        while t < total - 1e-9:
            tick = min(step, total - t)
            truth.step(tick, fail)
            if t == 0.0:  # the first tick also builds the network and loads (or compiles) the router
                first = time.process_time() - cpu
                router = _router_peaks(truth.world, nodes, pipes)
                wall, cpu = time.perf_counter(), time.process_time()
            t += tick
            if t < report_start - 1e-9:
                continue
            d = depth[nodes]
            q = flow[pipes]
            if router is not None:
                work, node_k, pipe_k = router
                at = node_k >= 0
                d[at] = np.maximum(d[at], work.manhole[MW_PEAK_DEPTH][node_k[at]])
                at = pipe_k >= 0
                within = work.pipe[PW_PEAK_FLOW][pipe_k[at]]
                q[at] = np.where(np.abs(within) > np.abs(q[at]), within, q[at])
            higher = d > peak_depth
            peak_depth[higher] = d[higher]
            peak_time[higher] = t
            larger = np.abs(q) > np.abs(peak_flow)
            peak_flow[larger] = q[larger]
            flooded += flooding[manholes] * tick
            surcharged += sur[manholes] * tick / 3600.0
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        hydro = truth.world.memo(("drainage", "hydrology", "drainage"), lambda: None)
        outfalls = table.rows("outfall")
        return Peaks(
            peak_depth={ids[r]: float(v) for r, v in zip(nodes, peak_depth)},
            peak_time={ids[r]: float(v) for r, v in zip(nodes, peak_time)},
            surcharge_hours={ids[r]: float(v) for r, v in zip(manholes, surcharged)},
            flooding_volume={ids[r]: float(v) for r, v in zip(manholes, flooded)},
            peak_flow={swmm_name[ids[r]]: float(v * s) for r, v, s in zip(pipes, peak_flow, sign)},
            runoff_volume=hydro.runoff_volume if hydro is not None else 0.0,
            outfall_volume={ids[r]: float(table["discharged_volume"][r]) for r in outfalls},
            wall_s=wall, cpu_s=cpu, warnings=list(counts["warnings"]), first_tick_s=first)


def _router_peaks(world: Any, nodes: np.ndarray, pipes: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray] | None:
    """The dynamic-wave router's working arrays (model.RouterWork: its peaks of the last
    tick) and, per table row of ``nodes`` and ``pipes``, the router's index of it (-1
    where it has none); None when the network is not routed by it (KINWAVE)."""
    work = world.memo(("drainage", "router", "drainage"), lambda: None)
    net = world.memo(("drainage", "network", "drainage"), lambda: None)
    if work is None or net is None:
        return None
    node_of = {int(r): k for k, r in enumerate(net.manhole_row)}
    pipe_of = {int(r): k for k, r in enumerate(net.pipe_row)}
    return (work, np.array([node_of.get(int(r), -1) for r in nodes], dtype=np.int64),
            np.array([pipe_of.get(int(r), -1) for r in pipes], dtype=np.int64))


def run_swmm(path: str | Path, sample_every: float | None = None) -> Peaks:
    """Run SWMM 5 on ``path`` through pyswmm (an optional dependency). Peaks, times of
    peak, hours surcharged, flooding, conduit peak flows and the runoff and outfall
    volumes are SWMM's own statistics (every routing step, SWMM stepping as it does
    alone); the flows of pumps, weirs, orifices and outlets, which have none, are read
    at its first step at or after every ``sample_every`` s (default: the routing step,
    at least DEFAULT_TICK)."""
    from pyswmm import Simulation, SystemStats
    from swmm.toolkit import solver
    from swmm.toolkit.shared_enum import LinkResult, LinkType, NodeType

    from twin_drainage.swmm import swmm_objects

    path = Path(path)
    net = parse_network(read_inp(path))
    length = FOOT if net.options["units"] in US_UNITS else 1.0
    flow = FLOW_FACTOR[net.options["units"]]
    every = sample_every or max(float(net.options["routing_step"]), DEFAULT_TICK)
    timed = time.perf_counter(), time.process_time()
    try:
        with Simulation(str(path)) as sim:
            sim.execute()
    except Exception as exc:  # SWMM's own refusal: ERROR nnn, details in its report
        if "ERROR" not in str(exc):
            raise
        errors = [line.strip() for line in _report(path) if "ERROR" in line][:3] or [" ".join(str(exc).split())]
        raise InpError(f"{path}: SWMM refuses the file: {'; '.join(errors)}") from None
    wall, cpu = time.perf_counter() - timed[0], time.process_time() - timed[1]
    peak_flow: dict[str, float] = {}
    with Simulation(str(path)) as sim:
        start = sim.start_time
        # by index from SWMM's toolkit: pyswmm's Nodes/Links cost n² to list (swmm_objects)
        links = [(i, name, solver.link_get_type(i)) for i, name in swmm_objects("LINK")]
        regulators = [(i, name) for i, name, kind in links if kind != LinkType.CONDUIT]
        # every routing step of SWMM's own: a stride (pyswmm's step_advance) ends a step at
        # each of its marks and changes SWMM's solution (SWMMExtCntrlModel.inp: J18 peaks
        # at 3.70 m under a 30 s stride, 2.13 m as SWMM runs the file itself)
        if not regulators:
            sim.step_advance(max(1, int(net.options["duration"])))
        next_sample = 0.0
        for _ in sim:
            if not regulators:
                continue
            now = (sim.current_time - start).total_seconds()
            if now + 1e-6 < next_sample:
                continue
            next_sample = now + every
            for i, name in regulators:
                q = solver.link_get_result(i, LinkResult.FLOW) * flow
                if abs(q) > abs(peak_flow.get(name, 0.0)):
                    peak_flow[name] = q
        nodes = swmm_objects("NODE")
        peak_depth, peak_time, surcharge, flooding = {}, {}, {}, {}
        routed = bool(net.pipes or net.regulators)
        for i, name in nodes if routed else []:  # without links SWMM routes nothing and keeps no node statistics
            stats = solver.node_get_stats(i)
            peak_depth[name] = stats.maxDepth * length
            # SWMM's DateTime: days since 1899-12-30
            peak_time[name] = round(stats.maxDepthDate * 86400.0 - (start - SWMM_EPOCH).total_seconds())
            surcharge[name] = stats.timeSurcharged
            flooding[name] = stats.volFlooded * length**3
        for i, name, kind in links:
            if kind == LinkType.CONDUIT:
                peak_flow[name] = solver.link_get_stats(i).maxFlow * flow
        runoff = sum(solver.subcatch_get_stats(i).runoff for i, name in swmm_objects("SUBCATCH")
                     if _drains_to_node(net, name))
        for _, name in nodes if not routed else []:
            peak_depth[name], peak_time[name] = 0.0, 0.0
            surcharge[name], flooding[name] = 0.0, 0.0
        # without links, what reaches the outfalls is the runoff sent to them
        routing = SystemStats(sim).routing_stats
        outflow = routing["outflow"] * length**3 if routed else runoff * length**3
        came_in, went_out = _routing_totals(routing, length) if routed else (0.0, 0.0)
        error = float(routing["routing_error"]) if routed else 0.0
        outfalls = [name for i, name in nodes if solver.node_get_type(i) == NodeType.OUTFALL]
    # SWMM's statistics give the total leaving the system (at outfalls); spread it for the
    # per-outfall listing by their average flows (only the total is compared)
    return Peaks(peak_depth, peak_time, surcharge, flooding, peak_flow, runoff * length**3,
                 {name: outflow / max(len(outfalls), 1) for name in outfalls}, wall, cpu,
                 routing_error=error, routing_imbalance=went_out - came_in, routing_inflow=came_in)


def _routing_totals(stats: dict[str, float], length: float) -> tuple[float, float]:
    """SWMM's total routing inflow and outflow (m³) as massbal.c massbal_getFlowError sums
    them for its continuity error, 100·(1 - out/in): the initial storage and the inflows
    in, the final storage, flooding, losses and outflow out, a negative inflow counted
    out and a negative outflow in. pyswmm's ``routing_stats`` give the flows in the file's
    volume unit (``length``³ to m³) but the storages in ft³ (swmm-toolkit's
    swmm_getSystemRoutingStats converts only the flows)."""
    volume = length**3
    came_in = stats["initial_storage"] * FOOT**3 + (stats["wet_weather_inflow"] + stats["II_inflow"]) * volume
    went_out = stats["final_storage"] * FOOT**3 + volume * sum(
        stats[k] for k in ("flooding", "evaporation_loss", "seepage_loss", "reacted"))
    for key in ("dry_weather_inflow", "groundwater_inflow", "external_inflow"):
        if stats[key] >= 0.0:
            came_in += stats[key] * volume
        else:
            went_out -= stats[key] * volume
    if stats["outflow"] >= 0.0:
        went_out += stats["outflow"] * volume
    else:
        came_in -= stats["outflow"] * volume
    return came_in, went_out


def _report(path: Path) -> list[str]:
    try:
        return path.with_suffix(".rpt").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def _drains_to_node(net: Any, name: str) -> bool:
    for s in net.hydrology["subcatchments"]:
        if s["name"].upper() == name.upper():
            return s["outlet_kind"] != "subcatchment"
    return False


def _crown(net: Any, node: str) -> float:
    """Depth of the crown of the node's highest pipe (the twin's surcharge level; the
    rim where no pipe meets it)."""
    crowns = [p["diameter"] + (p["inlet_offset"] if p["links"][0] == node else p["outlet_offset"])
              for p in net.pipes.values() if node in p["links"]]
    if crowns:
        return max(crowns)
    found = net.manholes.get(node)
    return found["max_depth"] if found else math.inf


@dataclass
class Difference:
    """One quantity of the twin against SWMM over the elements both have."""

    what: str
    unit: str
    #: (element, twin, SWMM, difference) per element
    rows: list[tuple[str, float, float, float]]

    def stats(self) -> dict[str, float]:
        d = np.abs(np.array([r[3] for r in self.rows])) if self.rows else np.zeros(0)
        if not len(d):
            return {"count": 0, "max": 0.0, "p95": 0.0, "median": 0.0}
        return {"count": len(d), "max": float(d.max()), "p95": float(np.percentile(d, 95)),
                "median": float(np.median(d))}

    def worst(self) -> str:
        return max(self.rows, key=lambda r: abs(r[3]))[0] if self.rows else ""


@dataclass
class Comparison:
    """The twin against SWMM on one file."""

    path: Path
    twin: Peaks
    swmm: Peaks
    peak_depth: Difference
    peak_flow: Difference
    #: relative differences of the totals (twin / SWMM - 1), NaN where SWMM has none
    runoff_volume: float
    outfall_volume: float
    flooding_volume: float
    #: the outfall volume against SWMM's less what its routing made or lost
    #: (Peaks.routing_imbalance, its flow routing continuity error) as if it all left by
    #: the outfalls: SWMM's outfall volume had its mass balance closed there. Where SWMM's
    #: error lies it does not say: test_inlet_drains.inp's -2.67 % is made at J11 and
    #: leaves by the outfall, alt_test1.inp's -11.4 % is in its final storage.
    outfall_volume_net: float = math.nan


def compare(path: str | Path, dt: float | None = None, twin: Peaks | None = None,
            reference: Peaks | None = None) -> Comparison:
    """Run the twin and SWMM on ``path`` and set their results side by side: peak depth
    of every node both have (m), peak flow of every link both have (relative to SWMM's,
    over links that carry at least FLOW_FLOOR in either model), and the relative
    differences of the runoff, outfall and flooding volumes, the outfall volume also
    against SWMM's net of its own flow routing continuity error (test_inlet_drains.inp's
    SWMM lets out 2.7 % more than comes in)."""
    path = Path(path)
    twin = twin or run_twin(path, dt)
    reference = reference or run_swmm(path)
    depth_rows = [(n, twin.peak_depth[n], reference.peak_depth[n], twin.peak_depth[n] - reference.peak_depth[n])
                  for n in reference.peak_depth if n in twin.peak_depth]
    flow_rows = []
    for name, q in reference.peak_flow.items():
        if name not in twin.peak_flow:
            continue
        ours = twin.peak_flow[name]
        if max(abs(q), abs(ours)) < FLOW_FLOOR:
            continue
        flow_rows.append((name, ours, q, (abs(ours) - abs(q)) / max(abs(q), FLOW_FLOOR)))

    def rel(a: float, b: float) -> float:
        return a / b - 1.0 if b > 0.0 else (0.0 if a == 0.0 else math.nan)

    return Comparison(
        path, twin, reference, Difference("peak depth", "m", depth_rows), Difference("peak flow", "1", flow_rows),
        rel(twin.runoff_volume, reference.runoff_volume),
        rel(sum(twin.outfall_volume.values()), sum(reference.outfall_volume.values())),
        rel(sum(twin.flooding_volume.values()), sum(reference.flooding_volume.values())),
        rel(sum(twin.outfall_volume.values()), sum(reference.outfall_volume.values()) - reference.routing_imbalance))


def write_summary(peaks: Peaks, out: str | Path) -> Path:
    """``peaks.csv``: one row per node (peak depth, time of peak, hours surcharged,
    flooding volume) and per link (peak flow)."""
    out = Path(out)
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["element", "kind", "peak_depth_m", "peak_time_s", "surcharge_h", "flooding_m3", "peak_flow_m3s"])
        for name, depth in peaks.peak_depth.items():
            writer.writerow([name, "node", f"{depth:.4f}", f"{peaks.peak_time[name]:.0f}",
                             f"{peaks.surcharge_hours.get(name, 0.0):.4f}", f"{peaks.flooding_volume.get(name, 0.0):.3f}",
                             ""])
        for name, q in peaks.peak_flow.items():
            writer.writerow([name, "link", "", "", "", "", f"{q:.5f}"])
    return out


def table(c: Comparison, limit: int = 10) -> str:
    """The comparison as text: per-element rows (the ``limit`` largest differences of
    each quantity), then max / p95 / median, then the volumes."""
    lines = [f"{c.path.name}: the twin against SWMM 5.2 (pyswmm)", ""]
    for diff, fmt in ((c.peak_depth, "{:.3f}"), (c.peak_flow, "{:.4f}")):
        unit = "m" if diff.unit == "m" else "m3/s"
        lines.append(f"{diff.what} ({unit})  {'element':<24} {'twin':>10} {'SWMM':>10} {'diff':>9}")
        for name, ours, theirs, d in sorted(diff.rows, key=lambda r: -abs(r[3]))[:limit]:
            shown = f"{d:+.3f} m" if diff.unit == "m" else f"{100 * d:+.1f} %"
            lines.append(f"{'':<{len(diff.what) + 8}}{name:<24} {fmt.format(ours):>10} {fmt.format(theirs):>10} {shown:>9}")
        s = diff.stats()
        if diff.unit == "m":
            lines.append(f"  {diff.what} over {s['count']} nodes: max {s['max']:.3f} m, p95 {s['p95']:.3f} m, "
                         f"median {s['median']:.3f} m")
        else:
            lines.append(f"  {diff.what} over {s['count']} links: max {100 * s['max']:.1f} %, p95 {100 * s['p95']:.1f} %, "
                         f"median {100 * s['median']:.1f} %")
        lines.append("")

    def pct(x: float) -> str:
        return "n/a" if math.isnan(x) else f"{100 * x:+.2f} %"

    lines.append(f"runoff volume {pct(c.runoff_volume)} ({c.twin.runoff_volume:.1f} against {c.swmm.runoff_volume:.1f} m3), "
                 f"outfall volume {pct(c.outfall_volume)} ({sum(c.twin.outfall_volume.values()):.1f} against "
                 f"{sum(c.swmm.outfall_volume.values()):.1f} m3), flooding volume {pct(c.flooding_volume)} "
                 f"({sum(c.twin.flooding_volume.values()):.1f} against {sum(c.swmm.flooding_volume.values()):.1f} m3)")
    lines.append(f"SWMM's flow routing continuity error {c.swmm.routing_error:+.3f} % ({abs(c.swmm.routing_imbalance):.1f} m3 "
                 f"{'made' if c.swmm.routing_imbalance >= 0 else 'lost'}); outfall volume against SWMM's less that "
                 f"{pct(c.outfall_volume_net)}")
    lines.append(f"time: twin {c.twin.wall_s:.2f} s wall ({c.twin.cpu_s:.2f} s CPU) after its first tick "
                 f"({c.twin.first_tick_s:.2f} s CPU: the network built, the router loaded), SWMM {c.swmm.wall_s:.2f} s "
                 f"wall ({c.swmm.cpu_s:.2f} s CPU) from opening the file")
    return "\n".join(lines)
