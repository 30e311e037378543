"""``/ws``: the stream, wire protocol v1 (``twin.serving.protocol``), fanned out by
``twin.serving.stream``. This module accepts a connection (subprotocol, Origin, token),
reads the client's messages and answers them; the Hub sends the frames."""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from twin import __version__
from twin.errors import TwinError
from twin.serving import protocol as p
from twin.serving.access import allows
from twin.serving.auth import OPEN, authorize, caller_of
from twin.serving.guard import origin_allowed
from twin.serving.protocol import CloseCode, ErrorCode
from twin.serving.routes import replay
from twin.serving.routing import ApiFailure
from twin.serving.stream import MAX_CHANNEL, MAX_CONTROL, SEND_BUFFER, Client, Hub, Subscription, direct_writer, unacknowledged
from twin.serving.stream import hello as stream_hello

if TYPE_CHECKING:
    from twin.serving.server import TwinServer
    from twin.tick.engine import Engine

#: bad messages a client may send before it is closed (1008)
MAX_CLIENT_ERRORS = 5


async def websocket(server: TwinServer, ws: WebSocket) -> None:
    """Serve one client: refuse it (an Error, then a close with its code) or greet it
    with the Hello and read its requests until it leaves."""
    offered = ws.scope.get("subprotocols") or []
    if offered and p.SUBPROTOCOL not in offered:
        # Refused in the HTTP handshake, before any WebSocket exists: a strict client
        # (RFC 6455 section 4.1) fails a handshake whose answer names no subprotocol it
        # offered, so a close code after it would never be seen. 400 with the Error as
        # JSON where the server can send a denial response (uvicorn does), else a close
        # before the accept, which the server turns into HTTP 403.
        message = f"this server speaks {p.SUBPROTOCOL}; the client offered {', '.join(offered)}"
        if "websocket.http.response" in ws.scope.get("extensions", {}):
            body = msgspec.json.encode({"error": message, "code": ErrorCode.PROTOCOL_MISMATCH.value})
            await ws.send_denial_response(Response(body, status_code=400, media_type="application/json"))
        else:
            await ws.close(CloseCode.PROTOCOL_MISMATCH)
        return
    await ws.accept(subprotocol=p.SUBPROTOCOL if offered else None)
    origin = ws.headers.get("origin")
    if origin is not None and not origin_allowed(origin, ws.headers.get("host", ""), server.allowed_origins):
        await _refuse(ws, CloseCode.FORBIDDEN, ErrorCode.FORBIDDEN_ORIGIN,
                      f"origin {origin} is not allowed; start the server with --allow-origin {origin}")
        return
    try:
        record = authorize(caller_of(ws), "viewer", "reading the stream")
    except ApiFailure as exc:
        await _refuse(ws, CloseCode.UNAUTHORIZED if exc.status == 401 else CloseCode.FORBIDDEN, ErrorCode.UNAUTHORIZED,
                      exc.message)
        return
    engine, hub = server.engine, server.hub
    if engine is None or hub is None:
        await _refuse(ws, CloseCode.TRY_AGAIN, ErrorCode.STARTING, "the twin is starting; retry in a few seconds")
        return
    peer = f"{ws.client.host}:{ws.client.port}" if ws.client else "unknown"
    transport = _transport(ws)
    _limit_send_buffer(transport)
    client = Client(ws.send_bytes, ws.close, record.role, record.name if record is not OPEN else f"anonymous ({peer})",
                    abort=transport.abort if transport is not None else None,
                    unsent=unacknowledged(transport) if transport is not None else None,
                    write=direct_writer(transport) if transport is not None else None)
    hub.clients.add(client)
    server.client_tokens[client] = record
    sender = client.sender = asyncio.create_task(_sender(hub, client))
    client.push(stream_hello(engine, record.role, server.mode, __version__, hub.epoch))
    if server.replay is not None:
        client.push(p.encode(server.replay.state()))
    errors = 0
    try:
        while not client.closed:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            data = message.get("bytes")
            if data is None:
                data = (message.get("text") or "").encode()
            try:
                request = p.decode_client(data)
                if isinstance(request, (p.AlarmAction, p.ReplayControl)):
                    # a token revoked between ticks must not act: check it now
                    held = server.client_tokens.get(client)
                    if held is None:  # dropped by revalidate_clients while this message came
                        break
                    try:
                        why = server.revoked(held)
                    except TwinError as exc:
                        client.push(p.encode(p.Result(request.request, False, f"cannot check your token now: {exc}")))
                        continue
                    if why is not None:
                        client.push(p.encode(p.Result(request.request, False, why)))
                        await asyncio.sleep(0.05)  # let the sender deliver the answer first
                        server.client_tokens.pop(client, None)
                        hub.drop(client, why, code=CloseCode.UNAUTHORIZED)
                        break
                await _handle(server, engine, hub, client, request)
            except p.ProtocolError as exc:
                errors += 1
                if len(client.control) >= MAX_CONTROL:
                    hub.drop(client, f"{len(client.control)} answers left unread", code=CloseCode.POLICY)
                    break
                client.push(p.encode(p.Error(exc.code, str(exc))))
                if errors >= MAX_CLIENT_ERRORS:
                    client.push(p.encode(p.Error(ErrorCode.TOO_MANY_ERRORS, f"{errors} bad messages; closing")))
                    await asyncio.sleep(0.05)
                    hub.drop(client, f"{errors} bad messages", code=CloseCode.POLICY)
                    break
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        client.closed = True
        client.wake.set()
        hub.clients.discard(client)
        server.client_tokens.pop(client, None)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


async def _sender(hub: Hub, client: Client) -> None:
    try:
        await hub.run_sender(client)
    except (WebSocketDisconnect, RuntimeError, OSError):
        client.closed = True


async def _handle(server: TwinServer, engine: Engine, hub: Hub, client: Client, request: Any) -> None:
    if isinstance(request, p.Confirm):
        hub.confirm(client, request.seq)
    elif isinstance(request, p.Subscribe):
        if request.follow is not None:
            _check_channel(request.follow)
        hub.subscribe(client, Subscription.resolve(engine, request.domains), request.since, request.epoch)
        hub.set_follow(client, request.follow)
    elif isinstance(request, p.CameraUpdate):
        _check_channel(request.channel)
        if not all(math.isfinite(v) for v in (*request.position, *request.target)):
            raise p.ProtocolError(ErrorCode.INVALID, "camera position and target must be finite numbers")
        hub.relay_camera(client, request)
    elif isinstance(request, p.Ping):
        client.push(p.encode(p.Result(request.request, True)))
    elif isinstance(request, p.ReplayControl):
        try:
            warnings = await replay.control(server, client.role, request.action, request.time, request.speed)
        except ApiFailure as exc:
            client.push(p.encode(p.Result(request.request, False, exc.message)))
            return
        except ValueError as exc:
            client.push(p.encode(p.Result(request.request, False, str(exc))))
            return
        # a branch's re-run warnings go to the screen that asked, as POST /api/replay answers them
        client.push(p.encode(p.Result(request.request, True, warnings=warnings)))
    elif isinstance(request, p.AlarmAction):
        if not allows(client.role, "operator"):
            client.push(p.encode(p.Result(request.request, False, f"role {client.role} may not act on alarms; an operator token is needed")))
            return
        try:
            alarm = await asyncio.to_thread(
                engine.alarms.act, request.alarm, request.action, client.name, request.note, engine.time, request.unit
            )
        except (KeyError, TwinError) as exc:
            client.push(p.encode(p.Result(request.request, False, str(exc).strip("'\""))))
            return
        client.push(p.encode(p.Result(request.request, True, alarm=alarm.summary())))


async def _refuse(ws: WebSocket, code: CloseCode, error: ErrorCode, message: str) -> None:
    """An Error saying why, then the close with its code and the reason (cut to 120 bytes)."""
    with contextlib.suppress(Exception):
        await ws.send_bytes(p.encode(p.Error(error, message)))
        await ws.close(code, message[:120])


def _transport(ws: WebSocket) -> asyncio.Transport | None:
    """The connection's asyncio transport, or None under a server where it cannot be
    found. ASGI has no way to cut off a peer that stopped reading (its socket never takes
    a close frame) or to size a socket's send buffer; uvicorn's ``receive`` is a method
    of the connection's protocol object, which holds the transport."""
    transport = getattr(getattr(ws._receive, "__self__", None), "transport", None)
    return transport if isinstance(transport, asyncio.Transport) else None


def _limit_send_buffer(transport: asyncio.Transport | None) -> None:
    """Give the WebSocket's socket a small kernel send buffer (stream.SEND_BUFFER), so
    that a client that stops reading is noticed after kilobytes, not megabytes."""
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)


def _check_channel(channel: str) -> None:
    if not 0 < len(channel) <= MAX_CHANNEL:
        raise p.ProtocolError(ErrorCode.INVALID, f"a camera channel is 1 to {MAX_CHANNEL} characters")
