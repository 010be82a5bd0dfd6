"""The simulator's command line: `run` (virtual time) and `serve` (virtual devboards)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from coverage_net.radio import MODEL_NAMES, RadioError
from firmware_bridge import BridgeError

from ._errors import SimError
from ._scenario import run_scenario, scenario_from_args

ERRORS = (SimError, RadioError, BridgeError, OSError)


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ERRORS as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """coverage-net's software radio simulator: the air between simulated hotspots."""


@main.command()
@click.option("--hotspots", type=click.IntRange(min=1), help="Hotspots to generate [1000].")
@click.option("--world", "world_file", type=click.Path(exists=True, dir_okay=False),
              help="Load hotspots from a CSV or GeoJSON file instead of generating them.")
@click.option("--beacons-per-day", type=click.FloatRange(min=0, min_open=True),
              help="Beacons per hotspot per day, a Poisson process [4].")
@click.option("--days", type=click.FloatRange(min=0, min_open=True), help="Simulated days [1].")
@click.option("--region", help="Regional plan [US915].")
@click.option("--seed", type=click.IntRange(min=0), help="Seed of every random draw [0].")
@click.option("--model", type=click.Choice(MODEL_NAMES), help="Path-loss model [hata-suburban].")
@click.option("--collision", type=click.Choice(["simple", "capture", "inter-sf"]),
              help="Collision model [capture].")
@click.option("--shadowing-db", "shadowing_sigma_db", type=click.FloatRange(min=0),
              help="Log-normal shadowing sigma per link [0].")
@click.option("--density", "density_per_km2", type=click.FloatRange(min=0, min_open=True),
              help="Generated hotspots per km2 [0.01].")
@click.option("--preset", type=click.Choice(["lorasim"]),
              help="LoRaSim's setting: log-distance constants, measured sensitivity, 14 dBm, "
                   "20-byte packets, one receiver, nodes uniformly in range, simple collisions.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output directory: link_table.csv and summary.json.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def run(out_dir, quiet, **options) -> None:
    """Simulate beacons in virtual time and write the link table and a summary.

    \b
    Example:
        python -m radio_sim run --hotspots 10000 --beacons-per-day 4 --days 1 \\
            --region US915 --seed 1 --out out/sim
    """
    scenario = scenario_from_args(**options)
    console = Console(stderr=True, quiet=quiet, soft_wrap=True)
    with Progress(TextColumn("virtual time"), BarColumn(),
                  TextColumn("{task.percentage:>5.1f}%"), TimeElapsedColumn(),
                  console=console, disable=quiet) as progress:
        task = progress.add_task("sim", total=1.0)
        result = run_scenario(scenario, out_dir,
                              progress=lambda t, end: progress.update(task, completed=t / end))
    if not quiet:
        s = result.summary
        console.print(f"{s['hotspots']} hotspots, {s['beacons_transmitted']} beacons, "
                      f"{s['receptions_reported']} receptions: delivery ratio "
                      f"{s['delivery_ratio']}, collisions {s['collisions']}, witnesses per "
                      f"beacon {s['witnesses_per_beacon']['mean']} (mean) in "
                      f"{s['wall_time_s']} s")
        console.print(f"  wrote {result.link_table}\n  wrote {result.summary_path}")


@main.command()
@click.option("--world", "world_file", required=True,
              type=click.Path(exists=True, dir_okay=False),
              help="Hotspots (CSV or GeoJSON); one virtual devboard each.")
@click.option("--dir", "pty_dir", type=click.Path(file_okay=False), default="out/devboards",
              show_default=True, help="Where the per-hotspot port symlinks go.")
@click.option("--manifest", type=click.Path(dir_okay=False), default=None,
              help="Manifest JSON (hotspot -> pty) [DIR/manifest.json].")
@click.option("--model", type=click.Choice(MODEL_NAMES), default="hata-suburban",
              show_default=True, help="Path-loss model.")
@click.option("--collision", type=click.Choice(["simple", "capture", "inter-sf"]),
              default="capture", show_default=True)
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="Virtual seconds per wall-clock second.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
def serve(world_file, pty_dir, manifest, model, collision, speed, seed) -> None:
    """Open one pty per simulated hotspot speaking the native bridge protocol in real time.

    Any hotspot process (or `coverage-net bridge probe --port PATH`) can open a
    port from the manifest as if it were a devboard on USB. Ctrl-C stops.
    """
    import trio

    from coverage_net.radio import model_from_name

    from ._channel import Channel
    from ._devboard import serve as serve_devboards
    from ._world import World

    path = Path(world_file)
    world = (World.from_geojson(path) if path.suffix.lower() in (".geojson", ".json")
             else World.from_csv(path))
    channel = Channel(world, model=model_from_name(model), collision=collision, seed=seed)
    manifest_path = Path(manifest) if manifest else Path(pty_dir) / "manifest.json"
    click.echo(json.dumps({"hotspots": len(world), "manifest": str(manifest_path)}))
    try:
        trio.run(lambda: serve_devboards(world, channel=channel, dir=Path(pty_dir),
                                         manifest_path=manifest_path, speed=speed))
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
