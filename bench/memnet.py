"""The in-memory network: 100 nodes, 1,000 messages, 10 % loss, a partition that heals.

The same run as tests/test_p2p_memory.py's (coverage_net.p2p.testing's
`run_partition_scenario`): every node runs the real gossip and sync actors on a
real SQLite store, over `MemoryNetwork` under trio's MockClock. Printed: the wall
time of the run, the virtual time until every node held every message, the
transmissions delivered and lost, and the trace digest (the same seed prints the
same digest).

    python bench/memnet.py            # 100 nodes, 1,000 messages
    python bench/memnet.py --quick    # 10 nodes, 50 messages (smoke test)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import tempfile
from pathlib import Path

from coverage_net.p2p.testing import run_partition_scenario


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 nodes, 50 messages")
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--loss", type=float, default=0.10, help="per-transmission loss")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    nodes, publishers, per = (10, 5, 10) if args.quick else (100, 10, 100)
    print(f"# in-memory network: {nodes} nodes, {publishers * per} messages, "
          f"{args.loss:.0%} loss per link, partition 1 s -> 5 s; python "
          f"{platform.python_version()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="memnet-") as tmp:
        run = run_partition_scenario(Path(tmp), seed=args.seed, nodes=nodes,
                                     publishers=publishers, per_publisher=per, loss=args.loss)
    print(f"every node holds all {run.messages} messages after {run.converged_virtual_s:.1f} s "
          f"of virtual time")
    print(f"wall time: {run.wall_s:.1f} s")
    print(f"transmissions: {run.delivered:,} delivered, {run.lost:,} lost "
          f"({run.lost / (run.delivered + run.lost):.1%})")
    print(f"trace digest (seed {args.seed}): {run.trace_digest}")
    if args.json:
        args.json.write_text(json.dumps(dataclasses.asdict(run), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
