"""The one risk convention: a table check, as MODELS.md asks, not a formula check."""

import math

import numpy as np
import pytest
from numba import njit

from twin.tick.risk import check_breakpoints, level_of, piecewise_risk


@njit
def risk_of(x, bp):
    return piecewise_risk(x, bp)


LEL = np.array([0.0, 10.0, 25.0, 50.0, 75.0, 100.0])  # gas default levels, %LEL


@pytest.mark.parametrize(
    "x, risk, level",
    [(-5.0, 0.0, 0), (0.0, 0.0, 0), (5.0, 0.125, 0), (10.0, 0.25, 1), (25.0, 0.50, 2), (37.5, 0.625, 2),
     (50.0, 0.75, 3), (75.0, 0.90, 4), (100.0, 1.0, 4), (180.0, 1.0, 4)],
)
def test_rising_indicator_meets_the_level_table(x, risk, level):
    r = risk_of(x, LEL)
    assert r == pytest.approx(risk)
    assert level_of(r) == level


O2 = np.array([20.9, 19.5, 19.0, 18.0, 17.0, 15.0])  # falling: low oxygen is bad


@pytest.mark.parametrize("x, level", [(21.0, 0), (20.0, 0), (19.5, 1), (19.2, 1), (19.0, 2), (18.0, 3), (17.0, 4), (10.0, 4)])
def test_falling_indicator_levels(x, level):
    assert level_of(risk_of(x, O2)) == level


def test_missing_value_is_not_alarmed():
    assert risk_of(math.nan, LEL) == 0.0


def test_infinities_and_a_repeated_first_breakpoint():
    assert risk_of(math.inf, LEL) == 1.0 and risk_of(-math.inf, LEL) == 0.0
    assert risk_of(-math.inf, O2) == 1.0 and risk_of(math.inf, O2) == 0.0
    flat = np.array([0.0, 0.0, 25.0, 50.0, 75.0, 100.0])  # blue from the first sign of anything
    assert risk_of(-1.0, flat) == 0.0 and risk_of(0.0, flat) == 0.0  # at normal: nothing yet
    assert risk_of(1e-9, flat) == pytest.approx(0.25) and risk_of(12.5, flat) == pytest.approx(0.375)


def test_breakpoints_must_be_six_and_monotone():
    with pytest.raises(ValueError, match="six breakpoints"):
        check_breakpoints("lel", (0, 1, 2))
    with pytest.raises(ValueError, match="rise"):
        check_breakpoints("lel", (0, 10, 5, 50, 75, 100))
    check_breakpoints("o2", tuple(O2))
