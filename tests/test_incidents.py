"""Incidents: alarms grouped by cause and place (twin.loop.incidents), stored with the
alarms, listed by the API and carried by the stream; a storm with a gas leak is a few
incidents with the gas one on top."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import overfilling_toy, wait_for

from twin import AlarmRule, Coupling, Domain, IncidentGrouping, hookimpl
from twin.errors import TwinError
from twin.loop.grouping import GroupingError
from twin.loop.incidents import IncidentBook
from twin.loop.places import outline
from twin.plugins.registry import Registry, load_registry
from twin.serving import protocol as p
from twin.tick.alarms import AlarmBook, StoreUnavailable
from twin.tick.scene import Scene
from twin.types import Asset

ROOT = Path(__file__).resolve().parents[1]


def _asset(asset_id: str, domain: str, x: float, y: float, links: tuple[str, ...] = (), **attributes) -> Asset:
    return Asset(asset_id, domain, "node", f"{domain} works", {"type": "Point", "coordinates": [x, y, 0.0]},
                 dict(attributes), links)


def _scene(*assets: Asset) -> Scene:
    by_domain: dict[str, list[Asset]] = {}
    for a in assets:
        by_domain.setdefault(a.domain, []).append(a)
    return Scene("t", "test", Path("."), (0.0, 0.0), by_domain, [], [], [], [], None, {})


RULES = {"water": AlarmRule("water.low", "water", "risk", "Low pressure", "供水压力不足"),
         "toy": AlarmRule("toy.overfill", "toy", "risk", "Tank overfilling", "水箱满溢")}


def _registry(couplings=(), groupings=()) -> Registry:
    registry = Registry()
    registry.rules = [("p", r) for r in RULES.values()]
    registry.couplings = [("p", c) for c in couplings]
    registry.groupings = [("p", g) for g in groupings]
    return registry


def _books(path: Path | None, scene: Scene, registry: Registry | None = None, config=None) -> tuple[AlarmBook, IncidentBook]:
    alarms = AlarmBook(path)
    return alarms, IncidentBook(alarms, scene, registry or _registry(), config)


def _raise(alarms: AlarmBook, asset: str, level: int, now: float, domain: str = "water") -> None:
    alarms.set_level(RULES[domain], domain, asset, f"{domain} works", level, now, rising=True)
    alarms.commit()


def _clear(alarms: AlarmBook, asset: str, now: float, domain: str = "water") -> None:
    alarms.set_level(RULES[domain], domain, asset, f"{domain} works", 0, now, rising=False)
    alarms.commit()


# -- grouping -----------------------------------------------------------------------------------
def test_alarms_near_in_place_are_one_incident_and_a_far_one_another(tmp_path):
    scene = _scene(_asset("W-1", "water", 0, 0, place="Binhe Road", place_zh="滨河路"), _asset("W-2", "water", 150, 0),
                   _asset("W-3", "water", 1000, 0))
    alarms, book = _books(tmp_path / "alarms.sqlite", scene)
    _raise(alarms, "W-1", 2, 10.0)
    _raise(alarms, "W-2", 1, 11.0)
    _raise(alarms, "W-3", 1, 12.0)
    first, second = book.ordered()
    assert first.alarms == [1, 2] and first.assets == ["W-1", "W-2"] and second.assets == ["W-3"]
    assert first.level == 2 and first.worst_alarm == 1 and first.state == "open" and first.owner == "water works"
    assert first.title_zh == "滨河路 供水压力不足" and first.title == "Low pressure at Binhe Road"
    assert second.title == "Low pressure at W-3"  # no place given: the asset id
    assert first.outline == [[0.0, 0.0], [150.0, 0.0]]
    # W-2 escalates above W-1: it becomes the worst, and the title follows
    _raise(alarms, "W-2", 3, 20.0)
    assert book.incidents[first.id].worst_alarm == 2 and book.incidents[first.id].level == 3
    assert book.incidents[first.id].title == "Low pressure at W-2" and book.incidents[first.id].level_since == 20.0


def test_the_title_people_were_told_stays_once_they_act_and_never_follows_an_alarm_easing(tmp_path):
    """docs/incidents.md: the title follows a worse alarm rising until someone acts on the
    incident; resolving its worst alarm, acting on it and closing it never rename it (a
    demo incident went from G-VW-0028 to G-MH-0055 on its way to the close)."""
    scene = _scene(_asset("W-1", "water", 0, 0, place="Binhe Road"), _asset("W-2", "water", 50, 0, place="Xinhua Street"),
                   _asset("W-3", "water", 100, 0, place="Tongling Road"))
    alarms, book = _books(tmp_path / "alarms.sqlite", scene)
    _raise(alarms, "W-1", 2, 10.0)
    _raise(alarms, "W-2", 1, 11.0)
    [incident] = book.ordered()
    assert incident.title == "Low pressure at Binhe Road"
    # its worst alarm is cleared and resolved by itself, before anyone acts on the incident:
    # the worst is now W-2's, but nobody was told of Xinhua Street
    _clear(alarms, "W-1", 20.0)
    alarms.act(1, "acknowledge", "op", now=21.0)
    alarms.act(1, "resolve", "op", now=22.0)
    assert incident.worst_alarm == 2 and incident.title == "Low pressure at Binhe Road" and incident.place == "Binhe Road"
    book.act(incident.id, "acknowledge", "duty officer", "seen", now=30.0)
    # acted on: a worse alarm joining makes it the worst and raises the level, the name stays
    _raise(alarms, "W-3", 4, 40.0)
    assert incident.worst_alarm == 3 and incident.level == 4 and incident.title == "Low pressure at Binhe Road"
    _clear(alarms, "W-2", 50.0)
    _clear(alarms, "W-3", 50.0)
    closed = book.act(incident.id, "close", "duty officer", "done", now=60.0)
    assert (closed.title, closed.title_zh, closed.place) == ("Low pressure at Binhe Road", "Binhe Road 供水压力不足", "Binhe Road")
    alarms.close()
    _, again = _books(tmp_path / "alarms.sqlite", scene)
    assert again.incidents[incident.id].title == "Low pressure at Binhe Road"


def test_detect_is_timed_from_the_earliest_condition_of_its_alarms_to_the_opening(tmp_path):
    """docs/incidents.md, "Response times": detect runs from the onset (an alarm's rise less
    its rule's dwell: when its condition reached the threshold and held) to the incident's
    opening; a slow rule's alarm joining later, begun earlier, moves the onset back."""
    from twin.serving.incidents_api import Figure, figures

    leak = AlarmRule("water.leak", "water", "risk", "Leak", "漏水", raise_dwell=120.0)
    registry = _registry()
    registry.rules.append(("p", leak))
    scene = _scene(_asset("W-1", "water", 0, 0), _asset("W-2", "water", 50, 0))
    alarms, book = _books(tmp_path / "alarms.sqlite", scene, registry)
    _raise(alarms, "W-1", 1, 100.0)  # water.low: 2 s of dwell (the rule's default)
    [incident] = book.ordered()
    assert incident.onset == 98.0 and incident.summary()["times"]["detect"] == 2.0
    alarms.set_level(leak, "water", "W-2", "water works", 2, 150.0)  # held since 30 s
    alarms.commit()
    assert incident.alarms == [1, 2] and incident.onset == 30.0
    summary = incident.summary()
    assert summary["times"] == {"detect": 70.0, "acknowledge": None, "dispatch": None, "arrive": None, "close": None}
    assert figures([summary])["detect"] == Figure(1, 70.0, 70.0, 70.0)
    alarms.close()
    _, again = _books(tmp_path / "alarms.sqlite", scene, registry)
    assert again.incidents[incident.id].response_times()["detect"] == 70.0
    # a record from a store of before: no onset, detect not known
    record = {**incident.to_json()}
    del record["onset"]
    assert type(incident)(**record).response_times()["detect"] is None


def test_an_alarm_long_after_its_neighbour_cleared_opens_a_new_incident(tmp_path):
    scene = _scene(_asset("W-1", "water", 0, 0), _asset("W-2", "water", 50, 0), _asset("W-3", "water", 60, 0))
    alarms, book = _books(None, scene)
    _raise(alarms, "W-1", 1, 0.0)
    _clear(alarms, "W-1", 10.0)
    _raise(alarms, "W-2", 1, 100.0)  # 90 s after W-1 cleared: within the default 30 min
    _raise(alarms, "W-3", 1, 10.0 + 1800.0 + 1.0)  # W-2 is still active: joins
    assert [i.assets for i in book.ordered()] == [["W-1", "W-2", "W-3"]]
    _clear(alarms, "W-2", 2000.0)
    _clear(alarms, "W-3", 2000.0)
    alarms.act(1, "acknowledge", "op", now=2001.0)
    alarms.act(1, "resolve", "op", now=2002.0)
    _raise(alarms, "W-1", 1, 2000.0 + 1800.0 + 5.0)  # a new alarm: its neighbours ended over 30 min ago
    assert len(book.ordered()) == 2


def test_a_coupling_links_alarms_of_two_domains_far_apart(tmp_path):
    tank = _asset("T-1", "toy", 5000, 0, links=("W-1",))
    scene = _scene(_asset("W-1", "water", 0, 0), tank, _asset("T-2", "toy", 5000, 10))
    flood = Coupling("water_to_toy.flood", "water", "toy", lambda ctx: None, "burst fills tanks", writes=("inflow",),
                     reads=("water.burst_flow",))
    alarms, book = _books(None, scene, _registry(couplings=[flood]))
    _raise(alarms, "W-1", 2, 0.0)
    _raise(alarms, "T-1", 1, 5.0, domain="toy")
    _raise(alarms, "T-2", 1, 6.0, domain="toy")  # near T-1 in its own domain: the same incident
    [incident] = book.ordered()
    assert incident.assets == ["W-1", "T-1", "T-2"] and incident.domains == ["toy", "water"]
    # without the coupling the tank's alarm is its own incident, however the assets link
    alarms, book = _books(None, scene)
    _raise(alarms, "W-1", 2, 0.0)
    _raise(alarms, "T-1", 1, 5.0, domain="toy")
    assert [i.assets for i in book.ordered()] == [["W-1"], ["T-1"]]


def test_plugin_groupings_config_overrides_and_the_system_default(tmp_path):
    scene = _scene(_asset("W-1", "water", 0, 0), _asset("W-2", "water", 500, 0))
    wide = IncidentGrouping("water", distance=600.0, window=60.0)
    alarms, book = _books(None, scene, _registry(groupings=[wide]))
    _raise(alarms, "W-1", 1, 0.0)
    _raise(alarms, "W-2", 1, 1.0)
    assert len(book.ordered()) == 1
    alarms, book = _books(None, scene, _registry(groupings=[wide]), {"incident_grouping": {"water.low": {"distance": 100}}})
    _raise(alarms, "W-1", 1, 0.0)
    _raise(alarms, "W-2", 1, 1.0)
    assert len(book.ordered()) == 2
    assert book.groupings("water", "water.low").distance == 100 and book.groupings("water", "water.low").window == 60
    # the core's own alarms group by cause, wherever they are
    alarms, book = _books(None, scene)
    for asset, rule in (("W-1", "system.sensor_offline"), ("W-2", "system.sensor_offline"), ("W-1", "system.stuck")):
        alarms.set_level(rule, "system", asset, "platform operations", 1, 0.0, title=rule, title_zh=rule)
    alarms.commit()
    assert sorted(i.assets for i in book.ordered()) == [["W-1"], ["W-1", "W-2"]]
    # ... and owner unit: an outage silencing two units' devices gives each unit its own
    # incident to dispatch (one incident took the first alarm's owner for all of them)
    scene = _scene(_asset("W-1", "water", 0, 0), _asset("W-2", "water", 500, 0), _asset("W-3", "water", 900, 0))
    alarms, book = _books(None, scene)
    for asset, owner in (("W-1", "water works"), ("W-2", "gas company"), ("W-3", "water works")):
        alarms.set_level("system.sensor_offline", "system", asset, owner, 1, 0.0, title="offline", title_zh="离线")
    alarms.commit()
    assert sorted((i.owner, i.assets) for i in book.ordered()) == [("gas company", ["W-2"]),
                                                                   ("water works", ["W-1", "W-3"])]


@pytest.mark.parametrize(("override", "says"), [
    ({"water": {"distance": -1}}, '[incident_grouping."water"] distance = -1; expected a number >= 0 of metres'),
    ({"water": {"radius": 5}}, '[incident_grouping."water"]: unknown key(s) radius; valid: distance, window, same_rule, same_owner'),
    ({"water": {"same_rule": "yes"}}, '[incident_grouping."water"] same_rule = \'yes\'; expected true or false'),
    ({"water": 5}, '[incident_grouping."water"] must be a table'),
])
def test_a_wrong_grouping_override_is_one_line_naming_the_key(override, says):
    with pytest.raises(GroupingError) as info:
        _books(None, _scene(), None, {"incident_grouping": override})
    assert says in str(info.value) and "\n" not in str(info.value)


def test_the_registry_checks_groupings(toy):
    class Wrong:
        PLUGIN_NAME = "wrong"

        @staticmethod
        @hookimpl
        def twin_domains():
            return [Domain("w", "W", toy.twin_domains()[0].kinds, toy.twin_domains()[0].fields)]

        @staticmethod
        @hookimpl
        def twin_incident_groupings():
            return [IncidentGrouping("w", 10.0, 10.0, rules=("w.nope",))]

    class Foreign:  # a grouping for the toy plugin's domain: not its to say
        PLUGIN_NAME = "foreign"

        @staticmethod
        @hookimpl
        def twin_incident_groupings():
            return [IncidentGrouping("toy", 1.0, 1.0)]

    registry = load_registry([toy, Wrong, Foreign], entry_points=False, check_kernels=False)
    assert registry.plugins["wrong"].status == "quarantined"
    assert "incident grouping for 'w' names alarm rule(s) w.nope that 'w' has not" in registry.plugins["wrong"].reason
    assert registry.plugins["foreign"].status == "active" and registry.groupings == []


def test_outline_is_the_convex_hull():
    square = [(0, 0), (10, 0), (10, 10), (0, 10), (5, 5), (3, 7), (10, 5)]
    assert outline(square) == [[0, 0], [10, 0], [10, 10], [0, 10]]
    assert outline([(1, 1), (1, 1)]) == [[1, 1]]


# -- lifecycle and durability --------------------------------------------------------------------
def test_lifecycle_close_waits_for_the_alarms_and_everything_survives_a_restart(tmp_path):
    path = tmp_path / "alarms.sqlite"
    scene = _scene(_asset("W-1", "water", 0, 0), _asset("W-2", "water", 10, 0))
    alarms, book = _books(path, scene)
    _raise(alarms, "W-1", 3, 0.0)
    with pytest.raises(TwinError, match="incident 1 is open; dispatch needs it to be acknowledged or dispatched"):
        book.act(1, "dispatch", "op", now=1.0)
    book.act(1, "acknowledge", "duty officer", "seen", now=2.0)
    book.act(1, "dispatch", "duty officer", "crew 3 on the way", now=3.0, unit="Binhe water crew")
    with pytest.raises(TwinError, match=r"still has 1 active alarm\(s\): W-1 \(water.low\)"):
        book.act(1, "close", "duty officer", now=4.0)
    _clear(alarms, "W-1", 50.0)
    closed = book.act(1, "close", "duty officer", "main repaired", now=60.0)
    assert closed.state == "closed" and closed.closed == 60.0 and closed.dispatched_to == "Binhe water crew"
    assert [a["action"] for a in closed.actions] == ["acknowledge", "dispatch", "close"] and book.ordered() == []
    assert closed.summary()["actions"][1] == {"action": "dispatch", "who": "duty officer", "time": 3.0, "unit": "Binhe water crew"}
    _raise(alarms, "W-2", 1, 70.0)  # beside a closed incident: a new one
    alarms.close()

    alarms, book = _books(path, scene)
    assert [i.id for i in book.ordered(closed=True)] == [2, 1] and book.incidents[1].to_json() == closed.to_json()
    _raise(alarms, "W-1", 2, 80.0)  # W-1's alarm of the closed incident rises again: it joins the open one
    assert book.incidents[2].assets == ["W-2", "W-1"] and book.incidents[1].alarms == [1]
    kinds = [k for (k,) in sqlite3.connect(path).execute("SELECT kind FROM incident_events ORDER BY seq")]
    assert kinds == ["open", "acknowledge", "dispatch", "clear", "close", "open", "join", "escalate"]


def test_a_failed_commit_leaves_no_incident_and_the_retry_makes_it_once(tmp_path):
    path = tmp_path / "alarms.sqlite"
    alarms, book = _books(path, _scene(_asset("W-1", "water", 0, 0)))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    alarms.set_level(RULES["water"], "water", "W-1", "water works", 2, 1.0)
    with pytest.raises(StoreUnavailable):
        alarms.commit()
    assert book.incidents == {} and book.by_alarm == {}
    other.execute("ROLLBACK")
    alarms.commit()  # the tick's next try: the pending alarm change and its incident, once
    assert [i.assets for i in book.ordered()] == [["W-1"]]
    rows = sqlite3.connect(path).execute("SELECT incident, kind, alarm FROM incident_events").fetchall()
    assert rows == [(1, "open", 1)]


def test_incident_actions_refuse_bad_text_and_unknown_ids(tmp_path):
    alarms, book = _books(None, _scene(_asset("W-1", "water", 0, 0)))
    _raise(alarms, "W-1", 1, 0.0)
    with pytest.raises(KeyError):
        book.act(9, "acknowledge", "op")
    with pytest.raises(TwinError, match="unknown incident action 'shrug'; valid: acknowledge, dispatch, close"):
        book.act(1, "shrug", "op")
    with pytest.raises(TwinError, match="not valid Unicode"):
        book.act(1, "acknowledge", "op", "\ud800")
    assert book.incidents[1].state == "open"


# -- the storm with a gas leak -----------------------------------------------------------------
def _storm_with_a_gas_leak(data: Path, intensity: float):
    """The demo district through ten minutes of a storm of ``intensity`` mm/h while a
    medium-pressure main leaks beside a sewer: the scene's two background happenings,
    the storm made heavier (scripted on the simulator, as a drill's events are)."""
    from twin.runtime import open_twin
    from twin.tick.scene import Incident

    engine = open_twin(ROOT / "scenes" / "demo", data, seed=51)
    engine.simulator.incidents = []
    engine.simulator.schedule(Incident(5.0, "gas.leak", "G-M-0028", {"diameter": 0.012, "cd": 0.62}))
    engine.simulator.schedule(Incident(10.0, "drainage.rain", "D-MH-0001", {"intensity": intensity, "duration": 3600.0}))
    engine.run(600)
    return engine


@pytest.mark.slow
def test_a_storm_with_a_gas_leak_is_a_few_incidents_with_the_gas_one_on_top(tmp_path):
    engine = _storm_with_a_gas_leak(tmp_path / "data", 180.0)
    alarms = list(engine.alarms.alarms.values())
    gas = {a.id for a in alarms if a.domain == "gas"}
    assert len(alarms) >= 60 and gas, f"the storm raised {len(alarms)} alarms, {len(gas)} of gas"
    incidents = engine.incidents.ordered()
    assert len(incidents) <= 6, [(i.title, len(i.alarms)) for i in incidents]
    top = incidents[0]
    assert set(top.alarms) == gas and top.domains == ["gas"] and top.level == 4
    assert top.title_zh.endswith("地下空间可燃气体浓度超限") and top.owner
    assert all(i.domains == ["drainage"] for i in incidents[1:])
    assert sum(len(i.alarms) for i in incidents) == len(alarms)  # every alarm in exactly one
    assert len(top.outline) >= 3 and all(len(pt) == 2 for pt in top.outline)
    # The wall learnt of each incident through the frames: the last summary of each is the incident now.
    seen = {}
    for frame in engine.frames:
        seen.update({s["id"]: s for s in frame.incidents})
    assert seen == {i.id: i.summary() for i in engine.incidents.incidents.values()}
    store = tmp_path / "data" / "alarms.sqlite"
    engine.close()
    reopened = AlarmBook(store)
    again = IncidentBook(reopened, engine.scene, engine.registry, engine.config)
    assert [i.to_json() for i in again.ordered()] == [i.to_json() for i in incidents]


def test_the_compound_drill_puts_the_flooded_station_with_the_flooded_street(tmp_path):
    """The demo's compound drill (storm, gas leak, a blocked pipe by the metro station):
    the station's alarm joins the flooded street's incident through the coupling that
    pours street water into it; the gas leak stays its own incident, on top."""
    from twin.runs.drill import load_drill
    from twin.runs.reruns import run_drill
    from twin.runtime import open_twin

    drill = load_drill(ROOT / "scenes" / "demo" / "drills" / "compound-storm-gas.toml")
    engine = open_twin(drill.scene, tmp_path / "data", seed=drill.seed, config=drill.config, dt=drill.dt, persist=False)
    run_drill(drill, engine)
    incidents = engine.incidents.ordered()
    assert incidents[0].domains == ["gas"] and incidents[0].level == 4
    # its title says where, in both languages, as citygen names the demo's blocks: the
    # worst space of the leak lies in a block by the river (issue 15: "滨河街区 燃气泄漏")
    gas = incidents[0]
    [worst] = [a for a in engine.alarms.alarms.values() if a.id == gas.worst_alarm]
    place = next(a.attributes for assets in engine.scene.assets.values() for a in assets if a.id == worst.asset)
    assert (gas.place, gas.place_zh) == (place["place"], place["place_zh"])
    assert gas.place.startswith("Riverside block ") and gas.place_zh.startswith("滨河") and gas.place_zh.endswith("街区")
    assert gas.title == f"Combustible gas in an underground space at {gas.place}"
    assert gas.title_zh == f"{gas.place_zh} 地下空间可燃气体浓度超限"
    [station] = [i for i in incidents if "T-S-0001" in i.assets]
    assert station.domains == ["drainage", "tunnel"] and "D-MH-0272" in station.assets


# -- the API and the stream ------------------------------------------------------------------------
@pytest.fixture
def served(tmp_path, toy):
    with overfilling_toy(tmp_path, toy) as (server, client, _, _):
        yield client, server


def test_the_api_lists_acts_on_and_streams_incidents(served):
    client, server = served
    wait_for(lambda: client.get("/api/incidents").json()["incidents"], 30, "an incident")
    [incident] = client.get("/api/incidents").json()["incidents"]
    assert incident["assets"] == ["T-001"] and incident["state"] == "open" and incident["domains"] == ["toy"]
    assert incident["owner"] == "toy works" and incident["title_zh"].startswith("滨河一街区 ")  # its block (citygen)
    assert (incident["place"], incident["place_zh"]) == ("Riverside block 1", "滨河一街区")

    one = client.get(f"/api/incidents/{incident['id']}").json()
    assert one["incident"]["id"] == incident["id"] and [a["asset"] for a in one["alarms"]] == ["T-001"]
    assert client.get("/api/incidents/99").status_code == 404
    bad = client.get("/api/incidents?state=lost")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_query" and "state" in bad.json()["error"]

    r = client.post(f"/api/incidents/{incident['id']}/dispatch", json={"note": "go"})
    assert r.status_code == 409 and "dispatch needs it to be acknowledged" in r.json()["error"]
    r = client.post(f"/api/incidents/{incident['id']}/ack", json={"note": "seen", "who": "Li"})
    assert r.status_code == 200 and r.json()["incident"]["actions"][0]["note"] == "seen"
    assert r.json()["incident"]["actions"][0]["who"] == "anonymous (said: Li)"
    r = client.post(f"/api/incidents/{incident['id']}/dispatch", json={"unit": "tank crew 2"})
    assert r.json()["incident"]["dispatched_to"] == "tank crew 2"
    r = client.post(f"/api/incidents/{incident['id']}/close", json={})
    assert r.status_code == 409 and "still has 1 active alarm(s): T-001 (toy.overfill)" in r.json()["error"]
    assert client.post(f"/api/incidents/{incident['id']}/shrug", json={}).status_code == 404
    listed = client.get("/api/incidents?state=dispatched").json()["incidents"]
    assert [i["id"] for i in listed] == [incident["id"]] and "note" not in listed[0]["actions"][0]
    assert any(r["path"] == "/api/incidents" for r in _openapi_paths(client))

    # the stream: a snapshot carries the open incidents, the delta after an action carries the change
    from twin.serving.stream import Subscription

    snapshot, _ = p.decode_server(server.hub.snapshot(Subscription.resolve(server.engine, {})))
    assert [i["id"] for i in snapshot.incidents] == [incident["id"]] and snapshot.incidents[0]["state"] == "dispatched"
    frames_before = server.engine.seq
    r = client.post(f"/api/incidents/{incident['id']}/dispatch", json={"unit": "tank crew 3"})
    assert r.status_code == 200, r.text

    def carried() -> list[dict]:
        return [s for f in list(server.engine.frames) if f.seq > frames_before for s in f.incidents]

    wait_for(lambda: carried() and carried()[-1]["dispatched_to"] == "tank crew 3", 10, "the change in a frame")

    # the archive: once its alarm is resolved the incident closes, and is listed with its response times
    alarm_id = incident["alarms"][0]
    alarm = client.get(f"/api/alarms/{alarm_id}").json()
    alarm = alarm.get("alarm", alarm)
    # the incident's actions acted on its alarm (docs/incidents.md): it is dispatched to the same unit
    assert alarm["state"] == "dispatched" and alarm["dispatched_to"] == "tank crew 3"
    assert [a["action"] for a in alarm["actions"]] == ["acknowledge", "dispatch", "dispatch"]
    # The cause stopped first, as a crew would: the tap closed, the level stays put (no
    # rise, so no new alarm once this one is resolved). Else, at 20x under load, the tank
    # could still be filling when the alarm is resolved: a tick would raise a new alarm,
    # refuse the close and open a new incident.
    r = client.post("/api/actions", json={"action": "toy.open_tap", "target": "T-001", "params": {"rate": 0}})
    assert r.status_code == 200, r.text
    table, row = server.engine.world.locate("T-001")
    closed_at = server.engine.seq
    wait_for(lambda: server.engine.seq >= closed_at + 3, 20, "three ticks after the tap closed")
    settled = float(table["level"][row])
    wait_for(lambda: server.engine.seq >= closed_at + 6, 20, "three ticks more")
    assert float(table["level"][row]) == settled
    assert client.post(f"/api/alarms/{alarm_id}/resolve", json={"note": "tank emptied"}).status_code == 200
    closed = client.post(f"/api/incidents/{incident['id']}/close", json={"note": "done"}).json()["incident"]
    assert client.get("/api/incidents").json()["incidents"] == []
    archive = client.get(f"/api/incidents?closed=1&from={closed['closed'] - 1}&to={closed['closed'] + 1}").json()
    [listed] = archive["incidents"]
    times = listed["times"]
    assert listed["state"] == "closed" and times["close"] == closed["closed"] - closed["opened"]
    assert 0 <= times["acknowledge"] <= times["dispatch"] <= times["close"] and times["arrive"] is None
    assert archive["figures"]["close"] == {"count": 1, "median": times["close"], "p90": times["close"], "mean": times["close"]}
    assert archive["figures"]["arrive"]["count"] == 0
    assert times["detect"] == 0.0 and archive["figures"]["detect"]["count"] == 1  # the toy's rule raises at once
    assert client.get(f"/api/incidents?closed=1&to={closed['closed']}").json()["incidents"] == []


def _openapi_paths(client):
    document = client.get("/api/openapi.json").json()
    return [{"path": path, "method": method} for path, methods in document["paths"].items() for method in methods]


def test_deltas_merge_incidents_latest_first_and_omit_them_when_none():
    from twin.serving.stream import Pending, Subscription
    from twin.tick.engine import Frame

    pending = Pending(base=0)
    sub = Subscription(())
    pending.add(Frame(1, 1.0, {}, [], [], [{"id": 1, "state": "open"}, {"id": 2, "state": "open"}]), sub)
    pending.add(Frame(2, 2.0, {}, [], [], [{"id": 1, "state": "acknowledged"}]), sub)
    message, body = pending.message()
    assert message.incidents == [{"id": 2, "state": "open"}, {"id": 1, "state": "acknowledged"}]
    empty = p.encode(p.Delta(0, 1, 1.0, {}, [], []), p.Body())
    assert b"incidents" not in empty and p.decode_server(empty)[0].incidents == []


def test_the_incremental_update_agrees_with_a_full_recount():
    """An incident follows its changed alarm alone when that is enough; after any run of
    raises, escalations, clears, acknowledgements and resolves it shows what recounting all
    of its alarms shows."""
    import copy
    import random

    rng = random.Random(7)
    assets = [_asset(f"W-{n}", "water", 30.0 * n, 0.0) for n in range(4)]
    alarms, book = _books(None, _scene(*assets))
    now = 0.0
    for _ in range(400):
        now += 1.0
        asset = rng.choice(assets).id
        level = rng.choice([0, 1, 2, 3, 4])
        alarm_id = alarms.open.get(("water.low", asset))
        if alarm_id is not None and rng.random() < 0.3:
            alarm = alarms.alarms[alarm_id]
            if alarm.state == "raised":
                alarms.act(alarm_id, "acknowledge", "op", now=now)
            else:
                alarms.act(alarm_id, "resolve", "op", now=now)
            continue
        before = alarms.alarms[alarm_id].level if alarm_id is not None else 0
        alarms.set_level(RULES["water"], "water", asset, "water works", level, now, rising=level > before)
        alarms.commit()
        for incident in book.incidents.values():
            recounted = copy.deepcopy(incident)
            book._recount(recounted)
            shown = (incident.level, incident.worst_alarm, incident.peak_level, incident.domains, incident.active)
            assert shown == (recounted.level, recounted.worst_alarm, recounted.peak_level, recounted.domains,
                             recounted.active), f"incident {incident.id} at {now}"
    assert len(book.incidents) >= 1 and sum(len(i.alarms) for i in book.incidents.values()) > 20
