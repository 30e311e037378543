"""The report's words: each sentence from the one table of words (:mod:`twin.i18n`) and
the names the plugins, the scene and the drill file declare in each language. Nothing
is translated after the fact: a Chinese sentence is made from the facts, as the English
one is.
"""

from __future__ import annotations

from typing import Any, Mapping

from twin.i18n import words
from twin.runs.report.data import AlarmLife, Run, Twin
from twin.runs.report.groups import AlarmGroup
from twin.runs.wording import expectation_words
from twin.types import LEVEL_NAMES

#: a level's plain colour word, as drill files and the scorecard write it
LEVEL_WORDS = {"en": ("none", "blue", "yellow", "orange", "red"), "zh-CN": ("正常", "蓝色", "黄色", "橙色", "红色")}


def level_name(level: int, lang: str) -> str:
    return LEVEL_NAMES[lang][max(0, min(4, level))]


def span_text(seconds: float | None, lang: str) -> str:
    """A duration as people read it ("2 min 05 s", "2 分 05 秒"); "—" for none."""
    if seconds is None:
        return "—"
    s = int(round(seconds))
    if lang == "zh-CN":
        if s < 120:
            return f"{s} 秒"
        return f"{s // 60} 分 {s % 60:02d} 秒" if s < 3600 else f"{s // 3600} 小时 {s % 3600 // 60:02d} 分"
    if s < 120:
        return f"{s} s"
    return f"{s // 60} min {s % 60:02d} s" if s < 3600 else f"{s // 3600} h {s % 3600 // 60:02d} min"


def domain_name(twin: Twin | None, domain: str, lang: str) -> str:
    """A domain's name as its plugin's viewer style (else its declaration) gives it in
    ``lang``; the core's own alarms are the system's; the bare name when nothing says."""
    if domain == "system":
        return words(lang)["systemDomain"]
    if twin is not None:
        style = twin.registry.styles.get(domain)
        declared = twin.registry.domains.get(domain)
        if lang == "zh-CN":
            zh = (style.label_zh if style is not None else "") or (declared.title_zh if declared is not None else "")
            if zh:
                return zh
        if style is not None and style.label:
            return str(style.label)
        if declared is not None and declared.title:
            return str(declared.title)
    return domain


def alarm_title(a: AlarmLife | Mapping[str, Any], lang: str) -> str:
    """An alarm's rule title in ``lang`` (the English one when the rule gives no other)."""
    if isinstance(a, AlarmLife):
        return a.title_zh if lang == "zh-CN" and a.title_zh else a.title
    return str(a.get("title_zh") if lang == "zh-CN" and a.get("title_zh") else a.get("title", ""))


def group_title(g: AlarmGroup, twin: Twin | None, lang: str) -> str:
    """A group's heading: the incident's number and title, or its domain and place."""
    w = words(lang)
    if g.kind == "incident":
        title = g.title_zh if lang == "zh-CN" and g.title_zh else g.title
        return f"{w['incident'].format(id=g.incident)} — {title}" if title else w["incident"].format(id=g.incident)
    place = g.place_zh if lang == "zh-CN" and g.place_zh else g.place
    return w["placeGroup"].format(domain=domain_name(twin, g.domains[0], lang), place=place)


def drill_name(run: Run, drill: Any, lang: str) -> str:
    """The drill's name in ``lang``: the drill file's ``name_zh`` in Chinese when it
    gives one, else its name as recorded."""
    if lang == "zh-CN":
        zh = (getattr(drill, "name_zh", "") if drill is not None else "") or run.metadata.get("drill_zh", "")
        if zh:
            return str(zh)
    return run.metadata.get("drill", "") or (drill.name if drill is not None else "—")


def scene_title(run: Run, twin: Twin | None, lang: str) -> str:
    if twin is None:
        return run.metadata.get("scene", "")
    s = twin.scene
    return f"{s.name} — {s.title_zh or s.title}" if lang == "zh-CN" else f"{s.name} — {s.title}"


def input_text(action: Mapping[str, Any]) -> str:
    """An input action as the drill file names it: ``gas.leak G-M-0028``."""
    return f"{action.get('action', '')} {action.get('target', '')}"


def input_params(action: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in sorted((action.get("params") or {}).items()))


def event_word(kind: str, lang: str) -> str:
    """An alarm event's or operator action's name: raised, escalated, acknowledged..."""
    key = {"raise": "evRaise", "escalate": "evEscalate", "deescalate": "evDeescalate", "clear": "evClear", "overdue": "evOverdue",
           "acknowledge": "stateAcknowledged", "dispatch": "stateDispatched", "resolve": "stateResolved"}.get(kind)
    return words(lang)[key] if key else kind


def expectation_text(x: Any, lang: str, twin: Twin | None = None) -> str:
    """A drill expectation in ``lang``, from its fields (in English, what
    :meth:`twin.runs.drill.Expectation.describe` says). Every kind the drill format
    declares (:data:`twin.runs.drillfile.EXPECTATION_KINDS`) has its wording in the
    table of words (``expect_<kind>``), worded by :func:`twin.runs.wording.expectation_words`
    as the exercise debrief words its objectives."""
    if lang == "en":
        return str(x.describe())
    said = expectation_words(x.kind, x.level, x.time, lang, asset=x.asset, domain=domain_name(twin, x.domain, lang) if x.domain else "",
                             owner=getattr(x, "owner", ""), rule=x.rule, incident=bool(getattr(x, "incident", False)),
                             most=getattr(x, "most", 0))
    return str(x.describe()) if said is None else said


#: the operator step each kind of expectation times, and the alarm's attribute that holds it
_STEPS = {"acknowledged_within": ("acknowledged", "acknowledge"), "dispatched_within": ("dispatched", "dispatch"),
          "resolved_within": ("resolved", "resolve")}


def score_detail(sc: Any, run: Run, lang: str, truth: Any = None) -> str:
    """What a scored expectation found, in ``lang``: in English the scorer's own words
    (:func:`twin.runs.drill.score`); in another language the same facts read from the
    run's alarms (when a level was reached, which assets alarmed, which steps were late,
    which alarms fell while ``truth`` had not), worded from the table. An expectation
    about incidents, or of a kind it cannot read the facts of, keeps the scorer's words."""
    if lang == "en":
        return str(sc.detail)
    w = words(lang)
    x = sc.expectation
    if getattr(x, "incident", False):
        return _incident_detail(sc, run, lang)
    if not getattr(sc, "judged", True):
        return w["notJudgedTruth"] if x.kind == "no_false_clear" else str(sc.detail)
    matching = [a for a in run.alarms.values() if (not x.asset or a.asset == x.asset) and (not x.domain or a.domain == x.domain)
                and (not x.rule or a.rule == x.rule) and (not getattr(x, "owner", "") or a.owner == x.owner)]
    if x.kind == "by":
        times = [t for a in matching if (t := a.first_at(x.level)) is not None]
        return w["reachedAt"].format(time=run.offset(min(times))) if times else w["neverReached"]
    if x.kind == "never":
        bad = sorted({a.asset for a in matching if a.peak_level >= x.level})
        return f"{len(bad)}: {', '.join(bad)}"[:200] if bad else w["none"]
    if x.kind == "no_false_clear":
        return _false_clears(x, sc, matching, run, truth, lang)
    if x.kind not in _STEPS:
        return str(sc.detail)
    attr, state = _STEPS[x.kind]
    done = w[state]
    if sc.passed:
        return w["allInTimeStep"].format(done=done)
    late = []
    for a in sorted(matching, key=lambda a: (a.first_at(x.level) or a.raised, a.id)):
        reached = a.first_at(x.level)
        if reached is None:
            continue
        taken = getattr(a, attr)
        if taken is not None:
            took = max(taken - reached, 0.0)  # a step taken before the level was reached is in time
            if took > x.time + 1e-9:
                late.append(f"{a.asset}（{w['seconds'].format(n=f'{took:.0f}')}）")
        elif a.resolved is not None:
            late.append(f"{a.asset}（{w['doneWithout'].format(done=done, closed=w['resolve'])}）")
        elif run.end - reached > x.time + 1e-9:
            late.append(f"{a.asset}（{w['stepNotDone'].format(done=done)}）")
    return w["late"].format(list="、".join(late))[:200]


def _false_clears(x: Any, sc: Any, matching: list[AlarmLife], run: Run, truth: Any, lang: str) -> str:
    """The falls of ``matching`` alarms from ``x.level`` or worse to below it while the
    truth was still there, as the scorer judges them, worded."""
    if truth is None:
        return str(sc.detail) if not sc.passed else words(lang)["none"]
    w = words(lang)
    found = []
    for a in sorted(matching, key=lambda a: (a.raised, a.id)):
        previous = 0
        for when, level in a.levels:
            if previous >= x.level > level:
                true = truth.level_at(a.asset, a.rule, when)
                if true is not None and true >= x.level:
                    what = w["evClear"] if level == 0 else f"{w['evDeescalate']}{level_name(level, lang)}"
                    found.append(w["fellTo"].format(asset=a.asset, what=what, time=run.offset(when),
                                                    truth=level_name(true, lang)))
            previous = level
    return f"{len(found)}：" + "；".join(found)[:300] if found else w["none"]


_STEP_WORD = {"acknowledged": "acknowledge", "dispatched": "dispatch", "resolved": "resolve", "closed": "close"}


def _incident_detail(sc: Any, run: Run, lang: str) -> str:
    """What an expectation about incidents found (the scorer's words, read back: the
    incidents it names, their lateness, how many), in ``lang``; each incident by its
    number and its title in ``lang`` from the recorded incidents."""
    import re

    w = words(lang)
    detail = str(sc.detail)
    if not getattr(sc, "judged", True):
        return w["notJudgedIncidents"]

    def step(word: str) -> str:
        key = _STEP_WORD.get(word, word)
        return w["expectClosed"] if key == "close" else w.get(key, word)

    def incident(m: re.Match[str]) -> str:
        recorded = run.incidents.get(int(m[1]), {})
        title = (recorded.get("title_zh") if lang == "zh-CN" else "") or recorded.get("title") or m[2]
        return w["incidentNamed"].format(id=m[1], title=title)

    def items(text: str) -> str:
        text = re.sub(r"incident (\d+) \((.*?)\)(?= \(|,|$)", incident, text)
        text = re.sub(r" \((\d+) s\)", lambda m: "（" + w["seconds"].format(n=m[1]) + "）", text)
        text = re.sub(r" \((\w+) without being (\w+)\)",
                      lambda m: "（" + w["doneWithout"].format(done=step(m[2]), closed=step(m[1])) + "）", text)
        text = re.sub(r" \(not (\w+)\)", lambda m: "（" + w["stepNotDone"].format(done=step(m[1])) + "）", text)
        return text.replace(", ", "、")

    if m := re.fullmatch(r"reached at (\S+)", detail):
        return w["reachedAt"].format(time=m[1])
    if detail == "never reached":
        return w["neverReached"]
    if detail == "none":
        return w["none"]
    if detail == "all in time":
        return w["allInTimeStep"].format(done=step({"acknowledged_within": "acknowledged", "dispatched_within": "dispatched"}
                                                   .get(sc.expectation.kind, "closed")))
    if m := re.fullmatch(r"late: (.*)", detail, re.S):
        return w["late"].format(list=items(m[1]))
    if m := re.fullmatch(r"(\d+)(?:: (.*))?", detail, re.S):
        counted = w["incidentsCounted"].format(n=m[1])
        return f"{counted}：{items(m[2])}" if m[2] else counted
    return detail
