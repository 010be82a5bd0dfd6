"""The simulated world: where the hotspots stand, and who is near whom.

A `World` is an immutable list of `coverage_net.radio.Station`s, each moved to
the centre of its resolution-12 H3 cell (`placed`), with numpy columns for the
channel model. Its one
query, `World.neighbours`, is asked once per transmission, so it is indexed: the
hotspots are bucketed by a coarse H3 cell whose size follows the range asked for,
and a query reads the buckets of a few rings of cells around the transmitter.

How many rings is a property of the geometry, not an estimate: ring ``k + 1`` of
coarse cell ``c`` is *clear* of a range ``r`` when each of its cells lies farther
than ``r + circumradius(c)`` from the centre of ``c``. Every path leaving the disk
of ``k`` rings crosses ring ``k + 1``, so nothing outside that disk is within ``r``
of any point in ``c``. The clearances are computed from the cells' real boundaries
(so H3's distortion, pentagons and the antimeridian need no special case) and
cached per coarse cell.

Worlds come from station files (`World.from_csv`, `World.from_geojson`, read and
written by `coverage_net.radio.read_stations`) or from the seeded generators
`uniform`, `clustered` and `on_dem` (in `_world_gen`, re-exported here).
"""

from __future__ import annotations

import bisect
import math
import numbers
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from h3.api import basic_int as h3

from coverage_net.radio import (
    EARTH_RADIUS_M,
    STATION_CELL_RES,
    Sites,
    Station,
    read_stations,
    write_stations,
)

from ._errors import SimConfigError

__all__ = ["CELL_RES", "DEFAULT_TOWNS", "World", "WorldError", "clustered", "on_dem",
           "placed", "uniform"]

CELL_RES = STATION_CELL_RES
# World column -> Station field: one float64 array per radio parameter
_COLUMNS = {"height_m": "antenna_height_m", "gain_dbi": "antenna_gain_dbi",
            "tx_power_dbm": "tx_power_dbm", "noise_figure_db": "noise_figure_db"}
# coarse cells a sixth to a half of the range across: 3-5 rings, a few times its area read
_COARSE_CELLS_PER_RANGE = 6.0
_MIN_BUCKET_FILL = 8  # hotspots per occupied coarse cell, on average
_CANDIDATE_CACHE_BYTES = 64 << 20  # per coarse resolution
_HALF_CIRCUMFERENCE_M = math.pi * EARTH_RADIUS_M  # no two points lie farther apart


class WorldError(SimConfigError):
    """A hotspot list, query or generator parameter that cannot be used.

    A bad station or world file raises `coverage_net.radio.StationError`, which
    names the file and line (or feature) and the column at fault.
    """


# --- where the simulator places a station ------------------------------------------------


def placed(station: Station) -> Station:
    """``station`` moved to the centre of its resolution-12 cell, where the simulator
    puts every radio: positions (and with them the link table) then depend only on
    the cells, not on how a file spelled the coordinates."""
    if h3.get_resolution(station.cell) == CELL_RES \
            and (station.lat_deg, station.lon_deg) == h3.cell_to_latlng(station.cell):
        return station
    cell = h3.latlng_to_cell(station.lat_deg, station.lon_deg, CELL_RES)
    return replace(station, cell=cell, lat_deg=None, lon_deg=None)


# --- the neighbour index -----------------------------------------------------------------


def _unit_xyz(lat_deg, lon_deg) -> np.ndarray:
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], -1)


def _arc_between(a_xyz: np.ndarray, b_xyz: np.ndarray) -> np.ndarray:
    """Great-circle distance between unit vectors, from the chord (as the kernel does)."""
    d = b_xyz - a_xyz
    half_chord = 0.5 * np.sqrt(d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1]
                               + d[..., 2] * d[..., 2])
    return EARTH_RADIUS_M * 2.0 * np.arcsin(np.minimum(half_chord, 1.0))


# minus the average hexagon edge (m) of resolutions 0..CELL_RES: ascending, for bisect
_NEG_EDGE_M = [-h3.average_hexagon_edge_length(res, unit="m") for res in range(CELL_RES + 1)]


def _cell_geometry(cells: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Centre unit vectors (m, 3) and circumradii (m,) in metres of H3 cells.

    The radius is the farthest boundary vertex, padded for rounding: the edges are
    great-circle arcs, and on an arc the distance from a point peaks at an end.
    """
    centres = _unit_xyz(*np.array([h3.cell_to_latlng(c) for c in cells]).T)
    rings = [h3.cell_to_boundary(c) for c in cells]
    width = max(map(len, rings))
    corners = np.array([ring + ring[:1] * (width - len(ring)) for ring in rings])
    corner_xyz = _unit_xyz(corners[..., 0], corners[..., 1])
    radii = _arc_between(centres[:, None, :], corner_xyz).max(axis=1)
    return centres, radii * (1.0 + 1e-9) + 1e-3


def _coarse_res(range_m: float) -> int:
    """The finest resolution (at most CELL_RES) whose cell edge is >= range / 6."""
    return max(bisect.bisect_right(_NEG_EDGE_M, -range_m / _COARSE_CELLS_PER_RANGE) - 1, 0)


class _CoarseIndex:
    """The hotspots bucketed by their cell at one coarse resolution."""

    def __init__(self, res: int, lat_deg: np.ndarray, lon_deg: np.ndarray) -> None:
        self.res = res
        # latlng_to_cell, not cell_to_parent: a child's centre may lie outside its parent
        self.cell_of = np.fromiter(
            (h3.latlng_to_cell(a, o, res) for a, o in zip(lat_deg.tolist(), lon_deg.tolist(),
                                                          strict=True)),
            dtype=np.uint64, count=len(lat_deg))
        self.order = np.argsort(self.cell_of, kind="stable")
        buckets, starts, counts = np.unique(self.cell_of[self.order], return_index=True,
                                            return_counts=True)
        self.buckets = {int(c): (int(s), int(n))
                        for c, s, n in zip(buckets, starts, counts, strict=True)}
        self._clearance: dict[int, list[float]] = {}
        self._candidates: dict[tuple[int, int], np.ndarray] = {}
        self._cached_bytes = 0
        self._lock = threading.Lock()

    def candidates(self, cell: int, range_m: float) -> np.ndarray:
        """Sorted indices (read-only) of every hotspot that may lie within ``range_m`` of
        a point in ``cell``: the buckets of the fewest rings whose clearance exceeds it."""
        clear = self._clearance.get(cell)
        if clear is None or clear[-1] <= range_m:
            with self._lock:
                clear = self._extend_clearance(cell, range_m)
        key = (cell, bisect.bisect_right(clear, range_m))
        hit = self._candidates.get(key)
        if hit is None:
            with self._lock:
                hit = self._gather(*key)
        return hit

    def _extend_clearance(self, cell: int, range_m: float) -> list[float]:
        """clear[k]: how far disk k of `cell` provably reaches (running max, so bisectable).

        Rings are about 1.5 circumradii apart, so the rings still needed are guessed
        and measured in one batch; a short guess just takes another batch.
        """
        clear = self._clearance.setdefault(cell, [])
        while not clear or clear[-1] <= range_m:
            first = len(clear) + 1
            _, radius = _cell_geometry([cell])
            more = math.ceil((range_m - (clear[-1] if clear else -radius[0]))
                             / (1.5 * radius[0])) + 1
            rings = [h3.grid_ring(cell, m) for m in range(first, first + min(more, 64))]
            centres, radii = _cell_geometry([cell] + [c for ring in rings for c in ring])
            gaps = _arc_between(centres[0], centres[1:]) - radii[1:] - radii[0]
            start = 0
            for ring in rings:
                reach = float(gaps[start:start + len(ring)].min()) if ring else math.inf
                start += len(ring)
                clear.append(max(reach, clear[-1]) if clear else reach)
                if not ring:  # the disk already holds every cell of the globe
                    break
        return clear

    def _gather(self, cell: int, k: int) -> np.ndarray:
        """The members of disk k, sorted; cached, dropping the cache when it is full
        (its size grows like the world's, whatever the range, as cells scale with it)."""
        spans = [self.buckets[c] for c in h3.grid_disk(cell, k) if c in self.buckets]
        found = _frozen(np.sort(np.concatenate([self.order[s:s + n] for s, n in spans])))
        if self._cached_bytes + found.nbytes > _CANDIDATE_CACHE_BYTES:
            self._candidates.clear()
            self._cached_bytes = 0
        self._candidates[(cell, k)] = found
        self._cached_bytes += found.nbytes
        return found


# --- the world ----------------------------------------------------------------------------


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


class World:
    """An immutable set of hotspots with numpy columns and a neighbour index.

    Index ``i`` of every column is hotspot ``i``; ``hotspots[i]`` is the station
    as placed (`placed`). Equal worlds hold equal hotspots in the same order.

    Examples
    --------
    >>> w = uniform(200, radius_km=10.0, seed=1)
    >>> len(w), w.names[0], w.cells.dtype.name
    (200, 'hs-00000', 'uint64')
    >>> js = w.neighbours(0, 3000.0)
    >>> bool((w.distances_m(0, js) <= 3000.0).all())
    True
    """

    def __init__(self, hotspots: Sequence[Station]) -> None:
        hotspots = tuple(hotspots)
        for k, h in enumerate(hotspots):
            if not isinstance(h, Station):
                raise WorldError(f"hotspots[{k}] is a {type(h).__name__}, not a Station")
        hotspots = tuple(map(placed, hotspots))
        if not hotspots:
            raise WorldError("a World needs at least one hotspot")
        index: dict[str, int] = {}
        for k, h in enumerate(hotspots):
            if h.name in index:
                raise WorldError(f"hotspot name {h.name!r} appears twice (hotspots"
                                 f"[{index[h.name]}] and hotspots[{k}]); names must be unique")
            index[h.name] = k
        self.hotspots: tuple[Station, ...] = hotspots
        self.names: tuple[str, ...] = tuple(index)
        self.regions: tuple[str, ...] = tuple(h.region for h in hotspots)
        self._index = index
        self.cells = _frozen(np.array([h.cell for h in hotspots], dtype=np.uint64))
        sites = Sites.from_cells(self.cells)
        for array in (sites.lat_deg, sites.lon_deg, sites.xyz, sites.key):
            _frozen(array)
        self.sites: Sites = sites
        self.lat_deg = sites.lat_deg
        self.lon_deg = sites.lon_deg
        for column, field in _COLUMNS.items():
            values = np.array([getattr(h, field) for h in hotspots], dtype=np.float64)
            setattr(self, column, _frozen(values))
        self._xyz_t = _frozen(np.ascontiguousarray(sites.xyz.T))  # (3, n) for gathers
        self._x, self._y, self._z = self._xyz_t
        self._coarse: dict[int, _CoarseIndex] = {}  # by the resolution a range asks for
        self._built: dict[int, _CoarseIndex] = {}  # by their own resolution
        self._lock = threading.Lock()

    height_m: np.ndarray
    gain_dbi: np.ndarray
    tx_power_dbm: np.ndarray
    noise_figure_db: np.ndarray

    def __len__(self) -> int:
        return len(self.hotspots)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, World):
            return NotImplemented
        return self.hotspots == other.hotspots

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<World of {len(self)} hotspots>"

    def index_of(self, name: str) -> int:
        try:
            return self._index[name]
        except (KeyError, TypeError):
            raise WorldError(f"no hotspot named {name!r} in this world") from None

    def _check_index(self, i: object) -> int:
        if isinstance(i, bool) or not isinstance(i, numbers.Integral) \
                or not 0 <= i < len(self.hotspots):
            raise WorldError(f"hotspot index is {i!r}; it must be an int in [0, {len(self)})")
        return int(i)

    def distances_m(self, i: int, js: np.ndarray) -> np.ndarray:
        """Great-circle distances (m) from hotspot ``i`` to hotspots ``js`` (any shape).

        The chord formula of the path-loss kernel, on the cells' centres, so a
        neighbour found here is at the distance the channel model will use.
        """
        i = self._check_index(i)
        js = np.asarray(js)
        if js.dtype.kind not in "iu" and js.size:
            raise WorldError(f"js must be integer indices, got dtype {js.dtype}")
        if js.size and (js.min() < 0 or js.max() >= len(self)):
            raise WorldError(f"js holds index {int(js.min() if js.min() < 0 else js.max())}; "
                             f"indices must lie in [0, {len(self)})")
        return self._arc_m(i, js.astype(np.intp, copy=False))

    def _chord2(self, i: int, js: np.ndarray) -> np.ndarray:
        dx = self._x.take(js) - self._x[i]
        dy = self._y.take(js) - self._y[i]
        dz = self._z.take(js) - self._z[i]
        return dx * dx + dy * dy + dz * dz

    def _arc_m(self, i: int, js: np.ndarray) -> np.ndarray:
        """Great-circle distance (m) from the chord: `_arc_between`, the kernel's formula."""
        return EARTH_RADIUS_M * 2.0 * np.arcsin(np.minimum(0.5 * np.sqrt(self._chord2(i, js)),
                                                           1.0))

    def _index_for(self, res: int) -> _CoarseIndex:
        """The bucketing for a range that asks for `res`, coarser if the buckets would be
        nearly empty: each occupied bucket costs a one-time ring computation, and
        bigger buckets only add candidates that cost nanoseconds each."""
        index = self._coarse.get(res)
        if index is None:
            with self._lock:
                index = self._coarse.get(res)
                if index is None:
                    index = self._coarse[res] = self._build_index(res)
        return index

    def _build_index(self, res: int) -> _CoarseIndex:
        for r in range(res, -1, -1):
            index = self._built.get(r)
            if index is None:
                index = self._built[r] = _CoarseIndex(r, self.lat_deg, self.lon_deg)
            buckets = len(index.buckets)
            if len(self) >= _MIN_BUCKET_FILL * buckets or buckets == 1 or r == 0:
                return index
        raise AssertionError("unreachable: resolution 0 always returns")

    def neighbours(self, i: int, max_range_m: float) -> np.ndarray:
        """Sorted indices ``j != i`` (int64) with ``distances_m(i, j) <= max_range_m``.

        Reads only the coarse buckets around hotspot ``i`` (see the module
        docstring); the bucketing for each coarse resolution is built on first use.
        """
        i = self._check_index(i)
        if isinstance(max_range_m, bool) or not isinstance(max_range_m, numbers.Real) \
                or not max_range_m >= 0 or math.isnan(max_range_m):
            raise WorldError(f"max_range_m is {max_range_m!r}; it must be a number >= 0")
        range_m = float(max_range_m)
        if range_m >= _HALF_CIRCUMFERENCE_M:
            return np.delete(np.arange(len(self), dtype=np.int64), i)
        index = self._index_for(_coarse_res(range_m))
        js = index.candidates(int(index.cell_of[i]), range_m)
        # Decide by the dot product, except within a band around the range far wider
        # than its rounding error (~3e-15 in chord**2), where the exact formula of
        # `distances_m` decides: the result is exactly what `distances_m` implies.
        chord2 = (2.0 * math.sin(range_m / (2.0 * EARTH_RADIUS_M))) ** 2
        band = 1e-13 + 1e-9 * chord2
        dot = self._xyz_t[:, i] @ self._xyz_t.take(js, axis=1)
        keep = dot >= 1.0 - 0.5 * (chord2 + band)
        unsure = keep & (dot <= 1.0 - 0.5 * (chord2 - band))
        if unsure.any():
            unsure = np.flatnonzero(unsure)
            keep[unsure[self._arc_m(i, js[unsure]) > range_m]] = False
        keep[np.searchsorted(js, i)] = False  # i is a candidate: its cell is in the disk
        return js[keep]

    # --- files: the station formats of `coverage_net.radio.read_stations` ------------

    @classmethod
    def from_csv(cls, path: str | Path) -> World:
        """Read a world from a station CSV file (`coverage_net.radio.read_stations`).

        Blank parameters take the `Station` defaults. EIRP is not checked against
        the region: a simulation may model a non-compliant hotspot.
        """
        return cls(read_stations(path, fmt="csv"))

    def to_csv(self, path: str | Path) -> None:
        """Write one station per line; the file also feeds coverage prediction."""
        write_stations(self.hotspots, path, fmt="csv")

    @classmethod
    def from_geojson(cls, path: str | Path) -> World:
        """Read a FeatureCollection of Point features (`coverage_net.radio.read_stations`)."""
        return cls(read_stations(path, fmt="geojson"))

    def to_geojson(self, path: str | Path) -> None:
        """Write a FeatureCollection, one Point feature per line."""
        write_stations(self.hotspots, path, fmt="geojson")


# The generators build Worlds, so they import this module and come last: re-exported
# here, where `radio_sim` and `_scenario` import them from.
from ._world_gen import DEFAULT_TOWNS, clustered, on_dem, uniform  # noqa: E402
