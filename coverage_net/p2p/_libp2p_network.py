"""The network seam on py-libp2p: a host (TCP, Noise, yamux), gossipsub, requests, discovery.

`open_libp2p_network` builds and runs everything py-libp2p-specific and yields a
`Libp2pNetwork`, the `Network` the node's actors use. Nothing above this module
imports py-libp2p.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager

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

from ._discovery import Connector, parse_bootstrap
from ._errors import PeerConfigError
from ._gossip import CoveragePubsub, GossipParams, build_gossip
from ._metrics import PeerMetrics
from ._network import GossipCallback, Network, ProtocolLimits, RequestHandler
from ._reidentify import reidentify_peers
from ._reqresp import Libp2pRequests

__all__ = ["Libp2pNetwork", "open_libp2p_network", "check_listen_addr", "parse_listen_addr"]

logger = logging.getLogger(__name__)


class Libp2pNetwork(Network):
    """A running py-libp2p host seen through the `Network` seam."""

    def __init__(self, host, pubsub: CoveragePubsub, connector: Connector,
                 requests: Libp2pRequests, metrics: PeerMetrics,
                 nursery: trio.Nursery) -> None:
        super().__init__(host.get_id().to_base58())
        self._host = host
        self._pubsub = pubsub
        self._connector = connector
        self._requests = requests
        self._metrics = metrics
        self._nursery = nursery
        self._libp2p_id: ID = host.get_id()
        self._addrs: list[str] | None = None
        nursery.start_soon(self._relay_new_peers)

    async def _relay_new_peers(self) -> None:
        async for peer in self._connector.new_peers:
            self._announce_peer(peer.to_base58())

    # -- gossip -------------------------------------------------------------------

    def set_gossip_callback(self, callback: GossipCallback, topics: Iterable[str]) -> None:
        validator = self._validator(callback)
        topics = list(topics)
        for topic in topics:
            self._pubsub.set_topic_validator(topic, validator, False)

        async def subscribe() -> None:
            for topic in topics:
                await self._pubsub.subscribe(topic)
        self._nursery.start_soon(subscribe)

    def _validator(self, callback: GossipCallback) -> Callable[[ID, rpc_pb2.Message], bool]:
        def validate(forwarder: ID, msg: rpc_pb2.Message) -> bool:
            if forwarder == self._libp2p_id:
                return True  # our own publish: checked and stored before it was sent
            if self._connector.is_blocked(forwarder):
                self._metrics.reject("blocked_peer")  # its connection is being closed
                return False
            if len(msg.topicIDs) != 1:
                self._metrics.reject("bad_topics")
                return False
            return callback(forwarder.to_base58(), msg.topicIDs[0], msg.data)
        return validate

    async def publish(self, topic: str, data: bytes) -> None:
        await self._pubsub.publish(topic, data)

    def outbound_backlog(self) -> int:
        return self._pubsub.outbound_backlog()

    @property
    def outbound_capacity(self) -> int:
        return max(1, self._pubsub.outbound_queue_slots // 2)

    def topic_peers(self, topic: str) -> list[str]:
        return sorted(p.to_base58() for p in self._pubsub.peer_topics.get(topic, ()))

    # -- requests -----------------------------------------------------------------

    def register_protocol(self, protocol_id: str, handler: RequestHandler,
                          limits: ProtocolLimits) -> None:
        self._requests.register_protocol(protocol_id, handler, limits)

    async def request(self, peer_id: str, protocol_id: str, payload: bytes, *,
                      timeout_s: float) -> bytes:
        return await self._requests.request(peer_id, protocol_id, payload,
                                            timeout_s=timeout_s)

    def supports(self, peer_id: str, protocol_id: str) -> bool:
        return protocol_id in self._requests.protocols_of(peer_id)

    # -- peers --------------------------------------------------------------------

    def connected_peers(self) -> list[str]:
        return sorted(p.to_base58() for p in self._connector.connected_peers())

    def set_blocklist(self, peer_ids: Iterable[str]) -> None:
        self._connector.set_blocklist(peer_ids)

    def is_blocked(self, peer_id: str) -> bool:
        return peer_id in self._connector.blocked

    def listen_addrs(self) -> list[str]:
        if self._addrs is None:  # fixed once listening (asked for every status write)
            self._addrs = [f"{a}" if "/p2p/" in str(a) else f"{a}/p2p/{self.local_id}"
                           for a in self._host.get_addrs()]
        return list(self._addrs)


@asynccontextmanager
async def open_libp2p_network(keypair: Keypair, metrics: PeerMetrics, *,
                              listen_addrs: Sequence[str], bootstrap: Sequence[str] = (),
                              mdns: bool = False, gossip: GossipParams | None = None
                              ) -> AsyncIterator[Libp2pNetwork]:
    """Run a py-libp2p host for ``keypair`` and yield it as a `Network`."""
    # py-libp2p's yamux sends a WINDOW_UPDATE after every read unless told to batch
    # them as go-yamux does (when half the window is consumed): a sixth of a busy
    # peer's CPU went to those frames.
    os.environ.setdefault("PY_YAMUX_RELEASE_ON_READ", "0")
    for addr in listen_addrs:
        check_listen_addr(addr)
    bootstrap_infos = [parse_bootstrap(a) for a in bootstrap]
    libp2p_key = create_new_key_pair(keypair.seed())
    noise = NoiseTransport(libp2p_key, noise_privkey=create_x25519_key_pair().private_key)
    listen = [multiaddr.Multiaddr(a) for a in listen_addrs]
    host = new_host(key_pair=libp2p_key, sec_opt={NOISE_PROTOCOL_ID: noise},
                    muxer_opt=create_yamux_muxer_option(), listen_addrs=listen,
                    enable_mDNS=mdns)
    pubsub, router = build_gossip(host, gossip or GossipParams(), metrics)
    unroute_mdns: Callable[[], None] | None = None
    try:
        async with host.run(listen), background_trio_service(pubsub), \
                background_trio_service(router), trio.open_nursery() as nursery:
            await pubsub.wait_until_ready()
            # The Connector owns outbound dialing (bootstrap, mDNS, blocklist);
            # py-libp2p's auto-connector would redial blocked peers from the
            # peerstore, across a partition.
            await host.get_network().auto_connector.stop()
            connector = Connector(host, bootstrap_infos)
            requests = Libp2pRequests(host, metrics,
                                      allowed=lambda p: p not in connector.blocked)
            network = Libp2pNetwork(host, pubsub, connector, requests, metrics, nursery)
            if mdns:
                unroute_mdns = _route_mdns_to(connector)
            nursery.start_soon(connector.run)
            nursery.start_soon(reidentify_peers, host, connector.connected_peers)
            yield network
            nursery.cancel_scope.cancel()
    finally:
        if unroute_mdns is not None:
            unroute_mdns()


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


def parse_listen_addr(addr: str) -> multiaddr.Multiaddr:
    """The multiaddr of a listen address /ip4|ip6/HOST/tcp/PORT, or PeerConfigError."""
    try:
        maddr = multiaddr.Multiaddr(addr)
        protocols = [p.name for p in maddr.protocols()]
    except Exception as exc:  # multiaddr raises several private error types
        raise PeerConfigError(f"bad listen address {addr!r}: {exc}") from None
    if protocols[:1] not in (["ip4"], ["ip6"]) or "tcp" not in protocols:
        raise PeerConfigError(f"bad listen address {addr!r}: expected /ip4/HOST/tcp/PORT")
    return maddr


def check_listen_addr(addr: str) -> None:
    """PeerConfigError unless ``addr`` is a listen address that can be bound now.

    py-libp2p only logs a failure to listen; a node that silently listens nowhere
    is worse than one that refuses to start.
    """
    maddr = parse_listen_addr(addr)
    ip = maddr.protocols()[0].name
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
