"""Where to dial a peer known only by its id: the address book.

Requests name peers by id, and a peer we are not connected to has to be dialed
from somewhere. The book keeps, per peer, addresses from three sources and
dials the best first:

- ``connection``: the remote address of a connection we opened (it worked once).
  Inbound connections come from an ephemeral port nobody listens on, so they are
  not recorded;
- ``identify``: the listen addresses the peer itself reported. py-libp2p's
  identify writes them to the peerstore after every new connection; the book
  reads them from there when asked, so they are always the latest;
- ``announced``: addresses someone told us (a bootstrap list, an announcement
  from the network). Untrusted, so tried last.

Everything an announcement can add is bounded (addresses per peer, peers in
all, oldest evicted), since announcements come from the network.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Iterable

import multiaddr
import trio
from libp2p.abc import IHost, INetConn
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.rcmgr.metrics import Direction

from ._errors import DialError
from ._notify import OnConnected

__all__ = ["AddressBook", "ADDRESS_SOURCES"]

logger = logging.getLogger(__name__)

ADDRESS_SOURCES = ("connection", "identify", "announced")
"""Best first: the order in which `AddressBook.dial` tries addresses."""


class AddressBook:
    """Addresses by peer id (base58) and source; `dial` connects to a peer by id."""

    def __init__(self, host: IHost, *, allowed: Callable[[str], bool] = lambda _peer: True,
                 max_addrs_per_peer: int = 8, max_peers: int = 4096) -> None:
        self._host = host
        self._allowed = allowed
        self._max_addrs = max_addrs_per_peer
        self._max_peers = max_peers
        # peer id -> {multiaddr string (without /p2p/): source}, least recently added first
        self._book: collections.OrderedDict[str, dict[str, str]] = collections.OrderedDict()
        host.get_network().register_notifee(OnConnected(self._on_connected))

    def add(self, peer_id: str, addrs: Iterable[str], source: str) -> int:
        """Note ``addrs`` for ``peer_id``; returns how many were new or upgraded.

        Addresses that do not parse, have no TCP part or name another peer in their
        ``/p2p/`` part are skipped (they may come from the network). A known address
        keeps its best source.
        """
        if source not in ADDRESS_SOURCES:
            raise ValueError(f"unknown address source {source!r}; expected one of "
                             f"{', '.join(ADDRESS_SOURCES)}")
        if peer_id == self._host.get_id().to_base58():
            return 0
        entries = self._book.setdefault(peer_id, {})
        self._book.move_to_end(peer_id)
        changed = 0
        for addr in addrs:
            clean = _dialable(peer_id, addr)
            if clean is None:
                continue
            known = entries.get(clean)
            if known is not None and _rank(known) <= _rank(source):
                continue
            entries.pop(clean, None)
            entries[clean] = source
            changed += 1
        while len(entries) > self._max_addrs:  # drop the worst, oldest first
            worst = max(entries, key=lambda a: _rank(entries[a]))
            del entries[worst]
        if not entries:
            del self._book[peer_id]
        while len(self._book) > self._max_peers:
            self._book.popitem(last=False)
        return changed

    def addrs_of(self, peer_id: str) -> list[str]:
        """Known addresses of ``peer_id``, best source first (no ``/p2p/`` part)."""
        return [addr for addr, _source in self.entries(peer_id)]

    def entries(self, peer_id: str) -> list[tuple[str, str]]:
        """``(address, source)`` pairs for ``peer_id``, best source first."""
        merged = dict(self._book.get(peer_id, {}))
        for addr in self._identified(peer_id):
            if _rank(merged.get(addr, "announced")) >= _rank("identify"):
                merged[addr] = "identify"
        return sorted(merged.items(), key=lambda item: _rank(item[1]))

    def is_connected(self, peer_id: str) -> bool:
        try:
            return bool(self._host.get_network().get_connections(ID.from_base58(peer_id)))
        except ValueError:
            return False

    async def dial(self, peer_id: str, timeout_s: float) -> None:
        """Be connected to ``peer_id`` (already, or by dialing its known addresses).

        Raises DialError when the peer is not allowed, no address is known, or no
        address answered within ``timeout_s``.
        """
        if not self._allowed(peer_id):
            raise DialError(f"not dialing {peer_id}: it is blocked")
        if self.is_connected(peer_id):
            return
        try:
            peer = ID.from_base58(peer_id)
        except ValueError:
            raise DialError(f"not dialing {peer_id!r}: not a peer id") from None
        addrs = self.addrs_of(peer_id)
        if not addrs:
            raise DialError(f"cannot dial {peer_id}: no known address (connect to it once, "
                            "let it identify, or add an announced address)")
        info = PeerInfo(peer, [multiaddr.Multiaddr(a) for a in addrs])
        with trio.move_on_after(timeout_s):
            try:
                await self._host.connect(info)
            except Exception as exc:  # refused, unreachable, handshake failed
                raise DialError(f"cannot dial {peer_id} at {', '.join(addrs)}: {exc}") from exc
            return
        raise DialError(f"cannot dial {peer_id} at {', '.join(addrs)}: "
                        f"no answer within {timeout_s} s")

    def _identified(self, peer_id: str) -> list[str]:
        try:
            found = self._host.get_peerstore().addrs(ID.from_base58(peer_id))
        except Exception:  # unknown or expired in the peerstore, or not a peer id
            return []
        return [a for a in (_dialable(peer_id, str(m)) for m in found) if a is not None]

    def _on_connected(self, conn: INetConn) -> None:
        if getattr(conn, "direction", None) != Direction.OUTBOUND:
            return
        try:
            peer_id = conn.muxed_conn.peer_id.to_base58()
            addrs = [str(a) for a in conn.get_transport_addresses()]
        except Exception as exc:  # a connection already torn down
            logger.debug("no transport address for a new connection: %s", exc)
            return
        self.add(peer_id, addrs, "connection")


def _rank(source: str) -> int:
    return ADDRESS_SOURCES.index(source)


def _dialable(peer_id: str, addr: str) -> str | None:
    """``addr`` without its ``/p2p/`` part, or None if it cannot be used for ``peer_id``."""
    try:
        maddr = multiaddr.Multiaddr(addr)
        names = [p.name for p in maddr.protocols()]
        if "tcp" not in names:
            return None
        if "p2p" in names:
            if maddr.value_for_protocol("p2p") != peer_id:
                return None
            maddr = maddr.decapsulate(multiaddr.Multiaddr(f"/p2p/{peer_id}"))
        return str(maddr)
    except Exception as exc:  # multiaddr raises several private error types
        logger.debug("skipped address %r for %s: %s", addr, peer_id, exc)
        return None
