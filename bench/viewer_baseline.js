// The naive baseline of bench/viewer.py: every asset its own THREE.Mesh with its own
// material (pipes and buildings), a colour set on the asset's material for every row of
// every delta. It decodes frames with the viewer's own wire.js (same protocol, same
// cost of decoding), so the difference measured is drawing and painting.
import * as THREE from 'three';
import { arrayView, decodeFrame, encodeClient } from '/bench/src/wire.js';
import { SUBPROTOCOL } from '/bench/src/protocol.generated.js';
import { LEVEL_COLOURS, levelOfRisk } from '/bench/src/levels.js';

const perf = { deltaApply: { n: 0, ms: 0, max: 0 }, render: { n: 0, ms: 0, max: 0 } };
const account = (e, ms) => { e.n += 1; e.ms += ms; e.max = Math.max(e.max, ms); };
const status = { ready: false, deltas: 0, snapshots: 0, meshes: 0, seq: -1 };

const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
renderer.setPixelRatio(Math.min(window.devicePixelRatio, 2));
renderer.setClearColor(0x070b12);
renderer.setSize(window.innerWidth, window.innerHeight, false);
document.body.appendChild(renderer.domElement);
const scene = new THREE.Scene();
const camera = new THREE.PerspectiveCamera(40, window.innerWidth / window.innerHeight, 1, 20000);
camera.up.set(0, 0, 1);
scene.add(new THREE.HemisphereLight(0xcfe3ff, 0x202830, 1.6));
const sun = new THREE.DirectionalLight(0xffffff, 1.6);
sun.position.set(-0.4, -0.7, 1).multiplyScalar(1000);
scene.add(sun);
let dirty = true;

const city = await (await fetch('/bench/city.json')).json();
const box = new THREE.BoxGeometry(1, 1, 1);
const ground = new THREE.Mesh(new THREE.PlaneGeometry(city.width, city.height), new THREE.MeshLambertMaterial({ color: 0x3a4350, transparent: true, opacity: 0.25, depthWrite: false }));
ground.position.set(city.width / 2, city.height / 2, 20);
scene.add(ground);
for (const [x, y, w, h, z, height] of city.buildings) {
  const m = new THREE.Mesh(box, new THREE.MeshLambertMaterial({ color: 0x8a97aa, transparent: true, opacity: 0.4, depthWrite: false }));
  m.scale.set(w, h, height);
  m.position.set(x + w / 2, y + h / 2, z + height / 2);
  scene.add(m);
}
const pipes = [];
const base = new THREE.Color('#8090a0').multiplyScalar(0.8);
for (const [x0, y0, z0, x1, y1, z1] of city.pipes) {
  const m = new THREE.Mesh(box, new THREE.MeshLambertMaterial({ color: base }));
  const length = Math.hypot(x1 - x0, y1 - y0);
  m.scale.set(length, 0.6, 0.6);
  m.position.set((x0 + x1) / 2, (y0 + y1) / 2, (z0 + z1) / 2);
  m.rotation.z = Math.atan2(y1 - y0, x1 - x0);
  scene.add(m);
  pipes.push(m);
}
status.meshes = scene.children.length;
// the same view as the viewer's View3D.frame over the district
const span = Math.max(city.width, city.height);
const centre = new THREE.Vector3(city.width / 2, city.height / 2, 20);
camera.position.set(centre.x - span * 0.12, centre.y - span * 0.78, centre.z + span * 0.62);
camera.lookAt(centre);

const colours = LEVEL_COLOURS.map((c) => new THREE.Color(c));
function paint(row, risk) {
  const level = levelOfRisk(risk);
  pipes[row].material.color.copy(level ? colours[level] : base);
}

const ws = new WebSocket(`ws://${location.host}/ws`, [SUBPROTOCOL]);
ws.binaryType = 'arraybuffer';
ws.onmessage = (event) => {
  const started = performance.now();
  const frame = decodeFrame(event.data);
  const h = frame.header;
  if (frame.name === 'Hello') {
    ws.send(encodeClient('Subscribe', {}));
  } else if (frame.name === 'Snapshot') {
    const risk = arrayView(frame, h.domains.pipes.risk);
    for (let row = 0; row < risk.length; row++) paint(row, risk[row]);
    status.snapshots += 1;
    status.seq = h.seq;
    dirty = true;
  } else if (frame.name === 'Delta') {
    const change = h.domains.pipes?.risk;
    if (change) {
      const rows = arrayView(frame, change.rows);
      const values = arrayView(frame, change.values);
      for (let i = 0; i < rows.length; i++) paint(rows[i], values[i]);
    }
    status.deltas += 1;
    status.seq = h.seq;
    dirty = true;
    account(perf.deltaApply, performance.now() - started);
  }
};

renderer.setAnimationLoop(() => {
  if (!dirty) return;
  dirty = false;
  const started = performance.now();
  renderer.render(scene, camera);
  account(perf.render, performance.now() - started);
});

function timedFrames(n) {
  const gl = renderer.getContext();
  const pixel = new Uint8Array(4);
  renderer.render(scene, camera);
  gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, pixel);
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    renderer.render(scene, camera);
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, pixel);
  }
  return (performance.now() - started) / n;
}

status.ready = true;
window.__baseline = {
  stats: () => ({ ...status }),
  perf: () => JSON.parse(JSON.stringify(perf)),
  timedFrames,
  heap: () => performance.memory?.usedJSHeapSize ?? null,
};
