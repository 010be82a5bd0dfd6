"""Station files: one reader and one writer for CSV and GeoJSON.

`coverage-net predict --hotspots` and the simulator's world files read the same
formats through `read_stations`, so a file that works for one works for the
other, and a bad row gets the same error from both: it names the file, the line
(CSV) or feature (GeoJSON), the station and the column.

CSV: a header, then one station per line. Lines starting with ``#`` are
comments; blank lines are skipped; a UTF-8 BOM is allowed. The columns, in any
order (``name`` and a position are required, the others default as in
`Station`)::

    name,lat,lon,cell,height_m,gain_dbi,tx_power_dbm,region,noise_figure_db

``height_m`` and ``gain_dbi`` fill `Station.antenna_height_m` and
`Station.antenna_gain_dbi`; ``cell`` is a hex H3 index of any resolution.

GeoJSON: a FeatureCollection of Point features ``[lon, lat]`` (a third
coordinate, altitude, is ignored) whose properties hold the same names as the
CSV columns; unknown properties are ignored, missing or null ones take the
defaults, and a feature with null geometry is placed by its ``cell``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from ._errors import StationError
from ._station import STATION_LIMITS, Station, check_cell, check_name, check_real

__all__ = ["STATION_COLUMNS", "read_stations", "write_stations"]

# file column -> Station field, for the radio parameters
_PARAMETERS = {"height_m": "antenna_height_m", "gain_dbi": "antenna_gain_dbi",
               "tx_power_dbm": "tx_power_dbm", "region": "region",
               "noise_figure_db": "noise_figure_db"}
STATION_COLUMNS = ("name", "lat", "lon", "cell", *_PARAMETERS)
_GEOJSON_SUFFIXES = (".geojson", ".json")


def read_stations(path: str | Path, *, fmt: str | None = None,
                  enforce_eirp_limit: bool = False) -> list[Station]:
    """Read and check a station file: CSV, or GeoJSON for a ``.geojson``/``.json`` name.

    ``fmt`` ("csv" or "geojson") overrides the choice by file name. With
    ``enforce_eirp_limit`` a station radiating more than its region allows is an
    error (coverage maps of lawful hotspots); the simulator leaves it off.
    Names must be unique within a file; a file with no stations is an error.
    """
    path = Path(path)
    geojson = _is_geojson(path, fmt)
    text = _read_text(path)
    records = _geojson_records(path, text) if geojson else _csv_records(path, text)
    stations: list[Station] = []
    first: dict[str, str] = {}
    for where, name, record in records:
        try:
            station = _station(name, record)
            if enforce_eirp_limit:
                station.check_eirp()
        except StationError as exc:
            label = f" ({name!r})" if name else ""
            raise StationError(f"{where}{label}: {exc}") from None
        if name in first:
            raise StationError(f"{where} ({name!r}): name appears twice (first on {first[name]}); "
                               "names must be unique")
        first[name] = where.removeprefix(f"{path} ")
        stations.append(station)
    if not stations:
        raise StationError(f"{path}: no stations in the file"
                           + ("" if geojson else ", only a header"))
    return stations


def write_stations(stations: Iterable[Station], path: str | Path, *,
                   fmt: str | None = None) -> None:
    """Write stations so that `read_stations` gives them back equal.

    Every station is written with lat, lon and its cell, numbers as Python's
    shortest round-tripping repr; the same stations give the same bytes.
    """
    path = Path(path)
    stations = list(stations)
    text = _geojson_text(stations) if _is_geojson(path, fmt) else _csv_text(stations)
    path.write_bytes(text.encode("utf-8"))


# --- one record --------------------------------------------------------------------------


def _station(name: str, record: dict[str, object]) -> Station:
    """A Station from a record keyed by column, each number checked under its column name."""
    check_name(name)
    lat, lon, cell = (record.get(key) for key in ("lat", "lon", "cell"))
    params = {}
    for column, field in _PARAMETERS.items():
        value = record.get(column)
        if value is not None and field in STATION_LIMITS:
            value = check_real(column, value, *STATION_LIMITS[field])
        if value is not None:
            params[field] = value
    if lat is not None:
        lat = check_real("lat", lat, -90.0, 90.0)
    if lon is not None:
        lon = check_real("lon", lon, -180.0, 180.0)
    if cell is not None:
        cell = check_cell(cell)
    return Station(name, cell=cell, lat_deg=lat, lon_deg=lon, **params)


# --- CSV ------------------------------------------------------------------------------------


def _csv_records(path: Path, text: str) -> Iterator[tuple[str, str, dict[str, object]]]:
    rows = _csv_rows(path, text)
    header_line, fieldnames = next(rows)
    _check_header(path, header_line, fieldnames)
    for line, row in rows:
        where = f"{path} line {line}"
        if None in row or None in row.values():
            count = len(fieldnames) + len(row.get(None) or ()) - list(row.values()).count(None)
            raise StationError(f"{where}: has {count} fields, the header has {len(fieldnames)}")
        row = {key.strip(): value.strip() for key, value in row.items()}
        name = row.pop("name")
        if not name:
            raise StationError(f"{where}: name is empty")
        record: dict[str, object] = {}
        for column, value in row.items():
            if not value:
                continue
            if column in ("cell", "region"):
                record[column] = value
                continue
            try:
                record[column] = float(value)
            except ValueError:
                raise StationError(f"{where} ({name!r}): {column} is {value[:40]!r}, "
                                   "not a number") from None
        yield where, name, record


def _csv_rows(path: Path, text: str) -> Iterator:
    """The header (line, names), then (file line number, row) per row; comments skipped."""
    kept = [(number, line) for number, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")]
    if not kept:
        raise StationError(f"{path}: the file is empty; expected a header "
                           f"({','.join(STATION_COLUMNS)}) and one station per line")
    last = 0  # index in `kept` of the line the reader took last: where an error is

    def lines() -> Iterator[str]:
        nonlocal last
        for last, (_, line) in enumerate(kept):  # noqa: B007 - read by the handler below
            yield line

    reader = csv.DictReader(lines(), strict=True)
    try:
        yield kept[0][0], [name.strip() for name in reader.fieldnames or ()]
        for row in reader:
            yield kept[reader.line_num - 1][0], row
    except csv.Error as exc:
        raise StationError(f"{path} line {kept[last][0]}: not valid CSV: {exc}") from None


def _check_header(path: Path, line: int, fieldnames: list[str]) -> None:
    where = f"{path} line {line}"
    unknown = [name for name in fieldnames if name not in STATION_COLUMNS]
    if unknown:
        raise StationError(f"{where}: unknown column(s) {', '.join(map(repr, unknown))}; the "
                           f"columns are {', '.join(STATION_COLUMNS)}")
    twice = sorted({name for name in fieldnames if fieldnames.count(name) > 1})
    if twice:
        raise StationError(f"{where}: column(s) {', '.join(twice)} appear twice")
    missing = [] if "name" in fieldnames else ["name"]
    if "cell" not in fieldnames and not {"lat", "lon"} <= set(fieldnames):
        missing.append("lat and lon (or cell)")
    if missing:
        raise StationError(f"{where}: missing column(s) {', '.join(missing)}; the header needs "
                           "name and a position (lat and lon, or cell); optional: "
                           f"{', '.join(_PARAMETERS)}")


def _csv_text(stations: list[Station]) -> str:
    out = io.StringIO()
    out.write("# stations: antenna height above ground (m), antenna gain (dBi), "
              "conducted tx power (dBm), receiver noise figure (dB)\n")
    csv.writer(out, lineterminator="\n").writerow(STATION_COLUMNS)
    for s in stations:
        line = io.StringIO()
        csv.writer(line, lineterminator="\n").writerow(
            [s.name, repr(s.lat_deg), repr(s.lon_deg), f"{s.cell:x}",
             *(s.region if field == "region" else repr(getattr(s, field))
               for field in _PARAMETERS.values())])
        text = line.getvalue()
        # a bare name starting with '#' would read back as a comment
        out.write(f'"{s.name}"{text[len(s.name):]}' if text.startswith("#") else text)
    return out.getvalue()


# --- GeoJSON ----------------------------------------------------------------------------------


def _geojson_records(path: Path, text: str) -> Iterator[tuple[str, str, dict[str, object]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StationError(f"{path} line {exc.lineno} column {exc.colno}: not valid JSON: "
                           f"{exc.msg}") from None
    except RecursionError:
        raise StationError(f"{path}: JSON nested too deeply") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" \
            or not isinstance(data.get("features"), list):
        raise StationError(f"{path}: expected a GeoJSON FeatureCollection with a 'features' list")
    for k, feature in enumerate(data["features"]):
        where = f"{path} feature {k}"
        props, lat, lon = _feature(where, feature)
        name = props.get("name")
        if not isinstance(name, str):
            raise StationError(f"{where}: property name is {name!r:.40}; it must be a string")
        name = name.strip()
        if not name:
            raise StationError(f"{where}: name is empty")
        record: dict[str, object] = {"lat": lat, "lon": lon}
        for key in ("cell", *_PARAMETERS):
            value = props.get(key)
            if value is None:
                continue
            if (key in ("cell", "region")) != isinstance(value, str):
                kind = "a string" if key in ("cell", "region") else "a JSON number"
                raise StationError(f"{where} ({name!r}): {key} is {value!r:.40}; give {kind}")
            record[key] = value
        yield where, name, record


def _feature(where: str, feature: object) -> tuple[dict, object, object]:
    """(properties, lat, lon) of a Point feature (or one without geometry), by shape only."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise StationError(f"{where}: not a GeoJSON Feature")
    props = feature.get("properties")
    if not isinstance(props, dict):
        raise StationError(f"{where}: properties must be an object holding at least a name")
    geometry = feature.get("geometry")
    if geometry is None:  # an unlocated feature: its cell property must place it
        return props, None, None
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        raise StationError(f"{where}: geometry must be a Point")
    coords = geometry.get("coordinates")
    if not isinstance(coords, list) or len(coords) not in (2, 3):
        raise StationError(f"{where}: Point coordinates must be [lon, lat], got {coords!r:.60}")
    return props, coords[1], coords[0]


def _geojson_text(stations: list[Station]) -> str:
    lines = []
    for s in stations:
        props: dict[str, object] = {"name": s.name, "cell": f"{s.cell:x}"}
        props.update((column, getattr(s, field)) for column, field in _PARAMETERS.items())
        lines.append(json.dumps({"type": "Feature",
                                 "geometry": {"type": "Point",
                                              "coordinates": [s.lon_deg, s.lat_deg]},
                                 "properties": props}, ensure_ascii=False))
    return '{"type": "FeatureCollection", "features": [\n' + ",\n".join(lines) + "\n]}\n"


# --- files -----------------------------------------------------------------------------------


def _is_geojson(path: Path, fmt: str | None) -> bool:
    if fmt is None:
        return path.suffix.lower() in _GEOJSON_SUFFIXES
    if fmt not in ("csv", "geojson"):
        raise StationError(f"fmt is {fmt!r}; it must be 'csv', 'geojson' or None (by name)")
    return fmt == "geojson"


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise StationError(f"{path}: no such station file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StationError(f"{path}: cannot read the station file: {exc}") from None
