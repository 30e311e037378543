"""``twin drainage``: a utility's SWMM file run headless by the twin, and against SWMM.

    twin drainage run NET.inp [--summary peaks.csv] [--dt S]
    twin drainage compare NET.inp [--dt S] [--rows N]

``run`` imports the file and runs it under its own rain and inflows over its own period
(:func:`twin_drainage.run.run_twin`), prints the totals and the warnings of the import,
and with ``--summary`` writes per node the peak depth, its time, the hours surcharged
and the volume flooded, and per link the peak flow. ``compare`` also runs SWMM 5 on the
file (pyswmm) and prints the differences per node and link with their max, p95 and
median, and the volumes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from twin_drainage.inp import InpError


def arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="drainage_command", required=True)
    run = sub.add_parser("run", help="run a SWMM .inp headless in the twin under its own rain and inflows")
    run.add_argument("file", type=Path, metavar="NET.inp")
    run.add_argument("--summary", type=Path, metavar="peaks.csv",
                     help="write peak depth, time of peak, surcharge and flooding per node and peak flow per link")
    run.add_argument("--dt", type=float, metavar="S", help="tick length, s (default: the file's routing step, at least 10 s)")
    compare = sub.add_parser("compare", help="run a SWMM .inp in the twin and in SWMM 5 (pyswmm) and print the differences")
    compare.add_argument("file", type=Path, metavar="NET.inp")
    compare.add_argument("--dt", type=float, metavar="S", help="the twin's tick, s (default: the file's routing step, at least 10 s)")
    compare.add_argument("--rows", type=int, default=10, metavar="N", help="largest differences listed per quantity")


def main(args: argparse.Namespace) -> int:
    """Carry out ``twin drainage ...``; errors in the file raise ValueError (one line)."""
    from twin_drainage import run

    if not args.file.is_file():
        raise ValueError(f"{args.file}: no such file")
    if args.dt is not None and not args.dt > 0.0:
        raise ValueError(f"--dt {args.dt}: expected a tick length > 0 s")
    try:
        if args.drainage_command == "run":
            peaks = run.run_twin(args.file, args.dt)
            for warning in peaks.warnings:
                print(f"  warning: {warning}")
            flooded = sum(peaks.flooding_volume.values())
            print(f"{args.file.name}: {len(peaks.peak_depth)} nodes, {len(peaks.peak_flow)} links; runoff "
                  f"{peaks.runoff_volume:.1f} m3, discharged {sum(peaks.outfall_volume.values()):.1f} m3, flooded "
                  f"{flooded:.1f} m3 at {sum(1 for v in peaks.flooding_volume.values() if v > 0.0)} nodes, "
                  f"{sum(1 for v in peaks.surcharge_hours.values() if v > 0.0)} nodes surcharged; "
                  f"{peaks.wall_s:.2f} s ({peaks.cpu_s:.2f} s CPU)")
            if args.summary is not None:
                print(f"wrote {run.write_summary(peaks, args.summary)}")
            return 0
        comparison = run.compare(args.file, args.dt)
    except InpError as exc:
        raise ValueError(str(exc)) from None
    except ImportError as exc:
        raise ValueError(f"compare runs SWMM through pyswmm, which is not installed ({exc}); pip install pyswmm") from None
    for warning in comparison.twin.warnings:
        print(f"  warning: {warning}")
    print(run.table(comparison, args.rows))
    return 0
