"""The terrain model on the real White Mountains tile and on flat earth."""

from __future__ import annotations

import numpy as np
import pytest

from coverage_net.radio import propagation as prop
from coverage_net.radio._models import FreeSpace, TerrainModel
from coverage_net.radio._sites import Sites
from coverage_net.radio._terrain import Terrain

# Summits and notches of the Presidential Range (NASADEM elevations, about).
PINKHAM_NOTCH = (44.2570, -71.2530)   # ~617 m, east of the range
BRETTON_WOODS = (44.2580, -71.4410)   # ~497 m, west of the range
MOUNT_WASHINGTON = (44.2706, -71.3033)  # ~1903 m
CARTER_DOME = (44.2670, -71.1790)     # ~1456 m, across Pinkham Notch from Washington


def _losses(terrain, a, b, tx_h=10.0, rx_h=10.0):
    tx = Sites.from_latlon(*a)
    rx = Sites.from_latlon(*b)
    result = prop.terrain_path_loss(tx, rx, TerrainModel(terrain), freq_hz=915e6,
                                    tx_height_m=tx_h, rx_height_m=rx_h)
    free = prop.path_loss_db(tx, rx, FreeSpace(), freq_hz=915e6, tx_height_m=tx_h,
                             rx_height_m=rx_h)
    return float(result.loss_db), float(result.diffraction_db), float(free)


def test_path_blocked_by_the_presidential_ridge_loses_far_more_than_free_space(dem_dir):
    terrain = Terrain(dem_dir)
    loss, diffraction, free = _losses(terrain, PINKHAM_NOTCH, BRETTON_WOODS)
    # valley to valley through a 1,900 m ridge: deep shadow
    assert diffraction > 30.0
    assert loss > free + 30.0


def test_line_of_sight_across_pinkham_notch_is_free_space(dem_dir):
    terrain = Terrain(dem_dir)
    loss, diffraction, free = _losses(terrain, MOUNT_WASHINGTON, CARTER_DOME)
    # summit to summit across the notch: the valley floor is far below the ray
    assert diffraction == 0.0
    # the terrain model's slant distance includes the 450 m height difference
    assert abs(loss - free) < 0.1


def test_ridge_loss_is_symmetric_in_direction(dem_dir):
    terrain = Terrain(dem_dir)
    ab = _losses(terrain, PINKHAM_NOTCH, BRETTON_WOODS)[0]
    ba = _losses(terrain, BRETTON_WOODS, PINKHAM_NOTCH)[0]
    assert ab == pytest.approx(ba, abs=0.5)


def test_raising_an_antenna_reduces_diffraction_loss(dem_dir):
    terrain = Terrain(dem_dir)
    low = _losses(terrain, PINKHAM_NOTCH, BRETTON_WOODS, tx_h=2.0, rx_h=2.0)[1]
    high = _losses(terrain, PINKHAM_NOTCH, BRETTON_WOODS, tx_h=300.0, rx_h=300.0)[1]
    assert high < low


def test_flat_earth_radio_horizon_from_curvature():
    flat = Terrain.flat()
    # 30 m masts: the 4/3-earth radio horizon is 2 * sqrt(2 * kR * 30 m) ~ 45 km.
    # At 5 km the first Fresnel zone clears the bulge (nu < -2 everywhere).
    a = (44.0, -71.0)
    near = (44.0 + np.degrees(5_000 / 6371008.8), -71.0)
    far = (44.0 + np.degrees(80_000 / 6371008.8), -71.0)
    assert _losses(flat, a, near, tx_h=30.0, rx_h=30.0)[1] == 0.0
    assert _losses(flat, a, far, tx_h=30.0, rx_h=30.0)[1] > 10.0


def test_single_edge_never_exceeds_deygout(dem_dir):
    terrain = Terrain(dem_dir)
    rng = np.random.default_rng(8)
    tx = Sites.from_latlon(rng.uniform(44.1, 44.5, 40), rng.uniform(-71.6, -71.1, 40))
    rx = Sites.from_latlon(rng.uniform(44.1, 44.5, 40), rng.uniform(-71.6, -71.1, 40))
    single = prop.terrain_path_loss(tx, rx, TerrainModel(terrain, method="single"),
                                    freq_hz=868e6).diffraction_db
    deygout = prop.terrain_path_loss(tx, rx, TerrainModel(terrain), freq_hz=868e6).diffraction_db
    assert (single <= deygout + 1e-9).all()
    assert (deygout > single).any()


def test_samples_follow_spacing():
    flat = Terrain.flat()
    a = Sites.from_latlon(44.0, -71.0)
    b = Sites.from_latlon(44.0 + np.degrees(9_000 / 6371008.8), -71.0)
    r = prop.terrain_path_loss(a, b, TerrainModel(flat, sample_spacing_m=90.0), freq_hz=915e6)
    assert int(r.samples) == 101
    capped = prop.terrain_path_loss(
        a, b, TerrainModel(flat, sample_spacing_m=1.0, max_samples=500), freq_hz=915e6)
    assert int(capped.samples) == 500


def test_terrain_with_coincident_endpoints_is_finite():
    a = Sites.from_latlon(44.2, -71.3)
    r = prop.terrain_path_loss(a, a, TerrainModel(Terrain.flat()), freq_hz=915e6,
                               tx_height_m=10.0, rx_height_m=10.0)
    assert np.isfinite(r.loss_db).all()
    assert float(r.diffraction_db) == 0.0
