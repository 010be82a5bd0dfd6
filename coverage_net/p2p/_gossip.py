"""py-libp2p's gossipsub, configured like the spec and made to lose nothing locally.

py-libp2p 0.8.1 drops messages under bursts in three places. Each is handled
here, in subclasses that change only those places (the version is pinned):

1. Spam protection: 10 messages/s per peer and topic, applied even to our own
   publishes, so a burst is cut to 10/s. `CoverageGossipSub` exempts our own
   publishes and applies a configurable limit (`GossipParams.relay_limit_per_s`)
   to relayed ones; refusals are counted (``dropped["spam_limit"]``).
2. The per-peer outbound queue holds 32 RPCs and drops the rest silently.
   `CoveragePubsub` gives every peer a queue of `GossipParams.outbound_queue_slots`
   and counts any drop (``dropped["outbound_queue"]``); the publisher waits for
   the queues to drain below half before each publish (`GossipService`), so the
   origin of a burst never overflows them.
3. The subscription buffer holds 32 messages and drops the rest.
   `CoveragePubsub` does not use it: every validated message goes straight to
   the node's gossip service (through the topic validator), which stores it.

Whatever is still lost in flight (a relay's queue, a cut connection) the sync
protocol (`_sync.py`) repairs.

Two more faults in py-libp2p 0.8.1 would take the whole node down or corrupt a
stream, and `CoveragePubsub` fixes both:

- An inbound RPC frame that protobuf cannot parse raises out of the stream
  reader and, through py-libp2p's service manager, ends the process: any peer
  could kill us with one bad frame. Such a frame now resets that one stream and
  is counted (``bad_rpcs``).
- yamux writes a large RPC as several frames and takes its lock per frame, while
  py-libp2p writes to a pubsub stream from more than one task (the sending loop,
  and the flush of messages queued before a peer was identified). Two big writes
  could interleave and the receiver would read garbage. Whole RPC writes to a
  stream are now serialized, and a write that fails half-way resets the stream
  rather than leaving a torn frame on it.

And one cost: py-libp2p attaches our signed peer record to every RPC, and the
receiver verifies its ed25519 signature every time, about three times per
message per peer. `CoveragePubsub.write_msg` sends the record on a stream only
until it has been sent once (and again if it changes); a receiver that got it
needs no copy, and an RPC without one is accepted by every libp2p implementation.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass

import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.pubsub.rpc_queue import RpcQueue

from ._errors import PeerConfigError
from ._metrics import PeerMetrics
from ._network import gossip_id

__all__ = ["GossipParams", "CoverageGossipSub", "CoveragePubsub", "GOSSIP_PROTOCOLS",
           "build_gossip", "flood_own_publish"]

logger = logging.getLogger(__name__)

COALESCE_LIMIT_BYTES = 64 * 1024
"""Largest RPC the sending loop builds by merging queued ones: one Noise frame, well
inside a yamux window, so a merged write rarely waits for a window update."""
_RESET_TIMEOUT_S = 1.0

GOSSIP_PROTOCOLS: tuple[TProtocol, ...] = (PROTOCOL_ID_V11, PROTOCOL_ID)
"""/meshsub/1.1.0 then /meshsub/1.0.0: what go-, rust- and js-libp2p speak."""


@dataclass(frozen=True)
class GossipParams:
    """Gossipsub settings; the defaults are the spec's (D=6, D_low=4, D_high=12, 1 s)."""

    degree: int = 6
    degree_low: int = 4
    degree_high: int = 12
    heartbeat_interval_s: int = 1
    relay_limit_per_s: float = 2000.0
    """Messages per second per (peer, topic) we relay before refusing (own publishes exempt)."""
    outbound_queue_slots: int = 4096
    """RPCs queued per peer before a drop (py-libp2p's default is 32)."""
    seen_ttl_s: int = 120

    def __post_init__(self) -> None:
        if not 1 <= self.degree_low <= self.degree <= self.degree_high:
            raise PeerConfigError(
                "gossip degrees must satisfy 1 <= D_low <= D <= D_high; got "
                f"D_low={self.degree_low}, D={self.degree}, D_high={self.degree_high}")
        for name in ("heartbeat_interval_s", "relay_limit_per_s", "outbound_queue_slots",
                     "seen_ttl_s"):
            if getattr(self, name) <= 0:
                raise PeerConfigError(f"{name} must be positive; got {getattr(self, name)}")


def flood_own_publish(router: GossipSub, peers: set[ID], topic_ids, msg_forwarder: ID,
                      origin: ID, msg_id: bytes | None, *,
                      below_degree: float = float("inf")) -> set[ID]:
    """`peers` (where gossipsub sends a message) plus, for the router's own messages,
    every peer subscribed to a topic whose mesh has fewer than `below_degree` peers
    (by default: every topic), minus the origin, the forwarder and peers that asked
    not to get this message."""
    pubsub = router.pubsub
    if pubsub is None or origin != pubsub.my_id:
        return peers
    for topic in topic_ids:
        if len(router.mesh.get(topic, ())) < below_degree:
            peers.update(pubsub.peer_topics.get(topic, ()))
    peers.discard(origin)
    peers.discard(msg_forwarder)
    if msg_id is not None:
        peers = {p for p in peers if msg_id not in router.dont_send_message_ids.get(p, ())}
    return peers


class CoverageGossipSub(GossipSub):
    """GossipSub with our own publishes exempt from the relay rate limit, drops counted."""

    def __init__(self, params: GossipParams, metrics: PeerMetrics) -> None:
        super().__init__(
            protocols=list(GOSSIP_PROTOCOLS),
            degree=params.degree, degree_low=params.degree_low,
            degree_high=params.degree_high,
            heartbeat_interval=params.heartbeat_interval_s,
            adaptive_gossip_enabled=False,
            spam_protection_enabled=True,
            max_messages_per_topic_per_second=params.relay_limit_per_s,
            # Every peer of a test network on one machine shares one IP address.
            eclipse_protection_enabled=False,
        )
        self._metrics = metrics

    def _get_peers_to_send(self, topic_ids, msg_forwarder: ID, origin: ID,
                           msg_id: bytes | None = None):
        """Where a message goes: the mesh, as gossipsub does; and our own messages also
        to every peer subscribed to a topic whose mesh is below `degree_low`.

        py-libp2p sends a publish only to the topic's mesh. Its peers PRUNE and soon
        GRAFT again at start-up; the GRAFT lands in the back-off the PRUNE set and is
        pruned in turn, so a node can be left with an empty mesh for a minute or more
        (seen in the testnet: a hotspot's reports reached no validator for three
        epochs). Gossipsub v1.1's flood publishing (on by default in go-libp2p) sends
        one's own messages to all topic peers; we do it when the mesh is short, so a
        node's own reports always leave it. Relayed messages keep to the mesh.
        """
        peers = set(super()._get_peers_to_send(topic_ids, msg_forwarder, origin, msg_id))
        return flood_own_publish(self, peers, topic_ids, msg_forwarder, origin, msg_id,
                                 below_degree=self.degree_low)

    def _check_spam_protection(self, peer_id: ID, msg: rpc_pb2.Message) -> bool:
        if self.pubsub is not None and peer_id == self.pubsub.my_id:
            return True  # our own publish: paced by the publish queue, never refused
        if super()._check_spam_protection(peer_id, msg):
            return True
        self._metrics.drop("spam_limit")
        return False

    def _handle_dropped_rpc(self, peer_id: ID, rpc: rpc_pb2.RPC, reason: str) -> None:
        self._metrics.drop("outbound_queue" if reason == "queue_full" else f"rpc_{reason}",
                           max(1, len(rpc.publish)))
        super()._handle_dropped_rpc(peer_id, rpc, reason)


class CoveragePubsub(Pubsub):
    """Pubsub with content-id message ids; validated messages go to the validator's callback.

    The message id is `gossip_id` (SHA-256 of the payload, i.e. the content id),
    not py-libp2p's sender + sequence number: a signed message republished by
    anyone (a restart, a replay, five peers at once) is one message network-wide,
    validated and forwarded once. Payloads seen again are counted (``gossip_seen``).
    Accepted messages reach the node through the topic validator (`Libp2pNetwork`),
    so py-libp2p's 32-slot subscription buffers are not used.
    """

    def __init__(self, host: IHost, router: CoverageGossipSub, params: GossipParams,
                 metrics: PeerMetrics) -> None:
        super().__init__(host, router, seen_ttl=params.seen_ttl_s, strict_signing=True,
                         msg_id_constructor=lambda msg: gossip_id(msg.data))
        self._metrics = metrics
        self._queue_slots = params.outbound_queue_slots
        self._write_locks: weakref.WeakKeyDictionary[INetStream, trio.Lock] = \
            weakref.WeakKeyDictionary()
        self._records_sent: weakref.WeakKeyDictionary[INetStream, bytes] = \
            weakref.WeakKeyDictionary()

    async def continuously_read_stream(self, stream: INetStream) -> None:
        """py-libp2p's reader, except that no peer's RPC can end the node.

        py-libp2p handles a closed or oversize stream itself; anything else raised
        while reading or handling one peer's RPCs (a frame protobuf cannot parse,
        a control message the router chokes on) resets that one inbound stream, as
        an end of stream would end it. Our own stream to that peer is left alone:
        the bad frame may have come on an extra stream while the peer's gossip
        stream is fine, and if not, the reset tells the peer to open a new one.
        """
        try:
            await super().continuously_read_stream(stream)
        except Exception as exc:  # from one peer's bytes: never the node's end
            peer_id = stream.muxed_conn.peer_id
            self._metrics.bad_rpcs += 1
            logger.warning("reset the gossip stream from %s: %s: %s", peer_id,
                           type(exc).__name__, exc)
            await _reset_quietly(stream)

    async def write_msg(self, stream: INetStream, rpc_msg: rpc_pb2.RPC) -> bool:
        """Write one whole RPC; writers to the same stream take turns.

        A write that fails or is cancelled half-way resets the stream: the bytes
        already sent are a torn frame, and nothing written after them could be read.
        """
        lock = self._write_locks.get(stream)
        if lock is None:
            lock = self._write_locks[stream] = trio.Lock()
        async with lock:
            record = rpc_msg.senderRecord
            if record and self._records_sent.get(stream) == record:
                rpc_msg.ClearField("senderRecord")  # the peer verified it once already
            try:
                written = await super().write_msg(stream, rpc_msg)
                if written and record:
                    self._records_sent[stream] = record
                return written
            except BaseException:
                with trio.CancelScope(shield=True):
                    await _reset_quietly(stream)
                raise

    async def _handle_new_peer(self, peer_id: ID) -> None:
        await super()._handle_new_peer(peer_id)
        queue = self.peer_queues.get(peer_id)
        if queue is not None:
            # RpcQueue keeps its bound on the PriorityQueue it wraps (py-libp2p 0.8.1).
            queue._queue.max_size = self._queue_slots

    def _is_subscribed_to_msg(self, msg: rpc_pb2.Message) -> bool:
        """Whether a received message is for us: on our topics, and not seen before.

        py-libp2p's reader asks this of every message in an RPC and starts a new
        task to push each one it accepts, duplicates included, only for `push_msg`
        to drop them as seen; a copy already seen is dropped here, before the task.
        """
        if not super()._is_subscribed_to_msg(msg):
            return False
        if self._is_msg_seen(msg):
            self._metrics.gossip_seen += 1
            return False
        return True

    def notify_subscriptions(self, publish_message: rpc_pb2.Message) -> None:
        """Nothing to do: the topic validator already handed the message to the node."""

    async def handle_sending_messages(self, peer_id: ID, stream: INetStream,
                                      queue: RpcQueue) -> None:
        """Per-peer sending loop that coalesces queued RPCs into one write.

        py-libp2p writes one RPC per message; under a burst each costs a Noise
        frame, a yamux frame and window update, a syscall and, on the receiving
        side, a signed-record check. Merging what is already queued (up to
        `COALESCE_LIMIT_BYTES`) keeps the same messages and order at a fraction of that.
        """
        carry: rpc_pb2.RPC | None = None
        limit = min(queue.max_message_size, COALESCE_LIMIT_BYTES)
        try:
            while True:
                rpc = carry if carry is not None else await queue.pop()
                carry = None
                if rpc is None:
                    return  # the queue was closed: the peer is gone
                size = rpc.ByteSize()
                while len(queue):
                    nxt = await queue.pop()
                    if nxt is None:
                        break
                    if size + nxt.ByteSize() > limit:
                        carry = nxt
                        break
                    rpc.MergeFrom(nxt)
                    size = rpc.ByteSize()
                if not await self.write_msg(stream, rpc):
                    return
        except Exception:  # as py-libp2p's own loop: any failure ends the peer
            logger.debug("sending loop for %s ended", peer_id, exc_info=True)
            self._handle_dead_peer(peer_id)

    def outbound_backlog(self) -> int:
        """The fullest per-peer outbound queue, in RPCs."""
        return max((len(q) for q in self.peer_queues.values()), default=0)

    @property
    def outbound_queue_slots(self) -> int:
        return self._queue_slots


def build_gossip(host: IHost, params: GossipParams, metrics: PeerMetrics
                 ) -> tuple[CoveragePubsub, CoverageGossipSub]:
    """The router and pubsub for ``host``; run both as services (router after pubsub)."""
    router = CoverageGossipSub(params, metrics)
    pubsub = CoveragePubsub(host, router, params, metrics)
    return pubsub, router


async def _reset_quietly(stream: INetStream) -> None:
    """Reset ``stream``, ignoring a stream that is already gone."""
    with trio.move_on_after(_RESET_TIMEOUT_S):
        try:
            await stream.reset()
        except Exception as exc:  # already closed or reset: nothing left to tear down
            logger.debug("stream reset failed: %s", exc)
