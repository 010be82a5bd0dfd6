"""Coverage maps: predicted received power of hotspots over H3 cells, exported as GeoJSON."""

from ._errors import CoverageError, HotspotFileError
from ._export import DEFAULT_CLASSES, SignalClass, write_coverage
from ._hotspots import Hotspot, load_hotspots
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
    "CoverageError", "HotspotFileError", "DEFAULT_CLASSES", "SignalClass", "write_coverage",
    "Hotspot", "load_hotspots", "CoverageMap", "HotspotCoverage", "PredictionSettings",
    "combine", "predict_coverage", "predict_hotspot", "MAX_RANGE_KM",
]
