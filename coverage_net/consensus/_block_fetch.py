"""`BlockFetcher`: a certified block, fetched from peers and checked piece by piece.

Given a quorum certificate (checked first with the validators in office at its height),
the fetcher asks peers in turn over `CONSENSUS_BLOCK_PROTOCOL` for the block's head,
its reward manifest and its verdict parts, and takes nothing it has not checked against
the header the certificate names: the header's id; the evidence and the validator-set
changes (`BlockBody.check`: each piece a proven equivocation of an earlier height, each
change approved by a quorum in office, none in the chain yet, hashing to
`evidence_root` and `changes_root`); the manifest's SHA-256
(`rewards_manifest_sha256`) and the state root it gives over the chain's balances; and
every part with `check_part` on arrival. Runs of parts are spread over the peers, so a
large block comes from several at once in turn, and a wrong answer is refused with
what was wrong (`refused`) and asked of the next peer. Trusting the certificate and
the header's roots is what lets any peer serve, honest or not.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from coverage_net.identity import peer_id_from_public_key
from coverage_net.p2p import Network, RequestError
from coverage_net.rewards import ManifestError, RewardManifest

from ._block import Block, BlockPart, assemble_parts, check_part, state_root
from ._block_serve import (
    CONSENSUS_BLOCK_PROTOCOL,
    MANIFEST_CHUNK_BYTES,
    PARTS_PER_REQUEST,
    BlockRequest,
    decode_head,
    decode_manifest_chunk,
    decode_parts,
)
from ._body import BlockBody
from ._certificate import QuorumCertificate
from ._change import ApprovedChange, GenesisAt
from ._errors import BlockError, BlockFetchError, CertificateError
from ._evidence import Evidence
from ._genesis import Genesis

__all__ = ["BlockFetcher", "FetchedBlock"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


@dataclass(frozen=True)
class FetchedBlock:
    """A certified block with everything its header commits to, all checked."""

    block: Block
    certificate: QuorumCertificate
    evidence: tuple[Evidence, ...]
    manifest: RewardManifest
    leaves: tuple[bytes, ...]
    changes: tuple[ApprovedChange, ...] = ()

    @property
    def payouts(self) -> dict[str, int]:
        """What the block pays, as the chain stores it (no zero amounts)."""
        return {p.account: p.total for p in self.manifest.payouts if p.total}


class BlockFetcher:
    """Fetches certified blocks from `peers()` (see the module doc)."""

    def __init__(self, network: Network, genesis: Genesis, *,
                 peers: Callable[[], Iterable[str]], genesis_at: GenesisAt | None = None,
                 timeout_s: float = 5.0) -> None:
        self.network, self.genesis, self.peers, self.timeout_s = (network, genesis, peers,
                                                                   timeout_s)
        self.genesis_at: GenesisAt = genesis_at or (lambda _height: genesis)
        """The validators in office at a height (the chain's `genesis_at`)."""
        self.refused: list[str] = []
        """Every answer refused, in words: the peer and what was wrong."""

    async def fetch(self, certificate: QuorumCertificate, *, balances: Mapping[str, int],
                    included: Iterable[bytes] = (),
                    changes_included: Iterable[bytes] = ()) -> FetchedBlock:
        """The block `certificate` finalizes, appended after a chain whose balances are
        `balances` and whose blocks hold the evidence hashes `included` and the change
        hashes `changes_included`; BlockFetchError naming what every peer asked got wrong
        when none served it whole."""
        try:
            qc = certificate.verify(self.genesis_at(certificate.height))
        except CertificateError as exc:
            raise BlockFetchError(f"not fetching block {certificate.height}: {exc}") from None
        peers = list(dict.fromkeys(self.peers()))
        if not peers:
            raise BlockFetchError(f"no peer to fetch block {qc.height} from")
        body, manifest = await self._from_any(
            peers, functools.partial(self._head_and_manifest, qc=qc, balances=balances,
                                     included=set(included),
                                     changes_included=set(changes_included)),
            f"block {qc.height} {qc.block_id.hex()[:16]}: its head and manifest")
        leaves = await self._leaves(peers, body.block)
        logger.info("block %d %s fetched: %d verdicts, %d payouts", qc.height,
                    qc.block_id.hex()[:16], len(leaves), len(manifest.payouts))
        return FetchedBlock(body.block, qc, body.evidence, manifest, leaves, body.changes)

    async def fetch_leaves(self, block: Block) -> tuple[bytes, ...]:
        """The verdict leaves of a proposed block (its header came in a checked body, not
        certified yet), asked of its proposer first, then of the other peers."""
        peers = list(dict.fromkeys(self.peers()))
        office = self.genesis_at(block.height)
        if block.proposer < office.n:
            proposer = peer_id_from_public_key(office.validators[block.proposer].public_key)
            peers = sorted(peers, key=lambda p: p != proposer)
        if not peers:
            raise BlockFetchError(f"no peer to fetch block {block.height}'s leaves from")
        return await self._leaves(peers, block, spread=False)

    async def _from_any(self, peers: list[str], ask: Callable[[str], Awaitable[_T]],
                        what: str) -> _T:
        """The first right answer of `peers`, in order; each wrong one refused, in words."""
        problems = []
        for peer in peers:
            try:
                return await ask(peer)
            except (BlockError, RequestError) as exc:
                reason = f"peer {peer}: {exc}"
                self.refused.append(reason)
                logger.warning("block fetch: refused %s", reason)
                problems.append(reason)
        raise BlockFetchError(f"{what}: no peer served it right: {'; '.join(problems)}")

    async def _ask(self, peer: str, request: BlockRequest) -> bytes:
        return await self.network.request(peer, CONSENSUS_BLOCK_PROTOCOL, request.to_cbor(),
                                          timeout_s=self.timeout_s)

    async def _head_and_manifest(self, peer: str, *, qc: QuorumCertificate,
                                 balances: Mapping[str, int], included: set[bytes],
                                 changes_included: set[bytes]
                                 ) -> tuple[BlockBody, RewardManifest]:
        head = decode_head(await self._ask(peer, BlockRequest(qc.height, qc.block_id, "head")))
        block = head.block
        if block.height != qc.height or block.block_id() != qc.block_id:
            raise BlockError(f"its header is block {block.block_id().hex()[:16]} of height "
                             f"{block.height}, not the certified {qc.block_id.hex()[:16]} of "
                             f"height {qc.height}")
        body = BlockBody(block, head.evidence, None, head.changes).check(
            self.genesis, included=included, genesis_at=self.genesis_at,
            changes_included=changes_included)
        return body, await self._manifest(peer, block, balances)

    async def _manifest(self, peer: str, block: Block, balances: Mapping[str, int]
                        ) -> RewardManifest:
        data, size = b"", None
        while size is None or len(data) < size:
            size_now, chunk = decode_manifest_chunk(await self._ask(
                peer, BlockRequest(block.height, block.block_id(), "manifest", len(data),
                                   MANIFEST_CHUNK_BYTES)))
            if size not in (None, size_now) or not chunk and len(data) < size_now:
                raise BlockError(f"block {block.height}'s manifest: the answers disagree on "
                                 "its size or stop short of it")
            size, data = size_now, data + chunk
        if len(data) != size or hashlib.sha256(data).digest() != block.rewards_manifest_sha256:
            raise BlockError(f"block {block.height}'s manifest: its sha256 "
                             f"{hashlib.sha256(data).hexdigest()[:16]} is not the header's "
                             f"rewards_manifest_sha256 {block.rewards_manifest_sha256.hex()[:16]}")
        try:
            manifest = RewardManifest.from_cbor(data)
        except ManifestError as exc:
            raise BlockError(f"block {block.height}'s manifest: {exc}") from None
        after = dict(balances)
        for p in manifest.payouts:
            if p.total:
                after[p.account] = after.get(p.account, 0) + p.total
        if state_root(after) != block.state_root:
            raise BlockError(f"block {block.height}: the chain's balances plus its manifest's "
                             "payouts do not give the header's state_root")
        return manifest

    async def _leaves(self, peers: list[str], block: Block, *, spread: bool = True
                      ) -> tuple[bytes, ...]:
        """Every part, runs of `PARTS_PER_REQUEST` asked of the peers in turn (`spread`),
        or of the first that serves each run right."""
        count = block.part_count()
        parts: list[BlockPart] = []
        for run, first in enumerate(range(0, count, PARTS_PER_REQUEST)):
            wanted = min(PARTS_PER_REQUEST, count - first)
            turn = run % len(peers) if spread else 0
            parts += await self._from_any(
                peers[turn:] + peers[:turn],
                functools.partial(self._parts, block=block, first=first, wanted=wanted),
                f"block {block.height}: parts {first} to {first + wanted - 1}")
        return assemble_parts(parts, block)

    async def _parts(self, peer: str, *, block: Block, first: int, wanted: int
                     ) -> list[BlockPart]:
        parts = decode_parts(await self._ask(
            peer, BlockRequest(block.height, block.block_id(), "parts", first, wanted)))
        if [p.index for p in parts] != list(range(first, first + wanted)):
            raise BlockError(f"asked for block parts {first} to {first + wanted - 1}, got "
                             f"{[p.index for p in parts][:4]}...")
        for part in parts:
            check_part(part, block)
        return list(parts)

