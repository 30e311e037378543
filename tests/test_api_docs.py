"""docs/api.md cannot drift from the declarations, and its curl examples work.

- the generated sections (routes, errors, shapes) are what twin.serving.openapi makes
  from the route table today (``python -m twin.serving.openapi --write docs/api.md``);
- every route and every error code is on the page;
- each marked curl example is cut out of the page and run against a real twin of the
  demo district, and its output is what the page says (slow: it builds the demo).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import msgspec
import pytest
from conftest import running, wait_healthy

from twin.serving.openapi import SECTIONS, document, rewrite
from twin.serving.protocol import ApiErrorCode
from twin.serving.routes import api_routes

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "api.md"
EXAMPLE = re.compile(r"<!-- example: (?P<name>[\w-]+) -->\n```sh\n(?P<script>.*?)```\n<!-- end example -->", re.S)


def test_the_generated_sections_are_in_step_with_the_declarations():
    text = DOC.read_text(encoding="utf-8")
    for name in SECTIONS:
        assert f"<!-- generated: {name} -->" in text, f"docs/api.md lost its generated section {name}"
    assert rewrite(text) == text, "docs/api.md is out of date: run `python -m twin.serving.openapi --write docs/api.md`"


def test_every_route_role_and_error_code_is_on_the_page():
    text = DOC.read_text(encoding="utf-8")
    for route in api_routes():
        row = f"| {route.method} | `{route.open_path}` | {' or '.join(route.roles) or 'none'} |"
        assert row in text, f"docs/api.md has no row {row}"
    for code in ApiErrorCode:
        assert f"| `{code.value}` |" in text
    for name in document()["components"]["schemas"]:
        assert f"### {name}\n" in text


def test_rewrite_replaces_a_stale_section_and_keeps_the_prose():
    text = DOC.read_text(encoding="utf-8")
    stale = text.replace("| GET | `/api/scene` |", "| GET | `/api/scenery` |")
    assert stale != text and rewrite(stale) == text


def _examples() -> dict[str, str]:
    found = {m.group("name"): m.group("script") for m in EXAMPLE.finditer(DOC.read_text(encoding="utf-8"))}
    assert {"health", "alarms", "acknowledge", "action", "refusal", "openapi"} <= set(found), sorted(found)
    return found


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_the_curl_examples_work_against_the_demo(tmp_path):
    from twin.runtime import open_twin
    from twin.serving.routes.alarms import AlarmActed
    from twin.serving.server import create_app

    examples = _examples()

    def build():
        return open_twin(None, tmp_path / "twin", simulate=False, persist=False)  # the demo district

    def run(name: str, url: str, **subs: str) -> str:
        script = examples[name].replace("http://127.0.0.1:8000", url)
        for old, new in subs.items():
            script = script.replace(old, new)
        done = subprocess.run(["bash", "-ec", script], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                              env={**os.environ, "PYTHONIOENCODING": "utf-8"})
        assert done.returncode == 0, f"example {name} failed:\n{script}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    server = create_app(build, speed=20.0, data_dir=tmp_path / "data")
    with running(server.app) as url, httpx.Client(base_url=url, timeout=30) as client:
        wait_healthy(client, 120)
        out = run("health", url)
        assert '"status":"ok"' in out and "demo ['bridge', 'drainage', 'gas', 'tunnel']" in out

        out = run("action", url)
        assert "'gas.leak'" in out and "'sensor.dead'" in out
        applied = json.loads(out.splitlines()[-1])["applied"]
        assert applied["action"] == "gas.leak" and applied["target"] == "G-M-0028" and applied["params"] == {"diameter": 0.2}

        # the leak raises an alarm to look at and acknowledge
        deadline = time.monotonic() + 60
        while not (alarms := [a for a in client.get("/api/alarms").json()["alarms"] if a["state"] == "raised"]):
            assert time.monotonic() < deadline, "the leak raised no alarm"
            time.sleep(0.2)
        alarm = alarms[0]["id"]

        out = run("alarms", url, **{"/api/alarms/1": f"/api/alarms/{alarm}"})
        assert f'"id":{alarm},' in out
        out = run("acknowledge", url, **{"/api/alarms/1/": f"/api/alarms/{alarm}/"})
        acted = msgspec.json.decode(out, type=AlarmActed)
        assert acted.alarm["state"] == "acknowledged" and acted.alarm["actions"][-1]["note"] == "crew on the way"

        script = examples["refusal"]
        said = re.search(r"^# (.*)$", script, re.M).group(1)
        assert run("refusal", url).strip() == said

        run("openapi", url)
        assert json.loads((tmp_path / "openapi.json").read_text()) == json.loads(msgspec.json.encode(document()))
