"""Tests of coverage_net.radio._regions: RP002 regional parameters."""

import dataclasses
import doctest

import pytest

from coverage_net.radio import _regions
from coverage_net.radio._errors import InvalidInputError, RegionError
from coverage_net.radio._phy import time_on_air_s
from coverage_net.radio._regions import REGIONS, get_region

# MHDR (1) + FHDR without FOpts (7) + FPort (1) + MIC (4) around an N-byte FRMPayload.
LORAWAN_OVERHEAD_BYTES = 13


def mhz(*values):
    return [round(v * 1_000_000) for v in values]


def test_doctests_pass():
    result = doctest.testmod(_regions)
    assert result.attempted > 0
    assert result.failed == 0


def test_region_names():
    assert list(REGIONS) == ["US915", "EU868", "AU915", "AS923-1", "KR920", "IN865"]
    with pytest.raises(TypeError):
        REGIONS["XX"] = REGIONS["EU868"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("EU868", "EU868"), ("eu868", "EU868"), ("AS923", "AS923-1"), ("as923-1", "AS923-1"),
     ("as923_1", "AS923-1"), (" us915 ", "US915"), ("US902-928", "US915")],
)
def test_get_region_is_case_insensitive(name, expected):
    assert get_region(name) is REGIONS[expected]


def test_unknown_region_lists_valid_names():
    with pytest.raises(RegionError) as info:
        get_region("EU433")
    message = str(info.value)
    assert "'EU433'" in message
    for name in REGIONS:
        assert name in message
    assert isinstance(info.value, InvalidInputError)
    with pytest.raises(RegionError, match="must be a region name"):
        get_region(868)


def test_us915_channels():
    region = get_region("US915")
    narrow = [c for c in region.uplink_channels if c.bandwidth_hz == 125_000]
    wide = [c for c in region.uplink_channels if c.bandwidth_hz == 500_000]
    assert len(region.uplink_channels) == 72
    assert [c.freq_hz for c in narrow] == [902_300_000 + 200_000 * i for i in range(64)]
    assert narrow[-1].freq_hz == 914_900_000
    assert [c.freq_hz for c in wide] == [903_000_000 + 1_600_000 * i for i in range(8)]
    assert {c.data_rates for c in narrow} == {(0, 1, 2, 3)}
    assert {c.data_rates for c in wide} == {(4,)}
    assert [c.freq_hz for c in region.downlink_channels] == mhz(
        923.3, 923.9, 924.5, 925.1, 925.7, 926.3, 926.9, 927.5
    )
    assert all(isinstance(c.freq_hz, int) for c in region.uplink_channels)


def test_au915_channels():
    region = get_region("AU915")
    narrow = [c.freq_hz for c in region.uplink_channels if c.bandwidth_hz == 125_000]
    wide = [c.freq_hz for c in region.uplink_channels if c.bandwidth_hz == 500_000]
    assert narrow == [915_200_000 + 200_000 * i for i in range(64)]
    assert narrow[-1] == 927_800_000
    assert wide == [915_900_000 + 1_600_000 * i for i in range(8)]
    assert region.downlink_channels == get_region("US915").downlink_channels


@pytest.mark.parametrize(
    ("name", "freqs_mhz"),
    [("EU868", (868.1, 868.3, 868.5)), ("AS923-1", (923.2, 923.4)),
     ("KR920", (922.1, 922.3, 922.5)), ("IN865", (865.0625, 865.4025, 865.985))],
)
def test_default_channels(name, freqs_mhz):
    region = get_region(name)
    assert [c.freq_hz for c in region.uplink_channels] == mhz(*freqs_mhz)
    assert all(c.bandwidth_hz == 125_000 for c in region.uplink_channels)


def _table(region):
    return {r.index: (r.spreading_factor, r.bandwidth_hz // 1000) for r in region.data_rates}


def test_data_rate_tables():
    us = {0: (10, 125), 1: (9, 125), 2: (8, 125), 3: (7, 125), 4: (8, 500)}
    us_au_down = {8 + i: (12 - i, 500) for i in range(6)}
    eu = {i: (12 - i, 125) for i in range(6)}
    assert _table(get_region("US915")) == us | us_au_down
    assert _table(get_region("AU915")) == eu | {6: (8, 500)} | us_au_down
    assert _table(get_region("EU868")) == eu | {6: (7, 250)}
    assert _table(get_region("AS923-1")) == eu | {6: (7, 250)}
    assert _table(get_region("KR920")) == eu
    assert _table(get_region("IN865")) == eu


def test_max_payloads():
    us, eu = get_region("US915"), get_region("EU868")
    assert [us.max_payload_bytes(i) for i in range(5)] == [11, 53, 125, 242, 242]
    assert us.data_rate(0).max_payload_bytes == 11
    assert [eu.max_payload_bytes(i) for i in range(7)] == [51, 51, 51, 115, 242, 242, 242]
    assert eu.data_rate(0).max_payload_bytes == 51
    au = get_region("AU915")
    assert [au.max_payload_bytes(i) for i in range(2, 7)] == [11, 53, 125, 242, 242]
    with pytest.raises(RegionError, match="index=0 .*400 ms dwell-time"):
        au.max_payload_bytes(0)
    assert au.max_payload_bytes(0, downlink=True) == 51
    as923 = get_region("AS923")
    assert as923.max_payload_bytes(2) == 11
    unlimited = dataclasses.replace(as923, dwell_time_s=None)
    assert [unlimited.max_payload_bytes(i) for i in range(7)] == [51, 51, 115, 115, 242, 242, 242]


@pytest.mark.parametrize("name", ["US915", "AU915", "AS923-1"])
def test_dwell_payloads_fit_in_dwell_time(name):
    region = get_region(name)
    carried = {i for c in region.uplink_channels for i in c.data_rates}
    for index in sorted(carried):
        rate = region.data_rate(index)
        if rate.max_payload_bytes_dwell is None:
            # RP002 says N/A: not even an empty frame fits.
            shortest = time_on_air_s(LORAWAN_OVERHEAD_BYTES, rate.spreading_factor,
                                     rate.bandwidth_hz)
            assert shortest > region.dwell_time_s
            continue
        phy_bytes = region.max_payload_bytes(index) + LORAWAN_OVERHEAD_BYTES
        airtime = float(time_on_air_s(phy_bytes, rate.spreading_factor, rate.bandwidth_hz))
        region.check_dwell_time(airtime)


def test_data_rate_lookup():
    us = get_region("US915")
    assert us.data_rate(4).spreading_factor == 8
    with pytest.raises(RegionError, match=r"index=5 .*US915.*0, 1, 2, 3, 4, 8"):
        us.data_rate(5)
    with pytest.raises(RegionError):
        us.data_rate(True)
    assert us.data_rate_for(10, 125_000).index == 0
    assert us.data_rate_for(8, 500_000).index == 4
    assert us.data_rate_for(8, 500_000, downlink=True).index == 12
    assert get_region("AU915").data_rate_for(8, 500_000).index == 6
    assert get_region("EU868").data_rate_for(7, 250_000).index == 6
    with pytest.raises(RegionError, match=r"spreading_factor=12 .*bandwidth_hz=125000.*SF10/125"):
        us.data_rate_for(12, 125_000)


@pytest.mark.parametrize(
    ("name", "tx_power_dbm", "antenna_gain_dbi", "allowed"),
    [("EU868", 14.0, 2.0, True), ("EU868", 13.85, 2.15, True), ("EU868", 14.0, 2.15, False),
     ("US915", 30.0, 0.0, True), ("US915", 30.0, 6.0, False), ("AU915", 27.0, 3.0, True),
     ("AS923-1", 16.0, 0.0, True), ("AS923-1", 16.0, 1.0, False),
     ("KR920", 14.0, 0.0, True), ("KR920", 12.0, 3.0, False), ("IN865", 30.0, 0.0, True)],
)
def test_check_tx_power(name, tx_power_dbm, antenna_gain_dbi, allowed):
    region = get_region(name)
    if allowed:
        eirp = region.check_tx_power(tx_power_dbm, antenna_gain_dbi)
        assert eirp == pytest.approx(tx_power_dbm + antenna_gain_dbi)
    else:
        with pytest.raises(RegionError, match=rf"above the {region.max_eirp_dbm:g} dBm"):
            region.check_tx_power(tx_power_dbm, antenna_gain_dbi)


def test_check_tx_power_rejects_bad_numbers():
    with pytest.raises(InvalidInputError, match="tx_power_dbm must be finite"):
        get_region("EU868").check_tx_power(float("nan"), 0.0)
    with pytest.raises(InvalidInputError, match="antenna_gain_dbi must be a real number"):
        get_region("EU868").check_tx_power(14.0, "2 dBi")


def test_check_frequency():
    eu = get_region("EU868")
    eu.check_frequency(868_100_000)
    with pytest.raises(RegionError, match=r"freq_hz=915000000 \(915 MHz\) is outside EU868"):
        eu.check_frequency(915_000_000)
    get_region("US915").check_frequency(902.3e6)


def test_sub_bands():
    eu = get_region("EU868")
    assert eu.sub_band_for(868_100_000).name == "g1"
    assert eu.sub_band_for(868_100_000).duty_cycle == 0.01
    assert eu.sub_band_for(869_525_000).name == "g3"
    assert eu.sub_band_for(869_525_000).duty_cycle == 0.1
    assert eu.sub_band_for(868_900_000).duty_cycle == 0.001
    assert eu.sub_band_for(864_000_000).duty_cycle == 0.001
    assert eu.sub_band_for(867_100_000).name == "g"
    with pytest.raises(RegionError, match="in no sub-band"):
        eu.sub_band_for(868_650_000)
    assert get_region("US915").sub_band_for(915_000_000).duty_cycle == 1.0


def test_min_off_time():
    eu = get_region("EU868")
    assert eu.min_off_time_s(0.1, 868_100_000) == pytest.approx(9.9)
    assert eu.min_off_time_s(0.1, 869_525_000) == pytest.approx(0.9)
    assert eu.min_off_time_s(0.1, 868_900_000) == pytest.approx(99.9)
    assert get_region("US915").min_off_time_s(0.3, 903_000_000) == 0.0
    assert get_region("AS923").min_off_time_s(0.1, 923_200_000) == pytest.approx(9.9)
    with pytest.raises(InvalidInputError, match="airtime_s must be non-negative"):
        eu.min_off_time_s(-0.1, 868_100_000)
    with pytest.raises(RegionError, match="outside EU868"):
        eu.min_off_time_s(0.1, 915_000_000)


def test_dwell_time():
    us = get_region("US915")
    us.check_dwell_time(0.4)
    with pytest.raises(RegionError, match=r"airtime_s=0.401 exceeds the 400 ms dwell time"):
        us.check_dwell_time(0.401)
    with pytest.raises(RegionError):
        get_region("AU915").check_dwell_time(0.401)
    with pytest.raises(RegionError):
        get_region("AS923-1").check_dwell_time(0.401)
    get_region("EU868").check_dwell_time(2.5)
    with pytest.raises(InvalidInputError, match="airtime_s must be finite"):
        us.check_dwell_time(float("inf"))


@pytest.mark.parametrize("region", list(REGIONS.values()), ids=list(REGIONS))
def test_region_is_self_consistent(region):
    indices = {rate.index for rate in region.data_rates}
    assert len(indices) == len(region.data_rates)
    channels = (*region.uplink_channels, *region.downlink_channels, region.rx2_channel)
    for channel in channels:
        region.check_frequency(channel.freq_hz)
        region.sub_band_for(channel.freq_hz)
        for index in channel.data_rates:
            assert region.data_rate(index).bandwidth_hz == channel.bandwidth_hz
    for freq_hz in region.beacon_freqs_hz:
        region.check_frequency(freq_hz)
    region.data_rate(region.beacon_data_rate)
    for sub_band in region.sub_bands:
        assert region.freq_min_hz <= sub_band.freq_lo_hz < sub_band.freq_hi_hz
        assert sub_band.freq_hi_hz <= region.freq_max_hz
        assert 0 < sub_band.duty_cycle <= 1
    assert region.check_tx_power(region.default_tx_power_dbm, 0.0) <= region.max_eirp_dbm
