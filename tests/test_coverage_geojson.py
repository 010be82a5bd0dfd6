"""The fast coverage output is still right: h3's own geometry, RFC 7946 GeoJSON, GDAL opens it.

Cell centres and boundaries come from a fitted map per icosahedron face (`_cellgeom`),
features are formatted as byte columns (`_geojson`), class outlines come from cancelled
cell edges (`_outline`); each is checked here against h3, shapely and GDAL.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import h3
import numpy as np
import pytest
import shapely
from h3.api import basic_int as h3i
from h3.api import numpy_int as h3n
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import shape

from coverage_net.coverage import (
    DEFAULT_CLASSES,
    PredictionSettings,
    predict_coverage,
    write_coverage,
)
from coverage_net.coverage._cellgeom import cell_geometry
from coverage_net.coverage._geojson import hex_feature_text, polygons_text
from coverage_net.coverage._outline import Outline, outline
from coverage_net.radio import Hata, Station

OPEN = Hata("open")


def _disk(lat: float, lon: float, res: int, k: int) -> np.ndarray:
    return np.asarray(h3n.grid_disk(h3n.latlng_to_cell(lat, lon, res), k), dtype=np.uint64)


def _lon_diff(a, b):
    return np.abs((np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0)


@pytest.mark.parametrize(("lat", "lon", "res", "k"), [
    (44.27, -71.30, 8, 40),  # the White Mountains, Class II
    (44.27, -71.30, 9, 40),  # Class III
    (44.27, -71.30, 10, 30),
    (-58.0, 150.0, 7, 40),  # across an icosahedron edge: distortion vertices
    (25.0, -100.0, 5, 30),  # several base cells
    (64.7, 10.536, 7, 30),  # around a pentagon
    (0.0, 0.0, 9, 10),  # a pentagon base cell: all through h3
    (-16.85, 179.97, 8, 30),  # across the antimeridian
], ids=["wm-r8", "wm-r9", "wm-r10", "face-edge", "base-cells", "pentagon", "pent-base",
        "antimeridian"])
def test_cell_geometry_equals_h3(lat, lon, res, k):
    cells = _disk(lat, lon, res, k)
    geometry = cell_geometry(cells)
    centres = cell_geometry(cells, vertices=False)
    for row, cell in enumerate(cells.tolist()):
        want_lat, want_lon = h3i.cell_to_latlng(cell)
        for got in (geometry, centres):
            assert abs(got.lat_deg[row] - want_lat) < 1e-9
            assert _lon_diff(got.lon_deg[row], want_lon) < 1e-9
        want = np.array(h3i.cell_to_boundary(cell))
        if row in geometry.irregular:
            assert len(want) != 6
            np.testing.assert_allclose(geometry.irregular[row], want, atol=1e-9)
        else:
            assert len(want) == 6  # same vertices, same first vertex, same direction
            np.testing.assert_allclose(geometry.vertex_lat_deg[row], want[:, 0], atol=1e-9)
            assert _lon_diff(geometry.vertex_lon_deg[row], want[:, 1]).max() < 1e-9
            assert geometry.area_sr[row] == pytest.approx(h3i.cell_area(cell, "rads^2"),
                                                          rel=1e-9)


def test_numbers_are_json_numbers_rounded_half_to_even():
    values = np.array([-71.30331234, 0.0, -1e-9, 5.5, -5.5, 179.99999999, -180.0, 99.99999996,
                       -9.99999999, 44.0, 0.00000005, -0.00000015])
    # outline rings: two polygons, the first with a hole, each ring closed in the text
    xy = np.stack([values, values[::-1]], axis=-1)
    rings = json.loads(polygons_text(Outline(xy, np.array([0, 4, 8, 12]), np.array([0, 2, 3]))))
    assert [len(polygon) for polygon in rings] == [2, 1]
    flat = [ring for polygon in rings for ring in polygon]
    for r, ring in enumerate(flat):
        assert len(ring) == 5 and ring[0] == ring[-1]
        for k, (x, y) in enumerate(ring[:4]):
            assert x == pytest.approx(round(xy[4 * r + k, 0], 7), abs=1e-12)
            assert y == pytest.approx(round(xy[4 * r + k, 1], 7), abs=1e-12)
    # the compiled cell formatter: the same numbers, each corner where it belongs
    n = len(values)
    lon = np.repeat(values[:, None], 6, axis=1) + np.arange(6) * 1e-7
    lat = -lon / 2.0
    rssi = np.array([-105.125, -0.001, 12.345, -99.995, 0.0, -150.0, 1e-3, -7.5, 3.0, -0.005,
                     200.125, -1000.0])
    count = np.arange(n, dtype=np.int64) * 7919
    names = ["summit", 'quote " and \\ back', "ünïcode"]
    owner = np.arange(n) % len(names)
    cells = np.asarray(h3n.grid_disk(h3n.latlng_to_cell(44.27, -71.3, 9), 2), np.uint64)[:n]
    text = bytes(hex_feature_text(lon, lat, cells, rssi, count, owner, names))
    assert text.startswith(b",\n")
    features = json.loads(b"[" + text[2:] + b"]")
    assert len(features) == n
    for row, feature in enumerate(features):
        ring = feature["geometry"]["coordinates"][0]
        assert len(ring) == 7 and ring[0] == ring[-1]
        for k in range(6):
            assert ring[k][0] == pytest.approx(round(lon[row, k], 7), abs=1e-12)
            assert ring[k][1] == pytest.approx(round(lat[row, k], 7), abs=1e-12)
        props = feature["properties"]
        assert props["cell"] == h3.int_to_str(int(cells[row]))
        assert props["best_rssi_dbm"] == pytest.approx(float(np.round(rssi[row], 2)), abs=1e-12)
        assert props["hotspots"] == count[row]
        assert props["best_hotspot"] == names[owner[row]]
    with pytest.raises(ValueError, match="JSON"):
        hex_feature_text(lon[:2], lat[:2], cells[:2], [1.0, np.inf], count[:2], owner[:2], names)
    with pytest.raises(ValueError, match="finite degrees"):
        hex_feature_text(lon[:2] * np.nan, lat[:2], cells[:2], rssi[:2], count[:2], owner[:2],
                         names)


def _hotspot(name, lat, lon, region="US915", tx_power_dbm=20.0):
    return Station(name, lat_deg=lat, lon_deg=lon, antenna_height_m=15.0,
                   antenna_gain_dbi=3.0, tx_power_dbm=tx_power_dbm, region=region)


@pytest.fixture(scope="module", params=["white-mountains", "antimeridian"])
def written(request, tmp_path_factory):
    if request.param == "white-mountains":
        hotspots = [_hotspot("summit", 44.2706, -71.3033), _hotspot("gorham", 44.3878, -71.1734)]
        settings = PredictionSettings(res=8, max_range_km=12.0)
    else:  # Taveuni, Fiji: the 180th meridian runs across the island
        hotspots = [_hotspot("taveuni", -16.85, 179.98, region="AU915"),
                    _hotspot("wainiyaku", -16.80, -179.99, region="AU915")]
        settings = PredictionSettings(res=8, max_range_km=8.0)
    cmap = predict_coverage(hotspots, OPEN, settings)
    out = tmp_path_factory.mktemp(request.param)
    write_coverage(cmap, out, model_name=OPEN.name)
    return request.param, cmap, out


def _load(path):
    def no_constant(name):
        raise AssertionError(f"{path.name} holds {name}, which is not JSON")
    return json.loads(path.read_text(encoding="utf-8"), parse_constant=no_constant)


def _polygons(geometry: dict) -> list:
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"]]
    assert geometry["type"] == "MultiPolygon"
    return geometry["coordinates"]


def _check_rfc7946(geometry: dict) -> None:
    """Counter-clockwise exteriors, clockwise holes, closed rings, lon/lat in range."""
    for polygon in _polygons(geometry):
        for i, ring in enumerate(polygon):
            xy = np.array(ring)
            assert len(xy) >= 4 and np.array_equal(xy[0], xy[-1])
            assert np.all(np.abs(xy[:, 0]) <= 180.0) and np.all(np.abs(xy[:, 1]) <= 90.0)
            assert shapely.LinearRing(xy).is_ccw == (i == 0)
    assert shape(geometry).is_valid


def test_cells_are_h3_boundaries_in_rfc7946_order(written):
    case, cmap, out = written
    features = _load(out / "cells.geojson")["features"]
    assert len(features) == len(cmap.cells) > 0
    by_cell = dict(zip(cmap.cells.tolist(), cmap.best_rssi_dbm.tolist(), strict=True))
    split = 0
    for feature in features:
        cell = h3i.str_to_int(feature["properties"]["cell"])
        assert feature["properties"]["best_rssi_dbm"] == pytest.approx(by_cell.pop(cell),
                                                                       abs=0.005)
        geometry = feature["geometry"]
        _check_rfc7946(geometry)
        want = np.array(h3i.cell_to_boundary(cell))[:, ::-1]  # lon, lat
        if geometry["type"] == "Polygon":
            ring = np.array(geometry["coordinates"][0])[:-1]
            assert len(ring) == len(want)
            assert np.abs(ring[:, 1] - want[:, 1]).max() < 1e-7
            assert _lon_diff(ring[:, 0], want[:, 0]).max() < 1e-7
        else:  # cut at the antimeridian: every corner of h3's is a corner of a part
            split += 1
            corners = np.concatenate([np.array(p[0]) for p in _polygons(geometry)])
            for lon, lat in want:
                gap = np.abs(corners[:, 1] - lat) + _lon_diff(corners[:, 0], lon)
                assert gap.min() < 2e-7
            assert shape(geometry).area == pytest.approx(
                shapely.Polygon(np.c_[want[:, 0] % 360.0, want[:, 1]]).area, rel=1e-4)
    assert by_cell == {}
    assert (split > 0) == (case == "antimeridian")


def test_class_outlines_cover_exactly_their_cells(written):
    case, cmap, out = written
    features = _load(out / "coverage_classes.geojson")["features"]
    cells = _load(out / "cells.geojson")["features"]
    assert sum(f["properties"]["cells"] for f in features) == len(cmap.cells)
    bounds = {c.name: c for c in DEFAULT_CLASSES}
    for feature in features:
        _check_rfc7946(feature["geometry"])
        cls = bounds[feature["properties"]["class"]]
        mine = [shape(c["geometry"]) for c in cells
                if cls.min_rssi_dbm <= c["properties"]["best_rssi_dbm"] < cls.max_rssi_dbm]
        assert len(mine) == feature["properties"]["cells"]
        union = shapely.union_all(mine)
        outline = shape(feature["geometry"])
        # equal up to the 1e-7 degree rounding of the written corners
        assert outline.symmetric_difference(union).area < 1e-6 * union.area


@pytest.mark.skipif(shutil.which("ogrinfo") is None,
                    reason="GDAL's ogrinfo not installed (apt-get install gdal-bin)")
def test_gdal_opens_every_geojson_written(written):
    _, cmap, out = written
    for name in ("cells.geojson", "coverage_classes.geojson"):
        proc = subprocess.run(["ogrinfo", "-ro", "-al", "-so", str(out / name)],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "ERROR" not in proc.stderr, proc.stderr
        count = len(_load(out / name)["features"])
        assert f"Feature Count: {count}" in proc.stdout
    assert f"Feature Count: {len(cmap.cells)}" in subprocess.run(
        ["ogrinfo", "-ro", "-al", "-so", str(out / "cells.geojson")], capture_output=True,
        text=True, check=False).stdout


_DISK_R9 = _disk(44.27, -71.30, 9, 8)


@settings(max_examples=60, deadline=None)
@given(keep=st.lists(st.booleans(), min_size=len(_DISK_R9), max_size=len(_DISK_R9)))
def test_the_compiled_outline_is_the_union_of_any_cell_set(keep):
    """Any subset of a disk of cells (islands, holes, cells touching at a corner):
    the outline is their union, outer rings counter-clockwise and holes clockwise."""
    cells = _DISK_R9[np.array(keep, dtype=bool)]
    geometry = cell_geometry(cells)
    shape_ = outline(geometry.vertex_lon_deg, geometry.vertex_lat_deg)
    if not len(cells):
        assert len(shape_) == 0
        return
    polygons = [shapely.Polygon(p[0], p[1:]) for p in shape_.polygons()]
    for p in polygons:
        assert p.is_valid and p.exterior.is_ccw
        assert all(not hole.is_ccw for hole in p.interiors)
    # the union of the corners as the outline takes them, rounded to 1e-7 degree
    corners = np.round(np.stack([geometry.vertex_lon_deg, geometry.vertex_lat_deg], -1), 7)
    union = shapely.union_all([shapely.Polygon(c) for c in corners])
    got = shapely.MultiPolygon(polygons)
    assert got.symmetric_difference(union).area < 1e-9 * union.area
    assert len(polygons) == len(getattr(union, "geoms", [union]))


def test_rings_that_share_only_a_corner_are_refused():
    a = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="two outline edges"):
        outline(np.empty((0, 6)), np.empty((0, 6)), [a, a + 1.0])
