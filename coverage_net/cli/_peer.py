"""``coverage-net peer run``: a bare peer that joins, syncs, stores and logs."""

from __future__ import annotations

import logging
from pathlib import Path

import click
import trio

from coverage_net.identity import Keypair, load_keypair, save_keypair
from coverage_net.metrics import parse_metrics_listen

from ._signals import run_until_signalled

logger = logging.getLogger("coverage_net.peer")

DEFAULT_LISTEN = "/ip4/0.0.0.0/tcp/4001"


@click.group()
def peer() -> None:
    """Run a coverage-net peer (gossip, sync and a message store)."""


@peer.command("run")
@click.option("--listen", "listen", multiple=True, metavar="MULTIADDR",
              help=f"TCP address to listen on; repeatable. Default {DEFAULT_LISTEN}. "
                   "Port 0 picks a free port (see peer.json for the one chosen).")
@click.option("--bootstrap", "bootstrap", multiple=True, metavar="MULTIADDR",
              help="A peer to join through, /ip4/HOST/tcp/PORT/p2p/PEER_ID; repeatable. "
                   "The connection is kept: redialed with backoff whenever it drops.")
@click.option("--data", "data_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Data directory: the message store, key.json (unless --key) and "
                   "peer.json, the peer's status (addresses, connections, counters).")
@click.option("--key", "key_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Key file (see `coverage-net keys`). Default DATA/key.json, created "
                   "with a new key if it does not exist.")
@click.option("--mdns/--no-mdns", default=False, show_default=True,
              help="Find and connect to peers on the local network by mDNS.")
@click.option("--blocklist", type=click.Path(dir_okay=False, path_type=Path),
              help="File of peer ids (one per line, # comments) never to stay connected "
                   "to; re-read whenever it changes.")
@click.option("--sync-interval", type=click.FloatRange(min=0.05), default=1.0,
              show_default=True, help="Seconds between sync rounds with a connected peer.")
@click.option("--metrics", "metrics_listen", metavar="HOST:PORT",
              help="Serve Prometheus metrics at http://HOST:PORT/metrics, e.g. "
                   "127.0.0.1:9100; port 0 picks a free port (peer.json's metrics_addr). "
                   "Default: no metrics endpoint.")
def run(listen: tuple[str, ...], bootstrap: tuple[str, ...], data_dir: Path,
        key_file: Path | None, mdns: bool, blocklist: Path | None,
        sync_interval: float, metrics_listen: str | None) -> None:
    """Join the network, gossip and sync every message, store it, and log.

    Runs until interrupted (Ctrl-C or SIGTERM). Example, two peers on one machine:

    \b
      coverage-net peer run --listen /ip4/127.0.0.1/tcp/4001 --data a
      coverage-net peer run --listen /ip4/127.0.0.1/tcp/4002 --data b \\
          --bootstrap /ip4/127.0.0.1/tcp/4001/p2p/PEER_ID_OF_A
    (PEER_ID_OF_A: printed by the first peer, or `coverage-net keys show a/key.json`)
    """
    if logging.getLogger().level > logging.INFO:
        logging.getLogger("coverage_net").setLevel(logging.INFO)
    if metrics_listen is not None:
        parse_metrics_listen(metrics_listen, name="--metrics")
    data_dir.mkdir(parents=True, exist_ok=True)
    keypair = load_or_create_key(key_file or data_dir / "key.json", explicit=key_file is not None)
    # Imported here: py-libp2p takes a second and a half to import, and only this
    # command needs it.
    from coverage_net.node import PeerConfig

    # errors (a bad address, an unusable store) reach the user through the group's handler
    config = PeerConfig(keypair=keypair, data_dir=data_dir,
                        listen_addrs=listen or (DEFAULT_LISTEN,), bootstrap=bootstrap,
                        mdns=mdns, blocklist_file=blocklist, sync_interval_s=sync_interval,
                        metrics_listen=metrics_listen)
    from coverage_net.node import run_peer

    trio.run(run_until_signalled, run_peer, config,
             lambda node: f"peer {node.peer_id} listening on {' '.join(node.addrs)}")


def load_or_create_key(path: Path, *, explicit: bool) -> Keypair:
    """The key at `path`; created on first start (logged) unless the user named the file
    (then a missing one is an error), never replaced."""
    if path.exists() or explicit:
        return load_keypair(path)
    keypair = Keypair.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_keypair(keypair, path)
    logger.info("created a new key in %s (peer id %s)", path, keypair.peer_id)
    return keypair

