"""Fan-out of frames to WebSocket clients, one send task per client.

A client never has a queue of frames. It has at most one *pending delta*: each new
frame is merged into it (latest value per row wins, alarm events appended in order),
and it is sent whenever the client can take it. A fast client gets every frame, one by
one: the frame is encoded and framed once per subscription and tick, and written to
every client that keeps pace straight from :meth:`Hub.publish` (no task, no per-client
encoding), so a wall of hundreds of screens costs one socket write each. A slow one
gets fewer, larger deltas and still converges on the current state: it is sent the next
delta only once it has confirmed the last one (``Confirm``, for clients that send it)
and its socket holds less than a frame or two the peer has not acknowledged. A client
that has not been able to take a delta for ``max_lag`` seconds is disconnected with a
reason it can read, and may resume; its connection is cut off
``abort_after`` seconds later if it does not take the close (it stopped reading).
Nothing one client does (a burst of requests, a full socket, a bug met while serving
it) stops :meth:`Hub.publish` for the others: that client alone is dropped.

State is read only between ticks (the engine ticks in a worker thread): snapshots and
resumes asked for during a tick are served right after it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import logging
import secrets
import struct
import sys
import termios
import time as wallclock
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from twin.serving import protocol as p
from twin.tick.engine import Engine, Frame

log = logging.getLogger("twin.serving.stream")

CLOSE_TOO_SLOW = p.CloseCode.TOO_SLOW
#: close code for a client that breaks the rules (bad messages, answers left unread)
CLOSE_POLICY = p.CloseCode.POLICY
#: close code for a client the server failed to serve (a bug, logged with its cause)
CLOSE_INTERNAL = p.CloseCode.INTERNAL
#: answers (results, errors, snapshots) a client may leave unread before its requests are refused
MAX_CONTROL = 16
#: seconds a client may take to finish one send before it is dropped as too slow
MAX_LAG = 30.0
#: seconds a dropped client has to take its close frame before its connection is cut
#: off (a client that stopped reading never takes it)
ABORT_AFTER = 10.0
#: bytes of kernel send buffer per WebSocket (asked for; Linux doubles it): small, so
#: that a client that stops reading fills its socket, and is noticed, within kilobytes
#: rather than the megabytes an autotuned buffer would hide
SEND_BUFFER = 128 * 1024
#: bytes a client may have in flight (written, not yet acknowledged by its TCP peer),
#: or twice its last message's size if larger (a reader keeping pace may be a frame
#: behind for a moment), before its next delta is held back to merge: whatever the kernel's buffers, a client
#: reading at half the stream's rate then gets merged deltas that are seconds fresh, not
#: a queue of stale frames in socket buffers (the send buffer alone held ~12 frames)
IN_FLIGHT = 32 * 1024
#: deltas a client that confirms (``Confirm``) may have sent and not confirmed before its
#: next delta is held back to merge: one, so that what a half-rate reader reads is at
#: most one of its reads old, whatever the buffers between it and the server hold
MAX_UNCONFIRMED = 1
#: a held-back client's socket is looked at again on each tick (which wakes its sender)
#: and, when no tick comes (a paused replay), this often (seconds): a wall of hundreds of
#: screens must not cost thousands of wake-ups a second
IN_FLIGHT_POLL = 0.25
#: the server's WebSocket keepalive (uvicorn): a ping every PING_INTERVAL seconds, and a
#: client that answers none for PING_TIMEOUT seconds is closed (code 1011). Longer than
#: MAX_LAG + ABORT_AFTER, so that a client whose socket is full gets the 4008 that says
#: why, not a keepalive timeout
PING_INTERVAL = 20.0
PING_TIMEOUT = 60.0
#: a pending delta merges the changes of this many ticks into one once they pile up, so
#: that a slow client costs at most about one merged delta of memory
MERGE_EVERY = 8
#: a client's camera updates closer together than this (seconds) are ignored
CAMERA_INTERVAL = 0.1
#: longest camera channel name
MAX_CHANNEL = 64
#: camera channels whose last camera is kept (the least recently led is forgotten first)
MAX_CHANNELS = 256


@dataclass(frozen=True)
class Subscription:
    """Resolved subscription: for each domain, the live fields wanted, in schema order."""

    fields: tuple[tuple[str, tuple[str, ...]], ...]

    def __post_init__(self) -> None:
        # hashed once: each tick looks every client's subscription up in the frame cache
        object.__setattr__(self, "_hash", hash(self.fields))

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined,no-any-return]

    @classmethod
    def resolve(cls, engine: Engine, domains: dict[str, list[str]] | None) -> Subscription:
        tables = engine.world.tables
        if domains is None:
            return cls(tuple((d, tuple(t.live_fields())) for d, t in tables.items()))
        out = []
        for d, wanted in domains.items():
            if d not in tables:
                raise p.ProtocolError("unknown_domain", f"no domain {d!r}; valid: {', '.join(tables)}")
            live = tables[d].live_fields()
            unknown = [f for f in wanted if f not in live]
            if unknown:
                raise p.ProtocolError("unknown_field", f"domain {d!r} has no live field(s) {', '.join(map(repr, unknown))}; valid: {', '.join(live)}")
            out.append((d, tuple(f for f in live if not wanted or f in wanted)))
        return cls(tuple(out))

    def wants(self, domain: str) -> tuple[str, ...]:
        for d, fields in self.fields:
            if d == domain:
                return fields
        return ()


def uvicorn_options() -> dict[str, Any]:
    """The uvicorn settings the stream's promises rest on; every place that serves the
    twin passes them (``uvicorn.run(app, ..., **uvicorn_options())``): client frames past
    the protocol's limit refused at their header, before their payload is read (1009),
    and a keepalive that never pre-empts the too-slow close (see PING_TIMEOUT)."""
    return {"ws_max_size": p.MAX_CLIENT_MESSAGE, "ws_ping_interval": PING_INTERVAL, "ws_ping_timeout": PING_TIMEOUT,
            "ws_per_message_deflate": False}


@dataclass
class Pending:
    """Frames not yet sent to one client, merged: whatever the number of ticks, its
    memory is about one merged delta (changes merge every MERGE_EVERY ticks) and the
    alarm events of those ticks."""

    base: int
    seq: int = 0
    time: float = 0.0
    chunks: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    events: list[p.AlarmEventInfo] = field(default_factory=list)
    stale: list[tuple[str, str]] = field(default_factory=list)
    #: how many frames were merged in
    ticks: int = 0
    #: incident id -> its latest summary among the merged frames
    incidents: dict[int, dict[str, Any]] = field(default_factory=dict)

    def add(self, frame: Frame, sub: Subscription) -> None:
        self.seq, self.time, self.stale = frame.seq, frame.time, list(frame.stale)
        self.ticks += 1
        for domain, fields in sub.fields:
            changes = frame.changes.get(domain)
            if not changes:
                continue
            for name in fields:
                if name in changes:
                    chunks = self.chunks.setdefault((domain, name), [])
                    chunks.append(changes[name])
                    if len(chunks) >= MERGE_EVERY:
                        chunks[:] = [merge_chunks(chunks)]
        self.events.extend(event_info(e) for e in frame.events)
        for incident in frame.incidents:
            self.incidents.pop(incident["id"], None)  # re-inserted: the order is the order of change
            self.incidents[incident["id"]] = incident

    def message(self) -> tuple[p.Delta, p.Body]:
        body = p.Body()
        domains: dict[str, dict[str, p.FieldDelta]] = {}
        for (domain, name), chunks in self.chunks.items():
            rows, values = merge_chunks(chunks)
            domains.setdefault(domain, {})[name] = p.FieldDelta(body.add(rows), body.add(values))
        return p.Delta(self.base, self.seq, self.time, domains, self.events, self.stale, list(self.incidents.values())), body


def merge_chunks(chunks: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """One (rows, values) pair from several ticks' changes; the latest value of a row wins."""
    if len(chunks) == 1:
        return chunks[0]
    rows = np.concatenate([c[0] for c in chunks])
    values = np.concatenate([c[1] for c in chunks])
    # np.unique keeps the first occurrence: reverse so that the first is the latest.
    unique, first = np.unique(rows[::-1], return_index=True)
    return unique, values[::-1][first]


def event_info(event: Any) -> p.AlarmEventInfo:
    return p.AlarmEventInfo(event.kind, event.time, event.alarm, event.who, event.note)


class Client:
    """One connected socket: its role, subscription, pending delta and control messages.

    ``abort`` cuts the connection off at once (no close handshake): the way to release a
    peer that stopped reading, whose socket will never take a close frame."""

    def __init__(self, send: Callable[[bytes], Awaitable[None]], close: Callable[[int, str], Awaitable[None]], role: str, name: str,
                 abort: Callable[[], None] | None = None, unsent: Callable[[], int] | None = None,
                 write: Callable[[bytes], bool] | None = None) -> None:
        self.send = send
        #: writes one whole WebSocket frame (see :func:`ws_frame`) to the connection at
        #: once, without waiting, False if the connection is closing (see
        #: :func:`direct_writer`); None: every message goes through ``send``
        self.write = write
        self.close = close
        self.abort = abort
        #: bytes written to the connection that its peer has not acknowledged yet (see
        #: :func:`unacknowledged`); None where that cannot be known
        self.unsent = unsent
        self.role = role
        self.name = name
        self.sub: Subscription | None = None
        self.pending: Pending | None = None
        self.control: list[bytes] = []
        self.wake = asyncio.Event()
        self.busy_since: float | None = None
        self.closed = False
        #: the task running :meth:`Hub.run_sender` for this client, once started
        self.sender: asyncio.Task[Any] | None = None
        self.sent_frames = 0
        self.sent_bytes = 0
        #: the seqs of the last deltas sent, oldest first; those up to the seq of the
        #: client's last Confirm are let go
        self.unconfirmed: collections.deque[int] = collections.deque(maxlen=MAX_UNCONFIRMED + 1)
        #: whether the client has confirmed anything (then it is held to MAX_UNCONFIRMED)
        self.confirms = False
        #: the size of the last message sent (bytes)
        self.last_size = 0
        #: the camera channel this client follows (Subscribe.follow), or None
        self.follow: str | None = None
        #: when this client's last accepted CameraUpdate came (monotonic seconds)
        self.camera_at = -float("inf")

    def push(self, message: bytes) -> None:
        if len(self.control) >= MAX_CONTROL:
            # Requests faster than the client reads the answers: refuse to queue them.
            raise p.ProtocolError("too_many_requests", f"more than {MAX_CONTROL} answers unread; read before asking again")
        self.control.append(message)
        self.wake.set()


class Hub:
    def __init__(self, engine: Engine, max_lag: float = MAX_LAG, abort_after: float = ABORT_AFTER) -> None:
        self.engine = engine
        #: names this run of the server: a resume from another run gets a snapshot
        self.epoch = secrets.token_hex(8)
        self.max_lag = max_lag
        self.abort_after = abort_after
        self.clients: set[Client] = set()
        self.ticking = False
        #: subscriptions to serve after the tick: at most one per client, the newest
        self._waiting: dict[Client, int | None] = {}
        #: this tick's single-frame deltas by subscription: (message, framed for write)
        self._cache: dict[Subscription, tuple[bytes, bytes]] = {}
        self._cache_seq = -1
        self._closing: set[asyncio.Task[None]] = set()
        #: camera channel -> its last Camera message, encoded (for new followers)
        self.cameras: dict[str, bytes] = {}

    # -- joining -----------------------------------------------------------------------
    def subscribe(self, client: Client, sub: Subscription, since: int | None, epoch: str | None = None) -> None:
        """Set the client's subscription and send it a snapshot or the missed deltas,
        now if the engine is between ticks, else right after the tick."""
        client.sub = sub
        client.pending = None
        # What it confirms from now on follows the snapshot or the resume (a replay's
        # seek may take the seq back): deltas of before are not waited for.
        client.unconfirmed.clear()
        if epoch != self.epoch:
            since = None  # another run's sequence numbers mean nothing here
        # A snapshot still waiting to be sent is replaced, not queued behind.
        client.control = [m for m in client.control if not _is_snapshot(m)]
        if self.ticking:
            # A newer subscribe replaces the older one still waiting: a burst of them
            # costs one entry and, after the tick, one snapshot.
            self._waiting[client] = since
        else:
            self._waiting.pop(client, None)
            self._sync(client, since)

    # -- cameras -----------------------------------------------------------------------
    def set_follow(self, client: Client, channel: str | None) -> None:
        """Follow a camera channel (None: none); the channel's last camera comes at once."""
        client.follow = channel
        if channel is not None and channel in self.cameras:
            _put_camera(client, self.cameras[channel])

    def relay_camera(self, sender: Client, update: p.CameraUpdate) -> bool:
        """Keep the channel's camera and send it to its followers (not the sender);
        False when the update came too soon after the sender's last and was ignored."""
        now = wallclock.monotonic()
        if now - sender.camera_at < CAMERA_INTERVAL:
            return False
        sender.camera_at = now
        data = p.encode(p.Camera(update.channel, update.position, update.target))
        self.cameras.pop(update.channel, None)  # newest last: the least recently led goes first
        if len(self.cameras) >= MAX_CHANNELS:
            del self.cameras[next(iter(self.cameras))]
        self.cameras[update.channel] = data
        for client in list(self.clients):
            if client is not sender and client.follow == update.channel and not client.closed:
                _put_camera(client, data)
        return True

    def reset_all(self) -> None:
        """Send every subscribed client a fresh snapshot (after a replay's seek); call
        between ticks."""
        for client in list(self.clients):
            if client.sub is not None and not client.closed:
                self.subscribe(client, client.sub, None)

    def _sync(self, client: Client, since: int | None) -> None:
        """Send the client what it lacks since ``since``: nothing, the missed deltas or a
        snapshot. Never raises for the client's behaviour: one that left too many answers
        unread is dropped (1008) instead."""
        assert client.sub is not None
        engine = self.engine
        frames = list(engine.frames)
        if since is not None and since == engine.seq:
            client.pending = Pending(base=since, seq=since, time=engine.time)
            return
        if since is not None and frames and frames[0].seq <= since + 1 <= engine.seq:
            pending = Pending(base=since)
            for frame in frames:
                if frame.seq > since:
                    pending.add(frame, client.sub)
            client.pending = pending
            client.wake.set()
            return
        client.control = [m for m in client.control if not _is_snapshot(m)]
        if len(client.control) >= MAX_CONTROL:
            self.drop(client, f"{len(client.control)} answers left unread; read them before asking again", code=CLOSE_POLICY)
            return
        client.push(self.snapshot(client.sub))
        client.pending = Pending(base=engine.seq, seq=engine.seq, time=engine.time)

    def snapshot(self, sub: Subscription) -> bytes:
        engine = self.engine
        body = p.Body()
        domains = {d: {f: body.add(engine.world.tables[d].columns[f]) for f in fields} for d, fields in sub.fields}
        # Summaries: an alarm's notes stay over HTTP (GET /api/alarms/{id}), so that a
        # snapshot does not grow with every note ever written.
        alarms = [a.summary() for a in engine.alarms.active()]
        incidents = [i.summary() for i in engine.incidents.ordered()]
        message = p.Snapshot(engine.seq, engine.time, domains, alarms, sorted(engine.stale_fields), incidents)
        return p.encode(message, body)

    # -- each tick ---------------------------------------------------------------------
    def publish(self, frame: Frame) -> None:
        """Merge a new frame into every client's pending delta (on the event loop). Never
        raises because of one client: a client that cannot be served is dropped, with
        a close code and a reason, and the others get the frame."""
        waiting, self._waiting = self._waiting, {}
        for client, since in waiting.items():
            if not client.closed:
                self._guarded(client, self._sync, client, since)
        now = wallclock.monotonic()
        for client in list(self.clients):
            pending = client.pending
            if client.sub is None or pending is None or client.closed:
                continue
            if pending.seq >= frame.seq:
                continue  # already synced to this frame by a resume
            try:  # as _guarded, inline: this loop runs for every client on every tick
                self._merge(client, frame, now)
            except Exception:
                log.exception("serving a stream client failed; it is disconnected", extra={"client": client.name})
                self.drop(client, "the server failed to serve this client (logged); reconnect", code=CLOSE_INTERNAL)

    def _merge(self, client: Client, frame: Frame, now: float) -> None:
        """Merge the frame into the client's pending delta and, if the client can take
        it now, write it at once; else its send task sends it when it can."""
        pending = client.pending
        assert pending is not None and client.sub is not None
        if client.busy_since is not None and now - client.busy_since > self.max_lag:
            what = "the last delta sent not confirmed" if client.confirms and client.unconfirmed else "no send completed"
            self.drop(client, f"too slow: {what} for {now - client.busy_since:.0f} s; "
                              f"reconnect and subscribe with since={pending.base}")
            return
        if client.write is not None and self._idle(client):
            if not pending.ticks and not pending.events and pending.base == frame.seq - 1:
                # The common case: nothing pending, one frame to send, framed once per
                # tick; the pending delta, empty, stays (at the new seq).
                framed = self._single(frame, client.sub)[1]
                if client.write(framed):
                    pending.base = pending.seq = frame.seq
                    pending.time = frame.time
                    self._sent(client, frame.seq, len(framed))
                return
            pending.add(frame, client.sub)
            framed = ws_frame(p.encode(*pending.message()))
            if client.write(framed):
                client.pending = Pending(base=frame.seq, seq=frame.seq, time=frame.time)
                self._sent(client, frame.seq, len(framed))
            return
        pending.add(frame, client.sub)
        client.wake.set()

    def _idle(self, client: Client) -> bool:
        """True if a delta may be written to the client now: its send task is neither
        sending nor waiting for room, no answer waits before it, and it is not held
        back (see :meth:`_over`)."""
        return client.busy_since is None and not client.control and not self._over(client)

    def _over(self, client: Client) -> bool:
        """True while the client's next delta must wait, merging: it confirms and has not
        confirmed the last MAX_UNCONFIRMED deltas sent, or its socket holds more than
        IN_FLIGHT bytes (or twice its last message's size) its peer has not acknowledged."""
        if client.confirms:
            # what it confirmed it has read: the socket holds at most the unconfirmed
            if len(client.unconfirmed) >= MAX_UNCONFIRMED:
                return True
            if not client.unconfirmed:
                return False
        return client.unsent is not None and client.unsent() > max(IN_FLIGHT, 2 * client.last_size)

    def confirm(self, client: Client, seq: int) -> None:
        """The client has applied every delta up to ``seq`` (``Confirm``): from now on it
        is sent a new delta only once the ones before are confirmed. A held-back client
        is looked at again at once, so that it gets its merged delta without waiting for
        the next tick."""
        client.confirms = True
        while client.unconfirmed and client.unconfirmed[0] <= seq:
            client.unconfirmed.popleft()
        if client.busy_since is not None:
            client.wake.set()

    def _sent(self, client: Client, seq: int, size: int) -> None:
        client.unconfirmed.append(seq)
        client.sent_frames += 1
        client.sent_bytes += size
        client.last_size = size

    def _single(self, frame: Frame, sub: Subscription) -> tuple[bytes, bytes]:
        """The single-frame delta of ``frame`` for ``sub``, encoded and framed, once per
        subscription and tick."""
        if self._cache_seq != frame.seq:
            self._cache, self._cache_seq = {}, frame.seq
        cached = self._cache.get(sub)
        if cached is None:
            pending = Pending(base=frame.seq - 1)
            pending.add(frame, sub)
            data = p.encode(*pending.message())
            cached = self._cache[sub] = (data, ws_frame(data))
        return cached

    def _guarded(self, client: Client, work: Callable[..., None], *args: Any) -> None:
        """Run one client's part of a publish; a failure drops that client alone."""
        try:
            work(*args)
        except Exception:
            log.exception("serving a stream client failed; it is disconnected", extra={"client": client.name})
            self.drop(client, "the server failed to serve this client (logged); reconnect", code=CLOSE_INTERNAL)

    def drop(self, client: Client, reason: str, code: int = CLOSE_TOO_SLOW) -> None:
        """Disconnect a client with ``code`` and ``reason``. Its pending delta and unsent
        answers are let go at once; the close frame goes out as soon as its socket takes
        it, and a client that does not take it within ``abort_after`` seconds (it stopped
        reading) has its connection cut off."""
        if client.closed:
            return
        client.closed = True
        self.clients.discard(client)
        self._waiting.pop(client, None)
        client.pending = None
        client.control = []
        client.wake.set()
        log.warning("client disconnected", extra={"client": client.name, "reason": reason, "code": code})
        task = asyncio.get_running_loop().create_task(self._close(client, code, reason[:120]))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close(self, client: Client, code: int, reason: str) -> None:
        # A send blocked on a full socket holds every later message behind it, the close
        # frame too: cancel it (it waits for room before writing, so no frame is cut).
        sender = client.sender
        if sender is not None and sender is not asyncio.current_task():
            sender.cancel()
        started = wallclock.monotonic()
        try:
            async with asyncio.timeout(self.abort_after):
                await client.close(code, reason)
        except Exception:
            pass  # timed out (the socket stays full), or the connection is gone already
        if client.abort is None:
            return
        # The close handshake needs the peer to read up to the close frame; give it the
        # rest of the grace, then release the connection (a no-op if it is closed).
        await asyncio.sleep(max(0.0, self.abort_after - (wallclock.monotonic() - started)))
        client.abort()

    def _encoded(self, client: Client) -> bytes:
        pending = client.pending
        assert pending is not None and client.sub is not None
        # One whole frame for a subscription others share: encoded once.
        if pending.ticks == 1 and pending.base == pending.seq - 1 and self._cache_seq == pending.seq:
            cached = self._cache.get(client.sub)
            if cached is not None:
                return cached[0]
        return p.encode(*pending.message())

    async def run_sender(self, client: Client) -> None:
        """The client's send task: control messages first, then what is pending."""
        while not client.closed:
            await client.wake.wait()
            client.wake.clear()
            while client.control and not client.closed:
                await self._send(client, client.control.pop(0))
            pending = client.pending
            if client.closed or pending is None or not pending.ticks and not pending.events:
                continue
            if await self._held_back(client):
                continue
            pending = client.pending
            if client.closed or pending is None:
                continue
            data = self._encoded(client)
            client.pending = Pending(base=pending.seq, seq=pending.seq, time=pending.time)
            await self._send(client, data)
            self._sent(client, pending.seq, len(data))

    async def _held_back(self, client: Client) -> bool:
        """Wait while the client is held back (:meth:`_over`: deltas unconfirmed, or
        bytes unacknowledged), its pending delta merging meanwhile; True if it closed or
        got a control message to send first. The wait counts as a send that has not
        completed (``busy_since``), so a client that stopped reading is dropped with
        4008 after ``max_lag`` as before."""
        if not self._over(client):
            return False
        client.busy_since = wallclock.monotonic()
        try:
            while not client.closed and self._over(client):
                if client.control:
                    client.wake.set()  # (cleared by this loop) the answers go now, not at the next wake
                    return True
                if client.confirms:  # its Confirm wakes it: nothing to poll
                    await client.wake.wait()
                else:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(client.wake.wait(), IN_FLIGHT_POLL)
                client.wake.clear()
        finally:
            client.busy_since = None
        return client.closed

    async def _send(self, client: Client, data: bytes) -> None:
        client.busy_since = wallclock.monotonic()
        await client.send(data)
        client.busy_since = None


def unacknowledged(transport: asyncio.Transport) -> Callable[[], int] | None:
    """A function giving the bytes of ``transport`` not yet acknowledged by its peer: the
    transport's own write buffer plus the kernel's send queue (Linux ``SIOCOUTQ``); None
    where the kernel cannot say (another OS, no socket)."""
    sock = transport.get_extra_info("socket")
    if sock is None or not sys.platform.startswith("linux"):
        return None
    fd = sock.fileno()

    def unsent() -> int:
        try:
            queued = struct.unpack("i", fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0\0\0\0"))[0]
        except OSError:  # closed meanwhile: nothing more will leave
            return 0
        return transport.get_write_buffer_size() + queued

    return unsent


def ws_frame(message: bytes) -> bytes:
    """``message`` as one unmasked, final binary WebSocket frame (RFC 6455 section 5.2):
    what a server's WebSocket library would write for it, uncompressed."""
    n = len(message)
    if n < 126:
        head = struct.pack("!BB", 0x82, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x82, 126, n)
    else:
        head = struct.pack("!BBQ", 0x82, 127, n)
    return head + message


def direct_writer(transport: asyncio.Transport) -> Callable[[bytes], bool]:
    """A function writing one whole WebSocket frame straight to ``transport`` (the
    connection the server's WebSocket library reads and writes too: a frame is written
    in one call, so it never splits one of the library's); False, writing nothing, once
    the connection is closing (a close frame may have gone out)."""

    def write(framed: bytes) -> bool:
        if transport.is_closing():
            return False
        transport.write(framed)
        return True

    return write


def _is_snapshot(message: bytes) -> bool:
    return b"\xa8snapshot" in message[4:40]


def _is_camera(message: bytes) -> bool:
    return b"\xa4type\xa6camera" in message[4:24]


def _put_camera(client: Client, data: bytes) -> None:
    """Queue a camera for a follower, replacing one it has not been sent yet (only the
    newest matters); a client with its answers unread gets none."""
    client.control = [m for m in client.control if not _is_camera(m)]
    if len(client.control) < MAX_CONTROL:
        client.control.append(data)
        client.wake.set()


def hello(engine: Engine, role: str, mode: str, server_version: str, epoch: str) -> bytes:
    body = p.Body()
    domains = []
    for name, table in engine.world.tables.items():
        d = table.domain
        style = engine.registry.styles.get(name)
        domains.append(p.DomainInfo(
            name=name, title=d.title, title_zh=d.title_zh, kinds=table.kind_names, ids=table.ids,
            kind=body.add(table.kind),
            fields=[p.FieldInfo(f.name, np.dtype(f.dtype).newbyteorder("<").str if f.dtype != "bool" else "|u1", f.unit,
                                tuple(None if not np.isfinite(v) else float(v) for v in f.valid), f.description, f.attribute, f.label_zh,
                                float(f.resolution))
                    for f in d.fields],
            style=None if style is None else msgspec.to_builtins(style.__dict__ | {"field_labels_zh": dict(style.field_labels_zh)}),
        ))
    from twin.types import LEVEL_NAMES, LEVEL_RISK_THRESHOLDS

    message = p.Hello(p.PROTOCOL_VERSION, server_version, epoch, engine.scene.name, engine.scene.title, engine.scene.title_zh,
                      engine.time, engine.seq, engine.dt, mode, role, domains, {k: list(v) for k, v in LEVEL_NAMES.items()},
                      list(LEVEL_RISK_THRESHOLDS), absolute_clock=engine.absolute_clock, timezone=engine.scene.timezone)
    return p.encode(message, body)
