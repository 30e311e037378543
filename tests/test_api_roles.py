"""The role table is what the server enforces: for every declared route and every role a
token may name, a real server in tokens mode answers 401 without a token, 403
(``forbidden``) to a role the route does not allow, and never 401/403 to one it does.
Real uvicorn, real tokens."""

from __future__ import annotations

import re

import httpx
import pytest
from conftest import running, wait_healthy

from twin.serving.access import TOKEN_ROLES, TokenStore, allows
from twin.serving.routes import api_routes
from twin.serving.server import create_app

#: a value for each path parameter the table uses (whether it exists does not matter:
#: the role is checked first)
PARAMS = {"alarm_id": "1", "incident_id": "1", "action": "ack", "asset_id": "T-001", "sensor_id": "TS-000", "name": "toy",
          "file": "init.js", "step": "accept", "inject_id": "1"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    import toyplugin

    from twin.authoring.testing import Harness

    root = tmp_path_factory.mktemp("roles")
    store = TokenStore(root / "data")
    tokens = {}
    for role in TOKEN_ROLES:
        kwargs = {"unit": "toy works"} if role == "crew" else {}
        tokens[role] = store.add(role, role, **kwargs)[1]

    def build():
        return Harness(root / "scene", plugins=[toyplugin], blocks=(2, 2)).engine

    server = create_app(build, speed=10.0, data_dir=root / "data")
    with running(server.app) as url, httpx.Client(base_url=url, timeout=30) as client:
        wait_healthy(client)
        yield client, tokens


def _path(route) -> str:
    path = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: PARAMS[m.group(1)], route.path)
    assert "{" not in path, path
    return path


def _call(client, route, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if route.method == "GET":
        return client.get(_path(route), headers=headers)
    # An empty object: valid or not, the role is judged before the body is read.
    return client.request(route.method, _path(route), json={}, headers=headers)


@pytest.mark.parametrize("route", api_routes(), ids=lambda r: f"{r.method} {r.path}")
def test_each_route_answers_each_role_as_its_declaration_says(served, route):
    client, tokens = served
    anonymous = _call(client, route, None)
    if not route.roles:
        assert anonymous.status_code not in (401, 403), anonymous.text
        return
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthorized", anonymous.text
    assert anonymous.headers["www-authenticate"] == "Bearer"
    for role, token in tokens.items():
        r = _call(client, route, token)
        if any(allows(role, needed) for needed in route.roles):
            assert r.status_code not in (401, 403), (role, r.status_code, r.text)
        else:
            assert r.status_code == 403 and r.json()["code"] == "forbidden", (role, r.status_code, r.text)
            assert f"token {role!r} has role {role}" in r.json()["error"]


def test_an_unknown_token_is_401_and_the_query_token_works_too(served):
    client, tokens = served
    r = client.get("/api/scene", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401 and "a valid token is needed" in r.json()["error"]
    assert client.get("/api/scene", params={"token": tokens["viewer"]}).status_code == 200
