// Cumulative timings the debug hook reports (bench/viewer.py reads them): each delta's
// apply (decode, scatter into the state, repaint of the rows it changed, panels) and
// each frame's render call. Totals only: a reader takes differences, nothing is kept
// per event, so the page never grows from them.
export const perfStats = {
  deltaApply: { n: 0, ms: 0, max: 0 },
  render: { n: 0, ms: 0, max: 0 },
};

/** @param {{n: number, ms: number, max: number}} entry @param {number} ms */
export function account(entry, ms) {
  entry.n += 1;
  entry.ms += ms;
  if (ms > entry.max) entry.max = ms;
}
