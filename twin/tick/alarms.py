"""Alarms: levels with hysteresis and dwell, one alarm per asset and rule, a lifecycle
(raised, acknowledged, dispatched, resolved) and a durable store.

:class:`LevelTracker` turns a risk column into levels for one rule, vectorised.
:class:`AlarmBook` keeps the alarms, applies operator actions, and writes every change
to SQLite (WAL, ``synchronous=FULL``) before it is reported to anyone: the changes of a
tick are grouped into one commit.
"""

from __future__ import annotations

import copy
import json
import logging
import sqlite3
import threading
import time as wallclock
from dataclasses import asdict, dataclass, field
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numba
import numpy as np

from twin.plugins.contributions import AlarmRule
from twin.errors import TwinError
from twin.types import LEVEL_RISK_THRESHOLDS

if TYPE_CHECKING:  # the record's declaration, in the wire contract (no import at run time)
    from twin.serving.protocol import AlarmSummary

log = logging.getLogger("twin.tick.alarms")

#: seconds to acknowledge, per level (1 blue .. 4 red); configurable per scene
DEFAULT_DEADLINES = {1: 7200.0, 2: 1800.0, 3: 900.0, 4: 300.0}
STATES = ("raised", "acknowledged", "dispatched", "resolved")
SYSTEM_DOMAIN = "system"
#: longest operator note, and longest name of who acted or unit dispatched to, in characters
MAX_NOTE_CHARS = 4000
MAX_NAME_CHARS = 200
#: operator actions one alarm can take (acknowledge, dispatch, resolve: each with its note)
MAX_ACTIONS = 100
#: how long a write waits for another process's lock on the store before the store is
#: reported busy; short, because the tick waits for it (seconds)
BUSY_TIMEOUT = 0.25
#: while the store cannot be written, the tick tries again after this many seconds
STORE_RETRY = 1.0


class InvalidAction(TwinError):
    """An operator action refused for its input (too long, not text, too many); ``status``
    is the HTTP answer that fits (413 for text past its limit, else 400)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class StoreUnavailable(TwinError):
    """The alarm store cannot be written now (locked by another process, disk full,
    I/O error); nothing was changed."""


def checked_text(value: object, field: str, limit: int) -> str:
    """``value`` as text an operator may store: a string of at most ``limit`` characters
    that is valid Unicode (a lone surrogate such as "\\ud800" is not)."""
    if not isinstance(value, str):
        raise InvalidAction(f"{field} must be a string, not {type(value).__name__}")
    if len(value) > limit:
        raise InvalidAction(f"{field} is {len(value)} characters; at most {limit} are kept", status=413)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidAction(f"{field} is not valid Unicode text (it holds a lone surrogate)") from None
    return value


@numba.njit(cache=True, nogil=True)
def track_levels(risk, mask, thresholds, level, pending, pending_since, now, hysteresis, raise_dwell, clear_dwell, changed,
                 previous):  # pragma: no cover
    """Advance the level of every masked row; return how many rows changed level. The
    rows that changed are ``changed[:count]``, their levels before ``previous[:count]``.

    A row enters a level when its risk reaches the level's threshold and leaves it when
    the risk falls ``hysteresis`` below; a change counts once it has held for its dwell.
    A NaN risk keeps the row's level.
    """
    count = 0
    for i in range(risk.shape[0]):
        if not mask[i]:
            continue
        r = risk[i]
        if r != r:
            # Not a number is never "all clear": the row keeps its level (the engine
            # restores such values and raises a system alarm before this runs).
            pending[i] = level[i]
            continue
        up = 0
        down = 0
        for t in thresholds:
            if r >= t:
                up += 1
            if r >= t - hysteresis:
                down += 1
        current = level[i]
        target = up if up >= current else min(current, down)
        if target == current:
            pending[i] = current
            continue
        if target != pending[i]:
            pending[i] = target
            pending_since[i] = now
        dwell = raise_dwell if target > current else clear_dwell
        if now - pending_since[i] >= dwell:
            previous[count] = current
            level[i] = target
            changed[count] = i
            count += 1
    return count


class LevelTracker:
    """Levels of one rule over one domain's rows."""

    def __init__(self, rule: AlarmRule, rows: int, mask: np.ndarray) -> None:
        self.rule = rule
        self.mask = mask
        # np.full, not np.zeros: written pages (see twin.tick.simulator: untouched calloc'd
        # memory read every tick in a compiled loop is many times slower)
        self.level = np.full(rows, 0, dtype=np.int8)
        self.pending = np.full(rows, 0, dtype=np.int8)
        self.pending_since = np.full(rows, 0.0, dtype=np.float64)
        self._changed = np.empty(rows, dtype=np.int64)
        self._previous = np.empty(rows, dtype=np.int8)
        #: the levels, before the last update, of the rows it returned
        self.previous = self._previous[:0]
        self._thresholds: dict[np.dtype[Any], np.ndarray] = {}

    def update(self, risk: np.ndarray, now: float) -> np.ndarray:
        """Rows whose level changed at ``now`` (their levels before: :attr:`previous`)."""
        # Compare in the risk column's own dtype: float32(0.9) < 0.9, so a float64
        # threshold would make red unreachable for a float32 risk of exactly 0.9.
        thresholds = self._thresholds.get(risk.dtype)
        if thresholds is None:
            thresholds = self._thresholds[risk.dtype] = np.asarray(LEVEL_RISK_THRESHOLDS, dtype=risk.dtype)
        n = track_levels(
            risk, self.mask, thresholds, self.level, self.pending, self.pending_since, now,
            self.rule.hysteresis, self.rule.raise_dwell, self.rule.clear_dwell, self._changed, self._previous,
        )
        self.previous = self._previous[:n]
        return self._changed[:n]


@dataclass
class Alarm:
    id: int
    asset: str
    domain: str
    rule: str
    title: str
    title_zh: str
    owner: str
    level: int
    peak_level: int
    state: str
    since: float
    updated: float
    level_since: float
    overdue: bool = False
    condition_active: bool = True
    dispatched_to: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> AlarmSummary:
        """The record the stream carries (events, snapshots): the keys of :meth:`to_json`,
        each operator action without its note (action, who, time, unit), so that its size
        does not grow with the notes. The full record is ``GET /api/alarms/{id}``; each
        action's event carries its own note. Its keys and types are declared once, as
        ``twin.serving.protocol.AlarmSummary``."""
        record = dict(vars(self))
        record["history"] = [dict(h) for h in self.history]
        record["actions"] = [{k: v for k, v in a.items() if k != "note"} for a in self.actions]
        return cast("AlarmSummary", record)


@dataclass
class AlarmEvent:
    """One change of one alarm, in the order it happened; never dropped or merged."""

    kind: str  # raise, escalate, deescalate, clear, overdue, acknowledge, dispatch, resolve
    alarm: dict[str, Any]
    time: float
    who: str = ""
    note: str = ""


class AlarmBook:
    """All alarms, open and closed, persisted to ``path`` (SQLite) if given."""

    def __init__(self, path: Path | None = None, deadlines: dict[int, float] | None = None) -> None:
        self.deadlines = dict(deadlines or DEFAULT_DEADLINES)
        self.alarms: dict[int, Alarm] = {}
        self.open: dict[tuple[str, str], int] = {}
        self.pending_events: list[AlarmEvent] = []
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._next_id = 1
        self._dirty: set[int] = set()
        self._committed_events: list[AlarmEvent] = []
        #: why the last write to the store failed, None while it works
        self.store_error: str | None = None
        #: while the store fails, the tick retries no sooner than this (monotonic s), so
        #: that a held lock costs the tick one BUSY_TIMEOUT a second, not one a tick
        self._retry_at = 0.0
        #: parts that write in the same transaction as the alarms (see :meth:`attach`)
        self.participants: list[Any] = []
        if path is not None:
            self._open_db(path)

    def attach(self, participant: Any) -> None:
        """Let ``participant`` write in each commit's transaction (twin.loop: incidents,
        the notification outbox), so that what it writes is never ahead of or behind the
        alarms, across a crash too. It has ``open_store(db)`` (called now if the store is
        open: create its tables, load), ``pending()`` (has it changes of its own to
        write), ``write(db, events)`` (apply the commit's events; with ``db`` not None,
        write its rows; an exception rolls the whole commit back), ``committed()``,
        ``rolled_back()`` (undo what it did since the last commit: the events come again
        with the next one) and ``check_deadlines(now)`` (each tick, before the commit)."""
        with self._lock:
            if self._db is not None:
                participant.open_store(self._db)
            self.participants.append(participant)

    # -- persistence -------------------------------------------------------------------
    def _open_db(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS alarms (id INTEGER PRIMARY KEY, asset TEXT, domain TEXT, rule TEXT,"
            " state TEXT, level INTEGER, since REAL, updated REAL, body TEXT)"
        )
        db.execute(
            "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, alarm INTEGER, kind TEXT,"
            " time REAL, wall REAL, who TEXT, note TEXT)"
        )
        _add_event_levels(db)
        self._db = db
        for (body,) in db.execute("SELECT body FROM alarms ORDER BY id"):
            alarm = Alarm(**json.loads(body))
            self.alarms[alarm.id] = alarm
            if alarm.state != "resolved":
                self.open[(alarm.rule, alarm.asset)] = alarm.id
            self._next_id = max(self._next_id, alarm.id + 1)

    def commit(self) -> None:
        """Write the changes made since the last commit in one durable transaction; their
        events then wait in :meth:`take_events` for the stream (only now may anyone be told).

        If the store cannot be written (:class:`StoreUnavailable`), nothing is lost: the
        changes stay pending and go with the next commit."""
        with self._lock:
            events, self.pending_events = self.pending_events, []
            dirty, self._dirty = self._dirty, set()
            if self._db is not None and (events or dirty or any(p.pending() for p in self.participants)):
                db = self._db
                try:
                    db.execute("BEGIN IMMEDIATE")
                    for alarm_id in sorted(dirty):
                        a = self.alarms[alarm_id]
                        db.execute(
                            "INSERT OR REPLACE INTO alarms VALUES (?,?,?,?,?,?,?,?,?)",
                            (a.id, _storable(a.asset), _storable(a.domain), _storable(a.rule), a.state, a.level, a.since,
                             a.updated, json.dumps(a.to_json())),
                        )
                    db.executemany(
                        "INSERT INTO events (alarm, kind, time, wall, who, note, level) VALUES (?,?,?,?,?,?,?)",
                        [(e.alarm["id"], e.kind, e.time, wallclock.time(), _storable(e.who), _storable(e.note), e.alarm["level"])
                         for e in events],
                    )
                    for participant in self.participants:
                        participant.write(db, events)
                    db.execute("COMMIT")
                except BaseException as exc:
                    # nothing of this write stays in the store; the book keeps it all to write again
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    for participant in self.participants:
                        participant.rolled_back()
                    self.pending_events[:0] = events
                    self._dirty |= dirty
                    if not isinstance(exc, sqlite3.Error):
                        raise
                    if self.store_error is None:
                        log.error("the alarm store cannot be written; changes are kept and retried",
                                  extra={"error": str(exc), "pending_events": len(self.pending_events)})
                    self.store_error = f"alarm store: {exc}"
                    self._retry_at = wallclock.monotonic() + STORE_RETRY
                    raise StoreUnavailable(f"the alarm store cannot be written now ({exc}); retry shortly") from None
                if self.store_error is not None:
                    log.warning("the alarm store is written again", extra={"was": self.store_error, "events": len(events)})
                    self.store_error = None
                for participant in self.participants:
                    participant.committed()
            elif self._db is None:
                for participant in self.participants:
                    participant.write(None, events)
                    participant.committed()
            self._committed_events.extend(events)

    def close(self) -> None:
        """Close the store, after any commit in flight: the engine commits on its worker
        thread, and a server shutting down closes the book from another. Closing a
        connection while another thread is inside it crashed the process (SIGSEGV in
        sqlite3); a commit that comes after finds no store and keeps its changes."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- changes from the engine -------------------------------------------------------
    def _emit(self, kind: str, alarm: Alarm, now: float, who: str = "", note: str = "") -> None:
        alarm.updated = now
        self._dirty.add(alarm.id)
        # The summary: the event carries its own note, not every note the alarm holds.
        self.pending_events.append(AlarmEvent(kind, alarm.summary(), now, who, note))

    def set_level(
        self, rule: AlarmRule | str, domain: str, asset: str, owner: str, level: int, now: float,
        title: str = "", title_zh: str = "", rising: bool = True,
    ) -> None:
        """The condition of (rule, asset) is now at ``level``; raise, escalate, clear.

        ``rising`` says the level went up. With no open alarm (an operator resolved it
        while its condition was still active) only a rise raises a new one: a condition
        that merely eases is not a new alarm."""
        rule_name = rule if isinstance(rule, str) else rule.name
        if isinstance(rule, AlarmRule):
            title, title_zh = rule.title, rule.title_zh
        with self._lock:
            alarm_id = self.open.get((rule_name, asset))
            if alarm_id is None:
                if level <= 0 or not rising:
                    return
                alarm = Alarm(
                    id=self._next_id, asset=asset, domain=domain, rule=rule_name, title=title, title_zh=title_zh,
                    owner=owner, level=level, peak_level=level, state="raised", since=now, updated=now, level_since=now,
                    history=[{"time": now, "level": level}],
                )
                self._next_id += 1
                self.alarms[alarm.id] = alarm
                self.open[(rule_name, asset)] = alarm.id
                self._emit("raise", alarm, now)
                return
            alarm = self.alarms[alarm_id]
            if level == alarm.level:
                return
            kind = "escalate" if level > alarm.level else ("clear" if level == 0 else "deescalate")
            alarm.level = level
            alarm.level_since = now
            alarm.peak_level = max(alarm.peak_level, level)
            alarm.condition_active = level > 0
            alarm.history.append({"time": now, "level": level})
            self._emit(kind, alarm, now)

    def check_deadlines(self, now: float) -> None:
        """Mark alarms not acknowledged within their level's deadline as overdue."""
        with self._lock:
            for alarm_id in self.open.values():
                alarm = self.alarms[alarm_id]
                if alarm.state == "raised" and not alarm.overdue and alarm.level > 0:
                    if now - alarm.level_since >= self.deadlines.get(alarm.level, float("inf")):
                        alarm.overdue = True
                        self._emit("overdue", alarm, now)
            for participant in self.participants:
                participant.check_deadlines(now)

    # -- operator actions ---------------------------------------------------------------
    def act(self, alarm_id: int, action: str, who: str, note: str = "", now: float = 0.0, unit: str = "") -> Alarm:
        """Apply an operator action and commit it durably before returning; if the store
        cannot be written, nothing changes and :class:`StoreUnavailable` says so.
        :class:`InvalidAction` refuses notes and names past their limits or not text."""
        return self.act_all([(alarm_id, action)], who, note, now, unit)[0]

    def act_all(self, steps: list[tuple[int, str]], who: str, note: str = "", now: float = 0.0, unit: str = "",
                with_commit: Callable[[], None] | None = None) -> list[Alarm]:
        """Apply operator actions ``(alarm id, action)`` in order, by one ``who`` with one
        note (and ``unit`` for a dispatch), and commit them in one transaction: all or
        none. ``with_commit``, if given, is called under the lock once the steps are
        applied, before the commit (an incident's own action joins the transaction
        there). If any step is refused, or the store cannot be written, no alarm changes
        and the exception (TwinError, KeyError, :class:`InvalidAction`,
        :class:`StoreUnavailable`) says why."""
        with self._lock:
            note = checked_text(note, "note", MAX_NOTE_CHARS)
            who = checked_text(who, "who", MAX_NAME_CHARS)
            unit = checked_text(unit, "unit", MAX_NAME_CHARS)
            saved: dict[int, tuple[Alarm, int | None]] = {}
            pending, applied = len(self.pending_events), 0
            done: list[Alarm] = []
            try:
                for alarm_id, action in steps:
                    alarm = self.alarms.get(alarm_id)
                    if alarm is None:
                        raise KeyError(f"no alarm {alarm_id}")
                    if alarm_id not in saved:
                        saved[alarm_id] = (copy.deepcopy(alarm), self.open.get((alarm.rule, alarm.asset)))
                    self._apply_action(alarm, action, who, note, now, unit)
                    applied += 1
                    done.append(alarm)
                if with_commit is not None:
                    with_commit()
                self.commit()
            except BaseException:
                # Undo these actions only; the tick's own changes stay pending for the next
                # commit (a failed commit put every event back in order: ours follow the tick's).
                del self.pending_events[pending:pending + applied]
                for alarm_id, (before, was_open) in saved.items():
                    self.alarms[alarm_id] = before
                    if was_open is not None:
                        self.open[(before.rule, before.asset)] = was_open
                raise
        return done

    def _apply_action(self, alarm: Alarm, action: str, who: str, note: str, now: float, unit: str) -> None:
        """One checked operator action on ``alarm``, its event pending (not committed)."""
        allowed = {
            "acknowledge": ("raised",),
            "dispatch": ("acknowledged", "dispatched"),
            "resolve": ("acknowledged", "dispatched"),
        }
        if action not in allowed:
            raise TwinError(f"unknown alarm action {action!r}; valid: acknowledge, dispatch, resolve")
        if alarm.state not in allowed[action]:
            raise TwinError(f"alarm {alarm.id} is {alarm.state}; {action} needs it to be {' or '.join(allowed[action])}")
        if len(alarm.actions) >= MAX_ACTIONS:
            raise InvalidAction(f"alarm {alarm.id} has {len(alarm.actions)} actions, the most one alarm keeps; resolve it")
        alarm.state = {"acknowledge": "acknowledged", "dispatch": "dispatched", "resolve": "resolved"}[action]
        if action == "dispatch":
            alarm.dispatched_to = unit or alarm.owner
        if action == "acknowledge":
            alarm.overdue = False
        if action == "resolve":
            self.open.pop((alarm.rule, alarm.asset), None)
        # Simulation time only: the record must replay identically; the wall-clock time
        # of each action is kept in the store's events table (the audit trail).
        alarm.actions.append({"action": action, "who": who, "time": now, "note": note,
                              "unit": alarm.dispatched_to if action == "dispatch" else ""})
        self._emit(action, alarm, now, who, note)

    def take_events(self) -> list[AlarmEvent]:
        """Commit, then return every committed event not yet handed out, in order. While
        the store cannot be written (:attr:`store_error`), events wait: no one is told of
        a change that a crash could lose."""
        with self._lock:
            if self.store_error is None or wallclock.monotonic() >= self._retry_at:
                try:
                    self.commit()
                except StoreUnavailable:
                    pass  # kept pending and retried; store_error says why (logged once, in commit)
            events, self._committed_events = self._committed_events, []
            return events

    def active(self) -> list[Alarm]:
        with self._lock:
            return [self.alarms[i] for i in sorted(self.open.values())]

    def query(self, state: str | None = None, severity: int | None = None, domain: str | None = None, since: float | None = None) -> list[Alarm]:
        with self._lock:
            out = list(self.alarms.values())
        if state:
            out = [a for a in out if a.state == state]
        if severity is not None:
            out = [a for a in out if a.peak_level >= severity]
        if domain:
            out = [a for a in out if a.domain == domain]
        if since is not None:
            out = [a for a in out if a.updated >= since]
        return sorted(out, key=lambda a: (-a.level, -a.since))


def _add_event_levels(db: sqlite3.Connection) -> None:
    """Migration (issue 14): each event keeps the level its alarm had after it, and
    events are indexed by time, so that the history counts raises per level and bucket
    (twin.serving.history_api). Events written before it get the level the alarm's own
    history gives at their time."""
    def migrated() -> bool:
        return "level" in [c[1] for c in db.execute("PRAGMA table_info(events)")]

    if migrated():
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        if migrated():  # by another process meanwhile
            db.execute("COMMIT")
            return
        db.execute("ALTER TABLE events ADD COLUMN level INTEGER")
        db.execute(
            "UPDATE events SET level = (SELECT json_extract(h.value, '$.level') FROM alarms a, json_each(a.body, '$.history') h"
            " WHERE a.id = events.alarm AND json_extract(h.value, '$.time') <= events.time"
            " ORDER BY json_extract(h.value, '$.time') DESC, h.key DESC LIMIT 1)")
        db.execute("CREATE INDEX IF NOT EXISTS events_time ON events (time)")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _storable(text: str) -> str:
    """Text SQLite can encode (UTF-8): input is checked where it enters, this keeps one
    unencodable string that slipped through from blocking every later commit."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
