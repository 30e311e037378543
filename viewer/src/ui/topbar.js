// Title, mode, simulation clock and sequence number, and the connection state.
import { el, setText } from './dom.js';
import { clock, lang, t } from '../i18n.js';

export class TopBar {
  constructor(parent) {
    this.title = el('h1', { class: 'title' });
    this.mode = el('span', { class: 'mode' });
    this.time = el('span', { id: 'clock', class: 'clock' });
    this.seq = el('span', { id: 'seq', class: 'seq' });
    this.node = el('header', { class: 'topbar' }, [
      this.title,
      el('div', { class: 'clockbox' }, [this.mode, el('span', { class: 'label' }, t('simTime')), this.time, el('span', { class: 'label' }, t('seq')), this.seq]),
    ]);
    parent.append(this.node);
  }

  hello(h) {
    setText(this.title, (lang === 'zh-CN' && h.title_zh) || h.title || h.scene);
    this.setMode(h.mode);
    document.title = `${this.title.textContent} · Lifeline Twin`;
  }

  setMode(mode) {
    setText(this.mode, mode === 'live' ? t('live_mode') : mode === 'replay' ? t('replay_mode') : mode.toUpperCase());
    this.mode.dataset.mode = mode;
  }

  update(state) {
    setText(this.time, clock(state.time));
    setText(this.seq, state.seq);
  }
}
