"""A branch, and a rerun, run with their parent recording's configuration ([thresholds]
and [alarms]) unless told otherwise (twin.runs.reruns.branch_engine, rerun)."""

from __future__ import annotations

from conftest import demo_drill, record_drill

from twin.runs.recording import info
from twin.runs.reruns import branch_engine, rerun
from twin.tick.scene import Incident

DRILL = '''[drill]
name = "deadlines"
scene = ".."
seed = 11
duration = 150

[[events]]
at = 5
action = "gas.leak"
target = "G-M-0028"
params = { diameter = 0.02 }

[alarms]
deadlines = { 1 = 20, 2 = 20, 3 = 20, 4 = 20 }

[thresholds."gas.lel_risk"]
lel_volume_percent = 4.4
'''


def test_a_branch_keeps_the_parents_deadlines_and_thresholds_unless_told_otherwise(tmp_path):
    root = tmp_path / "demo"
    root.mkdir()
    recording = tmp_path / "run.mcap"
    result, _ = record_drill(demo_drill(root, "deadlines", DRILL), recording, tmp_path / "data")
    assert any(e["kind"] == "overdue" for e in result.events)  # the drill's 20 s, not the default 300 s and more
    assert info(recording).metadata["alarms"] == '{"deadlines": {"1": 20, "2": 20, "3": 20, "4": 20}}'

    branched = branch_engine(recording, 3.0, tmp_path / "b")  # before the leak
    try:
        assert branched.alarms.deadlines == {1: 20.0, 2: 20.0, 3: 20.0, 4: 20.0}
        assert branched.config["thresholds"]["gas.lel_risk"]["lel_volume_percent"] == 4.4
        # and the branch's alarms go overdue by them, 20 s after reaching their level
        branched.simulator.schedule(Incident(5.0, "gas.leak", "G-M-0028", {"diameter": 0.02}))
        seen = []
        for _ in range(120):
            seen.extend(e for e in branched.tick().events if e.kind in ("raise", "escalate", "overdue"))
        raised = {e.alarm["id"]: e.time for e in seen if e.kind in ("raise", "escalate")}
        overdue = {e.alarm["id"]: e.time for e in seen if e.kind == "overdue"}
        assert overdue and all(t - raised[i] <= 20.0 + 1e-6 for i, t in overdue.items())
    finally:
        branched.close()
    told = branch_engine(recording, 10.0, tmp_path / "c", config={"alarms": {"deadlines": {"4": 600}}})
    try:  # told otherwise: its table over the parent's
        assert told.alarms.deadlines == {1: 20.0, 2: 20.0, 3: 20.0, 4: 600.0}
        assert told.config["thresholds"]["gas.lel_risk"]["lel_volume_percent"] == 4.4
    finally:
        told.close()

    # a rerun too: with no configuration given, the recording's deadlines make the same alarms overdue
    recorded, replayed = rerun(recording, None)
    overdue = sorted((e["alarm"]["asset"], e["time"]) for e in recorded if e["kind"] == "overdue")
    assert overdue and sorted((e["alarm"]["asset"], e["time"]) for e in replayed if e["kind"] == "overdue") == overdue
    _, longer = rerun(recording, {"alarms": {"deadlines": {"1": 600, "2": 600, "3": 600, "4": 600}}})
    assert not [e for e in longer if e["kind"] == "overdue"]  # told otherwise
