"""Protocol v1 over real sockets: a real uvicorn, real `websockets` clients."""

import asyncio
import contextlib
import socket
import struct
import threading
import time

import httpx
import numpy as np
import pytest
import websockets
from conftest import running
from hypothesis import given, settings
from hypothesis import strategies as st

from twin import protocol as p
from twin.access import TokenStore
from twin.client import Mirror
from twin.server import create_app
from twin.testing import Harness


@pytest.fixture
def churn_server(tmp_path, toy):
    import churnplugin

    made = {}

    def build():
        h = Harness(tmp_path / "scene", plugins=[toy, churnplugin], blocks=(2, 2))
        h.act("toy.open_tap", "T-001", rate=0.5)
        made["h"] = h
        return h.engine

    server = create_app(build, speed=50.0, data_dir=tmp_path / "data")
    with running(server.app) as url:
        with httpx.Client(base_url=url) as c:
            deadline = time.monotonic() + 30
            while c.get("/api/health").status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        yield server, url.replace("http", "ws") + "/ws", made


async def connect(url, **kw):
    return await websockets.connect(url, subprotocols=[p.SUBPROTOCOL], max_size=None, compression=None, **kw)


async def receive_until(ws, mirror, predicate, timeout=20.0):
    async with asyncio.timeout(timeout):
        while True:
            message = mirror.apply(await ws.recv())
            if predicate(message):
                return message


async def catch_up(ws, mirror, seq, timeout=5.0):
    async with asyncio.timeout(timeout):
        while mirror.seq < seq:
            mirror.apply(await ws.recv())


def paused_state(server):
    """Stop the tick loop and return the engine (its state no longer moves)."""
    server.running.clear()
    time.sleep(0.3)  # let an in-flight tick finish
    return server.engine


def assert_mirror_equals_engine(mirror, engine):
    assert mirror.seq == engine.seq
    for d, fields in mirror.tables.items():
        for f, values in fields.items():
            expected = engine.world.tables[d].columns[f]
            if expected.dtype == np.bool_:
                expected = expected.view(np.uint8)
            np.testing.assert_array_equal(values, expected, err_msg=f"{d}.{f}")


def test_snapshot_plus_deltas_equals_server_state(churn_server):
    server, url, _ = churn_server

    async def main():
        ws = await connect(url)
        m = Mirror()
        hello = m.apply(await ws.recv())
        assert isinstance(hello, p.Hello) and hello.protocol == 1 and hello.role == "admin"
        assert {d.name for d in hello.domains} == {"toy", "churn"}
        churn = next(d for d in hello.domains if d.name == "churn")
        assert churn.ids[:2] == ["C-000000", "C-000001"]
        await ws.send(p.encode_client(p.Subscribe()))
        await receive_until(ws, m, lambda msg: isinstance(msg, p.Snapshot))
        start = m.seq
        await receive_until(ws, m, lambda msg: isinstance(msg, p.Delta) and msg.seq >= start + 30)
        engine = paused_state(server)
        await catch_up(ws, m, engine.seq)
        assert_mirror_equals_engine(m, engine)
        assert any(e.kind == "raise" for e in m.events)  # the toy tank's alarm came through
        await ws.close()

    asyncio.run(main())


def test_resume_after_forced_disconnect_gets_only_missed_deltas(churn_server):
    server, url, made = churn_server

    async def main():
        ws = await connect(url)
        m = Mirror()
        m.apply(await ws.recv())
        await ws.send(p.encode_client(p.Subscribe(domains={"churn": ["value", "count"]})))
        await receive_until(ws, m, lambda msg: isinstance(msg, p.Delta) and msg.seq > m.seq - 1 and len(m.events) >= 0 and msg.seq > 5)
        # drop the TCP connection under the client's feet: no closing handshake
        ws.transport.abort()
        left_at = m.seq
        await asyncio.sleep(0.5)  # the server ticks on (50x: ~25 ticks)
        ws = await connect(url)
        m.apply(await ws.recv())
        await ws.send(p.encode_client(p.Subscribe(domains={"churn": ["value", "count"]}, since=left_at, epoch=m.hello.epoch)))
        first = await receive_until(ws, m, lambda msg: isinstance(msg, (p.Delta, p.Snapshot)))
        assert isinstance(first, p.Delta) and first.base == left_at and first.seq > left_at + 5
        engine = paused_state(server)
        await catch_up(ws, m, engine.seq)
        assert set(m.tables["churn"]) == {"value", "count"}
        assert_mirror_equals_engine(m, engine)
        await ws.close()

    asyncio.run(main())


def test_resume_from_a_forgotten_seq_gets_a_snapshot(churn_server):
    server, url, _ = churn_server

    async def main():
        ws = await connect(url)
        m = Mirror()
        m.apply(await ws.recv())
        await ws.send(p.encode_client(p.Subscribe(since=-50, epoch=m.hello.epoch)))
        first = await receive_until(ws, m, lambda msg: isinstance(msg, (p.Delta, p.Snapshot)))
        assert isinstance(first, p.Snapshot)
        # a seq of another run of the server (a restart): a snapshot (deltas of the first
        # subscription may still be on their way; the Mirror checks every one follows on)
        await ws.send(p.encode_client(p.Subscribe(since=m.seq, epoch="0123456789abcdef")))
        again = await receive_until(ws, m, lambda msg: isinstance(msg, p.Snapshot), timeout=10)
        assert isinstance(again, p.Snapshot)
        await ws.close()

    asyncio.run(main())


async def small_window_client(url):
    """A websockets client on a socket with a small receive buffer, whose library stops
    reading the socket while the test is not reading: a slow screen on a slow link."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    sock.connect((host, int(port)))
    sock.setblocking(False)
    return await connect(url, sock=sock, max_queue=1)


def test_slow_client_gets_merged_deltas_then_is_dropped_and_fast_one_unaffected(tmp_path, toy):
    import churnplugin

    churnplugin.COUNT = 200_000  # ~130 KB of changes per tick: a slow reader falls behind in seconds

    def build():
        return Harness(tmp_path / "scene", plugins=[churnplugin], blocks=(2, 2)).engine

    server = create_app(build, speed=20.0)
    try:
        with running(server.app) as http:
            url = http.replace("http", "ws") + "/ws"
            with httpx.Client(base_url=http) as c:
                while c.get("/api/health").status_code != 200:
                    time.sleep(0.05)
            server.hub.max_lag = 30.0

            async def lagging_client():
                ws = await small_window_client(url)
                m = Mirror()
                m.apply(await ws.recv())
                await ws.send(p.encode_client(p.Subscribe()))
                merged = 0
                deadline = time.monotonic() + 14
                while time.monotonic() < deadline:
                    msg = m.apply(await ws.recv())  # Mirror checks each delta follows the last
                    merged += isinstance(msg, p.Delta) and msg.seq > msg.base + 1
                    await asyncio.sleep(1.0)
                await ws.close()
                return merged

            async def fast_client(seconds):
                ws = await connect(url)
                m = Mirror()
                m.apply(await ws.recv())
                await ws.send(p.encode_client(p.Subscribe()))
                await receive_until(ws, m, lambda msg: isinstance(msg, p.Snapshot))
                seqs, control = [], []
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    msg = m.apply(await ws.recv())
                    if isinstance(msg, p.Delta):
                        seqs.append((msg.base, msg.seq))
                    control += [len(c.control) for c in server.hub.clients]
                await ws.close()
                return seqs, control

            async def phase_one():
                return await asyncio.gather(lagging_client(), fast_client(14))

            merged, (seqs, control) = asyncio.run(phase_one())
            # the lagging client got fewer, merged deltas and still applied every one in order
            assert merged >= 1
            # the fast client got every tick, one by one, meanwhile; nobody had a queue
            assert len(seqs) > 20 and all(seq == base + 1 for base, seq in seqs)
            assert max(control) <= 1

            server.hub.max_lag = 1.0

            async def stalled_client():
                ws = await small_window_client(url)
                m = Mirror()
                m.apply(await ws.recv())
                await ws.send(p.encode_client(p.Subscribe()))
                await asyncio.sleep(12)  # stop reading: the server's sends block, then it gives up
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    async with asyncio.timeout(90):
                        while True:
                            m.apply(await ws.recv())
                await ws.close()
                ws.transport.abort()  # the server gave up on us: release our end at once
                return closed.value.rcvd

            close = asyncio.run(stalled_client())
            assert close.code == 4008 and "too slow" in close.reason and "since=" in close.reason
            assert not server.hub.clients
    finally:
        churnplugin.COUNT = 2000


def test_garbage_gets_errors_then_a_close_and_others_are_unaffected(churn_server):
    server, url, _ = churn_server

    async def main():
        good = await connect(url)
        gm = Mirror()
        gm.apply(await good.recv())
        await good.send(p.encode_client(p.Subscribe()))
        bad = await connect(url)
        await bad.recv()  # hello
        oversized = struct.pack("<I", p.MAX_CLIENT_MESSAGE) + b"\0" * p.MAX_CLIENT_MESSAGE
        garbage = [b"\xff\x00", struct.pack("<I", 3) + b"\xc1\xc1\xc1", struct.pack("<I", 11) + b"\x81\xa4type\xa4nope",
                   oversized, struct.pack("<I", 2) + b"\x81\xa4"]
        codes = []
        for g in garbage:
            await bad.send(g)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                msg, _ = p.decode_server(await bad.recv())
                codes.append(msg.code)
        assert codes[:5] == ["malformed", "malformed", "invalid", "too_large", "malformed"]
        assert codes[5] == "too_many_errors" and closed.value.rcvd.code == 1008
        # the well-behaved client still gets its deltas
        await receive_until(good, gm, lambda msg: isinstance(msg, p.Delta))
        await good.close()

    asyncio.run(main())


def test_requests_faster_than_answers_are_read_are_refused(churn_server):
    server, url, _ = churn_server

    async def main():
        ws = await connect(url, max_queue=1)
        await ws.recv()
        for i in range(200):  # ask for snapshots and pings without reading a thing
            await ws.send(p.encode_client(p.Subscribe()))
            await ws.send(p.encode_client(p.Ping(request=i)))
        await asyncio.sleep(1.0)
        [client] = [c for c in server.hub.clients if not c.closed] or [None]
        assert client is None or len(client.control) <= 16
        await ws.close()

    asyncio.run(main())


def test_unknown_field_in_subscription_is_named(churn_server):
    _, url, _ = churn_server

    async def main():
        ws = await connect(url)
        await ws.recv()
        await ws.send(p.encode_client(p.Subscribe(domains={"churn": ["nope"]})))
        msg, _ = p.decode_server(await ws.recv())
        assert isinstance(msg, p.Error) and msg.code == "unknown_field" and "'nope'" in msg.message and "valid: value" in msg.message
        await ws.close()

    asyncio.run(main())


@given(st.binary(max_size=256))
@settings(max_examples=400, deadline=None)
def test_decoder_fuzz_only_ever_raises_protocol_errors(data):
    try:
        p.decode_client(data)
    except p.ProtocolError:
        pass


@given(st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_decoder_fuzz_with_a_valid_length_prefix(data):
    try:
        p.decode_client(struct.pack("<I", len(data)) + data)
    except p.ProtocolError:
        pass


def test_roles_tokens_and_origin(tmp_path, toy):
    data = tmp_path / "data"
    store = TokenStore(data)
    _, viewer = store.add("viewer", "wall")
    _, operator = store.add("operator", "desk1")

    def build():
        h = Harness(tmp_path / "scene", plugins=[toy], blocks=(2, 2))
        h.act("toy.open_tap", "T-001", rate=0.5)
        return h.engine

    server = create_app(build, speed=50.0, data_dir=data)
    with running(server.app) as http, httpx.Client(base_url=http) as c:
        deadline = time.monotonic() + 30
        while c.get("/api/health").status_code != 200:  # health answers without a token
            assert time.monotonic() < deadline
            time.sleep(0.05)
        r = c.get("/api/alarms")
        assert r.status_code == 401 and "token" in r.json()["error"]
        while not c.get("/api/alarms", params={"token": viewer}).json()["alarms"]:
            time.sleep(0.05)
        alarm = c.get("/api/alarms", headers={"Authorization": f"Bearer {viewer}"}).json()["alarms"][0]
        r = c.post(f"/api/alarms/{alarm['id']}/ack", headers={"Authorization": f"Bearer {viewer}"})
        assert r.status_code == 403 and "role viewer" in r.json()["error"]
        r = c.post("/api/actions", headers={"Authorization": f"Bearer {operator}"},
                   json={"action": "toy.open_tap", "target": "T-000", "params": {"rate": 1}})
        assert r.status_code == 403 and "needs director" in r.json()["error"]
        url = http.replace("http", "ws") + "/ws"

        async def main():
            # no token: refused with a reason
            ws = await connect(url)
            msg, _ = p.decode_server(await ws.recv())
            assert msg.code == "unauthorized"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 4401
            # a foreign page's origin is refused
            ws = await connect(f"{url}?token={viewer}", origin="http://evil.example")
            msg, _ = p.decode_server(await ws.recv())
            assert msg.code == "forbidden_origin"
            # viewer over the socket may read but not act
            ws = await connect(f"{url}?token={viewer}", origin=http)
            m = Mirror()
            m.apply(await ws.recv())
            assert m.hello.role == "viewer"
            await ws.send(p.encode_client(p.AlarmAction(request=7, alarm=alarm["id"], action="acknowledge")))
            res = await receive_until(ws, m, lambda x: isinstance(x, p.Result))
            assert res.request == 7 and not res.ok and "role viewer" in res.error
            # the operator acknowledges; the viewer sees the event in its stream
            await ws.send(p.encode_client(p.Subscribe(domains={"toy": []})))
            op = await connect(url, additional_headers={"Authorization": f"Bearer {operator}"})
            om = Mirror()
            om.apply(await op.recv())
            await op.send(p.encode_client(p.AlarmAction(request=1, alarm=alarm["id"], action="acknowledge", note="seen")))
            res = await receive_until(op, om, lambda x: isinstance(x, p.Result))
            assert res.ok and res.alarm["state"] == "acknowledged" and res.alarm["actions"][-1]["who"] == "desk1"
            await receive_until(ws, m, lambda x: any(e.kind == "acknowledge" for e in m.events))
            for s in (ws, op):
                await s.close()

        asyncio.run(main())
        store.revoke("desk1")
        r = c.post(f"/api/alarms/{alarm['id']}/dispatch", headers={"Authorization": f"Bearer {operator}"})
        assert r.status_code == 401  # a revoked token stops working at once


def test_camera_is_relayed_to_the_channels_followers_only(churn_server):
    """One screen leads channel wall1; its followers get each Camera, the others
    (a follower of another channel, a plain client, the leader itself) none; updates
    closer than 0.1 s apart are ignored; a late follower gets the last camera at once."""
    _, url, _ = churn_server

    async def cameras(ws, seconds):
        """The Camera messages that arrive within `seconds` (other messages skipped)."""
        got = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while True:
                    msg, _ = p.decode_server(await ws.recv())
                    assert not isinstance(msg, p.Error), msg
                    if isinstance(msg, p.Camera):
                        got.append(msg)
        return got

    async def joined(**subscribe):
        ws = await connect(url)
        await ws.recv()  # hello
        await ws.send(p.encode_client(p.Subscribe(**subscribe)))
        return ws

    async def main():
        leader = await joined()
        follower = await joined(follow="wall1")
        other = await joined(follow="wall2")
        plain = await joined()
        await asyncio.sleep(0.2)  # every subscription is in before the leader moves
        first = p.CameraUpdate("wall1", (100.0, -250.5, 300.0), (10.0, 20.0, 0.0))
        await leader.send(p.encode_client(first))
        # too soon after the first: ignored
        await leader.send(p.encode_client(p.CameraUpdate("wall1", (1.0, 2.0, 3.0), (0.0, 0.0, 0.0))))
        got = await cameras(follower, 1.0)
        assert [(c.channel, c.position, c.target) for c in got] == [("wall1", first.position, first.target)]
        for ws in (other, plain, leader):
            assert await cameras(ws, 0.3) == []
        second = p.CameraUpdate("wall1", (5.0, 6.0, 7.0), (1.0, 1.0, 0.0))
        await leader.send(p.encode_client(second))
        got = await cameras(follower, 1.0)
        assert [(c.position, c.target) for c in got] == [(second.position, second.target)]
        # a follower that joins later gets the channel's last camera at once
        late = await joined(follow="wall1")
        got = await cameras(late, 1.0)
        assert [(c.position, c.target) for c in got] == [(second.position, second.target)]
        # a bad camera is an error naming the problem, and the socket stays open
        await leader.send(p.encode_client(p.CameraUpdate("", (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))))
        async with asyncio.timeout(5):
            while not isinstance(msg := p.decode_server(await leader.recv())[0], p.Error):
                pass
        assert msg.code == "invalid" and "channel" in msg.message
        for ws in (leader, follower, other, plain, late):
            await ws.close()

    asyncio.run(main())
