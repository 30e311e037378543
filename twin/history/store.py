"""The history store: every accepted reading, in the data folder, queryable by series
and time range, raw or bucketed.

Chosen by bench/history.py (figures in the commit that added it): SQLite holding one
zstd blob per series per hour (twin.history.codec) in a WITHOUT ROWID table keyed
(hour, series). An hour's rows go in at the end of the tree, so pages stay full, and a
series' range is one point look-up per hour. Until its hour is sealed a reading lives in
the pending log (twin.history.log) and in memory, where queries see it too.

Retention: raw readings for ``raw_days`` (30), then per-minute min/mean/max/count per
series per day for ``minute_days`` (730): :meth:`Store.prune`.

Times at this interface are float seconds since the epoch (the twin's clock); the store
keeps integer milliseconds. Values are float32 (seven significant digits, more than any
sensor resolves). A series is named by a string (a sensor id, or whatever a caller
chooses for an asset's field) and keyed by a small integer (:meth:`Store.keys`).
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from twin.history import codec
from twin.history.log import CARRIED, Batch, PendingLog, generations, log_path, read

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
MINUTE_MS = 60_000
#: points a series answer holds at most unless asked otherwise: beyond it, buckets
MAX_POINTS = 2000
_IN_CHUNK = 500  # hours or days per "IN (...)" look-up


class HistoryError(ValueError):
    """A bad argument to the store: the message names it and what would be valid."""


@dataclass
class Series:
    """A series over [start, end): raw ``points`` (``time``, ``value``) when few, else
    ``buckets`` of ``step`` seconds (``time`` = bucket start, ``min``, ``mean``, ``max``,
    ``count``). ``source``: "raw", "downsampled" (per-minute aggregates past the raw
    retention) or "raw+downsampled"."""

    name: str
    start: float
    end: float
    kind: str  # "points" | "buckets"
    source: str
    time: np.ndarray
    value: np.ndarray | None = None
    min: np.ndarray | None = None
    mean: np.ndarray | None = None
    max: np.ndarray | None = None
    count: np.ndarray | None = None
    step: float | None = None


def _ms(seconds: float | np.ndarray) -> np.ndarray:
    return np.round(np.asarray(seconds, dtype=np.float64) * 1000.0).astype(np.int64)


def buckets(name: str, source: str, start: float, end: float, at: np.ndarray, lo: np.ndarray, hi: np.ndarray,
            count: np.ndarray, total: np.ndarray, max_points: int = MAX_POINTS, step: float | None = None,
            whole_minutes: bool = False) -> Series:
    """Aggregates (``at`` epoch ms, ``lo`` min, ``hi`` max, ``count`` readings, ``total``
    their sum; a raw reading is one of count 1) reduced into the ``buckets`` Series of
    [start, end): buckets of ``step`` seconds from ``start``, at least what keeps the
    answer within ``max_points``, in whole milliseconds (whole minutes when
    ``whole_minutes``); only buckets holding a reading are listed. The one bucketing
    rule of the history: the store's series and a replay's readings (the history API)."""
    t0, t1 = int(_ms(start)), int(_ms(end))
    step_ms = max(int(_ms(step or 0)), -(-(t1 - t0) // max_points), 1)
    if whole_minutes:
        step_ms = -(-step_ms // MINUTE_MS) * MINUTE_MS
    b = (np.asarray(at, dtype=np.int64) - t0) // step_ms
    o = np.argsort(b, kind="stable")
    b, lo, hi, count, total = b[o], lo[o], hi[o], count[o], total[o]
    if not len(b):
        return Series(name, start, end, "buckets", source, np.empty(0), min=np.empty(0, np.float32), mean=np.empty(0),
                      max=np.empty(0, np.float32), count=np.empty(0, np.int64), step=step_ms / 1000.0)
    first = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
    n = np.add.reduceat(count, first)
    return Series(name, start, end, "buckets", source, (t0 + b[first] * step_ms) / 1000.0,
                  min=np.minimum.reduceat(lo, first), mean=np.add.reduceat(total, first) / n,
                  max=np.maximum.reduceat(hi, first), count=n, step=step_ms / 1000.0)


#: what a stored batch survives (``[history] durability``): "process", a killed process
#: (the default); "power", a power cut too (fsync at every batch, SQLite synchronous=FULL)
DURABILITIES = ("process", "power")


def _connect(path: Path, readonly: bool = False, durability: str = "process") -> sqlite3.Connection:
    if readonly:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False, timeout=30.0)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    db.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL: a commit survives a killed process; fsync happens at checkpoints. The
    # pending log has the same promise, so the store's is one: up to the last batch.
    # "power": FULL fsyncs the WAL at each commit, as the pending log is at each batch.
    db.execute("PRAGMA synchronous=FULL" if durability == "power" else "PRAGMA synchronous=NORMAL")
    return db


class Store:
    """One history folder. Thread-safe: one thread appends (the writer), any may query.

    ``readonly``: for another process while the twin writes (``twin history export``),
    or a server replaying a recording: it reads the database and a snapshot of the
    pending logs taken when opened, and changes nothing (no recovery, no writes)."""

    def __init__(self, folder: Path, raw_days: float = 30.0, minute_days: float = 730.0, seal_grace: float = 120.0,
                 readonly: bool = False, durability: str = "process") -> None:
        if not raw_days > 0 or not minute_days >= raw_days:
            raise HistoryError(f"retention: raw_days {raw_days} must be > 0 and minute_days {minute_days} >= raw_days")
        if durability not in DURABILITIES:
            raise HistoryError(f"durability must be one of {', '.join(DURABILITIES)}, not {durability!r}")
        self.durability = durability
        self.folder = Path(folder)
        self.readonly = readonly
        self.raw_days, self.minute_days = raw_days, minute_days
        self.grace_ms = int(seal_grace * 1000)
        self.path = self.folder / "history.sqlite"
        if readonly and not self.path.exists():
            raise HistoryError(f"{self.folder}: no history store here (no history.sqlite); a live `twin serve` writes one")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()  # the pending list and the log: held briefly, queries take it too
        # appends, seals, pruning and new keys, one at a time: a seal encodes an hour outside
        # ``_lock``, so that queries are not kept waiting for seconds
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self.db = _connect(self.path, readonly, durability)
        if not readonly:
            self.db.executescript(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER);"
                "CREATE TABLE IF NOT EXISTS series (key INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, domain TEXT);"
                "CREATE TABLE IF NOT EXISTS raw (hour INTEGER, series INTEGER, n INTEGER, data BLOB,"
                " PRIMARY KEY (hour, series)) WITHOUT ROWID;"
                "CREATE TABLE IF NOT EXISTS minute (day INTEGER, series INTEGER, n INTEGER, data BLOB,"
                " PRIMARY KEY (day, series)) WITHOUT ROWID;")
            if "domain" not in [c[1] for c in self.db.execute("PRAGMA table_info(series)")]:
                self.db.execute("ALTER TABLE series ADD COLUMN domain TEXT")  # a store written before series had domains
        self._keys: dict[str, int] = dict(self.db.execute("SELECT name, key FROM series").fetchall())
        self.pending: list[Batch] = []
        self._loose = 0  # batches appended to ``pending`` since the last join
        self.pending_readings = 0
        self._oldest_ms = 2**62  # of the pending readings
        if readonly:
            self._snapshot()
        else:
            self._recover()

    # -- the pending log -------------------------------------------------------------
    def _meta(self, key: str, default: int = 0) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return int(row[0]) if row else default

    def _recover(self) -> None:
        """Replay the pending logs a previous process left (see twin.history.log), then
        carry what they held into a fresh generation."""
        committed = self._meta("log_gen")
        gens = generations(self.folder)
        for g in gens:
            if g < committed:
                log_path(self.folder, g).unlink()
                continue
            batches, _good = read(log_path(self.folder, g), skip_carried=g > committed)
            for b in batches:
                self._add_pending(b)
        gen = max([committed, *gens]) + 1
        self.log = PendingLog(self.folder, gen)
        if self.pending:
            self.log.append(self._concat(self.pending), CARRIED)
        self._sync_log(new_file=True)
        self._set_gen(gen)

    def _snapshot(self) -> None:
        """Read-only: take the pending logs' readings as they are (a log that a writer
        seals and removes meanwhile is read again from the new committed generation)."""
        for _attempt in range(5):
            committed = self._meta("log_gen")
            try:
                batches = [b for g in generations(self.folder) if g >= committed
                           for b in read(log_path(self.folder, g), skip_carried=g > committed)[0]]
            except FileNotFoundError:
                continue
            for b in batches:
                self._add_pending(b)
            return
        raise HistoryError(f"{self.folder}: the pending logs kept changing while read; try again")

    def _set_gen(self, gen: int) -> None:
        """Commit ``gen`` as the live log (called inside or outside a transaction) and
        remove the older ones."""
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('log_gen', ?)", (gen,))
        for g in generations(self.folder):
            if g < gen:
                log_path(self.folder, g).unlink()

    @staticmethod
    def _concat(batches: list[Batch]) -> Batch:
        return tuple(np.concatenate([b[i] for b in batches]) for i in range(4))  # type: ignore[return-value]

    # -- series keys -----------------------------------------------------------------
    def keys(self, names: Sequence[str], domain: str | None = None) -> np.ndarray:
        """The int32 key of each series name, creating keys for new names (of ``domain``,
        the domain whose sensor or asset the series is of, when given)."""
        with self._write_lock, self._lock:
            new = [n for n in dict.fromkeys(names) if n not in self._keys]
            if new:
                self._writable("keys")
                self.db.execute("BEGIN")
                self.db.executemany("INSERT INTO series (name, domain) VALUES (?, ?)", [(n, domain) for n in new])
                self.db.execute("COMMIT")
                self._keys.update(self.db.execute(
                    f"SELECT name, key FROM series WHERE key > {max(self._keys.values(), default=0)}").fetchall())
            return np.array([self._keys[n] for n in names], dtype=np.int32)

    def key(self, name: str) -> int | None:
        """The key of a known series, or None."""
        with self._lock:
            return self._keys.get(name)

    def catalogue(self, domain: str | None = None) -> dict[int, tuple[str, str | None]]:
        """Every series' key, name and domain (of ``domain`` only, when given)."""
        db = self._reader()
        rows = db.execute("SELECT key, name, domain FROM series" + (" WHERE domain = ?" if domain is not None else ""),
                          () if domain is None else (domain,)).fetchall()
        return {key: (name, dom) for key, name, dom in rows}

    def _writable(self, what: str) -> None:
        if self.readonly:
            raise HistoryError(f"{what}: this history store is open read-only")

    # -- writing ---------------------------------------------------------------------
    def append(self, series: np.ndarray, time: np.ndarray, value: np.ndarray, quality: np.ndarray | None = None) -> None:
        """Append a batch (series keys from :meth:`keys`, times in epoch seconds). It
        survives a killed process once this returns. Hours that the batch's newest time
        has passed by ``seal_grace`` are sealed into blobs here."""
        n = len(series)
        if not (len(time) == len(value) == n and (quality is None or len(quality) == n)):
            raise HistoryError(f"append: series, time, value and quality must have one length, got "
                               f"{n}, {len(time)}, {len(value)}, {n if quality is None else len(quality)}")
        if n == 0:
            return
        self._writable("append")
        batch = (np.asarray(series, dtype=np.int32), _ms(time), np.asarray(value, dtype=np.float32),
                 np.zeros(n, np.uint8) if quality is None else np.asarray(quality).astype(np.uint8))
        with self._write_lock:
            with self._lock:
                self.log.append(batch)
                self._sync_log()
                self._add_pending(batch)
                newest = int(batch[1].max())
            cutoff = (newest - self.grace_ms) // HOUR_MS  # hours before this one are sealed
            if self._oldest_pending_hour() < cutoff:
                self.seal(cutoff)

    def _sync_log(self, new_file: bool = False) -> None:
        """With durability "power", put what the pending log holds on the disk (and, for a
        new generation's file, its name in the folder) before the batch counts as stored."""
        if self.durability != "power":
            return
        os.fsync(self.log.file.fileno())
        if new_file:
            folder = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)

    def _add_pending(self, batch: Batch) -> None:
        """Keep ``batch`` in memory for queries until sealed; many small batches (one a
        tick) are joined now and then, so a query filters a few arrays, not thousands."""
        self.pending.append(batch)
        self.pending_readings += len(batch[0])
        self._oldest_ms = min(self._oldest_ms, int(batch[1].min()))
        self._loose += 1
        if self._loose >= 64:
            # only the loose batches are joined: joining everything pending each time
            # would copy an hour of readings every minute, holding the GIL from the tick
            self.pending[-self._loose:] = [self._concat(self.pending[-self._loose:])]
            self._loose = 0

    def _oldest_pending_hour(self) -> int:
        with self._lock:
            return self._oldest_ms // HOUR_MS if self.pending else 2**62

    def flush(self) -> None:
        """Seal every pending reading now (a partial hour too; later readings of that
        hour are merged into its blobs)."""
        self.seal(2**62)

    def seal(self, cutoff_hour: int) -> int:
        """Move pending readings of hours before ``cutoff_hour`` into blobs, in one
        transaction with the switch to a new log generation. Returns readings sealed."""
        self._writable("seal")
        with self._write_lock:  # nothing is appended meanwhile: what is pending now is what gets swapped
            with self._lock:
                if not self.pending:
                    return 0
                pending = list(self.pending)
            sensor, t, value, quality = self._concat(pending)
            hour = t // HOUR_MS
            now = hour < cutoff_hour
            if not now.any():
                return 0
            keep = ~now
            rows = self._encode(sensor[now], t[now], value[now], quality[now])  # the long part, outside ``_lock``
            left = (sensor[keep], t[keep], value[keep], quality[keep])
            return self._swap(rows, left, int(now.sum()))

    def _swap(self, rows: list[tuple[int, int, int, bytes]], left: Batch, sealed: int) -> int:
        """Commit sealed ``rows`` with a new log generation holding ``left``, and keep
        ``left`` as what is pending. The blobs are written before ``_lock`` is taken (a
        transaction no reader sees until it commits), so queries wait for the commit only."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany("INSERT OR REPLACE INTO raw VALUES (?,?,?,?)", rows)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        with self._lock:
            old = self.log
            gen = old.gen + 1
            try:
                self.log = PendingLog(self.folder, gen)
                if len(left[0]):
                    self.log.append(left, CARRIED)
                self._sync_log(new_file=True)
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('log_gen', ?)", (gen,))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                if self.log is not old:
                    self.log.close()
                log_path(self.folder, gen).unlink(missing_ok=True)
                self.log = old
                raise
            old.close()
            log_path(self.folder, old.gen).unlink(missing_ok=True)
            self.pending = [left] if len(left[0]) else []
            self._loose = 0
            self.pending_readings = len(left[0])
            self._oldest_ms = int(left[1].min()) if len(left[0]) else 2**62
            return sealed

    def _encode(self, sensor: np.ndarray, t: np.ndarray, value: np.ndarray, quality: np.ndarray) -> list[tuple[int, int, int, bytes]]:
        """(hour, series, n, blob) rows of readings, merged with rows already stored for
        the same (hour, series) (late readings, a flushed partial hour)."""
        hour = t // HOUR_MS
        h0 = int(hour.min())
        group = ((hour - h0) << 32) | sensor.astype(np.int64)
        order = np.argsort(group, kind="stable")  # arrival order kept within a group: nearly always time order
        group, t, value, quality = group[order], t[order], value[order], quality[order]
        starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
        counts = np.diff(np.r_[starts, len(group)])
        g_hour = (group[starts] >> 32) + h0
        g_series = group[starts] & 0xFFFFFFFF
        # existing rows of these (hour, series): merged, then rewritten
        existing: dict[tuple[int, int], tuple[int, bytes]] = {}
        for h in np.unique(g_hour).tolist():
            for s, n, data in self.db.execute("SELECT series, n, data FROM raw WHERE hour=?", (h,)):
                existing[(h, s)] = (n, data)
        disorder = np.r_[False, (np.diff(t) < 0) & (group[1:] == group[:-1])]
        merge = np.zeros(len(starts), dtype=bool)
        if existing or disorder.any():
            bad = set(np.searchsorted(starts, np.flatnonzero(disorder), side="right") - 1)
            for i, (h, s) in enumerate(zip(g_hour.tolist(), g_series.tolist())):
                merge[i] = (h, s) in existing or i in bad
        rows: list[tuple[int, int, int, bytes]] = []
        for c in np.unique(counts[~merge]).tolist():  # groups of one size together: one numpy pass
            idx = np.flatnonzero((counts == c) & ~merge)
            take = starts[idx][:, None] + np.arange(c)
            blobs = codec.encode_rows(g_hour[idx] * HOUR_MS, t[take], value[take], quality[take])
            rows.extend(zip(g_hour[idx].tolist(), g_series[idx].tolist(), [c] * len(idx), blobs))
        for i in np.flatnonzero(merge).tolist():
            h, s, a, c = int(g_hour[i]), int(g_series[i]), int(starts[i]), int(counts[i])
            tt, vv, qq = t[a:a + c], value[a:a + c], quality[a:a + c]
            if (h, s) in existing:
                n, data = existing[(h, s)]
                t2, v2, q2 = codec.decode(h * HOUR_MS, n, data)
                tt, vv, qq = np.r_[t2, tt], np.r_[v2, vv], np.r_[q2, qq]
            o = np.argsort(tt, kind="stable")
            rows.append((h, s, len(tt), codec.encode(h * HOUR_MS, tt[o], vv[o], qq[o])))
        return rows

    # -- reading ---------------------------------------------------------------------
    def _reader(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = _connect(self.path, self.readonly)
            self._local.db = db
            with self._lock:
                self._readers.append(db)
        return db

    @staticmethod
    def _lookups(db: sqlite3.Connection, table: str, unit: str, first: int, last: int, key: int, lo: int | None) -> list[tuple]:
        """Rows of ``table`` for ``key`` with ``unit`` (hour or day) in [first, last]:
        one point look-up per unit, ``lo`` the oldest unit stored (None: none)."""
        if lo is None:
            return []
        first = max(first, lo)
        out: list[tuple] = []
        for a in range(first, last + 1, _IN_CHUNK):
            units = ",".join(str(u) for u in range(a, min(last, a + _IN_CHUNK - 1) + 1))
            out += db.execute(f"SELECT {unit}, n, data FROM {table} WHERE {unit} IN ({units}) AND series=? ORDER BY {unit}",
                              (key,)).fetchall()
        return out

    def raw(self, key: int, start: float, end: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw readings of series ``key`` in [start, end): (time s, value, quality), by time."""
        t0, t1 = int(_ms(start)), int(_ms(end))
        t, v, q = self._raw_ms(key, t0, t1)
        return t / 1000.0, v, q

    def _raw_ms(self, key: int, t0: int, t1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if t1 <= t0:
            return np.empty(0, np.int64), np.empty(0, np.float32), np.empty(0, np.uint8)
        with self._lock:
            pending = list(self.pending)  # taken before the DB read: a seal between duplicates, never loses
        db = self._reader()
        db.execute("BEGIN")
        try:
            lo = db.execute("SELECT min(hour) FROM raw").fetchone()[0]
            rows = self._lookups(db, "raw", "hour", t0 // HOUR_MS, (t1 - 1) // HOUR_MS, key, lo)
        finally:
            db.execute("COMMIT")
        ts, vs, qs = [], [], []
        for h, n, data in rows:
            t, v, q = codec.decode(h * HOUR_MS, n, data)
            ts.append(t), vs.append(v), qs.append(q)
        for s, t, v, q in pending:
            m = (s == key) & (t >= t0) & (t < t1)
            if m.any():
                ts.append(t[m]), vs.append(v[m]), qs.append(q[m])
        if not ts:
            return np.empty(0, np.int64), np.empty(0, np.float32), np.empty(0, np.uint8)
        t, v, q = np.concatenate(ts), np.concatenate(vs), np.concatenate(qs)
        o = np.argsort(t, kind="stable")
        t, v, q = t[o], v[o], q[o]
        keep = (t >= t0) & (t < t1) & np.r_[True, t[1:] != t[:-1]]
        return t[keep], v[keep], q[keep]

    def hour(self, hour: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every series' raw readings of one hour (``hour`` counts hours since the epoch),
        sealed and pending: (series key int32, time int64 ms, value float32), ordered
        by series and time (an export reads the store hour by hour)."""
        with self._lock:
            pending = list(self.pending)
        db = self._reader()
        ss, ts, vs = [], [], []
        for key, n, data in db.execute("SELECT series, n, data FROM raw WHERE hour=?", (hour,)):
            t, v, _q = codec.decode(hour * HOUR_MS, n, data)
            ss.append(np.full(n, key, np.int32)), ts.append(t), vs.append(v)
        for key_, t, v, _q in pending:
            m = (t >= hour * HOUR_MS) & (t < (hour + 1) * HOUR_MS)
            if m.any():
                ss.append(key_[m]), ts.append(t[m]), vs.append(v[m])
        if not ss:
            return np.empty(0, np.int32), np.empty(0, np.int64), np.empty(0, np.float32)
        key, t, v = np.concatenate(ss), np.concatenate(ts), np.concatenate(vs)
        o = np.lexsort((t, key))
        key, t, v = key[o], t[o], v[o]
        keep = np.r_[True, (key[1:] != key[:-1]) | (t[1:] != t[:-1])]  # a seal between the two reads: twice
        return key[keep], t[keep], v[keep]

    def extent(self) -> tuple[float, float] | None:
        """The times (epoch s) of the oldest and newest hour or day the store holds
        anything of, raw or per minute (the end is exclusive); None when empty."""
        db = self._reader()
        hours = db.execute("SELECT min(hour), max(hour) FROM raw").fetchone()
        days = db.execute("SELECT min(day), max(day) FROM minute").fetchone()
        spans = [(hours[0] * HOUR_MS, (hours[1] + 1) * HOUR_MS)] if hours[0] is not None else []
        spans += [(days[0] * DAY_MS, (days[1] + 1) * DAY_MS)] if days[0] is not None else []
        with self._lock:
            pending = list(self.pending)
        spans += [(int(p[1].min()), int(p[1].max()) + 1) for p in pending if len(p[1])]
        if not spans:
            return None
        return min(a for a, _ in spans) / 1000.0, max(b for _, b in spans) / 1000.0

    def day_minutes(self, day: int) -> tuple[np.ndarray, ...]:
        """Every series' per-minute aggregates of one day (days since the epoch): (series
        key int32, minute start int64 ms, min, mean, max float32, count uint32)."""
        parts = [(key, codec.decode_minutes(day * DAY_MS, n, data))
                 for key, n, data in self._reader().execute("SELECT series, n, data FROM minute WHERE day=? ORDER BY series",
                                                            (day,))]
        if not parts:
            return (np.empty(0, np.int32), np.empty(0, np.int64), *(np.empty(0, np.float32) for _ in range(3)),
                    np.empty(0, np.uint32))
        key = np.concatenate([np.full(len(p[0]), k, np.int32) for k, p in parts])
        return (key, *(np.concatenate([p[i] for _, p in parts]) for i in range(5)))

    def minutes(self, key: int, start: float, end: float) -> tuple[np.ndarray, ...]:
        """Per-minute aggregates of series ``key`` in [start, end) past the raw
        retention: (minute start s, min, mean, max, count)."""
        t0, t1 = int(_ms(start)), int(_ms(end))
        return (lambda m, *rest: (m / 1000.0, *rest))(*self._minutes_ms(key, t0, t1))

    def _minutes_ms(self, key: int, t0: int, t1: int) -> tuple[np.ndarray, ...]:
        db = self._reader()
        lo = db.execute("SELECT min(day) FROM minute").fetchone()[0]
        rows = self._lookups(db, "minute", "day", t0 // DAY_MS, (t1 - 1) // DAY_MS, key, lo) if t1 > t0 else []
        parts = [codec.decode_minutes(d * DAY_MS, n, data) for d, n, data in rows]
        if not parts:
            return np.empty(0, np.int64), *(np.empty(0, np.float32) for _ in range(3)), np.empty(0, np.uint32)
        cols = [np.concatenate([p[i] for p in parts]) for i in range(5)]
        keep = (cols[0] >= t0) & (cols[0] < t1)
        return tuple(c[keep] for c in cols)

    def series(self, name: str, start: float, end: float, max_points: int = MAX_POINTS, step: float | None = None) -> Series:
        """Series ``name`` over [start, end): raw points when at most ``max_points`` and
        no ``step`` is asked, else buckets of ``step`` seconds (at least what keeps the
        answer within ``max_points``; whole minutes where downsampled data is involved)."""
        if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
            raise HistoryError(f"series {name!r}: the range needs finite from < to, got from={start} to={end}")
        if max_points < 1:
            raise HistoryError(f"series {name!r}: max_points must be at least 1, got {max_points}")
        if step is not None and not step > 0:
            raise HistoryError(f"series {name!r}: step must be a positive number of seconds, got {step}")
        key = self.key(name)
        t0, t1 = int(_ms(start)), int(_ms(end))
        if key is None:
            return Series(name, start, end, "points", "raw", np.empty(0), np.empty(0, np.float32))
        t, v, _q = self._raw_ms(key, t0, t1)
        m = self._minutes_ms(key, t0, t1)
        source = "+".join(s for s, a in (("raw", t), ("downsampled", m[0])) if len(a)) or "raw"
        if step is None and not len(m[0]) and len(t) <= max_points:
            return Series(name, start, end, "points", source, t / 1000.0, v)
        # raw readings as one-reading aggregates, then both reduced per bucket
        return buckets(name, source, start, end, np.r_[m[0], t], np.r_[m[1], v], np.r_[m[3], v],
                       np.r_[m[4].astype(np.int64), np.ones(len(t), np.int64)],
                       np.r_[m[2].astype(np.float64) * m[4], v.astype(np.float64)], max_points, step, bool(len(m[0])))

    # -- retention -------------------------------------------------------------------
    def prune(self, now: float, budget: int = 4_000_000) -> dict[str, int]:
        """Apply the retention at ``now`` (epoch s): every whole day of raw readings older
        than ``raw_days`` becomes per-minute aggregates (one transaction per day), and
        aggregates older than ``minute_days`` go. A day is read ``budget`` readings at a
        time at most (a series per sensor a minute and one a second differ 60 times).
        Returns what it did."""
        self._writable("prune")
        now_ms = int(_ms(now))
        raw_cut = (now_ms - int(self.raw_days * DAY_MS)) // DAY_MS  # days before this one leave raw
        minute_cut = (now_ms - int(self.minute_days * DAY_MS)) // DAY_MS
        done = {"days_downsampled": 0, "raw_rows_removed": 0, "minute_rows_removed": 0}
        with self._write_lock:
            # pending readings that old are sealed first, so that nothing escapes the pruning
            if self._oldest_pending_hour() < raw_cut * 24:
                self.seal(raw_cut * 24)
            lo = self.db.execute("SELECT min(hour) FROM raw").fetchone()[0]
            day = None if lo is None else lo // 24
            while day is not None and day < raw_cut:
                self.db.execute("BEGIN IMMEDIATE")
                try:
                    self._downsample_day(day, budget)
                    done["raw_rows_removed"] += self.db.execute("DELETE FROM raw WHERE hour >= ? AND hour < ?",
                                                                (day * 24, day * 24 + 24)).rowcount
                    self.db.execute("COMMIT")
                except BaseException:
                    self.db.execute("ROLLBACK")
                    raise
                done["days_downsampled"] += 1
                nxt = self.db.execute("SELECT min(hour) FROM raw").fetchone()[0]
                day = None if nxt is None else nxt // 24
            done["minute_rows_removed"] = self.db.execute("DELETE FROM minute WHERE day < ?", (minute_cut,)).rowcount
        return done

    def _downsample_day(self, day: int, budget: int) -> None:
        """Per-minute aggregates of every series' raw readings of ``day``, a run of series
        holding at most ``budget`` readings at a time (a day of 100,000 sensors, or of a
        thousand reporting every second, does not fit in memory at once)."""
        h0 = day * 24
        counts = self.db.execute("SELECT series, sum(n) FROM raw WHERE hour >= ? AND hour < ? GROUP BY series ORDER BY series",
                                 (h0, h0 + 24)).fetchall()
        runs: list[tuple[int, int]] = []  # (first key, last key) of each run
        held = 0
        for key, n in counts:
            if runs and held + n <= budget:
                runs[-1] = (runs[-1][0], key)
                held += n
            else:
                runs.append((key, key))
                held = n
        for lo_key, hi_key in runs:
            ss, ts, vs = [], [], []
            for h in range(h0, h0 + 24):
                for s, n, data in self.db.execute("SELECT series, n, data FROM raw WHERE hour=? AND series BETWEEN ? AND ?",
                                                  (h, lo_key, hi_key)):
                    t, v, _q = codec.decode(h * HOUR_MS, n, data)
                    ss.append(np.full(n, s, np.int64)), ts.append(t), vs.append(v)
            if not ss:
                continue
            s, t, v = np.concatenate(ss), np.concatenate(ts), np.concatenate(vs)
            minute = t // MINUTE_MS
            o = np.lexsort((minute, s))
            s, minute, v = s[o], minute[o], v[o]
            first = np.flatnonzero(np.r_[True, (s[1:] != s[:-1]) | (minute[1:] != minute[:-1])])
            count = np.diff(np.r_[first, len(s)]).astype(np.uint32)
            lo, hi = np.minimum.reduceat(v, first), np.maximum.reduceat(v, first)
            mean = (np.add.reduceat(v.astype(np.float64), first) / count).astype(np.float32)
            ms, gs = minute[first] * MINUTE_MS, s[first]
            bounds = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])
            rows = []
            for i, j in zip(bounds.tolist(), np.r_[bounds[1:], len(gs)].tolist()):
                key = int(gs[i])
                m, l_, me, h_, c = ms[i:j], lo[i:j], mean[i:j], hi[i:j], count[i:j]
                old = self.db.execute("SELECT n, data FROM minute WHERE day=? AND series=?", (day, key)).fetchone()
                if old is not None:  # a day pruned before, then late readings of it came
                    p = codec.decode_minutes(day * DAY_MS, old[0], old[1])
                    m, l_, me, h_, c = (np.r_[x, y] for x, y in zip(p, (m, l_, me, h_, c)))
                    o2 = np.argsort(m, kind="stable")
                    m, l_, me, h_, c = m[o2], l_[o2], me[o2], h_[o2], c[o2]
                rows.append((day, key, len(m), codec.encode_minutes(day * DAY_MS, m, l_, me, h_, c)))
            self.db.executemany("INSERT OR REPLACE INTO minute VALUES (?,?,?,?)", rows)

    # -- housekeeping ------------------------------------------------------------------
    def bytes_on_disk(self) -> int:
        """Allocated bytes of the store's files (the database, its WAL, the pending log)."""
        return sum(p.stat().st_blocks * 512 for p in self.folder.iterdir() if p.is_file())

    def close(self) -> None:
        """Close the files; pending readings stay in the log for the next open."""
        with self._write_lock, self._lock:
            if not self.readonly:
                self.log.close()
            for db in self._readers:
                db.close()
            self._readers.clear()
            self.db.close()
