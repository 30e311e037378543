// The alarm list, in one of two modes its header's toggle switches (?list=incidents|alarms
// at start; incidents by default on a wall, alarms on an operator's screen):
// - incidents: one row per open incident, worst first (level, then the longest at it):
//   its level, title, owner unit, how many alarms, age, state, crew and escalation or
//   overdue marks. A click expands it (incidentDetail.js: actions, its alarms, its
//   timeline) and frames it in 3D (incidentFrame.js); a second click folds it.
// - alarms: level (colour and name), asset, domain, rule, since, state; worst and newest
//   first.
// One click listener for the whole list; alarm rows are replaced, incident rows kept by
// id and moved only when the order changes (the expanded one holds a note being typed);
// re-rendered at most once per animation frame.
import { el, setText } from './dom.js';
import { age, clock, lang, stateName, t, w } from '../i18n.js';
import { LEVEL_COLOURS, LEVEL_INK } from '../levels.js';
import { domainLabel, levelName, ruleTitle } from './labels.js';
import { IncidentDetail } from './incidentDetail.js';
import './incidents.css';

/** @typedef {import('../state.js').IncidentSummary} IncidentSummary */
/** @typedef {'incidents' | 'alarms'} ListMode */
/** What frames an incident in 3D (incidentFrame.js's IncidentFrame).
 * @typedef {{show: (incident: IncidentSummary) => boolean, update: (incident: IncidentSummary) => void, hide: () => void, incident: number | null}} Framer */

const MAX_ROWS = 40;

export class AlarmList {
  /** @param {HTMLElement} parent @param {import('../state.js').TwinState} state
   * @param {{onSelect: (alarmId: number) => void, frame?: Framer, mode?: ListMode}} handlers */
  constructor(parent, state, { onSelect, frame, mode = 'alarms' }) {
    this.state = state;
    this.onSelect = onSelect;
    this.frame = frame;
    /** @type {ListMode} */
    this.mode = mode;
    this.selected = null;
    /** @type {number | null} the incident expanded */
    this.selectedIncident = null;
    /** @type {IncidentDetail | null} */
    this.detail = null;
    /** @type {Map<number, HTMLLIElement>} incident id -> its row, kept while it is listed */
    this.incidentRows = new Map();
    this.count = el('span', { class: 'count' });
    this.title = el('span', { class: 'list-title' });
    this.toggles = {
      incidents: el('button', { class: 'list-mode', id: 'list-incidents', dataset: { mode: 'incidents' }, title: w('showIncidents') }, w('incidents')),
      alarms: el('button', { class: 'list-mode', id: 'list-alarms', dataset: { mode: 'alarms' }, title: w('showAlarms') }, t('alarms')),
    };
    for (const b of Object.values(this.toggles)) b.addEventListener('click', () => this.setMode(/** @type {ListMode} */ (b.dataset.mode)));
    this.head = el('div', { class: 'alarm-head' });
    this.body = el('ol', { id: 'alarm-list', class: 'alarm-list' });
    this.node = el('section', { class: 'panel right alarms' }, [
      el('h2', {}, [this.title, ' ', this.count, el('span', { class: 'list-modes', role: 'group' }, Object.values(this.toggles))]),
      this.head,
      this.body,
    ]);
    this.body.addEventListener('click', (event) => {
      if (!(event.target instanceof Element) || event.target.closest('.incident-detail')) return; // the detail's own clicks
      const row = event.target.closest('li[data-alarm], li[data-incident]');
      if (!(row instanceof HTMLElement)) return;
      if (row.dataset.alarm) this.onSelect(Number(row.dataset.alarm));
      else this.toggleIncident(Number(row.dataset.incident));
    });
    this.body.addEventListener('keydown', (event) => { // Enter on a focused row: as a click
      if (event.key !== 'Enter' || !(event.target instanceof HTMLElement) || !event.target.matches('li[data-alarm], li[data-incident]')) return;
      if (event.target.closest('.incident-detail') && !event.target.dataset.alarm) return;
      event.preventDefault();
      event.target.click();
    });
    state.on('incidents', ({ changed }) => {
      if (this.selectedIncident !== null && changed.includes(this.selectedIncident)) {
        this.detail?.refresh();
        const incident = state.incidents.get(this.selectedIncident);
        if (incident) this.frame?.update(incident);
      }
      if (this.mode === 'incidents') this.invalidate();
    });
    state.on('alarms', ({ events }) => {
      const open = this.selectedIncident !== null ? state.incidents.get(this.selectedIncident) : undefined;
      if (open && events.some((e) => open.alarms.includes(e.alarm.id))) this.detail?.refresh();
    });
    state.on('hello', () => this.invalidate()); // the role decides the actions
    setInterval(() => this.tickAges(), 1000);
    parent.append(this.node);
    this.pending = false;
    this.setMode(mode);
  }

  /** @param {ListMode} mode */
  setMode(mode) {
    this.mode = mode;
    this.node.dataset.mode = mode;
    for (const [name, b] of Object.entries(this.toggles)) b.setAttribute('aria-pressed', String(name === mode));
    setText(this.title, mode === 'incidents' ? w('incidents') : t('alarms'));
    const words = mode === 'incidents' ? [t('level'), w('incident'), w('age'), t('state')] : [t('level'), `${t('asset')} · ${t('rule')}`, t('since'), t('state')];
    this.head.replaceChildren(...words.map((x) => el('span', {}, x)));
    this.body.replaceChildren();
    this.incidentRows.clear();
    this.render();
  }

  invalidate() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.render();
    });
  }

  /** @param {number | null} alarmId */
  select(alarmId) {
    this.selected = alarmId;
    this.invalidate();
  }

  /** Expand an incident (and frame it), or fold it when it is the one expanded.
   * @param {number} id */
  toggleIncident(id) {
    this.selectIncident(this.selectedIncident === id ? null : id);
  }

  /** @param {number | null} id */
  selectIncident(id) {
    this.detail?.close();
    this.detail = null;
    this.selectedIncident = id;
    const incident = id !== null ? this.state.incidents.get(id) : undefined;
    if (incident && id !== null) {
      this.detail = new IncidentDetail(this.state, id, { onAlarm: (alarmId) => this.onSelect(alarmId), onActed: () => this.invalidate() });
      this.frame?.show(incident);
    } else {
      this.selectedIncident = null;
      this.frame?.hide();
    }
    this.render();
  }

  render() {
    if (this.mode === 'incidents') this.renderIncidents();
    else this.renderAlarms();
  }

  renderAlarms() {
    const alarms = this.state.sortedAlarms();
    setText(this.count, alarms.length);
    if (!alarms.length) {
      this.body.replaceChildren(el('li', { class: 'empty' }, t('noAlarms')));
      return;
    }
    const rows = alarms.slice(0, MAX_ROWS).map((a) => el('li', {
      class: `alarm level-${a.level}${a.id === this.selected ? ' selected' : ''}${a.overdue ? ' overdue' : ''}`,
      dataset: { alarm: a.id, asset: a.asset, level: a.level, state: a.state },
      tabindex: 0,
    }, [
      el('span', { class: 'chip', style: { background: LEVEL_COLOURS[a.level], color: LEVEL_INK[a.level] } }, levelName(this.state, a.level)),
      el('span', { class: 'asset' }, [el('b', {}, a.asset), el('small', { class: 'domain' }, domainLabel(this.state, a.domain)),
        el('span', { class: 'rule' }, ruleTitle(a))]),
      el('span', { class: 'since' }, clock(a.since)),
      el('span', { class: `state state-${a.state}` }, [stateName(a.state), a.overdue ? el('b', { class: 'overdue-flag' }, ` ${t('overdue')}`) : null]),
    ]));
    if (alarms.length > MAX_ROWS) rows.push(el('li', { class: 'empty' }, `+${alarms.length - MAX_ROWS} ${t('more')}`));
    this.body.replaceChildren(...rows);
  }

  renderIncidents() {
    const incidents = this.state.sortedIncidents();
    setText(this.count, incidents.length);
    if (this.selectedIncident !== null && !this.state.incidents.has(this.selectedIncident)) this.selectIncident(null); // closed
    /** @type {HTMLLIElement[]} */
    const wanted = [];
    const shown = incidents.slice(0, MAX_ROWS);
    const keep = new Set(shown.map((i) => i.id));
    for (const id of this.incidentRows.keys()) if (!keep.has(id)) this.incidentRows.delete(id);
    for (const i of shown) {
      let row = this.incidentRows.get(i.id);
      if (!row) {
        row = el('li', { tabindex: 0 });
        this.incidentRows.set(i.id, row);
      }
      this.fillIncident(row, i);
      wanted.push(row);
      if (i.id === this.selectedIncident && this.detail) {
        this.detail.update(i);
        wanted.push(this.detail.node);
      }
    }
    if (!incidents.length) wanted.push(el('li', { class: 'empty' }, w('noIncidents')));
    else if (incidents.length > MAX_ROWS) wanted.push(el('li', { class: 'empty' }, `+${incidents.length - MAX_ROWS} ${t('more')}`));
    // Move only what is out of place: moving the expanded detail would drop a note's focus.
    wanted.forEach((node, k) => {
      if (this.body.children[k] !== node) this.body.insertBefore(node, this.body.children[k] || null);
    });
    while (this.body.children.length > wanted.length) this.body.lastElementChild?.remove();
  }

  /** @param {HTMLLIElement} row @param {IncidentSummary} i */
  fillIncident(row, i) {
    const overdue = i.alarms.some((id) => this.state.alarms.get(id)?.overdue);
    const escalated = i.escalations?.length ? i.escalations[i.escalations.length - 1] : null;
    const level = i.level;
    const title = (lang === 'zh-CN' && i.title_zh) || i.title;
    const n = i.alarms.length;
    const unit = i.dispatched_to || i.owner;
    // a wall runs for weeks: a row whose words did not change is left as it is (its age
    // runs in tickAges)
    const key = [level, i.state, i.crew, n, i.escalations?.length, overdue, title, unit, i.id === this.selectedIncident, this.state.hello?.levels ? 1 : 0].join('|');
    if (row.dataset.key === key) return;
    row.className = `incident level-${level}${i.id === this.selectedIncident ? ' selected' : ''}${overdue || escalated ? ' overdue' : ''}`;
    Object.assign(row.dataset, { key, incident: String(i.id), level: String(level), state: i.state, domains: i.domains.join(','),
      alarms: String(n), escalations: String(i.escalations?.length || 0), opened: String(i.opened) });
    row.replaceChildren(
      el('span', { class: 'chip', style: { background: LEVEL_COLOURS[level], color: LEVEL_INK[level] } }, levelName(this.state, level)),
      el('span', { class: 'what' }, [
        el('b', { class: 'incident-title' }, title),
        el('small', { class: 'incident-meta' }, [
          el('span', { class: 'alarm-count' }, n === 1 ? w('oneAlarm') : w('nAlarms', { n })),
          unit ? el('span', { class: 'owner', title: t('owner') }, ` · ${unit}`) : null,
        ]),
      ]),
      el('span', { class: 'age' }, age(this.state.time - i.opened)),
      el('span', { class: `state inc-state-${i.state}` }, [
        w(`inc_${i.state}`),
        i.crew ? el('small', { class: 'crew' }, w(`crew_${i.crew}`)) : null,
        escalated ? el('b', { class: 'esc-flag', title: escalated.summary }, `${w('escalated')} ${i.escalations.length > 1 ? `×${i.escalations.length}` : ''}`) : null,
        escalated ? el('small', { class: 'esc-to' }, w('escalatedTo', { to: (lang === 'zh-CN' && escalated.to_zh) || escalated.to })) : null,
        overdue ? el('b', { class: 'overdue-flag' }, t('overdue')) : null,
      ]),
    );
  }

  /** The ages run with the twin's clock, between the changes that re-render the rows. */
  tickAges() {
    if (this.mode !== 'incidents') return;
    for (const row of this.incidentRows.values()) {
      const node = row.querySelector('.age');
      if (node) setText(node, age(this.state.time - Number(row.dataset.opened)));
    }
  }
}
