"""Hotspot descriptions for coverage prediction, loaded from CSV.

A hotspot file has a header row and one hotspot per line::

    name,lat,lon,cell,height_m,gain_dbi,tx_power_dbm,region
    washington,44.2706,-71.3033,,10,3,20,US915
    crawford,,,8c2b8a0e2b6a9ff,8,3,20,US915

Either `lat`/`lon` or an H3 `cell` (any resolution; its centre is used) places
the hotspot. `height_m` is the antenna height above ground, `gain_dbi` the
antenna gain, `tx_power_dbm` the conducted transmit power; the region must allow
their sum as EIRP.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import h3

from coverage_net.radio import RadioError, get_region

from ._errors import HotspotFileError

REQUIRED_COLUMNS = ("name", "height_m", "gain_dbi", "tx_power_dbm", "region")


@dataclass(frozen=True)
class Hotspot:
    name: str
    lat_deg: float
    lon_deg: float
    height_m: float
    gain_dbi: float
    tx_power_dbm: float
    region: str

    @property
    def eirp_dbm(self) -> float:
        return self.tx_power_dbm + self.gain_dbi


def _number(where: str, column: str, text: str, *, minimum: float | None = None) -> float:
    try:
        value = float(text)
    except ValueError:
        raise HotspotFileError(f"{where}: {column} is {text!r}, not a number") from None
    if not math.isfinite(value):
        raise HotspotFileError(f"{where}: {column} is {text!r}; it must be finite")
    if minimum is not None and value < minimum:
        raise HotspotFileError(f"{where}: {column} is {value:g}; it must be >= {minimum:g}")
    return value


def _place(where: str, row: dict[str, str]) -> tuple[float, float]:
    cell = (row.get("cell") or "").strip()
    if cell:
        try:
            valid = h3.is_valid_cell(cell)
        except (OverflowError, ValueError, TypeError):  # not even a 64-bit hex number
            valid = False
        if not valid:
            raise HotspotFileError(f"{where}: cell {cell[:40]!r} is not a valid H3 cell")
        return h3.cell_to_latlng(cell)
    lat_text = (row.get("lat") or "").strip()
    lon_text = (row.get("lon") or "").strip()
    if not lat_text or not lon_text:
        raise HotspotFileError(f"{where}: give either lat and lon, or an H3 cell")
    lat = _number(where, "lat", lat_text)
    lon = _number(where, "lon", lon_text)
    if not -90.0 <= lat <= 90.0:
        raise HotspotFileError(f"{where}: lat is {lat:g}; it must lie in [-90, 90]")
    if not -180.0 <= lon <= 180.0:
        raise HotspotFileError(f"{where}: lon is {lon:g}; it must lie in [-180, 180]")
    return lat, lon


def _rows(path: Path, text: str):
    """(file line number, row dict) for each data row; comment lines are skipped."""
    kept = [(number, line) for number, line in enumerate(text.splitlines(), start=1)
            if not line.lstrip().startswith("#")]
    reader = csv.DictReader(line for _, line in kept)
    try:
        fieldnames = reader.fieldnames or []
        header_line = kept[0][0] if kept else 1
        yield header_line, fieldnames
        for row in reader:
            line = kept[reader.line_num - 1][0]
            yield line, row
    except csv.Error as exc:
        line = kept[min(reader.line_num, len(kept)) - 1][0] if kept else 1
        raise HotspotFileError(f"{path} line {line}: not valid CSV: {exc}") from None


def load_hotspots(path: str | Path) -> list[Hotspot]:
    """Read and check a hotspot CSV file; errors name the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise HotspotFileError(f"{path}: no such hotspot file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HotspotFileError(f"{path}: cannot read hotspot file: {exc}") from None
    rows = _rows(path, text)
    header_line, fieldnames = next(rows)
    missing = [c for c in REQUIRED_COLUMNS if c not in set(fieldnames)]
    if missing:
        raise HotspotFileError(
            f"{path} line {header_line}: missing column(s) {', '.join(missing)}; the header "
            f"must hold name, lat, lon (or cell), {', '.join(REQUIRED_COLUMNS[1:])}")
    hotspots: list[Hotspot] = []
    names: set[str] = set()
    for line, row in rows:
        where = f"{path} line {line}"
        if None in row or None in row.values():
            count = len(fieldnames) + len(row.get(None) or ()) - list(row.values()).count(None)
            raise HotspotFileError(
                f"{where}: has {count} fields, the header has {len(fieldnames)}")
        name = row["name"].strip()
        if not name:
            raise HotspotFileError(f"{where}: name is empty")
        if name in names:
            raise HotspotFileError(f"{where}: hotspot name {name!r} appears twice")
        names.add(name)
        lat, lon = _place(where, row)
        height = _number(where, "height_m", row["height_m"], minimum=0.0)
        gain = _number(where, "gain_dbi", row["gain_dbi"])
        power = _number(where, "tx_power_dbm", row["tx_power_dbm"])
        try:
            region = get_region(row["region"].strip())
            region.check_tx_power(power, gain)
        except RadioError as exc:
            raise HotspotFileError(f"{where} ({name}): {exc}") from None
        hotspots.append(Hotspot(name, float(lat), float(lon), height, gain, power, region.name))
    if not hotspots:
        raise HotspotFileError(f"{path}: no hotspots in the file")
    return hotspots
