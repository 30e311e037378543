"""The HTTP API's OpenAPI 3.1 document (twin.serving.openapi) says what the server does:
every route of the app is in it with its role, its refusals and its shapes, the server
serves it, and the API page shows it without the internet. Real uvicorn, real sockets."""

from __future__ import annotations

import json
import sys
from typing import Any

import httpx
import msgspec
import pytest
from conftest import CHROMIUM, launch_chromium, running, wait_healthy
from starlette.routing import Route

from twin.serving.access import TokenStore
from twin.serving.openapi import build, document, field_docs
from twin.serving.protocol import API_ERRORS, ApiErrorCode
from twin.serving.routes import api_routes
from twin.serving.routes.docs import built
from twin.serving.routes.health import Health
from twin.serving.server import create_app


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): op for path, methods in doc["paths"].items() for method, op in methods.items()}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A toy twin in tokens mode (a viewer token), on a real uvicorn."""
    import toyplugin

    from twin.authoring.testing import Harness

    root = tmp_path_factory.mktemp("openapi")
    _, viewer = TokenStore(root / "data").add("viewer", "wall")

    def build_twin():
        return Harness(root / "scene", plugins=[toyplugin], blocks=(2, 2)).engine

    server = create_app(build_twin, speed=10.0, data_dir=root / "data")
    with running(server.app) as url, httpx.Client(base_url=url, timeout=10, headers={"Authorization": f"Bearer {viewer}"}) as c:
        wait_healthy(c)
        yield server, url, c


def test_the_document_is_openapi_3_1_that_schemathesis_loads_whole():
    import schemathesis

    doc = document()
    assert doc["openapi"] == "3.1.0" and doc["info"]["version"]
    loaded = [op.ok().label for op in schemathesis.openapi.from_dict(doc).get_all_operations()]
    assert sorted(loaded) == sorted(f"{m} {p}" for m, p in _operations(doc))
    assert len(loaded) == len(api_routes())
    # every $ref resolves to a component
    text = json.dumps(doc)
    refs = {r.split("/")[-1] for r in __import__("re").findall(r'"\$ref": "(#/components/[^"]+)"', text)}
    assert refs <= set(doc["components"]["schemas"]) | set(doc["components"]["responses"])


def test_every_route_of_the_app_is_declared_with_every_method(served):
    server, _, _ = served
    ops = _operations(document())
    app_routes = {(method, route.path) for route in server.app.routes if isinstance(route, Route)
                  and route.path != "/api/{rest:path}" for method in (route.methods or ()) if method != "HEAD"}
    assert app_routes, "the app has routes"
    import re

    undeclared = sorted((m, p) for m, p in app_routes if (m, re.sub(r"\{(\w+):\w+\}", r"{\1}", p)) not in ops)
    assert not undeclared, f"routes of the app missing from /api/openapi.json (declare them as ApiRoutes): {undeclared}"


def test_each_operation_carries_its_declared_role_and_the_refusals_the_table_adds():
    ops = _operations(document())
    for route in api_routes():
        op = ops[(route.method, route.open_path)]
        assert op["x-role"] == (route.role if route.role is None or isinstance(route.role, str) else list(route.role))
        assert op["security"] == ([] if route.role is None else [{"bearer": []}, {"token": []}])
        codes = set(op["responses"])
        assert ("401" in codes and "403" in codes) == (route.role is not None), route.path
        assert ("503" in codes) == (route.ready or 503 in route.answers), route.path
        if route.method == "POST":
            assert {"400", "413", "415"} <= codes and op["requestBody"]["required"] is True
        assert "421" in codes  # the Host check holds for every route
        assert route.first_line() and op["summary"] == route.first_line()


def test_the_error_codes_are_the_enum_and_each_has_a_status_and_a_meaning():
    schemas = document()["components"]["schemas"]
    schema = schemas["ApiError"]
    code = schema["properties"]["code"]
    code = schemas[code["$ref"].split("/")[-1]] if "$ref" in code else code
    assert set(code["enum"]) == {c.value for c in ApiErrorCode}
    assert set(API_ERRORS) == set(ApiErrorCode)
    assert all(400 <= status < 600 and meaning for status, meaning in API_ERRORS.values())
    assert schema["required"] == ["error", "code"]


def test_field_comments_become_descriptions():
    assert field_docs(Health)["last_tick_age"].startswith("seconds since the last tick")
    props = document()["components"]["schemas"]["Health"]["properties"]
    assert props["last_tick_age"]["description"] == field_docs(Health)["last_tick_age"]


def test_a_route_declared_twice_or_without_a_success_answer_is_refused():
    from twin.serving.routing import ApiRoute, starlette_routes

    async def handler(call):
        """A handler."""

    with pytest.raises(AssertionError, match="no success answer"):
        ApiRoute("GET", "/api/x", handler, answers={404: dict})
    twice = [ApiRoute("GET", "/api/x", handler, answers={200: dict})] * 2
    with pytest.raises(AssertionError, match="declared twice"):
        starlette_routes(twice, None)  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match="used twice"):
        build([ApiRoute("GET", "/api/x", handler, answers={200: dict}), ApiRoute("GET", "/api/y", handler, answers={200: dict})])


def test_the_server_serves_the_document_without_a_token(served):
    _, url, _ = served
    r = httpx.get(f"{url}/api/openapi.json", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == json.loads(msgspec.json.encode(document()))
    scene = httpx.get(f"{url}/api/scene", timeout=10)  # the API itself still needs one
    assert scene.status_code == 401 and scene.json()["code"] == "unauthorized"


def test_unrouted_requests_are_404_and_wrong_methods_405_with_allow(served):
    _, _, c = served
    r = c.get("/api/no/such/route")
    assert r.status_code == 404 and r.json()["code"] == "not_found" and "/api/openapi.json" in r.json()["error"]
    # A method the path does not take: 405 naming those it does, not the viewer's files,
    # and not a 415 for a Content-Type it would never read
    for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
        r = c.request(method, "/api/alarms")
        assert r.status_code == 405 and r.json()["code"] == "method_not_allowed", (method, r.text)
        assert r.headers["allow"] == "GET, HEAD"
    r = c.get("/api/alarms/1/ack")
    assert r.status_code == 405 and r.headers["allow"] == "POST"



def test_a_method_no_route_takes_on_an_unknown_path_is_404_and_on_a_known_one_405_naming_all(served):
    """Found by schemathesis: the fallback took GET only, so POST /api/alarms/-1/x fell
    through to the viewer's files (405, Allow: GET, HEAD) and OPTIONS /api/actions said
    GET, HEAD without its POST."""
    _, _, c = served
    r = c.post("/api/alarms/-1/x", json={})
    assert r.status_code == 404 and r.json()["code"] == "not_found", r.text
    r = c.options("/api/actions")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD, POST", r.headers
    r = c.request("DELETE", "/api/replay")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD, POST"


def test_query_parameters_are_declared_as_the_server_takes_them(served):
    """Found by schemathesis: ?to=soon was a string by the document and a 400 by the
    server; ?step=0 a number and a 400; ?state=null an enum's stranger and a 200 (read
    as left out); ?state=raised&state=null the last one's. Now the document says what
    the server takes, and the server refuses what the document does not allow."""
    import re

    _, _, c = served
    params = {p["name"]: p["schema"] for p in _operations(document())[("GET", "/api/history/alarms")]["parameters"]}
    pattern = re.compile(params["to"]["pattern"])
    assert pattern.match("1700000000") and pattern.match("2026-01-01T08:00:00+08:00") and pattern.match("2026-01-01T00:00Z")
    assert not pattern.match("soon") and not pattern.match("") and not pattern.match("2026-01-01T00:00:00")
    assert params["step"]["exclusiveMinimum"] == 0
    for query in ({"to": "soon"}, {"step": "0"}, {"step": ""}):
        r = c.get("/api/history/alarms", params=query)
        assert r.status_code == 400 and r.json()["code"] == "invalid_query", (query, r.text)
    for query in ({"state": "null"}, {"severity": ""}, [("state", "raised"), ("state", "resolved")]):
        r = c.get("/api/alarms", params=query)
        assert r.status_code == 400 and r.json()["code"] == "invalid_query", (query, r.text)
    assert "state is repeated" in c.get("/api/alarms", params=[("state", "raised")] * 2).json()["error"]
    assert c.get("/api/alarms", params={"state": "raised", "severity": "4"}).status_code == 200


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/install installs it)")
def test_the_api_page_shows_every_operation_without_the_internet(served):
    """Everything the page loads comes from the twin: the page, swagger-ui-dist's
    bundle and style (copied into the package at build time), the document."""
    assert built(), "the API page is not built: scripts/install (npm run build copies it, viewer/api-docs.mjs)"
    _, url, _ = served
    from playwright.sync_api import sync_playwright

    elsewhere: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(url)
                       else (elsewhere.append(route.request.url), route.abort()))
            page.goto(f"{url}/api/docs")
            page.wait_for_selector(".opblock", timeout=30_000)
            shown = page.locator(".opblock").count()
            title = page.locator(".title").first.inner_text()
            paths = set(page.locator(".opblock-summary-path").all_inner_texts())
        finally:
            browser.close()
    assert not elsewhere, f"the API page asked the internet for {elsewhere}"
    assert not errors, errors
    assert shown == len(api_routes()) and "Lifeline Twin HTTP API" in title
    assert {p.replace("\u200b", "") for p in paths} == {r.open_path for r in api_routes()}


def test_python_m_prints_the_document():
    import subprocess

    out = subprocess.run([sys.executable, "-m", "twin.serving.openapi"], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == json.loads(msgspec.json.encode(document()))
