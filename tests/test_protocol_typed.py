"""The records that travel in the stream and the HTTP API are declared once
(twin/serving/protocol.py: AlarmSummary, IncidentSummary, IncidentInfo, ViewerStyle) and
the books' own records are exactly those declarations: every alarm and incident of a
demo drill, with operator actions on both, converts to its declaration and encodes to the
same bytes as the dict the book made (nothing left out, nothing added, no type changed);
the Python decoder refuses a record that breaks its declaration; the HTTP answers that
carry them are declared with them; POST /api/readings answers its declared shapes."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import httpx
import msgspec
import pytest
from conftest import running, wait_healthy

from twin.serving import protocol as p

ROOT = Path(__file__).resolve().parents[1]


def _same(record: dict, declared: object) -> list[str]:
    """Where ``record`` differs from itself converted to ``declared`` and back: a key the
    declaration lacks (dropped by the conversion), one it adds, a value it retypes. The
    msgpack bytes are compared too: they are what the stream sends."""
    converted = msgspec.convert(record, declared)
    problems = []
    if msgspec.msgpack.decode(msgspec.msgpack.encode(converted)) != record:
        lost = {k for k in record if k not in converted}
        problems.append(f"{declared}: round trip differs (keys lost: {sorted(lost)})")
    if msgspec.msgpack.encode(converted) != msgspec.msgpack.encode(record):
        problems.append(f"{declared}: the msgpack bytes differ")
    return problems


@pytest.fixture(scope="module")
def drilled(tmp_path_factory):
    """The demo's gas-leak drill run to its end, every alarm event kept, then operator
    actions with notes on an alarm and on an incident (acknowledge, dispatch)."""
    from twin.runs.drill import load_drill
    from twin.runs.reruns import run_drill
    from twin.runtime import open_twin

    drill = load_drill(ROOT / "scenes" / "demo" / "drills" / "gas-leak.toml")
    engine = open_twin(drill.scene, tmp_path_factory.mktemp("drill") / "data", seed=drill.seed, config=drill.config,
                       dt=drill.dt, persist=False)
    result = run_drill(drill, engine)
    acknowledged = [a for a in engine.alarms.alarms.values() if a.state == "acknowledged"]
    engine.alarms.act(acknowledged[0].id, "dispatch", "duty officer", "second crew", engine.time)
    incident = engine.incidents.ordered()[0]
    if incident.state == "open":
        engine.incidents.act(incident.id, "acknowledge", "duty officer", "seen", engine.time)
    engine.incidents.act(incident.id, "dispatch", "duty officer", "crew on the way", engine.time, "gas company")
    yield engine, result
    engine.close()


def test_every_alarm_and_incident_of_a_demo_drill_is_its_declaration(drilled):
    engine, result = drilled
    alarms = list(engine.alarms.alarms.values())
    incidents = list(engine.incidents.incidents.values())
    assert len(alarms) >= 2 and incidents, "the gas-leak drill raised no alarms"
    assert any(a.actions for a in alarms) and any(i.actions for i in incidents), "no operator action to check"
    assert any(a.state == "dispatched" for a in alarms)
    problems = []
    for a in alarms:
        problems += _same(a.summary(), p.AlarmSummary)
        problems += _same(a.to_json(), p.AlarmSummary)  # the full record: actions with their notes
        assert all("note" not in x for x in a.summary()["actions"]) and all("note" in x for x in a.to_json()["actions"])
    for i in incidents:
        problems += _same(i.summary(), p.IncidentSummary)
        problems += _same(i.to_json(), p.IncidentInfo)
    # every alarm event of the run, as the drill's result holds them (the stream's events)
    for event in result.events:
        problems += _same(event["alarm"], p.AlarmSummary)
        msgspec.convert(event, p.AlarmEventInfo)  # its kind is one the declaration names
    assert {"raise", "acknowledge"} <= {e["kind"] for e in result.events}
    assert not problems, problems[:5]


def test_real_frames_decode_into_the_declarations(drilled):
    """A snapshot of the drilled twin, as the stream encodes it, decodes through the
    typed Snapshot: its alarms and incidents are checked, and equal what the books hold."""
    from twin.serving import stream

    engine, _ = drilled
    hub = stream.Hub(engine)
    frame = hub.snapshot(stream.Subscription.resolve(engine, None))
    message, _ = p.decode_server(frame)
    assert isinstance(message, p.Snapshot)
    assert message.alarms == [a.summary() for a in engine.alarms.active()] and message.alarms
    assert message.incidents == [i.summary() for i in engine.incidents.ordered()] and message.incidents
    hello, _ = p.decode_server(stream.hello(engine, "viewer", "live", "test", "epoch"))
    styles = [d.style for d in hello.domains if d.style is not None]
    assert styles and all(type(s).__name__ == "ViewerStyle" for s in styles)
    assert styles[0] == engine.registry.styles[hello.domains[[d.style is not None for d in hello.domains].index(True)].name]


@pytest.mark.parametrize("path, value, says", [
    (("alarms", 0, "state"), "closed", "Invalid enum value 'closed' - at `$.alarms[0].state`"),
    (("alarms", 0, "level"), 5, "Expected `int` <= 4 - at `$.alarms[0].level`"),
    (("alarms", 0, "actions"), [{"action": "ack", "who": "x", "time": 1.0, "unit": ""}],
     "Invalid enum value 'ack' - at `$.alarms[0].actions[0].action`"),
    (("incidents", 0, "times"), {"acknowledge": None}, "Object missing required field `detect` - at `$.incidents[0].times`"),
    (("incidents", 0, "state"), "resolved", "Invalid enum value 'resolved' - at `$.incidents[0].state`"),
    (("alarms", 0, "history", 0, "level"), "red", "Expected `int`, got `str` - at `$.alarms[0].history[0].level`"),
])
def test_the_python_decoder_refuses_a_record_that_breaks_its_declaration(drilled, path, value, says):
    engine, _ = drilled
    alarms = [a.summary() for a in engine.alarms.alarms.values()]
    incidents = [i.summary() for i in engine.incidents.incidents.values()]
    header = {"type": "snapshot", "seq": 1, "time": 0.0, "domains": {}, "alarms": alarms, "stale": [], "incidents": incidents}
    frame = p.encode(p.Snapshot(1, 0.0, {}, alarms, [], incidents))
    assert p.decode_server(frame)[0].alarms == alarms  # as the book made them: valid
    holder = header
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    bad = msgspec.msgpack.encode(header)
    with pytest.raises(msgspec.ValidationError) as caught:
        p.decode_server(len(bad).to_bytes(4, "little") + bad)
    assert str(caught.value) == says


def _loose(roots: list[tuple[object, str]]) -> set[str]:
    """Where the types reachable from ``roots`` (Structs, TypedDicts, dataclasses, their
    fields' types) leave a value undeclared (``Any``: a ``dict[str, Any]``...)."""
    seen: set[object] = set()
    found: set[str] = set()

    def walk(tp: object, where: str) -> None:
        if isinstance(tp, type) and tp in seen:
            return
        if tp is typing.Any:
            found.add(where)
            return
        for arg in typing.get_args(tp):
            if arg is not Ellipsis and not isinstance(arg, (str, int, float, msgspec.Meta)):
                walk(arg, where)
        if isinstance(tp, type) and (issubclass(tp, msgspec.Struct) or typing.is_typeddict(tp) or dataclasses.is_dataclass(tp)):
            seen.add(tp)
            for name, hint in typing.get_type_hints(tp).items():
                walk(hint, f"{tp.__name__}.{name}")

    for root, where in roots:
        walk(root, where)
    return found


def test_no_message_field_is_loose():
    """Every field of every message and shared type of the protocol is declared: no
    ``dict[str, Any]`` (a map of unknown shape) is left anywhere in their types."""
    messages = [*typing.get_args(p.ServerMessage), *typing.get_args(p.ClientMessage)]
    assert _loose([(cls, cls.__name__) for cls in messages]) == set()
    assert _loose([(dict[str, typing.Any], "a map")]) == {"a map"}  # the check sees what it looks for


def test_every_http_answer_is_declared_but_an_assets_own_attributes_and_geometry():
    """Every query, body and answer of every route of the API table is declared to the
    leaf, but what the scene itself leaves free: an asset's attributes (each domain has
    its own) and its GeoJSON geometry."""
    from twin.serving.routes import api_routes
    from twin.serving.routing import Media

    roots = []
    for route in api_routes():
        for value in (*route.answers.values(), *route.body_types.values(), route.query):
            for one in value if isinstance(value, tuple) else (value,):
                if one is not None and not isinstance(one, (Media, dict)):
                    roots.append((one, f"{route.method} {route.path}"))
    assert _loose(roots) == {"AssetInfo.attributes", "AssetInfo.geometry"}


def test_the_http_answers_that_carry_alarms_and_incidents_declare_them():
    """One declaration for the stream and the API: the REST answers' fields are the
    protocol's records, not a second copy."""
    from twin.serving.incidents_api import IncidentActed, IncidentList, IncidentRecord
    from twin.serving.routes.alarms import AlarmActed, AlarmList, AlarmRecord
    from twin.plugins.contributions import ViewerStyle
    from twin.serving.routes.scene import AssetInfo, SceneDomain

    def hint(cls: type, name: str) -> object:
        return typing.get_type_hints(cls)[name]

    assert hint(AlarmList, "alarms") == list[p.AlarmSummary]
    assert hint(AlarmRecord, "alarm") is p.AlarmSummary and hint(AlarmActed, "alarm") is p.AlarmSummary
    assert hint(AssetInfo, "alarms") == list[p.AlarmSummary]
    assert hint(IncidentList, "incidents") == list[p.IncidentSummary]
    assert hint(IncidentRecord, "incident") is p.IncidentInfo and hint(IncidentActed, "incident") is p.IncidentInfo
    assert hint(IncidentRecord, "alarms") == list[p.AlarmSummary]
    # a domain's style: the plugins' own declaration, in the Hello and in /api/scene
    assert hint(p.DomainInfo, "style") == hint(SceneDomain, "style") == ViewerStyle | None


def test_the_scene_answer_carries_each_domain_style_as_the_hello_does(tmp_path):
    """GET /api/scene's styles are the plugins' ViewerStyles, key for key the Hello's."""
    from twin.authoring.testing import Harness
    from twin.serving import stream
    from twin.serving.routes.scene import SceneInfo
    from twin.serving.server import create_app

    server = create_app(lambda: Harness(tmp_path / "scene", entry_points=True, blocks=(2, 2)).engine, speed=10.0)
    with running(server.app) as url, httpx.Client(base_url=url, timeout=30) as client:
        wait_healthy(client, 120)
        scene = msgspec.json.decode(client.get("/api/scene").content, type=SceneInfo)
        hello, _ = p.decode_server(stream.hello(server.engine, "viewer", "live", "test", "epoch"))
    styles = {d.name: d.style for d in hello.domains}
    assert any(styles.values()) and {name: d.style for name, d in scene.domains.items()} == styles


# -- POST /api/readings ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def readings_server(tmp_path_factory):
    import toyplugin

    from twin.authoring.testing import Harness
    from twin.serving.server import create_app

    root = tmp_path_factory.mktemp("readings")
    server = create_app(lambda: Harness(root / "scene", plugins=[toyplugin], blocks=(2, 2)).engine, speed=10.0)
    with running(server.app) as url, httpx.Client(base_url=url, timeout=10) as client:
        wait_healthy(client)
        yield client


def test_the_readings_answers_are_their_declarations(readings_server):
    """Accepted, rejected (JSON and CSV, with places), malformed and a wrong Content-Type:
    each answer decodes strictly into the route's declared shape for its status."""
    from twin.serving.routes.readings import ROUTES
    from twin.serving.routing import ApiError

    [route] = ROUTES
    client = readings_server
    good = client.post("/api/readings", json=[{"sensor": "nope", "t": 0, "v": 1.0}, {"sensor": "", "t": 0, "v": 1.0}])
    csv = client.post("/api/readings", content=b"sensor,t,v\nnope,0,1\nbad line\n", headers={"content-type": "text/csv"})
    broken = client.post("/api/readings", content=b"{", headers={"content-type": "application/json"})
    wrong = client.post("/api/readings", content=b"x", headers={"content-type": "text/plain"})
    for answer in (good, csv, broken, wrong):
        declared = route.answers.get(answer.status_code, ApiError)  # the guard's refusals are ApiErrors
        strict = msgspec.defstruct("Strict", [], bases=(declared,), forbid_unknown_fields=True) \
            if isinstance(declared, type) and issubclass(declared, msgspec.Struct) else declared
        msgspec.json.decode(answer.content, type=strict)
    assert good.status_code == 422 and good.json()["rejects"][0]["index"] == 0
    assert csv.status_code == 422 and [r["line"] for r in csv.json()["rejects"]] == [2, 3]
    assert broken.status_code == 400 and broken.json()["error"]
    assert wrong.status_code == 415 and wrong.json()["code"] == "unsupported_media_type"


# -- the field crew's tasks and the notifications ---------------------------------------------------
def test_a_field_task_is_its_declaration(drilled):
    """The phone's view of the drilled incident (dispatched), as the list and as one task."""
    from twin.loop import field
    from twin.serving.incidents_api import TaskView

    engine, _ = drilled
    incident = engine.incidents.ordered()[0]
    assert incident.state == "dispatched"
    whole, listed = field.task_view(incident, engine), field.task_view(incident, engine, detail=False)
    assert whole["assets"] and whole["assets"][0]["readings"] and whole["timeline"]
    assert _same(whole, TaskView) + _same(listed, TaskView) == []


def test_the_notification_status_is_its_declaration(tmp_path, toy):
    """A real twin whose rule sends incidents to the log channel: once a row is sent,
    GET /api/notifications decodes strictly into NotificationStatus, each channel, rule and
    outbox row as its TypedDict declares it (nothing left out, nothing retyped)."""
    from conftest import wait_for

    from twin.authoring.testing import Harness
    from twin.serving.incidents_api import ChannelStatus, NotificationRule, NotificationStatus, OutboxRow
    from twin.serving.server import create_app

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notifications.toml").write_text('[[rules]]\nname = "all"\nchannels = ["log"]\n')

    def build():
        h = Harness(tmp_path / "scene", plugins=[toy], blocks=(2, 2), data_dir=tmp_path / "data")
        h.act("toy.open_tap", "T-001", rate=0.5)
        return h.engine

    server = create_app(build, speed=20.0)
    with running(server.app) as url, httpx.Client(base_url=url, timeout=10) as client:
        wait_healthy(client)
        wait_for(lambda: any(r["state"] == "sent" for r in client.get("/api/notifications").json()["recent"]), 30, "a sent row")
        answer = client.get("/api/notifications")
    strict = msgspec.defstruct("Strict", [], bases=(NotificationStatus,), forbid_unknown_fields=True)
    status = msgspec.json.decode(answer.content, type=strict)
    assert status.enabled and status.channels and status.rules and status.recent
    body = answer.json()
    problems = [*(e for c in body["channels"] for e in _same(c, ChannelStatus)),
                *(e for r in body["rules"] for e in _same(r, NotificationRule)),
                *(e for r in body["recent"] for e in _same(r, OutboxRow))]
    assert not problems, problems[:3]
