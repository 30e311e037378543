"""Live exercises through the HTTP API and the stream (twin.serving.routes.exercise,
twin.runs.exercise, twin.runs.debrief): a real server (uvicorn) in tokens mode on the toy
plugin's tanks, real tokens of each role, a real WebSocket for the players' screen, the
recording read back from its MCAP file.

The toy tank T-000 fills at 10 % a second once its tap is open (rate 1 m3/s into 10 m3):
blue at 50 %, yellow at 60 % ... red at 90 %. The server runs at 10 simulated seconds a
wall second.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import msgspec
import pytest
from conftest import running, wait_for, wait_healthy

from twin.runs.debrief import debrief, render_html
from twin.runs.exercise import ExerciseRecord
from twin.runs.recording import read_stream
from twin.serving import protocol as p
from twin.serving.access import TokenStore
from twin.serving.server import create_app

ROLES = ("director", "observer", "operator", "viewer", "admin")

DRILL = """\
[drill]
name = "Tank overfill"
name_zh = "水箱溢流"
scene = "."
duration = 900

[[events]]
at = 1
action = "toy.open_tap"
target = "T-000"
params = { rate = 1.0 }

[[events]]
at = 30
operator = "acknowledge"
target = "T-000"

[[messages]]
at = 2
kind = "call"
from = "a neighbour"
from_zh = "邻居"
text = "Water is pouring over the tank"
text_zh = "水箱在溢水"

[[events]]
at = 600
action = "toy.open_tap"
target = "T-001"
params = { rate = 1.0 }

[[messages]]
at = 700
kind = "press"
from = "City Daily"
text = "Is the water safe to drink?"

[[expect]]
by = 20
asset = "T-000"
level = "yellow"

[[expect]]
never = true
asset = "T-002"
level = "blue"

[[expect]]
by = 800
asset = "T-001"
level = "blue"

[[expect]]
no_false_clear = true
level = "blue"
"""


@contextmanager
def serve(root: Path, speed: float = 10.0):
    """A server in tokens mode on a toy city: (client, tokens by role, server)."""
    import toyplugin

    from twin.authoring.testing import Harness

    store = TokenStore(root / "data")
    tokens = {role: store.add(role, f"{role}-1")[1] for role in ROLES}
    server = create_app(lambda: Harness(root / "scene", plugins=[toyplugin], blocks=(2, 2)).engine, speed=speed,
                        data_dir=root / "data")
    with running(server.app) as url, httpx.Client(base_url=url, timeout=30) as client:
        wait_healthy(client)
        yield client, tokens, server


def as_(tokens, role):
    return {"Authorization": f"Bearer {tokens[role]}"}


def start(client, tokens, text=DRILL, file="overfill.toml"):
    r = client.post("/api/exercise", json={"drill": text, "file": file}, headers=as_(tokens, "director"))
    assert r.status_code == 201, r.text
    return r.json()


def state(client, tokens):
    r = client.get("/api/exercise", headers=as_(tokens, "director"))
    assert r.status_code == 200, r.text
    return r.json()


def inject(client, tokens, n):
    return state(client, tokens)["injects"][n - 1]


def test_an_observer_may_only_note_and_a_viewer_may_not_control(tmp_path):
    with serve(tmp_path) as (client, tokens, server):
        # before any exercise, and for players: the timeline (injects to come) is not theirs
        for role in ("viewer", "operator"):
            r = client.get("/api/exercise", headers=as_(tokens, role))
            assert r.status_code == 403 and r.json()["code"] == "forbidden", r.text
        assert client.get("/api/exercise", headers=as_(tokens, "observer")).json()["state"] == "idle"
        for role in ("viewer", "operator", "observer"):
            r = client.post("/api/exercise", json={"drill": DRILL}, headers=as_(tokens, role))
            assert r.status_code == 403 and "starting an exercise needs director or above" in r.json()["error"], r.text
        started = start(client, tokens)
        assert started["state"] == "running" and started["started_by"] == "director-1"

        # the observer notes, timestamped by the server
        r = client.post("/api/exercise/notes", json={"text": "the duty officer did not look up"}, headers=as_(tokens, "observer"))
        assert r.status_code == 201, r.text
        note = r.json()
        assert note["who"] == "observer-1" and note["n"] == 1 and note["time"] == pytest.approx(server.engine.time, abs=2)
        assert note["at"] == pytest.approx(note["time"] - started["start"])
        # ... and can do nothing else
        refused = [("POST", "/api/exercise/injects/1/fire", {}), ("POST", "/api/exercise/injects/2/delay", {"seconds": 5}),
                   ("POST", "/api/exercise/injects/2/skip", {}), ("POST", "/api/exercise/stop", {}),
                   ("POST", "/api/exercise/injects", {"kind": "message", "message": {"from": "x", "text": "y"}}),
                   ("POST", "/api/actions", {"action": "toy.open_tap", "target": "T-003", "params": {"rate": 1}})]
        for method, path, body in refused:
            r = client.request(method, path, json=body, headers=as_(tokens, "observer"))
            assert r.status_code == 403 and "token 'observer-1' has role observer" in r.json()["error"], (path, r.text)
        alarm = wait_for(lambda: next((a for a in client.get("/api/alarms", headers=as_(tokens, "observer")).json()["alarms"]
                                       if a["asset"] == "T-000"), None), 30, "T-000's alarm")
        r = client.post(f"/api/alarms/{alarm['id']}/acknowledge", json={}, headers=as_(tokens, "observer"))
        assert r.status_code == 403, r.text
        # a viewer (the wall) may read the messages sent, not note, not control
        assert client.get("/api/exercise/messages", headers=as_(tokens, "viewer")).status_code == 200
        for path, body in (("/api/exercise/notes", {"text": "x"}), ("/api/exercise/injects/1/fire", {}),
                           ("/api/exercise/stop", {})):
            r = client.post(path, json=body, headers=as_(tokens, "viewer"))
            assert r.status_code == 403, (path, r.text)
        assert client.get("/api/exercise/debrief", headers=as_(tokens, "viewer")).status_code == 403
        # the director may note too; nothing stopped the exercise
        assert client.post("/api/exercise/notes", json={"text": "controller: all well"},
                           headers=as_(tokens, "director")).status_code == 201
        assert [n["who"] for n in state(client, tokens)["notes"]] == ["observer-1", "director-1"]
        # an observer watches the wall: the stream lets it in, and refuses its alarm actions
        from websockets.sync.client import connect

        ws_url = client.base_url.copy_with(scheme="ws", path="/ws", params={"token": tokens["observer"]})
        with connect(str(ws_url), subprotocols=[p.SUBPROTOCOL]) as ws:
            hello, _ = p.decode_server(ws.recv(timeout=10))
            assert isinstance(hello, p.Hello) and hello.role == "observer"
            ws.send(p.encode_client(p.AlarmAction(request=7, alarm=alarm["id"], action="acknowledge")))
            result = _next(ws, lambda m: isinstance(m, p.Result) and m.request == 7)
            assert not result.ok and "operator" in result.error


def _next(ws, wanted, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message, _ = p.decode_server(ws.recv(timeout=timeout))
        if wanted(message):
            return message
    raise AssertionError("the message never came")


def test_injects_fire_at_their_moments_and_a_message_reaches_every_screen_and_the_recording(tmp_path):
    from websockets.sync.client import connect

    with serve(tmp_path) as (client, tokens, server):
        ws_url = client.base_url.copy_with(scheme="ws", path="/ws", params={"token": tokens["viewer"]})
        with connect(str(ws_url), subprotocols=[p.SUBPROTOCOL]) as ws:
            started = start(client, tokens)
            assert [(i["n"], i["kind"], i["at"], i["source"]) for i in started["injects"]] == [
                (1, "action", 1.0, "overfill.toml:7"), (2, "message", 2.0, "overfill.toml:18"),
                (3, "action", 600.0, "overfill.toml:26"), (4, "message", 700.0, "overfill.toml:32")]
            assert started["left_to_players"] == ["00:00:30 acknowledge T-000"]
            message = _next(ws, lambda m: isinstance(m, p.ExerciseMessage))
        assert (message.n, message.kind, message.sender, message.text, message.text_zh) == (
            2, "call", "a neighbour", "Water is pouring over the tank", "水箱在溢水")
        now = state(client, tokens)
        first, second = now["injects"][:2]
        assert first["state"] == second["state"] == "fired" and first["by"] == second["by"] == "on time"
        assert 1.0 <= first["fired"] <= 2.0 and 2.0 <= second["fired"] <= 3.0
        assert message.time == pytest.approx(now["start"] + second["fired"])
        assert now["messages"] == [msgspec.to_builtins(message)]
        late = client.get("/api/exercise/messages", headers=as_(tokens, "viewer")).json()["messages"]
        assert [m["n"] for m in late] == [2] and late[0]["from"] == "a neighbour"
        # the tap opened on the twin: its tank alarms (the scripted acknowledge is the players' to make)
        wait_for(lambda: any(a["asset"] == "T-000" for a in client.get("/api/alarms", headers=as_(tokens, "viewer")).json()["alarms"]),
                 30, "T-000's alarm")
        assert client.post("/api/exercise/notes", json={"text": "noted"}, headers=as_(tokens, "observer")).status_code == 201
        recording = tmp_path / "data" / "recordings" / now["recording"]
        assert now["recording"].startswith("exercise-tank-overfill-") and server.recorder is not None
        client.post("/api/exercise/stop", json={}, headers=as_(tokens, "director")).raise_for_status()
        assert server.recorder is None  # the recording it started is closed with it
    topics: dict[str, list] = {}
    for topic, _, data in read_stream(recording):
        if topic.startswith(("/exercise/", "/input/action")):
            topics.setdefault(topic, []).append(json.loads(data))
    assert [m["n"] for m in topics["/exercise/message"]] == [2] and topics["/exercise/message"][0]["text_zh"] == "水箱在溢水"
    assert [n["text"] for n in topics["/exercise/note"]] == ["noted"]
    opened = [a for a in topics["/input/action"] if a["action"] == "toy.open_tap"]
    assert opened[0]["target"] == "T-000" and opened[0]["who"] == "exercise"
    # every change of the timeline: the four as planned, the two fired, the two left at the end
    states = [(i["n"], i["state"]) for i in topics["/exercise/inject"]]
    assert states[:4] == [(1, "pending"), (2, "pending"), (3, "pending"), (4, "pending")]
    assert (1, "fired") in states and (2, "fired") in states and states[-2:] == [(3, "skipped"), (4, "skipped")]


def test_the_controller_fires_delays_skips_and_adds_injects(tmp_path):
    with serve(tmp_path) as (client, tokens, server):
        start(client, tokens)
        director = as_(tokens, "director")
        # fire the 600 s action now: T-001 fills at once
        r = client.post("/api/exercise/injects/3/fire", json={}, headers=director)
        assert r.status_code == 200 and r.json()["state"] == "fired" and r.json()["by"] == "director-1", r.text
        assert r.json()["fired"] < 600 and r.json()["log"][-1]["what"] == "fire"
        wait_for(lambda: any(a["asset"] == "T-001" for a in client.get("/api/alarms", headers=director).json()["alarms"]),
                 30, "T-001's alarm")
        # delay the press enquiry by a minute, then skip it
        r = client.post("/api/exercise/injects/4/delay", json={"seconds": 60}, headers=director)
        assert r.status_code == 200 and (r.json()["at"], r.json()["planned"]) == (760.0, 700.0), r.text
        r = client.post("/api/exercise/injects/4/skip", json={}, headers=director)
        assert r.status_code == 200 and r.json()["state"] == "skipped"
        assert [c["what"] for c in r.json()["log"]] == ["delay", "skip"]
        # what the state refuses is a conflict; what does not exist is not found; a bad value is a 400
        for path, body, status, said in (
                ("/api/exercise/injects/3/fire", {}, 409, "inject 3 is fired; only a pending inject fires"),
                ("/api/exercise/injects/4/delay", {"seconds": 5}, 409, "inject 4 is skipped"),
                ("/api/exercise/injects/99/fire", {}, 404, "no inject 99; this exercise has injects 1 to 4"),
                ("/api/exercise/injects/2/launch", {}, 404, "no inject action 'launch'; valid: fire, delay, skip"),
                ("/api/exercise/injects/4/delay", {}, 400, "delay needs"),
                ("/api/exercise/injects/4/delay", {"seconds": -3}, 400, "seconds")):
            r = client.post(path, json=body, headers=director)
            assert r.status_code == status and said in r.json()["error"], (path, r.status_code, r.text)
        # add: an action checked as a drill's would be, a sensor fault, a message
        for body, said in (
                ({"kind": "action", "action": "toy.open_tap", "target": "T-002", "params": {"rate": 20}},
                 "params: rate = 20; toy.open_tap takes rate in [0, 10] m3/s"),
                ({"kind": "action", "action": "toy.open_tap", "target": "T-999", "params": {"rate": 1}},
                 "target: 'T-999' is not an asset of scene 'harness'"),
                ({"kind": "action", "action": "toy.close_tap", "target": "T-002"}, "unknown action 'toy.close_tap'"),
                ({"kind": "fault", "action": "toy.open_tap", "target": "T-002"}, "a sensor fault is sensor.stuck"),
                ({"kind": "message", "message": {"from": "x", "text": "y"}, "action": "toy.open_tap"}, "no action, target"),
                ({"kind": "message", "at": 1, "message": {"from": "x", "text": "y"}}, "is past")):
            r = client.post("/api/exercise/injects", json=body, headers=director)
            assert r.status_code == 400 and said in r.json()["error"], (body, r.text)
        r = client.post("/api/exercise/injects", json={"kind": "message", "message": {"text": "no sender"}}, headers=director)
        assert r.status_code == 400 and r.json()["code"] == "invalid_body" and "from" in r.json()["error"], r.text
        r = client.post("/api/exercise/injects", json={"kind": "fault", "action": "sensor.dead", "target": "TS-002"},
                        headers=director)
        assert r.status_code == 201, r.text
        fault = r.json()
        assert fault["n"] == 5 and fault["source"] == "added by director-1" and fault["state"] == "pending"
        # added with no moment: it fires between the next two ticks, on time
        wait_for(lambda: inject(client, tokens, 5)["state"] == "fired", 10, "the added fault to fire")
        sensors = [s.id for s in server.engine.scene.sensors]
        assert server.engine.simulator.fault[sensors.index("TS-002")] == 3  # dead
        r = client.post("/api/exercise/injects", json={"kind": "message", "at": 850,
                                                       "message": {"kind": "field_report", "from": "crew 3", "text": "on site"}},
                        headers=director)
        assert r.status_code == 201 and r.json()["at"] == 850 and r.json()["n"] == 6, r.text
        kinds = [(i["n"], i["kind"], i["state"]) for i in state(client, tokens)["injects"]]
        assert kinds[-2:] == [(5, "fault", "fired"), (6, "message", "pending")]


def test_stopping_scores_the_objectives_and_writes_the_debrief(tmp_path):
    with serve(tmp_path) as (client, tokens, server):
        start(client, tokens)
        alarm = wait_for(lambda: next((a for a in client.get("/api/alarms", headers=as_(tokens, "viewer")).json()["alarms"]
                                       if a["asset"] == "T-000" and a["level"] >= 2), None), 30, "T-000 yellow")
        r = client.post(f"/api/alarms/{alarm['id']}/acknowledge", json={"note": "crew on the way"}, headers=as_(tokens, "operator"))
        assert r.status_code == 200, r.text
        client.post("/api/exercise/notes", json={"text": "acknowledged from the wall"}, headers=as_(tokens, "observer"))
        client.post("/api/exercise/injects/2/fire", json={}, headers=as_(tokens, "director"))  # already fired on time: 409
        r = client.post("/api/exercise/stop", json={}, headers=as_(tokens, "director"))
        assert r.status_code == 200, r.text
        ended = r.json()
        assert ended["state"] == "ended" and ended["ended_by"] == "director-1" and ended["end_reason"] == "stopped by the controller"
        assert [(o["status"], o["line"]) for o in ended["objectives"]] == [("met", 38), ("met", 43), ("not judged", 48),
                                                                            ("met", 53)]
        assert "the exercise ended at" in ended["objectives"][2]["detail"]
        # judged on the ground truth the exercise's recording kept: no all-clear while the tank was full
        assert ended["objectives"][3]["detail"] == "none"
        assert ended["debrief"] == {"en": "/api/exercise/debrief?lang=en", "zh-CN": "/api/exercise/debrief?lang=zh-CN"}
        # no more notes, injects or stops once ended; a new exercise may start
        assert client.post("/api/exercise/notes", json={"text": "late"}, headers=as_(tokens, "observer")).status_code == 409
        assert client.post("/api/exercise/stop", json={}, headers=as_(tokens, "director")).status_code == 409
        page = client.get("/api/exercise/debrief?lang=en", headers=as_(tokens, "observer"))
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        html = page.text
        for words in ("Tank overfill", "acknowledged from the wall", "operator-1", "crew on the way", "3 / 3",
                      "by 00:00:20 an alarm of at least yellow on T-000"):
            assert words in html, words
        zh = client.get("/api/exercise/debrief?lang=zh-CN", headers=as_(tokens, "director")).text
        for words in ("演练复盘报告", "水箱溢流", "达成", "未评判", "00:00:20 前出现不低于黄色预警的告警（设施 T-000）", "水箱在溢水"):
            assert words in zh, words
        assert client.get("/api/exercise/debrief?lang=fr", headers=as_(tokens, "director")).status_code == 400
        [folder] = (tmp_path / "data" / "exercises").iterdir()
        assert {f.name for f in folder.iterdir()} == {"record.json", "debrief.json", "debrief.en.html", "debrief.zh-CN.html"}
        record = msgspec.json.decode((folder / "record.json").read_bytes(), type=ExerciseRecord)
        again = debrief(record)
        saved = json.loads((folder / "debrief.json").read_text())
        assert msgspec.to_builtins(again) == saved
        acknowledge = next(ph for ph in saved["phases"] if ph["phase"] == "acknowledge")
        response = next(r for r in saved["responses"] if r["alarm"] == alarm["id"])
        assert acknowledge["count"] >= 1 and response["by"] == "operator-1" and response["cause"] == 1
        assert response["acknowledge"] == pytest.approx(server.engine.alarms.alarms[alarm["id"]].actions[0]["time"]
                                                        - server.engine.alarms.alarms[alarm["id"]].since)
        # T-000 rose 10 % a second from the inject at 1 s: blue at 50 %, about 5 s later
        assert 3.0 <= response["detect"] <= 7.0
        assert start(client, tokens)["state"] == "running"


def test_the_drills_end_ends_the_exercise(tmp_path):
    short = DRILL.replace("duration = 900", "duration = 40").replace("at = 600", "at = 20").replace("at = 700", "at = 30")
    short = short.replace('by = 800', 'by = 35')
    with serve(tmp_path) as (client, tokens, server):
        start(client, tokens, short)
        ended = wait_for(lambda: (s := state(client, tokens))["state"] == "ended" and s, 30, "the drill's end")
        assert ended["ended_by"] == "the drill's end" and "its duration, 00:00:40, ran out" in ended["end_reason"]
        assert ended["at"] == pytest.approx(40, abs=1.5)
        assert all(i["state"] == "fired" for i in ended["injects"])
        assert [o["status"] for o in ended["objectives"]] == ["met", "met", "met", "met"]


def test_a_drill_that_does_not_fit_is_refused_with_every_problem(tmp_path):
    wrong = DRILL.replace('target = "T-001"', 'target = "T-404"').replace("rate = 1.0 }\n\n[[events]]\nat = 30",
                                                                          "rate = 99.0 }\n\n[[events]]\nat = 30")
    with serve(tmp_path) as (client, tokens, server):
        r = client.post("/api/exercise", json={"drill": wrong, "file": "wrong.toml"}, headers=as_(tokens, "director"))
        assert r.status_code == 400, r.text
        said = r.json()["error"]
        assert "wrong.toml: line 11: [[events]] #1 params: rate = 99; toy.open_tap takes rate in [0, 10] m3/s" in said
        assert "wrong.toml: line 29: [[events]] #3 target: 'T-404' is not an asset of scene 'harness'" in said
        r = client.post("/api/exercise", json={"drill": "[drill]\nname = 1\n", "file": "bad.toml"}, headers=as_(tokens, "director"))
        assert r.status_code == 400 and "bad.toml: line 2: [drill] name = 1" in r.json()["error"], r.text
        r = client.post("/api/exercise", json={"name": "nothing.toml"}, headers=as_(tokens, "director"))
        assert r.status_code == 400 and "no drill 'nothing.toml' in the scene's drills/ folder" in r.json()["error"]
        assert client.post("/api/exercise", json={}, headers=as_(tokens, "director")).status_code == 400
        assert state(client, tokens)["state"] == "idle"
        start(client, tokens)
        r = client.post("/api/exercise", json={"drill": DRILL}, headers=as_(tokens, "director"))
        assert r.status_code == 409 and "is running; stop it first" in r.json()["error"], r.text


def test_twin_exercise_starts_shows_and_stops_through_the_api(tmp_path, capsys):
    from twin.cli import main

    path = tmp_path / "overfill.toml"
    path.write_text(DRILL, encoding="utf-8")
    with serve(tmp_path) as (client, tokens, server):
        url = str(client.base_url)
        assert main(["exercise", "start", str(path), "--url", url, "--token", tokens["director"]]) == 0
        out = capsys.readouterr().out
        assert "started 'Tank overfill'" in out and "4 injects over 00:15:00" in out and "/console.html" in out
        assert "left to the players: 00:00:30 acknowledge T-000" in out
        wait_for(lambda: inject(client, tokens, 2)["state"] == "fired", 20, "the message to fire")
        assert main(["exercise", "status", "--url", url, "--token", tokens["observer"]]) == 0
        out = capsys.readouterr().out
        assert "running: 'Tank overfill' (overfill.toml)" in out and "#2" in out and "call from a neighbour" in out
        assert main(["exercise", "status", "--url", url, "--token", tokens["viewer"]]) == 2
        assert "403 token 'viewer-1' has role viewer" in capsys.readouterr().err
        wait_for(lambda: state(client, tokens)["at"] > 25, 20, "the first objective's moment")
        # the third objective cannot be judged yet, the other two are met: exit 0
        assert main(["exercise", "stop", "--url", url, "--token", tokens["director"]]) == 0
        out = capsys.readouterr().out
        assert "MET        by 00:00:20 an alarm of at least yellow on T-000" in out and f"debrief: {url}/api/exercise/debrief" in out
    assert main(["exercise", "start", str(tmp_path / "none.toml")]) == 2
    assert "none.toml: cannot read it" in capsys.readouterr().err


def test_serve_exercise_starts_the_drill_once_the_twin_is_up(tmp_path):
    import toyplugin

    from twin.authoring.testing import Harness
    from twin.runs.drill import load_drill
    from twin.serving.routes.exercise import host_of, start_on_ready

    Harness(tmp_path / "scene", plugins=[toyplugin], blocks=(2, 2))  # writes the scene
    good, bad = tmp_path / "scene" / "good.toml", tmp_path / "scene" / "bad.toml"
    good.write_text(DRILL, encoding="utf-8")
    bad.write_text(DRILL.replace('target = "T-001"', 'target = "T-404"'), encoding="utf-8")
    load_drill(bad)  # the file itself is fine: only the scene refuses it
    for path, fine in ((good, True), (bad, False)):
        server = create_app(lambda: Harness(tmp_path / "scene", plugins=[toyplugin], blocks=(2, 2)).engine, speed=10.0,
                            data_dir=tmp_path / f"data-{path.stem}")
        failed: list[str] = []
        server.on_fatal = failed.append
        start_on_ready(server, path)
        with running(server.app):
            if fine:
                host = wait_for(lambda: host_of(server).exercise is not None and host_of(server), 30, "the exercise")
                assert host.running and host.exercise.started_by == "twin serve --exercise"
            else:
                wait_for(lambda: failed, 30, "the start to fail")
                assert "cannot start" in failed[0] and "'T-404' is not an asset of scene 'harness'" in failed[0]
                assert server.startup_error == failed[0]


def test_the_debrief_credits_each_alarm_to_its_own_cause(tmp_path):
    """An alarm is credited to the nearest inject before it on its own asset (or a linked
    one, or a district-wide one: twin.runs.credit, as the report credits it): never to an
    earlier, unrelated one, nor to one on another asset merely of its domain; its
    response times run from its raise."""
    from twin.runs.exercise import Inject, InjectChange, Objective

    def fired(n, at, target):
        return Inject(n, "action", at, at, "fired", f"d.toml:{n}", "toy.open_tap", target, {"rate": 1.0}, fired=at, by="on time",
                      log=[InjectChange("fire", "on time", at)])

    def event(kind, t, alarm_id, asset, level=1, who=""):
        return {"kind": kind, "time": 1000.0 + t, "who": who, "note": "",
                "alarm": {"id": alarm_id, "asset": asset, "domain": "toy", "rule": "toy.overfill", "title": "Tank overfill",
                          "title_zh": "水箱溢流", "level": level, "peak_level": level}}

    record = ExerciseRecord(
        "d", "", "d.toml", "harness", "Asia/Shanghai", True, 1000.0, 1200.0, "ended", "dir", "dir", "stopped", 300.0,
        [fired(1, 10.0, "T-000"), fired(2, 100.0, "T-001"), fired(3, 103.0, "T-002")], [],
        [event("raise", 20.0, 1, "T-000"), event("raise", 106.0, 2, "T-002"), event("raise", 110.0, 3, "T-001"),
         event("raise", 150.0, 4, "T-009"), event("acknowledge", 30.0, 1, "T-000", who="op"),
         event("dispatch", 50.0, 1, "T-000", who="op"), event("resolve", 90.0, 1, "T-000", who="op"),
         event("acknowledge", 170.0, 3, "T-001", who="op2")],
        [], [Objective("x", "met", "ok")], [], [])
    d = debrief(record)
    causes = {r.alarm: (r.cause, r.detect) for r in d.responses}
    # T-002's alarm 3 s after its own leak, not 6 s after T-001's; T-009's to none (no tap of its own)
    assert causes == {1: (1, 10.0), 2: (3, 3.0), 3: (2, 10.0), 4: (None, None)}
    phases = {ph.phase: (ph.count, ph.of, ph.median, ph.worst) for ph in d.phases}
    assert phases["detect"] == (3, 3, 10.0, 10.0)
    assert phases["acknowledge"] == (2, 4, 35.0, 60.0) and phases["dispatch"] == (1, 4, 30.0, 30.0)
    assert phases["close"] == (1, 4, 70.0, 70.0)
    assert [(a.who, a.action) for a in d.actions] == [("op", "acknowledge"), ("op", "dispatch"), ("op", "resolve"),
                                                     ("op2", "acknowledge")]
    html = render_html(d, "zh-CN")
    assert "发现（诱因至首条告警）" in html and "水箱溢流" in html and "08:16:40" in html  # 1000 s after the epoch, in Shanghai
    with pytest.raises(ValueError, match="lang 'fr'"):
        render_html(d, "fr")
