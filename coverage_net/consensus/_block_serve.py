"""Serving a block to a validator that cannot rebuild it: `CONSENSUS_BLOCK_PROTOCOL`.

A certified block is final by quorum, but its header only commits to what a validator
needs to append it: the reward manifest (by hash), the verdict list (by Merkle root),
the evidence and the validator-set changes (by root). A validator whose own store
judged the epoch otherwise (it was down, cut off or outvoted), or one facing a block
too large for its body to carry the leaves (over `MAX_BODY_LEAVES`), fetches these
from a peer that holds the block (`BlockFetcher`). Every answer is bounded by
`BLOCK_LIMITS`, so the request names a range: the head (header, certificate, evidence,
changes), a byte range of the manifest's canonical CBOR, or a run of at most
`PARTS_PER_REQUEST` `BlockPart`s, each provable on its own against the header.

The node says what it can serve through a `BlockSource` (the validator's `ChainApp`:
the blocks of its chain, their manifests from the reward ledger, their leaves from its
store or as kept when it adopted the block). The `BlockServer` keeps the last few
served blocks split into parts, since a fetch asks for one block many times.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from coverage_net.messages import canonical_dumps
from coverage_net.p2p import Network, ProtocolLimits, RequestHandlerError

from ._block import Block, BlockPart, block_parts, verdicts_root
from ._body import MAX_BLOCK_EVIDENCE
from ._certificate import QuorumCertificate
from ._change import MAX_BLOCK_CHANGES, ApprovedChange
from ._codec import check_bytes, check_int, decode_map
from ._errors import BlockError, CertificateError, EvidenceError, GenesisError
from ._evidence import Evidence

__all__ = ["BLOCK_LIMITS", "CONSENSUS_BLOCK_PROTOCOL", "MANIFEST_CHUNK_BYTES",
           "PARTS_PER_REQUEST", "BlockHead", "BlockRequest", "BlockServer", "BlockSource",
           "ServedBlock", "decode_head", "decode_manifest_chunk", "decode_parts"]

logger = logging.getLogger(__name__)

CONSENSUS_BLOCK_PROTOCOL = "/coverage-net/consensus-block/1.0.0"
PARTS_PER_REQUEST = 64
"""Parts in one answer: 64 x under 2.8 kB (`PART_LEAVES`) is under 180 kB."""
MANIFEST_CHUNK_BYTES = 128 * 1024
"""Bytes of a manifest in one answer (a manifest of 50,000 hotspots is a few MB)."""
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
"""The most a fetcher accepts for one manifest (the rewards' own parsing limit)."""
BLOCK_LIMITS = ProtocolLimits(max_request_bytes=256, max_response_bytes=256 * 1024)
_WHAT = ("head", "manifest", "parts")
_REQUEST_KEYS = frozenset({"height", "block_id", "what", "first", "count"})


@dataclass(frozen=True)
class BlockRequest:
    """One range of one block: its head, manifest bytes ``first ...`` or parts ``first ...``."""

    height: int
    block_id: bytes
    what: str
    first: int = 0
    count: int = 0

    def __post_init__(self) -> None:
        check_int(self.height, "block request height", 0, 2**63 - 1, BlockError)
        check_bytes(self.block_id, "block request block_id", 32, BlockError)
        if self.what not in _WHAT:
            raise BlockError(f"block request: what is {self.what!r:.40}; expected one of "
                             f"{', '.join(_WHAT)}")
        check_int(self.first, "block request first", 0, MAX_MANIFEST_BYTES, BlockError)
        most = PARTS_PER_REQUEST if self.what == "parts" else MANIFEST_CHUNK_BYTES
        check_int(self.count, f"block request count of {self.what}", 0, most, BlockError)

    def to_cbor(self) -> bytes:
        return canonical_dumps({"height": self.height, "block_id": self.block_id,
                                "what": self.what, "first": self.first, "count": self.count})

    @classmethod
    def from_cbor(cls, data: bytes) -> BlockRequest:
        """Parse a request from untrusted bytes; BlockError names what is wrong."""
        body = decode_map(data, what="block request", keys=_REQUEST_KEYS,
                          max_bytes=BLOCK_LIMITS.max_request_bytes, max_depth=1,
                          error=BlockError)
        return cls(**body)


@dataclass(frozen=True)
class ServedBlock:
    """Everything a peer needs to append a block, its verdict list split into parts."""

    block: Block
    certificate: QuorumCertificate | None
    """None for a block not final here yet (a proposal's body)."""
    evidence: tuple[Evidence, ...]
    manifest_cbor: bytes
    parts: tuple[BlockPart, ...]
    changes: tuple[ApprovedChange, ...] = ()

    @classmethod
    def of(cls, block: Block, certificate: QuorumCertificate | None,
           evidence: Sequence[Evidence], manifest_cbor: bytes, leaves: Sequence[bytes],
           changes: Sequence[ApprovedChange] = ()) -> ServedBlock:
        """BlockError if `leaves` are not the block's: never serve what the header refutes."""
        if len(leaves) != block.verdict_count or verdicts_root(leaves) != block.verdicts_root:
            raise BlockError(f"block {block.height}: the {len(leaves)} leaves at hand are not "
                             f"its {block.verdict_count} verdicts")
        return cls(block, certificate, tuple(evidence), manifest_cbor, block_parts(leaves),
                   tuple(changes))


@dataclass(frozen=True)
class BlockHead:
    """A head answer: what a block's header commits to besides its manifest and leaves."""

    block: Block
    certificate: QuorumCertificate | None
    evidence: tuple[Evidence, ...]
    changes: tuple[ApprovedChange, ...]


class BlockSource(Protocol):
    """What a node can serve: the block `block_id` of `height` (None if it holds no such)."""

    def served_block(self, height: int, block_id: bytes) -> ServedBlock | None: ...


class BlockServer:
    """Answers `CONSENSUS_BLOCK_PROTOCOL` from a `BlockSource` (see the module doc)."""

    def __init__(self, source: BlockSource, *, kept: int = 4) -> None:
        self.source, self.kept = source, kept
        self._served: OrderedDict[tuple[int, bytes], ServedBlock] = OrderedDict()

    def register(self, network: Network) -> None:
        network.register_protocol(CONSENSUS_BLOCK_PROTOCOL, self.serve, BLOCK_LIMITS)

    async def serve(self, _peer: str, payload: bytes) -> bytes:
        try:
            request = BlockRequest.from_cbor(payload)
        except BlockError as exc:
            raise RequestHandlerError(str(exc)) from None
        served = self._block(request.height, request.block_id)
        if served is None:
            raise RequestHandlerError(f"no block {request.block_id.hex()[:16]} at height "
                                      f"{request.height} here")
        if request.what == "head":
            qc = served.certificate
            return canonical_dumps({"header": served.block.to_cbor(),
                                    "certificate": b"" if qc is None else qc.to_cbor(),
                                    "evidence": [e.to_cbor() for e in served.evidence],
                                    "changes": [c.to_cbor() for c in served.changes]})
        if request.what == "manifest":
            chunk = served.manifest_cbor[request.first:request.first + request.count]
            return canonical_dumps({"size": len(served.manifest_cbor), "chunk": chunk})
        parts = served.parts[request.first:request.first + request.count]
        return canonical_dumps({"parts": [p.to_cbor() for p in parts]})

    def _block(self, height: int, block_id: bytes) -> ServedBlock | None:
        key = (height, block_id)
        served = self._served.get(key)
        if served is None:
            served = self.source.served_block(height, block_id)
            if served is None:
                return None
            self._served[key] = served
            while len(self._served) > self.kept:
                self._served.popitem(last=False)
        self._served.move_to_end(key)
        return served


def _answer(data: bytes, keys: frozenset[str], what: str) -> dict[str, object]:
    return decode_map(data, what=what, keys=keys, max_bytes=BLOCK_LIMITS.max_response_bytes,
                      max_depth=2, error=BlockError)


def decode_head(data: bytes) -> BlockHead:
    """A head answer (not checked against anything); BlockError says what is wrong."""
    body = _answer(data, frozenset({"header", "certificate", "evidence", "changes"}),
                   "block head")
    if not isinstance(body["header"], bytes) or not isinstance(body["certificate"], bytes) \
            or not isinstance(body["evidence"], list) or not isinstance(body["changes"], list) \
            or len(body["evidence"]) > MAX_BLOCK_EVIDENCE \
            or len(body["changes"]) > MAX_BLOCK_CHANGES:
        raise BlockError(f"block head: header and certificate must be bytes, evidence an "
                         f"array of at most {MAX_BLOCK_EVIDENCE}, changes one of at most "
                         f"{MAX_BLOCK_CHANGES}")
    try:
        qc = QuorumCertificate.from_cbor(body["certificate"]) if body["certificate"] else None
        evidence = tuple(Evidence.from_cbor(e) for e in body["evidence"])
        changes = tuple(ApprovedChange.from_cbor(c) for c in body["changes"])
    except (CertificateError, EvidenceError, GenesisError) as exc:
        raise BlockError(f"block head: {exc}") from None
    return BlockHead(Block.from_cbor(body["header"]), qc, evidence, changes)


def decode_manifest_chunk(data: bytes) -> tuple[int, bytes]:
    """(the manifest's whole size, this chunk) from a manifest answer."""
    body = _answer(data, frozenset({"size", "chunk"}), "block manifest answer")
    size = check_int(body["size"], "block manifest size", 0, MAX_MANIFEST_BYTES, BlockError)
    if not isinstance(body["chunk"], bytes) or len(body["chunk"]) > MANIFEST_CHUNK_BYTES:
        raise BlockError(f"block manifest answer: chunk must be at most "
                         f"{MANIFEST_CHUNK_BYTES} bytes")
    return size, body["chunk"]


def decode_parts(data: bytes) -> tuple[BlockPart, ...]:
    """The parts of a parts answer (parsed, not checked: `check_part`)."""
    body = _answer(data, frozenset({"parts"}), "block parts answer")
    parts = body["parts"]
    if not isinstance(parts, list) or len(parts) > PARTS_PER_REQUEST:
        raise BlockError(f"block parts answer: parts must be an array of at most "
                         f"{PARTS_PER_REQUEST}")
    return tuple(BlockPart.from_cbor(p) for p in parts)
