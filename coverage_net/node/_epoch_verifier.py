"""The validator's epoch pipeline: the reports in its store become the epoch's verdicts.

Every validator must vote on the same verdicts, so what it judges is what its store
holds for the epoch once it has fetched from its peers what gossip did not bring
(`fetch_epoch_reports`), read back in content-id order (`load_stored_epoch`), never
in arrival order. The registry an epoch is judged against is the announcements
dated before the epoch began: those the entropy selected challengees from, and a
set that no later announcement can change when the epoch is judged again.

The link history `verify_epoch` carries from epoch to epoch is not persisted: it is
a function of the stored reports of recent epochs. Its links and its challenge
ledger hold the last W = ``hotspot_window_epochs`` epochs; but a hotspot flag is
held for W epochs after it was raised, and whether it was raised at epoch k
depended on the links of [k-W+1, k]. So the verdicts of epoch e depend on the
epochs [e-2W+2, e) before it, no earlier: `history_for_epoch` replays exactly those
from an empty history (`replay_epochs`), and a validator that restarts or joins
late computes the verdicts of the continuous ones. A replayed epoch takes only the
reports its stored verdicts name (the ones judged when it closed), so a report
that arrived after its epoch was verified does not make the replay differ. (A
challenge has no verdict of its own, so every stored one is taken: one that
arrives after its epoch closed, and is answered by no report, would still count
as unanswered in the replay. A validator joining late has no verdicts of the old
epochs and replays everything its peers hold.)

`EpochCloser` is the validator's actor: at each epoch's close plus a grace period it
fetches, verifies, saves and hands the height to consensus. Verification runs in the
trio loop (the store's SQLite connection belongs to it, and a worker thread would
let a MockClock jump while it computes), so a large epoch holds the node's other
tasks for as long as it takes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass

import trio

from coverage_net.messages import (
    ANNOUNCEMENT_PARTITION_MS,
    BeaconReport,
    Challenge,
    HotspotAnnouncement,
    WitnessReport,
)
from coverage_net.p2p import TOPIC_PREFIX, SyncError, SyncService
from coverage_net.poc import (
    EpochVerdicts,
    LinkHistory,
    NetworkParams,
    PathPredictor,
    Registry,
    verify_epoch,
)
from coverage_net.store import MessageStore

from ._verdicts import save_verdicts

__all__ = ["ClosedEpoch", "EpochCloser", "StoredEpoch", "epoch_start_ms", "fetch_epoch_reports",
           "history_for_epoch", "load_stored_epoch", "replay_epochs", "verify_stored_epoch"]

logger = logging.getLogger(__name__)

_KEPT_BEFORE = 4
"""Closed epochs whose starting history is kept (to judge one again)."""

_LAST_PARTITION = 2**63 - 1
_ANNOUNCEMENT_TOPIC = TOPIC_PREFIX + HotspotAnnouncement.TYPE
_CHALLENGE_TOPIC = TOPIC_PREFIX + Challenge.TYPE
_BEACON_TOPIC = TOPIC_PREFIX + BeaconReport.TYPE
_WITNESS_TOPIC = TOPIC_PREFIX + WitnessReport.TYPE
DEFAULT_FETCH_TIMEOUT_S = 10.0
"""How long one peer may take to answer an epoch's fetch before it is skipped."""
_FETCH_RETRY_S = 0.5


def epoch_start_ms(params: NetworkParams, epoch: int, *, genesis_ms: int) -> int:
    """When `epoch` begins (ms since the Unix epoch); epoch 0 begins at `genesis_ms`."""
    return genesis_ms + epoch * params.epoch_length_ms


def replay_epochs(params: NetworkParams) -> int:
    """How many epochs before e decide its verdicts: 2W - 2 (see the module doc)."""
    return max(0, 2 * params.verifier.hotspot_window_epochs - 2)


@dataclass(frozen=True)
class StoredEpoch:
    """One epoch's rounds as the store holds them, each kind in content-id order, and the
    registry of the hotspots announced before the epoch began."""

    epoch: int
    challenges: tuple[Challenge, ...]
    beacon_reports: tuple[BeaconReport, ...]
    witness_reports: tuple[WitnessReport, ...]
    registry: Registry


def _announcements_before(store: MessageStore, start_ms: int) -> list[HotspotAnnouncement]:
    if start_ms <= 0:
        return []
    rows = store.range(topic=_ANNOUNCEMENT_TOPIC, partition_from=0,
                       partition_to=(start_ms - 1) // ANNOUNCEMENT_PARTITION_MS)
    found = (HotspotAnnouncement.from_cbor(row.data) for row in rows)
    return [a for a in found if a.timestamp_ms < start_ms]


def load_stored_epoch(store: MessageStore, params: NetworkParams, epoch: int, *,
                      genesis_ms: int, only_judged: bool = False,
                      report_ids: Collection[bytes] | None = None) -> StoredEpoch:
    """The epoch's challenges and reports and its registry, read from `store`.

    With `report_ids`, only those beacon and witness reports are taken (the set a
    block's leaves name, when the epoch is judged again over it).

    Each stored message is decoded again (its signature checked: the file may have
    been altered since it was received). With `only_judged`, and verdicts stored for
    the epoch, only the reports those verdicts judge are taken (see the module doc).
    """
    def read(topic: str, kind: type) -> list:
        rows = sorted(store.range(topic=topic, partition_from=epoch, partition_to=epoch),
                      key=lambda row: row.content_id)
        return [kind.from_cbor(row.data) for row in rows]

    beacons: list[BeaconReport] = read(_BEACON_TOPIC, BeaconReport)
    witnesses: list[WitnessReport] = read(_WITNESS_TOPIC, WitnessReport)
    if only_judged:
        judged = {row.report_id for row in store.verdict_rows(epoch=epoch)}
        if judged:
            beacons = [b for b in beacons if b.content_id in judged]
            witnesses = [w for w in witnesses if w.content_id in judged]
    if report_ids is not None:
        wanted = frozenset(report_ids)
        beacons = [b for b in beacons if b.content_id in wanted]
        witnesses = [w for w in witnesses if w.content_id in wanted]
    start_ms = epoch_start_ms(params, epoch, genesis_ms=genesis_ms)
    return StoredEpoch(epoch, tuple(read(_CHALLENGE_TOPIC, Challenge)), tuple(beacons),
                       tuple(witnesses), Registry(_announcements_before(store, start_ms)))


def _verify(stored: StoredEpoch, params: NetworkParams, predictor: PathPredictor,
            entropy: bytes, history: LinkHistory) -> EpochVerdicts:
    return verify_epoch(stored.epoch, challenges=stored.challenges,
                        beacon_reports=stored.beacon_reports,
                        witness_reports=stored.witness_reports, registry=stored.registry,
                        params=params, predictor=predictor, entropy=entropy, history=history)


def verify_stored_epoch(store: MessageStore, params: NetworkParams, predictor: PathPredictor,
                        epoch: int, *, entropy: bytes, history: LinkHistory,
                        genesis_ms: int) -> EpochVerdicts:
    """Judge `epoch` from what `store` holds, save its verdicts (one transaction) and return
    them with the history for the next epoch. `history` is the previous epoch's (or
    `history_for_epoch`'s). The same stored messages give byte-identical verdicts on
    every validator, whatever order they arrived in."""
    result = _verify(load_stored_epoch(store, params, epoch, genesis_ms=genesis_ms),
                     params, predictor, entropy, history)
    save_verdicts(store, result.verdicts)
    logger.info("epoch %d verified", epoch, extra={
        "epoch": epoch, "verdicts": len(result.verdicts),
        "valid": sum(v.valid for v in result.verdicts)})
    return result


def history_for_epoch(store: MessageStore, params: NetworkParams, predictor: PathPredictor,
                      epoch: int, entropies: Callable[[int], bytes], *,
                      genesis_ms: int) -> LinkHistory:
    """The link history `epoch` is judged with, rebuilt from the store: the `replay_epochs`
    epochs before it replayed from an empty history (nothing saved). `entropies(k)` is
    epoch k's entropy."""
    history = LinkHistory()
    for earlier in range(max(0, epoch - replay_epochs(params)), epoch):
        stored = load_stored_epoch(store, params, earlier, genesis_ms=genesis_ms,
                                   only_judged=True)
        history = _verify(stored, params, predictor, entropies(earlier), history).history
    return history


async def fetch_epoch_reports(sync: SyncService, peers: Iterable[str], epoch: int, *,
                              timeout_s: float = DEFAULT_FETCH_TIMEOUT_S) -> int:
    """Fetch from each peer in turn the challenges and reports of `epoch` and the
    announcements (all of them: few, and one digest row per hour settles them) that
    this node lacks; how many were new.

    A peer whose round fails (a lost frame, an answer out of protocol) is tried again
    until `timeout_s` has passed for it, then logged and skipped (what it sent before
    that is kept, though not counted).
    """
    ranges = [[_ANNOUNCEMENT_TOPIC, 0, _LAST_PARTITION],
              *([topic, epoch, epoch] for topic in (_CHALLENGE_TOPIC, _BEACON_TOPIC,
                                                    _WITNESS_TOPIC))]
    fetched = 0
    for peer in sorted(set(peers)):
        with trio.move_on_after(timeout_s) as scope:
            fetched += await _fetch_from(sync, peer, ranges, epoch)
        if scope.cancelled_caught:
            logger.info("fetching epoch %d from %s: gave up after %.1f s", epoch, peer,
                        timeout_s, extra={"epoch": epoch, "peer": peer})
    return fetched


async def _fetch_from(sync: SyncService, peer: str, ranges: list[list], epoch: int) -> int:
    """One peer's round, tried again (until the caller's deadline) when it fails: a
    lost frame costs a whole round, and the vote waits on what this peer holds."""
    while True:
        try:
            return await sync.sync_ranges(peer, ranges)
        except SyncError as exc:
            logger.info("fetching epoch %d from %s failed: %s", epoch, peer, exc,
                        extra={"epoch": epoch, "peer": peer})
        await trio.sleep(_FETCH_RETRY_S)


@dataclass(frozen=True)
class ClosedEpoch:
    """What `EpochCloser` did for one epoch."""

    epoch: int
    fetched: int
    """Messages the fetch from peers brought that the store lacked."""
    result: EpochVerdicts


class EpochCloser:
    """The validator's epoch actor: each epoch, at its close plus `grace_ms`, fetch its
    reports from the peers `peers()` names, verify and save its verdicts, then send
    its height on the channel consensus starts heights from.

    The history comes from `history_for_epoch` when none is given (a restart, or a
    validator joining late) and is kept in memory while running. `entropy_for(epoch)`
    gives an epoch's entropy (the chain's ``next_entropy``); `on_closed`, if given,
    hears of every epoch closed. Epochs already closed when it starts are closed at
    once, in order.
    """

    def __init__(self, store: MessageStore, params: NetworkParams, predictor: PathPredictor, *,
                 sync: SyncService, peers: Callable[[], Iterable[str]],
                 entropy_for: Callable[[int], bytes], clock_ms: Callable[[], int],
                 genesis_ms: int, grace_ms: int, first_epoch: int = 0,
                 history: LinkHistory | None = None,
                 fetch_timeout_s: float = DEFAULT_FETCH_TIMEOUT_S,
                 on_closed: Callable[[ClosedEpoch], None] | None = None) -> None:
        if grace_ms < 0 or first_epoch < 0:
            raise ValueError(f"grace_ms and first_epoch must be >= 0; got {grace_ms}, "
                             f"{first_epoch}")
        self.store, self.params, self.predictor = store, params, predictor
        self.sync, self.peers = sync, peers
        self.entropy_for, self.clock_ms = entropy_for, clock_ms
        self.genesis_ms, self.grace_ms = genesis_ms, grace_ms
        self.fetch_timeout_s = fetch_timeout_s
        self.on_closed = on_closed
        self.next_epoch = first_epoch
        self.history = history
        self.history_before: dict[int, LinkHistory] = {}
        """Epoch -> the history it was judged with (the last few), to judge it again."""

    def close_ms(self, epoch: int) -> int:
        """When `epoch` is fetched and judged: its end plus the grace period."""
        return epoch_start_ms(self.params, epoch + 1, genesis_ms=self.genesis_ms) + self.grace_ms

    async def close(self, epoch: int) -> ClosedEpoch:
        """Fetch, verify and save `epoch` now (the next epoch after the last closed)."""
        if epoch != self.next_epoch:
            raise ValueError(f"epoch {epoch} closed out of turn; the next is {self.next_epoch}")
        if self.history is None:
            self.history = history_for_epoch(self.store, self.params, self.predictor, epoch,
                                             self.entropy_for, genesis_ms=self.genesis_ms)
        fetched = await fetch_epoch_reports(self.sync, self.peers(), epoch,
                                            timeout_s=self.fetch_timeout_s)
        result = verify_stored_epoch(self.store, self.params, self.predictor, epoch,
                                     entropy=self.entropy_for(epoch), history=self.history,
                                     genesis_ms=self.genesis_ms)
        self.history_before[epoch] = self.history
        for old in [e for e in self.history_before if e < epoch - _KEPT_BEFORE]:
            del self.history_before[old]
        self.history = result.history
        self.next_epoch = epoch + 1
        closed = ClosedEpoch(epoch, fetched, result)
        if self.on_closed is not None:
            self.on_closed(closed)
        return closed

    def adopt(self, epoch: int, history: LinkHistory) -> None:
        """`epoch` was judged again (over the reports the chain agreed on): the epochs
        after it start from `history`. Only the last closed epoch can be; later ones
        would need judging again too."""
        if epoch != self.next_epoch - 1:
            raise ValueError(f"epoch {epoch} is not the last closed ({self.next_epoch - 1})")
        self.history = history

    async def run(self, heights: trio.MemorySendChannel[int], *,
                  ready: Callable[[int], Awaitable[None]] | None = None,
                  task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Close epoch after epoch until cancelled, sending each height once its
        verdicts are saved. `ready(epoch)`, if given, is awaited before an epoch is
        closed (a validator waits for the block its entropy comes from)."""
        task_status.started()
        async with heights:
            while True:
                epoch = self.next_epoch
                wait_ms = self.close_ms(epoch) - self.clock_ms()
                if wait_ms > 0:
                    await trio.sleep(wait_ms / 1000)
                if ready is not None:
                    await ready(epoch)
                closed = await self.close(epoch)
                logger.info("epoch %d judged: %d verdicts, %d reports fetched from peers",
                            epoch, len(closed.result.verdicts), closed.fetched)
                await heights.send(epoch)
