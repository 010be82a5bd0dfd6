"""Entry point: one click group; every project error becomes one clear line and exit 1."""

from __future__ import annotations

import logging
import sys

import click

from coverage_net import __version__
from coverage_net.coverage import CoverageError
from coverage_net.identity import IdentityError
from coverage_net.radio import RadioError
from coverage_net.store import StoreError
from firmware_bridge import BridgeError

from ._bridge import bridge
from ._keys import keys
from ._peer import peer
from ._predict import predict

PROJECT_ERRORS = (RadioError, CoverageError, BridgeError, IdentityError, StoreError)


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PROJECT_ERRORS as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="coverage-net")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """coverage-net: an open peer-to-peer LoRa coverage network.

    Hotspots prove the radio coverage they really provide; validators check every
    witness against the physics of the actual path. This command runs the parts:
    see each subcommand's --help.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, datefmt="%H:%M:%S",
        format="%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s")


main.add_command(predict)
main.add_command(bridge)
main.add_command(keys)
main.add_command(peer)
