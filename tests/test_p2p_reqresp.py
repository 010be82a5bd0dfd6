"""Request/response: the frame reader, handlers in process, and a real peer process.

The frame reader is checked on an in-process pair of trio streams. Handler
failures (refusal, crash, slowness, oversize answers) and the asker's errors are
checked between two real py-libp2p hosts in this process. Then, against a
running ``coverage-net peer run``, client hosts send hypothesis-generated
garbage, oversize declared lengths, truncated frames, stalled and trickling
frames, unknown protocols and more requests than one peer may have in flight:
each gets a reset or an error, the peer's status file counts it by reason, and
the peer still answers pings, 1,000 of them at once from 10 hosts.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import multiaddr
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from libp2p import create_yamux_muxer_option, new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as create_x25519_key_pair
from libp2p.host.exceptions import StreamFailure
from libp2p.network.config import ConnectionConfig
from libp2p.network.stream.exceptions import StreamError
from libp2p.peer.id import ID
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.utils.varint import encode_varint_prefixed

from coverage_net.identity import Keypair
from coverage_net.p2p import (
    PING_LIMITS,
    PING_PROTOCOL,
    AddressBook,
    FrameError,
    Libp2pRequests,
    PeerConfigError,
    PeerMetrics,
    ProtocolLimits,
    RequestError,
    RequestHandlerError,
    encode_frame,
    ping_handler,
    read_frame,
)
from coverage_net.p2p.testing import PeerProcess, free_tcp_port, wait_for

PEER_KEY = Keypair.from_seed(b"\x71" * 32)
CLIENT_KEYS = [Keypair.from_seed(bytes([0x80 + i]) * 32) for i in range(3)]
SERVER_KEY = Keypair.from_seed(b"\x72" * 32)
LIVENESS_S = 120
CAP = PING_LIMITS.max_request_bytes


@asynccontextmanager
async def libp2p_host(keypair: Keypair):
    """A running py-libp2p host configured as a peer's (Noise, yamux) on 127.0.0.1."""
    key = create_new_key_pair(keypair.seed())
    noise = NoiseTransport(key, noise_privkey=create_x25519_key_pair().private_key)
    listen = [multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]
    # py-libp2p gives up on a stream whose protocol is not agreed within 10 s; 1,000
    # requests queued at once on a shared 2-core machine can take longer than that to
    # get their turn, and the request's own timeout is what should bound them.
    patient = ConnectionConfig(outbound_stream_protocol_negotiation_timeout=LIVENESS_S)
    host = new_host(key_pair=key, sec_opt={NOISE_PROTOCOL_ID: noise},
                    muxer_opt=create_yamux_muxer_option(), listen_addrs=listen,
                    connection_config=patient)
    async with host.run(listen):
        yield host


def host_addr(host) -> str:
    return str(host.get_addrs()[0]).split("/p2p/")[0]


# -- the frame reader on an in-process stream pair ----------------------------------------


async def _read_from(data: bytes, max_bytes: int, *, close: bool = True):
    """read_frame over a trio stream pair after ``data`` was sent; (result, bytes left)."""
    sender, receiver = trio.testing.memory_stream_pair()
    await sender.send_all(data)
    if close:
        await sender.send_eof()
    try:
        result: bytes | FrameError = await read_frame(receiver.receive_some, max_bytes)
    except FrameError as exc:
        result = exc
    left = b""
    if close:
        while chunk := await receiver.receive_some():
            left += chunk
    return result, left


@given(body=st.binary(max_size=5000), trailing=st.binary(max_size=20))
async def test_frames_round_trip_and_match_libp2p_varint_prefix(body, trailing):
    framed = encode_frame(body)
    assert framed == encode_varint_prefixed(body)
    result, left = await _read_from(framed + trailing, len(body))
    assert result == body
    assert left == trailing  # the reader takes exactly one frame


@given(length=st.integers(1001, 2**63 - 1))
async def test_oversize_is_refused_before_any_body_byte_is_read(length):
    result, left = await _read_from(_varint(length) + b"body", 1000)
    assert isinstance(result, FrameError) and result.reason == "oversize"
    assert left.endswith(b"body")


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out + bytes([value]))


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "truncated"),
    (b"\x85", "truncated"),               # prefix cut
    (b"\x05abc", "truncated"),            # body cut
    (b"\x80\x00", "bad_length"),          # zero, not minimally encoded
    (b"\x85\x00abcde", "bad_length"),     # five, not minimally encoded
    (b"\x80" * 9 + b"\x01", "bad_length"),  # ten-byte prefix
])
async def test_bad_frames_name_what_is_wrong(data, reason):
    result, _left = await _read_from(data, 2**62)
    assert isinstance(result, FrameError) and result.reason == reason


async def test_a_stalled_frame_is_bounded_by_the_caller():
    sender, receiver = trio.testing.memory_stream_pair()
    await sender.send_all(b"\x0aabc")  # 10 declared, 3 sent, then nothing
    with trio.move_on_after(0.2) as scope:
        await read_frame(receiver.receive_some, 100)
    assert scope.cancelled_caught


def test_limits_are_checked():
    with pytest.raises(PeerConfigError, match="read_timeout_s"):
        ProtocolLimits(read_timeout_s=0)
    with pytest.raises(PeerConfigError, match="max_request_bytes"):
        ProtocolLimits(max_request_bytes=-1)


# -- handlers and askers in process ------------------------------------------------------


async def test_handler_failures_reset_one_stream_and_are_counted():
    limits = ProtocolLimits(max_request_bytes=100, max_response_bytes=100,
                            read_timeout_s=2.0, handler_timeout_s=0.3)

    async def refuse(_peer: str, _payload: bytes) -> bytes:
        raise RequestHandlerError("not today: ünïcode kept")

    async def crash(_peer: str, _payload: bytes) -> bytes:
        raise ValueError("a bug")

    async def slow(_peer: str, _payload: bytes) -> bytes:
        await trio.sleep(5)
        return b""

    async def big(_peer: str, _payload: bytes) -> bytes:
        return b"x" * 101

    async def upper(peer: str, payload: bytes) -> bytes:
        assert peer == CLIENT_KEYS[0].peer_id
        return payload.upper()

    server_metrics = PeerMetrics()
    async with libp2p_host(SERVER_KEY) as server_host, libp2p_host(CLIENT_KEYS[0]) as client:
        server = Libp2pRequests(server_host, server_metrics)
        for name, handler in [("refuse", refuse), ("crash", crash), ("slow", slow),
                              ("big", big), ("upper", upper)]:
            server.register_protocol(f"/coverage-net/test/{name}", handler, limits)
        asker = Libp2pRequests(client, PeerMetrics())
        server_id = SERVER_KEY.peer_id
        assert asker.address_book.add(server_id, [host_addr(server_host)], "announced") == 1

        async def ask(name: str, payload: bytes = b"hi", **kw) -> RequestError:
            with pytest.raises(RequestError) as info:
                await asker.request(server_id, f"/coverage-net/test/{name}", payload,
                                    kw.pop("timeout_s", 10.0), limits=limits, **kw)
            return info.value

        assert await asker.request(server_id, "/coverage-net/test/upper", b"hi", 10.0,
                                   limits=limits) == b"HI"
        refused = await ask("refuse")
        assert refused.kind == "refused" and "not today: ünïcode kept" in str(refused)
        assert (await ask("crash")).kind == "reset"
        assert (await ask("slow")).kind == "reset"
        assert (await ask("big")).kind == "reset"
        timed_out = await ask("slow", timeout_s=0.1)
        assert timed_out.kind == "timeout" and "0.1 s" in str(timed_out)
        assert (await ask("upper", b"x" * 101)).kind == "oversize"
        small = ProtocolLimits(max_response_bytes=1)
        with pytest.raises(RequestError) as info:
            await asker.request(server_id, "/coverage-net/test/upper", b"hello", 10.0,
                                limits=small)
        assert info.value.kind == "oversize"
        assert (await ask("missing")).kind == "unsupported"
        with pytest.raises(RequestError) as info:
            await asker.request(CLIENT_KEYS[2].peer_id, PING_PROTOCOL, b"", 5.0)
        assert info.value.kind == "unreachable" and "no known address" in str(info.value)
        asker.address_book.add(CLIENT_KEYS[2].peer_id, [f"/ip4/127.0.0.1/tcp/{free_tcp_port()}"],
                               "announced")
        with pytest.raises(RequestError) as info:  # nothing listens there
            await asker.request(CLIENT_KEYS[2].peer_id, PING_PROTOCOL, b"", 10.0)
        assert info.value.kind == "unreachable" and "cannot dial" in str(info.value)
        # The server kept serving through all of it.
        assert await asker.request(server_id, "/coverage-net/test/upper", b"ok", 10.0,
                                   limits=limits) == b"OK"
        with trio.fail_after(LIVENESS_S):  # the slow handler's deadline, once more
            while server_metrics.requests["handler_timeout"] < 2:
                await trio.sleep(0.05)
    # The oversize request never left the asker; the short-capped asker's answer was served.
    assert server_metrics.requests == Counter(
        served=3, handler_refused=1, handler_error=1, handler_timeout=2, oversize_response=1,
        unknown_protocol=1)


async def test_a_blocked_peer_is_neither_served_nor_asked():
    metrics = PeerMetrics()
    async with libp2p_host(SERVER_KEY) as server_host, libp2p_host(CLIENT_KEYS[0]) as client:
        server = Libp2pRequests(server_host, metrics,
                                allowed=lambda p: p != CLIENT_KEYS[0].peer_id)
        server.register_protocol(PING_PROTOCOL, ping_handler, PING_LIMITS)
        asker = Libp2pRequests(client, PeerMetrics(),
                               allowed=lambda p: p != CLIENT_KEYS[1].peer_id)
        asker.address_book.add(SERVER_KEY.peer_id, [host_addr(server_host)], "announced")
        with pytest.raises(RequestError) as info:
            await asker.request(SERVER_KEY.peer_id, PING_PROTOCOL, b"x", 10.0)
        assert info.value.kind == "reset"
        with pytest.raises(RequestError) as info:
            await asker.request(CLIENT_KEYS[1].peer_id, PING_PROTOCOL, b"x", 10.0)
        assert info.value.kind == "unreachable" and "blocked" in str(info.value)
    assert metrics.requests == Counter(blocked=1)


async def test_address_book_keeps_good_addresses_best_source_first():
    async with libp2p_host(CLIENT_KEYS[0]) as host:
        book = AddressBook(host, max_addrs_per_peer=3)
        peer = CLIENT_KEYS[1].peer_id
        other = CLIENT_KEYS[2].peer_id
        added = book.add(peer, ["/ip4/10.0.0.1/tcp/1", "not an address", "/ip4/10.0.0.2/udp/5",
                                f"/ip4/10.0.0.3/tcp/3/p2p/{other}",
                                f"/ip4/10.0.0.4/tcp/4/p2p/{peer}"], "announced")
        assert added == 2
        assert book.add(peer, ["/ip4/10.0.0.4/tcp/4"], "connection") == 1
        assert book.add(peer, ["/ip4/10.0.0.4/tcp/4"], "announced") == 0  # keeps the best
        assert book.entries(peer) == [("/ip4/10.0.0.4/tcp/4", "connection"),
                                      ("/ip4/10.0.0.1/tcp/1", "announced")]
        book.add(peer, [f"/ip4/10.0.1.{i}/tcp/9" for i in range(5)], "announced")
        assert len(book.addrs_of(peer)) == 3
        assert book.addrs_of(peer)[0] == "/ip4/10.0.0.4/tcp/4"
        assert book.add(CLIENT_KEYS[0].peer_id, ["/ip4/10.0.0.1/tcp/1"], "announced") == 0
        with pytest.raises(ValueError, match="unknown address source"):
            book.add(peer, [], "rumour")


# -- against a running peer process ------------------------------------------------------


@dataclass
class Target:
    """The peer process under test and the outcomes it must have counted so far."""

    proc: PeerProcess
    expected: Counter[str] = field(default_factory=Counter)
    _hosts_made: int = 0

    @asynccontextmanager
    async def clients(self, count: int = 1):
        """``count`` client hosts that know the peer only by an announced address.

        Each has a new identity: the peer may still be closing the connection of a
        host that just ended, and a new one with the same id would be caught in that.
        """
        async with AsyncExitStack() as stack:
            out = []
            for _ in range(count):
                self._hosts_made += 1
                key = Keypair.from_seed(hashlib.sha256(b"client%d" % self._hosts_made).digest())
                host = await stack.enter_async_context(libp2p_host(key))
                requests = Libp2pRequests(host, PeerMetrics())
                requests.address_book.add(PEER_KEY.peer_id, [self.proc.addr], "announced")
                out.append(requests)
            yield out

    async def ping(self, requests: Libp2pRequests, payload: bytes) -> bytes:
        self.expected["served"] += 1
        return await requests.request(PEER_KEY.peer_id, PING_PROTOCOL, payload, LIVENESS_S)

    async def raw(self, requests: Libp2pRequests, data: bytes, outcome: str, *,
                  close: bool = True, trickle_s: float | None = None) -> bytes | str:
        """Write ``data`` on a fresh ping stream (then end our side if ``close``): the
        echoed body, or "ended" if the peer reset the stream. The peer must count
        ``outcome``."""
        self.expected[outcome] += 1
        await requests.address_book.dial(PEER_KEY.peer_id, LIVENESS_S)
        try:
            stream = await requests._host.new_stream(ID.from_base58(PEER_KEY.peer_id),
                                                     [PING_PROTOCOL])
        except StreamFailure:  # reset as soon as multistream agreed, before we read that
            return "ended"
        try:
            if trickle_s is None:
                await stream.write(data)
            else:
                for i in range(len(data)):
                    await stream.write(data[i:i + 1])
                    await trio.sleep(trickle_s)
            if close:
                await stream.close_write()
        except StreamError:
            pass  # the peer reset the stream while we were still writing
        with trio.fail_after(LIVENESS_S):
            try:
                body = await read_frame(stream.read, CAP + 1)
            except FrameError:
                return "ended"
        assert body[:1] == b"\x00", body
        return body[1:]


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    proc = PeerProcess(tmp_path_factory.mktemp("reqresp") / "peer", PEER_KEY)
    proc.start()
    try:
        proc.wait_ready(timeout_s=LIVENESS_S)
        yield Target(proc)
    finally:
        proc.stop()


def _expected_outcome(data: bytes, cap: int) -> tuple[str, bytes]:
    """What the spec says a peer does with ``data`` then the end of the stream."""
    length = 0
    for index, byte in enumerate(data[:9]):
        if index and byte == 0:
            return "bad_length", b""
        length |= (byte & 0x7F) << (7 * index)
        if length > cap:
            return "oversize", b""
        if not byte & 0x80:
            body = data[index + 1:index + 1 + length]
            return ("served", body) if len(body) == length else ("truncated", b"")
    return ("bad_length" if len(data) >= 9 else "truncated"), b""


def _non_minimal(length: int) -> bytes:
    """``length`` as a varint padded with a zero continuation byte (not allowed)."""
    prefix = bytearray(_varint(length))
    prefix[-1] |= 0x80
    return bytes(prefix) + b"\x00"


GARBAGE = st.one_of(
    st.binary(max_size=300),
    # a whole frame, then junk after it (the peer reads one frame and answers)
    st.builds(lambda body, tail: encode_frame(body) + tail, st.binary(max_size=200),
              st.binary(max_size=40)),
    st.builds(lambda body: _non_minimal(len(body)) + body, st.binary(max_size=200)),
    st.binary(min_size=9, max_size=20).map(lambda b: bytes(x | 0x80 for x in b[:9]) + b[9:]),
)
BATCHES = settings(max_examples=15, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.slow
async def test_ping_answers_dialed_by_peer_id_from_an_announced_address(target):
    async with target.clients() as (requests,):
        assert await target.ping(requests, b"hello") == b"hello"
        entries = dict(requests.address_book.entries(PEER_KEY.peer_id))
        assert entries[f"/ip4/127.0.0.1/tcp/{target.proc.port}"] == "connection"
        with trio.fail_after(LIVENESS_S):  # identify tells what the peer speaks
            while PING_PROTOCOL not in requests.protocols_of(PEER_KEY.peer_id):
                await trio.sleep(0.05)


@pytest.mark.slow
@BATCHES
@given(frames=st.lists(GARBAGE, min_size=1, max_size=8))
async def test_garbage_frames_get_a_reset_or_an_echo_as_the_spec_says(target, frames):
    async with target.clients() as (requests,):
        for data in frames:
            outcome, body = _expected_outcome(data, CAP)
            got = await target.raw(requests, data, outcome)
            assert got == (body if outcome == "served" else "ended")
    assert target.proc.running(), target.proc.exit_report()


@pytest.mark.slow
@BATCHES
@given(lengths=st.lists(st.integers(CAP + 1, 2**63 - 1), min_size=1, max_size=5),
       body=st.binary(max_size=100))
async def test_oversize_declared_lengths_reset_the_stream(target, lengths, body):
    async with target.clients() as (requests,):
        for length in lengths:
            assert await target.raw(requests, _varint(length) + body, "oversize") == "ended"


@pytest.mark.slow
@BATCHES
@given(cuts=st.lists(st.tuples(st.binary(min_size=1, max_size=CAP), st.floats(0, 0.999)),
                     min_size=1, max_size=5))
async def test_truncated_frames_reset_the_stream(target, cuts):
    async with target.clients() as (requests,):
        for body, cut in cuts:
            framed = encode_frame(body)
            assert await target.raw(requests, framed[:int(len(framed) * cut)],
                                    "truncated") == "ended"


@pytest.mark.slow
async def test_stalled_and_trickling_senders_and_a_flood_of_streams_are_cut_off(target):
    """A sender that stops mid-frame, one that sends a byte at a time more slowly than
    the frame deadline allows, and a peer holding the per-peer cap of streams open:
    each stream is reset (the held ones once their deadline passes), the next refused."""
    results: dict[str, object] = {}
    max_inbound = 128

    async with target.clients(2) as (slow, flood), trio.open_nursery() as nursery:
        async def stalled() -> None:
            results["stalled"] = await target.raw(slow, _varint(100) + b"x" * 10, "stalled",
                                                  close=False)

        async def trickle() -> None:
            results["trickle"] = await target.raw(slow, encode_frame(b"y" * 60), "stalled",
                                                  trickle_s=0.1, close=False)

        async def hold(index: int) -> None:
            results[f"held{index}"] = await target.raw(flood, b"", "stalled", close=False)

        nursery.start_soon(stalled)
        nursery.start_soon(trickle)
        for index in range(max_inbound):
            nursery.start_soon(hold, index)
        await trio.sleep(1.0)  # all held streams are being served by now
        results["over_cap"] = await target.raw(flood, encode_frame(b"z"), "busy")
    assert set(results.values()) == {"ended"}
    async with target.clients(2) as (_slow, flood):
        assert await target.ping(flood, b"still here") == b"still here"


@pytest.mark.slow
async def test_unknown_protocols_are_refused_and_counted(target):
    async with target.clients() as (requests,):
        for protocol, counted in [("/coverage-net/nope/1.0.0", 1), ("/other/thing/1", 0)]:
            with pytest.raises(RequestError) as info:
                await requests.request(PEER_KEY.peer_id, protocol, b"x", LIVENESS_S)
            assert info.value.kind == "unsupported", info.value
            target.expected["unknown_protocol"] += counted


@pytest.mark.slow
async def test_a_thousand_concurrent_requests_from_ten_hosts_all_complete(target):
    per_client = 100
    answers: dict[tuple[int, int], bytes] = {}

    def payload(client: int, index: int) -> bytes:
        return f"{client}:{index}:".encode() * (1 + (client * per_client + index) % 200)

    async with target.clients(10) as clients:
        async def one(client: int, index: int) -> None:
            answers[client, index] = await target.ping(clients[client], payload(client, index))

        async with trio.open_nursery() as nursery:
            for client in range(len(clients)):
                for index in range(per_client):
                    nursery.start_soon(one, client, index)
    assert len(answers) == 1000
    assert all(answer == payload(*key) for key, answer in answers.items())


@pytest.mark.slow
async def test_every_outcome_is_counted_and_the_peer_keeps_serving(target):
    proc = target.proc
    async with target.clients() as (requests,):
        assert await target.ping(requests, b"last") == b"last"

    def counted() -> bool:
        status = proc.status()
        return status is not None and Counter(status["metrics"]["requests"]) == target.expected

    try:
        await trio.to_thread.run_sync(lambda: wait_for(counted, timeout_s=LIVENESS_S))
    finally:
        print("expected", dict(target.expected), "peer counted",
              proc.status()["metrics"]["requests"])
    assert {"served", "bad_length", "oversize", "truncated", "stalled", "busy",
            "unknown_protocol"} <= set(target.expected)
    assert proc.running()
    assert "Traceback" not in proc.log_path.read_text(encoding="utf-8")
