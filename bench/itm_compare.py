"""ITM against the knife-edge (Deygout) terrain model and free space on the real tile.

100 random paths of 1-30 km inside N44W072 (the White Mountains), 915 MHz, a 10 m
hotspot antenna to a 2 m receiver, ITM at its defaults (continental temperate,
average ground, N = 301, vertical, medians). Paths are split by geometric line of
sight: whether any profile sample (with the 4/3-earth bulge) rises above the
straight line between the antenna tops. Prints a Markdown table of the median and
the 10th-90th percentile range of the differences, in dB.

    python bench/itm_compare.py [--dem DIR] [--paths 100] [--seed 15]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from coverage_net.radio import (
    EARTH_RADIUS_M,
    FreeSpace,
    ITMModel,
    Sites,
    Terrain,
    TerrainModel,
    path_loss_db,
)

ROOT = Path(__file__).resolve().parents[1]
BOX = (44.05, 44.95, -71.95, -71.05)
FREQ_HZ, TX_H_M, RX_H_M = 915e6, 10.0, 2.0


def random_paths(rng, n):
    lat0 = rng.uniform(BOX[0], BOX[1], n)
    lon0 = rng.uniform(BOX[2], BOX[3], n)
    dist_m = rng.uniform(1e3, 30e3, n)
    bearing = rng.uniform(0, 2 * np.pi, n)
    lat1 = np.clip(lat0 + np.degrees(dist_m * np.cos(bearing) / EARTH_RADIUS_M), 44.01, 44.99)
    lon1 = np.clip(lon0 + np.degrees(dist_m * np.sin(bearing) / EARTH_RADIUS_M
                                     / np.cos(np.radians(lat0))), -71.99, -71.01)
    return lat0, lon0, lat1, lon1


def line_of_sight(terrain: Terrain, lat0, lon0, lat1, lon1) -> bool:
    """No profile sample (with the 4/3-earth bulge) above the ray between the antenna tops."""
    n = 400
    d, z = terrain.profile(lat0, lon0, lat1, lon1, n)
    z = z + d * (d[-1] - d) / (2 * 4 / 3 * EARTH_RADIUS_M)
    ray = z[0] + TX_H_M + (z[-1] + RX_H_M - z[0] - TX_H_M) * d / d[-1]
    return bool(np.all(z[1:-1] <= ray[1:-1]))


def spread(x: np.ndarray) -> str:
    p10, p50, p90 = np.percentile(x, [10, 50, 90])
    return f"{p50:+.2f} ({p10:+.2f} to {p90:+.2f})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dem", type=Path, default=Path(os.environ.get(
        "COVERAGE_NET_DEM_DIR", ROOT.parent / "shared" / "data")))
    ap.add_argument("--paths", type=int, default=100)
    ap.add_argument("--seed", type=int, default=15)
    args = ap.parse_args(argv)
    if not (args.dem / "N44W072.hgt").is_file():
        print(f"error: N44W072.hgt not found in {args.dem}; pass --dem", file=sys.stderr)
        return 1
    terrain = Terrain(args.dem)
    lat0, lon0, lat1, lon1 = random_paths(np.random.default_rng(args.seed), args.paths)
    tx, rx = Sites.from_latlon(lat0, lon0), Sites.from_latlon(lat1, lon1)
    kw = dict(freq_hz=FREQ_HZ, tx_height_m=TX_H_M, rx_height_m=RX_H_M)
    free = path_loss_db(tx, rx, FreeSpace(), **kw)
    knife = path_loss_db(tx, rx, TerrainModel(terrain), **kw)
    itm = path_loss_db(tx, rx, ITMModel(terrain), **kw)
    los = np.array([line_of_sight(terrain, *p) for p in zip(lat0, lon0, lat1, lon1,
                                                          strict=True)])
    print(f"{args.paths} random paths of 1-30 km on N44W072, {FREQ_HZ / 1e6:g} MHz, "
          f"{TX_H_M:g} m -> {RX_H_M:g} m; median (10th to 90th percentile), dB\n")
    print("| paths | n | ITM - free space | knife-edge - free space | ITM - knife-edge |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, sel in (("line of sight", los), ("obstructed", ~los)):
        if not sel.any():
            continue
        print(f"| {label} | {int(sel.sum())} | {spread(itm[sel] - free[sel])} | "
              f"{spread(knife[sel] - free[sel])} | {spread(itm[sel] - knife[sel])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
