"""In-process peers on loopback: the libp2p stack, interop, gossip without drops.

Everything here is real: py-libp2p hosts on 127.0.0.1 TCP, Noise, yamux/mplex,
gossipsub, SQLite stores in tmp_path. Loops that wait for the network are
liveness bounds (`fail_after`), not performance assertions.
"""

from __future__ import annotations

import multiaddr
import pytest
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport
from libp2p.stream_muxer.mplex.mplex import Mplex
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.utils.varint import read_varint_prefixed_bytes_limited

from coverage_net.identity import Keypair
from coverage_net.messages import decode
from coverage_net.node import PeerConfig, run_peer
from coverage_net.p2p import (
    GossipParams,
    PeerMetrics,
    parse_bootstrap,
    topic_of,
)
from coverage_net.p2p._gossip import build_gossip
from coverage_net.p2p.testing import raw_gossip_client, witness_reports

ALICE = Keypair.from_seed(b"\x11" * 32)
BOB = Keypair.from_seed(b"\x12" * 32)
CLIENT = Keypair.from_seed(b"\x13" * 32)
T0_MS = 1_790_000_000_000
WITNESS_TOPIC = topic_of(next(witness_reports(ALICE, 1, host_time_ms=T0_MS)))
LIVENESS_S = 60
FRAMES_PROTOCOL = TProtocol("/coverage-net-test/frames/1")


def _config(keypair: Keypair, tmp_path, name: str, **kwargs) -> PeerConfig:
    return PeerConfig(keypair=keypair, data_dir=tmp_path / name, **kwargs)


async def _until(predicate, poll_s: float = 0.02) -> None:
    with trio.fail_after(LIVENESS_S):
        while not predicate():
            await trio.sleep(poll_s)


async def _two_peers_gossip_only(nursery, tmp_path):
    """Alice and Bob connected, with sync kept out of the way (an interval longer than
    the test) once the sync on connecting has run: from then on only gossip delivers."""
    quiet = 10_000.0
    alice = await nursery.start(run_peer, _config(ALICE, tmp_path, "a", sync_interval_s=quiet))
    bob = await nursery.start(run_peer, _config(
        BOB, tmp_path, "b", sync_interval_s=quiet, bootstrap=[alice.addrs[0]]))
    await _until(lambda: bob.peer_id in alice.topic_peers(WITNESS_TOPIC))
    await _until(lambda: bob.metrics.sync_rounds >= 1 and alice.metrics.sync_rounds >= 1)
    return alice, bob


async def test_meshsub_1_0_over_mplex_peer_reads_our_topics(tmp_path):
    """A node that speaks only /meshsub/1.0.0 and mplex joins and reads the topics."""
    async with trio.open_nursery() as nursery:
        peer = await nursery.start(run_peer, _config(ALICE, tmp_path, "a"))
        async with raw_gossip_client(CLIENT, protocols=["/meshsub/1.0.0"],
                                     mplex_only=True) as client:
            await client.connect(peer.addrs[0])
            sub = await client.subscribe(WITNESS_TOPIC)
            await _until(lambda: client.peer_id in peer.topic_peers(WITNESS_TOPIC))
            reports = list(witness_reports(ALICE, 20, host_time_ms=T0_MS))
            for report in reports:
                await peer.publish(report)
            got = set()
            with trio.fail_after(LIVENESS_S):
                while len(got) < len(reports):
                    got.add(decode((await sub.get()).data).content_id)
            assert got == {r.content_id for r in reports}
            peer_id = parse_bootstrap(peer.addrs[0]).peer_id
            assert client.pubsub.router.peer_protocol[peer_id] == "/meshsub/1.0.0"
            (conn,) = client.host.get_network().get_connections(peer_id)
            assert isinstance(conn.muxed_conn, Mplex)
        nursery.cancel_scope.cancel()


async def test_default_connection_is_noise_and_yamux_on_meshsub_1_1(tmp_path):
    async with trio.open_nursery() as nursery:
        peer = await nursery.start(run_peer, _config(ALICE, tmp_path, "a"))
        async with raw_gossip_client(CLIENT) as client:
            await client.connect(peer.addrs[0])
            await client.subscribe(WITNESS_TOPIC)
            await _until(lambda: client.peer_id in peer.topic_peers(WITNESS_TOPIC))
            peer_id = parse_bootstrap(peer.addrs[0]).peer_id
            (conn,) = client.host.get_network().get_connections(peer_id)
            assert isinstance(conn.muxed_conn, Yamux)
            assert "noise" in type(conn.muxed_conn.secured_conn.conn).__module__
            assert client.pubsub.router.peer_protocol[peer_id] == "/meshsub/1.1.0"
        nursery.cancel_scope.cancel()


async def test_plaintext_only_host_cannot_connect(tmp_path):
    """Noise only: a host offering only /plaintext/2.0.0 fails the security handshake."""
    async with trio.open_nursery() as nursery:
        peer = await nursery.start(run_peer, _config(ALICE, tmp_path, "a"))
        key = create_new_key_pair(CLIENT.seed())
        listen = [multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]
        host = new_host(key_pair=key, listen_addrs=listen,
                        sec_opt={PLAINTEXT_PROTOCOL_ID: InsecureTransport(key)})
        async with host.run(listen):
            with pytest.raises(Exception):  # noqa: B017 - py-libp2p raises several types
                with trio.fail_after(LIVENESS_S):
                    await host.connect(parse_bootstrap(peer.addrs[0]))
            assert not peer.connected_peers()
        nursery.cancel_scope.cancel()


async def test_burst_of_1000_is_delivered_by_gossip_alone_without_drops(tmp_path):
    """The three py-libp2p drop points: with them handled, gossip alone delivers a burst.

    Stock py-libp2p passes 10 messages/s per peer and topic, overflows a 32-slot
    outbound queue and a 32-slot subscription buffer; here sync is kept out of the
    way (an interval longer than the test) so every message must come by gossip.
    """
    async with trio.open_nursery() as nursery:
        alice, bob = await _two_peers_gossip_only(nursery, tmp_path)
        reports = list(witness_reports(ALICE, 1000, host_time_ms=T0_MS))
        for report in reports:
            await alice.publish(report)
        await _until(lambda: bob.metrics.stored == len(reports), poll_s=0.1)
        assert bob.metrics.synced == 0
        assert bob.metrics.accepted == len(reports)
        assert dict(alice.metrics.dropped) == {} and dict(bob.metrics.dropped) == {}
        assert alice.metrics.published == len(reports)
        ids = set(bob.store.ids(topic=WITNESS_TOPIC, partition_from=0, partition_to=2**63 - 1,
                                limit=10_000))
        assert ids == {r.content_id for r in reports}
        nursery.cancel_scope.cancel()


async def test_own_messages_leave_a_node_whose_mesh_was_pruned_empty(tmp_path):
    """A PRUNE/GRAFT storm at start-up can leave a node with no mesh peer for a topic
    (its peers in back-off for a minute): its own messages still go out, to every
    peer subscribed to the topic. Sync is kept out of the way, so only gossip counts."""
    async with trio.open_nursery() as nursery:
        alice, bob = await _two_peers_gossip_only(nursery, tmp_path)
        router = alice.p2p.network._pubsub.router
        bob_id = ID.from_base58(bob.peer_id)
        # what the storm leaves: bob out of alice's mesh, backed off past the test's end
        router.mesh[WITNESS_TOPIC].discard(bob_id)
        router._add_back_off(bob_id, WITNESS_TOPIC, False, 3_600)
        reports = list(witness_reports(ALICE, 20, host_time_ms=T0_MS))
        for report in reports:
            await alice.publish(report)
        await _until(lambda: bob.metrics.stored == len(reports))
        assert bob.metrics.synced == 0 and bob.metrics.accepted == len(reports)
        assert bob_id not in router.mesh[WITNESS_TOPIC]  # it came by flood publishing
        nursery.cancel_scope.cancel()


def test_gossip_params_are_the_spec_defaults():
    params = GossipParams()
    assert (params.degree, params.degree_low, params.degree_high) == (6, 4, 12)
    assert params.heartbeat_interval_s == 1


async def _concurrent_rpc_writes(write_msg) -> list[rpc_pb2.RPC | Exception]:
    """Two tasks each write one large RPC to the same stream; what the far end parses."""
    received: list[rpc_pb2.RPC | Exception] = []
    done = trio.Event()

    async def read_frames(stream) -> None:
        try:
            while len(received) < 2:
                frame = await read_varint_prefixed_bytes_limited(stream, 4 << 20)
                rpc = rpc_pb2.RPC()
                try:
                    rpc.ParseFromString(frame)
                    received.append(rpc)
                except Exception as exc:  # the torn frame the test is about
                    received.append(exc)
        finally:
            done.set()

    async with raw_gossip_client(ALICE) as sender, raw_gossip_client(BOB) as receiver:
        receiver.host.set_stream_handler(FRAMES_PROTOCOL, read_frames)
        await sender.connect(f"{receiver.host.get_addrs()[0]}")
        stream = await sender.host.new_stream(receiver.host.get_id(), [FRAMES_PROTOCOL])
        with trio.fail_after(LIVENESS_S):
            async with trio.open_nursery() as nursery:
                for fill in (b"a", b"b"):
                    msg = rpc_pb2.Message(data=fill * 300_000, topicIDs=["t"])
                    nursery.start_soon(write_msg, stream, rpc_pb2.RPC(publish=[msg]))
            await done.wait()
    return received


async def test_concurrent_writes_to_one_gossip_stream_are_not_interleaved():
    """py-libp2p writes to a pubsub stream from two tasks, and yamux sends a large RPC
    as several frames: without `CoveragePubsub.write_msg` taking turns, the receiver
    reads a torn frame (and before the fix, its process died of the DecodeError)."""
    async with raw_gossip_client(CLIENT) as owner:
        pubsub, _router = build_gossip(owner.host, GossipParams(), PeerMetrics())
        received = await _concurrent_rpc_writes(pubsub.write_msg)
    assert all(isinstance(r, rpc_pb2.RPC) for r in received), received
    assert sorted(r.publish[0].data[:1] for r in received) == [b"a", b"b"]
    assert all(len(r.publish[0].data) == 300_000 for r in received)


async def test_a_message_republished_by_5_peers_is_one_gossip_message(tmp_path):
    """The gossip message id is the content id: five peers publishing the same signed
    message make one message network-wide: every peer validates and relays it at most
    once, and copies that arrive again are dropped by id (counted as gossip_seen); a
    publisher that has already seen it does not send its own copy at all."""
    keys = [Keypair.from_seed(bytes([0x40 + i]) * 32) for i in range(6)]
    (report,) = witness_reports(ALICE, 1, host_time_ms=T0_MS)
    async with trio.open_nursery() as nursery:
        observer = await nursery.start(run_peer, _config(keys[5], tmp_path, "obs"))
        publishers = [await nursery.start(run_peer, _config(
            k, tmp_path, f"p{i}", bootstrap=[observer.addrs[0]])) for i, k in enumerate(keys[:5])]
        await _until(lambda: all(p.peer_id in observer.topic_peers(WITNESS_TOPIC)
                                 for p in publishers))
        async with trio.open_nursery() as publishing:
            for publisher in publishers:
                publishing.start_soon(publisher.publish, report)
        everyone = [observer, *publishers]
        await _until(lambda: all(report.content_id in p.store for p in everyone))
        await trio.sleep(2)  # let any late copy arrive
        # Every peer validated it at most once (with sender + seqno ids, each of the
        # five publishes would be a new gossip message, validated and relayed anew).
        assert observer.metrics.accepted == 1
        assert all(p.metrics.accepted <= 1 for p in publishers)
        assert observer.metrics.stored == 1 and observer.metrics.duplicates == 0
        # Later copies were dropped by their id, before validation.
        assert sum(p.metrics.gossip_seen for p in everyone) >= 1
        nursery.cancel_scope.cancel()
