"""The reward ledger: manifests booked into balances, in SQLite (WAL, ``synchronous=FULL``).

One file, ``ledger.sqlite`` in the node's data directory. Per epoch it keeps the
manifest's canonical bytes and hash, one row per account paid, and the hash of every
input the epoch was computed from (verdicts, receipts and the announcements that
placed the hotspots by content id; per hotspot, the last epoch its beacon was
witnessed before this one), so `coverage-net
rewards verify` can recompute the epoch and name what changed. Balances are the
sums of the payouts. An epoch is booked in one transaction that is committed before
`record` returns; booking the same manifest again changes nothing, and booking a
different one for a booked epoch is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType

from ._errors import LedgerError, ManifestError
from ._manifest import Payout, RewardManifest

__all__ = ["LEDGER_FILENAME", "RewardLedger"]

logger = logging.getLogger(__name__)

LEDGER_FILENAME = "ledger.sqlite"
_APPLICATION_ID = 0x434E4C47  # "CNLG"
_SCHEMA_VERSION = 1
_BUSY_TIMEOUT_S = 30.0
_PAYOUT_COLUMNS = ("beacon", "witness", "data", "share", "beacons", "witnesses",
                   "data_credits", "scale_pico")
_SCHEMA = (
    """CREATE TABLE epochs (
        epoch      INTEGER PRIMARY KEY CHECK (typeof(epoch) = 'integer' AND epoch >= 0),
        manifest   BLOB NOT NULL CHECK (typeof(manifest) = 'blob'),
        sha256     BLOB NOT NULL CHECK (typeof(sha256) = 'blob' AND length(sha256) = 32)
    )""",
    f"""CREATE TABLE payouts (
        epoch   INTEGER NOT NULL REFERENCES epochs (epoch),
        account TEXT NOT NULL CHECK (typeof(account) = 'text' AND account <> ''),
        {", ".join(f"{c} INTEGER NOT NULL CHECK (typeof({c}) = 'integer' AND {c} >= 0)"
                   for c in _PAYOUT_COLUMNS)},
        PRIMARY KEY (epoch, account)
    )""",
    "CREATE INDEX payouts_by_account ON payouts (account, epoch)",
    """CREATE TABLE balances (
        account TEXT PRIMARY KEY CHECK (typeof(account) = 'text' AND account <> ''),
        amount  INTEGER NOT NULL CHECK (typeof(amount) = 'integer' AND amount >= 0)
    )""",
    """CREATE TABLE inputs (
        epoch  INTEGER NOT NULL REFERENCES epochs (epoch),
        kind   TEXT NOT NULL CHECK (kind IN ('verdict', 'receipt', 'announcement', 'history')),
        id     BLOB NOT NULL CHECK (typeof(id) = 'blob' AND length(id) = 32),
        sha256 BLOB NOT NULL CHECK (typeof(sha256) = 'blob' AND length(sha256) = 32),
        PRIMARY KEY (epoch, kind, id)
    )""",
)


class RewardLedger:
    """Open with `RewardLedger.open`; see the module doc. Belongs to the opening thread."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn: sqlite3.Connection | None = conn
        self.path = path

    @classmethod
    def open(cls, data_dir: Path | str, *, create: bool = True) -> RewardLedger:
        """Open (creating unless ``create=False``) ``data_dir/ledger.sqlite``."""
        path = Path(data_dir) / LEDGER_FILENAME
        if not create and not path.is_file():
            raise LedgerError(f"there is no reward ledger {path}; run `coverage-net rewards "
                              "compute` first")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(f"cannot open reward ledger {path}: {exc}") from exc
        try:
            with _errors(path, "opening"):
                _prepare(conn, path)
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> RewardLedger:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- writing --------------------------------------------------------------------

    def record(self, manifest: RewardManifest,
               inputs: Mapping[str, Mapping[bytes, bytes]]) -> bool:
        """Book `manifest` and the hashes of its `inputs` (kind -> {id: sha256}).

        Returns False when this exact manifest is already booked (nothing changes);
        raises `LedgerError` when another manifest is booked for its epoch.
        """
        data, digest = manifest.to_cbor(), manifest.sha256()
        with self._transaction("booking an epoch") as conn:
            row = conn.execute("SELECT sha256 FROM epochs WHERE epoch = ?",
                               (manifest.epoch,)).fetchone()
            if row is not None:
                if bytes(row[0]) == digest:
                    return False
                raise LedgerError(
                    f"{self.path}: epoch {manifest.epoch} is already booked with manifest "
                    f"{bytes(row[0]).hex()[:16]}, not {digest.hex()[:16]}; a booked epoch "
                    "is never rewritten (run `coverage-net rewards verify`)")
            conn.execute("INSERT INTO epochs (epoch, manifest, sha256) VALUES (?, ?, ?)",
                         (manifest.epoch, data, digest))
            conn.executemany(
                f"INSERT INTO payouts (epoch, account, {', '.join(_PAYOUT_COLUMNS)}) "
                f"VALUES (?, ?, {', '.join('?' * len(_PAYOUT_COLUMNS))})",
                [(manifest.epoch, p.account, *(getattr(p, c) for c in _PAYOUT_COLUMNS))
                 for p in manifest.payouts])
            conn.executemany(
                "INSERT INTO balances (account, amount) VALUES (?, ?) ON CONFLICT (account) "
                "DO UPDATE SET amount = amount + excluded.amount",
                [(p.account, p.total) for p in manifest.payouts if p.total])
            for kind, hashes in sorted(inputs.items()):
                conn.executemany(
                    "INSERT INTO inputs (epoch, kind, id, sha256) VALUES (?, ?, ?, ?)",
                    [(manifest.epoch, kind, i, h) for i, h in sorted(hashes.items())])
        logger.info("booked epoch %d: manifest %s, %d payouts", manifest.epoch,
                    digest.hex()[:16], len(manifest.payouts))
        return True

    # -- reading --------------------------------------------------------------------

    def epochs(self) -> list[int]:
        return [r[0] for r in self._read("SELECT epoch FROM epochs ORDER BY epoch")]

    def manifest(self, epoch: int) -> RewardManifest:
        """The booked manifest of `epoch`, checked against its stored hash."""
        rows = self._read("SELECT manifest, sha256 FROM epochs WHERE epoch = ?", (epoch,))
        if not rows:
            booked = self.epochs()
            span = f"{booked[0]}..{booked[-1]}" if booked else "none"
            raise LedgerError(f"{self.path}: epoch {epoch} is not booked (booked: {span})")
        data, digest = bytes(rows[0][0]), bytes(rows[0][1])
        if hashlib.sha256(data).digest() != digest:
            raise LedgerError(f"{self.path}: the stored manifest of epoch {epoch} does not "
                              "hash to its stored sha256 (the file was altered)")
        try:
            return RewardManifest.from_cbor(data)
        except ManifestError as exc:
            raise LedgerError(f"{self.path}: epoch {epoch}: {exc}") from exc

    def payouts(self, epoch: int) -> dict[str, Payout]:
        """The payout rows booked for `epoch`, by account (as the table holds them)."""
        rows = self._read(f"SELECT account, {', '.join(_PAYOUT_COLUMNS)} FROM payouts "
                          "WHERE epoch = ? ORDER BY account", (epoch,))
        return {r[0]: Payout(r[0], *r[1:]) for r in rows}

    def account_history(self, account: str) -> list[tuple[int, Payout]]:
        """(epoch, payout) of every booked epoch that paid `account`, oldest first."""
        rows = self._read(f"SELECT epoch, account, {', '.join(_PAYOUT_COLUMNS)} FROM payouts "
                          "WHERE account = ? ORDER BY epoch", (account,))
        return [(r[0], Payout(r[1], *r[2:])) for r in rows]

    def balances(self) -> dict[str, int]:
        return dict(self._read("SELECT account, amount FROM balances ORDER BY account"))

    def input_hashes(self, epoch: int, kind: str) -> dict[bytes, bytes]:
        rows = self._read("SELECT id, sha256 FROM inputs WHERE epoch = ? AND kind = ?",
                          (epoch, kind))
        return {bytes(i): bytes(h) for i, h in rows}

    # -- internals ------------------------------------------------------------------

    def _read(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple]:
        with _errors(self.path, "reading"):
            return self._connection().execute(sql, args).fetchall()

    @contextlib.contextmanager
    def _transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        with _errors(self.path, action):
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise LedgerError(f"reward ledger {self.path} is closed")
        return self._conn


@contextlib.contextmanager
def _errors(path: Path, action: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise LedgerError(f"{action} failed on reward ledger {path}: {exc}") from exc


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
        raise LedgerError(f"{path}: the reward ledger is damaged (PRAGMA quick_check)")
    app, version = (conn.execute("PRAGMA application_id").fetchone()[0],
                    conn.execute("PRAGMA user_version").fetchone()[0])
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if app != _APPLICATION_ID and (app != 0 or tables):
        raise LedgerError(f"{path} is an SQLite file but not a coverage-net reward ledger")
    if version > _SCHEMA_VERSION:
        raise LedgerError(f"{path} has ledger schema {version}; this coverage-net knows "
                          f"up to {_SCHEMA_VERSION} (upgrade coverage-net)")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise LedgerError(f"{path}: cannot use WAL mode (SQLite chose {mode!r})")
    conn.execute("PRAGMA synchronous = FULL")  # a booked epoch survives a power cut
    conn.execute("PRAGMA foreign_keys = ON")
    if version == 0:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] != 0:  # another process won
                conn.execute("ROLLBACK")
                return
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {_APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
