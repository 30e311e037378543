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
    _write_config(data, _webhook(receiver.url) + '[[rules]]\nchannels = ["hook"]\non = ["raised", "dispatched", "done", "resolved"]\n')
    h = Harness(root / "scene", plugins=[toy], blocks=(2, 2), data_dir=data)
    try:
        h.act("toy.open_tap", "T-001", rate=0.5)
        h.run(20)
        [incident] = h.engine.incidents.ordered()
        book, now = h.engine.incidents, lambda: h.engine.time
        book.act(incident.id, "acknowledge", "duty officer", "seen", now())
        h.run(5)
        book.act(incident.id, "dispatch", "duty officer", "go", now(), unit="toy works")
        for step, extra in (("accept", {}), ("arrive", {}), ("work", {"note": "valve stuck", "photo": _photo()}),
                            ("done", {"cause": "inlet valve jammed open <b>"})):
            h.run(10)
            field.report(book, incident.id, step, "tank crew 1", "toy works", now=now(), photos_dir=data / "field", **extra)
        alarm = h.engine.alarms.alarms[incident.alarms[0]]
        # dispatched with its incident (docs/incidents.md): resolved once the tank is emptied
        h.engine.alarms.act(alarm.id, "resolve", "duty officer", "tank emptied", now=now())
        book.act(incident.id, "close", "duty officer", "case closed", now())
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
    for kind in ("open", "acknowledge", "dispatch", "accept", "arrive", "work", "done", "close", "raise", "resolve"):
        assert f" {kind}" in page, kind
    assert "No history kept over this incident" in page  # a harness's simulated clock keeps none
    # self-contained: nothing to fetch
    assert not re.search(r'(src|href)="(https?:)?//', page) and "<script" not in page


def test_the_case_file_in_chinese_and_as_pdf(closed_case):
    root, data, incident, keys = closed_case
    done = _export(root, str(incident.id), "--data", str(data), "--pdf")
    assert done.returncode == 0 and f"incident-{incident.id}-zh-CN.html" in done.stdout, done.stderr
    page = (root / f"incident-{incident.id}-zh-CN.html").read_text(encoding="utf-8")
    assert 'lang="zh-CN"' in page and "事件档案" in page and "响应时间" in page and incident.title_zh in page
    pdf = root / f"incident-{incident.id}-zh-CN.pdf"
    assert f"wrote {pdf.name}" in done.stdout
    from pypdf import PdfReader

    reader = PdfReader(pdf)
    text = "".join(page.extract_text() for page in reader.pages)
    assert "事件档案" in text and "响应时间" in text and "inlet valve jammed open <b>" in text  # the crew's words
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
