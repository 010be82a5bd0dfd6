"""Gossip above the seam: validate, store once, then tell subscribers; publish our own.

`GossipService` is the one actor that turns network payloads into stored
messages. It runs the same over py-libp2p and over the in-memory network:

- in: the network offers each new payload once (`on_gossip`); size, decoding and
  signature are checked (`check_gossip_payload`), accepted messages are queued
  and committed to the store in batches (a burst costs few fsyncs), and each
  newly stored message is then handed to every subscriber whose types match;
- out: `publish` queues a signed message; the publish loop stores it, then
  broadcasts it, waiting while the network's outbound queues are over half full;
- sync hands what it fetched to `ingest` and it takes the same path.

It knows nothing of challenges or reports: any valid signed message is stored.
What a message means is for the subscribers (proof-of-coverage, consensus).
"""

from __future__ import annotations

import collections
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import trio

from coverage_net.messages import MESSAGE_TYPES, Message
from coverage_net.store import MessageStore, StoredMessage

from ._metrics import PeerMetrics
from ._network import Network
from ._topics import TOPICS, topic_of
from ._validate import check_gossip_payload

__all__ = ["GossipService", "Incoming"]

logger = logging.getLogger(__name__)

_INGEST_BATCH = 512
_PUBLISH_QUEUE = 256
_INGEST_LINGER_S = 0.01


@dataclass(frozen=True, slots=True)
class Incoming:
    """A checked message on its way to the store, with where it came from."""

    message: Message
    topic: str
    data: bytes
    source: str | None
    """``peer id`` (gossip), ``sync:peer id`` (sync), or None (our own)."""


class GossipService:
    """Store-once ingest, subscriptions and publishing for one node."""

    def __init__(self, network: Network, store: MessageStore, metrics: PeerMetrics, *,
                 clock_ms: Callable[[], int]) -> None:
        self._network = network
        self._store = store
        self._metrics = metrics
        self._clock_ms = clock_ms
        self._inbox: collections.deque[Incoming] = collections.deque()
        self._inbox_event = trio.Event()
        self._publish_send, self._publish_receive = \
            trio.open_memory_channel[Message](_PUBLISH_QUEUE)
        self._subscribers: list[tuple[frozenset[str], trio.MemorySendChannel[Message]]] = []
        self.last_gossip_time = -math.inf
        """trio time of the last gossip payload accepted (sync waits for a pause)."""
        self.stored_total = store.count()
        network.set_gossip_callback(self.on_gossip, TOPICS)

    # -- the public surface -------------------------------------------------------

    async def publish(self, message: Message) -> bytes:
        """Queue a signed message for store-then-gossip; waits while the queue is full."""
        message.verify()
        await self._publish_send.send(message)
        return message.content_id

    def subscribe(self, types: Iterable[str] | None = None
                  ) -> trio.MemoryReceiveChannel[Message]:
        """Each message newly stored from now on, once, after it is committed.

        ``types``: message type tags (``Challenge.TYPE``...); None for all. The
        channel is unbounded so a slow subscriber never stalls ingest; it must
        keep up on average.
        """
        wanted = frozenset(MESSAGE_TYPES if types is None else types)
        unknown = wanted - set(MESSAGE_TYPES)
        if unknown:
            raise ValueError(f"unknown message type(s) {sorted(unknown)}; "
                             f"known: {sorted(MESSAGE_TYPES)}")
        send, receive = trio.open_memory_channel[Message](math.inf)
        self._subscribers.append((wanted, send))
        return receive

    def on_gossip(self, forwarder: str, topic: str, data: bytes) -> bool:
        """The network's callback: accept (and queue) a valid payload, refuse the rest."""
        verdict = check_gossip_payload(data, topic)
        if verdict.message is None:
            self._metrics.reject(verdict.reason or "invalid")
            logger.debug("rejected gossip from %s: %s (%s)", forwarder, verdict.reason,
                         verdict.detail)
            return False
        self._metrics.accepted += 1
        self.last_gossip_time = trio.current_time()
        self._inbox.append(Incoming(verdict.message, topic, bytes(data), forwarder))
        self._inbox_event.set()
        return True

    def ingest(self, batch: list[Incoming]) -> int:
        """Store ``batch`` once (one transaction), then notify; returns how many were new."""
        if not batch:
            return 0
        received_ms = self._clock_ms()
        rows = [StoredMessage(i.message.content_id, i.topic, i.message.sync_partition,
                              i.message.TYPE, i.data, received_ms, i.source) for i in batch]
        new_ids = set(self._store.put_many(rows))
        new_count = len(new_ids)
        self._metrics.stored += new_count
        self._metrics.duplicates += len(rows) - new_count
        self.stored_total += new_count
        for item in batch:
            if item.message.content_id in new_ids:
                new_ids.discard(item.message.content_id)  # once, even if twice in a batch
                self._notify(item.message)
        return new_count

    # -- the actors -----------------------------------------------------------------

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._ingest_loop)
            nursery.start_soon(self._publish_loop)

    async def _ingest_loop(self) -> None:
        while True:
            await self._inbox_event.wait()
            # Linger a moment so a burst is committed (and fsynced) in few transactions.
            await trio.sleep(_INGEST_LINGER_S)
            self._inbox_event = trio.Event()
            while self._inbox:
                count = min(len(self._inbox), _INGEST_BATCH)
                self.ingest([self._inbox.popleft() for _ in range(count)])
                await trio.lowlevel.checkpoint()

    async def _publish_loop(self) -> None:
        network = self._network
        while True:
            batch = [await self._publish_receive.receive()]
            while len(batch) < _PUBLISH_QUEUE:
                try:
                    batch.append(self._publish_receive.receive_nowait())
                except trio.WouldBlock:
                    break
            items = [Incoming(m, topic_of(m), m.to_cbor(), None) for m in batch]
            self.ingest(items)
            for item in items:
                while network.outbound_backlog() >= network.outbound_capacity:
                    await trio.sleep(0.005)  # backpressure: let the queues drain
                await network.publish(item.topic, item.data)
                self._metrics.published += 1

    def _notify(self, message: Message) -> None:
        for types, channel in self._subscribers:
            if message.TYPE in types:
                try:
                    channel.send_nowait(message)
                except (trio.ClosedResourceError, trio.BrokenResourceError):
                    pass  # that subscriber has gone
