"""A big epoch through consensus: 50,000 witness verdicts finalized by 4 validators.

Untimed set-up: one node data directory holding `--hotspots` announced hotspots and
one epoch of `--beacons` valid beacons with `--witnesses` valid witnesses each
(default 2,000 x 25 = 50,000 witness verdicts), copied for 4 validators. Then the 4
validators (`ConsensusDriver` + `ChainApp` on their own SQLite files, real signed
votes) run on the in-memory network under trio's MockClock until the epoch is final.

Printed: the block (header bytes, verdict count, parts of `PART_LEAVES` leaves and
the largest part's bytes, against the 4,096-byte message limit); one validator's wall
time to build the block from its store (decode the verdicts, their Merkle root, the
rewards and the state root: what each validator does once, in parallel on its own
machine, before it can propose or vote); the protocol's latency from the epoch's close
to the last validator's decision in virtual time (links of 5-50 ms); and the whole
run's wall time (4 validators' work on one core, one after the other).

    python bench/consensus_block.py            # 50,000 witness verdicts
    python bench/consensus_block.py --quick    # 2,000 (smoke test)
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import trio
from _figures import write_figures
from h3.api import basic_int as h3

from coverage_net.consensus import (
    PART_LEAVES,
    ChainStore,
    ConsensusDriver,
    Genesis,
    GenesisValidator,
    VoteSigner,
    block_parts,
    verdict_leaves,
)
from coverage_net.identity import Keypair
from coverage_net.messages import MAX_MESSAGE_BYTES, HotspotAnnouncement
from coverage_net.node import ChainApp, save_announcements, save_verdicts, verdict_from_row
from coverage_net.p2p.testing import MemoryNetwork, run_deterministic
from coverage_net.poc import Reason, Registry, Verdict, params_from_dict
from coverage_net.rewards import RewardLedger
from coverage_net.store import MessageStore

EPOCH_MS = 60_000
CLOSE_S = 1.0


def _key(what: bytes, i: int) -> Keypair:
    return Keypair.from_seed(hashlib.sha256(what + i.to_bytes(4, "big")).digest())


def build_store(root: Path, hotspots: int, beacons: int, witnesses: int, seed: int) -> int:
    """The node data directory; returns the number of witness verdicts."""
    rng = random.Random(seed)
    keys = [_key(b"hotspot", i) for i in range(hotspots)]
    anns = [HotspotAnnouncement(
        hotspot_key=k.public_key, antenna_gain_dbi=3.0, antenna_height_m=10.0, region="US915",
        cell=h3.latlng_to_cell(44 + rng.random(), -72 + rng.random(), 12), timestamp_ms=1
    ).sign(k) for k in keys]
    public = [k.public_key for k in keys]
    verdicts = []
    for b in range(beacons):
        challenge = hashlib.sha256(b"c%d" % b).digest()
        beaconer = rng.randrange(hotspots)
        verdicts.append(Verdict.checked_elsewhere(
            report_id=hashlib.sha256(b"b" + challenge).digest(), report_type="beacon_report",
            challenge_id=challenge, epoch=0, hotspot_key=public[beaconer], valid=True,
            reason=Reason.VALID, rewarded=True))
        hearers = [h for h in rng.sample(range(hotspots), witnesses + 1) if h != beaconer]
        for n, hearer in enumerate(hearers[:witnesses]):
            verdicts.append(Verdict.checked_elsewhere(
                report_id=hashlib.sha256(b"w%d/" % n + challenge).digest(),
                report_type="witness_report", challenge_id=challenge, epoch=0,
                hotspot_key=public[hearer], valid=True, reason=Reason.VALID, rewarded=n < 14))
    with MessageStore.open(root, durability="process_crash") as store:
        save_announcements(store, Registry(anns).announcements, received_ms=1)
        save_verdicts(store, verdicts)
    return len(verdicts) - beacons


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="200 beacons x 10 witnesses")
    ap.add_argument("--hotspots", type=int, default=2_000)
    ap.add_argument("--beacons", type=int, default=None, help="default 2,000")
    ap.add_argument("--witnesses", type=int, default=None, help="default 25")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON ('-': stdout)")
    args = ap.parse_args(argv)
    beacons = args.beacons or (200 if args.quick else 2_000)
    witnesses = args.witnesses or (10 if args.quick else 25)
    params = params_from_dict({"epoch_length_ms": EPOCH_MS})
    validators = [_key(b"validator", i) for i in range(4)]
    genesis = Genesis(chain_id="bench", validators=tuple(
        GenesisValidator(k.public_key, f"/ip4/127.0.0.1/tcp/{4100 + i}")
        for i, k in enumerate(validators)), params_digest=params.digest(),
        first_entropy=bytes(32), genesis_time_ms=0)
    with tempfile.TemporaryDirectory(prefix="consensus-block-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        n_witness = build_store(root / "source", args.hotspots, beacons, witnesses, args.seed)
        dirs = []
        for i in range(4):
            shutil.copytree(root / "source", root / f"v{i}")
            dirs.append(root / f"v{i}")
        print(f"coverage-net consensus block benchmark: {n_witness:,} witness verdicts and "
              f"{beacons:,} beacons in one epoch, {args.hotspots:,} hotspots, 4 validators "
              f"(set up in {time.perf_counter() - t0:.1f} s)")
        # one validator's block build, timed alone on a copy (the others do the same)
        shutil.copytree(root / "source", root / "probe")
        with MessageStore.open(root / "probe") as store, \
                ChainStore.open(root / "probe", genesis) as chain, \
                RewardLedger.open(root / "probe") as ledger:
            probe = ChainApp(root / "probe", params, genesis, store=store, chain=chain,
                             ledger=ledger)
            t0 = time.perf_counter()
            block = probe.block_for(0, 0)
            build_s = time.perf_counter() - t0
            leaves = verdict_leaves(verdict_from_row(r) for r in store.verdict_rows(epoch=0))
        parts = block_parts(leaves)
        largest = max(len(p.to_cbor()) for p in parts)
        decided: dict[int, float] = {}

        async def run() -> None:
            net = MemoryNetwork(args.seed)
            ids = [k.peer_id for k in validators]
            endpoints = net.full_mesh(ids)
            async with trio.open_nursery() as nursery:
                await nursery.start(net.run)
                sends = []
                for i in range(4):
                    store = MessageStore.open(dirs[i])
                    app = ChainApp(dirs[i], params, genesis, store=store,
                                   chain=ChainStore.open(dirs[i], genesis),
                                   ledger=RewardLedger.open(dirs[i]))
                    original = app.commit

                    def commit(height, block_id, qc, i=i, original=original):
                        decided[i] = trio.current_time()
                        original(height, block_id, qc)

                    app.commit = commit  # type: ignore[method-assign]
                    signer = VoteSigner.open(dirs[i], validators[i], genesis)
                    send, receive = trio.open_memory_channel[int](4)
                    sends.append(send)
                    await nursery.start(ConsensusDriver(endpoints[i], genesis, signer, app).run,
                                        receive)
                await trio.sleep_until(CLOSE_S)
                for send in sends:
                    send.send_nowait(0)
                while len(decided) < 4:
                    await trio.sleep(0.05)
                nursery.cancel_scope.cancel()

        t0 = time.perf_counter()
        run_deterministic(run, seed=args.seed)
        wall_s = time.perf_counter() - t0
    latency_s = max(decided.values()) - CLOSE_S
    figures = {"witness_verdicts": n_witness, "verdicts": len(leaves),
               "header_bytes": len(block.to_cbor()), "parts": len(parts),
               "part_leaves": PART_LEAVES, "largest_part_bytes": largest,
               "message_limit_bytes": MAX_MESSAGE_BYTES, "build_block_s": build_s,
               "protocol_latency_virtual_s": latency_s, "run_wall_s": wall_s,
               "finalized_by": len(decided)}
    print(f"block: header {figures['header_bytes']} bytes, {len(leaves):,} verdicts in "
          f"{len(parts):,} parts of {PART_LEAVES} leaves, the largest {largest:,} bytes "
          f"(message limit {MAX_MESSAGE_BYTES:,})")
    print(f"one validator builds the block from its store in {build_s:.2f} s (wall, one core)")
    print(f"finalized by all 4 validators {latency_s:.3f} s (virtual) after the epoch closed; "
          f"the whole run took {wall_s:.1f} s of wall time for the 4 validators on one core")
    print(f"so an epoch of {n_witness:,} witness verdicts is final about "
          f"{build_s + latency_s:.1f} s after it closes (build + protocol)")
    write_figures(figures, args.json)
    return 0 if len(decided) == 4 else 1


if __name__ == "__main__":
    sys.exit(main())
