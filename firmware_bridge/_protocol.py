"""The native protocol's messages as scapy layers, and conversions to the `Radio` types.

`NativeFrame` is the raw frame (header, typed body, CRC trailer); each message
body is a layer bound to it by `type`, so frames build, dissect and ``show()``
like any scapy packet. COBS and the stream decoder live in `_framing`; this
module only knows what the bytes of a raw frame mean. PROTOCOL.md is the
specification.

Examples
--------
>>> raw = build(MsgType.PING, 7, Ping(data=b"hi"))
>>> frame = NativeFrame(raw)
>>> frame.seq, frame[Ping].data, frame.crc_ok
(7, b'hi', True)
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable

from scapy.fields import (
    ByteEnumField,
    ByteField,
    FieldLenField,
    FlagsField,
    LEIntField,
    LELongField,
    LEShortField,
    LESignedIntField,
    LESignedShortField,
    SignedByteField,
    StrField,
    StrLenField,
    XByteField,
)
from scapy.packet import NoPayload, Packet, bind_layers

from ._errors import FrameError
from ._framing import (
    CRC_LEN,
    HEADER_LEN,
    MAX_BODY,
    MIN_RAW,
    PROTOCOL_VERSION,
    RawFrame,
    crc16,
    encode_raw,
    wire,
)
from ._radio import RadioConfig, RadioInfo, RxPacket, TxResult

MAX_PAYLOAD = 255  # a LoRa packet's largest payload


class MsgType(enum.IntEnum):
    """Message types; bit 7 set means device -> host."""

    HELLO = 0x01
    GET_INFO = 0x02
    CONFIGURE = 0x03
    TRANSMIT = 0x04
    PING = 0x05
    ACK = 0x80
    INFO = 0x81
    TX_DONE = 0x84
    PONG = 0x85
    RX = 0x90
    NACK = 0xFF


class NackCode(enum.IntEnum):
    BUSY = 1
    INVALID_PARAMETER = 2
    UNSUPPORTED = 3
    RADIO_FAILURE = 4
    BAD_FRAME = 5
    UNKNOWN_TYPE = 6


REGION_BITS = ("US915", "EU868", "AU915", "AS923-1", "KR920", "IN865")
_REGION_FLAG_NAMES = list(REGION_BITS) + [f"bit{i}" for i in range(len(REGION_BITS), 16)]


class NativeFrame(Packet):
    """A raw frame: header fields, the body as payload layer, the CRC as trailer.

    Building fills `length` (when None) and appends the CRC over header and
    body; set `crc` to force a trailer (a wrong one, in tests). Dissecting
    strips the trailer into `crc`; `crc_ok` says whether it matches. As with any
    scapy length field, a dissected frame keeps its `length` and `crc`: after
    changing a field, set both to None to have them recomputed.
    """

    name = "NativeFrame"
    __slots__ = ("crc",)
    fields_desc = [
        ByteField("version", PROTOCOL_VERSION),
        ByteEnumField("type", 0, {t.value: t.name for t in MsgType}),
        LEShortField("seq", 0),
        LEShortField("length", None),
    ]

    def __init__(self, *args, **kwargs) -> None:
        object.__setattr__(self, "crc", None)
        super().__init__(*args, **kwargs)

    def post_build(self, pkt: bytes, pay: bytes) -> bytes:
        if self.length is None:
            pkt = pkt[:HEADER_LEN - 2] + struct.pack("<H", len(pay)) + pkt[HEADER_LEN:]
        head = pkt + pay
        crc = crc16(head) if self.crc is None else self.crc
        return head + struct.pack("<H", crc)

    def pre_dissect(self, s: bytes) -> bytes:
        if len(s) >= MIN_RAW:
            object.__setattr__(self, "crc", int.from_bytes(s[-CRC_LEN:], "little"))
            return s[:-CRC_LEN]
        return s

    def post_dissect(self, s: bytes) -> bytes:
        # Without a cached copy of the header, rebuilding goes through post_build
        # and so reproduces the trailer: raw(NativeFrame(x)) == x.
        self.raw_packet_cache = None
        return s

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes | None]:
        if self.length is None:
            return s, None
        return s[:self.length], s[self.length:]

    def do_dissect_payload(self, s: bytes) -> None:
        if s:
            super().do_dissect_payload(s)
            return
        cls = self.guess_payload_class(s)  # an empty body is still a typed body
        if getattr(cls, "body_size", (1,))[0] == 0:
            self.add_payload(cls(_internal=1, _underlayer=self))

    def copy(self) -> NativeFrame:
        clone = super().copy()
        object.__setattr__(clone, "crc", self.crc)
        return clone

    @property
    def crc_ok(self) -> bool:
        """Whether the trailer matches header and body (a computed one always does)."""
        raw = self.do_build()
        return crc16(raw[:-CRC_LEN]) == int.from_bytes(raw[-CRC_LEN:], "little")

    def mysummary(self) -> str:
        return self.sprintf("NativeFrame %type% seq=%seq%")


class _Body(Packet):
    """A message body; `body_size` bounds its length in bytes (min, max)."""

    body_size: tuple[int, int] = (0, MAX_BODY)


class Hello(_Body):
    name = "HELLO"
    body_size = (1, 1)
    fields_desc = [ByteField("host_version", PROTOCOL_VERSION)]


class GetInfo(_Body):
    name = "GET_INFO"
    body_size = (0, 0)
    fields_desc = []


class Configure(_Body):
    name = "CONFIGURE"
    body_size = (15, 15)
    fields_desc = [
        LEIntField("freq_hz", 0),
        ByteField("spreading_factor", 7),
        LEIntField("bandwidth_hz", 125_000),
        ByteField("coding_rate", 5),
        SignedByteField("tx_power_dbm", 14),
        XByteField("sync_word", 0x34),
        LEShortField("preamble_symbols", 8),
        FlagsField("flags", 0, -8, ["IQ_INVERTED"] + [f"bit{i}" for i in range(1, 8)]),
    ]


class Transmit(_Body):
    name = "TRANSMIT"
    body_size = (0, MAX_BODY)  # the device refuses outside 1..255 with INVALID_PARAMETER
    fields_desc = [StrField("data", b"")]  # PROTOCOL.md: payload


class Ping(_Body):
    name = "PING"
    fields_desc = [StrField("data", b"")]


class Ack(_Body):
    name = "ACK"
    body_size = (0, 0)
    fields_desc = []


class Info(_Body):
    name = "INFO"
    body_size = (6, 6 + 2 * 255)
    fields_desc = [
        ByteField("protocol_version", PROTOCOL_VERSION),
        FieldLenField("fw_len", None, length_of="firmware_version", fmt="B"),
        StrLenField("firmware_version", b"", length_from=lambda p: p.fw_len),
        FieldLenField("chip_len", None, length_of="radio_chip", fmt="B"),
        StrLenField("radio_chip", b"", length_from=lambda p: p.chip_len),
        FlagsField("regions", 0, -16, _REGION_FLAG_NAMES),
        ByteField("max_payload", MAX_PAYLOAD),
    ]


class TxDone(_Body):
    name = "TX_DONE"
    body_size = (13, 13)
    fields_desc = [
        LEIntField("airtime_us", 0),
        LELongField("radio_timestamp_us", 0),
        SignedByteField("tx_power_dbm", 0),
    ]


class Pong(_Body):
    name = "PONG"
    fields_desc = [StrField("data", b"")]


class Rx(_Body):
    name = "RX"
    body_size = (27, 27 + MAX_PAYLOAD)
    fields_desc = [
        LELongField("radio_timestamp_us", 0),
        LEIntField("freq_hz", 0),
        LESignedShortField("rssi_cdbm", 0),
        LESignedShortField("snr_cdb", 0),
        LESignedIntField("freq_error_hz", 0),
        ByteField("spreading_factor", 7),
        LEIntField("bandwidth_hz", 125_000),
        ByteField("coding_rate", 5),
        FlagsField("flags", 1, -8, ["CRC_OK"] + [f"bit{i}" for i in range(1, 8)]),
        StrField("data", b""),  # PROTOCOL.md: payload
    ]


class Nack(_Body):
    name = "NACK"
    body_size = (1, MAX_BODY)
    fields_desc = [
        ByteEnumField("code", NackCode.BUSY, {c.value: c.name for c in NackCode}),
        StrField("detail", b""),  # UTF-8 text
    ]


_KNOWN = frozenset(int(t) for t in MsgType)

BODY_LAYERS: dict[MsgType, type[_Body]] = {
    MsgType.HELLO: Hello, MsgType.GET_INFO: GetInfo, MsgType.CONFIGURE: Configure,
    MsgType.TRANSMIT: Transmit, MsgType.PING: Ping, MsgType.ACK: Ack, MsgType.INFO: Info,
    MsgType.TX_DONE: TxDone, MsgType.PONG: Pong, MsgType.RX: Rx, MsgType.NACK: Nack,
}
for _type, _cls in BODY_LAYERS.items():
    bind_layers(NativeFrame, _cls, type=int(_type))
del _type, _cls


# -- frames -----------------------------------------------------------------------------------
def build(msg_type: int, seq: int, body: Packet | bytes = b"") -> bytes:
    """The raw frame (CRC included, no COBS) of one message; `FrameError` if unbuildable."""
    if isinstance(body, Packet):
        expected = BODY_LAYERS.get(msg_type)
        if isinstance(body, _Body) and expected is not None and not isinstance(body, expected):
            raise FrameError(f"a {type(body).__name__} body cannot travel as "
                             f"{MsgType(msg_type).name}; use {expected.__name__}")
        body = bytes(body)
    return encode_raw(PROTOCOL_VERSION, int(msg_type), seq, body)


def encode_frame(msg_type: int, seq: int, body: Packet | bytes = b"") -> bytes:
    """The wire bytes (COBS and delimiter) of one message: `build` then `wire`."""
    return wire(build(msg_type, seq, body))


def to_wire(pkt: NativeFrame | bytes) -> bytes:
    """COBS-encoded, delimited bytes of a frame, ready to write to the port."""
    return wire(bytes(pkt))


def parse(raw_frame: RawFrame) -> NativeFrame:
    """The scapy view of a decoded frame (unknown types get a Raw body)."""
    return NativeFrame(encode_raw(raw_frame.version, raw_frame.msg_type, raw_frame.seq,
                                  raw_frame.body))


def expect_body(frame: NativeFrame | RawFrame, cls: type[_Body]) -> _Body:
    """The body of `frame` as a `cls` layer; `FrameError` when it is malformed.

    Scapy dissects leniently (a short body becomes Raw, extra bytes a Raw
    payload); a device or driver must refuse such a body rather than act on it.
    A `RawFrame` is parsed first.
    """
    if isinstance(frame, RawFrame):
        frame = parse(frame)
    body = frame.payload
    what = f"{MsgType(frame.type).name if frame.type in _KNOWN else frame.type} body"
    size = len(bytes(body))
    low, high = cls.body_size
    if not low <= size <= high:
        expected = str(low) if low == high else f"{low}..{high}"
        raise FrameError(f"{what} is {size} bytes; {cls.__name__} must be {expected}")
    if not isinstance(body, cls) or not isinstance(body.payload, NoPayload):
        raise FrameError(f"{what} ({size} bytes) does not parse as {cls.__name__}")
    if cls is Info and (len(body.firmware_version) != body.fw_len
                        or len(body.radio_chip) != body.chip_len):
        raise FrameError(f"{what}: string lengths disagree with fw_len/chip_len")
    return body


def is_known_type(msg_type: int) -> bool:
    return msg_type in _KNOWN


def is_request_type(msg_type: int) -> bool:
    """Host -> device types have bit 7 clear (PROTOCOL.md's table; see UNKNOWN_TYPE)."""
    return msg_type < 0x80


# -- conversions to and from the Radio types -----------------------------------------------
def regions_mask(names: Iterable[str]) -> int:
    """INFO's region bit mask of region names; `FrameError` for a name without a bit."""
    mask = 0
    for name in names:
        try:
            mask |= 1 << REGION_BITS.index(name)
        except ValueError:
            raise FrameError(f"region {name!r} has no bit in the protocol; "
                             f"known: {', '.join(REGION_BITS)}") from None
    return mask


def regions_from_mask(mask: int) -> tuple[str, ...]:
    """Region names of a bit mask; bits this version does not know are ignored."""
    return tuple(name for bit, name in enumerate(REGION_BITS) if int(mask) >> bit & 1)


def configure_body(cfg: RadioConfig) -> Configure:
    return Configure(freq_hz=int(cfg.freq_hz), spreading_factor=int(cfg.spreading_factor),
                     bandwidth_hz=int(cfg.bandwidth_hz), coding_rate=int(cfg.coding_rate),
                     tx_power_dbm=int(cfg.tx_power_dbm), sync_word=int(cfg.sync_word),
                     preamble_symbols=int(cfg.preamble_symbols), flags=int(cfg.iq_inverted))


def config_from_body(body: Configure) -> RadioConfig:
    """The RadioConfig a CONFIGURE asks for; `ConfigError` if the radio cannot use it."""
    return RadioConfig(freq_hz=body.freq_hz, spreading_factor=body.spreading_factor,
                       bandwidth_hz=body.bandwidth_hz, coding_rate=body.coding_rate,
                       tx_power_dbm=body.tx_power_dbm, sync_word=body.sync_word,
                       preamble_symbols=body.preamble_symbols,
                       iq_inverted=bool(int(body.flags) & 1))


def _hundredths(name: str, value: float) -> int:
    v = round(value * 100)
    if not -32768 <= v <= 32767:
        raise FrameError(f"{name} is {value}; RX carries -327.68..327.67")
    return v


def rx_body_from_packet(p: RxPacket) -> Rx:
    """The RX body reporting a received packet (anything with RxPacket's fields)."""
    if len(p.payload) > MAX_PAYLOAD:
        raise FrameError(f"payload is {len(p.payload)} bytes; LoRa carries at most {MAX_PAYLOAD}")
    freq_error = round(p.freq_error_hz)
    if not -2**31 <= freq_error < 2**31:
        raise FrameError(f"freq_error_hz is {p.freq_error_hz}; it must fit an i32")
    return Rx(radio_timestamp_us=int(p.radio_timestamp_us) & 0xFFFF_FFFF_FFFF_FFFF,
              freq_hz=int(p.freq_hz), rssi_cdbm=_hundredths("rssi_dbm", p.rssi_dbm),
              snr_cdb=_hundredths("snr_db", p.snr_db), freq_error_hz=freq_error,
              spreading_factor=int(p.spreading_factor), bandwidth_hz=int(p.bandwidth_hz),
              coding_rate=int(p.coding_rate), flags=int(bool(p.crc_ok)), data=bytes(p.payload))


def rx_packet_from_frame(frame: NativeFrame | RawFrame, host_time_s: float) -> RxPacket:
    b = expect_body(frame, Rx)
    return RxPacket(payload=bytes(b.data), rssi_dbm=b.rssi_cdbm / 100, snr_db=b.snr_cdb / 100,
                    freq_hz=b.freq_hz, spreading_factor=b.spreading_factor,
                    bandwidth_hz=b.bandwidth_hz, coding_rate=b.coding_rate,
                    radio_timestamp_us=b.radio_timestamp_us, host_time_s=host_time_s,
                    crc_ok=bool(int(b.flags) & 1), freq_error_hz=float(b.freq_error_hz))


def info_from_frame(frame: NativeFrame | RawFrame) -> RadioInfo:
    b = expect_body(frame, Info)
    return RadioInfo(driver="native",
                     firmware_version=b.firmware_version.decode("utf-8", "replace"),
                     radio_chip=b.radio_chip.decode("utf-8", "replace"),
                     supported_regions=regions_from_mask(int(b.regions)),
                     protocol_version=b.protocol_version,
                     extra={"max_payload": b.max_payload})


def tx_result_from_frame(frame: NativeFrame | RawFrame) -> TxResult:
    b = expect_body(frame, TxDone)
    return TxResult(airtime_s=b.airtime_us / 1e6, radio_timestamp_us=b.radio_timestamp_us,
                    tx_power_dbm=float(b.tx_power_dbm))


def nack_body(code: NackCode, detail: str = "") -> Nack:
    """A NACK body; the detail is cut to fit a frame (whole UTF-8 characters only)."""
    text = detail.encode("utf-8")[:MAX_BODY - 1].decode("utf-8", "ignore").encode("utf-8")
    return Nack(code=int(code), detail=text)


def nack_detail(frame: NativeFrame | RawFrame) -> tuple[int, str]:
    """(code, detail text) of a NACK frame."""
    b = expect_body(frame, Nack)
    return b.code, bytes(b.detail).decode("utf-8", "replace")

