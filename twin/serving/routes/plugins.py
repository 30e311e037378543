"""Plugins: ``POST /api/plugins/{name}/release`` puts a plugin quarantined while the twin
ran back to work once its cause is fixed (director role; ``GET /api/plugins`` lists them)."""

from __future__ import annotations

import asyncio

import msgspec

from twin.errors import TwinError
from twin.serving.routes.alarms import ActionBody, actor, refusal
from twin.serving.routing import ApiError, ApiFailure, ApiRoute, Call
from twin.serving.protocol import ApiErrorCode
from twin.tick.supervision import release as release_plugin


class PluginReleased(msgspec.Struct):
    """The plugin released: it runs again from the next tick; its fields keep their last
    values and stay stale until one of its steps succeeds."""

    name: str
    #: why it had been quarantined
    was: str
    #: who released it, as recorded on its quarantine alarm
    by: str
    #: the twin's clock when it was released
    time: float


async def release(call: Call) -> PluginReleased:
    """Release a quarantined plugin (after its cause is fixed): recorded on its quarantine
    alarm (who, when, why it was quarantined, the body's note) and logged before the answer; if it fails
    again it is quarantined again with the new reason."""
    e = call.twin
    name = call.request.path_params["name"]
    body: ActionBody = call.body
    who = actor(call.caller, body.who)
    try:
        was = await asyncio.to_thread(release_plugin, e, name, who, body.note)
    except ValueError as exc:
        raise ApiFailure(ApiErrorCode.CONFLICT, str(exc)) from None
    except (KeyError, TwinError) as exc:
        raise refusal(exc) from None
    return PluginReleased(name, was, who, e.time)


ROUTES = [
    ApiRoute("POST", "/api/plugins/{name:str}/release", release, role="director", tag="scene", body=ActionBody,
             empty_body=True, doing="releasing a quarantined plugin",
             answers={200: PluginReleased, 404: ApiError, 409: ApiError}),
]
