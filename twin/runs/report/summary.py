"""The executive summary: one page for a mayor's office, first in the report and in its
PDF. What happened (the worst groups of alarms, one sentence each), how fast the
platform and the people responded against the deadlines (detect, acknowledge, dispatch,
close: figures), the objectives met or not, and three findings.

The deadlines are the drill's (its ``acknowledged_within``, ``dispatched_within``,
``resolved_within`` about alarms; an exercise's are its objectives) where it gives them,
else, to acknowledge, the platform's own per level (``[alarms.deadlines]``,
:data:`twin.tick.alarms.DEFAULT_DEADLINES`, from the raise). How many were within the
drill's deadlines is judged as the scorecard judges them (:func:`twin.runs.drill.judge_within`:
only the alarms each expectation's asset, domain, owner and rule name, timed from when
they reached its level), one alarm late against any of them counted late once. The
median and the slowest are measured as the table of alarms measures them (from the
raise; *detect* from the credited input action to its first alarm, credited as the
debrief credits it, :mod:`twin.runs.credit`). An exercise's summary is about the
exercise alone: on a server that was recording before it started, the alarms raised
and the actions taken from its start to its end (:meth:`Run.within`).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Any

from twin.i18n import words
from twin.runs.credit import Scope, detect
from twin.runs.drill import alarm_tracks, judge_within
from twin.runs.report.data import AlarmLife, Run, Twin, credit_detection
from twin.runs.report.groups import AlarmGroup, group_alarms
from twin.runs.report.text import LEVEL_WORDS, domain_name, expectation_text, group_title, input_text, level_name, span_text

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


def _about(x: Any, twin: Twin | None, lang: str) -> str:
    """The alarms an expectation is about, in brackets ("" for all of them)."""
    about = [v for v in (x.asset, domain_name(twin, x.domain, lang) if x.domain else "", getattr(x, "owner", ""), x.rule) if v]
    return (f"（{'，'.join(about)}）" if lang == "zh-CN" else f" ({', '.join(about)})") if about else ""


def phase_rows(run: Run, expectations: list[Any], lang: str, twin: Twin | None = None) -> list[PhaseRow]:
    """The four steps of the response over the run's alarms (the system's own left out of
    the times), against ``expectations`` (the drill's, or an exercise's objectives as
    expectations); see the module's docstring."""
    w = words(lang)
    alarms = [a for a in run.alarms.values() if a.domain != "system"]
    platform = platform_deadlines(run)
    rows = []
    for phase, attr, kind in STEPS:
        name = w[f"execStep_{phase}"]
        if phase == "detect":
            # the causes as credit_detection credited them (twin.runs.credit), as the debrief counts them
            scope = twin.scope if twin is not None else Scope()
            causes = [scope.cause(i) for i in run.inputs]
            index = {id(record): n for n, record in enumerate(run.inputs)}
            found = detect([(a.raised, index.get(id(a.detect_from[1])) if a.detect_from is not None else None) for a in alarms],
                           causes)
            rows.append(PhaseRow(phase, name, w["execOf"].format(n=len(found.values), of=found.of), _median(found.values, lang),
                                 span_text(found.worst, lang) if found.values else "—", "—", "—", worst_seconds=found.worst))
            continue
        given = [x for x in expectations if x.kind == kind and not getattr(x, "incident", False)]
        values = [done - a.raised for a in alarms if (done := getattr(a, attr)) is not None]
        late_ids: set[int] = set()
        judged_ids: set[int] = set()
        if given:
            # the scorecard's own judgement (run clock: offsets from 0, the run's end as its end)
            tracks = list(alarm_tracks(run.events).values())
            for x in given:
                for j in judge_within(x, tracks, run.end):
                    judged_ids.add(j.id)
                    if j.late:
                        late_ids.add(j.id)
            deadline = w["execDrillDeadline"].format(span="; ".join(
                span_text(x.time, lang) + _about(x, twin, lang) for x in sorted(given, key=lambda x: x.time)))
        elif phase == "acknowledge":
            for a in alarms:
                if a.peak_level <= 0:
                    continue
                limit = platform.get(a.peak_level, float("inf"))
                took = (a.acknowledged if a.acknowledged is not None else run.end) - a.raised
                if a.acknowledged is None and took <= limit:
                    continue  # still within its time at the end: not judged
                judged_ids.add(a.id)
                if took > limit + 1e-9:
                    late_ids.add(a.id)
            deadline = w["execPlatformDeadline"].format(levels=("，" if lang == "zh-CN" else ", ").join(
                f"{LEVEL_WORDS[lang][lvl]} {round_span(platform[lvl], lang)}" for lvl in (4, 3, 2, 1) if lvl in platform))
        else:
            deadline = "—"
        judged, late = len(judged_ids), len(late_ids)
        within = w["execWithin"].format(n=judged - late, of=judged) if judged else "—"
        rows.append(PhaseRow(phase, name, w["execOf"].format(n=len(values), of=len(alarms)), _median(values, lang),
                             span_text(max(values), lang) if values else "—", deadline, within, late, judged,
                             max(values) if values else None))
    return rows


def exercise_part(run: Run, twin: Twin | None, debrief: Any) -> tuple[Run, list[Any]]:
    """The part of the run an exercise's summary is about (its start to its end, the
    alarms credited to its own inputs) and its objectives as expectations."""
    from twin.runs.debrief import objective_expectation

    part = run.within(debrief.start, debrief.start + debrief.played)
    # its causes are its injects, as the debrief's are: not the scene's own background
    # incidents, nor a player's actions, which the recording holds as inputs too
    fired = {(round(debrief.start + i.fired, 3), i.action, i.target) for i in debrief.injects
             if i.kind == "action" and i.fired is not None}
    part.inputs = [i for i in part.inputs if (round(float(i["time"]), 3), i.get("action"), i.get("target")) in fired]
    credit_detection(part, twin)
    return part, [objective_expectation(o) for o in debrief.objectives]


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
    if debrief is not None:
        run, expectations = exercise_part(run, twin, debrief)
        groups = group_alarms(run, twin)
    else:
        expectations = list(getattr(drill, "expectations", []) or [])
    happened = [group_sentence(g, run, twin, lang) for g in groups[:TOLD]]
    if len(groups) > TOLD:
        happened.append(w["execMore"].format(n=len(groups) - TOLD, alarms=sum(len(g.alarms) for g in groups[TOLD:])))
    if not groups:
        happened.append(w["summaryNone"])
    phases = phase_rows(run, expectations, lang, twin)
    met, judged, unmet = objectives(scores, debrief, twin, lang)
    return Summary(happened, phases, met, judged, [text for text, _ in unmet], findings(run, phases, unmet, false_clears, lang),
                   w["execSpan"].format(start=run.moment(run.start, date=True), end=run.moment(run.end),
                                        span=span_text(run.end - run.start, lang)))
