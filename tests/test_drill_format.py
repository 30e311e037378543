"""The drill format, checked from its declaration (issue 17's stumbles): unknown keys,
keys that do not apply, times past the end, spaced and inline tables, and against the
scene and the plugins what `twin drill run` used to die on. Every problem is one line
naming the file, the line, the key and what would be valid."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from twin.runs.drill import DrillError, check_against, load_drill, score
from twin.runtime import open_twin

ROOT = Path(__file__).resolve().parents[1]
HEAD = '[drill]\nname = "format"\nscene = ".."\nseed = 3\nduration = 120\n'


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A copy of the demo scene with a drills folder, and a twin of it to check against."""
    root = tmp_path_factory.mktemp("demo")
    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", root / "scene.toml")
    (root / "drills").mkdir()
    engine = open_twin(root, root / "data", persist=False)
    yield root, engine
    engine.close()


def problems_of(path: Path, engine=None) -> list[str]:
    with pytest.raises(DrillError) as raised:
        drill = load_drill(path, keep_going=engine is not None)
        check_against(drill, engine)
    return raised.value.problems


def test_unknown_keys_keys_that_do_not_apply_and_times_past_the_end_are_named(demo):
    root, _ = demo
    path = root / "drills" / "keys.toml"
    path.write_text(HEAD + (
        '\n[wether]\nrain = 1\n'                                                              # 7
        '\n[[events]]\nat = 10\natr = 11\naction = "gas.leak"\ntarget = "G-M-0028"\n'        # 10
        '\n[[events]]\nat = 20\naction = "gas.close_valve"\noperator = "acknowledge"\ntarget = "G-V-0028"\n'  # 16
        '\n[[events]]\nat = "00:03:00"\noperator = "resolve"\ntarget = "G-V-0028"\n'          # 22
        '\n[[expect]]\nby = "00:01:00"\nasset = "G-MH-0055"\ndomain = "gas"\nlevel = "yellow"\n'  # 27: by takes domain too
        '\n[[expect]]\nacknowledged_within = 60\nlevel = 9\n'                                 # 33
        '\n[[expect]]\nnever = true\nacknowledged_within = 60\nlevel = "red"\n'               # 37
        '\n[[expect]]\nby = "00:02:30"\nasset = "G-MH-0055"\nlevel = "red"\n'                 # 42
    ))
    assert problems_of(path) == [
        f"{path}: line 7: [wether]: unknown table; valid: drill, series, events, expect, thresholds, alarms, messages",
        f"{path}: line 12: [[events]] #1: unknown atr; valid keys: at, target, action, operator, incident, params, note, unit",
        f'{path}: line 16: [[events]] #2: give either action = "<domain>.<verb>" or operator = "acknowledge", "dispatch", '
        '"resolve" or "close"',
        f'{path}: line 35: [[expect]] #2 level = 9; expected "blue", "yellow", "orange" or "red" (or "IV", "III", "II", '
        '"I", or 1 to 4)',
        f"{path}: line 37: [[expect]] #3: give one of by, never, acknowledged_within, dispatched_within, resolved_within, "
        "no_false_clear, incidents_at_most (it says the kind of expectation); got never and acknowledged_within",
        f"{path}: line 23: [[events]] #3 at = '00:03:00': after the drill's end; expected a moment up to its duration, 00:02:00",
        f"{path}: line 43: [[expect]] #4 by = '00:02:30': after the drill's end; expected a moment up to its duration, "
        "00:02:00",
    ]


def test_spaced_headers_and_inline_events_load_every_event(demo):
    root, engine = demo
    spaced = root / "drills" / "spaced.toml"
    spaced.write_text(HEAD + '\n[[ events ]]\nat = 10\naction = "gas.leak"\ntarget = "G-M-0028"\nparams = { diameter = 0.01 }\n'
                      '\n[[ events ]]   # spaces inside the brackets are TOML too\nat = 60\noperator = "acknowledge"\n'
                      'target = "*"\n\n[[ expect ]]\nby = "00:01:30"\nasset = "G-MH-0055"\nlevel = "blue"\n')
    drill = load_drill(spaced)
    assert [(e.at, e.action or e.operator) for e in drill.events] == [(10.0, "gas.leak"), (60.0, "acknowledge")]
    assert [(x.kind, x.asset, x.line) for x in drill.expectations] == [("by", "G-MH-0055", 18)]
    check_against(drill, engine)
    inline = root / "drills" / "inline.toml"
    # top-level keys come before the first [table]: the events first, then [drill]
    inline.write_text('events = [\n'
                      '  { at = 10, action = "gas.leak", target = "G-M-0028", params = { diameter = 0.01 } },\n'
                      '  { at = 60, operator = "shrug", target = "*" },\n]\n'
                      'expect = [{ by = "00:01:30", asset = "G-MH-0055", level = "blue" }]\n' + HEAD)
    # every inline event is judged, and a wrong one is named with its own line
    assert problems_of(inline) == [f"{inline}: line 3: [[events]] #2 operator = 'shrug'; expected one of \"acknowledge\", "
                                   "\"dispatch\", \"resolve\", \"close\""]
    inline.write_text(inline.read_text().replace('"shrug"', '"acknowledge"'))
    drill = load_drill(inline)
    assert [(e.at, e.action or e.operator) for e in drill.events] == [(10.0, "gas.leak"), (60.0, "acknowledge")]
    assert len(drill.expectations) == 1


def test_what_a_run_died_on_is_refused_by_the_check(demo):
    root, engine = demo
    path = root / "drills" / "run.toml"
    path.write_text(HEAD + (
        '\n[[events]]\nat = 10\naction = "gas.leak"\ntarget = "G-M-0028"\nparams = { diameter = 5.0 }\n'    # 7: out of range
        '\n[[events]]\nat = 20\naction = "gas.leak"\ntarget = "G-MH-0055"\nparams = { diameter = 0.01 }\n'  # 13: a manhole
        '\n[[events]]\nat = 30\naction = "sensor.foo"\ntarget = "GS-CH4-0002"\n'                          # 19: no such fault
        '\n[[events]]\nat = 40\naction = "sensor.drift"\ntarget = "GS-CH4-0002"\nparams = { rte = 2.0 }\n'  # 24: misspelt
        '\n[[events]]\nat = 50\naction = "gas.leak"\ntarget = "G-M-0001"\n'                                # 30: no diameter
        '\n[[series]]\naction = "drainage.rain"\ntarget = "D-MH-0001"\nparam = "intensity"\n'             # 35
        'points = [[10, 100.0], [60, -5.0]]\n'
        '\n[[expect]]\nnever = true\ndomain = "water"\nlevel = "red"\n'                                   # 41
    ))
    assert problems_of(path, engine) == [
        f"{path}: line 11: [[events]] #1 params: diameter = 5; gas.leak takes diameter in [0.0005, 1.6] m",
        f"{path}: line 16: [[events]] #2 target: 'G-MH-0055' is a gas manhole; gas.leak acts on gas main",
        f"{path}: line 21: [[events]] #3 action: 'sensor.foo' is not a sensor fault; valid: sensor.stuck, sensor.drift, "
        "sensor.dead, sensor.repair",
        f"{path}: line 28: [[events]] #4 params: 'sensor.drift' has no parameter 'rte'; it takes rate",
        f"{path}: line 30: [[events]] #5 params: 'gas.leak' needs diameter (m, [0.0005, 1.6]): equivalent diameter of the hole",
        f"{path}: line 38: [[series]] #1 param: intensity = -5; drainage.rain takes intensity in [0, 300] mm/h",
        f"{path}: line 43: [[expect]] #1 domain: 'water' is not installed; known: bridge, drainage, gas, tunnel",
    ]


def test_asset_domain_and_rule_narrow_never_and_acknowledged_within(demo):
    root, _ = demo
    path = root / "drills" / "narrow.toml"
    path.write_text(HEAD + '\n[[expect]]\nnever = true\nasset = "G-MH-0055"\nlevel = "yellow"\n'
                    '\n[[expect]]\nacknowledged_within = 60\nasset = "G-MH-0055"\nlevel = "yellow"\n'
                    '\n[[expect]]\nacknowledged_within = 60\ndomain = "drainage"\nlevel = "yellow"\n')
    drill = load_drill(path)

    def event(kind, t, alarm_id, asset, domain):
        return {"kind": kind, "time": t, "alarm": {"id": alarm_id, "asset": asset, "domain": domain, "rule": f"{domain}.x",
                                                   "level": 3, "peak_level": 3}}

    # an orange alarm on another asset, never acknowledged: none of the three is about it
    other = [event("raise", 10.0, 1, "G-VW-0028", "gas")]
    assert [(s.passed, s.detail) for s in score(drill, other)] == [(True, "none"), (True, "all in time"), (True, "all in time")]
    mine = other + [event("raise", 20.0, 2, "G-MH-0055", "gas")]
    assert [s.passed for s in score(drill, mine)] == [False, False, True]
    assert [s.expectation.describe() for s in score(drill, mine)] == [
        "no alarm of yellow or worse on G-MH-0055", "every alarm of at least yellow on G-MH-0055 acknowledged within 60 s",
        "every alarm of at least yellow in drainage acknowledged within 60 s"]


def test_twin_drill_check_names_every_problem_and_run_refuses_the_same_drill(demo, tmp_path):
    root, _ = demo
    path = root / "drills" / "cli.toml"
    path.write_text(HEAD + '\n[[events]]\nat = 10\naction = "gas.leak"\ntarget = "G-MH-0055"\nparams = { diameter = 0.01 }\n'
                    '\n[[expect]]\nby = "00:05:00"\nasset = "G-MH-0055"\nlevel = "yellow"\n')
    expected = [f"  {path}: line 14: [[expect]] #1 by = '00:05:00': after the drill's end; expected a moment up to its "
                "duration, 00:02:00",
                f"  {path}: line 10: [[events]] #1 target: 'G-MH-0055' is a gas manhole; gas.leak acts on gas main"]
    for command in ("check", "run"):
        done = subprocess.run([sys.executable, "-m", "twin.cli", "drill", command, str(path), "--data", str(tmp_path)],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        lines = [line for line in done.stderr.splitlines() if not line.startswith("{")]  # JSON lines are logs
        assert lines == ["twin drill: the drill has 2 problem(s):", *expected], done.stderr


def test_a_limit_only_the_action_knows_is_met_by_the_check_not_the_run(demo):
    """Found by the fuzz test: gas.leak declares a hole of up to 1.6 m, but refuses one
    wider than its main; the check tries every action on a copy of the world, so the run
    never meets the refusal (it died with a ValueError traceback)."""
    root, engine = demo
    path = root / "drills" / "wide.toml"
    path.write_text(HEAD + '\n[[events]]\nat = 10\naction = "gas.leak"\ntarget = "G-M-0001"\nparams = { diameter = 1.5 }\n'
                    '\n[[events]]\nat = 20\naction = "gas.leak"\ntarget = "G-M-0028"\nparams = { diameter = 0.01 }\n')
    assert problems_of(path, engine) == [
        f"{path}: line 11: [[events]] #1 params: gas.leak on 'G-M-0001': hole diameter 1.5 m is larger than the main's "
        "diameter 0.4 m; valid is (0, 0.4] m"]
    before = engine.world.tables["gas"]["leak_diameter"].copy()
    path.write_text(path.read_text().replace("diameter = 1.5", "diameter = 0.02"))
    check_against(load_drill(path), engine)  # the actions were tried on a copy: the twin's world is as it was
    assert (engine.world.tables["gas"]["leak_diameter"] == before).all()


def test_a_rule_or_a_contradiction_the_scene_does_not_have_is_named(demo):
    """Issue 17's audit: an unknown ``rule`` made a ``never`` pass vacuously, so did an
    asset of one domain narrowed to another. Each is one line naming the file, line, key
    and what would be valid; a drill that names only what the scene has passes. A
    dispatch to a unit that owns no asset (a contractor's crew) is not a problem: the
    live API takes it too, and a crew token of that unit sees the task."""
    root, engine = demo
    owners = sorted(set(engine.owners.values()))
    gas_owner = engine.owners["G-MH-0055"]
    other_owner = next(o for o in owners if o != gas_owner)
    path = root / "drills" / "selectors.toml"
    path.write_text(HEAD + '\n[[events]]\nat = 30\noperator = "dispatch"\ntarget = "G-MH-0055"\nunit = "gas crew 9"\n'
                    '\n[[expect]]\nnever = true\nrule = "gas.nosuchrule"\nlevel = "yellow"\n'
                    '\n[[expect]]\nnever = true\nasset = "G-MH-0055"\ndomain = "drainage"\nlevel = "yellow"\n'
                    f'\n[[expect]]\nacknowledged_within = 60\nasset = "G-MH-0055"\nowner = "{other_owner}"\nlevel = "yellow"\n'
                    '\n[[expect]]\nnever = true\ndomain = "drainage"\nrule = "gas.lel"\nlevel = "yellow"\n')
    rules = {r.name: r.domain for _, r in engine.registry.rules}
    assert "gas.lel" in rules, sorted(rules)
    drainage_rules = ", ".join(sorted(n for n, d in rules.items() if d == "drainage"))
    found = problems_of(path, engine)
    assert found == [
        f"{path}: line 15: [[expect]] #1 rule = 'gas.nosuchrule': no alarm rule is called so; known: "
        f"{', '.join(sorted([*rules, 'system.nonfinite', 'system.plugin_quarantined', 'system.sensor_offline', 'system.sensor_suspect']))}",
        f"{path}: line 21: [[expect]] #2 domain = 'drainage': G-MH-0055 is a gas asset, so no alarm is on it and in "
        "drainage; expected domain = 'gas' or no domain",
        f"{path}: line 27: [[expect]] #3 owner = '{other_owner}': G-MH-0055 is owned by {gas_owner}, so no alarm on it is "
        f"{other_owner}'s; expected owner = '{gas_owner}' or no owner",
        f"{path}: line 33: [[expect]] #4 rule = 'gas.lel': a gas rule, not one of drainage; its rules: "
        f"{drainage_rules}",
    ], "\n".join(found)
    # the same drill naming what the scene has: no problem
    path.write_text(HEAD + f'\n[[events]]\nat = 30\noperator = "dispatch"\ntarget = "G-MH-0055"\nunit = "{gas_owner}"\n'
                    '\n[[expect]]\nnever = true\nrule = "gas.lel"\nlevel = "yellow"\n'
                    '\n[[expect]]\nnever = true\nasset = "G-MH-0055"\ndomain = "gas"\nlevel = "yellow"\n'
                    f'\n[[expect]]\nacknowledged_within = 60\nasset = "G-MH-0055"\nowner = "{gas_owner}"\nlevel = "yellow"\n')
    check_against(load_drill(path), engine)
