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
is walked once, then untracked).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from ._normal import power_ppm
from ._reciprocity import LinkSummary, ReciprocityCut, pair_term_of
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
_REC = 8


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
    a record per epoch it was seen in. Per hotspot, `totals` sums its links'
    anomalies; per epoch, `by_epoch` names the links it observed (beaconer ->
    receivers, for expiry). `advance` touches only the links that gained or lost an
    observation, so an epoch costs what changed, and copies only the receiver maps
    of the beaconers it touched. Never mutated: each state is a new object that
    shares what did not change with the one before.
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
    ("neighbours" or "reciprocity"); see `with_flags`."""

    def anomaly(self, link: _Link) -> tuple[int, int] | None:
        """The link's (anomalous 0/1, expectation in ppm) under `cuts`; None: not in the window."""
        state = self.links.get(link[0], _NONE).get(link[1])
        return None if state is None else (state[7], state[8])

    def link_summary(self, link: _Link) -> LinkSummary | None:
        """The link's observations summed for reciprocity, None if not in the window."""
        state = self.links.get(link[0], _NONE).get(link[1])
        return None if state is None else LinkSummary(state[2], state[3], state[4], state[5])

    def links_of(self, hotspot_key: bytes) -> list[tuple[bytes, tuple[int, ...]]]:
        """(other end, state) of every link of the hotspot, as beaconer or receiver."""
        out = list(self.links.get(hotspot_key, _NONE).items())
        for beaconer, receivers in self.links.items():
            state = receivers.get(hotspot_key)
            if state is not None:
                out.append((beaconer, state))
        return out

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

    def rejudged(self, cuts: tuple[int, int], reciprocity: ReciprocityCut | None) -> LinkHistory:
        """The same window judged with other cuts and reciprocity parameters: every link's
        anomaly and every pair's term again (the sums they read do not depend on them)."""
        links: dict[bytes, dict[bytes, tuple[int, ...]]] = {}
        totals: dict[bytes, list[int]] = {}
        for b, receivers in self.links.items():
            mine = links[b] = {}
            for r, s in receivers.items():
                a, x = _anomaly(s[0], s[1], s[2], s[6], cuts)
                mine[r] = (*s[:7], a, x, *s[_HEAD:])
                _count(totals, b, r, None, (a, x))
        pair_terms: dict[_Link, int] = {}
        pair_totals: dict[bytes, list[int]] = {}
        if reciprocity is not None:
            _judge_pairs(links, {(b, r) for b, receivers in links.items() for r in receivers
                                 if b < r}, reciprocity, pair_terms, pair_totals)
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
        added, added_in = _records(new)
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
        for b, receivers in changed.items():
            inner = dict(links.get(b, _NONE))
            added_b = added.get(b, _NONE)
            expired_b = expired.get(b, ())
            for r in receivers:
                state = inner.get(r)
                more = added_b.get(r)
                if state is None:
                    after_state = _state(more, cuts) if more else None
                elif r in expired_b:
                    kept = _unexpired(state, low)
                    if more:
                        kept += more
                    after_state = _state(kept, cuts) if kept else None
                else:  # only new observations: add them to the sums
                    after_state = _state(more, cuts, state)  # type: ignore[arg-type]
                if after_state is None:
                    inner.pop(r, None)
                else:
                    inner[r] = after_state
                before = None if state is None else (state[7], state[8])
                after = None if after_state is None else (after_state[7], after_state[8])
                if before != after:  # else the hotspots' totals stay as they are
                    _count(totals, b, r, before, after)
            if inner:
                links[b] = inner
            else:
                links.pop(b, None)
        pair_terms, pair_totals = history.pair_terms, history.pair_totals
        if reciprocity is not None:
            new_terms, new_pair_totals = dict(pair_terms), {k: list(v)
                                                            for k, v in pair_totals.items()}
            _judge_pairs(links, {(b, r) if b < r else (r, b)
                                 for b, receivers in changed.items() for r in receivers},
                         reciprocity, new_terms, new_pair_totals)
            pair_terms, pair_totals = new_terms, _frozen(new_pair_totals)
        # plain dicts, copied by the next advance, never changed once returned
        return LinkHistory(links=links, totals=_frozen(totals), by_epoch=by_epoch, cuts=cuts,
                           pair_terms=pair_terms, reciprocity=reciprocity, ledger=history.ledger,
                           pair_totals=pair_totals, flagged_until=history.flagged_until)


_NONE: Mapping = {}


def _records(new: Iterable[LinkObservation]
             ) -> tuple[dict[bytes, dict[bytes, tuple[int, ...]]],
                        dict[int, dict[bytes, list[bytes]]]]:
    """`new` as records per beaconer and receiver (see the layout note), and the links
    seen in each epoch (beaconer -> receivers)."""
    firsts: dict[bytes, dict[bytes, LinkObservation]] = {}
    more: dict[_Link, list[LinkObservation]] = {}
    for o in new:
        b, r = o[1], o[2]
        mine = firsts.get(b)
        if mine is None:
            firsts[b] = {r: o}
        elif r in mine:
            more.setdefault((b, r), [mine[r]]).append(o)
        else:
            mine[r] = o
    records: dict[bytes, dict[bytes, tuple[int, ...]]] = {}
    added_in: dict[int, dict[bytes, list[bytes]]] = {}
    for b, observed in firsts.items():
        mine = records[b] = {}
        for r, o in observed.items():
            several = more.get((b, r)) if more else None
            if several is None:  # one observation (one beacon of its beaconer): the usual case
                e, _, _, p, heard, beacon_heard, residual, margin = o
                mine[r] = (e, 1, 1 if beacon_heard else 0, 1 if heard else 0,
                           residual if heard else 0, 1 if beacon_heard and not heard else 0,
                           margin, p)
                seen = added_in.get(e)
                if seen is None:
                    added_in[e] = {b: [r]}
                elif b in seen:
                    seen[b].append(r)
                else:
                    seen[b] = [r]
                continue
            several.sort()
            recs: list[int] = []
            for e, _, _, p, heard, beacon_heard, residual, margin in several:
                if not recs or recs[-_REC] != e:
                    recs += (e, 0, 0, 0, 0, 0, 0, 0)
                    added_in.setdefault(e, {}).setdefault(b, []).append(r)
                i = len(recs) - _REC
                recs[i + 1] += 1
                if beacon_heard:
                    recs[i + 2] += 1
                if heard:
                    recs[i + 3] += 1
                    recs[i + 4] += residual
                elif beacon_heard:
                    recs[i + 5] += 1
                recs[i + 6], recs[i + 7] = margin, p
            mine[r] = tuple(recs)
    return records, added_in


_NO_STATE = (0,) * _HEAD


def _state(records: tuple[int, ...], cuts: tuple[int, int],
           state: tuple[int, ...] = _NO_STATE) -> tuple[int, ...]:
    """A link's `state` (by default none) with `records` added after its own."""
    n, b, h, r, m = state[0], state[1], state[2], state[3], state[4]
    for i in range(0, len(records), _REC):
        n += records[i + 1]
        b += records[i + 2]
        h += records[i + 3]
        r += records[i + 4]
        m += records[i + 5]
    margin, p = records[-2], records[-1]
    a, x = _anomaly(n, b, h, p, cuts)
    return (n, b, h, r, m, margin, p, a, x, *state[_HEAD:], *records)


def _unexpired(state: tuple[int, ...], low: int) -> tuple[int, ...]:
    """The records of `state` from epoch `low` on."""
    kept: list[int] = []
    for i in range(_HEAD, len(state), _REC):
        if state[i] >= low:
            kept += state[i:i + _REC]
    return tuple(kept)


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


def _count(totals: dict[bytes, list[int]], beaconer: bytes, receiver: bytes,
           before: tuple[int, int] | None, after: tuple[int, int] | None) -> None:
    """Move both ends' (anomalies, expectation, links) from `before` to `after`."""
    for end in (beaconer, receiver):
        t = totals.get(end)
        if t is None:
            t = totals[end] = [0, 0, 0]
        if before is not None:
            t[0] -= before[0]
            t[1] -= before[1]
            t[2] -= 1
        if after is not None:
            t[0] += after[0]
            t[1] += after[1]
            t[2] += 1


def _judge_pairs(links: Mapping[bytes, Mapping[bytes, tuple[int, ...]]], pairs: Iterable[_Link],
                 cut: ReciprocityCut, pair_terms: dict[_Link, int],
                 pair_totals: dict[bytes, list[int]]) -> None:
    """Update the terms of `pairs` (each ``(a, b)``, ``a < b``) and both ends' sums of them."""
    sigma, floor = cut
    for pair in pairs:
        a, b = pair
        ab, ba = links.get(a, _NONE).get(b), links.get(b, _NONE).get(a)
        term = pair_term_of(ab[2], ab[3], ab[4], ab[5], ba[2], ba[3], ba[4], ba[5], sigma,
                            floor) if ab is not None and ba is not None else None
        old = pair_terms.get(pair)
        if term == old:
            continue
        if old is not None:
            del pair_terms[pair]
        if term is not None:
            pair_terms[pair] = term
        for end in pair:
            t = pair_totals.get(end)
            if t is None:
                t = pair_totals[end] = [0, 0]
            if old is not None:
                t[0] -= old
                t[1] -= 1
            if term is not None:
                t[0] += term
                t[1] += 1


def _frozen(totals: dict[bytes, list[int]]) -> dict[bytes, tuple[int, ...]]:
    """Per-hotspot sums as tuples, without the hotspots left with no links."""
    return {k: tuple(v) for k, v in totals.items() if v[-1]}
