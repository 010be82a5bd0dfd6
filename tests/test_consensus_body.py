"""A proposed block's body (`BlockBody`): its header and the evidence it includes, checked
with the genesis alone, refused with the reason when anything does not fit, and the
chain keeping the evidence with its block."""

from __future__ import annotations

import dataclasses

import pytest
from consensus_helpers import block_id, make_genesis, validator_key
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_net.consensus import (
    EMPTY_ROOT,
    MAX_BLOCK_EVIDENCE,
    Block,
    BlockBody,
    BlockError,
    ChainError,
    ChainStore,
    Evidence,
    QuorumCertificate,
    SignedVote,
    Vote,
    VoteKind,
    evidence_root,
    select_evidence,
    state_root,
    verify_chain,
)

GENESIS = make_genesis(4)


def _evidence(height: int, sender: int = 1, round_: int = 0) -> Evidence:
    a, b = (SignedVote.create(Vote(VoteKind.PREVOTE, height, round_, block_id(v), sender),
                              GENESIS, validator_key(sender)) for v in ("a", "b"))
    return Evidence.of(a, b)


def _block(height: int, evidence=(), prev: bytes | None = None) -> Block:
    return Block(height=height, prev_block_id=GENESIS.hash() if prev is None else prev,
                 next_entropy=bytes(32), verdicts_root=EMPTY_ROOT, verdict_count=0,
                 registry_changes_root=EMPTY_ROOT, rewards_manifest_sha256=bytes(32),
                 state_root=state_root({}), evidence_root=evidence_root(evidence), proposer=0,
                 time_ms=1)


def _body(height: int, evidence) -> BlockBody:
    evidence = tuple(sorted(evidence, key=Evidence.hash))
    return BlockBody(_block(height, evidence), evidence)


def test_a_body_round_trips_and_checks():
    body = _body(3, [_evidence(0), _evidence(1, sender=2)])
    again = BlockBody.from_cbor(body.to_cbor())
    assert again == body and again.block_id == body.block.block_id()
    assert again.check(GENESIS) is again
    assert BlockBody.from_cbor(BlockBody(_block(0)).to_cbor()).check(GENESIS).evidence == ()


@pytest.mark.parametrize(("make", "message"), [
    (lambda: _body(1, [_evidence(1)]), "only evidence of earlier heights"),
    (lambda: BlockBody(_block(3, [_evidence(0)]), ()), "does not hash to the header"),
    (lambda: BlockBody(_block(3), tuple(sorted([_evidence(0), _evidence(1)],
                                               key=Evidence.hash, reverse=True))),
     "hash order"),
    (lambda: BlockBody(_block(3), (_evidence(0), _evidence(0))), "once each"),
])
def test_a_body_that_does_not_fit_is_refused_with_the_reason(make, message):
    with pytest.raises(BlockError, match=message):
        make().check(GENESIS)


def test_evidence_already_in_the_chain_or_forged_is_refused():
    e = _evidence(0)
    with pytest.raises(BlockError, match="in an earlier block"):
        _body(2, [e]).check(GENESIS, included={e.hash()})
    other = make_genesis(4, "another-chain")  # signed for another chain: does not verify here
    with pytest.raises(BlockError, match="chain"):
        _body(2, [e]).check(other)


def test_a_proposer_selects_older_pending_evidence_up_to_the_cap():
    pending = [_evidence(h % 5, sender=h % 4, round_=h) for h in range(12)]
    chosen = select_evidence(pending, height=3)
    assert len(chosen) == min(MAX_BLOCK_EVIDENCE, sum(e.height < 3 for e in pending))
    assert all(e.height < 3 for e in chosen)
    assert list(chosen) == sorted(chosen, key=Evidence.hash)
    assert select_evidence(pending, 3, included={e.hash() for e in chosen}) != chosen
    assert select_evidence(pending, 0) == ()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_are_refused_as_block_errors(data):
    try:
        body = BlockBody.from_cbor(data)
    except BlockError:
        return
    body.check(GENESIS)  # a body that parses must still check, or raise BlockError


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2000), st.integers(0, 255))
def test_a_flipped_byte_of_a_body_is_refused_or_changes_the_block(index, value):
    body = _body(3, [_evidence(0)])
    data = bytearray(body.to_cbor())
    index %= len(data)
    if data[index] == value:
        return
    data[index] = value
    try:
        other = BlockBody.from_cbor(bytes(data)).check(GENESIS)
    except BlockError:
        return
    assert other.block_id != body.block_id or other.evidence != body.evidence


def _qc(block: Block) -> QuorumCertificate:
    return QuorumCertificate.from_votes(
        [SignedVote.create(Vote(VoteKind.PRECOMMIT, block.height, 0, block.block_id(), i),
                           GENESIS, validator_key(i)) for i in range(3)], GENESIS)


def test_the_chain_keeps_a_blocks_evidence_and_verify_checks_it(tmp_path):
    e = _evidence(0)
    with ChainStore.open(tmp_path, GENESIS) as chain:
        b0 = _block(0)
        chain.append(b0, _qc(b0), {})
        b1 = _block(1, [e], prev=b0.block_id())
        with pytest.raises(ChainError, match="not what its evidence_root commits to"):
            chain.append(b1, _qc(b1), {}, ())
        chain.append(b1, _qc(b1), {}, (e,))
        assert chain.get(1).evidence == (e,) and chain.included_evidence() == {e.hash()}
        assert verify_chain(chain) == []
        forged = dataclasses.replace(e.second, signature=bytes(64))
        chain._db.execute("UPDATE evidence SET body = ?",
                          (Evidence.of(e.first, forged).to_cbor(),))
        problems = verify_chain(chain)
    assert len(problems) == 1 and "block 1's evidence is unreadable" in problems[0]
    assert "signature does not verify" in problems[0]
