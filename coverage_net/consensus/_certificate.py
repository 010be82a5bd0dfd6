"""`QuorumCertificate`: 2f+1 precommit signatures that make a block final.

Anyone holding the genesis can check one: the signatures are over the exact bytes
a validator signs for a `SignedVote` precommit of (height, round, block id) on this
chain, so a certificate needs nothing else (no votes, no network). Signers are named
by validator index to keep a certificate small (69 bytes a signer).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from coverage_net.identity import SIGNATURE_BYTES, verify_signature
from coverage_net.messages import canonical_dumps

from ._codec import check_bytes, check_int, decode_map
from ._errors import CertificateError, InvalidVoteError
from ._genesis import MAX_VALIDATORS, Genesis
from ._types import Vote, VoteKind
from ._wire import NIL_VALUE_ID, SignedVote

__all__ = ["QuorumCertificate"]

_KEYS = frozenset({"height", "round", "block_id", "signatures"})
_MAX_BYTES = 64 + MAX_VALIDATORS * (SIGNATURE_BYTES + 8)


@dataclass(frozen=True)
class QuorumCertificate:
    """Precommit signatures by validator index for block `block_id` at (height, round)."""

    height: int
    round: int
    block_id: bytes
    signatures: tuple[tuple[int, bytes], ...]

    def __post_init__(self) -> None:
        check_int(self.height, "QuorumCertificate.height", 0, 2**63 - 1, CertificateError)
        check_int(self.round, "QuorumCertificate.round", 0, 2**31 - 1, CertificateError)
        block_id = check_bytes(self.block_id, "QuorumCertificate.block_id", 32,
                               CertificateError)
        if block_id == NIL_VALUE_ID:
            raise CertificateError("QuorumCertificate.block_id is nil (32 zero bytes); a "
                                   "certificate finalizes a block")
        object.__setattr__(self, "block_id", block_id)
        if not isinstance(self.signatures, tuple | list):
            raise CertificateError("QuorumCertificate.signatures must be a tuple of "
                                   "(validator index, signature) pairs")
        pairs = []
        for i, pair in enumerate(self.signatures):
            where = f"QuorumCertificate.signatures[{i}]"
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                raise CertificateError(f"{where}: must be (validator index, signature)")
            pairs.append((check_int(pair[0], f"{where}.index", 0, MAX_VALIDATORS - 1,
                                    CertificateError),
                          check_bytes(pair[1], f"{where}.signature", SIGNATURE_BYTES,
                                      CertificateError)))
        object.__setattr__(self, "signatures", tuple(pairs))

    @classmethod
    def from_votes(cls, votes: Iterable[SignedVote], genesis: Genesis) -> QuorumCertificate:
        """The certificate of a set of precommits for one block (each checked; one per
        validator kept); CertificateError if they disagree or fall short of a quorum."""
        by_sender: dict[int, bytes] = {}
        target: tuple[int, int, bytes | None] | None = None
        for signed in votes:
            try:
                vote = signed.to_core(genesis)
            except InvalidVoteError as exc:
                raise CertificateError(f"a vote cannot go into a certificate: {exc}") from None
            if vote.kind is not VoteKind.PRECOMMIT or vote.value_id is None:
                raise CertificateError(f"validator {vote.sender}'s vote is a {vote.kind} for "
                                       f"{_value(vote.value_id)}; a certificate takes "
                                       "precommits for a block")
            here = (vote.height, vote.round, vote.value_id)
            if target is not None and here != target:
                raise CertificateError(f"precommits disagree: (height, round, block) {_hr(here)}"
                                       f" and {_hr(target)}")
            target = here
            by_sender.setdefault(vote.sender, signed.signature)
        if target is None:
            raise CertificateError("no precommits to certify")
        height, round_, block_id = target
        qc = cls(height, round_, block_id, tuple(sorted(by_sender.items())))
        return qc.verify(genesis)

    def verify(self, genesis: Genesis) -> QuorumCertificate:
        """Return self if at least a quorum of distinct validators of `genesis` signed this
        precommit; else CertificateError naming the first signature that is wrong."""
        seen: set[int] = set()
        for index, signature in self.signatures:
            if index >= genesis.n:
                raise CertificateError(f"signer index {index} is not a validator: chain "
                                       f"{genesis.chain_id!r} has validators 0..{genesis.n - 1}")
            if index in seen:
                raise CertificateError(f"validator {index} signs twice; each signer counts once")
            seen.add(index)
            vote = Vote(VoteKind.PRECOMMIT, self.height, self.round, self.block_id, index)
            signing = SignedVote.unsigned(vote, genesis).signing_bytes()
            if not verify_signature(genesis.key_of(index), signature, signing):
                raise CertificateError(
                    f"validator {index}'s signature is not its precommit for block "
                    f"{self.block_id.hex()[:16]}... at height {self.height} round {self.round} "
                    f"on chain {genesis.chain_id!r}")
        if len(seen) < genesis.quorum:
            raise CertificateError(f"{len(seen)} of {genesis.n} validators signed; a quorum is "
                                   f"{genesis.quorum}")
        return self

    def to_cbor(self) -> bytes:
        return canonical_dumps({"height": self.height, "round": self.round,
                                "block_id": self.block_id,
                                "signatures": [list(pair) for pair in self.signatures]})

    def sha256(self) -> bytes:
        return hashlib.sha256(self.to_cbor()).digest()

    @classmethod
    def from_cbor(cls, data: bytes) -> QuorumCertificate:
        """Parse (not verify: call `verify(genesis)`); CertificateError says what is wrong."""
        body = decode_map(data, what="quorum certificate", keys=_KEYS, max_bytes=_MAX_BYTES,
                          max_depth=3, error=CertificateError)
        signatures = body["signatures"]
        if not isinstance(signatures, list):
            raise CertificateError("quorum certificate: signatures must be an array")
        return cls(body["height"], body["round"], body["block_id"], tuple(signatures))


def _value(value_id: bytes | None) -> str:
    return "nil" if value_id is None else f"{value_id.hex()[:16]}..."


def _hr(target: tuple[int, int, bytes | None]) -> str:
    return f"({target[0]}, {target[1]}, {_value(target[2])})"
