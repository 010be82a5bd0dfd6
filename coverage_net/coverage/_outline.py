"""The outline of a set of H3 cells as polygons with holes, in time linear in the cells.

Unioning hexagons with a general polygon union costs more than predicting them.
A cell set's outline needs no geometry at all: every cell edge shared by two
cells of the set appears twice, once in each direction, and cancels; the edges
left over are the outline. In a hexagon grid each outline vertex has exactly
one outgoing outline edge, so following "next edge" pointers walks the rings.
Rings and their order are found with vectorised pointer jumping (log2 of the
longest ring passes), not a Python loop. Because cells run counter-clockwise,
outer rings come out counter-clockwise and holes clockwise, as RFC 7946 wants.
Holes are given to the smallest outer ring that contains them (shapely, on the
few rings, not the many cells).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

# vertex identity: coordinates rounded to the 1e-7 degree the files are written with
_QUANTUM_DEG = 1e-7


def _quantise(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates as integer multiples of 1e-7 degree, from 0 (lon unwrapped to +-400)."""
    return (np.rint((lon + 400.0) / _QUANTUM_DEG).astype(np.int64),
            np.rint((lat + 90.0) / _QUANTUM_DEG).astype(np.int64))


def _jump_rings(nxt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a permutation made of cycles: each element's cycle label (its smallest
    member) and its position in the cycle counted from that label."""
    n = len(nxt)
    label = np.arange(n)
    step = nxt
    while True:  # label: the smallest of the next 2^k elements, until no pass changes it
        new = np.minimum(label, label[step])
        if np.array_equal(new, label):
            break
        label, step = new, step[step]
    # rank by distance to the cycle's tail, the element whose next is the label
    tail = nxt == label
    succ = np.where(tail, np.arange(n), nxt)
    dist = (~tail).astype(np.int64)
    while not np.array_equal(succ, succ[succ]):
        dist, succ = dist + dist[succ], succ[succ]
    dist = dist + dist[succ]
    length = np.bincount(label, minlength=n)[label]
    return label, length - 1 - dist


def outline(vertex_lon: np.ndarray, vertex_lat: np.ndarray,
            extra_rings: list[np.ndarray] = ()) -> Outline:
    """The union of cells given as (n, 6) counter-clockwise corner arrays (lon, lat)
    plus extra open (m, 2) rings, as polygons with holes."""
    q_lon, q_lat = _quantise(np.concatenate([vertex_lon.ravel()] + [r[:, 0] for r in extra_rings]),
                             np.concatenate([vertex_lat.ravel()] + [r[:, 1] for r in extra_rings]))
    nxt_index = np.arange(len(q_lon)) + 1
    if vertex_lon.size:
        nxt_index[:vertex_lon.size].reshape(vertex_lon.shape)[:, -1] -= vertex_lon.shape[1]
    at = vertex_lon.size
    for ring in extra_rings:
        at += len(ring)
        nxt_index[at - 1] -= len(ring)
    if not len(q_lon):
        return EMPTY
    src_lon, src_lat = q_lon, q_lat
    dst_lon, dst_lat = q_lon[nxt_index], q_lat[nxt_index]
    edge = (src_lon != dst_lon) | (src_lat != dst_lat)  # a corner repeated by rounding
    # an edge inside the set appears twice, once each way, with the same midpoint:
    # its key (coordinate sums, halved to fit 64 bits) finds the twins in one sort
    key = (((src_lon + dst_lon) >> 1) << 32) | ((src_lat + dst_lat) >> 1)
    key = key[edge]
    order = np.argsort(key)
    ordered = key[order]
    twin = np.zeros(len(ordered) + 1, dtype=bool)
    twin[1:-1] = ordered[1:] == ordered[:-1]
    boundary = np.zeros(len(q_lon), dtype=bool)
    kept = np.flatnonzero(edge)
    boundary[kept[order[~(twin[1:] | twin[:-1])]]] = True
    if not boundary.any():
        return EMPTY
    src = (src_lon[boundary] << 31) | src_lat[boundary]
    dst = (dst_lon[boundary] << 31) | dst_lat[boundary]
    vertex_keys, src_id = np.unique(src, return_inverse=True)
    dst_id = np.searchsorted(vertex_keys, dst)
    if len(vertex_keys) != len(src) or not np.array_equal(vertex_keys[dst_id], dst):
        raise ValueError("cells meet at a vertex with two outline edges; not an H3 cell set")
    nxt = np.empty(len(src), dtype=np.int64)
    nxt[:] = np.argsort(src_id)[dst_id]  # the edge leaving where this one ends
    label, position = _jump_rings(nxt)
    order = np.lexsort((position, label))
    ring_label = label[order]
    cuts = np.flatnonzero(np.r_[True, ring_label[1:] != ring_label[:-1], True])
    xy = np.stack([(src_lon[boundary][order]) * _QUANTUM_DEG - 400.0,
                   (src_lat[boundary][order]) * _QUANTUM_DEG - 90.0], axis=-1)
    # shoelace per ring: each vertex with the next one of its own ring
    nxt_xy = np.roll(xy, -1, axis=0)
    nxt_xy[cuts[1:] - 1] = xy[cuts[:-1]]
    cross = xy[:, 0] * nxt_xy[:, 1] - nxt_xy[:, 0] * xy[:, 1]
    areas = 0.5 * np.add.reduceat(cross, cuts[:-1])
    return _nest(xy, cuts, areas)


@dataclass(frozen=True)
class Outline:
    """Polygons as flat arrays: ring r is `xy[ring_start[r]:ring_start[r + 1]]` (open:
    the first corner is not repeated), polygon p is rings `polygon_start[p]` up to
    `polygon_start[p + 1]`, its outer ring first, then its holes."""

    xy: np.ndarray
    ring_start: np.ndarray
    polygon_start: np.ndarray

    def __len__(self) -> int:
        return len(self.polygon_start) - 1

    def polygons(self) -> list[list[np.ndarray]]:
        """Closed (m, 2) rings per polygon (for the few outlines that need shapely)."""
        out = []
        for p in range(len(self)):
            rings = []
            for r in range(self.polygon_start[p], self.polygon_start[p + 1]):
                ring = self.xy[self.ring_start[r]:self.ring_start[r + 1]]
                rings.append(np.vstack([ring, ring[:1]]))
            out.append(rings)
        return out


EMPTY = Outline(np.empty((0, 2)), np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))


def _ragged_rows(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The rows of several [start, start + size) ranges, one after the other."""
    offsets = np.cumsum(sizes) - sizes
    return np.repeat(starts - offsets, sizes) + np.arange(int(sizes.sum()))


def _nest(xy: np.ndarray, cuts: np.ndarray, areas: np.ndarray) -> Outline:
    """Outer rings (counter-clockwise) with the holes (clockwise) that lie in them."""
    starts, sizes = cuts[:-1], np.diff(cuts)
    outer = np.flatnonzero(areas > 0)
    holes = np.flatnonzero(areas <= 0)
    owner = np.arange(len(outer))
    shell_of_hole = np.empty(0, dtype=np.int64)
    if len(holes):
        rows = _ragged_rows(starts[outer], sizes[outer])
        coords = np.insert(xy[rows], np.cumsum(sizes[outer]), xy[starts[outer]], axis=0)
        shells = shapely.polygons(shapely.linearrings(
            coords, indices=np.repeat(np.arange(len(outer)), sizes[outer] + 1)))
        shell_area = shapely.area(shells)
        # a tree of the holes' first corners, queried with the shells: shapely prepares
        # each shell once, so a point test is logarithmic in the shell's size
        points = shapely.points(xy[starts[holes]])
        shell_at, hole_at = shapely.STRtree(points).query(shells, predicate="contains")
        # the innermost shell holding a hole is the smallest that does
        order = np.lexsort((shell_area[shell_at], hole_at))
        hole_at, shell_at = hole_at[order], shell_at[order]
        first = np.r_[True, hole_at[1:] != hole_at[:-1]]
        if first.sum() != len(holes):  # cannot happen for a valid cell set
            raise ValueError("a hole of a cell outline lies in no outer ring")
        shell_of_hole = shell_at[first][np.argsort(hole_at[first])]
    # rings ordered by polygon, the outer ring first
    polygon = np.concatenate([owner, shell_of_hole])
    is_hole = np.r_[np.zeros(len(outer), bool), np.ones(len(holes), bool)]
    ring_ids = np.concatenate([outer, holes])
    order = np.lexsort((is_hole, polygon))
    ring_ids = ring_ids[order]
    rows = _ragged_rows(starts[ring_ids], sizes[ring_ids])
    ring_start = np.r_[0, np.cumsum(sizes[ring_ids])]
    polygon_start = np.r_[0, np.cumsum(np.bincount(polygon, minlength=len(outer)))]
    return Outline(xy[rows], ring_start, polygon_start)
