"""A hotspot's announcement, built from its station record.

The announcement is how the network learns where a hotspot's antenna stands;
validators judge its reports against that. Building it from the same `Station`
the operator's files and the simulator use means the announced cell, height,
gain and region cannot drift from the ones coverage was predicted with.
"""

from __future__ import annotations

from coverage_net.identity import Keypair
from coverage_net.radio import Station

from ._types import HotspotAnnouncement

__all__ = ["announcement_for"]


def announcement_for(station: Station, keypair: Keypair, *,
                     timestamp_ms: int) -> HotspotAnnouncement:
    """The `HotspotAnnouncement` of ``station``, signed by the hotspot's ``keypair``.

    The cell is the station's (any resolution; a station placed by lat/lon
    announces the resolution-12 cell that holds it). ``timestamp_ms`` comes from
    the caller's clock: the newest announcement counts.
    """
    return HotspotAnnouncement(
        hotspot_key=keypair.public_key, cell=station.cell,
        antenna_gain_dbi=station.antenna_gain_dbi, antenna_height_m=station.antenna_height_m,
        region=station.region, timestamp_ms=timestamp_ms,
    ).sign(keypair)
