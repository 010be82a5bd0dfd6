"""The scenarios/ files in long runs: measured delivery (DER) against each file's expected.

Each scenario runs for `--seeds` seeds (1000, 1001, ...; the tests use 0-4) of
`--days` simulated days; the mean DER over the seeds is printed beside the
file's expected value. `--record` writes the measured means into the files'
``[expected]`` tables (for scenarios whose expected value is a long run, not an
equation), with the command that produced them.

    python bench/lorasim.py                       # 20 seeds x 4 days each
    python bench/lorasim.py --record              # ... and record them
    python bench/lorasim.py --quick               # 2 seeds x 0.2 days (smoke test)
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from radio_sim import load_scenario, run_scenario

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from _figures import write_figures  # noqa: E402

FIRST_SEED = 1000


def measure(path: Path, seeds: int, days: float) -> dict:
    """Mean and spread of the DER of `path` over `seeds` long runs."""
    ders, frames = [], 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(FIRST_SEED, FIRST_SEED + seeds):
            scenario = load_scenario(path, seed=seed, days=days).scenario
            summary = run_scenario(scenario, tmp).summary
            ders.append(summary["der"])
            frames += summary["beacons_transmitted"]
    d = np.array(ders)
    return {"scenario": path.stem, "der": round(float(d.mean()), 4),
            "stderr_pp": round(100 * float(d.std(ddof=1) / np.sqrt(len(d))), 3)
            if len(d) > 1 else None,
            "frames": frames, "wall_s": round(time.perf_counter() - started, 1)}


def record(path: Path, der: float, seeds: int, days: float, test_days: float) -> None:
    """Replace the file's [expected] table (always its last) with the measured value."""
    text = re.split(r"\n\[expected\]\n", path.read_text(encoding="utf-8"))[0].rstrip("\n")
    path.write_text(f"{text}\n\n[expected]\nder = {der}\n"
                    f'source = "long run: python bench/lorasim.py --record '
                    f'({seeds} seeds from {FIRST_SEED} x {days:g} days)"\n'
                    f"test_days = {test_days:g}\n", encoding="utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds x 0.2 days (smoke test)")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--days", type=float, default=4.0)
    ap.add_argument("--only", nargs="*", help="scenario names (default: all in scenarios/)")
    ap.add_argument("--record", action="store_true",
                    help="write the means into the files whose expected is not an equation")
    ap.add_argument("--json", help="also write the figures as JSON here ('-': stdout)")
    args = ap.parse_args(argv)
    seeds, days = (2, 0.2) if args.quick else (args.seeds, args.days)
    paths = sorted((ROOT / "scenarios").glob("*.toml"))
    if args.only:
        paths = [p for p in paths if p.stem in args.only]
    rows = []
    print(f"{'scenario':10} {'expected':>9} {'measured':>9} {'stderr pp':>9} "
          f"{'diff pp':>8} {'frames':>9} {'wall s':>7}")
    for path in paths:
        expected = load_scenario(path).expected
        row = measure(path, seeds, days)
        row["expected"] = expected.get("der")
        row["diff_pp"] = (round(100 * (row["der"] - row["expected"]), 2)
                          if row["expected"] is not None else None)
        rows.append(row)
        print(f"{path.stem:10} {row['expected'] if row['expected'] is not None else '-':>9} "
              f"{row['der']:>9} {row['stderr_pp'] if row['stderr_pp'] is not None else '-':>9} "
              f"{row['diff_pp'] if row['diff_pp'] is not None else '-':>8} "
              f"{row['frames']:>9} {row['wall_s']:>7}", flush=True)
        if args.record and not str(expected.get("source", "")).startswith("equation"):
            record(path, row["der"], seeds, days, expected.get("test_days", 0.6))
    write_figures(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
