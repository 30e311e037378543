"""Without tokens the server still guards itself, and no body makes it answer 5xx:
Host (DNS rebinding), Origin, Content-Type, body size, JSON shape. Real uvicorn, real
HTTP (httpx) and WebSockets (`websockets`)."""

import asyncio
import json
from collections import Counter
from urllib.parse import urlsplit

import httpx
import pytest
import websockets
from conftest import overfilling_toy, running, wait_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.serving import protocol as p
from twin.serving.access import TokenStore
from twin.serving.guard import MAX_BODY, MAX_DEPTH
from twin.serving.server import create_app
from twin.authoring.testing import Harness

MUTATING_BODY = '{"note": "on it"}'


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """An open-mode toy twin (the local demo's situation) with a red alarm on T-001."""
    import toyplugin

    root = tmp_path_factory.mktemp("guard")
    with overfilling_toy(root / "scene", toyplugin, root / "data") as (server, client, url, _):
        wait_for(lambda: client.get("/api/alarms").json()["alarms"], 30, "the tank's alarm")
        yield server, client, url


def alarm_of(client):
    return client.get("/api/alarms").json()["alarms"][0]


def fresh_alarm(client):
    """An alarm still raised: resolve acts of earlier tests' away by reopening one."""
    alarm = alarm_of(client)
    assert alarm["state"] == "raised", "a test before this one acted on the alarm"
    return alarm


# -- cross-site requests ----------------------------------------------------------------


def test_a_cross_site_simple_post_cannot_act(served):
    server, client, url = served
    alarm = fresh_alarm(client)
    # What a form or fetch(no-cors) on any web page can send without asking: text/plain.
    forged = client.post(f"/api/alarms/{alarm['id']}/ack", content=b'{"who": "chief", "note": "all fine"}',
                         headers={"Content-Type": "text/plain"})
    assert forged.status_code == 415
    assert "needs Content-Type: application/json (got text/plain)" in forged.json()["error"]
    inject = client.post("/api/actions", content=b'{"action": "toy.open_tap", "target": "T-002", "params": {"rate": 9}}',
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert inject.status_code == 415
    untyped = client.post(f"/api/alarms/{alarm['id']}/ack")
    assert untyped.status_code == 415 and "(got none)" in untyped.json()["error"]
    # A page that does send JSON (after a preflight we never answer) is still stopped by its Origin.
    foreign = client.post(f"/api/alarms/{alarm['id']}/ack", content=MUTATING_BODY,
                          headers={"Content-Type": "application/json", "Origin": "http://evil.example"})
    assert foreign.status_code == 403 and "origin http://evil.example is not allowed" in foreign.json()["error"]
    fetched = client.post(f"/api/alarms/{alarm['id']}/ack", content=MUTATING_BODY,
                          headers={"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"})
    assert fetched.status_code == 403 and "cross-site" in fetched.json()["error"]
    assert alarm_of(client)["state"] == "raised"
    assert not [a for a in server.engine.actions if a["target"] == "T-002"]
    # The viewer's own page (same origin) is served.
    own = f"http://{urlsplit(url).netloc}"
    assert client.get("/api/alarms", headers={"Origin": own, "Sec-Fetch-Site": "same-origin"}).status_code == 200


def test_open_mode_never_takes_who_at_its_word(served):
    server, client, url = served
    alarm = fresh_alarm(client)
    r = client.post(f"/api/alarms/{alarm['id']}/ack", json={"who": "chief\nengineer", "note": "seen"},
                    headers={"Origin": f"http://{urlsplit(url).netloc}"})
    assert r.status_code == 200
    assert r.json()["alarm"]["actions"][-1]["who"] == "anonymous (said: chief engineer)"
    r = client.post(f"/api/alarms/{alarm['id']}/dispatch", json={"unit": "crew 3"})
    assert r.status_code == 200 and r.json()["alarm"]["actions"][-1]["who"] == "anonymous"


# -- DNS rebinding ----------------------------------------------------------------------


def test_a_rebinding_host_is_refused_on_http_and_websocket(served):
    _, client, url = served
    port = urlsplit(url).port
    r = client.get("/api/scene", headers={"Host": f"evil.example:{port}"})
    assert r.status_code == 421 and "host 'evil.example' is not served here" in r.json()["error"]
    assert "--allow-host evil.example" in r.json()["error"]
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 421
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "127.0.0.2"):
        assert client.get("/api/scene", headers={"Host": host}).status_code == 200, host

    async def main():
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(f"ws://evil.example:{port}/ws", host="127.0.0.1", port=port,
                                     origin=f"http://evil.example:{port}", subprotocols=[p.SUBPROTOCOL], proxy=None)
        assert refused.value.response.status_code == 403
        ws = await websockets.connect(f"ws://localhost:{port}/ws", host="127.0.0.1", port=port,
                                      origin=f"http://localhost:{port}", subprotocols=[p.SUBPROTOCOL], max_size=None, proxy=None)
        hello, _ = p.decode_server(await ws.recv())
        assert isinstance(hello, p.Hello)
        await ws.close()

    asyncio.run(main())


def test_allow_host_and_tokens_mode(tmp_path, toy):
    """--allow-host adds a name; in tokens mode the Host check is on only when names are given."""

    def build():
        return Harness(tmp_path / "scene", plugins=[toy], blocks=(2, 2)).engine

    data = tmp_path / "data"
    server = create_app(build, data_dir=data, allowed_hosts=("twin.example",))
    with running(server.app) as url, httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/api/health", headers={"Host": "twin.example:8443"}).status_code in (200, 503)
        assert client.get("/api/health", headers={"Host": "evil.example"}).status_code == 421
        _, admin = TokenStore(data).add("admin", "root")
        bearer = {"Authorization": f"Bearer {admin}"}
        assert client.get("/api/health", headers={"Host": "evil.example", **bearer}).status_code == 421
    server = create_app(build, data_dir=data)
    with running(server.app) as url, httpx.Client(base_url=url, timeout=10) as client:
        # tokens mode, no --allow-host: a rebinding page holds no token, so it meets a 401
        r = client.get("/api/alarms", headers={"Host": "evil.example"})
        assert r.status_code == 401


# -- bounded input ----------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_with_413(served):
    server, client, _ = served
    alarm = alarm_of(client)
    big = b'{"note": "' + b"x" * MAX_BODY + b'"}'
    r = client.post(f"/api/alarms/{alarm['id']}/resolve", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and f"at most {MAX_BODY:,} bytes" in r.json()["error"]

    def chunks():  # no Content-Length: chunked transfer, counted as it streams in
        yield b'{"note": "'
        for _ in range(2 * MAX_BODY // 65536):
            yield b"y" * 65536
        yield b'"}'

    r = client.post(f"/api/alarms/{alarm['id']}/resolve", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "more than that" in r.json()["error"]
    notes = [a.get("note", "") for a in server.engine.alarms.alarms[alarm["id"]].actions]
    assert not [n for n in notes if len(n) > 1000]
    assert client.get("/api/health").status_code == 200


@pytest.mark.parametrize("route", ["/api/alarms/{id}/ack", "/api/actions", "/api/replay"])
def test_bad_json_is_a_400_naming_why(served, route):
    _, client, _ = served
    path = route.format(id=alarm_of(client)["id"])
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    for body, said in (
        ('{"note": ' + deep + "}", f"nests deeper than {MAX_DEPTH} levels"),
        ("[" * 5000 + "]" * 5000, f"nests deeper than {MAX_DEPTH} levels"),
        ('{"note": "\\ud800"}', "\\ud800 (a lone surrogate) is not valid Unicode text"),
        ('{"note": "\\udc00 and more"}', "is not valid Unicode text"),
        ('["open"]', "must be a JSON object"),
        ('"open"', "must be a JSON object"),
        ("{", "not valid JSON"),
    ):
        r = client.post(path, content=body.encode(), headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and said in r.json()["error"], (route, body[:40], r.status_code, r.text[:200])
    r = client.post(path, content=b'{"note": "\xff"}', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "not valid Unicode text" in r.json()["error"]


def test_replay_route_answers_a_non_object_with_400_naming_the_shape(served):
    _, client, _ = served
    r = client.post("/api/replay", json=[1, 2])
    assert r.status_code == 400 and '{"action": "play"' in r.json()["error"] and "not an array" in r.json()["error"]


# -- no body and no query makes it answer 5xx ---------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
KEYS = ["action", "target", "params", "time", "speed", "recording", "note", "unit", "who", "rate"]
SHAPED = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(["open", "seek", "speed", "play", "pause", "branch", "toy.open_tap",
                                                                 "T-001", "sensor.dead", "x.mcap", "../x.mcap"]) | JSON_VALUES,
                         max_size=5)
BODIES = (
    st.binary(max_size=200)
    | JSON_VALUES.map(lambda v: json.dumps(v).encode())
    | SHAPED.map(lambda v: json.dumps(v).encode())
    | st.builds(lambda v, params: json.dumps({"action": "toy.open_tap", "target": "T-00" + str(v % 10), "params": params}).encode(),
                st.integers(0, 20), st.dictionaries(st.sampled_from(["rate", "x", ""]), JSON_VALUES, max_size=2))
)
CONTENT_TYPES = st.just("application/json") | st.sampled_from(["application/json; charset=utf-8", "text/plain", "", "multipart/form-data",
                                 "application/x-www-form-urlencoded", "APPLICATION/JSON"]) | st.text(
    st.characters(min_codepoint=32, max_codepoint=126), max_size=20)
ACTIONS = st.sampled_from(["ack", "acknowledge", "dispatch", "resolve"]) | st.text(max_size=10)
GET_PATHS = ["/api/health", "/api/scene", "/api/plugins", "/api/assets/T-001", "/api/assets/{text}", "/api/alarms", "/metrics",
             "/api/replay", "/api/actions", "/api/recordings", "/api/layers", "/api/layers/toy.glb", "/api/layers/{text}.json",
             "/", "/{text}"]
QUERY_KEYS = st.sampled_from(["state", "severity", "domain", "since", "token", "speed"]) | st.text(max_size=8)


@pytest.mark.slow
def test_no_body_or_query_gets_a_5xx(served):
    server, client, _ = served
    reached = Counter()
    alarm_ids = st.sampled_from([a["id"] for a in client.get("/api/alarms").json()["alarms"]]) | st.integers(-5, 10**12)

    @given(route=st.sampled_from(["alarm", "/api/actions", "/api/replay"]), alarm=alarm_ids, action=ACTIONS,
           body=BODIES, content_type=CONTENT_TYPES)
    @settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    def post(route, alarm, action, body, content_type):
        path = f"/api/alarms/{alarm}/{action}" if route == "alarm" else route
        try:
            r = client.post(path, content=body, headers={"Content-Type": content_type})
        except (httpx.InvalidURL, httpx.LocalProtocolError):  # what httpx itself will not send
            return
        reached[route, r.status_code] += 1
        assert r.status_code < 500, (path, body[:80], content_type, r.status_code, r.text[:300])

    @given(path=st.sampled_from(GET_PATHS), text=st.text(max_size=12), query=st.dictionaries(QUERY_KEYS, st.text(max_size=12), max_size=3))
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    def get(path, text, query):
        try:
            r = client.get(path.format(text=text), params=query)
        except (httpx.InvalidURL, httpx.LocalProtocolError):
            return
        reached["GET", r.status_code] += 1
        assert r.status_code < 500, (path, text, query, r.status_code, r.text[:300])

    post()
    get()
    # past the guard: each route answered bodies on their merits, not only 415
    for route in ("alarm", "/api/actions", "/api/replay", "GET"):
        assert any(n for (r, status), n in reached.items() if r == route and status not in (403, 413, 415, 421)), reached
    assert client.get("/api/health").status_code == 200
