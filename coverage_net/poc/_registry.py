"""The registry of announced hotspots: where each asserts its antenna, as the verifier sees it.

Built from `HotspotAnnouncement`s; a hotspot's newest announcement (by
`timestamp_ms`, then content id) is the one that counts. Hotspots are held in key
order with numpy arrays of their positions, so the verifier finds a beacon's
neighbours with one vectorised distance computation and feeds the path-loss
kernel whole batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import h3
import numpy as np

from coverage_net.messages import HotspotAnnouncement
from coverage_net.radio import EARTH_RADIUS_M, Sites

__all__ = ["RegisteredHotspot", "Registry"]

_VERIFY_RES = 11


@dataclass(frozen=True)
class RegisteredHotspot:
    """One announced hotspot: its key, its index in the registry and its assertion."""

    key: bytes
    index: int
    cell: int
    cell_res11: int
    lat_deg: float
    lon_deg: float
    antenna_height_m: float
    antenna_gain_centi_dbi: int
    region: str


def _res11(cell: int) -> int:
    res = h3.get_resolution(h3.int_to_str(cell))
    if res == _VERIFY_RES:
        return cell
    if res < _VERIFY_RES:
        return h3.str_to_int(h3.cell_to_center_child(h3.int_to_str(cell), _VERIFY_RES))
    return h3.str_to_int(h3.cell_to_parent(h3.int_to_str(cell), _VERIFY_RES))


class Registry:
    """Announced hotspots by key; the newest announcement of each key counts.

    >>> Registry([]).get(bytes(32)) is None
    True
    """

    def __init__(self, announcements: Iterable[HotspotAnnouncement]) -> None:
        newest: dict[bytes, HotspotAnnouncement] = {}
        for a in announcements:
            old = newest.get(a.hotspot_key)
            if old is None or (a.timestamp_ms, a.content_id) > (old.timestamp_ms, old.content_id):
                newest[a.hotspot_key] = a
        self.keys: tuple[bytes, ...] = tuple(sorted(newest))
        anns = [newest[k] for k in self.keys]
        self.announcements: tuple[HotspotAnnouncement, ...] = tuple(anns)
        """The announcement that counts for each key, in key order."""
        cells = [a.cell for a in anns]
        self.cells: tuple[int, ...] = tuple(cells)
        self.sites = Sites.from_cells(np.asarray(cells, dtype=np.uint64)) if anns else None
        lat = self.sites.lat_deg if self.sites is not None else np.zeros(0)
        lon = self.sites.lon_deg if self.sites is not None else np.zeros(0)
        self.lat_deg = np.asarray(lat, dtype=np.float64)
        self.lon_deg = np.asarray(lon, dtype=np.float64)
        self._xyz = self.sites.xyz if self.sites is not None else np.zeros((0, 3))
        self.height_m = np.asarray([a.antenna_height_m for a in anns], dtype=np.float64)
        self.gain_centi_dbi = np.asarray([round(a.antenna_gain_dbi * 100) for a in anns],
                                         dtype=np.int64)
        self.region = tuple(a.region for a in anns)
        self.heights_m: tuple[float, ...] = tuple(self.height_m.tolist())
        """`height_m` as Python floats (the link cache's keys), converted once."""
        self._near: dict[tuple[int, int], np.ndarray] = {}
        self._hotspots = {
            k: RegisteredHotspot(key=k, index=i, cell=a.cell, cell_res11=_res11(a.cell),
                                 lat_deg=float(self.lat_deg[i]), lon_deg=float(self.lon_deg[i]),
                                 antenna_height_m=a.antenna_height_m,
                                 antenna_gain_centi_dbi=int(self.gain_centi_dbi[i]),
                                 region=a.region)
            for i, (k, a) in enumerate(zip(self.keys, anns, strict=True))}
        self._by_key = MappingProxyType(self._hotspots)

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, key: object) -> bool:
        return key in self._hotspots

    def get(self, key: bytes) -> RegisteredHotspot | None:
        return self._hotspots.get(key)

    @property
    def by_key(self) -> Mapping[bytes, RegisteredHotspot]:
        """Every hotspot by key (read-only): the verifier's per-witness lookups skip a call."""
        return self._by_key

    def distances_m(self, index: int, others: np.ndarray) -> np.ndarray:
        """Great-circle distances in whole metres from hotspot `index` to `others` (int64)."""
        chord = np.linalg.norm(self._xyz[others] - self._xyz[index], axis=-1)
        return np.rint(2.0 * EARTH_RADIUS_M * np.arcsin(np.minimum(chord / 2.0, 1.0))).astype(
            np.int64)

    def near(self, index: int, radius_m: int) -> np.ndarray:
        """Indices of the other hotspots of the same region within `radius_m` (ascending)."""
        cached = self._near.get((index, radius_m))
        if cached is None:
            cached = self._near[(index, radius_m)] = self._find_near(index, radius_m)
        return cached

    def _find_near(self, index: int, radius_m: int) -> np.ndarray:
        everyone = np.arange(len(self.keys))
        close = everyone[(self.distances_m(index, everyone) <= radius_m) & (everyone != index)]
        region = self.region[index]
        return np.asarray([j for j in close if self.region[j] == region], dtype=np.int64)
