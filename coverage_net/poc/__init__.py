"""Proof-of-coverage: network parameters and deterministic challenge selection (layer 4, core).

Everything here is pure and deterministic, so hotspots, the simulator and the
validators run the same derivations and reach the same answers. It imports only
`coverage_net.radio`, `identity` and `messages`.
"""

from ._errors import ParamsError, PocError, SelectionError
from ._params import (
    DAY_MS,
    BeaconParams,
    NetworkParams,
    PropagationParams,
    VerifierParams,
    load_params,
    params_from_dict,
)
from ._select import (
    ENTROPY_BYTES,
    challengees_for_epoch,
    challenger_for,
    challenges_in_epoch,
    epoch_entropy_from_seed,
)

__all__ = [
    # errors
    "PocError", "ParamsError", "SelectionError",
    # network parameters
    "NetworkParams", "BeaconParams", "PropagationParams", "VerifierParams", "DAY_MS",
    "load_params", "params_from_dict",
    # challenge selection
    "ENTROPY_BYTES", "challengees_for_epoch", "challenger_for", "challenges_in_epoch",
    "epoch_entropy_from_seed",
]
