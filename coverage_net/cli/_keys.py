"""`coverage-net keys`: create and inspect a node's identity key file.

The key file holds the node's ed25519 seed; its peer id is the node's name on the
network and the signer of everything it says. These commands go through
`coverage_net.identity` only, so the CLI writes and checks exactly the file a node
loads (mode 0600, consistency of seed, public key and peer id).
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import click

from coverage_net.identity import (
    SEED_BYTES,
    KeyFileError,
    Keypair,
    load_keypair,
    save_keypair,
)

DEFAULT_KEY_FILE = Path("key.json")
_HEX_DIGITS = frozenset(string.hexdigits)


def _seed_from_hex(_ctx: click.Context, _param: click.Parameter,
                   value: str | None) -> bytes | None:
    if value is None:
        return None
    if len(value) != 2 * SEED_BYTES:
        raise click.BadParameter(
            f"must be {2 * SEED_BYTES} hexadecimal characters ({SEED_BYTES} bytes); "
            f"got {len(value)} characters")
    # strict: bytes.fromhex would skip spaces; and the value is a secret, so not echoed
    if not set(value) <= _HEX_DIGITS:
        raise click.BadParameter("is not hexadecimal (use only 0-9 and a-f)")
    return bytes.fromhex(value)


def _report(keypair: Keypair, path: Path, *, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"peer_id": keypair.peer_id,
                               "public_key": keypair.public_key.hex(), "path": str(path)}))
        return
    click.echo(f"peer id:    {keypair.peer_id}")
    click.echo(f"public key: {keypair.public_key.hex()}")
    click.echo(f"key file:   {path}")


json_option = click.option("--json", "as_json", is_flag=True,
                           help='Print one JSON object {"peer_id", "public_key", "path"} '
                                "instead of text.")


@click.group()
def keys() -> None:
    """Create or inspect a node's identity key (an ed25519 key and its libp2p peer id).

    The key file is the node's identity: whoever holds it can sign as the node, and
    losing it means starting over under a new peer id. It is written with mode 0600
    and refused when group or others can read it. Back it up somewhere private.
    """


@keys.command()
@click.option("--out", "path", type=click.Path(dir_okay=False, path_type=Path),
              default=DEFAULT_KEY_FILE, show_default=True,
              help="Where to write the key file (its directory must exist).")
@click.option("--force", is_flag=True,
              help="Replace an existing key file. The old identity (its peer id) is lost "
                   "unless you have a copy.")
@click.option("--seed-hex", "seed", metavar="HEX64", callback=_seed_from_hex,
              help="Derive the key from this 32-byte seed (64 hex characters) instead of "
                   "the operating system's random source, for reproducible test networks "
                   "and simulations. Not for production keys: anyone who knows or guesses "
                   "the seed holds the identity.")
@json_option
def generate(path: Path, force: bool, seed: bytes | None, as_json: bool) -> None:
    """Create a new identity key and write it to a key file.

    Refuses to replace an existing file unless --force is given, since that changes
    the node's peer id. Prints the new peer id, public key and file.

    \b
    Example:
        coverage-net keys generate --out /var/lib/coverage-net/key.json
    """
    if not force and (path.exists() or path.is_symlink()):
        raise KeyFileError(f"{path} already exists; refusing to replace an identity key (move "
                           "it away first, or pass --force to replace it and give this node a "
                           "new peer id)")
    keypair = Keypair.generate() if seed is None else Keypair.from_seed(seed)
    save_keypair(keypair, path, overwrite=force)
    if seed is not None:
        click.echo("note: key derived from --seed-hex: anyone who knows the seed holds this "
                   "identity; use it only on test networks", err=True)
    _report(keypair, path, as_json=as_json)


@keys.command()
@click.argument("path", required=False, default=DEFAULT_KEY_FILE,
                type=click.Path(path_type=Path))
@json_option
def show(path: Path, as_json: bool) -> None:
    """Print the peer id and public key of a key file (default: ./key.json).

    The file is checked as a node checks it when starting: mode 0600, and the seed,
    public key and peer id must agree. The secret seed is never printed.

    \b
    Example:
        coverage-net keys show /var/lib/coverage-net/key.json --json
    """
    keypair = load_keypair(path)
    _report(keypair, path, as_json=as_json)
