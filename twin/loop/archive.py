"""The case file of an incident (``twin archive export``): its whole record in one
self-contained HTML page, in zh-CN or English.

Everything comes from the data folder, read only, so that it can be written while the
twin runs: the incident and its alarms, every change with its wall-clock time (the
alarm store's ``incident_events`` and ``events``), the notifications sent (the outbox),
the crew's reports and photos (``field/``), the response times, and the historical
fields of its assets before, during and after it (the history store, where the twin
kept one: a live twin does, a drill does not).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

from twin.errors import TwinError
from twin.i18n import words
from twin.loop.incidents import STEPS_TIMED, Incident
from twin.types import LEVEL_NAMES

LANGUAGES = ("zh-CN", "en")
#: history shown before the incident opened and after it closed (seconds)
HISTORY_MARGIN = 1800.0
HISTORY_POINTS = 60
#: a crew's step -> its progress once taken (the wall's words for it: VIEWER ``crew_*``)
CREW_PROGRESS = {"accept": "accepted", "arrive": "on_site", "work": "working", "done": "done"}
def load_case(data_dir: Path, incident_id: int) -> dict[str, Any]:
    """Everything the data folder knows of one incident; TwinError naming the folder or
    the incident when it cannot."""
    store = Path(data_dir) / "alarms.sqlite"
    if not store.exists():
        raise TwinError(f"{data_dir}: no alarm store (alarms.sqlite) here; name the twin's data folder with --data")
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5.0)
    try:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "incidents" not in tables:
            raise TwinError(f"{store}: no incidents yet (written by a twin of issue 15 or later)")
        row = db.execute("SELECT body FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        if row is None:
            known = [str(i) for (i,) in db.execute("SELECT id FROM incidents ORDER BY id DESC LIMIT 10")]
            raise TwinError(f"no incident {incident_id} in {store}; the latest: {', '.join(known) or 'none'}")
        incident = Incident(**json.loads(row[0]))
        ids = list(incident.alarms)
        marks = ",".join("?" * len(ids))
        alarms = [json.loads(b) for (b,) in db.execute(f"SELECT body FROM alarms WHERE id IN ({marks}) ORDER BY id", ids)]
        changes = [dict(zip(("kind", "time", "wall", "who", "note", "alarm"), r)) for r in db.execute(
            "SELECT kind, time, wall, who, note, alarm FROM incident_events WHERE incident = ? ORDER BY seq", (incident_id,))]
        alarm_changes = [dict(zip(("kind", "time", "wall", "who", "note", "alarm"), r)) for r in db.execute(
            f"SELECT kind, time, wall, who, note, alarm FROM events WHERE alarm IN ({marks}) ORDER BY seq", ids)]
        sent = _notifications(db, incident_id, set(ids)) if "outbox" in tables else []
    finally:
        db.close()
    return {"incident": incident, "alarms": alarms, "changes": changes, "alarm_changes": alarm_changes,
            "notifications": sent, "photos": _photos(Path(data_dir) / "field", incident),
            "history": _history(Path(data_dir) / "history", incident, alarms)}


def _notifications(db: sqlite3.Connection, incident_id: int, alarm_ids: set[int]) -> list[dict[str, Any]]:
    out = []
    for key, channel, event, created, state, attempts, sent, body in db.execute(
            "SELECT key, channel, event, created, state, attempts, sent, body FROM outbox ORDER BY id"):
        message = json.loads(body)
        record = message.get(message.get("subject", ""), {})
        ours = (message.get("subject") == "incident" and record.get("id") == incident_id) or \
               (message.get("subject") == "alarm" and record.get("id") in alarm_ids)
        if ours:
            out.append({"key": key, "channel": channel, "event": event, "created": created, "state": state,
                        "attempts": attempts, "sent": sent, "subject": message.get("subject"), "time": message.get("time")})
    return out


def _photos(folder: Path, incident: Incident) -> list[dict[str, Any]]:
    out = []
    for action in incident.actions:
        name = action.get("photo")
        path = folder / name if name else None
        if path is not None and path.is_file():
            kind = "image/jpeg" if path.suffix == ".jpg" else "image/png"
            out.append({"name": name, "time": action["time"], "who": action["who"], "note": action.get("note", ""),
                        "src": f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"})
    return out


def _history(folder: Path, incident: Incident, alarms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The historical fields of the incident's assets over the incident and the margin
    around it, each as an SVG path; empty when the twin kept no history then."""
    if not (folder / "history.sqlite").exists():
        return []
    from twin.history.store import Store

    domains = {a["asset"]: a["domain"] for a in alarms}
    start = incident.opened - HISTORY_MARGIN
    end = (incident.closed if incident.closed is not None else incident.updated) + HISTORY_MARGIN
    store = Store(folder, readonly=True)
    try:
        out = []
        names = [name for name, _ in store.catalogue().values()]
        for asset in incident.assets:
            prefix = f"{domains.get(asset, '')}/{asset}/"
            for name in sorted(n for n in names if n.startswith(prefix)):
                series = store.series(name, start, end, max_points=HISTORY_POINTS)
                values = series.value if series.kind == "points" else series.mean
                if values is None or not len(series.time):
                    continue
                out.append({"asset": asset, "field": name[len(prefix):], "svg": _spark(series.time, values, start, end,
                                                                                    incident)})
        return out
    finally:
        store.close()


def _spark(times: Any, values: Any, start: float, end: float, incident: Incident) -> str:
    lo, hi = float(min(values)), float(max(values))
    span = (hi - lo) or 1.0
    x = lambda t: 300.0 * (float(t) - start) / (end - start)  # noqa: E731
    y = lambda v: 50.0 - 46.0 * (float(v) - lo) / span  # noqa: E731
    points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(times, values))
    shade = f'<rect x="{x(incident.opened):.1f}" y="0" width="{x(incident.closed or incident.updated) - x(incident.opened):.1f}" height="52" fill="#f3d4d4"/>'
    return (f'<svg viewBox="0 0 300 52" width="300" height="52">{shade}<polyline points="{points}" fill="none" '
            f'stroke="#0b5cad" stroke-width="1.5"/><text x="2" y="10" font-size="9">{hi:.4g}</text>'
            f'<text x="2" y="50" font-size="9">{lo:.4g}</text></svg>')


def render_values(case: dict[str, Any], lang: str, timezone: str = "UTC") -> dict[str, Any]:
    """What the page and the PDF show of ``case``, in ``lang`` (every word from the shared
    table, twin.i18n: the case file's, and the wall's for an incident's states and its
    crew's steps), clock times in ``timezone``; each table as rows of text."""
    if lang not in LANGUAGES:
        raise TwinError(f"language {lang!r}; valid: {', '.join(LANGUAGES)}")
    incident: Incident = case["incident"]
    zone = _zone(timezone)
    w, wall = words(lang, "case"), words(lang, "viewer")
    zh = lang == "zh-CN"

    def say(key: str, raw: str) -> str:
        # a word the table lacks (a newer store's) shows as stored rather than failing
        return w.get(key) or wall.get(key) or raw

    def when(t: float | None) -> str:
        if t is None:
            return "–"
        if t > 10 ** 8:  # epoch seconds: a live twin's clock
            return dt.datetime.fromtimestamp(t, zone).strftime("%Y-%m-%d %H:%M:%S")
        return f"T+{int(t) // 60:02d}:{int(t) % 60:02d}"  # a drill's clock, from its start

    def took(seconds: float | None) -> str:
        if seconds is None:
            return "–"
        minutes, secs = divmod(int(round(seconds)), 60)
        return f"{minutes} 分 {secs:02d} 秒" if zh else f"{minutes} min {secs:02d} s"

    def person(name: str, name_zh: str | None) -> str:
        return (name_zh or name) if zh else name

    def chain(e: dict[str, Any]) -> tuple[str, str]:
        return person(e["from"], e.get("from_zh") or told.get(e["from"])), person(e["to"], e.get("to_zh"))

    # The chain's Chinese names: each record names whom it went to (to_zh); whom it came
    # from is its from_zh (recorded since the case file's zh-CN), else the one before's to_zh.
    told: dict[str, str] = {}
    for e in incident.escalations:
        told.setdefault(e["to"], e.get("to_zh") or "")
    escalations = [[when(e["time"]), wall.get(f"step_{e['step']}", e["step"]), " → ".join(chain(e)), ", ".join(e["channels"])]
                   for e in incident.escalations]

    def note(change: dict[str, Any], overdue: list[dict[str, Any]]) -> str:
        """A person's note as written; the twin's own (an escalation's summary, the
        all-alarms acknowledgement) in ``lang``."""
        text = change["note"] or ""
        if change["subject"] == "incident" and change["kind"] == "overdue" and overdue and zh:
            e = overdue.pop(0)
            source, target = chain(e)
            return wall["ev_escalation"].format(minutes=f"{e['deadline'] / 60:g}", step=wall.get(f"step_{e['step']}", e["step"]),
                                                **{"from": source, "to": target, "channels": ", ".join(e["channels"])})
        english = words("en", "case")["case_allAcknowledged"]
        if zh and change["subject"] == "incident" and change["kind"] == "acknowledge" and text.startswith(english):
            return w["case_allAcknowledged"] + text[len(english):].replace(": ", "：", 1)
        return text

    changes = sorted([{**c, "subject": "incident"} for c in case["changes"]]
                     + [{**c, "subject": "alarm"} for c in case["alarm_changes"]], key=lambda c: (c["time"], c["wall"]))
    overdue = list(incident.escalations)
    timeline = [[when(c["time"]), say(f"case_{c['subject']}_{c['kind']}", f"{c['subject']} {c['kind']}")
                 + (f" (#{c['alarm']})" if c["alarm"] else ""), c["who"], note(c, overdue)] for c in changes]
    crew = [[when(a["time"]), wall.get(f"crew_{CREW_PROGRESS.get(a['action'], '')}", a["action"]), a["who"],
             a.get("note", ""), a.get("cause", "")] for a in incident.actions if a["action"] in CREW_PROGRESS]
    alarms = [[a["id"], a["asset"], a["title_zh"] if zh and a["title_zh"] else a["title"], a["peak_level"], when(a["since"]),
               w.get(f"state{a['state'].capitalize()}", a["state"])] for a in case["alarms"]]
    notifications = [[when(n["time"]), f"{say('case_subject_' + str(n['subject']), str(n['subject']))} "
                                       f"{say('case_change_' + n['event'], n['event'])}", n["channel"],
                      say(f"case_delivery_{n['state']}", n["state"]) + (f" {when(n['sent'])}" if n["sent"] else ""), n["key"]]
                     for n in case["notifications"]]
    state = wall.get(f"inc_{incident.state}", incident.state)
    facts = [(w["worstLevel"], LEVEL_NAMES["zh-CN" if zh else "en"][incident.peak_level]),
             (w["state"], state if incident.state == "closed" else f"{state} ({w['stillOpen']})"),
             (w["owner"], incident.owner), (w["dispatchedTo"], incident.dispatched_to or "–"),
             (w["opened"], when(incident.opened)), (w["closed"], when(incident.closed)),
             (w["area"], ", ".join(incident.assets))]
    times = incident.response_times()
    return dict(
        w=w, lang=lang, i=incident, title=incident.title_zh if zh else incident.title, facts=facts, when=when,
        took=took, times=[(w[f"took_{step}"], took(times[step])) for step in STEPS_TIMED], alarms=alarms,
        timeline=timeline, escalations=escalations, notifications=notifications, photos=case["photos"],
        history=case["history"], crew=crew, written=dt.datetime.now(zone).strftime("%Y-%m-%d %H:%M"),
    )


def render(case: dict[str, Any], lang: str, timezone: str = "UTC") -> str:
    """The case file as one HTML page (styles and photos inline, nothing fetched)."""
    import jinja2

    template = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=True,
                                  undefined=jinja2.StrictUndefined).get_template("case.html")
    return template.render(**render_values(case, lang, timezone))


def _zone(name: str) -> dt.tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TwinError(f"time zone {name!r} is not an IANA name (Asia/Shanghai, UTC)") from None


def export(data_dir: Path, incident_id: int, lang: str, out: Path | None = None, timezone: str = "UTC",
           pdf: bool = False) -> list[Path]:
    """Write the case file of ``incident_id`` (``incident-<id>-<lang>.html`` in the
    working folder by default) and, with ``pdf``, the same beside it as ``.pdf``; the
    paths written."""
    if lang not in LANGUAGES:
        raise TwinError(f"--lang {lang!r}; valid: {', '.join(LANGUAGES)}")
    case = load_case(data_dir, incident_id)
    page = render(case, lang, timezone)
    path = out or Path(f"incident-{incident_id}-{lang}.html")
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise TwinError(f"{path}: cannot write it ({exc.strerror})") from None
    if not pdf:
        return [path]
    from twin.loop.casepdf import write_pdf

    return [path, write_pdf(case, lang, path.with_suffix(".pdf"), timezone)]
