"""Real readings feed the live twin only: a server fed over MQTT that switches to a
replay (and from there to a branch) stops feeding the engine, and what devices publish
meanwhile waits in the broker for the live twin's session."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time

import httpx

from conftest import running, wait_for, wait_healthy
from twin.sources.mqtt import MqttSubscriber, client_id_for
from twin.tick.engine import Engine

DISTRICT = "gastown"


def gastown(root):
    """A small gas city (a branch loads the installed plugins: not the toy's) and its registry."""
    import twin_gas.plugin

    from twin.authoring.citygen import plan_city, populate, write_scene
    from twin.plugins.registry import load_registry
    from twin.runtime import open_scene

    registry = load_registry([twin_gas.plugin], entry_points=False)
    plan = plan_city(3, 3, 3, buildings=False)
    populate(plan, registry)
    write_scene(plan, root, DISTRICT, registry)
    return open_scene(root, registry), registry


def publish_lines(port: int, topic: str, lines: list[str]) -> None:
    result = subprocess.run(["mosquitto_pub", "-p", str(port), "-V", "5", "-q", "1", "-t", topic, "-l"],
                            input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr, result.stderr


def test_a_replay_stops_feeding_the_engine_and_the_broker_keeps_the_readings(tmp_path, mosquitto):
    from twin.serving.server import create_app

    broker = mosquitto()
    scene, registry = gastown(tmp_path / DISTRICT)
    first, second = [s.id for s in scene.sensors if s.field == "ch4"][:2]
    made: dict[str, Engine] = {}

    def build():
        made["live"] = Engine(scene, registry, simulate=False, start=round(time.time()))  # a live twin's wall clock
        return made["live"]

    data = tmp_path / "data"
    server = create_app(build, data_dir=data, record=tmp_path / "live.mcap", mqtt_url=broker.url)
    t0 = time.time() - 120
    with running(server.app) as url, httpx.Client(base_url=url, timeout=60) as http:
        wait_healthy(http, 60)
        wait_for(lambda: server.mqtt is not None and server.mqtt.connected, what="the subscriber to connect")
        live = made["live"]
        publish_lines(broker.port, f"city/{DISTRICT}/{first}/ch4", [f'{{"t": {t0}, "v": 1.5}}'])
        wait_for(lambda: live.ingest.accepted == 1, what="the live twin to apply the reading")

        opened = http.post("/api/replay", json={"action": "open"})
        assert opened.status_code == 200, opened.text
        assert server.mode == "replay"
        wait_for(lambda: server.mqtt.paused and not server.mqtt.connected, what="the subscriber to leave the broker")
        publish_lines(broker.port, f"city/{DISTRICT}/{second}/ch4", [f'{{"t": {t0 + k}, "v": {k / 10}}}' for k in range(1, 21)])
        time.sleep(1.5)
        assert server.mqtt.messages == 1 and server.mqtt.connections == 1  # nothing taken while replaying
        assert live.ingest.take_inbox() is None and server.engine.ingest.take_inbox() is None

        branched = http.post("/api/replay", json={"action": "branch"})
        assert branched.status_code == 200, branched.text
        assert server.mode == "live" and server.replay is None
        time.sleep(1.0)
        assert server.mqtt.paused and not server.mqtt.connected  # a branch runs on its simulator, not on the field
        assert server.mqtt.messages == 1

    # the live twin back (a restart, today): its session gets what was published meanwhile
    back = Engine(scene, registry, simulate=False, start=round(time.time()))
    subscriber = MqttSubscriber(broker.url, back.ingest, DISTRICT, client_id=client_id_for(DISTRICT, data))
    stop_loop: list[asyncio.AbstractEventLoop] = []
    stop = asyncio.Event()

    def run() -> None:
        loop = asyncio.new_event_loop()
        stop_loop.append(loop)
        loop.run_until_complete(subscriber.run(stop))
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: subscriber.messages == 20, what="the 20 readings kept by the broker")
        back.tick()
    finally:
        wait_for(lambda: stop_loop, what="the subscriber's loop")
        stop_loop[0].call_soon_threadsafe(stop.set)
        thread.join(15)
    i = back.ingest.sensor_index[second]
    assert back.ingest.accepted == 20 and back.ingest.last_value[i] == 2.0 and back.ingest.last_time[i] == t0 + 20
