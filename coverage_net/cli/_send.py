"""What `coverage-net bridge send` puts on the air, checked before the radio is touched.

An operator testing one devboard against another wants to know, before anything
is transmitted, that the frame is legal where they stand: the region has the
data rate, the channel carries it, the frame fits the region's maximum payload
and dwell time, and repeating it keeps within the duty cycle. Every refusal is a
`CoverageNetError` whose message starts with the option to fix, so the CLI shows
one ``error:`` line. Beacons come from `coverage_net.poc.beacon_payload`, the
function the hotspots use, so what this command sends is what a witness would hear.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import trio

from coverage_net.poc import (
    CHALLENGE_ID_BYTES,
    SECRET_BYTES,
    BeaconError,
    beacon_frame_bytes,
    beacon_payload,
)
from coverage_net.radio import Region, RegionError, get_region
from firmware_bridge import (
    ConfigError,
    DeviceDisconnectedError,
    FrameError,
    Radio,
    RadioConfig,
    TxResult,
)

__all__ = ["LORAWAN_OVERHEAD_BYTES", "Frame", "beacon_frames", "check_frame", "choose_frames",
           "interval_s", "parse_hex", "radio_config", "send_frames"]

LORAWAN_OVERHEAD_BYTES = 13
"""MHDR (1) + FHDR without FOpts (7) + FPort (1) + MIC (4): a region's maximum
FRMPayload plus these is the longest PHY payload it allows at that data rate."""


@dataclass(frozen=True)
class Frame:
    """One PHY payload to send, and what reproduces it (a beacon's secret and challenge)."""

    payload: bytes
    secret: bytes | None = None
    challenge_id: bytes | None = None


def parse_hex(option: str, text: str, *, length: int | None = None) -> bytes:
    """`text` as bytes (spaces and ':' between bytes allowed); FrameError naming `option`.

    >>> parse_hex("--hex", "e0 01:02")
    b'\\xe0\\x01\\x02'
    """
    cleaned = "".join(text.replace(":", " ").split())
    if cleaned[:2].lower() == "0x":
        cleaned = cleaned[2:]
    if not cleaned:
        raise FrameError(f"{option} is empty; give the bytes as hex, e.g. {option} e0010203")
    if len(cleaned) % 2:
        raise FrameError(f"{option} {text!r}: {len(cleaned)} hex digits is an odd number; "
                         "give two digits per byte")
    bad = next((c for c in cleaned if c not in "0123456789abcdefABCDEF"), None)
    if bad is not None:
        raise FrameError(f"{option} {text!r}: {bad!r} is not a hex digit (0-9, a-f)")
    data = bytes.fromhex(cleaned)
    if length is not None and len(data) != length:
        raise FrameError(f"{option} must be {length} bytes ({2 * length} hex digits); "
                         f"got {len(data)} bytes")
    return data


def radio_config(region_name: str, data_rate: int, channel: int,
                 tx_power_dbm: int | None) -> tuple[Region, RadioConfig]:
    """The region and the radio configuration, each wrong setting named by its option."""
    try:
        region = get_region(region_name)
    except RegionError as exc:
        raise ConfigError(f"--region {region_name}: {exc}") from None
    try:
        region.data_rate(data_rate)
    except RegionError as exc:
        raise ConfigError(f"--dr {data_rate}: {exc}") from None
    if tx_power_dbm is not None:
        try:
            region.check_tx_power(tx_power_dbm, 0.0)
        except RegionError as exc:
            raise ConfigError(f"--tx-power {tx_power_dbm} (with a 0 dBi antenna): {exc}") from None
    try:
        config = RadioConfig.for_region(region.name, data_rate=data_rate, channel=channel,
                                        tx_power_dbm=tx_power_dbm)
    except ConfigError as exc:
        raise ConfigError(f"--channel {channel}: {exc}") from None
    return region, config


def check_frame(option: str, size: int, region: Region, data_rate: int,
                config: RadioConfig) -> None:
    """FrameError naming `option` if `size` bytes break the maximum payload or dwell time.

    The dwell time is checked first: where a region has one, it is why the
    maximum payload is what it is. The longest frame is the region's maximum
    FRMPayload plus LoRaWAN's framing (US915 DR0: 11 + 13 = 24 bytes, exactly what
    fits in its 400 ms dwell time).
    """
    where = (f"{region.name} DR{data_rate} (SF{config.spreading_factor}/"
             f"{config.bandwidth_hz // 1000} kHz)")
    if not 1 <= size <= 255:
        raise FrameError(f"{option}: a LoRa frame has 1 to 255 bytes, this one has {size}")
    try:
        longest = region.max_payload_bytes(data_rate) + LORAWAN_OVERHEAD_BYTES
    except RegionError as exc:
        raise ConfigError(f"--dr {data_rate}: {exc}") from None
    airtime_s = config.airtime_s(size)
    if region.dwell_time_s is not None and airtime_s > region.dwell_time_s:
        fits = max((n for n in range(1, size) if config.airtime_s(n) <= region.dwell_time_s),
                   default=0)
        raise FrameError(
            f"{option}: {size} bytes take {airtime_s * 1000:.1f} ms on air at {where}, over "
            f"the {region.dwell_time_s * 1000:g} ms dwell time of {region.name}; at most "
            f"{fits} bytes fit, or use a faster data rate")
    if size > longest:
        raise FrameError(
            f"{option}: {size} bytes exceed the {longest}-byte maximum at {where} (its "
            f"{longest - LORAWAN_OVERHEAD_BYTES}-byte maximum payload + "
            f"{LORAWAN_OVERHEAD_BYTES} bytes of LoRaWAN framing); send fewer bytes or use a "
            "faster data rate")

def interval_s(size: int, region: Region, config: RadioConfig, every_s: float | None) -> float:
    """Seconds between the starts of two frames: `every_s`, or the duty cycle's minimum.

    `every_s` below that minimum is refused: the sub-band's duty cycle is the law
    the operator's radio transmits under, not a suggestion.
    """
    airtime_s = config.airtime_s(size)
    shortest_s = airtime_s + region.min_off_time_s(airtime_s, config.freq_hz)
    if every_s is None:
        return shortest_s
    if every_s < shortest_s:
        duty = region.sub_band_for(config.freq_hz).duty_cycle
        raise ConfigError(
            f"--every {every_s:g}: a {size}-byte frame takes {airtime_s * 1000:.1f} ms on air "
            f"and {region.name} allows a {duty:.1%} duty cycle at "
            f"{config.freq_hz / 1e6:.3f} MHz, so frames must start at least "
            f"{shortest_s:.3f} s apart")
    return every_s


def beacon_frames(region: Region, config: RadioConfig, secret: bytes | None,
                  challenge_id: bytes | None,
                  random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> Iterator[Frame]:
    """Beacons as a challenged hotspot sends them, each from a fresh random secret and
    challenge id unless given (then every frame is that one beacon)."""
    while True:
        s = secret if secret is not None else random_bytes(SECRET_BYTES)
        c = challenge_id if challenge_id is not None else random_bytes(CHALLENGE_ID_BYTES)
        payload = beacon_payload(s, c, region, spreading_factor=config.spreading_factor,
                                 bandwidth_hz=config.bandwidth_hz)
        yield Frame(payload, secret=s, challenge_id=c)


def choose_frames(payload_hex: str | None, beacon: bool, secret_hex: str | None,
                  challenge_hex: str | None, region: Region, data_rate: int,
                  config: RadioConfig) -> tuple[str, int, Iterator[Frame]]:
    """(the option that names the frames, their size in bytes, the frames), the options checked."""
    if payload_hex is not None and beacon:
        raise FrameError("--hex and --beacon: give one of them, not both")
    if payload_hex is None and not beacon:
        raise FrameError("give what to send: --hex PAYLOAD or --beacon")
    if not beacon and (secret_hex is not None or challenge_hex is not None):
        raise FrameError("--secret and --challenge only go with --beacon")
    if payload_hex is not None:
        payload = parse_hex("--hex", payload_hex)
        return "--hex", len(payload), iter(lambda: Frame(payload), None)
    secret = None if secret_hex is None else parse_hex("--secret", secret_hex, length=SECRET_BYTES)
    challenge = None if challenge_hex is None else parse_hex("--challenge", challenge_hex,
                                                             length=CHALLENGE_ID_BYTES)
    try:
        size = beacon_frame_bytes(region, spreading_factor=config.spreading_factor,
                                  bandwidth_hz=config.bandwidth_hz)
    except BeaconError as exc:
        raise BeaconError(f"--beacon at --dr {data_rate}: {exc}") from None
    return "--beacon", size, beacon_frames(region, config, secret, challenge)


async def send_frames(radio: Radio, frames: Iterator[Frame], *, count: int | None,
                      interval_s: float,
                      on_sent: Callable[[int, Frame, TxResult], None]) -> int:
    """Transmit `count` frames (None: until cancelled), starting one every `interval_s`.

    Starts are scheduled from the first one, so a slow transmission does not make
    the whole run drift; a frame that is already late goes at once. A radio that
    vanishes ends the run with `DeviceDisconnectedError` saying how many were sent.
    """
    sent = 0
    start = trio.current_time()
    for frame in frames if count is None else itertools.islice(frames, count):
        await trio.sleep_until(start + sent * interval_s)
        try:
            result = await radio.transmit(frame.payload)
        except DeviceDisconnectedError as exc:
            gone = f"the radio went away after {sent} frame{'s' * (sent != 1)} confirmed sent"
            raise DeviceDisconnectedError(f"{exc}; {gone}") from exc
        sent += 1
        on_sent(sent, frame, result)
    return sent
