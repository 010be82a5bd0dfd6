"""The values the consensus core reasons about: votes, proposals, steps, timeouts.

These are the core's own records, unsigned and free of I/O: validators are indices
into the genesis validator list, a proposed value is known by its id (the block's
hash). Signed wire forms, blocks and certificates wrap them (`_wire`, `_block`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

__all__ = ["NIL", "Proposal", "Step", "TimeoutKind", "Vote", "VoteKind", "quorum", "max_faulty"]

NIL: bytes | None = None
"""The value id of a vote for no value."""


class VoteKind(StrEnum):
    PREVOTE = "prevote"
    PRECOMMIT = "precommit"


class Step(IntEnum):
    """A validator's step within a round, ordered as in the paper (propose < prevote <
    precommit); `COMMIT` waits, after a decision, for the next height to start."""

    PROPOSE = 0
    PREVOTE = 1
    PRECOMMIT = 2
    COMMIT = 3


class TimeoutKind(StrEnum):
    PROPOSE = "propose"
    PREVOTE = "prevote"
    PRECOMMIT = "precommit"


@dataclass(frozen=True, order=True)
class Vote:
    """⟨PREVOTE|PRECOMMIT, height, round, id(v) or nil⟩ from validator `sender`."""

    kind: VoteKind
    height: int
    round: int
    value_id: bytes | None
    sender: int


@dataclass(frozen=True, order=True)
class Proposal:
    """⟨PROPOSAL, height, round, v, validRound⟩ from validator `sender`; `value_id` names v."""

    height: int
    round: int
    value_id: bytes
    valid_round: int
    sender: int


def max_faulty(n: int) -> int:
    """f: the most byzantine validators n = 3f + 1 (or more) tolerates."""
    return (n - 1) // 3


def quorum(n: int) -> int:
    """2f + 1 out of n (n - f in general: any two quorums share an honest validator)."""
    return n - max_faulty(n)
