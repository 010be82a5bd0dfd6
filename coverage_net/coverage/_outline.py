"""The outline of a set of H3 cells as polygons with holes, in time linear in the cells.

Unioning hexagons with a general polygon union costs more than predicting them.
A cell set's outline needs no geometry at all: every cell edge shared by two
cells of the set appears twice, once in each direction, and cancels; the edges
left over are the outline. In a hexagon grid each outline vertex has exactly
one outgoing outline edge, so following "next edge" pointers walks the rings.
Finding the twins, linking the edges left and walking them is compiled
(`ext/outline.pyx`: hash tables on the quantised corners, linear in the corners).
Because cells run counter-clockwise, outer rings come out counter-clockwise and
holes clockwise, as RFC 7946 wants. Holes are given to the smallest outer ring
that contains them (shapely, on the few rings whose bounding box holds a hole,
not the many cells).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from ._outline_rings import outline_rings

# vertex identity: coordinates rounded to the 1e-7 degree the files are written with
_QUANTUM_DEG = 1e-7


def _quantise(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates as integer multiples of 1e-7 degree, from 0 (lon unwrapped to +-400)."""
    return (np.rint((lon + 400.0) / _QUANTUM_DEG).astype(np.int64),
            np.rint((lat + 90.0) / _QUANTUM_DEG).astype(np.int64))


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
    # the compiled half: twin edges cancelled, the rest linked and walked into rings
    order, cuts = outline_rings(q_lon, q_lat, nxt_index)
    if not len(order):
        return EMPTY
    xy = np.stack([q_lon[order] * _QUANTUM_DEG - 400.0, q_lat[order] * _QUANTUM_DEG - 90.0],
                  axis=-1)
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
        # a tree of the holes' first corners; only the outer rings whose bounding box
        # holds one of them (few: most islands hold no hole) are built as polygons
        points = shapely.points(xy[starts[holes]])
        tree = shapely.STRtree(points)
        lo = np.minimum.reduceat(xy, starts, axis=0)[outer]
        hi = np.maximum.reduceat(xy, starts, axis=0)[outer]
        boxed, _ = tree.query(shapely.box(lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1]))
        boxed = np.unique(boxed)  # positions in `outer`
        candidates = outer[boxed]
        rows = _ragged_rows(starts[candidates], sizes[candidates])
        coords = np.insert(xy[rows], np.cumsum(sizes[candidates]), xy[starts[candidates]],
                           axis=0)
        shells = shapely.polygons(shapely.linearrings(
            coords, indices=np.repeat(np.arange(len(candidates)), sizes[candidates] + 1)))
        shell_area = shapely.area(shells)
        # queried with the shells: shapely prepares each shell once, so a point test is
        # logarithmic in the shell's size
        shell_at, hole_at = tree.query(shells, predicate="contains")
        # the innermost shell holding a hole is the smallest that does
        order = np.lexsort((shell_area[shell_at], hole_at))
        hole_at, shell_at = hole_at[order], shell_at[order]
        first = np.r_[True, hole_at[1:] != hole_at[:-1]]
        if first.sum() != len(holes):  # cannot happen for a valid cell set
            raise ValueError("a hole of a cell outline lies in no outer ring")
        shell_of_hole = boxed[shell_at[first][np.argsort(hole_at[first])]]
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
