"""Consensus (layer 4, core): Tendermint-style BFT, one height per epoch.

The algorithm of Buchman, Kwon and Milosevic, "The latest gossip on BFT consensus"
(2018), Algorithm 1, as a pure core: ``(state, input) -> (state, outputs)`` with no
I/O, clock or randomness (`_core`); validators are indices into the genesis list,
values are block ids. `coverage_net.consensus.testing` runs the core over seeded
adversarial schedules (test tier). Imports `rewards`, `poc`, `p2p` (the driver only)
and below, nothing above.

Around the core, the data layer: the `Genesis` every check starts from, signed
votes and proposals (`SignedVote`, `SignedProposal`), `Block` headers with their
verdict lists in Merkle-proven parts, `ChainChange`s of the validator set or the
parameters (approved by a quorum in office, included by a block, effective two heights
later), `QuorumCertificate`s anyone can check with the
genesis alone, the crash-safe `VoteSigner`, and `Evidence` of equivocation. The
`ConsensusDriver` (a trio actor, imported on first use) runs the core over the
network seam with the signer, timers and the node's `ConsensusApp`; a validator that
cannot rebuild a certified block fetches it, every part checked, with the
`BlockFetcher` from peers' `BlockServer`s (imported on first use too).
"""

from ._block import (
    MAX_BLOCK_VERDICTS,
    PART_LEAVES,
    VERDICT_LEAF_BYTES,
    Block,
    BlockPart,
    assemble_parts,
    block_parts,
    check_part,
    state_root,
    verdict_leaf,
    verdict_leaves,
    verdicts_root,
)
from ._body import (
    MAX_BLOCK_EVIDENCE,
    MAX_BODY_BYTES,
    MAX_BODY_LEAVES,
    BlockBody,
    select_evidence,
)
from ._certificate import QuorumCertificate
from ._chain import CHAIN_FILE_NAME, ChainBlock, ChainError, ChainStore, verify_chain
from ._change import (
    CHANGE_DELAY_HEIGHTS,
    CHANGE_DOMAIN,
    MAX_BLOCK_CHANGES,
    ApprovedChange,
    ChainChange,
    GenesisAt,
    changes_root,
    check_changes,
    effective_config,
    load_change,
    save_change,
)
from ._core import (
    OBSERVER,
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
from ._errors import (
    BlockError,
    BlockFetchError,
    CertificateError,
    ConsensusError,
    DoubleSignError,
    EvidenceError,
    GenesisError,
    InvalidVoteError,
    SignerStateError,
)
from ._evidence import EVIDENCE_FILE_NAME, Evidence, EvidenceLog, evidence_root
from ._genesis import (
    CHAIN_ID_PATTERN,
    MAX_VALIDATORS,
    Genesis,
    GenesisValidator,
    load_genesis,
    save_genesis,
)
from ._merkle import (
    EMPTY_ROOT,
    MerkleTree,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_hash_inclusion,
    verify_inclusion,
)
from ._signer import SIGNER_FILE_NAME, SignedRecord, VoteSigner
from ._types import NIL, Proposal, Step, TimeoutKind, Vote, VoteKind, max_faulty, quorum
from ._wire import (
    HEIGHT,
    NIL_VALUE_ID,
    ROUND,
    VOTE_KIND_CODES,
    SignedProposal,
    SignedVote,
)

__all__ = [
    "ConsensusError",
    "NIL", "Proposal", "Step", "TimeoutKind", "Vote", "VoteKind", "max_faulty", "quorum",
    # the pure core
    "apply", "initial_state", "proposer_of", "CoreConfig", "CoreState", "CoreInput",
    "CoreOutput", "StartHeight", "ProposalIn", "VoteIn", "TimeoutIn", "ValueIn", "CommitIn",
    "BroadcastProposal", "BroadcastVote", "ScheduleTimeout", "GetValue", "Decide", "OBSERVER",
    "EvidenceFound",
    # the data layer
    "GenesisError", "InvalidVoteError", "CertificateError", "DoubleSignError",
    "SignerStateError", "BlockError", "BlockFetchError", "EvidenceError",
    "Genesis", "GenesisValidator", "load_genesis", "save_genesis", "CHAIN_ID_PATTERN",
    "MAX_VALIDATORS",
    "SignedVote", "SignedProposal", "NIL_VALUE_ID", "VOTE_KIND_CODES", "HEIGHT", "ROUND",
    "QuorumCertificate",
    "VoteSigner", "SignedRecord", "SIGNER_FILE_NAME",
    "MerkleTree", "merkle_root", "verify_inclusion", "verify_hash_inclusion", "leaf_hash",
    "node_hash", "EMPTY_ROOT",
    "Block", "BlockPart", "block_parts", "check_part", "assemble_parts", "verdict_leaf",
    "verdict_leaves", "verdicts_root", "state_root", "PART_LEAVES", "VERDICT_LEAF_BYTES",
    "MAX_BLOCK_VERDICTS", "BlockBody", "select_evidence", "MAX_BLOCK_EVIDENCE", "MAX_BODY_BYTES",
    "MAX_BODY_LEAVES",
    # the driver (imported on first use)
    "ConsensusDriver", "ConsensusApp", "DriverMetrics", "CONSENSUS_TOPIC",
    "CONSENSUS_SYNC_PROTOCOL", "CONSENSUS_BLOCKS_TOPIC",
    # fetching certified blocks (imported on first use)
    "BlockFetcher", "FetchedBlock", "BlockServer", "BlockSource", "BlockRequest", "ServedBlock",
    "BlockHead",
    "CONSENSUS_BLOCK_PROTOCOL", "BLOCK_LIMITS", "PARTS_PER_REQUEST", "MANIFEST_CHUNK_BYTES",
    "decode_head", "decode_manifest_chunk", "decode_parts",
    "Evidence", "EvidenceLog", "evidence_root", "EVIDENCE_FILE_NAME",
    # changes of the validator set and parameters
    "ChainChange", "ApprovedChange", "GenesisAt", "changes_root", "check_changes",
    "effective_config", "load_change", "save_change", "CHANGE_DELAY_HEIGHTS", "CHANGE_DOMAIN",
    "MAX_BLOCK_CHANGES",
    # the chain
    "ChainStore", "ChainBlock", "ChainError", "verify_chain", "CHAIN_FILE_NAME",
]

_DRIVER_NAMES = frozenset({"CONSENSUS_SYNC_PROTOCOL", "CONSENSUS_TOPIC", "CONSENSUS_BLOCKS_TOPIC",
                           "ConsensusApp",
                           "ConsensusDriver", "DriverMetrics"})
_LAZY = {**dict.fromkeys(_DRIVER_NAMES, "_driver"),
         **dict.fromkeys(("BlockFetcher", "FetchedBlock"), "_block_fetch"),
         **dict.fromkeys(("BlockServer", "BlockSource", "BlockRequest", "ServedBlock", "BlockHead",
                          "CONSENSUS_BLOCK_PROTOCOL", "BLOCK_LIMITS", "PARTS_PER_REQUEST",
                          "MANIFEST_CHUNK_BYTES", "decode_head", "decode_manifest_chunk",
                          "decode_parts"), "_block_serve")}


def __getattr__(name: str) -> object:
    """The network's users (the driver, block serving and fetching), imported on first
    use: they bring in `coverage_net.p2p` (and py-libp2p, slow to import), which the core
    and the data layer do not need."""
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
