// The viewer's own words in both languages. Domain, field and level names are not
// here: they come from the plugins' viewer styles and the Hello's `levels`.
import { params } from './params.js';

/** @type {Record<string, Record<string, string>>} language -> key -> words */
const WORDS = {
  en: {
    alarms: 'Alarms', layers: 'Layers', underground: 'Underground', ground: 'Ground opacity',
    colourBy: 'Colour by', severity: 'Severity', noAlarms: 'No open alarms', level: 'Level', asset: 'Asset',
    domain: 'Domain', rule: 'Rule', since: 'Since', state: 'State', owner: 'Owner unit', attributes: 'Attributes',
    live: 'Live fields', sensors: 'Sensors', close: 'Close', note: 'Note for the log', acknowledge: 'Acknowledge',
    dispatch: 'Dispatch', resolve: 'Resolve', overdue: 'OVERDUE', disconnected: 'Disconnected from the twin',
    reconnecting: 'reconnecting in', attempt: 'attempt', connecting: 'Connecting…', live_mode: 'LIVE', seq: 'seq',
    simTime: 'sim time', localTime: 'local time', needOperator: 'needs an operator token; this screen is',
    stateRaised: 'raised', stateAcknowledged: 'acknowledged', stateDispatched: 'dispatched', stateResolved: 'resolved',
    wrongState: 'not possible while the alarm is', tour: 'Alarm tour', stale: 'stale', done: 'done', failed: 'failed',
    kind: 'Kind', more: 'more', buildings: 'Buildings', terrain: 'Ground', river: 'River', selectField: 'severity (risk and alarms)',
    replay_mode: 'REPLAY', play: 'Play', pause: 'Pause', paused: 'PAUSED', speed: 'Replay speed', seek: 'Replay position',
    seekHint: 'Drag or click to go to a moment of the recording', branch: 'Run live from here',
    branchHint: 'Leave the replay: the twin runs live from this moment, for every screen', branchConfirm: 'Click again: run live from',
    needDirector: 'Replay controls need a director token; this screen is',
    replayLiveOnly: 'Live twin: replay controls need a server started with twin serve --replay FILE',
    following: 'following',
    online: 'online', sensorsOnline: 'Share of this layer\'s sensors online (a good reading within their interval)',
    staleRows: 'no live reading (sensors offline)',
    history: 'History', chartThis: 'Show this field\'s history', window1h: '1 h', window24h: '24 h', window7d: '7 d',
    noHistory: 'No values in this window yet', dataSince: 'data since', points: 'points',
    source_raw: 'stored readings', source_minutes: 'per-minute min / mean / max',
    source_live: 'live window: values this screen received (no stored history)',
  },
  'zh-CN': {
    alarms: '告警', layers: '图层', underground: '地下视图', ground: '地面透明度',
    colourBy: '着色', severity: '预警等级', noAlarms: '无未处理告警', level: '等级', asset: '设施',
    domain: '专项', rule: '规则', since: '发生时间', state: '状态', owner: '权属单位', attributes: '属性',
    live: '实时数据', sensors: '传感器', close: '关闭', note: '处置说明', acknowledge: '确认',
    dispatch: '派发', resolve: '办结', overdue: '超时', disconnected: '与孪生服务器断开',
    reconnecting: '重连倒计时', attempt: '第', connecting: '正在连接…', live_mode: '实时', seq: '序号',
    simTime: '仿真时间', localTime: '本地时间', needOperator: '需要值班员权限；本屏角色为',
    stateRaised: '已发出', stateAcknowledged: '已确认', stateDispatched: '已派发', stateResolved: '已办结',
    wrongState: '告警当前状态不允许：', tour: '告警巡检', stale: '数据过期', done: '已完成', failed: '失败',
    kind: '类型', more: '更多', buildings: '建筑', terrain: '地面', river: '河流', selectField: '预警等级（风险与告警）',
    replay_mode: '回放', play: '播放', pause: '暂停', paused: '已暂停', speed: '回放倍速', seek: '回放位置',
    seekHint: '拖动或点击跳转到录制中的某一时刻', branch: '从此刻转为实时推演',
    branchHint: '退出回放：孪生从此刻起实时运行（所有屏幕同步）', branchConfirm: '再次点击确认：从此刻转为实时',
    needDirector: '回放控制需要指挥员权限；本屏角色为',
    replayLiveOnly: '实时模式：回放控制需以 twin serve --replay FILE 启动服务器',
    following: '跟随',
    online: '在线', sensorsOnline: '本图层传感器在线率（在预期间隔内有有效数据）',
    staleRows: '无实时数据（传感器离线）',
    history: '历史曲线', chartThis: '查看该指标的历史曲线', window1h: '1小时', window24h: '24小时', window7d: '7天',
    noHistory: '该时段暂无数据', dataSince: '数据起于', points: '个点',
    source_raw: '历史原始数据', source_minutes: '分钟统计（最小/平均/最大）',
    source_live: '实时窗口：本屏接收的数据（无历史存储）',
  },
};

export const lang = params.lang;

/** @param {string} key @returns {string} */
export function t(key) {
  return WORDS[lang][key] ?? WORDS.en[key] ?? key;
}

/** @param {string} state an alarm's state @returns {string} */
export function stateName(state) {
  return t(`state${state[0].toUpperCase()}${state.slice(1)}`);
}

// An absolute clock (a live twin's: UTC epoch seconds) is shown as local time in the
// scene's zone, whatever the zone of the screen's machine; a simulated one counts from 0.
// The Hello says which (setClock); null while the clock is simulated.
/** @type {{zone: string, format: Intl.DateTimeFormat} | null} */
let zoned = null;

/** Take the Hello's clock: ``absolute`` (epoch seconds) shown in ``timezone`` (IANA),
 * else simulated seconds from 0. An unknown zone falls back to UTC, named so.
 * @param {boolean} absolute @param {string} timezone */
export function setClock(absolute, timezone) {
  if (!absolute) {
    zoned = null;
    return;
  }
  /** @type {Intl.DateTimeFormatOptions} */
  const options = { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' };
  try {
    zoned = { zone: timezone, format: new Intl.DateTimeFormat('en-US', { ...options, timeZone: timezone }) };
  } catch {
    zoned = { zone: 'UTC', format: new Intl.DateTimeFormat('en-US', { ...options, timeZone: 'UTC' }) };
  }
}

/** The time zone local times are shown in, or null for a simulated clock. */
export function clockZone() {
  return zoned ? zoned.zone : null;
}

/** @param {Intl.DateTimeFormat} format @param {number} seconds @returns {Record<string, string>} */
function localParts(format, seconds) {
  /** @type {Record<string, string>} */
  const parts = {};
  for (const p of format.formatToParts(new Date(seconds * 1000))) parts[p.type] = p.value;
  return parts;
}

/** "YYYY-MM-DD hh:mm:ss" local time of an absolute clock; the simulated clock as clock().
 * @param {number} seconds @returns {string} */
export function dateClock(seconds) {
  if (!zoned) return clock(seconds);
  const p = localParts(zoned.format, seconds);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

/** "hh:mm:ss": local time of an absolute clock in the scene's zone, or of a simulated
 * clock from 0 (days shown when past one).
 * @param {number} seconds @returns {string} */
export function clock(seconds) {
  if (zoned) {
    const p = localParts(zoned.format, seconds);
    return `${p.hour}:${p.minute}:${p.second}`;
  }
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const hms = [Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60), s % 60].map((v) => String(v).padStart(2, '0')).join(':');
  return d ? `${d}d ${hms}` : hms;
}
