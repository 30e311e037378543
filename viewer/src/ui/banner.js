// The banner a room sees when this screen lost the twin: what happened and when the
// next try is. Hidden while connected.
import { el, setText } from './dom.js';
import { t } from '../i18n.js';

export class Banner {
  /** @param {HTMLElement} parent @param {import('../connection.js').Connection} connection */
  constructor(parent, connection) {
    this.connection = connection;
    this.node = el('div', { id: 'banner', class: 'banner', role: 'alert', hidden: true });
    this.title = el('strong');
    this.detail = el('span');
    this.node.append(this.title, this.detail);
    parent.append(this.node);
    setInterval(() => this.render(), 500);
  }

  render() {
    const s = this.connection.status();
    const show = !s.connected;
    this.node.hidden = !show;
    document.body.classList.toggle('offline', show);
    if (!show) return;
    setText(this.title, s.everConnected ? t('disconnected') : t('connecting'));
    setText(this.detail, s.reason ? ` — ${s.reason}; ${t('reconnecting')} ${Math.ceil(s.retryIn)} s (${t('attempt')} ${s.attempt})` : '');
  }
}
