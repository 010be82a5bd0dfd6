"""The chain: finalized blocks with their quorum certificates and the balances after each.

One SQLite file, ``chain.sqlite`` in the node's data directory (WAL, synchronous=FULL).
A block is appended with its certificate, the payouts of its rewards and the evidence it
includes, in one transaction, committed before `append` returns; heights follow one
another and each block names the one before (the genesis hash for height 0).
`verify_chain` checks a whole chain with the genesis alone: every link, every header
hash, every certificate (with the validators in office at its height, replayed from the
changes the chain includes: `genesis_at`), every state root against the balances replayed
from the stored payouts, every piece of evidence against its block's `evidence_root`,
every change against its approvals and `changes_root`, and the verdict leaves kept with
a block adopted from peers against its `verdicts_root`.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ._block import VERDICT_LEAF_BYTES, Block, state_root, verdicts_root
from ._certificate import QuorumCertificate
from ._change import ApprovedChange, changes_root, check_changes, effective_config
from ._errors import BlockError, CertificateError, ConsensusError, EvidenceError, GenesisError
from ._evidence import Evidence, evidence_root
from ._genesis import Genesis
from ._sqlite import DurableFile, connect_durable

__all__ = ["CHAIN_FILE_NAME", "ChainBlock", "ChainError", "ChainStore", "verify_chain"]

logger = logging.getLogger(__name__)

CHAIN_FILE_NAME = "chain.sqlite"
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS blocks (
        height      INTEGER PRIMARY KEY CHECK (height >= 0),
        block_id    BLOB NOT NULL CHECK (length(block_id) = 32),
        header      BLOB NOT NULL,
        certificate BLOB NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS payouts (
        height  INTEGER NOT NULL REFERENCES blocks (height),
        account TEXT NOT NULL,
        amount  INTEGER NOT NULL CHECK (amount >= 0),
        PRIMARY KEY (height, account)
    )""",
    """CREATE INDEX IF NOT EXISTS payouts_by_account ON payouts (account)""",
    """CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS changes (
        hash    BLOB PRIMARY KEY CHECK (length(hash) = 32),
        height  INTEGER NOT NULL REFERENCES blocks (height),
        body    BLOB NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS evidence (
        hash    BLOB PRIMARY KEY CHECK (length(hash) = 32),
        height  INTEGER NOT NULL REFERENCES blocks (height),
        body    BLOB NOT NULL
    ) WITHOUT ROWID""",
    # the verdict leaves of a block adopted from peers (`ChainApp.adopt`): its own store
    # judged the epoch otherwise, so they cannot be rebuilt from it to serve the block
    """CREATE TABLE IF NOT EXISTS block_leaves (
        height  INTEGER PRIMARY KEY REFERENCES blocks (height),
        leaves  BLOB NOT NULL
    )""",
)


class ChainError(ConsensusError):
    """The chain file is unreadable, belongs to another genesis, or refuses a block that
    does not follow; the message names the height."""


@dataclass(frozen=True)
class ChainBlock:
    """A finalized block as stored: header, certificate, what it paid, the evidence it
    includes (in hash order)."""

    block: Block
    certificate: QuorumCertificate
    payouts: Mapping[str, int]
    evidence: tuple[Evidence, ...] = ()
    changes: tuple[ApprovedChange, ...] = ()


class ChainStore(DurableFile):
    """Open with `ChainStore.open(data_dir, genesis)` (see the module doc)."""

    def __init__(self, connection: sqlite3.Connection, path: Path, genesis: Genesis) -> None:
        super().__init__(connection, path)
        self.genesis = genesis
        self._configs: list[tuple[int, Genesis]] | None = None
        """(effective height, validators and parameters from then), by height; None
        until read (again, after a block with changes)."""

    @classmethod
    def open(cls, data_dir: str | Path, genesis: Genesis, *, create: bool = True) -> ChainStore:
        path = Path(data_dir) / CHAIN_FILE_NAME
        if not create and not path.is_file():
            raise ChainError(f"there is no chain {path}: this node has finalized nothing yet")
        try:
            db = connect_durable(path)
            for statement in _SCHEMA:
                db.execute(statement)
            row = db.execute("SELECT value FROM meta WHERE key = 'genesis'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta (key, value) VALUES ('genesis', ?)",
                           (genesis.hash(),))
            elif bytes(row[0]) != genesis.hash():
                db.close()
                raise ChainError(f"{path} is the chain of genesis {bytes(row[0]).hex()[:16]}, "
                                 f"not of {genesis.hash().hex()[:16]} ({genesis.chain_id!r})")
        except (OSError, sqlite3.Error) as exc:
            raise ChainError(f"cannot open the chain {path}: {exc}") from None
        return cls(db, path, genesis)

    # -- writing --------------------------------------------------------------------

    def append(self, block: Block, certificate: QuorumCertificate,
               payouts: Mapping[str, int], evidence: Sequence[Evidence] = (),
               changes: Sequence[ApprovedChange] = (), *,
               leaves: Sequence[bytes] | None = None) -> None:
        """Add the next block; ChainError if it does not follow, its certificate is not
        a quorum's for it (checked with the validators in office at its height), or
        `evidence` / `changes` / `leaves` are not what its header's roots commit to.

        `leaves`: its verdict leaves, kept only when this node's store cannot rebuild
        them (a block fetched from peers), so that it can serve the block in turn."""
        height = self.height() + 1
        if block.height != height:
            raise ChainError(f"block {block.height} does not follow: the chain is at height "
                             f"{height - 1}")
        if block.prev_block_id != self.last_block_id():
            raise ChainError(f"block {height} names block {block.prev_block_id.hex()[:16]} as "
                             f"the one before; the chain's is {self.last_block_id().hex()[:16]}")
        self._check_certificate(block, certificate)
        if evidence_root(evidence) != block.evidence_root:
            raise ChainError(f"block {height}: the evidence given is not what its "
                             "evidence_root commits to")
        if changes_root(changes) != block.changes_root:
            raise ChainError(f"block {height}: the changes given are not what its "
                             "changes_root commits to")
        if leaves is not None and (len(leaves) != block.verdict_count
                                   or verdicts_root(leaves) != block.verdicts_root):
            raise ChainError(f"block {height}: the verdict leaves given are not what its "
                             "verdicts_root commits to")
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT INTO blocks VALUES (?, ?, ?, ?)",
                             (height, block.block_id(), block.to_cbor(), certificate.to_cbor()))
            self._db.executemany("INSERT INTO payouts VALUES (?, ?, ?)",
                                 [(height, a, v) for a, v in sorted(payouts.items()) if v])
            self._db.executemany("INSERT INTO evidence VALUES (?, ?, ?)",
                                 [(e.hash(), height, e.to_cbor()) for e in evidence])
            self._db.executemany("INSERT INTO changes VALUES (?, ?, ?)",
                                 [(c.hash(), height, c.to_cbor()) for c in changes])
            if leaves is not None:
                self._db.execute("INSERT INTO block_leaves VALUES (?, ?)",
                                 (height, b"".join(leaves)))
        if changes:
            self._configs = None
            for c in changes:
                logger.warning("block %d includes change %s: from height %d, %s", height,
                               c.hash().hex()[:16], c.change.effective_height, _described(c))
        logger.info("block %d appended: %s", height, block.block_id().hex()[:16])

    def _check_certificate(self, block: Block, qc: QuorumCertificate) -> None:
        if (qc.height, qc.block_id) != (block.height, block.block_id()):
            raise ChainError(f"block {block.height}: the certificate is for height {qc.height} "
                             f"block {qc.block_id.hex()[:16]}, not this block")
        try:
            qc.verify(self.genesis_at(block.height))
        except CertificateError as exc:
            raise ChainError(f"block {block.height}: {exc}") from None

    # -- reading --------------------------------------------------------------------

    def genesis_at(self, height: int) -> Genesis:
        """The validators and parameters' digest in office at `height`: the genesis with
        every change the chain's blocks include that is effective by then. Final for
        heights up to the chain's height + 2 (a change takes effect 2 heights after its
        block at the earliest)."""
        if self._configs is None:
            changes = [c.change for c in self.changes()]
            heights = sorted({c.effective_height for c in changes})
            self._configs = [(h, effective_config(self.genesis, changes, h)) for h in heights]
        config = self.genesis
        for effective, at in self._configs:
            if effective > height:
                break
            config = at
        return config

    def changes(self, height: int | None = None) -> tuple[ApprovedChange, ...]:
        """The changes the blocks include (of block `height` only, if given), by height
        and hash."""
        where, args = ("WHERE height = ?", (height,)) if height is not None else ("", ())
        try:
            return tuple(ApprovedChange.from_cbor(bytes(b)) for (b,) in self._db.execute(
                f"SELECT body FROM changes {where} ORDER BY height, hash", args))
        except GenesisError as exc:
            raise ChainError(f"{self.path}: a stored change is unreadable: {exc}") from None

    def included_changes(self) -> set[bytes]:
        """Hashes of every change the chain's blocks include."""
        return {bytes(h) for (h,) in self._db.execute("SELECT hash FROM changes")}

    def height(self) -> int:
        """The last finalized height (-1 when none)."""
        row = self._db.execute("SELECT max(height) FROM blocks").fetchone()
        return -1 if row[0] is None else row[0]

    def last_block_id(self) -> bytes:
        """The id the next block must name: the last block's, or the genesis hash."""
        row = self._db.execute("SELECT block_id FROM blocks ORDER BY height DESC LIMIT 1"
                               ).fetchone()
        return self.genesis.hash() if row is None else bytes(row[0])

    def get(self, height: int) -> ChainBlock:
        row = self._db.execute("SELECT header, certificate FROM blocks WHERE height = ?",
                               (height,)).fetchone()
        if row is None:
            raise ChainError(f"{self.path}: no block at height {height} (the chain is at "
                             f"{self.height()})")
        try:
            block = Block.from_cbor(bytes(row[0]))
            qc = QuorumCertificate.from_cbor(bytes(row[1]))
        except (BlockError, CertificateError) as exc:
            raise ChainError(f"{self.path}: block {height} is unreadable: {exc}") from None
        payouts = dict(self._db.execute("SELECT account, amount FROM payouts WHERE height = ?",
                                        (height,)).fetchall())
        try:
            evidence = tuple(Evidence.from_cbor(bytes(b)) for (b,) in self._db.execute(
                "SELECT body FROM evidence WHERE height = ? ORDER BY hash", (height,)))
        except EvidenceError as exc:
            raise ChainError(f"{self.path}: block {height}'s evidence is unreadable: "
                             f"{exc}") from None
        return ChainBlock(block, qc, payouts, evidence, self.changes(height))

    def leaves(self, height: int) -> tuple[bytes, ...] | None:
        """The verdict leaves kept with block `height` (None: the block was built here, its
        leaves are the store's verdicts of the epoch)."""
        row = self._db.execute("SELECT leaves FROM block_leaves WHERE height = ?",
                               (height,)).fetchone()
        if row is None:
            return None
        data = bytes(row[0])
        return tuple(data[i:i + VERDICT_LEAF_BYTES]
                     for i in range(0, len(data), VERDICT_LEAF_BYTES))

    def included_evidence(self) -> set[bytes]:
        """Hashes of every piece of evidence the chain's blocks include."""
        return {bytes(h) for (h,) in self._db.execute("SELECT hash FROM evidence")}

    def blocks(self) -> Iterator[ChainBlock]:
        for height in range(self.height() + 1):
            yield self.get(height)

    def balance(self, account: str) -> int:
        """One account's balance after the last block (0 when it was never paid)."""
        row = self._db.execute("SELECT sum(amount) FROM payouts WHERE account = ?",
                               (account,)).fetchone()
        return row[0] or 0

    def balances(self, upto: int | None = None) -> dict[str, int]:
        """Every account's balance after block `upto` (the last by default)."""
        upto = self.height() if upto is None else upto
        rows = self._db.execute("SELECT account, sum(amount) FROM payouts WHERE height <= ? "
                                "GROUP BY account", (upto,)).fetchall()
        return {a: v for a, v in rows if v}


def verify_chain(chain: ChainStore) -> list[str]:
    """Check a chain from genesis (see the module doc); every problem in words, in height
    order (empty: the chain holds)."""
    problems: list[str] = []
    prev = chain.genesis.hash()
    balances: dict[str, int] = {}
    included: set[bytes] = set()
    for height in range(chain.height() + 1):
        try:
            stored = chain.get(height)
        except ChainError as exc:
            problems.append(str(exc))
            break
        block, qc = stored.block, stored.certificate
        if block.height != height:
            problems.append(f"block {height}: its header says height {block.height}")
        if block.prev_block_id != prev:
            problems.append(f"block {height}: names {block.prev_block_id.hex()[:16]} as the "
                            f"block before, not {prev.hex()[:16]}")
        try:
            chain._check_certificate(block, qc)
        except ChainError as exc:
            problems.append(str(exc))
        for account, amount in stored.payouts.items():
            balances[account] = balances.get(account, 0) + amount
        if state_root(balances) != block.state_root:
            problems.append(f"block {height}: the state root is not that of the balances "
                            "replayed from genesis")
        problems.extend(_evidence_problems(chain, stored))
        leaves = chain.leaves(height)
        if leaves is not None and (len(leaves) != block.verdict_count
                                   or verdicts_root(leaves) != block.verdicts_root):
            problems.append(f"block {height}: the verdict leaves kept with it do not hash to "
                            "its verdicts_root")
        problems.extend(_change_problems(chain, stored, included))
        included |= {c.hash() for c in stored.changes}
        prev = block.block_id()
    return problems


def _evidence_problems(chain: ChainStore, stored: ChainBlock) -> list[str]:
    height = stored.block.height
    problems = []
    if evidence_root(stored.evidence) != stored.block.evidence_root:
        problems.append(f"block {height}: the stored evidence does not hash to its "
                        "evidence_root")
    for e in stored.evidence:
        try:
            e.check(chain.genesis_at(e.height))
        except EvidenceError as exc:
            problems.append(f"block {height}: {exc}")
    return problems


def _change_problems(chain: ChainStore, stored: ChainBlock, included: set[bytes]) -> list[str]:
    """A block's changes: each approved by a quorum of the validators in office at its
    height, effective 2 heights later or more, never included twice; the root matches."""
    height = stored.block.height
    try:
        check_changes(stored.changes, chain.genesis, chain.genesis_at(height), height,
                      included=included)
    except BlockError as exc:
        return [str(exc)]
    if changes_root(stored.changes) != stored.block.changes_root:
        return [f"block {height}: the stored changes do not hash to its changes_root"]
    return []


def _described(change: ApprovedChange) -> str:
    c = change.change
    parts = []
    if c.validators is not None:
        parts.append(f"{len(c.validators)} validators")
    if c.params_digest is not None:
        parts.append(f"parameters {c.params_digest.hex()[:16]}")
    return " and ".join(parts)
