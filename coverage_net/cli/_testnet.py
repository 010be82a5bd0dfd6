"""``coverage-net testnet``: a whole network on one machine, from world to rewards table.

This module only turns options into a `coverage_net.node.testnet.TestnetOptions`, shows
the progress and prints the result; everything else is the `coverage_net.node.testnet`
package, which tests drive directly.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from coverage_net.node.testnet import (
    MIN_HOTSPOTS,
    ProgressDisplay,
    TestnetOptions,
    TestnetResult,
    prepare_testnet,
    run_testnet,
)
from coverage_net.radio import REGIONS

from ._rewards import cov

_TABLE_WIDTH = 120  # the rewards table when stdout is not a terminal


@click.command()
@click.option("--hotspots", type=int, required=True,
              help=f"Hotspot processes (at least {MIN_HOTSPOTS}: two of them are the one out "
                   "of everyone's range and the liar).")
@click.option("--validators", type=click.IntRange(min=1, max=64), default=4, show_default=True,
              help="Validator processes (3f + 1 tolerate f faulty).")
@click.option("--epochs", type=click.IntRange(min=1), required=True,
              help="Stop once this many epochs are finalized.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="New or empty directory for keys, configs, data, logs/, the map.")
@click.option("--dem", "dem_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Place the hotspots on the area of the first SRTM/NASADEM tile here "
                   "(default: an embedded area around Berlin, NH).")
@click.option("--region", type=click.Choice(REGIONS, case_sensitive=False), default="US915",
              show_default=True, help="LoRaWAN region of every radio.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the world, the keys and the simulator.")
@click.option("--epoch-s", type=float, default=20.0, show_default=True,
              help="Epoch length, seconds (every hotspot is challenged about once an epoch).")
@click.option("--start-in-s", "start_delay_s", type=click.FloatRange(min=0),
              help="Genesis this many seconds from now [time for every process to start].")
@click.option("--timeout-s", type=click.FloatRange(min=0, min_open=True),
              help="Give up if the epochs are not finalized by then [genesis + epochs + 3 "
                   "epochs + 60 s].")
def testnet(**options) -> None:
    """Run a whole coverage-net network on this machine until EPOCHS are finalized.

    Starts the radio simulator (one pty devboard per hotspot), the validators, a router
    and the hotspots as processes on 127.0.0.1, each logging to OUT/logs/NAME.log;
    shows epochs, finality and verdicts as they happen; then stops every process and
    prints each hotspot's rewards and the coverage map's path.

    \b
    Example:
        coverage-net testnet --hotspots 10 --validators 4 --epochs 3 --out out/testnet
    """
    opts = TestnetOptions(**options)
    layout = prepare_testnet(opts)
    console = Console(stderr=True, highlight=False)
    click.echo(f"testnet in {layout.out_dir}: {opts.hotspots} hotspots, {opts.validators} "
               f"validators, a router and the radio simulator; logs in {layout.log_dir}",
               err=True)
    with ProgressDisplay(console, epochs=opts.epochs, hotspots=opts.hotspots,
                         genesis_time_ms=layout.genesis_time_ms) as display:
        result = run_testnet(layout, opts.epochs, timeout_s=opts.timeout_s,
                             on_progress=display.update)
    print_result(result)


def print_result(result: TestnetResult) -> None:
    """The end of a run: progress in one line, the rewards table, warnings, the map's path."""
    out = Console() if Console().is_terminal else Console(width=_TABLE_WIDTH)
    snapshot = result.snapshot
    latencies = snapshot.latencies_ms
    mean_s = sum(latencies) / len(latencies) / 1000 if latencies else 0.0
    out.print(f"{snapshot.finalized} epochs finalized (mean finality {mean_s:.1f} s); "
              f"verdicts: {snapshot.valid} valid, {snapshot.invalid} invalid "
              f"(validator {snapshot.leader})", highlight=False)
    table = Table(title="rewards (COV)")
    for name in ("hotspot", "role", "beacons", "witnesses", "beacon", "witness",
                 "data transfer", "total"):
        table.add_column(name, justify="left" if name in ("hotspot", "role") else "right")
    for row in result.rewards:
        table.add_row(row.name, row.role, str(row.beacons), str(row.witnesses), cov(row.beacon),
                      cov(row.witness), cov(row.data), cov(row.total))
    out.print(table)
    for stop in result.stopped:
        if not stop.clean:
            click.echo(f"warning: {stop.name} ended with status {stop.returncode}"
                       f"{' after SIGKILL' if stop.killed else ''}", err=True)
    out.print(f"coverage map: {result.map_path} ({result.map_cells} proven cells)",
              highlight=False)
