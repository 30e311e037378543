"""The API's own description: ``GET /api/openapi.json`` (``twin.serving.openapi``) and
``GET /api/docs``, a reference page that reads it. The page's viewer (swagger-ui-dist,
from npm) is copied into the package when the viewer is built (``viewer/api-docs.mjs``,
into ``twin/serving/apidocs/``) and served from there: nothing is loaded from the
internet. Neither needs a token: they describe the API, not the twin."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import msgspec
from starlette.responses import Response

from twin.serving.protocol import ApiErrorCode
from twin.serving.routing import ApiError, ApiFailure, ApiRoute, Call, Media

#: where viewer/api-docs.mjs copies the page's viewer (git-ignored, shipped in the wheel)
APIDOCS_DIR = Path(__file__).resolve().parent.parent / "apidocs"
#: the files of the page, each with its media type: the two of swagger-ui-dist, and ours
ASSETS = {"swagger-ui.css": "text/css; charset=utf-8", "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
          "init.js": "text/javascript; charset=utf-8"}
Asset = Literal["swagger-ui.css", "swagger-ui-bundle.js", "init.js"]

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Lifeline Twin HTTP API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/api/docs/swagger-ui.css">
</head>
<body>
<div id="api"></div>
<script src="/api/docs/swagger-ui-bundle.js"></script>
<script src="/api/docs/init.js"></script>
</body>
</html>
"""

#: the page's start: the document of this server; no validator badge (it would call a
#: service on the internet), and the token a user enters is kept while the page is open
INIT = """window.ui = SwaggerUIBundle({
  url: '/api/openapi.json',
  dom_id: '#api',
  validatorUrl: null,
  deepLinking: true,
  tryItOutEnabled: false,
  persistAuthorization: false,
});
"""


def built() -> bool:
    """Is the page's viewer in the package (``scripts/install`` builds it with npm)?"""
    return all((APIDOCS_DIR / name).is_file() for name in ASSETS if name != "init.js")


async def openapi(call: Call) -> Response:
    """This API's OpenAPI 3.1 document, made from the route table and its declarations."""
    return Response(_encoded(), media_type="application/json")


_cache: list[bytes] = []


def _encoded() -> bytes:
    from twin.serving.openapi import document

    if not _cache:
        _cache.append(msgspec.json.encode(document()))
    return _cache[0]


def _unbuilt() -> ApiFailure:
    return ApiFailure(ApiErrorCode.UNAVAILABLE, f"the API page is not built into {APIDOCS_DIR}: run scripts/install "
                                                f"(npm); /api/openapi.json holds the same")


async def page(call: Call) -> Response:
    """The API reference page (offline: everything it loads is served by the twin)."""
    if not built():
        raise _unbuilt()
    return Response(PAGE, media_type="text/html; charset=utf-8")


async def page_file(call: Call) -> Response:
    """A file of the API page: its viewer's script and style sheet, and its start."""
    name = call.request.path_params["file"]
    if name not in ASSETS:
        raise ApiFailure(ApiErrorCode.NOT_FOUND, f"no file {name!r} of the API page; valid: {', '.join(ASSETS)}")
    if name == "init.js":
        return Response(INIT, media_type=ASSETS[name])
    path = APIDOCS_DIR / name
    if not path.is_file():
        raise _unbuilt()
    return Response(path.read_bytes(), media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})


ROUTES = [
    ApiRoute("GET", "/api/openapi.json", openapi, role=None, ready=False, tag="api",
             answers={200: Media("application/json", {"type": "object"}, "the OpenAPI 3.1 document")}),
    ApiRoute("GET", "/api/docs", page, role=None, ready=False, tag="api",
             answers={200: Media("text/html", {"type": "string"}, "the API reference page"), 503: ApiError}),
    ApiRoute("GET", "/api/docs/{file:str}", page_file, role=None, ready=False, tag="api", path_params={"file": Asset},
             answers={200: (Media("text/javascript", {"type": "string"}, "a script of the page"),
                            Media("text/css", {"type": "string"}, "the page's style sheet")),
                      404: ApiError, 503: ApiError}),
]
