"""Entry point: one click group, and the one place where errors meet the user.

Every error coverage-net raises on purpose derives from `CoverageNetError`; the
group turns it (and an `OSError`, which here is always about the user's files,
ports or addresses) into one ``error:`` line on stderr and exit status 1, with the
traceback only in the debug log (-vv). Ctrl-C ends quietly with status 130, as a
shell expects. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Iterator
from typing import NoReturn

import click

from coverage_net import __version__
from coverage_net.errors import CoverageNetError

logger = logging.getLogger("coverage_net.cli")

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions inside `exc`: trio reports a failing task inside a group."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


def _is_user_error(exc: BaseException) -> bool:
    # a broken pipe (output piped into `head`) is click's to handle quietly
    return isinstance(exc, CoverageNetError | OSError) and not isinstance(exc, BrokenPipeError)


def _message(exc: BaseException) -> str:
    """What went wrong, on one line."""
    if isinstance(exc, OSError) and not isinstance(exc, CoverageNetError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename is not None else ""
        text = f"{where}{exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _fail(exc: BaseException, leaves: list[BaseException]) -> NoReturn:
    logger.debug("command failed", exc_info=exc)
    messages = dict.fromkeys(_message(leaf) for leaf in leaves)  # unique, in order
    click.echo(f"error: {'; '.join(messages)}", err=True)
    sys.exit(EXIT_ERROR)


SUBCOMMANDS = {"predict": "_predict:predict", "map": "_map:map_", "bridge": "_bridge:bridge",
               "keys": "_keys:keys", "peer": "_peer:peer", "params": "_params:params",
               "sim": "_sim:sim", "poc": "_poc:poc", "rewards": "_rewards:rewards",
               "chain": "_chain:chain", "config": "_config:config",
               "hotspot": "_daemons:hotspot", "validator": "_daemons:validator",
               "router": "_router:router", "testnet": "_testnet:testnet"}
"""Each subcommand's module and attribute in this package, imported when the subcommand
is asked for (click's lazy loading): ``coverage-net keys ...`` does not start up
libp2p, matplotlib and the kernels the other subcommands need."""


class _Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *SUBCOMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in SUBCOMMANDS and cmd_name not in self.commands:
            module, attribute = SUBCOMMANDS[cmd_name].split(":")
            command = getattr(importlib.import_module(f".{module}", __package__), attribute)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (CoverageNetError, OSError, KeyboardInterrupt, BaseExceptionGroup) as exc:
            leaves = list(_leaves(exc))
            if all(isinstance(leaf, KeyboardInterrupt) for leaf in leaves):
                sys.exit(EXIT_INTERRUPTED)
            if all(_is_user_error(leaf) for leaf in leaves):
                _fail(exc, leaves)
            raise


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

