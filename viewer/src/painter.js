// Colours every asset from the state: by severity (the level of its domain's risk
// field, or of its worst open alarm, whichever is higher) or, for one chosen domain,
// by a field's value on a ramp. An asset whose measured values are not live (the
// stream's stale mask: some field of it has no online sensor) is grey instead of its
// domain's colour or a ramp colour: never a colour that reads as healthy; an alarm level
// keeps its colour. Only the rows a delta changed are repainted. Vertex
// colours are linear (three.js colour management); the screen shows their sRGB.
import * as THREE from 'three';
import { LEVEL_COLOURS, STALE_COLOUR, levelOfRisk, ramp } from './levels.js';
import { STALE_ROWS_FIELD } from './protocol.generated.js';

/** Colouring by a field of one domain: its value's range on the ramp.
 * @typedef {{domain: string, field: string, unit: string, min: number, max: number}} FieldMode */

/** @param {THREE.ColorRepresentation} css @returns {number[]} */
function rgb255(css) {
  const c = new THREE.Color(css);
  return [Math.round(c.r * 255), Math.round(c.g * 255), Math.round(c.b * 255)];
}

export class Painter {
  /** @param {import('./state.js').TwinState} state @param {Map<string, import('./layers.js').DomainLayer>} layers @param {import('./view3d.js').View3D} view */
  constructor(state, layers, view) {
    this.state = state;
    this.layers = layers; // Map(domain -> DomainLayer)
    this.view = view;
    this.fieldMode = null; // {domain, field, min, max, unit}
    this.alarmLevels = new Map(); // domain -> Int8Array per row
    this.levelRgb = LEVEL_COLOURS.map(rgb255);
    this.staleRgb = rgb255(STALE_COLOUR);
    this.baseRgb = new Map();
    this.tmp = [0, 0, 0];
    this.colour = new THREE.Color();
  }

  /** @param {string} domain @returns {string | null} */
  riskField(domain) {
    const d = this.state.domains.get(domain);
    const preferred = d?.info.style?.colour_field;
    return preferred && d.fields.has(preferred) ? preferred : (d?.fields.has('risk') ? 'risk' : null);
  }

  /** @param {string} domain @returns {number[]} */
  baseColour(domain) {
    let c = this.baseRgb.get(domain);
    if (!c) {
      const style = this.state.domains.get(domain)?.info.style;
      const colour = new THREE.Color(style?.color || '#8090a0');
      colour.multiplyScalar(0.8);
      c = [Math.round(colour.r * 255), Math.round(colour.g * 255), Math.round(colour.b * 255)];
      this.baseRgb.set(domain, c);
    }
    return c;
  }

  /** Severity 0-4 of asset `row` of `domain`.
   * @param {string} domain @param {number} row @returns {number} */
  severity(domain, row) {
    const field = this.riskField(domain);
    const risk = field ? this.state.value(domain, field, row) : NaN;
    const alarm = this.alarmLevels.get(domain)?.[row] || 0;
    return Math.max(levelOfRisk(risk), alarm);
  }

  /** True when some measured field of asset `row` has no online sensor.
   * @param {string} domain @param {number} row */
  isStale(domain, row) {
    return Boolean(this.state.value(domain, STALE_ROWS_FIELD, row));
  }

  /** @param {FieldMode | null} mode */
  setFieldMode(mode) {
    this.fieldMode = mode;
    if (mode && !(Number.isFinite(mode.min) && Number.isFinite(mode.max) && mode.max > mode.min)) {
      const column = this.state.tables.get(mode.domain)?.get(mode.field);
      let lo = Infinity;
      let hi = -Infinity;
      if (column) for (const v of column) { const x = Number(v); if (Number.isFinite(x)) { lo = Math.min(lo, x); hi = Math.max(hi, x); } }
      mode.min = Number.isFinite(lo) ? lo : 0;
      mode.max = hi > lo ? hi : mode.min + 1;
    }
    this.repaintAll();
  }

  /** @param {import('./layers.js').DomainLayer} layer @param {string} domain @param {number} row */
  paintRow(layer, domain, row) {
    const f = this.fieldMode;
    const byField = f && f.domain === domain;
    if (this.isStale(domain, row)) {
      // Not live: grey, unless an alarm level says more (a ramp colour would pass for a measurement).
      const level = byField ? 0 : this.severity(domain, row);
      const c = level ? this.levelRgb[level] : this.staleRgb;
      layer.paint(row, c[0], c[1], c[2]);
      return;
    }
    if (byField) {
      const v = this.state.value(domain, f.field, row);
      ramp(((v ?? NaN) - f.min) / (f.max - f.min), this.tmp);
      const c = this.colour.setRGB(this.tmp[0], this.tmp[1], this.tmp[2], THREE.SRGBColorSpace); // to linear
      layer.paint(row, c.r * 255, c.g * 255, c.b * 255);
      return;
    }
    const level = this.severity(domain, row);
    const c = level ? this.levelRgb[level] : this.baseColour(domain);
    layer.paint(row, c[0], c[1], c[2]);
  }

  repaintAll() {
    this.rebuildAlarmLevels();
    for (const [domain, layer] of this.layers) {
      for (let row = 0; row < layer.ids.length; row++) this.paintRow(layer, domain, row);
      layer.commit();
    }
    this.view.requestRender();
  }

  /** After a delta: repaint the rows whose colouring field or stale mark changed.
   * @param {import('./state.js').StateEvents['state']} change */
  onState({ snapshot, changed }) {
    if (snapshot || !changed) return this.repaintAll();
    for (const [domain, fields] of Object.entries(changed)) {
      const layer = this.layers.get(domain);
      if (!layer) continue;
      const field = this.fieldMode?.domain === domain ? this.fieldMode.field : this.riskField(domain);
      let touched = false;
      for (const rows of [field ? fields[field] : undefined, fields[STALE_ROWS_FIELD]]) {
        if (!rows || !rows.length) continue;
        for (let i = 0; i < rows.length; i++) this.paintRow(layer, domain, Number(rows[i]));
        touched = true;
      }
      if (touched) layer.commit();
    }
    this.view.requestRender();
  }

  /** After alarm events: recompute per-asset alarm levels, repaint what moved. */
  onAlarms() {
    const before = this.alarmLevels;
    this.rebuildAlarmLevels();
    for (const [domain, layer] of this.layers) {
      const now = this.alarmLevels.get(domain);
      const old = before.get(domain);
      let touched = false;
      for (let row = 0; row < now.length; row++) {
        if (now[row] !== (old ? old[row] : 0)) {
          this.paintRow(layer, domain, row);
          touched = true;
        }
      }
      if (touched) layer.commit();
    }
    this.view.requestRender();
  }

  rebuildAlarmLevels() {
    const levels = new Map();
    for (const [domain, d] of this.state.domains) levels.set(domain, new Int8Array(d.ids.length));
    for (const a of this.state.alarms.values()) {
      const d = this.state.domains.get(a.domain);
      const row = d?.index.get(a.asset);
      if (row === undefined) continue;
      const arr = levels.get(a.domain);
      arr[row] = Math.max(arr[row], a.level);
    }
    this.alarmLevels = levels;
  }

  /** Assets per level per domain: {domain: [n0, n1, n2, n3, n4]}. */
  levelCounts() {
    /** @type {Record<string, number[]>} */
    const out = {};
    for (const [domain, layer] of this.layers) {
      const counts = [0, 0, 0, 0, 0];
      for (let row = 0; row < layer.ids.length; row++) counts[this.severity(domain, row)] += 1;
      out[domain] = counts;
    }
    return out;
  }
}
