"""PNG of a coverage map (matplotlib): hexes coloured by layer and class, the hotspots, a
legend, a scale bar, and a title that says what is proven and what predicted.

Longitude is drawn against latitude at the map's middle latitude's true scale (an
equirectangular projection about the map: fine for the tens of kilometres a LoRa map
spans). Hexes are drawn without anti-aliasing and without transparency, so every
class has one exact colour in the picture (`_palette`) and a test can find it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import h3
import numpy as np

from ._geojson import unwrap_lon
from ._layers import CoverageLayers
from ._palette import HOTSPOT_COLOUR, PROVEN_HOTSPOT_COLOUR, colour_of
from ._write import atomic_binary

if TYPE_CHECKING:  # matplotlib loads when a map is drawn (half a second at start-up)
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["map_figure", "map_title", "write_map_png"]

_KM_PER_DEG = 111.195  # mean great-circle km per degree of latitude
_NICE_KM = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def map_title(layers: CoverageLayers) -> str:
    """What the map shows, in words: the proven and the predicted part."""
    proven = int(np.count_nonzero(layers.layer == 0))
    predicted = len(layers) - proven
    around = sum(1 for h in layers.hotspots if h.proven)
    return (f"Proven: {proven:,} cells where {layers.witness_count:,} valid witnesses heard "
            f"hotspots or routers bought uplinks\nPredicted (model, not proof): {predicted:,} "
            f"more cells around the {around} hotspots with proven coverage - H3 res {layers.res}")


def cell_rings(cells: np.ndarray) -> list[np.ndarray]:
    """Each cell's boundary as (lon, lat) vertices, unwrapped across the antimeridian.

    h3's own boundaries, cell by cell: neighbours share their corners bit for bit, so
    a union of cells has no slivers along shared edges (independently computed
    corners differ in the last bits, and `union_all` keeps those as specks)."""
    rings = []
    for cell in np.asarray(cells, dtype=np.uint64).tolist():
        ring = np.asarray(h3.cell_to_boundary(h3.int_to_str(cell)))[:, ::-1]
        ring[:, 0] = unwrap_lon(ring[:, 0], ring[0, 0])
        rings.append(ring)
    return rings


def write_map_png(layers: CoverageLayers, path: str | os.PathLike[str], *,
                  width_px: int = 1200, height_px: int = 900, dpi: int = 100) -> Path:
    """Render the map to `path` (PNG)."""
    fig = map_figure(layers, width_px=width_px, height_px=height_px, dpi=dpi)
    with atomic_binary(Path(path)) as out:
        fig.savefig(out, format="png", dpi=dpi)
    return Path(path)


def map_figure(layers: CoverageLayers, *, width_px: int = 1200, height_px: int = 900,
               dpi: int = 100) -> Figure:
    """The map as a matplotlib figure (no pyplot: nothing needs a display)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    ax = fig.add_subplot()
    handles = _draw(ax, layers)
    ax.legend(handles=handles, loc="upper left", fontsize=8, framealpha=1.0,
              title="coverage", title_fontsize=9)
    ax.set_title(map_title(layers), fontsize=10)
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    fig.tight_layout()
    return fig


def _draw(ax: Axes, layers: CoverageLayers) -> list[object]:
    from matplotlib.collections import PolyCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[object] = []
    rings = cell_rings(layers.cells)
    for layer, class_name in layers.groups():
        picked = np.flatnonzero(layers.mask(layer, class_name))
        colour = colour_of(layer, class_name)
        ax.add_collection(PolyCollection([rings[i] for i in picked], facecolors=colour,
                                         edgecolors=colour, linewidths=0.0, antialiased=False))
        handles.append(Patch(facecolor=colour, edgecolor=colour,
                             label=f"{layer} {class_name} ({len(picked):,} cells)"))
    points = [h for h in layers.hotspots]
    for proven in (True, False):
        chosen = [h for h in points if h.proven == proven]
        if not chosen:
            continue
        colour = PROVEN_HOTSPOT_COLOUR if proven else HOTSPOT_COLOUR
        # hollow: a hotspot stands in the cell its own witnessing proves, which shows inside
        ax.scatter([h.lon_deg for h in chosen], [h.lat_deg for h in chosen], s=60,
                   marker="^" if proven else "o", facecolors="none", edgecolors=colour,
                   linewidths=1.0, zorder=3)
        handles.append(Line2D([], [], linestyle="", marker="^" if proven else "o",
                              markerfacecolor="none", markeredgecolor=colour,
                              label=f"hotspot, coverage {'proven' if proven else 'not proven'} "
                                    f"({len(chosen)})"))
    lon = [v for r in rings for v in r[:, 0]] + [h.lon_deg for h in points]
    lat = [v for r in rings for v in r[:, 1]] + [h.lat_deg for h in points]
    if not lon:
        lon, lat = [-0.01, 0.01], [-0.01, 0.01]
    pad_lon = max(0.01, 0.05 * (max(lon) - min(lon)))
    pad_lat = max(0.01, 0.05 * (max(lat) - min(lat)))
    ax.set_xlim(min(lon) - pad_lon, max(lon) + pad_lon)
    ax.set_ylim(min(lat) - pad_lat, max(lat) + pad_lat)
    mid_lat = (min(lat) + max(lat)) / 2
    ax.set_aspect(1 / max(math.cos(math.radians(mid_lat)), 0.05))
    _scale_bar(ax, mid_lat)
    return handles


def _scale_bar(ax: Axes, lat_deg: float) -> None:
    """A bar of a round number of km, about a fifth of the map's width, bottom right."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    km_per_deg_lon = _KM_PER_DEG * max(math.cos(math.radians(lat_deg)), 0.05)
    width_km = (x1 - x0) * km_per_deg_lon
    km = max((k for k in _NICE_KM if k <= width_km / 5), default=_NICE_KM[0])
    length_deg = km / km_per_deg_lon
    right, bottom = x1 - 0.05 * (x1 - x0), y0 + 0.05 * (y1 - y0)
    ax.plot([right - length_deg, right], [bottom, bottom], color="black", linewidth=3,
            solid_capstyle="butt", zorder=4)
    ax.text(right - length_deg / 2, bottom + 0.015 * (y1 - y0), f"{km:g} km", ha="center",
            va="bottom", fontsize=9, zorder=4)
