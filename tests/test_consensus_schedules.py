"""2,000 seeded adversarial schedules of the consensus core (`coverage_net.consensus.testing`):
delays, loss, reordering, a partition and crashes before GST, up to f byzantine validators
(silent, equivocating, double voting, proposing forged blocks, random votes). Safety
always, liveness after GST; a failing seed is printed with the line that replays it.
Broken cores (too small a quorum, double signing, accepting forged blocks, no timeouts)
are caught, so the checks can fail."""

from __future__ import annotations

import dataclasses

import pytest

from coverage_net.consensus import Vote, VoteKind
from coverage_net.consensus._core import BroadcastVote, CoreConfig, ProposalIn, apply
from coverage_net.consensus.testing import BEHAVIOURS, random_schedule, run_schedule

SEEDS = 2_000
CHUNK = 250


def _failures(seeds, core=apply, *, first_only: bool = False) -> dict[int, list[str]]:
    out = {}
    for seed in seeds:
        result = run_schedule(random_schedule(seed), core)
        if result.violations:
            out[seed] = result.violations
            if first_only:
                break
    return out


@pytest.mark.parametrize("first", range(0, SEEDS, CHUNK))
def test_safety_always_and_liveness_after_gst(first):
    failures = _failures(range(first, first + CHUNK))
    replay = "; ".join(
        f"seed {seed}: {v[0]} (replay: run_schedule(random_schedule({seed})))"
        for seed, v in sorted(failures.items())[:5])
    assert not failures, replay


def test_the_schedules_cover_what_they_claim():
    schedules = [random_schedule(seed) for seed in range(SEEDS)]
    behaviours = {b for s in schedules for _, b in s.byzantine}
    assert behaviours == set(BEHAVIOURS)
    assert {s.n for s in schedules} == {4, 7}
    assert sum(1 for s in schedules if len(s.byzantine) == (s.n - 1) // 3) > SEEDS // 4
    assert sum(1 for s in schedules if s.partition) > SEEDS // 3
    assert sum(1 for s in schedules if s.crashes) > SEEDS // 3
    assert sum(1 for s in schedules if s.loss >= 0.3) > SEEDS // 4
    evidence = sum(run_schedule(random_schedule(seed)).evidence for seed in range(200))
    assert evidence > 0  # equivocators are seen and reported


def test_a_seed_replays_exactly():
    for seed in (3, 77, 1_234):
        first, again = run_schedule(random_schedule(seed)), run_schedule(random_schedule(seed))
        assert first.trace_digest == again.trace_digest and first.deliveries == again.deliveries
        assert first.decisions == again.decisions


class _WeakQuorum(CoreConfig):
    @property
    def quorum(self) -> int:  # f + 1 instead of 2f + 1
        return self.f + 1


def _weak_quorum(state, event):
    if type(state.config) is not _WeakQuorum:
        state = dataclasses.replace(state, config=_WeakQuorum(**dataclasses.asdict(state.config)))
    return apply(state, event)


def _double_signing(state, event):
    """Precommits nil as well as every value it precommits."""
    state, out = apply(state, event)
    extra = [BroadcastVote(Vote(VoteKind.PRECOMMIT, o.vote.height, o.vote.round, None,
                                o.vote.sender))
             for o in out if isinstance(o, BroadcastVote)
             and o.vote.kind is VoteKind.PRECOMMIT and o.vote.value_id is not None]
    return state, out + extra


def _credulous(state, event):
    """Takes every proposed block for valid (does not re-run the verifier)."""
    if isinstance(event, ProposalIn):
        event = ProposalIn(event.proposal, True)
    return apply(state, event)


def _no_timeouts(state, event):
    state, out = apply(state, event)
    return state, [o for o in out if type(o).__name__ != "ScheduleTimeout"]


@pytest.mark.parametrize(("core", "violation"), [
    (_weak_quorum, "agreement"),
    (_double_signing, "conflicting"),
    (_credulous, "invalid value"),
    (_no_timeouts, "liveness"),
])
def test_a_broken_core_is_caught(core, violation):
    caught = {}
    for seed in range(1_000):
        found = [v for v in run_schedule(random_schedule(seed), core).violations
                 if violation in v]
        if found:
            caught[seed] = found
            break
    assert caught, f"no schedule of 1,000 shows a {violation} violation"
