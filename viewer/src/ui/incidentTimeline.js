// An incident's timeline: every event of its record in time order, the latest last:
// its opening, each alarm's raise, escalations and clearing (from the alarm's level
// history), the operators' actions on its alarms and on it, the field crew's reports and
// the missed deadlines with who was told (docs/incidents.md). Built from
// GET /api/incidents/{id}, which the list asks again when a delta changes the incident.
import { clock, lang, w } from '../i18n.js';
import { LEVEL_COLOURS, LEVEL_INK } from '../levels.js';
import { el } from './dom.js';
import { levelName, ruleTitle } from './labels.js';

/** @typedef {import('../state.js').IncidentSummary} IncidentSummary */
/** @typedef {import('../protocol.generated.js').AlarmSummary} AlarmSummary */
/** One line of the timeline: when, what kind, its words, the level it names, who and their note.
 * @typedef {{time: number, kind: string, text: string, level: number, who: string, note: string}} TimelineEntry */
/** GET /api/incidents/{id}: the whole record (every note) and its alarms' summaries.
 * @typedef {{incident: IncidentSummary, alarms: AlarmSummary[], time: number}} IncidentRecord */

const INCIDENT_ACTIONS = new Set(['acknowledge', 'dispatch', 'close', 'accept', 'arrive', 'work', 'done']);

/** The record's events in time order (ties: the order they were made in).
 * @param {import('../state.js').TwinState} state @param {IncidentRecord} record @returns {TimelineEntry[]} */
export function timelineOf(state, record) {
  const i = record.incident;
  /** @type {TimelineEntry[]} */
  const out = [];
  /** @param {number} time @param {string} kind @param {string} text @param {Partial<TimelineEntry>} [more] */
  const add = (time, kind, text, more = {}) => out.push({ time, kind, text, level: 0, who: '', note: '', ...more });
  const title = (lang === 'zh-CN' && i.title_zh) || i.title;
  add(i.opened, 'open', w('ev_open', { title }), { level: i.peak_level });
  for (const a of record.alarms) {
    let before = 0;
    for (const h of a.history || []) {
      const level = Number(h.level);
      const time = Number(h.time);
      const slots = { asset: a.asset, rule: ruleTitle(a), level: levelName(state, level) };
      if (before === 0 && level > 0) add(time, 'raise', `${w('ev_raise', slots)} (${levelName(state, level)})`, { level });
      else if (level === 0) add(time, 'clear', w('ev_clear', slots));
      else if (level > before) add(time, 'escalate', w('ev_escalate', slots), { level });
      else if (level < before) add(time, 'deescalate', w('ev_deescalate', slots), { level });
      before = level;
    }
    for (const act of a.actions || []) {
      const key = `ev_alarm_${act.action}`;
      add(Number(act.time), `alarm-${act.action}`, w(key, { asset: a.asset, unit: String(act.unit || a.dispatched_to || a.owner) }),
        { who: String(act.who || '') });
    }
  }
  for (const act of i.actions || []) {
    if (!INCIDENT_ACTIONS.has(act.action)) continue;
    const text = w(`ev_${act.action}`, { unit: act.unit || i.dispatched_to || i.owner, cause: act.cause || '' });
    add(act.time, act.action, text, { who: act.who || '', note: act.note || '' });
  }
  for (const e of i.escalations || []) {
    const to = (lang === 'zh-CN' && e.to_zh) || e.to;
    add(e.time, 'escalation', w('ev_escalation', {
      step: w(`step_${e.step}`), minutes: Math.round((e.deadline / 60) * 10) / 10, from: e.from, to, channels: (e.channels || []).join(', '),
    }), { level: e.level });
  }
  return out.map((entry, n) => ({ entry, n })).sort((a, b) => a.entry.time - b.entry.time || a.n - b.n).map(({ entry }) => entry);
}

/** The timeline's rows (the latest last), each `li[data-kind]` with its time.
 * @param {TimelineEntry[]} entries @returns {HTMLLIElement[]} */
export function timelineRows(entries) {
  return entries.map((e) => el('li', { class: `tl tl-${e.kind}`, dataset: { kind: e.kind, time: e.time } }, [
    el('span', { class: 'tl-time' }, clock(e.time)),
    e.level ? el('span', { class: 'tl-dot', style: { background: LEVEL_COLOURS[e.level], color: LEVEL_INK[e.level] } }) : el('span', { class: 'tl-dot none' }),
    el('span', { class: 'tl-text' }, [
      e.text,
      e.who ? el('small', { class: 'tl-who' }, ` — ${e.who}`) : null,
      e.note ? el('span', { class: 'tl-note' }, e.note) : null,
    ]),
  ]));
}
