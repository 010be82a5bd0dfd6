"""Path loss in dB: the one boundary to the compiled kernel `coverage_net.radio._pathloss`.

Every function here checks and converts its inputs, lays them out as the kernel
wants them (contiguous float64, endpoint tables plus pair indices), and turns bad
input into a `RadioError` naming what was wrong. The kernel itself never sees a
NaN, an out-of-range frequency or a mismatched array.

Two tiers:

* distance functions (`free_space_loss_db`, `log_distance_loss_db`,
  `hata_loss_db`, `cost231_hata_loss_db`, `two_ray_loss_db`,
  `knife_edge_loss_db`) take scalars or arrays, broadcast, return an array of the
  broadcast shape, and accept ``out=``;
* `path_loss_db(tx, rx, model, ...)` computes the loss for every broadcast pair
  of `Sites` (H3 cells or coordinates), with any model, terrain included.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ._errors import (
    FrequencyRangeError,
    InvalidInputError,
    KernelUnavailableError,
    ShapeMismatchError,
)
from ._models import (
    Cost231Hata,
    FreeSpace,
    Hata,
    ITMModel,
    LogDistance,
    Model,
    TerrainModel,
    TwoRay,
)
from ._sites import Sites
from ._terrain import EARTH_RADIUS_M, Mosaic, bilinear_elevation_m

try:
    from . import _pathloss
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    raise KernelUnavailableError(
        "the compiled path-loss kernel coverage_net.radio._pathloss is not built: "
        f"{exc}. Run 'make install' (or 'pip install -e .') to compile it.") from exc

__all__ = [
    "FREQ_MIN_HZ", "FREQ_MAX_HZ", "MAX_TERRAIN_PATH_M", "TerrainResult",
    "free_space_loss_db", "log_distance_loss_db", "hata_loss_db", "cost231_hata_loss_db",
    "two_ray_loss_db", "knife_edge_loss_db", "path_loss_db", "terrain_path_loss",
    "shadowing_db", "kernel_info",
]

FREQ_MIN_HZ = 30e6
FREQ_MAX_HZ = 3e9
# Paths longer than this are refused by the terrain model: LoRa links are far
# shorter and the profile buffer is bounded.
MAX_TERRAIN_PATH_M = 2_000_000.0
# Largest DEM mosaic one terrain call may assemble (float32 samples, ~400 MB).
MAX_MOSAIC_SAMPLES = 100_000_000
# Profile spacing when neither the model nor a DEM sets a finer one.
DEFAULT_SPACING_M = 100.0
# Below these sizes a call runs on one thread: waking an OpenMP team costs more
# (up to milliseconds on a busy machine) than the work it would share.
PARALLEL_MIN_PAIRS = 32_768
PARALLEL_MIN_PROFILE_SAMPLES = 200_000


def kernel_info() -> dict:
    """What the compiled kernel was built with."""
    return {"openmp": _pathloss.openmp_enabled(), "max_threads": _pathloss.max_threads()}


def _threads(num_threads: int | None, work: int | None = None,
             parallel_min: int = PARALLEL_MIN_PAIRS) -> int:
    """Threads for a call: as asked; by default all cores for large `work`, one for small."""
    if num_threads is None:
        env = os.environ.get("COVERAGE_NET_THREADS")
        num_threads = int(env) if env else (os.cpu_count() or 1)
        if work is not None and work < parallel_min:
            return 1
    if int(num_threads) < 1:
        raise InvalidInputError(f"num_threads must be >= 1, got {num_threads!r}")
    return int(num_threads)


def _finite(name: str, value, *, minimum: float | None = None, strict: bool = False):
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be numeric, got {value!r}") from None
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(np.atleast_1d(bad))[0])
        raise InvalidInputError(
            f"{name} at index {idx} is {np.atleast_1d(arr)[idx]}: must be a finite number")
    if minimum is not None:
        low = arr <= minimum if strict else arr < minimum
        if low.any():
            idx = tuple(int(i) for i in np.argwhere(np.atleast_1d(low))[0])
            rel = ">" if strict else ">="
            raise InvalidInputError(
                f"{name} at index {idx} is {np.atleast_1d(arr)[idx]}: must be {rel} {minimum:g}")
    return arr


def _frequency(freq_hz) -> np.ndarray:
    f = _finite("freq_hz", freq_hz)
    outside = (f < FREQ_MIN_HZ) | (f > FREQ_MAX_HZ)
    if outside.any():
        idx = tuple(int(i) for i in np.argwhere(np.atleast_1d(outside))[0])
        raise FrequencyRangeError(
            f"freq_hz at index {idx} is {np.atleast_1d(f)[idx]:g} Hz: the models cover "
            f"{FREQ_MIN_HZ / 1e6:g} MHz to {FREQ_MAX_HZ / 1e9:g} GHz (give the frequency in Hz)")
    return f


def _broadcast_shape(**arrays) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(*(np.shape(a) for a in arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{k} {np.shape(v)}" for k, v in arrays.items())
        raise ShapeMismatchError(
            f"array arguments do not broadcast together: {shapes}") from None


def _lane(arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Contiguous float64 of length 1 (a single value for all) or prod(shape)."""
    if arr.size == 1:
        return np.ascontiguousarray(arr, dtype=np.float64).reshape(1)
    return np.ascontiguousarray(np.broadcast_to(arr, shape), dtype=np.float64).reshape(-1)


def _output(out, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(result array of `shape`, contiguous 1-D view or scratch the kernel writes)."""
    if out is None:
        result = np.empty(shape, dtype=np.float64)
        return result, result.reshape(-1)
    if not isinstance(out, np.ndarray) or out.dtype != np.float64 or out.shape != shape:
        got = (f"{type(out).__name__} {getattr(out, 'dtype', '')} "
               f"{getattr(out, 'shape', '')}").strip()
        raise ShapeMismatchError(f"out must be a float64 ndarray of shape {shape}, got {got}")
    if out.flags.c_contiguous:
        return out, out.reshape(-1)
    return out, np.empty(out.size, dtype=np.float64)


def _finish(result: np.ndarray, flat: np.ndarray) -> np.ndarray:
    if not np.shares_memory(result, flat):
        result[...] = flat.reshape(result.shape)
    return result


def _distance_model(code: int, params, distance_m, freq_hz, tx_height_m, rx_height_m,
                    *, positive_heights: bool, out, num_threads) -> np.ndarray:
    d = _finite("distance_m", distance_m, minimum=0.0)
    f = _frequency(freq_hz)
    ht = _finite("tx_height_m", tx_height_m, minimum=0.0, strict=positive_heights)
    hr = _finite("rx_height_m", rx_height_m, minimum=0.0, strict=positive_heights)
    shape = _broadcast_shape(distance_m=d, freq_hz=f, tx_height_m=ht, rx_height_m=hr)
    result, flat = _output(out, shape)
    if flat.size:
        _pathloss.closed_form_distance(
            code, _lane(d, shape), _lane(f, shape), _lane(ht, shape), _lane(hr, shape),
            np.asarray(params, dtype=np.float64), flat, _threads(num_threads, flat.size))
    return _finish(result, flat)


def free_space_loss_db(distance_m, freq_hz, *, out=None, num_threads=None) -> np.ndarray:
    """Free-space path loss (ITU-R P.525) in dB.

    Parameters
    ----------
    distance_m : array_like
        Distance in metres (>= 0; distances under 1 m count as 1 m).
    freq_hz : array_like
        Frequency in Hz, 30 MHz to 3 GHz.
    out : ndarray, optional
        float64 array of the broadcast shape to write into.

    Returns
    -------
    ndarray
        Loss in dB, of the broadcast shape of the inputs.

    Examples
    --------
    >>> round(float(free_space_loss_db(1000.0, 915e6)), 3)
    91.676
    >>> free_space_loss_db([1e3, 1e4], 868e6).round(3)
    array([ 91.218, 111.218])
    """
    return _distance_model(0, FreeSpace().params(), distance_m, freq_hz, 0.0, 0.0,
                           positive_heights=False, out=out, num_threads=num_threads)


def log_distance_loss_db(distance_m, *, d0_m=40.0, pl0_db=127.41, gamma=2.08, out=None,
                         num_threads=None) -> np.ndarray:
    """Mean log-distance loss PL(d0) + 10 gamma log10(d / d0) in dB.

    Defaults are LoRaSim's published constants. Shadowing needs link identities
    and is therefore applied by `path_loss_db` with a `LogDistance(sigma_db=...)`.

    Examples
    --------
    >>> round(float(log_distance_loss_db(40.0)), 2)
    127.41
    >>> round(float(log_distance_loss_db(400.0)), 2)
    148.21
    """
    params = LogDistance(d0_m, pl0_db, gamma).params()
    return _distance_model(1, params, distance_m, 868e6, 0.0, 0.0, positive_heights=False,
                           out=out, num_threads=num_threads)


def hata_loss_db(distance_m, freq_hz, tx_height_m, rx_height_m, environment="urban", *,
                 out=None, num_threads=None) -> np.ndarray:
    """Okumura-Hata loss in dB (small/medium city mobile antenna correction).

    Parameters
    ----------
    distance_m : array_like
        Ground distance in metres (the model is fitted for 1-20 km).
    freq_hz : array_like
        Frequency in Hz (fitted for 150-1500 MHz).
    tx_height_m, rx_height_m : array_like
        Base-station and mobile antenna heights above ground, > 0.
    environment : {"urban", "suburban", "open"}

    Examples
    --------
    >>> round(float(hata_loss_db(2000.0, 869e6, 30.0, 1.0)), 2)
    137.88
    >>> round(float(hata_loss_db(2000.0, 869e6, 30.0, 1.0, "suburban")), 2)
    128.03
    """
    model = Hata(environment)
    return _distance_model(model.code, model.params(), distance_m, freq_hz, tx_height_m,
                           rx_height_m, positive_heights=True, out=out,
                           num_threads=num_threads)


def cost231_hata_loss_db(distance_m, freq_hz, tx_height_m, rx_height_m, metropolitan=False, *,
                         out=None, num_threads=None) -> np.ndarray:
    """COST-231 Hata loss in dB (C_m = 3 dB when `metropolitan`).

    Examples
    --------
    >>> round(float(cost231_hata_loss_db(2000.0, 1800e6, 30.0, 1.5)), 2)
    146.8
    """
    model = Cost231Hata(metropolitan)
    return _distance_model(model.code, model.params(), distance_m, freq_hz, tx_height_m,
                           rx_height_m, positive_heights=True, out=out,
                           num_threads=num_threads)


def two_ray_loss_db(distance_m, freq_hz, tx_height_m, rx_height_m, *, out=None,
                    num_threads=None) -> np.ndarray:
    """Two-ray ground-reflection loss in dB: free space before the crossover distance
    4 pi ht hr / lambda, 40 log10(d) - 20 log10(ht hr) beyond it.

    Examples
    --------
    >>> round(float(two_ray_loss_db(10_000.0, 915e6, 30.0, 2.0)), 2)
    124.44
    """
    model = TwoRay()
    return _distance_model(model.code, model.params(), distance_m, freq_hz, tx_height_m,
                           rx_height_m, positive_heights=True, out=out,
                           num_threads=num_threads)


def knife_edge_loss_db(nu, *, out=None) -> np.ndarray:
    """ITU-R P.526 knife-edge loss J(nu) in dB (0 for nu <= -0.78).

    Examples
    --------
    >>> knife_edge_loss_db([0.0, 1.0, 2.0]).round(2)
    array([ 6.03, 13.93, 19.04])
    """
    v = _finite("nu", nu)
    result, flat = _output(out, v.shape)
    if flat.size:
        _pathloss.knife_edge(np.ascontiguousarray(v, dtype=np.float64).reshape(-1), flat)
    return _finish(result, flat)


def shadowing_db(tx: Sites, rx: Sites, sigma_db: float, seed: int = 0) -> np.ndarray:
    """The log-normal shadowing term that `LogDistance(sigma_db=...)` adds per link.

    Symmetric (A->B equals B->A) and reproducible for a given seed.
    """
    sigma = float(_finite("sigma_db", sigma_db, minimum=0.0))
    shape = _broadcast_shape(tx=np.empty(tx.shape), rx=np.empty(rx.shape))
    ka = np.ascontiguousarray(np.broadcast_to(tx.key, shape)).reshape(-1)
    kb = np.ascontiguousarray(np.broadcast_to(rx.key, shape)).reshape(-1)
    z = np.empty(ka.size)
    _pathloss.shadowing_normal(ka, kb, _seed(seed), z)
    return sigma * z.reshape(shape)


def _seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed) % 2**64


@dataclass(frozen=True)
class _Links:
    """Endpoint tables plus pair indices: what every link kernel takes."""

    shape: tuple[int, ...]
    tx: Sites
    rx: Sites
    tx_height_m: np.ndarray  # per tx endpoint, flat
    rx_height_m: np.ndarray
    itx: np.ndarray  # per pair, intp
    irx: np.ndarray
    freq_hz: np.ndarray  # length 1 or per pair


def _site_heights(label: str, sites: Sites, height_m, positive: bool) -> np.ndarray:
    """Antenna heights checked and broadcast to the sites' shape."""
    name = f"{label}_height_m"
    h = _finite(name, height_m, minimum=0.0, strict=positive)
    try:
        return np.broadcast_to(h, sites.shape)
    except ValueError:
        raise ShapeMismatchError(
            f"{name} of shape {h.shape} does not broadcast to the {label} sites' "
            f"shape {sites.shape}") from None


def _links(tx: Sites, rx: Sites, freq_hz, tx_height_m, rx_height_m, positive: bool) -> _Links:
    for label, s in (("tx", tx), ("rx", rx)):
        if not isinstance(s, Sites):
            raise InvalidInputError(
                f"{label} must be Sites (Sites.from_cells(...) or Sites.from_latlon(...)), "
                f"got {type(s).__name__}")
    f = _frequency(freq_hz)
    ht_sites = _site_heights("tx", tx, tx_height_m, positive)
    hr_sites = _site_heights("rx", rx, rx_height_m, positive)
    shape = _broadcast_shape(tx=ht_sites, rx=hr_sites, freq_hz=f)
    itx = np.ascontiguousarray(
        np.broadcast_to(np.arange(tx.size, dtype=np.intp).reshape(tx.shape), shape)).reshape(-1)
    irx = np.ascontiguousarray(
        np.broadcast_to(np.arange(rx.size, dtype=np.intp).reshape(rx.shape), shape)).reshape(-1)
    return _Links(shape, tx, rx,
                  np.ascontiguousarray(ht_sites, dtype=np.float64).reshape(-1),
                  np.ascontiguousarray(hr_sites, dtype=np.float64).reshape(-1),
                  itx, irx, _lane(f, shape))


def _xyz(s: Sites) -> np.ndarray:
    return np.ascontiguousarray(s.xyz.reshape(-1, 3), dtype=np.float64)


def _keys(s: Sites) -> np.ndarray:
    return np.ascontiguousarray(s.key.reshape(-1), dtype=np.uint64)


def path_loss_db(tx: Sites, rx: Sites, model: Model, *, freq_hz, tx_height_m=10.0,
                 rx_height_m=1.5, seed: int = 0, out=None, num_threads=None) -> np.ndarray:
    """Path loss in dB from every transmitter to every receiver it broadcasts against.

    Parameters
    ----------
    tx, rx : Sites
        Endpoints; their shapes broadcast (``tx[:, None]``, ``rx[None, :]`` for
        all pairs). Each endpoint is converted once however many pairs use it.
    model : FreeSpace, LogDistance, Hata, Cost231Hata, TwoRay, TerrainModel or ITMModel
    freq_hz : array_like
        Carrier frequency in Hz (30 MHz - 3 GHz), broadcasting against the pairs.
    tx_height_m, rx_height_m : array_like
        Antenna heights above ground in metres (>= 0; > 0 for Hata, COST-231 and
        two-ray; 0.5-3000 m for ITM); each must broadcast to its own sites' shape.
    seed : int
        Selects the shadowing draws of a `LogDistance` with ``sigma_db > 0``.
    out : ndarray, optional
        float64 array of the broadcast shape to write into.
    num_threads : int, optional
        OpenMP threads (default: all cores, or $COVERAGE_NET_THREADS).

    Examples
    --------
    >>> from coverage_net.radio import FreeSpace
    >>> a = Sites.from_latlon(44.0, -71.5)
    >>> b = Sites.from_latlon(44.0 + 1000 / 111_195.08, -71.5)
    >>> round(float(path_loss_db(a, b, FreeSpace(), freq_hz=915e6, tx_height_m=2.0,
    ...                          rx_height_m=2.0)), 3)
    91.676
    """
    if isinstance(model, TerrainModel):
        return terrain_path_loss(tx, rx, model, freq_hz=freq_hz, tx_height_m=tx_height_m,
                                 rx_height_m=rx_height_m, out=out,
                                 num_threads=num_threads).loss_db
    if isinstance(model, ITMModel):
        from .longley_rice import itm_path_loss  # it builds on this module's helpers

        return itm_path_loss(tx, rx, model, freq_hz=freq_hz, tx_height_m=tx_height_m,
                             rx_height_m=rx_height_m, out=out, num_threads=num_threads).loss_db
    if not isinstance(model, (FreeSpace, LogDistance, Hata, Cost231Hata, TwoRay)):
        raise InvalidInputError(f"model must be a path-loss model object, got {model!r}")
    links = _links(tx, rx, freq_hz, tx_height_m, rx_height_m, model.needs_positive_heights)
    result, flat = _output(out, links.shape)
    if flat.size:
        _pathloss.closed_form_links(
            model.code, _xyz(tx), links.tx_height_m, _keys(tx), _xyz(rx), links.rx_height_m,
            _keys(rx), links.itx, links.irx, links.freq_hz,
            np.asarray(model.params(), dtype=np.float64), _seed(seed), flat,
            _threads(num_threads, flat.size))
    return _finish(result, flat)


@dataclass(frozen=True)
class TerrainResult:
    """Output of the terrain model: total loss, its diffraction part, profile sizes."""

    loss_db: np.ndarray
    diffraction_db: np.ndarray
    samples: np.ndarray  # profile samples per pair (int64)


def _terrain_mosaic(model: TerrainModel | ITMModel, tx: Sites, rx: Sites) -> Mosaic:
    lat = np.concatenate([tx.lat_deg.ravel(), rx.lat_deg.ravel()])
    lon = np.concatenate([tx.lon_deg.ravel(), rx.lon_deg.ravel()])
    lat_min, lat_max = float(lat.min()), float(lat.max())
    lon_min, lon_max = float(lon.min()), float(lon.max())
    # A great circle bows poleward of the box of its end points; 0.05 * span^2
    # degrees bounds that bow for spans up to a few degrees at any latitude.
    span = max(lat_max - lat_min, lon_max - lon_min)
    margin = 0.01 + 0.05 * span * span
    mosaic = model.terrain.mosaic(max(lat_min - margin, -90.0), min(lat_max + margin, 90.0),
                                  max(lon_min - margin, -180.0), min(lon_max + margin, 180.0),
                                  margin_deg=0.0)
    if mosaic.elevation_m.size > MAX_MOSAIC_SAMPLES:
        raise InvalidInputError(
            f"the terrain model would need a DEM mosaic of {mosaic.elevation_m.shape} samples "
            f"for a box of {lat_max - lat_min:.2f} x {lon_max - lon_min:.2f} degrees; "
            "split the call into regional batches")
    return mosaic


def endpoint_ground_m(mosaic: Mosaic, sites: Sites) -> np.ndarray:
    """Ground height under each endpoint, from its exact coordinates (flat, contiguous)."""
    return np.ascontiguousarray(
        bilinear_elevation_m(mosaic, sites.lat_deg.reshape(-1), sites.lon_deg.reshape(-1)),
        dtype=np.float64)


def _profile_plan(model: TerrainModel | ITMModel, links: _Links, tx_xyz: np.ndarray,
                  rx_xyz: np.ndarray, num_threads) -> tuple[Mosaic, float, int]:
    """What a model that walks DEM profiles needs for a call: the paths checked for
    length, the mosaic, the profile spacing and the thread count."""
    dist_m = EARTH_RADIUS_M * 2.0 * np.arcsin(np.minimum(
        0.5 * np.linalg.norm(tx_xyz[links.itx] - rx_xyz[links.irx], axis=-1), 1.0))
    if dist_m.max() > MAX_TERRAIN_PATH_M:
        worst = int(np.argmax(dist_m))
        raise InvalidInputError(
            f"pair {np.unravel_index(worst, links.shape)} is {dist_m[worst] / 1e3:.0f} km long; "
            f"the {model.name} model takes paths up to {MAX_TERRAIN_PATH_M / 1e3:.0f} km")
    mosaic = _terrain_mosaic(model, links.tx, links.rx)
    dem_spacing_m = mosaic.step_deg * (np.pi / 180.0) * EARTH_RADIUS_M
    spacing_m = model.sample_spacing_m or min(dem_spacing_m, DEFAULT_SPACING_M)
    est_samples = int(np.sum(np.ceil(dist_m / spacing_m) + 1))
    return mosaic, spacing_m, _threads(num_threads, est_samples, PARALLEL_MIN_PROFILE_SAMPLES)


def terrain_path_loss(tx: Sites, rx: Sites, model: TerrainModel, *, freq_hz,
                      tx_height_m=10.0, rx_height_m=1.5, out=None,
                      num_threads=None) -> TerrainResult:
    """The terrain model with its diffraction part and profile sample counts.

    Same arguments as `path_loss_db`; see `TerrainModel` for the physics.
    """
    if not isinstance(model, TerrainModel):
        raise InvalidInputError(f"model must be a TerrainModel, got {model!r}")
    links = _links(tx, rx, freq_hz, tx_height_m, rx_height_m, False)
    result, flat = _output(out, links.shape)
    diffraction = np.zeros(links.shape)
    samples = np.zeros(links.shape, dtype=np.int64)
    if flat.size == 0:
        return TerrainResult(result, diffraction, samples)
    tx_xyz, rx_xyz = _xyz(tx), _xyz(rx)
    mosaic, spacing_m, threads = _profile_plan(model, links, tx_xyz, rx_xyz, num_threads)
    work = np.empty((threads, int(model.max_samples)))
    _pathloss.terrain_links(
        tx_xyz, links.tx_height_m, endpoint_ground_m(mosaic, tx),
        rx_xyz, links.rx_height_m, endpoint_ground_m(mosaic, rx), links.itx, links.irx,
        links.freq_hz, np.ascontiguousarray(mosaic.elevation_m, dtype=np.float32),
        float(mosaic.lat_north_deg), float(mosaic.lon_west_deg), float(mosaic.step_deg),
        float(spacing_m), int(model.max_samples), float(model.k_factor), model.depth,
        flat, diffraction.reshape(-1), samples.reshape(-1), work, threads)
    return TerrainResult(_finish(result, flat), diffraction, samples)
