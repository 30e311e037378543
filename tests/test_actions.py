"""Every action listed alike (twin plugins, /api/actions, /api/scene), and the page's
example of running one on a live twin, run as written against `twin serve`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import free_port, running, wait_healthy

from twin.plugins.actions import SENSOR_FAULTS, catalogue, lines
from twin.plugins.registry import load_registry
from twin.tick.simulator import Simulator

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "plugins.md"
EXAMPLE = re.compile(r"<!-- example: run-action[^>]*-->\n```sh\n(?P<script>.*?)```\n<!-- end example -->", re.S)


def test_catalogue_gives_params_units_ranges_and_target_kinds(toy):
    registry = load_registry([toy], entry_points=False)
    records = {a["name"]: a for a in catalogue(registry)}
    assert records["toy.open_tap"] == {
        "name": "toy.open_tap", "domain": "toy", "plugin": "toy", "target": "asset",
        "kinds": ["tank"],  # the action names none: every kind of its domain
        "description": "open the inflow",
        "params": [{"name": "rate", "unit": "m3/s", "description": "inflow", "default": None, "valid": [0.0, 10.0]}],
    }
    assert [line.strip() for line in lines(records["toy.open_tap"])] == [
        "toy.open_tap  on toy tank: open the inflow", "rate (m3/s) in [0, 10], required: inflow"]
    drift = records["sensor.drift"]
    assert (drift["target"], drift["plugin"], drift["params"][0]["valid"]) == ("sensor", "core", [None, None])
    json.dumps(list(records.values()), allow_nan=False)  # JSON as it is: no inf, no NaN


def test_sensor_faults_listed_are_the_simulators(tmp_path, toy):
    from twin.authoring.testing import Harness

    assert [name for name, _, _ in SENSOR_FAULTS] == list(Simulator.FAULTS)
    h = Harness(tmp_path, plugins=[toy], blocks=(2, 2))
    for name, _, params in SENSOR_FAULTS:
        # each runs with every parameter listed for it, as a director's POST would
        h.engine.apply_action(name, "TS-000", {p.name: 1.0 for p in params})
    assert [a["action"] for a in h.engine.actions] == list(Simulator.FAULTS)
    h.close()


def test_twin_plugins_lists_every_action_with_its_parameters(tmp_path):
    out = subprocess.run([sys.executable, "-m", "twin.cli", "plugins", "--data", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    registry = load_registry()
    for record in catalogue(registry):
        for line in lines(record):
            assert line in out, f"twin plugins does not list {record['name']!r}: {line!r}"
    assert "      gas.leak  on gas main: a hole opens in a main\n" in out
    assert "          diameter (m) in [0.0005, 1.6], required: equivalent diameter of the hole\n" in out
    # each action under its own plugin
    assert out.index("gas.leak") > out.index("gas 0.1.0") and out.index("gas.leak") < out.index("tunnel 0.1.0")


def test_api_scene_and_api_actions_list_the_same_actions(tmp_path, toy):
    from twin.serving.server import create_app
    from twin.authoring.testing import Harness

    made = {}

    def build():
        made["h"] = Harness(tmp_path, plugins=[toy], blocks=(2, 2))
        return made["h"].engine

    server = create_app(build, speed=20.0)
    with running(server.app) as url, httpx.Client(base_url=url, timeout=10) as client:
        wait_healthy(client)
        listed = client.get("/api/actions").json()["actions"]
        assert client.get("/api/scene").json()["actions"] == listed == catalogue(made["h"].registry)
        assert {a["name"] for a in listed} == {"toy.open_tap", *Simulator.FAULTS}


@pytest.mark.slow
def test_the_pages_curl_example_runs_an_action_on_a_live_twin(tmp_path):
    """docs/plugins.md's example, as written (only the port changed), against the demo
    served by `twin serve` in open mode: the token it adds locks the running twin, and the
    action it posts is applied, by the token's name."""
    found = EXAMPLE.search(DOC.read_text(encoding="utf-8"))
    assert found, "docs/plugins.md lost its run-action example"
    script = found.group("script")
    assert "http://127.0.0.1:8000/" in script
    port = free_port()
    demo = tmp_path / "demo"
    demo.mkdir()
    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", demo / "scene.toml")
    bin_dir = str(Path(sys.executable).parent)  # where `twin` is installed beside this Python
    env = {**os.environ, "TWIN_DATA": str(tmp_path / "data"), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "twin.cli", "serve", str(demo), "--port", str(port)],
                                  env=env, stdout=out, stderr=out)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, 120, log=log)
        ran = subprocess.run(["bash", "-euo", "pipefail", "-c", script.replace("127.0.0.1:8000", f"127.0.0.1:{port}")],
                             env=env, capture_output=True, text=True, timeout=60)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        answer = json.loads(ran.stdout)
        assert answer["applied"]["action"] == "gas.leak" and answer["applied"]["target"] == "G-M-0028"
        assert answer["applied"]["params"] == {"diameter": 0.012} and answer["applied"]["who"] == "drill-lead"

        # What the page says of the listing and of mistakes holds on this twin too.
        from twin.serving.access import TokenStore

        store = TokenStore(tmp_path / "data")
        _, director = store.add("director", "checker")
        _, viewer = store.add("viewer", "wall")
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/api/actions").status_code == 401  # the example's token locked the twin
            as_director = {"Authorization": f"Bearer {director}"}
            listed = client.get("/api/actions", headers=as_director).json()["actions"]
            assert client.get("/api/scene", headers=as_director).json()["actions"] == listed
            assert {"name": "diameter", "unit": "m", "description": "equivalent diameter of the hole", "default": None,
                    "valid": [0.0005, 1.6]} in next(a for a in listed if a["name"] == "gas.leak")["params"]
            body = {"action": "gas.leak", "target": "G-M-0028", "params": {"diameter": 2.0}}
            wrong = client.post("/api/actions", json=body, headers=as_director)
            assert wrong.status_code == 400 and "action 'gas.leak': diameter = 2.0 m is outside [0.0005, 1.6]" in wrong.json()["error"]
            assert client.post("/api/actions", json=body, headers={"Authorization": f"Bearer {viewer}"}).status_code == 403
    finally:
        server.terminate()
        server.wait(timeout=30)

