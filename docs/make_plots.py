"""Make the four plots of docs/models.md from real runs of the installed plugins.

Each plot runs a real engine (``twin.authoring.testing.Harness`` over the demo district, seed
20261123 and 8 x 7 blocks, or an ``Engine`` over a scene written by the SWMM importer)
with the plugin's own module, and compares what the engine computed with an independent
reference computed here from the same parameters:

- ``models-gas.png``: a manhole's CH4 (%LEL) after the demo's leak against the exact
  well-mixed solution C(t) = Css + (C0 - Css) exp(-t/tau), with the leak written out
  from the orifice equation;
- ``models-drainage.png``: node depths through a storm on a branched network against
  EPA SWMM 5.2 run through pyswmm on the same ``.inp`` (``twin_drainage.swmm``);
- ``models-bridges.png``: the stress history at a span's fatigue detail as its counter
  was fed, its rainflow histogram, and the engine's Miner damage against ``fatpack`` over
  the cycles the ``rainflow`` package counts in it;
- ``models-tunnels.png``: a power compartment's air temperature and O2 in the demo's
  t-squared fire against ``scipy.integrate.solve_ivp`` on the balances written out here
  (walls as a heat sink, the fire starving at the lower oxygen limit), and the ceiling
  temperature against Li & Ingason's correlation written out here.

Run from the repository root with the project's venv (matplotlib, pyswmm, rainflow,
fatpack and scipy installed):

    NUMBA_CACHE_DIR=/tmp/numba-models .venv/bin/python docs/make_plots.py [gas drainage bridges tunnels]

It prints the maximum error of each comparison (also in each plot's title). About 25 s
in all on a warm Numba cache, 2 minutes on a cold one.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from twin.authoring.testing import Harness  # noqa: E402

HERE = Path(__file__).resolve().parent
#: the demo district (scenes/demo/scene.toml [generated])
DEMO = dict(blocks=(8, 7), seed=20261123)
PA = 101325.0
RGAS = 8.314462618


def _harness(root: Path, plugins, **kwargs) -> Harness:
    return Harness(root, plugins=plugins, **{**DEMO, **kwargs})


# --- gas ----------------------------------------------------------------------------
def plot_gas(root: Path) -> dict[str, float]:
    """The demo's leak (G-M-0028, 12 mm hole, Cd 0.62) with the gas plugin alone: CH4
    in manhole G-MH-0055 in the simulator's truth, tick by tick, against the closed form."""
    import twin_gas.plugin as gas_plugin
    from twin_gas import model

    main, space, leak_at, seconds = "G-M-0028", "G-MH-0055", 5.0, 3600
    h = _harness(root, [gas_plugin])
    truth = h.engine.simulator.world
    g = truth.tables["gas"]
    row = g.index[space]
    topo = model.topology(truth)
    assert row not in topo.pair_a and row not in topo.pair_b, "the closed form needs a space with no neighbour"
    h.run(leak_at)
    h.act("gas.leak", main, diameter=0.012, cd=0.62)
    times, ch4, seen, raised = [], [], [], {}
    for _ in range(seconds):
        h.run(1)
        times.append(h.engine.time - leak_at)
        ch4.append(float(g["ch4"][row]))
        seen.append(h.value(space, "ch4"))  # the twin's detector reading (noise 0.05 %vol)
        level = max((a.level for a in h.alarms(space)), default=0)
        raised.setdefault(level, times[-1])
    times, ch4, seen = np.array(times), np.array(ch4), np.array(seen)
    h.close()

    # The reference, from the scene's parameters: the choked orifice (Crowl & Louvar ch. 4,
    # written out here, k 1.31, M 0.01604, Z 1), the share eta that reaches the space, the
    # well-mixed box (Crowl & Louvar ch. 3).
    mrow = g.index[main]
    p1, temp = float(g["operating_pressure"][mrow]), float(g["temperature"][mrow])
    k, m_mol = 1.31, 0.01604
    assert PA / p1 <= (2 / (k + 1)) ** (k / (k - 1)), "a medium-pressure main chokes"
    mdot = 0.62 * math.pi / 4 * 0.012**2 * p1 * math.sqrt(k * m_mol / (RGAS * temp) * (2 / (k + 1)) ** ((k + 1) / (k - 1)))
    rho = PA * m_mol / (RGAS * float(g["temperature"][row]))
    qg = float(g["migration_share"][row]) * mdot / rho
    qv, volume = float(g["ventilation"][row]), float(g["volume"][row])
    css, tau, c0 = qg / (qg + qv), volume / (qg + qv), 0.0
    exact = 100.0 * (css + (c0 - css) * np.exp(-times / tau))  # %vol
    lel = 5.0  # %vol, the kernel's lel_volume_percent
    err = np.abs(ch4 - exact).max() / lel * 100.0  # %LEL
    rel = np.max(np.abs(ch4 - exact) / exact)
    t_star = -tau * math.log((css - lel / 100) / (css - c0))

    fig, (ax, ax_z) = plt.subplots(1, 2, figsize=(11.0, 5.0), width_ratios=(1.25, 1.0))
    for a, end in ((ax, seconds), (ax_z, 180)):
        cut = times <= end
        a.plot(times[cut], seen[cut] / lel * 100, ".", ms=2.5, color="0.65",
               label="twin: detector GS-CH4-0089 (noise 0.05 %vol)")
        a.plot(times[cut], ch4[cut] / lel * 100, "-", lw=2.4, color="#f2a900", label="engine (simulator truth), 1 s ticks")
        a.plot(times[cut], exact[cut] / lel * 100, "--", lw=1.2, color="k",
               label=r"closed form $C_{ss}+(C_0-C_{ss})\,e^{-t/\tau}$")
        a.set_xlim(0, end)
        a.set_xlabel(f"time since the leak opened in {main} (s)")
    ax.axhline(css * 100 / lel * 100, color="0.3", lw=0.8, ls=":")
    ax.text(seconds * 0.98, css * 100 / lel * 100 * 0.55,
            f"Css = Qg/(Qg+Qv) = {css * 100:.1f} %vol = {css * 100 / lel * 100:.0f} %LEL\n"
            "(the well-mixed box; real gas layers,\nand methane's UEL is 15 %vol)", fontsize=7.5, color="0.3",
            ha="right", va="top")
    ax.set_ylim(0, css * 100 / lel * 100 * 1.08)
    ax.set_ylabel("CH4 in the manhole (%LEL, LEL = 5 %vol)")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("the first hour", fontsize=9)
    for level, value, colour in (("IV", 10, "#1f77b4"), ("III", 25, "#d4b000"), ("II", 50, "#ff7f0e"),
                                 ("I", 75, "#d62728")):
        ax_z.axhline(value, color=colour, lw=0.8, ls=":")
        ax_z.text(178, value, f"level {level}: {value} %LEL", ha="right", va="bottom", fontsize=8, color=colour)
    ax_z.axvline(t_star, color="0.3", lw=0.8, ls="-.")
    ax_z.text(t_star - 2, 118, f"100 %LEL at\nt* = {t_star:.0f} s ", fontsize=8, color="0.3", ha="right", va="top")
    ax_z.set_ylim(0, 130)
    names = {1: "IV", 2: "III", 3: "II", 4: "I"}
    said = ", ".join(f"{names[k]} {v:.0f} s" for k, v in sorted(raised.items()) if k)
    ax_z.set_title(f"the first 3 minutes, with the default levels\nthe twin's alarm from the detector: {said}",
                   fontsize=8.5)
    fig.suptitle(f"Gas: {space} CH4 after the demo's 12 mm leak, engine vs the exact well-mixed solution\n"
                 f"Qg = η·m/ρ = {qg * 1e3:.3f} L/s, Qv = {qv * 1e3:.3f} L/s, V = {volume:.3f} m³, τ = {tau:.0f} s; "
                 f"max |error| {err:.1e} %LEL (relative {rel:.1e})", fontsize=10)
    fig.tight_layout()
    fig.savefig(HERE / "models-gas.png", dpi=110)
    plt.close(fig)
    out = {"gas max |error| %LEL": err, "gas max relative error": rel, "gas t* s": t_star,
           "gas Qg L/s": qg * 1e3, "gas leak kg/s": mdot}
    out.update({f"gas twin level {k} raised at s": v for k, v in sorted(raised.items()) if k})
    return out


# --- drainage -----------------------------------------------------------------------
#: plugins/drainage/tests/test_drainage_swmm.py BRANCHED: two branches joining above an
#: undersized 0.4 m pipe (P4); manholes {id: (x, invert, rim, catchment ha, C)}
BRANCHED = dict(
    manholes={"A": (0.0, 20.0, 22.5, 1.5, 0.9), "B": (60.0, 19.7, 22.3, 1.0, 0.8), "C": (0.0, 19.9, 22.4, 2.0, 0.7),
              "J": (120.0, 19.4, 21.8, 0.5, 0.9), "K": (180.0, 19.2, 21.5, 0.3, 0.6)},
    pipes=[("P1", "A", "B", 0.5, 60.0), ("P2", "B", "J", 0.6, 60.0), ("P3", "C", "J", 0.5, 120.0),
           ("P4", "J", "K", 0.4, 60.0), ("P5", "K", "OF", 0.8, 50.0)],
    outfalls={"OF": (230.0, 18.9)},
)


def _features(manholes, pipes, outfalls, ponding_area=200.0):
    from twin.authoring.citygen import line, point
    from twin_drainage import swmm

    out = []
    for mid, (x, invert, rim, area, c) in manholes.items():
        out.append({"type": "Feature", "geometry": point(x, 0.0, rim), "properties": {
            "id": mid, "kind": "manhole", "invert_elevation": invert, "rim_elevation": rim, "catchment_area": area,
            "runoff_coefficient": c, "shaft_area": swmm.SWMM_MIN_SURFAREA, "ponding_area": ponding_area}})
    for oid, (x, invert) in outfalls.items():
        out.append({"type": "Feature", "geometry": point(x, 0.0, invert),
                    "properties": {"id": oid, "kind": "outfall", "invert_elevation": invert}})
    for pid, up, down, diameter, length in pipes:
        out.append({"type": "Feature", "geometry": line([(0.0, 0.0, 0.0), (length, 0.0, 0.0)]), "properties": {
            "id": pid, "kind": "pipe", "links": [up, down], "diameter": diameter, "length": length, "roughness": 0.013}})
    return out


def plot_drainage(root: Path) -> dict[str, float]:
    """A 60 mm/h-peak storm on the branched network: SWMM (dynamic wave, SLOT surcharge)
    through pyswmm on the exported .inp, and the twin's engine on the scene the importer
    writes from that same file."""
    from pyswmm import Nodes, Simulation

    from twin.tick.engine import Engine
    from twin.plugins.registry import load_registry
    from twin.tick.scene import load_scene
    from twin_drainage import plugin, swmm

    duration, peak = 2400.0, 60.0
    rain = [(0.0, peak / 3), (300.0, peak), (600.0, peak / 2), (900.0, peak / 4), (1200.0, 0.0)]
    inp = swmm.export_inp(_features(**BRANCHED), root / "branched.inp", rain=rain, duration=duration,
                          rain_interval=300.0, options={"SURCHARGE_METHOD": "SLOT"})
    watch = ("J", "B", "K")

    ref_t, ref = [], {n: [] for n in watch}
    with Simulation(str(inp)) as sim:
        sim.step_advance(1)
        nodes = {n: Nodes(sim)[n] for n in watch}
        start = sim.start_time
        for _ in sim:
            ref_t.append((sim.current_time - start).total_seconds())
            for n in watch:
                ref[n].append(nodes[n].depth)
    ref_t = np.array(ref_t)

    swmm.write_scene(inp, root / "scene")
    registry = load_registry([plugin], entry_points=False)
    engine = Engine(load_scene(root / "scene", registry.domains), registry, simulate=True, dt=1.0)
    table = engine.simulator.world.tables["drainage"]
    rows = {n: table.index[n] for n in watch}
    rim = {n: float(table["rim_elevation"][rows[n]] - table["invert_elevation"][rows[n]]) for n in watch}
    crown = {}
    ours_t, ours = [], {n: [] for n in watch}
    for _ in range(int(duration)):
        engine.run(1.0)
        ours_t.append(engine.time)
        for n in watch:
            ours[n].append(float(table["depth"][rows[n]]))
    for n in watch:
        crown[n] = float(table["crown_elevation"][rows[n]] - table["invert_elevation"][rows[n]])
    engine.close()
    ours_t = np.array(ours_t)

    stats = {}
    fig, (rain_ax, ax, ax_err) = plt.subplots(3, 1, figsize=(8.5, 7.4), sharex=True, height_ratios=(0.7, 3, 1.3))
    colours = {"J": "#2b8cbe", "B": "#31a354", "K": "#756bb1"}
    for n in watch:
        ours_n = np.array(ours[n])
        ref_n = np.interp(ours_t, ref_t, np.array(ref[n]))
        diff = ours_n - ref_n
        stats[f"drainage {n} max |depth error| m"] = float(np.abs(diff).max())
        stats[f"drainage {n} peak depth error m"] = float(ours_n.max() - np.max(ref[n]))
        if np.max(ref[n]) > 2.0:  # the drain-down front: the last time the node falls through 2 m
            falls = [when[np.flatnonzero((series[:-1] >= 2.0) & (series[1:] < 2.0))[-1] + 1]
                     for series, when in ((ours_n, ours_t), (np.array(ref[n]), ref_t))]
            stats[f"drainage {n} drains through 2 m, twin - SWMM s"] = float(falls[0] - falls[1])
        ax.plot(ref_t / 60, ref[n], "-", color=colours[n], lw=2.6, alpha=0.45, label=f"{n}: SWMM 5.2 (pyswmm)")
        ax.plot(ours_t / 60, ours_n, "--", color=colours[n], lw=1.3, label=f"{n}: twin router")
        ax_err.plot(ours_t / 60, diff, color=colours[n], lw=1.0, label=n)
    ax.axhline(rim["J"], color="#d62728", lw=0.8, ls=":")
    ax.text(26, rim["J"] + 0.03, f"J rim ({rim['J']:.1f} m): flooding", color="#d62728", fontsize=8)
    ax.axhline(crown["J"], color="#1f77b4", lw=0.8, ls=":")
    ax.text(26, crown["J"] + 0.03, f"J crown ({crown['J']:.1f} m): surcharge, level IV", color="#1f77b4", fontsize=8)
    edges = [r[0] / 60 for r in rain] + [duration / 60]
    rain_ax.stairs([r[1] for r in rain], edges, color="0.5", fill=True, alpha=0.5)
    rain_ax.set_ylim(peak * 1.15, 0)
    rain_ax.set_ylabel("rain\n(mm/h)")
    ax.set_ylabel("node depth above invert (m)")
    ax.set_ylim(0, 3.2)
    ax.legend(loc="center right", fontsize=8, ncol=1)
    ax_err.axhline(0.0, color="0.5", lw=0.6)
    ax_err.set_ylabel("twin − SWMM (m)")
    ax_err.set_xlabel("time (min)")
    ax_err.legend(loc="lower right", fontsize=8, ncol=3)
    worst = max(stats[f"drainage {n} max |depth error| m"] for n in watch)
    peak_err = max(abs(stats[f"drainage {n} peak depth error m"]) for n in watch)
    shift = stats["drainage J drains through 2 m, twin - SWMM s"]
    rain_ax.set_title("Drainage: node depths in a storm that surcharges and floods J, twin router vs SWMM 5.2 "
                      "(same .inp)\n"
                      f"peaks within {peak_err:.3f} m; max |Δ depth| {worst:.2f} m on the drain-down front "
                      f"(J falls through 2 m {abs(shift):.0f} s {'before' if shift < 0 else 'after'} SWMM's)",
                      fontsize=10)
    fig.tight_layout()
    fig.savefig(HERE / "models-drainage.png", dpi=110)
    plt.close(fig)
    return stats


# --- bridges ------------------------------------------------------------------------
def plot_bridges(root: Path) -> dict[str, float]:
    """The demo's span B-S-0013 for an hour of the morning peak with two overloads (the
    demo's 120 t at 20 s, 180 t at 30 min, a minute each at midspan): the stress history
    at the fatigue detail that the truth's streaming counter was fed (each tick's sample
    and the crossing trucks' peaks between samples), and the engine's Miner damage
    against fatpack's EN 1993-1-9 curve over the cycles the ``rainflow`` package counts
    in that same history."""
    import fatpack
    import rainflow

    import twin_bridges.plugin as bridge_plugin

    span, seconds = "B-S-0013", 3600
    drill = [(20.0, 120.0), (1800.0, 180.0)]

    def overloads(plan):
        for at, load in drill:
            plan.add_incident(at, "bridge.overload", span, load=load, duration=60.0)

    h = _harness(root, [bridge_plugin], plan_hook=overloads)
    world = h.engine.simulator.world
    b = world.tables["bridge"]
    row = b.index[span]
    h.run(1)  # the fatigue updater's memory exists from the first tick
    state = world.memo(("bridge", "fatigue"), lambda: None)
    s = int(np.flatnonzero(b.rows("span") == row)[0])  # the span's place in the counter
    history, ticks, damage = [], [], []
    for tick in range(2, seconds + 1):
        state.sample_spans[:] = -1  # so that what this tick feeds is all that matches
        h.run(1)
        fed = state.samples[state.sample_spans == s]
        history.extend(fed.tolist())
        ticks.extend([tick] * len(fed))
        damage.append(float(b["fatigue_damage"][row]))
    h.close()
    history, ticks, damage = np.array(history), np.array(ticks), np.array(damage)
    initial = float(b["initial_damage"][row])
    category = float(b["detail_category"][row])
    curve = fatpack.TriLinearEnduranceCurve(category)

    def reference(upto: int) -> float:
        """fatpack over rainflow's full and half cycles in the history up to its last
        reversal that a later sample confirmed (what the counter has counted by then;
        the ranges still open count as half cycles, as the engine books them)."""
        part = history[:upto]
        points = list(rainflow.reversals(part))
        part = part[: points[-2][0] + 1] if len(points) >= 2 else part[:1]
        cycles = np.array([(r, n) for r, _, n, _, _ in rainflow.extract_cycles(part)]) if len(part) > 2 else []
        return float(curve.find_miner_sum(cycles)) if len(cycles) else 0.0

    checks = np.unique(np.linspace(2, seconds, 90).astype(int))
    ours = np.array([damage[t - 2] - initial for t in checks])
    ref = np.array([reference(int(np.searchsorted(ticks, t, side="right"))) for t in checks])
    scale = max(float(np.abs(ref).max()), 1e-300)
    rel = float(np.max(np.abs(ours - ref)) / scale)

    cycles = [(r, n) for r, _, n, _, _ in rainflow.extract_cycles(history)]
    bins = np.linspace(0.0, max(r for r, _ in cycles) * 1.02, 41)
    hist = np.histogram([r for r, _ in cycles], bins, weights=[n for _, n in cycles])[0]
    above = sum(n for r, n in cycles if r >= curve.Sl)

    fig = plt.figure(figsize=(9.5, 7.0))
    grid = fig.add_gridspec(2, 2, height_ratios=(1.0, 1.1))
    ax = fig.add_subplot(grid[0, :])
    ax.plot(ticks / 60, history, lw=0.5, color="#8c6bb1")
    for at, load in drill:
        ax.text((at + 30) / 60, history[(ticks > at) & (ticks < at + 60)].max() + 3, f"{load:.0f} t", fontsize=7,
                ha="center")
    ax.axhline(curve.Sl, color="#d62728", lw=0.6, ls=":")
    ax.set_xlabel("time (min), from 08:00")
    ax.set_ylabel("stress at the detail (MPa)")
    ax.set_ylim(top=history.max() * 1.15)
    ax.set_title(f"span {span} ({b['length'][row]:.0f} m): the samples its counter was fed, {len(history)} in an "
                 "hour: each tick's sample and the trucks' peaks between samples", fontsize=9)
    ax_h = fig.add_subplot(grid[1, 0])
    centres = 0.5 * (bins[1:] + bins[:-1])
    ax_h.bar(centres, hist, width=bins[1] - bins[0], color="0.65", label="rainflow.extract_cycles")
    for value, name in ((curve.Sl, "Δσl"), (curve.Sd, "Δσd"), (category, "Δσc")):
        ax_h.axvline(value, color="#d62728", lw=0.8, ls=":")
        ax_h.text(value, hist.max(), f" {name}\n {value:.1f}", color="#d62728", fontsize=7, va="top")
    ax_h.set_yscale("log")
    ax_h.set_xlabel("stress range Δσ (MPa)")
    ax_h.set_ylabel("cycles per bin")
    ax_h.set_title(f"rainflow histogram of the hour: {above:g} cycles above the cut-off", fontsize=9)
    ax_h.legend(fontsize=7)
    ax_d = fig.add_subplot(grid[1, 1])
    ax_d.plot(np.arange(2, seconds + 1) / 60, (damage - initial) * 1e6, color="#8c6bb1", lw=1.6,
              label="engine: bridge.fatigue")
    ax_d.plot(checks / 60, ref * 1e6, "o", ms=3.5, mfc="none", color="k",
              label="fatpack on rainflow's cycles (full + ½ half)")
    ax_d.set_xlabel("time (min)")
    ax_d.set_ylabel("Miner damage added (×1e-6)")
    ax_d.set_title(f"damage: max difference {rel:.1e} of the hour's total", fontsize=8.5)
    ax_d.legend(fontsize=6.5, loc="upper left")
    fig.suptitle("Bridges: stress at the fatigue detail, rainflow counting (ASTM E1049) and Miner damage "
                 f"(EN 1993-1-9, Δσc = {category:.0f} MPa)\nengine vs rainflow + fatpack on the same history",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(HERE / "models-bridges.png", dpi=110)
    plt.close(fig)
    return {"bridges damage added": float(ours[-1]), "bridges damage max difference (of total)": rel,
            "bridges samples fed": float(len(history)), "bridges cycles above cut-off": float(above),
            "bridges max detail stress MPa": float(history.max())}


# --- tunnels ------------------------------------------------------------------------
def plot_tunnels(root: Path) -> dict[str, float]:
    """The demo's fire (T-P-0005, medium t-squared growth, 3 MW cap, at 30 s): the
    compartment's air temperature and O2 in the simulator's truth against solve_ivp on
    the heat and oxygen balances written out here from the sources (walls after
    McCaffrey, Quintiere & Harkleroad; CFAST's 15 %vol lower oxygen limit), with the fan
    schedule the run produced (the fans stop when the detector trips, GB 50838-2015) as
    its input."""
    from scipy.integrate import solve_ivp

    import twin_tunnels.plugin as tunnel_plugin

    space, fire_at, seconds = "T-P-0005", 30.0, 1200
    alpha, max_hrr, lol = 0.01172, 3000.0, 15.0  # SFPE medium, kW/s2; kW; %vol
    h = _harness(root, [tunnel_plugin], plan_hook=lambda plan: plan.add_incident(
        fire_at, "tunnel.fire", space, growth=2.0, max_hrr=max_hrr))
    tt = h.engine.simulator.world.tables["tunnel"]
    row = tt.index[space]
    times, temp, ceiling, ach, hrr, o2 = [], [], [], [], [], []
    h.run(fire_at - 1)  # the incident acts before the tick that ends at 30 s
    t_start = h.engine.time
    temp0, o2_0 = float(tt["temperature"][row]), float(tt["o2"][row])
    for _ in range(seconds):
        h.run(1)
        times.append(h.engine.time)
        temp.append(float(tt["temperature"][row]))
        ceiling.append(float(tt["ceiling_temperature"][row]))
        ach.append(float(tt["air_changes"][row]))  # what the fans gave during this tick
        hrr.append(float(tt["heat_release"][row]))
        o2.append(float(tt["o2"][row]))
    h.close()
    times, temp, ceiling, ach, hrr, o2 = map(np.array, (times, temp, ceiling, ach, hrr, o2))

    volume, ua, cable = float(tt["volume"][row]), float(tt["ua"][row]), float(tt["cable_heat"][row])
    soil, inlet = float(tt["soil_temperature"][row]), float(tt["inlet_temperature"][row])
    height, section = float(tt["ceiling_height"][row]), float(tt["cross_section"][row])
    length = float(tt["length"][row])
    width = volume / (length * height)
    surface = 2 * (length * width + length * height + width * height)  # walls, floor, ceiling
    rho_cp = 1.2 * 1005.0

    def walls(age):  # W/K: MQH thermally thick concrete (EN 1992-1-2) in series with EN 1991-1-2's 25 W/(m2 K)
        if age <= 0:
            return ua
        k, rho_c, delta = 1.6, 2300.0 * 900.0, 0.3
        hk = math.sqrt(k * rho_c / age) if age < rho_c / k * (delta / 2) ** 2 else k / delta
        return max(ua, surface / (1 / 25.0 + 1 / hk))

    def o2_density(t_air):  # kg/m3 of pure O2 at 1 atm
        return 101325.0 * 0.032 / (8.314462618 * (t_air + 273.15))

    def ventilation(t):  # m3/s: the air changes of the tick that holds t
        k = min(max(int(math.ceil(t - t_start)) - 1, 0), len(ach) - 1)
        return ach[k] * volume / 3600.0

    def rhs(t, y, starved):
        # rho cp V dT/dt = q_cable + Q + G(t) (T_soil - T) + rho cp Qv (T_in - T)
        # V dx/dt = Qv (20.95 % - x) - Q / (13.1 MJ/kg rho_O2); Q = alpha t^2 until x reaches the
        # limit, then what the incoming air supports (nothing with the fans stopped)
        age = t - t_start
        qv = ventilation(t)
        q = 1000.0 * min(alpha * max(age, 0.0) ** 2, max_hrr)
        if starved:
            q = min(q, 13.1e6 * o2_density(y[0]) * qv * (20.95 - lol) / 100.0)
        dtemp = (cable + q + walls(age) * (soil - y[0]) + rho_cp * qv * (inlet - y[0])) / (rho_cp * volume)
        dx = (qv * (20.95 - y[1]) - 100.0 * q / 13.1e6 / o2_density(y[0])) / volume
        return [dtemp, dx]

    def reaches_limit(t, y, starved):
        return y[1] - lol
    reaches_limit.terminal, reaches_limit.direction = True, -1
    first = solve_ivp(rhs, (t_start, times[-1]), [temp0, o2_0], args=(False,), events=reaches_limit,
                      rtol=1e-10, atol=1e-10, max_step=0.25, dense_output=True)
    limit_at = first.t_events[0][0] if first.t_events[0].size else None
    second = None
    if limit_at is not None:
        second = solve_ivp(rhs, (limit_at, times[-1]), first.y[:, -1], args=(True,), rtol=1e-10, atol=1e-10,
                           max_step=0.25, dense_output=True)
    ref = np.array([(first.sol(t) if limit_at is None or t <= limit_at else second.sol(t)) for t in times])
    ref, ref_o2 = ref[:, 0], ref[:, 1]
    err = float(np.abs(temp - ref).max())
    rel = float(np.max(np.abs(temp - ref) / np.abs(ref)))
    o2_err = float(np.abs(o2 - ref_o2).max())

    # Li, Lei & Ingason (2011) written out: V' = u0/w*, w* = (g Q/(b_fo rho0 cp T0))^(1/3)
    def li_ingason(q, u0, t_air, h_ef=height - 0.5, b_fo=0.5):
        if q <= 0:
            return 0.0
        w_star = (9.81 * q / (b_fo * 1.2 * 1.005 * (t_air + 273.15))) ** (1 / 3)
        if u0 / w_star > 0.19:
            return min(q / (u0 * b_fo ** (1 / 3) * h_ef ** (5 / 3)), 1350.0)
        return min(17.5 * q ** (2 / 3) / h_ef ** (5 / 3), 1350.0)

    ceiling_ref = np.array([max(ta, min(ta + li_ingason(q, a * volume / 3600 / section, ta), soil + 1350.0))
                            for ta, q, a in zip(temp, hrr, ach)])
    ceiling_err = float(np.abs(ceiling - ceiling_ref).max())
    detector = float(tt["detector_temperature"][row])
    tripped = times[np.argmax(ceiling >= detector)] - t_start

    fig, (ax, ax_o, ax_c) = plt.subplots(3, 1, figsize=(8.5, 9.0), sharex=True, height_ratios=(1.2, 0.8, 1.0))
    rel_t = times - t_start
    ax.plot(rel_t, temp, color="#7b61ff", lw=2.4, label="engine: air temperature (simulator truth), 1 s ticks")
    ax.plot(rel_t, ref, "--", color="k", lw=1.1, label="solve_ivp on the heat and O2 balances (rtol 1e-10)")
    ax.axvline(tripped, color="0.4", lw=0.8, ls="-.")
    ax.text(tripped, temp.max() * 0.12, f" detector trips at {tripped:.0f} s: fans stop", fontsize=8, color="0.3")
    starved = times[np.argmax(hrr <= 0.0)] - t_start if (hrr[int(tripped):] <= 0.0).any() else None
    if starved is not None:
        for a in (ax, ax_o, ax_c):
            a.axvspan(starved, rel_t[-1], color="0.92", zorder=0)
        ax.text(starved + 10, temp.max() * 0.95, f"from {starved:.0f} s the O2 is at CFAST's\n{lol:.0f} %vol limit: "
                "the fire is out", fontsize=7.5, va="top", color="0.25")
    ax.set_ylabel("compartment air temperature (°C)")
    hrr_ax = ax.twinx()
    hrr_ax.plot(rel_t, hrr, color="#d62728", lw=0.9, alpha=0.6)
    hrr_ax.set_ylabel("heat release rate (kW)", color="#d62728")
    ax.legend(loc="center left", fontsize=8)
    ax.set_title(f"Tunnels: {space} ({volume:.0f} m³) in a medium t-squared cable fire (α = {alpha} kW/s², "
                 f"capped at {max_hrr / 1000:.0f} MW)\nair temperature, engine vs solve_ivp: max |error| "
                 f"{err:.2g} K (relative {rel:.1e}); O2 max |error| {o2_err:.2g} %vol", fontsize=10)
    ax_o.plot(rel_t, o2, color="#2ca02c", lw=2.4, label="engine: O2 (%vol)")
    ax_o.plot(rel_t, ref_o2, "--", color="k", lw=1.0, label="solve_ivp")
    ax_o.axhline(lol, color="0.4", lw=0.8, ls=":")
    ax_o.set_ylabel("O2 (%vol)")
    ax_o.legend(loc="upper right", fontsize=8)
    ax_c.plot(rel_t, ceiling, color="#ff7f0e", lw=2.4, label="engine: max ceiling gas temperature")
    ax_c.plot(rel_t, ceiling_ref, "--", color="k", lw=1.0, label="Li, Lei & Ingason (2011), written out")
    for value in (40.0, 50.0, 60.0, 70.0):
        ax_c.axhline(value, color="0.6", lw=0.6, ls=":")
    ax_c.text(seconds * 0.2, 31, "dotted: default levels IV 40, III 50, II 60, I 70 °C", fontsize=7, color="0.4")
    ax_c.axhline(detector, color="#d62728", lw=0.8, ls="--")
    ax_c.text(5, detector, f"detector {detector:.0f} °C (EN 54-5 A1) → fire = level I", fontsize=7, color="#d62728",
              va="bottom")
    ax_c.set_yscale("log")
    ax_c.set_ylabel("ceiling gas temperature (°C)")
    ax_c.set_xlabel(f"time since ignition (s; ignition at {t_start:.0f} s of the run)")
    ax_c.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "models-tunnels.png", dpi=110)
    plt.close(fig)
    return {"tunnels air max |error| K": err, "tunnels air max relative error": rel, "tunnels O2 max |error| %vol": o2_err,
            "tunnels ceiling max |error| K": ceiling_err, "tunnels detector trips s": float(tripped),
            "tunnels max air temperature C": float(temp.max()), "tunnels max ceiling temperature C": float(ceiling.max()),
            "tunnels fire out at s": float(starved or -1), "tunnels min O2 %vol": float(o2.min())}


PLOTS = {"gas": plot_gas, "drainage": plot_drainage, "bridges": plot_bridges, "tunnels": plot_tunnels}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("domains", nargs="*", help=f"any of {', '.join(PLOTS)} (default: all four)")
    args = parser.parse_args(argv)
    unknown = [d for d in args.domains if d not in PLOTS]
    if unknown:
        parser.error(f"unknown domain(s) {', '.join(unknown)}; valid: {', '.join(PLOTS)}")
    for name in args.domains or list(PLOTS):
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"models-{name}-") as tmp:
            stats = PLOTS[name](Path(tmp))
        print(f"{name}: docs/models-{name}.png in {time.perf_counter() - started:.1f} s")
        for key, value in stats.items():
            print(f"  {key}: {value:.6g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
