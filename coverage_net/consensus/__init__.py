"""Consensus (layer 4, core): Tendermint-style BFT, one height per epoch.

The algorithm of Buchman, Kwon and Milosevic, "The latest gossip on BFT consensus"
(2018), Algorithm 1, as a pure core: ``(state, input) -> (state, outputs)`` with no
I/O, clock or randomness (`_core`); validators are indices into the genesis list,
values are block ids. `coverage_net.consensus.testing` runs the core over seeded
adversarial schedules (test tier). Imports `rewards`, `poc` and below, nothing above.
"""

from ._core import (
    BroadcastProposal,
    BroadcastVote,
    CommitIn,
    CoreConfig,
    CoreInput,
    CoreOutput,
    CoreState,
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
from ._errors import ConsensusError
from ._types import NIL, Proposal, Step, TimeoutKind, Vote, VoteKind, max_faulty, quorum

__all__ = [
    "ConsensusError",
    "NIL", "Proposal", "Step", "TimeoutKind", "Vote", "VoteKind", "max_faulty", "quorum",
    # the pure core
    "apply", "initial_state", "proposer_of", "CoreConfig", "CoreState", "CoreInput",
    "CoreOutput", "StartHeight", "ProposalIn", "VoteIn", "TimeoutIn", "ValueIn", "CommitIn",
    "BroadcastProposal", "BroadcastVote", "ScheduleTimeout", "GetValue", "Decide",
    "EvidenceFound",
]
