"""The streaming rainflow counter against ASTM E1049-85 and the `rainflow` package."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import rainflow
from hypothesis import given, settings
from hypothesis import strategies as st

from twin_bridges.model import RainflowState, stream_count

#: ASTM E1049-85 (2017) §5.4.4, Fig. 6: the rainflow example's loading history and
#: its rainflow count, written out from the standard (range: cycles).
ASTM_SIGNAL = [-2.0, 1.0, -3.0, 5.0, -1.0, 3.0, -4.0, 4.0, -2.0]
ASTM_COUNT = {3.0: 0.5, 4.0: 1.5, 6.0: 0.5, 8.0: 1.0, 9.0: 0.5}
#: The same example cycle by cycle, in the order the standard's steps count them
#: (range, count): 8 is two half cycles (the second holds the moved starting point), and
#: 9, 8 and 6 are the ranges left at the end.
ASTM_CYCLES = [(3.0, 0.5), (4.0, 0.5), (4.0, 1.0), (8.0, 0.5), (9.0, 0.5), (8.0, 0.5), (6.0, 0.5)]


def streaming_count(signal, capacity=64, chunks=None):
    """(range, count) pairs of the streaming counter, in the order it counted them."""
    ranges, cycles = stream_count(np.asarray(signal, dtype=float), capacity, chunks)
    return list(zip(ranges.tolist(), cycles.tolist()))


def reference_count(signal):
    return [(float(r), n) for r, _, n, _, _ in rainflow.extract_cycles(list(signal))]


def histogram(pairs, digits=9):
    out: Counter[float] = Counter()
    for r, n in pairs:
        out[round(r, digits)] += n
    return {r: n for r, n in out.items() if n}


def test_astm_example_matches_the_standard_and_rainflow():
    ours = streaming_count(ASTM_SIGNAL)
    assert histogram(ours) == ASTM_COUNT
    assert histogram(ours) == {float(r): float(n) for r, n in rainflow.count_cycles(ASTM_SIGNAL)}
    # full and half cycles, not only their sum per range
    assert ours == ASTM_CYCLES == reference_count(ASTM_SIGNAL)


def test_a_valley_that_ties_with_the_first_sample_is_two_half_cycles():
    # The stress starts at 0 with an empty deck; a 30 MPa truck crosses and the stress
    # returns to exactly 0, then a 35 MPa truck crosses. ASTM E1049-85 §5.4.4, step by
    # step on the reversals 0, 30, 0, 35, 0:
    # - 0, 30, 0: X = 30 >= Y = 30 (a tie counts) and Y holds the starting point 0, so
    #   Y is one half cycle of 30 (step 5); 0 goes, 30 becomes the starting point.
    # - 30, 0, 35: X = 35 >= Y = 30 and Y holds the starting point 30: another half
    #   cycle of 30; the starting point moves to 0.
    # - 0, 35, 0: X = 35 >= Y = 35, Y holds the starting point: half a cycle of 35.
    # - end of data (step 6): the range left, 35 -> 0, is half a cycle of 35.
    # So four half cycles and no full cycle. A four-point counter (inner range no larger
    # than both neighbours) counts 0, 30, 0, 35 as one full cycle of 30 instead.
    signal = [0.0, 30.0, 0.0, 35.0, 0.0]
    expected = [(30.0, 0.5), (30.0, 0.5), (35.0, 0.5), (35.0, 0.5)]
    assert reference_count(signal) == expected
    assert streaming_count(signal) == expected
    # and the counter books the first half cycle as soon as the rise to 35 confirms the
    # valley, without waiting for the end of the history
    state = RainflowState(1, 8)
    assert state.feed(0, [0.0, 30.0, 0.0])[0].size == 0
    ranges, cycles = state.feed(0, [35.0])
    assert ranges.tolist() == [30.0] and cycles.tolist() == [0.5]


def test_full_cycles_are_the_same_as_three_point_full_cycles():
    rng = np.random.default_rng(7)
    signal = np.cumsum(rng.normal(size=5000))
    full = [r for r, n in streaming_count(signal) if n == 1.0]
    reference = sorted(r for r, n in reference_count(signal) if n == 1.0)
    assert len(full) > 1000
    np.testing.assert_allclose(np.sort(full), reference, rtol=0, atol=1e-12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-20, 20), min_size=3, max_size=120))
def test_random_integer_signals_with_plateaus_and_ties(values):
    signal = [float(v) for v in values]
    ours, reference = streaming_count(signal), reference_count(signal)
    assert histogram(ours) == histogram(reference)
    assert Counter(ours) == Counter(reference)


@st.composite
def signals_in_chunks(draw):
    """A signal of integers in a small range (so ties and plateaus are everywhere,
    including with the first sample), and a split of it into chunks of random sizes
    (repeated cut points make empty chunks: a tick that brought no sample)."""
    values = draw(st.lists(st.integers(-3, 3), min_size=3, max_size=300))
    cuts = sorted(draw(st.lists(st.integers(0, len(values)), max_size=60)))
    edges = [0, *cuts, len(values)]
    return [float(v) for v in values], [b - a for a, b in zip(edges[:-1], edges[1:])]


# A history of three samples or more: for exactly two, `rainflow.reversals` yields the
# first sample only and counts nothing, where the standard counts half a cycle.
@settings(max_examples=500, deadline=None)
@given(signals_in_chunks())
def test_signals_with_many_ties_fed_in_chunks_count_as_rainflow_does(case):
    signal, chunks = case
    state = RainflowState(1, 64)
    ours = []
    at = 0
    for size in chunks:
        ranges, cycles = state.feed(0, signal[at: at + size])
        ours += list(zip(ranges.tolist(), cycles.tolist()))
        at += size
    ranges, cycles = state.end(0)
    ours += list(zip(ranges.tolist(), cycles.tolist()))
    assert state.overflows[0] == 0
    # ranges and counts, full and half cycles, exactly (the ranges are differences of
    # the same floats), in the same order as the standard counts them
    assert ours == reference_count(signal)


# Stresses at a gauge's resolution (1e-6 MPa). Below it, `rainflow` finds reversals by
# the sign of a product of two slopes, which underflows to zero for ranges near 1e-170
# and hides a reversal; our counter compares signs, so the two part only on such values.
@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False).map(lambda v: round(v, 6)), min_size=3, max_size=200))
def test_random_float_signals(values):
    ours, reference = streaming_count(values), reference_count(values)
    assert histogram(ours) == histogram(reference)
    assert Counter(ours) == Counter(reference)


def test_spans_are_counted_independently_when_interleaved():
    rng = np.random.default_rng(3)
    signals = rng.normal(size=(3, 400)).cumsum(axis=1)
    state = RainflowState(3, 64)
    counted = [[], [], []]
    for t in range(signals.shape[1]):
        for s in range(3):
            ranges, cycles = state.feed(s, signals[s, t: t + 1])
            counted[s] += list(zip(ranges.tolist(), cycles.tolist()))
    for s in range(3):
        ranges, cycles = state.end(s)
        counted[s] += list(zip(ranges.tolist(), cycles.tolist()))
        assert counted[s] == reference_count(signals[s])
    assert state.overflows[0] == 0


def test_a_full_stack_counts_its_oldest_range_as_a_half_cycle():
    # a converging signal never closes a cycle: its ranges 23, 21, 19, ... strictly
    # decrease, so every reversal stays on the standard's stack until the end
    signal = np.array([(-1.0) ** k * (12 - k) for k in range(12)])
    state = RainflowState(1, 4)
    dropped = []
    for x in signal:
        ranges, cycles = state.feed(0, [x])
        assert set(cycles.tolist()) <= {0.5}
        dropped += ranges.tolist()
    # the reversals 12, -11, 10, -9, ... fill the stack of 4 at the fourth; each later
    # one counts the oldest range as a half cycle: 23, 21, 19, ...
    assert dropped == pytest.approx([23.0, 21.0, 19.0, 17.0, 15.0, 13.0, 11.0])
    assert state.overflows[0] == 7 and state.count[0] == 4
    # those ranges hold the starting point, so the standard counts them as half cycles
    # too: with the end, the whole count is the standard's
    assert Counter(streaming_count(signal, capacity=4)) == Counter(reference_count(signal))
