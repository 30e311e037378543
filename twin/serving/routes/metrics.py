"""``GET /metrics``: Prometheus exposition of the twin's counters and figures."""

from __future__ import annotations

from starlette.responses import Response

from twin.serving.routing import ApiRoute, Call, Media

PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"


async def metrics(call: Call) -> Response:
    """The twin's metrics in Prometheus' text format (ticks, kernels, readings, stream,
    subsystems, MQTT)."""
    server, e = call.server, call.twin
    e.metrics.stream_clients.set(len(server.hub.clients) if server.hub else 0)
    age = server.tick_age()
    e.metrics.last_tick_age.set(age if age is not None else 0.0)
    for name, part in server.subsystems.parts.items():
        e.metrics.subsystem_up.labels(name).set(1 if part.state == "ok" else 0)
    server.count_mqtt()
    return Response(e.metrics.exposition(), media_type=PROMETHEUS)


ROUTES = [
    ApiRoute("GET", "/metrics", metrics, tag="health", answers={200: Media(PROMETHEUS, {"type": "string"}, "Prometheus text format")}),
]
