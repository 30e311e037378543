"""The client process of ``bench/stream.py``: real WebSocket clients (``websockets``).

All clients of a phase run in one process (the server has the other core), each its own
connection and task. A client stamps every message with ``time.monotonic()`` the moment
``recv()`` returns it and keeps, for the messages received inside the measured window,
``(seq, base, t, bytes, payload)``: ``payload`` is the raw index-plus-value bytes of a
Delta (the sum over its fields of rows x 4 + values x itemsize), read from the header.

In the full-speed phases the clients must not be the limit, so each is leaner: the
``websockets`` library's sans-I/O ``ClientProtocol`` on a plain asyncio protocol (the
same parser and handshake without the per-message futures and queues of its asyncio
API), counting the bytes of the data frames received inside the window.

A slow client reads one message, then sleeps ``slow_sleep`` seconds, on a socket with an
8 KiB receive buffer and a library queue of one message: the kernel buffers fill and the
server's sends to it block, as on a slow link.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from typing import Any

import numpy as np

SEQ = re.compile(rb'\{"seq": (\d+)')


def _payload_bytes(message: Any, itemsize: dict[str, int]) -> int:
    total = 0
    for fields in message.domains.values():
        for change in fields.values():
            for ref in (change.rows, change.values):
                size = itemsize.get(ref.dtype)
                if size is None:
                    size = itemsize[ref.dtype] = np.dtype(ref.dtype).itemsize
                total += ref.count * size
    return total


async def _client(kind: str, url: str, slow: bool, t0: float, t1: float, t_end: float, slow_sleep: float) -> dict[str, Any]:
    import websockets

    from twin.serving import protocol as p

    kw: dict[str, Any] = {"max_size": None, "compression": None, "open_timeout": 60, "ping_interval": None, "close_timeout": 1}
    if kind in ("ours", "ours_max"):
        kw["subprotocols"] = [p.SUBPROTOCOL]
    if slow:
        host, port = url.split("//")[1].split("/")[0].split(":")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        sock.connect((host, int(port)))
        sock.setblocking(False)
        kw.update(sock=sock, max_queue=1)
    ws = await websockets.connect(url, **kw)
    if kind in ("ours", "ours_max"):
        await ws.send(p.encode_client(p.Subscribe()))
    records: list[tuple[int, int, float, int, int]] = []
    itemsize: dict[str, int] = {}
    total_bytes = 0
    closed = None
    try:
        async with asyncio.timeout_at(t_end):
            while True:
                data = await ws.recv(decode=False)
                t = time.monotonic()
                if t0 <= t <= t1:
                    total_bytes += len(data)
                    if kind == "ours":
                        message, _ = p.decode_server(data)
                        if isinstance(message, p.Delta):
                            records.append((message.seq, message.base, t, len(data), _payload_bytes(message, itemsize)))
                    elif kind == "baseline":
                        m = SEQ.match(data, 0, 40)
                        if m:
                            seq = int(m.group(1))
                            records.append((seq, seq - 1, t, len(data), 0))
                if slow:
                    await asyncio.sleep(slow_sleep)
    except TimeoutError:
        pass
    except websockets.ConnectionClosed as exc:
        closed = (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (1006, "no close frame")
    finally:
        ws.transport.abort()
    return {"slow": slow, "records": records, "bytes": total_bytes, "closed": closed}


class _LeanClient(asyncio.Protocol):
    """A WebSocket client that counts what it receives in [t0, t1]."""

    def __init__(self, url: str, subscribe: bytes | None, t0: float, t1: float) -> None:
        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri

        self.proto = ClientProtocol(parse_uri(url), subprotocols=["lifeline-twin.v1"] if subscribe else None, max_size=None)
        self.subscribe = subscribe
        self.t0, self.t1 = t0, t1
        self.bytes = 0
        self.frames = 0
        self.open = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.proto.send_request(self.proto.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        from websockets.frames import Frame

        self.proto.receive_data(data)
        t = time.monotonic()
        for event in self.proto.events_received():
            if isinstance(event, Frame):
                if self.t0 <= t <= self.t1:
                    self.bytes += len(event.data)
                    self.frames += event.fin
            elif not self.open.done():  # the handshake's response
                if self.subscribe:
                    self.proto.send_binary(self.subscribe)
                self.open.set_result(None)
        self._flush()

    def _flush(self) -> None:
        for data in self.proto.data_to_send():
            if data:
                self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.open.done():
            self.open.set_exception(ConnectionError(f"lost before the handshake: {exc}"))


async def _lean_phase(kind: str, url: str, n: int, t0: float, t1: float, t_end: float) -> list[dict[str, Any]]:
    from twin.serving import protocol as p

    loop = asyncio.get_running_loop()
    host, port = url.split("//")[1].split("/")[0].split(":")
    subscribe = p.encode_client(p.Subscribe()) if kind == "ours_max" else None
    clients = []
    for _ in range(n):
        _, client = await loop.create_connection(lambda: _LeanClient(url, subscribe, t0, t1), host, int(port))
        clients.append(client)
    await asyncio.gather(*(c.open for c in clients))
    cpu = _cpu_window(t0, t1)
    await asyncio.sleep(max(0.0, t_end - time.monotonic()))
    for c in clients:
        c.transport.abort()
    cpu.join()
    return [{"slow": False, "records": [], "bytes": c.bytes, "frames": c.frames, "closed": None, "cpu": cpu.result} for c in clients]


class _cpu_window:
    """This process's CPU seconds over [t0, t1], sampled from a thread (the loop may be busy)."""

    def __init__(self, t0: float, t1: float) -> None:
        import threading

        self.result = float("nan")
        self.thread = threading.Thread(target=self._run, args=(t0, t1), daemon=True)
        self.thread.start()

    def _run(self, t0: float, t1: float) -> None:
        time.sleep(max(0.0, t0 - time.monotonic()))
        c0, w0 = time.process_time(), time.monotonic()
        time.sleep(max(0.0, t1 - time.monotonic()))
        self.result = (time.process_time() - c0) / (time.monotonic() - w0)

    def join(self) -> None:
        self.thread.join()


async def _phase(kind: str, url: str, fast: int, slow: int, t0: float, t1: float, t_end: float, slow_sleep: float) -> list[dict[str, Any]]:
    n = fast + slow
    if kind in ("ours_max", "raw"):
        return await _lean_phase(kind, url, n, t0, t1, t_end)
    # spread the slow ones among the fast ones
    slow_at = {round((i + 0.5) * n / slow) for i in range(slow)} if slow else set()
    return list(await asyncio.gather(*(_client(kind, url, i in slow_at, t0, t1, t_end, slow_sleep) for i in range(n))))


def client_process(conn: Any) -> None:
    while True:
        cmd = conn.recv()
        if cmd is None:
            return
        try:
            conn.send(("results", asyncio.run(_phase(**cmd))))
        except BaseException:
            import traceback

            conn.send(("failed", traceback.format_exc()))
