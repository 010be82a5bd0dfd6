"""coverage_net.p2p without a network: the gossip check, topics and epochs, the sync
answers (against a real SQLite store), configuration parsing, metrics and the test
topology helper. The peers themselves are exercised in the network tests."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coverage_net.identity import Keypair
from coverage_net.messages import (
    ANNOUNCEMENT_PARTITION_MS,
    MAX_MESSAGE_BYTES,
    BeaconReport,
    Challenge,
    DataTransferReceipt,
    HotspotAnnouncement,
    Message,
    WitnessReport,
)
from coverage_net.node import PeerConfig
from coverage_net.p2p import (
    GOSSIP_PROTOCOLS,
    IDS_PAGE,
    MAX_GET_IDS,
    REJECT_REASONS,
    TOPIC_PREFIX,
    TOPICS,
    GossipParams,
    PeerConfigError,
    PeerMetrics,
    Verdict,
    answer_sync_request,
    check_gossip_payload,
    parse_bootstrap,
    read_blocklist,
    topic_of,
    type_of_topic,
)
from coverage_net.p2p._sync import MAX_PARTITION, SYNC_LIMITS, decode_sync, encode_sync
from coverage_net.p2p.testing import sparse_topology, witness_reports
from coverage_net.store import MessageStore

FUZZ = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])

ALICE = Keypair.from_seed(bytes(range(32)))
BOB = Keypair.from_seed(bytes(range(32, 64)))
CAROL = Keypair.from_seed(bytes(range(64, 96)))
CELL = 0x8A2A1072B59FFFF  # resolution 10
T0_MS = 1_700_000_000_000

CHALLENGE = Challenge(challenger_key=ALICE.public_key, challengee_key=BOB.public_key, epoch=42,
                      secret_hash=hashlib.sha256(b"secret").digest(), sealed_secret=bytes(80),
                      timestamp_ms=T0_MS)
CHALLENGE_ID = CHALLENGE.sign(ALICE).content_id
PAYLOAD_HASH = hashlib.sha256(b"payload").digest()

# one unsigned sample per type, and who signs it
SAMPLES: dict[type[Message], tuple[Keypair, Message]] = {
    HotspotAnnouncement: (ALICE, HotspotAnnouncement(
        hotspot_key=ALICE.public_key, cell=CELL, antenna_gain_dbi=2.5, antenna_height_m=12.0,
        region="EU868", timestamp_ms=T0_MS)),
    Challenge: (ALICE, CHALLENGE),
    BeaconReport: (BOB, BeaconReport(
        hotspot_key=BOB.public_key, challenge_id=CHALLENGE_ID, epoch=42, secret=bytes(32),
        payload_hash=PAYLOAD_HASH, freq_hz=868_100_000, spreading_factor=9, bandwidth_hz=125_000,
        tx_power_dbm=14.0, eirp_centi_dbm=1_600,
        radio_timestamp_us=123_456_789, host_time_ms=T0_MS + 1_000)),
    WitnessReport: (ALICE, dataclasses.replace(
        next(witness_reports(ALICE, 1, host_time_ms=T0_MS + 1_020, epoch=42,
                             challenge_id=CHALLENGE_ID)),
        signature=None)),
    DataTransferReceipt: (BOB, DataTransferReceipt(
        router_key=BOB.public_key, hotspot_key=ALICE.public_key, packet_hash=PAYLOAD_HASH,
        epoch=42, payload_bytes=23, data_credits=1, timestamp_ms=T0_MS + 2_000)),
}
TYPES = list(SAMPLES)


def signed(cls: type[Message]) -> Message:
    keypair, message = SAMPLES[cls]
    return message.sign(keypair)


def body(cls: type[Message]) -> dict:
    """The decoded map of a signed sample, to be mutated by the tests."""
    return cbor2.loads(signed(cls).to_cbor())


def _without(mapping: dict, *keys: str) -> dict:
    return {k: v for k, v in mapping.items() if k not in keys}


def enc(value: object) -> bytes:
    return cbor2.dumps(value, canonical=True)


def topic(cls: type[Message]) -> str:
    return TOPIC_PREFIX + cls.TYPE


def rejected(verdict: Verdict, reason: str) -> None:
    assert not verdict.ok, verdict
    assert verdict.message is None
    assert verdict.reason == reason, verdict
    assert reason in REJECT_REASONS
    assert verdict.detail  # says what was wrong


# --- check_gossip_payload ------------------------------------------------------------------


@pytest.mark.parametrize("cls", TYPES)
def test_a_valid_message_on_its_own_topic_is_accepted(cls):
    message = signed(cls)
    verdict = check_gossip_payload(message.to_cbor(), topic(cls))
    assert verdict.ok
    assert verdict.reason is None
    assert verdict.message == message
    assert type(verdict.message) is cls


@pytest.mark.parametrize("cls", TYPES)
def test_a_valid_message_on_another_topic_is_wrong_topic(cls):
    data = signed(cls).to_cbor()
    others = [t for t in TOPICS if t != topic(cls)]
    assert len(others) == len(TYPES) - 1
    for other in [*others, TOPIC_PREFIX + "no_such_type", ""]:
        rejected(check_gossip_payload(data, other), "wrong_topic")


@pytest.mark.parametrize("cls", TYPES)
def test_oversize_is_refused_before_parsing(cls):
    data = signed(cls).to_cbor()
    padded = data + bytes(MAX_MESSAGE_BYTES + 1 - len(data))
    assert len(padded) == MAX_MESSAGE_BYTES + 1
    rejected(check_gossip_payload(padded, topic(cls)), "oversize")
    big_map = enc({**body(cls), "pad": bytes(MAX_MESSAGE_BYTES)})
    rejected(check_gossip_payload(big_map, topic(cls)), "oversize")
    # at the limit it is parsed (and refused for what it is, not for its size)
    verdict = check_gossip_payload(data + bytes(MAX_MESSAGE_BYTES - len(data)), topic(cls))
    assert verdict.reason == "not_cbor"  # one item then trailing bytes: not one CBOR item


@pytest.mark.parametrize("data", [
    b"", b"\xff", b"\x1c", b"\x5f\x41", b"\xa1", b"\x7a\xff\xff\xff\xff", b"\x62\xc3\x28",
    b"\xf8\x01", b"\x9f\x01", b"\xc2\x61",
], ids=repr)
def test_bytes_that_are_not_cbor_are_not_cbor(data):
    rejected(check_gossip_payload(data, TOPICS[0]), "not_cbor")


@pytest.mark.parametrize("cls", TYPES)
def test_every_truncation_of_a_valid_message_is_not_cbor(cls):
    data = signed(cls).to_cbor()
    for cut in range(len(data)):
        verdict = check_gossip_payload(data[:cut], topic(cls))
        assert verdict.reason == "not_cbor", (cut, verdict)


@pytest.mark.parametrize("cls", TYPES)
@pytest.mark.parametrize("mutate", [
    pytest.param(lambda m, cls: _without(m, "signature"), id="no-signature"),
    pytest.param(lambda m, cls: _without(m, "timestamp_ms", "host_time_ms"), id="missing-field"),
    pytest.param(lambda m, cls: {**m, "extra": 1}, id="extra-field"),
    pytest.param(lambda m, cls: {**m, "signature": "not bytes"}, id="signature-as-text"),
    pytest.param(lambda m, cls: {**m, "signature": m["signature"][:63]}, id="short-signature"),
    pytest.param(lambda m, cls: {**m, cls.SIGNER: 7}, id="key-as-int"),
    pytest.param(lambda m, cls: {**m, cls.SIGNER: m[cls.SIGNER][:31]}, id="short-key"),
    pytest.param(lambda m, cls: {**m, "version": "1"}, id="version-as-text"),
    pytest.param(lambda m, cls: {**m, "type": 3}, id="type-as-int"),
    pytest.param(lambda m, cls: _without(m, "type"), id="no-type"),
    pytest.param(lambda m, cls: list(m.items()), id="a-list"),
    pytest.param(lambda m, cls: 42, id="an-int"),
    pytest.param(lambda m, cls: m["signature"], id="bytes"),
    pytest.param(lambda m, cls: None, id="null"),
])
def test_valid_cbor_with_the_wrong_schema_is_bad_schema(cls, mutate):
    data = enc(mutate(body(cls), cls))
    cbor2.loads(data)  # it is CBOR
    rejected(check_gossip_payload(data, topic(cls)), "bad_schema")


@pytest.mark.parametrize("cls", TYPES)
def test_non_canonical_encoding_is_bad_schema_and_trailing_bytes_not_cbor(cls):
    data = signed(cls).to_cbor()
    unsorted = cbor2.dumps(dict(sorted(body(cls).items(), reverse=True)), canonical=False)
    assert unsorted != data and cbor2.loads(unsorted) == body(cls)
    rejected(check_gossip_payload(unsorted, topic(cls)), "bad_schema")
    # CBOR only if exactly one well-formed item with nothing after it
    rejected(check_gossip_payload(data + b"\x00", topic(cls)), "not_cbor")


@pytest.mark.parametrize("cls", TYPES)
def test_an_unknown_type_or_version_is_unknown_type(cls):
    for change in ({"type": "no_such_type"}, {"type": "challenge2"}, {"version": 2}):
        data = enc({**body(cls), **change})
        rejected(check_gossip_payload(data, topic(cls)), "unknown_type")


@pytest.mark.parametrize("cls", TYPES)
def test_forged_or_altered_messages_are_bad_signature(cls):
    keypair, unsigned = SAMPLES[cls]
    message = signed(cls)
    for bit in (0, 7, 100, 511):
        sig = bytearray(message.signature)
        sig[bit // 8] ^= 1 << (bit % 8)
        forged = dataclasses.replace(message, signature=bytes(sig))
        rejected(check_gossip_payload(forged.to_cbor(), topic(cls)), "bad_signature")
    assert keypair is not CAROL
    by_another_key = dataclasses.replace(unsigned, signature=CAROL.sign(unsigned.signing_bytes()))
    rejected(check_gossip_payload(by_another_key.to_cbor(), topic(cls)), "bad_signature")
    # the signer's own signature over another type's domain
    other_domain = keypair.sign(b"coverage-net/v1/other\x00" + unsigned.signing_bytes()
                                [len(unsigned.DOMAIN):])
    cross = dataclasses.replace(unsigned, signature=other_domain)
    rejected(check_gossip_payload(cross.to_cbor(), topic(cls)), "bad_signature")
    # a field changed after signing, signature kept
    altered = enc({**body(cls), "freq_hz": 868_300_000} if "freq_hz" in body(cls)
                  else {**body(cls), "timestamp_ms": T0_MS + 1})
    rejected(check_gossip_payload(altered, topic(cls)), "bad_signature")


def _check_never_raises(data: bytes, topic_: str) -> Verdict:
    verdict = check_gossip_payload(data, topic_)
    assert isinstance(verdict, Verdict)
    if verdict.ok:
        assert verdict.reason is None
        assert verdict.message.to_cbor() == data  # only a canonical, signed message passes
        assert topic_of(verdict.message) == topic_
    else:
        assert verdict.reason in REJECT_REASONS, verdict
    return verdict


@FUZZ
@given(st.binary(max_size=MAX_MESSAGE_BYTES + 64), st.sampled_from(TOPICS) | st.text(max_size=30))
def test_random_bytes_never_raise(data, topic_):
    verdict = _check_never_raises(data, topic_)
    assert not verdict.ok
    if len(data) > MAX_MESSAGE_BYTES:
        assert verdict.reason == "oversize"


@FUZZ
@given(st.sampled_from(TYPES), st.data())
def test_mutated_valid_encodings_never_raise(cls, data):
    original = signed(cls).to_cbor()
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        action = data.draw(st.sampled_from(["flip", "set", "insert", "delete"]), label="action")
        at = data.draw(st.integers(0, max(0, len(mutated) - 1)), label="at")
        if action == "flip" and mutated:
            mutated[at] ^= 1 << data.draw(st.integers(0, 7), label="bit")
        elif action == "set" and mutated:
            mutated[at] = data.draw(st.integers(0, 255), label="value")
        elif action == "insert":
            mutated[at:at] = data.draw(st.binary(min_size=1, max_size=8), label="inserted")
        elif mutated:
            del mutated[at:at + data.draw(st.integers(1, 8), label="deleted")]
    verdict = _check_never_raises(bytes(mutated), topic(cls))
    if bytes(mutated) != original:
        assert not verdict.ok  # no change to a signed message keeps it valid


# --- topics and epochs ---------------------------------------------------------------------


def test_topics_are_distinct_prefixed_and_one_per_type():
    assert len(TOPICS) == len(set(TOPICS)) == 5
    assert all(t.startswith(TOPIC_PREFIX) for t in TOPICS)
    assert {type_of_topic(t) for t in TOPICS} == {cls.TYPE for cls in TYPES}
    for cls in TYPES:
        assert topic_of(signed(cls)) == topic(cls)
        assert type_of_topic(topic_of(signed(cls))) == cls.TYPE


@pytest.mark.parametrize("name", ["", "challenge", TOPIC_PREFIX, TOPIC_PREFIX + "nope",
                                  TOPIC_PREFIX + "challenge/", TOPICS[0].upper()])
def test_type_of_an_unknown_topic_is_none(name):
    assert type_of_topic(name) is None


def test_partition_of_each_type():
    challenge = signed(Challenge)
    assert challenge.sync_partition == 42  # its own field, not its timestamp
    assert dataclasses.replace(challenge, epoch=7).sync_partition == 7
    announcement = signed(HotspotAnnouncement)
    assert announcement.sync_partition == T0_MS // ANNOUNCEMENT_PARTITION_MS == 472_222
    for cls in (BeaconReport, WitnessReport):  # with their challenge, whatever their clock
        assert signed(cls).sync_partition == 42
    # the bucket edges
    boundary = 472_223 * ANNOUNCEMENT_PARTITION_MS
    before, at = (dataclasses.replace(announcement, timestamp_ms=boundary + d) for d in (-1, 0))
    assert (before.sync_partition, at.sync_partition) == (472_222, 472_223)
    reports = list(witness_reports(ALICE, 2, host_time_ms=boundary - 1, epoch=9))
    assert [r.sync_partition for r in reports] == [9, 9]


# --- answer_sync_request against a real store -------------------------------------------


EPOCH_A = 42  # the samples' challenge epoch
WITNESS_TOPIC = TOPIC_PREFIX + WitnessReport.TYPE


def _put(store: MessageStore, message: Message) -> None:
    assert store.put(message.content_id, topic_of(message), message.sync_partition, message.TYPE,
                     message.to_cbor(), received_ms=T0_MS)


@pytest.fixture
def store(tmp_path):
    """Every sample, plus 7 witness reports in two epochs (3 in EPOCH_A, 4 in the next)."""
    with MessageStore.open(tmp_path) as opened:
        for cls in TYPES:
            _put(opened, signed(cls))
        for report in _two_epochs_of_reports():
            _put(opened, report)
        yield opened


def _two_epochs_of_reports() -> list[WitnessReport]:
    return [*witness_reports(BOB, 3, host_time_ms=T0_MS, epoch=EPOCH_A, tag=b"w"),
            *witness_reports(BOB, 4, host_time_ms=T0_MS, epoch=EPOCH_A + 1, tag=b"w")]


def _witness_ids(epochs: set[int]) -> list[bytes]:
    reports = [signed(WitnessReport), *_two_epochs_of_reports()]
    return sorted(r.content_id for r in reports if r.sync_partition in epochs)


def test_digests_match_the_store_and_the_definition(store):
    response = answer_sync_request(store, {"op": "digests", "topic": WITNESS_TOPIC, "from": 0,
                                           "to": MAX_PARTITION})
    expected = store.partition_digests(topic=WITNESS_TOPIC, partition_from=0,
                                       partition_to=MAX_PARTITION)
    assert response == {"digests": [[e, n, d] for e, (n, d) in sorted(expected.items())]}
    # independently: per epoch, the count and sha256 of the sorted ids
    by_epoch = {EPOCH_A: _witness_ids({EPOCH_A}), EPOCH_A + 1: _witness_ids({EPOCH_A + 1})}
    assert [len(v) for v in by_epoch.values()] == [4, 4]
    assert response["digests"] == [[e, len(ids), hashlib.sha256(b"".join(ids)).digest()]
                                   for e, ids in by_epoch.items()]
    one = answer_sync_request(store, {"op": "digests", "topic": WITNESS_TOPIC,
                                      "from": EPOCH_A + 1, "to": EPOCH_A + 1})
    assert one == {"digests": response["digests"][1:]}
    none = answer_sync_request(store, {"op": "digests", "topic": WITNESS_TOPIC, "from": 0,
                                       "to": EPOCH_A - 1})
    assert none == {"digests": []}
    challenges = answer_sync_request(store, {"op": "digests", "topic": topic(Challenge),
                                             "from": 0, "to": MAX_PARTITION})
    assert challenges == {"digests": [[42, 1, hashlib.sha256(CHALLENGE_ID).digest()]]}


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 8, IDS_PAGE])
def test_ids_pages_with_limit_and_after(store, limit):
    pages, after = [], None
    while True:
        request = {"op": "ids", "topic": WITNESS_TOPIC, "from": EPOCH_A, "to": EPOCH_A + 1,
                   "after": after, "limit": limit}
        page = answer_sync_request(store, request)["ids"]
        if not page:
            break
        assert len(page) <= limit
        pages.append(page)
        after = page[-1]
    flat = [i for page in pages for i in page]
    assert flat == _witness_ids({EPOCH_A, EPOCH_A + 1})
    assert len(pages) == -(-8 // limit)
    assert all(len(p) == limit for p in pages[:-1])


def test_ids_defaults_and_ranges(store):
    everything = _witness_ids({EPOCH_A, EPOCH_A + 1})
    response = answer_sync_request(store, {"op": "ids", "topic": WITNESS_TOPIC, "from": 0,
                                           "to": MAX_PARTITION})  # no after, no limit
    assert response == {"ids": everything}
    later = answer_sync_request(store, {"op": "ids", "topic": WITNESS_TOPIC, "from": EPOCH_A + 1,
                                        "to": EPOCH_A + 1, "after": everything[0]})
    assert later == {"ids": [i for i in _witness_ids({EPOCH_A + 1}) if i > everything[0]]}
    assert answer_sync_request(store, {"op": "ids", "topic": topic(BeaconReport), "from": 0,
                                       "to": MAX_PARTITION}) == {"ids": [signed(BeaconReport)
                                                                     .content_id]}


def test_get_returns_held_messages_in_order_and_skips_unknown_ids(store):
    held = [signed(cls) for cls in reversed(TYPES)][:4]
    unknown = [bytes(32), b"\xff" * 32]
    ids = [unknown[0], held[0].content_id, held[1].content_id, unknown[1],
           held[2].content_id, held[3].content_id]
    response = answer_sync_request(store, {"op": "get", "ids": ids})
    assert response == {"messages": [m.to_cbor() for m in held]}
    assert answer_sync_request(store, {"op": "get", "ids": unknown}) == {"messages": []}
    assert answer_sync_request(store, {"op": "get", "ids": []}) == {"messages": []}
    # the largest request allowed is answered
    full = answer_sync_request(store, {"op": "get", "ids": [held[0].content_id] * MAX_GET_IDS})
    assert full == {"messages": [held[0].to_cbor()] * MAX_GET_IDS}


def test_answers_survive_the_codec(store):
    limit = SYNC_LIMITS.max_response_bytes
    for request in ({"op": "digests", "topic": WITNESS_TOPIC, "from": 0, "to": MAX_PARTITION},
                    {"op": "ids", "topic": WITNESS_TOPIC, "from": 0, "to": MAX_PARTITION,
                     "after": None, "limit": 3},
                    {"op": "get", "ids": _witness_ids({EPOCH_A})}):
        decoded = decode_sync(encode_sync(request), max_bytes=SYNC_LIMITS.max_request_bytes)
        assert decoded == request
        response = answer_sync_request(store, decoded)
        assert decode_sync(encode_sync(response), max_bytes=limit) == response


DIGESTS = {"op": "digests", "topic": WITNESS_TOPIC, "from": 0, "to": 10}
IDS = {"op": "ids", "topic": WITNESS_TOPIC, "from": 0, "to": 10}


@pytest.mark.parametrize(("request_", "match"), [
    ({"op": "delete"}, "unknown op 'delete'"),
    ({}, "unknown op 'None'"),
    ({"op": b"digests"}, "unknown op"),
    ({**DIGESTS, "topic": "/coverage-net/1/nope"}, "unknown topic '/coverage-net/1/nope'"),
    ({**DIGESTS, "topic": None}, "unknown topic"),
    ({**IDS, "topic": WitnessReport.TYPE}, "unknown topic"),
    ({**DIGESTS, "from": 5, "to": 4}, "'from' and 'to'"),
    ({**DIGESTS, "from": -1}, "'from' and 'to'"),
    ({**IDS, "to": MAX_PARTITION + 1}, "'from' and 'to'"),
    ({**DIGESTS, "from": "0"}, "'from' and 'to'"),
    ({**DIGESTS, "to": 1.0}, "'from' and 'to'"),
    ({**DIGESTS, "from": True}, "'from' and 'to'"),
    ({"op": "digests", "topic": WITNESS_TOPIC}, "'from' and 'to'"),
    ({**IDS, "limit": "5"}, "'limit'"),
    ({**IDS, "limit": 5.0}, "'limit'"),
    ({**IDS, "limit": True}, "'limit'"),
    ({**IDS, "limit": 0}, "'limit'"),
    ({**IDS, "limit": -1}, "'limit'"),
    ({**IDS, "limit": IDS_PAGE + 1}, "'limit'"),
    ({**IDS, "after": bytes(31)}, "'after'"),
    ({**IDS, "after": bytes(33)}, "'after'"),
    ({**IDS, "after": "00" * 32}, "'after'"),
    ({"op": "get", "ids": bytes(32)}, "'ids'"),
    ({"op": "get"}, "'ids'"),
    ({"op": "get", "ids": {"a": bytes(32)}}, "'ids'"),
    ({"op": "get", "ids": [bytes(32)] * (MAX_GET_IDS + 1)}, "'ids'"),
    ({"op": "get", "ids": [bytes(32), bytes(31)]}, "'ids'"),
    ({"op": "get", "ids": [bytes(32), None]}, "'ids'"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_out_of_protocol_requests_are_refused_with_a_reason(store, request_, match):
    with pytest.raises(ValueError, match=match):
        answer_sync_request(store, request_)


@pytest.mark.parametrize("request_", [[], ["op", "digests"], "digests", None, 3, b"\xa0"],
                         ids=repr)
def test_a_request_that_is_not_a_map_is_refused(store, request_):
    with pytest.raises(ValueError, match="a sync request is a CBOR map"):
        answer_sync_request(store, request_)


CBOR_SCALARS = (st.none() | st.booleans() | st.integers(-(2**64), 2**64 - 1)
                | st.floats() | st.text(max_size=20) | st.binary(max_size=40)
                | st.binary(min_size=32, max_size=32))
CBOR_VALUES = st.recursive(
    CBOR_SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)
SYNC_VALUES = {
    "op": st.sampled_from(["digests", "ids", "get"]) | CBOR_VALUES,
    "topic": st.sampled_from(TOPICS) | CBOR_VALUES,
    "from": st.integers(-2, EPOCH_A + 2) | st.sampled_from([MAX_PARTITION, MAX_PARTITION + 1])
    | CBOR_VALUES,
    "to": st.integers(-2, EPOCH_A + 2) | st.sampled_from([MAX_PARTITION, MAX_PARTITION + 1])
    | CBOR_VALUES,
    "after": st.none() | st.binary(min_size=32, max_size=32) | CBOR_VALUES,
    "limit": st.integers(-1, IDS_PAGE + 1) | CBOR_VALUES,
    "ids": st.lists(st.binary(min_size=32, max_size=32)
                    | st.sampled_from([signed(cls).content_id for cls in TYPES]), max_size=6)
    | CBOR_VALUES,
}
SYNC_REQUESTS = st.fixed_dictionaries({}, optional=SYNC_VALUES).flatmap(
    lambda known: st.dictionaries(st.text(max_size=8), CBOR_VALUES, max_size=3).map(
        lambda extra: {**extra, **known}))


@settings(FUZZ, max_examples=400,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(SYNC_REQUESTS)
def test_random_requests_are_answered_or_refused_with_value_or_type_errors(store, request_):
    # the store is only read, so sharing it between examples is sound
    try:
        response = answer_sync_request(store, request_)
    except (ValueError, TypeError):
        return
    assert len(response) == 1
    (key,) = response
    assert key == {"digests": "digests", "ids": "ids", "get": "messages"}[request_["op"]]
    assert isinstance(response[key], list)
    assert decode_sync(encode_sync(response), max_bytes=SYNC_LIMITS.max_response_bytes) \
        == response


# --- the sync codec ------------------------------------------------------------------------


@pytest.mark.parametrize(("payload", "match"), [
    (b"", "not one well-formed CBOR item"), (b"\xff", "not one well-formed CBOR item"),
    (b"\xa1\x61", "not one well-formed CBOR item"),
    (b"\x62\xc3\x28", "not one well-formed CBOR item"),
    (cbor2.dumps({"op": "ids"}) + b"\x00", "not one well-formed CBOR item"),  # trailing
    (b"\xc1\x1a\x00\x00\x00\x01", "not one well-formed CBOR item"),  # a tag
    (cbor2.dumps([1, 2]), "expected a CBOR map, got list"),
    (cbor2.dumps(7), "expected a CBOR map, got int"),
    (cbor2.dumps("op"), "expected a CBOR map, got str"),
    (cbor2.dumps(None), "expected a CBOR map, got NoneType"),
], ids=repr)
def test_sync_codec_refuses_non_cbor_trailing_bytes_tags_and_non_maps(payload, match):
    with pytest.raises(ValueError, match=match):
        decode_sync(payload, max_bytes=SYNC_LIMITS.max_request_bytes)


def test_sync_codec_refuses_oversize_before_parsing():
    payload = encode_sync({"ids": [bytes(32)] * 100})
    with pytest.raises(ValueError, match="not one well-formed CBOR item"):
        decode_sync(payload, max_bytes=len(payload) - 1)


def test_sync_codec_round_trips_maps_canonically():
    request = {"to": 5, "op": "ids", "after": None, "topic": TOPICS[0], "from": 1}
    data = encode_sync(request)
    assert data == cbor2.dumps(request, canonical=True)
    assert decode_sync(data, max_bytes=1024) == request
    assert decode_sync(encode_sync({"ids": [bytes(32)]}), max_bytes=1024) == {"ids": [bytes(32)]}


# --- configuration -------------------------------------------------------------------------


def test_parse_bootstrap_reads_a_good_address():
    addr = f"/ip4/127.0.0.1/tcp/4001/p2p/{ALICE.peer_id}"
    info = parse_bootstrap(addr)
    assert info.peer_id.to_base58() == ALICE.peer_id
    assert [str(a) for a in info.addrs] == ["/ip4/127.0.0.1/tcp/4001"]


@pytest.mark.parametrize("addr", [
    "", "garbage", "/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/tcp/4001/p2p/",
    "/ip4/127.0.0.1/tcp/4001/p2p/notapeerid", "/ip4/999.0.0.1/tcp/4001/p2p/{peer}",
    "/ip4/127.0.0.1/tcp/99999/p2p/{peer}", "/ip4/127.0.0.1/tcp/4001/p2p/{peer}/extra",
])
def test_parse_bootstrap_refuses_bad_addresses_naming_them(addr):
    addr = addr.format(peer=ALICE.peer_id)
    with pytest.raises(PeerConfigError, match="bad bootstrap address") as info:
        parse_bootstrap(addr)
    assert repr(addr) in str(info.value)


@pytest.mark.parametrize("addr", ["/p2p/{peer}", "/ip4/127.0.0.1/udp/4001/p2p/{peer}"])
def test_parse_bootstrap_refuses_addresses_without_a_tcp_transport(addr):
    addr = addr.format(peer=ALICE.peer_id)
    with pytest.raises(PeerConfigError, match="bad bootstrap address"):
        parse_bootstrap(addr)


def test_read_blocklist(tmp_path):
    path = tmp_path / "blocklist"
    path.write_text(
        "# peers we never stay connected to\n"
        f"{ALICE.peer_id}\n"
        "\n"
        f"   {BOB.peer_id}   # the noisy one\n"
        "\t\n"
        "#" + CAROL.peer_id + "\n"
        f"{ALICE.peer_id}\n", encoding="utf-8")
    assert read_blocklist(path) == frozenset({ALICE.peer_id, BOB.peer_id})
    assert read_blocklist(tmp_path / "absent") == frozenset()
    path.write_text("", encoding="utf-8")
    assert read_blocklist(path) == frozenset()


def test_gossip_params_defaults_are_the_spec():
    params = GossipParams()
    assert (params.degree, params.degree_low, params.degree_high) == (6, 4, 12)
    assert params.heartbeat_interval_s == 1
    assert GOSSIP_PROTOCOLS == ("/meshsub/1.1.0", "/meshsub/1.0.0")
    assert GossipParams(degree=4, degree_low=4, degree_high=4).degree == 4  # bounds inclusive


@pytest.mark.parametrize(("changes", "match"), [
    ({"degree_low": 0, "degree": 1}, "D_low=0"),
    ({"degree_low": 7}, "D_low=7, D=6"),
    ({"degree": 13}, "D=13, D_high=12"),
    ({"degree_high": 5}, "D_high=5"),
    ({"degree": 0, "degree_low": 0}, "1 <= D_low"),
    ({"heartbeat_interval_s": 0}, "heartbeat_interval_s must be positive; got 0"),
    ({"relay_limit_per_s": -1.0}, "relay_limit_per_s must be positive"),
    ({"outbound_queue_slots": 0}, "outbound_queue_slots must be positive"),
    ({"seen_ttl_s": -5}, "seen_ttl_s must be positive"),
])
def test_gossip_params_refuse_bad_values(changes, match):
    with pytest.raises(PeerConfigError, match=match):
        GossipParams(**changes)


@pytest.mark.parametrize("addr", ["garbage", "", "/ip4/1.2.3.4/udp/1", "/dns/example.com/tcp/1",
                                  "/dns4/localhost/tcp/4001", "/tcp/4001", "/ip4/127.0.0.1",
                                  "/ip4/256.0.0.1/tcp/1"])
def test_peer_config_refuses_bad_listen_addresses(tmp_path, addr):
    with pytest.raises(PeerConfigError, match="bad listen address") as info:
        PeerConfig(keypair=ALICE, data_dir=tmp_path, listen_addrs=(addr,))
    assert repr(addr) in str(info.value)
    assert not any(tmp_path.iterdir())  # checked before anything is opened


def test_peer_config_accepts_tcp_listen_and_good_bootstrap(tmp_path):
    boot = f"/ip4/127.0.0.1/tcp/4001/p2p/{BOB.peer_id}"
    config = PeerConfig(keypair=ALICE, data_dir=tmp_path,
                        listen_addrs=("/ip4/127.0.0.1/tcp/0", "/ip6/::1/tcp/4001"),
                        bootstrap=(boot,))
    assert config.bootstrap == (boot,)
    assert config.gossip == GossipParams()


@pytest.mark.parametrize("addr", ["garbage", "/ip4/127.0.0.1/tcp/4001"])
def test_peer_config_refuses_a_bad_bootstrap(tmp_path, addr):
    good = f"/ip4/127.0.0.1/tcp/4001/p2p/{BOB.peer_id}"
    with pytest.raises(PeerConfigError, match=f"bad bootstrap address {addr!r}"):
        PeerConfig(keypair=ALICE, data_dir=tmp_path, bootstrap=(good, addr))


@pytest.mark.parametrize("changes", [{"sync_interval_s": 0}, {"status_interval_s": -1.0}])
def test_peer_config_refuses_non_positive_intervals(tmp_path, changes):
    with pytest.raises(PeerConfigError, match="must be positive"):
        PeerConfig(keypair=ALICE, data_dir=tmp_path, **changes)


# --- metrics -------------------------------------------------------------------------------


def test_metrics_snapshot_is_json_and_counts_rejects_and_drops():
    metrics = PeerMetrics()
    empty = metrics.snapshot()
    assert empty["rejected"] == {} and empty["dropped"] == {}
    assert json.loads(json.dumps(empty)) == empty
    for reason in ("not_cbor", "bad_signature", "not_cbor", "oversize"):
        metrics.reject(reason)
    metrics.drop("outbound_queue", 5)
    metrics.drop("spam_limit")
    metrics.drop("outbound_queue")
    metrics.accepted, metrics.stored, metrics.sync_rounds = 3, 2, 1
    snapshot = metrics.snapshot()
    assert json.loads(json.dumps(snapshot)) == snapshot
    assert snapshot["rejected"] == {"bad_signature": 1, "not_cbor": 2, "oversize": 1}
    assert list(snapshot["rejected"]) == sorted(snapshot["rejected"])
    assert snapshot["dropped"] == {"outbound_queue": 6, "spam_limit": 1}
    assert (snapshot["accepted"], snapshot["stored"], snapshot["sync_rounds"]) == (3, 2, 1)
    # a copy: later counts do not change a snapshot already taken
    metrics.reject("oversize")
    assert snapshot["rejected"]["oversize"] == 1
    assert metrics.snapshot()["rejected"]["oversize"] == 2


def test_reject_reasons_are_the_documented_ones():
    """The payload reasons, plus the peer-level one (a blocked forwarder)."""
    assert REJECT_REASONS == ("oversize", "not_cbor", "bad_schema", "unknown_type",
                              "bad_signature", "wrong_topic", "blocked_peer")


# --- sparse_topology -----------------------------------------------------------------------


@pytest.mark.parametrize(("count", "links", "seed"),
                         [(1, 2, 0), (2, 2, 0), (10, 1, 3), (30, 2, 0), (30, 3, 7), (50, 5, 1)])
def test_sparse_topology_links_each_peer_to_earlier_peers_and_connects(count, links, seed):
    topology = sparse_topology(count, links=links, seed=seed)
    assert topology == sparse_topology(count, links=links, seed=seed)  # deterministic
    assert len(topology) == count
    for i, earlier in enumerate(topology):
        assert len(earlier) == len(set(earlier)) == min(i, links)
        assert all(0 <= j < i for j in earlier)
    reached, frontier = {0}, [0]
    neighbours = {i: set() for i in range(count)}
    for i, earlier in enumerate(topology):
        for j in earlier:
            neighbours[i].add(j)
            neighbours[j].add(i)
    while frontier:
        node = frontier.pop()
        for other in neighbours[node] - reached:
            reached.add(other)
            frontier.append(other)
    assert reached == set(range(count))


def test_sparse_topology_depends_on_the_seed():
    layouts = {json.dumps(sparse_topology(30, links=2, seed=seed)) for seed in range(5)}
    assert len(layouts) == 5
    assert sparse_topology(30, links=2) == sparse_topology(30, links=2, seed=0)
    assert sparse_topology(3, links=2, seed=9) == [[], [0], [0, 1]]


def test_digests_for_several_ranges_answer_one_list_per_range(store):
    single = [answer_sync_request(store, {"op": "digests", "topic": t, "from": 0,
                                          "to": MAX_PARTITION})["digests"] for t in TOPICS]
    ranges = [[t, 0, MAX_PARTITION] for t in TOPICS]
    assert answer_sync_request(store, {"op": "digests", "ranges": ranges}) == {"digests": single}


@pytest.mark.parametrize("ranges", [
    [], "x", [[WITNESS_TOPIC, 0]], [["/no/such/topic", 0, 1]], [[WITNESS_TOPIC, 5, 1]],
    [[WITNESS_TOPIC, 0, MAX_PARTITION]] * 65,
], ids=repr)
def test_bad_ranges_are_refused(store, ranges):
    with pytest.raises(ValueError):
        answer_sync_request(store, {"op": "digests", "ranges": ranges})
