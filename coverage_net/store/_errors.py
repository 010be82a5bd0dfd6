"""Exceptions of `coverage_net.store`.

Every error the store raises is a `StoreError`; errors about bad arguments are also
`ValueError`s. Errors that concern the database file keep its path in ``.path`` and
their arguments in ``.args``, so they survive pickling.
"""

from __future__ import annotations

from pathlib import Path

from coverage_net.errors import CoverageNetError


class StoreError(CoverageNetError):
    """Base class of every error raised by `coverage_net.store`."""


class StoreClosedError(StoreError):
    """The store was used after `MessageStore.close()`."""


class InvalidInputError(StoreError, ValueError):
    """An argument or message field is of the wrong type or out of range (the message names it)."""


class MessageTooLargeError(InvalidInputError):
    """A message field is longer than the store accepts (the message names the field and limit)."""


class StoreCorruptError(StoreError):
    """The database file is damaged: SQLite cannot read it or its integrity check fails."""

    def __init__(self, path: Path | str, detail: str) -> None:
        super().__init__(Path(path), detail)
        self.path = Path(path)
        self.detail = detail

    def __str__(self) -> str:
        return (f"message store {self.path} is corrupt ({self.detail}); move the file aside "
                "and restart to begin a new store (sync refills it from peers), or restore "
                "a backup")


class SchemaVersionError(StoreError):
    """The database was written by a newer coverage-net whose schema this code does not know."""

    def __init__(self, path: Path | str, found: int, supported: int) -> None:
        super().__init__(Path(path), found, supported)
        self.path = Path(path)
        self.found = found
        self.supported = supported

    def __str__(self) -> str:
        return (f"message store {self.path} has schema version {self.found}, but this "
                f"coverage-net knows versions up to {self.supported}; upgrade coverage-net "
                "or point it at another data directory")


class NotAMessageStoreError(StoreError):
    """The file is an SQLite database, but not a coverage-net message store."""

    def __init__(self, path: Path | str, detail: str) -> None:
        super().__init__(Path(path), detail)
        self.path = Path(path)
        self.detail = detail

    def __str__(self) -> str:
        return (f"{self.path} is not a coverage-net message store ({self.detail}); "
                "choose another data directory or file name")


class MigrationError(StoreError):
    """A schema migration failed; it was rolled back and the database keeps its old version."""

    def __init__(self, path: Path | str, version: int, detail: str) -> None:
        super().__init__(Path(path), version, detail)
        self.path = Path(path)
        self.version = version
        self.detail = detail

    def __str__(self) -> str:
        return (f"migrating message store {self.path} to schema version {self.version} "
                f"failed ({self.detail}); the database was left at its previous version")
