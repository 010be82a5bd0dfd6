"""Sites: radio endpoints (H3 cells or coordinates) converted once for the kernel.

A `Sites` is an array-like of points with a shape. Converting H3 cells to
coordinates and coordinates to unit vectors is the costly part of a path-loss
call; it happens here, once per unique endpoint, so a call over N x M pairs
converts N + M endpoints, not N * M.
"""

from __future__ import annotations

from dataclasses import dataclass

import h3
import numpy as np

from ._errors import InvalidCellError, InvalidCoordinateError

_U64 = np.uint64


def _first_bad(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def check_latlon(lat_deg, lon_deg, *, name: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Return float64 arrays of lat/lon, or raise InvalidCoordinateError naming the culprit."""
    prefix = f"{name} " if name else ""
    try:
        lat = np.asarray(lat_deg, dtype=np.float64)
        lon = np.asarray(lon_deg, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidCoordinateError(f"{prefix}coordinates must be numbers: {exc}") from None
    for label, arr, limit in (("latitude", lat, 90.0), ("longitude", lon, 180.0)):
        bad = ~np.isfinite(arr)
        if bad.any():
            idx = _first_bad(np.atleast_1d(bad))
            raise InvalidCoordinateError(
                f"{prefix}{label} at index {idx} is {np.atleast_1d(arr)[idx]}: "
                "coordinates must be finite numbers (no NaN or inf)")
        out = np.abs(arr) > limit
        if out.any():
            idx = _first_bad(np.atleast_1d(out))
            raise InvalidCoordinateError(
                f"{prefix}{label} at index {idx} is {np.atleast_1d(arr)[idx]}: "
                f"must lie in [-{limit:g}, {limit:g}] degrees")
    if lat.shape != lon.shape:
        raise InvalidCoordinateError(
            f"{prefix}latitude shape {lat.shape} and longitude shape {lon.shape} differ")
    return lat, lon


def latlon_to_xyz(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Unit vectors (..., 3) on the sphere for lat/lon in degrees."""
    lat = np.radians(lat_deg)
    lon = np.radians(lon_deg)
    cos_lat = np.cos(lat)
    return np.stack([cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)], axis=-1)


def latlon_keys(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Identity keys of coordinates rounded to 1e-7 degree (about 1 cm)."""
    q_lat = (np.rint(lat_deg * 1e7).astype(np.int64) + 900_000_000).astype(_U64)
    q_lon = (np.rint(lon_deg * 1e7).astype(np.int64) + 1_800_000_000).astype(_U64)
    return (q_lat << _U64(32)) | q_lon


def cells_to_int(cells) -> np.ndarray:
    """H3 cells (ints or hex strings, any shape) as uint64, validated."""
    arr = np.asarray(cells)
    if arr.dtype.kind in "US" or arr.dtype == object:
        flat = arr.ravel()
        out = np.empty(flat.shape, dtype=_U64)
        for i, c in enumerate(flat):
            if isinstance(c, (int, np.integer)):
                value = int(c)
            else:
                text = c.decode() if isinstance(c, bytes) else str(c)
                try:
                    value = int(text, 16)
                except ValueError:
                    raise InvalidCellError(
                        f"H3 cell at index {i} is {c!r}: not a hexadecimal H3 index") from None
            if not 0 <= value < 2**64:
                raise InvalidCellError(f"H3 cell at index {i} is {c!r}: out of 64-bit range")
            out[i] = value
        arr = out.reshape(arr.shape)
    elif arr.dtype.kind in "iu":
        if arr.dtype.kind == "i" and (arr < 0).any():
            idx = _first_bad(np.atleast_1d(arr < 0))
            raise InvalidCellError(
                f"H3 cell at index {idx} is {np.atleast_1d(arr)[idx]}: negative")
        arr = arr.astype(_U64)
    else:
        raise InvalidCellError(
            f"H3 cells must be integers or hex strings, got an array of dtype {arr.dtype}")
    return arr


@dataclass(frozen=True, eq=False)
class Sites:
    """Endpoints for path-loss calls: coordinates, unit vectors and identity keys.

    Build with `Sites.from_latlon` or `Sites.from_cells`; index or reshape like a
    numpy array (``tx[:, None]`` against ``rx[None, :]`` asks for every pair).
    Identity keys feed the shadowing draw: the H3 index for cells, the
    coordinates rounded to 1e-7 degree otherwise.

    Examples
    --------
    >>> s = Sites.from_latlon([44.27, 44.10], [-71.30, -71.50])
    >>> s.shape
    (2,)
    >>> Sites.from_cells(["882a10731bfffff"]).lat_deg.round(3)
    array([44.272])
    """

    lat_deg: np.ndarray
    lon_deg: np.ndarray
    xyz: np.ndarray
    key: np.ndarray

    @classmethod
    def from_latlon(cls, lat_deg, lon_deg) -> Sites:
        lat, lon = check_latlon(lat_deg, lon_deg)
        return cls(lat, lon, latlon_to_xyz(lat, lon), latlon_keys(lat, lon))

    @classmethod
    def from_cells(cls, cells) -> Sites:
        """Cell centres of H3 cells given as ints or hex strings (any shape)."""
        ints = cells_to_int(cells)
        flat = ints.ravel()
        unique, inverse = np.unique(flat, return_inverse=True)
        lat_u = np.empty(unique.shape)
        lon_u = np.empty(unique.shape)
        for j, cell in enumerate(unique.tolist()):
            text = h3.int_to_str(cell)
            if not h3.is_valid_cell(text):
                where = int(np.flatnonzero(flat == cell)[0])
                raise InvalidCellError(
                    f"H3 cell at index {where} is {text!r} ({cell}): not a valid H3 cell")
            lat_u[j], lon_u[j] = h3.cell_to_latlng(text)
        lat = lat_u[inverse].reshape(ints.shape)
        lon = lon_u[inverse].reshape(ints.shape)
        xyz = latlon_to_xyz(lat_u, lon_u)[inverse].reshape(ints.shape + (3,))
        return cls(lat, lon, xyz, ints.copy())

    @property
    def shape(self) -> tuple[int, ...]:
        return self.lat_deg.shape

    @property
    def size(self) -> int:
        return int(self.lat_deg.size)

    def __len__(self) -> int:
        return len(self.lat_deg)

    def __getitem__(self, index) -> Sites:
        if not isinstance(index, tuple):
            index = (index,)
        return Sites(self.lat_deg[index], self.lon_deg[index],
                     self.xyz[index + (Ellipsis, slice(None))],
                     self.key[index])

    def reshape(self, *shape) -> Sites:
        if len(shape) == 1 and isinstance(shape[0], tuple):
            shape = shape[0]
        return Sites(self.lat_deg.reshape(shape), self.lon_deg.reshape(shape),
                     self.xyz.reshape(tuple(shape) + (3,)), self.key.reshape(shape))

    def __repr__(self) -> str:
        return f"Sites(shape={self.shape})"
