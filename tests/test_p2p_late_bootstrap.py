"""A bootstrap peer that is not listening yet when a node starts is joined as soon as it is.

py-libp2p's swarm refuses for 60 s to dial a peer whose addresses all failed once (its
negative cache). In a testnet every hotspot starts beside validators that may take
seconds longer to listen; a hotspot whose first dial was refused stayed cut off for a
minute, missing its challenges (seen in `make demo`: two of ten hotspots earned
nothing). The connector lifts that block before each of its own redials.

Two real py-libp2p nodes on loopback in this process: A starts with B as bootstrap
while nothing listens on B's port; once A's dial has failed, B starts on that port.
A must connect well before the 60 s block would have ended (the bound is a hang guard,
not a speed target: a redial comes within 2 s).
"""

from __future__ import annotations

import trio

from coverage_net.identity import Keypair
from coverage_net.p2p import PeerMetrics, open_libp2p_network
from coverage_net.p2p.testing import free_tcp_port

A_KEY = Keypair.from_seed(b"\x51" * 32)
B_KEY = Keypair.from_seed(b"\x52" * 32)
NEGATIVE_CACHE_S = 60.0  # py-libp2p 0.8.1's _NegativePeerCache ttl


async def test_a_bootstrap_peer_that_starts_late_is_joined_within_the_block():
    port = free_tcp_port()
    b_addr = f"/ip4/127.0.0.1/tcp/{port}"
    async with open_libp2p_network(A_KEY, PeerMetrics(), listen_addrs=["/ip4/127.0.0.1/tcp/0"],
                                   bootstrap=[f"{b_addr}/p2p/{B_KEY.peer_id}"]) as a:
        await trio.sleep(2.0)  # A dials B and fails: nothing listens there yet
        assert B_KEY.peer_id not in a.connected_peers()
        failed_at = trio.current_time()
        async with open_libp2p_network(B_KEY, PeerMetrics(), listen_addrs=[b_addr]) as b:
            with trio.fail_after(NEGATIVE_CACHE_S - 15.0):
                while B_KEY.peer_id not in a.connected_peers():
                    await trio.sleep(0.1)
            assert trio.current_time() - failed_at < NEGATIVE_CACHE_S
            assert A_KEY.peer_id in b.connected_peers()
