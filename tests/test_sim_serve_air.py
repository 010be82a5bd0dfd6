"""`sim serve --air`: the model exactly, or the realistic air the testnet runs on.

The testnet's verifier uses the simulator's own path-loss model; on `--air model` a
witness's RSSI is the modelled one to the centi-dB, which model fit rightly takes for
numbers made with the model. `--air realistic` adds what the model does not know, the
same air as issue #10's proof-of-coverage scenario.
"""

from __future__ import annotations

import numpy as np

from coverage_net.cli._sim import _serve_channel
from coverage_net.node import PocScenario
from coverage_net.node.testnet import TestnetOptions, prepare_testnet
from coverage_net.poc import NetworkParams, load_params
from coverage_net.radio import Station, time_on_air_s
from radio_sim import REALISTIC_IMPAIRMENTS, REALISTIC_SHADOWING_DB, Impairments, World
from radio_sim._channel import Transmission

FREQ_HZ = 904_300_000


def _world() -> World:
    """One transmitter and eight receivers 2 to 9 km east of it."""
    km = 1 / 111.195
    return World([Station(f"s{i}", lat_deg=44.0, lon_deg=-71.0 + i * km * 1.4, region="US915")
                  for i in [0, *range(2, 10)]])


def _rssi_dbm(channel, packet_id: int) -> np.ndarray:
    tx = Transmission(packet_id, 0, float(packet_id), float(time_on_air_s(10, 7, 125_000)),
                      FREQ_HZ, 7, 125_000, 5, 20.0)
    channel.begin(tx)
    got = {r.receiver: r.rssi_dbm for r in channel.end(packet_id) if r.delivered}
    return np.array([got[i] for i in range(1, 9)])


def test_the_model_air_is_the_model_and_the_realistic_one_is_not():
    world = _world()
    model = _serve_channel(world, "hata-suburban", "capture", 3, "model")
    assert not model.impairments.active and model.shadowing_sigma_db == 0
    exact = [_rssi_dbm(model, k) for k in range(1, 4)]
    assert all(np.array_equal(exact[0], e) for e in exact)  # the same every packet

    real = _serve_channel(world, "hata-suburban", "capture", 3, "realistic")
    assert real.shadowing_sigma_db == REALISTIC_SHADOWING_DB
    assert real.impairments == Impairments(seed=3, **REALISTIC_IMPAIRMENTS)
    packets = np.array([_rssi_dbm(real, k) for k in range(1, 41)])
    per_link = packets.mean(axis=0) - exact[0]  # shadowing (and gain errors) per link
    assert np.abs(per_link).max() > 1.0  # the links are off the model, each its own way
    assert packets.std(axis=0).min() > 0.3  # and every packet fades on its own
    again = _serve_channel(world, "hata-suburban", "capture", 3, "realistic")
    assert np.array_equal(_rssi_dbm(again, 1), packets[0])  # seeded: the same air again


def test_the_poc_scenario_and_the_testnet_run_on_the_realistic_air(tmp_path):
    scenario = PocScenario(dem_dir=str(tmp_path))
    assert scenario.shadowing_sigma_db == REALISTIC_SHADOWING_DB
    assert dict(scenario.impairments) == dict(REALISTIC_IMPAIRMENTS)
    layout = prepare_testnet(TestnetOptions(out_dir=tmp_path / "net", hotspots=5, epochs=1,
                                            epoch_s=20.0, seed=1))
    sim = layout.process_specs()[0]
    assert sim.argv[sim.argv.index("--air") + 1] == "realistic"
    params = load_params(layout.out_dir / "network-params.json")
    assert params.verifier == NetworkParams().verifier  # every check on, model fit too
