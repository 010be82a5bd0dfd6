"""Model calibration from witness data: how far the propagation model is from what valid
witnesses measured, area by area, and the corrections that close the gap.

Every valid witness verdict states what the witness measured and what the model
predicted for the path (``measured_rssi_centi_dbm``, ``modelled_rssi_centi_dbm``). Their
difference is the model's excess loss on that path: shadowing and fading, which no map
can know, plus what the model systematically misses, above all clutter (buildings,
forest) that a bare-earth terrain model cannot see and that changes from place to place.

Attribution: clutter sits around the radios, so a path is charged to the H3 res-6
areas of *both* its ends (the witness's and the beaconer's announced cells): excess
loss = global offset + offset(area of one end) + offset(area of the other). Charging
only the receiver would make the fit depend on who beaconed and who listened, while
the air is reciprocal; with both ends a beacon heard both ways tells the same story.

Fit: least squares with a ridge on the area offsets (the global offset is free), its
weight chosen by empirical Bayes (EM for the random-effects model: area offsets drawn
from normal(0, tau), path noise normal(0, sigma); weight = sigma^2 / tau^2). An area
with few witnesses is shrunk towards 0 (the network-wide figure), one with many keeps
what its witnesses say. `sigma` after correction is the shadowing the verifier and the
prediction should still expect.

Everything a `Calibration` holds is an integer (centi-dB, counts), written as JSON with
a format version; the fit itself uses floats (a calibration is a planning input, agreed
on as a file, not recomputed by every validator).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import cbor2
import numpy as np

from coverage_net.messages import BeaconReport, WitnessReport

from ._calibration import Calibration, CalibrationError, cell_parents
from ._proven import VerdictRowLike

__all__ = ["AREA_RES", "AreaFigures", "CalibrationReport", "CalibrationSamples",
           "ResidualFigures", "calibration_report", "calibration_samples", "fit_calibration",
           "holdout_mask"]

AREA_RES = 6
"""H3 resolution of the calibration's areas (about 36 km² each)."""
_FIGURES = ("measured_rssi_centi_dbm", "modelled_rssi_centi_dbm")


@dataclass(frozen=True)
class CalibrationSamples:
    """Valid witnesses in columns: the areas of both ends and the two RSSI figures."""

    report_ids: tuple[bytes, ...]
    witness_areas: np.ndarray  # uint64 H3 at AREA_RES
    beaconer_areas: np.ndarray  # uint64 H3 at AREA_RES
    measured_rssi_centi_dbm: np.ndarray  # int64
    modelled_rssi_centi_dbm: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.report_ids)

    @property
    def excess_loss_centi_db(self) -> np.ndarray:
        """Modelled minus measured: the loss the model did not predict (int64)."""
        return self.modelled_rssi_centi_dbm - self.measured_rssi_centi_dbm

    def subset(self, keep: np.ndarray) -> CalibrationSamples:
        """The samples where `keep` (bool) is true."""
        ids = tuple(r for r, k in zip(self.report_ids, keep.tolist(), strict=True) if k)
        return CalibrationSamples(ids, self.witness_areas[keep], self.beaconer_areas[keep],
                                  self.measured_rssi_centi_dbm[keep],
                                  self.modelled_rssi_centi_dbm[keep])


def holdout_mask(report_ids: Iterable[bytes], percent: int) -> np.ndarray:
    """Which reports are held out: a hash of the report id below `percent` of 100, so the
    split is the same on every machine and every run, and independent of the order."""
    if not 0 <= percent < 100:
        raise CalibrationError(f"holdout percent must be in 0..99, got {percent}")
    return np.fromiter((int.from_bytes(hashlib.sha256(b"holdout" + r).digest()[:8], "big")
                        % 100 < percent for r in report_ids), dtype=bool)


def calibration_samples(rows: Iterable[VerdictRowLike], hotspot_cells: Mapping[bytes, int]
                        ) -> CalibrationSamples:
    """The valid witnesses among `rows` whose beacon verdict (same challenge) is valid too
    and whose two hotspots are placed by `hotspot_cells` (announced cells, res >= 6)."""
    beaconer: dict[bytes, bytes] = {}
    witnesses: list[tuple[bytes, bytes, bytes, int, int]] = []
    for row in rows:
        if row.valid and row.report_type == BeaconReport.TYPE:
            beaconer[row.challenge_id] = row.hotspot_key
        elif row.valid and row.report_type == WitnessReport.TYPE:
            figures = cbor2.loads(row.body).get("figures", {})
            measured, modelled = (figures.get(name) for name in _FIGURES)
            if type(measured) is not int or type(modelled) is not int:
                raise CalibrationError(
                    f"a valid witness verdict of epoch {row.epoch} lacks an integer "
                    f"{' or '.join(_FIGURES)} figure; the store holds another verdict format")
            witnesses.append((row.report_id, row.challenge_id, row.hotspot_key, measured,
                              modelled))
    kept = [(rid, hotspot_cells[w], hotspot_cells[b], me, mo)
            for rid, ch, w, me, mo in witnesses
            if (b := beaconer.get(ch)) is not None and w in hotspot_cells
            and b in hotspot_cells]
    ids = tuple(k[0] for k in kept)
    w_cells, b_cells, measured, modelled = (
        np.asarray([k[i] for k in kept], dtype=dtype).reshape(len(kept))
        for i, dtype in ((1, np.uint64), (2, np.uint64), (3, np.int64), (4, np.int64)))
    return CalibrationSamples(ids, cell_parents(w_cells, AREA_RES),
                              cell_parents(b_cells, AREA_RES), measured, modelled)


def fit_calibration(samples: CalibrationSamples, *, max_iterations: int = 200) -> Calibration:
    """Fit the global and per-area offsets and sigma (see the module doc) to `samples`.

    The normal matrix is dense (areas x areas): seconds up to a few thousand areas, a
    network the size of a region; a continent would want a sparse solver."""
    n = len(samples)
    if n < 2:
        raise CalibrationError(f"calibration needs at least 2 valid witnesses with announced "
                               f"hotspots at both ends, got {n}")
    y_db = samples.excess_loss_centi_db / 100.0
    areas, inverse = np.unique(np.concatenate([samples.witness_areas, samples.beaconer_areas]),
                               return_inverse=True)
    m = len(areas)
    ia, ib = inverse[:n], inverse[n:]
    xtx = np.zeros((m + 1, m + 1))  # normal matrix of (global, offsets)
    xtx[0, 0] = n
    xtx[0, 1:] = xtx[1:, 0] = np.bincount(ia, minlength=m) + np.bincount(ib, minlength=m)
    for a, b in ((ia, ia), (ib, ib), (ia, ib), (ib, ia)):
        np.add.at(xtx, (a + 1, b + 1), 1.0)
    xty = np.concatenate([[y_db.sum()], np.bincount(ia, y_db, m) + np.bincount(ib, y_db, m)])
    sigma2 = tau2 = max(float(y_db.var()), 1e-4) / 2
    weight = sigma2 / tau2
    for _ in range(max_iterations):  # EM: expected offsets, then the two variances
        normal = xtx.copy()
        normal[1:, 1:] += weight * np.eye(m)
        inverse_normal = np.linalg.inv(normal)
        beta = inverse_normal @ xty
        residual = y_db - beta[0] - beta[1:][ia] - beta[1:][ib]
        posterior = sigma2 * inverse_normal
        sigma2 = max(float(residual @ residual + np.sum(posterior * xtx)) / n, 1e-4)
        tau2 = max(float(beta[1:] @ beta[1:] + np.trace(posterior[1:, 1:])) / m, 1e-6)
        previous, weight = weight, sigma2 / tau2
        if abs(weight - previous) <= 1e-6 * previous:
            break
    touching = (np.bincount(ia, minlength=m) + np.bincount(ib, minlength=m)
                - np.bincount(ia[ia == ib], minlength=m))
    return Calibration(
        res=AREA_RES, global_offset_centi_db=round(float(beta[0]) * 100), areas=areas,
        offset_centi_db=np.round(beta[1:] * 100).astype(np.int64),
        samples=touching.astype(np.int64), sigma_centi_db=round(float(np.sqrt(sigma2)) * 100),
        sigma_before_centi_db=round(float(y_db.std(ddof=1)) * 100), samples_total=n,
        prior_weight_centi=round(weight * 100))


@dataclass(frozen=True)
class ResidualFigures:
    """Measured minus modelled RSSI over some witnesses, before and after correction."""

    samples: int
    bias_before_centi_db: int
    rms_before_centi_db: int
    bias_after_centi_db: int
    rms_after_centi_db: int

    @property
    def rms_reduction(self) -> float:
        """Share of the RMS residual the calibration removed (0 with no samples)."""
        return 1.0 - self.rms_after_centi_db / self.rms_before_centi_db \
            if self.rms_before_centi_db else 0.0


@dataclass(frozen=True)
class AreaFigures:
    """One area: its fitted offset and the residuals of the witnesses with an end there."""

    area: int
    offset_centi_db: int
    training_samples: int
    residuals: ResidualFigures


@dataclass(frozen=True)
class CalibrationReport:
    """How far the model is from the witnesses, before and after `calibration`.

    `areas` are judged on the held-out witnesses when there are any (what the fit did
    not see), else on the training witnesses; `areas_judged_on` says which."""

    calibration: Calibration
    training: ResidualFigures
    held_out: ResidualFigures
    areas: tuple[AreaFigures, ...]
    areas_judged_on: str


def _before_after(calibration: Calibration, samples: CalibrationSamples
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Measured minus modelled RSSI (int64 centi-dB), before and after correction."""
    before = samples.measured_rssi_centi_dbm - samples.modelled_rssi_centi_dbm
    return before, before + calibration.path_correction_centi_db(samples.witness_areas,
                                                                 samples.beaconer_areas)


def _figures(count, sum_before, sq_before, sum_after, sq_after) -> ResidualFigures:
    if not count:
        return ResidualFigures(0, 0, 0, 0, 0)
    return ResidualFigures(int(count), round(sum_before / count),
                           round(float(np.sqrt(sq_before / count))), round(sum_after / count),
                           round(float(np.sqrt(sq_after / count))))


def _overall(calibration: Calibration, samples: CalibrationSamples) -> ResidualFigures:
    before, after = (x.astype(float) for x in _before_after(calibration, samples))
    return _figures(len(before), before.sum(), before @ before, after.sum(), after @ after)


def _per_area(calibration: Calibration, samples: CalibrationSamples
              ) -> list[ResidualFigures]:
    """Per calibrated area, the figures of the samples with an end there (once each)."""
    before, after = (x.astype(float) for x in _before_after(calibration, samples))
    other = samples.beaconer_areas != samples.witness_areas
    ends = np.concatenate([samples.witness_areas, samples.beaconer_areas[other]])
    before, after = np.concatenate([before, before[other]]), np.concatenate([after, after[other]])
    m = len(calibration.areas)
    at = np.searchsorted(calibration.areas, ends)
    known = at < m
    known[known] = calibration.areas[at[known]] == ends[known]
    at, before, after = at[known], before[known], after[known]
    columns = [np.bincount(at, w, minlength=m)
               for w in (None, before, before**2, after, after**2)]
    return [_figures(*row) for row in zip(*(c.tolist() for c in columns), strict=True)]


def calibration_report(calibration: Calibration, training: CalibrationSamples,
                       held_out: CalibrationSamples) -> CalibrationReport:
    """Residual bias and RMS before and after, overall and per area (see the class)."""
    judged, on = (held_out, "held-out") if len(held_out) else (training, "training")
    areas = tuple(AreaFigures(a, o, n, f) for a, o, n, f in zip(
        calibration.areas.tolist(), calibration.offset_centi_db.tolist(),
        calibration.samples.tolist(), _per_area(calibration, judged), strict=True))
    return CalibrationReport(calibration, _overall(calibration, training),
                             _overall(calibration, held_out), areas, on)
