"""The case file (twin.loop.archive, ``twin archive export``): one closed incident's whole
record (alarms, timeline, notifications sent, crew reports and photos, response times)
as a self-contained HTML page in zh-CN or English, written from the data folder."""

from __future__ import annotations

import base64
import io
import os
import re
import sqlite3
import subprocess
import sys

import pytest
from conftest import wait_for
from test_notify import Receiver, _webhook, _write_config

from twin.authoring.testing import Harness
from twin.loop import field

TWIN = [sys.executable, "-m", "twin.cli"]
#: a channel's name as long as a real one: the PDF's column wraps it, never cuts it
CHANNEL = "district-operations-webhook"
#: the duty officer misses the deadline to acknowledge (1 min) once: one step up a chain
#: whose names are given in Chinese too
ESCALATION = {"escalation": {
    "deadlines": {str(level): {"acknowledge": 60, "dispatch": 600, "close": 6000} for level in range(1, 5)},
    "chain": [{"name": "duty officer", "name_zh": "值班员", "channels": ["log"]},
              {"name": "section chief", "name_zh": "科长", "channels": ["log"]}],
}}


def _photo() -> str:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (320, 240), (40, 120, 200)).save(out, "JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


@pytest.fixture(scope="module")
def closed_case(tmp_path_factory):
    """A data folder holding one incident taken through the whole loop and closed."""
    import toyplugin as toy

    root = tmp_path_factory.mktemp("archive")
    data = root / "data"
    receiver = Receiver()
    channel = _webhook(receiver.url).replace('name = "hook"', f'name = "{CHANNEL}"')
    _write_config(data, channel + f'[[rules]]\nchannels = ["{CHANNEL}"]\non = ["raised", "dispatched", "done", "resolved"]\n')
    h = Harness(root / "scene", plugins=[toy], blocks=(2, 2), data_dir=data, config=ESCALATION)
    try:
        h.act("toy.open_tap", "T-001", rate=0.5)
        h.run(20)
        [incident] = h.engine.incidents.ordered()
        book, now = h.engine.incidents, lambda: h.engine.time
        h.run(max(0.0, incident.opened + 65 - now()))  # past the deadline to acknowledge: escalated once
        assert len(incident.escalations) == 1
        book.act(incident.id, "acknowledge", "王值班", "seen", now())
        h.run(5)
        book.act(incident.id, "dispatch", "王值班", "go", now(), unit="toy works")
        for step, extra in (("accept", {}), ("arrive", {}), ("work", {"note": "valve stuck", "photo": _photo()}),
                            ("done", {"cause": "inlet valve jammed open <b>"})):
            h.run(10)
            field.report(book, incident.id, step, "tank crew 1", "toy works", now=now(), photos_dir=data / "field", **extra)
        alarm = h.engine.alarms.alarms[incident.alarms[0]]
        # dispatched with its incident (docs/incidents.md): resolved once the tank is emptied
        h.engine.alarms.act(alarm.id, "resolve", "王值班", "tank emptied", now=now())
        book.act(incident.id, "close", "王值班", "case closed", now())
        store = sqlite3.connect(data / "alarms.sqlite")
        wait_for(lambda: store.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone() == (0,), 20, "sent")
        keys = [k for (k,) in store.execute("SELECT key FROM outbox")]
        store.close()
        yield root, data, book.incidents[incident.id], keys
    finally:
        h.close()
        receiver.close()


def _export(root, *args):
    env = {**os.environ, "TWIN_DATA": str(root / "nowhere")}
    return subprocess.run([*TWIN, "archive", "export", *args], cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_the_case_file_holds_the_whole_record_in_one_page(closed_case):
    root, data, incident, keys = closed_case
    done = _export(root, str(incident.id), "--data", str(data), "--lang", "en", "--out", str(root / "case.html"))
    assert done.returncode == 0, done.stderr
    page = (root / "case.html").read_text(encoding="utf-8")
    assert f"<h1 data-testid=\"title\">{incident.title}</h1>" in page
    times = incident.response_times()
    assert all(times[step] is not None for step in ("acknowledge", "dispatch", "arrive", "close"))
    assert f"{int(times['close']) // 60} min {int(times['close']) % 60:02d} s" in page
    assert "valve stuck" in page and "inlet valve jammed open &lt;b&gt;" in page  # the crew's words, escaped
    assert page.count('src="data:image/jpeg;base64,') == 1
    assert len(keys) >= 4 and all(key in page for key in keys)  # every notification sent, with its key
    for what in ("incident opened", "incident acknowledged", "incident dispatched", "crew accepted the task", "crew on site",
                 "crew working", "crew done", "incident closed", "alarm raised", "alarm resolved", "incident overdue"):
        assert f"<td>{what}" in page, what
    assert f"<td>Detected (from the onset to the opening)</td><td>0 min 00 s</td>" in page  # the toy's rule: no dwell
    assert "<td>duty officer → section chief</td>" in page
    assert "No history kept over this incident" in page  # a harness's simulated clock keeps none
    # self-contained: nothing to fetch
    assert not re.search(r'(src|href)="(https?:)?//', page) and "<script" not in page


def test_the_case_file_in_chinese_and_as_pdf(closed_case):
    root, data, incident, keys = closed_case
    done = _export(root, str(incident.id), "--data", str(data), "--pdf")
    assert done.returncode == 0 and f"incident-{incident.id}-zh-CN.html" in done.stdout, done.stderr
    page = (root / f"incident-{incident.id}-zh-CN.html").read_text(encoding="utf-8")
    assert 'lang="zh-CN"' in page and "事件档案" in page and "响应时间" in page and incident.title_zh in page
    assert "<td>值班员 → 科长</td>" in page and "<td>事件已办结" in page and "<td>告警发出 (#" in page
    assert "1 分钟内未确认：由值班员上报科长（log）" in page  # the escalation's note
    assert "<td>发现（自险情出现至事件生成）</td><td>0 分 00 秒</td>" in page
    # Not one English word of the twin's own: states, steps, timeline entries, notification
    # events, the chain. What is left once the page's data (people's words, names, keys,
    # the toy plugin's rule title, which it gives in English only) is taken out is Chinese.
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<(style|title)>.*?</\1>", " ", page, flags=re.S))
    data_words = ["seen", "go", "valve stuck", "tank emptied", "case closed", "inlet valve jammed open &lt;b&gt;", "toy works",
                  "tank crew 1", CHANNEL, "log", incident.title_zh, "Tank overfill", *keys, *incident.assets]
    for words in sorted(data_words, key=len, reverse=True):
        text = text.replace(words, " ")
    assert re.findall(r"[A-Za-z]{2,}", text) == []
    pdf = root / f"incident-{incident.id}-zh-CN.pdf"
    assert f"wrote {pdf.name}" in done.stdout
    from pypdf import PdfReader

    reader = PdfReader(pdf)
    text = "".join(page.extract_text() for page in reader.pages)
    assert "事件档案" in text and "响应时间" in text and "inlet valve jammed open <b>" in text  # the crew's words
    assert "值班员 → 科长" in text and "事件已办结" in text
    assert re.sub(r"\s", "", text).count(CHANNEL) == 4  # wrapped in its column, whole (never cut)
    assert sum(len(page.images) for page in reader.pages) == 1  # the photo


@pytest.mark.parametrize(("args", "says"), [
    (["9", "--data", "{data}"], "no incident 9 in"),
    (["1", "--data", "{root}/empty"], "no alarm store (alarms.sqlite) here"),
    (["1", "--data", "{data}", "--lang", "fr"], "--lang 'fr'; valid: zh-CN, en"),
    (["1", "--data", "{data}", "--timezone", "Mars/Olympus"], "time zone 'Mars/Olympus' is not an IANA name"),
    (["one"], "invalid int value"),
])
def test_bad_input_is_one_line(closed_case, args, says):
    root, data, _, _ = closed_case
    (root / "empty").mkdir(exist_ok=True)
    done = _export(root, *[a.format(data=data, root=root) for a in args])
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_the_case_file_charts_the_readings_the_history_kept_around_the_incident(closed_case, tmp_path):
    """A live twin keeps a history (twin.history): the case file charts the fields of the
    incident's assets from half an hour before it opened to half an hour after it closed,
    and nothing else."""
    import shutil

    import numpy as np

    from twin.history.fields import field_series
    from twin.history.store import Store
    from twin.loop.archive import HISTORY_MARGIN

    root, data, incident, _ = closed_case
    live = tmp_path / "data"
    shutil.copytree(data, live)
    asset = incident.assets[0]
    start, end = incident.opened - HISTORY_MARGIN, incident.closed + HISTORY_MARGIN
    # a reading every two minutes from an hour before the margin to an hour after it: 1.0 before
    # the incident, 5.0 while it was open, 2.0 after
    times = np.arange(start - 3600.0, end + 3600.0, 120.0)
    values = np.where(times < incident.opened, 1.0, np.where(times <= incident.closed, 5.0, 2.0))
    store = Store(live / "history")
    try:
        ours, other = store.keys([field_series("toy", asset, "level"), field_series("toy", "T-999", "level")], domain="toy")
        store.append(np.full(len(times), ours), times, values)
        store.append(np.full(len(times), other), times, values)
        store.flush()
    finally:
        store.close()
    done = _export(root, str(incident.id), "--data", str(live), "--lang", "en", "--out", str(tmp_path / "case.html"))
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "case.html").read_text(encoding="utf-8")
    assert "No history kept" not in page and "T-999" not in page
    [row] = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>(<svg.*?</svg>)</td></tr>", page)
    assert row[:2] == (asset, "level")
    points = [tuple(map(float, p.split(","))) for p in re.search(r'<polyline points="([^"]*)"', row[2]).group(1).split()]
    inside = times[(times >= start) & (times < end)]
    assert len(points) == len(inside)  # the readings within the margins, each one
    # drawn across the 300 px chart from the margin's start to its end, highest while open
    assert points[0][0] == pytest.approx(300 * (inside[0] - start) / (end - start), abs=0.05)
    assert min(y for _, y in points) == pytest.approx(4.0)  # 5.0 is the top (y = 50 - 46)
    opened_at = [y for (x, y), t in zip(points, inside) if incident.opened <= t <= incident.closed]
    assert opened_at and all(y == pytest.approx(4.0) for y in opened_at)
    assert '<text x="2" y="10" font-size="9">5</text>' in row[2] and '<text x="2" y="50" font-size="9">1</text>' in row[2]
