"""GeoJSON text for many features at once, written as it is produced (RFC 7946).

Formatting a float in Python costs about a microsecond, and a hexagon feature
holds fourteen of them, which would cost more than predicting the cell. Here
numbers are formatted as fixed-width columns of bytes with numpy: JSON allows
whitespace before a value, so a number is padded on the left with spaces
("  -5.1234567") and every feature of a batch has the same byte layout. The
layout is made of 4-byte words (constant pieces padded with whitespace too), so
a coordinate is three table look-ups and rows are one `tobytes()` away from the
file.

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

_ZERO = ord("0")
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_PAIRS = np.frombuffer("".join(f"{k:02d}" for k in range(100)).encode(),
                       dtype=np.uint8).reshape(100, 2)
_PAIRS_T = np.ascontiguousarray(_PAIRS.T)


def fixed_columns(values, decimals: int) -> np.ndarray:
    """Numbers as right-aligned JSON number text, one row each: (n, width) bytes.

    Raises ValueError for NaN or infinity, which JSON cannot carry.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if not np.isfinite(values).all():
        bad = values[~np.isfinite(values)][0]
        raise ValueError(f"{bad} is not allowed in JSON: numbers must be finite")
    scale = 10 ** decimals
    q = np.rint(np.abs(values) * scale).astype(np.int64)
    whole, frac = np.divmod(q, scale)
    frac = frac.astype(np.int32)
    n_int = max(1, len(str(int(whole.max())))) if len(q) else 1
    # built column by column as rows of a (width, n) array: contiguous writes
    out = np.full((1 + n_int + (1 + decimals if decimals else 0), len(q)), ord(" "),
                  dtype=np.uint8)
    sign_at = np.zeros(len(q), dtype=np.intp)
    for p in range(n_int):  # integer digits, most significant first; no leading zeros
        power = 10 ** (n_int - 1 - p)
        if power == 1:
            out[1 + p] = _ZERO + whole % 10
        else:
            shown = whole >= power
            out[1 + p] = np.where(shown, _ZERO + (whole // power) % 10, ord(" "))
            sign_at += ~shown
    negative = np.flatnonzero((values < 0) & (q > 0))
    out[sign_at[negative], negative] = ord("-")
    if decimals:
        out[1 + n_int] = ord(".")
        col = 2 + n_int
        for p in range(0, decimals - 1, 2):  # two digits per pass
            pair = (frac // 10 ** (decimals - 2 - p)) % 100
            out[col + p:col + p + 2] = _PAIRS_T[:, pair]
        if decimals % 2:
            out[col + decimals - 1] = _ZERO + frac % 10
    return out.T


def _word_table(texts: list[str]) -> np.ndarray:
    return np.frombuffer("".join(texts).encode(), dtype=np.uint8).view(np.uint32)


# a coordinate with 7 decimals as three 4-byte words: " -71" ".303" "3123"
_INT_WORDS = _word_table([f"{('-' if neg else '') + str(w):>4}" for w in range(1000)
                          for neg in (0, 1)])
_DOT3_WORDS = _word_table([f".{k:03d}" for k in range(1000)])
_DIGIT4_WORDS = _word_table([f"{k:04d}" for k in range(10000)])


def coordinate_words(values: np.ndarray) -> np.ndarray:
    """Degrees (|v| < 1000) as 12-byte JSON numbers with 7 decimals: (n, 3) uint32 words.

    Three table look-ups per number instead of a digit at a time.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if not (np.isfinite(values).all() and (np.abs(values) < 999.0).all()):
        raise ValueError("coordinates must be finite degrees")
    q = np.rint(np.abs(values) * 1e7).astype(np.int64)
    whole, frac = np.divmod(q, 10_000_000)
    negative = (values < 0) & (q > 0)
    out = np.empty((len(values), 3), dtype=np.uint32)
    out[:, 0] = _INT_WORDS[2 * whole + negative]
    out[:, 1] = _DOT3_WORDS[frac // 10_000]
    out[:, 2] = _DIGIT4_WORDS[frac % 10_000]
    return out


def text_words(text: str) -> np.ndarray:
    """Constant text as 4-byte words, padded with trailing spaces (end it outside a string)."""
    raw = text.encode()
    return np.frombuffer(raw + b" " * (-len(raw) % 4), dtype=np.uint8).view(np.uint32)


def as_words(columns: np.ndarray, *, left: bool = True) -> np.ndarray:
    """(n, width) text bytes padded with spaces to whole 4-byte words: (n, words)."""
    n, width = columns.shape
    pad = -width % 4
    out = np.full((n, width + pad), ord(" "), dtype=np.uint8)
    if left:
        out[:, pad:] = columns
    else:
        out[:, :width] = columns
    return out.view(np.uint32)


def assemble_words(parts: list[np.ndarray], n: int) -> np.ndarray:
    """Rows of `n` features from word blocks: 1-d blocks are constants, 2-d per row."""
    widths = [p.shape[-1] for p in parts]
    out = np.empty((n, sum(widths)), dtype=np.uint32)
    at = 0
    for part, width in zip(parts, widths, strict=True):
        out[:, at:at + width] = part
        at += width
    return out.view(np.uint8)


def polygons_text(shape) -> bytes:
    """The "coordinates" text of a MultiPolygon given as an `_outline.Outline`.

    All corners are formatted in one vectorised pass; rings are slices of that
    text, closed by repeating their first corner's slice.
    """
    if not len(shape):
        return b"[]"
    n = len(shape.xy)
    rows = assemble_words([text_words(",[  "), coordinate_words(shape.xy[:, 0]),
                           text_words(","), coordinate_words(shape.xy[:, 1]),
                           text_words("]")], n)
    width = rows.shape[1]
    data = rows.tobytes()
    starts = (shape.ring_start * width).tolist()
    parts = []
    ring = 0
    for p in range(len(shape)):
        texts = []
        for ring in range(shape.polygon_start[p], shape.polygon_start[p + 1]):
            a, b = starts[ring], starts[ring + 1]
            texts.append(b"[" + data[a + 1:b] + data[a:a + width] + b"]")
        parts.append(b"[" + b",".join(texts) + b"]")
    return b"[" + b",".join(parts) + b"]"


def hex_columns(cells: np.ndarray) -> np.ndarray:
    """H3 cells (uint64) as their 15-character hex strings: (n, 15) bytes."""
    cells = np.asarray(cells, dtype=np.uint64)
    shifts = np.arange(14, -1, -1, dtype=np.uint64) * np.uint64(4)
    return _HEX[((cells[:, None] >> shifts) & np.uint64(15)).astype(np.intp)]


def string_columns(strings: list[str], index: np.ndarray) -> np.ndarray:
    """JSON strings chosen by `index`, padded with trailing spaces to one width."""
    encoded = [json.dumps(s).encode() for s in strings] or [b'""']
    width = max(len(e) for e in encoded)
    table = np.frombuffer(b"".join(e.ljust(width) for e in encoded), dtype=np.uint8)
    return table.reshape(-1, width)[index]


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

    def write_rows(self, rows: np.ndarray) -> None:
        """Features as byte rows, each starting with a comma: (n, width) uint8."""
        if len(rows):
            data = np.ascontiguousarray(rows).tobytes()
            self._fh.write(data[1:] if self._empty else data)
            self._empty = False

    def write_raw(self, text: bytes) -> None:
        """One feature's JSON text."""
        self._fh.write(text if self._empty else b",\n" + text)
        self._empty = False

    def write_feature(self, feature: dict) -> None:
        text = json.dumps(feature, separators=(",", ":"), allow_nan=False).encode()
        self._fh.write(text if self._empty else b",\n" + text)
        self._empty = False

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
