"""Judge an epoch again over the reports a proposed block names: how validators converge.

Each validator judges an epoch from what its store holds when the epoch closes, after
fetching from the other validators (`EpochCloser`). That narrows the differences but
cannot remove them: a report that reaches one validator just after another fetched
from it is in one store and not the other, and the two build different blocks. Left
alone, two such validators refuse each other's blocks, and with two of four the chain
stops.

So a proposal carries its verdict leaves (`BlockBody.leaves`: which reports the proposer
judged, and how). A validator whose own leaves name fewer reports (`ChainApp` asks
only for a strict superset of its own: a proposer may not leave reports out) asks the
`EpochReconciler`: fetch the epoch from the peers again (the reports it lacks), then
judge the epoch again, from the history it judged it with, over exactly the reports the
leaves name. If that gives the proposer's leaves,
the verdicts are stored in place of its own (`replace_epoch_verdicts`), the epochs after
start from the new history, and the block is rebuilt and accepted; if not, the two
really judge a report differently (a forged or inflated proposal, or a different
model), its own verdicts stay and the block is refused, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import trio

from coverage_net.consensus import verdict_leaves
from coverage_net.p2p import SyncService
from coverage_net.poc import NetworkParams, PathPredictor, verify_epoch
from coverage_net.store import MessageStore

from ._epoch_verifier import EpochCloser, fetch_epoch_reports, load_stored_epoch
from ._verdicts import verdict_row

__all__ = ["EpochReconciler"]

logger = logging.getLogger(__name__)


class EpochReconciler:
    """Judges a closed epoch again over a block's report set (see the module doc)."""

    def __init__(self, store: MessageStore, params: NetworkParams, predictor: PathPredictor,
                 closer: EpochCloser, *, sync: SyncService, peers: Callable[[], Iterable[str]],
                 entropy_for: Callable[[int], bytes], genesis_ms: int,
                 fetch_timeout_s: float = 5.0) -> None:
        self.store, self.params, self.predictor, self.closer = store, params, predictor, closer
        self.sync, self.peers, self.entropy_for = sync, peers, entropy_for
        self.genesis_ms, self.fetch_timeout_s = genesis_ms, fetch_timeout_s
        self.adopted = 0
        """Epochs judged again and adopted."""
        self.refused = 0
        """Epochs whose block's verdicts this validator could not reproduce."""
        self._one_at_a_time = trio.Lock()

    async def reconcile(self, epoch: int, leaves: tuple[bytes, ...]) -> bool:
        """True if judging `epoch` over the reports `leaves` name gives `leaves` (then its
        verdicts and the next epoch's history are this validator's); False otherwise,
        with the reason logged and nothing changed. One at a time: a proposal's leaves and
        a fetched certified block's may ask for the same epoch at once."""
        async with self._one_at_a_time:
            return await self._reconcile(epoch, leaves)

    async def _reconcile(self, epoch: int, leaves: tuple[bytes, ...]) -> bool:
        before = self.closer.history_before.get(epoch)
        if before is None or epoch != self.closer.next_epoch - 1:
            logger.warning("epoch %d cannot be judged again here (the last closed is %d)",
                           epoch, self.closer.next_epoch - 1)
            self.refused += 1
            return False
        wanted = {leaf[:32] for leaf in leaves}
        if self.store.missing(wanted):
            await fetch_epoch_reports(self.sync, self.peers(), epoch,
                                      timeout_s=self.fetch_timeout_s)
        missing = self.store.missing(wanted)
        if missing:
            logger.warning("epoch %d: %d report(s) the proposed block judged are on no peer "
                           "this validator reached (e.g. %s); it keeps its own verdicts",
                           epoch, len(missing), missing[0].hex()[:16])
            self.refused += 1
            return False
        stored = load_stored_epoch(self.store, self.params, epoch, genesis_ms=self.genesis_ms,
                                   report_ids=wanted)
        result = verify_epoch(epoch, challenges=stored.challenges,
                              beacon_reports=stored.beacon_reports,
                              witness_reports=stored.witness_reports, registry=stored.registry,
                              params=self.params, predictor=self.predictor,
                              entropy=self.entropy_for(epoch), history=before)
        if verdict_leaves(result.verdicts) != tuple(leaves):
            logger.warning("epoch %d: judged again over the proposed block's %d reports, this "
                           "validator's verdicts still differ; it keeps its own", epoch,
                           len(leaves))
            self.refused += 1
            return False
        self.store.replace_epoch_verdicts(epoch, [verdict_row(v) for v in result.verdicts])
        self.closer.adopt(epoch, result.history)
        self.adopted += 1
        logger.info("epoch %d judged again over the proposed block's %d reports: adopted",
                    epoch, len(leaves))
        return True
