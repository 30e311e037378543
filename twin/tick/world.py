"""A world: the state tables of every domain of a scene, and how they are stepped.

The engine holds one world (the twin's view, fed by sensors); the simulator holds
another (the ground truth its sensors measure). Both step the same plugins.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.tick.params import param_map
from twin.plugins.registry import Registry
from twin.tick.scene import Scene
from twin.tick.state import DomainTable
from twin.tick.supervision import StepWatch


@dataclass
class StepContext:
    """What an updater or coupling sees: the world, the clock and its own domain."""

    #: the world being stepped: the twin's, or the simulator's ground truth
    world: World
    #: the step's own domain: an updater's, or a coupling's target
    domain: str
    #: the time at the end of this tick, s (simulated, or UTC epoch seconds when live)
    time: float
    #: the tick's length, s
    dt: float
    #: seeded per run and plugin: the only randomness a step may use
    rng: np.random.Generator
    #: the step's own parameters by name (``Updater.params``/``Coupling.params``), from
    #: the plugin's defaults or the configuration's ``[thresholds.<name>]``
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def table(self) -> DomainTable:
        """The step's own domain's table; write the fields it declares in place."""
        return self.world.tables[self.domain]

    @property
    def tables(self) -> dict[str, DomainTable]:
        """Every installed domain's table by name (a coupling reads its source here)."""
        return self.world.tables


class World:
    """State tables built from a scene, with the static attributes filled in."""

    def __init__(
        self, scene: Scene, registry: Registry, seed: int = 0, tag: str = "twin", config: dict[str, Any] | None = None
    ) -> None:
        #: the scene it was built from (its assets, in table row order, and sensors)
        self.scene = scene
        self.registry = registry
        self.seed = seed
        #: "twin" or "truth": mixed into each plugin's random stream, so that the twin's
        #: modelled noise on unmeasured assets does not repeat the truth's by construction
        self.tag = tag
        #: the time of the last tick, s
        self.time = 0.0
        #: every installed domain's table by name, one row per asset of the scene
        self.tables: dict[str, DomainTable] = {}
        self.locations: dict[str, tuple[str, int]] = {}
        for name, domain in registry.domains.items():
            assets = scene.assets.get(name, [])
            table = DomainTable(domain, [a.id for a in assets], [a.kind for a in assets])
            for spec in domain.fields:
                if not spec.attribute:
                    continue
                column = table.columns[spec.name]
                for row, asset in enumerate(assets):
                    value = asset.attributes.get(spec.name)
                    if value is not None:
                        column[row] = value
            self.tables[name] = table
            for row, asset in enumerate(assets):
                self.locations[asset.id] = (name, row)
        self._rngs: dict[str, np.random.Generator] = {}
        self._memo: dict[Any, Any] = {}
        #: set by the engine: every call into plugin code runs inside ``watch.step``,
        #: so that a supervisor can see which plugin overruns (twin.tick.supervision)
        self.watch: StepWatch | None = None
        # Resolved once: a bad [thresholds.<name>] value stops the start-up, not a tick.
        thresholds = (config or {}).get("thresholds", {})
        self._params: dict[str, dict[str, Any]] = {
            c.name: param_map(c, thresholds, registry) for _, c in [*registry.updaters, *registry.couplings]
        }

    def memo(self, key: Any, build: Callable[[], Any]) -> Any:
        """A value built once per world: topology lookups an updater derives from the
        scene (which space lies beside which main) and reuses every tick."""
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    def rng(self, plugin: str) -> np.random.Generator:
        """A generator seeded from the run's seed and the plugin's name."""
        if plugin not in self._rngs:
            self._rngs[plugin] = np.random.default_rng([self.seed, zlib.crc32(plugin.encode()), zlib.crc32(self.tag.encode())])
        return self._rngs[plugin]

    def locate(self, asset_id: str) -> tuple[DomainTable, int]:
        """The table and row of an asset; KeyError names the unknown id."""
        try:
            domain, row = self.locations[asset_id]
        except KeyError:
            raise KeyError(f"no asset {asset_id!r} in scene {self.scene.name!r}") from None
        return self.tables[domain], row

    def context(self, plugin: str, domain: str, dt: float, step: str = "") -> StepContext:
        return StepContext(self, domain, self.time, dt, self.rng(plugin), self._params.get(step, {}))

    def step_physics(
        self, dt: float, on_error: Callable[[str, str, BaseException], None], timings: dict[str, float] | None = None
    ) -> None:
        """Run every active plugin's updaters (advance the clock first); add each
        plugin's wall time to ``timings``."""
        self.time += dt
        for plugin, updater in self.registry.updaters:
            if not self.registry.active(plugin):
                continue
            started = time.perf_counter()
            what = f"updater {updater.name!r}"
            try:
                with self._watched(plugin, what):
                    updater.step(self.context(plugin, updater.domain, dt, updater.name))
            except Exception as exc:
                on_error(plugin, what, exc)
            if timings is not None:
                timings[plugin] = timings.get(plugin, 0.0) + time.perf_counter() - started

    def step_couplings(self, dt: float, on_error: Callable[[str, str, BaseException], None]) -> None:
        for plugin, coupling in self.registry.couplings:
            if not self.registry.active(plugin):
                continue
            what = f"coupling {coupling.name!r}"
            try:
                with self._watched(plugin, what):
                    coupling.step(self.context(plugin, coupling.target, dt, coupling.name))
            except Exception as exc:
                on_error(plugin, what, exc)

    def _watched(self, plugin: str, what: str) -> contextlib.AbstractContextManager[None]:
        return self.watch.step(plugin, what) if self.watch is not None else contextlib.nullcontext()

    def apply_action(self, name: str, asset_id: str, params: dict[str, Any]) -> None:
        """Apply a plugin action; errors name the action, the asset and the parameter."""
        action, values = self.check_action(name, asset_id, params)
        action.apply(self, asset_id, **values)

    def check_action(self, name: str, asset_id: str, params: dict[str, Any]) -> tuple[Any, dict[str, float]]:
        """The plugin action and its parameters with defaults filled in, if ``name`` may act
        on ``asset_id`` with ``params``; else KeyError or ValueError naming what is wrong.
        Changes nothing (a twin that sends actions to the field checks them here first)."""
        try:
            plugin, action = self.registry.actions[name]
        except KeyError:
            raise KeyError(f"unknown action {name!r}; known: {', '.join(sorted(self.registry.actions))}") from None
        table, row = self.locate(asset_id)
        if table.domain.name != action.domain:
            raise ValueError(f"action {name!r} acts on domain {action.domain!r}; asset {asset_id!r} is in {table.domain.name!r}")
        kind = table.kind_names[table.kind[row]]
        if action.kinds and kind not in action.kinds:
            raise ValueError(f"action {name!r} applies to kinds {', '.join(action.kinds)}; asset {asset_id!r} is a {kind!r}")
        values: dict[str, float] = {}
        known = {p.name: p for p in action.params}
        for key in params:
            if key not in known:
                raise ValueError(f"action {name!r} has no parameter {key!r}; it takes {', '.join(known) or 'none'}")
        for p in action.params:
            value = params.get(p.name, p.default)
            if value is None:
                raise ValueError(f"action {name!r} needs parameter {p.name!r} ({p.unit}): {p.description}")
            value = float(value)
            if not p.valid[0] <= value <= p.valid[1]:
                raise ValueError(f"action {name!r}: {p.name} = {value} {p.unit} is outside [{p.valid[0]}, {p.valid[1]}]")
            values[p.name] = value
        return action, values

    def digest(self) -> str:
        h = hashlib.sha256()
        for name in sorted(self.tables):
            h.update(self.tables[name].digest().encode())
        return h.hexdigest()
