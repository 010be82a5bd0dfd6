"""Coverage prediction: physics sanity of the ring walk, combining hotspots, GeoJSON export.

Closed-form models (free space, Hata) keep most tests fast and independent of the DEM;
the terrain tests use the real NASADEM tile of the White Mountains.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import h3
import numpy as np
import pytest
import shapely
from shapely.geometry import Point, Polygon, shape

from coverage_net.coverage import (
    DEFAULT_CLASSES,
    CoverageError,
    PredictionSettings,
    combine,
    predict_coverage,
    predict_hotspot,
    write_coverage,
)
from coverage_net.radio import (
    FreeSpace,
    Hata,
    Sites,
    Station,
    Terrain,
    TerrainModel,
    path_loss_db,
    read_stations,
    sensitivity_dbm,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "white_mountains.csv"
MOUNT_WASHINGTON = (44.2706, -71.3033)
PINKHAM_NOTCH = (44.2570, -71.2530)
EARTH_RADIUS_M = 6371008.8
US915_MEAN_UPLINK_HZ = 908.6e6  # mean of the 64 125 kHz channels 902.3 .. 914.9 MHz
OPEN = Hata("open")
MAP_SETTINGS = PredictionSettings(res=7, max_range_km=20.0)


def _hotspot(lat_lon=MOUNT_WASHINGTON, *, name="h", tx_power_dbm=20.0, gain_dbi=3.0,
             height_m=10.0, region="US915") -> Station:
    return Station(name, lat_deg=lat_lon[0], lon_deg=lat_lon[1], antenna_height_m=height_m,
                   antenna_gain_dbi=gain_dbi, tx_power_dbm=tx_power_dbm, region=region)


def _distance_m(hotspot: Station, cells: np.ndarray) -> np.ndarray:
    """Great-circle distance from the hotspot to the cells' centres."""
    centres = np.array([h3.cell_to_latlng(h3.int_to_str(c)) for c in cells.tolist()])
    lat1, lon1 = math.radians(hotspot.lat_deg), math.radians(hotspot.lon_deg)
    lat2, lon2 = np.radians(centres[:, 0]), np.radians(centres[:, 1])
    a = (np.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a))


def _area_km2(cells) -> float:
    return sum(h3.cell_area(h3.int_to_str(c), unit="km^2") for c in np.asarray(cells).tolist())


def _as_dict(result) -> dict[int, float]:
    return dict(zip(result.cells.tolist(), result.rssi_dbm.tolist(), strict=True))


@pytest.fixture(scope="module")
def example_hotspots() -> list[Station]:
    return read_stations(EXAMPLE, enforce_eirp_limit=True)


@pytest.fixture(scope="module")
def per_hotspot(example_hotspots):
    """Each example hotspot predicted on its own (Hata open, res 7, 20 km)."""
    return [predict_hotspot(h, OPEN, MAP_SETTINGS) for h in example_hotspots]


@pytest.fixture(scope="module")
def coverage_map(example_hotspots):
    return predict_coverage(example_hotspots, OPEN, MAP_SETTINGS)


# --- settings and link budget ---------------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    {"res": -1}, {"res": 16}, {"max_range_km": 0.0}, {"max_range_km": -5.0},
    {"max_range_km": math.nan}, {"stop_after_empty_km": 0.0}, {"rx_height_m": -0.5},
    {"rx_height_m": math.nan},
])


def test_settings_reject_impossible_values(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(CoverageError, match=name):
        PredictionSettings(**kwargs)


def test_infinite_range_is_a_coverage_error():
    with pytest.raises(CoverageError, match="max_range_km"):
        predict_hotspot(_hotspot(), FreeSpace(),
                        PredictionSettings(res=5, max_range_km=math.inf))


def test_default_link_budget_is_the_regions_slowest_125khz_uplink():
    us = predict_hotspot(_hotspot(), FreeSpace(), PredictionSettings(res=7, max_range_km=2.0))
    assert us.spreading_factor == 10  # US915 DR0
    assert us.freq_hz == pytest.approx(US915_MEAN_UPLINK_HZ)
    assert us.sensitivity_dbm == pytest.approx(float(sensitivity_dbm(10, 125_000, 6.0)))

    eu = predict_hotspot(_hotspot((46.0, 7.0), tx_power_dbm=13.0, region="EU868"),
                         FreeSpace(), PredictionSettings(res=7, max_range_km=2.0))
    assert eu.spreading_factor == 12  # EU868 DR0
    assert eu.freq_hz == pytest.approx(868.3e6)  # mean of 868.1, 868.3, 868.5 MHz
    assert eu.sensitivity_dbm < us.sensitivity_dbm  # SF12 hears weaker signals than SF10


def test_faster_spreading_factor_reaches_fewer_cells():
    base = PredictionSettings(res=8, max_range_km=15.0)
    slow = predict_hotspot(_hotspot(), OPEN, base)
    fast = predict_hotspot(_hotspot(), OPEN, dataclasses.replace(base, spreading_factor=7))
    assert fast.spreading_factor == 7
    assert fast.sensitivity_dbm > slow.sensitivity_dbm
    assert set(fast.cells.tolist()) < set(slow.cells.tolist())


# --- physics sanity of one hotspot ----------------------------------------------------


@pytest.mark.parametrize("model", [FreeSpace(), Hata("open"), Hata("urban")],
                         ids=lambda m: type(m).__name__ + getattr(m, "environment", ""))


def test_reported_cells_match_the_path_loss_model(model):
    hotspot = _hotspot()
    settings = PredictionSettings(res=7, max_range_km=15.0)
    result = predict_hotspot(hotspot, model, settings)

    assert len(result.cells) > 0
    assert len(np.unique(result.cells)) == len(result.cells)
    assert {h3.get_resolution(h3.int_to_str(c)) for c in result.cells.tolist()} == {7}
    assert np.all(result.rssi_dbm >= result.sensitivity_dbm)
    distance = _distance_m(hotspot, result.cells)
    assert np.all(distance <= 15_000.0)
    assert result.max_range_m == pytest.approx(distance.max(), abs=1.0)
    # every RSSI is EIRP minus the model's loss for that cell, computed independently
    loss = path_loss_db(Sites.from_latlon(hotspot.lat_deg, hotspot.lon_deg),
                        Sites.from_cells([h3.int_to_str(c) for c in result.cells.tolist()]),
                        model, freq_hz=result.freq_hz, tx_height_m=hotspot.antenna_height_m,
                        rx_height_m=settings.rx_height_m)
    np.testing.assert_allclose(result.rssi_dbm, hotspot.eirp_dbm - loss, atol=1e-9)


def test_monotone_model_reports_exactly_the_cells_above_sensitivity():
    # Hata loss grows with distance, so the ring walk must find every covered cell
    hotspot = _hotspot(tx_power_dbm=0.0)
    settings = PredictionSettings(res=8, max_range_km=12.0)
    result = predict_hotspot(hotspot, OPEN, settings)

    center = h3.latlng_to_cell(hotspot.lat_deg, hotspot.lon_deg, 8)
    k = math.ceil(12_000 / (h3.average_hexagon_edge_length(8, unit="m") * math.sqrt(3))) + 2
    disk = np.array([h3.str_to_int(c) for c in h3.grid_disk(center, k)], dtype=np.uint64)
    disk = disk[_distance_m(hotspot, disk) <= 12_000.0]
    loss = path_loss_db(Sites.from_latlon(hotspot.lat_deg, hotspot.lon_deg),
                        Sites.from_cells([h3.int_to_str(c) for c in disk.tolist()]),
                        OPEN, freq_hz=result.freq_hz, tx_height_m=hotspot.antenna_height_m,
                        rx_height_m=settings.rx_height_m)
    expected = disk[hotspot.eirp_dbm - loss >= result.sensitivity_dbm]

    assert 0 < len(expected) < len(disk)  # the edge of coverage lies inside the range
    assert set(result.cells.tolist()) == set(expected.tolist())
    # the walk may stop early, after stop_after_empty_km of uncovered rings
    assert len(expected) < result.cells_evaluated <= len(disk)


@pytest.mark.parametrize(("model", "powers_dbm"), [
    (FreeSpace(), (-45.0, -35.0, -25.0, -15.0)),
    (Hata("open"), (-10.0, 0.0, 10.0, 27.0)),
], ids=["FreeSpace", "Hata-open"])


def test_stronger_transmitter_covers_a_superset(model, powers_dbm):
    settings = PredictionSettings(res=8, max_range_km=12.0)
    # below the lowest conducted power a station may have, the antenna loses the rest
    results = [predict_hotspot(_hotspot(tx_power_dbm=max(p, -30.0),
                                        gain_dbi=3.0 + min(p + 30.0, 0.0)), model, settings)
               for p in powers_dbm]
    cell_sets = [set(r.cells.tolist()) for r in results]
    areas = [_area_km2(r.cells) for r in results]
    for weak, strong in zip(cell_sets, cell_sets[1:], strict=False):
        assert weak <= strong
    assert all(a < b for a, b in zip(areas, areas[1:], strict=False))
    # on the cells both reach, the RSSI differs by exactly the power difference
    weak, strong = _as_dict(results[1]), _as_dict(results[3])
    assert all(strong[c] - weak[c] == pytest.approx(powers_dbm[3] - powers_dbm[1])
               for c in weak)


@pytest.mark.parametrize("model", [FreeSpace(), Hata("open")],
                         ids=lambda m: type(m).__name__)


def test_raising_max_range_never_removes_cells(model):
    results = [predict_hotspot(_hotspot(tx_power_dbm=0.0), model,
                               PredictionSettings(res=8, max_range_km=r))
               for r in (1.0, 3.0, 6.0, 12.0)]
    for near, far in zip(results, results[1:], strict=False):
        assert set(near.cells.tolist()) <= set(far.cells.tolist())
        far_rssi = _as_dict(far)
        assert all(far_rssi[c] == rssi for c, rssi in _as_dict(near).items())
    assert len(results[0].cells) < len(results[-1].cells)


def test_progress_reports_rings_done_out_of_a_fixed_total():
    calls = []
    settings = PredictionSettings(res=8, max_range_km=10.0)
    result = predict_hotspot(_hotspot(name="wash"), OPEN, settings,
                             progress=lambda *args: calls.append(args))
    assert calls and all(name == "wash" for name, _, _ in calls)
    totals = {total for _, _, total in calls}
    assert len(totals) == 1
    done = [d for _, d, _ in calls]
    assert done == sorted(done) and 0 < done[-1] <= totals.pop()
    assert len(result.cells) > 0


# --- terrain model on the real tile ----------------------------------------------------


@pytest.fixture(scope="module")
def terrain_model(dem_dir) -> TerrainModel:
    return TerrainModel(Terrain(dem_dir))


def test_terrain_every_cell_is_above_sensitivity(terrain_model):
    result = predict_hotspot(_hotspot(), terrain_model, PredictionSettings(res=7,
                                                                          max_range_km=15.0))
    assert len(result.cells) > 10
    assert np.all(result.rssi_dbm >= result.sensitivity_dbm)
    assert np.all(_distance_m(result.hotspot, result.cells) <= 15_000.0)


def test_summit_reaches_more_than_the_notch_below_it(terrain_model):
    settings = PredictionSettings(res=7, max_range_km=20.0)
    summit = predict_hotspot(_hotspot(MOUNT_WASHINGTON), terrain_model, settings)
    notch = predict_hotspot(_hotspot(PINKHAM_NOTCH), terrain_model, settings)
    # same radio, 1,300 m lower and boxed in by the Presidential Range and the Carters
    assert len(summit.cells) > 2 * len(notch.cells) > 0
    assert _area_km2(summit.cells) > 2 * _area_km2(notch.cells)


def test_terrain_raising_max_range_never_removes_cells(terrain_model):
    results = [predict_hotspot(_hotspot(), terrain_model, PredictionSettings(res=7,
                                                                            max_range_km=r))
               for r in (5.0, 12.0, 20.0)]
    for near, far in zip(results, results[1:], strict=False):
        assert set(near.cells.tolist()) <= set(far.cells.tolist())
    assert len(results[0].cells) < len(results[-1].cells)


def test_terrain_stronger_transmitter_covers_a_superset(terrain_model):
    settings = PredictionSettings(res=7, max_range_km=15.0)
    weak = predict_hotspot(_hotspot(tx_power_dbm=5.0), terrain_model, settings)
    strong = predict_hotspot(_hotspot(tx_power_dbm=27.0), terrain_model, settings)
    assert set(weak.cells.tolist()) < set(strong.cells.tolist())
    assert _area_km2(weak.cells) < _area_km2(strong.cells)


def test_terrain_prediction_is_deterministic(dem_dir, example_hotspots):
    settings = PredictionSettings(res=7, max_range_km=12.0)
    # a fresh Terrain each time: no cached mosaic shared between the runs
    first = predict_coverage(example_hotspots, TerrainModel(Terrain(dem_dir)), settings)
    second = predict_coverage(example_hotspots, TerrainModel(Terrain(dem_dir)), settings)
    one_thread = predict_coverage(example_hotspots, TerrainModel(Terrain(dem_dir)),
                                  dataclasses.replace(settings, num_threads=1))
    assert len(first.cells) > 0
    for other in (second, one_thread):
        assert np.array_equal(first.cells, other.cells)
        assert np.array_equal(first.best_rssi_dbm, other.best_rssi_dbm)
        assert np.array_equal(first.hotspot_count, other.hotspot_count)
        assert first.best_hotspot.tolist() == other.best_hotspot.tolist()


# --- combining hotspots ---------------------------------------------------------------


def test_combine_takes_best_rssi_count_and_strongest_hotspot(per_hotspot):
    cmap = combine(per_hotspot, 7)
    reached = {h.hotspot.name: _as_dict(h) for h in per_hotspot}
    union = set().union(*(set(d) for d in reached.values()))

    assert cmap.res == 7
    assert cmap.cells.dtype == np.uint64
    assert np.all(np.diff(cmap.cells.astype(np.int64)) > 0)  # sorted, unique
    assert set(cmap.cells.tolist()) == union
    assert cmap.hotspot_count.max() >= 3  # the example hotspots overlap
    for cell, best, count, name in zip(cmap.cells.tolist(), cmap.best_rssi_dbm.tolist(),
                                       cmap.hotspot_count.tolist(), cmap.best_hotspot.tolist(),
                                       strict=True):
        heard = {n: d[cell] for n, d in reached.items() if cell in d}
        assert count == len(heard)
        assert best == max(heard.values())
        assert name == max(heard, key=heard.get)


def test_predict_coverage_equals_combining_separate_predictions(per_hotspot, coverage_map):
    separate = combine(per_hotspot, 7)
    assert np.array_equal(coverage_map.cells, separate.cells)
    assert np.array_equal(coverage_map.best_rssi_dbm, separate.best_rssi_dbm)
    assert np.array_equal(coverage_map.hotspot_count, separate.hotspot_count)
    assert coverage_map.best_hotspot.tolist() == separate.best_hotspot.tolist()
    assert [h.hotspot.name for h in coverage_map.per_hotspot] == [
        h.hotspot.name for h in per_hotspot]


def test_combine_does_not_depend_on_hotspot_order(per_hotspot):
    forward = combine(per_hotspot, 7)
    backward = combine(per_hotspot[::-1], 7)
    assert np.array_equal(forward.cells, backward.cells)
    assert np.array_equal(forward.best_rssi_dbm, backward.best_rssi_dbm)
    assert np.array_equal(forward.hotspot_count, backward.hotspot_count)
    assert forward.best_hotspot.tolist() == backward.best_hotspot.tolist()


def test_combine_of_nothing_is_an_empty_map():
    # the weakest station there is, heard through a lossy receive antenna
    silent = predict_hotspot(_hotspot(tx_power_dbm=-30.0, gain_dbi=-20.0), OPEN,
                             PredictionSettings(res=7, max_range_km=5.0, rx_gain_dbi=-30.0))
    assert len(silent.cells) == 0 and silent.max_range_m == 0.0
    for cmap in (combine([], 7), combine([silent], 7)):
        assert len(cmap.cells) == len(cmap.best_rssi_dbm) == len(cmap.hotspot_count) == 0
        assert len(cmap.best_hotspot) == 0
        assert cmap.res == 7


# --- export ---------------------------------------------------------------------------


def _strict_json(path: Path):
    def no_constant(name):
        raise AssertionError(f"{path.name} holds {name}, which is not JSON")
    return json.loads(path.read_text(encoding="utf-8"), parse_constant=no_constant)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, coverage_map):
    out = tmp_path_factory.mktemp("export") / "nested" / "wm"  # parents get created
    paths = write_coverage(coverage_map, out, model_name=OPEN.name, dem=None)
    return out, paths


def test_write_coverage_writes_three_files_and_no_temporaries(exported):
    out, paths = exported
    assert paths == {"cells": out / "cells.geojson",
                     "classes": out / "coverage_classes.geojson",
                     "summary": out / "summary.json"}
    assert sorted(p.name for p in out.iterdir()) == [
        "cells.geojson", "coverage_classes.geojson", "summary.json"]


def test_cells_geojson_is_valid_and_in_lon_lat_order(exported, coverage_map):
    out, _ = exported
    doc = _strict_json(out / "cells.geojson")
    assert doc["type"] == "FeatureCollection"
    features = doc["features"]
    assert len(features) == len(coverage_map.cells) > 0
    names = {"mt-washington", "gorham", "north-conway", "bretton-woods", "lincoln"}
    by_cell = {h3.int_to_str(c): (rssi, count, best) for c, rssi, count, best in zip(
        coverage_map.cells.tolist(), coverage_map.best_rssi_dbm.tolist(),
        coverage_map.hotspot_count.tolist(), coverage_map.best_hotspot.tolist(), strict=True)}
    for feature in features:
        assert feature["type"] == "Feature"
        geometry = feature["geometry"]
        assert geometry["type"] == "Polygon"
        (ring,) = geometry["coordinates"]
        assert len(ring) == 7 and ring[0] == ring[-1]  # hexagon, closed
        for lon, lat in ring:
            assert -72.5 < lon < -70.0 and 43.5 < lat < 45.0
        props = feature["properties"]
        assert set(props) == {"cell", "best_rssi_dbm", "hotspots", "best_hotspot"}
        cell = props["cell"]
        assert h3.is_valid_cell(cell) and h3.get_resolution(cell) == 7
        lat, lon = h3.cell_to_latlng(cell)
        polygon = Polygon(ring)
        assert polygon.is_valid and polygon.contains(Point(lon, lat))
        rssi, count, best = by_cell.pop(cell)
        assert props["best_rssi_dbm"] == pytest.approx(rssi, abs=0.005)
        assert props["hotspots"] == count and isinstance(props["hotspots"], int)
        assert props["best_hotspot"] == best and best in names
    assert by_cell == {}  # every cell exactly once


def test_class_polygons_partition_the_covered_cells(exported):
    out, _ = exported
    classes = _strict_json(out / "coverage_classes.geojson")
    cells = _strict_json(out / "cells.geojson")["features"]
    summary = _strict_json(out / "summary.json")
    assert classes["type"] == "FeatureCollection"
    features = classes["features"]
    assert [f["properties"]["class"] for f in features] == [c.name for c in DEFAULT_CLASSES]

    geometries = [shape(f["geometry"]) for f in features]
    for feature, geometry in zip(features, geometries, strict=True):
        assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
        assert geometry.is_valid and not geometry.is_empty
        lon_min, lat_min, lon_max, lat_max = geometry.bounds
        assert -72.5 < lon_min < lon_max < -70.0 and 43.5 < lat_min < lat_max < 45.0
    assert sum(f["properties"]["cells"] for f in features) == summary["cells_covered"]
    total_km2 = sum(f["properties"]["area_km2"] for f in features)
    assert total_km2 == pytest.approx(summary["area_km2"], rel=1e-3)

    # each cell lies in the one class whose RSSI bounds hold its RSSI, and in no other
    hexes = {i: [] for i in range(len(features))}
    for cell in cells:
        rssi = cell["properties"]["best_rssi_dbm"]
        lo_hi = [(f["properties"]["min_rssi_dbm"], f["properties"]["max_rssi_dbm"])
                 for f in features]
        (index,) = [i for i, (lo, hi) in enumerate(lo_hi)
                    if (lo is None or rssi >= lo) and (hi is None or rssi < hi)]
        hexes[index].append(Polygon(cell["geometry"]["coordinates"][0]))
    for i, geometry in enumerate(geometries):
        assert features[i]["properties"]["cells"] == len(hexes[i])
        union_of_hexes = shapely.union_all(hexes[i])
        assert geometry.symmetric_difference(union_of_hexes).area < 1e-9 * geometry.area
    for i, a in enumerate(geometries):
        for b in geometries[i + 1:]:
            assert a.intersection(b).area < 1e-9 * a.area


def test_class_bounds_are_null_where_open_ended(exported):
    out, _ = exported
    props = {f["properties"]["class"]: f["properties"]
             for f in _strict_json(out / "coverage_classes.geojson")["features"]}
    assert (props["excellent"]["min_rssi_dbm"], props["excellent"]["max_rssi_dbm"]) == (
        -100.0, None)
    assert (props["marginal"]["min_rssi_dbm"], props["marginal"]["max_rssi_dbm"]) == (
        None, -120.0)
    assert (props["good"]["min_rssi_dbm"], props["good"]["max_rssi_dbm"]) == (-110.0, -100.0)


def test_summary_describes_the_prediction(exported, coverage_map, example_hotspots):
    out, _ = exported
    summary = _strict_json(out / "summary.json")
    assert summary["model"] == "hata-open"
    assert summary["dem"] is None
    assert summary["res"] == 7
    assert summary["cells_covered"] == len(coverage_map.cells)
    assert summary["area_km2"] == pytest.approx(_area_km2(coverage_map.cells), abs=1e-3)
    by_count = summary["cells_by_hotspot_count"]
    assert sum(by_count.values()) == summary["cells_covered"]
    assert by_count == {str(k): int((coverage_map.hotspot_count == k).sum())
                        for k in np.unique(coverage_map.hotspot_count).tolist()}
    assert [h["name"] for h in summary["hotspots"]] == [h.name for h in example_hotspots]
    for entry, hotspot, result in zip(summary["hotspots"], example_hotspots,
                                      coverage_map.per_hotspot, strict=True):
        assert (entry["lat"], entry["lon"]) == (hotspot.lat_deg, hotspot.lon_deg)
        assert entry["height_m"] == hotspot.antenna_height_m
        assert entry["eirp_dbm"] == pytest.approx(hotspot.eirp_dbm)
        assert entry["region"] == "US915"
        assert entry["spreading_factor"] == 10
        assert entry["freq_hz"] == pytest.approx(US915_MEAN_UPLINK_HZ)
        assert entry["sensitivity_dbm"] == pytest.approx(result.sensitivity_dbm, abs=0.005)
        assert entry["cells_reached"] == len(result.cells) > 0
        assert entry["cells_evaluated"] >= entry["cells_reached"]
        assert 0 < entry["max_range_km"] <= 20.0


def test_rewriting_replaces_the_files(tmp_path, coverage_map):
    write_coverage(coverage_map, tmp_path, model_name="first")
    write_coverage(coverage_map, tmp_path, model_name="second", dem="/data/dem")
    summary = _strict_json(tmp_path / "summary.json")
    assert (summary["model"], summary["dem"]) == ("second", "/data/dem")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cells.geojson", "coverage_classes.geojson", "summary.json"]


def test_empty_map_exports_empty_collections(tmp_path):
    write_coverage(combine([], 8), tmp_path, model_name="free-space")
    assert _strict_json(tmp_path / "cells.geojson") == {"type": "FeatureCollection",
                                                        "features": []}
    assert _strict_json(tmp_path / "coverage_classes.geojson")["features"] == []
    summary = _strict_json(tmp_path / "summary.json")
    assert (summary["cells_covered"], summary["area_km2"], summary["hotspots"]) == (0, 0, [])
    assert summary["cells_by_hotspot_count"] == {}


@pytest.mark.parametrize("gain", [math.inf, math.nan])
def test_settings_reject_non_finite_rx_gain(gain):
    with pytest.raises(CoverageError, match="rx_gain_dbi"):
        PredictionSettings(rx_gain_dbi=gain)


def test_failed_export_leaves_no_temporary_file(tmp_path, coverage_map):
    unwritable = dataclasses.replace(
        coverage_map, best_rssi_dbm=np.full(len(coverage_map.cells), np.inf))
    with pytest.raises(ValueError, match="JSON"):
        write_coverage(unwritable, tmp_path, model_name="hata-open")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_cells_outside_the_dem_are_left_out_by_default(dem_dir):
    from coverage_net.radio import Terrain, TerrainModel

    terrain = Terrain(dem_dir)
    # North Conway sits 6 km from the tile's southern edge (44 N)
    hotspot = _hotspot((44.0537, -71.1284), name="conway", height_m=15.0)
    skip = predict_hotspot(hotspot, TerrainModel(terrain),
                           PredictionSettings(res=7, max_range_km=25.0))
    flat = predict_hotspot(hotspot, TerrainModel(terrain),
                           PredictionSettings(res=7, max_range_km=25.0, outside_dem="flat"))
    assert skip.cells_outside_dem > 0 and flat.cells_outside_dem == 0
    lat_lon = np.array([h3.cell_to_latlng(h3.int_to_str(c)) for c in skip.cells.tolist()])
    assert terrain.covers(lat_lon[:, 0], lat_lon[:, 1]).all()
    # the cells that "flat" adds are exactly cells off the DEM
    extra = np.setdiff1d(flat.cells, skip.cells)
    assert len(extra) > 0
    extra_ll = np.array([h3.cell_to_latlng(h3.int_to_str(c)) for c in extra.tolist()])
    assert not terrain.covers(extra_ll[:, 0], extra_ll[:, 1]).any()
    assert not skip.hotspot_outside_dem


def test_a_hotspot_off_the_dem_is_flagged(dem_dir):
    from coverage_net.radio import Terrain, TerrainModel

    hotspot = _hotspot((42.36, -71.06), name="boston", height_m=30.0)
    result = predict_hotspot(hotspot, TerrainModel(Terrain(dem_dir)),
                             PredictionSettings(res=6, max_range_km=20.0, outside_dem="flat"))
    assert result.hotspot_outside_dem


# --- the vectorised pipeline keeps the previous implementation's values ------------------


def test_prediction_equals_the_previous_implementation(dem_dir, example_hotspots):
    """RSSI per cell as the per-cell h3 implementation computed it (tests/vectors)."""
    want = json.loads((Path(__file__).parent / "vectors" / "predict_wm_res8_v1.json")
                      .read_text(encoding="utf-8"))["cells"]
    got = predict_coverage(example_hotspots, TerrainModel(Terrain(dem_dir)),
                           PredictionSettings(res=8, max_range_km=6.0))
    assert sorted(h3.int_to_str(c) for c in got.cells.tolist()) == sorted(want)
    for cell, rssi, count, best in zip(got.cells.tolist(), got.best_rssi_dbm.tolist(),
                                       got.hotspot_count.tolist(), got.best_hotspot.tolist(),
                                       strict=True):
        w_rssi, w_count, w_best = want[h3.int_to_str(cell)]
        # cell centres now come from a fitted map, equal to h3's to ~1e-13 degree (about
        # 1e-8 m), which moves the terrain model's answer by ~2e-9 dB
        assert rssi == pytest.approx(w_rssi, abs=1e-7)
        assert (count, best) == (w_count, w_best)
