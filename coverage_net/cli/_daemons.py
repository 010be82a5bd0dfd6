"""``coverage-net hotspot`` and ``coverage-net validator``: the long-running processes.

Each reads one TOML file (`coverage_net.config`: environment overrides, one ``error:``
line naming the key for a bad setting), opens what it names, and runs its composition
root from `coverage_net.node` until SIGINT or SIGTERM, which cancel it cleanly: the
store, chain and ledger commit each write before it is reported, so a stop loses
nothing already accepted. ``hotspot status`` reads what a running (or stopped) hotspot
wrote into its data directory.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

import click
import trio

from coverage_net.config import load_config
from coverage_net.identity import load_keypair

from ._peer import load_or_create_key
from ._signals import run_until_signalled

_config_option = click.option(
    "--config", "config_path", required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The process's TOML configuration (`coverage-net config sample KIND` writes a "
         "commented one; COVERAGE_NET_<SECTION>_<KEY> overrides any setting).")


def _log_level(level: str) -> None:
    logging.getLogger("coverage_net").setLevel(level.upper())


# -- hotspot ------------------------------------------------------------------------------


@click.group()
def hotspot() -> None:
    """A hotspot: a radio on a roof that beacons when challenged and witnesses others."""


@hotspot.command("run")
@_config_option
def hotspot_run(config_path: Path) -> None:
    """Run a hotspot until interrupted (Ctrl-C or SIGTERM).

    It joins the network (the bootstrap peers), announces where it stands (the
    asserted location and antenna), answers challenges with beacons on its radio, and
    files a witness report for every beacon it hears. Status: DATA/hotspot.json and
    DATA/peer.json (`coverage-net hotspot status --data DATA`).

    \b
      coverage-net config sample hotspot --out hotspot.toml   # then edit it
      coverage-net hotspot run --config hotspot.toml
    """
    cfg = load_config("hotspot", config_path)
    _log_level(cfg.log.level)
    from coverage_net.metrics import PocCollector
    from coverage_net.node import HotspotSettings, PeerConfig, run_hotspot
    from coverage_net.poc import PocMetrics, load_params

    from ._bridge import make_radio

    params = load_params(cfg.chain.params)
    keypair = load_or_create_key(cfg.identity.key_file, explicit=False)
    cfg.data.dir.mkdir(parents=True, exist_ok=True)
    radio = cfg.radio
    port = str(radio.udp_listen) if radio.driver == "semtech-udp" else radio.port
    poc_metrics = PocMetrics()
    peer = PeerConfig(keypair=keypair, data_dir=cfg.data.dir, listen_addrs=cfg.network.listen,
                      bootstrap=cfg.network.bootstrap,
                      metrics_listen=None if cfg.metrics.listen is None
                      else str(cfg.metrics.listen),
                      metrics_collectors=(PocCollector(poc_metrics),))
    settings = HotspotSettings(
        keypair=keypair, lat_deg=cfg.location.lat, lon_deg=cfg.location.lon,
        antenna_height_m=cfg.location.antenna_height_m,
        antenna_gain_dbi=cfg.location.antenna_gain_dbi, region=radio.region, params=params,
        open_radio=functools.partial(make_radio, radio.driver, port, radio.baudrate, 0.5),
        peer=peer, poc_metrics=poc_metrics)
    trio.run(run_until_signalled, run_hotspot, settings,
             lambda _: f"hotspot {keypair.public_key.hex()[:16]} running ({radio.driver} radio "
                       f"on {port})")


@hotspot.command("status")
@click.option("--data", "data_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The hotspot's data directory (data.dir of its config).")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def hotspot_status(data_dir: Path, as_json: bool) -> None:
    """Show a hotspot's peers, announcement, beacons, witnesses, verdicts and balance.

    Read from DATA/hotspot.json, written every second while it runs: its own counters,
    and what a validator last said about it (the chain's height, its balance, its
    newest verdicts with the reason; `coverage-net poc explain REPORT --data
    VALIDATOR_DATA` explains one).
    """
    from coverage_net.errors import CoverageNetError
    from coverage_net.node import read_hotspot_status

    status = read_hotspot_status(data_dir)
    if status is None:
        raise CoverageNetError(f"{data_dir}: no hotspot.json; is it a hotspot's data directory "
                               "(data.dir), and has the hotspot run?")
    if as_json:
        click.echo(json.dumps(status, indent=1, sort_keys=True))
        return
    a, poc = status["announcement"], status["poc"]
    click.echo(f"hotspot {status['hotspot_key']}  peer {status['peer_id']}")
    click.echo(f"  asserted  cell {a['cell']} ({a['lat_deg']:.5f}, {a['lon_deg']:.5f}), "
               f"{a['region']}, antenna {a['antenna_gain_dbi']} dBi at {a['antenna_height_m']} m")
    click.echo(f"  peers     {len(status['connected'])} connected")
    click.echo(f"  beacons   {poc['beacons_sent']} sent; challenges refused "
               f"{sum(poc['refused'].values())} {poc['refused'] or ''}".rstrip())
    click.echo(f"  witnesses {poc['witnesses_filed']} filed; {poc['held_resolved']} held "
               f"until their challenge came, {poc['held_expired']} expired")
    said = status.get("validators_say")
    if not said:
        click.echo("  verdicts  none yet (no validator answered; they judge an epoch when it "
                   "closes)")
        return
    from ._rewards import cov

    click.echo(f"  balance   {cov(said['balance'])} COV on the chain at height {said['height']} "
               f"(validator {said['validator'][:16]})")
    for v in said["verdicts"]:
        verdict = "valid" if v["valid"] else f"invalid: {v['reason']}"
        click.echo(f"  epoch {v['epoch']:>4}  {v['report_type']:<15} {v['report_id'][:16]}  "
                   f"{verdict}")


# -- validator ----------------------------------------------------------------------------


@click.group()
def validator() -> None:
    """A validator: challenges hotspots, judges their reports, agrees on blocks and rewards."""


@validator.command("run")
@_config_option
def validator_run(config_path: Path) -> None:
    """Run a validator until interrupted (Ctrl-C or SIGTERM).

    It issues its share of each epoch's challenges, keeps every report gossiped to it,
    and when an epoch closes fetches what it missed from the other validators, judges
    the epoch (`poc.verify`), and agrees with them on the epoch's block of verdicts and
    rewards. Status: DATA/validator.json; the chain: `coverage-net chain show`.

    \b
      coverage-net config sample validator --out validator.toml   # then edit it
      coverage-net validator run --config validator.toml
    """
    cfg = load_config("validator", config_path)
    _log_level(cfg.log.level)
    from coverage_net.consensus import OBSERVER, CoreConfig, load_genesis
    from coverage_net.node import (
        ChainValidatorConfig,
        ValidatorPoc,
        chain_app_factory,
        run_chain_validator,
    )
    from coverage_net.radio import Terrain

    from ._chain import _params_of

    genesis = load_genesis(cfg.chain.genesis)
    keypair = load_keypair(cfg.identity.key_file)
    params = _params_of(genesis, cfg.chain.params, cfg.data.dir)
    me = OBSERVER if cfg.chain.join else genesis.index_of(keypair.public_key)
    c = cfg.consensus
    core = CoreConfig(n=genesis.n, me=me, timeout_propose_ms=c.timeout_propose_ms,
                      timeout_prevote_ms=c.timeout_prevote_ms,
                      timeout_precommit_ms=c.timeout_precommit_ms,
                      timeout_delta_ms=c.timeout_delta_ms)
    terrain = Terrain(cfg.chain.dem_dir) if cfg.chain.dem_dir is not None else None
    cfg.data.dir.mkdir(parents=True, exist_ok=True)
    config = ChainValidatorConfig(
        genesis=genesis, keypair=keypair, data_dir=cfg.data.dir,
        listen_addr=cfg.network.listen[0], epoch_ms=params.epoch_length_ms,
        app_factory=chain_app_factory(params), core=core,
        metrics_listen=None if cfg.metrics.listen is None else str(cfg.metrics.listen),
        poc=ValidatorPoc(params, terrain, grace_ms=cfg.chain.grace_ms),
        joining=cfg.chain.join)
    trio.run(run_until_signalled, run_chain_validator, config,
             lambda _: f"validator {config.index} running on {config.listen_addr}")
