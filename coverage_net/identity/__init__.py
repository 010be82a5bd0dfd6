"""A node's identity: an ed25519 keypair, its libp2p peer id and its key file (layer 4).

The same key signs the node's messages (`coverage_net.messages`) and is its libp2p
identity. Keys are generated from the OS random source, or from a seed for
reproducible simulations; the key file is mode 0600 and checked when loaded.
"""

from ._errors import (
    CorruptKeyFileError,
    IdentityError,
    InsecureKeyFileError,
    InvalidKeyError,
    KeyFileError,
)
from ._keyfile import KEY_FILE_FORMAT, KEY_FILE_MODE, KEY_FILE_VERSION, load_keypair, save_keypair
from ._keypair import (
    PEER_ID_PREFIX,
    PUBLIC_KEY_BYTES,
    SEED_BYTES,
    SIGNATURE_BYTES,
    Keypair,
    peer_id_from_public_key,
    public_key_from_peer_id,
    verify_signature,
)

__all__ = [
    # errors
    "IdentityError", "InvalidKeyError", "KeyFileError", "InsecureKeyFileError",
    "CorruptKeyFileError",
    # keys and peer ids
    "Keypair", "verify_signature", "peer_id_from_public_key", "public_key_from_peer_id",
    "PEER_ID_PREFIX", "PUBLIC_KEY_BYTES", "SEED_BYTES", "SIGNATURE_BYTES",
    # key file
    "save_keypair", "load_keypair", "KEY_FILE_FORMAT", "KEY_FILE_VERSION", "KEY_FILE_MODE",
]
