"""A fitted calibration of the propagation model, its file, and prediction corrected by it.

A `Calibration` (made by `coverage_net.coverage.fit_calibration` from witness data)
holds integers only: a global offset and one offset per H3 res-6 area, in centi-dB of
*extra path loss* (positive: the model is too optimistic there), with the training
samples behind each, and the shadowing sigma left after correction. A path's
correction is the global offset plus the offsets of the areas at both its ends; an
area the calibration never saw contributes 0.

`calibrated_hotspot` corrects a prediction without touching the predictor: it asks
`predict_hotspot` for cells down to the sensitivity minus the largest gain a
correction can bring (a receiver gain raised by that much), then applies each cell's
correction and keeps the cells that still reach the sensitivity.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import h3
import numpy as np

from coverage_net.radio import Model, Sites, Station

from ._errors import CoverageError
from ._predict import HotspotCoverage, PredictionSettings, ProgressCallback, predict_hotspot

__all__ = ["CALIBRATION_FORMAT", "CALIBRATION_VERSION", "Calibration", "CalibrationError",
           "calibrated_hotspot", "cell_parents", "load_calibration", "save_calibration"]

CALIBRATION_FORMAT = "coverage-net-calibration"
CALIBRATION_VERSION = 1


class CalibrationError(CoverageError):
    """A calibration file that cannot be read, or a calibration that does not fit."""


def cell_parents(cells, res: int) -> np.ndarray:
    """Parents at `res` of H3 cells (uint64, each at `res` or finer), by bit arithmetic:
    the resolution field set to `res` and the digits below it set to 7 (unused)."""
    cells = np.asarray(cells, dtype=np.uint64)
    res_field = np.uint64(0xF) << np.uint64(52)
    cell_res = ((cells & res_field) >> np.uint64(52)).astype(np.int64)
    if cells.size and int(cell_res.min()) < res:
        raise CalibrationError(f"an H3 cell is coarser than resolution {res}")
    unused = np.uint64((1 << (3 * (15 - res))) - 1)
    return (cells & ~res_field) | (np.uint64(res) << np.uint64(52)) | unused


@dataclass(frozen=True)
class Calibration:
    """Corrections of the propagation model (see the module doc); integers only."""

    res: int
    global_offset_centi_db: int
    areas: np.ndarray  # uint64 H3 at `res`, sorted
    offset_centi_db: np.ndarray  # int64 extra path loss at one end in the area
    samples: np.ndarray  # int64: training witnesses with an end in the area
    sigma_centi_db: int
    """Shadowing sigma of a path after correction."""
    sigma_before_centi_db: int
    """Standard deviation of the model's excess loss before correction."""
    samples_total: int
    prior_weight_centi: int
    """The ridge weight (sigma^2 / tau^2, x100): how many witnesses an area needs before
    its own figure outweighs the network-wide 0."""

    def __post_init__(self) -> None:
        n = len(self.areas)
        if len(self.offset_centi_db) != n or len(self.samples) != n:
            raise CalibrationError("a calibration needs one offset and one count per area")

    def offset_at(self, cells) -> np.ndarray:
        """Offsets (int64 centi-dB) of the areas of H3 `cells` (res >= `res`); 0 where the
        calibration has no figure."""
        cells = np.asarray(cells, dtype=np.uint64)
        if not len(self.areas) or not cells.size:
            return np.zeros(cells.shape, dtype=np.int64)
        areas = cell_parents(cells, self.res)
        at = np.minimum(np.searchsorted(self.areas, areas), len(self.areas) - 1)
        return np.where(self.areas[at] == areas, self.offset_centi_db[at], 0).astype(np.int64)

    def path_correction_centi_db(self, a_cells, b_cells) -> np.ndarray:
        """Extra loss (int64 centi-dB) of paths between `a_cells` and `b_cells`."""
        return self.global_offset_centi_db + self.offset_at(a_cells) + self.offset_at(b_cells)

    def to_json(self) -> dict:
        return {"format": CALIBRATION_FORMAT, "version": CALIBRATION_VERSION, "res": self.res,
                "global_offset_centi_db": self.global_offset_centi_db,
                "sigma_centi_db": self.sigma_centi_db,
                "sigma_before_centi_db": self.sigma_before_centi_db,
                "samples_total": self.samples_total,
                "prior_weight_centi": self.prior_weight_centi,
                "areas": [{"h3": h3.int_to_str(a), "offset_centi_db": o, "samples": n}
                          for a, o, n in zip(self.areas.tolist(), self.offset_centi_db.tolist(),
                                             self.samples.tolist(), strict=True)]}


def save_calibration(calibration: Calibration, path: str | Path) -> Path:
    """Write `calibration` as JSON (areas as H3 strings); returns the path."""
    path = Path(path)
    path.write_text(json.dumps(calibration.to_json(), indent=1) + "\n")
    return path


def load_calibration(path: str | Path) -> Calibration:
    """Read a file `save_calibration` wrote; `CalibrationError` says what is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise CalibrationError(f"{path}: cannot read the calibration: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"{path}: not JSON ({exc}); give a file written by "
                               "`coverage-net map calibrate`") from None
    if not isinstance(data, dict) or data.get("format") != CALIBRATION_FORMAT:
        raise CalibrationError(f"{path}: not a calibration (no \"format\": "
                               f"\"{CALIBRATION_FORMAT}\"); write one with "
                               "`coverage-net map calibrate`")
    if data.get("version") != CALIBRATION_VERSION:
        raise CalibrationError(f"{path}: calibration format version {data.get('version')!r}; "
                               f"this coverage-net reads version {CALIBRATION_VERSION}")
    try:
        areas = sorted((h3.str_to_int(_cell(a["h3"])), _int(a["offset_centi_db"]),
                        _int(a["samples"])) for a in data["areas"])
        fields = {k: _int(data[k]) for k in (
            "res", "global_offset_centi_db", "sigma_centi_db", "sigma_before_centi_db",
            "samples_total", "prior_weight_centi")}
    except (KeyError, TypeError, ValueError) as exc:
        raise CalibrationError(f"{path}: a malformed calibration ({type(exc).__name__}: "
                               f"{exc})") from None
    if not all(h3.get_resolution(h3.int_to_str(a)) == fields["res"] for a, _, _ in areas):
        raise CalibrationError(f"{path}: an area is not at the calibration's res "
                               f"{fields['res']}")
    return Calibration(areas=np.asarray([a for a, _, _ in areas], dtype=np.uint64),
                       offset_centi_db=np.asarray([o for _, o, _ in areas], dtype=np.int64),
                       samples=np.asarray([n for _, _, n in areas], dtype=np.int64), **fields)


def _int(value: object) -> int:
    if type(value) is not int:
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _cell(value: object) -> str:
    if not isinstance(value, str) or not h3.is_valid_cell(value):
        raise ValueError(f"{value!r} is not an H3 cell")
    return value


def calibrated_hotspot(hotspot: Station, model: Model, settings: PredictionSettings,
                       calibration: Calibration,
                       progress: ProgressCallback | None = None) -> HotspotCoverage:
    """`predict_hotspot` with each cell's path loss corrected by `calibration` (the
    hotspot's area, the cell's area, the global offset); see the module doc."""
    area = h3.str_to_int(h3.latlng_to_cell(hotspot.lat_deg, hotspot.lon_deg, calibration.res))
    at_hotspot = int(calibration.global_offset_centi_db + calibration.offset_at([area])[0])
    lowest = int(calibration.offset_centi_db.min(initial=0))
    headroom_db = max(0, -(at_hotspot + min(lowest, 0))) / 100
    wide = dataclasses.replace(settings, rx_gain_dbi=settings.rx_gain_dbi + headroom_db)
    raw = predict_hotspot(hotspot, model, wide, progress)
    rssi_dbm = raw.rssi_dbm - headroom_db - (at_hotspot + calibration.offset_at(raw.cells)) / 100
    keep = rssi_dbm >= raw.sensitivity_dbm
    cells = raw.cells[keep]
    farthest_m = 0.0
    if len(cells):
        chord = np.linalg.norm(Sites.from_cells(cells).xyz - Sites.from_latlon(
            hotspot.lat_deg, hotspot.lon_deg).xyz, axis=-1)
        farthest_m = float(2.0 * 6371008.8 * np.arcsin(np.minimum(0.5 * chord.max(), 1.0)))
    return dataclasses.replace(raw, cells=cells, rssi_dbm=rssi_dbm[keep],
                               max_range_m=farthest_m)
