"""Proof of coverage: challenge secrets and beacons (layer 4, beside p2p).

Pure, deterministic derivations shared unchanged by the hotspot, the simulator
and the verifier; no I/O, no clock, no randomness inside (callers bring the
secret from their own random source).
"""

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
from ._errors import BeaconError, PocError, SecretError
from ._secret import (
    SEALED_SECRET_BYTES,
    SECRET_BYTES,
    SECRET_HASH_DOMAIN,
    open_sealed_secret,
    seal_secret,
    secret_hash,
)

__all__ = [
    # errors
    "PocError", "SecretError", "BeaconError",
    # secrets
    "secret_hash", "seal_secret", "open_sealed_secret", "SECRET_BYTES", "SEALED_SECRET_BYTES",
    "SECRET_HASH_DOMAIN",
    # beacons
    "beacon_payload", "parse_beacon", "beacon_matches", "beacon_frame_bytes",
    "beacon_tx_power_dbm", "beacon_eirp_centi_dbm", "BEACON_FORMAT_VERSION",
    "BEACON_FRAME_BYTES", "BEACON_CODING_RATE", "BEACON_PREAMBLE_SYMBOLS", "BEACON_TOKEN_DOMAIN",
    "CHALLENGE_ID_BYTES", "CHALLENGE_PREFIX_BYTES", "MIN_TOKEN_BYTES", "MAX_TOKEN_BYTES",
]
