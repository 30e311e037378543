// The alarm list: level (colour and name), asset, domain, rule, since, state; worst
// and newest first. One click listener for the whole list (rows are replaced, never
// accumulated), re-rendered at most once per animation frame.
import { el } from './dom.js';
import { clock, stateName, t } from '../i18n.js';
import { LEVEL_COLOURS, LEVEL_INK } from '../levels.js';
import { domainLabel, levelName, ruleTitle } from './labels.js';

const MAX_ROWS = 40;

export class AlarmList {
  /** @param {HTMLElement} parent @param {import('../state.js').TwinState} state @param {{onSelect: (alarmId: number) => void}} handlers */
  constructor(parent, state, { onSelect }) {
    this.state = state;
    this.onSelect = onSelect;
    this.selected = null;
    this.count = el('span', { class: 'count' });
    this.body = el('ol', { id: 'alarm-list', class: 'alarm-list' });
    this.node = el('section', { class: 'panel right alarms' }, [
      el('h2', {}, [t('alarms'), ' ', this.count]),
      el('div', { class: 'alarm-head' }, [t('level'), `${t('asset')} · ${t('rule')}`, t('since'), t('state')].map((w) => el('span', {}, w))),
      this.body,
    ]);
    this.body.addEventListener('click', (event) => {
      const row = event.target instanceof Element ? event.target.closest('li[data-alarm]') : null;
      if (row instanceof HTMLElement) this.onSelect(Number(row.dataset.alarm));
    });
    parent.append(this.node);
    this.pending = false;
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

  render() {
    const alarms = this.state.sortedAlarms();
    this.count.textContent = String(alarms.length);
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
}
