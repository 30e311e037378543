"""The truth beside the measurement (issue 17): a run with the simulator records the
ground truth of the fields its sensors measure and the alarm rules' risk on it, news
only, every 5 s and whenever an alarm's level fell; read_truth gives it back per asset
and field, for the report's "measured and true" charts and the scorer."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from twin.runs.drill import load_drill
from twin.runs.recording import Recorder, decode_batch, info, read_stream, read_truth
from twin.runs.reruns import run_drill
from twin.runs.truth import FieldTruth, Truth, TruthSampler
from twin.runtime import open_drill, open_twin
from twin.tick.scene import Incident

ROOT = Path(__file__).resolve().parents[1]
#: the demo's gas leak beside G-MH-0055; its methane detector drifts down from 01:00
DRILL = ('[drill]\nname = "truth"\nscene = ".."\nseed = 11\nduration = "00:02:30"\n'
         '\n[[events]]\nat = 10\naction = "gas.leak"\ntarget = "G-M-0028"\nparams = { diameter = 0.012 }\n'
         '\n[[events]]\nat = 60\naction = "sensor.drift"\ntarget = "GS-CH4-0089"\nparams = { rate = -600 }\n')


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    root = tmp_path_factory.mktemp("truth")
    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", root / "scene.toml")
    (root / "drills").mkdir()
    (root / "drills" / "truth.toml").write_text(DRILL)
    drill = load_drill(root / "drills" / "truth.toml")
    engine = open_drill(drill, None)
    path = root / "truth.mcap"
    recorder = Recorder(path, engine, {"drill": drill.name})
    result = run_drill(drill, engine, recorder)
    recorder.close()
    sensors = [s.id for s in engine.scene.sensors]
    engine.close()
    return path, result, sensors, engine.start


def test_a_drill_recording_keeps_the_truth_beside_the_measurement(recorded):
    path, result, sensors, start = recorded
    truth = read_truth(path)
    assert truth is not None and truth.every == 5.0 and truth.start == start and truth.end == start + 150.0
    true_ch4 = truth.series[("G-MH-0055", "ch4")]
    assert (true_ch4.kind, true_ch4.unit, true_ch4.domain) == ("measured", "%vol", "gas")
    # what the detector said, from the recorded readings
    index = sensors.index("GS-CH4-0089")
    measured = {t: float(values[list(idx).index(index)]) for topic, t, data in read_stream(path, ("/input/readings",))
                for idx, _, values, _ in [decode_batch(data)] if index in idx}
    end = max(measured)
    assert measured[end] < 0.5 < 5.0 < true_ch4.at(end)  # the drifted reading near zero, the manhole full of gas
    before = max(t for t in measured if t <= start + 55.0)
    assert abs(measured[before] - true_ch4.at(before)) < 0.5  # before the drift they agree within the noise
    # the true risk the plugins' kernel gives: red, while the twin's alarm cleared on the drifted reading
    assert truth.series[("G-MH-0055", "risk")].kind == "risk" and truth.level_at("G-MH-0055", "gas.lel", end) == 4
    assert [e["kind"] for e in result.events if e["alarm"]["asset"] == "G-MH-0055"][-1] == "clear"


def test_the_truth_is_news_beyond_each_fields_resolution_at_a_decimated_rate(recorded):
    path, result, _, start = recorded
    truth = read_truth(path)
    falls = {e["time"] for e in result.events if e["kind"] in ("clear", "deescalate")}
    for (asset, name), series in truth.series.items():
        spec = truth.fields[(series.domain, name)]
        # every value kept moved by the field's resolution, or crossed a level's threshold (a risk)
        steps = np.abs(np.diff(series.values))
        crossed = np.diff(np.searchsorted([0.25, 0.5, 0.75, 0.9], series.values, side="right")) != 0
        assert np.all((steps >= spec.resolution - 1e-12) | crossed), (asset, name)
        # at the 5 s samples, or at a tick where an alarm's level fell
        off_grid = {float(t) for t in series.times if (t - start) % 5.0 > 1e-6}
        assert off_grid <= falls, (asset, name, sorted(off_grid - falls))
    # a detector far from the leak: its manhole's methane, kept once
    assert len(truth.series[("G-MH-0001", "ch4")].times) == 1
    counts = info(path).counts
    assert 0 < counts["/truth"] <= 150 / 5 + 1 + len(falls)
    sizes = {topic: 0 for topic in ("/truth", "/input/readings")}
    for topic, _, data in read_stream(path, tuple(sizes)):
        sizes[topic] += len(data)
    assert sizes["/truth"] < sizes["/input/readings"] / 20


def test_sampling_the_truth_leaves_the_world_as_it_was(tmp_path):
    """The kernels run on the truth into arrays of their own: a run that samples it every
    tick ends in the same world, bit for bit, as one that never does."""
    drill_file = tmp_path / "drills" / "truth.toml"
    drill_file.parent.mkdir()
    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", tmp_path / "scene.toml")
    drill_file.write_text(DRILL.replace('"00:02:30"', "60"))
    drill = load_drill(drill_file)
    sampled, plain = open_drill(drill, None), open_drill(drill, None)
    try:
        sampler = TruthSampler(sampled, every=1.0)
        sampler.start()
        for engine in (sampled, plain):
            engine.simulator.incidents = []
            for e in drill.events:
                engine.simulator.schedule(Incident(e.at, e.action, e.target, dict(e.params)))
        for _ in range(60):
            sampler.after_tick(sampled.tick())
            plain.tick()
        assert sampled.simulator.world.digest() == plain.simulator.world.digest()
        assert sampled.digest() == plain.digest()
        assert sampler.truth.end == sampled.time and len(sampler.truth.series) > 0
    finally:
        sampled.close()
        plain.close()


def test_a_twin_fed_by_real_sensors_keeps_no_truth(tmp_path):
    engine = open_twin(ROOT / "scenes" / "demo", None, persist=False, simulate=False)
    path = tmp_path / "live.mcap"
    recorder = Recorder(path, engine)
    for _ in range(3):
        recorder.record(engine.tick())
    recorder.close()
    engine.close()
    assert read_truth(path) is None and "/truth" not in info(path).counts


def test_a_branch_truth_continues_its_parents():
    """Truth.until and Truth.then: a branch's truth follows its parent's up to the branch
    point; a risk the branch's first sample left out (back at its default) is at it."""
    fields = [FieldTruth("gas", "ch4", "%vol", 0.1, 0.0, "measured"), FieldTruth("gas", "risk", "1", 0.05, 0.0, "risk")]
    rules = {"gas.lel": ("gas", "risk")}
    parent, branch = Truth(5.0, fields, rules), Truth(5.0, fields, rules)
    a = np.array([3])
    parent.add(0.0, {"gas": {"ch4": (a, np.array([0.0]))}}, {"gas": [(3, "G-MH-0055")]})
    parent.add(5.0, {"gas": {"ch4": (a, np.array([9.0])), "risk": (a, np.array([0.95]))}}, {})
    parent.add(10.0, {"gas": {"ch4": (a, np.array([12.0]))}}, {})
    branch.add(6.0, {"gas": {"ch4": (a, np.array([1.0]))}}, {"gas": [(3, "G-MH-0055")]})
    whole = parent.until(6.0).then(branch)
    assert whole.series[("G-MH-0055", "ch4")].values.tolist() == [0.0, 9.0, 1.0]
    assert whole.level_at("G-MH-0055", "gas.lel", 5.5) == 4 and whole.level_at("G-MH-0055", "gas.lel", 6.0) == 0
    assert whole.value_at("G-MH-0055", "ch4", 20.0) == 1.0 and whole.level_at("G-MH-0055", "gas.lel", -1.0) is None
