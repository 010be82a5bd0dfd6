"""A whole `coverage-net testnet` run: simulator, 4 validators, a router, 6 hotspots, 2 epochs.

It needs the daemons (`hotspot run`, `validator run`, `router run`) and skips, naming
what is missing, until all three are registered. Then it is the smoke run of `make
demo` in small: exit status 0, every process stopped cleanly, the rewards table and
the map, and the far hotspot paid nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from coverage_net.cli._main import main
from coverage_net.testnet import MAP_FILENAME, REWARDS_FILENAME

CLI = Path(sys.executable).with_name("coverage-net")


def _missing_daemons() -> list[str]:
    missing = []
    for kind in ("validator", "router", "hotspot"):
        group = main.commands.get(kind)
        if not isinstance(group, click.Group) or "run" not in group.commands:
            missing.append(f"{kind} run")
    return missing


@pytest.mark.skipif(bool(_missing_daemons()),
                    reason=f"daemons not built yet: {', '.join(_missing_daemons())}")
def test_a_small_testnet_finalizes_pays_and_stops_cleanly(tmp_path):
    out = tmp_path / "net"
    done = subprocess.run([str(CLI), "testnet", "--hotspots", "6", "--validators", "4",
                           "--epochs", "2", "--epoch-s", "10", "--seed", "3", "--out",
                           str(out)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "warning:" not in done.stderr and "Traceback" not in done.stderr
    assert "rewards (COV)" in done.stdout
    assert f"coverage map: {out / MAP_FILENAME}" in done.stdout
    assert json.loads((out / MAP_FILENAME).read_text())["type"] == "FeatureCollection"
    rewards = {row["name"]: row for row in json.loads((out / REWARDS_FILENAME).read_text())}
    assert list(rewards) == ["hs01", "hs02", "hs03", "hs04", "far", "liar"]
    assert rewards["far"]["total"] == 0
    for name in rewards:
        assert (out / "logs" / f"{name}.log").is_file()
