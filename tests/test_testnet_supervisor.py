"""The testnet's supervisor with real processes: start, SIGKILL one, restart it, stop all,
and a process that dies early reported by name, exit status and the end of its log."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

import pytest

from coverage_net.node.testnet import (
    ProcessExitedError,
    ProcessSpec,
    Supervisor,
    TestnetError,
    log_tail,
)

# A daemon in miniature: says it is ready (a file), runs until SIGINT, then exits 0.
DAEMON = """
import pathlib, signal, sys, time
stop = False
def on_int(*_):
    global stop
    stop = True
signal.signal(signal.SIGINT, on_int)
print("up", flush=True)
pathlib.Path(sys.argv[1]).write_text("ready")
while not stop:
    time.sleep(0.01)
print("stopping cleanly", flush=True)
"""
STUBBORN = DAEMON.replace("signal.signal(signal.SIGINT, on_int)",
                          "signal.signal(signal.SIGINT, signal.SIG_IGN)")
DIES = """
import sys
for i in range(20):
    print(f"line {i}", flush=True)
print("fatal: the radio port is gone", flush=True)
sys.exit(3)
"""


def _spec(tmp_path, name, script=DAEMON):
    return ProcessSpec(name, (sys.executable, "-c", script, str(tmp_path / f"{name}.ready")),
                       tmp_path / "logs" / f"{name}.log")


def _wait_ready(supervisor, tmp_path, name):
    ready = tmp_path / f"{name}.ready"
    while not ready.exists():
        supervisor.check()
        time.sleep(0.01)
    ready.unlink()


def test_start_kill_restart_and_stop_all(tmp_path):
    with Supervisor() as supervisor:
        for name in ("a", "b", "c"):
            supervisor.start(_spec(tmp_path, name))
        for name in ("a", "b", "c"):
            _wait_ready(supervisor, tmp_path, name)
        first_pid = supervisor.pid("b")
        assert supervisor.kill("b") == -signal.SIGKILL
        assert not supervisor.running("b")
        supervisor.check()  # a process killed on purpose is not a death
        supervisor.restart("b")
        _wait_ready(supervisor, tmp_path, "b")
        assert supervisor.pid("b") != first_pid and supervisor.running("b")
        results = supervisor.stop_all()
    assert [r.name for r in results] == ["c", "b", "a"]  # the last started first
    assert all(r.clean and r.returncode == 0 for r in results)
    for name in ("a", "b", "c"):
        assert not supervisor.running(name)
        with pytest.raises(ProcessLookupError):
            os.kill(supervisor.pid(name), 0)
    log = (tmp_path / "logs" / "b.log").read_text()
    assert log.count("starting b:") == 2 and log.count("\nup\n") == 2  # appended across restarts
    assert log.rstrip().endswith("stopping cleanly")


def test_a_process_that_exits_early_is_reported_with_its_log_tail(tmp_path):
    with Supervisor() as supervisor:
        supervisor.start(_spec(tmp_path, "alive"))
        supervisor.start(_spec(tmp_path, "hs03", DIES))
        while supervisor.running("hs03"):
            time.sleep(0.01)
        with pytest.raises(ProcessExitedError) as caught:
            supervisor.check()
    error = caught.value
    assert (error.name, error.returncode) == ("hs03", 3)
    assert error.log_tail[-1] == "fatal: the radio port is gone"
    assert len(error.log_tail) == 8
    message = str(error)
    assert message.startswith("process hs03 exited with status 3; its log ends: ")
    assert "fatal: the radio port is gone" in message and "\n" not in message


def test_a_process_that_ignores_sigint_is_killed_with_a_warning(tmp_path, caplog):
    with Supervisor(stop_timeout_s=0.5) as supervisor:
        supervisor.start(_spec(tmp_path, "stubborn", STUBBORN))
        _wait_ready(supervisor, tmp_path, "stubborn")
        with caplog.at_level(logging.WARNING):
            result = supervisor.stop("stubborn")
    assert result.killed and not result.clean and result.returncode == -signal.SIGKILL
    assert "stubborn did not stop within 0.5 s of SIGINT; killing it" in caplog.text


# Python's own Ctrl-C: KeyboardInterrupt, unless SIGINT was ignored when it started.
PLAIN = """
import pathlib, sys, time
pathlib.Path(sys.argv[1]).write_text("ready")
time.sleep(60)
"""


def test_children_stop_on_sigint_even_when_the_supervisor_ignores_it(tmp_path):
    """A testnet started in the background by a non-interactive shell (CI, nohup)
    ignores SIGINT; its children must not inherit that, or every stop is a SIGKILL."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with Supervisor(stop_timeout_s=10.0) as supervisor:
            supervisor.start(_spec(tmp_path, "plain", PLAIN))
            _wait_ready(supervisor, tmp_path, "plain")
            result = supervisor.stop("plain")
    finally:
        signal.signal(signal.SIGINT, before)
    assert not result.killed and result.returncode == -signal.SIGINT


def test_restart_of_a_running_process_stops_it_first(tmp_path):
    with Supervisor() as supervisor:
        supervisor.start(_spec(tmp_path, "v2"))
        _wait_ready(supervisor, tmp_path, "v2")
        before = supervisor.pid("v2")
        supervisor.restart("v2")
        _wait_ready(supervisor, tmp_path, "v2")
        assert supervisor.pid("v2") != before
    assert "stopping cleanly" in (tmp_path / "logs" / "v2.log").read_text()


def test_misuse_names_the_process(tmp_path):
    with Supervisor() as supervisor:
        supervisor.start(_spec(tmp_path, "v0"))
        with pytest.raises(TestnetError, match="process v0 is already running"):
            supervisor.start(_spec(tmp_path, "v0"))
        with pytest.raises(TestnetError, match="no process named 'v9'; known: v0"):
            supervisor.kill("v9")
        missing = ProcessSpec("ghost", (str(tmp_path / "no-such-program"),),
                              tmp_path / "ghost.log")
        with pytest.raises(TestnetError, match="cannot start process ghost"):
            supervisor.start(missing)


def test_wait_for_reports_a_process_that_dies_before_writing_its_file(tmp_path):
    with Supervisor() as supervisor:
        supervisor.start(_spec(tmp_path, "sim", DIES))
        with pytest.raises(ProcessExitedError, match="process sim exited with status 3"):
            supervisor.wait_for("sim", tmp_path / "never", timeout_s=3600)


def test_log_tail_of_a_missing_log_is_empty(tmp_path):
    assert log_tail(tmp_path / "none.log") == []


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
def test_children_end_when_the_supervisor_is_killed(tmp_path):
    """A SIGKILLed testnet must not leave daemons holding the loopback ports."""
    ready = str(tmp_path / "ready")
    parent = f"""
import os, signal, sys, time
from pathlib import Path
from coverage_net.node.testnet import ProcessSpec, Supervisor
supervisor = Supervisor()
supervisor.start(ProcessSpec("orphan", (sys.executable, "-c", {DAEMON!r}, {ready!r}),
                             Path({str(tmp_path / "orphan.log")!r})))
while not Path({ready!r}).exists():
    time.sleep(0.01)
print(supervisor.pid("orphan"), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    done = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True,
                          check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr
    child = int(done.stdout)
    while _alive(child):
        time.sleep(0.01)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False
