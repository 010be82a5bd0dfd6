"""The native serial protocol: framing, scapy messages, shared vectors, the device core."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import os
import random
import select
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import (
    ConfigError,
    FrameError,
    NativeDeviceCore,
    PtyDevice,
    RadioConfig,
    RxPacket,
)
from firmware_bridge._framing import (
    MAX_BODY,
    MAX_RAW,
    MAX_WIRE,
    MIN_RAW,
    PROTOCOL_VERSION,
    FrameDecoder,
    RawFrame,
    cobs_decode,
    cobs_encode,
    crc16,
    encode_raw,
    wire,
)
from firmware_bridge._protocol import (
    BODY_LAYERS,
    REGION_BITS,
    Ack,
    Configure,
    GetInfo,
    Hello,
    Info,
    MsgType,
    Nack,
    NackCode,
    NativeFrame,
    Ping,
    Pong,
    Rx,
    Transmit,
    TxDone,
    build,
    config_from_body,
    configure_body,
    encode_frame,
    expect_body,
    info_from_frame,
    nack_body,
    nack_detail,
    parse,
    regions_from_mask,
    regions_mask,
    rx_body_from_packet,
    rx_packet_from_frame,
    to_wire,
    tx_result_from_frame,
)

VECTORS_DIR = Path(__file__).resolve().parent / "vectors"
VECTORS = json.loads((VECTORS_DIR / "native_frames.json").read_text(encoding="utf-8"))
_spec = importlib.util.spec_from_file_location("make_native_vectors",
                                               VECTORS_DIR / "make_native_vectors.py")
GEN = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(GEN)

CFG = RadioConfig(freq_hz=903_900_000, spreading_factor=10, tx_power_dbm=20)
PROPS = settings(deadline=None, max_examples=200)

EXAMPLES = [
    NativeFrame(seq=1) / Hello(host_version=1),
    NativeFrame(seq=2) / GetInfo(),
    NativeFrame(seq=3) / configure_body(CFG),
    NativeFrame(seq=4) / Transmit(data=b"\x01"),
    NativeFrame(seq=5) / Transmit(data=bytes(range(255))),
    NativeFrame(seq=6) / Ping(data=b""),
    NativeFrame(seq=0x0100) / Ping(data=bytes(MAX_BODY)),
    NativeFrame(seq=7) / Ack(),
    NativeFrame(seq=8) / Info(firmware_version=b"fw 1", radio_chip=b"SX1276",
                              regions=regions_mask(["EU868", "IN865"]), max_payload=222),
    NativeFrame(seq=9) / TxDone(airtime_us=370_688, radio_timestamp_us=2**64 - 1,
                                tx_power_dbm=-9),
    NativeFrame(seq=10) / Pong(data=b"\x00pong\x00"),
    NativeFrame(seq=0) / Rx(radio_timestamp_us=12_345, freq_hz=868_100_000, rssi_cdbm=-12050,
                            snr_cdb=-725, freq_error_hz=-1234, spreading_factor=12,
                            bandwidth_hz=250_000, coding_rate=8, flags=0, data=b"\xff" * 255),
    NativeFrame(seq=65535) / Nack(code=NackCode.INVALID_PARAMETER,
                                  detail="fréquence hors bande".encode()),
]


def decode_all(data: bytes) -> tuple[list[RawFrame], FrameDecoder]:
    decoder = FrameDecoder()
    return decoder.feed(data), decoder


def good_wire(seq: int = 42, data: bytes = b"good") -> bytes:
    return encode_frame(MsgType.PING, seq, data)


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


# -- COBS and CRC ---------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "encoded"), [
    ("", "01"),
    ("00", "0101"),
    ("0000", "010101"),
    ("11220033", "0311220233"),
    ("11223344", "0511223344"),
    ("11000000", "0211010101"),
    ("0011", "010211"),
    (bytes(range(1, 255)).hex(), "ff" + bytes(range(1, 255)).hex() + "01"),
    (bytes(range(1, 256)).hex(), "ff" + bytes(range(1, 255)).hex() + "02ff"),
    ("00" + bytes(range(1, 255)).hex(), "01ff" + bytes(range(1, 255)).hex() + "01"),
    (bytes(range(2, 256)).hex() + "00", "ff" + bytes(range(2, 256)).hex() + "0101"),
])
def test_cobs_known_encodings(raw, encoded):
    # Cheshire & Baker's reference encoder: a final 254-byte run still gets its 01 code.
    assert cobs_encode(bytes.fromhex(raw)).hex() == encoded
    assert cobs_decode(bytes.fromhex(encoded)).hex() == raw


def test_cobs_decode_accepts_a_trailing_run_without_final_code():
    run = bytes(range(1, 255))
    assert cobs_decode(b"\xff" + run) == run


@pytest.mark.parametrize("bad", ["", "00", "0511", "020000", "031100", "0300"])
def test_cobs_decode_rejects_invalid_input(bad):
    with pytest.raises(FrameError):
        cobs_decode(bytes.fromhex(bad))


@PROPS
@given(st.binary(max_size=1200))
def test_cobs_round_trip_and_no_zero(data):
    encoded = cobs_encode(data)
    assert 0 not in encoded
    assert len(encoded) <= len(data) + 1 + len(data) // 254
    assert cobs_decode(encoded) == data


def test_crc16_is_ccitt_false():
    assert crc16(b"123456789") == 0x29B1
    assert crc16(b"") == 0xFFFF


def test_size_constants():
    assert (MIN_RAW, MAX_RAW, MAX_WIRE) == (8, 328, 331)
    assert len(wire(b"\x01" * MAX_RAW)) == MAX_WIRE  # no zero at all: the worst case


@pytest.mark.parametrize(("args", "match"), [
    ((1, 4, 1, bytes(MAX_BODY + 1)), "body is 321 bytes"),
    ((1, 4, -1, b""), "seq"),
    ((1, 4, 65536, b""), "seq"),
    ((1, 256, 1, b""), "msg_type"),
    ((1, True, 1, b""), "msg_type"),
    ((-1, 4, 1, b""), "version"),
])
def test_encode_raw_refuses_unbuildable_frames(args, match):
    with pytest.raises(FrameError, match=match):
        encode_raw(*args)


def test_wire_refuses_oversize_raw():
    with pytest.raises(FrameError):
        wire(bytes(MAX_RAW + 1))


# -- scapy messages -----------------------------------------------------------------------
def test_examples_cover_every_message_type():
    assert {pkt.type for pkt in EXAMPLES} == {int(t) for t in MsgType}
    assert set(BODY_LAYERS) == set(MsgType)


@pytest.mark.parametrize("pkt", EXAMPLES, ids=lambda p: p.payload.name)
def test_round_trip_every_message(pkt):
    frames, decoder = decode_all(to_wire(pkt))
    assert len(frames) == 1 and not decoder.stats
    assert (frames[0].msg_type, frames[0].seq) == (pkt.type, pkt.seq)
    parsed = parse(frames[0])
    cls = type(pkt.payload)
    assert isinstance(parsed.payload, cls) and parsed.crc_ok
    for name, value in pkt.payload.fields.items():
        assert parsed[cls].getfieldval(name) == value, name
    assert expect_body(parsed, cls) is parsed.payload
    assert bytes(parsed) == bytes(pkt)  # the trailer is rebuilt from the dissected crc
    assert build(pkt.type, pkt.seq, pkt.payload) == bytes(pkt)
    assert parsed.length == len(frames[0].body)
    text = parsed.show(dump=True)
    assert MsgType(pkt.type).name in text and "seq" in text


def test_bound_layers_set_the_type_and_length():
    pkt = NativeFrame(seq=9) / Ping(data=b"abc")
    raw = bytes(pkt)
    assert raw[:6] == bytes([1, MsgType.PING, 9, 0, 3, 0])
    assert int.from_bytes(raw[-2:], "little") == crc16(raw[:-2])


def test_crc_attribute_and_crc_ok():
    pkt = NativeFrame(bytes(NativeFrame(seq=3) / Ping(data=b"x")))
    assert pkt.crc == int.from_bytes(bytes(pkt)[-2:], "little") and pkt.crc_ok
    pkt.crc ^= 1
    assert not pkt.crc_ok
    assert not NativeFrame(bytes(pkt)).crc_ok
    pkt.crc = None
    assert pkt.crc_ok
    assert pkt.copy().crc is None


def test_unknown_type_parses_as_raw():
    frame = parse(RawFrame(1, 0x42, 5, b"abc"))
    assert frame.type == 0x42 and bytes(frame.payload) == b"abc"
    with pytest.raises(FrameError):
        expect_body(frame, Ping)


@pytest.mark.parametrize(("msg_type", "cls", "body"), [
    (MsgType.HELLO, Hello, b""),
    (MsgType.HELLO, Hello, b"\x01\x02"),
    (MsgType.CONFIGURE, Configure, bytes(14)),
    (MsgType.CONFIGURE, Configure, bytes(16)),
    (MsgType.TX_DONE, TxDone, bytes(12)),
    (MsgType.RX, Rx, bytes(26)),
    (MsgType.NACK, Nack, b""),
    (MsgType.INFO, Info, bytes.fromhex("01056162")),
    (MsgType.INFO, Info, bytes.fromhex("0100000000ff00")),
])
def test_expect_body_refuses_malformed_bodies(msg_type, cls, body):
    with pytest.raises(FrameError):
        expect_body(parse(RawFrame(1, msg_type, 1, body)), cls)


def test_build_refuses_a_body_of_another_type():
    with pytest.raises(FrameError, match="Hello"):
        build(MsgType.PING, 1, Hello())
    with pytest.raises(FrameError):
        build(MsgType.PING, 1, Ping(data=bytes(MAX_BODY + 1)))


@pytest.mark.parametrize("cfg", [
    CFG,
    RadioConfig(freq_hz=869_525_000, spreading_factor=12, bandwidth_hz=500_000, coding_rate=8,
                tx_power_dbm=-9, sync_word=0x12, preamble_symbols=65535, iq_inverted=True),
])
def test_configure_round_trip(cfg):
    frame = parse(FrameDecoder().feed(encode_frame(MsgType.CONFIGURE, 1, configure_body(cfg)))[0])
    assert config_from_body(expect_body(frame, Configure)) == cfg


def test_rx_round_trip():
    packet = RxPacket(payload=bytes(range(255)), rssi_dbm=-120.5, snr_db=-7.25,
                      freq_hz=903_900_000, spreading_factor=10, bandwidth_hz=125_000,
                      coding_rate=5, radio_timestamp_us=2**40 + 7, host_time_s=12.5,
                      crc_ok=False, freq_error_hz=-1234.0)
    raw = FrameDecoder().feed(encode_frame(MsgType.RX, 3, rx_body_from_packet(packet)))[0]
    assert rx_packet_from_frame(raw, 12.5) == packet  # RawFrame accepted as well
    assert rx_packet_from_frame(parse(raw), 12.5) == packet


@pytest.mark.parametrize("field", ["rssi_dbm", "snr_db"])
def test_rx_body_refuses_values_that_do_not_fit(field):
    values = dict(payload=b"x", rssi_dbm=-100.0, snr_db=5.0, freq_hz=903_900_000,
                  spreading_factor=7, bandwidth_hz=125_000, coding_rate=5,
                  radio_timestamp_us=0, host_time_s=0.0, crc_ok=True)
    values[field] = -400.0
    with pytest.raises(FrameError, match=field):
        rx_body_from_packet(RxPacket(**values))
    values.update({field: 0.0, "payload": bytes(256)})
    with pytest.raises(FrameError, match="255"):
        rx_body_from_packet(RxPacket(**values))


def test_info_and_tx_done_conversions():
    info = info_from_frame(parse(RawFrame(1, MsgType.INFO, 1, bytes(EXAMPLES[8].payload))))
    assert (info.driver, info.firmware_version, info.radio_chip) == ("native", "fw 1", "SX1276")
    assert info.supported_regions == ("EU868", "IN865")
    assert info.protocol_version == 1 and info.extra == {"max_payload": 222}
    tx = tx_result_from_frame(RawFrame(1, MsgType.TX_DONE, 9, bytes(EXAMPLES[9].payload)))
    assert (tx.airtime_s, tx.radio_timestamp_us, tx.tx_power_dbm) == (0.370688, 2**64 - 1, -9)
    with pytest.raises(FrameError):
        tx_result_from_frame(RawFrame(1, MsgType.INFO, 1, bytes(EXAMPLES[8].payload)))


def test_regions_mask():
    assert regions_mask(REGION_BITS) == 0x3F
    assert regions_from_mask(0b101010) == ("EU868", "AS923-1", "IN865")
    assert regions_from_mask(0xFFC0) == ()  # bits of later versions are ignored
    with pytest.raises(FrameError, match="CN470"):
        regions_mask(["CN470"])


def test_nack_body_keeps_utf8_whole_and_within_a_frame():
    body = nack_body(NackCode.RADIO_FAILURE, "é" * 400)
    assert len(bytes(body)) <= MAX_BODY
    frame = parse(RawFrame(1, MsgType.NACK, 1, bytes(body)))
    code, detail = nack_detail(frame)
    assert code == NackCode.RADIO_FAILURE and set(detail) == {"é"}


@PROPS
@given(msg_type=st.integers(0, 255), seq=st.integers(0, 65535),
       body=st.binary(max_size=MAX_BODY))
def test_any_frame_survives_encode_decode(msg_type, seq, body):
    frames, decoder = decode_all(wire(encode_raw(PROTOCOL_VERSION, msg_type, seq, body)))
    assert frames == [RawFrame(PROTOCOL_VERSION, msg_type, seq, body)] and not decoder.stats


@PROPS
@given(cls=st.sampled_from([Transmit, Ping, Pong]), seq=st.integers(0, 65535),
       data=st.binary(max_size=MAX_BODY))
def test_any_payload_survives_the_scapy_path(cls, seq, data):
    frames, _ = decode_all(to_wire(NativeFrame(seq=seq) / cls(data=data)))
    parsed = parse(frames[0])
    assert parsed.seq == seq and parsed[cls].data == data and parsed.crc_ok


# -- shared vectors -------------------------------------------------------------------------
def test_vectors_file_is_what_the_generator_writes():
    text = (VECTORS_DIR / "native_frames.json").read_text(encoding="utf-8")
    assert GEN.render() == text, "run tests/vectors/make_native_vectors.py"


def test_vectors_cover_the_required_cases():
    frames = VECTORS["frames"]
    assert VECTORS["protocol_version"] == PROTOCOL_VERSION
    assert {f["type"] for f in frames} == {int(t) for t in MsgType}

    def of(t):
        return [f["fields"] for f in frames if f["type"] == t]

    assert any(f["detail"] for f in of(MsgType.NACK))
    assert any(f["firmware_version"] and f["radio_chip"] for f in of(MsgType.INFO))
    assert any(f["rssi_cdbm"] < 0 and f["snr_cdb"] < 0 and f["freq_error_hz"] < 0
               and len(f["payload"]) == 2 * 255 for f in of(MsgType.RX))
    assert any(len(f["data"]) == 2 * 320 for f in of(MsgType.PING))
    assert {len(f["payload"]) // 2 for f in of(MsgType.TRANSMIT)} >= {1, 255}
    raws = [bytes.fromhex(c["raw"]) for c in VECTORS["cobs"]]
    assert b"" in raws and b"\x00" in raws
    assert any(len(r) == 254 and 0 not in r for r in raws)
    assert any(len(r) == 255 and 0 not in r for r in raws)
    assert any(r[:1] == b"\x00" and len(r) > 1 for r in raws)
    assert any(r[-1:] == b"\x00" and len(r) > 1 for r in raws)
    assert any(b"\x00\x00\x00" in r for r in raws)
    assert {"data": b"123456789".hex(), "crc": 0x29B1} in VECTORS["crc16"]


@pytest.mark.parametrize("case", VECTORS["cobs"], ids=lambda c: c["raw"][:16] or "empty")
def test_vectors_cobs(case):
    assert cobs_encode(bytes.fromhex(case["raw"])).hex() == case["encoded"]
    assert cobs_decode(bytes.fromhex(case["encoded"])).hex() == case["raw"]


def test_vectors_crc16():
    for case in VECTORS["crc16"]:
        assert crc16(bytes.fromhex(case["data"])) == case["crc"]


@pytest.mark.parametrize("case", VECTORS["frames"], ids=lambda c: c["name"])
def test_vectors_frames(case):
    body, raw = bytes.fromhex(case["body"]), bytes.fromhex(case["raw"])
    assert encode_raw(PROTOCOL_VERSION, case["type"], case["seq"], body) == raw
    assert wire(raw).hex() == case["wire"]
    frames, decoder = decode_all(bytes.fromhex(case["wire"]))
    assert frames == [RawFrame(PROTOCOL_VERSION, case["type"], case["seq"], body)]
    parsed = parse(frames[0])
    expect_body(parsed, BODY_LAYERS[MsgType(case["type"])])
    assert GEN.frame_fields(parsed) == case["fields"]
    assert build(case["type"], case["seq"], GEN.body_from_fields(case["type"],
                                                                 case["fields"])) == raw


# -- robustness -----------------------------------------------------------------------------
def _flip(data: bytes, bit: int) -> bytes:
    b = bytearray(data)
    b[bit // 8] ^= 1 << bit % 8
    return bytes(b)


GOOD_RAW = encode_raw(1, MsgType.PING, 42, b"good")


@pytest.mark.parametrize(("bad", "reason"), [
    (b"\x05\x11\x22\x00", "cobs_error"),
    (b"\x01\x01\x05\x22\x00", "cobs_error"),  # the last block claims 4 bytes, has 1
    (cobs_encode(b"\x01\x05\x00") + b"\x00", "truncated"),
    (wire(GOOD_RAW[:MIN_RAW - 1]), "truncated"),
    (wire(GOOD_RAW[:-1]), "bad_length"),  # the line lost the frame's last byte
    (wire(encode_raw(2, MsgType.PING, 1, b"v2")), "bad_version"),
    (wire(encode_raw(0, MsgType.PING, 1, b"v0")), "bad_version"),
    (wire(bytes(NativeFrame(seq=1, length=5) / Ping(data=b"abc"))), "bad_length"),
    (wire(_flip(GOOD_RAW, 8 * 7 + 3)), "bad_crc"),
    (wire(_flip(GOOD_RAW, len(GOOD_RAW) * 8 - 1)), "bad_crc"),
    (b"\x01" * 400 + b"\x00", "oversize"),
    (cobs_encode(encode_raw(1, 5, 1, bytes(MAX_BODY))[:4] + (MAX_BODY + 1).to_bytes(2, "little")
                 + bytes(MAX_BODY + 3)) + b"\x00", "oversize"),  # raw 329 bytes, COBS 330
])
def test_bad_frame_is_dropped_with_its_reason_and_the_next_decodes(bad, reason):
    frames, decoder = decode_all(bad + good_wire())
    assert decoder.stats == {reason: 1}
    assert frames == [RawFrame(1, MsgType.PING, 42, b"good")]


@PROPS
@given(bit=st.integers(0, len(GOOD_RAW) * 8 - 1))
def test_any_single_bit_flip_is_caught(bit):
    frames, decoder = decode_all(wire(_flip(GOOD_RAW, bit)) + good_wire(7))
    assert frames == [RawFrame(1, MsgType.PING, 7, b"good")]
    assert sum(decoder.stats.values()) == 1
    assert set(decoder.stats) <= {"bad_version", "bad_length", "bad_crc"}


@PROPS
@given(bit=st.integers(0, 8 * len(good_wire()) - 9))  # not the delimiter
def test_a_flipped_bit_on_the_wire_costs_that_frame_only(bit):
    frames, decoder = decode_all(_flip(good_wire(), bit) + good_wire(7))
    assert frames[-1] == RawFrame(1, MsgType.PING, 7, b"good")
    assert RawFrame(1, MsgType.PING, 42, b"good") not in frames
    assert sum(decoder.stats.values()) >= 1


@PROPS
@given(garbage=st.binary(max_size=2000))
def test_garbage_is_counted_and_resync_happens_at_the_next_delimiter(garbage):
    frames, decoder = decode_all(garbage + b"\x00" + good_wire())
    assert frames[-1] == RawFrame(1, MsgType.PING, 42, b"good")
    segments = [s for s in (garbage + b"\x00").split(b"\x00") if s]
    assert len(frames) - 1 + sum(decoder.stats.values()) == len(segments)


def test_oversize_run_fed_in_small_chunks_is_counted_once():
    decoder = FrameDecoder()
    for _ in range(100):
        assert decoder.feed(b"\x07" * 50) == []
    assert decoder.feed(b"\x07\x00" + good_wire()[:5]) == []
    assert decoder.feed(good_wire()[5:]) == [RawFrame(1, MsgType.PING, 42, b"good")]
    assert decoder.stats == {"oversize": 1}


def test_empty_frames_are_ignored_silently():
    frames, decoder = decode_all(b"\x00\x00\x00" + good_wire() + b"\x00" + good_wire(43))
    assert [f.seq for f in frames] == [42, 43] and not decoder.stats


def test_a_drop_is_logged_with_reason_and_length(caplog):
    caplog.set_level(logging.DEBUG, logger="firmware_bridge._framing")
    decode_all(wire(_flip(GOOD_RAW, 8 * 7)) * 2)
    records = [r for r in caplog.records if r.name == "firmware_bridge._framing"]
    assert [(r.reason, r.length) for r in records] == [("bad_crc", len(GOOD_RAW))] * 2
    assert [r.levelno for r in records] == [logging.WARNING, logging.DEBUG]


def test_shared_counter_and_reset():
    counter = Counter()
    decoder = FrameDecoder(stats=counter)
    assert decoder.feed(good_wire()[:6]) == []
    decoder.reset()
    assert decoder.feed(b"\x00" + good_wire()) == [RawFrame(1, MsgType.PING, 42, b"good")]
    decoder.feed(b"\x05\x00")
    assert counter == {"cobs_error": 1}


# -- chunking -------------------------------------------------------------------------------
def _random_stream(rng: random.Random, n: int) -> tuple[bytes, list[RawFrame]]:
    expected = []
    for _ in range(n):
        body = rng.randbytes(rng.choice([0, 1, 64, rng.randrange(MAX_BODY + 1)]))
        expected.append(RawFrame(1, rng.randrange(256), rng.randrange(65536), body))
    stream = b"".join(wire(encode_raw(f.version, f.msg_type, f.seq, f.body)) for f in expected)
    return stream, expected


def test_a_thousand_frames_in_random_chunks_decode_exactly():
    rng = random.Random(20240601)
    stream, expected = _random_stream(rng, 1000)
    decoder, got, i = FrameDecoder(), [], 0
    while i < len(stream):
        n = rng.choice([1, 2, 3, rng.randrange(1, 700), rng.randrange(1, 5000)])
        got += decoder.feed(stream[i:i + n])
        i += n
    assert got == expected and not decoder.stats


@PROPS
@given(seed=st.integers(0, 2**32), cuts=st.lists(st.integers(0, 10_000), max_size=30))
def test_chunking_never_changes_the_result(seed, cuts):
    stream, expected = _random_stream(random.Random(seed), 20)
    decoder, got, start = FrameDecoder(), [], 0
    for cut in sorted({c % (len(stream) + 1) for c in cuts}) + [len(stream)]:
        got += decoder.feed(stream[start:cut])
        start = cut
    assert got == expected


def test_byte_by_byte():
    stream, expected = _random_stream(random.Random(1), 30)
    decoder = FrameDecoder()
    assert [f for i in range(len(stream)) for f in decoder.feed(stream[i:i + 1])] == expected


# -- the device core ------------------------------------------------------------------------
def ask(dev: NativeDeviceCore, msg_type: int, seq: int, body=b"") -> list[NativeFrame]:
    return [parse(f) for f in FrameDecoder().feed(dev.receive(encode_frame(msg_type, seq, body)))]


def polled(dev: NativeDeviceCore) -> list[NativeFrame]:
    return [parse(f) for f in FrameDecoder().feed(dev.poll())]


def nack_of(frames: list[NativeFrame]) -> tuple[NackCode, str]:
    assert len(frames) == 1 and frames[0].type == MsgType.NACK, frames
    code, detail = nack_detail(frames[0])
    return NackCode(code), detail


class Probe:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, RadioConfig]] = []

    def on_transmit(self, payload: bytes, config: RadioConfig) -> None:
        self.sent.append((payload, config))


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def dev(clock):
    return NativeDeviceCore(Probe(), clock=clock, time_scale=0.01)


def configured(dev: NativeDeviceCore, seq: int = 100) -> NativeDeviceCore:
    assert [f.type for f in ask(dev, MsgType.CONFIGURE, seq, configure_body(CFG))] == [0x80]
    return dev


def test_device_hello_answers_info(dev):
    [reply] = ask(dev, MsgType.HELLO, 1, Hello())
    assert (reply.type, reply.seq) == (MsgType.INFO, 1)
    info = info_from_frame(reply)
    assert info.firmware_version == "coverage-net-fw 0.1.0" and info.radio_chip == "SX1262"
    assert info.supported_regions == REGION_BITS and info.protocol_version == 1
    assert info.extra == {"max_payload": 255}


def test_device_get_info_reflects_the_constructor():
    dev = NativeDeviceCore(firmware_version="fw-x", radio_chip="SX1276", regions=["EU868"])
    info = info_from_frame(ask(dev, MsgType.GET_INFO, 2)[0])
    assert (info.firmware_version, info.radio_chip, info.supported_regions) == (
        "fw-x", "SX1276", ("EU868",))


def test_device_ping_pong(dev):
    [reply] = ask(dev, MsgType.PING, 3, bytes(range(256)) + bytes(64))
    assert reply.type == MsgType.PONG and reply[Pong].data == bytes(range(256)) + bytes(64)


def test_device_configure_acks(dev):
    [reply] = ask(dev, MsgType.CONFIGURE, 4, configure_body(CFG))
    assert (reply.type, reply.seq) == (MsgType.ACK, 4) and isinstance(reply.payload, Ack)
    assert dev.config == CFG and dev.configs == [CFG]


def test_device_refuses_an_invalid_configure(dev):
    body = configure_body(CFG)
    body.spreading_factor = 13
    code, detail = nack_of(ask(dev, MsgType.CONFIGURE, 5, body))
    assert code == NackCode.INVALID_PARAMETER and "spreading_factor" in detail
    assert dev.config is None and dev.configs == []


def test_device_refuses_a_malformed_body(dev):
    code, detail = nack_of(ask(dev, MsgType.CONFIGURE, 6, bytes(14)))
    assert code == NackCode.BAD_FRAME and "15" in detail
    assert nack_of(ask(dev, MsgType.HELLO, 7, b""))[0] == NackCode.BAD_FRAME


def test_device_transmit_before_configure(dev):
    code, detail = nack_of(ask(dev, MsgType.TRANSMIT, 8, b"hi"))
    assert code == NackCode.INVALID_PARAMETER and "not configured" in detail
    assert dev.transmitted == []


@pytest.mark.parametrize("size", [0, 256, MAX_BODY])
def test_device_refuses_payload_sizes(dev, size):
    code, detail = nack_of(ask(configured(dev), MsgType.TRANSMIT, 9, bytes(size)))
    assert code == NackCode.INVALID_PARAMETER and "255" in detail
    assert dev.transmitted == []


def test_device_transmit_completes_after_scaled_airtime(dev, clock):
    configured(dev)
    start = clock()
    assert ask(dev, MsgType.TRANSMIT, 10, b"x" * 20) == []
    airtime_s = CFG.airtime_s(20)
    assert dev.backend.sent == [(b"x" * 20, CFG)] and dev.on_air
    clock.advance(airtime_s * 0.01 * 0.9)
    assert polled(dev) == []
    clock.advance(airtime_s * 0.01 * 0.2)
    [done] = polled(dev)
    assert (done.type, done.seq) == (MsgType.TX_DONE, 10) and not dev.on_air
    result = tx_result_from_frame(done)
    assert result.airtime_s == round(airtime_s * 1e6) / 1e6  # the real airtime, unscaled
    assert result.tx_power_dbm == CFG.tx_power_dbm
    assert done[TxDone].radio_timestamp_us == round((start - 1000.0 + airtime_s * 0.01) * 1e6)
    assert polled(dev) == []


def test_device_is_busy_while_on_air(dev, clock):
    configured(dev)
    ask(dev, MsgType.TRANSMIT, 11, b"first")
    code, _ = nack_of(ask(dev, MsgType.TRANSMIT, 12, b"second"))
    assert code == NackCode.BUSY
    assert nack_of(ask(dev, MsgType.CONFIGURE, 13, configure_body(CFG)))[0] == NackCode.BUSY
    assert ask(dev, MsgType.PING, 14, b"p")[0].type == MsgType.PONG  # still answers
    clock.advance(1.0)
    # the TX_DONE that fell due comes first, then the answer to the new request
    assert [f.type for f in ask(dev, MsgType.TRANSMIT, 12, b"second")] == [MsgType.TX_DONE]
    clock.advance(1.0)
    assert [(f.type, f.seq) for f in polled(dev)] == [(MsgType.TX_DONE, 12)]
    assert dev.transmitted == [b"first", b"second"] and dev.stats["busy"] == 2


def test_device_answers_a_repeated_seq_from_memory(dev, clock):
    configured(dev)
    assert ask(dev, MsgType.TRANSMIT, 20, b"once") == []
    assert ask(dev, MsgType.TRANSMIT, 20, b"once") == []  # retry while on air: TX_DONE later
    clock.advance(1.0)
    [done] = polled(dev)
    assert polled(dev) == []  # once
    [again] = ask(dev, MsgType.TRANSMIT, 20, b"once")  # retry after: from memory
    assert bytes(again) == bytes(done)
    assert dev.backend.sent == [(b"once", CFG)] and dev.transmitted == [b"once"]
    assert dev.stats["replayed"] == 2 and dev.stats["transmit"] == 1


def test_device_memory_holds_the_last_eight_seqs(dev):
    bodies = {seq: configure_body(dataclasses.replace(CFG, freq_hz=CFG.freq_hz + seq * 200_000))
              for seq in range(1, 10)}
    for seq, body in bodies.items():
        ask(dev, MsgType.CONFIGURE, seq, body)
    assert dev.stats["configure"] == 9
    ask(dev, MsgType.CONFIGURE, 9, bodies[9])
    ask(dev, MsgType.CONFIGURE, 2, bodies[2])
    assert dev.stats["replayed"] == 2
    ask(dev, MsgType.CONFIGURE, 1, bodies[1])  # forgotten: handled afresh
    ask(dev, MsgType.CONFIGURE, 2, bodies[3])  # same seq, another request: not a retry
    assert dev.stats["configure"] == 11 and dev.stats["replayed"] == 2


def test_device_answers_requests_without_effects_afresh(dev):
    for _ in range(2):  # PING, GET_INFO and HELLO are not remembered (PROTOCOL.md)
        assert ask(dev, MsgType.PING, 5, b"\x05")[0].type == MsgType.PONG
        assert ask(dev, MsgType.HELLO, 6, Hello())[0].type == MsgType.INFO
    assert dev.stats["ping"] == 2 and dev.stats["hello"] == 2 and dev.stats["replayed"] == 0


def test_device_nack_next(dev, clock):
    configured(dev)
    dev.nack_next(NackCode.BUSY)
    assert nack_of(ask(dev, MsgType.TRANSMIT, 30, b"a"))[0] == NackCode.BUSY
    assert ask(dev, MsgType.TRANSMIT, 30, b"a") == []  # BUSY is not remembered: now accepted
    clock.advance(1.0)
    assert [f.type for f in polled(dev)] == [MsgType.TX_DONE]
    dev.nack_next(NackCode.RADIO_FAILURE, count=2)
    assert nack_of(ask(dev, MsgType.PING, 31))[0] == NackCode.RADIO_FAILURE
    assert nack_of(ask(dev, MsgType.GET_INFO, 32))[0] == NackCode.RADIO_FAILURE
    assert ask(dev, MsgType.PING, 31)[0].type == MsgType.PONG  # a PING's NACK is not kept
    assert ask(dev, MsgType.PING, 33)[0].type == MsgType.PONG
    assert dev.transmitted == [b"a"] and dev.stats["scripted_nacks"] == 3


def test_device_drop_next_responses(dev, clock):
    configured(dev)
    dev.drop_next_responses(1)
    assert ask(dev, MsgType.HELLO, 40, Hello()) == []
    [info] = ask(dev, MsgType.HELLO, 40, Hello())  # the host's retry, answered afresh
    assert info.type == MsgType.INFO and dev.stats["hello"] == 2
    dev.drop_next_responses(1)
    ask(dev, MsgType.TRANSMIT, 41, b"lost")
    clock.advance(1.0)
    assert polled(dev) == []  # the TX_DONE was lost
    [done] = ask(dev, MsgType.TRANSMIT, 41, b"lost")
    assert done.type == MsgType.TX_DONE and dev.transmitted == [b"lost"]
    assert dev.stats["responses_dropped"] == 2


def test_device_push_rx(dev, clock):
    configured(dev)
    clock.advance(2.5)
    dev.push_rx(b"\x00uplink", rssi_dbm=-120.5, snr_db=-7.25, freq_error_hz=-1234)
    dev.push_rx(b"x" * 255, rssi_dbm=-40.0, snr_db=9.5, freq_hz=904_100_000, crc_ok=False,
                radio_timestamp_us=77)
    first, second = polled(dev)
    assert (first.type, second.type) == (MsgType.RX, MsgType.RX)
    assert second.seq == (first.seq + 1) & 0xFFFF
    p = rx_packet_from_frame(first, 3.0)
    assert (p.payload, p.rssi_dbm, p.snr_db, p.freq_error_hz) == (b"\x00uplink", -120.5, -7.25,
                                                                  -1234.0)
    assert (p.freq_hz, p.spreading_factor, p.bandwidth_hz, p.coding_rate) == (
        CFG.freq_hz, CFG.spreading_factor, CFG.bandwidth_hz, CFG.coding_rate)
    assert p.crc_ok and p.radio_timestamp_us == 2_500_000 and p.host_time_s == 3.0
    q = rx_packet_from_frame(second, 3.0)
    assert (q.payload, q.freq_hz, q.crc_ok, q.radio_timestamp_us) == (b"x" * 255, 904_100_000,
                                                                      False, 77)


def test_device_push_rx_needs_radio_parameters_before_configure(dev):
    with pytest.raises(ConfigError):
        dev.push_rx(b"x", rssi_dbm=-100, snr_db=0)
    dev.push_rx(b"x", rssi_dbm=-100, snr_db=0, freq_hz=868_100_000, spreading_factor=7,
                bandwidth_hz=125_000, coding_rate=5)
    assert rx_packet_from_frame(polled(dev)[0], 0.0).freq_hz == 868_100_000


def test_device_unknown_and_unexpected_types(dev):
    code, _ = nack_of(ask(dev, 0x42, 50, b"?"))
    assert code == NackCode.UNKNOWN_TYPE and dev.stats["unknown_type"] == 1
    assert ask(dev, 0xC0, 51) == [] and dev.stats["unknown_type"] == 2
    assert ask(dev, MsgType.ACK, 52) == [] and dev.stats["unexpected_type"] == 1


def test_device_drops_bad_frames_and_still_answers(dev):
    out = dev.receive(b"\x05garbage\x00" + wire(_flip(GOOD_RAW, 50))[:-1])
    assert out == b""
    out = dev.receive(b"\x00" + encode_frame(MsgType.PING, 60, b"ok"))
    assert [parse(f)[Pong].data for f in FrameDecoder().feed(out)] == [b"ok"]
    assert dev.stats["cobs_error"] == 1 and dev.stats["bad_crc"] == 1


def test_device_backend_failure_is_a_radio_failure(clock):
    class Broken:
        def on_transmit(self, payload, config):
            raise OSError("SPI timeout")

    dev = configured(NativeDeviceCore(Broken(), clock=clock))
    code, detail = nack_of(ask(dev, MsgType.TRANSMIT, 70, b"x"))
    assert code == NackCode.RADIO_FAILURE and "SPI timeout" in detail
    assert dev.transmitted == [] and not dev.on_air


def test_device_on_a_pty(tmp_path):
    """The SansIODevice contract: a host on the pty's slave end gets its answer."""
    with PtyDevice(NativeDeviceCore(time_scale=0.0), tmp_path / "ttyNATIVE") as pty:
        fd = os.open(pty.path, os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(fd, b"\x00" + encode_frame(MsgType.HELLO, 1, Hello()))
            decoder, frames, deadline = FrameDecoder(), [], time.monotonic() + 30
            while not frames and time.monotonic() < deadline:  # a hang guard, not a timing test
                if select.select([fd], [], [], 0.1)[0]:
                    frames += decoder.feed(os.read(fd, 4096))
        finally:
            os.close(fd)
    assert [(f.msg_type, f.seq) for f in frames] == [(MsgType.INFO, 1)]
