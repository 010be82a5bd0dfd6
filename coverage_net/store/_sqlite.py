"""The message store's SQLite connection: opened, checked and configured (WAL, durability),
and its errors turned into the store's own."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ._errors import InvalidInputError, StoreCorruptError, StoreError

__all__ = ["configure", "connect", "quick_check", "translate_errors"]

_BUSY_TIMEOUT_S = 5.0  # how long SQLite waits for another process's write lock
_WAL_ATTEMPTS = 50  # with _WAL_RETRY_S, about the busy timeout
_WAL_RETRY_S = 0.1
_CORRUPT_CODES = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def connect(path: Path) -> sqlite3.Connection:
    """A connection to `path` in autocommit mode (transactions are explicit), waiting
    out other processes' write locks, usable from this thread only."""
    try:
        return sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=True)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open message store {path}: {exc}") from exc


@contextmanager
def translate_errors(path: Path, action: str) -> Iterator[None]:
    """Turn sqlite3 errors into `StoreError`s; damage into `StoreCorruptError`."""
    try:
        yield
    except sqlite3.Error as exc:
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in _CORRUPT_CODES:
            raise StoreCorruptError(path, str(exc)) from exc
        raise StoreError(f"{action} failed on message store {path}: {exc}") from exc


def quick_check(conn: sqlite3.Connection, path: Path) -> None:
    rows = conn.execute("PRAGMA quick_check").fetchall()
    if [tuple(row) for row in rows] != [("ok",)]:
        lines = [line for row in rows for line in str(row[0]).splitlines()]
        detail = "; ".join(lines[:3]) + (f"; ... {len(lines) - 3} more" if len(lines) > 3 else "")
        raise StoreCorruptError(path, f"quick_check: {detail}")


_SYNCHRONOUS = {"power_loss": "FULL", "process_crash": "NORMAL"}


def configure(conn: sqlite3.Connection, path: Path, durability: str) -> None:
    if durability not in _SYNCHRONOUS:
        raise InvalidInputError(f"durability must be one of {sorted(_SYNCHRONOUS)}; "
                                f"got {durability!r}")
    mode = _set_wal(conn)
    if str(mode).lower() != "wal":
        raise StoreError(f"message store {path} cannot use WAL mode (SQLite chose {mode!r}); "
                         "put the data directory on a local file system")
    # In WAL mode FULL syncs the log at every commit: an acknowledged put survives a
    # power cut, not only a crash of the process (NORMAL: only the latter).
    conn.execute(f"PRAGMA synchronous = {_SYNCHRONOUS[durability]}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA trusted_schema = OFF")


def _set_wal(conn: sqlite3.Connection) -> str:
    """Switch to WAL, retrying while another process opens the same new file.

    Turning a rollback-journal file into a WAL file needs an exclusive lock, and SQLite
    can report SQLITE_BUSY for it at once instead of waiting out the busy timeout. Once
    the file is in WAL mode (every open after the first) this is a no-op. The sleep is
    I/O back-off, not protocol time.
    """
    for attempt in range(_WAL_ATTEMPTS):
        try:
            return conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or attempt == _WAL_ATTEMPTS - 1:
                raise
            time.sleep(_WAL_RETRY_S)
    raise AssertionError("unreachable")
