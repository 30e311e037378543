#!/usr/bin/env python
"""Which asyncio MQTT client the twin subscribes with: aiomqtt (on paho-mqtt) against
gmqtt, receiving at QoS 1 from a real mosquitto on loopback, in the same run, with
mosquitto's own C subscriber (``mosquitto_sub``) on the same queue as the ceiling; and
the twin's own subscriber (``twin.sources.mqtt``: gmqtt with its lean path for QoS 1
readings) decoding every message into a real ingest of the demo district.

    python bench/mqtt_client.py                 # 100,000 messages a round, 3 rounds (~1 min)
    python bench/mqtt_client.py --messages 20000 --rounds 1

Each round and each subscriber (in rotated order, so that no one always goes first):

1. the subscriber connects as the twin does (MQTT v5, clean start off, a session expiry
   interval, a fixed client id), subscribes ``city/bench/+/+`` at QoS 1 and disconnects;
2. ``mosquitto_pub -l`` in its own process publishes ``--messages`` JSON readings at QoS 1
   to the broker, which queues them for the offline persistent session;
3. the subscriber connects again and is timed from its connect call to its last message.

Draining a queue measures what the subscriber takes in, not how fast one publisher
process can publish (a live publisher on these two cores would be the bottleneck). The
clients only count messages; decoding payloads is the same for every client and is not
part of this choice. The twin's subscriber does all its work: topic to sensor, payload
decoded, readings handed to ingest as arrays (the tick's validation is not timed).
CPU time is the subscriber's own process time per message (for mosquitto_sub, its
rusage as a child).

The last line is ``RESULT key=value ...``: medians over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from twin.sources.broker import Broker, mosquitto_path

#: a sensor of the demo district, so that the twin's subscriber takes its readings
TOPIC = "city/demo/GS-CH4-0002/ch4"
SUBSCRIPTION = "city/demo/+/+"
SESSION_EXPIRY = 3600


#: messages the in-process subscriber under test has received so far
progress = [0]


async def aiomqtt_drain(port: int, client_id: str, count: int) -> None:
    import aiomqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = SESSION_EXPIRY
    client = aiomqtt.Client("127.0.0.1", port, identifier=client_id, protocol=aiomqtt.ProtocolVersion.V5,
                            clean_start=False, properties=properties)
    async with client:
        if count == 0:
            await client.subscribe(SUBSCRIPTION, qos=1)
            return
        async for _message in client.messages:
            progress[0] += 1
            if progress[0] >= count:
                return


async def gmqtt_drain(port: int, client_id: str, count: int) -> None:
    import gmqtt
    from gmqtt.mqtt.constants import MQTTv50

    done = asyncio.Event()

    def on_message(client, topic, payload, qos, properties):  # noqa: ANN001 - gmqtt's callback
        progress[0] += 1
        if progress[0] >= count:
            done.set()
        return 0  # PUBACK reason code: success

    client = gmqtt.Client(client_id, clean_session=False, session_expiry_interval=SESSION_EXPIRY)
    client.on_message = on_message
    client.on_subscribe = lambda *args: done.set()
    await client.connect("127.0.0.1", port, version=MQTTv50)
    if count == 0:
        client.subscribe(SUBSCRIPTION, qos=1)
    await done.wait()
    await client.disconnect()


_INGEST: list = []


def demo_ingest():
    """A real ingest of the demo district (built once: plugins, scene, world)."""
    if not _INGEST:
        from twin.plugins.registry import load_registry
        from twin.runtime import default_scene, open_scene
        from twin.tick.ingest import Ingest
        from twin.tick.world import World

        registry = load_registry()
        scene = open_scene(default_scene(), registry)
        _INGEST.append(Ingest(scene.sensors, World(scene, registry)))
    return _INGEST[0]


async def twin_drain(port: int, client_id: str, count: int) -> None:
    from twin.sources.mqtt import MqttSubscriber

    ingest = demo_ingest()
    subscriber = MqttSubscriber(f"mqtt://127.0.0.1:{port}", ingest, "demo", client_id=client_id,
                                session_expiry=SESSION_EXPIRY)
    stop = asyncio.Event()
    if count == 0:  # the session and its subscription: connect once, then leave
        subscriber.on_state = lambda connected, reason: stop.set() if connected else None
        await subscriber.run(stop)
        return

    async def watch() -> None:
        while subscriber.messages < count:
            progress[0] = subscriber.messages
            await asyncio.sleep(0.01)
        stop.set()

    watching = asyncio.create_task(watch())
    await subscriber.run(stop)
    await watching
    progress[0] = subscriber.messages
    ingest.take_inbox()  # let the batches go: they are the next round's memory


def mosquitto_sub(port: int, client_id: str, count: int) -> None:
    args = ["mosquitto_sub", "-p", str(port), "-V", "5", "-q", "1", "-c", "-x", str(SESSION_EXPIRY), "-i", client_id,
            "-t", SUBSCRIPTION]
    args += ["-W", "1"] if count == 0 else ["-C", str(count), "-W", "300"]
    # -W 1: stay a second after subscribing, then leave (exit code 27 is that time-out)
    result = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=600)
    if result.returncode != 0 and not (count == 0 and result.returncode == 27):
        raise RuntimeError(f"mosquitto_sub exited with {result.returncode}: {result.stderr.strip()}")


#: messages per mosquitto_pub process: mosquitto_pub 2.0.11 -l, fed ~70,000 lines or more
#: at once, exits 0 with the rest of its queue unsent (the broker logs "disconnected due to
#: out of memory"); 10,000 a process always arrive whole here
PUBLISH_CHUNK = 10_000


def publish(port: int, count: int, round_: int) -> float:
    """Queue ``count`` readings with mosquitto_pub, in its own processes one after the
    other; their messages/s."""
    t0 = 1_777_593_600 + round_ * count
    started = time.perf_counter()
    for first in range(0, count, PUBLISH_CHUNK):
        lines = "".join(f'{{"t": {t0 + i}, "v": {i % 100 / 10:.1f}}}\n' for i in range(first, min(count, first + PUBLISH_CHUNK)))
        result = subprocess.run(["mosquitto_pub", "-p", str(port), "-V", "5", "-q", "1", "-t", TOPIC, "-l"],
                                input=lines, capture_output=True, text=True, timeout=600)
        if result.returncode != 0 or result.stderr:
            raise RuntimeError(f"mosquitto_pub exited with {result.returncode}: {result.stderr.strip()}")
    return count / (time.perf_counter() - started)


def timed_in_process(drain: Callable[[int, str, int], Awaitable[None]], port: int, client_id: str, count: int) -> tuple[float, float]:
    progress[0] = 0
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        asyncio.run(asyncio.wait_for(drain(port, client_id, count), timeout=300))
    except asyncio.TimeoutError:
        raise RuntimeError(f"{drain.__name__}: received {progress[0]:,} of {count:,} messages in 300 s") from None
    return time.perf_counter() - wall, time.process_time() - cpu


def timed_child(port: int, client_id: str, count: int) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    mosquitto_sub(port, client_id, count)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000, help="messages queued and drained per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    subscribers = {
        "aiomqtt": lambda port, cid, n: timed_in_process(aiomqtt_drain, port, cid, n),
        "gmqtt": lambda port, cid, n: timed_in_process(gmqtt_drain, port, cid, n),
        "twin": lambda port, cid, n: timed_in_process(twin_drain, port, cid, n),
        "mosquitto_sub": timed_child,
    }
    versions = {
        "aiomqtt": f"aiomqtt {importlib.metadata.version('aiomqtt')} on paho-mqtt {importlib.metadata.version('paho-mqtt')}",
        "gmqtt": f"gmqtt {importlib.metadata.version('gmqtt')}",
        "twin": "the twin's subscriber (gmqtt, lean path)",
        "mosquitto_sub": "mosquitto_sub (C, libmosquitto)",
    }
    rates: dict[str, list[float]] = {name: [] for name in subscribers}
    cpu_us: dict[str, list[float]] = {name: [] for name in subscribers}
    publish_rates: list[float] = []
    names = list(subscribers)
    with tempfile.TemporaryDirectory(prefix="bench-mqtt-") as folder, Broker(Path(folder)) as broker:
        version = subprocess.run([mosquitto_path(), "-h"], capture_output=True, text=True).stdout.splitlines()[0]
        print(f"broker: {broker.url} ({version.strip()}); {args.messages:,} QoS 1 messages per round, {args.rounds} rounds")
        for round_ in range(args.rounds):
            order = names[round_ % len(names):] + names[: round_ % len(names)]
            for name in order:
                client_id = f"bench-{name}-{round_}"
                subscribers[name](broker.port, client_id, 0)  # the persistent session and its subscription
                publish_rates.append(publish(broker.port, args.messages, round_))
                wall, cpu = subscribers[name](broker.port, client_id, args.messages)
                rates[name].append(args.messages / wall)
                cpu_us[name].append(cpu / args.messages * 1e6)
                print(f"  round {round_ + 1} {name:<14} {args.messages / wall:>10,.0f} msg/s  "
                      f"{cpu / args.messages * 1e6:6.1f} us CPU/msg", flush=True)

    med = {name: statistics.median(v) for name, v in rates.items()}
    cpu = {name: statistics.median(v) for name, v in cpu_us.items()}
    print(f"publisher (mosquitto_pub -l, its own process): median {statistics.median(publish_rates):,.0f} msg/s")
    for name in names:
        print(f"{versions[name]:<42} median {med[name]:>10,.0f} msg/s  {cpu[name]:6.1f} us CPU/msg  "
              f"(rounds: {', '.join(f'{r:,.0f}' for r in rates[name])})")
    g_over_a = med["gmqtt"] / med["aiomqtt"]
    print(f"gmqtt / aiomqtt: {g_over_a:.2f}x the messages/s, {cpu['aiomqtt'] / cpu['gmqtt']:.2f}x less CPU per message")
    print(f"aiomqtt / mosquitto_sub: {med['aiomqtt'] / med['mosquitto_sub']:.2f}x; "
          f"gmqtt / mosquitto_sub: {med['gmqtt'] / med['mosquitto_sub']:.2f}x; "
          f"the twin's subscriber / mosquitto_sub: {med['twin'] / med['mosquitto_sub']:.2f}x, "
          f"{cpu['twin']:.1f} us CPU per message against gmqtt's {cpu['gmqtt']:.1f} us (which only counts)")
    print("RESULT " + " ".join([
        f"aiomqtt_msgs_per_s={med['aiomqtt']:.0f}", f"gmqtt_msgs_per_s={med['gmqtt']:.0f}",
        f"mosquitto_sub_msgs_per_s={med['mosquitto_sub']:.0f}", f"gmqtt_over_aiomqtt={g_over_a:.2f}",
        f"aiomqtt_over_mosquitto_sub={med['aiomqtt'] / med['mosquitto_sub']:.2f}",
        f"gmqtt_over_mosquitto_sub={med['gmqtt'] / med['mosquitto_sub']:.2f}",
        f"aiomqtt_cpu_us_per_msg={cpu['aiomqtt']:.1f}", f"gmqtt_cpu_us_per_msg={cpu['gmqtt']:.1f}",
        f"twin_msgs_per_s={med['twin']:.0f}", f"twin_over_mosquitto_sub={med['twin'] / med['mosquitto_sub']:.2f}",
        f"twin_cpu_us_per_msg={cpu['twin']:.1f}",
    ]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
