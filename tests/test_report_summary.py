"""The executive summary tells the same story as the rest of the report (issue 17's
audit): its on-time counts are the scorecard's (the same selectors, timed from when an
alarm reached the level), an exercise's summary is judged against the drill's deadlines
and counts the exercise's alarms alone, and its Detect step credits each alarm to the
same cause as the debrief does (a storm named on one manhole included).

A storm over the demo and a gas leak beside a sewer: recorded as ``twin drill run
--record`` does, and played live as an exercise on a real server (uvicorn, tokens mode)
that was already recording before it started."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, demo_drill, record_drill, running, wait_for, wait_healthy

from twin.runs.debrief import from_recording
from twin.runs.drill import load_drill
from twin.runs.report import write_report
from twin.runs.reruns import score_recording

pytestmark = pytest.mark.slow

STORM_LEAK = """
[drill]
name = "Storm and a gas leak"
scene = ".."
seed = 5
duration = "00:03:00"

[[series]]                 # a storm over the whole district, named on one manhole
action = "drainage.rain"
target = "D-MH-0001"
param = "intensity"
points = [[5, 150.0]]

[[events]]
at = "00:00:10"
action = "gas.leak"
target = "G-M-0028"
params = { diameter = 0.012, cd = 0.62 }

[[events]]
at = "00:00:40"
operator = "acknowledge"
target = "G-VW-0028"

[[expect]]                 # a deadline for the gas alarms alone
acknowledged_within = 60
domain = "gas"
level = "yellow"
"""


def text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def phases(page: str) -> dict[str, list[str]]:
    """The executive summary's table of steps: its cells by step."""
    summary = re.search(r'<section id="executive-summary" class="exec">(.*?)</section>', page, re.S)
    assert summary, "no executive summary"
    table = re.search(r'<table id="exec-phases">(.*?)</table>', summary.group(1), re.S)
    assert table, "no table of steps"
    out = {}
    for attrs, body in re.findall(r"<tr([^>]*)>(.*?)</tr>", table.group(1), re.S):
        step = re.search(r'data-phase="(\w+)"', attrs)
        if step:
            out[step.group(1)] = [text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)]
    return out


def late_in(detail: str) -> int:
    """How many alarms a scorecard's detail names late ("late: A (75 s), B (not acknowledged)")."""
    return 0 if detail == "all in time" else len(re.findall(r"\([^)]*\)", detail))


def judged_by_hand(events: list[dict], end: float, seconds: float, level: int, domain: str) -> tuple[int, int]:
    """(judged, late) as the drill format defines an ``acknowledged_within`` about
    ``domain``: each of its alarms that reached ``level``, from then to its acknowledge;
    one not acknowledged and still within its time at ``end`` not judged."""
    reached: dict[int, float] = {}
    acked: dict[int, float] = {}
    for e in events:
        a = e["alarm"]
        if a["domain"] != domain:
            continue
        if e["kind"] in ("raise", "escalate") and a["level"] >= level:
            reached.setdefault(a["id"], e["time"])
        if e["kind"] == "acknowledge":
            acked.setdefault(a["id"], e["time"])
    judged = late = 0
    for alarm, t in reached.items():
        if alarm in acked:
            judged += 1
            late += acked[alarm] - t > seconds
        elif end - t > seconds:
            judged += 1
            late += 1
    return judged, late


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    root = tmp_path_factory.mktemp("storm-leak")
    drill = demo_drill(root, "storm-leak", STORM_LEAK)
    record_drill(drill, root / "run.mcap")
    report = write_report(root / "run.mcap", root / "en", lang="en", pdf=False)
    return root / "run.mcap", drill, report


def test_the_summary_counts_on_time_as_the_scorecard_does(recorded):
    """A gas-only 60 s deadline judges the gas alarms alone, from when they reached
    yellow: the summary's "within" is the scorecard's count, not every alarm's."""
    from twin.runs.report.data import read_run

    path, drill, report = recorded
    run = read_run(path)
    card = score_recording(path, drill)
    assert card is not None
    (score,) = card.scores
    judged, late = judged_by_hand(run.events, run.end, 60.0, 2, "gas")
    assert judged >= 2 and late_in(score.detail) == late >= 1, (score.detail, judged, late)
    # the storm alarmed the drainage network too: the deadline must leave those out
    others = {a.id for a in run.alarms.values() if a.domain not in ("gas", "system") and a.peak_level >= 2}
    assert others, "the storm raised no drainage alarm of yellow: the test proves nothing"
    row = phases(report.html.read_text(encoding="utf-8"))["acknowledge"]
    assert row[5] == f"{judged - late} of {judged}", row
    assert row[4] == "60 s (Gas) (the drill's)", row


def test_the_summary_detects_as_the_table_credits(recorded):
    """Detect: the storm (named on one manhole) is the cause of the drainage alarms, the
    leak of the gas ones; each cause's time to its first alarm."""
    from twin.runs.report.data import credit_detection, load_twin, read_run

    path, _, report = recorded
    run = read_run(path)
    twin, why = load_twin(run)
    assert twin is not None, why
    credit_detection(run, twin)
    by_cause: dict[str, set[str]] = {}
    for a in run.alarms.values():
        if a.detect_from is not None:
            by_cause.setdefault(a.detect_from[1]["action"], set()).add(a.domain)
    assert by_cause.get("drainage.rain") == {"drainage"} and "gas" in by_cause.get("gas.leak", set()), by_cause
    row = phases(report.html.read_text(encoding="utf-8"))["detect"]
    assert row[1] == f"2 of {len(run.inputs)}", row


def test_summary_and_debrief_credit_detection_alike(recorded):
    """One rule: the debrief of the same run (its inputs as the injects an exercise
    fired, its alarm events as an exercise saw them) counts the Detect step as the
    summary does: the storm's drainage alarms credited to the storm, the leak's gas
    alarms to the leak."""
    from twin.runs.debrief import debrief
    from twin.runs.exercise import ExerciseRecord, Inject, InjectChange
    from twin.runs.report.data import load_twin, read_run
    from twin.runs.report.text import span_text

    path, drill, report = recorded
    run = read_run(path)
    twin, why = load_twin(run)
    assert twin is not None, why
    start = run.clock_start
    injects = [Inject(n, "action", i["time"] - start, i["time"] - start, "fired", f"storm-leak.toml:{n}", i["action"], i["target"],
                      dict(i["params"]), fired=i["time"] - start, by="on time", log=[InjectChange("fire", "on time", i["time"] - start)])
               for n, i in enumerate(run.inputs, 1)]
    record = ExerciseRecord(drill.name, "", "storm-leak.toml", "demo", run.timezone, True, start, run.end, "ended", "director",
                            "director", "stopped", drill.duration, injects, [], run.events, [], [], [], [])
    d = debrief(record, twin.scope)
    causes = {r.cause for r in d.responses if r.cause is not None}
    assert {i.action for i in injects if i.n in causes} == {"drainage.rain", "gas.leak"}
    detect = next(p for p in d.phases if p.phase == "detect")
    row = phases(report.html.read_text(encoding="utf-8"))["detect"]
    assert row[1] == f"{detect.count} of {detect.of}" == "2 of 2", (row, detect)
    assert row[2] == span_text(detect.median, "en") and row[3] == span_text(detect.worst, "en"), (row, detect)


# ----------------------------------------------------------------- the live exercise

TANKS = """\
[drill]
name = "Two tanks"
scene = "."
duration = 600

[[events]]
at = 1
action = "toy.open_tap"
target = "T-000"
params = { rate = 1.0 }

[[events]]
at = 1
action = "toy.open_tap"
target = "T-001"
params = { rate = 1.0 }

[[expect]]                 # a deadline for T-000 alone
acknowledged_within = 20
asset = "T-000"
level = "blue"
"""
ROLES = ("director", "operator", "observer")


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    """TANKS played live on the toy tanks by a server recording since before the
    exercise, where a tap opened by hand had already raised an alarm on T-003; T-000's
    alarm acknowledged at once, T-001's never; stopped at 60 s: (the recording, its
    report in English)."""
    import toyplugin

    from twin.authoring.testing import Harness
    from twin.serving.access import TokenStore
    from twin.serving.server import create_app

    root = tmp_path_factory.mktemp("tanks-live")
    store = TokenStore(root / "data")
    tokens = {role: store.add(role, f"{role}-1")[1] for role in ROLES}
    recording = root / "live.mcap"
    server = create_app(lambda: Harness(root / "scene", plugins=[toyplugin], blocks=(2, 2)).engine, speed=10.0,
                        data_dir=root / "data", record=recording)

    def as_(role):
        return {"Authorization": f"Bearer {tokens[role]}"}

    def alarm_on(asset):
        return next((a for a in client.get("/api/alarms", headers=as_("operator")).json()["alarms"] if a["asset"] == asset), None)

    with running(server.app) as url, httpx.Client(base_url=url, timeout=30) as client:
        wait_healthy(client)
        r = client.post("/api/actions", json={"action": "toy.open_tap", "target": "T-003", "params": {"rate": 1.0}},
                        headers=as_("director"))
        assert r.status_code == 200, r.text
        wait_for(lambda: (alarm_on("T-003") or {}).get("level") == 4, 30, "the alarm before the exercise, red")
        r = client.post("/api/exercise", json={"drill": TANKS, "file": "tanks.toml"}, headers=as_("director"))
        assert r.status_code == 201, r.text
        alarm = wait_for(lambda: alarm_on("T-000"), 30, "T-000's alarm")
        client.post(f"/api/alarms/{alarm['id']}/acknowledge", json={}, headers=as_("operator")).raise_for_status()
        wait_for(lambda: client.get("/api/exercise", headers=as_("director")).json()["at"] >= 60, 60, "a minute played")
        client.post("/api/exercise/stop", json={}, headers=as_("director")).raise_for_status()
        wait_for(lambda: client.get("/api/exercise", headers=as_("director")).json()["state"] == "ended", 30, "the end")
    return recording, write_report(recording, root / "en", lang="en", pdf=False)


def test_an_exercise_summary_judges_the_drills_deadline_on_its_own_alarms(played):
    """The drill's deadline (about T-000 alone), judged as its objective was, over the
    exercise's alarms: not the platform's, and not the alarm raised before it began."""
    from twin.runs.report.data import read_run

    recording, report = played
    d = report.debrief
    assert d is not None
    run = read_run(recording)
    assert any(a.asset == "T-003" and a.raised < d.start for a in run.alarms.values()), "no alarm before the exercise"
    (objective,) = d.objectives
    assert objective.status == "met", objective
    ack = phases(report.html.read_text(encoding="utf-8"))["acknowledge"]
    assert ack[4] == "20 s (T-000) (the drill's)", ack
    assert ack[5] == "1 of 1", ack  # T-000's; T-001's was never acknowledged but no deadline is about it
    # the exercise's two alarms, not the recording's three
    assert ack[1] == "1 of 2", ack
    happened = re.search(r'<section id="executive-summary" class="exec">(.*?)</section>', report.html.read_text(encoding="utf-8"),
                         re.S).group(1)
    # one incident holds all three (it opened on T-003): the exercise's part of it is told
    assert "2 alarms on 2 assets" in text(happened), text(happened)
