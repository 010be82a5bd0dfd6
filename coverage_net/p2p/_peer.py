"""A peer: a libp2p host, gossip, sync, discovery and the store, wired in one place.

Tasks (each with one concern): the `Connector` (bootstrap, mDNS, blocklist), the
ingest loop (validated gossip -> store, in batches), the publish loop (own
messages -> store -> gossip, with backpressure), the sync loop (repair what gossip
missed), and the status writer (``peer.json`` in the data directory: addresses,
connections, counters; what operators and tests read).
"""

from __future__ import annotations

import collections
import json
import logging
import math
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import multiaddr
import trio
from libp2p import create_yamux_muxer_option, new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as create_x25519_key_pair
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.tools.anyio_service import background_trio_service

from coverage_net.identity import Keypair
from coverage_net.messages import BeaconReport, Challenge, Message, WitnessReport
from coverage_net.store import MessageStore, StoredMessage

from ._discovery import Connector, parse_bootstrap, read_blocklist
from ._errors import PeerConfigError, SyncError
from ._gossip import CoveragePubsub, GossipParams, build_gossip
from ._metrics import PeerMetrics
from ._reqresp import PING_LIMITS, PING_PROTOCOL, Libp2pRequests, ping_handler
from ._sync import Fetched, SyncService
from ._topics import TOPICS, epoch_of, topic_of
from ._validate import check_gossip_payload

__all__ = ["Peer", "PeerConfig", "STATUS_FILENAME", "wall_clock_ms"]

logger = logging.getLogger(__name__)

STATUS_FILENAME = "peer.json"
_INGEST_BATCH = 512
_PUBLISH_QUEUE = 256
_STASH_LIMIT = 20_000
_INGEST_LINGER_S = 0.02
_GOSSIP_QUIET_S = 1.0  # periodic sync waits for gossip to pause this long...
_SYNC_AT_LEAST_S = 10.0  # ...but never longer than this between rounds
_NEW_PEER_SYNC_ATTEMPTS = 5
_NEW_PEER_SYNC_RETRY_S = 0.3


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class PeerConfig:
    """Everything a peer needs; `Peer` checks it before opening anything."""

    keypair: Keypair
    data_dir: Path
    listen_addrs: Sequence[str] = ("/ip4/127.0.0.1/tcp/0",)
    bootstrap: Sequence[str] = ()
    mdns: bool = False
    gossip: GossipParams = field(default_factory=GossipParams)
    sync_interval_s: float = 1.0
    status_interval_s: float = 0.5
    blocklist_file: Path | None = None
    clock_ms: Callable[[], int] = wall_clock_ms

    def __post_init__(self) -> None:
        for addr in self.listen_addrs:
            try:
                maddr = multiaddr.Multiaddr(addr)
                protocols = [p.name for p in maddr.protocols()]
            except Exception as exc:  # multiaddr raises several private error types
                raise PeerConfigError(f"bad listen address {addr!r}: {exc}") from None
            if protocols[:1] not in (["ip4"], ["ip6"]) or "tcp" not in protocols:
                raise PeerConfigError(
                    f"bad listen address {addr!r}: expected /ip4/HOST/tcp/PORT")
        for addr in self.bootstrap:
            parse_bootstrap(addr)
        if self.sync_interval_s <= 0 or self.status_interval_s <= 0:
            raise PeerConfigError("sync_interval_s and status_interval_s must be positive")


class Peer:
    """Run with ``await peer.run()`` (or ``nursery.start(peer.run)``); publish with `publish`."""

    def __init__(self, config: PeerConfig) -> None:
        self.config = config
        self.metrics = PeerMetrics()
        self.peer_id = config.keypair.peer_id
        self._store: MessageStore | None = None
        self._inbox: collections.deque[tuple[ID, rpc_pb2.Message]] = collections.deque()
        self._inbox_event = trio.Event()
        self._stash: collections.OrderedDict[bytes, Message] = collections.OrderedDict()
        self._waiting: dict[bytes, list[bytes]] = {}  # challenge id -> deferred report ids
        self._publish_send, self._publish_receive = \
            trio.open_memory_channel[Message](_PUBLISH_QUEUE)
        self._addrs: list[str] = []
        self._connector: Connector | None = None
        self._pubsub: CoveragePubsub | None = None
        self._last_gossip = -math.inf
        self._stored_total = 0
        self._last_sync_try: dict[ID, float] = {}
        self._libp2p_id: ID | None = None

    # -- public -------------------------------------------------------------------

    @property
    def store(self) -> MessageStore:
        if self._store is None:
            raise RuntimeError("the peer is not running")
        return self._store

    @property
    def addrs(self) -> list[str]:
        """Our listen addresses with /p2p/<id>, once running (what others bootstrap from)."""
        return list(self._addrs)

    async def publish(self, message: Message) -> bytes:
        """Queue a signed message for store-then-gossip; waits while the queue is full."""
        message.verify()
        await self._publish_send.send(message)
        return message.content_id

    def set_blocklist(self, peer_ids: Sequence[str]) -> None:
        if self._connector is None:
            raise RuntimeError("the peer is not running")
        self._connector.set_blocklist(peer_ids)

    def topic_peers(self, topic: str) -> list[str]:
        """Peers known to subscribe to ``topic`` (those gossip can reach directly)."""
        if self._pubsub is None:
            return []
        return sorted(p.to_base58() for p in self._pubsub.peer_topics.get(topic, ()))

    def connected_peers(self) -> list[str]:
        return [] if self._connector is None else \
            [p.to_base58() for p in self._connector.connected_peers()]

    async def run(self, *, task_status: trio.TaskStatus[Peer] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        cfg = self.config
        for addr in cfg.listen_addrs:
            _check_can_listen(addr)
        libp2p_key = create_new_key_pair(cfg.keypair.seed())
        self._libp2p_id = ID.from_pubkey(libp2p_key.public_key)
        noise = NoiseTransport(libp2p_key,
                               noise_privkey=create_x25519_key_pair().private_key)
        listen = [multiaddr.Multiaddr(a) for a in cfg.listen_addrs]
        host = new_host(key_pair=libp2p_key, sec_opt={NOISE_PROTOCOL_ID: noise},
                        muxer_opt=create_yamux_muxer_option(), listen_addrs=listen,
                        enable_mDNS=cfg.mdns)
        pubsub, router = build_gossip(host, cfg.gossip, self.metrics, self._deliver)
        self._pubsub = pubsub
        unroute_mdns: Callable[[], None] | None = None
        with MessageStore.open(cfg.data_dir) as store:
            self._store = store
            self._stored_total = store.count()
            try:
                async with host.run(listen), background_trio_service(pubsub), \
                        background_trio_service(router), trio.open_nursery() as nursery:
                    await pubsub.wait_until_ready()
                    # The Connector owns outbound dialing (bootstrap, mDNS, blocklist);
                    # py-libp2p's auto-connector would redial blocked peers from the
                    # peerstore, across a partition.
                    await host.get_network().auto_connector.stop()
                    for topic in TOPICS:
                        pubsub.set_topic_validator(topic, self._validate, False)
                        await pubsub.subscribe(topic)
                    self._addrs = [f"{a}" if "/p2p/" in str(a) else f"{a}/p2p/{self.peer_id}"
                                   for a in host.get_addrs()]
                    connector = Connector(host, [parse_bootstrap(a) for a in cfg.bootstrap])
                    self._connector = connector
                    sync = SyncService(host, store, self.metrics,
                                       allowed=lambda p: not connector.is_blocked(p))
                    requests = Libp2pRequests(host, self.metrics,
                                              allowed=lambda p: p not in connector.blocked)
                    requests.register_protocol(PING_PROTOCOL, ping_handler, PING_LIMITS)
                    if cfg.mdns:
                        unroute_mdns = _route_mdns_to(connector)
                    nursery.start_soon(connector.run)
                    nursery.start_soon(self._ingest_loop)
                    nursery.start_soon(self._publish_loop, pubsub)
                    nursery.start_soon(self._sync_loop, sync, connector)
                    nursery.start_soon(self._status_loop)
                    if cfg.blocklist_file is not None:
                        nursery.start_soon(self._watch_blocklist, cfg.blocklist_file, connector)
                    logger.info("peer %s listening on %s", self.peer_id, " ".join(self._addrs))
                    self._write_status()
                    task_status.started(self)
            finally:
                if unroute_mdns is not None:
                    unroute_mdns()
                self._store = None
                self._pubsub = None
                self._connector = None

    # -- gossip in ----------------------------------------------------------------

    def _validate(self, forwarder: ID, msg: rpc_pb2.Message) -> bool:
        if forwarder == self._libp2p_id:
            return True  # our own publish: `publish` verified it, the store holds it
        if self._connector is not None and self._connector.is_blocked(forwarder):
            self.metrics.reject("blocked_peer")  # its connection is being closed
            return False
        if len(msg.topicIDs) != 1:
            self.metrics.reject("bad_topics")
            return False
        verdict = check_gossip_payload(msg.data, msg.topicIDs[0])
        if not verdict.ok:
            self.metrics.reject(verdict.reason or "invalid")
            logger.debug("rejected gossip from %s: %s (%s)", forwarder, verdict.reason,
                         verdict.detail)
            return False
        self.metrics.accepted += 1
        self._stash[msg.from_id + msg.seqno] = verdict.message
        while len(self._stash) > _STASH_LIMIT:
            self._stash.popitem(last=False)
        return True

    def _deliver(self, forwarder: ID, msg: rpc_pb2.Message) -> None:
        if forwarder == self._libp2p_id:
            return  # our own publish: stored before it was published
        self._inbox.append((forwarder, msg))
        self._inbox_event.set()

    async def _ingest_loop(self) -> None:
        while True:
            await self._inbox_event.wait()
            # Linger a moment so a burst is committed (and fsynced) in few transactions.
            await trio.sleep(_INGEST_LINGER_S)
            self._inbox_event = trio.Event()
            self._last_gossip = trio.current_time()
            while self._inbox:
                batch = []
                while self._inbox and len(batch) < _INGEST_BATCH:
                    forwarder, msg = self._inbox.popleft()
                    message = self._stash.pop(msg.from_id + msg.seqno, None)
                    if message is None:  # evicted from the stash: check again
                        verdict = check_gossip_payload(msg.data, msg.topicIDs[0])
                        if not verdict.ok:
                            continue
                        message = verdict.message
                    batch.append((message, msg.topicIDs[0], bytes(msg.data),
                                  forwarder.to_base58()))
                self._store_batch(batch)
                await trio.lowlevel.checkpoint()

    async def _ingest_fetched(self, peer: ID, fetched: list[Fetched]) -> None:
        new = self._store_batch([(f.verdict.message, f.topic, f.data, f"sync:{peer}")
                                 for f in fetched if f.verdict.message is not None])
        self.metrics.synced += new

    def _store_batch(self, batch: list[tuple[Message, str, bytes, str | None]]) -> int:
        """Store once, then act: returns how many were new."""
        if not batch:
            return 0
        store = self.store
        received_ms = self.config.clock_ms()
        rows = [StoredMessage(m.content_id, topic, epoch_of(m), m.TYPE, data, received_ms,
                              source) for m, topic, data, source in batch]
        new_ids = set(store.missing(r.content_id for r in rows))
        store.put_many(rows)
        new_count = len(new_ids)
        self.metrics.stored += new_count
        self._stored_total += new_count
        self.metrics.duplicates += len(rows) - new_count
        for message, *_ in batch:
            if message.content_id in new_ids:
                new_ids.discard(message.content_id)  # act once, even if twice in the batch
                self._act_on(message)
        return new_count

    def _act_on(self, message: Message) -> None:
        """The peer's only judgement: note reports whose challenge we have not seen yet."""
        if isinstance(message, Challenge):
            waiting = self._waiting.pop(message.content_id, [])
            self.metrics.resolved += len(waiting)
        elif isinstance(message, BeaconReport | WitnessReport):
            if message.challenge_id not in self.store:
                self._waiting.setdefault(message.challenge_id, []).append(message.content_id)
                self.metrics.deferred += 1

    # -- gossip out ---------------------------------------------------------------

    async def _publish_loop(self, pubsub: CoveragePubsub) -> None:
        half = max(1, pubsub.outbound_queue_slots // 2)
        while True:
            batch = [await self._publish_receive.receive()]
            while len(batch) < _PUBLISH_QUEUE:
                try:
                    batch.append(self._publish_receive.receive_nowait())
                except trio.WouldBlock:
                    break
            encoded = [(m, topic_of(m), m.to_cbor(), None) for m in batch]
            self._store_batch(encoded)
            for _message, topic, data, _source in encoded:
                while pubsub.outbound_backlog() >= half:  # backpressure: let queues drain
                    await trio.sleep(0.005)
                await pubsub.publish(topic, data)
                self.metrics.published += 1

    # -- sync ---------------------------------------------------------------------

    async def _sync_loop(self, sync: SyncService, connector: Connector) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._sync_new_peers, sync, connector)
            last_round = trio.current_time()
            while True:
                await trio.sleep(self.config.sync_interval_s)
                now = trio.current_time()
                # While gossip is flowing, sync would mostly fetch what gossip is about
                # to deliver anyway; wait for a pause (bounded by _SYNC_AT_LEAST_S).
                if now - self._last_gossip < _GOSSIP_QUIET_S \
                        and now - last_round < _SYNC_AT_LEAST_S:
                    continue
                peers = connector.connected_peers()
                if peers:
                    last_round = now
                    # The peer we have gone longest without trying (a peer that fails,
                    # e.g. one that does not speak sync, must not starve the others).
                    peer = min(peers, key=lambda p: self._last_sync_try.get(p, -math.inf))
                    await self._sync_once(sync, peer)

    async def _sync_new_peers(self, sync: SyncService, connector: Connector) -> None:
        async def sync_new(peer: ID) -> None:
            # A fresh connection may still be settling (both sides dialed at once, one
            # connection is being closed): retry a few times while the peer is connected.
            for _ in range(_NEW_PEER_SYNC_ATTEMPTS):
                if await self._sync_once(sync, peer):
                    return
                await trio.sleep(_NEW_PEER_SYNC_RETRY_S)
                if peer not in connector.connected_peers():
                    return

        async with trio.open_nursery() as nursery:
            async for peer in connector.new_peers:
                nursery.start_soon(sync_new, peer)

    async def _sync_once(self, sync: SyncService, peer: ID) -> bool:
        self._last_sync_try[peer] = trio.current_time()
        try:
            fetched = await sync.sync_with(peer, self._ingest_fetched)
        except SyncError as exc:
            self.metrics.sync_errors += 1
            logger.info("sync with %s failed: %s", peer, exc)
            return False
        self.metrics.sync_rounds += 1
        if fetched:
            logger.info("sync with %s fetched %d message(s)", peer, fetched)
        return True

    # -- status -------------------------------------------------------------------

    async def _status_loop(self) -> None:
        while True:
            await trio.sleep(self.config.status_interval_s)
            self._write_status()

    def _write_status(self) -> None:
        """Write ``peer.json`` atomically: what this peer is, and what it holds."""
        status = {
            "peer_id": self.peer_id, "pid": os.getpid(), "addrs": self._addrs,
            "connected": sorted(self.connected_peers()), "stored_total": self._stored_total,
            "metrics": self.metrics.snapshot(), "updated_ms": self.config.clock_ms(),
        }
        path = self.config.data_dir / STATUS_FILENAME
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(status, indent=1), encoding="utf-8")
        os.replace(tmp, path)

    async def _watch_blocklist(self, path: Path, connector: Connector) -> None:
        last: tuple[int, int] | None = None
        while True:
            try:
                st = path.stat()
                stamp = (st.st_mtime_ns, st.st_size)
            except FileNotFoundError:
                stamp = (0, 0)
            if stamp != last:
                last = stamp
                connector.set_blocklist(read_blocklist(path))
            await trio.sleep(0.2)


def _route_mdns_to(connector: Connector) -> Callable[[], None]:
    """Have py-libp2p's mDNS listener (a zeroconf thread) hand found peers to ``connector``.

    Returns the function that undoes it (the registry is a module-level singleton).
    """
    from libp2p.discovery.events.peerDiscovery import peerDiscovery

    token = trio.lowlevel.current_trio_token()

    def found(info) -> None:
        try:
            trio.from_thread.run_sync(connector.peer_found, info, trio_token=token)
        except trio.RunFinishedError:
            pass

    peerDiscovery.register_peer_discovered_handler(found)
    return lambda: peerDiscovery.unregister_peer_discovered_handler(found)


def _check_can_listen(addr: str) -> None:
    """PeerConfigError now if a listen address cannot be bound (py-libp2p only logs it)."""
    maddr = multiaddr.Multiaddr(addr)
    ip = maddr.protocols()[0].name  # ip4 or ip6, as PeerConfig checked
    family = socket.AF_INET6 if ip == "ip6" else socket.AF_INET
    host = maddr.value_for_protocol(ip)
    port = int(maddr.value_for_protocol("tcp"))
    if port == 0:
        return
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PeerConfigError(f"cannot listen on {addr}: {exc.strerror}") from None
