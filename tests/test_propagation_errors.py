"""Bad input gets a clear error naming what was wrong, and never reaches the kernel."""

from __future__ import annotations

import numpy as np
import pytest

from coverage_net.radio import propagation as prop
from coverage_net.radio._errors import (
    FrequencyRangeError,
    InvalidCellError,
    InvalidCoordinateError,
    InvalidInputError,
    RadioError,
    ShapeMismatchError,
    UnknownModelError,
)
from coverage_net.radio._models import FreeSpace, Hata, LogDistance, TerrainModel, model_from_name
from coverage_net.radio._sites import Sites
from coverage_net.radio._terrain import Terrain


def test_errors_are_radio_errors_and_value_errors():
    for cls in (FrequencyRangeError, InvalidCellError, InvalidCoordinateError,
                ShapeMismatchError, UnknownModelError):
        assert issubclass(cls, RadioError)
        assert issubclass(cls, ValueError)


@pytest.mark.parametrize("cell", ["not-a-cell", "8f2830828052d2", "ffffffffffffffff", -5, 12345])
def test_invalid_h3_cell_is_named(cell):
    with pytest.raises(InvalidCellError, match="H3 cell at index"):
        Sites.from_cells([cell])


def test_invalid_h3_cell_reports_its_position():
    import h3

    good = h3.latlng_to_cell(44.2, -71.3, 8)
    with pytest.raises(InvalidCellError, match=r"index 1 .*'abc'"):
        Sites.from_cells([good, "abc"])


@pytest.mark.parametrize(
    ("lat", "lon", "pattern"),
    [
        (np.nan, 0.0, "latitude at index .* nan"),
        (0.0, np.inf, "longitude at index .* inf"),
        (91.0, 0.0, r"latitude .* \[-90, 90\]"),
        (0.0, -180.5, r"longitude .* \[-180, 180\]"),
    ],
)
def test_bad_coordinates_are_rejected(lat, lon, pattern):
    with pytest.raises(InvalidCoordinateError, match=pattern):
        Sites.from_latlon([10.0, lat], [10.0, lon])


def test_mismatched_coordinate_arrays():
    with pytest.raises(InvalidCoordinateError, match="shape"):
        Sites.from_latlon([1.0, 2.0, 3.0], [1.0, 2.0])


def test_mismatched_pair_arrays_are_named():
    tx = Sites.from_latlon([44.0, 44.1, 44.2], [-71.0, -71.1, -71.2])
    rx = Sites.from_latlon([44.0, 44.1], [-71.0, -71.1])
    with pytest.raises(ShapeMismatchError, match=r"tx \(3,\).*rx \(2,\)"):
        prop.path_loss_db(tx, rx, FreeSpace(), freq_hz=915e6)
    with pytest.raises(ShapeMismatchError, match="distance_m"):
        prop.free_space_loss_db(np.ones(3) * 1e3, np.ones(2) * 915e6)


def test_height_array_must_fit_its_sites():
    tx = Sites.from_latlon([44.0, 44.1, 44.2], [-71.0, -71.1, -71.2])
    with pytest.raises(ShapeMismatchError, match="tx_height_m"):
        prop.path_loss_db(tx, tx, FreeSpace(), freq_hz=915e6, tx_height_m=[1.0, 2.0])


@pytest.mark.parametrize("height", [-1.0, np.nan, np.inf])
def test_negative_or_nan_antenna_height(height):
    a = Sites.from_latlon(44.0, -71.0)
    b = Sites.from_latlon(44.1, -71.0)
    with pytest.raises(InvalidInputError, match="rx_height_m"):
        prop.path_loss_db(a, b, FreeSpace(), freq_hz=915e6, rx_height_m=height)
    with pytest.raises(InvalidInputError, match="tx_height_m"):
        prop.hata_loss_db(2e3, 869e6, height, 1.0)


def test_hata_needs_strictly_positive_heights():
    with pytest.raises(InvalidInputError, match="tx_height_m .* must be > 0"):
        prop.hata_loss_db(2e3, 869e6, 0.0, 1.0)
    a = Sites.from_latlon(44.0, -71.0)
    b = Sites.from_latlon(44.1, -71.0)
    with pytest.raises(InvalidInputError, match="rx_height_m"):
        prop.path_loss_db(a, b, Hata(), freq_hz=869e6, rx_height_m=0.0)


@pytest.mark.parametrize("freq", [29e6, 3.1e9, 915.0, -1.0, np.nan])
def test_frequency_outside_30mhz_3ghz(freq):
    with pytest.raises(InvalidInputError, match="freq_hz"):
        prop.free_space_loss_db(1e3, freq)


def test_frequency_error_type_and_hint():
    with pytest.raises(FrequencyRangeError, match="give the frequency in Hz"):
        prop.free_space_loss_db(1e3, 915.0)


def test_negative_distance():
    with pytest.raises(InvalidInputError, match="distance_m at index .* -5"):
        prop.free_space_loss_db([1e3, -5.0], 915e6)


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(UnknownModelError, match="free-space.*terrain"):
        model_from_name("okumura")


def test_bad_model_parameters():
    with pytest.raises(InvalidInputError, match="sigma_db"):
        LogDistance(sigma_db=-1.0)
    with pytest.raises(InvalidInputError, match="environment"):
        Hata(environment="rural")
    with pytest.raises(InvalidInputError, match="method"):
        TerrainModel(Terrain.flat(), method="bullington")
    with pytest.raises(InvalidInputError, match="model must be"):
        prop.path_loss_db(Sites.from_latlon(0, 0), Sites.from_latlon(0, 1), "free-space",
                          freq_hz=915e6)


def test_out_of_wrong_shape_or_type():
    with pytest.raises(ShapeMismatchError, match=r"out must be a float64 ndarray of shape \(3,\)"):
        prop.free_space_loss_db(np.ones(3) * 1e3, 915e6, out=np.zeros(4))
    with pytest.raises(ShapeMismatchError, match="float64"):
        prop.free_space_loss_db(np.ones(3) * 1e3, 915e6, out=np.zeros(3, dtype=np.float32))


def test_bad_seed_and_threads():
    a = Sites.from_latlon(44.0, -71.0)
    b = Sites.from_latlon(44.1, -71.0)
    with pytest.raises(InvalidInputError, match="seed"):
        prop.path_loss_db(a, b, LogDistance(sigma_db=2.0), freq_hz=868e6, seed=-1)
    with pytest.raises(InvalidInputError, match="num_threads"):
        prop.path_loss_db(a, b, FreeSpace(), freq_hz=868e6, num_threads=0)


def test_terrain_path_too_long():
    a = Sites.from_latlon(0.0, 0.0)
    b = Sites.from_latlon(0.0, 30.0)
    with pytest.raises(InvalidInputError, match="km long"):
        prop.path_loss_db(a, b, TerrainModel(Terrain.flat()), freq_hz=915e6)


def test_non_sites_argument():
    with pytest.raises(InvalidInputError, match="Sites.from_cells"):
        prop.path_loss_db([44.0, -71.0], Sites.from_latlon(0, 0), FreeSpace(), freq_hz=915e6)
