"""A director releases a quarantined plugin once its cause is fixed:
``POST /api/plugins/{name}/release``. Real uvicorn on loopback, real tokens and alarm
store in a temporary data folder, and a plugin that fails while a switch the test flips
is on."""

from __future__ import annotations

import types

import httpx
import pytest
from conftest import running, wait_for

from brokenplugins import _module
from twin import Updater
from twin.authoring.testing import Harness
from twin.serving.access import ROLES, TokenStore
from twin.serving.server import create_app


def flaky(switch: dict) -> types.ModuleType:
    """An updater writing the toy tanks' inflow as ``switch["inflow"]``; it raises while
    ``switch["broken"]`` is true (a cut cable, say)."""

    def step(ctx):
        if switch["broken"]:
            raise RuntimeError(f"cable {switch['broken']} cut")
        ctx.table["inflow"][:] = switch["inflow"]

    return _module("flaky", twin_updaters=lambda: [Updater("feed", "toy", step, (), ("inflow",))])


def health(client):
    r = client.get("/api/health")
    return r.status_code, r.json()


def inflow_stale(client) -> bool:
    fields = client.get("/api/scene").json()["domains"]["toy"]["fields"]
    return next(f for f in fields if f["name"] == "inflow")["stale"]


def inflow(client, asset="T-000") -> float:
    return client.get(f"/api/assets/{asset}").json()["state"]["inflow"]


@pytest.fixture
def served(tmp_path, toy):
    store = TokenStore(tmp_path / "data")
    tokens = {role: store.add(role, f"{role}-1")[1] for role in ROLES}
    switch = {"broken": "", "inflow": 0.2}
    server = create_app(lambda: Harness(tmp_path / "scene", plugins=[toy, flaky(switch)], blocks=(2, 2), simulate=False,
                                        data_dir=tmp_path / "data").engine,
                        speed=10.0, data_dir=tmp_path / "data")
    with running(server.app) as url, httpx.Client(base_url=url, timeout=30) as client:
        client.headers["Authorization"] = f"Bearer {tokens['viewer']}"
        wait_for(lambda: health(client)[0] == 200, what="a healthy start")
        yield client, tokens, switch


def as_(tokens, role):
    return {"Authorization": f"Bearer {tokens[role]}"}


def test_a_director_releases_a_fixed_plugin_and_the_ticks_apply_its_updates_again(served):
    client, tokens, switch = served
    wait_for(lambda: inflow(client) == pytest.approx(0.2), what="the plugin's inflow")
    switch["broken"] = "A7"
    status, body = wait_for(lambda: (lambda r: r if r[1]["plugins"]["flaky"] == "quarantined" else None)(health(client)),
                            what="the quarantine")
    assert status == 503 and "plugin flaky quarantined" in body["detail"] and "cable A7 cut" in body["detail"]
    assert inflow_stale(client)

    # not yet fixed: released, it fails again and is quarantined again with the new reason
    switch["broken"] = "B2"
    r = client.post("/api/plugins/flaky/release", json={}, headers=as_(tokens, "director"))
    assert r.status_code == 200, r.text
    assert "cable A7 cut" in r.json()["was"] and r.json()["by"] == "director-1"
    _, body = wait_for(lambda: (lambda r: r if "cable B2 cut" in r[1].get("detail", "") else None)(health(client)),
                       what="the second quarantine")
    assert body["plugins"]["flaky"] == "quarantined" and inflow_stale(client)

    # fixed: released, health is 200 again and the ticks write its values
    switch.update(broken="", inflow=0.7)
    r = client.post("/api/plugins/flaky/release", json={"note": "cable replaced"}, headers=as_(tokens, "director"))
    assert r.status_code == 200, r.text
    assert "cable B2 cut" in r.json()["was"]
    wait_for(lambda: health(client)[0] == 200, what="health after the release")
    wait_for(lambda: inflow(client) == pytest.approx(0.7), what="the released plugin's new inflow")
    assert not inflow_stale(client)
    assert health(client)[1]["plugins"]["flaky"] == "active"

    # who released it, and when, is on the quarantine alarm's record
    found = client.get("/api/alarms", params={"domain": "system"}).json()["alarms"]
    quarantines = sorted((a for a in found if a["rule"] == "system.plugin_quarantined" and a["asset"] == "plugin:flaky"),
                         key=lambda a: a["id"])
    assert len(quarantines) == 2 and all(a["state"] == "resolved" and a["level"] == 0 for a in quarantines)
    record = client.get(f"/api/alarms/{quarantines[0]['id']}").json()["alarm"]
    resolve = [a for a in record["actions"] if a["action"] == "resolve"]
    assert resolve and resolve[0]["who"] == "director-1" and "released from quarantine" in resolve[0]["note"]
    second = client.get(f"/api/alarms/{quarantines[1]['id']}").json()["alarm"]
    assert [a["note"] for a in second["actions"] if a["action"] == "resolve"][0].endswith("(was: updater 'feed' raised "
                                                                                          "RuntimeError: cable B2 cut); cable replaced")


def test_release_is_for_directors_and_only_for_a_quarantined_plugin(served):
    client, tokens, switch = served
    r = client.post("/api/plugins/flaky/release", json={}, headers=as_(tokens, "director"))
    assert r.status_code == 409 and r.json()["error"] == "plugin 'flaky' is active, not quarantined: there is nothing to release"
    r = client.post("/api/plugins/nosuch/release", json={}, headers=as_(tokens, "director"))
    assert r.status_code == 404 and r.json()["error"].startswith("no plugin 'nosuch'; known: ")
    switch["broken"] = "C3"
    wait_for(lambda: health(client)[1]["plugins"]["flaky"] == "quarantined", what="the quarantine")
    r = client.post("/api/plugins/flaky/release", json={}, headers=as_(tokens, "operator"))
    assert r.status_code == 403
    assert health(client)[1]["plugins"]["flaky"] == "quarantined"


def test_twin_plugins_release_releases_through_the_api(served, capsys):
    from twin.cli import main

    client, tokens, switch = served
    url = str(client.base_url)
    assert main(["plugins", "release", "flaky", "--server", url, "--token", tokens["director"]]) == 2
    assert "409 plugin 'flaky' is active, not quarantined" in capsys.readouterr().err
    switch["broken"] = "D4"
    wait_for(lambda: health(client)[1]["plugins"]["flaky"] == "quarantined", what="the quarantine")
    switch["broken"] = ""
    assert main(["plugins", "release", "flaky", "--server", url, "--token", tokens["operator"]]) == 2
    assert "403" in capsys.readouterr().err
    assert main(["plugins", "release", "flaky", "--server", url, "--token", tokens["director"], "--note", "cable D4 mended"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("released plugin flaky on ") and "by director-1" in out and "cable D4 cut" in out
    wait_for(lambda: health(client)[0] == 200, what="health after the release")
