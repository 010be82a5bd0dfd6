"""Every `coverage-net` subcommand, given bad input, fails the same way: one `error:` line.

Each case runs the installed console script in a real process with something wrong
(a missing or corrupt file, a port that cannot be opened, a setting out of range)
and checks what a user sees: exit status 1, exactly one line on stderr starting
with ``error:`` that names what was wrong, and no traceback. The cases fail before
any long-running work, so each takes about as long as the command's start-up.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from coverage_net.cli._main import main
from coverage_net.poc import load_params, params_from_dict
from coverage_net.store import DEFAULT_FILENAME
from firmware_bridge import PtyDevice

ROOT = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).with_name("coverage-net")
SAFETY_S = 60  # liveness bound for one process, not a performance assertion


def _run(*args, prefix=(str(CLI),)) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, *map(str, args)], capture_output=True, text=True,
                          timeout=SAFETY_S, check=False)


def assert_one_error_line(proc: subprocess.CompletedProcess, fragment: str) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    (line,) = errors
    assert fragment in line, line
    return line


# --- bad inputs, one helper per kind ----------------------------------------------------------


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def _corrupt_key(tmp: Path) -> Path:
    return _write(tmp / "key.json", '{"format": "coverage-net-identity", "seed": "tr')


def _bad_hotspots(tmp: Path) -> Path:
    return _write(tmp / "hotspots.csv", "name,lat,lon,height_m,gain_dbi,tx_power_dbm,region\n"
                                        "hs-1,95.0,-71.3,10,3,27,US915\n")


def _bad_world(tmp: Path) -> Path:
    return _write(tmp / "world.csv", "name,lat,lon\nhs-1,notanumber,-71.3\n")


def _good_world(tmp: Path) -> Path:
    return _write(tmp / "world.csv", "name,lat,lon\nhs-1,44.27,-71.30\nhs-2,44.28,-71.31\n")


def _closed_tcp_port() -> int:
    with socket.socket() as s:  # bound, never listened on, closed: connecting is refused
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _corrupt_store(tmp: Path) -> Path:
    data = tmp / "data"
    data.mkdir()
    (data / DEFAULT_FILENAME).write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    return data


@dataclass(frozen=True)
class Case:
    """One subcommand with one kind of bad input, and what its error line must name."""

    args: Callable[[Path], list]
    names: Callable[[Path], str]


CASES = {
    "predict-missing-hotspot-file": Case(
        lambda t: ["predict", "--hotspots", t / "nope.csv", "--out", t / "out"],
        lambda t: "nope.csv"),
    "predict-bad-hotspot-row": Case(
        lambda t: ["predict", "--hotspots", _bad_hotspots(t), "--out", t / "out"],
        lambda t: "hotspots.csv"),
    "predict-missing-dem-dir": Case(
        lambda t: ["predict", "--hotspots", ROOT / "examples" / "white_mountains.csv", "--dem",
                   t / "no-dem", "--out", t / "out"],
        lambda t: "no-dem"),
    "bridge-probe-missing-port": Case(
        lambda t: ["bridge", "probe", "--port", t / "ttyACM9"],
        lambda t: "ttyACM9"),
    "bridge-probe-refused-tcp-port": Case(
        lambda t: ["bridge", "probe", "--port", f"127.0.0.1:{_closed_tcp_port()}"],
        lambda t: "127.0.0.1:"),
    "bridge-probe-rn2483-missing-port": Case(
        lambda t: ["bridge", "probe", "--driver", "rn2483", "--port", t / "ttyUSB9"],
        lambda t: "ttyUSB9"),
    "bridge-listen-missing-port": Case(
        lambda t: ["bridge", "listen", "--port", t / "ttyACM9"],
        lambda t: "ttyACM9"),
    "bridge-listen-bad-frequency": Case(
        lambda t: ["bridge", "listen", "--port", t / "ttyACM9", "--freq-mhz", "5000"],
        lambda t: "freq_hz"),
    "bridge-listen-unknown-region": Case(
        lambda t: ["bridge", "listen", "--port", t / "ttyACM9", "--region", "XX999"],
        lambda t: "XX999"),
    "bridge-listen-udp-address-not-ours": Case(
        lambda t: ["bridge", "listen", "--driver", "semtech-udp", "--port", "192.0.2.1:1700"],
        lambda t: "192.0.2.1"),
    "bridge-send-missing-port": Case(
        lambda t: ["bridge", "send", "--port", t / "ttyACM9", "--hex", "c0ffee"],
        lambda t: "ttyACM9"),
    "keys-generate-missing-directory": Case(
        lambda t: ["keys", "generate", "--out", t / "no-dir" / "key.json"],
        lambda t: "no-dir"),
    "keys-generate-existing-file": Case(
        lambda t: ["keys", "generate", "--out", _corrupt_key(t)],
        lambda t: "already exists"),
    "keys-show-corrupt-file": Case(
        lambda t: ["keys", "show", _corrupt_key(t)],
        lambda t: "corrupt"),
    "keys-show-readable-by-others": Case(
        lambda t: ["keys", "show", _write(t / "key.json", "{}", mode=0o644)],
        lambda t: "chmod 600"),
    "keys-show-missing-file": Case(
        lambda t: ["keys", "show", t / "gone.json"],
        lambda t: "gone.json"),
    "peer-run-corrupt-key": Case(
        lambda t: ["peer", "run", "--data", t / "data", "--key", _corrupt_key(t)],
        lambda t: "corrupt"),
    "peer-run-bad-listen-address": Case(
        lambda t: ["peer", "run", "--data", t / "data", "--listen", "/ip4/127.0.0.1/udp/x"],
        lambda t: "listen address"),
    "peer-run-corrupt-store": Case(
        lambda t: ["peer", "run", "--data", _corrupt_store(t), "--listen",
                   "/ip4/127.0.0.1/tcp/0"],
        lambda t: "corrupt"),
    "sim-run-bad-world-file": Case(
        lambda t: ["sim", "run", "--world", _bad_world(t), "--out", t / "out"],
        lambda t: "world.csv"),
    "sim-run-unknown-region": Case(
        lambda t: ["sim", "run", "--hotspots", "5", "--region", "XX999", "--out", t / "out"],
        lambda t: "XX999"),
    "sim-serve-bad-world-file": Case(
        lambda t: ["sim", "serve", "--world", _bad_world(t), "--dir", t / "ports"],
        lambda t: "world.csv"),
    "sim-serve-sensor-not-in-the-world": Case(
        lambda t: ["sim", "serve", "--world", _good_world(t), "--dir", t / "ports", "--sensors",
                   _write(t / "sensors.json", '[{"name": "nowhere", "every_s": 5}]')],
        lambda t: "nowhere"),
    "router-run-config-without-chain": Case(
        lambda t: ["router", "run", "--config", _write(t / "router.toml", "[sink]\n")],
        lambda t: "chain.params"),
    "router-status-not-a-router": Case(
        lambda t: ["router", "status", "--data", t],
        lambda t: "router.json"),
    "params-check-bad-value": Case(
        lambda t: ["params", "check", _write(t / "net.toml", "epoch_length_ms = \"soon\"\n")],
        lambda t: "epoch_length_ms"),
    "params-check-bad-toml": Case(
        lambda t: ["params", "check", _write(t / "net.toml", "[regions\n")],
        lambda t: "net.toml"),
    "params-check-missing-file": Case(
        lambda t: ["params", "check", t / "absent.toml"],
        lambda t: "absent.toml"),
    "poc-explain-no-store": Case(
        lambda t: ["poc", "explain", "0123456789", "--data", t / "no-store"],
        lambda t: "no-store"),
    "poc-simulate-unknown-attack": Case(
        lambda t: ["poc", "simulate", "--dem", t, "--attack", "teleport=2"],
        lambda t: "teleport"),
    "poc-simulate-dem-without-the-tile": Case(
        lambda t: ["poc", "simulate", "--dem", t],
        lambda t: "N44W072.hgt"),
    "rewards-compute-no-store": Case(
        lambda t: ["rewards", "compute", "--data", t / "no-store", "--epochs", "0..3"],
        lambda t: "no-store"),
    "rewards-compute-bad-params": Case(
        lambda t: ["rewards", "compute", "--data", t, "--epochs", "0", "--params",
                   _write(t / "net.toml", "[rewards]\nbeacon_bps = 9000\n")],
        lambda t: "must be 10000"),
    "rewards-show-no-ledger": Case(
        lambda t: ["rewards", "show", "--data", t, "--epoch", "3"],
        lambda t: "ledger.sqlite"),
    "rewards-manifest-not-a-ledger": Case(
        lambda t: ["rewards", "manifest", "--data", _not_a_ledger(t), "--epoch", "3"],
        lambda t: "not a coverage-net reward ledger"),
    "rewards-verify-no-ledger": Case(
        lambda t: ["rewards", "verify", "--data", t, "--epoch", "3"],
        lambda t: "no reward ledger"),
    "chain-validator-missing-genesis": Case(
        lambda t: ["chain", "validator", "--genesis", t / "absent-genesis.toml", "--key",
                   t / "key.json", "--data", t / "data", "--listen", "/ip4/127.0.0.1/tcp/0"],
        lambda t: "absent-genesis.toml"),
    "chain-validator-key-not-in-genesis": Case(
        lambda t: ["chain", "validator", "--genesis", _chain(t) / "genesis.toml", "--key",
                   _fresh_key(t), "--data", t / "data", "--listen", "/ip4/127.0.0.1/tcp/0"],
        lambda t: "is not a validator"),
    "chain-validator-params-not-the-genesis-ones": Case(
        lambda t: ["chain", "validator", "--genesis", _chain(t) / "genesis.toml", "--key",
                   t / "chain" / "v0" / "key.json", "--data", t / "chain" / "v0", "--listen",
                   "/ip4/127.0.0.1/tcp/0", "--params",
                   _write(t / "other.toml", "epoch_length_ms = 60000\n")],
        lambda t: "other.toml"),
    "chain-validator-epoch-not-the-parameters-one": Case(
        lambda t: ["chain", "validator", "--genesis", _chain(t) / "genesis.toml", "--key",
                   t / "chain" / "v0" / "key.json", "--data", t / "chain" / "v0", "--listen",
                   "/ip4/127.0.0.1/tcp/0", "--epoch-ms", "1234"],
        lambda t: "--epoch-ms 1234"),
    "chain-show-nothing-finalized": Case(
        lambda t: ["chain", "show", "--data", t / "chain" / "v0", "--genesis",
                   _chain(t) / "genesis.toml"],
        lambda t: "finalized nothing yet"),
    "chain-verify-missing-genesis": Case(
        lambda t: ["chain", "verify", "--data", t, "--genesis", t / "absent-genesis.toml"],
        lambda t: "absent-genesis.toml"),
    "chain-change-new-unknown-validator": Case(
        lambda t: ["chain", "change", "new", "--genesis", _chain(t) / "genesis.toml",
                   "--effective-height", "5", "--remove", "ab" * 32, "--out", t / "c.toml"],
        lambda t: f"--remove {'ab' * 32}: not a validator in office"),
    "chain-change-approve-not-toml": Case(
        lambda t: ["chain", "change", "approve", _write(t / "c.toml", "effective_height = [\n"),
                   "--genesis", _chain(t) / "genesis.toml", "--key",
                   t / "chain" / "v0" / "key.json"],
        lambda t: "c.toml: not valid TOML"),
    "map-export-not-a-data-dir": Case(
        lambda t: ["map", "export", "--data", t, "--format", "csv", "--out", t / "m.csv"],
        lambda t: f"{t}: no messages.sqlite3; give a node's data directory"),
    "map-calibrate-not-a-data-dir": Case(
        lambda t: ["map", "calibrate", "--data", t, "--out", t / "calibration.json"],
        lambda t: f"{t}: no messages.sqlite3; give a node's data directory"),
    "chain-genesis-existing-chain": Case(
        lambda t: ["chain", "genesis", "--validators", "4", "--out", _chain(t)],
        lambda t: "already exists"),
    "config-check-missing-required": Case(
        lambda t: ["config", "check", _write(t / "hotspot.toml", "[location]\nlat = 1.0\n")],
        lambda t: "hotspot.toml: location.lon is required"),
    "hotspot-run-params-missing": Case(
        lambda t: ["hotspot", "run", "--config", _write(
            t / "hotspot.toml", '[location]\nlat = 44.0\nlon = -71.0\n[radio]\nport = "/dev/null"\n'
            '[chain]\nparams = "nowhere.json"\n')],
        lambda t: "nowhere.json"),
    "hotspot-status-not-a-hotspot": Case(
        lambda t: ["hotspot", "status", "--data", t],
        lambda t: "no hotspot.json"),
    "validator-run-bad-timeout": Case(
        lambda t: ["validator", "run", "--config", _write(
            t / "validator.toml", '[chain]\ngenesis = "g.toml"\nparams = "p.json"\n'
            '[consensus]\ntimeout_propose_ms = "soon"\n')],
        lambda t: "consensus.timeout_propose_ms must be an integer"),
    "config-sample-existing-out": Case(
        lambda t: ["config", "sample", "router", "--out", _write(t / "router.toml", "")],
        lambda t: "router.toml: File exists"),
    "sim-serve-port-dir-under-a-file": Case(
        lambda t: ["sim", "serve", "--world", _good_world(t), "--dir",
                   _write(t / "plain-file", "") / "ports"],
        lambda t: "plain-file"),
    "testnet-out-not-empty": Case(
        lambda t: ["testnet", "--hotspots", 6, "--epochs", 1, "--out",
                   _write(t / "old.log", "").parent],
        lambda t: f"--out {t} is not empty"),
}


def _chain(tmp: Path) -> Path:
    """A directory holding a 1-validator loopback chain (genesis.toml and v0/key.json)."""
    from coverage_net.node import write_loopback_chain

    write_loopback_chain(tmp / "chain", 1, genesis_time_ms=0, ports=[4001])
    return tmp / "chain"


def _fresh_key(tmp: Path) -> Path:
    from coverage_net.identity import Keypair, save_keypair

    return save_keypair(Keypair.generate(), tmp / "other-key.json")


def _not_a_ledger(tmp: Path) -> Path:
    """A data directory whose ledger.sqlite is some other SQLite database."""
    conn = sqlite3.connect(tmp / "ledger.sqlite")
    conn.execute("CREATE TABLE notes (text)")
    conn.close()
    return tmp


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_one_error_line(name, tmp_path):
    case = CASES[name]
    proc = _run(*case.args(tmp_path))
    assert_one_error_line(proc, case.names(tmp_path))


def test_every_subcommand_has_a_bad_input_case():
    leaves = set()
    ctx = main.make_context("coverage-net", ["--help"], resilient_parsing=True)
    for name in main.list_commands(ctx):  # the subcommands load when asked for
        sub = getattr(main.get_command(ctx, name), "commands", None)
        leaves |= {f"{name}-{s}" for s in sub} if sub else {name}
    covered = {leaf for leaf in leaves if any(case.startswith(f"{leaf}-") for case in CASES)}
    assert covered == leaves


def test_python_m_radio_sim_is_the_same_command(tmp_path):
    world = _bad_world(tmp_path)
    alias = _run("run", "--world", world, "--out", tmp_path / "a",
                 prefix=(sys.executable, "-m", "radio_sim"))
    direct = _run("sim", "run", "--world", world, "--out", tmp_path / "a")
    assert assert_one_error_line(alias, "world.csv") == assert_one_error_line(direct, "world.csv")
    helped = _run("--help", prefix=(sys.executable, "-m", "radio_sim"))
    assert helped.returncode == 0, helped.stderr
    assert "coverage-net sim [OPTIONS] COMMAND" in helped.stdout
    assert "run" in helped.stdout and "serve" in helped.stdout


class _Silent:
    """A device that reads everything and never answers (a board stuck in its bootloader)."""

    def __init__(self) -> None:
        self.bytes_in = 0

    def receive(self, data: bytes) -> bytes:
        self.bytes_in += len(data)
        return b""

    def poll(self) -> bytes:
        return b""


def test_ctrl_c_ends_quietly_with_status_130(tmp_path):
    device = _Silent()
    with PtyDevice(device, tmp_path / "ttyACM0") as pty:
        proc = subprocess.Popen([str(CLI), "bridge", "probe", "--port", str(pty.path),
                                 "--timeout", "60"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            while device.bytes_in == 0 and proc.poll() is None:  # waiting for its answer
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=SAFETY_S)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
    assert proc.returncode == 130, err
    assert err == "" and out == ""


def test_params_check_prints_the_digest_of_the_sample_and_the_defaults():
    sample = _run("params", "check", ROOT / "examples" / "network_params.toml")
    assert sample.returncode == 0, sample.stderr
    assert f"digest {load_params(ROOT / 'examples' / 'network_params.toml').digest().hex()}" \
        in sample.stdout
    defaults = _run("params", "check", "--json")
    assert defaults.returncode == 0, defaults.stderr
    assert json.loads(defaults.stdout)["digest"] == params_from_dict({}).digest().hex()
