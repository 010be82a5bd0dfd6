"""`Genesis`: the chain's first fact, from which anyone can check every later block.

It lists the validators (index i in consensus is entry i here), the digest of the
network parameters everyone must run, the entropy of the first epoch and the start
time. Its hash is in every signed vote (`SignedVote.chain_hash`), so a vote or a
quorum certificate made for one chain never verifies on another. Changes to the
validator set or the parameters go through a block, never through this file.

The file is TOML, written by hand here (it is small and the stdlib only reads TOML);
strings are restricted to characters that need no escaping, so the written file and
`Genesis.hash()` have one form.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from multiaddr import Multiaddr

from coverage_net.identity import PUBLIC_KEY_BYTES
from coverage_net.messages import canonical_dumps

from ._errors import GenesisError
from ._types import max_faulty, quorum

__all__ = ["CHAIN_ID_PATTERN", "MAX_VALIDATORS", "Genesis", "GenesisValidator", "check_validators",
           "load_genesis", "parse_toml", "save_genesis", "validators_from_tables",
           "validators_toml"]

CHAIN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""A chain id: ASCII letters, digits, ``.``, ``_``, ``-``, up to 64 characters."""
MAX_VALIDATORS = 1024
"""Bound on the validator list: a quorum certificate carries up to this many signatures."""
_HASH_BYTES = 32
_MAX_TIME_MS = 2**63 - 1
_TOP_KEYS = {"chain_id", "genesis_time_ms", "params_digest", "first_entropy", "validators"}
_VALIDATOR_KEYS = {"public_key", "multiaddr"}
_MULTIADDR_CHARS = re.compile(r"/[\x21\x23-\x5b\x5d-\x7e]*")  # printable ASCII but " and \


class GenesisValidator(NamedTuple):
    """One validator: its ed25519 public key (32 bytes) and where its node listens."""

    public_key: bytes
    multiaddr: str


@dataclass(frozen=True)
class Genesis:
    """The genesis record; construction checks every field (GenesisError names it)."""

    chain_id: str
    validators: tuple[GenesisValidator, ...]
    params_digest: bytes
    first_entropy: bytes
    genesis_time_ms: int

    def __post_init__(self) -> None:
        if not isinstance(self.chain_id, str) or not CHAIN_ID_PATTERN.fullmatch(self.chain_id):
            raise GenesisError(f"chain_id: {self.chain_id!r} must be 1-64 ASCII letters, digits, "
                               "'.', '_' or '-', starting with a letter or digit")
        for key in ("params_digest", "first_entropy"):
            value = getattr(self, key)
            if not isinstance(value, bytes | bytearray) or len(value) != _HASH_BYTES:
                raise GenesisError(f"{key}: must be {_HASH_BYTES} bytes; got {_shown(value)}")
            object.__setattr__(self, key, bytes(value))
        t_ms = self.genesis_time_ms
        if type(t_ms) is not int or not 0 <= t_ms <= _MAX_TIME_MS:
            raise GenesisError(f"genesis_time_ms: must be an integer in [0, 2**63 - 1] "
                               f"(milliseconds since the Unix epoch); got {t_ms!r}")
        object.__setattr__(self, "validators", check_validators(self.validators))

    # --- the validator set ------------------------------------------------------------

    @property
    def n(self) -> int:
        """Number of validators."""
        return len(self.validators)

    @property
    def f(self) -> int:
        """Most byzantine validators the set tolerates."""
        return max_faulty(self.n)

    @property
    def quorum(self) -> int:
        """Signatures that make a block final (2f + 1 when n = 3f + 1)."""
        return quorum(self.n)

    def index_of(self, public_key: bytes) -> int:
        """The validator index of `public_key`; GenesisError if it is not a validator."""
        index = self._index_by_key.get(bytes(public_key))
        if index is None:
            raise GenesisError(f"key {bytes(public_key).hex()[:16]}... is not a validator of "
                               f"chain {self.chain_id!r}")
        return index

    def key_of(self, index: int) -> bytes:
        """The public key of validator `index`; GenesisError if there is none."""
        if type(index) is not int or not 0 <= index < self.n:
            raise GenesisError(f"validator index {index!r} is out of range: chain "
                               f"{self.chain_id!r} has validators 0..{self.n - 1}")
        return self.validators[index].public_key

    @functools.cached_property
    def _index_by_key(self) -> dict[bytes, int]:
        return {v.public_key: i for i, v in enumerate(self.validators)}

    # --- encodings --------------------------------------------------------------------

    def to_dict(self) -> dict[str, object]:
        """The record as plain values (bytes stay bytes): what `hash()` encodes."""
        return {"chain_id": self.chain_id,
                "validators": [[v.public_key, v.multiaddr] for v in self.validators],
                "params_digest": self.params_digest,
                "first_entropy": self.first_entropy,
                "genesis_time_ms": self.genesis_time_ms}

    def hash(self) -> bytes:
        """SHA-256 of the canonical CBOR of `to_dict()`: the chain's identity in every vote."""
        return self._digest

    @functools.cached_property
    def _digest(self) -> bytes:
        return hashlib.sha256(canonical_dumps(self.to_dict())).digest()

    def to_toml(self) -> str:
        """The genesis file's text; `from_toml` reads it back to an equal record."""
        lines = [f'chain_id = "{self.chain_id}"',
                 f"genesis_time_ms = {self.genesis_time_ms}",
                 f'params_digest = "{self.params_digest.hex()}"',
                 f'first_entropy = "{self.first_entropy.hex()}"']
        return "\n".join(lines + validators_toml(self.validators)) + "\n"

    @classmethod
    def from_toml(cls, text: str) -> Genesis:
        """Parse a genesis file's text; GenesisError names the key that is wrong."""
        return cls.from_dict(parse_toml(text))

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Genesis:
        """Check parsed TOML (hex strings for bytes); GenesisError names the key."""
        _exact_keys(data, _TOP_KEYS, "genesis")
        return cls(chain_id=data["chain_id"], validators=validators_from_tables(data["validators"]),
                   params_digest=_hex(data["params_digest"], "params_digest", _HASH_BYTES),
                   first_entropy=_hex(data["first_entropy"], "first_entropy", _HASH_BYTES),
                   genesis_time_ms=data["genesis_time_ms"])


def parse_toml(text: str) -> dict[str, object]:
    """A genesis or change file's tables; GenesisError if the text is not TOML."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GenesisError(f"not valid TOML: {exc}") from None


def validators_toml(validators: tuple[GenesisValidator, ...]) -> list[str]:
    """The ``[[validators]]`` tables of a genesis or change file, line by line."""
    lines: list[str] = []
    for v in validators:
        lines += ["", "[[validators]]", f'public_key = "{v.public_key.hex()}"',
                  f'multiaddr = "{v.multiaddr}"']
    return lines


def validators_from_tables(validators: object) -> tuple[GenesisValidator, ...]:
    """The ``[[validators]]`` tables of a genesis or change file, checked for their keys
    (the values are checked by `Genesis` / `ChainChange`); GenesisError names the entry."""
    if not isinstance(validators, list):
        raise GenesisError(f"validators: must be an array of tables "
                           f"([[validators]]); got {_shown(validators)}")
    entries = []
    for i, entry in enumerate(validators):
        where = f"validators[{i}]"
        if not isinstance(entry, Mapping):
            raise GenesisError(f"{where}: must be a table; got {_shown(entry)}")
        _exact_keys(entry, _VALIDATOR_KEYS, where)
        entries.append(GenesisValidator(
            _hex(entry["public_key"], f"{where}.public_key", PUBLIC_KEY_BYTES),
            entry["multiaddr"]))
    return tuple(entries)


def load_genesis(path: str | os.PathLike[str]) -> Genesis:
    """Read a genesis file; GenesisError names the file and what is wrong in it."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise GenesisError(f"cannot read genesis {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise GenesisError(f"{path}: not UTF-8 text (byte {exc.start}); a genesis file is "
                           "TOML") from None
    try:
        return Genesis.from_toml(text)
    except GenesisError as exc:
        raise GenesisError(f"{path}: {exc}") from None


def save_genesis(genesis: Genesis, path: str | os.PathLike[str]) -> None:
    """Write the genesis file atomically (a crash leaves the old file or the new one)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(genesis.to_toml())
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def check_validators(value: object) -> tuple[GenesisValidator, ...]:
    if not isinstance(value, list | tuple) or not 1 <= len(value) <= MAX_VALIDATORS:
        raise GenesisError(f"validators: must list 1 to {MAX_VALIDATORS} validators; "
                           f"got {_shown(value)}")
    checked: list[GenesisValidator] = []
    seen: dict[bytes, int] = {}
    for i, entry in enumerate(value):
        where = f"validators[{i}]"
        if not isinstance(entry, tuple | list) or len(entry) != 2:
            raise GenesisError(f"{where}: must be (public_key, multiaddr); got {_shown(entry)}")
        key, addr = entry
        if not isinstance(key, bytes | bytearray) or len(key) != PUBLIC_KEY_BYTES:
            raise GenesisError(f"{where}.public_key: must be {PUBLIC_KEY_BYTES} bytes (an "
                               f"ed25519 public key); got {_shown(key)}")
        key = bytes(key)
        if key in seen:
            raise GenesisError(f"{where}.public_key: {key.hex()[:16]}... is already "
                               f"validators[{seen[key]}]; each validator appears once")
        seen[key] = i
        checked.append(GenesisValidator(key, _checked_multiaddr(addr, f"{where}.multiaddr")))
    return tuple(checked)


def _checked_multiaddr(value: object, where: str) -> str:
    if not isinstance(value, str) or not _MULTIADDR_CHARS.fullmatch(value):
        raise GenesisError(f"{where}: must be a libp2p multiaddr such as "
                           f"'/ip4/127.0.0.1/tcp/4001'; got {_shown(value)}")
    try:
        Multiaddr(value)
    except Exception as exc:  # the multiaddr library raises several unrelated types
        raise GenesisError(f"{where}: {value!r} is not a valid multiaddr: {exc}") from None
    return value


def _exact_keys(table: Mapping[str, object], expected: set[str], where: str) -> None:
    missing = sorted(expected - set(table))
    unknown = sorted(set(table) - expected)
    if missing:
        raise GenesisError(f"{where}: missing key(s) {', '.join(missing)}")
    if unknown:
        raise GenesisError(f"{where}: unknown key(s) {', '.join(unknown)} (expected "
                           f"{', '.join(sorted(expected))})")


def _hex(value: object, where: str, length: int) -> bytes:
    if not isinstance(value, str):
        raise GenesisError(f"{where}: must be a hex string of {length} bytes; got "
                           f"{_shown(value)}")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise GenesisError(f"{where}: {value[:80]!r} is not hex") from None
    if len(raw) != length or value != raw.hex():
        raise GenesisError(f"{where}: must be {length} bytes as {2 * length} lowercase hex "
                           f"digits; got {value[:80]!r}")
    return raw


def _shown(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return f"{len(value)} bytes"
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"
