"""Exceptions of `coverage_net.identity`.

Every error is an `IdentityError`. Key-file errors name the file and say what to do
about it; errors about bad key or peer-id values are also `ValueError`.
"""

from __future__ import annotations

from coverage_net.errors import CoverageNetError


class IdentityError(CoverageNetError):
    """Base class of every error raised by `coverage_net.identity`."""


class InvalidKeyError(IdentityError, ValueError):
    """A seed or public key is not 32 bytes, or a peer id is not an ed25519 peer id."""


class KeyFileError(IdentityError):
    """A key file cannot be used: missing, not a regular file, or already present on save."""


class InsecureKeyFileError(KeyFileError):
    """A key file can be read or written by group or others (it must be mode 0600)."""


class CorruptKeyFileError(KeyFileError):
    """A key file is truncated, not in the identity format, or inconsistent with itself."""
