"""The network seam: what gossip, sync and requests need from a network, and no more.

Two implementations stand behind it: `Libp2pNetwork` (a py-libp2p host with
gossipsub, TCP, Noise, yamux) and `coverage_net.p2p.testing.MemoryNetwork` (every
node in one trio run, links with seeded latency, loss, reordering, partitions and
crashes, under trio's MockClock). The actors above it (`GossipService`,
`SyncService`, the status writer) are the same code over both, so protocol logic
is tested on the second and shown to work with real processes on the first.

The contract, in full:

- Gossip is a best-effort broadcast on topics, with one message id per payload:
  ``gossip_id(data) = sha256(data)``, which for a coverage-net message is its
  content id. A payload is offered to the local ``on_gossip`` callback once (the
  first time its id is seen); the callback returns True to accept it, and only an
  accepted payload is forwarded. Nothing is guaranteed to arrive: sync repairs.
- Requests are one request and one response per exchange on a named protocol,
  each capped in size, each with a timeout; a failure raises `RequestError`.
- Peers are named by their libp2p peer id (base58 text) on both implementations.
"""

from __future__ import annotations

import abc
import hashlib
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import trio

from ._errors import PeerConfigError

__all__ = ["Network", "ProtocolLimits", "GossipCallback", "RequestHandler", "gossip_id",
           "PING_PROTOCOL", "PING_LIMITS", "ping_handler"]

GossipCallback = Callable[[str, str, bytes], bool]
"""``(forwarder peer id, topic, payload) -> accept``; called once per gossip id."""

RequestHandler = Callable[[str, bytes], Awaitable[bytes]]
"""``(requesting peer id, request payload) -> response payload``; raise to refuse."""


def gossip_id(data: bytes) -> bytes:
    """The gossip message id: SHA-256 of the payload (= a message's content id).

    Part of the wire protocol: a peer built on another libp2p implementation must
    use the same function (gossipsub's ``msg_id_fn``) to join.
    """
    return hashlib.sha256(data).digest()


@dataclass(frozen=True)
class ProtocolLimits:
    """Caps for one request/response protocol, the same on both sides of it."""

    max_request_bytes: int = 64 * 1024
    max_response_bytes: int = 64 * 1024
    read_timeout_s: float = 5.0
    """A whole request frame must arrive within this, from the stream's start."""
    handler_timeout_s: float = 10.0
    write_timeout_s: float = 5.0
    """Writing the whole response frame (an asker that stops reading holds a window)."""

    def __post_init__(self) -> None:
        for name in ("max_request_bytes", "max_response_bytes", "read_timeout_s",
                     "handler_timeout_s", "write_timeout_s"):
            if not getattr(self, name) > 0:
                raise PeerConfigError(f"{name} must be positive; got {getattr(self, name)}")
        if max(self.max_request_bytes, self.max_response_bytes) >= 2**62:
            raise PeerConfigError("payload caps must be below 2**62 bytes")


PING_PROTOCOL = "/coverage-net/ping/1.0.0"
PING_LIMITS = ProtocolLimits(max_request_bytes=64 * 1024, max_response_bytes=64 * 1024)


async def ping_handler(_peer_id: str, payload: bytes) -> bytes:
    """The ping protocol: the payload back, so an asker can check liveness and round trip."""
    return payload


class Network(abc.ABC):
    """One node's view of the network (see the module docstring for the contract)."""

    def __init__(self, local_id: str) -> None:
        self._local_id = local_id
        self._new_send, self._new_receive = trio.open_memory_channel[str](math.inf)

    @property
    def local_id(self) -> str:
        """This node's peer id."""
        return self._local_id

    @property
    def new_peers(self) -> trio.MemoryReceiveChannel[str]:
        """Every peer this node gets connected to, as it connects (one consumer)."""
        return self._new_receive

    def _announce_peer(self, peer_id: str) -> None:
        """For implementations: tell `new_peers` that ``peer_id`` connected."""
        self._new_send.send_nowait(peer_id)

    @abc.abstractmethod
    def set_gossip_callback(self, callback: GossipCallback, topics: Iterable[str]) -> None:
        """Subscribe to ``topics``; offer every new payload on them to ``callback``. Each
        call adds its topics (the gossip service and the consensus driver share a network);
        a topic set again gets the new callback."""

    @abc.abstractmethod
    async def publish(self, topic: str, data: bytes) -> None:
        """Broadcast ``data`` on ``topic`` (our own payloads skip ``on_gossip``)."""

    @abc.abstractmethod
    def outbound_backlog(self) -> int:
        """Gossip payloads queued and not yet sent to the slowest peer."""

    @property
    @abc.abstractmethod
    def outbound_capacity(self) -> int:
        """Backlog above which a publisher should wait (half of what would drop)."""

    @abc.abstractmethod
    def register_protocol(self, protocol_id: str, handler: RequestHandler,
                          limits: ProtocolLimits) -> None:
        """Serve requests on ``protocol_id`` with ``handler``."""

    @abc.abstractmethod
    async def request(self, peer_id: str, protocol_id: str, payload: bytes, *,
                      timeout_s: float) -> bytes:
        """One request to ``peer_id``; its response, or `RequestError`."""

    @abc.abstractmethod
    def supports(self, peer_id: str, protocol_id: str) -> bool:
        """Whether ``peer_id`` advertised ``protocol_id`` (identify)."""

    @abc.abstractmethod
    def connected_peers(self) -> list[str]:
        """Peers connected now and not blocked, sorted."""

    @abc.abstractmethod
    def set_blocklist(self, peer_ids: Iterable[str]) -> None:
        """Block exactly these peers: close their connections, refuse their input."""

    @abc.abstractmethod
    def is_blocked(self, peer_id: str) -> bool: ...

    @abc.abstractmethod
    def listen_addrs(self) -> list[str]:
        """Addresses others can reach us at (multiaddrs with /p2p/, or memory names)."""

    def topic_peers(self, topic: str) -> list[str]:
        """Peers known to subscribe to ``topic``; by default every connected peer."""
        return self.connected_peers()

    def status(self) -> dict[str, object]:
        """Implementation-specific figures for the status file."""
        return {}
