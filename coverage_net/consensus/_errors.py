"""Errors of consensus: `ConsensusError` is the package's base."""

from __future__ import annotations

from coverage_net.errors import CoverageNetError

__all__ = ["ConsensusError"]


class ConsensusError(CoverageNetError):
    """Base of every error raised by `coverage_net.consensus`."""
