"""Viewer benchmark: time per rendered frame and per delta apply in headless chromium.

A real server (``twin.serving.server.create_app`` under uvicorn, protocol v1) serves a synthetic
city of about 100,000 buried pipe segments and 20,000 buildings (``bench/_viewer_city.py``:
citygen's streets and buildings, a pipe domain whose ``risk`` churns on 2 % of the
segments per tick) at ``--rate`` ticks per second. Two pages load from it in turn, in
Debian's chromium (SwiftShader WebGL, the launch arguments of tests/conftest.py):

- ours: the viewer (one merged mesh per layer, per-vertex colours, repaint of the rows
  a delta changed), timed through ``window.__twin.perf()`` / ``timedFrames()``;
- baseline: ``bench/viewer_baseline.html``, one three.js Mesh and material per asset,
  colour set on the asset's material per row per delta, decoding with the same wire.js.

Per delta apply: ``performance.now()`` around the whole handling of a Delta frame
(decode, state, paint). Per frame: the mean of ``--frames`` frames rendered back to back,
each waited for with a one-pixel ``readPixels`` (so the GPU's work, SwiftShader's here,
counts), ticks paused meanwhile. With a software renderer the absolute numbers mean
little; the ratios (baseline / ours) are the result.

    .venv/bin/python bench/viewer.py            # 100,000 segments, 20,000 buildings
    .venv/bin/python bench/viewer.py --quick    # 10,000 and 2,000
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

VIEWPORT = {"width": 1600, "height": 900}


def say(msg: str) -> None:
    print(msg, flush=True)


def bench_routes(server, city: dict) -> None:
    """The baseline page, the viewer's sources it imports and the city's plain geometry,
    mounted under /bench before the server's own routes."""
    from starlette.responses import Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    body = json.dumps(city, separators=(",", ":")).encode()

    async def city_json(request):
        return Response(body, media_type="application/json")

    routes = [
        Route("/bench/city.json", city_json),
        Mount("/bench/page", StaticFiles(directory=HERE)),
        Mount("/bench/src", StaticFiles(directory=ROOT / "viewer" / "src")),
        Mount("/bench/modules", StaticFiles(directory=ROOT / "viewer" / "node_modules")),
    ]
    server.app.router.routes[0:0] = routes


def measure(page, hook: str, seconds: float, frames: int, server) -> dict:
    """Delta apply over ``seconds`` of streaming, then frames with the ticks paused. In
    ours, frames are timed with everything drawn and again with the same content as the
    baseline (buildings and pipes: terrain and river hidden through the layer panel)."""
    stats = f"window.{hook}.stats()"
    page.wait_for_function(f"n => {stats}.deltas >= n", arg=3, timeout=600000)
    p0 = page.evaluate(f"window.{hook}.perf()")
    d0 = page.evaluate(stats)["deltas"]
    time.sleep(seconds)
    p1 = page.evaluate(f"window.{hook}.perf()")
    d1 = page.evaluate(stats)["deltas"]
    server.running.clear()
    time.sleep(1.0)  # let the last deltas land
    try:
        page.evaluate(f"window.{hook}.timedFrames(2)")  # warm
        full_ms = page.evaluate(f"n => window.{hook}.timedFrames(n)", frames)
        if hook == "__twin":
            for layer in ("terrain", "river"):
                page.locator(f"input[data-layer='{layer}']").uncheck()
            page.evaluate(f"window.{hook}.timedFrames(2)")
        frame_ms = page.evaluate(f"n => window.{hook}.timedFrames(n)", frames)
    finally:
        server.running.set()
    applied = p1["deltaApply"]["n"] - p0["deltaApply"]["n"]
    rendered = p1["render"]["n"] - p0["render"]["n"]
    return {
        "deltas": d1 - d0,
        "apply_ms": (p1["deltaApply"]["ms"] - p0["deltaApply"]["ms"]) / max(1, applied),
        "apply_max_ms": p1["deltaApply"]["max"],
        "render_call_ms": (p1["render"]["ms"] - p0["render"]["ms"]) / max(1, rendered),
        "rendered": rendered,
        "frame_ms": frame_ms,
        "full_frame_ms": full_ms,
        "heap_mb": (page.evaluate(f"window.{hook}.heap()") or 0) / 1e6,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pipes", type=int, default=100_000)
    ap.add_argument("--buildings", type=int, default=20_000)
    ap.add_argument("--rate", type=float, default=5.0, help="ticks per second while measuring")
    ap.add_argument("--seconds", type=float, default=20.0, help="seconds of deltas measured per page")
    ap.add_argument("--frames", type=int, default=5, help="frames timed back to back per page")
    ap.add_argument("--quick", action="store_true", help="10,000 segments, 2,000 buildings, shorter windows")
    args = ap.parse_args()
    if args.quick:
        args.pipes, args.buildings, args.seconds, args.frames = 10_000, 2_000, 8.0, 5
    logging.getLogger("twin").setLevel(logging.WARNING)

    import _viewer_city
    from conftest import launch_chromium, running
    from playwright.sync_api import sync_playwright

    from twin.serving.geometry import layers_for
    from twin.serving.server import STATIC_DIR, create_app

    if not (STATIC_DIR / "index.html").exists():
        say("the viewer is not built: cd viewer && npm run build")
        return 2
    t0 = time.perf_counter()
    engine, city, tmp = _viewer_city.build(args.pipes, args.buildings)
    say(f"city: {len(city['pipes'])} pipe segments, {len(city['buildings'])} buildings "
        f"({time.perf_counter() - t0:.1f} s to build)")
    t0 = time.perf_counter()
    engine.tick()  # compile the updater
    cache = layers_for(engine.scene, list(engine.world.tables))
    for name in cache.names():  # the GLBs once, before any page waits on them
        cache.get(name)
    say(f"layers built in {time.perf_counter() - t0:.1f} s: {', '.join(cache.names())}")
    server = create_app(lambda: engine, speed=args.rate)
    bench_routes(server, city)
    results = {}
    with running(server.app) as url, sync_playwright() as p:
        while server.engine is None:
            time.sleep(0.05)
        browser = launch_chromium(p, "--enable-precise-memory-info")
        for name, path, hook, ready in (
            ("ours", "/", "__twin", "window.__twin && window.__twin.stats().ready && window.__twin.stats().snapshots > 0"),
            ("baseline", "/bench/page/viewer_baseline.html", "__baseline",
             "window.__baseline && window.__baseline.stats().ready && window.__baseline.stats().snapshots > 0"),
        ):
            page = browser.new_page(viewport=VIEWPORT)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            t0 = time.perf_counter()
            page.goto(url + path)
            page.wait_for_function(ready, timeout=600000, polling=500)
            loaded = time.perf_counter() - t0
            r = measure(page, hook, args.seconds, args.frames, server)
            r["load_s"] = loaded
            results[name] = r
            say(f"{name:>8}: load {loaded:6.1f} s  frame {r['frame_ms']:8.2f} ms (everything drawn {r['full_frame_ms']:.2f})  render call {r['render_call_ms']:7.2f} ms  "
                f"apply {r['apply_ms']:7.3f} ms/delta (max {r['apply_max_ms']:.1f}, {r['deltas']} deltas)  heap {r['heap_mb']:.0f} MB"
                + (f"  ERRORS: {errors[:3]}" if errors else ""))
            page.close()
        browser.close()
    tmp.cleanup()
    ours, base = results["ours"], results["baseline"]
    frame_ratio = base["frame_ms"] / ours["frame_ms"]
    apply_ratio = base["apply_ms"] / ours["apply_ms"]
    changed = int(args.pipes * _viewer_city.SHARE)
    say(f"deltas of about {changed} changed segments at {args.rate:g} ticks/s; ratios are baseline / ours (higher: ours faster)")
    say(f"render call (CPU side of a frame, draw calls): ours {ours['render_call_ms']:.2f} ms, baseline {base['render_call_ms']:.2f} ms "
        f"(ratio {base['render_call_ms'] / max(ours['render_call_ms'], 1e-9):.0f})")
    say(f"RESULT frame_ms={ours['frame_ms']:.2f} baseline_frame_ms={base['frame_ms']:.2f} apply_ms={ours['apply_ms']:.3f} "
        f"baseline_apply_ms={base['apply_ms']:.3f} frame_ratio={frame_ratio:.1f} apply_ratio={apply_ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
