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


SHARED_WORKER = {"tests/test_poc_memnet.py": "poc_acceptance",
                 "tests/test_poc_verify.py": "poc_acceptance"}
"""Modules that share a per-process cache (`poc_runs`) and so one xdist worker."""


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: none without the plugin
def pytest_xdist_make_scheduler(config, log):
    """``make test`` runs the computing tests with ``-n N --dist loadfile``: each module
    on one worker (its module-scoped fixtures built once), and the modules of
    `SHARED_WORKER` together. Any other ``--dist`` is xdist's own."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class ModuleScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = super()._split_scope(nodeid)
            return SHARED_WORKER.get(module, module)

    return ModuleScheduling(config, log)
