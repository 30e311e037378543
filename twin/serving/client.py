"""A Python client of protocol v1: a mirror of the server's state, and ``twin tail``.

:class:`Mirror` applies a server's messages (hello, snapshot, deltas) to numpy arrays;
after a snapshot and every delta since, it holds exactly the server's state of the
subscribed fields. Tests, benchmarks and ``twin tail`` use it; it is also the reference
for anyone writing a client in another language (see ``docs/protocol.md``).

Both confirm (``Confirm``) each Snapshot and Delta they applied (:meth:`Mirror.read`, and
``twin tail`` once it printed it): the server then sends the next delta only once the
last is read, merging the ticks between, so a client reading slowly gets fresh deltas
rather than a queue of old ones in its buffers (docs/protocol.md, "Slow clients").
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.serving import protocol as p


@dataclass
class Mirror:
    hello: p.Hello | None = None
    tables: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    seq: int = -1
    time: float = 0.0
    alarms: dict[int, dict[str, Any]] = field(default_factory=dict)
    events: list[p.AlarmEventInfo] = field(default_factory=list)
    results: list[p.Result] = field(default_factory=list)
    errors: list[p.Error] = field(default_factory=list)

    def apply(self, frame: bytes) -> p.ServerMessage:
        message, base = p.decode_server(frame)
        if isinstance(message, p.Hello):
            self.hello = message
        elif isinstance(message, p.Snapshot):
            self.tables = {d: {f: p.view(frame, base, ref).copy() for f, ref in fields.items()} for d, fields in message.domains.items()}
            self.alarms = {a["id"]: a for a in message.alarms}
            self.seq, self.time = message.seq, message.time
        elif isinstance(message, p.Delta):
            if message.base != self.seq:
                raise AssertionError(f"delta from {message.base} does not follow our seq {self.seq}")
            for d, fields in message.domains.items():
                for f, change in fields.items():
                    rows = p.view(frame, base, change.rows)
                    self.tables[d][f][rows] = p.view(frame, base, change.values)
            for event in message.events:
                self.events.append(event)
                if event.alarm["state"] == "resolved":
                    self.alarms.pop(event.alarm["id"], None)
                else:
                    self.alarms[event.alarm["id"]] = event.alarm
            self.seq, self.time = message.seq, message.time
        elif isinstance(message, p.Result):
            self.results.append(message)
        elif isinstance(message, p.Error):
            self.errors.append(message)
        return message

    def confirmation(self) -> bytes:
        """The ``Confirm`` frame of everything applied so far (up to :attr:`seq`), to send."""
        return p.encode_client(p.Confirm(self.seq))

    async def read(self, ws: Any) -> p.ServerMessage:
        """Receive one message from ``ws`` (a ``websockets`` connection), apply it, and
        when it is a Snapshot or a Delta send its ``Confirm`` before returning it (so a
        Mirror read this way is held to one delta unconfirmed and gets merged ones when it
        reads slowly). Raises as :meth:`apply` does, before confirming anything."""
        message = self.apply(await ws.recv())
        if isinstance(message, (p.Snapshot, p.Delta)):
            await ws.send(self.confirmation())
        return message


def summary(message: p.ServerMessage, size: int) -> dict[str, Any]:
    """One line of ``twin tail``: kind, seq, sim time, counts."""
    line: dict[str, Any] = {"kind": type(message).__name__.lower(), "bytes": size}
    if isinstance(message, p.Hello):
        line.update(scene=message.scene, seq=message.seq, time=message.time, protocol=message.protocol, role=message.role,
                    assets={d.name: len(d.ids) for d in message.domains})
    elif isinstance(message, p.Snapshot):
        line.update(seq=message.seq, time=message.time, fields=sum(len(f) for f in message.domains.values()), alarms=len(message.alarms))
    elif isinstance(message, p.Delta):
        line.update(seq=message.seq, base=message.base, time=message.time,
                    changed={d: sum(c.rows.count for c in fields.values()) for d, fields in message.domains.items()},
                    events=len(message.events))
    elif isinstance(message, (p.Result, p.Error)):
        line.update(json.loads(json.dumps(message, default=lambda o: {k: getattr(o, k) for k in o.__struct_fields__})))
    return line


def stream_url(text: str) -> str:
    """The WebSocket URL of a server's stream from what a user types: ``ws://`` and
    ``wss://`` as they are, ``http://`` and ``https://`` (the address the browser shows) and
    a bare ``HOST:PORT`` turned into ``ws(s)://…/ws``. Raises ValueError naming what is
    valid otherwise."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(text if "://" in text else f"ws://{text}")
    scheme = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}.get(parts.scheme)
    if scheme is None or not parts.hostname:
        raise ValueError(f"{text!r} is not a server's address: give ws://HOST:PORT/ws, http://HOST:PORT or HOST:PORT")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError(f"{text!r}: the port is not a number (give ws://HOST:PORT/ws, http://HOST:PORT or HOST:PORT)") from None
    return urlunsplit((scheme, parts.netloc, parts.path if parts.path not in ("", "/") else "/ws", parts.query, ""))


async def tail(url: str, domains: list[str] | None, count: int | None, token: str | None, out: Any = sys.stdout) -> int:
    import websockets

    url = stream_url(url)
    if token:
        url += ("&" if "?" in url else "?") + f"token={token}"
    seen = 0
    async with websockets.connect(url, subprotocols=[p.SUBPROTOCOL], max_size=None, compression=None) as ws:  # type: ignore[list-item]
        await ws.send(p.encode_client(p.Subscribe(domains={d: [] for d in domains} if domains else None)))
        async for frame in ws:
            assert isinstance(frame, bytes)
            message, _ = p.decode_server(frame)
            print(json.dumps(summary(message, len(frame)), ensure_ascii=False), file=out, flush=True)
            if isinstance(message, p.Delta):
                for event in message.events:
                    a = event.alarm
                    print(json.dumps({"kind": "alarm", "event": event.kind, "time": event.time, "id": a["id"], "asset": a["asset"],
                                      "rule": a["rule"], "level": a["level"], "state": a["state"], "who": event.who}, ensure_ascii=False),
                          file=out, flush=True)
            if isinstance(message, (p.Snapshot, p.Delta)):
                seen += 1
                if count is not None and seen >= count:
                    return 0
                # printed: confirm it, so that a slow reader of our output (a pipe) gets
                # merged, fresh deltas rather than old ones queued in the socket
                await ws.send(p.encode_client(p.Confirm(message.seq)))
            if isinstance(message, p.Error) and message.code in ("unauthorized", "forbidden_origin", "protocol_mismatch"):
                return 1
    return 0


def run_tail(url: str, domains: list[str] | None, count: int | None, token: str | None) -> int:
    return asyncio.run(tail(url, domains, count, token))
