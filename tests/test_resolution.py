"""Resolution (issue 14): only news is in a frame, and a client never drifts from the
server by a resolution or more.

A live value is news when it moved by its field's ``resolution`` or more since the value
last sent for its row, or (an alarm rule's risk field) across a level; a heartbeat
re-sends, within HEARTBEAT seconds, every row that moved by less. The demo district's
clients are checked tick by tick against the server's exact columns, through the bytes
the stream sends, and over a real socket.
"""

import asyncio
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import running, wait_healthy

from twin.plugins.contributions import AssetKind, Domain, FieldSpec
from twin.runtime import open_twin
from twin.serving import protocol as p
from twin.serving.client import Mirror
from twin.serving.server import create_app
from twin.serving.stream import Hub, Pending, Subscription
from twin.tick.state import HEARTBEAT, DomainTable
from twin.types import LEVEL_RISK_THRESHOLDS

ROOT = Path(__file__).resolve().parents[1]


def table(*fields: FieldSpec, rows: int = 4) -> DomainTable:
    t = DomainTable(Domain("d", "d", (AssetKind("k", "Point", ""),), fields), [f"a{i}" for i in range(rows)], ["k"] * rows)
    t.mark_baseline()
    return t


def news(t: DomainTable, field: str, heartbeat: tuple[int, int] | None = None) -> list[int]:
    """Rows of ``field`` in this frame; by default no row's heartbeat turn comes."""
    rows, values = t.take_delta(field, heartbeat or (len(t), len(t) + 1))
    np.testing.assert_array_equal(values, t.columns[field][rows])
    return rows.tolist()


# -- what is news ----------------------------------------------------------------------------
def test_a_move_is_news_against_the_value_last_sent_not_the_last_tick():
    t = table(FieldSpec("depth", "float64", "m", (0, 10), "", resolution=0.005))
    depth = t["depth"]
    depth[0] += 0.004  # below the resolution: not news
    assert news(t, "depth") == []
    depth[0] += 0.004  # 0.004 since the last tick, 0.008 since the value sent: news
    assert news(t, "depth") == [0]
    assert t.sent("depth")[0] == depth[0]
    depth[1] = 0.005  # exactly the resolution: news
    depth[2] = -0.0049
    assert news(t, "depth") == [1]


def test_zero_resolution_integer_and_bool_fields_send_every_change():
    t = table(FieldSpec("x", "float64", "", (0, 1), ""), FieldSpec("n", "uint8", "1", (0, 9), "", resolution=0.0),
              FieldSpec("on", "bool", "1", (0, 1), ""))
    t["x"][0] = 1e-12
    t["n"][1] = 1
    t["on"][2] = True
    assert (news(t, "x"), news(t, "n"), news(t, "on")) == ([0], [1], [2])
    assert (news(t, "x"), news(t, "n"), news(t, "on")) == ([], [], [])


def test_nan_against_a_number_is_news_and_nan_equals_nan():
    t = table(FieldSpec("x", "float64", "", (0, 1), "", resolution=0.5))
    t["x"][3] = np.nan
    assert news(t, "x") == [3]
    assert news(t, "x") == []


def test_a_risk_that_crosses_a_level_is_news_however_small_the_step():
    t = table(FieldSpec("risk", "float64", "1", (0, 1), "", resolution=0.05))
    t.news_across("risk", LEVEL_RISK_THRESHOLDS)
    risk = t["risk"]
    risk[:] = [0.24, 0.49, 0.76, 0.95]
    assert news(t, "risk") == [0, 1, 2, 3]
    risk[:] = [0.2501, 0.4999, 0.7499, 0.93]  # across 0.25 up and 0.75 down; the others stay in their level
    assert news(t, "risk") == [0, 2]
    risk[1] = 0.5  # 0.5 is level III's threshold: reaching it is crossing
    assert news(t, "risk") == [1]


def test_the_heartbeat_sends_each_rows_small_moves_in_its_turn_and_only_those():
    t = table(FieldSpec("x", "float64", "", (0, 10), "", resolution=1.0), rows=6)
    x = t["x"]
    x[[1, 2, 4]] += 0.25  # small moves; rows 0, 3 and 5 do not move
    period = 3
    sent = [news(t, "x", (phase, period)) for phase in (1, 2, 0)]
    assert sent == [[1, 4], [2], []]
    assert [news(t, "x", (phase, period)) for phase in (1, 2, 0)] == [[], [], []]
    np.testing.assert_array_equal(t.sent("x"), x)


def test_the_heartbeat_resends_a_row_that_moved_and_came_back():
    # A client that took a snapshot while the row was away holds the value it had then.
    t = table(FieldSpec("x", "float64", "", (0, 10), "", resolution=1.0))
    t["x"][2] = 0.5
    assert news(t, "x", (0, 4)) == []
    t["x"][2] = 0.0  # back at the value sent
    assert news(t, "x", (1, 4)) == []
    assert news(t, "x", (2, 4)) == [2]  # its turn: sent once
    assert news(t, "x", (2, 4)) == []


def test_a_resolution_must_be_a_finite_number_at_least_zero():
    for bad in (-0.1, math.inf, math.nan):
        with pytest.raises(ValueError, match=r"^field 'lel': resolution .* must be a finite number >= 0 \(in %LEL; "):
            FieldSpec("lel", "float64", "%LEL", (0, 100), "", resolution=bad)


def test_every_live_field_of_the_built_in_plugins_declares_its_resolution():
    # 0 is a choice for states and levels; a float's 0 must be a choice too, so the
    # built-in plugins give every float field a resolution of its own.
    from twin.plugins.registry import load_registry

    registry = load_registry()
    undeclared = [f"{d.name}.{f.name}" for d in registry.domains.values() for f in d.fields
                  if not f.attribute and f.dtype.startswith("float") and f.resolution == 0
                  and f.name not in ("fire_growth", "fire_max_hrr")]  # set once by tunnel.fire: every change is news
    assert undeclared == []
    historical = {(d.name, f.name) for d in registry.domains.values() for f in d.fields if f.historical}
    assert {("gas", "risk"), ("drainage", "risk"), ("bridge", "risk"), ("tunnel", "risk")} <= historical
    assert {("gas", "lel"), ("drainage", "depth"), ("tunnel", "sump_level")} <= historical


# -- a client against the server's exact state ----------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    shutil.copy(ROOT / "scenes" / "demo" / "scene.toml", root / "scene.toml")
    return root


def off_by_a_resolution(mirror: Mirror, engine) -> list[str]:
    """Where the mirror's value is a field's resolution or more from the server's exact
    column (any difference for a resolution of 0), or in another level of a risk."""
    risks = {(rule.domain, rule.risk_field) for _, rule in engine.registry.rules}
    problems = []
    for d, table_ in engine.world.tables.items():
        for f in table_.live_fields():
            exact = table_.columns[f].astype(np.float64)
            held = mirror.tables[d][f].astype(np.float64)
            resolution = table_.specs[f].resolution
            bad = ~((np.abs(held - exact) < resolution) | (held == exact) | (np.isnan(held) & np.isnan(exact)))
            if (d, f) in risks:
                levels = np.asarray(LEVEL_RISK_THRESHOLDS)
                bad |= np.searchsorted(levels, held, "right") != np.searchsorted(levels, exact, "right")
            for row in np.flatnonzero(bad)[:3].tolist():
                problems.append(f"{d}.{f}[{table_.ids[row]}]: client {held[row]!r}, server {exact[row]!r} "
                                f"(resolution {resolution})")
    return problems


def test_clients_stay_within_a_resolution_of_the_server_tick_by_tick(demo):
    """Two clients fed the stream's own bytes: one from the start, checked at every tick;
    one that joins at tick 40 (its snapshot holds the exact state, which the deltas of the
    values sent do not correct), checked at every tick past its heartbeat horizon."""
    engine = open_twin(demo, demo / "data", seed=7, persist=False)
    try:
        hub = Hub(engine)
        sub = Subscription.resolve(engine, None)
        period = int(round(HEARTBEAT / engine.dt))
        early, late = Mirror(), Mirror()
        early.apply(hub.snapshot(sub))
        joined = 40
        quiet = 0  # values the server holds that its clients do not: what news-only saves
        for tick in range(1, joined + period + 60):
            frame = engine.tick()
            for mirror in (early, late) if late.seq >= 0 else (early,):
                pending = Pending(base=mirror.seq)
                pending.add(frame, sub)
                mirror.apply(p.encode(*pending.message()))
            if tick == joined:
                late.apply(hub.snapshot(sub))
            assert off_by_a_resolution(early, engine) == [], f"tick {tick}"
            if tick > joined + period:
                assert off_by_a_resolution(late, engine) == [], f"tick {tick}, {tick - joined} s after the snapshot"
            quiet += sum(int(np.count_nonzero(early.tables[d][f] != t.columns[f]))
                         for d, t in engine.world.tables.items() for f in t.live_fields() if t.columns[f].dtype.kind == "f")
        assert quiet > 0, "every value was sent: the resolutions did nothing"
    finally:
        engine.close()


def test_a_client_over_a_real_socket_is_within_a_resolution_after_the_heartbeat(demo, tmp_path):
    made = {}

    def build():
        made["engine"] = open_twin(demo, tmp_path / "twin", seed=3, persist=False)
        return made["engine"]

    server = create_app(build, speed=40.0, data_dir=tmp_path / "data")

    async def main(url):
        import websockets

        async with websockets.connect(url, subprotocols=[p.SUBPROTOCOL], max_size=None, compression=None) as ws:
            mirror = Mirror()
            await ws.send(p.encode_client(p.Subscribe()))
            async with asyncio.timeout(60):
                while mirror.seq < 0:
                    mirror.apply(await ws.recv())
                joined = mirror.seq
                while mirror.seq < joined + HEARTBEAT + 5:
                    mirror.apply(await ws.recv())
                server.running.clear()  # the tick loop stops: the state holds still
                await asyncio.sleep(0.3)
                engine = made["engine"]
                while mirror.seq < engine.seq:
                    mirror.apply(await ws.recv())
            return mirror, engine

    with running(server.app) as url:
        wait_healthy(url, ticking=True)
        mirror, engine = asyncio.run(main(url.replace("http", "ws") + "/ws"))
    assert mirror.seq == engine.seq
    assert off_by_a_resolution(mirror, engine) == []
