"""Neighbour consistency over time: the per-hotspot statistics over the link history.

Every (beaconer, receiver) link `verify_epoch` judges is kept for
``hotspot_window_epochs`` in a `LinkHistory` (`coverage_net.poc._link_history`), the
state the verifier carries from epoch to epoch. A hotspot's anomalies are its
improbable hits (links on which it heard, or was heard, where the model gives less
than the unlikely probability) and its probable misses (likely links never heard in
the window although the beacon was heard by someone); `assess_hotspots` compares
them with the model's own expectation, in integers (ppm), and flags the hotspots
far above it.

They are counted per pair of hotspots, not per direction: a link and its reverse
cross the same terrain, so a path the model underrates is an improbable hit both
ways, and a dead one a probable miss both ways, for the same reason. Counted per
direction, an honest hotspot with three such paths showed six anomalies against an
expectation that assumed the two directions independent, and was flagged (seed 3 of
the attack bench: 2 of 182 honest hotspots). A pair is anomalous when either
direction is, and its expectation is the larger of the two directions'.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ._link_history import LinkHistory
from ._normal import phi_ppm
from ._params import NetworkParams

__all__ = ["HotspotAssessment", "assess_hotspots", "cuts_for"]

_PPM = 1_000_000
_Totals = tuple[int, int, int]  # (anomalies, expectation in ppm, links)


@dataclass(frozen=True)
class HotspotAssessment:
    """A hotspot's neighbour-consistency figures over the window."""

    anomalies: int
    """Its anomalous pairs over the window: an improbable hit or a probable miss either way."""
    expected_ppm: int
    links: int
    """Its pairs (other hotspots it has a link with, either way) in the window."""
    flagged: bool

    @functools.cached_property
    def figures(self) -> tuple[tuple[str, int], ...]:
        """The figures a verdict carries, sorted by name."""
        return (("hotspot_anomalies", self.anomalies),
                ("hotspot_expected_anomalies_centi", self.expected_ppm // 10_000),
                ("hotspot_links", self.links))


# --- hotspots over the window -------------------------------------------------------------


def cuts_for(params: NetworkParams) -> tuple[int, int]:
    """(unlikely, likely) hearing probabilities in ppm: the links' anomaly cuts."""
    margin = params.verifier.likely_margin_centi_sigma
    return phi_ppm(-margin), phi_ppm(margin)


def _judge_totals(t: _Totals, params: NetworkParams) -> HotspotAssessment:
    v = params.verifier
    observed, e, n = t
    excess = observed * _PPM - e - (v.hotspot_min_anomalies - 1) * _PPM
    z = v.hotspot_z_centi
    flagged = (observed >= v.hotspot_min_anomalies and excess > 0
               and excess * excess * 10_000 >= z * z * e * _PPM)
    return HotspotAssessment(observed, e, n, flagged)


def assess_hotspots(history: LinkHistory, params: NetworkParams) -> dict[bytes, HotspotAssessment]:
    """Neighbour-consistency figures of every hotspot seen in `history` (see module doc).

    An anomalous link has two ends, and only one of them may be lying: an honest
    receiver next to a hotspot that asserts the wrong place misses that hotspot's
    beacons through no fault of its own. So hotspots are flagged one at a time, the
    most anomalous first (largest excess over its deviation; ties by key), and the
    links of a flagged hotspot stop counting against the others.
    """
    if history.cuts != cuts_for(params):
        history = history.rejudged(cuts_for(params), history.reciprocity)
    totals = dict(history.totals)
    current = {key: _judge_totals(t, params) for key, t in totals.items()}
    flagged: dict[bytes, HotspotAssessment] = {}
    while True:
        worst = [(-_severity(a), key) for key, a in current.items()
                 if a.flagged and key not in flagged]
        if not worst:
            break
        key = min(worst)[1]
        flagged[key] = current[key]
        for other, (a, e) in history.pair_anomalies_of(key).items():
            if other in flagged:  # its pairs stop counting against the other end
                continue
            h, x, n = totals[other]
            totals[other] = (h - a, x - e, n - 1)
            current[other] = _judge_totals(totals[other], params)
    return {**current, **flagged}


def _severity(a: HotspotAssessment) -> int:
    """Excess of anomalies over expectation, in ppm, squared over the expectation (integers)."""
    excess = a.anomalies * _PPM - a.expected_ppm
    return excess * excess // max(a.expected_ppm, 1)
