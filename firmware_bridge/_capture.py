"""Record every frame a radio sent or heard to a pcap file that Wireshark can open.

Each record is a LoRaTap v0 header followed by the LoRa PHY payload, in a pcap
file of link type 270 (``LINKTYPE_LORATAP``). Wireshark hands the payload of a
record with sync word 0x34 to its LoRaWAN dissector, so beacon frames show up as
LoRaWAN Proprietary frames.

LoRaTap v0 header (https://github.com/eriknl/LoRaTap, 15 bytes, big-endian)::

    u8 lt_version = 0, u8 lt_padding = 0, u16 lt_length = 15,
    u32 frequency (Hz), u8 bandwidth (in 125 kHz steps: 1, 2, 4), u8 sf,
    u8 packet_rssi, u8 max_rssi, u8 current_rssi (dBm = value - 139),
    u8 snr (dB = two's complement value / 4), u8 sync_word

Encoding choices the format leaves open, and why:

* RSSI is always ``dBm + 139``, rounded and clipped to 0..254. The LoRaTap README
  adds that when SNR < 0 the value means ``-139 + value / 4``, but Wireshark's
  dissector (the reader that matters) and other writers ignore that clause, so
  we do too. 255 means "not available", as in LoRaTap v1 and Wireshark.
* A received packet fills ``packet_rssi``; ``max_rssi`` and ``current_rssi``
  (receiver statistics we do not have) are 255.
* A transmitted packet has all three RSSI bytes 255 and SNR 0. LoRaTap v0 has no
  direction field; as a convention of ours, ``read_capture`` reports records
  with ``packet_rssi == 255`` as transmitted.
* Bandwidths that are not 125, 250 or 500 kHz have no code; they are written
  as 0 (Wireshark shows "Unknown").
* Things v0 cannot carry are not recorded: coding rate, CRC status, the radio's
  own timestamps, TX power and airtime.

Record timestamps are host time with microsecond resolution. Every record is
flushed as soon as it is written, so a killed process loses at most the record
it was writing; `read_capture` ignores such a truncated last record.
"""

from __future__ import annotations

import logging
import math
import os
import struct
from typing import NamedTuple

from scapy.utils import PcapWriter

from ._errors import BridgeError, FrameError
from ._radio import LORAWAN_PUBLIC_SYNC_WORD, RadioConfig, RxPacket, TxResult

logger = logging.getLogger(__name__)

LINKTYPE_LORATAP = 270
LORATAP_V0_HEADER_BYTES = 15
MAX_LORA_PACKET_BYTES = 255
RSSI_OFFSET_DB = 139
RSSI_NOT_AVAILABLE = 255

_LORATAP_V0 = struct.Struct(">BBHIBBBBBbB")
_BANDWIDTH_CODES = {125_000: 1, 250_000: 2, 500_000: 4}
_BANDWIDTHS_HZ = {code: hz for hz, code in _BANDWIDTH_CODES.items()}
_PCAP_MAGIC_US = 0xA1B2C3D4
_PCAP_MAGIC_NS = 0xA1B23C4D


class CaptureRecord(NamedTuple):
    """One record of a capture: host time, decoded LoRaTap header, LoRa PHY payload."""

    time_s: float
    header: dict
    payload: bytes


def _rssi_code(rssi_dbm: float) -> int:
    if not math.isfinite(rssi_dbm):
        return RSSI_NOT_AVAILABLE
    return min(max(round(rssi_dbm) + RSSI_OFFSET_DB, 0), RSSI_NOT_AVAILABLE - 1)


def _snr_code(snr_db: float) -> int:
    if not math.isfinite(snr_db):
        return 0
    return min(max(round(snr_db * 4), -128), 127)


def loratap_header(*, freq_hz: int, bandwidth_hz: int, spreading_factor: int,
                   packet_rssi_dbm: float | None, snr_db: float, sync_word: int) -> bytes:
    """The 15-byte LoRaTap v0 header; ``packet_rssi_dbm=None`` means not available.

    Examples
    --------
    >>> loratap_header(freq_hz=868_100_000, bandwidth_hz=125_000, spreading_factor=7,
    ...                packet_rssi_dbm=-80, snr_db=-2.5, sync_word=0x34).hex(" ")
    '00 00 00 0f 33 be 27 a0 01 07 3b ff ff f6 34'
    """
    packet_rssi = (RSSI_NOT_AVAILABLE if packet_rssi_dbm is None
                   else _rssi_code(packet_rssi_dbm))
    try:
        return _LORATAP_V0.pack(0, 0, LORATAP_V0_HEADER_BYTES, int(freq_hz),
                                _BANDWIDTH_CODES.get(bandwidth_hz, 0), int(spreading_factor),
                                packet_rssi, RSSI_NOT_AVAILABLE, RSSI_NOT_AVAILABLE,
                                _snr_code(snr_db), int(sync_word))
    except struct.error as exc:
        raise FrameError(f"cannot encode a LoRaTap header (freq_hz={freq_hz!r}, "
                         f"spreading_factor={spreading_factor!r}, sync_word={sync_word!r}): "
                         f"{exc}") from None


def _split_time(host_time_s: float) -> tuple[int, int]:
    if not (isinstance(host_time_s, (int, float)) and math.isfinite(host_time_s)
            and 0 <= host_time_s < 2**32):
        raise ValueError(f"host_time_s is {host_time_s!r}; it must be seconds since the "
                         f"Unix epoch (a finite number in [0, 2**32))")
    return divmod(round(host_time_s * 1_000_000), 1_000_000)


class PcapCapture:
    """A pcap file (LoRaTap link type) of every frame a radio sent or heard.

    The file is created (or truncated) at once with its pcap header, so even a
    capture that saw nothing opens in Wireshark.

    >>> # with PcapCapture("hotspot.pcap") as cap:
    >>> #     cap.write_rx(packet); cap.write_tx(frame, config, result, time.time())
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        self.records = 0
        self._writer = PcapWriter(self.path, linktype=LINKTYPE_LORATAP, sync=True,
                                  snaplen=LORATAP_V0_HEADER_BYTES + MAX_LORA_PACKET_BYTES)
        self._writer.write_header(None)
        self._writer.flush()

    def write_rx(self, packet: RxPacket, *, sync_word: int = LORAWAN_PUBLIC_SYNC_WORD) -> None:
        """Record a received packet at its host time (`RxPacket` does not carry the
        sync word the radio listened with; pass it if it is not the LoRaWAN one)."""
        header = loratap_header(freq_hz=packet.freq_hz, bandwidth_hz=packet.bandwidth_hz,
                                spreading_factor=packet.spreading_factor,
                                packet_rssi_dbm=packet.rssi_dbm, snr_db=packet.snr_db,
                                sync_word=sync_word)
        self._write(header, packet.payload, packet.host_time_s)

    def write_tx(self, payload: bytes, config: RadioConfig, result: TxResult,
                 host_time_s: float) -> None:
        """Record a transmitted packet at `host_time_s` (`result` is accepted so
        callers pass what they have; LoRaTap v0 has no field for any of it)."""
        header = loratap_header(freq_hz=config.freq_hz, bandwidth_hz=config.bandwidth_hz,
                                spreading_factor=config.spreading_factor,
                                packet_rssi_dbm=None, snr_db=0.0, sync_word=config.sync_word)
        self._write(header, payload, host_time_s)

    def _write(self, header: bytes, payload: bytes, host_time_s: float) -> None:
        if self._writer is None:
            raise BridgeError(f"capture {self.path} is closed; open a new PcapCapture")
        payload = bytes(payload)
        if len(payload) > MAX_LORA_PACKET_BYTES:
            raise FrameError(f"payload is {len(payload)} bytes; a LoRa packet holds at most "
                             f"{MAX_LORA_PACKET_BYTES}")
        sec, usec = _split_time(host_time_s)
        # sync=True: the file is unbuffered, so the record is on disk when this returns.
        self._writer.write_packet(header + payload, sec=sec, usec=usec)
        self.records += 1

    def close(self) -> None:
        """Close the file (again: no-op)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    @property
    def closed(self) -> bool:
        return self._writer is None

    def __enter__(self) -> PcapCapture:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _decode_header(raw: bytes) -> dict:
    (version, padding, length, frequency, bandwidth, sf, packet_rssi, max_rssi, current_rssi,
     snr, sync_word) = _LORATAP_V0.unpack_from(raw)

    def dbm(code: int) -> float | None:
        return None if code == RSSI_NOT_AVAILABLE else float(code - RSSI_OFFSET_DB)

    return {
        # the fields as stored
        "lt_version": version, "lt_padding": padding, "lt_length": length,
        "frequency": frequency, "bandwidth": bandwidth, "sf": sf,
        "packet_rssi": packet_rssi, "max_rssi": max_rssi, "current_rssi": current_rssi,
        "snr": snr & 0xFF, "sync_word": sync_word,
        # the same, decoded
        "freq_hz": frequency, "bandwidth_hz": _BANDWIDTHS_HZ.get(bandwidth),
        "spreading_factor": sf, "rssi_dbm": dbm(packet_rssi), "snr_db": snr / 4,
        "direction": "tx" if packet_rssi == RSSI_NOT_AVAILABLE else "rx",
    }


def read_capture(path: str | os.PathLike) -> list[CaptureRecord]:
    """Every record of a LoRaTap pcap file (ours or any other writer's).

    Headers longer than v0 (LoRaTap v1) are skipped to ``lt_length`` as the format
    asks; only the v0 fields are decoded. A truncated last record (the writer was
    killed mid-write) is dropped with a warning.
    """
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise FrameError(f"{path} is {len(data)} bytes, shorter than a pcap header (24): "
                         f"not a pcap file, or the writer died before writing it")
    for endian in "<>":
        magic, = struct.unpack_from(endian + "I", data)
        if magic in (_PCAP_MAGIC_US, _PCAP_MAGIC_NS):
            break
    else:
        raise FrameError(f"{path} does not start with a pcap magic number (pcapng is not read)")
    ticks_per_s = 1_000_000 if magic == _PCAP_MAGIC_US else 1_000_000_000
    linktype = struct.unpack_from(endian + "I", data, 20)[0] & 0x0FFFFFFF
    if linktype != LINKTYPE_LORATAP:
        raise FrameError(f"{path} has link type {linktype}, not LoRaTap ({LINKTYPE_LORATAP})")
    record_header = struct.Struct(endian + "IIII")
    records = []
    offset = 24
    while offset < len(data):
        if offset + record_header.size > len(data):
            logger.warning("truncated pcap record header dropped",
                           extra={"path": os.fspath(path), "offset": offset})
            break
        sec, frac, incl_len, _orig_len = record_header.unpack_from(data, offset)
        offset += record_header.size
        raw = data[offset:offset + incl_len]
        if len(raw) < incl_len:
            logger.warning("truncated pcap record dropped",
                           extra={"path": os.fspath(path), "offset": offset})
            break
        offset += incl_len
        if len(raw) < LORATAP_V0_HEADER_BYTES:
            raise FrameError(f"record {len(records)} of {path} is {len(raw)} bytes, shorter "
                             f"than a LoRaTap v0 header ({LORATAP_V0_HEADER_BYTES})")
        header = _decode_header(raw)
        if header["lt_length"] < LORATAP_V0_HEADER_BYTES or header["lt_length"] > len(raw):
            raise FrameError(f"record {len(records)} of {path} has lt_length "
                             f"{header['lt_length']}; it must be in "
                             f"[{LORATAP_V0_HEADER_BYTES}, {len(raw)}]")
        records.append(CaptureRecord(sec + frac / ticks_per_s, header,
                                     raw[header["lt_length"]:]))
    return records
