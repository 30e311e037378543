// The inspector: one asset's identity, its open alarms with the operator's actions
// (sensor health's among them), its live fields with units and a sparkline each (a
// field whose sensors are all offline marked stale), its attributes and sensors.
// Built once per selection; each frame only sets text and redraws the sparklines.
import { el, setText } from './dom.js';
import { clock, stateName, t } from '../i18n.js';
import { LEVEL_COLOURS, LEVEL_INK } from '../levels.js';
import { fetchJson } from '../params.js';
import { domainLabel, fieldLabel, formatValue, levelName, ruleTitle } from './labels.js';
import { Sparkline } from './sparkline.js';
import { ALARM_ACTIONS, STALE_ROWS_FIELD } from '../protocol.generated.js';

const ROLES = ['viewer', 'operator', 'director', 'admin'];
const ALLOWED_FROM = { acknowledge: ['raised'], dispatch: ['acknowledged', 'dispatched'], resolve: ['acknowledged', 'dispatched'] };

export class Inspector {
  constructor(parent, state, { onAction, onClose }) {
    this.state = state;
    this.onAction = onAction;
    this.onClose = onClose;
    this.node = el('section', { id: 'inspector', class: 'panel inspector', hidden: true });
    parent.append(this.node);
    this.asset = null;
    this.rows = [];
    this.alarmBox = null;
    this.alarmKey = '';
    this.lastTime = -1;
    this.pending = false;
    this.rowStale = false; // the stream's stale mark of the asset shown
    this.offlineFields = new Set(); // its fields whose every sensor is offline (from /api/assets)
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
    this.onClose?.();
  }

  async show(assetId) {
    const where = this.state.locate(assetId);
    if (!where) return;
    this.asset = { id: assetId, ...where };
    this.lastTime = -1;
    const d = this.state.domains.get(where.domain);
    const kind = d.info.kinds[d.kind[where.row]];
    this.alarmBox = el('div', { class: 'asset-alarms' });
    this.alarmKey = '';
    this.rows = [];
    const live = el('table', { class: 'live' });
    for (const f of d.info.fields) {
      if (f.attribute || !this.state.tables.get(where.domain)?.has(f.name)) continue;
      const value = el('td', { class: 'value' });
      const spark = new Sparkline();
      this.rows.push({ field: f.name, unit: f.unit, value, spark });
      live.append(el('tr', { dataset: { field: f.name } }, [el('th', {}, fieldLabel(this.state, where.domain, f.name)), value, el('td', {}, spark.canvas)]));
    }
    this.attributes = el('dl', { class: 'attributes' });
    this.rowStale = Boolean(this.state.value(where.domain, STALE_ROWS_FIELD, where.row));
    this.offlineFields = new Set();
    this.message.textContent = '';
    this.node.replaceChildren(
      el('div', { class: 'inspector-head' }, [
        el('h2', { id: 'inspector-title' }, assetId),
        el('button', { class: 'close', onclick: () => this.close(), 'aria-label': t('close') }, '✕'),
      ]),
      el('div', { class: 'meta' }, `${domainLabel(this.state, where.domain)} · ${kind}`),
      this.alarmBox,
      el('h3', {}, t('live')), live,
      el('h3', {}, t('attributes')), this.attributes,
    );
    this.node.hidden = false;
    this.update(true);
    await this.loadInfo();
  }

  /** Owner, attributes and sensors from /api/assets (again when the stale mark moves). */
  async loadInfo() {
    const { id: assetId, domain } = this.asset;
    const d = this.state.domains.get(domain);
    try {
      const info = await fetchJson(`/api/assets/${encodeURIComponent(assetId)}`);
      if (this.asset?.id !== assetId) return;
      const fresh = new Set(info.sensors.filter((s) => !s.stale).map((s) => s.field));
      this.offlineFields = new Set(info.sensors.filter((s) => s.stale && !fresh.has(s.field)).map((s) => s.field));
      this.update(true);
      const items = [[t('owner'), info.owner], ...Object.entries(info.attributes).map(([k, v]) => {
        const spec = d.fields.get(k);
        return [fieldLabel(this.state, domain, k), formatValue(v, spec?.unit)];
      })];
      if (info.sensors.length) items.push([t('sensors'), info.sensors.map((s) => `${s.id} (${s.field}${s.stale ? `, ${t('stale')}` : ''})`).join(', ')]);
      this.attributes.replaceChildren(...items.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
    } catch (err) {
      this.attributes.replaceChildren(el('dd', { class: 'error' }, String(err.message || err)));
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
      if (advanced) r.spark.push(v);
    }
    this.lastTime = this.state.time;
    if (advanced || force) this.redrawSparks();
    const alarms = [...this.state.alarms.values()].filter((a) => a.asset === id);
    const key = alarms.map((a) => `${a.id}:${a.level}:${a.state}:${a.overdue}`).join('|');
    if (key !== this.alarmKey || force) {
      this.alarmKey = key;
      this.renderAlarms(alarms);
    }
  }

  redrawSparks() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      for (const r of this.rows) r.spark.draw();
    });
  }

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

  async act(alarmId, action) {
    this.message.textContent = '…';
    const result = await this.onAction(alarmId, action, this.note.value);
    this.message.textContent = result.ok ? `${t(action)}: ${t('done')}` : `${t(action)}: ${t('failed')} — ${result.error}`;
    this.message.className = `action-message ${result.ok ? 'ok' : 'error'}`;
    if (result.ok) this.note.value = '';
  }
}
