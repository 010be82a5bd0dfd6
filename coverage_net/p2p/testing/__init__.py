"""The p2p testing tier: an in-memory network and real peer processes.

- `MemoryNetwork` (with `LinkProfile`, `run_deterministic`, `MemoryNode`): the
  network seam in memory, under trio's MockClock, with seeded latency, loss,
  reordering, partitions and crashes; the node actors run on it unchanged.
- `PeerProcess` and helpers: ``coverage-net peer run`` as real OS processes on
  loopback, with factories for signed reports and a raw py-libp2p client.
"""

from ._memory import LinkProfile, MemoryEndpoint, MemoryNetwork, run_deterministic
from ._memory_node import MemoryNode, start_memory_node
from ._processes import (
    KEY_FILENAME,
    PeerProcess,
    RawGossipClient,
    free_tcp_port,
    loopback_addr,
    raw_gossip_client,
    sparse_topology,
    wait_for,
    witness_reports,
)
from ._scenario import PartitionRun, memory_keys, run_partition_scenario

__all__ = [
    "LinkProfile", "MemoryEndpoint", "MemoryNetwork", "run_deterministic", "MemoryNode",
    "start_memory_node", "PartitionRun", "run_partition_scenario", "memory_keys",
    "KEY_FILENAME", "PeerProcess", "RawGossipClient", "free_tcp_port", "loopback_addr",
    "raw_gossip_client", "sparse_topology", "wait_for", "witness_reports",
]
