"""Beacon frames (LoRaWAN Proprietary) and the LoRaTap pcap capture of sent and heard frames."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.contrib.loraphy2wan import MHDR, PHYPayload
from scapy.utils import PcapReader, PcapWriter, rdpcap

from firmware_bridge import BridgeError, FrameError, RadioConfig, RxPacket, TxResult
from firmware_bridge._capture import (
    LINKTYPE_LORATAP,
    PcapCapture,
    loratap_header,
    read_capture,
)
from firmware_bridge._lorawan import (
    MAX_BEACON_PAYLOAD_BYTES,
    beacon_frame,
    is_beacon_frame,
    parse_beacon_frame,
)

# --- beacon frames -----------------------------------------------------------------------------


def test_beacon_frame_fixed_vector():
    assert beacon_frame(b"\x01\x02\x03") == bytes.fromhex("e0010203")
    assert beacon_frame(b"") == b"\xe0"
    assert parse_beacon_frame(bytes.fromhex("e0010203")) == b"\x01\x02\x03"


@given(st.binary(max_size=MAX_BEACON_PAYLOAD_BYTES))
def test_beacon_frame_round_trip(payload):
    frame = beacon_frame(payload)
    assert frame == b"\xe0" + payload
    assert len(frame) <= 255
    assert is_beacon_frame(frame)
    assert parse_beacon_frame(frame) == payload


@given(st.binary(max_size=300))
def test_any_frame_is_a_beacon_exactly_when_it_starts_with_e0_and_fits(frame):
    expected = 0 < len(frame) <= 255 and frame[0] == 0xE0
    assert is_beacon_frame(frame) is expected
    if expected:
        assert parse_beacon_frame(frame) == frame[1:]
    else:
        with pytest.raises(FrameError):
            parse_beacon_frame(frame)


def test_scapy_dissects_the_frame_as_proprietary():
    frame = beacon_frame(b"coverage-net beacon payload")
    shown = MHDR(frame).show(dump=True)
    assert "MType     = Proprietary" in shown
    assert "Major     = 0" in shown
    assert "coverage-net beacon payload" in shown
    # scapy's full PHYPayload also names the MType (its body decoding is wrong, see below)
    assert "MType     = Proprietary" in PHYPayload(frame).show(dump=True)


def test_scapy_phypayload_still_mishandles_proprietary_frames():
    """Why _lorawan uses MHDR / Raw: if this fails, scapy was fixed and PHYPayload may do."""
    with pytest.raises(Exception):  # noqa: B017 - whatever scapy raises on a short frame
        PHYPayload(beacon_frame(b"short"))
    long = PHYPayload(beacon_frame(bytes(range(30))))
    assert long.getfieldval("ReJoin_Request_Field")  # read as a Rejoin-request (MType 0b110)
    assert bytes(PHYPayload(MType=0b111)) == bytes.fromhex("e000000000")  # a MIC we do not send


@pytest.mark.parametrize(("frame", "message"), [
    (b"", "frame is empty"),
    (bytes.fromhex("40010203040001000161"), r"Unconfirmed Data Up frame \(MHDR 0x40"),
    (bytes(23), "Join-request frame"),
    (bytes.fromhex("e1aa"), "Major 1"),
    (bytes.fromhex("e4aa"), "RFU 1"),
    (b"\xe0" + bytes(255), "frame is 256 bytes; a LoRa packet holds at most 255"),
])
def test_parse_rejects_non_beacon_frames_with_a_reason(frame, message):
    with pytest.raises(FrameError, match=message):
        parse_beacon_frame(frame)
    assert not is_beacon_frame(frame)


def test_beacon_payload_too_long_for_a_lora_packet():
    beacon_frame(bytes(254))
    with pytest.raises(FrameError, match="255 bytes; .* so at most 254: shorten the payload"):
        beacon_frame(bytes(255))


@pytest.mark.parametrize("fn", [beacon_frame, parse_beacon_frame, is_beacon_frame])
def test_text_is_not_bytes(fn):
    with pytest.raises(TypeError, match="must be bytes, got str"):
        fn("\xe0abc")


def test_bytes_like_inputs_are_accepted():
    assert beacon_frame(bytearray(b"ab")) == b"\xe0ab"
    assert parse_beacon_frame(memoryview(b"\xe0ab")) == b"ab"


# --- LoRaTap pcap capture ----------------------------------------------------------------------

RX_TIME_S = 1_700_000_000.123456
TX_TIME_S = 1_700_000_001.5


def rx_packet(**overrides) -> RxPacket:
    fields = dict(payload=beacon_frame(b"heard"), rssi_dbm=-80.4, snr_db=-2.5,
                  freq_hz=868_100_000, spreading_factor=7, bandwidth_hz=125_000, coding_rate=5,
                  radio_timestamp_us=123, host_time_s=RX_TIME_S, crc_ok=True)
    fields.update(overrides)
    return RxPacket(**fields)


TX_CONFIG = RadioConfig(freq_hz=903_900_000, spreading_factor=8, bandwidth_hz=500_000,
                        sync_word=0x12)
TX_RESULT = TxResult(airtime_s=0.05, radio_timestamp_us=456, tx_power_dbm=14.0)
TX_PAYLOAD = beacon_frame(b"sent")

# The expected LoRaTap v0 headers, byte by byte.
RX_HEADER = bytes([
    0x00, 0x00, 0x00, 0x0F,  # version 0, padding, length 15 (big-endian)
    0x33, 0xBE, 0x27, 0xA0,  # 868 100 000 Hz
    0x01, 0x07,  # 125 kHz, SF7
    0x3B, 0xFF, 0xFF,  # packet RSSI -80 dBm (-80 + 139 = 59); max, current: 255 = n/a
    0xF6,  # SNR -2.5 dB: -10 quarter-dB, two's complement
    0x34,  # LoRaWAN sync word
])
TX_HEADER = bytes([
    0x00, 0x00, 0x00, 0x0F,
    0x35, 0xE0, 0x6B, 0x60,  # 903 900 000 Hz
    0x04, 0x08,  # 500 kHz, SF8
    0xFF, 0xFF, 0xFF,  # no RSSI for a transmitted packet
    0x00,  # SNR 0
    0x12,  # the config's sync word
])


@pytest.fixture
def capture_path(tmp_path):
    path = tmp_path / "radio.pcap"
    with PcapCapture(path) as cap:
        cap.write_rx(rx_packet())
        cap.write_tx(TX_PAYLOAD, TX_CONFIG, TX_RESULT, TX_TIME_S)
        assert cap.records == 2
    assert cap.closed
    return path


def test_records_read_back_with_scapy_byte_by_byte(capture_path):
    with PcapReader(str(capture_path)) as reader:
        assert reader.linktype == LINKTYPE_LORATAP == 270
    packets = rdpcap(str(capture_path))  # scapy has no LoRaTap layer: Raw packets
    assert [bytes(p) for p in packets] == [RX_HEADER + rx_packet().payload,
                                           TX_HEADER + TX_PAYLOAD]
    assert [str(p.time) for p in packets] == ["1700000000.123456", "1700000001.500000"]


def test_records_read_back_with_read_capture(capture_path):
    rx, tx = read_capture(capture_path)
    assert rx.time_s == pytest.approx(RX_TIME_S, abs=1e-6)
    assert rx.payload == rx_packet().payload
    assert parse_beacon_frame(rx.payload) == b"heard"
    assert rx.header == {
        "lt_version": 0, "lt_padding": 0, "lt_length": 15, "frequency": 868_100_000,
        "bandwidth": 1, "sf": 7, "packet_rssi": 59, "max_rssi": 255, "current_rssi": 255,
        "snr": 0xF6, "sync_word": 0x34,
        "freq_hz": 868_100_000, "bandwidth_hz": 125_000, "spreading_factor": 7,
        "rssi_dbm": -80.0, "snr_db": -2.5, "direction": "rx",
    }
    assert tx.time_s == TX_TIME_S
    assert tx.payload == TX_PAYLOAD
    assert (tx.header["freq_hz"], tx.header["bandwidth_hz"], tx.header["spreading_factor"],
            tx.header["rssi_dbm"], tx.header["snr_db"], tx.header["sync_word"],
            tx.header["direction"]) == (903_900_000, 500_000, 8, None, 0.0, 0x12, "tx")


def test_header_helper_matches_the_expected_bytes():
    assert loratap_header(freq_hz=868_100_000, bandwidth_hz=125_000, spreading_factor=7,
                          packet_rssi_dbm=-80.4, snr_db=-2.5, sync_word=0x34) == RX_HEADER


@pytest.mark.parametrize(("rssi_dbm", "code"), [
    (-139, 0), (-80, 59), (-80.6, 58), (0, 139), (115, 254),
    (-200, 0), (200, 254),  # clipped; 255 is kept for "not available"
    (math.nan, 255), (-math.inf, 255),
])
def test_rssi_encoding(rssi_dbm, code):
    header = loratap_header(freq_hz=868_100_000, bandwidth_hz=125_000, spreading_factor=7,
                            packet_rssi_dbm=rssi_dbm, snr_db=0, sync_word=0x34)
    assert header[10] == code


@pytest.mark.parametrize(("snr_db", "code"), [
    (0, 0x00), (10.25, 41), (-2.5, 0xF6), (-20, 0xB0), (31.75, 127),
    (40, 127), (-32, 0x80), (-40, 0x80),  # clipped to an int8 of quarter-dB
])
def test_snr_encoding(snr_db, code):
    header = loratap_header(freq_hz=868_100_000, bandwidth_hz=125_000, spreading_factor=7,
                            packet_rssi_dbm=-100, snr_db=snr_db, sync_word=0x34)
    assert header[13] == code


@given(payload=st.binary(max_size=255),
       rssi_dbm=st.floats(-139, 115),
       snr_db=st.floats(-32, 31.75),
       host_time_s=st.floats(0, 4_000_000_000, exclude_max=True))
def test_rx_record_round_trip(tmp_path_factory, payload, rssi_dbm, snr_db, host_time_s):
    path = tmp_path_factory.mktemp("rt") / "rt.pcap"
    with PcapCapture(path) as cap:
        cap.write_rx(rx_packet(payload=payload, rssi_dbm=rssi_dbm, snr_db=snr_db,
                               host_time_s=host_time_s))
    [record] = read_capture(path)
    assert record.payload == payload
    assert record.time_s == pytest.approx(host_time_s, abs=1e-6)
    assert record.header["rssi_dbm"] == round(rssi_dbm)
    assert record.header["snr_db"] == round(snr_db * 4) / 4
    assert record.header["direction"] == "rx"


@pytest.mark.parametrize(("bandwidth_hz", "code"), [
    (125_000, 1), (250_000, 2), (500_000, 4), (62_500, 0), (7_800, 0),
])
def test_bandwidth_codes(tmp_path, bandwidth_hz, code):
    with PcapCapture(tmp_path / "bw.pcap") as cap:
        cap.write_rx(rx_packet(bandwidth_hz=bandwidth_hz))
    [record] = read_capture(tmp_path / "bw.pcap")
    assert record.header["bandwidth"] == code
    assert record.header["bandwidth_hz"] == (bandwidth_hz if code else None)


def test_rx_sync_word_can_be_given(tmp_path):
    with PcapCapture(tmp_path / "s.pcap") as cap:
        cap.write_rx(rx_packet(), sync_word=0x12)
    assert read_capture(tmp_path / "s.pcap")[0].header["sync_word"] == 0x12


def test_empty_capture_is_a_valid_pcap(tmp_path):
    PcapCapture(tmp_path / "empty.pcap").close()
    assert (tmp_path / "empty.pcap").stat().st_size == 24
    assert read_capture(tmp_path / "empty.pcap") == []
    assert len(rdpcap(str(tmp_path / "empty.pcap"))) == 0


def test_each_record_is_on_disk_when_write_returns(tmp_path):
    path = tmp_path / "live.pcap"
    cap = PcapCapture(path)
    cap.write_rx(rx_packet())
    assert [r.payload for r in read_capture(path)] == [rx_packet().payload]
    cap.write_tx(TX_PAYLOAD, TX_CONFIG, TX_RESULT, TX_TIME_S)
    assert len(read_capture(path)) == 2
    cap.close()


def test_a_killed_writer_keeps_every_finished_record(tmp_path):
    path = tmp_path / "killed.pcap"
    script = textwrap.dedent(f"""
        import os, signal
        from firmware_bridge import RxPacket
        from firmware_bridge._capture import PcapCapture
        cap = PcapCapture({str(path)!r})
        for i in range(3):
            cap.write_rx(RxPacket(payload=bytes([0xE0, i]), rssi_dbm=-90, snr_db=5,
                                  freq_hz=868_100_000, spreading_factor=9, bandwidth_hz=125_000,
                                  coding_rate=5, radio_timestamp_us=i, host_time_s=1e9 + i,
                                  crc_ok=True))
        os.kill(os.getpid(), signal.SIGKILL)  # no close(), no atexit
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -9, proc.stderr
    assert [r.payload for r in read_capture(path)] == [b"\xe0\x00", b"\xe0\x01", b"\xe0\x02"]


def test_a_truncated_last_record_is_dropped(capture_path, caplog):
    data = capture_path.read_bytes()
    capture_path.write_bytes(data[:-3])
    [record] = read_capture(capture_path)
    assert record.payload == rx_packet().payload
    assert "truncated pcap record dropped" in caplog.text


def test_longer_loratap_headers_are_skipped_to_lt_length(tmp_path):
    # a LoRaTap v1 record: the v0 fields, then 20 bytes of v1 extension, lt_length 35
    v1_header = bytes([0x01, 0x00, 0x00, 35]) + RX_HEADER[4:] + bytes(20)
    with PcapWriter(str(tmp_path / "v1.pcap"), linktype=LINKTYPE_LORATAP) as w:
        w.write_header(None)
        w.write_packet(v1_header + b"\xe0v1", sec=1, usec=2)
    [record] = read_capture(tmp_path / "v1.pcap")
    assert record.payload == b"\xe0v1"
    assert record.header["lt_version"] == 1
    assert record.header["freq_hz"] == 868_100_000
    assert record.time_s == pytest.approx(1.000002)


def test_reading_something_else_fails_clearly(tmp_path):
    (tmp_path / "short").write_bytes(b"abc")
    with pytest.raises(FrameError, match="shorter than a pcap header"):
        read_capture(tmp_path / "short")
    (tmp_path / "text").write_bytes(b"not a pcap file at all, just text")
    with pytest.raises(FrameError, match="pcap magic number"):
        read_capture(tmp_path / "text")
    with PcapWriter(str(tmp_path / "eth.pcap"), linktype=1) as w:
        w.write_header(None)
        w.write_packet(bytes(20), sec=1, usec=0)
    with pytest.raises(FrameError, match="link type 1, not LoRaTap"):
        read_capture(tmp_path / "eth.pcap")


def test_closed_capture_refuses_writes(tmp_path):
    cap = PcapCapture(tmp_path / "c.pcap")
    cap.close()
    cap.close()  # a second close is harmless
    with pytest.raises(BridgeError, match="is closed"):
        cap.write_rx(rx_packet())


def test_bad_records_are_refused(tmp_path):
    with PcapCapture(tmp_path / "bad.pcap") as cap:
        with pytest.raises(FrameError, match="256 bytes; a LoRa packet holds at most 255"):
            cap.write_tx(bytes(256), TX_CONFIG, TX_RESULT, TX_TIME_S)
        with pytest.raises(ValueError, match="host_time_s is -1"):
            cap.write_tx(TX_PAYLOAD, TX_CONFIG, TX_RESULT, -1)
        with pytest.raises(ValueError, match="host_time_s is nan"):
            cap.write_rx(rx_packet(host_time_s=math.nan))
        assert cap.records == 0
    assert read_capture(tmp_path / "bad.pcap") == []


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_reads_the_capture(capture_path):
    fields = ["frame.time_epoch", "loratap.version", "loratap.header_length",
              "loratap.channel.frequency", "loratap.channel.bandwidth", "loratap.channel.sf",
              "loratap.rssi.packet", "loratap.rssi.max", "loratap.rssi.current",
              "loratap.rssi.snr", "loratap.syncword", "lorawan.mhdr.mtype",
              "lorawan.mhdr.major"]
    cmd = ["tshark", "-r", str(capture_path), "-T", "fields", "-E", "separator=,"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = [dict(zip(fields, line.split(","), strict=True)) for line in out.splitlines()]
    assert len(rows) == 2
    rx, tx = rows
    assert float(rx["frame.time_epoch"]) == pytest.approx(RX_TIME_S, abs=1e-6)
    assert (rx["loratap.version"], rx["loratap.header_length"]) == ("0", "15")
    assert (rx["loratap.channel.frequency"], rx["loratap.channel.bandwidth"],
            rx["loratap.channel.sf"]) == ("868100000", "1", "7")
    assert (rx["loratap.rssi.packet"], rx["loratap.rssi.max"], rx["loratap.rssi.current"],
            rx["loratap.rssi.snr"]) == ("59", "255", "255", "246")
    assert int(rx["loratap.syncword"], 0) == 0x34
    # sync word 0x34 hands the payload to Wireshark's LoRaWAN dissector: Proprietary, R1
    assert (rx["lorawan.mhdr.mtype"], rx["lorawan.mhdr.major"]) == ("7", "0")
    assert float(tx["frame.time_epoch"]) == pytest.approx(TX_TIME_S, abs=1e-6)
    assert (tx["loratap.channel.frequency"], tx["loratap.channel.bandwidth"],
            tx["loratap.channel.sf"], tx["loratap.rssi.packet"], tx["loratap.rssi.snr"]) == (
        "903900000", "4", "8", "255", "0")
    assert int(tx["loratap.syncword"], 0) == 0x12
    assert tx["lorawan.mhdr.mtype"] == ""  # sync word 0x12: not handed to LoRaWAN
