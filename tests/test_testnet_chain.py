"""The testnet's loop over real validator processes: the consensus validators of today
(`coverage-net chain validator`) run on the genesis and parameters the testnet writes,
finalize its epochs, stop cleanly on SIGINT, and leave a ledger the report reads.

The hotspot, router and config-driven validator daemons are not needed for this; the
whole network's smoke run drives `Testnet` with its own process specs.
"""

from __future__ import annotations

import json
import sys

from coverage_net.cli._testnet import print_result
from coverage_net.testnet import (
    REWARDS_FILENAME,
    ProcessSpec,
    Supervisor,
    Testnet,
    TestnetOptions,
    prepare_testnet,
    read_snapshot,
)


def test_chain_validators_finalize_the_testnets_epochs_and_stop_cleanly(tmp_path, capsys):
    layout = prepare_testnet(TestnetOptions(tmp_path / "net", hotspots=4, epochs=1,
                                            epoch_s=5, start_delay_s=6))
    command = (sys.executable, "-m", "coverage_net.cli", "chain", "validator")
    seen = []
    with Supervisor() as supervisor:
        testnet = Testnet(layout, supervisor)
        for i, name in enumerate(layout.validator_names):
            supervisor.start(ProcessSpec(name, (
                *command, "--genesis", str(layout.out_dir / "genesis.toml"),
                "--key", str(layout.key_path(name)), "--data", str(layout.data_dir(name)),
                "--listen", f"/ip4/127.0.0.1/tcp/{layout.ports[i]}"),
                layout.log_dir / f"{name}.log"))
        snapshot = testnet.wait_for_epochs(1, timeout_s=testnet.default_timeout_s(1),
                                           on_progress=seen.append)
        stopped = testnet.stop()
    assert snapshot.finalized >= 1 and snapshot.leader in layout.validator_names
    assert all(latency >= 0 for latency in snapshot.latencies_ms)
    assert seen[-1] == snapshot
    assert sorted(s.name for s in stopped) == layout.validator_names
    assert all(s.clean for s in stopped), stopped
    result = testnet.report(read_snapshot(layout), stopped)
    assert [row.name for row in result.rewards] == layout.hotspot_names
    assert all(row.total == 0 for row in result.rewards)  # no hotspot ran
    assert result.map_cells == 0 and result.map_path.is_file()
    assert json.loads((layout.out_dir / REWARDS_FILENAME).read_text())[0]["total"] == 0
    print_result(result)  # what `coverage-net testnet` ends with
    printed = capsys.readouterr().out
    assert "rewards (COV)" in printed and f"coverage map: {result.map_path}" in printed
    for name in layout.hotspot_names:
        assert f"│ {name} " in printed
    assert "epochs finalized" in printed
