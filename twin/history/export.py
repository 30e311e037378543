"""``twin history export``: a time range of the history store as one Parquet file, for
engineers (DuckDB, pandas, Excel through Power Query).

One row per reading or per-minute aggregate, whichever the store holds for that time:

==========  ===========================  ==================================================
column      type                         meaning
==========  ===========================  ==================================================
series      string (dictionary)          a sensor id, or ``<domain>/<asset>/<field>``
domain      string (dictionary)          the domain of its sensor or asset
t           double                       epoch seconds (a per-minute row: the minute's start)
v           float                        the value (a per-minute row: the mean)
min, max    float                        = v for a reading; the minute's extremes
count       uint32                       1 for a reading; the readings the minute held
source      string (dictionary)          ``raw`` or ``minutes``
==========  ===========================  ==================================================

Rows come hour by hour (days, where the raw readings were already downsampled), each
ordered by series and time. The store is opened read-only, so a twin that is serving
keeps writing meanwhile; the file is written beside ``OUT`` and renamed when complete.
"""

from __future__ import annotations

import datetime
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from twin.history.store import DAY_MS, HOUR_MS, HistoryError, Store


def parse_time(text: str, name: str) -> float:
    """Epoch seconds from ``text``: a number, or RFC 3339 with its zone; HistoryError
    naming ``name`` otherwise."""
    try:
        value = float(text)
    except ValueError:
        try:
            moment = datetime.datetime.fromisoformat(text.strip())
        except ValueError:
            raise HistoryError(f"{name}: give epoch seconds or an RFC 3339 time with its zone (2026-01-01T08:00:00+08:00), "
                               f"not {text[:40]!r}") from None
        if moment.tzinfo is None:
            raise HistoryError(f"{name}: {text[:40]!r} has no time zone; add Z or an offset such as +08:00") from None
        value = moment.timestamp()
    if not math.isfinite(value):
        raise HistoryError(f"{name}: must be a finite time, not {text[:40]!r}")
    return value


def export(store: Store, out: Path, start: float, end: float, domain: str | None = None,
           progress: Callable[[str], None] = lambda line: None) -> dict[str, int]:
    """Write the store's readings and aggregates in [start, end) (of ``domain``'s series
    only, when given) to ``out``; returns the rows written by source."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not end > start:
        raise HistoryError(f"the range is empty: --from ({start:.15g}) must come before --to ({end:.15g})")
    catalogue = store.catalogue(domain)
    if domain is not None and not catalogue:
        known = sorted({d for _n, d in store.catalogue().values() if d})
        raise HistoryError(f"--domain {domain!r}: the history holds no series of it; it holds {', '.join(known) or 'none'}")
    keys = np.array(sorted(catalogue), dtype=np.int64)
    names = pa.array([catalogue[k][0] for k in keys.tolist()], pa.string())
    domains = sorted({d or "" for _n, d in catalogue.values()})
    domain_of = np.array([domains.index(catalogue[k][1] or "") for k in keys.tolist()], dtype=np.int32)
    dictionary = pa.dictionary(pa.int32(), pa.string())
    schema = pa.schema([("series", dictionary), ("domain", dictionary), ("t", pa.float64()), ("v", pa.float32()),
                        ("min", pa.float32()), ("max", pa.float32()), ("count", pa.uint32()), ("source", dictionary)])
    extent = store.extent()
    # only the days the store holds anything of are read (a --from of 0 reads no 1970)
    t0, t1 = round(max(start, extent[0] if extent else end) * 1000), round(min(end, extent[1] if extent else end) * 1000)
    written = {"raw": 0, "minutes": 0}
    part = out.with_name(out.name + ".part")

    def rows(key: np.ndarray, t: np.ndarray, v: np.ndarray, lo: np.ndarray, hi: np.ndarray, count: np.ndarray, source: str) -> None:
        m = (t >= t0) & (t < t1) & np.isin(key, keys)
        if not m.any():
            return
        pos = np.searchsorted(keys, key[m]).astype(np.int32)
        n = int(m.sum())
        writer.write_table(pa.table({
            "series": pa.DictionaryArray.from_arrays(pa.array(pos), names),
            "domain": pa.DictionaryArray.from_arrays(pa.array(domain_of[pos]), pa.array(domains, pa.string())),
            "t": pa.array(t[m] / 1000.0), "v": pa.array(v[m]), "min": pa.array(lo[m]), "max": pa.array(hi[m]),
            "count": pa.array(count[m].astype(np.uint32)),
            "source": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([source])),
        }, schema=schema))
        written[source] += n

    try:
        with pq.ParquetWriter(part, schema, compression="zstd") as writer:
            for day in range(t0 // DAY_MS, (t1 - 1) // DAY_MS + 1) if t1 > t0 else ():
                before = dict(written)
                key, minute, lo, mean, hi, count = store.day_minutes(day)
                rows(key, minute, mean, lo, hi, count, "minutes")
                for hour in range(max(day * 24, t0 // HOUR_MS), min(day * 24 + 24, (t1 - 1) // HOUR_MS + 1)):
                    key, t, v = store.hour(hour)
                    rows(key, t, v, v, v, np.ones(len(t), np.uint32), "raw")
                if written != before:  # days without any are not news
                    progress(f"{datetime.datetime.fromtimestamp(day * 86400, datetime.UTC):%Y-%m-%d}: "
                             f"{written['raw'] - before['raw']:,} readings, {written['minutes'] - before['minutes']:,} per-minute rows")
        os.replace(part, out)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return written
