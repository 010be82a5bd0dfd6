"""`decode`'s fast path against its strict path: the same messages, never a weaker check.

The fast path (`coverage_net.messages._wire.WirePlan`) may only accept what the
strict path accepts, with the same values and the same signing bytes; whatever it
does not accept, `decode` hands to the strict path, which names the error. So for
any input: the fast path returns None, or exactly what the strict path returns.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import ClassVar

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coverage_net.identity import Keypair
from coverage_net.messages import (
    EPOCH,
    HASH,
    MESSAGE_TYPES,
    PUBLIC_KEY,
    BeaconReport,
    Challenge,
    DataTransferReceipt,
    HotspotAnnouncement,
    Integer,
    ListOf,
    MalformedCBORError,
    Message,
    MessageError,
    OversizeMessageError,
    WitnessReport,
    decode,
    loads_cbor_item,
    spec,
)
from coverage_net.messages._base import _parse_fast, _parse_strict
from coverage_net.messages._cbor import (
    canonical_items,
    canonical_key_order,
    canonical_map_header,
    loads_cbor_quick,
)

FUZZ = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])

KEYS = [Keypair.from_seed(bytes([i]) * 32) for i in range(3)]
CHALLENGE_ID = hashlib.sha256(b"challenge").digest()
CELL = 0x8A2A1072B59FFFF


@dataclass(frozen=True, kw_only=True, repr=False)
class FastBallot(Message, register=False):
    """A test-only type with list fields (a key before the signature holds a list)."""

    TYPE: ClassVar[str] = "test_fast_ballot"
    SIGNER: ClassVar[str] = "voter_key"
    PARTITION_FIELD: ClassVar[str] = "round"

    voter_key: bytes = spec(PUBLIC_KEY)
    round: int = spec(EPOCH)
    ids: tuple[bytes, ...] = spec(ListOf(HASH, 4))
    weights: tuple[int, ...] = spec(ListOf(Integer(-1000, 1000, "weight"), 3))


TYPES = {**MESSAGE_TYPES, FastBallot.TYPE: FastBallot}


def sample(cls: type[Message], keypair: Keypair = KEYS[0]) -> Message:
    """A signed message of ``cls`` with ordinary values."""
    key = keypair.public_key
    common = {"challenge_id": CHALLENGE_ID, "epoch": 42, "payload_hash": bytes(range(32)),
              "freq_hz": 868_100_000, "spreading_factor": 9, "bandwidth_hz": 125_000,
              "radio_timestamp_us": 987_654_321, "host_time_ms": 1_700_000_001_020}
    fields = {
        HotspotAnnouncement: dict(hotspot_key=key, cell=CELL, antenna_gain_dbi=2.5,
                                  antenna_height_m=12.0, region="EU868",
                                  timestamp_ms=1_700_000_000_000),
        Challenge: dict(challenger_key=key, challengee_key=KEYS[1].public_key, epoch=42,
                        secret_hash=bytes(32), sealed_secret=bytes(range(80)),
                        timestamp_ms=1_700_000_000_000),
        BeaconReport: dict(hotspot_key=key, secret=bytes(range(1, 33)), tx_power_dbm=14.0,
                           eirp_centi_dbm=1_600, **common),
        WitnessReport: dict(witness_key=key, rssi_dbm=-112.5, snr_db=-7.25, **common),
        DataTransferReceipt: dict(router_key=key, hotspot_key=KEYS[1].public_key,
                                  packet_hash=bytes(range(32)), epoch=42, payload_bytes=23,
                                  data_credits=1, timestamp_ms=1_700_000_002_000),
        FastBallot: dict(voter_key=key, round=7, ids=[bytes(32), CHALLENGE_ID],
                         weights=[-3, 500]),
    }[cls]
    return cls(**fields).sign(keypair)


def check_agreement(data: bytes) -> None:
    """The fast path returns None, or the strict path's message and unsigned map."""
    fast = _parse_fast(data, TYPES)
    try:
        strict = _parse_strict(data, TYPES)
    except MessageError as exc:
        assert fast is None, f"fast path accepted what the strict path refuses: {exc}"
        return
    if fast is not None:
        assert fast[0] == strict[0] and fast[1] == strict[1]
        assert type(fast[0]) is type(strict[0])
        assert vars(fast[0]) == vars(strict[0])  # no stray attributes (type, version)


# --- valid messages take the fast path ------------------------------------------------------


@pytest.mark.parametrize("cls", list(TYPES.values()), ids=list(TYPES))
def test_every_type_takes_the_fast_path_with_the_strict_result(cls):
    message = sample(cls)
    data = message.to_cbor()
    fast = _parse_fast(data, TYPES)
    assert fast is not None
    assert fast[0] == message and fast[1] == message.signing_bytes()[len(cls.DOMAIN):]
    check_agreement(data)
    decoded = cls.from_cbor(data)
    assert decoded == message and decoded.content_id == message.content_id


HASHES = st.binary(min_size=32, max_size=32)
WITNESSES = st.builds(
    WitnessReport, witness_key=st.just(KEYS[2].public_key), challenge_id=HASHES,
    epoch=st.integers(0, 2**63 - 1), payload_hash=HASHES,
    rssi_dbm=st.floats(-200.0, 30.0), snr_db=st.floats(-60.0, 60.0),
    freq_hz=st.integers(30_000_000, 3_000_000_000), spreading_factor=st.sampled_from([7, 12]),
    bandwidth_hz=st.just(125_000), radio_timestamp_us=st.integers(0, 2**64 - 1),
    host_time_ms=st.integers(0, 2**63 - 1))


@FUZZ
@given(WITNESSES)
def test_any_valid_witness_report_takes_the_fast_path(report):
    """Integers of every width and floats of every size (half, single, double)."""
    message = report.sign(KEYS[2])
    data = message.to_cbor()
    fast = _parse_fast(data, TYPES)
    assert fast is not None and fast[0] == message
    check_agreement(data)
    assert decode(data) == message


@FUZZ
@given(st.lists(HASHES, max_size=4),
       st.lists(st.integers(-1000, 1000), max_size=3), st.integers(0, 2**63 - 1))
def test_any_valid_list_message_takes_the_fast_path(ids, weights, round_):
    message = FastBallot(voter_key=KEYS[0].public_key, round=round_, ids=ids,
                         weights=weights).sign(KEYS[0])
    assert _parse_fast(message.to_cbor(), TYPES) is not None
    assert FastBallot.from_cbor(message.to_cbor()) == message


# --- mutated inputs: the fast path never accepts more ----------------------------------------

EDIT = st.tuples(st.sampled_from(["set", "insert", "delete"]), st.integers(0, 2**16),
                 st.binary(min_size=1, max_size=3))


def _edit(data: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
    for action, position, chunk in edits:
        at = position % (len(data) + 1)
        if action == "set":
            data = data[:at] + chunk + data[at + len(chunk):]
        elif action == "insert":
            data = data[:at] + chunk + data[at:]
        else:
            data = data[:at] + data[at + len(chunk):]
    return data


@FUZZ
@given(st.sampled_from(list(TYPES.values())), st.lists(EDIT, min_size=1, max_size=3))
def test_byte_edits_of_a_valid_message(cls, edits):
    check_agreement(_edit(sample(cls).to_cbor(), edits))


SCALARS = (st.none() | st.booleans() | st.integers(-(2**64), 2**64 - 1)
           | st.floats() | st.text(max_size=12) | st.binary(max_size=90))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4), max_leaves=8)


@FUZZ
@given(st.sampled_from(list(TYPES.values())), st.data())
def test_field_edits_of_a_valid_message(cls, data):
    """Replaced, dropped and added fields, in canonical or in insertion order."""
    mapping = cbor2.loads(sample(cls).to_cbor())
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from(sorted(mapping) + ["extra", "type", "version"]))
        if data.draw(st.booleans()):
            mapping.pop(key, None)
        else:
            mapping[key] = data.draw(VALUES)
    if data.draw(st.booleans()):
        mapping = dict(reversed(mapping.items()))
    check_agreement(cbor2.dumps(mapping, canonical=data.draw(st.booleans())))


@pytest.mark.parametrize("cls", list(TYPES.values()), ids=list(TYPES))
def test_same_values_other_encodings_are_left_to_the_strict_path(cls):
    """Everything the fast path must see through: the decoded map is right, the bytes not."""
    data = sample(cls).to_cbor()
    mapping = cbor2.loads(data)
    signature = mapping["signature"]
    variants = [
        data + b"\x00",  # trailing byte
        cbor2.dumps(mapping),  # keys in canonical order, but floats (if any) as doubles
        cbor2.dumps(dict(sorted(mapping.items()))),  # keys sorted bytewise, not length-first
        data.replace(b"gversion\x01", b"gversion\x18\x01"),  # a longer integer
        data.replace(b"\x58\x40" + signature, b"\x59\x00\x40" + signature),  # a longer length
        data.replace(b"gversion\x01", b"gversion\xf5"),  # true for 1
        cbor2.dumps(cbor2.CBORTag(55799, mapping), canonical=True),  # self-describe tag
    ]
    variants = [v for v in variants if v != data]  # a type without floats: no doubles
    assert len(variants) >= 6
    for variant in variants:
        assert _parse_fast(variant, TYPES) is None
        check_agreement(variant)
        with pytest.raises(MessageError):
            decode(variant, types=TYPES)


def test_a_value_holding_the_signature_pairs_head_is_left_to_the_strict_path():
    """The signing bytes are cut around the signature pair, found by its key and head: a
    value that holds those bytes too (before or after the pair) must not mislead the cut."""
    head = b"\x69signature\x58\x40"
    witness = WitnessReport(**{**vars(sample(WitnessReport)), "signature": None,
                               "payload_hash": head.ljust(32, b"\x01")}).sign(KEYS[0])
    ballot = FastBallot(voter_key=KEYS[0].public_key, round=7, ids=[head.rjust(32, b"\x02")],
                        weights=[]).sign(KEYS[0])
    for message in (witness, ballot):
        data = message.to_cbor()
        assert data.count(head) == 2
        assert _parse_fast(data, TYPES) is None
        check_agreement(data)
        assert decode(data, types=TYPES) == message


@dataclass(frozen=True, kw_only=True, repr=False)
class SmallBallot(Message, register=False):
    """`FastBallot`'s shape with a low size limit."""

    TYPE: ClassVar[str] = "test_small_ballot"
    SIGNER: ClassVar[str] = "voter_key"
    PARTITION_FIELD: ClassVar[str] = "round"
    MAX_BYTES: ClassVar[int] = 200

    voter_key: bytes = spec(PUBLIC_KEY)
    round: int = spec(EPOCH)
    ids: tuple[bytes, ...] = spec(ListOf(HASH, 4))


def test_an_oversize_message_is_left_to_the_strict_path():
    """Canonical and validly signed, but over its type's limit: the strict path refuses it."""
    big = SmallBallot(voter_key=KEYS[0].public_key, round=1, ids=[bytes(32)] * 4)
    signature = KEYS[0].sign(big.signing_bytes())
    data = cbor2.dumps({"type": big.TYPE, "version": 1, "voter_key": big.voter_key, "round": 1,
                        "ids": list(big.ids), "signature": signature}, canonical=True)
    assert len(data) > SmallBallot.MAX_BYTES
    types = {SmallBallot.TYPE: SmallBallot}
    assert _parse_fast(data, types) is None
    with pytest.raises(OversizeMessageError, match="SmallBallot.MAX_BYTES = 200"):
        decode(data, types=types)


# --- the canonical helpers the fast path builds on -------------------------------------------


@given(st.sampled_from([23, 24, 255, 256, 65_535, 65_536]) | st.integers(0, 300))
@settings(max_examples=40, deadline=None)
def test_canonical_map_header_is_cbor2s(pairs):
    encoded = cbor2.dumps({i: None for i in range(pairs)}, canonical=True)
    assert encoded == canonical_map_header(pairs) + b"".join(
        cbor2.dumps(i) + b"\xf6" for i in range(pairs))


@FUZZ
@given(st.lists(SCALARS, max_size=30))
def test_canonical_items_are_the_canonical_encodings_one_after_another(items):
    assert canonical_items(items) == b"".join(cbor2.dumps(i, canonical=True) for i in items)


@FUZZ
@given(st.sets(st.text(max_size=20), max_size=12))
def test_canonical_key_order_is_the_order_cbor2_writes(keys):
    ordered = canonical_key_order(keys)
    assert sorted(ordered) == sorted(keys)
    assert cbor2.dumps(dict.fromkeys(ordered), canonical=True) == \
        cbor2.dumps(dict.fromkeys(ordered)) == cbor2.dumps(dict.fromkeys(keys), canonical=True)


@FUZZ
@given(st.binary(max_size=300))
def test_loads_cbor_quick_never_raises_and_agrees_with_the_strict_codec(data):
    value = loads_cbor_quick(data)
    try:
        strict = loads_cbor_item(data, max_bytes=len(data))
    except MalformedCBORError:
        return
    assert cbor2.dumps(value) == cbor2.dumps(strict)  # (compared encoded: NaN != NaN)
