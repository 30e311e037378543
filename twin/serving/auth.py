"""Who is calling: starlette middleware that reads the caller's token once per request,
and the one check of a role that every route and the WebSocket use.

The middleware (:class:`Authenticate`) never refuses anything itself: it records in
the connection's scope who the caller is (:class:`Caller`), or why nobody could be
recognised. Each route declares the role it needs (``twin.serving.routing.ApiRoute``)
and :func:`authorize` answers for it: 401 for no valid token, 403 for a role that is
not enough, 503 when the token file cannot be read. In open mode everyone is
:data:`OPEN`, an admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from twin.errors import TwinError
from twin.serving.access import TokenRecord, allows, token_words, utc_text
from twin.serving.protocol import ApiErrorCode

if TYPE_CHECKING:
    from twin.serving.server import TwinServer

#: who you are when no token is configured (open mode)
OPEN = TokenRecord("open", "admin", "", 0.0)
_SCOPE_KEY = "twin.caller"


@dataclass(frozen=True)
class Caller:
    """The caller of one request: its token's ``record`` (expired ones included: the
    refusal then says when it expired), or None; ``unreadable``: why the token file
    could not be read (nobody can be recognised: 503)."""

    record: TokenRecord | None
    token_given: bool = False
    no_valid_token: bool = False
    unreadable: str | None = None
    #: the token file, named in a refusal
    store: Path | None = None


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header."""
    if header and header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def identify(server: TwinServer, conn: HTTPConnection) -> Caller:
    """Who sends ``conn``: :data:`OPEN` in open mode, else the record of the token it
    presents (``Authorization: Bearer`` or ``?token=``)."""
    if server.is_open():
        return Caller(OPEN)
    tokens = server.tokens
    token = conn.query_params.get("token") or bearer(conn.headers.get("authorization"))
    try:
        record = tokens.find(token)
        valid = bool(record) or bool(tokens.valid())
    except TwinError as exc:
        return Caller(None, bool(token), unreadable=str(exc))
    return Caller(record, bool(token), no_valid_token=not valid, store=tokens.path)


class Authenticate:
    """ASGI middleware: records who calls (:class:`Caller`) in every HTTP request's and
    WebSocket handshake's scope, for :func:`caller_of`."""

    def __init__(self, app: ASGIApp, *, server: TwinServer) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope[_SCOPE_KEY] = identify(self.server, HTTPConnection(scope))
        await self.app(scope, receive, send)


def caller_of(conn: HTTPConnection) -> Caller:
    """The caller :class:`Authenticate` recorded for ``conn``."""
    return conn.scope[_SCOPE_KEY]


def authorize(caller: Caller, needed: str | tuple[str, ...], doing: str = "this") -> TokenRecord:
    """The caller's token record if it may do what ``needed`` may (a role of the ladder,
    ``device`` or ``crew``, or a tuple of them: any one will do); else an ``ApiFailure``: 401 (no valid token, saying how to get one),
    403 (the role is not enough, saying which is), 503 (the token file is unreadable)."""
    from twin.serving.routing import ApiFailure

    if caller.unreadable is not None:
        raise ApiFailure(ApiErrorCode.UNAVAILABLE, caller.unreadable)
    record = caller.record
    if record is None:
        if caller.no_valid_token:
            store = caller.store
            folder = store.parent if store is not None else "DATA"
            raise ApiFailure(ApiErrorCode.UNAUTHORIZED, f"no valid token exists: every token of {store} is revoked "
                                                        f"or expired; an administrator adds one with "
                                                        f"`twin token add ROLE --data {folder}`")
        raise ApiFailure(ApiErrorCode.UNAUTHORIZED, "a valid token is needed: send 'Authorization: Bearer <token>' "
                                                    "or add ?token=<token>")
    if record.expired():
        raise ApiFailure(ApiErrorCode.UNAUTHORIZED, f"token {record.name!r} expired at {utc_text(record.expires or 0.0)}; "
                                                    f"ask for a new one (`twin token add {record.role}`)")
    anyof = (needed,) if isinstance(needed, str) else needed
    if not any(allows(record.role, role) for role in anyof):
        wanted = ", or ".join(token_words(role) for role in anyof)
        raise ApiFailure(ApiErrorCode.FORBIDDEN, f"token {record.name!r} has role {record.role}; {doing} needs {wanted}")
    return record
