// The WebSocket to /ws: subprotocol lifeline-twin.v1, Subscribe once the Hello is in,
// and on any close a reconnect with exponential backoff that resumes with
// since = the last seq applied. Callers see status changes through onStatus.
import { useLevelThresholds } from './levels.js';
import { CLIENT_MESSAGES, SUBPROTOCOL } from './protocol.generated.js';
import { account, perfStats } from './perf.js';
import { decodeFrame, encodeClient } from './wire.js';

/** @typedef {import('./state.js').TwinState} TwinState */
/** @typedef {import('./protocol.generated.js').Hello} Hello */
/** @typedef {import('./protocol.generated.js').Subscribe} Subscribe */
/** @typedef {import('./protocol.generated.js').ClientMessages} ClientMessages */
/** @typedef {{connected: boolean, everConnected: boolean, attempt: number, retryIn: number, reason: string, reconnects: number}} ConnectionStatus */

const FIRST_DELAY = 0.5;
const MAX_DELAY = 8;

export class Connection {
  /**
   * @param {string} url @param {TwinState} state
   * @param {{onStatus?: (status: ConnectionStatus) => void, onHello?: (hello: Hello) => void, follow?: string}} [options]
   */
  constructor(url, state, { onStatus = () => {}, onHello = () => {}, follow = '' } = {}) {
    this.follow = follow; // the camera channel every Subscribe follows ('' none)
    this.url = url;
    this.state = state;
    this.onStatus = onStatus;
    this.onHello = onHello;
    /** @type {WebSocket | null} */
    this.ws = null;
    this.delay = FIRST_DELAY;
    this.attempt = 0;
    this.reconnects = 0;
    this.connected = false;
    this.everConnected = false;
    this.retryAt = 0;
    this.lastClose = '';
    /** @type {number | null} */
    this.lastSince = null;
    this.nextRequest = 1;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
  }

  connect() {
    clearTimeout(this.timer);
    this.attempt += 1;
    let ws;
    try {
      ws = new WebSocket(this.url, [SUBPROTOCOL]);
    } catch (err) {
      this.lastClose = String(err);
      this.scheduleRetry();
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onmessage = (event) => this.receive(event.data);
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.connected = false;
      this.lastClose = event.reason || (event.code === 1006 ? 'connection lost' : `closed (${event.code})`);
      this.scheduleRetry();
    };
    ws.onerror = () => {};
  }

  /** @param {unknown} data a message of the socket (binary frames are ArrayBuffers) */
  receive(data) {
    if (!(data instanceof ArrayBuffer)) return;
    const started = performance.now();
    const frame = decodeFrame(data);
    if (frame.name === 'Hello') {
      const hello = frame.header;
      // A server whose seq is behind ours restarted: its seq counts a new run, so
      // resuming from ours would be wrong; ask for a snapshot instead.
      // When the protocol names the run (an epoch), the server decides instead.
      const withEpoch = CLIENT_MESSAGES.Subscribe.fields.includes('epoch');
      const previousEpoch = this.state.hello?.epoch ?? null;
      const sameRun = withEpoch ? true : hello.seq >= this.state.seq;
      const since = this.state.seq >= 0 && sameRun ? this.state.seq : null;
      this.state.apply(frame);
      useLevelThresholds(hello.level_thresholds);
      this.onHello(hello);
      this.lastSince = since;
      /** @type {Partial<Subscribe>} */
      const fields = since === null ? {} : { since };
      if (withEpoch && since !== null && previousEpoch !== null) fields.epoch = previousEpoch;
      if (this.follow) fields.follow = this.follow;
      this.send('Subscribe', fields);
      this.connected = true;
      if (this.everConnected) this.reconnects += 1;
      this.everConnected = true;
      this.delay = FIRST_DELAY;
      this.attempt = 0;
      this.onStatus(this.status());
      return;
    }
    if (!this.state.apply(frame)) {
      // A delta that does not follow our seq: resubscribe from what we have.
      this.send('Subscribe', this.follow ? { since: this.state.seq, follow: this.follow } : { since: this.state.seq });
    } else if (frame.name === 'Snapshot' || frame.name === 'Delta') {
      if (frame.name === 'Delta') account(perfStats.deltaApply, performance.now() - started);
      // Confirm what we applied: the server then sends the next delta only once this one
      // is read here, merging the ticks between. The browser reads every frame off the
      // socket into its own queue at once, so without this a page too busy to keep up
      // would fall behind by that whole queue, unseen by the server's socket accounting.
      this.send('Confirm', { seq: this.state.seq });
    }
  }

  /** @template {keyof ClientMessages} N
   * @param {N} name @param {Partial<Omit<ClientMessages[N], 'type'>>} fields @returns {boolean} */
  send(name, fields) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(encodeClient(name, fields));
    return true;
  }

  /** Send a request message; returns its request number (or 0 if not connected).
   * @template {'AlarmAction' | 'ReplayControl' | 'Ping'} N
   * @param {N} name @param {Omit<ClientMessages[N], 'type' | 'request'>} fields @returns {number} */
  request(name, fields) {
    const request = this.nextRequest++;
    return this.send(name, /** @type {Partial<Omit<ClientMessages[N], 'type'>>} */ ({ ...fields, request })) ? request : 0;
  }

  scheduleRetry() {
    const wait = Math.min(this.delay, MAX_DELAY) * (0.8 + 0.4 * Math.random());
    this.delay = Math.min(this.delay * 2, MAX_DELAY);
    this.retryAt = performance.now() + wait * 1000;
    this.timer = setTimeout(() => this.connect(), wait * 1000);
    this.onStatus(this.status());
  }

  /** @returns {ConnectionStatus} */
  status() {
    return {
      connected: this.connected, everConnected: this.everConnected, attempt: this.attempt,
      retryIn: Math.max(0, (this.retryAt - performance.now()) / 1000), reason: this.lastClose,
      reconnects: this.reconnects,
    };
  }
}
