"""Challenges left unanswered by a hotspot that keeps witnessing.

A hotspot is paid for witnessing only if it is a radio where it says it is, and
the one thing a radio-less key cannot do is beacon when challenged: its challenge
arrives, its beacon never goes on the air. An honest hotspot that is offline
misses its challenges too, but then it witnesses nothing either. So a hotspot is
flagged when, within the window, it filed witness reports, was challenged at least
``min_unanswered_challenges`` times by at least ``min_unanswered_challengers``
different validators, and answered none of them with a valid beacon. One answered
challenge clears it. The distinct challengers matter: a lying validator could seal
a secret nobody can open and so silence any hotspot it challenges; with at most f
faulty validators of 3f + 1, f + 1 different challengers include an honest one. A
sybil that beacons through its owner's radio answers its challenges; see the
README for what that leaves open.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ._params import NetworkParams

__all__ = ["ChallengeLedger", "UnansweredAssessment", "assess_unanswered"]


@dataclass(frozen=True)
class ChallengeLedger:
    """Per hotspot over the window: epochs of its challenges (answered or not) and of its
    witness reports. Part of the state `verify_epoch` carries; never mutated."""

    challenges: Mapping[bytes, tuple[tuple[int, bool, bytes], ...]] = field(default_factory=dict)
    """Per challengee: (epoch, answered, challenger key) of each challenge in the window."""
    witnessed: Mapping[bytes, tuple[int, ...]] = field(default_factory=dict)
    oldest_epoch: int | None = None
    """The oldest epoch anything in the ledger was recorded in (nothing to expire before it)."""

    def advance(self, epoch: int, answered: Mapping[bytes, tuple[bool, bytes]],
                witnesses: Iterable[bytes], window_epochs: int) -> ChallengeLedger:
        """The ledger of the window ending at `epoch`: `answered` maps each hotspot
        challenged in `epoch` to (whether a valid beacon answered it, the challenger);
        `witnesses` are the hotspots that filed witness reports in `epoch`."""
        low = epoch - window_epochs + 1
        expiring = self.oldest_epoch is not None and self.oldest_epoch < low
        challenges = _keep(self.challenges, low, lambda item: item[0]) if expiring \
            else dict(self.challenges)
        for key, (ok, challenger) in sorted(answered.items()):
            challenges[key] = (*challenges.get(key, ()), (epoch, ok, challenger))
        witnessed = _keep(self.witnessed, low, lambda e: e) if expiring \
            else dict(self.witnessed)
        for key in set(witnesses):
            mine = witnessed.get(key, ())
            if epoch not in mine:
                witnessed[key] = (*mine, epoch)
        epochs = [items[0][0] for items in challenges.values()] \
            + [items[0] for items in witnessed.values()]
        return ChallengeLedger(challenges, witnessed, min(epochs) if epochs else None)


def _keep(table, low, epoch_of):
    """`table` without the items older than `low` (and without keys left with none)."""
    out = {}
    for key, items in table.items():
        kept = tuple(i for i in items if epoch_of(i) >= low)
        if kept:
            out[key] = kept
    return out


@dataclass(frozen=True)
class UnansweredAssessment:
    """A challenged hotspot's figures over the window."""

    unanswered: int
    answered: int
    challengers: int
    """Different validators among the unanswered challenges."""
    witness_epochs: int
    flagged: bool

    @functools.cached_property
    def figures(self) -> tuple[tuple[str, int], ...]:
        """The figures a verdict carries, sorted by name (between the ``hotspot_*`` ones);
        none while every challenge was answered (the common case says nothing)."""
        if not self.unanswered:
            return ()
        return (("hotspot_challenges_answered", self.answered),
                ("hotspot_challenges_unanswered", self.unanswered))


def assess_unanswered(ledger: ChallengeLedger, params: NetworkParams
                      ) -> dict[bytes, UnansweredAssessment]:
    """Figures of every hotspot challenged in the window (see the module doc)."""
    v = params.verifier
    out = {}
    for key, items in ledger.challenges.items():
        answered = sum(ok for _, ok, _ in items)
        unanswered = len(items) - answered
        challengers = len({c for _, ok, c in items if not ok})
        witness_epochs = len(ledger.witnessed.get(key, ()))
        out[key] = UnansweredAssessment(
            unanswered, answered, challengers, witness_epochs,
            answered == 0 and unanswered >= v.min_unanswered_challenges
            and challengers >= v.min_unanswered_challengers and witness_epochs > 0)
    return out
