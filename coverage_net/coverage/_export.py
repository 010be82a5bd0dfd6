"""GeoJSON output of a coverage map.

* `cells.geojson`: one Polygon feature per H3 cell reached, with the best RSSI,
  the number of hotspots that reach it and the strongest hotspot's name;
* `coverage_classes.geojson`: per signal class, the union (shapely) of its cells
  as one (Multi)Polygon with its area;
* `summary.json`: what was predicted, per hotspot and overall.

Files are written to a temporary name and renamed, so an interrupted run never
leaves a half-written file behind. Cells are hex strings here, at the edge.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h3
import numpy as np
import shapely
from shapely.geometry import Polygon, mapping

from ._predict import CoverageMap


@dataclass(frozen=True)
class SignalClass:
    name: str
    min_rssi_dbm: float  # inclusive
    max_rssi_dbm: float  # exclusive


DEFAULT_CLASSES = (
    SignalClass("excellent", -100.0, float("inf")),
    SignalClass("good", -110.0, -100.0),
    SignalClass("fair", -120.0, -110.0),
    SignalClass("marginal", float("-inf"), -120.0),
)


def _cell_polygon(cell: str) -> list[list[float]]:
    ring = [[round(lng, 7), round(lat, 7)] for lat, lng in h3.cell_to_boundary(cell)]
    return ring + [ring[0]]


def _write_json(path: Path, payload: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, separators=(",", ":"), allow_nan=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def cells_feature_collection(cmap: CoverageMap) -> dict:
    features = []
    for cell, rssi, count, best in zip(cmap.cells.tolist(), cmap.best_rssi_dbm.tolist(),
                                       cmap.hotspot_count.tolist(), cmap.best_hotspot.tolist(),
                                       strict=True):
        text = h3.int_to_str(cell)
        features.append({
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [_cell_polygon(text)]},
            "properties": {"cell": text, "best_rssi_dbm": round(rssi, 2), "hotspots": count,
                           "best_hotspot": best},
        })
    return {"type": "FeatureCollection", "features": features}


def _bound(value: float) -> float | None:
    return None if not np.isfinite(value) else value


def class_feature_collection(cmap: CoverageMap,
                             classes: Sequence[SignalClass] = DEFAULT_CLASSES) -> dict:
    features = []
    for cls in classes:
        mask = (cmap.best_rssi_dbm >= cls.min_rssi_dbm) & (cmap.best_rssi_dbm < cls.max_rssi_dbm)
        cells = [h3.int_to_str(c) for c in cmap.cells[mask].tolist()]
        if not cells:
            continue
        merged = shapely.union_all([Polygon(_cell_polygon(c)) for c in cells])
        area_km2 = sum(h3.cell_area(c, unit="km^2") for c in cells)
        features.append({
            "type": "Feature",
            "geometry": mapping(merged),
            "properties": {"class": cls.name, "min_rssi_dbm": _bound(cls.min_rssi_dbm),
                           "max_rssi_dbm": _bound(cls.max_rssi_dbm), "cells": len(cells),
                           "area_km2": round(area_km2, 3)},
        })
    return {"type": "FeatureCollection", "features": features}


def summary(cmap: CoverageMap, *, model_name: str, dem: str | None) -> dict:
    area = sum(h3.cell_area(h3.int_to_str(c), unit="km^2") for c in cmap.cells.tolist())
    return {
        "model": model_name,
        "dem": dem,
        "res": cmap.res,
        "cells_covered": int(len(cmap.cells)),
        "area_km2": round(area, 3),
        "cells_by_hotspot_count": {str(k): int(v) for k, v in
                                   zip(*np.unique(cmap.hotspot_count, return_counts=True),
                                       strict=True)},
        "hotspots": [
            {"name": h.hotspot.name, "lat": h.hotspot.lat_deg, "lon": h.hotspot.lon_deg,
             "height_m": h.hotspot.antenna_height_m, "eirp_dbm": h.hotspot.eirp_dbm,
             "region": h.hotspot.region, "spreading_factor": h.spreading_factor,
             "freq_hz": h.freq_hz, "sensitivity_dbm": round(h.sensitivity_dbm, 2),
             "cells_evaluated": h.cells_evaluated, "cells_reached": int(len(h.cells)),
             "cells_outside_dem": h.cells_outside_dem,
             "hotspot_outside_dem": h.hotspot_outside_dem,
             "max_range_km": round(h.max_range_m / 1e3, 3)}
            for h in cmap.per_hotspot
        ],
    }


def write_coverage(cmap: CoverageMap, out_dir: str | os.PathLike, *, model_name: str,
                   dem: str | None = None,
                   classes: Sequence[SignalClass] = DEFAULT_CLASSES) -> dict[str, Path]:
    """Write cells.geojson, coverage_classes.geojson and summary.json into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"cells": out / "cells.geojson", "classes": out / "coverage_classes.geojson",
             "summary": out / "summary.json"}
    _write_json(paths["cells"], cells_feature_collection(cmap))
    _write_json(paths["classes"], class_feature_collection(cmap, classes))
    _write_json(paths["summary"], summary(cmap, model_name=model_name, dem=dem))
    return paths
