"""Lifeline Twin: a plugin-based digital twin of a city's lifelines.

The public API for plugin authors is what this module exports.
"""

from __future__ import annotations

import pluggy

from twin.plugins.contributions import (
    Action,
    ActionParam,
    AlarmRule,
    AssetGenerator,
    AssetKind,
    Command,
    Coupling,
    Domain,
    FieldSpec,
    IncidentGrouping,
    Kernel,
    Param,
    SceneImporter,
    Updater,
    ViewerStyle,
)
__version__ = "0.1.0"

#: decorate a plugin's hook implementations with this
hookimpl = pluggy.HookimplMarker("twin")

__all__ = [
    "Action",
    "ActionParam",
    "AlarmRule",
    "AssetGenerator",
    "AssetKind",
    "Command",
    "Coupling",
    "Domain",
    "FieldSpec",
    "IncidentGrouping",
    "Kernel",
    "Param",
    "SceneImporter",
    "Updater",
    "ViewerStyle",
    "hookimpl",
    "piecewise_risk",
    "__version__",
]


def __getattr__(name: str) -> object:
    # Imported lazily so that importing ``twin`` does not import numba: the command line
    # must point NUMBA_CACHE_DIR into the data folder before the first kernel is made.
    if name == "piecewise_risk":
        from twin.tick.risk import piecewise_risk

        return piecewise_risk
    raise AttributeError(f"module 'twin' has no attribute {name!r}")
