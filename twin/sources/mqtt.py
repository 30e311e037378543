"""The twin's MQTT subscriber: readings of one district from a broker into ingest.

QoS 1 on a persistent session (MQTT v5, clean start off, a session expiry interval, a
fixed client id), so that what devices publish while the twin restarts waits in the
broker and arrives when it comes back. A reading delivered twice (QoS 1 allows it) is
applied once: ingest refuses a reading at its sensor's last good time as a duplicate.

The client is gmqtt, chosen by ``bench/mqtt_client.py`` (it took in QoS 1 messages
several times faster than aiomqtt on paho, at a fraction of the CPU per message: the
figures are in the commit that added it). The subscriber owns reconnection: a fresh
client per connection after a backoff, one log line per change of state, and nothing
raised into the caller.

The hot path is the subscriber's, not gmqtt's: a city sends tens of thousands of
messages a second, and gmqtt's own path (a callback, a PUBACK written to the socket, a
Reading object per message) cost ~16 us a message, a third of it in the PUBACK's
system call. Here a QoS 1 PUBLISH is taken as bytes (topic, payload) by a lean handler;
the messages gmqtt read in one go are decoded together, their readings handed to
ingest as one batch of arrays, and only then acknowledged, all PUBACKs in one write
(~3 us a message: ``bench/ingest.py``). Anything unusual (QoS 0 or 2, a topic alias, an
unknown topic, a bad payload) takes the general path, which says why it refuses.

While the server replays a recording or runs a branch, the subscriber is paused: it
leaves the broker, whose persistent session keeps what the devices publish, and comes
back (with everything queued meanwhile) when the live twin does.

A district's devices are never all silent for long. When no message has come for
``quiet`` seconds the subscriber reconnects: a broker can sit on a session's queue with
the connection up (mosquitto 2.0.11, Debian's, did so here with millions of queued
readings, for the twin and mosquitto_sub alike, until each reconnected). Nothing is lost
by it: the session keeps what is not acknowledged.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import gmqtt
import numpy as np
from gmqtt.mqtt.constants import MQTTv50
from gmqtt.mqtt.handler import MqttPackageHandler

from twin.errors import TwinError
from twin.logs import Throttle
from twin.sources.payloads import (Rejected, decode_readings, decoder_for, parse_topic, subscription, topic_for,
                                   topic_level_problem)

log = logging.getLogger("twin.mqtt")
# gmqtt logs every connection, subscription and loss itself (its module loggers and the
# one it is given); the subscriber says each change of state once, in the twin's words.
# Its refusals would come twice per retry at ERROR: only its critical words (a broken
# packet) are let through.
_client_log = logging.getLogger("twin.mqtt.client")
_client_log.setLevel(logging.CRITICAL)
logging.getLogger("gmqtt").setLevel(logging.CRITICAL)

#: how long the broker keeps the twin's session (and queues its readings) while it is away
SESSION_EXPIRY = 24 * 3600


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None


def parse_mqtt_url(url: str) -> BrokerAddress:
    """Host, port and TLS of ``mqtt://HOST[:PORT]`` (1883) or ``mqtts://HOST[:PORT]`` (8883),
    with a user and password if the URL has them; a one-line TwinError for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TwinError(f"MQTT URL {url!r}: {exc}; expected mqtt://HOST:PORT") from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or parts.path not in ("", "/"):
        raise TwinError(f"MQTT URL {url!r}: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
    tls = parts.scheme == "mqtts"
    return BrokerAddress(parts.hostname, port or (8883 if tls else 1883), tls,
                         unquote(parts.username) if parts.username else None,
                         unquote(parts.password) if parts.password else None)


def district_of(scene: Any) -> str:
    """The district a scene's readings are published under: ``[scene] district`` if the
    scene names one, else the scene's name. It must be one topic level."""
    head = scene.config.get("scene", {}) if isinstance(getattr(scene, "config", None), dict) else {}
    district = head.get("district", scene.name)
    problem = topic_level_problem(district) if isinstance(district, str) else "it is not a string"
    if problem:
        raise TwinError(f"scene {scene.name!r}: district {district!r} cannot be an MQTT topic level ({problem}); "
                        "set [scene] district = \"...\" without / + #")
    return str(district)


def client_id_for(district: str, data_dir: Path | str) -> str:
    """A client id fixed for one twin (district and data folder), so that its persistent
    session is found again after a restart, and two twins with other data folders never
    take over each other's session."""
    digest = hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:10]
    return f"twin-{district}-{digest}"


class _Handler(MqttPackageHandler):
    """gmqtt's packet handler, with a lean path for what a twin receives by the ten
    thousand: a QoS 1 PUBLISH is handed as (topic bytes, payload, content type, packet id)
    to ``take``, which acknowledges it itself, later and in bulk (see the module's
    docstring). Without ``take``, or for anything else, gmqtt's own path."""

    take: Callable[[bytes, bytes, str | None, int, Any], None] | None = None

    def _handle_publish_packet(self, cmd: int, raw: bytes) -> None:
        take = self.take
        if take is None or cmd & 0x06 != 0x02:  # QoS 0 or 2: gmqtt's path
            return super()._handle_publish_packet(cmd, raw)
        try:
            end = 2 + (raw[0] << 8 | raw[1])
            mid = raw[end] << 8 | raw[end + 1]
            content_type = None
            if self._connection_state.protocol_version < MQTTv50:
                payload = raw[end + 2:]
            elif raw[end + 2] == 0:  # no properties: the common case
                payload = raw[end + 3:]
            else:
                properties, payload = self._parse_properties(raw[end + 2:])
                if properties is None or "topic_alias" in properties:
                    return super()._handle_publish_packet(cmd, raw)
                if "content_type" in properties:
                    content_type = properties["content_type"][0]
        except IndexError:  # a packet cut short: gmqtt's path says so
            return super()._handle_publish_packet(cmd, raw)
        take(raw[2:end], payload, content_type, mid, self._connection)


class _Client(gmqtt.Client):
    """gmqtt's client without its own reconnect: the subscriber reconnects, with backoff,
    on a fresh client (a stale reconnect of the old one would take the session over).
    Its packet handler is :class:`_Handler` (gmqtt makes its own in ``__init__``; the
    subclass only adds a path, so the instance is given its class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._package_handler.__class__ = _Handler

    async def reconnect(self, delay: bool = False) -> None:
        return None


class MqttSubscriber:
    """Subscribes ``city/<district>/#`` and hands readings to ``ingest.submit_arrays``
    (the lean path) or ``ingest.submit`` (the general one), refusals to ``ingest.reject``.
    Its attributes say how it goes (for logs and metrics): ``connected``, ``connections``
    made, ``messages`` received, ``last_error``, ``paused``."""

    def __init__(self, url: str, ingest: Any, district: str, *, username: str | None = None, password: str | None = None,
                 client_id: str | None = None, session_expiry: int = SESSION_EXPIRY, keepalive: int = 30,
                 backoff: tuple[float, float] = (0.5, 30.0), quiet: float | None = 60.0) -> None:
        self.address = parse_mqtt_url(url)
        self.url = url
        self.ingest = ingest
        self.district = district
        self.username = username if username is not None else self.address.username
        self.password = password if password is not None else self.address.password
        self.client_id = client_id or f"twin-{district}"
        self.session_expiry = session_expiry
        self.keepalive = keepalive
        self.backoff = backoff
        #: seconds without a message after which it reconnects (None: never)
        self.quiet = quiet
        self._heard = time.monotonic()
        self._silence_said = False
        self.topic = subscription(district)
        self._feed(ingest)
        self.connected = False
        self.connections = 0
        self.messages = 0
        self.last_error = ""
        #: messages published on this connection (the twin's commands to the field)
        self.published = 0
        #: called with (connected, reason) on every change of state: connected, lost, a
        #: new reason it cannot connect (the server's health and metrics follow it)
        self.on_state: Callable[[bool, str], None] | None = None
        self._live: _Client | None = None  # the connected client, for publish
        self._logged = Throttle(60.0)
        #: messages taken since the last flush, and their packet ids to acknowledge on ``_ack_to``
        self._pending: list[tuple[bytes, bytes, str | None]] = []
        self._acks: list[int] = []
        self._ack_to: Any = None
        #: True while paused (the server replays or runs a branch): off the broker
        self.paused = False
        self._pausing = asyncio.Event()
        self._resumed = asyncio.Event()

    def _feed(self, ingest: Any) -> None:
        """Feed ``ingest``: its sensors' topics, as bytes, to their index."""
        self.ingest = ingest
        #: each sensor's field: a topic naming another field names no sensor of the scene
        self.fields = {s.id: s.field for s in ingest.sensors}
        self._topics = {topic_for(self.district, s.id, s.field).encode(): i for i, s in enumerate(ingest.sensors)}

    # -- messages ----------------------------------------------------------------------
    def handle(self, topic: str, payload: bytes, content_type: str | None = None) -> None:
        """One message: its readings to ingest, or its refusal counted (and logged at most
        once a minute per sensor)."""
        self.messages += 1
        where = parse_topic(topic, self.district)
        if where is None:
            return  # a command to the field, published by the twin itself
        if isinstance(where, Rejected):
            self._refuse(where, topic, topic, 1)
            return
        sensor, field = where
        readings = decode_readings(sensor, payload, content_type)
        if isinstance(readings, Rejected):
            self._refuse(readings, topic, sensor, 1)
            return
        expected = self.fields.get(sensor)
        if expected is not None and field != expected:
            self._refuse(Rejected("unknown_sensor", f"sensor {sensor!r} measures {expected!r}, not {field!r}"),
                         topic, sensor, len(readings))
            return
        if readings:
            self.ingest.submit(readings)  # an unknown sensor id is counted there, per reading

    def _take(self, topic: bytes, payload: bytes, content_type: str | None, mid: int, connection: Any) -> None:
        """A QoS 1 message from :class:`_Handler`: kept until every packet gmqtt read in
        this go is taken (one flush, scheduled with the first)."""
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
            self._ack_to = connection
        self._pending.append((topic, payload, content_type))
        self._acks.append(mid)

    def _flush(self) -> None:
        """Decode the messages taken, hand their readings to ingest as one batch, then
        acknowledge them all in one write. Paused, or on a connection already closing,
        nothing is acknowledged: the broker sends the messages again to the session."""
        self._heard, self._silence_said = time.monotonic(), False
        pending, self._pending = self._pending, []
        acks, self._acks = self._acks, []
        connection, self._ack_to = self._ack_to, None
        if self.paused or connection is None or connection.is_closing():
            return
        try:
            self._deliver(pending)
        except Exception:  # a bug here must not stop the subscription: say it, count it
            log.exception("mqtt: messages not handled", extra={"messages": len(pending)})
            self.ingest.reject("malformed", len(pending))
        # 0x40 0x02 <id>: PUBACK, success (MQTT v5 lets the reason code be left out)
        packets = np.empty((len(acks), 2), dtype=">u2")
        packets[:, 0] = 0x4002
        packets[:, 1] = acks
        connection.send_package(packets.tobytes())

    def _deliver(self, pending: list[tuple[bytes, bytes, str | None]]) -> None:
        """The readings of ``pending`` to ingest: the well-formed ones on the scene's
        sensors' topics as arrays, any other message through :meth:`handle`."""
        topics = self._topics
        index: list[int] = []
        times: list[float] = []
        values: list[float] = []
        quality: list[int] = []
        for topic, payload, content_type in pending:
            s = topics.get(topic)
            decoder = decoder_for(payload, content_type) if s is not None else None
            try:
                decoded = decoder.decode(payload) if decoder is not None else None
            except Exception:  # malformed: handle() says how
                decoded = None
            if decoded is None:
                try:
                    name = topic.decode("utf-8")
                except UnicodeDecodeError:
                    name = topic.decode("utf-8", errors="replace")  # no sensor's topic: refused as bad_topic
                self.handle(name, payload, content_type)
                continue
            self.messages += 1
            for sample in decoded if type(decoded) is list else (decoded,):
                t = sample.t
                index.append(s)
                times.append(t if type(t) is float else t.timestamp())
                values.append(sample.v)
                quality.append(sample.q)
        if index:
            self.ingest.submit_arrays((np.array(index, dtype=np.int64), np.array(times, dtype=np.float64),
                                       np.array(values, dtype=np.float64), np.array(quality, dtype=np.int64)))

    def _on_message(self, client: Any, topic: str, payload: bytes, qos: int, properties: dict[str, Any]) -> int:
        self._heard, self._silence_said = time.monotonic(), False
        content_type = properties.get("content_type")
        try:
            self.handle(topic, payload, content_type[0] if content_type else None)
        except Exception:  # a bug here must not stop the subscription: say it, count it
            log.exception("mqtt: message not handled", extra={"topic": topic})
            self.ingest.reject("malformed")
        return 0

    def _refuse(self, rejected: Rejected, topic: str, key: str, count: int) -> None:
        """Count ``count`` readings refused; log it unless ``key`` (the sensor, or the
        topic when it names none) was logged in the last minute."""
        self.ingest.reject(rejected.reason, count)
        if self._logged.allow(key):
            log.warning("mqtt: reading refused", extra={"reason": rejected.reason, "topic": topic, "detail": rejected.detail})

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish ``payload`` at QoS 1 on the subscriber's connection (the twin's account
        may publish its district's commands); ConnectionError, with why, when there is
        no connection now: the caller says so rather than pretend it was sent."""
        client = self._live
        if client is None or not self.connected:
            raise ConnectionError(f"not connected to the MQTT broker {self.url}: {self.last_error or 'connecting'}")
        try:
            client.publish(topic, payload, qos=1)
        except OverflowError:  # the broker's receive maximum of unacknowledged messages
            raise ConnectionError(f"the MQTT broker {self.url} has not acknowledged the last messages; try again") from None
        self.published += 1

    def pause(self) -> None:
        """Stop feeding ingest, while the server replays a recording or runs a branch:
        leave the broker, whose persistent session keeps what the devices publish
        meanwhile, until :meth:`resume`. Messages taken but not yet handed to ingest are
        not acknowledged (the broker sends them again). Call it on the subscriber's loop."""
        self.paused = True
        self._resumed.clear()
        self._pausing.set()

    def resume(self, ingest: Any | None = None) -> None:
        """Feed ``ingest`` (by default the one fed before the pause) again: reconnect and
        take what the broker kept for the session meanwhile. On the subscriber's loop."""
        if ingest is not None:
            self._feed(ingest)
        self.paused = False
        self._pausing.clear()
        self._resumed.set()

    def _state(self, connected: bool, reason: str = "") -> None:
        if self.on_state is not None:
            try:
                self.on_state(connected, reason)
            except Exception:  # the watcher's bug must not stop the subscription
                log.exception("mqtt: state callback failed")

    # -- the connection ----------------------------------------------------------------
    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Stay subscribed until ``stop`` is set (or the task is cancelled): connect,
        reconnect after any loss with a growing delay, never raise."""
        stop = stop or asyncio.Event()
        delay = self.backoff[0]
        failure = ""
        stopping = asyncio.ensure_future(stop.wait())
        client: _Client | None = None
        try:
            while not stop.is_set():
                if self.paused:
                    log.info("mqtt: paused; the broker keeps the readings for the session", extra={"url": self.url})
                    await _sleep_or_stop(None, stopping, self._resumed)
                    if not stop.is_set():
                        log.info("mqtt: resumed", extra={"url": self.url})
                    continue
                client, lost = self._client()
                try:
                    session_present = await self._connect(client)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # refused, unreachable, timed out: all are retried
                    reason = _describe(exc)
                    if reason != failure:  # one line per distinct failure, not one per retry
                        log.warning("mqtt: cannot connect", extra={"url": self.url, "client_id": self.client_id, "reason": reason})
                        failure = reason
                        self.last_error = reason
                        self._state(False, f"cannot connect: {reason}")
                    self.last_error = reason
                    await _close(client)
                    client = None
                    await _sleep_or_stop(delay * random.uniform(0.8, 1.2), stopping)
                    delay = min(delay * 2, self.backoff[1])
                    continue
                self.connected, failure, delay = True, "", self.backoff[0]
                self.connections += 1
                self._live = client
                self._state(True)
                log.info("mqtt: connected", extra={"url": self.url, "client_id": self.client_id,
                                                   "session_present": session_present, "topic": self.topic})
                waiting, pausing = asyncio.ensure_future(lost.wait()), asyncio.ensure_future(self._pausing.wait())
                self._heard = time.monotonic()
                quieting = asyncio.ensure_future(self._silence())
                try:
                    await asyncio.wait({waiting, stopping, pausing, quieting}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiting.cancel()
                    pausing.cancel()
                    quieting.cancel()
                self.connected = False
                self._live = None
                if quieting.done() and not quieting.cancelled() and not (lost.is_set() or stop.is_set() or self.paused):
                    if not self._silence_said:  # once a silence, however many reconnects it takes
                        log.info("mqtt: no message; reconnecting", extra={"url": self.url, "quiet_seconds": self.quiet})
                        self._silence_said = True
                    await _close(client)
                    client = None
                    continue
                if not lost.is_set():  # stopped or paused
                    await _close(client)
                    client = None
                    log.info("mqtt: disconnected", extra={"url": self.url, "reason": "stopped" if stop.is_set() else "paused"})
                    if stop.is_set():
                        break
                    continue
                self.last_error = "connection lost"
                log.warning("mqtt: disconnected", extra={"url": self.url, "reason": self.last_error})
                self._state(False, self.last_error)
                await _close(client)
                client = None
                await _sleep_or_stop(delay * random.uniform(0.8, 1.2), stopping)
        except asyncio.CancelledError:
            if client is not None:  # leave the broker cleanly: the session stays, the socket goes
                await _close(client)
            log.info("mqtt: disconnected", extra={"url": self.url, "reason": "cancelled"})
            raise
        finally:
            stopping.cancel()
            self.connected = False
            self._live = None

    async def _silence(self) -> None:
        """Return once no message has come for ``quiet`` seconds (never without ``quiet``)."""
        if self.quiet is None:
            await asyncio.Event().wait()
        assert self.quiet is not None
        while (silent := time.monotonic() - self._heard) < self.quiet:
            await asyncio.sleep(self.quiet - silent + 0.01)

    def _client(self) -> tuple[_Client, asyncio.Event]:
        """A fresh client and the event its loss sets (its own, so that a late word from
        an earlier connection cannot end this one)."""
        client = _Client(self.client_id, clean_session=False, session_expiry_interval=self.session_expiry, logger=_client_log)
        if self.username is not None:
            client.set_auth_credentials(self.username, self.password)
        lost = asyncio.Event()
        client.on_message = self._on_message
        client.on_disconnect = lambda *args: lost.set()
        client._package_handler.take = self._take
        return client, lost

    async def _connect(self, client: _Client, timeout: float = 10.0) -> bool:
        """Connect and make sure of the subscription; whether the broker had the session."""
        present: list[bool] = []
        granted: list[int] = []
        subscribed = asyncio.Event()
        client.on_connect = lambda _client, flags, rc, properties: present.append(bool(flags))
        client.on_subscribe = lambda _client, mid, codes, properties: (granted.extend(codes), subscribed.set())
        tls = ssl.create_default_context() if self.address.tls else False
        await asyncio.wait_for(client.connect(self.address.host, self.address.port, ssl=tls, keepalive=self.keepalive,
                                              version=MQTTv50), timeout)
        if not present:
            raise ConnectionError("the broker sent no CONNACK")
        if not present[0]:  # a new session (first run, or the broker lost it): subscribe
            client.subscribe(self.topic, qos=1)
            await asyncio.wait_for(subscribed.wait(), timeout)
            refused = [code for code in granted if code >= 0x80]
            if refused:  # a broker may refuse it (mosquitto 2.0 grants it and filters each message)
                raise ConnectionError(f"the broker refused the subscription to {self.topic} (reason code {refused[0]:#x})")
        return present[0]


async def run_mqtt(url: str, ingest: Any, district: str, *, username: str | None = None, password: str | None = None,
                   client_id: str | None = None, stop: asyncio.Event | None = None,
                   session_expiry: int = SESSION_EXPIRY) -> MqttSubscriber:
    """Subscribe ``district``'s readings at ``url`` into ``ingest`` until ``stop`` is set
    or the task is cancelled; reconnects with backoff and never raises (a URL it cannot
    use raises TwinError before anything starts). Returns the subscriber, for its counts."""
    subscriber = MqttSubscriber(url, ingest, district, username=username, password=password, client_id=client_id,
                                session_expiry=session_expiry)
    await subscriber.run(stop)
    return subscriber


async def _sleep_or_stop(seconds: float | None, stopping: asyncio.Future[Any], until: asyncio.Event | None = None) -> None:
    """Wait ``seconds`` (None: for ever), or until stopped, or until ``until`` is set."""
    if until is None:
        await asyncio.wait({stopping}, timeout=seconds)
        return
    waking = asyncio.ensure_future(until.wait())
    try:
        await asyncio.wait({stopping, waking}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waking.cancel()


async def _close(client: _Client) -> None:
    """Disconnect (the broker keeps the session) or drop what is left of a lost connection."""
    try:
        await asyncio.wait_for(client.disconnect(), 5.0)
    except Exception:  # the connection is gone already: nothing to close
        pass


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
