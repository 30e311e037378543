"""Drills act and expect on incidents (issues 15 and 17): a scripted operator response
may aim at an incident (`incident = "worst"`, "*" or an asset id), which acts on its
alarms too; expectations may be about incidents (`incident = true`) and count them
(`incidents_at_most`). Checked from the declaration, with file, line and key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from twin.runs.drill import DrillError, Evidence, check_against, load_drill, scorecard
from twin.runs.reruns import run_drill
from twin.runtime import open_drill, open_twin

ROOT = Path(__file__).resolve().parents[1]
HEAD = '[drill]\nname = "incidents"\nscene = ".."\nseed = 11\nduration = "00:06:00"\n'


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", root / "scene.toml")
    (root / "drills").mkdir()
    return root


def _problems(path: Path, engine=None) -> list[str]:
    with pytest.raises(DrillError) as raised:
        drill = load_drill(path, keep_going=engine is not None)
        check_against(drill, engine)
    return raised.value.problems


def test_incident_responses_and_expectations_are_checked_with_line_and_key(demo):
    path = demo / "drills" / "wrong.toml"
    path.write_text(HEAD + (
        '\n[[events]]\nat = 10\noperator = "acknowledge"\ntarget = "G-VW-0028"\nincident = "worst"\n'   # 7
        '\n[[events]]\nat = 20\noperator = "resolve"\nincident = "worst"\n'                           # 13
        '\n[[events]]\nat = 30\noperator = "close"\ntarget = "G-VW-0028"\n'                           # 18
        '\n[[events]]\nat = 40\noperator = "acknowledge"\nincident = "worst"\nunit = "crew"\n'        # 23
        '\n[[events]]\nat = 50\naction = "gas.leak"\ntarget = "G-M-0028"\nincident = "worst"\n'        # 29
        '\n[[expect]]\nno_false_clear = true\nincident = true\nlevel = "red"\n'                       # 35
        '\n[[expect]]\nincidents_at_most = -1\nlevel = "blue"\n'                                     # 40
        '\n[[expect]]\nincidents_at_most = 2\nincident = true\nlevel = "blue"\n'                     # 44
    ))
    assert _problems(path) == [
        f'{path}: line 7: [[events]] #1: an operator response acts on an alarm (target = an asset id, or "*") or on an '
        'incident (incident = "worst", "*" or an asset id): give one of them',
        f'{path}: line 13: [[events]] #2: an incident is closed, not resolved: operator = "close" (it resolves its alarms)',
        f'{path}: line 18: [[events]] #3: "close" is an incident\'s: give incident = "worst", "*" or an asset id (an alarm '
        'is resolved: operator = "resolve")',
        f"{path}: line 23: [[events]] #4: unit is where a dispatch goes; operator = 'acknowledge' takes none",
        f"{path}: line 29: [[events]] #5: incident belongs to an operator response; an action takes target and params",
        f"{path}: line 35: [[expect]] #1: incident does not apply to a 'no_false_clear' expectation; its keys: "
        "no_false_clear, level, asset, domain, owner, rule",
        f"{path}: line 41: [[expect]] #2 incidents_at_most = -1; expected an integer >= 0",
        f"{path}: line 44: [[expect]] #3: incident does not apply to a 'incidents_at_most' expectation; its keys: "
        "incidents_at_most, level, asset, domain, owner, rule",
    ]
    engine = open_twin(demo, demo / "data-check", persist=False)
    try:
        path.write_text(HEAD + '\n[[events]]\nat = 10\noperator = "dispatch"\nincident = "G-XX-0001"\nunit = "crew"\n')
        assert _problems(path, engine) == [
            f"{path}: line 10: [[events]] #1 incident: 'G-XX-0001' is neither \"worst\", \"*\" nor an asset of scene 'demo'"]
    finally:
        engine.close()


DRILL = HEAD + '''
[[events]]
at = "00:00:10"
action = "gas.leak"
target = "G-M-0028"
params = { diameter = 0.012, cd = 0.62 }

[[events]]
at = "00:01:00"
operator = "acknowledge"
incident = "worst"
note = "duty officer: the leak"

[[events]]
at = "00:01:30"
operator = "dispatch"
incident = "G-VW-0028"
unit = "gas crew 3"

[[expect]]
by = "00:02:00"
incident = true
domain = "gas"
level = "yellow"

[[expect]]
acknowledged_within = 120
incident = true
domain = "gas"
level = "yellow"

[[expect]]
dispatched_within = 300
incident = true
domain = "gas"
level = "yellow"

[[expect]]
resolved_within = 120
incident = true
domain = "gas"
level = "yellow"

[[expect]]
acknowledged_within = 120
domain = "gas"
level = "yellow"

[[expect]]
incidents_at_most = 1
domain = "gas"
level = "blue"

[[expect]]
incidents_at_most = 0
domain = "gas"
level = "blue"

[[expect]]
never = true
incident = true
domain = "tunnel"
level = "blue"
'''


def test_a_drill_acts_on_the_incident_and_is_scored_on_incidents(demo):
    path = demo / "drills" / "incident.toml"
    path.write_text(DRILL)
    drill = load_drill(path)
    assert [(e.operator, e.incident, e.unit) for e in drill.events if e.operator] == [
        ("acknowledge", "worst", ""), ("dispatch", "G-VW-0028", "gas crew 3")]
    engine = open_drill(drill, demo / "data")
    try:
        result = run_drill(drill, engine)
        gas = [i for i in engine.incidents.incidents.values() if "gas" in i.domains]
    finally:
        engine.close()
    assert result.warnings == []
    # one gas incident, acknowledged and dispatched by the script, and its alarms with it
    [incident] = gas
    assert [(a["action"], a["who"], a["time"] - engine.start) for a in incident.actions] == [
        ("acknowledge", "drill script", 60.0), ("dispatch", "drill script", 90.0)]
    assert incident.dispatched_to == "gas crew 3"
    steps = [(e["kind"], e["alarm"]["asset"], e["time"] - engine.start, e["note"]) for e in result.events
             if e["kind"] in ("acknowledge", "dispatch")]
    acknowledged = {asset for kind, asset, t, note in steps if kind == "acknowledge" and t == 60.0}
    assert acknowledged and acknowledged <= set(incident.assets)
    assert all(note == "duty officer: the leak" for kind, _, t, note in steps if kind == "acknowledge" and t == 60.0)
    assert {(e["alarm"]["dispatched_to"]) for e in result.events if e["kind"] == "dispatch"} == {"gas crew 3"}
    marks = [(s.mark, s.expectation.describe(), s.detail) for s in result.scores]
    title = f"incident {incident.id} ({incident.title})"
    assert [m[0] for m in marks] == ["PASS", "PASS", "PASS", "FAIL", "PASS", "PASS", "FAIL", "PASS"], marks
    assert marks[0][1] == "by 00:02:00 an incident of at least yellow in gas"
    assert marks[3][1:] == ("every incident of at least yellow in gas closed within 120 s", f"late: {title} (not closed)")
    assert marks[5][1:] == ("at most 1 incident(s) of at least blue in gas", f"1: {title}")
    assert marks[6][2] == f"1: {title}"


def test_incident_expectations_are_not_judged_on_a_run_that_kept_no_incidents(demo):
    path = demo / "drills" / "none.toml"
    path.write_text(HEAD + '\n[[expect]]\nby = 60\nincident = true\nlevel = "blue"\n'
                    '\n[[expect]]\nincidents_at_most = 0\nlevel = "blue"\n')
    drill = load_drill(path)
    raised = [{"kind": "raise", "time": 10.0, "alarm": {"id": 1, "asset": "G-VW-0028", "domain": "gas", "rule": "gas.x",
                                                       "level": 2, "peak_level": 2}}]
    card = scorecard(drill, raised, 0.0, Evidence())
    assert [s.mark for s in card.scores] == ["N/A", "N/A"] and card.passed
    # with its incident kept, both are judged
    incident = {"id": 4, "title": "Gas at G-VW-0028", "alarms": [1], "assets": ["G-VW-0028"], "domains": ["gas"],
                "owner": "gas co", "rule": "gas.x", "peak_level": 2, "opened": 10.0, "actions": []}
    card = scorecard(drill, raised, 0.0, Evidence(incidents={4: incident}))
    assert [(s.mark, s.detail) for s in card.scores] == [("PASS", "reached at 00:00:10"),
                                                          ("FAIL", "1: incident 4 (Gas at G-VW-0028)")]
