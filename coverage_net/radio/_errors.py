"""Exceptions of `coverage_net.radio`.

Every error raised for bad input is a `RadioError`; the input-shaped ones are also
`ValueError`, so callers that only know the standard library still catch them.
Messages name the argument, the offending value (or its first index) and what is
accepted.
"""

from __future__ import annotations


class CoverageNetError(Exception):
    """Root of every error coverage-net raises on purpose, in every package and layer.

    Defined here because this is the lowest layer, which every package may import;
    the public home for code above layer 3 is `coverage_net.errors`. The CLI turns
    any of these into one ``error:`` line and exit status 1 (anything else is a bug
    and keeps its traceback).
    """


class RadioError(CoverageNetError):
    """Base class of every error raised by `coverage_net.radio`."""


class InvalidInputError(RadioError, ValueError):
    """An argument has a value the physics cannot use (NaN, out of range, ...)."""


class InvalidCoordinateError(InvalidInputError):
    """A latitude/longitude is NaN, infinite or outside the globe."""


class InvalidCellError(InvalidInputError):
    """A value given as an H3 cell is not a valid H3 cell."""


class FrequencyRangeError(InvalidInputError):
    """A frequency lies outside what the models support (30 MHz - 3 GHz)."""


class ShapeMismatchError(InvalidInputError):
    """Array arguments do not broadcast against each other."""


class UnknownModelError(InvalidInputError):
    """A path-loss model name is not one of the known models."""


class RegionError(InvalidInputError):
    """An unknown region, or a parameter that the region does not allow."""


class StationError(RadioError, ValueError):
    """A station record or station file that cannot be used.

    From a file, the message names the file, the line (CSV) or feature (GeoJSON),
    the station and the column at fault.
    """


class DEMError(RadioError):
    """A DEM tile or directory cannot be used (missing, corrupt, wrong size)."""


class KernelUnavailableError(RadioError, ImportError):
    """The compiled path-loss kernel is not built or cannot be loaded."""
