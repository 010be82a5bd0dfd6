"""GeoJSON of a coverage map (RFC 7946): one feature per layer and class, its cells merged.

Each (layer, class) group's hexes are merged into one (Multi)Polygon with shapely
(`union_all`, which nodes the shared edges once: it does not grow with the square of
the cells), oriented as RFC 7946 asks (exterior rings counter-clockwise, holes
clockwise, [longitude, latitude]). A group that crosses the antimeridian is merged in
unwrapped longitudes and then cut at 180 degrees into pieces on either side
(RFC 7946 section 3.1.9), so no ring spans the globe. Hotspots are Point features.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h3
import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape

from ._geojson import split_antimeridian
from ._layers import CoverageLayers
from ._map_png import cell_rings
from ._write import atomic_text

__all__ = ["map_feature_collection", "rfc7946_geometry", "write_map_geojson"]

def rfc7946_geometry(rings: list[np.ndarray]) -> MultiPolygon | Polygon:
    """The union of cell rings ((lon, lat) vertices, unwrapped per cell), cut at the
    antimeridian and wound counter-clockwise (exteriors): `split_antimeridian`."""
    return shape(split_antimeridian(shapely.union_all([Polygon(r) for r in rings])))


def map_feature_collection(layers: CoverageLayers) -> dict[str, object]:
    rings = cell_rings(layers.cells)
    features: list[dict[str, object]] = []
    for layer, class_name in layers.groups():
        picked = np.flatnonzero(layers.mask(layer, class_name))
        area_km2 = sum(h3.cell_area(h3.int_to_str(int(layers.cells[i])), unit="km^2")
                       for i in picked.tolist())
        features.append({"type": "Feature",
                         "geometry": _rounded(mapping(rfc7946_geometry(
                             [rings[i] for i in picked]))),
                         "properties": {"layer": layer, "class": class_name,
                                        "cells": len(picked), "area_km2": round(area_km2, 3),
                                        "res": layers.res}})
    for h in layers.hotspots:
        features.append({"type": "Feature",
                         "geometry": {"type": "Point",
                                      "coordinates": [round(h.lon_deg, 7), round(h.lat_deg, 7)]},
                         "properties": {"hotspot": h.key_hex, "coverage_proven": h.proven,
                                        "valid_witnesses": h.witnessed}})
    return {"type": "FeatureCollection", "features": features}


def write_map_geojson(layers: CoverageLayers, path: str | os.PathLike[str]) -> Path:
    with atomic_text(Path(path)) as out:
        json.dump(map_feature_collection(layers), out, separators=(",", ":"), allow_nan=False)
        out.write("\n")
    return Path(path)


def _rounded(geometry: dict) -> dict:
    def walk(value):
        if isinstance(value, tuple | list):
            if value and isinstance(value[0], float):
                return [round(v, 7) for v in value]
            return [walk(v) for v in value]
        return value

    return {"type": geometry["type"], "coordinates": walk(geometry["coordinates"])}
