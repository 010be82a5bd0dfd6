"""What model calibration reads from a node's store: the valid witnesses of a range of
epochs with both hotspots' announced cells (`coverage_net.coverage.CalibrationSamples`)."""

from __future__ import annotations

from coverage_net.coverage import CalibrationSamples, calibration_samples
from coverage_net.store import MessageStore

from ._map_inputs import _rows
from ._rewards import load_registry

__all__ = ["load_calibration_samples"]


def load_calibration_samples(store: MessageStore, epochs: tuple[int, int] | None = None
                             ) -> CalibrationSamples:
    """The calibration's witnesses in `store`, of `epochs` (inclusive) or of all epochs;
    hotspots are placed by their newest announcement."""
    cells = {a.hotspot_key: a.cell for a in load_registry(store).announcements}
    return calibration_samples(_rows(store, epochs), cells)
