// What the exercise's desk pages share (the controller's console, console.html, and the
// observers' page, observer.html): the page itself (its language, title and heading: each
// .html holds no more than its script), the API calls with the page's token, and the
// exercise's state polled from GET /api/exercise. Their words are twin/i18n.py's desk_*
// (the one table, through i18n.js's w()).
import './exercise.css';
import { clock, lang, setClock, w } from '../i18n.js';
import { apiUrl } from '../params.js';
import { el, setText } from './dom.js';

/** @typedef {import('../protocol.generated.js').ExerciseState} ExerciseState */
/** @typedef {import('../protocol.generated.js').Inject} Inject */

export { clock, lang };

/** Make the desk page titled `titleKey` (a desk_* word): its language and title,
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
      setText(drillName, idle ? w('desk_idle') : (lang === 'zh-CN' && state.drill_zh) || state.drill);
      badge.dataset.state = state.state;
      setText(badge, idle ? '' : w(`desk_${state.state}`));
      setText(clockText, idle ? '' : `${moment(state.at)} ${w('desk_of')} ${moment(state.duration)}`);
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
    return `${w(`msg_${i.message.kind}`)} · ${(zh && i.message.from_zh) || i.message.from}: ${(zh && i.message.text_zh) || i.message.text}`;
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
