"""The figures and the plot of docs/models.md's "Public SWMM networks against SWMM 5.2":
every `.inp` the pyswmm and swmmio wheels ship that SWMM runs, in the twin
(`twin drainage compare`) and in SWMM 5.2.4 through pyswmm.

    .venv/bin/python docs/make_drainage_public.py            # table on stdout, the plot beside this file
    .venv/bin/python docs/make_drainage_public.py --json out.jsonl

Writes ``models-drainage-public.png``: per network, the p95 and the largest peak-depth
difference and the p95 peak-flow difference, against the tolerances of issue 16.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "plugins" / "drainage" / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write one JSON line per network")
    parser.add_argument("--from-json", type=Path, help="plot and tabulate these lines instead of running")
    args = parser.parse_args()
    if args.from_json:
        rows = [json.loads(line) for line in args.from_json.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        rows = run_all(args.json)
    table(rows)
    plot(rows, HERE / "models-drainage-public.png")


def run_all(out: Path | None) -> list[dict]:
    from test_drainage_public import label, runnable

    from twin_drainage import run

    rows = []
    for path in runnable():
        c = run.compare(path)
        d, q = c.peak_depth.stats(), c.peak_flow.stats()
        row = {"name": label(path), "nodes": d["count"], "links": q["count"],
               "depth_max": d["max"], "depth_p95": d["p95"], "flow_p95": q["p95"], "flow_max": q["max"],
               "runoff": c.runoff_volume, "outfall": c.outfall_volume, "flooding": c.flooding_volume,
               "swmm_continuity": c.swmm.routing_error / 100.0, "outfall_net": c.outfall_volume_net,
               "swmm_flooded": sum(c.swmm.flooding_volume.values()), "swmm_runoff": c.swmm.runoff_volume,
               "twin_s": c.twin.wall_s, "swmm_s": c.swmm.wall_s, "twin_cpu": c.twin.cpu_s, "swmm_cpu": c.swmm.cpu_s,
               "twin_first_cpu": c.twin.first_tick_s}
        rows.append(row)
        if out is not None:
            with out.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
    return rows


def pct(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:+.1f} %"


def within(r: dict) -> bool:
    """The slow test's tolerances (test_drainage_public.test_agrees_with_swmm) on one row."""
    import test_drainage_public as t

    def small(x: float, bound: float) -> bool:
        return x is None or (isinstance(x, float) and math.isnan(x)) or abs(x) <= bound

    return (r["depth_p95"] <= t.DEPTH_P95 and r["depth_max"] <= t.DEPTH_MAX and r["flow_p95"] <= t.FLOW_P95
            and small(r["runoff"], t.VOLUME)
            and (small(r["outfall"], t.VOLUME) or ("outfall_net" in r and abs(r["outfall_net"]) <= t.VOLUME))
            and (r["swmm_flooded"] <= t.FLOODS or small(r["flooding"], t.FLOODING)))


def table(rows: list[dict]) -> None:
    print("| network | nodes / links | peak depth p95 / max (m) | peak flow p95 / max | runoff | outfall "
          "(SWMM's continuity error) | flooding | CPU twin / SWMM (ms) | status |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        flooding = pct(r["flooding"]) if r["swmm_flooded"] > 1.0 else "none"
        # no runoff in SWMM (older lines lack swmm_runoff: their difference is then exactly 0)
        runoff = "none" if r.get("swmm_runoff", 1.0 if r["runoff"] != 0.0 else 0.0) <= 0.0 else pct(r["runoff"])
        status = "within" if within(r) else "outside (xfail, reason in the test)"
        print(f"| {r['name']} | {r['nodes']} / {r['links']} | {r['depth_p95']:.3f} / {r['depth_max']:.3f} | "
              f"{100 * r['flow_p95']:.1f} / {100 * r['flow_max']:.1f} % | {runoff} | {pct(r['outfall'])}"
              f"{continuity(r)} | "
              f"{flooding} | {cpu(r)} | {status} |")
    print(f"\n{sum(within(r) for r in rows)} of {len(rows)} within every tolerance")
    timed = [r for r in rows if "twin_cpu" in r]
    if timed:
        ours, theirs = sum(r["twin_cpu"] for r in timed), sum(r["swmm_cpu"] for r in timed)
        faster = sum(r["twin_cpu"] < r["swmm_cpu"] for r in timed)
        print(f"CPU over the {len(timed)} files: twin {ours:.2f} s (after each first tick), SWMM {theirs:.2f} s; "
              f"the twin takes less on {faster}")


def continuity(r: dict) -> str:
    """SWMM's own flow routing continuity error where it is 0.1 % or more, and where the
    outfall volume is more than 2 % off SWMM's, the difference against SWMM's less the
    water that error stands for (which the test then holds within 2 %)."""
    error = r.get("swmm_continuity", 0.0)
    if abs(error) < 0.001:
        return ""
    net = f"; {pct(r['outfall_net'])} net" if abs(r["outfall"]) > 0.02 and "outfall_net" in r else ""
    return f" (SWMM {100 * error:+.1f} %{net})"


def cpu(r: dict) -> str:
    """The twin's CPU after its first tick (which builds the network and loads the
    compiled router) and SWMM's from opening the file, in ms."""
    return f"{1e3 * r['twin_cpu']:.0f} / {1e3 * r['swmm_cpu']:.0f}" if "twin_cpu" in r else "–"


def plot(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["name"].split("/")[1].removesuffix(".inp") for r in rows]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    x = range(len(rows))
    ax1.bar([i - 0.2 for i in x], [r["depth_p95"] for r in rows], 0.4, label="p95")
    ax1.bar([i + 0.2 for i in x], [r["depth_max"] for r in rows], 0.4, label="max")
    ax1.axhline(0.05, color="C0", ls="--", lw=1, label="p95 tolerance 0.05 m")
    ax1.axhline(0.15, color="C1", ls="--", lw=1, label="max tolerance 0.15 m")
    ax1.set_yscale("symlog", linthresh=0.01)
    ax1.set_ylabel("peak depth |twin − SWMM| (m)")
    ax1.legend(fontsize=7, ncol=4)
    ax2.bar(list(x), [100 * r["flow_p95"] for r in rows], 0.6, color="C2", label="peak flow p95")
    ax2.axhline(10.0, color="C2", ls="--", lw=1, label="tolerance 10 %")
    ax2.set_yscale("symlog", linthresh=1.0)
    ax2.set_ylabel("peak flow |twin − SWMM| (%)")
    ax2.legend(fontsize=7)
    ax2.set_xticks(list(x))
    ax2.set_xticklabels(names, rotation=70, ha="right", fontsize=7)
    fig.suptitle("Public SWMM networks (pyswmm 2.2 and swmmio 0.8.6 wheels): the twin against SWMM 5.2.4", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


if __name__ == "__main__":
    main()
