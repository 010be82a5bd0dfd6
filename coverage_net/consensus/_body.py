"""`BlockBody`: a proposed block's header with the evidence it includes and its verdicts.

Validators vote on a block id, and an honest validator accepts a block only if it
would have built the same one. Everything in a header but the evidence it can rebuild
from its own store (verdicts, rewards, registry, entropy); the evidence it may not
hold, since each validator records the equivocations it happened to see. So a
proposer gossips the body with its proposal: the header and the evidence list. A
receiver checks the list (`BlockBody.check`: each piece is a proven equivocation of an
earlier height, listed once, in hash order, hashing to the header's `evidence_root`)
and then rebuilds the header with that list; the block is valid only if the ids agree.

A body also carries the block's verdict leaves (report id + verdict hash, the list
`verdicts_root` commits to) when they fit (`MAX_BODY_LEAVES`): a validator whose store
judged another set of reports (one came late to it, or early) learns from them which
reports the proposer judged, fetches those it lacks, and judges the epoch again over
exactly that set (`coverage_net.node`), so validators converge on one set of inputs
rather than stall on the difference. Larger blocks travel without them; once such a
block is certified, a validator that cannot rebuild it fetches its leaves in
`BlockPart`s (with its manifest and evidence) from peers (`BlockFetcher`), judges the
epoch again over them, and appends the block either way; a validator that judged
fewer reports than a large proposal fetches its leaves in parts from the proposer
before it votes, and reconciles as it would over a body's leaves.

The body is self-certifying: its hash is the block id the signed proposal names, and
the evidence and leaves must hash to the header's roots, so whoever relays it (gossip,
sync) cannot change it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from coverage_net.messages import canonical_dumps

from ._block import VERDICT_LEAF_BYTES, Block, verdicts_root
from ._change import MAX_BLOCK_CHANGES, ApprovedChange, GenesisAt, changes_root, check_changes
from ._codec import check_bytes, decode_map
from ._errors import BlockError, EvidenceError, GenesisError
from ._evidence import Evidence, evidence_root
from ._genesis import Genesis

__all__ = ["MAX_BLOCK_EVIDENCE", "MAX_BODY_BYTES", "MAX_BODY_LEAVES", "BlockBody",
           "select_evidence"]

T = TypeVar("T")
MAX_BLOCK_EVIDENCE = 8
"""Most pieces of evidence one block includes; the rest wait for the next blocks."""
MAX_BODY_LEAVES = 3072
"""Verdict leaves a body carries at most (66 bytes each in CBOR: about 200 kB)."""
MAX_BODY_BYTES = 512 * 1024
"""A body travels as one gossip payload (py-libp2p's limit is 1 MiB): a header (< 1 kB),
at most 8 pieces of evidence (a few hundred bytes each in practice), the leaves (about
200 kB) and at most one approved change (up to about 200 kB)."""
_KEYS = frozenset({"header", "evidence", "leaves", "changes"})


@dataclass(frozen=True)
class BlockBody:
    """A block header and the evidence whose root it carries, in hash order."""

    block: Block
    evidence: tuple[Evidence, ...] = ()
    leaves: tuple[bytes, ...] | None = None
    """The block's verdict leaves, in order; None when the block has more than
    `MAX_BODY_LEAVES` (or the proposer left them out)."""
    changes: tuple[ApprovedChange, ...] = ()
    """The validator-set and parameter changes the block includes, in hash order."""

    @property
    def block_id(self) -> bytes:
        return self.block.block_id()

    def to_cbor(self) -> bytes:
        return canonical_dumps({"header": self.block.to_cbor(),
                                "evidence": [e.to_cbor() for e in self.evidence],
                                "leaves": None if self.leaves is None else list(self.leaves),
                                "changes": [c.to_cbor() for c in self.changes]})

    @classmethod
    def from_cbor(cls, data: bytes) -> BlockBody:
        """Parse a body (not check it: `check`); BlockError says what is wrong."""
        body = decode_map(data, what="block body", keys=_KEYS, max_bytes=MAX_BODY_BYTES,
                          max_depth=2, error=BlockError)
        if not isinstance(body["header"], bytes):
            raise BlockError("block body: header must be the header's CBOR bytes")
        evidence = _decoded(body["evidence"], "evidence", MAX_BLOCK_EVIDENCE,
                            Evidence.from_cbor, EvidenceError)
        changes = _decoded(body["changes"], "changes", MAX_BLOCK_CHANGES,
                           ApprovedChange.from_cbor, GenesisError)
        leaves = body["leaves"]
        if leaves is not None:
            if not isinstance(leaves, list) or len(leaves) > MAX_BODY_LEAVES:
                raise BlockError(f"block body: leaves must be null or an array of at most "
                                 f"{MAX_BODY_LEAVES} verdict leaves")
            leaves = tuple(check_bytes(leaf, f"block body leaf {i}", VERDICT_LEAF_BYTES,
                                       BlockError) for i, leaf in enumerate(leaves))
        return cls(Block.from_cbor(body["header"]), evidence, leaves, changes)

    def check(self, genesis: Genesis, *, included: Iterable[bytes] = (),
              genesis_at: GenesisAt | None = None,
              changes_included: Iterable[bytes] = ()) -> BlockBody:
        """Self if its evidence and changes are a block's to include; else BlockError
        saying why.

        `included`: hashes of evidence earlier blocks of this chain already hold;
        `changes_included`: hashes of the changes they hold; `genesis_at`: the validators
        in office at a height (the chain's; `genesis` alone when the set never changed)."""
        at = genesis_at or (lambda _height: genesis)
        check_changes(self.changes, genesis, at(self.block.height), self.block.height,
                      included=changes_included)
        if changes_root(self.changes) != self.block.changes_root:
            raise BlockError(f"block {self.block.height}: its changes do not hash to the "
                             "header's changes_root")
        hashes = [e.hash() for e in self.evidence]
        if hashes != sorted(set(hashes)):
            raise BlockError(f"block {self.block.height}: its evidence is not listed once each "
                             "in hash order")
        already = set(hashes) & set(included)
        if already:
            raise BlockError(f"block {self.block.height}: evidence "
                             f"{sorted(already)[0].hex()[:16]} is in an earlier block")
        for e in self.evidence:
            if e.height >= self.block.height:
                raise BlockError(f"block {self.block.height}: evidence of height {e.height}; "
                                 "a block includes only evidence of earlier heights")
            try:
                e.check(at(e.height))
            except EvidenceError as exc:
                raise BlockError(f"block {self.block.height}: {exc}") from None
        if evidence_root(self.evidence) != self.block.evidence_root:
            raise BlockError(f"block {self.block.height}: its evidence does not hash to the "
                             "header's evidence_root")
        if self.leaves is not None:
            ids = [leaf[:32] for leaf in self.leaves]
            if len(self.leaves) != self.block.verdict_count or ids != sorted(set(ids)):
                raise BlockError(f"block {self.block.height}: its leaves are not "
                                 f"{self.block.verdict_count} verdicts in report-id order")
            if verdicts_root(self.leaves) != self.block.verdicts_root:
                raise BlockError(f"block {self.block.height}: its leaves do not hash to the "
                                 "header's verdicts_root")
        return self


def _decoded(items: object, key: str, most: int, parse: Callable[[bytes], T],
             error: type[Exception]) -> tuple[T, ...]:
    """A body's list of encoded records, each parsed; BlockError naming `key` otherwise."""
    if not isinstance(items, list) or len(items) > most:
        raise BlockError(f"block body: {key} must be an array of at most {most} encoded "
                         "records")
    try:
        return tuple(parse(item) for item in items)
    except error as exc:
        raise BlockError(f"block body: {exc}") from None


def select_evidence(pending: Sequence[Evidence], height: int, *,
                    included: Iterable[bytes] = ()) -> tuple[Evidence, ...]:
    """What a proposer of `height` includes: the oldest pending evidence of earlier heights
    not in the chain yet, at most `MAX_BLOCK_EVIDENCE`, within `MAX_BODY_BYTES`, in hash
    order (the order `evidence_root` and `BlockBody.check` use)."""
    done = set(included)
    chosen: list[Evidence] = []
    size = 1024  # the header and the map around the list
    for e in sorted(pending, key=lambda e: (e.height, e.round, e.hash())):
        if e.height >= height or e.hash() in done:
            continue
        size += len(e.to_cbor()) + 8
        if len(chosen) == MAX_BLOCK_EVIDENCE or size > MAX_BODY_BYTES:
            break
        chosen.append(e)
    return tuple(sorted(chosen, key=Evidence.hash))
