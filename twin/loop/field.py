"""The field crew's side of an incident: its tasks (the incidents dispatched to its
unit), what it reports from the phone page (``/field/``), and its photos.

A crew reports in order: 已接收 ``accept`` (once dispatched), 已到场 ``arrive``, 处置中
``work`` (again and again, with a note and photos), 处置完成 ``done`` (with the cause
found). Each report is an action on the incident (its timeline on the wall, in the
stream at once), written to the alarm store before the answer, like an operator's. The
operator closes the incident once its alarms have cleared.

A phone on a weak link may send a step twice: its answer was lost, or the step waited
offline in the phone and went out when the link came back. Each report may carry the
page's idempotency ``key``; a report whose key is already on the task is answered with
the task as it is and applied once.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from pathlib import Path
from typing import Any

from twin.errors import TwinError
from twin.loop.incidents import Incident, IncidentBook
from twin.loop.places import vertices
from twin.tick.alarms import MAX_ACTIONS, MAX_NAME_CHARS, MAX_NOTE_CHARS, InvalidAction, checked_text

#: crew step -> (the crew state it leads to, the crew states it may come from)
STEPS = {
    "accept": ("accepted", ("",)),
    "arrive": ("on_site", ("accepted",)),
    "work": ("working", ("on_site", "working")),
    "done": ("done", ("on_site", "working")),
}
#: largest photo kept, in bytes once decoded (the page sends a phone's photo scaled to
#: 1280 px as JPEG, a few hundred kB: a slow connection carries it, the API's 1 MiB
#: body limit holds it in base64)
MAX_PHOTO_BYTES = 600_000
MAX_PHOTO_PIXELS = 4096
#: photos one incident keeps
MAX_PHOTOS = 40
#: buildings drawn around a task on the phone's map, at most, and how far around
MAP_BUILDINGS = 80
MAP_MARGIN = 120.0
_DATA_URL = re.compile(r"data:image/(jpeg|png);base64,(.*)", re.S)
_PHOTO_NAME = re.compile(r"\d+-\d{3}\.(jpg|png)")
#: a report's idempotency key: the page makes a random one per step pressed
_KEY = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class NotYourTask(TwinError):
    """The incident is not a task of this crew's unit (or not dispatched): answered as a
    404 that says nothing of incidents that are not its own."""


def is_task(incident: Incident, unit: str) -> bool:
    """Is ``incident`` a task of ``unit`` ("" for an admin, who sees every one)? Tasks are
    the incidents dispatched and not closed, and closed ones the crew reported done on."""
    if incident.state not in ("dispatched", "closed") or (incident.state == "closed" and incident.crew != "done"):
        return False
    return not unit or incident.dispatched_to == unit


def tasks(book: IncidentBook, unit: str) -> list[Incident]:
    """The unit's tasks, open ones first (worst first), then the latest closed."""
    return [i for i in book.ordered(closed=True) if is_task(i, unit)]


def report(book: IncidentBook, incident_id: int, step: str, who: str, unit: str, note: str = "", cause: str = "",
           photo: str | None = None, now: float = 0.0, photos_dir: Path | None = None, key: str = "") -> Incident:
    """Record a crew's step on its task and commit it before returning (the store's
    StoreUnavailable if it cannot be written: then nothing changed). ``photo`` is a data
    URL (``data:image/jpeg;base64,...``), stored in ``photos_dir``. A ``key`` already on
    one of the task's steps (the same report sent again) changes nothing and returns the
    task as it is. Refusals: :class:`NotYourTask`, InvalidAction (text, key or photo),
    TwinError (a step out of order)."""
    if step not in STEPS:
        raise TwinError(f"unknown crew step {step!r}; valid: {', '.join(STEPS)}")
    if key and not (isinstance(key, str) and _KEY.fullmatch(key)):
        raise InvalidAction("key must be 1 to 64 letters, digits, '.', '_', ':' or '-' (the page makes one per step)")
    after, allowed = STEPS[step]
    with book.alarms._lock:
        incident = book.incidents.get(incident_id)
        if incident is not None and key and is_task(incident, unit):
            # checked before the order of steps: a repeated accept comes after accepted
            sent = next((a for a in incident.actions if a.get("key") == key), None)
            if sent is not None:
                if sent["action"] != step:
                    raise InvalidAction(f"key {key!r} was already used for {sent['action']}, not {step}; "
                                        "a new step needs a new key")
                return incident
        if incident is None or incident.state != "dispatched" or not is_task(incident, unit):
            raise NotYourTask(f"no open task {incident_id} for {unit or 'this token'}; GET /api/field/tasks lists yours")
        if incident.crew not in allowed:
            raise TwinError(f"task {incident_id} is {incident.crew or 'not accepted yet'}; {step} comes after "
                            f"{' or '.join(a or 'dispatch' for a in allowed)}")
        note = checked_text(note, "note", MAX_NOTE_CHARS)
        cause = checked_text(cause, "cause", MAX_NOTE_CHARS)
        who = checked_text(who, "who", MAX_NAME_CHARS)
        if step == "done" and not cause.strip():
            raise InvalidAction("done needs the cause found (cause = \"...\"), for the case file")
        if len(incident.actions) >= MAX_ACTIONS - 1:
            raise InvalidAction(f"incident {incident_id} has {len(incident.actions)} actions, the most one keeps")
        name = None
        if photo is not None:
            if photos_dir is None:
                raise InvalidAction("this twin keeps no data folder, so no photos")
            name = _store_photo(photos_dir, incident, photo)
        incident = book._touch(incident_id)
        incident.crew = after
        incident.updated = now
        record: dict[str, Any] = {"action": step, "who": who, "time": now, "note": note, "unit": unit}
        if cause:
            record["cause"] = cause
        if name is not None:
            record["photo"] = name
        if key:
            record["key"] = key
        incident.actions.append(record)
        book._stage(step, incident, now, who, note)
        book.alarms.commit()
        return book.incidents[incident_id]


def _store_photo(folder: Path, incident: Incident, data_url: str) -> str:
    """Check a photo (a JPEG or PNG of at most MAX_PHOTO_BYTES and MAX_PHOTO_PIXELS a
    side, that decodes whole) and write it as ``<incident>-<n>.<ext>``; its name."""
    match = _DATA_URL.fullmatch(data_url.strip()) if isinstance(data_url, str) else None
    if match is None:
        raise InvalidAction("photo must be a data URL of a JPEG or PNG: data:image/jpeg;base64,...")
    if len(match.group(2)) > MAX_PHOTO_BYTES * 4 // 3 + 4:
        raise InvalidAction(f"the photo is over {MAX_PHOTO_BYTES // 1000} kB; the page scales it down, send it from there",
                            status=413)
    try:
        raw = base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidAction("the photo's base64 is not valid") from None
    kind = _check_image(raw, match.group(1))
    taken = sum(1 for a in incident.actions if "photo" in a)
    if taken >= MAX_PHOTOS:
        raise InvalidAction(f"incident {incident.id} keeps {MAX_PHOTOS} photos, the most it takes")
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{incident.id}-{taken + 1:03d}.{'jpg' if kind == 'JPEG' else 'png'}"
    (folder / name).write_bytes(raw)
    return name


def _check_image(raw: bytes, said: str) -> str:
    """The image's format, JPEG or PNG, after decoding it whole; InvalidAction if it is not one."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(raw)) as image:
            kind = image.format
            width, height = image.size
            if max(width, height) > MAX_PHOTO_PIXELS:
                raise InvalidAction(f"the photo is {width}x{height} pixels; at most {MAX_PHOTO_PIXELS} a side")
            image.load()  # decodes it: a truncated or forged file fails here
    except InvalidAction:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise InvalidAction(f"the photo is not a readable {said.upper()} image") from None
    if kind not in ("JPEG", "PNG") or kind.lower() != {"jpeg": "jpeg", "png": "png"}[said]:
        raise InvalidAction(f"the photo says image/{said} but is {kind or 'not an image'}")
    return kind


def photo_path(folder: Path | None, incident: Incident, name: str) -> Path | None:
    """The file of one of ``incident``'s photos, or None if it has no such photo."""
    if folder is None or not _PHOTO_NAME.fullmatch(name) or not name.startswith(f"{incident.id}-"):
        return None
    if not any(a.get("photo") == name for a in incident.actions):
        return None
    path = folder / name
    return path if path.is_file() else None


def task_view(incident: Incident, engine: Any, detail: bool = True) -> dict[str, Any]:
    """What the phone shows of a task: the incident, its crew timeline (dispatch and the
    crew's steps, notes included: they are the crew's own), and with ``detail`` each
    asset's place and live readings and the buildings around, for the small map."""
    timeline = [a for a in incident.actions if a["action"] in ("dispatch", *STEPS)]
    view: dict[str, Any] = {
        "id": incident.id, "title": incident.title, "title_zh": incident.title_zh, "level": incident.level,
        "peak_level": incident.peak_level, "state": incident.state, "crew": incident.crew, "place": incident.place,
        "place_zh": incident.place_zh, "owner": incident.owner, "dispatched_to": incident.dispatched_to,
        "opened": incident.opened, "updated": incident.updated, "outline": incident.outline, "timeline": timeline,
        "photos": [a["photo"] for a in incident.actions if "photo" in a],
    }
    if detail:
        view["assets"] = [_asset_view(engine, asset) for asset in incident.assets[:12]]
        view["buildings"] = _buildings_near(engine.scene.buildings, incident.outline)
    return view


def _asset_view(engine: Any, asset_id: str) -> dict[str, Any]:
    try:
        asset = engine.scene.asset(asset_id)
        table, row = engine.world.locate(asset_id)
    except KeyError:
        return {"id": asset_id, "readings": []}
    points = vertices(asset.geometry)
    x = sum(p[0] for p in points) / len(points) if points else None
    y = sum(p[1] for p in points) / len(points) if points else None
    domain = engine.registry.domains[asset.domain]
    readings = []
    for spec in domain.fields:
        if spec.attribute or spec.name not in table.columns:
            continue
        value = float(table.columns[spec.name][row])
        readings.append({"field": spec.name, "label": spec.description, "label_zh": spec.label_zh, "unit": spec.unit,
                         "value": value if value == value and abs(value) != float("inf") else None})
    return {"id": asset_id, "domain": asset.domain, "kind": asset.kind, "x": x, "y": y, "readings": readings}


def _buildings_near(buildings: list[dict[str, Any]], outline: list[list[float]]) -> list[list[list[float]]]:
    if not outline:
        return []
    xs, ys = [p[0] for p in outline], [p[1] for p in outline]
    x0, x1, y0, y1 = min(xs) - MAP_MARGIN, max(xs) + MAP_MARGIN, min(ys) - MAP_MARGIN, max(ys) + MAP_MARGIN
    out = []
    for feature in buildings:
        ring = vertices(feature.get("geometry"))
        if ring and any(x0 <= x <= x1 and y0 <= y <= y1 for x, y in ring):
            out.append([[round(x, 1), round(y, 1)] for x, y in ring])
            if len(out) >= MAP_BUILDINGS:
                break
    return out
