// Names in the screen's language, from the schema (plugins' styles, Hello levels).
import { lang } from '../i18n.js';

/** @param {import('../state.js').TwinState} state @param {string} domain @returns {string} */
export function domainLabel(state, domain) {
  const d = state.domains.get(domain);
  if (!d) return domain;
  const style = d.info.style;
  if (lang === 'zh-CN') return style?.label_zh || d.info.title_zh || style?.label || d.info.title || domain;
  return style?.label || d.info.title || domain;
}

/** @param {import('../state.js').TwinState} state @param {string} domain @param {string} field @returns {string} */
export function fieldLabel(state, domain, field) {
  const d = state.domains.get(domain);
  const info = d?.fields.get(field);
  if (lang === 'zh-CN') return d?.info.style?.field_labels_zh?.[field] || info?.label_zh || field;
  return field.replaceAll('_', ' ');
}

/** @param {import('../state.js').TwinState} state @param {number} level @returns {string} */
export function levelName(state, level) {
  const levels = state.hello?.levels;
  const names = (levels && (levels[lang] || levels.en)) || ['normal', 'blue (IV)', 'yellow (III)', 'orange (II)', 'red (I)'];
  const name = names[level] ?? String(level);
  return lang === 'zh-CN' ? name : name[0].toUpperCase() + name.slice(1);
}

/** @param {import('../protocol.generated.js').AlarmSummary} alarm @returns {string} */
export function ruleTitle(alarm) {
  return (lang === 'zh-CN' && alarm.title_zh) || alarm.title || alarm.rule;
}

/** @param {unknown} value @param {string} [unit] @returns {string} */
export function formatValue(value, unit) {
  if (value === undefined || value === null || Number.isNaN(value)) return '—';
  let text;
  if (typeof value !== 'number') text = String(value);
  else if (value === 0) text = '0';
  else if (Math.abs(value) >= 1e5 || Math.abs(value) < 1e-3) text = value.toExponential(2);
  else text = value.toFixed(Math.abs(value) >= 100 ? 1 : Math.abs(value) >= 1 ? 2 : 3);
  return unit && unit !== '1' && unit !== '-' ? `${text} ${unit}` : text;
}
