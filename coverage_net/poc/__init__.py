"""Proof-of-coverage (layer 4, core): the pure derivations every node shares.

So far: network parameters (checked, normalized, one digest), deterministic
challenge selection from epoch entropy, challenge secrets sealed to the
challengee's key, and the beacon payload and transmit power derived from a
secret. Everything here is pure and deterministic, so hotspots, the simulator
and the validators run the same derivations and reach the same answers. The
actors (challenger, beaconer, witness listener) drive them with channels, an
injected clock and an injected random source; the node wires them to the
network. It imports only `coverage_net.radio`, `identity`, `messages` and
firmware_bridge (its LoRaWAN frame helpers and the `Radio` interface).
"""

from ._actors import (
    DEFAULT_MAX_HELD_BEACONS,
    MAX_CLOCK_SKEW_MS,
    HotspotIdentity,
    PocMetrics,
    beacon_radio_config,
    run_beaconer,
    run_challenger,
    run_witness_listener,
)
from ._beacon import (
    BEACON_CODING_RATE,
    BEACON_FORMAT_VERSION,
    BEACON_FRAME_BYTES,
    BEACON_PREAMBLE_SYMBOLS,
    BEACON_TOKEN_DOMAIN,
    CHALLENGE_ID_BYTES,
    CHALLENGE_PREFIX_BYTES,
    MAX_TOKEN_BYTES,
    MIN_TOKEN_BYTES,
    beacon_eirp_centi_dbm,
    beacon_frame_bytes,
    beacon_matches,
    beacon_payload,
    beacon_tx_power_dbm,
    parse_beacon,
)
from ._clock_solve import PAIR_EARLY_MS, TRIMS_MS, ClockSolution, solve_clocks
from ._errors import BeaconError, ParamsError, PocError, SecretError, SelectionError
from ._link_history import LinkHistory, LinkObservation
from ._model_fit import ModelFitAssessment, assess_model_fit
from ._neighbours import HotspotAssessment, assess_hotspots
from ._params import (
    DAY_MS,
    VERIFIER_RULES,
    BeaconParams,
    NetworkParams,
    PropagationParams,
    VerifierParams,
    load_params,
    params_from_dict,
)
from ._predict import PathPredictor
from ._reciprocity import ReciprocityAssessment, assess_reciprocity
from ._registry import RegisteredHotspot, Registry
from ._reward_params import (
    BPS,
    RESERVED_ACCOUNTS,
    UNITS_PER_COV,
    HexDensityParams,
    RewardParams,
)
from ._secret import (
    SEALED_SECRET_BYTES,
    SECRET_BYTES,
    SECRET_HASH_DOMAIN,
    open_sealed_secret,
    seal_secret,
    secret_hash,
)
from ._select import (
    ENTROPY_BYTES,
    challengees_for_epoch,
    challenger_for,
    challenges_in_epoch,
    epoch_entropy_from_seed,
)
from ._snr_spread import SnrSpreadAssessment, assess_snr_spread
from ._verdict import REASON_TEXT, Reason, Verdict, VerdictError, verdicts_bytes
from ._verify import EpochVerdicts, verify_epoch

__all__ = [
    # errors
    "PocError", "ParamsError", "SelectionError", "SecretError", "BeaconError",
    # network parameters
    "NetworkParams", "BeaconParams", "PropagationParams", "VerifierParams", "DAY_MS",
    "VERIFIER_RULES", "load_params", "params_from_dict", "RewardParams", "HexDensityParams", "BPS",
    "UNITS_PER_COV", "RESERVED_ACCOUNTS",
    # challenge selection
    "ENTROPY_BYTES", "challengees_for_epoch", "challenger_for", "challenges_in_epoch",
    "epoch_entropy_from_seed",
    # secrets
    "secret_hash", "seal_secret", "open_sealed_secret", "SECRET_BYTES", "SEALED_SECRET_BYTES",
    "SECRET_HASH_DOMAIN",
    # beacons
    "beacon_payload", "parse_beacon", "beacon_matches", "beacon_frame_bytes",
    "beacon_tx_power_dbm", "beacon_eirp_centi_dbm", "BEACON_FORMAT_VERSION",
    "BEACON_FRAME_BYTES", "BEACON_CODING_RATE", "BEACON_PREAMBLE_SYMBOLS", "BEACON_TOKEN_DOMAIN",
    "CHALLENGE_ID_BYTES", "CHALLENGE_PREFIX_BYTES", "MIN_TOKEN_BYTES", "MAX_TOKEN_BYTES",
    # verification
    "verify_epoch", "EpochVerdicts", "LinkHistory", "LinkObservation", "HotspotAssessment",
    "ReciprocityAssessment", "assess_reciprocity", "assess_hotspots", "ModelFitAssessment",
    "assess_model_fit", "SnrSpreadAssessment", "assess_snr_spread", "Registry",
    "RegisteredHotspot", "PathPredictor", "solve_clocks", "ClockSolution", "TRIMS_MS",
    "PAIR_EARLY_MS",
    # actors
    "HotspotIdentity", "PocMetrics", "beacon_radio_config", "run_challenger", "run_beaconer",
    "run_witness_listener", "DEFAULT_MAX_HELD_BEACONS", "MAX_CLOCK_SKEW_MS",
    # verdicts
    "Verdict", "Reason", "REASON_TEXT", "VerdictError", "verdicts_bytes",
]
