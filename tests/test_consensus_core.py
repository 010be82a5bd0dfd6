"""The pure consensus core against the rules of Algorithm 1 ("The latest gossip on BFT
consensus"): hand-made scenarios per rule, and hypothesis-driven input sequences checked
against the paper's invariants after every step."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_net.consensus import ConsensusError, Proposal, Step, TimeoutKind, Vote, VoteKind
from coverage_net.consensus._core import (
    BroadcastProposal,
    BroadcastVote,
    CommitIn,
    CoreConfig,
    Decide,
    EvidenceFound,
    GetValue,
    ProposalIn,
    ScheduleTimeout,
    StartHeight,
    TimeoutIn,
    ValueIn,
    VoteIn,
    apply,
    initial_state,
    proposer_of,
)

N = 4
H = 5  # proposer_of(5, r) = (5 + r) % 4: round 0 -> 1, round 1 -> 2, round 2 -> 3, round 3 -> 0
ME = 0
PV, PC = VoteKind.PREVOTE, VoteKind.PRECOMMIT
V, W = hashlib.sha256(b"v").digest(), hashlib.sha256(b"w").digest()


def _run(state, *events):
    outputs = []
    for event in events:
        state, out = apply(state, event)
        outputs += out
    return state, outputs


def _started(me: int = ME, height: int = H):
    return _run(initial_state(CoreConfig(n=N, me=me), height), StartHeight(height))


def _proposal(round_: int, value: bytes, valid_round: int = -1, valid: bool = True):
    return ProposalIn(Proposal(H, round_, value, valid_round, proposer_of(H, round_, N)), valid)


def _votes(kind, round_, value, senders):
    return [VoteIn(Vote(kind, H, round_, value, s)) for s in senders]


def _my_votes(outputs):
    return [o.vote for o in outputs if isinstance(o, BroadcastVote)]


def test_a_round_from_proposal_to_decision():
    state, out = _started()
    assert out == [ScheduleTimeout(TimeoutKind.PROPOSE, H, 0, 3_000)]  # not the proposer
    state, out = _run(state, _proposal(0, V))  # line 22
    assert _my_votes(out) == [Vote(PV, H, 0, V, ME)] and state.step is Step.PREVOTE
    state, out = _run(state, *_votes(PV, 0, V, [1, 2]))  # lines 34 and 36
    assert _my_votes(out) == [Vote(PC, H, 0, V, ME)]
    assert (state.locked_value, state.locked_round, state.valid_round) == (V, 0, 0)
    assert ScheduleTimeout(TimeoutKind.PREVOTE, H, 0, 1_000) in out
    state, out = _run(state, *_votes(PC, 0, V, [1, 2]))  # line 49
    decide = [o for o in out if isinstance(o, Decide)]
    assert decide == [Decide(H, 0, V, tuple(Vote(PC, H, 0, V, s) for s in (0, 1, 2)))]
    assert state.step is Step.COMMIT
    state, out = _run(state, *_votes(PC, 0, V, [3]), TimeoutIn(TimeoutKind.PRECOMMIT, H, 0))
    assert out == []  # decided: nothing more at this height


def test_the_proposer_asks_for_a_value_and_proposes_it():
    state, out = _started(me=proposer_of(H, 0, N))
    assert out == [GetValue(H, 0)]
    state, out = _run(state, ValueIn(H, 0, V))
    me = proposer_of(H, 0, N)
    assert BroadcastProposal(Proposal(H, 0, V, -1, me)) in out
    assert _my_votes(out) == [Vote(PV, H, 0, V, me)]  # its own proposal counts at once


def test_a_locked_validator_prevotes_nil_for_another_value():
    state, _ = _started()
    state, _ = _run(state, _proposal(0, V), *_votes(PV, 0, V, [1, 2]))  # locked on V in 0
    state, out = _run(state, TimeoutIn(TimeoutKind.PRECOMMIT, H, 0))  # line 65: round 1
    assert state.round == 1 and state.locked_value == V
    state, out = _run(state, _proposal(1, W))  # line 22, lock held
    assert _my_votes(out) == [Vote(PV, H, 1, None, ME)]


def test_a_polka_at_a_later_round_unlocks():
    """Locked on V in round 0; round 2's proposer proposes W with valid round 1, and 2f+1
    prevoted W in round 1: line 28 (lockedRound 0 <= vr 1) prevotes W. (Had the polka come
    while it was still in round 1's prevote step, line 36 would have locked it on W.)"""
    state, _ = _started()
    state, _ = _run(state, _proposal(0, V), *_votes(PV, 0, V, [1, 2]),
                    TimeoutIn(TimeoutKind.PRECOMMIT, H, 0), _proposal(1, W))
    # it prevoted nil (locked), timed out to a nil precommit, then the polka for W came:
    # line 36 in the precommit step records W as valid, the lock stays
    state, _ = _run(state, *_votes(PV, 1, W, [1, 2]), TimeoutIn(TimeoutKind.PREVOTE, H, 1),
                    *_votes(PV, 1, W, [3]), TimeoutIn(TimeoutKind.PRECOMMIT, H, 1))
    assert (state.round, state.locked_round, state.valid_value, state.valid_round) == (2, 0, W, 1)
    state, out = _run(state, _proposal(2, W, valid_round=1))
    assert _my_votes(out) == [Vote(PV, H, 2, W, ME)]


def test_a_polka_older_than_the_lock_does_not_unlock():
    """Locked on V in round 1; a proposal of W with valid round 0 (a polka before the
    lock) gets a nil prevote."""
    state, _ = _started()
    state, _ = _run(state, TimeoutIn(TimeoutKind.PROPOSE, H, 0), *_votes(PV, 0, W, [1, 2, 3]),
                    *_votes(PC, 0, None, [1, 2]), TimeoutIn(TimeoutKind.PRECOMMIT, H, 0))
    state, _ = _run(state, _proposal(1, V), *_votes(PV, 1, V, [1, 2]))
    assert (state.locked_value, state.locked_round) == (V, 1)
    state, _ = _run(state, *_votes(PC, 1, None, [1, 2]), TimeoutIn(TimeoutKind.PRECOMMIT, H, 1))
    state, out = _run(state, _proposal(2, W, valid_round=0))
    assert _my_votes(out) == [Vote(PV, H, 2, None, ME)]


def test_timeouts_vote_nil_and_stale_ones_do_nothing():
    state, _ = _started()
    state, out = _run(state, TimeoutIn(TimeoutKind.PROPOSE, H, 0))  # line 57
    assert _my_votes(out) == [Vote(PV, H, 0, None, ME)]
    state, out = _run(state, TimeoutIn(TimeoutKind.PROPOSE, H, 0),
                      TimeoutIn(TimeoutKind.PREVOTE, H + 1, 0))
    assert out == []  # stale: wrong step, wrong height
    state, out = _run(state, *_votes(PV, 0, V, [1, 2]))  # 2f+1 prevotes, mixed: line 34 only
    assert out == [ScheduleTimeout(TimeoutKind.PREVOTE, H, 0, 1_000)]
    state, out = _run(state, TimeoutIn(TimeoutKind.PREVOTE, H, 0))  # line 61
    assert _my_votes(out) == [Vote(PC, H, 0, None, ME)]
    state, out = _run(state, *_votes(PC, 0, V, [1, 2]))  # line 47: scheduled once
    assert out == [ScheduleTimeout(TimeoutKind.PRECOMMIT, H, 0, 1_000)]
    state, out = _run(state, TimeoutIn(TimeoutKind.PRECOMMIT, H, 0))
    assert state.round == 1
    assert out == [ScheduleTimeout(TimeoutKind.PROPOSE, H, 1, 3_500)]  # it grows per round


def test_a_nil_polka_precommits_nil():
    state, _ = _started()
    state, out = _run(state, _proposal(0, V), *_votes(PV, 0, None, [1, 2, 3]))  # line 44
    assert _my_votes(out)[-1] == Vote(PC, H, 0, None, ME)


def test_f_plus_one_messages_of_a_later_round_start_it():
    state, _ = _started()
    state, out = _run(state, VoteIn(Vote(PV, H, 4, None, 2)))
    assert state.round == 0
    state, out = _run(state, VoteIn(Vote(PC, H, 4, W, 3)))  # line 55: f + 1 = 2 senders
    assert state.round == 4 and state.step is Step.PROPOSE


def test_the_proposer_reproposes_its_valid_value_with_its_round():
    me = proposer_of(H, 1, N)
    state, _ = _started(me=me)
    state, _ = _run(state, _proposal(0, V), *_votes(PV, 0, V, [a for a in range(N) if a != me]))
    assert state.valid_value == V
    state, out = _run(state, TimeoutIn(TimeoutKind.PRECOMMIT, H, 0))
    assert BroadcastProposal(Proposal(H, 1, V, 0, me)) in out


def test_an_invalid_value_is_never_prevoted_nor_decided():
    state, _ = _started()
    state, out = _run(state, _proposal(0, V, valid=False))
    assert _my_votes(out) == [Vote(PV, H, 0, None, ME)]
    state, out = _run(state, *_votes(PC, 0, V, [1, 2, 3]))
    assert not any(isinstance(o, Decide) for o in out)


def test_an_equivocating_sender_is_reported_once_and_counts_for_each_value():
    state, _ = _started()
    state, out = _run(state, VoteIn(Vote(PV, H, 0, V, 2)), VoteIn(Vote(PV, H, 0, W, 2)),
                      VoteIn(Vote(PV, H, 0, W, 2)))
    assert [o for o in out if isinstance(o, EvidenceFound)] == [
        EvidenceFound(Vote(PV, H, 0, V, 2), Vote(PV, H, 0, W, 2))]
    state, out = _run(state, _proposal(0, V), _proposal(0, W))
    assert len([o for o in out if isinstance(o, EvidenceFound)]) == 1  # two proposals


def test_proposals_from_anyone_but_the_proposer_are_ignored():
    state, _ = _started()
    wrong = Proposal(H, 0, V, -1, (proposer_of(H, 0, N) + 1) % N)
    state, out = _run(state, ProposalIn(wrong, True))
    assert out == [] and state.step is Step.PROPOSE


def test_a_certificate_from_block_sync_decides_even_against_held_votes():
    state, _ = _started()
    state, _ = _run(state, VoteIn(Vote(PC, H, 0, None, 2)))  # 2's other vote
    qc = tuple(Vote(PC, H, 0, V, s) for s in (1, 2, 3))
    state, out = _run(state, CommitIn(H, 0, V, qc[:2], True))
    assert out == []  # short of a quorum
    state, out = _run(state, CommitIn(H, 0, V, qc, False))
    assert out == []  # the value does not check out here
    state, out = _run(state, CommitIn(H, 0, V, qc, True))
    assert out == [Decide(H, 0, V, qc)] and state.step is Step.COMMIT


def test_heights_follow_one_another():
    state, _ = _started()
    with pytest.raises(ConsensusError, match="undecided"):
        apply(state, StartHeight(H + 1))
    state, _ = _run(state, CommitIn(H, 0, V, tuple(Vote(PC, H, 0, V, s) for s in (1, 2, 3)),
                                    True))
    state, out = _run(state, StartHeight(H + 1))
    assert state.height == H + 1 and state.locked_round == -1 and state.round == 0
    assert apply(state, StartHeight(H))[1] == []  # an old height is not restarted


def test_config_refuses_nonsense():
    with pytest.raises(ConsensusError, match="validator index 4"):
        CoreConfig(n=4, me=4)


# --- the paper's invariants over random input sequences ----------------------------------

VALUES = (V, W, None)


@st.composite
def inputs(draw):
    kind = draw(st.sampled_from(("vote", "vote", "vote", "proposal", "timeout")))
    round_ = draw(st.integers(0, 3))
    if kind == "vote":
        return VoteIn(Vote(draw(st.sampled_from((PV, PC))), H, round_,
                           draw(st.sampled_from(VALUES)), draw(st.integers(1, N - 1))))
    if kind == "proposal":
        value = draw(st.sampled_from((V, W)))
        return ProposalIn(Proposal(H, round_, value, draw(st.integers(-1, round_ - 1)),
                                   proposer_of(H, round_, N)), value == V or draw(st.booleans()))
    return TimeoutIn(draw(st.sampled_from(list(TimeoutKind))), H, round_)


def _polka(state, round_, value) -> bool:
    return sum(1 for held in state.votes.get((round_, PV), {}).values()
               for v in held if v.value_id == value) >= 3


@settings(max_examples=400, deadline=None)
@given(st.lists(inputs(), max_size=60))
def test_every_step_keeps_the_papers_invariants(events):
    state, _ = _started()
    mine: dict[tuple[int, VoteKind], bytes | None] = {}
    for event in events:
        before = state
        state, out = apply(before, event)
        assert apply(before, event) == (state, out)  # deterministic, and `before` unchanged
        assert (state.round, state.step) >= (before.round, before.step) \
            or state.step is Step.COMMIT  # rounds and steps only move forward
        assert state.locked_round >= before.locked_round
        if state.locked_round > before.locked_round:  # a lock needs a polka and a valid proposal
            assert _polka(state, state.locked_round, state.locked_value)
            assert state.validity.get(state.locked_value)
        for vote in _my_votes(out):
            key = (vote.round, vote.kind)
            assert mine.setdefault(key, vote.value_id) == vote.value_id  # never two votes
            if vote.kind is PV and vote.value_id is not None:
                proposal = next(p for p in state.proposals[vote.round]
                                if p.value_id == vote.value_id)
                assert state.validity[vote.value_id]
                free = before.locked_round == -1 or before.locked_value == vote.value_id
                unlocked = (proposal.valid_round >= before.locked_round
                            and _polka(state, proposal.valid_round, vote.value_id))
                assert free or unlocked  # lines 22 and 28
            if vote.kind is PC and vote.value_id is not None:
                assert _polka(state, vote.round, vote.value_id)  # line 36
        for d in (o for o in out if isinstance(o, Decide)):
            assert len({v.sender for v in d.precommits}) >= 3
            assert all((v.kind, v.round, v.value_id) == (PC, d.round, d.value_id)
                       for v in d.precommits)
            assert state.validity[d.value_id]
