"""The numpy/Python ITM reference against the independent itmlogic port of NTIA's
ITM 1.2.2: the classic Crystal Palace - Mursley profile and random profiles of the
real NASADEM tile, every case within 0.1 dB."""

from __future__ import annotations

import numpy as np
import pytest
from itm_helpers import (
    CRYSTAL_PALACE_MURSLEY_KM,
    CRYSTAL_PALACE_MURSLEY_M,
    itmlogic_point_to_point_db,
)
from itmlogic.misc.qerfi import qerfi as itmlogic_qerfi
from itmlogic.preparatory_subroutines.qlrpfl import qlrpfl as itmlogic_qlrpfl
from itmlogic.statistics.avar import avar as itmlogic_avar

from coverage_net.radio import Terrain
from coverage_net.radio._itm_reference import point_to_point_db, qerfi, system_elevation_m

TOLERANCE_DB = 0.1

# NTIA's qkpfl test case as itmlogic's own test pins it (41.5 MHz, horizontal,
# eps 15, sigma 0.005 S/m, N 314, continental temperate, mdvar 11):
# (reliability, confidence) -> loss dB
_ITMLOGIC_PINNED = {
    (0.01, 0.5): 128.5969039310673, (0.01, 0.9): 137.64279211442656,
    (0.01, 0.1): 119.55101574770802, (0.99, 0.5): 139.74127375512774,
    (0.99, 0.9): 148.4389165313392, (0.99, 0.1): 131.04363097891627,
}


def _crystal_palace(freq_mhz, z_time, z_situation):
    step_m = CRYSTAL_PALACE_MURSLEY_KM * 1e3 / (len(CRYSTAL_PALACE_MURSLEY_M) - 1)
    loss, _ = point_to_point_db(
        CRYSTAL_PALACE_MURSLEY_M, step_m, 143.9, 8.5, freq_mhz * 1e6, climate=5,
        permittivity=15.0, conductivity_s_m=0.005, refractivity_n=314.0, vertical=False,
        mdvar=11, z_time=z_time, z_situation=z_situation, system_elevation=0.0)
    return loss


@pytest.mark.parametrize(("reliability", "confidence"), sorted(_ITMLOGIC_PINNED))
def test_crystal_palace_mursley_matches_itmlogic_pinned_values(reliability, confidence):
    zr, zc = itmlogic_qerfi([reliability, confidence])
    loss = _crystal_palace(41.5, zr, zc)
    assert abs(loss - _ITMLOGIC_PINNED[reliability, confidence]) < TOLERANCE_DB


@pytest.mark.parametrize("freq_mhz", [41.5, 573.3])  # qkpfl's two test frequencies
def test_crystal_palace_mursley_matches_itmlogic_run(freq_mhz):
    n = len(CRYSTAL_PALACE_MURSLEY_M) - 1
    wn = freq_mhz / 47.7
    zq = complex(15, 376.62 * 0.005 / wn)
    prop = {"pfl": [n, CRYSTAL_PALACE_MURSLEY_KM * 1e3 / n, *CRYSTAL_PALACE_MURSLEY_M],
            "hg": [143.9, 8.5], "kwx": 0, "wn": wn, "ens": 314,
            "gme": 157e-9 * (1 - 0.04665 * np.exp(314 / 179.3)), "zgnd": np.sqrt(zq - 1),
            "klim": 5, "klimx": 0, "mdvarx": 11, "lvar": 5}
    prop = itmlogic_qlrpfl(prop)
    free_space = 8.685890 * np.log(2 * wn * prop["dist"])
    for zr in itmlogic_qerfi([0.01, 0.1, 0.5, 0.9, 0.99]):
        for zc in itmlogic_qerfi([0.5, 0.9, 0.1]):
            expected = free_space + itmlogic_avar(zr, 0, zc, prop)[0]
            assert abs(_crystal_palace(freq_mhz, zr, zc) - expected) < TOLERANCE_DB


def test_qerfi_is_the_normal_quantile_within_its_published_error():
    for q in (0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99):
        assert abs(qerfi(q) - itmlogic_qerfi([q])[0]) < 1e-4
    assert abs(qerfi(0.5)) < 1e-8  # the median
    assert abs(qerfi(0.1) - 1.28155) < 4.5e-4  # exceeded 10% of the time
    assert abs(qerfi(0.9) + qerfi(0.1)) < 1e-12


def _random_cases(dem_dir, count, seed):
    terrain = Terrain(dem_dir)
    rng = np.random.default_rng(seed)
    for _ in range(count):
        lat1, lon1 = rng.uniform(44.05, 44.95), rng.uniform(-71.95, -71.05)
        d_m, az = rng.uniform(1e3, 40e3), rng.uniform(0, 2 * np.pi)
        lat2 = np.clip(lat1 + d_m * np.cos(az) / 111195, 44.01, 44.99)
        lon2 = np.clip(lon1 + d_m * np.sin(az) / (111195 * np.cos(np.radians(lat1))),
                       -71.99, -71.01)
        dist_m, z = terrain.profile(lat1, lon1, lat2, lon2, max(3, int(d_m / 90) + 1))
        args = (z, dist_m[-1] / (len(z) - 1), rng.uniform(1, 60), rng.uniform(1, 30),
                rng.uniform(100e6, 1000e6))
        params = dict(
            climate=int(rng.integers(1, 8)), permittivity=rng.uniform(4, 80),
            conductivity_s_m=rng.uniform(0.001, 5), refractivity_n=rng.uniform(260, 390),
            vertical=bool(rng.integers(0, 2)),
            mdvar=int(rng.integers(0, 4)) + 10 * int(rng.integers(0, 3)),
            z_time=rng.normal(), z_location=rng.normal(), z_situation=rng.normal(),
            system_elevation=system_elevation_m(z))
        yield args, params


def test_random_dem_profiles_match_itmlogic(dem_dir):
    """Line-of-sight and beyond-horizon paths of 1-40 km over the White Mountains,
    every parameter drawn (climate, ground, refractivity, polarization, mdvar,
    quantiles)."""
    worst = 0.0
    for args, params in _random_cases(dem_dir, 60, seed=15):
        ours, _ = point_to_point_db(*args, **params)
        theirs = itmlogic_point_to_point_db(*args, **params)
        worst = max(worst, abs(ours - theirs))
    assert worst < TOLERANCE_DB
