"""The benchmark still runs and prints its figures (tiny sizes; no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.serial  # the benches measure rates and CPU time

ROOT = Path(__file__).resolve().parents[1]


def _run_bench(script: str, tmp_path, *extra: str):
    """Run `bench/<script> --quick --json [extra]`; (stdout, the figures it wrote)."""
    out = tmp_path / "figures.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--quick", "--json", str(out), *extra],
        capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout, json.loads(out.read_text())


def test_pathloss_bench_quick_runs_and_reports_every_row(tmp_path):
    stdout, rows = _run_bench("pathloss.py", tmp_path)
    assert "ratio = kernel / numpy reference" in stdout
    models = {r["model"] for r in rows}
    assert {"free-space", "log-distance+shadowing", "hata-urban", "cost231", "two-ray",
            "terrain (deygout)", "itm (longley-rice)"} <= models
    assert {r["threads"] for r in rows} == {1, 2}
    for r in rows:
        assert r["kernel"] > 0
        if r["max_abs_diff_db"] is not None:
            assert r["max_abs_diff_db"] < 1e-6  # kernel and reference agree in the bench too


def test_bridge_bench_quick_runs_without_loss(tmp_path):
    stdout, result = _run_bench("bridge.py", tmp_path)
    assert result["rx_burst"]["lost"] == 0 and result["rx_burst"]["out_of_order"] == 0
    assert result["rx_burst"]["received"] == result["rx_burst"]["frames"] == 2000
    assert result["transmitted"] == result["transmit"]["exchanges"]
    assert "frames/s" in stdout


def test_sim_bench_quick_runs(tmp_path):
    stdout, figures = _run_bench("sim.py", tmp_path)
    assert "wall time" in stdout
    assert figures["hotspots"] == 1000 and figures["beacons"] > 3000
    assert figures["link_rows"] > figures["beacons"]  # beacons are heard
    assert 0 < figures["delivery_ratio"] <= 1


def test_lorasim_bench_quick_prints_measured_beside_expected(tmp_path):
    stdout, rows = _run_bench("lorasim.py", tmp_path, "--only", "aloha", "bor2")
    assert "expected" in stdout and "measured" in stdout
    assert [r["scenario"] for r in rows] == ["aloha", "bor2"]
    assert all(0 < r["der"] <= 1 and r["expected"] is not None for r in rows)


def test_gossip_bench_quick_delivers_everything(tmp_path):
    stdout, figures = _run_bench("gossip.py", tmp_path)
    assert "delivery ratio" in stdout and "baseline: stock py-libp2p" in stdout
    ours = figures["coverage_net"]
    assert ours["delivery_ratio"] == 1.0
    assert ours["latency_p50_ms"] <= ours["latency_p99_ms"]
    assert ours["publish_msgs_per_s"] > 0 and ours["deliveries_per_s"] > 0
    # The stock library's spam protection alone lets about 10 messages/s through.
    assert figures["stock"]["delivered"] < figures["stock"]["messages"]


def test_memnet_bench_quick_converges_and_replays(tmp_path):
    stdout, first = _run_bench("memnet.py", tmp_path)
    _, again = _run_bench("memnet.py", tmp_path)
    assert "wall time" in stdout and first["messages"] == 50 and first["nodes"] == 10
    assert first["trace_digest"] == again["trace_digest"]  # same seed, same run


def test_gossip_bench_steady_quick_measures_latency_and_cpu(tmp_path):
    stdout, figures = _run_bench("gossip.py", tmp_path, "--steady", "--profile", "3")
    assert "msg/s" in stdout and "self CPU by area" in stdout
    (run,) = figures["steady"]
    assert run["published"] == run["rate_per_s"] * run["seconds"]
    assert run["delivery_ratio"] == 1.0  # 4 peers on loopback, a few messages a second
    assert run["latency_p50_ms"] <= run["latency_p99_ms"] <= run["latency_max_ms"]
    measured = [p for p in run["per_peer"] if not p["profiled"]]
    assert len(measured) == 3 and all(p["cpu_ms_per_msg"] > 0 for p in measured)
    areas = {a["area"] for a in run["profile"]["areas"]}
    assert {"py-libp2p", "sqlite", "signature"} <= areas


def test_verify_bench_quick_reports_every_rate(tmp_path, dem_dir):
    stdout, figures = _run_bench("verify.py", tmp_path, "--dem", str(dem_dir))
    assert "witnesses/s" in stdout and "raw libsodium" in stdout
    terrain_cold, terrain_warm, closed_cold, closed_warm = figures["verify"]
    assert (terrain_cold["model"], terrain_cold["link_cache"]) == ("terrain", "cold")
    assert (terrain_warm["model"], terrain_warm["link_cache"]) == ("terrain", "warm")
    assert closed_cold["model"] == closed_warm["model"] == "hata-suburban"
    for cold, warm in ((terrain_cold, terrain_warm), (closed_cold, closed_warm)):
        assert cold["kernel_paths"] > 0 and warm["kernel_paths"] == 0  # the cache is warm
    assert closed_cold["valid_fraction"] > 0.95  # its network's air follows that model
    for row in figures["verify"]:
        assert row["witness_reports"] > 100 and row["witnesses_per_s"] > 0
    assert terrain_cold["valid_fraction"] > 0.95  # honest air, the scenario's own model
    assert figures["verdicts_match_scenario"]  # decoded bytes judged as the objects were
    ingest = figures["ingest"]
    assert ingest["ingest_per_s"] > 0 and ingest["libsodium_verify_per_s"] > 0
    assert ingest["ingest_to_libsodium"] == pytest.approx(
        ingest["ingest_per_s"] / ingest["libsodium_verify_per_s"])


def test_rewards_bench_quick_conserves_the_emission(tmp_path):
    stdout, figures = _run_bench("rewards.py", tmp_path)
    assert "epoch_rewards:" in stdout and "target < 10 s" in stdout
    assert figures["witness_verdicts"] == figures["beacons"] * 27 == 27_000
    # each share rounds down by less than a unit: at most 3 pools x payouts, plus the pools
    assert figures["payouts"] > 400
    assert 0 <= figures["remainder_units"] < 3 * figures["payouts"] + 10
    assert figures["beaconers_scaled_below_1"] > 0  # the clusters crowd some hexes
    assert figures["seconds"] > 0


def test_consensus_soak_quick_passes_every_schedule(tmp_path):
    stdout, figures = _run_bench("consensus_soak.py", tmp_path)
    assert figures["schedules"] == 200 and figures["failed"] == []
    assert figures["decisions"] > 200 and figures["evidence"] > 0
    assert "200 schedules" in stdout


def test_consensus_block_bench_quick_finalizes_the_epoch(tmp_path):
    stdout, figures = _run_bench("consensus_block.py", tmp_path)
    assert figures["finalized_by"] == 4 and figures["witness_verdicts"] == 2_000
    assert figures["parts"] == -(-figures["verdicts"] // figures["part_leaves"])
    assert figures["largest_part_bytes"] <= figures["message_limit_bytes"]
    assert "finalized by all 4 validators" in stdout


def test_verify_bench_without_the_tile_says_so(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "verify.py"), "--quick",
                           "--dem", str(tmp_path)], capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 2
    assert "N44W072.hgt is missing" in proc.stderr and "--dem" in proc.stderr


def test_poc_attacks_bench_prints_every_attack_in_both_forms(dem_dir):
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "poc_attacks.py"), "--seeds", "1",
                           "--hotspots", "60", "--beacons", "80", "--per-attack", "1",
                           "--dem", str(dem_dir)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("naive (seeds 1)") and "honest hotspots flagged" in lines[0]
    assert lines[7].startswith("model-aware (seeds 1)")
    for attack in ("spoof_5km", "invent_rssi", "relay_30km", "replay", "self_witness", "ring"):
        rows = [line for line in lines if line.strip().startswith(attack)]
        assert len(rows) == 2 and all("forged reports caught" in r for r in rows)


def test_arrival_solve_bench_quick_finds_the_repeats_late_and_no_honest_report(tmp_path,
                                                                               dem_dir):
    stdout, rows = _run_bench("arrival_solve.py", tmp_path, "--dem", str(dem_dir))
    assert "honest reports counted late at any solve: 0" in stdout
    assert rows and all(r["late_honest"] == 0 for r in rows)
    assert all(r["left_out_early"] == 0 for r in rows)  # nobody here stamps early
    last = rows[-1]  # once the clocks are known, every valid repeat stands out
    assert last["repeats"] > 0 and last["late_repeats"] == last["repeats"]
    assert last["offset_error_max_ms"] < 50


def test_predict_bench_quick_prints_both_rates_and_their_ratio(tmp_path, dem_dir):
    stdout, rows = _run_bench("predict.py", tmp_path, "--dem", str(dem_dir))
    assert "end to end" in stdout and "kernel alone" in stdout and "ratio" in stdout
    assert [r["res"] for r in rows] == [8, 9]
    for r in rows:
        assert r["cells_evaluated"] == r["kernel_cells"] > 0  # both sides count the same cells
        assert r["end_to_end_cells_per_s"] > 0 and r["kernel_cells_per_s"] > 0
        assert r["ratio"] > 0 and r["output_bytes"]["cells.geojson"] > 0
