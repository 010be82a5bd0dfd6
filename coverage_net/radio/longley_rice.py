"""The Longley-Rice Irregular Terrain Model: the one boundary to the compiled kernel
`coverage_net.radio._itm`.

`ITMModel` is selected like any model (`path_loss_db`, `model_from_name("itm")`,
``--model itm``); this module checks and lays out the inputs, turns the model's
percentages into ITM's standard normal deviates, and calls the kernel. The
physics is NTIA's ITM 1.2.2 in point-to-point mode, described in
`coverage_net.radio._itm_reference` (the per-path oracle the kernel is tested
against).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._errors import InvalidInputError
from ._itm_climate import qerfi
from ._models import ITMModel
from ._sites import Sites
from ._terrain import Terrain
from .propagation import (
    PARALLEL_MIN_PROFILE_SAMPLES,
    _finish,
    _finite,
    _frequency,
    _links,
    _output,
    _profile_plan,
    _threads,
    _xyz,
    endpoint_ground_m,
)

try:
    from . import _itm
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    from ._errors import KernelUnavailableError

    raise KernelUnavailableError(
        "the compiled ITM kernel coverage_net.radio._itm is not built: "
        f"{exc}. Run 'make install' (or 'pip install -e .') to compile it.") from exc

__all__ = ["ITM_HEIGHT_RANGE_M", "ITMResult", "itm_params", "itm_path_loss",
           "itm_profile_loss_db"]

# ITM refuses (kwx 4) antennas outside this range; we refuse them up front.
ITM_HEIGHT_RANGE_M = (0.5, 3000.0)


@dataclass(frozen=True)
class ITMResult:
    """ITM losses with their profile sizes and ITM's warning level per pair: 0 none,
    1 parameters slightly outside the model's ranges, 3 outside them (use with
    caution), 4 invalid (e.g. paths under 1 km or coincident ends: free space)."""

    loss_db: np.ndarray
    samples: np.ndarray  # int64
    warning: np.ndarray  # int32


def itm_params(model: ITMModel, system_elevation_m: float | None = None) -> np.ndarray:
    """The kernel's parameter vector for `model` (see ext/itm.pyx).

    ``system_elevation_m`` fixes the height the refractivity is scaled to; by
    default each profile's own mean height, as NTIA's point_to_point does.
    """
    if not isinstance(model, ITMModel):
        raise InvalidInputError(f"model must be an ITMModel, got {model!r}")
    zsys = math.nan if system_elevation_m is None else float(
        _finite("system_elevation_m", system_elevation_m))
    return np.array([
        float(model.climate), float(model.permittivity), float(model.conductivity_s_m),
        float(model.refractivity_n), 1.0 if model.polarization == "vertical" else 0.0,
        float(model.variability_mode), qerfi(model.time_pct / 100.0),
        qerfi(model.location_pct / 100.0), qerfi(model.situation_pct / 100.0), zsys,
    ])


def _heights(name: str, value) -> np.ndarray:
    h = _finite(name, value)
    low, high = ITM_HEIGHT_RANGE_M
    bad = (h < low) | (h > high)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(np.atleast_1d(bad))[0])
        raise InvalidInputError(
            f"{name} at index {idx} is {np.atleast_1d(h)[idx]:g} m: ITM takes antenna "
            f"heights of {low:g} to {high:g} m above ground")
    return h


def itm_path_loss(tx: Sites, rx: Sites, model: ITMModel, *, freq_hz, tx_height_m=10.0,
                  rx_height_m=1.5, out=None, num_threads=None) -> ITMResult:
    """ITM loss over the DEM profile of every broadcast pair of sites.

    Same arguments as `path_loss_db`. The profile is the terrain model's: one
    sample every `model.sample_spacing_m` (default the DEM spacing, at most 100 m)
    along the great circle, the ends at the endpoints' exact ground heights.

    Examples
    --------
    >>> a = Sites.from_latlon(44.0, -71.5)
    >>> b = Sites.from_latlon(44.0 + 5000 / 111_195.08, -71.5)
    >>> r = itm_path_loss(a, b, ITMModel(Terrain.flat()), freq_hz=915e6,
    ...                   tx_height_m=30.0, rx_height_m=2.0)
    >>> round(float(r.loss_db), 2), int(r.warning)
    (112.12, 0)
    """
    params = itm_params(model)
    _heights("tx_height_m", tx_height_m)
    _heights("rx_height_m", rx_height_m)
    links = _links(tx, rx, freq_hz, tx_height_m, rx_height_m, True)
    result, flat = _output(out, links.shape)
    samples = np.zeros(links.shape, dtype=np.int64)
    warning = np.zeros(links.shape, dtype=np.int32)
    if flat.size == 0:
        return ITMResult(result, samples, warning)
    tx_xyz, rx_xyz = _xyz(tx), _xyz(rx)
    mosaic, spacing_m, threads = _profile_plan(model, links, tx_xyz, rx_xyz, num_threads)
    work = np.empty((threads, int(model.max_samples)))
    _itm.links(
        tx_xyz, links.tx_height_m, endpoint_ground_m(mosaic, tx),
        rx_xyz, links.rx_height_m, endpoint_ground_m(mosaic, rx), links.itx, links.irx,
        links.freq_hz, np.ascontiguousarray(mosaic.elevation_m, dtype=np.float32),
        float(mosaic.lat_north_deg), float(mosaic.lon_west_deg), float(mosaic.step_deg),
        float(spacing_m), int(model.max_samples), params, flat, samples.reshape(-1),
        warning.reshape(-1), work, threads)
    return ITMResult(_finish(result, flat), samples, warning)


def itm_profile_loss_db(elevation_m, step_m, *, freq_hz, tx_height_m, rx_height_m,
                        model: ITMModel | None = None, system_elevation_m=None, out=None,
                        num_threads=None) -> np.ndarray:
    """ITM loss over explicit terrain profiles.

    Parameters
    ----------
    elevation_m : array_like, shape (..., n_points)
        Ground heights (m above sea level, no earth bulge) from transmitter to
        receiver, ``n_points >= 3`` per profile.
    step_m : array_like
        Spacing of the points (m), broadcasting against the profiles' leading shape,
        as do ``freq_hz`` (Hz), ``tx_height_m`` and ``rx_height_m`` (0.5-3000 m).
    model : ITMModel, optional
        Climate, ground, refractivity, polarization, variability (its terrain is
        not used); default `ITMModel` settings.
    system_elevation_m : float, optional
        Height the refractivity is scaled to; default each profile's mean.

    Returns
    -------
    ndarray
        Basic transmission loss in dB, of the profiles' leading shape.

    Examples
    --------
    >>> ground = [96.0, 84.0, 65.0, 46.0, 46.0, 46.0, 61.0, 41.0, 33.0, 27.0]
    >>> round(float(itm_profile_loss_db(ground, 500.0, freq_hz=915e6,
    ...                                 tx_height_m=30.0, rx_height_m=2.0)), 2)
    118.09
    """
    model = model if model is not None else ITMModel(Terrain.flat())
    params = itm_params(model, system_elevation_m)
    z = _finite("elevation_m", elevation_m)
    if z.ndim < 1 or z.shape[-1] < 3:
        raise InvalidInputError(
            f"elevation_m must end in an axis of at least 3 points, got shape {z.shape}")
    step = _finite("step_m", step_m, minimum=0.0, strict=True)
    f = _frequency(freq_hz)
    ht = _heights("tx_height_m", tx_height_m)
    hr = _heights("rx_height_m", rx_height_m)
    try:
        shape = np.broadcast_shapes(z.shape[:-1], step.shape, f.shape, ht.shape, hr.shape)
    except ValueError:
        raise InvalidInputError(
            f"elevation_m {z.shape[:-1]} (leading shape), step_m {step.shape}, freq_hz "
            f"{f.shape}, tx_height_m {ht.shape} and rx_height_m {hr.shape} do not "
            "broadcast together") from None
    result, flat = _output(out, shape)
    n = flat.size
    if n == 0:
        return result
    rows = np.ascontiguousarray(np.broadcast_to(z, (*shape, z.shape[-1]))).reshape(n, -1)
    lanes = [np.ascontiguousarray(np.broadcast_to(a, shape), dtype=np.float64).reshape(-1)
             for a in (step, ht, hr, f)]
    warning = np.zeros(n, dtype=np.int32)
    _itm.profiles(rows, np.full(n, rows.shape[1], dtype=np.intp), *lanes, params, flat,
                  warning, _threads(num_threads, rows.size, PARALLEL_MIN_PROFILE_SAMPLES))
    return _finish(result, flat)
