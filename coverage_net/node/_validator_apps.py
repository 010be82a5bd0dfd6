"""The consensus apps a validator can open over its data directory.

`chain_app_factory` opens the chain's real app, `ChainApp` over the data directory's
message store, chain, reward ledger and evidence log; `EpochHashApp`, whose blocks are
only a hash of the epoch, stands in for runs that need no chain (consensus tests and
benchmarks).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from coverage_net.consensus import (
    ChainStore,
    ConsensusApp,
    EvidenceLog,
    Genesis,
    QuorumCertificate,
)
from coverage_net.poc import NetworkParams
from coverage_net.rewards import RewardLedger
from coverage_net.store import MessageStore

from ._chain_app import ChainApp
from ._chain_changes import CHANGES_DIR, load_pending_changes

__all__ = ["AppFactory", "EpochHashApp", "chain_app_factory", "epoch_hash_app_factory"]

logger = logging.getLogger(__name__)

AppFactory = Callable[[Path, Genesis], AbstractContextManager[ConsensusApp]]
"""Opens the validator's app over its data directory for the genesis (closed on exit)."""


class EpochHashApp:
    """A stand-in chain until the real one lands: the block of height h proposed by
    validator p is ``sha256(chain id, h, p)``; a block is valid if it is one of those
    (every honest validator can recompute it). It keeps nothing."""

    def __init__(self, _data_dir: Path, genesis: Genesis) -> None:
        self.genesis = genesis
        self._certificates: dict[int, QuorumCertificate] = {}

    def block_id(self, height: int, proposer: int) -> bytes:
        return hashlib.sha256(b"%s/%d/%d" % (self.genesis.chain_id.encode(), height,
                                             proposer)).digest()

    def propose(self, height: int, round_: int) -> bytes:
        from coverage_net.consensus import proposer_of

        return self.block_id(height, proposer_of(height, round_, self.genesis.n))

    def validate(self, height: int, block_id: bytes) -> bool:
        return any(block_id == self.block_id(height, p) for p in range(self.genesis.n))

    def block_body(self, _height: int, _block_id: bytes) -> bytes | None:
        return None  # no bodies: every validator computes every block id

    def offer_body(self, _data: bytes) -> tuple[int, bytes] | None:
        return None

    def commit(self, height: int, block_id: bytes, certificate: QuorumCertificate) -> None:
        self._certificates[height] = certificate
        logger.debug("committed height %d: %s", height, block_id.hex()[:16])

    def certificate(self, height: int) -> QuorumCertificate | None:
        return self._certificates.get(height)


def epoch_hash_app_factory(data_dir: Path, genesis: Genesis
                           ) -> AbstractContextManager[ConsensusApp]:
    return nullcontext(EpochHashApp(data_dir, genesis))


def chain_app_factory(params: NetworkParams) -> AppFactory:
    """The real app: `ChainApp` over the data directory's message store, chain and ledger;
    its proposals include the approved changes in ``<data dir>/changes``."""

    @contextmanager
    def open_chain_app(data_dir: Path, genesis: Genesis) -> Iterator[ConsensusApp]:
        with MessageStore.open(data_dir) as store, ChainStore.open(data_dir, genesis) as chain, \
                RewardLedger.open(data_dir) as ledger, EvidenceLog.open(data_dir) as evidence:
            yield ChainApp(data_dir, params, genesis, store=store, chain=chain, ledger=ledger,
                           evidence_log=evidence,
                           pending_changes=lambda: load_pending_changes(data_dir / CHANGES_DIR))

    return open_chain_app
