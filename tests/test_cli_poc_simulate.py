"""`coverage-net poc simulate`, run as the installed command over the real tile: it judges
a small network with attackers, prints the figures, and stores verdicts that
`coverage-net poc explain` then reads back with the same numbers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from coverage_net.node import load_verdict
from coverage_net.store import MessageStore

CLI = Path(sys.executable).with_name("coverage-net")


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True,
                          check=False, timeout=600)


def test_simulate_stores_verdicts_that_explain_reads(dem_dir, tmp_path):
    data = tmp_path / "poc"
    out = _run("poc", "simulate", "--dem", dem_dir, "--hotspots", 80, "--beacons", 60,
               "--attack", "ring=2", "--attack", "invent_rssi=1", "--data", data, "-q")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    accepted = float(re.search(r"accepted ([\d.]+) %", text).group(1))
    assert 95.0 <= accepted <= 100.0
    assert re.search(r"ring \(naive\): \d+ forged reports, 100\.0 % caught", text)
    assert "invent_rssi (naive)" in text
    stored = int(re.search(r"stored (\d+) verdicts", text).group(1))
    with MessageStore.open(data, create=False) as store:
        assert len(store.verdict_rows()) == stored
    ids = re.findall(r"poc explain ([0-9a-f]{16}) --data \S+\s+# (\w+)", text)
    assert ("valid" in {reason for _, reason in ids})
    for prefix, reason in ids:
        shown = _run("poc", "explain", prefix, "--data", data)
        assert shown.returncode == 0, shown.stderr
        with MessageStore.open(data, create=False) as store:
            verdict = load_verdict(store, prefix)
        assert str(verdict.reason) == reason
        assert f": {reason} (" in shown.stdout or f"VALID: {reason}" in shown.stdout


def test_same_seed_same_output(dem_dir):
    args = ("poc", "simulate", "--dem", dem_dir, "--hotspots", 40, "--beacons", 20, "--seed",
            5, "--attack", "spoof_5km=1", "-q")
    first, second = _run(*args), _run(*args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout


def test_verifier_overrides_are_checked_and_reach_the_run(dem_dir):
    """`--verifier NAME=INTEGER` goes through the parameters' own checks before anything
    runs (a bad one exits 1 naming what is wrong), and a good one changes the verdicts."""
    base = ("poc", "simulate", "--dem", dem_dir, "--hotspots", 40, "--beacons", 20, "-q")
    for bad, says in (("bogus=3", "verifier.bogus: unknown key"),
                      ("hotspot_window_epochs", "expected NAME=INTEGER"),
                      ("hotspot_window_epochs=0", "must be at least 1, got 0"),
                      ("max_k_sigma_centi=x", "expected NAME=INTEGER")):
        out = _run(*base, "--verifier", bad)
        assert out.returncode == 1, out.stdout
        assert says in out.stderr, out.stderr
    default = _run(*base, "--attack", "invent_rssi=1")
    strict = _run(*base, "--attack", "invent_rssi=1", "--verifier", "max_k_sigma_centi=50")
    assert default.returncode == 0 and strict.returncode == 0, default.stderr + strict.stderr
    assert re.search(r"flagged during the run: \d/1", default.stdout), default.stdout

    def accepted(text: str) -> float:
        return float(re.search(r"accepted ([\d.]+) %", text).group(1))
    assert accepted(strict.stdout) < accepted(default.stdout)  # 0.5 sigma refuses far more
