"""``/api/incidents``: the alarms grouped by happening (twin.loop.incidents), and what
operators do to them.

- ``GET /api/incidents``: the open incidents, worst first (level, then longest at it);
  ``?closed=1`` adds the closed ones after them, ``?state=``, ``?domain=`` (any of its
  alarms' domains) and ``?since=`` (changed at or after, seconds) filter. Summaries: each
  action without its note.
- ``GET /api/incidents/{id}``: one incident's whole record, notes included, with its
  alarms' summaries.
- ``POST /api/incidents/{id}/ack|dispatch|close`` ``{"note": ..., "unit": ...}``: an
  operator's action, written to the store before the answer (503 + Retry-After when it
  cannot be written, 409 when the incident's state does not allow it).
- ``GET /api/notifications``: the notifications file in force, each channel's state
  (ok, waiting, failing, with its last error and the rows waiting), the rules and the
  latest outbox rows (twin.loop.notify, docs/notifications.md).

Viewers and every role above read; operators and above act (docs/incidents.md).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from twin.errors import TwinError
from twin.loop.incidents import STATES
from twin.serving.access import TokenRecord
from twin.serving.guard import json_object
from twin.tick.alarms import InvalidAction, StoreUnavailable

if TYPE_CHECKING:
    from twin.serving.server import TwinServer

#: the path's action word -> the incident action
ACTION_WORDS = {"ack": "acknowledge", "acknowledge": "acknowledge", "dispatch": "dispatch", "close": "close"}


class IncidentRoutes:
    """The handlers for one :class:`~twin.serving.server.TwinServer`."""

    def __init__(self, server: TwinServer) -> None:
        self.server = server

    async def list(self, request: Request) -> JSONResponse:
        self.server._who(request)
        e = self.server._ready()
        q = request.query_params
        closed = q.get("closed", "0")
        if closed not in ("0", "1"):
            return _error(400, f"closed={closed!r}: use closed=1 to include closed incidents, or leave it out")
        state = q.get("state")
        if state is not None and state not in STATES:
            return _error(400, f"state={state!r}: valid states are {', '.join(STATES)}")
        try:
            since = float(q["since"]) if "since" in q else None
        except ValueError:
            return _error(400, f"since={q['since']!r}: give a time in seconds (the clock of the stream and the API)")
        found = e.incidents.ordered(closed=closed == "1" or state == "closed")
        if state is not None:
            found = [i for i in found if i.state == state]
        if "domain" in q:
            found = [i for i in found if q["domain"] in i.domains]
        if since is not None:
            found = [i for i in found if i.updated >= since]
        return JSONResponse({"incidents": [i.summary() for i in found], "time": e.time})

    async def one(self, request: Request) -> JSONResponse:
        self.server._who(request)
        e = self.server._ready()
        incident_id = request.path_params["incident_id"]
        found = e.incidents.incidents.get(incident_id)
        if found is None:
            return _error(404, f"no incident {incident_id}; GET /api/incidents lists them (?closed=1 with the closed)")
        alarms = [e.alarms.alarms[a].summary() for a in found.alarms if a in e.alarms.alarms]
        return JSONResponse({"incident": found.to_json(), "alarms": alarms, "time": e.time})

    async def act(self, request: Request) -> JSONResponse:
        who = self.server._who(request, "operator")
        e = self.server._ready()
        action = ACTION_WORDS.get(request.path_params["action"])
        if action is None:
            return _error(404, f"unknown incident action {request.path_params['action']!r}; use ack, dispatch or close")
        try:
            body = await json_object(request, '{"note": ..., "unit": ...}', empty={})
        except ValueError:
            return _error(400, 'the body must be a JSON object: {"note": ..., "unit": ...}')
        note, unit = body.get("note", ""), body.get("unit", "")
        try:
            incident = await asyncio.to_thread(e.incidents.act, request.path_params["incident_id"], action,
                                               _actor(who, body.get("who")), note, e.time, unit)
        except KeyError as exc:
            return _error(404, str(exc).strip("'\""))
        except InvalidAction as exc:
            return _error(exc.status, str(exc))
        except StoreUnavailable as exc:
            return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": "1"})
        except TwinError as exc:
            return _error(409, str(exc))
        return JSONResponse({"incident": incident.to_json()})

    async def notifications(self, request: Request) -> JSONResponse:
        self.server._who(request)
        e = self.server._ready()
        notify = getattr(e, "notify", None)
        if notify is None:
            return JSONResponse({"enabled": False, "why": "this twin keeps no data folder (a drill, a replay or a rerun): "
                                                          "it tells nobody", "channels": [], "rules": [], "recent": []})
        status, recent = await asyncio.to_thread(lambda: (notify.status(), notify.recent()))
        return JSONResponse({"enabled": True, **status, "recent": recent})


#: who a caller is when the server runs without tokens (twin.serving.auth.OPEN)
_OPEN = TokenRecord("open", "admin", "", 0.0)


def _actor(who: TokenRecord, said: object) -> str:
    """The name an action is recorded under: the token's; in open mode nobody is
    authenticated, so a ``who`` the caller gives is kept as what they said, never as who
    acted (as for alarms)."""
    if who != _OPEN:
        return who.name
    if isinstance(said, str) and said.split():
        return f"anonymous (said: {' '.join(said.split())[:64]})"
    return "anonymous"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def incident_routes(server: TwinServer) -> list[Route]:
    """The incident routes of ``server``, to list among its routes."""
    api = IncidentRoutes(server)
    return [
        Route("/api/incidents", api.list),
        Route("/api/incidents/{incident_id:int}", api.one),
        Route("/api/incidents/{incident_id:int}/{action:str}", api.act, methods=["POST"]),
        Route("/api/notifications", api.notifications),
    ]
