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

import numpy as np


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
    columns: list[np.ndarray]
    resolution: np.ndarray  # [fields]
    keys: np.ndarray  # [fields, rows] int32
    last: np.ndarray  # [fields, rows] the value last stored, NaN before the first
    stored_at: np.ndarray  # [fields, rows] when it was stored, -inf before
    next_due: np.ndarray  # [rows] no row is stored again before this time


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
            rows = len(ids)
            self.domains.append(_Domain(
                name, [s.name for s in specs], [table.columns[s.name] for s in specs],  # type: ignore[attr-defined]
                np.array([resolution(s) for s in specs]), keys(names, name).reshape(len(specs), rows),
                np.full((len(specs), rows), np.nan), np.full((len(specs), rows), -np.inf), np.full(rows, -np.inf)))

    @property
    def series(self) -> int:
        """How many field series it feeds."""
        return sum(d.keys.size for d in self.domains)

    def sample(self, now: float) -> tuple[np.ndarray, np.ndarray] | None:
        """(series keys, values) to store at ``now``: the news of every asset that is
        due, and the heartbeats of quiet fields; None when there is nothing."""
        keys, values = [], []
        for d in self.domains:
            due = np.flatnonzero(d.next_due <= now)
            if not len(due):
                continue
            stored_any = np.zeros(len(due), dtype=bool)
            for j, column in enumerate(d.columns):
                v = column[due].astype(np.float64)
                last = d.last[j, due]
                moved = (v != last) & (np.abs(v - last) >= d.resolution[j])  # NaN last: False here ...
                news = np.isfinite(v) & (moved | np.isnan(last) | (now - d.stored_at[j, due] >= self.heartbeat))  # ... news here
                if not news.any():
                    continue
                rows = due[news]
                d.last[j, rows] = v[news]
                d.stored_at[j, rows] = now
                keys.append(d.keys[j, rows])
                values.append(v[news])
                stored_any |= news
            d.next_due[due[stored_any]] = now + self.interval
        if not keys:
            return None
        return np.concatenate(keys), np.concatenate(values)
