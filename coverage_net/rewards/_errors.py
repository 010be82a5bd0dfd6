"""Errors of the rewards: `RewardsError` is the package's base."""

from __future__ import annotations

from coverage_net.errors import CoverageNetError

__all__ = ["LedgerError", "ManifestError", "RewardsError"]


class RewardsError(CoverageNetError):
    """Base of every error raised by `coverage_net.rewards`."""


class ManifestError(RewardsError, ValueError):
    """Bytes that are not a reward manifest's canonical encoding, or a manifest that does
    not add up (payouts plus remainder not equal to the emission)."""


class LedgerError(RewardsError):
    """The ledger file is unreadable, not a ledger, or refuses a write (an epoch recorded
    twice with different payouts); the message names the file and the epoch."""
