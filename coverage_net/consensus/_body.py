"""`BlockBody`: a proposed block's header with the evidence it includes.

Validators vote on a block id, and an honest validator accepts a block only if it
would have built the same one. Everything in a header but the evidence it can rebuild
from its own store (verdicts, rewards, registry, entropy); the evidence it may not
hold, since each validator records the equivocations it happened to see. So a
proposer gossips the body with its proposal: the header and the evidence list. A
receiver checks the list (`BlockBody.check`: each piece is a proven equivocation of an
earlier height, listed once, in hash order, hashing to the header's `evidence_root`)
and then rebuilds the header with that list; the block is valid only if the ids agree.

The body is self-certifying: its hash is the block id the signed proposal names, so
whoever relays it (gossip, sync) cannot change it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from coverage_net.messages import canonical_dumps

from ._block import Block
from ._codec import decode_map
from ._errors import BlockError, EvidenceError
from ._evidence import Evidence, evidence_root
from ._genesis import Genesis

__all__ = ["MAX_BLOCK_EVIDENCE", "MAX_BODY_BYTES", "BlockBody", "select_evidence"]

MAX_BLOCK_EVIDENCE = 8
"""Most pieces of evidence one block includes; the rest wait for the next blocks."""
MAX_BODY_BYTES = 24 * 1024
"""A body travels as one gossip payload: a header (< 1 kB) and at most 8 pieces of
evidence, each two signed messages (a few hundred bytes each in practice)."""
_KEYS = frozenset({"header", "evidence"})


@dataclass(frozen=True)
class BlockBody:
    """A block header and the evidence whose root it carries, in hash order."""

    block: Block
    evidence: tuple[Evidence, ...] = ()

    @property
    def block_id(self) -> bytes:
        return self.block.block_id()

    def to_cbor(self) -> bytes:
        return canonical_dumps({"header": self.block.to_cbor(),
                                "evidence": [e.to_cbor() for e in self.evidence]})

    @classmethod
    def from_cbor(cls, data: bytes) -> BlockBody:
        """Parse a body (not check it: `check`); BlockError says what is wrong."""
        body = decode_map(data, what="block body", keys=_KEYS, max_bytes=MAX_BODY_BYTES,
                          max_depth=2, error=BlockError)
        if not isinstance(body["header"], bytes):
            raise BlockError("block body: header must be the header's CBOR bytes")
        if not isinstance(body["evidence"], list) or \
                len(body["evidence"]) > MAX_BLOCK_EVIDENCE:
            raise BlockError(f"block body: evidence must be an array of at most "
                             f"{MAX_BLOCK_EVIDENCE} encoded pieces")
        try:
            evidence = tuple(Evidence.from_cbor(e) for e in body["evidence"])
        except EvidenceError as exc:
            raise BlockError(f"block body: {exc}") from None
        return cls(Block.from_cbor(body["header"]), evidence)

    def check(self, genesis: Genesis, *, included: Iterable[bytes] = ()) -> BlockBody:
        """Self if its evidence is a block's to include; else BlockError saying why.

        `included`: hashes of evidence earlier blocks of this chain already hold."""
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
                e.check(genesis)
            except EvidenceError as exc:
                raise BlockError(f"block {self.block.height}: {exc}") from None
        if evidence_root(self.evidence) != self.block.evidence_root:
            raise BlockError(f"block {self.block.height}: its evidence does not hash to the "
                             "header's evidence_root")
        return self


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
