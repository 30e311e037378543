"""The plugin host: listing, kernel checks at start-up, quarantine during a tick."""

import brokenplugins
import pytest

from twin import Action, ActionParam, AlarmRule, Coupling, Updater
from twin.plugins.registry import load_registry


@pytest.mark.parametrize(
    "make, reason",
    [
        (brokenplugins.wrong_dtype, "failed on the declared dtypes (level:float64, risk:float32)"),
        (brokenplugins.not_numba, "not a Numba @njit dispatcher"),
        (brokenplugins.wrong_arity, "takes 3 arguments; the declaration needs 2"),
    ],
)
def test_bad_kernel_is_refused_at_start_with_plugin_name_and_reason(toy, make, reason):
    bad = make()
    registry = load_registry([toy, bad], entry_points=False)
    info = registry.plugins[bad.PLUGIN_NAME]
    assert info.status == "quarantined"
    assert f"kernel '{bad.PLUGIN_NAME}.k' refused" in info.reason and reason in info.reason
    assert registry.active("toy")
    assert all(p != bad.PLUGIN_NAME for p, _ in registry.kernels)


def test_second_declaration_of_a_domain_is_refused(toy):
    dup = brokenplugins.import_fails()
    registry = load_registry([toy, dup], entry_points=False)
    assert registry.plugins["dup"].status == "quarantined"
    assert "already declared by plugin 'toy'" in registry.plugins["dup"].reason


def test_listing_names_hooks(toy):
    registry = load_registry([toy], entry_points=False)
    assert registry.plugins["toy"].hooks == [
        "twin_actions", "twin_alarm_rules", "twin_asset_generators", "twin_domains", "twin_kernels", "twin_updaters",
    ]


def test_plugin_raising_during_a_tick_is_quarantined_and_the_rest_runs(tmp_path, toy):
    from twin.authoring.testing import Harness

    boom = brokenplugins.explodes_at(3)
    h = Harness(tmp_path, plugins=[toy, boom], blocks=(2, 2))
    h.act("toy.open_tap", "T-000", rate=1.0)
    frames = [h.engine.tick() for _ in range(6)]
    info = h.registry.plugins["exploding"]
    assert info.status == "quarantined" and "ZeroDivisionError: boom in the model" in info.reason
    # its outputs are stale, and a system alarm says so
    assert ("toy", "risk") in frames[-1].stale
    [system] = [a for a in h.alarms() if a.domain == "system"]
    assert system.asset == "plugin:exploding" and system.level == 3
    # the healthy plugin kept running: the tank kept filling after the failure
    assert h.value("T-000", "level") == pytest.approx(60.0)
    h.close()


def test_misspelt_hook_quarantines_only_that_plugin_with_a_hint(toy):
    typo = brokenplugins.misspelt_hook()
    registry = load_registry([toy, typo], entry_points=False)
    assert registry.active("toy")
    reason = registry.plugins["typo"].reason
    assert "unknown hook(s): twin_domain (did you mean twin_domains?)" in reason


def test_alarm_rule_on_unknown_kind_is_refused(toy):
    registry = load_registry([toy, brokenplugins.rule_on_unknown_kind()], entry_points=False)
    assert "no kind(s) silo; valid: tank" in registry.plugins["badkind"].reason


def test_coupling_to_an_absent_domain_is_idle_not_fatal(tmp_path, toy):
    from twin.authoring.testing import Harness

    coupler = brokenplugins.coupling_to_absent_domain()
    h = Harness(tmp_path, plugins=[toy, coupler], blocks=(2, 2))
    assert h.registry.active("coupler") and h.registry.couplings == []
    h.run(3)
    h.close()


def test_coupling_declaring_an_unknown_field_is_quarantined_on_load(toy):
    registry = load_registry([toy, brokenplugins.coupling_writing_an_unknown_field()], entry_points=False)
    assert "coupling 'miswired.c' (its writes): domain 'toy' has no field(s) levle" in registry.plugins["miswired"].reason
    assert registry.active("toy") and registry.couplings == []


def test_trace_hooks_logs_each_call(toy, monkeypatch, caplog):
    monkeypatch.setenv("TWIN_TRACE_HOOKS", "1")
    with caplog.at_level("INFO", logger="twin.plugins"):
        load_registry([toy], entry_points=False)
    calls = [(r.hook, r.plugin, r.returned) for r in caplog.records if r.msg == "hook call"]
    assert ("twin_kernels", "toy", ["toy.overfill"]) in calls
    assert ("twin_domains", "toy", ["toy"]) in calls


def test_quarantined_plugin_loses_its_actions(toy):
    from twin import Action, hookimpl

    bad = brokenplugins.wrong_dtype()
    bad.twin_actions = hookimpl(lambda: [Action("toy.drain", "toy", lambda world, asset: None, "drain a tank")])
    registry = load_registry([toy, bad], entry_points=False)
    assert registry.plugins["wrongdtype"].status == "quarantined"
    assert "toy.drain" not in registry.actions
    assert "toy.open_tap" in registry.actions  # the healthy plugin keeps its own


def _noop(ctx):
    pass


@pytest.mark.parametrize(
    "hook, value, reason",
    [
        ("twin_updaters", {"fill": Updater("bad.fill", "toy", _noop, ("level",), ("inflow",))},
         "twin_updaters returned dict; expected list[twin.Updater]"),
        ("twin_updaters", None, "twin_updaters returned NoneType; expected list[twin.Updater] (return [] to contribute nothing)"),
        ("twin_kernels", [{"name": "bad.k"}], "twin_kernels returned a list whose item 0 is dict ({'name': 'bad.k'}); expected list[twin.Kernel]"),
        ("twin_updaters", [Updater("bad.fill", "toy", _noop, ["level"], ("inflow",))],
         "twin_updaters: Updater 'bad.fill': reads = ['level'] is a list; expected tuple[str, ...]"),
        ("twin_couplings", [Coupling("bad.c", "toy", "toy", _noop, "d", writes="inflow")],
         "twin_couplings: Coupling 'bad.c': writes = 'inflow' is a str; expected tuple[str, ...]"),
        ("twin_actions", [Action("bad.a", "toy", _noop, "d", (ActionParam("rate", "m3/s", "d", valid=(0, "10")),))],
         "twin_actions: Action 'bad.a': params[0].valid = (0, '10') is a tuple; expected tuple[float, float]"),
        ("twin_alarm_rules", [AlarmRule("bad.r", "toy", "risk", "t", kinds=("tank", 3))],
         "twin_alarm_rules: AlarmRule 'bad.r': kinds[1] = 3 is an int; expected str"),
    ],
)
def test_a_hook_returning_the_wrong_type_quarantines_its_plugin_and_the_others_run(tmp_path, toy, hook, value, reason):
    from twin.authoring.testing import Harness

    bad = brokenplugins.returning("bad", **{hook: value})
    registry = load_registry([toy, bad], entry_points=False)
    info = registry.plugins["bad"]
    assert (info.status, info.reason) == ("quarantined", reason)
    assert registry.active("toy")
    assert all(p != "bad" for p, _ in [*registry.updaters, *registry.kernels, *registry.couplings, *registry.rules])

    # The healthy plugin runs as if the broken one were not there, and a system alarm
    # names the broken one with the reason.
    h = Harness(tmp_path, plugins=[toy, bad], blocks=(2, 2))
    h.act("toy.open_tap", "T-000", rate=1.0)
    h.run(5)
    assert h.value("T-000", "level") > 0.0
    [system] = [a for a in h.alarms() if a.domain == "system"]
    assert system.asset == "plugin:bad"
    h.close()


def _fill_from(ctx):
    ctx.table["inflow"][:] = 0.1 * ctx.table["level"]


@pytest.mark.parametrize(
    "coupling, reason",
    [
        (Coupling("bad.c", "toy", "toy", _fill_from, "d", writes=("inflow",), reads=("toy.levle",)),
         "coupling 'bad.c' reads 'toy.levle': domain 'toy' has no field 'levle'; it has capacity, inflow, level, risk"),
        (Coupling("bad.c", "toy", "toy", _fill_from, "d", writes=("inflow",), reads=("level",)),
         "coupling 'bad.c' reads 'level': name it \"<domain>.<field>\", such as 'toy.level'"),
        (Coupling("bad.c", "toy", "toy", _fill_from, "d", writes=("inflow",), reads=("churn.value",)),
         "coupling 'bad.c' reads 'churn.value': a coupling reads its source 'toy' or its target 'toy', not 'churn'"),
        (Coupling("bad.c", "toy", "toy", _fill_from, "d", writes=("inflow",)),
         "coupling 'bad.c' declares no reads of its source 'toy': name the fields its effect depends on, e.g. reads=(\"toy.inflow\",)"),
        (Coupling("bad.c", "toy", "toy", _fill_from, "d", reads=("toy.level",)),
         "coupling 'bad.c' declares no writes: name the fields of 'toy' it changes, e.g. writes=(\"<field>\",)"),
    ],
)
def test_coupling_reads_are_checked_on_load(toy, coupling, reason):
    import churnplugin

    bad = brokenplugins.returning("bad", twin_couplings=[coupling])
    registry = load_registry([toy, churnplugin, bad], entry_points=False)
    assert (registry.plugins["bad"].status, registry.plugins["bad"].reason) == ("quarantined", reason)
    assert registry.active("toy") and registry.active("churn") and registry.couplings == []


def test_a_coupling_reading_and_writing_what_it_declares_runs(tmp_path, toy):
    from twin.authoring.testing import Harness

    good = brokenplugins.returning("good", twin_couplings=[
        Coupling("good.c", "toy", "toy", _fill_from, "tanks feed themselves", writes=("inflow",), reads=("toy.level",))])
    h = Harness(tmp_path, plugins=[toy, good], blocks=(2, 2))
    assert h.registry.active("good") and [c.name for _, c in h.registry.couplings] == ["good.c"]
    h.close()


def _writes_inflow(name):
    return brokenplugins.returning(name, twin_couplings=[
        Coupling(f"{name}.c", "toy", "toy", _fill_from, "d", writes=("inflow",), reads=("toy.level",))])


def test_two_plugins_couplings_writing_one_field_keep_the_first_loaded(toy):
    registry = load_registry([toy, _writes_inflow("alpha"), _writes_inflow("zeta")], entry_points=False)
    assert registry.active("alpha") and [c.name for _, c in registry.couplings] == ["alpha.c"]
    assert registry.plugins["zeta"].reason == (
        "coupling 'zeta.c' writes toy.inflow, which coupling 'alpha.c' of plugin 'alpha' writes too: "
        "two plugins' couplings may not write one field")


def test_two_plugins_couplings_writing_one_field_keep_the_domain_owners(toy):
    import types

    # the toy plugin with a coupling of its own, loaded after a stranger's
    owner = types.ModuleType("toy")
    vars(owner).update({k: v for k, v in vars(toy).items() if k.startswith("twin_") or k == "PLUGIN_NAME"})
    owner.twin_couplings = _writes_inflow("toy").twin_couplings
    registry = load_registry([_writes_inflow("aaa"), owner], entry_points=False)
    assert [(p, c.name) for p, c in registry.couplings] == [("toy", "toy.c")]
    assert registry.plugins["aaa"].status == "quarantined" and "which coupling 'toy.c' of plugin 'toy'" in registry.plugins["aaa"].reason


def test_one_plugins_couplings_may_write_one_field_and_run_in_the_order_returned(tmp_path, toy):
    from twin.authoring.testing import Harness

    seen = []

    def first(ctx):
        seen.append("first")
        ctx.table["inflow"][:] = 1.0

    def second(ctx):
        seen.append("second")
        ctx.table["inflow"][:] = 0.0

    both = brokenplugins.returning("both", twin_couplings=[
        Coupling("both.first", "toy", "toy", first, "d", writes=("inflow",), reads=("toy.level",)),
        Coupling("both.second", "toy", "toy", second, "d", writes=("inflow",), reads=("toy.level",))])
    h = Harness(tmp_path, plugins=[toy, both], blocks=(2, 2), simulate=False)
    h.run(2)
    assert seen == ["first", "second"] * 2
    assert h.column("toy", "inflow").max() == 0.0  # the last one returned wins
    h.close()
