"""The testnet's world and files: what `coverage-net testnet` writes before anything runs.

The world must keep its promises by the simulator's own physics (neighbours hear each
other, the far hotspot hears no one, the liar asserts a place far from its radio), and
every process's config must load with the daemons' own loader.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from h3.api import basic_int as h3
from hypothesis import given, settings
from hypothesis import strategies as st

import coverage_net.node.testnet as testnet
from coverage_net.config import load_config
from coverage_net.consensus import load_genesis
from coverage_net.errors import CoverageNetError
from coverage_net.identity import load_keypair, peer_id_from_public_key
from coverage_net.node.testnet import (
    MIN_HOTSPOTS,
    ROUTER_NAME,
    TestnetError,
    link_margins_db,
    plan_world,
    write_testnet,
)
from coverage_net.poc import DAY_MS, load_params
from coverage_net.radio import get_region
from radio_sim import World

PORTS = [41_001, 41_002, 41_003, 41_004]


def _write(tmp_path, hotspots=8, seed=3, **kw):
    plan = plan_world(hotspots, seed=seed, **kw)
    return write_testnet(tmp_path / "net", plan, validators=4, epoch_s=20, seed=seed,
                         genesis_time_ms=time.time_ns() // 1_000_000, ports=PORTS)


def test_the_package_lists_its_public_names():
    public = {n for n in dir(testnet) if not n.startswith("_")
              and not isinstance(getattr(testnet, n), type(testnet))}
    assert public == set(testnet.__all__)
    assert issubclass(TestnetError, CoverageNetError)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_world_keeps_its_promises_by_the_channels_path_loss(seed):
    plan = plan_world(10, seed=seed)
    world, beacon = plan.world(), plan.beacon()
    roles = [h.role for h in plan.hotspots]
    assert roles.count("far") == 1 and roles.count("liar") == 1 and len(roles) == 10
    far = world.index_of("far")
    loudest_dbm = get_region(plan.region).max_eirp_dbm
    # no one hears the far hotspot, nor does it hear anyone, even at the region's top EIRP
    assert link_margins_db(world, far, beacon, eirp_dbm=loudest_dbm).max() < 0
    for i, hotspot in enumerate(plan.hotspots):
        assert link_margins_db(world, i, beacon, eirp_dbm=loudest_dbm)[far] < 0
        margins = link_margins_db(world, i, beacon)
        if hotspot.role != "far":
            assert margins.max() > 10, f"{hotspot.name} is heard by no one"
    liar = plan.named("liar")[0]
    claimed_m = h3.great_circle_distance((liar.radio_lat_deg, liar.radio_lon_deg),
                                         (liar.asserted_lat_deg, liar.asserted_lon_deg), unit="m")
    assert claimed_m > 40_000
    for honest in plan.named("neighbour") + plan.named("far"):
        assert (honest.radio_lat_deg, honest.radio_lon_deg) == \
            (honest.asserted_lat_deg, honest.asserted_lon_deg)


def test_the_same_seed_gives_the_same_world_and_another_seed_another():
    assert plan_world(8, seed=5) == plan_world(8, seed=5)
    assert plan_world(8, seed=5) != plan_world(8, seed=6)


def test_with_a_dem_the_world_stands_on_the_tile(dem_dir):
    plan = plan_world(8, seed=2, dem_dir=dem_dir)
    lats = np.array([h.radio_lat_deg for h in plan.hotspots])
    lons = np.array([h.radio_lon_deg for h in plan.hotspots])
    assert ((44 <= lats) & (lats <= 45)).all() and ((-72 <= lons) & (lons <= -71)).all()


@pytest.mark.parametrize("hotspots", [0, 1, MIN_HOTSPOTS - 1])
def test_too_few_hotspots_is_refused(hotspots):
    with pytest.raises(TestnetError, match=f"--hotspots must be at least {MIN_HOTSPOTS}"):
        plan_world(hotspots)


def test_a_dem_dir_without_tiles_is_refused(tmp_path):
    with pytest.raises(TestnetError, match="no SRTM/NASADEM tile"):
        plan_world(6, dem_dir=tmp_path)


def test_every_config_loads_and_points_at_the_written_files(tmp_path):
    layout = _write(tmp_path)
    genesis = load_genesis(layout.out_dir / "genesis.toml")
    params = load_params(layout.out_dir / "network-params.json")
    assert genesis.params_digest == params.digest()
    assert params.epoch_length_ms == 20_000
    assert params.challenges_per_hotspot_per_day * params.epoch_length_ms == DAY_MS
    assert params.propagation.model == layout.plan.model
    validator_keys = [layout.keypair(v).public_key for v in layout.validator_names]
    assert set(params.validators) == set(validator_keys)
    assert [v.public_key for v in genesis.validators] == validator_keys
    assert params.rewards.routers == (layout.keypair(ROUTER_NAME).public_key,)
    for name in [*layout.validator_names, ROUTER_NAME, *layout.hotspot_names]:
        config = load_config(layout.kind(name), layout.config_path(name), env={})
        assert config.data.dir == layout.data_dir(name)
        assert load_keypair(config.identity.key_file) == layout.keypair(name)
        assert config.chain.params == layout.out_dir / "network-params.json"
    for i, name in enumerate(layout.validator_names):
        config = load_config("validator", layout.config_path(name), env={})
        assert config.network.listen == (f"/ip4/127.0.0.1/tcp/{PORTS[i]}",)
        assert len(config.network.bootstrap) == 3
        assert config.chain.genesis == layout.out_dir / "genesis.toml"
    v0_addr = (f"/ip4/127.0.0.1/tcp/{PORTS[0]}/p2p/"
               f"{peer_id_from_public_key(layout.keypair('v0').public_key)}")
    for hotspot in layout.plan.hotspots:
        config = load_config("hotspot", layout.config_path(hotspot.name), env={})
        assert (config.location.lat, config.location.lon) == \
            (hotspot.asserted_lat_deg, hotspot.asserted_lon_deg)
        assert config.radio.driver == "native"
        assert config.radio.port == str(layout.radio_dir / hotspot.name)
        assert v0_addr in config.network.bootstrap


def test_the_simulators_world_has_the_radios_where_they_really_are(tmp_path):
    layout = _write(tmp_path)
    world = World.from_csv(layout.world_path)
    assert world.names == (*layout.hotspot_names, "sensor1", "sensor2")
    sensors = json.loads(layout.sensors_path.read_text())
    assert [s["name"] for s in sensors] == ["sensor1", "sensor2"]
    for sensor, near in zip(sensors, layout.plan.named("neighbour"), strict=False):
        placed = world.hotspots[world.index_of(sensor["name"])]
        assert h3.great_circle_distance((placed.lat_deg, placed.lon_deg),
                                        (near.radio_lat_deg, near.radio_lon_deg), unit="m") < 150
    liar = layout.plan.named("liar")[0]
    placed = world.hotspots[world.index_of("liar")]
    assert h3.great_circle_distance((placed.lat_deg, placed.lon_deg),
                                    (liar.radio_lat_deg, liar.radio_lon_deg), unit="m") < 10
    roster = json.loads((layout.out_dir / "testnet.json").read_text())
    assert roster["hotspots"]["liar"]["role"] == "liar"
    assert roster["hotspots"]["far"]["key"] == layout.keypair("far").public_key.hex()


def test_process_specs_start_the_simulator_first_and_log_per_process(tmp_path):
    layout = _write(tmp_path, hotspots=5)
    specs = layout.process_specs()
    names = [s.name for s in specs]
    assert names == ["sim", "v0", "v1", "v2", "v3", "router", *layout.hotspot_names]
    assert all(s.log_path == layout.log_dir / f"{s.name}.log" for s in specs)
    hotspot = specs[-1]
    assert hotspot.argv[-4:] == ("hotspot", "run", "--config",
                                 str(layout.config_path(hotspot.name)))


@pytest.mark.parametrize("problem", ["file", "not empty"])
def test_an_unusable_out_dir_is_refused(tmp_path, problem):
    out = tmp_path / "net"
    if problem == "file":
        out.write_text("x")
    else:
        out.mkdir()
        (out / "old").write_text("x")
    with pytest.raises(TestnetError, match=f"--out {out} is"):
        write_testnet(out, plan_world(4), validators=4, epoch_s=20, seed=0,
                      genesis_time_ms=0, ports=PORTS)


@settings(max_examples=25, deadline=None)
@given(hotspots=st.integers(MIN_HOTSPOTS, 40), seed=st.integers(0, 2**32 - 1),
       region=st.sampled_from(["US915", "EU868", "AU915", "AS923-1", "KR920", "IN865"]))
def test_any_seed_size_and_region_gives_a_world_with_its_three_kinds(hotspots, seed, region):
    plan = plan_world(hotspots, seed=seed, region=region)  # its own checks raise on a break
    assert len(plan.hotspots) == hotspots and len({h.name for h in plan.hotspots}) == hotspots
    assert [h.role for h in plan.hotspots[-2:]] == ["far", "liar"]
    assert len(plan.world()) == hotspots


def test_a_relative_out_dir_gives_paths_that_work_from_each_processs_directory(
        tmp_path, monkeypatch):
    """Processes run in their own data directories: every path they are given must
    not depend on the directory `coverage-net testnet` was started in."""
    monkeypatch.chdir(tmp_path)
    layout = write_testnet(Path("rel"), plan_world(4), validators=4, epoch_s=20, seed=0,
                           genesis_time_ms=0, ports=[1, 2, 3, 4])
    assert layout.out_dir.is_absolute()
    for spec in layout.process_specs():
        for arg in spec.argv:
            if arg.endswith((".toml", ".json", ".csv")):
                assert Path(arg).is_absolute(), (spec.name, arg)
