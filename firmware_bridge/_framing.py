"""Framing of the native serial protocol: COBS, CRC-16 and a stream decoder.

Transport-agnostic and sans-IO: bytes in, frames out. The same codec serves the
host driver, the virtual devboards of the radio simulator and the test vectors
the C firmware is checked against (``tests/vectors/native_frames.json``), so the
wire format has one Python definition. PROTOCOL.md is the specification.

A raw frame is ``version:u8 type:u8 seq:u16 length:u16 body[length] crc:u16``
(little-endian); on the wire it travels COBS-encoded and terminated by 0x00.

Examples
--------
>>> raw = encode_raw(PROTOCOL_VERSION, 0x05, 7, b"hi")
>>> FrameDecoder().feed(wire(raw))
[RawFrame(version=1, msg_type=5, seq=7, body=b'hi')]
"""

from __future__ import annotations

import binascii
import logging
import struct
from collections import Counter
from dataclasses import dataclass

from ._errors import FrameError

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
MAX_BODY = 320
HEADER_LEN = 6
CRC_LEN = 2
MIN_RAW = HEADER_LEN + CRC_LEN  # 8
MAX_RAW = HEADER_LEN + MAX_BODY + CRC_LEN  # 328
MAX_WIRE = MAX_RAW + 1 + MAX_RAW // 254 + 1  # 331: COBS overhead plus the 0x00 delimiter
_MAX_ENCODED = MAX_WIRE - 1  # longest COBS run a valid frame can have

DROP_REASONS = ("cobs_error", "truncated", "bad_version", "bad_length", "bad_crc", "oversize")

_HEADER = struct.Struct("<BBHH")
_CRC = struct.Struct("<H")


def cobs_encode(data: bytes) -> bytes:
    """COBS-encode `data` (Cheshire & Baker 1999): the result contains no 0x00.

    Follows the paper's reference encoder: a run of 254 non-zero bytes gets code
    0xFF, and the final block always gets its own code byte, so input ending in
    such a run encodes with a trailing 0x01 (``FF <254 bytes> 01``). Overhead is
    exactly ``1 + len(data) // 254`` bytes at most.

    >>> cobs_encode(b"\\x11\\x22\\x00\\x33").hex()
    '0311220233'
    """
    out = bytearray()
    for block in bytes(data).split(b"\x00"):
        while len(block) >= 254:
            out.append(0xFF)
            out += block[:254]
            block = block[254:]
        out.append(len(block) + 1)
        out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Invert `cobs_encode`; raises `FrameError` on input no encoder produces.

    Accepts both common encodings of a trailing 254-byte run (with or without
    the final 0x01 code byte). The 0x00 delimiter must already be removed.
    """
    data = bytes(data)
    n = len(data)
    if n == 0:
        raise FrameError("empty COBS data: every encoding has at least one code byte")
    out = bytearray()
    i = 0
    while i < n:
        code = data[i]
        end = i + code
        if code == 0:
            raise FrameError(f"COBS data contains 0x00 at offset {i}")
        if end > n:
            raise FrameError(f"COBS block at offset {i} needs {code - 1} bytes, "
                             f"only {n - i - 1} remain")
        block = data[i + 1:end]
        if 0 in block:
            raise FrameError(f"COBS data contains 0x00 after offset {i}")
        out += block
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR).

    >>> hex(crc16(b"123456789"))
    '0x29b1'
    """
    return binascii.crc_hqx(data, 0xFFFF)


def _check_int(name: str, value: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise FrameError(f"{name} is {value!r}; it must be an integer in [0, {high}]")


def encode_raw(version: int, msg_type: int, seq: int, body: bytes) -> bytes:
    """The raw frame (header, body, CRC) before COBS; raises `FrameError` if unbuildable."""
    _check_int("version", version, 0xFF)
    _check_int("msg_type", msg_type, 0xFF)
    _check_int("seq", seq, 0xFFFF)
    body = bytes(body)
    if len(body) > MAX_BODY:
        raise FrameError(f"body is {len(body)} bytes; a frame carries at most {MAX_BODY} "
                         f"(split the data or shorten the payload)")
    head = _HEADER.pack(version, msg_type, seq, len(body)) + body
    return head + _CRC.pack(crc16(head))


def wire(raw: bytes) -> bytes:
    """What goes on the line for a raw frame: COBS(raw) and the 0x00 delimiter."""
    if len(raw) > MAX_RAW:
        raise FrameError(f"raw frame is {len(raw)} bytes; at most {MAX_RAW} fit the protocol")
    return cobs_encode(raw) + b"\x00"


@dataclass(frozen=True, slots=True)
class RawFrame:
    """A frame that passed COBS, length, version and CRC checks; the body is not parsed."""

    version: int
    msg_type: int
    seq: int
    body: bytes


class FrameDecoder:
    """Turns a byte stream into `RawFrame`s, whatever the chunking; drops bad frames.

    Drops are counted in `stats` by reason (``cobs_error``, ``truncated``,
    ``bad_version``, ``bad_length``, ``bad_crc``, ``oversize``) and logged with
    ``extra={"reason", "length"}``: the first drop of each reason at WARNING,
    the rest at DEBUG, since a line that starts mid-frame or is noisy would
    otherwise flood the log (the counters keep the totals). Checks run in that
    order: a frame of another version may have another layout, so its length
    and CRC are not judged. Pass `stats` to count into a shared Counter.
    """

    def __init__(self, *, stats: Counter[str] | None = None) -> None:
        self.stats: Counter[str] = Counter() if stats is None else stats
        self._partial = bytearray()  # encoded bytes of a frame whose 0x00 has not arrived
        self._discarding = False  # inside an oversize run: skip up to the next 0x00
        self._warned: set[str] = set()

    def reset(self) -> None:
        """Forget a partial frame (after the port was reopened, say)."""
        self._partial.clear()
        self._discarding = False

    def feed(self, data: bytes) -> list[RawFrame]:
        """Consume `data`; return the frames it completed, in order."""
        frames: list[RawFrame] = []
        if not data:
            return frames
        parts = bytes(data).split(b"\x00")
        tail = parts.pop()  # bytes after the last delimiter: an unfinished frame
        for i, part in enumerate(parts):
            if i == 0:
                if self._discarding:
                    self._discarding = False
                    continue
                if self._partial:
                    self._partial += part
                    part = bytes(self._partial)
                    self._partial.clear()
            if not part:
                continue  # two delimiters in a row: the resync idiom, not an error
            if len(part) > _MAX_ENCODED:
                self._drop("oversize", len(part))
                continue
            frame = self._decode(part)
            if frame is not None:
                frames.append(frame)
        if tail and not self._discarding:
            if len(self._partial) + len(tail) > _MAX_ENCODED:
                self._drop("oversize", len(self._partial) + len(tail))
                self._partial.clear()
                self._discarding = True
            else:
                self._partial += tail
        return frames

    def _decode(self, encoded: bytes) -> RawFrame | None:
        try:
            raw = cobs_decode(encoded)
        except FrameError:
            return self._drop("cobs_error", len(encoded))
        n = len(raw)
        if n < MIN_RAW:
            return self._drop("truncated", n)
        if n > MAX_RAW:
            return self._drop("oversize", n)
        version, msg_type, seq, length = _HEADER.unpack_from(raw)
        if version != PROTOCOL_VERSION:
            return self._drop("bad_version", n, version=version)
        if length != n - MIN_RAW:
            return self._drop("bad_length", n, declared=length)
        if crc16(raw[:-CRC_LEN]) != _CRC.unpack_from(raw, n - CRC_LEN)[0]:
            return self._drop("bad_crc", n, msg_type=msg_type, seq=seq)
        return RawFrame(version, msg_type, seq, raw[HEADER_LEN:-CRC_LEN])

    def _drop(self, reason: str, length: int, **extra: int) -> None:
        self.stats[reason] += 1
        level = logging.DEBUG if reason in self._warned else logging.WARNING
        self._warned.add(reason)
        logger.log(level, "native frame dropped: %s (%d bytes)", reason, length,
                   extra={"reason": reason, "length": length, **extra})
        return None
