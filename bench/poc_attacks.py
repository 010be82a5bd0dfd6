"""Proof-of-coverage attacks pooled over seeds: the README's attack table.

Runs `coverage_net.node.run_poc_scenario` (200 hotspots on the DEM tile, 1,000
beacons, three attackers of each kind) for every seed, naive and model-aware, and
prints per attack the share of forged reports judged invalid and the attacking
hotspots caught within a day (flagged, or 95 % of that day's forged reports
refused), with the honest acceptance and honest hotspots flagged per run.

    python bench/poc_attacks.py --seeds 1,2,3,4     # the README's table (~4 min)
    python bench/poc_attacks.py --seeds 1 --hotspots 80 --beacons 200   # quick look
"""

from __future__ import annotations

import argparse
import os
import sys

from coverage_net.node import ATTACKS, PocScenario, run_poc_scenario

SIX = tuple(a for a in ATTACKS if a not in ("rebroadcast", "early_stamp"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="1,2", help="comma-separated seeds (default 1,2)")
    ap.add_argument("--dem", default=os.environ.get("COVERAGE_NET_DEM_DIR", "../shared/data"),
                    help="DEM directory (default $COVERAGE_NET_DEM_DIR or ../shared/data)")
    ap.add_argument("--hotspots", type=int, default=200)
    ap.add_argument("--beacons", type=int, default=1_000)
    ap.add_argument("--per-attack", type=int, default=3, help="attackers of each kind per run")
    args = ap.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        ap.error(f"--seeds: comma-separated integers, got {args.seeds!r}")
    for aware in (False, True):
        runs = [run_poc_scenario(PocScenario(
            dem_dir=args.dem, hotspots=args.hotspots, beacons=args.beacons, seed=s,
            attackers={a: args.per_attack for a in SIX}, model_aware=aware)) for s in seeds]
        honest = [sum(r.role_of[k] == "honest" for k in r.role_of) for r in runs]
        flagged = [round(r.honest_flagged_rate() * n) for r, n in zip(runs, honest, strict=True)]
        accepted = ", ".join(f"{100 * r.honest_witness_acceptance():.2f} %" for r in runs)
        flags = ", ".join(f"{f}/{n}" for f, n in zip(flagged, honest, strict=True))
        print(f"{'model-aware' if aware else 'naive'} (seeds {args.seeds}): honest witnesses "
              f"accepted {accepted}; honest hotspots flagged {flags}")
        for attack in SIX:
            forged = [v for r in runs for v in r.attack_reports(attack)]
            every = [(c, r.in_range_honest[k] >= 3) for r in runs
                     for k, c in r.caught_hotspots(attack).items()]
            near = [c for c, in_range in every if in_range]
            share = sum(not v.valid for v in forged) / max(len(forged), 1)
            print(f"  {attack:13s} forged reports caught {100 * share:5.1f} % of {len(forged):6,d}"
                  f"   hotspots caught within a day {sum(c for c, _ in every)}/{len(every)}"
                  f" (>= 3 honest in range: {sum(near)}/{len(near)})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
