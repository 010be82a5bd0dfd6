"""Errors of proof-of-coverage: `PocError` is the package's base."""

from __future__ import annotations

from coverage_net.errors import CoverageNetError

__all__ = ["BeaconError", "ParamsError", "PocError", "SecretError", "SelectionError"]


class PocError(CoverageNetError):
    """Base of every error raised by `coverage_net.poc`."""


class ParamsError(PocError):
    """The network parameters are unreadable or wrong; the message names the key path."""


class SelectionError(PocError):
    """Challenge selection was given bad input (entropy, epoch or keys)."""


class SecretError(PocError, ValueError):
    """A challenge secret of the wrong size, or a sealed secret that cannot be opened."""


class BeaconError(PocError, ValueError):
    """A beacon that cannot be derived (bad input, or no room within the dwell time)."""
