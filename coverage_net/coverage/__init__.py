"""Coverage maps: predicted received power of hotspots over H3 cells, exported as GeoJSON.

Hotspots are `coverage_net.radio.Station`s, read with `coverage_net.radio.read_stations`.
"""

from ._errors import CoverageError
from ._export import DEFAULT_CLASSES, SignalClass, write_coverage
from ._predict import (
    MAX_RANGE_KM,
    CoverageMap,
    HotspotCoverage,
    PredictionSettings,
    combine,
    predict_coverage,
    predict_hotspot,
)

__all__ = [
    "CoverageError", "DEFAULT_CLASSES", "SignalClass", "write_coverage", "CoverageMap",
    "HotspotCoverage", "PredictionSettings", "combine", "predict_coverage", "predict_hotspot",
    "MAX_RANGE_KM",
]
