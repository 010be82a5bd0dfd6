"""Exceptions of `coverage_net.poc`: every one is a `PocError`."""

from __future__ import annotations

from coverage_net.errors import CoverageNetError

__all__ = ["BeaconError", "PocError", "SecretError"]


class PocError(CoverageNetError):
    """Base class of every error raised by `coverage_net.poc`."""


class SecretError(PocError, ValueError):
    """A challenge secret of the wrong size, or a sealed secret that cannot be opened."""


class BeaconError(PocError, ValueError):
    """A beacon that cannot be derived (bad input, or no room within the dwell time)."""
