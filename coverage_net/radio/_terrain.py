"""Terrain: DEM tiles (SRTM/NASADEM ``.hgt``, optional GeoTIFF), mosaics and profiles.

The path-loss kernel never reads files. It receives one `Mosaic` (a float32 grid with
a north-west origin and one sample spacing) and interpolates it with exactly the
arithmetic of `bilinear_elevation_m` (same operations, same order). Where no
tile covers a point the earth is flat (0 m): a missing tile degrades the prediction,
it never stops it.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._errors import DEMError, InvalidCoordinateError, InvalidInputError, ShapeMismatchError

__all__ = ["EARTH_RADIUS_M", "HgtTile", "Mosaic", "Terrain", "bilinear_elevation_m", "read_hgt"]

logger = logging.getLogger(__name__)

EARTH_RADIUS_M = 6371008.8
_HGT_VOID = -32768
_HGT_SAMPLES = (1201, 3601)
_HGT_RANGE_M = (-500, 9000)  # anything else but the void marker means a corrupt file
_HGT_NAME = re.compile(r"^([ns])(\d{2})([ew])(\d{3})(?:\.[a-z0-9_]+)?\.hgt(\.zip)?$", re.I)
_SNAP = 1e-6  # grid-index tolerance: float noise below this is snapped to the grid line
_MAX_MOSAIC_CELLS = 100_000_000  # 400 MB of float32
_ROW_BLOCK = 512


@dataclass(frozen=True, eq=False)
class Mosaic:
    """One float32 elevation grid handed to the path-loss kernel.

    Sample ``(r, c)`` sits at ``lat = lat_north_deg - r*step_deg`` and
    ``lon = lon_west_deg + c*step_deg``; row 0 is the northern edge.
    """

    elevation_m: np.ndarray
    lat_north_deg: float
    lon_west_deg: float
    step_deg: float

    def __post_init__(self) -> None:
        e = self.elevation_m
        if not (isinstance(e, np.ndarray) and e.dtype == np.float32 and e.ndim == 2
                and e.flags.c_contiguous and min(e.shape) >= 2 and self.step_deg > 0
                and math.isfinite(self.lat_north_deg + self.lon_west_deg + self.step_deg)):
            raise InvalidInputError(
                "Mosaic needs a C-contiguous float32 elevation_m of at least 2x2, a finite "
                f"origin and step_deg > 0; got {getattr(e, 'dtype', type(e))} "
                f"{getattr(e, 'shape', '')}, {self.lat_north_deg}, {self.lon_west_deg}, "
                f"{self.step_deg}; use np.ascontiguousarray(a, dtype=np.float32)")


@dataclass(frozen=True, eq=False)
class HgtTile:
    """One decoded ``.hgt`` tile: ``samples`` x ``samples`` metres, row 0 at the north edge,
    voids already filled."""

    lat_south_deg: int
    lon_west_deg: int
    samples: int
    elevation_m: np.ndarray


@dataclass(eq=False)
class _TileRef:
    """An indexed tile file; extent and spacing are probed when first needed."""

    path: Path
    kind: str  # "hgt" or "tif"
    bounds: tuple[float, float, float, float] | None = None  # south, north, west, east
    step_deg: float | None = None


def bilinear_elevation_m(mosaic: Mosaic, lat_deg, lon_deg, out=None) -> np.ndarray:
    """Bilinear elevation (m) of ``mosaic`` at the given points, the kernel's arithmetic.

    Points outside the grid are flat earth (0.0); NaN coordinates give NaN. Inputs
    broadcast; the result has their broadcast shape (float64), written to ``out`` if given.

    Examples
    --------
    >>> m = Mosaic(np.array([[0, 2], [4, 6]], np.float32), 1.0, 0.0, 1.0)
    >>> bilinear_elevation_m(m, [1.0, 0.5, 5.0], [0.0, 0.5, 0.0]).tolist()
    [0.0, 3.0, 0.0]
    """
    lat, lon = _broadcast(lat_deg, lon_deg)
    e = mosaic.elevation_m
    rows, cols = e.shape
    fr = (mosaic.lat_north_deg - lat) / mosaic.step_deg
    fc = (lon - mosaic.lon_west_deg) / mosaic.step_deg
    z = np.where(np.isnan(fr) | np.isnan(fc), np.nan, 0.0)
    inside = (fr >= 0) & (fc >= 0) & (fr <= rows - 1) & (fc <= cols - 1)
    fr, fc = fr[inside], fc[inside]
    r0 = np.minimum(np.floor(fr), rows - 2).astype(np.intp)
    c0 = np.minimum(np.floor(fc), cols - 2).astype(np.intp)
    ar = fr - r0
    ac = fc - c0
    e00 = e[r0, c0].astype(np.float64)
    e01 = e[r0, c0 + 1].astype(np.float64)
    e10 = e[r0 + 1, c0].astype(np.float64)
    e11 = e[r0 + 1, c0 + 1].astype(np.float64)
    z[inside] = (1 - ar) * ((1 - ac) * e00 + ac * e01) + ar * ((1 - ac) * e10 + ac * e11)
    if out is None:
        return z
    out[...] = z
    return out


def read_hgt(path: str | os.PathLike) -> HgtTile:
    """Read an SRTM/NASADEM ``.hgt`` (or ``.hgt.zip``) tile and fill its voids."""
    path = Path(path)
    lat_s, lon_w = _parse_hgt_name(path)
    raw = _hgt_payload(path)
    samples = _hgt_samples(path, len(raw))
    a = np.frombuffer(raw, dtype=">i2").reshape(samples, samples)
    void = a == _HGT_VOID
    bad = ~void & ((a < _HGT_RANGE_M[0]) | (a > _HGT_RANGE_M[1]))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DEMError(f"{path}: corrupt tile: {int(bad.sum())} samples outside -500..9000 m "
                       f"(first {int(a[r, c])} at row {r}, column {c}); re-download the tile")
    if void.any():
        z, filled = _fill_voids(a.astype(np.float64), void, path.name)
    else:  # no void to fill: straight to the float32 the mosaics use
        z, filled = a.astype(np.float32), 0
    logger.info("DEM tile loaded: %s", path.name,
                extra={"tile": path.name, "samples": samples, "voids_filled": filled})
    z.setflags(write=False)
    return HgtTile(lat_s, lon_w, samples, z)


def _parse_hgt_name(path: Path) -> tuple[int, int]:
    m = _HGT_NAME.match(path.name)
    lat = int(m[2]) * (1 if m[1] in "nN" else -1) if m else 999
    lon = int(m[4]) * (1 if m[3] in "eE" else -1) if m else 999
    if not (-90 <= lat <= 89 and -180 <= lon <= 179):
        raise DEMError(
            f"{path}: cannot tell the tile's south-west corner from its name; .hgt tiles "
            "must be named like N44W072.hgt (or N44W072.hgt.zip); rename or remove the file")
    return lat, lon


def _hgt_payload(path: Path, read: bool = True) -> bytes | int:
    """The tile's bytes (``read``) or only their count, from a plain or zipped ``.hgt``."""
    try:
        if not path.name.lower().endswith(".zip"):
            return path.read_bytes() if read else path.stat().st_size
        with zipfile.ZipFile(path) as zf:
            members = [i for i in zf.infolist() if i.filename.lower().endswith(".hgt")]
            if len(members) != 1:
                raise DEMError(f"{path}: the zip must hold exactly one .hgt file, found "
                               f"{len(members)}; re-download the tile")
            return zf.read(members[0]) if read else members[0].file_size
    except (OSError, zipfile.BadZipFile, zlib.error) as exc:
        raise DEMError(f"{path}: cannot read the tile ({exc}); check the file") from exc


def _hgt_samples(path: Path, size: int) -> int:
    if n := {n * n * 2: n for n in _HGT_SAMPLES}.get(size):
        return n
    expected = " or ".join(f"{n * n * 2} ({n}x{n})" for n in _HGT_SAMPLES)
    raise DEMError(f"{path}: {size} bytes, expected {expected} bytes of int16; "
                   "the tile is corrupt or truncated, re-download it")


def _fill_voids(z: np.ndarray, void: np.ndarray, name: str) -> tuple[np.ndarray, int]:
    """Grow valid data into voids: each pass sets every void that has valid 8-neighbours
    to their mean, until no void is left. Returns float32 heights and the void count."""
    count = int(void.sum())
    if count == 0:
        return z.astype(np.float32), 0
    if count == void.size:
        logger.warning("DEM tile %s is entirely void; using 0 m", name,
                       extra={"tile": name, "voids_filled": count})
        return np.zeros(z.shape, np.float32), count
    valid = ~void
    z[void] = 0.0
    while not valid.all():
        rows = np.flatnonzero(~valid.all(axis=1))
        cols = np.flatnonzero(~valid.all(axis=0))
        r0, r1 = max(rows[0] - 1, 0), min(rows[-1] + 2, z.shape[0])
        c0, c1 = max(cols[0] - 1, 0), min(cols[-1] + 2, z.shape[1])
        sub_z, sub_v = z[r0:r1, c0:c1], valid[r0:r1, c0:c1]  # views: updated in place
        pz = np.pad(np.where(sub_v, sub_z, 0.0), 1)
        pv = np.pad(sub_v, 1).astype(np.float64)
        h, w = sub_z.shape
        shifts = [(dr, dc) for dr in range(3) for dc in range(3) if (dr, dc) != (1, 1)]
        total = sum(pz[dr:dr + h, dc:dc + w] for dr, dc in shifts)
        n = sum(pv[dr:dr + h, dc:dc + w] for dr, dc in shifts)
        grow = ~sub_v & (n > 0)
        sub_z[grow] = total[grow] / n[grow]
        sub_v[grow] = True
    return z.astype(np.float32), count


class Terrain:
    """The DEM tiles of one directory, loaded lazily and kept in a small LRU cache.

    ``Terrain(None)`` (or `Terrain.flat`) has no tiles: every elevation is 0 m.
    """

    def __init__(self, dem_dir: str | os.PathLike | None, *, max_cached_tiles: int = 16):
        if not isinstance(max_cached_tiles, int) or max_cached_tiles < 1:
            raise InvalidInputError(f"max_cached_tiles must be an int >= 1: {max_cached_tiles!r}")
        self._dir = None if dem_dir is None else Path(dem_dir)
        self._max_cached = max_cached_tiles
        self._cache: OrderedDict[str, Mosaic] = OrderedDict()  # loaded tiles, read-only
        self._lock = threading.Lock()
        self._refs: dict[str, _TileRef] = {}
        if self._dir is None:
            return
        if not self._dir.is_dir():
            raise DEMError(f"DEM directory {self._dir} does not exist or is not a directory; "
                           "pass the directory that holds your .hgt tiles (or none for flat earth)")
        for p in sorted(q for q in self._dir.iterdir() if q.is_file()):
            low = p.name.lower()
            if low.endswith((".hgt", ".hgt.zip")):
                lat, lon = _parse_hgt_name(p)
                self._refs[p.name] = _TileRef(p, "hgt", (lat, lat + 1.0, lon, lon + 1.0))
            elif low.endswith((".tif", ".tiff")):
                self._refs[p.name] = _TileRef(p, "tif")
        logger.info("DEM directory indexed: %s", self._dir,
                    extra={"dem_dir": str(self._dir), "tiles": len(self._refs)})

    @classmethod
    def flat(cls) -> Terrain:
        """A terrain without tiles: flat earth everywhere."""
        return cls(None)

    @property
    def dem_dir(self) -> Path | None:
        return self._dir

    @property
    def tile_names(self) -> list[str]:
        return sorted(self._refs)

    @property
    def has_data(self) -> bool:
        return bool(self._refs)

    def mosaic(self, lat_min: float, lat_max: float, lon_min: float, lon_max: float,
               margin_deg: float = 0.01) -> Mosaic:
        """One grid over the box (plus ``margin_deg``) at the finest resolution of the tiles
        it touches, snapped outward to that resolution's grid lines; 0 m where no tile is."""
        _check_box(lat_min, lat_max, lon_min, lon_max, margin_deg)
        s, n = max(lat_min - margin_deg, -90.0), min(lat_max + margin_deg, 90.0)
        w, e = max(lon_min - margin_deg, -180.0), min(lon_max + margin_deg, 180.0)
        refs = [r for r in self._refs.values() if self._touches(r, s, n, w, e)]
        if not refs:
            step = max(n - s, e - w, 1 / 1200)
            return Mosaic(np.zeros((2, 2), np.float32), n, w, step)
        finest = min(refs, key=lambda r: (r.step_deg, r.path.name))
        step = finest.step_deg
        lat0, lon0 = finest.bounds[1], finest.bounds[2]
        if finest.kind == "tif":  # sample centres lie half a pixel inside the bounds
            lat0, lon0 = lat0 - step / 2, lon0 + step / 2
        k_top = math.floor((lat0 - n) / step + _SNAP)
        k_bot = max(math.ceil((lat0 - s) / step - _SNAP), k_top + 1)
        j_w = math.floor((w - lon0) / step + _SNAP)
        j_e = max(math.ceil((e - lon0) / step - _SNAP), j_w + 1)
        rows, cols = k_bot - k_top + 1, j_e - j_w + 1
        if rows * cols > _MAX_MOSAIC_CELLS:
            raise InvalidInputError(
                f"box {lat_min}..{lat_max} N, {lon_min}..{lon_max} E needs a {rows}x{cols} "
                f"grid (more than {_MAX_MOSAIC_CELLS} samples); split it into smaller boxes")
        out = Mosaic(np.zeros((rows, cols), np.float32), lat0 - k_top * step,
                     lon0 + j_w * step, step)
        for ref in sorted(refs, key=lambda r: (-r.step_deg, r.path.name)):  # finest wins
            _paint(out, self._load(ref))
        return out

    def covers(self, lat_deg, lon_deg) -> np.ndarray:
        """Whether a tile covers each point; elsewhere the terrain is flat earth at 0 m.

        Examples
        --------
        >>> Terrain.flat().covers([44.2], [-71.3]).tolist()
        [False]
        """
        lat, lon = _check_points(lat_deg, lon_deg)
        inside = np.zeros(lat.shape, bool)
        if lat.size == 0 or not self._refs:
            return inside
        s, n, w, e = float(lat.min()), float(lat.max()), float(lon.min()), float(lon.max())
        for ref in self._refs.values():
            if self._touches(ref, s, n, w, e):
                bs, bn, bw, be = ref.bounds
                inside |= (lat >= bs) & (lat <= bn) & (lon >= bw) & (lon <= be)
        return inside

    def elevation_m(self, lat_deg, lon_deg) -> np.ndarray:
        """Bilinear elevation (m) at the points, through a mosaic of their bounding box
        (one mosaic per 1-degree cell when the box is large)."""
        lat, lon = _check_points(lat_deg, lon_deg)
        z = np.zeros(lat.shape)
        if lat.size == 0 or not self._refs:
            return z
        if (lat.max() - lat.min()) * (lon.max() - lon.min()) <= 1.0:
            groups = [np.ones(lat.shape, bool)]
        else:
            cells = np.stack([np.floor(lat).ravel(), np.floor(lon).ravel()], axis=1)
            _, inverse = np.unique(cells, axis=0, return_inverse=True)
            inverse = inverse.reshape(lat.shape)
            groups = [inverse == g for g in range(inverse.max() + 1)]
        for g in groups:
            la, lo = lat[g], lon[g]
            m = self.mosaic(la.min(), la.max(), lo.min(), lo.max())
            z[g] = bilinear_elevation_m(m, la, lo)
        return z

    def profile(self, lat1_deg: float, lon1_deg: float, lat2_deg: float, lon2_deg: float,
                n_samples: int) -> tuple[np.ndarray, np.ndarray]:
        """``n_samples`` points along the great circle (spherical earth): distance (m) from
        the first endpoint and terrain elevation (m)."""
        if not isinstance(n_samples, int | np.integer) or n_samples < 2:
            raise InvalidInputError(f"n_samples must be an int >= 2, got {n_samples!r}")
        _check_points([lat1_deg, lat2_deg], [lon1_deg, lon2_deg], ("lat1/lat2", "lon1/lon2"))
        a, b = _unit(lat1_deg, lon1_deg), _unit(lat2_deg, lon2_deg)
        omega = math.atan2(float(np.linalg.norm(np.cross(a, b))), float(a @ b))
        t = np.arange(n_samples) / (n_samples - 1)
        if omega < 1e-15:
            p = np.broadcast_to(a, (n_samples, 3))
        elif math.pi - omega < 1e-12:
            raise InvalidCoordinateError(
                f"({lat1_deg}, {lon1_deg}) and ({lat2_deg}, {lon2_deg}) are antipodal: the "
                "great circle between them is undefined; split the path")
        else:
            so = math.sin(omega)
            p = (np.sin((1 - t) * omega) / so)[:, None] * a + (np.sin(t * omega) / so)[:, None] * b
        lat = np.degrees(np.arcsin(np.clip(p[:, 2], -1.0, 1.0)))
        lon = np.degrees(np.arctan2(p[:, 1], p[:, 0]))
        lat[0], lon[0], lat[-1], lon[-1] = lat1_deg, lon1_deg, lat2_deg, lon2_deg
        return t * (EARTH_RADIUS_M * omega), self.elevation_m(lat, lon)

    def _touches(self, ref: _TileRef, s: float, n: float, w: float, e: float) -> bool:
        """Whether the tile meets the box; learns its spacing (and a GeoTIFF's extent) from
        the file size or header, so only tiles in the box are ever opened."""
        if ref.bounds is None:
            ref.bounds, ref.step_deg = _read_geotiff(ref.path, data=False)
        bs, bn, bw, be = ref.bounds
        hit = bs <= n and bn >= s and bw <= e and be >= w
        if hit and ref.step_deg is None:
            ref.step_deg = 1.0 / (_hgt_samples(ref.path, _hgt_payload(ref.path, False)) - 1)
        return hit

    def _load(self, ref: _TileRef) -> Mosaic:
        key = ref.path.name
        with self._lock:
            grid = self._cache.get(key)
            if grid is not None:
                self._cache.move_to_end(key)
                return grid
        if ref.kind == "hgt":
            t = read_hgt(ref.path)
            grid = Mosaic(t.elevation_m, t.lat_south_deg + 1.0, float(t.lon_west_deg),
                          1.0 / (t.samples - 1))
        else:
            grid = _read_geotiff(ref.path, data=True)
        with self._lock:
            self._cache[key] = grid
            while len(self._cache) > self._max_cached:
                self._cache.popitem(last=False)
        return grid


def _read_geotiff(path: Path, data: bool):
    """``(bounds, step)`` of an EPSG:4326 GeoTIFF, or the tile as a `Mosaic` when ``data``."""
    try:
        import rasterio  # optional: only GeoTIFF tiles need it
    except ImportError as exc:
        raise DEMError(f"{path}: reading GeoTIFF tiles needs rasterio; pip install rasterio "
                       "(or pip install 'coverage-net[geotiff]'), or convert it to .hgt") from exc
    try:
        with rasterio.open(path) as src:
            t = src.transform
            epsg = src.crs.to_epsg() if src.crs is not None else None
            if epsg != 4326:
                raise DEMError(f"{path}: GeoTIFF CRS is {src.crs}, expected EPSG:4326 "
                               "(lat/lon); reproject it, e.g. gdalwarp -t_srs EPSG:4326")
            if t.b != 0 or t.d != 0 or t.e >= 0 or not math.isclose(t.a, -t.e, rel_tol=1e-9):
                raise DEMError(f"{path}: GeoTIFF pixels must be square, north-up and "
                               f"unrotated; transform is {tuple(t)[:6]}; resample with gdalwarp")
            lat0, lon0, step = t.f + t.e / 2, t.c + t.a / 2, t.a  # first sample centre
            if not data:
                bounds = (lat0 - (src.height - 0.5) * step, lat0 + step / 2,
                          lon0 - step / 2, lon0 + (src.width - 0.5) * step)
                return bounds, step
            band = src.read(1, masked=True)
    except DEMError:
        raise
    except Exception as exc:  # rasterio's own errors
        raise DEMError(f"{path}: cannot read GeoTIFF ({exc}); check the file") from exc
    void = np.ma.getmaskarray(band) | ~np.isfinite(np.ma.getdata(band))
    z, filled = _fill_voids(np.ma.getdata(band).astype(np.float64), void, path.name)
    logger.info("DEM tile loaded: %s", path.name,
                extra={"tile": path.name, "samples": z.shape, "voids_filled": filled})
    z.setflags(write=False)
    return Mosaic(z, lat0, lon0, step)


def _paint(m: Mosaic, g: Mosaic) -> None:
    """Write the part of tile ``g`` that the mosaic grid covers, resampled bilinearly when
    its grid differs (same-grid samples are copied exactly)."""
    rows, cols = g.elevation_m.shape
    fr = _tile_index(g.lat_north_deg - (m.lat_north_deg - np.arange(m.elevation_m.shape[0])
                                        * m.step_deg), g.step_deg, rows)
    fc = _tile_index((m.lon_west_deg + np.arange(m.elevation_m.shape[1]) * m.step_deg)
                     - g.lon_west_deg, g.step_deg, cols)
    ri, ci = np.flatnonzero(~np.isnan(fr)), np.flatnonzero(~np.isnan(fc))
    if ri.size == 0 or ci.size == 0:
        return
    i0, i1, j0, j1 = ri[0], ri[-1] + 1, ci[0], ci[-1] + 1
    fr, fc = fr[i0:i1], fc[j0:j1]
    same = math.isclose(g.step_deg, m.step_deg, rel_tol=1e-9)
    if same and fr[0] == int(fr[0]) and fc[0] == int(fc[0]):
        r, c = int(fr[0]), int(fc[0])
        m.elevation_m[i0:i1, j0:j1] = g.elevation_m[r:r + i1 - i0, c:c + j1 - j0]
        return
    c0 = np.minimum(np.floor(fc), cols - 2).astype(np.intp)
    ac = fc - c0
    for b in range(0, fr.size, _ROW_BLOCK):
        frb = fr[b:b + _ROW_BLOCK]
        r0 = np.minimum(np.floor(frb), rows - 2).astype(np.intp)
        ar = (frb - r0)[:, None]
        top = g.elevation_m[r0].astype(np.float64)
        bot = g.elevation_m[r0 + 1].astype(np.float64)
        z = (1 - ar) * ((1 - ac) * top[:, c0] + ac * top[:, c0 + 1]) \
            + ar * ((1 - ac) * bot[:, c0] + ac * bot[:, c0 + 1])
        m.elevation_m[i0 + b:i0 + b + frb.size, j0:j1] = z


def _tile_index(offset_deg: np.ndarray, step: float, n: int) -> np.ndarray:
    """Fractional tile index of each offset, snapped to whole samples within float noise;
    NaN outside the tile."""
    f = offset_deg / step
    near = np.rint(f)
    f = np.where(np.abs(f - near) < _SNAP, near, f)
    return np.where((f >= 0) & (f <= n - 1), f, np.nan)


def _unit(lat_deg: float, lon_deg: float) -> np.ndarray:
    la, lo = math.radians(lat_deg), math.radians(lon_deg)
    return np.array([math.cos(la) * math.cos(lo), math.cos(la) * math.sin(lo), math.sin(la)])


def _broadcast(lat_deg, lon_deg) -> tuple[np.ndarray, np.ndarray]:
    try:
        lat, lon = np.broadcast_arrays(np.asarray(lat_deg, np.float64),
                                       np.asarray(lon_deg, np.float64))
    except ValueError as exc:
        raise ShapeMismatchError(f"lat_deg {np.shape(lat_deg)} and lon_deg "
                                 f"{np.shape(lon_deg)} do not broadcast") from exc
    return lat, lon


def _check_points(lat_deg, lon_deg, names=("lat_deg", "lon_deg")):
    lat, lon = _broadcast(lat_deg, lon_deg)
    for name, a, lim in ((names[0], lat, 90.0), (names[1], lon, 180.0)):
        bad = ~(np.abs(a) <= lim)  # NaN fails the comparison
        if bad.any():
            i = np.argwhere(bad)[0] if a.ndim else ()
            raise InvalidCoordinateError(
                f"{name} must be finite and within [-{lim:g}, {lim:g}]; got {a[tuple(i)]} "
                f"at index {tuple(int(k) for k in i)}")
    return lat, lon


def _check_box(lat_min, lat_max, lon_min, lon_max, margin_deg) -> None:
    _check_points([lat_min, lat_max], [lon_min, lon_max], ("lat_min/lat_max", "lon_min/lon_max"))
    if not (math.isfinite(margin_deg) and margin_deg >= 0):
        raise InvalidInputError(f"margin_deg must be finite and >= 0, got {margin_deg}")
    if lat_min > lat_max:
        raise InvalidCoordinateError(f"lat_min {lat_min} > lat_max {lat_max}; swap them")
    if lon_min > lon_max:
        raise InvalidCoordinateError(
            f"lon_min {lon_min} > lon_max {lon_max}: boxes crossing the antimeridian are not "
            "supported; split the box at 180 degrees (or swap the values)")
