"""The real path, devices -> broker -> twin: the device fleet (``twin devices run``,
twin.sources.fleet), a real mosquitto on loopback, ``twin serve --mqtt`` and the twin's
commands back to the field.

The fleet's truth is checked in process where a test needs to look inside it (faults,
gateways' batches); end to end, the fleet and the twin are separate processes and the
test sees only what a user sees: HTTP answers, and the broker's traffic through
``mosquitto_sub``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conftest import free_port, running, wait_for, wait_healthy
from twin.cli import main
from twin.errors import TwinError
from twin.sources.commands import Command, decode_command, encode_command
from twin.sources.fleet import Fault, Fleet, load_faults, parse_fault
from twin.sources.payloads import decode_readings
from twin.authoring.testing import Harness

ROOT = Path(__file__).resolve().parent.parent
TWIN = [sys.executable, "-m", "twin.cli"]


# -- the fleet in process: faults, gateways, commands -------------------------------------

def toy_fleet(tmp_path: Path, toy, **options) -> tuple[Harness, Fleet]:
    h = Harness(tmp_path / "scene", plugins=[toy], blocks=(2, 2), simulate=False)
    # no broker: these tests call measure() and messages() themselves; every sensor every
    # round (tests/test_ingest_intervals.py has sensors at their kinds' periods)
    options.setdefault("rate", 1.0)
    return h, Fleet(h.scene, h.registry, "mqtt://127.0.0.1:1", **options)


def readings(fleet: Fleet, rounds: int) -> list[dict[str, float]]:
    """Each round's measured values by sensor id."""
    ids = [s.id for s in fleet.scene.sensors]
    out = []
    for _ in range(rounds):
        index, values, _stamp = fleet.measure()
        out.append({ids[i]: v for i, v in zip(index.tolist(), values.tolist())})
    return out


def test_faults_take_effect_from_their_time_a_stuck_sensor_repeats_and_a_dead_one_is_silent(tmp_path, toy):
    faults = [parse_fault("sensor.stuck:TS-001@2"), parse_fault("sensor.dead:TS-002"),
              parse_fault("sensor.drift:TS-003:360@1")]
    h, fleet = toy_fleet(tmp_path, toy, faults=faults, start=1_777_593_600.0)
    for tank in ("T-000", "T-001", "T-003"):  # the truth fills: a healthy sensor's reading rises
        fleet.simulator.world.apply_action("toy.open_tap", tank, {"rate": 0.01})
    rounds = readings(fleet, 5)
    healthy = [r["TS-000"] for r in rounds]
    assert healthy == sorted(healthy) and healthy[0] < healthy[-1]
    stuck = [r["TS-001"] for r in rounds]
    assert stuck[0] < stuck[1] and stuck[1:] == [stuck[1]] * 4  # stuck at its reading at 2 s
    assert all("TS-002" not in r for r in rounds)  # dead from the first measurement: never sent
    # drifting 360 %/h = 0.1 %/s from 1 s on, beside its own tank's rise
    drift = [r["TS-003"] - r["TS-000"] for r in rounds]
    assert drift == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert fleet.faults == []


def test_readings_carry_wall_clock_times_even_when_the_truth_runs_faster(tmp_path, toy):
    h, fleet = toy_fleet(tmp_path, toy, speed=10.0, rate=2.0, start=1_777_593_600.0)
    stamps = [fleet.measure()[2] for _ in range(3)]
    assert stamps == [1_777_593_600.5, 1_777_593_601.0, 1_777_593_601.5]
    assert fleet.simulator.world.time == pytest.approx(1_777_593_600.0 + 15.0)  # 3 rounds of 5 s of physics


def test_gateways_send_each_sensors_buffered_readings_as_one_array(tmp_path, toy):
    h, fleet = toy_fleet(tmp_path, toy, gateway_every=3.0, start=1_777_593_600.0)
    sent = [fleet.messages(*fleet.measure()) for _ in range(6)]
    assert [len(s) for s in sent] == [0, 0, len(h.scene.sensors), 0, 0, len(h.scene.sensors)]
    topic, payload = sent[2][0]
    sensor = topic.split("/")[2]
    batch = decode_readings(sensor, payload)
    assert [r.time for r in batch] == [1_777_593_601.0, 1_777_593_602.0, 1_777_593_603.0]
    assert topic == f"city/harness/{sensor}/level"


def test_a_command_from_the_twin_acts_on_the_truth_between_steps(tmp_path, toy):
    h, fleet = toy_fleet(tmp_path, toy, start=1_777_593_600.0)
    command = Command("toy.open_tap", "T-000", {"rate": 0.05}, "director", 1_777_593_600.0)
    assert fleet._on_message(None, "city/harness/cmd/T-000", encode_command(command), 1, {}) == 0
    fleet._on_message(None, "city/harness/cmd/T-001", b'{"action": "toy.open_tap", "target": "T-001", "params": {"rate": 99}}', 1, {})
    fleet._on_message(None, "city/harness/cmd/T-002", b"not json", 1, {})
    fleet._on_message(None, "city/harness/cmd/TS-002", b'{"action": "sensor.dead", "target": "TS-002"}', 1, {})
    first = readings(fleet, 1)[0]
    assert first["TS-000"] == pytest.approx(0.5)  # 0.05 m3/s into 10 m3 for 1 s: 0.5 %
    assert first["TS-001"] == 0.0  # 99 m3/s is outside the tap's range: refused
    assert "TS-002" not in first
    assert fleet.commands == 2 and fleet.refused == 2


def test_faults_and_commands_are_refused_in_one_line(tmp_path, toy):
    for text, words in [("sensor.melt:S-1", "unknown fault 'sensor.melt'"), ("sensor.stuck", "expected ACTION:SENSOR"),
                        ("sensor.drift:S-1", "needs its rate"), ("sensor.dead:S-1:3", "takes no rate"),
                        ("sensor.dead:S-1@soon", "'soon' after @ is not seconds")]:
        with pytest.raises(TwinError, match=words) as info:
            parse_fault(text)
        assert "\n" not in str(info.value) and text in str(info.value)
    file = tmp_path / "faults.toml"
    file.write_text('[[faults]]\nat = "00:00:05"\naction = "sensor.stuck"\ntarget = "TS-001"\n\n'
                    '[[faults]]\nat = 3\naction = "sensor.bend"\ntarget = "TS-002"\n', encoding="utf-8")
    with pytest.raises(TwinError, match=r"faults.toml:6 \[\[faults\]\] #2: action = 'sensor.bend'; valid: sensor.stuck"):
        load_faults(file)
    file.write_text('[[faults]]\nat = "00:00:05"\naction = "sensor.drift"\ntarget = "TS-001"\nparams = { rate = 2 }\n',
                    encoding="utf-8")
    assert load_faults(file) == [Fault(5.0, "sensor.drift", "TS-001", {"rate": 2.0}, f"{file}:1 [[faults]] #1")]
    with pytest.raises(TwinError, match="--fault 'sensor.dead:NOPE': no sensor 'NOPE' in the scene"):
        toy_fleet(tmp_path, toy, faults=[parse_fault("sensor.dead:NOPE")])
    assert decode_command("city/harness/cmd/T-000", b'{"target": "T-000"}', "harness").detail.startswith(
        "command on 'city/harness/cmd/T-000': Object missing required field `action`")


# -- the twin's side: actions to the field, its health follows the broker -----------------

def test_a_twin_without_a_simulator_checks_actions_and_hands_them_to_its_actuator(tmp_path, toy):
    h = Harness(tmp_path / "scene", plugins=[toy], blocks=(2, 2), simulate=False)
    sent: list[tuple] = []
    h.engine.actuator = lambda *command: sent.append(command)
    h.engine.apply_action("toy.open_tap", "T-000", {"rate": 2}, who="director")
    h.engine.apply_action("sensor.drift", "TS-001", {"rate": 1.5})
    assert sent == [("toy.open_tap", "T-000", {"rate": 2}, "director"), ("sensor.drift", "TS-001", {"rate": 1.5}, "")]
    assert h.value("T-000", "inflow") == 0.0  # the twin's own world learns it from the readings
    for name, target, params, error in [("toy.open_tap", "T-000", {"rate": 11}, ValueError),
                                        ("toy.open_tap", "TS-000", {"rate": 1}, KeyError),
                                        ("sensor.stuck", "T-000", {}, KeyError), ("sensor.dead", "TS-000", {"rate": 1}, ValueError)]:
        with pytest.raises(error):
            h.engine.apply_action(name, target, params)
    assert len(sent) == 2 and len(h.engine.actions) == 2

    def unreachable(*command):
        raise ConnectionError("not connected to the MQTT broker")

    h.engine.actuator = unreachable
    with pytest.raises(ConnectionError):
        h.engine.apply_action("toy.open_tap", "T-001", {"rate": 1})
    assert len(h.engine.actions) == 2  # not sent, not recorded as done


def test_the_twins_health_follows_its_broker_and_commands_travel_on_it(tmp_path, toy, mosquitto):
    from twin.serving.server import create_app
    from twin.sources.broker import Broker

    port = free_port()
    h = Harness(tmp_path / "scene", plugins=[toy], blocks=(2, 2), simulate=False)
    server = create_app(lambda: h.engine, data_dir=tmp_path / "data", mqtt_url=f"mqtt://127.0.0.1:{port}")
    with running(server.app) as url, httpx.Client(base_url=url, timeout=10) as http:
        body = wait_for(lambda: (r := http.get("/api/health")).status_code == 503 and "cannot connect" in r.text and r.json(),
                        what="health to say the broker cannot be reached")
        assert body["subsystems"]["mqtt"]["state"] == "degraded"
        assert f"broker mqtt://127.0.0.1:{port}: cannot connect" in body["detail"]
        refused = http.post("/api/actions", json={"action": "toy.open_tap", "target": "T-000", "params": {"rate": 1}})
        assert refused.status_code == 503 and "not sent to the field" in refused.json()["error"]

        broker = Broker(tmp_path / "broker", port).start()  # the broker comes up on the twin's URL
        try:
            wait_healthy(http, 30)
            metrics = http.get("/metrics").text
            assert "twin_mqtt_connected 1.0" in metrics and 'twin_subsystem_up{subsystem="mqtt"} 1.0' in metrics
            sub = subprocess.Popen(["mosquitto_sub", "-p", str(port), "-V", "5", "-q", "1", "-t", "city/harness/cmd/#", "-v",
                                    "-C", "1", "-W", "20"], stdout=subprocess.PIPE, text=True)
            time.sleep(0.5)  # mosquitto_sub subscribes before the command is sent
            sent = http.post("/api/actions", json={"action": "toy.open_tap", "target": "T-000", "params": {"rate": 1}})
            assert sent.status_code == 200, sent.text
            topic, payload = sub.communicate(timeout=30)[0].strip().split(" ", 1)
            assert topic == "city/harness/cmd/T-000"
            assert json.loads(payload) == {"action": "toy.open_tap", "target": "T-000", "params": {"rate": 1.0},
                                           "who": "open", "time": h.engine.actions[-1]["time"]}
            assert "twin_mqtt_commands_total 1.0" in http.get("/metrics").text
        finally:
            broker.stop()
        body = wait_for(lambda: (r := http.get("/api/health")).status_code == 503 and "mqtt" in r.json()["subsystems"]
                        and r.json()["subsystems"]["mqtt"]["state"] == "degraded" and r.json(), what="health to see the loss")
        assert "twin_mqtt_connected 0.0" in http.get("/metrics").text
        alarms = http.get("/api/alarms").json()["alarms"]
        assert [a["asset"] for a in alarms if a["rule"] == "system.mqtt"] == ["subsystem:mqtt"]


@pytest.fixture
def cli_logging() -> Iterator[None]:
    """`twin.cli.main` points the root logger at the stderr of the moment (capsys's);
    put the test session's handlers back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("argv, words", [
    (["--mqtt", "http://127.0.0.1:1883"], "MQTT URL 'http://127.0.0.1:1883': expected mqtt://HOST[:PORT]"),
    (["--source", "mqtt"], "--source mqtt needs --mqtt"),
    (["--mqtt", "mqtt://127.0.0.1:1883", "--source", "sim"], "--source sim runs the in-process simulator"),
    (["--mqtt", "mqtt://127.0.0.1:1883", "--fast"], "--mqtt runs the twin on the wall clock"),
    (["--mqtt", "mqtt://127.0.0.1:1883", "--replay", "x.mcap"], "--mqtt and --replay exclude each other"),
    (["--mqtt", "mqtt://127.0.0.1:1883", "--mqtt-password-file", "/nonexistent/pw"], "--mqtt-password-file /nonexistent/pw: cannot read it"),
    (["--mqtt-user", "twin"], "--mqtt-user and --mqtt-password-file need --mqtt"),
])
def test_serve_refuses_bad_mqtt_options_in_one_line(tmp_path, capsys, cli_logging, argv, words):
    assert main(["serve", "--data", str(tmp_path / "data"), *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err


def test_devices_run_refuses_bad_options_in_one_line(tmp_path, capsys, cli_logging):
    for argv, words in [(["--mqtt", "mqtt://127.0.0.1:1", "--fault", "sensor.melt:X"], "unknown fault 'sensor.melt'"),
                        (["--mqtt", "tcp://127.0.0.1:1"], "MQTT URL 'tcp://127.0.0.1:1'"),
                        (["--mqtt", "mqtt://127.0.0.1:1", "--rate", "0"], "--rate 0: expected a number above zero"),
                        (["--mqtt", "mqtt://127.0.0.1:1", "--faults", str(tmp_path / "none.toml")], "none.toml: no such file")]:
        assert main(["devices", "run", "--data", str(tmp_path / "data"), *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("twin devices: ") and words in err and err.count("\n") == 1, err


# -- end to end: separate processes -------------------------------------------------------

def gas_city(root: Path) -> Path:
    """A small gas-only city with one background incident: a 50 mm hole in G-M-0001 two
    seconds in, beside a valve well and a manhole with methane detectors."""
    import twin_gas.plugin

    from twin.authoring.citygen import plan_city, populate, write_scene
    from twin.plugins.registry import load_registry

    registry = load_registry([twin_gas.plugin], entry_points=False)
    plan = plan_city(3, 3, 3, buildings=False)
    populate(plan, registry)
    write_scene(plan, root, "gastown", registry)
    with (root / "scene.toml").open("a", encoding="utf-8") as toml:
        toml.write('\n[[incidents]]\nat = 2.0\naction = "gas.leak"\nasset = "G-M-0001"\nparams = { diameter = 0.05 }\n')
    return root


@dataclass
class Field:
    url: str
    broker_port: int
    token: str
    fleet: subprocess.Popen
    twin: subprocess.Popen
    logs: Path
    traffic: Path


def asset(field: Field, asset_id: str) -> dict:
    r = httpx.get(f"{field.url}/api/assets/{asset_id}", headers={"Authorization": f"Bearer {field.token}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def sensor(field: Field, asset_id: str, sensor_id: str) -> dict:
    return next(s for s in asset(field, asset_id)["sensors"] if s["id"] == sensor_id)


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"{process.args[:4]} did not stop within 30 s of signal {sig}") from None


@pytest.fixture(scope="module")
def field(tmp_path_factory) -> Iterator[Field]:
    """mosquitto, `twin devices run` (the truth ten times faster, with faults on its
    command line) and `twin serve --mqtt` in tokens mode, on a small gas city."""
    from twin.sources.broker import Broker, mosquitto_path

    try:
        mosquitto_path()
    except TwinError as exc:
        pytest.skip(str(exc))
    root = tmp_path_factory.mktemp("fleet")
    scene = gas_city(root / "gastown")
    env = dict(os.environ, TWIN_PLUGINS="gas")
    data = root / "data"
    made = subprocess.run([*TWIN, "token", "add", "director", "--name", "director", "--data", str(data)], env=env,
                          capture_output=True, text=True, check=True)
    token = made.stdout.strip().splitlines()[-1]
    broker = Broker(root / "broker").start()
    traffic = root / "traffic.txt"
    logs = root / "logs"
    logs.mkdir()
    port = free_port()
    with traffic.open("w") as seen, (logs / "twin.log").open("w") as twin_log, (logs / "fleet.log").open("w") as fleet_log:
        sub = subprocess.Popen(["mosquitto_sub", "-p", str(broker.port), "-V", "5", "-q", "1", "-t", "city/gastown/#", "-v"],
                               stdout=seen, stderr=subprocess.STDOUT)
        twin = subprocess.Popen([*TWIN, "serve", str(scene), "--mqtt", broker.url, "--port", str(port), "--data", str(data)],
                                env=env, stdout=subprocess.DEVNULL, stderr=twin_log)
        # --rate 1: every sensor every second (its kind's period would be 5-60 s), so that the
        # tests see several readings of a sensor in seconds
        fleet = subprocess.Popen([*TWIN, "devices", "run", str(scene), "--mqtt", broker.url, "--speed", "10", "--rate", "1", "--data",
                                  str(data), "--fault", "sensor.stuck:GS-P-0002@3", "--fault", "sensor.dead:GS-CH4-0005"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=fleet_log)
    url = f"http://127.0.0.1:{port}"
    try:
        yield Field(url, broker.port, token, fleet, twin, logs, traffic)
    finally:
        for process in (fleet, twin):
            if process.poll() is None:
                process.kill()
                process.wait()
        sub.terminate()
        sub.wait()
        broker.stop()


def healthy(field: Field) -> dict:
    with httpx.Client(base_url=field.url, timeout=10, headers={"Authorization": f"Bearer {field.token}"}) as http:
        return wait_healthy(http, 90, log=field.logs / "twin.log")


@pytest.mark.slow
def test_readings_cross_the_broker_and_raise_the_gas_alarm(field):
    health = healthy(field)
    assert health["subsystems"]["mqtt"]["state"] == "ok"
    # a reading published by the fleet, seen by mosquitto_sub and taken by the twin
    reading = wait_for(lambda: (s := sensor(field, "G-MH-0001", "GS-CH4-0002"))["last_time"] and s, 30,
                       what="a methane reading of G-MH-0001 in the twin")
    assert abs(reading["last_time"] - time.time()) < 10  # wall-clock times
    assert f"city/gastown/GS-CH4-0002/ch4 " in field.traffic.read_text()
    # the leak happens in the fleet's truth; the twin learns of it from the detectors
    alarm = wait_for(lambda: [a for a in asset(field, "G-MH-0001")["alarms"] if a["rule"] == "gas.lel"], 60,
                     what="the gas alarm on G-MH-0001")
    assert alarm[0]["level"] >= 1
    metrics = httpx.get(f"{field.url}/metrics", headers={"Authorization": f"Bearer {field.token}"}).text
    assert "twin_mqtt_connected 1.0" in metrics


@pytest.mark.slow
def test_faults_on_the_fleets_command_line_show_as_stuck_and_dead_readings(field):
    healthy(field)
    wait_for(lambda: sensor(field, "G-M-0002", "GS-P-0002")["last_time"], 30, what="a pressure reading")
    seen: list[tuple[float, float]] = []

    def five_readings() -> bool:
        s = sensor(field, "G-M-0002", "GS-P-0002")
        if not seen or s["last_time"] != seen[-1][0]:
            seen.append((s["last_time"], s["last_value"]))
        return len(seen) >= 5

    wait_for(five_readings, 30, what="five pressure readings")
    assert len({v for _, v in seen}) == 1 and len({t for t, _ in seen}) == 5  # fresh readings, one stuck value
    assert sensor(field, "G-M-0001", "GS-P-0001")["last_value"] != seen[0][1]  # a healthy one's noise
    dead = sensor(field, "G-MH-0003", "GS-CH4-0005")
    assert dead["last_time"] is None and dead["stale"]
    assert "city/gastown/GS-CH4-0005/" not in field.traffic.read_text()


@pytest.mark.slow
def test_a_directors_command_reaches_the_fleet_and_changes_the_truth(field):
    healthy(field)
    wait_for(lambda: sensor(field, "G-V-0001", "GS-VP-0001")["last_value"] == 1.0, 30, what="the valve reported open")
    r = httpx.post(f"{field.url}/api/actions", headers={"Authorization": f"Bearer {field.token}"}, timeout=10,
                   json={"action": "gas.close_valve", "target": "G-V-0001", "params": {}})
    assert r.status_code == 200, r.text
    assert r.json()["applied"]["who"] == "director"
    closed = wait_for(lambda: (s := sensor(field, "G-V-0001", "GS-VP-0001"))["last_value"] == 0.0 and s, 30,
                      what="the valve's reading to say closed")
    assert closed["last_time"] > time.time() - 10
    sent = [line for line in field.traffic.read_text().splitlines() if line.startswith("city/gastown/cmd/")]
    assert len(sent) == 1 and json.loads(sent[0].split(" ", 1)[1])["action"] == "gas.close_valve"
    assert '"msg": "command applied"' in (field.logs / "fleet.log").read_text()


@pytest.mark.slow
def test_the_fleet_and_the_twin_stop_cleanly(field):
    healthy(field)
    assert stop(field.fleet, signal.SIGINT) == 0
    log = (field.logs / "fleet.log").read_text()
    stopped = [json.loads(line) for line in log.splitlines() if '"fleet stopped"' in line]
    assert stopped and stopped[0]["published"] > 0 and stopped[0]["dropped"] == 0
    assert stop(field.twin) in (0, -signal.SIGTERM)
    assert "Traceback" not in (field.logs / "fleet.log").read_text()


# -- scripts/demo ---------------------------------------------------------------------------

def session_processes(sid: int) -> list[str]:
    """The command lines of the processes still in session ``sid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) == sid:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip())
        except (OSError, ProcessLookupError):
            continue  # gone meanwhile
    return found


@pytest.mark.slow
def stop_demo(demo: subprocess.Popen, log: Path) -> int:
    """SIGTERM to ``scripts/demo`` (if still running) and its exit status; killed, with
    the end of its log in the failure, when it does not stop within 60 s."""
    if demo.poll() is None:
        demo.send_signal(signal.SIGTERM)
    try:
        return demo.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(demo.pid, signal.SIGKILL)
        raise AssertionError(f"scripts/demo did not stop within 60 s of SIGTERM:\n{log.read_text()[-3000:]}") from None


def test_scripts_demo_runs_the_real_path_and_leaves_nothing_behind(tmp_path):
    from twin.sources.broker import mosquitto_path

    try:
        mosquitto_path()
    except TwinError as exc:
        pytest.skip(str(exc))
    port = free_port()
    log = tmp_path / "demo.log"
    env = dict(os.environ, TWIN_DATA=str(tmp_path / "data"))  # the twin's and the fleet's data folder
    with log.open("w") as out:
        demo = subprocess.Popen([str(ROOT / "scripts" / "demo"), "--port", str(port)], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        health = wait_healthy(url, 240, log=log)
        assert health["subsystems"]["mqtt"]["state"] == "ok"
        started = time.time()
        running_now = session_processes(demo.pid)
        assert any("mosquitto -c" in c for c in running_now) and any("twin devices run" in c for c in running_now), running_now
        # a reading that crossed the broker: this twin has no simulator, only the subscription
        reading = wait_for(lambda: (s := httpx.get(f"{url}/api/assets/G-MH-0055").json()["sensors"][0])["last_time"] and s,
                           60, what="a reading of G-MH-0055's detector")
        assert abs(reading["last_time"] - time.time()) < 10
        metrics = httpx.get(f"{url}/metrics").text
        assert "twin_mqtt_connected 1.0" in metrics and "twin_mqtt_messages_total 0.0" not in metrics
        # the demo's background gas leak happens in the fleet's truth; the README promises
        # its alarm within the first two minutes
        wait_for(lambda: [a for a in httpx.get(f"{url}/api/assets/G-MH-0055").json()["alarms"] if a["rule"] == "gas.lel"],
                 150, what="the demo's gas alarm on G-MH-0055")
        assert time.time() - started < 150
        # the field was up before the twin: no device was silent on its watch (a twin
        # started beside the fleet called 50 of them offline, and a summary, before the
        # fleet's first reading)
        time.sleep(max(0.0, started + 20 - time.time()))  # past the devices' interval (15 s for most)
        alarms = httpx.get(f"{url}/api/alarms").json()["alarms"]
        assert [a["asset"] for a in alarms if a["rule"] == "system.sensor_offline"] == []
    finally:
        status = stop_demo(demo, log)
    assert status == 143  # stopped by SIGTERM, through its trap
    wait_for(lambda: not session_processes(demo.pid), 10, what="the broker, the fleet and the server to be gone")
    text = log.read_text()
    folder = re.search(r"broker config in (\S+)/broker", text)
    assert folder and not Path(folder.group(1)).exists()  # the throw-away folder went with it
    assert "Traceback" not in text


@pytest.mark.slow
def test_scripts_demo_with_the_simulator_still_sends_the_notify_demos_notifications(tmp_path):
    # `--source sim` once exec'd the server before the --notify-demo block: no receiver,
    # no notifications.toml, and nothing said
    port = free_port()
    log = tmp_path / "demo.log"
    env = dict(os.environ, TWIN_DATA=str(tmp_path / "data"))
    with log.open("w") as out:
        demo = subprocess.Popen([str(ROOT / "scripts" / "demo"), "--source", "sim", "--notify-demo", "--speed", "10",
                                 "--port", str(port)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, 240, log=log)
        running_now = session_processes(demo.pid)
        assert any("twin.loop.notify.receiver" in c for c in running_now), running_now
        assert not any("mosquitto" in c or "twin devices run" in c for c in running_now), running_now
        [webhook] = [c for c in httpx.get(f"{url}/api/notifications").json()["channels"] if c["name"] == "demo-webhook"]
        assert webhook["kind"] == "webhook"
        # the background gas leak's incident, signed and checked by the receiver, printed
        wait_for(lambda: re.search(r"^raised incident \d+: .*燃气", log.read_text(), re.M), 150,
                 what="the receiver to print the gas leak's incident")
    finally:
        status = stop_demo(demo, log)
    assert status == 143
    wait_for(lambda: not session_processes(demo.pid), 10, what="the receiver and the server to be gone")
    text = log.read_text()
    folder = re.search(r"data folder (\S+)/data\)", text)
    assert folder and not Path(folder.group(1)).exists()  # the throw-away data folder went with it
    assert "Traceback" not in text
