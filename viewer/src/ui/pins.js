// Labels over the worst open alarms, placed on the 3D view each rendered frame, so a
// wall shows where the trouble is even from the overview. A fixed pool of nodes.
import { el, setText } from './dom.js';
import { LEVEL_COLOURS, LEVEL_INK } from '../levels.js';
import { levelName } from './labels.js';

const POOL = 8;

export class Pins {
  /** @param {HTMLElement} parent @param {import('../state.js').TwinState} state @param {import('../view3d.js').View3D} view @param {(assetId: string) => {top: import('three').Vector3} | null} locateBounds */
  constructor(parent, state, view, locateBounds) {
    this.state = state;
    this.view = view;
    this.locateBounds = locateBounds;
    this.node = el('div', { class: 'pins' });
    this.pins = Array.from({ length: POOL }, () => {
      const name = el('b');
      const level = el('span');
      const pin = el('div', { class: 'pin', hidden: true }, [level, name]);
      this.node.append(pin);
      return { pin, name, level };
    });
    parent.append(this.node);
    view.onFrame.push(() => this.place());
  }

  place() {
    const alarms = this.state.sortedAlarms();
    /** @type {Array<{x: number, y: number, w: number}>} */
    const placed = [];
    for (let i = 0; i < POOL; i++) {
      const p = this.pins[i];
      const a = alarms[i];
      const box = a && a.level > 0 ? this.locateBounds(a.asset) : null;
      const at = box ? this.view.project(box.top) : null;
      if (!at) {
        p.pin.hidden = true;
        continue;
      }
      p.pin.hidden = false;
      // Worst alarms are placed first; a later pin that would cover one moves up.
      const step = p.pin.offsetHeight + 4 || 34;
      const width = p.pin.offsetWidth || 200;
      let y = at.y;
      while (placed.some((q) => Math.abs(q.y - y) < step && at.x < q.x + q.w && q.x < at.x + width)) y -= step;
      placed.push({ x: at.x, y, w: width });
      p.pin.style.transform = `translate(${Math.round(at.x)}px, ${Math.round(y)}px)`;
      p.pin.style.setProperty('--level', LEVEL_COLOURS[a.level]);
      p.level.style.background = LEVEL_COLOURS[a.level];
      p.level.style.color = LEVEL_INK[a.level];
      setText(p.level, levelName(this.state, a.level));
      setText(p.name, a.asset);
    }
  }
}
