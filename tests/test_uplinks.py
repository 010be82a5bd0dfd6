"""Device uplinks: LoRaWAN data-uplink framing, the signed offer a hotspot sends a router,
and the router's reply, checked against garbage, forgeries and oversize input."""

from __future__ import annotations

import hashlib

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coverage_net.identity import Keypair
from coverage_net.messages import DataTransferReceipt
from coverage_net.node import (
    REFUSALS,
    UPLINK_LIMITS,
    UplinkError,
    UplinkOffer,
    UplinkRefused,
    UplinkReply,
    decode_offer,
    decode_reply,
    encode_reply,
    is_sellable_uplink,
    uplink_offer,
)
from coverage_net.radio import FreeSpace, Station
from firmware_bridge import (
    FrameError,
    RadioConfig,
    RxPacket,
    beacon_frame,
    data_uplink_frame,
    is_data_uplink,
    open_data_uplink,
    parse_data_uplink,
)
from radio_sim import (
    Channel,
    Sensor,
    SensorFleet,
    SimAir,
    SimConfigError,
    World,
    read_sensors,
    sensor_reading,
)

FUZZ = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])
HOTSPOT = Keypair.from_seed(hashlib.sha256(b"uplinks hotspot").digest())
OTHER = Keypair.from_seed(hashlib.sha256(b"uplinks other").digest())
ROUTER = Keypair.from_seed(hashlib.sha256(b"uplinks router").digest())
NWK_SKEY = bytes(range(16))
APP_SKEY = bytes(range(16, 32))
FRAME = data_uplink_frame(dev_addr=0x26011BDA, fcnt=7, fport=2, payload=b"21.5C 3012mV",
                          nwk_skey=NWK_SKEY, app_skey=APP_SKEY)


def _packet(payload: bytes = FRAME) -> RxPacket:
    return RxPacket(payload=payload, rssi_dbm=-97.25, snr_db=3.5, freq_hz=904_600_000,
                    spreading_factor=10, bandwidth_hz=125_000, coding_rate=5,
                    radio_timestamp_us=1, host_time_s=1.0, crc_ok=True)


def test_data_uplink_matches_the_lora_packet_reference_vector():
    # lora-packet's README: "test" on FPort 1, FCnt 2, DevAddr 49be7df1, with these keys
    frame = data_uplink_frame(dev_addr=0x49BE7DF1, fcnt=2, fport=1, payload=b"test",
                              nwk_skey=bytes.fromhex("44024241ed4ce9a68c6a8bc055233fd3"),
                              app_skey=bytes.fromhex("ec925802ae430ca77fd3dd73cb2cc588"))
    assert frame.hex().upper() == "40F17DBE4900020001954378762B11FF0D"
    uplink = parse_data_uplink(frame)
    assert (uplink.dev_addr, uplink.fcnt, uplink.fport, uplink.confirmed) == \
        (0x49BE7DF1, 2, 1, False)
    assert open_data_uplink(frame, fcnt=2,
                            nwk_skey=bytes.fromhex("44024241ed4ce9a68c6a8bc055233fd3"),
                            app_skey=bytes.fromhex("ec925802ae430ca77fd3dd73cb2cc588")) == b"test"


def test_the_mic_covers_the_32_bit_counter_and_the_key():
    frame = data_uplink_frame(dev_addr=1, fcnt=70_000, fport=3, payload=b"x" * 40,
                              nwk_skey=NWK_SKEY, app_skey=APP_SKEY)
    assert parse_data_uplink(frame).fcnt == 70_000 & 0xFFFF
    assert open_data_uplink(frame, fcnt=70_000, nwk_skey=NWK_SKEY, app_skey=APP_SKEY) == b"x" * 40
    with pytest.raises(FrameError, match="MIC"):
        open_data_uplink(frame, fcnt=70_000 & 0xFFFF, nwk_skey=NWK_SKEY, app_skey=APP_SKEY)
    with pytest.raises(FrameError, match="MIC"):
        open_data_uplink(frame, fcnt=70_000, nwk_skey=APP_SKEY, app_skey=APP_SKEY)


def test_beacons_and_other_frames_are_not_data_uplinks():
    beacon = beacon_frame(b"\x01" + bytes(20))
    assert not is_data_uplink(beacon) and not is_sellable_uplink(beacon)
    join_request = bytes([0x00]) + bytes(22)
    assert not is_data_uplink(join_request)
    assert is_data_uplink(FRAME) and is_sellable_uplink(FRAME)
    with pytest.raises(FrameError, match="MType"):
        parse_data_uplink(bytes([0x60]) + FRAME[1:])  # an unconfirmed downlink
    with pytest.raises(FrameError, match="bytes"):
        parse_data_uplink(FRAME[:5])


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_frame_error(data):
    try:
        uplink = parse_data_uplink(data)
    except FrameError:
        assert not is_data_uplink(data)
        return
    assert is_data_uplink(data) and len(uplink.mic) == 4


def test_a_signed_offer_from_its_hotspot_is_accepted():
    offer = uplink_offer(HOTSPOT, _packet(), 1_700_000_000_000)
    decoded = decode_offer(offer.to_cbor(), HOTSPOT.peer_id)
    assert decoded == offer
    assert decoded.packet_hash == hashlib.sha256(FRAME).digest()


def _refused(data: bytes, sender: str = HOTSPOT.peer_id) -> UplinkRefused:
    with pytest.raises(UplinkRefused) as info:
        decode_offer(data, sender)
    assert info.value.reason in REFUSALS
    assert info.value.detail
    return info.value


def test_bad_offers_are_refused_with_a_reason():
    offer = uplink_offer(HOTSPOT, _packet(), 1_700_000_000_000)
    assert _refused(b"\xff garbage").reason == "malformed"
    assert _refused(bytes(UPLINK_LIMITS.max_request_bytes + 1)).reason == "malformed"
    assert "cap" in _refused(bytes(UPLINK_LIMITS.max_request_bytes + 1)).detail
    forged = cbor2.loads(offer.to_cbor())
    forged["rssi_dbm"] = -50.0  # a better signal than heard, same signature
    assert _refused(cbor2.dumps(forged, canonical=True)).reason == "bad_signature"
    # a peer selling a packet in another hotspot's name
    assert _refused(offer.to_cbor(), OTHER.peer_id).reason == "wrong_sender"
    beacon = uplink_offer(HOTSPOT, _packet(beacon_frame(b"\x01" + bytes(20))), 1)
    assert _refused(beacon.to_cbor()).reason == "not_an_uplink"
    unsigned = UplinkOffer(**{k: getattr(offer, k) for k in (
        "hotspot_key", "payload", "rssi_dbm", "snr_db", "freq_hz", "spreading_factor",
        "bandwidth_hz", "received_ms")})
    assert _refused(unsigned.to_cbor()).reason in ("malformed", "bad_signature")


@FUZZ
@given(st.binary(max_size=UPLINK_LIMITS.max_request_bytes + 64))
def test_garbage_offers_are_refused_never_raised(data):
    assert _refused(data).reason in REFUSALS  # a refusal with its reason, never a crash


@FUZZ
@given(st.data())
def test_mutated_offers_are_refused(data):
    original = uplink_offer(HOTSPOT, _packet(), 1_700_000_000_000).to_cbor()
    mutated = bytearray(original)
    at = data.draw(st.integers(0, len(mutated) - 1))
    mutated[at] ^= data.draw(st.integers(1, 255))
    assert _refused(bytes(mutated)).reason in REFUSALS  # no altered offer is bought


def test_replies_round_trip_and_bad_replies_are_named():
    receipt = DataTransferReceipt(router_key=ROUTER.public_key, hotspot_key=HOTSPOT.public_key,
                                  packet_hash=hashlib.sha256(FRAME).digest(), epoch=3,
                                  payload_bytes=len(FRAME), data_credits=2,
                                  timestamp_ms=1_700_000_000_000).sign(ROUTER)
    assert decode_reply(encode_reply(UplinkReply(receipt=receipt))).receipt == receipt
    refusal = decode_reply(encode_reply(UplinkReply(refused="already_bought", detail="x")))
    assert (refusal.receipt, refusal.refused, refusal.detail) == (None, "already_bought", "x")
    for bad in (b"\x00", cbor2.dumps({"refused": "because"}), cbor2.dumps([1]),
                cbor2.dumps({"receipt": b"junk"}), cbor2.dumps({"other": 1})):
        with pytest.raises(UplinkError):
            decode_reply(bad)


def test_sensors_send_real_uplinks_with_their_own_counter(tmp_path):
    sensor = Sensor("s1", every_s=30.0)
    again = Sensor("s1", every_s=60.0)
    assert (sensor.dev_addr, sensor.nwk_skey) == (again.dev_addr, again.nwk_skey)  # by name
    frames = [sensor.frame(n) for n in range(3)]
    assert len(set(frames)) == 3 and all(is_sellable_uplink(f) for f in frames)
    assert [parse_data_uplink(f).fcnt for f in frames] == [0, 1, 2]
    assert open_data_uplink(frames[2], fcnt=2, nwk_skey=sensor.nwk_skey,
                            app_skey=sensor.app_skey) == sensor_reading(sensor, 2)
    assert parse_data_uplink(Sensor("s2", every_s=1).frame(0)).dev_addr != sensor.dev_addr


@pytest.mark.parametrize(("text", "named"), [
    ("{}", "list"), ("[1]", "name and every_s"), ('[{"name": "a"}]', "name and every_s"),
    ('[{"name": "a", "every_s": 5, "colour": 1}]', "colour"),
    ('[{"name": "a", "every_s": 0}]', "every_s"), ("[", "cannot read")])
def test_a_bad_sensors_file_names_what_is_wrong(tmp_path, text, named):
    path = tmp_path / "sensors.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SimConfigError, match=named):
        read_sensors(path)


def test_a_fleet_refuses_sensors_that_are_not_in_the_world():
    world = World([Station("hs", lat_deg=44.0, lon_deg=-71.0, region="US915")])
    air = SimAir(world, Channel(world, model=FreeSpace()))
    config = RadioConfig(freq_hz=903_900_000, spreading_factor=10)
    with pytest.raises(SimConfigError, match="not stations of the world"):
        SensorFleet(air, [Sensor("elsewhere", every_s=5)], config)
    with pytest.raises(SimConfigError, match="twice"):
        SensorFleet(air, [Sensor("hs", every_s=5), Sensor("hs", every_s=6)], config)
