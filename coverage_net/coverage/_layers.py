"""A coverage map's two layers: what was proven, and what the model predicts around it.

`build_layers` puts the proven cells (`ProvenCells`) and the prediction around the
hotspots whose coverage was proven (`CoverageMap`) in one table of cells, each in one
layer and one class: proven cells by their best measured RSSI (cells proven only by
bought uplinks form the class ``uplinks``), predicted cells by the model's received
power, leaving out the cells already proven. Every writer (CSV, GeoJSON, PNG, HTML)
draws this table, so all formats show the same map.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._cellgeom import cell_geometry
from ._export import DEFAULT_CLASSES, SignalClass
from ._predict import CoverageMap
from ._proven import NO_RSSI, ProvenCells

__all__ = ["LAYERS", "UPLINK_CLASS", "CoverageLayers", "MapHotspot", "build_layers"]

LAYERS = ("proven", "predicted")
UPLINK_CLASS = "uplinks"
"""The class of proven cells whose only proof is device uplinks bought there."""


@dataclass(frozen=True)
class MapHotspot:
    """A hotspot drawn on the map: where it is announced and what proves its coverage."""

    key_hex: str
    lat_deg: float
    lon_deg: float
    proven: bool
    """At least one valid witness heard its beacons."""
    witnessed: int
    """Valid witnesses of its beacons in the map's epochs."""


@dataclass(frozen=True)
class CoverageLayers:
    """Cells in columns (sorted by layer, then H3 index) and the hotspots."""

    res: int
    cells: np.ndarray  # uint64 H3 indexes
    layer: np.ndarray  # int8 index into LAYERS
    class_name: tuple[str, ...]
    """Per cell, its class's name (a `SignalClass` name, or `UPLINK_CLASS`)."""
    rssi_centi_dbm: np.ndarray  # int64: best measured (proven) or predicted; NO_RSSI: none
    witnesses: np.ndarray  # int64
    hotspots_heard: np.ndarray  # int64
    last_epoch: np.ndarray  # int64 (-1: none)
    uplinks: np.ndarray  # int64
    hotspots: tuple[MapHotspot, ...]
    classes: tuple[SignalClass, ...]
    witness_count: int
    """Valid witnesses the proven layer comes from."""

    def __len__(self) -> int:
        return len(self.cells)

    def mask(self, layer: str, class_name: str | None = None) -> np.ndarray:
        """Cells of `layer` (and of `class_name`, if given)."""
        selected = self.layer == LAYERS.index(layer)
        if class_name is not None:
            selected &= np.asarray([c == class_name for c in self.class_name], dtype=bool)
        return selected

    def groups(self) -> list[tuple[str, str]]:
        """The (layer, class) pairs present, proven first, classes strongest first."""
        names = [c.name for c in self.classes] + [UPLINK_CLASS]
        present = set(zip((LAYERS[i] for i in self.layer.tolist()), self.class_name,
                          strict=True))
        return [(layer, name) for layer in LAYERS for name in names if (layer, name) in present]

    def latlon(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell centres (degrees)."""
        if not len(self.cells):
            return np.zeros(0), np.zeros(0)
        geometry = cell_geometry(self.cells, vertices=False)
        return geometry.lat_deg, geometry.lon_deg


def class_of(rssi_dbm: float, classes: Sequence[SignalClass]) -> str:
    for c in classes:
        if c.min_rssi_dbm <= rssi_dbm < c.max_rssi_dbm:
            return c.name
    return classes[-1].name


def build_layers(proven: ProvenCells, predicted: CoverageMap | None,
                 hotspots: Sequence[MapHotspot], *, witness_count: int,
                 classes: Sequence[SignalClass] = DEFAULT_CLASSES) -> CoverageLayers:
    """One table of cells (see the module doc); `predicted` at `proven.res` or None."""
    classes = tuple(classes)
    proven_names = [UPLINK_CLASS if r == NO_RSSI else class_of(r / 100, classes)
                    for r in proven.best_rssi_centi_dbm.tolist()]
    if predicted is not None and len(predicted.cells):
        if predicted.res != proven.res:
            raise ValueError(f"the prediction is at res {predicted.res}, the proven cells at "
                             f"{proven.res}")
        keep = ~np.isin(predicted.cells, proven.cells)
        p_cells = predicted.cells[keep]
        p_rssi = np.round(predicted.best_rssi_dbm[keep] * 100).astype(np.int64)
    else:
        p_cells, p_rssi = np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    n_p, n_q = len(proven.cells), len(p_cells)
    zeros = np.zeros(n_q, dtype=np.int64)
    return CoverageLayers(
        res=proven.res,
        cells=np.concatenate([proven.cells, p_cells]).astype(np.uint64),
        layer=np.concatenate([np.zeros(n_p, np.int8), np.ones(n_q, np.int8)]),
        class_name=tuple(proven_names + [class_of(r / 100, classes) for r in p_rssi.tolist()]),
        rssi_centi_dbm=np.concatenate([proven.best_rssi_centi_dbm, p_rssi]),
        witnesses=np.concatenate([proven.witnesses, zeros]),
        hotspots_heard=np.concatenate([proven.hotspots_heard, zeros]),
        last_epoch=np.concatenate([proven.last_epoch, zeros - 1]),
        uplinks=np.concatenate([proven.uplinks, zeros]),
        hotspots=tuple(hotspots), classes=classes, witness_count=witness_count)
