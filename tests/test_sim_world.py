"""The simulated world: hotspots, files, generators and the neighbour index."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import h3
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coverage_net.radio import EARTH_RADIUS_M, Sites, Station, StationError, Terrain, read_stations
from radio_sim._errors import SimConfigError, SimError
from radio_sim._world import (
    CELL_RES,
    DEFAULT_TOWNS,
    World,
    WorldError,
    clustered,
    on_dem,
    placed,
    uniform,
)

# hypothesis without an example database in the source tree, and no deadline (the
# first call at each coarse resolution builds its index)
FUZZ = settings(max_examples=60, database=None, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

SUMMIT = (44.2706, -71.3033)
SUMMIT_CELL = h3.str_to_int(h3.latlng_to_cell(*SUMMIT, CELL_RES))
HEADER = "name,lat,lon,cell,height_m,gain_dbi,tx_power_dbm,region,noise_figure_db\n"
PENTAGON = h3.cell_to_latlng(h3.get_pentagons(5)[3])  # a pentagon centre at every resolution
PLACES = {
    "white-mountains": (44.5, -71.5),
    "antimeridian": (-16.5, 179.999),
    "north-pole": (89.99, 10.0),
    "equator": (0.0, 0.0),
    "pentagon": PENTAGON,
}


def _hs(name: str, lat: float, lon: float, **params) -> Station:
    """A station at this point, as the simulator places it (the centre of its cell)."""
    return placed(Station(name, lat_deg=lat, lon_deg=lon, **params))


def _write(tmp_path: Path, text: str, name: str = "world.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(load, path: Path) -> str:
    with pytest.raises(StationError) as info:
        load(path)
    return str(info.value)


def _brute_neighbours(world: World, i: int, range_m: float) -> np.ndarray:
    """Every pair, by the public distance: what `neighbours` must equal."""
    everyone = np.arange(len(world))
    d = world.distances_m(i, everyone)
    return everyone[(d <= range_m) & (everyone != i)]


# --- placing stations ------------------------------------------------------------------


def test_world_places_each_station_at_the_centre_of_its_res12_cell():
    coarse = h3.str_to_int(h3.latlng_to_cell(*SUMMIT, 8))
    given = [Station("point", lat_deg=SUMMIT[0], lon_deg=SUMMIT[1], region="as923"),
             Station("coarse", cell=coarse, antenna_height_m=4.0),
             Station("fine", cell=SUMMIT_CELL)]
    w = World(given)
    centre = h3.cell_to_latlng(h3.int_to_str(SUMMIT_CELL))
    assert w.cells[0] == w.cells[2] == SUMMIT_CELL
    assert w.cells[1] == h3.str_to_int(h3.latlng_to_cell(*h3.cell_to_latlng(
        h3.int_to_str(coarse)), 12))
    assert (w.hotspots[0].lat_deg, w.hotspots[0].lon_deg) == centre == (w.lat_deg[0],
                                                                        w.lon_deg[0])
    assert w.hotspots[0] == dataclasses.replace(given[0], cell=SUMMIT_CELL, lat_deg=None,
                                                lon_deg=None)
    assert w.hotspots[2] is given[2]  # already at a cell centre: kept as it is
    assert w.hotspots[1].antenna_height_m == 4.0 and w.regions[0] == "AS923-1"
    with pytest.raises(dataclasses.FrozenInstanceError):
        w.hotspots[0].antenna_height_m = 3.0  # type: ignore[misc]


def test_world_error_is_a_sim_config_error():
    assert issubclass(WorldError, SimConfigError)
    assert issubclass(WorldError, SimError)
    assert issubclass(WorldError, ValueError)


# --- World --------------------------------------------------------------------------------


def test_world_columns_are_read_only_and_indexed():
    hs = [_hs("a", *SUMMIT, region="eu868", antenna_gain_dbi=2.0),
          _hs("b", 44.3, -71.2, antenna_height_m=25.0, tx_power_dbm=14.0, noise_figure_db=4.5)]
    w = World(hs)
    assert len(w) == 2 and w.hotspots == tuple(hs) and w.names == ("a", "b")
    assert w.index_of("b") == 1 and w.regions == ("EU868", "US915")
    assert w.cells.dtype == np.uint64 and w.cells.tolist() == [h.cell for h in hs]
    for column, values in [("height_m", [10, 25]), ("gain_dbi", [2, 3]),
                           ("tx_power_dbm", [20, 14]), ("noise_figure_db", [6, 4.5])]:
        array = getattr(w, column)
        assert array.dtype == np.float64 and array.tolist() == values
    assert w.lat_deg.tolist() == [h.lat_deg for h in hs]
    assert w.lon_deg.tolist() == [h.lon_deg for h in hs]
    assert isinstance(w.sites, Sites) and w.sites.shape == (2,)
    assert w.sites.key.tolist() == w.cells.tolist()
    for array in (w.cells, w.lat_deg, w.lon_deg, w.height_m, w.gain_dbi, w.tx_power_dbm,
                  w.noise_figure_db, w.sites.xyz):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0
    assert World(hs) == w and World(hs[::-1]) != w


@pytest.mark.parametrize(("hotspots", "message"), [
    ([], "at least one hotspot"),
    ([_hs("a", *SUMMIT), _hs("a", 44.0, -71.0)],
     r"'a' appears twice \(hotspots\[0\] and hotspots\[1\]\)"),
    ([_hs("a", *SUMMIT), ("b", SUMMIT_CELL)], r"hotspots\[1\] is a tuple"),
])
def test_world_rejects_bad_hotspot_lists(hotspots, message):
    with pytest.raises(WorldError, match=message):
        World(hotspots)


def test_bad_queries_are_world_errors():
    w = uniform(5, radius_km=1.0)
    with pytest.raises(WorldError, match="no hotspot named 'nope'"):
        w.index_of("nope")
    for i in (-1, 5, 1.0, True, "0"):
        with pytest.raises(WorldError, match="hotspot index"):
            w.neighbours(i, 100.0)
    for r in (-1.0, float("nan"), None, "5"):
        with pytest.raises(WorldError, match="max_range_m"):
            w.neighbours(0, r)
    with pytest.raises(WorldError, match="holds index 7"):
        w.distances_m(0, np.array([1, 7]))
    with pytest.raises(WorldError, match="integer indices"):
        w.distances_m(0, np.array([1.0]))


def test_distances_match_h3_great_circle_and_keep_shape():
    w = uniform(30, radius_km=80.0, seed=3)
    js = np.arange(30).reshape(5, 6)
    d = w.distances_m(4, js)
    assert d.shape == (5, 6) and d[0, 4] == 0.0
    for j in range(30):  # h3's haversine, on the radius of the path-loss kernel
        expected = EARTH_RADIUS_M * h3.great_circle_distance(
            (w.lat_deg[4], w.lon_deg[4]), (w.lat_deg[j], w.lon_deg[j]), unit="rads")
        assert d.flat[j] == pytest.approx(expected, rel=1e-9, abs=1e-6)


# --- neighbours ---------------------------------------------------------------------------


@FUZZ
@given(place=st.sampled_from(sorted(PLACES)), n=st.integers(1, 250),
       radius_km=st.floats(0.05, 300.0), seed=st.integers(0, 2**32 - 1),
       range_m=st.one_of(st.just(0.0), st.floats(1.0, 600_000.0)),
       kind=st.sampled_from(["uniform", "clustered"]))
def test_neighbours_equal_brute_force(place, n, radius_km, seed, range_m, kind):
    lat, lon = PLACES[place]
    if kind == "uniform":
        w = uniform(n, center=(lat, lon), radius_km=radius_km, seed=seed)
    else:
        towns = [(lat, lon, 2.0), *_destinations(lat, lon, radius_km)]
        w = clustered(n, towns=towns, spread_km=radius_km / 10, seed=seed)
    for i in range(0, n, max(1, n // 25)):
        got = w.neighbours(i, range_m)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, _brute_neighbours(w, i, range_m))


def _destinations(lat: float, lon: float, radius_km: float) -> list[tuple[float, float, float]]:
    """Two more towns roughly ``radius_km`` north-east and south (clamped to the globe)."""
    step = radius_km / 111.2
    widen = 1.0 / max(math.cos(math.radians(lat)), 0.05)
    return [(min(lat + 0.7 * step, 89.9), (lon + 0.7 * step * widen + 180.0) % 360.0 - 180.0, 1.0),
            (max(lat - step, -89.9), lon, 0.5)]


@pytest.mark.parametrize("place", sorted(PLACES))
def test_neighbours_at_every_scale_equal_brute_force(place):
    """Ranges from far below the finest coarse cell to far above the coarsest."""
    w = uniform(400, center=PLACES[place], radius_km=60.0, seed=11)
    ranges = [0.0, 0.5, 3.0, 12.0, 40.0, 150.0, 700.0, 2_500.0, 9_000.0, 30_000.0,
              90_000.0, 250_000.0, 1e6, 5e6, 2e7, math.inf]
    for range_m in ranges:
        for i in (0, 7, 199, 399):
            np.testing.assert_array_equal(w.neighbours(i, range_m),
                                          _brute_neighbours(w, i, range_m))


def test_neighbours_across_the_globe_and_of_co_located_hotspots():
    w = World([_hs("here", *SUMMIT), _hs("same-cell", *SUMMIT), _hs("antipode", -44.27, 108.7),
               _hs("far", 0.0, 0.0)])
    assert w.neighbours(0, 0.0).tolist() == [1]
    assert w.neighbours(0, 1e7).tolist() == [1, 3]
    assert w.neighbours(0, math.inf).tolist() == [1, 2, 3]
    assert World([_hs("alone", *SUMMIT)]).neighbours(0, 1e9).tolist() == []


def test_neighbours_exact_at_the_boundary():
    """A range equal to a computed distance includes that hotspot, a hair less does not."""
    w = uniform(300, radius_km=20.0, seed=5)
    d = w.distances_m(17, np.arange(300))
    for j in (3, 150, 299):
        assert j in w.neighbours(17, float(d[j]))
        assert j not in w.neighbours(17, float(np.nextafter(d[j], 0.0)))


def test_neighbours_read_a_few_coarse_cells_not_the_world():
    w = uniform(5_000, density_per_km2=2.0, seed=2)
    expected = _brute_neighbours(w, 123, 2_000.0)
    np.testing.assert_array_equal(w.neighbours(123, 2_000.0), expected)
    (index,) = {id(v): v for v in w._coarse.values()}.values()  # built once, then cached
    candidates = index.candidates(int(index.cell_of[123]), 2_000.0)
    assert len(expected) <= len(candidates) < len(w) / 10
    assert w.neighbours(123, 2_000.0).flags.writeable  # a fresh array, not the cache
    w.neighbours(5, 1_900.0)  # a range asking for the same resolution reuses the index
    assert {id(v) for v in w._coarse.values()} == {id(index)}


def test_scale_10k_hotspots_1000_queries():
    w = uniform(10_000, seed=0)
    range_m = 15_000.0
    counts = []
    rng = np.random.default_rng(1)
    for i in rng.choice(len(w), 1_000, replace=False).tolist():
        js = w.neighbours(i, range_m)
        assert np.all(np.diff(js) > 0) and i not in js
        assert np.all(w.distances_m(i, js) <= range_m)
        counts.append(len(js))
        if len(counts) <= 20:
            np.testing.assert_array_equal(js, _brute_neighbours(w, i, range_m))
    # density 1/km^2: pi * 15^2 = 707 in the interior, fewer near the rim of the disk
    assert 500 < np.mean(counts) < 707


# --- CSV ----------------------------------------------------------------------------------


def test_csv_round_trip_is_byte_identical(tmp_path):
    w = World([*uniform(40, seed=9, region="eu868", tx_power_dbm=11.5).hotspots,
               _hs("#hash, \"quoted\"", *SUMMIT), _hs("#bare", 44.1, -71.1),
               _hs("ünïcode", 44.2, -71.2, antenna_height_m=0.0)])
    first = tmp_path / "a.csv"
    w.to_csv(first)
    again = World.from_csv(first)
    assert again == w
    second = tmp_path / "b.csv"
    again.to_csv(second)
    assert first.read_bytes() == second.read_bytes()
    # the same file feeds coverage prediction
    assert [s.name for s in read_stations(first, enforce_eirp_limit=True)] == list(w.names)


def test_csv_positions_defaults_and_comments(tmp_path):
    coarse = h3.latlng_to_cell(*SUMMIT, 8)
    fine = h3.latlng_to_cell(*SUMMIT, 15)
    text = ("\ufeff# hand-written\n"
            "name, lat ,lon,cell,region,height_m\n"
            "by-latlon,44.2706,-71.3033,,eu868,\n"
            "\n"
            "  # a comment between rows\n"
            f"by-coarse-cell,,,{coarse},,5\n"
            f"by-fine-cell,,,{fine},,\n"
            f"both-agree,44.2706,-71.3033,{coarse},,\n")
    w = World.from_csv(_write(tmp_path, text))
    assert w.names == ("by-latlon", "by-coarse-cell", "by-fine-cell", "both-agree")
    assert w.cells[0] == SUMMIT_CELL and w.regions[:2] == ("EU868", "US915")
    centre = h3.cell_to_latlng(coarse)
    assert w.cells[1] == h3.str_to_int(h3.latlng_to_cell(*centre, 12))
    assert w.cells[2] == h3.str_to_int(h3.latlng_to_cell(*h3.cell_to_latlng(fine), 12))
    assert w.cells[3] == SUMMIT_CELL  # lat/lon place it; the coarse cell only checks
    assert w.height_m.tolist() == [10.0, 5.0, 10.0, 10.0]
    assert w.noise_figure_db.tolist() == [6.0] * 4


def test_world_files_are_station_files_with_their_errors(tmp_path):
    """The checks are the station reader's (tests/test_hotspots.py has them all)."""
    bad = _write(tmp_path, HEADER + "a,44,-71,,10,3,20,US915,6\nb,44,-71,,ten,3,20,US915,6\n")
    assert "world.csv line 3 ('b'): height_m is 'ten', not a number" in _error(World.from_csv,
                                                                               bad)
    assert "no such station file" in _error(World.from_csv, tmp_path / "nope.csv")
    data = {"type": "FeatureCollection", "features": [_feature({"name": "a", "region": "XX"})]}
    assert "w.geojson feature 0 ('a'): region:" in _error(
        World.from_geojson, _write(tmp_path, json.dumps(data), "w.geojson"))


# --- GeoJSON ------------------------------------------------------------------------------


def test_geojson_round_trip_is_byte_identical(tmp_path):
    w = World([*clustered(30, seed=4, antenna_height_m=3.5).hotspots, _hs("ünï \"q\"", *SUMMIT)])
    first = tmp_path / "a.geojson"
    w.to_geojson(first)
    data = json.loads(first.read_text(encoding="utf-8"))
    assert data["type"] == "FeatureCollection" and len(data["features"]) == 31
    feature = data["features"][-1]
    assert feature["geometry"] == {"type": "Point",
                                   "coordinates": [w.lon_deg[-1], w.lat_deg[-1]]}
    assert feature["properties"] == {"name": "ünï \"q\"", "cell": h3.int_to_str(SUMMIT_CELL),
                                     "height_m": 10.0, "gain_dbi": 3.0, "tx_power_dbm": 20.0,
                                     "region": "US915", "noise_figure_db": 6.0}
    again = World.from_geojson(first)
    assert again == w
    second = tmp_path / "b.geojson"
    again.to_geojson(second)
    assert first.read_bytes() == second.read_bytes()


def _feature(props: dict | None, coords=(-71.3033, 44.2706)) -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(coords)},
            "properties": props}


def test_geojson_from_other_tools(tmp_path):
    coarse = h3.latlng_to_cell(*SUMMIT, 7)
    data = {"type": "FeatureCollection", "features": [
        _feature({"name": "plain", "owner": "x", "height_m": None}, (-71.3033, 44.2706, 1917)),
        _feature({"name": "checked", "cell": coarse, "region": "eu868", "gain_dbi": 2}),
        {"type": "Feature", "geometry": None, "properties": {"name": "by-cell", "cell": coarse}},
    ]}
    path = _write(tmp_path, json.dumps(data), "w.geojson")
    w = World.from_geojson(path)
    assert w.cells[0] == SUMMIT_CELL and w.height_m[0] == 10.0
    assert w.cells[1] == SUMMIT_CELL
    assert w.cells[2] == h3.str_to_int(h3.latlng_to_cell(*h3.cell_to_latlng(coarse), 12))
    assert w.regions == ("US915", "EU868", "US915") and w.gain_dbi.tolist() == [3.0, 2.0, 3.0]


# --- generators ---------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda seed: uniform(300, seed=seed, region="eu868"),
    lambda seed: clustered(300, seed=seed),
    lambda seed: clustered(300, towns=[(10.0, 179.99, 1.0), (10.0, -179.99, 3.0)], seed=seed),
])
def test_generators_are_deterministic(tmp_path, make):
    a, b, c = make(1), make(1), make(2)
    assert a == b and a != c
    a.to_csv(tmp_path / "a.csv")
    b.to_csv(tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert a.names[0] == "hs-00000" and a.names[-1] == "hs-00299"


def test_generator_parameters_apply_to_every_hotspot():
    w = uniform(4, radius_km=1.0, antenna_height_m=30.0, antenna_gain_dbi=5.0,
                tx_power_dbm=14.0, region="au915", noise_figure_db=3.0)
    assert set(w.hotspots) == {dataclasses.replace(w.hotspots[0], name=n, cell=c, lat_deg=None,
                                                   lon_deg=None)
                               for n, c in zip(w.names, w.cells.tolist(), strict=True)}
    assert w.hotspots[0].region == "AU915" and w.hotspots[0].antenna_height_m == 30.0


@pytest.mark.parametrize(("call", "message"), [
    (lambda: uniform(0), "n is 0"),
    (lambda: uniform(True), "n is True"),
    (lambda: uniform(3, antenna=2), "unknown station parameter(s) antenna"),
    (lambda: uniform(3, center=(91.0, 0.0)), "lat is 91"),
    (lambda: uniform(3, center=(44.0, -71.0, 0.0)), "center is (44.0, -71.0, 0.0)"),
    (lambda: uniform(3, radius_km=0.0), "radius_km is 0; it must be > 0"),
    (lambda: uniform(3, density_per_km2=-1.0), "density_per_km2 is -1"),
    (lambda: clustered(3, towns=[]), "at least one town"),
    (lambda: clustered(3, towns=[(44.0, -71.0, 0.0)]), "at least one town with a weight > 0"),
    (lambda: clustered(3, towns=[(44.0, -71.0)]), "give a sequence of (lat, lon, weight)"),
    (lambda: clustered(3, towns=[(44.0, -71.0, -1.0)]), "weight is -1"),
    (lambda: clustered(3, spread_km=-1.0), "spread_km is -1"),
    (lambda: on_dem(3, "dem/"), "terrain must be a coverage_net.radio.Terrain"),
    (lambda: on_dem(3, Terrain.flat()), "a terrain without tiles covers no part of bbox"),
    (lambda: on_dem(3, Terrain.flat(), bbox=(45.0, 44.0, -72.0, -71.0)), "lat_min < lat_max"),
    (lambda: on_dem(3, Terrain.flat(), bbox=(44.0, 45.0)), "give (lat_min, lat_max"),
    (lambda: on_dem(3, Terrain.flat(), prefer_high=1.5), "prefer_high is 1.5"),
])
def test_generator_errors(call, message):
    with pytest.raises(WorldError) as info:
        call()
    assert message in str(info.value)


@pytest.mark.parametrize(("defaults", "message"), [
    ({"region": "XX"}, "not a known region"),
    ({"antenna_height_m": -5}, "antenna_height_m is -5"),
])
def test_bad_station_defaults_of_a_generator_are_station_errors(defaults, message):
    with pytest.raises(StationError, match=message):
        uniform(3, **defaults)


def test_uniform_fills_its_disk_evenly():
    center = (44.5, -71.5)
    w = uniform(4_000, center=center, density_per_km2=0.5, seed=3)
    radius_m = math.sqrt(4_000 / 0.5 / math.pi) * 1e3  # 50.5 km
    origin = World([_hs("origin", *center)])
    d = EARTH_RADIUS_M * np.arccos(np.clip(w.sites.xyz @ origin.sites.xyz[0], -1, 1))
    assert d.max() <= radius_m + 20.0  # cell-centre snapping moves points by < 10 m
    assert d.max() > 0.99 * radius_m
    # area-uniform: a quarter inside half the radius, 3/4 inside radius*sqrt(3)/2
    assert abs(np.mean(d < radius_m / 2) - 0.25) < 0.03
    assert abs(np.mean(d < radius_m * math.sqrt(3) / 2) - 0.75) < 0.03
    # and no direction preferred: about half east of the centre
    assert abs(np.mean(w.lon_deg > center[1]) - 0.5) < 0.04
    explicit = uniform(500, center=center, radius_km=2.0, seed=3)
    spread = EARTH_RADIUS_M * np.arccos(np.clip(explicit.sites.xyz @ origin.sites.xyz[0], -1, 1))
    assert spread.max() <= 2_020.0


def test_uniform_on_a_large_cap_and_across_the_antimeridian():
    w = uniform(2_000, center=(0.0, 180.0), radius_km=5_000.0, seed=1)
    assert (w.lon_deg > 0).any() and (w.lon_deg < 0).any()
    assert np.all(np.abs(w.lon_deg) >= 180.0 - 5_000.0 / 111.19 - 0.1)


def test_clustered_follows_town_weights_and_spread():
    towns = [(44.2, -71.8, 3.0), (44.8, -71.2, 1.0)]
    w = clustered(4_000, towns=towns, spread_km=2.0, seed=8)
    probes = World([_hs("t0", *towns[0][:2]), _hs("t1", *towns[1][:2])])
    d = np.stack([EARTH_RADIUS_M * np.arccos(np.clip(w.sites.xyz @ probes.sites.xyz[k], -1, 1))
                  for k in range(2)])
    nearest = d.min(axis=0)
    assert abs(np.mean(d[0] < d[1]) - 0.75) < 0.03
    # 2-D Gaussian with sigma 2 km: the median distance is sigma * sqrt(2 ln 2) = 2.35 km
    assert abs(np.median(nearest) - 2_000.0 * math.sqrt(2 * math.log(2))) < 150.0
    assert nearest.max() < 2_000.0 * 6
    default = clustered(2_000, seed=0)
    assert all(44.0 < lat < 45.0 and -72.0 < lon < -71.0 for lat, lon, _ in DEFAULT_TOWNS)
    assert 43.9 < default.lat_deg.min() and default.lat_deg.max() < 45.1
    assert -72.1 < default.lon_deg.min() and default.lon_deg.max() < -70.9
    assert clustered(5, towns=[(44.0, -71.0, 1.0)], spread_km=0.0).cells.tolist() \
        == [h3.str_to_int(h3.latlng_to_cell(44.0, -71.0, 12))] * 5


def test_on_dem_prefers_high_ground_on_the_real_tile(dem_dir):
    terrain = Terrain(dem_dir)
    bbox = (44.05, 44.95, -71.95, -71.05)
    flat = on_dem(400, terrain, seed=6)
    high = on_dem(400, terrain, seed=6, prefer_high=1.0, antenna_height_m=2.0)
    assert on_dem(400, terrain, seed=6) == flat
    for w in (flat, high):
        assert np.all((w.lat_deg > bbox[0] - 1e-3) & (w.lat_deg < bbox[1] + 1e-3))
        assert np.all((w.lon_deg > bbox[2] - 1e-3) & (w.lon_deg < bbox[3] + 1e-3))
    assert np.all(high.height_m == 2.0)  # antenna height above ground, not elevation
    z_flat = terrain.elevation_m(flat.lat_deg, flat.lon_deg)
    z_high = terrain.elevation_m(high.lat_deg, high.lon_deg)
    assert z_high.mean() > z_flat.mean() + 60.0  # 645 m against 533 m
    halfway = on_dem(400, terrain, seed=6, prefer_high=0.5)
    z_halfway = terrain.elevation_m(halfway.lat_deg, halfway.lon_deg)
    assert z_flat.mean() < z_halfway.mean() < z_high.mean()


def test_on_dem_keeps_to_the_tile_when_the_box_overhangs_it(dem_dir):
    terrain = Terrain(dem_dir)
    w = on_dem(200, terrain, bbox=(44.5, 45.5, -71.5, -70.5), seed=1)
    assert terrain.covers(w.lat_deg, w.lon_deg).all()
    assert w.lat_deg.max() <= 45.0 + 1e-3 and w.lon_deg.max() <= -71.0 + 1e-3
