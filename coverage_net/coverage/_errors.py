"""Exceptions of `coverage_net.coverage`."""

from __future__ import annotations

from coverage_net.errors import CoverageNetError


class CoverageError(CoverageNetError):
    """Base class of every error raised by `coverage_net.coverage`."""
