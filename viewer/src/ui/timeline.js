// The timeline. Live: a bar of simulation time and the "now" marker; the replay
// controls stay disabled with the reason. Replay (the Hello's mode is "replay"): play
// and pause, a track to seek by dragging or clicking (the time shows under the finger
// while dragging; the seek is sent on release), the speed (0.25x to 64x), the alarm
// raises and escalations as marks coloured by level with their level's name, and
// "run live from here" (branch). Every screen follows the server's ReplayState; the
// controls are a director's: below that role they are disabled and say why. A branch's
// re-run warnings (recorded actions it could not repeat) stay on screen until dismissed.
import { el, setText } from './dom.js';
import { clock, t } from '../i18n.js';
import { LEVEL_COLOURS, LEVEL_INK } from '../levels.js';
import { levelName } from './labels.js';

/** @typedef {import('../protocol.generated.js').ReplayState} ReplayState */
/** @typedef {import('../protocol.generated.js').ReplayControl['action']} ReplayAction */

export const SPEEDS = [0.25, 0.5, 1, 2, 4, 8, 16, 32, 64];
const ROLES = ['viewer', 'operator', 'director', 'admin'];
/** marks closer than this many CSS pixels merge into one (the worst level shows) */
const MARK_PX = 34;
const CONFIRM_MS = 5000;

/** @param {number} s */
function speedLabel(s) {
  return `${s}×`;
}

export class Timeline {
  /** send(action, fields) -> Promise<{ok, error}>: a ReplayControl to the server
   * @param {HTMLElement} parent @param {import('../state.js').TwinState} state @param {{send: (action: ReplayAction, fields?: {time?: number, speed?: number}) => Promise<{ok: boolean, error: string, warnings?: string[]}>}} handlers */
  constructor(parent, state, { send }) {
    this.state = state;
    this.send = send;
    this.mode = 'live';
    /** @type {{time: number} | null} while the director drags the track */
    this.drag = null;
    this.confirmUntil = 0;
    this.marksKey = '';

    this.play = el('button', { id: 'replay-play', class: 'replay play', disabled: true, onclick: () => this.togglePlay() }, '▶');
    this.speed = el('select', { id: 'replay-speed', class: 'replay speed', disabled: true, 'aria-label': t('speed'), onchange: () => this.setSpeed() },
      SPEEDS.map((s) => el('option', { value: String(s) }, speedLabel(s))));
    this.speed.value = '1';
    this.start = el('span', { class: 'start' }, '00:00:00');
    this.end = el('span', { class: 'end' });
    this.fill = el('div', { class: 'fill' });
    this.handle = el('div', { class: 'handle', hidden: true });
    this.marks = el('div', { class: 'marks' });
    this.track = el('div', { id: 'replay-track', class: 'track', title: t('replayLiveOnly'), role: 'slider', 'aria-label': t('seek') },
      [this.fill, this.marks, this.handle]);
    this.dragLabel = el('div', { id: 'replay-drag', class: 'drag-time', hidden: true });
    this.now = el('span', { id: 'replay-time', class: 'now' });
    this.branch = el('button', { id: 'replay-branch', class: 'replay branch', disabled: true, onclick: () => this.branchClicked() }, t('branch'));
    this.reason = el('div', { id: 'replay-reason', class: 'replay-reason', hidden: true, role: 'note' });
    this.message = el('span', { id: 'replay-message', class: 'replay-message', role: 'status' });
    this.noticeList = el('ul', { class: 'replay-notice-list' });
    this.notice = el('div', { id: 'replay-notice', class: 'replay-notice', role: 'alert', hidden: true }, [
      el('button', { class: 'replay-notice-dismiss', title: t('messageDismiss'), 'aria-label': t('messageDismiss'),
        onclick: () => this.showWarnings([]) }, '×'),
      el('span', {}, t('branchWarnings')), this.noticeList,
    ]);
    this.node = el('footer', { class: 'timeline', 'aria-label': 'timeline' }, [
      this.play, this.speed, this.start,
      el('div', { class: 'trackbox' }, [this.track, this.dragLabel]),
      this.end, this.now, this.branch, this.reason, this.message, this.notice,
    ]);
    parent.append(this.node);
    this.track.addEventListener('pointerdown', (e) => this.pointerDown(e));
    this.track.addEventListener('pointermove', (e) => this.pointerMove(e));
    this.track.addEventListener('pointerup', (e) => this.pointerUp(e));
    this.track.addEventListener('pointercancel', () => this.endDrag());
    this.disable(t('replayLiveOnly'));
    window.addEventListener('resize', () => { if (this.state.replay) this.renderMarks(this.state.replay); });
  }

  // -- what the server says -----------------------------------------------------------
  /** The Hello's mode: "live" or "replay".
   * @param {string} mode */
  setMode(mode) {
    this.mode = mode;
    document.body.classList.toggle('replaying', mode === 'replay');
    if (mode !== 'replay') {
      this.drag = null;
      this.dragLabel.hidden = true;
      this.handle.hidden = true;
      this.marks.replaceChildren();
      this.marksKey = '';
      setText(this.end, '');
      this.disable(t('replayLiveOnly'));
    } else {
      this.handle.hidden = false;
      this.applyRole();
    }
    this.update();
  }

  /** Why this screen may not control the replay ('' when it may). */
  denied() {
    const role = this.state.hello?.role || 'viewer';
    return ROLES.indexOf(role) >= ROLES.indexOf('director') ? '' : `${t('needDirector')} ${role}`;
  }

  applyRole() {
    const reason = this.mode === 'replay' ? this.denied() : t('replayLiveOnly');
    if (reason) this.disable(reason);
    else {
      for (const c of [this.play, this.speed, this.branch]) {
        c.disabled = false;
        c.removeAttribute('title');
      }
      this.track.classList.add('enabled');
      this.track.title = t('seekHint');
      this.reason.hidden = true;
      this.play.title = t('play');
      this.branch.title = t('branchHint');
    }
  }

  /** @param {string} reason */
  disable(reason) {
    for (const c of [this.play, this.speed, this.branch]) {
      c.disabled = true;
      c.title = reason;
    }
    this.track.classList.remove('enabled');
    this.track.title = reason;
    setText(this.reason, reason);
    this.reason.hidden = this.mode !== 'replay'; // live: the tooltip says it; replay: in words too
  }

  /** A ReplayState: playing, speed, start, end, marks (time may lag the deltas').
   * @param {ReplayState} r */
  replay(r) {
    if (this.mode !== 'replay') this.setMode('replay');
    setText(this.play, r.playing ? '❚❚' : '▶');
    this.play.dataset.playing = r.playing ? '1' : '0';
    this.play.setAttribute('aria-label', r.playing ? t('pause') : t('play'));
    if (!this.play.disabled) this.play.title = r.playing ? t('pause') : t('play');
    if (document.activeElement !== this.speed) this.speed.value = String(r.speed);
    if (this.speed.value !== String(r.speed)) { // a speed not in the list: show it anyway
      this.speed.append(el('option', { value: String(r.speed) }, speedLabel(r.speed)));
      this.speed.value = String(r.speed);
    }
    setText(this.start, clock(r.start));
    setText(this.end, clock(r.end));
    this.renderMarks(r);
    this.update();
  }

  /** After every snapshot and delta: the clock and the bar. */
  update() {
    const time = this.state.time;
    if (this.mode !== 'replay' || !this.state.replay) {
      setText(this.now, `${clock(time)} ● ${t('live_mode')}`);
      this.fill.style.width = '100%';
      return;
    }
    const r = this.state.replay;
    const shown = this.drag ? this.drag.time : time;
    const f = this.fraction(shown);
    this.fill.style.width = `${(f * 100).toFixed(3)}%`;
    this.handle.style.left = `${(f * 100).toFixed(3)}%`;
    setText(this.now, `${clock(time)} ● ${r.playing ? speedLabel(r.speed) : t('paused')}`);
  }

  /** @param {number} time */
  fraction(time) {
    const r = this.state.replay;
    if (!r || !(r.end > r.start)) return 0;
    return Math.min(1, Math.max(0, (time - r.start) / (r.end - r.start)));
  }

  /** @param {ReplayState} r */
  renderMarks(r) {
    const slots = Math.max(4, Math.floor((this.track.clientWidth || 800) / MARK_PX));
    const key = `${r.start}:${r.end}:${r.marks.length}:${slots}`;
    if (key === this.marksKey) return;
    this.marksKey = key;
    // Marks closer than a slot merge: the worst level shows, the tooltip lists them all.
    const buckets = new Map();
    for (const [time, level] of r.marks) {
      const b = Math.round(this.fraction(time) * slots);
      const m = buckets.get(b) || { time, level: 0, items: [] };
      m.level = Math.max(m.level, level);
      m.items.push(`${clock(time)} ${levelName(this.state, level)}`);
      buckets.set(b, m);
    }
    const nodes = [...buckets.values()].map((m) => {
      const name = levelName(this.state, m.level);
      const tip = m.items.join('\n');
      return el('button', {
        class: `mark level-${m.level}`, tabindex: -1, title: tip, 'aria-label': tip,
        dataset: { level: m.level, time: m.time, count: m.items.length },
        style: { left: `${(this.fraction(m.time) * 100).toFixed(3)}%`, background: LEVEL_COLOURS[m.level], color: LEVEL_INK[m.level] },
      }, el('span', { class: 'mark-text' }, shortLevel(name, m.level)));
    });
    this.marks.replaceChildren(...nodes);
  }

  // -- the director's controls -------------------------------------------------------
  /** @param {ReplayAction} action @param {{time?: number, speed?: number}} [fields] */
  async control(action, fields = {}) {
    setText(this.message, '…');
    const result = await this.send(action, fields);
    setText(this.message, result.ok ? '' : `${t('failed')}: ${result.error}`);
    this.message.classList.toggle('error', !result.ok);
    return result;
  }

  togglePlay() {
    const playing = this.state.replay?.playing;
    this.control(playing ? 'pause' : 'play');
  }

  setSpeed() {
    this.control('speed', { speed: Number(this.speed.value) });
    this.speed.blur();
  }

  branchClicked() {
    const now = performance.now();
    if (now > this.confirmUntil) { // a wall is touched by accident: ask once more
      this.confirmUntil = now + CONFIRM_MS;
      setText(this.branch, `${t('branchConfirm')} ${clock(this.state.time)}?`);
      this.branch.classList.add('confirm');
      setTimeout(() => this.resetBranch(), CONFIRM_MS);
      return;
    }
    this.resetBranch();
    this.control('branch').then((result) => this.showWarnings(result.ok ? result.warnings || [] : []));
  }

  /** Show a branch's re-run warnings (none: hide them); they stay until dismissed, the
   * controls having gone live under them.
   * @param {string[]} warnings */
  showWarnings(warnings) {
    this.noticeList.replaceChildren(...warnings.map((w) => el('li', {}, w)));
    this.notice.hidden = warnings.length === 0;
  }

  resetBranch() {
    this.confirmUntil = 0;
    setText(this.branch, t('branch'));
    this.branch.classList.remove('confirm');
  }

  /** The recording's time under a screen x, or null when there is no replay (any more:
   * a branch may end it while a finger is on the track).
   * @param {number} clientX @returns {number | null} */
  timeAt(clientX) {
    const r = this.state.replay;
    if (!r) return null;
    const rect = this.track.getBoundingClientRect();
    const f = Math.min(1, Math.max(0, (clientX - rect.left) / rect.width));
    return r.start + f * (r.end - r.start);
  }

  /** @param {PointerEvent} e */
  pointerDown(e) {
    const time = this.mode === 'replay' && !this.denied() ? this.timeAt(e.clientX) : null;
    if (time === null) return;
    e.preventDefault();
    this.track.setPointerCapture?.(e.pointerId);
    this.drag = { time };
    this.showDrag(e.clientX);
  }

  /** @param {PointerEvent} e */
  pointerMove(e) {
    if (!this.drag) return;
    const time = this.timeAt(e.clientX);
    if (time === null) return this.endDrag();
    this.drag.time = time;
    this.showDrag(e.clientX);
  }

  /** @param {PointerEvent} e */
  pointerUp(e) {
    if (!this.drag) return;
    const time = this.timeAt(e.clientX);
    this.endDrag();
    if (time !== null) this.control('seek', { time });
  }

  endDrag() {
    this.drag = null;
    this.dragLabel.hidden = true;
    this.track.classList.remove('dragging');
    this.update();
  }

  /** @param {number} clientX */
  showDrag(clientX) {
    if (!this.drag) return;
    const rect = this.track.getBoundingClientRect();
    setText(this.dragLabel, clock(this.drag.time));
    this.dragLabel.style.left = `${Math.min(Math.max(clientX - rect.left, 0), rect.width)}px`;
    this.dragLabel.hidden = false;
    this.track.classList.add('dragging');
    this.update();
  }

  /** For tests and diagnostics: what the timeline shows. */
  info() {
    const r = this.state.replay;
    return {
      mode: this.mode, playing: r?.playing ?? false, speed: r?.speed ?? null, start: r?.start ?? null, end: r?.end ?? null,
      time: this.state.time, dragging: this.drag ? this.drag.time : null, marks: r?.marks.length ?? 0,
      canControl: this.mode === 'replay' && !this.denied(), reason: this.reason.hidden ? '' : this.reason.textContent ?? '',
    };
  }
}

/** A mark's text: the roman numeral of its level name ("Orange (II)" -> "II"; 橙色预警 -> 橙).
 * @param {string} name @param {number} level */
function shortLevel(name, level) {
  const roman = /\(([IVX]+)\)/.exec(name);
  if (roman) return roman[1];
  return name ? name[0] : String(level);
}
