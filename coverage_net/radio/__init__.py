"""Physics and radio facts: regions, LoRa PHY, propagation, terrain, stations (layer 1).

Nothing here knows about networks. `propagation` is the only module that talks to
the compiled path-loss kernel and `longley_rice` the only one that talks to the ITM
kernel; everything else is numpy.
"""

from ._errors import (
    CoverageNetError,
    DEMError,
    FrequencyRangeError,
    InvalidCellError,
    InvalidCoordinateError,
    InvalidInputError,
    KernelUnavailableError,
    RadioError,
    RegionError,
    ShapeMismatchError,
    StationError,
    UnknownModelError,
)
from ._models import (
    LORASIM,
    MODEL_NAMES,
    Cost231Hata,
    FreeSpace,
    Hata,
    ITMModel,
    LogDistance,
    Model,
    TerrainModel,
    TwoRay,
    model_from_name,
)
from ._phy import (
    BANDWIDTHS_HZ,
    LORASIM_SENSITIVITY_DBM,
    MAX_REPORTED_SNR_DB,
    SNR_FLOOR_DB,
    SPREADING_FACTORS,
    SX1276_SENSITIVITY_DBM,
    sensitivity_dbm,
    snr_floor_db,
    symbol_time_s,
    thermal_noise_floor_dbm,
    time_on_air_s,
)
from ._regions import REGIONS, Channel, DataRate, Region, SubBand, get_region
from ._sites import Sites
from ._station import STATION_CELL_RES, STATION_LIMITS, Station
from ._station_io import STATION_COLUMNS, read_stations, write_stations
from ._terrain import EARTH_RADIUS_M, HgtTile, Mosaic, Terrain, bilinear_elevation_m, read_hgt
from .longley_rice import ITMResult, itm_path_loss, itm_profile_loss_db
from .propagation import (
    TerrainResult,
    cost231_hata_loss_db,
    free_space_loss_db,
    hata_loss_db,
    kernel_info,
    knife_edge_loss_db,
    log_distance_loss_db,
    path_loss_db,
    shadowing_db,
    terrain_path_loss,
    two_ray_loss_db,
)

__all__ = [
    # errors
    "CoverageNetError",
    "RadioError", "InvalidInputError", "InvalidCoordinateError", "InvalidCellError",
    "FrequencyRangeError", "ShapeMismatchError", "UnknownModelError", "RegionError",
    "DEMError", "KernelUnavailableError", "StationError",
    # models
    "Model", "FreeSpace", "LogDistance", "LORASIM", "Hata", "Cost231Hata", "TwoRay",
    "TerrainModel", "ITMModel", "MODEL_NAMES", "model_from_name",
    # propagation
    "Sites", "path_loss_db", "terrain_path_loss", "TerrainResult", "free_space_loss_db",
    "log_distance_loss_db", "hata_loss_db", "cost231_hata_loss_db", "two_ray_loss_db",
    "knife_edge_loss_db", "shadowing_db", "kernel_info",
    "itm_path_loss", "itm_profile_loss_db", "ITMResult",
    # terrain
    "EARTH_RADIUS_M", "Terrain", "Mosaic", "HgtTile", "read_hgt", "bilinear_elevation_m",
    # PHY
    "time_on_air_s", "symbol_time_s", "sensitivity_dbm", "snr_floor_db", "MAX_REPORTED_SNR_DB",
    "thermal_noise_floor_dbm", "SNR_FLOOR_DB", "SX1276_SENSITIVITY_DBM",
    "LORASIM_SENSITIVITY_DBM", "BANDWIDTHS_HZ", "SPREADING_FACTORS",
    # regions
    "REGIONS", "Region", "Channel", "DataRate", "SubBand", "get_region",
    # stations
    "Station", "STATION_CELL_RES", "STATION_LIMITS", "STATION_COLUMNS", "read_stations",
    "write_stations",
]
