"""A crash loses at most a second, everywhere: a recording cut by SIGKILL, or stopped by a
disk that would not take more, is read up to the cut by every reader (record info,
replay, rerun, branch, report); a recorder whose writes fail never stops the run.

Real processes and real files: the cut recordings come from a killed ``twin drill run``,
from a process under ``RLIMIT_FSIZE``, and from a complete recording cut at chosen bytes.
Each is checked against a complete recording of the same drill, read with mcap's own
reader: the same drill and seed write the same bytes, so a cut file must hold exactly the
messages of the reference's chunks that lie whole within its length.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from mcap.reader import make_reader

from twin.serving.client import Mirror
from twin.runs.drill import clock, load_drill
from twin.runs.recording import NS, Recorder, RecordingError, RecordingReader, info, read_stream, seek, when
from twin.runs.reruns import branch_engine, compare, rerun, run_drill
from twin.runtime import open_twin

ROOT = Path(__file__).resolve().parents[1]
EVENT_TOPICS = ("/alarm/event", "/operator/action")
#: the demo scene's clock start (its drills run from there): recordings speak UTC epoch seconds
START = datetime(2026, 7, 15, 14, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()


@pytest.fixture(scope="module")
def demo_copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", root / "scene.toml")
    (root / "drills").mkdir()
    shutil.copy(ROOT / "scenes" / "demo" / "drills" / "gas-leak.toml", root / "drills" / "gas-leak.toml")
    return root


@dataclass
class Reference:
    """A complete recording of the gas-leak drill, as mcap's own reader sees it."""

    path: Path
    raw: bytes
    created: str
    messages: list[tuple[str, float, bytes]]  # every message, in log-time order
    chunks: list[tuple[int, int, float]]  # (offset, length of the chunk record, time of its last message)
    summary_start: int

    def holds_up_to(self, size: int) -> float | None:
        """The time of the last chunk lying whole within the first ``size`` bytes."""
        ends = [end for offset, length, end in self.chunks if offset + length <= size]
        return max(ends) if ends else None

    def expected(self, size: int, topics: tuple[str, ...] | None = None) -> list[tuple[str, float, bytes]]:
        """What every reader must find in the first ``size`` bytes: all messages up to the
        last whole chunk (chunks hold whole ticks, one time range each)."""
        until = self.holds_up_to(size)
        return [m for m in self.messages if until is not None and m[1] <= until and (topics is None or m[0] in topics)]


@pytest.fixture(scope="module")
def reference(demo_copy, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reference")
    drill = load_drill(demo_copy / "drills" / "gas-leak.toml")
    engine = open_twin(drill.scene, tmp / "data", seed=drill.seed, config=drill.config, dt=drill.dt, persist=False)
    path = tmp / "reference.mcap"
    # the metadata `twin drill run --record` writes, so that its files are byte prefixes of this one
    recorder = Recorder(path, engine, {"drill": drill.name, "drill_path": str(drill.path.resolve())})
    run_drill(drill, engine, recorder)
    recorder.close()
    engine.close()
    assert not recorder.failed
    with path.open("rb") as stream:
        reader = make_reader(stream)
        summary = reader.get_summary()
        assert summary is not None
        messages = [(channel.topic, message.log_time / NS, message.data) for _, channel, message in reader.iter_messages()]
        created = next(m.metadata["wall_clock"] for m in reader.iter_metadata() if m.name == "twin.created")
        chunks = sorted((c.chunk_start_offset, c.chunk_length, c.message_end_time / NS) for c in summary.chunk_indexes)
        footer_start = path.stat().st_size - 8 - 29  # magic, footer record (opcode, length, 20 bytes)
        stream.seek(footer_start + 9)
        summary_start = int.from_bytes(stream.read(8), "little")
    # mcap's own reader finds the bytes ours stores; callers get them plain (readings and
    # frames are packed on file: twin.runs.packed), which is what every cut is held to
    ours = RecordingReader(path)
    try:
        assert [(t, n / NS, d) for t, n, d in ours.messages(stored=True)] == messages
        messages = [(t, n / NS, d) for t, n, d in ours.messages()]
    finally:
        ours.close()
    # one chunk per tick, in order (what `expected` relies on: chunks hold whole ticks)
    ends = [end for _, _, end in chunks]
    assert ends == sorted(ends) and len(set(ends)) == len(ends) == 360
    return Reference(path, path.read_bytes(), created, messages, chunks, summary_start)


@pytest.fixture(scope="module")
def registry():
    from twin.plugins.registry import load_registry

    return load_registry()


def twin_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "twin.cli", *args], capture_output=True, text=True, timeout=timeout)


def check_replay(path: Path, until: float, registry) -> None:
    """A replay opens the file, seeks near its end and ticks to exactly its last whole tick."""
    from twin.runs.replay import Replay

    replay = Replay(path, registry=registry)
    try:
        assert replay.end == until
        replay.seek(until - 2.5)
        times = []
        while (frame := replay.tick()) is not None:
            times.append(frame.time)
        assert times and times[-1] == until and replay.engine.seq == round(until - START)
    finally:
        replay.close()


def same_state(a: tuple[bytes, list[bytes]], b: tuple[bytes, list[bytes]]) -> None:
    mirrors = []
    for keyframe, deltas in (a, b):
        m = Mirror()
        for frame in (keyframe, *deltas):
            m.apply(frame)
        mirrors.append(m)
    assert mirrors[0].seq == mirrors[1].seq
    assert mirrors[0].tables.keys() == mirrors[1].tables.keys()
    for domain, fields in mirrors[0].tables.items():
        for name, values in fields.items():
            assert (mirrors[1].tables[domain][name] == values).all(), f"{domain}.{name}"


# ------------------------------------------------------------- cut at chosen bytes


def cut_offsets(ref: Reference) -> list[int]:
    """Cuts a crash can leave: at a record boundary, inside a record's opcode and length,
    inside a chunk's header, in its compressed data, one byte short, a whole chunk without
    its message index, inside a message index; before any chunk; in the summary."""
    offsets = [0, 5, 8, 30]
    for offset, length, _ in (ref.chunks[0], ref.chunks[1], ref.chunks[len(ref.chunks) // 2], ref.chunks[-1]):
        offsets += [offset, offset + 1, offset + 9, offset + 20, offset + length // 2, offset + length - 1,
                    offset + length, offset + length + 5]
    offsets += [ref.summary_start - 13, ref.summary_start + 10, len(ref.raw) - 1]
    return offsets


@pytest.mark.slow
def test_every_reader_takes_a_recording_cut_at_any_byte(reference, registry, tmp_path):
    ref = reference
    middle = ref.chunks[len(ref.chunks) // 2]
    heavy = {middle[0] + middle[1], len(ref.raw) - 1}  # rerun, branch and the command line: slower, at two cuts
    for size in cut_offsets(ref):
        path = tmp_path / f"cut-{size}.mcap"
        path.write_bytes(ref.raw[:size])
        with path.open("rb") as stream, pytest.raises(Exception):  # why the scan exists: mcap's reader refuses it
            list(make_reader(stream).iter_messages())
        until = ref.holds_up_to(size)
        where = f"cut at byte {size} of {len(ref.raw)}"
        i = info(path)
        assert not i.complete, where
        assert list(read_stream(path)) == ref.expected(size), where
        assert sum(i.counts.values()) == len(ref.expected(size)), where
        if until is None:  # nothing whole yet: readable, empty, and a replay says why it cannot start
            assert i.chunks == 0 and i.end == 0.0, where
            with pytest.raises(RecordingError, match="holds no keyframe|cut short before"):
                from twin.runs.replay import Replay

                Replay(path, registry=registry)
            continue
        assert i.end == until, where
        assert i.alarms == [json.loads(d) for _, _, d in ref.expected(size, ("/alarm/event",))], where
        same_state(seek(path, until), seek(ref.path, until))
        check_replay(path, until, registry)
        if size in heavy:
            recorded, replayed = rerun(path, None)
            assert recorded == [json.loads(d) for _, _, d in ref.expected(size, EVENT_TOPICS)], where
            assert [d for d in compare(recorded, replayed) if d.change != "same"] == [], where
            engine = branch_engine(path, (until - START) // 2, tmp_path / "data")
            assert engine.time == START + (until - START) // 2, where
            engine.close()
            with pytest.raises(RecordingError, match=f"cannot branch at {clock(until - START + 5)}: the recording ends at "
                                                     f"{clock(until - START)}"):
                branch_engine(path, until - START + 5, tmp_path / "data")
            shown = twin_cli("record", "info", str(path))
            assert shown.returncode == 0 and not shown.stderr, shown.stderr
            assert shown.stdout.splitlines()[0] == (f"{path}: cut short (no MCAP summary: its writer was killed or could "
                                                     f"not write on); it holds data up to {when(until)}")


def test_a_corrupt_tail_is_cut_off_where_it_starts(reference, registry, tmp_path):
    """Not only truncation: zeros where the last pages never reached the disk, or a chunk
    whose bytes changed, end the usable data at the record before them."""
    ref = reference
    offset, length, _ = ref.chunks[200]
    zeros = tmp_path / "zeros.mcap"
    zeros.write_bytes(ref.raw[:offset] + bytes(64 * 1024))
    flipped = tmp_path / "flipped.mcap"
    damaged = bytearray(ref.raw[: offset + length])
    damaged[offset + length // 2] ^= 0xFF
    flipped.write_bytes(bytes(damaged))
    for path in (zeros, flipped):
        assert list(read_stream(path)) == ref.expected(offset), path.name
        assert info(path).end == ref.holds_up_to(offset) == START + 200.0
        check_replay(path, START + 200.0, registry)


# ------------------------------------------------------------ killed at random moments


class Progress:
    """The simulated time a running `twin drill run` last showed on its progress bar."""

    def __init__(self, stream) -> None:
        self.shown = 0.0
        self.text = ""
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        while chunk := stream.read1(4096):
            self.text += chunk.decode(errors="replace")
            found = re.findall(r"\|\s*([\d.]+)/360", self.text[-4096:])
            if found:
                self.shown = float(found[-1])


@pytest.mark.slow
def test_a_drill_run_killed_at_random_moments_is_read_up_to_the_kill(demo_copy, reference, registry, tmp_path):
    ref = reference
    rng = random.Random(20261202)
    for n, target in enumerate(sorted(rng.uniform(5.0, 300.0) for _ in range(3))):
        path = tmp_path / f"killed-{target:.0f}.mcap"
        proc = subprocess.Popen([sys.executable, "-m", "twin.cli", "drill", "run", str(demo_copy / "drills" / "gas-leak.toml"),
                                 "--record", str(path), "--speed", "20", "--data", str(tmp_path / "data")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        progress = Progress(proc.stderr)
        deadline = time.monotonic() + 240
        while progress.shown < target:
            assert proc.poll() is None, f"the drill ended before {target:.0f} s: {progress.text[-2000:]}"
            assert time.monotonic() < deadline, f"no progress to {target:.0f} s: {progress.text[-2000:]}"
            time.sleep(0.01)
        shown = progress.shown
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()

        raw = path.read_bytes()
        # the killed run wrote the reference's bytes (the same drill and seed), up to the kill
        raw = raw.replace(info(path).created.encode(), ref.created.encode(), 1)
        assert raw == ref.raw[: len(raw)], f"killed at {shown} s: not a prefix of the reference"
        until = ref.holds_up_to(len(raw))
        assert until is not None and until - START >= shown - 2.0, f"killed at {shown} s, but the file holds data up to {until} s"
        where = f"killed at {shown} s ({len(raw)} bytes)"

        assert list(read_stream(path)) == ref.expected(len(raw)), where
        shown_info = twin_cli("record", "info", str(path))
        assert shown_info.returncode == 0, shown_info.stderr
        assert f"cut short (no MCAP summary: its writer was killed or could not write on); it holds data up to {when(until)}" \
            in shown_info.stdout.splitlines()[0]
        same_state(seek(path, until), seek(ref.path, until))
        check_replay(path, until, registry)

        recorded, replayed = rerun(path, None)
        assert recorded == [json.loads(d) for _, _, d in ref.expected(len(raw), EVENT_TOPICS)], where
        assert [d for d in compare(recorded, replayed) if d.change != "same"] == [], where

        at = int((until - START) // 2)
        branched = twin_cli("branch", str(path), "--at", str(at), "--duration", "5", "--out", str(tmp_path / "branch.mcap"),
                            "--data", str(tmp_path / "data"))
        assert branched.returncode == 0, branched.stderr
        assert f"branched {path} at {clock(at)}; ran to {clock(at + 5)}" in branched.stdout
        assert float(info(tmp_path / "branch.mcap").metadata["branch_time"]) == at

        if n == 0:  # the report on one cut only: its pictures are slow
            from twin.runs.report import write_report

            report = write_report(path, tmp_path / f"report-{target:.0f}", pdf=False)
            html = report.html.read_text()
            local = datetime.fromtimestamp(until, ZoneInfo("Asia/Shanghai")).strftime("%H:%M:%S")
            assert f"this report covers what it holds, up to {local}" in html


# --------------------------------------------------------------- a disk that fills up


LIMITED_RUN = """
import json, resource, signal, sys
from pathlib import Path
from twin import logs
from twin.runs.drill import load_drill
from twin.runs.recording import Recorder
from twin.runs.reruns import run_drill
from twin.runtime import open_twin

logs.setup()
drill = load_drill(sys.argv[1])
engine = open_twin(drill.scene, Path(sys.argv[2]), seed=drill.seed, config=drill.config, dt=drill.dt, persist=False)
# a file may grow to LIMIT bytes; past it write() fails with EFBIG instead of the process dying
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[4]), resource.RLIM_INFINITY))
recorder = Recorder(Path(sys.argv[3]), engine, {"drill": drill.name, "drill_path": str(drill.path.resolve())})
result = run_drill(drill, engine, recorder)
recorder.close()
print(json.dumps({"ticks": result.ticks, "time": engine.time, "failed": recorder.failed, "error": recorder.error,
                  "flushed": recorder.flushed}))
"""


def test_a_recorder_that_cannot_write_stops_alone_and_says_why(demo_copy, reference, registry, tmp_path):
    ref = reference
    script = tmp_path / "limited.py"
    script.write_text(LIMITED_RUN)
    path, limit = tmp_path / "full-disk.mcap", len(ref.raw) * 2 // 3  # about 4 minutes of the 6
    proc = subprocess.run([sys.executable, str(script), str(demo_copy / "drills" / "gas-leak.toml"), str(tmp_path / "data"),
                           str(path), str(limit)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    # the run went on to its end: record() kept returning after the disk refused
    assert out["ticks"] == 360 and out["time"] == START + 360.0
    assert out["failed"] is True
    flushed = out["flushed"]
    assert 10.0 < flushed - START < 350.0
    error = out["error"]
    assert "\n" not in error
    assert error.startswith(f"recording to {path} stopped at ")
    assert f": writing failed: File too large (EFBIG); the file holds the run up to {when(flushed)}" in error
    logged = [json.loads(line) for line in proc.stderr.splitlines() if '"twin.runs.recording"' in line]
    assert [entry["msg"] for entry in logged] == [error]  # logged once, not once per tick

    # the file was cut back to its last whole chunk: every reader takes it, up to there
    raw = path.read_bytes()
    size = len(raw)
    assert size <= limit
    assert raw.replace(info(path).created.encode(), ref.created.encode(), 1) == ref.raw[:size]
    assert ref.holds_up_to(size) == flushed and size == next(o for o, _, _ in ref.chunks if o >= size)
    assert list(read_stream(path)) == ref.expected(size)
    i = info(path)
    assert not i.complete and i.end == flushed
    check_replay(path, flushed, registry)


def test_recording_into_a_missing_folder_is_refused_at_once(demo_copy, tmp_path):
    drill = load_drill(demo_copy / "drills" / "gas-leak.toml")
    engine = open_twin(drill.scene, tmp_path / "data", seed=drill.seed, config=drill.config, dt=drill.dt, persist=False)
    missing = tmp_path / "no-such-folder" / "run.mcap"
    try:
        with pytest.raises(RecordingError) as refused:
            Recorder(missing, engine)
    finally:
        engine.close()
    assert str(refused.value) == f"cannot record to {missing}: the folder {missing.parent} does not exist"
    run = twin_cli("drill", "run", str(demo_copy / "drills" / "gas-leak.toml"), "--record", str(missing), "--data", str(tmp_path / "data"))
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == f"twin drill: cannot record to {missing}: the folder {missing.parent} does not exist"


# ------------------------------------------------------------------ branch --at


@pytest.mark.slow
def test_branch_at_takes_seconds_as_its_help_says(reference, tmp_path):
    data = str(tmp_path / "data")
    outs = []
    for n, at in enumerate(("30", "00:00:30")):
        out = tmp_path / f"branch-{n}.mcap"
        result = twin_cli("branch", str(reference.path), "--at", at, "--duration", "10", "--out", str(out), "--data", data)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"branched {reference.path} at 00:00:30; ran to 00:00:40;")
        assert float(info(out).metadata["branch_time"]) == 30.0
        outs.append(list(read_stream(out)))
    assert outs[0] == outs[1]  # the same branch point, the same run
    for bad in ("thirty", "-5", "nan"):
        result = twin_cli("branch", str(reference.path), "--at", bad, "--out", str(tmp_path / "bad.mcap"), "--data", data)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert result.stderr.strip() == (f"twin branch: --at {bad!r}: expected seconds (such as 30 or 12.5) "
                                          "or HH:MM:SS (such as 00:01:40)")
    late = twin_cli("branch", str(reference.path), "--at", "900", "--out", str(tmp_path / "late.mcap"), "--data", data)
    assert late.returncode != 0 and "Traceback" not in late.stderr
    assert late.stderr.strip() == f"twin branch: {reference.path}: cannot branch at 00:15:00: the recording ends at 00:06:00"
