"""A node on the in-memory network: a real store and the real p2p actors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trio

from coverage_net.store import MessageStore

from .._services import P2PServices, start_services
from ._memory import MemoryEndpoint, MemoryNetwork

__all__ = ["MemoryNode", "start_memory_node"]


@dataclass
class MemoryNode:
    """One node: its endpoint, its SQLite store, its services and the scope to crash it."""

    peer_id: str
    endpoint: MemoryEndpoint
    store: MessageStore
    p2p: P2PServices
    cancel_scope: trio.CancelScope

    def crash(self, hub: MemoryNetwork) -> None:
        """Take it off the network and stop its actors (the store stays on disk)."""
        hub.crash(self.peer_id)
        self.cancel_scope.cancel()


async def start_memory_node(nursery: trio.Nursery, hub: MemoryNetwork, peer_id: str,
                            data_dir: Path, *, sync_interval_s: float = 1.0,
                            full_sync_interval_s: float = 60.0,
                            request_timeout_s: float = 1.0) -> MemoryNode:
    """Open a store in ``data_dir`` and run gossip and sync for ``peer_id`` on ``hub``.

    Requests time out after 1 s by default: ample for the hub's millisecond links.
    The store is a real SQLite file, durable against a crash of the process (which is
    what `MemoryNode.crash` simulates), not against a power cut: no fsync per commit.
    """

    async def run(task_status: trio.TaskStatus[MemoryNode] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        with trio.CancelScope() as scope, \
                MessageStore.open(data_dir, durability="process_crash") as store:
            endpoint = hub.add_node(peer_id)
            async with trio.open_nursery() as inner:
                p2p = await start_services(
                    inner, endpoint, store, sync_interval_s=sync_interval_s,
                    full_sync_interval_s=full_sync_interval_s,
                    request_timeout_s=request_timeout_s,
                    clock_ms=lambda: int(trio.current_time() * 1000))
                task_status.started(MemoryNode(peer_id, endpoint, store, p2p, scope))

    return await nursery.start(run)
