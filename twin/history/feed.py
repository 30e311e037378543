"""The running twin's history: what the tick hands over, the writer that stores it, the
retention, the figures in ``/metrics`` and the ``history`` part of ``/api/health``.

One :class:`History` per data folder, in ``<data>/history/``, opened by the engine of a
live twin (``Engine.live``: its clock is the wall's). A run on a simulated clock (a
drill, a ``--fast`` run) is not the city's: a server hosting one gives it a store of its
own in ``<data>/runs/`` (:func:`open_run_history`); run without a server, its recording
is its history. Once a tick,
:meth:`History.after_tick` takes the readings ingest accepted in it and the news of the
historical fields (twin.history.fields), and queues them as one batch for the writer
thread (twin.history.writer): the tick never waits for the store. A store that falls
behind sheds whole batches, counted in ``twin_history_values_shed_total``.

Configured by the ``[history]`` table of the scene or ``--config``:

========================  =========  ===================================================
key                       default    meaning
========================  =========  ===================================================
``enabled``               true       false: keep no history
``raw_days``              30         days every reading is kept as it came
``minute_days``           730        days per-minute min/mean/max/count are kept
``field_interval``        10         seconds: an asset's historical fields are stored at
                                     most this often
``field_heartbeat``       600        seconds: a quiet field is stored again after this
``max_queued``            5000000    values the writer's queue holds before it sheds
``prune_every``           3600       seconds of wall time between two retention passes
``durability``            "process"  what a stored batch survives: "process", a killed
                                     process; "power", a power cut too (fsync at every
                                     batch; slower, see docs/history.md)
========================  =========  ===================================================
"""

from __future__ import annotations

import logging
import math
import shutil
import time as wallclock
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from twin.history.fields import FieldSampler
from twin.history.store import DURABILITIES, HistoryError, Store
from twin.history.writer import Writer

if TYPE_CHECKING:
    from twin.tick.engine import Engine

log = logging.getLogger("twin.history")

#: seconds a shed batch keeps the history part of /api/health degraded
SHED_MEMORY = 60.0


@dataclass(frozen=True)
class HistoryConfig:
    """The ``[history]`` table, checked (see the module's docstring)."""

    enabled: bool = True
    raw_days: float = 30.0
    minute_days: float = 730.0
    field_interval: float = 10.0
    field_heartbeat: float = 600.0
    max_queued: int = 5_000_000
    prune_every: float = 3600.0
    durability: str = "process"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HistoryConfig:
        """The ``[history]`` table of an engine's configuration; a bad key or value is a
        HistoryError of one line naming it and what would be valid."""
        table = config.get("history", {})
        if not isinstance(table, Mapping):
            raise HistoryError(f"[history] must be a table of settings, not {type(table).__name__}")
        known = cls.__dataclass_fields__
        unknown = sorted(set(table) - set(known))
        if unknown:
            raise HistoryError(f"[history] has no setting {', '.join(map(repr, unknown))}; valid: {', '.join(known)}")
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key == "durability":
                if value not in DURABILITIES:
                    raise HistoryError(f"[history] durability must be one of {', '.join(map(repr, DURABILITIES))}, not {value!r}")
            elif key == "enabled":
                if not isinstance(value, bool):
                    raise HistoryError(f"[history] enabled must be true or false, not {value!r}")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise HistoryError(f"[history] {key} must be a positive number, not {value!r}")
            elif key == "max_queued":
                if int(value) != value:
                    raise HistoryError(f"[history] max_queued must be a whole number of values, not {value!r}")
                value = int(value)
            else:
                value = float(value)
            values[key] = value
        out = cls(**values)
        if out.minute_days < out.raw_days:
            raise HistoryError(f"[history] minute_days ({out.minute_days:g}) must be at least raw_days ({out.raw_days:g}): "
                               f"per-minute data is made from the raw readings leaving")
        return out


class History:
    """The store, its writer and what feeds it, for one engine (see the module)."""

    def __init__(self, folder: Path, engine: Engine, config: HistoryConfig) -> None:
        self.config = config
        self.store = Store(folder, raw_days=config.raw_days, minute_days=config.minute_days,
                           durability=config.durability)
        try:
            self.writer = Writer(self.store, max_queued=config.max_queued, prune_every=config.prune_every,
                                 clock=lambda: engine.time)
        except BaseException:
            self.store.close()
            raise
        world = engine.world
        sensors = engine.ingest.sensors
        domains = [world.locate(s.asset)[0].domain.name for s in sensors]
        #: the series key of each sensor, by its index in ingest
        self.sensor_keys = np.zeros(len(sensors), dtype=np.int32)
        for domain in dict.fromkeys(domains):
            idx = [i for i, d in enumerate(domains) if d == domain]
            self.sensor_keys[idx] = self.store.keys([sensors[i].id for i in idx], domain)
        self.fields = FieldSampler(world.tables, self.store.keys, config.field_interval, config.field_heartbeat)
        engine.ingest.keep_accepted = True
        self.submitted = {"readings": 0, "fields": 0}
        self.errors = 0  # after_tick failures (a bug: logged, counted, the tick goes on)
        self._shed_seen = 0
        self._shed_at = -math.inf  # monotonic time the writer was last seen shedding
        self._shed_recent = 0
        engine.metrics.registry.register(_Collector(self))
        log.info("history open", extra={"folder": str(folder), "sensors": len(sensors), "field_series": self.fields.series,
                                        "raw_days": config.raw_days, "minute_days": config.minute_days})

    def after_tick(self, engine: Engine, now: float) -> None:
        """Queue the tick's accepted readings and its historical fields' news as one
        batch (never waits for the store; never raises into the tick)."""
        try:
            parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
            accepted = engine.ingest.take_accepted()
            if accepted is not None:
                index, t, v, _q = accepted  # every accepted reading is of good quality (0)
                parts.append((self.sensor_keys[index], t, v))
                self.submitted["readings"] += len(index)
            news = self.fields.sample(now)
            if news is not None:
                parts.append((news[0], np.full(len(news[0]), now), news[1]))
                self.submitted["fields"] += len(news[0])
            if parts:
                self.writer.submit(*(np.concatenate([p[i] for p in parts]) for i in range(3)))
        except Exception:
            self.errors += 1
            if self.errors == 1:
                log.exception("history: a tick's values could not be queued; the twin ticks on")

    def health(self) -> tuple[str, str]:
        """(state, reason) of the history part: degraded while the store cannot be
        written, and for a minute after the writer shed values."""
        w = self.writer
        now = wallclock.monotonic()
        if w.shed > self._shed_seen:
            self._shed_recent = w.shed - self._shed_seen if now - self._shed_at > SHED_MEMORY else \
                self._shed_recent + w.shed - self._shed_seen
            self._shed_seen, self._shed_at = w.shed, now
        if w.error:
            return "degraded", f"{w.error}; values are counted as failed (twin_history_values_failed_total) until it is written again"
        if now - self._shed_at <= SHED_MEMORY:
            return "degraded", (f"the store fell behind: {self._shed_recent} values shed in the last minute "
                                f"(twin_history_values_shed_total); the twin ticks on")
        if self.errors:
            return "degraded", f"{self.errors} ticks' values could not be queued (see the log)"
        return "ok", ""

    def report(self, subsystems: Any) -> None:
        """Set the ``history`` part of a server's subsystems (twin.serving.health)."""
        subsystems.set("history", *self.health())

    def close(self) -> None:
        """Write what is queued, stop the writer, close the files."""
        self.writer.close()
        self.store.close()


class _Collector:
    """The history's figures for /metrics, read from its counters when scraped."""

    def __init__(self, history: History) -> None:
        self.history = history

    def collect(self) -> Iterator[Metric]:
        h, w = self.history, self.history.writer.metrics()
        for name, help_, value in (
            ("written", "Values (readings and historical fields) appended to the history store", w["written"]),
            ("shed", "Values refused because the history writer's queue was full (the store fell behind)", w["shed"]),
            ("failed", "Values the history store could not take (an error; see the log)", w["failed"]),
        ):
            yield CounterMetricFamily(f"twin_history_values_{name}", help_, value=value)
        submitted = CounterMetricFamily("twin_history_submitted", "Values handed to the history writer, by kind", labels=["kind"])
        for kind, n in h.submitted.items():
            submitted.add_metric([kind], n)
        yield submitted
        yield CounterMetricFamily("twin_history_appends", "Batches appended to the history store", value=w["batches"])
        yield GaugeMetricFamily("twin_history_queued_values", "Values waiting in the history writer's queue", value=w["queued"])
        yield GaugeMetricFamily("twin_history_pending_values", "Values in the pending log, not yet sealed into hourly blobs",
                                value=h.store.pending_readings)
        yield GaugeMetricFamily("twin_history_bytes", "Bytes the history store takes on disk", value=h.store.bytes_on_disk())


#: run histories a data folder keeps (the newest): each one a simulated run's own store
KEEP_RUNS = 10


def open_run_history(engine: Engine, data_dir: Path | None) -> History | None:
    """A history of its own for a run on a simulated clock that a server hosts (a drill
    or exercise at ``--speed`` or ``--fast``, a server started on a drill's clock), so
    that its inspector charts the run's whole span from the API as a live twin's does.
    Fed as the live one is (its ``[history]`` table), in ``<data>/runs/<UTC start>/history/``:
    never the data folder's ``history/``, whose times are the city's (a run's clock
    restarts at its drill's start, and its readings are no real sensor's). The
    :data:`KEEP_RUNS` newest run folders are kept, older ones removed. None for a live
    engine (it has the real one), without a data folder, or when ``enabled = false``."""
    if data_dir is None or engine.live or engine.history is not None:
        return None
    config = HistoryConfig.from_config(engine.config)
    if not config.enabled:
        return None
    runs = Path(data_dir) / "runs"
    stamp = wallclock.strftime("%Y%m%dT%H%M%SZ", wallclock.gmtime())
    folder, n = runs / stamp, 1
    while folder.exists():  # two runs in one second
        folder, n = runs / f"{stamp}-{n}", n + 1
    if runs.is_dir():
        # a simulated run's history serves while it runs (and its replay has the recording):
        # the oldest ones go, so that a folder serving drill after drill does not fill the disk
        old = sorted((p for p in runs.iterdir() if (p / "history").is_dir()), key=lambda p: p.stat().st_mtime)
        for gone in old[:max(0, len(old) - (KEEP_RUNS - 1))]:
            shutil.rmtree(gone, ignore_errors=True)
    log.info("a run's own history", extra={"folder": str(folder / "history"), "clock": engine.time})
    return History(folder / "history", engine, config)


def open_history(engine: Engine, data_dir: Path | None) -> History | None:
    """The history of a live engine (the wall's clock) with a data folder, as its
    ``[history]`` configures it; None for any other engine (a simulated clock's times
    are not the city's), or when disabled."""
    if data_dir is None or not engine.live:
        return None
    config = HistoryConfig.from_config(engine.config)
    if not config.enabled:
        return None
    return History(Path(data_dir) / "history", engine, config)
