"""The HTTP API's routes, by area; each module declares its routes in ``ROUTES``
(``twin.serving.routing.ApiRoute``: method, path, role, query, body, answers, handler).
:func:`api_routes` is the one table the server, the OpenAPI document and docs/api.md
are made from."""

from __future__ import annotations

from twin.serving.routing import ApiRoute


def api_routes() -> list[ApiRoute]:
    """Every declared route, in the order docs/api.md lists them."""
    from twin.serving import history_api, incidents_api
    from twin.serving.routes import (actions, alarms, docs, exercise, health, layers, metrics, plugins, readings, recordings,
                                     replay, scene)

    return [*health.ROUTES, *scene.ROUTES, *plugins.ROUTES, *alarms.ROUTES, *actions.ROUTES, *replay.ROUTES, *recordings.ROUTES,
            *layers.ROUTES, *readings.ROUTES, *history_api.ROUTES, *incidents_api.ROUTES, *exercise.ROUTES, *metrics.ROUTES,
            *docs.ROUTES]
