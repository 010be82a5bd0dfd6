"""Test-tier helpers for the composition roots: never imported by product code.

`memory_carrier` carries a proof-of-coverage scenario (`run_poc_scenario`) over the
in-memory network of `coverage_net.p2p.testing` instead of handing each epoch's
messages straight to the verifier.

`LocalChain` runs real ``coverage-net chain validator`` processes on loopback and
reads what each decided from its status file.
"""

from ._chain_processes import LocalChain, ValidatorProcess
from ._poc_memnet import GRACE_S, carry_over_memory_network, memory_carrier

__all__ = ["GRACE_S", "carry_over_memory_network", "memory_carrier", "LocalChain",
           "ValidatorProcess"]
