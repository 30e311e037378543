// The timeline: live now (a bar of simulation time since the run started, and the
// "now" marker). Replay controls are in place and disabled until replay exists.
import { el, setText } from './dom.js';
import { clock, t } from '../i18n.js';

export class Timeline {
  constructor(parent) {
    const disabled = (label) => el('button', { class: 'replay', disabled: true, title: t('replaySoon') }, label);
    this.fill = el('div', { class: 'fill' });
    this.now = el('span', { class: 'now' });
    this.start = el('span', { class: 'start' }, '00:00:00');
    this.node = el('footer', { class: 'timeline', 'aria-label': 'timeline' }, [
      disabled('▶'), disabled('❚❚'), disabled('1×'),
      this.start,
      el('div', { class: 'track', title: t('replaySoon') }, [this.fill]),
      this.now,
    ]);
    parent.append(this.node);
  }

  update(state) {
    setText(this.now, `${clock(state.time)} ● ${t('live_mode')}`);
    this.fill.style.width = '100%';
  }
}
