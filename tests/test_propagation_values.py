"""Published reference values and the array contract of the distance functions."""

from __future__ import annotations

import numpy as np
import pytest

from coverage_net.radio import propagation as prop
from coverage_net.radio._models import LORASIM, FreeSpace, LogDistance
from coverage_net.radio._sites import Sites


@pytest.mark.parametrize(
    ("distance_m", "freq_hz", "expected_db"),
    [(1_000.0, 915e6, 91.676), (1_000.0, 868e6, 91.218), (10_000.0, 868e6, 111.218)],
)
def test_free_space_reference_values(distance_m, freq_hz, expected_db):
    assert prop.free_space_loss_db(distance_m, freq_hz) == pytest.approx(expected_db, abs=0.05)


@pytest.mark.parametrize(
    ("environment", "expected_db"), [("urban", 137.88), ("suburban", 128.03)]
)
def test_okumura_hata_reference_values(environment, expected_db):
    loss = prop.hata_loss_db(2_000.0, 869e6, 30.0, 1.0, environment)
    assert loss == pytest.approx(expected_db, abs=0.1)


def test_hata_open_is_below_suburban_below_urban():
    losses = [prop.hata_loss_db(5_000.0, 915e6, 30.0, 1.5, env)
              for env in ("urban", "suburban", "open")]
    assert losses[0] > losses[1] > losses[2]


def test_cost231_medium_city_and_metropolitan_differ_by_cm():
    medium = prop.cost231_hata_loss_db(3_000.0, 1800e6, 40.0, 1.5)
    metro = prop.cost231_hata_loss_db(3_000.0, 1800e6, 40.0, 1.5, metropolitan=True)
    assert metro - medium == pytest.approx(3.0, abs=1e-9)
    # COST-231 = Hata urban + 13.74 log10 f - 23.25 at the same geometry
    lf = np.log10(1800.0)
    hata = prop.hata_loss_db(3_000.0, 1800e6, 40.0, 1.5)
    assert medium == pytest.approx(hata + (33.9 - 26.16) * lf + (46.3 - 69.55), abs=1e-9)


@pytest.mark.parametrize(("nu", "expected_db"), [(0.0, 6.03), (1.0, 13.93), (2.0, 19.04)])
def test_knife_edge_reference_values(nu, expected_db):
    assert prop.knife_edge_loss_db(nu) == pytest.approx(expected_db, abs=0.05)


def test_knife_edge_is_zero_below_minus_078():
    assert prop.knife_edge_loss_db([-0.79, -5.0]).tolist() == [0.0, 0.0]
    assert prop.knife_edge_loss_db(-0.77) > 0.0


def test_two_ray_is_free_space_before_crossover_and_40db_per_decade_after():
    f, ht, hr = 915e6, 30.0, 2.0
    crossover_m = 4 * np.pi * ht * hr / (299792458.0 / f)
    near = crossover_m / 2
    assert prop.two_ray_loss_db(near, f, ht, hr) == pytest.approx(
        prop.free_space_loss_db(near, f))
    far = prop.two_ray_loss_db([2 * crossover_m, 20 * crossover_m], f, ht, hr)
    assert far[1] - far[0] == pytest.approx(40.0, abs=1e-9)
    # continuous at the crossover
    below = prop.two_ray_loss_db(crossover_m * (1 - 1e-9), f, ht, hr)
    above = prop.two_ray_loss_db(crossover_m * (1 + 1e-9), f, ht, hr)
    assert above - below == pytest.approx(0.0, abs=1e-6)


def test_lorasim_preset_constants():
    assert (LORASIM.d0_m, LORASIM.pl0_db, LORASIM.gamma) == (40.0, 127.41, 2.08)
    assert prop.log_distance_loss_db(40.0) == pytest.approx(127.41)
    # 10 * gamma dB per decade
    assert prop.log_distance_loss_db(400.0) - prop.log_distance_loss_db(40.0) == pytest.approx(
        20.8)


def test_broadcasting_and_shapes():
    d = np.array([[1e3], [2e3], [5e3]])
    f = np.array([868e6, 915e6])
    out = prop.free_space_loss_db(d, f)
    assert out.shape == (3, 2)
    assert out[1, 1] == pytest.approx(prop.free_space_loss_db(2e3, 915e6))
    assert prop.free_space_loss_db(1e3, 915e6).shape == ()
    assert prop.hata_loss_db(np.full((2, 3, 4), 2e3), 869e6, 30.0, 1.0).shape == (2, 3, 4)


def test_out_argument_is_filled_and_returned():
    out = np.zeros(4)
    got = prop.free_space_loss_db(np.array([1e3, 2e3, 3e3, 4e3]), 915e6, out=out)
    assert got is out
    assert out[0] == pytest.approx(91.676, abs=1e-3)
    # non-contiguous out is honoured too
    wide = np.zeros((4, 2))
    prop.free_space_loss_db(np.array([1e3, 2e3, 3e3, 4e3]), 915e6, out=wide[:, 1])
    assert wide[:, 0].tolist() == [0.0] * 4
    assert wide[0, 1] == pytest.approx(91.676, abs=1e-3)


def test_empty_input_gives_empty_output():
    assert prop.free_space_loss_db(np.array([]), 915e6).shape == (0,)


def test_distances_under_one_metre_count_as_one_metre():
    assert prop.free_space_loss_db(0.0, 915e6) == prop.free_space_loss_db(1.0, 915e6)


def test_link_api_free_space_matches_distance_api_on_a_meridian():
    # 1 km due north: great-circle distance on the 6371008.8 m sphere
    dlat = np.degrees(1_000.0 / 6371008.8)
    a = Sites.from_latlon(44.0, -71.5)
    b = Sites.from_latlon(44.0 + dlat, -71.5)
    loss = prop.path_loss_db(a, b, FreeSpace(), freq_hz=915e6, tx_height_m=3.0,
                             rx_height_m=3.0)
    assert loss == pytest.approx(prop.free_space_loss_db(1_000.0, 915e6), abs=1e-9)


def test_all_pairs_by_broadcasting_sites():
    rng = np.random.default_rng(7)
    tx = Sites.from_latlon(rng.uniform(44, 45, 5), rng.uniform(-72, -71, 5))
    rx = Sites.from_latlon(rng.uniform(44, 45, 7), rng.uniform(-72, -71, 7))
    grid = prop.path_loss_db(tx[:, None], rx[None, :], FreeSpace(), freq_hz=915e6)
    assert grid.shape == (5, 7)
    single = prop.path_loss_db(tx[2], rx[4], FreeSpace(), freq_hz=915e6)
    assert grid[2, 4] == single


def test_h3_cells_and_their_centres_give_the_same_mean_loss():
    import h3

    cells = [h3.latlng_to_cell(44.27, -71.30, 9), h3.latlng_to_cell(44.20, -71.40, 9)]
    centres = np.array([h3.cell_to_latlng(c) for c in cells])
    by_cell = prop.path_loss_db(Sites.from_cells(cells[:1]), Sites.from_cells(cells[1:]),
                                FreeSpace(), freq_hz=868e6)
    by_coord = prop.path_loss_db(Sites.from_latlon(*centres[0]), Sites.from_latlon(*centres[1]),
                                 FreeSpace(), freq_hz=868e6)
    assert by_cell[0] == pytest.approx(by_coord, abs=1e-9)
    ints = [int(c, 16) for c in cells]
    by_int = prop.path_loss_db(Sites.from_cells(ints[:1]), Sites.from_cells(ints[1:]),
                               FreeSpace(), freq_hz=868e6)
    assert by_int[0] == by_cell[0]


def test_shadowing_is_symmetric_reproducible_and_seeded():
    rng = np.random.default_rng(3)
    a = Sites.from_latlon(rng.uniform(44, 45, 200), rng.uniform(-72, -71, 200))
    b = Sites.from_latlon(rng.uniform(44, 45, 200), rng.uniform(-72, -71, 200))
    model = LogDistance(sigma_db=3.57)
    ab = prop.path_loss_db(a, b, model, freq_hz=868e6, tx_height_m=5.0, rx_height_m=5.0,
                           seed=11)
    ba = prop.path_loss_db(b, a, model, freq_hz=868e6, tx_height_m=5.0, rx_height_m=5.0,
                           seed=11)
    again = prop.path_loss_db(a, b, model, freq_hz=868e6, tx_height_m=5.0, rx_height_m=5.0,
                              seed=11)
    other = prop.path_loss_db(a, b, model, freq_hz=868e6, tx_height_m=5.0, rx_height_m=5.0,
                              seed=12)
    np.testing.assert_array_equal(ab, ba)
    np.testing.assert_array_equal(ab, again)
    assert np.abs(ab - other).max() > 1.0
    mean = prop.path_loss_db(a, b, LogDistance(), freq_hz=868e6, tx_height_m=5.0,
                             rx_height_m=5.0)
    draws = (ab - mean) / 3.57
    np.testing.assert_allclose(draws, prop.shadowing_db(a, b, 1.0, seed=11), atol=1e-9)


def test_shadowing_draws_are_standard_normal():
    rng = np.random.default_rng(5)
    n = 20_000
    a = Sites.from_latlon(rng.uniform(-60, 60, n), rng.uniform(-170, 170, n))
    b = Sites.from_latlon(rng.uniform(-60, 60, n), rng.uniform(-170, 170, n))
    z = prop.shadowing_db(a, b, 1.0, seed=1)
    assert abs(z.mean()) < 0.03
    assert abs(z.std() - 1.0) < 0.03
    # about 4.55 % outside two sigma
    assert 0.038 < np.mean(np.abs(z) > 2) < 0.053


def test_kernel_reports_its_build():
    info = prop.kernel_info()
    assert set(info) == {"openmp", "max_threads"}
    assert info["max_threads"] >= 1


def test_thread_count_does_not_change_results():
    rng = np.random.default_rng(9)
    tx = Sites.from_latlon(rng.uniform(44, 45, 300), rng.uniform(-72, -71, 300))
    rx = Sites.from_latlon(rng.uniform(44, 45, 300), rng.uniform(-72, -71, 300))
    one = prop.path_loss_db(tx, rx, LogDistance(sigma_db=4.0), freq_hz=915e6, num_threads=1)
    two = prop.path_loss_db(tx, rx, LogDistance(sigma_db=4.0), freq_hz=915e6, num_threads=2)
    np.testing.assert_array_equal(one, two)


def test_shadowing_quantile_matches_the_exact_normal_quantile():
    from statistics import NormalDist

    from coverage_net.radio import _reference as ref

    p = np.concatenate([np.linspace(1e-12, 0.02424, 200), np.linspace(0.02425, 0.97575, 400),
                        1 - np.linspace(1e-12, 0.02424, 200)])
    exact = np.array([NormalDist().inv_cdf(x) for x in p])
    approx = ref.inverse_normal_cdf(p)
    assert np.max(np.abs(approx - exact) / np.maximum(np.abs(exact), 1e-3)) < 1.2e-9
