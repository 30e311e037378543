"""The report's timeline lists what people did to incidents (``/operator/incident``),
not only their actions on alarms: a recorded drill whose scripted responses acknowledge
and dispatch the worst incident (docs/drills.md, ``incident = "worst"``) shows both, with
who, the note and the unit, ahead of the steps they took on the incident's alarms."""

from __future__ import annotations

import html

import pytest
from conftest import demo_drill, record_drill

from twin.runs.report import read_run, write_report
from twin.runs.report.view import timeline_rows

# A gas leak fills the spaces beside its main: one incident, acknowledged as a whole, then
# dispatched to a crew of another name than its owner.
DRILL = '''[drill]
name = "incident actions in the report"
scene = ".."
seed = 31
duration = 90

[[events]]
at = 5
action = "gas.leak"
target = "G-M-0028"
params = { diameter = 0.012, cd = 0.62 }

[[events]]
at = 40
operator = "acknowledge"
incident = "worst"
note = "seen on the wall"

[[events]]
at = 60
operator = "dispatch"
incident = "worst"
unit = "gas crew 3"
note = "send the crew"
'''


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report-incidents")
    root = tmp / "demo"
    root.mkdir()
    out = tmp / "run.mcap"
    result, _ = record_drill(demo_drill(root, "incident-actions", DRILL), out, tmp / "data")
    assert result.warnings == []
    return out


def test_the_timeline_lists_each_incident_action_before_its_alarms_steps(recording):
    run = read_run(recording)
    assert [(a["kind"], a["time"] - run.start) for a in run.incident_actions] == [("acknowledge", 40.0), ("dispatch", 60.0)]
    rows = timeline_rows(run, "en")
    ops = [r for r in rows if r.cls == "incident-op"]
    incident = run.incident_actions[0]["incident"]
    assert [(r.kind, r.event, r.incident, r.who) for r in ops] == [
        ("acknowledge", "incident acknowledged", incident["id"], "drill script — seen on the wall"),
        ("dispatch", "incident dispatched", incident["id"], "drill script — send the crew"),
    ]
    assert ops[0].what == f"Incident #{incident['id']} {incident['title']}" and ops[1].what.endswith(" → gas crew 3")
    # the incident's dispatch took its alarms along, listed after it at its moment
    after = rows[rows.index(ops[1]) + 1:]
    assert after and after[0].cls == "op" and after[0].kind == "dispatch" and after[0].time == ops[1].time
    zh = [r for r in timeline_rows(run, "zh-CN") if r.cls == "incident-op"]
    title_zh = run.incidents[incident["id"]]["title_zh"]
    assert [r.event for r in zh] == ["事件已确认", "事件已派发"] and zh[0].what == f"事件 #{incident['id']} {title_zh}"


@pytest.mark.slow
def test_the_report_page_shows_them(recording, tmp_path):
    report = write_report(recording, tmp_path / "report", "en", pdf=False)
    page = report.html.read_text(encoding="utf-8")
    rows = [line for line in page.splitlines() if line.startswith('<tr class="incident-op"')]
    assert len(rows) == 2 and 'data-kind="dispatch"' in rows[1]
    assert "incident dispatched" in rows[1] and html.escape("drill script — send the crew") in rows[1] and "gas crew 3" in rows[1]
