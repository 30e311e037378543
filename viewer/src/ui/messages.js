// A live exercise's messages to the players (protocol ExerciseMessage: a resident's
// call, a field report, a press enquiry): a banner on the wall when one comes, and the
// feed under the alarm list. A screen that connects late reads those already sent from
// GET /api/exercise/messages; the banner is for news only.
import './messages.css';
import { el, setText } from './dom.js';
import { clock, lang, t } from '../i18n.js';
import { fetchJson } from '../params.js';

/** @typedef {import('../protocol.generated.js').ExerciseMessage} ExerciseMessage */

/** how long a banner stays (ms) unless dismissed or replaced */
const BANNER_MS = 45000;
/** the feed keeps this many, newest first */
const MAX_FEED = 30;

/** Who a message is from and what it says, in the screen's language where given.
 * @param {ExerciseMessage} m */
function words(m) {
  const zh = lang === 'zh-CN';
  return { sender: (zh && m.from_zh) || m.from, text: (zh && m.text_zh) || m.text };
}

export class Messages {
  /** @param {HTMLElement} ui the page's overlay (the banner's parent)
   * @param {HTMLElement} panel the alarm list's panel (the feed's parent)
   * @param {import('../state.js').TwinState} state */
  constructor(ui, panel, state) {
    /** @type {Map<number, ExerciseMessage>} by inject number, in order of arrival */
    this.held = new Map();
    this.kind = el('b', { class: 'message-kind' });
    this.sender = el('span', { class: 'message-from' });
    this.text = el('span', { class: 'message-text' });
    this.banner = el('div', { id: 'message-banner', class: 'message-banner', role: 'status', hidden: true }, [
      el('div', { class: 'message-head' }, [this.kind, ' ', this.sender,
        el('button', { class: 'message-dismiss', title: t('messageDismiss'), onclick: () => this.hide() }, '×')]),
      this.text,
    ]);
    ui.append(this.banner);
    this.list = el('ol', { id: 'message-feed', class: 'message-feed' });
    this.feed = el('section', { class: 'feed', hidden: true }, [el('h2', {}, t('messagesFeed')), this.list]);
    panel.append(this.feed);
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
    state.on('message', (m) => this.receive(m, true));
    state.on('hello', () => this.catchUp());
    // a replay's seek: the feed holds what had been sent by the moment sought, no more
    state.on('state', ({ snapshot }) => {
      if (snapshot && state.hello?.mode === 'replay') this.catchUp(true);
    });
  }

  /** Take the messages already sent (after each Hello: a new screen, a reconnect);
   * ``replace``: those only, forgetting the others (a replay sought back).
   * @param {boolean} [replace] */
  async catchUp(replace = false) {
    try {
      /** @type {{messages: ExerciseMessage[]}} */
      const answer = await fetchJson('/api/exercise/messages');
      if (replace) {
        const kept = new Set(answer.messages.map((m) => m.n));
        for (const n of [...this.held.keys()]) if (!kept.has(n)) this.held.delete(n);
        if (!this.banner.hidden && !kept.has(Number(this.banner.dataset.n))) this.hide();
        this.render();
      }
      for (const m of answer.messages) this.receive(m, false);
    } catch { /* a server without exercises, or disconnected: nothing to catch up */ }
  }

  /** @param {ExerciseMessage} m @param {boolean} news show the banner (a message that just came) */
  receive(m, news) {
    if (this.held.has(m.n)) return;
    this.held.set(m.n, m);
    this.render();
    if (news) this.show(m);
  }

  /** @param {ExerciseMessage} m */
  show(m) {
    const { sender, text } = words(m);
    setText(this.kind, t(`msg_${m.kind}`));
    setText(this.sender, `${t('messageFrom')} ${sender} · ${clock(m.time)}`);
    setText(this.text, text);
    this.banner.dataset.kind = m.kind;
    this.banner.dataset.n = String(m.n);
    this.banner.hidden = false;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.hide(), BANNER_MS);
  }

  hide() {
    clearTimeout(this.timer);
    this.banner.hidden = true;
  }

  render() {
    const newest = [...this.held.values()].sort((a, b) => b.time - a.time || b.n - a.n).slice(0, MAX_FEED);
    this.feed.hidden = newest.length === 0;
    this.list.replaceChildren(...newest.map((m) => {
      const { sender, text } = words(m);
      return el('li', { class: `message kind-${m.kind}`, dataset: { n: m.n } }, [
        el('span', { class: 'since' }, clock(m.time)),
        el('span', {}, [el('b', {}, `${t(`msg_${m.kind}`)} · ${sender}`), el('span', { class: 'message-text' }, text)]),
      ]);
    }));
  }
}
