"""Incidents (事件): the alarms one happening causes, grouped by cause and place, with
their own lifecycle (open, acknowledged, dispatched, closed) and owner unit.

A new alarm joins an open incident that holds an alarm of its domain near it in place
and time (:mod:`twin.loop.grouping`); failing that, an incident holding an alarm that a
coupling links to it (the two assets link each other in the scene and a plugin's
coupling runs between their domains: gas in a sewer beside a leaking main, water at a
station beside a flooded street); failing that, it opens a new incident. An alarm is in
one incident; incidents never merge, so an incident's id, title and owner, once people
act on them, stay.

The :class:`IncidentBook` takes part in the alarm store's commits
(:meth:`twin.tick.alarms.AlarmBook.attach`): it reads each commit's alarm events and
writes its incidents in the same SQLite transaction, so that an incident is never
ahead of or behind its alarms, across a crash too. Everything it decides uses the
simulation clock only: a drill gives the same incidents on every run.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import sqlite3
import time as wallclock
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from twin.errors import TwinError
from twin.i18n import CASE
from twin.loop.escalation import Escalator
from twin.loop.grouping import Groupings
from twin.loop.places import Point, distance, outline, vertices
from twin.tick.alarms import (
    MAX_ACTIONS, MAX_NAME_CHARS, MAX_NOTE_CHARS, Alarm, AlarmBook, AlarmEvent, InvalidAction, checked_text,
)

if TYPE_CHECKING:  # the record's declaration, in the wire contract (no import at run time)
    from twin.serving.protocol import IncidentSummary

log = logging.getLogger("twin.loop.incidents")

STATES = ("open", "acknowledged", "dispatched", "closed")
#: side of the grid cells alarms are indexed by for grouping (metres)
GRID_CELL = 50.0
#: the response times an incident reports: ``detect`` from its onset (the earliest moment
#: one of its alarms' conditions reached the threshold it was raised at) to its opening,
#: the others from its opening to the first action of that name (``arrive``: a crew's
#: on-site report)
STEPS_TIMED = ("detect", "acknowledge", "dispatch", "arrive", "close")
#: operator action -> (states it is allowed from, state it leads to)
ACTIONS = {
    "acknowledge": (("open",), "acknowledged"),
    "dispatch": (("acknowledged", "dispatched"), "dispatched"),
    "close": (("acknowledged", "dispatched"), "closed"),
}


@dataclass
class Incident:
    """One incident's record; ``GET /api/incidents/{id}`` gives it whole."""

    id: int
    #: from its worst alarm: the rule's title and the asset's place
    title: str
    title_zh: str
    #: the worst alarm's place (the asset's ``place`` / ``place_zh`` attribute, else its id)
    place: str
    place_zh: str
    #: the highest current level of its alarms not resolved (0 when all have cleared)
    level: int
    peak_level: int
    #: when ``level`` last changed (simulation seconds)
    level_since: float
    #: the alarm the title, domain, rule and owner come from
    worst_alarm: int
    domain: str
    rule: str
    state: str
    opened: float
    updated: float
    #: the unit the worst alarm's asset belongs to (权属单位)
    owner: str
    #: its alarms' ids and their assets, in the order they joined
    alarms: list[int] = field(default_factory=list)
    assets: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    #: the convex hull of its assets' positions, scene metres, counter-clockwise
    outline: list[list[float]] = field(default_factory=list)
    #: some alarm of it is active and not resolved
    active: bool = True
    #: the earliest moment one of its alarms' conditions reached the threshold it was
    #: raised at: its raise less its rule's dwell (None in a store from before)
    onset: float | None = None
    dispatched_to: str = ""
    #: the field crew's progress (twin.loop.field): "", accepted, on_site, working, done
    crew: str = ""
    closed: float | None = None
    #: operator actions: {action, who, time, note, unit}
    actions: list[dict[str, Any]] = field(default_factory=list)
    #: missed deadlines and who was told (twin.loop.escalation)
    escalations: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The record as plain data (a storm's incident holds thousands of alarms: its
        lists are copied whole, not element by element as ``asdict`` would)."""
        record = dict(vars(self))
        for name in ("alarms", "assets", "domains"):
            record[name] = list(record[name])
        record["outline"] = [list(p) for p in self.outline]
        record["actions"] = [dict(a) for a in self.actions]
        record["escalations"] = [dict(e) for e in self.escalations]
        return record

    def summary(self) -> IncidentSummary:
        """What the stream and the lists carry: the record with each action's note left
        out (a summary's size must not grow with the notes), and its response times;
        declared once, as ``twin.serving.protocol.IncidentSummary``."""
        record = self.to_json()
        record["actions"] = [{k: v for k, v in a.items() if k != "note"} for a in self.actions]
        record["times"] = self.response_times()
        return cast("IncidentSummary", record)

    def response_times(self) -> dict[str, float | None]:
        """Seconds from its onset to its opening (detect), and from its opening to its
        first acknowledge, dispatch, arrive (a crew on site) and close; None for a step
        not (yet) taken."""
        times: dict[str, float | None] = dict.fromkeys(STEPS_TIMED)
        if self.onset is not None:
            times["detect"] = max(0.0, self.opened - self.onset)
        for action in self.actions:
            step = action["action"]
            if step in times and times[step] is None:
                times[step] = action["time"] - self.opened
        return times


@dataclass
class IncidentEvent:
    """One change of one incident: open, join, escalate, deescalate, clear, acknowledge,
    dispatch, close, overdue, and the crew's accept, arrive, work, done. ``incident`` is its summary after the change; ``alarm`` the
    alarm that caused it, if one did."""

    kind: str
    incident: dict[str, Any]
    time: float
    who: str = ""
    note: str = ""
    alarm: int | None = None


class IncidentBook:
    """Every incident, open and closed; attached to an :class:`AlarmBook`, whose lock,
    store and commits it shares."""

    def __init__(self, alarms: AlarmBook, scene: Any, registry: Any, config: dict[str, Any] | None = None) -> None:
        self.alarms = alarms
        rules = {r.name: r.domain for _, r in registry.rules}
        #: how long each rule's condition must hold before its alarm is raised (the
        #: platform's own rules, sensors offline and the like, raise at once)
        self.dwell = {r.name: float(r.raise_dwell) for _, r in registry.rules}
        self.groupings = Groupings([g for _, g in getattr(registry, "groupings", [])], config, rules)
        self.places: dict[str, tuple[Point, ...]] = {}
        self.names: dict[str, tuple[str, str]] = {}
        links: dict[str, set[str]] = {}
        for assets in scene.assets.values():
            for asset in assets:
                self.places[asset.id] = vertices(asset.geometry)
                place = str(asset.attributes.get("place") or asset.id)
                self.names[asset.id] = (place, str(asset.attributes.get("place_zh") or place))
                for other in asset.links:
                    links.setdefault(asset.id, set()).add(other)
                    links.setdefault(other, set()).add(asset.id)
        self.links = links
        #: domain pairs a coupling runs between, either way (a domain with itself too)
        self.coupled = {frozenset((c.source, c.target)) for _, c in registry.couplings}
        self.incidents: dict[int, Incident] = {}
        #: alarm id -> the incident it is in now
        self.by_alarm: dict[int, int] = {}
        #: incident id -> grid cell -> the ids of its alarms with a vertex there (for _nearby)
        self._grid: dict[int, dict[tuple[int, int], list[int]]] = {}
        #: incident id -> its assets, as a set (made when first needed)
        self._assets: dict[int, set[str]] = {}
        self._next_id = 1
        # Changes since the last commit, undone if the commit fails (the alarm events
        # then come again with the next one).
        self._undo: dict[int, Incident | None] = {}
        self._undo_next: int | None = None
        self._dirty: set[int] = set()
        #: incident events made since the last commit, written with it (the outbox reads them)
        self.staged: list[IncidentEvent] = []
        self._committed_ids: dict[int, None] = {}
        #: called with each committed event (metrics, notifications); must not raise
        self.listeners: list[Callable[[IncidentEvent], None]] = []
        #: called every tick with the clock, before the tick's commit (twin.loop.escalation)
        self.deadline_hooks: list[Callable[[float], None]] = []
        #: deadlines to acknowledge, dispatch and close, and the chain a missed one goes up
        self.escalator = Escalator(self, config or {})
        alarms.attach(self)

    # -- the store's commit (twin.tick.alarms.AlarmBook.attach) ---------------------------
    def open_store(self, db: sqlite3.Connection) -> None:
        """Create the tables if missing and load every incident."""
        db.execute("CREATE TABLE IF NOT EXISTS incidents (id INTEGER PRIMARY KEY, state TEXT, level INTEGER,"
                   " opened REAL, updated REAL, body TEXT)")
        db.execute("CREATE TABLE IF NOT EXISTS incident_events (seq INTEGER PRIMARY KEY AUTOINCREMENT, incident INTEGER,"
                   " kind TEXT, time REAL, wall REAL, who TEXT, note TEXT, alarm INTEGER)")
        for (body,) in db.execute("SELECT body FROM incidents ORDER BY id"):
            incident = Incident(**json.loads(body))
            self.incidents[incident.id] = incident
            self._next_id = max(self._next_id, incident.id + 1)
        self._index()
        # Alarms from before incidents existed (an older store) get theirs now.
        for alarm in self.alarms.active():
            if alarm.id not in self.by_alarm:
                self._place(alarm, alarm.updated)

    def pending(self) -> bool:
        return bool(self._dirty or self.staged)

    def write(self, db: sqlite3.Connection | None, events: list[AlarmEvent]) -> None:
        """Apply a commit's alarm events; with a store, write the changed incidents and
        their events in the commit's transaction."""
        for event in events:
            try:
                self._apply(event)
            except sqlite3.Error:
                raise
            except Exception:
                # A fault here must not block the alarm store: the alarm stays right,
                # only its incident may be wrong; logged with the cause.
                log.exception("an alarm event could not be grouped", extra={"alarm": event.alarm.get("id"), "kind": event.kind})
        if db is None:
            return
        wall = wallclock.time()
        for incident_id in sorted(self._dirty):
            i = self.incidents[incident_id]
            db.execute("INSERT OR REPLACE INTO incidents VALUES (?,?,?,?,?,?)",
                       (i.id, i.state, i.level, i.opened, i.updated, json.dumps(i.to_json())))
        db.executemany(
            "INSERT INTO incident_events (incident, kind, time, wall, who, note, alarm) VALUES (?,?,?,?,?,?,?)",
            [(e.incident["id"], e.kind, e.time, wall, _storable(e.who), _storable(e.note), e.alarm) for e in self.staged],
        )

    def committed(self) -> None:
        for incident_id in sorted(self._dirty):
            self._committed_ids[incident_id] = None
        events, self.staged = self.staged, []
        self._dirty.clear()
        self._undo.clear()
        self._undo_next = None
        for event in events:
            for listener in self.listeners:
                try:
                    listener(event)
                except Exception:
                    log.exception("an incident listener failed", extra={"kind": event.kind})

    def rolled_back(self) -> None:
        for incident_id, saved in self._undo.items():
            if saved is None:
                self.incidents.pop(incident_id, None)
            else:
                self.incidents[incident_id] = saved
        if self._undo_next is not None:
            self._next_id = self._undo_next
        self._undo.clear()
        self._undo_next = None
        self._dirty.clear()
        self.staged = []
        self._index()

    def check_deadlines(self, now: float) -> None:
        """Called by the alarm book every tick, before its commit: escalation hooks in here."""
        for hook in self.deadline_hooks:
            hook(now)

    # -- reading ---------------------------------------------------------------------------
    def take_changes(self) -> list[dict[str, Any]]:
        """Summaries of the incidents changed by the commits since the last call (once
        each, as they are now), for the frame and the stream."""
        with self.alarms._lock:
            ids, self._committed_ids = list(self._committed_ids), {}
            return [self.incidents[i].summary() for i in ids if i in self.incidents]

    def ordered(self, closed: bool = False) -> list[Incident]:
        """Open incidents, worst first: by level, then the one at that level longest (its
        deadline is nearest), then by id; with ``closed``, closed ones after, the latest
        closed first."""
        with self.alarms._lock:
            found = [i for i in self.incidents.values() if closed or i.state != "closed"]
        return sorted(found, key=lambda i: (i.state == "closed", -i.level, -i.peak_level if i.state == "closed" else 0,
                                            i.level_since if i.state != "closed" else -(i.closed or 0.0), i.id))

    def open(self) -> list[Incident]:
        return self.ordered()

    def of_alarm(self, alarm_id: int) -> Incident | None:
        found = self.by_alarm.get(alarm_id)
        return self.incidents.get(found) if found is not None else None

    # -- operator actions -----------------------------------------------------------------
    def act(self, incident_id: int, action: str, who: str, note: str = "", now: float = 0.0, unit: str = "") -> Incident:
        """Apply an operator action, and the same action to its alarms (:meth:`_cascade`:
        acknowledge its raised ones, dispatch them to the same unit, resolve them at the
        close, each alarm event recorded), and commit them in one transaction before
        returning (the alarm store's :class:`~twin.tick.alarms.StoreUnavailable` if it cannot be written: then
        nothing changed). :class:`~twin.tick.alarms.InvalidAction` refuses text past its
        limits; TwinError an action the incident's state does not allow; KeyError an
        unknown incident."""
        if action not in ACTIONS:
            raise TwinError(f"unknown incident action {action!r}; valid: {', '.join(ACTIONS)}")
        allowed, after = ACTIONS[action]
        with self.alarms._lock:
            incident = self.incidents.get(incident_id)
            if incident is None:
                raise KeyError(f"no incident {incident_id}")
            if incident.state not in allowed:
                raise TwinError(f"incident {incident_id} is {incident.state}; {action} needs it to be {' or '.join(allowed)}")
            note = checked_text(note, "note", MAX_NOTE_CHARS)
            who = checked_text(who, "who", MAX_NAME_CHARS)
            unit = checked_text(unit, "unit", MAX_NAME_CHARS)
            if len(incident.actions) >= MAX_ACTIONS:
                raise InvalidAction(f"incident {incident_id} has {len(incident.actions)} actions, the most one keeps")
            if action == "close":
                active = [a for a in self._members(incident) if a.condition_active and a.state != "resolved"]
                if active:
                    names = ", ".join(f"{a.asset} ({a.rule})" for a in active[:5]) + (", ..." if len(active) > 5 else "")
                    raise TwinError(f"incident {incident_id} still has {len(active)} active alarm(s): {names}; "
                                    f"close it once they have cleared or are resolved")
            steps = self._cascade(incident, action)

            def own_change() -> None:
                changed = self._touch(incident_id)
                changed.state = after
                changed.updated = now
                if action == "dispatch":
                    changed.dispatched_to = unit or changed.owner
                if action == "close":
                    changed.closed = now
                changed.actions.append({"action": action, "who": who, "time": now, "note": note,
                                        "unit": changed.dispatched_to if action == "dispatch" else ""})
                self._stage(action, changed, now, who, note)

            # The incident's change, then its alarms' (the same who, note and unit), in one
            # transaction: rolled back whole (and StoreUnavailable raised) if the store fails.
            try:
                self.alarms.act_all(steps, who, note, now, (unit or incident.owner) if action == "dispatch" else unit,
                                    with_commit=own_change)
            except BaseException:
                self.rolled_back()  # a refusal before the commit leaves no half-made change
                raise
            return self.incidents[incident_id]

    def _cascade(self, incident: Incident, action: str) -> list[tuple[int, str]]:
        """The alarm actions an incident's action brings (docs/incidents.md, "Actions on an
        incident act on its alarms"): acknowledge its raised alarms; dispatch its raised
        (acknowledging them first), acknowledged and dispatched ones (the last to the new
        unit); close resolves every one not yet resolved (acknowledging a raised one
        first). Alarms already as far along are left as they are."""
        steps: list[tuple[int, str]] = []
        for alarm in self._members(incident):
            if alarm.state == "resolved":
                continue
            if alarm.state == "raised":
                steps.append((alarm.id, "acknowledge"))
            if action == "dispatch":
                steps.append((alarm.id, "dispatch"))
            elif action == "close":
                steps.append((alarm.id, "resolve"))
        return steps

    def note_escalation(self, incident_id: int, record: dict[str, Any], now: float) -> None:
        """Record a missed deadline on the incident (twin.loop.escalation); committed with
        the tick's alarm changes."""
        incident = self._touch(incident_id)
        incident.escalations.append(record)
        incident.updated = now
        self._stage("overdue", incident, now, note=str(record.get("summary", "")))

    # -- grouping --------------------------------------------------------------------------
    def _apply(self, event: AlarmEvent) -> None:
        alarm = self.alarms.alarms.get(int(event.alarm["id"]))
        if alarm is None:
            return
        incident_id = self.by_alarm.get(alarm.id)
        incident = self.incidents.get(incident_id) if incident_id is not None else None
        if incident is None or (incident.state == "closed" and event.kind in ("raise", "escalate")):
            # A member of a closed incident that rises again is a new happening.
            self._place(alarm, event.time)
            return
        self._refresh(self._touch(incident.id), event.time, alarm.id, rising=event.kind in ("raise", "escalate"))
        if event.kind == "acknowledge":
            self._follow_acknowledgement(incident, event)

    def _follow_acknowledgement(self, incident: Incident, event: AlarmEvent) -> None:
        """An open incident whose alarms have all been acknowledged, one by one, is
        acknowledged too, by whoever acknowledged the last (its escalation to acknowledge
        stops there); dispatching and closing stay the incident's own decisions."""
        if incident.state != "open" or len(incident.actions) >= MAX_ACTIONS:
            return
        if any(a.state == "raised" for a in self._members(incident)):
            return
        incident.state = "acknowledged"
        incident.updated = max(incident.updated, event.time)
        # the words the case file shows in the reader's language (twin.i18n CASE)
        note = CASE["en"]["case_allAcknowledged"] + (f": {event.note}" if event.note else "")
        note = note[:MAX_NOTE_CHARS]
        incident.actions.append({"action": "acknowledge", "who": event.who, "time": event.time, "note": note, "unit": ""})
        self._stage("acknowledge", incident, event.time, event.who, note, alarm=int(event.alarm["id"]))

    def _place(self, alarm: Alarm, now: float) -> None:
        """Put a new alarm into the incident it belongs to, or open one."""
        chosen = self._nearby(alarm)
        if chosen is None:
            chosen = self._coupled(alarm)
        if chosen is None:
            if self._undo_next is None:
                self._undo_next = self._next_id
            incident = Incident(
                id=self._next_id, title="", title_zh="", place="", place_zh="", level=0, peak_level=0,
                level_since=now, worst_alarm=alarm.id, domain=alarm.domain, rule=alarm.rule, state="open",
                opened=now, updated=now, owner=alarm.owner,
            )
            self._next_id += 1
            self._undo.setdefault(incident.id, None)
            self.incidents[incident.id] = incident
            kind = "open"
        else:
            incident = self._touch(chosen)
            kind = "join"
        incident.alarms.append(alarm.id)
        # Its condition held for the rule's dwell before it rose (``now``): it began then
        # (an alarm joining later, of a rule with a longer dwell, may have begun before
        # the incident opened).
        began = now - self.dwell.get(alarm.rule, 0.0)
        incident.onset = began if incident.onset is None else min(incident.onset, began)
        assets = self._assets.setdefault(incident.id, set(incident.assets))
        if alarm.asset not in assets:
            assets.add(alarm.asset)
            incident.assets.append(alarm.asset)
        self.by_alarm[alarm.id] = incident.id
        self._grid_add(incident.id, alarm)
        # The hull of the old hull and the new points is the hull of all of them.
        incident.outline = outline([*(tuple(p) for p in incident.outline), *self.places.get(alarm.asset, ())])
        self._refresh(incident, now, alarm.id, kind, rising=True)

    def _nearby(self, alarm: Alarm) -> int | None:
        """The open incident with an alarm of the same domain (and rule, if the grouping
        says so) nearest to this one, within the grouping's distance and window. Only the
        grid cells within the distance are looked at, so a storm's thousand alarms cost
        each new one a few dozen comparisons, not a thousand."""
        g = self.groupings(alarm.domain, alarm.rule)
        here = self.places.get(alarm.asset, ())
        alarms = self.alarms.alarms

        def fits(member_id: int, incident_id: int) -> bool:
            member = alarms.get(member_id)
            return (member is not None and member.id != alarm.id and self.by_alarm.get(member.id) == incident_id
                    and member.domain == alarm.domain and (not g.same_rule or member.rule == alarm.rule)
                    and (not g.same_owner or member.owner == alarm.owner)
                    and self._recent(member, alarm.since, g.window))

        best: tuple[float, int] | None = None
        for incident in self.incidents.values():
            if incident.state == "closed" or alarm.domain not in incident.domains:
                continue
            if math.isinf(g.distance):
                # anywhere: any fitting member will do (the newest are likeliest to)
                if any(fits(m, incident.id) for m in reversed(incident.alarms)):
                    best = min(best or (0.0, incident.id), (0.0, incident.id))
                continue
            if not here or _far(here, incident.outline, g.distance):
                continue
            for member_id in self._grid_near(incident.id, here, g.distance):
                if fits(member_id, incident.id):
                    d = distance(here, self.places.get(alarms[member_id].asset, ()))
                    if d <= g.distance and (best is None or (d, incident.id) < best):
                        best = (d, incident.id)
        return best[1] if best is not None else None

    def _grid_near(self, incident_id: int, here: tuple[Point, ...], reach: float) -> set[int]:
        """Alarm ids of ``incident_id`` whose assets have a vertex in a grid cell within
        ``reach`` of ``here``'s cells (a superset of those within ``reach``)."""
        grid = self._grid.get(incident_id, {})
        rings = int(math.ceil(reach / GRID_CELL))
        found: set[int] = set()
        for cx, cy in {(int(math.floor(x / GRID_CELL)), int(math.floor(y / GRID_CELL))) for x, y in here}:
            for i in range(cx - rings, cx + rings + 1):
                for j in range(cy - rings, cy + rings + 1):
                    found.update(grid.get((i, j), ()))
        return found

    def _grid_add(self, incident_id: int, alarm: Alarm) -> None:
        cells = self._grid.setdefault(incident_id, {})
        for x, y in self.places.get(alarm.asset, ()):
            members = cells.setdefault((int(math.floor(x / GRID_CELL)), int(math.floor(y / GRID_CELL))), [])
            if not members or members[-1] != alarm.id:
                members.append(alarm.id)

    def _coupled(self, alarm: Alarm) -> int | None:
        """The first open incident holding a recent alarm whose asset links this alarm's
        asset, of a domain a coupling runs to or from this alarm's domain."""
        linked = self.links.get(alarm.asset, set())
        if not linked:
            return None
        window = self.groupings(alarm.domain, alarm.rule).window
        for incident in sorted(self.incidents.values(), key=lambda i: i.id):
            if incident.state == "closed" or not linked.intersection(incident.assets):
                continue
            for member in self._members(incident):
                if (member.asset in linked and frozenset((alarm.domain, member.domain)) in self.coupled
                        and self._recent(member, alarm.since, window)):
                    return incident.id
        return None

    @staticmethod
    def _recent(member: Alarm, since: float, window: float) -> bool:
        """Is ``member`` active, or did it change less than ``window`` before ``since``?"""
        return (member.condition_active and member.state != "resolved") or since - member.updated <= window

    def _members(self, incident: Incident) -> list[Alarm]:
        alarms = self.alarms.alarms
        return [alarms[i] for i in incident.alarms if i in alarms and self.by_alarm.get(i) == incident.id]

    def _refresh(self, incident: Incident, now: float, alarm_id: int | None, kind: str | None = None,
                 rising: bool = False) -> None:
        """Update what an incident shows after a change of its alarm ``alarm_id`` (``rising``:
        it was raised or escalated); stage the event its change is (``kind``, or escalate /
        deescalate / clear when its level moved). The changed alarm alone is looked at when
        that is enough (a storm's incident has thousands), all of them when the worst or the
        last active one eased."""
        alarms = self.alarms.alarms
        changed = alarms.get(alarm_id) if alarm_id is not None else None
        before = incident.level
        if (changed is None or changed.id == incident.worst_alarm or changed.state == "resolved"
                or (incident.active and not changed.condition_active)):
            self._recount(incident)
        else:
            current = _effective(changed)
            worst = alarms.get(incident.worst_alarm)
            if current > 0 and (worst is None or _rank(changed) > _rank(worst)):
                incident.worst_alarm = changed.id
            incident.level = max(incident.level, current)
            incident.peak_level = max(incident.peak_level, changed.peak_level)
            if changed.domain not in incident.domains:
                incident.domains = sorted({*incident.domains, changed.domain})
            incident.active = incident.active or (changed.condition_active and changed.state != "resolved")
        worst = alarms.get(incident.worst_alarm) or changed
        if worst is None:
            self._dirty.add(incident.id)
            return
        # The title is what people were told (the wall, the notifications): it follows a
        # worse alarm rising until someone acts on the incident, and then stays. An alarm
        # easing, clearing or being resolved never moves it: resolving the worst one
        # would otherwise rename the incident to a place nobody was told about (and the
        # "resolved" notification and the case file would carry that name).
        if not incident.title or (rising and not incident.actions and worst.id == alarm_id):
            place, place_zh = self.names.get(worst.asset, (worst.asset, worst.asset))
            incident.place, incident.place_zh = place, place_zh
            incident.title = f"{worst.title} at {place}"
            incident.title_zh = f"{place_zh} {worst.title_zh or worst.title}"
        incident.domain, incident.rule = worst.domain, worst.rule
        if not incident.dispatched_to:
            incident.owner = worst.owner
        level = incident.level
        if level != before:
            incident.level_since = now
        incident.updated = max(incident.updated, now)
        self._dirty.add(incident.id)
        if kind is not None:
            self._stage(kind, incident, now, alarm=alarm_id)
        if level != before and kind != "open":
            self._stage("escalate" if level > before else ("clear" if level == 0 else "deescalate"), incident, now,
                        alarm=alarm_id)

    def _recount(self, incident: Incident) -> None:
        """Level, worst alarm, peak, domains, activity and (if an alarm left) the outline
        from all of the incident's alarms."""
        members = self._members(incident)
        if not members:
            return
        incident.level = max(_effective(a) for a in members)
        if incident.level > 0:
            incident.worst_alarm = max(members, key=_rank).id
        incident.peak_level = max([incident.peak_level, *(a.peak_level for a in members)])
        incident.domains = sorted({a.domain for a in members})
        incident.active = any(a.condition_active and a.state != "resolved" for a in members)
        if len(members) < len(incident.alarms):  # an alarm left (it rose again after a close): redraw
            incident.outline = outline(p for a in members for p in self.places.get(a.asset, ()))

    # -- bookkeeping -----------------------------------------------------------------------
    def _touch(self, incident_id: int) -> Incident:
        """The incident, its state before this commit saved for a rollback."""
        if incident_id not in self._undo:
            self._undo[incident_id] = copy.deepcopy(self.incidents[incident_id])
        if self._undo_next is None:
            self._undo_next = self._next_id
        return self.incidents[incident_id]

    def _stage(self, kind: str, incident: Incident, now: float, who: str = "", note: str = "",
               alarm: int | None = None) -> None:
        self._dirty.add(incident.id)
        self.staged.append(IncidentEvent(kind, incident.summary(), now, who, note, alarm))

    def _index(self) -> None:
        self.by_alarm = {}
        self._grid = {}
        self._assets = {}
        for incident in sorted(self.incidents.values(), key=lambda i: i.id):
            for alarm_id in incident.alarms:
                self.by_alarm[alarm_id] = incident.id
        for incident in self.incidents.values():
            for alarm_id in incident.alarms:
                alarm = self.alarms.alarms.get(alarm_id)
                if alarm is not None and self.by_alarm.get(alarm_id) == incident.id:
                    self._grid_add(incident.id, alarm)


def _effective(alarm: Alarm) -> int:
    """An alarm's level as its incident counts it: a resolved one counts no more."""
    return alarm.level if alarm.state != "resolved" else 0


def _rank(alarm: Alarm) -> tuple[int, float, int]:
    """The worst alarm ranks highest: the highest level, then the longest at it, then the first raised."""
    return (_effective(alarm), -alarm.level_since, -alarm.id)


def _far(here: tuple[Point, ...], hull: list[list[float]], limit: float) -> bool:
    """True when every point of ``here`` is more than ``limit`` outside the box around
    ``hull``: no member can be within ``limit`` (a cheap test before the exact one)."""
    if not here or not hull:
        return False
    xs = [p[0] for p in hull]
    ys = [p[1] for p in hull]
    x0, x1, y0, y1 = min(xs) - limit, max(xs) + limit, min(ys) - limit, max(ys) + limit
    return not any(x0 <= x <= x1 and y0 <= y <= y1 for x, y in here)


def _storable(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
