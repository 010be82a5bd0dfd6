"""Coverage maps: predicted received power of hotspots over H3 cells, exported as GeoJSON,
and maps from proof: the cells valid witnesses and bought uplinks prove, the prediction
around the hotspots whose coverage was proven, as CSV, GeoJSON, PNG and offline HTML;
and the model calibrated from what valid witnesses measured (`fit_calibration`), which
prediction can apply (`calibrated_hotspot`).

Hotspots are `coverage_net.radio.Station`s, read with `coverage_net.radio.read_stations`.
"""

from ._calibrate import (
    AREA_RES,
    AreaFigures,
    CalibrationReport,
    CalibrationSamples,
    ResidualFigures,
    calibration_report,
    calibration_samples,
    fit_calibration,
    holdout_mask,
)
from ._calibration import (
    CALIBRATION_FORMAT,
    CALIBRATION_VERSION,
    Calibration,
    CalibrationError,
    calibrated_hotspot,
    cell_parents,
    load_calibration,
    save_calibration,
)
from ._errors import CoverageError
from ._export import DEFAULT_CLASSES, SignalClass, write_coverage
from ._layers import LAYERS, UPLINK_CLASS, CoverageLayers, MapHotspot, build_layers
from ._map_csv import CSV_COLUMNS, write_map_csv
from ._map_geojson import map_feature_collection, rfc7946_geometry, write_map_geojson
from ._map_html import map_data, write_map_html
from ._map_png import map_figure, map_title, write_map_png
from ._mapping import map_from_proof, station_of
from ._palette import colour_of
from ._predict import (
    MAX_RANGE_KM,
    CoverageMap,
    HotspotCoverage,
    PredictionSettings,
    combine,
    predict_coverage,
    predict_hotspot,
)
from ._proven import NO_RSSI, ProvenCells, WitnessProofs, prove_cells, witness_proofs

__all__ = [
    "CoverageError", "DEFAULT_CLASSES", "SignalClass", "write_coverage", "CoverageMap",
    "HotspotCoverage", "PredictionSettings", "combine", "predict_coverage", "predict_hotspot",
    "MAX_RANGE_KM",
    # maps from proof
    "WitnessProofs", "witness_proofs", "ProvenCells", "prove_cells", "NO_RSSI",
    "CoverageLayers", "MapHotspot", "build_layers", "LAYERS", "UPLINK_CLASS", "map_from_proof",
    "station_of", "write_map_csv", "CSV_COLUMNS", "write_map_geojson", "map_feature_collection",
    "rfc7946_geometry", "write_map_png", "map_figure", "map_title", "write_map_html", "map_data",
    "colour_of",
    # calibration of the model from witness data
    "AREA_RES", "CalibrationSamples", "calibration_samples", "holdout_mask", "fit_calibration",
    "Calibration", "CalibrationError", "CALIBRATION_FORMAT", "CALIBRATION_VERSION",
    "save_calibration", "load_calibration", "calibrated_hotspot", "cell_parents",
    "ResidualFigures", "AreaFigures", "CalibrationReport", "calibration_report",
]
