"""`Evidence` of equivocation and the `EvidenceLog` that keeps it until a block includes it.

Two signed messages by one validator for one (height, round, step) with different
values cannot both come from an honest validator (`VoteSigner` makes sure of that
for ours): two votes of one kind with different value ids, or two proposals with a
different block or valid round. The pair is its own proof: anyone with the genesis
can check both signatures and the conflict. Its canonical form orders the two
messages by content id, so whoever saw them in whatever order records the same
evidence, once, under the same hash; a block commits to a list of them with
`evidence_root`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from coverage_net.messages import MAX_MESSAGE_BYTES, MessageError, canonical_dumps

from ._codec import decode_map
from ._errors import EvidenceError, InvalidVoteError
from ._genesis import Genesis
from ._merkle import merkle_root
from ._sqlite import DurableFile, connect_durable
from ._wire import SignedProposal, SignedVote

__all__ = ["EVIDENCE_FILE_NAME", "Evidence", "EvidenceLog", "evidence_root"]

logger = logging.getLogger(__name__)

EVIDENCE_FILE_NAME = "consensus-evidence.sqlite3"
_KINDS: dict[str, type[SignedVote] | type[SignedProposal]] = {
    "vote": SignedVote, "proposal": SignedProposal}
_KEYS = frozenset({"kind", "messages"})
_MAX_BYTES = 2 * MAX_MESSAGE_BYTES + 64


@dataclass(frozen=True)
class Evidence:
    """Two conflicting signed messages of one validator, `first` before `second` by
    content id. Build with `Evidence.of(a, b)` (either order); `check` proves it."""

    first: SignedVote | SignedProposal
    second: SignedVote | SignedProposal

    def __post_init__(self) -> None:
        kinds = {type(self.first), type(self.second)}
        if len(kinds) != 1 or not kinds <= {SignedVote, SignedProposal}:
            raise EvidenceError("evidence is two SignedVotes or two SignedProposals; got "
                                f"{type(self.first).__name__} and {type(self.second).__name__}")
        if not (self.first.is_signed and self.second.is_signed):
            raise EvidenceError("evidence needs both messages signed")
        if self.first.content_id >= self.second.content_id:
            raise EvidenceError("evidence lists its two messages by content id, each once "
                                "(use Evidence.of)")

    @classmethod
    def of(cls, a: SignedVote | SignedProposal, b: SignedVote | SignedProposal) -> Evidence:
        """The evidence of `a` and `b` in canonical order; EvidenceError if they are one."""
        if a.content_id == b.content_id:
            raise EvidenceError("the two messages are the same message; no conflict")
        return cls(a, b) if a.content_id < b.content_id else cls(b, a)

    @property
    def kind(self) -> str:
        """"vote" or "proposal"."""
        return "vote" if isinstance(self.first, SignedVote) else "proposal"

    @property
    def validator_key(self) -> bytes:
        return self.first.signer_key

    @property
    def height(self) -> int:
        return self.first.height

    @property
    def round(self) -> int:
        return self.first.round

    def check(self, genesis: Genesis) -> Evidence:
        """Return self if both messages are valid on this chain, by one validator, for one
        (height, round, step), with different values; else EvidenceError saying which."""
        try:
            a, b = self.first.to_core(genesis), self.second.to_core(genesis)
        except InvalidVoteError as exc:
            raise EvidenceError(f"evidence refused: {exc}") from None
        if a.sender != b.sender:
            raise EvidenceError(f"the two {self.kind}s are by validators {a.sender} and "
                                f"{b.sender}; equivocation is one validator's")
        if isinstance(self.first, SignedVote):
            same_step = (a.kind, a.height, a.round) == (b.kind, b.height, b.round)
            same_value = a.value_id == b.value_id
        else:
            same_step = (a.height, a.round) == (b.height, b.round)
            same_value = (a.value_id, a.valid_round) == (b.value_id, b.valid_round)
        if not same_step:
            raise EvidenceError(f"validator {a.sender}'s two {self.kind}s are for different "
                                "(height, round, step); that is no conflict")
        if same_value:
            raise EvidenceError(f"validator {a.sender}'s two {self.kind}s carry the same value; "
                                "that is no conflict")
        return self

    def to_cbor(self) -> bytes:
        return canonical_dumps({"kind": self.kind,
                                "messages": [self.first.to_cbor(), self.second.to_cbor()]})

    def hash(self) -> bytes:
        """SHA-256 of `to_cbor()`: the evidence's id and its leaf in `evidence_root`."""
        return hashlib.sha256(self.to_cbor()).digest()

    @classmethod
    def from_cbor(cls, data: bytes) -> Evidence:
        """Parse evidence (not check it: `check(genesis)`); EvidenceError says what is wrong."""
        body = decode_map(data, what="evidence", keys=_KEYS, max_bytes=_MAX_BYTES,
                          max_depth=2, error=EvidenceError)
        message_type = _KINDS.get(body["kind"]) if isinstance(body["kind"], str) else None
        messages = body["messages"]
        if message_type is None:
            raise EvidenceError(f"evidence: kind must be 'vote' or 'proposal'; got "
                                f"{body['kind']!r:.40}")
        if not isinstance(messages, list) or len(messages) != 2:
            raise EvidenceError("evidence: messages must be an array of two encoded messages")
        try:
            first, second = (message_type.from_cbor(m) for m in messages)
        except (MessageError, TypeError) as exc:
            raise EvidenceError(f"evidence: {exc}") from None
        return cls(first, second)


def evidence_root(evidence: Iterable[Evidence]) -> bytes:
    """The block header's `evidence_root`: Merkle root over the evidence hashes, sorted."""
    hashes = sorted(e.hash() for e in evidence)
    if len(set(hashes)) != len(hashes):
        raise EvidenceError("a block includes each piece of evidence once")
    return merkle_root(hashes)


class EvidenceLog(DurableFile):
    """Checked evidence in SQLite, once by hash, until a block includes it."""

    @classmethod
    def open(cls, data_dir: str | os.PathLike[str]) -> EvidenceLog:
        path = Path(data_dir) / EVIDENCE_FILE_NAME
        try:
            db = connect_durable(path)
            db.execute("CREATE TABLE IF NOT EXISTS evidence (hash BLOB PRIMARY KEY, "
                       "height INTEGER NOT NULL, round INTEGER NOT NULL, kind TEXT NOT NULL, "
                       "validator_key BLOB NOT NULL, body BLOB NOT NULL, "
                       "included_height INTEGER) WITHOUT ROWID")
        except (OSError, sqlite3.Error) as exc:
            raise EvidenceError(f"cannot open the evidence log {path}: {exc}") from None
        return cls(db, path)

    def record(self, evidence: Evidence, genesis: Genesis) -> bool:
        """Check and store `evidence`; True if it is new, False if it was known."""
        evidence.check(genesis)
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO evidence (hash, height, round, kind, validator_key, body) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (evidence.hash(), evidence.height, evidence.round, evidence.kind,
             evidence.validator_key, evidence.to_cbor()))
        new = cursor.rowcount == 1
        if new:
            logger.warning("equivocation recorded", extra={
                "validator": genesis.index_of(evidence.validator_key), "kind": evidence.kind,
                "height": evidence.height, "round": evidence.round})
        return new

    def __contains__(self, evidence_hash: object) -> bool:
        return self._db.execute("SELECT 1 FROM evidence WHERE hash = ?",
                                (evidence_hash,)).fetchone() is not None

    def __len__(self) -> int:
        return self._db.execute("SELECT count(*) FROM evidence").fetchone()[0]

    def pending(self) -> list[Evidence]:
        """Evidence no block has included yet, oldest height first: for the next proposal."""
        return list(self._select("WHERE included_height IS NULL"))

    def all(self) -> list[Evidence]:
        return list(self._select(""))

    def mark_included(self, hashes: Iterable[bytes], height: int) -> None:
        """Note that the block at `height` includes these pieces of evidence."""
        self._db.executemany("UPDATE evidence SET included_height = ? WHERE hash = ?",
                             [(height, h) for h in hashes])

    def _select(self, where: str) -> Iterator[Evidence]:
        rows = self._db.execute(f"SELECT body FROM evidence {where} "
                                "ORDER BY height, round, hash").fetchall()
        for (body,) in rows:
            yield Evidence.from_cbor(body)
