"""One report, not two (issue 17): the recording of a live exercise reports with its
debrief as a section (objectives met or not, the injects, the players' actions, the
observers' notes, the times per phase), in English and Chinese, page and PDF; the
server's debrief page is that same section (one template) around which it puts a page.
A real server (uvicorn) on the toy plugin's tanks, as in tests/test_exercise.py."""

from __future__ import annotations

import html
import re

from pypdf import PdfReader
from test_exercise import as_, serve, start
from conftest import wait_for

from twin.runs.debrief import from_recording
from twin.runs.recording import Recorder, read_stream
from twin.runs.report import write_report


def text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def plain(path):
    """A recording of the toy twin running on its own: no exercise."""
    import toyplugin

    from twin.authoring.testing import Harness

    harness = Harness(path.parent / "plain-scene", plugins=[toyplugin], blocks=(2, 2))
    recorder = Recorder(path, harness.engine)
    for _ in range(3):
        recorder.record(harness.engine.tick())
    recorder.close()
    harness.close()


def section(page: str) -> str:
    found = re.search(r'<section class="debrief" id="debrief">(.*?)</section>', page, re.S)
    assert found, "no debrief section"
    return found.group(1)


def test_the_report_of_an_exercise_holds_its_debrief(tmp_path):
    plain(tmp_path / "plain.mcap")
    with serve(tmp_path) as (client, tokens, server):
        start(client, tokens)
        alarm = wait_for(lambda: next((a for a in client.get("/api/alarms", headers=as_(tokens, "viewer")).json()["alarms"]
                                       if a["asset"] == "T-000" and a["level"] >= 2), None), 30, "T-000 yellow")
        r = client.post(f"/api/alarms/{alarm['id']}/acknowledge", json={"note": "crew on the way"}, headers=as_(tokens, "operator"))
        assert r.status_code == 200, r.text
        client.post("/api/exercise/notes", json={"text": "acknowledged from the wall"}, headers=as_(tokens, "observer"))
        recording = tmp_path / "data" / "recordings" / client.get("/api/exercise", headers=as_(tokens, "director")).json()["recording"]
        client.post("/api/exercise/stop", json={}, headers=as_(tokens, "director")).raise_for_status()
        served = {lang: client.get(f"/api/exercise/debrief?lang={lang}", headers=as_(tokens, "observer")).text
                  for lang in ("en", "zh-CN")}
    # the recording holds the exercise's record as scored: the same debrief as the server's
    d = from_recording(recording)
    assert d is not None and (d.drill, d.met, d.judged) == ("Tank overfill", 3, 3)
    assert [n.text for n in d.notes] == ["acknowledged from the wall"]
    report = write_report(recording, tmp_path / "en", lang="en")
    page = report.html.read_text(encoding="utf-8")
    mine = section(page)
    seen = text(mine)
    for words in ("Exercise debrief: Tank overfill", "3 / 3", "acknowledged from the wall", "operator-1", "crew on the way",
                  "by 00:00:20 an alarm of at least yellow on T-000", "Times per phase", "Water is pouring over the tank"):
        assert words in seen, words
    # one template: the server's page is the same section, its headings a level up and its ids unprefixed
    theirs = section(served["en"])
    assert text(mine) == text(theirs) and mine.count("<h3") == theirs.count("<h2") > 5
    assert 'id="debrief-timeline"' in mine and 'id="timeline"' in page.replace(mine, "")  # no id twice on the page
    # the report's scorecard is the debrief's objectives, not a second table
    assert 'id="scorecard"' not in page and "No scorecard" not in text(page)
    words = "\n".join(pg.extract_text() for pg in PdfReader(report.pdf).pages)
    assert "acknowledged from the wall" in words and "3 / 3" in words and "Times per phase" in words
    zh = write_report(recording, tmp_path / "zh", lang="zh-CN", pdf=False)
    seen = text(section(zh.html.read_text(encoding="utf-8")))
    for words in ("演练复盘报告", "水箱溢流", "达成", "各环节用时", "水箱在溢水", "acknowledged from the wall"):
        assert words in seen, words
    assert text(section(served["zh-CN"])) == seen
    # a recording cut short before the exercise's end (its writer killed): the debrief as far
    # as its channels tell it, the injects and the note, its objectives said to be unscored
    cut = tmp_path / "cut.mcap"
    data = recording.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    assert "/exercise/record" not in {topic for topic, _, _ in read_stream(cut)}
    partial = from_recording(cut)
    assert partial is not None and partial.injects and partial.objectives == []
    assert [i.n for i in partial.injects] == [i.n for i in d.injects[: len(partial.injects)]]
    assert any("objectives were not scored" in w for w in partial.warnings)
    # a recording of no exercise has no debrief
    assert from_recording(tmp_path / "plain.mcap") is None
