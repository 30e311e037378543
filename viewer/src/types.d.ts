// Types the viewer declares itself. The wire messages' and REST answers' types are
// generated from the Python declarations (protocol.generated.d.ts,
// scripts/gen-protocol-dts); these are what the viewer builds from them.
import type { ServerMessages } from './protocol.generated.js';

/** One decoded server frame: the message by name, and the buffer its arrays view. */
export type Frame = {
  [N in keyof ServerMessages]: { name: N; header: ServerMessages[N]; buffer: ArrayBuffer; bodyStart: number };
}[keyof ServerMessages];

/** What the history chart draws: from the history API, or from the frames the viewer holds. */
export interface ChartData {
  /** raw readings or buckets from the API; live: the values this screen saw since the inspector opened */
  source: 'raw' | 'minutes' | 'recording' | 'live';
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
  /** a replayed drill's true value of the field (a step function), drawn dashed; null without */
  truth: { t: number[]; v: Array<number | null> } | null;
}
