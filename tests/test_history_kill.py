"""A `twin serve` of the demo killed with SIGKILL while it stores every reading: what its
history had written survives, and the restarted twin answers it (real processes, real files)."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
import pytest
from conftest import free_port, wait_for, wait_healthy

from twin.history import Store

#: a sensor of each domain of the demo
SENSORS = ("B-S-0001-SG", "GS-P-0001", "D-LS-0159", "T-P-0001-temperature")


def serve(data, log):
    port = free_port()
    with log.open("a") as out:
        process = subprocess.Popen([sys.executable, "-m", "twin.cli", "serve", "--data", str(data), "--port", str(port)],
                                   stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, 120, process=process, log=log)
    return process, httpx.Client(base_url=url, timeout=30)


def figures(client: httpx.Client) -> dict[str, float]:
    return {line.split()[0]: float(line.split()[1]) for line in client.get("/metrics").text.splitlines()
            if line.startswith("twin_history_")}


@pytest.mark.slow
def test_a_killed_twin_keeps_every_value_its_history_wrote(tmp_path):
    data, log = tmp_path / "data", tmp_path / "serve.log"
    process, client = serve(data, log)
    try:
        start = client.get("/api/health").json()["time"]

        def seen_enough():
            got = {s: client.get(f"/api/history/sensors/{s}", params={"from": start - 5}).json()["points"] for s in SENSORS}
            return got if all(len(p["t"]) >= 8 for p in got.values()) else None

        wait_for(seen_enough, 60, "eight readings of each sensor in the history")
        # what the history has written (acknowledged: appended to its log), then what queries see, then the kill
        before = figures(client)
        seen = {s: client.get(f"/api/history/sensors/{s}", params={"from": start - 5}).json()["points"] for s in SENSORS}
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        client.close()
        if process.poll() is None:
            process.kill()
            process.wait(30)
    assert before["twin_history_values_shed_total"] == 0 and before["twin_history_values_failed_total"] == 0
    written = before["twin_history_values_written_total"]
    assert written >= 8 * 977, before

    store = Store(data / "history")  # replays the pending log the killed process left
    try:
        stored = 0
        for key in store.catalogue():
            stored += len(store.raw(key, 0, 4e9)[0])
        # every value written before the kill is there; at most the batches then queued (and any
        # written after the figures were read) are more
        assert stored >= written, (stored, before)
        for sensor, points in seen.items():
            t, v, _q = store.raw(store.key(sensor), points["t"][0], points["t"][-1] + 0.001)
            assert t.tolist() == points["t"], sensor  # no reading lost, none added, in what queries saw
            assert [float(x) for x in v.astype(str)] == points["v"], sensor
    finally:
        store.close()

    # the twin starts again on the same folder and answers what the killed one stored
    process, client = serve(data, log)
    try:
        health = client.get("/api/health").json()
        assert health["subsystems"]["history"]["state"] == "ok"
        for sensor, points in seen.items():
            again = client.get(f"/api/history/sensors/{sensor}", params={"from": start - 5, "to": points["t"][-1] + 0.001}).json()
            assert again["points"] == points, sensor
            assert again["source"] == "raw"
    finally:
        client.close()
        process.send_signal(signal.SIGINT)  # a clean stop: the writer writes what is queued, the store closes
        process.wait(30)
    assert process.returncode == 0, log.read_text()[-2000:]


@pytest.mark.slow
def test_a_twin_switched_to_a_replay_still_answers_its_history(tmp_path):
    """A live server switched to replaying its own recording closes its live engine (the
    writer writes what is queued); a sensor's history then comes from the recording being
    replayed (docs/history.md, Replays), which holds every reading the live twin took."""
    data, log = tmp_path / "data", tmp_path / "serve.log"
    (data / "recordings").mkdir(parents=True)
    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "twin.cli", "serve", "--data", str(data), "--port", str(port),
                                    "--record", str(data / "recordings" / "live.mcap")], stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, 120, process=process, log=log)
        with httpx.Client(base_url=url, timeout=60) as client:
            start = client.get("/api/health").json()["time"]
            path = f"/api/history/sensors/{SENSORS[0]}"
            wait_for(lambda: len(client.get(path, params={"from": start - 5}).json()["points"]["t"]) >= 5, 60,
                     "five readings in the history")
            opened = client.post("/api/replay", json={"action": "open"})
            assert opened.status_code == 200, opened.text
            assert client.get("/api/replay").json()["playing"] is not None  # replaying now: the live engine is closed
            answer = client.get(path, params={"from": start - 5, "to": start + 3600})
            assert answer.status_code == 200, answer.text
            t = answer.json()["points"]["t"]
            assert len(t) >= 5 and t == sorted(set(t)) and t[0] >= start - 5
            assert answer.json()["source"] == "recording" and answer.json()["unit"] == "µε"
    finally:
        process.terminate()
        process.wait(30)
