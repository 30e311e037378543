"""The debrief of a live exercise (复盘): what was asked, what happened, how fast.

:func:`debrief` turns an exercise's record (:class:`twin.runs.exercise.ExerciseRecord`)
into a :class:`Debrief`: the drill's objectives met or not, the timeline of injects (as
the controller fired, delayed, skipped or added them), the players' actions on alarms
and incidents, the observers' notes, and the times per phase of the response: detect
(from an injected cause to its first alarm, credited as the report credits it:
:mod:`twin.runs.credit`), acknowledge,
dispatch and close (each from an alarm's raise). :func:`render_html` writes it as one
HTML page in English or Chinese, :func:`render_section` as the after-action report's
section: one template, the report's ``templates/debrief.html.j2`` (the page puts
``debrief-page.html.j2`` around it). :func:`from_recording` reads it back from an
exercise's recording (``twin report``); :func:`write` writes both languages and the data
as JSON into a folder.

Moments are seconds from the exercise's start; times are the twin's clock, shown as the
scene's local time when the clock is absolute.
"""

from __future__ import annotations

import re
import statistics
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
import msgspec
from markupsafe import Markup

from twin.runs.credit import Scope, credit, detect
from twin.runs.exercise import ExerciseRecord, Inject, Note, Objective
from twin.runs.wording import expectation_words
from twin.tick.alarms import SYSTEM_DOMAIN
from twin.types import LEVEL_NAMES

LANGS = ("en", "zh-CN")
PHASES = ("detect", "acknowledge", "dispatch", "close")
#: the alarm actions and incident actions that are a phase's step
_STEP = {"acknowledge": "acknowledge", "dispatch": "dispatch", "resolve": "close", "close": "close"}


class PhaseTimes(msgspec.Struct):
    """One phase of the response over the exercise: how many could be measured
    (``of``), how many were (``count``), and their median and worst, seconds."""

    phase: Literal["detect", "acknowledge", "dispatch", "close"]
    count: int
    of: int
    median: float | None
    worst: float | None


class Response(msgspec.Struct):
    """How one alarm raised during the exercise was met: its cause (an inject) and the
    seconds from the cause to its raise (``detect``), and from its raise to its first
    acknowledge, dispatch and close (its resolve), None for a step not taken."""

    alarm: int
    asset: str
    domain: str
    rule: str
    title: str
    title_zh: str
    peak_level: int
    raised: float
    cause: int | None
    detect: float | None
    acknowledge: float | None
    dispatch: float | None
    close: float | None
    #: who acknowledged it
    by: str = ""


class PlayerAction(msgspec.Struct):
    """One action a player took on an alarm or an incident."""

    at: float
    time: float
    who: str
    action: str
    on: str
    level: int
    note: str = ""
    on_zh: str = ""


class Entry(msgspec.Struct):
    """One line of the timeline: ``what`` it is (``inject``, ``message``, ``alarm``,
    ``player``, ``note``), its words in English and Chinese, who, and the level of an
    alarm's line."""

    at: float
    time: float
    what: Literal["inject", "message", "alarm", "player", "note"]
    text: str
    text_zh: str
    who: str = ""
    level: int = 0


class Debrief(msgspec.Struct):
    """The debrief of one exercise (see the module's docstring)."""

    drill: str
    drill_zh: str
    file: str
    scene: str
    timezone: str
    absolute_clock: bool
    start: float
    end: float | None
    played: float
    duration: float
    started_by: str
    ended_by: str
    end_reason: str
    objectives: list[Objective]
    met: int
    judged: int
    injects: list[Inject]
    timeline: list[Entry]
    actions: list[PlayerAction]
    notes: list[Note]
    phases: list[PhaseTimes]
    responses: list[Response]
    left_to_players: list[str]
    warnings: list[str]
    recording: str
    #: the platform's deadlines that passed: alarms overdue, incidents escalated (moments
    #: ``at`` from the start added to each)
    overdue: list[dict[str, Any]] = []
    escalations: list[dict[str, Any]] = []


def debrief(record: ExerciseRecord, scope: Scope | None = None) -> Debrief:
    """The debrief of an exercise from its record (an exercise still running is read up to
    now). ``scope``: what the scene says of which asset's actions can set off which alarm
    (its links, couplings and district-wide actions, :class:`twin.runs.credit.Scope`);
    without it an alarm is credited only to an action on its own asset."""
    scope = scope or Scope()
    start = record.start
    end = record.end if record.end is not None else max([start, *(e["time"] for e in record.alarm_events)])
    responses = _responses(record, scope)
    actions = _actions(record)
    timeline = _timeline(record, actions)
    phases = []
    measured = [r for r in responses if r.domain != SYSTEM_DOMAIN]
    fired, causes = _causes(record, scope)
    found = detect([(r.raised, next(k for k, i in enumerate(fired) if i.n == r.cause) if r.cause is not None else None)
                    for r in measured], causes)
    for phase in PHASES:
        if phase == "detect":
            # per injected cause: how long until its first alarm
            values, of = found.values, found.of
        else:
            values = [v for r in measured if (v := getattr(r, phase)) is not None]
            of = len(measured)
        phases.append(PhaseTimes(phase, len(values), of, statistics.median(values) if values else None,  # type: ignore[arg-type]
                                 max(values) if values else None))
    judged = [o for o in record.objectives if o.status != "not judged"]
    return Debrief(record.drill, record.drill_zh, record.file, record.scene, record.timezone, record.absolute_clock, start,
                   record.end, end - start, record.duration, record.started_by, record.ended_by, record.end_reason,
                   list(record.objectives), sum(o.status == "met" for o in judged), len(judged), list(record.injects),
                   timeline, actions, list(record.notes), phases, responses, list(record.left_to_players),
                   list(record.warnings), record.recording, [{**o, "at": o["time"] - start} for o in record.overdue],
                   [{**e, "at": e["time"] - start} for e in record.escalations])


def _causes(record: ExerciseRecord, scope: Scope) -> tuple[list[Inject], list[Any]]:
    """The fired action injects in time order, and each as a :class:`twin.runs.credit.Cause`
    (moments from the start)."""
    fired = sorted((i for i in record.injects if i.kind == "action" and i.fired is not None), key=lambda i: i.fired or 0.0)
    return fired, [scope.cause({"time": i.fired, "action": i.action, "target": i.target}) for i in fired]


def _responses(record: ExerciseRecord, scope: Scope) -> list[Response]:
    """Each alarm raised during the exercise with its cause and its response times."""
    out: dict[int, Response] = {}
    fired, causes = _causes(record, scope)
    for e in record.alarm_events:
        a, at = e["alarm"], e["time"] - record.start
        if e["kind"] == "raise" and a["id"] not in out:
            n = credit(a["asset"], a["domain"], at, causes, scope)
            cause = fired[n] if n is not None else None
            out[a["id"]] = Response(a["id"], a["asset"], a["domain"], a["rule"], a.get("title", ""), a.get("title_zh", ""),
                                    a.get("peak_level", a["level"]), at, cause.n if cause else None,
                                    at - (cause.fired or 0.0) if cause else None, None, None, None)
            continue
        r = out.get(a["id"])
        if r is None:
            continue  # raised before the exercise: not its response
        r.peak_level = max(r.peak_level, a.get("peak_level", a["level"]))
        step = _STEP.get(e["kind"])
        if step is not None and getattr(r, step) is None:
            setattr(r, step, at - r.raised)
            if step == "acknowledge":
                r.by = e.get("who", "")
    # an incident's own actions answer for its alarms too (players may act on incidents)
    for incident in record.incidents:
        for act in incident.get("actions", []):
            step = _STEP.get(act["action"])
            if step is None:
                continue
            for alarm_id in incident.get("alarms", []):
                r = out.get(alarm_id)
                if r is not None and act["time"] - record.start >= r.raised and (
                        getattr(r, step) is None or act["time"] - record.start - r.raised < getattr(r, step)):
                    setattr(r, step, act["time"] - record.start - r.raised)
    return sorted(out.values(), key=lambda r: (r.raised, r.alarm))


def _actions(record: ExerciseRecord) -> list[PlayerAction]:
    out = []
    for e in record.alarm_events:
        if e["kind"] in ("acknowledge", "dispatch", "resolve"):
            a = e["alarm"]
            out.append(PlayerAction(e["time"] - record.start, e["time"], e.get("who", ""), e["kind"],
                                    f"alarm {a['id']} {a['asset']}", a["level"], e.get("note", ""), f"告警 {a['id']} {a['asset']}"))
    for incident in record.incidents:
        for act in incident.get("actions", []):
            if act["time"] >= record.start - 1e-9:
                out.append(PlayerAction(act["time"] - record.start, act["time"], act.get("who", ""), act["action"],
                                        f"incident {incident['id']} {incident.get('title', '')}", incident.get("peak_level", 0),
                                        act.get("note", ""),
                                        f"事件 {incident['id']} {incident.get('title_zh') or incident.get('title', '')}"))
    return sorted(out, key=lambda p: p.at)


_INJECT_WORDS = {
    "add": ("added", "新增"), "fire": ("fired", "发出"), "delay": ("delayed", "推迟"), "skip": ("skipped", "跳过"),
}
_KIND_ZH = {"call": "来电", "field_report": "现场报告", "press": "媒体问询", "other": "消息"}
_ALARM_WORDS = {"raise": ("raised", "发出"), "escalate": ("escalated to", "升级为"), "clear": ("cleared", "解除")}
_ACTION_ZH = {"acknowledge": "确认", "dispatch": "派发", "resolve": "办结", "close": "关闭"}


def _timeline(record: ExerciseRecord, actions: list[PlayerAction]) -> list[Entry]:
    start = record.start
    out: list[Entry] = []
    for i in record.injects:
        for change in i.log:
            if change.what == "fire" and i.message is not None:
                m = i.message
                out.append(Entry(change.at, start + change.at, "message", f"#{i.n} {m.kind.replace('_', ' ')} from "
                                 f"{m.sender}: {m.text}", f"#{i.n} {_KIND_ZH[m.kind]}（{m.from_zh or m.sender}）："
                                 f"{m.text_zh or m.text}", change.who))
                continue
            en, zh = _INJECT_WORDS[change.what]
            late = f" by {change.seconds:g} s" if change.seconds else ""
            late_zh = f" {change.seconds:g} 秒" if change.seconds else ""
            failed = f" — failed: {i.error}" if change.what == "fire" and i.state == "failed" else ""
            out.append(Entry(change.at, start + change.at, "inject", f"#{i.n} {en}{late}: {i.describe()}{failed}",
                             f"#{i.n} {zh}{late_zh}：{i.describe()}{failed}", change.who))
    for e in record.alarm_events:
        words = _ALARM_WORDS.get(e["kind"])
        if words is None:
            continue
        a = e["alarm"]
        level = LEVEL_NAMES["en"][a["level"]] if e["kind"] == "escalate" else ""
        title = a.get("title") or a["rule"]
        out.append(Entry(e["time"] - start, e["time"], "alarm",
                         f"{a['asset']}: {title} {words[0]}{' ' + level if level else ''}",
                         f"{a['asset']}：{a.get('title_zh') or title} {words[1]}{LEVEL_NAMES['zh-CN'][a['level']] if level else ''}",
                         level=a["level"]))
    for p in actions:
        note = f" — {p.note}" if p.note else ""
        out.append(Entry(p.at, p.time, "player", f"{p.action} {p.on}{note}",
                         f"{_ACTION_ZH.get(p.action, p.action)} {p.on_zh or p.on}{note}", p.who, p.level))
    for n in record.notes:
        out.append(Entry(n.at, n.time, "note", n.text, n.text, n.who))
    order = {"inject": 0, "message": 1, "alarm": 2, "player": 3, "note": 4}
    return sorted(out, key=lambda e: (e.at, order[e.what]))


# -------------------------------------------------------------------------- the page

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Exercise debrief", "drill": "Drill", "scene": "Scene", "played": "Played", "of": "of",
        "started": "Started", "ended": "Ended", "by": "by", "objectives": "Objectives", "met": "met",
        "not met": "not met", "not judged": "not judged", "objective": "Objective", "status": "Status",
        "detail": "Detail", "phases": "Times per phase", "phase": "Phase", "measured": "Measured", "median": "Median",
        "worst": "Worst", "detect": "Detect (cause to first alarm)", "acknowledge": "Acknowledge (from the raise)",
        "dispatch": "Dispatch (from the raise)", "close": "Close (from the raise)", "injects": "Injects",
        "moment": "Moment", "planned": "Planned", "fired": "Fired", "kind": "Kind", "what": "What", "state": "State",
        "source": "Source", "timeline": "Timeline", "who": "Who", "actions": "Player actions", "on": "On",
        "note": "Note", "notes": "Observer notes", "alarms": "Alarms and responses", "alarm": "Alarm",
        "level": "Peak level", "raised": "Raised", "cause": "Cause", "none": "none", "left": "Scripted responses left "
        "to the players", "warnings": "Warnings", "recording": "Recording", "time": "Time", "s": "s",
        "action": "action", "fault": "sensor fault",
        "message": "message", "local": "local time",
        "h_detect": "Detect", "h_acknowledge": "Acknowledge", "h_dispatch": "Dispatch", "h_close": "Close",
        "state_pending": "pending", "state_fired": "fired", "state_skipped": "skipped", "state_failed": "failed",
        "kind_inject": "inject", "kind_message": "message", "kind_alarm": "alarm", "kind_player": "player",
        "kind_note": "observer",
        "deadlines": "The platform's deadlines", "overdue": "alarms not acknowledged within their level's deadline",
        "escalations": "incidents escalated", "incident": "incident",
    },
    "zh-CN": {
        "title": "演练复盘报告", "drill": "演练", "scene": "场景", "played": "实际时长", "of": "/",
        "started": "开始", "ended": "结束", "by": "操作人", "objectives": "演练目标", "met": "达成",
        "not met": "未达成", "not judged": "未评判", "objective": "目标", "status": "结果", "detail": "说明",
        "phases": "各环节用时", "phase": "环节", "measured": "已计量", "median": "中位数", "worst": "最长",
        "detect": "发现（诱因至首条告警）", "acknowledge": "确认（自告警发出）", "dispatch": "派发（自告警发出）",
        "close": "办结（自告警发出）", "injects": "注入事件", "moment": "时刻", "planned": "计划", "fired": "发出",
        "kind": "类型", "what": "内容", "state": "状态", "source": "来源", "timeline": "时间线", "who": "人员",
        "actions": "参演人员处置", "on": "对象", "note": "说明", "notes": "观察员记录", "alarms": "告警与响应",
        "alarm": "告警", "level": "最高等级", "raised": "发出", "cause": "诱因", "none": "无",
        "left": "留给参演人员的脚本处置", "warnings": "提示", "recording": "录制文件", "time": "时间", "s": "秒",
        "action": "处置动作", "fault": "传感器故障",
        "message": "消息", "local": "当地时间",
        "h_detect": "发现", "h_acknowledge": "确认", "h_dispatch": "派发", "h_close": "办结",
        "state_pending": "待发", "state_fired": "已发出", "state_skipped": "已跳过", "state_failed": "失败",
        "kind_inject": "注入", "kind_message": "消息", "kind_alarm": "告警", "kind_player": "处置", "kind_note": "观察员",
        "deadlines": "平台处置时限", "overdue": "条告警未在其等级时限内确认", "escalations": "次事件升级", "incident": "事件",
    },
}

_DETAIL_ZH = [
    (re.compile(r"^reached at (\S+)$"), r"于 \1 达到"),
    (re.compile(r"^never reached$"), "未达到"),
    (re.compile(r"^none$"), "无"),
    (re.compile(r"^all in time$"), "均按时确认"),
    (re.compile(r"^late: (.*)$"), r"超时：\1"),
    (re.compile(r"^(\d+): (.*)$"), r"\1 条：\2"),
]


def objective_zh(o: Objective) -> str:
    """An objective in Chinese, from its terms, as the report's scorecard words the same
    expectation (:func:`twin.runs.wording.expectation_words`); its English when its kind
    has no wording."""
    # an objective keeps its expectation's words, not its incident flag or count (twin.runs.drill.Expectation.describe)
    most = re.search(r"at most (\d+)", o.text)
    said = expectation_words(o.kind, o.level, o.seconds, "zh-CN", asset=o.asset, domain=o.domain, owner=o.owner, rule=o.rule,
                             incident=bool(re.search(r"\bincidents?\b", o.text)), most=int(most[1]) if most else 0)
    return o.text if said is None else said


def objective_expectation(o: Objective) -> Any:
    """The drill expectation an objective was scored from (:class:`twin.runs.drill.Expectation`),
    rebuilt from its terms: what the report's executive summary judges an exercise's
    times against, as the scorecard judged them."""
    from twin.runs.drill import Expectation

    # an objective keeps its expectation's words, not its incident flag (Expectation.describe)
    return Expectation(o.kind, o.level, o.line, time=o.seconds, asset=o.asset, domain=o.domain, rule=o.rule, owner=o.owner,
                       incident=o.kind == "incidents_at_most" or bool(re.search(r"\bincidents?\b", o.text)))


def detail_zh(detail: str) -> str:
    """A scoring detail in Chinese where its form is known; else as it is."""
    head, _, rest = detail.partition("; the exercise ended at ")
    for pattern, words in _DETAIL_ZH:
        if pattern.match(head):
            head = pattern.sub(words, head)
            break
    if rest:
        ended, _, before = rest.partition(", before ")
        head += f"；演练于 {ended} 结束，早于 {before}"
    return head


#: who did what, when it was no person (twin.runs.exercise), and why an exercise ended
_WHO_ZH = {"on time": "按时", "the end": "演练结束", "the drill's end": "演练时长到", "the server": "服务器",
           "twin serve --exercise": "twin serve --exercise"}
_REASON_ZH = [
    (re.compile(r"^stopped by the controller$"), "导调人员结束"),
    (re.compile(r"^its duration, (\S+), ran out$"), r"演练时长 \1 已到"),
    (re.compile(r"^the twin was replaced \(a replay was opened\)$"), "孪生已切换（打开了回放）"),
]


def who_zh(who: str) -> str:
    return _WHO_ZH.get(who, who)


def reason_zh(reason: str) -> str:
    for pattern, words in _REASON_ZH:
        if pattern.match(reason):
            return pattern.sub(words, reason)
    return reason


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(round(seconds))
    sign = "-" if s < 0 else ""
    s = abs(s)
    return f"{sign}{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _environment() -> jinja2.Environment:
    """The report's templates (``twin/runs/report/templates``): the debrief is one of its
    sections, and a page of its own around that same section."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("twin.runs.report", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["clock"] = _clock
    env.filters["secs"] = lambda v: "—" if v is None else f"{v:.0f}"
    return env


def render_html(d: Debrief, lang: str = "en") -> str:
    """The debrief as one HTML page (no script, nothing loaded from elsewhere), in
    ``lang``: ``en`` or ``zh-CN``; its body is the report's debrief section
    (:func:`render_section`)."""
    return _render("debrief-page.html.j2", d, lang, top="h1", sub="h2", ids="")


def render_section(d: Debrief, lang: str = "en") -> Markup:
    """The debrief as the after-action report's section (``templates/debrief.html.j2``,
    the same as the page's body; its headings one level down, its ids prefixed
    ``debrief-``)."""
    return Markup(_render("debrief.html.j2", d, lang, top="h2", sub="h3", ids="debrief-"))


def _render(template: str, d: Debrief, lang: str, **layout: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"lang {lang!r}: valid: {', '.join(LANGS)}")
    zone: ZoneInfo | None = None
    if d.absolute_clock:
        try:
            zone = ZoneInfo(d.timezone or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")

    def local(time: float) -> str:
        return datetime.fromtimestamp(time, zone).strftime("%H:%M:%S") if zone is not None else ""

    words = WORDS[lang]
    zh = lang == "zh-CN"
    same = lambda text: text  # noqa: E731
    return _environment().get_template(template).render(
        **layout, d=d, w=words, lang=lang, zh=zh, local=local, levels=LEVEL_NAMES[lang], who=who_zh if zh else same,
        reason=reason_zh if zh else same, action_name=(lambda a: _ACTION_ZH.get(a, a)) if zh else same,
        objective_text=(objective_zh if zh else (lambda o: o.text)), detail_text=(detail_zh if zh else (lambda s: s)),
        started_local=local(d.start), ended_local=local(d.end) if d.end is not None else "",
        date=datetime.fromtimestamp(d.start, zone).strftime("%Y-%m-%d") if zone is not None else "")


def from_recording(path: Path, scope: Scope | None = None) -> Debrief | None:
    """The debrief of the exercise a recording holds, or None when it holds none: the
    record the server wrote into it at the exercise's end (``/exercise/record``), or, for
    a recording cut short before it, the exercise as far as its channels tell it (the
    timeline of injects, the notes, the alarm events since its start; its objectives
    not scored, which a warning says). ``scope``: as :func:`debrief` takes it."""
    import json

    from twin.runs.exercise import Inject, Note
    from twin.runs.recording import RecordingReader

    reader = RecordingReader(Path(path))
    try:
        if not any(topic.startswith("/exercise/") for topic in reader.channels.values()):
            return None  # no exercise: not a message of the file needs reading
        meta = reader.run_metadata()
        record: dict[str, Any] | None = None
        injects: dict[int, dict[str, Any]] = {}
        notes: list[dict[str, Any]] = []
        events: list[tuple[float, dict[str, Any]]] = []
        start: float | None = None
        topics = ("/exercise/record", "/exercise/inject", "/exercise/note", "/alarm/event", "/operator/action")
        for topic, t, data in reader.messages(topics):
            body = json.loads(data)
            if topic == "/exercise/record":
                record = body
            elif topic == "/exercise/inject":
                start = t / 1e9 if start is None else start
                injects[int(body["n"])] = body
            elif topic == "/exercise/note":
                notes.append(body)
            else:
                events.append((float(body["time"]), body))
        end = reader.end
    finally:
        reader.close()
    if record is not None:
        return debrief(msgspec.convert(record, ExerciseRecord), scope)
    if not injects and not notes:
        return None
    if start is None:
        start = min(float(n["time"]) - float(n["at"]) for n in notes)
    kept = [e for t, e in events if t >= start - 1e-9]
    partial = ExerciseRecord(
        meta.get("drill", ""), meta.get("drill_zh", ""), Path(meta.get("exercise_file", "")).name, meta.get("scene", ""),
        meta.get("timezone", "UTC"), bool(float(meta.get("start", "0") or 0)), start, end, "running", "", "", "",
        end - start, [msgspec.convert(i, Inject) for _, i in sorted(injects.items())], [msgspec.convert(n, Note) for n in notes],
        kept, [], [], [], ["the recording ends before the exercise did: its objectives were not scored"], Path(path).name)
    return debrief(partial, scope)


def write(d: Debrief, folder: Path) -> dict[str, Path]:
    """Write ``debrief.json`` and ``debrief.<lang>.html`` (each of LANGS) into ``folder``
    (made if missing); returns the paths by name (``json``, ``en``, ``zh-CN``)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "debrief.json"}
    paths["json"].write_bytes(msgspec.json.format(msgspec.json.encode(d), indent=1))
    for lang in LANGS:
        paths[lang] = folder / f"debrief.{lang}.html"
        paths[lang].write_text(render_html(d, lang), encoding="utf-8")
    return paths
