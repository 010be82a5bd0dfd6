"""Path-loss throughput: the compiled kernel against the numpy reference, side by side.

Closed-form models: pairs/s, measured from coordinates (the time includes turning
coordinates or H3 cells into endpoint tables, once per unique endpoint), for an
all-pairs matrix of N transmitters x M receivers. Terrain model and ITM: profile
samples/s over random paths on the real DEM tile (or a synthetic one), for two
path-length classes (ITM's reference is plain Python per path: it runs on a third
of the terrain reference's paths, once). Each figure is the best of `--repeat` runs; the kernel runs
on 1 and 2 threads, the reference (numpy, single-threaded) once per model.

    python bench/pathloss.py            # full run, about a minute
    python bench/pathloss.py --quick    # small sizes, for a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from functools import partial
from pathlib import Path

import h3
import numpy as np

from coverage_net.radio import (
    Cost231Hata,
    FreeSpace,
    Hata,
    ITMModel,
    LogDistance,
    Sites,
    Terrain,
    TerrainModel,
    TwoRay,
    itm_path_loss,
    kernel_info,
    path_loss_db,
    terrain_path_loss,
)
from coverage_net.radio import _itm_reference as itm_ref
from coverage_net.radio import _reference as ref
from coverage_net.radio import propagation as prop
from coverage_net.radio._terrain import Mosaic
from coverage_net.radio.longley_rice import itm_params

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DEM = ROOT.parent / "shared" / "data"
BOX = (44.05, 44.95, -71.95, -71.05)  # inside N44W072

CLOSED_FORM = [
    ("free-space", FreeSpace()),
    ("log-distance+shadowing", LogDistance(sigma_db=3.57)),
    ("hata-urban", Hata("urban")),
    ("cost231", Cost231Hata()),
    ("two-ray", TwoRay()),
]


def best_of(repeat: int, fn):
    best = float("inf")
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def random_points(rng, n):
    return rng.uniform(BOX[0], BOX[1], n), rng.uniform(BOX[2], BOX[3], n)


def bench_closed_form(n_tx: int, n_rx: int, repeat: int, rows: list) -> None:
    rng = np.random.default_rng(1)
    tx_lat, tx_lon = random_points(rng, n_tx)
    rx_lat, rx_lon = random_points(rng, n_rx)
    pairs = n_tx * n_rx
    out = np.empty((n_tx, n_rx))

    for name, model in CLOSED_FORM:
        def kernel(threads, model=model):
            tx = Sites.from_latlon(tx_lat, tx_lon)[:, None]
            rx = Sites.from_latlon(rx_lat, rx_lon)[None, :]
            return path_loss_db(tx, rx, model, freq_hz=915e6, tx_height_m=12.0,
                                rx_height_m=1.5, seed=3, out=out, num_threads=threads)

        def reference(model=model):
            tx = Sites.from_latlon(tx_lat, tx_lon)[:, None]
            rx = Sites.from_latlon(rx_lat, rx_lon)[None, :]
            links = prop._links(tx, rx, 915e6, 12.0, 1.5, model.needs_positive_heights)
            return ref.closed_form_links(
                model.code, tx.xyz.reshape(-1, 3), links.tx_height_m, tx.key.reshape(-1),
                rx.xyz.reshape(-1, 3), links.rx_height_m, rx.key.reshape(-1), links.itx,
                links.irx, links.freq_hz, np.asarray(model.params()), 3)

        t_ref, want = best_of(repeat, reference)
        for threads in (1, 2):
            t_k, got = best_of(repeat, lambda threads=threads: kernel(threads))
            err = float(np.abs(got.ravel() - want).max())
            rows.append({"model": name, "input": f"lat/lon {n_tx}x{n_rx}", "threads": threads,
                         "unit": "pairs/s", "kernel": pairs / t_k, "reference": pairs / t_ref,
                         "max_abs_diff_db": err})

    # the same matrix from H3 cells: cells are converted once per unique cell
    tx_cells = [h3.latlng_to_cell(a, b, 12) for a, b in zip(tx_lat, tx_lon, strict=True)]
    rx_cells = [h3.latlng_to_cell(a, b, 12) for a, b in zip(rx_lat, rx_lon, strict=True)]
    for threads in (1, 2):
        def from_cells(threads=threads):
            tx = Sites.from_cells(tx_cells)[:, None]
            rx = Sites.from_cells(rx_cells)[None, :]
            return path_loss_db(tx, rx, FreeSpace(), freq_hz=915e6, out=out, num_threads=threads)
        t_k, _ = best_of(repeat, from_cells)
        rows.append({"model": "free-space", "input": f"H3 res-12 {n_tx}x{n_rx}",
                     "threads": threads, "unit": "pairs/s", "kernel": pairs / t_k,
                     "reference": None, "max_abs_diff_db": None})


class _FixedTerrain(Terrain):
    def __init__(self, mosaic: Mosaic):
        self._fixed = mosaic

    def mosaic(self, lat_min, lat_max, lon_min, lon_max, margin_deg=0.01):
        return self._fixed


def synthetic_terrain() -> Terrain:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(1201, 1201))
    for _ in range(8):
        z = (z + np.roll(z, 1, 0) + np.roll(z, -1, 0) + np.roll(z, 1, 1) + np.roll(z, -1, 1)) / 5
    z = (z - z.min()) / np.ptp(z) * 1500.0
    return _FixedTerrain(Mosaic(z.astype(np.float32), 45.0, -72.0, 1 / 1200))


def paths_of_length(rng, n, lo_km, hi_km):
    lat0, lon0 = random_points(rng, n)
    dist = rng.uniform(lo_km, hi_km, n) * 1e3
    bearing = rng.uniform(0, 2 * np.pi, n)
    dlat = np.degrees(dist * np.cos(bearing) / 6371008.8)
    dlon = np.degrees(dist * np.sin(bearing) / 6371008.8 / np.cos(np.radians(lat0)))
    lat1 = np.clip(lat0 + dlat, 44.0, 45.0)
    lon1 = np.clip(lon0 + dlon, -72.0, -71.0)
    return Sites.from_latlon(lat0, lon0), Sites.from_latlon(lat1, lon1)


def _profile_case(model, tx, rx, n_ref):
    """The first `n_ref` pairs laid out for a reference run, with the call's mosaic."""
    sub_tx, sub_rx = tx[:n_ref], rx[:n_ref]
    links = prop._links(sub_tx, sub_rx, 915e6, 12.0, 1.5, False)
    mosaic = prop._terrain_mosaic(model, tx, rx)
    spacing = min(mosaic.step_deg * np.pi / 180 * 6371008.8, prop.DEFAULT_SPACING_M)
    ends = (sub_tx.xyz.reshape(-1, 3), links.tx_height_m, prop.endpoint_ground_m(mosaic, sub_tx),
            sub_rx.xyz.reshape(-1, 3), links.rx_height_m, prop.endpoint_ground_m(mosaic, sub_rx),
            links.itx, links.irx, links.freq_hz, mosaic, spacing, model.max_samples)
    return ends


PATH_CLASSES = (("1-10 km", 1.0, 10.0), ("10-40 km", 10.0, 40.0))


def bench_terrain(terrain: Terrain, n_paths: int, n_ref: int, repeat: int, rows: list) -> None:
    model = TerrainModel(terrain)
    rng = np.random.default_rng(2)
    for label, lo, hi in PATH_CLASSES:
        tx, rx = paths_of_length(rng, n_paths, lo, hi)
        reference = partial(ref.terrain_links, *_profile_case(model, tx, rx, n_ref),
                            model.k_factor, model.depth)
        t_ref, (want, _, ref_samples) = best_of(repeat, reference)
        for threads in (1, 2):
            t_k, result = best_of(repeat, partial(
                terrain_path_loss, tx, rx, model, freq_hz=915e6, tx_height_m=12.0,
                rx_height_m=1.5, num_threads=threads))
            _profile_row(rows, "terrain (deygout)", label, n_paths, threads, t_k, t_ref, result,
                         ref_samples, float(np.abs(result.loss_db[:n_ref] - want).max()))


def bench_itm(terrain: Terrain, n_paths: int, n_ref: int, repeat: int, rows: list) -> None:
    """ITM over the same kind of paths; its reference is plain Python per path, so it runs
    on `n_ref` paths and its samples/s is what those took."""
    model = ITMModel(terrain)
    rng = np.random.default_rng(2)
    for label, lo, hi in PATH_CLASSES:
        tx, rx = paths_of_length(rng, n_paths, lo, hi)
        reference = partial(itm_ref.links, *_profile_case(model, tx, rx, n_ref),
                            itm_params(model))
        t_ref, (want, ref_samples, _) = best_of(1, reference)
        for threads in (1, 2):
            t_k, result = best_of(repeat, partial(
                itm_path_loss, tx, rx, model, freq_hz=915e6, tx_height_m=12.0,
                rx_height_m=1.5, num_threads=threads))
            _profile_row(rows, "itm (longley-rice)", label, n_paths, threads, t_k, t_ref,
                         result, ref_samples, float(np.abs(result.loss_db[:n_ref] - want).max()))


def _profile_row(rows, model, label, n_paths, threads, t_k, t_ref, result, ref_samples, err):
    rows.append({"model": model, "input": f"{n_paths} paths {label}", "threads": threads,
                 "unit": "samples/s", "kernel": float(result.samples.sum()) / t_k,
                 "reference": float(ref_samples.sum()) / t_ref, "max_abs_diff_db": err,
                 "paths_per_s": n_paths / t_k, "mean_samples": float(result.samples.mean())})


def print_table(rows: list) -> None:
    print(f"{'model':<24}{'input':<24}{'thr':>4}{'kernel':>14}{'numpy ref':>14}"
          f"{'ratio':>8}{'max|diff| dB':>14}")
    for r in rows:
        ratio = f"{r['kernel'] / r['reference']:7.1f}x" if r["reference"] else "       -"
        refv = f"{r['reference'] / 1e6:9.2f} M" if r["reference"] else "            -"
        diff = f"{r['max_abs_diff_db']:.1e}" if r["max_abs_diff_db"] is not None else "-"
        print(f"{r['model']:<24}{r['input']:<24}{r['threads']:>4}"
              f"{r['kernel'] / 1e6:10.2f} M/s{refv:>14}{ratio}{diff:>14}")
    print("units: pairs/s for closed-form models, profile samples/s for terrain and ITM; "
          "ratio = kernel / numpy reference at that thread count")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    ap.add_argument("--dem", type=Path, default=Path(os.environ.get("COVERAGE_NET_DEM_DIR",
                                                                    DEFAULT_DEM)))
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    n = 200 if args.quick else 2000
    paths, n_ref, repeat = (200, 20, 1) if args.quick else (4000, 300, 3)
    print(f"coverage-net path-loss benchmark  python {platform.python_version()}  "
          f"cpus {os.cpu_count()}  kernel {kernel_info()}")
    rows: list = []
    bench_closed_form(n, n, repeat, rows)
    if (args.dem / "N44W072.hgt").is_file():
        terrain, dem_note = Terrain(args.dem), f"real tile {args.dem / 'N44W072.hgt'}"
    else:
        terrain, dem_note = synthetic_terrain(), "synthetic 1201x1201 DEM (tile not found)"
    print(f"terrain: {dem_note}")
    bench_terrain(terrain, paths, n_ref, repeat, rows)
    bench_itm(terrain, paths, n_ref // 3, repeat, rows)
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
