"""Versioned schema migrations.

The schema version lives in ``PRAGMA user_version`` and the file is marked as ours by
``PRAGMA application_id``; both are in the database header, so they change in the same
transaction as the migration that sets them. Each migration runs in its own
``BEGIN IMMEDIATE`` transaction: a crash or an error leaves the previous version intact.

Migrations are lists of single statements, not scripts: ``sqlite3.executescript``
commits any open transaction first, which would break that atomicity.

Size limits are checked in Python, not in CHECK constraints, so that changing a limit
never needs a table rebuild; the SQL checks only what is structural.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from ._errors import MigrationError, NotAMessageStoreError, SchemaVersionError

logger = logging.getLogger(__name__)

APPLICATION_ID = 0x434E4D53
"""``PRAGMA application_id`` of a coverage-net message store ("CNMS")."""


class Migration(NamedTuple):
    """Statements that take the schema from ``version - 1`` to ``version``."""

    version: int
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, (
        """
        CREATE TABLE messages (
            content_id  BLOB    NOT NULL PRIMARY KEY
                        CHECK (typeof(content_id) = 'blob' AND length(content_id) = 32),
            topic       TEXT    NOT NULL CHECK (typeof(topic) = 'text' AND topic <> ''),
            epoch       INTEGER NOT NULL CHECK (typeof(epoch) = 'integer' AND epoch >= 0),
            msg_type    TEXT    NOT NULL CHECK (typeof(msg_type) = 'text' AND msg_type <> ''),
            data        BLOB    NOT NULL CHECK (typeof(data) = 'blob' AND length(data) > 0),
            received_ms INTEGER NOT NULL
                        CHECK (typeof(received_ms) = 'integer' AND received_ms >= 0),
            source      TEXT    CHECK (source IS NULL OR typeof(source) = 'text')
        )
        """,
        # Sync asks for the ids of a (topic, epoch range): a covering index answers it.
        "CREATE INDEX messages_by_topic_epoch ON messages (topic, epoch, content_id)",
    )),
    # The sync key is a per-type partition (a challenge's epoch, or an hour of an
    # announcement's time), not always an epoch. RENAME COLUMN also rewrites the CHECK
    # and the index; the index is renamed by rebuilding it, once.
    Migration(2, (
        "ALTER TABLE messages RENAME COLUMN epoch TO partition",
        "DROP INDEX messages_by_topic_epoch",
        "CREATE INDEX messages_by_topic_partition ON messages (topic, partition, content_id)",
    )),
    # Verdicts: the verdict's encoding plus the columns it is looked up by (per epoch for
    # the rewarder, per hotspot and epoch for an operator). One row per report: a
    # recomputed verdict replaces the old one.
    Migration(3, (
        """
        CREATE TABLE verdicts (
            report_id    BLOB    NOT NULL PRIMARY KEY
                         CHECK (typeof(report_id) = 'blob' AND length(report_id) = 32),
            challenge_id BLOB    NOT NULL
                         CHECK (typeof(challenge_id) = 'blob' AND length(challenge_id) = 32),
            epoch        INTEGER NOT NULL CHECK (typeof(epoch) = 'integer' AND epoch >= 0),
            report_type  TEXT    NOT NULL
                         CHECK (typeof(report_type) = 'text' AND report_type <> ''),
            hotspot_key  BLOB    NOT NULL
                         CHECK (typeof(hotspot_key) = 'blob' AND length(hotspot_key) > 0),
            valid        INTEGER NOT NULL CHECK (valid IN (0, 1)),
            reason       TEXT    NOT NULL CHECK (typeof(reason) = 'text' AND reason <> ''),
            rewarded     INTEGER NOT NULL CHECK (rewarded IN (0, 1) AND rewarded <= valid),
            body         BLOB    NOT NULL CHECK (typeof(body) = 'blob' AND length(body) > 0)
        )
        """,
        "CREATE INDEX verdicts_by_epoch ON verdicts (epoch)",
        "CREATE INDEX verdicts_by_hotspot_epoch ON verdicts (hotspot_key, epoch)",
    )),
)


def latest_version(migrations: Sequence[Migration]) -> int:
    """The schema version the given migrations end at (checking they are 1, 2, 3, ...)."""
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise ValueError(f"migration versions must run 1, 2, 3, ...; "
                             f"found {migration.version} at position {expected}")
    return len(migrations)


SCHEMA_VERSION = latest_version(MIGRATIONS)
"""The schema version this code creates and the newest it can open."""


def read_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def check_identity(conn: sqlite3.Connection, path: Path,
                   migrations: Sequence[Migration]) -> int:
    """Refuse a database that is not ours or is newer than we know; return its version.

    Reads only, so a refused file is left exactly as it was. The reads share one
    snapshot, so another process migrating the file meanwhile cannot make it look
    half-marked.
    """
    conn.execute("BEGIN")
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = read_version(conn)
        tables = [row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name")]
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")  # a read-only snapshot: nothing to keep
    if app_id not in (0, APPLICATION_ID):
        raise NotAMessageStoreError(path, f"application_id is {app_id:#x}")
    if app_id == 0:
        # Never migrated by us: only an empty database may become a store.
        if version != 0 or tables:
            raise NotAMessageStoreError(
                path, f"no store marker; user_version {version}, tables {tables}")
    supported = latest_version(migrations)
    if version > supported:
        raise SchemaVersionError(path, version, supported)
    return version


def migrate(conn: sqlite3.Connection, path: Path, migrations: Sequence[Migration]) -> int:
    """Apply the pending migrations in order, each in one transaction; return the version.

    The version is read again under the write lock, so two processes opening the same
    new file cannot both apply a migration.
    """
    supported = latest_version(migrations)
    for migration in migrations:
        if read_version(conn) >= migration.version:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = read_version(conn)
            if current > supported:
                raise SchemaVersionError(path, current, supported)
            if current >= migration.version:
                conn.execute("ROLLBACK")
                continue
            for statement in migration.statements:
                conn.execute(statement)
            # PRAGMA takes no parameters; both values are ints from this module.
            conn.execute(f"PRAGMA user_version = {int(migration.version)}")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            rollback(conn)
            raise MigrationError(path, migration.version, str(exc)) from exc
        except BaseException:
            rollback(conn)
            raise
        logger.info("message store schema migrated",
                    extra={"path": str(path), "schema_version": migration.version})
    return read_version(conn)


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back an open transaction after a failure; the original error matters more,
    so a failing ROLLBACK is only logged (SQLite rolls back on close anyway)."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            logger.warning("rollback failed; SQLite rolls back on close", exc_info=True)
