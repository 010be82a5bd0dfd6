"""One peer process of the steady-load benchmark (run by bench/_steady.py, not by hand).

The same node root as ``coverage-net peer run``, built in-process so that it can
publish its share of the load at a fixed rate and, for ``--profile``, run under
cProfile over the publishing window only, with a CPU-time clock (a peer waiting
in epoll costs nothing there, and time it spends descheduled by the 19 others on
2 cores is not charged to it).

Publishing waits for ``go.json`` in the data directory (the harness writes it
once the whole network is up), then publishes report k at ``start + phase + k /
rate``. What it published is written to ``published.json``: content id, the
scheduled time and the time the publish call was made (both epoch ms). Latency is
measured from the scheduled time, so a publisher held up by backpressure does not
hide the delay it caused.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import trio

from coverage_net.identity import Keypair, load_keypair
from coverage_net.messages import Message
from coverage_net.p2p.testing import KEY_FILENAME, witness_reports

GO_FILENAME = "go.json"
PUBLISHED_FILENAME = "published.json"

Publish = Callable[[Message], Awaitable[object]]


async def run_peer(keypair: Keypair, data_dir: Path, listen: str, bootstrap: Sequence[str],
                   sync_interval_s: float, body: Callable[[Publish], Awaitable[None]]) -> None:
    """Run a peer and ``body(publish)`` beside it, until cancelled.

    The benchmark's only use of the node API: the same root as ``coverage-net peer run``.
    """
    from coverage_net.node import PeerConfig
    from coverage_net.node import run_peer as run_node

    config = PeerConfig(keypair=keypair, data_dir=data_dir, listen_addrs=[listen],
                        bootstrap=list(bootstrap), sync_interval_s=sync_interval_s)
    async with trio.open_nursery() as nursery:
        peer = await nursery.start(run_node, config)
        await body(peer.publish)
        await trio.sleep_forever()


async def wait_for_go(data_dir: Path) -> dict:
    """The harness's go signal: ``{"start_epoch_s": ..., "seconds": ...}``."""
    go_path = data_dir / GO_FILENAME
    while not go_path.exists():
        await trio.sleep(0.05)
    return json.loads(go_path.read_text())


async def publish_steady(publish: Publish, keypair: Keypair, data_dir: Path, *,
                         rate_per_s: float, count: int, phase_s: float, tag: str) -> None:
    """Publish ``count`` witness reports at ``rate_per_s``, once ``go.json`` appears."""
    start_epoch_s = (await wait_for_go(data_dir))["start_epoch_s"] + phase_s
    reports = list(witness_reports(keypair, count, host_time_ms=int(start_epoch_s * 1000),
                                   tag=tag.encode()))
    # trio's clock and the wall clock both tick in seconds; anchor one to the other once.
    start = trio.current_time() + (start_epoch_s - time.time())
    published = []
    for k, report in enumerate(reports):
        await trio.sleep_until(start + k / rate_per_s)
        scheduled_ms = int((start_epoch_s + k / rate_per_s) * 1000)
        published.append((report.content_id.hex(), scheduled_ms, time.time_ns() // 1_000_000))
        await publish(report)
    tmp = data_dir / (PUBLISHED_FILENAME + ".tmp")
    tmp.write_text(json.dumps(published))
    os.replace(tmp, data_dir / PUBLISHED_FILENAME)


async def profile_window(data_dir: Path, out: Path) -> None:
    """cProfile (CPU-time clock) over exactly the publishing window, written to ``out``."""
    go = await wait_for_go(data_dir)
    await trio.sleep(max(0.0, go["start_epoch_s"] - time.time()))
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        await trio.sleep(go["seconds"])
    finally:
        profiler.disable()
        profiler.dump_stats(out)


async def _main(args: argparse.Namespace) -> None:
    keypair = load_keypair(args.data / KEY_FILENAME)

    async def body(publish: Publish) -> None:
        if args.rate > 0 and args.count > 0:
            await publish_steady(publish, keypair, args.data, rate_per_s=args.rate,
                                 count=args.count, phase_s=args.phase, tag=args.tag)

    async with trio.open_nursery() as nursery:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGUSR1) as signals:
            nursery.start_soon(run_peer, keypair, args.data, args.listen, args.bootstrap,
                               args.sync_interval, body)
            if args.profile:
                nursery.start_soon(profile_window, args.data, args.profile)
            async for signum in signals:
                if signum == signal.SIGUSR1:
                    dump_tasks(args.data / f"tasks-{time.time_ns() // 1_000_000}.txt")
                    continue
                nursery.cancel_scope.cancel()
                break


def dump_tasks(path: Path) -> None:
    """Write where every trio task is waiting (SIGUSR1): finds what a stalled peer awaits."""
    lines: list[str] = []

    def walk(task: trio.lowlevel.Task, depth: int) -> None:
        frames = []
        coro = task.coro
        while coro is not None:
            frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
            if frame is not None:
                frames.append(f"{frame.f_code.co_filename.rsplit('site-packages/', 1)[-1]}"
                              f":{frame.f_lineno}({frame.f_code.co_name})")
            coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        lines.append("  " * depth + f"{task.name}: " + " > ".join(frames[-4:]))
        for nursery in task.child_nurseries:
            for child in nursery.child_tasks:
                walk(child, depth + 1)

    walk(trio.lowlevel.current_root_task(), 0)
    path.write_text("\n".join(lines) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--listen", required=True)
    ap.add_argument("--bootstrap", action="append", default=[])
    ap.add_argument("--rate", type=float, default=0.0, help="messages/s this peer publishes")
    ap.add_argument("--count", type=int, default=0, help="how many it publishes")
    ap.add_argument("--phase", type=float, default=0.0, help="seconds after the go time")
    ap.add_argument("--tag", default="", help="makes this publisher's reports distinct")
    ap.add_argument("--profile", type=Path, help="write a CPU-time cProfile of the window here")
    ap.add_argument("--sync-interval", type=float, default=1.0,
                    help="as `coverage-net peer run --sync-interval`")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("libp2p").setLevel(logging.CRITICAL)
    trio.run(_main, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
