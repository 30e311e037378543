"""Honest scoring (issue 17, and issue 15's "dispatched within" and "closed within"):
expectations per level, domain, asset or owner unit, timed from the moment an alarm
reached the level; an all-clear judged against the ground truth; the platform's own
deadlines (overdue alarms, escalated incidents) on the scorecard; a branch scored as one
run with its parent; a rerun re-scored and reported."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from twin.runs.drill import DrillError, Evidence, load_drill, scorecard
from twin.runs.recording import Recorder, info, read_truth
from twin.runs.reruns import rerun_and_score, run_branch, run_drill, score_recording
from twin.runtime import open_drill, open_twin

ROOT = Path(__file__).resolve().parents[1]
GAS_COMPANY = "合肥燃气集团有限公司"
HEAD = '[drill]\nname = "scoring"\nscene = ".."\nseed = 11\nduration = "00:04:00"\n'
#: the demo's gas leak beside G-MH-0055, whose methane detector (GS-CH4-0089) drifts down
#: so fast from 01:30 that the twin's alarm clears while the manhole is still full of gas
DRIFT = HEAD + (
    '\n[alarms]\ndeadlines = { 1 = 30, 2 = 30, 3 = 30, 4 = 30 }\n'
    '\n[[events]]\nat = 10\naction = "gas.leak"\ntarget = "G-M-0028"\nparams = { diameter = 0.012 }\n'
    '\n[[events]]\nat = 90\naction = "sensor.drift"\ntarget = "GS-CH4-0089"\nparams = { rate = -600 }\n'
    '\n[[events]]\nat = 60\noperator = "acknowledge"\ntarget = "G-MH-0055"\n'
    '\n[[expect]]\nno_false_clear = true\ndomain = "gas"\nlevel = "yellow"\n'
    '\n[[expect]]\nby = "00:01:00"\nowner = "' + GAS_COMPANY + '"\nlevel = "yellow"\n'
    '\n[[expect]]\nno_false_clear = true\ndomain = "drainage"\nlevel = "blue"\n'
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("scoring")
    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", root / "scene.toml")
    (root / "drills").mkdir()
    return root


def write(root: Path, name: str, text: str) -> Path:
    path = root / "drills" / name
    path.write_text(text)
    return path


def record(drill, path: Path, config: dict | None = None):
    """``drill`` run and recorded as ``twin drill run --record`` does (with ``config``
    over the drill's own tables)."""
    engine = open_twin(drill.scene, None, seed=drill.seed, config={**drill.config, **(config or {})}, dt=drill.dt,
                       persist=False, start=drill.start)
    recorder = Recorder(path, engine, {"drill": drill.name, "drill_path": str(drill.path.resolve())})
    result = run_drill(drill, engine, recorder)
    recorder.close()
    engine.close()
    return result


@pytest.fixture(scope="module")
def drifted(demo):
    """The drifting-detector drill, recorded; its incidents escalate after 40 s unacknowledged."""
    drill = load_drill(write(demo, "drift.toml", DRIFT))
    escalation = {"escalation": {"deadlines": {str(level): {"acknowledge": 40.0} for level in (1, 2, 3, 4)}}}
    path = demo / "drift.mcap"
    return drill, record(drill, path, escalation), path


# ------------------------------------------------------------------ timed expectations


def _event(kind, t, alarm_id, level, asset="G-MH-0055", domain="gas", owner=GAS_COMPANY):
    return {"kind": kind, "time": t, "alarm": {"id": alarm_id, "asset": asset, "domain": domain, "rule": f"{domain}.x",
                                               "owner": owner, "level": level, "peak_level": level}}


def test_operator_steps_are_timed_from_the_moment_the_alarm_reached_the_level(demo):
    path = write(demo, "timed.toml", HEAD + (
        '\n[[expect]]\nacknowledged_within = 60\nlevel = "orange"\n'
        '\n[[expect]]\ndispatched_within = 60\nlevel = "orange"\n'
        '\n[[expect]]\nresolved_within = "00:02:00"\nlevel = "orange"\nowner = "' + GAS_COMPANY + '"\n'
        '\n[[expect]]\nacknowledged_within = 60\nlevel = "blue"\n'
        '\n[[expect]]\ndispatched_within = 60\nlevel = "yellow"\ndomain = "drainage"\n'
        '\n[[expect]]\nby = "00:00:30"\nlevel = "yellow"\ndomain = "drainage"\n'
    ))
    drill = load_drill(path)
    events = [
        _event("raise", 10.0, 1, 1),           # blue at 10 s
        _event("escalate", 100.0, 1, 3),       # orange at 100 s
        _event("acknowledge", 150.0, 1, 3),    # 50 s after orange, 140 s after the raise
        _event("dispatch", 200.0, 1, 3),       # 100 s after orange
        _event("resolve", 210.0, 1, 3),        # 110 s after orange
        # a drainage alarm at yellow, acknowledged and resolved without a dispatch
        _event("raise", 20.0, 2, 2, "D-MH-0272", "drainage", "合肥市排水管理办公室"),
        _event("acknowledge", 25.0, 2, 2, "D-MH-0272", "drainage", "合肥市排水管理办公室"),
        _event("resolve", 40.0, 2, 2, "D-MH-0272", "drainage", "合肥市排水管理办公室"),
    ]
    card = scorecard(drill, events)
    assert [(s.mark, s.detail) for s in card.scores] == [
        ("PASS", "all in time"),                                  # orange: acknowledged 50 s after reaching it
        ("FAIL", "late: G-MH-0055 (100 s)"),
        ("PASS", "all in time"),
        ("FAIL", "late: G-MH-0055 (140 s)"),                      # blue: from the raise
        ("FAIL", "late: D-MH-0272 (resolved without being dispatched)"),
        ("PASS", "reached at 00:00:20"),
    ]
    assert [s.expectation.describe() for s in card.scores][1:3] == [
        "every alarm of at least orange dispatched within 60 s",
        f"every alarm of at least orange owned by {GAS_COMPANY} resolved within 120 s"]
    # not yet dispatched and still within its time at the end: not judged; past it: late
    near_end = [_event("raise", 200.0, 3, 3)]
    assert card.scores[1].passed is False and scorecard(drill, near_end).scores[1].detail == "all in time"
    assert scorecard(drill, [_event("raise", 100.0, 3, 3)]).scores[1].detail == "late: G-MH-0055 (not dispatched)"


def test_a_deadline_as_long_as_the_drill_and_an_unknown_owner_are_refused(demo):
    path = write(demo, "long.toml", HEAD + '\n[[expect]]\ndispatched_within = "00:04:00"\nlevel = "red"\n')
    with pytest.raises(DrillError) as raised:
        load_drill(path)
    assert raised.value.problems == [
        f"{path}: line 8: [[expect]] #1 dispatched_within = '00:04:00': as long as the drill or longer (00:04:00), so no "
        "alarm could be found late; expected less than its duration"]
    path = write(demo, "owner.toml", HEAD + '\n[[expect]]\nnever = true\nowner = "the gas works"\nlevel = "red"\n')
    done = subprocess.run([sys.executable, "-m", "twin.cli", "drill", "check", str(path), "--data", str(demo / "data")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{path}: line 9: [[expect]] #1 owner: 'the gas works' owns no asset of scene 'demo'; its owners: " in done.stderr
    assert GAS_COMPANY in done.stderr


# --------------------------------------------------------------- the truth and the platform


def test_an_all_clear_on_a_drifting_sensor_while_the_truth_is_red_fails(drifted):
    drill, result, path = drifted
    card = result.card
    assert [s.mark for s in card.scores] == ["FAIL", "PASS", "PASS"]
    detail = card.scores[0].detail
    assert detail.startswith("1: G-MH-0055 cleared at 00:02:") and detail.endswith(
        "while the truth was red, on a drifting sensor (GS-CH4-0089, since 00:01:30)")
    assert card.scores[1].detail.startswith("reached at 00:00:")
    # the twin did clear it: its alarm's last event on G-MH-0055 is a clear
    assert [e["kind"] for e in result.events if e["alarm"]["asset"] == "G-MH-0055"
            and e["kind"] in ("raise", "escalate", "clear")][-1] == "clear"
    # the same drill with a healthy detector: the alarm stays, the expectation is met
    healthy = [e for e in drill.events if e.action != "sensor.drift"]
    engine = open_drill(drill, None)
    try:
        drill.events[:] = healthy
        assert run_drill(drill, engine).card.scores[0].mark == "PASS"
    finally:
        engine.close()


def test_the_scorecard_counts_overdue_alarms_and_escalations(drifted):
    _, result, _ = drifted
    card = result.card
    # [alarms] deadlines of 30 s: the neighbouring detectors nobody acknowledged went overdue,
    # not G-MH-0055, acknowledged at 01:00 (20 s after it turned yellow)
    assert sorted((o["asset"], o["level"]) for o in card.overdue) == [("G-SW-0028", 1), ("G-VW-0028", 4)]
    # nobody acknowledged the incident: it went up the chain at 40 s and again at 80 s
    assert [(e["incident"], e["step"], e["from"], e["to"], e["time"] - card.start) for e in card.escalations] == [
        (1, "acknowledge", "duty officer", "section chief", pytest.approx(card.escalations[0]["time"] - card.start)),
        (1, "acknowledge", "section chief", "district emergency office",
         pytest.approx(card.escalations[0]["time"] - card.start + 40.0))]
    lines = card.lines()
    assert lines[-2].startswith(f"  overdue: {len(card.overdue)} alarm(s) not acknowledged within their level's deadline: ")
    assert lines[-1].startswith(f"  escalations: {len(card.escalations)}: incident ")
    assert "not acknowledged within 40 s: handed up from duty officer to section chief" in lines[-1]


def test_a_recording_scores_as_its_run_did(drifted):
    _, result, path = drifted
    card = score_recording(path)
    assert [(s.mark, s.detail) for s in card.scores] == [(s.mark, s.detail) for s in result.card.scores]
    assert card.overdue == result.card.overdue and card.escalations == result.card.escalations


def test_without_a_truth_an_all_clear_is_not_judged(demo):
    drill = load_drill(write(demo, "untrue.toml", DRIFT))
    events = [_event("raise", 10.0, 1, 3), _event("clear", 50.0, 1, 0)]
    first = scorecard(drill, events, 0.0, Evidence()).scores[0]
    assert (first.mark, first.passed, first.judged) == ("N/A", True, False)
    assert first.detail.startswith("not judged: the run keeps no ground truth")


# ---------------------------------------------------------------------- branch and rerun


def reached(detail: str) -> int:
    """Seconds of a "reached at HH:MM:SS" detail."""
    h, m, s = detail.removeprefix("reached at ").split(":")
    return int(h) * 3600 + int(m) * 60 + int(s)


@pytest.mark.slow
def test_a_branch_is_scored_as_one_run_with_its_parent(demo, drifted, tmp_path):
    """What if the duty officer had dispatched a crew at 02:00 and the detector been
    repaired? Before the branch point the parent's run stands (its early alarm is met, not
    failed as it used to be); after it the branch's."""
    _, result, parent = drifted
    what_if = write(demo, "what-if.toml", HEAD + (
        '\n[[events]]\nat = 120\naction = "sensor.repair"\ntarget = "GS-CH4-0089"\n'
        '\n[[events]]\nat = 121\noperator = "dispatch"\ntarget = "G-MH-0055"\n'
        '\n[[expect]]\nby = "00:01:00"\nowner = "' + GAS_COMPANY + '"\nlevel = "yellow"\n'
        '\n[[expect]]\ndispatched_within = 150\nlevel = "orange"\nasset = "G-MH-0055"\n'
        '\n[[expect]]\nno_false_clear = true\nasset = "G-MH-0055"\nlevel = "yellow"\n'
    ))
    out = tmp_path / "branch.mcap"
    done = subprocess.run([sys.executable, "-m", "twin.cli", "branch", str(parent), "--at", "00:01:55", "--drill", str(what_if),
                           "--out", str(out), "--data", str(tmp_path / "data")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].startswith(f"  PASS  by 00:01:00 an alarm of at least yellow owned by {GAS_COMPANY}: reached at 00:00:")
    assert lines[2].startswith("  PASS  every alarm of at least orange on G-MH-0055 dispatched within 150 s")
    assert lines[3] == ("  PASS  no alarm of yellow or worse on G-MH-0055 cleared while the truth was still yellow or "
                        "worse: none")
    meta = info(out).metadata
    assert meta["drill_path"] == str(what_if.resolve()) and float(meta["branch_time"]) == 115.0
    # the same from the branch's recording (the report's path), and the truth continues across the branch point
    card = score_recording(out)
    assert [s.mark for s in card.scores] == ["PASS", "PASS", "PASS"]
    truth = read_truth(out)
    assert truth is not None and truth.start == result.card.start + 115.0


@pytest.mark.slow
def test_a_rerun_is_rescored_recorded_and_reported(drifted, tmp_path):
    """Lower gas thresholds: the rerun is recorded (with the original's ground truth),
    its drill re-scored and its report written."""
    _, result, path = drifted
    lower = {"thresholds": {"gas.lel_risk": {"breakpoints": [0.0, 5.0, 15.0, 50.0, 75.0, 100.0]}}}
    out = tmp_path / "rerun.mcap"
    rerun = rerun_and_score(path, lower, out, tmp_path / "report")
    assert rerun.card is not None and len(rerun.card.scores) == 3
    # the owner's first yellow comes earlier
    assert reached(rerun.card.scores[1].detail) < reached(result.card.scores[1].detail)
    assert rerun.report is not None and rerun.report.html.is_file()
    meta = info(out).metadata
    assert meta["rerun_of"] == str(path.resolve()) and meta["drill_path"] == str(result.drill.path.resolve())
    original, copied = read_truth(path), read_truth(out)
    assert copied.series.keys() == original.series.keys()
    assert all((copied.series[k].values == s.values).all() for k, s in original.series.items())
    # the command: the scorecard printed, its exit code the drill's
    done = subprocess.run([sys.executable, "-m", "twin.cli", "rerun", str(path), "--no-report", "--out", str(tmp_path / "r2.mcap"),
                           "--data", str(tmp_path / "data")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr  # the drifted all-clear still fails
    assert "the drill's expectations on the rerun:\n  FAIL  no alarm of yellow or worse in gas cleared" in done.stdout
    assert f"  recorded to {tmp_path / 'r2.mcap'}" in done.stdout
