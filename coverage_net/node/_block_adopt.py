"""`BlockAdopter`: the actor that appends certified blocks a validator cannot rebuild.

`ChainApp.commit` is synchronous (the driver calls it as it decides) and must not stop
the chain on a block it cannot rebuild, so it hands such a block here. One request at
a time, in height order (a later block follows the earlier one): fetch it from the
other validators (`BlockFetcher`), let the epoch be judged again over the fetched
leaves (`EpochReconciler.reconcile`, when the validator runs proof-of-coverage, so
that its verdicts and the next epoch's history follow the chain), and `adopt` it (as
rebuilt if this validator now builds the same, e.g. once the block before it was
appended).
When no peer serves it whole, it asks again after `retry_s`: a certified block is
final by quorum, and some honest validator holds it.

It also fetches the leaves of a proposed block too large for its body to carry them
(`ChainApp.fetch_leaves`), hands them to the app and has the driver ask the app about
the block again (`recheck`): the app then reconciles as it does for a smaller block.

`start_block_sync` wires it into a validator: the `BlockServer` over the app on
`CONSENSUS_BLOCK_PROTOCOL`, the fetcher over the connected validators, the adopter.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable

import trio

from coverage_net.consensus import (
    Block,
    BlockFetcher,
    BlockFetchError,
    BlockServer,
    Genesis,
    QuorumCertificate,
)
from coverage_net.errors import CoverageNetError
from coverage_net.identity import peer_id_from_public_key
from coverage_net.p2p import Network

from ._chain_app import ChainApp

__all__ = ["BlockAdopter", "start_block_sync"]

logger = logging.getLogger(__name__)

Reconcile = Callable[[int, tuple[bytes, ...]], Awaitable[bool]]
"""Judge epoch h again over these leaves; True if that reproduced them (and was stored)."""


class BlockAdopter:
    """Fetches and appends the certified blocks `app` cannot rebuild (see the module doc)."""

    def __init__(self, app: ChainApp, fetcher: BlockFetcher, *,
                 reconcile: Reconcile | None = None,
                 recheck: Callable[[bytes], None] | None = None, retry_s: float = 1.0) -> None:
        self.app, self.fetcher, self.reconcile, self.retry_s = app, fetcher, reconcile, retry_s
        self.recheck = recheck
        """The driver's `recheck`: ask the app again about a proposal that waited."""
        self._send, self._receive = trio.open_memory_channel[
            tuple[int, bytes, QuorumCertificate | Block]](math.inf)

    def request(self, height: int, block_id: bytes, certificate: QuorumCertificate) -> None:
        """`ChainApp.fetch_block`: append this block once fetched (returns at once)."""
        self._send.send_nowait((height, block_id, certificate))

    def request_leaves(self, height: int, block_id: bytes, block: Block) -> None:
        """`ChainApp.fetch_leaves`: fetch a proposed block's leaves (returns at once)."""
        self._send.send_nowait((height, block_id, block))

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        task_status.started()
        async for height, block_id, certificate in self._receive:
            if isinstance(certificate, Block):
                await self._proposed(block_id, certificate)
                continue
            while self.app.chain.height() < height:
                if height != self.app.chain.height() + 1:
                    logger.error("block %d cannot be appended: the chain is at %d", height,
                                 self.app.chain.height())
                    break
                try:
                    await self._adopt(height, block_id, certificate)
                except CoverageNetError as exc:  # BlockFetchError, ChainError, LedgerError
                    logger.warning("block %d %s: %s", height, block_id.hex()[:16], exc)
                    await trio.sleep(self.retry_s)

    async def _adopt(self, height: int, block_id: bytes, certificate: QuorumCertificate
                     ) -> None:
        app = self.app
        fetched = await self.fetcher.fetch(certificate, balances=app.chain.balances(),
                                           included=app.chain.included_evidence(),
                                           changes_included=app.chain.included_changes())
        if self.reconcile is not None and await self.reconcile(height, fetched.leaves):
            app.forget_epoch(height)
        app.adopt(fetched)

    async def _proposed(self, block_id: bytes, block: Block) -> None:
        try:
            self.app.take_leaves(block_id, await self.fetcher.fetch_leaves(block))
        except BlockFetchError as exc:  # the proposal is judged on its own leaves
            logger.warning("proposed block %d %s: its leaves were not fetched: %s",
                           block.height, block_id.hex()[:16], exc)
        if self.recheck is not None:
            self.recheck(block_id)


async def start_block_sync(nursery: trio.Nursery, network: Network, genesis: Genesis,
                           app: ChainApp, *, reconcile: Reconcile | None = None,
                           recheck: Callable[[bytes], None] | None = None,
                           timeout_s: float = 5.0, retry_s: float = 1.0) -> BlockAdopter:
    """Serve this validator's blocks and adopt the certified blocks it cannot rebuild."""
    BlockServer(app).register(network)

    def peers() -> list[str]:
        """Connected validators: of the genesis, or in office at the next height."""
        office = app.genesis_at(app.chain.height() + 1)
        validators = {peer_id_from_public_key(v.public_key)
                      for v in (*genesis.validators, *office.validators)}
        return [p for p in network.connected_peers() if p in validators]

    fetcher = BlockFetcher(network, genesis, peers=peers, genesis_at=app.genesis_at,
                           timeout_s=timeout_s)
    adopter = BlockAdopter(app, fetcher, reconcile=reconcile, recheck=recheck, retry_s=retry_s)
    app.fetch_block, app.fetch_leaves = adopter.request, adopter.request_leaves
    await nursery.start(adopter.run)
    return adopter
