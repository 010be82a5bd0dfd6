"""A supervisor of named subprocesses: start, watch, stop, kill and restart one by name.

The testnet runs a dozen processes, and the end-to-end test of the daemons kills and
restarts some of them mid-run, so supervision is its own small object rather than
code inside the testnet's loop. Each process logs (stdout and stderr) to its own file,
appended to across restarts, so a death can be reported with the process's last
words. Processes run in their own session: a Ctrl-C at the terminal reaches the
testnet alone, which then stops the network in order. On Linux each child also gets
SIGTERM if the supervisor dies, so a killed testnet leaves no orphans on the ports.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._errors import ProcessExitedError, TestnetError

__all__ = ["LOG_TAIL_LINES", "ProcessSpec", "StopResult", "Supervisor", "log_tail"]

logger = logging.getLogger(__name__)

LOG_TAIL_LINES = 8
"""Lines of a dead process's log quoted in its error."""
_PR_SET_PDEATHSIG = 1
_POLL_S = 0.05


@dataclass(frozen=True)
class ProcessSpec:
    """How to run one process: its name, command line, log file and environment additions."""

    name: str
    argv: tuple[str, ...]
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None


@dataclass(frozen=True)
class StopResult:
    """How a process ended when stopped: its exit status and whether it had to be killed."""

    name: str
    returncode: int
    killed: bool

    @property
    def clean(self) -> bool:
        """Exited by itself after the interrupt, with status 0 (or 130, a shell's Ctrl-C)."""
        return not self.killed and self.returncode in (0, 130, -signal.SIGINT)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last `lines` lines of a log file ([] if there is none)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16_384))
            text = f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return text.splitlines()[-lines:]


def _libc_prctl():
    """libc's prctl, looked up once in the parent: a child between fork and exec should
    not load libraries (the supervisor may have threads, e.g. the progress display's)."""
    if sys.platform != "linux":
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _libc_prctl()


def _child_setup() -> None:  # runs in the child between fork and exec
    """SIGINT back to its default (a testnet started in the background by a
    non-interactive shell, as CI and nohup do, ignores SIGINT, and its children would
    inherit that and hang until SIGKILLed at stop); on Linux, SIGTERM if the parent dies."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    """Named processes, started from their `ProcessSpec`; use as a context manager so
    that leaving it (normally or by an error) stops everything still running."""

    def __init__(self, *, stop_timeout_s: float = 15.0) -> None:
        self.stop_timeout_s = stop_timeout_s
        self._specs: dict[str, ProcessSpec] = {}
        self._procs: dict[str, subprocess.Popen] = {}
        self._stopping: set[str] = set()

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop_all()

    @property
    def names(self) -> list[str]:
        """Every process ever started, in start order."""
        return list(self._specs)

    def spec(self, name: str) -> ProcessSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise TestnetError(f"no process named {name!r}; known: "
                               f"{', '.join(self._specs) or 'none'}") from None

    def pid(self, name: str) -> int:
        self.spec(name)
        return self._procs[name].pid

    def running(self, name: str) -> bool:
        self.spec(name)
        return self._procs[name].poll() is None

    # -- starting ---------------------------------------------------------------------
    def start(self, spec: ProcessSpec) -> int:
        """Start `spec` (its name must be new, or its process ended); returns the pid."""
        old = self._procs.get(spec.name)
        if old is not None and old.poll() is None:
            raise TestnetError(f"process {spec.name} is already running (pid {old.pid})")
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(spec.log_path, "ab") as log:
            command = " ".join(shlex.join(spec.argv).split())  # one line, however quoted
            log.write(f"--- {time.strftime('%H:%M:%S')} starting {spec.name}: "
                      f"{command}\n".encode())
            log.flush()
            try:
                proc = subprocess.Popen(
                    list(spec.argv), stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, cwd=spec.cwd, start_new_session=True,
                    env={**os.environ, "PYTHONUNBUFFERED": "1", **spec.env},
                    preexec_fn=_child_setup)
            except OSError as exc:
                raise TestnetError(f"cannot start process {spec.name} "
                                   f"({spec.argv[0]}): {exc.strerror or exc}") from None
        self._specs[spec.name] = spec
        self._procs[spec.name] = proc
        self._stopping.discard(spec.name)
        logger.info("started %s (pid %d)", spec.name, proc.pid)
        return proc.pid

    def restart(self, name: str) -> int:
        """Start process `name` again from its spec (stopping it first if it runs)."""
        if self.running(name):
            self.stop(name)
        return self.start(self._specs[name])

    # -- watching ---------------------------------------------------------------------
    def exited(self) -> list[tuple[str, int]]:
        """(name, exit status) of every process that ended without being stopped or killed."""
        return [(name, proc.returncode) for name, proc in self._procs.items()
                if name not in self._stopping and proc.poll() is not None]

    def check(self) -> None:
        """Raise `ProcessExitedError` for the first process that ended on its own."""
        for name, returncode in self.exited():
            raise ProcessExitedError(name, returncode, log_tail(self._specs[name].log_path))

    def wait_for(self, name: str, path: Path, timeout_s: float) -> None:
        """Wait until `path` exists, checking that process `name` stays up meanwhile."""
        deadline = time.monotonic() + timeout_s
        while not path.exists():
            if not self.running(name):
                returncode = self._procs[name].returncode
                raise ProcessExitedError(name, returncode, log_tail(self._specs[name].log_path))
            if time.monotonic() > deadline:
                raise TestnetError(f"process {name} did not write {path} within "
                                   f"{timeout_s:g} s; see {self._specs[name].log_path}")
            time.sleep(_POLL_S)

    # -- stopping ---------------------------------------------------------------------
    def kill(self, name: str) -> int:
        """SIGKILL process `name` (a crash, for tests) and reap it; returns its status."""
        proc = self._procs[self.spec(name).name]
        self._stopping.add(name)
        if proc.poll() is None:
            proc.kill()
        return proc.wait()

    def stop(self, name: str, timeout_s: float | None = None) -> StopResult:
        """SIGINT process `name`, wait, then SIGKILL it (with a warning) if it hangs."""
        return self.stop_many([name], timeout_s)[0]

    def stop_all(self, timeout_s: float | None = None) -> list[StopResult]:
        """Stop every process, the last started first (their order of dependence)."""
        return self.stop_many(list(reversed(self._specs)), timeout_s)

    def stop_many(self, names: Sequence[str], timeout_s: float | None = None
                  ) -> list[StopResult]:
        """SIGINT all of `names` at once, wait for all, SIGKILL those still up."""
        timeout_s = self.stop_timeout_s if timeout_s is None else timeout_s
        procs = [(name, self._procs[self.spec(name).name]) for name in names]
        for name, proc in procs:
            self._stopping.add(name)
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout_s
        while any(proc.poll() is None for _, proc in procs) and time.monotonic() < deadline:
            time.sleep(_POLL_S)
        results = []
        for name, proc in procs:
            killed = proc.poll() is None
            if killed:
                logger.warning("process %s did not stop within %g s of SIGINT; killing it "
                               "(see %s)", name, timeout_s, self._specs[name].log_path)
                proc.kill()
            results.append(StopResult(name, proc.wait(), killed))
        return results
