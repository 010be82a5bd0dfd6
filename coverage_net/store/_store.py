"""`MessageStore`: every received message stored once, by content id, before it is acted on."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from . import _schema, _sqlite, _verdicts
from ._errors import (
    InvalidInputError,
    StoreClosedError,
    StoreError,
)
from ._message import (
    StoredMessage,
    check_content_id,
    check_limits,
    check_text,
    check_uint64,
    where_equal,
)
from ._verdicts import VerdictRow

logger = logging.getLogger(__name__)

DEFAULT_FILENAME = "messages.sqlite3"
MAX_IDS_LIMIT = 10_000
"""Largest page `MessageStore.ids` returns; sync asks again with ``after`` for more."""

_RANGE_BATCH = 256  # rows per query while `range` iterates
_IN_CHUNK = 500  # ids per `IN (...)` query, well under SQLite's bound-parameter limit
_MAX_PARTITION = 2**63 - 1

_COLUMNS = "content_id, topic, partition, msg_type, data, received_ms, source"
# Only a duplicate content id is ignored; unlike INSERT OR IGNORE, this does not also
# silently skip rows that break a CHECK or NOT NULL constraint.
_INSERT = (f"INSERT INTO messages ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
           "ON CONFLICT (content_id) DO NOTHING")


class MessageStore:
    """The node's message store: an SQLite file in WAL mode with ``synchronous=FULL``.

    Open it with `MessageStore.open`. A message is durable once `put` or `put_many`
    has returned, so a node acknowledges or acts on a message only after that; a
    message is stored at most once, keyed by its content id, and the first copy's
    metadata (``received_ms``, ``source``) is kept.

    Threading: a store belongs to the thread that opened it (the store actor) and
    raises `StoreError` when used from any other; other tasks hand it work through
    the actor's inbox. Several processes may open the same file; SQLite serialises
    their writes.

    Time is injected: ``received_ms`` comes from the caller's clock.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        """Wrap an already configured connection; use `MessageStore.open` instead."""
        self._conn: sqlite3.Connection | None = conn
        self._path = path
        self._owner = threading.get_ident()

    # -- lifecycle ------------------------------------------------------------------

    @classmethod
    def open(cls, data_dir: Path | str, *, filename: str = DEFAULT_FILENAME,
             durability: str = "power_loss", create: bool = True) -> MessageStore:
        """Open (creating if needed) ``data_dir/filename`` and bring its schema up to date.

        ``durability``: ``"power_loss"`` (default, ``synchronous=FULL``: a commit is
        on disk when `put` returns) or ``"process_crash"`` (``synchronous=NORMAL``:
        a commit survives the process being killed, not the machine losing power;
        for simulations that run many stores in one process).

        Refuses, leaving the file untouched, a corrupt file (`StoreCorruptError`, found
        by ``PRAGMA quick_check``, which reads the whole file), an SQLite database that
        is not a message store (`NotAMessageStoreError`) and one whose schema is newer
        than this code (`SchemaVersionError`). With ``create=False`` (tools that only
        read a node's store) a missing file is a `StoreError`, and nothing is created.
        """
        if (not isinstance(filename, str) or Path(filename).name != filename
                or filename in ("", ".", "..")):
            raise InvalidInputError(f"filename must be a bare file name, got {filename!r}")
        data_dir = Path(data_dir)
        if not create and not (data_dir / filename).is_file():
            raise StoreError(f"there is no message store {data_dir / filename}; point at the "
                             "data directory of a node that has run")
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create data directory {data_dir}: {exc}") from exc
        path = data_dir / filename
        conn = _sqlite.connect(path)
        try:
            migrations = _schema.MIGRATIONS
            with _sqlite.translate_errors(path, "opening"):
                _sqlite.quick_check(conn, path)
                _schema.check_identity(conn, path, migrations)
                _sqlite.configure(conn, path, durability)
                version = _schema.migrate(conn, path, migrations)
        except BaseException:
            conn.close()
            raise
        logger.info("message store opened", extra={"path": str(path), "schema_version": version})
        return cls(conn, path)

    def close(self) -> None:
        """Close the database; later calls do nothing. Everything put is already durable."""
        conn = self._conn
        if conn is None:
            return
        self._connection()  # the owner thread closes it
        self._conn = None
        try:
            conn.execute("PRAGMA optimize")
        except sqlite3.Error:
            logger.debug("PRAGMA optimize failed on close", exc_info=True)
        finally:
            conn.close()

    def __enter__(self) -> MessageStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._conn is None else "open"
        return f"<MessageStore {str(self._path)!r} {state}>"

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        conn = self._connection()
        with self._errors("reading the schema version"):
            return _schema.read_version(conn)

    # -- writing --------------------------------------------------------------------

    def put(self, content_id: bytes, topic: str, partition: int, msg_type: str, data: bytes,
            *, received_ms: int, source: str | None = None) -> bool:
        """Store one message; True if it was new, False if its content id was already stored.

        The message is committed (and, with ``synchronous=FULL``, on disk) when this
        returns. A duplicate leaves the stored copy unchanged.
        """
        msg = StoredMessage(content_id, topic, partition, msg_type, data, received_ms, source)
        check_limits(msg)
        conn = self._connection()
        with self._errors("put"):
            # One statement in autocommit mode is one transaction.
            cursor = conn.execute(_INSERT, _row(msg))
        return cursor.rowcount == 1

    def put_many(self, items: Iterable[StoredMessage]) -> list[bytes]:
        """Store messages in one transaction (all or none); return the ids that were new.

        The ids come in input order, each once: a message already stored, or repeated
        earlier in the batch, is not listed. So an ingest loop acts on exactly what it
        returns, with no separate `missing` query (and no race with another writer).
        Every item is checked before anything is written.
        """
        rows = []
        for index, item in enumerate(items):
            if not isinstance(item, StoredMessage):
                raise InvalidInputError(
                    f"put_many item {index} is a {type(item).__name__}, not a StoredMessage")
            check_limits(item)
            rows.append(_row(item))
        if not rows:
            return []
        new: list[bytes] = []
        with self._transaction("put_many") as conn:
            for row in rows:
                if conn.execute(_INSERT, row).rowcount == 1:
                    new.append(row[0])
        return new

    # -- reading --------------------------------------------------------------------

    def get(self, content_id: bytes) -> StoredMessage | None:
        """The stored message with this content id, or None."""
        cid = check_content_id(content_id)
        conn = self._connection()
        with self._errors("get"):
            row = conn.execute(f"SELECT {_COLUMNS} FROM messages WHERE content_id = ?",
                               (cid,)).fetchone()
        return None if row is None else StoredMessage(*row)

    def __contains__(self, content_id: object) -> bool:
        cid = check_content_id(content_id)
        conn = self._connection()
        with self._errors("lookup"):
            row = conn.execute("SELECT 1 FROM messages WHERE content_id = ?", (cid,)).fetchone()
        return row is not None

    def count(self, topic: str | None = None, partition: int | None = None) -> int:
        """How many messages are stored, optionally only of one topic and/or partition."""
        where, params = where_equal({
            "topic": None if topic is None else check_text(topic, "topic"),
            "partition": None if partition is None else check_uint64(partition, "partition")})
        conn = self._connection()
        with self._errors("count"):
            return conn.execute(f"SELECT COUNT(*) FROM messages{where}", params).fetchone()[0]

    def ids(self, *, topic: str, partition_from: int, partition_to: int,
            after: bytes | None = None, limit: int = 1000) -> list[bytes]:
        """Content ids of ``topic`` in partitions ``partition_from..partition_to``, ascending.

        One page of at most ``limit`` ids (1..`MAX_IDS_LIMIT`) greater than ``after``;
        pass the last id of a page as ``after`` to get the next, until a page is empty.
        Within one partition the index returns them in order; a wider range is sorted.
        """
        params = _range_params(topic, partition_from, partition_to)
        if isinstance(limit, bool) or not isinstance(limit, int) \
                or not 1 <= limit <= MAX_IDS_LIMIT:
            raise InvalidInputError(f"limit must be an int in 1..{MAX_IDS_LIMIT}, got {limit!r}")
        # Every content id is a non-empty blob, and all of them sort after the empty blob.
        start = b"" if after is None else check_content_id(after, "after")
        conn = self._connection()
        with self._errors("listing ids"):
            rows = conn.execute(
                "SELECT content_id FROM messages WHERE topic = ? AND partition BETWEEN ? AND ? "
                "AND content_id > ? ORDER BY content_id LIMIT ?",
                (*params, start, limit)).fetchall()
        return [row[0] for row in rows]

    def partition_digests(self, *, topic: str, partition_from: int,
                          partition_to: int) -> dict[int, tuple[int, bytes]]:
        """Per partition of ``topic`` in ``partition_from..partition_to``: (count, id digest).

        The digest is ``sha256(b"".join(sorted content ids))``; ids are all 32 bytes, so
        the concatenation is unambiguous. Two peers compare these for a range and list
        (with `ids`) only the partitions whose entries differ, instead of exchanging every
        id. Partitions without messages of ``topic`` are left out, so an empty range is
        ``{}``.

        One statement reads the range in index order (the covering index yields rows
        by partition, then id) and hashes as it goes, so the ids are never held in memory.
        Being one statement, it reads one snapshot: a write landing meanwhile cannot make
        one partition's entry disagree with another's. Unlike `range`, nothing is yielded
        while the statement is open, so holding it open for the whole range is safe.
        """
        topic, partition_from, partition_to = _range_params(topic, partition_from, partition_to)
        digests: dict[int, tuple[int, bytes]] = {}
        current: int | None = None
        count, hasher = 0, hashlib.sha256()
        conn = self._connection()
        with self._errors("digesting partitions"):
            rows = conn.execute(
                "SELECT partition, content_id FROM messages WHERE topic = ? "
                "AND partition BETWEEN ? AND ? ORDER BY partition, content_id",
                (topic, partition_from, partition_to))
            for partition, content_id in rows:
                if partition != current:
                    if current is not None:
                        digests[current] = (count, hasher.digest())
                    current, count, hasher = partition, 0, hashlib.sha256()
                count += 1
                hasher.update(content_id)
        if current is not None:
            digests[current] = (count, hasher.digest())
        return digests

    def missing(self, content_ids: Iterable[bytes]) -> list[bytes]:
        """The ids among ``content_ids`` that are not stored, in first-seen order, once each."""
        wanted = list(dict.fromkeys(check_content_id(cid) for cid in content_ids))
        have: set[bytes] = set()
        conn = self._connection()
        with self._errors("checking for missing ids"):
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start:start + _IN_CHUNK]
                marks = ", ".join("?" * len(chunk))
                have.update(row[0] for row in conn.execute(
                    f"SELECT content_id FROM messages WHERE content_id IN ({marks})", chunk))
        return [cid for cid in wanted if cid not in have]

    def latest_partition(self, topic: str) -> int | None:
        """The highest partition holding a message of ``topic``, or None (an index seek)."""
        topic, _, _ = _range_params(topic, 0, _MAX_PARTITION, "partition")
        conn = self._connection()
        with self._errors("reading the latest partition"):
            (latest,) = conn.execute("SELECT MAX(partition) FROM messages WHERE topic = ?",
                                     (topic,)).fetchone()
        return latest

    def partitions(self, *, topic: str, since_partition: int = 0) -> list[int]:
        """The partitions at or after ``since_partition`` that hold messages of ``topic``.

        Ascending. Sync uses it to find the recent partitions worth comparing each
        round; the covering index answers it without reading the messages.
        """
        topic, since, _ = _range_params(topic, since_partition, _MAX_PARTITION, "since_partition")
        conn = self._connection()
        with self._errors("listing partitions"):
            rows = conn.execute(
                "SELECT DISTINCT partition FROM messages WHERE topic = ? AND partition >= ? "
                "ORDER BY partition", (topic, since)).fetchall()
        return [row[0] for row in rows]

    def range(self, *, topic: str, partition_from: int,
              partition_to: int) -> Iterator[StoredMessage]:
        """Messages of ``topic`` in partitions ``partition_from..partition_to``, by
        (partition, id).

        Reads in batches, so no statement stays open between items: the store can be
        written to while iterating (a message put meanwhile appears if it sorts later).
        """
        topic, partition_from, partition_to = _range_params(topic, partition_from, partition_to)
        return self._iter_range(topic, partition_from, partition_to)

    def _iter_range(self, topic: str, partition_from: int,
                    partition_to: int) -> Iterator[StoredMessage]:
        partition, after = partition_from, b""
        while True:
            conn = self._connection()
            with self._errors("reading a range"):
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM messages WHERE topic = ? "
                    "AND (partition, content_id) > (?, ?) AND partition <= ? "
                    "ORDER BY partition, content_id LIMIT ?",
                    (topic, partition, after, partition_to, _RANGE_BATCH)).fetchall()
            for row in rows:
                yield StoredMessage(*row)
            if len(rows) < _RANGE_BATCH:
                return
            last = rows[-1]
            partition, after = last[2], last[0]

    # -- verdicts -------------------------------------------------------------------

    def put_verdicts(self, rows: Iterable[VerdictRow]) -> int:
        """Store verdicts in one transaction (all or none), replacing stored verdicts of the
        same reports; return how many rows were written.

        Verdicts are recomputed when late reports arrive, so unlike messages the newest
        copy wins (within one batch too: a later row for a report replaces an earlier).
        Every row is checked before anything is written.
        """
        params = _verdicts.verdict_params(rows)
        if params:
            with self._transaction("put_verdicts") as conn:
                _verdicts.upsert(conn, params)
        return len(params)

    def replace_epoch_verdicts(self, epoch: int, rows: Iterable[VerdictRow]) -> int:
        """Make `rows` the epoch's only stored verdicts, in one transaction: the epoch was
        judged again over another set of reports (the one the chain agreed on)."""
        params = _verdicts.verdict_params(rows)
        if any(p[_verdicts.EPOCH_INDEX] != epoch for p in params):
            raise ValueError(f"replace_epoch_verdicts({epoch}): a row is of another epoch")
        with self._transaction("replace_epoch_verdicts") as conn:
            conn.execute("DELETE FROM verdicts WHERE epoch = ?", (check_uint64(epoch, "epoch"),))
            if params:
                _verdicts.upsert(conn, params)
        return len(params)

    def verdict_row(self, report_id: bytes) -> VerdictRow | None:
        """The stored verdict of the report with this content id, or None."""
        conn = self._connection()
        with self._errors("reading a verdict"):
            return _verdicts.select_one(conn, report_id)

    def verdict_rows(self, *, epoch: int | None = None,
                     hotspot_key: bytes | None = None) -> list[VerdictRow]:
        """The stored verdicts of one epoch and/or one hotspot (all without either),
        by (epoch, report id); each filter is answered by an index."""
        conn = self._connection()
        with self._errors("listing verdicts"):
            return _verdicts.select_many(conn, epoch, hotspot_key)

    def verdict_counts(self) -> dict[tuple[str, str, bool], int]:
        """How many verdicts are stored per (report type, reason, valid), for the metrics
        endpoint: counted by SQLite, no verdict is read."""
        conn = self._connection()
        with self._errors("counting verdicts"):
            return _verdicts.count_by_reason(conn)

    def verdict_row_by_prefix(self, prefix_hex: str) -> VerdictRow:
        """The one verdict whose report id starts with ``prefix_hex`` (8 to 64 hex digits,
        any case), as an operator types it.

        Raises `VerdictNotFoundError` when none matches and `AmbiguousReportIdError`
        (naming some of the matches) when several do.
        """
        conn = self._connection()
        with self._errors("looking up a verdict"):
            return _verdicts.select_by_prefix(conn, prefix_hex, str(self._path))

    # -- internals ------------------------------------------------------------------

    @contextmanager
    def _transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (``BEGIN IMMEDIATE``), rolled back on error."""
        conn = self._connection()
        with self._errors(action):
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                _schema.rollback(conn)
                raise

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreClosedError(f"message store {self._path} is closed")
        if threading.get_ident() != self._owner:
            raise StoreError(
                f"message store {self._path} was opened by thread {self._owner} and used "
                f"from thread {threading.get_ident()}; use it only from the thread that "
                "opened it (send other threads' work to the store actor)")
        return self._conn

    def _errors(self, action: str) -> AbstractContextManager[None]:
        return _sqlite.translate_errors(self._path, action)


def _range_params(topic: str, partition_from: int, partition_to: int,
                  from_name: str = "partition_from") -> tuple[str, int, int]:
    check_text(topic, "topic")
    check_uint64(partition_from, from_name)
    check_uint64(partition_to, "partition_to")
    if partition_from > partition_to:
        raise InvalidInputError(
            f"partition_from ({partition_from}) is after partition_to ({partition_to})")
    return topic, partition_from, partition_to


def _row(msg: StoredMessage) -> tuple[Any, ...]:
    return (msg.content_id, msg.topic, msg.partition, msg.msg_type, msg.data, msg.received_ms,
            msg.source)

