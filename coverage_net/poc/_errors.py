"""Errors of proof-of-coverage: `PocError` is the package's base."""

from coverage_net.errors import CoverageNetError

__all__ = ["ParamsError", "PocError", "SelectionError"]


class PocError(CoverageNetError):
    """Base of every error raised by `coverage_net.poc`."""


class ParamsError(PocError):
    """The network parameters are unreadable or wrong; the message names the key path."""


class SelectionError(PocError):
    """Challenge selection was given bad input (entropy, epoch or keys)."""
