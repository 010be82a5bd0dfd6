"""Finality of 4 real validator processes on loopback: all up, one crashed, a healed partition.

Four ``coverage-net chain validator`` processes (`coverage_net.node.testing.LocalChain`,
py-libp2p over 127.0.0.1) agree on one block per epoch. Printed, from the validators'
own status files (decision time minus the close of the epoch, wall clock):

* finality latency, median and max over the epochs, with all four up (issue #12:
  within 2 s);
* the same with validator 3 killed by SIGKILL, over at most 6 epochs (within 5 s:
  when it is the round-0 proposer, the others wait out the propose timeout and
  decide in round 1);
* after validator 3 is back and a 2|2 partition (through the validators' block
  files) has stopped finality for `--partition-epochs`, the time from healing to
  the first decision on any validator, and to every validator having decided every
  height that closed during the partition.

    python bench/consensus.py                  # 10 epochs per phase, 3 s epochs
    python bench/consensus.py --quick          # 2 epochs per phase, 1 partitioned (smoke test)
    python bench/consensus.py --json out.json  # also write the figures ('-': stdout)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _figures import write_figures

from coverage_net.node.testing import LocalChain

WAIT_S = 120.0  # liveness bound while waiting for a height, not a figure


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _phase(chain: LocalChain, live: list[int], epochs: int) -> dict:
    """Latency of the next `epochs` heights that close with `live` up: per height, the
    last of `live` to decide it."""
    first = chain.height_closing_after(_now_ms()) + 1
    last = first + epochs - 1
    chain.wait_decided(live, last, timeout_s=WAIT_S + epochs * chain.epoch_ms / 1000)
    per_height = [max(chain.validators[i].decided()[h]["latency_ms"] for i in live)
                  for h in range(first, last + 1)]
    rounds = [chain.validators[live[0]].decided()[h]["round"] for h in range(first, last + 1)]
    return {"heights": [first, last], "latency_ms": per_height, "rounds": rounds,
            "median_ms": statistics.median(per_height), "max_ms": max(per_height)}


def _partition(chain: LocalChain, epochs: int) -> dict:
    chain.partition((0, 1), (2, 3))
    cut_from = chain.height_closing_after(_now_ms() + 2_000)  # block files applied by then
    time.sleep(epochs * chain.epoch_ms / 1000)
    heal_ms = _now_ms()
    chain.heal()
    stalled_to = chain.height_closing_after(heal_ms) - 1  # closed before the heal
    finalized_during = sorted({h for v in chain.validators for h, d in v.decided().items()
                               if h >= cut_from and d["decided_ms"] < heal_ms})
    chain.wait_decided(range(4), max(stalled_to, cut_from), timeout_s=WAIT_S)
    after = [d["decided_ms"] for v in chain.validators for h, d in v.decided().items()
             if h >= cut_from]
    caught_up = max(v.decided()[h]["decided_ms"] for v in chain.validators
                    for h in range(cut_from, max(stalled_to, cut_from) + 1))
    return {"stalled_heights": [cut_from, stalled_to], "finalized_during": finalized_during,
            "resume_ms": min(after) - heal_ms, "all_caught_up_ms": caught_up - heal_ms}


def run(out_dir: Path, *, epochs: int, epoch_ms: int, partition_epochs: int) -> dict:
    with LocalChain(out_dir, epoch_ms=epoch_ms) as chain:
        figures = {"validators": 4, "epoch_ms": epoch_ms,
                   "all_up": _phase(chain, [0, 1, 2, 3], epochs)}
        chain.validators[3].kill()
        # at least 4 epochs (3 proposes in round 0 once); at most 6, so that 3 can catch
        # up quickly when it is back (it catches up one certificate per sync round)
        figures["one_crashed"] = _phase(chain, [0, 1, 2], min(max(epochs, 4), 6))
        chain.validators[3].start()
        chain.validators[3].wait_ready()
        chain.wait_decided([3], chain.height_closing_after(_now_ms()), timeout_s=WAIT_S)
        figures["partition"] = _partition(chain, partition_epochs)
    return figures


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="2 epochs per phase, 1 partitioned (smoke test)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs per phase (default 10)")
    ap.add_argument("--epoch-ms", type=int, default=3_000)
    ap.add_argument("--partition-epochs", type=int, default=None, help="default 2 (quick 1)")
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON ('-': stdout)")
    args = ap.parse_args(argv)
    epochs = args.epochs or (2 if args.quick else 10)
    partition_epochs = args.partition_epochs or (1 if args.quick else 2)
    with tempfile.TemporaryDirectory(prefix="coverage-net-consensus-") as tmp:
        figures = run(Path(tmp), epochs=epochs, epoch_ms=args.epoch_ms,
                      partition_epochs=partition_epochs)
    for name, label, bound_ms in (("all_up", "all 4 up", 2_000),
                                  ("one_crashed", "1 of 4 crashed", 5_000)):
        f = figures[name]
        print(f"finality latency, {label}: median {f['median_ms']:.0f} ms, max {f['max_ms']} ms "
              f"over heights {f['heights'][0]}..{f['heights'][1]} (rounds {f['rounds']}; "
              f"target < {bound_ms} ms)")
    p = figures["partition"]
    print(f"2|2 partition for {partition_epochs} epochs: finalized during it: "
          f"{p['finalized_during'] or 'nothing'}; after healing, first decision in "
          f"{p['resume_ms']} ms, every stalled height on every validator in "
          f"{p['all_caught_up_ms']} ms")
    write_figures(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
