"""SNR spread: a hotspot whose SNR follows its RSSI exactly made both numbers up.

A radio's reported SNR minus (its RSSI minus the noise floor) scatters, report to
report, by its two measurements' errors and roundings. The tests judge sums built
the way `verify_epoch` builds them, for radios made with seeded errors like the
simulator's (RSSI 1 dB error in whole dB, SNR 0.5 dB in quarter dB) and for forgers
that compute the SNR from the RSSI they invent, as the simulator's model-aware
attackers do.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_net.poc import NetworkParams, ParamsError, params_from_dict
from coverage_net.poc._model_fit import chi_square_cdf_ppb
from coverage_net.poc._snr_spread import (
    MAX_DEGREES,
    SATURATION_MARGIN_CENTI_DB,
    SnrLedger,
    assess_snr_spread,
    epoch_snr_sums,
)

PARAMS = NetworkParams()
NOISE_CENTI_DBM = -11_701  # the verifier's noise floor at SF10/125 kHz with its 6 dB NF
KEY = b"h" * 32


def _honest(rng: np.random.Generator, n: int, nf_offset_db: float = 0.7):
    """n reports of a real radio: (key, reported SNR, SNR expected from the reported RSSI)."""
    out = []
    for _ in range(n):
        power = rng.uniform(-128.0, -100.0)
        rssi = round(power + rng.normal(0.0, 1.0))
        snr = round((power - NOISE_CENTI_DBM / 100 - nf_offset_db + rng.normal(0.0, 0.5)) * 4) / 4
        out.append((KEY, round(snr * 100), rssi * 100 - NOISE_CENTI_DBM))
    return out


def _forger(rng: np.random.Generator, n: int, noise_dbm: float = -117.4):
    """n reports whose SNR is computed from the invented RSSI (the simulator's attacker)."""
    out = []
    for _ in range(n):
        rssi = round(rng.uniform(-128.0, -112.0) + rng.normal(0.0, 2.0))
        snr = round((rssi - noise_dbm) * 4) / 4
        out.append((KEY, round(snr * 100), rssi * 100 - NOISE_CENTI_DBM))
    return out


def _sums(reports):
    """`epoch_snr_sums` of ``(key, reported SNR, expected SNR)`` tuples, as the verifier
    passes them: arrays, the key as an index into the registry's keys."""
    keys = sorted({r[0] for r in reports})
    at = {k: i for i, k in enumerate(keys)}
    index = np.array([at[r[0]] for r in reports], dtype=np.int64)
    snr = np.array([r[1] for r in reports], dtype=np.int64)
    expected = np.array([r[2] for r in reports], dtype=np.int64)
    return epoch_snr_sums(keys, index, snr, expected)


def _judge(reports, params=PARAMS):
    ledger = SnrLedger().advance(0, _sums(reports), 48)
    return assess_snr_spread(ledger, params).get(KEY)


def test_an_snr_computed_from_the_rssi_is_flagged_with_its_figures():
    a = _judge(_forger(np.random.default_rng(1), 8))
    assert a.flagged and a.reports == 8
    assert a.spread_centi_db == 0 < a.floor_centi_db < PARAMS.verifier.snr_spread_sigma_centi_db
    assert dict(a.figures) == {"hotspot_snr_spread_centi_db": 0,
                               "hotspot_snr_spread_floor_centi_db": a.floor_centi_db,
                               "hotspot_snr_spread_reports": 8}


def test_real_radios_are_not_flagged():
    """2,000 radios with 6 to 40 reports each (seeded): none flagged, and their spread is
    the two errors' and roundings' (about 1.15 dB), far above the floor."""
    rng = np.random.default_rng(7)
    spreads = []
    for _ in range(2_000):
        a = _judge(_honest(rng, int(rng.integers(6, 41)), nf_offset_db=rng.normal(0, 2)))
        assert not a.flagged, a
        spreads.append(a.spread_centi_db)
    assert 100 <= int(np.median(spreads)) <= 130


def test_too_few_reports_never_flag_and_saturated_ones_do_not_count():
    few = _judge(_forger(np.random.default_rng(2), PARAMS.verifier.snr_spread_min_reports - 1))
    assert not few.flagged and few.floor_centi_db == 0
    ceiling = 1_000 - SATURATION_MARGIN_CENTI_DB
    saturated = [(KEY, 1_000, 1_200)] * 10 + [(KEY, ceiling, ceiling - 30)] * 10
    assert _sums(saturated) == {}
    assert _judge(saturated) is None


def test_the_cut_is_the_chi_square_lower_tail():
    """Flagged exactly when the scatter is below the lower tail of a chi-square with n - 1
    degrees of freedom at the floor sigma: two spreads on either side of the line."""
    v = PARAMS.verifier
    n = 10
    for sd_centi, flagged in ((8, True), (20, False)):
        # n reports alternating +-sd about a mean: sum of squares n sd^2
        reports = [(KEY, 500 + (sd_centi if i % 2 else -sd_centi), 500) for i in range(n)]
        a = _judge(reports)
        scatter_milli = 1_000 * n * sd_centi ** 2 // v.snr_spread_sigma_centi_db ** 2
        below = chi_square_cdf_ppb(n - 1, scatter_milli) < v.snr_spread_tail_ppm * 1_000
        assert a.flagged is flagged is below, (a, scatter_milli)


def test_beyond_the_degrees_cap_the_line_is_lower_never_higher():
    """Past `MAX_DEGREES` the floor is the cap's: a radio at that floor's spread is not
    flagged although the exact quantile would flag it; a forger still is, and so is a
    spread well under the floor."""
    v = PARAMS.verifier
    n = 301
    a = _judge(_forger(np.random.default_rng(5), n))
    assert a.flagged and a.reports == n
    for sd_centi, flagged in ((a.floor_centi_db + 1, False), (a.floor_centi_db // 2, True)):
        reports = [(KEY, 500 + (sd_centi if i % 2 else -sd_centi), 500) for i in range(n - 1)]
        b = _judge([*reports, (KEY, 500, 500)])
        assert b.flagged is flagged, (b, sd_centi)
        if not flagged:  # the exact chi-square with n - 1 degrees would have flagged it
            scatter_milli = 1_000 * (n - 1) * sd_centi ** 2 // v.snr_spread_sigma_centi_db ** 2
            assert chi_square_cdf_ppb(n - 1, scatter_milli) < v.snr_spread_tail_ppm * 1_000
    capped = _judge([(KEY, 500 + (i % 3) * 10, 500) for i in range(MAX_DEGREES + 1)])
    assert capped.floor_centi_db == a.floor_centi_db  # the cap's floor from 65 reports on


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(1, 4)), min_size=1, max_size=25),
       st.integers(1, 12))
def test_the_window_keeps_exactly_its_epochs(steps, window):
    """Advanced epoch by epoch, every hotspot's totals equal a recount over the reports
    of the last `window` epochs, whatever the order of gaps."""
    rng = np.random.default_rng(len(steps) * 31 + window)
    ledger, every, epoch = SnrLedger(), [], 0
    for gap, hotspots in steps:
        epoch += gap
        reports = [(bytes([k]) * 32, int(rng.integers(-500, 900)), int(rng.integers(-500, 900)))
                   for k in range(hotspots) for _ in range(int(rng.integers(1, 4)))]
        every += [(epoch, r) for r in reports]
        ledger = ledger.advance(epoch, _sums(reports), window)
        kept = [r for e, r in every if e > epoch - window]
        assert ledger.totals == _recount(kept)
        assert all(items[0][0] > epoch - window for items in ledger.epochs.values())


def _recount(reports):
    """The sums of unsaturated reports, counted one by one in Python (the reference)."""
    ceiling = 1_000 - SATURATION_MARGIN_CENTI_DB
    out: dict[bytes, tuple[int, int, int]] = {}
    for key, snr, expected in reports:
        if snr < ceiling and expected < ceiling:
            n, s1, s2 = out.get(key, (0, 0, 0))
            out[key] = (n + 1, s1 + snr - expected, s2 + (snr - expected) ** 2)
    return out


def test_the_check_is_in_the_parameters_and_their_digest():
    base = NetworkParams()
    for name, value in (("snr_spread_sigma_centi_db", 60), ("snr_spread_min_reports", 8),
                        ("snr_spread_tail_ppm", 100)):
        other = dataclasses.replace(base, verifier=dataclasses.replace(base.verifier,
                                                                       **{name: value}))
        assert other.digest() != base.digest()
        assert params_from_dict(other.to_dict()).verifier == other.verifier
    with pytest.raises(ParamsError, match="verifier.snr_spread_tail_ppm: must be below 500000"):
        params_from_dict({"verifier": {"snr_spread_tail_ppm": 600_000}})


def test_the_floor_is_below_what_rounding_alone_gives():
    """Whole-dB RSSI against quarter-dB SNR scatter their difference by sqrt(1/12 + 1/192)
    dB even without measurement error: the default floor (0.25 dB) leaves such a radio
    unflagged over a day of reports."""
    quantisation_centi = round(100 * math.sqrt(1 / 12 + 1 / 192))
    assert quantisation_centi == 30
    rng = np.random.default_rng(3)
    reports = []
    for _ in range(64):
        power = rng.uniform(-128.0, -109.0)
        snr = round((power + 117.4) * 4) / 4
        reports.append((KEY, round(snr * 100), round(power) * 100 - NOISE_CENTI_DBM))
    a = _judge(reports)
    assert not a.flagged and 20 <= a.spread_centi_db <= 40, a
