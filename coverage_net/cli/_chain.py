"""``coverage-net chain``: run a consensus validator, and make a local chain to run."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click
import trio

from coverage_net.consensus import (
    CHAIN_FILE_NAME,
    ChainStore,
    ConsensusError,
    Genesis,
    GenesisError,
    load_genesis,
)
from coverage_net.identity import load_keypair
from coverage_net.metrics import parse_metrics_listen
from coverage_net.poc import NetworkParams, load_params

from . import _chain_change as chain_change
from . import _chain_inspect as chain_inspect
from ._signals import run_until_signalled

PARAMS_FILENAME = "network-params.json"  # coverage_net.node.PARAMS_FILENAME (slow to import)



@click.group()
def chain() -> None:
    """The chain: validators agree, epoch by epoch, on blocks of verdicts and rewards."""


@chain.command("validator")
@click.option("--genesis", "genesis_file", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="The chain's genesis file (see `coverage-net chain genesis`).")
@click.option("--key", "key_file", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="This validator's key file; its public key must be in the genesis.")
@click.option("--data", "data_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Data directory: the signer's record (never delete it: a validator "
                   "without it could sign twice) and validator.json, the status.")
@click.option("--listen", "listen", required=True, metavar="MULTIADDR",
              help="TCP address to listen on, e.g. /ip4/127.0.0.1/tcp/4001 (the one the "
                   "genesis lists for this validator).")
@click.option("--params", "params_file", type=click.Path(dir_okay=False, path_type=Path),
              help="The network parameters the genesis names by digest (TOML, or JSON). "
                   "Default: network-params.json beside the genesis file.")
@click.option("--epoch-ms", type=click.IntRange(min=1),
              help="Epoch length (default: the parameters' epoch_length_ms, which it must "
                   "equal); height h starts when epoch h closes, at genesis time + (h + 1) * "
                   "epoch length.")
@click.option("--block-file", type=click.Path(dir_okay=False, path_type=Path),
              help="File of peer ids (one per line, # comments) not to stay connected to; "
                   "re-read whenever it changes.")
@click.option("--metrics", "metrics_listen", metavar="HOST:PORT",
              help="Serve Prometheus metrics at http://HOST:PORT/metrics, e.g. "
                   "127.0.0.1:9101; port 0 picks a free port (validator.json's "
                   "metrics_addr). Default: no metrics endpoint.")
@click.option("--join", is_flag=True,
              help="The key is not in the genesis: follow the chain and vote from the height "
                   "a change (`chain change`) makes it a validator.")
def validator(genesis_file: Path, key_file: Path, data_dir: Path, listen: str,
              params_file: Path | None, epoch_ms: int | None, block_file: Path | None,
              metrics_listen: str | None, join: bool) -> None:
    """Run a consensus validator until interrupted (Ctrl-C or SIGTERM).

    It builds and checks blocks from its own data directory (the chain, reward ledger
    and message store there). Progress is in DATA/validator.json: each decided height
    with its round, block id and finality latency (decision time minus the close of
    its epoch).
    """
    if logging.getLogger().level > logging.INFO:
        logging.getLogger("coverage_net").setLevel(logging.INFO)
    if metrics_listen is not None:
        parse_metrics_listen(metrics_listen, name="--metrics")
    genesis = load_genesis(genesis_file)
    keypair = load_keypair(key_file)
    params = _params_of(genesis, params_file or genesis_file.with_name(PARAMS_FILENAME),
                        data_dir)
    if epoch_ms is not None and epoch_ms != params.epoch_length_ms:
        raise ConsensusError(f"--epoch-ms {epoch_ms} is not the network parameters' "
                             f"epoch_length_ms ({params.epoch_length_ms}); every validator "
                             "must close epochs when the parameters say")
    data_dir.mkdir(parents=True, exist_ok=True)
    # imported here: py-libp2p is slow to import and only this command needs it
    from coverage_net.node import ChainValidatorConfig, chain_app_factory

    config = ChainValidatorConfig(genesis=genesis, keypair=keypair, data_dir=data_dir,
                                  listen_addr=listen, epoch_ms=params.epoch_length_ms,
                                  app_factory=chain_app_factory(params), block_file=block_file,
                                  metrics_listen=metrics_listen, joining=join)
    from coverage_net.node import run_chain_validator

    trio.run(run_until_signalled, run_chain_validator, config,
             lambda _: f"validator {config.index} running on {config.listen_addr}")


def _params_of(genesis: Genesis, path: Path, data_dir: Path | None = None) -> NetworkParams:
    """The network parameters at `path`: those the genesis names, or, once the node's
    chain holds a change of parameters, the ones a change names (the validator checks
    on start that they are the ones in office)."""
    params = load_params(path)
    named = {genesis.params_digest}
    if data_dir is not None and (data_dir / CHAIN_FILE_NAME).is_file():
        with ChainStore.open(data_dir, genesis, create=False) as chain:
            named |= {c.change.params_digest for c in chain.changes()}
    if params.digest() not in named:
        raise GenesisError(f"{path}: digest {params.digest().hex()[:16]}... is not the "
                           f"genesis's params_digest {genesis.params_digest.hex()[:16]}... nor "
                           "one a change in the chain names; give the parameters file the "
                           "chain runs (--params)")
    return params


@chain.command("genesis")
@click.option("--validators", "count", type=click.IntRange(min=1, max=1024), required=True,
              help="How many validators.")
@click.option("--out", "out_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Directory for genesis.toml and v<i>/key.json (v<i> is then validator "
                   "i's data directory).")
@click.option("--chain-id", default="coverage-net-local", show_default=True)
@click.option("--start-in-s", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Genesis time: this many seconds from now.")
@click.option("--epoch-ms", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Epoch length in the network parameters written beside the genesis.")
def genesis(count: int, out_dir: Path, chain_id: str, start_in_s: float,
            epoch_ms: int) -> None:
    """Write keys for N validators on 127.0.0.1 (free ports), the network parameters
    and their genesis."""
    from coverage_net.node import write_loopback_chain

    made = write_loopback_chain(out_dir, count, chain_id=chain_id, epoch_ms=epoch_ms,
                                genesis_time_ms=time.time_ns() // 1_000_000
                                + round(start_in_s * 1000))
    click.echo(f"genesis {made.genesis_path} (chain {chain_id}, hash "
               f"{made.genesis.hash().hex()[:16]}...); run each validator with:")
    for i in range(count):
        click.echo(f"  coverage-net chain validator --genesis {made.genesis_path} "
                   f"--key {made.key_path(i)} --data {made.data_dirs[i]} "
                   f"--listen {made.listen_addr(i)}")


chain.add_command(chain_inspect.show)
chain.add_command(chain_inspect.verify)
chain.add_command(chain_change.change)
