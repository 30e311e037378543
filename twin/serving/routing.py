"""The HTTP API declared once: each route is an :class:`ApiRoute` saying its method, path,
the role it needs, the shapes of its query, body and answers (msgspec types), and its
handler. From that one table the server builds its starlette routes
(:func:`starlette_routes`), ``GET /api/openapi.json`` its document
(``twin.serving.openapi``), and ``docs/api.md`` its generated sections.

A handler gets a :class:`Call` (the request, the caller's token, the twin, the decoded
query and body) and returns the answer's value, which is encoded as JSON through its
declaration (status 200), or a :class:`Reply` (another status, headers), or a starlette
``Response`` (answers that are not JSON). Refusals are :class:`ApiFailure`, answered
as an :class:`ApiError` whose ``code`` is a ``twin.serving.protocol.ApiErrorCode``.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from twin.serving.access import TOKEN_ROLES, TokenRecord
from twin.serving.guard import MUTATING, Refused, json_object
from twin.serving.protocol import API_ERRORS, ApiErrorCode

if TYPE_CHECKING:
    from twin.serving.server import TwinServer
    from twin.tick.engine import Engine

log = logging.getLogger("twin.serving.routing")

JSON = "application/json"


class ApiError(msgspec.Struct, omit_defaults=True):
    """Every refusal of the HTTP API: one line saying what is wrong and what would be
    valid (``error``), and a stable ``code`` a program can branch on."""

    error: str
    code: ApiErrorCode
    #: more about a refusal whose ``error`` is general (why the twin is not ready)
    detail: str | None = None


class ApiFailure(Exception):
    """A refusal a handler raises; answered as an :class:`ApiError` with the status of
    its code (``twin.serving.protocol.API_ERRORS``). ``code`` may be an HTTP status,
    which stands for that status's general code."""

    def __init__(self, code: ApiErrorCode | int, message: str, *, detail: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code if isinstance(code, ApiErrorCode) else ApiErrorCode.for_status(code)
        self.message = message
        self.detail = detail
        self.headers = dict(headers or {})

    @property
    def status(self) -> int:
        return API_ERRORS[self.code][0]

    def response(self) -> Response:
        headers = dict(self.headers)
        if self.status == 401:
            headers.setdefault("WWW-Authenticate", "Bearer")
        if self.status == 503:
            headers.setdefault("Retry-After", "1")
        return json_response(ApiError(self.message, self.code, self.detail), self.status, headers)


@dataclass(frozen=True)
class Media:
    """An answer (or body) that is not JSON: its media type and the JSON schema of its
    content as OpenAPI shows it."""

    type: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    description: str = ""


@dataclass
class Reply:
    """A handler's answer with another status than 200, or headers."""

    value: Any
    status: int = 200
    headers: Mapping[str, str] | None = None


@dataclass
class Call:
    """What a handler gets: the ``request``, the ``server``, the caller's token record
    (``who``; ``twin.serving.auth.OPEN`` in open mode, None on a route that needs no
    token and was called without one), the twin (``engine``: set when the route needs
    it built), and the ``query`` and ``body`` decoded into the route's declarations."""

    request: Request
    server: TwinServer
    who: TokenRecord | None
    engine: Engine | None
    query: Any = None
    body: Any = None

    @property
    def twin(self) -> Engine:
        """The built twin (routes declared ``ready``)."""
        assert self.engine is not None
        return self.engine

    @property
    def caller(self) -> TokenRecord:
        """The caller's token record (routes that declare a role)."""
        assert self.who is not None
        return self.who


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class ApiRoute:
    """One method of one path of the HTTP API, declared.

    - ``role``: the least role that may call it (``twin.serving.access.ROLES``, or
      ``device``, ``crew``), or a tuple of roles any one of which may; None: no token
      needed.
    - ``answers``: status -> the msgspec type of its JSON body, or a :class:`Media`.
      Refusals the table adds by itself need not be listed: 401/403 where a role is
      needed, 503 where the twin must be built, 409 where it must be live, 400/413/415 where a
      body is taken.
    - ``body``: the msgspec type a JSON body is decoded into (validated; a refusal is a
      400 naming the field), or a mapping of media type -> type or :class:`Media` for a
      route that reads its body itself (``raw``); ``empty_body``: an empty body is
      decoded as ``{}``.
    - ``query``: a msgspec Struct the query string is converted into (numbers from
      text; unknown parameters are ignored).
    - ``path_params``: path parameter -> msgspec type (for the document), where its
      valid values are narrower than the path's converter (``int``, ``str``).
    - ``ready``: the twin must be built (503 ``not_ready`` before).
    - ``live``: what the route does changes the live twin (people acting on alarms and
      incidents, a crew's step, an action, a device's reading): a server replaying a
      recording refuses it (409), whoever the client, so a replay stays what was.
    - ``doing``: what the route does, in a refusal ("posting readings needs ...").
    """

    method: str
    path: str
    handler: Handler
    role: str | tuple[str, ...] | None = "viewer"
    answers: Mapping[int, Any] = field(default_factory=dict)
    body: Any = None
    query: type[msgspec.Struct] | None = None
    empty_body: bool = False
    path_params: Mapping[str, Any] = field(default_factory=dict)
    ready: bool = True
    live: bool = False
    summary: str = ""
    description: str = ""
    tag: str = ""
    doing: str = "this"
    #: the handler takes a :class:`Call` whose ``body`` is None and reads the request itself
    raw: bool = False

    def __post_init__(self) -> None:
        assert self.method in ("GET", "POST", "PUT", "PATCH", "DELETE"), self.method
        assert self.role is None or set(self.roles) <= set(TOKEN_ROLES), self.role
        assert 200 in self.answers or 201 in self.answers, f"{self.method} {self.path} declares no success answer"

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles of which any one may call it (none: no token needed)."""
        return () if self.role is None else (self.role,) if isinstance(self.role, str) else tuple(self.role)

    @property
    def open_path(self) -> str:
        """The path as OpenAPI writes it: ``/api/alarms/{alarm_id}``."""
        return re.sub(r"\{(\w+):\w+\}", r"{\1}", self.path)

    @property
    def converters(self) -> dict[str, str]:
        """Each path parameter's starlette converter (``int``, ``str``, ``path``)."""
        return {m.group(1): m.group(2) or "str" for m in re.finditer(r"\{(\w+)(?::(\w+))?\}", self.path)}

    @property
    def takes_body(self) -> bool:
        return self.method in MUTATING

    @property
    def body_types(self) -> Mapping[str, Any]:
        """Media type -> the declaration of a body of that type."""
        if self.body is None:
            return {}
        return dict(self.body) if isinstance(self.body, Mapping) else {JSON: self.body}

    def first_line(self) -> str:
        """The route's summary: given, or the first line of its handler's docstring."""
        if self.summary:
            return self.summary
        doc = inspect.getdoc(self.handler) or ""
        return " ".join(doc.split("\n\n", 1)[0].split())


_encoder = msgspec.json.Encoder()


def json_response(value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """``value`` (a declared Struct, or builtins of its shape) as a JSON answer. Floats
    that are not finite are written as null (msgspec's JSON encoder does so)."""
    return Response(_encoder.encode(value), status_code=status, headers=dict(headers or {}), media_type=JSON)


def shape_text(kind: Any) -> str:
    """A declaration as one line of text for a refusal and for docs/api.md:
    ``{"action": "play" | "pause", "time": <number>}``. A field with a default may be
    left out (not marked here: the reference says which are required)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        fields = msgspec.structs.fields(kind)
        return "{" + ", ".join(f'"{f.encode_name}": {shape_text(f.type)}' for f in fields) + "}"
    if origin is typing.Annotated:
        return shape_text(args[0])
    if origin is typing.Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [shape_text(a) for a in args if a not in (type(None), msgspec.UnsetType)]
        return " | ".join(parts) if len(parts) > 1 else parts[0]
    if origin in (list, tuple):
        return f"[{shape_text(args[0])}, ...]" if args else "[...]"
    if origin is dict:
        return f"{{<string>: {shape_text(args[1])}}}"
    names = {str: "<string>", int: "<integer>", float: "<number>", bool: "true | false"}
    return names.get(kind, "<" + getattr(kind, "__name__", str(kind)) + ">")


async def _decode_body(route: ApiRoute, request: Request) -> Any:
    declared = route.body_types.get(JSON)
    if route.raw or declared is None:
        return None
    shape = shape_text(declared)
    raw = await json_object(request, shape, empty={} if route.empty_body else None)
    try:
        return msgspec.convert(raw, declared)
    except msgspec.ValidationError as exc:
        raise ApiFailure(ApiErrorCode.INVALID_BODY, f"the body is not valid: {_one_line(exc)}; expected {shape}") from None


def _decode_query(route: ApiRoute, request: Request) -> Any:
    if route.query is None:
        return None
    params = request.query_params
    repeated = sorted({k for k in params if len(params.getlist(k)) > 1})
    if repeated:
        raise ApiFailure(ApiErrorCode.INVALID_QUERY, f"give each query parameter once: {', '.join(repeated)} is repeated")
    given = dict(params)
    try:
        query = msgspec.convert(given, route.query, strict=False)
    except msgspec.ValidationError as exc:
        said = _one_line(exc).replace("`$.", "`")
        raise ApiFailure(ApiErrorCode.INVALID_QUERY, f"a query parameter is not valid: {said}") from None
    # Converting text, msgspec reads "null" as None, which is "left out" for an optional
    # parameter: a value that is there must be one of the parameter's.
    names = {f.encode_name: f.name for f in msgspec.structs.fields(route.query)}
    nulls = sorted(k for k in given if k in names and getattr(query, names[k]) is None)
    if nulls:
        raise ApiFailure(ApiErrorCode.INVALID_QUERY, f"a query parameter is not valid: {nulls[0]}={given[nulls[0]]!r}; "
                                                     f"leave it out for its default")
    return query


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def endpoint(route: ApiRoute, server: TwinServer) -> Callable[[Request], Awaitable[Response]]:
    """The starlette endpoint of ``route``: authorize by its role, check the twin is built,
    decode query and body by their declarations, run the handler, encode its answer."""
    from twin.serving.auth import authorize, caller_of

    async def run(request: Request) -> Response:
        try:
            caller = caller_of(request)
            who = authorize(caller, route.role, route.doing) if route.role is not None else caller.record
            engine = server.ready() if route.ready else server.engine
            if route.live and server.replay is not None:
                raise ApiFailure(ApiErrorCode.CONFLICT, f"{route.doing} needs the live twin: this server replays a "
                                                        f"recording, which shows what was (a director's POST /api/replay "
                                                        f"{{\"action\": \"branch\"}} runs it live from the moment shown)")
            query = _decode_query(route, request)
            body = await _decode_body(route, request)
            result = await route.handler(Call(request, server, who, engine, query, body))
        except ApiFailure as failure:
            return failure.response()
        except Refused as refused:  # the guard's refusals of a body (size, JSON, depth)
            return ApiFailure(refused.code, refused.message).response()
        if isinstance(result, Response):
            return result
        if isinstance(result, Reply):
            return json_response(result.value, result.status, result.headers)
        return json_response(result)

    run.__name__ = run.__qualname__ = f"{route.method.lower()}_{route.handler.__name__}"
    run.__doc__ = route.handler.__doc__
    return run


def starlette_routes(table: list[ApiRoute], server: TwinServer) -> list[Route]:
    """One starlette Route per path, dispatching on the method to each declared route."""
    by_path: dict[str, dict[str, ApiRoute]] = {}
    for route in table:
        methods = by_path.setdefault(route.path, {})
        assert route.method not in methods, f"{route.method} {route.path} is declared twice"
        methods[route.method] = route
    out = []
    for path, methods in by_path.items():
        if len(methods) == 1:
            [(method, route)] = methods.items()
            out.append(Route(path, endpoint(route, server), methods=[method]))
            continue
        handlers = {method: endpoint(route, server) for method, route in methods.items()}

        async def dispatch(request: Request, handlers: dict[str, Any] = handlers) -> Response:
            method = "GET" if request.method == "HEAD" else request.method
            return await handlers[method](request)

        out.append(Route(path, dispatch, methods=list(methods)))
    return out


def fallback(routes: list[BaseRoute]) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of every /api request no route takes: 405 with the ``Allow`` of the
    routes of that path when some take other methods, else 404 naming where the routes
    are listed. (Before it, starlette would hand a wrong method to the viewer's files.)"""

    async def unrouted(request: Request) -> Response:
        allowed = sorted({m for r in routes if isinstance(r, Route) and r.matches(request.scope)[0] is not Match.NONE
                          for m in r.methods or ()})
        if allowed:
            return ApiFailure(ApiErrorCode.METHOD_NOT_ALLOWED, f"{request.method} is not allowed on {request.url.path}; "
                                                               f"allowed: {', '.join(allowed)}",
                              headers={"Allow": ", ".join(allowed)}).response()
        return ApiFailure(ApiErrorCode.NOT_FOUND, f"no route {request.method} {request.url.path}; "
                                                  f"GET /api/openapi.json lists them").response()

    return unrouted


def routed(routes: list[BaseRoute]) -> Callable[[Scope], bool]:
    """Does one of ``routes`` take this request's method on its path (for the guard)?"""

    def takes(scope: Scope) -> bool:
        return any(r.matches(scope)[0] is Match.FULL for r in routes)

    return takes


async def http_exception(request: HTTPConnection, exc: Exception) -> Response:
    """starlette's own refusals (405 from a route, 404 from the router) as ApiErrors."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allowed = exc.headers.get("Allow", "") if exc.headers else ""
        failure = ApiFailure(ApiErrorCode.METHOD_NOT_ALLOWED, f"{request.scope.get('method')} is not allowed on "
                                                              f"{request.url.path}; allowed: {allowed}", headers=exc.headers)
    elif exc.status_code == 404:
        failure = ApiFailure(ApiErrorCode.NOT_FOUND, f"no route {request.url.path}")
    else:
        failure = ApiFailure(exc.status_code, str(exc.detail), headers=exc.headers)
    return failure.response()


async def server_error(request: Request, exc: Exception) -> Response:
    """A bug: logged with its traceback, answered 500 as an ApiError (never a page)."""
    log.error("a request failed", exc_info=exc, extra={"path": request.url.path, "method": request.method})
    return ApiFailure(ApiErrorCode.INTERNAL, f"the server failed to answer {request.method} {request.url.path} "
                                             f"({type(exc).__name__}; logged)").response()
