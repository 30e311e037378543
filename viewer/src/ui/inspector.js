// The inspector: one asset's identity, its open alarms with the operator's actions
// (sensor health's among them), the history chart of the field chosen (its severity
// field at first; a click on a live row charts that one) over the window chosen, its
// live fields with units (a field whose sensors are all offline marked stale), its
// attributes and sensors. Built once per selection; each frame only sets text, keeps
// the values for the chart's live window and, at most once a second, redraws it.
import { el, setText } from './dom.js';
import { clock, stateName, t } from '../i18n.js';
import { LEVEL_COLOURS, LEVEL_INK, LEVEL_RISK_THRESHOLDS } from '../levels.js';
import { fetchJson } from '../params.js';
import { Trail, WINDOWS, alarmRises, fetchHistory, fromAnswer, fromTrail } from '../history.js';
import { HistoryChart } from './historyChart.js';
import { domainLabel, fieldLabel, formatValue, levelName, ruleTitle } from './labels.js';
import { ALARM_ACTIONS, STALE_ROWS_FIELD } from '../protocol.generated.js';

/** @typedef {import('../state.js').TwinState} TwinState */
/** @typedef {import('../state.js').Domain} Domain */
/** @typedef {import('../protocol.generated.js').AlarmSummary} AlarmSummary */
/** @typedef {import('../protocol.generated.js').Result} Result */
/** @typedef {import('../protocol.generated.js').AssetInfo} AssetInfo */
/** @typedef {import('../protocol.generated.js').SeriesAnswer} HistoryAnswer */
/** @typedef {'acknowledge' | 'dispatch' | 'resolve'} ActionName */
/** @typedef {{field: string, unit: string, value: HTMLElement, row: HTMLElement, trail: Trail}} LiveRow */

const ROLES = ['viewer', 'operator', 'director', 'admin'];
/** @type {Record<ActionName, string[]>} */
const ALLOWED_FROM = { acknowledge: ['raised'], dispatch: ['acknowledged', 'dispatched'], resolve: ['acknowledged', 'dispatched'] };
/** seconds of wall time between two questions to the history API, per window */
const REFRESH = { '1h': 10, '24h': 60, '7d': 300 };
/** the chart is redrawn at most this often (ms): a wall needs no more */
const REDRAW_MS = 1000;
/** the window a new selection shows: the last one chosen on this screen */
let chosenWindow = /** @type {keyof typeof WINDOWS} */ ('1h');

/** The field a domain is coloured by (its style's, else risk), which carries the levels.
 * @param {Domain} d @returns {string | null} */
function severityField(d) {
  const preferred = d.info.style?.colour_field;
  return preferred && d.fields.has(preferred) ? preferred : d.fields.has('risk') ? 'risk' : null;
}

export class Inspector {
  /**
   * @param {HTMLElement} parent @param {TwinState} state
   * @param {{onAction: (alarm: number, action: ActionName, note: string) => Promise<{ok: boolean, error: string}>, onClose?: () => void}} handlers
   */
  constructor(parent, state, { onAction, onClose }) {
    this.state = state;
    this.onAction = onAction;
    this.onClose = onClose;
    this.node = el('section', { id: 'inspector', class: 'panel inspector', hidden: true });
    parent.append(this.node);
    /** @type {{id: string, domain: string, row: number} | null} */
    this.asset = null;
    /** @type {LiveRow[]} */
    this.rows = [];
    this.alarmBox = el('div', { class: 'asset-alarms' });
    this.attributes = el('dl', { class: 'attributes' });
    this.alarmKey = '';
    this.lastTime = -1;
    this.rowStale = false; // the stream's stale mark of the asset shown
    /** @type {Set<string>} its fields whose every sensor is offline (from /api/assets) */
    this.offlineFields = new Set();
    /** @type {AssetInfo['sensors']} the asset's sensors (from /api/assets) */
    this.sensors = [];
    /** @type {HistoryChart | null} */
    this.chart = null;
    /** the field charted, and what the history API last said of it */
    this.charted = '';
    /** @type {HistoryAnswer | null} */
    this.answer = null;
    this.askedAt = -Infinity; // performance.now() of the last question to the API
    this.asking = 0; // the number of the question in flight (answers to older ones are dropped)
    this.drawnAt = -Infinity;
    this.message = el('div', { class: 'action-message', role: 'status' });
    this.note = el('input', { type: 'text', class: 'note', placeholder: t('note'), maxlength: 500 });
  }

  get open() {
    return this.asset !== null;
  }

  close() {
    this.asset = null;
    this.node.hidden = true;
    this.node.replaceChildren();
    this.rows = [];
    this.chart?.dispose();
    this.chart = null;
    this.onClose?.();
  }

  /** @param {string} assetId */
  async show(assetId) {
    const where = this.state.locate(assetId);
    const d = where && this.state.domains.get(where.domain);
    if (!where || !d) return;
    this.asset = { id: assetId, ...where };
    this.lastTime = -1;
    const kind = d.info.kinds[Number(d.kind[where.row])];
    this.alarmBox = el('div', { class: 'asset-alarms' });
    this.alarmKey = '';
    this.rows = [];
    const live = el('table', { class: 'live' });
    for (const f of d.info.fields) {
      if (f.attribute || !this.state.tables.get(where.domain)?.has(f.name)) continue;
      const value = el('td', { class: 'value' });
      const row = el('tr', {
        dataset: { field: f.name }, tabindex: 0, role: 'button', title: t('chartThis'),
        onclick: () => this.chartField(f.name), onkeydown: (/** @type {KeyboardEvent} */ e) => { if (e.key === 'Enter') this.chartField(f.name); },
      }, [el('th', {}, fieldLabel(this.state, where.domain, f.name)), value]);
      this.rows.push({ field: f.name, unit: f.unit, value, row, trail: new Trail() });
      live.append(row);
    }
    this.attributes = el('dl', { class: 'attributes' });
    this.rowStale = Boolean(this.state.value(where.domain, STALE_ROWS_FIELD, where.row));
    this.offlineFields = new Set();
    this.sensors = [];
    this.message.textContent = '';
    this.chart?.dispose();
    this.chart = new HistoryChart({
      windows: Object.keys(WINDOWS), window: chosenWindow,
      onWindow: (w) => { chosenWindow = /** @type {keyof typeof WINDOWS} */ (w); this.askHistory(true); },
    });
    const first = severityField(d);
    this.charted = first && this.rows.some((r) => r.field === first) ? first : this.rows[0]?.field ?? '';
    this.node.replaceChildren(
      el('div', { class: 'inspector-head' }, [
        el('h2', { id: 'inspector-title' }, assetId),
        el('button', { class: 'close', onclick: () => this.close(), 'aria-label': t('close') }, '✕'),
      ]),
      el('div', { class: 'meta' }, `${domainLabel(this.state, where.domain)} · ${kind}`),
      this.alarmBox,
      el('h3', {}, t('history')), this.chart.node,
      el('h3', {}, t('live')), live,
      el('h3', {}, t('attributes')), this.attributes,
    );
    this.node.hidden = false;
    this.chartField(this.charted);
    this.update(true);
    await this.loadInfo();
  }

  /** Chart `field` of the asset shown: its row is marked, the history asked for.
   * @param {string} field */
  chartField(field) {
    if (!this.asset || !this.chart) return;
    this.charted = field;
    for (const r of this.rows) {
      r.row.classList.toggle('charted', r.field === field);
      r.row.setAttribute('aria-pressed', String(r.field === field));
    }
    const unit = this.rows.find((r) => r.field === field)?.unit ?? '';
    const label = fieldLabel(this.state, this.asset.domain, field);
    this.chart.setTitle(unit && unit !== '1' && unit !== '-' ? `${label} (${unit})` : label);
    this.askHistory(true);
  }

  /** Ask the history API for the charted field over the window (an answer that comes
   * after the selection moved on is dropped), then draw.
   * @param {boolean} [anew] the field or window changed: the last answer no longer shows */
  async askHistory(anew = false) {
    if (!this.asset || !this.chart || !this.charted) return;
    const question = ++this.asking;
    const { id, domain } = this.asset;
    const field = this.charted;
    const span = WINDOWS[chosenWindow];
    const now = this.state.time;
    this.askedAt = performance.now();
    if (anew) {
      this.answer = null;
      this.draw(true);
    }
    const sensor = this.sensors.find((s) => s.field === field && !s.stale)?.id ?? this.sensors.find((s) => s.field === field)?.id ?? null;
    const answer = await fetchHistory({ asset: id, field, sensor }, now - span, now);
    if (question !== this.asking || this.asset?.id !== id || this.asset.domain !== domain) return;
    this.answer = answer;
    this.draw(true);
  }

  /** Draw the chart from the API's answer and the live values since, or (no answer:
   * a field nobody stores, a server without a history) from the live window alone.
   * @param {boolean} [now] draw even if the last drawing is under REDRAW_MS old */
  draw(now = false) {
    if (!this.asset || !this.chart || !this.charted) return;
    const wall = performance.now();
    if (!now && wall - this.drawnAt < REDRAW_MS) return;
    this.drawnAt = wall;
    const { domain, id } = this.asset;
    const trail = this.rows.find((r) => r.field === this.charted)?.trail ?? null;
    const to = this.state.time;
    if (this.answer) {
      this.chart.draw(fromAnswer(this.answer, trail, to));
      return;
    }
    const d = this.state.domains.get(domain);
    const levels = d && severityField(d) === this.charted;
    const thresholds = levels ? LEVEL_RISK_THRESHOLDS.map((value, i) => ({ level: i + 1, value })) : [];
    const alarms = alarmRises([...this.state.alarms.values()].filter((a) => a.asset === id));
    const unit = this.rows.find((r) => r.field === this.charted)?.unit ?? '';
    if (trail) this.chart.draw(fromTrail(trail, to - WINDOWS[chosenWindow], to, unit, thresholds, alarms));
  }

  /** Owner, attributes and sensors from /api/assets (again when the stale mark moves). */
  async loadInfo() {
    if (!this.asset) return;
    const { id: assetId, domain } = this.asset;
    const d = this.state.domains.get(domain);
    try {
      /** @type {AssetInfo} */
      const info = await fetchJson(`/api/assets/${encodeURIComponent(assetId)}`);
      if (this.asset?.id !== assetId) return;
      const fresh = new Set(info.sensors.filter((s) => !s.stale).map((s) => s.field));
      this.offlineFields = new Set(info.sensors.filter((s) => s.stale && !fresh.has(s.field)).map((s) => s.field));
      this.sensors = info.sensors;
      this.update(true);
      const items = [[t('owner'), info.owner], ...Object.entries(info.attributes).map(([k, v]) => {
        const spec = d?.fields.get(k);
        return [fieldLabel(this.state, domain, k), formatValue(v, spec?.unit)];
      })];
      if (info.sensors.length) items.push([t('sensors'), info.sensors.map((s) => `${s.id} (${s.field}${s.stale ? `, ${t('stale')}` : ''})`).join(', ')]);
      this.attributes.replaceChildren(...items.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
    } catch (err) {
      this.attributes.replaceChildren(el('dd', { class: 'error' }, String(err instanceof Error ? err.message : err)));
    }
  }

  /** Refresh values (and alarm actions when the asset's alarms changed). */
  update(force = false) {
    if (!this.asset) return;
    const { domain, row, id } = this.asset;
    const advanced = this.state.time !== this.lastTime;
    const rowStale = Boolean(this.state.value(domain, STALE_ROWS_FIELD, row));
    if (rowStale !== this.rowStale) {
      this.rowStale = rowStale;
      this.loadInfo(); // which fields lost their sensors: the server knows per sensor
    }
    for (const r of this.rows) {
      const v = this.state.value(domain, r.field, row);
      const stale = this.state.stale.has(`${domain}.${r.field}`) || (rowStale && this.offlineFields.has(r.field));
      setText(r.value, formatValue(v, r.unit) + (stale ? ` (${t('stale')})` : ''));
      if (advanced && v !== undefined) r.trail.push(this.state.time, v);
    }
    this.lastTime = this.state.time;
    // again now and then: the stored history grows (and a server that had none may have some)
    if (performance.now() - this.askedAt > 1000 * REFRESH[chosenWindow]) this.askHistory();
    else if (advanced || force) this.draw(force);
    const alarms = [...this.state.alarms.values()].filter((a) => a.asset === id);
    const key = alarms.map((a) => `${a.id}:${a.level}:${a.state}:${a.overdue}`).join('|');
    if (key !== this.alarmKey || force) {
      this.alarmKey = key;
      this.renderAlarms(alarms);
    }
  }

  /** For tests and diagnostics: the chart's field and what it shows. */
  chartInfo() {
    const info = this.chart?.info();
    return info ? { field: this.charted, asset: this.asset?.id ?? null, ...info } : null;
  }

  /** @param {AlarmSummary[]} alarms */
  renderAlarms(alarms) {
    const role = this.state.hello?.role || 'viewer';
    const mayAct = ROLES.indexOf(role) >= ROLES.indexOf('operator');
    const blocks = alarms.map((a) => {
      const buttons = ALARM_ACTIONS.map((action) => {
        const stateOk = ALLOWED_FROM[action].includes(a.state);
        const reason = !mayAct ? `${t(action)}: ${t('needOperator')} ${role}` : !stateOk ? `${t(action)}: ${t('wrongState')} ${stateName(a.state)}` : '';
        return el('button', {
          class: `action action-${action}`, disabled: Boolean(reason), title: reason || undefined, dataset: { action, alarm: a.id },
          onclick: () => this.act(a.id, action),
        }, t(action));
      });
      const reasons = !mayAct ? el('p', { class: 'reason' }, `${t('needOperator')} ${role}`) : null;
      return el('div', { class: 'asset-alarm', dataset: { alarm: a.id, state: a.state } }, [
        el('div', { class: 'alarm-line' }, [
          el('span', { class: 'chip', style: { background: LEVEL_COLOURS[a.level], color: LEVEL_INK[a.level] } }, levelName(this.state, a.level)),
          el('span', { class: 'rule' }, ruleTitle(a)),
          el('span', { class: `state state-${a.state}` }, stateName(a.state)),
          el('span', { class: 'since' }, clock(a.since)),
        ]),
        el('div', { class: 'actions' }, buttons),
        reasons,
      ]);
    });
    if (alarms.length) blocks.push(this.note, this.message);
    this.alarmBox.replaceChildren(...blocks);
  }

  /** @param {number} alarmId @param {ActionName} action */
  async act(alarmId, action) {
    this.message.textContent = '…';
    const result = await this.onAction(alarmId, action, this.note.value);
    this.message.textContent = result.ok ? `${t(action)}: ${t('done')}` : `${t(action)}: ${t('failed')} — ${result.error}`;
    this.message.className = `action-message ${result.ok ? 'ok' : 'error'}`;
    if (result.ok) this.note.value = '';
  }
}
