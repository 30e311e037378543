"""Resolution (issue 14) in recordings: news-only deltas, keyframes of the values sent and
spaced by what the deltas weigh, raw readings without what every reading shares; frames
stored to 1/64 of each field's resolution (twin.runs.packed).

Real MCAP files of the demo district, read back through the recording's own readers.
"""

import shutil
from pathlib import Path

import numpy as np
import pytest

from twin.runs import packed
from twin.runs.recording import RecordingReader, Recorder, decode_batch, encode_batch, read_stream, seek
from twin.runtime import open_twin
from twin.serving import protocol as p
from twin.serving.client import Mirror

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_recording(tmp_path_factory):
    """200 s of the demo district recorded, with the engine's values sent at three moments
    (times as offsets from the clock's start), and that start."""
    root = tmp_path_factory.mktemp("demo")
    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", root / "scene.toml")
    engine = open_twin(root, root / "data", seed=5, persist=False)
    path = root / "demo.mcap"
    recorder = Recorder(path, engine, keyframe_every=5.0, keyframe_within=60.0)
    sent = {}
    try:
        for _ in range(200):
            frame = engine.tick()
            recorder.record(frame)
            if frame.seq in (37, 111, 200):
                sent[frame.time - engine.start] = {d: {f: t.sent(f).copy() for f in t.live_fields()}
                                                   for d, t in engine.world.tables.items()}
    finally:
        recorder.close()
        engine.close()
    assert not recorder.failed, recorder.error
    return path, sent, engine.start


def state(frames: list[bytes]) -> Mirror:
    m = Mirror()
    for frame in frames:
        m.apply(frame)
    return m


def assert_same(a: Mirror, b: Mirror) -> None:
    assert a.seq == b.seq
    for d, fields in b.tables.items():
        for f, values in fields.items():
            np.testing.assert_array_equal(a.tables[d][f], values, err_msg=f"{d}.{f} at seq {b.seq}")


def test_keyframes_hold_the_values_sent_and_seek_gives_what_playing_gives(demo_recording):
    path, sent, start = demo_recording
    played: dict[float, Mirror] = {}
    m = Mirror()
    for topic, t, data in read_stream(path, ("/frame/keyframe", "/frame/delta")):
        if topic == "/frame/delta" or m.seq < 0:
            m.apply(data)
            played[t - start] = Mirror(tables={d: {f: v.copy() for f, v in fs.items()} for d, fs in m.tables.items()}, seq=m.seq)
    reader = RecordingReader(path)
    specs = {(f.domain, f.field): f for f in reader.codec().fields}
    reader.close()
    for t, values in sent.items():
        # the recording's state is the engine's values sent: integer fields and floats
        # without a resolution bit for bit, the others within half a 1/64 of it
        for d, fields in values.items():
            for f, column in fields.items():
                got, want = played[t].tables[d][f], column.view(np.uint8) if column.dtype == np.bool_ else column
                step = specs[(d, f)].step
                assert got.dtype == want.dtype, (d, f)
                if step == 0:
                    np.testing.assert_array_equal(got, want, err_msg=f"{d}.{f} at {t}")
                else:
                    ulp = np.spacing(np.abs(want)).astype(np.float64)  # a float32 column's own rounding
                    off = np.abs(got.astype(np.float64) - want.astype(np.float64))
                    assert step * packed.SUBSTEPS > 0 and np.all(off <= step / 2 + ulp), (d, f, t, off.max(), step)
    for t in (1.0, 4.0, 5.0, 6.0, 59.0, 61.0, 100.5, 137.0, 199.0, 200.0):
        keyframe, deltas = seek(path, start + t)
        assert_same(state([keyframe, *deltas]), played[np.floor(t)])


def payload(frame: bytes) -> int:
    """Bytes of the arrays a plain frame carries: a delta's rows and values, a snapshot's columns."""
    message, _ = p.decode_server(frame)
    refs = [r for fields in message.domains.values() for f in fields.values()
            for r in ((f.rows, f.values) if isinstance(f, p.FieldDelta) else (f,))]
    return sum(r.count * np.dtype(r.dtype).itemsize for r in refs)


def test_a_quiet_twin_is_keyframed_by_what_its_deltas_weigh_within_a_minute(demo_recording):
    path, _, start = demo_recording
    times = [t - start for _, t, _ in read_stream(path, ("/frame/keyframe",))]
    gaps = np.diff(times)
    assert times[0] == 0.0 and len(times) >= 200 / 60
    assert gaps.min() >= 5.0 and gaps.max() <= 60.0
    assert len(times) < 200 / 5 / 2, f"keyframes at {times}: as many as every 5 s, though the deltas are small"
    # what the recorder weighs: a delta's rows and values, a keyframe's columns
    sizes = {t - start: payload(data) for _, t, data in read_stream(path, ("/frame/keyframe",))}
    deltas = [(t - start, payload(data)) for _, t, data in read_stream(path, ("/frame/delta",))]
    for before, after in zip(times, times[1:]):
        # a keyframe comes when the deltas since the last add up to its size, or a minute passed
        weight = sum(n for t, n in deltas if before < t <= after)
        assert weight >= sizes[before] or after - before >= 60.0 - 1e-9, (before, after, weight, sizes[before])


def test_a_file_cut_short_is_sought_through_its_scan_as_a_whole_one(demo_recording, tmp_path):
    path, _, start = demo_recording
    reader = RecordingReader(path)
    try:
        assert reader.complete
        whole = {start + t: reader.seek(start + t) for t in (30.0, 90.0, 150.0)}
    finally:
        reader.close()
    cut = tmp_path / "cut.mcap"
    data = path.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.9)])  # no summary, no footer: the reader scans it
    reader = RecordingReader(cut)
    try:
        assert not reader.complete
        for t, (keyframe, deltas) in whole.items():
            assert reader.seek(t) == (keyframe, deltas)
    finally:
        reader.close()


def test_a_simulated_batch_is_its_values_and_every_batch_comes_back_as_it_was():
    n = 1000
    simulated = (np.arange(n, dtype=np.int64), np.full(n, 42.0), np.random.default_rng(1).normal(size=n), np.zeros(n, np.int64))
    fielded = (np.array([5, -1, 3], np.int64), np.array([41.5, 42.0, 40.25]), np.array([0.5, np.nan, 2.0]), np.array([0, 0, 7], np.int64))
    for batch in (simulated, fielded, tuple(a[:0] for a in simulated)):
        back = decode_batch(encode_batch(42.0, batch))
        for got, want in zip(back, batch):
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
    compact = len(encode_batch(42.0, simulated))
    assert compact < n * 8 + 200, f"{compact} bytes for {n} values: the index, times or qualities went in"


def test_batches_of_recordings_written_before_still_read():
    # Before, every batch carried its four arrays: what such a message decodes to.
    from twin.runs.recording import ReadingBatchMessage

    index, times, values, quality = np.arange(3, dtype=np.int64), np.full(3, 7.0), np.array([1.0, 2.0, 3.0]), np.zeros(3, np.int64)
    body = p.Body()
    refs = [body.add(a) for a in (index, times, values, quality)]
    old = p.encode(ReadingBatchMessage(7.0, value=refs[2], sensor=refs[0], at=refs[1], quality=refs[3]), body)
    for got, want in zip(decode_batch(old), (index, times, values, quality)):
        np.testing.assert_array_equal(got, want)
