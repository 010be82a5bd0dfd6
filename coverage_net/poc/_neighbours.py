"""Neighbour consistency over time: the link history and the per-hotspot statistics.

Every (beaconer, receiver) link `verify_epoch` judges is kept for
``hotspot_window_epochs`` in a `LinkHistory`, the state the verifier carries from
epoch to epoch. A hotspot's anomalies are its improbable hits (links on which it
heard, or was heard, where the model gives less than the unlikely probability) and
its probable misses (likely links never heard in the window although the beacon
was heard by someone); `assess_hotspots` compares them with the model's own
expectation, in integers (ppm), and flags the hotspots far above it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from ._normal import phi_ppm, power_ppm
from ._params import NetworkParams
from ._reciprocity import LinkSummary, ReciprocityCut, pair_term_milli, summarise_link
from ._unanswered import ChallengeLedger

__all__ = [
    "HotspotAssessment", "LinkHistory", "LinkObservation", "assess_hotspots", "cuts_for",
]

_PPM = 1_000_000


class LinkObservation(NamedTuple):
    """One judged (beaconer -> receiver) link of one beacon: modelled probability, outcome."""

    epoch: int
    beaconer_key: bytes
    receiver_key: bytes
    p_ppm: int
    heard: bool
    beacon_heard: bool
    """Whether anyone filed a witness for this beacon (a silent beacon says nothing)."""
    residual_centi_db: int = 0
    """Reported minus modelled RSSI when heard (0 when not)."""
    margin_centi_db: int = 0
    """Modelled RSSI minus sensitivity."""


_Link = tuple[bytes, bytes]


_Totals = tuple[int, int, int]  # (anomalies, expectation in ppm, links)


@dataclass(frozen=True)
class LinkHistory:
    """The links judged in recent epochs: the state `verify_epoch` carries from epoch to epoch.

    Per (beaconer, receiver) link: its observations in epoch order and its anomaly
    figures ``(anomalous 0/1, expectation in ppm)`` for the probability cuts in
    `cuts`; per hotspot: the sums over its links; per
    epoch: the links it observed (for expiry). `advance` re-judges only the links
    that gained or lost an observation, so an epoch costs what changed, not the
    whole window. Never mutated: each state is a new object.
    """

    links: Mapping[_Link, tuple[LinkObservation, ...]] = field(default_factory=dict)
    anomalies: Mapping[_Link, tuple[int, int]] = field(default_factory=dict)
    totals: Mapping[bytes, _Totals] = field(default_factory=dict)
    by_epoch: Mapping[int, tuple[_Link, ...]] = field(default_factory=dict)
    cuts: tuple[int, int] = (0, 0)
    pair_terms: Mapping[_Link, int] = field(default_factory=dict)
    """Per unordered pair ``(a, b)``, ``a < b``, heard at least one way and reported
    both ways: its reciprocity term (`coverage_net.poc._reciprocity`)."""
    reciprocity: ReciprocityCut | None = None
    ledger: ChallengeLedger = field(default_factory=ChallengeLedger)
    """Challenges answered or not, and witnessing, per hotspot (`coverage_net.poc._unanswered`)."""
    summaries: Mapping[_Link, LinkSummary] = field(default_factory=dict)
    """Per link, its observations summed for reciprocity (kept with `pair_terms`)."""
    pair_totals: Mapping[bytes, tuple[int, int]] = field(default_factory=dict)
    """Per hotspot: (sum of its pairs' terms, number of pairs)."""
    flagged_until: Mapping[bytes, tuple[int, str]] = field(default_factory=dict)
    """Per flagged hotspot: the last epoch its flag holds, and which check raised it
    ("neighbours" or "reciprocity"); see `with_flags`."""

    def with_flags(self, epoch: int, raised: Mapping[bytes, str],
                   window_epochs: int) -> LinkHistory:
        """This history with the flags raised in `epoch` held for `window_epochs` epochs.

        A flag rests on evidence that stays in the window for that long; the statistic
        over the window may dip below the threshold meanwhile (new, ordinary links
        dilute it), but the hotspot's earlier reports are no more honest for that.
        """
        until = {k: v for k, v in self.flagged_until.items() if v[0] >= epoch}
        for key, check in sorted(raised.items()):
            until[key] = (epoch + window_epochs - 1, check)
        return dataclasses.replace(self, flagged_until=until)

    def with_challenges(self, epoch: int, answered: Mapping[bytes, tuple[bool, bytes]],
                        witnesses: Iterable[bytes], window_epochs: int) -> LinkHistory:
        """This history with `epoch`'s challenges and witnesses in its ledger."""
        return dataclasses.replace(self, ledger=self.ledger.advance(epoch, answered, witnesses,
                                                                    window_epochs))

    @property
    def observations(self) -> tuple[LinkObservation, ...]:
        """Every observation in the window, sorted."""
        return tuple(sorted(o for obs in self.links.values() for o in obs))

    def advance(self, epoch: int, new: Iterable[LinkObservation], window_epochs: int,
                cuts: tuple[int, int], reciprocity: ReciprocityCut | None = None
                ) -> LinkHistory:
        """The window of `window_epochs` epochs ending at `epoch`, with `new` added
        (and the pairs' reciprocity terms kept, when `reciprocity` is given)."""
        if (cuts != self.cuts or reciprocity != self.reciprocity) and self.links:
            # other cuts: judge every link again
            return LinkHistory(cuts=cuts, reciprocity=reciprocity, ledger=self.ledger,
                               flagged_until=self.flagged_until).advance(
                epoch, (*self.observations, *new), window_epochs, cuts, reciprocity)
        low = epoch - window_epochs + 1
        fresh: dict[_Link, list[LinkObservation]] = defaultdict(list)
        for o in new:
            fresh[(o.beaconer_key, o.receiver_key)].append(o)
        for obs in fresh.values():
            if len(obs) > 1:  # a link's observations in order (one per beacon, usually one)
                obs.sort()
        links, anomalies = dict(self.links), dict(self.anomalies)
        totals, by_epoch = dict(self.totals), dict(self.by_epoch)
        expired: set[_Link] = set()  # the links with observations older than the window
        for old in [e for e in by_epoch if e < low]:
            expired.update(by_epoch.pop(old))
        changed = expired.union(fresh)
        seen_in: dict[int, set[_Link]] = defaultdict(set)
        for k, obs in fresh.items():
            for o in obs:
                seen_in[o.epoch].add(k)
        for e in sorted(seen_in):
            by_epoch[e] = tuple(sorted(seen_in[e].union(by_epoch.get(e, ()))))
        for link in sorted(changed):
            before = anomalies.pop(link, None)
            obs = links.pop(link, ())
            if link in expired:
                obs = tuple([o for o in obs if o.epoch >= low])
            added = fresh.get(link)
            if added:
                obs = (*obs, *added)
            after = _anomaly(obs, cuts) if obs else None
            if before != after:  # else the hotspots' totals stay as they are
                if before is not None:
                    _add(totals, link, before, -1)
                if after is not None:
                    _add(totals, link, after, 1)
            if after is not None:
                links[link] = obs
                anomalies[link] = after
        pair_terms, summaries = dict(self.pair_terms), dict(self.summaries)
        pair_totals = dict(self.pair_totals)
        if reciprocity is not None:
            for link in changed:
                obs = links.get(link)
                before_summary = summaries.get(link)
                if not obs:
                    summaries.pop(link, None)
                elif link in expired or before_summary is None:
                    summaries[link] = summarise_link(obs)
                else:  # only new observations: add them to the sums
                    more = summarise_link(fresh[link])
                    summaries[link] = LinkSummary(
                        before_summary.hits + more.hits,
                        before_summary.residual_sum_centi_db + more.residual_sum_centi_db,
                        before_summary.misses + more.misses, more.margin_centi_db)
            for a, b in {(min(a, b), max(a, b)) for a, b in changed}:
                ab, ba = summaries.get((a, b)), summaries.get((b, a))
                term = pair_term_milli(ab, ba, reciprocity) \
                    if ab is not None and ba is not None else None
                old = pair_terms.get((a, b))
                if term == old:
                    continue
                if old is not None:
                    del pair_terms[(a, b)]
                    _add_pair(pair_totals, a, b, old, -1)
                if term is not None:
                    pair_terms[(a, b)] = term
                    _add_pair(pair_totals, a, b, term, 1)
        # plain dicts, copied (fast) by the next advance, never changed once returned
        return LinkHistory(links, anomalies, totals, by_epoch, cuts, pair_terms, reciprocity,
                           self.ledger, summaries, pair_totals, self.flagged_until)


def _add_pair(totals: dict[bytes, tuple[int, int]], a: bytes, b: bytes, term: int,
              sign: int) -> None:
    for end in (a, b):
        t, n = totals.get(end, (0, 0))
        if n + sign:
            totals[end] = (t + sign * term, n + sign)
        else:
            totals.pop(end, None)


def _add(totals: dict[bytes, _Totals], link: _Link, anomaly: tuple[int, int], sign: int) -> None:
    a, e = anomaly
    for end in link:
        h, x, n = totals.get(end, (0, 0, 0))
        t = (h + sign * a, x + sign * e, n + sign)
        if t[2]:
            totals[end] = t
        else:
            totals.pop(end, None)


@dataclass(frozen=True)
class HotspotAssessment:
    """A hotspot's neighbour-consistency figures over the window."""

    anomalies: int
    """Improbable hits plus probable misses over the window."""
    expected_ppm: int
    links: int
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


def _anomaly(obs: tuple[LinkObservation, ...], cuts: tuple[int, int]) -> tuple[int, int]:
    """(anomalous 0/1, its expectation in ppm) of one link over its observations."""
    p_low, p_high = cuts
    p = obs[-1].p_ppm
    if p < p_low:  # an improbable hit?
        return int(any(o.heard for o in obs)), _PPM - power_ppm(_PPM - p, len(obs))
    if p < p_high:
        return 0, 0
    n_beacons = sum(1 for o in obs if o.beacon_heard)
    if n_beacons:  # a probable miss?
        return int(not any(o.heard for o in obs)), power_ppm(_PPM - p, n_beacons)
    return 0, 0


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
        history = LinkHistory(cuts=cuts_for(params)).advance(
            0, history.observations, 1 << 62, cuts_for(params))
    totals = dict(history.totals)
    current = {key: _judge_totals(t, params) for key, t in totals.items()}
    flagged: dict[bytes, HotspotAssessment] = {}
    ends: dict[bytes, list[_Link]] | None = None  # built only when someone is flagged
    while True:
        worst = [(-_severity(a), key) for key, a in current.items()
                 if a.flagged and key not in flagged]
        if not worst:
            break
        key = min(worst)[1]
        flagged[key] = current[key]
        if ends is None:
            ends = defaultdict(list)
            for link in history.anomalies:
                ends[link[0]].append(link)
                ends[link[1]].append(link)
        for link in ends[key]:  # its links stop counting against the other end
            other = link[1] if link[0] == key else link[0]
            if other in flagged:
                continue
            a, e = history.anomalies[link]
            h, x, n = totals[other]
            totals[other] = (h - a, x - e, n - 1)
            current[other] = _judge_totals(totals[other], params)
    return {**current, **flagged}


def _severity(a: HotspotAssessment) -> int:
    """Excess of anomalies over expectation, in ppm, squared over the expectation (integers)."""
    excess = a.anomalies * _PPM - a.expected_ppm
    return excess * excess // max(a.expected_ppm, 1)
