"""Model fit: no honest hotspot's reports sit closer to the model than real paths do.

The propagation model is wrong on every real link by that link's persistent
shadowing (a ridge the DEM smooths away, a tree line, a wall) and by the antennas'
gain errors, which no model knows: over the hotspot's links, the mean residual
(reported minus modelled RSSI, averaged over the window's hits) scatters about
zero by at least ``model_fit_sigma_centi_db``. A hotspot that files numbers made
with the model itself instead of heard (an inventor, or a model-aware spoofer or
relay) reports mean residuals near zero on link after link.

Per hotspot, over the links on which it heard in the window:

* ``S``, the sum over its links of the squared mean residual (centi-dB squared);
* under honesty ``S / sigma^2`` is at least a chi-square with one degree of
  freedom per link (more when the model is worse than ``sigma`` on it), so a
  hotspot is flagged when ``S / sigma^2`` falls below the chi-square's lower
  ``model_fit_tail_ppm`` quantile for its number of links.

The lower tail alone decides: a liar on the *other* end of a link (a spoofed
beaconer) only makes the residuals larger, so no one can make an honest hotspot
fit too well. The quantiles come from the regularised lower incomplete gamma
function evaluated in fixed-point integers (`chi_square_cdf_ppb`), so every
machine draws the same line.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass

from ._params import NetworkParams

__all__ = ["ModelFitAssessment", "assess_model_fit", "chi_square_cdf_ppb",
           "chi_square_lower_quantile_milli"]

_SCALE = 10 ** 40
_SQRT_PI = 17_724_538_509_055_160_272_981_674_833_411_451_827_975
"""sqrt(pi) x 10^40, rounded down (from a 60-digit decimal)."""
_PPB = 1_000_000_000


@functools.lru_cache(maxsize=4096)
def chi_square_cdf_ppb(dof: int, x_milli: int) -> int:
    """P(chi-square with `dof` degrees of freedom <= x_milli / 1000), in ppb, rounded down.

    The regularised lower gamma ``P(a, y) = y^a e^-y / Gamma(a + 1) *
    sum_n y^n / ((a + 1) ... (a + n))`` with ``a = dof / 2``, ``y = x / 2``, every
    quantity a fixed-point integer scaled by 10^40: no float, no libm.
    """
    if dof < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {dof}")
    if x_milli <= 0:
        return 0
    # e^y = sum y^i / i!, y = x_milli / 2000
    exp_y = term = _SCALE
    i = 0
    while term:
        i += 1
        term = term * x_milli // (2_000 * i)
        exp_y += term
    # y^a: (sqrt y)^dof
    root_y = math.isqrt(x_milli * _SCALE * _SCALE // 2_000)
    y_pow = _SCALE
    for _ in range(dof):
        y_pow = y_pow * root_y // _SCALE
    # the series: term_n = term_(n-1) * y / (a + n) = term * x_milli / (1000 (dof + 2n))
    series = term = _SCALE
    n = 0
    while term:
        n += 1
        term = term * x_milli // (1_000 * (dof + 2 * n))
        series += term
    # Gamma(a + 1): (dof/2)! for even dof, dof!! sqrt(pi) / 2^((dof+1)/2) for odd
    if dof % 2 == 0:
        gamma = math.factorial(dof // 2) * _SCALE
    else:
        double_factorial = math.prod(range(dof, 0, -2))
        gamma = double_factorial * _SQRT_PI >> ((dof + 1) // 2)
    p = y_pow * series // exp_y * _SCALE // gamma
    return min(p * _PPB // _SCALE, _PPB)


@functools.lru_cache(maxsize=1024)
def chi_square_lower_quantile_milli(dof: int, tail_ppm: int) -> int:
    """The smallest x (in thousandths) with P(chi-square_dof <= x) >= tail_ppm / 10^6."""
    if not 0 < tail_ppm < 500_000:
        raise ValueError(f"a lower tail in ppm must be in (0, 500000), got {tail_ppm}")
    target = tail_ppm * 1_000
    low, high = 0, 1_000 * dof  # the median of chi-square_dof is below dof
    while low < high:
        mid = (low + high) // 2
        if chi_square_cdf_ppb(dof, mid) >= target:
            high = mid
        else:
            low = mid + 1
    return low


@dataclass(frozen=True)
class ModelFitAssessment:
    """A hotspot's fit to the model over the window's links on which it heard."""

    links: int
    rms_centi_db: int
    """Root mean square of its links' mean residuals."""
    floor_centi_db: int
    """The least root mean square an honest hotspot's as many links reach but with
    ``model_fit_tail_ppm`` chance (0: too few links to judge)."""
    flagged: bool

    @functools.cached_property
    def figures(self) -> tuple[tuple[str, int], ...]:
        """The figures a verdict carries, sorted by name."""
        return (("hotspot_model_fit_floor_centi_db", self.floor_centi_db),
                ("hotspot_model_fit_links", self.links),
                ("hotspot_model_fit_rms_centi_db", self.rms_centi_db))


def judge_model_fit(fit_sum_centi_db2: int, links: int,
                    params: NetworkParams) -> ModelFitAssessment:
    """One hotspot's assessment from ``S`` (centi-dB^2) over `links` links."""
    v = params.verifier
    return _judged(fit_sum_centi_db2, links, v.model_fit_sigma_centi_db, v.model_fit_min_links,
                   v.model_fit_tail_ppm)


@functools.lru_cache(maxsize=1 << 14)
def _judged(fit_sum_centi_db2: int, links: int, sigma_centi_db: int, min_links: int,
            tail_ppm: int) -> ModelFitAssessment:
    """`judge_model_fit` on plain integers, memoised: a hotspot whose links did not change
    this epoch gets the same (immutable) assessment, its figures already built."""
    rms = math.isqrt(fit_sum_centi_db2 // links) if links else 0
    if links < min_links:
        return ModelFitAssessment(links, rms, 0, False)
    sigma2 = sigma_centi_db ** 2
    quantile = chi_square_lower_quantile_milli(links, tail_ppm)
    floor = math.isqrt(quantile * sigma2 // (1_000 * links))
    return ModelFitAssessment(links, rms, floor, fit_sum_centi_db2 * 1_000 < quantile * sigma2)


def assess_model_fit(fit_totals: Mapping[bytes, tuple[int, int]],
                     params: NetworkParams) -> dict[bytes, ModelFitAssessment]:
    """Model-fit figures of every hotspot heard on a link in the window.

    `fit_totals` maps each hotspot to (``S`` in centi-dB^2, links), what
    `LinkHistory.fit_totals` keeps. Each hotspot is judged on its own reports alone.
    """
    v = params.verifier
    cut = (v.model_fit_sigma_centi_db, v.model_fit_min_links, v.model_fit_tail_ppm)
    return {key: _judged(s, n, *cut) for key, (s, n) in fit_totals.items()}
