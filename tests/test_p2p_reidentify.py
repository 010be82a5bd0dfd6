"""A connected peer whose identify never completed is identified again.

Two real py-libp2p hosts on loopback in this process: the server serves a request
protocol, the client connects (py-libp2p identifies it once). The client's record
of the server's protocols is then wiped, as a failed identify leaves it (py-libp2p
does not try again for that connection), so `Libp2pRequests.protocols_of` knows
nothing and sync would never ask that peer. `reidentify_peers` finds it and runs
the identify exchange again over the same connection.
"""

from __future__ import annotations

import trio
from libp2p.peer.id import ID
from test_p2p_reqresp import CLIENT_KEYS, SERVER_KEY, host_addr, libp2p_host

from coverage_net.p2p import PING_LIMITS, Libp2pRequests, PeerMetrics, ping_handler
from coverage_net.p2p._reidentify import identify_peer, known_protocols, reidentify_peers

PROTOCOL = "/coverage-net/test/served"


async def test_a_peer_left_unidentified_is_identified_again():
    async with libp2p_host(SERVER_KEY) as server_host, libp2p_host(CLIENT_KEYS[0]) as client:
        server = Libp2pRequests(server_host, PeerMetrics())
        server.register_protocol(PROTOCOL, ping_handler, PING_LIMITS)
        asker = Libp2pRequests(client, PeerMetrics())
        server_id = ID.from_base58(SERVER_KEY.peer_id)
        asker.address_book.add(SERVER_KEY.peer_id, [host_addr(server_host)], "announced")
        assert await asker.request(SERVER_KEY.peer_id, PROTOCOL, b"x", 30.0) == b"x"
        with trio.fail_after(60):
            while PROTOCOL not in asker.protocols_of(SERVER_KEY.peer_id):
                await trio.sleep(0.05)  # py-libp2p's own identify, after connecting

        client.get_peerstore().set_protocols(server_id, [])  # as a failed identify leaves it
        assert asker.protocols_of(SERVER_KEY.peer_id) == frozenset()
        assert known_protocols(client, server_id) == []

        def connected() -> list[ID]:
            return list(client.get_network().get_connections_map())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: reidentify_peers(client, connected, after_s=0.2,
                                                        interval_s=0.1))
            with trio.fail_after(60):
                while PROTOCOL not in asker.protocols_of(SERVER_KEY.peer_id):
                    await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
        assert len(client.get_network().get_connections(server_id)) == 1  # the same one


async def test_identify_with_a_peer_that_is_gone_says_so():
    async with libp2p_host(CLIENT_KEYS[1]) as client:
        stranger = ID.from_base58(CLIENT_KEYS[2].peer_id)  # never connected, no address
        assert await identify_peer(client, stranger, timeout_s=5.0) is False
        assert known_protocols(client, stranger) == []
