"""The project's root error: `CoverageNetError`, base of every package's base error.

Catch it to handle any error coverage-net raises on purpose (the CLI does, in one
place). The class is defined in `coverage_net.radio`, the lowest layer, so that
layers 1-3 (radio, firmware_bridge, radio_sim) can derive from it without
importing anything above them; this module is where the core and the processes
import it from.
"""

from coverage_net.radio import CoverageNetError

__all__ = ["CoverageNetError"]
