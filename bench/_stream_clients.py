"""The client processes of ``bench/stream.py``: lean WebSocket readers, several processes.

A wall of hundreds of screens is hundreds of connections; the machine that measures them
also runs the server, so the readers must cost as little as possible and must not queue
each other's frames: the clients of a phase are spread over ``procs`` processes (each
its own event loop), and each client is a plain asyncio protocol with a hand-written
RFC 6455 reader (server frames are unmasked; only binary, text, ping and close occur)
and a hand-written handshake, instead of a WebSocket library's per-message futures and
queues. A client stamps a message with ``time.monotonic()`` (CLOCK_MONOTONIC, one clock
for every process of the machine) the moment its last byte is parsed, before anything
else is done with it, and keeps for the messages received inside the measured window
``(seq, base, t, bytes, payload)``: ``payload`` is the raw index-plus-value bytes of a
Delta (the sum over its fields of rows x 4 + values x itemsize), read from its header.

Fast clients check that each delta follows the last (``base`` equals the previous
``seq``). Slow clients read one message, then stop reading their socket
(``pause_reading``) for ``slow_sleep`` seconds, on an 8 KiB receive buffer: the kernel's
buffers fill and the server sees it, as on a slow link. They keep a real mirror of the
state (``twin.serving.client.Mirror``, which refuses a delta that does not follow) and
report its digest at the end, when the server has stopped ticking, so that the parent
can say whether they converged on the server's state.

With ``confirm`` the clients send a ``Confirm`` after each Snapshot or Delta they
applied (a slow one before its pause: it has applied it), the protocol's way to let the
server measure a client's lag in frames whatever the sockets' buffers hold.

In the full-speed phases the clients count the bytes and messages received in the window.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import re
import socket
import struct
import time
from typing import Any

import numpy as np

SEQ = re.compile(rb'\{"seq": (\d+)')


def digest(tables: dict[str, dict[str, np.ndarray]]) -> str:
    """A digest of a state's columns (bool as uint8), the same on the server and a mirror."""
    h = hashlib.sha1()
    for d in sorted(tables):
        for f in sorted(tables[d]):
            a = tables[d][f]
            if a.dtype == np.bool_:
                a = a.view(np.uint8)
            h.update(f"{d}.{f}:{a.dtype.str}:".encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _masked(opcode: int, payload: bytes) -> bytes:
    """A client frame (clients must mask): FIN, ``opcode``, the mask 0 (a valid frame;
    a browser draws a random mask to protect proxies, which loopback has none of, and
    XOR-ing each confirm would cost these readers more than it tells)."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + b"\0\0\0\0" + payload


class Reader(asyncio.Protocol):
    """One WebSocket client: handshake, then whole messages to ``on_message``."""

    def __init__(self, host: str, port: int, path: str, subprotocol: str | None, client: Lean) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if subprotocol:
            lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self.client = client
        self.buf = bytearray()
        self.open = False
        self.parts: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.opened = asyncio.get_running_loop().create_future()
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.open:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buf[:end]).split(b"\r\n", 1)[0]
            del self.buf[:end + 4]
            if b" 101 " not in status + b" ":
                self.opened.set_exception(ConnectionError(f"handshake refused: {status.decode(errors='replace')}"))
                return
            self.open = True
            self.opened.set_result(None)
        self._parse()

    def _parse(self) -> None:
        buf = self.buf
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            n = b1 & 0x7F
            at = 2
            if n == 126:
                if len(buf) < 4:
                    return
                n = struct.unpack_from("!H", buf, 2)[0]
                at = 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n = struct.unpack_from("!Q", buf, 2)[0]
                at = 10
            if len(buf) < at + n:
                return
            t = time.monotonic()
            payload = bytes(buf[at:at + n])
            del buf[:at + n]
            opcode = b0 & 0x0F
            if opcode in (1, 2, 0):
                self.parts.append(payload)
                if b0 & 0x80:
                    message = self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)
                    self.parts = []
                    if self.client.slow:
                        self.client.on_message(message, t)
                        if self.client.paused:  # a slow reader stops after one message
                            return
                    else:
                        # Stamped now; decoded (and confirmed) once every socket ready in
                        # this turn of the loop has been read and stamped, so that one
                        # client's decoding does not delay the next one's stamp.
                        asyncio.get_running_loop().call_soon(self.client.on_message, message, t)
            elif opcode == 9:  # ping: pong with the same payload
                self.send(0xA, payload)
            elif opcode == 8:
                code = struct.unpack_from("!H", payload, 0)[0] if len(payload) >= 2 else 1005
                self.client.closed = (code, payload[2:].decode(errors="replace"))
                self.send(0x8, payload[:2])
                if self.transport is not None:
                    self.transport.close()
                return

    def resume(self) -> None:
        """Take up reading after a pause: what was read already, then the socket."""
        self._parse()
        if not self.client.paused and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def send(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_masked(opcode, payload))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"lost before the handshake: {exc}"))
        if self.client.closed is None:
            self.client.closed = (1006, "no close frame")
        if not self.lost.done():
            self.lost.set_result(None)


class Lean:
    """What one client does with each message of a phase."""

    def __init__(self, kind: str, slow: bool, t0: float, t1: float, slow_sleep: float, confirm: bool) -> None:
        self.kind, self.slow, self.t0, self.t1 = kind, slow, t0, t1
        self.slow_sleep, self.confirm = slow_sleep, confirm
        self.records: list[tuple[int, int, float, int, int]] = []
        self.itemsize: dict[str, int] = {}
        self.bytes = 0
        self.frames = 0
        self.closed: tuple[int, str] | None = None
        self.paused = False
        self.last_seq: int | None = None
        self.gaps = 0  # deltas that did not follow the last one
        self.mirror: Any = None
        self.reader: Reader | None = None
        if slow:
            from twin.serving.client import Mirror

            self.mirror = Mirror()

    def on_message(self, data: bytes, t: float) -> None:
        inside = self.t0 <= t <= self.t1
        if inside:
            self.bytes += len(data)
            self.frames += 1
        if self.kind == "ours":
            self._ours(data, t, inside)
        elif self.kind == "baseline" and inside:
            m = SEQ.match(data, 0, 40)
            if m:
                seq = int(m.group(1))
                self.records.append((seq, seq - 1, t, len(data), 0))
        if self.slow:
            self.paused = True
            assert self.reader is not None and self.reader.transport is not None
            self.reader.transport.pause_reading()
            asyncio.get_running_loop().call_later(self.slow_sleep, self._wake)

    def _wake(self) -> None:
        self.paused = False
        if self.reader is not None:
            self.reader.resume()

    def _ours(self, data: bytes, t: float, inside: bool) -> None:
        from twin.serving import protocol as p

        if self.mirror is not None:
            message = self.mirror.apply(data)  # raises on a delta that does not follow
        else:
            message, _ = p.decode_server(data)
        if isinstance(message, p.Delta):
            if self.last_seq is not None and message.base != self.last_seq:
                self.gaps += 1
            self.last_seq = message.seq
            if inside:
                self.records.append((message.seq, message.base, t, len(data), self._payload(message)))
        elif isinstance(message, p.Snapshot):
            self.last_seq = message.seq
        else:
            return
        if self.confirm and self.reader is not None:
            self.reader.send(0x2, p.encode_client(p.Confirm(message.seq)))

    def _payload(self, message: Any) -> int:
        total = 0
        for fields in message.domains.values():
            for change in fields.values():
                for ref in (change.rows, change.values):
                    size = self.itemsize.get(ref.dtype)
                    if size is None:
                        size = self.itemsize[ref.dtype] = np.dtype(ref.dtype).itemsize
                    total += ref.count * size
        return total

    def result(self) -> dict[str, Any]:
        out = {"slow": self.slow, "records": self.records, "bytes": self.bytes, "frames": self.frames, "closed": self.closed,
               "gaps": self.gaps}
        if self.mirror is not None:
            out["seq"] = self.mirror.seq
            out["digest"] = digest(self.mirror.tables) if self.mirror.tables else None
        return out


async def _connect(url: str, client: Lean, subprotocol: str | None, rcvbuf: int | None) -> Reader:
    loop = asyncio.get_running_loop()
    hostport, _, path = url.split("//")[1].partition("/")
    host, port = hostport.split(":")
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await loop.sock_connect(sock, (host, int(port)))
    _, reader = await loop.create_connection(lambda: Reader(host, int(port), "/" + path, subprotocol, client), sock=sock)
    client.reader = reader
    await reader.opened
    return reader


async def _phase(kind: str, url: str, slow_flags: list[bool], t0: float, t1: float, t_end: float, slow_sleep: float,
                 confirm: bool) -> list[dict[str, Any]]:
    from twin.serving import protocol as p

    ours = kind in ("ours", "ours_max")
    clients = [Lean(kind, slow, t0, t1, slow_sleep, confirm and kind == "ours") for slow in slow_flags]
    readers = []
    for c in clients:
        readers.append(await _connect(url, c, p.SUBPROTOCOL if ours else None, 8192 if c.slow else None))
    if ours:
        for r in readers:
            r.send(0x2, p.encode_client(p.Subscribe()))
    cpu = _cpu_window(t0, t1)
    await asyncio.sleep(max(0.0, t_end - time.monotonic()))
    for r in readers:
        if r.transport is not None:
            r.transport.abort()
    cpu.join()
    return [dict(c.result(), cpu=cpu.result, proc=os.getpid()) for c in clients]


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


def client_process(conn: Any) -> None:
    """Serve phases from the parent until it sends None: each command names the phase and
    this process's share of the clients (``slow_flags``, one per client).

    The process runs under SCHED_BATCH (Linux): the same share of the CPU as any other,
    but a frame arriving for one of its clients does not pre-empt the server in the
    middle of its fan-out. Screens run on machines of their own; here they share two
    cores with the server, and a reader woken by each of the server's hundreds of writes
    would otherwise take the core from it between them."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    while True:
        cmd = conn.recv()
        if cmd is None:
            return
        try:
            conn.send(("results", asyncio.run(_phase(**cmd))))
        except BaseException:
            import traceback

            conn.send(("failed", traceback.format_exc()))
