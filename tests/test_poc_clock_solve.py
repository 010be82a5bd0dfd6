"""`coverage_net.poc.solve_clocks`: host clock offsets from report lags.

Synthetic networks with known clocks: the solve recovers the offsets (up to the
constant no lag shows) and the shared delay; it agrees with a float least-squares
solve to rounding; a host that heard as many rebroadcasts (late by an airtime) as
direct beacons keeps its true offset, every repeat stands out late and no honest
report does; the same equations give the same integers; bad input is refused by name.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_net.poc import solve_clocks

AIRTIME_MS = 300


def _network(seed: int, hosts: int = 60, reports: int = 3_000, jitter_ms: int = 20,
             delay_ms: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random (beaconer, witness) pairs over `hosts` clocks up to 2 s off; their lags."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(-2_000, 2_000, hosts)
    beaconer = rng.integers(0, hosts, reports)
    witness = (beaconer + rng.integers(1, hosts, reports)) % hosts  # never itself
    lag = truth[witness] - truth[beaconer] + delay_ms + rng.integers(-jitter_ms, jitter_ms + 1,
                                                                     reports)
    return beaconer, witness, lag, truth


def _error(offsets: np.ndarray, truth: np.ndarray) -> np.ndarray:
    error = offsets - truth
    return np.abs(error - np.median(error))


@pytest.mark.parametrize("seed", range(4))
def test_the_offsets_and_the_delay_are_recovered(seed):
    beaconer, witness, lag, truth = _network(seed)
    solved = solve_clocks(beaconer, witness, lag, len(truth))
    assert _error(solved.offsets_ms, truth).max() <= 5
    assert abs(solved.delay_ms - 50) <= 3
    assert abs(int(solved.offsets_ms.sum())) <= len(truth)  # the constant: sum near 0
    assert solved.equations.sum() == 2 * len(lag)
    assert solved.late_ms.max() <= 40  # jitter only: nothing late


def test_a_rebroadcasts_victim_keeps_its_clock_and_every_repeat_stands_out():
    """Host 0 heard as many repeats (an airtime and more late) as direct beacons: a
    two-sided fit would drag its offset half-way and then trim its honest reports."""
    beaconer, witness, lag, truth = _network(7)
    rng = np.random.default_rng(8)
    victims = np.flatnonzero(witness == 0)
    repeated = victims[: victims.size // 2]
    lag = lag.copy()
    lag[repeated] += AIRTIME_MS + rng.integers(10, 200, repeated.size)
    solved = solve_clocks(beaconer, witness, lag, len(truth))
    assert _error(solved.offsets_ms, truth).max() <= 5
    late = solved.late_ms > 150
    assert late[repeated].all()
    honest = np.ones(lag.size, dtype=bool)
    honest[repeated] = False
    assert not late[honest].any() and solved.late_ms[honest].max() <= 40


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(3, 25), st.integers(20, 400))
def test_it_is_least_squares_to_rounding(seed, hosts, reports):
    beaconer, witness, lag, _ = _network(seed, hosts, reports, jitter_ms=60)
    solved = solve_clocks(beaconer, witness, lag, hosts)
    # the same least squares by LAPACK (the untrimmed fit: nothing is late by design)
    a = np.zeros((reports, hosts + 1))
    a[np.arange(reports), witness] += 1
    a[np.arange(reports), beaconer] -= 1
    a[:, hosts] = 1
    if np.linalg.matrix_rank(a) < hosts:  # a host or group tied to no other: no unique fit
        return
    reference = np.linalg.lstsq(a, lag, rcond=None)[0]
    kept = solved.late_ms <= 80
    if not kept.all():  # a jitter of 60 ms can be trimmed at 80: refit the kept ones alike
        reference = np.linalg.lstsq(a[kept], lag[kept], rcond=None)[0]
    offsets = reference[:hosts] - reference[:hosts].mean()
    assert np.abs(solved.offsets_ms - offsets).max() <= 1.0
    assert abs(solved.delay_ms - reference[hosts]) <= 1.0


def test_the_same_equations_give_the_same_integers():
    beaconer, witness, lag, truth = _network(3)
    one = solve_clocks(beaconer, witness, lag, len(truth))
    two = solve_clocks(beaconer.copy(), witness.copy(), lag.copy(), len(truth))
    assert one.offsets_ms.dtype == np.int64 and one.late_ms.dtype == np.int64
    assert np.array_equal(one.offsets_ms, two.offsets_ms) and one.delay_ms == two.delay_ms
    assert np.array_equal(one.late_ms, two.late_ms) and one.iterations == two.iterations


def test_hosts_without_equations_keep_offset_zero_and_nothing_is_solved_from_nothing():
    solved = solve_clocks(np.array([0, 1]), np.array([1, 0]), np.array([150, -50]), 4)
    assert solved.offsets_ms.tolist()[2:] == [0, 0] and solved.equations.tolist() == [2, 2, 0, 0]
    assert solved.offsets_ms[1] - solved.offsets_ms[0] == 100 and solved.delay_ms == 50
    empty = solve_clocks(np.array([], dtype=int), np.array([], dtype=int),
                         np.array([], dtype=int), 3)
    assert empty.offsets_ms.tolist() == [0, 0, 0] and empty.delay_ms == 0


@pytest.mark.parametrize(("beaconer", "witness", "lag", "hosts", "message"), [
    ([0, 1], [1], [5], 2, "one length"),
    ([0], [2], [5], 2, "host indices must be in [0, 2)"),
    ([-1], [0], [5], 2, "host indices"),
    ([1], [1], [5], 2, "itself"),
])
def test_bad_equations_are_refused_by_name(beaconer, witness, lag, hosts, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace(")", r"\)")):
        solve_clocks(np.array(beaconer), np.array(witness), np.array(lag), hosts)
