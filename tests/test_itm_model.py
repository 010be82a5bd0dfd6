"""ITM selectable everywhere a model is: by name, in the network parameters (existing
files keep their digest), through the path predictor and `coverage-net predict`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from coverage_net.poc import NetworkParams, ParamsError, params_from_dict
from coverage_net.radio import (
    MODEL_NAMES,
    ITMModel,
    Sites,
    Terrain,
    TerrainModel,
    model_from_name,
    path_loss_db,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "white_mountains.csv"
SCRIPT = Path(sys.executable).with_name("coverage-net")


def test_itm_is_a_named_model_that_takes_the_terrain(dem_dir):
    terrain = Terrain(dem_dir)
    assert "itm" in MODEL_NAMES
    model = model_from_name("itm", terrain=terrain)
    assert isinstance(model, ITMModel) and model.terrain is terrain
    assert model_from_name("Longley_Rice").name == "itm"


def test_itm_over_the_tile_sees_the_mountains(dem_dir):
    """Mount Washington to Gorham is obstructed: ITM and the knife-edge model both put
    it far above free space, and ITM's loss depends on its climate parameter."""
    terrain = Terrain(dem_dir)
    a = Sites.from_latlon(44.2706, -71.3033)
    b = Sites.from_latlon(44.3878, -71.1734)
    kw = dict(freq_hz=915e6, tx_height_m=10.0, rx_height_m=12.0)
    free = float(path_loss_db(a, b, model_from_name("free-space"), **kw))
    itm = float(path_loss_db(a, b, ITMModel(terrain), **kw))
    knife = float(path_loss_db(a, b, TerrainModel(terrain), **kw))
    desert = float(path_loss_db(a, b, ITMModel(terrain, climate=4, time_pct=90.0), **kw))
    assert 100.0 < free < itm < 250.0 and free < knife
    assert desert != itm


def test_network_params_carry_the_itm_parameters_and_old_files_keep_their_digest():
    default_digest = NetworkParams().digest()
    params = params_from_dict({"propagation": {"model": "itm", "params": {
        "climate": 6, "permittivity": 25.0, "conductivity_s_m": 0.02, "refractivity_n": 320,
        "polarization": "horizontal", "variability_mode": 1, "time_pct": 90.0,
        "situation_pct": 95.0}}})
    model = params.propagation.build_model(Terrain.flat())
    assert isinstance(model, ITMModel)
    assert (model.climate, model.refractivity_n, model.polarization, model.time_pct) == (
        6, 320.0, "horizontal", 90.0)
    assert params.digest() != default_digest
    assert NetworkParams().digest() == default_digest
    with pytest.raises(ParamsError, match="climate"):
        params_from_dict({"propagation": {"model": "itm", "params": {"climate": 9}}})


def test_predict_with_itm_on_the_real_tile(tmp_path, dem_dir):
    out = tmp_path / "itm"
    env = {**os.environ, "COLUMNS": "400"}
    proc = subprocess.run(
        [str(SCRIPT), "predict", "--hotspots", str(EXAMPLE), "--dem", str(dem_dir),
         "--model", "itm", "--res", "7", "--max-range-km", "10", "--out", str(out), "-q"],
        cwd=tmp_path, capture_output=True, text=True, check=False, env=env)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "itm" and summary["cells_covered"] > 0
    assert all(0 < h["max_range_km"] <= 10.0 for h in summary["hotspots"])
    cells = json.loads((out / "cells.geojson").read_text())
    rssi = np.array([f["properties"]["best_rssi_dbm"] for f in cells["features"]])
    assert np.all(rssi < 23.0) and np.all(rssi >= -140.0)  # under the EIRP, above sensitivity
