"""LoRaWAN regional parameters: channels, data rates, power and airtime limits.

Values follow LoRaWAN Regional Parameters RP002-1.0.4. Maximum payload sizes are
the *N* column (largest FRMPayload with an empty FOpts field) of RP002's
"maximum payload size (not repeater compatible)" tables; RP002 no longer has a
repeater-compatible variant. Where a region has two columns (AU915, AS923-1),
`DataRate.max_payload_bytes` is the "DwellTime = 0" column and
`DataRate.max_payload_bytes_dwell` the "DwellTime = 1 (400 ms)" one; `None` there
means RP002 marks the rate N/A under the dwell limit. US915 has one table, which
already respects its 400 ms dwell time, so both fields hold it.

Only LoRa data rates are listed (no FSK, no LR-FHSS), so indices may have gaps.

A `Region` describes an end-device at boot: the default channels (all 72 for
US915/AU915), the RP002 default TX power and dwell setting. AS923-1 boots
dwell-limited, as LoRaMac-node does; where local rules have no dwell limit use
``dataclasses.replace(region, dwell_time_s=None)``. EU868 duty-cycle sub-bands are
those of ETSI EN 300 220-2 / ERC Rec 70-03, named g (865-868 MHz), g1-g4, and g0
for 863-865 MHz (0.1 %); AS923-1 uses LoRaMac-node's 1 %; the other regions have no
duty-cycle limit (a single sub-band at 100 %).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from types import MappingProxyType

from coverage_net.radio._errors import InvalidInputError, RegionError

__all__ = ["REGIONS", "Channel", "DataRate", "Region", "SubBand", "get_region"]

_EIRP_TOLERANCE_DB = 1e-9


@dataclass(frozen=True)
class DataRate:
    """One LoRa data rate index of a region (see the module docstring for payloads)."""

    index: int
    spreading_factor: int
    bandwidth_hz: int
    max_payload_bytes: int
    max_payload_bytes_dwell: int | None = None


@dataclass(frozen=True)
class Channel:
    """A channel's centre frequency, bandwidth and the data rate indices it carries."""

    freq_hz: int
    bandwidth_hz: int
    data_rates: tuple[int, ...]


@dataclass(frozen=True)
class SubBand:
    """A frequency range (inclusive at both ends) sharing one duty-cycle budget."""

    freq_lo_hz: int
    freq_hi_hz: int
    duty_cycle: float
    name: str = ""

    def contains(self, freq_hz: float) -> bool:
        return self.freq_lo_hz <= freq_hz <= self.freq_hi_hz


def _real(name: str, value: object, accepted: str, *, non_negative: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(f"{name} must be a real number ({accepted}); got {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise InvalidInputError(f"{name} must be finite ({accepted}); got {value!r}")
    if non_negative and result < 0:
        raise InvalidInputError(f"{name} must be non-negative ({accepted}); got {value!r}")
    return result


def _mhz(freq_hz: float) -> str:
    return f"{freq_hz / 1e6:g} MHz"


@dataclass(frozen=True)
class Region:
    """Regional parameters of one LoRaWAN region; get one with `get_region`.

    Powers are EIRP in dBm. ``default_tx_power_dbm`` is the EIRP of TXPower index 0,
    which RP002 makes the boot default (equal to ``max_eirp_dbm``).
    ``dwell_time_s`` is the longest allowed uplink transmission, `None` if unlimited.
    """

    name: str
    freq_min_hz: int
    freq_max_hz: int
    uplink_channels: tuple[Channel, ...]
    downlink_channels: tuple[Channel, ...]
    rx2_channel: Channel
    data_rates: tuple[DataRate, ...]
    max_eirp_dbm: float
    default_tx_power_dbm: float
    sub_bands: tuple[SubBand, ...]
    dwell_time_s: float | None
    beacon_freqs_hz: tuple[int, ...]
    beacon_data_rate: int

    def data_rate(self, index: int) -> DataRate:
        """The LoRa data rate with this DR index; RegionError if the region has none."""
        if not isinstance(index, bool) and isinstance(index, numbers.Integral):
            for rate in self.data_rates:
                if rate.index == index:
                    return rate
        valid = ", ".join(str(rate.index) for rate in self.data_rates)
        raise RegionError(
            f"index={index!r} is not a LoRa data rate of {self.name}; valid indices: {valid}"
        )

    def data_rate_for(
        self, spreading_factor: int, bandwidth_hz: int, *, downlink: bool = False
    ) -> DataRate:
        """The data rate using this spreading factor and bandwidth.

        US915 and AU915 reuse SF8/500 kHz for an uplink and a downlink rate; the one
        carried by the uplink (or, with ``downlink=True``, downlink) channels wins.
        """
        matches = [
            rate
            for rate in self.data_rates
            if rate.spreading_factor == spreading_factor and rate.bandwidth_hz == bandwidth_hz
        ]
        if not matches:
            valid = ", ".join(
                sorted({f"SF{r.spreading_factor}/{r.bandwidth_hz // 1000} kHz"
                        for r in self.data_rates})
            )
            raise RegionError(
                f"spreading_factor={spreading_factor!r} with bandwidth_hz={bandwidth_hz!r} is "
                f"not a data rate of {self.name}; valid combinations: {valid}"
            )
        channels = self.downlink_channels if downlink else self.uplink_channels
        carried = {index for channel in channels for index in channel.data_rates}
        preferred = [rate for rate in matches if rate.index in carried]
        return (preferred or matches)[0]

    def max_payload_bytes(self, index: int, *, downlink: bool = False) -> int:
        """Largest FRMPayload at this data rate, honouring the uplink dwell limit.

        Downlinks always use the no-dwell column: RP002 tells end-devices to accept
        them whatever the DownlinkDwellTime setting.
        """
        rate = self.data_rate(index)
        if downlink or self.dwell_time_s is None:
            return rate.max_payload_bytes
        if rate.max_payload_bytes_dwell is None:
            raise RegionError(
                f"index={index} ({self.name} DR{index}) cannot carry uplinks under the "
                f"{self.dwell_time_s * 1000:g} ms dwell-time limit; use a faster data rate"
            )
        return rate.max_payload_bytes_dwell

    def check_tx_power(self, tx_power_dbm: float, antenna_gain_dbi: float) -> float:
        """Return the EIRP in dBm; RegionError if it exceeds the region's maximum."""
        power = _real("tx_power_dbm", tx_power_dbm, "conducted power in dBm")
        gain = _real("antenna_gain_dbi", antenna_gain_dbi, "antenna gain in dBi")
        eirp = power + gain
        if eirp > self.max_eirp_dbm + _EIRP_TOLERANCE_DB:
            raise RegionError(
                f"tx_power_dbm={power:g} with antenna_gain_dbi={gain:g} gives {eirp:g} dBm EIRP, "
                f"above the {self.max_eirp_dbm:g} dBm allowed in {self.name}; lower the power "
                f"to at most {self.max_eirp_dbm - gain:g} dBm"
            )
        return eirp

    def check_frequency(self, freq_hz: float) -> None:
        """Raise RegionError unless ``freq_hz`` lies in the region's band."""
        freq = _real("freq_hz", freq_hz, "frequency in Hz")
        if not self.freq_min_hz <= freq <= self.freq_max_hz:
            raise RegionError(
                f"freq_hz={freq_hz!r} ({_mhz(freq)}) is outside {self.name}, which allows "
                f"{_mhz(self.freq_min_hz)} to {_mhz(self.freq_max_hz)}"
            )

    def sub_band_for(self, freq_hz: float) -> SubBand:
        """The duty-cycle sub-band holding ``freq_hz`` (the lower one on a shared edge)."""
        self.check_frequency(freq_hz)
        for sub_band in self.sub_bands:
            if sub_band.contains(freq_hz):
                return sub_band
        bands = ", ".join(
            f"{b.name} {_mhz(b.freq_lo_hz)}-{_mhz(b.freq_hi_hz)}" for b in self.sub_bands
        )
        raise RegionError(
            f"freq_hz={freq_hz!r} ({_mhz(freq_hz)}) is in no sub-band open to LoRaWAN in "
            f"{self.name}; sub-bands: {bands}"
        )

    def min_off_time_s(self, airtime_s: float, freq_hz: float) -> float:
        """Silence needed after ``airtime_s`` on ``freq_hz``: airtime * (1/dc - 1)."""
        airtime = _real("airtime_s", airtime_s, "a time in seconds", non_negative=True)
        duty_cycle = self.sub_band_for(freq_hz).duty_cycle
        return airtime * (1.0 / duty_cycle - 1.0)

    def check_dwell_time(self, airtime_s: float) -> None:
        """Raise RegionError if one uplink of ``airtime_s`` breaks the dwell-time limit."""
        airtime = _real("airtime_s", airtime_s, "a time in seconds", non_negative=True)
        if self.dwell_time_s is not None and airtime > self.dwell_time_s:
            raise RegionError(
                f"airtime_s={airtime_s!r} exceeds the {self.dwell_time_s * 1000:g} ms dwell "
                f"time of {self.name}; send a shorter payload or use a faster data rate"
            )


_KHZ125, _KHZ250, _KHZ500 = 125_000, 250_000, 500_000


def _rates(*rows: tuple[int, int, int, int, int | None]) -> tuple[DataRate, ...]:
    return tuple(DataRate(*row) for row in rows)


def _channels(
    first_hz: int, step_hz: int, count: int, bandwidth_hz: int, data_rates: range
) -> tuple[Channel, ...]:
    return tuple(
        Channel(first_hz + step_hz * i, bandwidth_hz, tuple(data_rates)) for i in range(count)
    )


def _fixed(*freqs_hz: int) -> tuple[Channel, ...]:
    return tuple(Channel(freq, _KHZ125, tuple(range(6))) for freq in freqs_hz)


def _whole_band(lo_hz: int, hi_hz: int, duty_cycle: float = 1.0) -> tuple[SubBand, ...]:
    return (SubBand(lo_hz, hi_hz, duty_cycle, "all"),)


# SF12-SF7 at 500 kHz, downlink only in US915/AU915 (RP002-1.0.4 N: 53, 129, 242...).
_US_AU_DOWNLINK_RATES = _rates(
    (8, 12, _KHZ500, 53, 53),
    (9, 11, _KHZ500, 129, 129),
    (10, 10, _KHZ500, 242, 242),
    (11, 9, _KHZ500, 242, 242),
    (12, 8, _KHZ500, 242, 242),
    (13, 7, _KHZ500, 242, 242),
)
_US_AU_DOWNLINK = _channels(923_300_000, 600_000, 8, _KHZ500, range(8, 14))
_US_AU_BEACONS = tuple(923_300_000 + 600_000 * i for i in range(8))

# SF12-SF7 at 125 kHz then SF7 at 250 kHz: EU868, KR920 and IN865 (DR0-5) share these.
_EU_LIKE_RATES = _rates(
    (0, 12, _KHZ125, 51, None),
    (1, 11, _KHZ125, 51, None),
    (2, 10, _KHZ125, 51, None),
    (3, 9, _KHZ125, 115, None),
    (4, 8, _KHZ125, 242, None),
    (5, 7, _KHZ125, 242, None),
    (6, 7, _KHZ250, 242, None),
)

_US915 = Region(
    name="US915",
    freq_min_hz=902_000_000,
    freq_max_hz=928_000_000,
    uplink_channels=_channels(902_300_000, 200_000, 64, _KHZ125, range(4))
    + _channels(903_000_000, 1_600_000, 8, _KHZ500, range(4, 5)),
    downlink_channels=_US_AU_DOWNLINK,
    rx2_channel=Channel(923_300_000, _KHZ500, (8,)),
    data_rates=_rates(
        (0, 10, _KHZ125, 11, 11),
        (1, 9, _KHZ125, 53, 53),
        (2, 8, _KHZ125, 125, 125),
        (3, 7, _KHZ125, 242, 242),
        (4, 8, _KHZ500, 242, 242),
    )
    + _US_AU_DOWNLINK_RATES,
    max_eirp_dbm=30.0,
    default_tx_power_dbm=30.0,
    sub_bands=_whole_band(902_000_000, 928_000_000),
    dwell_time_s=0.4,
    beacon_freqs_hz=_US_AU_BEACONS,
    beacon_data_rate=8,
)

_AU915 = Region(
    name="AU915",
    freq_min_hz=915_000_000,
    freq_max_hz=928_000_000,
    uplink_channels=_channels(915_200_000, 200_000, 64, _KHZ125, range(6))
    + _channels(915_900_000, 1_600_000, 8, _KHZ500, range(6, 7)),
    downlink_channels=_US_AU_DOWNLINK,
    rx2_channel=Channel(923_300_000, _KHZ500, (8,)),
    data_rates=_rates(
        (0, 12, _KHZ125, 51, None),
        (1, 11, _KHZ125, 51, None),
        (2, 10, _KHZ125, 51, 11),
        (3, 9, _KHZ125, 115, 53),
        (4, 8, _KHZ125, 242, 125),
        (5, 7, _KHZ125, 242, 242),
        (6, 8, _KHZ500, 242, 242),
    )
    + _US_AU_DOWNLINK_RATES,
    max_eirp_dbm=30.0,
    default_tx_power_dbm=30.0,
    sub_bands=_whole_band(915_000_000, 928_000_000),
    dwell_time_s=0.4,
    beacon_freqs_hz=_US_AU_BEACONS,
    beacon_data_rate=8,
)

_EU868 = Region(
    name="EU868",
    freq_min_hz=863_000_000,
    freq_max_hz=870_000_000,
    uplink_channels=_fixed(868_100_000, 868_300_000, 868_500_000),
    downlink_channels=_fixed(868_100_000, 868_300_000, 868_500_000),
    rx2_channel=Channel(869_525_000, _KHZ125, (0,)),
    data_rates=_EU_LIKE_RATES,
    max_eirp_dbm=16.0,
    default_tx_power_dbm=16.0,
    sub_bands=(
        SubBand(863_000_000, 865_000_000, 0.001, "g0"),
        SubBand(865_000_000, 868_000_000, 0.01, "g"),
        SubBand(868_000_000, 868_600_000, 0.01, "g1"),
        SubBand(868_700_000, 869_200_000, 0.001, "g2"),
        SubBand(869_400_000, 869_650_000, 0.1, "g3"),
        SubBand(869_700_000, 870_000_000, 0.01, "g4"),
    ),
    dwell_time_s=None,
    beacon_freqs_hz=(869_525_000,),
    beacon_data_rate=3,
)

_AS923_1 = Region(
    name="AS923-1",
    freq_min_hz=915_000_000,
    freq_max_hz=928_000_000,
    uplink_channels=_fixed(923_200_000, 923_400_000),
    downlink_channels=_fixed(923_200_000, 923_400_000),
    rx2_channel=Channel(923_200_000, _KHZ125, (2,)),
    data_rates=_rates(
        (0, 12, _KHZ125, 51, None),
        (1, 11, _KHZ125, 51, None),
        (2, 10, _KHZ125, 115, 11),
        (3, 9, _KHZ125, 115, 53),
        (4, 8, _KHZ125, 242, 125),
        (5, 7, _KHZ125, 242, 242),
        (6, 7, _KHZ250, 242, 242),
    ),
    max_eirp_dbm=16.0,
    default_tx_power_dbm=16.0,
    sub_bands=_whole_band(915_000_000, 928_000_000, 0.01),
    dwell_time_s=0.4,
    beacon_freqs_hz=(923_400_000,),
    beacon_data_rate=3,
)

# RP002 also caps KR920 channels below 922 MHz at 10 dBm EIRP; not modelled here.
_KR920 = Region(
    name="KR920",
    freq_min_hz=920_900_000,
    freq_max_hz=923_300_000,
    uplink_channels=_fixed(922_100_000, 922_300_000, 922_500_000),
    downlink_channels=_fixed(922_100_000, 922_300_000, 922_500_000),
    rx2_channel=Channel(921_900_000, _KHZ125, (0,)),
    data_rates=_EU_LIKE_RATES[:6],
    max_eirp_dbm=14.0,
    default_tx_power_dbm=14.0,
    sub_bands=_whole_band(920_900_000, 923_300_000),
    dwell_time_s=None,
    beacon_freqs_hz=(923_100_000,),
    beacon_data_rate=3,
)

_IN865 = Region(
    name="IN865",
    freq_min_hz=865_000_000,
    freq_max_hz=867_000_000,
    uplink_channels=_fixed(865_062_500, 865_402_500, 865_985_000),
    downlink_channels=_fixed(865_062_500, 865_402_500, 865_985_000),
    rx2_channel=Channel(866_550_000, _KHZ125, (2,)),
    data_rates=_EU_LIKE_RATES[:6],
    max_eirp_dbm=30.0,
    default_tx_power_dbm=30.0,
    sub_bands=_whole_band(865_000_000, 867_000_000),
    dwell_time_s=None,
    beacon_freqs_hz=(866_550_000,),
    beacon_data_rate=4,
)

REGIONS: MappingProxyType[str, Region] = MappingProxyType(
    {r.name: r for r in (_US915, _EU868, _AU915, _AS923_1, _KR920, _IN865)}
)
"""Every supported region by its canonical name (read-only)."""

_ALIASES = {
    "AS923": "AS923-1",
    "US902-928": "US915",
    "EU863-870": "EU868",
    "AU915-928": "AU915",
    "KR920-923": "KR920",
    "IN865-867": "IN865",
}


def get_region(name: str) -> Region:
    """Look a region up by name, ignoring case; "AS923" means AS923-1.

    >>> get_region("eu868").max_eirp_dbm
    16.0
    """
    if not isinstance(name, str):
        raise RegionError(f"name must be a region name (str); got {name!r}")
    key = name.strip().upper().replace("_", "-")
    key = _ALIASES.get(key, key)
    try:
        return REGIONS[key]
    except KeyError:
        valid = ", ".join(REGIONS)
        raise RegionError(
            f"name={name!r} is not a known region; valid names: {valid} "
            f"(case-insensitive; 'AS923' means AS923-1)"
        ) from None
