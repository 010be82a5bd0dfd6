"""Gossip delivery: one peer publishes a burst; how much arrives, how fast.

N peers on loopback in a sparse random topology (each links to 2 earlier ones);
N-1 are `coverage-net peer run` processes, the publisher runs in this process.
It publishes M signed witness reports as fast as the publish queue takes them.
Printed: the delivery ratio (by gossip alone, and in the end with sync), p50/p99
delivery latency (publish call -> committed in the receiver's store, same
clock), the publish rate and the network's delivery rate.

Side by side, the same burst between two stock py-libp2p 0.8.1 gossipsub nodes
(default spam protection, 32-slot queues and subscription buffer): what the
three fixes in coverage_net.p2p._gossip buy.

    python bench/gossip.py            # 20 peers, 1,000 reports
    python bench/gossip.py --quick    # 4 peers, 100 reports (smoke test)

Steady load (see bench/_steady.py): several peers publish at a fixed total rate;
p50/p99 latency to every other peer's store, CPU per delivered message per peer.

    python bench/gossip.py --steady --rate 20 --seconds 60 --peers 20
    python bench/gossip.py --steady --profile 10     # peer 10 under cProfile, by area
    python bench/gossip.py --sweep --rates 10,20,40,80 --seconds 20
    python bench/gossip.py --steady --quick           # 4 peers, a few seconds (smoke test)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import trio
from _steady import (
    SteadyParams,
    format_detail,
    format_profile,
    format_run,
    percentile,
    run_steady,
)

from coverage_net.identity import Keypair
from coverage_net.node import PeerConfig, run_peer
from coverage_net.p2p.testing import (
    PeerProcess,
    free_tcp_port,
    loopback_addr,
    raw_gossip_client,
    sparse_topology,
    witness_reports,
)

LIVENESS_S = 900


async def _burst(root: Path, peers: int, messages: int, seed: int) -> dict:
    keys = [Keypair.from_seed(bytes([77, i]) * 16) for i in range(peers)]
    ports = [free_tcp_port() for _ in range(peers)]
    topology = sparse_topology(peers, links=2, seed=seed)

    procs = [PeerProcess(root / f"p{i}", keys[i], port=ports[i],
                         bootstrap=[loopback_addr(keys[j], ports[j]) for j in topology[i]])
             for i in range(1, peers)]
    try:
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.wait_ready(timeout_s=300)
        config = PeerConfig(keypair=keys[0], data_dir=root / "p0",
                            listen_addrs=[f"/ip4/127.0.0.1/tcp/{ports[0]}"])
        reports = list(witness_reports(keys[0], messages, host_time_ms=int(time.time() * 1000)))
        published_ms: dict[bytes, int] = {}
        async with trio.open_nursery() as nursery:
            publisher = await nursery.start(run_peer, config)
            expected_links = sum(1 for links in topology if 0 in links)
            with trio.fail_after(LIVENESS_S):
                while len(publisher.connected_peers()) < expected_links:
                    await trio.sleep(0.1)
            await trio.sleep(2.0)  # let gossipsub build its meshes (a 1 s heartbeat)
            t0 = time.perf_counter()
            for report in reports:
                published_ms[report.content_id] = time.time_ns() // 1_000_000
                await publisher.publish(report)
            with trio.fail_after(LIVENESS_S):
                while publisher.metrics.published < messages:
                    await trio.sleep(0.01)
            publish_s = time.perf_counter() - t0
            with trio.fail_after(LIVENESS_S):
                while not all(len(p.content_ids()) >= messages for p in procs):
                    await trio.sleep(0.25)
            all_delivered_s = time.perf_counter() - t0
            nursery.cancel_scope.cancel()
        latencies, by_gossip, delivered = [], 0, 0
        for proc in procs:
            for cid, received_ms, source in proc.query(
                    "SELECT content_id, received_ms, source FROM messages"):
                if cid in published_ms:
                    delivered += 1
                    latencies.append(received_ms - published_ms[cid])
                    by_gossip += not (source or "").startswith("sync:")
        statuses = [p.status() for p in procs]
    finally:
        for proc in procs:
            proc.stop()
    pairs = (peers - 1) * messages
    dropped: dict[str, int] = {}
    for status in statuses:
        for where, n in status["metrics"]["dropped"].items():
            dropped[where] = dropped.get(where, 0) + n
    return {
        "peers": peers, "messages": messages, "delivery_ratio": delivered / pairs,
        "gossip_delivery_ratio": by_gossip / pairs,
        "latency_p50_ms": percentile(latencies, 50), "latency_p99_ms": percentile(latencies, 99),
        "publish_msgs_per_s": messages / publish_s,
        "all_delivered_s": all_delivered_s,
        "deliveries_per_s": delivered / all_delivered_s, "dropped": dropped,
    }


async def _stock_baseline(messages: int, window_s: float = 10.0) -> dict:
    """Two stock py-libp2p gossipsub nodes (library defaults), the same burst; what
    arrives within `window_s` of the publishing."""
    reports = [r.to_cbor() for r in witness_reports(
        Keypair.from_seed(b"\x4d" * 32), messages, host_time_ms=1)]
    topic = "/coverage-net/1/witness_report"
    received = 0
    async with raw_gossip_client(Keypair.from_seed(b"\x4e" * 32), stock_defaults=True) as sub, \
            raw_gossip_client(Keypair.from_seed(b"\x4f" * 32), stock_defaults=True) as pub:
        await pub.connect(f"{sub.host.get_addrs()[0]}")
        subscription = await sub.subscribe(topic)
        with trio.fail_after(60):
            while not pub.pubsub.peer_topics.get(topic):
                await trio.sleep(0.05)
        await trio.sleep(2.0)
        t0 = time.perf_counter()
        for data in reports:
            await pub.publish(topic, data)
        publish_s = time.perf_counter() - t0
        with trio.move_on_after(window_s):
            while received < messages:
                await subscription.get()
                received += 1
    return {"messages": messages, "delivered": received, "delivery_ratio": received / messages,
            "publish_s": publish_s}


def _steady_main(args: argparse.Namespace) -> int:
    """--steady (one rate) or --sweep (several, each on a fresh network)."""
    quick = args.quick
    base = SteadyParams(
        peers=args.peers or (4 if quick else 20),
        publishers=args.publishers or (2 if quick else 4),
        rate_per_s=args.rate or (10.0 if quick else 20.0),
        seconds=args.seconds or (4.0 if quick else 60.0),
        drain_s=10.0 if quick else 20.0, seed=args.seed, profile_index=args.profile,
        sync_interval_s=args.sync_interval)
    rates = [float(r) for r in args.rates.split(",")] if args.sweep else [base.rate_per_s]
    print(f"coverage-net gossip steady load  python {platform.python_version()}  "
          f"{base.peers} peer processes ({base.publishers} publishing), "
          f"{base.seconds:.0f} s windows, {os.cpu_count()} cores, "
          f"load average before {os.getloadavg()[0]:.1f}")
    runs = []
    for rate in rates:
        with tempfile.TemporaryDirectory() as tmp:
            root = args.keep / f"rate-{rate:g}" if args.keep else Path(tmp)
            run = run_steady(root, replace(base, rate_per_s=rate))
        runs.append(run)
        print(format_run(run), flush=True)
        print(format_detail(run))
        if run["profile"]:
            print(format_profile(run["profile"]))
    passing = [r["rate_per_s"] for r in runs if r["latency_p99_ms"] < 1000]
    if args.sweep:
        print(f"highest rate with p99 < 1 s: "
              f"{f'{max(passing):.0f} msg/s' if passing else 'none of those tried'}")
    if args.json:
        args.json.write_text(json.dumps({"steady": runs, "p99_under_1s_max_rate":
                                         max(passing, default=None)}, indent=1))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="4 peers, 100 reports (smoke test); with --steady, 4 peers for 4 s")
    ap.add_argument("--peers", type=int, default=None)
    ap.add_argument("--messages", type=int, default=None)
    ap.add_argument("--seed", type=int, default=5, help="topology seed")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    steady = ap.add_argument_group("steady load")
    steady.add_argument("--steady", action="store_true", help="fixed-rate load, not a burst")
    steady.add_argument("--sweep", action="store_true", help="--steady at each of --rates")
    steady.add_argument("--rate", type=float, help="total messages/s (default 20)")
    steady.add_argument("--rates", default="10,20,40,80", help="for --sweep, comma-separated")
    steady.add_argument("--seconds", type=float, help="publishing window (default 60)")
    steady.add_argument("--publishers", type=int, help="peers that publish (default 4)")
    steady.add_argument("--profile", type=int, metavar="INDEX",
                        help="run peer INDEX under cProfile and print where its CPU goes")
    steady.add_argument("--sync-interval", type=float, default=1.0, metavar="S",
                        help="every peer's --sync-interval (what idle sync costs)")
    steady.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep the peers' stores, logs and profile under DIR")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("libp2p").setLevel(logging.CRITICAL)  # the baseline's rate-limit spam
    if args.steady or args.sweep:
        return _steady_main(args)
    peers = args.peers or (4 if args.quick else 20)
    messages = args.messages or (100 if args.quick else 1000)
    print(f"coverage-net gossip benchmark  python {platform.python_version()}  "
          f"{peers} peers (sparse, 2 links each), burst of {messages} witness reports")
    with tempfile.TemporaryDirectory() as tmp:
        ours = trio.run(_burst, Path(tmp), peers, messages, args.seed)
    print(f"  delivery ratio          {ours['delivery_ratio']:.4f}  "
          f"(by gossip alone {ours['gossip_delivery_ratio']:.4f}, the rest by sync)")
    print(f"  delivery latency        p50 {ours['latency_p50_ms']:.0f} ms   "
          f"p99 {ours['latency_p99_ms']:.0f} ms")
    print(f"  publish rate            {ours['publish_msgs_per_s']:.0f} msgs/s")
    print(f"  network delivery rate   {ours['deliveries_per_s']:.0f} msgs/s "
          f"(all {peers - 1} x {messages} delivered in {ours['all_delivered_s']:.1f} s)")
    print(f"  dropped by py-libp2p    {ours['dropped'] or 'none'}")
    window_s = 3.0 if args.quick else 10.0
    stock = trio.run(_stock_baseline, messages, window_s)
    print(f"baseline: stock py-libp2p gossipsub, 2 nodes, same burst: "
          f"{stock['delivered']}/{messages} delivered within {window_s:g} s "
          f"(ratio {stock['delivery_ratio']:.4f}); coverage-net, {peers} peers: "
          f"{ours['delivery_ratio']:.4f}")
    if args.json:
        args.json.write_text(json.dumps({"coverage_net": ours, "stock": stock}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
