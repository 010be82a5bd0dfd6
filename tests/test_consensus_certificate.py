"""Quorum certificates: checkable with the genesis alone; short, duplicate or wrong ones refused."""

from __future__ import annotations

import dataclasses

import pytest
from consensus_helpers import block_id, make_genesis, validator_key
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_net.consensus import (
    CertificateError,
    QuorumCertificate,
    SignedVote,
    Vote,
    VoteKind,
)

GENESIS = make_genesis(4)
BLOCK = block_id("block 9")


def _vote(sender: int, kind: VoteKind = VoteKind.PRECOMMIT, value: bytes | None = BLOCK,
          height: int = 9, round_: int = 1, genesis=GENESIS) -> SignedVote:
    return SignedVote.create(Vote(kind, height, round_, value, sender), genesis,
                             validator_key(sender))


def _qc(senders, **kw) -> QuorumCertificate:
    return QuorumCertificate(9, 1, BLOCK, tuple((i, _vote(i, **kw).signature) for i in senders))


def test_three_of_four_verifies():
    qc = _qc([0, 1, 3])
    assert qc.verify(GENESIS) is qc
    assert _qc([0, 1, 2, 3]).verify(GENESIS)
    assert QuorumCertificate.from_votes([_vote(i) for i in (2, 0, 1)], GENESIS).signatures == \
        tuple((i, _vote(i).signature) for i in (0, 1, 2))


def test_two_of_four_refused():
    with pytest.raises(CertificateError, match="2 of 4 validators signed; a quorum is 3"):
        _qc([0, 2]).verify(GENESIS)
    with pytest.raises(CertificateError, match="2 of 4"):
        QuorumCertificate.from_votes([_vote(0), _vote(2), _vote(2)], GENESIS)


def test_duplicate_signer_refused():
    with pytest.raises(CertificateError, match="validator 1 signs twice"):
        _qc([0, 1, 1]).verify(GENESIS)


def test_unknown_index_refused():
    qc = _qc([0, 1, 2])
    extra = dataclasses.replace(qc, signatures=qc.signatures + ((7, qc.signatures[0][1]),))
    with pytest.raises(CertificateError, match="signer index 7 is not a validator"):
        extra.verify(GENESIS)


def test_prevote_signature_refused_as_precommit():
    qc = _qc([0, 1, 2], kind=VoteKind.PREVOTE)
    with pytest.raises(CertificateError, match="validator 0's signature is not its precommit"):
        qc.verify(GENESIS)
    with pytest.raises(CertificateError, match="prevote.*takes precommits"):
        QuorumCertificate.from_votes([_vote(i, kind=VoteKind.PREVOTE) for i in range(3)],
                                     GENESIS)


def test_other_block_round_height_or_chain_refused():
    qc = _qc([0, 1, 2])
    for changed in (dataclasses.replace(qc, block_id=block_id("other")),
                    dataclasses.replace(qc, round=2), dataclasses.replace(qc, height=10)):
        with pytest.raises(CertificateError, match="is not its precommit"):
            changed.verify(GENESIS)
    with pytest.raises(CertificateError, match="on chain 'elsewhere'"):
        qc.verify(make_genesis(4, chain_id="elsewhere"))
    swapped = dataclasses.replace(qc, signatures=((0, qc.signatures[1][1]),) + qc.signatures[1:])
    with pytest.raises(CertificateError, match="validator 0's"):
        swapped.verify(GENESIS)


def test_mixed_votes_refused():
    with pytest.raises(CertificateError, match="precommits disagree"):
        QuorumCertificate.from_votes([_vote(0), _vote(1), _vote(2, value=block_id("x"))],
                                     GENESIS)
    with pytest.raises(CertificateError, match="precommit for nil"):
        QuorumCertificate.from_votes([_vote(0, value=None)], GENESIS)
    with pytest.raises(CertificateError, match="cannot go into a certificate"):
        QuorumCertificate.from_votes([_vote(0, genesis=make_genesis(4, "b"))], GENESIS)


def test_cbor_round_trip_and_strict_parse():
    qc = _qc([0, 1, 2])
    again = QuorumCertificate.from_cbor(qc.to_cbor())
    assert again == qc and again.sha256() == qc.sha256()
    assert again.verify(GENESIS)
    with pytest.raises(CertificateError, match="missing key"):
        QuorumCertificate.from_cbor(b"\xa0")
    with pytest.raises(CertificateError, match="signatures\\[0\\].signature: must be 64 bytes"):
        QuorumCertificate(9, 1, BLOCK, ((0, b"short"),))


def test_seven_validators_need_five():
    genesis = make_genesis(7)
    votes = [_vote(i, genesis=genesis) for i in range(7)]
    with pytest.raises(CertificateError, match="4 of 7 validators signed; a quorum is 5"):
        QuorumCertificate.from_votes(votes[:4], genesis)
    assert QuorumCertificate.from_votes(votes[2:], genesis).verify(genesis)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_raises_only_certificate_errors(data):
    with pytest.raises(CertificateError):
        QuorumCertificate.from_cbor(data).verify(GENESIS)
