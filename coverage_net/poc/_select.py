"""Challenge selection: which hotspots are challenged in an epoch, and by which validator.

Pure functions of the epoch's entropy (32 bytes: from the last finalized block once
consensus exists, from `epoch_entropy_from_seed` until then), the epoch number and
the sets of keys. No float and no RNG: every node computes the same answer, and the
order in which it learnt the keys does not matter (inputs are treated as sets).

- How many: the network wants each eligible hotspot challenged
  ``challenges_per_hotspot_per_day`` times a day, so an epoch of ``L`` ms over ``n``
  hotspots expects ``x = n * rate * L / DAY_MS`` challenges. Epoch ``e`` gets
  ``floor((e + 1) * x) - floor(e * x)`` (exact integer arithmetic), so the fractional
  parts carry over from epoch to epoch instead of being rounded away, and the long-run
  mean is exactly the rate even when ``x`` is below one.
- Which: the hotspots whose SHA-256(domain || entropy || epoch || key) sorts lowest.
  The entropy is unknown before the epoch, so nobody can steer the choice.
- By whom: rendezvous hashing over the validators, highest
  SHA-256(domain || entropy || epoch || challengee || validator) wins, which spreads
  the challenges evenly and moves few when the validator set changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from ._errors import SelectionError
from ._params import DAY_MS, NetworkParams

__all__ = [
    "ENTROPY_BYTES", "challengees_for_epoch", "challenger_for", "challenges_in_epoch",
    "epoch_entropy_from_seed",
]

ENTROPY_BYTES = 32
_KEY_BYTES = 32
_EPOCH_BYTES = 8
_SEED_DOMAIN = b"coverage-net/poc/epoch-entropy/v1\x00"
_CHALLENGEE_DOMAIN = b"coverage-net/poc/challengee/v1\x00"
_CHALLENGER_DOMAIN = b"coverage-net/poc/challenger/v1\x00"


def _epoch_bytes(epoch: object) -> bytes:
    if isinstance(epoch, bool) or not isinstance(epoch, int):
        raise SelectionError(f"epoch must be an integer, got {epoch!r}")
    if not 0 <= epoch < 1 << (8 * _EPOCH_BYTES):
        raise SelectionError(f"epoch must be 0 to 2**64 - 1, got {epoch}")
    return epoch.to_bytes(_EPOCH_BYTES, "big")


def _entropy(entropy: object) -> bytes:
    if not isinstance(entropy, bytes) or len(entropy) != ENTROPY_BYTES:
        raise SelectionError(f"entropy must be {ENTROPY_BYTES} bytes, got {entropy!r:.80}")
    return entropy


def _key_set(keys: Iterable[bytes], what: str) -> set[bytes]:
    found = set()
    for key in keys:
        if not isinstance(key, bytes) or len(key) != _KEY_BYTES:
            raise SelectionError(f"{what} must be {_KEY_BYTES}-byte ed25519 public keys, "
                                 f"got {key!r:.80}")
        found.add(key)
    return found


def epoch_entropy_from_seed(seed: bytes, epoch: int) -> bytes:
    """Entropy for an epoch from a seed shared by all nodes, until consensus supplies it.

    Anyone who knows the seed can predict every challenge, so this source is for
    simulations and testnets, not for a network with something at stake.
    """
    if not isinstance(seed, bytes):
        raise SelectionError(f"seed must be bytes, got {seed!r:.80}")
    return hashlib.sha256(_SEED_DOMAIN + _epoch_bytes(epoch) + seed).digest()


def challenges_in_epoch(n_eligible: int, epoch: int, params: NetworkParams) -> int:
    """How many of ``n_eligible`` hotspots are challenged in ``epoch`` (see module doc)."""
    _epoch_bytes(epoch)
    if isinstance(n_eligible, bool) or not isinstance(n_eligible, int) or n_eligible < 0:
        raise SelectionError(f"n_eligible must be a non-negative integer, got {n_eligible!r}")
    per_epoch = n_eligible * params.challenges_per_hotspot_per_day * params.epoch_length_ms
    count = (epoch + 1) * per_epoch // DAY_MS - epoch * per_epoch // DAY_MS
    return min(count, n_eligible)


def challengees_for_epoch(entropy: bytes, epoch: int, eligible_hotspot_keys: Iterable[bytes],
                          params: NetworkParams) -> list[bytes]:
    """The hotspots challenged in ``epoch``, in selection order (lowest hash first).

    Duplicate keys count once; the order of ``eligible_hotspot_keys`` does not matter.
    """
    prefix = _CHALLENGEE_DOMAIN + _entropy(entropy) + _epoch_bytes(epoch)
    keys = _key_set(eligible_hotspot_keys, "eligible_hotspot_keys")
    count = challenges_in_epoch(len(keys), epoch, params)
    ranked = sorted(keys, key=lambda key: (hashlib.sha256(prefix + key).digest(), key))
    return ranked[:count]


def challenger_for(entropy: bytes, epoch: int, challengee_key: bytes,
                   validators: Iterable[bytes]) -> bytes:
    """The validator that challenges ``challengee_key`` in ``epoch``."""
    prefix = (_CHALLENGER_DOMAIN + _entropy(entropy) + _epoch_bytes(epoch)
              + next(iter(_key_set([challengee_key], "challengee_key"))))
    candidates = _key_set(validators, "validators")
    if not candidates:
        raise SelectionError("no validators to challenge with; list them in the network "
                             "parameters (validators = [...])")
    return max(candidates, key=lambda key: (hashlib.sha256(prefix + key).digest(), key))
