"""Stored verdicts: the verifier's decision on each report, as bytes plus indexed columns.

The store does not know what a verdict is (it stands below ``poc`` in the layers): it keeps
the verdict's canonical encoding (``body``) and, beside it, the plain columns operators
and the rewarder look verdicts up by. A verdict is recomputed when late reports arrive,
so putting one replaces the stored verdict of the same report.
"""

from __future__ import annotations

import sqlite3
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ._errors import (
    AmbiguousReportIdError,
    InvalidInputError,
    MessageTooLargeError,
    VerdictNotFoundError,
)
from ._message import (
    CONTENT_ID_BYTES,
    check_content_id,
    check_text,
    check_uint64,
    where_equal,
)

MAX_VERDICT_BODY_BYTES = 1 << 16
"""Largest verdict encoding accepted (a verdict with every neighbour listed is far smaller)."""

MIN_PREFIX_HEX_CHARS = 8
"""Shortest report id prefix `verdict_row_by_prefix` accepts (32 bits: rarely ambiguous)."""

_BYTES_LIKE = (bytes, bytearray, memoryview)
_HEX_DIGITS = frozenset(string.hexdigits)
_SHOWN_MATCHES = 3  # ids named in an ambiguity error

_COLUMNS = ("report_id, challenge_id, epoch, report_type, hotspot_key, valid, reason, "
                   "rewarded, body")
EPOCH_INDEX = 2
"""Where the epoch is in a row of `verdict_params`."""
_UPSERT = (f"INSERT INTO verdicts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
           "ON CONFLICT (report_id) DO UPDATE SET challenge_id = excluded.challenge_id, "
           "epoch = excluded.epoch, report_type = excluded.report_type, "
           "hotspot_key = excluded.hotspot_key, valid = excluded.valid, "
           "reason = excluded.reason, rewarded = excluded.rewarded, body = excluded.body")


@dataclass(frozen=True, slots=True)
class VerdictRow:
    """One stored verdict: its canonical encoding (``body``) and the columns it is found by.

    ``report_id`` and ``challenge_id`` are content ids; ``hotspot_key`` is the public
    key of the hotspot that filed the report; ``reason`` is the verdict's reason code.
    Construction checks types and ranges (`InvalidInputError`); the caller keeps the
    columns consistent with ``body`` (the store cannot decode it).
    """

    report_id: bytes
    challenge_id: bytes
    epoch: int
    report_type: str
    hotspot_key: bytes
    valid: bool
    reason: str
    rewarded: bool
    body: bytes = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "report_id", check_content_id(self.report_id, "report_id"))
        object.__setattr__(self, "challenge_id",
                           check_content_id(self.challenge_id, "challenge_id"))
        check_uint64(self.epoch, "epoch")
        check_text(self.report_type, "report_type")
        object.__setattr__(self, "hotspot_key", _check_blob(self.hotspot_key, "hotspot_key"))
        for name in ("valid", "rewarded"):
            value = getattr(self, name)
            if type(value) is not bool:
                # SQLite hands back 0/1: accept exactly those, as a bool
                if type(value) is not int or value not in (0, 1):
                    raise InvalidInputError(f"{name} must be a bool, got {value!r}")
                object.__setattr__(self, name, bool(value))
        check_text(self.reason, "reason")
        if self.rewarded and not self.valid:
            raise InvalidInputError("rewarded must be False for an invalid report")
        object.__setattr__(self, "body", _check_blob(self.body, "body"))


def _check_blob(value: object, name: str) -> bytes:
    if not isinstance(value, _BYTES_LIKE):
        raise InvalidInputError(f"{name} must be bytes, got {type(value).__name__}")
    if not value:
        raise InvalidInputError(f"{name} must not be empty")
    return bytes(value)


def verdict_params(rows: Iterable[VerdictRow]) -> list[tuple[Any, ...]]:
    """Check every row (type, body size) before anything is written; SQL parameters."""
    params = []
    for index, row in enumerate(rows):
        if not isinstance(row, VerdictRow):
            raise InvalidInputError(
                f"put_verdicts item {index} is a {type(row).__name__}, not a VerdictRow")
        if len(row.body) > MAX_VERDICT_BODY_BYTES:
            raise MessageTooLargeError(f"verdict body is {len(row.body)} bytes; the limit is "
                                       f"{MAX_VERDICT_BODY_BYTES}")
        params.append((row.report_id, row.challenge_id, row.epoch, row.report_type,
                       row.hotspot_key, row.valid, row.reason, row.rewarded, row.body))
    return params


def upsert(conn: sqlite3.Connection, params: list[tuple[Any, ...]]) -> None:
    """Write the rows, replacing stored verdicts of the same reports (caller's transaction)."""
    conn.executemany(_UPSERT, params)


def select_one(conn: sqlite3.Connection, report_id: bytes) -> VerdictRow | None:
    rid = check_content_id(report_id, "report_id")
    row = conn.execute(f"SELECT {_COLUMNS} FROM verdicts WHERE report_id = ?",
                       (rid,)).fetchone()
    return None if row is None else VerdictRow(*row)


def count_by_reason(conn: sqlite3.Connection) -> dict[tuple[str, str, bool], int]:
    """How many verdicts are stored per (report type, reason, valid): one grouped scan."""
    rows = conn.execute("SELECT report_type, reason, valid, COUNT(*) FROM verdicts "
                        "GROUP BY report_type, reason, valid").fetchall()
    return {(report_type, reason, bool(valid)): n for report_type, reason, valid, n in rows}


def select_many(conn: sqlite3.Connection, epoch: int | None,
                hotspot_key: bytes | None) -> list[VerdictRow]:
    where, params = where_equal({
        "hotspot_key": None if hotspot_key is None else _check_blob(hotspot_key, "hotspot_key"),
        "epoch": None if epoch is None else check_uint64(epoch, "epoch")})
    rows = conn.execute(f"SELECT {_COLUMNS} FROM verdicts{where} "
                        "ORDER BY epoch, report_id", params).fetchall()
    return [VerdictRow(*row) for row in rows]


def select_by_prefix(conn: sqlite3.Connection, prefix_hex: str, store_name: str) -> VerdictRow:
    """The one verdict whose report id starts with ``prefix_hex`` (an index range scan)."""
    prefix = _check_prefix(prefix_hex)
    # Ids starting with the prefix lie in [prefix padded with 0s, prefix padded with fs].
    odd = len(prefix) % 2
    low = bytes.fromhex(prefix + "0" * odd)
    high = _successor(bytes.fromhex(prefix + "f" * odd))
    sql = f"SELECT {_COLUMNS} FROM verdicts WHERE report_id >= ?"
    params: list[Any] = [low]
    if high is not None:
        sql += " AND report_id < ?"
        params.append(high)
    rows = conn.execute(f"{sql} ORDER BY report_id LIMIT ?",
                        (*params, _SHOWN_MATCHES + 1)).fetchall()
    if not rows:
        raise VerdictNotFoundError(prefix, store_name)
    if len(rows) > 1:
        raise AmbiguousReportIdError(prefix, [row[0].hex() for row in rows[:_SHOWN_MATCHES]],
                                     more=len(rows) > _SHOWN_MATCHES)
    return VerdictRow(*rows[0])


def _check_prefix(prefix_hex: object) -> str:
    if not isinstance(prefix_hex, str):
        raise InvalidInputError(
            f"report id must be a hexadecimal str, got {type(prefix_hex).__name__}")
    longest = 2 * CONTENT_ID_BYTES
    if not MIN_PREFIX_HEX_CHARS <= len(prefix_hex) <= longest:
        raise InvalidInputError(
            f"report id {prefix_hex!r} must be {MIN_PREFIX_HEX_CHARS} to {longest} hexadecimal "
            f"characters (a prefix of the id), got {len(prefix_hex)}")
    if not set(prefix_hex) <= _HEX_DIGITS:
        raise InvalidInputError(
            f"report id {prefix_hex!r} is not hexadecimal (use only 0-9 and a-f)")
    return prefix_hex.lower()


def _successor(value: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with ``value``."""
    stripped = value.rstrip(b"\xff")
    if not stripped:
        return None  # all 0xff: no upper bound
    return stripped[:-1] + bytes([stripped[-1] + 1])
