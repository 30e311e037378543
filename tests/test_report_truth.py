"""The truth beside the measurement in the report (issue 17): a drill whose methane
detector drifts low while its manhole fills with gas (and another sticks, a third dies). The report charts that detector's
readings against the true methane on one chart (the two differ where the drift is, and
agree before it), the rule's risk as the twin computed it against the true risk with the
level thresholds as bands, and says in red that the alarm cleared while the truth was
red; the drill's no_false_clear expectation is judged on the truth and fails."""

import html
import re

import numpy as np
import pytest
from conftest import demo_drill, record_drill
from PIL import Image
from pypdf import PdfReader

from twin.runs.recording import read_truth
from twin.runs.report import write_report

DRIFT_AT = 60.0
FAULTS_AT = 30.0
#: the demo's gas leak beside G-MH-0055, whose methane detector GS-CH4-0089 drifts down from 01:00
DRILL = f"""
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
params = {{ diameter = 0.012 }}

[[events]]
at = {DRIFT_AT:g}
action = "sensor.drift"
target = "GS-CH4-0089"
params = {{ rate = -600 }}

[[events]]             # the sewer space's detector sticks, a far manhole's dies
at = {FAULTS_AT:g}
action = "sensor.stuck"
target = "GS-CH4-0090"

[[events]]
at = {FAULTS_AT:g}
action = "sensor.dead"
target = "GS-CH4-0002"

[[expect]]
no_false_clear = true
asset = "G-MH-0055"
level = "blue"
"""


@pytest.fixture(scope="module")
def drifted(tmp_path_factory):
    root = tmp_path_factory.mktemp("drift")
    path = root / "drift.mcap"
    _, start = record_drill(demo_drill(root, "drift", DRILL), path)
    return path, start, write_report(path, root / "en", lang="en")


def text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def test_the_drifting_detector_is_charted_measured_against_true(drifted):
    path, start, report = drifted
    chart = next(c for c in report.truth_charts if c.sensor == "GS-CH4-0089")
    assert (chart.asset, chart.field, chart.unit, chart.why) == ("G-MH-0055", "ch4", "%vol", "fault")
    assert [f["action"] for f in chart.faults] == ["sensor.drift"]
    # the true series is the recording's truth of the manhole's methane, as read_truth gives it
    truth = read_truth(path).series[("G-MH-0055", "ch4")]
    assert np.array_equal(chart.true_times, truth.times) and np.array_equal(chart.true, truth.values)
    t, measured = chart.measured_times, chart.measured
    true = chart.true_at(t)
    before = (t > start + 20) & (t < start + DRIFT_AT)
    after = t > start + 120
    assert before.sum() >= 10 and after.sum() >= 10
    # before the drift the detector reads the truth within its noise; after it, far below
    assert np.nanmax(np.abs(measured[before] - true[before])) < 0.5
    assert np.all(true[after] - measured[after] > 4.0)
    assert chart.gap() > 4.0
    # below: the twin's risk fell with the reading while the true risk stayed red
    assert chart.risk == ("gas.lel", "risk")
    end = chart.risk_times[-1]
    assert chart.twin_risk[-1] < 0.25 and chart.true_risk[np.searchsorted(chart.true_risk_times, end, "right") - 1] >= 0.9


def test_every_faulty_sensor_is_charted_first(drifted):
    """Stuck and dead sensors are charted too, each from its fault: the stuck one reads
    one value while the truth moves, the dead one reads nothing."""
    _, start, report = drifted
    charts = {c.sensor: c for c in report.truth_charts}
    faulty = [c.sensor for c in report.truth_charts if c.why == "fault"]
    assert set(faulty) == {"GS-CH4-0089", "GS-CH4-0090", "GS-CH4-0002"}
    assert [c.why for c in report.truth_charts][: len(faulty)] == ["fault"] * len(faulty)  # the faulty ones first
    stuck = charts["GS-CH4-0090"]
    after = stuck.measured_times > start + FAULTS_AT + 1
    assert after.sum() >= 10 and np.ptp(stuck.measured[after]) == 0
    assert np.ptp(stuck.true_at(stuck.measured_times[after])) > 0.1  # the truth moved on
    dead = charts["GS-CH4-0002"]
    assert len(dead.measured) and dead.measured_times.max() <= start + FAULTS_AT + 1
    # the truth is known all along (kept once: a far manhole's methane did not move)
    assert np.isfinite(dead.true_at(np.array([start + 140.0]))).all()
    assert all(c.path is not None and c.path.exists() for c in charts.values())


def test_the_page_shows_the_chart_and_the_false_all_clear(drifted):
    _, _, report = drifted
    page = report.html.read_text(encoding="utf-8")
    figure = re.search(r'<figure class="truth-chart" data-sensor="GS-CH4-0089"[^>]*><img src="([^"]+)"', page)
    assert figure, "no truth chart for the drifting detector"
    pixels = np.asarray(Image.open(report.html.parent / figure.group(1)).convert("RGB"), dtype=np.float64)
    assert pixels.shape[0] >= 500 and pixels.std() > 20
    # both series are drawn: the measured blue and the true red
    blue = (np.abs(pixels - [31, 95, 191]).sum(axis=2) < 40).sum()
    red = (np.abs(pixels - [196, 22, 28]).sum(axis=2) < 40).sum()
    assert blue > 300 and red > 300
    [finding] = [f for f in report.false_clears if f.alarm.asset == "G-MH-0055" and f.after == 0]
    assert finding.truth == 4 and finding.faults and finding.faults[0][:2] == ("GS-CH4-0089", "sensor.drift")
    seen = re.findall(r'<p class="false-clear">(.*?)</p>', page, re.S)
    assert any("G-MH-0055" in text(f) and "cleared" in text(f) and "while the truth was still red" in text(f)
               and "drifting sensor (GS-CH4-0089" in text(f) for f in seen), seen
    # the scorecard judged no_false_clear on the truth: it failed
    row = re.search(r'<tr class="score"[^>]*>(.*?)</tr>', page, re.S).group(1)
    assert "FAIL" in text(row) and "G-MH-0055 cleared" in text(row)


def test_the_pdf_and_the_chinese_report_say_it_too(drifted, tmp_path):
    path, _, report = drifted
    words = "\n".join(p.extract_text() for p in PdfReader(report.pdf).pages)
    assert "Measured and true" in words and "while the truth was still red" in words
    zh = write_report(path, tmp_path / "zh", lang="zh-CN", pdf=False)
    seen = text(zh.html.read_text(encoding="utf-8"))
    assert "监测值与真实值" in seen and "而真实值仍为红色预警" in seen and "GS-CH4-0089 处于漂移状态" in seen
    assert any(c.sensor == "GS-CH4-0089" and c.path is not None and c.path.exists() for c in zh.truth_charts)
