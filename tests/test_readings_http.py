"""POST /api/readings: JSON, msgpack and CSV batches from a `device` token, judged at once
by ingest's rules, each refusal counted once in /metrics; a device token may do nothing
else; bodies are bounded (16 MiB) and typed. Real uvicorn, real HTTP, real WebSockets."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import msgpack
import pytest
import websockets
from conftest import running

from twin.serving import protocol as p
from twin.serving.access import TokenStore
from twin.serving.guard import MAX_BODY, READINGS_MAX_BODY
from twin.serving.server import create_app
from twin.authoring.testing import Harness

ROOT = Path(__file__).resolve().parents[1]
ROLES = ("viewer", "operator", "director", "admin", "device")


@contextmanager
def served(build, data: Path, speed: float = 20.0):
    """A twin built by ``build`` on a real uvicorn, in tokens mode with one token per role
    (made before the server starts); yields (server, url, {role: token})."""
    store = TokenStore(data)
    tokens = {role: store.add(role, role)[1] for role in ROLES}
    server = create_app(build, speed=speed, data_dir=data)
    with running(server.app) as url:
        deadline = time.monotonic() + 60
        while httpx.get(f"{url}/api/health", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "never healthy"
            time.sleep(0.05)
        yield server, url, tokens


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    """A toy twin without its simulator (only posted readings move the tanks), its clock
    on the wall's (as a live twin's), ticking 20 times a second."""
    import toyplugin

    root = tmp_path_factory.mktemp("readings")

    def build():
        h = Harness(root / "scene", plugins=[toyplugin], blocks=(2, 2), simulate=False)
        h.engine.world.time = float(int(time.time()))
        return h.engine

    with served(build, root / "data") as (server, url, tokens):
        clients = {role: httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"})
                   for role, token in tokens.items()}
        yield server, url, tokens, clients
        for client in clients.values():
            client.close()


def post(client, body, content_type="application/json"):
    return client.post("/api/readings", content=body, headers={"Content-Type": content_type})


def clock(client) -> float:
    return client.get("/api/health").json()["time"]


def next_tick(client) -> None:
    """Wait until a tick has run after this call (readings queued before it are applied)."""
    seq = client.get("/api/health").json()["seq"]
    deadline = time.monotonic() + 20
    while client.get("/api/health").json()["seq"] < seq + 2:
        assert time.monotonic() < deadline, "no tick came"
        time.sleep(0.02)


def level(client, tank: str) -> float:
    return client.get(f"/api/assets/{tank}").json()["state"]["level"]


def counters(client) -> dict[str, float]:
    """twin_readings_accepted_total as "accepted" and each rejected_total by its reason."""
    text = client.get("/metrics").text
    found = {m.group(1): float(m.group(2)) for m in re.finditer(r'twin_readings_rejected_total\{reason="(\w+)"\} (\S+)', text)}
    found["accepted"] = float(re.search(r"^twin_readings_accepted_total (\S+)$", text, re.M).group(1))
    return found


# -- readings in --------------------------------------------------------------------------


def test_json_batches_msgpack_and_csv_are_accepted_and_reach_the_state(twin):
    _, _, _, c = twin
    device, viewer = c["device"], c["viewer"]
    before = counters(viewer)
    now = clock(viewer)
    r = post(device, f'{{"sensor": "TS-001", "t": {now - 3}, "v": 11.5}}')
    assert r.status_code == 200 and r.json() == {"accepted": 1, "rejected": 0, "reasons": {}, "rejects": [], "time": r.json()["time"]}
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(now + 8 * 3600 - 2))  # RFC 3339 with an offset
    r = post(device, f'[{{"sensor": "TS-002", "t": "{stamp}", "v": 21.0, "q": 0}}, {{"sensor": "TS-002", "t": {now - 1}, "v": 22.0}}]')
    assert r.status_code == 200 and r.json()["accepted"] == 2
    r = post(device, msgpack.packb([{"sensor": "TS-003", "t": now - 1.5, "v": 33.0}]), "application/msgpack")
    assert r.status_code == 200 and r.json()["accepted"] == 1
    r = post(device, msgpack.packb({"sensor": "TS-004", "t": now - 1, "v": 44.0, "unit": "%"}), "application/x-msgpack")
    assert r.status_code == 200 and r.json()["accepted"] == 1  # one object, an unknown key ignored
    r = post(device, f"sensor,t,v,q\r\nTS-005,{now - 2},50.0,0\r\n\r\nTS-005,{now - 1},55.0\r\nTS-006,{now - 1},66,\r\n",
             "text/csv; charset=utf-8")
    assert r.status_code == 200 and r.json()["accepted"] == 3 and r.json()["rejected"] == 0
    next_tick(viewer)
    assert [level(viewer, f"T-00{n}") for n in range(1, 7)] == [11.5, 22.0, 33.0, 44.0, 55.0, 66.0]
    after = counters(viewer)
    assert after["accepted"] - before["accepted"] == 8
    assert {k: v - before.get(k, 0.0) for k, v in after.items() if k != "accepted" and v != before.get(k, 0.0)} == {}


def test_every_reject_reason_is_answered_row_by_row_and_counted_once(twin):
    _, _, _, c = twin
    device, viewer = c["device"], c["viewer"]
    t7 = clock(viewer) - 5
    assert post(device, f'{{"sensor": "TS-007", "t": {t7}, "v": 70.0}}').json()["accepted"] == 1
    next_tick(viewer)
    before = counters(viewer)
    now = clock(viewer)
    batch = [
        {"sensor": "TS-008", "t": now - 2, "v": 80.0},          # 0 good
        {"sensor": "NO-SUCH", "t": now, "v": 1.0},              # 1 unknown_sensor
        {"sensor": "TS-008", "t": now, "v": "high"},            # 2 malformed
        {"sensor": "TS-008", "t": now - 1, "v": 5.0, "q": 3},   # 3 bad_quality
        {"sensor": "TS-008", "t": now - 1, "v": float("nan")},  # 4 not_finite (msgpack carries NaN; JSON cannot)
        {"sensor": "TS-008", "t": now - 1, "v": 140.0},         # 5 out_of_range (level: 0 to 100 %)
        {"sensor": "TS-008", "t": now - 7200, "v": 5.0},        # 6 too_old (the window: an hour)
        {"sensor": "TS-008", "t": now + 600, "v": 5.0},         # 7 in_future (a minute at most)
        {"sensor": "TS-007", "t": t7, "v": 1.0},                # 8 duplicate of a reading applied a tick ago
        {"sensor": "TS-008", "t": now - 2, "v": 81.0},          # 9 duplicate of 0, in the same body
    ]
    r = post(device, msgpack.packb(batch), "application/msgpack")
    answer = r.json()
    assert r.status_code == 200 and answer["accepted"] == 1 and answer["rejected"] == 9
    assert answer["reasons"] == {"bad_quality": 1, "duplicate": 2, "in_future": 1, "malformed": 1, "not_finite": 1,
                                 "out_of_range": 1, "too_old": 1, "unknown_sensor": 1}
    shown = {e["index"]: e for e in answer["rejects"]}
    assert [e["index"] for e in answer["rejects"]] == list(range(1, 10))
    assert [shown[i]["reason"] for i in range(1, 10)] == [
        "unknown_sensor", "malformed", "bad_quality", "not_finite", "out_of_range", "too_old", "in_future", "duplicate",
        "duplicate"]
    assert "no sensor 'NO-SUCH' in scene 'harness'" in shown[1]["detail"]
    assert "Expected `float`, got `str` - at `$[2].v`" in shown[2]["detail"] and '"sensor": "<id>"' in shown[2]["detail"]
    assert "q 3 is a bad-quality code" in shown[3]["detail"]
    assert "v nan is not a finite number" in shown[4]["detail"]
    assert "v 140.0 is outside the physical range of level, 0 to 100 %" in shown[5]["detail"]
    assert "s behind the twin's clock" in shown[6]["detail"] and "up to 3600 s old" in shown[6]["detail"]
    assert "s ahead of the twin's clock" in shown[7]["detail"] and "up to 60 s ahead" in shown[7]["detail"]
    assert "has a reading at t" in shown[8]["detail"] and "\n" not in "".join(e["detail"] for e in answer["rejects"])

    # CSV: refused rows by their line, whether the row does not parse or its reading is refused
    csv_body = f"sensor,t,v\nTS-000,{now - 1},12.5\nTS-000,{now},x\n\nGHOST,{now},1\nTS-000,{now},-3\n"
    r = post(device, csv_body, "text/csv")
    answer = r.json()
    assert r.status_code == 200 and answer["accepted"] == 1 and answer["reasons"] == {
        "malformed": 1, "out_of_range": 1, "unknown_sensor": 1}
    assert [(e["line"], e["reason"]) for e in answer["rejects"]] == [(3, "malformed"), (5, "unknown_sensor"), (6, "out_of_range")]
    assert answer["rejects"][0]["detail"].startswith("line 3: v 'x' is not a number")

    # nothing accepted: 422, every refusal counted, ten described
    r = post(device, "[" + ", ".join(f'{{"sensor": "GHOST-{i}", "t": {now}, "v": 1}}' for i in range(25)) + "]")
    assert r.status_code == 422 and r.json()["rejected"] == 25 and r.json()["reasons"] == {"unknown_sensor": 25}
    assert [e["index"] for e in r.json()["rejects"]] == list(range(10))
    # not readings at all: 400, counted as one malformed payload
    for body in ("{not json", "", "5", '{"readings": []}'):
        r = post(device, body)
        assert r.status_code == 400 and r.json()["reasons"] == {"malformed": 1}, (body, r.text)
        assert "expected {\"sensor\": \"<id>\"" in r.json()["error"], r.json()["error"]
    r = post(device, "[]")
    assert r.status_code == 200 and r.json()["accepted"] == 0 and r.json()["rejected"] == 0

    next_tick(viewer)
    after = counters(viewer)
    counted = {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}
    # each refusal once: at the answer, never again when the tick applies the good ones
    assert counted == {"accepted": 2, "unknown_sensor": 27, "malformed": 6, "bad_quality": 1, "not_finite": 1,
                       "out_of_range": 2, "too_old": 1, "in_future": 1, "duplicate": 2}
    assert level(viewer, "T-008") == 80.0 and level(viewer, "T-007") == 70.0 and level(viewer, "T-000") == 12.5


# -- who may post, and what a device may not do ------------------------------------------------


def test_a_device_token_may_post_readings_and_nothing_else(twin):
    _, url, tokens, c = twin
    device = c["device"]
    for path in ("/api/scene", "/api/alarms", "/api/assets/T-001", "/metrics", "/api/actions", "/api/layers"):
        r = device.get(path)
        assert r.status_code == 403 and "token 'device' has role device" in r.json()["error"], (path, r.text)
    r = device.post("/api/actions", json={"action": "toy.open_tap", "target": "T-001", "params": {"rate": 1}})
    assert r.status_code == 403
    assert device.get("/api/health").status_code == 200  # health answers everyone

    async def stream(token):
        async with websockets.connect(url.replace("http", "ws") + f"/ws?token={token}", subprotocols=[p.SUBPROTOCOL]) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                async with asyncio.timeout(10):
                    while True:
                        await ws.recv()
            return closed.value.rcvd.code

    assert asyncio.run(stream(tokens["device"])) == 4403
    reading = f'{{"sensor": "TS-000", "t": {clock(c["viewer"])}, "v": 1.0}}'
    for role in ("viewer", "operator", "director"):
        r = post(c[role], reading)
        assert r.status_code == 403, role
        assert r.json()["error"] == f"token {role!r} has role {role}; posting readings needs a device or admin token"
    assert post(c["admin"], reading).status_code == 200  # an admin may, too
    r = httpx.post(f"{url}/api/readings", content=reading, headers={"Content-Type": "application/json"})
    assert r.status_code == 401


def test_twin_token_add_device(tmp_path):
    env = {**os.environ, "TWIN_DATA": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "twin.cli", "token", "add", "device", "--name", "meter-7"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "token 'meter-7' (device)" in result.stdout
    [record] = TokenStore(tmp_path).records()
    assert record.role == "device" and TokenStore(tmp_path).check(result.stdout.split()[-1]) == record


# -- bounded and typed bodies -------------------------------------------------------------------------------


def test_the_readings_body_limit_is_16_mib(twin):
    _, _, _, c = twin
    device = c["device"]
    now = clock(c["viewer"])
    # Over the 1 MiB of other routes, under 16 MiB: a gateway's backlog of 60,000 rows (at
    # hundredths no other test sends: none is a duplicate)
    rows = "".join(f"TS-00{k % 4},{now - 3000 + k * 0.05 + 0.01:.2f},{k % 100}\n" for k in range(60_000))
    assert MAX_BODY < len(rows) < READINGS_MAX_BODY
    r = post(device, rows, "text/csv")
    assert r.status_code == 200 and r.json()["accepted"] == 60_000, r.text[:300]
    assert READINGS_MAX_BODY == 16 * 2**20
    big = b"x" * (READINGS_MAX_BODY + 1)
    r = post(device, big, "text/csv")
    assert r.status_code == 413 and f"at most {READINGS_MAX_BODY:,} bytes" in r.json()["error"]

    def chunks():  # no Content-Length: cut as the body streams in
        for _ in range(READINGS_MAX_BODY // 65536 + 2):
            yield b"y" * 65536

    r = device.post("/api/readings", content=chunks(), headers={"Content-Type": "text/csv"})
    assert r.status_code == 413 and "more than that" in r.json()["error"]


def test_other_content_types_get_415_naming_the_valid_ones(twin):
    _, _, _, c = twin
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"):
        r = post(c["device"], "TS-000,1,1", content_type)
        assert r.status_code == 415, content_type
        assert r.json()["error"] == (f"POST /api/readings needs Content-Type: one of application/json, application/msgpack, "
                                     f"application/x-msgpack, application/vnd.msgpack, text/csv (got {content_type})")
    r = c["device"].post("/api/readings", content=b"TS-000,1,1")
    assert r.status_code == 415 and "(got none)" in r.json()["error"]
    # the other routes still take JSON only
    r = c["admin"].post("/api/actions", content=b"toy.open_tap,T-001", headers={"Content-Type": "text/csv"})
    assert r.status_code == 415 and "needs Content-Type: application/json" in r.json()["error"]


# -- the docs' example ------------------------------------------------------------------------------------


def docs_example() -> str:
    text = (ROOT / "docs" / "ingest.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- example: curl readings -->\n```sh\n(.*?)```\n<!-- end example -->", text, re.S)
    assert match, "docs/ingest.md lost its marked curl example"
    return match.group(1)


def test_the_docs_curl_example_posts_a_reading(tmp_path):
    from twin.runtime import open_twin

    def build():
        engine = open_twin(None, tmp_path / "twin", simulate=False, persist=False)  # the demo district
        engine.world.time = float(int(time.time()))  # a live twin's clock
        return engine

    example = docs_example()
    assert "http://127.0.0.1:8000" in example and "$TOKEN" in example
    with served(build, tmp_path / "data", speed=1.0) as (_, url, tokens):
        result = subprocess.run(["bash", "-c", example.replace("http://127.0.0.1:8000", url)], capture_output=True, text=True,
                                timeout=60, env={**os.environ, "TOKEN": tokens["device"]})
        assert result.returncode == 0, result.stdout + result.stderr
        answer = httpx.Response(200, content=result.stdout).json()
        assert answer["accepted"] == 1 and answer["rejected"] == 0, answer
        viewer = httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {tokens['viewer']}"})
        deadline = time.monotonic() + 20
        while True:
            sensors = viewer.get("/api/assets/G-MH-0001").json().get("sensors", [])
            if any(s["id"] == "GS-CH4-0002" and s["last_value"] == 0.8 for s in sensors):
                break
            assert time.monotonic() < deadline, sensors
            time.sleep(0.1)
        viewer.close()
