"""`Block`: one epoch's header, and its verdict list carried in provable parts.

A block is its header: height (= epoch), the previous block's id (the genesis hash
for the first block), the entropy of the next epoch, and roots that commit to what
is too large to carry in one message: the accepted reports with their verdicts, the
hotspot registry changes, the balances after the epoch's rewards, the evidence
of misbehaviour, and the validator-set and parameter changes it includes. Its id is
the SHA-256 of the header's canonical CBOR, and that id is what validators vote on
and a `QuorumCertificate` finalizes.

Verdicts: each accepted report contributes the 64-byte leaf ``report content id ||
SHA-256(verdict canonical CBOR)``, leaves sorted by report id. The list travels in
`BlockPart`s of `PART_LEAVES` leaves, each with the Merkle audit path of its subtree
(aligned runs of 2^k leaves are subtrees of the RFC 6962 tree, `_merkle`), so a node
can fetch a block of 50,000 verdicts from several peers in bounded messages and
refuse a wrong part on arrival instead of after the whole list.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields

from coverage_net.messages import MAX_MESSAGE_BYTES, canonical_dumps
from coverage_net.poc import Verdict

from ._codec import check_bytes, check_int, decode_map
from ._errors import BlockError
from ._merkle import EMPTY_ROOT, MerkleTree, merkle_root, verify_hash_inclusion

__all__ = ["MAX_BLOCK_VERDICTS", "PART_LEAVES", "VERDICT_LEAF_BYTES", "Block", "BlockPart",
           "assemble_parts", "block_parts", "check_part", "state_root", "verdict_leaf",
           "verdict_leaves", "verdicts_root"]

VERDICT_LEAF_BYTES = 64
"""A verdict leaf: 32-byte report content id, then the SHA-256 of the verdict's CBOR."""
MAX_BLOCK_VERDICTS = 2**24
"""Most verdicts one block accepts (16.7 million): bounds a part's audit path to 19 hashes."""
PART_LEAVES = 32
"""Leaves in one block part. A part must fit one message (`MAX_MESSAGE_BYTES`, 4096):
32 leaves x 66 bytes (64 + CBOR header) = 2112, plus an audit path of at most 19 x 34
bytes = 646 for `MAX_BLOCK_VERDICTS`, plus ~30 bytes of keys: under 2.8 kB. 64 leaves
would not fit. It is a power of two so that each part is one subtree of the tree."""
_MAX_TIME_MS = 2**63 - 1
_HEADER_BYTES_MAX = 1024
_PART_KEYS = frozenset({"index", "part_leaves", "leaves", "proof"})
_HASH_FIELDS = ("prev_block_id", "next_entropy", "verdicts_root", "registry_changes_root",
                "rewards_manifest_sha256", "state_root", "evidence_root", "changes_root")


@dataclass(frozen=True)
class Block:
    """A block header; `block_id()` is what consensus decides on."""

    height: int
    prev_block_id: bytes
    next_entropy: bytes
    verdicts_root: bytes
    verdict_count: int
    registry_changes_root: bytes
    rewards_manifest_sha256: bytes
    state_root: bytes
    evidence_root: bytes
    proposer: int
    time_ms: int
    changes_root: bytes = EMPTY_ROOT
    """Root over the validator-set and parameter changes the block includes
    (`coverage_net.consensus.changes_root`); the empty root when none."""

    def __post_init__(self) -> None:
        check_int(self.height, "Block.height", 0, 2**63 - 1, BlockError)
        check_int(self.verdict_count, "Block.verdict_count", 0, MAX_BLOCK_VERDICTS, BlockError)
        check_int(self.proposer, "Block.proposer (a validator index)", 0, 2**31 - 1, BlockError)
        check_int(self.time_ms, "Block.time_ms", 0, _MAX_TIME_MS, BlockError)
        for name in _HASH_FIELDS:
            object.__setattr__(self, name, check_bytes(getattr(self, name), f"Block.{name}", 32,
                                                       BlockError))

    def to_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_cbor(self) -> bytes:
        """The header's canonical CBOR: what the block id hashes."""
        return canonical_dumps(self.to_dict())

    def block_id(self) -> bytes:
        """SHA-256 of `to_cbor()`: the value consensus votes on."""
        return hashlib.sha256(self.to_cbor()).digest()

    @classmethod
    def from_cbor(cls, data: bytes) -> Block:
        """Parse a header from untrusted bytes; BlockError names what is wrong."""
        body = decode_map(data, what="block", keys=frozenset(f.name for f in fields(cls)),
                          max_bytes=_HEADER_BYTES_MAX, max_depth=1, error=BlockError)
        return cls(**body)

    def part_count(self, part_leaves: int = PART_LEAVES) -> int:
        """How many `BlockPart`s of `part_leaves` leaves carry this block's verdicts."""
        _check_part_leaves(part_leaves)
        return -(-self.verdict_count // part_leaves)


def verdict_leaf(verdict: Verdict) -> bytes:
    """The block's leaf for an accepted report: its content id, then its verdict's hash."""
    return check_bytes(verdict.report_id, "verdict.report_id", 32, BlockError) + \
        hashlib.sha256(verdict.to_cbor()).digest()


def verdict_leaves(verdicts: Iterable[Verdict]) -> tuple[bytes, ...]:
    """The leaves of `verdicts` in block order (by report id); BlockError on a report
    judged twice."""
    leaves = sorted(verdict_leaf(v) for v in verdicts)
    for before, after in zip(leaves, leaves[1:], strict=False):
        if before[:32] == after[:32]:
            raise BlockError(f"report {before[:32].hex()[:16]}... has two verdicts; a block "
                             "accepts each report once")
    return tuple(leaves)


def verdicts_root(leaves: Sequence[bytes]) -> bytes:
    """The header's `verdicts_root` over `verdict_leaves(...)`."""
    return merkle_root(leaves)


def state_root(balances: Mapping[str, int]) -> bytes:
    """Merkle root over the ``[account, balance]`` canonical CBOR leaves, sorted by
    account: one root per set of balances, whatever order they were computed in."""
    leaves = []
    for account in sorted(balances):
        balance = balances[account]
        if not isinstance(account, str) or not account:
            raise BlockError(f"state_root: account {account!r} must be a non-empty string")
        if type(balance) is not int or balance < 0:
            raise BlockError(f"state_root: balance of {account!r} must be an integer >= 0 "
                             f"(smallest units); got {balance!r}")
        leaves.append(canonical_dumps([account, balance]))
    return merkle_root(leaves)


@dataclass(frozen=True)
class BlockPart:
    """Leaves ``index * part_leaves ...`` of a block's verdict list, with the audit path
    of their subtree up to `Block.verdicts_root`."""

    index: int
    part_leaves: int
    leaves: tuple[bytes, ...]
    proof: tuple[bytes, ...]

    def to_cbor(self) -> bytes:
        return canonical_dumps({"index": self.index, "part_leaves": self.part_leaves,
                                "leaves": list(self.leaves), "proof": list(self.proof)})

    @classmethod
    def from_cbor(cls, data: bytes) -> BlockPart:
        """Parse a part (not check it: `check_part`); BlockError says what is wrong."""
        body = decode_map(data, what="block part", keys=_PART_KEYS,
                          max_bytes=MAX_MESSAGE_BYTES, max_depth=2, error=BlockError)
        for key in ("leaves", "proof"):
            if not isinstance(body[key], list):
                raise BlockError(f"block part: {key} must be an array")
        return cls(body["index"], body["part_leaves"], tuple(body["leaves"]),
                   tuple(body["proof"]))


def block_parts(leaves: Sequence[bytes], part_leaves: int = PART_LEAVES
                ) -> tuple[BlockPart, ...]:
    """Split a verdict list into parts with their proofs against `verdicts_root(leaves)`."""
    _check_part_leaves(part_leaves)
    runs = [tuple(leaves[i:i + part_leaves]) for i in range(0, len(leaves), part_leaves)]
    tree = MerkleTree.from_hashes([merkle_root(run) for run in runs])
    return tuple(BlockPart(i, part_leaves, run, tree.proof(i)) for i, run in enumerate(runs))


def check_part(part: BlockPart, block: Block) -> tuple[bytes, ...]:
    """The part's leaves if it is part `part.index` of `block`'s verdict list; else
    BlockError saying what does not fit."""
    count = block.part_count(part.part_leaves)
    check_int(part.index, "block part index", 0, max(count - 1, 0), BlockError)
    if count == 0:
        raise BlockError(f"block {block.height} accepts no verdicts; it has no parts")
    expected = min(part.part_leaves, block.verdict_count - part.index * part.part_leaves)
    if len(part.leaves) != expected:
        raise BlockError(f"block part {part.index} has {len(part.leaves)} leaves; block "
                         f"{block.height} with {block.verdict_count} verdicts needs {expected}")
    leaves = tuple(check_bytes(leaf, f"block part {part.index} leaf {i}", VERDICT_LEAF_BYTES,
                               BlockError) for i, leaf in enumerate(part.leaves))
    _check_order(leaves, f"block part {part.index}")
    if not verify_hash_inclusion(merkle_root(leaves), part.index, count, part.proof,
                                 block.verdicts_root):
        raise BlockError(f"block part {part.index} is not part {part.index} of block "
                         f"{block.height}'s verdicts (its Merkle proof does not reach "
                         f"verdicts_root {block.verdicts_root.hex()[:16]}...)")
    return leaves


def assemble_parts(parts: Iterable[BlockPart], block: Block,
                   part_leaves: int = PART_LEAVES) -> tuple[bytes, ...]:
    """A block's whole verdict list from its parts (each checked, any order); BlockError
    if one is missing, repeated or wrong, or report ids repeat across parts."""
    by_index: dict[int, tuple[bytes, ...]] = {}
    count = block.part_count(part_leaves)
    for part in parts:
        if part.part_leaves != part_leaves:
            raise BlockError(f"block part {part.index} has {part.part_leaves} leaves a part; "
                             f"expected {part_leaves}")
        if part.index in by_index:
            raise BlockError(f"block part {part.index} given twice")
        by_index[part.index] = check_part(part, block)
    missing = sorted(set(range(count)) - set(by_index))
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise BlockError(f"block {block.height}: missing part(s) {shown}")
    leaves = tuple(leaf for i in range(count) for leaf in by_index[i])
    _check_order(leaves, f"block {block.height}")
    return leaves


def _check_order(leaves: Sequence[bytes], where: str) -> None:
    """Report ids strictly increasing: one order, and each report accepted once."""
    for i in range(1, len(leaves)):
        if leaves[i - 1][:32] >= leaves[i][:32]:
            raise BlockError(f"{where}: verdict leaves {i - 1} and {i} are not in strictly "
                             "increasing report-id order")


def _check_part_leaves(part_leaves: int) -> None:
    if type(part_leaves) is not int or not 1 <= part_leaves <= PART_LEAVES or \
            part_leaves & (part_leaves - 1):
        raise BlockError(f"part_leaves is {part_leaves!r}; it must be a power of two from 1 "
                         f"to {PART_LEAVES} (a part is one subtree and fits one message)")
