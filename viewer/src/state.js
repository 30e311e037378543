// The mirror of the server's state (twin/serving/client.py's Mirror is the reference): the
// schema from Hello, one typed array per subscribed field viewing the snapshot's
// buffer, deltas scattered into them, and the open alarms.
import { setClock } from './i18n.js';
import { arrayView } from './wire.js';

export class TwinState {
  constructor() {
    this.hello = null;
    this.domains = new Map(); // name -> {info, ids, index: Map(id -> row), kind, fields: Map}
    this.tables = new Map(); // domain -> Map(field -> typed array)
    this.alarms = new Map(); // id -> alarm record
    this.seq = -1;
    this.time = 0;
    this.stale = new Set();
    this.counts = { snapshots: 0, deltas: 0, events: 0, gaps: 0 };
    this.replay = null; // the last ReplayState of a replaying server, else null
    this.listeners = { hello: [], state: [], alarms: [], result: [], error: [], replay: [], camera: [] };
  }

  on(kind, fn) {
    this.listeners[kind].push(fn);
  }

  emit(kind, payload) {
    for (const fn of this.listeners[kind]) fn(payload);
  }

  /** Apply one decoded frame; returns false when a delta does not follow our seq. */
  apply(frame) {
    const h = frame.header;
    switch (frame.name) {
      case 'Hello': return this.applyHello(frame);
      case 'Snapshot': return this.applySnapshot(frame);
      case 'Delta': return this.applyDelta(frame);
      case 'Result': this.emit('result', h); return true;
      case 'Error': this.emit('error', h); return true;
      case 'ReplayState': this.replay = h; this.emit('replay', h); return true;
      case 'Camera': this.emit('camera', h); return true;
      default: return true;
    }
  }

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
    this.stale = new Set(h.stale.map(([d, f]) => `${d}.${f}`));
    this.seq = h.seq;
    this.time = h.time;
    this.counts.snapshots += 1;
    this.emit('state', { snapshot: true, changed: null });
    this.emit('alarms', { snapshot: true, events: [] });
    return true;
  }

  applyDelta(frame) {
    const h = frame.header;
    if (h.base !== this.seq) {
      this.counts.gaps += 1;
      return false;
    }
    const changed = {};
    for (const [domain, fields] of Object.entries(h.domains)) {
      const table = this.tables.get(domain);
      if (!table) continue;
      const rowsByField = (changed[domain] = {});
      for (const [name, delta] of Object.entries(fields)) {
        const target = table.get(name);
        if (!target) continue;
        const rows = arrayView(frame, delta.rows);
        const values = arrayView(frame, delta.values);
        for (let i = 0; i < rows.length; i++) target[rows[i]] = values[i];
        rowsByField[name] = rows;
      }
    }
    for (const e of h.events) {
      const a = e.alarm;
      if (a.state === 'resolved') this.alarms.delete(a.id);
      else this.alarms.set(a.id, a);
    }
    this.stale = new Set(h.stale.map(([d, f]) => `${d}.${f}`));
    this.seq = h.seq;
    this.time = h.time;
    this.counts.deltas += 1;
    this.counts.events += h.events.length;
    this.emit('state', { snapshot: false, changed });
    if (h.events.length) this.emit('alarms', { snapshot: false, events: h.events });
    return true;
  }

  /** (domain, row) of an asset id, or null. */
  locate(id) {
    for (const [name, d] of this.domains) {
      const row = d.index.get(id);
      if (row !== undefined) return { domain: name, row };
    }
    return null;
  }

  value(domain, field, row) {
    const column = this.tables.get(domain)?.get(field);
    if (!column) return undefined;
    const v = column[row];
    return typeof v === 'bigint' ? Number(v) : v;
  }

  /** Open alarms, worst first, then newest first. */
  sortedAlarms() {
    return [...this.alarms.values()].sort((a, b) => b.level - a.level || b.since - a.since || b.id - a.id);
  }
}
