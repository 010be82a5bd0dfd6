"""coverage_net.messages: canonical encoding, content ids, signatures, strict decoding."""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib.util
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import cbor2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coverage_net.identity import Keypair
from coverage_net.messages import (
    ANNOUNCEMENT_PARTITION_MS,
    DEFAULT_MAX_BYTES,
    EPOCH,
    HASH,
    MAX_MESSAGE_BYTES,
    MAX_NESTING,
    MESSAGE_TYPES,
    PUBLIC_KEY,
    BeaconReport,
    Challenge,
    DataTransferReceipt,
    HotspotAnnouncement,
    Integer,
    ListOf,
    MalformedCBORError,
    MalformedMessageError,
    Message,
    MessageError,
    OversizeMessageError,
    SignatureError,
    UnknownTypeError,
    WitnessReport,
    decode,
    loads_cbor_item,
    short_id,
    spec,
)
from coverage_net.messages._base import _schema

FUZZ = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])

ALICE = Keypair.from_seed(bytes(range(32)))
BOB = Keypair.from_seed(bytes(range(32, 64)))
CAROL = Keypair.from_seed(bytes(range(64, 96)))
CELL = 0x8A2A1072B59FFFF  # resolution 10
SECRET_HASH = hashlib.sha256(b"secret").digest()
PAYLOAD_HASH = hashlib.sha256(b"payload").digest()

CHALLENGE = Challenge(challenger_key=ALICE.public_key, challengee_key=BOB.public_key, epoch=42,
                      secret_hash=SECRET_HASH, sealed_secret=bytes(range(80)),
                      timestamp_ms=1_700_000_000_000)
CHALLENGE_ID = CHALLENGE.sign(ALICE).content_id

# one unsigned sample per type, and who signs it
SAMPLES: dict[type[Message], tuple[Keypair, Message]] = {
    HotspotAnnouncement: (ALICE, HotspotAnnouncement(
        hotspot_key=ALICE.public_key, cell=CELL, antenna_gain_dbi=2.5, antenna_height_m=12.0,
        region="EU868", timestamp_ms=1_700_000_000_000)),
    Challenge: (ALICE, CHALLENGE),
    BeaconReport: (BOB, BeaconReport(
        hotspot_key=BOB.public_key, challenge_id=CHALLENGE_ID, epoch=42,
        secret=bytes(range(100, 132)), payload_hash=PAYLOAD_HASH, freq_hz=868_100_000,
        spreading_factor=9, bandwidth_hz=125_000, tx_power_dbm=14.0, eirp_centi_dbm=1_600,
        radio_timestamp_us=123_456_789, host_time_ms=1_700_000_001_000)),
    WitnessReport: (ALICE, WitnessReport(
        witness_key=ALICE.public_key, challenge_id=CHALLENGE_ID, epoch=42,
        payload_hash=PAYLOAD_HASH,
        rssi_dbm=-112.5, snr_db=-7.25, freq_hz=868_100_000, spreading_factor=9,
        bandwidth_hz=125_000, radio_timestamp_us=987_654_321, host_time_ms=1_700_000_001_020)),
}
TYPES = list(SAMPLES)


def signed(cls: type[Message]) -> Message:
    keypair, message = SAMPLES[cls]
    return message.sign(keypair)


def body(cls: type[Message]) -> dict:
    """The decoded map of a signed sample, to be mutated by the tests."""
    return cbor2.loads(signed(cls).to_cbor())


def enc(value: object) -> bytes:
    return cbor2.dumps(value, canonical=True)


# --- encoding, ids, round trips -----------------------------------------------------------


@pytest.mark.parametrize("cls", TYPES)
def test_round_trip(cls):
    message = signed(cls)
    data = message.to_cbor()
    assert decode(data) == message
    assert cls.from_cbor(data) == message
    assert decode(bytearray(data)) == message
    assert decode(data).to_cbor() == data
    assert message.content_id == hashlib.sha256(data).digest()


def test_vector_layout_by_hand():
    data = signed(HotspotAnnouncement).to_cbor()
    # map of 9 pairs; keys sorted shortest first, so "cell" (text, 4) leads, as a uint64
    assert data[:7] == bytes.fromhex("a9" "64" "63656c6c" "1b")
    assert data[7:15] == CELL.to_bytes(8, "big")
    # 2.5 and 12.0 are exact in half precision: f9 4100, f9 4a00
    assert data.endswith(b"antenna_gain_dbi\xf9\x41\x00p" + b"antenna_height_m\xf9\x4a\x00")
    assert cbor2.loads(data) == {
        "type": "hotspot_announcement", "version": 1, "hotspot_key": ALICE.public_key,
        "cell": CELL, "antenna_gain_dbi": 2.5, "antenna_height_m": 12.0, "region": "EU868",
        "timestamp_ms": 1_700_000_000_000, "signature": signed(HotspotAnnouncement).signature}


@pytest.mark.parametrize(("value", "encoded"), [
    (2.5, "f94100"),  # exact in half precision
    (1000.0, "f963d0"),
    (1.0 + 2**-12, "fa3f800800"),  # needs single precision
    (0.1, "fb3fb999999999999a"),  # needs double precision
])
def test_floats_use_the_shortest_exact_form(value, encoded):
    _, sample = SAMPLES[HotspotAnnouncement]
    data = dataclasses.replace(sample, antenna_height_m=value).to_cbor()
    key = b"antenna_height_m"
    start = data.index(key) + len(key)
    assert data[start:start + len(encoded) // 2].hex() == encoded


@pytest.mark.parametrize("cls", TYPES)
def test_content_id_changes_with_every_field(cls):
    keypair, message = SAMPLES[cls]
    ids = {message.content_id, message.sign(keypair).content_id}
    assert len(ids) == 2  # signed and unsigned differ
    for field in _schema(cls):
        changed = dataclasses.replace(message, **{field: ALTERNATIVES[field]})
        assert getattr(changed, field) != getattr(message, field), field
        assert changed.content_id not in ids, field
        assert changed.signing_bytes() != message.signing_bytes(), field
        ids.add(changed.content_id)


ALTERNATIVES = {
    "hotspot_key": CAROL.public_key, "witness_key": CAROL.public_key,
    "challenger_key": CAROL.public_key, "challengee_key": CAROL.public_key,
    "cell": 0x892A1072B5BFFFF,  # the resolution-9 parent of CELL
    "antenna_gain_dbi": 2.25, "antenna_height_m": 12.5,
    "region": "US915", "timestamp_ms": 1_700_000_000_001, "epoch": 43,
    "secret_hash": hashlib.sha256(b"other").digest(), "challenge_id": bytes(32),
    "payload_hash": bytes(32), "freq_hz": 868_300_000, "spreading_factor": 10,
    "bandwidth_hz": 250_000, "tx_power_dbm": 14.5, "radio_timestamp_us": 1,
    "host_time_ms": 1_700_000_000_002, "rssi_dbm": -112.0, "snr_db": -7.0,
    "sealed_secret": bytes(80), "secret": bytes(32), "eirp_centi_dbm": 1_599,
}


def test_short_id():
    message = signed(Challenge)
    assert message.short_id == message.content_id.hex()[:12] == short_id(message.content_id)


def test_repr_is_readable():
    text = repr(signed(HotspotAnnouncement))
    assert "cell=8a2a1072b59ffff" in text and "hotspot_key=03a107bff3ce10be..." in text
    assert "signature=245d9050e469e1a7..." in text


# --- signatures ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", TYPES)
def test_sign_and_verify(cls):
    keypair, message = SAMPLES[cls]
    assert not message.is_signed
    with pytest.raises(SignatureError, match="not signed"):
        message.verify()
    assert message.signer_key == keypair.public_key
    good = message.sign(keypair)
    assert good.is_signed and good.verify() is good
    assert good.signing_bytes() == message.signing_bytes()


@pytest.mark.parametrize("cls", TYPES)
def test_signing_with_a_key_that_is_not_the_signer_is_refused(cls):
    _, message = SAMPLES[cls]
    with pytest.raises(SignatureError, match=f"signed by its {cls.SIGNER}"):
        message.sign(CAROL)


@pytest.mark.parametrize("cls", TYPES)
def test_signature_by_another_key_fails(cls):
    _, message = SAMPLES[cls]
    forged = dataclasses.replace(message, signature=CAROL.sign(message.signing_bytes()))
    with pytest.raises(SignatureError, match="does not verify"):
        forged.verify()
    with pytest.raises(SignatureError):
        decode(forged.to_cbor())


@pytest.mark.parametrize("cls", TYPES)
def test_every_flipped_signature_bit_fails(cls):
    good = signed(cls)
    for bit in range(8 * len(good.signature)):
        sig = bytearray(good.signature)
        sig[bit // 8] ^= 1 << (bit % 8)
        bad = dataclasses.replace(good, signature=bytes(sig))
        with pytest.raises(SignatureError):
            decode(bad.to_cbor())


@pytest.mark.parametrize("cls", TYPES)
def test_every_flipped_bit_of_the_encoding_is_rejected(cls):
    data = signed(cls).to_cbor()
    for bit in range(8 * len(data)):
        mutated = bytearray(data)
        mutated[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(MessageError):
            decode(bytes(mutated))


def test_domains_are_distinct_and_prefix_free():
    domains = {cls.TYPE: cls.DOMAIN for cls in MESSAGE_TYPES.values()}
    for tag, domain in domains.items():
        assert domain == b"coverage-net/v1/" + tag.encode() + b"\x00"
    for a, b in itertools.permutations(domains.values(), 2):
        assert not b.startswith(a)


@pytest.mark.parametrize("cls", TYPES)
def test_signature_covers_the_domain(cls):
    keypair, message = SAMPLES[cls]
    assert message.signing_bytes().startswith(cls.DOMAIN)
    undomained = keypair.sign(message.signing_bytes()[len(cls.DOMAIN):])
    with pytest.raises(SignatureError):
        dataclasses.replace(message, signature=undomained).verify()


@pytest.mark.parametrize(("source", "target"), list(itertools.permutations(TYPES, 2)))
def test_a_signature_of_one_type_never_verifies_as_another(source, target):
    """Same signer key; the other type's signature over the same body bytes, or its own."""
    keypair, target_message = SAMPLES[target]
    _, source_message = SAMPLES[source]
    source_message = dataclasses.replace(
        source_message, **{source.SIGNER: keypair.public_key})
    stolen = source_message.sign(keypair).signature
    with pytest.raises(SignatureError):
        dataclasses.replace(target_message, signature=stolen).verify()
    # even over byte-identical bodies the domains differ
    body_bytes = target_message.signing_bytes()[len(target.DOMAIN):]
    cross = keypair.sign(source.DOMAIN + body_bytes)
    with pytest.raises(SignatureError):
        dataclasses.replace(target_message, signature=cross).verify()


# --- strict decoding: specific errors -----------------------------------------------------


def test_oversize_is_refused_before_parsing():
    with pytest.raises(OversizeMessageError, match=f"{MAX_MESSAGE_BYTES + 1} bytes.*not parsed"):
        decode(b"\xa0" * (MAX_MESSAGE_BYTES + 1))
    with pytest.raises(MalformedMessageError, match="trailing"):
        decode(b"\xa0" * MAX_MESSAGE_BYTES)  # at the limit: parsed, then refused as junk


def test_each_type_has_its_own_size_limit():
    assert DEFAULT_MAX_BYTES == MAX_MESSAGE_BYTES == 4096
    assert all(cls.MAX_BYTES == DEFAULT_MAX_BYTES for cls in MESSAGE_TYPES.values())
    # a type's own lower limit: see test_a_type_limit_applies_on_encode_and_on_decode


@pytest.mark.parametrize(("data", "error", "match"), [
    (b"", MalformedCBORError, "empty input"),
    (b"\xff", MalformedCBORError, "not valid CBOR"),
    (enc([1, 2]), MalformedMessageError, "a message is a CBOR map"),
    (enc({"version": 1}), MalformedMessageError, "needs a text 'type'"),
    (enc({"type": 1, "version": 1}), MalformedMessageError, "needs a text 'type'"),
    (enc({"type": "vote", "version": 1}), UnknownTypeError, "unknown message type 'vote'"),
    (enc({"type": "challenge"}), MalformedMessageError, "'version' must be an integer"),
    (enc({"type": "challenge", "version": 1.0}), MalformedMessageError, "must be an integer"),
    (enc({"type": "challenge", "version": True}), MalformedMessageError, "must be an integer"),
    (enc({"type": "challenge", "version": 2}), UnknownTypeError, "version 2 is not supported"),
    (enc({"type": "challenge", "version": 1}), MalformedMessageError, "missing field"),
    (enc({1: 2}), MalformedMessageError, "map key must be a text string or byte string"),
    (enc({b"type": "challenge"}), MalformedMessageError, "needs a text 'type'"),
    (bytes.fromhex("a2647479706569636861") + b"llenge" + bytes.fromhex("6474797065"),
     MalformedMessageError, "not valid CBOR"),
    (cbor2.dumps(cbor2.CBORTag(55799, {"type": "challenge"})), MalformedMessageError, "tag"),
    (bytes.fromhex("bf6474797065ff"), MalformedMessageError, "indefinite"),
    (enc({"type": "challenge", "type ": [[[[[[1]]]]]]}), MalformedMessageError, "CBOR"),
])
def test_structural_errors(data, error, match):
    with pytest.raises(error, match=match):
        decode(data)


def _mutated(cls: type[Message], **changes: object) -> bytes:
    mapping = body(cls)
    for key, value in changes.items():
        if value is _DELETE:
            del mapping[key]
        else:
            mapping[key] = value
    return enc(mapping)


_DELETE = object()


@pytest.mark.parametrize(("cls", "changes", "match"), [
    (HotspotAnnouncement, {"cell": _DELETE}, "missing field.* cell"),
    (HotspotAnnouncement, {"signature": _DELETE}, "missing field.* signature"),
    (HotspotAnnouncement, {"extra": 1}, "unknown field.* 'extra'"),
    (HotspotAnnouncement, {"timestamp_ms": True}, r"timestamp_ms must be an integer"),
    (HotspotAnnouncement, {"timestamp_ms": 1.7e12}, r"timestamp_ms must be an integer"),
    (HotspotAnnouncement, {"timestamp_ms": -1}, r"timestamp_ms is -1; it must lie in"),
    (HotspotAnnouncement, {"timestamp_ms": 2**63}, r"timestamp_ms is 9223372036854775808"),
    (HotspotAnnouncement, {"antenna_gain_dbi": 3}, "antenna_gain_dbi must be a CBOR float"),
    (HotspotAnnouncement, {"antenna_gain_dbi": math.nan}, "must be finite"),
    (HotspotAnnouncement, {"antenna_gain_dbi": math.inf}, "must be finite"),
    (HotspotAnnouncement, {"antenna_gain_dbi": 99.0}, r"antenna_gain_dbi is 99; it must lie"),
    (HotspotAnnouncement, {"antenna_height_m": -1.0}, r"antenna_height_m is -1"),
    (HotspotAnnouncement, {"hotspot_key": ALICE.public_key[:31]}, "must be 32 bytes.*got 31"),
    (HotspotAnnouncement, {"hotspot_key": ALICE.public_key.hex()}, "must be a byte string"),
    (HotspotAnnouncement, {"signature": bytes(63)}, "signature must be 64 bytes"),
    (HotspotAnnouncement, {"cell": CELL + 1}, "is not a valid H3 cell"),
    (HotspotAnnouncement, {"cell": -5}, "cell is -5; it is not a valid H3 cell"),
    (HotspotAnnouncement, {"cell": f"{CELL:x}"}, "cell must be an integer"),
    (HotspotAnnouncement, {"cell": 0}, "is not a valid H3 cell"),
    (HotspotAnnouncement, {"region": "eu868"}, "write the region as 'EU868'"),
    (HotspotAnnouncement, {"region": "XX123"}, "not a known region"),
    (HotspotAnnouncement, {"region": b"EU868"}, "region must be a text string"),
    (Challenge, {"epoch": None}, "epoch must be an integer"),
    (Challenge, {"secret_hash": [1, 2]}, "secret_hash must be a byte string"),
    (Challenge, {"sealed_secret": bytes(48)}, r"sealed_secret must be 80 bytes \(sealed box\)"),
    (BeaconReport, {"secret": bytes(31)}, r"secret must be 32 bytes \(challenge secret\)"),
    (BeaconReport, {"eirp_centi_dbm": 6_001}, r"eirp_centi_dbm is 6001; it must lie in"),
    (BeaconReport, {"eirp_centi_dbm": 16.0}, "eirp_centi_dbm must be an integer"),
    (BeaconReport, {"spreading_factor": 6}, "spreading_factor is 6; it must be one of 7"),
    (BeaconReport, {"bandwidth_hz": 100_000}, "bandwidth_hz is 100000; it must be one of"),
    (BeaconReport, {"freq_hz": 10}, r"freq_hz is 10; it must lie in"),
    (BeaconReport, {"radio_timestamp_us": -1}, "radio_timestamp_us is -1"),
    (WitnessReport, {"rssi_dbm": -1e9}, "rssi_dbm is -1e[+]09"),
    (WitnessReport, {"snr_db": "3"}, "snr_db must be a CBOR float"),
])
def test_schema_errors_name_the_field(cls, changes, match):
    with pytest.raises(MalformedMessageError, match=match):
        decode(_mutated(cls, **changes))


@pytest.mark.parametrize("cls", TYPES)
def test_non_canonical_encodings_are_refused(cls):
    mapping = body(cls)
    unsorted_keys = cbor2.dumps(dict(sorted(mapping.items(), reverse=True)))
    with pytest.raises(MalformedMessageError, match="not in canonical CBOR form"):
        decode(unsorted_keys)
    data = signed(cls).to_cbor()
    with pytest.raises(MalformedMessageError, match="1 trailing byte"):
        decode(data + b"\x00")
    # the version (1) as a two-byte integer: 01 -> 18 01
    longer = data.replace(b"gversion\x01", b"gversion\x18\x01")
    with pytest.raises(MalformedMessageError, match="canonical"):
        decode(longer)


@pytest.mark.parametrize("replacement", [
    "f98000",  # -0.0: a value the constructor writes as +0.0
    "fb4004000000000000",  # 2.5 as a double
    "fa40200000",  # 2.5 as a single
])
def test_negative_zero_and_wide_floats_are_not_canonical(replacement):
    key = b"antenna_gain_dbi"
    data = signed(HotspotAnnouncement).to_cbor().replace(
        key + bytes.fromhex("f94100"), key + bytes.fromhex(replacement))
    with pytest.raises(MalformedMessageError, match="canonical"):
        decode(data)


def test_from_cbor_requires_its_own_type():
    with pytest.raises(MalformedMessageError, match="expected a challenge message"):
        Challenge.from_cbor(signed(WitnessReport).to_cbor())


def test_decode_of_an_unsigned_message_is_refused():
    with pytest.raises(MalformedMessageError, match="missing field.* signature"):
        decode(SAMPLES[Challenge][1].to_cbor())


def test_decode_wants_bytes():
    with pytest.raises(TypeError):
        decode("a string")


# --- strict decoding: fuzzing -------------------------------------------------------------


def _check_decodes_or_message_error(data: bytes) -> None:
    """Decoding either yields a Message or raises a MessageError - nothing else escapes."""
    try:
        result = decode(data)
    except MessageError:
        return
    assert isinstance(result, Message)


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_raise_only_message_errors(data):
    _check_decodes_or_message_error(data)


@pytest.mark.parametrize("cls", TYPES)
def test_every_truncation_is_malformed(cls):
    data = signed(cls).to_cbor()
    for cut in range(len(data)):
        with pytest.raises(MalformedMessageError):
            decode(data[:cut])


CBOR_SCALARS = (st.none() | st.booleans() | st.integers(-(2**64), 2**64 - 1)
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
                | st.binary(max_size=70))
CBOR_VALUES = st.recursive(
    CBOR_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)


FIELD_NAMES = sorted({name for cls in TYPES for name in _schema(cls)} | {"signature"})


@settings(FUZZ, max_examples=150)
@given(st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=12), CBOR_VALUES,
                       max_size=14),
       st.sampled_from(sorted(MESSAGE_TYPES)) | CBOR_VALUES, st.sampled_from([1, 2, None]),
       st.booleans())
def test_valid_cbor_with_the_wrong_schema_raises_only_message_errors(mapping, tag, version,
                                                                     canonical):
    mapping["type"] = tag
    if version is not None:
        mapping["version"] = version
    _check_decodes_or_message_error(cbor2.dumps(mapping, canonical=canonical))


@FUZZ
@given(st.sampled_from(TYPES), st.data())
def test_mutated_fields_raise_only_message_errors(cls, data):
    mapping = body(cls)
    key = data.draw(st.sampled_from(sorted(mapping) + ["extra"]))
    action = data.draw(st.sampled_from(["replace", "delete"]))
    if action == "delete":
        mapping.pop(key, None)
    else:
        mapping[key] = data.draw(CBOR_VALUES)
    result = _check_decodes_or_message_error(enc(mapping))
    assert result is None or result == signed(cls)  # only the unchanged message decodes


@settings(FUZZ, max_examples=50, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=300), st.integers(1, 300))
def test_oversize_inputs_raise_oversize(prefix, over):
    data = prefix.ljust(MAX_MESSAGE_BYTES + over, b"\xa0")  # whatever starts it, too long
    with pytest.raises(OversizeMessageError):
        decode(data)


def test_tags_anywhere_are_refused():
    for tag in (0, 1, 2, 3, 4, 5, 25, 28, 29, 35, 37, 258, 55799, 99999):
        mapping = body(Challenge)
        mapping["epoch"] = cbor2.CBORTag(tag, 42)
        with pytest.raises(MalformedMessageError, match=f"CBOR tag {tag} is not allowed"):
            decode(enc(mapping))


# --- construction -------------------------------------------------------------------------


def test_construction_validates_and_normalises():
    _, sample = SAMPLES[HotspotAnnouncement]
    message = dataclasses.replace(sample, antenna_gain_dbi=3, antenna_height_m=-0.0,
                                  cell=np.uint64(CELL), timestamp_ms=np.int64(5),
                                  hotspot_key=bytearray(ALICE.public_key))
    assert type(message.antenna_gain_dbi) is float and message.antenna_gain_dbi == 3.0
    assert math.copysign(1.0, message.antenna_height_m) == 1.0
    assert type(message.cell) is int and type(message.timestamp_ms) is int
    assert type(message.hotspot_key) is bytes
    assert decode(message.sign(ALICE).to_cbor()) == message.sign(ALICE)
    for field, value in [("timestamp_ms", True), ("antenna_gain_dbi", math.nan),
                         ("antenna_gain_dbi", "3"), ("cell", 12345), ("region", "eu868"),
                         ("hotspot_key", bytes(31)), ("signature", bytes(10))]:
        with pytest.raises(MalformedMessageError, match=field):
            dataclasses.replace(sample, **{field: value})


def test_messages_are_frozen_and_keyword_only():
    _, sample = SAMPLES[Challenge]
    with pytest.raises(dataclasses.FrozenInstanceError):
        sample.epoch = 1
    with pytest.raises(TypeError):
        Challenge(ALICE.public_key, BOB.public_key, 1, SECRET_HASH, 0)
    with pytest.raises(TypeError, match="abstract"):
        Message()
    assert hash(signed(Challenge)) == hash(signed(Challenge))


def test_registry_and_type_tags():
    assert dict(MESSAGE_TYPES) == {
        "hotspot_announcement": HotspotAnnouncement, "challenge": Challenge,
        "beacon_report": BeaconReport, "witness_report": WitnessReport,
        "data_transfer_receipt": DataTransferReceipt}
    with pytest.raises(TypeError, match="already defined"):
        @dataclass(frozen=True, kw_only=True)
        class Impostor(Message):
            TYPE: ClassVar[str] = "challenge"
            SIGNER: ClassVar[str] = "challenger_key"
    with pytest.raises(TypeError, match="snake_case"):
        class Bad(Message):
            TYPE: ClassVar[str] = "Bad-Type"
            SIGNER: ClassVar[str] = "key"


def test_signer_must_be_a_public_key_field():
    @dataclass(frozen=True, kw_only=True)
    class Misdeclared(Message, register=False):
        TYPE: ClassVar[str] = "test_misdeclared"
        SIGNER: ClassVar[str] = "epoch"
        PARTITION_FIELD: ClassVar[str] = "epoch"
        epoch: int = spec(EPOCH)

    with pytest.raises(TypeError, match="SIGNER = 'epoch' is not a public-key field"):
        Misdeclared(epoch=1)
    assert "test_misdeclared" not in MESSAGE_TYPES


def test_error_hierarchy():
    for cls in (MalformedMessageError, UnknownTypeError, OversizeMessageError, SignatureError):
        assert issubclass(cls, MessageError)
    assert issubclass(MalformedMessageError, ValueError)


# --- package surface ----------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def test_only_the_cbor_module_imports_cbor2_and_no_higher_layer_is_imported():
    importers = []
    for path in (ROOT / "coverage_net" / "messages").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if "cbor2" in names:
                importers.append(path.name)
            assert not any(n.startswith(("coverage_net.cli", "coverage_net.node", "radio_sim",
                                         "firmware_bridge")) for n in names), path
    assert importers == ["_cbor.py"]


# --- committed encoding vectors -----------------------------------------------------------

VECTORS_DIR = ROOT / "tests" / "vectors"
_gen_spec = importlib.util.spec_from_file_location("make_messages_vectors",
                                                   VECTORS_DIR / "make_messages_vectors.py")
GEN = importlib.util.module_from_spec(_gen_spec)
_gen_spec.loader.exec_module(GEN)
VECTORS = json.loads((VECTORS_DIR / "messages_v1.json").read_text(encoding="utf-8"))["vectors"]


def test_vectors_cover_every_message_type():
    assert {v["type"] for v in VECTORS} == set(MESSAGE_TYPES)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["type"] for v in VECTORS])
def test_vector_rebuilds_byte_for_byte(vector):
    cls = MESSAGE_TYPES[vector["type"]]
    assert vector["version"] == cls.VERSION
    keypair = Keypair.from_seed(bytes.fromhex(vector["seed"]))
    fields = {name: bytes.fromhex(value) if name in vector["hex_fields"] else value
              for name, value in vector["fields"].items()}
    message = cls(**fields).sign(keypair)
    data = bytes.fromhex(vector["bytes"])
    assert message.to_cbor() == data
    assert message.content_id == hashlib.sha256(data).digest() == bytes.fromhex(
        vector["content_id"])
    assert message.signature == bytes.fromhex(vector["signature"])
    assert message.sync_partition == vector["sync_partition"]
    assert decode(data) == message


def test_vectors_file_is_what_the_generator_writes():
    assert GEN.render() == (VECTORS_DIR / "messages_v1.json").read_text(encoding="utf-8"), \
        "run tests/vectors/make_messages_vectors.py (a change there is a protocol break)"


# --- sync partitions ----------------------------------------------------------------------


def test_a_rounds_messages_share_the_challenges_partition():
    challenge, beacon, witness = (signed(c) for c in (Challenge, BeaconReport, WitnessReport))
    assert challenge.sync_partition == beacon.sync_partition == witness.sync_partition == 42
    later = dataclasses.replace(witness, host_time_ms=witness.host_time_ms + 10 * 3_600_000)
    assert later.sync_partition == 42  # its own clock does not move it out of the round
    assert dataclasses.replace(witness, epoch=7).sync_partition == 7


def test_announcements_are_partitioned_by_the_hour():
    assert ANNOUNCEMENT_PARTITION_MS == 3_600_000
    announcement = signed(HotspotAnnouncement)
    boundary = 472_223 * ANNOUNCEMENT_PARTITION_MS
    partitions = [dataclasses.replace(announcement, timestamp_ms=boundary + d).sync_partition
                  for d in (-1, 0)]
    assert partitions == [472_222, 472_223]


def test_each_type_declares_its_partition_field():
    assert {tag: (cls.PARTITION_FIELD, cls.PARTITION_BUCKET)
            for tag, cls in MESSAGE_TYPES.items()} == {
        "hotspot_announcement": ("timestamp_ms", ANNOUNCEMENT_PARTITION_MS),
        "challenge": ("epoch", 1), "beacon_report": ("epoch", 1), "witness_report": ("epoch", 1),
        "data_transfer_receipt": ("epoch", 1)}


# --- defining a new type: list fields, size limits, registration ----------------------------

WEIGHT = Integer(0, 100, "vote weight in percent")


@dataclass(frozen=True, kw_only=True, repr=False)
class TestBallot(Message, register=False):
    """A test-only type shaped like the consensus messages to come (not registered)."""

    __test__ = False  # not a pytest test class
    TYPE: ClassVar[str] = "test_ballot"
    SIGNER: ClassVar[str] = "voter_key"
    PARTITION_FIELD: ClassVar[str] = "round"
    MAX_BYTES: ClassVar[int] = 300

    voter_key: bytes = spec(PUBLIC_KEY)
    round: int = spec(EPOCH)
    block_hashes: tuple[bytes, ...] = spec(ListOf(HASH, 4))
    weights: tuple[int, ...] = spec(ListOf(WEIGHT, 3))


def ballot(hashes: int = 2, weights: tuple[int, ...] = (10, 90)) -> TestBallot:
    block_hashes = [hashlib.sha256(bytes([i])).digest() for i in range(hashes)]
    return TestBallot(voter_key=ALICE.public_key, round=5, block_hashes=block_hashes,
                      weights=weights).sign(ALICE)


def test_a_test_only_type_stays_out_of_the_registry():
    assert "test_ballot" not in MESSAGE_TYPES
    data = ballot().to_cbor()
    with pytest.raises(UnknownTypeError, match="unknown message type 'test_ballot'"):
        decode(data)
    assert TestBallot.from_cbor(data) == ballot()
    assert Challenge.from_cbor(signed(Challenge).to_cbor()) == signed(Challenge)


def test_list_fields_round_trip_as_exact_cbor_arrays():
    message = ballot()
    assert type(message.block_hashes) is tuple and hash(message) == hash(ballot())
    assert message.sync_partition == 5
    mapping = cbor2.loads(message.to_cbor())
    assert mapping["block_hashes"] == list(message.block_hashes) and mapping["weights"] == [10, 90]
    assert TestBallot.from_cbor(message.to_cbor()) == message
    empty = ballot(hashes=0, weights=())
    assert TestBallot.from_cbor(empty.to_cbor()).block_hashes == ()
    assert "block_hashes=[" in repr(message)


@pytest.mark.parametrize(("changes", "match"), [
    ({"block_hashes": [bytes(32)] * 5}, r"block_hashes has 5 items; at most 4"),
    ({"block_hashes": [bytes(32), bytes(31)]}, r"block_hashes\[1\] must be 32 bytes"),
    ({"block_hashes": bytes(32)}, r"block_hashes must be a list or tuple"),
    ({"weights": [50, 101]}, r"weights\[1\] is 101; it must lie in \[0, 100\]"),
    ({"weights": [True]}, r"weights\[0\] must be an integer"),
])
def test_list_fields_are_checked_on_construction(changes, match):
    with pytest.raises(MalformedMessageError, match=match):
        dataclasses.replace(ballot(), **changes)


def _ballot_bytes(**changes: object) -> bytes:
    mapping = cbor2.loads(ballot().to_cbor())
    mapping.update(changes)
    return enc(mapping)


@pytest.mark.parametrize(("data", "match"), [
    (_ballot_bytes(weights=[1, 2, 3, 4]), r"weights has 4 items"),
    (_ballot_bytes(weights=[1.0]), r"weights\[0\] must be an integer"),
    (_ballot_bytes(weights={"a": 1}), r"weights must be a CBOR array"),
    (_ballot_bytes(block_hashes=[bytes(32), "x" * 32]), r"block_hashes\[1\] must be a byte"),
    (_ballot_bytes(block_hashes=[[bytes(32)]]), r"block_hashes\[0\] must be a byte"),
])
def test_list_fields_are_strict_on_the_wire(data, match):
    with pytest.raises(MalformedMessageError, match=match):
        TestBallot.from_cbor(data)


def test_an_indefinite_length_list_is_refused():
    canonical = ballot().to_cbor()
    weights = enc([10, 90])
    indefinite = canonical.replace(weights, b"\x9f\x0a\x18\x5a\xff")
    assert indefinite != canonical
    with pytest.raises(MalformedCBORError, match="indefinite"):
        TestBallot.from_cbor(indefinite)


def test_a_type_limit_applies_on_encode_and_on_decode():
    assert len(ballot(hashes=1).to_cbor()) <= TestBallot.MAX_BYTES
    too_big = TestBallot(voter_key=ALICE.public_key, round=5, block_hashes=[bytes(32)] * 4,
                         weights=[1, 2, 3])
    with pytest.raises(OversizeMessageError, match="TestBallot.MAX_BYTES = 300"):
        too_big.sign(ALICE).to_cbor()
    data = _ballot_bytes(block_hashes=[bytes(32)] * 4, weights=[1, 2, 3])
    assert TestBallot.MAX_BYTES < len(data) < MAX_MESSAGE_BYTES
    with pytest.raises(OversizeMessageError, match="test_ballot is .* bytes; the limit"):
        TestBallot.from_cbor(data)


def test_bad_type_declarations_are_refused():
    with pytest.raises(TypeError, match="PARTITION_FIELD must name"):
        class NoPartition(Message, register=False):
            TYPE: ClassVar[str] = "test_no_partition"
            SIGNER: ClassVar[str] = "key"
    with pytest.raises(TypeError, match=r"MAX_BYTES must be an int in 1\.\.4096"):
        class Huge(Message, register=False):
            TYPE: ClassVar[str] = "test_huge"
            SIGNER: ClassVar[str] = "key"
            PARTITION_FIELD: ClassVar[str] = "key"
            MAX_BYTES: ClassVar[int] = MAX_MESSAGE_BYTES + 1
    with pytest.raises(TypeError, match="ListOf items must be a scalar"):
        ListOf(ListOf(HASH, 2), 2)

    @dataclass(frozen=True, kw_only=True)
    class TextPartition(Message, register=False):
        TYPE: ClassVar[str] = "test_text_partition"
        SIGNER: ClassVar[str] = "key"
        PARTITION_FIELD: ClassVar[str] = "key"
        key: bytes = spec(PUBLIC_KEY)

    with pytest.raises(TypeError, match="PARTITION_FIELD = 'key' is not a non-negative integer"):
        TextPartition(key=ALICE.public_key)
    assert not {"test_no_partition", "test_huge", "test_text_partition"} & set(MESSAGE_TYPES)


# --- the strict codec for everything read from the network ----------------------------------

NESTED = {"ids": [[b"a", b"b"], [b"c"]], "n": 1}  # a map of lists of lists of bytes: depth 3


def test_loads_cbor_item_accepts_one_item_of_the_subset():
    assert loads_cbor_item(enc(NESTED), max_bytes=100) == NESTED
    assert loads_cbor_item(enc([1, -2, 1.5, "t", b"b", True, False, None]), max_bytes=100) == \
        [1, -2, 1.5, "t", b"b", True, False, None]
    assert loads_cbor_item(bytearray(enc(7)), max_bytes=1) == 7
    assert MAX_NESTING == 4


@pytest.mark.parametrize(("data", "kwargs", "match"), [
    (b"", {}, "empty input"),
    (enc(NESTED) + b"\x00", {}, r"1 trailing byte\(s\) after one CBOR item"),
    (enc(1) + enc(2), {}, "trailing"),
    (enc(NESTED), {"max_bytes": 10}, r"over the limit of 10; not parsed"),
    (enc(NESTED), {"max_depth": 2}, "nesting depth"),
    (enc([[[[[1]]]]]), {}, "nesting depth"),
    (cbor2.dumps(cbor2.CBORTag(1, 0)), {}, "CBOR tag 1 is not allowed"),
    (enc({"x": cbor2.CBORTag(2, b"\x01")}), {}, "CBOR tag 2 is not allowed"),
    (b"\xf7", {}, "undefined is not allowed"),
    (b"\xf0", {}, r"CBORSimpleValue\(16\) is not allowed"),
    (b"\x9f\x01\xff", {}, "indefinite"),
    (bytes.fromhex("a2616101616102"), {}, "(?i)duplicate map key"),
    (b"\x62\xff\xfe", {}, "not valid CBOR"),  # invalid UTF-8 text
    (enc(b"abc")[:-1], {}, "not valid CBOR"),  # truncated
])
def test_loads_cbor_item_says_what_was_wrong(data, kwargs, match):
    with pytest.raises(MalformedCBORError, match=match):
        loads_cbor_item(data, **{"max_bytes": 1000, **kwargs})


SCALARS = (st.integers(-(2**64) + 1, 2**64 - 1) | st.floats(allow_nan=False) | st.text()
           | st.binary() | st.booleans() | st.none())
ITEMS = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=5) | st.binary(max_size=5), inner,
                                       max_size=4), max_leaves=20)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@FUZZ
@given(ITEMS, st.binary(max_size=4))
def test_loads_cbor_item_round_trips_and_refuses_trailing_bytes(value, tail):
    data = enc(value)
    if _depth(value) > MAX_NESTING:
        with pytest.raises(MalformedCBORError, match="nesting"):
            loads_cbor_item(data, max_bytes=len(data))
        return
    assert loads_cbor_item(data, max_bytes=len(data)) == value
    if tail:
        with pytest.raises(MalformedCBORError, match="trailing"):
            loads_cbor_item(data + tail, max_bytes=len(data) + len(tail))


@FUZZ
@given(st.binary(max_size=200))
def test_loads_cbor_item_on_garbage_raises_only_malformed_cbor(data):
    try:
        value = loads_cbor_item(data, max_bytes=200)
    except MalformedCBORError:
        return
    assert enc(value) == data or cbor2.loads(data) == value  # one item, fully consumed


@FUZZ
@given(ITEMS)
def test_every_truncation_is_refused(value):
    data = enc(value)
    for cut in range(len(data)):
        with pytest.raises(MalformedCBORError):
            loads_cbor_item(data[:cut], max_bytes=len(data))


# --- v1 is frozen ---------------------------------------------------------------------------

_schema_spec = importlib.util.spec_from_file_location("make_messages_schema",
                                                      VECTORS_DIR / "make_messages_schema.py")
SCHEMA_GEN = importlib.util.module_from_spec(_schema_spec)
_schema_spec.loader.exec_module(SCHEMA_GEN)


def test_v1_schemas_are_frozen():
    frozen = json.loads((VECTORS_DIR / "messages_v1_schema.json").read_text(encoding="utf-8"))
    now = json.loads(SCHEMA_GEN.render())
    for name, schema in frozen["types"].items():
        assert schema["version"] == 1
        if now["types"].get(name) != schema:
            assert now["types"][name]["version"] > 1, (
                f"{name} changed but is still version 1: v1 is frozen; bump "
                f"{schema['class']}.VERSION and write a new schema file")
    assert set(now["types"]) >= set(frozen["types"]), "a v1 message type was removed"
