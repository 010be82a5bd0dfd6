"""Challenges left unanswered by a hotspot that keeps witnessing.

A hotspot is paid for witnessing only if it is a radio where it says it is, and
the one thing a radio-less key cannot do is beacon when challenged: its challenge
arrives, its beacon never goes on the air. An honest hotspot that is offline
misses its challenges too, but then it witnesses nothing either. So a hotspot is
flagged when, within the window, it filed witness reports, was challenged at least
``min_unanswered_challenges`` times, and answered none of them with a valid beacon.
One answered challenge clears it. A sybil that beacons through its owner's radio
answers its challenges; see the README for what that leaves open.
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

    challenges: Mapping[bytes, tuple[tuple[int, bool], ...]] = field(default_factory=dict)
    witnessed: Mapping[bytes, tuple[int, ...]] = field(default_factory=dict)

    def advance(self, epoch: int, answered: Mapping[bytes, bool], witnesses: Iterable[bytes],
                window_epochs: int) -> ChallengeLedger:
        """The ledger of the window ending at `epoch`: `answered` maps each hotspot
        challenged in `epoch` to whether a valid beacon answered it; `witnesses` are
        the hotspots that filed witness reports in `epoch`."""
        low = epoch - window_epochs + 1
        challenges = _keep(self.challenges, low, lambda item: item[0])
        for key, ok in answered.items():
            challenges[key] = (*challenges.get(key, ()), (epoch, ok))
        witnessed = _keep(self.witnessed, low, lambda e: e)
        for key in set(witnesses):
            if epoch not in witnessed.get(key, ()):
                witnessed[key] = (*witnessed.get(key, ()), epoch)
        return ChallengeLedger(challenges, witnessed)


def _keep(table, low, epoch_of):
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
    witness_epochs: int
    flagged: bool

    @functools.cached_property
    def figures(self) -> tuple[tuple[str, int], ...]:
        """The figures a verdict carries, sorted by name (between the ``hotspot_*`` ones)."""
        return (("hotspot_challenges_answered", self.answered),
                ("hotspot_challenges_unanswered", self.unanswered))


def assess_unanswered(ledger: ChallengeLedger, params: NetworkParams
                      ) -> dict[bytes, UnansweredAssessment]:
    """Figures of every hotspot challenged in the window (see the module doc)."""
    need = params.verifier.min_unanswered_challenges
    out = {}
    for key, items in ledger.challenges.items():
        answered = sum(ok for _, ok in items)
        unanswered = len(items) - answered
        witness_epochs = len(ledger.witnessed.get(key, ()))
        out[key] = UnansweredAssessment(unanswered, answered, witness_epochs,
                                        answered == 0 and unanswered >= need
                                        and witness_epochs > 0)
    return out
