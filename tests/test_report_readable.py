"""A busy run reported readably: a storm over the demo district with gas leaking from
twenty mains at once (about 270 alarms in three minutes). The alarms come grouped by
incident, worst first; the picture of the worst moment names a few of them, not all; the
PDF paginates on A4 and holds every row; the timeline is cut into charts that fit a page;
without recorded incidents the alarms group by domain and place."""

import html
import math
import re
from pathlib import Path

import pytest
from pypdf import PdfReader

from twin.runs.drill import load_drill
from twin.runs.recording import Recorder
from twin.runs.report import group_alarms, load_twin, read_run, write_report
from twin.runs.report.district import MAX_LABELS, MAX_MARKS
from twin.runs.report.plots import TIMELINE_ROWS
from twin.runs.reruns import run_drill
from twin.runtime import open_twin
from twin.types import LEVEL_NAMES

pytestmark = pytest.mark.slow  # a 3-minute drill and two reports of 270 alarms: about a minute here

ROOT = Path(__file__).resolve().parents[1]
MAINS = [f"G-M-{m:04d}" for m in range(4, 126, 6)]


def busy_drill() -> str:
    lines = ["[drill]", 'name = "Storm and twenty leaks"', 'name_zh = "暴雨与二十处燃气泄漏"',
             f'scene = "{(ROOT / "scenes" / "demo").as_posix()}"', "seed = 5", 'duration = "00:03:00"', "",
             "[[series]]", 'action = "drainage.rain"', 'target = "D-MH-0001"', 'param = "intensity"', "points = [[5, 250.0]]", ""]
    for n, main in enumerate(MAINS):
        lines += ["[[events]]", f"at = {5 + n}", 'action = "gas.leak"', f'target = "{main}"', "params = { diameter = 0.02, cd = 0.62 }", ""]
    lines += ["[[events]]", 'at = "00:02:00"', 'operator = "acknowledge"', 'target = "*"', 'note = "duty officer: all seen"', ""]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def busy(tmp_path_factory):
    root = tmp_path_factory.mktemp("busy")
    drill_file = root / "busy.toml"
    drill_file.write_text(busy_drill())
    drill = load_drill(drill_file)
    engine = open_twin(drill.scene, root / "data", seed=drill.seed, config=drill.config, dt=drill.dt, persist=False,
                       start=drill.start)
    path = root / "busy.mcap"
    recorder = Recorder(path, engine, {"drill": drill.name, "drill_path": str(drill_file.resolve())})
    run_drill(drill, engine, recorder)
    recorder.close()
    engine.close()
    return path, write_report(path, root / "en", lang="en"), write_report(path, root / "zh", lang="zh-CN")


def text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def test_a_busy_run(busy):
    path, _, _ = busy
    run = read_run(path)
    assert len(run.alarms) > 100 and run.incidents  # the recording carries the twin's incidents


def test_alarms_grouped_by_incident_worst_first(busy):
    path, report, _ = busy
    run = read_run(path)
    groups = report.groups
    assert {g.kind for g in groups} == {"incident"}
    ids = [a.id for g in groups for a in g.alarms]
    assert sorted(ids) == sorted(run.alarms)  # every alarm once
    for g in groups:  # the recorded incident's alarms, worst first
        assert {a.id for a in g.alarms} <= set(run.incidents[g.incident]["alarms"])
        assert [a.peak_level for a in g.alarms] == sorted((a.peak_level for a in g.alarms), reverse=True)
    keys = [(-g.peak_level, g.first_raised) for g in groups]
    assert keys == sorted(keys) and groups[0].peak_level == 4 and groups[-1].peak_level < 4
    # the page shows them in that order, each under its group's heading
    page = report.html.read_text(encoding="utf-8")
    bodies = re.findall(r'<tbody class="group" data-kind="(\w+)" data-level="(\d)">(.*?)</tbody>', page, re.S)
    assert len(bodies) == len(groups)
    for (kind, level, body), g in zip(bodies, groups):
        assert kind == "incident" and int(level) == g.peak_level
        assert [int(i) for i in re.findall(r'<tr class="alarm" data-alarm="(\d+)"', body)] == [a.id for a in g.alarms]
        assert f"Incident #{g.incident}" in text(body)


def test_without_recorded_incidents_by_domain_and_place(busy):
    path, _, _ = busy
    run = read_run(path)
    twin, why = load_twin(run)
    assert twin is not None, why
    run.incidents = {}  # a recording made before frames carried incidents
    groups = group_alarms(run, twin)
    assert {g.kind for g in groups} == {"place"}
    assert sorted(a.id for g in groups for a in g.alarms) == sorted(run.alarms)
    for g in groups:
        assert len(g.domains) == 1 and {a.domain for a in g.alarms} == set(g.domains)
        # the demo names its places (citygen): a group is the alarms of one domain in one place
        assert {twin.place(a.asset, "en") for a in g.alarms} == {g.place} and g.place != g.worst.asset
        assert g.place_zh == twin.place(g.worst.asset, "zh-CN")
    keys = [(-g.peak_level, g.first_raised) for g in groups]
    assert keys == sorted(keys)
    assert len(groups) < len(run.alarms) / 3  # neighbours share a group


def test_the_picture_names_what_matters(busy):
    path, report, _ = busy
    run = read_run(path)
    open_now = [a for a in run.alarms.values() if a.level_at(report.worst)]
    assert len(open_now) > 60  # the old report pinned and labelled every one of them
    picture = report.district
    levelled = [label for label in picture.labels if label.level]
    marks = [label for label in picture.labels if not label.level]
    assert 0 < len(levelled) <= MAX_LABELS and len(marks) <= MAX_MARKS
    assert picture.groups > MAX_LABELS and picture.unlabelled == picture.groups - len(levelled)
    # the labelled alarms are the worst open ones: none left out is worse than one named
    named = {i for i, _, _ in picture.alarms}
    worst_named = min(level for _, _, level in picture.alarms)
    assert all(a.level_at(report.worst) <= worst_named for a in open_now if a.id not in named)
    assert max(a.level_at(report.worst) for a in open_now) == max(level for _, _, level in picture.alarms)
    page = text(report.html.read_text(encoding="utf-8"))
    assert f"{picture.unlabelled} more groups are coloured but not labelled" in page


def test_pdf_paginates_and_holds_every_row(busy):
    path, report, _ = busy
    run = read_run(path)
    reader = PdfReader(report.pdf)
    assert len(reader.pages) > 5
    for page in reader.pages:
        assert sorted((round(float(page.mediabox.width)), round(float(page.mediabox.height)))) == [595, 842]
    words = pdf_text(report.pdf)
    missing = [i for i in run.alarms if not re.search(rf"#{i}\b", words)]
    assert not missing  # the old summary page stopped at the 45th alarm
    # each row whole: the last column of the alarms table and the who / note of the timeline
    assert words.count("Condition cleared") >= 2  # the header repeated on every page of the table
    assert "duty officer: all seen" in words and "Storm and twenty leaks" in words
    # no text set past the right edge of its page
    for number, page in enumerate(reader.pages):
        width = float(page.mediabox.width)
        beyond: list[str] = []

        def visit(text_, cm, tm, font, size, page_width=width, out=beyond):
            x = cm[4] + tm[4] * cm[0]
            if text_.strip() and x > page_width - 20:
                out.append(text_)

        page.extract_text(visitor_text=visit)
        assert not beyond, (number, beyond[:3])


def test_timeline_charts_fit_a_page(busy):
    _, report, _ = busy
    charts = [p for p in report.images if p.name.startswith("timeline")]
    assert len(charts) == math.ceil(len(report.groups) / TIMELINE_ROWS)
    from PIL import Image

    for chart in charts:
        with Image.open(chart) as im:
            width, height = im.size
        assert height < 1.1 * width  # the old one was one chart of every alarm, 2,505 pt tall


def test_chinese_throughout(busy):
    path, _, zh = busy
    page = text(zh.html.read_text(encoding="utf-8"))
    assert "暴雨与二十处燃气泄漏" in page and "Storm and twenty leaks" not in page
    for name in ("燃气", "雨水排水管网"):
        assert name in page
    for english in ("Gas", "Storm drainage", "Incident", "Alarms", "raised", "acknowledged", "Manhole surcharge"):
        assert not re.search(rf"\b{english}\b", page), english
    assert "事件 #" in page and LEVEL_NAMES["zh-CN"][4] in page
    words = pdf_text(zh.pdf)
    assert "暴雨与二十处燃气泄漏" in words and "Storm and twenty leaks" not in words
    assert not re.search(r"\bStorm drainage\b|\bGas\b", words)
