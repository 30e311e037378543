"""After-action reports: a short gas drill recorded on a copy of the demo, reported in
English and Chinese, and read back the way a reader would (text, tables, pictures)."""

import html
import json
import re
import statistics
import warnings
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from conftest import demo_drill, record_drill
from PIL import Image
from pypdf import PdfReader

from twin.cli import main
from twin.runs.drill import load_drill, score
from twin.runs.recording import Recorder, read_stream
from twin.runs.report import LEVEL_COLOURS, load_twin, read_run, render_district, write_report
from twin.runtime import open_twin
from twin.types import LEVEL_NAMES

ROOT = Path(__file__).resolve().parents[1]
GAS_DRILL = ROOT / "scenes" / "demo" / "drills" / "gas-leak.toml"
SHANGHAI = ZoneInfo("Asia/Shanghai")
#: the demo scene's clock start, where its drills run from
START = datetime(2026, 7, 15, 14, 0, tzinfo=SHANGHAI).timestamp()


def local(t: float) -> str:
    """A moment of the run as the report shows it: the local time in the scene's zone."""
    return datetime.fromtimestamp(t, SHANGHAI).strftime("%H:%M:%S")

# The demo's gas drill, shortened, with a dispatch and a resolve so that every column has a
# time, and an expectation that fails so that the scorecard shows both outcomes.
SHORT = """
[drill]
name = "Gas main struck (short)"
name_zh = "燃气主管被挖断（短）"
scene = ".."
seed = 11
duration = "00:02:30"

[[events]]             # a sewer pipe beside the gas main blocked first: not what raises the gas alarms
at = "00:00:02"
action = "drainage.block_pipe"
target = "D-P-0164"
params = { fraction = 1.0 }

[[events]]
at = "00:00:10"
action = "gas.leak"
target = "G-M-0028"
params = { diameter = 0.012, cd = 0.62 }

[[events]]
at = "00:01:00"
operator = "acknowledge"
target = "G-VW-0028"
note = "duty officer: gas company informed"

[[events]]
at = "00:01:10"
operator = "acknowledge"
target = "*"

[[events]]
at = "00:01:30"
operator = "dispatch"
target = "G-VW-0028"
note = "crew 3"

[[events]]
at = "00:02:00"
action = "gas.close_valve"
target = "G-V-0028"

[[events]]
at = "00:02:10"
operator = "resolve"
target = "G-VW-0028"
note = "valve closed, space ventilated"

[[expect]]
by = "00:02:00"
asset = "G-MH-0055"
level = "yellow"

[[expect]]
by = "00:00:30"
asset = "G-VW-0028"
level = "red"

[[expect]]
never = true
domain = "tunnel"
level = "blue"

[[expect]]
acknowledged_within = 120
level = "yellow"
"""


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    drill = demo_drill(root, "short", SHORT)
    drill_file, path = drill.path, root / "short.mcap"
    result, _ = record_drill(drill, path)
    assert not result.warnings, result.warnings
    out = root / "report-en"
    report = write_report(path, out, lang="en")
    return path, drill_file, result, report, root


def recorded_events(path):
    """Alarm events and operator actions as the recording holds them, in order."""
    return [json.loads(d) for _, _, d in read_stream(path, ("/alarm/event", "/operator/action"))]


def text(fragment):
    """What a reader sees of an HTML fragment."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def rows(page, table_id):
    """(tr attributes, [cell texts]) of each body row of the table with ``table_id``."""
    table = re.search(rf'<table id="{table_id}">(.*?)</table>', page, re.S)
    assert table, f"no table {table_id!r}"
    out = []
    for attrs, body in re.findall(r"<tr([^>]*)>(.*?)</tr>", table.group(1), re.S):
        cells = [text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)]
        if cells:
            out.append((attrs, cells))
    return out


def pdf_text(path):
    """The text of every page of a PDF, as a reader's copy and paste gives it."""
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def image(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)


def test_every_alarm_with_its_times(recorded):
    path, _, _, report, _ = recorded
    events = recorded_events(path)
    page = report.html.read_text(encoding="utf-8")
    leak = next(json.loads(d) for _, _, d in read_stream(path, ("/input/action",)) if json.loads(d)["action"] == "gas.leak")
    ids = sorted({e["alarm"]["id"] for e in events})
    assert len(ids) >= 2
    table = {re.search(r'data-alarm="(\d+)"', attrs).group(1): cells for attrs, cells in rows(page, "alarms")}
    assert sorted(int(i) for i in table) == ids
    for alarm_id in ids:
        mine = [e for e in events if e["alarm"]["id"] == alarm_id]
        raised = next(e["time"] for e in mine if e["kind"] == "raise")
        cells = table[str(alarm_id)]
        asset = mine[0]["alarm"]["asset"]
        assert asset in cells[1] and local(raised) == cells[5]
        assert LEVEL_NAMES["en"][max(e["alarm"]["peak_level"] for e in mine)] == cells[4]
        # detect: from the leak on the main the space is linked to, the input nearest before the
        # raise, not the pipe blocked 8 s before it beside the sewer space (the old report's
        # first linked input)
        assert cells[6].startswith(f"{raised - leak['time']:.0f} s") and f"gas.leak G-M-0028 {local(leak['time'])}" in cells[6]
        for kind, cell in (("acknowledge", cells[7]), ("dispatch", cells[8]), ("resolve", cells[9])):
            when = next((e["time"] for e in mine if e["kind"] == kind), None)
            if when is None:
                assert cell == "—"
            else:
                assert cell == f"{when - raised:.0f} s {local(when)}", (alarm_id, kind, cell)
    # the sewer space beside the blocked pipe alarmed: the case the credit must get right
    assert "G-SW-0028" in {e["alarm"]["asset"] for e in events}
    # the resolve of the scripted response happened and shows
    assert any(e["kind"] == "resolve" for e in events)
    # every event is on the timeline at its time, with its level in words
    timeline = [(attrs, cells) for attrs, cells in rows(page, "timeline") if "data-kind" in attrs]
    assert len(timeline) == len(events)
    for (attrs, cells), e in zip(timeline, events):
        assert f'data-alarm="{e["alarm"]["id"]}"' in attrs and f'data-kind="{e["kind"]}"' in attrs
        assert cells[0] == local(e["time"]) and e["alarm"]["asset"] in cells[2] and cells[3] == LEVEL_NAMES["en"][e["alarm"]["level"]]
    inputs = [cells for attrs, cells in rows(page, "timeline") if 'class="input"' in attrs]
    assert [c[0] for c in inputs] == [local(START + 2), local(START + 10), local(START + 120)]
    assert "drainage.block_pipe D-P-0164" in inputs[0][2] and "gas.leak G-M-0028" in inputs[1][2]


def test_scorecard_matches_the_drill_score(recorded):
    path, drill_file, result, report, _ = recorded
    page = report.html.read_text(encoding="utf-8")
    expected = [("PASS" if s.passed else "FAIL", s.expectation.describe(), s.detail)
                for s in score(load_drill(drill_file), recorded_events(path), START)]
    assert expected == [("PASS" if s.passed else "FAIL", s.expectation.describe(), s.detail) for s in result.scores]
    assert [tuple(cells) for _, cells in rows(page, "scorecard")] == expected
    assert {"PASS", "FAIL"} <= {e[0] for e in expected}


def test_worst_moment_and_header(recorded):
    path, _, _, report, _ = recorded
    events = recorded_events(path)
    levels: dict[int, int] = {}
    best, when = 0, None
    for e in events:
        a = e["alarm"]
        levels[a["id"]] = 0 if a["state"] == "resolved" else a["level"]
        if sum(levels.values()) > best:
            best, when = sum(levels.values()), e["time"]
    assert report.worst == when
    page = text(report.html.read_text(encoding="utf-8"))
    assert f"worst moment {local(when)} (sum of open alarm levels {best})" in page
    assert "Gas main struck (short)" in page and "Seed 11" in page and "2026-07-15 14:00:00 CST – 14:02:30" in page
    assert report.pdf is not None and report.pdf.read_bytes().startswith(b"%PDF")


def test_pdf_holds_every_alarm_on_a4_pages(recorded):
    path, _, _, report, _ = recorded
    pages = PdfReader(report.pdf).pages
    for page in pages:  # A4, portrait or landscape (the old timeline page was 2,505 pt tall)
        assert sorted((round(float(page.mediabox.width)), round(float(page.mediabox.height)))) == [595, 842]
    # the executive summary and the run portrait, the tables landscape
    assert [round(float(p.mediabox.width)) for p in pages[:3]] == [595, 595, 842]
    words = pdf_text(report.pdf)
    events = recorded_events(path)
    for alarm_id in {e["alarm"]["id"] for e in events}:
        assert f"#{alarm_id}" in words
    assert "Gas main struck (short)" in words and "Scorecard" in words and "To resolve" in words
    for e in events:  # every event of the timeline, with who did it
        if e["who"]:
            assert e["who"] in words, e


def squeeze(words):
    return re.sub(r"\s+", "", words)


def test_the_executive_summary_is_the_first_page(recorded):
    """One page for a mayor's office: the worst groups in a sentence each, the response
    times against the deadlines, the objectives, three findings; first on the page, and
    alone on the PDF's first page, which it fits."""
    path, drill_file, result, report, _ = recorded
    page = report.html.read_text(encoding="utf-8")
    summary = re.search(r'<section id="executive-summary" class="exec">(.*?)</section>', page, re.S)
    assert summary and page.index('id="executive-summary"') < page.index("<h2>The run</h2>")
    part = summary.group(1)
    findings = [text(f) for f in re.findall(r"<li>(.*?)</li>", re.search(r'<ol id="exec-findings">(.*?)</ol>', part, re.S).group(1))]
    assert len(findings) == 3
    # the scorecard has a failed expectation: it is one of the findings, and the objectives say how many were met
    passed = [s.passed for s in result.scores]
    assert f"{sum(passed)} of {len(passed)} met" in text(part) and any("not met" in f for f in findings)
    # the figures are the recorded ones: acknowledge's median over the alarms acknowledged, from their raise
    events = recorded_events(path)
    raised = {e["alarm"]["id"]: e["time"] for e in events if e["kind"] == "raise"}
    acked = {}
    for e in events:
        if e["kind"] == "acknowledge":
            acked.setdefault(e["alarm"]["id"], e["time"] - raised[e["alarm"]["id"]])
    phases = {re.search(r'data-phase="(\w+)"', attrs).group(1): cells for attrs, cells in rows(part + "</table>", "exec-phases")}
    assert list(phases) == ["detect", "acknowledge", "dispatch", "close"]
    ack = phases["acknowledge"]
    assert ack[1] == f"{len(acked)} of {len(raised)}" and ack[2] == f"{round(statistics.median(acked.values()))} s"
    assert ack[4] == "2 min 00 s (the drill's)"  # its acknowledged_within
    # the PDF: the summary alone on page 1, whole, and none of it on page 2
    pages = [p.extract_text() for p in PdfReader(report.pdf).pages]
    first, second = squeeze(pages[0]), squeeze(pages[1])
    assert "Executivesummary" in first and "Threefindings" in first
    for f in findings:
        assert squeeze(f) in first, f
        assert squeeze(f)[:40] not in second
    assert "Executivesummary" not in second and "page2Therun" in second  # the footer, then the run at once


def test_field_plots_are_real_pictures(recorded):
    path, _, _, report, _ = recorded
    page = report.html.read_text(encoding="utf-8")
    plots = re.findall(r'<img class="field-plot" src="([^"]+)"', page)
    assets = {e["alarm"]["asset"] for e in recorded_events(path)}
    assert len(plots) == len(assets)
    for name in plots:
        assert any(a in name for a in assets)
        pixels = image(report.html.parent / name)
        assert pixels.shape[0] >= 500 and pixels.shape[1] >= 800
        assert pixels.std() > 20  # not blank
        assert (np.abs(pixels - 255).sum(axis=2) > 60).mean() > 0.02  # a good share of the page is drawn


def test_district_picture_shows_the_alarms(recorded):
    path, _, _, report, root = recorded
    assert report.picture is not None and report.picture.exists()
    assert f'src="{report.picture.name}"' in report.html.read_text(encoding="utf-8")
    worst = image(report.picture)
    assert worst.shape[:2] == (900, 1400) and worst.std() > 10
    run = read_run(path)
    twin, why = load_twin(run)
    assert twin is not None, why
    start = image(render_district(twin, run.open_levels(run.start), root / "district-start.png"))
    assert np.abs(worst - start).mean() > 0.5
    peak = max(run.open_levels(report.worst).values())
    colour = np.array([int(LEVEL_COLOURS[peak][i : i + 2], 16) for i in (1, 3, 5)], dtype=np.float64)

    def coloured(pixels):
        return int((np.abs(pixels - colour).sum(axis=2) < 40).sum())

    assert coloured(worst) > 200 and coloured(start) < coloured(worst) / 10


def test_chinese_report_from_the_command_line(recorded, tmp_path):
    path, _, _, _, root = recorded
    out = tmp_path / "zh"
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*missing from font.*")  # a glyph the font lacks
        assert main(["report", str(path), "-o", str(out), "--lang", "zh-CN", "--data", str(root / "data")]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in page and "演练复盘报告" in page and "评分表" in page
    events = recorded_events(path)
    for level in {e["alarm"]["level"] for e in events}:
        assert LEVEL_NAMES["zh-CN"][level] in page
    assert "地下空间可燃气体浓度超限" in page  # the rule's own Chinese title
    for png in ("timeline.png", "district-worst.png"):
        assert image(out / png).std() > 10
    # zh-CN throughout: the drill's and the domains' names in Chinese where they are declared
    seen = text(page)
    assert "燃气主管被挖断（短）" in seen and "Gas main struck" not in seen
    assert "燃气" in seen and "示范片区" in seen
    english = ("Gas", "Storm drainage", "Utility tunnel", "Bridges", "Gas mains and adjacent spaces", "Binhe quarter")
    assert not [w for w in english if re.search(rf"\b{re.escape(w)}\b", seen)]
    pdf = pdf_text(out / "report.pdf")
    assert "燃气主管被挖断（短）" in pdf and "Gas main struck" not in pdf and "评分表" in pdf
    assert not [w for w in english if re.search(rf"\b{re.escape(w)}\b", pdf)]
    # moments in the scene's local time, and said so
    assert "Asia/Shanghai" in seen and local(START + 10) in seen
    # the executive summary first, in Chinese, on the PDF's first page alone
    first = PdfReader(out / "report.pdf").pages[0].extract_text()
    assert "执行摘要" in first and "三点发现" in first and "响应速度与时限" in first and "运行概况" not in first
    assert seen.index("执行摘要") < seen.index("运行概况")


def test_without_drill_or_alarms(recorded, tmp_path):
    _, _, _, _, root = recorded
    engine = open_twin(root, root / "data", seed=3, persist=False)
    engine.simulator.incidents = []
    path = tmp_path / "quiet.mcap"
    recorder = Recorder(path, engine)
    for _ in range(8):
        recorder.record(engine.tick())
    recorder.close()
    engine.close()
    report = write_report(path, tmp_path / "quiet", pdf=False)
    page = text(report.html.read_text(encoding="utf-8"))
    assert "No scorecard" in page and "No alarm was raised" in page and 'id="scorecard"' not in page
    assert report.picture is not None and report.pdf is None
