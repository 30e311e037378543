"""The risk kernels against the level tables of MODELS.md (node levels, default) and the
CMA rainstorm warning signals, and the rolling rain totals against closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from twin.tick.risk import level_of
from twin_drainage import model, plugin


def node_risk(heads, invert=10.0, rim=13.0, crown=11.0):
    n = len(heads)
    risk = np.full(n, np.nan)
    params = [p.value for p in plugin.NODE_PARAMS]
    model.node_flood_risk(np.asarray(heads) - invert, np.full(n, invert), np.full(n, rim), np.full(n, crown), *params, risk)
    return risk


def test_node_levels_follow_the_default_table():
    # invert 10, crown 11, rim 13: IV above the crown, III within 0.5 m of the rim,
    # II within 0.2 m (and so when flooding), I at 0.15 m of ponding.
    cases = [(10.5, 0), (10.999, 0), (11.001, 1), (12.49, 1), (12.5, 2), (12.79, 2), (12.8, 3), (13.0, 3),
             (13.149, 3), (13.15, 4), (14.0, 4)]
    risk = node_risk([h for h, _ in cases])
    assert [level_of(r) for r in risk] == [level for _, level in cases]


def test_node_risk_is_piecewise_linear_between_the_levels():
    heads = np.linspace(9.0, 14.0, 1001)
    # The oracle: np.interp through the node's breakpoints, written out.
    expected = np.interp(heads, [10.0, 11.0, 12.5, 12.8, 13.15, 13.30], [0.0, 0.25, 0.5, 0.75, 0.9, 1.0])
    np.testing.assert_allclose(node_risk(heads), expected, atol=1e-12)


def test_shallow_manhole_surcharge_is_already_yellow():
    # crown 0.3 m below the rim: a surcharge is within 0.5 m of the rim
    risk = node_risk([12.71, 12.75], invert=11.5, rim=13.0, crown=12.7)
    assert [level_of(r) for r in risk] == [2, 2]


def test_rows_without_a_rim_have_no_risk():
    risk = np.full(2, np.nan)
    model.node_flood_risk(np.array([5.0, 5.0]), np.zeros(2), np.zeros(2), np.zeros(2), 0.5, 0.2, 0.15, 0.3, risk)
    assert list(risk) == [0.0, 0.0]


def rain_level(r3, r6, r12):
    risk = np.full(1, np.nan)
    model.rainstorm_risk(np.array([r3]), np.array([r6]), np.array([r12]), *[p.value for p in plugin.RAIN_PARAMS], risk)
    return level_of(risk[0])


@pytest.mark.parametrize("r3, r6, r12, level", [
    (10.0, 20.0, 49.9, 0), (10.0, 20.0, 50.0, 1), (40.0, 49.9, 80.0, 1), (40.0, 50.0, 80.0, 2),
    (49.9, 60.0, 80.0, 2), (50.0, 60.0, 80.0, 3), (99.9, 120.0, 130.0, 3), (100.0, 120.0, 130.0, 4),
    (0.0, 0.0, 0.0, 0),
])
def test_cma_rainstorm_signals(r3, r6, r12, level):
    # CMA Order No. 16: blue 50 mm/12 h, yellow 50 mm/6 h, orange 50 mm/3 h, red 100 mm/3 h
    assert rain_level(r3, r6, r12) == level


def test_rolling_totals_of_a_steady_then_stopped_rain():
    history = model.RainHistory(np.array([0]), 0.0)
    now = 0.0
    for _ in range(2 * 3600):  # 30 mm/h for two hours, 1 s steps
        now += 1.0
        history.add(np.array([30.0]), now, 1.0)
    # closed form: i · min(t, W)
    assert history.since(now, 3600.0)[0] == pytest.approx(30.0, rel=1e-9)
    assert history.since(now, 3 * 3600.0)[0] == pytest.approx(60.0, rel=1e-9)
    for _ in range(90 * 60):  # then 90 dry minutes
        now += 1.0
        history.add(np.array([0.0]), now, 1.0)
    assert history.since(now, 3600.0)[0] == pytest.approx(0.0, abs=1e-9)
    # the last 3 h hold the second hour of rain and a half of the first: 45 mm
    assert history.since(now, 3 * 3600.0)[0] == pytest.approx(45.0, rel=1e-9)
    assert history.since(now, 12 * 3600.0)[0] == pytest.approx(60.0, rel=1e-9)


def test_rolling_totals_past_twelve_hours():
    """The minute marks are a ring of 12 h: after 13 h of 30 mm/h and 1 h of 60 mm/h
    the oldest marks have been overwritten, and every window still holds i·W."""
    history = model.RainHistory(np.array([0]), 0.0)
    now = 0.0
    for intensity, hours in ((30.0, 13), (60.0, 1)):
        for _ in range(hours * 3600):
            now += 1.0
            history.add(np.array([intensity]), now, 1.0)
    assert history.since(now, 3600.0)[0] == pytest.approx(60.0, rel=1e-9)
    assert history.since(now, 3 * 3600.0)[0] == pytest.approx(60.0 + 2 * 30.0, rel=1e-9)
    assert history.since(now, 12 * 3600.0)[0] == pytest.approx(60.0 + 11 * 30.0, rel=1e-9)

