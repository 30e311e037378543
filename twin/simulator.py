"""The default source: a ground-truth world stepped by the same plugins, measured by
the scene's sensors with seeded Gaussian noise.

Scripted incidents (the scene's background incidents, a drill's events) act on the
truth; the twin only learns of them through its sensors, as it would in a city.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from twin.plugins import Registry
from twin.scene import Incident, Scene
from twin.world import World


class Simulator:
    def __init__(self, scene: Scene, registry: Registry, seed: int = 0, config: dict | None = None) -> None:
        # The truth obeys the same set points as the twin (fans, cut-offs): the
        # configuration is the city's, not the twin's opinion of it.
        self.world = World(scene, registry, seed, tag="truth", config=config)
        self.rng = np.random.default_rng([seed, 0x5E75])
        self.incidents = sorted(scene.incidents, key=lambda i: i.at)
        self._next_incident = 0
        n = len(scene.sensors)
        self.sensor_index = np.arange(n, dtype=np.int64)
        self.noise = np.array([s.noise for s in scene.sensors], dtype=np.float64)
        self._columns: list[tuple[np.ndarray, str, str, np.ndarray]] = []
        by_column: dict[tuple[str, str], tuple[list[int], list[int]]] = {}
        for i, s in enumerate(scene.sensors):
            table, row = self.world.locate(s.asset)
            by_column.setdefault((table.domain.name, s.field), ([], []))
            by_column[(table.domain.name, s.field)][0].append(i)
            by_column[(table.domain.name, s.field)][1].append(row)
        for (domain, field), (idx, rows) in sorted(by_column.items()):
            self._columns.append((np.array(idx), domain, field, np.array(rows)))
        self.applied: list[Incident] = []
        self._sensor_ids = [s.id for s in scene.sensors]
        # A real transducer saturates at the ends of its span rather than report the
        # impossible: clip noise into each field's physical range.
        self.low = np.array([self.world.locate(s.asset)[0].specs[s.field].valid[0] for s in scene.sensors])
        self.high = np.array([self.world.locate(s.asset)[0].specs[s.field].valid[1] for s in scene.sensors])

        # Sensor faults (actions ``sensor.stuck``, ``sensor.drift``, ``sensor.dead``): what a
        # drill does to the measuring chain rather than to the world.
        self.fault = np.zeros(n, dtype=np.uint8)  # 0 healthy, 1 stuck, 2 drifting, 3 dead
        self.stuck_value = np.zeros(n)
        self.drift_rate = np.zeros(n)  # field units per hour
        self.drift_since = np.zeros(n)
        self._last = np.zeros(n)

    FAULTS = {"sensor.stuck": 1, "sensor.drift": 2, "sensor.dead": 3, "sensor.repair": 0}

    def fault_sensor(self, action: str, sensor_id: str, params: dict[str, float]) -> None:
        """Apply a sensor fault; errors name the sensor and what is valid."""
        try:
            i = self._sensor_ids.index(sensor_id)
        except ValueError:
            raise KeyError(f"no sensor {sensor_id!r} in the scene") from None
        if action not in self.FAULTS:
            raise KeyError(f"unknown sensor action {action!r}; valid: {', '.join(self.FAULTS)}")
        allowed = {"sensor.drift": {"rate"}}.get(action, set())
        extra = set(params) - allowed
        if extra:
            raise ValueError(f"{action} takes {', '.join(sorted(allowed)) or 'no parameters'}; got {', '.join(sorted(extra))}")
        self.fault[i] = self.FAULTS[action]
        self.stuck_value[i] = self._last[i]
        self.drift_rate[i] = float(params.get("rate", 0.0))
        self.drift_since[i] = self.world.time

    def schedule(self, incident: Incident) -> None:
        self.incidents.append(incident)
        self.incidents[self._next_incident :] = sorted(self.incidents[self._next_incident :], key=lambda i: i.at)

    def step(self, dt: float, on_error: Callable[[str, str, BaseException], None]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Advance the truth by ``dt`` and return one reading per sensor:
        (sensor index, time, value, quality)."""
        world = self.world
        while self._next_incident < len(self.incidents) and self.incidents[self._next_incident].at <= world.time + dt:
            incident = self.incidents[self._next_incident]
            self._next_incident += 1
            if incident.action.startswith("sensor."):
                self.fault_sensor(incident.action, incident.asset, incident.params)
            else:
                world.apply_action(incident.action, incident.asset, incident.params)
            self.applied.append(incident)
        world.step_physics(dt, on_error)
        world.step_couplings(dt, on_error)
        values = np.empty(len(self.noise), dtype=np.float64)
        for idx, domain, field, rows in self._columns:
            values[idx] = world.tables[domain].columns[field][rows]
        values += self.noise * self.rng.standard_normal(len(values))
        if self.fault.any():
            stuck = self.fault == 1
            values[stuck] = self.stuck_value[stuck]
            drifting = self.fault == 2
            values[drifting] += self.drift_rate[drifting] * (world.time - self.drift_since[drifting]) / 3600.0
        np.clip(values, self.low, self.high, out=values)
        self._last = values.copy()
        times = np.full(len(values), world.time)
        alive = self.fault != 3
        if alive.all():
            return self.sensor_index, times, values, np.zeros(len(values), dtype=np.int64)
        # a dead sensor sends nothing: the twin keeps its last value and marks it stale
        return self.sensor_index[alive], times[alive], values[alive], np.zeros(int(alive.sum()), dtype=np.int64)
