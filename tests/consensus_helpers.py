"""Builders shared by the consensus data-layer tests: validator keys and a genesis."""

from __future__ import annotations

import functools
import hashlib

from coverage_net.consensus import Genesis, GenesisValidator
from coverage_net.identity import Keypair
from coverage_net.poc import NetworkParams


@functools.cache
def validator_key(i: int) -> Keypair:
    return Keypair.from_seed(hashlib.sha256(b"validator %d" % i).digest())


def make_genesis(n: int = 4, chain_id: str = "coverage-net-test",
                 params: NetworkParams | None = None) -> Genesis:
    return Genesis(
        chain_id=chain_id,
        validators=tuple(GenesisValidator(validator_key(i).public_key,
                                          f"/ip4/127.0.0.1/tcp/{4001 + i}")
                         for i in range(n)),
        params_digest=(params or NetworkParams()).digest(),
        first_entropy=hashlib.sha256(b"first entropy").digest(),
        genesis_time_ms=1_764_806_400_000,
    )


def block_id(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()
