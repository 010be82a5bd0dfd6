"""Ed25519 keypairs and the libp2p peer id that derives from the same public key.

One key signs everything a node says (announcements, reports, votes) and is its
libp2p identity, so a signature and the peer that relayed it can be tied together.

A libp2p ed25519 peer id is the identity multihash (code 0x00, length 36) of the
protobuf ``PublicKey{Type=Ed25519(1), Data=<32 raw bytes>}``, i.e. the bytes
``00 24 08 01 12 20 <key>``, written in base58btc; every one starts "12D3KooW".
"""

from __future__ import annotations

import nacl.bindings
import nacl.exceptions
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from coverage_net.identity._base58 import b58decode, b58encode
from coverage_net.identity._errors import InvalidKeyError

__all__ = [
    "PEER_ID_PREFIX", "PUBLIC_KEY_BYTES", "SEED_BYTES", "SIGNATURE_BYTES", "Keypair",
    "peer_id_from_public_key", "public_key_from_peer_id",
    "verify_signature",
]

SEED_BYTES = 32
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
PEER_ID_PREFIX = "12D3KooW"
"""Every ed25519 peer id starts with this (the base58 of the fixed header bytes)."""

# identity multihash (0x00, 36 bytes) of protobuf field 1 = 1 (Ed25519), field 2 = 32 bytes
_PEER_ID_HEADER = bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])


def _exact_bytes(name: str, value: object, length: int) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise InvalidKeyError(f"{name} must be {length} bytes; got {type(value).__name__}")
    value = bytes(value)
    if len(value) != length:
        raise InvalidKeyError(f"{name} must be {length} bytes; got {len(value)} bytes")
    return value


class Keypair:
    """An ed25519 signing key and its public key; never shows the secret in its repr.

    ``Keypair.generate()`` draws from the operating system's CSPRNG (a node's
    identity); ``Keypair.from_seed(seed)`` is deterministic, for simulations and
    tests that draw the seed from their seeded generator.

    >>> kp = Keypair.from_seed(bytes(32))
    >>> kp.peer_id.startswith("12D3KooW"), len(kp.sign(b"hello"))
    (True, 64)
    """

    __slots__ = ("_private", "_public_key")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise InvalidKeyError(
                f"private_key must be an Ed25519PrivateKey; got {type(private_key).__name__} "
                "(use Keypair.generate() or Keypair.from_seed())")
        self._private = private_key
        self._public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @classmethod
    def generate(cls) -> Keypair:
        """A new keypair from the operating system's random source."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Keypair:
        """The keypair of a 32-byte RFC 8032 private key (seed)."""
        seed = _exact_bytes("seed", seed, SEED_BYTES)
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def public_key(self) -> bytes:
        """The 32-byte raw ed25519 public key."""
        return self._public_key

    @property
    def peer_id(self) -> str:
        """The libp2p peer id (base58btc, "12D3KooW...") of this key."""
        return peer_id_from_public_key(self._public_key)

    def seed(self) -> bytes:
        """The 32-byte secret seed; a method, not a field, so it is never printed by accident."""
        return self._private.private_bytes_raw()

    def sign(self, data: bytes) -> bytes:
        """The 64-byte ed25519 signature of `data` (deterministic, RFC 8032)."""
        return self._private.sign(bytes(data))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Keypair):
            return NotImplemented
        return self._public_key == other._public_key

    def __hash__(self) -> int:
        return hash(self._public_key)

    def __repr__(self) -> str:
        return f"Keypair(peer_id={self.peer_id!r})"


# Public keys of small order (y = 0, 1, -1 and the two order-8 points, in any encoding)
# let anyone forge "signatures" that verify for every message; OpenSSL accepts them.
_P = 2**255 - 19
_Y_ORDER_8 = int.from_bytes(bytes.fromhex(
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"), "little")
_SMALL_ORDER_Y = frozenset({0, 1, _P - 1, _Y_ORDER_8, _P - _Y_ORDER_8})


def _is_small_order_key(public_key: bytes) -> bool:
    """True for the encodings of the 8 small-order points (weak keys: signatures forgeable)."""
    y = int.from_bytes(public_key, "little") & ((1 << 255) - 1)
    return y % _P in _SMALL_ORDER_Y


def verify_signature(public_key: bytes, signature: bytes, data: bytes) -> bool:
    """True when `signature` is a valid ed25519 signature of `data` by `public_key`.

    False, never an exception, for a wrong signature, a signature or key of the
    wrong length, 32 bytes that are not a curve point, or a small-order (weak)
    key: callers decide what a bad signature means.
    """
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    if _is_small_order_key(public_key):
        return False
    # libsodium (PyNaCl): about twice OpenSSL's rate through `cryptography` here, and
    # strict (canonical S, no small-order R or A), so every node accepts the same set
    try:
        nacl.bindings.crypto_sign_open(bytes(signature) + bytes(data), bytes(public_key))
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError,
            TypeError):
        return False
    return True


def peer_id_from_public_key(public_key: bytes) -> str:
    """The libp2p peer id of a 32-byte ed25519 public key.

    >>> peer_id_from_public_key(bytes.fromhex(
    ...     "1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e"))
    '12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq'
    """
    public_key = _exact_bytes("public_key", public_key, PUBLIC_KEY_BYTES)
    return b58encode(_PEER_ID_HEADER + public_key)


def public_key_from_peer_id(peer_id: str) -> bytes:
    """The 32-byte public key inside an ed25519 peer id (the inverse of the above)."""
    if not isinstance(peer_id, str):
        raise InvalidKeyError(f"peer_id must be a str; got {type(peer_id).__name__}")
    try:
        raw = b58decode(peer_id)
    except ValueError as exc:
        raise InvalidKeyError(f"peer id {peer_id[:60]!r} is not base58btc: {exc}") from None
    if len(raw) != len(_PEER_ID_HEADER) + PUBLIC_KEY_BYTES or not raw.startswith(_PEER_ID_HEADER):
        raise InvalidKeyError(
            f"peer id {peer_id[:60]!r} is not an ed25519 peer id (those are 52 base58 "
            f"characters starting {PEER_ID_PREFIX!r}; RSA, secp256k1 and CIDv1 forms are "
            "not supported)")
    return raw[len(_PEER_ID_HEADER):]
