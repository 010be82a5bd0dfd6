"""Reciprocity: a radio path loses the same in both directions, so both ends must agree.

The terrain model is wrong on every real link by that link's own persistent
shadowing (clutter, a building, a tree line), which no model knows. A hotspot that
really hears its neighbour measures the same error the neighbour measures when it
hears the hotspot: received power minus the model's, called the residual here,
agrees in both directions within fading and measurement error
(``reciprocity_sigma_centi_db``). A hotspot that files witnesses with numbers made
plausible from the model alone (it did not hear, or a confederate did) reports
residuals near zero where its neighbours measure the path's true offset, and
reports hearing beacons on paths over which its own beacons are not heard.

Per unordered pair {a, b} with reports in both directions over the window:

* both directions heard: the two mean residuals, standardised,
  ``z^2 = (mean_ab - mean_ba)^2 / (sigma^2 (1/n_ab + 1/n_ba))``;
* one direction heard, the other only missed (beacons someone else heard): the
  chance that every one of those beacons was missed although the heard direction
  puts the path ``margin + residual`` above sensitivity, with a floor for misses
  that have nothing to do with the path, turned into the normal deviate of that
  chance; ``z^2`` of it.

Each pair's term is ``min(z^2, 9)`` (a collision or a reboot must not weigh more
than a three-sigma disagreement) in thousandths. A hotspot's terms, summed over its
pairs, have under reciprocity the mean and variance of a capped chi-square with one
degree of freedom (`TERM_MEAN_MILLI`, `TERM_VAR_MILLI`); a hotspot far above that is
flagged, one at a time, the worst first, and its pairs stop counting against the
other ends (the honest neighbour of a liar shares one bad pair with it, the liar
has many). Everything is integer arithmetic.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from ._normal import PHI_PPM, PHI_STEP_CENTI, phi_ppm, power_ppm
from ._params import NetworkParams

__all__ = [
    "LinkSummary", "ReciprocityAssessment", "ReciprocityCut", "TERM_CAP_MILLI",
    "TERM_MEAN_MILLI", "TERM_VAR_MILLI", "assess_reciprocity", "pair_term_milli", "pair_term_of",
    "reciprocity_cut", "summarise_link",
]

_PPM = 1_000_000
TERM_CAP_MILLI = 9_000
"""A pair's term is capped at z^2 = 9 (three sigmas), in thousandths."""
TERM_MEAN_MILLI = 995
"""E[min(Z^2, 9)] for a standard normal Z, in thousandths (0.99501)."""
TERM_VAR_MILLI = 1_901
"""Var[min(Z^2, 9)] for a standard normal Z, in thousandths (1.90145)."""
_PHI_LOWEST_CENTI = -500


class LinkSummary(NamedTuple):
    """One direction of a link over the window: what the receiver reported."""

    hits: int
    residual_sum_centi_db: int
    """Sum over the hits of reported minus modelled RSSI."""
    misses: int
    """Beacons someone heard and this receiver did not."""
    margin_centi_db: int
    """Modelled RSSI minus sensitivity (the latest observation's)."""


class ReciprocityCut(NamedTuple):
    """The parameters a pair's term depends on (a history judged with others is redone)."""

    sigma_centi_db: int
    miss_floor_ppm: int


def reciprocity_cut(params: NetworkParams) -> ReciprocityCut:
    v = params.verifier
    return ReciprocityCut(v.reciprocity_sigma_centi_db, v.reciprocity_miss_floor_ppm)


def summarise_link(observations: Iterable[object]) -> LinkSummary:
    """Sum one direction's `LinkObservation`s (see `LinkSummary`)."""
    hits = residual = misses = 0
    margin = 0
    for o in observations:
        if o.heard:  # type: ignore[attr-defined]
            hits += 1
            residual += o.residual_centi_db  # type: ignore[attr-defined]
        elif o.beacon_heard:  # type: ignore[attr-defined]
            misses += 1
        margin = o.margin_centi_db  # type: ignore[attr-defined]
    return LinkSummary(hits, residual, misses, margin)


@functools.lru_cache(maxsize=4096)
def _deviate_sq_milli(tail_ppm: int) -> int:
    """z^2 in thousandths for the normal deviate z whose upper tail is `tail_ppm` (capped)."""
    if tail_ppm >= _PPM // 2:
        return 0
    # smallest tabulated z with 1 - Phi(z) <= tail: Phi(z) >= 1e6 - tail
    i = bisect.bisect_left(PHI_PPM, _PPM - tail_ppm)
    if i >= len(PHI_PPM):
        return TERM_CAP_MILLI
    z_centi = _PHI_LOWEST_CENTI + i * PHI_STEP_CENTI
    return min(z_centi * z_centi // 10, TERM_CAP_MILLI)


def _silent_term(hits: int, residual_sum_centi_db: int, misses: int, silent_margin_centi_db: int,
                 sigma_centi_db: int, miss_floor_ppm: int) -> int:
    """The term of a pair heard one way (`hits` with their residual sum) and only missed
    the other (`misses` beacons, the silent direction's modelled margin)."""
    expected_centi_db = silent_margin_centi_db + residual_sum_centi_db // hits
    miss_ppm = phi_ppm(-(expected_centi_db * 100) // sigma_centi_db)
    q_ppm = miss_floor_ppm + (_PPM - miss_floor_ppm) * miss_ppm // _PPM
    return _deviate_sq_milli(power_ppm(q_ppm, misses))


def pair_term_milli(ab: LinkSummary, ba: LinkSummary, cut: ReciprocityCut) -> int | None:
    """The pair's reciprocity term in thousandths of z^2 (capped), or None: nothing to compare."""
    return pair_term_of(*ab, *ba, *cut)


def pair_term_of(ab_hits: int, ab_residual_sum_centi_db: int, ab_misses: int,
                 ab_margin_centi_db: int, ba_hits: int, ba_residual_sum_centi_db: int,
                 ba_misses: int, ba_margin_centi_db: int, sigma_centi_db: int,
                 miss_floor_ppm: int) -> int | None:
    """`pair_term_milli` on the two `LinkSummary`s' and the cut's fields as plain integers
    (what `LinkHistory.advance` keeps per link; it runs for every pair an epoch touches)."""
    if ab_hits and ba_hits:
        num = ab_residual_sum_centi_db * ba_hits - ba_residual_sum_centi_db * ab_hits
        den = sigma_centi_db ** 2 * ab_hits * ba_hits * (ab_hits + ba_hits)
        return min(1_000 * num * num // den, TERM_CAP_MILLI)
    if ab_hits and ba_misses:
        return _silent_term(ab_hits, ab_residual_sum_centi_db, ba_misses, ba_margin_centi_db,
                            sigma_centi_db, miss_floor_ppm)
    if ba_hits and ab_misses:
        return _silent_term(ba_hits, ba_residual_sum_centi_db, ab_misses, ab_margin_centi_db,
                            sigma_centi_db, miss_floor_ppm)
    return None


@dataclass(frozen=True)
class ReciprocityAssessment:
    """A hotspot's reciprocity figures over the window."""

    links: int
    """Pairs with reports both ways (at least one heard)."""
    terms_milli: int
    """Sum of the pairs' terms."""
    z_centi: int
    """How many standard deviations (x100) the sum sits above its expectation."""
    flagged: bool

    @functools.cached_property
    def figures(self) -> tuple[tuple[str, int], ...]:
        """The figures a verdict carries, sorted by name (they follow the ``hotspot_*`` ones)."""
        return (("hotspot_reciprocity_links", self.links),
                ("hotspot_reciprocity_z_centi_sigma", self.z_centi))


def _isqrt_ceil(n: int) -> int:
    r = math.isqrt(n)
    return r if r * r == n else r + 1


def _judge(terms_milli: int, links: int, params: NetworkParams) -> ReciprocityAssessment:
    v = params.verifier
    excess = terms_milli - links * TERM_MEAN_MILLI
    var_micro = links * TERM_VAR_MILLI * 1_000  # variance of the sum, in millionths
    sd_milli = _isqrt_ceil(var_micro) if links else 1
    z_centi = excess * 100 // sd_milli if links else 0
    flagged = (links >= v.reciprocity_min_links and excess > 0
               and excess * excess * 10_000 >= v.reciprocity_z_centi ** 2 * var_micro)
    return ReciprocityAssessment(links, terms_milli, z_centi, flagged)


def assess_reciprocity(pair_terms: Mapping[tuple[bytes, bytes], int], params: NetworkParams,
                       totals: Mapping[bytes, tuple[int, int]] | None = None
                       ) -> dict[bytes, ReciprocityAssessment]:
    """Reciprocity figures of every hotspot with a two-way pair (see the module doc).

    `pair_terms` maps each unordered pair ``(a, b)``, ``a < b``, to its term;
    `totals`, if the caller keeps them (`LinkHistory.pair_totals`), each hotspot's
    (sum of terms, pairs), which are otherwise summed here.
    """
    if totals is None:
        summed: dict[bytes, tuple[int, int]] = {}
        for (a, b), t in pair_terms.items():
            for end in (a, b):
                s, n = summed.get(end, (0, 0))
                summed[end] = (s + t, n + 1)
        totals = summed
    sums = {key: list(t) for key, t in totals.items()}
    current = {key: _judge(s[0], s[1], params) for key, s in sums.items()}
    flagged: dict[bytes, ReciprocityAssessment] = {}
    ends: dict[bytes, list[tuple[bytes, int]]] | None = None  # built only when needed
    while True:
        worst = [(-a.z_centi, key) for key, a in current.items()
                 if a.flagged and key not in flagged]
        if not worst:
            break
        key = min(worst)[1]
        flagged[key] = current[key]
        if ends is None:
            ends = {}
            for (a, b), t in pair_terms.items():
                ends.setdefault(a, []).append((b, t))
                ends.setdefault(b, []).append((a, t))
        for other, t in ends[key]:  # its pairs stop counting against the other end
            if other in flagged:
                continue
            s = sums[other]
            s[0] -= t
            s[1] -= 1
            current[other] = _judge(s[0], s[1], params)
    return {**current, **flagged}
