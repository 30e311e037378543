"""The plugin host: one pluggy manager, entry-point discovery, checks and quarantine.

Plugins are found through the ``twin.plugins.registry`` entry-point group (the built-in ones
too). ``TWIN_PLUGINS=gas,bridges`` restricts which load; ``TWIN_TRACE_HOOKS=1`` logs
every hook call with its result. A plugin whose import or hook fails is listed as
quarantined with the reason; the others load.
"""

from __future__ import annotations

import difflib
import inspect
import logging
import os
import traceback
import typing
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import numpy as np
import pluggy

from twin.plugins import contributions, hookspecs
from twin.plugins.contributions import (
    Action,
    AlarmRule,
    AssetGenerator,
    Coupling,
    Domain,
    IncidentGrouping,
    Kernel,
    SceneImporter,
    Updater,
    ViewerStyle,
    brief,
    wrong_fields,
)

log = logging.getLogger("twin.plugins")

ENTRY_POINT_GROUP = "twin.plugins"
HOOKS = [name for name in dir(hookspecs) if name.startswith("twin_")]


def _returns(hook: str) -> type:
    """The contribution class a hook returns a list of, read from its annotation in
    :mod:`twin.plugins.hookspecs` (declared once, there)."""
    hint = typing.get_type_hints(getattr(hookspecs, hook), globalns=vars(contributions))["return"]
    assert typing.get_origin(hint) is list, f"{hook}: hook specs return list[<contribution>]"
    return typing.get_args(hint)[0]


#: hook -> the class of the items of the list it returns
RETURNS: dict[str, type] = {hook: _returns(hook) for hook in HOOKS}


@dataclass
class PluginInfo:
    """What ``twin plugins`` lists for one plugin."""

    name: str
    version: str
    hooks: list[str] = field(default_factory=list)
    status: str = "active"  # or "quarantined"
    reason: str = ""
    module: Any = None


@dataclass
class Registry:
    """Every contribution of every active plugin, keyed by the plugin that made it."""

    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    domains: dict[str, Domain] = field(default_factory=dict)
    domain_owner: dict[str, str] = field(default_factory=dict)
    updaters: list[tuple[str, Updater]] = field(default_factory=list)
    kernels: list[tuple[str, Kernel]] = field(default_factory=list)
    couplings: list[tuple[str, Coupling]] = field(default_factory=list)
    rules: list[tuple[str, AlarmRule]] = field(default_factory=list)
    actions: dict[str, tuple[str, Action]] = field(default_factory=dict)
    styles: dict[str, ViewerStyle] = field(default_factory=dict)
    generators: list[tuple[str, AssetGenerator]] = field(default_factory=list)
    #: scene importers by format (``twin import FORMAT FILE``)
    importers: dict[str, tuple[str, SceneImporter]] = field(default_factory=dict)
    #: which alarms make one incident, per domain or rule (twin.loop.grouping)
    groupings: list[tuple[str, IncidentGrouping]] = field(default_factory=list)
    #: (domain, field) pairs each plugin's updaters, kernels and couplings write, kept
    #: after quarantine so their values can be marked stale
    outputs: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def active(self, plugin: str) -> bool:
        info = self.plugins.get(plugin)
        return info is not None and info.status == "active"

    def quarantine(self, plugin: str, reason: str) -> None:
        """Stop running ``plugin``'s updaters, kernels and couplings; keep its domains."""
        info = self.plugins[plugin]
        if info.status != "quarantined":
            log.error("plugin quarantined", extra={"plugin": plugin, "reason": reason})
        info.status, info.reason = "quarantined", reason

    def release(self, plugin: str) -> str:
        """Put a plugin quarantined while the twin ran back to active: its updaters,
        kernels, couplings and rules run again from their next step. Returns the reason
        it was quarantined; refuses as :meth:`releasable` does."""
        reason = self.releasable(plugin)
        self.plugins[plugin].status, self.plugins[plugin].reason = "active", ""
        return reason

    def releasable(self, plugin: str) -> str:
        """The reason ``plugin`` is quarantined, if :meth:`release` may release it.
        KeyError names an unknown plugin; ValueError one that is not quarantined, or was
        quarantined while loading (its contributions were never kept: only a restart
        loads it)."""
        info = self.plugins.get(plugin)
        if info is None:
            raise KeyError(f"no plugin {plugin!r}; known: {', '.join(sorted(self.plugins)) or 'none'}")
        if info.status != "quarantined":
            raise ValueError(f"plugin {plugin!r} is {info.status}, not quarantined: there is nothing to release")
        kept = any(p == plugin for attr in ("updaters", "kernels", "couplings", "rules") for p, _ in getattr(self, attr))
        if not kept:
            raise ValueError(f"plugin {plugin!r} was quarantined while loading ({info.reason.splitlines()[0] if info.reason else ''}); "
                             f"only a restart loads it again")
        return info.reason

    def outputs_of(self, plugin: str) -> list[tuple[str, str]]:
        """(domain, field) pairs written by the plugin's updaters and kernels."""
        return self.outputs.get(plugin, [])

    def drop_inactive(self) -> None:
        """Forget the contributions of quarantined plugins; their domains stay, so that
        a scene still loads and their fields show as stale."""
        for attr in ("updaters", "kernels", "couplings", "rules", "generators", "groupings"):
            setattr(self, attr, [(p, c) for p, c in getattr(self, attr) if self.active(p)])
        self.actions = {n: (p, a) for n, (p, a) in self.actions.items() if self.active(p)}
        self.importers = {f: (p, i) for f, (p, i) in self.importers.items() if self.active(p)}
        self.styles = {d: s for d, s in self.styles.items() if self.active(self.domain_owner.get(d, ""))}


def _plugin_name(module: Any) -> str:
    return getattr(module, "PLUGIN_NAME", None) or getattr(module, "__name__", repr(module)).split(".")[0]


def discover(names: list[str] | None = None) -> tuple[list[tuple[str, str, Any]], list[PluginInfo]]:
    """Entry points of ``twin.plugins.registry``: loaded modules and the ones that failed to import."""
    wanted = names if names is not None else _env_names()
    loaded: list[tuple[str, str, Any]] = []
    failed: list[PluginInfo] = []
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if wanted is not None and ep.name not in wanted:
            continue
        version = ep.dist.version if ep.dist is not None else "?"
        try:
            loaded.append((ep.name, version, ep.load()))
        except Exception as exc:  # a broken import must not stop the listing
            failed.append(PluginInfo(ep.name, version, status="quarantined", reason=f"import failed: {exc!r}"))
    return loaded, failed


def _env_names() -> list[str] | None:
    value = os.environ.get("TWIN_PLUGINS", "").strip()
    return [n.strip() for n in value.split(",") if n.strip()] if value else None


def load_registry(
    modules: list[ModuleType | Any] | None = None,
    *,
    entry_points: bool = True,
    check_kernels: bool = True,
) -> Registry:
    """Make the manager, load plugins and collect and check their contributions.

    ``modules`` are registered in addition to (or, with ``entry_points=False``, instead
    of) the installed entry points: tests and the plugin harness use this.
    """
    pm = pluggy.PluginManager("twin")
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    found: list[tuple[str, str, Any]] = []
    if entry_points:
        found, failed = discover()
        for info in failed:
            registry.plugins[info.name] = info
    for module in modules or []:
        found.append((_plugin_name(module), getattr(module, "__version__", "0"), module))
    for name, version, module in found:
        if name in registry.plugins:
            continue
        unknown = sorted(a for a in dir(module) if a.startswith("twin_") and callable(getattr(module, a)) and a not in HOOKS)
        if unknown:
            # A misspelt hook would fail pluggy's check_pending for everyone: refuse this plugin only.
            hints = [f"{u} (did you mean {difflib.get_close_matches(u, HOOKS, 1)[0]}?)" if difflib.get_close_matches(u, HOOKS, 1) else u for u in unknown]
            registry.plugins[name] = PluginInfo(name, version, status="quarantined", reason=f"unknown hook(s): {', '.join(hints)}; valid hooks: {', '.join(HOOKS)}")
            continue
        try:
            pm.register(module, name=name)
        except Exception as exc:
            registry.plugins[name] = PluginInfo(name, version, status="quarantined", reason=f"registration failed: {exc}")
            continue
        hooks = sorted(h.name for h in pm.get_hookcallers(module) or [])
        registry.plugins[name] = PluginInfo(name, version, hooks, module=module)
    pm.check_pending()
    _collect(pm, registry)
    if check_kernels:
        for plugin, kernel in list(registry.kernels):
            if not registry.active(plugin):
                continue
            try:
                check_kernel(kernel, registry.domains.get(kernel.domain))
            except Exception as exc:
                registry.quarantine(plugin, f"kernel {kernel.name!r} refused: {exc}")
    # A plugin quarantined late (by its third hook, or a kernel check) keeps none of its work.
    registry.drop_inactive()
    return registry


def _call_each(pm: pluggy.PluginManager, hook: str, registry: Registry) -> list[tuple[str, Any]]:
    """Call ``hook`` on every plugin separately, so a failure names its plugin; what it
    returns is checked against the hook's declared type before anything uses it."""
    results: list[tuple[str, Any]] = []
    trace = bool(os.environ.get("TWIN_TRACE_HOOKS"))
    for impl in getattr(pm.hook, hook).get_hookimpls():
        plugin = impl.plugin_name
        if not registry.active(plugin):
            continue
        try:
            value = impl.function()
        except Exception as exc:
            registry.quarantine(plugin, f"hook {hook} raised {exc!r}\n{traceback.format_exc(limit=3)}")
            continue
        wrong = wrong_return(hook, value)
        if wrong:
            # One plugin's mistake must not reach the code that reads every plugin's work.
            registry.quarantine(plugin, wrong)
            continue
        if trace:
            names = [getattr(v, "name", None) or getattr(v, "domain", None) or type(v).__name__ for v in value]
            log.info("hook call", extra={"hook": hook, "plugin": plugin, "returned": names})
        for item in value:
            results.append((plugin, item))
    return results


def wrong_return(hook: str, value: Any) -> str | None:
    """Why ``value`` is not what ``hook`` must return (a list of its contribution class,
    each with fields of their declared types), or None when it is."""
    cls = RETURNS[hook]
    expected = f"list[twin.{cls.__name__}]"
    if not isinstance(value, (list, tuple)):
        hint = " (return [] to contribute nothing)" if value is None else ""
        return f"{hook} returned {type(value).__name__}; expected {expected}{hint}"
    for index, item in enumerate(value):
        if not isinstance(item, cls):
            return f"{hook} returned a list whose item {index} is {type(item).__name__} ({brief(item)}); expected {expected}"
        problems = wrong_fields(item)
        if problems:
            name = getattr(item, "name", None) or getattr(item, "domain", None) or getattr(item, "format", "")
            return f"{hook}: {cls.__name__} {name!r}: {'; '.join(problems)}"
    return None


def _collect(pm: pluggy.PluginManager, registry: Registry) -> None:
    for plugin, domain in _call_each(pm, "twin_domains", registry):
        if domain.name in registry.domains:
            registry.quarantine(plugin, f"domain {domain.name!r} is already declared by plugin {registry.domain_owner[domain.name]!r}")
        else:
            registry.domains[domain.name] = domain
            registry.domain_owner[domain.name] = plugin

    def fields_exist(plugin: str, what: str, domain: str, names: tuple[str, ...]) -> bool:
        d = registry.domains.get(domain)
        if d is None:
            registry.quarantine(plugin, f"{what}: domain {domain!r} is not declared (known: {', '.join(registry.domains)})")
            return False
        unknown = [n for n in names if n not in {f.name for f in d.fields}]
        if unknown:
            registry.quarantine(plugin, f"{what}: domain {domain!r} has no field(s) {', '.join(unknown)}")
            return False
        return True

    def kinds_exist(plugin: str, what: str, domain: str, kinds: tuple[str, ...]) -> bool:
        valid = {k.name for k in registry.domains[domain].kinds}
        unknown = [k for k in kinds if k not in valid]
        if unknown:
            registry.quarantine(plugin, f"{what}: domain {domain!r} has no kind(s) {', '.join(unknown)}; valid: {', '.join(sorted(valid))}")
            return False
        return True

    for plugin, u in _call_each(pm, "twin_updaters", registry):
        if fields_exist(plugin, f"updater {u.name!r}", u.domain, u.reads + u.writes):
            registry.updaters.append((plugin, u))
    for plugin, k in _call_each(pm, "twin_kernels", registry):
        if fields_exist(plugin, f"kernel {k.name!r}", k.domain, k.inputs + k.outputs):
            registry.kernels.append((plugin, k))
    candidates: list[tuple[str, Coupling]] = []
    for plugin, c in _call_each(pm, "twin_couplings", registry):
        missing = [d for d in (c.source, c.target) if d not in registry.domains]
        if missing:
            # A coupling to a domain that is not installed is simply idle: the gas plugin
            # must run in a city without a drainage plugin.
            log.info("coupling idle: domain not installed", extra={"plugin": plugin, "coupling": c.name, "missing": missing})
            continue
        if not fields_exist(plugin, f"coupling {c.name!r} (its writes)", c.target, c.writes):
            continue
        wrong = _wrong_coupling(c, registry.domains)
        if wrong:
            registry.quarantine(plugin, f"coupling {c.name!r} {wrong}")
        else:
            candidates.append((plugin, c))
    registry.couplings.extend(_one_writer_per_field(candidates, registry))
    for plugin, r in _call_each(pm, "twin_alarm_rules", registry):
        if fields_exist(plugin, f"alarm rule {r.name!r}", r.domain, (r.risk_field,)) and kinds_exist(plugin, f"alarm rule {r.name!r}", r.domain, r.kinds):
            registry.rules.append((plugin, r))
    for plugin, a in _call_each(pm, "twin_actions", registry):
        if a.name in registry.actions:
            registry.quarantine(plugin, f"action {a.name!r} is already contributed by {registry.actions[a.name][0]!r}")
        elif fields_exist(plugin, f"action {a.name!r}", a.domain, ()) and kinds_exist(plugin, f"action {a.name!r}", a.domain, a.kinds):
            registry.actions[a.name] = (plugin, a)
    for plugin, s in _call_each(pm, "twin_viewer_styles", registry):
        owner = registry.domain_owner.get(s.domain)
        if owner is not None and owner != plugin:
            log.warning("viewer style ignored: domain has another owner", extra={"plugin": plugin, "domain": s.domain, "owner": owner})
            continue
        registry.styles[s.domain] = s
    for plugin, g in _call_each(pm, "twin_asset_generators", registry):
        registry.generators.append((plugin, g))
    for plugin, imp in _call_each(pm, "twin_scene_importers", registry):
        if imp.format in registry.importers:
            registry.quarantine(plugin, f"scene importer {imp.format!r} is already contributed by {registry.importers[imp.format][0]!r}")
        else:
            registry.importers[imp.format] = (plugin, imp)
    for plugin, g in _call_each(pm, "twin_incident_groupings", registry):
        wrong = _wrong_grouping(plugin, g, registry)
        if wrong is None:
            registry.groupings.append((plugin, g))
        elif wrong:
            registry.quarantine(plugin, f"incident grouping for {g.domain!r} {wrong}")
    for plugin, u in registry.updaters:
        registry.outputs.setdefault(plugin, []).extend((u.domain, f) for f in u.writes)
    for plugin, k in registry.kernels:
        registry.outputs.setdefault(plugin, []).extend((k.domain, f) for f in k.outputs)
    for plugin, c in registry.couplings:
        registry.outputs.setdefault(plugin, []).extend((c.target, f) for f in c.writes)


def _wrong_coupling(c: Coupling, domains: dict[str, Domain]) -> str | None:
    """What is wrong with a coupling's declared reads and writes (both domains being
    installed, its writes fields of the target), or None."""
    if not c.writes:
        return f"declares no writes: name the fields of {c.target!r} it changes, e.g. writes=(\"<field>\",)"
    sides = dict.fromkeys((c.source, c.target))
    for read in c.reads:
        domain, dot, name = read.partition(".")
        if not dot:
            return f"reads {read!r}: name it \"<domain>.<field>\", such as {c.source + '.' + read!r}"
        if domain not in sides:
            return f"reads {read!r}: a coupling reads its source {c.source!r} or its target {c.target!r}, not {domain!r}"
        fields = [f.name for f in domains[domain].fields]
        if name not in fields:
            return f"reads {read!r}: domain {domain!r} has no field {name!r}; it has {', '.join(fields)}"
    if not any(read.partition(".")[0] == c.source for read in c.reads):
        example = next((f.name for f in domains[c.source].fields if not f.attribute), "<field>")
        return (f"declares no reads of its source {c.source!r}: name the fields its effect depends on, "
                f"e.g. reads=(\"{c.source}.{example}\",)")
    return None


def _wrong_grouping(plugin: str, g: IncidentGrouping, registry: Registry) -> str | None:
    """What is wrong with an incident grouping, None when nothing is, or "" when it is
    for another plugin's domain (ignored with a warning, as a style for one is)."""
    owner = registry.domain_owner.get(g.domain)
    if owner is None:
        return f"names a domain that is not declared (known: {', '.join(registry.domains)})"
    if owner != plugin:
        log.warning("incident grouping ignored: domain has another owner", extra={"plugin": plugin, "domain": g.domain, "owner": owner})
        return ""
    if not g.distance >= 0 or not g.window >= 0:
        return f"has distance {g.distance!r} m and window {g.window!r} s; both must be numbers >= 0 (distance may be math.inf)"
    rules = {r.name for p, r in registry.rules if r.domain == g.domain}
    unknown = [r for r in g.rules if r not in rules]
    if unknown:
        return f"names alarm rule(s) {', '.join(unknown)} that {g.domain!r} has not; valid: {', '.join(sorted(rules)) or 'none'}"
    return None


def _one_writer_per_field(candidates: list[tuple[str, Coupling]], registry: Registry) -> list[tuple[str, Coupling]]:
    """The couplings that may run: when couplings of two plugins write one field, their
    order would decide its value, so only one plugin's stay: the target domain's owner's,
    else the first loaded. The others' plugins are quarantined, both couplings named.
    Couplings of one plugin run in the order it returns them."""
    writer: dict[tuple[str, str], tuple[str, str]] = {}
    for plugin, c in sorted(candidates, key=lambda pc: registry.domain_owner.get(pc[1].target) != pc[0]):
        if not registry.active(plugin):
            continue
        for name in c.writes:
            other = writer.get((c.target, name))
            if other is not None and other[0] != plugin:
                registry.quarantine(plugin, f"coupling {c.name!r} writes {c.target}.{name}, which coupling {other[1]!r} of "
                                            f"plugin {other[0]!r} writes too: two plugins' couplings may not write one field")
                break
        else:
            for name in c.writes:
                writer.setdefault((c.target, name), (plugin, c.name))
    return [(p, c) for p, c in candidates if registry.active(p)]


def check_kernel(kernel: Kernel, domain: Domain | None, rows: int = 4) -> None:
    """Run ``kernel`` once on ``rows`` rows of its declared dtypes; raise on any fault.

    This compiles it (into the on-disk cache) before the server accepts clients.
    """
    if domain is None:
        raise ValueError(f"domain {kernel.domain!r} is not declared")
    func = kernel.func
    if not (hasattr(func, "py_func") and hasattr(func, "signatures")):
        raise TypeError("func is not a Numba @njit dispatcher; decorate it with @njit(cache=True, nogil=True)")
    expected = len(kernel.inputs) + len(kernel.params) + len(kernel.outputs)
    try:
        arity = len(inspect.signature(func.py_func).parameters)
    except (TypeError, ValueError):
        arity = expected
    if arity != expected:
        raise TypeError(
            f"func takes {arity} arguments; the declaration needs {expected} "
            f"({len(kernel.inputs)} inputs, {len(kernel.params)} params, {len(kernel.outputs)} outputs)"
        )
    arrays = []
    for name in kernel.inputs + kernel.outputs:
        spec = domain.field(name)
        lo, hi = spec.valid
        value = spec.default if np.isfinite(spec.default) else (lo if np.isfinite(lo) else 0.0)
        arrays.append(np.full(rows, value, dtype=spec.dtype))
    inputs, outputs = arrays[: len(kernel.inputs)], arrays[len(kernel.inputs) :]
    params = [p.as_argument() for p in kernel.params]
    try:
        func(*inputs, *params, *outputs)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        dtypes = ", ".join(f"{n}:{domain.field(n).dtype}" for n in kernel.inputs + kernel.outputs)
        raise TypeError(f"failed on the declared dtypes ({dtypes}): {first}") from exc
    for name, out in zip(kernel.outputs, outputs):
        if out.dtype.kind != "f":
            continue
        lo, hi = domain.field(name).valid
        # +-inf is a legal value where the field's range admits it ("never" for a time to threshold)
        bad = np.isnan(out) | ((out == np.inf) & (hi != np.inf)) | ((out == -np.inf) & (lo != -np.inf))
        if bad.any():
            raise ValueError(f"output {name!r} is NaN or infinite on a default input; valid is [{lo}, {hi}]")
