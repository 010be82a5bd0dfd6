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


class VerdictNotFoundError(StoreError, LookupError):
    """No stored verdict has a report id starting with the given hex prefix."""

    def __init__(self, prefix_hex: str, store: str) -> None:
        super().__init__(prefix_hex, store)
        self.prefix_hex = prefix_hex
        self.store = store

    def __str__(self) -> str:
        return (f"no verdict for report {self.prefix_hex} in message store {self.store}; "
                "check the id, or whether this node's validator has judged that epoch yet")


class AmbiguousReportIdError(StoreError, LookupError):
    """A report id prefix matches more than one stored verdict."""

    def __init__(self, prefix_hex: str, matches: list[str], more: bool = False) -> None:
        super().__init__(prefix_hex, matches, more)
        self.prefix_hex = prefix_hex
        self.matches = list(matches)
        self.more = more

    def __str__(self) -> str:
        shown = ", ".join(self.matches) + (", ..." if self.more else "")
        return (f"report id prefix {self.prefix_hex} matches several verdicts ({shown}); "
                "give more hexadecimal characters")
