"""The message store: every received message stored once, by content id, in SQLite.

Messages are opaque encoded bytes plus the metadata sync needs (topic, sync partition, type);
see `MessageStore`.
"""

from ._errors import (
    InvalidInputError,
    MessageTooLargeError,
    MigrationError,
    NotAMessageStoreError,
    SchemaVersionError,
    StoreClosedError,
    StoreCorruptError,
    StoreError,
)
from ._message import (
    CONTENT_ID_BYTES,
    MAX_DATA_BYTES,
    MAX_MSG_TYPE_CHARS,
    MAX_SOURCE_CHARS,
    MAX_TOPIC_CHARS,
    StoredMessage,
)
from ._schema import SCHEMA_VERSION
from ._store import DEFAULT_FILENAME, MAX_IDS_LIMIT, MessageStore

__all__ = [
    "MessageStore", "StoredMessage", "SCHEMA_VERSION", "DEFAULT_FILENAME",
    "CONTENT_ID_BYTES", "MAX_DATA_BYTES", "MAX_TOPIC_CHARS", "MAX_MSG_TYPE_CHARS",
    "MAX_SOURCE_CHARS", "MAX_IDS_LIMIT",
    "StoreError", "StoreClosedError", "StoreCorruptError", "SchemaVersionError",
    "NotAMessageStoreError", "MigrationError", "InvalidInputError", "MessageTooLargeError",
]
