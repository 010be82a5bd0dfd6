"""The message store: every received message stored once, by content id, in SQLite.

Messages are opaque encoded bytes plus the metadata sync needs (topic, sync partition, type);
see `MessageStore`. Beside them, the verifier's verdicts (`VerdictRow`): opaque encoded
bytes plus the columns they are looked up by, one per report, replaced when recomputed.
"""

from ._errors import (
    AmbiguousReportIdError,
    InvalidInputError,
    MessageTooLargeError,
    MigrationError,
    NotAMessageStoreError,
    SchemaVersionError,
    StoreClosedError,
    StoreCorruptError,
    StoreError,
    VerdictNotFoundError,
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
from ._verdicts import MAX_VERDICT_BODY_BYTES, MIN_PREFIX_HEX_CHARS, VerdictRow

__all__ = [
    "MessageStore", "StoredMessage", "SCHEMA_VERSION", "DEFAULT_FILENAME",
    "CONTENT_ID_BYTES", "MAX_DATA_BYTES", "MAX_TOPIC_CHARS", "MAX_MSG_TYPE_CHARS",
    "MAX_SOURCE_CHARS", "MAX_IDS_LIMIT",
    "StoreError", "StoreClosedError", "StoreCorruptError", "SchemaVersionError",
    "NotAMessageStoreError", "MigrationError", "InvalidInputError", "MessageTooLargeError",
    "VerdictRow", "MAX_VERDICT_BODY_BYTES", "MIN_PREFIX_HEX_CHARS",
    "VerdictNotFoundError", "AmbiguousReportIdError",
]
