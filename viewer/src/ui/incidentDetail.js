// The selected incident, expanded under its row in the list: the operator's actions
// (acknowledge, dispatch, close, with a note: POST /api/incidents/{id}/ack|dispatch|close,
// operator role and up), its alarms (a click opens one in the inspector) and its
// timeline. The record is asked of GET /api/incidents/{id} when the incident is chosen
// and again, at most once a second, whenever a delta changes it or one of its alarms,
// so the timeline follows the room and the field crew as it happens.
import { stateName, t, w } from '../i18n.js';
import { LEVEL_COLOURS, LEVEL_INK } from '../levels.js';
import { apiUrl } from '../params.js';
import { el, setText } from './dom.js';
import { levelName, ruleTitle } from './labels.js';
import { timelineOf, timelineRows } from './incidentTimeline.js';

/** @typedef {import('../state.js').IncidentSummary} IncidentSummary */
/** @typedef {import('./incidentTimeline.js').IncidentRecord} IncidentRecord */
/** @typedef {'acknowledge' | 'dispatch' | 'close'} IncidentAction */

const ROLES = ['viewer', 'operator', 'director', 'admin'];
/** action -> the states it is allowed from (twin/loop/incidents.py ACTIONS) and its path word */
const ACTIONS = /** @type {const} */ ({
  acknowledge: { from: ['open'], path: 'ack' },
  dispatch: { from: ['acknowledged', 'dispatched'], path: 'dispatch' },
  close: { from: ['acknowledged', 'dispatched'], path: 'close' },
});
/** ms between two questions for the record while the incident keeps changing */
const REFRESH_MS = 1000;

export class IncidentDetail {
  /** @param {import('../state.js').TwinState} state @param {number} id @param {{onAlarm: (alarmId: number) => void, onActed: () => void}} handlers */
  constructor(state, id, { onAlarm, onActed }) {
    this.state = state;
    this.id = id;
    this.onActed = onActed;
    /** @type {IncidentRecord | null} */
    this.record = null;
    this.note = el('textarea', { class: 'note', rows: 1, placeholder: t('note'), maxlength: 2000 });
    this.message = el('div', { class: 'action-message', role: 'status' });
    /** @type {Record<IncidentAction, HTMLButtonElement>} */
    this.buttons = {
      acknowledge: this.button('acknowledge', t('acknowledge')),
      dispatch: this.button('dispatch', t('dispatch')),
      close: this.button('close', w('closeIncident')),
    };
    this.reason = el('p', { class: 'reason' });
    this.alarms = el('ol', { class: 'incident-alarms' });
    this.timeline = el('ol', { class: 'incident-timeline', id: `incident-timeline-${id}` }, el('li', { class: 'empty' }, w('loading')));
    this.alarms.addEventListener('click', (event) => {
      const row = event.target instanceof Element ? event.target.closest('li[data-alarm]') : null;
      if (row instanceof HTMLElement) onAlarm(Number(row.dataset.alarm));
    });
    this.node = el('li', { class: 'incident-detail', dataset: { incident: id } }, [
      el('div', { class: 'actions' }, Object.values(this.buttons)), this.reason, this.note, this.message,
      el('h3', {}, w('incidentAlarms')), this.alarms,
      el('h3', {}, w('timeline')), this.timeline,
    ]);
    this.asking = false;
    this.again = false;
    this.askedAt = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
    this.closed = false;
    this.refresh();
  }

  /** @param {IncidentAction} action @param {string} label */
  button(action, label) {
    return el('button', { class: `action action-${action}`, dataset: { action }, onclick: () => this.act(action) }, label);
  }

  /** Ask for the record again: now, or once REFRESH_MS has passed since the last question. */
  refresh() {
    if (this.closed) return;
    if (this.asking) {
      this.again = true;
      return;
    }
    const wait = this.askedAt + REFRESH_MS - performance.now();
    if (wait > 0) {
      if (this.timer === undefined) this.timer = setTimeout(() => { this.timer = undefined; this.refresh(); }, wait);
      return;
    }
    this.fetch();
  }

  async fetch() {
    this.asking = true;
    this.askedAt = performance.now();
    try {
      const response = await fetch(apiUrl(`/api/incidents/${this.id}`));
      if (!response.ok) throw new Error(`${response.status}`);
      this.record = /** @type {IncidentRecord} */ (await response.json());
      this.renderRecord();
    } catch {
      if (!this.record) this.timeline.replaceChildren(el('li', { class: 'empty' }, w('unreachable')));
    } finally {
      this.asking = false;
      if (this.again) {
        this.again = false;
        this.refresh();
      }
    }
  }

  /** Bring the buttons up to the incident's latest summary (state, the screen's role).
   * @param {IncidentSummary} incident */
  update(incident) {
    const role = this.state.hello?.role || 'viewer';
    // a replay's incidents are the recording's: acting on them would change nothing real
    const why = this.state.hello?.mode === 'replay' ? w('replayOnly')
      : ROLES.indexOf(role) >= ROLES.indexOf('operator') ? '' : `${t('needOperator')} ${role}`;
    for (const [action, b] of /** @type {Array<[IncidentAction, HTMLButtonElement]>} */ (Object.entries(this.buttons))) {
      const stateOk = /** @type {readonly string[]} */ (ACTIONS[action].from).includes(incident.state);
      b.disabled = Boolean(why) || !stateOk;
      b.title = why || (!stateOk ? `${w(`inc_${incident.state}`)}` : '');
    }
    this.reason.hidden = !why;
    this.note.hidden = Boolean(why);
    setText(this.reason, why);
  }

  /** @param {IncidentAction} action */
  async act(action) {
    const body = JSON.stringify({ note: this.note.value });
    let text;
    let ok = false;
    try {
      const response = await fetch(apiUrl(`/api/incidents/${this.id}/${ACTIONS[action].path}`), {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body,
      });
      const answer = await response.json().catch(() => ({}));
      ok = response.ok;
      if (ok && answer.incident) {
        // the answer is the record now: the list need not wait for the next delta
        if (answer.incident.state === 'closed') this.state.incidents.delete(this.id);
        else this.state.incidents.set(this.id, answer.incident);
        this.note.value = '';
      }
      text = ok ? `${this.buttons[action].textContent}: ${t('done')}` : `${this.buttons[action].textContent}: ${t('failed')} — ${answer.error || response.status}`;
    } catch (err) {
      text = `${this.buttons[action].textContent}: ${t('failed')} — ${err instanceof Error ? err.message : err}`;
    }
    this.message.textContent = text;
    this.message.className = `action-message ${ok ? 'ok' : 'error'}`;
    this.onActed();
    this.refresh();
  }

  renderRecord() {
    const record = this.record;
    if (!record) return;
    const rows = record.alarms.map((summary) => {
      const a = this.state.alarms.get(summary.id) || summary; // the stream's is the newer
      return el('li', { class: `alarm level-${a.level}${a.overdue ? ' overdue' : ''}`, dataset: { alarm: a.id, asset: a.asset, state: a.state }, tabindex: 0 }, [
        el('span', { class: 'chip small', style: { background: LEVEL_COLOURS[a.level], color: LEVEL_INK[a.level] } }, levelName(this.state, a.level)),
        el('span', { class: 'asset' }, [el('b', {}, a.asset), el('span', { class: 'rule' }, ruleTitle(a))]),
        el('span', { class: `state state-${a.state}` }, [stateName(a.state), a.overdue ? el('b', { class: 'overdue-flag' }, ` ${t('overdue')}`) : null]),
      ]);
    });
    this.alarms.replaceChildren(...rows);
    const entries = timelineOf(this.state, record);
    const tl = this.timeline;
    // the latest is last: follow it, unless someone scrolled back to read
    const following = !tl.dataset.events || tl.scrollTop + tl.clientHeight >= tl.scrollHeight - 8;
    tl.replaceChildren(...timelineRows(entries));
    if (following) tl.scrollTop = tl.scrollHeight;
    this.timeline.dataset.events = String(entries.length);
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
  }
}
