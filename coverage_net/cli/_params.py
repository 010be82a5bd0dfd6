"""`coverage-net params`: check a network parameters file and print its digest.

The digest (SHA-256 of the normalized parameters in canonical CBOR) is what every
node must agree on; consensus will carry it in the genesis block. Two files that
differ only in layout, key order or number spelling have the same digest.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from coverage_net.poc import load_params, params_from_dict


@click.group()
def params() -> None:
    """Network parameters: epochs, challenge rate, beacon channels, verifier thresholds."""


@params.command("check")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help="Print the digest and the normalized parameters as JSON.")
def check(path: Path | None, as_json: bool) -> None:
    """Check PATH (TOML; the built-in defaults without it) and print its digest.

    Every setting is checked (regions, beacon channel and data rate, propagation
    model, DEM tile hashes, integer thresholds); the first problem is reported
    with the key that holds it, e.g. ``regions.US915.beacon.freq_hz``.

    \b
      coverage-net params check examples/network_params.toml
    """
    loaded = load_params(path) if path is not None else params_from_dict({})
    digest = loaded.digest().hex()
    if as_json:
        click.echo(json.dumps({"digest": digest, "params": loaded.to_dict()}, indent=1,
                              default=lambda b: b.hex() if isinstance(b, bytes) else str(b)))
        return
    source = str(path) if path is not None else "built-in defaults"
    click.echo(f"{source}: ok")
    click.echo(f"digest {digest}")
    regions = ", ".join(sorted(loaded.regions))
    click.echo(f"epoch {loaded.epoch_length_ms} ms, challenge window "
               f"{loaded.challenge_window_ms} ms, {loaded.challenges_per_hotspot_per_day} "
               f"challenges per hotspot per day, {len(loaded.validators)} validator(s), "
               f"regions {regions}")
