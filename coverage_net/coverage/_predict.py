"""Coverage prediction: received power from each hotspot over the H3 cells around it.

For each hotspot the cells are visited ring by ring outwards from the hotspot's
cell, a batch of rings per kernel call. A ring counts as covered when any of its
cells receives at least the sensitivity of the chosen data rate. The walk stops
once `stop_after_empty_km` of consecutive rings are uncovered (terrain can hide
a valley and reveal the slope behind it, so one empty ring is not the end), or
at `max_range_km`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import h3
import numpy as np
from h3.api import numpy_int as h3n

from coverage_net.radio import (
    ITMModel,
    Model,
    Sites,
    Station,
    Terrain,
    TerrainModel,
    get_region,
    path_loss_db,
    sensitivity_dbm,
)

from ._cellgeom import cell_geometry
from ._errors import CoverageError

# cells per kernel call (whole rings, at least this many): enough to amortise the
# call's set-up, small enough for a smooth progress bar
_BATCH_CELLS = 32768
# farthest look-out from a hotspot; the terrain model takes paths up to 2,000 km
MAX_RANGE_KM = 2000.0

ProgressCallback = Callable[[str, int, int], None]


@dataclass(frozen=True)
class PredictionSettings:
    """What the receiving device is and how far to look.

    `spreading_factor=None` picks the region's slowest 125 kHz uplink data rate
    (the most sensitive); `freq_hz=None` the mean of the region's 125 kHz uplink
    channels. With a terrain model on real DEM tiles, `outside_dem="skip"` leaves
    out cells that no tile covers (their ground would be a made-up sea-level
    plain); `"flat"` predicts them over that flat earth anyway.
    """

    res: int = 8
    spreading_factor: int | None = None
    bandwidth_hz: int = 125_000
    rx_height_m: float = 1.5
    rx_gain_dbi: float = 0.0
    noise_figure_db: float = 6.0
    max_range_km: float = 50.0
    stop_after_empty_km: float = 5.0
    freq_hz: float | None = None
    num_threads: int | None = None
    outside_dem: Literal["skip", "flat"] = "skip"

    def __post_init__(self) -> None:
        if not 0 <= self.res <= 15:
            raise CoverageError(f"res must be an H3 resolution 0..15, got {self.res}")
        for name in ("max_range_km", "stop_after_empty_km", "rx_height_m", "rx_gain_dbi",
                     "noise_figure_db"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise CoverageError(f"{name} must be a finite number, got {value}")
        if not 0 < self.max_range_km <= MAX_RANGE_KM:
            raise CoverageError(
                f"max_range_km must be in (0, {MAX_RANGE_KM:g}], got {self.max_range_km}")
        if not self.stop_after_empty_km > 0:
            raise CoverageError(
                f"stop_after_empty_km must be > 0, got {self.stop_after_empty_km}")
        if not self.rx_height_m >= 0:
            raise CoverageError(f"rx_height_m must be >= 0, got {self.rx_height_m}")
        if self.outside_dem not in ("skip", "flat"):
            raise CoverageError(
                f"outside_dem must be 'skip' or 'flat', got {self.outside_dem!r}")
        if self.freq_hz is not None and not math.isfinite(self.freq_hz):
            raise CoverageError(f"freq_hz must be a finite number, got {self.freq_hz}")


@dataclass(frozen=True)
class HotspotCoverage:
    """The cells one hotspot reaches, with their received power."""

    hotspot: Station
    cells: np.ndarray  # uint64 H3 cells reached
    rssi_dbm: np.ndarray
    sensitivity_dbm: float
    spreading_factor: int
    freq_hz: float
    cells_evaluated: int
    max_range_m: float  # farthest cell reached
    cells_outside_dem: int = 0  # left out: no DEM tile covers them
    hotspot_outside_dem: bool = False


@dataclass(frozen=True)
class CoverageMap:
    """Best received power and number of hotspots per cell, over all hotspots."""

    res: int
    cells: np.ndarray  # uint64, sorted
    best_rssi_dbm: np.ndarray
    hotspot_count: np.ndarray
    best_index: np.ndarray  # the strongest hotspot of each cell: an index into per_hotspot
    per_hotspot: list[HotspotCoverage] = field(default_factory=list)

    @property
    def best_hotspot(self) -> np.ndarray:
        """The strongest hotspot's name per cell (object array)."""
        names = np.array([h.hotspot.name for h in self.per_hotspot] or [""], dtype=object)
        return names[self.best_index]


def _link_budget(hotspot: Station, settings: PredictionSettings) -> tuple[int, float, float]:
    region = get_region(hotspot.region)
    uplink = [ch for ch in region.uplink_channels if ch.bandwidth_hz == settings.bandwidth_hz]
    sf = settings.spreading_factor
    if sf is None:
        candidates = [region.data_rate(i) for ch in uplink for i in ch.data_rates]
        sfs = [dr.spreading_factor for dr in candidates if dr.bandwidth_hz == settings.bandwidth_hz]
        if not sfs:
            raise CoverageError(
                f"region {region.name} has no {settings.bandwidth_hz / 1e3:g} kHz uplink data rate")
        sf = max(sfs)
    freq_hz = settings.freq_hz
    if freq_hz is None:
        freqs = [ch.freq_hz for ch in uplink] or [ch.freq_hz for ch in region.uplink_channels]
        freq_hz = float(np.mean(freqs))
    sens = float(sensitivity_dbm(sf, settings.bandwidth_hz, settings.noise_figure_db))
    return int(sf), float(freq_hz), sens


def _ring_spacing_m(res: int) -> float:
    # centre-to-centre distance of neighbouring cells
    return h3.average_hexagon_edge_length(res, unit="m") * math.sqrt(3.0)


def _ring(center: int, k: int) -> np.ndarray:
    try:
        return np.asarray(h3n.grid_ring(center, k), dtype=np.uint64)
    except h3.H3BaseException:  # pentagon distortion: fall back to disk differences
        inner = h3n.grid_disk(center, k - 1) if k > 0 else np.empty(0, np.uint64)
        disk = np.asarray(h3n.grid_disk(center, k), dtype=np.uint64)
        return disk[~np.isin(disk, inner)]


def cell_sites(cells: np.ndarray) -> Sites:
    """Sites at the centres of H3 cells (uint64), keyed by cell like `Sites.from_cells`,
    with the centres computed for all cells at once."""
    geometry = cell_geometry(cells, vertices=False)
    return Sites(geometry.lat_deg, geometry.lon_deg, geometry.centre_xyz,
                 np.asarray(cells, dtype=np.uint64).copy())


@dataclass(frozen=True)
class _RingBatch:
    """Whole rings k_first..k_next-1 around a hotspot, ready for one kernel call."""

    k_next: int
    ring_of: np.ndarray  # each cell's ring
    rx: Sites
    distance_m: np.ndarray
    inside: np.ndarray  # in range (and on the DEM when cells off it are skipped)
    outside_dem: int  # in range but off the DEM, left out


def _ring_batch(center: int, k: int, k_max: int, tx: Sites, max_range_m: float,
                terrain: Terrain | None) -> _RingBatch:
    """The rings from `k` on, whole, until the batch holds `_BATCH_CELLS` cells."""
    rings: list[np.ndarray] = []
    first = k
    count = 0
    while k <= k_max and count < _BATCH_CELLS:
        rings.append(_ring(center, k))
        count += len(rings[-1])
        k += 1
    flat = np.concatenate(rings)
    ring_of = np.repeat(np.arange(first, k), [len(c) for c in rings])
    rx = cell_sites(flat)
    distance_m = 2.0 * 6371008.8 * np.arcsin(np.minimum(
        0.5 * np.linalg.norm(rx.xyz - tx.xyz, axis=-1), 1.0))
    inside = distance_m <= max_range_m
    outside = 0
    if terrain is not None:
        on_dem = terrain.covers(rx.lat_deg, rx.lon_deg)
        outside = int((inside & ~on_dem).sum())
        inside &= on_dem
    return _RingBatch(k, ring_of, rx, distance_m, inside, outside)


def predict_hotspot(hotspot: Station, model: Model, settings: PredictionSettings,
                    progress: ProgressCallback | None = None) -> HotspotCoverage:
    """Cells within reach of one hotspot and their best-case RSSI.

    The next batch of rings (cells, centres, distances) is prepared on a second
    thread while the kernel runs on the current one; it is thrown away if the walk
    stops.
    """
    sf, freq_hz, sens = _link_budget(hotspot, settings)
    tx = Sites.from_latlon(hotspot.lat_deg, hotspot.lon_deg)
    terrain = model.terrain if isinstance(model, TerrainModel | ITMModel) else None
    dem_only = terrain is not None and terrain.has_data and settings.outside_dem == "skip"
    hotspot_outside = bool(terrain is not None and terrain.has_data
                           and not terrain.covers(hotspot.lat_deg, hotspot.lon_deg))
    outside_count = 0
    center = h3n.latlng_to_cell(hotspot.lat_deg, hotspot.lon_deg, settings.res)
    spacing_m = _ring_spacing_m(settings.res)
    k_max = max(1, math.ceil(settings.max_range_km * 1e3 / spacing_m))
    empty_rings_to_stop = max(1, math.ceil(settings.stop_after_empty_km * 1e3 / spacing_m))
    eirp_dbm = hotspot.eirp_dbm + settings.rx_gain_dbi
    reached_cells: list[np.ndarray] = []
    reached_rssi: list[np.ndarray] = []
    evaluated = 0
    last_covered_ring = 0
    farthest_m = 0.0
    k = 0

    def prepare(k_first: int) -> _RingBatch:
        return _ring_batch(center, k_first, k_max, tx, settings.max_range_km * 1e3,
                           terrain if dem_only else None)

    with ThreadPoolExecutor(1, thread_name_prefix="coverage-rings") as ahead:
        upcoming = ahead.submit(prepare, 0)
        if terrain is not None and terrain.has_data:
            # read the hotspot's DEM tile (the first kernel call needs it) while the
            # first rings are prepared
            terrain.elevation_m([hotspot.lat_deg], [hotspot.lon_deg])
        while k <= k_max and k - last_covered_ring <= empty_rings_to_stop:
            batch = upcoming.result()
            k = batch.k_next
            if k <= k_max:
                upcoming = ahead.submit(prepare, k)
            outside_count += batch.outside_dem
            inside, rx = batch.inside, batch.rx
            # the kernel sees only the cells that count: not ring corners past the
            # range, nor cells off the DEM that would be thrown away
            rssi = np.full(len(inside), -np.inf)
            if inside.any():
                rssi[inside] = eirp_dbm - path_loss_db(
                    tx, rx[inside], model, freq_hz=freq_hz,
                    tx_height_m=hotspot.antenna_height_m, rx_height_m=settings.rx_height_m,
                    num_threads=settings.num_threads)
            ok = inside & (rssi >= sens)
            evaluated += int(inside.sum())
            if ok.any():
                reached_cells.append(rx.key[ok])
                reached_rssi.append(rssi[ok])
                last_covered_ring = int(batch.ring_of[ok].max())
                farthest_m = max(farthest_m, float(batch.distance_m[ok].max()))
            if progress is not None:
                progress(hotspot.name, min(k, k_max + 1), k_max + 1)
        upcoming.cancel()
    cells = np.concatenate(reached_cells) if reached_cells else np.empty(0, np.uint64)
    rssi = np.concatenate(reached_rssi) if reached_rssi else np.empty(0)
    return HotspotCoverage(hotspot, cells, rssi, sens, sf, freq_hz, evaluated, farthest_m,
                           outside_count, hotspot_outside)


def combine(per_hotspot: list[HotspotCoverage], res: int) -> CoverageMap:
    """Merge per-hotspot results: best RSSI, count and best hotspot per cell."""
    if not per_hotspot or not any(len(h.cells) for h in per_hotspot):
        empty = np.empty(0)
        return CoverageMap(res, np.empty(0, np.uint64), empty, np.empty(0, np.int64),
                           np.empty(0, np.intp), list(per_hotspot))
    cells = np.concatenate([h.cells for h in per_hotspot])
    rssi = np.concatenate([h.rssi_dbm for h in per_hotspot])
    owner = np.concatenate([np.full(len(h.cells), i, dtype=np.intp)
                            for i, h in enumerate(per_hotspot)])
    # by cell, strongest first (one hotspot reaches each cell once: by cell alone)
    order = np.argsort(cells) if len(per_hotspot) == 1 else np.lexsort((-rssi, cells))
    cells, rssi, owner = cells[order], rssi[order], owner[order]
    first = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])
    counts = np.diff(np.r_[first, len(cells)])
    return CoverageMap(res, cells[first], rssi[first], counts, owner[first], list(per_hotspot))


def predict_coverage(hotspots: list[Station], model: Model, settings: PredictionSettings,
                     progress: ProgressCallback | None = None) -> CoverageMap:
    """Predict every hotspot and merge the results into one map."""
    return combine([predict_hotspot(h, model, settings, progress) for h in hotspots],
                   settings.res)
