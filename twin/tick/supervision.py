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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


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

    @contextmanager
    def step(self, plugin: str, what: str) -> Iterator[None]:
        generation = self.generation
        self.current = Step(plugin, what, time.monotonic(), threading.get_ident(), (plugin, what) in self.warm)
        try:
            yield
            self.warm.add((plugin, what))
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
