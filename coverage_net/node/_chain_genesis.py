"""A chain of N validators on one machine: their keys and a genesis with loopback addresses.

What ``coverage-net chain genesis`` writes, for demos and for the tests that run real
validator processes: ``OUT/genesis.toml``, the network parameters it names by digest
(``OUT/network-params.json``: the defaults with the epoch length asked for) and
``OUT/v<i>/key.json`` (each ``v<i>`` is then that validator's data directory). The
first entropy is fresh randomness: a test or demo chain has no one to bias it.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coverage_net.consensus import ConsensusError, Genesis, GenesisValidator, save_genesis
from coverage_net.identity import Keypair, save_keypair
from coverage_net.poc import NetworkParams, params_from_dict

__all__ = ["GENESIS_FILENAME", "PARAMS_FILENAME", "LoopbackChain", "free_ports",
           "write_loopback_chain"]

GENESIS_FILENAME = "genesis.toml"
PARAMS_FILENAME = "network-params.json"
"""Beside the genesis: the parameters whose digest it holds (validators load them)."""


@dataclass(frozen=True)
class LoopbackChain:
    """What was written: the genesis and, per validator, its data directory and port."""

    genesis_path: Path
    genesis: Genesis
    params: NetworkParams
    data_dirs: tuple[Path, ...]
    ports: tuple[int, ...]

    def key_path(self, i: int) -> Path:
        return self.data_dirs[i] / "key.json"

    def listen_addr(self, i: int) -> str:
        return f"/ip4/127.0.0.1/tcp/{self.ports[i]}"


def free_ports(count: int) -> list[int]:
    """`count` distinct ports free now on 127.0.0.1 (all held open until all are chosen)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


def write_loopback_chain(out_dir: Path, validators: int, *, genesis_time_ms: int,
                         epoch_ms: int = 10_000, chain_id: str = "coverage-net-local",
                         ports: Sequence[int] | None = None,
                         params: Mapping[str, Any] | None = None) -> LoopbackChain:
    """Write N validator keys, the network parameters (epochs of `epoch_ms`, the validators
    as challengers, and `params` over the defaults) and their genesis under `out_dir`
    (created; must not hold a genesis already). `ports`: one per validator; default,
    ports free now."""
    if validators < 1:
        raise ConsensusError(f"validators must be at least 1; got {validators}")
    out_dir = Path(out_dir)
    genesis_path = out_dir / GENESIS_FILENAME
    if genesis_path.exists():
        raise ConsensusError(f"{genesis_path} already exists; choose another --out directory")
    ports = list(ports) if ports is not None else free_ports(validators)
    if len(ports) != validators:
        raise ConsensusError(f"{len(ports)} ports for {validators} validators")
    keys = [Keypair.generate() for _ in range(validators)]
    params = params_from_dict({**(params or {}), "epoch_length_ms": epoch_ms,
                               "validators": [k.public_key.hex() for k in keys]})
    genesis = Genesis(
        chain_id=chain_id,
        validators=tuple(GenesisValidator(k.public_key, f"/ip4/127.0.0.1/tcp/{port}")
                         for k, port in zip(keys, ports, strict=True)),
        params_digest=params.digest(),
        first_entropy=hashlib.sha256(os.urandom(32)).digest(),
        genesis_time_ms=genesis_time_ms)
    out_dir.mkdir(parents=True, exist_ok=True)
    data_dirs = []
    for i, key in enumerate(keys):
        data_dir = out_dir / f"v{i}"
        data_dir.mkdir(exist_ok=True)
        save_keypair(key, data_dir / "key.json")
        data_dirs.append(data_dir)
    (out_dir / PARAMS_FILENAME).write_text(json.dumps(params.to_dict(), indent=2),
                                           encoding="utf-8")
    save_genesis(genesis, genesis_path)
    return LoopbackChain(genesis_path, genesis, params, tuple(data_dirs), tuple(ports))
