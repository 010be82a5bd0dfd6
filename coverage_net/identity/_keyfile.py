"""The node's key file: written atomically with mode 0600, loaded with checks.

The format is a small JSON object, so an operator can read the peer id with
``cat`` and a corrupted copy is caught rather than silently becoming another
identity::

    {"format": "coverage-net-identity", "version": 1, "key_type": "ed25519",
     "seed_hex": "<64 hex>", "public_key_hex": "<64 hex>", "peer_id": "12D3KooW..."}

The public key and peer id are redundant on purpose: loading derives them from
the seed and refuses the file when they disagree.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from coverage_net.identity._errors import (
    CorruptKeyFileError,
    InsecureKeyFileError,
    KeyFileError,
)
from coverage_net.identity._keypair import SEED_BYTES, Keypair

__all__ = ["KEY_FILE_FORMAT", "KEY_FILE_MODE", "KEY_FILE_VERSION", "load_keypair", "save_keypair"]

KEY_FILE_FORMAT = "coverage-net-identity"
KEY_FILE_VERSION = 1
KEY_FILE_MODE = 0o600
_MAX_KEY_FILE_BYTES = 64 * 1024  # a real key file is ~250 bytes; refuse to slurp anything big
_FIELDS = ("format", "version", "key_type", "seed_hex", "public_key_hex", "peer_id")
_RESTORE = "restore it from a backup (a new key means a new peer id and identity)"


def save_keypair(keypair: Keypair, path: str | os.PathLike[str], *,
                 overwrite: bool = False) -> Path:
    """Write `keypair` to `path` with mode 0600 and return the path.

    The file appears whole or not at all (temporary file, fsync, rename). An
    existing file is kept unless `overwrite` is true, because replacing it
    changes the node's identity. KeyFileError when the file exists or the
    directory is missing or not writable.
    """
    if not isinstance(keypair, Keypair):
        raise TypeError(f"keypair must be a Keypair; got {type(keypair).__name__}")
    path = Path(path)
    document = {
        "format": KEY_FILE_FORMAT,
        "version": KEY_FILE_VERSION,
        "key_type": "ed25519",
        "seed_hex": keypair.seed().hex(),
        "public_key_hex": keypair.public_key.hex(),
        "peer_id": keypair.peer_id,
    }
    text = json.dumps(document, indent=2) + "\n"
    if not overwrite and path.exists():
        raise KeyFileError(f"{path} already exists; refusing to replace an identity key "
                           "(move it away first, or pass overwrite=True)")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except FileNotFoundError:
        raise KeyFileError(f"cannot write {path}: directory {path.parent} does not exist; "
                           "create it first") from None
    except OSError as exc:
        raise KeyFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, KEY_FILE_MODE)  # mkstemp already uses 0600; do not rely on it
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        _install(tmp, path, overwrite=overwrite)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise KeyFileError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    _fsync_dir(path.parent)
    return path


def _install(tmp: Path, path: Path, *, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic and never clobbers, unlike rename
    except FileExistsError:
        raise KeyFileError(f"{path} appeared while writing; refusing to replace an identity "
                           "key (move it away first, or pass overwrite=True)") from None
    except OSError:  # a filesystem without hard links: the exists() check above must do
        os.replace(tmp, path)
        return
    tmp.unlink()


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def load_keypair(path: str | os.PathLike[str]) -> Keypair:
    """Read the keypair saved by `save_keypair`.

    KeyFileError when the file is missing or not a regular file;
    InsecureKeyFileError when group or others have any permission on it (the
    key may have leaked; fix with ``chmod 600``); CorruptKeyFileError when it is
    truncated, not this format, or its public key or peer id disagree with its
    seed. Every message names the file.
    """
    path = Path(path)
    # no symlinks; O_NONBLOCK so that a FIFO planted at the path cannot hang us
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise KeyFileError(f"no identity key file at {path}; generate one or point to the "
                           "right file") from None
    except OSError as exc:
        hint = "; symlinks are not accepted, name the file itself" \
            if exc.errno == errno.ELOOP else ""
        raise KeyFileError(f"cannot open identity key file {path}: "
                           f"{exc.strerror or exc}{hint}") from None
    info = os.fstat(fd)  # the file we opened, not whatever the path names now
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise KeyFileError(f"identity key file {path} is not a regular file")
    with os.fdopen(fd, "rb") as handle:
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise InsecureKeyFileError(
                f"identity key file {path} has mode {mode:04o}: group or others may read "
                f"or change it, so the key may have leaked; run `chmod 600 {path}` (and "
                "consider a new identity if others could read it)")
        raw = handle.read(_MAX_KEY_FILE_BYTES + 1)
    if len(raw) > _MAX_KEY_FILE_BYTES:
        raise CorruptKeyFileError(f"identity key file {path} is larger than "
                                  f"{_MAX_KEY_FILE_BYTES} bytes; it is not a key file")
    return _parse(path, raw)


def _parse(path: Path, raw: bytes) -> Keypair:
    def corrupt(what: str) -> CorruptKeyFileError:
        return CorruptKeyFileError(f"identity key file {path} is corrupt: {what}; {_RESTORE}")

    if not raw.strip():
        raise corrupt("it is empty")
    try:
        document = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # bad UTF-8, bad JSON, absurd nesting
        raise corrupt(f"not valid JSON ({exc}); truncated?") from None
    if not isinstance(document, dict):
        raise corrupt("not a JSON object")
    if document.get("format") != KEY_FILE_FORMAT:
        raise corrupt(f"format is {document.get('format')!r}, not {KEY_FILE_FORMAT!r}")
    version = document.get("version")
    if version != KEY_FILE_VERSION or isinstance(version, bool):
        # checked before the fields: another version may have other fields
        raise CorruptKeyFileError(
            f"identity key file {path} has version {version!r}; this coverage-net reads "
            f"version {KEY_FILE_VERSION} (upgrade coverage-net if the file is newer)")
    missing = [name for name in _FIELDS if name not in document]
    unknown = sorted(set(document) - set(_FIELDS))
    if missing or unknown:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
                ([f"unknown {', '.join(unknown)}"] if unknown else [])
        raise corrupt("; ".join(parts))
    if document["key_type"] != "ed25519":
        raise corrupt(f"key_type is {document['key_type']!r}; only 'ed25519' is supported")
    seed = _hex_field(document, "seed_hex", SEED_BYTES, corrupt)
    keypair = Keypair.from_seed(seed)
    if document["public_key_hex"] != keypair.public_key.hex():
        raise corrupt("public_key_hex does not match the key derived from seed_hex")
    if document["peer_id"] != keypair.peer_id:
        raise corrupt("peer_id does not match the key derived from seed_hex")
    return keypair


def _hex_field(document: dict, name: str, length: int,
               corrupt: Callable[[str], CorruptKeyFileError]) -> bytes:
    value = document[name]
    if not isinstance(value, str) or len(value) != 2 * length:
        raise corrupt(f"{name} must be {2 * length} hexadecimal characters")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise corrupt(f"{name} is not hexadecimal") from None
