// Layers: the base meshes (terrain, buildings, and each area of the scene: water, a park,
// drawn in its own colour) and one merged mesh per domain, each loaded from
// /api/layers/<name>.glb. A domain mesh gets a per-vertex colour
// attribute; asset row r owns vertices offsets[r]..offsets[r+1] (from <name>.json), so
// colouring an asset writes a few bytes and never rebuilds geometry.
import * as THREE from 'three';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';
import { apiUrl, fetchJson } from './params.js';

/** @type {Record<string, () => THREE.MeshLambertMaterial>} */
const BASE_MATERIALS = {
  terrain: () => new THREE.MeshLambertMaterial({ color: 0x3a4350, transparent: true, opacity: 1 }),
  buildings: () => new THREE.MeshLambertMaterial({ color: 0x8a97aa, flatShading: true, transparent: true, opacity: 1 }),
};

/** @param {import('./protocol.generated.js').AreaLook} look */
function areaMaterial(look) {
  return new THREE.MeshLambertMaterial({ color: new THREE.Color(look.colour), transparent: true, opacity: look.opacity });
}

/** @param {GLTFLoader} loader @param {string} name @returns {Promise<THREE.Mesh>} */
async function loadMesh(loader, name) {
  const response = await fetch(apiUrl(`/api/layers/${name}.glb`));
  if (!response.ok) throw new Error(`layer ${name}: ${response.status}`);
  const gltf = await loader.parseAsync(await response.arrayBuffer(), '');
  /** @type {THREE.Mesh | null} */
  let mesh = null;
  gltf.scene.traverse((o) => {
    if (!mesh && o instanceof THREE.Mesh) mesh = o;
  });
  const found = /** @type {THREE.Mesh | null} */ (mesh); // set in the callback, which tsc does not follow
  if (!found) throw new Error(`layer ${name}: no mesh in its GLB`);
  found.removeFromParent();
  found.updateMatrix();
  return found;
}

export class DomainLayer {
  /** @param {string} name @param {THREE.Mesh} mesh @param {{ids: string[], offsets: number[]}} map */
  constructor(name, mesh, map) {
    this.name = name;
    this.mesh = mesh;
    this.ids = map.ids;
    this.offsets = Int32Array.from(map.offsets);
    const geometry = mesh.geometry;
    const count = geometry.attributes.position.count;
    this.colours = new Uint8Array(count * 3);
    this.colourAttribute = new THREE.BufferAttribute(this.colours, 3, true);
    this.colourAttribute.setUsage(THREE.DynamicDrawUsage);
    geometry.setAttribute('color', this.colourAttribute);
    // Front faces only: every asset's shapes are closed and wind outwards (tests/test_geometry.py),
    // so back faces are never seen from outside and drawing them would double the fill.
    mesh.material = new THREE.MeshLambertMaterial({ vertexColors: true, flatShading: true });
    mesh.renderOrder = 1;
    mesh.userData.domain = name;
    this.boxes = null;
  }

  /** Paint asset `row` with r, g, b in [0, 255].
   * @param {number} row @param {number} r @param {number} g @param {number} b */
  paint(row, r, g, b) {
    const c = this.colours;
    for (let v = this.offsets[row] * 3, end = this.offsets[row + 1] * 3; v < end; v += 3) {
      c[v] = r;
      c[v + 1] = g;
      c[v + 2] = b;
    }
  }

  commit() {
    this.colourAttribute.needsUpdate = true;
  }

  /** The asset row owning vertex `v` (binary search over the offsets).
   * @param {number} v @returns {number} */
  rowOfVertex(v) {
    let lo = 0;
    let hi = this.offsets.length - 2;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.offsets[mid] <= v) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Bounding box (min, max Vector3) of asset `row`.
   * @param {number} row */
  bounds(row) {
    const p = this.mesh.geometry.attributes.position;
    const min = new THREE.Vector3(Infinity, Infinity, Infinity);
    const max = new THREE.Vector3(-Infinity, -Infinity, -Infinity);
    const v = new THREE.Vector3();
    for (let i = this.offsets[row]; i < this.offsets[row + 1]; i++) {
      v.fromBufferAttribute(p, i);
      min.min(v);
      max.max(v);
    }
    return { min, max };
  }

  /** Colour (r, g, b in 0-255) of asset `row` as drawn.
   * @param {number} row @returns {number[]} */
  colourOf(row) {
    const v = this.offsets[row] * 3;
    return [this.colours[v], this.colours[v + 1], this.colours[v + 2]];
  }
}

/** Load every layer; returns {base: Map(name -> mesh), domains: Map(name -> DomainLayer),
 * areas: Map(name -> how the area is named and drawn), bounds}. An area's mesh is in `base` too.
 * @param {import('./view3d.js').View3D} view */
export async function loadLayers(view) {
  /** @type {import('./protocol.generated.js').LayerList} */
  const index = await fetchJson('/api/layers');
  const loader = new GLTFLoader();
  const base = new Map();
  const domains = new Map();
  /** @type {Map<string, import('./protocol.generated.js').AreaLook>} in the scene's order */
  const areas = new Map();
  for (const entry of index.layers) if (entry.area) areas.set(entry.name, entry.area);
  await Promise.all(index.layers.map(async (entry) => {
    const mesh = await loadMesh(loader, entry.name);
    if (entry.domain) {
      /** @type {import('./protocol.generated.js').LayerMap} */
      const map = await fetchJson(entry.map);
      domains.set(entry.domain, new DomainLayer(entry.domain, mesh, map));
    } else {
      mesh.material = entry.area ? areaMaterial(entry.area) : (BASE_MATERIALS[entry.name] || BASE_MATERIALS.buildings)();
      if (entry.name === 'terrain') mesh.geometry.computeVertexNormals();
      mesh.renderOrder = entry.name === 'terrain' ? 2 : 3; // after the buried assets
      base.set(entry.name, mesh);
    }
  }));
  const bounds = new THREE.Box3();
  for (const mesh of [...base.values(), ...[...domains.values()].map((d) => d.mesh)]) {
    view.scene.add(mesh);
    mesh.geometry.computeBoundingBox();
    bounds.union(mesh.geometry.boundingBox);
  }
  return { base, domains, areas, bounds };
}
