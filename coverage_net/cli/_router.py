"""``coverage-net router``: run a router that buys device uplinks, and show what it did."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click
import trio

from coverage_net.config import load_config
from coverage_net.consensus import load_genesis
from coverage_net.identity import load_keypair

from ._chain import _params_of
from ._signals import run_until_signalled


@click.group()
def router() -> None:
    """Buy the device uplinks hotspots carry, and pay them with data-transfer receipts."""


@router.command("run")
@click.option("--config", "config_file", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The router's TOML file (`coverage-net config sample router`).")
def run(config_file: Path) -> None:
    """Run the router until interrupted (Ctrl-C or SIGTERM stop it cleanly).

    It joins the network, answers uplink offers from hotspots (the first offer of a
    packet wins), appends each bought packet to the sink (JSONL) and gossips the
    signed receipt. `coverage-net router status --data DIR` shows its counters.
    """
    config = load_config("router", config_file)
    level = getattr(logging, config.log.level.upper())
    if logging.getLogger().level > level:
        logging.getLogger("coverage_net").setLevel(level)
    genesis = load_genesis(config.chain.genesis)
    params = _params_of(genesis, config.chain.params)
    keypair = load_keypair(config.identity.key_file)
    from coverage_net.node import PeerConfig, RouterSettings  # py-libp2p is slow to import

    metrics = config.metrics.listen
    settings = RouterSettings(
        keypair=keypair, params=params, genesis_ms=genesis.genesis_time_ms,
        sink_path=config.sink.path,
        peer=PeerConfig(keypair=keypair, data_dir=config.data.dir,
                        listen_addrs=config.network.listen, bootstrap=config.network.bootstrap,
                        metrics_listen=None if metrics is None else str(metrics)))
    from coverage_net.node import run_router

    trio.run(run_until_signalled, run_router, settings,
             lambda running: f"router {running.peer.peer_id} listening on "
                             f"{' '.join(running.peer.addrs)}")



@router.command("status")
@click.option("--data", "data_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The router's data directory (data.dir of its config).")
@click.option("--json", "as_json", is_flag=True, help="Print router.json as it is.")
def status(data_dir: Path, as_json: bool) -> None:
    """What the router bought and refused, and where the packets went."""
    from coverage_net.node import ROUTER_STATUS_FILENAME, RouterError, read_router_status

    state = read_router_status(data_dir)
    if state is None:
        raise RouterError(f"{data_dir / ROUTER_STATUS_FILENAME} does not exist yet: "
                                   "is this a router's data directory, has it started?")
    if as_json:
        click.echo(json.dumps(state, indent=2, sort_keys=True))
        return
    refused = ", ".join(f"{k} {v}" for k, v in sorted(state["refused"].items())) or "none"
    click.echo(f"router {state['peer_id']} (key {state['router_key'][:16]}...)"
               f"{'' if state['known_router'] else ' NOT in the network parameters routers'}")
    click.echo(f"  peers connected  {len(state['connected'])}")
    click.echo(f"  bought           {state['bought']} since start, {state['bought_total']} "
               f"in all ({state['data_credits']} data credits since start)")
    click.echo(f"  refused          {refused}")
    click.echo(f"  sink             {state['sink']} ({state['sink_lines']} lines since start)")
