// The incident list's and timeline's own words in both languages. The shared table
// (twin/i18n.py -> i18n.generated.js) holds the words the alarm list already uses (level,
// owner, overdue, acknowledge, dispatch); these are the incidents' (a candidate for that
// table once it is free to change).
import { lang } from '../i18n.js';

/** @type {Readonly<Record<string, Readonly<Record<string, string>>>>} */
const WORDS = Object.freeze({
  en: Object.freeze({
    incidents: 'Incidents',
    showIncidents: 'Show incidents (alarms grouped by cause and place)',
    showAlarms: 'Show every open alarm',
    noIncidents: 'No open incidents',
    nAlarms: '{n} alarms',
    oneAlarm: '1 alarm',
    age: 'Age',
    incident: 'Incident',
    escalated: 'ESCALATED',
    escalatedTo: 'handed up to {to}',
    timeline: 'Timeline',
    incidentAlarms: 'Its alarms',
    closeIncident: 'Close',
    loading: 'loading…',
    unreachable: 'the timeline could not be read',
    inc_open: 'open', inc_acknowledged: 'acknowledged', inc_dispatched: 'dispatched', inc_closed: 'closed',
    crew_accepted: 'crew accepted', crew_on_site: 'crew on site', crew_working: 'crew working', crew_done: 'crew done',
    ev_open: 'Incident opened: {title}',
    ev_raise: 'Alarm {asset} raised: {rule}',
    ev_escalate: 'Alarm {asset} up to {level}',
    ev_deescalate: 'Alarm {asset} down to {level}',
    ev_clear: 'Alarm {asset} cleared',
    ev_alarm_acknowledge: 'Alarm {asset} acknowledged',
    ev_alarm_dispatch: 'Alarm {asset} dispatched to {unit}',
    ev_alarm_resolve: 'Alarm {asset} resolved',
    ev_acknowledge: 'Incident acknowledged',
    ev_dispatch: 'Dispatched to {unit}',
    ev_close: 'Incident closed',
    ev_accept: 'Crew accepted the task',
    ev_arrive: 'Crew on site',
    ev_work: 'Crew working',
    ev_done: 'Crew done; cause: {cause}',
    ev_escalation: 'Not {step} within {minutes} min: handed up from {from} to {to} ({channels})',
    step_acknowledge: 'acknowledged', step_dispatch: 'dispatched', step_close: 'closed',
    by: 'by',
    replayOnly: 'A replay shows what was: people act on the live twin',
  }),
  'zh-CN': Object.freeze({
    incidents: '事件',
    showIncidents: '显示事件（按成因和位置归并的告警）',
    showAlarms: '显示全部未处理告警',
    noIncidents: '无未关闭事件',
    nAlarms: '{n} 条告警',
    oneAlarm: '1 条告警',
    age: '持续',
    incident: '事件',
    escalated: '已升级',
    escalatedTo: '已上报{to}',
    timeline: '处置时间线',
    incidentAlarms: '所含告警',
    closeIncident: '办结',
    loading: '加载中…',
    unreachable: '无法读取时间线',
    inc_open: '待处置', inc_acknowledged: '已确认', inc_dispatched: '已派发', inc_closed: '已办结',
    crew_accepted: '队伍已接收', crew_on_site: '队伍已到场', crew_working: '处置中', crew_done: '处置完成',
    ev_open: '事件生成：{title}',
    ev_raise: '{asset} 告警发出：{rule}',
    ev_escalate: '{asset} 告警升级为{level}',
    ev_deescalate: '{asset} 告警降为{level}',
    ev_clear: '{asset} 告警解除',
    ev_alarm_acknowledge: '{asset} 告警已确认',
    ev_alarm_dispatch: '{asset} 告警已派发至{unit}',
    ev_alarm_resolve: '{asset} 告警已办结',
    ev_acknowledge: '事件已确认',
    ev_dispatch: '已派发至{unit}',
    ev_close: '事件已办结',
    ev_accept: '处置队伍已接收任务',
    ev_arrive: '处置队伍已到场',
    ev_work: '处置中',
    ev_done: '处置完成；原因：{cause}',
    ev_escalation: '{minutes} 分钟内未{step}：已上报{to}（{channels}）',
    step_acknowledge: '确认', step_dispatch: '派发', step_close: '办结',
    by: '操作人',
    replayOnly: '回放仅展示当时情况：处置请在实时模式下进行',
  }),
});

/** A word in the screen's language, with {name} slots filled from ``slots``.
 * @param {string} key @param {Record<string, string | number>} [slots] @returns {string} */
export function w(key, slots = {}) {
  const text = WORDS[lang][key] ?? WORDS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(slots[name] ?? ''));
}

/** "42 s", "12 min", "3 h 05 min", "2 d 4 h": how long ago, readable from across a room.
 * @param {number} seconds @returns {string} */
export function age(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const zh = lang === 'zh-CN';
  if (s < 60) return zh ? `${s} 秒` : `${s} s`;
  if (s < 3600) return zh ? `${Math.floor(s / 60)} 分钟` : `${Math.floor(s / 60)} min`;
  const h = Math.floor(s / 3600);
  if (h < 48) {
    const m = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
    return zh ? `${h} 小时 ${m} 分` : `${h} h ${m} min`;
  }
  return zh ? `${Math.floor(h / 24)} 天 ${h % 24} 小时` : `${Math.floor(h / 24)} d ${h % 24} h`;
}
