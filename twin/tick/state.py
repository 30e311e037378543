"""Columnar state: one table per domain, one numpy column per field, one row per asset.

The engine finds what changed in a tick by comparing each column with its value at
the previous frame (:meth:`DomainTable.take_changes`). Plugins therefore write
columns freely and never have to mark rows dirty by hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numba
import numpy as np

from twin.plugins.contributions import Domain, FieldSpec


@numba.njit(cache=True, nogil=True)
def _diff_take(current, previous, rows_out, values_out):  # pragma: no cover - compiled
    """Write the rows where ``current`` differs from ``previous`` (uint32) and their new
    values into the two buffers, copy them into ``previous``, and return their count.
    NaN equals NaN here. One pass over the column."""
    count = 0
    for i in range(current.shape[0]):
        a = current[i]
        b = previous[i]
        if a != b and not (a != a and b != b):
            rows_out[count] = i
            values_out[count] = a
            previous[i] = a
            count += 1
    return count


@numba.njit(cache=True, nogil=True)
def _restore_nonfinite(current, previous, rows_out):  # pragma: no cover - compiled
    """Put back the last frame's value wherever ``current`` is NaN or infinite; write
    those rows into ``rows_out`` and return their count. One pass over the column."""
    count = 0
    for i in range(current.shape[0]):
        a = current[i]
        if not np.isfinite(a):
            current[i] = previous[i]
            rows_out[count] = i
            count += 1
    return count


class DomainTable:
    """The state of one domain: ``columns[field][row]``, rows in scene order."""

    def __init__(self, domain: Domain, ids: Sequence[str], kinds: Sequence[str]) -> None:
        #: the domain's declaration: its kinds and fields
        self.domain = domain
        #: the asset id of each row
        self.ids: list[str] = list(ids)
        #: the row of each asset id
        self.index: dict[str, int] = {asset_id: row for row, asset_id in enumerate(self.ids)}
        #: the domain's kind names, in declaration order: ``kind`` indexes into it
        self.kind_names: list[str] = [k.name for k in domain.kinds]
        kind_code = {name: code for code, name in enumerate(self.kind_names)}
        #: kind of each row, as an index into ``kind_names``
        self.kind: np.ndarray = np.array([kind_code[k] for k in kinds], dtype=np.uint8)
        self.specs: dict[str, FieldSpec] = {spec.name: spec for spec in domain.fields}
        #: one numpy array per field, of the field's dtype, one value per row
        self.columns: dict[str, np.ndarray] = {
            spec.name: np.full(len(self.ids), spec.default, dtype=spec.dtype) for spec in domain.fields
        }
        self._previous: dict[str, np.ndarray] = {}
        # take_delta's buffers: written before read, np.full so their pages are mapped once
        self._rows32 = np.full(len(self.ids), 0, dtype=np.uint32)
        self._values_buffers: dict[np.dtype, np.ndarray] = {}

    def __len__(self) -> int:
        """The number of rows: the domain's assets in the scene."""
        return len(self.ids)

    def __getitem__(self, field: str) -> np.ndarray:
        """The column of ``field``, to read or write in place; KeyError names the fields."""
        try:
            return self.columns[field]
        except KeyError:
            raise KeyError(
                f"domain {self.domain.name!r} has no field {field!r}; it has {', '.join(self.columns)}"
            ) from None

    def mask(self, *kinds: str) -> np.ndarray:
        """Boolean row mask of the assets of the given kinds."""
        codes = [self.kind_names.index(k) for k in kinds]
        return np.isin(self.kind, codes)

    def rows(self, *kinds: str) -> np.ndarray:
        """Row numbers of the assets of the given kinds, ascending."""
        return np.flatnonzero(self.mask(*kinds))

    def live_fields(self) -> list[str]:
        """The names of its live (not attribute) fields."""
        return [name for name, spec in self.specs.items() if not spec.attribute]

    def mark_baseline(self, fields: Iterable[str] | None = None) -> None:
        """Take the current values as the reference for the next :meth:`take_changes`."""
        for name in fields if fields is not None else self.columns:
            self._previous[name] = self.columns[name].copy()

    def take_changes(self, field: str) -> np.ndarray:
        """Rows of ``field`` that changed since the last call (or baseline); resets it."""
        return self.take_delta(field)[0].astype(np.int64)

    def take_delta(self, field: str) -> tuple[np.ndarray, np.ndarray]:
        """(rows as uint32, their values) of ``field`` that changed since the last call
        (or baseline); resets it. What a frame carries, in one pass over the column."""
        current = self.columns[field]
        previous = self._previous.get(field)
        if previous is None:  # no baseline: every row is news
            self._previous[field] = current.copy()
            return np.arange(len(current), dtype=np.uint32), current.copy()
        buffer = self._values_buffers.get(current.dtype)
        if buffer is None:
            buffer = self._values_buffers[current.dtype] = np.full(len(current), 0, dtype=current.dtype)
        count = _diff_take(current, previous, self._rows32, buffer)
        return self._rows32[:count].copy(), buffer[:count].copy()

    def restore_nonfinite(self, field: str) -> np.ndarray:
        """Rows of a float ``field`` that hold NaN or infinity, each set back to its value
        at the last frame (what every screen shows now). A safety system must never let
        "not a number" read as "no risk". Empty for integer and bool fields."""
        current = self.columns[field]
        if current.dtype.kind != "f":
            return self._rows32[:0]
        previous = self._previous.get(field)
        if previous is None:
            previous = np.full_like(current, self.specs[field].default)
        count = _restore_nonfinite(current, previous, self._rows32)
        return self._rows32[:count].copy()

    def digest(self) -> str:
        """A hash of every column's bytes, for bit-for-bit comparisons of runs."""
        h = hashlib.sha256()
        for name in sorted(self.columns):
            h.update(name.encode())
            h.update(np.ascontiguousarray(self.columns[name]).tobytes())
        return h.hexdigest()
