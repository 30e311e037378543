#!/usr/bin/env python
"""History store benchmark: candidate embedded stores for every accepted reading,
compared in one run on the same generated readings (issue 14).

    python bench/history.py            # 100,000 sensors x 24 h + 1,000 sensors x 30 days
                                       # (12 min for --only twin,chdb at load 8-13 on 2 cores;
                                       #  every candidate, with the row SQLite ones, ~40 min)
    python bench/history.py --quick    # 2,000 sensors x 24 h + 100 sensors x 8 days (~2 min)

Needs the bench extra (``pip install -e '.[bench]'``: duckdb, pyarrow, chdb).

What a reading is here: sensor (int32, the store's key for a sensor id), time (int64
milliseconds since the epoch: device timestamps are ms, and a float64 second would need
as many bytes), value (float32: seven significant digits, more than any sensor
resolves), quality (uint8). The generated sensors report once a minute at their own
phase with up to 200 ms of jitter; each value is a slow random walk plus noise, quantized
to the sensor's resolution (0.001 to 1, as real instruments report), so that noise
changes nearly every value every minute, as the issue says of the demo.

Two data sets, written to every candidate as the twin would, one batch per simulated
minute holding every sensor's reading:

1. city: ``--sensors`` (100,000) sensors for 24 hours (144 million readings). Measures
   the write rate (wall, and per second of the process's CPU in the candidate's slots:
   every thread, chdb's merges too; on a shared machine the wall rate is what the load
   left, the CPU rate what the store costs) against a raw append of the same bytes (the four arrays of each batch,
   17 bytes a reading, ``f.write`` then ``flush`` per batch) in the same run, the bytes on
   disk per reading (every file of the candidate's folder, allocated blocks, after its
   own compaction), and the 24-hour single-sensor query at 100,000 sensors (the window is
   the stored day).
2. fleet: ``--fleet`` (1,000) sensors for ``--days`` (30) days, filled in hourly batches
   (its write rate is printed but is not the headline). Measures 24-hour and 7-day
   single-sensor queries at random offsets (a window then spans two or eight day
   partitions). The 7-day query's cost in every sorted layout is per day partition
   touched, not per sensor of the fleet (each reads the sensor's granule or row group of
   each day), so the fleet's figure stands for 100,000 sensors too; for a time-ordered
   layout it is not (it scans every sensor), and that is said beside it.

Candidates, each at its best settings found here (``--only`` picks some):

- ``sqlite``: WAL, synchronous=NORMAL, one rowid table per kind of sensor, each with an
  index on (sensor, time), ``executemany`` per batch in one transaction (a batch split
  by kind). The issue asks "one table per kind": the kinds here are the sensors' (the
  city's instruments are of a few kinds, gas detectors, level gauges, strain gauges, and
  the twin's sensor list says each one's), ``KINDS`` of them, a sensor's kind its key
  modulo ``KINDS``. Not readings against historical fields: the bench writes readings
  only (a fields table would stay empty and measure nothing), while per sensor kind
  each table and its index hold a quarter of the rows, which is what a row store's
  inserts and look-ups pay for.
- ``sqlite_pk``: the same as WITHOUT ROWID tables keyed (sensor, time), one per kind.
- ``sqlite_blob``: each batch appended to a raw log file (durable at once, as the parquet
  candidate's); every hour the hour's readings become one zstd blob per sensor (times
  delta-coded, values and times byte-shuffled) in a WITHOUT ROWID table keyed (hour,
  sensor): an hour's rows go in at the end of the tree, so pages stay full (keyed
  (sensor, hour) the tree split everywhere and took 40 % more bytes), and a sensor's range
  is one point look-up per hour.
- ``duckdb``: one table, batches appended as they come (time order).
- ``duckdb_sorted``: batches go to a staging table; every hour they move to the main
  table sorted by (sensor, time), so that zone maps skip other sensors.
- ``parquet``: batches appended to a raw log (durable); every hour a file sorted by
  (sensor, time) in a folder per day (zstd, byte-stream-split values, delta times, page
  index); queries with pyarrow on row-group statistics held in memory.
- ``twin``: ``twin.history.Store`` as built from the winner (``sqlite_blob``'s design
  with its generation log, seal grace and merge of late readings), through its own API.
- ``chdb``: ClickHouse MergeTree in process, ``PARTITION BY day ORDER BY (sensor, time)``,
  ``index_granularity`` 2048, Delta+ZSTD on times, ZSTD on values (smaller here than
  Gorilla, DoubleDelta or FPC on these quantized values), one INSERT per batch; the write
  time includes waiting for its background merges to settle.

The row SQLite variants cannot write 144 million rows in a benchmark's time (they run at a
few hundred thousand rows a second and slow down as the index outgrows the cache): they
write the city's first ``--sqlite-hours`` (1) hours and the fleet's first 8 days; their
24-hour city query then reads a store holding one hour, a lower bound of its cost
(marked ``*``).

Queries: ``--queries`` random sensors per kind, interleaved across candidates (round
robin, so that the machine's noise hits them alike), wall time from the call to numpy
arrays of (time, value); median and p99. The page cache is warm (every store here fits
in memory); a cold read adds the device's seek per granule, row group or page touched.

The alarm-count query (counts of raised and escalated alarms per domain and level per
15-minute bucket over 24 hours) runs on the alarm store, which stays SQLite whatever the
history store (issue 14): its ``alarms`` and ``events`` tables as ``twin.tick.alarms`` creates
them, filled with ``--alarms`` plausible alarms over the fleet's days, plus the two things
the query needs, which ``twin.tick.alarms`` adds to every alarm store it opens: a ``level``
column on events (the level the event set; ``alarms.level`` is only the latest) and the
index ``events_time`` on ``events(time)``.

The last line is ``RESULT key=value ...``: the winner's figures under the issue's keys,
then each candidate's prefixed with its name.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

T0 = time.perf_counter()
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a day boundary
#: kinds of sensor the row SQLite candidates keep a table each for (a sensor's is its key modulo this)
KINDS = 4
ALL = ("sqlite", "sqlite_pk", "sqlite_blob", "duckdb", "duckdb_sorted", "parquet", "chdb", "twin")


def say(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f} s] {msg}", flush=True)


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2,000 sensors x 24 h; 100 sensors x 8 days")
    ap.add_argument("--sensors", type=int, help="city sensors (default 100,000; 2,000 with --quick)")
    ap.add_argument("--hours", type=int, default=24, help="city hours (default 24)")
    ap.add_argument("--fleet", type=int, help="fleet sensors (default 1,000; 100 with --quick)")
    ap.add_argument("--days", type=int, help="fleet days (default 30; 8 with --quick)")
    ap.add_argument("--sqlite-hours", type=int, default=1, help="city hours the row SQLite variants write (default 1)")
    ap.add_argument("--queries", type=int, help="queries per kind and candidate (default 200; 40 with --quick)")
    ap.add_argument("--alarms", type=int, default=60_000, help="alarms in the generated alarm store (default 60,000)")
    ap.add_argument("--only", help=f"comma-separated candidates (default all: {','.join(ALL)})")
    ap.add_argument("--dir", type=Path, help="where the stores go (default a temporary folder, removed at the end)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--durability", choices=("process", "power"), default="process",
                    help="the twin store's [history] durability (default process; power fsyncs every batch)")
    a = ap.parse_args()
    a.sensors = a.sensors or (2_000 if a.quick else 100_000)
    a.fleet = a.fleet or (100 if a.quick else 1_000)
    a.days = a.days or (8 if a.quick else 30)
    a.queries = a.queries or (40 if a.quick else 200)
    a.only = tuple(a.only.split(",")) if a.only else ALL
    bad = [c for c in a.only if c not in ALL]
    if bad:
        ap.error(f"unknown candidate {', '.join(bad)}; valid: {', '.join(ALL)}")
    if a.days < 8:
        ap.error("--days must be at least 8 (the 7-day query needs them)")
    return a


ARGS = _args()


def pct(values: list[float] | np.ndarray, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


def folder_bytes(path: Path) -> int:
    """Allocated bytes of every file under ``path`` (what the disk holds, like du)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_blocks * 512
            except FileNotFoundError:  # a store removing an old part as we walk
                pass
    return total


# -- the generated readings ------------------------------------------------------------
class Readings:
    """Deterministic readings of ``n`` sensors, one per sensor per minute; ``batch(m)``
    must be called for m = 0, 1, 2... in order (the random walk has state)."""

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.rng = np.random.default_rng(seed)
        self.res = self.rng.choice(np.array([0.001, 0.01, 0.1, 1.0]), n)
        self.level = self.rng.uniform(50, 5000, n)  # in resolution steps
        self.phase = self.rng.integers(0, MINUTE_MS - 200, n)
        self.sensor = np.arange(n, dtype=np.int32)
        self.quality = np.zeros(n, dtype=np.uint8)
        self.minute = 0

    def batch(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        rng = self.rng
        self.level += rng.normal(0.0, 0.3, self.n)
        steps = np.round(self.level + rng.normal(0.0, 2.0, self.n))
        value = (steps * self.res).astype(np.float32)
        t = START_MS + self.minute * MINUTE_MS + self.phase + rng.integers(0, 200, self.n)
        self.minute += 1
        return self.sensor, t, value, self.quality


# -- candidates ------------------------------------------------------------------------
class Candidate:
    name = ""
    #: a row store that cannot write the whole city in a benchmark's time
    partial = False

    def __init__(self, path: Path, table: str) -> None:
        self.path, self.table = path, table

    def write(self, sensor: np.ndarray, t: np.ndarray, value: np.ndarray, quality: np.ndarray) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """End of writing: compact what an hour or merge still holds (timed as writing)."""

    def query(self, sensor: int, t0: int, t1: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def size(self) -> int:
        return folder_bytes(self.path)


def _sqlite(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # in WAL: a commit survives a process kill; fsync at checkpoints
    db.execute("PRAGMA cache_size=-262144")  # 256 MiB
    return db


class SqliteRows(Candidate):
    name, partial = "sqlite", True

    def __init__(self, path: Path, table: str) -> None:
        super().__init__(path, table)
        path.mkdir(parents=True)
        self.db = _sqlite(path / "history.sqlite")
        #: the table of each kind of sensor
        self.tables = [f"{table}_kind{k}" for k in range(KINDS)]
        for name in self.tables:
            self.create(name)

    def create(self, name: str) -> None:
        self.db.execute(f"CREATE TABLE {name} (sensor INTEGER, t INTEGER, value REAL, quality INTEGER)")
        self.db.execute(f"CREATE INDEX {name}_st ON {name} (sensor, t)")

    def write(self, sensor, t, value, quality):
        kind = sensor % KINDS
        self.db.execute("BEGIN")
        for k, name in enumerate(self.tables):
            mine = kind == k
            rows = zip(sensor[mine].tolist(), t[mine].tolist(), value[mine].tolist(), quality[mine].tolist())
            self.db.executemany(f"INSERT INTO {name} VALUES (?,?,?,?)", rows)
        self.db.execute("COMMIT")

    def finish(self):
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def query(self, sensor, t0, t1):
        name = self.tables[sensor % KINDS]
        rows = self.db.execute(f"SELECT t, value FROM {name} WHERE sensor=? AND t>=? AND t<? ORDER BY t", (sensor, t0, t1)).fetchall()
        if not rows:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        a = np.array(rows)
        return a[:, 0].astype(np.int64), a[:, 1].astype(np.float32)

    def close(self):
        self.db.close()


class SqlitePk(SqliteRows):
    name = "sqlite_pk"

    def create(self, name: str) -> None:
        self.db.execute(f"CREATE TABLE {name} (sensor INTEGER, t INTEGER, value REAL, quality INTEGER,"
                        f" PRIMARY KEY (sensor, t)) WITHOUT ROWID")


def _shuffle(a: np.ndarray) -> np.ndarray:
    """Byte planes of a [rows, n] array: [rows, itemsize * n] with the k-th byte of every
    element together (what blosc and parquet's BYTE_STREAM_SPLIT do: the slowly varying
    high bytes line up and compress)."""
    rows, n = a.shape
    return np.ascontiguousarray(a.view(np.uint8).reshape(rows, n, a.itemsize).transpose(0, 2, 1)).reshape(rows, n * a.itemsize)


class SqliteBlob(Candidate):
    name = "sqlite_blob"

    def __init__(self, path: Path, table: str) -> None:
        import zstandard

        super().__init__(path, table)
        path.mkdir(parents=True)
        self.db = _sqlite(path / "history.sqlite")
        # keyed (hour, sensor): each hour's rows go in at the end of the tree (full pages);
        # a sensor's range is one point look-up per hour
        self.db.execute(f"CREATE TABLE {table} (hour INTEGER, sensor INTEGER, n INTEGER, data BLOB, PRIMARY KEY (hour, sensor)) WITHOUT ROWID")
        self.log = (path / "log.raw").open("ab")
        self.cctx, self.dctx = zstandard.ZstdCompressor(level=3), zstandard.ZstdDecompressor()
        self.hour: int | None = None
        self.pending: list[tuple[np.ndarray, ...]] = []

    def write(self, sensor, t, value, quality):
        hour = int(t[0]) // HOUR_MS
        if self.hour is not None and hour != self.hour:
            self._seal()
        self.hour = hour
        self.pending.append((sensor, t, value, quality))
        for a in (sensor, t, value, quality):  # durable at once (a process kill keeps the page cache)
            self.log.write(a.tobytes())
        self.log.flush()

    def _seal(self) -> None:
        if not self.pending:
            return
        sensor, t, value, quality = (np.concatenate([p[i] for p in self.pending]) for i in range(4))
        self.pending = []
        order = np.argsort(sensor, kind="stable")  # radix sort; arrival order (time) kept per sensor
        sensor, t, value, quality = sensor[order], t[order], value[order], quality[order]
        ids, starts, counts = np.unique(sensor, return_index=True, return_counts=True)
        hour_ms = int(self.hour) * HOUR_MS
        rows = []
        cc = self.cctx.compress
        if (counts == counts[0]).all():  # every sensor reported as often: one numpy pass
            k = int(counts[0])
            tt = (t - hour_ms).reshape(-1, k)
            dt = np.diff(tt, axis=1, prepend=0).astype(np.int32)
            blob = np.hstack([_shuffle(dt), _shuffle(value.reshape(-1, k)), quality.reshape(-1, k)])
            for s, b in zip(ids.tolist(), blob):
                rows.append((self.hour, s, k, cc(b.data)))
        else:
            for s, a, k in zip(ids.tolist(), starts.tolist(), counts.tolist()):
                sl = slice(a, a + k)
                dt = np.diff(t[sl] - hour_ms, prepend=0).astype(np.int32)[None]
                b = np.hstack([_shuffle(dt), _shuffle(value[sl][None]), quality[sl][None]])
                rows.append((self.hour, s, k, cc(b.data)))
        self.db.execute("BEGIN")
        self.db.executemany(f"INSERT INTO {self.table} VALUES (?,?,?,?)", rows)
        self.db.execute("COMMIT")
        self.log.truncate(0)
        self.log.seek(0)

    def finish(self):
        self._seal()
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def query(self, sensor, t0, t1):
        hours = ",".join(str(h) for h in range(t0 // HOUR_MS, (t1 - 1) // HOUR_MS + 1))
        rows = self.db.execute(f"SELECT hour, n, data FROM {self.table} WHERE hour IN ({hours}) AND sensor=? ORDER BY hour",
                               (sensor,)).fetchall()
        ts, vs = [], []
        for hour, k, data in rows:
            raw = np.frombuffer(self.dctx.decompress(data), dtype=np.uint8)
            dt = raw[:4 * k].reshape(4, k).T.copy().view(np.int32).ravel()
            ts.append(np.cumsum(dt, dtype=np.int64) + hour * HOUR_MS)
            vs.append(raw[4 * k:8 * k].reshape(4, k).T.copy().view(np.float32).ravel())
        if not ts:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        t, v = np.concatenate(ts), np.concatenate(vs)
        keep = (t >= t0) & (t < t1)
        return t[keep], v[keep]

    def close(self):
        self.db.close()
        self.log.close()


class Duck(Candidate):
    name = "duckdb"

    def __init__(self, path: Path, table: str) -> None:
        import duckdb

        super().__init__(path, table)
        path.mkdir(parents=True)
        self.db = duckdb.connect(str(path / "history.duckdb"))
        self.db.execute(f"CREATE TABLE {table} (sensor INTEGER, t BIGINT, value FLOAT, quality UTINYINT)")
        self.target = table

    def _arrow(self, sensor, t, value, quality):
        import pyarrow as pa

        return pa.table({"sensor": sensor, "t": t, "value": value, "quality": quality})

    def write(self, sensor, t, value, quality):
        batch = self._arrow(sensor, t, value, quality)  # noqa: F841 - DuckDB finds it by name
        self.db.execute(f"INSERT INTO {self.target} SELECT * FROM batch")

    def finish(self):
        self.db.execute("CHECKPOINT")

    def query(self, sensor, t0, t1):
        r = self.db.execute(f"SELECT t, value FROM {self.table} WHERE sensor=? AND t>=? AND t<? ORDER BY t", [sensor, t0, t1]).fetchnumpy()
        return np.asarray(r["t"], dtype=np.int64), np.asarray(r["value"], dtype=np.float32)

    def close(self):
        self.db.close()


class DuckSorted(Duck):
    name = "duckdb_sorted"

    def __init__(self, path: Path, table: str) -> None:
        super().__init__(path, table)
        self.target = f"{table}_staging"
        self.db.execute(f"CREATE TABLE {self.target} (sensor INTEGER, t BIGINT, value FLOAT, quality UTINYINT)")
        self.hour: int | None = None

    def write(self, sensor, t, value, quality):
        hour = int(t[0]) // HOUR_MS
        if self.hour is not None and hour != self.hour:
            self._seal()
        self.hour = hour
        super().write(sensor, t, value, quality)

    def _seal(self) -> None:
        self.db.execute("BEGIN")
        self.db.execute(f"INSERT INTO {self.table} SELECT * FROM {self.target} ORDER BY sensor, t")
        self.db.execute(f"DELETE FROM {self.target}")
        self.db.execute("COMMIT")

    def finish(self):
        self._seal()
        super().finish()

    def query(self, sensor, t0, t1):
        # the staging table holds at most the current hour; a real store would union it
        return super().query(sensor, t0, t1)


class Parquet(Candidate):
    name = "parquet"

    def __init__(self, path: Path, table: str) -> None:
        super().__init__(path, table)
        path.mkdir(parents=True)
        self.log = (path / "log.raw").open("ab")
        self.hour: int | None = None
        self.pending: list[tuple[np.ndarray, ...]] = []
        self.files: list[tuple[int, Any, np.ndarray, np.ndarray]] = []  # (hour, ParquetFile, rg min, rg max)

    def write(self, sensor, t, value, quality):
        hour = int(t[0]) // HOUR_MS
        if self.hour is not None and hour != self.hour:
            self._seal()
        self.hour = hour
        self.pending.append((sensor, t, value, quality))
        for a in (sensor, t, value, quality):
            self.log.write(a.tobytes())
        self.log.flush()  # in the kernel's page cache: survives a process kill

    def _seal(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.pending:
            return
        sensor, t, value, quality = (np.concatenate([p[i] for p in self.pending]) for i in range(4))
        self.pending = []
        order = np.lexsort((t, sensor))
        table = pa.table({"sensor": sensor[order], "t": t[order], "value": value[order], "quality": quality[order]})
        day = time.strftime("%Y-%m-%d", time.gmtime(self.hour * 3600))
        folder = self.path / f"day={day}"
        folder.mkdir(exist_ok=True)
        out = folder / f"{self.hour % 24:02d}.parquet"
        pq.write_table(table, out, compression="zstd", compression_level=3, use_dictionary=False,
                       column_encoding={"sensor": "DELTA_BINARY_PACKED", "t": "DELTA_BINARY_PACKED",
                                        "value": "BYTE_STREAM_SPLIT", "quality": "PLAIN"},
                       row_group_size=32_768, write_page_index=True)
        self.log.truncate(0)
        self.log.seek(0)
        self._open(self.hour, out)

    def _open(self, hour: int, path: Path) -> None:
        import pyarrow.parquet as pq

        f = pq.ParquetFile(path)
        md = f.metadata
        lo = np.array([md.row_group(i).column(0).statistics.min for i in range(md.num_row_groups)])
        hi = np.array([md.row_group(i).column(0).statistics.max for i in range(md.num_row_groups)])
        self.files.append((hour, f, lo, hi))

    def finish(self):
        self._seal()

    def query(self, sensor, t0, t1):
        ts, vs = [], []
        h0, h1 = t0 // HOUR_MS, (t1 - 1) // HOUR_MS
        for hour, f, lo, hi in self.files:
            if hour < h0 or hour > h1:
                continue
            groups = np.flatnonzero((lo <= sensor) & (hi >= sensor)).tolist()
            if not groups:
                continue
            tbl = f.read_row_groups(groups, columns=["sensor", "t", "value"])
            s = tbl.column(0).to_numpy()
            a, b = np.searchsorted(s, sensor), np.searchsorted(s, sensor, side="right")
            ts.append(tbl.column(1).to_numpy()[a:b])
            vs.append(tbl.column(2).to_numpy()[a:b])
        if not ts:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        t, v = np.concatenate(ts), np.concatenate(vs)
        keep = (t >= t0) & (t < t1)
        return t[keep], v[keep]

    def close(self):
        self.log.close()


class Chdb(Candidate):
    name = "chdb"
    conn: Any = None  # one chdb path per process: the candidate's tables share it

    def __init__(self, path: Path, table: str) -> None:
        import chdb

        super().__init__(path, table)
        if Chdb.conn is None:
            Chdb.conn = chdb.connect(str(path.parent / "chdb"))
        self.db = Chdb.conn
        self.db.query(
            f"CREATE TABLE {table} (sensor Int32 CODEC(ZSTD(1)), t DateTime64(3) CODEC(Delta, ZSTD(1)),"
            f" value Float32 CODEC(ZSTD(1)), quality UInt8 CODEC(ZSTD(1)))"
            f" ENGINE = MergeTree PARTITION BY toDate(t) ORDER BY (sensor, t)"
            f" SETTINGS index_granularity = 2048, old_parts_lifetime = 1")

    def write(self, sensor, t, value, quality):
        import pyarrow as pa

        batch = pa.table({"sensor": sensor, "t": pa.array(t).cast(pa.timestamp("ms")), "value": value, "quality": quality})  # noqa: F841
        self.db.query(f"INSERT INTO {self.table} SELECT * FROM Python(batch)")

    def parts(self) -> tuple[int, int, int]:
        """(active parts, their bytes on disk, merges running)"""
        out = self.db.query(f"SELECT count(), sum(bytes_on_disk), (SELECT count() FROM system.merges WHERE table='{self.table}')"
                            f" FROM system.parts WHERE table='{self.table}' AND active", "CSV").bytes().decode()
        a, b, c = out.strip().split(",")
        return int(a), int(b), int(c)

    def finish(self):
        # Writing is not done while merges run: wait until they settle (parts few per day)
        deadline = time.perf_counter() + 600
        while time.perf_counter() < deadline:
            n, _, merging = self.parts()
            if merging == 0:
                break
            time.sleep(0.2)

    def size(self) -> int:
        # the folder is shared by the city's and the fleet's tables: count this table's parts,
        # and the folder once it alone remains (both printed, see report)
        return self.parts()[1]

    def query(self, sensor, t0, t1):
        import pyarrow as pa

        r = self.db.query(f"SELECT toUnixTimestamp64Milli(t) AS ms, value FROM {self.table} WHERE sensor = {int(sensor)}"
                          f" AND t >= fromUnixTimestamp64Milli({int(t0)}) AND t < fromUnixTimestamp64Milli({int(t1)}) ORDER BY t", "Arrow")
        tbl = pa.ipc.open_file(pa.BufferReader(r.bytes())).read_all()
        return tbl.column(0).to_numpy(), tbl.column(1).to_numpy()


class TwinStore(Candidate):
    """twin.history.Store as built (the sqlite_blob design with its pending log, seal
    grace, merges and float-second interface)."""

    name = "twin"

    def __init__(self, path: Path, table: str) -> None:
        from twin.history import Store

        super().__init__(path, table)
        self.store = Store(path, durability=ARGS.durability)
        self.key_of: np.ndarray | None = None

    def _keys(self, n: int) -> np.ndarray:
        if self.key_of is None or len(self.key_of) < n:
            self.key_of = self.store.keys([f"S-{i}" for i in range(n)])
        return self.key_of

    def write(self, sensor, t, value, quality):
        self.store.append(self._keys(int(sensor.max()) + 1)[sensor], t / 1000.0, value, quality)

    def finish(self):
        self.store.flush()
        self.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def query(self, sensor, t0, t1):
        t, v, _q = self.store.raw(int(self._keys(sensor + 1)[sensor]), t0 / 1000.0, t1 / 1000.0)
        return np.round(t * 1000.0).astype(np.int64), v

    def close(self):
        self.store.close()


CLASSES = {c.name: c for c in (SqliteRows, SqlitePk, SqliteBlob, Duck, DuckSorted, Parquet, Chdb, TwinStore)}


# -- phases ----------------------------------------------------------------------------
class Raw:
    """The baseline: the readings' bytes appended to a plain file, f.write + flush per batch."""

    name = "raw"

    def __init__(self, path: Path) -> None:
        self.f = path.open("wb")

    def write(self, sensor, t, value, quality):
        for a in (sensor, t, value, quality):
            self.f.write(a.tobytes())
        self.f.flush()

    def close(self):
        self.f.close()


def settle(c: Any) -> None:
    """Wait for a store's background work (chdb's merges) so that its slot pays for it."""
    if isinstance(c, Chdb):
        c.finish()


def interleaved_write(stores: dict[str, Any], n: int, minutes: int, seed: int, per_hour: bool, limit: dict[str, int], label: str) -> dict[str, dict[str, float]]:
    """Write the same readings to every store, an hour at a time: within each simulated
    hour the stores take turns in a random order, each writing the hour's batches (one
    per minute, or one per hour with ``per_hour``) in a timed slot, so that the shared
    machine's noise falls on all alike. ``limit``: minutes a store stops after."""
    gen = Readings(n, seed)
    rng = np.random.default_rng(seed + 11)
    spent = {name: 0.0 for name in stores}
    cpu = {name: 0.0 for name in stores}  # process CPU in the slot: every thread (chdb merges too), whatever the load
    written = {name: 0 for name in stores}
    hours = minutes // 60
    step = max(1, hours // 4)
    for h in range(hours):
        batches = [gen.batch() for _ in range(60)]
        if per_hour:
            batches = [tuple(np.concatenate([b[i] for b in batches]) for i in range(4))]
        for name in rng.permutation(list(stores)).tolist():
            if h * 60 >= limit.get(name, minutes):
                continue
            c = stores[name]
            t0, c0 = time.perf_counter(), time.process_time()
            for batch in batches:
                c.write(*batch)
            settle(c)
            spent[name] += time.perf_counter() - t0
            cpu[name] += time.process_time() - c0
            written[name] += n * 60
        if (h + 1) % step == 0:
            say(f"{label}: {h + 1}/{hours} hours; M readings/s so far: " + ", ".join(
                f"{k} {written[k] / spent[k] / 1e6:.2f}" for k in stores if spent[k]))
    out = {}
    for name, c in stores.items():
        t0, c0 = time.perf_counter(), time.process_time()
        if hasattr(c, "finish"):
            c.finish()
        finish_s = time.perf_counter() - t0
        out[name] = {"readings": written[name], "write_s": spent[name] + finish_s, "finish_s": finish_s,
                     "cpu_s": cpu[name] + time.process_time() - c0,
                     "minutes": min(minutes, limit.get(name, minutes))}
    return out


def run_queries(stores: dict[str, Candidate], kinds: dict[str, tuple[int, int, int, int]], queries: int,
                expect: dict[str, int]) -> dict[str, dict[str, list[float]]]:
    """kinds: name -> (sensors, first ms, last ms, window ms); interleaved round robin.
    ``expect``: kind -> readings a full window holds (checked, so no candidate answers
    fast by answering wrong)."""
    rng = np.random.default_rng(ARGS.seed + 7)
    out: dict[str, dict[str, list[float]]] = {name: {k: [] for k in kinds} for name in stores}
    for kind, (n, first, last, window) in kinds.items():
        plan = [(int(rng.integers(0, n)), int(rng.integers(first, max(first + 1, last - window + 1)))) for _ in range(queries)]
        for name, c in stores.items():  # warm-up (first open, caches of metadata)
            c.query(plan[0][0], plan[0][1], plan[0][1] + window)
        for sensor, start in plan:
            for name in rng.permutation(list(stores)).tolist():
                c = stores[name]
                t0 = time.perf_counter()
                t, v = c.query(sensor, start, start + window)
                out[name][kind].append(time.perf_counter() - t0)
                if kind in expect and not c.partial and abs(len(t) - expect[kind]) > 1:
                    raise AssertionError(f"{name}: {kind} query of sensor {sensor} gave {len(t)} readings, want {expect[kind]}")
                if len(t) and (t.min() < start or t.max() >= start + window or np.any(np.diff(t) <= 0)):
                    raise AssertionError(f"{name}: {kind} query of sensor {sensor} out of its window or order")
    return out


def alarm_store(path: Path, alarms: int, days: int) -> sqlite3.Connection:
    """An alarm store of twin.tick.alarms's schema (plus events.level and an index on time)
    with ``alarms`` alarms over ``days`` days: each raised, some escalated, most cleared,
    acknowledged and resolved by operators."""
    rng = np.random.default_rng(ARGS.seed + 3)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE alarms (id INTEGER PRIMARY KEY, asset TEXT, domain TEXT, rule TEXT,"
               " state TEXT, level INTEGER, since REAL, updated REAL, body TEXT)")
    db.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, alarm INTEGER, kind TEXT,"
               " time REAL, wall REAL, who TEXT, note TEXT, level INTEGER)")
    domains = ["gas", "drainage", "bridge", "tunnel", "water", "heat"]
    start = START_MS / 1000
    since = np.sort(rng.uniform(start, start + days * 86400, alarms))
    dom = rng.choice(len(domains), alarms, p=[0.3, 0.3, 0.1, 0.1, 0.1, 0.1])
    level = rng.choice([1, 2, 3, 4], alarms, p=[0.5, 0.3, 0.15, 0.05])
    a_rows, e_rows = [], []
    for i in range(alarms):
        d, lv, t = domains[dom[i]], int(level[i]), float(since[i])
        body = json.dumps({"id": i + 1, "asset": f"A-{i % 9973:05d}", "domain": d, "rule": f"{d}.risk", "level": lv})
        a_rows.append((i + 1, f"A-{i % 9973:05d}", d, f"{d}.risk", "resolved", 0, t, t + 3600, body))
        e_rows.append((i + 1, "raise", t, t, "", "", lv))
        if lv < 4 and rng.random() < 0.2:
            e_rows.append((i + 1, "escalate", t + 300, t + 300, "", "", lv + 1))
        e_rows.append((i + 1, "acknowledge", t + 120, t + 120, "operator", "seen", lv))
        e_rows.append((i + 1, "clear", t + 1800, t + 1800, "", "", 0))
        e_rows.append((i + 1, "resolve", t + 3600, t + 3600, "operator", "done", 0))
    db.execute("BEGIN")
    db.executemany("INSERT INTO alarms VALUES (?,?,?,?,?,?,?,?,?)", a_rows)
    db.executemany("INSERT INTO events (alarm, kind, time, wall, who, note, level) VALUES (?,?,?,?,?,?,?)", e_rows)
    db.execute("COMMIT")
    db.execute("CREATE INDEX events_time ON events (time)")
    db.execute("ANALYZE")
    return db


ALARM_QUERY = ("SELECT CAST((e.time - ?) / ? AS INTEGER) AS bucket, a.domain, e.level, count(*)"
               " FROM events e JOIN alarms a ON a.id = e.alarm"
               " WHERE e.time >= ? AND e.time < ? AND e.kind IN ('raise', 'escalate')"
               " GROUP BY bucket, a.domain, e.level")


def alarm_queries(db: sqlite3.Connection, days: int, queries: int) -> list[float]:
    rng = np.random.default_rng(ARGS.seed + 5)
    start = START_MS / 1000
    out = []
    for _ in range(queries):
        t0 = float(rng.uniform(start, start + (days - 1) * 86400))
        w0 = time.perf_counter()
        rows = db.execute(ALARM_QUERY, (t0, 900.0, t0, t0 + 86400)).fetchall()
        out.append(time.perf_counter() - w0)
        if not rows:
            raise AssertionError("the alarm-count query found no alarms in a day")
    return out


# -- report ----------------------------------------------------------------------------
def main() -> None:
    workdir = Path(ARGS.dir) if ARGS.dir else Path(tempfile.mkdtemp(prefix="twin-history-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    city_n, city_min = ARGS.sensors, ARGS.hours * 60
    fleet_n, fleet_min = ARGS.fleet, ARGS.days * 1440
    say(f"files in {workdir}")
    say(f"city: {city_n:,} sensors x {ARGS.hours} h at 1/min = {city_n * city_min:,} readings; "
        f"fleet: {fleet_n:,} sensors x {ARGS.days} days = {fleet_n * fleet_min:,} readings; candidates: {', '.join(ARGS.only)}")
    try:
        res: dict[str, dict[str, Any]] = {name: {} for name in ARGS.only}
        stores: dict[str, dict[str, Candidate]] = {"city": {}, "fleet": {}}
        for name in ARGS.only:
            stores["city"][name] = CLASSES[name](workdir / name / "city", "city")
        partial = {name: ARGS.sqlite_hours * 60 for name in ARGS.only if CLASSES[name].partial}
        raw = Raw(workdir / "raw.bin")
        say(f"city: writing {city_n:,} sensors x {ARGS.hours} h, one batch a minute, to every candidate and the raw file in turn")
        w = interleaved_write({**stores["city"], "raw": raw}, city_n, city_min, ARGS.seed, False, partial, "city")
        raw.close()
        (workdir / "raw.bin").unlink()
        raw_rate = w["raw"]["readings"] / w["raw"]["write_s"]
        for name, c in stores["city"].items():
            w[name]["bytes"] = c.size()
            res[name]["city"] = w[name]
            say(f"{name}: city written at {w[name]['readings'] / w[name]['write_s'] / 1e6:.2f} M readings/s "
                f"({w[name]['finish_s']:.1f} s of it finishing), {w[name]['bytes'] / w[name]['readings']:.2f} bytes/reading")
        gc.collect()
        for name in ARGS.only:
            stores["fleet"][name] = CLASSES[name](workdir / name / "fleet", "fleet")
        limit = {name: 8 * 1440 for name in partial}
        say(f"fleet: filling {fleet_n:,} sensors x {ARGS.days} days, one batch an hour")
        w2 = interleaved_write(stores["fleet"], fleet_n, fleet_min, ARGS.seed + 1, True, limit, "fleet")
        for name, c in stores["fleet"].items():
            w2[name]["bytes"] = c.size()
            w2[name]["days"] = w2[name]["minutes"] // 1440
            res[name]["fleet"] = w2[name]
            say(f"{name}: fleet filled ({w2[name]['days']} days) at {w2[name]['readings'] / w2[name]['write_s'] / 1e6:.2f} M readings/s, "
                f"{w2[name]['bytes'] / w2[name]['readings']:.2f} bytes/reading")
        if "chdb" in ARGS.only:
            res["chdb"]["folder_bytes"] = folder_bytes(workdir / "chdb")

        say(f"queries: {ARGS.queries} per kind per candidate, interleaved")
        city_kinds = {"city_24h": (city_n, START_MS, START_MS + city_min * MINUTE_MS, DAY_MS)}
        q_city = run_queries(stores["city"], city_kinds, ARGS.queries, {"city_24h": min(1440, city_min)})
        short = min(r["fleet"]["days"] for r in res.values())
        fleet_end = START_MS + short * DAY_MS
        fleet_kinds = {"fleet_24h": (fleet_n, START_MS, fleet_end, DAY_MS), "fleet_7d": (fleet_n, START_MS, fleet_end, 7 * DAY_MS)}
        q_fleet = run_queries(stores["fleet"], fleet_kinds, ARGS.queries, {"fleet_24h": 1440, "fleet_7d": 7 * 1440})
        adb = alarm_store(workdir / "alarms.sqlite", ARGS.alarms, ARGS.days)
        q_alarm = alarm_queries(adb, ARGS.days, ARGS.queries)
        adb.close()
        for group in stores.values():
            for c in group.values():
                c.close()

        print()
        print(f"Measured: city {city_n:,} sensors x {ARGS.hours} h ({city_n * city_min:,} readings, one batch of {city_n:,} a simulated "
              f"minute); fleet {fleet_n:,} sensors x {ARGS.days} days ({fleet_n * fleet_min:,} readings). Raw append of the same bytes "
              f"(f.write + flush per batch, in turn with the candidates): {raw_rate / 1e6:.1f} M readings/s.")
        print(f"{'candidate':15} {'write M/s':>9} {'per CPU s':>9} {'vs raw':>7} {'B/reading':>9} {'fleet B/r':>9} {'city 24h p50/p99 ms':>20} "
              f"{'fleet 24h p50/p99':>18} {'fleet 7d p50/p99':>17}")
        rows = {}
        for name in ARGS.only:
            r = res[name]
            w = r["city"]
            rate = w["readings"] / w["write_s"]
            star = "*" if w["minutes"] < city_min else " "
            fleet_star = "*" if r["fleet"]["days"] < ARGS.days else " "
            row = {
                "write_readings_per_s": rate, "vs_raw": rate / raw_rate, "per_cpu_s": w["readings"] / max(w["cpu_s"], 1e-9), "bytes_per_reading": w["bytes"] / w["readings"],
                "fleet_bytes_per_reading": r["fleet"]["bytes"] / r["fleet"]["readings"],
                "q24h_p50_ms": pct(q_city[name]["city_24h"], 50) * 1e3, "q24h_p99_ms": pct(q_city[name]["city_24h"], 99) * 1e3,
                "fleet_q24h_p50_ms": pct(q_fleet[name]["fleet_24h"], 50) * 1e3, "fleet_q24h_p99_ms": pct(q_fleet[name]["fleet_24h"], 99) * 1e3,
                "q7d_p50_ms": pct(q_fleet[name]["fleet_7d"], 50) * 1e3, "q7d_p99_ms": pct(q_fleet[name]["fleet_7d"], 99) * 1e3,
            }
            rows[name] = row
            print(f"{name:15} {rate / 1e6:9.2f} {row['per_cpu_s'] / 1e6:9.2f} {row['vs_raw']:7.3f} {row['bytes_per_reading']:9.2f} {row['fleet_bytes_per_reading']:9.2f} "
                  f"{row['q24h_p50_ms']:9.1f}/{row['q24h_p99_ms']:8.1f}{star}  {row['fleet_q24h_p50_ms']:8.1f}/{row['fleet_q24h_p99_ms']:7.1f}{fleet_star} "
                  f"{row['q7d_p50_ms']:7.1f}/{row['q7d_p99_ms']:7.1f}{fleet_star}")
        if any(CLASSES[n].partial for n in ARGS.only):
            print(f"* the row SQLite variants wrote the city's first {ARGS.sqlite_hours} h and the fleet's first 8 days: "
                  f"their city 24 h query read a store of {ARGS.sqlite_hours} h (a lower bound of its cost)")
        if "duckdb" in ARGS.only:
            print("  duckdb (time order) scans every sensor of the window: its fleet figures are for "
                  f"{fleet_n:,} sensors and grow with the fleet (its city figure is at {city_n:,})")
        if "chdb" in ARGS.only:
            print(f"  chdb bytes are its tables' active parts; its whole folder (both tables, metadata, parts not yet removed) "
                  f"held {res['chdb']['folder_bytes'] / (res['chdb']['city']['readings'] + res['chdb']['fleet']['readings']):.2f} "
                  f"bytes per reading of both")
        print(f"alarm-count query (SQLite alarm store, {ARGS.alarms:,} alarms over {ARGS.days} days, 24 h in 15-min buckets): "
              f"p50 {pct(q_alarm, 50) * 1e3:.2f} ms, p99 {pct(q_alarm, 99) * 1e3:.2f} ms")

        goals = {n: (r["write_readings_per_s"] >= 1e6, r["bytes_per_reading"] <= 8, r["q24h_p99_ms"] < 20) for n, r in rows.items()}
        print("Goals (>= 1 M readings/s; <= 8 bytes/reading; city 24 h p99 < 20 ms at "
              f"{city_n:,} sensors): " + "; ".join(
                  f"{n} {'/'.join('met' if ok else 'NOT' for ok in g)}" for n, g in goals.items()))
        meeting = [n for n, g in goals.items() if all(g)]
        best = min(meeting or rows, key=lambda n: (rows[n]["q24h_p99_ms"] + rows[n]["q7d_p99_ms"], -rows[n]["write_readings_per_s"]))
        print(f"candidates meeting every goal: {', '.join(meeting) or 'none'}; fastest of them at queries: {best}")
        print(f"run {time.perf_counter() - T0:.0f} s; peak RSS {peak_gb():.2f} GiB")
        b = rows[best]
        result = {"winner": best, "write_readings_per_s": f"{b['write_readings_per_s']:.0f}", "bytes_per_reading": f"{b['bytes_per_reading']:.2f}",
                  "q24h_p99_ms": f"{b['q24h_p99_ms']:.2f}", "q7d_p99_ms": f"{b['q7d_p99_ms']:.2f}",
                  "alarm_q24h_p99_ms": f"{pct(q_alarm, 99) * 1e3:.2f}", "raw_readings_per_s": f"{raw_rate:.0f}",
                  "sensors": city_n, "hours": ARGS.hours, "fleet": fleet_n, "days": ARGS.days}
        for n, r in rows.items():
            for k in ("write_readings_per_s", "per_cpu_s", "bytes_per_reading", "q24h_p99_ms", "q7d_p99_ms"):
                result[f"{n}_{k}"] = f"{r[k]:.0f}" if k in ("write_readings_per_s", "per_cpu_s") else f"{r[k]:.2f}"
        print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    finally:
        if not ARGS.dir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
