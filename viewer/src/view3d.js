// The three.js stage: renderer, z-up camera with orbit controls, lights, a highlight
// box, camera flights, and rendering on demand (a wall that shows a still district
// costs nothing; a flight or a colour change asks for frames).
import * as THREE from 'three';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';
import { account, perfStats } from './perf.js';

/** time constant (s) of a followed camera's glide: within 1 % of the leader's in 0.6 s */
const GLIDE_SECONDS = 0.12;

export class View3D {
  /** @param {HTMLElement} container */
  constructor(container) {
    this.container = container;
    this.renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio, 2));
    this.renderer.setClearColor(0x070b12);
    container.appendChild(this.renderer.domElement);
    this.scene = new THREE.Scene();
    this.scene.fog = new THREE.Fog(0x070b12, 1800, 4200);
    this.camera = new THREE.PerspectiveCamera(40, 1, 1, 20000);
    this.camera.up.set(0, 0, 1);
    this.controls = new OrbitControls(this.camera, this.renderer.domElement);
    this.controls.enableDamping = false;
    this.controls.maxPolarAngle = Math.PI * 0.495;
    this.controls.addEventListener('change', () => this.requestRender());
    this.scene.add(new THREE.HemisphereLight(0xcfe3ff, 0x202830, 1.6));
    const sun = new THREE.DirectionalLight(0xffffff, 1.6);
    sun.position.set(-0.4, -0.7, 1).multiplyScalar(1000);
    this.scene.add(sun);
    this.highlight = this.makeHighlight();
    this.scene.add(this.highlight);
    this.flight = null;
    this.following = false; // another screen drives this camera (follow=): no controls, no flights
    this.glide = null; // {position, target}: where a followed camera is going
    this.followed = null; // the last camera followed
    this.lastTick = 0;
    this.dirty = true;
    this.frames = 0;
    /** @type {Array<() => void>} called before each frame is rendered */
    this.onFrame = [];
    window.addEventListener('resize', () => this.resize());
    this.resize();
    this.renderer.setAnimationLoop((now) => this.tick(now));
  }

  makeHighlight() {
    const group = new THREE.Group();
    const box = new THREE.LineSegments(
      new THREE.EdgesGeometry(new THREE.BoxGeometry(1, 1, 1)),
      new THREE.LineBasicMaterial({ color: 0xffffff, depthTest: false, transparent: true }),
    );
    const beam = new THREE.Mesh(
      new THREE.CylinderGeometry(0.6, 0.6, 1, 8).rotateX(Math.PI / 2).translate(0, 0, 0.5),
      new THREE.MeshBasicMaterial({ color: 0xffffff, depthTest: false, transparent: true, opacity: 0.85 }),
    );
    box.renderOrder = beam.renderOrder = 10;
    group.add(box, beam);
    group.userData = { box, beam };
    group.visible = false;
    return group;
  }

  /** Outline the box (min, max: Vector3) and raise a beam above it.
   * @param {THREE.Vector3} min @param {THREE.Vector3} max @param {THREE.ColorRepresentation} [colour] */
  showHighlight(min, max, colour = 0xffffff) {
    const { box, beam } = this.highlight.userData;
    const size = new THREE.Vector3().subVectors(max, min).addScalar(3);
    const centre = new THREE.Vector3().addVectors(min, max).multiplyScalar(0.5);
    box.scale.copy(size);
    box.position.copy(centre);
    beam.position.set(centre.x, centre.y, max.z + 1);
    beam.scale.set(1, 1, 60);
    box.material.color.set(colour);
    beam.material.color.set(colour);
    this.highlight.visible = true;
    this.requestRender();
  }

  hideHighlight() {
    this.highlight.visible = false;
    this.requestRender();
  }

  /** Put the camera over the whole district (bounds: Box3).
   * @param {THREE.Box3} bounds */
  frame(bounds) {
    const centre = bounds.getCenter(new THREE.Vector3());
    const size = bounds.getSize(new THREE.Vector3());
    const span = Math.max(size.x, size.y);
    this.controls.maxDistance = span * 3;
    if (this.following && this.followed) return; // the leader's camera is already in
    this.controls.target.copy(centre);
    this.camera.position.set(centre.x - span * 0.12, centre.y - span * 0.78, centre.z + span * 0.62);
    this.controls.update();
    this.requestRender();
  }

  /** Fly to look at `point` (Vector3) from `distance` metres, over `seconds`.
   * @param {THREE.Vector3} point */
  flyTo(point, distance = 120, seconds = 1.2) {
    if (this.following) return;
    const from = { position: this.camera.position.clone(), target: this.controls.target.clone() };
    const dir = new THREE.Vector3().subVectors(this.camera.position, this.controls.target);
    dir.z = 0;
    if (dir.lengthSq() < 1) dir.set(0, -1, 0);
    dir.normalize().multiplyScalar(distance * 0.75).setZ(distance * 0.75);
    const to = { position: point.clone().add(dir), target: point.clone() };
    this.flight = { from, to, start: performance.now(), seconds };
    this.requestRender();
  }

  /** Hand this camera to another screen: orbit controls off, flights ignored.
   * @param {boolean} on */
  setFollowing(on) {
    this.following = on;
    this.controls.enabled = !on;
    if (on) this.flight = null;
  }

  /** Move smoothly (a short exponential lerp) to a followed camera ([x, y, z] arrays).
   * @param {[number, number, number]} position @param {[number, number, number]} target */
  glideTo(position, target) {
    this.glide = { position: new THREE.Vector3(...position), target: new THREE.Vector3(...target) };
    this.followed = this.glide;
    this.requestRender();
  }

  requestRender() {
    this.dirty = true;
  }

  resize() {
    const w = this.container.clientWidth || window.innerWidth;
    const h = this.container.clientHeight || window.innerHeight;
    this.renderer.setSize(w, h, false);
    this.camera.aspect = w / h;
    this.camera.updateProjectionMatrix();
    this.requestRender();
  }

  /** @param {number} now */
  tick(now) {
    const dt = Math.min(0.1, Math.max(0, (now - this.lastTick) / 1000));
    this.lastTick = now;
    if (this.glide) {
      const g = this.glide;
      const k = 1 - Math.exp(-dt / GLIDE_SECONDS);
      this.camera.position.lerp(g.position, k);
      this.controls.target.lerp(g.target, k);
      if (this.camera.position.distanceToSquared(g.position) < 1e-4 && this.controls.target.distanceToSquared(g.target) < 1e-4) {
        this.camera.position.copy(g.position);
        this.controls.target.copy(g.target);
        this.glide = null;
      }
      this.camera.lookAt(this.controls.target);
      this.dirty = true;
    }
    if (this.flight) {
      const f = this.flight;
      const u = Math.min(1, (now - f.start) / (f.seconds * 1000));
      const e = u < 0.5 ? 4 * u * u * u : 1 - (-2 * u + 2) ** 3 / 2;
      this.camera.position.lerpVectors(f.from.position, f.to.position, e);
      this.controls.target.lerpVectors(f.from.target, f.to.target, e);
      this.controls.update();
      if (u >= 1) this.flight = null;
      this.dirty = true;
    }
    if (this.highlight.visible) {
      const pulse = 0.55 + 0.45 * Math.abs(Math.sin(now / 350));
      this.highlight.userData.box.material.opacity = pulse;
      this.dirty = true;
    }
    if (!this.dirty) return;
    this.dirty = false;
    for (const fn of this.onFrame) fn();
    const started = performance.now();
    this.renderer.render(this.scene, this.camera);
    account(perfStats.render, performance.now() - started);
    this.frames += 1;
  }

  /** Render `n` frames back to back, each waited for (a one-pixel read), and return the
   * mean milliseconds per frame: what a frame costs, GPU included (bench/viewer.py).
   * @param {number} n */
  timedFrames(n) {
    const gl = this.renderer.getContext();
    const pixel = new Uint8Array(4);
    this.renderer.render(this.scene, this.camera); // uploads pending colours first
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, pixel);
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      this.renderer.render(this.scene, this.camera);
      gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, pixel);
    }
    return (performance.now() - started) / n;
  }

  /** Screen position (CSS pixels) of a world point, or null when behind the camera.
   * @param {THREE.Vector3} point */
  project(point) {
    const v = point.clone().project(this.camera);
    if (v.z > 1) return null;
    const rect = this.renderer.domElement.getBoundingClientRect();
    return { x: rect.left + ((v.x + 1) / 2) * rect.width, y: rect.top + ((1 - v.y) / 2) * rect.height };
  }
}
