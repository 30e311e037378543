"""Historical fields: the state a plugin marks ``historical`` on its fields, sampled per
asset into the history store (issue 14).

A field's value is news when it moved by at least the field's ``resolution`` since the
value last stored for that asset (historians call it exception deviation); the first
finite value is news too. An asset's fields are stored at most once per ``interval``
seconds (a burst of changes is not a burst of rows), and a field that stays quiet is
stored again after ``heartbeat`` seconds, so that a chart of any window holds points.
NaN and infinity are never stored (a quarantined plugin's stale output is not history).

Series names: ``<domain>/<asset>/<field>``; sensor ids hold no ``/`` (they are one level
of an MQTT topic), so the two kinds of series never collide.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _sample(now, values, resolution, keys, last, stored_at, next_due, interval, heartbeat, out_keys, out_values):  # pragma: no cover
    """One pass over a domain's rows that are due (``next_due <= now``): each field whose
    value ``values[field, row]`` is finite and is news (no value stored yet, a move of at
    least its resolution since the stored one, or ``heartbeat`` seconds since it was
    stored) is written to ``out_keys``/``out_values`` and becomes the stored value; a row
    that stored anything is due again ``interval`` later. Returns how many were written."""
    n = 0
    fields, rows = values.shape
    for i in range(rows):
        if next_due[i] > now:
            continue
        stored = False
        for j in range(fields):
            v = values[j, i]
            if not np.isfinite(v):
                continue
            before = last[j, i]
            if before != before or (v != before and abs(v - before) >= resolution[j]) or now - stored_at[j, i] >= heartbeat:
                last[j, i] = v
                stored_at[j, i] = now
                out_keys[n] = keys[j, i]
                out_values[n] = v
                n += 1
                stored = True
        if stored:
            next_due[i] = now + interval
    return n


def field_series(domain: str, asset: str, field: str) -> str:
    """The series name of an asset's historical field."""
    return f"{domain}/{asset}/{field}"


def is_historical(spec: object) -> bool:
    """A live field a plugin marks ``historical`` (``FieldSpec.historical``; a FieldSpec
    of a core without that flag has none)."""
    return bool(getattr(spec, "historical", False)) and not getattr(spec, "attribute", False)


def resolution(spec: object) -> float:
    """The smallest change of a field that is news (``FieldSpec.resolution``; 0, any
    change, where the field declares none)."""
    value = getattr(spec, "resolution", 0.0) or 0.0
    return float(value) if np.isfinite(value) and value > 0 else 0.0


@dataclass
class _Domain:
    name: str
    fields: list[str]
    table: object  # its state table: columns are looked up each pass (a column may be replaced)
    resolution: np.ndarray  # [fields]
    keys: np.ndarray  # [fields, rows] int32
    last: np.ndarray  # [fields, rows] the value last stored, NaN before the first
    stored_at: np.ndarray  # [fields, rows] when it was stored, -inf before
    next_due: np.ndarray  # [rows] no row is stored again before this time
    values: np.ndarray  # [fields, rows] this tick's values, as float64 (the columns' dtypes differ)
    out_keys: np.ndarray  # [fields * rows] what one pass writes
    out_values: np.ndarray


class FieldSampler:
    """Samples the historical fields of every domain's table, one call a tick."""

    def __init__(self, tables: Mapping[str, object], keys: Callable[[Sequence[str], str], np.ndarray],
                 interval: float = 10.0, heartbeat: float = 600.0) -> None:
        """``tables``: domain name -> its state table (``ids``, ``specs``, ``columns``);
        ``keys(names, domain)``: the store's keys of series names (created if new)."""
        self.interval, self.heartbeat = float(interval), float(heartbeat)
        self.domains: list[_Domain] = []
        for name, table in tables.items():
            specs = [s for s in table.specs.values() if is_historical(s)]  # type: ignore[attr-defined]
            ids: list[str] = table.ids  # type: ignore[attr-defined]
            if not specs or not ids:
                continue
            names = [field_series(name, asset, s.name) for s in specs for asset in ids]
            shape = (len(specs), len(ids))
            self.domains.append(_Domain(
                name, [s.name for s in specs], table,
                np.array([resolution(s) for s in specs]), keys(names, name).reshape(shape),
                np.full(shape, np.nan), np.full(shape, -np.inf), np.full(shape[1], -np.inf), np.full(shape, np.nan),
                np.full(shape[0] * shape[1], 0, dtype=np.int32), np.full(shape[0] * shape[1], np.nan)))

    @property
    def series(self) -> int:
        """How many field series it feeds."""
        return sum(d.keys.size for d in self.domains)

    def sample(self, now: float) -> tuple[np.ndarray, np.ndarray] | None:
        """(series keys, values) to store at ``now``: the news of every asset that is
        due, and the heartbeats of quiet fields; None when there is nothing."""
        keys, values = [], []
        for d in self.domains:
            columns = d.table.columns  # type: ignore[attr-defined]
            for j, field in enumerate(d.fields):
                d.values[j] = columns[field]  # one copy a field, cast to float64
            n = _sample(now, d.values, d.resolution, d.keys, d.last, d.stored_at, d.next_due, self.interval, self.heartbeat,
                        d.out_keys, d.out_values)
            if n:
                keys.append(d.out_keys[:n].copy())
                values.append(d.out_values[:n].copy())
        if not keys:
            return None
        return np.concatenate(keys), np.concatenate(values)
