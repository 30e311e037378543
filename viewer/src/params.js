// Wall mode: everything a screen needs comes from its URL, so a command center can
// pin one address per display. ?layers=gas,drainage&lang=zh-CN&tour=1&underground=1
// One screen can lead a camera channel (?lead=wall1) and others follow it (?follow=wall1).
// The alarm list shows incidents or alarms: ?list=incidents|alarms (by default incidents
// on a wall, alarms on an operator's screen).
const query = new URLSearchParams(window.location.search);
const wall = query.get('wall') === '1';
const listed = query.get('list');

/** @param {string} name @returns {string[] | null} */
function list(name) {
  const raw = query.get(name);
  return raw ? raw.split(',').map((s) => s.trim()).filter(Boolean) : null;
}

/** @param {string} name @param {number} fallback @returns {number} */
function number(name, fallback) {
  const v = Number(query.get(name));
  return query.has(name) && Number.isFinite(v) ? v : fallback;
}

export const params = Object.freeze({
  token: query.get('token') || '',
  /** layers shown at start (domain or base layer names); null: all */
  layers: list('layers'),
  lang: (query.get('lang') || navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en',
  tour: query.get('tour') === '1',
  /** seconds without input before the tour starts, and per alarm */
  tourIdle: number('tour_idle', 20),
  tourEvery: number('tour_every', 12),
  underground: query.get('underground') === '1',
  /** colour one domain by a field: colour=gas.ch4 */
  colour: query.get('colour') || '',
  /** wall: hide the controls a wall never uses */
  wall,
  /** what the alarm list shows at start (its header's toggle switches) */
  list: /** @type {'incidents' | 'alarms'} */ (listed === 'incidents' || listed === 'alarms' ? listed : wall ? 'incidents' : 'alarms'),
  /** send this screen's camera to the camera channel named here (through the server) */
  lead: (query.get('lead') || '').slice(0, 64),
  /** show the camera of the channel named here; this screen's own orbit controls are off */
  follow: (query.get('follow') || '').slice(0, 64),
});

/** A same-origin URL with the page's token attached.
 * @param {string} path @returns {string} */
export function apiUrl(path) {
  if (!params.token) return path;
  return `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(params.token)}`;
}

export function wsUrl() {
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
  return apiUrl(`${scheme}://${window.location.host}/ws`);
}

/** @param {string} path @returns {Promise<any>} the answer's JSON (its shape is the caller's to know) */
export async function fetchJson(path) {
  const response = await fetch(apiUrl(path));
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}
