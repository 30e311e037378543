"""The outbox: every notification the rules call for, written in the same SQLite
transaction as the alarm or incident change it tells of.

A change that is stored has its notifications stored with it; one that a crash lost was
never told. Rows wait as ``pending`` until the sender (twin.loop.notify.sender) has
delivered them and marks them ``sent``; a delivery that dies with the process is tried
again after the restart, with the same body and idempotency key.
"""

from __future__ import annotations

import json
import sqlite3
import time as wallclock
import uuid
from collections.abc import Callable
from typing import Any

from twin.loop.incidents import IncidentBook, IncidentEvent
from twin.loop.notify.config import ALARM_CHANGES, INCIDENT_CHANGES, NotifyConfig
from twin.tick.alarms import AlarmBook, AlarmEvent
from twin.types import LEVEL_NAMES

BODY_VERSION = 1
SCHEMA = ("CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, channel TEXT NOT NULL,"
          " rules TEXT, event TEXT, created REAL, state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,"
          " next_try REAL NOT NULL DEFAULT 0, last_error TEXT, sent REAL, body BLOB NOT NULL, UNIQUE (key, channel))")
CHANGE_WORDS = {
    "raised": ("raised", "发生"), "escalated": ("escalated", "升级"), "deescalated": ("eased", "降级"),
    "cleared": ("cleared", "解除"), "overdue": ("overdue: escalated to the next in the chain", "超时未处置，已逐级上报"),
    "acknowledged": ("acknowledged", "已确认"), "dispatched": ("dispatched", "已派单"), "resolved": ("resolved", "已处置完毕"),
    "joined": ("grew", "新增关联报警"),
    "accepted": ("accepted by the crew", "现场人员已接收"), "arrived": ("crew on site", "现场人员已到场"),
    "working": ("crew at work", "处置中"), "done": ("crew done", "现场处置完成"),
}


class Outbox:
    """Writes the rows; attached to the alarm store after the incident book, whose
    staged events it reads in the same commit."""

    def __init__(self, alarms: AlarmBook, incidents: IncidentBook, config: NotifyConfig, scene: str,
                 on_commit: Callable[[list[str]], None] = lambda channels: None) -> None:
        """``on_commit`` gets the channel of each row a commit wrote (the sender is woken)."""
        self.incidents = incidents
        self.config = config
        self.scene = scene
        self.on_commit = on_commit
        self._channels: list[str] = []
        alarms.attach(self)

    # -- the store's commit ----------------------------------------------------------------
    def open_store(self, db: sqlite3.Connection) -> None:
        db.execute(SCHEMA)
        db.execute("CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_try)")

    def pending(self) -> bool:
        return False  # it writes only for changes other participants bring

    def write(self, db: sqlite3.Connection | None, events: list[AlarmEvent]) -> None:
        if db is None:
            return
        rows = [row for e in events for row in self._for_alarm(e)]
        rows += [row for e in self.incidents.staged for row in self._for_incident(e)]
        db.executemany("INSERT INTO outbox (key, channel, rules, event, created, body) VALUES (?,?,?,?,?,?)", rows)
        self._channels = [row[1] for row in rows]

    def committed(self) -> None:
        channels, self._channels = self._channels, []
        if channels:
            self.on_commit(channels)

    def rolled_back(self) -> None:
        self._channels = []

    def check_deadlines(self, now: float) -> None:
        pass

    # -- what to write ----------------------------------------------------------------------
    def _for_alarm(self, event: AlarmEvent) -> list[tuple[Any, ...]]:
        change = ALARM_CHANGES.get(event.kind)
        a = event.alarm
        if change is None:
            return []
        rules = [r for r in self.config.rules if r.matches("alarm", change, [a["domain"]], int(a["level"] or a["peak_level"]), a["owner"])]
        return self._rows_for(rules, {}, "alarm", change, event.kind, a, event.time, event.who, event.note)

    def _for_incident(self, event: IncidentEvent) -> list[tuple[Any, ...]]:
        change = INCIDENT_CHANGES.get(event.kind)
        i = event.incident
        if change is None:
            return []
        rules = [r for r in self.config.rules
                 if r.matches("incident", change, i["domains"], int(i["level"] or i["peak_level"]), i["owner"])]
        chain: dict[str, str] = {}
        escalation = i["escalations"][-1] if event.kind == "overdue" and i["escalations"] else None
        if escalation is not None:
            # The chain's step is told whatever the rules say: that is what escalation is.
            chain = {c: f"escalation to {escalation.get('name', '')}" for c in escalation.get("channels", [])}
        return self._rows_for(rules, chain, "incident", change, event.kind, i, event.time, event.who, event.note, escalation)

    def _rows_for(self, rules: list[Any], chain: dict[str, str], subject: str, change: str, kind: str,
                  record: dict[str, Any], time: float, who: str, note: str,
                  escalation: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        channels: dict[str, list[str]] = {}
        for rule in rules:
            for channel in rule.channels:
                channels.setdefault(channel, []).append(rule.name)
        for channel, why in chain.items():
            channels.setdefault(channel, []).append(why)
        if not channels:
            return []
        key = uuid.uuid4().hex
        message = self.message(key, subject, change, kind, record, time, who, note, escalation)
        body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        created = wallclock.time()
        return [(key, channel, json.dumps(why, ensure_ascii=False), change, created, body) for channel, why in channels.items()]

    def message(self, key: str, subject: str, change: str, kind: str, record: dict[str, Any], time: float, who: str,
                note: str, escalation: dict[str, Any] | None = None) -> dict[str, Any]:
        """The body every channel delivers (docs/notifications.md, "The webhook's body")."""
        level = int(record["level"] or record.get("peak_level", 0))
        en_level, zh_level = LEVEL_NAMES["en"][level], LEVEL_NAMES["zh-CN"][level]
        en_change, zh_change = CHANGE_WORDS[change]
        title_en, title_zh = record["title"], record["title_zh"] or record["title"]
        place = record.get("asset") or ", ".join(record.get("assets", [])[:3])
        text = {
            "title": f"[{en_level}] {title_en}",
            "en": f"{en_level} {subject} {record['id']} {en_change}: {title_en} ({place}); owner {record['owner']}"
                  + (f"; note: {note}" if note else ""),
            "zh-CN": f"【{zh_level}】{'事件' if subject == 'incident' else '报警'} {record['id']} {zh_change}：{title_zh}"
                     f"（{place}），权属单位 {record['owner']}" + (f"，备注：{note}" if note else ""),
        }
        message = {"version": BODY_VERSION, "key": key, "scene": self.scene, "subject": subject, "event": change,
                   "kind": kind, "time": time, "level": level, "who": who, "note": note, "text": text, subject: record}
        if escalation is not None:
            message["escalation"] = escalation
        return message
