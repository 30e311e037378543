"""Access holds: token expiry, tokens mode that revoking cannot undo, `twin token open`,
and revocation that reaches connections already open. Real uvicorn, real sockets."""

import asyncio
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
import websockets
from conftest import free_port, overfilling_toy

from twin.serving import protocol as p
from twin.serving.access import TokenStore, parse_expiry
from twin.serving.client import Mirror
from twin.errors import TwinError


def twin(*args, data, check=True):
    env = {**os.environ, "TWIN_DATA": str(data)}
    result = subprocess.run([sys.executable, "-m", "twin.cli", *args], capture_output=True, text=True, env=env, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"twin {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


@contextmanager
def served(tmp_path, toy, data):
    """A toy twin on a real uvicorn whose tank T-001 overfills (a red alarm within seconds)."""
    with overfilling_toy(tmp_path / "scene", toy, data) as (server, client, url, _):
        yield server, client, url.replace("http", "ws") + "/ws"


def wait_alarm(client, **params):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        alarms = client.get("/api/alarms", params=params).json()["alarms"]
        if alarms:
            return alarms[0]
        time.sleep(0.05)
    raise AssertionError("no alarm came")


async def connect(url, **kw):
    return await websockets.connect(url, subprotocols=[p.SUBPROTOCOL], max_size=None, compression=None, **kw)


async def closed_code(ws, timeout=5.0):
    """Read until the server closes; the close frame's (code, reason)."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    return closed.value.rcvd.code, closed.value.rcvd.reason


# -- the store ------------------------------------------------------------------------


def test_expiry_values_and_expired_tokens_in_the_store(tmp_path):
    now = 1_800_000_000.0
    assert parse_expiry("12h", now) == now + 12 * 3600 and parse_expiry("30d", now) == now + 30 * 86400
    midnight = datetime(2030, 1, 31, tzinfo=UTC).timestamp()
    assert parse_expiry("2030-01-31", now) == midnight  # 00:00 UTC that day
    assert parse_expiry("2030-01-31T08:00+08:00", now) == midnight
    assert parse_expiry("2030-01-31T08:00", now) == midnight + 8 * 3600  # UTC unless an offset is given
    for bad, said in (("30m", "not understood"), ("2020-01-01", "is in the past"), ("0d", "must live a while")):
        with pytest.raises(TwinError, match=said):
            parse_expiry(bad, now)

    store = TokenStore(tmp_path)
    record, token = store.add("viewer", "brief", expires=time.time() + 0.5)
    assert store.check(token) == record and not record.expired()
    time.sleep(0.6)
    assert record.expired() and store.check(token) is None and store.find(token) == record
    assert store.valid() == []


def test_an_old_token_file_still_loads_and_means_tokens_mode(tmp_path):
    # Written before expiry and mode existed: no "expires", no "mode".
    (tmp_path / "tokens.json").write_text(json.dumps({"tokens": [
        {"name": "desk1", "role": "operator", "sha256": "ab" * 32, "created": 1.0}]}))
    store = TokenStore(tmp_path)
    [record] = store.records()
    assert record.name == "desk1" and record.expires is None and store.mode == "tokens"
    # Revoking every token of such a file (the old way to "open" a server) leaves tokens mode.
    (tmp_path / "tokens.json").write_text(json.dumps({"tokens": []}))
    assert store.mode == "tokens" and store.enabled


def test_a_rewrite_within_the_same_mtime_is_seen(tmp_path):
    store = TokenStore(tmp_path)
    store.add("viewer", "a")
    stamp = os.stat(store.path).st_mtime_ns
    assert [r.name for r in store.records()] == ["a"]
    TokenStore(tmp_path).add("viewer", "b")  # another process, perhaps within one mtime tick
    os.utime(store.path, ns=(stamp, stamp))
    assert [r.name for r in store.records()] == ["a", "b"]
    assert os.stat(store.path).st_mode & 0o777 == 0o600


def test_token_command_expires_list_revoke_and_open(tmp_path):
    data = tmp_path / "data"
    added = twin("token", "add", "operator", "--name", "desk1", "--expires", "12h", "--data", str(data), data=data).stdout
    assert "tokens mode now" in added and "expires 20" in added and " UTC" in added
    listed = twin("token", "list", "--data", str(data), data=data).stdout
    assert "tokens mode" in listed and "desk1" in listed and "expires 20" in listed
    bad = twin("token", "add", "viewer", "--expires", "soon", "--data", str(data), data=data, check=False)
    assert bad.returncode == 2 and "--expires 'soon'" in bad.stderr and "30d" in bad.stderr

    refused = twin("token", "open", "--data", str(data), data=data, check=False)
    assert refused.returncode == 2 and "desk1" in refused.stderr and "revoke" in refused.stderr

    revoked = twin("token", "revoke", "desk1", "--data", str(data), data=data).stdout
    assert "no valid token is left" in revoked
    listed = twin("token", "list", "--data", str(data), data=data).stdout
    assert "no tokens" in listed and "tokens mode, so nobody but /api/health gets in" in listed and "twin token open" in listed

    opened = twin("token", "open", "--data", str(data), data=data).stdout
    assert "open mode" in opened
    assert "open mode" in twin("token", "list", "--data", str(data), data=data).stdout
    public = twin("serve", "--host", "0.0.0.0", "--port", str(free_port()), "--data", str(data), data=data, check=False)
    assert public.returncode == 2 and "refusing to serve on 0.0.0.0 without access tokens" in public.stderr
    assert "open mode" in public.stderr


# -- a running server -----------------------------------------------------------------


def test_an_expired_token_is_refused_saying_when(tmp_path, toy):
    data = tmp_path / "data"
    store = TokenStore(data)
    _, lasting = store.add("viewer", "wall")
    with served(tmp_path, toy, data) as (_, client, _):
        _, brief = store.add("viewer", "visitor", expires=time.time() + 1.0)
        assert client.get("/api/scene", params={"token": brief}).status_code == 200
        time.sleep(1.1)
        r = client.get("/api/scene", params={"token": brief})
        assert r.status_code == 401 and "token 'visitor' expired at 20" in r.json()["error"] and "UTC" in r.json()["error"]
        assert client.get("/api/scene", params={"token": lasting}).status_code == 200


def test_revoking_every_token_keeps_tokens_mode_and_open_needs_a_restart(tmp_path, toy):
    data = tmp_path / "data"
    store = TokenStore(data)
    _, admin = store.add("admin", "root")
    with served(tmp_path, toy, data) as (server, client, _):
        assert client.get("/api/alarms", headers={"Authorization": f"Bearer {admin}"}).status_code == 200
        store.revoke("root")
        r = client.get("/api/alarms")
        assert r.status_code == 401
        assert "no valid token exists" in r.json()["error"] and "twin token add ROLE" in r.json()["error"]
        assert client.get("/api/alarms", headers={"Authorization": f"Bearer {admin}"}).status_code == 401
        assert client.get("/api/health").status_code == 200  # health answers without a token
        store.open()
        # Open mode is a start-up decision: the running server stays closed.
        assert client.get("/api/alarms").status_code == 401
    with served(tmp_path / "again", toy, data) as (_, client, _):
        assert client.get("/api/alarms").status_code == 200


def test_a_revoked_token_closes_its_open_websocket_within_a_tick_or_two(tmp_path, toy):
    data = tmp_path / "data"
    store = TokenStore(data)
    _, operator = store.add("operator", "desk1")
    _, viewer = store.add("viewer", "wall")
    with served(tmp_path, toy, data) as (_, _, url):

        async def main():
            op = await connect(f"{url}?token={operator}")
            wall = await connect(f"{url}?token={viewer}")
            for ws in (op, wall):
                Mirror().apply(await ws.recv())
                await ws.send(p.encode_client(p.Subscribe(domains={"toy": []})))
                await ws.recv()  # the snapshot
            await asyncio.to_thread(store.revoke, "desk1")
            # 20 ticks a second: a tick or two is well within a second
            code, reason = await closed_code(op, timeout=2.0)
            assert code == 4401 and "token 'desk1' was revoked" in reason
            # the wall's token still holds: it keeps receiving deltas
            for _ in range(3):
                assert isinstance(p.decode_server(await wall.recv())[0], p.Delta)
            await wall.close()

        asyncio.run(main())


def test_an_expiring_token_closes_its_websocket(tmp_path, toy):
    data = tmp_path / "data"
    store = TokenStore(data)
    store.add("admin", "root")
    with served(tmp_path, toy, data) as (_, _, url):
        _, brief = store.add("viewer", "visitor", expires=time.time() + 1.5)

        async def main():
            ws = await connect(f"{url}?token={brief}")
            assert Mirror().apply(await ws.recv()).role == "viewer"
            code, reason = await closed_code(ws, timeout=5.0)
            assert code == 4401 and "token 'visitor' expired at" in reason

        asyncio.run(main())


def test_a_revoked_token_cannot_act_between_ticks(tmp_path, toy):
    data = tmp_path / "data"
    store = TokenStore(data)
    _, operator = store.add("operator", "desk1")
    _, viewer = store.add("viewer", "wall")
    with served(tmp_path, toy, data) as (server, client, url):
        alarm = wait_alarm(client, token=viewer)

        async def main():
            op = await connect(f"{url}?token={operator}")
            Mirror().apply(await op.recv())
            server.running.clear()  # no tick, so no per-tick re-check: only the message's own
            await asyncio.sleep(0.3)
            await asyncio.to_thread(store.revoke, "desk1")
            await op.send(p.encode_client(p.AlarmAction(request=9, alarm=alarm["id"], action="acknowledge", note="late")))
            async with asyncio.timeout(5):
                while not isinstance(result := p.decode_server(await op.recv())[0], p.Result):
                    pass
            assert result.request == 9 and not result.ok and "token 'desk1' was revoked" in result.error
            code, _ = await closed_code(op)
            assert code == 4401

        asyncio.run(main())
        stored = server.engine.alarms.alarms[alarm["id"]]
        assert stored.state == "raised" and not any(a.get("note") == "late" for a in stored.actions)
        server.running.set()


def test_the_first_token_closes_sockets_opened_in_open_mode(tmp_path, toy):
    data = tmp_path / "data"
    with served(tmp_path, toy, data) as (_, client, url):
        assert client.get("/api/alarms").status_code == 200  # open mode: the local demo

        async def main():
            ws = await connect(url)
            hello = Mirror().apply(await ws.recv())
            assert hello.role == "admin"
            await asyncio.to_thread(TokenStore(data).add, "viewer", "wall")
            code, reason = await closed_code(ws, timeout=2.0)
            assert code == 4401 and "needs a token" in reason

        asyncio.run(main())
        assert client.get("/api/alarms").status_code == 401


def test_no_token_begins_with_a_dash_that_a_command_line_would_take_for_an_option():
    from twin.serving.access import new_token

    tokens = [new_token() for _ in range(3000)]  # one in 32 of token_urlsafe begins with "-"
    assert not [t for t in tokens if t.startswith("-")]
    assert len(set(tokens)) == len(tokens) and all(len(t) == 32 for t in tokens)
