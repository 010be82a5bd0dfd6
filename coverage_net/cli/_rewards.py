"""`coverage-net rewards`: book epochs into the ledger, show them, export and verify manifests.

All four read a node's data directory: the message store (verdicts, announcements,
data-transfer receipts) and the reward ledger beside it. The network parameters come
from --params, else the data directory's ``network-params.json`` (written by `poc
simulate --data`), else the built-in defaults.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from coverage_net.poc import NetworkParams, load_params, params_from_dict
from coverage_net.rewards import UNITS_PER_COV, RewardLedger, RewardsError
from coverage_net.store import MessageStore

PARAMS_IN_DATA_DIR = "network-params.json"
_MIN_PREFIX_CHARS = 8
_TABLE_WIDTH = 160  # when not on a terminal (piped, captured): rich would take 80

_data_option = click.option(
    "--data", "data_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="Data directory of the node (its message store and reward ledger).")
_params_option = click.option(
    "--params", "params_path", type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help=f"Network parameters (TOML or JSON); default DATA/{PARAMS_IN_DATA_DIR} when it "
         "exists, else the built-in defaults.")


def _params(data_dir: Path, path: Path | None) -> NetworkParams:
    if path is None and (data_dir / PARAMS_IN_DATA_DIR).is_file():
        path = data_dir / PARAMS_IN_DATA_DIR
    return load_params(path) if path is not None else params_from_dict({})


def _epochs(spec: str) -> range:
    """``N`` or ``A..B`` (inclusive)."""
    try:
        first, _, last = spec.partition("..")
        a, b = int(first), int(last or first)
    except ValueError:
        raise click.BadParameter(f"{spec!r}: give an epoch N or a range A..B") from None
    if a < 0 or b < a:
        raise click.BadParameter(f"{spec!r}: epochs are >= 0 and A <= B")
    return range(a, b + 1)


def cov(units: int) -> str:
    """Units as COV with all 8 decimals (exact: integer arithmetic, no float)."""
    whole, frac = divmod(units, UNITS_PER_COV)
    return f"{whole:,}.{frac:08d}"


@click.group()
def rewards() -> None:
    """Rewards: book epochs from verdicts and receipts, show, export and verify them."""


@rewards.command("compute")
@_data_option
@_params_option
@click.option("--epochs", "epoch_spec", required=True, metavar="N|A..B",
              help="The epoch, or an inclusive range, to compute and book.")
def compute(data_dir: Path, params_path: Path | None, epoch_spec: str) -> None:
    """Compute the rewards of epochs from the stored verdicts and book them in the ledger.

    An epoch already booked with the same manifest is left as it is; one booked with a
    different manifest is refused (a booked epoch is never rewritten).

    \b
      coverage-net rewards compute --data out/poc --epochs 0..35
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from coverage_net.node import book_epoch  # imports py-libp2p: slow, so only here

    params = _params(data_dir, params_path)
    epochs = _epochs(epoch_spec)
    console = Console(stderr=True)
    with MessageStore.open(data_dir, create=False) as store, \
            RewardLedger.open(data_dir) as ledger, \
            Progress("epochs", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                     console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task("rewards", total=len(epochs))
        for epoch in epochs:
            manifest, new = book_epoch(store, ledger, params, epoch)
            progress.advance(task)
            paid = sum(1 for p in manifest.payouts if len(p.account) == 64 and p.total)
            click.echo(f"epoch {epoch}: {'booked' if new else 'already booked'}, "
                       f"{cov(manifest.emission)} COV to {paid} hotspots and "
                       f"{len(manifest.payouts) - paid} accounts, manifest "
                       f"{manifest.sha256().hex()[:16]}")


@rewards.command("show")
@_data_option
@click.option("--epoch", type=click.IntRange(0), help="One epoch's payouts.")
@click.option("--hotspot", "hotspot", metavar="KEY",
              help="One hotspot's payouts in every booked epoch (hex key or a unique prefix).")
@click.option("--top", type=click.IntRange(1), default=20, show_default=True,
              help="With --epoch: the largest payouts shown (all in --json).")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON (amounts in units).")
def show(data_dir: Path, epoch: int | None, hotspot: str | None, top: int,
         as_json: bool) -> None:
    """Show an epoch's payouts (--epoch N), or a hotspot's history and balance (--hotspot).

    Amounts are in COV (8 decimals, exact); in --json in the smallest unit.

    \b
      coverage-net rewards show --data out/poc --epoch 12
      coverage-net rewards show --data out/poc --hotspot 3f2a9c01
    """
    from rich.table import Table

    if (epoch is None) == (hotspot is None):
        raise click.UsageError("give exactly one of --epoch and --hotspot")
    with RewardLedger.open(data_dir, create=False) as ledger:
        if epoch is not None:
            manifest = ledger.manifest(epoch)
            rows = sorted(manifest.payouts, key=lambda p: (-p.total, p.account))
            if as_json:
                click.echo(json.dumps([p.to_dict() for p in rows], indent=1))
                return
            table = Table(title=f"epoch {epoch}: {cov(manifest.emission)} COV, manifest "
                                f"{manifest.sha256().hex()[:16]}")
            for name in ("account", "beacons", "witnesses", "scale", "beacon", "witness",
                         "data", "share", "total"):
                table.add_column(name, justify="left" if name == "account" else "right")
            for p in rows[:top]:
                table.add_row(p.account[:16], str(p.beacons), str(p.witnesses),
                              f"{p.scale_pico / 10**12:.4f}" if len(p.account) == 64 else "",
                              cov(p.beacon), cov(p.witness), cov(p.data), cov(p.share),
                              cov(p.total))
            _console().print(table)
            if len(rows) > top:
                click.echo(f"... {len(rows) - top} more (--top, or --json for all)")
            return
        account = _account(ledger, hotspot or "")
        history = ledger.account_history(account)
        balance = ledger.balances().get(account, 0)
        if as_json:
            click.echo(json.dumps({"account": account, "balance": balance,
                                   "epochs": [{"epoch": e, **p.to_dict()} for e, p in history]},
                                  indent=1))
            return
        table = Table(title=f"account {account}: balance {cov(balance)} COV")
        for name in ("epoch", "beacons", "witnesses", "beacon", "witness", "data", "total"):
            table.add_column(name, justify="right")
        for e, p in history:
            table.add_row(str(e), str(p.beacons), str(p.witnesses), cov(p.beacon),
                          cov(p.witness), cov(p.data), cov(p.total))
        _console().print(table)


def _console():
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=_TABLE_WIDTH)


def _account(ledger: RewardLedger, prefix: str) -> str:
    accounts = ledger.balances()
    if prefix in accounts:  # a named account ("operations") or a whole key
        return prefix
    prefix = prefix.lower()
    if len(prefix) < _MIN_PREFIX_CHARS:
        raise RewardsError(f"--hotspot {prefix}: give the hotspot's hex key, at least "
                           f"{_MIN_PREFIX_CHARS} of its hex digits, or an account name")
    matches = [a for a in accounts if a.startswith(prefix)]
    if len(matches) != 1:
        found = ", ".join(m[:16] for m in matches[:5]) or "none"
        raise RewardsError(f"--hotspot {prefix}: {len(matches)} accounts in {ledger.path} "
                           f"match ({found})")
    return matches[0]


@rewards.command("manifest")
@_data_option
@click.option("--epoch", type=click.IntRange(0), required=True)
def manifest_command(data_dir: Path, epoch: int) -> None:
    """Print an epoch's reward manifest as JSON (keys sorted; bytes in hex) with its sha256,
    the hash a block commits to (over the manifest's canonical CBOR).

    \b
      coverage-net rewards manifest --data out/poc --epoch 12 > epoch-12.json
    """
    with RewardLedger.open(data_dir, create=False) as ledger:
        manifest = ledger.manifest(epoch)
    click.echo(json.dumps(manifest.to_json_dict(), sort_keys=True, indent=1))


@rewards.command("verify")
@_data_option
@_params_option
@click.option("--epoch", type=click.IntRange(0), required=True)
def verify(data_dir: Path, params_path: Path | None, epoch: int) -> None:
    """Recompute a booked epoch from the stored verdicts and receipts and say whether it
    matches the ledger; otherwise name every input that changed and the first payout that
    differs. Exit status 1 when it does not match.

    \b
      coverage-net rewards verify --data out/poc --epoch 12
    """
    from coverage_net.node import check_epoch

    params = _params(data_dir, params_path)
    with RewardLedger.open(data_dir, create=False) as ledger, \
            MessageStore.open(data_dir, create=False) as store:
        booked, problems = check_epoch(store, ledger, params, epoch)
    if not problems:
        click.echo(f"epoch {epoch}: matches (manifest {booked.sha256().hex()}, "
                   f"{len(booked.payouts)} payouts, {cov(booked.emission)} COV)")
        return
    click.echo(f"epoch {epoch}: DOES NOT MATCH the ledger")
    for problem in problems:
        click.echo(f"  {problem}")
    raise SystemExit(1)
