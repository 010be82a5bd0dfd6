"""The compiled kernel agrees with the pure-numpy reference within 1e-6 dB, every model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_net.radio import _reference as ref
from coverage_net.radio import propagation as prop
from coverage_net.radio._models import (
    Cost231Hata,
    FreeSpace,
    Hata,
    LogDistance,
    TerrainModel,
    TwoRay,
)
from coverage_net.radio._sites import Sites
from coverage_net.radio._terrain import Mosaic, Terrain

TOL_DB = 1e-6

CLOSED_FORM = [
    FreeSpace(), LogDistance(), LogDistance(d0_m=1.0, pl0_db=40.0, gamma=3.5, sigma_db=6.0),
    Hata("urban"), Hata("suburban"), Hata("open"), Cost231Hata(), Cost231Hata(True), TwoRay(),
]


def _reference_links(model, tx, rx, freq_hz, tx_h, rx_h, seed):
    links = prop._links(tx, rx, freq_hz, tx_h, rx_h, model.needs_positive_heights)
    got = ref.closed_form_links(
        model.code, tx.xyz.reshape(-1, 3), links.tx_height_m, tx.key.reshape(-1),
        rx.xyz.reshape(-1, 3), links.rx_height_m, rx.key.reshape(-1), links.itx, links.irx,
        links.freq_hz, np.asarray(model.params()), seed)
    return np.broadcast_to(got, (links.itx.size,)).reshape(links.shape)


coords = st.tuples(st.floats(-85.0, 85.0), st.floats(-179.0, 179.0))


@settings(max_examples=60, deadline=None)
@given(
    model=st.sampled_from(CLOSED_FORM),
    tx=st.lists(coords, min_size=1, max_size=8),
    rx=st.lists(coords, min_size=1, max_size=8),
    spread_deg=st.floats(1e-5, 3.0),
    freq_hz=st.floats(30e6, 3e9),
    tx_h=st.floats(0.5, 300.0),
    rx_h=st.floats(0.5, 50.0),
    seed=st.integers(0, 2**64 - 1),
)
def test_closed_form_links_match_reference(model, tx, rx, spread_deg, freq_hz, tx_h, rx_h, seed):
    tx = np.array(tx)
    # receivers near the first transmitter, as real links are
    rx = tx[0] + (np.array(rx) - [0.0, 0.0]) * spread_deg / 180.0
    rx[:, 0] = np.clip(rx[:, 0], -89.0, 89.0)
    rx[:, 1] = (rx[:, 1] + 180.0) % 360.0 - 180.0  # links may cross the antimeridian
    txs = Sites.from_latlon(tx[:, 0], tx[:, 1])[:, None]
    rxs = Sites.from_latlon(rx[:, 0], rx[:, 1])[None, :]
    got = prop.path_loss_db(txs, rxs, model, freq_hz=freq_hz, tx_height_m=tx_h,
                            rx_height_m=rx_h, seed=seed)
    want = _reference_links(model, txs, rxs, freq_hz, tx_h, rx_h, seed)
    assert got.shape == (len(tx), len(rx))
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL_DB)


@settings(max_examples=60, deadline=None)
@given(
    model=st.sampled_from(CLOSED_FORM),
    distance_m=st.lists(st.floats(0.0, 200_000.0), min_size=1, max_size=20),
    freq_hz=st.floats(30e6, 3e9),
    tx_h=st.floats(0.5, 300.0),
    rx_h=st.floats(0.5, 50.0),
)
def test_distance_functions_match_reference(model, distance_m, freq_hz, tx_h, rx_h):
    d = np.array(distance_m)
    got = prop._distance_model(model.code, model.params(), d, freq_hz, tx_h, rx_h,
                               positive_heights=True, out=None, num_threads=1)
    want = ref.model_loss_db(model.code, d, d * d, freq_hz, tx_h, rx_h, model.params())
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL_DB)


@given(nu=st.lists(st.floats(-10.0, 100.0), min_size=1, max_size=50))
def test_knife_edge_matches_reference(nu):
    np.testing.assert_allclose(prop.knife_edge_loss_db(nu), ref.knife_edge_db(nu), rtol=0,
                               atol=TOL_DB)


class _FixedTerrain(Terrain):
    """A Terrain that always hands out one given mosaic (a synthetic DEM)."""

    def __init__(self, mosaic: Mosaic):
        self._fixed = mosaic

    def mosaic(self, lat_min, lat_max, lon_min, lon_max, margin_deg=0.01):
        return self._fixed


def _synthetic_mosaic(seed: int, rows: int, cols: int, relief_m: float,
                      lat_north_deg: float = 44.5, lon_west_deg: float = -71.5,
                      step_deg: float = 1 / 1200) -> Mosaic:
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.0, (rows, cols))
    for _ in range(3):  # smooth into hills and valleys
        z = (z + np.roll(z, 1, 0) + np.roll(z, -1, 0) + np.roll(z, 1, 1) + np.roll(z, -1, 1)) / 5
    z = (z - z.min()) / (np.ptp(z) + 1e-12) * relief_m
    return Mosaic(np.ascontiguousarray(z, dtype=np.float32), lat_north_deg, lon_west_deg,
                  step_deg)


def _reference_terrain(model, tx, rx, freq_hz, tx_h, rx_h, mosaic, spacing_m):
    links = prop._links(tx, rx, freq_hz, tx_h, rx_h, False)
    return ref.terrain_links(
        tx.xyz.reshape(-1, 3), links.tx_height_m, prop.endpoint_ground_m(mosaic, tx),
        rx.xyz.reshape(-1, 3), links.rx_height_m, prop.endpoint_ground_m(mosaic, rx),
        links.itx, links.irx, links.freq_hz, mosaic, spacing_m, model.max_samples,
        model.k_factor, model.depth)


@settings(max_examples=40, deadline=None)
@given(
    dem_seed=st.integers(0, 2**32 - 1),
    relief_m=st.floats(0.0, 2000.0),
    n_tx=st.integers(1, 4),
    n_rx=st.integers(1, 6),
    point_seed=st.integers(0, 2**32 - 1),
    freq_hz=st.floats(100e6, 3e9),
    tx_h=st.floats(0.0, 100.0),
    rx_h=st.floats(0.0, 30.0),
    method=st.sampled_from(["single", "deygout"]),
    depth=st.integers(1, 4),
    k_factor=st.floats(0.5, 4.0),
    spacing_m=st.floats(20.0, 500.0),
)
def test_terrain_model_matches_reference(dem_seed, relief_m, n_tx, n_rx, point_seed, freq_hz,
                                         tx_h, rx_h, method, depth, k_factor, spacing_m):
    mosaic = _synthetic_mosaic(dem_seed, 160, 200, relief_m)
    model = TerrainModel(_FixedTerrain(mosaic), method=method, deygout_depth=depth,
                         k_factor=k_factor, sample_spacing_m=spacing_m, max_samples=400)
    rng = np.random.default_rng(point_seed)
    # endpoints inside the DEM and, now and then, outside it (flat earth there)
    lat = rng.uniform(44.34, 44.52, n_tx + n_rx)
    lon = rng.uniform(-71.52, -71.33, n_tx + n_rx)
    tx = Sites.from_latlon(lat[:n_tx], lon[:n_tx])[:, None]
    rx = Sites.from_latlon(lat[n_tx:], lon[n_tx:])[None, :]
    got = prop.terrain_path_loss(tx, rx, model, freq_hz=freq_hz, tx_height_m=tx_h,
                                 rx_height_m=rx_h)
    total, diff, samples = _reference_terrain(model, tx, rx, freq_hz, tx_h, rx_h, mosaic,
                                              spacing_m)
    np.testing.assert_allclose(got.loss_db.ravel(), total, rtol=0, atol=TOL_DB)
    np.testing.assert_allclose(got.diffraction_db.ravel(), diff, rtol=0, atol=TOL_DB)
    np.testing.assert_array_equal(got.samples.ravel(), samples)


@settings(max_examples=30, deadline=None)
@given(
    dem_seed=st.integers(0, 2**32 - 1),
    lat_north_deg=st.floats(-82.0, 88.0),
    lon_west_deg=st.floats(-179.0, 176.0),
    point_seed=st.integers(0, 2**32 - 1),
    method=st.sampled_from(["single", "deygout"]),
)
def test_terrain_model_matches_reference_far_north_and_far_apart(
        dem_seed, lat_north_deg, lon_west_deg, point_seed, method):
    # a 2 x 3 degree DEM anywhere on the globe (polar caps included): paths of up to
    # a few hundred km, where the profile's knot interpolation has the most to lose
    mosaic = _synthetic_mosaic(dem_seed, 201, 301, 3000.0, lat_north_deg, lon_west_deg, 0.01)
    model = TerrainModel(_FixedTerrain(mosaic), method=method, sample_spacing_m=250.0,
                         max_samples=2000)
    rng = np.random.default_rng(point_seed)
    lat = rng.uniform(lat_north_deg - 2.0, lat_north_deg, 6)
    lon = rng.uniform(lon_west_deg, lon_west_deg + 3.0, 6)
    tx = Sites.from_latlon(lat[:3], lon[:3])[:, None]
    rx = Sites.from_latlon(lat[3:], lon[3:])[None, :]
    got = prop.terrain_path_loss(tx, rx, model, freq_hz=868e6, tx_height_m=30.0,
                                 rx_height_m=2.0)
    total, diff, samples = _reference_terrain(model, tx, rx, 868e6, 30.0, 2.0, mosaic, 250.0)
    np.testing.assert_allclose(got.loss_db.ravel(), total, rtol=0, atol=TOL_DB)
    np.testing.assert_array_equal(got.samples.ravel(), samples)


def test_terrain_model_matches_reference_on_the_real_tile(dem_dir):
    terrain = Terrain(dem_dir)
    model = TerrainModel(terrain)
    rng = np.random.default_rng(2024)
    n = 120
    tx = Sites.from_latlon(rng.uniform(44.05, 44.95, n), rng.uniform(-71.95, -71.05, n))
    rx = Sites.from_latlon(rng.uniform(44.05, 44.95, n), rng.uniform(-71.95, -71.05, n))
    got = prop.terrain_path_loss(tx, rx, model, freq_hz=915e6, tx_height_m=12.0,
                                 rx_height_m=2.0)
    mosaic = prop._terrain_mosaic(model, tx, rx)
    spacing_m = min(mosaic.step_deg * np.pi / 180 * 6371008.8, prop.DEFAULT_SPACING_M)
    total, diff, samples = _reference_terrain(model, tx, rx, 915e6, 12.0, 2.0, mosaic,
                                              spacing_m)
    assert (diff > 0).sum() > n // 4  # the tile is mountainous: many paths are obstructed
    np.testing.assert_allclose(got.loss_db, total, rtol=0, atol=TOL_DB)
    np.testing.assert_array_equal(got.samples, samples)


@pytest.mark.parametrize("threads", [1, 2])
def test_terrain_results_do_not_depend_on_threads(threads):
    mosaic = _synthetic_mosaic(1, 160, 200, 800.0)
    model = TerrainModel(_FixedTerrain(mosaic))
    rng = np.random.default_rng(4)
    tx = Sites.from_latlon(rng.uniform(44.34, 44.52, 50), rng.uniform(-71.52, -71.33, 50))
    rx = Sites.from_latlon(rng.uniform(44.34, 44.52, 50), rng.uniform(-71.52, -71.33, 50))
    base = prop.terrain_path_loss(tx, rx, model, freq_hz=868e6, num_threads=1).loss_db
    got = prop.terrain_path_loss(tx, rx, model, freq_hz=868e6, num_threads=threads).loss_db
    np.testing.assert_array_equal(base, got)
