"""The plugin hooks: the one reference for plugin authors.

Every hook is collected from every active plugin. A plugin implements a hook by
defining a function of the same name decorated with ``@twin.hookimpl``; it may take
only the arguments it needs. Each hook has a section in ``docs/plugins.md``; a test
keeps the two in step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from twin.plugins.contributions import (
        Action,
        AlarmRule,
        AssetGenerator,
        Command,
        Coupling,
        Domain,
        IncidentGrouping,
        Kernel,
        SceneImporter,
        Updater,
        ViewerStyle,
    )

hookspec = pluggy.HookspecMarker("twin")


@hookspec
def twin_domains() -> list[Domain]:
    """Declare domains: their asset kinds and the fields of their state tables.

    :return: a list of :class:`twin.Domain`. A domain name is owned by one plugin; a
        second plugin declaring the same name is refused at start-up.
    """


@hookspec
def twin_updaters() -> list[Updater]:
    """Contribute step functions that advance a domain's physics each tick.

    Updaters run in the order returned, after ingest and before the kernels. Each
    writes only the fields it declares in ``writes``; rows fed by a live sensor are
    overwritten by the measurement afterwards. Set points a standard fixes (the %LEL
    that starts emergency fans) are ``params``, read as ``ctx.params[name]`` and
    configurable per scene like a kernel's.

    :return: a list of :class:`twin.Updater`.
    """


@hookspec
def twin_kernels() -> list[Kernel]:
    """Contribute Numba-compiled risk kernels over a domain's arrays.

    Each kernel is run once at start-up on a small input of the declared dtypes; a
    kernel that is not an ``@njit`` dispatcher, takes the wrong number of arguments or
    fails on the declared dtypes is refused with the plugin's name and the reason.

    :return: a list of :class:`twin.Kernel`.
    """


@hookspec
def twin_couplings() -> list[Coupling]:
    """Contribute cross-domain effects, stepped after the kernels.

    A coupling whose ``source`` or ``target`` domain is not installed is idle, not an
    error. It writes only the ``target`` fields it declares in ``writes`` and reads only
    the ``"<domain>.<field>"`` it declares in ``reads``, both checked on load. Couplings
    run in plugin load order, then in the order returned; two plugins' couplings may not
    write one field (the target domain's owner keeps it, the other plugin is
    quarantined). Its ``params`` reach it as ``ctx.params``, configurable per scene
    like a kernel's.

    :return: a list of :class:`twin.Coupling`.
    """


@hookspec
def twin_alarm_rules() -> list[AlarmRule]:
    """Contribute alarm rules that turn a risk field into warning levels.

    :return: a list of :class:`twin.AlarmRule`.
    """


@hookspec
def twin_actions() -> list[Action]:
    """Contribute actions that drills and operators can perform (``gas.leak``).

    :return: a list of :class:`twin.Action`. Names are ``<domain>.<verb>``.
    """


@hookspec
def twin_viewer_styles() -> list[ViewerStyle]:
    """Contribute how the viewer draws each domain: colour, legend, labels.

    :return: a list of :class:`twin.ViewerStyle`.
    """


@hookspec
def twin_asset_generators() -> list[AssetGenerator]:
    """Contribute generators that place a domain's assets in a synthetic city.

    Used by ``twin generate`` and by scenes with a ``[generated]`` table.

    :return: a list of :class:`twin.AssetGenerator`.
    """


@hookspec
def twin_scene_importers() -> list[SceneImporter]:
    """Contribute readers of utilities' file formats that write a twin scene.

    ``twin import FORMAT FILE [--out DIR]`` calls the importer of that ``format``; the
    written scene is then an ordinary scene (``twin check``, ``twin serve``). The core
    knows no format: a drainage plugin reads SWMM ``.inp`` files, a water plugin might
    read EPANET's.

    :return: a list of :class:`twin.SceneImporter`. A format name is owned by one
        plugin; a second plugin contributing the same format is quarantined.
    """


@hookspec
def twin_cli() -> list[Command]:
    """Contribute subcommands of the ``twin`` command line (``twin drainage run NET.inp``).

    The core mounts them only when ``twin`` is called with a command it does not have
    itself, so that ``twin serve`` and the other core commands never load plugins to
    parse their arguments; ``twin --help`` lists the core's commands, and ``twin NAME
    --help`` a plugin's. A command whose name the core or an earlier plugin already
    uses is refused with an error in the log, as is a hook that raises or returns the
    wrong type (the other plugins' commands still mount).

    :return: a list of :class:`twin.Command`.
    """


@hookspec
def twin_incident_groupings() -> list[IncidentGrouping]:
    """Say which of a domain's alarms are one incident (事件): one happening's alarms,
    grouped by distance and time, so that a storm's 70 flooded manholes are one line on
    the wall and a gas leak beside them another.

    A new alarm joins the open incident that holds an alarm of its domain (of the same
    rule, with ``same_rule``) within ``distance`` metres whose condition is active or
    changed less than ``window`` seconds before; failing that, an incident holding an
    alarm that a coupling links to it (the assets link each other in the scene and a
    coupling runs between their domains); else it opens a new incident. Incidents never
    merge. A grouping naming ``rules`` applies to those alarm rules only and wins over
    the domain-wide one. A domain with none gets the core's default (200 m, 30 min); the
    configuration overrides any of them in ``[incident_grouping."<domain or rule>"]``.

    :return: a list of :class:`twin.IncidentGrouping` for domains this plugin declares;
        a grouping for another plugin's domain is ignored with a warning.
    """
