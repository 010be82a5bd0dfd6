"""Consensus (layer 4, core): Tendermint-style BFT, one height per epoch.

The algorithm of Buchman, Kwon and Milosevic, "The latest gossip on BFT consensus"
(2018), Algorithm 1, as a pure core: ``(state, input) -> (state, outputs)`` with no
I/O, clock or randomness (`_core`); validators are indices into the genesis list,
values are block ids. Imports `rewards`, `poc` and below, nothing above.
"""

from ._errors import ConsensusError
from ._types import NIL, Proposal, Step, TimeoutKind, Vote, VoteKind, max_faulty, quorum

__all__ = [
    "ConsensusError",
    "NIL", "Proposal", "Step", "TimeoutKind", "Vote", "VoteKind", "max_faulty", "quorum",
]
