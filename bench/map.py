"""Map export from a million stored witness verdicts (issue #14: under 60 s).

Builds (untimed) a validator's store: 10,000 announced hotspots in clusters over New
England, 40,000 valid beacons with 25 valid witnesses each (1,000,000 witness verdicts,
each with its measured RSSI figure) and 10,000 data-transfer receipts, saved through the
store as a validator saves them. Timed: the whole `coverage-net map export` command, in
its own process (start-up, reading and decoding the verdicts, proving the cells,
writing), for each format, without the prediction (`--no-predict`: that part is the
propagation kernel's, measured by bench/predict.py). Then the in-process split of one
run: reading the store, aggregating, writing.

    python bench/map.py                 # 1,000,000 witness verdicts
    python bench/map.py --quick         # 20,000 (smoke test)
    python bench/map.py --keep DIR      # build the store in DIR once, reuse it after
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _figures import write_figures
from rewards import build

from coverage_net.coverage import map_from_proof, write_map_geojson
from coverage_net.node import (
    load_map_inputs,
    save_announcements,
    save_receipts,
    save_verdicts,
)
from coverage_net.store import DEFAULT_FILENAME, MessageStore

TARGET_S = 60.0
FORMATS = ("csv", "geojson", "png", "html")


def make_store(path: Path, beacons: int, witnesses: int, seed: int) -> int:
    """The synthetic store in `path`; returns how many witness verdicts it holds."""
    registry, verdicts, receipts, _router, _history = build(
        10_000, beacons, witnesses, 10_000, 14, seed,
        witness_figures=lambda rng: (("measured_rssi_centi_dbm", -rng.randrange(8000, 13500)),))
    with MessageStore.open(path) as store:
        save_announcements(store, registry.announcements, received_ms=1)
        save_receipts(store, receipts, received_ms=1)
        save_verdicts(store, verdicts)
    return sum(1 for v in verdicts if v.report_type == "witness_report")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="20,000 witness verdicts")
    ap.add_argument("--keep", metavar="DIR", help="build the store here once and reuse it")
    ap.add_argument("--res", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", metavar="PATH", help="also write the figures here ('-': stdout)")
    args = ap.parse_args(argv)
    beacons, witnesses = (800, 25) if args.quick else (40_000, 25)
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(args.keep) if args.keep else Path(scratch) / "data"
        t0 = time.perf_counter()
        if (data / DEFAULT_FILENAME).is_file():
            with MessageStore.open(data) as store:
                count = sum(1 for r in store.verdict_rows() if r.report_type == "witness_report")
            print(f"reusing {data}: {count:,} witness verdicts")
        else:
            data.mkdir(parents=True, exist_ok=True)
            count = make_store(data, beacons, witnesses, args.seed)
            print(f"built {data} in {time.perf_counter() - t0:.0f} s: {count:,} witness "
                  "verdicts, 10,000 hotspots, 10,000 receipts")
        print(f"coverage-net map export benchmark  python {platform.python_version()}  "
              f"res {args.res}  target {TARGET_S:.0f} s")
        figures: dict[str, object] = {"witness_verdicts": count, "res": args.res,
                                      "target_s": TARGET_S}
        cli = str(Path(sys.executable).with_name("coverage-net"))
        for fmt in FORMATS:
            out = Path(scratch) / f"map.{fmt}"
            t = time.perf_counter()
            subprocess.run([cli, "map", "export", "--data", str(data), "--format", fmt,
                            "--res", str(args.res), "--no-predict", "--out", str(out), "-q"],
                           check=True)
            seconds = time.perf_counter() - t
            figures[f"{fmt}_s"] = round(seconds, 2)
            print(f"  map export --format {fmt:<8} {seconds:6.1f} s  "
                  f"({count / seconds:,.0f} verdicts/s)  {out.stat().st_size / 1e6:6.1f} MB  "
                  f"{'ok' if seconds < TARGET_S else 'OVER TARGET'}")
        t = time.perf_counter()
        with MessageStore.open(data) as store:
            inputs = load_map_inputs(store)
        read_s = time.perf_counter() - t
        t = time.perf_counter()
        layers = map_from_proof(inputs.proofs, inputs.hotspots, args.res,
                                uplinks_by_hotspot=inputs.uplinks_by_hotspot)
        prove_s = time.perf_counter() - t
        t = time.perf_counter()
        write_map_geojson(layers, Path(scratch) / "again.geojson")
        write_s = time.perf_counter() - t
        print(f"  in process: read and decode {read_s:.1f} s, prove {len(layers):,} cells "
              f"{prove_s:.1f} s, write GeoJSON {write_s:.1f} s")
        figures.update(read_s=round(read_s, 2), prove_s=round(prove_s, 2),
                       write_geojson_s=round(write_s, 2), cells=len(layers))
    write_figures(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
