"""`twin history export`: the command line on a real history store that another process
keeps writing (readings still in its pending log are exported too)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from twin.history import Store

DAY = 86400.0
NOW = 1_798_761_600.0 + 50 * DAY  # 2027-02-20T00:00:00Z: the clock of the fabricated store


def twin(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "twin.cli", "history", "export", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def store(tmp_path):
    """A store held open by this process, as a serving twin holds it: two days downsampled
    40 days ago, and three hours of raw readings ending now, the last one only in the log."""
    s = Store(tmp_path / "data" / "history")
    gas = s.keys(["GS-1", "gas/G-1/ch4"], "gas")
    bridge = s.keys(["BS-1"], "bridge")
    old_t = NOW - 40 * DAY + np.arange(0, 2 * DAY, 30.0)  # two readings a minute
    s.append(np.full(len(old_t), gas[0]), old_t, np.arange(len(old_t)) % 7)
    s.flush()
    assert s.prune(NOW)["days_downsampled"] == 2
    t = NOW - 3 * 3600 + np.arange(0, 3 * 3600, 10.0)
    for key, offset in ((gas[0], 0.0), (gas[1], 0.5), (bridge[0], 1.0)):
        s.append(np.full(len(t), key), t + offset, np.sin(t / 1000) + offset)
    s.seal(int((NOW - 3600) // 3600))  # the last hour stays pending: in the log only
    assert s.pending_readings == 3 * 360
    yield s
    s.close()


def test_the_export_holds_every_reading_and_minute_of_the_range_sealed_or_pending(store, tmp_path):
    out = tmp_path / "week.parquet"
    done = twin("--data", str(tmp_path / "data"), "--from", repr(NOW - 7 * DAY), "--to", repr(NOW), str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{out}: 3,240 readings and 0 per-minute rows"
    assert done.stderr.splitlines() == ["2027-02-19: 3,240 readings, 0 per-minute rows"]
    table = pq.read_table(out)
    assert table.column_names == ["series", "domain", "t", "v", "min", "max", "count", "source"]
    rows = table.to_pydict()
    assert set(rows["source"]) == {"raw"} and set(rows["count"]) == {1} and rows["v"] == rows["min"] == rows["max"]
    t = NOW - 3 * 3600 + np.arange(0, 3 * 3600, 10.0)
    for series, domain, offset in (("GS-1", "gas", 0.0), ("gas/G-1/ch4", "gas", 0.5), ("BS-1", "bridge", 1.0)):
        mine = [i for i, s in enumerate(rows["series"]) if s == series]
        assert {rows["domain"][i] for i in mine} == {domain}
        assert [rows["t"][i] for i in mine] == (t + offset).tolist()
        assert [rows["v"][i] for i in mine] == (np.sin(t / 1000) + offset).astype(np.float32).tolist()
    assert not list(tmp_path.glob("*.part"))


def test_past_the_raw_retention_the_export_holds_the_minutes_and_a_domain_only_its_series(store, tmp_path):
    out = tmp_path / "gas.parquet"
    done = twin("--data", str(tmp_path / "data"), "--from", "2027-01-01T00:00:00Z", "--to", "2027-02-20T08:00:00+08:00",
                "--domain", "gas", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{out}: 2,160 readings and 2,880 per-minute rows"
    rows = pq.read_table(out).to_pydict()
    assert set(rows["series"]) == {"GS-1", "gas/G-1/ch4"} and set(rows["domain"]) == {"gas"}
    minutes = [i for i, s in enumerate(rows["source"]) if s == "minutes"]
    assert [rows["t"][i] for i in minutes] == (NOW - 40 * DAY + np.arange(0, 2 * DAY, 60.0)).tolist()
    assert {rows["count"][i] for i in minutes} == {2}
    values = np.arange(2 * 2880) % 7  # the two readings of each minute: mean, min and max
    pairs = values.reshape(-1, 2)
    assert [rows["min"][i] for i in minutes] == pairs.min(axis=1).tolist()
    assert [rows["max"][i] for i in minutes] == pairs.max(axis=1).tolist()
    assert [rows["v"][i] for i in minutes] == pairs.mean(axis=1).tolist()


@pytest.mark.parametrize("args, message", [
    (["--from", "last week"], "--from: give epoch seconds or an RFC 3339 time with its zone (2026-01-01T08:00:00+08:00), not 'last week'"),
    (["--from", "2027-01-01T00:00:00"], "--from: '2027-01-01T00:00:00' has no time zone; add Z or an offset such as +08:00"),
    (["--from", "100", "--to", "50"], "the range is empty: --from (100) must come before --to (50)"),
    (["--from", "0", "--domain", "water"], "--domain 'water': the history holds no series of it; it holds bridge, gas"),
])
def test_bad_input_is_one_line_and_exit_2(store, tmp_path, args, message):
    done = twin("--data", str(tmp_path / "data"), *args, str(tmp_path / "x.parquet"))
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"twin history: {message}\n")
    assert not (tmp_path / "x.parquet").exists()


def test_a_data_folder_without_a_history_says_so(tmp_path):
    done = twin("--data", str(tmp_path / "empty"), "--from", "0", str(tmp_path / "x.parquet"))
    assert done.returncode == 2
    assert done.stderr == (f"twin history: {tmp_path / 'empty' / 'history'}: no history store here (no history.sqlite); "
                           f"a live `twin serve` writes one\n")
    assert not (tmp_path / "empty").exists()
