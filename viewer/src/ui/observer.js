// The observers' page (observer.html, observer role): note what you see during a live
// exercise, each note timestamped by the server with the twin's clock and the exercise's
// moment (POST /api/exercise/notes); every observer's notes and the injects so far, from
// GET /api/exercise polled each second. An observer may only note: no control here.
import { el } from './dom.js';
import { w } from '../i18n.js';
import { api, clock, deskPage, describe, moment, poll } from './exercisePage.js';

/** @typedef {import('../protocol.generated.js').ExerciseState} ExerciseState */

const page = deskPage('desk_observer', 'observer-message');
const { root, say } = page;
const text = el('textarea', { id: 'note-text', rows: 4, placeholder: w('desk_note') });
const add = el('button', { id: 'note-add', onclick: () => addNote() }, w('desk_addNote'));
const notes = el('ol', { id: 'notes', class: 'notes' });
const fired = el('ol', { id: 'fired', class: 'notes' });
root.append(
  el('header', {}, page.heading),
  el('section', { class: 'note-box' }, [text, add]), page.status,
  el('div', { class: 'columns' }, [
    el('section', {}, [el('h2', {}, w('desk_notes')), notes]),
    el('section', {}, [el('h2', {}, w('desk_firedSoFar')), fired]),
  ]),
);
text.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) addNote();
});

let shown = '';

/** @param {ExerciseState} state */
function render(state) {
  const running = state.state === 'running';
  page.show(state);
  add.disabled = !running;
  const done = state.injects.filter((i) => i.state === 'fired');
  const signature = JSON.stringify([state.notes.length, done.length]);
  if (signature === shown) return;
  shown = signature;
  notes.replaceChildren(...(state.notes.length ? [...state.notes].reverse().map((n) => el('li', { dataset: { n: n.n } }, [
    el('span', { class: 'num' }, `${moment(n.at)} · ${clock(n.time)}`), el('b', {}, n.who), ` ${n.text}`,
  ])) : [el('li', { class: 'empty' }, w('desk_noNotes'))]));
  fired.replaceChildren(...[...done].reverse().map((i) => el('li', { dataset: { inject: i.n } }, [
    el('span', { class: 'num' }, moment(i.fired)), `#${i.n} ${describe(i)}`,
  ])));
}

async function addNote() {
  const words = text.value.trim();
  if (!words) return;
  add.disabled = true;
  const answer = await api('/api/exercise/notes', { text: words });
  add.disabled = false;
  if (answer.ok) {
    text.value = '';
    say(`${w('desk_noted')} ${moment(answer.body.at)}`);
  } else say(answer.error, true);
  await poller.refresh();
}

const poller = poll(render, (error) => say(error, true));
