"""GeoJSON output of a coverage map, written as fast as the kernel predicts it.

* `cells.geojson`: one Polygon feature per H3 cell reached, with the best RSSI,
  the number of hotspots that reach it and the strongest hotspot's name;
* `coverage_classes.geojson`: per signal class, the outline of its cells as one
  (Multi)Polygon with its area;
* `summary.json`: what was predicted, per hotspot and overall.

Cell geometry comes from `_cellgeom` (all cells at once), features are written
in batches by a compiled formatter (`_geojson`), and class outlines come from
cancelling shared cell edges (`_outline`), so no step grows faster than the
number of cells. Files are written to a temporary name and renamed, so an
interrupted run never leaves a half-written file behind. Cells are hex strings
here, at the edge.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import h3
import numpy as np
from shapely.geometry import MultiPolygon, Polygon

from ._cellgeom import CellGeometry, cell_geometry
from ._geojson import (
    StreamedCollection,
    crosses_antimeridian,
    hex_feature_text,
    polygons_text,
    split_antimeridian,
    unwrap_lon,
)
from ._outline import Outline, outline
from ._predict import CoverageMap
from ._write import atomic_text

# features formatted and written per batch: bounded memory, output as it is produced
_BATCH_CELLS = 65_536
# cells per corner computation: small enough to stay in cache, several per thread
_GEOMETRY_BATCH_CELLS = 16_384
# H3's authalic earth radius, for cell areas as h3.cell_area computes them
_EARTH_RADIUS_KM = 6371.007180918475


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


@dataclass
class _Corners:
    """Every cell's corners, for its feature and for the class outlines."""

    lon: np.ndarray  # (n, 6), continuing each cell's centre; NaN rows for irregular cells
    lat: np.ndarray
    irregular: dict[int, np.ndarray]  # row -> (m, 2) lon/lat
    shift: np.ndarray  # whole turns that bring each cell into the map's frame


def _write_json(path: Path, payload: dict) -> None:
    with atomic_text(path) as fh:
        json.dump(payload, fh, separators=(",", ":"), allow_nan=False)
        fh.write("\n")


def _cell_areas_km2(geometry: CellGeometry, cells: np.ndarray) -> np.ndarray:
    """Cell areas as h3.cell_area gives them (six spherical triangles from the centre)."""
    area = geometry.area_sr * _EARTH_RADIUS_KM ** 2
    for row in geometry.irregular:
        area[row] = h3.cell_area(h3.int_to_str(int(cells[row])), unit="km^2")
    return area


def _reference_lon(cmap: CoverageMap) -> float:
    """A longitude near the map's cells: the frame outlines are built in, then split."""
    return float(cmap.per_hotspot[0].hotspot.lon_deg) if cmap.per_hotspot else 0.0


def _odd_feature(cmap: CoverageMap, at: int, ring: np.ndarray) -> dict:
    """A cell feature built as a dict: irregular corners, or cut by the antimeridian."""
    ring = np.round(np.vstack([ring, ring[:1]]), 7)
    if crosses_antimeridian(ring[:, 0]):
        shape = split_antimeridian(Polygon(ring))
    else:
        shape = {"type": "Polygon", "coordinates": [ring.tolist()]}
    rssi = float(cmap.best_rssi_dbm[at])
    if not np.isfinite(rssi):
        raise ValueError(f"{rssi} is not allowed in JSON: numbers must be finite")
    return {"type": "Feature", "geometry": shape,
            "properties": {"cell": h3.int_to_str(int(cmap.cells[at])),
                           "best_rssi_dbm": round(rssi, 2),
                           "hotspots": int(cmap.hotspot_count[at]),
                           "best_hotspot": str(cmap.best_hotspot[at])}}


def _corners(cmap: CoverageMap, pool: Executor | None = None) -> tuple[_Corners, np.ndarray]:
    """Every cell's corners and area (km2), computed batch by batch (on the pool's
    threads when given one: numpy lets go of the GIL for the heavy part)."""
    reference = _reference_lon(cmap)
    n = len(cmap.cells)
    areas = np.empty(n)
    corners = _Corners(np.full((n, 6), np.nan), np.full((n, 6), np.nan), {}, np.zeros(n))

    def batch(start: int) -> None:
        stop = min(start + _GEOMETRY_BATCH_CELLS, n)
        cells = cmap.cells[start:stop]
        geometry = cell_geometry(cells)
        areas[start:stop] = _cell_areas_km2(geometry, cells)
        # a cell's own corners continue its centre's longitude (split if past 180);
        # the outlines take them shifted by whole turns into the map's frame
        lon = geometry.vertex_lon_deg
        if (cmap.res < 3 or abs(reference) > 170.0 or np.any(np.abs(geometry.lon_deg) > 170.0)
                or np.any(np.abs(geometry.lat_deg) > 80.0)):
            lon = unwrap_lon(lon, geometry.lon_deg[:, None])
            corners.shift[start:stop] = (unwrap_lon(geometry.lon_deg, reference)
                                         - geometry.lon_deg)
        corners.lon[start:stop] = lon
        corners.lat[start:stop] = geometry.vertex_lat_deg
        for row, lat_lon in geometry.irregular.items():
            corners.irregular[start + row] = np.stack(
                [unwrap_lon(lat_lon[:, 1], geometry.lon_deg[row]), lat_lon[:, 0]], axis=-1)

    starts = range(0, n, _GEOMETRY_BATCH_CELLS)
    list(pool.map(batch, starts) if pool is not None else map(batch, starts))
    return corners, areas


def write_cells(cmap: CoverageMap, path: Path, corners: _Corners) -> None:
    """Stream cells.geojson, a batch of byte rows at a time."""
    names = [h.hotspot.name for h in cmap.per_hotspot]
    owner = cmap.best_index
    buffer = np.empty(0, dtype=np.uint8)  # one text buffer for every batch
    with StreamedCollection(path) as out:
        for start in range(0, len(cmap.cells), _BATCH_CELLS):
            stop = min(start + _BATCH_CELLS, len(cmap.cells))
            lon, lat = corners.lon[start:stop], corners.lat[start:stop]
            regular = ~np.isnan(lon[:, 0])
            regular[regular] = ~(np.any(np.abs(lon[regular]) > 180.0, axis=1))
            rows = np.flatnonzero(regular)
            at = start + rows
            text = hex_feature_text(lon[rows], lat[rows], cmap.cells[at],
                                    cmap.best_rssi_dbm[at], cmap.hotspot_count[at], owner[at],
                                    names, buffer)
            buffer = text.obj  # the array the text was written into, for the next batch
            out.write_text(text)
            for row in (start + np.flatnonzero(~regular)).tolist():
                ring = corners.irregular.get(row)
                if ring is None:
                    ring = np.stack([corners.lon[row], corners.lat[row]], -1)
                out.write_feature(_odd_feature(cmap, row, ring))


def _bound(value: float) -> float | None:
    return None if not np.isfinite(value) else value


def _outline_text(shape: Outline) -> bytes:
    """GeoJSON geometry text of an outline, split where it crosses +-180 degrees."""
    if crosses_antimeridian(shape.xy[:, 0]):
        polygons = shape.polygons()
        split = split_antimeridian(MultiPolygon([Polygon(p[0], p[1:]) for p in polygons]))
        return json.dumps(split, separators=(",", ":")).encode()
    if len(shape) == 1:
        return b'{"type":"Polygon","coordinates":' + polygons_text(shape)[1:-1] + b"}"
    return b'{"type":"MultiPolygon","coordinates":' + polygons_text(shape) + b"}"


def _class_feature(cmap: CoverageMap, areas_km2: np.ndarray, corners: _Corners,
                   cls: SignalClass) -> bytes | None:
    """The outline feature of one signal class (None: no cell in it)."""
    rssi = cmap.best_rssi_dbm
    mask = (rssi >= cls.min_rssi_dbm) & (rssi < cls.max_rssi_dbm)
    if not mask.any():
        return None
    regular = mask & ~np.isnan(corners.lon[:, 0])
    extra = [ring + [corners.shift[row], 0.0]
             for row, ring in corners.irregular.items() if mask[row]]
    lon = corners.lon[regular]
    if corners.shift.any():
        lon = lon + corners.shift[regular, None]
    polygons = outline(lon, corners.lat[regular], extra)
    properties = {"class": cls.name, "min_rssi_dbm": _bound(cls.min_rssi_dbm),
                  "max_rssi_dbm": _bound(cls.max_rssi_dbm), "cells": int(mask.sum()),
                  "area_km2": round(float(areas_km2[mask].sum()), 3)}
    return (b'{"type":"Feature","geometry":' + _outline_text(polygons)
            + b',"properties":' + json.dumps(properties).encode() + b"}")


def write_classes(cmap: CoverageMap, path: Path, areas_km2: np.ndarray, corners: _Corners,
                  classes: Sequence[SignalClass] = DEFAULT_CLASSES,
                  pool: Executor | None = None) -> None:
    """Write coverage_classes.geojson: one outline feature per non-empty class, in the
    order of `classes` (outlined on the pool's threads when given one)."""
    def feature(cls: SignalClass) -> bytes | None:
        return _class_feature(cmap, areas_km2, corners, cls)

    features = list(pool.map(feature, classes) if pool is not None else map(feature, classes))
    with StreamedCollection(path) as out:
        for text in features:
            if text is not None:
                out.write_raw(text)


def summary(cmap: CoverageMap, *, model_name: str, dem: str | None,
            areas_km2: np.ndarray | None = None) -> dict:
    if areas_km2 is None:
        areas_km2 = _corners(cmap)[1]
    return {
        "model": model_name,
        "dem": dem,
        "res": cmap.res,
        "cells_covered": int(len(cmap.cells)),
        "area_km2": round(float(areas_km2.sum()), 3),
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
    if not np.isfinite(cmap.best_rssi_dbm).all():
        bad = cmap.best_rssi_dbm[~np.isfinite(cmap.best_rssi_dbm)][0]
        raise ValueError(f"best_rssi_dbm holds {bad}, which is not allowed in JSON")
    # the cells file and the class outlines are independent, and they spend their time
    # in numpy and compiled code that let go of the GIL: the cells file on one thread,
    # the classes on the others, one class per task
    with ThreadPoolExecutor(3, thread_name_prefix="coverage-write") as pool:
        corners, areas_km2 = _corners(cmap, pool)
        cells_written = pool.submit(write_cells, cmap, paths["cells"], corners)
        write_classes(cmap, paths["classes"], areas_km2, corners, classes, pool)
        cells_written.result()
    _write_json(paths["summary"], summary(cmap, model_name=model_name, dem=dem,
                                          areas_km2=areas_km2))
    return paths
