"""What the report says, in one language, ready to lay out: the HTML page
(:mod:`.render`) and the PDF (:mod:`.pdf`) show the same rows from here, so that the two
never disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from twin.i18n import words
from twin.runs.report.data import OPERATOR_KINDS, AlarmLife, AssetPlot, Run, Twin
from twin.runs.report.district import DistrictPicture
from twin.runs.report.groups import AlarmGroup
from twin.runs.report.text import (alarm_title, domain_name, drill_name, event_word, expectation_text, group_title,
                                   input_params, input_text, level_name, scene_title, score_detail, span_text)


@dataclass(frozen=True)
class Timed:
    """A duration from the raise, and the moment it ended: "" and "" when not within
    the recording."""

    span: str
    at: str


@dataclass
class AlarmRow:
    id: int
    asset: str
    domain: str
    title: str
    rule: str
    owner: str
    peak: int
    raised: str
    detect: str
    detect_from: str
    ack: Timed
    dispatch: Timed
    resolve: Timed
    cleared: Timed


@dataclass
class GroupView:
    title: str
    level: int
    size: str
    span: str
    kind: str
    alarms: list[AlarmRow]


@dataclass
class ScoreRow:
    passed: bool
    expectation: str
    detail: str
    #: False when the run holds nothing to judge it by (shown N/A)
    judged: bool = True


@dataclass
class TimelineRow:
    #: "input", "message" (a message inject), "op" (an operator action on an alarm),
    #: "incident-op" (a person's action on an incident) or "alarm-event"
    cls: str
    time: str
    event: str
    what: str
    params: str = ""
    level: int | None = None
    who: str = ""
    alarm: int | None = None
    kind: str = ""
    #: the incident an "incident-op" row acts on (its id in the recording)
    incident: int | None = None


@dataclass
class View:
    """Everything the report shows, worded in ``lang``."""

    lang: str
    w: Mapping[str, str]
    drill: str
    meta: list[tuple[str, str]]
    incomplete: str
    summary: dict[str, Any] | None
    scores: list[ScoreRow] | None
    score_note: str
    grouping_note: str
    groups: list[GroupView]
    timeline: list[TimelineRow]
    picture: DistrictPicture | None
    picture_caption: str
    timeline_charts: list[Path]
    plots: list[AssetPlot]
    plots_note: str
    notes_picture: list[str] = field(default_factory=list)
    notes_fields: list[str] = field(default_factory=list)
    pdf: Path | None = None
    #: whether the recording keeps the ground truth; the sensors charted measured and true
    truth_kept: bool = False
    truth_charts: list[Any] = field(default_factory=list)
    truth_note: str = ""
    #: each alarm that fell while the truth had not, worded (one per alarm, worst first)
    false_clears: list[str] = field(default_factory=list)
    #: the debrief of the live exercise the recording holds (twin.runs.debrief.Debrief), and its section of the page
    debrief: Any = None
    debrief_html: str = ""
    #: the executive summary (:class:`.summary.Summary`), the report's first page
    executive: Any = None


def _timed(run: Run, a: AlarmLife, when: float | None, lang: str) -> Timed:
    if when is None:
        return Timed("", "")
    return Timed(span_text(when - a.raised, lang), run.moment(when))


def alarm_row(run: Run, twin: Twin | None, a: AlarmLife, lang: str) -> AlarmRow:
    w = words(lang)
    if a.detect_from is not None:
        when, action = a.detect_from
        ref = f"{w['from']} {input_text(action)} {run.moment(when)}"
    else:
        when, ref = run.start, f"{w['from']} {w['runStart']} {run.moment(run.start)}"
    return AlarmRow(a.id, a.asset, domain_name(twin, a.domain, lang), alarm_title(a, lang), a.rule, a.owner, a.peak_level,
                    run.moment(a.raised), span_text(a.raised - when, lang), ref, _timed(run, a, a.acknowledged, lang),
                    _timed(run, a, a.dispatched, lang), _timed(run, a, a.resolved, lang), _timed(run, a, a.cleared, lang))


def group_view(run: Run, twin: Twin | None, g: AlarmGroup, lang: str) -> GroupView:
    w = words(lang)
    return GroupView(group_title(g, twin, lang), g.peak_level, w["groupSize"].format(n=len(g.alarms), assets=len(g.assets)),
                     w["groupOpened"].format(start=run.moment(g.first_raised), end=run.moment(g.last_change)), g.kind,
                     [alarm_row(run, twin, a, lang) for a in g.alarms])


def timeline_rows(run: Run, lang: str) -> list[TimelineRow]:
    """Every input action, message to the players, alarm event and operator action (on
    an alarm or on an incident), in time order (inputs first at one moment, as they act
    before the tick's alarms; an incident's action before the steps it took on its alarms)."""
    w = words(lang)
    entries: list[tuple[float, int, TimelineRow]] = []
    for n, action in enumerate(run.inputs):
        entries.append((float(action["time"]), n, TimelineRow("input", run.moment(action["time"]), w["input"], input_text(action),
                                                              input_params(action), who=str(action.get("who", "")))))
    zh = lang == "zh-CN"
    for n, m in enumerate(run.messages, start=len(run.inputs)):  # a message inject, as the players got it
        line = w["messageLine"].format(kind=w[f"msg_{m['kind']}"], sender=(zh and m.get("from_zh")) or m["from"],
                                       text=(zh and m.get("text_zh")) or m["text"])
        entries.append((float(m["time"]), n, TimelineRow("message", run.moment(m["time"]), w["evMessage"], line, kind="message")))
    for act in run.incident_actions:
        # ahead of every alarm event of its moment (the sort is stable), as the steps it took
        # on its alarms follow it
        entries.append((float(act["time"]), len(run.inputs) + len(run.messages), incident_row(run, act, lang)))
    for n, ev in enumerate(run.events, start=len(run.inputs) + len(run.messages)):
        a = ev["alarm"]
        kind = ev["kind"]
        who = " — ".join(x for x in (ev.get("who", ""), ev.get("note", "")) if x)
        entries.append((float(ev["time"]), n, TimelineRow("op" if kind in OPERATOR_KINDS else "alarm-event", run.moment(ev["time"]),
                                                          event_word(kind, lang), f"#{a['id']} {a['asset']} {alarm_title(a, lang)}",
                                                          level=int(a["level"]), who=who, alarm=int(a["id"]), kind=kind)))
    return [row for *_, row in sorted(entries, key=lambda e: (e[0], e[1]))]


#: a person's action on an incident (/operator/incident), by kind: its word in the table
INCIDENT_ACTION_WORDS = {"acknowledge": "evIncidentAcknowledge", "dispatch": "evIncidentDispatch", "close": "evIncidentClose"}


def incident_row(run: Run, act: dict[str, Any], lang: str) -> TimelineRow:
    """The timeline's row of an action on an incident: the incident (its id and title,
    in Chinese where the recorded frames carry it), the unit a dispatch went to, who and
    their note."""
    w = words(lang)
    incident = act["incident"]
    known = run.incidents.get(int(incident["id"]), {})
    title = (lang == "zh-CN" and known.get("title_zh")) or incident.get("title") or known.get("title", "")
    what = " ".join(x for x in (w["incident"].format(id=incident["id"]), title) if x)
    if act["kind"] == "dispatch" and act.get("unit"):
        what += f" → {act['unit']}"
    who = " — ".join(x for x in (act.get("who", ""), act.get("note", "")) if x)
    key = INCIDENT_ACTION_WORDS.get(act["kind"])
    return TimelineRow("incident-op", run.moment(act["time"]), w[key] if key else act["kind"], what, who=who,
                       kind=act["kind"], incident=int(incident["id"]))


def false_clear_text(f: Any, run: Run, lang: str) -> str:
    """A false all-clear (:class:`.truthcharts.FalseClear`) as one sentence in ``lang``."""
    w = words(lang)
    a = f.alarm
    what = w["falseCleared"] if f.after == 0 else w["falseFell"].format(level=level_name(f.after, lang))
    faults = "".join(w["falseFaults"].format(fault=w.get(f"faultWord_{fault}", fault), sensor=sensor, since=run.moment(since))
                     for sensor, fault, since in f.faults)
    return w["falseClear"].format(id=a.id, asset=a.asset, title=alarm_title(a, lang), what=what, time=run.moment(f.time),
                                  truth=level_name(f.truth, lang), faults=faults)


def meta_rows(run: Run, twin: Twin | None, drill: Any, lang: str) -> list[tuple[str, str]]:
    w = words(lang)
    meta = run.metadata
    plugins = ", ".join(f"{n} {v.get('version', '?')}" + ("" if v.get("status") == "active" else f" ({v.get('status')})")
                        for n, v in json.loads(meta.get("plugins", "{}") or "{}").items())
    rows = [
        (w["scene"], scene_title(run, twin, lang)), (w["drill"], drill_name(run, drill, lang)), (w["seed"], meta.get("seed", "—")),
        (w["tick"], f"{meta.get('dt', '—')} s"),
        (w["span"], f"{run.moment(run.start, date=True)} – {run.moment(run.end)} ({span_text(run.end - run.start, lang)})"),
    ]
    if run.clock_start:
        rows.append((w["timezone"], w["timezoneValue"].format(zone=run.timezone)))
    rows += [(w["recorded"], run.created or "—"), (w["file"], str(run.path)), (w["plugins"], plugins or "—")]
    if meta.get("config", "{}") not in ("{}", ""):
        rows.append((w["thresholds"], meta["config"]))
    return rows


def build_view(run: Run, twin: Twin | None, drill: Any, scores: list[Any] | None, drill_path: str, groups: list[AlarmGroup],
               worst: float, total: int, picture: DistrictPicture | None, timeline_charts: list[Path], plots: list[AssetPlot],
               plotted_of: int, notes_picture: list[str], notes_fields: list[str], lang: str, truth_charts: list[Any] | None = None,
               truth: Any = None, false_clears: list[Any] | None = None, truth_mattered: int = 0,
               debrief: Any = None) -> View:
    """The whole report in ``lang``."""
    from twin.runs.debrief import render_section
    from twin.runs.report.summary import executive_summary
    from twin.runs.report.truthcharts import worst_false_clears

    found = [false_clear_text(f, run, lang) for f in worst_false_clears(list(false_clears or []))]

    w = words(lang)
    summary = None
    if run.alarms:
        summary = {"n": len(run.alarms), "assets": len({a.asset for a in run.alarms.values()}), "groups": len(groups),
                   "peak": max(a.peak_level for a in run.alarms.values()), "worst": run.moment(worst), "total": total}
    score_rows = None
    if scores is not None:
        score_rows = [ScoreRow(sc.passed, expectation_text(sc.expectation, lang, twin), score_detail(sc, run, lang, truth),
                               getattr(sc, "judged", True)) for sc in scores]
    caption = ""
    if picture is not None:
        caption = w["worstCaption"].format(time=run.moment(worst), n=sum(1 for a in run.alarms.values() if a.level_at(worst)),
                                           groups=picture.groups, total=total, shown=picture.groups - picture.unlabelled,
                                           rest=picture.unlabelled)
    by_incident = any(g.kind == "incident" for g in groups)
    plots_note = w["fieldsMore"].format(n=len(plots), rest=plotted_of - len(plots)) if plotted_of > len(plots) else ""
    return View(lang, w, drill_name(run, drill, lang), meta_rows(run, twin, drill, lang),
                w["incomplete"].format(end=run.moment(run.end)) if not run.complete else "", summary, score_rows,
                w["scoreNote"].format(path=drill_path) if scores is not None else w["noDrill"].format(path=drill_path),
                w["groupsByIncident" if by_incident else "groupsByPlace"], [group_view(run, twin, g, lang) for g in groups],
                timeline_rows(run, lang), picture, caption, timeline_charts, plots, plots_note, notes_picture, notes_fields,
                truth_kept=truth is not None, truth_charts=list(truth_charts or []),
                truth_note=(w["truthMore"].format(n=len(truth_charts or []), rest=truth_mattered - len(truth_charts or []))
                            if truth_mattered > len(truth_charts or []) else ""),
                false_clears=found,
                debrief=debrief, debrief_html=render_section(debrief, lang) if debrief is not None else "",
                executive=executive_summary(run, twin, drill, scores, debrief, groups, found, lang))
