"""Replay: ``GET /api/replay`` (the timeline) and ``POST /api/replay`` (play, pause,
seek, speed, branch, or open a recording on a live server: director role), and the
switching between live and replay that the WebSocket's ReplayControl shares."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec

from twin.errors import TwinError
from twin.serving import protocol as p
from twin.serving.access import allows
from twin.serving.protocol import ApiErrorCode
from twin.serving.routing import ApiError, ApiFailure, ApiRoute, Call
from twin.serving.stream import MAX_CONTROL

if TYPE_CHECKING:
    from twin.serving.server import TwinServer

log = logging.getLogger("twin.serving.replay")


class ReplayRequest(msgspec.Struct):
    """A director's control of the replay. ``time``: where to seek (the replay's clock);
    ``speed``: 0.25 to 64; ``recording``: for ``open``, the name of an ``.mcap`` file of
    the data folder's ``recordings/`` (``GET /api/recordings``), by default the one this
    server records."""

    action: Literal["play", "pause", "seek", "speed", "branch", "open"]
    time: float | None = None
    speed: float | None = None
    recording: Annotated[str, msgspec.Meta(min_length=1)] | None = None


class LiveAgain(msgspec.Struct):
    """After ``branch``: the twin runs live from the replay's moment. ``warnings``: one
    line per recorded operator action the re-run found nothing to act on (an alarm that
    real readings raised, which the simulator does not), also logged."""

    mode: Literal["live"]
    time: float | None
    warnings: list[str] = []


async def replay_state(call: Call) -> p.ReplayState:
    """The replay's timeline: playing, speed, time, start, end, the alarm marks."""
    if call.server.replay is None:
        raise ApiFailure(ApiErrorCode.NOT_REPLAYING, "this server is live, not replaying a recording")
    return call.server.replay.state()


async def control_route(call: Call) -> p.ReplayState | LiveAgain:
    """Control the replay every screen follows; ``open`` switches a live server to a
    recording, ``branch`` leaves the replay and runs live from its moment."""
    server, body = call.server, call.body
    if server.replay is None and body.action != "open":
        raise ApiFailure(ApiErrorCode.NOT_REPLAYING, "this server is live, not replaying a recording; "
                                                     "POST {\"action\": \"open\"} switches to one")
    try:
        warnings = await control(server, call.caller.role, body.action, body.time, body.speed, body.recording)
    except (ValueError, TwinError) as exc:
        raise ApiFailure(ApiErrorCode.INVALID_VALUE, str(exc)) from None
    if server.replay is None:  # branched: live from here
        return LiveAgain("live", server.engine.time if server.engine else None, warnings)
    return server.replay.state()


async def control(server: TwinServer, role: str, action: str, time: float | None, speed: float | None,
                  recording: str | None = None) -> list[str]:
    """Apply a director's replay control; every screen follows. ApiFailure 403 for a role
    below director, ValueError for a control that does not apply. The warnings of a
    ``branch`` (:func:`branch`); none for the others."""
    if action == "open":
        if not allows(role, "director"):
            raise ApiFailure(ApiErrorCode.FORBIDDEN, f"role {role} may not switch to a replay; a director token is needed")
        await open_replay(server, recording)
        return []
    if server.replay is None:
        raise ValueError("this server is live, not replaying a recording (start it with --replay FILE)")
    if not allows(role, "director"):
        raise ApiFailure(ApiErrorCode.FORBIDDEN, f"role {role} may not control the replay; a director token is needed")
    if action == "branch":
        return await branch(server)
    async with server.tick_lock:
        await asyncio.to_thread(server.replay.control, action, time, speed)
        if action == "seek" and server.hub is not None:
            server.hub.reset_all()
    broadcast_state(server)
    return []


def recording_path(server: TwinServer, name: str | None) -> Path:
    """The recording ``name`` of the data folder's recordings/, or the one this server records."""
    if name is None:
        if server.recorder is None:
            raise ValueError("this server is not recording; name one of GET /api/recordings")
        return Path(server.recorder.path)
    folder = server.recordings_dir
    if folder is None or "/" in name or "\\" in name or not name.endswith(".mcap"):
        raise ValueError(f"recording {name!r}: give the name of an .mcap file in the data folder's recordings/")
    path = folder / name
    if not path.exists():
        known = ", ".join(sorted(f.name for f in folder.glob("*.mcap"))) if folder.exists() else ""
        raise ValueError(f"no recording {name!r} in {folder}; known: {known or 'none'}")
    return path


async def open_replay(server: TwinServer, name: str | None) -> None:
    """Switch a live server to replaying a recording (by default its own, which is
    then finished); screens get the replay's state and its timeline."""
    from twin.runs.replay import Replay

    if server.replay is not None:
        raise ValueError("already replaying; branch to go live, or restart the server")
    path = recording_path(server, name)
    hub = server.hub
    assert hub is not None and server.engine is not None
    async with server.tick_lock:
        if name is None and server.recorder is not None:
            await asyncio.to_thread(server.recorder.close)
            server.recorder = None
        replay = await asyncio.to_thread(Replay, path, None, server.engine.registry)
        live, server.replay, server.mode = server.engine, replay, "replay"
        server.engine = hub.engine = replay.engine
        hub.reset_all()
        live.close()
        if server.mqtt is not None:  # real readings feed the live twin only; the broker keeps them meanwhile
            server.mqtt.pause()
    broadcast_state(server)
    log.info("switched to replay", extra={"recording": str(path)})


async def branch(server: TwinServer) -> list[str]:
    """Leave the replay: the twin re-runs the recording's actions to the current moment
    and runs live from there; every screen gets a snapshot and the live Hello mode. A
    branch runs on its simulator: the MQTT subscriber, paused by the replay, stays so.
    The re-run's warnings (a recorded operator action that found nothing to act on),
    each logged, are returned."""
    from twin.runs.reruns import branch_engine

    replay, hub = server.replay, server.hub
    assert replay is not None and hub is not None
    async with server.tick_lock:
        replay.playing = False
        broadcast_state(server)
        # branch_engine counts from the recording's clock start (a live recording's is epoch seconds)
        warnings: list[str] = []
        engine = await asyncio.to_thread(branch_engine, replay.path, replay.engine.time - replay.engine.start,
                                         warnings=warnings)
        # a what-if run on the recording's clock: a history of its own from the branch point
        # on, in the data folder's runs/, never the city's (twin.history.feed)
        from twin.history.feed import open_run_history

        engine.history = await asyncio.to_thread(open_run_history, engine, server.data_dir)
        server.replay, server.mode = None, "live"
        replay.close()
        server.engine = hub.engine = engine
        hub.reset_all()
    log.info("branched from a replay", extra={"recording": str(replay.path), "at": engine.time})
    for warning in warnings:
        log.warning("branch: %s", warning, extra={"recording": str(replay.path)})
    return warnings


def broadcast_state(server: TwinServer) -> None:
    """Send the replay's state to every screen (that has room for an answer)."""
    if server.replay is None or server.hub is None:
        return
    message = p.encode(server.replay.state())
    for client in list(server.hub.clients):
        if len(client.control) < MAX_CONTROL:
            client.push(message)


ROUTES = [
    ApiRoute("GET", "/api/replay", replay_state, tag="replay", answers={200: p.ReplayState, 404: ApiError}),
    ApiRoute("POST", "/api/replay", control_route, role="director", tag="replay", body=ReplayRequest,
             doing="controlling the replay", answers={200: (p.ReplayState, LiveAgain), 400: ApiError, 404: ApiError}),
]
