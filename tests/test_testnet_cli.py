"""`coverage-net testnet`'s errors, in a real process: one `error:` line naming what was wrong,
exit status 1, no traceback, and nothing started or written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CLI = Path(sys.executable).with_name("coverage-net")


def _testnet(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), "testnet", "--epochs", "1", *map(str, args)],
                          capture_output=True, text=True, check=False)


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_out_is_a_file(tmp_path):
    out = tmp_path / "taken"
    out.write_text("not a directory")
    line = _one_error_line(_testnet("--hotspots", 6, "--out", out))
    assert f"--out {out} is a file" in line
    assert out.read_text() == "not a directory"


def test_out_is_not_empty(tmp_path):
    (tmp_path / "earlier-run.log").write_text("x")
    line = _one_error_line(_testnet("--hotspots", 6, "--out", tmp_path))
    assert f"--out {tmp_path} is not empty" in line
    assert [p.name for p in tmp_path.iterdir()] == ["earlier-run.log"]


@pytest.mark.parametrize("hotspots", [3, 0, -2])
def test_too_few_hotspots(tmp_path, hotspots):
    line = _one_error_line(_testnet("--hotspots", hotspots, "--out", tmp_path / "net"))
    assert "--hotspots must be at least 4" in line and f"got {hotspots}" in line
    assert not (tmp_path / "net").exists()


def test_a_dem_dir_without_a_tile(tmp_path):
    line = _one_error_line(_testnet("--hotspots", 6, "--dem", tmp_path, "--out",
                                    tmp_path / "net"))
    assert f"--dem {tmp_path}: no SRTM/NASADEM tile" in line


def test_an_epoch_too_short(tmp_path):
    line = _one_error_line(_testnet("--hotspots", 6, "--epoch-s", 1, "--out", tmp_path / "n"))
    assert "--epoch-s must be at least 5" in line
