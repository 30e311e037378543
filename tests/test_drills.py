"""Drills, recordings, seek and rerun, on the demo district with the built-in plugins."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from twin.serving.client import Mirror
from twin.runs.drill import DrillError, load_drill
from twin.runs.recording import Recorder, RecordingReader, info, read_stream, seek
from twin.runs.reruns import compare, rerun, run_drill
from twin.runtime import open_drill

ROOT = Path(__file__).resolve().parents[1]
GAS_DRILL = ROOT / "scenes" / "demo" / "drills" / "gas-leak.toml"


@pytest.fixture(scope="module")
def demo_copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", root / "scene.toml")
    (root / "drills").mkdir()
    for drill in (ROOT / "scenes" / "demo" / "drills").glob("*.toml"):
        shutil.copy(drill, root / "drills" / drill.name)
    return root


def engine_for(drill, tmp_path):
    return open_drill(drill, tmp_path / "data")


def clock_start(path) -> float:
    """A recording's clock start: the demo's drills run from the scene's start instant."""
    return float(info(path).metadata["start"])


def test_drill_check_names_line_and_field(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[drill]\nname = "x"\nscene = "."\nseed = 1\nduration = "00:02:00"\n\n'
        '[[events]]\nat = "00:00:99"\naction = "gas.leak"\ntarget = "G-M-0001"\n\n'
        '[[events]]\nat = 10\noperator = "shrug"\ntarget = "G-M-0001"\n\n'
        '[[expect]]\nby = "00:01:00"\nasset = "G-MH-0001"\nlevel = "purple"\n'
    )
    with pytest.raises(DrillError) as info_:
        load_drill(bad)
    assert info_.value.problems == [
        f"{bad}: line 8: [[events]] #1 at = '00:00:99'; expected seconds from the drill's start (a number >= 0) or \"HH:MM:SS\"",
        f"{bad}: line 14: [[events]] #2 operator = 'shrug'; expected one of \"acknowledge\", \"dispatch\", \"resolve\", \"close\"",
        f"{bad}: line 20: [[expect]] #1 level = 'purple'; expected \"blue\", \"yellow\", \"orange\" or \"red\" "
        "(or \"IV\", \"III\", \"II\", \"I\", or 1 to 4)",
    ]


def test_drill_check_against_scene_names_unknown_targets_and_params(demo_copy, tmp_path):
    drill_file = demo_copy / "wrong.toml"
    drill_file.write_text(
        '[drill]\nname = "x"\nscene = "."\nseed = 1\nduration = 60\n\n'
        '[[events]]\nat = 5\naction = "gas.leak"\ntarget = "G-M-9999"\n\n'
        '[[events]]\nat = 6\naction = "gas.leak"\ntarget = "G-M-0001"\nparams = { size = 3 }\n'
    )
    result = subprocess.run([sys.executable, "-m", "twin.cli", "drill", "check", str(drill_file), "--data", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{drill_file}: line 10: [[events]] #1 target: 'G-M-9999' is not an asset of scene" in result.stderr
    assert f"{drill_file}: line 16: [[events]] #2 params: 'gas.leak' has no parameter 'size'" in result.stderr


@pytest.mark.slow
def test_demo_drills_run_and_score(demo_copy, tmp_path):
    drills = sorted((demo_copy / "drills").glob("*.toml"))
    assert len(drills) >= 1
    for path in drills:
        drill = load_drill(path)
        result = run_drill(drill, engine_for(drill, tmp_path))
        failed = [f"{s.expectation.describe()}: {s.detail}" for s in result.scores if not s.passed]
        assert not failed, f"{path.name}: {failed}"
        assert result.events, f"{path.name} raised no alarm"


@pytest.mark.slow
def test_failing_expectation_exits_non_zero(demo_copy, tmp_path):
    drill_file = demo_copy / "too-quick.toml"
    text = GAS_DRILL.read_text().replace('by = "00:02:00"', 'by = "00:00:20"').replace('scene = ".."', f'scene = "{demo_copy}"')
    drill_file.write_text(text)
    result = subprocess.run([sys.executable, "-m", "twin.cli", "drill", "run", str(drill_file), "--data", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    drill_file.unlink()
    assert result.returncode == 1, result.stderr
    assert "FAIL  by 00:00:20 an alarm of at least yellow on G-MH-0055: reached at" in result.stdout


def record_drill(drill, tmp_path, name):
    engine = engine_for(drill, tmp_path / name)
    path = tmp_path / f"{name}.mcap"
    recorder = Recorder(path, engine, {"drill": drill.name})
    result = run_drill(drill, engine, recorder)
    recorder.close()
    return path, result, engine


def test_same_drill_same_seed_same_recording_bytes(demo_copy, tmp_path):
    drill = load_drill(demo_copy / "drills" / "gas-leak.toml")
    a, _, _ = record_drill(drill, tmp_path, "a")
    time.sleep(1.1)  # let the wall clock move on
    b, _, _ = record_drill(drill, tmp_path, "b")
    ia, ib = info(a), info(b)
    assert ia.complete and ia.counts["/frame/delta"] == 360 and ia.counts["/frame/keyframe"] >= 360 / 60  # one a minute at least (Recorder.keyframe_within)
    assert ia.created != ib.created
    # byte for byte, apart from the wall-clock metadata and the data-section CRC that covers it
    raw_a = a.read_bytes().replace(ia.created.encode(), ib.created.encode())
    raw_b = b.read_bytes()
    data_end = raw_b.rindex(b"\x0f" + (4).to_bytes(8, "little"))  # DataEnd: opcode, length 4, crc32
    assert len(raw_a) == len(raw_b)
    assert raw_a[:data_end + 9] == raw_b[:data_end + 9] and raw_a[data_end + 13:] == raw_b[data_end + 13:]


def test_seek_equals_playing_from_the_start(demo_copy, tmp_path):
    drill = load_drill(demo_copy / "drills" / "gas-leak.toml")
    path, _, _ = record_drill(drill, tmp_path, "s")
    start = clock_start(path)
    played = Mirror()
    for topic, t, data in read_stream(path, ("/frame/keyframe", "/frame/delta")):
        if topic == "/frame/keyframe" and played.seq < 0:
            played.apply(data)
        elif topic == "/frame/delta":
            played.apply(data)
            if t >= start + 123.0:
                break
    keyframe, deltas = seek(path, start + 123.0)
    sought = Mirror()
    sought.apply(keyframe)
    for d in deltas:
        sought.apply(d)
    assert sought.seq == played.seq == 123 and len(deltas) <= 60  # from the last keyframe only, at most a minute before
    for domain, fields in played.tables.items():
        for name, values in fields.items():
            np.testing.assert_array_equal(sought.tables[domain][name], values, err_msg=f"{domain}.{name}")


def test_rerun_same_config_matches_and_lower_threshold_alarms_earlier(demo_copy, tmp_path):
    drill = load_drill(demo_copy / "drills" / "gas-leak.toml")
    path, result, _ = record_drill(drill, tmp_path, "r")
    recorded, replayed = rerun(path, None)
    assert [d for d in compare(recorded, replayed) if d.change != "same"] == []
    assert len(replayed) == len([e for e in recorded])
    lower = {"thresholds": {"gas.lel_risk": {"breakpoints": [0.0, 5.0, 15.0, 50.0, 75.0, 100.0]}}}
    _, changed = rerun(path, lower)
    diffs = {(d.asset, d.level): d for d in compare(recorded, changed)}
    yellow = diffs[("G-MH-0055", 2)]
    assert yellow.after < yellow.before and yellow.change.endswith("earlier")


def test_recording_survives_a_kill(demo_copy, tmp_path):
    script = tmp_path / "run.py"
    script.write_text(
        "import sys\nfrom pathlib import Path\n"
        "from twin.runs.drill import load_drill\nfrom twin.runs.recording import Recorder\nfrom twin.runtime import open_twin\n"
        "from twin.runs.reruns import run_drill\n"
        f"drill = load_drill({str(demo_copy / 'drills' / 'gas-leak.toml')!r})\n"
        f"engine = open_twin(drill.scene, Path({str(tmp_path / 'data')!r}), seed=drill.seed, dt=drill.dt, persist=False, start=drill.start)\n"
        f"rec = Recorder(Path({str(tmp_path / 'k.mcap')!r}), engine)\n"
        "run_drill(drill, engine, rec, speed=40.0, progress=lambda t: print(t, flush=True))\n"
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    last = 0.0
    while last < 120.0:
        last = float(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    start = clock_start(tmp_path / "k.mcap")
    times = [t - start for topic, t, _ in read_stream(tmp_path / "k.mcap", ("/frame/delta",))]
    assert not info(tmp_path / "k.mcap").complete
    assert times == [float(i) for i in range(1, len(times) + 1)]  # whole, in order, no gap
    assert times[-1] >= last - 1.0 - 1.0  # at most the last second (plus the tick in flight) is lost


@pytest.mark.slow
def test_branch_restores_the_state_at_the_branch_point_and_runs_on_differently(demo_copy, tmp_path):
    from twin.runs.reruns import branch_engine

    drill = load_drill(demo_copy / "drills" / "gas-leak.toml")
    path, result, original = record_drill(drill, tmp_path, "parent")
    start = clock_start(path)
    engine = branch_engine(path, 100.0, tmp_path / "b")
    keyframe, deltas = seek(path, start + 100.0)
    recorded = Mirror()
    for frame in [keyframe, *deltas]:
        recorded.apply(frame)
    assert engine.time == start + 100.0 and engine.seq == recorded.seq == 100
    reader = RecordingReader(path)
    steps = {(f.domain, f.field): f.step for f in reader.codec().fields}
    reader.close()
    for domain, fields in recorded.tables.items():
        for name, values in fields.items():
            # a recording holds the values sent (news only), to its step (twin.runs.packed); the re-run twin sent the
            # same, bit for bit once stored to that step
            sent, step = engine.world.tables[domain].sent(name), steps[(domain, name)]
            sent = (np.rint(sent.astype(np.float64) / step) * step).astype(sent.dtype) if step else sent
            np.testing.assert_array_equal(sent, values, err_msg=f"{domain}.{name}")
    # "what if the valve had been closed at 01:40 instead of 03:00?"
    out = tmp_path / "branch.mcap"
    extra = demo_copy / "early-valve.toml"
    extra.write_text(
        '[drill]\nname = "close early"\nscene = "."\nseed = 11\nduration = "00:06:00"\n\n'
        '[[events]]\nat = "00:01:40"\naction = "gas.close_valve"\ntarget = "G-V-0028"\n\n'
        '[[expect]]\nnever = true\ndomain = "gas"\nlevel = "red"\n'
    )
    result2 = subprocess.run([sys.executable, "-m", "twin.cli", "branch", str(path), "--at", "00:01:40", "--drill", str(extra),
                              "--out", str(out), "--data", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert "branched" in result2.stdout, result2.stderr
    meta = info(out).metadata
    assert meta["parent"] == str(path.resolve()) and float(meta["branch_time"]) == 100.0
    row = original.world.tables["gas"].index["G-MH-0055"]

    def lel_after_branch(recording):
        m, series = Mirror(), []
        for topic, t, data in read_stream(recording, ("/frame/keyframe", "/frame/delta")):
            if topic == "/frame/delta" or m.seq < 0:
                m.apply(data)
                if t > start + 100.0:
                    series.append(float(m.tables["gas"]["lel"][row]))
        return np.array(series)

    parent_lel, branch_lel = lel_after_branch(path), lel_after_branch(out)
    assert len(branch_lel) == len(parent_lel) == 260
    # closing the valve 80 s earlier keeps the manhole's methane lower from then on
    assert branch_lel.max() < parent_lel.max() and branch_lel[-1] < parent_lel[-1]
