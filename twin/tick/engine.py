"""The tick engine: ingest, updaters, kernels, couplings, alarms, frame.

One :meth:`Engine.tick` is synchronous and deterministic: with the same scene, seed and
inputs it produces bit-for-bit the same state. The server runs it in a worker thread
(kernels release the GIL), so clients are served while it computes.
"""

from __future__ import annotations

import logging
import time as wallclock
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from twin.history.feed import open_history
from twin.loop.incidents import IncidentBook
from twin.loop.notify.service import open_notifications
from twin.tick.alarms import AlarmBook, AlarmEvent, LevelTracker, SYSTEM_DOMAIN
from twin.plugins.contributions import AlarmRule, Kernel
from twin.tick.ingest import Ingest, ReadingBatch
from twin.tick.metrics import Metrics
from twin.plugins.registry import Registry
from twin.tick.params import resolve_params
from twin.tick.scene import Scene
from twin.tick.sensor_health import SensorHealth
from twin.tick.simulator import Simulator
from twin.tick.state import HEARTBEAT
from twin.tick.supervision import PluginOverrun, Step, StepWatch
from twin.types import LEVEL_ORANGE, LEVEL_RISK_THRESHOLDS
from twin.tick.world import World

log = logging.getLogger("twin.tick.engine")


@dataclass
class Frame:
    """What changed in one tick: per domain and field, the rows and their new values."""

    seq: int
    time: float
    changes: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]
    events: list[AlarmEvent] = field(default_factory=list)
    #: (domain, field) pairs whose values are stale because their plugin is quarantined
    stale: list[tuple[str, str]] = field(default_factory=list)
    #: summaries of the incidents this tick changed, as they are after it (twin.loop.incidents)
    incidents: list[dict[str, Any]] = field(default_factory=list)

    def changed_rows(self) -> int:
        return sum(len(rows) for fields in self.changes.values() for rows, _ in fields.values())

    @cached_property
    def nbytes(self) -> int:
        """Bytes its row and value arrays hold (what keeping it in the history costs);
        computed once, as the history sums it every tick."""
        return sum(rows.nbytes + values.nbytes for fields in self.changes.values() for rows, values in fields.values())


@dataclass
class _BoundKernel:
    plugin: str
    kernel: Kernel
    inputs: list[np.ndarray]
    params: list[Any]
    outputs: list[np.ndarray]


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def check_threshold_tables(thresholds: dict[str, Any], registry: Registry) -> None:
    """Refuse a ``[thresholds.<name>]`` table that names no kernel, updater or coupling
    with parameters: a misspelt name would otherwise leave the defaults in force silently."""
    owners = {c.name for _, c in [*registry.kernels, *registry.updaters, *registry.couplings] if c.params}
    unknown = sorted(set(thresholds) - owners)
    if unknown:
        raise ValueError(
            f"[thresholds]: no kernel, updater or coupling with parameters is named {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(sorted(owners))}"
        )


class Engine:
    def __init__(
        self,
        scene: Scene,
        registry: Registry,
        *,
        seed: int = 0,
        dt: float = 1.0,
        data_dir: Path | None = None,
        simulate: bool = True,
        config: dict[str, Any] | None = None,
        history: int = 600,
        history_bytes: int = 512 * 2**20,
        start: float = 0.0,
        live: bool = False,
    ) -> None:
        """``start``: the clock's first reading, UTC epoch seconds, so that alarms, the
        store and the stream speak absolute time: a live twin's is the wall's (``live``);
        a simulated run's (drills, replays, ``--fast``) the instant its drill or scene
        names (0, a clock that counts from nothing, is for engines built by hand).
        Scheduled incidents, drill times and branch points are offsets from it."""
        self.scene = scene
        self.registry = registry
        self.seed = seed
        self.dt = dt
        # A configuration file refines the scene's own: merged table by table, so that a
        # --config naming one kernel's thresholds keeps the scene's for the others.
        self.config = _merge(scene.config, config or {})
        check_threshold_tables(self.config.get("thresholds", {}), registry)
        self.metrics = Metrics()
        self.world = World(scene, registry, seed, config=self.config)
        #: where the clock started (see above); ``time - start`` is the run's offset
        self.start = float(start)
        #: True when the clock is the wall's (a live twin): a server keeps it up with the
        #: wall (:meth:`skip_to`); False for a simulated clock, which runs at any speed
        self.live = live
        self.world.time = self.start
        #: jumps of the clock by :meth:`skip_to` (a live twin that fell behind the wall)
        self.clock_jumps = 0
        #: seconds of clock they skipped in all
        self.clock_skipped = 0.0
        self.ingest = Ingest(scene.sensors, self.world)
        self.simulator = Simulator(scene, registry, seed, self.config, start=self.start) if simulate else None
        #: where actions go when there is no simulator: ``actuator(action, target, params,
        #: who)`` sends them to the field (the server sets it for a twin fed over MQTT);
        #: None applies them to the twin's own world. It raises ConnectionError when the
        #: field cannot be reached.
        self.actuator: Callable[[str, str, dict[str, Any], str], None] | None = None
        deadlines = {int(k): float(v) for k, v in self.config.get("alarms", {}).get("deadlines", {}).items()} or None
        self.alarms = AlarmBook(data_dir / "alarms.sqlite" if data_dir else None, deadlines)
        #: the alarms grouped into incidents, written in the alarm store's transactions
        self.incidents = IncidentBook(self.alarms, scene, registry, self.config)
        #: notifications out through an outbox in the same store (a twin with a data folder only)
        self.notify = open_notifications(self, data_dir)
        self.seq = 0
        #: (domain, field) written by a quarantined plugin: stale until a director releases it
        #: (twin.tick.supervision.release) and one of its steps succeeds, or a restart
        self.quarantined_fields: set[tuple[str, str]] = set()
        #: (domain, field) of kernel outputs that held NaN or infinity at the last tick
        self.nonfinite_fields: set[tuple[str, str]] = set()
        #: which plugin step runs now, for the server's supervisor (twin.tick.supervision)
        self.watch = StepWatch()
        self.world.watch = self.watch
        if self.simulator is not None:
            self.simulator.world.watch = self.watch
        #: the last frames, for clients that resume from a sequence number: at most
        #: ``history`` of them and at most ``history_bytes`` (always the newest one). A
        #: quiet 4M-asset city changes ~20M values a tick, 240 MB a frame: a count alone
        #: would hold 600 of them.
        self.frames: deque[Frame] = deque(maxlen=history)
        self.history_bytes = history_bytes
        self.last_inputs: list[ReadingBatch] = []
        #: every action applied (simulation time, name, target, params, who), in order
        self.actions: list[dict[str, Any]] = []
        self.owners = {a.id: a.owner for assets in scene.assets.values() for a in assets}
        #: offline and suspect sensors, their alarms, the share online, the stale rows
        self.sensor_health = SensorHealth(scene.sensors, self.world, self.ingest, self.alarms, self.metrics, self.owners,
                                          self.start)
        thresholds = self.config.get("thresholds", {})
        self.kernels: list[_BoundKernel] = []
        for plugin, kernel in registry.kernels:
            table = self.world.tables[kernel.domain]
            self.kernels.append(
                _BoundKernel(
                    plugin, kernel,
                    [table.columns[n] for n in kernel.inputs],
                    resolve_params(kernel, thresholds, registry),
                    [table.columns[n] for n in kernel.outputs],
                )
            )
        self._nonfinite_alarmed: set[tuple[str, str]] = set()
        self.trackers: list[tuple[str, AlarmRule, LevelTracker]] = []
        for plugin, rule in registry.rules:
            table = self.world.tables[rule.domain]
            mask = table.mask(*rule.kinds) if rule.kinds else np.ones(len(table), dtype=bool)
            tracker = LevelTracker(rule, len(table), mask)
            # Alarms still open from before a restart keep their level: no second raise.
            for alarm in self.alarms.active():
                if alarm.rule == rule.name and alarm.asset in table.index:
                    row = table.index[alarm.asset]
                    tracker.level[row] = tracker.pending[row] = alarm.level
            self.trackers.append((plugin, rule, tracker))
        for plugin, info in registry.plugins.items():
            if info.status == "quarantined":
                self._quarantined(plugin, info.reason)
        for table in self.world.tables.values():
            table.mark_baseline()
        # A risk that crosses a level is news however small the step: every screen
        # colours an asset by the level its risk is in.
        for _, rule in registry.rules:
            self.world.tables[rule.domain].news_across(rule.risk_field, LEVEL_RISK_THRESHOLDS)
        #: the data folder's history (twin.history.feed): a live twin's only, else None
        self.history = open_history(self, data_dir)

    @property
    def stale_fields(self) -> set[tuple[str, str]]:
        """(domain, field) pairs whose values are not to be trusted now."""
        return self.quarantined_fields | self.nonfinite_fields

    # -- faults ------------------------------------------------------------------------
    def _on_error(self, plugin: str, what: str, exc: BaseException) -> None:
        if isinstance(exc, PluginOverrun) and not self.registry.active(plugin):
            return  # interrupted by the supervisor, which quarantined it with the reason
        log.exception("plugin failed during a tick", extra={"plugin": plugin, "what": what})
        self.registry.quarantine(plugin, f"{what} raised {type(exc).__name__}: {exc}")
        self._quarantined(plugin, self.registry.plugins[plugin].reason)

    def overran(self, step: Step, deadline: float) -> None:
        """Quarantine the plugin of a step that ran past ``deadline`` seconds (called by
        the server's supervisor from the event loop while the step still runs)."""
        reason = f"{step.what} ran {step.elapsed():.1f} s, past the deadline of {deadline:g} s per step"
        self.registry.quarantine(step.plugin, reason)
        self._quarantined(step.plugin, reason)
        self.metrics.plugin_overruns.labels(step.plugin).inc()

    def _quarantined(self, plugin: str, reason: str) -> None:
        # rebound, not updated in place: the supervisor calls this while a tick may read it
        self.quarantined_fields = self.quarantined_fields | set(self.registry.outputs_of(plugin))
        self.alarms.set_level(
            "system.plugin_quarantined", SYSTEM_DOMAIN, f"plugin:{plugin}", "platform operations", LEVEL_ORANGE,
            self.world.time, title=f"Plugin {plugin} quarantined: {reason.splitlines()[0] if reason else ''}",
            title_zh=f"插件 {plugin} 已隔离",
        )
        self.metrics.quarantined.set(sum(1 for p in self.registry.plugins.values() if p.status == "quarantined"))

    # -- the tick ----------------------------------------------------------------------
    @property
    def time(self) -> float:
        return self.world.time

    @property
    def absolute_clock(self) -> bool:
        """True when the clock reads UTC epoch seconds (a live twin, a drill or any run
        from an instant, their replays and branches); False for a clock counting from 0."""
        return self.start != 0.0

    def skip_to(self, t: float) -> float:
        """Move the clock (the twin's and the simulator's truth) forward by whole ticks to
        the last one at or before ``t``, without stepping the physics over the gap; the
        next tick steps one ``dt`` from there. For a live twin
        that fell behind the wall clock: a skipped stretch is better than a clock that
        lags for ever. Logged and counted (:attr:`clock_jumps`, :attr:`clock_skipped`).
        Returns the seconds skipped (0 when ``t`` is not a whole tick ahead). Call it
        between ticks, never during one."""
        ticks = np.floor((t - self.time) / self.dt + 1e-9)
        if not ticks >= 1:
            return 0.0
        skipped = float(ticks * self.dt)
        self.world.time += skipped
        if self.simulator is not None:
            self.simulator.world.time = self.world.time
        self.sensor_health.clock_skipped(self.world.time)
        self.clock_jumps += 1
        self.clock_skipped += skipped
        log.warning("the clock skipped ahead: the twin fell behind the wall clock",
                    extra={"skipped_seconds": skipped, "to": self.world.time, "jumps": self.clock_jumps})
        return skipped

    def tick(self, readings: ReadingBatch | None = None) -> Frame:
        """Advance the twin by one ``dt`` and return the frame of what changed.

        ``readings`` are added to what the simulator and the ingest inbox bring (a rerun
        feeds a recording's readings here). Every batch fed to ingest, valid or not, is
        kept in :attr:`last_inputs` for the recorder.
        """
        started = wallclock.perf_counter()
        now = self.world.time + self.dt
        batches: list[ReadingBatch] = []
        if self.simulator is not None:
            batches.append(self.simulator.step(self.dt, self._on_error_truth))
        if readings is not None:
            batches.append(readings)
        inbox = self.ingest.take_inbox()
        if inbox is not None:
            batches.append(inbox)
        for index, times, values, quality in batches:
            self.ingest.accept_arrays(index, times, values, quality, now)
        self.last_inputs = batches

        timings: dict[str, float] = {}
        self.world.step_physics(self.dt, self._on_error, timings)
        self.ingest.assimilate(now)
        self.sensor_health.update(now)
        for plugin, seconds in timings.items():
            self.metrics.updater_seconds.labels(plugin).inc(seconds)

        nonfinite: set[tuple[str, str]] = set()
        for bound in self.kernels:
            if not self.registry.active(bound.plugin):
                continue
            t0 = wallclock.perf_counter()
            what = f"kernel {bound.kernel.name!r}"
            try:
                with self.watch.step(bound.plugin, what):
                    bound.kernel.func(*bound.inputs, *bound.params, *bound.outputs)
            except Exception as exc:
                self._on_error(bound.plugin, what, exc)
            else:
                nonfinite |= self._check_finite(bound, now)
            self.metrics.kernel_seconds.labels(bound.plugin, bound.kernel.name).inc(wallclock.perf_counter() - t0)
        self.nonfinite_fields = nonfinite

        self.world.step_couplings(self.dt, self._on_error)

        for plugin, rule, tracker in self.trackers:
            if not self.registry.active(plugin):
                continue
            table = self.world.tables[rule.domain]
            changed = tracker.update(table.columns[rule.risk_field], now)
            for row, before in zip(changed.tolist(), tracker.previous.tolist()):
                asset_id = table.ids[row]
                level = int(tracker.level[row])
                self.alarms.set_level(rule, rule.domain, asset_id, self.owners.get(asset_id, ""), level, now,
                                      rising=level > before)
        self.alarms.check_deadlines(now)
        events = self.alarms.take_events()

        frame = self._frame(now, events)
        if self.history is not None:
            self.history.after_tick(self, now)  # queues only: the history's writer thread stores
        self._observe(started)
        return frame

    def _check_finite(self, bound: _BoundKernel, now: float) -> set[tuple[str, str]]:
        """Put back the last values of output rows a kernel left NaN or infinite, keep
        those rows' alarm levels (the trackers skip NaN), mark the fields stale and
        raise a system alarm on the plugin while it lasts. Returns the stale fields."""
        kernel = bound.kernel
        table = self.world.tables[kernel.domain]
        bad: dict[str, np.ndarray] = {}
        for name in kernel.outputs:
            rows = table.restore_nonfinite(name)
            if len(rows):
                bad[name] = rows
        asset = f"plugin:{bound.plugin}:{kernel.name}"
        if not bad:
            if (bound.plugin, kernel.name) in self._nonfinite_alarmed:
                self._nonfinite_alarmed.discard((bound.plugin, kernel.name))
                self.alarms.set_level("system.nonfinite", SYSTEM_DOMAIN, asset, "platform operations", 0, now, rising=False)
            return set()
        rows = np.unique(np.concatenate(list(bad.values())))
        self.metrics.nonfinite_rows.labels(bound.plugin, kernel.name).inc(len(rows))
        if (bound.plugin, kernel.name) not in self._nonfinite_alarmed:
            self._nonfinite_alarmed.add((bound.plugin, kernel.name))
            ids = ", ".join(table.ids[r] for r in rows[:5].tolist()) + (", ..." if len(rows) > 5 else "")
            log.error("a kernel gave non-finite values; the rows keep their last values and levels",
                      extra={"plugin": bound.plugin, "kernel": kernel.name, "fields": sorted(bad), "rows": len(rows), "assets": ids})
            self.alarms.set_level(
                "system.nonfinite", SYSTEM_DOMAIN, asset, "platform operations", LEVEL_ORANGE, now,
                title=f"Plugin {bound.plugin}: kernel {kernel.name} gave NaN or infinity on {len(rows)} rows ({ids}); "
                      f"their last values and alarm levels are kept",
                title_zh=f"插件 {bound.plugin} 的 {kernel.name} 计算出无效数值（{len(rows)} 项），保留最后有效值",
            )
        return {(kernel.domain, name) for name in bad}

    def _on_error_truth(self, plugin: str, what: str, exc: BaseException) -> None:
        self._on_error(plugin, f"{what} (in the simulator)", exc)

    def _frame(self, now: float, events: list[AlarmEvent]) -> Frame:
        """The frame of this tick: only news (DomainTable.take_delta). Each row's turn of
        the heartbeat comes once per HEARTBEAT seconds, the rows spread over the ticks
        (row i at the ticks where seq % period == i % period), so it never comes in a burst."""
        self.seq += 1
        period = max(1, int(round(HEARTBEAT / self.dt)))
        heartbeat = (self.seq % period, period)
        changes: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
        for name, table in self.world.tables.items():
            fields: dict[str, tuple[np.ndarray, np.ndarray]] = {}
            for field_name in table.live_fields():
                rows, values = table.take_delta(field_name, heartbeat)
                if len(rows):
                    fields[field_name] = (rows, values)
            if fields:
                changes[name] = fields
        frame = Frame(self.seq, now, changes, events, sorted(self.stale_fields), self.incidents.take_changes())
        self.remember(frame)
        return frame

    def remember(self, frame: Frame) -> None:
        """Keep ``frame`` in the history, dropping the oldest beyond its count or bytes."""
        self.frames.append(frame)
        held = sum(f.nbytes for f in self.frames)
        while len(self.frames) > 1 and held > self.history_bytes:
            held -= self.frames.popleft().nbytes

    def _observe(self, started: float) -> None:
        m = self.metrics
        m.tick_seconds.observe(wallclock.perf_counter() - started)
        m.sim_time.set(self.world.time)
        accepted = self.ingest.accepted
        m.readings_accepted.inc(accepted - getattr(self, "_accepted_seen", 0))
        self._accepted_seen = accepted
        seen = getattr(self, "_rejected_seen", {})
        for reason, count in self.ingest.rejected.items():
            m.readings_rejected.labels(reason).inc(count - seen.get(reason, 0))
        self._rejected_seen = dict(self.ingest.rejected)
        levels = [a.level for a in self.alarms.active()]
        for level in range(5):
            m.active_alarms.labels(str(level)).set(levels.count(level))

    # -- commands ----------------------------------------------------------------------
    def apply_action(self, name: str, target: str, params: dict[str, Any], who: str = "") -> None:
        """An action acts on the world the sensors measure: the simulator's truth.
        ``sensor.*`` actions (stuck, drift, dead, repair) act on a sensor of that world.
        A twin without a simulator whose :attr:`actuator` is set (fed by real sensors)
        checks the action here and hands it to the actuator, which sends it to the field:
        the twin learns of its effect through the readings, as of any other change."""
        if self.simulator is None and self.actuator is not None:
            if name.startswith("sensor."):
                Simulator.check_fault(name, target, params, self._sensor_ids)
            else:
                self.world.check_action(name, target, params)
            self.actuator(name, target, dict(params), who)
        else:
            self._apply(name, target, params)
        self.actions.append({"time": self.time, "action": name, "target": target, "params": dict(params), "who": who})

    @cached_property
    def _sensor_ids(self) -> list[str]:
        return [s.id for s in self.scene.sensors]

    def _apply(self, name: str, target: str, params: dict[str, Any]) -> None:
        if name.startswith("sensor."):
            if self.simulator is None:
                raise ValueError(f"{name}: sensor faults are simulated; this twin has no simulator")
            self.simulator.fault_sensor(name, target, params)
            return
        world = self.simulator.world if self.simulator is not None else self.world
        world.apply_action(name, target, params)

    def run(self, seconds: float) -> Frame | None:
        frame = None
        for _ in range(int(round(seconds / self.dt))):
            frame = self.tick()
        return frame

    def digest(self) -> str:
        return self.world.digest()

    def close(self) -> None:
        if self.history is not None:
            self.history.close()
        if self.notify is not None:
            self.notify.close()  # the sender thread; what it has not sent waits in the outbox
        self.alarms.close()
