"""Terrain: .hgt reading, void filling, mosaics, bilinear lookup, profiles."""

from __future__ import annotations

import logging
import math
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from coverage_net.radio._errors import DEMError, InvalidCoordinateError, ShapeMismatchError
from coverage_net.radio._terrain import (
    EARTH_RADIUS_M,
    HgtTile,
    Mosaic,
    Terrain,
    bilinear_elevation_m,
    read_hgt,
)

MOUNT_WASHINGTON = (44.2706, -71.3033)
PINKHAM_NOTCH = (44.257, -71.253)


def write_hgt(directory: Path, name: str, z: np.ndarray) -> Path:
    path = directory / name
    np.asarray(z).astype(">i2").tofile(path)
    return path


def grid_latlon(lat_south: int, lon_west: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Latitude/longitude of every sample of an n x n tile (row 0 north)."""
    k = np.arange(n)
    return np.meshgrid(lat_south + 1 - k / (n - 1), lon_west + k / (n - 1), indexing="ij")


@pytest.fixture
def plane_tiles(tmp_path: Path) -> Path:
    """2x2 3" tiles over 10-12 N, 20-22 E holding z = row + 2*col, in 3" steps from 12 N, 20 E
    (so shared edges agree and a duplicated row or column would show)."""
    for lat_s in (10, 11):
        for lon_w in (20, 21):
            lat, lon = grid_latlon(lat_s, lon_w, 1201)
            z = np.rint((12 - lat) * 1200) + 2 * np.rint((lon - 20) * 1200)
            write_hgt(tmp_path, f"N{lat_s:02d}E{lon_w:03d}.hgt", z)
    return tmp_path


# --- the real NASADEM tile --------------------------------------------------------------


def test_real_tile_shape_and_summit(dem_dir: Path) -> None:
    tile = read_hgt(dem_dir / "N44W072.hgt")
    assert isinstance(tile, HgtTile)
    assert (tile.lat_south_deg, tile.lon_west_deg, tile.samples) == (44, -72, 1201)
    assert tile.elevation_m.shape == (1201, 1201) and tile.elevation_m.dtype == np.float32
    z = tile.elevation_m
    r, c = np.unravel_index(np.argmax(z), z.shape)
    assert 1900 <= z.max() <= 1915
    assert abs((45 - r / 1200) - 44.27) < 0.01 and abs((-72 + c / 1200) + 71.30) < 0.01


def test_real_tile_points(dem_dir: Path) -> None:
    terrain = Terrain(dem_dir)
    assert terrain.tile_names == ["N44W072.hgt"] and terrain.has_data
    assert terrain.dem_dir == dem_dir
    assert terrain.elevation_m(*MOUNT_WASHINGTON) > 1800
    assert 580 < terrain.elevation_m(*PINKHAM_NOTCH) < 660  # ~617 m in NASADEM
    assert terrain.elevation_m(43.5, -71.5) == 0.0  # south of the tile: flat earth
    z = terrain.elevation_m([MOUNT_WASHINGTON[0], 43.5], [MOUNT_WASHINGTON[1], -73.0])
    assert z.shape == (2,) and z[0] > 1800 and z[1] == 0.0


def test_real_mosaic_is_clipped_to_the_box(dem_dir: Path) -> None:
    m = Terrain(dem_dir).mosaic(44.2, 44.4, -71.4, -71.2, margin_deg=0.0)
    assert m.elevation_m.shape == (241, 241)
    assert m.elevation_m.dtype == np.float32 and m.elevation_m.flags.c_contiguous
    assert m.lat_north_deg == pytest.approx(44.4) and m.lon_west_deg == pytest.approx(-71.4)
    assert m.step_deg == pytest.approx(1 / 1200)
    tile = read_hgt(dem_dir / "N44W072.hgt").elevation_m
    np.testing.assert_array_equal(m.elevation_m, tile[720:961, 720:961])
    wide = Terrain(dem_dir).mosaic(44.2, 44.4, -71.4, -71.2)  # default margin 0.01 deg
    assert wide.elevation_m.shape == (265, 265)


def test_real_mosaic_beyond_the_tile_is_zero(dem_dir: Path) -> None:
    m = Terrain(dem_dir).mosaic(43.9, 44.1, -71.1, -70.9, margin_deg=0.0)
    lat = m.lat_north_deg - np.arange(m.elevation_m.shape[0]) * m.step_deg
    lon = m.lon_west_deg + np.arange(m.elevation_m.shape[1]) * m.step_deg
    outside = (lat[:, None] < 44 - 1e-9) | (lon[None, :] > -71 + 1e-9)
    assert np.all(m.elevation_m[outside] == 0) and np.all(m.elevation_m[~outside] > 0)


def test_real_profile_over_mount_washington(dem_dir: Path) -> None:
    d, z = Terrain(dem_dir).profile(44.2706, -71.45, 44.2706, -71.15, 301)
    assert d.shape == z.shape == (301,)
    assert z.max() > 1800 and z.min() > 100


# --- bilinear lookup ---------------------------------------------------------------------


@pytest.fixture
def small_mosaic() -> Mosaic:
    e = np.arange(20, dtype=np.float32).reshape(4, 5) ** 1.5
    return Mosaic(np.ascontiguousarray(e, dtype=np.float32), 10.0, 20.0, 0.5)


def test_bilinear_at_grid_points_returns_samples(small_mosaic: Mosaic) -> None:
    r, c = np.meshgrid(np.arange(4), np.arange(5), indexing="ij")
    lat, lon = 10.0 - r * 0.5, 20.0 + c * 0.5
    np.testing.assert_array_equal(bilinear_elevation_m(small_mosaic, lat, lon),
                                  small_mosaic.elevation_m.astype(np.float64))


def test_bilinear_midpoint_is_the_mean(small_mosaic: Mosaic) -> None:
    e = small_mosaic.elevation_m.astype(np.float64)
    z = bilinear_elevation_m(small_mosaic, 10.0 - 1.5 * 0.5, 20.0 + 2.5 * 0.5)
    assert z == pytest.approx(e[1:3, 2:4].mean(), rel=1e-12)
    edge = bilinear_elevation_m(small_mosaic, 10.0 - 3 * 0.5, 20.0 + 3.5 * 0.5)  # last row
    assert edge == pytest.approx((e[3, 3] + e[3, 4]) / 2, rel=1e-12)


def test_bilinear_outside_is_flat_and_shapes_broadcast(small_mosaic: Mosaic) -> None:
    lat = np.array([[10.1], [8.4], [9.0]])  # north of, south of and inside the grid
    lon = np.array([20.5, 19.9, 22.1, 21.0])
    z = bilinear_elevation_m(small_mosaic, lat, lon)
    assert z.shape == (3, 4) and z.dtype == np.float64
    assert np.all(z[:2] == 0) and z[2, 1] == 0 and z[2, 2] == 0 and z[2, 0] > 0
    out = np.empty((3, 4))
    assert bilinear_elevation_m(small_mosaic, lat, lon, out=out) is out
    np.testing.assert_array_equal(out, z)
    assert np.ndim(bilinear_elevation_m(small_mosaic, 9.0, 21.0)) == 0
    assert math.isnan(bilinear_elevation_m(small_mosaic, math.nan, 21.0))
    with pytest.raises(ShapeMismatchError):
        bilinear_elevation_m(small_mosaic, [9.0, 9.1], [21.0, 21.1, 21.2])


@given(
    e=hnp.arrays(np.float32, (3, 4), elements=st.floats(-500, 9000, width=32)),
    fr=st.floats(0, 2, allow_nan=False),
    fc=st.floats(0, 3, allow_nan=False),
)
def test_bilinear_stays_within_the_surrounding_samples(e, fr, fc) -> None:
    m = Mosaic(e, 45.0, -72.0, 1 / 1200)
    z = float(bilinear_elevation_m(m, 45.0 - fr / 1200, -72.0 + fc / 1200))
    # the lookup recomputes fr/fc from degrees; take the cell it actually used
    r = (45.0 - (45.0 - fr / 1200)) * 1200
    c = ((-72.0 + fc / 1200) + 72.0) * 1200
    if not (0 <= r <= 2 and 0 <= c <= 3):
        assert z == 0.0
        return
    r0, c0 = min(math.floor(r), 1), min(math.floor(c), 2)
    cell = e[r0:r0 + 2, c0:c0 + 2].astype(np.float64)
    tol = 1e-9 * max(1.0, float(np.abs(cell).max()))
    assert cell.min() - tol <= z <= cell.max() + tol


def test_mosaic_rejects_bad_arrays() -> None:
    with pytest.raises(ValueError, match="float32"):
        Mosaic(np.zeros((2, 2)), 1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="2x2"):
        Mosaic(np.zeros((1, 5), np.float32), 1.0, 0.0, 1.0)


# --- synthetic tiles: stitching and resampling --------------------------------------------


def test_stitching_2x2_tiles_without_duplicate_edges(plane_tiles: Path) -> None:
    terrain = Terrain(plane_tiles)
    assert len(terrain.tile_names) == 4
    m = terrain.mosaic(10.0, 12.0, 20.0, 22.0, margin_deg=0.0)
    assert m.elevation_m.shape == (2401, 2401)
    assert (m.lat_north_deg, m.lon_west_deg) == (12.0, 20.0)
    r, c = np.meshgrid(np.arange(2401), np.arange(2401), indexing="ij")
    np.testing.assert_array_equal(m.elevation_m, r + 2 * c)


def test_stitching_sub_box_across_the_corner(plane_tiles: Path) -> None:
    terrain = Terrain(plane_tiles, max_cached_tiles=1)  # the LRU evicts, the mosaic still works
    m = terrain.mosaic(10.9, 11.1, 20.9, 21.1, margin_deg=0.0)
    e = m.elevation_m.astype(np.float64)
    assert m.elevation_m.shape == (241, 241)
    assert np.all(np.diff(e, axis=0) == 1) and np.all(np.diff(e, axis=1) == 2)
    r0 = round((12 - m.lat_north_deg) * 1200)
    c0 = round((m.lon_west_deg - 20) * 1200)
    assert e[0, 0] == r0 + 2 * c0
    # lookups across the tile border are continuous and follow the plane
    lat = np.linspace(10.95, 11.05, 101)
    z = terrain.elevation_m(lat, np.full_like(lat, 21.0))
    np.testing.assert_allclose(z, (12 - lat) * 1200 + 2400, atol=1e-6)


def test_mosaic_partly_outside_the_tiles_is_zero_there(plane_tiles: Path) -> None:
    m = Terrain(plane_tiles).mosaic(9.5, 10.5, 19.5, 20.5, margin_deg=0.0)
    assert m.elevation_m.shape == (1201, 1201)
    assert np.all(m.elevation_m[601:, :] == 0) and np.all(m.elevation_m[:, :600] == 0)
    assert np.all(m.elevation_m[:601, 600:] > 0)


def test_mixed_1_and_3_arcsecond_tiles_are_resampled(tmp_path: Path) -> None:
    # a ramp along longitude, 1 m per arc-second from 20 E, continued over both tiles
    lat, lon = grid_latlon(10, 20, 3601)
    write_hgt(tmp_path, "N10E020.hgt", np.rint((lon - 20) * 3600))
    lat, lon = grid_latlon(10, 21, 1201)
    write_hgt(tmp_path, "N10E021.hgt", np.rint((lon - 20) * 3600))
    terrain = Terrain(tmp_path)
    m = terrain.mosaic(10.4, 10.6, 20.9, 21.1, margin_deg=0.0)
    assert m.step_deg == pytest.approx(1 / 3600)
    assert m.elevation_m.shape == (721, 721)
    lon_m = m.lon_west_deg + np.arange(721) * m.step_deg
    np.testing.assert_allclose(m.elevation_m, np.broadcast_to((lon_m - 20) * 3600, (721, 721)),
                               atol=1e-3)
    only_3s = terrain.mosaic(10.4, 10.6, 21.2, 21.4)
    assert only_3s.step_deg == pytest.approx(1 / 1200)


def test_zipped_tile_reads_like_the_plain_one(tmp_path: Path) -> None:
    z = np.arange(1201 * 1201).reshape(1201, 1201) % 3000
    plain = write_hgt(tmp_path, "s01w002.hgt", z)
    with zipfile.ZipFile(tmp_path / "S01W002.hgt.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(plain, "S01W002.hgt")
    zipped = read_hgt(tmp_path / "S01W002.hgt.zip")
    assert (zipped.lat_south_deg, zipped.lon_west_deg) == (-1, -2)
    np.testing.assert_array_equal(zipped.elevation_m, read_hgt(plain).elevation_m)
    np.testing.assert_array_equal(zipped.elevation_m, z)


# --- void filling ------------------------------------------------------------------------


def test_void_hole_is_filled_plausibly(tmp_path: Path, caplog) -> None:
    r, c = np.meshgrid(np.arange(1201), np.arange(1201), indexing="ij")
    plane = 300 + 0.5 * r + 0.25 * c
    z = np.rint(plane)
    z[500:530, 600:620] = -32768
    z[0, 0] = -32768  # a corner void
    z[800, 800] = -32768  # a single void: the mean of its 8 neighbours
    with caplog.at_level(logging.INFO, logger="coverage_net.radio._terrain"):
        tile = read_hgt(write_hgt(tmp_path, "N10E020.hgt", z))
    e = tile.elevation_m.astype(np.float64)
    assert np.isfinite(e).all()
    hole = e[500:530, 600:620]
    ring = z[499:531, 599:621]
    assert ring[ring > -32768].min() <= hole.min() and hole.max() <= ring.max()
    assert np.abs(hole - plane[500:530, 600:620]).max() < 10
    around = np.delete(z[799:802, 799:802].ravel(), 4)
    assert e[800, 800] == pytest.approx(around.mean(), abs=1e-4)
    assert e[0, 0] == pytest.approx(np.mean([z[0, 1], z[1, 0], z[1, 1]]), abs=1e-4)
    assert any(getattr(rec, "voids_filled", 0) == 30 * 20 + 2 for rec in caplog.records)


def test_all_void_tile_is_zero_with_a_warning(tmp_path: Path, caplog) -> None:
    path = write_hgt(tmp_path, "N10E020.hgt", np.full((1201, 1201), -32768))
    with caplog.at_level(logging.WARNING, logger="coverage_net.radio._terrain"):
        tile = read_hgt(path)
    assert np.all(tile.elevation_m == 0)
    assert any(rec.levelno == logging.WARNING for rec in caplog.records)


# --- errors ------------------------------------------------------------------------------


def test_truncated_tile(tmp_path: Path) -> None:
    path = tmp_path / "N10E020.hgt"
    path.write_bytes(b"\0" * 1000)
    with pytest.raises(DEMError, match=r"1000 bytes.*2884802.*corrupt or truncated"):
        read_hgt(path)
    terrain = Terrain(tmp_path)  # indexing does not read the tile ...
    assert terrain.elevation_m(5.0, 5.0) == 0.0  # ... nor does a lookup elsewhere
    with pytest.raises(DEMError, match="N10E020.hgt"):
        terrain.elevation_m(10.5, 20.5)  # ... the first lookup that needs it does


def test_corrupt_values(tmp_path: Path) -> None:
    z = np.zeros((1201, 1201))
    z[3, 4] = 20000
    with pytest.raises(DEMError, match=r"corrupt.*20000.*row 3, column 4"):
        read_hgt(write_hgt(tmp_path, "N10E020.hgt", z))


@pytest.mark.parametrize("name", ["foo.hgt", "N95E020.hgt", "N10E200.hgt", "X10E020.hgt"])
def test_bad_file_names(tmp_path: Path, name: str) -> None:
    path = write_hgt(tmp_path, name, np.zeros((1201, 1201)))
    with pytest.raises(DEMError, match="N44W072.hgt"):
        read_hgt(path)
    with pytest.raises(DEMError, match=name):
        Terrain(tmp_path)


def test_zip_without_one_hgt(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "N10E020.hgt.zip", "w") as zf:
        zf.writestr("readme.txt", "nothing here")
    with pytest.raises(DEMError, match="exactly one .hgt"):
        read_hgt(tmp_path / "N10E020.hgt.zip")


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DEMError, match="does not exist"):
        Terrain(tmp_path / "nope")


def test_geotiff_without_rasterio(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "rasterio", None)  # makes `import rasterio` fail
    (tmp_path / "dem.tif").write_bytes(b"II*\0")
    terrain = Terrain(tmp_path)
    assert terrain.tile_names == ["dem.tif"]
    with pytest.raises(DEMError, match="pip install rasterio"):
        terrain.mosaic(0.0, 1.0, 0.0, 1.0)


def _write_geotiff(path: Path, band: np.ndarray, transform, epsg: int = 4326,
                   nodata: float | None = None) -> None:
    rasterio = pytest.importorskip("rasterio", reason="GeoTIFF tests need rasterio")
    with rasterio.open(path, "w", driver="GTiff", height=band.shape[0], width=band.shape[1],
                       count=1, dtype=band.dtype, crs=f"EPSG:{epsg}", transform=transform,
                       nodata=nodata) as dst:
        dst.write(band, 1)


def test_geotiff_tiles_are_read_through_rasterio(tmp_path: Path) -> None:
    rasterio = pytest.importorskip("rasterio", reason="GeoTIFF tests need rasterio")
    from rasterio.transform import Affine

    # pixel-is-area tile over 10-11 N, 20-21 E: 1200 x 1200 pixels, centres half a pixel in
    step = 1 / 1200
    lat_c = 11 - (np.arange(1200) + 0.5) * step
    lon_c = 20 + (np.arange(1200) + 0.5) * step
    plane = (100 + 1000 * (11 - lat_c)[:, None] + 500 * (lon_c - 20)[None, :]).astype(np.float32)
    plane[600, 600] = -9999.0  # a void, declared as nodata
    transform = Affine(step, 0, 20.0, 0, -step, 11.0)
    _write_geotiff(tmp_path / "dem.tif", plane, transform, nodata=-9999.0)
    terrain = Terrain(tmp_path)
    m = terrain.mosaic(10.4, 10.6, 20.4, 20.6)
    assert m.step_deg == pytest.approx(step)
    k = (11 - step / 2 - m.lat_north_deg) / step  # the grid sits on the pixel centres
    assert k == pytest.approx(round(k), abs=1e-6)
    lat = np.array([10.45, 10.5, 11 - 600.5 * step])
    lon = np.array([20.55, 20.5, 20 + 600.5 * step])
    np.testing.assert_allclose(terrain.elevation_m(lat, lon),
                               100 + 1000 * (11 - lat) + 500 * (lon - 20), atol=0.01)
    assert terrain.elevation_m(10.5, 21.5) == 0.0
    assert terrain.covers([10.5, 10.5], [20.5, 21.5]).tolist() == [True, False]
    assert rasterio.open(tmp_path / "dem.tif").nodata == -9999.0


def test_geotiff_in_a_projected_crs_is_refused(tmp_path: Path) -> None:
    Affine = pytest.importorskip("rasterio.transform").Affine
    _write_geotiff(tmp_path / "utm.tif", np.zeros((10, 10), np.float32),
                   Affine(30, 0, 300000, 0, -30, 4900000), epsg=32619)
    with pytest.raises(DEMError, match="EPSG:4326"):
        Terrain(tmp_path).mosaic(44.0, 44.1, -71.1, -71.0)


def test_geotiff_with_rectangular_pixels_is_refused(tmp_path: Path) -> None:
    Affine = pytest.importorskip("rasterio.transform").Affine
    _write_geotiff(tmp_path / "dem.tif", np.zeros((10, 10), np.float32),
                   Affine(0.01, 0, 20.0, 0, -0.005, 11.0))
    with pytest.raises(DEMError, match="square"):
        Terrain(tmp_path).mosaic(10.96, 10.99, 20.01, 20.05)


def test_geotiff_copy_of_the_real_tile_matches_the_hgt(dem_dir: Path, tmp_path: Path) -> None:
    Affine = pytest.importorskip("rasterio.transform").Affine
    tile = read_hgt(dem_dir / "N44W072.hgt")
    step = 1 / 1200
    # .hgt samples sit on grid points; a pixel-is-area GeoTIFF puts them at pixel centres
    transform = Affine(step, 0, -72.0 - step / 2, 0, -step, 45.0 + step / 2)
    _write_geotiff(tmp_path / "n44w072.tif", np.asarray(tile.elevation_m, np.float32), transform)
    from_tif = Terrain(tmp_path)
    from_hgt = Terrain(dem_dir)
    rng = np.random.default_rng(12)
    lat, lon = rng.uniform(44.01, 44.99, 500), rng.uniform(-71.99, -71.01, 500)
    np.testing.assert_allclose(from_tif.elevation_m(lat, lon), from_hgt.elevation_m(lat, lon),
                               atol=1e-3)


@pytest.mark.parametrize(
    "box",
    [
        (math.nan, 1.0, 0.0, 1.0),
        (0.0, 1.0, 0.0, math.inf),
        (-91.0, 1.0, 0.0, 1.0),
        (0.0, 1.0, 0.0, 181.0),
        (1.0, 0.0, 0.0, 1.0),
        (0.0, 1.0, 179.0, -179.0),
    ],
)
def test_mosaic_rejects_bad_boxes(box) -> None:
    with pytest.raises(InvalidCoordinateError):
        Terrain.flat().mosaic(*box)


def test_antimeridian_message() -> None:
    with pytest.raises(InvalidCoordinateError, match="antimeridian"):
        Terrain.flat().mosaic(0.0, 1.0, 179.0, -179.0)


def test_nan_coordinates_are_rejected(plane_tiles: Path) -> None:
    terrain = Terrain(plane_tiles)
    with pytest.raises(InvalidCoordinateError, match=r"lat_deg.*nan.*index \(1,\)"):
        terrain.elevation_m([10.5, math.nan], [20.5, 20.5])
    with pytest.raises(InvalidCoordinateError):
        terrain.profile(10.5, math.nan, 11.0, 21.0, 10)
    assert isinstance(InvalidCoordinateError("x"), ValueError)


# --- flat terrain and profiles -----------------------------------------------------------


def test_flat_terrain() -> None:
    flat = Terrain.flat()
    assert not flat.has_data and flat.tile_names == [] and flat.dem_dir is None
    assert np.all(flat.elevation_m([1.0, 2.0], [3.0, 4.0]) == 0)
    m = flat.mosaic(1.0, 2.0, 3.0, 5.0)
    assert min(m.elevation_m.shape) >= 2 and np.all(m.elevation_m == 0)
    assert m.lat_north_deg >= 2.0 and m.lon_west_deg <= 3.0
    assert m.lat_north_deg - (m.elevation_m.shape[0] - 1) * m.step_deg <= 1.0
    assert m.lon_west_deg + (m.elevation_m.shape[1] - 1) * m.step_deg >= 5.0


def test_empty_directory_has_no_data(tmp_path: Path) -> None:
    terrain = Terrain(tmp_path)
    assert not terrain.has_data and terrain.elevation_m(44.0, -71.0) == 0.0


def test_profile_endpoints_and_distances() -> None:
    d, z = Terrain.flat().profile(44.1, -71.9, 44.8, -71.1, 50)
    assert d.shape == z.shape == (50,) and np.all(z == 0)
    assert d[0] == 0.0 and np.all(np.diff(d) > 0)
    la1, lo1, la2, lo2 = map(math.radians, (44.1, -71.9, 44.8, -71.1))
    hav = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin(
        (lo2 - lo1) / 2) ** 2
    assert d[-1] == pytest.approx(2 * EARTH_RADIUS_M * math.asin(math.sqrt(hav)), rel=1e-12)


def test_profile_endpoints_are_exact_and_follow_the_terrain(plane_tiles: Path,
                                                            monkeypatch) -> None:
    terrain = Terrain(plane_tiles)
    seen = {}
    real = terrain.elevation_m

    def spy(lat, lon):
        seen["lat"], seen["lon"] = np.array(lat), np.array(lon)
        return real(lat, lon)

    monkeypatch.setattr(terrain, "elevation_m", spy)
    d, z = terrain.profile(10.3, 20.2, 11.7, 21.8, 7)
    assert (seen["lat"][0], seen["lon"][0], seen["lat"][-1], seen["lon"][-1]) == (
        10.3, 20.2, 11.7, 21.8)
    np.testing.assert_allclose(z, (12 - seen["lat"]) * 1200 + 2 * (seen["lon"] - 20) * 1200,
                               atol=1e-6)
    assert np.all(np.diff(d) > 0)


def test_profile_along_the_equator() -> None:
    d, _ = Terrain.flat().profile(0.0, 0.0, 0.0, 10.0, 3)
    assert d[1] == pytest.approx(EARTH_RADIUS_M * math.radians(5), rel=1e-12)
    assert d[2] == pytest.approx(EARTH_RADIUS_M * math.radians(10), rel=1e-12)


def test_profile_midpoint_lies_on_the_equator(monkeypatch) -> None:
    seen = {}
    terrain = Terrain.flat()
    real = terrain.elevation_m

    def spy(lat, lon):
        seen["lat"], seen["lon"] = np.array(lat), np.array(lon)
        return real(lat, lon)

    monkeypatch.setattr(terrain, "elevation_m", spy)
    terrain.profile(0.0, 0.0, 0.0, 10.0, 11)
    np.testing.assert_allclose(seen["lat"], 0.0, atol=1e-12)
    np.testing.assert_allclose(seen["lon"], np.linspace(0, 10, 11), atol=1e-12)


def test_profile_degenerate_and_invalid() -> None:
    d, z = Terrain.flat().profile(10.0, 20.0, 10.0, 20.0, 4)
    assert np.all(d == 0) and np.all(z == 0)
    with pytest.raises(ValueError, match="n_samples"):
        Terrain.flat().profile(10.0, 20.0, 11.0, 21.0, 1)
    with pytest.raises(InvalidCoordinateError, match="antipodal"):
        Terrain.flat().profile(0.0, 0.0, 0.0, 180.0, 5)


def test_covers_tells_tile_data_from_flat_earth(dem_dir) -> None:
    terrain = Terrain(dem_dir)
    got = terrain.covers([44.27, 44.0, 45.0, 43.99, 44.5], [-71.30, -72.0, -71.0, -71.5, -70.9])
    assert got.tolist() == [True, True, True, False, False]
    assert not Terrain.flat().covers(44.27, -71.30)
