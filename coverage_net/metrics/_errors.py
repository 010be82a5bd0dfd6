"""Errors of `coverage_net.metrics`: one base class, one subclass per kind of failure."""

from __future__ import annotations

from coverage_net.errors import CoverageNetError

__all__ = ["MetricsAddressError", "MetricsError", "MetricsServerError"]


class MetricsError(CoverageNetError):
    """Base class of every error raised by `coverage_net.metrics`."""


class MetricsAddressError(MetricsError, ValueError):
    """A metrics listen address is not ``HOST:PORT`` with a port from 0 to 65535."""


class MetricsServerError(MetricsError):
    """The metrics endpoint could not listen (port in use, host not on this machine)."""
