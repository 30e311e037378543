"""The guard in front of every route: Host, Origin, Content-Type and body size.

Pure ASGI middleware, so that it sees a request before any route does, and a WebSocket
before its handshake is accepted. What it holds (docs/operations.md, "Access and
limits", is the user's page):

- **Host** (every HTTP request and WebSocket handshake). A DNS-rebinding page reaches a
  loopback server under its own name (``Host: evil.example``); in open mode nothing else
  would stop it, so there the Host must be a loopback name or address, the host the
  server was bound to, or one given with ``--allow-host``. In tokens mode a rebinding
  page holds no token, so the check is on only when ``--allow-host`` names are given
  (say, behind a proxy with a fixed name). Refused: 421 (a WebSocket: 403 in the
  handshake).
- **Cross-site requests** (POST, PUT, PATCH, DELETE). A page of another site can send a
  "simple" request (``text/plain``, a form) without asking; it cannot send
  ``Content-Type: application/json`` without a CORS preflight, which this server never
  answers. So every mutating request must say ``application/json`` (415), a present
  ``Origin`` must be the server's own or an ``--allow-origin`` one (403), and
  ``Sec-Fetch-Site: cross-site`` is refused (403). A route that takes other bodies names
  its types in ``body_types`` (``POST /api/readings``: JSON, msgpack or CSV from devices);
  each must be a type that is not CORS-safelisted (never ``text/plain``, a form), so that
  it too needs the preflight this server never answers.
- **Body size**: at most ``MAX_BODY`` bytes (or the route's entry in ``body_limits``;
  ``/api/readings`` takes ``READINGS_MAX_BODY``), refused at ``Content-Length`` when
  given, else counted while the body streams in and cut at the limit (413).

Routes read JSON bodies with :func:`json_object`, which bounds nesting and refuses text
that is not valid Unicode; its refusals, like the body limit's, are answered here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twin.serving.protocol import ApiErrorCode

#: largest request body, in bytes, unless a route has its own entry in ``body_limits``
MAX_BODY = 1 << 20
#: largest body of ``POST /api/readings``: a gateway's backlog or a utility's CSV export
#: (16 MiB is some 400,000 CSV rows); ``Guard(body_limits={"/api/readings": ...})`` changes it
READINGS_MAX_BODY = 16 << 20
#: per-path body limits that hold unless ``Guard(body_limits=...)`` names the path
BODY_LIMITS: Mapping[str, int] = {"/api/readings": READINGS_MAX_BODY}
#: deepest nesting of arrays and objects in a JSON body (the body's own object is depth 1)
MAX_DEPTH = 32
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON_TYPE = "application/json"
#: mutating routes whose bodies may be of other types than JSON (none CORS-safelisted:
#: a page of another site cannot send them without a preflight); every other route: JSON
BODY_TYPES: Mapping[str, tuple[str, ...]] = {
    "/api/readings": (JSON_TYPE, "application/msgpack", "application/x-msgpack", "application/vnd.msgpack", "text/csv"),
}
#: a UTF-16 surrogate pair written as two escapes, and any surrogate escape: what is left
#: of the second after removing the first is a lone surrogate
_SURROGATE_PAIR = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_BODY = ApiErrorCode.INVALID_BODY


class Refused(Exception):
    """A request the guard answers with ``status`` and a one-line JSON error, an
    ApiError whose ``code`` is the status's general one unless given."""

    def __init__(self, status: int, message: str, code: ApiErrorCode | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or ApiErrorCode.for_status(status)


def _response(exc: Refused) -> JSONResponse:
    return JSONResponse({"error": exc.message, "code": exc.code}, status_code=exc.status)


def host_name(host_header: str) -> str:
    """The name in a Host header, without its port, lower case (``[::1]:8000`` -> ``::1``)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(name: str) -> bool:
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def origin_allowed(origin: str, host_header: str, allowed_origins: Iterable[str]) -> bool:
    """Is ``origin`` the server's own (the Host the request was sent to) or an allowed one?"""
    allowed = tuple(allowed_origins)
    if origin in allowed or "*" in allowed:
        return True
    return origin.split("://", 1)[-1].lower() == host_header.lower()


class Guard:
    """ASGI middleware; see the module's docstring. ``open_mode`` tells, per request,
    whether the server runs without tokens; ``bound_host`` is the address it listens on."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        open_mode: Callable[[], bool],
        bound_host: str | None = None,
        allowed_hosts: Iterable[str] = (),
        allowed_origins: Iterable[str] = (),
        max_body: int = MAX_BODY,
        body_limits: Mapping[str, int] | None = None,
        body_types: Mapping[str, tuple[str, ...]] | None = None,
        routed: Callable[[Scope], bool] | None = None,
    ) -> None:
        self.app = app
        self.open_mode = open_mode
        self.allowed_hosts = frozenset(host_name(h) for h in allowed_hosts)
        wildcard = bound_host is None or bound_host in ("0.0.0.0", "::", "")
        self.own_hosts = self.allowed_hosts | (frozenset() if wildcard else {host_name(bound_host or "")})
        self.allowed_origins = tuple(allowed_origins)
        self.max_body = max_body
        #: per-path body limits (a path, or a prefix ending in "/"): BODY_LIMITS, then the given ones
        self.body_limits = {**BODY_LIMITS, **(body_limits or {})}
        #: per-path Content-Types of mutating requests (exact paths): BODY_TYPES, then the given ones
        self.body_types = {**BODY_TYPES, **(body_types or {})}
        #: does a route take this method on this path? A request no route takes is left to
        #: the app's 404 or 405 (it does nothing), not refused for its Content-Type
        self.routed = routed

    def body_limit(self, path: str) -> int:
        if path in self.body_limits:
            return self.body_limits[path]
        for prefix, limit in self.body_limits.items():
            if prefix.endswith("/") and path.startswith(prefix):
                return limit
        return self.max_body

    def host_refusal(self, host_header: str | None) -> str | None:
        """Why a request to this Host is refused, or None."""
        if not self.allowed_hosts and not self.open_mode():
            return None
        if not host_header:
            return "the request has no Host header; send the name you reach this server by"
        name = host_name(host_header)
        if is_loopback(name) or name in self.own_hosts:
            return None
        return (f"host {name!r} is not served here (a page under another name must not reach this twin); "
                f"start the server with --allow-host {name} if it is this server's name")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host_refusal = self.host_refusal(headers.get("host"))
        if scope["type"] == "websocket":
            if host_refusal is not None:
                # Closing before accepting refuses the handshake: the client gets HTTP 403.
                await send({"type": "websocket.close", "code": 1008, "reason": host_refusal[:120]})
                return
            await self.app(scope, receive, send)
            return
        try:
            if host_refusal is not None:
                raise Refused(421, host_refusal)
            self._check_request(scope, headers)
        except Refused as exc:
            await _response(exc)(scope, receive, send)
            return
        await self._call_bounded(scope, receive, send, self.body_limit(scope["path"]))

    def _check_request(self, scope: Scope, headers: Headers) -> None:
        method = scope["method"]
        if method in MUTATING and (self.routed is None or self.routed(scope)):
            what = f"{method} {scope['path']}"
            if headers.get("sec-fetch-site", "").lower() == "cross-site":
                raise Refused(403, f"{what}: a cross-site request is refused (Sec-Fetch-Site: cross-site)", ApiErrorCode.CROSS_SITE)
            origin = headers.get("origin")
            if origin is not None and not origin_allowed(origin, headers.get("host", ""), self.allowed_origins):
                raise Refused(403, f"{what}: origin {origin} is not allowed; start the server with --allow-origin {origin}",
                              ApiErrorCode.CROSS_SITE)
            given = headers.get("content-type")
            kind = given.split(";", 1)[0].strip().lower() if given is not None else None
            types = self.body_types.get(scope["path"])
            if types is not None:
                if kind not in types:
                    raise Refused(415, f"{what} needs Content-Type: one of {', '.join(types)} (got {given or 'none'})")
            elif kind != JSON_TYPE:
                raise Refused(415, f"{what} needs Content-Type: {JSON_TYPE} (got {given or 'none'}); "
                                   f"send a JSON body, or an empty one with that type")
        length = headers.get("content-length")
        limit = self.body_limit(scope["path"])
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                raise Refused(400, f"Content-Length {length!r} is not a number of bytes") from None
            if size > limit:
                raise Refused(413, _too_large(size, limit))

    async def _call_bounded(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Run the app with a body counted as it streams in, and answer the refusals a
        route raises (:class:`Refused`) while no response has started."""
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise Refused(413, _too_large(None, limit))
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except Refused as exc:
            if started:
                raise
            await _response(exc)(scope, receive, send)


def _too_large(size: int | None, limit: int) -> str:
    said = f"{size:,} bytes" if size is not None else "more than that"
    return f"the request body is at most {limit:,} bytes; this one is {said}"


async def json_object(request: Request, shape: str, empty: dict[str, Any] | None = None) -> dict[str, Any]:
    """The request's body as a JSON object, or :class:`Refused` (400, 413) naming what is
    wrong and the ``shape`` expected. An empty body gives a copy of ``empty`` where the
    route allows one (None: an empty body is refused)."""
    body = await request.body()
    if empty is not None and not body.strip():
        return dict(empty)
    return parse_object(body, shape)


def parse_object(body: bytes, shape: str) -> dict[str, Any]:
    """:func:`json_object` for bytes in hand."""
    try:
        value = msgspec.json.decode(body)
    except RecursionError:
        raise Refused(400, f"the body nests deeper than {MAX_DEPTH} levels; expected {shape}", _BODY) from None
    except msgspec.DecodeError as exc:
        raise Refused(400, _why_undecodable(body, exc, shape), _BODY) from None
    if not isinstance(value, dict):
        raise Refused(400, f"the body must be a JSON object {shape}, not {_json_kind(value)}", _BODY)
    _check_depth(value, shape)
    return value


def _why_undecodable(body: bytes, exc: Exception, shape: str) -> str:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"the body is not valid Unicode text: byte {bad.start} is not UTF-8; expected a JSON object {shape}"
    lone = _SURROGATE.search(_SURROGATE_PAIR.sub(b"", body))
    if lone is not None:
        escape = lone.group(0).decode("ascii")
        return f"the body's string escape {escape} (a lone surrogate) is not valid Unicode text; expected a JSON object {shape}"
    if not body.strip():
        return f"the body is empty; expected a JSON object {shape}"
    return f"the body is not valid JSON ({exc}); expected a JSON object {shape}"


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _check_depth(value: dict[str, Any], shape: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH (iteratively: the check itself never recurses)."""
    level: list[Any] = [value]
    depth = 1
    while level:
        if depth > MAX_DEPTH:
            raise Refused(400, f"the body nests deeper than {MAX_DEPTH} levels; expected {shape}", _BODY)
        below: list[Any] = []
        for item in level:
            children = item.values() if isinstance(item, dict) else item
            below.extend(c for c in children if isinstance(c, (dict, list)))
        level = below
        depth += 1
