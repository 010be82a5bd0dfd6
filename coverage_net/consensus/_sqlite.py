"""The durable SQLite files of consensus (the signer's record, the evidence log).

Both must survive a power cut with what they said was committed: write-ahead logging
with ``synchronous=FULL`` fsyncs the log at every commit, and a new file's directory
is fsync'd once so the file itself is not lost.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Self

__all__ = ["DurableFile", "connect_durable"]

_BUSY_TIMEOUT_MS = 10_000


def connect_durable(path: Path) -> sqlite3.Connection:
    """An autocommit connection (transactions are explicit) to `path`, WAL and FULL sync;
    raises OSError or sqlite3.Error for the caller to name."""
    created = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise sqlite3.OperationalError(f"cannot use write-ahead logging (journal_mode "
                                           f"{mode})")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    except BaseException:
        db.close()
        raise
    if created:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return db


class DurableFile:
    """Base of the objects that own one durable connection: `close` and `with`."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
