"""Run a process's composition root until SIGINT or SIGTERM: the one place that does it.

Every long-running command (`peer run`, `chain validator`, `hotspot run`, `validator
run`, `router run`) starts its root in a nursery, says on stderr that it runs, and on
the first signal cancels the nursery, which stops the root cleanly (its files commit
each write before it is reported).
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from typing import Any

import click
import trio

__all__ = ["run_until_signalled"]

logger = logging.getLogger("coverage_net.cli")


async def run_until_signalled(root: Callable[..., Any], settings: object,
                              started: Callable[[Any], str]) -> None:
    """`root(settings)` (started with ``nursery.start``) until SIGINT or SIGTERM;
    `started(what the root started)` is echoed to stderr once it runs."""
    async with trio.open_nursery() as nursery:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            running = await nursery.start(root, settings)
            click.echo(started(running), err=True)
            async for signum in signals:
                logger.info("%s: stopping", signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
                break
