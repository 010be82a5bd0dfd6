"""The p2p actors of one node over any `Network`: gossip and sync, started together.

Both composition roots (`coverage_net.node`) and the in-memory test harness
(`coverage_net.p2p.testing`) start exactly this, so the code under test is the
code that runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import trio

from coverage_net.store import MessageStore

from ._gossip_service import GossipService
from ._metrics import PeerMetrics
from ._network import PING_LIMITS, PING_PROTOCOL, Network, ping_handler
from ._sync import SyncService

__all__ = ["P2PServices", "start_services"]


@dataclass(frozen=True)
class P2PServices:
    """What the actors above p2p get: publish/subscribe, sync, and the counters."""

    network: Network
    gossip: GossipService
    sync: SyncService
    metrics: PeerMetrics


async def start_services(nursery: trio.Nursery, network: Network, store: MessageStore, *,
                         clock_ms: Callable[[], int], sync_interval_s: float = 1.0,
                         full_sync_interval_s: float = 60.0, request_timeout_s: float = 5.0,
                         metrics: PeerMetrics | None = None) -> P2PServices:
    """Build ping, gossip and sync on ``network`` and ``store``; run them in ``nursery``."""
    metrics = metrics or PeerMetrics()
    network.register_protocol(PING_PROTOCOL, ping_handler, PING_LIMITS)
    gossip = GossipService(network, store, metrics, clock_ms=clock_ms)
    sync = SyncService(network, store, gossip, metrics, interval_s=sync_interval_s,
                       full_interval_s=full_sync_interval_s,
                       request_timeout_s=request_timeout_s)
    nursery.start_soon(gossip.run)
    nursery.start_soon(sync.run)
    await trio.lowlevel.checkpoint()
    return P2PServices(network, gossip, sync, metrics)
