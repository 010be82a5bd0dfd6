"""Exceptions of `radio_sim`."""

from __future__ import annotations

from coverage_net.radio import CoverageNetError


class SimError(CoverageNetError):
    """Base class of every error raised by `radio_sim`."""


class SimConfigError(SimError, ValueError):
    """A simulation parameter or input file that cannot be used."""


class ImpairmentError(SimConfigError):
    """An impairment setting (fading, measurement error, gain error, clock offset)
    that cannot be used."""


class RegulatoryLimitError(SimError):
    """A transmission the region's rules forbid now (the radio refuses it)."""


class DutyCycleError(RegulatoryLimitError):
    """The transmitter is still in its sub-band's mandatory off-time."""


class DwellTimeError(RegulatoryLimitError):
    """The packet would stay on air longer than the region's dwell-time limit."""
