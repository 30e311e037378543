"""``POST /api/readings``: readings over HTTP from devices (``twin.serving.readings_api``
judges them); here is what it takes and answers, declared."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType
from starlette.responses import Response

from twin.serving.guard import BODY_TYPES
from twin.serving.readings_api import SensorSample
from twin.serving.routing import ApiError, ApiRoute, Call, Media
from twin.tick.ingest import REJECT_REASONS

Reason = Literal[REJECT_REASONS]  # type: ignore[valid-type]


class Reject(msgspec.Struct, omit_defaults=True):
    """One refused reading: where it is in the body (``index`` in an array, ``line`` of
    a CSV body, or ``reading``: its position when neither is known), why, and what would
    be valid."""

    reason: Reason
    detail: str
    index: int | None | UnsetType = UNSET
    line: int | None | UnsetType = UNSET
    reading: int | UnsetType = UNSET
    sensor: str | UnsetType = UNSET


class ReadingsAnswer(msgspec.Struct, omit_defaults=True):
    """The verdict on every reading of the body, final: the good ones are applied at the
    next tick (``time``), the others counted by reason, the first few described."""

    accepted: int
    rejected: int
    #: rejected readings per reason
    reasons: dict[Reason, int]
    #: the first refusals, in the body's order (at most 10; all are counted)
    rejects: list[Reject]
    #: the twin's clock the readings were judged against: the next tick's
    time: float
    #: why the body as a whole is not readings (400)
    error: str | UnsetType = UNSET


CSV = Media("text/csv", {"type": "string"}, "rows `sensor,t,v[,q]`, an optional header row `sensor,t,v,q`")
_MSGPACK = Media("application/msgpack", {"type": "string", "contentMediaType": "application/msgpack"},
                 "the same as JSON, in msgpack")


async def post_readings(call: Call) -> Response:
    """Readings from a device, judged at once by ingest's rules; 200 when any is accepted,
    422 when none is, 400 when the body is not readings."""
    return await call.server.readings.post(call.request)


def _bodies() -> dict[str, Any]:
    bodies: dict[str, Any] = {}
    for kind in BODY_TYPES["/api/readings"]:
        bodies[kind] = SensorSample | list[SensorSample] if kind == "application/json" else CSV if kind == "text/csv" else _MSGPACK
    return bodies


ROUTES = [
    ApiRoute("POST", "/api/readings", post_readings, role="device", tag="readings", raw=True, body=_bodies(),
             doing="posting readings", answers={200: ReadingsAnswer, 400: ReadingsAnswer, 409: ApiError, 422: ReadingsAnswer}),
]
