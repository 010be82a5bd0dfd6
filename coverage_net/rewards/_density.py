"""HIP-17 hex density: how much a hotspot's beacons are worth where it stands.

Only interactive hotspots count (a valid beacon witnessed within the parameters'
`interactive_window_ms`). From the finest resolution listed to the coarsest:

- a hex's *unclipped* density is, at the finest level, the number of interactive
  hotspots in it; at every coarser level, the sum of its children's *clipped*
  densities;
- its *occupied count* is the number of hexes in its 1-ring (itself and its six
  neighbours) whose unclipped density reaches the level's `target`;
- its limit is ``min(maximum, target * (max(occupied - neighbours, 0) + 1))``, and
  its clipped density ``min(limit, unclipped)``.

A hotspot's transmit scale is the product, over the levels, of clipped / unclipped
of the hex holding it: exact (`fractions.Fraction`), at most 1, and 0 for a hotspot
that is not interactive. The beaconer's scale multiplies its own units and its
witnesses' units for that beacon (a witness's own scale does not matter).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from h3.api import basic_int as h3

from coverage_net.poc import HexDensityParams

__all__ = ["HexLevel", "hex_levels", "transmit_scales"]


@dataclass(frozen=True)
class HexLevel:
    """One resolution's densities: per occupied hex, (unclipped, clipped)."""

    resolution: int
    densities: Mapping[int, tuple[int, int]]


def _at(cell: int, res: int) -> int:
    have = h3.get_resolution(cell)
    if have == res:
        return cell
    return h3.cell_to_parent(cell, res) if have > res else h3.cell_to_center_child(cell, res)


def hex_levels(cells: Mapping[bytes, int],
               density: Sequence[HexDensityParams]) -> list[HexLevel]:
    """The densities at every level for the interactive hotspots' `cells`, finest first."""
    levels = sorted(density, key=lambda d: -d.resolution)
    out: list[HexLevel] = []
    clipped_below: dict[int, int] = {}
    for i, level in enumerate(levels):
        unclipped: Counter[int] = Counter()
        if i == 0:
            for cell in cells.values():
                unclipped[_at(cell, level.resolution)] += 1
        else:
            for child, value in clipped_below.items():
                unclipped[h3.cell_to_parent(child, level.resolution)] += value
        densities = {}
        for hex_id, value in unclipped.items():
            occupied = sum(1 for ring in h3.grid_disk(hex_id, 1)
                           if unclipped.get(ring, 0) >= level.target)
            limit = min(level.maximum,
                        level.target * (max(occupied - level.neighbours, 0) + 1))
            densities[hex_id] = (value, min(limit, value))
        clipped_below = {hex_id: clipped for hex_id, (_, clipped) in densities.items()}
        out.append(HexLevel(level.resolution, densities))
    return out


def transmit_scales(cells: Mapping[bytes, int], interactive: frozenset[bytes] | set[bytes],
                    density: Sequence[HexDensityParams]) -> dict[bytes, Fraction]:
    """Every hotspot's transmit scale (0 for those not `interactive`); see the module doc."""
    counted = {key: cell for key, cell in cells.items() if key in interactive}
    levels = hex_levels(counted, density)
    scales = {key: Fraction(0) for key in cells}
    for key, cell in counted.items():
        scale = Fraction(1)
        for level in levels:
            unclipped, clipped = level.densities[_at(cell, level.resolution)]
            scale *= Fraction(clipped, unclipped)
        scales[key] = scale
    return scales
