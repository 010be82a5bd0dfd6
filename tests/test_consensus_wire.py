"""Signed votes and proposals: round trips, forgeries and other chains refused."""

from __future__ import annotations

import dataclasses

import pytest
from consensus_helpers import block_id, make_genesis, validator_key
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_net.consensus import (
    NIL_VALUE_ID,
    GenesisError,
    InvalidVoteError,
    Proposal,
    SignedProposal,
    SignedVote,
    Vote,
    VoteKind,
)
from coverage_net.messages import (
    MESSAGE_TYPES,
    MessageError,
    SignatureError,
    UnknownTypeError,
    decode,
)

GENESIS = make_genesis(4)

_votes = st.builds(Vote, kind=st.sampled_from(list(VoteKind)), height=st.integers(0, 2**63 - 1),
                   round=st.integers(0, 2**31 - 1),
                   value_id=st.none() | st.binary(min_size=32, max_size=32).filter(any),
                   sender=st.integers(0, 3))


@settings(max_examples=100, deadline=None)
@given(_votes)
def test_vote_round_trip(vote):
    signed = SignedVote.create(vote, GENESIS, validator_key(vote.sender))
    again = SignedVote.from_cbor(signed.to_cbor())
    assert again == signed and again.content_id == signed.content_id
    assert again.to_core(GENESIS) == vote


@settings(max_examples=50, deadline=None)
@given(height=st.integers(0, 2**63 - 1), round_=st.integers(0, 2**31 - 1),
       value=st.binary(min_size=32, max_size=32), valid_round=st.integers(-1, 2**31 - 1),
       sender=st.integers(0, 3))
def test_proposal_round_trip(height, round_, value, valid_round, sender):
    proposal = Proposal(height=height, round=round_, value_id=value, valid_round=valid_round,
                        sender=sender)
    signed = SignedProposal.create(proposal, GENESIS, validator_key(sender))
    assert SignedProposal.from_cbor(signed.to_cbor()).to_core(GENESIS) == proposal


def test_nil_is_32_zero_bytes_on_the_wire():
    vote = Vote(VoteKind.PREVOTE, 3, 0, None, 1)
    signed = SignedVote.create(vote, GENESIS, validator_key(1))
    assert signed.value_id == NIL_VALUE_ID and signed.core_value_id is None
    with pytest.raises(InvalidVoteError, match="would read as nil"):
        SignedVote.unsigned(dataclasses.replace(vote, value_id=NIL_VALUE_ID), GENESIS)


def test_not_in_the_gossip_registry():
    signed = SignedVote.create(Vote(VoteKind.PREVOTE, 1, 0, None, 0), GENESIS, validator_key(0))
    assert "consensus_vote" not in MESSAGE_TYPES and "consensus_proposal" not in MESSAGE_TYPES
    with pytest.raises(UnknownTypeError):
        decode(signed.to_cbor())
    with pytest.raises(UnknownTypeError, match="unknown message type 'consensus_vote'"):
        SignedProposal.from_cbor(signed.to_cbor())


def test_altered_vote_refused():
    signed = SignedVote.create(Vote(VoteKind.PRECOMMIT, 5, 2, block_id("a"), 2), GENESIS,
                               validator_key(2))
    altered = dataclasses.replace(signed, value_id=block_id("b"))
    with pytest.raises(SignatureError, match="does not verify"):
        SignedVote.from_cbor(altered.to_cbor())
    with pytest.raises(InvalidVoteError, match="does not verify"):
        altered.to_core(GENESIS)


def test_forged_vote_refused():
    # validator 3 signs a message that names validator 1 as its signer
    unsigned = SignedVote.unsigned(Vote(VoteKind.PREVOTE, 5, 0, block_id("a"), 1), GENESIS)
    forged = dataclasses.replace(
        unsigned, signature=validator_key(3).sign(unsigned.signing_bytes()))
    with pytest.raises(SignatureError):
        SignedVote.from_cbor(forged.to_cbor())
    with pytest.raises(SignatureError, match="must be signed by its validator_key"):
        unsigned.sign(validator_key(3))
    with pytest.raises(InvalidVoteError, match="from validator 1"):
        SignedVote.create(Vote(VoteKind.PREVOTE, 5, 0, None, 1), GENESIS, validator_key(3))


def test_a_prevote_signature_is_not_a_precommit_signature():
    prevote = SignedVote.create(Vote(VoteKind.PREVOTE, 5, 0, block_id("a"), 0), GENESIS,
                                validator_key(0))
    relabelled = dataclasses.replace(prevote, kind=2)
    with pytest.raises(InvalidVoteError, match="does not verify"):
        relabelled.to_core(GENESIS)


def test_vote_for_one_chain_refused_on_another():
    other = make_genesis(4, chain_id="another-chain")  # same validator keys
    signed = SignedVote.create(Vote(VoteKind.PRECOMMIT, 7, 0, block_id("x"), 0), GENESIS,
                               validator_key(0))
    with pytest.raises(InvalidVoteError, match="this is chain 'another-chain'"):
        signed.to_core(other)
    moved = dataclasses.replace(signed, chain_hash=other.hash())  # relabelled: signature breaks
    with pytest.raises(InvalidVoteError, match="does not verify"):
        moved.to_core(other)
    proposal = SignedProposal.create(Proposal(7, 0, block_id("x"), -1, 0), GENESIS,
                                     validator_key(0))
    with pytest.raises(InvalidVoteError, match="this is chain"):
        proposal.to_core(other)


def test_unknown_validator_refused():
    outsider = validator_key(9)
    signed = SignedVote(chain_hash=GENESIS.hash(), height=1, round=0, kind=1,
                        value_id=block_id("a"), validator_key=outsider.public_key).sign(outsider)
    assert SignedVote.from_cbor(signed.to_cbor()) == signed  # well formed, validly signed
    with pytest.raises(InvalidVoteError, match="is not a validator"):
        signed.to_core(GENESIS)
    with pytest.raises(GenesisError, match="out of range"):
        SignedVote.create(Vote(VoteKind.PREVOTE, 1, 0, None, 4), GENESIS, validator_key(4))


def test_out_of_range_fields_named():
    with pytest.raises(MessageError, match="valid_round is -2"):
        SignedProposal.unsigned(Proposal(1, 0, block_id("a"), -2, 0), GENESIS)
    with pytest.raises(MessageError, match="round is -1"):
        SignedVote.unsigned(Vote(VoteKind.PREVOTE, 1, -1, None, 0), GENESIS)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_raises_only_message_errors(data):
    for cls in (SignedVote, SignedProposal):
        with pytest.raises(MessageError):
            cls.from_cbor(data)
