"""SNR spread: a real radio's SNR does not follow its RSSI to the quarter dB.

A radio measures a packet's RSSI and its SNR with two different estimators (the
power detector over the packet; the demodulator's estimate of signal over noise),
each with its own error, and reports them rounded on two different grids (an
SX127x: whole dB and quarter dB). So from report to report the difference

    d = reported SNR - (reported RSSI - the noise floor the verifier assumes)

scatters about the radio's own offset (its real noise figure against the one
assumed) by at least ``snr_spread_sigma_centi_db``. A hotspot that makes its
numbers up and computes the SNR from the RSSI it invented (an inventor, or a
model-aware spoofer or relay: what the verifier's own SNR check asks for) reports a
``d`` that hardly moves at all.

Per hotspot, over its witness reports of the window that the physics judged and
whose SNR is not at the modem's ceiling (there ``d`` says nothing):

* ``n``, ``sum d`` and ``sum d^2`` (centi-dB);
* under honesty ``(n sum d^2 - (sum d)^2) / (n sigma^2)`` is at least a chi-square
  with ``n - 1`` degrees of freedom, so a hotspot is flagged when it falls below the
  chi-square's lower ``snr_spread_tail_ppm`` quantile (the same fixed-point quantile
  as model fit's, `chi_square_lower_quantile_milli`). A busy hotspot files hundreds
  of reports a day, and the exact quantile costs milliseconds at hundreds of degrees
  of freedom, once per new count: beyond `MAX_DEGREES` the line is drawn on the
  sample variance at `MAX_DEGREES`' quantile per degree, which lies below the exact
  one (the quantile per degree rises with the degrees), so it flags less, never more.

What it does not catch: a forger that adds noise of its own to the SNR it files. The
check raises the cost of forging; it proves nothing about one that pays it (model
fit and reciprocity still judge its RSSI).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from coverage_net.radio import MAX_REPORTED_SNR_DB

from ._model_fit import chi_square_lower_quantile_milli
from ._params import NetworkParams

__all__ = ["SnrLedger", "SnrSpreadAssessment", "assess_snr_spread", "epoch_snr_sums"]

SATURATION_MARGIN_CENTI_DB = 100
"""A report whose SNR, reported or expected from its RSSI, is within this of the
modem's ceiling is not counted (a saturated SNR no longer follows anything)."""
_CEILING_CENTI_DB = round(MAX_REPORTED_SNR_DB * 100) - SATURATION_MARGIN_CENTI_DB

MAX_DEGREES = 64
"""Degrees of freedom beyond which the floor stops rising (see the module doc)."""

_Sums = tuple[int, int, int]  # (reports, sum d, sum d^2), centi-dB


def epoch_snr_sums(keys: Sequence[bytes], witness_index: np.ndarray,
                   snr_centi_db: np.ndarray, expected_centi_db: np.ndarray
                   ) -> dict[bytes, _Sums]:
    """Per hotspot, the sums over one epoch's witness reports, given as arrays: the
    witness's index in `keys` (the registry's), its reported SNR and the SNR expected
    from its RSSI (centi-dB integers); saturated reports left out. Integer sums."""
    ceiling = _CEILING_CENTI_DB
    keep = (snr_centi_db < ceiling) & (expected_centi_db < ceiling)
    index = np.asarray(witness_index, dtype=np.int64)[keep]
    if not len(index):
        return {}
    d = (np.asarray(snr_centi_db, dtype=np.int64) - expected_centi_db)[keep]
    hotspots, at = np.unique(index, return_inverse=True)
    n = np.bincount(at, minlength=len(hotspots))
    s1 = np.zeros(len(hotspots), dtype=np.int64)
    s2 = np.zeros(len(hotspots), dtype=np.int64)
    np.add.at(s1, at, d)
    np.add.at(s2, at, d * d)
    return {keys[h]: (c, a, b) for h, c, a, b in zip(
        hotspots.tolist(), n.tolist(), s1.tolist(), s2.tolist(), strict=True)}


@dataclass(frozen=True)
class SnrLedger:
    """Per hotspot over the window: the sums of each epoch it filed in, and their total.
    Part of the state `verify_epoch` carries; never mutated."""

    epochs: Mapping[bytes, tuple[tuple[int, int, int, int], ...]] = field(default_factory=dict)
    """Per hotspot: (epoch, reports, sum d, sum d^2) for each epoch of the window."""
    totals: Mapping[bytes, _Sums] = field(default_factory=dict)
    oldest_epoch: int | None = None

    def advance(self, epoch: int, sums: Mapping[bytes, _Sums], window_epochs: int) -> SnrLedger:
        """The ledger of the window ending at `epoch`, `sums` being that epoch's."""
        low = epoch - window_epochs + 1
        epochs = dict(self.epochs)
        totals = dict(self.totals)
        if self.oldest_epoch is not None and self.oldest_epoch < low:
            for key, items in self.epochs.items():
                if items[0][0] >= low:
                    continue
                kept = tuple(i for i in items if i[0] >= low)
                if kept:
                    epochs[key] = kept
                    totals[key] = _summed(kept)
                else:
                    del epochs[key], totals[key]
        for key, (n, s1, s2) in sorted(sums.items()):
            epochs[key] = (*epochs.get(key, ()), (epoch, n, s1, s2))
            t = totals.get(key, (0, 0, 0))
            totals[key] = (t[0] + n, t[1] + s1, t[2] + s2)
        oldest = min((items[0][0] for items in epochs.values()), default=None)
        return SnrLedger(epochs, totals, oldest)


def _summed(items: tuple[tuple[int, int, int, int], ...]) -> _Sums:
    return (sum(i[1] for i in items), sum(i[2] for i in items), sum(i[3] for i in items))


@dataclass(frozen=True)
class SnrSpreadAssessment:
    """A hotspot's SNR spread over the window's unsaturated witness reports."""

    reports: int
    spread_centi_db: int
    """Standard deviation of SNR minus (RSSI minus noise floor), rounded down."""
    floor_centi_db: int
    """The least standard deviation an honest radio's as many reports reach but with
    ``snr_spread_tail_ppm`` chance (0: too few reports to judge)."""
    flagged: bool

    @functools.cached_property
    def figures(self) -> tuple[tuple[str, int], ...]:
        """The figures a verdict carries, sorted by name."""
        return (("hotspot_snr_spread_centi_db", self.spread_centi_db),
                ("hotspot_snr_spread_floor_centi_db", self.floor_centi_db),
                ("hotspot_snr_spread_reports", self.reports))


@functools.lru_cache(maxsize=1 << 14)
def _judged(n: int, s1: int, s2: int, sigma_centi_db: int, min_reports: int,
            tail_ppm: int) -> SnrSpreadAssessment:
    """One hotspot's assessment from its sums, on plain integers, memoised."""
    scatter = n * s2 - s1 * s1  # n times the sum of squared deviations from the mean
    spread = math.isqrt(scatter // (n * (n - 1))) if n > 1 else 0
    if n < max(min_reports, 2):
        return SnrSpreadAssessment(n, spread, 0, False)
    sigma2 = sigma_centi_db ** 2
    dof = min(n - 1, MAX_DEGREES)
    quantile = chi_square_lower_quantile_milli(dof, tail_ppm)
    floor = math.isqrt(quantile * sigma2 // (1_000 * dof))
    # the sample variance scatter / (n (n - 1)) below floor^2 = quantile sigma^2 / dof
    # (for n - 1 <= MAX_DEGREES: scatter / n below the quantile times sigma^2)
    flagged = scatter * 1_000 * dof < quantile * sigma2 * n * (n - 1)
    return SnrSpreadAssessment(n, spread, floor, flagged)


def assess_snr_spread(ledger: SnrLedger, params: NetworkParams
                      ) -> dict[bytes, SnrSpreadAssessment]:
    """SNR-spread figures of every hotspot with an unsaturated witness report in the
    window; each is judged on its own reports alone."""
    v = params.verifier
    cut = (v.snr_spread_sigma_centi_db, v.snr_spread_min_reports, v.snr_spread_tail_ppm)
    return {key: _judged(*sums, *cut) for key, sums in ledger.totals.items()}
