"""The benchmark still runs and prints its figures (tiny sizes; no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_pathloss_bench_quick_runs_and_reports_every_row(tmp_path):
    out = tmp_path / "rows.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "pathloss.py"), "--quick", "--json", str(out)],
        capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "ratio = kernel / numpy reference" in proc.stdout
    rows = json.loads(out.read_text())
    models = {r["model"] for r in rows}
    assert {"free-space", "log-distance+shadowing", "hata-urban", "cost231", "two-ray",
            "terrain (deygout)"} <= models
    assert {r["threads"] for r in rows} == {1, 2}
    for r in rows:
        assert r["kernel"] > 0
        if r["max_abs_diff_db"] is not None:
            assert r["max_abs_diff_db"] < 1e-6  # kernel and reference agree in the bench too
