"""`coverage-net sim`: the software radio simulator, in virtual time (`run`) or serving
virtual devboards in real time (`serve`).

The simulator itself is `radio_sim` (layer 3); this module only turns options into
its objects, so the simulator has one command line and one error map with the rest
of coverage-net. `python -m radio_sim` is an alias of this group.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import trio
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from coverage_net.radio import MODEL_NAMES, model_from_name
from radio_sim import (
    FADING_MODELS,
    REALISTIC_IMPAIRMENTS,
    REALISTIC_SHADOWING_DB,
    SETTING_RULES,
    TRAFFIC_MODELS,
    Channel,
    CollisionModel,
    Impairments,
    SimConfigError,
    World,
    read_sensors,
    run_scenario,
    scenario_from_args,
)
from radio_sim import serve as serve_devboards

COLLISION_MODELS = tuple(c.value for c in CollisionModel)
AIRS = ("model", "realistic")


def _receivers(ctx, param, value):
    """'all', 'central', a count, or comma-separated hotspot names."""
    if value is None or value in ("all", "central"):
        return value
    if value.isdigit():
        return int(value)
    return tuple(name.strip() for name in value.split(",") if name.strip())


@click.group()
def sim() -> None:
    """The software radio simulator: the air between simulated hotspots."""


@sim.command()
@click.option("--hotspots", type=click.IntRange(min=1), help="Hotspots to generate [1000].")
@click.option("--world", "world_file", type=click.Path(exists=True, dir_okay=False),
              help="Load hotspots from a CSV or GeoJSON file instead of generating them.")
@click.option("--beacons-per-day", type=click.FloatRange(min=0, min_open=True),
              help="Beacons per hotspot per day, a Poisson process [4].")
@click.option("--days", type=click.FloatRange(min=0, min_open=True), help="Simulated days [1].")
@click.option("--region", help="Regional plan [US915].")
@click.option("--seed", type=click.IntRange(min=0), help="Seed of every random draw [0].")
@click.option("--model", type=click.Choice(MODEL_NAMES), help="Path-loss model [hata-suburban].")
@click.option("--collision", type=click.Choice(COLLISION_MODELS),
              help="Collision model [capture].")
@click.option("--shadowing-db", "shadowing_sigma_db", type=click.FloatRange(min=0),
              help="Log-normal shadowing sigma per link [0].")
@click.option("--density", "density_per_km2", type=click.FloatRange(min=0, min_open=True),
              help="Generated hotspots per km2 [0.01].")
@click.option("--fading", type=click.Choice(FADING_MODELS),
              help="Per-packet fast fading of the received power [none].")
@click.option("--rician-k-db", type=float, help="Rician K factor, dB [6].")
@click.option("--rssi-error-db", "rssi_error_sigma_db", type=click.FloatRange(min=0),
              help="Sigma of the error on the reported RSSI [0].")
@click.option("--rssi-step-db", type=click.FloatRange(min=0),
              help="Step of the reported RSSI, 1 like an SX1276 [0: exact].")
@click.option("--snr-error-db", "snr_error_sigma_db", type=click.FloatRange(min=0),
              help="Sigma of the error on the reported SNR [0].")
@click.option("--snr-step-db", type=click.FloatRange(min=0),
              help="Step of the reported SNR, 0.25 like an SX1276 [0: exact].")
@click.option("--gain-error-db", "gain_error_sigma_db", type=click.FloatRange(min=0),
              help="Sigma of each hotspot's antenna gain error (true minus asserted) [0].")
@click.option("--coding-rate", type=click.IntRange(5, 8),
              help="Denominator of the 4/x code rate, 5..8 [5].")
@click.option("--spreading-factor", type=click.IntRange(6, 12),
              help="Raw LoRa setting instead of a data rate (with --bandwidth); SF6 "
                   "where the region has channels of that bandwidth.")
@click.option("--bandwidth", "bandwidth_hz", type=click.Choice(["125000", "250000", "500000"]),
              callback=lambda c, p, v: None if v is None else int(v),
              help="Bandwidth of the raw setting, Hz.")
@click.option("--data-rate", type=click.IntRange(min=0),
              help="Region data-rate index [the slowest 125 kHz one].")
@click.option("--payload-bytes", type=click.IntRange(1, 255), help="PHY payload [20].")
@click.option("--tx-power", "tx_power_dbm", type=float, help="Conducted power, dBm [20].")
@click.option("--node-settings", type=click.Choice(SETTING_RULES),
              help="Per-node setting: fixed, or chosen by link budget (distance: LoRaSim "
                   "experiment 3; distance-power: experiment 5; adr: Semtech's ADR) [fixed].")
@click.option("--choose-from", type=click.Choice(["region", "lorasim"]),
              help="Settings the rules choose from: the region's data rates, or LoRaSim's "
                   "SF7-12 x 125/250/500 kHz [region].")
@click.option("--channels", type=click.Choice(["drawn", "fixed"]),
              help="Channel drawn per packet, or fixed per node [drawn].")
@click.option("--traffic", type=click.Choice(TRAFFIC_MODELS),
              help="poisson, or renewal: an exponential gap after each own frame, so a node "
                   "never overlaps itself (LoRaSim) [poisson].")
@click.option("--receivers", callback=_receivers,
              help="all, central, a count, or comma-separated hotspot names [all].")
@click.option("--world-seed", type=click.IntRange(min=0),
              help="Seed of the generated positions [--seed].")
@click.option("--radius-m", type=click.FloatRange(min=0, min_open=True),
              help="Radius of the generated disk, instead of --density.")
@click.option("--scenario", "scenario_file", type=click.Path(exists=True, dir_okay=False),
              help="Scenario file (TOML or JSON, e.g. scenarios/bor0.toml); options given "
                   "override its values.")
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
        coverage-net sim run --hotspots 10000 --beacons-per-day 4 --days 1 \\
            --region US915 --seed 1 --out out/sim
    """
    scenario = scenario_from_args(**options)
    console = Console(stderr=True, quiet=quiet, soft_wrap=True)
    with Progress(TextColumn("virtual time"), BarColumn(),
                  TextColumn("{task.percentage:>5.1f}%"), TimeElapsedColumn(),
                  console=console, disable=quiet or not console.is_terminal) as progress:
        task = progress.add_task("sim", total=1.0)
        result = run_scenario(scenario, out_dir,
                              progress=lambda t, end: progress.update(task, completed=t / end))
    if not quiet:
        s = result.summary
        console.print(f"{s['hotspots']} hotspots, {s['beacons_transmitted']} beacons, "
                      f"{s['receptions_reported']} receptions: delivery ratio "
                      f"{s['delivery_ratio']} (DER {s['der']}), collisions {s['collisions']}, "
                      f"witnesses per "
                      f"beacon {s['witnesses_per_beacon']['mean']} (mean) in "
                      f"{s['wall_time_s']} s")
        console.print(f"  wrote {result.link_table}\n  wrote {result.summary_path}")


@sim.command()
@click.option("--world", "world_file", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Hotspots (CSV or GeoJSON); one virtual devboard each.")
@click.option("--dir", "pty_dir", type=click.Path(file_okay=False, path_type=Path),
              default="out/devboards", show_default=True,
              help="Where the per-hotspot port symlinks go.")
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Manifest JSON (hotspot -> pty) [DIR/manifest.json].")
@click.option("--model", type=click.Choice(MODEL_NAMES), default="hata-suburban",
              show_default=True, help="Path-loss model.")
@click.option("--collision", type=click.Choice(COLLISION_MODELS), default="capture",
              show_default=True, help="Collision model.")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="Virtual seconds per wall-clock second.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of every random draw.")
@click.option("--sensors", "sensors_file", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='Sensors JSON, [{"name": STATION, "every_s": S}, ...]: stations of the '
                   "world that get no devboard and send LoRaWAN uplinks every S seconds on "
                   "the region's beacon channel (where hotspots listen).")
@click.option("--params", "params_file", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Network parameters (the sensors' channel); default: the default network.")
@click.option("--air", type=click.Choice(AIRS), default="model", show_default=True,
              help="'model': the path-loss model exactly (a witness's RSSI is the modelled "
                   "one). 'realistic': the model plus "
                   f"{REALISTIC_SHADOWING_DB:g} dB persistent per-link shadowing, Rician "
                   "fading per packet, SX1276 RSSI/SNR errors and 1 dB antenna gain errors, "
                   "all seeded by --seed: an air the verifier's model does not know.")
def serve(world_file: Path, pty_dir: Path, manifest: Path | None, model: str, collision: str,
          speed: float, seed: int, sensors_file: Path | None, params_file: Path | None,
          air: str) -> None:
    """Open one pty per simulated hotspot speaking the native bridge protocol in real time.

    Any hotspot process (or `coverage-net bridge probe --port PATH`) can open a
    port from the manifest as if it were a devboard on USB. Ctrl-C stops.

    \b
    Example:
        coverage-net sim serve --world hotspots.csv --dir out/devboards
    """
    world = (World.from_geojson(world_file)
             if world_file.suffix.lower() in (".geojson", ".json") else World.from_csv(world_file))
    channel = _serve_channel(world, model, collision, seed, air)
    manifest_path = manifest or pty_dir / "manifest.json"
    sensors, sensor_config = _sensors(world, sensors_file, params_file)
    click.echo(json.dumps({"hotspots": len(world) - len(sensors), "sensors": len(sensors),
                           "manifest": str(manifest_path)}))
    try:
        trio.run(lambda: serve_devboards(world, channel=channel, dir=pty_dir,
                                         manifest_path=manifest_path, speed=speed,
                                         sensors=sensors, sensor_config=sensor_config))
    except KeyboardInterrupt:
        click.echo("stopped", err=True)


def _serve_channel(world: World, model: str, collision: str, seed: int, air: str) -> Channel:
    """The channel of `sim serve`: the model alone, or the realistic air (`--air`)."""
    realistic = air == "realistic"
    return Channel(world, model=model_from_name(model), collision=collision, seed=seed,
                   shadowing_sigma_db=REALISTIC_SHADOWING_DB if realistic else 0.0,
                   impairments=Impairments(seed=seed, **(REALISTIC_IMPAIRMENTS if realistic
                                                         else {})))


def _sensors(world: World, sensors_file: Path | None, params_file: Path | None):
    """The sensors of `--sensors` and the one configuration they send with."""
    if sensors_file is None:
        return [], None
    from coverage_net.node import sensor_radio_config  # imports py-libp2p: only when asked
    from coverage_net.poc import NetworkParams, load_params

    sensors = read_sensors(sensors_file)
    regions = {world.regions[world.index_of(s.name)] for s in sensors
               if s.name in world.names}
    if len(regions) > 1:
        raise SimConfigError(f"{sensors_file}: the sensors stand in regions "
                             f"{sorted(regions)}; serve sensors of one region at a time")
    params = load_params(params_file) if params_file is not None else NetworkParams()
    region = regions.pop() if regions else world.regions[0]
    return sensors, sensor_radio_config(params, region)
