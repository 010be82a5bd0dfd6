"""Beacon frames on the air: LoRaWAN *Proprietary* frames carrying our beacon payload;
and the LoRaWAN 1.0.x data uplinks devices send (which hotspots sell to routers).

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

from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC
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


# --- LoRaWAN 1.0.x data uplinks: what devices send and hotspots forward to routers ----------

MTYPE_UNCONFIRMED_UP = 0b010
MTYPE_CONFIRMED_UP = 0b100
_DATA_UP_MTYPES = {MTYPE_UNCONFIRMED_UP: False, MTYPE_CONFIRMED_UP: True}
_MIN_DATA_UP_BYTES = 1 + 7 + 4  # MHDR, FHDR without FOpts, MIC
_AES_BLOCK = 16


@dataclass(frozen=True)
class DataUplink:
    """The clear header of a LoRaWAN data uplink (the FRMPayload stays encrypted)."""

    dev_addr: int
    fcnt: int
    """The 16 low bits of the frame counter, as sent."""
    fport: int | None
    confirmed: bool
    frm_payload: bytes
    mic: bytes


def _aes_block(key: bytes, block: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def _key(name: str, value) -> bytes:
    value = _as_bytes(name, value)
    if len(value) != _AES_BLOCK:
        raise FrameError(f"{name} must be a 16-byte AES-128 session key; got {len(value)} bytes")
    return value


def _crypt_frm_payload(app_skey: bytes, dev_addr: int, fcnt: int, data: bytes) -> bytes:
    """LoRaWAN 1.0.x FRMPayload encryption (its own inverse): AES-CTR-like A_i blocks."""
    out = bytearray()
    for i in range(-(-len(data) // _AES_BLOCK)):
        a_i = (b"\x01" + bytes(4) + b"\x00" + dev_addr.to_bytes(4, "little")
               + fcnt.to_bytes(4, "little") + b"\x00" + bytes([i + 1]))
        s_i = _aes_block(app_skey, a_i)
        chunk = data[i * _AES_BLOCK:(i + 1) * _AES_BLOCK]
        out += bytes(a ^ b for a, b in zip(chunk, s_i, strict=False))
    return bytes(out)


def _uplink_mic(nwk_skey: bytes, dev_addr: int, fcnt: int, msg: bytes) -> bytes:
    b0 = (b"\x49" + bytes(4) + b"\x00" + dev_addr.to_bytes(4, "little")
          + fcnt.to_bytes(4, "little") + b"\x00" + bytes([len(msg)]))
    mac = CMAC(algorithms.AES(nwk_skey))
    mac.update(b0 + msg)
    return mac.finalize()[:4]


def data_uplink_frame(*, dev_addr: int, fcnt: int, fport: int, payload: bytes,
                      nwk_skey: bytes, app_skey: bytes, confirmed: bool = False) -> bytes:
    """The LoRa PHY payload of a LoRaWAN 1.0.x data uplink (ABP session keys), encrypted
    and with its MIC, as a device puts it on the air.

    `fcnt` is the 32-bit uplink counter (its 16 low bits go on the air; the MIC covers
    all 32). Examples
    --------
    >>> frame = data_uplink_frame(dev_addr=0x26011BDA, fcnt=1, fport=1, payload=b"hi",
    ...                           nwk_skey=bytes(16), app_skey=bytes(16))
    >>> parse_data_uplink(frame).dev_addr == 0x26011BDA, len(frame)
    (True, 15)
    """
    payload = _as_bytes("payload", payload)
    nwk_skey, app_skey = _key("nwk_skey", nwk_skey), _key("app_skey", app_skey)
    if not 0 <= dev_addr < 2**32:
        raise FrameError(f"dev_addr must be a 32-bit address; got {dev_addr}")
    if not 0 <= fcnt < 2**32:
        raise FrameError(f"fcnt must be a 32-bit frame counter; got {fcnt}")
    if not 1 <= fport <= 223:
        raise FrameError(f"fport must be an application port, 1 to 223; got {fport}")
    if len(payload) > MAX_LORA_PACKET_BYTES - _MIN_DATA_UP_BYTES - 1:
        raise FrameError(f"payload is {len(payload)} bytes; a data uplink holds at most "
                         f"{MAX_LORA_PACKET_BYTES - _MIN_DATA_UP_BYTES - 1}")
    mtype = MTYPE_CONFIRMED_UP if confirmed else MTYPE_UNCONFIRMED_UP
    msg = (bytes(MHDR(MType=mtype, RFU=0, Major=LORAWAN_MAJOR_R1))
           + dev_addr.to_bytes(4, "little") + b"\x00" + (fcnt & 0xFFFF).to_bytes(2, "little")
           + bytes([fport]) + _crypt_frm_payload(app_skey, dev_addr, fcnt, payload))
    return msg + _uplink_mic(nwk_skey, dev_addr, fcnt, msg)


def parse_data_uplink(frame: bytes) -> DataUplink:
    """The clear header of a LoRaWAN data uplink; `FrameError` saying why for anything else
    (a beacon, a downlink, a join request, a truncated frame)."""
    frame = _as_bytes("frame", frame)
    if not _MIN_DATA_UP_BYTES <= len(frame) <= MAX_LORA_PACKET_BYTES:
        raise FrameError(f"frame is {len(frame)} bytes; a LoRaWAN data uplink has "
                         f"{_MIN_DATA_UP_BYTES} to {MAX_LORA_PACKET_BYTES}")
    mhdr = MHDR(frame[:1])
    if mhdr.MType not in _DATA_UP_MTYPES or mhdr.Major != LORAWAN_MAJOR_R1:
        raise FrameError(f"frame has MHDR 0x{frame[0]:02X} (MType {mhdr.MType:#05b}, Major "
                         f"{mhdr.Major}); a LoRaWAN R1 data uplink has MType 0b010 or 0b100")
    fopts_len = frame[5] & 0x0F
    body_end = len(frame) - 4
    fport_at = 8 + fopts_len
    if fport_at > body_end:
        raise FrameError(f"frame declares {fopts_len} FOpts bytes but is {len(frame)} bytes "
                         "long: truncated")
    fport = frame[fport_at] if fport_at < body_end else None
    return DataUplink(dev_addr=int.from_bytes(frame[1:5], "little"),
                      fcnt=int.from_bytes(frame[6:8], "little"), fport=fport,
                      confirmed=_DATA_UP_MTYPES[mhdr.MType],
                      frm_payload=frame[fport_at + 1:body_end] if fport is not None else b"",
                      mic=frame[body_end:])


def is_data_uplink(frame: bytes) -> bool:
    """Whether `frame` is a LoRaWAN data uplink (`parse_data_uplink` would accept it)."""
    try:
        parse_data_uplink(frame)
    except FrameError:
        return False
    return True


def open_data_uplink(frame: bytes, *, fcnt: int, nwk_skey: bytes, app_skey: bytes) -> bytes:
    """The clear FRMPayload of a data uplink whose MIC checks with `nwk_skey` at the 32-bit
    counter `fcnt`; `FrameError` if it does not (wrong key, counter or a damaged frame)."""
    uplink = parse_data_uplink(frame)
    nwk_skey, app_skey = _key("nwk_skey", nwk_skey), _key("app_skey", app_skey)
    if fcnt & 0xFFFF != uplink.fcnt:
        raise FrameError(f"fcnt {fcnt} does not end in the frame's 16-bit counter {uplink.fcnt}")
    if _uplink_mic(nwk_skey, uplink.dev_addr, fcnt, frame[:-4]) != uplink.mic:
        raise FrameError("the frame's MIC does not check with this network session key and "
                         "counter: another device, key or counter, or a damaged frame")
    return _crypt_frm_payload(app_skey, uplink.dev_addr, fcnt, uplink.frm_payload)
