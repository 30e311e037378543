"""The field as a process of its own (``twin devices run``): the scene's devices, publishing
to a broker as real ones would, and obeying the twin's commands.

The ground truth is :class:`twin.tick.simulator.Simulator`'s world, stepped by the same
plugins as the twin; the scene's background incidents happen in it, and its sensors
measure it with their noise and faults. Each sensor publishes ``{"t", "v"}`` on
``city/<district>/<sensor>/<field>`` at QoS 1 once per reporting period of its kind (a
``REPORTS_PER_INTERVAL``-th of its expected interval, ``Sensor.stale_after``: the
period its plugin declares, in a generated city), the sensors' phases spread over the
period; or, with ``rate``, every sensor ``rate`` times a second. As gateways do, it may
buffer its readings and send them as one JSON array on its topic every
``gateway_every`` seconds. The twin learns of the incidents only through those readings.
The truth is measured once a round, ``rate`` rounds a second (1 without ``rate``).

Time: the fleet runs on UTC wall time. The truth's clock starts at the epoch second the
fleet starts and readings carry wall-clock times (``start + k / rate``). With ``speed``
above 1 the truth's physics runs that many seconds per wall second (a demo or a test
that wants an incident to develop quickly) while readings keep wall-clock times, so
that a twin on the wall clock takes them. Scene incidents and faults happen at offsets
of the truth's clock from the start.

Commands: a twin fed by this fleet publishes each operator's or director's action on
``city/<district>/cmd/<target>`` (:mod:`twin.sources.commands`); the fleet applies a
plugin action to the truth before its next step, and a sensor fault (``sensor.*``)
from the next measurement on, as it applies the faults of its command line.

Faults (``sensor.stuck``, ``sensor.drift`` with ``rate`` in field units per hour,
``sensor.dead``, ``sensor.repair``) take effect from the first reading measured at or
after their time: a stuck sensor repeats that reading, a dead one sends nothing more.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import os
import random
import signal
import ssl
import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gmqtt.mqtt.constants import MQTTv50

from twin.runs.drill import _seconds
from twin.errors import TwinError
from twin.sources.commands import Command, command_subscription, decode_command
from twin.sources.mqtt import _Client, _close, _describe, district_of, parse_mqtt_url
from twin.sources.payloads import Rejected, topic_for
from twin.types import REPORTS_PER_INTERVAL

log = logging.getLogger("twin.fleet")

FAULT_SHAPE = ("ACTION:SENSOR[:RATE][@SECONDS], e.g. sensor.stuck:GS-CH4-0002, sensor.dead:GS-CH4-0002@60, "
               "sensor.drift:GS-CH4-0002:0.5 (field units per hour)")
FAULT_ACTIONS = ("sensor.stuck", "sensor.drift", "sensor.dead", "sensor.repair")


@dataclass(frozen=True)
class Fault:
    """A sensor fault at ``at`` seconds of the truth's clock after the fleet's start."""

    at: float
    action: str
    target: str
    params: dict[str, float] = field(default_factory=dict)
    #: where it was given, for errors: ``--fault ...`` or ``FILE:LINE``
    where: str = ""


def parse_fault(text: str) -> Fault:
    """One ``--fault`` (see :data:`FAULT_SHAPE`); a one-line TwinError otherwise."""
    where = f"--fault {text!r}"
    spec, _, at_text = text.partition("@")
    at = _seconds(_number(at_text)) if at_text else 0.0
    if at is None or not math.isfinite(at):
        raise TwinError(f"{where}: {at_text!r} after @ is not seconds or HH:MM:SS; expected {FAULT_SHAPE}")
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[1]:
        raise TwinError(f"{where}: expected {FAULT_SHAPE}")
    action, target = parts[0], parts[1]
    if action not in FAULT_ACTIONS:
        raise TwinError(f"{where}: unknown fault {action!r}; valid: {', '.join(FAULT_ACTIONS)}")
    params: dict[str, float] = {}
    if action == "sensor.drift":
        try:
            params["rate"] = float(parts[2]) if len(parts) == 3 else math.nan
        except ValueError:
            params["rate"] = math.nan
        if not math.isfinite(params["rate"]):
            raise TwinError(f"{where}: sensor.drift needs its rate in field units per hour, a number: sensor.drift:{target}:0.5")
    elif len(parts) == 3:
        raise TwinError(f"{where}: {action} takes no rate; expected {FAULT_SHAPE}")
    return Fault(at, action, target, params, where)


def _number(text: str) -> float | str:
    """``text`` as a number if it is one (``30``, ``12.5``), else as given (``00:01:00``)."""
    try:
        return float(text)
    except ValueError:
        return text


def _table_lines(text: str, name: str) -> list[int]:
    """Line numbers of each ``[[name]]`` header, in order."""
    return [i for i, line in enumerate(text.splitlines(), start=1) if line.strip().startswith(f"[[{name}]]")]


def load_faults(path: Path) -> list[Fault]:
    """The ``[[faults]]`` of a TOML file, each ``at`` (seconds or "HH:MM:SS"), ``action``
    (sensor.stuck|drift|dead|repair), ``target`` (a sensor id) and ``params`` (``rate``
    for a drift); a TwinError listing every problem with its line otherwise."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        doc = tomllib.loads(text)
    except FileNotFoundError:
        raise TwinError(f"--faults {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TwinError(f"--faults {path}: cannot read it ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise TwinError(f"--faults {path}: not valid TOML: {exc}") from None
    entries = doc.get("faults")
    if not isinstance(entries, list) or set(doc) - {"faults"}:
        raise TwinError(f"--faults {path}: expected only [[faults]] tables with at, action, target and params")
    faults, problems = [], []
    for n, (entry, line) in enumerate(zip(entries, _table_lines(text, "faults")), start=1):
        where = f"{path}:{line} [[faults]] #{n}"
        at = _seconds(entry.get("at", 0))
        action, target, params = entry.get("action"), entry.get("target"), entry.get("params", {})
        extra = sorted(set(entry) - {"at", "action", "target", "params"})
        if extra:
            problems.append(f"{where}: unknown key {', '.join(extra)}; valid: at, action, target, params")
        elif at is None:
            problems.append(f"{where}: at = {entry.get('at')!r}; expected seconds or \"HH:MM:SS\"")
        elif action not in FAULT_ACTIONS:
            problems.append(f"{where}: action = {action!r}; valid: {', '.join(FAULT_ACTIONS)}")
        elif not isinstance(target, str) or not target:
            problems.append(f"{where}: target must name a sensor of the scene")
        elif not isinstance(params, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                     for v in params.values()):
            problems.append(f"{where}: params must be a table of numbers, e.g. {{ rate = 0.5 }}")
        else:
            faults.append(Fault(at, action, target, {k: float(v) for k, v in params.items()}, where))
    if problems:
        raise TwinError("; ".join(problems))  # each names the file and the line
    return faults


class Fleet:
    """The scene's devices over one broker connection (see the module's docstring).
    Its counters say how it goes: ``rounds`` measured, ``published`` messages,
    ``dropped`` readings (not connected), ``commands`` applied and ``refused``."""

    def __init__(self, scene: Any, registry: Any, url: str, *, seed: int = 0, config: dict[str, Any] | None = None,
                 rate: float | None = None, speed: float = 1.0, dt: float = 1.0, faults: Iterable[Fault] = (),
                 gateway_every: float | None = None, username: str | None = None, password: str | None = None,
                 client_id: str | None = None, start: float | None = None, incidents: bool = True,
                 keepalive: int = 30, backoff: tuple[float, float] = (0.5, 10.0)) -> None:
        from twin.tick.simulator import Simulator

        self.address = parse_mqtt_url(url)
        self.url = url
        self.scene = scene
        self.district = district_of(scene)
        #: rounds a second: the truth is measured, and due sensors publish, once a round
        self.rate, self.speed, self.dt = float(rate or 1.0), float(speed), float(dt)
        #: UTC epoch seconds of the fleet's start: the truth's clock and the readings' times count from it
        self.start = float(start if start is not None else round(time.time(), 3))
        self.simulator = Simulator(scene, registry, seed, config, start=self.start)
        if not incidents:
            self.simulator.incidents = []
        self.faults = sorted(faults, key=lambda f: f.at)
        ids = [s.id for s in scene.sensors]
        problems = []
        for f in self.faults:
            try:
                Simulator.check_fault(f.action, f.target, f.params, ids)
            except (KeyError, ValueError) as exc:
                problems.append(f"{f.where}: {str(exc).strip(chr(39) + chr(34))}")
        if problems:
            raise TwinError(f"scene {scene.name!r}: " + "; ".join(problems))
        self.gateway_every = gateway_every
        self.username = username if username is not None else self.address.username
        self.password = password if password is not None else self.address.password
        self.client_id = client_id or f"fleet-{self.district}-{os.getpid()}"
        self.keepalive, self.backoff = keepalive, backoff
        self.topics = [topic_for(self.district, s.id, s.field) for s in scene.sensors]
        #: each sensor's reporting period (s) and when it is next due; None: every round
        self.periods: np.ndarray | None = None
        if rate is None:
            self.periods = np.array([s.stale_after / REPORTS_PER_INTERVAL for s in scene.sensors], dtype=np.float64)
            # Every sensor speaks in the first round, as devices do when they come up; from
            # there on their phases are spread over each period (the golden ratio's multiples
            # mod 1), so that a district's slow sensors do not all speak in the same second.
            spread = (np.arange(len(self.periods)) * 0.6180339887498949) % 1.0
            self.next_due = self.start + self.periods * spread
        #: rounds between a gateway's sends (1 without gateways)
        self.batch_rounds = max(1, round(gateway_every * rate)) if gateway_every else 1
        self._buffer: dict[int, list[bytes]] = {}
        self._commands: collections.deque[Command] = collections.deque()
        self.rounds = self.published = self.dropped = self.commands = self.refused = 0
        self.connected = False
        self._client: _FleetClient | None = None

    def restart_clock(self, start: float | None = None) -> None:
        """Start the truth's clock (and the readings' times) at ``start``, by default now:
        before the first round only."""
        assert self.rounds == 0, "the clock starts before the first round"
        moved = float(start if start is not None else round(time.time(), 3)) - self.start
        self.start += moved
        self.simulator.start = self.start
        self.simulator.world.time = self.start
        if self.periods is not None:
            self.next_due += moved

    # -- the truth ---------------------------------------------------------------------
    def measure(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Advance the truth by one reading interval (``speed / rate`` seconds, in steps
        of at most ``dt``) and measure it: (sensor indices, values, the readings' time).
        Commands that came since the last round are applied first; faults and sensor
        commands due take effect from this measurement."""
        sim = self.simulator
        sensor_commands = []
        while self._commands:
            command = self._commands.popleft()
            if command.action.startswith("sensor."):
                sensor_commands.append(command)
            else:
                self._obey(command, lambda c: sim.world.apply_action(c.action, c.target, dict(c.params)))
        span = self.speed / self.rate
        steps = max(1, math.ceil(span / self.dt - 1e-9))
        for _ in range(steps):
            index, _times, values, _quality = sim.step(span / steps, self._on_error)
        self.rounds += 1
        offset = sim.world.time - self.start
        while self.faults and self.faults[0].at <= offset + 1e-9:
            fault = self.faults.pop(0)
            sim.fault_sensor(fault.action, fault.target, fault.params)
            log.info("fault applied", extra={"fault": fault.action, "sensor": fault.target, "at": fault.at, "given": fault.where})
        for command in sensor_commands:
            self._obey(command, lambda c: sim.fault_sensor(c.action, c.target, dict(c.params)))
        alive = sim.fault[index] != 3  # a sensor dead from this measurement on sends nothing
        return index[alive].copy(), values[alive].copy(), self.start + self.rounds / self.rate

    def _obey(self, command: Command, apply: Any) -> None:
        try:
            apply(command)
        except (KeyError, ValueError) as exc:
            self.refused += 1
            log.warning("command refused", extra={"action": command.action, "target": command.target, "who": command.who,
                                                  "reason": str(exc).strip("'\"")})
            return
        self.commands += 1
        log.info("command applied", extra={"action": command.action, "target": command.target, "params": command.params,
                                           "who": command.who, "sent": command.time})

    def _on_error(self, plugin: str, what: str, exc: BaseException) -> None:
        # The truth has no quarantine: a plugin that fails here fails the field's physics
        # for that step only, said once per step; the twin's own copy quarantines it.
        log.error("plugin failed in the truth", extra={"plugin": plugin, "what": what, "error": f"{type(exc).__name__}: {exc}"})

    def messages(self, index: np.ndarray, values: np.ndarray, stamp: float) -> list[tuple[str, bytes]]:
        """The (topic, payload) to publish for one round's readings: one JSON sample per
        sensor due (every sensor without periods), or, with gateways, each sensor's
        buffered samples as one array when its gateway sends (every ``batch_rounds``
        rounds). A value that is not a finite number is not sent (JSON cannot carry it):
        the twin sees the sensor fall silent."""
        if self.periods is not None:  # only the sensors due: each once per its period
            due = self.next_due[index] <= stamp + 1e-9
            first = self.rounds <= 1  # everyone, once, as they come up
            if first:
                due[:] = True
            index, values = index[due], values[due]
            periods, late = self.periods[index], self.next_due[index]
            passed = late <= stamp + 1e-9
            self.next_due[index] = np.where(passed, late + periods * (np.floor((stamp - late) / periods + 1e-9) + 1.0), late)
        t = repr(round(stamp, 3))
        out: list[tuple[str, bytes]] = []
        topics = self.topics
        for i, v in zip(index.tolist(), values.tolist()):
            if not math.isfinite(v):
                continue
            sample = f'{{"t":{t},"v":{v!r}}}'.encode()
            if self.batch_rounds == 1:
                out.append((topics[i], sample))
            else:
                self._buffer.setdefault(i, []).append(sample)
        if self.batch_rounds > 1 and self.rounds % self.batch_rounds == 0:
            buffered, self._buffer = self._buffer, {}
            out = [(topics[i], b"[" + b",".join(samples) + b"]") for i, samples in buffered.items()]
        return out

    # -- the broker --------------------------------------------------------------------
    def _on_message(self, client: Any, topic: str, payload: bytes, qos: int, properties: dict[str, Any]) -> int:
        command = decode_command(topic, payload, self.district)
        if isinstance(command, Rejected):
            self.refused += 1
            log.warning("command refused", extra={"topic": topic, "reason": command.detail})
        else:
            self._commands.append(command)  # applied between steps, never during one
        return 0

    async def _connect(self, client: _FleetClient, timeout: float = 10.0) -> None:
        subscribed = asyncio.Event()
        granted: list[int] = []
        client.on_subscribe = lambda _client, mid, codes, properties: (granted.extend(codes), subscribed.set())
        tls = ssl.create_default_context() if self.address.tls else False
        await asyncio.wait_for(client.connect(self.address.host, self.address.port, ssl=tls, keepalive=self.keepalive,
                                              version=MQTTv50), timeout)
        client.subscribe(command_subscription(self.district), qos=1)
        await asyncio.wait_for(subscribed.wait(), timeout)
        if any(code >= 0x80 for code in granted):
            raise ConnectionError(f"the broker refused the subscription to {command_subscription(self.district)}")

    async def _stay_connected(self, stop: asyncio.Event) -> None:
        """Connect, and reconnect after any loss with a growing delay, until ``stop``."""
        delay, failure = self.backoff[0], ""
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                client = _FleetClient(self.client_id, clean_session=True, logger=logging.getLogger("twin.mqtt.client"))
                if self.username is not None:
                    client.set_auth_credentials(self.username, self.password)
                client.on_message = self._on_message
                client.on_disconnect = lambda *args: client.lost.set()
                connecting = asyncio.ensure_future(self._connect(client))
                try:
                    await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    if not connecting.done():  # stopped while connecting
                        connecting.cancel()
                        await _close(client)
                        return
                    connecting.result()
                except asyncio.CancelledError:
                    connecting.cancel()
                    await _close(client)
                    raise
                except Exception as exc:  # refused, unreachable, timed out: all are retried
                    reason = _describe(exc)
                    if reason != failure:
                        log.warning("fleet: cannot connect", extra={"url": self.url, "reason": reason})
                        failure = reason
                    await _close(client)
                    await asyncio.wait({stopping}, timeout=delay * random.uniform(0.8, 1.2))
                    delay = min(delay * 2, self.backoff[1])
                    continue
                self._client, self.connected, failure, delay = client, True, "", self.backoff[0]
                log.info("fleet: connected", extra={"url": self.url, "client_id": self.client_id,
                                                    "commands": command_subscription(self.district)})
                lost = asyncio.ensure_future(client.lost.wait())
                try:
                    await asyncio.wait({lost, stopping}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    lost.cancel()
                if not client.lost.is_set():
                    return  # stopped: run() sends what is in flight, then leaves the broker
                self.connected, self._client = False, None
                log.warning("fleet: disconnected; readings are dropped until it is back", extra={"url": self.url})
                await _close(client)
                await asyncio.wait({stopping}, timeout=delay * random.uniform(0.8, 1.2))
        finally:
            stopping.cancel()

    async def _send(self, messages: list[tuple[str, bytes]]) -> None:
        """Publish at QoS 1, as fast as the broker acknowledges (it takes at most its
        receive maximum unacknowledged: 20 for mosquitto); drop what cannot be sent."""
        client = self._client
        for n, (topic, payload) in enumerate(messages):
            while True:
                if client is None or client.lost.is_set() or client is not self._client:
                    self.dropped += len(messages) - n
                    return
                try:
                    client.publish(topic, payload, qos=1)
                    break
                except OverflowError:  # the window is full: wait for an acknowledgement or the loss
                    client.acked.clear()
                    await client.wait_acked()
            self.published += 1

    async def run(self, stop: asyncio.Event) -> None:
        """Measure and publish every reading interval until ``stop`` is set, then
        leave the broker cleanly (waiting briefly for the last acknowledgements)."""
        connection = asyncio.create_task(self._stay_connected(stop))
        began = time.monotonic() - (time.time() - self.start)  # rounds fall due on the wall clock
        interval = 1.0 / self.rate
        log.info("fleet started", extra={"scene": self.scene.name, "district": self.district, "sensors": len(self.topics),
                                         "url": self.url, "rate": self.rate, "speed": self.speed, "start": self.start,
                                         "gateway_every": self.gateway_every, "faults": len(self.faults),
                                         "incidents": len(self.simulator.incidents)})
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                due = began + (self.rounds + 1) * interval
                late = time.monotonic() - due
                if late > 5 * interval:  # fell behind (a slow step, a paused process): skip, never sprint
                    skipped = int(late / interval)
                    self.rounds += skipped
                    self.simulator.world.time += skipped * self.speed / self.rate
                    log.warning("fleet: fell behind the wall clock; skipped rounds", extra={"rounds": skipped})
                    continue
                if late < 0:
                    await asyncio.wait({stopping}, timeout=-late)
                    if stop.is_set():
                        break
                index, values, stamp = await asyncio.to_thread(self.measure)
                await self._send(self.messages(index, values, stamp))
        finally:
            stopping.cancel()
            stop.set()
            await connection
            client, self._client, connected = self._client, None, self.connected
            self.connected = False
            if client is not None:
                if connected and not client.lost.is_set():
                    with contextlib.suppress(Exception):  # a broker already gone: nothing to wait for
                        await asyncio.wait_for(client._persistent_storage.wait_empty(), 2.0)
                await _close(client)
            log.info("fleet stopped", extra={"rounds": self.rounds, "published": self.published, "dropped": self.dropped,
                                             "commands": self.commands, "refused": self.refused})


class _FleetClient(_Client):
    """The subscriber's client (no reconnect of its own), which also says when the broker
    acknowledges a message: gmqtt has no callback for it, and the fleet publishes up to
    the broker's receive maximum and then waits."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acked = asyncio.Event()
        self.lost = asyncio.Event()

    def _remove_message_from_queue(self, mid: int) -> None:
        super()._remove_message_from_queue(mid)
        self.acked.set()

    async def wait_acked(self) -> None:
        acked, lost = asyncio.ensure_future(self.acked.wait()), asyncio.ensure_future(self.lost.wait())
        try:
            await asyncio.wait({acked, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            acked.cancel()
            lost.cancel()


def run_fleet(scene_path: Path, url: str, **options: Any) -> int:
    """``twin devices run``: load the scene and run its fleet until SIGINT or SIGTERM."""
    from twin.plugins.registry import load_registry
    from twin.runtime import open_scene

    registry = load_registry()
    scene = open_scene(scene_path, registry)
    fleet = Fleet(scene, registry, url, **options)
    # The first step compiles the plugins' updaters (a minute on a cold cache): it runs on
    # a throw-away truth before the clock starts, so that the fleet's first readings are
    # on time and a stop during it (SIGTERM's default, Ctrl-C) leaves nothing behind.
    log.info("compiling the plugins' steps (cached after the first run)", extra={"scene": scene.name})
    try:
        from twin.tick.simulator import Simulator

        Simulator(scene, registry, options.get("seed", 0), options.get("config")).step(fleet.dt, fleet._on_error)
    except KeyboardInterrupt:
        return 130
    fleet.restart_clock()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await fleet.run(stop)

    asyncio.run(main())
    return 0
