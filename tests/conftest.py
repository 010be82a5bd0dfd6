"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def dem_dir() -> Path:
    """The directory holding the real NASADEM tile N44W072.hgt (skips when absent)."""
    env = os.environ.get("COVERAGE_NET_DEM_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not (path / "N44W072.hgt").is_file():
        pytest.skip("NASADEM tile N44W072.hgt not found; set COVERAGE_NET_DEM_DIR")
    return path
