"""The neighbour statistic counts pairs of hotspots, not directions: a link and its reverse
cross the same terrain, so one path the model underrates (or overrates) is one piece of
evidence, whichever way it was heard (or missed)."""

from __future__ import annotations

from coverage_net.poc import LinkHistory, LinkObservation, NetworkParams, assess_hotspots
from coverage_net.poc._neighbours import cuts_for

PARAMS = NetworkParams()
CUTS = cuts_for(PARAMS)
UNLIKELY_PPM = 70_000  # under the 10 % cut: a hit here is an improbable one
LIKELY_PPM = 990_000  # over the 90 % cut: a miss here is a probable one
ORDINARY_PPM = 500_000


def _key(i: int) -> bytes:
    return bytes([i]) * 32


def _both_ways(a: bytes, b: bytes, p_ppm: int, heard: bool, epoch: int = 1):
    return [LinkObservation(epoch, a, b, p_ppm, heard, True, 0, 0),
            LinkObservation(epoch, b, a, p_ppm, heard, True, 0, 0)]


def _history(observations: list[LinkObservation]) -> LinkHistory:
    return LinkHistory().advance(1, observations, PARAMS.verifier.hotspot_window_epochs, CUTS)


def test_a_path_heard_both_ways_at_improbable_odds_counts_once():
    honest = _key(1)
    obs = []
    for other in (2, 3, 4):  # three paths the model underrates, heard both ways
        obs += _both_ways(honest, _key(other), UNLIKELY_PPM, True)
    obs.append(LinkObservation(1, _key(5), honest, UNLIKELY_PPM, True, True, 0, 0))  # one way
    for other in range(10, 30):  # and ordinary neighbours
        obs += _both_ways(honest, _key(other), ORDINARY_PPM, True)
    history = _history(obs)
    a = assess_hotspots(history, PARAMS)[honest]
    assert a.anomalies == 4  # counted per direction: 7
    assert a.links == 24  # pairs, not the 47 links
    assert a.expected_ppm == 4 * UNLIKELY_PPM  # each pair's expectation once
    # 4 pairs against 0.28 expected is inside the honest range; its 7 links against
    # 0.49, as the statistic counted them before, flagged an honest hotspot (seed 3)
    assert not a.flagged
    assert history.pair_anomalies_of(honest)[_key(2)] == (1, UNLIKELY_PPM)
    assert history.pair_anomalies_of(honest)[_key(10)] == (0, 0)


def test_a_liar_missing_its_neighbours_both_ways_is_flagged_and_they_are_not():
    """A hotspot not where it says: every likely neighbour misses its beacons and it
    misses theirs. Six dead pairs flag it; each neighbour shares one dead pair with it,
    which stops counting against the neighbour once the liar is flagged."""
    liar = _key(1)
    obs = []
    for other in range(2, 8):
        obs += _both_ways(liar, _key(other), LIKELY_PPM, False)
        # someone heard each beacon (else a silent beacon says nothing): a third hotspot
        obs.append(LinkObservation(1, liar, _key(100 + other), ORDINARY_PPM, True, True, 0, 0))
        obs.append(LinkObservation(1, _key(other), _key(100 + other), ORDINARY_PPM, True, True,
                                   0, 0))
    assessments = assess_hotspots(_history(obs), PARAMS)
    assert assessments[liar].anomalies == 6
    assert assessments[liar].flagged
    for other in range(2, 8):
        assert not assessments[_key(other)].flagged
        assert assessments[_key(other)].anomalies == 0  # the dead pair left with the liar


def test_either_direction_makes_the_pair_anomalous_with_the_larger_expectation():
    a, b = _key(1), _key(2)
    history = _history([
        LinkObservation(1, a, b, LIKELY_PPM, False, True, 0, 0),  # a probable miss one way
        LinkObservation(1, b, a, ORDINARY_PPM, True, True, 0, 0),  # heard the other way
        LinkObservation(1, a, _key(3), ORDINARY_PPM, True, True, 0, 0),
    ])
    miss_ppm = 1_000_000 - LIKELY_PPM
    assert history.pair_anomalies_of(a)[b] == (1, miss_ppm)
    assert history.pair_anomalies_of(b)[a] == (1, miss_ppm)
    assert history.totals[b] == (1, miss_ppm, 1)
    assert history.totals[a] == (1, miss_ppm, 2)
