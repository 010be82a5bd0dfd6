"""LoRa settings the simulator may use beyond the LoRaWAN data rates: SF6, and the grid
of spreading factor x bandwidth that LoRaSim's experiments choose from.

`coverage_net.radio` covers SF7-SF12 (SF6 needs implicit headers on SX127x and is in
no LoRaWAN data-rate table). LoRaSim (Bor et al. 2016, experiment 2) uses SF6/500 kHz,
so the simulator carries SF6's few facts here, from the SX1276 datasheet, and
delegates everything else to `coverage_net.radio`.
"""

from __future__ import annotations

import math
from types import MappingProxyType

from coverage_net.radio import Region, snr_floor_db, time_on_air_s

from ._errors import SimConfigError

__all__ = ["LORASIM_GRID", "SF6_SENSITIVITY_DBM", "SF6_SNR_FLOOR_DB", "airtime_s",
           "check_setting", "region_grid"]

SF6_SENSITIVITY_DBM = MappingProxyType({125_000: -118.0, 250_000: -115.0, 500_000: -111.0})
"""SX1276 datasheet sensitivity (dBm) of SF6 by bandwidth."""

SF6_SNR_FLOOR_DB = -5.0
"""SX1276 datasheet demodulation floor of SF6."""

LORASIM_GRID = tuple((sf, bw) for sf in range(7, 13) for bw in (125_000, 250_000, 500_000))
"""The settings LoRaSim's experiments 3 and 5 choose from (its sensitivity table)."""


def airtime_s(payload_bytes: int, spreading_factor: int, bandwidth_hz: int,
              coding_rate: int = 5) -> float:
    """Time on air (s); SF6 frames are sent with an implicit header, as SX127x requires.

    SF7-SF12 come from `coverage_net.radio.time_on_air_s` (Semtech AN1200.13); SF6
    uses the same formula with IH = 1 and no low-data-rate optimisation, as LoRaSim's
    ``airtime`` does.
    """
    if spreading_factor != 6:
        return float(time_on_air_s(payload_bytes, spreading_factor, bandwidth_hz, coding_rate))
    symbol_s = 2.0 ** 6 / bandwidth_hz
    payload_symbols = 8 + max(math.ceil((8 * payload_bytes - 4 * 6 + 28 + 16 - 20) / (4 * 6))
                              * coding_rate, 0)
    return (8 + 4.25 + payload_symbols) * symbol_s


def snr_floor(spreading_factor: int) -> float:
    if spreading_factor == 6:
        return SF6_SNR_FLOOR_DB
    return float(snr_floor_db(spreading_factor))


def region_bandwidths(region: Region) -> set[int]:
    return {region.data_rate(i).bandwidth_hz for ch in region.uplink_channels
            for i in ch.data_rates}


def check_setting(region: Region, spreading_factor: int, bandwidth_hz: int,
                  coding_rate: int, regulatory_limits: bool) -> None:
    """Refuse a raw LoRa setting the scenario's region cannot carry.

    SF7-SF12 and SF6 are modulation settings, not data rates: the region limits
    the bandwidth of its channels (and duty cycle and dwell time, which the channel
    enforces). So a raw setting needs a bandwidth that the region's uplink plan uses,
    unless the scenario switches regulatory limits off (LoRaSim's 860 MHz lies in no
    plan); SF6 is allowed wherever its bandwidth is.
    """
    if spreading_factor not in range(6, 13):
        raise SimConfigError(f"spreading_factor must be 6..12, got {spreading_factor!r}")
    if bandwidth_hz not in (125_000, 250_000, 500_000):
        raise SimConfigError(f"bandwidth_hz must be 125000, 250000 or 500000, got "
                             f"{bandwidth_hz!r}")
    if coding_rate not in range(5, 9):
        raise SimConfigError(f"coding_rate is the denominator of 4/x and must be 5..8 "
                             f"(4/5..4/8), got {coding_rate!r}")
    allowed = region_bandwidths(region)
    if regulatory_limits and bandwidth_hz not in allowed:
        raise SimConfigError(
            f"SF{spreading_factor}/{bandwidth_hz // 1000} kHz: region {region.name} has no "
            f"uplink channel of {bandwidth_hz // 1000} kHz (it uses "
            f"{sorted(b // 1000 for b in allowed)} kHz); pick one of those, or set "
            "regulatory_limits = false")


def region_grid(region: Region) -> tuple[tuple[int, int], ...]:
    """(SF, BW) of every uplink data rate of the region, fastest last."""
    rates = {(region.data_rate(i).spreading_factor, region.data_rate(i).bandwidth_hz)
             for ch in region.uplink_channels for i in ch.data_rates}
    return tuple(sorted(rates, key=lambda r: (-r[0], r[1])))
