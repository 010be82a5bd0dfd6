"""Regenerate native_frames.json, the shared test vectors of the native serial protocol.

The C firmware and the Python host are both checked against these vectors, so
their framing (COBS, CRC, field layout) cannot drift apart. The file is derived
from the Python implementation and is deterministic: running this script on an
unchanged tree rewrites identical bytes (``--check`` only compares).

    python tests/vectors/make_native_vectors.py [--check]

Frame ``fields`` are the body's wire fields by their PROTOCOL.md names, in
plain JSON: integers (flags and bit masks too), UTF-8 strings for text, and
hex for byte strings (``payload`` of TRANSMIT and RX, ``data`` of PING and PONG).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scapy.fields import StrField, StrLenField

from firmware_bridge._framing import PROTOCOL_VERSION, cobs_encode, crc16, wire
from firmware_bridge._protocol import BODY_LAYERS, MsgType, NativeFrame

OUTPUT = Path(__file__).with_name("native_frames.json")

TEXT_FIELDS = {"firmware_version", "radio_chip", "detail"}
HEX_RENAMED = {MsgType.TRANSMIT: "payload", MsgType.RX: "payload"}  # scapy reserves `payload`

PING_320 = bytes(range(1, 256)) + bytes(range(1, 66))
RX_255 = bytes((i * 7 + 3) & 0xFF for i in range(255))

COBS_INPUTS = [
    b"",
    b"\x00",
    b"\x00\x00",
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
    b"\x01",
    b"\x11\x22\x00\x33",
    b"\x11\x22\x33\x44",
    b"\x11\x00\x00\x00",
    b"\x00\x11\x22",
    b"\x11\x22\x33\x00",
    bytes(range(1, 254)),  # 253 non-zero
    bytes(range(1, 255)),  # 254 non-zero: FF block, then the final 01 code
    bytes(range(1, 256)),  # 255 non-zero
    b"\x00" + bytes(range(1, 255)),
    bytes(range(2, 256)) + b"\x00",  # 254 non-zero, then 00
    bytes(range(3, 256)) + b"\x00\x01",
    bytes(range(1, 255)) * 2,  # 508 non-zero: two FF blocks
    b"\x01" * 253 + b"\x00" + b"\x02" * 254,
]

CRC_INPUTS = [b"123456789", b"", b"\x00", b"\xff\xff\xff\xff",
              bytes.fromhex("010500000000")]

# (name, type, seq, body fields by scapy name; bytes where scapy wants bytes)
FRAMES = [
    ("hello", MsgType.HELLO, 1, {"host_version": 1}),
    ("get_info", MsgType.GET_INFO, 2, {}),
    ("configure_us915_sf10", MsgType.CONFIGURE, 3,
     dict(freq_hz=903_900_000, spreading_factor=10, bandwidth_hz=125_000, coding_rate=5,
          tx_power_dbm=20, sync_word=0x34, preamble_symbols=8, flags=0)),
    ("configure_negative_power_iq_inverted", MsgType.CONFIGURE, 4,
     dict(freq_hz=869_525_000, spreading_factor=12, bandwidth_hz=500_000, coding_rate=8,
          tx_power_dbm=-9, sync_word=0x12, preamble_symbols=65535, flags=1)),
    ("transmit_1_byte", MsgType.TRANSMIT, 5, {"data": b"\x00"}),
    ("transmit_255_bytes", MsgType.TRANSMIT, 6, {"data": bytes(range(255))}),
    ("ping_empty", MsgType.PING, 7, {"data": b""}),
    ("ping_320_bytes", MsgType.PING, 0x0100, {"data": PING_320}),
    ("ack", MsgType.ACK, 3, {}),
    ("info", MsgType.INFO, 1,
     dict(protocol_version=1, firmware_version=b"coverage-net-fw 0.1.0", radio_chip=b"SX1262",
          regions=0x3F, max_payload=255)),
    ("info_empty_strings", MsgType.INFO, 2,
     dict(protocol_version=1, firmware_version=b"", radio_chip=b"", regions=0x02,
          max_payload=222)),
    ("tx_done", MsgType.TX_DONE, 6,
     dict(airtime_us=370_688, radio_timestamp_us=1_700_000_123_456, tx_power_dbm=20)),
    ("tx_done_negative_power_max_timestamp", MsgType.TX_DONE, 65535,
     dict(airtime_us=1, radio_timestamp_us=2**64 - 1, tx_power_dbm=-9)),
    ("pong_empty", MsgType.PONG, 7, {"data": b""}),
    ("pong_320_bytes", MsgType.PONG, 0x0100, {"data": PING_320}),
    ("rx_255_bytes", MsgType.RX, 1,
     dict(radio_timestamp_us=123_456_789_012, freq_hz=903_900_000, rssi_cdbm=-12050,
          snr_cdb=-725, freq_error_hz=-1234, spreading_factor=10, bandwidth_hz=125_000,
          coding_rate=5, flags=1, data=RX_255)),
    ("rx_crc_error_positive_snr", MsgType.RX, 0,
     dict(radio_timestamp_us=0, freq_hz=868_100_000, rssi_cdbm=-4550, snr_cdb=950,
          freq_error_hz=2500, spreading_factor=7, bandwidth_hz=125_000, coding_rate=8,
          flags=0, data=bytes.fromhex("c0ffee"))),
    ("nack_busy", MsgType.NACK, 6, {"code": 1, "detail": b"transmitting"}),
    ("nack_invalid_parameter", MsgType.NACK, 3,
     {"code": 2, "detail": b"spreading_factor is 13; it must be a number in [7, 12]"}),
    ("nack_utf8_detail", MsgType.NACK, 9,
     {"code": 4, "detail": "radio: échec SPI (ΔT=5 µs)".encode()}),
    ("nack_unknown_type_empty_detail", MsgType.NACK, 10, {"code": 6, "detail": b""}),
]


def frame_fields(frame: NativeFrame) -> dict:
    """The body fields of a dissected frame, as plain JSON values (see module docstring)."""
    body = frame.payload
    out = {}
    for f in body.fields_desc:
        value = body.getfieldval(f.name)
        name = f.name
        if f.name in TEXT_FIELDS:
            value = bytes(value).decode("utf-8")
        elif isinstance(f, (StrField, StrLenField)):
            name = HEX_RENAMED.get(frame.type, f.name)
            value = bytes(value).hex()
        else:
            value = int(value)
        out[name] = value
    return out


def body_from_fields(msg_type: int, fields: dict):
    """The scapy body layer of JSON `fields` (inverse of `frame_fields`)."""
    cls = BODY_LAYERS[MsgType(msg_type)]
    kwargs = {}
    for f in cls.fields_desc:
        name = HEX_RENAMED.get(msg_type, f.name) if f.name == "data" else f.name
        if name not in fields:
            continue
        value = fields[name]
        if f.name in TEXT_FIELDS:
            value = value.encode("utf-8")
        elif isinstance(f, (StrField, StrLenField)):
            value = bytes.fromhex(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def generate() -> dict:
    frames = []
    for name, msg_type, seq, fields in FRAMES:
        raw = bytes(NativeFrame(seq=seq) / BODY_LAYERS[msg_type](**fields))
        frame = NativeFrame(raw)
        frames.append({
            "name": name,
            "type": int(msg_type),
            "seq": seq,
            "fields": frame_fields(frame),
            "body": bytes(frame.payload).hex(),
            "raw": raw.hex(),
            "wire": wire(raw).hex(),
        })
    return {
        "protocol_version": PROTOCOL_VERSION,
        "cobs": [{"raw": x.hex(), "encoded": cobs_encode(x).hex()} for x in COBS_INPUTS],
        "crc16": [{"data": x.hex(), "crc": crc16(x)} for x in CRC_INPUTS],
        "frames": frames,
    }


def render() -> str:
    return json.dumps(generate(), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the committed file differs; do not write")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            sys.stderr.write(f"{OUTPUT} is stale: run {Path(__file__).name}\n")
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {OUTPUT}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
