"""``coverage-net map``: coverage maps built from proof."""

from __future__ import annotations

import re
import time
from pathlib import Path

import click
from rich.console import Console

from coverage_net.coverage import (
    CoverageError,
    PredictionSettings,
    load_calibration,
    map_from_proof,
    write_map_csv,
    write_map_geojson,
    write_map_html,
    write_map_png,
)
from coverage_net.radio import MODEL_NAMES, Terrain, model_from_name
from coverage_net.store import DEFAULT_FILENAME as STORE_FILENAME
from coverage_net.store import MessageStore

from ._map_calibrate import calibrate

_WRITERS = {"geojson": write_map_geojson, "csv": write_map_csv, "png": write_map_png,
            "html": write_map_html}
_EPOCHS = re.compile(r"(\d+)\.\.(\d+)")


def _epochs(_ctx: click.Context, _param: click.Parameter, value: str | None
            ) -> tuple[int, int] | None:
    if value is None:
        return None
    match = _EPOCHS.fullmatch(value.strip())
    if match is None or int(match[1]) > int(match[2]):
        raise click.BadParameter(f"{value!r}: expected A..B with A <= B, e.g. 10..20")
    return int(match[1]), int(match[2])


@click.group("map")
def map_() -> None:
    """Coverage maps from proof: where valid witnesses and bought uplinks prove coverage,
    and what the model predicts around it."""


@map_.command("export")
@click.option("--data", "data_dir", required=True,
              type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="A node's data directory (a validator's: its store holds the verdicts, "
                   "announcements and receipts).")
@click.option("--format", "fmt", type=click.Choice(sorted(_WRITERS)), required=True,
              help="geojson (RFC 7946, one merged feature per layer and class), csv (one "
                   "row per cell), png, or html (one self-contained offline page).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write.")
@click.option("--res", type=click.IntRange(0, 15), default=8, show_default=True,
              help="H3 resolution of the map's cells.")
@click.option("--epochs", callback=_epochs, metavar="A..B",
              help="Only verdicts and receipts of epochs A to B (inclusive) [default: all].")
@click.option("--predict/--no-predict", default=True, show_default=True,
              help="Add the model's prediction around hotspots whose coverage was proven.")
@click.option("--model", "model_name", type=click.Choice(MODEL_NAMES), default="terrain",
              show_default=True, help="Path-loss model of the prediction.")
@click.option("--dem", "dem_dir", type=click.Path(file_okay=False, path_type=Path),
              help="DEM tiles for the terrain model (without them: a smooth earth).")
@click.option("--max-range-km", type=click.FloatRange(min=0, min_open=True, max=200.0),
              default=20.0, show_default=True,
              help="How far around a proven hotspot to predict.")
@click.option("--calibration", "calibration_path",
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Correct the prediction's path loss with a file from `map calibrate`.")
@click.option("-q", "--quiet", is_flag=True, help="No summary.")
def export(data_dir: Path, fmt: str, out_path: Path, res: int, epochs: tuple[int, int] | None,
           predict: bool, model_name: str, dem_dir: Path | None, max_range_km: float,
           calibration_path: Path | None, quiet: bool) -> None:
    """Export a coverage map from the verdicts and receipts a node stores.

    Proven cells: where valid witnesses place a receiver that heard a hotspot (best
    RSSI, witnesses, hotspots heard, last epoch), and where routers bought device
    uplinks. Predicted cells: the model around hotspots whose coverage was proven,
    in the same signal classes, drawn paler.

    \b
      coverage-net map export --data node-a --format html --out map.html
      coverage-net map export --data node-a --format geojson --res 9 --epochs 10..20 \\
          --dem ../shared/data --out map.geojson
    """
    from coverage_net.node import load_map_inputs  # slow to import; only this needs it

    console = Console(stderr=True, quiet=quiet, soft_wrap=True)
    started = time.perf_counter()
    if not (data_dir / STORE_FILENAME).is_file():
        raise CoverageError(f"{data_dir}: no {STORE_FILENAME}; give a node's data directory")
    with MessageStore.open(data_dir) as store:
        inputs = load_map_inputs(store, epochs)
    model = None
    if predict:
        terrain = Terrain(dem_dir) if dem_dir is not None else None
        model = model_from_name(model_name, terrain=terrain)
    calibration = load_calibration(calibration_path) if calibration_path else None
    layers = map_from_proof(inputs.proofs, inputs.hotspots, res,
                            uplinks_by_hotspot=inputs.uplinks_by_hotspot, model=model,
                            settings=PredictionSettings(res=res, max_range_km=max_range_km),
                            calibration=calibration)
    path = _WRITERS[fmt](layers, out_path)
    proven = int((layers.layer == 0).sum())
    console.print(f"{proven} proven cells from {len(inputs.proofs)} valid witnesses and "
                  f"{sum(inputs.uplinks_by_hotspot.values())} bought uplinks; "
                  f"{len(layers) - proven} predicted cells; wrote {path} "
                  f"in {time.perf_counter() - started:.1f} s")


map_.add_command(calibrate)
