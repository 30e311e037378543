// Lifeline Twin viewer: wires the stream (connection, state), the 3D view (layers,
// painter) and the panels together. Read-only debug hook: window.__twin (debug.js).
import './style.css';
import * as THREE from 'three';
import { Connection } from './connection.js';
import { installDebugHook } from './debug.js';
import { lang } from './i18n.js';
import { loadLayers } from './layers.js';
import { Painter } from './painter.js';
import { apiUrl, fetchJson, params, wsUrl } from './params.js';
import { TwinState } from './state.js';
import { Tour } from './tour.js';
import { AlarmList } from './ui/alarmList.js';
import { IncidentFrame } from './ui/incidentFrame.js';
import { Banner } from './ui/banner.js';
import { CameraLink } from './cameraLink.js';
import { Inspector } from './ui/inspector.js';
import { Messages } from './ui/messages.js';
import { LayerPanel } from './ui/layerPanel.js';
import { Pins } from './ui/pins.js';
import { Timeline } from './ui/timeline.js';
import { TopBar } from './ui/topbar.js';
import { View3D } from './view3d.js';
import { LEVEL_COLOURS } from './levels.js';

/** @typedef {Awaited<ReturnType<typeof loadLayers>> & {scene?: string}} Layers */
/** The parts the debug hook reads besides the App.
 * @typedef {{inspector: Inspector, alarmList: AlarmList, panel: LayerPanel, timeline: Timeline, messages: Messages, selectAlarm: (id: number) => void,
 *   focusAsset: (id: string, level?: number) => void, assetBounds: (id: string) => Bounds | null, pick: (x: number, y: number) => string | null,
 *   tour: Tour | null}} Parts */

/** The page's element `id` (index.html has them all). @param {string} id @returns {HTMLElement} */
function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`index.html has no #${id}`);
  return node;
}

document.documentElement.lang = lang;
document.body.classList.toggle('wall', params.wall);
const ui = byId('ui');
const state = new TwinState();
const view = new View3D(byId('stage'));
const connection = new Connection(wsUrl(), state, { follow: params.follow });
/** What the page holds (the debug hook reads it).
 * @typedef {{state: TwinState, view: View3D, layers: Layers | null, painter: Painter | null, connection: Connection,
 *   cameraLink: CameraLink | null, selectedAlarm: number | null, underground: {on: boolean, opacity: number}}} App */
/** @type {App} */
const app = { state, view, layers: null, painter: null, connection, cameraLink: null, selectedAlarm: null, underground: { on: false, opacity: 0.25 } };

const topbar = new TopBar(ui);
const timeline = new Timeline(ui, state, { send: (action, fields) => replayControl(action, fields) });
const panel = new LayerPanel(ui, {
  onLayer: (name, visible) => setLayerVisible(name, visible),
  onUnderground: (on, opacity) => setUnderground(on, opacity),
  onColour: (value) => setColour(value),
});
const alarmList = new AlarmList(ui, state, { onSelect: (id) => selectAlarm(id), frame: new IncidentFrame(view, (id) => assetBounds(id)), mode: params.list });
const messages = new Messages(ui, alarmList.node, state); // a live exercise's messages to the players
const inspector = new Inspector(ui, state, {
  onAction: (alarm, action, note) => alarmAction(alarm, action, note),
  onClose: () => {
    app.selectedAlarm = null;
    alarmList.select(null);
    view.hideHighlight();
  },
});

// -- stream ------------------------------------------------------------------------
/** @type {Map<number, (result: {ok: boolean, error: string}) => void>} request -> its resolve */
const pending = new Map();
state.on('result', (r) => {
  const resolve = pending.get(r.request);
  if (resolve) {
    pending.delete(r.request);
    resolve(r);
  }
});
state.on('error', (e) => console.warn(`twin: ${e.code}: ${e.message}`));
state.on('hello', (h) => {
  topbar.hello(h);
  timeline.setMode(h.mode);
  if (app.layers && app.layers.scene !== h.scene) window.location.reload(); // another scene now: start over
});
state.on('replay', (r) => timeline.replay(r));
state.on('state', (change) => {
  topbar.update(state);
  timeline.update();
  if (change.snapshot && timeline.mode === 'replay') checkStillReplaying();
  if (app.painter) app.painter.onState(change);
  inspector.update();
  countsDirty = true;
});
state.on('alarms', ({ snapshot }) => {
  if (app.painter && !snapshot) app.painter.onAlarms();
  alarmList.invalidate();
  inspector.update();
  view.requestRender();
  countsDirty = true;
});

let countsDirty = true;
setInterval(() => {
  if (countsDirty && app.painter) {
    countsDirty = false;
    panel.updateCounts(app.painter.levelCounts());
  }
}, 1000);

app.cameraLink = new CameraLink(view, state, connection, ui, { lead: params.lead, follow: params.follow });
new Banner(ui, connection);
connection.connect();

/** @param {number} alarm @param {'acknowledge' | 'dispatch' | 'resolve'} action @param {string} note */
function alarmAction(alarm, action, note) {
  return ask('AlarmAction', { alarm, action, note });
}

/** @param {'play' | 'pause' | 'seek' | 'speed' | 'branch'} action @param {{time?: number, speed?: number}} [fields] */
async function replayControl(action, fields = {}) {
  // a branch re-runs the recording to this moment first: give it time
  const result = await ask('ReplayControl', { action, ...fields }, action === 'branch' ? 300000 : 10000);
  if (result.ok && action === 'branch') becomeLive();
  return result;
}

// A branch turns the server live without a new Hello: the director's screen knows from
// its Result; the others ask, after each snapshot (a branch sends one), whether the
// server still replays.
let checking = false;
async function checkStillReplaying() {
  if (checking) return;
  checking = true;
  try {
    const response = await fetch(apiUrl('/api/replay'));
    if (response.status === 404 && timeline.mode === 'replay') becomeLive();
  } catch { /* disconnected: the next Hello tells */ } finally {
    checking = false;
  }
}

function becomeLive() {
  state.replay = null;
  topbar.setMode('live');
  timeline.setMode('live');
}

/** Send a request and wait for its Result (or say why there is none).
 * @template {'AlarmAction' | 'ReplayControl'} N
 * @param {N} name @param {Omit<import('./protocol.generated.js').ClientMessages[N], 'type' | 'request'>} fields @param {number} [wait] ms
 * @returns {Promise<{ok: boolean, error: string}>} */
function ask(name, fields, wait = 10000) {
  return new Promise((resolve) => {
    const request = connection.request(name, fields);
    if (!request) return resolve({ ok: false, error: 'not connected' });
    pending.set(request, resolve);
    setTimeout(() => {
      if (pending.delete(request)) resolve({ ok: false, error: 'no answer from the server' });
    }, wait);
  });
}

// The share of each domain's sensors online is no field of the stream: ask the server
// now and then (null, hidden, where it has not judged them: a replay).
async function refreshOnline() {
  try {
    /** @type {import('./protocol.generated.js').SceneInfo} */
    const scene = await fetchJson('/api/scene');
    panel.updateOnline(Object.fromEntries(Object.entries(scene.domains).map(([name, d]) => [name, d.sensors?.online_share ?? null])));
  } catch { /* starting or disconnected: the next round tells */ }
}

// -- layers ------------------------------------------------------------------------
async function loadWhenReady() {
  for (let wait = 500; ; wait = Math.min(wait * 2, 5000)) {
    try {
      return await loadLayers(view);
    } catch (err) {
      console.warn(`twin: layers not ready (${err instanceof Error ? err.message : err}); retrying`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/** @returns {Promise<import('./protocol.generated.js').Hello>} */
async function whenHello() {
  while (!state.hello) await new Promise((r) => setTimeout(r, 50));
  return state.hello;
}

/** The ground and what is drawn on it: shown unless ?layers= names some of them.
 * @param {string} name */
function isGround(name) {
  return name === 'terrain' || Boolean(app.layers?.areas.has(name));
}

/** @param {string} name */
function isVisibleAtStart(name) {
  if (!params.layers) return true;
  return params.layers.includes(name) || (isGround(name) && !params.layers.some(isGround));
}

/** @param {string} name @param {boolean} visible */
function setLayerVisible(name, visible) {
  const mesh = app.layers?.base.get(name) || app.layers?.domains.get(name)?.mesh;
  if (mesh) mesh.visible = visible;
  view.requestRender();
}

/** @param {boolean} on @param {number} opacity */
function setUnderground(on, opacity) {
  app.underground = { on, opacity };
  const base = app.layers?.base;
  if (!base) return;
  const terrain = base.get('terrain');
  if (terrain) {
    terrain.material.opacity = on ? opacity : 1;
    terrain.material.depthWrite = !on;
    terrain.visible = panelVisible('terrain') && (!on || opacity > 0.01); // 0: cut away
  }
  const buildings = base.get('buildings');
  if (buildings) {
    buildings.material.opacity = on ? 0.12 + 0.5 * opacity : 1;
    buildings.material.depthWrite = !on;
  }
  for (const [name, look] of app.layers?.areas || []) {
    const area = base.get(name);
    if (area) area.material.opacity = on ? 0.4 * look.opacity : look.opacity; // the pipes below show through
  }
  view.requestRender();
}

/** @param {string} name */
function panelVisible(name) {
  const box = /** @type {HTMLInputElement | null} */ (document.querySelector(`input[data-layer="${name}"]`));
  return box ? box.checked : true;
}

/** @param {string} value "domain.field", or '' for severity */
function setColour(value) {
  if (!app.painter) return;
  if (!value) {
    app.painter.fieldMode = null;
    app.painter.repaintAll();
    panel.showRamp(state, null);
    return;
  }
  const [domain, field] = value.split('.');
  const info = state.domains.get(domain)?.fields.get(field);
  if (!info) return;
  const [lo, hi] = info.valid || [];
  const mode = { domain, field, unit: info.unit, min: lo ?? NaN, max: hi ?? NaN };
  // Open-ended ranges (e.g. [0, inf)) would flatten the ramp: use the values seen.
  if (!(Number.isFinite(mode.min) && Number.isFinite(mode.max)) || mode.max - mode.min > 1e6) mode.min = mode.max = NaN;
  app.painter.setFieldMode(mode);
  panel.showRamp(state, mode);
}

// -- selection ---------------------------------------------------------------------
/** @typedef {{domain: string, row: number, min: THREE.Vector3, max: THREE.Vector3, centre: THREE.Vector3, top: THREE.Vector3}} Bounds */
/** @type {Map<string, Bounds>} */
const boundsCache = new Map();
/** @param {string} assetId @returns {Bounds | null} */
function assetBounds(assetId) {
  let b = boundsCache.get(assetId);
  if (b) return b;
  const where = state.locate(assetId);
  const layer = where && app.layers?.domains.get(where.domain);
  if (!layer) return null;
  const { min, max } = layer.bounds(where.row);
  const centre = new THREE.Vector3().addVectors(min, max).multiplyScalar(0.5);
  b = { ...where, min, max, centre, top: new THREE.Vector3(centre.x, centre.y, max.z) };
  boundsCache.set(assetId, b);
  return b;
}

const down = new THREE.Raycaster();
/** @param {number} x @param {number} y */
function groundAt(x, y) {
  const terrain = app.layers?.base.get('terrain');
  if (!terrain) return -Infinity;
  down.set(new THREE.Vector3(x, y, 1e5), new THREE.Vector3(0, 0, -1));
  const hit = down.intersectObject(terrain, false)[0];
  return hit ? hit.point.z : -Infinity;
}

/** @param {string} assetId @param {number} [level] */
function focusAsset(assetId, level = 0) {
  const b = assetBounds(assetId);
  const domainMesh = b && app.layers?.domains.get(b.domain)?.mesh;
  if (!b || !domainMesh) return;
  const size = b.max.clone().sub(b.min).length();
  view.flyTo(b.centre, Math.max(90, size * 1.6));
  view.showHighlight(b.min, b.max, level ? LEVEL_COLOURS[level] : 0xffffff);
  if (!domainMesh.visible) {
    domainMesh.visible = true;
    const box = /** @type {HTMLInputElement | null} */ (document.querySelector(`input[data-layer="${b.domain}"]`));
    if (box) box.checked = true;
  }
  if (b.max.z < groundAt(b.centre.x, b.centre.y) + 0.2) panel.setUnderground(true); // buried: show it
  inspector.show(assetId);
}

/** @param {number} alarmId */
function selectAlarm(alarmId) {
  const alarm = state.alarms.get(alarmId);
  if (!alarm) return;
  app.selectedAlarm = alarmId;
  alarmList.select(alarmId);
  focusAsset(alarm.asset, alarm.level);
}

// Picking: a click (not a drag) on an asset opens its inspector.
const ray = new THREE.Raycaster();
/** @type {{x: number, y: number} | null} */
let pressed = null;
view.renderer.domElement.addEventListener('pointerdown', (e) => { pressed = { x: e.clientX, y: e.clientY }; });
view.renderer.domElement.addEventListener('pointerup', (e) => {
  if (!pressed || Math.hypot(e.clientX - pressed.x, e.clientY - pressed.y) > 5 || !app.layers) return;
  const hit = pick(e.clientX, e.clientY);
  if (hit) {
    app.selectedAlarm = null;
    alarmList.select(null);
    focusAsset(hit, 0);
  }
});

/** The id of the asset drawn at a screen point, or null. @param {number} clientX @param {number} clientY */
function pick(clientX, clientY) {
  const layers = app.layers;
  if (!layers) return null;
  const rect = view.renderer.domElement.getBoundingClientRect();
  const ndc = new THREE.Vector2(((clientX - rect.left) / rect.width) * 2 - 1, -((clientY - rect.top) / rect.height) * 2 + 1);
  ray.setFromCamera(ndc, view.camera);
  const meshes = [...layers.domains.values()].filter((l) => l.mesh.visible).map((l) => l.mesh);
  const hit = ray.intersectObjects(meshes, false)[0];
  const layer = hit && layers.domains.get(hit.object.userData.domain);
  if (!hit || !hit.face || !layer) return null;
  return layer.ids[layer.rowOfVertex(hit.face.a)];
}

/** @type {Parts} */
const parts = { inspector, alarmList, panel, timeline, messages, selectAlarm, focusAsset, assetBounds, pick, tour: null };
installDebugHook(app, parts);

// -- start -------------------------------------------------------------------------
(async () => {
  const [loaded, hello] = await Promise.all([loadWhenReady(), whenHello()]);
  /** @type {Layers} */
  const layers = { ...loaded, scene: hello.scene };
  app.layers = layers;
  const painter = new Painter(state, layers.domains, view);
  app.painter = painter;
  const domainNames = hello.domains.map((d) => d.name).filter((n) => layers.domains.has(n));
  const baseNames = ['terrain', 'buildings', ...layers.areas.keys()].filter((n) => layers.base.has(n));
  for (const name of [...baseNames, ...domainNames]) setLayerVisible(name, isVisibleAtStart(name));
  panel.build(state, baseNames, domainNames, isVisibleAtStart, layers.areas);
  refreshOnline();
  setInterval(refreshOnline, 5000);
  view.frame(layers.bounds);
  new Pins(ui, state, view, assetBounds);
  panel.setUnderground(params.underground);
  setUnderground(app.underground.on, app.underground.opacity);
  if (params.colour) setColour(params.colour);
  else painter.repaintAll();
  if (params.tour && !params.follow) {
    parts.tour = new Tour(state, {
      idle: params.tourIdle, every: params.tourEvery, mode: () => alarmList.mode, focus: selectAlarm, focusIncident: (id) => alarmList.selectIncident(id),
    });
  }
  document.body.classList.add('ready');
})();

