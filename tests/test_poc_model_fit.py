"""Model fit (coverage_net.poc._model_fit): a hotspot whose reports sit closer to the model
than real paths do is flagged, in integers, and no honest-looking hotspot is."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_net.poc import LinkHistory, NetworkParams, ParamsError, params_from_dict
from coverage_net.poc._model_fit import (
    assess_model_fit,
    chi_square_cdf_ppb,
    chi_square_lower_quantile_milli,
    judge_model_fit,
)

PARAMS = NetworkParams()


def link_fit_term(hits: int, residual_sum_centi_db: int) -> int:
    """A link's squared mean residual in centi-dB^2 (rounded down): its term of ``S``,
    written out here as the reference the link kernel's sums are recounted against."""
    return residual_sum_centi_db * residual_sum_centi_db // (hits * hits)

SIGMA_DB = PARAMS.verifier.model_fit_sigma_centi_db / 100


def _float_cdf(dof: int, x: float) -> float:
    """P(chi-square_dof <= x) by the same series in floats (the reference)."""
    a, y = dof / 2, x / 2
    term = total = 1.0 / a
    n = 0
    while term > 1e-17 * total:
        n += 1
        term *= y / (a + n)
        total += term
    return math.exp(-y + a * math.log(y) - math.lgamma(a)) * total


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 120), st.integers(1, 400_000))
def test_the_integer_cdf_matches_the_float_series(dof, x_milli):
    got = chi_square_cdf_ppb(dof, x_milli)
    want = _float_cdf(dof, x_milli / 1000) * 1e9
    assert 0 <= got <= 1_000_000_000
    assert abs(got - want) <= 2 + 1e-9 * want


def test_the_quantiles_are_the_textbook_ones_and_exact_in_integers():
    # chi-square 0.1 % lower quantiles from tables: 3 dof 0.0243, 10 dof 1.479, 20 dof 5.921
    assert chi_square_lower_quantile_milli(3, 1_000) == 25
    assert chi_square_lower_quantile_milli(10, 1_000) == 1_479
    assert chi_square_lower_quantile_milli(20, 1_000) == 5_922
    for dof in (1, 2, 7, 64, 300):
        q = chi_square_lower_quantile_milli(dof, 1_000)
        assert chi_square_cdf_ppb(dof, q) >= 1_000_000 > chi_square_cdf_ppb(dof, q - 1)
    with pytest.raises(ValueError, match="lower tail"):
        chi_square_lower_quantile_milli(3, 500_000)
    with pytest.raises(ValueError, match="degrees of freedom"):
        chi_square_cdf_ppb(0, 10)


def _judge(residuals_db: list[float]):
    """A hotspot whose links' mean residuals are `residuals_db`."""
    s = sum(link_fit_term(1, round(r * 100)) for r in residuals_db)
    return judge_model_fit(s, len(residuals_db), PARAMS)


def test_reports_made_with_the_model_are_flagged_with_the_figures():
    fit = _judge([0.5, -1.0, 0.0, 1.0, -0.5, 0.0, 1.5, -1.0])
    assert fit.flagged
    assert fit.rms_centi_db == 84  # sqrt(5.75 / 8) dB
    # an honest hotspot's 8 links reach sigma * sqrt(q / 8) but with 0.1 % chance
    q = chi_square_lower_quantile_milli(8, PARAMS.verifier.model_fit_tail_ppm)
    assert fit.floor_centi_db == math.isqrt(q * 350 ** 2 // 8_000) == 114
    assert dict(fit.figures) == {"hotspot_model_fit_floor_centi_db": 114,
                                 "hotspot_model_fit_links": 8,
                                 "hotspot_model_fit_rms_centi_db": 84}


def test_too_few_links_are_never_judged():
    fit = _judge([0.0, 0.0])
    assert not fit.flagged and fit.floor_centi_db == 0 and fit.links == 2


def test_larger_residuals_never_raise_a_flag():
    """Only the lower tail decides: a lying beaconer on the other end of a link (which
    makes the honest receiver's residual large) cannot frame it."""
    base = [0.5, -1.0, 0.0, 1.0, -0.5]
    assert _judge(base).flagged
    assert not _judge([*base[:-1], 9.0]).flagged
    assert not _judge([4.0, -5.0, 3.0, 6.0, -2.0]).flagged


def test_honest_scatter_is_flagged_at_most_at_the_tail_rate():
    """20,000 seeded hotspots of 3 to 40 links whose mean residuals scatter as the
    model's error does (sigma itself): the share flagged stays near 0.1 %; hotspots
    reporting numbers within 1 dB of the model on 15 links are flagged (99 %+)."""
    rng = np.random.default_rng(5)
    flagged = 0
    for _ in range(20_000):
        k = int(rng.integers(3, 41))
        flagged += _judge(list(rng.normal(0.0, SIGMA_DB, k))).flagged
    assert flagged <= 40  # 0.2 %, twice the tail; its expectation is 20
    made = [_judge(list(rng.normal(0.0, 1.0, 15))).flagged for _ in range(1_000)]
    assert sum(made) >= 990


def test_assess_model_fit_judges_every_hotspot_alone():
    out = assess_model_fit({b"a" * 32: (8 * 100 ** 2, 8), b"b" * 32: (8 * 500 ** 2, 8),
                            b"c" * 32: (0, 2)}, PARAMS)
    assert [out[k].flagged for k in (b"a" * 32, b"b" * 32, b"c" * 32)] == [True, False, False]


def test_the_parameters_refuse_a_tail_that_is_no_tail():
    with pytest.raises(ParamsError, match="verifier.model_fit_tail_ppm: must be below 500000"):
        params_from_dict({"verifier": {"model_fit_tail_ppm": 600_000}})
    with pytest.raises(ParamsError, match="verifier.model_fit_sigma_centi_db: must be at least 1"):
        params_from_dict({"verifier": {"model_fit_sigma_centi_db": 0}})


_KEYS = [bytes([i]) * 32 for i in range(5)]


def _fit_totals_from_links(history: LinkHistory) -> dict[bytes, tuple[int, int]]:
    out: dict[bytes, tuple[int, int]] = {}
    for receivers in history.links.values():
        for r, state in receivers.items():
            if state[2]:
                s, n = out.get(r, (0, 0))
                out[r] = (s + link_fit_term(state[2], state[3]), n + 1)
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4), st.booleans(),
                                   st.integers(-2_000, 2_000)), max_size=12), max_size=10))
def test_fit_totals_follow_the_window_as_links_come_and_expire(epochs):
    """`LinkHistory.fit_totals`, kept incrementally by `advance`, always equals the sums
    over the window's links recomputed from scratch."""
    history = LinkHistory()
    for epoch, observations in enumerate(epochs):
        obs = [(epoch, _KEYS[b], _KEYS[r], 500_000, heard, True, residual if heard else 0, 300)
               for b, r, heard, residual in observations if b != r]
        history = history.advance(epoch, obs, 3, (100_000, 900_000))
        assert dict(history.fit_totals) == _fit_totals_from_links(history)
