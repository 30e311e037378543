"""The gas plugin in a running twin: simulator truth, noisy detectors, alarms."""

from __future__ import annotations

import numpy as np
import pytest

import twin_gas.plugin as gas_plugin
from twin_gas.generate import demo_incident

SEED, BLOCKS = 20261123, (8, 7)


def make(twin_harness, incident: bool = True, **kwargs):
    """The demo district's gas network (the harness leaves out buildings); with
    ``incident``, the demo's scripted leak goes into its scene.toml."""
    found: dict = {}

    def hook(plan):
        found.update(demo_incident(plan))
        if incident:
            plan.add_incident(found["at"], found["action"], found["asset"], **found["params"])

    h = twin_harness(plugins=[gas_plugin], blocks=BLOCKS, seed=SEED, plan_hook=hook, **kwargs)
    return h, found


def level(h, asset: str) -> int:
    return max((a.level for a in h.alarms(asset)), default=0)


def test_demo_leak_raises_blue_then_yellow_within_a_minute(twin_harness):
    h, incident = make(twin_harness)
    assert incident["action"] == "gas.leak" and incident["at"] == 5.0
    watch, seen = incident["watch"], {}
    for t in range(1, 61):
        h.run(1)
        seen.setdefault(level(h, watch), t)
    assert 1 in seen and 2 in seen, f"levels reached (level: second): {seen}"
    assert incident["at"] < seen[1] < seen[2] <= 60
    alarm = h.alarms(watch)[0]
    assert alarm.owner and alarm.rule == "gas.lel"
    # The twin saw the gas through the detector only: it has no model of the leak.
    assert h.value(incident["asset"], "leak_rate") == 0.0
    assert h.value(incident["asset"], "leak_rate", truth=True) > 0.05


def test_closing_the_valve_stops_the_rise(twin_harness):
    h, incident = make(twin_harness)
    main, watch = incident["asset"], incident["watch"]
    valve = next(a.id for a in h.scene.assets["gas"] if a.kind == "valve" and main in a.links)
    h.run(30)
    h.act("gas.close_valve", valve)
    truth = []
    for _ in range(270):
        h.run(1)
        truth.append(h.value(watch, "ch4", truth=True))
    truth = np.array(truth)
    assert h.value(main, "pressure", truth=True) == pytest.approx(101325.0)  # vented to atmosphere
    assert h.value(valve, "valve_open") == 0  # the twin knows from the valve's position sensor
    peak = int(np.argmax(truth))
    assert peak < 90, "methane should stop rising within 90 s of the valve closing"
    assert np.all(np.diff(truth[peak:]) < 0), "after its peak the methane only falls (ventilation)"

    # Without the valve, the same leak goes on filling the manhole.
    g, _ = make(twin_harness)
    g.run(300)
    assert g.value(watch, "ch4", truth=True) > 2 * truth.max()
    assert level(g, watch) >= 3 > level(h, watch)


def test_no_leak_no_alarm(twin_harness):
    h, incident = make(twin_harness, incident=False)
    h.run(120)
    assert h.alarms() == []
    table = h.engine.world.tables["gas"]
    sewers = table.rows("sewer_segment")
    # ...though the sewers' detectors read their biogas
    assert np.all(table["ch4"][sewers] >= 0) and table["lel"][sewers].mean() > 1.0
    assert np.all(table["risk"] < 0.25)


def test_a_twin_that_knows_the_source_escalates_on_the_predicted_arrival(twin_harness):
    # Without a simulator, actions act on the twin itself: it models the leak and can
    # predict when each space beside the main reaches 100 %LEL (level I within 30 min).
    h, incident = make(twin_harness, incident=False, simulate=False)
    h.act(incident["action"], incident["asset"], **incident["params"])
    h.run(5)
    watch = incident["watch"]
    assert h.value(watch, "lel") < 10.0
    assert h.value(watch, "time_to_lel") < 1800.0
    assert level(h, watch) == 4


def test_actions_refuse_what_is_not_valid(twin_harness):
    h, incident = make(twin_harness, incident=False)
    main = incident["asset"]
    with pytest.raises(ValueError, match=rf"{main}.*larger than the main's diameter"):
        h.act("gas.leak", main, diameter=0.9)
    with pytest.raises(ValueError, match="applies to kinds main"):
        h.act("gas.leak", incident["watch"], diameter=0.01)
    h.act("gas.leak", main, diameter=0.02)
    h.run(2)
    assert h.value(main, "leak_rate", truth=True) > 0
    h.act("gas.repair", main)
    h.run(1)
    assert h.value(main, "leak_rate", truth=True) == 0.0
