"""The one station record: where a radio stands and what it radiates.

Coverage prediction, the simulator and hotspot announcements all describe a
hotspot's radio the same way, so they share this record and its checks: a
station read from a file, built by a generator or announced on the network
passes the same rules. Files are read and written in `_station_io`.

A station is placed by an H3 cell (any resolution) or by lat/lon; whichever is
given, both are filled in. A cell places the station at the cell's centre; a
point gets the resolution-12 cell (`STATION_CELL_RES`, a few metres across) that
holds it. When both are given the point must lie in the cell, so a stale cell
beside an edited position is caught instead of silently winning.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import KW_ONLY, dataclass

from h3.api import basic_int as h3

from ._errors import RegionError, StationError
from ._regions import get_region

__all__ = ["STATION_CELL_RES", "STATION_LIMITS", "Station"]

STATION_CELL_RES = 12
# (lowest, highest) of each number; height and gain match what an announcement may carry
STATION_LIMITS: dict[str, tuple[float, float]] = {
    "antenna_height_m": (0.0, 1000.0),
    "antenna_gain_dbi": (-20.0, 40.0),
    "tx_power_dbm": (-30.0, 40.0),
    "noise_figure_db": (0.0, 30.0),
}


# --- the checks, shared by the record and the file reader (which names its columns) ------


def check_real(label: str, value: object, lo: float, hi: float) -> float:
    """`value` as a finite float within [lo, hi]; the error names `label`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise StationError(f"{label} is {_shown(value)}; it must be a number")
    try:
        result = float(value)
    except OverflowError:  # an int too large for a float
        result = math.inf
    if not math.isfinite(result):
        raise StationError(f"{label} is {_shown(value)}; it must be finite")
    if not lo <= result <= hi:
        raise StationError(f"{label} is {result:g}; it must lie in [{lo:g}, {hi:g}]")
    return result + 0.0  # -0.0 becomes 0.0: one value, one spelling in files


def check_cell(value: object) -> int:
    """A valid H3 cell (any resolution) as int, from an int or a hex string."""
    if isinstance(value, str):
        text = value
        try:
            value = int(text, 16)
        except ValueError:
            value = None
        if value is None or not _valid_cell(value):
            raise StationError(f"cell {text[:40]!r} is not a valid H3 cell")
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise StationError(f"cell is {_shown(value)}; give an H3 cell as int or hex string")
    value = int(value)
    if not _valid_cell(value):
        shown = f"{value:#x}" if value >= 0 else str(value)
        raise StationError(f"cell {shown} is not a valid H3 cell")
    return value


def check_name(value: object) -> str:
    if not isinstance(value, str) or not value or value != value.strip() \
            or not value.isprintable():
        raise StationError(f"name is {_shown(value)}; it must be a non-empty printable string "
                           "without leading or trailing spaces")
    return value


def check_region(value: object) -> str:
    """The canonical name of a LoRaWAN region given by any accepted spelling."""
    if not isinstance(value, str):
        raise StationError(f"region is {_shown(value)}; give a region name such as 'US915'")
    try:
        return get_region(value).name
    except RegionError as exc:
        raise StationError(f"region: {exc}") from None


def _valid_cell(value: int) -> bool:
    try:
        return bool(h3.is_valid_cell(value))
    except (OverflowError, ValueError, TypeError):  # negative or wider than 64 bits
        return False


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


# --- the record -----------------------------------------------------------------------


@dataclass(frozen=True)
class Station:
    """One radio: its position, antenna and transmitter, and the region it obeys.

    Give ``cell`` (an H3 cell as int or hex string, any resolution) or
    ``lat_deg``/``lon_deg``, or all three if they agree; after construction all
    three are set. ``antenna_height_m`` is the height above ground,
    ``tx_power_dbm`` the conducted power (before the antenna), ``region`` is
    stored under its canonical name. EIRP is not checked against the region's
    limit here: a simulation may model a non-compliant radio; `check_eirp` and
    ``read_stations(..., enforce_eirp_limit=True)`` check it where it matters.

    Examples
    --------
    >>> s = Station("summit", lat_deg=44.2706, lon_deg=-71.3033, region="us915")
    >>> s.region, f"{s.cell:x}", s.eirp_dbm
    ('US915', '8c2ba96f4141bff', 23.0)
    >>> round(Station("c", cell=s.cell).lat_deg, 4)
    44.2707
    """

    name: str
    _: KW_ONLY
    cell: int | None = None
    lat_deg: float | None = None
    lon_deg: float | None = None
    antenna_height_m: float = 10.0
    antenna_gain_dbi: float = 3.0
    tx_power_dbm: float = 20.0
    region: str = "US915"
    noise_figure_db: float = 6.0

    def __post_init__(self) -> None:
        put = object.__setattr__
        check_name(self.name)
        cell, (lat, lon) = _locate(self.cell, self.lat_deg, self.lon_deg)
        put(self, "cell", cell)
        put(self, "lat_deg", lat)
        put(self, "lon_deg", lon)
        for field, (lo, hi) in STATION_LIMITS.items():
            put(self, field, check_real(field, getattr(self, field), lo, hi))
        put(self, "region", check_region(self.region))

    @property
    def eirp_dbm(self) -> float:
        """Radiated power: conducted power plus antenna gain."""
        return self.tx_power_dbm + self.antenna_gain_dbi

    def check_eirp(self) -> None:
        """Raise StationError if the EIRP is above what the region allows."""
        try:
            get_region(self.region).check_tx_power(self.tx_power_dbm, self.antenna_gain_dbi)
        except RegionError as exc:
            raise StationError(f"tx_power_dbm: {exc}") from None


def _locate(cell: object, lat_deg: object, lon_deg: object) -> tuple[int, tuple[float, float]]:
    """(cell, (lat, lon)): the given cell (which a given point must lie in) or the
    resolution-12 cell holding the point; the given point or the cell's centre."""
    if (lat_deg is None) != (lon_deg is None):
        raise StationError("give both lat and lon, or a cell")
    point = None
    if lat_deg is not None:
        point = (check_real("lat_deg", lat_deg, -90.0, 90.0),
                 check_real("lon_deg", lon_deg, -180.0, 180.0))
    if cell is None:
        if point is None:
            raise StationError("no position: give lat and lon, or a cell")
        return h3.latlng_to_cell(*point, STATION_CELL_RES), point
    cell = check_cell(cell)
    if point is None:
        return cell, h3.cell_to_latlng(cell)
    if h3.latlng_to_cell(*point, h3.get_resolution(cell)) != cell:
        raise StationError(f"lat/lon {point[0]:g}, {point[1]:g} lie outside cell {cell:x}; "
                           "give one position, or make them agree")
    return cell, point
