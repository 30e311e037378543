// Title, mode, the twin's clock (local time of the scene's zone for a live twin, else
// simulated time) and sequence number, and the connection state.
import { el, setText } from './dom.js';
import { clockZone, dateClock, lang, t } from '../i18n.js';

export class TopBar {
  /** @param {HTMLElement} parent */
  constructor(parent) {
    this.title = el('h1', { class: 'title' });
    this.mode = el('span', { class: 'mode' });
    this.time = el('span', { id: 'clock', class: 'clock' });
    this.timeLabel = el('span', { id: 'clock-label', class: 'label' }, t('simTime'));
    this.seq = el('span', { id: 'seq', class: 'seq' });
    this.node = el('header', { class: 'topbar' }, [
      this.title,
      el('div', { class: 'clockbox' }, [this.mode, this.timeLabel, this.time, el('span', { class: 'label' }, t('seq')), this.seq]),
    ]);
    parent.append(this.node);
  }

  /** @param {import('../protocol.generated.js').Hello} h */
  hello(h) {
    setText(this.title, (lang === 'zh-CN' && h.title_zh) || h.title || h.scene);
    this.setMode(h.mode);
    const zone = clockZone();
    setText(this.timeLabel, zone ? `${t('localTime')} (${zone})` : t('simTime'));
    document.title = `${this.title.textContent} · Lifeline Twin`;
  }

  /** @param {string} mode */
  setMode(mode) {
    setText(this.mode, mode === 'live' ? t('live_mode') : mode === 'replay' ? t('replay_mode') : mode.toUpperCase());
    this.mode.dataset.mode = mode;
  }

  /** @param {import('../state.js').TwinState} state */
  update(state) {
    setText(this.time, dateClock(state.time));
    setText(this.seq, state.seq);
  }
}
