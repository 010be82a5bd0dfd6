"""Signed messages that hotspots and validators gossip (layer 4).

Every message is a frozen dataclass with one canonical CBOR encoding
(`Message.to_cbor`), a content id (SHA-256 of that encoding), and an ed25519
signature by the key in its `SIGNER` field over a per-type domain plus the
unsigned encoding. `decode` turns untrusted bytes into a verified message or
raises a `MessageError` subclass that says what was wrong; `loads_cbor_item` is
the strict codec for every other CBOR read from the network (sync requests).

Other packages define their own message types (consensus votes, blocks) with
`Message`, `spec` and the field kinds exported here.
"""

from ._announce import announcement_for
from ._base import (
    DEFAULT_MAX_BYTES,
    DOMAIN_PREFIX,
    MAX_MESSAGE_BYTES,
    MESSAGE_TYPES,
    SHORT_ID_CHARS,
    Message,
    decode,
    short_id,
    spec,
)
from ._cbor import MAX_NESTING, canonical_dumps, loads_cbor_item
from ._errors import (
    MalformedCBORError,
    MalformedMessageError,
    MessageError,
    OversizeMessageError,
    SignatureError,
    UnknownTypeError,
)
from ._fields import (
    EIRP_CENTI_DBM,
    EPOCH,
    HASH,
    PUBLIC_KEY,
    SEALED_SECRET,
    UNIX_TIME_MS,
    FieldKind,
    FixedBytes,
    Integer,
    IntegerChoice,
    ListOf,
    Real,
)
from ._receipt import DataTransferReceipt
from ._types import (
    ANNOUNCEMENT_PARTITION_MS,
    BeaconReport,
    Challenge,
    HotspotAnnouncement,
    WitnessReport,
)

__all__ = [
    # errors
    "MessageError", "MalformedMessageError", "MalformedCBORError", "UnknownTypeError",
    "OversizeMessageError", "SignatureError",
    # messages
    "Message", "HotspotAnnouncement", "Challenge", "BeaconReport", "WitnessReport",
    "ANNOUNCEMENT_PARTITION_MS", "DataTransferReceipt",
    # defining message types
    "spec", "FieldKind", "FixedBytes", "Integer", "IntegerChoice", "Real", "ListOf",
    "PUBLIC_KEY", "HASH", "EPOCH", "UNIX_TIME_MS", "SEALED_SECRET", "EIRP_CENTI_DBM",
    # codec
    "decode", "MESSAGE_TYPES", "MAX_MESSAGE_BYTES", "DEFAULT_MAX_BYTES", "DOMAIN_PREFIX",
    "short_id", "SHORT_ID_CHARS", "loads_cbor_item", "canonical_dumps", "MAX_NESTING",
    # from a station record
    "announcement_for",
]
