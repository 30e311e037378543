"""The report's screenshots in docs/reports.md, taken as a reader sees the page: headless
Debian chromium (as the browser tests drive it, tests/conftest.py) on reports written
here from two drills run on the demo district.

- ``report-summary.png``: the executive summary of the demo's compound drill (its first
  page), in English; ``report-summary-zh.png`` the same in Chinese;
- ``report-truth.png``: a methane detector drifting low while its manhole fills with gas
  (the drill below): its readings against the truth, and the all-clear the truth
  contradicts, named in red.

Run: ``NUMBA_CACHE_DIR=$PWD/.venv/numba-cache .venv/bin/python docs/make_report_shots.py``
(about a minute).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(ROOT / "tests"))

#: the drifting detector: the demo's gas leak beside G-MH-0055, whose detector drifts
#: down from 01:00 (tests/test_report_truth.py runs the same)
DRIFT = """
[drill]
name = "Drifting detector"
name_zh = "甲烷探测器漂移"
scene = ".."
seed = 11
duration = "00:02:30"

[[events]]
at = 10
action = "gas.leak"
target = "G-M-0028"
params = { diameter = 0.012 }

[[events]]
at = 60
action = "sensor.drift"
target = "GS-CH4-0089"
params = { rate = -600 }

[[expect]]
no_false_clear = true
asset = "G-MH-0055"
level = "blue"
"""


def main() -> None:
    from conftest import demo_drill, launch_chromium, record_drill
    from playwright.sync_api import sync_playwright

    from twin.runs.drill import load_drill
    from twin.runs.report import write_report

    work = Path(tempfile.mkdtemp(prefix="twin-report-shots-"))
    try:
        compound, drift = work / "compound.mcap", work / "drift.mcap"
        record_drill(load_drill(ROOT / "scenes" / "demo" / "drills" / "compound-storm-gas.toml"), compound)
        record_drill(demo_drill(work, "drift", DRIFT), drift)
        pages = {"en": write_report(compound, work / "compound-en", "en", pdf=False).html,
                 "zh-CN": write_report(compound, work / "compound-zh", "zh-CN", pdf=False).html,
                 "truth": write_report(drift, work / "drift-en", "en", pdf=False).html}
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": 1100, "height": 900}, device_scale_factor=1)
            for lang, name in (("en", "report-summary.png"), ("zh-CN", "report-summary-zh.png")):
                page.goto(pages[lang].as_uri())
                page.locator("#executive-summary").screenshot(path=DOCS / name)
            page.goto(pages["truth"].as_uri())
            # the heading, the red finding, and the drifting detector's chart
            top = page.locator("h2#truth").bounding_box()
            chart = page.locator('figure.truth-chart[data-sensor="GS-CH4-0089"]').bounding_box()
            assert top is not None and chart is not None
            page.set_viewport_size({"width": 1100, "height": int(chart["y"] + chart["height"] - top["y"] + 40)})
            page.screenshot(path=DOCS / "report-truth.png", full_page=True,
                            clip={"x": 0, "y": top["y"] - 10, "width": 1100, "height": chart["y"] + chart["height"] - top["y"] + 20})
            browser.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name in ("report-summary.png", "report-summary-zh.png", "report-truth.png"):
        print(DOCS / name)


if __name__ == "__main__":
    main()
