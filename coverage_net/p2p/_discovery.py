"""Finding and keeping peers: bootstrap addresses, mDNS, and a blocklist.

`Connector` keeps a connection to every bootstrap peer (redialing with capped
backoff, so a peer that restarts, one that was not listening yet when we
started, or a healed partition is rejoined within seconds), connects to every
peer mDNS reports, and enforces the blocklist: a blocked peer's connections are
closed and it is never dialed. The blocklist is
also how tests cut a network in two in user space.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterable
from pathlib import Path

import multiaddr
import trio
from libp2p.abc import IHost, PeerInfo
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import InvalidAddrError, info_from_p2p_addr

from ._errors import PeerConfigError
from ._notify import OnConnected

__all__ = ["Connector", "parse_bootstrap", "read_blocklist"]

logger = logging.getLogger(__name__)

_DIAL_TIMEOUT_S = 5.0
_MIN_BACKOFF_S = 0.25
_MAX_BACKOFF_S = 2.0
_DIAL_JITTER_S = 0.4
_CONNECTED_POLL_S = 2.0  # how soon a dropped bootstrap connection is noticed
_BLOCKLIST_POLL_S = 2.0  # how soon a blocked peer's new inbound connection is closed
# (a change of the blocklist wakes both at once)


def parse_bootstrap(addr: str) -> PeerInfo:
    """A bootstrap multiaddr such as ``/ip4/127.0.0.1/tcp/4001/p2p/12D3Koo...``."""
    try:
        maddr = multiaddr.Multiaddr(addr)
        if "tcp" not in [p.name for p in maddr.protocols()]:
            raise ValueError("no TCP transport in it (this peer dials TCP only)")
        return info_from_p2p_addr(maddr)
    except (InvalidAddrError, ValueError, TypeError) as exc:
        raise PeerConfigError(
            f"bad bootstrap address {addr!r}: {exc}; expected "
            "/ip4/HOST/tcp/PORT/p2p/PEER_ID") from None
    except Exception as exc:  # multiaddr raises several private error types
        raise PeerConfigError(f"bad bootstrap address {addr!r}: {exc}") from None


def read_blocklist(path: Path) -> frozenset[str]:
    """Peer ids in a blocklist file: one per line, ``#`` starts a comment."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return frozenset()
    ids = set()
    for line in text.splitlines():
        entry = line.split("#", 1)[0].strip()
        if entry:
            ids.add(entry)
    return frozenset(ids)


class Connector:
    """Dials bootstrap and discovered peers; enforces the blocklist."""

    def __init__(self, host: IHost, bootstrap: Iterable[PeerInfo]) -> None:
        self._host = host
        self._bootstrap = list(bootstrap)
        self._blocked: frozenset[str] = frozenset()
        self._my_id = host.get_id()
        self._new_peers_send, self._new_peers_receive = trio.open_memory_channel[ID](math.inf)
        self._found_send, self._found_receive = trio.open_memory_channel[PeerInfo](256)
        self._wake = trio.Event()
        host.get_network().register_notifee(
            OnConnected(lambda conn: self.on_connected(conn.muxed_conn.peer_id)))

    @property
    def new_peers(self) -> trio.MemoryReceiveChannel[ID]:
        """Every peer we get connected to (inbound or outbound), as it connects."""
        return self._new_peers_receive

    @property
    def blocked(self) -> frozenset[str]:
        return self._blocked

    def is_blocked(self, peer: ID) -> bool:
        return peer.to_base58() in self._blocked

    def connected_peers(self) -> list[ID]:
        return [p for p in self._host.get_network().get_connections_map()
                if p.to_base58() not in self._blocked]

    def on_connected(self, peer: ID) -> None:
        if peer.to_base58() in self._blocked:
            return  # closed by _enforce_blocklist on its next pass
        self._new_peers_send.send_nowait(peer)

    def set_blocklist(self, peer_ids: Iterable[str]) -> None:
        """Block exactly ``peer_ids`` (base58 strings); takes effect within a moment."""
        blocked = frozenset(peer_ids)
        if blocked != self._blocked:
            logger.info("blocklist now has %d peer(s)", len(blocked))
        self._blocked = blocked
        self._wake.set()

    def peer_found(self, info: PeerInfo) -> None:
        """Called (from any thread, via trio.from_thread) when mDNS reports a peer."""
        try:
            self._found_send.send_nowait(info)
        except trio.WouldBlock:
            logger.warning("mDNS found peers faster than we can dial; %s skipped", info.peer_id)

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            for info in self._bootstrap:
                nursery.start_soon(self._keep_connected, info)
            nursery.start_soon(self._dial_found)
            nursery.start_soon(self._enforce_blocklist)

    async def _keep_connected(self, info: PeerInfo) -> None:
        backoff = _MIN_BACKOFF_S
        network = self._host.get_network()
        # Two peers that bootstrap from each other would dial at the same moment and
        # each close one of the two connections; a per-pair jitter staggers them.
        pair = sorted([self._my_id.to_bytes(), info.peer_id.to_bytes()])
        jitter_s = _DIAL_JITTER_S * (hashlib.sha256(self._my_id.to_bytes() + b"".join(pair))
                                     .digest()[0] / 255)
        while True:
            blocked = info.peer_id.to_base58() in self._blocked
            if info.peer_id == self._my_id or blocked or network.get_connections(info.peer_id):
                backoff = _MIN_BACKOFF_S
                await self._sleep_or_wake(_CONNECTED_POLL_S)
                continue
            await trio.sleep(jitter_s)
            if network.get_connections(info.peer_id) or info.peer_id.to_base58() in self._blocked:
                continue
            if await self._dial(info):
                backoff = _MIN_BACKOFF_S
            else:
                await trio.sleep(backoff)
                backoff = min(_MAX_BACKOFF_S, backoff * 2)

    async def _dial(self, info: PeerInfo) -> bool:
        # py-libp2p's swarm refuses for 60 s to dial a peer whose addresses all failed
        # once (its negative cache): a bootstrap peer not yet listening when we start
        # would stay out of reach for a minute. Redialing is this class's job, with its
        # own capped backoff, so lift that block before each dial.
        self._host.get_network().unblock_peer(info.peer_id)
        try:
            with trio.fail_after(_DIAL_TIMEOUT_S):
                await self._host.connect(info)
        except Exception as exc:  # unreachable, refused, handshake failed: retried later
            logger.debug("dial %s failed: %s", info.peer_id, exc)
            return False
        logger.info("connected to %s", info.peer_id)
        return True

    async def _dial_found(self) -> None:
        async for info in self._found_receive:
            if info.peer_id == self._my_id or info.peer_id.to_base58() in self._blocked:
                continue
            if not self._host.get_network().get_connections(info.peer_id):
                logger.info("mDNS found %s; dialing", info.peer_id)
                await self._dial(info)

    async def _enforce_blocklist(self) -> None:
        network = self._host.get_network()
        while True:
            for peer in list(network.get_connections_map()):
                if peer.to_base58() in self._blocked:
                    logger.info("closing connection to blocked peer %s", peer)
                    try:
                        await network.close_peer(peer)
                    except Exception as exc:  # already gone
                        logger.debug("closing %s: %s", peer, exc)
            await self._sleep_or_wake(_BLOCKLIST_POLL_S)

    async def _sleep_or_wake(self, seconds: float) -> None:
        with trio.move_on_after(seconds):
            await self._wake.wait()
        if self._wake.is_set():
            self._wake = trio.Event()
