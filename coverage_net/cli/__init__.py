"""The `coverage-net` command line (layer 5)."""

from ._main import main

__all__ = ["main"]
