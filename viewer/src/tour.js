// The alarm tour (tour=1): when nobody has touched the screen for a while, fly to each
// open alarm in turn, worst first. Any input stops it until the screen is idle again.
export class Tour {
  /** @param {import('./state.js').TwinState} state @param {{idle: number, every: number, focus: (alarmId: number) => void}} options seconds idle before it starts and per alarm; what shows an alarm */
  constructor(state, { idle, every, focus }) {
    this.state = state;
    this.idle = idle * 1000;
    this.every = every * 1000;
    this.focus = focus;
    this.lastInput = performance.now();
    this.lastStep = 0;
    this.index = 0;
    this.active = false;
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
    const alarms = this.state.sortedAlarms();
    if (!alarms.length) return;
    this.active = true;
    this.lastStep = now;
    this.index = this.index % alarms.length;
    this.focus(alarms[this.index].id);
    this.index += 1;
  }
}
