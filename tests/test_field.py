"""The field crew (twin.loop.field): a ``crew`` token sees and reports on its own unit's
tasks only; the phone page at /field/ driven in chromium at a phone's size through the
whole loop (accept, on site, working with a note and a photo, done with the cause), each
step on the incident's timeline and in the stream at once; photos checked and kept."""

from __future__ import annotations

import base64
import io

import pytest
from conftest import overfilling_toy, wait_for

from twin.serving.access import TokenStore


def _jpeg(size=(640, 480)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (180, 90, 40)).save(out, "JPEG", quality=80)
    return out.getvalue()


@pytest.fixture
def field(tmp_path, toy):
    data = tmp_path / "data"
    store = TokenStore(data)
    tokens = {
        "operator": store.add("operator", "duty officer")[1],
        "crew": store.add("crew", "tank crew 1", unit="toy works")[1],
        "other": store.add("crew", "pipe crew 9", unit="other works")[1],
    }
    with overfilling_toy(tmp_path / "scene", toy, data, engine_data=True) as (server, client, url, _):
        as_ = {role: {"Authorization": f"Bearer {token}"} for role, token in tokens.items()}
        wait_for(lambda: client.get("/api/incidents", headers=as_["operator"]).json()["incidents"], 30, "an incident")
        [incident] = client.get("/api/incidents", headers=as_["operator"]).json()["incidents"]
        assert client.post(f"/api/incidents/{incident['id']}/ack", json={}, headers=as_["operator"]).status_code == 200
        r = client.post(f"/api/incidents/{incident['id']}/dispatch", json={"note": "tank 1 overflowing"}, headers=as_["operator"])
        assert r.json()["incident"]["dispatched_to"] == "toy works"  # the owner unit by default
        yield client, server, url, as_, tokens, incident["id"], data


def test_a_crew_token_sees_and_reports_on_its_own_units_tasks_only(field):
    client, server, _, as_, _, task, data = field
    for path in ("/api/incidents", "/api/scene", "/api/alarms"):
        r = client.get(path, headers=as_["crew"])
        assert r.status_code == 403 and "has role crew" in r.json()["error"], path
    r = client.get("/api/field/tasks", headers=as_["operator"])
    assert r.status_code == 403 and "a crew or admin token" in r.json()["error"]

    mine = client.get("/api/field/tasks", headers=as_["crew"]).json()
    assert mine["unit"] == "toy works" and [t["id"] for t in mine["tasks"]] == [task]
    assert client.get("/api/field/tasks", headers=as_["other"]).json()["tasks"] == []
    assert client.get(f"/api/field/tasks/{task}", headers=as_["other"]).status_code == 404
    r = client.post(f"/api/field/tasks/{task}/accept", json={}, headers=as_["other"])
    assert r.status_code == 404 and "no open task" in r.json()["error"]

    one = client.get(f"/api/field/tasks/{task}", headers=as_["crew"]).json()["task"]
    [asset] = one["assets"]
    assert asset["id"] == "T-001" and {r["field"] for r in asset["readings"]} >= {"level", "risk"}
    assert one["timeline"][0]["action"] == "dispatch" and one["timeline"][0]["note"] == "tank 1 overflowing"
    r = client.post(f"/api/field/tasks/{task}/arrive", json={}, headers=as_["crew"])
    assert r.status_code == 409 and "arrive comes after accepted" in r.json()["error"]
    assert client.post(f"/api/field/tasks/{task}/accept", json={}, headers=as_["crew"]).status_code == 200
    assert client.post(f"/api/field/tasks/{task}/arrive", json={}, headers=as_["crew"]).status_code == 200

    bad = base64.b64encode(b"GIF89a not a jpeg at all").decode()
    r = client.post(f"/api/field/tasks/{task}/work", json={"photo": f"data:image/jpeg;base64,{bad}"}, headers=as_["crew"])
    assert r.status_code == 400 and "not a readable JPEG image" in r.json()["error"]
    huge = base64.b64encode(b"\xff" * 700_000).decode()
    r = client.post(f"/api/field/tasks/{task}/work", json={"photo": f"data:image/jpeg;base64,{huge}"}, headers=as_["crew"])
    assert r.status_code == 413 and "over 600 kB" in r.json()["error"]
    r = client.post(f"/api/field/tasks/{task}/done", json={"note": "pumped"}, headers=as_["crew"])
    assert r.status_code == 400 and "done needs the cause found" in r.json()["error"]
    assert not (data / "field").exists() or not list((data / "field").iterdir())  # nothing refused was kept


@pytest.mark.slow
def test_the_phone_page_takes_a_task_through_the_whole_loop(field, browser, tmp_path):
    client, server, url, as_, tokens, task, data = field
    photo = tmp_path / "site.jpg"
    photo.write_bytes(_jpeg((2400, 1800)))  # a phone's photo: the page scales it down before sending
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale="en-US")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{url}/field/?token={tokens['crew']}")
        assert "token=" not in page.url  # taken off the address bar, kept in the phone's storage
        page.get_by_test_id(f"task-{task}").click()
        page.get_by_test_id("map").wait_for()
        assert page.locator("[data-testid=map] circle").count() == 1
        assert "level" in page.get_by_test_id("readings").inner_text()
        assert "tank 1 overflowing" in page.get_by_test_id("timeline").inner_text()

        page.get_by_test_id("step-accept").click()
        page.get_by_test_id("step-arrive").click()
        page.get_by_test_id("note").fill("water over the rim, valve stuck open")
        page.get_by_test_id("photo").set_input_files(str(photo))
        page.get_by_test_id("step-work").click()
        page.get_by_test_id("cause").wait_for()
        wait_for(lambda: "valve stuck open" in page.get_by_test_id("timeline").inner_text(), 10, "the work report")
        page.get_by_test_id("lang").click()  # zh-CN
        page.get_by_test_id("cause").fill("进水阀卡死")
        page.get_by_test_id("step-done").click()
        wait_for(lambda: page.get_by_test_id("crew-state").inner_text() == "处置完成", 10, "done on the page")
        assert "已到场" in page.get_by_test_id("timeline").inner_text()
        assert errors == []
    finally:
        context.close()

    record = client.get(f"/api/incidents/{task}", headers=as_["operator"]).json()["incident"]
    steps = [a for a in record["actions"] if a["action"] in ("accept", "arrive", "work", "done")]
    assert [a["action"] for a in steps] == ["accept", "arrive", "work", "done"]
    assert all(a["who"] == "tank crew 1" and a["unit"] == "toy works" for a in steps)
    assert steps[2]["note"] == "water over the rim, valve stuck open" and steps[3]["cause"] == "进水阀卡死"
    assert record["crew"] == "done"
    # the photo: scaled down by the page, checked, kept, shown to the wall and to the crew, not to another unit
    name = steps[2]["photo"]
    kept = (data / "field" / name).read_bytes()
    from PIL import Image

    with Image.open(io.BytesIO(kept)) as image:
        assert image.format == "JPEG" and max(image.size) == 1280
    r = client.get(f"/api/incidents/{task}/photos/{name}", headers=as_["operator"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content == kept
    assert client.get(f"/api/incidents/{task}/photos/{name}", headers=as_["crew"]).status_code == 200
    assert client.get(f"/api/incidents/{task}/photos/{name}", headers=as_["other"]).status_code == 404
    assert client.get(f"/api/incidents/{task}/photos/{name}").status_code == 401
    # the wall saw each step as it came: the stream's incident summaries
    seen = [s["crew"] for f in list(server.engine.frames) for s in f.incidents if s["id"] == task]
    assert seen[-1] == "done" and "accepted" in seen
    summary = client.get("/api/incidents", headers=as_["operator"]).json()["incidents"][0]
    assert summary["times"]["arrive"] is not None and summary["times"]["arrive"] >= summary["times"]["dispatch"]


def test_a_step_sent_again_with_its_key_is_applied_once(field):
    # a phone whose answer was lost sends the same step again, with the same key
    client, _, _, as_, _, task, _ = field
    steps = lambda: [a for a in client.get(f"/api/incidents/{task}", headers=as_["operator"]).json()["incident"]["actions"]
                     if a["action"] in ("accept", "arrive")]
    first = client.post(f"/api/field/tasks/{task}/accept", json={"key": "k-1"}, headers=as_["crew"])
    again = client.post(f"/api/field/tasks/{task}/accept", json={"key": "k-1"}, headers=as_["crew"])
    assert first.status_code == again.status_code == 200 and again.json()["task"]["crew"] == "accepted"
    assert [(a["action"], a["key"]) for a in steps()] == [("accept", "k-1")]
    # without a key, or with a new one, a second accept is out of order as before
    assert client.post(f"/api/field/tasks/{task}/accept", json={}, headers=as_["crew"]).status_code == 409
    assert client.post(f"/api/field/tasks/{task}/accept", json={"key": "k-9"}, headers=as_["crew"]).status_code == 409
    r = client.post(f"/api/field/tasks/{task}/arrive", json={"key": "k-1"}, headers=as_["crew"])
    assert r.status_code == 400 and "already used for accept" in r.json()["error"]
    r = client.post(f"/api/field/tasks/{task}/arrive", json={"key": "k 2/.."}, headers=as_["crew"])
    assert r.status_code == 400 and "key must be 1 to 64 letters" in r.json()["error"]
    # another unit's crew learns nothing from a key it guessed
    assert client.post(f"/api/field/tasks/{task}/accept", json={"key": "k-1"}, headers=as_["other"]).status_code == 404
    assert client.post(f"/api/field/tasks/{task}/arrive", json={"key": "k-2"}, headers=as_["crew"]).status_code == 200
    assert [a["action"] for a in steps()] == ["accept", "arrive"]


def test_the_phone_page_and_its_json_are_gzipped_and_the_wall_is_not(field):
    client, _, _, as_, _, task, _ = field
    gzip = {"Accept-Encoding": "gzip"}
    page = client.get("/field/", headers=gzip)
    assert page.headers.get("content-encoding") == "gzip" and "现场处置" in page.text
    one = client.get(f"/api/field/tasks/{task}", headers={**as_["crew"], **gzip})
    assert one.headers.get("content-encoding") == "gzip" and one.json()["task"]["id"] == task
    # the wall's API is as it was (its stream and meshes gain little)
    wall = client.get(f"/api/incidents/{task}", headers={**as_["operator"], **gzip})
    assert len(wall.content) > 500 and "content-encoding" not in wall.headers
    assert "content-encoding" not in client.get("/field/", headers={"Accept-Encoding": "identity"}).headers


def test_a_crew_token_may_not_read_the_stream(field):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from twin.serving import protocol as p

    _, _, url, _, tokens, _, _ = field
    ws_url = url.replace("http", "ws") + "/ws"
    refused = []
    with connect(ws_url, subprotocols=[p.SUBPROTOCOL], additional_headers={"Authorization": f"Bearer {tokens['crew']}"},
                 open_timeout=10, max_size=None, compression=None) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                refused.append(p.decode_server(ws.recv(timeout=10))[0])
    assert closed.value.rcvd.code == p.CloseCode.FORBIDDEN
    [error] = refused
    assert isinstance(error, p.Error) and "has role crew" in error.message and "reading the stream" in error.message
    # the operator's token on the same socket is greeted: the refusal is the role's
    with connect(ws_url, subprotocols=[p.SUBPROTOCOL], additional_headers={"Authorization": f"Bearer {tokens['operator']}"},
                 open_timeout=10, max_size=None, compression=None) as ws:
        hello = p.decode_server(ws.recv(timeout=10))[0]
        assert type(hello).__name__ == "Hello" and hello.role == "operator"


def pumped(page, predicate, timeout, what):
    """wait_for, for a predicate on what a route handler records: Playwright's sync API
    runs handlers only while the test is inside one of its calls."""
    for _ in range(int(timeout * 10)):
        if value := predicate():
            return value
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


@pytest.mark.slow
def test_the_phone_page_on_a_weak_link_polls_one_at_a_time_and_sends_an_offline_step_once(field, browser):
    client, _, url, as_, tokens, task, _ = field
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="en-US")
    page = context.new_page()
    errors, polls = [], []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{url}/field/?token={tokens['crew']}")
        page.get_by_test_id(f"task-{task}").click()
        page.get_by_test_id("step-accept").wait_for()

        # a link that swallows the poll: no second poll while it hangs, then it is given up
        page.route(f"**/api/field/tasks/{task}", lambda route: polls.append(route))
        pumped(page, lambda: polls, 10, "a poll")
        page.wait_for_timeout(8000)  # the old page polled every 5 s whatever became of the last one
        assert len(polls) == 1
        wait_for(lambda: "offline — retrying" in page.get_by_test_id("net").inner_text(), 10, "the page to give up the poll")
        page.unroute(f"**/api/field/tasks/{task}")
        for route in polls:  # abandoned by the page already
            try:
                route.abort()
            except Exception:  # noqa: BLE001 - the page aborted it itself: nothing to do
                pass

        # offline: the step waits in the phone, shown as waiting, and goes when the link is back
        context.set_offline(True)
        page.get_by_test_id("step-accept").click()
        assert "(waiting to be sent)" in page.get_by_test_id("crew-state").inner_text()
        assert "1 step waiting" in page.get_by_test_id("net").inner_text()
        page.wait_for_timeout(1000)
        assert client.get(f"/api/field/tasks/{task}", headers=as_["crew"]).json()["task"]["crew"] == ""
        context.set_offline(False)
        wait_for(lambda: page.get_by_test_id("crew-state").inner_text() == "accepted", 30, "the accept sent")

        # a step whose answer is lost after the twin applied it: sent again with its key, applied once
        lost = []

        def swallow_answer(route):
            route.fetch()  # the twin gets it and answers; the phone never hears
            lost.append(route.request.post_data_json)
            route.abort()

        page.route(f"**/api/field/tasks/{task}/arrive", swallow_answer)
        page.get_by_test_id("step-arrive").click()
        pumped(page, lambda: lost, 10, "the arrive sent")
        page.unroute(f"**/api/field/tasks/{task}/arrive")
        assert client.get(f"/api/field/tasks/{task}", headers=as_["crew"]).json()["task"]["crew"] == "on_site"
        wait_for(lambda: page.get_by_test_id("net").is_hidden(), 40, "the arrive sent again")
        assert page.get_by_test_id("crew-state").inner_text() == "on site"
        # a reload finds nothing waiting
        page.reload()
        page.get_by_test_id(f"task-{task}").click()
        page.get_by_test_id("step-work").wait_for()
        assert page.evaluate("localStorage.getItem('field.queue')") == "[]"
        assert errors == []
    finally:
        context.close()
    actions = client.get(f"/api/incidents/{task}", headers=as_["operator"]).json()["incident"]["actions"]
    steps = [a for a in actions if a["action"] in ("accept", "arrive", "work", "done")]
    assert [a["action"] for a in steps] == ["accept", "arrive"]  # each once
    assert steps[1]["key"] == lost[0]["key"] and steps[0]["key"] != steps[1]["key"]
