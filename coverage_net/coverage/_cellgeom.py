"""Centres and boundaries of many H3 cells at once, equal to h3's own to ~1e-12 degree.

h3 v4 computes one cell per Python call (about 2.5 us for a boundary), which
costs more than the propagation kernel at planning resolutions. Inside one
icosahedron face H3 places cell centres on a regular lattice in the face's
gnomonic plane, so a cell's centre is `normalize(L @ [1, i, j])` for one 3x3
matrix `L` per (base cell, face) patch, where (i, j) are the cell's lattice
coordinates, decoded from its index digits with integer numpy arithmetic. `L`
is fitted to a few anchor cells whose centres h3 computes, and checked on
them. Vertices are the same map at the fractional lattice offsets of a
hexagon's corners. Cells that this cannot place exactly -- pentagon base
cells, cells whose centre or corners lie on or across a face edge (where H3
adds distortion vertices), patches too small to fit -- go through h3 one by
one, so the result is always h3's.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import h3
import numpy as np
from h3.api import basic_int as h3i

from ._cellgeom_corners import patch_geometry

# lattice change per resolution step (on (i - k, j - k) coordinates) and digit unit vectors
_DIGIT_I = np.array([0, -1, 0, -1, 1, 0, 1, 0], dtype=np.int64)
_DIGIT_J = np.array([0, -1, 1, 0, 0, -1, 1, 0], dtype=np.int64)
# hexagon corners in lattice units, counter-clockwise in the lattice plane
_CORNER_I = np.array([2, 1, -1, -2, -1, 1], dtype=np.float64) / 3.0
_CORNER_J = np.array([1, 2, 1, -1, -2, -1], dtype=np.float64) / 3.0
# an anchor must sit on the fitted map within this angle (radians; 1e-11 rad is 0.06 mm)
_FIT_TOL_RAD = 1e-11
# a point this close to a face edge (difference of cosines) is left to h3
_EDGE_MARGIN = 1e-9
# fewer cells than this in a patch are cheaper to hand to h3 than to fit
_MIN_PATCH_CELLS = 32


@dataclass(frozen=True)
class CellGeometry:
    """Centres and corners of cells, in degrees.

    `vertex_lat_deg`/`vertex_lon_deg` are (n, 6) in h3's order (counter-clockwise,
    same first vertex); rows of cells with another number of vertices (pentagons,
    cells cut by a face edge) are NaN and their boundary is in `irregular`
    (row -> (m, 2) array of lat, lon). `area_sr` is each hexagon's area on the unit
    sphere as h3.cell_area computes it (NaN for the irregular ones).
    """

    lat_deg: np.ndarray
    lon_deg: np.ndarray
    vertex_lat_deg: np.ndarray | None = None
    vertex_lon_deg: np.ndarray | None = None
    irregular: dict[int, np.ndarray] | None = None
    centre_xyz: np.ndarray | None = None  # unit vectors of the centres (n, 3)
    area_sr: np.ndarray | None = None


def _xyz(lat_deg, lon_deg) -> np.ndarray:
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], -1)


def _latlon(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    return np.degrees(np.arctan2(z, np.hypot(x, y))), np.degrees(np.arctan2(y, x))


@functools.cache
def _face_centres() -> np.ndarray:
    """The 20 icosahedron face centres: each is the mean of three mutually adjacent
    vertices, and the vertices are the centres of the 12 resolution-0 pentagons."""
    verts = _xyz(*np.array([h3.cell_to_latlng(p) for p in h3.get_pentagons(0)]).T)
    adjacent = verts @ verts.T > 0.4  # neighbours are 63.4 degrees apart (cos 0.447)
    faces = [verts[a] + verts[b] + verts[c] for a in range(12) for b in range(a + 1, 12)
             for c in range(b + 1, 12) if adjacent[a, b] and adjacent[b, c] and adjacent[a, c]]
    centres = np.array(faces)
    return centres / np.linalg.norm(centres, axis=1, keepdims=True)


def _face_of(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest face centre of each point (H3's face) and the cosine margin to the next."""
    cos = xyz @ _face_centres().T
    part = np.partition(cos, -2, axis=-1)
    return np.argmax(cos, axis=-1), (part[..., -1] - part[..., -2]) / np.linalg.norm(xyz, axis=-1)


@functools.cache
def _edge_normals(face: int) -> np.ndarray:
    """(3, 3) normals of the planes between `face` and its three neighbours: a point is
    on the face exactly when it is on the positive side of all three."""
    centres = _face_centres()
    neighbours = np.argsort(centres @ centres[face])[-4:-1]
    normals = centres[face] - centres[neighbours]
    return normals / np.linalg.norm(normals, axis=1, keepdims=True)


def lattice_ij(cells: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's (i - k, j - k) coordinates in its base cell's face frame at `res`."""
    i = np.zeros(cells.shape, dtype=np.int64)
    j = np.zeros(cells.shape, dtype=np.int64)
    for r in range(1, res + 1):
        digit = ((cells >> np.uint64(3 * (15 - r))) & np.uint64(7)).astype(np.intp)
        if r % 2:  # Class III: aperture 7, counter-clockwise
            i, j = 2 * i + j, 3 * j - i
        else:  # Class II: aperture 7, clockwise
            i, j = 3 * i - j, i + 2 * j
        i += _DIGIT_I[digit]
        j += _DIGIT_J[digit]
    return i, j


def _homogeneous(i, j, origin, scale) -> np.ndarray:
    return np.stack([np.ones(np.shape(i)), (i - origin[0]) / scale, (j - origin[1]) / scale], -1)


def _fit(u: np.ndarray, x: np.ndarray) -> np.ndarray | None:
    """The 3x3 map with x ~ L u (up to scale), by least squares on x cross (L u) = 0."""
    skew = np.zeros((len(x), 3, 3))
    skew[:, 0, 1], skew[:, 0, 2], skew[:, 1, 2] = -x[:, 2], x[:, 1], -x[:, 0]
    skew[:, 1, 0], skew[:, 2, 0], skew[:, 2, 1] = x[:, 2], -x[:, 1], x[:, 0]
    system = np.einsum("kab,kc->kabc", skew, u).reshape(-1, 9)
    matrix = np.linalg.svd(system, full_matrices=False)[2][-1].reshape(3, 3)
    mapped = u @ matrix.T
    if np.sum(mapped * x) < 0:
        matrix, mapped = -matrix, -mapped
    mapped /= np.linalg.norm(mapped, axis=1, keepdims=True)
    if np.linalg.norm(np.cross(mapped, x), axis=1).max() > _FIT_TOL_RAD:
        return None
    return matrix


class _Patch:
    """One fitted (base cell, face) patch: the map, the face, and h3's vertex order."""

    def __init__(self, matrix, face, origin, scale, order):
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float64)
        self.face, self.origin, self.scale = face, origin, float(scale)
        self.order = order

    @functools.cached_property
    def offsets(self) -> np.ndarray:
        return np.ascontiguousarray(self.corner_offsets())

    def map(self, i, j) -> np.ndarray:
        return _homogeneous(i, j, self.origin, self.scale) @ self.matrix.T

    def corner_offsets(self) -> np.ndarray:
        """(6, 3): what each corner adds to a centre's (unnormalised) image, in h3's order."""
        di = _CORNER_I[self.order] / self.scale
        dj = _CORNER_J[self.order] / self.scale
        return di[:, None] * self.matrix[:, 1] + dj[:, None] * self.matrix[:, 2]


def _vertex_order(patch: _Patch, cells, i, j) -> np.ndarray | None:
    """Which of our corners is h3's first, and in which direction h3 goes round."""
    for row in range(len(cells)):
        want = np.array(h3i.cell_to_boundary(int(cells[row])))
        if len(want) != 6:
            continue
        corners = np.stack(_latlon(patch.map(i[row] + _CORNER_I, j[row] + _CORNER_J)), -1)
        for start in range(6):
            for step in (1, -1):
                order = (start + step * np.arange(6)) % 6
                if np.abs(corners[order] - want).max() < 1e-9:
                    return order
        return None
    return None


@functools.cache
def _pentagon_base_cells() -> frozenset[int]:
    return frozenset(h3i.get_base_cell_number(p) for p in h3i.get_pentagons(0))


@functools.cache
def _patches(res: int, base_cell: int) -> tuple[_Patch, ...]:
    """The maps of one base cell at `res`, one per face it covers, largest part first.

    The anchors are fixed by the base cell alone (its descendants a few levels down,
    taken at `res` through their centre children), so a cell gets the same centre
    whatever batch it comes in.
    """
    base = next(c for c in h3i.get_res0_cells() if h3i.get_base_cell_number(c) == base_cell)
    patches = []
    for level in sorted({min(res, 3), min(res, 5)}):
        coarse = np.array(h3i.cell_to_children(base, level), dtype=np.uint64)
        exact = _xyz(*np.array([h3i.cell_to_latlng(int(c)) for c in coarse]).T)
        faces, margin = _face_of(exact)
        fine = np.array([h3i.cell_to_center_child(int(c), res) for c in coarse], dtype=np.uint64)
        i, j = lattice_ij(fine, res)
        counts = np.bincount(faces[margin > _EDGE_MARGIN], minlength=20)
        patches = []
        for face in np.argsort(-counts):
            on = (faces == face) & (margin > _EDGE_MARGIN)
            if on.sum() < 6:
                break
            origin = (int(i[on][0]), int(j[on][0]))
            scale = float(max(1, np.abs(i[on] - origin[0]).max(), np.abs(j[on] - origin[1]).max()))
            matrix = _fit(_homogeneous(i[on], j[on], origin, scale), exact[on])
            if matrix is None:
                continue
            patch = _Patch(matrix, int(face), origin, scale, None)
            patch.order = _vertex_order(patch, fine[on], i[on], j[on])
            if patch.order is not None:
                patches.append(patch)
        if patches and counts[counts > 0].size == len(patches):
            break
    return tuple(patches)


def cell_geometry(cells, *, vertices: bool = True) -> CellGeometry:
    """Centres (and, with `vertices`, boundaries) of same-resolution H3 cells (uint64)."""
    cells = np.ascontiguousarray(cells, dtype=np.uint64)
    n = len(cells)
    # every row a patch sees is written (values or NaN); the NaN here is for the rest
    lat = np.full(n, np.nan)
    lon = np.full(n, np.nan)
    vlat = np.empty((n, 6)) if vertices else None
    vlon = np.empty((n, 6)) if vertices else None
    cxyz = np.empty((n, 3))
    area = np.empty(n) if vertices else None
    seen = np.zeros(n, dtype=bool)
    irregular: dict[int, np.ndarray] = {}
    if n:
        res = h3i.get_resolution(int(cells[0]))
        if np.any(((cells >> np.uint64(52)) & np.uint64(15)) != np.uint64(res)):
            raise ValueError("cell_geometry takes cells of one resolution")
        i, j = lattice_ij(cells, res)
        base = ((cells >> np.uint64(45)) & np.uint64(127)).astype(np.int64)
        edge_rad = h3.average_hexagon_edge_length(res, unit="km") / 6371.0088
        for b in np.unique(base).tolist():
            rows = np.flatnonzero(base == b)
            if b in _pentagon_base_cells():
                continue
            for patch in _patches(res, b):
                if not len(rows):
                    break
                clearance = np.empty(len(rows))
                patch_geometry(i, j, rows, float(patch.origin[0]), float(patch.origin[1]),
                               patch.scale, patch.matrix, _edge_normals(patch.face),
                               _EDGE_MARGIN, 3.0 * edge_rad + _EDGE_MARGIN,
                               patch.offsets if vertices else None, vertices, lat, lon, cxyz,
                               vlat, vlon, area, clearance)
                seen[rows] = True
                rows = rows[clearance <= 0]  # the others lie on another face of this base cell
        if not seen.all():  # pentagon base cells, no patch: through h3 below
            cxyz[~seen] = np.nan
            if vertices:
                vlat[~seen] = vlon[~seen] = area[~seen] = np.nan
        for row in np.flatnonzero(np.isnan(lat) | (np.isnan(vlat[:, 0]) if vertices else False)):
            cell = int(cells[row])
            lat[row], lon[row] = h3i.cell_to_latlng(cell)
            cxyz[row] = _xyz(lat[row], lon[row])
            if vertices:
                ring = np.array(h3i.cell_to_boundary(cell))
                if len(ring) == 6:
                    vlat[row], vlon[row] = ring[:, 0], ring[:, 1]
                    area[row] = h3i.cell_area(cell, unit="rads^2")
                else:
                    irregular[int(row)] = ring
    return CellGeometry(lat, lon, vlat, vlon, irregular if vertices else None, cxyz, area)
