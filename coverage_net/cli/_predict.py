"""`coverage-net predict`: a coverage map of hotspots from the propagation model."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from coverage_net.coverage import (
    MAX_RANGE_KM,
    PredictionSettings,
    calibrated_hotspot,
    combine,
    load_calibration,
    predict_hotspot,
    write_coverage,
)
from coverage_net.radio import MODEL_NAMES, Terrain, model_from_name, read_stations


@click.command()
@click.option("--hotspots", "hotspots_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Station file (CSV, or GeoJSON for .geojson/.json) of hotspots: name, "
                   "lat, lon (or cell), height_m, gain_dbi, tx_power_dbm, region.")
@click.option("--dem", "dem_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory of SRTM/NASADEM .hgt tiles (or GeoTIFF with rasterio). "
                   "Without it the terrain model sees a smooth 4/3 earth.")
@click.option("--model", "model_name", type=click.Choice(MODEL_NAMES), default="terrain",
              show_default=True, help="Path-loss model.")
@click.option("--res", type=click.IntRange(0, 15), default=8, show_default=True,
              help="H3 resolution of the map cells (8: ~0.74 km2 per cell).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output directory (created): cells.geojson, coverage_classes.geojson, "
                   "summary.json.")
@click.option("--sf", "spreading_factor", type=click.IntRange(7, 12),
              help="Spreading factor of the receiver [default: region's slowest uplink].")
@click.option("--freq-mhz", type=float,
              help="Carrier frequency in MHz [default: mean of the region's uplink channels].")
@click.option("--rx-height", "rx_height_m", type=click.FloatRange(min=0), default=1.5,
              show_default=True, help="Receiving device antenna height above ground, m.")
@click.option("--rx-gain", "rx_gain_dbi", type=click.FloatRange(-30.0, 30.0), default=0.0,
              show_default=True,
              help="Receiving device antenna gain, dBi.")
@click.option("--max-range-km", type=click.FloatRange(min=0, min_open=True, max=MAX_RANGE_KM),
              default=50.0,
              show_default=True, help="Never look farther than this from a hotspot.")
@click.option("--outside-dem", type=click.Choice(["skip", "flat"]), default="skip",
              show_default=True,
              help="Cells that no DEM tile covers: leave them out, or predict them over "
                   "flat earth at 0 m (terrain model with --dem only).")
@click.option("--threads", type=click.IntRange(min=1),
              help="Kernel threads [default: all cores].")
@click.option("--calibration", "calibration_path",
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Correct the path loss with a file from `coverage-net map calibrate`.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def predict(hotspots_path, dem_dir, model_name, res, out_dir, spreading_factor, freq_mhz,
            rx_height_m, rx_gain_dbi, max_range_km, outside_dem, threads, calibration_path,
            quiet) -> None:
    """Predict where hotspots' signals reach and write a GeoJSON coverage map.

    For each hotspot, the received power is computed for every H3 cell around it,
    ring by ring, out to where it falls below the receiver's sensitivity. Each
    output cell carries the best RSSI and the number of hotspots that reach it;
    coverage_classes.geojson merges cells into one polygon per signal class.

    \b
    Example:
        coverage-net predict --hotspots examples/white_mountains.csv \\
            --dem ../shared/data --out out/wm
    """
    console = Console(stderr=True, quiet=quiet, soft_wrap=True)
    hotspots = read_stations(hotspots_path, enforce_eirp_limit=True)
    terrain = Terrain(dem_dir) if dem_dir is not None else None
    if model_name == "terrain" and terrain is None:
        console.print("[yellow]note:[/] no --dem given: the terrain model sees a smooth earth")
    model = model_from_name(model_name, terrain=terrain)
    calibration = load_calibration(calibration_path) if calibration_path else None
    settings = PredictionSettings(
        res=res, spreading_factor=spreading_factor,
        freq_hz=freq_mhz * 1e6 if freq_mhz is not None else None, rx_height_m=rx_height_m,
        rx_gain_dbi=rx_gain_dbi, max_range_km=max_range_km, num_threads=threads,
        outside_dem=outside_dem)
    started = time.perf_counter()
    results = []
    with Progress(TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("rings"), TimeElapsedColumn(), console=console,
                  disable=quiet) as progress:
        for hotspot in hotspots:
            task = progress.add_task(hotspot.name[:16], total=None)

            def advance(_name: str, done: int, total: int, task=task) -> None:
                progress.update(task, completed=done, total=total)

            result = (predict_hotspot(hotspot, model, settings, advance) if calibration is None
                      else calibrated_hotspot(hotspot, model, settings, calibration, advance))
            progress.update(task, completed=progress.tasks[task].total)
            results.append(result)
    cmap = combine(results, res)
    paths = write_coverage(cmap, out_dir, model_name=model_name,
                           dem=str(dem_dir) if dem_dir else None)
    elapsed = time.perf_counter() - started
    for r in results:
        if r.hotspot_outside_dem:
            console.print(f"[yellow]warning:[/] {r.hotspot.name} stands outside the DEM "
                          f"tiles in {dem_dir}: its ground is taken as 0 m")
    if not quiet:
        for r in results:
            skipped = (f" ({r.cells_outside_dem} off-DEM left out)"
                       if r.cells_outside_dem else "")
            console.print(f"{r.hotspot.name:<16} SF{r.spreading_factor} "
                          f"{r.sensitivity_dbm:7.1f} dBm  {len(r.cells):6d} cells  "
                          f"reach {r.max_range_m / 1e3:5.1f} km{skipped}")
        console.print(f"{len(cmap.cells)} cells covered by {len(hotspots)} hotspots "
                      f"({model_name}, res {res}) in {elapsed:.1f} s")
        for p in paths.values():
            console.print(f"  wrote {p}")
