"""A test harness for plugin authors (also a pytest plugin: the ``twin_harness`` fixture).

    def test_leak_raises_an_alarm(twin_harness):
        h = twin_harness(plugins=[twin_gas.plugin])
        h.act("gas.leak", "G-M-0001", diameter=0.01)
        h.run(60)
        assert h.alarms()

The harness generates a small synthetic city with the given plugins' generators,
loads it through the same validating loader as ``twin serve`` and runs a real engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from twin.tick.alarms import Alarm
from twin.authoring.citygen import CityPlan, plan_city, populate, write_scene
from twin.tick.engine import Engine
from twin.plugins.registry import Registry, load_registry
from twin.tick.scene import Scene, load_scene


class Harness:
    """A registry, a generated scene and an engine over it."""

    def __init__(
        self,
        root: Path,
        plugins: list[ModuleType] | None = None,
        entry_points: bool = False,
        blocks: tuple[int, int] = (4, 4),
        seed: int = 1,
        simulate: bool = True,
        plan_hook: Callable[[CityPlan], None] | None = None,
        config: dict[str, Any] | None = None,
        preset: str = "synthetic",
        data_dir: Path | None = None,
    ) -> None:
        self.registry: Registry = load_registry(plugins, entry_points=entry_points)
        self.plan = plan_city(seed, blocks[0], blocks[1], preset=preset, buildings=False)
        populate(self.plan, self.registry)
        if plan_hook is not None:
            plan_hook(self.plan)
        write_scene(self.plan, root, "harness", self.registry)
        self.scene: Scene = load_scene(root, self.registry.domains)
        self.engine = Engine(self.scene, self.registry, seed=seed, simulate=simulate, config=config, data_dir=data_dir)

    def run(self, seconds: float) -> None:
        self.engine.run(seconds)

    def act(self, action: str, asset: str, **params: float) -> None:
        self.engine.apply_action(action, asset, params)

    def value(self, asset: str, field: str, truth: bool = False) -> float:
        """A field of an asset in the twin (or, with ``truth``, in the simulator)."""
        world = self.engine.simulator.world if truth and self.engine.simulator else self.engine.world
        table, row = world.locate(asset)
        return float(table[field][row])

    def column(self, domain: str, field: str) -> np.ndarray:
        return self.engine.world.tables[domain][field]

    def alarms(self, asset: str | None = None) -> list[Alarm]:
        return [a for a in self.engine.alarms.active() if asset is None or a.asset == asset]

    def close(self) -> None:
        self.engine.close()


@pytest.fixture
def twin_harness(tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    """Factory of :class:`Harness` objects in a fresh temporary folder each."""
    made: list[Harness] = []

    def make(**kwargs: Any) -> Harness:
        harness = Harness(tmp_path / f"scene{len(made)}", **kwargs)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()
