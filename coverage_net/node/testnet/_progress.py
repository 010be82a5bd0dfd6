"""The live progress of a testnet: a rich display on a terminal, plain lines elsewhere.

A person watching a demo wants to see the network move (epochs finalized, how fast,
what the verifiers decided); a log file or CI wants one line per change, not
terminal escapes. Both read the same `NetworkSnapshot`.
"""

from __future__ import annotations

import time

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from ._status import NetworkSnapshot

__all__ = ["ProgressDisplay", "describe"]

_PLAIN_EVERY_S = 10.0  # a plain line at least this often while something changes


def describe(snapshot: NetworkSnapshot, hotspots: int) -> str:
    """One line: finality, verdicts and the hotspots' counters."""
    latency = (f"{snapshot.last_latency_ms / 1000:.1f} s" if snapshot.last_latency_ms
               is not None else "-")
    return (f"finality {latency} | verdicts {snapshot.valid} valid, {snapshot.invalid} invalid"
            f" | {snapshot.hotspots_reporting}/{hotspots} hotspots up, "
            f"{snapshot.beacons_sent} beacons, {snapshot.witnesses_filed} witnesses")


class ProgressDisplay:
    """Use as a context manager around the run; call `update` with each snapshot."""

    def __init__(self, console: Console, *, epochs: int, hotspots: int,
                 genesis_time_ms: int | None = None) -> None:
        self.console, self.epochs, self.hotspots = console, epochs, hotspots
        self.genesis_time_ms = genesis_time_ms
        self._terminal = console.is_terminal
        self._progress = Progress(TextColumn("epochs finalized"), BarColumn(bar_width=30),
                                  MofNCompleteColumn(), TimeElapsedColumn(), console=console)
        self._task = self._progress.add_task("epochs", total=epochs)
        self._live = Live(self._view("starting the processes"), console=console,
                          refresh_per_second=4) if self._terminal else None
        self._last_line = ""
        self._last_finalized = -1
        self._last_print_s = 0.0

    def _view(self, line: str) -> Group:
        return Group(self._progress, Text(line, overflow="fold"))

    def __enter__(self) -> ProgressDisplay:
        if self._live is not None:
            self._live.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._live is not None:
            self._live.__exit__(*exc_info)

    def update(self, snapshot: NetworkSnapshot) -> None:
        line = describe(snapshot, self.hotspots)
        to_genesis_s = (self.genesis_time_ms / 1000 - time.time()
                        if self.genesis_time_ms is not None else 0.0)
        if self._live is not None:
            self._progress.update(self._task, completed=min(snapshot.finalized, self.epochs))
            wait = f"genesis in {to_genesis_s:.0f} s | " if to_genesis_s > 0 else ""
            self._live.update(self._view(wait + line))
            return
        wait = "waiting for genesis | " if to_genesis_s > 0 else ""  # no countdown: one line
        plain = f"epochs finalized {snapshot.finalized}/{self.epochs} | {wait}{line}"
        now = time.monotonic()
        new_epoch = snapshot.finalized != self._last_finalized
        if plain != self._last_line and (new_epoch or now - self._last_print_s >= _PLAIN_EVERY_S):
            self.console.print(plain, highlight=False, soft_wrap=True)
            self._last_line, self._last_print_s = plain, now
            self._last_finalized = snapshot.finalized
