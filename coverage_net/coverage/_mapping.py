"""From proof to a map: the proven cells, then the prediction around what was proven.

`map_from_proof` is the whole pipeline, pure given its inputs (the valid witnesses,
the announced hotspots, the uplinks routers bought, a propagation model): prove the
cells (`prove_cells`), predict coverage only around hotspots whose coverage a valid
witness proved (a hotspot that nobody heard proves nothing, so nothing is predicted
around it), and put both in one `CoverageLayers` table for the writers.

A hotspot is predicted as it announced itself: its cell, antenna height and gain, and
the most power its region allows at that gain (the beacon rule: conducted power =
floor(max EIRP - gain)).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from coverage_net.radio import Model, Station, get_region

from ._calibration import Calibration, calibrated_hotspot
from ._layers import CoverageLayers, MapHotspot, build_layers
from ._predict import CoverageMap, PredictionSettings, combine, predict_hotspot
from ._proven import WitnessProofs, prove_cells

__all__ = ["AnnouncedHotspot", "map_from_proof", "station_of"]


class AnnouncedHotspot(Protocol):
    """What the map reads of a `HotspotAnnouncement`."""

    hotspot_key: bytes
    cell: int
    antenna_gain_dbi: float
    antenna_height_m: float
    region: str


def station_of(hotspot: AnnouncedHotspot) -> Station:
    """The hotspot as a transmitter: announced place and antenna, the region's EIRP."""
    max_eirp = get_region(hotspot.region).max_eirp_dbm
    return Station(hotspot.hotspot_key.hex()[:16], cell=hotspot.cell,
                   antenna_height_m=hotspot.antenna_height_m,
                   antenna_gain_dbi=hotspot.antenna_gain_dbi,
                   tx_power_dbm=math.floor(max_eirp - hotspot.antenna_gain_dbi),
                   region=hotspot.region)


def map_from_proof(proofs: WitnessProofs, hotspots: Sequence[AnnouncedHotspot], res: int, *,
                   uplinks_by_hotspot: Mapping[bytes, int] | None = None,
                   model: Model | None = None, settings: PredictionSettings | None = None,
                   progress: Callable[[str, int, int], None] | None = None,
                   calibration: Calibration | None = None) -> CoverageLayers:
    """The map (see the module doc); no prediction when `model` is None. With a
    `calibration`, each predicted path's loss is corrected by it (`calibrated_hotspot`)."""
    by_key = {h.hotspot_key: h for h in hotspots}
    proven = prove_cells(proofs, {k: h.cell for k, h in by_key.items()}, res,
                         uplinks_by_hotspot=uplinks_by_hotspot)
    witnessed: dict[bytes, int] = {}
    for beaconer in proofs.beaconer_keys:
        witnessed[beaconer] = witnessed.get(beaconer, 0) + 1
    predicted: CoverageMap | None = None
    if model is not None:
        settings = settings or PredictionSettings(res=res)
        if settings.res != res:
            raise ValueError(f"prediction settings are for res {settings.res}, the map is {res}")
        around = [station_of(by_key[k]) for k in sorted(proven.proven_hotspots) if k in by_key]
        predicted = combine([
            predict_hotspot(s, model, settings, progress) if calibration is None
            else calibrated_hotspot(s, model, settings, calibration, progress)
            for s in around], res)
    drawn = [MapHotspot(k.hex(), *_latlon(by_key[k]), k in proven.proven_hotspots,
                        witnessed.get(k, 0)) for k in sorted(by_key)]
    return build_layers(proven, predicted, drawn, witness_count=len(proofs))


def _latlon(hotspot: AnnouncedHotspot) -> tuple[float, float]:
    station = Station("h", cell=hotspot.cell, region=hotspot.region)
    return station.lat_deg, station.lon_deg
