"""``coverage-net chain change``: write a change of the validator set or the network
parameters, and approve it.

A change is a TOML file an operator writes with `new` and the other operators review.
Each validator in office approves it with `approve` (its signature goes into
``<file>.approvals``). With a quorum of approvals, the two files go into any validator's
``<data dir>/changes``; its next proposal includes the change, every validator checks
the approvals, and from `effective_height` the chain's blocks are certified by the new
set and judged with the new parameters.
"""

from __future__ import annotations

from pathlib import Path

import click

from coverage_net.consensus import (
    CHAIN_FILE_NAME,
    CHANGE_DELAY_HEIGHTS,
    ApprovedChange,
    ChainChange,
    ChainStore,
    GenesisError,
    GenesisValidator,
    load_genesis,
    save_change,
)
from coverage_net.identity import load_keypair
from coverage_net.poc import load_params

_genesis_option = click.option(
    "--genesis", "genesis_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="The chain's genesis file (TOML).")


@click.group()
def change() -> None:
    """Change the validator set or the network parameters through a block."""


@change.command("new")
@_genesis_option
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              help="A node's data directory: the set to change is the one its chain has in "
                   "office at the effective height (default: the genesis's set).")
@click.option("--effective-height", type=click.IntRange(min=CHANGE_DELAY_HEIGHTS),
              required=True,
              help=f"First height the change applies to; a block at least "
                   f"{CHANGE_DELAY_HEIGHTS} heights before must include it.")
@click.option("--add", "added", multiple=True, metavar="PUBKEY_HEX=MULTIADDR",
              help="A validator to add (repeatable).")
@click.option("--remove", "removed", multiple=True, metavar="PUBKEY_HEX",
              help="A validator to remove (repeatable).")
@click.option("--params", "params_file", type=click.Path(dir_okay=False, path_type=Path),
              help="New network parameters (their digest goes into the change; the epoch "
                   "length cannot change).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The change file to write (TOML).")
def new(genesis_path: Path, data_dir: Path | None, effective_height: int,
        added: tuple[str, ...], removed: tuple[str, ...], params_file: Path | None,
        out_path: Path) -> None:
    """Write a change file for the others to review and approve.

    \b
      coverage-net chain change new --genesis genesis.toml --effective-height 40 \\
          --add 3b6a...=/ip4/10.0.0.5/tcp/4001 --remove 9f1c... --out change.toml
    """
    genesis = load_genesis(genesis_path)
    current = genesis
    if data_dir is not None and (data_dir / CHAIN_FILE_NAME).is_file():
        with ChainStore.open(data_dir, genesis, create=False) as chain:
            current = chain.genesis_at(effective_height - 1)
    validators = None
    if added or removed:
        validators = _changed_set(current.validators, added, removed)
    digest = None
    if params_file is not None:
        params = load_params(params_file)
        digest = params.digest()
        if digest == current.params_digest:
            raise GenesisError(f"{params_file}: these are the parameters in office already")
    change_ = ChainChange(effective_height, validators, digest)
    save_change(change_, out_path)
    click.echo(f"change {change_.hash().hex()[:16]} written to {out_path}: from height "
               f"{effective_height}" + (f", {len(validators)} validators" if validators else "")
               + (f", parameters {digest.hex()[:16]}" if digest else "") +
               f"; it needs the approvals of {current.quorum} of the {current.n} validators "
               "in office")


def _changed_set(current: tuple[GenesisValidator, ...], added: tuple[str, ...],
                 removed: tuple[str, ...]) -> tuple[GenesisValidator, ...]:
    keys = {v.public_key.hex(): v for v in current}
    for key in removed:
        if keys.pop(key.lower(), None) is None:
            raise GenesisError(f"--remove {key}: not a validator in office")
    validators = [v for v in current if v.public_key.hex() in keys]
    for spec in added:
        key, sep, addr = spec.partition("=")
        if not sep:
            raise GenesisError(f"--add {spec!r}: expected PUBKEY_HEX=MULTIADDR")
        try:
            raw = bytes.fromhex(key)
        except ValueError:
            raise GenesisError(f"--add {spec!r}: {key!r} is not hex") from None
        validators.append(GenesisValidator(raw, addr))
    return tuple(validators)


@change.command("approve")
@click.argument("change_path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@_genesis_option
@click.option("--key", "key_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="This validator's key file.")
def approve(change_path: Path, genesis_path: Path, key_file: Path) -> None:
    """Add this validator's signature to CHANGE_PATH.approvals (read the change first)."""
    genesis = load_genesis(genesis_path)
    keypair = load_keypair(key_file)
    approved = ApprovedChange.load(change_path).approve(keypair, genesis)
    where = approved.save_approvals(change_path)
    click.echo(f"approved change {approved.hash().hex()[:16]} as "
               f"{keypair.public_key.hex()[:16]}...; {len(approved.approvals)} approvals in "
               f"{where}")
