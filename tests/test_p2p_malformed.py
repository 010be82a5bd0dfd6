"""Malformed gossip against a running peer process: rejected, counted, peer stays up.

A plain libp2p node (no validators: an attacker, or a buggy implementation)
connects to a real ``coverage-net peer run`` process and publishes what
hypothesis makes of random bytes, truncated CBOR, wrong schemas, oversize
payloads, forged signatures and replays. It also writes gossip RPC frames that
are not protobuf at all, on fresh gossipsub streams. The peer's own counters
(its status file) must account for every one, by reason, and the peer must keep
serving.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter

import cbor2
import pytest
import trio
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from libp2p.network.stream.exceptions import StreamEOF, StreamReset
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from libp2p.utils.varint import encode_varint_prefixed

from coverage_net.identity import Keypair
from coverage_net.messages import MAX_MESSAGE_BYTES, BeaconReport, Challenge, HotspotAnnouncement
from coverage_net.p2p import (
    GOSSIP_PROTOCOLS,
    TOPICS,
    check_gossip_payload,
    gossip_id,
    topic_of,
)
from coverage_net.p2p.testing import PeerProcess, raw_gossip_client, wait_for, witness_reports

pytestmark = [pytest.mark.slow, pytest.mark.serial]  # a real peer held to a deadline

FUZZ = settings(max_examples=40, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])
ATTACKER = Keypair.from_seed(b"\x66" * 32)
PEER_KEY = Keypair.from_seed(b"\x67" * 32)
HOTSPOT = Keypair.from_seed(b"\x68" * 32)
T0_MS = 1_790_000_000_000
LIVENESS_S = 120


def _valid_messages() -> list[bytes]:
    challenge = Challenge(challenger_key=HOTSPOT.public_key, challengee_key=PEER_KEY.public_key,
                          epoch=3, secret_hash=hashlib.sha256(b"x").digest(),
                          sealed_secret=bytes(80), timestamp_ms=T0_MS).sign(HOTSPOT)
    announcement = HotspotAnnouncement(hotspot_key=HOTSPOT.public_key, cell=0x8A2A1072B59FFFF,
                                       antenna_gain_dbi=3.0, antenna_height_m=10.0,
                                       region="EU868", timestamp_ms=T0_MS).sign(HOTSPOT)
    beacon = BeaconReport(hotspot_key=HOTSPOT.public_key, challenge_id=challenge.content_id,
                          epoch=challenge.epoch, secret=bytes(32),
                          payload_hash=hashlib.sha256(b"p").digest(), freq_hz=868_100_000,
                          spreading_factor=9, bandwidth_hz=125_000, tx_power_dbm=14.0,
                          eirp_centi_dbm=1_600, radio_timestamp_us=1,
                          host_time_ms=T0_MS).sign(HOTSPOT)
    return [m.to_cbor() for m in (challenge, announcement, beacon,
                                  *witness_reports(HOTSPOT, 2, host_time_ms=T0_MS))]


VALID = _valid_messages()


class Harness:
    """A peer process and an attacker node (in a trio thread) connected to it."""

    def __init__(self, tmp) -> None:
        self.proc = PeerProcess(tmp / "peer", PEER_KEY)
        self.expected: Counter[str] = Counter()
        self.expected_seen = 0
        self.expected_bad_rpcs = 0
        self.sent: set[bytes] = set()
        self.sent_valid: set[bytes] = set()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._thread_main, daemon=True)

    def start(self) -> None:
        self.proc.start()
        self.proc.wait_ready(timeout_s=LIVENESS_S)
        self._thread.start()
        if not self._ready.wait(LIVENESS_S) or self._error:
            raise RuntimeError(f"attacker node did not connect: {self._error!r}")

    def _thread_main(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self.token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        async with raw_gossip_client(ATTACKER) as client:
            self.client = client
            await client.connect(self.proc.addr)
            with trio.fail_after(LIVENESS_S):
                while not all(client.pubsub.peer_topics.get(t) for t in TOPICS):
                    await trio.sleep(0.05)
            self._ready.set()
            await self._stop.wait()

    def publish(self, topic: str, data: bytes) -> str | None:
        """Publish; note what the peer must count. Returns the expected rejection reason.

        The gossip message id is the payload's SHA-256: a payload sent again is
        judged once. A valid one is dropped by the seen-cache (``gossip_seen``), an
        invalid one by py-libp2p's cache of validation results (not counted again).
        """
        verdict = check_gossip_payload(data, topic)
        msg_id = gossip_id(data)
        if msg_id in self.sent:
            self.expected_seen += 1 if verdict.ok else 0
        elif not verdict.ok:
            self.expected[verdict.reason] += 1
        self.sent.add(msg_id)
        if verdict.ok:
            self.sent_valid.add(verdict.message.content_id)
        trio.from_thread.run(self.client.publish, topic, data, trio_token=self.token)
        return verdict.reason

    def send_rpc_frame(self, payload: bytes) -> str:
        """Write one length-prefixed gossip RPC frame on a fresh /meshsub stream and
        wait until the peer ends that stream (its answer to a frame it cannot use;
        py-libp2p reports the reset to this reader as a reset or an end of stream).
        Returns "ended", or "closed" if the stream ended without an error."""
        self.expected_bad_rpcs += 1
        return trio.from_thread.run(self._send_rpc_frame, payload, trio_token=self.token)

    async def _send_rpc_frame(self, payload: bytes) -> str:
        host = self.client.host
        stream = await host.new_stream(ID.from_base58(PEER_KEY.peer_id), [GOSSIP_PROTOCOLS[0]])
        await stream.write(encode_varint_prefixed(payload))
        with trio.fail_after(LIVENESS_S):
            try:
                while await stream.read(65536):
                    pass
            except (StreamEOF, StreamReset):
                return "ended"
        return "closed"

    def sync_request(self, request: dict) -> dict:
        return trio.from_thread.run(self.client.sync_request, PEER_KEY.peer_id, request,
                                    trio_token=self.token)

    def stop(self) -> None:
        if self._thread.is_alive():
            trio.from_thread.run_sync(self._stop.set, trio_token=self.token)
            self._thread.join(30)
        self.proc.stop()


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    h = Harness(tmp_path_factory.mktemp("malformed"))
    try:
        h.start()
        yield h
    finally:
        h.stop()


@FUZZ
@given(data=st.binary(max_size=3000), topic=st.sampled_from(TOPICS))
def test_random_bytes_are_rejected(harness, data, topic):
    assert harness.publish(topic, data) in ("not_cbor", "bad_schema", "unknown_type")


@FUZZ
@given(index=st.integers(0, len(VALID) - 1), cut=st.floats(0, 0.999))
def test_truncated_cbor_is_rejected(harness, index, cut):
    data = VALID[index]
    assert harness.publish(TOPICS[0], data[:int(len(data) * cut)]) == "not_cbor"


@FUZZ
@given(body=st.dictionaries(st.text(max_size=12),
                            # 64-bit integers: larger ones are bignums, CBOR tags, which
                            # the strict codec refuses as not_cbor
                            st.one_of(st.integers(-(2**64), 2**64 - 1), st.binary(max_size=40),
                                      st.text(max_size=40),
                                      st.floats(allow_nan=False), st.none()), max_size=12))
def test_valid_cbor_with_a_wrong_schema_is_rejected(harness, body):
    assert harness.publish(TOPICS[1], cbor2.dumps(body, canonical=True)) in (
        "bad_schema", "unknown_type")


@FUZZ
@given(index=st.integers(0, len(VALID) - 1), field=st.data())
def test_a_valid_message_missing_a_field_is_rejected(harness, index, field):
    body = cbor2.loads(VALID[index])
    drop = field.draw(st.sampled_from(sorted(k for k in body if k not in ("type", "version"))))
    del body[drop]
    assert harness.publish(TOPICS[2], cbor2.dumps(body, canonical=True)) == "bad_schema"


@FUZZ
@given(size=st.integers(MAX_MESSAGE_BYTES + 1, 3 * MAX_MESSAGE_BYTES))
def test_oversize_is_rejected(harness, size):
    assert harness.publish(TOPICS[3], b"\xa1" + b"\x00" * (size - 1)) == "oversize"


@FUZZ
@given(index=st.integers(0, len(VALID) - 1), bit=st.integers(0, 64 * 8 - 1))
def test_forged_signatures_are_rejected(harness, index, bit):
    body = cbor2.loads(VALID[index])
    signature = bytearray(body["signature"])
    signature[bit // 8] ^= 1 << (bit % 8)
    body["signature"] = bytes(signature)
    data = cbor2.dumps(body, canonical=True)
    type_topic = next(t for t in TOPICS if t.endswith(body["type"]))
    assert harness.publish(type_topic, data) == "bad_signature"


def _parses_as_rpc(payload: bytes) -> bool:
    try:
        rpc_pb2.RPC().ParseFromString(payload)
    except Exception:
        return False
    return True


@FUZZ
@given(payload=st.binary(min_size=1, max_size=2000))
def test_gossip_frames_that_are_not_protobuf_reset_the_stream(harness, payload):
    """Before this was handled, one such frame ended the peer process."""
    assume(not _parses_as_rpc(payload))
    assert harness.send_rpc_frame(payload) == "ended"
    assert harness.proc.running(), harness.proc.exit_report()


def test_replays_are_stored_once_and_counted(harness):
    for data in VALID:
        topic = next(t for t in TOPICS if t.endswith(cbor2.loads(data)["type"]))
        assert harness.publish(topic, data) is None
        assert harness.publish(topic, data) is None  # the replay: same content id, same gossip id
    assert harness.expected_seen >= len(VALID)


def test_every_rejection_is_counted_and_the_peer_keeps_serving(harness):
    proc = harness.proc

    def counted() -> bool:
        status = proc.status()
        return (status is not None
                and Counter(status["metrics"]["rejected"]) == harness.expected
                and status["metrics"]["gossip_seen"] == harness.expected_seen
                and status["metrics"]["duplicates"] == 0
                and status["metrics"]["bad_rpcs"] == harness.expected_bad_rpcs)

    try:
        wait_for(counted, timeout_s=LIVENESS_S)
    finally:
        print("expected", dict(harness.expected), "seen again", harness.expected_seen,
              "bad RPC frames", harness.expected_bad_rpcs, "peer counted",
              proc.status()["metrics"])
    assert proc.running()
    assert sum(harness.expected.values()) > 200
    assert harness.expected_bad_rpcs >= 20
    assert set(harness.expected) >= {"not_cbor", "bad_schema", "oversize", "bad_signature"}
    # Stored once each; nothing rejected was stored.
    assert proc.content_ids() == harness.sent_valid
    rows = proc.query("SELECT COUNT(*), COUNT(DISTINCT content_id) FROM messages")
    assert rows[0][0] == rows[0][1] == len(harness.sent_valid)
    # Still serving: a new valid message is stored, sync answers, a bad request is refused.
    (fresh,) = witness_reports(HOTSPOT, 1, host_time_ms=T0_MS + 5, tag=b"fresh")
    harness.publish(topic_of(fresh), fresh.to_cbor())
    wait_for(lambda: fresh.content_id in proc.content_ids(), timeout_s=LIVENESS_S)
    response = harness.sync_request({"op": "ids", "topic": topic_of(fresh), "from": 0,
                                     "to": 2**63 - 1, "after": None, "limit": 1000})
    assert fresh.content_id in response["ids"]
    assert "error" in harness.sync_request({"op": "nonsense"})
    assert proc.running()
    assert "Traceback" not in proc.log_path.read_text(encoding="utf-8")
