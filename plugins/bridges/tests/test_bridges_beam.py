"""Beam response and frequency against the closed forms, written out here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin_bridges.model import (
    FREQUENCY_TEMPERATURE_COEFFICIENT, REFERENCE_TEMPERATURE, impact_factor, midspan_deflection, midspan_moment,
    natural_frequency, response_update,
)

L, E_MPA, I, M, Y = 30.0, 206_000.0, 0.35, 19_000.0, 1.26
EI = E_MPA * 1e6 * I


def test_uniform_load_deflection_is_5qL4_over_384EI():
    q = 12e3
    assert midspan_deflection(L, EI, q, 0.0, 0.0) == pytest.approx(5 * q * L**4 / (384 * EI), rel=1e-12)


def test_point_load_at_midspan_is_PL3_over_48EI():
    P = 1.2e6
    assert midspan_deflection(L, EI, 0.0, P, L / 2) == pytest.approx(P * L**3 / (48 * EI), rel=1e-12)
    assert midspan_moment(L, 0.0, P, L / 2) == pytest.approx(P * L / 4, rel=1e-12)


@pytest.mark.parametrize("a", [0.0, 3.0, 10.0, 21.0, 29.0, 30.0])
def test_point_load_anywhere_by_integrating_the_curvature(a):
    # Independent route: deflection at midspan by the unit-load method,
    # delta = integral of M(x)·m(x)/EI dx, with m the moment of a unit load at midspan.
    P = 4e5
    x = np.linspace(0.0, L, 200_001)
    reaction = P * (L - a) / L
    moment = reaction * x - P * np.clip(x - a, 0.0, None)
    unit = np.where(x <= L / 2, x / 2, (L - x) / 2)
    delta = np.trapezoid(moment * unit, x) / EI
    assert midspan_deflection(L, EI, 0.0, P, a) == pytest.approx(delta, rel=1e-6, abs=1e-12)
    assert midspan_moment(L, 0.0, P, a) == pytest.approx(moment[100_000], rel=1e-6, abs=1e-6)


def test_first_frequencies_of_a_simply_supported_beam():
    for n in (1, 2, 3):
        expected = n**2 * math.pi / (2 * L**2) * math.sqrt(EI / M)
        assert natural_frequency(n, L, EI, M) == pytest.approx(expected, rel=1e-12)


def test_impact_factor_of_jtg_d60():
    assert impact_factor(1.0) == 0.05
    assert impact_factor(20.0) == 0.45
    assert impact_factor(3.0) == pytest.approx(0.1767 * math.log(3.0) - 0.0157)


def test_response_update_combines_the_loads_and_the_stiffness():
    rows = np.array([0, 1])
    one = np.ones(2)
    traffic, truck, position, heavy = np.array([8.0, 0.0]), np.array([40.0, 0.0]), np.array([7.5, 0.0]), np.array([0.0, 120.0])
    stiffness = np.array([1.0, 0.7])
    temperature = np.array([REFERENCE_TEMPERATURE, 0.0])
    deflection, strain, frequency, acceleration = (np.zeros(2) for _ in range(4))
    response_update(rows, L * one, E_MPA * one, I * one, M * one, Y * one, stiffness, traffic, truck, position, heavy,
                    temperature, 0.0, np.uint64(1), 1.0, deflection, strain, frequency, acceleration)
    g = 9.81
    # span 0: 8 kN/m plus a 40 t truck 7.5 m from the start
    P, b, q = 40e3 * g, 7.5, 8e3
    delta0 = 5 * q * L**4 / (384 * EI) + P * b * (3 * L**2 - 4 * b**2) / (48 * EI)
    moment0 = q * L**2 / 8 + P * b / 2
    assert deflection[0] == pytest.approx(delta0 * 1e3, rel=1e-12)
    assert strain[0] == pytest.approx(moment0 * Y / EI * 1e6, rel=1e-12)
    # span 1: 120 t at midspan on a span that lost 30 % of its stiffness, at 0 degC
    P = 120e3 * g
    assert deflection[1] == pytest.approx(P * L**3 / (48 * 0.7 * EI) * 1e3, rel=1e-12)
    assert strain[1] == pytest.approx(P * L / 4 * Y / (0.7 * EI) * 1e6, rel=1e-12)
    f1 = math.pi / (2 * L**2) * math.sqrt(0.7 * EI / M)
    assert frequency[1] == pytest.approx(f1 * (1 + FREQUENCY_TEMPERATURE_COEFFICIENT * (0.0 - REFERENCE_TEMPERATURE)))
    assert frequency[1] / frequency[0] == pytest.approx(math.sqrt(0.7) * (1 - 20 * FREQUENCY_TEMPERATURE_COEFFICIENT))
    assert acceleration[0] > 0.0 and acceleration[1] == 0.0  # a standing load does not excite the deck (no tremor)
