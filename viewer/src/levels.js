// Severity: 0 none, 1 blue (IV), 2 yellow (III), 3 orange (II), 4 red (I). A risk score
// maps to a level by the one convention of MODELS.md; the server states the thresholds in
// its Hello (level_thresholds), and useLevelThresholds takes them over.
export const LEVEL_RISK_THRESHOLDS = [0.25, 0.5, 0.75, 0.9];

/** @param {unknown} thresholds the Hello's level_thresholds */
export function useLevelThresholds(thresholds) {
  if (Array.isArray(thresholds) && thresholds.length === 4) LEVEL_RISK_THRESHOLDS.splice(0, 4, ...thresholds);
}

// Level colours (index 0 unused: level 0 shows the domain's own colour), the ink that
// reads on each, and the grey of an asset whose values are not live: from the one table
// the reports share (twin/i18n.py, generated into i18n.generated.js).
export { LEVEL_COLOURS, LEVEL_INK, STALE_COLOUR } from './i18n.generated.js';

/** @param {number | undefined} risk @returns {number} */
export function levelOfRisk(risk) {
  if (risk === undefined || !(risk >= LEVEL_RISK_THRESHOLDS[0])) return 0; // NaN too
  let level = 0;
  for (const t of LEVEL_RISK_THRESHOLDS) if (risk >= t) level += 1;
  return level;
}

/** A colour ramp (dark blue -> teal -> yellow) for colouring by a field; t in [0, 1]. */
const RAMP = [[0.13, 0.2, 0.55], [0.1, 0.55, 0.65], [0.3, 0.75, 0.45], [0.85, 0.85, 0.25], [1.0, 0.95, 0.6]];
/** @param {number} t @param {number[]} out @returns {number[]} */
export function ramp(t, out) {
  const x = Math.min(Math.max(Number.isFinite(t) ? t : 0, 0), 1) * (RAMP.length - 1);
  const i = Math.min(Math.floor(x), RAMP.length - 2);
  const f = x - i;
  for (let k = 0; k < 3; k++) out[k] = RAMP[i][k] + (RAMP[i + 1][k] - RAMP[i][k]) * f;
  return out;
}
export const RAMP_CSS = `linear-gradient(90deg, ${RAMP.map((c) => `rgb(${c.map((v) => Math.round(v * 255)).join(',')})`).join(', ')})`;
