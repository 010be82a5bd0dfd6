"""Signed messages that hotspots and validators gossip (layer 4).

Every message is a frozen dataclass with one canonical CBOR encoding
(`Message.to_cbor`), a content id (SHA-256 of that encoding), and an ed25519
signature by the key in its `SIGNER` field over a per-type domain plus the
unsigned encoding. `decode` turns untrusted bytes into a verified message or
raises a `MessageError` subclass that says what was wrong.
"""

from ._announce import announcement_for
from ._base import (
    DOMAIN_PREFIX,
    MAX_MESSAGE_BYTES,
    MESSAGE_TYPES,
    SHORT_ID_CHARS,
    Message,
    decode,
    short_id,
)
from ._errors import (
    MalformedMessageError,
    MessageError,
    OversizeMessageError,
    SignatureError,
    UnknownTypeError,
)
from ._types import BeaconReport, Challenge, HotspotAnnouncement, WitnessReport

__all__ = [
    # errors
    "MessageError", "MalformedMessageError", "UnknownTypeError", "OversizeMessageError",
    "SignatureError",
    # messages
    "Message", "HotspotAnnouncement", "Challenge", "BeaconReport", "WitnessReport",
    # codec
    "decode", "MESSAGE_TYPES", "MAX_MESSAGE_BYTES", "DOMAIN_PREFIX", "short_id",
    "SHORT_ID_CHARS", "announcement_for",
]
