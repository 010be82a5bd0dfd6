"""The stored form of a message: opaque encoded bytes plus the metadata the store indexes.

The store does not decode messages or recompute content ids: the message layer owns the
encoding and the hash, so the store stays independent of it and trusts the content id
it is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._errors import InvalidInputError, MessageTooLargeError

CONTENT_ID_BYTES = 32
"""Length of a content id (a 256-bit hash of the canonical encoding)."""

MAX_DATA_BYTES = 1 << 20
"""Largest encoded message accepted; the gossipsub default maximum message size."""

MAX_TOPIC_CHARS = 256
MAX_MSG_TYPE_CHARS = 64
MAX_SOURCE_CHARS = 256

_MAX_INT64 = 2**63 - 1  # SQLite INTEGER is a signed 64-bit integer

_BYTES_LIKE = (bytes, bytearray, memoryview)


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One message as the store keeps it.

    Construction checks types and ranges (`InvalidInputError`), so an instance is
    always insertable; the size limits (`MessageTooLargeError`) are applied when a
    message is put, so that rows stored under older limits can still be read back.
    ``partition`` (the message's sync partition, `Message.sync_partition`) and
    ``received_ms`` are non-negative 64-bit integers; ``source`` is the
    peer it came from, or None for messages this node made itself.
    """

    content_id: bytes
    topic: str
    partition: int
    msg_type: str
    data: bytes = field(repr=False)
    received_ms: int
    source: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "content_id", check_content_id(self.content_id))
        check_text(self.topic, "topic")
        check_uint64(self.partition, "partition")
        check_text(self.msg_type, "msg_type")
        if not isinstance(self.data, _BYTES_LIKE):
            raise InvalidInputError(f"data must be bytes, got {type(self.data).__name__}")
        data = bytes(self.data)
        if not data:
            raise InvalidInputError("data must not be empty (it is the encoded message)")
        object.__setattr__(self, "data", data)
        check_uint64(self.received_ms, "received_ms")
        if self.source is not None:
            check_text(self.source, "source")


def check_limits(msg: StoredMessage) -> None:
    """Raise `MessageTooLargeError` when a field of `msg` is over the store's size limits."""
    _check_length(msg.topic, "topic", MAX_TOPIC_CHARS, "characters")
    _check_length(msg.msg_type, "msg_type", MAX_MSG_TYPE_CHARS, "characters")
    _check_length(msg.data, "data", MAX_DATA_BYTES, "bytes")
    if msg.source is not None:
        _check_length(msg.source, "source", MAX_SOURCE_CHARS, "characters")


def _check_length(value: str | bytes, name: str, limit: int, unit: str) -> None:
    if len(value) > limit:
        raise MessageTooLargeError(f"{name} is {len(value)} {unit}; the limit is {limit}")


def check_content_id(value: object, name: str = "content_id") -> bytes:
    """Return `value` as bytes if it is a bytes-like content id of the right length."""
    if not isinstance(value, _BYTES_LIKE):
        raise InvalidInputError(f"{name} must be bytes, got {type(value).__name__}")
    cid = bytes(value)
    if len(cid) != CONTENT_ID_BYTES:
        raise InvalidInputError(
            f"{name} must be {CONTENT_ID_BYTES} bytes (a content hash), got {len(cid)}")
    return cid


def check_text(value: object, name: str) -> str:
    """Check a non-empty str that SQLite can store as TEXT unchanged (UTF-8, no NUL)."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be a str, got {type(value).__name__}")
    if not value:
        raise InvalidInputError(f"{name} must not be empty")
    if "\x00" in value:
        raise InvalidInputError(f"{name} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"{name} is not encodable as UTF-8: {exc.reason}") from None
    return value


def check_uint64(value: object, name: str) -> int:
    """Check an int (not a bool) in 0 .. 2**63-1, the range of an SQLite INTEGER >= 0."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value <= _MAX_INT64:
        raise InvalidInputError(f"{name} must be in 0..{_MAX_INT64}, got {value}")
    return value


def where_equal(columns: dict[str, object]) -> tuple[str, list[object]]:
    """A ``WHERE`` clause (or "") and its parameters matching every column given a
    value; columns whose value is None are not filtered on. Values are checked already."""
    present = {name: value for name, value in columns.items() if value is not None}
    where = " AND ".join(f"{name} = ?" for name in present)
    return (f" WHERE {where}" if where else ""), list(present.values())
