"""Challenge secrets: their public hash, and sealing them so only the challengee reads them.

The challenger puts ``secret_hash(secret)`` and ``seal_secret(secret, key)`` in a
signed `Challenge`. The sealed box may travel by gossip: it is a libsodium sealed
box (an ephemeral X25519 key, XSalsa20-Poly1305) to the X25519 key that derives
from the challengee's ed25519 identity key, so nobody else can learn the secret,
and so predict the beacon, before the challengee puts it on the air. Once the
secret is revealed anyone checks it against the hash.

The ed25519 -> X25519 conversion is libsodium's (the birational map), so a peer
built on any libsodium binding derives the same key from the same identity.
"""

from __future__ import annotations

import hashlib

import nacl.bindings
import nacl.exceptions
from nacl.public import PrivateKey, PublicKey, SealedBox

from coverage_net.identity import Keypair
from coverage_net.poc._errors import SecretError

__all__ = ["SEALED_SECRET_BYTES", "SECRET_BYTES", "SECRET_HASH_DOMAIN", "open_sealed_secret",
           "seal_secret", "secret_hash"]

SECRET_BYTES = 32
SEALED_SECRET_BYTES = SECRET_BYTES + nacl.bindings.crypto_box_SEALBYTES
"""A sealed secret: 32-byte ephemeral public key, 16-byte MAC, then the 32-byte secret."""

SECRET_HASH_DOMAIN = b"coverage-net/poc/secret/v1\x00"
"""Prefix of the hashed bytes, so a secret hash can never collide with another hash use."""

_ED25519_PUBLIC_KEY_BYTES = 32


def _bytes(name: str, value: object) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise SecretError(f"{name} must be bytes; got {type(value).__name__}")
    return bytes(value)


def _secret(secret: object) -> bytes:
    secret = _bytes("secret", secret)
    if len(secret) != SECRET_BYTES:
        raise SecretError(f"secret must be {SECRET_BYTES} bytes; got {len(secret)} bytes "
                          "(draw 32 bytes from the challenger's random source)")
    return secret


def secret_hash(secret: bytes) -> bytes:
    """SHA-256 of the domain prefix and the 32-byte secret: the commitment a challenge carries.

    >>> secret_hash(bytes(32)).hex()[:16]
    '65218d3030ae3116'
    """
    return hashlib.sha256(SECRET_HASH_DOMAIN + _secret(secret)).digest()


def seal_secret(secret: bytes, challengee_ed25519_public_key: bytes, *,
                ephemeral_seed: bytes | None = None) -> bytes:
    """The secret in a sealed box only the holder of the challengee's identity key can open.

    The box is randomised (a fresh ephemeral key each call), so it is not a test
    vector; `open_sealed_secret` is its inverse. ``SEALED_SECRET_BYTES`` long.
    ``ephemeral_seed`` (32 bytes) makes the box reproducible, for simulations that
    must replay byte for byte: libsodium's sealed-box construction (ephemeral public
    key, then ``crypto_box`` under nonce = BLAKE2b-192(ephemeral pk || recipient pk))
    with the ephemeral keypair derived from the seed. Never pass one in production:
    a reused ephemeral key ties boxes together.
    """
    secret = _secret(secret)
    key = _bytes("challengee_ed25519_public_key", challengee_ed25519_public_key)
    if len(key) != _ED25519_PUBLIC_KEY_BYTES:
        raise SecretError(f"challengee_ed25519_public_key must be {_ED25519_PUBLIC_KEY_BYTES} "
                          f"bytes (a raw ed25519 public key); got {len(key)} bytes")
    try:
        curve_key = nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(key)
    except (nacl.exceptions.CryptoError, nacl.exceptions.RuntimeError, ValueError) as exc:
        raise SecretError(f"challengee_ed25519_public_key {key.hex()} is not a usable ed25519 "
                          f"public key (not a curve point, or of small order): {exc}") from None
    if ephemeral_seed is None:
        return SealedBox(PublicKey(curve_key)).encrypt(secret)
    seed = _bytes("ephemeral_seed", ephemeral_seed)
    if len(seed) != 32:
        raise SecretError(f"ephemeral_seed must be 32 bytes; got {len(seed)}")
    epk, esk = nacl.bindings.crypto_box_seed_keypair(seed)
    nonce = hashlib.blake2b(epk + curve_key, digest_size=24).digest()
    return epk + nacl.bindings.crypto_box(secret, nonce, curve_key, esk)


def open_sealed_secret(sealed: bytes, keypair: Keypair) -> bytes:
    """The 32-byte secret inside `sealed`; `SecretError` if it was not sealed to this key.

    A box sealed to another key, or with any bit changed, fails authentication
    (Poly1305): the challengee cannot beacon and should say so, not guess.
    """
    sealed = _bytes("sealed", sealed)
    if not isinstance(keypair, Keypair):
        raise SecretError(f"keypair must be a coverage_net.identity.Keypair; got "
                          f"{type(keypair).__name__}")
    if len(sealed) != SEALED_SECRET_BYTES:
        raise SecretError(f"sealed secret must be {SEALED_SECRET_BYTES} bytes (a sealed box of "
                          f"a {SECRET_BYTES}-byte secret); got {len(sealed)} bytes")
    # libsodium's secret key is the 32-byte seed followed by the 32-byte public key
    curve_secret = nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(
        keypair.seed() + keypair.public_key)
    try:
        secret = SealedBox(PrivateKey(curve_secret)).decrypt(sealed)
    except nacl.exceptions.CryptoError:
        raise SecretError(f"sealed secret does not open with the key of {keypair.peer_id}: it "
                          "was sealed to another key or altered on the way") from None
    return secret  # the box is SEALED_SECRET_BYTES long, so this is 32 bytes
