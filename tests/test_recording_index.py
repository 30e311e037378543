"""RecordingReader keeps the index of the files it read last (issue 14, seek): a reader of
the same file takes it again, and a file that changed (rewritten, still growing) is read
anew. Real MCAP files of the demo district."""

import shutil
from pathlib import Path

import numpy as np

from twin.runs.recording import RecordingReader, Recorder, read_stream, seek
from twin.runtime import open_twin

ROOT = Path(__file__).resolve().parents[1]


def record(root: Path, path: Path, seed: int, ticks: int) -> list[tuple[str, float, bytes]]:
    engine = open_twin(root, root / "data", seed=seed, persist=False)
    recorder = Recorder(path, engine)
    try:
        for _ in range(ticks):
            recorder.record(engine.tick())
    finally:
        recorder.close()
        engine.close()
    assert not recorder.failed, recorder.error
    return list(read_stream(path))


def test_a_file_rewritten_or_grown_is_read_anew_and_the_same_file_read_again_the_same(tmp_path):
    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", tmp_path / "scene.toml")
    path = tmp_path / "run.mcap"
    first = record(tmp_path, path, seed=1, ticks=8)
    again = list(read_stream(path))  # its index from the first reading
    assert again == first
    keyframe, deltas = seek(path, first[-1][1])
    key_time = max(t for topic, t, data in first if topic == "/frame/keyframe" and data == keyframe)
    assert deltas == [d for topic, t, d in first if topic == "/frame/delta" and t > key_time]

    second = record(tmp_path, path, seed=2, ticks=12)  # the same path, another run
    assert second != first and list(read_stream(path)) == second
    reader = RecordingReader(path)
    try:
        assert reader.complete and reader.metadata["twin.run"]["seed"] == "2"
        assert reader.end == second[-1][1]
        reader.metadata["twin.run"]["seed"] = "changed by a caller"  # a caller's change stays its own
    finally:
        reader.close()
    reader = RecordingReader(path)
    try:
        assert reader.metadata["twin.run"]["seed"] == "2"
    finally:
        reader.close()

    # a file cut short, then whole again at the same path: each read as it is
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    cut = RecordingReader(path)
    try:
        assert not cut.complete and cut.end < second[-1][1]
        kept = list(cut.messages())
    finally:
        cut.close()
    assert 0 < len(kept) < len(second)
    path.write_bytes(whole)
    assert list(read_stream(path)) == second
    np.testing.assert_array_equal(np.array([t for _, t, _ in read_stream(path)]), np.array([t for _, t, _ in second]))
