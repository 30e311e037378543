// The unattended tour (tour=1): when nobody has touched the screen for a while, show
// each open incident in turn, worst first, expanded and framed as a click on its row
// does; or each open alarm when the list shows alarms (list=alarms). Any input stops it
// until the screen is idle again, and it starts again from the worst.
export class Tour {
  /** @param {import('./state.js').TwinState} state
   * @param {{idle: number, every: number, mode: () => string, focus: (alarmId: number) => void, focusIncident: (incidentId: number) => void}} options
   *   seconds idle before it starts and per stop; what the list shows ('incidents' or 'alarms'); what shows an alarm, an incident */
  constructor(state, { idle, every, mode, focus, focusIncident }) {
    this.state = state;
    this.idle = idle * 1000;
    this.every = every * 1000;
    this.mode = mode;
    this.focus = focus;
    this.focusIncident = focusIncident;
    this.lastInput = performance.now();
    this.lastStep = 0;
    this.index = 0;
    this.active = false;
    /** @type {{kind: 'incident' | 'alarm', id: number} | null} the stop shown last */
    this.current = null;
    /** stops shown since the page opened */
    this.stops = 0;
    for (const type of ['pointerdown', 'keydown', 'wheel']) {
      window.addEventListener(type, () => {
        this.lastInput = performance.now();
        this.active = false;
      }, { passive: true, capture: true });
    }
    setInterval(() => this.step(), 1000);
  }

  step() {
    const now = performance.now();
    if (now - this.lastInput < this.idle) return;
    if (this.active && now - this.lastStep < this.every) return;
    /** @type {'incident' | 'alarm'} */
    const kind = this.mode() === 'incidents' ? 'incident' : 'alarm';
    // both as the list orders them: worst first
    const ids = kind === 'incident' ? this.state.sortedIncidents().map((i) => i.id) : this.state.sortedAlarms().map((a) => a.id);
    if (!ids.length) return;
    if (!this.active || this.current?.kind !== kind) this.index = 0;
    this.active = true;
    this.lastStep = now;
    this.index = this.index % ids.length;
    const id = ids[this.index];
    if (kind === 'incident') this.focusIncident(id);
    else this.focus(id);
    this.current = { kind, id };
    this.stops += 1;
    this.index += 1;
  }

  /** What the tour is doing: touring or waiting for the screen to be idle, the stop shown
   * last, stops shown so far. */
  info() {
    return { active: this.active, current: this.current, stops: this.stops };
  }
}
