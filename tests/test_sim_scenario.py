"""Scenario runs: reproducible link tables, the LoRaSim preset, the command line."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from radio_sim._errors import SimConfigError
from radio_sim._scenario import LINK_COLUMNS, Scenario, lorasim_preset, run_scenario


def _small(**kw) -> Scenario:
    kw.setdefault("hotspots", 300)
    kw.setdefault("beacons_per_day", 24)
    kw.setdefault("days", 0.5)
    kw.setdefault("density_per_km2", 0.05)
    return Scenario(**kw)


def test_same_seed_gives_a_byte_identical_link_table(tmp_path):
    a = run_scenario(_small(seed=5, shadowing_sigma_db=4.0), tmp_path / "a")
    b = run_scenario(_small(seed=5, shadowing_sigma_db=4.0), tmp_path / "b")
    c = run_scenario(_small(seed=6, shadowing_sigma_db=4.0), tmp_path / "c")
    assert a.link_table.read_bytes() == b.link_table.read_bytes()
    assert a.link_table.read_bytes() != c.link_table.read_bytes()
    assert a.summary["receptions_reported"] > 1000


def test_link_table_rows_and_summary_agree(tmp_path):
    result = run_scenario(_small(seed=2, collision="inter-sf"), tmp_path)
    with open(result.link_table, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == LINK_COLUMNS
    s = result.summary
    assert len(rows) == s["receptions_reported"]
    assert sum(r["delivered"] == "1" for r in rows) == s["by_reason"]["delivered"]
    for r in rows:
        assert (r["delivered"] == "1") == (r["reason"] == "delivered")
        assert r["transmitter"] != r["receiver"]
    delivered_per_packet = {}
    for r in rows:
        delivered_per_packet.setdefault(r["packet_id"], 0)
        delivered_per_packet[r["packet_id"]] += r["delivered"] == "1"
    assert max(delivered_per_packet.values()) == s["witnesses_per_beacon"]["max"]
    assert json.loads((tmp_path / "summary.json").read_text())["scenario"]["seed"] == 2


def test_lorasim_preset_is_lorasims_setting(tmp_path):
    s = lorasim_preset(20, avg_send_time_s=600, days=0.2)
    assert (s.model, s.sensitivity, s.tx_power_dbm, s.payload_bytes) == ("lorasim", "lorasim",
                                                                         14.0, 20)
    assert (s.collision, s.receivers, s.channel_count) == ("simple", "central", 1)
    result = run_scenario(s, tmp_path)
    with open(result.link_table, encoding="utf-8") as fh:
        receivers = {row["receiver"] for row in csv.DictReader(fh)}
    assert len(receivers) == 1  # one receiver
    assert result.summary["by_reason"]["below_sensitivity"] == 0  # every node in range
    assert result.summary["spreading_factor"] == 12


def test_bad_scenarios_are_refused_with_the_field_named():
    with pytest.raises(SimConfigError, match="model"):
        Scenario(model="okumura")
    with pytest.raises(SimConfigError, match="days"):
        Scenario(days=0)
    with pytest.raises(SimConfigError, match="receivers"):
        Scenario(receivers="some")


def test_command_line_run(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "radio_sim", "run", "--hotspots", "200", "--beacons-per-day",
         "12", "--days", "0.25", "--seed", "3", "--density", "0.05", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "delivery ratio" in proc.stderr and "wrote" in proc.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["hotspots"] == 200 and summary["beacons_transmitted"] > 100


def test_command_line_bad_world_file_is_one_error_line(tmp_path):
    bad = tmp_path / "world.csv"
    bad.write_text("name,lat\nx,notanumber\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "radio_sim", "run", "--world", str(bad), "--out",
         str(tmp_path / "o")], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "world.csv" in last
    assert "Traceback" not in proc.stderr
