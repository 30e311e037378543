"""Plugins that fail in the ways a third party's might, for the quarantine tests."""

from __future__ import annotations

import types

import numpy as np
from numba import njit

from twin import Domain, FieldSpec, AssetKind, Kernel, Updater, hookimpl


def _module(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    module.PLUGIN_NAME = name
    for hook, value in hooks.items():
        setattr(module, hook, hookimpl(value))
    return module


@njit(["void(float32[:], float32[:])"], cache=True, nogil=True)
def _float32_only(x, out):  # pragma: no cover
    for i in range(x.shape[0]):
        out[i] = x[i]


def _plain_python(x, out):
    out[:] = x


def kernel_on_toy(name: str, func) -> types.ModuleType:
    """A plugin adding one kernel over the toy domain's float64 ``level``."""
    return _module(name, twin_kernels=lambda: [Kernel(f"{name}.k", "toy", func, ("level",), ("risk",))])


def wrong_dtype() -> types.ModuleType:
    return kernel_on_toy("wrongdtype", _float32_only)


def not_numba() -> types.ModuleType:
    return kernel_on_toy("notnumba", _plain_python)


@njit(cache=True, nogil=True)
def _three_args(a, b, c):  # pragma: no cover
    pass


def wrong_arity() -> types.ModuleType:
    return kernel_on_toy("wrongarity", _three_args)


def explodes_at(tick: int) -> types.ModuleType:
    """An updater over the toy domain that raises on its ``tick``-th call."""
    calls = {"n": 0}

    def step(ctx):
        calls["n"] += 1
        if calls["n"] >= tick:
            raise ZeroDivisionError("boom in the model")
        ctx.table["risk"][:] = 0.1

    return _module("exploding", twin_updaters=lambda: [Updater("explode", "toy", step, (), ("risk",))])


def import_fails() -> types.ModuleType:
    return _module("dup", twin_domains=lambda: [Domain("toy", "again", (AssetKind("tank", "Point", ""),), (FieldSpec("x", "float64", "", (0, 1), ""),))])


def misspelt_hook() -> types.ModuleType:
    """``twin_domain`` for ``twin_domains``: a typo a third party will make."""
    return _module("typo", twin_domain=lambda: [])


def rule_on_unknown_kind() -> types.ModuleType:
    from twin import AlarmRule

    return _module("badkind", twin_alarm_rules=lambda: [AlarmRule("badkind.r", "toy", "risk", "x", kinds=("silo",))])


def coupling_to_absent_domain() -> types.ModuleType:
    from twin import Coupling

    def step(ctx):
        raise AssertionError("an idle coupling must not run")

    return _module("coupler", twin_couplings=lambda: [Coupling("coupler.c", "toy", "water", step, "tanks feed a water network")])


def coupling_writing_an_unknown_field() -> types.ModuleType:
    """A coupling that declares it writes ``levle``: refused on load, not at its first tick."""
    from twin import Coupling

    return _module("miswired", twin_couplings=lambda: [
        Coupling("miswired.c", "toy", "toy", lambda ctx: None, "tank to tank", writes=("levle",))])


def returning(name: str, **hooks) -> types.ModuleType:
    """A plugin whose hooks return the given values (called fresh for each load)."""
    return _module(name, **{hook: (lambda value=value: value) for hook, value in hooks.items()})
