"""The proof-of-coverage scenario's radios: region, power, gain, when time starts,
and the RSSI the propagation model gives at receivers (what attackers make numbers
plausible with)."""

from __future__ import annotations

import numpy as np

from coverage_net.poc import NetworkParams, beacon_eirp_centi_dbm
from coverage_net.radio import Sites, path_loss_db

__all__ = ["BEACON", "EIRP_DBM", "GAIN_DBI", "MAX_SNR_DB", "RADIO_MAX_DBM", "REGION",
           "START_MS", "STATION_CELL_RES", "rssi_dbm"]

START_MS = 1_767_225_600_000  # 2026-01-01T00:00Z: the scenario's epoch 0 starts here
REGION = "US915"
RADIO_MAX_DBM = 27
STATION_CELL_RES = 12
MAX_SNR_DB = 10.0  # an SX127x/SX126x reports packet SNR up to about +10 dB
GAIN_DBI = 3.0


BEACON = NetworkParams().beacon(REGION)
EIRP_DBM = beacon_eirp_centi_dbm(REGION, GAIN_DBI, RADIO_MAX_DBM) / 100


def rssi_dbm(model, tx: tuple[float, float], rx_lat, rx_lon, eirp_dbm: float) -> np.ndarray:
    """The propagation model's RSSI at receivers (10 m antennas, the scenario's gain)."""
    rx_lat = np.atleast_1d(np.asarray(rx_lat, dtype=np.float64))
    rx_lon = np.atleast_1d(np.asarray(rx_lon, dtype=np.float64))
    loss = path_loss_db(Sites.from_latlon(*tx), Sites.from_latlon(rx_lat, rx_lon), model,
                        freq_hz=float(BEACON.freq_hz), tx_height_m=10.0,
                        rx_height_m=np.full(rx_lat.shape, 10.0), num_threads=1)
    return eirp_dbm - loss + GAIN_DBI
