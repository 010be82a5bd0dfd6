"""CSV of a coverage map: one row per cell, with its H3 index, layer, class and figures."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import h3

from ._layers import LAYERS, CoverageLayers
from ._proven import NO_RSSI
from ._write import atomic_text

__all__ = ["CSV_COLUMNS", "write_map_csv"]

CSV_COLUMNS = ("h3", "layer", "class", "rssi_dbm", "witnesses", "hotspots_heard", "last_epoch",
               "uplinks", "lat", "lon")


def write_map_csv(layers: CoverageLayers, path: str | os.PathLike[str]) -> Path:
    """Write the map's cells (proven first) as CSV; empty fields where a figure is none."""
    lat, lon = layers.latlon()
    with atomic_text(Path(path)) as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for i, cell in enumerate(layers.cells.tolist()):
            rssi = int(layers.rssi_centi_dbm[i])
            epoch = int(layers.last_epoch[i])
            writer.writerow((h3.int_to_str(cell), LAYERS[layers.layer[i]],
                             layers.class_name[i], "" if rssi == NO_RSSI else f"{rssi / 100:.2f}",
                             int(layers.witnesses[i]), int(layers.hotspots_heard[i]),
                             "" if epoch < 0 else epoch, int(layers.uplinks[i]),
                             f"{lat[i]:.6f}", f"{lon[i]:.6f}"))
    return Path(path)
