"""Plugins that go wrong the way the supervisor must survive: a step that never returns
(in Python code, or blocked in C where no exception reaches it) and a kernel that
starts giving NaN. Each misbehaves only once ``trigger.set()`` is called, so that a
test can first see the twin healthy."""

from __future__ import annotations

import threading
import time
import types

import numpy as np
from numba import njit

from brokenplugins import _module  # one way to make a plugin module in the tests
from twin import Kernel, Updater


def spinning(trigger: threading.Event) -> types.ModuleType:
    """An updater over the toy domain that loops for ever in Python once triggered."""

    def step(ctx):
        while trigger.is_set():
            pass

    return _module("spinning", twin_updaters=lambda: [Updater("spin", "toy", step, (), ())])


def blocked(trigger: threading.Event, release: threading.Event) -> types.ModuleType:
    """An updater that, once triggered, blocks in C (a lock wait) where no Python
    exception can reach it, until ``release`` is set."""

    def step(ctx):
        if trigger.is_set():
            release.wait()
            time.sleep(0)

    return _module("blocked", twin_updaters=lambda: [Updater("block", "toy", step, (), ())])


@njit(cache=True, nogil=True)
def risk_or_nan(level, inflow, risk):  # pragma: no cover - compiled
    """Risk = level / 100, except NaN where the inflow is 9 m3/s or more (the fault a
    test switches on by opening a tap that far)."""
    for i in range(level.shape[0]):
        risk[i] = np.nan if inflow[i] >= 9.0 else min(level[i] / 100.0, 1.0)


def nan_risk() -> types.ModuleType:
    """A kernel over the toy domain's risk that gives NaN on rows with a wide-open tap."""
    return _module("nanrisk", twin_kernels=lambda: [Kernel("nanrisk.k", "toy", risk_or_nan, ("level", "inflow"), ("risk",))])


def slow_first_call(seconds: float) -> types.ModuleType:
    """An updater whose first call takes ``seconds`` (as a cold numba compile does)."""
    calls = {"n": 0}

    def step(ctx):
        calls["n"] += 1
        if calls["n"] == 1:
            time.sleep(seconds)

    return _module("coldstart", twin_updaters=lambda: [Updater("compile", "toy", step, (), ())])
