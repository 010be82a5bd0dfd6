"""Helpers for testing peers: signed report factories and peer processes.

`PeerProcess` runs ``coverage-net peer run`` as a real operating-system process
on loopback and reads its status file (``peer.json``) and its SQLite store, so
tests and benchmarks exercise exactly what an operator runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from coverage_net.identity import Keypair, save_keypair
from coverage_net.messages import WitnessReport
from coverage_net.store import DEFAULT_FILENAME

from ._peer import STATUS_FILENAME

__all__ = ["witness_reports", "free_tcp_port", "PeerProcess", "KEY_FILENAME", "sparse_topology",
           "wait_for"]

KEY_FILENAME = "key.json"


def witness_reports(keypair: Keypair, count: int, *, host_time_ms: int,
                    challenge_id: bytes | None = None, tag: bytes = b"") -> Iterator[WitnessReport]:
    """``count`` distinct signed witness reports by ``keypair`` (deterministic)."""
    challenge = challenge_id or hashlib.sha256(b"challenge" + tag).digest()
    for i in range(count):
        yield WitnessReport(
            witness_key=keypair.public_key, challenge_id=challenge,
            payload_hash=hashlib.sha256(tag + i.to_bytes(8, "big")).digest(),
            rssi_dbm=-100.0 - (i % 20), snr_db=-5.0, freq_hz=868_100_000,
            spreading_factor=9, bandwidth_hz=125_000, radio_timestamp_us=i,
            host_time_ms=host_time_ms + i).sign(keypair)


def free_tcp_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PeerProcess:
    """One ``coverage-net peer run`` process with its own key, port and data directory."""

    def __init__(self, data_dir: Path, keypair: Keypair, *, port: int | None = None,
                 bootstrap: Sequence[str] = (), extra_args: Sequence[str] = ()) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.keypair = keypair
        self.peer_id = keypair.peer_id
        self.port = port or free_tcp_port()
        self.bootstrap = list(bootstrap)
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None
        key_path = self.data_dir / KEY_FILENAME
        if not key_path.exists():
            save_keypair(keypair, key_path)

    @property
    def addr(self) -> str:
        return f"/ip4/127.0.0.1/tcp/{self.port}/p2p/{self.peer_id}"

    def start(self) -> None:
        cmd = [sys.executable, "-m", "coverage_net.cli", "-v", "peer", "run",
               "--listen", f"/ip4/127.0.0.1/tcp/{self.port}", "--data", str(self.data_dir)]
        for addr in self.bootstrap:
            cmd += ["--bootstrap", addr]
        cmd += self.extra_args
        log = open(self.data_dir / "peer.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()

    def status(self) -> dict | None:
        """The last ``peer.json`` this process wrote (None before the first)."""
        try:
            return json.loads((self.data_dir / STATUS_FILENAME).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Until the process has written a status file since it started."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.status()
            if status is not None and self.proc is not None and status["pid"] == self.proc.pid:
                return
            if not self.running():
                raise RuntimeError(f"peer {self.peer_id} exited: see {self.log_path}")
            time.sleep(0.05)
        raise TimeoutError(f"peer {self.peer_id} not ready after {timeout_s} s")

    @property
    def log_path(self) -> Path:
        return self.data_dir / "peer.log"

    def content_ids(self, topic: str | None = None) -> set[bytes]:
        """The content ids in its store, read directly from the SQLite file."""
        rows = self.query("SELECT content_id FROM messages" +
                          (" WHERE topic = ?" if topic else ""), (topic,) if topic else ())
        return {r[0] for r in rows}

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        path = self.data_dir / DEFAULT_FILENAME
        if not path.exists():
            return []
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.running():
            assert self.proc is not None
            os.kill(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit within 10 s."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def sparse_topology(count: int, *, links: int = 2, seed: int = 0) -> list[list[int]]:
    """For each of ``count`` peers, the earlier peers it bootstraps from.

    Peer i links to ``min(i, links)`` distinct random peers among 0..i-1, so the
    graph is connected and sparse (about ``links`` edges per peer). Deterministic.
    """
    import random

    rng = random.Random(seed)
    return [sorted(rng.sample(range(i), min(i, links))) for i in range(count)]


def wait_for(predicate, *, timeout_s: float, poll_s: float = 0.1) -> float:
    """Poll ``predicate`` until true; return the seconds it took (TimeoutError after)."""
    start = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"condition not met after {timeout_s} s")
        time.sleep(poll_s)
