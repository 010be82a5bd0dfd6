"""`coverage-net predict`: the installed console script end to end, and its error paths.

Errors must reach the user as one line starting with "error:" and exit 1; click usage
errors exit 2. The fast error paths also run in-process through click's CliRunner.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h3
import pytest
from click.testing import CliRunner

from coverage_net.cli import main
from coverage_net.radio import MODEL_NAMES

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "white_mountains.csv"
SCRIPT = Path(sys.executable).with_name("coverage-net")
OUTPUTS = ["cells.geojson", "coverage_classes.geojson", "summary.json"]
HEADER = "name,lat,lon,cell,height_m,gain_dbi,tx_power_dbm,region\n"


def _run(*args, cwd: Path) -> subprocess.CompletedProcess:
    # wide enough that rich does not wrap long paths in its report
    env = {**os.environ, "COLUMNS": "400"}
    return subprocess.run([str(SCRIPT), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, check=False, env=env)


def _assert_one_error_line(stderr: str, *fragments: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    (line,) = lines
    assert line.startswith("error: ")
    for fragment in fragments:
        assert fragment in line
    return line


def test_console_script_is_installed_next_to_the_interpreter():
    assert SCRIPT.is_file(), f"{SCRIPT} missing: install the package (make install)"


# --- the real command, end to end ------------------------------------------------------


def test_predict_with_the_real_tile_writes_the_map(tmp_path, dem_dir):
    out = tmp_path / "wm"
    proc = _run("predict", "--hotspots", EXAMPLE, "--dem", dem_dir, "--res", 7,
                "--max-range-km", 15, "--out", out, "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""  # -q: nothing on the terminal
    assert sorted(p.name for p in out.iterdir()) == OUTPUTS  # and no .tmp left over

    summary = json.loads((out / "summary.json").read_text())
    assert (summary["model"], summary["dem"], summary["res"]) == ("terrain", str(dem_dir), 7)
    assert [h["name"] for h in summary["hotspots"]] == [
        "mt-washington", "gorham", "north-conway", "bretton-woods", "lincoln"]
    assert all(0 < h["max_range_km"] <= 15.0 for h in summary["hotspots"])
    cells = json.loads((out / "cells.geojson").read_text())
    assert cells["type"] == "FeatureCollection"
    assert len(cells["features"]) == summary["cells_covered"] > 0
    assert all(h3.get_resolution(f["properties"]["cell"]) == 7 for f in cells["features"])
    classes = json.loads((out / "coverage_classes.geojson").read_text())
    assert sum(f["properties"]["cells"] for f in classes["features"]) == summary["cells_covered"]


def test_predict_without_quiet_reports_per_hotspot_and_files(tmp_path):
    out = tmp_path / "fs"
    proc = _run("predict", "--hotspots", EXAMPLE, "--model", "hata-open", "--res", 7,
                "--max-range-km", 8, "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    for name in ("mt-washington", "lincoln", "SF10", "hata-open", "by 5 hotspots"):
        assert name in proc.stderr
    for name in OUTPUTS:
        assert f"wrote {out / name}" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == OUTPUTS


def test_help_explains_the_options(tmp_path):
    proc = _run("predict", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    text = proc.stdout
    for option in ("--hotspots", "--dem", "--model", "--res", "--out", "--max-range-km",
                   "--sf", "--quiet"):
        assert option in text
    assert ".hgt" in text  # what --dem wants
    assert "H3 resolution" in text
    for model in MODEL_NAMES:  # the model choices are listed
        assert model in text


def test_top_level_help_lists_predict(tmp_path):
    proc = _run("--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "predict" in proc.stdout


# --- error paths through the real script ------------------------------------------------


def test_missing_hotspot_file(tmp_path):
    missing = tmp_path / "nope.csv"
    proc = _run("predict", "--hotspots", missing, "--model", "free-space", "--out",
                tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 1
    _assert_one_error_line(proc.stderr, str(missing), "no such station file")
    assert not (tmp_path / "out").exists()


def test_bad_csv_row(tmp_path):
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text(HEADER + "ok,44.27,-71.30,,10,3,20,US915\n"
                                 "tall,44.30,-71.20,,-3,3,20,US915\n", encoding="utf-8")
    proc = _run("predict", "--hotspots", csv_path, "--model", "free-space", "--out",
                tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 1
    _assert_one_error_line(proc.stderr, str(csv_path), "line 3 ('tall')", "height_m")
    assert not (tmp_path / "out").exists()


def test_dem_directory_that_does_not_exist(tmp_path):
    missing = tmp_path / "no-such-dem"
    proc = _run("predict", "--hotspots", EXAMPLE, "--dem", missing, "--out", tmp_path / "out",
                cwd=tmp_path)
    assert proc.returncode == 1
    _assert_one_error_line(proc.stderr, str(missing), "does not exist")


@pytest.fixture
def truncated_dem(tmp_path) -> Path:
    dem = tmp_path / "broken-dem"
    dem.mkdir()
    (dem / "N44W072.hgt").write_bytes(b"\x00\x01" * 500)  # 1000 bytes of a 2.9 MB tile
    return dem


def test_truncated_tile_needed_by_the_terrain_model(tmp_path, truncated_dem):
    out = tmp_path / "out"
    proc = _run("predict", "--hotspots", EXAMPLE, "--dem", truncated_dem, "--res", 7,
                "--max-range-km", 5, "--out", out, "-q", cwd=tmp_path)
    assert proc.returncode == 1
    _assert_one_error_line(proc.stderr, "N44W072.hgt", "1000 bytes", "truncated")
    assert not out.exists()  # nothing half-written


def test_truncated_tile_is_not_read_by_a_model_without_terrain(tmp_path, truncated_dem):
    out = tmp_path / "out"
    proc = _run("predict", "--hotspots", EXAMPLE, "--dem", truncated_dem, "--model",
                "free-space", "--res", 6, "--max-range-km", 5, "--out", out, "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == OUTPUTS


def test_unknown_model_is_a_usage_error(tmp_path):
    proc = _run("predict", "--hotspots", EXAMPLE, "--model", "ouija", "--out", tmp_path / "o",
                cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "Invalid value for '--model'" in proc.stderr and "ouija" in proc.stderr


# --- fast error paths in-process ----------------------------------------------------------


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_runner_bad_row_is_one_error_line(tmp_path):
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text(HEADER + "x,44,-71,,10,6,28,US915\n", encoding="utf-8")
    result = _invoke("predict", "--hotspots", csv_path, "--model", "free-space", "--out",
                     tmp_path / "out")
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # a clean exit, not a crash
    _assert_one_error_line(result.stderr, str(csv_path), "line 2 ('x')", "30 dBm", "US915")


@pytest.mark.parametrize(("args", "fragment"), [
    (["--model", "ouija"], "Invalid value for '--model'"),
    (["--res", "16"], "Invalid value for '--res'"),
    (["--max-range-km", "0"], "Invalid value for '--max-range-km'"),
    (["--sf", "6"], "Invalid value for '--sf'"),
    (["--threads", "0"], "Invalid value for '--threads'"),
    (["--rx-height", "-1"], "Invalid value for '--rx-height'"),
], ids=["model", "res", "range", "sf", "threads", "rx-height"])


def test_runner_usage_errors_exit_2(tmp_path, args, fragment):
    result = _invoke("predict", "--hotspots", EXAMPLE, "--out", tmp_path / "o", *args)
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("missing", ["--hotspots", "--out"])
def test_runner_required_options(tmp_path, missing):
    args = {"--hotspots": EXAMPLE, "--out": tmp_path / "o"}
    del args[missing]
    result = _invoke("predict", *[x for kv in args.items() for x in kv])
    assert result.exit_code == 2
    assert f"Missing option '{missing}'" in result.stderr


def test_runner_out_path_that_is_a_file(tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a directory")
    result = _invoke("predict", "--hotspots", EXAMPLE, "--out", target)
    assert result.exit_code == 2
    assert "is a file" in result.stderr


def test_infinite_range_is_one_error_line(tmp_path):
    proc = _run("predict", "--hotspots", EXAMPLE, "--model", "free-space", "--res", 5,
                "--max-range-km", "inf", "--out", tmp_path / "out", "-q", cwd=tmp_path)
    assert proc.returncode in (1, 2)
    assert "Traceback" not in proc.stderr


def test_infinite_rx_gain_is_one_error_line_and_leaves_no_tmp(tmp_path):
    out = tmp_path / "out"
    proc = _run("predict", "--hotspots", EXAMPLE, "--model", "free-space", "--res", 5,
                "--max-range-km", 5, "--rx-gain", "inf", "--out", out, "-q", cwd=tmp_path)
    leftovers = sorted(p.name for p in out.glob("*.tmp")) if out.exists() else []
    assert "Traceback" not in proc.stderr and leftovers == []
    assert proc.returncode in (1, 2)


def test_short_csv_row_is_one_error_line(tmp_path):
    csv_path = tmp_path / "short.csv"
    csv_path.write_text(HEADER + "short,44.27,-71.30\n", encoding="utf-8")
    result = _invoke("predict", "--hotspots", csv_path, "--model", "free-space", "--out",
                     tmp_path / "out")
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1
    _assert_one_error_line(result.stderr, str(csv_path), "line 2", "fields")
