"""Columnar state: one table per domain, one numpy column per field, one row per asset.

The engine finds what changed in a tick by comparing each column with the values it
last sent (:meth:`DomainTable.take_delta`). Plugins therefore write columns freely and
never have to mark rows dirty by hand. Only news is sent: a value that moved less than
its field's ``resolution`` since it was last sent waits, and a heartbeat sends it later
(see :meth:`DomainTable.take_delta`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numba
import numpy as np

from twin.plugins.contributions import Domain, FieldSpec

#: seconds within which the heartbeat re-sends every row that moved by less than its
#: resolution since it was last sent (each row in its own tick of the period)
HEARTBEAT = 60.0

_NO_BREAKS = np.empty(0, dtype=np.float64)


@numba.njit(cache=True, nogil=True)
def _diff_take(current, sent, resolution, breaks, drifted, phase, period, rows_out, values_out):  # pragma: no cover - compiled
    """Write the rows whose value in ``current`` is news against ``sent`` (uint32) and
    their values into the two buffers, copy them into ``sent``, and return their count.
    One pass over the column.

    News: a difference of ``resolution`` or more (any difference when it is 0; NaN
    against a number; NaN equals NaN); a move across one of ``breaks`` (ascending), however
    small; and, for the rows ``i`` with ``i % period == phase`` (the heartbeat), any
    difference at all, or a row that differed since it was last sent and came back (a
    client that took a snapshot meanwhile holds the value it had then). ``drifted``
    remembers the rows that differed without being sent."""
    count = 0
    for i in range(current.shape[0]):
        a = current[i]
        b = sent[i]
        if a == b or (a != a and b != b):
            if drifted[i] == 0 or i % period != phase:
                continue
        elif resolution > 0.0 or breaks.shape[0] > 0:
            fa = np.float64(a)
            fb = np.float64(b)
            news = not abs(fa - fb) < resolution
            if not news:
                for x in breaks:
                    if (fa >= x) != (fb >= x):
                        news = True
                        break
            if not news and i % period != phase:
                drifted[i] = 1
                continue
        rows_out[count] = i
        values_out[count] = a
        sent[i] = a
        drifted[i] = 0
        count += 1
    return count


@numba.njit(cache=True, nogil=True)
def _restore_nonfinite(current, previous, rows_out):  # pragma: no cover - compiled
    """Put back the last sent value wherever ``current`` is NaN or infinite; write
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
        #: the value of each row last sent in a frame, per live field (what a client that
        #: applied every delta holds); compared with the column to find the news
        self._sent: dict[str, np.ndarray] = {}
        #: 1 where a row differed from its sent value without being sent (see _diff_take)
        self._drifted: dict[str, np.ndarray] = {}
        self._breaks: dict[str, np.ndarray] = {}
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
        """Take the current values as sent: the reference for the next :meth:`take_delta`."""
        for name in fields if fields is not None else self.columns:
            self._sent[name] = self.columns[name].copy()
            self._drifted[name] = np.full(len(self.ids), 0, dtype=np.uint8)

    def news_across(self, field: str, thresholds: Sequence[float]) -> None:
        """Make a move of ``field`` across any of ``thresholds`` news, however small (the
        levels of an alarm rule's risk field: every screen colours it by its level)."""
        self._breaks[field] = np.array(sorted(thresholds), dtype=np.float64)

    def sent(self, field: str) -> np.ndarray:
        """The values of ``field`` as last sent (read-only): what a client that applied
        every delta holds, within the field's resolution of :attr:`columns`."""
        view = self._sent.get(field, self.columns[field]).view()
        view.flags.writeable = False
        return view

    def take_changes(self, field: str) -> np.ndarray:
        """Rows of ``field`` with news since the last call (or baseline); resets it."""
        return self.take_delta(field)[0].astype(np.int64)

    def take_delta(self, field: str, heartbeat: tuple[int, int] = (0, 1)) -> tuple[np.ndarray, np.ndarray]:
        """(rows as uint32, their values) of ``field`` that are news against the values
        last sent (or the baseline), which they then become. What a frame carries, in one
        pass over the column.

        News is a move of the field's ``resolution`` or more since the row was last sent
        (any move when it is 0), or across a threshold given to :meth:`news_across`.
        ``heartbeat = (phase, period)``: the rows ``i`` with ``i % period == phase`` are
        also sent if they moved at all since (or moved and came back), so a row is never
        more than ``period`` calls late on a change smaller than its resolution. The
        default, every row every call, sends every change."""
        current = self.columns[field]
        sent = self._sent.get(field)
        if sent is None:  # no baseline: every row is news
            self.mark_baseline([field])
            return np.arange(len(current), dtype=np.uint32), current.copy()
        buffer = self._values_buffers.get(current.dtype)
        if buffer is None:
            buffer = self._values_buffers[current.dtype] = np.full(len(current), 0, dtype=current.dtype)
        phase, period = heartbeat
        # specs, not domain.fields: the core adds columns of its own (sensor health's stale mask)
        count = _diff_take(current, sent, float(self.specs[field].resolution), self._breaks.get(field, _NO_BREAKS), self._drifted[field],
                           phase, period, self._rows32, buffer)
        return self._rows32[:count].copy(), buffer[:count].copy()

    def restore_nonfinite(self, field: str) -> np.ndarray:
        """Rows of a float ``field`` that hold NaN or infinity, each set back to its value
        as last sent (what every screen shows now). A safety system must never let "not a
        number" read as "no risk". Empty for integer and bool fields."""
        current = self.columns[field]
        if current.dtype.kind != "f":
            return self._rows32[:0]
        sent = self._sent.get(field)
        if sent is None:
            sent = np.full_like(current, self.specs[field].default)
        count = _restore_nonfinite(current, sent, self._rows32)
        return self._rows32[:count].copy()

    def digest(self) -> str:
        """A hash of every column's bytes, for bit-for-bit comparisons of runs."""
        h = hashlib.sha256()
        for name in sorted(self.columns):
            h.update(name.encode())
            h.update(np.ascontiguousarray(self.columns[name]).tobytes())
        return h.hexdigest()
