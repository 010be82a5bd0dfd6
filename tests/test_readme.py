"""The README's examples run as written: its Python block and its hotspot CSV."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from coverage_net.radio import read_stations

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_shows_the_two_setup_commands():
    assert "make demo" in README and "make test" in README


def test_readme_python_example_runs(dem_dir, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks, "the README has a Python example"
    monkeypatch.chdir(ROOT)
    for block in blocks:
        code = block.replace('Terrain("../shared/data")', f"Terrain({str(dem_dir)!r})")
        exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - our own documentation


def test_readme_hotspot_csv_example_loads(tmp_path):
    block = re.search(r"```\n(name,lat,lon,cell.*?)```", README, flags=re.S)
    assert block
    path = tmp_path / "hotspots.csv"
    path.write_text(block.group(1), encoding="utf-8")
    hotspots = read_stations(path, enforce_eirp_limit=True)
    assert [h.name for h in hotspots] == ["mt-washington", "gorham"]
    assert hotspots[1].lat_deg == pytest.approx(44.39, abs=0.01)


def test_readme_comment_values_are_true():
    import numpy as np

    from coverage_net.radio import free_space_loss_db, hata_loss_db, time_on_air_s

    assert np.round(free_space_loss_db([1e3, 1e4], 868e6), 3).tolist() == [91.218, 111.218]
    assert round(float(hata_loss_db(2_000.0, 869e6, 30.0, 1.0, "suburban")), 2) == 128.03
    assert float(time_on_air_s(20, 7)) == pytest.approx(0.056576)
