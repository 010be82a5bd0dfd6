"""Where the testnet's hotspots stand: a seeded world with one far-off hotspot and one liar.

The testnet exists to show proof of coverage working, so its world is not random
scenery: most hotspots stand a few km apart (each hears others), one stands far out of
everyone's range (it must earn nothing), and one asserts a location far from where its
simulated radio really is (it must be caught). The plan keeps both positions of every
hotspot: the simulator places radios where they are, the hotspot configs assert where
they claim to be. The plan checks its own promises with the channel's path loss, so a
change of model or spacing that breaks them fails here, not an hour into a demo.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from h3.api import basic_int as h3

from coverage_net.poc import BeaconParams, NetworkParams
from coverage_net.radio import (
    EARTH_RADIUS_M,
    STATION_CELL_RES,
    Station,
    get_region,
    model_from_name,
    path_loss_db,
)

if TYPE_CHECKING:
    from radio_sim import World

from ._errors import TestnetError

__all__ = ["DEFAULT_CENTER", "MIN_HOTSPOTS", "PlannedHotspot", "WorldPlan",
           "link_margins_db", "plan_world"]

MIN_HOTSPOTS = 4
"""Two hotspots that hear each other, the far one and the liar."""
DEFAULT_CENTER = (44.4687, -71.1851)
"""Berlin, New Hampshire: on the project's DEM tile, so the same world works with --dem."""
MODEL = "hata-suburban"
"""The path-loss model of the simulator and of the verifier alike: with one model on both
sides, a valid witness is valid because the physics agrees, not by luck. The simulator
adds what no model knows on top (``sim serve --air realistic``)."""

_MIN_SEPARATION_M = 1_000.0  # well beyond the verifier's too-close limit (8 res-11 cells)
_CLUSTER_RADIUS_M = 2_000.0  # times sqrt(count): a few km between neighbours
_FAR_DISTANCE_M = 150_000.0  # past the verifier's max witness distance and any radio
_LIAR_OFFSET_M = 50_000.0  # where the liar claims to be, from where its radio is
HOTSPOT_ANTENNA_M = 10.0
"""Every hotspot's antenna height, asserted and simulated alike."""
_AUDIBLE_MARGIN_DB = 10.0  # a hotspot's best link must clear sensitivity by this much
_ATTEMPTS = 10_000
_TILE = re.compile(r"^([NS])(\d{2})([EW])(\d{3})\.hgt$", re.IGNORECASE)


@dataclass(frozen=True)
class PlannedHotspot:
    """One hotspot: where its radio is (`radio_*`) and where it says it is (`asserted_*`)."""

    name: str
    role: str
    """"neighbour" (in range of others), "far" (out of everyone's range) or "liar"."""
    radio_lat_deg: float
    radio_lon_deg: float
    asserted_lat_deg: float
    asserted_lon_deg: float

    @property
    def asserted_cell(self) -> int:
        return h3.latlng_to_cell(self.asserted_lat_deg, self.asserted_lon_deg, STATION_CELL_RES)


@dataclass(frozen=True)
class WorldPlan:
    """The hotspots of a testnet, its region and the path-loss model both sides use."""

    hotspots: tuple[PlannedHotspot, ...]
    region: str
    model: str = MODEL

    def stations(self) -> list[Station]:
        """Every radio where it really is, its antenna at `HOTSPOT_ANTENNA_M` (as asserted)."""
        return [Station(h.name, lat_deg=h.radio_lat_deg, lon_deg=h.radio_lon_deg,
                        region=self.region, antenna_height_m=HOTSPOT_ANTENNA_M)
                for h in self.hotspots]

    def world(self) -> World:
        """The simulator's world of the hotspots."""
        from radio_sim import World  # the testnet (layer 5) picks the simulator

        return World(self.stations())

    def named(self, role: str) -> list[PlannedHotspot]:
        return [h for h in self.hotspots if h.role == role]

    def beacon(self) -> BeaconParams:
        """The region's beacon channel and data rate in the default network parameters."""
        return NetworkParams().beacon(self.region)


def plan_world(hotspots: int, *, seed: int = 0, region: str = "US915",
               dem_dir: Path | None = None) -> WorldPlan:
    """`hotspots` hotspots (at least `MIN_HOTSPOTS`): all but two in one cluster, then
    the far one and the liar. With `dem_dir`, on the area of its first tile."""
    if hotspots < MIN_HOTSPOTS:
        raise TestnetError(f"--hotspots must be at least {MIN_HOTSPOTS} (two that hear each "
                           f"other, one out of range, one liar); got {hotspots}")
    region = get_region(region).name
    rng = np.random.default_rng(seed)
    center, far_at = _area(dem_dir, rng)
    cluster = _cluster(hotspots - 1, center, rng)  # the liar's radio stands in it too
    width = max(2, len(str(hotspots)))
    planned = [PlannedHotspot(f"hs{k + 1:0{width}d}", "neighbour", *p, *p)
               for k, p in enumerate(cluster[:-1])]
    planned.append(PlannedHotspot("far", "far", *far_at, *far_at))
    liar_radio = cluster[-1]
    claimed = _destination(*liar_radio, _LIAR_OFFSET_M, rng.uniform(0, 2 * math.pi))
    planned.append(PlannedHotspot("liar", "liar", *liar_radio, *claimed))
    plan = WorldPlan(tuple(planned), region)
    _check(plan)
    return plan


def link_margins_db(world: World, i: int, beacon: BeaconParams, model: str = MODEL, *,
                    eirp_dbm: float | None = None) -> np.ndarray:
    """How far (dB) hotspot i's beacon arrives above each hotspot's sensitivity (own: -inf).

    The simulator's own link budget: the transmitter's EIRP (default, its station's tx
    power and antenna gain; the hotspot daemon may use up to the region's limit) and the
    receiver's gain minus the path loss of `model`, against the receiver's sensitivity
    at the beacon's rate."""
    from radio_sim import Channel

    channel = Channel(world, model=model_from_name(model))
    everyone = np.arange(len(world))
    loss = path_loss_db(world.sites[i], world.sites[everyone], channel.model,
                        freq_hz=beacon.freq_hz, tx_height_m=float(world.height_m[i]),
                        rx_height_m=world.height_m)
    if eirp_dbm is None:
        eirp_dbm = world.tx_power_dbm[i] + world.gain_dbi[i]
    received = eirp_dbm + world.gain_dbi - loss
    margins = received - channel.sensitivity_dbm(everyone, beacon.spreading_factor,
                                                 beacon.bandwidth_hz)
    margins[i] = -np.inf
    return margins


def _check(plan: WorldPlan) -> None:
    """The plan's promises, by the channel's physics."""
    world, beacon = plan.world(), plan.beacon()
    loudest_dbm = get_region(plan.region).max_eirp_dbm
    for i, hotspot in enumerate(plan.hotspots):
        if hotspot.role == "far":  # out of range even at the region's highest EIRP
            best = float(link_margins_db(world, i, beacon, plan.model,
                                         eirp_dbm=loudest_dbm).max())
        else:
            best = float(link_margins_db(world, i, beacon, plan.model).max())
        if hotspot.role == "far" and best > -_AUDIBLE_MARGIN_DB:
            raise TestnetError(f"the far hotspot would be nearly heard (its best link is "
                               f"{best:.0f} dB from sensitivity; at most "
                               f"{-_AUDIBLE_MARGIN_DB:.0f} dB is out of range); choose an "
                               "area with room for it")
        if hotspot.role != "far" and best < _AUDIBLE_MARGIN_DB:
            raise TestnetError(f"hotspot {hotspot.name} would hear no one (best link "
                               f"{best:.0f} dB above sensitivity)")


def _area(dem_dir: Path | None, rng: np.random.Generator
          ) -> tuple[tuple[float, float], tuple[float, float]]:
    """(cluster centre, far hotspot): the default town and a point 150 km off, or near
    the tile's south-west corner and its north-east corner (about 100 km apart)."""
    if dem_dir is None:
        return DEFAULT_CENTER, _destination(*DEFAULT_CENTER, _FAR_DISTANCE_M,
                                            rng.uniform(0, 2 * math.pi))
    tiles = sorted(p.name for p in Path(dem_dir).glob("*") if _TILE.match(p.name))
    if not tiles:
        raise TestnetError(f"--dem {dem_dir}: no SRTM/NASADEM tile (such as N44W072.hgt) "
                           "there")
    ns, lat, ew, lon = _TILE.match(tiles[0]).groups()
    lat0 = int(lat) * (1 if ns.upper() == "N" else -1)
    lon0 = int(lon) * (1 if ew.upper() == "E" else -1)
    return (lat0 + 0.2, lon0 + 0.2), (lat0 + 0.98, lon0 + 0.98)


def _cluster(count: int, center: tuple[float, float], rng: np.random.Generator
             ) -> list[tuple[float, float]]:
    """`count` points in a disk around `center`, at least `_MIN_SEPARATION_M` apart."""
    radius_m = _CLUSTER_RADIUS_M * math.sqrt(count)
    points: list[tuple[float, float]] = []
    for _ in range(_ATTEMPTS):
        distance_m = radius_m * math.sqrt(rng.random())
        point = _destination(*center, distance_m, rng.uniform(0, 2 * math.pi))
        if all(_distance_m(point, other) >= _MIN_SEPARATION_M for other in points):
            points.append(point)
            if len(points) == count:
                return points
    raise TestnetError(f"could not place {count} hotspots {_MIN_SEPARATION_M:.0f} m apart")


def _destination(lat_deg: float, lon_deg: float, distance_m: float,
                 bearing_rad: float) -> tuple[float, float]:
    """The point `distance_m` from (lat, lon) along `bearing_rad` (spherical earth)."""
    angle = distance_m / EARTH_RADIUS_M
    lat1, lon1 = math.radians(lat_deg), math.radians(lon_deg)
    lat2 = math.asin(math.sin(lat1) * math.cos(angle)
                     + math.cos(lat1) * math.sin(angle) * math.cos(bearing_rad))
    lon2 = lon1 + math.atan2(math.sin(bearing_rad) * math.sin(angle) * math.cos(lat1),
                             math.cos(angle) - math.sin(lat1) * math.sin(lat2))
    return round(math.degrees(lat2), 6), round((math.degrees(lon2) + 540.0) % 360.0 - 180.0, 6)


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    return h3.great_circle_distance(a, b, unit="m")
