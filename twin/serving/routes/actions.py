"""Actions: ``GET /api/actions`` lists every action with its parameters, units, ranges
and target kinds; ``POST /api/actions`` applies one to the world (director role)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from twin.plugins.actions import catalogue
from twin.serving.protocol import ApiErrorCode
from twin.serving.routes.scene import ActionInfo, ActionList
from twin.serving.routing import ApiError, ApiFailure, ApiRoute, Call


class ActionRequest(msgspec.Struct, forbid_unknown_fields=True):
    """An action to apply: its name (``<domain>.<verb>``, or a sensor fault
    ``sensor.<fault>``), the asset or sensor it applies to, and its parameters in
    their units (those left out take their defaults)."""

    action: Annotated[str, msgspec.Meta(min_length=1)]
    target: Annotated[str, msgspec.Meta(min_length=1)]
    params: dict[str, float] = {}


class AppliedAction(msgspec.Struct):
    action: str
    target: str
    params: dict[str, float]
    #: the twin's clock when it was applied
    time: float
    #: the token it was applied under
    who: str


class ActionApplied(msgspec.Struct):
    applied: AppliedAction


async def list_actions(call: Call) -> ActionList:
    """Every action with its parameters, units, ranges and target kinds."""
    return ActionList(msgspec.convert(catalogue(call.twin.registry), list[ActionInfo]))


async def apply_action(call: Call) -> ActionApplied:
    """Apply an action to the world between two ticks: a drill's inject, a valve closed
    by a crew. A twin fed by the field sends it to the field instead (503 when the field
    cannot be reached: nothing was sent)."""
    server, e, body = call.server, call.twin, call.body
    async with server.tick_lock:  # between ticks: the truth is not being stepped
        try:
            e.apply_action(body.action, body.target, body.params, who=call.caller.name)
        except (KeyError, ValueError) as exc:
            raise ApiFailure(ApiErrorCode.INVALID_VALUE, str(exc).strip("'\"")) from None
        except ConnectionError as exc:  # the field cannot be reached: nothing was sent
            raise ApiFailure(ApiErrorCode.UNAVAILABLE, f"{exc}; the action was not sent to the field") from None
    return ActionApplied(AppliedAction(body.action, body.target, body.params, e.time, call.caller.name))


ROUTES = [
    ApiRoute("GET", "/api/actions", list_actions, tag="actions", answers={200: ActionList}),
    ApiRoute("POST", "/api/actions", apply_action, role="director", tag="actions", body=ActionRequest,
             doing="applying actions", live=True, answers={200: ActionApplied, 400: ApiError, 409: ApiError, 503: ApiError}),
]
