"""The configuration tables, declared once: ``[thresholds]``, ``[alarms]``, ``[engine]``.

A scene's ``scene.toml``, a drill file and a ``--config`` file may each carry them; a
``--config`` file refines the scene's own, table by table. Their shape is declared
here; which ``[thresholds."<name>"]`` tables and parameters exist is the plugins' to
declare (:func:`twin.tick.params.thresholds_type`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

#: ``[thresholds."<name>"]``: parameters by kernel, updater or coupling name, each a number
#: or a list of numbers (the plugins declare which exist: :func:`twin.tick.params.thresholds_type`)
Thresholds = Annotated[dict[str, dict[str, float | list[float]]],
                       Meta(extra={"expected": 'tables [thresholds."<kernel, updater or coupling>"] of parameters'})]

Level = Literal["1", "2", "3", "4"]

#: a table the part of the twin that reads it checks when the twin starts, naming the key
#: and what is valid (its page of the docs lists its keys)
Owned = Annotated[dict[str, Any], Meta(extra={"expected": "a table (its page of the docs lists its keys)"})]


class AlarmsTable(Struct, forbid_unknown_fields=True, kw_only=True):
    """``[alarms]``: how alarms are handled."""

    #: seconds to acknowledge an alarm, per level (`1` blue IV ... `4` red I): an alarm
    #: not acknowledged in time is overdue (default 7200, 1800, 900, 300)
    deadlines: Annotated[dict[Level, Annotated[float, Meta(gt=0)]],
                         Meta(extra={"expected": "a table { 1 = seconds, ..., 4 = seconds }, each above zero"})] = {}


class EngineTable(Struct, forbid_unknown_fields=True, kw_only=True):
    """``[engine]``: how the engine runs its plugins."""

    #: seconds a plugin step may run before its plugin is quarantined (none: 10, or
    #: `twin serve --plugin-deadline`)
    plugin_deadline: Annotated[float, Meta(gt=0)] | None = None


class ConfigFile(Struct, forbid_unknown_fields=True, kw_only=True):
    """A ``--config`` file: the tables that refine a scene's own."""

    #: parameters of kernels, updaters and couplings by name (the plugins' `Param`s)
    thresholds: Thresholds = {}
    #: alarm handling
    alarms: AlarmsTable | None = None
    #: the engine's limits
    engine: EngineTable | None = None
    #: the history store's settings, checked by the store (docs/history.md)
    history: Owned = {}
    #: where the notification channels are configured (docs/notifications.md)
    notifications: Owned = {}
    #: escalation deadlines and chain, checked by the escalation (docs/notifications.md)
    escalation: Owned = {}
    #: overrides of the plugins' incident grouping rules (docs/incidents.md)
    incident_grouping: Owned = {}
