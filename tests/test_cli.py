"""The `twin` command as a user runs it, with the installed built-in plugins."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[1]
TWIN = [sys.executable, "-m", "twin.cli"]


def twin(*args, data, check=True, **kw):
    env = {**os.environ, "TWIN_DATA": str(data)}
    result = subprocess.run([*TWIN, *args], capture_output=True, text=True, env=env, timeout=600, **kw)
    if check and result.returncode != 0:
        raise AssertionError(f"twin {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A copy of the demo scene (its data files are generated on first load)."""
    root = tmp_path_factory.mktemp("demo")
    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", root / "scene.toml")
    return root


def test_check_demo_prints_counts_per_domain_and_kind(demo, tmp_path):
    out = twin("check", str(demo), data=tmp_path).stdout
    for domain in ("gas", "drainage", "bridge", "tunnel"):
        assert f"\n  {domain}" in out
    assert "manhole" in out and "span" in out and "metro_station" in out and "valve_well" in out
    assert "incidents         4" in out and out.strip().endswith("assets")


def test_broken_scene_fails_naming_file_asset_and_field(demo, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(demo, broken)
    path = broken / "data" / "drainage.geojson"
    doc = json.loads(path.read_text())
    feature = next(f for f in doc["features"] if f["properties"]["kind"] == "pipe")
    feature["properties"]["diameter"] = -0.3
    path.write_text(json.dumps(doc))
    result = twin("check", str(broken), data=tmp_path, check=False)
    assert result.returncode == 1
    assert str(path) in result.stderr and feature["properties"]["id"] in result.stderr and "'diameter'" in result.stderr


def test_plugins_lists_the_four_builtins_active(tmp_path):
    out = twin("plugins", data=tmp_path).stdout
    for name in ("gas", "drainage", "bridge", "tunnel"):
        assert any(line.startswith(f"{name} 0.1.0  active") for line in out.splitlines()), out
    assert "twin_kernels" in out


def test_generate_writes_a_city_of_about_n_assets_that_checks(tmp_path):
    city = tmp_path / "city"
    result = twin("generate", str(city), "--assets", "5000", "--seed", "3", data=tmp_path)
    total = int(result.stdout.split(": ")[1].split(" assets")[0])
    assert 3500 <= total <= 7000
    assert "generating" in result.stderr  # the progress bar
    out = twin("check", str(city), data=tmp_path).stdout
    assert f"ok: {total} assets" in out


@pytest.mark.slow
def test_serve_answers_health_and_survives_sigkill_with_acknowledged_alarm(demo, tmp_path):
    """The README's demo command, and the durable alarm lifecycle: ack, SIGKILL, restart."""
    data = tmp_path / "data"
    port = free_port()
    env = {**os.environ, "TWIN_DATA": str(data)}

    log = (tmp_path / "serve.log").open("a")

    def start():
        return subprocess.Popen([*TWIN, "serve", str(demo), "--port", str(port), "--speed", "10"], env=env,
                                stdout=log, stderr=log)

    server = start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            assert wait_healthy(client, 120, process=server, log=tmp_path / "serve.log")["plugins"] == {"bridge": "active", "drainage": "active", "gas": "active", "tunnel": "active"}
            deadline = time.monotonic() + 60
            alarms = []
            while time.monotonic() < deadline and not alarms:
                alarms = [a for a in client.get("/api/alarms").json()["alarms"] if a["domain"] == "gas"]
                time.sleep(0.2)
            assert alarms, "the demo's background gas leak raised no alarm"
            target = alarms[0]
            r = client.post(f"/api/alarms/{target['id']}/ack", json={"who": "duty officer", "note": "crew on the way"})
            assert r.status_code == 200
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        server = start()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            wait_healthy(client, 120, process=server, log=tmp_path / "serve.log")
            recovered = {a["id"]: a for a in client.get("/api/alarms").json()["alarms"]}
            assert recovered[target["id"]]["state"] == "acknowledged"
            # the list carries summaries; the alarm's own route has its notes
            full = client.get(f"/api/alarms/{target['id']}").json()["alarm"]
            assert full["actions"][0]["note"] == "crew on the way"
            # the restarted engine does not raise a duplicate for the same asset and rule
            same = [a for a in recovered.values() if a["asset"] == target["asset"] and a["rule"] == target["rule"]]
            assert len(same) == 1
    finally:
        server.kill()
        server.wait(timeout=10)
        log.close()


def test_serve_refuses_a_public_address_without_tokens(tmp_path, demo):
    result = twin("serve", str(demo), "--host", "0.0.0.0", "--port", str(free_port()), data=tmp_path, check=False)
    assert result.returncode == 2
    assert "refusing to serve on 0.0.0.0 without access tokens" in result.stderr and "twin token add admin" in result.stderr


def test_token_add_list_revoke_stores_only_a_hash(tmp_path):
    out = twin("token", "add", "operator", "--name", "desk1", "--data", str(tmp_path), data=tmp_path).stdout
    token = out.strip().splitlines()[-1]
    assert len(token) >= 30
    stored = (tmp_path / "tokens.json").read_text()
    assert token not in stored and "desk1" in stored
    assert "desk1" in twin("token", "list", "--data", str(tmp_path), data=tmp_path).stdout
    twin("token", "revoke", "desk1", "--data", str(tmp_path), data=tmp_path)
    assert "no tokens" in twin("token", "list", "--data", str(tmp_path), data=tmp_path).stdout
