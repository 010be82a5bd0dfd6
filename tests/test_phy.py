"""Tests of coverage_net.radio._phy: LoRa airtime, SNR floors, noise and sensitivity."""

import doctest

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coverage_net.radio import _phy
from coverage_net.radio._errors import InvalidInputError, ShapeMismatchError
from coverage_net.radio._phy import (
    BANDWIDTHS_HZ,
    LORASIM_SENSITIVITY_DBM,
    SNR_FLOOR_DB,
    SX1276_SENSITIVITY_DBM,
    sensitivity_dbm,
    snr_floor_db,
    symbol_time_s,
    thermal_noise_floor_dbm,
    time_on_air_s,
)


def test_doctests_pass():
    result = doctest.testmod(_phy)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize(
    ("kwargs", "expected_s"),
    [
        # Semtech AN1200.13 / LoRa calculator reference points.
        (dict(payload_bytes=20, spreading_factor=7), 0.056576),
        (dict(payload_bytes=51, spreading_factor=12), 2.465792),
        # Worked by hand from the same formula.
        (dict(payload_bytes=20, spreading_factor=7, explicit_header=False, crc=False), 0.046336),
        (dict(payload_bytes=20, spreading_factor=7, coding_rate=8), 0.07808),
        (dict(payload_bytes=0, spreading_factor=7, preamble_symbols=0), 0.017664),
    ],
)
def test_time_on_air_reference_values(kwargs, expected_s):
    assert float(time_on_air_s(**kwargs)) == pytest.approx(expected_s, abs=1e-6)


@pytest.mark.parametrize(
    ("spreading_factor", "bandwidth_hz", "ldro_on"),
    [(11, 125_000, True), (12, 125_000, True), (12, 250_000, True),
     (10, 125_000, False), (12, 500_000, False), (7, 125_000, False)],
)
def test_low_data_rate_optimize_is_automatic(spreading_factor, bandwidth_hz, ldro_on):
    auto = time_on_air_s(51, spreading_factor, bandwidth_hz)
    forced = time_on_air_s(51, spreading_factor, bandwidth_hz, low_data_rate_optimize=ldro_on)
    other = time_on_air_s(51, spreading_factor, bandwidth_hz, low_data_rate_optimize=not ldro_on)
    assert auto == forced
    assert auto != other  # 51 bytes is long enough for DE to change the symbol count


def test_symbol_time():
    np.testing.assert_allclose(symbol_time_s([7, 12], [125_000, 500_000]), [1.024e-3, 8.192e-3])


def test_broadcasting_shapes_and_values():
    payload = np.array([[0], [20], [255]])
    sf = np.arange(7, 13).reshape(1, 6)
    toa = time_on_air_s(payload, sf)
    assert toa.shape == (3, 6)
    for i, j in np.ndindex(toa.shape):
        assert toa[i, j] == time_on_air_s(int(payload[i, 0]), int(sf[0, j]))
    assert snr_floor_db(sf).shape == (1, 6)
    assert sensitivity_dbm(sf, np.array([[125_000], [500_000]])).shape == (2, 6)
    assert thermal_noise_floor_dbm([125_000, 250_000], [[3.0], [6.0]]).shape == (2, 2)


def test_scalar_input_gives_zero_d_array():
    for result in (time_on_air_s(20, 7), symbol_time_s(7), snr_floor_db(7),
                   thermal_noise_floor_dbm(125_000), sensitivity_dbm(7)):
        assert isinstance(result, np.ndarray)
        assert result.shape == ()


def test_out_argument_is_filled_and_returned():
    out = np.empty(3)
    result = time_on_air_s([10, 20, 30], 9, out=out)
    assert result is out
    np.testing.assert_array_equal(out, time_on_air_s([10, 20, 30], 9))
    with pytest.raises(ShapeMismatchError, match="out must be an ndarray of shape"):
        time_on_air_s([10, 20, 30], 9, out=np.empty(2))
    with pytest.raises(InvalidInputError, match="floating dtype"):
        snr_floor_db([7, 8], out=np.empty(2, dtype=int))


_settings = dict(
    bandwidth_hz=st.sampled_from(BANDWIDTHS_HZ),
    coding_rate=st.integers(5, 8),
    preamble_symbols=st.integers(0, 64),
    explicit_header=st.booleans(),
    crc=st.booleans(),
)


@given(
    payloads=st.lists(st.integers(0, 255), min_size=2, max_size=2).map(sorted),
    spreading_factor=st.integers(7, 12),
    **_settings,
)
def test_time_on_air_non_decreasing_in_payload(payloads, spreading_factor, **settings):
    short, long_ = (time_on_air_s(p, spreading_factor, **settings) for p in payloads)
    assert short <= long_


@given(
    payload_bytes=st.integers(0, 255),
    sfs=st.lists(st.integers(7, 12), min_size=2, max_size=2).map(sorted),
    **_settings,
)
def test_time_on_air_non_decreasing_in_spreading_factor(payload_bytes, sfs, **settings):
    low, high = (time_on_air_s(payload_bytes, sf, **settings) for sf in sfs)
    assert low <= high


def test_snr_floor_table():
    assert dict(SNR_FLOOR_DB) == {7: -7.5, 8: -10.0, 9: -12.5, 10: -15.0, 11: -17.5, 12: -20.0}
    np.testing.assert_array_equal(snr_floor_db(list(SNR_FLOOR_DB)), list(SNR_FLOOR_DB.values()))


def test_thermal_noise_floor():
    # Exact k gives -117.006 dBm; the often-quoted -117.03 uses the rounded -174 dBm/Hz.
    assert float(thermal_noise_floor_dbm(125_000)) == pytest.approx(-117.006, abs=0.01)
    assert float(thermal_noise_floor_dbm(1.0, 0.0)) == pytest.approx(-173.975, abs=0.01)
    # Doubling the bandwidth adds 3 dB.
    diff = thermal_noise_floor_dbm(250_000) - thermal_noise_floor_dbm(125_000)
    assert float(diff) == pytest.approx(10 * np.log10(2))


def test_sensitivity_is_noise_floor_plus_snr_floor():
    sf = np.arange(7, 13)
    expected = thermal_noise_floor_dbm(125_000, 4.0) + snr_floor_db(sf)
    np.testing.assert_allclose(sensitivity_dbm(sf, 125_000, 4.0), expected)
    assert float(sensitivity_dbm(12)) == pytest.approx(-137.01, abs=0.01)


def test_sensitivity_tables():
    for table in (SX1276_SENSITIVITY_DBM, LORASIM_SENSITIVITY_DBM):
        assert set(table) == {(sf, bw) for sf in range(7, 13) for bw in (125_000, 250_000, 500_000)}
        with pytest.raises(TypeError):
            table[(7, 125_000)] = 0.0
    assert SX1276_SENSITIVITY_DBM[(7, 125_000)] == -123.0
    assert SX1276_SENSITIVITY_DBM[(11, 125_000)] == -134.5
    assert SX1276_SENSITIVITY_DBM[(12, 500_000)] == -130.0
    assert LORASIM_SENSITIVITY_DBM[(7, 500_000)] == -120.75
    assert LORASIM_SENSITIVITY_DBM[(12, 125_000)] == -133.25
    # The textbook estimate is never more pessimistic than the datasheet.
    for (sf, bw), dbm in SX1276_SENSITIVITY_DBM.items():
        assert dbm - 2.5 <= float(sensitivity_dbm(sf, bw)) <= dbm


@pytest.mark.parametrize(
    ("call", "fragments"),
    [
        (lambda: time_on_air_s(-1, 7), ["payload_bytes=-1.0", "0 to 255"]),
        (lambda: time_on_air_s(256, 7), ["payload_bytes=256.0", "0 to 255"]),
        (lambda: time_on_air_s(20.5, 7), ["payload_bytes=20.5", "whole numbers"]),
        (lambda: time_on_air_s(20, 6), ["spreading_factor=6.0", "7 to 12"]),
        (lambda: time_on_air_s(20, [7, 13]), ["spreading_factor has 13.0 at index (1,)"]),
        (lambda: time_on_air_s(20, 7, 100_000), ["bandwidth_hz=100000.0", "125000"]),
        (lambda: time_on_air_s(20, 7, coding_rate=4), ["coding_rate=4.0", "4/5 to 4/8"]),
        (lambda: time_on_air_s(20, 7, coding_rate=9), ["coding_rate=9.0"]),
        (lambda: time_on_air_s([1, np.nan], 7), ["payload_bytes has nan at index (1,)", "NaN"]),
        (lambda: time_on_air_s(20, 7, [[125e3, np.nan]]), ["bandwidth_hz has nan at index (0, 1)"]),
        (lambda: time_on_air_s(20, 7, crc=2), ["crc=2.0", "True/False"]),
        (lambda: time_on_air_s("many", 7), ["payload_bytes must be numeric", "'many'"]),
        (lambda: snr_floor_db(np.nan), ["spreading_factor=nan"]),
        (lambda: sensitivity_dbm(7, 125_000, np.nan), ["noise_figure_db=nan"]),
        (lambda: thermal_noise_floor_dbm(0), ["bandwidth_hz=0.0", "positive"]),
        (lambda: thermal_noise_floor_dbm(125e3, -1), ["noise_figure_db=-1.0"]),
        (lambda: thermal_noise_floor_dbm(125e3, 6, np.inf), ["temperature_k=inf", "infinity"]),
    ],
)
def test_invalid_input_names_argument_and_value(call, fragments):
    with pytest.raises(InvalidInputError) as info:
        call()
    assert isinstance(info.value, ValueError)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_shapes_that_do_not_broadcast():
    with pytest.raises(ShapeMismatchError, match=r"payload_bytes\(2,\), spreading_factor\(3,\)"):
        time_on_air_s([10, 20], [7, 8, 9])


def test_noise_floor_matches_the_quoted_reference_within_005_db():
    # The project's reference figure (-174 dBm/Hz + 10 log10(125 kHz) + 6 dB) is -117.03 dBm.
    assert float(thermal_noise_floor_dbm(125_000, noise_figure_db=6.0)) == pytest.approx(
        -117.03, abs=0.05)
