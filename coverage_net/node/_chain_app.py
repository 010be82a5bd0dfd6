"""The validator's consensus app: blocks built from the node's own verdicts and rewards.

`ChainApp` is the `coverage_net.consensus.ConsensusApp` a validator runs. For height
h (= epoch h) every validator builds the block from what its store holds: the
epoch's verdicts (their Merkle root), the reward manifest `coverage_net.rewards`
computes from them (its hash), the balances after those payouts (their root), the
hotspot announcements made during the epoch, the entropy of the next epoch. Only the
proposer's index differs between the candidates, so a validator checks a proposed
block id against its own n candidates: a proposal whose verdicts or rewards differ
from its own is refused (prevote nil, reason logged).

Entropy: ``next_entropy = sha256(domain || entropy of this epoch || verdicts_root ||
manifest hash)``, the first from the genesis. No proposer chooses it; a hotspot or
validator can change it only by filing or withholding its own reports before the
epoch closes, without seeing the result (one bit per report it controls, and a
withheld report earns nothing).

A committed block is appended to the chain (`ChainStore`) with its certificate and
payouts, and its manifest is booked in the reward ledger, so balances are final with
the block.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from coverage_net.consensus import (
    EMPTY_ROOT,
    Block,
    ChainStore,
    Genesis,
    QuorumCertificate,
    merkle_root,
    proposer_of,
    state_root,
    verdicts_root,
)
from coverage_net.poc import NetworkParams
from coverage_net.rewards import RewardLedger, RewardManifest
from coverage_net.store import MessageStore

from ._rewards import compute_epoch

__all__ = ["ChainApp", "ENTROPY_DOMAIN"]

logger = logging.getLogger(__name__)

ENTROPY_DOMAIN = b"coverage-net/entropy/v1\x00"


@dataclass(frozen=True)
class _Epoch:
    """What every candidate block of one height shares."""

    verdicts_root: bytes
    verdict_count: int
    manifest: RewardManifest
    hashes: dict[str, dict[bytes, bytes]]
    registry_root: bytes
    state_root: bytes
    next_entropy: bytes


class ChainApp:
    """One validator's app over its data directory (store, chain, ledger); see the module doc."""

    def __init__(self, data_dir: Path, params: NetworkParams, genesis: Genesis, *,
                 store: MessageStore, chain: ChainStore, ledger: RewardLedger) -> None:
        self.data_dir, self.params, self.genesis = Path(data_dir), params, genesis
        self.store, self.chain, self.ledger = store, chain, ledger
        self._epochs: dict[int, _Epoch] = {}
        self.refused: list[tuple[int, bytes]] = []
        """(height, block id) of every proposal this validator found not its own."""

    # -- ConsensusApp ---------------------------------------------------------------

    def propose(self, height: int, round_: int) -> bytes:
        return self.block_for(height, proposer_of(height, round_, self.genesis.n)).block_id()

    def validate(self, height: int, block_id: bytes) -> bool:
        if height != self.chain.height() + 1:
            return False  # not the next block here (the chain is behind or ahead)
        if any(b.block_id() == block_id for b in self._candidates(height)):
            return True
        self.refused.append((height, block_id))
        logger.warning("height %d: proposed block %s is not one this validator builds from its "
                       "own verdicts and rewards (manifest %s, verdicts root %s): prevote nil",
                       height, block_id.hex()[:16],
                       self._epoch(height).manifest.sha256().hex()[:16],
                       self._epoch(height).verdicts_root.hex()[:16])
        return False

    def commit(self, height: int, block_id: bytes, certificate: QuorumCertificate) -> None:
        block = next((b for b in self._candidates(height) if b.block_id() == block_id), None)
        if block is None:  # fetching the block's header and parts from peers is not built yet
            logger.error("height %d: certified block %s is not one this validator can rebuild "
                         "from its store (its verdicts or rewards differ); the chain stops here "
                         "until the block is fetched", height, block_id.hex()[:16])
            return
        epoch = self._epoch(height)
        self.chain.append(block, certificate, {p.account: p.total for p in epoch.manifest.payouts})
        self.ledger.record(epoch.manifest, epoch.hashes)
        self._epochs.pop(height - 2, None)

    def certificate(self, height: int) -> QuorumCertificate | None:
        if 0 <= height <= self.chain.height():
            return self.chain.get(height).certificate
        return None

    # -- blocks ---------------------------------------------------------------------

    def block_for(self, height: int, proposer: int) -> Block:
        epoch = self._epoch(height)
        return Block(height=height, prev_block_id=self.chain.last_block_id(),
                     next_entropy=epoch.next_entropy, verdicts_root=epoch.verdicts_root,
                     verdict_count=epoch.verdict_count, registry_changes_root=epoch.registry_root,
                     rewards_manifest_sha256=epoch.manifest.sha256(),
                     state_root=epoch.state_root, evidence_root=EMPTY_ROOT, proposer=proposer,
                     time_ms=self._epoch_end_ms(height))

    def _candidates(self, height: int) -> list[Block]:
        """The n blocks this validator would accept for `height` (one per proposer)."""
        return [self.block_for(height, p) for p in range(self.genesis.n)]

    def _epoch_end_ms(self, height: int) -> int:
        return self.genesis.genesis_time_ms + (height + 1) * self.params.epoch_length_ms

    def _epoch(self, height: int) -> _Epoch:
        held = self._epochs.get(height)
        if held is not None:
            return held
        manifest, inputs = compute_epoch(self.store, self.params, height)
        # a leaf hashes the verdict's canonical bytes: the stored body is exactly those
        leaves = tuple(sorted(report_id + digest
                              for report_id, digest in inputs.hashes["verdict"].items()))
        balances = self.chain.balances()
        for p in manifest.payouts:
            balances[p.account] = balances.get(p.account, 0) + p.total
        start = self._epoch_end_ms(height) - self.params.epoch_length_ms
        registry = sorted(a.content_id for a in inputs.registry.announcements
                          if start <= a.timestamp_ms < self._epoch_end_ms(height))
        previous = self.genesis.first_entropy if height == 0 or self.chain.height() < 0 \
            else self.chain.get(self.chain.height()).block.next_entropy
        root = verdicts_root(leaves)
        entropy = hashlib.sha256(ENTROPY_DOMAIN + previous + root + manifest.sha256()).digest()
        epoch = _Epoch(root, len(leaves), manifest, inputs.hashes, merkle_root(registry),
                       state_root(balances), entropy)
        self._epochs[height] = epoch
        return epoch
