"""``POST /api/readings``: readings over HTTP from devices (``twin.serving.readings_api``
judges them); here is what it takes and answers, declared."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from twin.serving.guard import BODY_TYPES
# the answers are declared where they are made (readings_api builds them)
from twin.serving.readings_api import ReadingsAnswer, SensorSample
from twin.serving.routing import ApiError, ApiRoute, Call, Media


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
