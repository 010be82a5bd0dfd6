"""Simulator scale: 10,000 hotspots x 4 beacons/day x 1 day in virtual time.

Candidate receivers come from the world's H3 neighbourhoods, path loss from the
compiled kernel. Prints the wall time (target: at most 60 s on this 2-core
machine), events/s, receptions/s and the run's summary figures.

    python bench/sim.py            # the full run
    python bench/sim.py --quick    # 1,000 hotspots, for a smoke test
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

from radio_sim._scenario import Scenario, run_scenario


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1,000 hotspots (smoke test)")
    ap.add_argument("--hotspots", type=int, default=None)
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args(argv)
    n = args.hotspots or (1_000 if args.quick else 10_000)
    scenario = Scenario(hotspots=n, beacons_per_day=4, days=1, region="US915", seed=1)
    print(f"coverage-net simulator benchmark  python {platform.python_version()}  "
          f"{n} hotspots x 4 beacons/day x 1 day, model {scenario.model}, "
          f"density {scenario.density_per_km2}/km2")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = run_scenario(scenario, tmp)
        wall_s = time.perf_counter() - t0
        rows = sum(1 for _ in open(result.link_table, encoding="utf-8")) - 1
    s = result.summary
    figures = {"hotspots": n, "wall_s": round(wall_s, 2), "beacons": s["beacons_transmitted"],
               "events": s["events"], "events_per_s": round(s["events"] / wall_s),
               "link_rows": rows, "rows_per_s": round(rows / wall_s),
               "delivery_ratio": s["delivery_ratio"], "collisions": s["collisions"],
               "witnesses_mean": s["witnesses_per_beacon"]["mean"]}
    print(f"wall time    {wall_s:8.2f} s   (target <= 60 s for 10,000 hotspots)")
    print(f"beacons      {figures['beacons']:8d}     events {figures['events']} "
          f"({figures['events_per_s']}/s)")
    print(f"link rows    {rows:8d}     ({figures['rows_per_s']}/s)")
    print(f"delivery     {s['delivery_ratio']}   collisions {s['collisions']}   witnesses "
          f"per beacon {s['witnesses_per_beacon']['mean']} mean, "
          f"{s['witnesses_per_beacon']['none']} beacons unheard")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
