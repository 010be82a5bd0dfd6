"""A seeded scenario on the in-memory network: publish on lossy links through a partition.

Shared by the tests and ``bench/memnet.py``, so the benchmark's figure is the
test's run.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

import trio

from coverage_net.identity import Keypair

from ._memory import LinkProfile, MemoryNetwork, run_deterministic
from ._memory_node import MemoryNode, start_memory_node
from ._processes import sparse_topology, witness_reports

__all__ = ["PartitionRun", "run_partition_scenario", "memory_keys"]

_HOST_TIME_MS = 1_767_225_600_000


def memory_keys(count: int) -> list[Keypair]:
    """``count`` deterministic keypairs for in-memory nodes."""
    return [Keypair.from_seed(bytes([31, i % 256, i // 256]) + bytes(29)) for i in range(count)]


@dataclass(frozen=True)
class PartitionRun:
    """What one run did: its trace digest and figures."""

    trace_digest: str
    converged_virtual_s: float
    delivered: int
    lost: int
    messages: int
    nodes: int
    wall_s: float

    def same_run(self, other: PartitionRun) -> bool:
        """Identical in everything but wall time."""
        return (self.trace_digest, self.converged_virtual_s, self.delivered, self.lost) == \
            (other.trace_digest, other.converged_virtual_s, other.delivered, other.lost)


def run_partition_scenario(root: Path, *, seed: int, nodes: int, publishers: int,
                           per_publisher: int, loss: float = 0.10,
                           partition_at_s: float = 1.0, heal_after_s: float = 4.0,
                           timeout_virtual_s: float = 600.0) -> PartitionRun:
    """Nodes in a sparse random topology; ``publishers`` publish ``per_publisher``
    messages each, 10-90 ms apart; at ``partition_at_s`` the nodes are cut into two
    halves, healed ``heal_after_s`` later; returns once every node holds every
    message (TimeoutError after ``timeout_virtual_s`` of virtual time).
    """
    keys = memory_keys(nodes)
    reports = [list(witness_reports(keys[p], per_publisher, host_time_ms=_HOST_TIME_MS,
                                    tag=bytes([p % 256, p // 256])))
               for p in range(publishers)]
    total = publishers * per_publisher
    result: list[object] = []

    async def publish(node: MemoryNode, mine: list, rng: random.Random) -> None:
        for report in mine:
            await trio.sleep(rng.uniform(0.01, 0.09))
            await node.p2p.gossip.publish(report)

    async def main() -> None:
        hub = MemoryNetwork(seed=seed, link=LinkProfile(latency_s=(0.005, 0.08), loss=loss))
        rng = random.Random(seed)
        async with trio.open_nursery() as nursery:
            await nursery.start(hub.run)
            running = [await start_memory_node(nursery, hub, k.peer_id, root / f"n{i}")
                       for i, k in enumerate(keys)]
            for i, earlier in enumerate(sparse_topology(nodes, links=2, seed=seed)):
                for j in earlier:
                    hub.connect(keys[i].peer_id, keys[j].peer_id)
            start = trio.current_time()
            async with trio.open_nursery() as publishing:
                for p in range(publishers):
                    publishing.start_soon(publish, running[p * (nodes // publishers)],
                                          reports[p], random.Random(rng.random()))
                await trio.sleep(partition_at_s)
                hub.partition([k.peer_id for k in keys[: nodes // 2]],
                              [k.peer_id for k in keys[nodes // 2:]])
                await trio.sleep(heal_after_s)
                hub.heal()
            with trio.fail_after(timeout_virtual_s):
                while not all(n.store.count() == total for n in running):
                    await trio.sleep(0.25)
            result.extend([hub.trace_digest(), trio.current_time() - start, hub.delivered,
                           hub.lost])
            nursery.cancel_scope.cancel()

    wall_start = time.perf_counter()
    run_deterministic(main, seed=seed)
    digest, converged, delivered, lost = result
    return PartitionRun(digest, converged, delivered, lost, total, nodes,
                        time.perf_counter() - wall_start)
