"""``/api/incidents``: the alarms grouped by happening (twin.loop.incidents), what
operators do to them, the archive of closed ones with their response times,
``/api/notifications`` (twin.loop.notify), and the field crew's phone page ``/field/``
with its ``/api/field/...`` (twin.loop.field). Declared once in :data:`ROUTES`
(twin.serving.routing), so that they are in ``/api/openapi.json`` like every route.

Viewers and every role above read; operators and above act; a ``crew`` token sees and
reports on its own unit's tasks only (docs/incidents.md).
"""

from __future__ import annotations

import asyncio
import statistics
from pathlib import Path
from typing import Literal, NotRequired, TypedDict

import msgspec
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from twin.errors import TwinError
from twin.loop import field
from twin.loop.incidents import STEPS_TIMED
from twin.serving.auth import authorize, caller_of
from twin.serving.access import CREW
from twin.serving.protocol import (
    AlarmSummary, ApiErrorCode, CrewProgress, IncidentActionTaken, IncidentInfo, IncidentState, IncidentSummary,
)
from twin.serving.routes.alarms import ActionBody, act_on, refusal
from twin.serving.routing import ApiError, ApiFailure, ApiRoute, Call, Media

#: the path's action words -> the incident action
ACTIONS = {"ack": "acknowledge", "acknowledge": "acknowledge", "dispatch": "dispatch", "close": "close"}
ActionName = Literal["ack", "acknowledge", "dispatch", "close"]


class IncidentQuery(msgspec.Struct):
    """Without ``closed``: the open incidents. ``closed=1`` (or ``state=closed``) adds the
    closed ones: the archive, which ``from`` and ``to`` narrow to those closed in
    [from, to) (seconds on the twin's clock: epoch seconds when live)."""

    closed: bool = False
    state: IncidentState | None = None
    #: incidents with an alarm of this domain
    domain: str | None = None
    #: incidents changed at or after this time
    since: float | None = None
    from_: float | None = msgspec.field(default=None, name="from")
    to: float | None = None


class Figure(msgspec.Struct):
    """One response time over the incidents listed: how many have it, its median and
    90th percentile and its mean (seconds; null when none has it)."""

    count: int
    median: float | None
    p90: float | None
    mean: float | None


class IncidentList(msgspec.Struct):
    """Incident summaries (each action without its note, with its response times), open
    ones worst first (level, then the longest at it), closed ones after, latest closed
    first; the response-time figures over the listed ones; the twin's clock."""

    incidents: list[IncidentSummary]
    figures: dict[str, Figure]
    time: float


class IncidentRecord(msgspec.Struct):
    """One incident's whole record (every note), and its alarms' summaries."""

    incident: IncidentInfo
    alarms: list[AlarmSummary]
    time: float


class IncidentActed(msgspec.Struct):
    """The incident's whole record after the action."""

    incident: IncidentInfo


# The notifier's and the field crew's records are the maps twin.loop makes
# (twin.loop.notify, twin.loop.field): TypedDicts, as the protocol's alarm and incident records.


class ChannelStatus(TypedDict):
    """How one notification channel fares (twin.loop.notify.sender.ChannelState)."""

    name: str
    #: the channel's kind (``log``, ``webhook``, ``email``...)
    kind: str
    #: failing: its last try failed; waiting: rows wait and none was sent yet; ok otherwise
    state: Literal["ok", "waiting", "failing"]
    #: outbox rows waiting for it
    pending: int
    #: since the process started: rows sent, tries failed
    sent: int
    failed_tries: int
    #: failures in a row (0 once a delivery succeeds)
    failures_in_a_row: int
    #: the last failure's reason ("" if none)
    last_error: str
    #: wall-clock times of its last delivery and last failure (null: none yet)
    last_sent: float | None
    last_failed: float | None
    #: while failing, the wall-clock time before which it is not tried again
    retry_at: float | None


class NotificationRule(TypedDict):
    """A rule of the notifications file: which changes of which subject go to which channels."""

    name: str
    channels: list[str]
    #: the changes it sends (raised, escalated, acknowledged...)
    on: list[str]
    #: incident or alarm
    subject: str
    #: empty: every domain
    domains: list[str]
    min_level: int
    #: owner units (权属单位); empty: any
    owners: list[str]


class OutboxRow(TypedDict):
    """One row of the notification outbox, without its body."""

    id: int
    #: the change it tells of: the same key is sent once per channel
    key: str
    channel: str
    event: str | None
    #: wall-clock time it was written
    created: float | None
    #: pending or sent
    state: str
    attempts: int
    last_error: str | None
    #: wall-clock time it was sent (null: not yet)
    sent: float | None


class NotificationStatus(msgspec.Struct):
    """The notifications file in force, the sender's state, each channel's state (``ok``,
    ``waiting``, ``failing``; rows waiting, sent, failed tries, the last error and the next
    try), the rules, and the latest outbox rows without their bodies. ``enabled`` is false
    for a twin without a data folder, which tells nobody."""

    enabled: bool
    channels: list[ChannelStatus]
    rules: list[NotificationRule]
    recent: list[OutboxRow]
    file: str | None = None
    sender: str | None = None
    sender_error: str | None = None
    why: str | None = None


async def incidents(call: Call) -> IncidentList:
    """The open incidents worst first, or (``closed=1``) the archive too, with the
    response times of each and their figures."""
    e = call.twin
    q: IncidentQuery = call.query
    found = e.incidents.ordered(closed=q.closed or q.state == "closed")
    if q.state is not None:
        found = [i for i in found if i.state == q.state]
    if q.domain is not None:
        found = [i for i in found if q.domain in i.domains]
    if q.since is not None:
        found = [i for i in found if i.updated >= q.since]
    if q.from_ is not None or q.to is not None:
        low, high = q.from_ if q.from_ is not None else -float("inf"), q.to if q.to is not None else float("inf")
        found = [i for i in found if i.closed is not None and low <= i.closed < high]
    summaries = [i.summary() for i in found]
    return IncidentList(summaries, figures(summaries), e.time)


def figures(summaries: list[IncidentSummary]) -> dict[str, Figure]:
    """The response-time figures of each step over ``summaries``."""
    out = {}
    for step in STEPS_TIMED:
        values = sorted(t for s in summaries if (t := s["times"].get(step)) is not None)
        if not values:
            out[step] = Figure(0, None, None, None)
            continue
        p90 = values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]
        out[step] = Figure(len(values), statistics.median(values), p90, statistics.fmean(values))
    return out


async def incident(call: Call) -> IncidentRecord:
    """One incident's whole record, every note, with its alarms' summaries."""
    e = call.twin
    incident_id = call.request.path_params["incident_id"]
    found = e.incidents.incidents.get(incident_id)
    if found is None:
        raise ApiFailure(ApiErrorCode.NOT_FOUND, f"no incident {incident_id}; GET /api/incidents lists them (closed=1 with the closed)")
    alarms = [e.alarms.alarms[a].summary() for a in found.alarms if a in e.alarms.alarms]
    return IncidentRecord(found.to_json(), alarms, e.time)  # type: ignore[arg-type]


async def incident_action(call: Call) -> IncidentActed:
    """Acknowledge, dispatch or close an incident, and its alarms with it: acknowledge
    acknowledges its raised alarms, dispatch dispatches every alarm not resolved to the
    same unit, close resolves them, by the same person with the same note
    ([incidents.md, Actions on an incident act on its alarms](incidents.md#actions-on-an-incident-act-on-its-alarms));
    all of it written to the store in one transaction before the answer. Closing waits
    until none of its alarms is active and unresolved."""
    e = call.twin
    action = ACTIONS.get(call.request.path_params["action"])
    if action is None:
        raise ApiFailure(ApiErrorCode.NOT_FOUND, f"unknown incident action {call.request.path_params['action']!r}; "
                                                 f"use ack, dispatch or close")
    acted = await act_on(e.incidents, call.request.path_params["incident_id"], action, call)
    return IncidentActed(acted.to_json())  # type: ignore[arg-type]


async def notifications(call: Call) -> NotificationStatus:
    """Each notification channel's state, the rules, and the latest outbox rows."""
    notify = getattr(call.twin, "notify", None)
    if notify is None:
        return NotificationStatus(False, [], [], [], why="this twin keeps no data folder (a drill, a replay or a rerun): "
                                                         "it tells nobody")
    status, recent = await asyncio.to_thread(lambda: (notify.status(), notify.recent()))
    return NotificationStatus(True, status["channels"], status["rules"], recent, status["file"], status["sender"],
                              status["sender_error"])


# -- the field crew ---------------------------------------------------------------------------------
CrewStep = Literal["accept", "arrive", "work", "done"]
#: the phone page: one file, nothing from the internet (a crew's phone may be on a weak link)
FIELD_PAGE = Path(__file__).resolve().parents[1] / "loop" / "field.html"


class TaskReading(TypedDict):
    """A live field of a task's asset: its name, label (both languages), unit and value
    (null where not a finite number)."""

    field: str
    label: str
    label_zh: str
    unit: str
    value: float | None


class TaskAsset(TypedDict):
    """One asset of a task: where it is (scene metres; its domain, kind and place are left
    out for an asset the scene no longer has) and its live readings."""

    id: str
    domain: NotRequired[str]
    kind: NotRequired[str]
    x: NotRequired[float | None]
    y: NotRequired[float | None]
    readings: list[TaskReading]


class TaskView(TypedDict):
    """A task as the crew's phone shows it (twin.loop.field.task_view): the incident, the
    crew's timeline (the dispatch and the crew's steps, notes included: they are the
    crew's own) and its photos' names; one task's view adds each asset (the first 12)
    and the buildings around, for the small map."""

    id: int
    title: str
    title_zh: str
    level: int
    peak_level: int
    state: IncidentState
    crew: CrewProgress
    place: str
    place_zh: str
    owner: str
    dispatched_to: str
    opened: float
    updated: float
    outline: list[list[float]]
    timeline: list[IncidentActionTaken]
    photos: list[str]
    assets: NotRequired[list[TaskAsset]]
    #: building footprints near it, each a ring of [x, y]
    buildings: NotRequired[list[list[list[float]]]]


class FieldTasks(msgspec.Struct):
    """The crew's unit and its tasks (the incidents dispatched to it, open ones first),
    each as the phone lists it; the twin's clock."""

    unit: str
    tasks: list[TaskView]
    time: float


class FieldTask(msgspec.Struct):
    """One task as the phone shows it: the incident, the crew's timeline with its notes,
    each asset's place and live readings, the buildings around (for the small map)."""

    task: TaskView
    time: float


class CrewReport(msgspec.Struct):
    """A crew's report: a note (any step), the cause found (``done`` needs it), a photo
    as a data URL of a JPEG or PNG (``data:image/jpeg;base64,...``, at most 600 kB), and
    an idempotency ``key`` (1 to 64 of ``A-Za-z0-9._:-``): a report sent again with a key
    already on the task is answered with the task and applied once."""

    note: str = ""
    cause: str = ""
    photo: str | None = None
    #: the report's idempotency key: the same report sent again is applied once
    key: str = ""


def _unit(call: Call) -> str:
    """The caller's unit: a crew token's; "" (every unit) for an admin's."""
    return call.caller.unit if call.caller.role == CREW else ""


async def field_tasks(call: Call) -> FieldTasks:
    """The tasks of the crew's unit: the incidents dispatched to it."""
    e, unit = call.twin, _unit(call)
    found = await asyncio.to_thread(lambda: [field.task_view(i, e, detail=False) for i in field.tasks(e.incidents, unit)])
    return FieldTasks(unit, found, e.time)


async def field_task(call: Call) -> FieldTask:
    """One task: where, what, the live readings of its assets, the crew's timeline."""
    e, unit = call.twin, _unit(call)
    incident = e.incidents.incidents.get(call.request.path_params["incident_id"])
    if incident is None or not field.is_task(incident, unit):
        raise ApiFailure(ApiErrorCode.NOT_FOUND, f"no task {call.request.path_params['incident_id']} for "
                                                 f"{unit or 'this token'}; GET /api/field/tasks lists yours")
    return FieldTask(field.task_view(incident, e), e.time)


async def field_report(call: Call) -> FieldTask:
    """A crew's step on its task (accept, arrive, work, done), with a note, the cause
    found and a photo; written to the store before the answer, on the wall at once."""
    e, unit = call.twin, _unit(call)
    body: CrewReport = call.body
    folder = call.server.data_dir / "field" if call.server.data_dir is not None else None
    try:
        incident = await asyncio.to_thread(
            field.report, e.incidents, call.request.path_params["incident_id"], call.request.path_params["step"],
            call.caller.name, unit, body.note, body.cause, body.photo, e.time, folder, body.key)
    except field.NotYourTask as exc:
        raise ApiFailure(ApiErrorCode.NOT_FOUND, str(exc)) from None
    except TwinError as exc:
        raise refusal(exc) from None
    return FieldTask(field.task_view(incident, e), e.time)


async def incident_photo(call: Call) -> Response:
    """A photo a crew took for an incident: to viewers and above, and to the crew of the
    unit it was dispatched to."""
    e = call.twin
    caller = caller_of(call.request)
    incident = e.incidents.incidents.get(call.request.path_params["incident_id"])
    if caller.record is not None and caller.record.role == CREW and not caller.record.expired():
        if incident is None or not field.is_task(incident, caller.record.unit):
            incident = None
    else:
        authorize(caller, "viewer", "seeing a crew's photos")
    folder = call.server.data_dir / "field" if call.server.data_dir is not None else None
    path = field.photo_path(folder, incident, call.request.path_params["name"]) if incident is not None else None
    if path is None:
        raise ApiFailure(ApiErrorCode.NOT_FOUND, f"no photo {call.request.path_params['name']!r} of that incident")
    return FileResponse(path, media_type="image/jpeg" if path.suffix == ".jpg" else "image/png",
                        headers={"Cache-Control": "private, max-age=86400"})


#: what FieldGzip compresses: the crew's page and its API (the phone's link may be slow)
GZIPPED = ("/field/", "/api/field/")


class FieldGzip:
    """ASGI middleware: gzip for the field crew's page and its JSON (``/field/``,
    ``/api/field/...``) when the phone accepts it, so that a slow link carries a third or less of
    the bytes. Everything else passes as it is: the wall sits on the command center's
    network, and its binary frames and meshes gain little from gzip."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # level 6: most of 9's gain for a fraction of its CPU, on a twin that also ticks
        self.gzip = GZipMiddleware(app, minimum_size=500, compresslevel=6)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(GZIPPED):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


async def field_page(call: Call) -> Response:
    """The field crew's phone page (zh-CN and English); it asks for the crew's token."""
    return FileResponse(FIELD_PAGE, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})


ROUTES = [
    ApiRoute("GET", "/api/incidents", incidents, tag="incidents", query=IncidentQuery, answers={200: IncidentList}),
    ApiRoute("GET", "/api/incidents/{incident_id:int}", incident, tag="incidents",
             answers={200: IncidentRecord, 404: ApiError}),
    ApiRoute("POST", "/api/incidents/{incident_id:int}/{action:str}", incident_action, role="operator", tag="incidents",
             body=ActionBody, empty_body=True, path_params={"action": ActionName}, doing="acting on incidents", live=True,
             answers={200: IncidentActed, 404: ApiError, 409: ApiError, 413: ApiError}),
    ApiRoute("GET", "/api/notifications", notifications, tag="incidents", answers={200: NotificationStatus}),
    ApiRoute("GET", "/api/incidents/{incident_id:int}/photos/{name:str}", incident_photo, role=("viewer", CREW), tag="incidents",
             answers={200: Media("image/jpeg", {"type": "string", "format": "binary"}, "the photo (JPEG or PNG)"),
                      404: ApiError}),
    ApiRoute("GET", "/api/field/tasks", field_tasks, role=CREW, tag="field", answers={200: FieldTasks}),
    ApiRoute("GET", "/api/field/tasks/{incident_id:int}", field_task, role=CREW, tag="field",
             answers={200: FieldTask, 404: ApiError}),
    ApiRoute("POST", "/api/field/tasks/{incident_id:int}/{step:str}", field_report, role=CREW, tag="field",
             body=CrewReport, empty_body=True, path_params={"step": CrewStep}, doing="reporting from the field", live=True,
             answers={200: FieldTask, 404: ApiError, 409: ApiError, 413: ApiError}),
    ApiRoute("GET", "/field/", field_page, role=None, ready=False, tag="field",
             answers={200: Media("text/html", {"type": "string"}, "the phone page")}),
]
