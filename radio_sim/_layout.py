"""Where a scenario's hotspots stand and which of them listen.

``receivers`` is ``"all"`` (every hotspot listens), ``"central"`` (LoRaSim's one
base station: the hotspot nearest the centre, moved onto it), a number ``k`` of
receivers (the centre for 1; for more, the hotspots nearest ``k`` points spread
evenly on a circle of half the deployment's radius, each moved onto its point, as
LoRaSim's multi-base-station variant spreads them over the area) or a list of
hotspot names (a world file's gateways).
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
from h3.api import basic_int as h3

from ._errors import SimConfigError
from ._world import CELL_RES, World, uniform
from ._world_gen import _destination

__all__ = ["build_world", "place_receivers"]


def build_world(s) -> World:
    if s.world_file is not None:
        path = Path(s.world_file)
        return World.from_geojson(path) if path.suffix.lower() in (".geojson", ".json") \
            else World.from_csv(path)
    seed = s.seed if s.world_seed is None else s.world_seed
    radius_km = None if s.radius_m is None else s.radius_m / 1e3
    return uniform(s.hotspots, center=s.center, density_per_km2=s.density_per_km2, seed=seed,
                   radius_km=radius_km, antenna_height_m=s.height_m, antenna_gain_dbi=s.gain_dbi,
                   tx_power_dbm=s.tx_power_dbm, region=s.region)


def _nearest(world: World, lat: float, lon: float, taken: set[int]) -> int:
    d2 = ((world.lat_deg - lat) ** 2
          + ((world.lon_deg - lon) * math.cos(math.radians(lat))) ** 2)
    if taken:
        d2 = d2.copy()
        d2[list(taken)] = np.inf
    return int(np.argmin(d2))


def _deployment_radius_m(s, world: World) -> float:
    if s.radius_m is not None:
        return float(s.radius_m)
    return math.sqrt(len(world) / s.density_per_km2 / math.pi) * 1e3


def check_receivers(receivers) -> None:
    if isinstance(receivers, str):
        if receivers not in ("all", "central"):
            raise SimConfigError(f"receivers must be 'all', 'central', a count or a list of "
                                 f"hotspot names, got {receivers!r}")
    elif isinstance(receivers, bool) or not isinstance(receivers, int | tuple | list):
        raise SimConfigError(f"receivers must be 'all', 'central', a count or a list of "
                             f"hotspot names, got {receivers!r}")
    elif isinstance(receivers, int) and receivers < 1:
        raise SimConfigError(f"receivers must be >= 1 when a count, got {receivers}")


def place_receivers(world: World, s) -> tuple[World, np.ndarray | None]:
    """The world (receivers moved onto their points) and the listening hotspots (sorted),
    None when every hotspot listens."""
    if s.receivers == "all":
        return world, None
    if isinstance(s.receivers, list | tuple):
        if not s.receivers:
            raise SimConfigError("receivers is an empty list; name at least one hotspot")
        return world, np.array(sorted({world.index_of(name) for name in s.receivers}))
    count = 1 if s.receivers == "central" else int(s.receivers)
    if count >= len(world):
        raise SimConfigError(f"receivers = {count} leaves no sender among {len(world)} "
                             "hotspots")
    lat0, lon0 = s.center
    if count == 1:
        points = [(lat0, lon0)]
    else:
        angle = _deployment_radius_m(s, world) / 2 / 6_371_008.8
        bearings = np.arange(count) * (2 * math.pi / count)
        lats, lons = _destination(lat0, lon0, angle, bearings)
        points = list(zip(np.atleast_1d(lats).tolist(), np.atleast_1d(lons).tolist(),
                          strict=True))
    hs = list(world.hotspots)
    chosen: set[int] = set()
    for lat, lon in points:
        if count == 1:  # the hotspot nearest the hotspots' mean position
            i = _nearest(world, float(np.mean(world.lat_deg)), float(np.mean(world.lon_deg)),
                         chosen)
        else:
            i = _nearest(world, lat, lon, chosen)
        chosen.add(i)
        cell = h3.latlng_to_cell(lat, lon, CELL_RES)
        hs[i] = replace(hs[i], cell=cell, lat_deg=None, lon_deg=None)
    return World(hs), np.array(sorted(chosen))
