"""The configuration package's one error.

A daemon that cannot read its configuration must say, in one line, which file and
which key are wrong and what would be right; the CLI prints that line as
``error: ...`` because the class derives from the project's root error.
"""

from __future__ import annotations

from coverage_net.errors import CoverageNetError

__all__ = ["ConfigError"]


class ConfigError(CoverageNetError, ValueError):
    """A configuration file or environment override that cannot be used as it is."""
