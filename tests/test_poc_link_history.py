"""`LinkHistory` keeps per link only sums and per-epoch records; it must say what the
observations themselves say, over a moving window, and never change a state it returned."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_net.poc import LinkHistory, LinkObservation
from coverage_net.poc._normal import power_ppm
from coverage_net.poc._reciprocity import (
    ReciprocityCut,
    pair_term_milli,
    summarise_link,
)

CUTS = (100_000, 900_000)
CUT = ReciprocityCut(400, 50_000)
WINDOW = 4


def _key(i: int) -> bytes:
    return bytes([i]) * 32


def _anomaly(obs: list[LinkObservation]) -> tuple[int, int]:
    """The neighbour statistic of one link, straight from its observations."""
    p = obs[-1].p_ppm
    if p < CUTS[0]:
        return int(any(o.heard for o in obs)), 1_000_000 - power_ppm(1_000_000 - p, len(obs))
    if p < CUTS[1]:
        return 0, 0
    beacons = sum(o.beacon_heard for o in obs)
    if beacons:
        return int(not any(o.heard for o in obs)), power_ppm(1_000_000 - p, beacons)
    return 0, 0


def _expected(window: list[LinkObservation]):
    by_link: dict[tuple[bytes, bytes], list[LinkObservation]] = {}
    for o in sorted(window):
        by_link.setdefault((o.beaconer_key, o.receiver_key), []).append(o)
    pairs: dict[tuple[bytes, bytes], tuple[int, int]] = {}
    for (b, r), obs in by_link.items():  # a link and its reverse: one pair, counted once
        a, e = _anomaly(obs)
        key = (min(b, r), max(b, r))
        old = pairs.get(key, (0, 0))
        pairs[key] = (max(old[0], a), max(old[1], e))
    totals: dict[bytes, list[int]] = {}
    for ends, (a, e) in pairs.items():
        for end in ends:
            t = totals.setdefault(end, [0, 0, 0])
            t[0] += a
            t[1] += e
            t[2] += 1
    terms = {}
    for (a, b), obs in by_link.items():
        if a < b and (b, a) in by_link:
            term = pair_term_milli(summarise_link(obs), summarise_link(by_link[(b, a)]), CUT)
            if term is not None:
                terms[(a, b)] = term
    return by_link, {k: tuple(v) for k, v in totals.items()}, terms


observation = st.tuples(st.integers(0, 4), st.integers(0, 4), st.sampled_from(
    [0, 50_000, 99_999, 500_000, 899_999, 950_000, 999_000]), st.booleans(), st.booleans(),
    st.integers(-900, 900), st.integers(-2_000, 3_000))
epochs = st.lists(st.tuples(st.integers(1, 3), st.lists(observation, max_size=12)),
                  min_size=1, max_size=10)


@settings(max_examples=150, deadline=None)
@given(epochs)
def test_compact_history_equals_the_observations_over_the_window(steps):
    history = LinkHistory()
    seen: list[LinkObservation] = []
    returned: list[tuple[LinkHistory, object]] = []
    epoch = 0
    for gap, raw in steps:
        epoch += gap
        new = [LinkObservation(epoch, _key(b), _key(r), p, heard and beacon, beacon,
                               residual if heard and beacon else 0, margin)
               for b, r, p, heard, beacon, residual, margin in raw if b != r]
        history = history.advance(epoch, new, WINDOW, CUTS, CUT)
        returned.append((history, copy.deepcopy((history.links, history.totals,
                                                 history.pair_terms, history.by_epoch))))
        seen += new
        window = [o for o in seen if o.epoch > epoch - WINDOW]
        by_link, totals, terms = _expected(window)
        assert history.totals == totals
        assert history.rejudged(CUTS, CUT).totals == totals  # the same, counted from scratch
        assert history.pair_terms == terms
        assert {(b, r) for b, rs in history.links.items() for r in rs} == set(by_link)
        for link, obs in by_link.items():
            assert history.anomaly(link) == _anomaly(obs)
            assert history.link_summary(link) == summarise_link(obs)
    for old, snapshot in returned:  # a state once returned never changes
        assert (old.links, old.totals, old.pair_terms, old.by_epoch) == snapshot


def test_other_cuts_rejudge_the_same_window():
    obs = [LinkObservation(e, _key(1), _key(2), 50_000, e == 2, True, 0, 100) for e in range(3)]
    history = LinkHistory().advance(2, obs, WINDOW, CUTS, CUT)
    assert history.anomaly((_key(1), _key(2)))[0] == 1  # an improbable hit
    other = history.advance(2, [], WINDOW, (10_000, 900_000), CUT)
    assert other.anomaly((_key(1), _key(2))) == (0, 0)  # no longer improbable
    assert history.anomaly((_key(1), _key(2)))[0] == 1
