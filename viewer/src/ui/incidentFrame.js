// Framing an incident in 3D: the camera flies over its assets, the highlight box spans
// them, and its outline (the convex hull of its assets in scene metres, from the
// summary) is drawn as a closed line in its level's colour just above them.
import * as THREE from 'three';
import { LEVEL_COLOURS } from '../levels.js';

/** @typedef {import('../state.js').IncidentSummary} IncidentSummary */
/** @typedef {{min: THREE.Vector3, max: THREE.Vector3, centre: THREE.Vector3}} Box */

/** at most this many assets' boxes are joined for the frame (a storm's incident holds hundreds) */
const MAX_ASSETS = 400;

export class IncidentFrame {
  /** @param {import('../view3d.js').View3D} view @param {(assetId: string) => Box | null} assetBounds */
  constructor(view, assetBounds) {
    this.view = view;
    this.assetBounds = assetBounds;
    this.line = new THREE.LineLoop(new THREE.BufferGeometry(), new THREE.LineBasicMaterial({ color: 0xffffff, depthTest: false, transparent: true }));
    this.line.renderOrder = 10; // drawn over the buildings: the outline is seen from above
    this.line.visible = false;
    this.line.frustumCulled = false;
    view.scene.add(this.line);
    /** @type {number | null} the incident framed */
    this.incident = null;
  }

  /** The box around an incident's assets the page can place (null if none).
   * @param {IncidentSummary} incident @returns {{min: THREE.Vector3, max: THREE.Vector3} | null} */
  bounds(incident) {
    const min = new THREE.Vector3(Infinity, Infinity, Infinity);
    const max = new THREE.Vector3(-Infinity, -Infinity, -Infinity);
    let found = 0;
    for (const id of incident.assets.slice(0, MAX_ASSETS)) {
      const b = this.assetBounds(id);
      if (!b) continue;
      min.min(b.min);
      max.max(b.max);
      found += 1;
    }
    for (const [x, y] of incident.outline || []) {
      if (!found) break; // no height to put the outline at
      min.x = Math.min(min.x, x); min.y = Math.min(min.y, y);
      max.x = Math.max(max.x, x); max.y = Math.max(max.y, y);
    }
    return found ? { min, max } : null;
  }

  /** Fly to the incident and draw its outline; false when none of its assets is placed.
   * @param {IncidentSummary} incident @returns {boolean} */
  show(incident) {
    const box = this.bounds(incident);
    if (!box) return false;
    this.incident = incident.id;
    const colour = LEVEL_COLOURS[incident.level || incident.peak_level] || '#ffffff';
    const centre = new THREE.Vector3().addVectors(box.min, box.max).multiplyScalar(0.5);
    const size = box.max.clone().sub(box.min).length();
    this.view.showHighlight(box.min, box.max, colour);
    this.draw(incident, box.max.z + 2, colour);
    this.view.flyTo(centre, Math.max(220, size * 1.3)); // wide enough to see the streets around
    return true;
  }

  /** Keep the drawn outline up to date with the incident's latest summary.
   * @param {IncidentSummary} incident */
  update(incident) {
    if (incident.id !== this.incident) return;
    const box = this.bounds(incident);
    if (!box) return;
    this.draw(incident, box.max.z + 2, LEVEL_COLOURS[incident.level || incident.peak_level] || '#ffffff');
  }

  /** @param {IncidentSummary} incident @param {number} z @param {string} colour */
  draw(incident, z, colour) {
    let points = (incident.outline || []).map(([x, y]) => new THREE.Vector3(x, y, z));
    if (points.length < 3) { // one or two places: a small square around each
      points = points.flatMap((p) => [[-8, -8], [8, -8], [8, 8], [-8, 8]].map(([dx, dy]) => new THREE.Vector3(p.x + dx, p.y + dy, z)));
    }
    this.line.geometry.dispose();
    this.line.geometry = new THREE.BufferGeometry().setFromPoints(points);
    this.line.material.color.set(colour);
    this.line.visible = points.length > 0;
    this.view.requestRender();
  }

  hide() {
    this.incident = null;
    this.line.visible = false;
    this.view.hideHighlight();
    this.view.requestRender();
  }

  /** What is framed, for the debug hook and the tests. */
  info() {
    const position = this.line.geometry.getAttribute('position');
    return { incident: this.incident, outlinePoints: this.line.visible && position ? position.count : 0 };
  }
}
