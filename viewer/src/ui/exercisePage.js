// What the exercise's desk pages share (the controller's console, console.html, and the
// observers' page, observer.html): their words in both languages, the page itself (its
// language, title and heading: each .html holds no more than its script), the API calls
// with the page's token, and the exercise's state polled from GET /api/exercise.
import './exercise.css';
import { clock, lang, setClock } from '../i18n.js';
import { apiUrl } from '../params.js';
import { el, setText } from './dom.js';

/** @typedef {import('../protocol.generated.js').ExerciseState} ExerciseState */
/** @typedef {import('../protocol.generated.js').Inject} Inject */

/** @type {Record<string, Record<string, string>>} */
const WORDS = {
  en: {
    console: 'Exercise console', observer: 'Exercise observer', idle: 'No exercise running', running: 'RUNNING',
    ended: 'ENDED', start: 'Start', stop: 'Stop the exercise', stopConfirm: 'Click again to stop and debrief',
    drillToStart: 'Drill to play', injects: 'Injects', moment: 'Moment', kind: 'Kind', what: 'What', state: 'State',
    controls: 'Controls', fire: 'Fire now', delay: 'Delay', skip: 'Skip', seconds: 's', in: 'in', fired: 'fired',
    pending: 'pending', skipped: 'skipped', failed: 'failed', action: 'action', fault: 'sensor fault', message: 'message',
    add: 'Add an inject', addButton: 'Add', at: 'At (s from the start; empty: now)', target: 'Target',
    params: 'Parameters', from: 'From', fromZh: 'From (中文)', text: 'Text', textZh: 'Text (中文)', call: 'phone call',
    field_report: 'field report', press: 'press enquiry', other: 'other', notes: 'Observer notes',
    messages: 'Messages sent', objectives: 'Objectives', met: 'met', 'not met': 'not met', 'not judged': 'not judged',
    debrief: 'Debrief', noNotes: 'No notes yet', noMessages: 'No messages yet', note: 'Note what you see',
    addNote: 'Add note', noted: 'noted at', left: 'Scripted responses left to the players', warnings: 'Warnings',
    of: 'of', by: 'by', planned: 'planned', onTime: 'on time', recording: 'recorded to', needToken: 'needs a token:',
    asset: 'an asset id', sensor: 'a sensor id', done: 'done', firedSoFar: 'Injects so far', now: 'now',
    actionLabel: 'Action',
  },
  'zh-CN': {
    console: '演练导调台', observer: '演练观察员', idle: '当前无演练', running: '进行中', ended: '已结束', start: '开始',
    stop: '结束演练', stopConfirm: '再次点击确认结束并生成复盘', drillToStart: '演练脚本', injects: '注入事件', moment: '时刻',
    kind: '类型', what: '内容', state: '状态', controls: '操作', fire: '立即发出', delay: '推迟', skip: '跳过',
    seconds: '秒', in: '还有', fired: '已发出', pending: '待发', skipped: '已跳过', failed: '失败', action: '处置动作',
    fault: '传感器故障', message: '消息', add: '新增注入', addButton: '新增', at: '时刻（自开始起的秒数；留空为立即）',
    target: '对象', params: '参数', from: '来自', fromZh: '来自（中文）', text: '内容', textZh: '内容（中文）',
    call: '来电', field_report: '现场报告', press: '媒体问询', other: '其他', notes: '观察员记录', messages: '已发消息',
    objectives: '演练目标', met: '达成', 'not met': '未达成', 'not judged': '未评判', debrief: '复盘报告',
    noNotes: '暂无记录', noMessages: '暂无消息', note: '记录所见', addNote: '添加记录', noted: '记录于',
    left: '留给参演人员的脚本处置', warnings: '提示', of: '/', by: '操作人', planned: '计划', onTime: '按时',
    recording: '录制到', needToken: '需要令牌：', asset: '设施编号', sensor: '传感器编号', done: '完成', firedSoFar: '已发生的注入',
    now: '立即', actionLabel: '动作',
  },
};

/** @param {string} key @returns {string} */
export function w(key) {
  return WORDS[lang][key] ?? WORDS.en[key] ?? key;
}

export { clock, lang };

/** Make the desk page titled `titleKey` (one of the words above): its language and title,
 * its <main> (`root`), the `heading` (the title, the drill's name, the exercise's state
 * and moment, which `show(state)` fills from each state) and its `status` line, which
 * `say(words, error)` writes (red for an error).
 * @param {string} titleKey @param {string} statusId the status line's element id */
export function deskPage(titleKey, statusId) {
  document.documentElement.lang = lang;
  document.title = w(titleKey);
  const root = el('main', { id: 'page' });
  document.body.append(root);
  const drillName = el('span', { id: 'drill-name', class: 'drill' });
  const badge = el('span', { id: 'exercise-state', class: 'badge' });
  const clockText = el('span', { id: 'exercise-moment', class: 'moment' });
  const status = el('p', { id: statusId, class: 'status', role: 'status' });
  return {
    root,
    status,
    heading: [el('h1', {}, w(titleKey)), drillName, badge, clockText],
    /** @param {ExerciseState} state */
    show(state) {
      const idle = state.state === 'idle';
      setText(drillName, idle ? w('idle') : (lang === 'zh-CN' && state.drill_zh) || state.drill);
      badge.dataset.state = state.state;
      setText(badge, idle ? '' : w(state.state));
      setText(clockText, idle ? '' : `${moment(state.at)} ${w('of')} ${moment(state.duration)}`);
    },
    /** @param {string} words @param {boolean} [error] */
    say(words, error = false) {
      setText(status, words);
      status.classList.toggle('error', error);
    },
  };
}

/** An answer of the API: ok, status, and its JSON (or the refusal's one-line error).
 * @typedef {{ok: boolean, status: number, body: any, error: string}} Answer */

/** GET (no body) or POST a JSON body with the page's token.
 * @param {string} path @param {object} [body] @returns {Promise<Answer>} */
export async function api(path, body) {
  try {
    const response = await fetch(apiUrl(path), body === undefined ? {} : {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    const type = response.headers.get('content-type') || '';
    const parsed = type.includes('json') ? await response.json() : await response.text();
    const error = response.ok ? '' : (parsed && typeof parsed === 'object' && parsed.error) || `${response.status}`;
    return { ok: response.ok, status: response.status, body: parsed, error };
  } catch (err) {
    return { ok: false, status: 0, body: null, error: err instanceof Error ? err.message : String(err) };
  }
}

/** The exercise's moment as HH:MM:SS from its start (a drill's own clock). @param {number | null} seconds */
export function moment(seconds) {
  if (seconds === null || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  const two = (/** @type {number} */ n) => String(n).padStart(2, '0');
  return `${two(Math.floor(s / 3600))}:${two(Math.floor((s % 3600) / 60))}:${two(s % 60)}`;
}

/** What an inject does, in a line. @param {Inject} i */
export function describe(i) {
  if (i.message) {
    const zh = lang === 'zh-CN';
    return `${w(i.message.kind)} · ${(zh && i.message.from_zh) || i.message.from}: ${(zh && i.message.text_zh) || i.message.text}`;
  }
  const params = Object.entries(i.params).map(([k, v]) => `${k} = ${v}`).join(', ');
  return `${i.action} → ${i.target}${params ? ` (${params})` : ''}`;
}

/** Poll GET /api/exercise every `every` ms and hand each state to `onState`, each
 * refusal to `onError` (a wrong token: the page says so, once per change).
 * @param {(state: ExerciseState) => void} onState @param {(error: string) => void} onError @param {number} [every] */
export function poll(onState, onError, every = 1000) {
  let busy = false;
  const round = async () => {
    if (busy) return;
    busy = true;
    try {
      const answer = await api('/api/exercise');
      if (answer.ok) {
        const state = /** @type {ExerciseState} */ (answer.body);
        setClock(state.absolute_clock, state.timezone);
        onState(state);
      } else onError(answer.error);
    } finally {
      busy = false;
    }
  };
  round();
  const timer = setInterval(round, every);
  return { refresh: round, stop: () => clearInterval(timer) };
}
