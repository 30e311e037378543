// The mirror of the server's state (twin/serving/client.py's Mirror is the reference): the
// schema from Hello, one typed array per subscribed field viewing the snapshot's
// buffer, deltas scattered into them, the open alarms and the open incidents.
import { setClock } from './i18n.js';
import { arrayView } from './wire.js';

/** @typedef {import('./types').Frame} Frame */
/** @typedef {import('./wire.js').Column} Column */
/** @typedef {import('./protocol.generated.js').Hello} Hello */
/** @typedef {import('./protocol.generated.js').DomainInfo} DomainInfo */
/** @typedef {import('./protocol.generated.js').FieldInfo} FieldInfo */
/** @typedef {import('./protocol.generated.js').AlarmSummary} AlarmSummary */
/** @typedef {import('./protocol.generated.js').AlarmEventInfo} AlarmEventInfo */
/** @typedef {import('./protocol.generated.js').ReplayState} ReplayState */
/** @typedef {import('./protocol.generated.js').Result} Result */
/** @typedef {import('./protocol.generated.js').Error} ErrorMessage */
/** @typedef {import('./protocol.generated.js').Camera} Camera */
/** @typedef {import('./protocol.generated.js').ExerciseMessage} ExerciseMessage */
/** @typedef {import('./protocol.generated.js').IncidentSummary} IncidentSummary */
/** A domain of the Hello, with its row index and each row's kind.
 * @typedef {{info: DomainInfo, ids: string[], index: Map<string, number>, kind: Column, fields: Map<string, FieldInfo>}} Domain */
/** What each kind of listener is given.
 * @typedef {{
 *   hello: Hello,
 *   state: {snapshot: boolean, changed: Record<string, Record<string, Column>> | null},
 *   alarms: {snapshot: boolean, events: AlarmEventInfo[]},
 *   incidents: {snapshot: boolean, changed: number[]},
 *   result: Result, error: ErrorMessage, replay: ReplayState, camera: Camera, message: ExerciseMessage,
 * }} StateEvents */

export class TwinState {
  constructor() {
    /** @type {Hello | null} */
    this.hello = null;
    /** @type {Map<string, Domain>} */
    this.domains = new Map();
    /** @type {Map<string, Map<string, Column>>} domain -> field -> its column */
    this.tables = new Map();
    /** @type {Map<number, AlarmSummary>} the open alarms by id */
    this.alarms = new Map();
    /** @type {Map<number, IncidentSummary>} the open incidents by id (a closed one leaves) */
    this.incidents = new Map();
    this.seq = -1;
    this.time = 0;
    /** @type {Set<string>} "domain.field" of the fields the server marks stale */
    this.stale = new Set();
    this.counts = { snapshots: 0, deltas: 0, events: 0, gaps: 0 };
    /** @type {ReplayState | null} the last ReplayState of a replaying server, else null */
    this.replay = null;
    /** @type {{[K in keyof StateEvents]: Array<(payload: StateEvents[K]) => void>}} */
    this.listeners = { hello: [], state: [], alarms: [], incidents: [], result: [], error: [], replay: [], camera: [], message: [] };
  }

  /** @template {keyof StateEvents} K @param {K} kind @param {(payload: StateEvents[K]) => void} fn */
  on(kind, fn) {
    this.listeners[kind].push(fn);
  }

  /** @template {keyof StateEvents} K @param {K} kind @param {StateEvents[K]} payload */
  emit(kind, payload) {
    for (const fn of this.listeners[kind]) fn(payload);
  }

  /** Apply one decoded frame; returns false when a delta does not follow our seq.
   * @param {Frame} frame @returns {boolean} */
  apply(frame) {
    switch (frame.name) {
      case 'Hello': return this.applyHello(frame);
      case 'Snapshot': return this.applySnapshot(frame);
      case 'Delta': return this.applyDelta(frame);
      case 'Result': this.emit('result', frame.header); return true;
      case 'Error': this.emit('error', frame.header); return true;
      case 'ReplayState': this.replay = frame.header; this.emit('replay', frame.header); return true;
      case 'Camera': this.emit('camera', frame.header); return true;
      case 'ExerciseMessage': this.emit('message', frame.header); return true;
      default: return true;
    }
  }

  /** @param {Extract<Frame, {name: 'Hello'}>} frame */
  applyHello(frame) {
    const h = frame.header;
    this.hello = h;
    setClock(h.absolute_clock, h.timezone);  // before any listener shows a time
    if (h.mode !== 'replay') this.replay = null;
    this.domains.clear();
    for (const d of h.domains) {
      const index = new Map();
      d.ids.forEach((id, row) => index.set(id, row));
      this.domains.set(d.name, {
        info: d, ids: d.ids, index, kind: arrayView(frame, d.kind),
        fields: new Map(d.fields.map((f) => [f.name, f])),
      });
    }
    this.emit('hello', h);
    return true;
  }

  /** @param {Extract<Frame, {name: 'Snapshot'}>} frame */
  applySnapshot(frame) {
    const h = frame.header;
    this.tables.clear();
    for (const [domain, fields] of Object.entries(h.domains)) {
      const table = new Map();
      for (const [name, ref] of Object.entries(fields)) table.set(name, arrayView(frame, ref));
      this.tables.set(domain, table);
    }
    this.alarms.clear();
    for (const a of h.alarms) this.alarms.set(a.id, a);
    this.incidents.clear();
    this.takeIncidents(h.incidents);
    this.stale = new Set(h.stale.map(([d, f]) => `${d}.${f}`));
    this.seq = h.seq;
    this.time = h.time;
    this.counts.snapshots += 1;
    this.emit('state', { snapshot: true, changed: null });
    this.emit('alarms', { snapshot: true, events: [] });
    this.emit('incidents', { snapshot: true, changed: [...this.incidents.keys()] });
    return true;
  }

  /** @param {Extract<Frame, {name: 'Delta'}>} frame */
  applyDelta(frame) {
    const h = frame.header;
    if (h.base !== this.seq) {
      this.counts.gaps += 1;
      return false;
    }
    /** @type {Record<string, Record<string, Column>>} domain -> field -> the rows it changed */
    const changed = {};
    for (const [domain, fields] of Object.entries(h.domains)) {
      const table = this.tables.get(domain);
      if (!table) continue;
      /** @type {Record<string, Column>} */
      const rowsByField = {};
      changed[domain] = rowsByField;
      for (const [name, delta] of Object.entries(fields)) {
        const target = table.get(name);
        if (!target) continue;
        const rows = arrayView(frame, delta.rows);
        const values = arrayView(frame, delta.values);
        // values have the column's dtype (the protocol says so): number or bigint alike
        const column = /** @type {Array<number | bigint>} */ (/** @type {unknown} */ (target));
        for (let i = 0; i < rows.length; i++) column[Number(rows[i])] = values[i];
        rowsByField[name] = rows;
      }
    }
    for (const e of h.events) {
      const a = e.alarm;
      if (a.state === 'resolved') this.alarms.delete(a.id);
      else this.alarms.set(a.id, a);
    }
    const incidents = this.takeIncidents(h.incidents);
    this.stale = new Set(h.stale.map(([d, f]) => `${d}.${f}`));
    this.seq = h.seq;
    this.time = h.time;
    this.counts.deltas += 1;
    this.counts.events += h.events.length;
    this.emit('state', { snapshot: false, changed });
    if (h.events.length) this.emit('alarms', { snapshot: false, events: h.events });
    if (incidents.length) this.emit('incidents', { snapshot: false, changed: incidents });
    return true;
  }

  /** Take a frame's incident summaries (absent from a frame of an older server): each
   * replaces the one of its id, a closed one leaves. Returns the ids taken.
   * @param {IncidentSummary[] | undefined} summaries @returns {number[]} */
  takeIncidents(summaries) {
    const ids = [];
    for (const i of summaries || []) {
      if (i.state === 'closed') this.incidents.delete(i.id);
      else this.incidents.set(i.id, i);
      ids.push(i.id);
    }
    return ids;
  }

  /** (domain, row) of an asset id, or null.
   * @param {string} id @returns {{domain: string, row: number} | null} */
  locate(id) {
    for (const [name, d] of this.domains) {
      const row = d.index.get(id);
      if (row !== undefined) return { domain: name, row };
    }
    return null;
  }

  /** The value of a field of a row, as a number (undefined when the field is not held).
   * @param {string} domain @param {string} field @param {number} row @returns {number | undefined} */
  value(domain, field, row) {
    const column = this.tables.get(domain)?.get(field);
    if (!column) return undefined;
    const v = column[row];
    return typeof v === 'bigint' ? Number(v) : v;
  }

  /** Open incidents worst first, as the server orders them: by level, then the longest at
   * it (its deadline is nearest), then by id. */
  sortedIncidents() {
    return [...this.incidents.values()].sort((a, b) => b.level - a.level || a.level_since - b.level_since || a.id - b.id);
  }

  /** Open alarms, worst first, then newest first. */
  sortedAlarms() {
    return [...this.alarms.values()].sort((a, b) => b.level - a.level || b.since - a.since || b.id - a.id);
  }
}
