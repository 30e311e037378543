"""The default source: a ground-truth world stepped by the same plugins, measured by
the scene's sensors with seeded Gaussian noise.

Each reading is rounded to its field's ``precision`` (FieldSpec), as a device reports in
steps of its display resolution; :func:`reading_grid` says how, for the recording too.

Scripted incidents (the scene's background incidents, a drill's events) act on the
truth; the twin only learns of them through its sensors, as it would in a city. A
recording keeps the truth beside the measurement (:mod:`twin.runs.truth`): the true
value of every field a sensor measures (:meth:`Simulator.measured`) and the risk the
plugins' kernels give on the true state (:meth:`Simulator.true_risk`), so that a
debrief can tell a drifted sensor's "all clear" from a real one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from twin.tick.ingest import sensor_columns
from twin.tick.params import resolve_params
from twin.plugins.registry import Registry
from twin.tick.scene import Incident, Scene
from twin.tick.world import World

log = logging.getLogger("twin.tick.simulator")


@numba.njit(cache=True, nogil=True)
def _gather(column, rows, idx, out):  # pragma: no cover - compiled
    """out[idx[j]] = column[rows[j]]: one column's sensors, in sensor order."""
    for j in range(rows.shape[0]):
        out[idx[j]] = column[rows[j]]


def reading_grid(precision: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(num, den) per reading of a step ``precision`` (0: none): a reading on the grid is
    ``q * num / den`` for a whole number ``q = rint(value * den / num)``. A decimal step
    (0.01, 0.001: 1/step a whole number) divides by that number (q / 100), so that a
    reading parsed from decimal text ("0.37") lies on the grid exactly; any other step
    (100, 0.3) multiplies (q * 100). num 0: no grid."""
    precision = np.asarray(precision, dtype=np.float64)
    inverse = np.round(1.0 / np.where(precision > 0, precision, 1.0))
    decimal = (precision > 0) & (precision < 1) & (np.abs(inverse * precision - 1.0) < 1e-9)
    num = np.where(decimal, 1.0, precision)
    den = np.where(decimal, inverse, 1.0)
    return num, den


@numba.njit(cache=True, nogil=True)
def _measure(values, noise, normal, fault, stuck_value, drift_rate, drift_since, now, low, high, num, den, last):  # pragma: no cover
    """What each sensor reports, in place: the truth plus its Gaussian noise; a stuck
    sensor its stuck value, a drifting one its drift (field units per hour) since the
    fault; rounded to its precision (reading_grid: q * num / den); clipped into the
    field's range (a NaN stays NaN: ingest rejects it). Also keeps each reading in
    ``last`` (a sensor that sticks, sticks at it)."""
    for i in range(values.shape[0]):
        v = values[i] + noise[i] * normal[i]
        f = fault[i]
        if f == 1:
            v = stuck_value[i]
        elif f == 2:
            v += drift_rate[i] * (now - drift_since[i]) / 3600.0
        if num[i] > 0.0:
            v = np.rint(v * den[i] / num[i]) * num[i] / den[i]
        if v < low[i]:
            v = low[i]
        elif v > high[i]:
            v = high[i]
        values[i] = v
        last[i] = v


def sensor_precision(sensors: list[Any], world: World) -> np.ndarray:
    """Each sensor's reading step: its field's FieldSpec.precision (0: any value)."""
    return np.array([world.locate(s.asset)[0].specs[s.field].precision for s in sensors], dtype=np.float64)


class Simulator:
    def __init__(self, scene: Scene, registry: Registry, seed: int = 0, config: dict | None = None, start: float = 0.0) -> None:
        # The truth obeys the same set points as the twin (fans, cut-offs): the
        # configuration is the city's, not the twin's opinion of it.
        self.world = World(scene, registry, seed, tag="truth", config=config)
        self.registry = registry
        self._thresholds = dict((config or {}).get("thresholds", {}))
        #: kernels bound to the truth on the first call of true_risk, with their scratch outputs
        self._truth_kernels: list[tuple[str, Any, list[np.ndarray], list[Any], list[np.ndarray]]] | None = None
        self._truth_failed: set[str] = set()
        #: the clock's start (the engine's); an incident's ``at`` is an offset from it
        self.start = float(start)
        self.world.time = self.start
        self.rng = np.random.default_rng([seed, 0x5E75])
        self.incidents = sorted(scene.incidents, key=lambda i: i.at)
        self._next_incident = 0
        n = len(scene.sensors)
        self.sensor_index = np.arange(n, dtype=np.int64)
        self.noise = np.array([s.noise for s in scene.sensors], dtype=np.float64)
        # Sensors by the column they read; a real transducer saturates at the ends of its
        # span rather than report the impossible: noise is clipped into [low, high].
        self._columns, self.low, self.high = sensor_columns(scene.sensors, self.world)
        #: each sensor's reading step (its field's FieldSpec.precision; 0: none)
        self.precision = sensor_precision(scene.sensors, self.world)
        self._num, self._den = reading_grid(self.precision)
        self.applied: list[Incident] = []
        self._sensor_ids = [s.id for s in scene.sensors]

        # Sensor faults (actions ``sensor.stuck``, ``sensor.drift``, ``sensor.dead``): what a
        # drill does to the measuring chain rather than to the world.
        # np.full, not np.zeros: calloc'd pages stay unmapped until written, and the compiled
        # _measure reads these every tick (its loads are speculated past the fault test);
        # reading never-written pages measured 20-60x slower than touched ones here.
        self.fault = np.full(n, 0, dtype=np.uint8)  # 0 healthy, 1 stuck, 2 drifting, 3 dead
        self.stuck_value = np.full(n, 0.0)
        self.drift_rate = np.full(n, 0.0)  # field units per hour
        self.drift_since = np.full(n, 0.0)
        self._last = np.full(n, 0.0)
        self._dead = 0  # sensors with fault 3, counted when a fault changes (not every tick)
        self._normal = np.empty(n)  # this tick's standard normal draws, one per sensor
        # The batch step() returns, refilled every tick rather than allocated: fresh pages
        # fault in on first touch, which costs more than the work itself at millions of
        # sensors. Valid until the next step (the engine validates and records it at once).
        self._values = np.full(n, 0.0)
        self._times = np.full(n, 0.0)
        self._quality = np.full(n, 0, dtype=np.int64)

    def measured(self) -> list[tuple[str, str, np.ndarray]]:
        """(domain, field, rows) of every column some sensor measures, the rows (ascending,
        each once) of the assets its sensors measure: where the truth can differ from
        what the twin is told."""
        return [(domain, field, np.unique(rows)) for domain, field, _, rows in self._columns]

    def true_risk(self) -> dict[tuple[str, str], np.ndarray]:
        """Every kernel output ((domain, field) -> column) computed on the true state now:
        the risk the twin would see with perfect sensors, with the twin's own parameters.
        The kernels write into arrays of their own, never into the truth (the truth's
        couplings and updaters must not see a value they never saw before). A kernel of a
        quarantined plugin, or one that raises here, is left out (logged once)."""
        if self._truth_kernels is None:
            self._truth_kernels = []
            for plugin, kernel in self.registry.kernels:
                table = self.world.tables.get(kernel.domain)
                if table is None or any(n not in table.columns for n in (*kernel.inputs, *kernel.outputs)):
                    continue
                outputs = [np.empty_like(table.columns[n]) for n in kernel.outputs]
                self._truth_kernels.append((plugin, kernel, [table.columns[n] for n in kernel.inputs],
                                            resolve_params(kernel, self._thresholds, self.registry), outputs))
        out: dict[tuple[str, str], np.ndarray] = {}
        for plugin, kernel, inputs, params, outputs in self._truth_kernels:
            if not self.registry.active(plugin) or kernel.name in self._truth_failed:
                continue
            # a kernel may read another's output: the truth's own, computed just before
            given = [out.get((kernel.domain, n), column) for n, column in zip(kernel.inputs, inputs)]
            try:
                kernel.func(*given, *params, *outputs)
            except Exception as exc:
                self._truth_failed.add(kernel.name)
                log.warning("a kernel failed on the truth; its true risk is not recorded",
                            extra={"plugin": plugin, "kernel": kernel.name, "error": f"{type(exc).__name__}: {exc}"})
                continue
            for name, column in zip(kernel.outputs, outputs):
                out[(kernel.domain, name)] = column
        return out

    FAULTS = {"sensor.stuck": 1, "sensor.drift": 2, "sensor.dead": 3, "sensor.repair": 0}

    @classmethod
    def check_fault(cls, action: str, sensor_id: str, params: dict[str, float], sensor_ids: list[str]) -> int:
        """The index of ``sensor_id`` in ``sensor_ids`` if ``action`` with ``params`` is a
        sensor fault it can take; else KeyError or ValueError naming what is valid."""
        try:
            i = sensor_ids.index(sensor_id)
        except ValueError:
            raise KeyError(f"no sensor {sensor_id!r} in the scene") from None
        if action not in cls.FAULTS:
            raise KeyError(f"unknown sensor action {action!r}; valid: {', '.join(cls.FAULTS)}")
        allowed = {"sensor.drift": {"rate"}}.get(action, set())
        extra = set(params) - allowed
        if extra:
            raise ValueError(f"{action} takes {', '.join(sorted(allowed)) or 'no parameters'}; got {', '.join(sorted(extra))}")
        return i

    def fault_sensor(self, action: str, sensor_id: str, params: dict[str, float]) -> None:
        """Apply a sensor fault; errors name the sensor and what is valid."""
        i = self.check_fault(action, sensor_id, params, self._sensor_ids)
        self.fault[i] = self.FAULTS[action]
        self._dead = int(np.count_nonzero(self.fault == 3))
        self.stuck_value[i] = self._last[i]
        self.drift_rate[i] = float(params.get("rate", 0.0))
        self.drift_since[i] = self.world.time

    def schedule(self, incident: Incident) -> None:
        self.incidents.append(incident)
        self.incidents[self._next_incident :] = sorted(self.incidents[self._next_incident :], key=lambda i: i.at)

    def step(self, dt: float, on_error: Callable[[str, str, BaseException], None]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Advance the truth by ``dt`` and return one reading per sensor:
        (sensor index, time, value, quality). The arrays are the simulator's own buffers,
        overwritten by the next step: use (or copy) them before then."""
        world = self.world
        while self._next_incident < len(self.incidents) and self.start + self.incidents[self._next_incident].at <= world.time + dt:
            incident = self.incidents[self._next_incident]
            self._next_incident += 1
            if incident.action.startswith("sensor."):
                self.fault_sensor(incident.action, incident.asset, incident.params)
            else:
                world.apply_action(incident.action, incident.asset, incident.params)
            self.applied.append(incident)
        world.step_physics(dt, on_error)
        world.step_couplings(dt, on_error)
        values = self._values
        for domain, field, idx, rows in self._columns:
            _gather(world.tables[domain].columns[field], rows, idx, values)
        self.rng.standard_normal(out=self._normal)
        _measure(values, self.noise, self._normal, self.fault, self.stuck_value, self.drift_rate, self.drift_since,
                 world.time, self.low, self.high, self._num, self._den, self._last)
        times = self._times
        times.fill(world.time)
        if not self._dead:
            return self.sensor_index, times, values, self._quality
        # a dead sensor sends nothing: the twin keeps its last value and marks it stale
        alive = self.fault != 3
        return self.sensor_index[alive], times[alive], values[alive], self._quality[: int(alive.sum())]
