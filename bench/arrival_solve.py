"""Host clock offsets solved over a day's reports, and the rebroadcast they expose.

A measurement for the wormhole limit (README: what cannot be caught): every witness
report the physics judged valid is one equation between two host clocks,
``lag = o_witness - o_beaconer + d`` (``d``: the delay every report shares). This
script solves all the equations of the window so far at once with the verifier's
deterministic solve (`coverage_net.poc.solve_clocks`: least squares, then again
without the reports more than 1,600, 800, 400, 150 and 80 ms later than the previous
fit allows; one-sided, since nothing arrives before it was sent, while a repeat is
always late: a victim that heard as many repeats as beacons pulls the first fit
half-way, and a two-sided trim then drops its honest reports too, so it has none
left). It compares the offsets with the simulator's truth
(`ScenarioResult.clock_offset_ms`, which no verifier sees). A rebroadcast reaches
its victims at least one beacon airtime late (~0.3 s at SF10), so against the solved
clocks its reports stand out.

Printed every few epochs: the equations in the window, the hosts with at least 10 of
them, the error of their solved offsets (ms; the constant no solve can see removed),
and the reports more than 150 ms later than the solved clocks allow, split into the
rebroadcast's repeats and honest receptions, the reports the solve left out because
their pair of hosts reported early (rules 5 on), and the solve's CPU time. A diagnostic:
it reads the simulator's truth, which no verifier sees.

    python bench/arrival_solve.py                    # 200 hotspots, 3 rebroadcasters, seed 1
    python bench/arrival_solve.py --rebroadcasters 0 --seed 2
    python bench/arrival_solve.py --quick            # the smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from coverage_net.messages import WitnessReport
from coverage_net.node import PocScenario, ScenarioResult, run_poc_scenario
from coverage_net.poc import solve_clocks

LATE_MS = 150
"""A report this much later than the solved clocks allow is counted late."""
KNOWN_AFTER = 10
"""A host's offset is counted once it is in this many equations."""


def equations(result: ScenarioResult) -> list[tuple[int, int, int, int, bool]]:
    """(epoch, beaconer index, witness index, lag ms, is a repeat) of every valid witness
    report whose beacon report the verifier had, indices in the registry's order."""
    assert result.registry is not None
    index = {key: i for i, key in enumerate(result.registry.keys)}
    valid = {v.report_id for v in result.verdicts
             if v.valid and v.report_type == WitnessReport.TYPE}
    out = []
    for e in result.epoch_inputs:
        beacons = {b.challenge_id: b for b in e.beacon_reports}
        for w in e.witness_reports:
            b = beacons.get(w.challenge_id)
            if b is None or w.content_id not in valid:
                continue
            out.append((e.epoch, index[b.hotspot_key], index[w.witness_key],
                        w.host_time_ms - b.host_time_ms, w.content_id in result.fraud))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dem", default=os.environ.get("COVERAGE_NET_DEM_DIR", "../shared/data"),
                    help="DEM directory (default $COVERAGE_NET_DEM_DIR or ../shared/data)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hotspots", type=int, default=200)
    ap.add_argument("--beacons", type=int, default=1_000)
    ap.add_argument("--rebroadcasters", type=int, default=3)
    ap.add_argument("--every", type=int, default=6, help="epochs between two solves")
    ap.add_argument("--quick", action="store_true", help="60 hotspots, 120 beacons")
    ap.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = ap.parse_args(argv)
    if args.quick:
        args.hotspots, args.beacons, args.every = 60, 120, 4
    if args.every < 1 or args.rebroadcasters < 0:
        ap.error("--every must be at least 1 and --rebroadcasters at least 0")
    attackers = {"rebroadcast": args.rebroadcasters} if args.rebroadcasters else {}
    result = run_poc_scenario(PocScenario(
        dem_dir=args.dem, hotspots=args.hotspots, beacons=args.beacons, seed=args.seed,
        attackers=attackers, keep_inputs=True))
    assert result.registry is not None and result.params is not None
    keys = result.registry.keys
    truth = np.array([result.clock_offset_ms[k] for k in keys], dtype=float)
    window = result.params.verifier.hotspot_window_epochs
    rows = np.array(equations(result), dtype=np.int64).reshape(-1, 5)
    print(f"{args.hotspots} hotspots, {args.rebroadcasters} rebroadcasters, seed {args.seed}: "
          f"{result.epochs} epochs, {len(rows)} valid witness reports; window {window} epochs")
    print(f"{'epoch':>5} {'equations':>9} {'hosts known':>11} {'offset error p99/max ms':>23} "
          f"{'repeats':>7} {'late repeats':>12} {'late honest':>11} {'left out early':>14} "
          f"{'solve ms':>8}")
    late_honest_total = 0
    figures = []
    for epoch in range(args.every - 1, result.epochs, args.every):
        inside = rows[(rows[:, 0] <= epoch) & (rows[:, 0] > epoch - window)]
        if len(inside) == 0:
            continue
        beaconer, witness, lag, repeat = inside[:, 1], inside[:, 2], inside[:, 3], \
            inside[:, 4].astype(bool)
        t0 = time.process_time()
        solved = solve_clocks(beaconer, witness, lag, len(keys))
        solve_ms = (time.process_time() - t0) * 1000
        known = solved.equations >= KNOWN_AFTER
        error = solved.offsets_ms - truth
        error = np.abs(error - np.median(error[known]))[known]
        late = solved.late_ms > LATE_MS
        late_honest_total += int((late & ~repeat).sum())
        figures.append({"epoch": epoch, "equations": len(inside), "hosts_known": int(known.sum()),
                        "offset_error_p99_ms": float(np.percentile(error, 99)),
                        "offset_error_max_ms": float(error.max()),
                        "repeats": int(repeat.sum()), "late_repeats": int((late & repeat).sum()),
                        "late_honest": int((late & ~repeat).sum()),
                        "left_out_early": int(solved.early_pair.sum()), "solve_ms": solve_ms})
        print(f"{epoch:>5} {len(inside):>9} {int(known.sum()):>11} "
              f"{np.percentile(error, 99):>15.0f} / {error.max():<5.0f} {int(repeat.sum()):>7} "
              f"{int((late & repeat).sum()):>12} {int((late & ~repeat).sum()):>11} "
              f"{int(solved.early_pair.sum()):>14} {solve_ms:>8.0f}")
    print(f"honest reports counted late at any solve: {late_honest_total}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
