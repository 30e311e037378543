"""The report's and the debrief's Chinese know every kind of expectation the drill format
declares (issue 17): the kinds are taken from twin.runs.drillfile.EXPECTATION_KINDS, so a
kind added there without a wording fails here. Each is worded from its terms, with the
keys that narrow it (asset, domain, owner unit, rule) and, for an expectation about
incidents, as one, in the same words on the report's scorecard and in the exercise
debrief; the details of the step expectations are read from the run's facts."""

import re

import pytest

from twin.runs.debrief import objective_zh
from twin.runs.drill import Expectation, Score
from twin.runs.drillfile import EXPECTATION_KINDS
from twin.runs.exercise import Objective
from twin.runs.report.data import AlarmLife, Run
from twin.runs.report.text import expectation_text, score_detail

TERMS = {"asset": "G-MH-0055", "domain": "gas", "rule": "gas.lel", "owner": "城东燃气公司"}
#: an expectation about incidents, where this version of the drill format has them


def english_left(text: str) -> list[str]:
    """The English words a Chinese sentence still holds, once the terms it was given are taken out."""
    for value in sorted(TERMS.values(), key=len, reverse=True):
        text = text.replace(value, "")
    return re.findall(r"[A-Za-z]{2,}", text)


def expectation(kind: str, **more) -> Expectation:
    extra = {"most": 3} if kind == "incidents_at_most" else {}
    return Expectation(kind, 3, 1, time=120.0, **TERMS, **extra, **more)


@pytest.mark.parametrize("kind", list(EXPECTATION_KINDS))
def test_every_kind_is_worded_in_chinese_with_its_narrowing(kind):
    x = expectation(kind)
    zh = expectation_text(x, "zh-CN")
    assert zh != x.describe() and re.search(r"[\u4e00-\u9fff]", zh), (kind, zh)
    assert not english_left(zh), (kind, zh)
    for value in TERMS.values():  # every key that narrows it is said, the owner unit too
        assert value in zh, (kind, value, zh)
    if kind == "incidents_at_most":
        assert "3" in zh and "事件" in zh
    if kind.endswith("_within"):
        assert "120 秒" in zh
    assert "橙色预警" in zh, (kind, zh)  # level 3 by its full name by its full name, as the rest of the platform says it
    # the debrief words an exercise's objective, made from the same expectation, in the same words
    o = Objective(x.describe(), "met", "", 1, kind, 3, 120.0, TERMS["asset"], TERMS["domain"], TERMS["rule"], TERMS["owner"])
    assert objective_zh(o) == zh, (kind, objective_zh(o), zh)


@pytest.mark.parametrize("kind", [k for k, (keys, _) in EXPECTATION_KINDS.items() if "incident" in keys])
def test_an_expectation_about_incidents_says_incident(kind):
    x = expectation(kind, incident=True)
    zh = expectation_text(x, "zh-CN")
    assert "事件" in zh and "告警" not in zh.replace("告警不得", ""), zh
    o = Objective(x.describe(), "met", "", 1, kind, 3, 120.0, TERMS["asset"], TERMS["domain"], TERMS["rule"], TERMS["owner"])
    assert objective_zh(o) == zh, (objective_zh(o), zh)


def alarm(n: int, asset: str, reached: float, **steps) -> AlarmLife:
    a = AlarmLife(n, asset, "gas", "gas.lel", "Gas", "可燃气体", "城东燃气公司", reached, 3, [(reached, 3)], **steps)
    return a


@pytest.mark.parametrize("kind,step", [("acknowledged_within", "acknowledged"), ("dispatched_within", "dispatched"),
                                       ("resolved_within", "resolved")])
def test_a_late_step_is_told_from_the_facts(kind, step):
    """Three alarms: one in time, one late (215 s for 120), one never taken; the Chinese says
    which and how late, as the scorer's English does."""
    alarms = {1: alarm(1, "G-1", 100.0, **{step: 130.0}), 2: alarm(2, "G-2", 100.0, **{step: 315.0}), 3: alarm(3, "G-3", 100.0)}
    if step != "resolved":
        alarms[3].resolved = 400.0  # closed without the step: late too
    run = Run(None, {}, "", 0.0, 600.0, True, [], [], alarms)
    x = Expectation(kind, 3, 1, time=120.0, owner="城东燃气公司")
    detail = score_detail(Score(x, False, "late: ..."), run, "zh-CN")
    assert "G-1" not in detail and "G-2（215 秒）" in detail, detail
    assert "G-3（未" in detail and not english_left(detail), detail
    verb = {"acknowledged": "确认", "dispatched": "派发", "resolved": "办结"}[step]
    assert score_detail(Score(x, True, "all in time"), run, "zh-CN") == f"均按时{verb}"


def test_what_an_expectation_about_incidents_found_is_told_in_chinese():
    """The scorer's findings on incidents, read back in Chinese, each incident by its
    number and its recorded Chinese title."""
    incidents = {3: {"id": 3, "title": "Gas leak at G-MH-0055", "title_zh": "G-MH-0055 燃气泄漏"},
                 5: {"id": 5, "title": "Flooding at D-MH-0272", "title_zh": "D-MH-0272 积水"}}
    run = Run(None, {}, "", 0.0, 600.0, True, [], [], {}, incidents=incidents)
    cases = [
        ("dispatched_within", False, "late: incident 3 (Gas leak at G-MH-0055) (95 s), incident 5 (Flooding at D-MH-0272) (not dispatched)",
         "超时：事件 3（G-MH-0055 燃气泄漏）（95 秒）、事件 5（D-MH-0272 积水）（未派发）"),
        ("dispatched_within", False, "late: incident 5 (Flooding at D-MH-0272) (closed without being dispatched)",
         "超时：事件 5（D-MH-0272 积水）（未派发即关闭）"),
        ("resolved_within", False, "late: incident 5 (Flooding at D-MH-0272) (not closed)", "超时：事件 5（D-MH-0272 积水）（未关闭）"),
        ("by", True, "reached at 00:01:10", "于 00:01:10 达到"),
        ("never", False, "2: incident 3 (Gas leak at G-MH-0055), incident 5 (Flooding at D-MH-0272)",
         "2 起：事件 3（G-MH-0055 燃气泄漏）、事件 5（D-MH-0272 积水）"),
        ("incidents_at_most", True, "0", "0 起"),
        ("acknowledged_within", True, "all in time", "均按时确认"),
    ]
    for kind, passed, english, chinese in cases:
        x = Expectation(kind, 3, 1, time=120.0, incident=True, **({"most": 1} if kind == "incidents_at_most" else {}))
        assert score_detail(Score(x, passed, english), run, "zh-CN") == chinese, kind
        assert score_detail(Score(x, passed, english), run, "en") == english
    x = Expectation("by", 3, 1, time=120.0, incident=True)
    said = score_detail(Score(x, True, "not judged: the run raised alarms but keeps no incidents", judged=False), run, "zh-CN")
    assert said.startswith("未评判") and not english_left(said)


def test_every_demo_drill_has_its_chinese_name_and_the_report_uses_it():
    from pathlib import Path

    from twin.runs.drill import load_drill
    from twin.runs.report.text import drill_name

    drills = sorted((Path(__file__).resolve().parents[1] / "scenes").glob("*/drills/*.toml"))
    assert len(drills) >= 5
    for path in drills:
        drill = load_drill(path)
        assert re.search(r"[\u4e00-\u9fff]", drill.name_zh) and not english_left(drill.name_zh), path.name
        run = Run(path, {"drill": drill.name, "drill_path": str(path)}, "", 0.0, 1.0, True, [], [], {})
        assert drill_name(run, drill, "zh-CN") == drill.name_zh and drill_name(run, drill, "en") == drill.name
