"""The words of the viewer and of the reports in each language, and the level colours:
one table, declared once.

The viewer reads it from ``viewer/src/i18n.generated.js``, which
``scripts/gen-i18n-js`` writes from here (``tests/test_i18n.py`` fails while the two
differ); the reports (:mod:`twin.runs.report`) read it here. A word both use (an alarm,
acknowledge, the owner unit) is one entry of :data:`COMMON`, so the wall and the report
a drill team prints say the same thing. Domain, field, rule and level names are not
here: they come from the plugins' declarations and :data:`twin.types.LEVEL_NAMES`.

Each table gives a key its words in every language side by side, (English, Chinese).
Keys are camelCase (a few of the viewer's older ones snake_case); a report's value may
hold ``{name}`` placeholders, filled with ``str.format``.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

#: the languages every table below speaks, in the order the command line lists them
LANGS = ("en", "zh-CN")

#: display colours per level, 0 none (unused by the viewer: level 0 shows the domain's
#: own colour) to 4 red
LEVEL_COLOURS = ("#6b7686", "#2f7bff", "#ffd21f", "#ff7a1a", "#ff2d2d")
#: text colour that reads on each level's colour
LEVEL_INK = ("#ffffff", "#ffffff", "#101010", "#101010", "#ffffff")
#: an asset whose measured values are not live (some field has no online sensor): a
#: neutral grey no domain or level uses, never a colour that could read as healthy
STALE_COLOUR = "#5c5c5c"


def _by_language(pairs: dict[str, tuple[str, str]]) -> dict[str, dict[str, str]]:
    """A table of words by language from one of (English, Chinese) by key: each word is
    declared once, beside its translation, and no language can lack a key."""
    return {lang: {key: words[n] for key, words in pairs.items()} for n, lang in enumerate(LANGS)}


#: words the viewer and the reports share
COMMON = _by_language({
    "alarms": ("Alarms", "告警"),
    "level": ("Level", "等级"),
    "asset": ("Asset", "设施"),
    "domain": ("Domain", "专项"),
    "rule": ("Rule", "规则"),
    "owner": ("Owner unit", "权属单位"),
    "acknowledge": ("Acknowledge", "确认"),
    "dispatch": ("Dispatch", "派发"),
    "resolve": ("Resolve", "办结"),
    "stateRaised": ("raised", "已发出"),
    "stateAcknowledged": ("acknowledged", "已确认"),
    "stateDispatched": ("dispatched", "已派发"),
    "stateResolved": ("resolved", "已办结"),
    # a drill's message injects, by the kind of protocol ExerciseMessage: the wall's banner
    # and feed, the report's timeline
    "msg_call": ("Phone call", "来电"),
    "msg_field_report": ("Field report", "现场报告"),
    "msg_press": ("Press enquiry", "媒体问询"),
    "msg_other": ("Message", "消息"),
    # a drill's ground truth: the report's truth charts and the viewer's history chart
    "truthTrue": ("true", "真实值"),
})

#: the viewer's own words
VIEWER = _by_language({
    "layers": ("Layers", "图层"),
    "underground": ("Underground", "地下视图"),
    "ground": ("Ground opacity", "地面透明度"),
    "colourBy": ("Colour by", "着色"),
    "severity": ("Severity", "预警等级"),
    "noAlarms": ("No open alarms", "无未处理告警"),
    "since": ("Since", "发生时间"),
    "state": ("State", "状态"),
    "attributes": ("Attributes", "属性"),
    "live": ("Live fields", "实时数据"),
    "sensors": ("Sensors", "传感器"),
    "close": ("Close", "关闭"),
    "note": ("Note for the log", "处置说明"),
    "overdue": ("OVERDUE", "超时"),
    "disconnected": ("Disconnected from the twin", "与孪生服务器断开"),
    "reconnecting": ("reconnecting in", "重连倒计时"),
    "attempt": ("attempt", "第"),
    "connecting": ("Connecting…", "正在连接…"),
    "live_mode": ("LIVE", "实时"),
    "seq": ("seq", "序号"),
    "simTime": ("sim time", "仿真时间"),
    "localTime": ("local time", "本地时间"),
    "needOperator": ("needs an operator token; this screen is", "需要值班员权限；本屏角色为"),
    "wrongState": ("not possible while the alarm is", "告警当前状态不允许："),
    "tour": ("Alarm tour", "告警巡检"),
    "stale": ("stale", "数据过期"),
    "done": ("done", "已完成"),
    "failed": ("failed", "失败"),
    "kind": ("Kind", "类型"),
    "more": ("more", "更多"),
    "buildings": ("Buildings", "建筑"),
    "terrain": ("Ground", "地面"),
    "selectField": ("severity (risk and alarms)", "预警等级（风险与告警）"),
    "replay_mode": ("REPLAY", "回放"),
    "play": ("Play", "播放"),
    "pause": ("Pause", "暂停"),
    "paused": ("PAUSED", "已暂停"),
    "speed": ("Replay speed", "回放倍速"),
    "seek": ("Replay position", "回放位置"),
    "seekHint": ("Drag or click to go to a moment of the recording", "拖动或点击跳转到录制中的某一时刻"),
    "branch": ("Run live from here", "从此刻转为实时推演"),
    "branchHint": (
        "Leave the replay: the twin runs live from this moment, for every screen",
        "退出回放：孪生从此刻起实时运行（所有屏幕同步）",
    ),
    "branchConfirm": ("Click again: run live from", "再次点击确认：从此刻转为实时"),
    # a branch's re-run warnings (the Result of ReplayControl "branch"), above the list of them
    "branchWarnings": ("Running live, but the re-run could not repeat:", "已转为实时推演，但重演时未能重现："),
    "needDirector": ("Replay controls need a director token; this screen is", "回放控制需要指挥员权限；本屏角色为"),
    "replayLiveOnly": (
        "Live twin: replay controls need a server started with twin serve --replay FILE",
        "实时模式：回放控制需以 twin serve --replay FILE 启动服务器",
    ),
    "following": ("following", "跟随"),
    "online": ("online", "在线"),
    "sensorsOnline": (
        "Share of this layer's sensors online (a good reading within their interval)",
        "本图层传感器在线率（在预期间隔内有有效数据）",
    ),
    "staleRows": ("no live reading (sensors offline)", "无实时数据（传感器离线）"),
    "history": ("History", "历史曲线"),
    "chartThis": ("Show this field's history", "查看该指标的历史曲线"),
    "window1h": ("1 h", "1小时"),
    "window24h": ("24 h", "24小时"),
    "window7d": ("7 d", "7天"),
    "noHistory": ("No values in this window yet", "该时段暂无数据"),
    "dataSince": ("data since", "数据起于"),
    "points": ("points", "个点"),
    "source_raw": ("stored readings", "历史原始数据"),
    "source_minutes": ("per-minute min / mean / max", "分钟统计（最小/平均/最大）"),
    "source_live": ("live window: values this screen received (no stored history)", "实时窗口：本屏接收的数据（无历史存储）"),
    "source_recording": ("the recording's readings", "录制中的原始读数"),
    # a replayed drill's truth beside the readings (its line is labelled truthTrue, the report's word)
    "truthSeries": ("dashed: true value", "虚线：真实值"),

    # the incident list, an incident's detail and its timeline (viewer/src/ui/alarmList.js,
    # incidentDetail.js, incidentTimeline.js); {name} slots filled by i18n.js's w()
    "incidents": ("Incidents", "事件"),
    "showIncidents": ("Show incidents (alarms grouped by cause and place)", "显示事件（按成因和位置归并的告警）"),
    "showAlarms": ("Show every open alarm", "显示全部未处理告警"),
    "noIncidents": ("No open incidents", "无未关闭事件"),
    "nAlarms": ("{n} alarms", "{n} 条告警"),
    "oneAlarm": ("1 alarm", "1 条告警"),
    "age": ("Age", "持续"),
    "incident": ("Incident", "事件"),
    "escalated": ("ESCALATED", "已升级"),
    "escalatedTo": ("handed up to {to}", "已上报{to}"),
    "timeline": ("Timeline", "处置时间线"),
    "incidentAlarms": ("Its alarms", "所含告警"),
    "closeIncident": ("Close", "办结"),
    "loading": ("loading…", "加载中…"),
    "unreachable": ("the timeline could not be read", "无法读取时间线"),
    "inc_open": ("open", "待处置"),
    "inc_acknowledged": ("acknowledged", "已确认"),
    "inc_dispatched": ("dispatched", "已派发"),
    "inc_closed": ("closed", "已办结"),
    "crew_accepted": ("crew accepted", "队伍已接收"),
    "crew_on_site": ("crew on site", "队伍已到场"),
    "crew_working": ("crew working", "处置中"),
    "crew_done": ("crew done", "处置完成"),
    "ev_open": ("Incident opened: {title}", "事件生成：{title}"),
    "ev_raise": ("Alarm {asset} raised: {rule}", "{asset} 告警发出：{rule}"),
    "ev_escalate": ("Alarm {asset} up to {level}", "{asset} 告警升级为{level}"),
    "ev_deescalate": ("Alarm {asset} down to {level}", "{asset} 告警降为{level}"),
    "ev_clear": ("Alarm {asset} cleared", "{asset} 告警解除"),
    "ev_alarm_acknowledge": ("Alarm {asset} acknowledged", "{asset} 告警已确认"),
    "ev_alarm_dispatch": ("Alarm {asset} dispatched to {unit}", "{asset} 告警已派发至{unit}"),
    "ev_alarm_resolve": ("Alarm {asset} resolved", "{asset} 告警已办结"),
    "ev_acknowledge": ("Incident acknowledged", "事件已确认"),
    "ev_dispatch": ("Dispatched to {unit}", "已派发至{unit}"),
    "ev_close": ("Incident closed", "事件已办结"),
    "ev_accept": ("Crew accepted the task", "处置队伍已接收任务"),
    "ev_arrive": ("Crew on site", "处置队伍已到场"),
    "ev_work": ("Crew working", "处置中"),
    "ev_done": ("Crew done; cause: {cause}", "处置完成；原因：{cause}"),
    "ev_escalation": (
        "Not {step} within {minutes} min: handed up from {from} to {to} ({channels})",
        "{minutes} 分钟内未{step}：由{from}上报{to}（{channels}）",
    ),
    "step_acknowledge": ("acknowledged", "确认"),
    "step_dispatch": ("dispatched", "派发"),
    "step_close": ("closed", "办结"),
    "by": ("by", "操作人"),
    "replayOnly": ("A replay shows what was: people act on the live twin", "回放仅展示当时情况：处置请在实时模式下进行"),
    # a live exercise's (or a replay's) messages to the players: banner and feed (viewer/src/ui/messages.js);
    # their kinds (msg_<kind>) are in COMMON
    "messagesFeed": ("Messages", "信息"),
    "messageFrom": ("from", "来自"),
    "messageDismiss": ("Dismiss", "关闭"),
    # the exercise's desk pages: the controller's console and the observers' page (viewer/src/ui/console.js,
    # observer.js, exercisePage.js); the keys built from an exercise's or an inject's state, an inject's kind, a
    # control's verb and an objective's status are desk_<state>, desk_<kind>, desk_<verb>, desk_<status with _>.
    # A message's kind is COMMON's msg_<kind>, as on the wall
    "desk_console": ("Exercise console", "演练导调台"),
    "desk_observer": ("Exercise observer", "演练观察员"),
    "desk_idle": ("No exercise running", "当前无演练"),
    "desk_running": ("RUNNING", "进行中"),
    "desk_ended": ("ENDED", "已结束"),
    "desk_start": ("Start", "开始"),
    "desk_stop": ("Stop the exercise", "结束演练"),
    "desk_stopConfirm": ("Click again to stop and debrief", "再次点击确认结束并生成复盘"),
    "desk_drillToStart": ("Drill to play", "演练脚本"),
    "desk_injects": ("Injects", "注入事件"),
    "desk_moment": ("Moment", "时刻"),
    "desk_what": ("What", "内容"),
    "desk_controls": ("Controls", "操作"),
    "desk_fire": ("Fire now", "立即发出"),
    "desk_delay": ("Delay", "推迟"),
    "desk_skip": ("Skip", "跳过"),
    "desk_seconds": ("s", "秒"),
    "desk_in": ("in", "还有"),
    "desk_fired": ("fired", "已发出"),
    "desk_pending": ("pending", "待发"),
    "desk_skipped": ("skipped", "已跳过"),
    "desk_failed": ("failed", "失败"),
    "desk_action": ("action", "处置动作"),
    "desk_fault": ("sensor fault", "传感器故障"),
    "desk_message": ("message", "消息"),
    "desk_add": ("Add an inject", "新增注入"),
    "desk_addButton": ("Add", "新增"),
    "desk_at": ("At (s from the start; empty: now)", "时刻（自开始起的秒数；留空为立即）"),
    "desk_target": ("Target", "对象"),
    "desk_params": ("Parameters", "参数"),
    "desk_from": ("From", "来自"),
    "desk_fromZh": ("From (中文)", "来自（中文）"),
    "desk_text": ("Text", "内容"),
    "desk_textZh": ("Text (中文)", "内容（中文）"),
    "desk_notes": ("Observer notes", "观察员记录"),
    "desk_messages": ("Messages sent", "已发消息"),
    "desk_objectives": ("Objectives", "演练目标"),
    "desk_met": ("met", "达成"),
    "desk_not_met": ("not met", "未达成"),
    "desk_not_judged": ("not judged", "未评判"),
    "desk_debrief": ("Debrief", "复盘报告"),
    "desk_noNotes": ("No notes yet", "暂无记录"),
    "desk_noMessages": ("No messages yet", "暂无消息"),
    "desk_note": ("Note what you see", "记录所见"),
    "desk_addNote": ("Add note", "添加记录"),
    "desk_noted": ("noted at", "记录于"),
    "desk_left": ("Scripted responses left to the players", "留给参演人员的脚本处置"),
    "desk_warnings": ("Warnings", "提示"),
    "desk_of": ("of", "/"),
    "desk_planned": ("planned", "计划"),
    "desk_onTime": ("on time", "按时"),
    "desk_asset": ("an asset id", "设施编号"),
    "desk_sensor": ("a sensor id", "传感器编号"),
    "desk_done": ("done", "完成"),
    "desk_firedSoFar": ("Injects so far", "已发生的注入"),
    "desk_now": ("now", "立即"),
    "desk_actionLabel": ("Action", "动作"),
})

#: the after-action report's own words (twin.runs.report)
REPORT = _by_language({
    "title": ("After-action report", "演练复盘报告"),
    "run": ("The run", "运行概况"),
    "scene": ("Scene", "场景"),
    "drill": ("Drill", "演练"),
    "seed": ("Seed", "随机种子"),
    "tick": ("Tick", "步长"),
    "span": ("Simulated", "模拟时段"),
    "recorded": ("Recorded (UTC)", "记录时间（UTC）"),
    "file": ("Recording", "记录文件"),
    "plugins": ("Plugins", "插件"),
    "thresholds": ("Threshold overrides", "阈值覆盖"),
    "timezone": ("Times", "时间"),
    "timezoneValue": ("local time of the scene ({zone})", "场景当地时间（{zone}）"),
    "incomplete": (
        "The recording was cut short (no MCAP summary: its writer was killed or could not write on); this report covers what "
        "it holds, up to {end}.",
        "记录文件不完整（无 MCAP 摘要：写入进程被终止或无法继续写入）；本报告涵盖其已有数据，截至 {end}。",
    ),
    "summary": (
        "{n} alarms on {assets} assets in {groups} groups; highest level {peak}; worst moment {worst} (sum of open alarm "
        "levels {total}).",
        "共 {n} 条告警，涉及 {assets} 个设施，分为 {groups} 组；最高等级 {peak}；最严重时刻 {worst}（未关闭告警等级之和 {tota"
        "l}）。",
    ),
    "summaryNone": ("No alarm was raised.", "未发出任何告警。"),
    "scorecard": ("Scorecard", "评分表"),
    "scoreNote": (
        "The drill's expectations in {path}, re-scored from the recorded alarm events.",
        "按演练文件 {path} 中的预期，根据记录的告警事件重新评分。",
    ),
    "noDrill": (
        "No scorecard: the recording names no drill file, or it no longer exists ({path}).",
        "无评分表：记录未指明演练文件，或该文件已不存在（{path}）。",
    ),
    "pass": ("PASS", "通过"),
    "fail": ("FAIL", "未通过"),
    "expectation": ("Expectation", "预期"),
    "result": ("Result", "结果"),
    "detail": ("Detail", "说明"),
    # one wording per kind of expectation (twin.runs.drillfile.EXPECTATION_KINDS; English
    # as twin.runs.drill.Expectation.describe says it), the narrowing keys in {about}
    "expect_by": ("by {time} an {what} of at least {level}{about}", "{time} 前出现不低于{level}的{what}{about}"),
    "expect_never": ("no {what} of {level} or worse{about}", "全程不出现{level}及以上的{what}{about}"),
    "expect_acknowledged_within": (
        "every {what} of at least {level}{about} acknowledged within {seconds} s",
        "达到{level}的{what}均在达到后 {seconds} 秒内确认{about}",
    ),
    "expect_dispatched_within": (
        "every {what} of at least {level}{about} dispatched within {seconds} s",
        "达到{level}的{what}均在达到后 {seconds} 秒内派发{about}",
    ),
    "expect_resolved_within": (
        "every {what} of at least {level}{about} {done} within {seconds} s",
        "达到{level}的{what}均在达到后 {seconds} 秒内{done}{about}",
    ),
    "expect_no_false_clear": (
        "no alarm of {level} or worse{about} cleared while the truth was still {level} or worse",
        "真实值仍处于{level}及以上时，告警不得解除或降级{about}",
    ),
    "expect_incidents_at_most": ("at most {most} incident(s) of at least {level}{about}", "全程达到{level}及以上的事件不超过 {most} 起{about}"),
    "expectAlarm": ("alarm", "告警"),
    "expectIncident": ("incident", "事件"),
    "expectResolved": ("resolved", "办结"),
    "expectClosed": ("closed", "关闭"),
    "aboutAsset": ("on {v}", "设施 {v}"),
    "aboutDomain": ("in {v}", "专项 {v}"),
    "aboutOwner": ("owned by {v}", "权属单位 {v}"),
    "aboutRule": ("({v})", "规则 {v}"),
    "notJudgedTruth": (
        "not judged: the run keeps no ground truth",
        "未评判：本次运行未保存真实值（由真实传感器驱动的孪生，或保存真实值之前的记录）",
    ),
    "fellTo": ("{asset} {what} at {time} while the truth was {truth}", "{asset} 于 {time} {what}，而真实值仍为{truth}"),
    "stepNotDone": ("not {done}", "未{done}"),
    "doneWithout": ("{closed} without being {done}", "未{done}即{closed}"),
    "reachedAt": ("reached at {time}", "于 {time} 达到"),
    "neverReached": ("never reached", "未达到"),
    "none": ("none", "无"),
    "allInTimeStep": ("all in time ({done})", "均按时{done}"),
    "incidentNamed": ("incident {id} ({title})", "事件 {id}（{title}）"),
    "incidentsCounted": ("{n}", "{n} 起"),
    "notJudgedIncidents": (
        "not judged: the run raised alarms but keeps no incidents",
        "未评判：本次运行发出了告警，但记录中没有事件（事件记录功能之前的记录）",
    ),
    "late": ("late: {list}", "超时：{list}"),
    "notAcknowledged": ("not acknowledged", "未确认"),
    "seconds": ("{n} s", "{n} 秒"),
    "worst": ("The district at the worst moment", "最严重时刻的片区态势"),
    "worstCaption": (
        "At {time}: {n} open alarms in {groups} groups, sum of levels {total}. Every alarmed asset is drawn in its level's "
        "colour (others faded in their domain's colour, buildings translucent). Labelled: the worst alarm of the {shown} "
        "worst groups, with how many more alarms each holds; {rest} more groups are coloured but not labelled. Rendered off "
        "screen.",
        "{time}：{n} 条未关闭告警，分为 {groups} 组，等级之和 {total}。告警设施按等级着色（其余按所属专项颜色淡显，建筑半透明"
        "）。标注：最严重的 {shown} 组各自最严重的告警，及该组其余告警数；另有 {rest} 组仅着色、未标注。服务器端离屏渲染。",
    ),
    "labelMore": ("+{n} more", "另 {n} 条"),
    "labelGroupMore": ("{n} more groups not labelled", "另有 {n} 组未标注"),
    "sumLevels": ("sum of open alarm levels {total}", "未关闭告警等级之和 {total}"),
    "noPicture": ("No picture of the district: {why}.", "无片区图：{why}。"),
    "groupsByIncident": (
        "Alarms grouped by incident (the twin's grouping, see docs/incidents.md), worst first: by the highest level reached, "
        "then the earliest raised; in each group, its alarms worst first.",
        "告警按事件分组（孪生的归并规则，见 docs/incidents.md），最严重者在前：先按达到的最高等级，再按最早发出时间；组内告警"
        "亦按严重程度排列。",
    ),
    "groupsByPlace": (
        "Alarms grouped by domain and place (the recording carries no incidents), worst first: by the highest level reached, "
        "then the earliest raised; in each group, its alarms worst first.",
        "告警按专项与地点分组（记录中无事件信息），最严重者在前：先按达到的最高等级，再按最早发出时间；组内告警亦按严重程度排"
        "列。",
    ),
    "incident": ("Incident #{id}", "事件 #{id}"),
    "placeGroup": ("{domain} at {place}", "{place} {domain}"),
    "groupSize": ("{n} alarms on {assets} assets", "{n} 条告警，{assets} 个设施"),
    "groupOpened": ("from {start} to {end}", "{start} 至 {end}"),
    "alarm": ("Alarm", "告警"),
    "peak": ("Peak level", "最高等级"),
    "raised": ("Raised", "发出时间"),
    "detect": ("To detect", "发现用时"),
    "ack": ("To acknowledge", "确认用时"),
    "dispatchTime": ("To dispatch", "派发用时"),
    "resolveTime": ("To resolve", "办结用时"),
    "cleared": ("Condition cleared", "险情消除"),
    "from": ("from", "起点"),
    "runStart": ("start of the run", "运行开始"),
    "notDone": ("not within the recording", "记录内未发生"),
    "measures": (
        "How the times are measured. <b>To detect</b>: from the input action (drill event, scripted incident or director's "
        "action) nearest before the raise on the alarmed asset or an asset coupled to it (linked to it, in its domain or in "
        "a domain a coupling joins to it; named in each cell), otherwise from the start of the run, to the moment the alarm "
        "was raised (its first level, after the rule's dwell). <b>To acknowledge, dispatch, resolve</b>: from the raise to "
        "the first such operator action. <b>Condition cleared</b>: when the level first fell back to none. —: not within the "
        "recording.",
        "用时的计算方法。<b>发现用时</b>：自告警设施本身或与其耦合的设施（与其关联，且属同一专项或有耦合关系的专项）上、告警"
        "发出前最近的一个输入动作（演练事件、脚本事件或导演操作；单元格中注明），若无则自运行开始，至告警发出（经规则驻留时间"
        "后首次达到某一等级）。<b>确认、派发、办结用时</b>：自告警发出至首次相应的值班操作。<b>险情消除</b>：等级首次回落为正"
        "常的时间。—：记录内未发生。",
    ),
    "timeline": ("Timeline", "时间线"),
    "time": ("Time", "时间"),
    "event": ("Event", "事件"),
    "what": ("What", "内容"),
    "who": ("Who / note", "操作人 / 说明"),
    "input": ("action", "动作"),
    "timelineChart": (
        "Each group's highest level over time (colour), worst group on top, with operator actions (triangle acknowledge, "
        "square dispatch, cross resolve) and input actions (dashed).",
        "各组最高告警等级随时间变化（颜色，最严重的组在上），及值班操作（三角：确认，方块：派发，叉：办结）和输入动作（虚线）"
        "。",
    ),
    "timelinePart": ("part {n} of {of}", "第 {n} 部分，共 {of} 部分"),
    "fields": ("Key fields of the assets that alarmed", "告警设施的关键指标"),
    "fieldsNote": (
        "Per asset: the risk field of each alarm rule, with the level thresholds shaded, and up to three live fields that "
        "drive it (the inputs of the kernel that computes the risk, then its other outputs, ranked by how much they changed "
        "on this asset). Dashed lines: input actions on this asset or a coupled one; triangles: operator actions; black "
        "dotted line: the worst moment.",
        "每个设施：各告警规则的风险值（阴影为各等级阈值），以及至多三个驱动它的实时指标（计算风险的内核的输入，其次为其其他输"
        "出，按该设施上的变化幅度排序）。虚线：该设施或耦合设施上的输入动作；三角：值班操作；黑色点线：最严重时刻。",
    ),
    "fieldsMore": (
        "The {n} worst assets are plotted, the worst alarm of each group first; {rest} more alarmed assets are not (their "
        "times are in the table of alarms).",
        "仅绘出最严重的 {n} 个设施（每组最严重的告警优先）；另有 {rest} 个告警设施未绘出（其用时见告警表）。",
    ),
    "noFields": ("No field plots: {why}.", "无指标曲线：{why}。"),
    "fewFrames": ("the recording holds fewer than two frames", "记录中的数据帧少于两帧"),
    "pdf": ("The same report for printing (A4): {pdf}.", "供打印的同一报告（A4）：{pdf}。"),
    "risk": ("risk", "风险"),
    "tAxis": ("time", "时间"),
    "worstShort": ("worst moment", "最严重时刻"),
    "evRaise": ("raised", "发出"),
    "evEscalate": ("escalated", "升级"),
    "evDeescalate": ("de-escalated", "降级"),
    "evClear": ("cleared", "消除"),
    "evOverdue": ("overdue (not acknowledged in time)", "超时未确认"),
    "evMessage": ("message to the players", "向参演人员发送的消息"),
    # a person's acknowledge, dispatch and close of an incident (/operator/incident)
    "evIncidentAcknowledge": ("incident acknowledged", "事件已确认"),
    "evIncidentDispatch": ("incident dispatched", "事件已派发"),
    "evIncidentClose": ("incident closed", "事件已办结"),
    "messageLine": ("{kind} from {sender}: {text}", "{kind}（{sender}）：{text}"),
    "systemDomain": ("System", "系统"),
    "page": ("page {n}", "第 {n} 页"),
    "truth": ("Measured and true", "监测值与真实值"),
    "na": ("N/A", "未评判"),
    "truthNote": (
        "The run kept the ground truth of the fields its sensors measure: per sensor that matters (each one a fault was "
        "injected into, then those of the worst alarms' assets), what it read (blue) against what the simulated world held "
        "(red), and below, the alarm rule's risk as the twin computed it from the readings (blue) and on the truth (red), "
        "the level thresholds as bands and the alarm's level along the bottom. Dashed: the sensor's faults; a red line: an "
        "alarm that fell while the truth had not.",
        "本次运行保存了传感器所测指标的真实值：对每个需要关注的传感器（先是被注入故障的，其次是最严重告警设施上的），上图为其"
        "读数（蓝）与模拟世界中的真实值（红）；下图为告警规则的风险值——孪生据读数算出的（蓝）与按真实值算出的（红），色带为各"
        "等级阈值，底部色条为告警等级。虚线：传感器故障；红色竖线：真实值未回落而告警已降级或解除。",
    ),
    "truthNone": (
        "No truth beside the measurement: the recording keeps no ground truth (a twin fed by real sensors, or a recording "
        "made before the truth was kept).",
        "无真实值对照：记录中未保存真实值（由真实传感器驱动的孪生，或保存真实值之前的记录）。",
    ),
    "truthMore": (
        "{n} sensors are charted; {rest} more that matter are not.",
        "已绘出 {n} 个传感器；另有 {rest} 个需关注的传感器未绘出。",
    ),
    "truthMeasured": ("measured ({sensor})", "监测值（{sensor}）"),
    "truthTwinRisk": ("the twin's risk (from the readings)", "孪生风险值（据读数）"),
    "truthTrueRisk": ("true risk", "真实风险值"),
    "truthTitle": ("{sensor} on {asset} ({domain}): measured and true", "{asset}（{domain}）上的 {sensor}：监测值与真实值"),
    "truthFalseMark": ("cleared while the truth was {level}", "真实值仍为{level}时解除"),
    "falseClears": ("All-clears the truth contradicts", "与真实值相悖的解除"),
    "falseClear": (
        "Alarm #{id} on {asset} ({title}) {what} at {time} while the truth was still {truth}{faults}.",
        "{asset} 的告警 #{id}（{title}）于 {time} {what}，而真实值仍为{truth}{faults}。",
    ),
    "falseCleared": ("cleared", "解除"),
    "falseFell": ("fell to {level}", "降为{level}"),
    "falseFaults": (", on a {fault} sensor ({sensor}, since {since})", "；{sensor} 处于{fault}状态（自 {since} 起）"),
    "faultWord_sensor.drift": ("drifting", "漂移"),
    "faultWord_sensor.stuck": ("stuck", "卡滞"),
    "faultWord_sensor.dead": ("dead", "失效"),
    "falseNone": ("None: no alarm fell while the truth was still at its level.", "无：真实值未回落时，没有告警降级或解除。"),
    "why_fault": ("a fault was injected", "被注入故障"),
    "why_alarm": ("its asset alarmed", "所在设施告警"),
    "exec": ("Executive summary", "执行摘要"),
    "execSpan": ("{start} – {end} ({span})", "{start} 至 {end}（{span}）"),
    "execHappened": ("What happened", "发生了什么"),
    "execResponse": ("How fast, against the deadlines", "响应速度与时限"),
    "execObjectives": ("Objectives", "演练目标"),
    "execFindings": ("Three findings", "三点发现"),
    "execGroup": (
        "{title}: {n} alarms on {assets} assets from {start} to {end}, at worst {level}{cause}.",
        "{title}：{start} 至 {end}，{assets} 个设施发出 {n} 条告警，最高{level}{cause}。",
    ),
    "execCause": ("; the first {span} after {input}", "；{input} 后 {span} 发出首条告警"),
    "execMore": ("And {n} less severe groups ({alarms} alarms).", "另有 {n} 组较轻的告警（共 {alarms} 条）。"),
    "execStep_detect": ("Detect (cause to first alarm)", "发现（诱因至首条告警）"),
    "execStep_acknowledge": ("Acknowledge", "确认"),
    "execStep_dispatch": ("Dispatch", "派发"),
    "execStep_close": ("Close (resolve)", "办结"),
    "execStep": ("Step", "环节"),
    "execMeasured": ("Measured", "已计量"),
    "execMedian": ("Median", "中位数"),
    "execWorst": ("Slowest", "最慢"),
    "execDeadline": ("Deadline", "时限"),
    "execWithinHead": ("Within it", "按时"),
    "execOf": ("{n} of {of}", "{of} 条中 {n} 条"),
    "execWithin": ("{n} of {of}", "{of} 条中 {n} 条"),
    "execDrillDeadline": ("{span} (the drill's)", "{span}（演练要求）"),
    "execPlatformDeadline": ("the platform's: {levels}", "平台时限：{levels}"),
    "execMet": ("{met} of {judged} met", "{judged} 项中达成 {met} 项"),
    "execNoObjectives": ("The run was played against no objectives.", "本次运行未设演练目标。"),
    "execUnmet": ("Not met: {list}", "未达成：{list}"),
    "execAfter": (
        "Times from each alarm's raise; detect from the input action credited with it. The report's later pages give every "
        "alarm, the timeline and the charts.",
        "用时自各告警发出起算；发现用时自被认定为诱因的输入动作起算。后续各页列出全部告警、时间线与曲线。",
    ),
    "fUnmet": ("{n} objective(s) not met: {list}.", "{n} 项目标未达成：{list}。"),
    "fLate": (
        "{step}: {late} of {of} alarms beyond the deadline ({deadline}); the slowest took {worst}.",
        "{step}：{of} 条告警中 {late} 条超过时限（{deadline}），最慢 {worst}。",
    ),
    "fOverdue": (
        "{n} alarm(s) went overdue, not acknowledged within their level's deadline ({assets}).",
        "{n} 条告警超时未确认（超过其等级的时限：{assets}）。",
    ),
    "fOpen": (
        "{n} of {of} alarms were still not resolved at the end; the worst: {level} on {asset}.",
        "运行结束时 {of} 条告警中仍有 {n} 条未办结；最严重的：{asset} {level}。",
    ),
    "fDetect": (
        "The first alarm ({level}, {asset}) came {span} after its cause, {input}.",
        "首条告警（{asset}，{level}）在其诱因 {input} 之后 {span} 发出。",
    ),
    "fInTime": (
        "Every alarm judged was acknowledged within its deadline (median {median}; {n} measured).",
        "所有可评判的告警均在时限内确认（中位数 {median}；已计量 {n}）。",
    ),
})


#: the words of an incident's case file (twin.loop.archive: ``twin archive export``, HTML
#: and PDF); an incident's states and its crew's steps are the wall's (VIEWER ``inc_*``,
#: ``crew_*``, ``step_*``), an alarm's states COMMON's
CASE = _by_language({
    "case": ("Case file", "事件档案"),
    "state": ("State", "状态"),
    "worstLevel": ("Worst level", "最高等级"),
    "dispatchedTo": ("Dispatched to", "派往"),
    "opened": ("Opened", "发生"),
    "closed": ("Closed", "关闭"),
    "stillOpen": ("still open", "未关闭"),
    "times": ("Response times", "响应时间"),
    "step": ("Step", "环节"),
    "took": ("Took", "用时"),
    # the response times, by the step timed (twin.loop.incidents.STEPS_TIMED)
    "took_detect": ("Detected (from the onset to the opening)", "发现（自险情出现至事件生成）"),
    "took_acknowledge": ("Acknowledged", "确认"),
    "took_dispatch": ("Dispatched", "派单"),
    "took_arrive": ("Crew on site", "到场"),
    "took_close": ("Closed", "关闭"),
    "since": ("Raised", "发生时间"),
    "timeline": ("Timeline", "处置过程"),
    "time": ("Time", "时间"),
    "what": ("What", "事项"),
    "who": ("Who", "人员"),
    "note": ("Note", "说明"),
    "notifications": ("Notifications sent", "通知"),
    "channel": ("Channel", "渠道"),
    "event": ("Event", "事件"),
    "sent": ("Delivered", "送达"),
    "key": ("Idempotency key", "幂等键"),
    "escalations": ("Escalations", "逐级上报"),
    "crew": ("Field crew", "现场处置"),
    "photos": ("Photos", "现场照片"),
    "history": ("Readings before and after", "监测数据（前后）"),
    "noHistory": ("No history kept over this incident (drills keep none)", "本事件期间无历史数据（演练不保存历史）"),
    "none": ("none", "无"),
    "cause": ("Cause", "原因"),
    "area": ("Area", "范围"),
    "written": ("Written", "生成于"),
    # the timeline: an incident's changes (twin.loop.incidents.IncidentEvent) and its alarms' (AlarmEvent)
    # the note of the acknowledgement the twin makes when every alarm was acknowledged one by one
    # (twin.loop.incidents: written in English, shown in the case file's language)
    "case_allAcknowledged": ("every alarm of it acknowledged", "所含告警均已逐条确认"),
    "case_incident_open": ("incident opened", "事件生成"),
    "case_incident_join": ("alarm joined the incident", "告警并入事件"),
    "case_incident_escalate": ("incident level raised", "事件等级升高"),
    "case_incident_deescalate": ("incident level lowered", "事件等级降低"),
    "case_incident_clear": ("incident's alarms all cleared", "事件告警全部解除"),
    "case_incident_acknowledge": ("incident acknowledged", "事件已确认"),
    "case_incident_dispatch": ("incident dispatched", "事件已派发"),
    "case_incident_close": ("incident closed", "事件已办结"),
    "case_incident_overdue": ("incident overdue, handed up", "事件超时，逐级上报"),
    "case_incident_accept": ("crew accepted the task", "处置队伍已接收任务"),
    "case_incident_arrive": ("crew on site", "处置队伍已到场"),
    "case_incident_work": ("crew working", "现场处置中"),
    "case_incident_done": ("crew done", "现场处置完成"),
    "case_alarm_raise": ("alarm raised", "告警发出"),
    "case_alarm_escalate": ("alarm escalated", "告警升级"),
    "case_alarm_deescalate": ("alarm de-escalated", "告警降级"),
    "case_alarm_clear": ("alarm cleared", "告警解除"),
    "case_alarm_overdue": ("alarm overdue", "告警超时未确认"),
    "case_alarm_acknowledge": ("alarm acknowledged", "告警已确认"),
    "case_alarm_dispatch": ("alarm dispatched", "告警已派发"),
    "case_alarm_resolve": ("alarm resolved", "告警已办结"),
    # the notifications sent: the subject and the state change a rule names (twin.loop.notify.config)
    "case_subject_incident": ("incident", "事件"),
    "case_subject_alarm": ("alarm", "告警"),
    "case_change_raised": ("raised", "发出"),
    "case_change_escalated": ("escalated", "升级"),
    "case_change_deescalated": ("de-escalated", "降级"),
    "case_change_cleared": ("cleared", "解除"),
    "case_change_overdue": ("overdue", "超时"),
    "case_change_acknowledged": ("acknowledged", "已确认"),
    "case_change_dispatched": ("dispatched", "已派发"),
    "case_change_resolved": ("resolved", "已办结"),
    "case_change_joined": ("joined", "并入"),
    "case_change_accepted": ("crew accepted", "队伍已接收"),
    "case_change_arrived": ("crew on site", "队伍已到场"),
    "case_change_working": ("crew working", "现场处置中"),
    "case_change_done": ("crew done", "现场处置完成"),
    # a notification's delivery (the outbox's state)
    "case_delivery_sent": ("sent", "已送达"),
    "case_delivery_pending": ("pending", "待发送"),
    "case_delivery_failed": ("failed", "发送失败"),
})


def _merged(part: dict[str, dict[str, str]]) -> Mapping[str, Mapping[str, str]]:
    return MappingProxyType({lang: MappingProxyType({**COMMON[lang], **part[lang]}) for lang in LANGS})


#: the viewer's words: :data:`COMMON` and :data:`VIEWER`, per language
VIEWER_WORDS = _merged(VIEWER)
#: the report's words: :data:`COMMON` and :data:`REPORT`, per language
REPORT_WORDS = _merged(REPORT)
#: the case file's words: :data:`COMMON` and :data:`CASE`, per language
CASE_WORDS = _merged(CASE)


def words(lang: str, part: str = "report") -> Mapping[str, str]:
    """The words of ``part`` ("report", "viewer" or "case") in ``lang``; ValueError naming
    the valid languages for another."""
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; valid: {', '.join(LANGS)}")
    return {"report": REPORT_WORDS, "case": CASE_WORDS}.get(part, VIEWER_WORDS)[lang]
