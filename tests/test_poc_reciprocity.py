"""Reciprocity: both directions of a radio path must agree (coverage_net.poc._reciprocity)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from coverage_net.poc import LinkHistory, LinkObservation, NetworkParams, assess_reciprocity
from coverage_net.poc._reciprocity import (
    TERM_CAP_MILLI,
    TERM_MEAN_MILLI,
    TERM_VAR_MILLI,
    LinkSummary,
    ReciprocityCut,
    pair_term_milli,
    reciprocity_cut,
)

CUT = ReciprocityCut(sigma_centi_db=300, miss_floor_ppm=100_000)
PARAMS = NetworkParams()


def test_capped_chi_square_moments_are_the_committed_constants():
    a = 3.0
    pdf = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    inside = math.erf(a / math.sqrt(2))
    mean = inside - 2 * a * pdf + a * a * (1 - inside)
    second = 3 * inside - 2 * pdf * (a ** 3 + 3 * a) + a ** 4 * (1 - inside)
    assert TERM_MEAN_MILLI == round(1000 * mean)
    assert TERM_VAR_MILLI == round(1000 * (second - mean * mean))
    assert TERM_CAP_MILLI == 9_000


def test_both_ways_heard_term_is_the_standardised_difference_squared():
    # 2 dB apart, one report each way, sigma 3 dB: z^2 = 4 / (9 * 2) = 0.2222
    ab = LinkSummary(hits=1, residual_sum_centi_db=200, misses=0, margin_centi_db=1_000)
    ba = LinkSummary(hits=1, residual_sum_centi_db=0, misses=0, margin_centi_db=1_000)
    assert pair_term_milli(ab, ba, CUT) == 222
    # 4 reports each way, 6 dB apart: z^2 = 36 / (9 * 0.5) = 8
    ab4 = LinkSummary(4, 4 * 300, 0, 1_000)
    ba4 = LinkSummary(4, 4 * -300, 0, 1_000)
    assert pair_term_milli(ab4, ba4, CUT) == 8_000
    # far apart: capped at three sigmas
    assert pair_term_milli(LinkSummary(4, 8_000, 0, 0), ba4, CUT) == TERM_CAP_MILLI


def test_heard_one_way_and_missed_the_other():
    heard = LinkSummary(hits=3, residual_sum_centi_db=0, misses=0, margin_centi_db=1_500)
    # the heard way puts the path 15 dB above sensitivity: 4 misses the other way are
    # (0.1 floor)^4 = 1e-4 likely: about 3.7 sigma, capped at 3
    assert pair_term_milli(heard, LinkSummary(0, 0, 4, 1_500), CUT) == TERM_CAP_MILLI
    # one miss is the floor's 10 %: z 1.3, a small term
    one = pair_term_milli(heard, LinkSummary(0, 0, 1, 1_500), CUT)
    assert one is not None and 1_500 <= one <= 1_800
    # at the edge of sensitivity misses are expected: two of them weigh little (z 0.5)
    assert pair_term_milli(LinkSummary(1, 0, 0, 0), LinkSummary(0, 0, 2, 0), CUT) == 302
    # nothing heard either way, or one way not reported: nothing to compare
    assert pair_term_milli(LinkSummary(0, 0, 3, 0), LinkSummary(0, 0, 3, 0), CUT) is None
    assert pair_term_milli(heard, LinkSummary(0, 0, 0, 0), CUT) is None


summaries = st.builds(LinkSummary, st.integers(0, 12), st.integers(-5_000, 5_000),
                      st.integers(0, 12), st.integers(-3_000, 6_000))


@given(summaries, summaries, st.integers(100, 1_000), st.integers(0, 900_000))
def test_term_is_symmetric_and_bounded(ab, ba, sigma, floor):
    if ab.hits == 0:
        ab = ab._replace(residual_sum_centi_db=0)
    if ba.hits == 0:
        ba = ba._replace(residual_sum_centi_db=0)
    cut = ReciprocityCut(sigma, floor)
    t = pair_term_milli(ab, ba, cut)
    assert t == pair_term_milli(ba, ab, cut)
    assert t is None or 0 <= t <= TERM_CAP_MILLI
    assert t is not None or not (ab.hits and ba.hits)


def _key(i: int) -> bytes:
    return bytes([i]) * 32


def _obs(epoch, b, r, *, heard, residual=0, margin=1_000):
    return LinkObservation(epoch, _key(b), _key(r), 900_000, heard, True,
                           residual if heard else 0, margin)


def _liar_and_neighbours(n_honest: int = 8) -> list[LinkObservation]:
    """Hotspot 0 claims every neighbour at the model's level; the paths really sit
    +-7 dB off it, which the neighbours measure (reciprocally, among themselves too)."""
    obs = []
    offset = {}
    for i in range(1, n_honest + 1):
        for j in range(i + 1, n_honest + 1):
            offset[(i, j)] = ((i * 7 + j * 3) % 11 - 5) * 100
    for i in range(1, n_honest + 1):
        offset[(0, i)] = 700 if i % 2 else -700
    for (a, b), off in offset.items():
        for e in range(3):
            claimed = 0 if a == 0 else off  # the liar files the model's value
            obs.append(_obs(e, b, a, heard=True, residual=claimed + (e - 1) * 100))
            obs.append(_obs(e, a, b, heard=True, residual=off - (e - 1) * 100))
    return obs


def test_the_liar_is_flagged_and_its_honest_neighbours_are_not():
    history = LinkHistory().advance(2, _liar_and_neighbours(), 48, (0, 0), reciprocity_cut(PARAMS))
    out = assess_reciprocity(history.pair_terms, PARAMS)
    assert out[_key(0)].flagged and out[_key(0)].links == 8
    assert not any(out[_key(i)].flagged for i in range(1, 9))
    assert dict(out[_key(0)].figures)["hotspot_reciprocity_z_centi_sigma"] == out[_key(0)].z_centi


def test_history_terms_follow_the_window_and_any_order():
    obs = _liar_and_neighbours()
    cut = reciprocity_cut(PARAMS)
    at_once = LinkHistory().advance(2, obs, 48, (0, 0), cut)
    stepwise = LinkHistory()
    for e in range(3):
        stepwise = stepwise.advance(e, [o for o in reversed(obs) if o.epoch == e], 48, (0, 0), cut)
    assert stepwise.pair_terms == at_once.pair_terms
    # once the window has moved past every observation, no pair is left
    assert at_once.advance(100, [], 48, (0, 0), cut).pair_terms == {}
    # other reciprocity parameters re-judge the whole window
    wider = at_once.advance(2, [], 48, (0, 0), ReciprocityCut(600, 100_000))
    assert all(wider.pair_terms[k] <= v for k, v in at_once.pair_terms.items())
    assert wider.pair_terms != at_once.pair_terms


def test_a_flag_holds_for_the_window_then_expires():
    """A flag raised in epoch 0 holds while its evidence is in the 48-epoch window,
    even when the statistic over the window dips below the threshold meanwhile."""
    from coverage_net.poc import HotspotAssessment
    from coverage_net.poc._verify import _held_flags

    liar, other = _key(0), _key(1)
    flagged = {liar: HotspotAssessment(9, 500_000, 30, True)}
    history = _held_flags(0, LinkHistory(), flagged, {}, {}, {}, 48, 4)
    assert history.flagged_until == {liar: (47, "neighbours")}
    later = {liar: HotspotAssessment(5, 900_000, 60, False)}  # diluted by new links
    held = _held_flags(20, history, later, {other: _rec(False)}, {}, {}, 48, 4)
    assert later[liar].flagged and later[liar].anomalies == 5  # figures kept, flag held
    assert held.flagged_until == {liar: (47, "neighbours")}
    gone = {liar: HotspotAssessment(5, 900_000, 60, False)}
    assert _held_flags(48, held, gone, {}, {}, {}, 48, 4).flagged_until == {}
    assert not gone[liar].flagged
    # raised again, it holds from the new epoch; reciprocity flags are held the same way
    again = _held_flags(30, held, {}, {liar: _rec(True)}, {}, {}, 48, 4)
    assert again.flagged_until == {liar: (77, "reciprocity")}
    recs = {}
    _held_flags(40, again, {}, recs, {}, {}, 48, 4)
    assert recs[liar].flagged
    # and SNR-spread flags too
    from coverage_net.poc import SnrSpreadAssessment
    tied = _held_flags(30, held, {}, {}, {}, {liar: SnrSpreadAssessment(8, 0, 7, True)}, 48, 4)
    assert tied.flagged_until == {liar: (77, "snr_spread")}
    spreads = {}
    _held_flags(40, tied, {}, {}, {}, spreads, 48, 4)
    assert spreads[liar].flagged


def test_a_neighbours_flag_lapses_once_its_anomalous_links_are_gone():
    """A hotspot that was down while its neighbours beaconed missed those beacons and is
    flagged; when it hears their next beacons, its misses are gone and so is the flag,
    within the window. Below the minimum number of anomalies nothing holds it."""
    from coverage_net.poc import HotspotAssessment
    from coverage_net.poc._verify import _held_flags

    restarted = _key(2)
    history = _held_flags(1, LinkHistory(), {restarted: HotspotAssessment(5, 0, 9, True)},
                          {}, {}, {}, 48, 4)
    assert history.flagged_until == {restarted: (48, "neighbours")}
    still = {restarted: HotspotAssessment(4, 0, 9, False)}  # one miss cleared, four stand
    _held_flags(2, history, still, {}, {}, {}, 48, 4)
    assert still[restarted].flagged
    heard_again = {restarted: HotspotAssessment(3, 0, 9, False)}
    _held_flags(3, history, heard_again, {}, {}, {}, 48, 4)
    assert not heard_again[restarted].flagged
    assert heard_again[restarted].anomalies == 3  # its figures are its own, unchanged
    no_links = {}
    _held_flags(3, history, no_links, {}, {}, {}, 48, 4)
    assert no_links == {}


def _rec(flagged: bool):
    from coverage_net.poc import ReciprocityAssessment
    return ReciprocityAssessment(8, 30_000, 500 if flagged else 100, flagged)
