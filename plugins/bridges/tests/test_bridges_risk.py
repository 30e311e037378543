"""The risk kernel against the level table of MODELS.md ("Bridges"), not a formula."""

from __future__ import annotations

import numpy as np
import pytest

from twin.tick.risk import level_of
from twin_bridges import plugin
from twin_bridges.model import bridge_risk

KERNEL = plugin.twin_kernels()[0]
PARAMS = {p.name: p for p in KERNEL.params}


def risk_of(deflection=0.0, limit=0.0, strain=0.0, design_strain=0.0, frequency=0.0, temperature=20.0,
            design_frequency=0.0, projected=0.0, settlement=0.0, settlement_limit=0.0):
    columns = [np.array([v], dtype=float) for v in (deflection, limit, strain, design_strain, frequency, temperature,
                                                     design_frequency, projected, settlement, settlement_limit)]
    ratio, risk = np.zeros(1, dtype=np.float32), np.zeros(1, dtype=np.float64)
    bridge_risk(*columns, *[p.as_argument() for p in KERNEL.params], ratio, risk)
    return float(risk[0]), float(ratio[0])


# (indicator value, level) from MODELS.md: response over limit IV .7 III .85 II 1.0 I 1.2.
# Values sit exactly on thresholds, so 1e-6 absorbs the rounding of the ratio itself.
@pytest.mark.parametrize("ratio,level", [(0.5, 0), (0.69, 0), (0.70, 1), (0.84, 1), (0.85, 2), (0.99, 2),
                                         (1.0, 3), (1.19, 3), (1.2, 4), (3.0, 4)])
def test_response_levels(ratio, level):
    assert level_of(risk_of(deflection=ratio * 50.0, limit=50.0)[0] + 1e-6) == level
    assert level_of(risk_of(strain=ratio * 180.0, design_strain=180.0)[0] + 1e-6) == level
    assert level_of(risk_of(settlement=ratio * 100.0, settlement_limit=100.0)[0] + 1e-6) == level


# λ falling: IV < 1.0, III < 0.95, II < 0.90, I < 0.75
@pytest.mark.parametrize("lam,level", [(1.12, 0), (1.01, 0), (1.0, 1), (0.96, 1), (0.95, 2), (0.91, 2),
                                       (0.90, 3), (0.76, 3), (0.75, 4), (0.5, 4)])
def test_frequency_ratio_levels_after_temperature_compensation(lam, level):
    alpha, t_ref = PARAMS["temperature_coefficient"].value, PARAMS["reference_temperature"].value
    # measured at 0 degC, where the deck is stiffer: compensation must take that out
    measured = lam * 3.0 * (1 + alpha * (0.0 - t_ref))
    risk, ratio = risk_of(frequency=measured, temperature=0.0, design_frequency=3.0)
    assert ratio == pytest.approx(lam, rel=1e-6)
    assert level_of(risk + 1e-6) == level


# projected D: IV .5, III .8, II 1.0, I 1.5
@pytest.mark.parametrize("d,level", [(0.2, 0), (0.49, 0), (0.5, 1), (0.8, 2), (1.0, 3), (1.49, 3), (1.5, 4)])
def test_fatigue_levels(d, level):
    assert level_of(risk_of(projected=d)[0] + 1e-6) == level


def test_risk_is_the_worst_indicator_and_missing_inputs_count_for_nothing():
    worst, _ = risk_of(deflection=55.0, limit=50.0, strain=10.0, design_strain=180.0, projected=0.6)
    assert level_of(worst + 1e-6) == 3
    assert risk_of() == (0.0, 0.0)
    assert risk_of(frequency=0.0, design_frequency=3.0) == (0.0, 0.0)


def test_thresholds_are_defaults_with_their_source():
    for p in KERNEL.params:
        assert p.source and p.default
