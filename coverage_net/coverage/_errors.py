"""Exceptions of `coverage_net.coverage`."""

from __future__ import annotations


class CoverageError(Exception):
    """Base class of every error raised by `coverage_net.coverage`."""
