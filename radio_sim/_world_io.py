"""World files: reading and writing a `World` as CSV or GeoJSON.

`World.from_csv`, `World.to_csv`, `World.from_geojson` and `World.to_geojson` are
the public face; they delegate here so that `_world` holds only the hotspots and
the neighbour index. The formats are documented on those methods. Both readers
place a hotspot by lat/lon or by a cell of any resolution, and name the file and
line (or feature) and the field at fault in every error.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

from h3.api import basic_int as h3

from ._world import CELL_RES, PARAMETERS, SimHotspot, World, WorldError, _latlon

CSV_COLUMNS = ("name", "lat", "lon", "cell") + PARAMETERS


# --- reading and writing ---------------------------------------------------------------------


def read_csv(cls: type[World], path: str | Path) -> World:
    """`World.from_csv`."""
    path = Path(path)
    rows = _csv_rows(path, _read_text(path))
    header_line, fieldnames = next(rows)
    _check_header(path, header_line, fieldnames)
    hotspots: list[SimHotspot] = []
    first_line: dict[str, int] = {}
    for line, row in rows:
        where = f"{path} line {line}"
        if None in row or None in row.values():
            count = len(fieldnames) + len(row.get(None) or ()) \
                - list(row.values()).count(None)
            raise WorldError(f"{where}: has {count} fields, the header has {len(fieldnames)}")
        row = {key.strip(): value.strip() for key, value in row.items()}
        name = row["name"]
        if name in first_line:
            raise WorldError(f"{where}: hotspot name {name!r} appears twice (first on line "
                             f"{first_line[name]}); names must be unique")
        hotspot = _hotspot(where, name, row.get("cell"), row.get("lat"), row.get("lon"),
                           {k: row[k] for k in PARAMETERS if row.get(k)})
        first_line[name] = line
        hotspots.append(hotspot)
    if not hotspots:
        raise WorldError(f"{path}: no hotspots in the file, only a header")
    return cls(hotspots)


def write_csv(world: World, path: str | Path) -> None:
    """`World.to_csv`."""
    out = io.StringIO()
    out.write("# radio_sim world: antenna height above ground (m), antenna gain (dBi), "
              "conducted tx power (dBm), receiver noise figure (dB)\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for h in world.hotspots:
        lat, lon = h3.cell_to_latlng(h.cell)
        line = io.StringIO()
        csv.writer(line, lineterminator="\n").writerow(
            [h.name, repr(lat), repr(lon), f"{h.cell:x}", repr(h.height_m),
             repr(h.gain_dbi), repr(h.tx_power_dbm), h.region, repr(h.noise_figure_db)])
        text = line.getvalue()
        # a bare name starting with '#' would read back as a comment
        out.write(f'"{h.name}"{text[len(h.name):]}' if text.startswith("#") else text)
    Path(path).write_bytes(out.getvalue().encode("utf-8"))


def read_geojson(cls: type[World], path: str | Path) -> World:
    """`World.from_geojson`."""
    path = Path(path)
    text = _read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorldError(f"{path} line {exc.lineno} column {exc.colno}: not valid JSON: "
                         f"{exc.msg}") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" \
            or not isinstance(data.get("features"), list):
        raise WorldError(f"{path}: expected a GeoJSON FeatureCollection with a 'features' list")
    hotspots: list[SimHotspot] = []
    first: dict[str, int] = {}
    for k, feature in enumerate(data["features"]):
        where = f"{path} feature {k}"
        props, lat, lon = _feature(where, feature)
        name = props.get("name")
        if not isinstance(name, str):
            raise WorldError(f"{where}: property name is {name!r}; it must be a string")
        name = name.strip()
        if name in first:
            raise WorldError(f"{where}: hotspot name {name!r} appears twice (first in feature "
                             f"{first[name]}); names must be unique")
        cell = props.get("cell")
        if cell is not None and not isinstance(cell, str):
            raise WorldError(f"{where} ({name!r}): cell is {cell!r}; give it as a hex string")
        params = {}
        for field in PARAMETERS:
            value = props.get(field)
            if value is None:
                continue
            if (field == "region") != isinstance(value, str):
                kind = "a string" if field == "region" else "a JSON number"
                raise WorldError(f"{where} ({name!r}): {field} is {value!r}; give {kind}")
            params[field] = value
        hotspots.append(_hotspot(where, name, cell, lat, lon, params))
        first[name] = k
    if not hotspots:
        raise WorldError(f"{path}: the FeatureCollection has no features")
    return cls(hotspots)


def write_geojson(world: World, path: str | Path) -> None:
    """`World.to_geojson`."""
    lines = []
    for h in world.hotspots:
        lat, lon = h3.cell_to_latlng(h.cell)
        props = {"name": h.name, "cell": f"{h.cell:x}"}
        props.update((field, getattr(h, field)) for field in PARAMETERS)
        lines.append(json.dumps({"type": "Feature",
                                 "geometry": {"type": "Point", "coordinates": [lon, lat]},
                                 "properties": props}, ensure_ascii=False))
    text = ('{"type": "FeatureCollection", "features": [\n'
            + ",\n".join(lines) + "\n]}\n")
    Path(path).write_bytes(text.encode("utf-8"))


# --- file helpers --------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise WorldError(f"{path}: no such world file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WorldError(f"{path}: cannot read the world file: {exc}") from None


def _csv_rows(path: Path, text: str) -> Iterator:
    """The header (line, names), then (file line number, row) per row; comments skipped."""
    kept = [(number, line) for number, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")]
    if not kept:
        raise WorldError(f"{path}: the file is empty; expected a header ({','.join(CSV_COLUMNS)}) "
                         "and one hotspot per line")
    reader = csv.DictReader((line for _, line in kept), strict=True)
    try:
        yield kept[0][0], [name.strip() for name in reader.fieldnames or ()]
        for row in reader:
            yield kept[reader.line_num - 1][0], row
    except csv.Error as exc:
        line = kept[min(reader.line_num, len(kept)) - 1][0]
        raise WorldError(f"{path} line {line}: not valid CSV: {exc}") from None


def _check_header(path: Path, line: int, fieldnames: list[str]) -> None:
    where = f"{path} line {line}"
    unknown = [name for name in fieldnames if name not in CSV_COLUMNS]
    if unknown:
        raise WorldError(f"{where}: unknown column(s) {', '.join(map(repr, unknown))}; the columns "
                         f"are {', '.join(CSV_COLUMNS)}")
    twice = sorted({name for name in fieldnames if fieldnames.count(name) > 1})
    if twice:
        raise WorldError(f"{where}: column(s) {', '.join(twice)} appear twice")
    missing = [] if "name" in fieldnames else ["name"]
    if "cell" not in fieldnames and not {"lat", "lon"} <= set(fieldnames):
        missing.append("lat and lon (or cell)")
    if missing:
        raise WorldError(f"{where}: missing column(s) {', '.join(missing)}; the header needs "
                         "name and a position (lat and lon, or cell); optional: "
                         f"{', '.join(PARAMETERS)}")


def _feature(where: str, feature: object) -> tuple[dict, object, object]:
    """(properties, lat, lon) of a Point feature (or one without geometry), by shape only."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise WorldError(f"{where}: not a GeoJSON Feature")
    props = feature.get("properties")
    if not isinstance(props, dict):
        raise WorldError(f"{where}: properties must be an object holding at least a name")
    geometry = feature.get("geometry")
    if geometry is None:  # an unlocated feature: its cell property must place it
        return props, None, None
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        raise WorldError(f"{where}: geometry must be a Point")
    coords = geometry.get("coordinates")
    if not isinstance(coords, list) or len(coords) not in (2, 3):
        raise WorldError(f"{where}: Point coordinates must be [lon, lat], got {coords!r}")
    return props, coords[1], coords[0]


def _text_number(field: str, value: object) -> object:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise WorldError(f"{field} is {value!r}, not a number") from None
    return value


def _hotspot(where: str, name: str, cell_text: str | None, lat: object, lon: object,
             params: dict) -> SimHotspot:
    """A hotspot from a file record, placed by lat/lon or else by a cell of any
    resolution (its centre); when both are given the point must lie in the cell."""
    try:
        if lat in (None, "") and lon in (None, ""):
            point = None
        elif lat in (None, "") or lon in (None, ""):
            raise WorldError("give both lat and lon, or a cell")
        else:
            point = _latlon(_text_number("lat", lat), _text_number("lon", lon))
        if cell_text:
            cell = _any_cell(cell_text)
            res = h3.get_resolution(cell)
            if point is None:
                point = h3.cell_to_latlng(cell)
            elif h3.latlng_to_cell(*point, res) != cell:
                raise WorldError(f"lat/lon {point[0]:g}, {point[1]:g} lie outside cell "
                                 f"{cell:x}; give one position, or make them agree")
        elif point is None:
            raise WorldError("no position: give lat and lon, or a cell")
        params = {k: v if k == "region" else _text_number(k, v) for k, v in params.items()}
        return SimHotspot(name, h3.latlng_to_cell(*point, CELL_RES), **params)
    except WorldError as exc:
        label = f" ({name!r})" if isinstance(name, str) and name else ""
        raise WorldError(f"{where}{label}: {exc}") from None


def _any_cell(text: str) -> int:
    try:
        value = int(text, 16)
        valid = h3.is_valid_cell(value)
    except (OverflowError, ValueError, TypeError):
        valid = False
    if not valid:
        raise WorldError(f"cell {text[:40]!r} is not a valid H3 cell")
    return value
