"""Protocol v1 over real sockets: a real uvicorn, real `websockets` clients."""

import asyncio
import base64
import contextlib
import os
import socket
import struct
import threading
import time

import httpx
import msgspec
import numpy as np
import pytest
import websockets
from conftest import assert_mirror_equals_engine, connect, paused_state, running, wait_for, wait_healthy
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.serving import protocol as p
from twin.serving import stream
from twin.serving.access import TokenStore
from twin.serving.client import Mirror
from twin.serving.server import create_app
from twin.authoring.testing import Harness


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
        wait_healthy(url)
        yield server, url.replace("http", "ws") + "/ws", made


@contextlib.contextmanager
def churning(tmp_path, count, *plugins, data_dir=None):
    """A server ticking 20 times a second over the churn domain of ``count`` rows (a
    twentieth of them change each tick) and ``plugins``: yields the server and its base
    URL once healthy, and puts the churn plugin's module-level knobs back afterwards."""
    import churnplugin

    churnplugin.COUNT = count

    def build():
        return Harness(tmp_path / "scene", plugins=[*plugins, churnplugin], blocks=(2, 2)).engine

    server = create_app(build, speed=20.0, data_dir=data_dir)
    try:
        with running(server.app) as http:
            wait_healthy(http)
            yield server, http
    finally:
        churnplugin.COUNT = 2000
        churnplugin.FROZEN = False


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
        await receive_until(ws, m, lambda msg: isinstance(msg, p.Delta) and msg.seq > 5)
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


@pytest.mark.slow
def test_slow_client_gets_merged_deltas_and_fast_one_unaffected(tmp_path, toy):
    import churnplugin

    # ~130 KB of changes per tick: a slow reader falls behind in seconds
    with churning(tmp_path, 200_000) as (server, http):
        url = http.replace("http", "ws") + "/ws"
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
            # the world stops changing: reading at its own pace, the slow client must
            # converge on the server's state (latest values won in every merge)
            churnplugin.FROZEN = True
            frozen_at = server.engine.seq + 1
            while m.seq <= frozen_at + 1:
                m.apply(await ws.recv())
                await asyncio.sleep(0.2)
            await ws.close()
            return merged, m

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

        (merged, mirror), (seqs, control) = asyncio.run(phase_one())
        # the lagging client got fewer, merged deltas and still applied every one in order
        assert merged >= 1
        # ... and converged: its mirror is the server's state, value for value
        table = server.engine.world.tables["churn"]
        for field in ("value", "count", "flag"):
            assert np.array_equal(mirror.tables["churn"][field], table[field]), f"the slow client's {field} differs"
        # the fast client got the ticks one by one meanwhile, each delta following the
        # last (on a loaded machine it may lag a frame for a moment and be sent two
        # ticks merged, as any client that falls behind is); nobody had a queue
        assert len(seqs) > 20 and all(b == s for (_, s), (b, _) in zip(seqs, seqs[1:]))
        single = sum(seq == base + 1 for base, seq in seqs)
        assert single >= 0.95 * len(seqs), f"the fast client got {len(seqs) - single} of {len(seqs)} deltas merged"
        assert max(control) <= 1


@pytest.mark.slow
def test_a_half_rate_reader_gets_fresh_merged_deltas_not_a_queue_in_socket_buffers(tmp_path, toy):
    """Frames of ~13 KB at 20 ticks a second to a client reading 10 a second: the
    kernel's send buffer alone holds a score of such frames, so without a limit on the
    bytes in flight the client reads frames ever staler (and never a merged one) until
    its buffers are full (20 ticks here). With it, each delta it reads is a few ticks old
    (7 to 9 here: the bytes in flight, its small receive buffer, its own pause) and merged."""
    # 1,000 rows change a tick: ~13 KB a frame
    with churning(tmp_path, 20_000) as (server, http):
        url = http.replace("http", "ws") + "/ws"

        async def half_rate():
            ws = await small_window_client(url)
            m = Mirror()
            m.apply(await ws.recv())
            await ws.send(p.encode_client(p.Subscribe()))
            lags, merged = [], 0
            deadline = time.monotonic() + 12
            while time.monotonic() < deadline:
                msg = m.apply(await ws.recv())
                if isinstance(msg, p.Delta):
                    lags.append(server.engine.seq - msg.seq)
                    merged += msg.seq > msg.base + 1
                await asyncio.sleep(0.1)
            await ws.close()
            return lags, merged

        lags, merged = asyncio.run(half_rate())
        late = lags[len(lags) // 2:]  # once the buffers would have filled
        assert merged >= len(late) // 2, f"only {merged} merged deltas of {len(lags)}"
        assert max(late) <= 12, f"deltas read {max(late)} ticks after they were made: a queue in the socket buffers"


async def read_confirming(ws, mirror):
    """One message, applied; a Snapshot or Delta is confirmed (``Confirm``) at once."""
    msg = mirror.apply(await ws.recv())
    if isinstance(msg, (p.Snapshot, p.Delta)):
        await ws.send(p.encode_client(p.Confirm(msg.seq)))
    return msg


@pytest.mark.slow
def test_a_client_that_confirms_gets_fresh_merged_deltas_whatever_its_buffers(tmp_path, toy):
    """Frames of ~13 KB at 20 ticks a second. A client that confirms each delta it
    applied reads them at half that rate on a socket with the kernel's big, autotuned
    buffers and a library queue of 64 messages, which would hide hundreds of frames from
    the server's socket accounting: it is sent its next delta only once it confirmed the
    last, so each delta it reads merges the ticks since and is a few ticks old, and it
    converges on the server's state. A confirming client that stops reading has at most
    one delta in flight and one pending (merged), and is closed with 4008."""
    # 1,000 rows change a tick: ~13 KB a frame
    with churning(tmp_path, 20_000) as (server, http):
        url = http.replace("http", "ws") + "/ws"
        hub = server.hub
        hub.max_lag, hub.abort_after = 3.0, 6.0

        started = asyncio.Event()  # the reader that stops is connected first, to be told apart

        async def half_rate():
            await started.wait()
            ws = await connect(url, max_queue=64)
            m = Mirror()
            m.apply(await ws.recv())
            await ws.send(p.encode_client(p.Subscribe()))
            lags, merged = [], 0
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                msg = await read_confirming(ws, m)
                if isinstance(msg, p.Delta):
                    lags.append(server.engine.seq - msg.seq)
                    merged += msg.seq > msg.base + 1
                await asyncio.sleep(0.1)
            return ws, m, lags, merged

        async def stops_reading():
            before = set(hub.clients)
            ws = await connect(url, max_queue=64)
            m = Mirror()
            m.apply(await ws.recv())
            (mine,) = set(hub.clients) - before
            started.set()
            await ws.send(p.encode_client(p.Subscribe()))
            await receive_until(ws, m, lambda msg: isinstance(msg, p.Snapshot))
            await ws.send(p.encode_client(p.Confirm(m.seq)))
            while not isinstance(await read_confirming(ws, m), p.Delta):
                pass
            # it stops reading; the server holds at most one delta unconfirmed for it
            # and merges the rest into its pending delta until it drops it
            most_unconfirmed, most_chunks, held_ticks = 0, 0, 0
            deadline = time.monotonic() + 30
            while mine in hub.clients:
                assert time.monotonic() < deadline, "the client that stopped reading was not dropped"
                pending = mine.pending
                if pending is not None and pending.chunks:
                    most_unconfirmed = max(most_unconfirmed, len(mine.unconfirmed))
                    held_ticks = max(held_ticks, pending.ticks)
                    with contextlib.suppress(RuntimeError):  # changed meanwhile by the server
                        most_chunks = max(most_chunks, max(len(c) for c in list(pending.chunks.values())))
                await asyncio.sleep(0.05)
            assert most_unconfirmed == 1 and held_ticks > stream.MERGE_EVERY and most_chunks <= stream.MERGE_EVERY
            # reading again: at most the one delta in flight, then the 4008
            deltas = 0
            with pytest.raises(websockets.ConnectionClosed) as closed:
                async with asyncio.timeout(20):
                    while True:
                        deltas += isinstance(m.apply(await ws.recv()), p.Delta)
            assert deltas <= 1, f"{deltas} deltas were in flight to a client that confirmed none of them"
            close = closed.value.rcvd
            assert close.code == 4008 and "not confirmed" in close.reason and "since=" in close.reason, close

        async def main():
            (ws, m, lags, merged), _ = await asyncio.gather(half_rate(), stops_reading())
            late = lags[len(lags) // 2:]
            assert merged >= len(late) // 2, f"only {merged} merged deltas of {len(lags)}"
            # a few ticks here (2-4); without the limit the buffers fill at 10 ticks a
            # second of backlog: dozens of ticks by then
            assert max(late) <= 12, f"deltas read {max(late)} ticks after they were made: a queue in the buffers"
            # the world stops: confirming as it reads, it reaches the server's state
            engine = paused_state(server)
            async with asyncio.timeout(10):
                while m.seq < engine.seq:
                    await read_confirming(ws, m)
            assert_mirror_equals_engine(m, engine)
            await ws.close()

        asyncio.run(main())


def test_garbage_gets_errors_then_a_close_and_others_are_unaffected(churn_server):
    server, url, _ = churn_server

    async def main():
        good = await connect(url)
        gm = Mirror()
        gm.apply(await good.recv())
        await good.send(p.encode_client(p.Subscribe()))
        bad = await connect(url)
        await bad.recv()  # hello
        unknown_key = msgspec.msgpack.encode({"type": "ping", "nope": 1})
        garbage = [b"\xff\x00", struct.pack("<I", 3) + b"\xc1\xc1\xc1", struct.pack("<I", 11) + b"\x81\xa4type\xa4nope",
                   struct.pack("<I", len(unknown_key)) + unknown_key, struct.pack("<I", 2) + b"\x81\xa4"]
        codes = []
        for g in garbage:
            await bad.send(g)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                msg, _ = p.decode_server(await bad.recv())
                codes.append(msg.code)
        assert codes[:5] == ["malformed", "malformed", "invalid", "invalid", "malformed"]
        assert codes[5] == "too_many_errors" and closed.value.rcvd.code == 1008
        # the well-behaved client still gets its deltas
        await receive_until(good, gm, lambda msg: isinstance(msg, p.Delta))
        await good.close()

    asyncio.run(main())


def test_requests_faster_than_answers_are_read_are_refused(churn_server):
    server, url, _ = churn_server

    async def main():
        ws = await small_window_client(url)
        await ws.recv()
        # ask for snapshots and pings without reading a thing (the server may close meanwhile)
        with contextlib.suppress(websockets.ConnectionClosed):
            for i in range(200):
                await ws.send(p.encode_client(p.Subscribe()))
                await ws.send(p.encode_client(p.Ping(request=i)))
        # the answers sent before the server stopped queueing them, then a close saying why
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(20):
                while True:
                    await ws.recv()
        assert closed.value.rcvd is not None, "cut off without a close frame"
        assert closed.value.rcvd.code == 1008 and "answers left unread" in closed.value.rcvd.reason, closed.value.rcvd
        assert not [c for c in server.hub.clients if not c.closed]  # and it let the client go

    asyncio.run(main())


def test_a_subprotocol_mismatch_is_refused_in_the_http_handshake(churn_server):
    """A client offering only another protocol version gets no WebSocket at all: HTTP
    400 with the Error as JSON, which a strict client (websockets) reports as a refused
    handshake; a close code after an accept would never reach it."""
    _, ws_url, _ = churn_server

    async def strict():
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            await websockets.connect(ws_url, subprotocols=["lifeline-twin.v2"])
        return refused.value.response

    response = asyncio.run(strict())
    assert response.status_code == 400
    body = msgspec.json.decode(response.body)
    assert body["code"] == "protocol_mismatch" and "lifeline-twin.v1" in body["error"] and "lifeline-twin.v2" in body["error"]

    async def served():  # offering ours among others is served
        ws = await websockets.connect(ws_url, subprotocols=["lifeline-twin.v2", p.SUBPROTOCOL])
        hello, _ = p.decode_server(await ws.recv())
        await ws.close()
        return ws.subprotocol, hello

    chosen, hello = asyncio.run(served())
    assert chosen == p.SUBPROTOCOL and isinstance(hello, p.Hello)


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


def decoded_or_refused(frame):
    """A client's frame decodes to a client message, or is refused with a ProtocolError
    of a documented code and a one-line reason; never another exception."""
    try:
        message = p.decode_client(frame)
    except p.ProtocolError as exc:
        assert exc.code in ("too_large", "malformed", "invalid") and str(exc) and "\n" not in str(exc), (exc.code, str(exc))
        return exc.code
    assert isinstance(message, (p.Subscribe, p.AlarmAction, p.Ping, p.ReplayControl, p.CameraUpdate, p.Confirm)), message
    return message


@given(st.binary(max_size=256))
@settings(max_examples=400, deadline=None)
def test_decoder_fuzz_only_ever_raises_protocol_errors(data):
    decoded_or_refused(data)


@given(st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_decoder_fuzz_with_a_valid_length_prefix(data):
    decoded_or_refused(struct.pack("<I", len(data)) + data)


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
        wait_healthy(c)  # health answers without a token
        r = c.get("/api/alarms")
        assert r.status_code == 401 and "token" in r.json()["error"]
        wait_for(lambda: c.get("/api/alarms", params={"token": viewer}).json()["alarms"], 20, "the tank's alarm")
        alarm = c.get("/api/alarms", headers={"Authorization": f"Bearer {viewer}"}).json()["alarms"][0]
        r = c.post(f"/api/alarms/{alarm['id']}/ack", headers={"Authorization": f"Bearer {viewer}"}, json={})
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
        r = c.post(f"/api/alarms/{alarm['id']}/dispatch", headers={"Authorization": f"Bearer {operator}"}, json={})
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
        # an unbounded queue: a client whose queue of unread messages is full stops
        # reading its socket, and would not see the server's closing frame at the end
        ws = await connect(url, max_queue=None)
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


# ----------------------------------------------------- one client never stops the others


def _server_side_sockets(port: int) -> set[int]:
    """Remote ports of the TCP connections this process holds open on local ``port``:
    the server's side of its clients' connections (read from /proc: Linux)."""
    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                ours.add(target[8:-1])
    remote = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in list(f)[1:]:
                cols = line.split()
                local, peer, inode = cols[1], cols[2], cols[9]
                if int(local.rsplit(":", 1)[1], 16) == port and inode in ours:
                    remote.add(int(peer.rsplit(":", 1)[1], 16))
    return remote


def test_a_burst_of_subscribes_never_stops_the_tick(tmp_path, toy):
    """A viewer sends thousands of subscribes as fast as its socket takes them (many
    arrive during one tick); the tick goes on and another screen gets every frame."""
    data = tmp_path / "data"
    _, viewer = TokenStore(data).add("viewer", "wall")
    # ticks long enough for hundreds of subscribes to wait on one
    with churning(tmp_path, 100_000, toy, data_dir=data) as (server, http):
        url = http.replace("http", "ws") + f"/ws?token={viewer}"

        async def main():
            watcher = await connect(url)
            m = Mirror()
            m.apply(await watcher.recv())
            await watcher.send(p.encode_client(p.Subscribe()))
            await receive_until(watcher, m, lambda msg: isinstance(msg, p.Snapshot))
            burst = await connect(url, max_queue=1)
            await burst.recv()  # hello; then it never reads again
            subscribe = p.encode_client(p.Subscribe(domains={"toy": []}))

            async def flood():
                for _ in range(5000):
                    await burst.send(subscribe)

            flooding = asyncio.create_task(flood())
            while not flooding.done():  # the watcher reads on meanwhile (Mirror checks each delta follows)
                async with asyncio.timeout(20):
                    m.apply(await watcher.recv())
            await flooding
            after = m.seq
            # the tick goes on, and the watcher keeps up with it
            await receive_until(watcher, m, lambda msg: isinstance(msg, p.Delta) and msg.seq >= after + 20, timeout=30)
            engine = paused_state(server)
            await catch_up(watcher, m, engine.seq, timeout=15)
            assert_mirror_equals_engine(m, engine)  # not a frame lost on the way
            burst.transport.abort()
            await watcher.close()

        asyncio.run(main())


@pytest.mark.slow
def test_a_stalled_reader_gets_4008_and_its_connection_is_released(tmp_path, toy):
    """Two screens stop reading. Both are dropped at max_lag with 4008 and a reason, and
    the server lets their pending deltas go; one reads again in time and finds the 4008;
    the other never does and its connection is cut off after abort_after. A third keeps
    getting every frame."""
    # ~130 KB of changes per tick: a stalled socket fills in a second
    with churning(tmp_path, 200_000) as (server, http):
        url = http.replace("http", "ws") + "/ws"
        port = int(http.rsplit(":", 1)[1])
        hub = server.hub
        hub.max_lag, hub.abort_after = 1.0, 6.0

        async def main():
            fast = await connect(url)
            fm = Mirror()
            fm.apply(await fast.recv())
            await fast.send(p.encode_client(p.Subscribe()))
            await receive_until(fast, fm, lambda msg: isinstance(msg, p.Snapshot))
            stalled = []
            for _ in range(2):
                ws = await small_window_client(url)
                m = Mirror()
                m.apply(await ws.recv())
                await ws.send(p.encode_client(p.Subscribe()))
                stalled.append((ws, m))
            resumer, silent = (ws for ws, _ in stalled)
            ports = [ws.transport.get_extra_info("sockname")[1] for ws, _ in stalled]
            assert set(ports) <= _server_side_sockets(port)
            # neither reads now; the fast screen does, and the server merges what the
            # stalled ones miss into one delta each, whatever the number of ticks
            merged_ticks, most_chunks = 0, 0
            deadline = time.monotonic() + 60
            while len(hub.clients) > 1:
                assert time.monotonic() < deadline, "the stalled clients were not dropped"
                with contextlib.suppress(RuntimeError):  # the server's thread changes them meanwhile
                    for client in list(hub.clients):
                        pending = client.pending
                        if pending is not None and pending.chunks:
                            merged_ticks = max(merged_ticks, pending.ticks)
                            most_chunks = max(most_chunks, max(len(c) for c in list(pending.chunks.values())))
                async with asyncio.timeout(10):
                    fm.apply(await fast.recv())
            dropped_at = time.monotonic()
            assert merged_ticks > stream.MERGE_EVERY and most_chunks <= stream.MERGE_EVERY
            # the resumer reads again in time: what was in flight, then the close
            ws, m = stalled[0]
            with pytest.raises(websockets.ConnectionClosed) as closed:
                async with asyncio.timeout(20):
                    while True:
                        m.apply(await ws.recv())
            close = closed.value.rcvd
            assert close.code == 4008 and "too slow" in close.reason and "since=" in close.reason
            # ... and the server closed its side: at once for the resumer (the close
            # handshake completed), after abort_after for the silent one
            while ports[0] in _server_side_sockets(port) or ports[1] in _server_side_sockets(port):
                assert time.monotonic() < dropped_at + hub.abort_after + 10, _server_side_sockets(port)
                async with asyncio.timeout(10):
                    fm.apply(await fast.recv())
            assert time.monotonic() > dropped_at + hub.abort_after - 2  # the silent one had its grace
            # the silent one, reading at last, finds its stream cut off without a close
            ws, m = stalled[1]
            with pytest.raises(websockets.ConnectionClosed) as cut:
                async with asyncio.timeout(20):
                    while True:
                        m.apply(await ws.recv())
            assert cut.value.rcvd is None
            assert len(hub.clients) == 1
            # the fast screen got every frame meanwhile, and is at the server's state
            engine = paused_state(server)
            await catch_up(fast, fm, engine.seq, timeout=15)
            assert_mirror_equals_engine(fm, engine)
            await fast.close()

        asyncio.run(main())


def _ws_frames(sock: socket.socket):
    """Frames the server sends on a raw socket: (opcode, payload), until EOF."""
    buf = b""

    def need(n):
        nonlocal buf
        while len(buf) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError
            buf += chunk
        out, buf = buf[:n], buf[n:]
        return out

    while True:
        try:
            head = need(2)
        except EOFError:
            return
        length = head[1] & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", need(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", need(8))
        yield head[0] & 0x0F, need(length)


def test_a_frame_past_the_limit_is_refused_at_its_header(churn_server):
    """A frame header announcing more than MAX_CLIENT_MESSAGE bytes is answered with a
    1009 close at once: the server does not wait for (nor buffer) the payload."""
    _, url, _ = churn_server
    for announced in (p.MAX_CLIENT_MESSAGE + 1, 1 << 20, 16 * (1 << 20) + 8):
        _refused_at_header(url, announced)


def _refused_at_header(url, announced):
    host, port = url.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {p.SUBPROTOCOL}\r\n\r\n").encode())
        response = b""
        while b"\r\n\r\n" not in response:
            response += sock.recv(1)
        assert response.startswith(b"HTTP/1.1 101")
        # FIN + binary, masked, 64-bit length; then a mask key and a few bytes of payload
        sock.sendall(bytes([0x82, 0x80 | 127]) + struct.pack("!Q", announced) + os.urandom(4) + b"abcdefgh")
        frames = _ws_frames(sock)
        opcode, payload = next(frames)
        while opcode != 0x8:  # the hello first
            opcode, payload = next(frames)
        (code,) = struct.unpack("!H", payload[:2])
        assert code == 1009, announced
        assert list(frames) == []  # then the server closes the connection


def test_snapshots_and_events_carry_alarm_summaries_not_every_note(churn_server):
    """An alarm with many long notes: its snapshot entry and its events stay small (each
    event carries only its own note); GET /api/alarms/{id} has every note."""
    _, url, _ = churn_server
    http = url.replace("ws", "http", 1).removesuffix("/ws")
    notes = [f"note {i}: " + "x" * 3900 for i in range(30)]
    with httpx.Client(base_url=http, timeout=10) as c:
        deadline = time.monotonic() + 20
        while not (alarms := [a for a in c.get("/api/alarms").json()["alarms"] if a["asset"] == "T-001"]):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        alarm_id = alarms[0]["id"]
        assert c.post(f"/api/alarms/{alarm_id}/ack", json={"note": notes[0]}).status_code == 200
        for note in notes[1:]:
            assert c.post(f"/api/alarms/{alarm_id}/dispatch", json={"note": note, "unit": "crew 7"}).status_code == 200

    async def main():
        ws = await connect(url)
        m = Mirror()
        m.apply(await ws.recv())
        await ws.send(p.encode_client(p.Subscribe(domains={"toy": []})))
        async with asyncio.timeout(20):
            while not isinstance((msg := m.apply(frame := await ws.recv())), p.Snapshot):
                pass
        assert len(frame) < 20_000  # 30 notes of 3,900 characters are not in it
        [record] = [a for a in msg.alarms if a["id"] == alarm_id]
        assert [a["action"] for a in record["actions"]] == ["acknowledge"] + ["dispatch"] * 29
        assert all(set(a) == {"action", "who", "time", "unit"} for a in record["actions"])
        await ws.send(p.encode_client(p.AlarmAction(request=1, alarm=alarm_id, action="dispatch", note="the newest note")))
        async with asyncio.timeout(20):
            while True:
                msg = m.apply(frame := await ws.recv())
                if isinstance(msg, p.Result):
                    assert msg.ok and all("note" not in a for a in msg.alarm["actions"])
                if isinstance(msg, p.Delta) and [e for e in msg.events if e.note == "the newest note"]:
                    break
        [event] = [e for e in msg.events if e.note == "the newest note"]
        assert event.note == "the newest note" and len(event.alarm["actions"]) == 31
        assert all("note" not in a for a in event.alarm["actions"])
        # its own note and a summary of 31 actions: nothing like the 117,000 characters of notes
        assert len(msgspec.msgpack.encode(event)) < 6_000
        await ws.close()

    asyncio.run(main())
    with httpx.Client(base_url=http, timeout=10) as c:
        full = c.get(f"/api/alarms/{alarm_id}").json()["alarm"]
        assert [a["note"] for a in full["actions"]] == notes + ["the newest note"]
        r = c.get("/api/alarms/987654")
        assert r.status_code == 404 and "no alarm 987654" in r.json()["error"]
