"""The testnet's errors: each names the process or the step that failed.

A testnet is a dozen processes; when one dies or the network stalls, the user needs
to know which one, how it ended and what it last said, on the CLI's one ``error:``
line, not a traceback from the supervisor.
"""

from __future__ import annotations

from coverage_net.errors import CoverageNetError

__all__ = ["ProcessExitedError", "TestnetError", "TestnetTimeoutError"]


class TestnetError(CoverageNetError):
    """A testnet that cannot be set up, run or stopped as asked."""

    __test__ = False  # not a pytest test class, whatever its name


class ProcessExitedError(TestnetError):
    """A supervised process ended while it was meant to run."""

    def __init__(self, name: str, returncode: int, log_tail: list[str]) -> None:
        self.name, self.returncode, self.log_tail = name, returncode, log_tail
        how = (f"was killed by signal {-returncode}" if returncode < 0
               else f"exited with status {returncode}")
        tail = " | ".join(line.strip() for line in log_tail if line.strip()) or "(empty log)"
        super().__init__(f"process {name} {how}; its log ends: {tail}")


class TestnetTimeoutError(TestnetError):
    """The network did not get as far as asked in the time allowed."""
