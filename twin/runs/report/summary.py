"""The executive summary: one page for a mayor's office, first in the report and in its
PDF. What happened (the worst groups of alarms, one sentence each), how fast the
platform and the people responded against the deadlines (detect, acknowledge, dispatch,
close: figures), the objectives met or not, and three findings.

The deadlines are the drill's (its ``acknowledged_within``, ``dispatched_within``,
``resolved_within``, the shortest of each) where it gives them, else, to acknowledge,
the platform's own per level (``[alarms.deadlines]``, :data:`twin.tick.alarms.DEFAULT_DEADLINES`).
Every figure is measured as the table of alarms measures it (from the raise; *detect*
from the credited input action to its first alarm).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Any

from twin.i18n import words
from twin.runs.report.data import AlarmLife, Run, Twin
from twin.runs.report.groups import AlarmGroup
from twin.runs.report.text import LEVEL_WORDS, expectation_text, group_title, input_text, level_name, span_text

#: groups told in one sentence each, at most
TOLD = 3
#: the steps, the alarm's attribute that times each, and the drill's expectation kind that sets its deadline
STEPS = (("detect", "", ""), ("acknowledge", "acknowledged", "acknowledged_within"),
         ("dispatch", "dispatched", "dispatched_within"), ("close", "resolved", "resolved_within"))


@dataclass
class PhaseRow:
    """One step of the response: how many were measured of how many, the median and the
    worst (worded), the deadline (worded, "—" for none) and how many were within it."""

    phase: str
    name: str
    measured: str
    median: str
    worst: str
    deadline: str
    within: str
    #: late ones, and how many could be judged against the deadline
    late: int = 0
    judged: int = 0
    worst_seconds: float | None = None


@dataclass
class Summary:
    """The executive summary, worded in one language."""

    happened: list[str]
    phases: list[PhaseRow]
    met: int
    judged: int
    #: the objectives not met, worded
    unmet: list[str]
    findings: list[str]
    #: the moment the run is about: its span, worded
    span: str = ""
    extra: list[str] = field(default_factory=list)


def platform_deadlines(run: Run) -> dict[int, float]:
    """The platform's deadline to acknowledge, per level: the run's configuration's
    ``[alarms.deadlines]`` over the core's defaults."""
    from twin.tick.alarms import DEFAULT_DEADLINES

    out = dict(DEFAULT_DEADLINES)
    try:
        config = json.loads(run.metadata.get("config", "{}") or "{}")
        out.update({int(k): float(v) for k, v in config.get("alarms", {}).get("deadlines", {}).items()})
    except (ValueError, TypeError, AttributeError):
        pass  # a configuration the recording kept oddly: the defaults
    return out


def round_span(seconds: float, lang: str) -> str:
    """A deadline as people say it: whole minutes or hours without their seconds ("5 min",
    "2 h"), else as :func:`span_text` words it."""
    s = int(round(seconds))
    if s >= 3600 and s % 3600 == 0:
        return f"{s // 3600} 小时" if lang == "zh-CN" else f"{s // 3600} h"
    if s >= 60 and s % 60 == 0:
        return f"{s // 60} 分钟" if lang == "zh-CN" else f"{s // 60} min"
    return span_text(seconds, lang)


def _median(values: list[float], lang: str) -> str:
    return span_text(statistics.median(values), lang) if values else "—"


def group_sentence(g: AlarmGroup, run: Run, twin: Twin | None, lang: str) -> str:
    """One group in one sentence: what, how many, how bad, when, and what set it off."""
    w = words(lang)
    first = min(g.alarms, key=lambda a: a.raised)
    if first.detect_from is not None:
        cause = w["execCause"].format(span=span_text(first.raised - first.detect_from[0], lang),
                                      input=input_text(first.detect_from[1]))
    else:
        cause = ""
    return w["execGroup"].format(title=group_title(g, twin, lang), n=len(g.alarms), assets=len(g.assets),
                                 level=level_name(g.peak_level, lang), start=run.moment(g.first_raised),
                                 end=run.moment(g.last_change), cause=cause)


def phase_rows(run: Run, drill: Any, lang: str) -> list[PhaseRow]:
    """The four steps of the response over the run's alarms (the system's own left out)."""
    w = words(lang)
    alarms = [a for a in run.alarms.values() if a.domain != "system"]
    platform = platform_deadlines(run)
    expectations = list(getattr(drill, "expectations", []) or [])
    rows = []
    for phase, attr, kind in STEPS:
        name = w[f"execStep_{phase}"]
        if phase == "detect":
            causes: dict[int, float] = {}
            for a in alarms:
                if a.detect_from is not None:
                    key = id(a.detect_from[1])
                    causes[key] = min(causes.get(key, float("inf")), a.raised - a.detect_from[0])
            values = list(causes.values())
            rows.append(PhaseRow(phase, name, w["execOf"].format(n=len(values), of=len(values)), _median(values, lang),
                                 span_text(max(values), lang) if values else "—", "—", "—",
                                 worst_seconds=max(values) if values else None))
            continue
        given = [x for x in expectations if x.kind == kind]
        own = min(given, key=lambda x: x.time) if given else None
        values, late, judged = [], 0, 0
        for a in alarms:
            done = getattr(a, attr)
            if done is not None:
                values.append(done - a.raised)
            if own is not None:
                if a.peak_level < own.level:
                    continue
                limit = own.time
            elif phase == "acknowledge" and a.peak_level > 0:
                limit = platform.get(a.peak_level, float("inf"))
            else:
                continue
            took = (done if done is not None else run.end) - a.raised
            if done is None and took <= limit:
                continue  # still within its time at the end: not judged
            judged += 1
            late += took > limit + 1e-9
        if own is not None:
            deadline = w["execDrillDeadline"].format(span=span_text(own.time, lang))
        elif phase == "acknowledge":
            deadline = w["execPlatformDeadline"].format(levels=("，" if lang == "zh-CN" else ", ").join(
                f"{LEVEL_WORDS[lang][lvl]} {round_span(platform[lvl], lang)}" for lvl in (4, 3, 2, 1) if lvl in platform))
        else:
            deadline = "—"
        within = w["execWithin"].format(n=judged - late, of=judged) if judged else "—"
        rows.append(PhaseRow(phase, name, w["execOf"].format(n=len(values), of=len(alarms)), _median(values, lang),
                             span_text(max(values), lang) if values else "—", deadline, within, late, judged,
                             max(values) if values else None))
    return rows


def objectives(scores: list[Any] | None, debrief: Any, twin: Twin | None, lang: str) -> tuple[int, int, list[tuple[str, str]]]:
    """(met, judged, the ones not met: their words and kind): the exercise's objectives,
    else the drill's expectations as re-scored."""
    if debrief is not None:
        from twin.runs.debrief import objective_zh

        judged = [o for o in debrief.objectives if o.status != "not judged"]
        unmet = [(objective_zh(o) if lang == "zh-CN" else o.text, o.kind) for o in judged if o.status == "not met"]
        return len(judged) - len(unmet), len(judged), unmet
    if scores is None:
        return 0, 0, []
    judged = [s for s in scores if getattr(s, "judged", True)]
    unmet = [(expectation_text(s.expectation, lang, twin), s.expectation.kind) for s in judged if not s.passed]
    return len(judged) - len(unmet), len(judged), unmet


def findings(run: Run, phases: list[PhaseRow], unmet_kinds: list[tuple[str, str]], false_clears: list[str], lang: str) -> list[str]:
    """Three findings, the most serious first: an all-clear the truth contradicts, the
    objectives not met (a no_false_clear one only when no all-clear was told: it says
    the same), a step late against its deadline, alarms overdue, alarms left open at the
    end, how soon the first alarm came, or that all was in time."""
    w = words(lang)
    out: list[str] = list(false_clears[:1])
    unmet = [text for text, kind in unmet_kinds if not (false_clears and kind == "no_false_clear")]
    if unmet:
        listed = "; ".join(unmet[:2]) + ("…" if len(unmet) > 2 else "")
        out.append(w["fUnmet"].format(n=len(unmet), list=listed))
    for row in sorted((r for r in phases if r.late), key=lambda r: -r.late / max(r.judged, 1)):
        out.append(w["fLate"].format(step=row.name, late=row.late, of=row.judged, deadline=row.deadline, worst=row.worst))
    overdue = [a for a in run.alarms.values() if a.overdue is not None]
    if overdue:
        out.append(w["fOverdue"].format(n=len(overdue), assets=", ".join(sorted({a.asset for a in overdue})[:4])))
    open_ = sorted((a for a in run.alarms.values() if a.resolved is None and a.domain != "system"),
                   key=lambda a: (-a.peak_level, a.raised))
    if open_:
        out.append(w["fOpen"].format(n=len(open_), of=len(run.alarms), level=level_name(open_[0].peak_level, lang),
                                     asset=open_[0].asset))
    firsts: list[tuple[float, AlarmLife]] = [(a.raised, a) for a in run.alarms.values() if a.detect_from is not None]
    if firsts:
        _, a = min(firsts, key=lambda p: p[0])
        assert a.detect_from is not None
        out.append(w["fDetect"].format(span=span_text(a.raised - a.detect_from[0], lang), input=input_text(a.detect_from[1]),
                                       asset=a.asset, level=level_name(a.levels[0][1] if a.levels else a.peak_level, lang)))
    if not run.alarms:
        out.append(w["summaryNone"])
    if len(out) < 3 and run.alarms and not any(r.late for r in phases):
        ack = next(r for r in phases if r.phase == "acknowledge")
        out.append(w["fInTime"].format(median=ack.median, n=ack.measured))
    return out[:3]


def executive_summary(run: Run, twin: Twin | None, drill: Any, scores: list[Any] | None, debrief: Any,
                      groups: list[AlarmGroup], false_clears: list[str], lang: str) -> Summary:
    """The executive summary of the run in ``lang`` (see the module's docstring)."""
    w = words(lang)
    happened = [group_sentence(g, run, twin, lang) for g in groups[:TOLD]]
    if len(groups) > TOLD:
        happened.append(w["execMore"].format(n=len(groups) - TOLD, alarms=sum(len(g.alarms) for g in groups[TOLD:])))
    if not groups:
        happened.append(w["summaryNone"])
    phases = phase_rows(run, drill, lang)
    met, judged, unmet = objectives(scores, debrief, twin, lang)
    return Summary(happened, phases, met, judged, [text for text, _ in unmet], findings(run, phases, unmet, false_clears, lang),
                   w["execSpan"].format(start=run.moment(run.start, date=True), end=run.moment(run.end),
                                        span=span_text(run.end - run.start, lang)))
