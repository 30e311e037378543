// The controller's console (console.html, director role): the live exercise's timeline of
// injects, each to fire now, delay or skip; an inject added on the fly (an action, a
// sensor fault, a message to the players); the observers' notes and the messages sent;
// start and stop, and at the end the objectives met and the debrief. Everything it shows
// comes from GET /api/exercise, polled each second; it acts through the exercise routes.
import { el, setText } from './dom.js';
import { lang, w } from '../i18n.js';
import { api, clock, deskPage, describe, moment, poll } from './exercisePage.js';

/** @typedef {import('../protocol.generated.js').ExerciseState} ExerciseState */
/** @typedef {import('../protocol.generated.js').Inject} Inject */
/** @typedef {import('../protocol.generated.js').ActionInfo} ActionInfo */

// -- the head: what runs, its clock, start and stop ---------------------------------------
const page = deskPage('desk_console', 'console-message');
const { root, say } = page;
const stopButton = el('button', { id: 'stop', class: 'danger', onclick: () => stop() }, w('desk_stop'));
const drillSelect = el('select', { id: 'start-drill' });
const startButton = el('button', { id: 'start', onclick: () => start() }, w('desk_start'));
const startBox = el('span', { id: 'start-box', class: 'start' }, [el('label', {}, [w('desk_drillToStart'), ' ', drillSelect]), startButton]);
root.append(el('header', {}, [...page.heading, startBox, stopButton]), page.status);

// -- the timeline of injects --------------------------------------------------------------
const delaySeconds = el('input', { id: 'delay-seconds', type: 'number', min: '1', step: '1', value: '60' });
const injectRows = el('tbody', { id: 'injects' });
root.append(el('section', {}, [
  el('h2', {}, [w('desk_injects'), el('span', { class: 'aside' }, [w('desk_delay'), ' ', delaySeconds, ' ', w('desk_seconds')])]),
  el('table', { class: 'injects' }, [
    el('thead', {}, el('tr', {}, ['#', w('desk_moment'), w('kind'), w('desk_what'), w('state'), w('desk_controls')].map((h) => el('th', {}, h)))),
    injectRows,
  ]),
]));
injectRows.addEventListener('click', (event) => {
  const button = event.target instanceof Element ? event.target.closest('button[data-verb]') : null;
  if (!(button instanceof HTMLButtonElement)) return;
  control(Number(button.dataset.n), /** @type {string} */ (button.dataset.verb));
});

// -- an inject on the fly -----------------------------------------------------------------
const addKind = el('select', { id: 'add-kind' }, ['action', 'fault', 'message'].map((k) => el('option', { value: k }, w(`desk_${k}`))));
const addAt = el('input', { id: 'add-at', type: 'number', min: '0', step: '1', placeholder: w('desk_now') });
const addAction = el('select', { id: 'add-action' });
const addTarget = el('input', { id: 'add-target', type: 'text' });
const addParams = el('span', { id: 'add-params', class: 'params' });
const messageKind = el('select', { id: 'message-kind' }, ['call', 'field_report', 'press', 'other'].map((k) => el('option', { value: k }, w(`msg_${k}`))));
const messageFrom = el('input', { id: 'message-from', type: 'text' });
const messageFromZh = el('input', { id: 'message-from-zh', type: 'text' });
const messageText = el('textarea', { id: 'message-text', rows: 2 });
const messageTextZh = el('textarea', { id: 'message-text-zh', rows: 2 });
const actionFields = el('div', { class: 'fields' }, [
  el('label', {}, [w('desk_actionLabel'), addAction]), el('label', {}, [w('desk_target'), addTarget]), el('label', {}, [w('desk_params'), addParams]),
]);
const messageFields = el('div', { class: 'fields', hidden: true }, [
  el('label', {}, [w('kind'), messageKind]), el('label', {}, [w('desk_from'), messageFrom]), el('label', {}, [w('desk_fromZh'), messageFromZh]),
  el('label', { class: 'wide' }, [w('desk_text'), messageText]), el('label', { class: 'wide' }, [w('desk_textZh'), messageTextZh]),
]);
const addButton = el('button', { id: 'add-inject', onclick: () => addInject() }, w('desk_addButton'));
root.append(el('section', { id: 'add' }, [
  el('h2', {}, w('desk_add')),
  el('div', { class: 'fields' }, [el('label', {}, [w('kind'), addKind]), el('label', {}, [w('desk_at'), addAt])]),
  actionFields, messageFields, addButton,
]));
addKind.addEventListener('change', () => showKind());
addAction.addEventListener('change', () => showParams());

// -- notes, messages, the end ------------------------------------------------------------
const notesList = el('ol', { id: 'notes', class: 'notes' });
const messagesList = el('ol', { id: 'messages', class: 'notes' });
const objectivesList = el('ol', { id: 'objectives', class: 'objectives' });
const debriefLinks = el('p', { id: 'debrief-links' });
const endSection = el('section', { id: 'end', hidden: true }, [el('h2', {}, w('desk_objectives')), objectivesList, debriefLinks]);
const leftList = el('ul', { id: 'left' });
const warningsList = el('ul', { id: 'warnings' });
const leftHead = el('h3', {}, w('desk_left'));
const warningsHead = el('h3', {}, w('desk_warnings'));
const extras = el('section', { id: 'extras', hidden: true }, [leftHead, leftList, warningsHead, warningsList]);
root.append(endSection, el('div', { class: 'columns' }, [
  el('section', {}, [el('h2', {}, w('desk_notes')), notesList]),
  el('section', {}, [el('h2', {}, w('desk_messages')), messagesList]),
]), extras);

/** @type {ActionInfo[]} */
let catalogue = [];
/** @type {ExerciseState | null} */
let current = null;
let shownRows = '';
let shownNotes = '';
let stopArmed = false;

function showKind() {
  const kind = addKind.value;
  messageFields.hidden = kind !== 'message';
  actionFields.hidden = kind === 'message';
  const wanted = catalogue.filter((a) => (kind === 'fault') === (a.target === 'sensor'));
  addAction.replaceChildren(...wanted.map((a) => el('option', { value: a.name, title: a.description }, a.name)));
  addTarget.placeholder = w(kind === 'fault' ? 'desk_sensor' : 'desk_asset');
  showParams();
}

function showParams() {
  const action = catalogue.find((a) => a.name === addAction.value);
  addParams.replaceChildren(...(action?.params ?? []).map((p) => {
    const [lo, hi] = p.valid;
    return el('label', { class: 'param', title: `${p.description} [${lo ?? '-∞'}, ${hi ?? '∞'}] ${p.unit}` }, [
      `${p.name} (${p.unit})`,
      el('input', { type: 'number', step: 'any', 'data-param': p.name, placeholder: p.default === null ? '' : String(p.default) }),
    ]);
  }));
}

async function loadCatalogue() {
  const answer = await api('/api/actions');
  if (answer.ok) {
    catalogue = answer.body.actions;
    showKind();
  }
}

/** @param {ExerciseState} state */
function render(state) {
  current = state;
  const running = state.state === 'running';
  page.show(state);
  stopButton.hidden = !running;
  startBox.hidden = running || state.drills.length === 0;
  if (drillSelect.options.length !== state.drills.length) {
    drillSelect.replaceChildren(...state.drills.map((d) => el('option', { value: d }, d)));
  }
  addButton.disabled = !running;
  renderInjects(state);
  renderNotes(state);
  endSection.hidden = state.state !== 'ended';
  if (state.state === 'ended') {
    objectivesList.replaceChildren(...state.objectives.map((o) => el('li', { dataset: { status: o.status } }, [
      el('b', { class: `status-${o.status.replace(' ', '-')}` }, w(`desk_${o.status.replace(' ', '_')}`)), ` ${o.text} — ${o.detail}`,
    ])));
    debriefLinks.replaceChildren(...Object.entries(state.debrief).map(([language, link]) =>
      el('a', { href: withToken(link), target: '_blank', 'data-lang': language, class: 'debrief-link' }, `${w('desk_debrief')} (${language})`)));
  }
  extras.hidden = !state.left_to_players.length && !state.warnings.length;
  leftList.replaceChildren(...state.left_to_players.map((line) => el('li', {}, line)));
  leftHead.hidden = leftList.hidden = !state.left_to_players.length;
  warningsHead.hidden = warningsList.hidden = !state.warnings.length;
  warningsList.replaceChildren(...state.warnings.map((line) => el('li', {}, line)));
}

/** @param {string} link */
function withToken(link) {
  const token = new URLSearchParams(window.location.search).get('token');
  return token ? `${link}${link.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : link;
}

/** Rows are rebuilt only when an inject changed (a click never lands on a row being
 * replaced); the countdowns are updated in place. @param {ExerciseState} state */
function renderInjects(state) {
  const running = state.state === 'running';
  const signature = JSON.stringify([running, state.injects.map((i) => [i.n, i.state, i.at, i.fired, i.error])]);
  if (signature !== shownRows) {
    shownRows = signature;
    injectRows.replaceChildren(...state.injects.map((i) => injectRow(i, running)));
  }
  for (const i of state.injects) {
    const cell = injectRows.querySelector(`tr[data-inject="${i.n}"] .when`);
    if (cell) setText(cell, whenText(i, state));
  }
}

/** @param {Inject} i @param {ExerciseState} state */
function whenText(i, state) {
  if (i.state === 'pending') return `${w('desk_pending')} · ${w('desk_in')} ${moment(i.at - state.at)}`;
  if (i.state === 'fired') return `${w('desk_fired')} ${moment(i.fired)} · ${i.by === 'on time' ? w('desk_onTime') : i.by}`;
  if (i.state === 'failed') return `${w('desk_failed')}: ${i.error}`;
  return w(`desk_${i.state}`);
}

/** @param {Inject} i @param {boolean} running */
function injectRow(i, running) {
  const controls = running && i.state === 'pending'
    ? ['fire', 'delay', 'skip'].map((verb) => el('button', { class: verb, dataset: { verb, n: i.n } }, w(`desk_${verb}`)))
    : [];
  return el('tr', { dataset: { inject: i.n, state: i.state, kind: i.kind } }, [
    el('td', { class: 'num' }, i.n),
    el('td', { class: 'num' }, [moment(i.at), i.at !== i.planned ? el('small', {}, ` (${w('desk_planned')} ${moment(i.planned)})`) : null]),
    el('td', {}, w(`desk_${i.kind}`)),
    el('td', { class: 'what' }, [describe(i), el('small', { class: 'source' }, ` ${i.source}`)]),
    el('td', { class: 'when' }, ''),
    el('td', { class: 'controls' }, controls),
  ]);
}

/** @param {ExerciseState} state */
function renderNotes(state) {
  const signature = JSON.stringify([state.notes.length, state.messages.length]);
  if (signature === shownNotes) return;
  shownNotes = signature;
  notesList.replaceChildren(...(state.notes.length ? [...state.notes].reverse().map((n) => el('li', { dataset: { n: n.n } }, [
    el('span', { class: 'num' }, moment(n.at)), el('b', {}, n.who), ` ${n.text}`,
  ])) : [el('li', { class: 'empty' }, w('desk_noNotes'))]));
  messagesList.replaceChildren(...(state.messages.length ? [...state.messages].reverse().map((m) => el('li', { dataset: { n: m.n } }, [
    el('span', { class: 'num' }, clock(m.time)), el('b', {}, `${w(`msg_${m.kind}`)} · ${(lang === 'zh-CN' && m.from_zh) || m.from}`),
    ` ${(lang === 'zh-CN' && m.text_zh) || m.text}`,
  ])) : [el('li', { class: 'empty' }, w('desk_noMessages'))]));
}

// -- acting ----------------------------------------------------------------------------------
/** @param {number} n @param {string} verb */
async function control(n, verb) {
  const body = verb === 'delay' ? { seconds: Number(delaySeconds.value) } : {};
  const answer = await api(`/api/exercise/injects/${n}/${verb}`, body);
  say(answer.ok ? `#${n}: ${w(`desk_${verb}`)} — ${w('desk_done')}` : `#${n}: ${answer.error}`, !answer.ok);
  await refresh();
}

async function addInject() {
  const kind = addKind.value;
  /** @type {Record<string, any>} */
  const body = { kind };
  if (addAt.value.trim() !== '') body.at = Number(addAt.value);
  if (kind === 'message') {
    body.message = { kind: messageKind.value, from: messageFrom.value.trim(), text: messageText.value.trim() };
    if (messageFromZh.value.trim()) body.message.from_zh = messageFromZh.value.trim();
    if (messageTextZh.value.trim()) body.message.text_zh = messageTextZh.value.trim();
  } else {
    body.action = addAction.value;
    body.target = addTarget.value.trim();
    /** @type {Record<string, number>} */
    const params = {};
    for (const input of addParams.querySelectorAll('input[data-param]')) {
      const field = /** @type {HTMLInputElement} */ (input);
      if (field.value.trim() !== '') params[/** @type {string} */ (field.dataset.param)] = Number(field.value);
    }
    body.params = params;
  }
  const answer = await api('/api/exercise/injects', body);
  say(answer.ok ? `#${answer.body.n}: ${describe(answer.body)}` : answer.error, !answer.ok);
  await refresh();
}

async function start() {
  const answer = await api('/api/exercise', { name: drillSelect.value });
  say(answer.ok ? `${w('desk_running')}: ${answer.body.drill}` : answer.error, !answer.ok);
  await refresh();
}

async function stop() {
  // two clicks: stopping ends the exercise for everyone and cannot be undone
  if (!stopArmed) {
    stopArmed = true;
    setText(stopButton, w('desk_stopConfirm'));
    setTimeout(() => { stopArmed = false; setText(stopButton, w('desk_stop')); }, 5000);
    return;
  }
  stopArmed = false;
  setText(stopButton, w('desk_stop'));
  const answer = await api('/api/exercise/stop', {});
  say(answer.ok ? `${w('desk_ended')}` : answer.error, !answer.ok);
  await refresh();
}

const poller = poll(render, (error) => say(error, true));
const refresh = () => poller.refresh();
loadCatalogue();

// read-only, for tests and diagnostics: the state last shown
Object.defineProperty(window, '__console', { value: Object.freeze({ state: () => current }), writable: false });
