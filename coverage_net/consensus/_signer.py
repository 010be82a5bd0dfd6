"""`VoteSigner`: a validator never signs two different things for one (height, round, step).

A byzantine fault need not be malice: a validator that crashes after sending a
prevote and, on restart, prevotes for something else in the same round has
equivocated all the same. So the signer writes what it is about to sign to an SQLite
file (WAL, ``synchronous=FULL``: the commit is fsync'd) before it signs, and checks
every request against that record:

- nothing recorded for (height, round, step): record it durably, then sign;
- the same value recorded: sign again and return the same signature (ed25519 is
  deterministic), so a crash between the record and the send costs nothing;
- a different value recorded: refuse with `DoubleSignError`.

A proposal's value is its block id and its valid round: both must match. The file
is bound to one validator key and one genesis; opening it with another is an error
(`SignerStateError`), since a record for another chain protects nothing here.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from coverage_net.identity import Keypair

from ._errors import DoubleSignError, GenesisError, InvalidVoteError, SignerStateError
from ._genesis import Genesis
from ._sqlite import DurableFile, connect_durable
from ._types import Proposal, Step, Vote, VoteKind
from ._wire import SignedProposal, SignedVote

__all__ = ["SIGNER_FILE_NAME", "SignedRecord", "VoteSigner"]

logger = logging.getLogger(__name__)

SIGNER_FILE_NAME = "consensus-signer.sqlite3"
"""The signer's file inside the node's data directory."""
_STEP_OF_KIND = {VoteKind.PREVOTE: Step.PREVOTE, VoteKind.PRECOMMIT: Step.PRECOMMIT}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS signer_meta (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS signed (
    height INTEGER NOT NULL,
    round INTEGER NOT NULL,
    step INTEGER NOT NULL,
    value_id BLOB,
    valid_round INTEGER,
    PRIMARY KEY (height, round, step)
) WITHOUT ROWID;
"""


class SignedRecord(NamedTuple):
    """One thing the signer signed: `value_id` None is a nil vote; `valid_round` is None
    for votes."""

    height: int
    round: int
    step: Step
    value_id: bytes | None
    valid_round: int | None


class VoteSigner(DurableFile):
    """Signs votes and proposals for one validator, never two different ones for one
    (height, round, step), across crashes and restarts. Open with `VoteSigner.open`."""

    def __init__(self, connection: sqlite3.Connection, path: Path, keypair: Keypair,
                 genesis: Genesis, index: int | None) -> None:
        super().__init__(connection, path)
        self._keypair = keypair
        self.genesis = genesis
        self.index = index

    @classmethod
    def open(cls, data_dir: str | os.PathLike[str], keypair: Keypair,
             genesis: Genesis, *, joining: bool = False) -> VoteSigner:
        """Open (or create) the signer's file in `data_dir` for `keypair` on `genesis`.

        `genesis` is the chain's own record (the file is bound to its hash); a key that is
        not among its validators gets SignerStateError unless `joining` (a validator a
        change adds later: it signs nothing until `rebind` is given a set that holds it)."""
        index = _index_in(genesis, keypair.public_key)
        if index is None and not joining:
            raise SignerStateError(f"cannot sign for this chain: key "
                                   f"{keypair.public_key.hex()[:16]}... is not a validator of "
                                   f"chain {genesis.chain_id!r}")
        path = Path(data_dir) / SIGNER_FILE_NAME
        db: sqlite3.Connection | None = None
        try:
            db = connect_durable(path)
            _prepare(db, path, keypair.public_key, genesis)
        except (OSError, sqlite3.Error, SignerStateError) as exc:
            if db is not None:
                db.close()
            if isinstance(exc, SignerStateError):
                raise
            raise SignerStateError(f"the signer's record {path} is unreadable ({exc}); do not "
                                   "sign until it is restored: a new one could equivocate"
                                   ) from None
        logger.info("signer open", extra={"path": str(path), "validator": index,
                                          "chain_id": genesis.chain_id})
        return cls(db, path, keypair, genesis, index)

    def rebind(self, config: Genesis) -> None:
        """Sign from now on as a validator of `config` (the validators in office at the
        heights about to start, `ChainStore.genesis_at`): its index there, or none.
        The record of what was signed is kept: heights only grow, so no vote of the old
        set can be signed again."""
        self.genesis, self.index = config, _index_in(config, self._keypair.public_key)

    # --- signing ----------------------------------------------------------------------

    def sign_vote(self, vote: Vote) -> SignedVote:
        """`vote` signed, after its (height, round, step, value) is durably recorded;
        DoubleSignError if a different value was signed there before."""
        self._check_sender(vote.sender, "vote")
        unsigned = SignedVote.unsigned(vote, self.genesis)  # checks the fields first
        self._claim(SignedRecord(vote.height, vote.round, _STEP_OF_KIND[VoteKind(vote.kind)],
                                 vote.value_id, None))
        return unsigned.sign(self._keypair)

    def sign_proposal(self, proposal: Proposal) -> SignedProposal:
        """`proposal` signed, after it is durably recorded; DoubleSignError if another
        block or valid round was proposed for its (height, round) before."""
        self._check_sender(proposal.sender, "proposal")
        unsigned = SignedProposal.unsigned(proposal, self.genesis)
        self._claim(SignedRecord(proposal.height, proposal.round, Step.PROPOSE,
                                 proposal.value_id, proposal.valid_round))
        return unsigned.sign(self._keypair)

    def records(self) -> Iterator[SignedRecord]:
        """Everything signed so far, by (height, round, step)."""
        rows = self._db.execute("SELECT height, round, step, value_id, valid_round FROM signed "
                                "ORDER BY height, round, step").fetchall()
        for height, round_, step, value_id, valid_round in rows:
            yield SignedRecord(height, round_, Step(step), value_id, valid_round)

    def _check_sender(self, sender: int, what: str) -> None:
        if self.index is None:
            raise InvalidVoteError(f"this signer's key is not a validator of the set in "
                                   f"office; it signs no {what}")
        if sender != self.index:
            raise InvalidVoteError(f"this signer is validator {self.index}; the {what} is from "
                                   f"validator {sender}")

    def _claim(self, record: SignedRecord) -> None:
        """Record `record` durably, or find it already recorded; DoubleSignError if another
        value is. One immediate transaction, so two processes on one file cannot race."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT value_id, valid_round FROM signed WHERE height = ? AND "
                             "round = ? AND step = ?",
                             (record.height, record.round, int(record.step))).fetchone()
            if row is None:
                db.execute("INSERT INTO signed (height, round, step, value_id, valid_round) "
                           "VALUES (?, ?, ?, ?, ?)",
                           (record.height, record.round, int(record.step), record.value_id,
                            record.valid_round))
            db.execute("COMMIT")  # synchronous=FULL: durable before anything is signed
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if row is not None and tuple(row) != (record.value_id, record.valid_round):
            logger.warning("double sign refused", extra={
                "height": record.height, "round": record.round, "step": record.step.name})
            raise DoubleSignError(
                f"validator {self.index} already signed {record.step.name.lower()} at height "
                f"{record.height} round {record.round} for {_shown(*row)}; refusing to sign "
                f"{_shown(record.value_id, record.valid_round)}")


def _index_in(genesis: Genesis, key: bytes) -> int | None:
    try:
        return genesis.index_of(key)
    except GenesisError:
        return None


def _prepare(db: sqlite3.Connection, path: Path, key: bytes, genesis: Genesis) -> None:
    db.executescript(_SCHEMA)
    expected = {"validator_key": key, "chain_hash": genesis.hash()}
    db.execute("BEGIN IMMEDIATE")
    try:
        for name, value in expected.items():
            db.execute("INSERT OR IGNORE INTO signer_meta (name, value) VALUES (?, ?)",
                       (name, value))
        found = dict(db.execute("SELECT name, value FROM signer_meta").fetchall())
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    for name, value in expected.items():
        if found.get(name) != value:
            raise SignerStateError(
                f"{path} records what {name} {bytes(found[name]).hex()[:16]}... signed, not "
                f"{value.hex()[:16]}...; use the data directory of this validator and chain")


def _shown(value_id: bytes | None, valid_round: int | None) -> str:
    value = "nil" if value_id is None else f"{bytes(value_id).hex()[:16]}..."
    return value if valid_round is None else f"{value} (valid round {valid_round})"
