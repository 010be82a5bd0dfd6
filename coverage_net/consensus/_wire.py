"""`SignedVote` and `SignedProposal`: the core's records as signed messages.

On the wire a validator is its public key, not its index, so a message can be
checked with the genesis alone; `to_core` turns it into the core's `Vote` or
`Proposal` (validator index in `sender`) after checking that it belongs to this
chain. Each carries the genesis hash (`chain_hash`): a vote signed for one chain
never verifies as a vote of another, even with the same validator keys.

A nil vote carries 32 zero bytes as its value id (`NIL_VALUE_ID`): a block id is a
SHA-256 digest, and finding a block whose digest is all zeros is a preimage attack.

The types are not in `coverage_net.messages.MESSAGE_TYPES` (``register=False``):
`coverage_net.p2p` derives its gossip topics from that registry when it is imported,
so a type registered from this higher layer would add a topic depending on import
order. Decode them with `SignedVote.from_cbor` / `SignedProposal.from_cbor`; they
join gossip, with topics of their own, when the consensus driver does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from coverage_net.identity import Keypair
from coverage_net.messages import (
    HASH,
    PUBLIC_KEY,
    Integer,
    IntegerChoice,
    Message,
    MessageError,
    spec,
)

from ._errors import GenesisError, InvalidVoteError
from ._genesis import Genesis
from ._types import Proposal, Vote, VoteKind

__all__ = ["HEIGHT", "NIL_VALUE_ID", "ROUND", "VOTE_KIND_CODES", "SignedProposal", "SignedVote"]

NIL_VALUE_ID = bytes(32)
"""The wire value id of a nil vote (the core's `NIL`, None)."""
VOTE_KIND_CODES: dict[VoteKind, int] = {VoteKind.PREVOTE: 1, VoteKind.PRECOMMIT: 2}
"""A vote kind's code on the wire (an integer, so the field is a fixed choice)."""
_KIND_BY_CODE = {code: kind for kind, code in VOTE_KIND_CODES.items()}
HEIGHT = Integer(0, 2**63 - 1, "block height (= epoch)")
ROUND = Integer(0, 2**31 - 1, "consensus round within a height")
_VOTE_KIND = IntegerChoice(tuple(_KIND_BY_CODE), "vote kind: 1 prevote, 2 precommit")
_VALID_ROUND = Integer(-1, 2**31 - 1, "round in which the value was last valid; -1: none")


def _validator_index(genesis: Genesis, message: Message) -> int:
    """The signer's index, once the message is shown to be this chain's and signed by it."""
    if message.chain_hash != genesis.hash():
        raise InvalidVoteError(
            f"{message.TYPE} is for chain {message.chain_hash.hex()[:16]}...; this is chain "
            f"{genesis.chain_id!r} ({genesis.hash().hex()[:16]}...)")
    try:
        index = genesis.index_of(message.signer_key)
        message.verify()
    except (GenesisError, MessageError) as exc:
        raise InvalidVoteError(f"{message.TYPE} refused: {exc}") from None
    return index


def _signer_of(genesis: Genesis, sender: int, keypair: Keypair, what: str) -> bytes:
    """The sender's key, checked to be `keypair`'s, so nobody signs in another's name."""
    key = genesis.key_of(sender)
    if keypair.public_key != key:
        raise InvalidVoteError(f"{what} is from validator {sender} "
                               f"({key.hex()[:16]}...); this keypair is "
                               f"{keypair.public_key.hex()[:16]}...")
    return key


@dataclass(frozen=True, kw_only=True, repr=False)  # Message.__repr__
class SignedVote(Message, register=False):
    """A prevote or precommit by `validator_key` for `value_id` (NIL_VALUE_ID: nil)."""

    TYPE: ClassVar[str] = "consensus_vote"
    SIGNER: ClassVar[str] = "validator_key"
    PARTITION_FIELD: ClassVar[str] = "height"

    chain_hash: bytes = spec(HASH)
    height: int = spec(HEIGHT)
    round: int = spec(ROUND)
    kind: int = spec(_VOTE_KIND)
    value_id: bytes = spec(HASH)
    validator_key: bytes = spec(PUBLIC_KEY)

    @classmethod
    def unsigned(cls, vote: Vote, genesis: Genesis) -> SignedVote:
        """The wire form of `vote`, not yet signed (what `VoteSigner` persists, then signs)."""
        if vote.value_id == NIL_VALUE_ID:
            raise InvalidVoteError("a vote for the value id of 32 zero bytes would read as nil "
                                   "on the wire; a nil vote has value_id None")
        return cls(chain_hash=genesis.hash(), height=vote.height, round=vote.round,
                   kind=VOTE_KIND_CODES[VoteKind(vote.kind)],
                   value_id=NIL_VALUE_ID if vote.value_id is None else vote.value_id,
                   validator_key=genesis.key_of(vote.sender))

    @classmethod
    def create(cls, vote: Vote, genesis: Genesis, keypair: Keypair) -> SignedVote:
        """`vote` signed by `keypair`, which must be validator `vote.sender`'s.

        No double-sign protection: a validator signs through `VoteSigner`."""
        _signer_of(genesis, vote.sender, keypair, "the vote")
        return cls.unsigned(vote, genesis).sign(keypair)

    @property
    def vote_kind(self) -> VoteKind:
        return _KIND_BY_CODE[self.kind]

    @property
    def core_value_id(self) -> bytes | None:
        """The value id as the core sees it: None for nil."""
        return None if self.value_id == NIL_VALUE_ID else self.value_id

    def to_core(self, genesis: Genesis) -> Vote:
        """The core's `Vote`; InvalidVoteError if another chain's, not a validator's, or forged."""
        sender = _validator_index(genesis, self)
        return Vote(kind=self.vote_kind, height=self.height, round=self.round,
                    value_id=self.core_value_id, sender=sender)


@dataclass(frozen=True, kw_only=True, repr=False)  # Message.__repr__
class SignedProposal(Message, register=False):
    """A proposal of block `block_id` by `proposer_key`; `valid_round` -1 when none."""

    TYPE: ClassVar[str] = "consensus_proposal"
    SIGNER: ClassVar[str] = "proposer_key"
    PARTITION_FIELD: ClassVar[str] = "height"

    chain_hash: bytes = spec(HASH)
    height: int = spec(HEIGHT)
    round: int = spec(ROUND)
    block_id: bytes = spec(HASH)
    valid_round: int = spec(_VALID_ROUND)
    proposer_key: bytes = spec(PUBLIC_KEY)

    @classmethod
    def unsigned(cls, proposal: Proposal, genesis: Genesis) -> SignedProposal:
        """The wire form of `proposal`, not yet signed."""
        return cls(chain_hash=genesis.hash(), height=proposal.height, round=proposal.round,
                   block_id=proposal.value_id, valid_round=proposal.valid_round,
                   proposer_key=genesis.key_of(proposal.sender))

    @classmethod
    def create(cls, proposal: Proposal, genesis: Genesis, keypair: Keypair) -> SignedProposal:
        """`proposal` signed by `keypair`, which must be validator `proposal.sender`'s."""
        _signer_of(genesis, proposal.sender, keypair, "the proposal")
        return cls.unsigned(proposal, genesis).sign(keypair)

    def to_core(self, genesis: Genesis) -> Proposal:
        """The core's `Proposal`; InvalidVoteError as for `SignedVote.to_core`."""
        sender = _validator_index(genesis, self)
        return Proposal(height=self.height, round=self.round, value_id=self.block_id,
                        valid_round=self.valid_round, sender=sender)
