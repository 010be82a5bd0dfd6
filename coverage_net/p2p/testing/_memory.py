"""An in-memory network: every node in one trio run, links with seeded faults.

`MemoryNetwork` is the second implementation of the network seam (`Network`).
Nodes are endpoints on one hub; each link has a latency range and a loss
probability, and the test can partition the nodes into groups, heal them, crash
a node and restart it. Every random choice (latency, loss) comes from one
`random.Random(seed)`, and events are ordered by (virtual time, sequence
number), so under trio's MockClock with deterministic scheduling
(`run_deterministic`) the same seed gives the identical run; `trace` records
every delivery to compare.

Gossip is flooding with a seen-set: a node offers a payload to its gossip
callback the first time its id (`gossip_id`) arrives, and forwards it to every
other neighbour subscribed to the topic if accepted. Requests travel as two
events over the same lossy link; a lost one surfaces as a timeout. A partition
closes the links between groups (both sides see the peer disconnect) and healing
reopens them (both sides see a new peer), as the blocklist does between real
processes.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import trio
import trio.testing

from .._errors import RequestError, RequestHandlerError
from .._network import GossipCallback, Network, ProtocolLimits, RequestHandler, gossip_id

__all__ = ["LinkProfile", "MemoryNetwork", "MemoryEndpoint", "run_deterministic"]


@dataclass(frozen=True)
class LinkProfile:
    """One link's faults: latency drawn uniformly per transmission, loss per transmission.

    Drawing a latency per transmission also reorders messages on a link.
    """

    latency_s: tuple[float, float] = (0.005, 0.050)
    loss: float = 0.0

    def __post_init__(self) -> None:
        lo, hi = self.latency_s
        if not 0 <= lo <= hi:
            raise ValueError(f"latency_s must be (lo, hi) with 0 <= lo <= hi; got {self.latency_s}")
        if not 0 <= self.loss < 1:
            raise ValueError(f"loss must be in [0, 1); got {self.loss}")


def run_deterministic(async_fn: Callable[..., Awaitable[object]], *args: object, seed: int,
                      clock: trio.abc.Clock | None = None) -> object:
    """``trio.run`` under a MockClock with trio's scheduler made deterministic.

    trio shuffles each batch of runnable tasks with a module-level generator; in
    deterministic mode (the mode its Hypothesis plugin turns on) it sorts the
    batch by spawn order first. We seed that generator, so one seed gives one
    interleaving.
    """
    from trio._core import _run as trio_run  # the one place we reach into trio

    trio_run._ALLOW_DETERMINISTIC_SCHEDULING = True  # type: ignore[misc]
    trio_run._r.seed(seed)
    return trio.run(async_fn, *args,
                    clock=clock or trio.testing.MockClock(autojump_threshold=0))


class MemoryNetwork:
    """The hub: nodes, links, faults and the event queue. Run `run()` in a nursery."""

    def __init__(self, seed: int, *, link: LinkProfile = LinkProfile()) -> None:
        self.rng = random.Random(seed)
        self.default_link = link
        self.trace: list[tuple[float, str, str, str, str]] = []
        """(time, kind, from, to, id prefix): every delivery, in order."""
        self.delivered = 0
        self.lost = 0
        self._endpoints: dict[str, MemoryEndpoint] = {}
        self._links: dict[frozenset[str], LinkProfile] = {}
        self._adjacent: dict[str, set[str]] = {}
        """Node -> the nodes it has a link to (open or cut): forwarding asks per message."""
        self._groups: dict[str, int] | None = None
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._wake = trio.Event()
        self._nursery: trio.Nursery | None = None

    # -- building the network -----------------------------------------------------

    def add_node(self, peer_id: str) -> MemoryEndpoint:
        """A new endpoint (or a restarted one, after `crash`)."""
        old = self._endpoints.get(peer_id)
        if old is not None and old.up:
            raise ValueError(f"node {peer_id} is already on the network")
        endpoint = MemoryEndpoint(self, peer_id)
        self._endpoints[peer_id] = endpoint
        for pair in self._links:
            if peer_id in pair:
                self._announce(pair)
        return endpoint

    def connect(self, a: str, b: str, link: LinkProfile | None = None) -> None:
        """A link between nodes ``a`` and ``b`` (both learn of the other when both are up)."""
        if a == b:
            raise ValueError("a node cannot link to itself")
        pair = frozenset((a, b))
        self._links[pair] = link or self.default_link
        self._adjacent.setdefault(a, set()).add(b)
        self._adjacent.setdefault(b, set()).add(a)
        self._announce(pair)

    def full_mesh(self, peer_ids: Iterable[str]) -> list[MemoryEndpoint]:
        """Add these nodes, each linked to every other; their endpoints, in order."""
        ids = list(peer_ids)
        endpoints = [self.add_node(p) for p in ids]
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                self.connect(a, b)
        return endpoints

    def partition(self, *groups: Iterable[str]) -> None:
        """Cut every link between different groups (nodes in no group form one more)."""
        self._groups = {p: i for i, group in enumerate(groups) for p in group}

    def heal(self) -> None:
        """Reopen every cut link; both ends see a new peer."""
        cut = [pair for pair in self._links if not self._link_open(pair)]
        self._groups = None
        for pair in sorted(cut, key=sorted):
            self._announce(pair)

    def crash(self, peer_id: str) -> None:
        """The node vanishes: nothing reaches it or leaves it; its requests fail."""
        self._endpoints[peer_id].up = False

    def neighbours(self, peer_id: str, *, topic: str | None = None) -> list[str]:
        """Nodes linked to ``peer_id`` whose link is open now and who are up, sorted;
        with ``topic``, only those subscribed to it."""
        out = []
        for other in self._adjacent.get(peer_id, ()):
            endpoint = self._endpoints.get(other)
            if endpoint is None or not endpoint.up \
                    or (topic is not None and topic not in endpoint._callbacks):
                continue
            if self._groups is None or self._link_open(frozenset((peer_id, other))):
                out.append(other)
        return sorted(out)

    def trace_digest(self) -> str:
        """SHA-256 of the delivery trace (times rounded to the microsecond)."""
        h = hashlib.sha256()
        for t, kind, src, dst, ident in self.trace:
            h.update(f"{t:.6f} {kind} {src} {dst} {ident}\n".encode())
        return h.hexdigest()

    # -- the event loop -----------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            while True:
                if not self._events:
                    await self._wake.wait()
                    self._wake = trio.Event()
                    continue
                when = self._events[0][0]
                if trio.current_time() < when:
                    with trio.move_on_at(when):
                        await self._wake.wait()
                    self._wake = trio.Event()
                    continue
                _, _, action = heapq.heappop(self._events)
                action()
                await trio.lowlevel.checkpoint()

    def _schedule(self, delay_s: float, action: Callable[[], None]) -> None:
        when = trio.current_time() + delay_s
        if not self._events or when < self._events[0][0]:
            self._wake.set()
        heapq.heappush(self._events, (when, next(self._seq), action))

    def _transmit(self, src: str, dst: str, kind: str, ident: str,
                  deliver: Callable[[], None]) -> None:
        """Send one transmission over the src-dst link: lost, or delivered after a delay."""
        link = self._links.get(frozenset((src, dst)))
        if link is None or not self._link_open(frozenset((src, dst))):
            self.lost += 1
            return
        lost = self.rng.random() < link.loss
        delay = self.rng.uniform(*link.latency_s)
        if lost:
            self.lost += 1
            return

        def arrive() -> None:
            target = self._endpoints.get(dst)
            sender = self._endpoints.get(src)
            if target is None or not target.up or sender is None or not sender.up \
                    or not self._link_open(frozenset((src, dst))):
                self.lost += 1
                return
            self.delivered += 1
            self.trace.append((trio.current_time(), kind, src, dst, ident))
            deliver()

        self._schedule(delay, arrive)

    def _link_open(self, pair: frozenset[str]) -> bool:
        if self._groups is None:
            return True
        a, b = sorted(pair)
        return self._groups.get(a, -1) == self._groups.get(b, -1)

    def _announce(self, pair: frozenset[str]) -> None:
        a, b = sorted(pair)
        ea, eb = self._endpoints.get(a), self._endpoints.get(b)
        if ea is None or eb is None or not (ea.up and eb.up) or not self._link_open(pair):
            return
        ea._peer_connected(b)
        eb._peer_connected(a)

    def _endpoint(self, peer_id: str) -> MemoryEndpoint | None:
        endpoint = self._endpoints.get(peer_id)
        return endpoint if endpoint is not None and endpoint.up else None

    def _spawn(self, fn: Callable[..., Awaitable[object]], *args: object) -> None:
        if self._nursery is None:
            raise RuntimeError("MemoryNetwork.run() is not running")
        self._nursery.start_soon(fn, *args)


class MemoryEndpoint(Network):
    """One node's side of a `MemoryNetwork` (the `Network` the node's actors use)."""

    def __init__(self, hub: MemoryNetwork, peer_id: str) -> None:
        super().__init__(peer_id)
        self._hub = hub
        self._id = peer_id
        self.up = True
        self._callbacks: dict[str, GossipCallback] = {}
        """Topic -> the callback subscribed to it (several actors share one endpoint)."""
        self._seen: set[bytes] = set()
        self._handlers: dict[str, tuple[RequestHandler, ProtocolLimits]] = {}
        self._blocked: frozenset[str] = frozenset()
        self.gossip_duplicates = 0
        self.gossip_forwarded = 0

    # -- Network --------------------------------------------------------------------

    def set_gossip_callback(self, callback: GossipCallback, topics: Iterable[str]) -> None:
        for topic in topics:  # as py-libp2p's per-topic validators: other topics keep theirs
            self._callbacks[topic] = callback

    async def publish(self, topic: str, data: bytes) -> None:
        if not self.up:
            return
        msg_id = gossip_id(data)
        if msg_id in self._seen:
            return
        self._seen.add(msg_id)
        self._forward(None, topic, data, msg_id)
        await trio.lowlevel.checkpoint()

    def outbound_backlog(self) -> int:
        return 0

    @property
    def outbound_capacity(self) -> int:
        return 1

    def register_protocol(self, protocol_id: str, handler: RequestHandler,
                          limits: ProtocolLimits) -> None:
        self._handlers[protocol_id] = (handler, limits)

    async def request(self, peer_id: str, protocol_id: str, payload: bytes, *,
                      timeout_s: float) -> bytes:
        hub = self._hub
        if peer_id not in self.connected_peers():
            raise RequestError("unreachable", f"request to {peer_id}: not connected")
        done = trio.Event()
        result: list[bytes | RequestError] = []
        ident = hashlib.sha256(payload).hexdigest()[:8]

        def reply(response: bytes | RequestError) -> None:
            hub._transmit(peer_id, self._id, "response", ident,
                          lambda: (result.append(response), done.set()))

        def arrive() -> None:
            server = hub._endpoint(peer_id)
            if server is not None:
                hub._spawn(server._serve, self._id, protocol_id, payload, reply)

        hub._transmit(self._id, peer_id, "request", ident, arrive)
        with trio.move_on_after(timeout_s):
            await done.wait()
        if not result:
            raise RequestError("timeout", f"request {protocol_id} to {peer_id}: no response after "
                               f"{timeout_s} s")
        if isinstance(result[0], RequestError):
            raise result[0]
        return result[0]

    def supports(self, peer_id: str, protocol_id: str) -> bool:
        other = self._hub._endpoint(peer_id)
        return other is not None and protocol_id in other._handlers

    def connected_peers(self) -> list[str]:
        if not self.up:
            return []
        return [p for p in self._hub.neighbours(self._id) if p not in self._blocked]

    def set_blocklist(self, peer_ids: Iterable[str]) -> None:
        self._blocked = frozenset(peer_ids)

    def is_blocked(self, peer_id: str) -> bool:
        return peer_id in self._blocked

    def listen_addrs(self) -> list[str]:
        return [f"/memory/{self._id}"]

    def status(self) -> dict[str, object]:
        return {"gossip_duplicates": self.gossip_duplicates,
                "gossip_forwarded": self.gossip_forwarded}

    # -- what the hub calls -------------------------------------------------------

    def _peer_connected(self, peer_id: str) -> None:
        if peer_id not in self._blocked:
            self._announce_peer(peer_id)

    def _forward(self, source: str | None, topic: str, data: bytes, msg_id: bytes) -> None:
        """Send to every neighbour subscribed to `topic` but the one it came from: as in
        gossipsub, whose mesh is per topic, a peer that does not subscribe (a hotspot
        that only publishes its reports) is neither sent nor asked to relay it."""
        ident = msg_id.hex()[:8]
        hub = self._hub
        if not self.up:
            return
        for peer in hub.neighbours(self._id, topic=topic):
            if peer != source and peer not in self._blocked:
                self.gossip_forwarded += 1
                hub._transmit(self._id, peer, "gossip", ident,
                              lambda p=peer: hub._endpoints[p]._receive(
                                  self._id, topic, data, msg_id))

    def _receive(self, source: str, topic: str, data: bytes, msg_id: bytes) -> None:
        callback = self._callbacks.get(topic)
        if source in self._blocked or callback is None:
            return
        if msg_id in self._seen:
            self.gossip_duplicates += 1
            return
        if not callback(source, topic, data):
            return  # refused: not marked seen, not forwarded (as gossipsub does)
        self._seen.add(msg_id)
        self._forward(source, topic, data, msg_id)

    async def _serve(self, source: str, protocol_id: str, payload: bytes,
                     reply: Callable[[bytes | RequestError], None]) -> None:
        entry = self._handlers.get(protocol_id)
        if entry is None:
            reply(RequestError("unsupported", f"{self._id} does not speak {protocol_id}"))
            return
        handler, limits = entry
        if len(payload) > limits.max_request_bytes:
            reply(RequestError("oversize",
                               f"request of {len(payload)} bytes > {limits.max_request_bytes}"))
            return
        try:
            with trio.fail_after(limits.handler_timeout_s):
                response = await handler(source, payload)
        except RequestHandlerError as exc:  # refused: the requester gets the reason
            reply(RequestError("refused", f"{self._id} refused {protocol_id}: {exc}"))
            return
        except (Exception, trio.TooSlowError):  # as over libp2p: the stream is reset
            reply(RequestError("reset", f"{protocol_id} to {self._id}: stream reset"))
            return
        if len(response) > limits.max_response_bytes:
            reply(RequestError("oversize", f"response of {len(response)} bytes > "
                               f"{limits.max_response_bytes}"))
            return
        if self.up:
            reply(response)
