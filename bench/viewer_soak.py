"""Viewer soak: the demo district streamed at ten times the demo's rate for ``--minutes``
(default 60) into one headless chromium page; the page's JS heap is sampled every
``--every`` seconds (after a forced collection, through CDP ``HeapProfiler.collectGarbage``
and ``Runtime.getHeapUsage``), with its DOM node count and listener count. It reports the
heap at five minutes and at the end, and their ratio: the goal is within 10 %.

Outside the default tests (it takes its minutes):

    .venv/bin/python bench/viewer_soak.py --minutes 60
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

DEMO_RATE = 1.0  # the demo serves one tick (dt = 1 s) per second


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--every", type=float, default=60.0, help="seconds between heap samples")
    ap.add_argument("--reference", type=float, default=5.0, help="minute whose heap the end is compared with")
    args = ap.parse_args()
    logging.getLogger("twin").setLevel(logging.WARNING)

    from conftest import launch_chromium, running
    from playwright.sync_api import sync_playwright

    from twin.runtime import open_twin
    from twin.serving.server import create_app

    tmp = Path(tempfile.mkdtemp(prefix="twin-viewer-soak-"))
    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", tmp / "scene.toml")
    server = create_app(lambda: open_twin(tmp, tmp / "data"), speed=10 * DEMO_RATE)
    samples: list[tuple[float, float, int, int, int, int]] = []  # (minute, heap MB, seq, deltas, dom nodes, listeners)
    try:
        with running(server.app) as url, sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": 1600, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url + "/")
            page.wait_for_function("window.__twin && window.__twin.stats().ready && window.__twin.stats().snapshots > 0", timeout=120000)
            cdp = page.context.new_cdp_session(page)
            cdp.send("Runtime.enable")
            start = time.monotonic()
            print(f"streaming the demo at {10 * DEMO_RATE:g} ticks/s for {args.minutes:g} min; sampling every {args.every:g} s", flush=True)
            while True:
                minute = (time.monotonic() - start) / 60
                cdp.send("HeapProfiler.collectGarbage")
                heap = cdp.send("Runtime.getHeapUsage")["usedSize"] / 1e6
                s = page.evaluate("window.__twin.stats()")
                nodes = page.evaluate("window.__twin.domNodes()")
                listeners = cdp.send("Memory.getDOMCounters").get("jsEventListeners", -1)
                samples.append((minute, heap, s["seq"], s["deltas"], nodes, listeners))
                print(f"  {minute:6.1f} min  heap {heap:7.2f} MB  seq {s['seq']:6d}  deltas {s['deltas']:6d}  "
                      f"gaps {s['gaps']}  dom {nodes}  listeners {listeners}", flush=True)
                if minute >= args.minutes:
                    break
                time.sleep(max(0.0, min(args.every, args.minutes * 60 - (time.monotonic() - start)) or 0.0))
            browser.close()
            if errors:
                print(f"page errors: {errors[:5]}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ref = min(samples, key=lambda x: abs(x[0] - args.reference))
    end = samples[-1]
    ratio = end[1] / ref[1]
    # the goal is no growth: a heap that shrank (alarms of the demo resolved) passes
    verdict = "within 10 %" if abs(ratio - 1) <= 0.10 else ("smaller (no growth)" if ratio < 1 else "GREW by more than 10 %")
    print(f"heap at {ref[0]:.1f} min: {ref[1]:.2f} MB; at {end[0]:.1f} min: {end[1]:.2f} MB; ratio {ratio:.3f} "
          f"({verdict}); dom nodes {ref[4]} -> {end[4]}, listeners {ref[5]} -> {end[5]}")
    print(f"RESULT minutes={end[0]:.1f} heap_5min_mb={ref[1]:.2f} heap_end_mb={end[1]:.2f} ratio={ratio:.3f} "
          f"deltas={end[3]} dom_nodes={end[4]} listeners={end[5]}")
    return 0 if ratio <= 1.10 else 1


if __name__ == "__main__":
    sys.exit(main())
