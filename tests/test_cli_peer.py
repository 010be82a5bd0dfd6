"""`coverage-net peer run`: option help and refusals in-process through click's
CliRunner, and one real peer process on loopback from start to SIGTERM.

Errors must reach the user as one line starting with "error:" and exit 1. The real
process is the command an operator runs: it creates its key, listens, writes
peer.json, and stops cleanly (exit 0) on SIGTERM.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from coverage_net.cli._main import main
from coverage_net.identity import Keypair, load_keypair, save_keypair
from coverage_net.p2p import STATUS_FILENAME
from coverage_net.store import DEFAULT_FILENAME, MessageStore

READY_BOUND_S = 60.0  # liveness bound for a process start, not a performance assertion
EXIT_BOUND_S = 30.0


def _invoke(*args) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_error_line(result: Result, *fragments: str) -> str:
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit)  # a clean exit, not a crash
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert line.startswith("error: ")
    for fragment in fragments:
        assert fragment in line, line
    return line


# --- help and refusals, in-process ------------------------------------------------------


def test_run_help_explains_the_options():
    result = _invoke("peer", "run", "--help")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # undo click's line wrapping
    for option in ("--listen", "--bootstrap", "--data", "--key", "--mdns", "--blocklist",
                   "--sync-interval"):
        assert option in text, option
    assert "/ip4/HOST/tcp/PORT/p2p/PEER_ID" in text  # what --bootstrap takes
    assert "Port 0 picks a free port" in text
    assert "Data directory" in text and STATUS_FILENAME in text
    assert "mDNS" in text
    assert "peer ids (one per line, # comments)" in text
    assert "SIGTERM" in text


def test_peer_group_lists_run():
    result = _invoke("peer", "--help")
    assert result.exit_code == 0, result.output
    assert re.search(r"^\s+run\s+Join the network", result.output, re.MULTILINE)


@pytest.mark.parametrize("addr", ["garbage", "/ip4/127.0.0.1/tcp/4001"])
def test_a_bad_bootstrap_address_is_one_error_line(tmp_path, addr):
    data = tmp_path / "data"
    result = _invoke("peer", "run", "--data", data, "--listen", "/ip4/127.0.0.1/tcp/0",
                     "--bootstrap", addr)
    line = assert_one_error_line(result, "error: bad bootstrap address", repr(addr))
    assert "/ip4/HOST/tcp/PORT/p2p/PEER_ID" in line  # says what is expected
    assert not (data / DEFAULT_FILENAME).exists()  # refused before the store was opened
    assert not (data / STATUS_FILENAME).exists()


def test_a_missing_key_file_is_one_error_line_naming_it(tmp_path):
    data = tmp_path / "data"
    missing = tmp_path / "missing.json"
    result = _invoke("peer", "run", "--data", data, "--key", missing)
    assert_one_error_line(result, str(missing), "no identity key file")
    assert not missing.exists()  # an explicit --key is never created
    assert not (data / "key.json").exists()
    assert not (data / DEFAULT_FILENAME).exists()


def test_an_insecure_key_file_is_refused(tmp_path):
    key = tmp_path / "key.json"
    save_keypair(Keypair.from_seed(bytes(32)), key)
    key.chmod(0o644)
    result = _invoke("peer", "run", "--data", tmp_path / "data", "--key", key)
    assert_one_error_line(result, str(key), "chmod 600")


@pytest.mark.parametrize("addr", ["/ip4/127.0.0.1/udp/5", "/dns/localhost/tcp/4001", "nonsense"])
def test_a_bad_listen_address_is_one_error_line(tmp_path, addr):
    data = tmp_path / "data"
    result = _invoke("peer", "run", "--data", data, "--listen", addr)
    assert_one_error_line(result, "error: bad listen address", repr(addr))
    assert not (data / DEFAULT_FILENAME).exists()


def test_data_is_required():
    result = _invoke("peer", "run", "--listen", "/ip4/127.0.0.1/tcp/0")
    assert result.exit_code == 2  # a usage error
    assert "Missing option '--data'" in result.stderr


# --- a real peer process ------------------------------------------------------------------


def _start_peer(data: Path, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "coverage_net.cli", "peer", "run",
           "--listen", "/ip4/127.0.0.1/tcp/0", "--data", str(data)]
    with log.open("wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def _wait_for_status(proc: subprocess.Popen[bytes], data: Path, log: Path) -> dict:
    """The first peer.json written by ``proc``; fails if it exits or never writes one."""
    deadline = time.monotonic() + READY_BOUND_S
    while time.monotonic() < deadline:
        try:
            status = json.loads((data / STATUS_FILENAME).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            status = None
        if status is not None and status.get("pid") == proc.pid:
            return status
        if proc.poll() is not None:
            pytest.fail(f"peer exited with {proc.returncode} before it was ready:\n"
                        f"{log.read_text(errors='replace')}")
        time.sleep(0.05)
    pytest.fail(f"no {STATUS_FILENAME} after {READY_BOUND_S} s:\n"
                f"{log.read_text(errors='replace')}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=EXIT_BOUND_S)


def test_a_real_peer_starts_listens_and_stops_on_sigterm(tmp_path):
    data = tmp_path / "data"
    log = tmp_path / "peer.log"
    proc = _start_peer(data, log)
    try:
        status = _wait_for_status(proc, data, log)

        key_path = data / "key.json"
        assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
        shown = _invoke("keys", "show", key_path, "--json")
        assert shown.exit_code == 0, shown.stderr
        peer_id = json.loads(shown.stdout)["peer_id"]
        assert status["peer_id"] == peer_id == load_keypair(key_path).peer_id

        assert status["addrs"], status
        ports = []
        for addr in status["addrs"]:
            match = re.fullmatch(rf"/ip4/127\.0\.0\.1/tcp/(\d+)/p2p/{re.escape(peer_id)}", addr)
            assert match, addr
            ports.append(int(match.group(1)))
        assert all(0 < port < 65536 for port in ports)
        with socket.create_connection(("127.0.0.1", ports[0]), timeout=10):
            pass  # something really listens on the port it reported
        assert status["connected"] == []
        assert status["stored_total"] == 0
        assert status["metrics"]["rejected"] == {}

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=EXIT_BOUND_S) == 0, log.read_text(errors="replace")
    finally:
        _stop(proc)
    output = log.read_text(errors="replace")
    assert f"peer {peer_id} listening on {status['addrs'][0]}" in output
    assert "SIGTERM: stopping" in output
    assert "Traceback" not in output
    assert (data / DEFAULT_FILENAME).is_file()
    with MessageStore.open(data) as store:  # a real, usable message store was left behind
        assert store.count() == 0


def test_a_new_key_is_announced_with_its_peer_id(tmp_path):
    data = tmp_path / "data"
    log = tmp_path / "peer.log"
    proc = _start_peer(data, log)
    try:
        status = _wait_for_status(proc, data, log)
    finally:
        _stop(proc)
    output = log.read_text(errors="replace")
    assert f"created a new key in {data / 'key.json'} (peer id {status['peer_id']})" in output


def test_a_listen_port_in_use_is_one_error_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _invoke("peer", "run", "--data", tmp_path / "data",
                         "--listen", f"/ip4/127.0.0.1/tcp/{port}")
        assert_one_error_line(result, f"/ip4/127.0.0.1/tcp/{port}", "cannot listen")
