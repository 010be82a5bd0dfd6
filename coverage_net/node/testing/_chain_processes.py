"""Real ``coverage-net chain validator`` processes on loopback, for tests and benchmarks.

`LocalChain` writes a loopback chain (`write_loopback_chain`, ports below the
kernel's ephemeral range), runs one process per validator, partitions them through
their block files, and reads what each decided from its ``validator.json``: the same
files an operator reads.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from coverage_net.consensus import ChainStore, SignedRecord, VoteSigner, verify_chain
from coverage_net.identity import load_keypair
from coverage_net.p2p.testing import PeerProcess, free_tcp_port

from .._chain_genesis import LoopbackChain, write_loopback_chain
from .._chain_validator import read_validator_status

__all__ = ["LocalChain", "ValidatorProcess"]


class ValidatorProcess(PeerProcess):
    """One validator process of a `LoopbackChain` (a `PeerProcess` running ``chain
    validator``: the same start-up, readiness and stopping)."""

    def __init__(self, chain: LoopbackChain, index: int, *, epoch_ms: int) -> None:
        super().__init__(chain.data_dirs[index], load_keypair(chain.key_path(index)),
                         port=chain.ports[index])
        self.chain, self.index, self.epoch_ms = chain, index, epoch_ms
        self.block_file = self.data_dir / "blocked.txt"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "validator.log"

    def start(self) -> None:
        cmd = [sys.executable, "-m", "coverage_net.cli", "-v", "chain", "validator",
               "--genesis", str(self.chain.genesis_path), "--key",
               str(self.chain.key_path(self.index)), "--data", str(self.data_dir),
               "--listen", self.chain.listen_addr(self.index), "--epoch-ms", str(self.epoch_ms),
               "--block-file", str(self.block_file), *self.extra_args]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL,
                                         env={**os.environ, "PYTHONFAULTHANDLER": "1"})

    def status(self) -> dict | None:
        """The last ``validator.json`` it wrote (None before the first)."""
        return read_validator_status(self.data_dir)

    def decided(self) -> dict[int, dict]:
        """Height -> {round, block_id, decided_ms, close_ms, latency_ms}."""
        status = self.status() or {}
        return {int(h): d for h, d in status.get("decided", {}).items()}

    def block(self, peer_ids: Sequence[str]) -> None:
        tmp = self.block_file.with_suffix(".tmp")
        tmp.write_text("".join(f"{p}\n" for p in peer_ids), encoding="utf-8")
        os.replace(tmp, self.block_file)

    def chain_problems(self) -> tuple[int, list[str]]:
        """Its chain's last height and what `verify_chain` finds wrong in it (stop first)."""
        with ChainStore.open(self.data_dir, self.chain.genesis, create=False) as chain:
            return chain.height(), verify_chain(chain)

    def signed_records(self) -> list[SignedRecord]:
        """Everything its signer recorded (read from its file; stop the process first)."""
        signer = VoteSigner.open(self.data_dir, self.keypair, self.chain.genesis)
        try:
            return list(signer.records())
        finally:
            signer.close()


class LocalChain:
    """N validator processes on 127.0.0.1 (a context manager: stops them all on exit)."""

    def __init__(self, out_dir: Path, *, validators: int = 4, epoch_ms: int = 3_000,
                 start_in_s: float = 8.0) -> None:
        self.epoch_ms = epoch_ms
        start_ms = time.time_ns() // 1_000_000 + round(start_in_s * 1000)
        self.chain = write_loopback_chain(
            Path(out_dir), validators, genesis_time_ms=start_ms, epoch_ms=epoch_ms,
            ports=[free_tcp_port() for _ in range(validators)])
        self.validators = [ValidatorProcess(self.chain, i, epoch_ms=epoch_ms)
                           for i in range(validators)]

    def __enter__(self) -> LocalChain:
        for v in self.validators:
            v.start()
        for v in self.validators:
            v.wait_ready()
        return self

    def __exit__(self, *_exc: object) -> None:
        for v in self.validators:
            v.stop()

    def close_ms(self, height: int) -> int:
        return self.chain.genesis.genesis_time_ms + (height + 1) * self.epoch_ms

    def height_closing_after(self, t_ms: int) -> int:
        """The first height whose epoch closes after `t_ms`."""
        return max(0, (t_ms - self.chain.genesis.genesis_time_ms) // self.epoch_ms)

    def partition(self, *groups: Sequence[int]) -> None:
        """Each validator blocks every validator outside its group."""
        for group in groups:
            outside = [v.peer_id for v in self.validators if v.index not in group]
            for i in group:
                self.validators[i].block(outside)

    def heal(self) -> None:
        for v in self.validators:
            v.block([])

    def wait_decided(self, indices: Sequence[int], height: int, *, timeout_s: float) -> None:
        """Until each of `indices` has decided `height` (TimeoutError with their logs)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(height in self.validators[i].decided() for i in indices):
                return
            for i in indices:
                if not self.validators[i].running():
                    raise RuntimeError(self.validators[i].exit_report())
            time.sleep(0.1)
        raise TimeoutError(f"height {height} not decided by {list(indices)} in {timeout_s} s; "
                           + "; ".join(f"v{i} at {sorted(self.validators[i].decided())[-3:]}"
                                       for i in indices))
