// window.__twin: a small read-only hook for tests and operators' diagnostics. It
// reports what the page holds and draws; nothing in it changes the page.
import * as THREE from 'three';
import { perfStats } from './perf.js';
import { wireStats } from './wire.js';

/** @param {import('./main.js').App} app @param {import('./main.js').Parts} parts */
export function installDebugHook(app, parts) {
  const { state, view } = app;
  const hook = {
    /** decoder and stream counters */
    stats: () => ({
      ...wireStats, ...state.counts, seq: state.seq, time: state.time, alarms: state.alarms.size,
      connected: app.connection.connected, reconnects: app.connection.reconnects, lastSince: app.connection.lastSince,
      role: state.hello?.role ?? null, ready: Boolean(app.painter), rendered: view.frames,
    }),
    /** how a state array lies in its frame's buffer: a view, not a copy */
    arrayInfo: (/** @type {string} */ domain, /** @type {string} */ field) => {
      const a = state.tables.get(domain)?.get(field);
      if (!a) return null;
      return { type: a.constructor.name, bytesPerElement: a.BYTES_PER_ELEMENT, byteOffset: a.byteOffset, byteLength: a.byteLength, bufferBytes: a.buffer.byteLength, length: a.length };
    },
    /** the sRGB colour [r, g, b] (0-255) an asset is drawn with, from its vertex colours */
    assetColour: (/** @type {string} */ id) => {
      const where = state.locate(id);
      const layer = where && app.layers?.domains.get(where.domain);
      if (!layer) return null;
      const [r, g, b] = layer.colourOf(where.row);
      const c = new THREE.Color().setRGB(r / 255, g / 255, b / 255, THREE.LinearSRGBColorSpace);
      const hex = c.getHex(THREE.SRGBColorSpace);
      return [(hex >> 16) & 255, (hex >> 8) & 255, hex & 255];
    },
    severity: (/** @type {string} */ id) => {
      const where = state.locate(id);
      return where && app.painter ? app.painter.severity(where.domain, where.row) : null;
    },
    /** the screen position of an asset's top centre (CSS pixels) */
    screenOf: (/** @type {string} */ id) => {
      const b = parts.assetBounds(id);
      return b ? view.project(b.centre) : null;
    },
    pickAt: (/** @type {number} */ x, /** @type {number} */ y) => (app.layers ? parts.pick(x, y) : null),
    ground: () => {
      const base = app.layers?.base;
      const terrain = base?.get('terrain');
      const buildings = base?.get('buildings');
      return {
        underground: app.underground.on,
        terrainVisible: terrain ? terrain.visible : null, terrainOpacity: terrain ? terrain.material.opacity : null,
        terrainDepthWrite: terrain ? terrain.material.depthWrite : null,
        buildingsOpacity: buildings ? buildings.material.opacity : null,
      };
    },
    layerVisible: (/** @type {string} */ name) => {
      const mesh = app.layers?.base.get(name) || app.layers?.domains.get(name)?.mesh;
      return mesh ? mesh.visible : null;
    },
    /** the camera: position and orbit target [x, y, z], whether it follows a channel (controls off), cameras received */
    camera: () => ({
      position: view.camera.position.toArray(), target: view.controls.target.toArray(),
      following: view.following, controls: view.controls.enabled, lead: app.cameraLink?.lead ?? '',
      follow: app.cameraLink?.follow ?? '', received: app.cameraLink?.received ?? 0, gliding: Boolean(view.glide),
    }),
    selected: () => ({ asset: parts.inspector.asset?.id ?? null, alarm: app.selectedAlarm }),
    /** the open incidents this page holds, worst first as the list orders them (copies of the stream's summaries) */
    incidents: () => JSON.parse(JSON.stringify(state.sortedIncidents())),
    /** the alarm list: what it shows ('incidents' or 'alarms'), the incident expanded (and framed), the one framed in 3D */
    list: () => ({ mode: parts.alarmList.mode, incident: parts.alarmList.selectedIncident ?? null, framed: parts.alarmList.frame?.incident ?? null }),
    /** the unattended tour (tour=1): null when off; else active, the stop shown last ({kind, id}), stops shown */
    tour: () => (parts.tour ? JSON.parse(JSON.stringify(parts.tour.info())) : null),
    /** the inspector's history chart: field, window, source (raw, minutes, live), points held and drawn in the plot */
    history: () => parts.inspector.chartInfo(),
    domNodes: () => document.getElementsByTagName('*').length,
    /** a live exercise's messages this screen holds (inject numbers, in order of arrival), and the banner's */
    messages: () => ({ held: [...parts.messages.held.keys()], banner: parts.messages.banner.hidden ? null : Number(parts.messages.banner.dataset.n) }),
    /** what the timeline shows: mode, playing, speed, start, end, time, marks, canControl, reason */
    replay: () => parts.timeline.info(),
    /** cumulative timings: deltaApply and render {n, ms, max} */
    perf: () => JSON.parse(JSON.stringify(perfStats)),
    /** mean ms per frame over `n` frames rendered back to back, each waited for */
    timedFrames: (n = 20) => view.timedFrames(n),
    /** the JS heap in use (bytes), where the browser tells it */
    heap: () => /** @type {{memory?: {usedJSHeapSize: number}}} */ (/** @type {unknown} */ (performance)).memory?.usedJSHeapSize ?? null,
  };
  Object.defineProperty(window, '__twin', { value: Object.freeze(hook), writable: false, configurable: false });
}
