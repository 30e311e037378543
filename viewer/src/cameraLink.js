// Camera channels (wall mode): ?lead=wall1 sends this screen's camera to the server
// (CameraUpdate, at most every 150 ms, when it moved, and once more when it comes to rest); ?follow=wall1 shows the
// camera of that channel as the server relays it (Camera), gliding to each one, with
// this screen's own orbit controls off and a badge saying whom it follows.
import { t } from './i18n.js';

const SEND_EVERY_MS = 150; // the server ignores updates closer than 100 ms apart
const MOVED = 1e-3; // metres: less is not a move
const SETTLE_MS = 500;

export class CameraLink {
  /** @param {import('./view3d.js').View3D} view @param {import('./state.js').TwinState} state @param {import('./connection.js').Connection} connection @param {HTMLElement} ui @param {{lead?: string, follow?: string}} [channels] */
  constructor(view, state, connection, ui, { lead = '', follow = '' } = {}) {
    this.view = view;
    this.connection = connection;
    this.lead = lead;
    this.follow = follow;
    this.sent = null; // [px, py, pz, tx, ty, tz] last sent
    this.sentAt = 0;
    this.settled = true;
    this.received = 0;
    if (lead) {
      state.on('hello', () => { this.sent = null; }); // a restarted server has forgotten the channel
      setInterval(() => this.send(), SEND_EVERY_MS);
    }
    if (follow) {
      view.setFollowing(true);
      state.on('camera', (c) => {
        if (c.channel !== follow) return;
        this.received += 1;
        view.glideTo(c.position, c.target);
      });
      this.badge = document.createElement('div');
      this.badge.className = 'follow-badge';
      this.badge.textContent = `${t('following')} ${follow}`;
      ui.appendChild(this.badge);
    }
  }

  send() {
    if (!this.connection.connected) return;
    const p = this.view.camera.position;
    const q = this.view.controls.target;
    const now = [p.x, p.y, p.z, q.x, q.y, q.z];
    const sent = this.sent;
    const moved = !sent || now.some((v, i) => Math.abs(v - sent[i]) >= MOVED);
    // Once the camera has come to rest, its last place goes once more: an update the
    // server ignored (under 0.1 s after the previous) must not leave followers behind.
    const settle = !moved && !this.settled && performance.now() - this.sentAt > SETTLE_MS;
    if (!moved && !settle) return;
    if (this.connection.send('CameraUpdate', { channel: this.lead, position: [now[0], now[1], now[2]], target: [now[3], now[4], now[5]] })) {
      this.sent = now;
      this.sentAt = performance.now();
      this.settled = settle;
    }
  }
}
