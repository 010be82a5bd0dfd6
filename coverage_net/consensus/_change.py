"""`ChainChange`: a new validator set or new network parameters, decided through a block.

The genesis fixes the first validator set and the parameters' digest; every later
change is a `ChainChange` that a quorum of the validators then in office approved, and
that a block included. The change names the first height it applies to
(`effective_height`), which must be at least `CHANGE_DELAY_HEIGHTS` (2) above the block
that includes it, as in Tendermint: when height h starts, block h - 1 is final, so every
validator knows the set of h + 1 before it can receive a vote of that height.

Approval: each approving validator signs ``CHANGE_DOMAIN || genesis hash || change
hash`` with its ed25519 key; an `ApprovedChange` carries the change and the
(public key, signature) pairs. It is valid in a block of height h only if at least a
quorum of distinct validators of the set in office at h signed it. So authority
comes from the chain itself, not from the proposer: a proposer can include a change or
leave it for a later block, never invent one, and anyone holding the genesis can replay
the validator set of every height from the chain (`ChainStore.genesis_at`).

`effective_config(genesis, changes, height)` is that replay: the genesis with the
validators and parameters' digest of every change effective at or before `height`, in
(effective height, change hash) order. Its hash (`Genesis.hash()`) differs from the
genesis's as soon as the set or the parameters do, and it is the chain hash in every
vote of those heights, so a vote or certificate made under one set never counts under
another.

Files: `ChainChange.to_toml` / `from_toml` for the change an operator writes and reviews
(the validator list has the genesis's form); approvals are one line each,
``<public key hex> <signature hex>`` (`ApprovedChange.load`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from coverage_net.identity import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, Keypair, verify_signature
from coverage_net.messages import canonical_dumps

from ._codec import check_bytes, check_int, decode_map
from ._errors import BlockError, GenesisError
from ._genesis import (
    Genesis,
    GenesisValidator,
    check_validators,
    parse_toml,
    validators_from_tables,
    validators_toml,
)
from ._merkle import merkle_root

__all__ = ["CHANGE_DELAY_HEIGHTS", "CHANGE_DOMAIN", "MAX_BLOCK_CHANGES", "ApprovedChange",
           "ChainChange", "changes_root", "check_changes", "effective_config", "load_change",
           "save_change"]

CHANGE_DOMAIN = b"coverage-net/chain-change/v1\x00"
CHANGE_DELAY_HEIGHTS = 2
"""A change included at height h applies from h + 2 at the earliest."""
MAX_BLOCK_CHANGES = 1
"""Most changes one block includes: a change with its approvals can reach 200 kB (up to
`MAX_VALIDATORS` validators, each listed and signing), and a body travels as one gossip
payload; the next block includes the next change."""
_MAX_HEIGHT = 2**63 - 1
_MAX_CHANGE_BYTES = 128 * 1024
_KEYS = frozenset({"effective_height", "validators", "params_digest"})
_APPROVED_KEYS = frozenset({"change", "approvals"})


@dataclass(frozen=True)
class ChainChange:
    """From `effective_height` on: this validator set (None: unchanged) and these
    parameters (their digest; None: unchanged). At least one of the two changes."""

    effective_height: int
    validators: tuple[GenesisValidator, ...] | None = None
    params_digest: bytes | None = None

    def __post_init__(self) -> None:
        check_int(self.effective_height, "change.effective_height", CHANGE_DELAY_HEIGHTS,
                  _MAX_HEIGHT, GenesisError)
        if self.validators is None and self.params_digest is None:
            raise GenesisError("change: it changes nothing (give validators, params_digest or "
                               "both)")
        if self.validators is not None:
            object.__setattr__(self, "validators", check_validators(self.validators))
        if self.params_digest is not None:
            object.__setattr__(self, "params_digest", check_bytes(
                self.params_digest, "change.params_digest", 32, GenesisError))

    def to_dict(self) -> dict[str, object]:
        return {"effective_height": self.effective_height,
                "validators": None if self.validators is None else
                [[v.public_key, v.multiaddr] for v in self.validators],
                "params_digest": self.params_digest}

    def to_cbor(self) -> bytes:
        return canonical_dumps(self.to_dict())

    def hash(self) -> bytes:
        """SHA-256 of the canonical CBOR: what approvals sign and `changes_root` commits to."""
        return hashlib.sha256(self.to_cbor()).digest()

    def signing_bytes(self, genesis: Genesis) -> bytes:
        """What an approving validator signs: bound to this chain and to this change."""
        return CHANGE_DOMAIN + genesis.hash() + self.hash()

    def applied_to(self, config: Genesis) -> Genesis:
        """`config` with this change's validators and parameters."""
        return replace(config,
                       validators=config.validators if self.validators is None
                       else self.validators,
                       params_digest=config.params_digest if self.params_digest is None
                       else self.params_digest)

    @classmethod
    def from_cbor(cls, data: bytes) -> ChainChange:
        body = decode_map(data, what="chain change", keys=_KEYS, max_bytes=_MAX_CHANGE_BYTES,
                          max_depth=3, error=GenesisError)
        validators = body["validators"]
        if validators is not None:
            if not isinstance(validators, list):
                raise GenesisError("chain change: validators must be null or an array")
            validators = tuple(GenesisValidator(*v) if isinstance(v, list) and len(v) == 2
                               else v for v in validators)
        return cls(body["effective_height"], validators, body["params_digest"])

    def to_toml(self) -> str:
        lines = [f"effective_height = {self.effective_height}"]
        if self.params_digest is not None:
            lines.append(f'params_digest = "{self.params_digest.hex()}"')
        return "\n".join(lines + validators_toml(self.validators or ())) + "\n"

    @classmethod
    def from_toml(cls, text: str) -> ChainChange:
        """Parse a change file; GenesisError names what is wrong."""
        data = parse_toml(text)
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise GenesisError(f"change: unknown key(s) {', '.join(unknown)} (expected "
                               f"{', '.join(sorted(_KEYS))})")
        if "effective_height" not in data:
            raise GenesisError("change: missing key effective_height")
        validators = None
        if "validators" in data:
            validators = validators_from_tables(data["validators"])
        digest = data.get("params_digest")
        if digest is not None:
            if not isinstance(digest, str):
                raise GenesisError("change.params_digest: must be a hex string of 32 bytes")
            try:
                digest = bytes.fromhex(digest)
            except ValueError:
                raise GenesisError(f"change.params_digest: {digest[:80]!r} is not hex") from None
        return cls(data["effective_height"], validators, digest)


@dataclass(frozen=True)
class ApprovedChange:
    """A change with the approvals of validators: (public key, signature) pairs in key
    order, one per key."""

    change: ChainChange
    approvals: tuple[tuple[bytes, bytes], ...]

    def __post_init__(self) -> None:
        pairs = {}
        for i, pair in enumerate(self.approvals):
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                raise GenesisError(f"approval {i}: must be (public key, signature)")
            key = check_bytes(pair[0], f"approval {i} public key", PUBLIC_KEY_BYTES,
                              GenesisError)
            pairs[key] = check_bytes(pair[1], f"approval {i} signature", SIGNATURE_BYTES,
                                     GenesisError)
        object.__setattr__(self, "approvals", tuple(sorted(pairs.items())))

    def hash(self) -> bytes:
        return self.change.hash()

    def approve(self, keypair: Keypair, genesis: Genesis) -> ApprovedChange:
        """This change with `keypair`'s approval added."""
        signature = keypair.sign(self.change.signing_bytes(genesis))
        return ApprovedChange(self.change, (*self.approvals, (keypair.public_key, signature)))

    def check(self, genesis: Genesis, in_office: Genesis, height: int) -> ApprovedChange:
        """Self if it may go into the block of `height` whose validators are those of
        `in_office` (`genesis` is the chain's own); else BlockError saying why."""
        change = self.change
        if change.effective_height < height + CHANGE_DELAY_HEIGHTS:
            raise BlockError(f"block {height}: change {self.hash().hex()[:16]} takes effect at "
                             f"height {change.effective_height}; a change goes into a block at "
                             f"least {CHANGE_DELAY_HEIGHTS} heights before")
        members = {v.public_key for v in in_office.validators}
        signing = change.signing_bytes(genesis)
        valid = 0
        for key, signature in self.approvals:
            if key not in members:
                continue  # a former or future validator's approval does not count
            if not verify_signature(key, signature, signing):
                raise BlockError(f"block {height}: change {self.hash().hex()[:16]}: the "
                                 f"approval of {key.hex()[:16]}... is not its signature of "
                                 "this change on this chain")
            valid += 1
        if valid < in_office.quorum:
            raise BlockError(f"block {height}: change {self.hash().hex()[:16]} is approved by "
                             f"{valid} of the {in_office.n} validators in office; it needs "
                             f"{in_office.quorum}")
        return self

    def to_cbor(self) -> bytes:
        return canonical_dumps({"change": self.change.to_cbor(),
                                "approvals": [list(p) for p in self.approvals]})

    @classmethod
    def from_cbor(cls, data: bytes) -> ApprovedChange:
        body = decode_map(data, what="approved change", keys=_APPROVED_KEYS,
                          max_bytes=2 * _MAX_CHANGE_BYTES, max_depth=3, error=GenesisError)
        if not isinstance(body["change"], bytes) or not isinstance(body["approvals"], list):
            raise GenesisError("approved change: change must be bytes, approvals an array")
        return cls(ChainChange.from_cbor(body["change"]), tuple(body["approvals"]))

    # -- files ---------------------------------------------------------------------

    @classmethod
    def load(cls, change_path: str | os.PathLike[str]) -> ApprovedChange:
        """A change file and its approvals (``<file>.approvals`` beside it, if any);
        GenesisError names the file and line that is wrong."""
        path = Path(change_path)
        change = load_change(path)
        approvals = []
        approvals_path = approvals_file(path)
        if approvals_path.is_file():
            for n, line in enumerate(approvals_path.read_text("utf-8").splitlines(), 1):
                if not line.strip() or line.startswith("#"):
                    continue
                try:
                    key_hex, sig_hex = line.split()
                    approvals.append((bytes.fromhex(key_hex), bytes.fromhex(sig_hex)))
                except ValueError:
                    raise GenesisError(f"{approvals_path}:{n}: expected '<public key hex> "
                                       "<signature hex>'") from None
        try:
            return cls(change, tuple(approvals))
        except GenesisError as exc:
            raise GenesisError(f"{approvals_path}: {exc}") from None

    def save_approvals(self, change_path: str | os.PathLike[str]) -> Path:
        """Write the approvals beside the change file (atomically); returns their path."""
        path = approvals_file(Path(change_path))
        text = "".join(f"{k.hex()} {s.hex()}\n" for k, s in self.approvals)
        _write_atomically(path, text)
        return path


def approvals_file(change_path: Path) -> Path:
    return change_path.with_name(change_path.name + ".approvals")


def load_change(path: str | os.PathLike[str]) -> ChainChange:
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GenesisError(f"cannot read change {path}: {exc}") from None
    try:
        return ChainChange.from_toml(text)
    except GenesisError as exc:
        raise GenesisError(f"{path}: {exc}") from None


def save_change(change: ChainChange, path: str | os.PathLike[str]) -> None:
    _write_atomically(Path(path), change.to_toml())


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def changes_root(changes: Iterable[ApprovedChange]) -> bytes:
    """The header's `changes_root`: Merkle root over the included changes' hashes, in
    hash order (the approvals are not committed: any quorum of them proves the same)."""
    return merkle_root(sorted(c.hash() for c in changes))


def check_changes(changes: Sequence[ApprovedChange], genesis: Genesis, in_office: Genesis,
                  height: int, *, included: Iterable[bytes] = ()) -> None:
    """BlockError unless `changes` may all go into the block of `height`: at most
    `MAX_BLOCK_CHANGES`, each once and in hash order, none already in the chain, each
    approved by a quorum of `in_office` and effective far enough ahead."""
    hashes = [c.hash() for c in changes]
    if len(changes) > MAX_BLOCK_CHANGES:
        raise BlockError(f"block {height}: {len(changes)} changes; a block includes at most "
                         f"{MAX_BLOCK_CHANGES}")
    if hashes != sorted(set(hashes)):
        raise BlockError(f"block {height}: its changes are not listed once each in hash order")
    already = set(hashes) & set(included)
    if already:
        raise BlockError(f"block {height}: change {sorted(already)[0].hex()[:16]} is in an "
                         "earlier block")
    for change in changes:
        change.check(genesis, in_office, height)


def effective_config(genesis: Genesis, changes: Iterable[ChainChange], height: int) -> Genesis:
    """The validators and parameters in office at `height`: `genesis` with every change
    effective at or before `height` applied, in (effective height, hash) order."""
    config = genesis
    for change in sorted((c for c in changes if c.effective_height <= height),
                         key=lambda c: (c.effective_height, c.hash())):
        config = change.applied_to(config)
    return config


GenesisAt = Callable[[int], Genesis]
"""The validators and parameters in office at a height (a chain's `genesis_at`)."""
