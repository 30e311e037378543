"""`twin drill check` and `twin drill run` agree (issue 17). The demo's drills, shortened,
are mutated at random, mostly into other valid drills, drawn from the declarations: the
plugins' actions on assets of the kinds they act on with parameters within their
declared ranges, the core's sensor faults on the scene's sensors, operator responses to
alarms and incidents, every kind of expectation on the scene's assets, domains, owners
and rules, moments within the drill; and some of the time into invalid ones (a key given
any value of any type, an unknown key, a parameter out of its range, a moment past the
end). The properties:

- whatever the check accepts, the run runs to its end;
- whatever the check refuses, `twin drill run` refuses too, with the same problems, each
  one line naming the file, and no traceback.

The test counts how many mutants the check accepted (``FUZZ_COUNTS``), and asserts that
most did: a probe whose mutants are all refused tests nothing of the run.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import shutil
import tomllib
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from twin.plugins.actions import catalogue
from twin.runs.drill import DrillError, check_against, load_drill
from twin.runs.drillfile import EXPECTATION_KINDS, LEVELS, WITHIN
from twin.runs.reruns import run_drill
from twin.runtime import open_drill, open_twin

ROOT = Path(__file__).resolve().parents[1]
DRILLS = sorted((ROOT / "scenes" / "demo" / "drills").glob("*.toml"))
#: how many mutants to draw, and the longest a mutant runs (the demo drills are
#: shortened to 20-60 s so that the run is affordable)
EXAMPLES = 40
LONGEST = 60
#: mutants drawn and accepted by the check, for the report at the end
FUZZ_COUNTS = {"drawn": 0, "accepted": 0, "ran": 0}

# -- invalid values: any type, near misses ----------------------------------------------------
KEYS = ["at", "atr", "target", "action", "operator", "incident", "unit", "params", "note", "by", "never",
        "acknowledged_within", "incidents_at_most", "level", "asset", "domain", "rule", "name", "scene", "seed", "sede",
        "duration", "dt", "start", "param", "points", "duration_param"]
TEXTS = ["G-M-0028", "G-MH-0055", "GS-CH4-0002", "*", "", "gas.leak", "sensor.foo", "shrug", "00:99:00", "purple", "worst"]
anything = st.one_of(
    st.integers(-5, 4000), st.floats(-1.0, 1e4, allow_nan=False), st.sampled_from([math.nan, math.inf, 1e12]),
    st.sampled_from(TEXTS), st.booleans(),
    st.dictionaries(st.sampled_from(["diameter", "rate", "intensity", "rte"]), st.floats(-1.0, 1e3), max_size=2),
    st.lists(st.tuples(st.integers(0, 400), st.floats(-10.0, 400.0, allow_nan=False)).map(list), max_size=2),
)


def dumps(doc: dict) -> str:
    """TOML for a drill's shape of document: tables and arrays of tables of values."""
    out = []
    for name, table in doc.items():
        for entry in table if isinstance(table, list) else [table]:
            if name == "thresholds":  # a table of tables
                for sub, values in entry.items():
                    out.append(f"[thresholds.{json.dumps(sub)}]")
                    out += [f"{json.dumps(k)} = {_value(v)}" for k, v in values.items()]
                continue
            out.append(f"[[{name}]]" if isinstance(table, list) else f"[{name}]")
            out += [f"{json.dumps(k)} = {_value(v)}" for k, v in entry.items()]
    return "\n".join(out) + "\n"


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, (int, str)):
        return json.dumps(v, ensure_ascii=False) if isinstance(v, str) else str(v)
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {_value(x)}" for k, x in v.items()) + " }"


# -- the declarations the valid mutations are drawn from ----------------------------------------
class World:
    """What a valid drill may name on the demo scene: actions with the assets they act on
    and their parameters' ranges, sensor faults, sensors, assets, domains, owners, rules."""

    def __init__(self, engine) -> None:
        self.assets = sorted(engine.world.locations)
        kinds: dict[tuple[str, str], list[str]] = {}
        for asset, (domain, row) in engine.world.locations.items():
            table = engine.world.tables[domain]
            kinds.setdefault((domain, table.kind_names[table.kind[row]]), []).append(asset)
        self.actions = []  # (name, targets, params)
        for record in catalogue(engine.registry):
            if record["target"] == "sensor":
                targets = sorted(s.id for s in engine.scene.sensors)
            else:
                targets = sorted(a for k in record["kinds"] for a in kinds.get((record["domain"], k), []))
            if targets:
                self.actions.append((record["name"], targets, record["params"]))
        self.domains = sorted(engine.world.tables)
        self.owners = sorted(set(engine.owners.values()))
        self.rules = sorted(r.name for _, r in engine.registry.rules)


def _number(draw, low, high, default):
    """A number within a declared range (an infinite bound: ten times the default's size away)."""
    span = max(abs(default or 0.0) * 10.0, 10.0)
    low = (high - span if high is not None else -span) if low is None else low
    high = low + span if high is None else high
    return draw(st.floats(low, high, allow_nan=False, allow_infinity=False))


def _moment(draw, duration: float, below: bool = False):
    """A moment within the drill, as seconds or "HH:MM:SS" (``below``: strictly before its end)."""
    seconds = draw(st.integers(0, int(duration) - (1 if below else 0)))
    if draw(st.booleans()):
        return seconds
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def valid_action(draw, world: World, duration: float) -> dict:
    name, targets, params = draw(st.sampled_from(world.actions))
    event = {"at": _moment(draw, duration), "action": name, "target": draw(st.sampled_from(targets))}
    chosen = {}
    for p in params:
        if p["default"] is None or draw(st.booleans()):
            chosen[p["name"]] = _number(draw, *p["valid"], p["default"])
    if chosen:
        event["params"] = chosen
    return event


def valid_response(draw, world: World, duration: float) -> dict:
    event = {"at": _moment(draw, duration)}
    if draw(st.booleans()):
        event["operator"] = draw(st.sampled_from(["acknowledge", "dispatch", "close"]))
        event["incident"] = draw(st.one_of(st.sampled_from(["worst", "*"]), st.sampled_from(world.assets)))
    else:
        event["operator"] = draw(st.sampled_from(["acknowledge", "dispatch", "resolve"]))
        event["target"] = draw(st.one_of(st.just("*"), st.sampled_from(world.assets)))
    if draw(st.booleans()):
        event["note"] = draw(st.sampled_from(["crew on the way", "值班员：已通知燃气公司", ""]))
    if event["operator"] == "dispatch" and draw(st.booleans()):
        event["unit"] = draw(st.sampled_from(world.owners))
    return event


def valid_expectation(draw, world: World, duration: float) -> dict:
    kind = draw(st.sampled_from(list(EXPECTATION_KINDS)))
    applies = EXPECTATION_KINDS[kind][0]
    x: dict = {"level": draw(st.sampled_from(list(LEVELS)))}
    if kind == "by":
        x["by"] = _moment(draw, duration)
    elif kind in WITHIN:
        x[kind] = _moment(draw, duration, below=True)
    elif kind == "incidents_at_most":
        x[kind] = draw(st.integers(0, 20))
    else:
        x[kind] = True
    choices = {"asset": world.assets, "domain": world.domains, "owner": world.owners, "rule": world.rules}
    for key in applies:
        if key == "incident":
            if draw(st.booleans()):
                x["incident"] = True
        elif draw(st.integers(0, 3)) == 0:
            x[key] = draw(st.sampled_from(choices[key]))
    return x


def shorten(doc: dict, duration: int) -> None:
    """The drill at ``duration`` seconds, its moments scaled with it (a valid drill stays valid)."""
    head = doc["drill"]
    old = _seconds(head["duration"])
    scale = duration / old
    head["duration"] = duration

    def scaled(value, below=False):
        t = _seconds(value) * scale
        return min(round(t), duration - 1) if below else min(round(t), duration)

    for event in doc.get("events", []):
        event["at"] = scaled(event["at"])
    for series in doc.get("series", []):
        series["points"] = [[round(_seconds(t) * scale), v] for t, v in series["points"]]
    for x in doc.get("expect", []):
        if "by" in x:
            x["by"] = scaled(x["by"])
        for kind in WITHIN:
            if kind in x:
                x[kind] = max(scaled(x[kind], below=True), 1)
    for message in doc.get("messages", []):
        message["at"] = scaled(message["at"])


def _seconds(value) -> float:
    if isinstance(value, str):
        h, m, s = value.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)
    return float(value)


def invalid(draw, doc: dict) -> None:
    """Give one key of one table any value (or drop it, or add an unknown key)."""
    tables = [t for name, table in doc.items() if name != "thresholds"
              for t in (table if isinstance(table, list) else [table])]
    table = draw(st.sampled_from(tables))
    key = draw(st.one_of(st.sampled_from(sorted(table)), st.sampled_from(KEYS))) if table else "at"
    if draw(st.integers(0, 3)) == 0:
        table.pop(key, None)
    else:
        table[key] = draw(anything)


def mutate(draw, world: World, doc: dict) -> None:
    """Shorten the drill, then one to three changes: nine in ten valid, one in ten any value."""
    shorten(doc, draw(st.integers(20, LONGEST)))
    duration = float(doc["drill"]["duration"])
    for _ in range(draw(st.integers(1, 3))):
        change = draw(st.sampled_from(["action"] * 3 + ["response"] * 2 + ["expect"] * 2 + ["retime", "seed", "drop",
                                                                                           "invalid"]))
        events, expects = doc.setdefault("events", []), doc.setdefault("expect", [])
        if change == "action":
            events.append(valid_action(draw, world, duration))
        elif change == "response":
            events.append(valid_response(draw, world, duration))
        elif change == "expect":
            expects.append(valid_expectation(draw, world, duration))
        elif change == "retime" and events:
            draw(st.sampled_from(events))["at"] = _moment(draw, duration)
        elif change == "seed":
            doc["drill"]["seed"] = draw(st.integers(0, 2**31))
        elif change == "drop" and (events or expects):
            entries = draw(st.sampled_from([e for e in (events, expects) if e]))
            entries.pop(draw(st.integers(0, len(entries) - 1)))
        elif change == "invalid":
            invalid(draw, doc)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", root / "scene.toml")
    (root / "drills").mkdir()
    engine = open_twin(root, root / "data", persist=False)
    yield root, engine, World(engine)
    engine.close()
    print(f"\ndrill fuzz: {FUZZ_COUNTS['accepted']} of {FUZZ_COUNTS['drawn']} mutants passed drill check, "
          f"{FUZZ_COUNTS['ran']} ran to their end")
    # most mutants must be valid, or the run is hardly probed (about 4 in 5 are, drawn from the declarations)
    assert FUZZ_COUNTS["accepted"] >= FUZZ_COUNTS["drawn"] // 2, FUZZ_COUNTS


def _drill_run_refusal(path: Path, data: Path) -> tuple[int, list[str]]:
    """``twin drill run PATH`` in this process: its exit status and the lines it wrote to
    stderr that are not JSON log lines."""
    from twin.cli import main

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["drill", "run", str(path), "--data", str(data)])
    finally:
        root.handlers[:] = handlers  # twin.logs.setup() took the root logger over
        root.setLevel(level)
    return code, [line for line in err.getvalue().splitlines() if not line.startswith("{")]


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(st.sampled_from(range(len(DRILLS))), st.data())
def test_whatever_drill_check_accepts_drill_run_runs_and_what_it_refuses_run_refuses(demo, which, data):
    root, engine, world = demo
    doc = tomllib.loads(DRILLS[which].read_text(encoding="utf-8"))
    mutate(data.draw, world, doc)
    path = root / "drills" / "mutant.toml"
    path.write_text(dumps(doc), encoding="utf-8")
    FUZZ_COUNTS["drawn"] += 1
    try:
        # what `twin drill check` does, against the module's twin of the scene
        drill = load_drill(path, keep_going=True)
        check_against(drill, engine)
    except DrillError as exc:
        problems = exc.problems
        assert problems and all(p.startswith(f"{path}: ") and "\n" not in p for p in problems), problems
        code, lines = _drill_run_refusal(path, root / "data")
        assert code == 2 and not any("Traceback" in line for line in lines), lines
        assert lines == [f"twin drill: the drill has {len(problems)} problem(s):", *(f"  {p}" for p in problems)]
        return
    FUZZ_COUNTS["accepted"] += 1
    twin = open_drill(drill, root / "data")
    try:
        result = run_drill(drill, twin)
        assert result.ticks == round(drill.duration / drill.dt) and twin.time == pytest.approx(twin.start + drill.duration)
        assert len(result.scores) == len(drill.expectations)
    finally:
        twin.close()
    FUZZ_COUNTS["ran"] += 1
