"""Beacon frames on the air: LoRaWAN *Proprietary* frames carrying our beacon payload.

A beacon is a LoRa PHY payload of one MHDR byte (MType = Proprietary, RFU = 0,
Major = 0 for LoRaWAN R1, so always ``0xE0``) followed by our beacon payload.
LoRaWAN leaves the rest of a proprietary frame to the implementer, so there is
no FHDR, no FPort and no LoRaWAN MIC: the beacon payload carries its own
integrity. Using a proprietary frame lets LoRaWAN gateways and sniffers (and
Wireshark) recognise the frame as "not ours to decode" instead of as garbage.

The frame is built and dissected with scapy's LoRaWAN MHDR layer, with the
payload as an opaque ``Raw`` layer. scapy 2.8.0's ``PHYPayload`` is not used
because it mishandles Proprietary frames: it reads the bytes after MHDR as a
Rejoin-request (which is MType 0b110, not 0b111) and then expects a 4-byte MIC,
so it fails on frames shorter than 19 bytes, misreads longer ones, and cannot
build one without appending a MIC. ``MHDR(frame).show()`` dissects ours
correctly.
"""

from __future__ import annotations

from scapy.contrib.loraphy2wan import MHDR
from scapy.packet import Raw

from ._errors import FrameError

MTYPE_PROPRIETARY = 0b111
LORAWAN_MAJOR_R1 = 0
MAX_LORA_PACKET_BYTES = 255  # the LoRa PHY length field is one byte
MAX_BEACON_PAYLOAD_BYTES = MAX_LORA_PACKET_BYTES - 1  # one byte goes to MHDR


def _as_bytes(name: str, value) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name} must be bytes, got {type(value).__name__}")
    return bytes(value)


def beacon_frame(payload: bytes) -> bytes:
    """The LoRa PHY payload that carries `payload` as a LoRaWAN Proprietary frame.

    Examples
    --------
    >>> beacon_frame(b"\\x01\\x02").hex()
    'e00102'
    """
    payload = _as_bytes("payload", payload)
    if len(payload) > MAX_BEACON_PAYLOAD_BYTES:
        raise FrameError(f"beacon payload is {len(payload)} bytes; a LoRa packet holds "
                         f"{MAX_LORA_PACKET_BYTES} bytes, one of them the MHDR, so at most "
                         f"{MAX_BEACON_PAYLOAD_BYTES}: shorten the payload")
    return _PROPRIETARY_MHDR + payload


# the MHDR byte of every beacon (0xE0), built once by the scapy layer that defines it:
# building a packet per beacon costs ~0.3 ms, concatenating one byte nothing
_PROPRIETARY_MHDR = bytes(MHDR(MType=MTYPE_PROPRIETARY, RFU=0, Major=LORAWAN_MAJOR_R1))
assert _PROPRIETARY_MHDR == bytes(MHDR(MType=MTYPE_PROPRIETARY, RFU=0, Major=0) / Raw(b""))


def parse_beacon_frame(frame: bytes) -> bytes:
    """The beacon payload of a received frame; `FrameError` if it is not a beacon frame.

    Examples
    --------
    >>> parse_beacon_frame(bytes.fromhex("e00102"))
    b'\\x01\\x02'
    """
    frame = _as_bytes("frame", frame)
    if not frame:
        raise FrameError("frame is empty; a beacon frame has at least its 1-byte MHDR (0xE0)")
    if len(frame) > MAX_LORA_PACKET_BYTES:
        raise FrameError(f"frame is {len(frame)} bytes; a LoRa packet holds at most "
                         f"{MAX_LORA_PACKET_BYTES}, so this did not come off the air")
    mhdr = MHDR(frame)
    if mhdr.MType != MTYPE_PROPRIETARY:
        raise FrameError(f"frame is a LoRaWAN {mhdr.get_field('MType').i2repr(mhdr, mhdr.MType)} "
                         f"frame (MHDR 0x{frame[0]:02X}, MType {mhdr.MType:#05b}), not a "
                         f"Proprietary one (MType 0b111): it is not a beacon")
    if mhdr.Major != LORAWAN_MAJOR_R1 or mhdr.RFU != 0:
        raise FrameError(f"frame has MHDR 0x{frame[0]:02X} (RFU {mhdr.RFU}, Major {mhdr.Major}); "
                         f"beacons use exactly 0xE0 (RFU 0, Major 0 = LoRaWAN R1): it is "
                         f"another proprietary format")
    return bytes(mhdr.payload)


def is_beacon_frame(frame: bytes) -> bool:
    """Whether `frame` is a beacon frame (`parse_beacon_frame` would accept it)."""
    try:
        parse_beacon_frame(frame)
    except FrameError:
        return False
    return True
