"""Soak the consensus core: many more seeded adversarial schedules than CI runs.

Each seed is one `coverage_net.consensus.testing.random_schedule` (4 or 7 validators,
up to f byzantine, loss, delays, a partition and crashes before GST) run to the end
with every safety and liveness check; a failing seed is printed with the line that
replays it, and the exit status is 1 if any failed.

    python bench/consensus_soak.py --seeds 0..50000
    python bench/consensus_soak.py --quick          # 200 seeds (smoke test)
"""

from __future__ import annotations

import argparse
import collections
import sys
import time

from _figures import write_figures

from coverage_net.consensus.testing import random_schedule, run_schedule


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="0..20000", metavar="A..B", help="half-open seed range")
    ap.add_argument("--quick", action="store_true", help="seeds 0..200")
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON ('-': stdout)")
    args = ap.parse_args(argv)
    first, _, last = ("0..200" if args.quick else args.seeds).partition("..")
    seeds = range(int(first), int(last))
    t0 = time.perf_counter()
    failed: dict[int, list[str]] = {}
    decided = deliveries = evidence = 0
    kinds: collections.Counter[str] = collections.Counter()
    for i, seed in enumerate(seeds, 1):
        result = run_schedule(random_schedule(seed))
        decided += sum(len(h) for h in result.decisions.values())
        deliveries += result.deliveries
        evidence += result.evidence
        kinds.update(b for _, b in result.schedule.byzantine)
        if result.violations:
            failed[seed] = result.violations
            print(f"FAILED seed {seed}: {result.violations[0]}  (replay: "
                  f"run_schedule(random_schedule({seed})))", flush=True)
        if i % 5_000 == 0:
            print(f"  {i:,} schedules, {len(failed)} failed, "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    print(f"{len(seeds):,} schedules (seeds {seeds.start}..{seeds.stop}), {len(failed)} failed; "
          f"{decided:,} honest decisions, {deliveries:,} messages delivered, {evidence:,} "
          f"equivocations reported; byzantine behaviours {dict(sorted(kinds.items()))}; "
          f"{seconds:.0f} s")
    figures = {"schedules": len(seeds), "failed": sorted(failed), "decisions": decided,
               "deliveries": deliveries, "evidence": evidence, "seconds": seconds}
    write_figures(figures, args.json)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
