"""Plugins that go wrong inside the demo district, for the chaos test: a step that loops
for ever in Python, one that blocks in C, and a kernel that gives NaN risk on the gas
spaces it is pointed at. Each behaves until the test pulls its trigger, so that the
twin is first seen healthy with them loaded.

(tests/hangingplugins.py builds the same faults over the toy domain, which the demo
district does not have.)"""

from __future__ import annotations

import threading
import types

import numpy as np
from numba import njit

from brokenplugins import _module  # one way to make a plugin module in the tests
from twin import Kernel, Updater

#: a gas row whose ``vent_diameter`` is set to this (in metres, inside the field's valid
#: range, on no real space: only valve rows read it) gets NaN risk from :func:`nan_risk`
NAN_MARK = 0.2


def spinning(trigger: threading.Event) -> types.ModuleType:
    """An updater over the bridges that loops for ever in Python once triggered."""

    def step(ctx):
        while trigger.is_set():
            pass

    return _module("chaos_spin", twin_updaters=lambda: [Updater("chaos.spin", "bridge", step, (), ())])


def blocked(trigger: threading.Event, release: threading.Event) -> types.ModuleType:
    """An updater over the bridges that, once triggered, waits on a lock in C (where no
    exception raised into its thread reaches it) until ``release`` is set."""

    def step(ctx):
        if trigger.is_set():
            release.wait()

    return _module("chaos_block", twin_updaters=lambda: [Updater("chaos.block", "bridge", step, (), ())])


@njit(cache=True, nogil=True)
def risk_nan_where_marked(vent_diameter, risk):  # pragma: no cover - compiled
    """Leave the gas kernel's risk as it is, except NaN on rows marked with NAN_MARK."""
    for i in range(risk.shape[0]):
        if vent_diameter[i] >= 0.2:
            risk[i] = np.nan


def nan_risk() -> types.ModuleType:
    """A kernel over the gas domain's risk (run after the gas plugin's own) that gives
    NaN on the rows the test marks."""
    return _module("chaos_nan", twin_kernels=lambda: [Kernel("chaos.nan", "gas", risk_nan_where_marked, ("vent_diameter",), ("risk",))])
