"""Readings over MQTT, end to end: a real mosquitto on loopback, devices played by
``mosquitto_pub`` (Debian's mosquitto-clients) in their own processes, the twin's
subscriber (twin.sources.mqtt) on its own event loop thread, and the engine ticking.

The engine's clock is set to the wall clock (epoch seconds) before it ticks: readings
carry absolute times.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import msgpack
import pytest

from twin.errors import TwinError
from twin.tick.ingest import REJECT_REASONS
from twin.sources.credentials import password_hash, write_credentials
from twin.sources.mqtt import MqttSubscriber, client_id_for, district_of, parse_mqtt_url
from twin.authoring.testing import Harness

ROOT = Path(__file__).resolve().parent.parent
DISTRICT = "harness"  # the name of every Harness scene


def toy_twin(tmp_path: Path, toy) -> Harness:
    h = Harness(tmp_path / "scene", plugins=[toy], blocks=(2, 2), simulate=False)
    h.engine.world.time = time.time()
    return h


#: each running subscriber's event loop (the tests call pause and resume on it)
LOOPS: dict[int, asyncio.AbstractEventLoop] = {}


def on_loop(subscriber: MqttSubscriber, call: Callable[[], object]) -> None:
    """Run ``call`` on ``subscriber``'s event loop, as the server would, and wait for it."""
    done = threading.Event()
    LOOPS[id(subscriber)].call_soon_threadsafe(lambda: (call(), done.set()))
    assert done.wait(10)


@contextmanager
def subscribed(url: str, ingest, district: str = DISTRICT, **options) -> Iterator[MqttSubscriber]:
    """The twin's subscriber on its own event loop in a thread, as the server runs it;
    connected (unless ``wait=False``) when the block starts, stopped when it ends."""
    wait = options.pop("wait", True)
    options.setdefault("client_id", "twin-test")
    subscriber = MqttSubscriber(url, ingest, district, **options)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            loop.run_until_complete(subscriber.run(stop))
        except BaseException as exc:  # the subscriber promises never to raise: the test checks
            errors.append(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    LOOPS[id(subscriber)] = loop
    try:
        if wait:
            until(lambda: subscriber.connected, what="the subscriber to connect")
        yield subscriber
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)
        LOOPS.pop(id(subscriber), None)
    assert not thread.is_alive(), "the subscriber did not stop"
    assert errors == []


def until(condition: Callable[[], bool], timeout: float = 15.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def tick_until(h: Harness, condition: Callable[[], bool], seen: list[tuple[int, float]] | None = None,
               timeout: float = 15.0, what: str = "the readings") -> None:
    """Tick the engine until ``condition``; the (sensor index, time) of every reading
    ingest was fed are added to ``seen``."""
    deadline = time.monotonic() + timeout
    while True:
        h.engine.tick()
        if seen is not None:
            for index, times, _values, _quality in h.engine.last_inputs:
                seen.extend(zip(index.tolist(), times.tolist()))
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def publish(port: int, topic: str, message: bytes | str, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
    """One message from mosquitto_pub, a device in its own process (MQTT v5, QoS 1)."""
    data = message.encode() if isinstance(message, str) else message
    result = subprocess.run(["mosquitto_pub", "-p", str(port), "-V", "5", "-q", "1", "-t", topic, "-s", *extra],
                            input=data, capture_output=True, timeout=30)
    if check:
        assert result.returncode == 0 and not result.stderr, result.stderr
    return result


def publish_lines(port: int, topic: str, lines: list[str], *extra: str) -> None:
    """Many messages, one per line, from one mosquitto_pub process."""
    result = subprocess.run(["mosquitto_pub", "-p", str(port), "-V", "5", "-q", "1", "-t", topic, "-l", *extra],
                            input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr, result.stderr


def docs_example() -> str:
    text = (ROOT / "docs" / "ingest.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- example: mosquitto_pub -->\n```sh\n(.*?)```\n<!-- end example -->", text, re.S)
    assert match, "docs/ingest.md lost its marked mosquitto_pub example"
    return match.group(1)


# -- end to end ------------------------------------------------------------------------

def test_the_docs_example_reaches_the_twin(tmp_path, mosquitto):
    from twin.runtime import open_twin

    engine = open_twin(None, tmp_path / "data", simulate=False, persist=False)  # the demo district
    assert district_of(engine.scene) == "demo"
    engine.world.time = time.time()
    broker = mosquitto()
    example = docs_example()
    assert "-p 1883" in example
    i = engine.ingest.sensor_index["GS-CH4-0002"]
    with subscribed(broker.url, engine.ingest, "demo"):
        before = time.time()
        result = subprocess.run(["bash", "-c", example.replace("-p 1883", f"-p {broker.port}")],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        deadline = time.monotonic() + 15
        while engine.ingest.accepted == 0 and time.monotonic() < deadline:
            engine.tick()
            time.sleep(0.05)
    assert engine.ingest.accepted == 1 and dict(engine.ingest.rejected) == {}
    assert engine.ingest.last_value[i] == 0.8
    assert before - 1 <= engine.ingest.last_time[i] <= time.time()
    table, row = engine.world.locate(engine.scene.sensors[i].asset)
    assert table["ch4"][row] == 0.8


def test_single_readings_batches_and_msgpack_reach_the_state(tmp_path, toy, mosquitto):
    h = toy_twin(tmp_path, toy)
    broker = mosquitto()
    now = int(time.time())
    with subscribed(broker.url, h.engine.ingest):
        publish(broker.port, f"city/{DISTRICT}/TS-001/level", f'{{"t": {now - 3}, "v": 11.5}}')
        batch = [{"t": now - 2, "v": 21.0}, {"t": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 1)), "v": 22.0, "q": 0}]
        publish(broker.port, f"city/{DISTRICT}/TS-002/level", msgpack.packb(batch))  # told apart by its first byte
        publish(broker.port, f"city/{DISTRICT}/TS-003/level", msgpack.packb({"t": now - 1.5, "v": 33.0}),
                "-D", "publish", "content-type", "application/msgpack")
        publish(broker.port, f"city/{DISTRICT}/TS-004/level",
                f'[{{"t": "{time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(now + 8 * 3600 - 4))}", "v": 44.0}}, '
                f'{{"t": {now - 5}, "v": 40.0}}]')  # an older reading after a newer one: accepted, not live
        tick_until(h, lambda: h.engine.ingest.accepted == 6)
    assert dict(h.engine.ingest.rejected) == {}
    assert [h.value(f"T-00{n}", "level") for n in (1, 2, 3, 4)] == [11.5, 22.0, 33.0, 44.0]
    ingest = h.engine.ingest
    assert ingest.last_time[ingest.sensor_index["TS-004"]] == now - 4


def test_every_reject_reason_is_counted_and_nothing_else_is_lost(tmp_path, toy, mosquitto, caplog):
    caplog.set_level(logging.INFO, logger="twin.mqtt")
    h = toy_twin(tmp_path, toy)
    broker = mosquitto()
    now = time.time()
    topic = f"city/{DISTRICT}/TS-001/level"
    sent = [  # (topic, payload, what it counts as)
        (f"city/{DISTRICT}/TS-001", b'{"t": 1, "v": 1}', "bad_topic"),
        (f"city/{DISTRICT}//level", b'{"t": 1, "v": 1}', "bad_topic"),
        (f"city/{DISTRICT}/TS-001/level/x", b'{"t": 1, "v": 1}', "bad_topic"),
        (topic, b"not json", "malformed"),
        (topic, f'[{{"t": {now}, "v": 1}}, {{"t": {now}}}]'.encode(), "malformed"),
        (topic, f'{{"t": "2026-05-01T08:00:00", "v": 1}}'.encode(), "malformed"),
        (f"city/{DISTRICT}/NOPE/level", f'{{"t": {now}, "v": 1}}'.encode(), "unknown_sensor"),
        (f"city/{DISTRICT}/TS-001/pressure", f'{{"t": {now}, "v": 1}}'.encode(), "unknown_sensor"),
        (topic, f'{{"t": {now - 1}, "v": 12, "q": 3}}'.encode(), "bad_quality"),
        (topic, msgpack.packb({"t": now - 1, "v": math.nan}), "not_finite"),
        (topic, f'{{"t": {now - 1}, "v": 250}}'.encode(), "out_of_range"),
        (topic, f'{{"t": {now - 7200}, "v": 12}}'.encode(), "too_old"),
        (topic, f'{{"t": {now + 3600}, "v": 12}}'.encode(), "in_future"),
        (topic, f'{{"t": {now - 2}, "v": 12}}'.encode(), "good"),
        (topic, f'{{"t": {now - 2}, "v": 99}}'.encode(), "duplicate"),  # a device's retry: the same time again
        (f"city/{DISTRICT}/TS-002/level", f'{{"t": {now - 2}, "v": 22}}'.encode(), "good"),
        (f"city/{DISTRICT}/cmd/toy.open_tap", b'{"asset": "T-001"}', "ignored"),  # the twin's own orders
    ]
    with subscribed(broker.url, h.engine.ingest) as subscriber:
        for t, payload, _ in sent:
            publish(broker.port, t, payload)
        until(lambda: subscriber.messages == len(sent), what="every message")
        tick_until(h, lambda: h.engine.ingest.accepted == 2)
    expected: dict[str, int] = {}
    for _, _, reason in sent:
        if reason not in ("good", "ignored"):
            expected[reason] = expected.get(reason, 0) + 1
    assert dict(h.engine.ingest.rejected) == expected
    assert set(expected) == set(REJECT_REASONS)  # every reason, each one counted
    assert h.value("T-001", "level") == 12.0 and h.value("T-002", "level") == 22.0
    text = h.engine.metrics.exposition().decode()
    assert 'twin_readings_rejected_total{reason="bad_topic"} 3.0' in text
    assert 'twin_readings_rejected_total{reason="duplicate"} 1.0' in text
    logged = [(r.topic, r.reason) for r in caplog.records if r.getMessage() == "mqtt: reading refused"]
    # once a minute per sensor (per topic when it names none): TS-001's three bad payloads
    # and its wrong field are one line; the rest of the refusals are ingest's
    assert logged == [(t, "bad_topic") for t, _, reason in sent if reason == "bad_topic"] + [(topic, "malformed")]


def test_a_redelivered_reading_is_applied_once(tmp_path, toy, mosquitto):
    h = toy_twin(tmp_path, toy)
    broker = mosquitto()
    t = time.time() - 1
    with subscribed(broker.url, h.engine.ingest) as subscriber:
        publish(broker.port, f"city/{DISTRICT}/TS-001/level", f'{{"t": {t}, "v": 15}}')
        tick_until(h, lambda: h.engine.ingest.accepted == 1)
        # the same reading again, as QoS 1 redelivers it after a lost acknowledgement
        publish(broker.port, f"city/{DISTRICT}/TS-001/level", f'{{"t": {t}, "v": 15}}', "-D", "publish", "user-property", "dup", "1")
        until(lambda: subscriber.messages == 2)
        tick_until(h, lambda: h.engine.ingest.rejected.get("duplicate") == 1)
    assert h.engine.ingest.accepted == 1 and h.value("T-001", "level") == 15.0


def test_nothing_is_lost_while_the_twin_and_the_broker_restart(tmp_path, toy, mosquitto):
    h = toy_twin(tmp_path, toy)
    broker = mosquitto()
    t0 = time.time() - 600
    published: set[tuple[int, float]] = set()
    sensors = ["TS-001", "TS-002", "TS-003"]
    index = h.engine.ingest.sensor_index

    def send(batch: int, per_sensor: int = 40) -> None:
        """``per_sensor`` readings of each sensor, one message each, their own times."""
        for sensor in sensors:
            times = [round(t0 + batch * 100 + k * 0.5, 3) for k in range(per_sensor)]
            publish_lines(broker.port, f"city/{DISTRICT}/{sensor}/level", [f'{{"t": {t}, "v": {k % 90}}}' for k, t in enumerate(times)])
            published.update((index[sensor], t) for t in times)

    seen: list[tuple[int, float]] = []
    client_id = client_id_for(DISTRICT, tmp_path / "data")
    options = {"client_id": client_id, "backoff": (0.1, 0.5)}
    with subscribed(broker.url, h.engine.ingest, **options) as subscriber:
        send(0)  # the twin runs
        tick_until(h, lambda: {p for p in seen} >= published, seen, what="batch 0")
    send(1)  # the twin is stopped: the broker queues for its session
    broker.restart()  # and keeps the queue across its own restart
    send(2)
    with subscribed(broker.url, h.engine.ingest, **options) as subscriber:  # the twin is back
        tick_until(h, lambda: set(seen) >= published, seen, what="batches 1 and 2")
        broker.restart()  # the broker restarts under the running twin
        until(lambda: subscriber.connected and subscriber.connections == 2, what="the subscriber to reconnect")
        send(3)
        tick_until(h, lambda: set(seen) >= published, seen, what="batch 3")
    lost = published - set(seen)
    assert len(published) == 4 * 3 * 40 and lost == set()
    # QoS 1 may deliver twice; nothing was refused otherwise, and each reading counted once
    assert set(h.engine.ingest.rejected) <= {"duplicate"}
    assert h.engine.ingest.accepted + h.engine.ingest.rejected["duplicate"] == len(seen)


# -- credentials -----------------------------------------------------------------------

def secured(tmp_path: Path, h: Harness, mosquitto):
    creds = write_credentials(h.scene.sensors, DISTRICT, tmp_path / "creds")
    rows = (creds.folder / "devices.csv").read_text(encoding="utf-8").splitlines()[1:]
    passwords = {line.split(",")[0]: line.split(",")[1] for line in rows}
    twin_password = (creds.folder / "twin.password").read_text(encoding="utf-8").strip()
    broker = mosquitto(password_file=creds.folder / "passwd", acl_file=creds.folder / "acl")
    return broker, passwords, twin_password


def test_a_device_cannot_publish_another_sensors_topic(tmp_path, toy, mosquitto):
    h = toy_twin(tmp_path, toy)
    broker, passwords, twin_password = secured(tmp_path, h, mosquitto)
    now = time.time()
    device = ("-u", "TS-001", "-P", passwords["TS-001"])
    with subscribed(broker.url, h.engine.ingest, username="twin", password=twin_password) as subscriber:
        publish(broker.port, f"city/{DISTRICT}/TS-001/level", f'{{"t": {now - 2}, "v": 17}}', *device)
        refused = publish(broker.port, f"city/{DISTRICT}/TS-002/level", f'{{"t": {now - 1}, "v": 66}}', *device, check=False)
        assert b"Not authorized" in refused.stderr  # MQTT v5 says so in the PUBACK
        publish(broker.port, f"city/{DISTRICT}/TS-001/level", f'{{"t": {now - 1}, "v": 18}}', *device)
        tick_until(h, lambda: h.engine.ingest.accepted == 2)
        time.sleep(0.2)
        h.engine.tick()
    assert subscriber.messages == 2  # the twin never saw the other sensor's topic
    assert h.value("T-001", "level") == 18.0 and h.value("T-002", "level") != 66.0
    assert dict(h.engine.ingest.rejected) == {}


def test_the_fleet_publishes_every_sensor_and_reads_commands_but_sends_none(tmp_path, toy, mosquitto):
    """The fleet's account (``twin devices run``) publishes any sensor's readings and reads
    the twin's commands; it may not publish a command, nor read the readings."""
    h = toy_twin(tmp_path, toy)
    broker, _passwords, twin_password = secured(tmp_path, h, mosquitto)
    fleet = ("-u", "fleet", "-P", (tmp_path / "creds" / "fleet.password").read_text(encoding="utf-8").strip())
    acl = (tmp_path / "creds" / "acl").read_text(encoding="utf-8")
    assert f"user fleet\ntopic read city/{DISTRICT}/cmd/#\ntopic write city/{DISTRICT}/+/level\n" in acl
    now = time.time()
    commands = subprocess.Popen(["mosquitto_sub", "-p", str(broker.port), "-V", "5", "-q", "1", "-t", f"city/{DISTRICT}/cmd/#",
                                 "-v", "-C", "1", "-W", "20", *fleet], stdout=subprocess.PIPE, text=True)
    readings = subprocess.Popen(["mosquitto_sub", "-p", str(broker.port), "-V", "5", "-q", "1", "-t", f"city/{DISTRICT}/+/level",
                                 "-C", "1", "-W", "3", *fleet], stdout=subprocess.PIPE, text=True)
    with subscribed(broker.url, h.engine.ingest, username="twin", password=twin_password):
        time.sleep(0.5)  # the fleet's subscriptions are in place
        for n in (1, 5, 8):
            publish(broker.port, f"city/{DISTRICT}/TS-00{n}/level", f'{{"t": {now - 1}, "v": {10 + n}}}', *fleet)
        refused = publish(broker.port, f"city/{DISTRICT}/cmd/T-001", '{"action": "toy.open_tap", "target": "T-001"}', *fleet,
                          check=False)
        assert b"Not authorized" in refused.stderr
        publish(broker.port, f"city/{DISTRICT}/cmd/T-002", '{"action": "toy.open_tap", "target": "T-002"}', "-u", "twin",
                "-P", twin_password)
        tick_until(h, lambda: h.engine.ingest.accepted == 3)
    assert [h.value(f"T-00{n}", "level") for n in (1, 5, 8)] == [11.0, 15.0, 18.0]
    assert commands.communicate(timeout=30)[0].strip() == f'city/{DISTRICT}/cmd/T-002 {{"action": "toy.open_tap", "target": "T-002"}}'
    assert readings.communicate(timeout=30)[0] == "" and readings.returncode == 27  # timed out: the broker sent it none


def test_the_fleet_account_lists_a_field_s_topics_when_a_command_target_is_named_like_it():
    from twin.sources.credentials import fleet_account
    from twin.types import Sensor

    sensors = [Sensor("S-1", "A-1", "level"), Sensor("S-2", "level", "level"), Sensor("S-3", "A-3", "ch4")]
    account = fleet_account(sensors, "d")
    assert account.write == ("city/d/+/ch4", "city/d/S-1/level", "city/d/S-2/level")
    assert account.read == ("city/d/cmd/#",)


def test_bad_credentials_are_refused(tmp_path, toy, mosquitto, caplog):
    h = toy_twin(tmp_path, toy)
    broker, passwords, twin_password = secured(tmp_path, h, mosquitto)
    topic = f"city/{DISTRICT}/TS-001/level"
    for extra in (("-u", "TS-001", "-P", "wrong"), ("-u", "nobody", "-P", passwords["TS-001"]), ()):
        result = publish(broker.port, topic, '{"t": 1, "v": 1}', *extra, check=False)
        assert result.returncode != 0 and re.search(rb"not authori[sz]ed", result.stderr.lower()), result.stderr
    caplog.set_level(logging.INFO, logger="twin.mqtt")
    with subscribed(broker.url, h.engine.ingest, username="twin", password="wrong", backoff=(0.05, 0.1), wait=False) as subscriber:
        until(lambda: subscriber.last_error != "", what="the refusal")
        time.sleep(1.0)  # several retries
        assert not subscriber.connected and subscriber.connections == 0
    assert "bad user name or password" in subscriber.last_error.lower() or "not authori" in subscriber.last_error.lower()
    refusals = [r for r in caplog.records if r.getMessage() == "mqtt: cannot connect"]
    assert len(refusals) == 1  # said once, not once per retry
    assert h.engine.ingest.rejected == {} and h.engine.ingest.take_inbox() is None


def test_credentials_are_mosquitto_hashes_and_keep_their_passwords(tmp_path):
    h = Harness(tmp_path / "scene", entry_points=True, blocks=(2, 2), simulate=False)  # the built-in plugins, as the CLI loads
    from twin.cli import main

    out = tmp_path / "creds"
    command = ["devices", "credentials", str(tmp_path / "scene"), "--out", str(out), "--by", "asset", "--data", str(tmp_path / "data")]
    assert main(command) == 0
    acl = (out / "acl").read_text()
    assert "user twin\ntopic read city/harness/#\ntopic write city/harness/cmd/#\n" in acl
    sensor = h.scene.sensors[0]
    on_asset = [s for s in h.scene.sensors if s.asset == sensor.asset]
    assert f"user {sensor.asset}\n" + "".join(f"topic write city/harness/{s.id}/{s.field}\n" for s in on_asset) in acl
    first = (out / "devices.csv").read_text()
    fleet_password = (out / "fleet.password").read_text()
    assert len(first.splitlines()) == 1 + len({s.asset for s in h.scene.sensors})
    for name in ("passwd", "devices.csv", "twin.password", "fleet.password"):
        assert (out / name).stat().st_mode & 0o077 == 0, name
    assert main(command) == 0
    assert (out / "devices.csv").read_text() == first  # the devices in the field keep working
    assert (out / "fleet.password").read_text() == fleet_password  # and the fleet
    # the format mosquitto_passwd writes (checked against its own output)
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto_passwd is not installed (Debian's mosquitto; scripts/install installs it)")
    (tmp_path / "pw").write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(tmp_path / "pw"), "alice", "secret"], check=True)
    _, theirs = (tmp_path / "pw").read_text().strip().split(":", 1)
    _, seven, iterations, salt, _ = theirs.split("$")
    import base64

    assert password_hash("secret", base64.b64decode(salt), int(iterations)) == theirs


# -- the subscriber alone --------------------------------------------------------------

def test_the_subscriber_waits_for_a_broker_that_is_not_there_and_stops_cleanly(tmp_path, toy, caplog):
    from conftest import free_port

    h = toy_twin(tmp_path, toy)
    caplog.set_level(logging.INFO, logger="twin.mqtt")
    with subscribed(f"mqtt://127.0.0.1:{free_port()}", h.engine.ingest, backoff=(0.05, 0.1), wait=False) as subscriber:
        until(lambda: "ConnectionRefusedError" in subscriber.last_error, what="a refused connection")
        time.sleep(0.5)
    assert [r.getMessage() for r in caplog.records].count("mqtt: cannot connect") == 1


def test_urls_districts_and_client_ids(tmp_path):
    assert parse_mqtt_url("mqtt://broker.local") == parse_mqtt_url("mqtt://broker.local:1883")
    address = parse_mqtt_url("mqtts://u%40x:p@10.0.0.1:8884")
    assert (address.host, address.port, address.tls, address.username, address.password) == ("10.0.0.1", 8884, True, "u@x", "p")
    for bad in ("http://x:1883", "mqtt://", "mqtt://x:99999", "mqtt://x:1883/path", "x:1883"):
        with pytest.raises(TwinError, match="MQTT URL"):
            parse_mqtt_url(bad)

    class Scene:  # what district_of reads of a scene: its name and its [scene] table
        def __init__(self, name, head):
            self.name, self.config = name, {"scene": head}

    assert district_of(Scene("demo", {"name": "demo"})) == "demo"
    assert district_of(Scene("demo", {"name": "demo", "district": "binhe"})) == "binhe"
    with pytest.raises(TwinError, match=r"district 'a/b' cannot be an MQTT topic level \('/' is a level separator\)"):
        district_of(Scene("demo", {"district": "a/b"}))
    a = client_id_for("demo", tmp_path / "a")
    assert a == client_id_for("demo", tmp_path / "a" / ".." / "a") and a != client_id_for("demo", tmp_path / "b")
    assert a.startswith("twin-demo-")


# -- the fast path: many messages at once ----------------------------------------------

def test_a_burst_is_taken_whole_applied_once_and_acknowledged(tmp_path, toy, mosquitto):
    """Thousands of messages arrive in a few reads: every reading is applied once, and
    every message is acknowledged (in bulk): a new connection to the session gets none
    again. A content type with parameters, QoS 0 and a user property take the general
    path, in the same burst."""
    h = toy_twin(tmp_path, toy)
    broker = mosquitto()
    t0 = time.time() - 900
    sensors = ["TS-001", "TS-002", "TS-003"]
    options = {"client_id": "twin-burst"}
    with subscribed(broker.url, h.engine.ingest, **options) as subscriber:
        publishers = [subprocess.Popen(["mosquitto_pub", "-p", str(broker.port), "-V", "5", "-q", "1", "-t",
                                        f"city/{DISTRICT}/{sensor}/level", "-l"], stdin=subprocess.PIPE, text=True)
                      for sensor in sensors]
        for n, publisher in enumerate(publishers):
            publisher.communicate("".join(f'{{"t": {t0 + n * 0.1 + k * 0.5!r}, "v": {k % 90}}}\n' for k in range(1000)),
                                  timeout=60)
            assert publisher.returncode == 0
        publish(broker.port, f"city/{DISTRICT}/TS-004/level", f'{{"t": {t0}, "v": 4}}', "-D", "publish", "content-type",
                "application/json; charset=utf-8")
        publish(broker.port, f"city/{DISTRICT}/TS-005/level", f'{{"t": {t0}, "v": 5}}', "-q", "0")
        publish(broker.port, f"city/{DISTRICT}/TS-006/level", f'{{"t": {t0}, "v": 6}}', "-D", "publish", "user-property", "a", "b")
        tick_until(h, lambda: h.engine.ingest.accepted == 3003)
        assert subscriber.messages == 3003
    assert dict(h.engine.ingest.rejected) == {}
    assert [h.value(f"T-00{n}", "level") for n in range(1, 7)] == [999 % 90] * 3 + [4.0, 5.0, 6.0]
    with subscribed(broker.url, h.engine.ingest, **options) as again:  # the session had nothing left to send
        time.sleep(1.0)
        assert again.messages == 0 and h.engine.ingest.take_inbox() is None


def test_a_paused_subscriber_feeds_nothing_and_loses_nothing(tmp_path, toy, mosquitto):
    """Paused (the server replays a recording or runs a branch), the subscriber leaves the
    broker; what devices publish meanwhile waits in the session, and reaches the ingest
    it feeds when it resumes: here a new one, as a new live twin would bring."""
    live = toy_twin(tmp_path / "live", toy)
    broker = mosquitto()
    topic = f"city/{DISTRICT}/TS-001/level"
    t0 = time.time() - 300
    with subscribed(broker.url, live.engine.ingest) as subscriber:
        publish(broker.port, topic, f'{{"t": {t0}, "v": 10}}')
        tick_until(live, lambda: live.engine.ingest.accepted == 1)
        on_loop(subscriber, subscriber.pause)
        until(lambda: not subscriber.connected, what="the subscriber to leave the broker")
        publish_lines(broker.port, topic, [f'{{"t": {t0 + k + 1}, "v": {k % 90}}}' for k in range(200)])
        time.sleep(1.0)
        assert not subscriber.connected and subscriber.connections == 1 and subscriber.messages == 1
        assert live.engine.ingest.take_inbox() is None  # nothing fed while paused
        back = toy_twin(tmp_path / "back", toy)
        on_loop(subscriber, lambda: subscriber.resume(back.engine.ingest))
        until(lambda: subscriber.connected and subscriber.connections == 2, what="the subscriber to come back")
        tick_until(back, lambda: back.engine.ingest.accepted == 200, what="the readings kept by the broker")
    assert live.engine.ingest.accepted == 1 and dict(back.engine.ingest.rejected) == {}
    assert back.value("T-001", "level") == 199 % 90


def test_a_silent_connection_is_made_again_and_loses_nothing(tmp_path, toy, mosquitto, caplog):
    """No message for ``quiet`` seconds: the subscriber reconnects (a broker can sit on a
    session's queue until its client does), says so once per silence, and what is
    published meanwhile or after arrives."""
    caplog.set_level(logging.INFO, logger="twin.mqtt")
    h = toy_twin(tmp_path, toy)
    broker = mosquitto()
    with subscribed(broker.url, h.engine.ingest, quiet=0.5) as subscriber:
        until(lambda: subscriber.connections >= 3, what="two reconnections in the silence")
        publish(broker.port, f"city/{DISTRICT}/TS-001/level", f'{{"t": {time.time() - 1}, "v": 12}}')
        tick_until(h, lambda: h.engine.ingest.accepted == 1)
        reconnects = subscriber.connections
        until(lambda: subscriber.connections > reconnects, what="a reconnection in the next silence")
    said = [r for r in caplog.records if r.getMessage() == "mqtt: no message; reconnecting"]
    assert len(said) == 2 and dict(h.engine.ingest.rejected) == {}  # once per silence, not once per reconnection
    assert h.value("T-001", "level") == 12.0
