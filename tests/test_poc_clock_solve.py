"""`coverage_net.poc.solve_clocks`: host clock offsets from report lags.

Synthetic networks with known clocks: the solve recovers the offsets (up to the
constant no lag shows) and the shared delay; it agrees with a float least-squares
solve to rounding; a host that heard as many rebroadcasts (late by an airtime) as
direct beacons keeps its true offset, every repeat stands out late and no honest
report does; witnesses that stamp one host's beacons early are left out, pair by
pair, and do not move its clock, while a host whose clock repeats pulled late is not
taken for one; the same equations give the same integers; bad input is refused by name.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_net.poc import PAIR_EARLY_MS, TRIMS_MS, solve_clocks
from coverage_net.poc._clock_solve import early_pairs

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


@pytest.mark.parametrize("seed", range(4))
def test_witnesses_stamping_one_hosts_beacons_early_are_left_out_and_no_one_else(seed):
    """Five colluders each file 8 reports of host 0's beacons 1 s early, beside 3,000
    honest reports (about one per pair of hosts)."""
    beaconer, witness, lag, truth = _network(seed)
    colluders = np.repeat(np.arange(1, 6), 8)
    early_lag = truth[colluders] - truth[0] + 50 - 1_000
    beaconer = np.concatenate([beaconer, np.zeros(colluders.size, dtype=np.int64)])
    witness = np.concatenate([witness, colluders])
    lag = np.concatenate([lag, early_lag])
    solved = solve_clocks(beaconer, witness, lag, len(truth))
    forged = np.arange(lag.size) >= lag.size - colluders.size
    # every report of those pairs, the few honest ones among them too, and no other
    assert np.array_equal(solved.early_pair, (beaconer == 0) & np.isin(witness, colluders))
    assert _error(solved.offsets_ms, truth).max() <= 5
    assert solved.late_ms[~forged].max() <= 40  # no honest report looks late
    assert solved.late_ms[forged].max() < -900


def _pairs(rows: list[tuple[int, int, int]]) -> tuple[np.ndarray, ...]:
    witness, beaconer, late = (np.array(c) for c in zip(*rows, strict=True))
    return beaconer, witness, late


@pytest.mark.parametrize(("own_beacons_ms", "blamed"), [(200, False), (0, True)])
def test_an_early_pair_is_blamed_only_if_the_witnesss_own_beacons_clear_its_clock(
        own_beacons_ms, blamed):
    """Host 0 heard host 1's beacon 200 ms earlier than the clocks allow, earlier than
    host 1's other witnesses (0 ms) and than its own other receptions (repeats, 110 ms
    late). If the hosts that heard host 0's beacons find them 200 ms late, host 0's clock
    is what is set late (repeats pulled it), and the pair is not blamed; if they find
    them on time, the pair reported early."""
    rows = [(0, 1, -200), (0, 2, 110), (0, 3, 110), (0, 4, 110),  # (witness, beaconer, ms)
            (5, 1, 0), (6, 1, 0), (7, 1, 0),
            (8, 0, own_beacons_ms), (9, 0, own_beacons_ms), (5, 0, own_beacons_ms)]
    early = early_pairs(*_pairs(rows), hosts=10)
    assert early.tolist() == [blamed] + [False] * (len(rows) - 1)


@pytest.mark.parametrize(("own_receptions_ms", "blamed"), [(-140, True), (0, False)])
def test_a_beaconer_whose_clock_the_pair_pulled_late_is_counted_back(own_receptions_ms,
                                                                     blamed):
    """Host 0 heard host 1's beacons 60 ms earlier than the clocks allow, 200 ms earlier
    than host 1's other witnesses. If host 1's own receptions came 140 ms early, its
    clock is set 140 ms late (the pair pulled it), and the pair is 200 ms early once that
    is counted back; if they came on time, 60 ms early is within the clocks' error."""
    rows = [(0, 1, -60), (5, 1, 140), (6, 1, 140), (7, 1, 140),
            (1, 2, own_receptions_ms), (1, 3, own_receptions_ms), (1, 4, own_receptions_ms),
            (0, 2, 0), (0, 3, 0), (0, 4, 0), (5, 0, 0), (6, 0, 0), (7, 0, 0)]
    early = early_pairs(*_pairs(rows), hosts=10)
    assert early.tolist() == [blamed] + [False] * (len(rows) - 1)


@pytest.mark.parametrize(("pair_ms", "others_ms", "blamed"), [
    (-100, 0, True), (-79, 0, False), (-86, -10, True), (-84, -10, False)])
def test_a_pair_is_early_from_pair_early_ms_and_the_last_trim_on(pair_ms, others_ms, blamed):
    """Host 0 heard host 1's beacons `pair_ms` against the clocks; host 1's other witnesses
    `others_ms`; host 0's other receptions and its own beacons' witnesses on time. The
    pair is early when it came more than `PAIR_EARLY_MS` (75 ms, rules 6) earlier than
    the others and more than the last trim (80 ms) earlier than the clocks allow: -100
    is (under rules 5's 150 ms it was not), -79 is within the trim, -84 is within 75 ms
    of the others' -10, -86 is not."""
    assert PAIR_EARLY_MS == 75 and TRIMS_MS[-1] == 80
    rows = [(0, 1, pair_ms), (5, 1, others_ms), (6, 1, others_ms), (7, 1, others_ms),
            (0, 2, 0), (0, 3, 0), (0, 4, 0), (8, 0, 0), (9, 0, 0), (5, 0, 0)]
    early = early_pairs(*_pairs(rows), hosts=10)
    assert early.tolist() == [blamed] + [False] * (len(rows) - 1)


def test_the_rule_is_the_same_among_millions_of_hosts():
    """Beyond 2**20 hosts the pairs are numbered densely before the one-key sort: the
    same equations, their hosts renumbered far apart, give the same answer."""
    beaconer, witness, lag, truth = _network(2)
    late = np.random.default_rng(3).integers(-400, 400, lag.size)
    few = early_pairs(beaconer, witness, late, len(truth))
    assert few.any() and not few.all()
    far = np.arange(len(truth), dtype=np.int64) * 50_021 + 7  # under 3,000,000
    assert np.array_equal(early_pairs(far[beaconer], far[witness], late, 3_000_000), few)


def test_a_witness_whose_own_beacons_two_hosts_heard_is_not_blamed():
    """The rule's medians each need `PAIR_MIN_PAIRS` (3) pairs: here, the witness's own
    beacons heard by two hosts say too little about its clock."""
    rows = [(0, 1, -200), (0, 2, 0), (0, 3, 0), (5, 1, 0), (6, 1, 0), (8, 0, 0), (9, 0, 0)]
    assert early_pairs(*_pairs(rows), hosts=10).tolist()[0] is False
    assert early_pairs(*_pairs(rows + [(7, 0, 0)]), hosts=10).tolist()[0] is True


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
    kept = solved.fitted
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
    assert np.array_equal(one.early_pair, two.early_pair)
    assert np.array_equal(one.fitted, two.fitted)


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
