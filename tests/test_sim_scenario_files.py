"""scenarios/: Bor et al.'s six experiments and pure ALOHA land on their expected delivery,
and the scenario knobs (files, coding rate, SF6, per-node settings, traffic, channels,
receivers) do what they say."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from coverage_net.cli import main as cli
from coverage_net.radio import get_region
from radio_sim import SimConfigError, load_scenario, run_scenario
from radio_sim._lora import airtime_s, region_grid
from radio_sim._nodes import _adr
from radio_sim._scenario import DAY_S
from radio_sim._traffic import arrivals

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
FILES = sorted(SCENARIOS.glob("*.toml"))


def test_every_experiment_has_a_file():
    assert [p.stem for p in FILES] == ["aloha", *(f"bor{k}" for k in range(6))]


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_lands_on_its_expected_delivery_over_5_seeds(path, tmp_path):
    loaded = load_scenario(path)
    expected = loaded.expected
    ders = [run_scenario(replace(loaded.scenario, seed=seed, days=expected["test_days"]),
                         tmp_path / str(seed)).summary["der"] for seed in range(5)]
    assert abs(float(np.mean(ders)) - expected["der"]) <= 0.01, (ders, expected)


def test_aloha_file_expects_the_equation():
    s = load_scenario(SCENARIOS / "aloha.toml").scenario
    g = (s.hotspots - 1) * airtime_s(20, 12, 125_000, 5) * s.beacons_per_day / DAY_S
    assert load_scenario(SCENARIOS / "aloha.toml").expected["der"] == pytest.approx(
        math.exp(-2 * g), abs=1e-5)


# -- the knobs ---------------------------------------------------------------------------------


def test_renewal_traffic_never_overlaps_a_node_with_itself():
    rng = np.random.default_rng(3)
    air = np.array([0.0, 1.5, 0.2])
    start, sender = arrivals("renewal", rng, np.array([1, 2]), 1 / 3.0, air, 20_000.0)
    for i in (1, 2):
        mine = start[sender == i]
        assert (np.diff(mine) >= air[i]).all()
        assert len(mine) == pytest.approx(20_000 / (3.0 + air[i]), rel=0.05)
    assert (np.diff(start) >= 0).all()


def test_distance_rules_pick_the_fastest_setting_in_reach_and_lower_the_power(tmp_path):
    base = load_scenario(SCENARIOS / "bor3.toml", days=0.01).scenario
    near_far = run_scenario(base, tmp_path / "d").summary
    assert len(near_far["settings"]) > 3  # near nodes fast, far ones slow
    s5 = replace(base, node_settings="distance-power")
    run = run_scenario(s5, tmp_path / "p")
    rows = run.link_table.read_text().splitlines()[1:]
    assert rows and all(r.endswith(",1,delivered") or ",collision" in r for r in rows)
    fixed = run_scenario(replace(base, node_settings="fixed", spreading_factor=12,
                                 bandwidth_hz=125_000), tmp_path / "f").summary
    assert fixed["settings"] == {"SF12/125": 100}


def test_adr_steps_up_the_data_rate_then_down_the_power():
    grid = region_grid(get_region("EU868"))  # SF12..SF7 at 125 kHz
    noise = lambda receiver, bw: -117.0  # noqa: E731
    # SNR 11 dB: margin over SF12's -20 dB floor less 10 dB = 21 dB, 7 steps of 3 dB:
    # 5 data rates up to SF7, then 2 x 2 dB less power
    assert _adr(grid, -106.0, 14.0, 0, noise) == (7, 125_000, 10.0)
    assert _adr(grid, -115.0, 14.0, 0, noise) == (8, 125_000, 14.0)  # 4 steps
    assert _adr(grid, -130.0, 14.0, 0, noise) == (12, 125_000, 14.0)  # no margin


def test_per_node_overrides_and_fixed_channels(tmp_path):
    s = load_scenario(SCENARIOS / "bor1.toml", days=0.05,
                      nodes={"hs-00003": {"spreading_factor": 7, "payload_bytes": 40,
                                          "tx_power_dbm": 5.0},
                             "hs-00004": {"data_rate": 3}}).scenario
    result = run_scenario(s, tmp_path)
    assert result.summary["settings"] == {"SF12/125": 98, "SF7/125": 1, "SF9/125": 1}
    with pytest.raises(SimConfigError, match=r"nodes.hs-00004.data_rate: .*index=9"):
        run_scenario(replace(s, nodes={"hs-00004": {"data_rate": 9}}), tmp_path)
    with pytest.raises(SimConfigError, match="nodes.hs-00004.power: not a per-node setting"):
        run_scenario(replace(s, nodes={"hs-00004": {"power": 9}}), tmp_path)
    freqs: dict[str, set] = {}
    for row in result.link_table.read_text().splitlines()[1:]:
        fields = row.split(",")
        freqs.setdefault(fields[2], set()).add(fields[4])
    assert all(len(f) == 1 for f in freqs.values())  # one channel per node
    assert len(set.union(*freqs.values())) == 3


def test_several_receivers_hear_more_than_one(tmp_path):
    s = load_scenario(SCENARIOS / "bor4.toml", days=0.1, radius_m=700.0).scenario
    one = run_scenario(s, tmp_path / "1").summary
    three = run_scenario(replace(s, receivers=3), tmp_path / "3").summary
    assert three["der"] > one["der"]


def test_coding_rate_and_sf6_change_the_airtime(tmp_path):
    slow = load_scenario(SCENARIOS / "bor0.toml", days=0.01).scenario
    fast = replace(slow, coding_rate=5)
    a = run_scenario(slow, tmp_path / "8").summary["airtime_s"]
    b = run_scenario(fast, tmp_path / "5").summary["airtime_s"]
    assert a > b
    # LoRaSim's airtime(6, 1, 20, 500): (8 + 4.25 + 8 + 7 * 5) * 64 / 500 kHz
    assert airtime_s(20, 6, 500_000, 5) == pytest.approx(55.25 * 64 / 500_000)


def test_sf6_where_the_region_has_the_bandwidth(tmp_path):
    s = load_scenario(SCENARIOS / "bor2.toml", days=0.01).scenario
    with pytest.raises(SimConfigError, match="EU868 has no uplink channel of 500 kHz"):
        run_scenario(replace(s, regulatory_limits=True), tmp_path)
    assert run_scenario(replace(s, region="US915", regulatory_limits=True),
                        tmp_path).summary["settings"] == {"SF6/500": 100}


def test_bad_scenario_files_name_the_file_and_setting(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('hotspots = 10\ncolision = "simple"\n')
    with pytest.raises(SimConfigError, match="bad.toml: unknown setting 'colision'"):
        load_scenario(bad)
    bad.write_text('traffic = "bursty"\n')
    with pytest.raises(SimConfigError, match="bad.toml: traffic 'bursty' is not one of"):
        load_scenario(bad)
    bad.write_text("hotspots = \n")
    with pytest.raises(SimConfigError, match="bad.toml: not valid TOML"):
        load_scenario(bad)


def test_json_scenario_and_command_line_overrides(tmp_path):
    data = {"hotspots": 21, "receivers": "central", "model": "lorasim", "region": "EU868",
            "sensitivity": "lorasim", "radius_m": 300.0, "traffic": "renewal",
            "collision": "capture-lock", "days": 0.02, "beacons_per_day": 100.0,
            "regulatory_limits": False}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["sim", "run", "--scenario", str(path), "--coding-rate",
                                      "7", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"]["coding_rate"] == 7
    assert summary["scenario"]["collision"] == "capture-lock"
    assert summary["hotspots"] == 21


def test_renewal_traffic_with_simple_collisions_matches_its_equation(tmp_path):
    # another node's frames leave a frame of airtime T alone with probability
    # q = P / (P + T) exp(-T / P) (exponential gaps of mean P after each own frame)
    loaded = load_scenario(SCENARIOS / "bor0.toml", collision="simple")
    s = loaded.scenario
    gap_s, air_s = DAY_S / s.beacons_per_day, airtime_s(20, 12, 125_000, 8)
    q = gap_s / (gap_s + air_s) * math.exp(-air_s / gap_s)
    ders = [run_scenario(replace(s, seed=seed, days=loaded.expected["test_days"]),
                         tmp_path / str(seed)).summary["der"] for seed in range(5)]
    assert abs(float(np.mean(ders)) - q ** (s.hotspots - 2)) <= 0.01


def test_toml_node_tables_reach_the_scenario(tmp_path):
    path = tmp_path / "n.toml"
    path.write_text('hotspots = 5\n\n[nodes.hs-00003]\nspreading_factor = 7\n'
                    'bandwidth_hz = 125000\n\n[expected]\nder = 0.5\n')
    loaded = load_scenario(path)
    assert loaded.scenario.nodes == {"hs-00003": {"spreading_factor": 7, "bandwidth_hz": 125_000}}
    assert loaded.expected == {"der": 0.5}
    assert hash(loaded.scenario) == hash(replace(loaded.scenario, nodes={}))
