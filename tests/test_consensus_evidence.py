"""Evidence of equivocation: checked with the genesis alone, one canonical form, logged once."""

from __future__ import annotations

import dataclasses

import pytest
from consensus_helpers import block_id, make_genesis, validator_key
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_net.consensus import (
    EMPTY_ROOT,
    Evidence,
    EvidenceError,
    EvidenceLog,
    Proposal,
    SignedProposal,
    SignedVote,
    Vote,
    VoteKind,
    evidence_root,
    merkle_root,
)

GENESIS = make_genesis(4)


def _vote(sender=1, value="a", kind=VoteKind.PREVOTE, height=4, round_=0, genesis=GENESIS):
    value_id = None if value is None else block_id(value)
    return SignedVote.create(Vote(kind, height, round_, value_id, sender), genesis,
                             validator_key(sender))


def _proposal(value="a", valid_round=-1, sender=2, round_=1):
    return SignedProposal.create(Proposal(4, round_, block_id(value), valid_round, sender),
                                 GENESIS, validator_key(sender))


def test_double_vote_is_evidence_in_either_order():
    a, b = _vote(value="a"), _vote(value="b")
    evidence = Evidence.of(a, b).check(GENESIS)
    assert Evidence.of(b, a) == evidence and Evidence.of(b, a).hash() == evidence.hash()
    assert evidence.kind == "vote" and evidence.height == 4
    assert evidence.validator_key == validator_key(1).public_key
    assert Evidence.of(_vote(value=None), _vote(value="a")).check(GENESIS)


def test_double_proposal_is_evidence():
    assert Evidence.of(_proposal("a"), _proposal("b")).check(GENESIS).kind == "proposal"
    assert Evidence.of(_proposal("a", -1), _proposal("a", 0)).check(GENESIS)


@pytest.mark.parametrize(("a", "b", "message"), [
    (lambda: _vote(1), lambda: _vote(2, value="b"), r"by validators [12] and [12]"),
    (lambda: _vote(round_=0), lambda: _vote(round_=1, value="b"), "different"),
    (lambda: _vote(kind=VoteKind.PREVOTE),
     lambda: _vote(kind=VoteKind.PRECOMMIT, value="b"), "different"),
    (lambda: _proposal(round_=1), lambda: _proposal("b", round_=2), "different"),
    (lambda: _vote(), lambda: _vote(genesis=make_genesis(4, "other"), value="b"), "this is chain"),
])
def test_no_conflict_no_evidence(a, b, message):
    with pytest.raises(EvidenceError, match=message):
        Evidence.of(a(), b()).check(GENESIS)


def test_same_message_twice_or_mixed_types_refused():
    with pytest.raises(EvidenceError, match="same message"):
        Evidence.of(_vote(), _vote())
    with pytest.raises(EvidenceError, match="two SignedVotes or two SignedProposals"):
        Evidence.of(_vote(), _proposal())
    a, b = sorted([_vote(value="a"), _vote(value="b")], key=lambda m: m.content_id)
    with pytest.raises(EvidenceError, match="by content id"):
        Evidence(b, a)


def test_forged_half_refused():
    a = _vote(value="a")
    forged = dataclasses.replace(_vote(value="b"), signature=a.signature)
    with pytest.raises(EvidenceError, match="does not verify"):
        Evidence.of(a, forged).check(GENESIS)


def test_cbor_round_trip_and_strict_parse():
    evidence = Evidence.of(_proposal("a"), _proposal("b"))
    again = Evidence.from_cbor(evidence.to_cbor())
    assert again == evidence and again.hash() == evidence.hash()
    with pytest.raises(EvidenceError, match="missing key"):
        Evidence.from_cbor(b"\xa0")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_raises_only_evidence_errors(data):
    with pytest.raises(EvidenceError):
        Evidence.from_cbor(data).check(GENESIS)


def test_evidence_root():
    e1 = Evidence.of(_vote(value="a"), _vote(value="b"))
    e2 = Evidence.of(_proposal("a"), _proposal("b"))
    assert evidence_root([]) == EMPTY_ROOT
    assert evidence_root([e1, e2]) == evidence_root([e2, e1]) == \
        merkle_root(sorted([e1.hash(), e2.hash()]))
    with pytest.raises(EvidenceError, match="once"):
        evidence_root([e1, e1])


def test_log_records_once_by_hash_and_survives_reopen(tmp_path):
    e1 = Evidence.of(_vote(value="a"), _vote(value="b"))
    e2 = Evidence.of(_proposal("a"), _proposal("b"))
    with EvidenceLog.open(tmp_path) as log:
        assert log.record(e1, GENESIS)
        assert not log.record(Evidence.of(e1.second, e1.first), GENESIS)
        assert log.record(e2, GENESIS)
        with pytest.raises(EvidenceError):
            log.record(Evidence.of(_vote(1), _vote(2, value="b")), GENESIS)
        assert len(log) == 2 and e1.hash() in log
    with EvidenceLog.open(tmp_path) as log:
        assert set(log.all()) == {e1, e2}
        log.mark_included([e1.hash()], 5)
        assert log.pending() == [e2]
        assert not log.record(e1, GENESIS)
