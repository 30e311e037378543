"""Alarms: ``GET /api/alarms`` (open ones, or a query), ``GET /api/alarms/{id}`` (one
full record, every note) and ``POST /api/alarms/{id}/{action}`` (acknowledge, dispatch,
resolve: operator role)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

import msgspec

from twin.errors import TwinError
from twin.serving.auth import OPEN
from twin.serving.access import TokenRecord
from twin.serving.protocol import AlarmState, AlarmSummary, ApiErrorCode
from twin.serving.routing import ApiError, ApiFailure, ApiRoute, Call
from twin.tick.alarms import InvalidAction, StoreUnavailable

#: the path's action names: ``ack`` is short for ``acknowledge``
ACTIONS = {"ack": "acknowledge", "acknowledge": "acknowledge", "dispatch": "dispatch", "resolve": "resolve"}
ActionName = Literal["ack", "acknowledge", "dispatch", "resolve"]


class AlarmQuery(msgspec.Struct):
    """Without any parameter: the open alarms. With any: every alarm (open or not) that
    matches all of them."""

    state: AlarmState | None = None
    #: alarms whose peak level reached at least this (1 blue ... 4 red)
    severity: Annotated[int, msgspec.Meta(ge=1, le=4)] | None = None
    domain: str | None = None
    #: alarms changed at or after this time (the twin's clock: epoch seconds when live)
    since: float | None = None


class AlarmList(msgspec.Struct):
    """Alarm summaries (each operator action without its note), most severe first, and
    the twin's clock."""

    alarms: list[AlarmSummary]
    time: float


class AlarmRecord(msgspec.Struct):
    """One alarm's full record, every operator action with its note."""

    alarm: AlarmSummary
    time: float


class AlarmActed(msgspec.Struct):
    """The alarm's full record after the action."""

    alarm: AlarmSummary


class ActionBody(msgspec.Struct):
    """An operator action's note and, for a dispatch, the unit dispatched to (by default
    the owner of the alarm's asset, or of the incident). ``who`` is kept only in open
    mode, as what the caller said. The body of an alarm's and an incident's actions."""

    note: str = ""
    unit: str = ""
    who: str = ""


async def alarms(call: Call) -> AlarmList:
    """The open alarms, or every alarm matching the query, most severe first."""
    e = call.twin
    q: AlarmQuery = call.query
    if any(k in call.request.query_params for k in ("state", "severity", "domain", "since")):
        found = e.alarms.query(q.state, q.severity, q.domain, q.since)
    else:
        found = e.alarms.active()
    # summaries: a list's size must not grow with the notes (the full record: /api/alarms/{id})
    return AlarmList([a.summary() for a in found], e.time)


async def alarm(call: Call) -> AlarmRecord:
    """One alarm's full record, every operator action with its note (the stream
    carries summaries without the notes)."""
    e = call.twin
    alarm_id = call.request.path_params["alarm_id"]
    found = e.alarms.alarms.get(alarm_id)
    if found is None:
        raise ApiFailure(ApiErrorCode.NOT_FOUND, f"no alarm {alarm_id}; GET /api/alarms lists them")
    return AlarmRecord(found.to_json(), e.time)  # type: ignore[arg-type]


async def alarm_action(call: Call) -> AlarmActed:
    """Acknowledge, dispatch or resolve an alarm, with a note; written to the alarm store
    before the answer."""
    e = call.twin
    action = ACTIONS.get(call.request.path_params["action"])
    if action is None:
        raise ApiFailure(ApiErrorCode.NOT_FOUND, "unknown action; use ack, dispatch or resolve")
    acted = await act_on(e.alarms, call.request.path_params["alarm_id"], action, call)
    return AlarmActed(acted.to_json())  # type: ignore[arg-type]


async def act_on(book: Any, item_id: Any, action: str, call: Call) -> Any:
    """``action`` on the alarm or incident ``item_id`` of ``book`` (an alarm or incident
    book) with the request's ActionBody, by its caller, written to the store before the
    answer: the record acted on, or the refusal as an ApiFailure (404 unknown, the
    action's own status when the state forbids it, 503 store unavailable, 409 other)."""
    body: ActionBody = call.body
    e = call.twin
    try:
        return await asyncio.to_thread(book.act, item_id, action, actor(call.caller, body.who), body.note, e.time, body.unit)
    except (KeyError, TwinError) as exc:
        raise refusal(exc) from None


def refusal(exc: KeyError | TwinError) -> ApiFailure:
    """The API's answer to what a book (of alarms, of incidents, the crews' tasks) refused:
    404 for what it does not know, the action's own status for input it refuses, 503 when
    its store cannot be written now, 409 for a state that forbids the action."""
    if isinstance(exc, KeyError):
        return ApiFailure(ApiErrorCode.NOT_FOUND, str(exc).strip("'\""))
    if isinstance(exc, InvalidAction):
        return ApiFailure(exc.status, str(exc))
    if isinstance(exc, StoreUnavailable):
        return ApiFailure(ApiErrorCode.UNAVAILABLE, str(exc))
    return ApiFailure(ApiErrorCode.CONFLICT, str(exc))


def actor(who: TokenRecord, said: str) -> str:
    """The name an operator's action (on an alarm or an incident) is recorded under. A
    token's name; in open mode nobody is authenticated, so a ``who`` the caller gives is
    kept as what they said, never as who acted."""
    if who is not OPEN:
        return who.name
    if said.split():
        return f"anonymous (said: {' '.join(said.split())[:64]})"
    return "anonymous"


ROUTES = [
    ApiRoute("GET", "/api/alarms", alarms, tag="alarms", query=AlarmQuery, answers={200: AlarmList}),
    ApiRoute("GET", "/api/alarms/{alarm_id:int}", alarm, tag="alarms", answers={200: AlarmRecord, 404: ApiError}),
    ApiRoute("POST", "/api/alarms/{alarm_id:int}/{action:str}", alarm_action, role="operator", tag="alarms",
             body=ActionBody, empty_body=True, path_params={"action": ActionName}, doing="acting on alarms", live=True,
             answers={200: AlarmActed, 404: ApiError, 409: ApiError, 413: ApiError}),
]
