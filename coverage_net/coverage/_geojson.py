"""GeoJSON text for many features at once, written as it is produced (RFC 7946).

Formatting a float in Python costs about a microsecond, and a hexagon feature
holds fourteen of them, which would cost more than predicting the cell. Cell
features and outline rings are written by a compiled formatter
(`ext/geojson_rows.pyx`) without the GIL: fixed-point numbers (7 decimals for
degrees, about 1 cm), rounded half to even.

Polygons that cross the antimeridian are split there into a MultiPolygon
(RFC 7946 section 3.1.9); exterior rings run counter-clockwise, holes clockwise.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import box, mapping

from ._geojson_rows import MULTIPOLYGON_BOUND, ROW_BOUND, hex_feature_rows, multipolygon_text


def polygons_text(shape) -> bytes:
    """The "coordinates" text of a MultiPolygon given as an `_outline.Outline`
    (formatted by the compiled `multipolygon_text`, rings closed there)."""
    if not len(shape):
        return b"[]"
    xy = np.ascontiguousarray(shape.xy, dtype=np.float64)
    if not (np.isfinite(xy).all() and (np.abs(xy) < 999.0).all()):
        raise ValueError("coordinates must be finite degrees")
    out = np.empty(MULTIPOLYGON_BOUND(len(xy), len(shape.ring_start) - 1, len(shape)),
                   dtype=np.uint8)
    used = multipolygon_text(xy, np.ascontiguousarray(shape.ring_start, dtype=np.int64),
                             np.ascontiguousarray(shape.polygon_start, dtype=np.int64), out)
    return out[:used].tobytes()


def hex_feature_text(lon: np.ndarray, lat: np.ndarray, cells: np.ndarray, rssi: np.ndarray,
                     count: np.ndarray, owner: np.ndarray, names: list[str],
                     buffer: np.ndarray | None = None) -> memoryview:
    """Features of regular hexagon cells, each starting with ",\\n": (n, 6) corners
    (counter-clockwise, the ring closed by repeating the first), the cell's hex
    index, `best_rssi_dbm` (2 decimals), `hotspots` and `best_hotspot` (`names[owner]`).

    Formatted by the compiled `hex_feature_rows`, without the GIL, into `buffer`
    (uint8) when it is large enough (the text is a view of it: use it before the
    next call), else into a new array.
    """
    lon = np.ascontiguousarray(lon, dtype=np.float64)
    lat = np.ascontiguousarray(lat, dtype=np.float64)
    n = len(cells)
    if lon.shape != (n, 6) or lat.shape != (n, 6):
        raise ValueError(f"corners must be ({n}, 6) arrays, got {lon.shape} and {lat.shape}")
    for v in (lon, lat):
        if not (np.isfinite(v).all() and (np.abs(v) < 999.0).all()):
            raise ValueError("coordinates must be finite degrees")
    rssi = np.ascontiguousarray(rssi, dtype=np.float64)
    if not np.isfinite(rssi).all():
        bad = rssi[~np.isfinite(rssi)][0]
        raise ValueError(f"{bad} is not allowed in JSON: numbers must be finite")
    if n and np.abs(rssi).max() >= 1e15:
        raise ValueError("best_rssi_dbm out of range")
    encoded = [json.dumps(name).encode() for name in names] or [b'""']
    name_start = np.cumsum([0] + [len(e) for e in encoded]).astype(np.int64)
    name_bytes = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    size = n * (ROW_BOUND + max(len(e) for e in encoded))
    out = (buffer if buffer is not None and buffer.dtype == np.uint8 and buffer.size >= size
           else np.empty(size, dtype=np.uint8))
    used = hex_feature_rows(lon, lat, np.ascontiguousarray(cells, dtype=np.uint64), rssi,
                            np.ascontiguousarray(count, dtype=np.int64),
                            np.ascontiguousarray(owner, dtype=np.intp), name_bytes,
                            name_start, out)
    return memoryview(out)[:used]


def unwrap_lon(lon_deg: np.ndarray, reference_deg) -> np.ndarray:
    """Longitudes moved by whole turns to lie within 180 degrees of the reference."""
    return reference_deg + (lon_deg - reference_deg + 180.0) % 360.0 - 180.0


def split_antimeridian(geometry) -> dict:
    """GeoJSON geometry of a shapely (Multi)Polygon in unwrapped longitudes, cut at
    +-180 degrees into pieces shifted back into [-180, 180], counter-clockwise."""
    pieces = []
    for shift in (-360.0, 0.0, 360.0):
        part = shapely.intersection(geometry, box(-180.0 - shift, -90.0, 180.0 - shift, 90.0))
        if not part.is_empty:
            pieces.append(shapely.transform(part, lambda xy, s=shift: xy + [s, 0.0]))
    merged = shapely.set_precision(shapely.union_all(pieces) if len(pieces) > 1
                                   else pieces[0], 1e-7)
    # after the precision snap, which may reverse rings: exteriors counter-clockwise
    merged = shapely.orient_polygons(merged, exterior_cw=False)
    polygons = [p for p in getattr(merged, "geoms", [merged]) if p.geom_type == "Polygon"]
    merged = polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(polygons)
    return mapping(merged)


def crosses_antimeridian(lon_deg: np.ndarray) -> bool:
    return bool(np.any(lon_deg > 180.0) or np.any(lon_deg < -180.0))


class StreamedCollection:
    """A FeatureCollection written feature batch by feature batch, to a temporary name
    renamed into place on success, so an interrupted run leaves no half file."""

    def __init__(self, path: Path):
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self._fh = None
        self._empty = True

    def __enter__(self) -> StreamedCollection:
        self._fh = open(self.tmp, "wb")
        self._fh.write(b'{"type":"FeatureCollection","features":[')
        return self

    def write_text(self, text: memoryview | bytes) -> None:
        """Features as JSON text that starts with ",\\n" (as `hex_feature_text` makes)."""
        if len(text):
            self._fh.write(text[2:] if self._empty else text)
            self._empty = False

    def write_raw(self, text: bytes) -> None:
        """One feature's JSON text."""
        self._fh.write(text if self._empty else b",\n" + text)
        self._empty = False

    def write_feature(self, feature: dict) -> None:
        self.write_raw(json.dumps(feature, separators=(",", ":"), allow_nan=False).encode())

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._fh.write(b"]}\n")
                self._fh.flush()
                os.fsync(self._fh.fileno())
            self._fh.close()
            if exc_type is None:
                os.replace(self.tmp, self.path)
        finally:
            if exc_type is not None or self.tmp.exists():
                self.tmp.unlink(missing_ok=True)
