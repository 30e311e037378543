"""Replay: a recording served as a source like any other.

A :class:`Replay` owns an engine built from the recording's scene (for its tables,
schema and alarm list) but never runs its physics: each :meth:`tick` applies the next
recorded delta. :meth:`seek` restores the state at any moment from the nearest keyframe
(through MCAP's indexes) and the deltas after it. Play, pause, seek and speed are the
director's; every connected screen follows, because there is one timeline per server.

The recording's frames carry the incidents (a keyframe every open one, a delta those it
changed), so the replay's engine holds the incidents of the moment replayed: its stream,
``/api/incidents`` and the wall's incident list show them as they were, after a seek too.

A drill's message injects (``/exercise/message``: a headless ``twin drill run --record``
or a live exercise records them) come back at their time: :meth:`Replay.tick` hands the
ones its frame reached to :meth:`Replay.take_messages`, which the server sends to every
screen as the live exercise did (protocol ``ExerciseMessage``); :meth:`Replay.sent` lists
those up to the moment replayed, after a seek too (``GET /api/exercise/messages``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from twin.loop.incidents import Incident, IncidentBook
from twin.serving import protocol as p
from twin.tick.alarms import Alarm, AlarmBook, AlarmEvent
from twin.tick.engine import Engine, Frame
from twin.runs.recording import NS, RecordingError, RecordingReader, ns, read_stream

log = logging.getLogger("twin.runs.replay")

SPEEDS = (0.25, 64.0)
#: the fields of an incident's record: a summary also carries its response ``times``,
#: which the record computes
_INCIDENT_FIELDS = {f.name for f in dataclasses.fields(Incident)}


class Replay:
    def __init__(self, path: Path, data_dir: Path | None = None, registry: Any = None) -> None:
        """``registry``: the plugins to read the scene with (a running server's own);
        by default the installed ones."""
        from twin.plugins.registry import load_registry
        from twin.runtime import open_scene

        self.path = Path(path)
        # One reader for the info, the seeks and the cursor: a file cut short (a killed
        # recorder) is scanned once and replays up to its last whole chunk.
        self._index = RecordingReader(self.path)
        try:
            self.info = self._index.info()
            if not self.info.counts.get("/frame/keyframe"):
                cut = "" if self.info.complete else " (it was cut short before its first second was written)"
                raise RecordingError(f"{path}: the recording holds no keyframe to replay from{cut}")
            meta = self._index.run_metadata()
            registry = registry if registry is not None else load_registry()
            scene = open_scene(Path(meta["scene_path"]), registry)
            self.engine = Engine(scene, registry, seed=int(meta["seed"]), dt=float(meta["dt"]), simulate=False,
                                 start=self._index.clock_start)
        except BaseException:
            self._index.close()
            raise
        self.start, self.end = self.info.start, self.info.end
        self.speed = 1.0
        self.playing = False
        #: (time, level) of each raise and escalation: the marks on the viewer's timeline
        self.marks = [(a["time"], a["alarm"]["level"]) for a in self.info.alarms if a["kind"] in ("raise", "escalate")]
        #: the exercise's messages to the players, in time order (none for most recordings)
        self.messages = _messages(self.path, self._index)
        #: messages a tick reached that the screens have not been sent yet
        self._due: list[p.ExerciseMessage] = []
        self._lock = threading.Lock()
        self._cursor: Any = None
        self.seek(self.start)

    # -- the timeline ------------------------------------------------------------------
    def seek(self, time: float) -> None:
        """Restore the state at ``time`` (clamped to the recording)."""
        time = min(max(time, self.start), self.end)
        keyframe, deltas = self._index.seek(time)
        with self._lock:
            self.engine.alarms = AlarmBook()
            # a new book of incidents on the new alarm book: the keyframe's and the deltas'
            # summaries fill it (nothing is grouped again: the recording says what was)
            self.engine.incidents = IncidentBook(self.engine.alarms, self.engine.scene, self.engine.registry, self.engine.config)
            self._apply(keyframe)
            for delta in deltas:
                self._apply(delta)
            self.engine.frames.clear()
            self._cursor = self._index.messages(("/frame/delta",), after=ns(self.engine.time))
            self._due = []  # a message before the moment sought is old news: listed, not sent

    def tick(self) -> Frame | None:
        """Apply the next recorded delta; None at the end (the replay pauses there)."""
        with self._lock:
            try:
                _, _, data = next(self._cursor)
            except StopIteration:
                self.playing = False
                return None
            before = self.engine.time
            frame = self._apply(data)
            assert frame is not None
            self.engine.remember(frame)
            self._due += [m for m in self.messages if before < m.time <= frame.time]
            return frame

    def take_messages(self) -> list[p.ExerciseMessage]:
        """The exercise's messages the ticks since the last call reached, in time order
        (each handed out once): for the server to send to every screen."""
        with self._lock:
            due, self._due = self._due, []
        return due

    def sent(self) -> list[p.ExerciseMessage]:
        """The exercise's messages sent up to the moment replayed, in time order."""
        time = self.engine.time
        return [m for m in self.messages if m.time <= time]

    def control(self, action: str, time: float | None = None, speed: float | None = None) -> None:
        if action == "play":
            if self.engine.time >= self.end:
                self.seek(self.start)
            self.playing = True
        elif action == "pause":
            self.playing = False
        elif action == "seek":
            if time is None:
                raise ValueError("seek needs a time in seconds")
            self.seek(float(time))
        elif action == "speed":
            if speed is None or not SPEEDS[0] <= speed <= SPEEDS[1]:
                raise ValueError(f"speed must be between {SPEEDS[0]} and {SPEEDS[1]}")
            self.speed = float(speed)
        else:
            raise ValueError(f"unknown replay action {action!r}; valid: play, pause, seek, speed")

    def state(self) -> p.ReplayState:
        return p.ReplayState(self.playing, self.speed, self.engine.time, self.start, self.end,
                             [list(m) for m in self.marks], self.info.metadata.get("drill", ""))

    # -- applying recorded frames ------------------------------------------------------
    def _apply(self, data: bytes) -> Frame | None:
        message, base = p.decode_server(data)
        tables = self.engine.world.tables
        if isinstance(message, p.Snapshot):
            for d, fields in message.domains.items():
                for f, ref in fields.items():
                    column = tables[d].columns[f]
                    column[:] = p.view(data, base, ref).view(column.dtype) if column.dtype == np.bool_ else p.view(data, base, ref)
            book = self.engine.alarms
            for a in message.alarms:
                alarm = Alarm(**a)
                book.alarms[alarm.id] = alarm
                book.open[(alarm.rule, alarm.asset)] = alarm.id
            self._restore_incidents(message.incidents)
            self._set_clock(message.seq, message.time)
            return None
        assert isinstance(message, p.Delta)
        changes: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
        for d, fields in message.domains.items():
            for f, change in fields.items():
                rows = p.view(data, base, change.rows).copy()
                column = tables[d].columns[f]
                values = p.view(data, base, change.values)
                values = (values.view(np.bool_) if column.dtype == np.bool_ else values).copy()
                column[rows] = values
                changes.setdefault(d, {})[f] = (rows, values)
        events = []
        book = self.engine.alarms
        for e in message.events:
            alarm = Alarm(**e.alarm)
            book.alarms[alarm.id] = alarm
            if alarm.state == "resolved":
                book.open.pop((alarm.rule, alarm.asset), None)
            else:
                book.open[(alarm.rule, alarm.asset)] = alarm.id
            events.append(AlarmEvent(e.kind, e.alarm, e.time, e.who, e.note))
        incidents = self._restore_incidents(message.incidents)
        self._set_clock(message.seq, message.time)
        return Frame(message.seq, message.time, changes, events, [tuple(s) for s in message.stale], incidents)

    def _restore_incidents(self, summaries: list[Any]) -> list[dict[str, Any]]:
        """Put recorded incident summaries into the engine's book, each replacing the one
        of its id (a closed one stays, out of the open list, as on a live twin); returns
        them as plain dicts, for the frame the stream sends on. A recording made before
        incidents existed has none: the replay then has none either."""
        book = self.engine.incidents
        out = []
        for summary in summaries:
            record = msgspec.to_builtins(summary)  # a dict, or a typed struct of a newer protocol
            out.append(record)
            incident = Incident(**{k: v for k, v in record.items() if k in _INCIDENT_FIELDS})
            book.incidents[incident.id] = incident
            for alarm_id in incident.alarms:
                book.by_alarm[alarm_id] = incident.id
        return out

    def _set_clock(self, seq: int, time: float) -> None:
        self.engine.seq = seq
        self.engine.world.time = time

    def close(self) -> None:
        self._cursor = None
        self._index.close()
        self.engine.close()


def _messages(path: Path, reader: RecordingReader) -> list[p.ExerciseMessage]:
    """The recording's ``/exercise/message`` records; one that cannot be read is left out
    with a warning naming the file and the moment (the replay plays on without it)."""
    out = []
    for _, at, data in reader.messages(("/exercise/message",)):
        try:
            out.append(msgspec.json.decode(data, type=p.ExerciseMessage))
        except msgspec.MsgspecError as exc:
            log.warning("%s: a message to the players at %.3f s cannot be read, left out of the replay: %s", path, at / NS, exc)
    return out


def recorded_alarm_events(path: Path) -> list[dict[str, Any]]:
    """The alarm events of a recording, as written (for comparisons)."""
    return [json.loads(data) for _, _, data in read_stream(path, ("/alarm/event",))]


__all__ = ["Replay", "recorded_alarm_events", "NS"]
