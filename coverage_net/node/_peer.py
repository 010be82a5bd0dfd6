"""The bare peer's composition root: store, identity, network, and the p2p actors.

`run_peer` is what ``coverage-net peer run`` runs: it opens the store, starts a
py-libp2p network for the peer's key, starts gossip and sync on it, the status
writer and (if asked) the blocklist watcher and the Prometheus metrics endpoint, all
in one nursery, and hands the caller a `RunningPeer`. The hotspot, validator and
router roots will follow the same shape, adding their own actors.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import trio

from coverage_net.identity import Keypair
from coverage_net.messages import Message
from coverage_net.metrics import PeerCollector, format_listen, parse_metrics_listen, serve_metrics
from coverage_net.p2p import (
    GossipParams,
    P2PServices,
    PeerConfigError,
    PeerMetrics,
    StatusWriter,
    open_libp2p_network,
    parse_bootstrap,
    parse_listen_addr,
    start_services,
    watch_blocklist,
)
from coverage_net.store import MessageStore

__all__ = ["PeerConfig", "RunningPeer", "run_peer", "wall_clock_ms"]

logger = logging.getLogger(__name__)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class PeerConfig:
    """Everything a peer needs; checked before anything is opened."""

    keypair: Keypair
    data_dir: Path
    listen_addrs: Sequence[str] = ("/ip4/127.0.0.1/tcp/0",)
    bootstrap: Sequence[str] = ()
    mdns: bool = False
    gossip: GossipParams = field(default_factory=GossipParams)
    sync_interval_s: float = 1.0
    full_sync_interval_s: float = 60.0
    status_interval_s: float = 0.5
    blocklist_file: Path | None = None
    clock_ms: Callable[[], int] = wall_clock_ms
    metrics_listen: str | None = None
    """``HOST:PORT`` to serve Prometheus metrics on (port 0: a free one, written into
    peer.json as ``metrics_addr``); None: no metrics endpoint."""
    metrics_collectors: Sequence[object] = ()
    """More collectors served beside the peer's own (a hotspot's proof-of-coverage)."""

    def __post_init__(self) -> None:
        if self.metrics_listen is not None:
            parse_metrics_listen(self.metrics_listen, name="metrics_listen")
        for addr in self.listen_addrs:
            parse_listen_addr(addr)
        for addr in self.bootstrap:
            parse_bootstrap(addr)
        for name in ("sync_interval_s", "full_sync_interval_s", "status_interval_s"):
            if getattr(self, name) <= 0:
                raise PeerConfigError(f"{name} must be positive; got {getattr(self, name)}")


@dataclass(frozen=True)
class RunningPeer:
    """A started peer: its network, store and services, for the caller to use."""

    peer_id: str
    addrs: list[str]
    store: MessageStore
    p2p: P2PServices
    metrics_addr: str | None = None
    """Where its metrics are served (``HOST:PORT``), when they are."""

    async def publish(self, message: Message) -> bytes:
        return await self.p2p.gossip.publish(message)

    @property
    def metrics(self) -> PeerMetrics:
        return self.p2p.metrics

    def connected_peers(self) -> list[str]:
        return self.p2p.network.connected_peers()

    def topic_peers(self, topic: str) -> list[str]:
        """Peers known to subscribe to ``topic`` (those gossip can reach directly)."""
        return self.p2p.network.topic_peers(topic)

    def set_blocklist(self, peer_ids: Sequence[str]) -> None:
        self.p2p.network.set_blocklist(peer_ids)


async def run_peer(config: PeerConfig, *,
                   task_status: trio.TaskStatus[RunningPeer] = trio.TASK_STATUS_IGNORED) -> None:
    """Run a bare peer until cancelled (``nursery.start(run_peer, config)``)."""
    metrics = PeerMetrics()
    with MessageStore.open(config.data_dir) as store:
        async with open_libp2p_network(
                config.keypair, metrics, listen_addrs=config.listen_addrs,
                bootstrap=config.bootstrap, mdns=config.mdns, gossip=config.gossip
        ) as network, trio.open_nursery() as nursery:
            p2p = await start_services(
                nursery, network, store, clock_ms=config.clock_ms, metrics=metrics,
                sync_interval_s=config.sync_interval_s,
                full_sync_interval_s=config.full_sync_interval_s)
            metrics_addr = None
            if config.metrics_listen is not None:
                collectors = [PeerCollector(metrics, network,
                                            stored_total=lambda: p2p.gossip.stored_total),
                              *config.metrics_collectors]
                metrics_addr = format_listen(*await nursery.start(
                    serve_metrics, config.metrics_listen, collectors))
            status = StatusWriter(config.data_dir, network, p2p.gossip, metrics,
                                  clock_ms=config.clock_ms, interval_s=config.status_interval_s,
                                  extra={"metrics_addr": metrics_addr} if metrics_addr else None)
            nursery.start_soon(status.run)
            if config.blocklist_file is not None:
                nursery.start_soon(watch_blocklist, config.blocklist_file, network)
            addrs = network.listen_addrs()
            logger.info("peer %s listening on %s", network.local_id, " ".join(addrs))
            task_status.started(RunningPeer(network.local_id, addrs, store, p2p, metrics_addr))
