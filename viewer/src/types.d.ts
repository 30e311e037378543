// Types the viewer declares itself. The wire messages' types are generated from the
// Python declarations (protocol.generated.d.ts, scripts/gen-protocol-dts); these are
// what the viewer builds from them, and the REST answers no Python Struct declares yet.
import type { ServerMessages } from './protocol.generated.js';

/** One decoded server frame: the message by name, and the buffer its arrays view. */
export type Frame = {
  [N in keyof ServerMessages]: { name: N; header: ServerMessages[N]; buffer: ArrayBuffer; bodyStart: number };
}[keyof ServerMessages];

/** GET /api/assets/{id}: what the inspector reads of it. */
export interface AssetInfo {
  id: string;
  owner: string;
  attributes: Record<string, unknown>;
  sensors: Array<{ id: string; field: string; stale: boolean }>;
}

/** Raw points of a history answer: times (epoch seconds, or a simulated clock's) and values. */
export interface HistoryRaw {
  t: number[];
  v: Array<number | null>;
}

/** Buckets of a history answer (at least a minute wide; wider when the window is long). */
export interface HistoryBuckets {
  t: number[];
  min: Array<number | null>;
  mean: Array<number | null>;
  max: Array<number | null>;
  count: number[];
}

/** GET /api/history/assets/{id}?field=&from=&to= and GET /api/history/sensors/{id} (JSON). */
export interface HistoryAnswer {
  series: string;
  unit: string;
  /** which data answered: raw readings, or the per-minute aggregates kept past the raw retention */
  source: 'raw' | 'minutes';
  from: number;
  to: number;
  /** the buckets' width in seconds; null for raw points */
  step: number | null;
  points: HistoryRaw | HistoryBuckets;
  /** level 4 (red) .. 1 (blue) and the value at which it starts */
  thresholds: Array<{ level: number; value: number }>;
  alarms: Array<{ t: number; level: number; id: number }>;
}

/** What the history chart draws: from the history API, or from the frames the viewer holds. */
export interface ChartData {
  /** raw readings or buckets from the API; live: the values this screen saw since the inspector opened */
  source: 'raw' | 'minutes' | 'live';
  from: number;
  to: number;
  unit: string;
  t: number[];
  /** the value (raw, live) or the bucket's mean */
  v: Array<number | null>;
  /** each bucket's min and max (buckets only) */
  min: Array<number | null> | null;
  max: Array<number | null> | null;
  thresholds: Array<{ level: number; value: number }>;
  /** alarm raises and escalations of the asset: time, level */
  alarms: Array<{ t: number; level: number }>;
}
