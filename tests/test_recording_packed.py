"""Recordings store readings and frames packed (issue 14, twin.runs.packed): readings as
whole numbers of their sensor's precision, given back bit for bit; frames to 1/64 of each
field's resolution; recordings written before (plain, lifeline-twin.v1) still read.

Real MCAP files of the demo district and a drill re-run from its recording.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from mcap.writer import CompressionType, Writer

from twin.runs import packed
from twin.runs.drill import load_drill
from twin.runs.recording import (NS, RecordingReader, Recorder, decode_batch, delta_bytes, encode_batch, keyframe_bytes,
                                 read_stream, seek)
from twin.runs.reruns import compare, rerun, run_drill
from twin.runtime import open_drill, open_twin
from twin.serving import protocol as p
from twin.serving.client import Mirror
from twin.tick.engine import Frame
from twin.tick.simulator import reading_grid

ROOT = Path(__file__).resolve().parents[1]
#: the demo's gas leak beside G-MH-0055 (a yellow then red alarm), its detector stuck at 01:30
DRILL = ('[drill]\nname = "packed"\nscene = ".."\nseed = 3\nduration = "00:02:30"\n'
         '\n[[events]]\nat = 10\naction = "gas.leak"\ntarget = "G-M-0028"\nparams = { diameter = 0.012 }\n'
         '\n[[events]]\nat = 90\naction = "sensor.stuck"\ntarget = "GS-CH4-0090"\n')


@pytest.fixture(scope="module")
def drilled(tmp_path_factory):
    """A drill recorded, with every batch of readings the engine took (copies)."""
    root = tmp_path_factory.mktemp("packed")
    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", root / "scene.toml")
    (root / "drills").mkdir()
    (root / "drills" / "packed.toml").write_text(DRILL)
    drill = load_drill(root / "drills" / "packed.toml")
    engine = open_drill(drill, None)
    path = root / "packed.mcap"
    taken: list[tuple[np.ndarray, ...]] = []

    class Keeping(Recorder):  # a real recorder that also keeps what the engine took
        def record(self, frame):
            taken.extend(tuple(a.copy() for a in batch) for batch in self.engine.last_inputs)
            super().record(frame)

    recorder = Keeping(path, engine, {"drill": drill.name})
    result = run_drill(drill, engine, recorder)
    recorder.close()
    assert not recorder.failed, recorder.error
    precision = engine.simulator.precision.copy()
    engine.close()
    return path, result, taken, precision


def test_the_simulator_reports_on_its_sensors_grid_and_the_recording_gives_the_readings_back_bit_for_bit(drilled):
    path, _, taken, precision = drilled
    num, den = reading_grid(precision)
    assert (precision > 0).all(), "every sensor of the demo has a precision"
    for index, _, values, _ in taken:  # what a device of that precision could have said
        q = np.rint(values * den[index] / num[index])
        np.testing.assert_array_equal(q * num[index] / den[index], values)
    read = [decode_batch(data) for _, _, data in read_stream(path, ("/input/readings",))]
    assert len(read) == len(taken) > 100
    for got, want in zip(read, taken):
        for a, b in zip(got, want):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
    reader = RecordingReader(path)
    try:
        stored = sum(len(d) for _, _, d in reader.messages(("/input/readings",), stored=True))
        plain = sum(len(d) for _, _, d in reader.messages(("/input/readings",)))
        assert reader.metadata[packed.METADATA]["version"] == packed.VERSION
    finally:
        reader.close()
    assert stored < plain * 0.4, f"{stored} bytes stored for {plain} plain: the readings are not packed"


def test_a_rerun_from_the_packed_recording_raises_the_alarms_of_the_run(drilled):
    path, result, _, _ = drilled
    recorded, replayed = rerun(path, None)
    assert any(e["kind"] == "raise" and e["alarm"]["asset"] == "G-MH-0055" for e in recorded)
    assert [d for d in compare(recorded, replayed) if d.change != "same"] == []
    assert [(e["kind"], e["alarm"]["asset"], e["alarm"]["level"], e["time"]) for e in replayed] == \
        [(e["kind"], e["alarm"]["asset"], e["alarm"]["level"], e["time"]) for e in recorded]


def test_a_batch_off_its_grid_or_from_the_field_comes_back_as_it_was():
    codec = packed.Codec(np.array([0.01, 100.0, 0.3, 0.0]), [])
    rng = np.random.default_rng(7)
    on_grid = np.array([0.37, 101300.0, 0.3 * 7, 5.123456789])
    cases = [
        (np.arange(4, dtype=np.int64), np.full(4, 1e9 + 0.25), on_grid, np.zeros(4, np.int64)),
        # off the grid, NaN, -0.0, inf; an unknown sensor (-1) and one past the table; times off the tick's, a bad quality
        (np.array([0, 1, 2, 3, -1, 9], np.int64), np.array([1e9 + 0.25, 1e9, 1e9 + 0.001, 12.5, 1e9 + 0.25, 1e9 + 0.25]),
         np.array([0.371, np.nan, -0.0, np.inf, 4.0, 2.0]), np.array([0, 3, 0, 0, 0, 192], np.int64)),
        (np.array([3, 1], np.int64), np.full(2, 1e9 + 0.25), np.array([rng.normal(), -0.01]), np.zeros(2, np.int64)),
        tuple(a[:0] for a in (np.arange(4, dtype=np.int64), np.full(4, 1.0), on_grid, np.zeros(4, np.int64))),
    ]
    for batch in cases:
        time, back = codec.unpack_batch(codec.pack_batch(1e9 + 0.25, batch))
        assert time == 1e9 + 0.25
        assert decode_batch(encode_batch(time, back))[2].tobytes() == batch[2].astype(np.float64).tobytes()
        for got, want in zip(back, batch):
            assert got.dtype == want.dtype
            assert got.tobytes() == want.tobytes()  # bit for bit: -0.0 and NaN too
    # a simulated city's batch on its grid: whole numbers in two bytes, nothing else
    n = 1000
    precision = np.full(n, 0.01)
    values = np.rint(rng.normal(20.0, 1.0, n) * 100) / 100
    data = packed.Codec(precision, []).pack_batch(5.0, (np.arange(n, dtype=np.int64), np.full(n, 5.0), values, np.zeros(n, np.int64)))
    assert len(data) < 2 * n + 120, f"{len(data)} bytes for {n} readings of 0.01 within +-327"


def fields_of(delta: bytes) -> tuple[p.Delta, dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]]:
    message, base = p.decode_server(delta)
    return message, {(d, f): (p.view(delta, base, c.rows), p.view(delta, base, c.values))
                     for d, fields in message.domains.items() for f, c in fields.items()}


def test_frames_keep_integers_and_floats_without_resolution_exactly_and_the_rest_to_a_64th_of_it():
    steps = {("d", "level"): 0.1 / packed.SUBSTEPS, ("d", "risk"): 0.01 / packed.SUBSTEPS}
    fields = [packed.FieldsTable("d", "level", "<f8", steps[("d", "level")]), packed.FieldsTable("d", "on", "|u1", 0.0),
              packed.FieldsTable("d", "raw", "<f4", 0.0), packed.FieldsTable("d", "risk", "<f4", steps[("d", "risk")])]
    codec = packed.Codec(np.zeros(0), fields)
    changes = {"d": {"level": (np.array([2, 5, 70000], np.uint32), np.array([1.2345678, -3.0, 1e6 + 0.04])),
                     "on": (np.array([1], np.uint32), np.array([1], np.uint8)),
                     "raw": (np.array([0, 3], np.uint32), np.array([0.1, 1e30], np.float32)),
                     "risk": (np.array([4], np.uint32), np.array([0.55], np.float32)),
                     "unlisted": (np.array([0], np.uint32), np.array([7.5]))},
               "e": {"nan": (np.array([1], np.uint32), np.array([np.nan]))}}
    frame = Frame(7, 12.0, changes, [], [("d", "risk")], [])
    got, held = fields_of(codec.unpack_delta(codec.pack_delta(frame)))
    want, sent = fields_of(delta_bytes(frame))
    assert (got.base, got.seq, got.time, got.stale, got.incidents) == (want.base, want.seq, want.time, want.stale, want.incidents)
    assert held.keys() == sent.keys()
    for key, (rows, values) in sent.items():
        np.testing.assert_array_equal(held[key][0], rows, err_msg=str(key))
        back = held[key][1]
        assert back.dtype == values.dtype, key
        if key in steps:
            off = np.abs(back.astype(np.float64) - values.astype(np.float64))
            assert np.all(off <= steps[key] / 2 + np.spacing(np.abs(values)).astype(np.float64)), key
        else:
            np.testing.assert_array_equal(back, values, err_msg=str(key))
    assert not np.array_equal(held[("d", "level")][1], sent[("d", "level")][1]), "stored to its step, not as it was"
    # a stepped field holding a NaN goes as it was
    frame = Frame(8, 13.0, {"d": {"level": (np.array([0, 1], np.uint32), np.array([np.nan, 2.0]))}})
    _, held = fields_of(codec.unpack_delta(codec.pack_delta(frame)))
    assert np.isnan(held[("d", "level")][1][0]) and held[("d", "level")][1][1] == 2.0


def test_a_recording_written_before_packing_still_reads_as_it_was(tmp_path):
    """A file as the recorder wrote it before (every channel plain, lifeline-twin.v1, no
    twin.codec metadata): its readings, frames and seeks come back byte for byte."""
    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", tmp_path / "scene.toml")
    engine = open_twin(tmp_path, tmp_path / "data", seed=2, persist=False)
    path = tmp_path / "old.mcap"
    written: dict[str, list[bytes]] = {"/frame/keyframe": [], "/frame/delta": [], "/input/readings": []}
    with path.open("wb") as stream:
        writer = Writer(stream, compression=CompressionType.LZ4)
        writer.start(profile="lifeline-twin", library="lifeline-twin 1")
        channels = {t: writer.register_channel(t, "lifeline-twin.v1", schema_id=0) for t in written}
        writer.add_metadata("twin.run", {"scene": "demo", "scene_path": str(tmp_path), "seed": "2", "dt": "1.0",
                                         "keyframe_every": "5.0"})

        def put(topic, time, data):
            written[topic].append(data)
            writer.add_message(channels[topic], log_time=int(round(time * NS)), data=data, publish_time=int(round(time * NS)))

        put("/frame/keyframe", engine.time, keyframe_bytes(engine))
        for n in range(12):
            frame = engine.tick()
            for batch in engine.last_inputs:
                put("/input/readings", frame.time, encode_batch(frame.time, batch))
            put("/frame/delta", frame.time, delta_bytes(frame))
            if n == 5:
                put("/frame/keyframe", frame.time, keyframe_bytes(engine))
            writer.flush()
        writer.finish()
    moment = engine.time - 3.0
    engine.close()
    for topic, data in written.items():
        assert [d for _, _, d in read_stream(path, (topic,))] == data, topic
    keyframe, deltas = seek(path, moment)
    assert keyframe == written["/frame/keyframe"][1] and deltas == written["/frame/delta"][6:9]


def test_a_recording_packed_and_cut_short_reads_to_its_last_whole_chunk(drilled, tmp_path):
    path, _, taken, _ = drilled
    cut = tmp_path / "cut.mcap"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    reader = RecordingReader(cut)
    try:
        assert not reader.complete
        batches = [decode_batch(d) for _, _, d in reader.messages(("/input/readings",))]
        frames = [d for _, _, d in reader.messages(("/frame/keyframe", "/frame/delta"))]
    finally:
        reader.close()
    assert 10 < len(batches) < len(taken)
    for got, want in zip(batches, taken):
        np.testing.assert_array_equal(got[2], want[2])
    m = Mirror()
    for frame in frames:
        m.apply(frame)
    assert m.seq > 10
    assert json.loads(json.dumps(info_metadata(cut)))  # the packing is described in the cut file too


def info_metadata(path: Path) -> dict:
    reader = RecordingReader(path)
    try:
        return reader.metadata[packed.METADATA]
    finally:
        reader.close()
