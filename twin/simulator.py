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
    def __init__(self, scene: Scene, registry: Registry, seed: int = 0) -> None:
        self.world = World(scene, registry, seed, tag="truth")
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
        # A real transducer saturates at the ends of its span rather than report the
        # impossible: clip noise into each field's physical range.
        self.low = np.array([self.world.locate(s.asset)[0].specs[s.field].valid[0] for s in scene.sensors])
        self.high = np.array([self.world.locate(s.asset)[0].specs[s.field].valid[1] for s in scene.sensors])

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
            world.apply_action(incident.action, incident.asset, incident.params)
            self.applied.append(incident)
        world.step_physics(dt, on_error)
        world.step_couplings(dt, on_error)
        values = np.empty(len(self.noise), dtype=np.float64)
        for idx, domain, field, rows in self._columns:
            values[idx] = world.tables[domain].columns[field][rows]
        values += self.noise * self.rng.standard_normal(len(values))
        np.clip(values, self.low, self.high, out=values)
        times = np.full(len(values), world.time)
        return self.sensor_index, times, values, np.zeros(len(values), dtype=np.int64)
