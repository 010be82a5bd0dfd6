"""The beacon a challenged hotspot puts on the air, derived purely from the challenge.

The hotspot, the simulator, the tests and the verifier all call `beacon_payload`,
so "the payload matches the derivation" is one byte comparison. A beacon is a
LoRaWAN Proprietary frame (see `firmware_bridge.beacon_frame`) whose payload is::

    version (1 byte, 0x01) | challenge prefix (4 bytes) | token (8..19 bytes)

The prefix is the first 4 bytes of the challenge id, so a witness can tie what
it hears to a challenge it may not have seen yet; the token is
HMAC-SHA256(secret, domain || challenge id) truncated, which nobody can compute
before the challengee learns the secret, and everybody can check after the
reveal. The frame is 24 bytes where the region has no dwell-time limit; where it
has one, the token shrinks until the frame's time on air at the beacon data rate
fits (US915 SF10/125 kHz: exactly 24 bytes fit in 400 ms), never below 8 bytes.

Beacon power is decided in centi-dB integers so every machine floors alike:
conducted power = min(radio maximum, floor(region max EIRP - asserted antenna gain)).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
import numbers
from decimal import Decimal

from coverage_net.poc._errors import BeaconError
from coverage_net.poc._secret import SECRET_BYTES
from coverage_net.radio import Region, RegionError, get_region, time_on_air_s
from firmware_bridge import FrameError, beacon_frame, parse_beacon_frame

__all__ = [
    "BEACON_CODING_RATE", "BEACON_FORMAT_VERSION", "BEACON_FRAME_BYTES", "BEACON_PREAMBLE_SYMBOLS",
    "BEACON_TOKEN_DOMAIN", "CHALLENGE_ID_BYTES", "CHALLENGE_PREFIX_BYTES", "MAX_TOKEN_BYTES",
    "MIN_TOKEN_BYTES", "beacon_eirp_centi_dbm", "beacon_frame_bytes", "beacon_matches",
    "beacon_payload", "beacon_tx_power_dbm", "parse_beacon",
]

BEACON_FORMAT_VERSION = 1
CHALLENGE_ID_BYTES = 32
CHALLENGE_PREFIX_BYTES = 4
MIN_TOKEN_BYTES = 8
"""Below 8 bytes (64 bits) a token could be guessed by a hotspot that beacons blind."""
MAX_TOKEN_BYTES = 32  # an HMAC-SHA256 output
BEACON_FRAME_BYTES = 24
"""Frame length (MHDR included) where no dwell-time limit forces a shorter one."""
BEACON_CODING_RATE = 5  # 4/5, explicit header, CRC on, 8-symbol preamble: LoRaWAN's framing
BEACON_PREAMBLE_SYMBOLS = 8
BEACON_TOKEN_DOMAIN = b"coverage-net/poc/beacon/v1\x00"

_MHDR_BYTES = 1
_HEADER_BYTES = 1 + CHALLENGE_PREFIX_BYTES  # version, prefix
_MIN_FRAME_BYTES = _MHDR_BYTES + _HEADER_BYTES + MIN_TOKEN_BYTES
_MAX_FRAME_BYTES = _MHDR_BYTES + _HEADER_BYTES + MAX_TOKEN_BYTES


def _region(region: Region | str) -> Region:
    if isinstance(region, Region):
        return region
    try:
        return get_region(region)
    except RegionError as exc:
        raise BeaconError(str(exc)) from None


def _bytes(name: str, value: object, length: int) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise BeaconError(f"{name} must be {length} bytes; got {type(value).__name__}")
    value = bytes(value)
    if len(value) != length:
        raise BeaconError(f"{name} must be {length} bytes; got {len(value)} bytes")
    return value


def _fits_dwell(region: Region, frame_bytes: int, spreading_factor: int, bandwidth_hz: int) -> bool:
    airtime_s = float(time_on_air_s(frame_bytes, spreading_factor, bandwidth_hz,
                                    BEACON_CODING_RATE, BEACON_PREAMBLE_SYMBOLS))
    try:
        region.check_dwell_time(airtime_s)
    except RegionError:
        return False
    return True


def beacon_frame_bytes(region: Region | str, *, spreading_factor: int, bandwidth_hz: int) -> int:
    """Length of the beacon frame (MHDR included) at this data rate of `region`.

    `BeaconError` if the rate is not one of the region's, or if even a frame with
    an 8-byte token breaks the dwell-time limit there (e.g. SF12 under 400 ms).

    >>> beacon_frame_bytes("US915", spreading_factor=10, bandwidth_hz=125_000)
    24
    """
    region = _region(region)
    if type(spreading_factor) is int and type(bandwidth_hz) is int:
        return _frame_bytes(region, spreading_factor, bandwidth_hz)  # pure: computed once
    return _frame_bytes.__wrapped__(region, spreading_factor, bandwidth_hz)


@functools.lru_cache(maxsize=256)
def _frame_bytes(region: Region, spreading_factor: int, bandwidth_hz: int) -> int:
    try:
        region.data_rate_for(spreading_factor, bandwidth_hz)
    except RegionError as exc:
        raise BeaconError(str(exc)) from None
    for frame_bytes in range(BEACON_FRAME_BYTES, _MIN_FRAME_BYTES - 1, -1):
        if _fits_dwell(region, frame_bytes, spreading_factor, bandwidth_hz):
            return frame_bytes
    raise BeaconError(
        f"a beacon of {_MIN_FRAME_BYTES} bytes (the shortest, with an {MIN_TOKEN_BYTES}-byte "
        f"token) at SF{spreading_factor}/{bandwidth_hz // 1000} kHz breaks the "
        f"{region.dwell_time_s * 1000:g} ms dwell time of {region.name}; beacon at a faster "
        "data rate")


def _token(secret: bytes, challenge_id: bytes, token_bytes: int) -> bytes:
    mac = hmac.new(secret, BEACON_TOKEN_DOMAIN + challenge_id, hashlib.sha256).digest()
    return mac[:token_bytes]


def beacon_payload(secret: bytes, challenge_id: bytes, region: Region | str, *,
                   spreading_factor: int, bandwidth_hz: int) -> bytes:
    """The beacon frame (LoRa PHY payload) for this challenge, region and data rate.

    >>> beacon_payload(bytes(32), bytes(range(32)), "EU868", spreading_factor=9,
    ...                bandwidth_hz=125_000).hex()[:12]
    'e00100010203'
    """
    secret = _bytes("secret", secret, SECRET_BYTES)
    challenge_id = _bytes("challenge_id", challenge_id, CHALLENGE_ID_BYTES)
    frame_bytes = beacon_frame_bytes(region, spreading_factor=spreading_factor,
                                     bandwidth_hz=bandwidth_hz)
    token = _token(secret, challenge_id, frame_bytes - _MHDR_BYTES - _HEADER_BYTES)
    return beacon_frame(bytes([BEACON_FORMAT_VERSION]) + challenge_id[:CHALLENGE_PREFIX_BYTES]
                        + token)


def parse_beacon(frame: bytes) -> tuple[bytes, bytes] | None:
    """``(challenge_prefix, token)`` of a received frame; None if it is not one of our beacons.

    Anything off the air may be garbage, so any bytes give an answer, never an
    exception; only a non-bytes argument (a caller's bug) raises `BeaconError`.
    """
    if not isinstance(frame, bytes | bytearray | memoryview):
        raise BeaconError(f"frame must be bytes; got {type(frame).__name__}")
    frame = bytes(frame)
    if not _MIN_FRAME_BYTES <= len(frame) <= _MAX_FRAME_BYTES:
        return None
    try:
        payload = parse_beacon_frame(frame)
    except FrameError:
        return None
    if payload[0] != BEACON_FORMAT_VERSION:
        return None
    return payload[1:_HEADER_BYTES], payload[_HEADER_BYTES:]


def beacon_matches(frame: bytes, secret: bytes, challenge_id: bytes, region: Region | str, *,
                   spreading_factor: int, bandwidth_hz: int) -> bool:
    """Whether `frame` is exactly the beacon this challenge derives at this data rate."""
    if not isinstance(frame, bytes | bytearray | memoryview):
        return False
    expected = beacon_payload(secret, challenge_id, region, spreading_factor=spreading_factor,
                              bandwidth_hz=bandwidth_hz)
    return hmac.compare_digest(bytes(frame), expected)


def _centi_db(name: str, value: object) -> int:
    """A dB figure as exact centi-dB: 5.8 -> 580 (from its shortest decimal form)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise BeaconError(f"{name} must be a number of dB; got {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value) * 100
    as_float = float(value)
    if not math.isfinite(as_float):
        raise BeaconError(f"{name} must be finite; got {value!r}")
    centi = Decimal(repr(as_float)) * 100
    if centi != centi.to_integral_value():
        raise BeaconError(f"{name}={value!r} has more than two decimals; give it to 0.01 dB")
    return int(centi)


def _whole_dbm(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise BeaconError(f"{name} must be a whole number of dBm; got {value!r}")
    return int(value)


def beacon_tx_power_dbm(region: Region | str, antenna_gain_dbi: float, radio_max_dbm: int) -> int:
    """Conducted beacon power: min(radio max, floor(region max EIRP - antenna gain)), in dBm.

    Floored, never rounded, so the EIRP never exceeds the region's limit.

    >>> beacon_tx_power_dbm("US915", 5.8, 27)
    24
    """
    region = _region(region)
    gain_centi = _centi_db("antenna_gain_dbi", antenna_gain_dbi)
    max_eirp_centi = _centi_db(f"{region.name} max_eirp_dbm", region.max_eirp_dbm)
    return min(_whole_dbm("radio_max_dbm", radio_max_dbm), (max_eirp_centi - gain_centi) // 100)


def beacon_eirp_centi_dbm(region: Region | str, antenna_gain_dbi: float,
                          radio_max_dbm: int) -> int:
    """EIRP of the beacon `beacon_tx_power_dbm` picks, in centi-dBm (the `BeaconReport` figure).

    >>> beacon_eirp_centi_dbm("US915", 5.8, 27)
    2980
    """
    tx_power_dbm = beacon_tx_power_dbm(region, antenna_gain_dbi, radio_max_dbm)
    return tx_power_dbm * 100 + _centi_db("antenna_gain_dbi", antenna_gain_dbi)
