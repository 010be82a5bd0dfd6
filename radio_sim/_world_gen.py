"""Seeded world generators: `uniform`, `clustered` and `on_dem`.

Each draws positions from a `numpy.random.Generator` seeded by ``seed`` (the same
seed gives the same world), places one hotspot in the resolution-12 cell at each,
and names them ``hs-00000``, ``hs-00001``, ... Keyword ``defaults`` are
`coverage_net.radio.Station` parameters shared by all hotspots (``region``,
``antenna_height_m``, ...; a bad one raises `StationError`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
from h3.api import basic_int as h3

from coverage_net.radio import EARTH_RADIUS_M, Station, Terrain, bilinear_elevation_m

from ._world import CELL_RES, World, WorldError

__all__ = ["DEFAULT_TOWNS", "clustered", "on_dem", "uniform"]

_MAX_ON_DEM_BATCHES = 1000

# (lat, lon, weight): towns of the White Mountains on the N44W072 tile, weighted
# by rough population
DEFAULT_TOWNS: tuple[tuple[float, float, float], ...] = (
    (44.4687, -71.1851, 10.0),  # Berlin
    (44.3062, -71.7701, 6.0),   # Littleton
    (44.4887, -71.5692, 3.2),   # Lancaster
    (44.3879, -71.1731, 2.7),   # Gorham
    (44.2803, -71.6876, 2.5),   # Bethlehem
    (44.3731, -71.6100, 2.3),   # Whitefield
    (44.8945, -71.4959, 2.1),   # Colebrook
    (44.0456, -71.6704, 1.7),   # Lincoln
    (44.8134, -71.8798, 1.2),   # Island Pond
    (44.5987, -71.5112, 1.0),   # Groveton
    (44.1448, -71.1856, 0.9),   # Jackson
    (44.2720, -71.5420, 0.8),   # Twin Mountain
)


def _real(field: str, value: object) -> float:
    """A finite number for a generator parameter; the error names it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise WorldError(f"{field} is {value!r}; it must be a number")
    result = float(value)
    if not math.isfinite(result):
        raise WorldError(f"{field} is {value!r}; it must be finite")
    return result


def _latlon(lat_deg: object, lon_deg: object) -> tuple[float, float]:
    lat, lon = _real("lat", lat_deg), _real("lon", lon_deg)
    if not -90.0 <= lat <= 90.0:
        raise WorldError(f"lat is {lat:g}; it must lie in [-90, 90]")
    if not -180.0 <= lon <= 180.0:
        raise WorldError(f"lon is {lon:g}; it must lie in [-180, 180]")
    return lat, lon


def _count(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise WorldError(f"n is {n!r}; it must be an int >= 1")
    return int(n)


def _positive(field: str, value: object, *, zero: bool = False) -> float:
    result = _real(field, value)
    if result < 0 or (result == 0 and not zero):
        raise WorldError(f"{field} is {result:g}; it must be {'>=' if zero else '>'} 0")
    return result


_PARAMETERS = ("antenna_height_m", "antenna_gain_dbi", "tx_power_dbm", "region",
               "noise_figure_db")


def _check_defaults(defaults: dict) -> dict:
    unknown = sorted(set(defaults) - set(_PARAMETERS))
    if unknown:
        raise WorldError(f"unknown station parameter(s) {', '.join(unknown)}; accepted: "
                         f"{', '.join(_PARAMETERS)}")
    template = Station("template", cell=h3.latlng_to_cell(0.0, 0.0, CELL_RES), **defaults)
    return {field: getattr(template, field) for field in defaults}


def _world_at(lat_deg: np.ndarray, lon_deg: np.ndarray, defaults: dict) -> World:
    width = max(5, len(str(len(lat_deg) - 1)))
    return World([Station(f"hs-{k:0{width}d}", cell=h3.latlng_to_cell(a, o, CELL_RES), **defaults)
                  for k, (a, o) in enumerate(zip(lat_deg.tolist(), lon_deg.tolist(),
                                                 strict=True))])


def _destination(lat_deg, lon_deg, angle_rad, bearing_rad) -> tuple[np.ndarray, np.ndarray]:
    """Points at an angular distance and bearing from a start (spherical earth)."""
    lat1, lon1 = np.radians(lat_deg), np.radians(lon_deg)
    sin_lat2 = (np.sin(lat1) * np.cos(angle_rad)
                + np.cos(lat1) * np.sin(angle_rad) * np.cos(bearing_rad))
    lat2 = np.arcsin(np.clip(sin_lat2, -1.0, 1.0))
    lon2 = lon1 + np.arctan2(np.sin(bearing_rad) * np.sin(angle_rad) * np.cos(lat1),
                             np.cos(angle_rad) - np.sin(lat1) * sin_lat2)
    lon = (np.degrees(lon2) + 180.0) % 360.0 - 180.0
    return np.degrees(lat2), lon


def uniform(n: int, *, center: tuple[float, float] = (44.5, -71.5),
            radius_km: float | None = None, density_per_km2: float = 1.0, seed=0,
            **defaults) -> World:
    """``n`` hotspots uniform (by area) over a spherical disk around ``center``.

    Without ``radius_km`` the disk's area is ``n / density_per_km2``. ``seed`` is
    anything `numpy.random.default_rng` takes; ``defaults`` are `Station`
    parameters shared by all hotspots.

    Examples
    --------
    >>> w = uniform(3, radius_km=1.0, seed=7, region="eu868")
    >>> w.names, w.regions[0]
    (('hs-00000', 'hs-00001', 'hs-00002'), 'EU868')
    """
    n = _count(n)
    try:
        lat0, lon0 = _latlon(*center)
    except TypeError:
        raise WorldError(f"center is {center!r}; give (lat, lon)") from None
    defaults = _check_defaults(defaults)
    if radius_km is None:
        radius_m = math.sqrt(n / _positive("density_per_km2", density_per_km2) / math.pi) * 1e3
    else:
        radius_m = _positive("radius_km", radius_km) * 1e3
    radius_rad = min(radius_m / EARTH_RADIUS_M, math.pi)
    rng = np.random.default_rng(seed)
    # cos(angle) uniform on the cap: uniform by area, also for large disks
    angle = 2.0 * np.arcsin(np.sqrt(rng.random(n)) * math.sin(radius_rad / 2.0))
    bearing = rng.random(n) * (2.0 * math.pi)
    return _world_at(*_destination(lat0, lon0, angle, bearing), defaults)


def clustered(n: int, *, towns: Sequence[tuple[float, float, float]] | None = None,
              spread_km: float = 3.0, seed=0, **defaults) -> World:
    """``n`` hotspots around towns: each picks a town by weight, then a Gaussian offset.

    ``towns`` holds ``(lat, lon, weight)``; it defaults to `DEFAULT_TOWNS`.
    ``spread_km`` is the standard deviation of the offset along each axis.
    """
    n = _count(n)
    towns = DEFAULT_TOWNS if towns is None else towns
    try:
        table = [(*_latlon(lat, lon), _positive("weight", w, zero=True)) for lat, lon, w in towns]
    except (TypeError, ValueError) as exc:
        raise WorldError(f"towns: {exc}; give a sequence of (lat, lon, weight)") from None
    if not table or sum(w for *_, w in table) <= 0:
        raise WorldError("towns must hold at least one town with a weight > 0")
    spread_m = _positive("spread_km", spread_km, zero=True) * 1e3
    defaults = _check_defaults(defaults)
    lat, lon, weight = (np.array(column) for column in zip(*table, strict=True))
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(table), size=n, p=weight / weight.sum())
    east, north = rng.normal(0.0, 1.0, size=(2, n)) * spread_m
    angle = np.minimum(np.hypot(east, north) / EARTH_RADIUS_M, math.pi)
    return _world_at(*_destination(lat[pick], lon[pick], angle, np.arctan2(east, north)),
                     defaults)


def on_dem(n: int, terrain: Terrain, *,
           bbox: tuple[float, float, float, float] = (44.05, 44.95, -71.95, -71.05),
           seed=0, prefer_high: float = 0.0, **defaults) -> World:
    """``n`` hotspots where the DEM covers ``bbox`` = (lat_min, lat_max, lon_min, lon_max).

    Positions are uniform by area over the covered part of the box, then thinned:
    a point at relative elevation ``f`` in [0, 1] (0 the lowest, 1 the highest
    ground of the box, from a survey of 4096 points) is kept with probability
    ``1 - prefer_high * (1 - f)``. So ``prefer_high=0`` is uniform and ``1`` makes
    a site's odds proportional to its height above the box's lowest ground.
    Antenna heights stay heights above ground.
    """
    n = _count(n)
    if not isinstance(terrain, Terrain):
        raise WorldError(f"terrain must be a coverage_net.radio.Terrain, got {terrain!r}")
    try:
        lat_min, lat_max, lon_min, lon_max = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise WorldError(f"bbox is {bbox!r}; give (lat_min, lat_max, lon_min, lon_max)") from None
    for corner in ((lat_min, lon_min), (lat_max, lon_max)):
        _latlon(*corner)
    if not (lat_min < lat_max and lon_min < lon_max):
        raise WorldError(f"bbox is {bbox!r}; it needs lat_min < lat_max and lon_min < lon_max")
    prefer_high = _real("prefer_high", prefer_high)
    if not 0.0 <= prefer_high <= 1.0:
        raise WorldError(f"prefer_high is {prefer_high:g}; it must lie in [0, 1]")
    defaults = _check_defaults(defaults)
    rng = np.random.default_rng(seed)
    sin_lo, sin_hi = math.sin(math.radians(lat_min)), math.sin(math.radians(lat_max))

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:  # uniform by area in the box
        return (np.degrees(np.arcsin(rng.uniform(sin_lo, sin_hi, count))),
                rng.uniform(lon_min, lon_max, count))

    mosaic = terrain.mosaic(lat_min, lat_max, lon_min, lon_max)
    # survey the box for its range of ground elevation, where a tile covers it
    lat, lon = draw(4096)
    covered = terrain.covers(lat, lon)
    if not covered.any():
        tiles = f"the DEM in {terrain.dem_dir}" if terrain.has_data else "a terrain without tiles"
        raise WorldError(f"{tiles} covers no part of bbox {bbox!r}; use uniform() on flat earth")
    z = bilinear_elevation_m(mosaic, lat[covered], lon[covered])
    z_low, span = float(z.min()), max(float(z.max() - z.min()), 1e-9)
    batch = max(1024, 2 * n)
    kept_lat: list[np.ndarray] = []
    kept_lon: list[np.ndarray] = []
    kept = 0
    for _ in range(_MAX_ON_DEM_BATCHES):
        lat, lon = draw(batch)
        relative = np.clip((bilinear_elevation_m(mosaic, lat, lon) - z_low) / span, 0.0, 1.0)
        keep = rng.random(batch) < 1.0 - prefer_high * (1.0 - relative)
        keep &= terrain.covers(lat, lon)
        kept_lat.append(lat[keep])
        kept_lon.append(lon[keep])
        kept += int(keep.sum())
        if kept >= n:
            break
    else:
        raise WorldError(f"found only {kept} of {n} sites on the DEM in bbox {bbox!r}")
    return _world_at(np.concatenate(kept_lat)[:n], np.concatenate(kept_lon)[:n], defaults)
