// The viewer's own words in both languages, from the one table that the reports share
// (twin/i18n.py, generated into i18n.generated.js: add or change a word there and run
// scripts/gen-i18n-js). Domain, field and level names are not there: they come from the
// plugins' viewer styles and the Hello's `levels`.
import { WORDS } from './i18n.generated.js';
import { params } from './params.js';

export const lang = params.lang;

/** @param {string} key @returns {string} */
export function t(key) {
  return WORDS[lang][key] ?? WORDS.en[key] ?? key;
}

/** A word in the screen's language with its {name} slots filled from ``slots``.
 * @param {string} key @param {Record<string, string | number>} [slots] @returns {string} */
export function w(key, slots = {}) {
  return t(key).replace(/\{(\w+)\}/g, (_, name) => String(slots[name] ?? ''));
}

/** "42 s", "12 min", "3 h 05 min", "2 d 4 h": how long ago, readable from across a room.
 * @param {number} seconds @returns {string} */
export function age(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const zh = lang === 'zh-CN';
  if (s < 60) return zh ? `${s} 秒` : `${s} s`;
  if (s < 3600) return zh ? `${Math.floor(s / 60)} 分钟` : `${Math.floor(s / 60)} min`;
  const h = Math.floor(s / 3600);
  if (h < 48) {
    const m = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
    return zh ? `${h} 小时 ${m} 分` : `${h} h ${m} min`;
  }
  return zh ? `${Math.floor(h / 24)} 天 ${h % 24} 小时` : `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** @param {string} state an alarm's state @returns {string} */
export function stateName(state) {
  return t(`state${state[0].toUpperCase()}${state.slice(1)}`);
}

// An absolute clock (a live twin's: UTC epoch seconds) is shown as local time in the
// scene's zone, whatever the zone of the screen's machine; a simulated one counts from 0.
// The Hello says which (setClock); null while the clock is simulated.
/** @type {{zone: string, format: Intl.DateTimeFormat} | null} */
let zoned = null;

/** Take the Hello's clock: ``absolute`` (epoch seconds) shown in ``timezone`` (IANA),
 * else simulated seconds from 0. An unknown zone falls back to UTC, named so.
 * @param {boolean} absolute @param {string} timezone */
export function setClock(absolute, timezone) {
  if (!absolute) {
    zoned = null;
    return;
  }
  /** @type {Intl.DateTimeFormatOptions} */
  const options = { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' };
  try {
    zoned = { zone: timezone, format: new Intl.DateTimeFormat('en-US', { ...options, timeZone: timezone }) };
  } catch {
    zoned = { zone: 'UTC', format: new Intl.DateTimeFormat('en-US', { ...options, timeZone: 'UTC' }) };
  }
}

/** The time zone local times are shown in, or null for a simulated clock. */
export function clockZone() {
  return zoned ? zoned.zone : null;
}

/** @param {Intl.DateTimeFormat} format @param {number} seconds @returns {Record<string, string>} */
function localParts(format, seconds) {
  /** @type {Record<string, string>} */
  const parts = {};
  for (const p of format.formatToParts(new Date(seconds * 1000))) parts[p.type] = p.value;
  return parts;
}

/** "YYYY-MM-DD hh:mm:ss" local time of an absolute clock; the simulated clock as clock().
 * @param {number} seconds @returns {string} */
export function dateClock(seconds) {
  if (!zoned) return clock(seconds);
  const p = localParts(zoned.format, seconds);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

/** "hh:mm:ss": local time of an absolute clock in the scene's zone, or of a simulated
 * clock from 0 (days shown when past one).
 * @param {number} seconds @returns {string} */
export function clock(seconds) {
  if (zoned) {
    const p = localParts(zoned.format, seconds);
    return `${p.hour}:${p.minute}:${p.second}`;
  }
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const hms = [Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60), s % 60].map((v) => String(v).padStart(2, '0')).join(':');
  return d ? `${d}d ${hms}` : hms;
}
