"""Supervision of plugin code on the tick: which step runs now, since when, and how a
step that overruns its deadline is stopped or abandoned.

Python cannot kill a thread. A step that overruns is first *interrupted*: an exception
is raised asynchronously in the tick thread (``PyThreadState_SetAsyncExc``), which
stops Python code at its next bytecode, so the engine quarantines the plugin as it
does for any exception and finishes the tick. Code that never returns to the
interpreter (a compiled ``nogil`` loop, a blocking C call) cannot be interrupted: the
tick is then *abandoned* — the thread is left to itself, the twin ticks on in a new
one, and when (if ever) the stuck call returns, :class:`TickAbandoned` ends what was
left of that tick before it touches the state again.
"""

from __future__ import annotations

import ctypes
import threading
import time
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from twin.tick.alarms import SYSTEM_DOMAIN

if TYPE_CHECKING:
    from twin.tick.engine import Engine

log = logging.getLogger("twin.tick.supervision")


class PluginOverrun(Exception):
    """Raised inside a plugin step that ran past its deadline (an ``Exception``, so the
    engine's usual handler quarantines the plugin and the tick goes on)."""


class TickAbandoned(BaseException):
    """Ends a tick that the supervisor gave up on. A ``BaseException``, so that no
    plugin handler (``except Exception``) catches it and carries on with stale state."""


@dataclass(frozen=True)
class Step:
    plugin: str
    what: str
    started: float  # time.monotonic()
    thread: int  # threading.get_ident() of the tick thread
    #: has this step (plugin and what) completed before? A first call compiles (numba
    #: compiles updaters lazily, for many seconds on a cold cache): it is not an overrun
    warm: bool = True

    def elapsed(self) -> float:
        return time.monotonic() - self.started


class StepWatch:
    """The plugin step running now, if any. The engine wraps each call into plugin code
    with :meth:`step`; a supervisor in another thread reads :attr:`current`."""

    def __init__(self) -> None:
        self.current: Step | None = None
        #: bumped when a tick is abandoned; a step started under an older generation
        #: raises TickAbandoned when its call returns
        self.generation = 0
        #: (plugin, what) of every step that has returned at least once
        self.warm: set[tuple[str, str]] = set()
        #: plugin -> what to call when a step of it next returns without failing (a
        #: released plugin's fields stay stale until then: :func:`release`)
        self.on_good_step: dict[str, Callable[[], None]] = {}

    @contextmanager
    def step(self, plugin: str, what: str) -> Iterator[None]:
        generation = self.generation
        self.current = Step(plugin, what, time.monotonic(), threading.get_ident(), (plugin, what) in self.warm)
        try:
            yield
            self.warm.add((plugin, what))
            if plugin in self.on_good_step:
                self.on_good_step.pop(plugin)()
        finally:
            self.current = None
            if self.generation != generation:
                raise TickAbandoned(f"{what} of plugin {plugin!r} returned after its tick was abandoned")

    def abandon(self) -> None:
        """Give up on the tick in progress (see the module docstring)."""
        self.generation += 1


def interrupt(step: Step) -> bool:
    """Raise :class:`PluginOverrun` in the thread running ``step``, at its next bytecode.
    False if the thread is gone."""
    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(step.thread), ctypes.py_object(PluginOverrun))
    if done > 1:  # more than one thread state matched: undo, as the C API asks
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(step.thread), None)
        return False
    return done == 1


def release(engine: Engine, plugin: str, who: str, note: str = "") -> str:
    """Release ``plugin`` from quarantine on ``engine`` (a director, after fixing the
    cause): its steps run again from the next tick. Its fields keep their last values and
    stay stale until one of its steps returns without failing; if it fails again it is
    quarantined again with the new reason. The plugin's quarantine alarm is cleared and
    closed in the alarm store by ``who`` with a note (why it was quarantined, and
    ``note``: acknowledged and resolved, so who and when are kept), and the release is
    logged. Returns the reason it was quarantined.
    KeyError: unknown plugin; ValueError: not quarantined (``Registry.release``);
    StoreUnavailable/TwinError from the alarm store leave the plugin quarantined."""
    registry = engine.registry
    was = registry.releasable(plugin)
    now = engine.world.time
    asset = f"plugin:{plugin}"
    # recorded before the plugin runs again: no release goes unrecorded
    open_id = engine.alarms.open.get(("system.plugin_quarantined", asset))
    if open_id is not None:
        alarm = engine.alarms.alarms[open_id]
        level = alarm.level
        engine.alarms.set_level("system.plugin_quarantined", SYSTEM_DOMAIN, asset, "platform operations", 0, now, rising=False)
        steps = [(open_id, "acknowledge")] if alarm.state == "raised" else []
        try:
            engine.alarms.act_all([*steps, (open_id, "resolve")], who,
                                  f"plugin {plugin} released from quarantine (was: {was.splitlines()[0] if was else ''})"
                                  + (f"; {note}" if note else ""), now)
        except BaseException:
            # not recorded, so not released: the alarm stands as it was
            engine.alarms.set_level("system.plugin_quarantined", SYSTEM_DOMAIN, asset, "platform operations", level, now)
            raise
    registry.release(plugin)
    fields = set(registry.outputs_of(plugin))

    def good_step() -> None:
        # rebound, not updated in place (the supervisor and the tick read it); fields
        # another quarantined plugin also writes stay stale
        still = {f for p, i in registry.plugins.items() if i.status == "quarantined" for f in registry.outputs_of(p)}
        engine.quarantined_fields = engine.quarantined_fields - (fields - still)

    engine.watch.on_good_step[plugin] = good_step
    engine.metrics.quarantined.set(sum(1 for p in registry.plugins.values() if p.status == "quarantined"))
    log.warning("plugin released from quarantine", extra={"plugin": plugin, "who": who, "was": was, "time": now})
    return was
