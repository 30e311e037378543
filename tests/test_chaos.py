"""Chaos (issue 11): the demo district, served for real, takes every trigger that once
froze it or made its health lie, one after another. After each, the tick must still advance
(sequence numbers), /api/health must say what is true, a bystander's WebSocket must
still get frames at the tick rate, and the process's memory must stay bounded.

One in-process server runs the demo's real plugins (entry points) plus three that go
wrong on cue (tests/chaosplugins.py), so that the test can reach into it for RSS and
to pull the NaN trigger. It starts in open mode, as the local demo does: that is where
a cross-site page or a rebinding DNS name strikes, so those triggers come first. The
last phase adds the first tokens, which locks the data folder into tokens mode for good
while the server runs, and revokes one under an open WebSocket. The recorder's full
disk needs a file system of its own (or a file-size limit, which would hit every file
of the process), so that trigger hits a second server, a `twin serve --record`
subprocess. Real sockets, real SQLite, real processes throughout.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import msgspec
import numpy as np
import pytest
import websockets
from conftest import free_port, running, sqlite_locked, wait_for, wait_healthy

import chaosplugins
from twin.serving import protocol as p
from twin.serving.access import TokenStore
from twin.serving.client import Mirror
from twin.serving.server import create_app

ROOT = Path(__file__).resolve().parents[1]
#: simulation seconds per wall second: 5 ticks a second keeps the run short and leaves
#: the two shared cores room for the clients, the attacks and the second server
SPEED = 5.0
#: wall seconds over which the bystander's frames are counted after each trigger
WINDOW = 3.0
#: the bystander must get at least this share of the ticks of a window
RATE_SHARE = 0.5
#: a plugin step longer than this is stopped (seconds)
PLUGIN_DEADLINE = 1.0
#: allowed growth of the process's resident memory over the whole run: far below a
#: 200 MB body or a few 16 MiB frames held whole
RSS_HEADROOM_MB = 300.0
MiB = 1 << 20


def memory(pid: int | str = "self") -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of a process, in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


# -- the bystander ------------------------------------------------------------------------


class Observer:
    """A WebSocket client subscribed to everything, in a thread of its own, that applies
    every frame to a :class:`Mirror` (which refuses a delta that does not follow the last)
    and notes when each delta came."""

    def __init__(self, url: str, name: str = "observer") -> None:
        self.url = url
        self.name = name
        self.mirror = Mirror()
        self.deltas: list[tuple[float, int, list]] = []  # (monotonic time, seq, stale fields)
        self.events: list[p.AlarmEventInfo] = []
        self.closed: tuple[int | None, str] | None = None  # by the server: (code, reason)
        self.error: str | None = None
        self._stopping = False
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ws = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name=name, daemon=True)

    def start(self) -> Observer:
        self._thread.start()
        assert self._ready.wait(30), f"{self.name}: no snapshot within 30 s ({self.error or self.closed})"
        self.check()
        return self

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            async with websockets.connect(self.url, subprotocols=[p.SUBPROTOCOL], max_size=None, compression=None,
                                          proxy=None, open_timeout=20) as ws:
                self._ws = ws
                await ws.send(p.encode_client(p.Subscribe()))
                async for frame in ws:
                    message = self.mirror.apply(frame)
                    if isinstance(message, p.Snapshot):
                        self._ready.set()
                    elif isinstance(message, p.Delta):
                        with self._lock:
                            self.deltas.append((time.monotonic(), message.seq, [tuple(s) for s in message.stale]))
                            self.events.extend(message.events)
            if not self._stopping:
                self.closed = (ws.close_code, ws.close_reason or "")
        except websockets.ConnectionClosed as exc:
            if not self._stopping:
                self.closed = (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (None, "no close frame")
        except Exception as exc:  # a broken stream (a delta that does not follow) fails the test
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._ready.set()

    def count(self, since: float) -> int:
        with self._lock:
            return sum(1 for t, _, _ in self.deltas if t >= since)

    @property
    def seq(self) -> int:
        with self._lock:
            return self.deltas[-1][1] if self.deltas else -1

    def last_stale(self) -> list[tuple[str, str]]:
        with self._lock:
            return self.deltas[-1][2] if self.deltas else []

    def check(self) -> None:
        assert self.error is None, f"{self.name}: the stream broke: {self.error}"
        assert self.closed is None, f"{self.name}: the server closed it: {self.closed}"

    def wait_closed(self, timeout: float = 10.0) -> tuple[int | None, str]:
        return wait_for(lambda: self.closed, timeout, f"the server to close {self.name}")

    def stop(self) -> None:
        self._stopping = True
        if self._thread.is_alive() and self._loop is not None and self._ws is not None:
            with_timeout = asyncio.run_coroutine_threadsafe(self._ws.close(), self._loop)
            try:
                with_timeout.result(timeout=10)
            except Exception:
                pass  # the loop ended meanwhile: the connection is gone already
        self._thread.join(timeout=10)


# -- clients for the attacks ----------------------------------------------------------------


async def ws_connect(url: str, **kw):
    return await websockets.connect(url, subprotocols=[p.SUBPROTOCOL], max_size=None, compression=None, proxy=None,
                                    open_timeout=20, **kw)


async def read_until_closed(ws, timeout: float) -> tuple[int | None, str, list]:
    """Read (and keep) messages until the server closes: (code, reason, messages)."""
    messages = []
    try:
        async with asyncio.timeout(timeout):
            async for frame in ws:
                messages.append(p.decode_server(frame)[0])
    except websockets.ConnectionClosed as exc:
        return (exc.rcvd.code, exc.rcvd.reason, messages) if exc.rcvd is not None else (None, "no close frame", messages)
    except TimeoutError:
        return None, "still open", messages
    return ws.close_code, ws.close_reason or "", messages


def raw_post(port: int, path: str, headers: dict[str, str], parts) -> tuple[int, dict, int]:
    """POST over a bare socket, as an attacker's script would, sending the body piece by
    piece and stopping as soon as the server answers: (status, JSON answer, bytes sent)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        sock.sendall(head.encode() + b"\r\n")
        sent = 0
        try:
            for part in parts:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server answered (or hung up) before taking the rest
                sock.sendall(part)
                sent += len(part)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # it stopped reading: the answer is waiting
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _content_length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    assert head_bytes, f"POST {path}: no answer after {sent:,} bytes of body"
    return int(head_bytes.split()[1]), json.loads(body or b"{}"), sent


def raw_ws_frame(port: int, size: int) -> tuple[int | None, int]:
    """Open a WebSocket over a bare socket, send the header of one binary frame of
    ``size`` bytes, then its payload piece by piece until the server closes (so this
    client never holds the frame): (the server's close code, payload bytes sent)."""
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {p.SUBPROTOCOL}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, "the WebSocket handshake got no answer"
            data += chunk
        head, _, data = data.partition(b"\r\n\r\n")
        assert head.split()[1] == b"101", head
        mask = os.urandom(4)
        sock.sendall(bytes([0x82, 0x80 | 127]) + size.to_bytes(8, "big") + mask)  # FIN, binary, masked, 64-bit length
        piece = mask * 16384  # 64 KiB of zeros, masked
        sent, sending, code = 0, True, None
        while code is None:
            try:
                if select.select([sock], [], [], 0 if sending else 10)[0]:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data, code = _server_close(data + chunk)
                elif sending:
                    sock.sendall(piece[: size - sent])
                    sent += min(len(piece), size - sent)
                    sending = sent < size
                else:
                    break
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                if not sending:
                    break
                sending = False  # the server stopped reading: what it said is still to be read
    return code, sent


def _server_close(data: bytes) -> tuple[bytes, int | None]:
    """Drop the whole server frames at the start of ``data``; the close code if one of them is a close frame."""
    while len(data) >= 2:
        opcode, length, at = data[0] & 0x0F, data[1] & 0x7F, 2
        if length == 126:
            length, at = int.from_bytes(data[2:4], "big"), 4
        elif length == 127:
            length, at = int.from_bytes(data[2:10], "big"), 10
        if len(data) < at + length:
            break
        if opcode == 0x8:
            return b"", int.from_bytes(data[at : at + 2], "big")
        data = data[at + length :]
    return data, None


def _content_length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


# -- the twin under test ----------------------------------------------------------------------


class Twin:
    """The in-process demo server, an HTTP client, the bystander and the figures."""

    def __init__(self, server, url: str, data: Path) -> None:
        self.server = server
        self.url = url
        self.port = urlsplit(url).port
        self.ws_url = url.replace("http", "ws") + "/ws"
        self.data = data
        self.http = httpx.Client(base_url=url, timeout=30)
        self.observer: Observer | None = None
        self.rss0 = 0.0
        self.report: list[str] = []

    def health(self) -> tuple[int, dict]:
        r = self.http.get("/api/health")
        return r.status_code, r.json()

    def alarms(self) -> list[dict]:
        r = self.http.get("/api/alarms")
        assert r.status_code == 200, r.text
        return r.json()["alarms"]

    def raised(self, domain: str | None = None, exclude: tuple[int, ...] = (), spare: str | None = "gas") -> dict:
        """An open alarm no operator has touched (a plugin's, not the platform's): of
        ``domain`` if given, else of any domain but ``spare`` (the gas alarms are kept
        untouched for the NaN trigger)."""
        def find():
            for a in self.alarms():
                if a["state"] != "raised" or a["domain"] == "system" or a["id"] in exclude:
                    continue
                if a["domain"] == domain or (domain is None and a["domain"] != spare):
                    return a
            return None
        return wait_for(find, 60, f"a raised {domain or 'non-' + str(spare)} alarm")

    def still_alive(self, step: str, quarantined: tuple[str, ...] = (), degraded: tuple[str, ...] = (),
                    check_status: bool = True) -> dict:
        """The invariants after a trigger: over WINDOW seconds the seq advances and the
        bystander gets a frame a tick (at least RATE_SHARE of them), health answers
        with exactly the problems expected, and memory stays bounded."""
        assert self.observer is not None
        start = time.monotonic()
        seq0 = self.health()[1]["seq"]
        time.sleep(WINDOW)
        status, body = self.health()
        elapsed = time.monotonic() - start
        frames = self.observer.count(start)
        self.observer.check()
        expected = SPEED * elapsed
        assert body["seq"] - seq0 >= RATE_SHARE * expected, (
            f"{step}: the tick went from seq {seq0} to {body['seq']} in {elapsed:.1f} s; about {expected:.0f} ticks were due; "
            f"health: {body.get('detail')}")
        assert frames >= RATE_SHARE * expected, f"{step}: the bystander got {frames} frames in {elapsed:.1f} s; about {expected:.0f} were due"
        # the last tick ended a moment ago: a few tick intervals, with room for a busy machine
        assert body["last_tick_age"] is not None and body["last_tick_age"] < 5 / SPEED + 1, (step, body)
        self.check_health(step, status, body, quarantined, degraded, check_status)
        mem = memory()
        assert mem["VmRSS"] - self.rss0 < RSS_HEADROOM_MB, f"{step}: RSS grew from {self.rss0:.0f} to {mem['VmRSS']:.0f} MB"
        self.report.append(f"{step}: seq {seq0} -> {body['seq']} in {elapsed:.1f} s, {frames} frames to the bystander "
                           f"(~{expected:.0f} ticks due); health {status} {body.get('detail', body['status'])!r}; "
                           f"RSS {mem['VmRSS']:.0f} MB (peak {mem['VmHWM']:.0f}, start {self.rss0:.0f})")
        return body

    @staticmethod
    def check_health(step: str, status: int, body: dict, quarantined=(), degraded=(), check_status=True) -> None:
        """Health names exactly the problems there are: the quarantined plugins and the
        parts not ok, and answers 503 while there is any."""
        assert {n for n, s in body["plugins"].items() if s != "active"} == set(quarantined), (step, body["plugins"])
        assert {n for n, s in body["subsystems"].items() if s["state"] != "ok"} == set(degraded), (step, body["subsystems"])
        for name in quarantined:
            assert f"plugin {name} quarantined" in body.get("detail", ""), (step, body.get("detail"))
        for name in degraded:
            assert f"{name} {body['subsystems'][name]['state']}" in body.get("detail", ""), (step, body.get("detail"))
        if check_status:
            if quarantined or degraded:
                assert status == 503 and body["status"] != "ok", (step, status, body)
            else:
                assert status == 200 and body["status"] == "ok", (step, status, body)

    def snapshot_bytes(self) -> int:
        """Size of the snapshot a newly connected screen gets."""
        async def main():
            ws = await ws_connect(self.ws_url)
            try:
                await ws.send(p.encode_client(p.Subscribe()))
                async with asyncio.timeout(20):
                    while True:
                        frame = await ws.recv()
                        if isinstance(p.decode_server(frame)[0], p.Snapshot):
                            return len(frame)
            finally:
                await ws.close()
        return asyncio.run(main())


@pytest.fixture
def demo_scene(tmp_path) -> Path:
    """A copy of the demo scene: its data files are generated on first load, into the copy."""
    target = tmp_path / "demo"
    target.mkdir()
    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", target / "scene.toml")
    return target


# -- the test ---------------------------------------------------------------------------------


@pytest.mark.slow  # the demo district for a minute or two, and a second server
def test_the_demo_takes_every_trigger_and_ticks_on_telling_the_truth(tmp_path, demo_scene):
    from twin.runtime import open_twin

    spin, block, release = threading.Event(), threading.Event(), threading.Event()
    data = tmp_path / "data"
    modules = [chaosplugins.spinning(spin), chaosplugins.blocked(block, release), chaosplugins.nan_risk()]
    server = create_app(lambda: open_twin(demo_scene, data, modules=modules), speed=SPEED, data_dir=data, bound_host="127.0.0.1")
    server.plugin_deadline = PLUGIN_DEADLINE
    with running(server.app) as url:
        twin = Twin(server, url, data)
        try:
            body = wait_healthy(twin.http, 120)
            assert set(body["plugins"]) >= {"gas", "drainage", "bridge", "tunnel", "chaos_spin", "chaos_block", "chaos_nan"}
            twin.observer = Observer(twin.ws_url, "bystander").start()
            twin.rss0 = memory()["VmRSS"]
            twin.still_alive("baseline")

            cross_site(twin)
            rebinding(twin)
            subscribe_burst(twin)
            lone_surrogate(twin)
            oversized_and_nested(twin)
            store_locked(twin)
            full_disk(tmp_path, demo_scene, twin.report)
            nan_kernel(twin)
            hanging_plugins(twin, spin, block)
            revocation(twin)

            peak = memory()["VmHWM"]
            assert peak - twin.rss0 < RSS_HEADROOM_MB, f"memory peaked at {peak:.0f} MB from {twin.rss0:.0f} MB at the start"
            twin.report.append(f"end: RSS peak {peak:.0f} MB against {twin.rss0:.0f} MB at the start")
        finally:
            spin.clear()
            release.set()  # the abandoned tick thread returns and ends quietly
            if twin.observer is not None:
                twin.observer.stop()
            twin.http.close()
            print("\n".join(["", "chaos, per trigger:", *twin.report]))


# -- the triggers ------------------------------------------------------------------------------


def cross_site(twin: Twin) -> None:
    """A web page the operator visits forges an acknowledgement and injects an incident."""
    alarm = twin.raised()
    actions_before = len(twin.server.engine.actions)
    path = f"/api/alarms/{alarm['id']}/ack"
    forged = twin.http.post(path, content=b'{"who": "chief", "note": "all fine"}', headers={"Content-Type": "text/plain"})
    assert forged.status_code == 415, forged.text
    evil = twin.http.post(path, json={"who": "chief"}, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403 and "evil.example" in evil.json()["error"], evil.text
    fetched = twin.http.post(path, json={"who": "chief"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert fetched.status_code == 403, fetched.text
    injected = twin.http.post("/api/actions", content=b"action=gas.leak&target=G-M-0001",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert injected.status_code == 415, injected.text
    after = twin.http.get(f"/api/alarms/{alarm['id']}").json()["alarm"]
    assert after["state"] == "raised" and after["actions"] == [], after
    assert len(twin.server.engine.actions) == actions_before
    twin.still_alive("cross-site requests (415, 403, 403, 415; nothing acted)")


def rebinding(twin: Twin) -> None:
    """A DNS-rebinding page reaches the loopback server under its own name."""
    r = twin.http.get("/api/scene", headers={"Host": f"evil.example:{twin.port}"})
    assert r.status_code == 421 and "evil.example" in r.json()["error"], r.text

    async def main():
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(f"ws://evil.example:{twin.port}/ws", host="127.0.0.1", port=twin.port,
                                     origin=f"http://evil.example:{twin.port}", subprotocols=[p.SUBPROTOCOL], proxy=None)
        return refused.value.response.status_code

    assert asyncio.run(main()) == 403  # no Hello as admin
    twin.still_alive("DNS rebinding (HTTP 421, WebSocket handshake 403)")


def subscribe_burst(twin: Twin) -> None:
    """10,000 subscribes (200 KB) from one client that reads nothing."""
    one = msgspec.msgpack.encode({"type": "subscribe"})
    message = len(one).to_bytes(4, "little") + one
    assert len(message) == 20

    async def main():
        ws = await ws_connect(twin.ws_url)
        try:
            for _ in range(10_000):
                await ws.send(message)
            # It may be cut off for leaving its answers unread (1008), or be served; either way
            # what matters is the others (still_alive).
            code, reason, _ = await read_until_closed(ws, 3.0)
            return code, reason
        finally:
            await ws.close()

    code, reason = asyncio.run(main())
    assert code in (None, 1000, 1008), (code, reason)  # never 1011: serving it must not fail
    twin.still_alive(f"subscribe burst (10,000 messages; the burster {'closed ' + str(code) if code else 'kept'})")


def lone_surrogate(twin: Twin) -> None:
    """An operator note holding a lone surrogate, over HTTP and over the WebSocket."""
    alarm = twin.raised()
    r = twin.http.post(f"/api/alarms/{alarm['id']}/ack", content=b'{"note": "\\ud800"}', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "Unicode" in r.json()["error"], r.text
    # msgpack carries the surrogate as the three bytes UTF-8 would give it (not valid UTF-8)
    frame = p.encode_client(p.AlarmAction(1, alarm["id"], "acknowledge", note="@@@")).replace(b"@@@", "\ud800".encode("utf-8", "surrogatepass"))

    async def main():
        ws = await ws_connect(twin.ws_url)
        try:
            await ws.send(frame)
            async with asyncio.timeout(10):
                while True:
                    message = p.decode_server(await ws.recv())[0]
                    if isinstance(message, (p.Error, p.Result)):
                        return message
        finally:
            await ws.close()

    answer = asyncio.run(main())
    assert isinstance(answer, p.Error) and "UTF-8" in answer.message, answer
    after = twin.http.get(f"/api/alarms/{alarm['id']}").json()["alarm"]
    assert after["state"] == "raised" and after["actions"] == [], after
    twin.still_alive("lone surrogate note (HTTP 400, WebSocket error 'malformed'; the alarm untouched)")


def oversized_and_nested(twin: Twin) -> None:
    """A 200 MB note (declared and streamed), JSON nested 5000 deep on every mutating
    route, a body that is not an object, a note past its limit, 16 MiB WebSocket frames,
    and an alarm's notes up to the most it keeps: none is buffered whole, none answers
    5xx, and what the stream carries does not grow with the notes."""
    alarm = twin.raised()
    path = f"/api/alarms/{alarm['id']}/ack"
    piece = b"x" * 65536
    pieces = 200 * MiB // len(piece)

    declared = (piece for _ in range(pieces))
    status, answer, sent = raw_post(twin.port, path, {"Content-Type": "application/json", "Content-Length": str(200 * MiB)},
                                    declared)
    assert status == 413, (status, answer)
    chunked = (f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for _ in range(pieces))
    status, answer, streamed = raw_post(twin.port, path, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                                        chunked)
    assert status == 413, (status, answer)
    assert streamed < 100 * MiB, f"the server read {streamed:,} bytes of a streamed body before refusing it"

    deep = b"[" * 5000 + b"]" * 5000
    for route in (path, "/api/actions", "/api/replay", f"/api/alarms/{alarm['id']}/resolve"):
        r = twin.http.post(route, content=deep, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "nests deeper" in r.json()["error"], (route, r.status_code, r.text[:200])
    r = twin.http.post("/api/replay", json=["open"])
    assert r.status_code == 400 and "JSON object" in r.json()["error"], r.text
    r = twin.http.post(path, json={"note": "x" * 5000})
    assert r.status_code == 413, r.text

    for _ in range(3):
        code, frame_sent = raw_ws_frame(twin.port, 16 * MiB)
        assert code == 1009 and frame_sent < 16 * MiB, f"a 16 MiB frame: close code {code} after {frame_sent:,} bytes of its payload"

    # The notes of one alarm, up to the most it keeps: the stream carries summaries.
    before = twin.snapshot_bytes()
    events_before = len(twin.observer.events)
    flooded = twin.raised(exclude=(alarm["id"],))
    note = "n" * 4000
    r = twin.http.post(f"/api/alarms/{flooded['id']}/ack", json={"note": note})
    assert r.status_code == 200, r.text
    taken = 1
    while True:
        r = twin.http.post(f"/api/alarms/{flooded['id']}/dispatch", json={"note": note, "unit": "crew 7"})
        if r.status_code != 200:
            break
        taken += 1
        assert taken <= 1000, "an alarm keeps any number of notes"
    assert r.status_code in (400, 413) and "actions" in r.json()["error"], r.text
    after = twin.snapshot_bytes()
    assert after - before < 64 * 1024, f"{taken} notes of 4000 characters grew a snapshot from {before:,} to {after:,} bytes"
    wait_for(lambda: any(e.alarm["id"] == flooded["id"] and e.kind == "dispatch" for e in twin.observer.events[events_before:]),
             10, "the dispatch events on the stream")
    largest = max(len(msgspec.json.encode(e.alarm)) for e in twin.observer.events[events_before:])
    assert largest < 64 * 1024, f"an event's alarm record is {largest:,} bytes: it carries the notes"
    twin.still_alive(f"oversized and nested bodies (413 at {sent:,} bytes declared / {streamed:,} streamed of 200 MB; "
                     f"400 for nesting; 1009 after {frame_sent:,} bytes of a 16 MiB frame; {taken} notes, snapshot {before:,} -> {after:,} bytes)")


def store_locked(twin: Twin) -> None:
    """Another process holds a write lock on alarms.sqlite for 5 s."""
    alarm = twin.raised()
    with sqlite_locked(twin.data / "alarms.sqlite", 5):
        locked_at = time.monotonic()
        seq0 = twin.health()[1]["seq"]
        r = twin.http.post(f"/api/alarms/{alarm['id']}/ack", json={"note": "seen"})
        assert r.status_code == 503 and r.headers.get("retry-after") == "1", r.text
        status, body = wait_for(lambda: (lambda h: h if h[0] == 503 else None)(twin.health()), 5, "health 503 while locked")
        twin.check_health("store locked", status, body, degraded=("alarm_store",))
        assert "locked" in body["detail"], body["detail"]
        wait_for(lambda: time.monotonic() - locked_at > 4.0, 10)
        status, body = twin.health()
        assert status == 503, body
        during = time.monotonic() - locked_at
        frames = twin.observer.count(locked_at)
        twin.observer.check()
        assert body["seq"] - seq0 >= RATE_SHARE * SPEED * during, f"while locked the tick went from {seq0} to {body['seq']} in {during:.1f} s"
        assert frames >= RATE_SHARE * SPEED * during, f"while locked the bystander got {frames} frames in {during:.1f} s"
        twin.report.append(f"store locked, during the lock: seq {seq0} -> {body['seq']} in {during:.1f} s, {frames} frames; "
                           f"ack 503 Retry-After 1; health 503 {body['detail']!r}")
    wait_for(lambda: twin.health()[0] == 200, 30, "health 200 again once the lock is released")
    r = twin.http.post(f"/api/alarms/{alarm['id']}/ack", json={"note": "seen"})
    assert r.status_code == 200 and r.json()["alarm"]["state"] == "acknowledged", r.text
    store = [a for a in twin.http.get("/api/alarms", params={"domain": "system"}).json()["alarms"] if a["rule"] == "system.alarm_store"]
    assert store and store[0]["peak_level"] >= 3 and store[0]["level"] == 0, store
    twin.still_alive("store locked, after the lock")


def nan_kernel(twin: Twin) -> None:
    """A plugin's kernel gives NaN risk on a gas space in alarm."""
    engine = twin.server.engine
    alarm = twin.raised("gas")
    table, row = engine.world.locate(alarm["asset"])
    level = alarm["level"]
    table["vent_diameter"][row] = chaosplugins.NAN_MARK
    try:
        system = wait_for(lambda: [a for a in twin.alarms() if a["rule"] == "system.nonfinite" and "chaos_nan" in a["asset"]],
                          10, "the system alarm on the NaN")[0]
        assert system["level"] == 3 and alarm["asset"] in system["title"], system
        wait_for(lambda: ("gas", "risk") in twin.observer.last_stale(), 10, "gas risk marked stale on the stream")
        # Health stays 200: the twin ticks and every part works; what is wrong is told by
        # the system alarm and the stale field (the NaN plugin scores the other rows on).
        body = twin.still_alive("NaN risk on a gas space in alarm", check_status=False)
        assert body["plugins"]["chaos_nan"] == "active"
        kept = twin.http.get(f"/api/alarms/{alarm['id']}").json()["alarm"]
        assert kept["state"] == "raised" and kept["level"] >= level > 0, (level, kept)
        risk = twin.observer.mirror.tables["gas"]["risk"].copy()
        assert np.isfinite(risk).all() and risk[row] > 0, "NaN reached the stream, or the risk read as none"
    finally:
        table["vent_diameter"][row] = 0.05
    wait_for(lambda: ("gas", "risk") not in twin.observer.last_stale(), 10, "the stale mark to go with the NaN")
    wait_for(lambda: [a for a in twin.http.get("/api/alarms", params={"domain": "system"}).json()["alarms"]
                      if a["rule"] == "system.nonfinite" and a["level"] == 0], 10, "the NaN alarm to clear")
    twin.still_alive("NaN over")


def hanging_plugins(twin: Twin, spin: threading.Event, block: threading.Event) -> None:
    """A plugin's updater loops for ever in Python; then another's blocks in C."""
    spin.set()
    wait_for(lambda: twin.health()[1]["plugins"]["chaos_spin"] == "quarantined", 30, "the spinning plugin's quarantine")
    body = twin.still_alive("plugin looping for ever", quarantined=("chaos_spin",))
    assert f"deadline of {PLUGIN_DEADLINE:g} s" in body["detail"], body["detail"]
    assert any(a["rule"] == "system.plugin_quarantined" and a["asset"] == "plugin:chaos_spin" for a in twin.alarms())

    block.set()
    wait_for(lambda: twin.health()[1]["plugins"]["chaos_block"] == "quarantined", 30, "the blocked plugin's quarantine")
    # Its tick cannot be interrupted: it is abandoned a little later, and the next runs in a new thread.
    wait_for(lambda: "did not return" in (twin.health()[1]["last_tick_error"] or ""), 30, "the stuck tick to be abandoned")
    body = twin.still_alive("plugin blocked in C", quarantined=("chaos_spin", "chaos_block"))
    assert any(a["rule"] == "system.plugin_quarantined" and a["asset"] == "plugin:chaos_block" for a in twin.alarms())


def revocation(twin: Twin) -> None:
    """The first tokens lock the running server into tokens mode; a token revoked under
    an open WebSocket closes it (4401), and the others keep their frames."""
    store = TokenStore(twin.data)
    _, admin = store.add("admin", "root")
    _, viewer = store.add("viewer", "wall")
    _, operator = store.add("operator", "desk-1")
    _, doomed = store.add("operator", "desk-2")
    # The anonymous bystander came in while the server was open: it is shown out.
    code, reason = twin.observer.wait_closed()
    assert code == 4401, (code, reason)
    assert twin.http.get("/api/alarms").status_code == 401
    twin.http.headers["Authorization"] = f"Bearer {admin}"
    twin.observer = Observer(f"{twin.ws_url}?token={viewer}", "bystander (viewer token)").start()

    async def main():
        ws = await ws_connect(f"{twin.ws_url}?token={doomed}")
        try:
            hello = p.decode_server(await ws.recv())[0]
            assert isinstance(hello, p.Hello) and hello.role == "operator"
            await ws.send(p.encode_client(p.Subscribe()))
            await asyncio.sleep(1.0)
            revoked_at = time.monotonic()
            await asyncio.to_thread(TokenStore(twin.data).revoke, "desk-2")
            code, reason, _ = await read_until_closed(ws, 10.0)
            return code, reason, time.monotonic() - revoked_at
        finally:
            await ws.close()

    code, reason, after = asyncio.run(main())
    assert code == 4401 and "revoked" in reason, (code, reason)
    headers = {"Authorization": f"Bearer {doomed}"}
    assert twin.http.get("/api/alarms", headers=headers).status_code == 401
    assert twin.http.get("/api/alarms", headers={"Authorization": f"Bearer {operator}"}).status_code == 200
    twin.still_alive(f"token revoked under an open WebSocket (4401 after {after:.1f} s)", quarantined=("chaos_spin", "chaos_block"))

    # Revoking every token leaves the folder in tokens mode: nobody gets in, and nobody is admin.
    for name in ("root", "desk-1"):
        store.revoke(name)
    assert twin.http.get("/api/alarms", headers={"Authorization": f"Bearer {admin}"}).status_code == 401
    twin.http.headers["Authorization"] = f"Bearer {viewer}"
    assert twin.http.post(f"/api/alarms/{twin.raised()['id']}/ack", json={}).status_code == 403
    twin.still_alive("all tokens but a viewer's revoked", quarantined=("chaos_spin", "chaos_block"))
    store.revoke("wall")  # the last one: the bystander is shown out, and the server stays closed
    code, reason = twin.observer.wait_closed()
    assert code == 4401 and "revoked" in reason, (code, reason)
    assert twin.http.get("/api/alarms").status_code == 401
    del twin.http.headers["Authorization"]
    assert twin.http.get("/api/alarms").status_code == 401
    status, body = twin.health()
    twin.check_health("every token revoked", status, body, quarantined=("chaos_spin", "chaos_block"))


# -- the recorder's full disk: a second server -------------------------------------------------


@contextmanager
def small_filesystem(where: Path):
    """A 16 MB tmpfs at ``where`` when this process may mount one (root), else None: the
    caller then limits the file size (RLIMIT_FSIZE) instead."""
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "chaos", str(where)],
                             capture_output=True, text=True).returncode == 0 if shutil.which("mount") else False
    try:
        yield where if mounted else None
    finally:
        if mounted:
            if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", str(where)], capture_output=True)


#: runs `twin serve` with every file it writes limited to argv[1] bytes, and the signal
#: that would kill it for a write past that ignored (the write fails with EFBIG instead)
FSIZE_LAUNCHER = """
import resource, runpy, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
sys.argv = ["twin", *sys.argv[2:]]
runpy.run_module("twin.cli", run_name="__main__")
"""


def full_disk(tmp_path: Path, scene: Path, report: list[str]) -> None:
    """`twin serve --record` onto a file system that fills up while it records."""
    port = free_port()
    with small_filesystem(tmp_path / "small") as mount:
        target = (mount or tmp_path) / "run.mcap"
        args = ["serve", str(scene), "--record", str(target), "--speed", str(SPEED), "--port", str(port), "--data", str(tmp_path / "rec-data")]
        # without a tmpfs: about 4 MB of recording (a dozen seconds of the demo at this speed)
        command = [sys.executable, "-m", "twin.cli", *args] if mount else [sys.executable, "-c", FSIZE_LAUNCHER, str(4 * MiB), *args]
        log = (tmp_path / "rec-serve.log").open("w")
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        observer = None
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                def health():
                    assert proc.poll() is None, f"twin serve exited {proc.returncode}: {(tmp_path / 'rec-serve.log').read_text()[-2000:]}"
                    try:
                        r = http.get("/api/health")
                    except httpx.TransportError:
                        return 0, {}
                    return r.status_code, r.json()

                body = wait_healthy(http, 120, process=proc, log=tmp_path / "rec-serve.log")
                assert body["subsystems"]["recorder"]["state"] == "ok", body
                observer = Observer(f"ws://127.0.0.1:{port}/ws", "bystander of the recording server").start()
                rss0 = memory(proc.pid)["VmRSS"]
                filled = 0
                if mount is not None:
                    with (mount / "filler").open("wb") as filler:
                        try:
                            while True:
                                filler.write(b"\0" * MiB)
                                filler.flush()
                                filled += MiB
                        except OSError as exc:
                            assert exc.errno == errno.ENOSPC, exc
                why = "No space left on device" if mount is not None else "File too large"
                full_at = time.monotonic()
                status, body = wait_for(lambda: (lambda h: h if h[1].get("subsystems", {}).get("recorder", {}).get("state") == "failed"
                                                 else None)(health()), 60, "the recorder to fail")
                waited = time.monotonic() - full_at
                Twin.check_health("disk full", status, body, degraded=("recorder",))
                assert why in body["subsystems"]["recorder"]["reason"] and str(target) in body["detail"], body
                seq0, start = body["seq"], time.monotonic()
                time.sleep(WINDOW)
                status, body = health()
                elapsed = time.monotonic() - start
                frames = observer.count(start)
                observer.check()
                assert body["seq"] - seq0 >= RATE_SHARE * SPEED * elapsed, (seq0, body)
                assert frames >= RATE_SHARE * SPEED * elapsed, f"the bystander got {frames} frames in {elapsed:.1f} s"
                Twin.check_health("disk full", status, body, degraded=("recorder",))
                alarms = http.get("/api/alarms", params={"domain": "system"}).json()["alarms"]
                recorder_alarm = [a for a in alarms if a["rule"] == "system.recorder"]
                assert recorder_alarm and recorder_alarm[0]["level"] == 3, alarms
                mem = memory(proc.pid)
                assert mem["VmHWM"] - rss0 < RSS_HEADROOM_MB, mem
                from twin.runs.recording import info

                kept = info(target)  # readable up to the last whole chunk before the disk filled
                assert not kept.complete and kept.end > kept.start and kept.counts["/frame/delta"] > 0, kept
                report.append(f"recording onto a full disk ({'tmpfs filled with ' + str(filled // MiB) + ' MB' if mount else 'RLIMIT_FSIZE 4 MB'}): "
                              f"health said so {waited:.1f} s later; seq {seq0} -> {body['seq']} in {elapsed:.1f} s, "
                              f"{frames} frames; health {status} {body['detail']!r}; the file holds {kept.start:.0f}-{kept.end:.0f} s; "
                              f"server RSS {mem['VmRSS']:.0f} MB (peak {mem['VmHWM']:.0f}, start {rss0:.0f})")
        finally:
            if observer is not None:
                observer.stop()
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
