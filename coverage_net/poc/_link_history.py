"""The link history: what `verify_epoch` carries from epoch to epoch, kept compact.

Every (beaconer, receiver) link the verifier judges stays in the history for
``hotspot_window_epochs``. The neighbour statistics (`coverage_net.poc._neighbours`)
need per link only its number of observations, of beacons someone heard, and its
latest modelled probability; reciprocity (`coverage_net.poc._reciprocity`) only its
hits, their residual sum, its misses and its latest margin. So a link is kept as
those sums plus one small record of integers per epoch it was seen in (so an epoch
can leave the window), all in one flat tuple of ints, never as one object per
observation: a validator's steady state holds every link of the window, and the
cyclic garbage collector walks every container object it holds (a tuple of ints
is walked once, then untracked). The per-epoch fold of the judged links into this
state runs in a compiled kernel (``ext/links.pyx``, `coverage_net.poc._links`,
imported here only), on the same integers.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from . import _links  # type: ignore[attr-defined]
from ._arrival import ClockLedger
from ._normal import power_ppm
from ._reciprocity import TERM_CAP_MILLI, LinkSummary, ReciprocityCut, pair_term_of
from ._snr_spread import SnrLedger
from ._unanswered import ChallengeLedger

__all__ = ["LinkHistory", "LinkObservation"]

_PPM = 1_000_000

_Link = tuple[bytes, bytes]
_Totals = tuple[int, int, int]  # (anomalies, expectation in ppm, links)

# A link's state, one flat tuple of ints:
#   [0] observations  [1] beacons heard by someone  [2] hits  [3] residual sum (centi-dB)
#   [4] misses  [5] latest margin (centi-dB)  [6] latest probability (ppm)
#   [7] anomalous (0/1)  [8] its expectation (ppm, under the history's cuts)
# then one record per (batch, epoch) it was observed in, in observation order:
#   (epoch, observations, beacons heard, hits, residual sum, misses, latest margin,
#    latest probability): [1:8] of a record sum (or, for the last two, end) into [0:7].
_HEAD = 9


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


@dataclass(frozen=True)
class LinkHistory:
    """The links judged in recent epochs: the state `verify_epoch` carries from epoch to epoch.

    `links` maps each beaconer to its receivers, each to the link's state, a flat
    tuple of ints (see `link_summary` and the module's layout note): the sums the
    neighbour and reciprocity statistics read, its anomaly figures under `cuts`, and
    a record per epoch it was seen in. Per hotspot, `totals` sums the anomalies of its
    pairs (`pair_anomalies_of`: a link and its reverse count once); per epoch,
    `by_epoch` names the links it observed (beaconer -> receivers, for expiry).
    `advance` touches only the links that gained or lost an observation, so an epoch
    costs what changed, and copies only the receiver maps of the beaconers it touched.
    Never mutated: each state is a new object that shares what did not change with
    the one before.
    """

    links: Mapping[bytes, Mapping[bytes, tuple[int, ...]]] = field(default_factory=dict)
    totals: Mapping[bytes, _Totals] = field(default_factory=dict)
    by_epoch: Mapping[int, Mapping[bytes, tuple[bytes, ...]]] = field(default_factory=dict)
    cuts: tuple[int, int] = (0, 0)
    pair_terms: Mapping[_Link, int] = field(default_factory=dict)
    """Per unordered pair ``(a, b)``, ``a < b``, heard at least one way and reported
    both ways: its reciprocity term (`coverage_net.poc._reciprocity`)."""
    reciprocity: ReciprocityCut | None = None
    ledger: ChallengeLedger = field(default_factory=ChallengeLedger)
    """Challenges answered or not, and witnessing, per hotspot (`coverage_net.poc._unanswered`)."""
    pair_totals: Mapping[bytes, tuple[int, int]] = field(default_factory=dict)
    """Per hotspot: (sum of its pairs' terms, number of pairs)."""
    flagged_until: Mapping[bytes, tuple[int, str]] = field(default_factory=dict)
    """Per flagged hotspot: the last epoch its flag holds, and which check raised it
    ("neighbours", "reciprocity" or "model_fit"); see `with_flags`."""
    fit_totals: Mapping[bytes, tuple[int, int]] = field(default_factory=dict)
    """Per receiver: (sum over the links on which it heard of the squared mean
    residual in centi-dB^2, those links), what `coverage_net.poc._model_fit` judges."""
    snr: SnrLedger = field(default_factory=SnrLedger)
    """Per witnessing hotspot: its SNR-minus-RSSI sums (`coverage_net.poc._snr_spread`)."""
    clocks: ClockLedger = field(default_factory=ClockLedger)
    """The window's clock equations and each host's solved offset
    (`coverage_net.poc._arrival`)."""

    def anomaly(self, link: _Link) -> tuple[int, int] | None:
        """The link's (anomalous 0/1, expectation in ppm) under `cuts`; None: not in the window."""
        state = self.links.get(link[0], _NONE).get(link[1])
        return None if state is None else (state[7], state[8])

    def link_summary(self, link: _Link) -> LinkSummary | None:
        """The link's observations summed for reciprocity, None if not in the window."""
        state = self.links.get(link[0], _NONE).get(link[1])
        return None if state is None else LinkSummary(state[2], state[3], state[4], state[5])

    def pair_anomalies_of(self, hotspot_key: bytes) -> dict[bytes, tuple[int, int]]:
        """Per other end of a link of the hotspot (as beaconer or receiver): the pair's
        (anomalous 0/1, expectation in ppm), what the hotspot's `totals` sum."""
        out = {other: (state[7], state[8])
               for other, state in self.links.get(hotspot_key, _NONE).items()}
        for beaconer, receivers in self.links.items():
            state = receivers.get(hotspot_key)
            if state is not None:
                out[beaconer] = _pair_anomaly(out.get(beaconer), (state[7], state[8]))
        return out

    def with_flags(self, epoch: int, raised: Mapping[bytes, str],
                   window_epochs: int) -> LinkHistory:
        """This history with the flags raised in `epoch` held for `window_epochs` epochs.

        A flag rests on evidence that stays in the window for that long; the statistic
        over the window may dip below the threshold meanwhile (new, ordinary links
        dilute it), but the hotspot's earlier reports are no more honest for that.
        (`coverage_net.poc._verify._held_flags` lets a neighbours flag lapse sooner,
        once its anomalous pairs are gone.)
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

    def with_snr(self, epoch: int, sums: Mapping[bytes, tuple[int, int, int]],
                 window_epochs: int) -> LinkHistory:
        """This history with `epoch`'s SNR sums (`coverage_net.poc._snr_spread.epoch_snr_sums`)."""
        return dataclasses.replace(self, snr=self.snr.advance(epoch, sums, window_epochs))

    def with_clocks(self, clocks: ClockLedger) -> LinkHistory:
        """This history with `clocks` (`ClockLedger.advance`) as its clock ledger."""
        return dataclasses.replace(self, clocks=clocks)

    def rejudged(self, cuts: tuple[int, int], reciprocity: ReciprocityCut | None) -> LinkHistory:
        """The same window judged with other cuts and reciprocity parameters: every link's
        anomaly and every pair's term again (the sums they read do not depend on them)."""
        links: dict[bytes, dict[bytes, tuple[int, ...]]] = {}
        for b, receivers in self.links.items():
            mine = links[b] = {}
            for r, s in receivers.items():
                a, x = _anomaly(s[0], s[1], s[2], s[6], cuts)
                mine[r] = (*s[:7], a, x, *s[_HEAD:])
        totals = _pair_totals(links)
        pair_terms: dict[_Link, int] = {}
        pair_totals: dict[bytes, list[int]] = {}
        if reciprocity is not None:
            _links.judge_pairs(links, links, reciprocity, pair_terms, pair_totals, pair_term_of,
                               TERM_CAP_MILLI)
        return dataclasses.replace(self, links=links, totals=_frozen(totals), cuts=cuts,
                                   pair_terms=pair_terms, reciprocity=reciprocity,
                                   pair_totals=_frozen(pair_totals))

    def advance(self, epoch: int, new: Iterable[LinkObservation], window_epochs: int,
                cuts: tuple[int, int], reciprocity: ReciprocityCut | None = None
                ) -> LinkHistory:
        """The window of `window_epochs` epochs ending at `epoch`, with `new` added
        (and the pairs' reciprocity terms kept, when `reciprocity` is given).

        `new` holds `LinkObservation`s or plain tuples in its field order (the verifier
        builds the latter: one per judged link, no named tuple needed). A link's
        observations count in the order they were added (each call's sorted), which is
        epoch order when epochs are advanced in order, as `verify_epoch` does.
        """
        history = self
        if (cuts != self.cuts or reciprocity != self.reciprocity) and self.links:
            history = self.rejudged(cuts, reciprocity)
        low = epoch - window_epochs + 1
        added, added_in = _links.records_of(new)
        by_epoch = dict(history.by_epoch)
        expired: dict[bytes, set[bytes]] = {}  # links with observations older than the window
        for old in [e for e in by_epoch if e < low]:
            for b, receivers in by_epoch.pop(old).items():
                expired.setdefault(b, set()).update(receivers)
        for e, seen in sorted(added_in.items()):
            before = by_epoch.get(e)
            if before is None:
                by_epoch[e] = {b: tuple(receivers) for b, receivers in seen.items()}
            else:
                by_epoch[e] = {b: (*before.get(b, ()), *seen.get(b, ()))
                               for b in {*before, *seen}}
        changed = added
        if expired:
            changed = {b: {*added.get(b, _NONE), *expired.get(b, ())}
                       for b in {*added, *expired}}
        links = dict(history.links)
        totals = {k: list(v) for k, v in history.totals.items()}
        fit_totals = {k: list(v) for k, v in history.fit_totals.items()}
        _links.update_links(links, totals, changed, added, expired, low, cuts, _anomaly,
                            fit_totals)
        pair_terms, pair_totals = history.pair_terms, history.pair_totals
        if reciprocity is not None:
            new_terms, new_pair_totals = dict(pair_terms), {k: list(v)
                                                            for k, v in pair_totals.items()}
            _links.judge_pairs(links, changed, reciprocity, new_terms, new_pair_totals,
                               pair_term_of, TERM_CAP_MILLI)
            pair_terms, pair_totals = new_terms, _frozen(new_pair_totals)
        # plain dicts, copied by the next advance, never changed once returned
        return LinkHistory(links=links, totals=_frozen(totals), by_epoch=by_epoch, cuts=cuts,
                           pair_terms=pair_terms, reciprocity=reciprocity, ledger=history.ledger,
                           pair_totals=pair_totals, flagged_until=history.flagged_until,
                           fit_totals=_frozen(fit_totals), snr=history.snr,
                           clocks=history.clocks)


_NONE: Mapping = {}


@functools.lru_cache(maxsize=1 << 16)
def _power_ppm(q_ppm: int, n: int) -> int:
    return power_ppm(q_ppm, n)


def _anomaly(n: int, beacons: int, hits: int, p: int, cuts: tuple[int, int]) -> tuple[int, int]:
    """(anomalous 0/1, its expectation in ppm) of a link: `n` observations, `beacons` of them
    of beacons someone heard, `hits` heard, `p` the latest probability of hearing."""
    p_low, p_high = cuts
    if p < p_low:  # an improbable hit?
        return (1 if hits else 0), _PPM - _power_ppm(_PPM - p, n)
    if p < p_high:
        return 0, 0
    if beacons:  # a probable miss?
        return (0 if hits else 1), _power_ppm(_PPM - p, beacons)
    return 0, 0


def _pair_anomaly(one: tuple[int, int] | None, other: tuple[int, int]) -> tuple[int, int]:
    """A pair's (anomalous 0/1, expectation in ppm) from its two directions' (one may be
    missing): anomalous when either direction is, with the larger expectation.

    A link and its reverse cross the same terrain: the shadowing that makes one direction
    an improbable hit (or a probable miss) makes the other one too, so the two are one
    piece of evidence, not two independent ones. Counted twice, an honest hotspot with
    three paths the model underrates would show six anomalies; and the expectation of
    the one event is the larger of the two, not their sum."""
    if one is None:
        return other
    return max(one[0], other[0]), max(one[1], other[1])


def _pair_totals(links: Mapping[bytes, Mapping[bytes, tuple[int, ...]]]
                 ) -> dict[bytes, list[int]]:
    """Per hotspot, over its pairs: [anomalous pairs, expectation in ppm, pairs]."""
    pairs: dict[tuple[bytes, bytes], tuple[int, int]] = {}
    for b, receivers in links.items():
        for r, s in receivers.items():
            key = (b, r) if b < r else (r, b)
            pairs[key] = _pair_anomaly(pairs.get(key), (s[7], s[8]))
    totals: dict[bytes, list[int]] = {}
    for ends, (a, x) in pairs.items():
        for end in ends:
            t = totals.setdefault(end, [0, 0, 0])
            t[0] += a
            t[1] += x
            t[2] += 1
    return totals


def _frozen(totals: dict[bytes, list[int]]) -> dict[bytes, tuple[int, ...]]:
    """Per-hotspot sums as tuples, without the hotspots left with no links."""
    return {k: tuple(v) for k, v in totals.items() if v[-1]}
