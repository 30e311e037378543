// The history of one field of one asset, for the inspector's chart: asked of the history
// API (GET /api/history/assets/{id}?field=, else the raw readings of a sensor feeding the
// field, GET /api/history/sensors/{id}), and where the server has none to give (a server
// without a history store, a field nobody stores) the values this screen saw in the
// stream since the inspector opened: its live window. A replaying server answers a
// measured field from its recording, with the drill's truth beside it; a drill served on
// a simulated clock from the run's own store (with its truth while it is recorded).
import { apiUrl } from './params.js';

/** @typedef {import('./protocol.generated.js').SeriesAnswer} HistoryAnswer */
/** @typedef {import('./types').ChartData} ChartData */
/** @typedef {import('./protocol.generated.js').AlarmSummary} AlarmSummary */

/** The windows an operator chooses from, in seconds. */
export const WINDOWS = Object.freeze({ '1h': 3600, '24h': 86400, '7d': 7 * 86400 });

/** Values of one field as the stream brought them: a ring of (time, value), cleared when
 * the clock goes back (a replay's seek), so that a line never doubles back on itself. */
export class Trail {
  /** @param {number} capacity samples kept (the oldest go first) */
  constructor(capacity = 8192) {
    this.times = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
    this.length = 0;
    this.next = 0;
  }

  /** @param {number} time @param {number} value */
  push(time, value) {
    const capacity = this.times.length;
    if (this.length) {
      const last = this.times[(this.next - 1 + capacity) % capacity];
      if (time < last) this.clear();
      else if (time === last) return;
    }
    this.times[this.next] = time;
    this.values[this.next] = value;
    this.next = (this.next + 1) % capacity;
    this.length = Math.min(this.length + 1, capacity);
  }

  clear() {
    this.length = 0;
    this.next = 0;
  }

  /** The samples with from < time <= to, oldest first (NaN values as gaps: null).
   * @param {number} from @param {number} to @returns {{t: number[], v: Array<number | null>}} */
  between(from, to) {
    const capacity = this.times.length;
    const start = (this.next - this.length + capacity) % capacity;
    /** @type {number[]} */
    const t = [];
    /** @type {Array<number | null>} */
    const v = [];
    for (let i = 0; i < this.length; i++) {
      const k = (start + i) % capacity;
      const time = this.times[k];
      if (time <= from || time > to) continue;
      t.push(time);
      v.push(Number.isFinite(this.values[k]) ? this.values[k] : null);
    }
    return { t, v };
  }
}

/** True when a JSON answer has the shape the chart needs (an older or foreign server's
 * answer is treated as no answer, never drawn wrong).
 * @param {any} a @returns {a is HistoryAnswer} */
export function isHistoryAnswer(a) {
  if (!a || typeof a !== 'object' || !a.points || !Array.isArray(a.points.t)) return false;
  const p = a.points;
  // raw points carry v; buckets min, mean and max (whichever data answered: see source)
  const series = Array.isArray(p.v) ? [p.v] : [p.min, p.mean, p.max];
  // the truth, when given, is raw points (a replayed drill's ground truth)
  const truth = a.truth === undefined || (a.truth && Array.isArray(a.truth.t) && Array.isArray(a.truth.v) && a.truth.v.length === a.truth.t.length);
  return series.every((s) => Array.isArray(s) && s.length === p.t.length) && ['raw', 'minutes', 'recording'].includes(a.source)
    && typeof a.from === 'number' && typeof a.to === 'number' && Array.isArray(a.thresholds) && Array.isArray(a.alarms) && truth;
}

/** The truth's step function over the answer's range, its last value held to ``to``
 * (each value holds until the next sample; the recording keeps only news).
 * @param {HistoryAnswer} answer @returns {{t: number[], v: Array<number | null>} | null} */
export function truthOf(answer) {
  const truth = answer.truth;
  if (!truth || !truth.t.length) return null;
  const t = [...truth.t];
  const v = [...(truth.v ?? [])];
  if (t[t.length - 1] < answer.to) {
    t.push(answer.to);
    v.push(v[v.length - 1]);
  }
  return { t, v };
}



/** Ask the history API for ``field`` of ``asset`` over (from, to]: the asset's stored
 * field, else the raw readings of ``sensor`` (one feeding that field), else null.
 * @param {{asset: string, field: string, sensor: string | null}} what
 * @param {number} from @param {number} to
 * @returns {Promise<HistoryAnswer | null>} */
export async function fetchHistory({ asset, field, sensor }, from, to) {
  const range = `from=${Math.floor(from)}&to=${Math.ceil(to)}`;
  const paths = [`/api/history/assets/${encodeURIComponent(asset)}?field=${encodeURIComponent(field)}&${range}`];
  if (sensor) paths.push(`/api/history/sensors/${encodeURIComponent(sensor)}?${range}`);
  for (const path of paths) {
    try {
      const response = await fetch(apiUrl(path), { headers: { Accept: 'application/json' } });
      if (!response.ok) continue;
      const answer = await response.json();
      if (isHistoryAnswer(answer)) return answer;
    } catch { /* disconnected or not JSON: the next path, then the live window */ }
  }
  return null;
}

/** The raises and escalations of an asset's open alarms (each alarm's level history),
 * for a chart the API did not feed.
 * @param {Iterable<AlarmSummary>} alarms the asset's open alarms
 * @returns {Array<{t: number, level: number}>} */
export function alarmRises(alarms) {
  const out = [];
  for (const a of alarms) {
    let previous = 0;
    for (const step of a.history) {
      const level = Number(step.level);
      if (level > previous) out.push({ t: Number(step.time), level });
      previous = level;
    }
  }
  return out.sort((x, y) => x.t - y.t);
}

/** What to draw from an API answer, with the live values newer than it appended (the
 * chart moves on between two questions to the server).
 * @param {HistoryAnswer} answer @param {Trail | null} trail @param {number} now
 * @returns {ChartData} */
export function fromAnswer(answer, trail, now) {
  const p = answer.points;
  const tail = trail ? trail.between(answer.to, now) : { t: [], v: [] };
  // raw points carry v; buckets min, mean and max (isHistoryAnswer checked the lengths)
  const buckets = !Array.isArray(p.v);
  const values = (buckets ? p.mean : p.v) ?? [];
  const pad = () => tail.t.map(() => null);
  return {
    source: answer.source, from: answer.from, to: Math.max(answer.to, now), unit: answer.unit,
    t: [...p.t, ...tail.t], v: [...values, ...tail.v],
    min: buckets ? [...(p.min ?? []), ...pad()] : null,
    max: buckets ? [...(p.max ?? []), ...pad()] : null,
    thresholds: answer.thresholds.map(({ level, value }) => ({ level, value })),
    alarms: answer.alarms.map(({ t, level }) => ({ t, level })),
    truth: truthOf(answer),
  };
}

/** What to draw from the live window alone.
 * @param {Trail} trail @param {number} from @param {number} to @param {string} unit
 * @param {Array<{level: number, value: number}>} thresholds
 * @param {Array<{t: number, level: number}>} alarms
 * @returns {ChartData} */
export function fromTrail(trail, from, to, unit, thresholds, alarms) {
  const { t, v } = trail.between(from, to);
  return { source: 'live', from, to, unit, t, v, min: null, max: null, thresholds, alarms: alarms.filter((a) => a.t > from && a.t <= to), truth: null };
}
