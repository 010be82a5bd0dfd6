"""The validator's consensus app: blocks built from the node's own verdicts and rewards.

`ChainApp` is the `coverage_net.consensus.ConsensusApp` a validator runs. For height
h (= epoch h) every validator builds the block from what its store holds: the
epoch's verdicts (their Merkle root), the reward manifest `coverage_net.rewards`
computes from them (its hash), the balances after those payouts (their root), the
hotspot announcements made during the epoch, the entropy of the next epoch, and the
evidence of equivocation it includes. A proposer includes the evidence its
`EvidenceLog` holds that no block has included yet (`select_evidence`), and its block
travels as a `BlockBody` (header and evidence) before the proposal. It also includes
the first approved change of the validator set or parameters its operator handed it
(`pending_changes`) that the chain does not hold yet; every validator checks the
change's approvals against the validators in office (`BlockBody.check`), and from the
change's height on the chain's `genesis_at` names the new set and parameters. A validator takes
the body's evidence if every piece checks (`BlockBody.check`), records it in its own
log, and rebuilds the header from its own store with that evidence and the
proposer's index: a proposal whose verdicts or rewards differ from its own is refused
(prevote nil, reason logged).

Entropy: ``next_entropy = sha256(domain || entropy of this epoch || verdicts_root ||
manifest hash)``, the first from the genesis. No proposer chooses it; a hotspot or
validator can change it only by filing or withholding its own reports before the
epoch closes, without seeing the result (one bit per report it controls, and a
withheld report earns nothing).

A committed block is appended to the chain (`ChainStore`) with its certificate,
payouts and evidence (marked included in the evidence log), and its manifest is booked
in the reward ledger, so balances are final with the block.

A certified block is final by quorum even when this validator cannot rebuild it (it
was down, cut off or outvoted, and its store judged the epoch otherwise): `commit`
hands it to `fetch_block` (the `BlockAdopter`), which fetches it from peers, every
part checked (`BlockFetcher`), lets the epoch be judged again over its leaves, and
calls `adopt`: the block is appended as rebuilt if it now is, else as fetched, with
the fetched manifest's payouts and the leaves kept in the chain, and a warning says
how this validator's verdicts differ. The chain never stops on a certified block.
`served_block` is what this validator serves to peers that fetch (`BlockServer`).
A proposal too large for its body to carry its leaves (over `MAX_BODY_LEAVES`) whose
block judged more reports than this validator has its leaves fetched in parts too
(`fetch_leaves`, `take_leaves`), and is then reconciled as a smaller one would be.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from coverage_net.consensus import (
    MAX_BODY_LEAVES,
    ApprovedChange,
    Block,
    BlockBody,
    BlockError,
    ChainStore,
    Evidence,
    EvidenceLog,
    FetchedBlock,
    Genesis,
    QuorumCertificate,
    ServedBlock,
    changes_root,
    check_changes,
    merkle_root,
    proposer_of,
    select_evidence,
    state_root,
    verdicts_root,
)
from coverage_net.consensus import evidence_root as evidence_root_of
from coverage_net.poc import NetworkParams
from coverage_net.rewards import LedgerError, RewardLedger, RewardManifest, differences
from coverage_net.store import MessageStore

from ._rewards import EpochRewardInputs, compute_epoch

__all__ = ["ChainApp", "ENTROPY_DOMAIN"]

logger = logging.getLogger(__name__)

ENTROPY_DOMAIN = b"coverage-net/entropy/v1\x00"


@dataclass(frozen=True)
class _Epoch:
    """What every candidate block of one height shares."""

    verdicts_root: bytes
    leaves: tuple[bytes, ...]
    manifest: RewardManifest
    hashes: dict[str, dict[bytes, bytes]]
    registry_root: bytes
    state_root: bytes
    next_entropy: bytes


class ChainApp:
    """One validator's app over its data directory (store, chain, ledger); see the module doc."""

    def __init__(self, data_dir: Path, params: NetworkParams, genesis: Genesis, *,
                 store: MessageStore, chain: ChainStore, ledger: RewardLedger,
                 evidence_log: EvidenceLog | None = None,
                 pending_changes: Callable[[], Iterable[ApprovedChange]] | None = None) -> None:
        self.data_dir, self.params, self.genesis = Path(data_dir), params, genesis
        self.store, self.chain, self.ledger = store, chain, ledger
        self.evidence_log = evidence_log
        """Where the driver records equivocations; the proposals include them."""
        self.pending_changes = pending_changes or tuple
        """The approved changes of the validator set or parameters this validator's
        operator handed it (`validator run`: the change files in its data directory); its
        proposals include those the chain does not hold yet."""
        self._epochs: dict[int, _Epoch] = {}
        self._bodies: dict[bytes, BlockBody] = {}
        """Block id -> body of every block with evidence built or received, by height."""
        self.reconcile: Callable[[int, bytes, tuple[bytes, ...]], None] | None = None
        """Set by the validator's root: asked (once per block) to judge an epoch again over
        the reports a proposed block's leaves name, then to recheck the block."""
        self._reconcile_asked: set[bytes] = set()
        self.fetch_block: Callable[[int, bytes, QuorumCertificate], None] | None = None
        """Set by the validator's root: asked to fetch and `adopt` a certified block this
        validator cannot rebuild (`BlockAdopter.request`)."""
        self.fetch_leaves: Callable[[int, bytes, Block], None] | None = None
        """Set by the validator's root: asked to fetch the leaves of a proposed block too
        large for its body to carry them, then `take_leaves` and recheck the block."""
        self._leaves_asked: set[bytes] = set()
        self._fetched_leaves: dict[bytes, tuple[bytes, ...]] = {}
        self.adopted: list[int] = []
        """Heights whose block was appended as fetched, not as rebuilt here."""
        self.refused: list[tuple[int, bytes]] = []
        """(height, block id) of every proposal this validator found not its own."""

    # -- ConsensusApp ---------------------------------------------------------------

    def propose(self, height: int, round_: int) -> bytes:
        evidence: tuple[Evidence, ...] = ()
        if self.evidence_log is not None:
            evidence = select_evidence(self.evidence_log.pending(), height,
                                       included=self.chain.included_evidence())
        changes = self._changes_to_include(height)
        block = self.block_for(height, proposer_of(height, round_, self.genesis_at(height).n),
                               evidence, changes)
        self._bodies[block.block_id()] = BlockBody(block, evidence, self._leaves(height), changes)
        return block.block_id()

    def genesis_at(self, height: int) -> Genesis:
        """The validators and parameters' digest in office at `height` (the chain's)."""
        return self.chain.genesis_at(height)

    def _changes_to_include(self, height: int) -> tuple[ApprovedChange, ...]:
        """The first pending change (by effective height, then hash) that may go into the
        block of `height` and is not in the chain yet; a change that cannot (too late,
        too few approvals) is logged and left out."""
        done = self.chain.included_changes()
        for change in sorted(self.pending_changes(),
                             key=lambda c: (c.change.effective_height, c.hash())):
            if change.hash() in done:
                continue
            try:
                check_changes((change,), self.genesis, self.genesis_at(height), height)
            except BlockError as exc:
                logger.warning("change not included: %s", exc)
                continue
            return (change,)
        return ()

    def _leaves(self, height: int) -> tuple[bytes, ...] | None:
        leaves = self._epoch(height).leaves
        return leaves if len(leaves) <= MAX_BODY_LEAVES else None

    def forget_epoch(self, height: int) -> None:
        """Drop what was computed for `height` (its verdicts in the store changed)."""
        self._epochs.pop(height, None)

    def block_body(self, height: int, block_id: bytes) -> bytes | None:
        body = self._bodies.get(block_id)
        if body is None:  # a block without evidence: every validator builds it alike
            body = next((BlockBody(b, (), self._leaves(height)) for b in self._candidates(height)
                         if b.block_id() == block_id), None)
        return None if body is None else body.to_cbor()

    def offer_body(self, data: bytes) -> tuple[int, bytes] | None:
        try:
            body = BlockBody.from_cbor(data)
            if body.block.height <= self.chain.height():
                return None  # final already
            body.check(self.genesis, included=self.chain.included_evidence(),
                       genesis_at=self.genesis_at,
                       changes_included=self.chain.included_changes())
        except BlockError as exc:
            logger.info("block body refused: %s", exc)
            return None
        self._bodies[body.block_id] = body
        if self.evidence_log is not None:
            for e in body.evidence:  # learned from the proposer: ours to include too
                self.evidence_log.record(e, self.genesis_at(e.height))
        return body.block.height, body.block_id

    def validate(self, height: int, block_id: bytes) -> bool | None:
        if height != self.chain.height() + 1:
            return False  # not the next block here (the chain is behind or ahead)
        in_office = self.genesis_at(height).params_digest
        if in_office != self.params.digest():
            logger.error("height %d runs network parameters %s (a change the chain includes); "
                         "this validator runs %s: it refuses every block until it is "
                         "restarted with those parameters", height, in_office.hex()[:16],
                         self.params.digest().hex()[:16])
            return False
        block = self._block(height, block_id)
        if block is not None:
            return True
        body = self._bodies.get(block_id)
        if body is None:
            return None  # its body (with the evidence it includes) has not arrived yet
        if self._may_fetch_leaves(height, block_id, body):
            # too many verdicts for the body to carry: its leaves come in parts first
            self._leaves_asked.add(block_id)
            self.fetch_leaves(height, block_id, body.block)
            return None
        leaves = body.leaves if body.leaves is not None else self._fetched_leaves.get(block_id)
        if self._may_reconcile(height, block_id, leaves):
            # the proposer judged more reports: judge the epoch again over its set
            self._reconcile_asked.add(block_id)
            self.reconcile(height, block_id, leaves)
            return None
        if (height, block_id) in self.refused:
            return False
        self.refused.append((height, block_id))
        logger.warning("height %d: proposed block %s is not one this validator builds from its "
                       "own verdicts and rewards (manifest %s, verdicts root %s): prevote nil",
                       height, block_id.hex()[:16],
                       self._epoch(height).manifest.sha256().hex()[:16],
                       self._epoch(height).verdicts_root.hex()[:16])
        return False

    def commit(self, height: int, block_id: bytes, certificate: QuorumCertificate) -> None:
        block = self._block(height, block_id) if height == self.chain.height() + 1 else None
        if block is not None:
            body = self._bodies.get(block_id) or BlockBody(block)
            self._append(block, certificate, body.evidence, body.changes)
        elif self.fetch_block is None:
            logger.error("height %d: certified block %s is not one this validator can rebuild "
                         "from its store (its verdicts or rewards differ) and nothing here "
                         "fetches blocks; the chain stops here", height, block_id.hex()[:16])
        else:
            logger.warning("height %d: certified block %s is not one this validator rebuilds "
                           "from its store (yet): fetching it from peers", height,
                           block_id.hex()[:16])
            self.fetch_block(height, block_id, certificate)

    def adopt(self, fetched: FetchedBlock) -> None:
        """Append a certified block fetched from peers (checked by the `BlockFetcher`): as
        rebuilt here if this validator now builds the same (its store caught up, or it
        judged the epoch again), else as fetched, with a warning naming how its own
        verdicts and rewards differ."""
        block, height = fetched.block, fetched.block.height
        self.forget_epoch(height)  # computed before the block before it was appended
        own = self.block_for(height, block.proposer, fetched.evidence, fetched.changes)
        if own.block_id() == block.block_id():
            self._append(own, fetched.certificate, fetched.evidence, fetched.changes)
            return
        epoch = self._epoch(height)
        mine = {leaf[:32]: leaf[32:] for leaf in epoch.leaves}
        theirs = {leaf[:32]: leaf[32:] for leaf in fetched.leaves}
        logger.warning(
            "height %d: appending certified block %s as fetched from peers: this validator "
            "judged epoch %d otherwise (%d report(s) only it judged, %d only the block "
            "judged, %d judged differently; %d reward figure(s) differ); its own verdicts "
            "stay in its store", height, block.block_id().hex()[:16], height,
            len(mine.keys() - theirs.keys()), len(theirs.keys() - mine.keys()),
            sum(mine[r] != theirs[r] for r in mine.keys() & theirs.keys()),
            sum(1 for _ in differences(epoch.manifest, fetched.manifest)))
        self._append(block, fetched.certificate, fetched.evidence, fetched.changes, fetched)
        self.adopted.append(height)

    def _append(self, block: Block, certificate: QuorumCertificate,
                evidence: tuple[Evidence, ...], changes: tuple[ApprovedChange, ...],
                fetched: FetchedBlock | None = None) -> None:
        """Append a block, book its manifest: this validator's own, or the fetched one
        (then the leaves are kept in the chain, to serve the block in turn)."""
        height = block.height
        if fetched is None:
            epoch = self._epoch(height)
            manifest, hashes, leaves = epoch.manifest, epoch.hashes, None
        else:
            manifest, leaves = fetched.manifest, fetched.leaves
            hashes = {"verdict": {leaf[:32]: leaf[32:] for leaf in leaves}}
        self.chain.append(block, certificate, {p.account: p.total for p in manifest.payouts},
                          evidence, changes, leaves=leaves)
        self.ledger.record(manifest, hashes)
        if self.evidence_log is not None and evidence:
            self.evidence_log.mark_included([e.hash() for e in evidence], height)
        self._epochs.pop(height - 2, None)
        self._bodies = {k: b for k, b in self._bodies.items() if b.block.height > height}
        self._reconcile_asked &= set(self._bodies)
        self._leaves_asked &= set(self._bodies)
        self._fetched_leaves = {k: v for k, v in self._fetched_leaves.items()
                                if k in self._bodies}

    def certificate(self, height: int) -> QuorumCertificate | None:
        if 0 <= height <= self.chain.height():
            return self.chain.get(height).certificate
        return None

    # -- BlockSource ----------------------------------------------------------------

    def served_block(self, height: int, block_id: bytes) -> ServedBlock | None:
        """A block of this chain for a peer that fetches it: its leaves kept when it was
        adopted, else this store's verdicts of the epoch (they built it); or a proposal
        of the next height this validator builds alike (not certified yet)."""
        try:
            if height == self.chain.height() + 1:
                block = self._block(height, block_id)
                if block is None:
                    return None
                body, epoch = self._bodies.get(block_id) or BlockBody(block), self._epoch(height)
                return ServedBlock.of(block, None, body.evidence, epoch.manifest.to_cbor(),
                                      epoch.leaves, body.changes)
            if not 0 <= height <= self.chain.height():
                return None
            stored = self.chain.get(height)
            if stored.block.block_id() != block_id:
                return None
            leaves = self.chain.leaves(height)
            if leaves is None:
                leaves = _leaves_of(compute_epoch(self.store, self.params, height)[1])
            return ServedBlock.of(stored.block, stored.certificate, stored.evidence,
                                  self.ledger.manifest(height).to_cbor(), leaves,
                                  stored.changes)
        except (BlockError, LedgerError) as exc:
            logger.warning("not serving block %d: %s", height, exc)
            return None

    # -- blocks ---------------------------------------------------------------------

    def block_for(self, height: int, proposer: int, evidence: tuple[Evidence, ...] = (),
                  changes: tuple[ApprovedChange, ...] = ()) -> Block:
        """This validator's block for `height` by `proposer`, including `evidence` and
        `changes`."""
        epoch = self._epoch(height)
        return Block(height=height, prev_block_id=self.chain.last_block_id(),
                     next_entropy=epoch.next_entropy, verdicts_root=epoch.verdicts_root,
                     verdict_count=len(epoch.leaves), registry_changes_root=epoch.registry_root,
                     rewards_manifest_sha256=epoch.manifest.sha256(),
                     state_root=epoch.state_root, evidence_root=evidence_root_of(evidence),
                     proposer=proposer,
                     time_ms=self._epoch_end_ms(height), changes_root=changes_root(changes))

    def _may_reconcile(self, height: int, block_id: bytes,
                       leaves: tuple[bytes, ...] | None) -> bool:
        """Whether to judge the epoch again over the block's reports: only a superset of
        the reports this validator judged (one that arrived late here, or not at all),
        never fewer, so a proposer cannot leave a hotspot's reports out."""
        if self.reconcile is None or leaves is None or block_id in self._reconcile_asked:
            return False
        own = {leaf[:32] for leaf in self._epoch(height).leaves}
        theirs = {leaf[:32] for leaf in leaves}
        return theirs > own

    def _may_fetch_leaves(self, height: int, block_id: bytes, body: BlockBody) -> bool:
        """Whether to fetch a proposed block's leaves in parts: its body could not carry
        them, and it judged more reports than this validator (it may reconcile)."""
        return self.fetch_leaves is not None and self.reconcile is not None \
            and body.leaves is None and block_id not in self._leaves_asked \
            and body.block.verdict_count > len(self._epoch(height).leaves)

    def take_leaves(self, block_id: bytes, leaves: tuple[bytes, ...]) -> None:
        """A proposed block's leaves, fetched in parts and checked against its header."""
        self._fetched_leaves[block_id] = leaves

    def _block(self, height: int, block_id: bytes) -> Block | None:
        """The block `block_id` if this validator builds the same: one of its candidates
        without evidence, or the received body's header rebuilt with the body's evidence."""
        body = self._bodies.get(block_id)
        if body is not None:
            if body.block.height != height:
                return None
            block = self.block_for(height, body.block.proposer, body.evidence, body.changes)
            return block if block.block_id() == block_id else None
        return next((b for b in self._candidates(height) if b.block_id() == block_id), None)

    def _candidates(self, height: int) -> list[Block]:
        """The n blocks this validator would accept for `height` (one per proposer)."""
        return [self.block_for(height, p) for p in range(self.genesis_at(height).n)]

    def _epoch_end_ms(self, height: int) -> int:
        return self.genesis.genesis_time_ms + (height + 1) * self.params.epoch_length_ms

    def _epoch(self, height: int) -> _Epoch:
        held = self._epochs.get(height)
        if held is not None:
            return held
        manifest, inputs = compute_epoch(self.store, self.params, height)
        leaves = _leaves_of(inputs)
        balances = self.chain.balances()
        for p in manifest.payouts:
            if p.total:  # an account paid nothing has no balance (as the chain stores it)
                balances[p.account] = balances.get(p.account, 0) + p.total
        start = self._epoch_end_ms(height) - self.params.epoch_length_ms
        registry = sorted(a.content_id for a in inputs.registry.announcements
                          if start <= a.timestamp_ms < self._epoch_end_ms(height))
        previous = self.genesis.first_entropy if height == 0 or self.chain.height() < 0 \
            else self.chain.get(self.chain.height()).block.next_entropy
        root = verdicts_root(leaves)
        entropy = hashlib.sha256(ENTROPY_DOMAIN + previous + root + manifest.sha256()).digest()
        epoch = _Epoch(root, leaves, manifest, inputs.hashes, merkle_root(registry),
                       state_root(balances), entropy)
        self._epochs[height] = epoch
        return epoch


def _leaves_of(inputs: EpochRewardInputs) -> tuple[bytes, ...]:
    """The epoch's verdict leaves: a leaf hashes the verdict's canonical bytes, and the
    stored body is exactly those."""
    return tuple(sorted(report_id + digest
                        for report_id, digest in inputs.hashes["verdict"].items()))
