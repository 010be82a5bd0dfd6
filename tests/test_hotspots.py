"""The one station record and its files: construction, every kind of bad row, round
trips and fuzzed input, and the announcement built from a station."""

from __future__ import annotations

import dataclasses
import doctest
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from h3.api import basic_int as h3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coverage_net.identity import Keypair
from coverage_net.messages import HotspotAnnouncement, announcement_for, decode
from coverage_net.radio import (
    REGIONS,
    STATION_CELL_RES,
    STATION_COLUMNS,
    STATION_LIMITS,
    RadioError,
    Station,
    StationError,
    _station,
    read_stations,
    write_stations,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "white_mountains.csv"
HEADER = "name,lat,lon,cell,height_m,gain_dbi,tx_power_dbm,region,noise_figure_db\n"
GOOD_ROW = "washington,44.2706,-71.3033,,10,3,20,US915,6\n"
SUMMIT = (44.2706, -71.3033)
SUMMIT_CELL = h3.latlng_to_cell(*SUMMIT, 12)

# run hypothesis without writing its example database into the source tree
FUZZ = settings(max_examples=150, database=None, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _write(tmp_path: Path, text: str, name: str = "stations.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path, **kwargs) -> str:
    with pytest.raises(StationError) as info:
        read_stations(path, **kwargs)
    return str(info.value)


def test_doctests_pass():
    result = doctest.testmod(_station)
    assert result.attempted > 0 and result.failed == 0


# --- the record ----------------------------------------------------------------------------


def test_station_defaults_canonical_region_and_both_positions():
    s = Station("a", cell=SUMMIT_CELL, region="as923")
    assert (s.antenna_height_m, s.antenna_gain_dbi, s.tx_power_dbm, s.noise_figure_db) == \
        (10.0, 3.0, 20.0, 6.0)
    assert s.region == "AS923-1" and s.eirp_dbm == 23.0
    assert (s.lat_deg, s.lon_deg) == h3.cell_to_latlng(SUMMIT_CELL)
    assert Station("a", cell=f"{SUMMIT_CELL:x}") == Station("a", cell=SUMMIT_CELL)
    assert Station("a", cell=np.uint64(SUMMIT_CELL)).cell == SUMMIT_CELL
    by_point = Station("a", lat_deg=SUMMIT[0], lon_deg=SUMMIT[1])
    assert by_point.cell == SUMMIT_CELL and (by_point.lat_deg, by_point.lon_deg) == SUMMIT
    assert h3.get_resolution(by_point.cell) == STATION_CELL_RES
    coarse = h3.latlng_to_cell(*SUMMIT, 6)
    assert Station("a", cell=coarse, lat_deg=SUMMIT[0], lon_deg=SUMMIT[1]).cell == coarse
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.antenna_height_m = 3.0  # type: ignore[misc]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"cell": 12345}, "cell 0x3039 is not a valid H3 cell"),
    ({"cell": -5}, "cell -5 is not a valid H3 cell"),
    ({"cell": 2**70}, "is not a valid H3 cell"),
    ({"cell": "zz"}, "cell 'zz' is not a valid H3 cell"),
    ({"cell": 1.5}, "cell is 1.5"),
    ({"cell": None}, "no position: give lat and lon, or a cell"),
    ({"cell": None, "lat_deg": 44.0}, "give both lat and lon, or a cell"),
    ({"cell": None, "lat_deg": 91.0, "lon_deg": 0.0}, "lat_deg is 91; it must lie in [-90, 90]"),
    ({"cell": None, "lat_deg": 0.0, "lon_deg": math.inf}, "lon_deg is inf; it must be finite"),
    ({"lat_deg": 45.0, "lon_deg": -70.0}, "lie outside cell"),
    ({"antenna_height_m": -1}, "antenna_height_m is -1; it must lie in [0, 1000]"),
    ({"antenna_height_m": 1e4}, "antenna_height_m is 10000; it must lie in [0, 1000]"),
    ({"antenna_gain_dbi": float("nan")}, "antenna_gain_dbi is nan; it must be finite"),
    ({"antenna_gain_dbi": 41}, "antenna_gain_dbi is 41; it must lie in [-20, 40]"),
    ({"tx_power_dbm": True}, "tx_power_dbm is True; it must be a number"),
    ({"tx_power_dbm": 10**400}, "it must be finite"),
    ({"noise_figure_db": "6"}, "noise_figure_db is '6'; it must be a number"),
    ({"noise_figure_db": -0.5}, "noise_figure_db is -0.5; it must lie in [0, 30]"),
    ({"region": "XX999"}, "'XX999' is not a known region"),
    ({"region": 915}, "region is 915; give a region name"),
    ({"name": ""}, "name is ''"),
    ({"name": " padded"}, "name is ' padded'"),
    ({"name": "two\nlines"}, "printable"),
    ({"name": 7}, "name is 7"),
])
def test_station_rejects_bad_fields_naming_the_field(kwargs, message):
    args = {"name": "a", "cell": SUMMIT_CELL} | kwargs
    with pytest.raises(StationError, match=re.escape(message)):
        Station(**args)


def test_station_error_is_a_radio_error_and_a_value_error():
    assert issubclass(StationError, RadioError) and issubclass(StationError, ValueError)


def test_check_eirp_against_the_region():
    Station("edge", cell=SUMMIT_CELL, antenna_gain_dbi=24, tx_power_dbm=6).check_eirp()
    with pytest.raises(StationError, match="tx_power_dbm: .*34.*30 dBm.*US915"):
        Station("hot", cell=SUMMIT_CELL, antenna_gain_dbi=6, tx_power_dbm=28).check_eirp()


# --- good files ----------------------------------------------------------------------------


def test_good_csv_with_bom_comments_blank_lines_latlon_and_cell_rows(tmp_path):
    coarse = f"{h3.latlng_to_cell(*SUMMIT, 8):x}"
    text = ("# White Mountains test stations\n"
            "name, lat ,lon,cell,height_m,gain_dbi,tx_power_dbm,region\n"
            "# a comment between rows is skipped too\n"
            " washington ,44.2706,-71.3033,,10,3,20,US915\n"
            "\n"
            f"summit-cell,,,{SUMMIT_CELL:x},8,5.5,14,us915\n"
            "europe,46.0,7.0,,2,2.15,13,EU863-870\n"
            f"coarse-cell,,,{coarse},,,,\n"
            f"both-agree,44.2706,-71.3033,{coarse},,,,\n")
    path = tmp_path / "good.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))  # UTF-8 BOM, as Excel writes

    washington, summit, europe, by_coarse, both = read_stations(path)

    assert washington == Station("washington", lat_deg=44.2706, lon_deg=-71.3033,
                                 antenna_height_m=10, antenna_gain_dbi=3, tx_power_dbm=20)
    assert (summit.lat_deg, summit.lon_deg) == h3.cell_to_latlng(SUMMIT_CELL)
    assert summit.region == "US915" and summit.eirp_dbm == pytest.approx(19.5)
    assert europe.region == "EU868" and europe.eirp_dbm == pytest.approx(15.15)
    assert (by_coarse.lat_deg, by_coarse.lon_deg) == h3.cell_to_latlng(int(coarse, 16))
    assert by_coarse.antenna_height_m == 10.0 and by_coarse.noise_figure_db == 6.0  # defaults
    assert both.cell == int(coarse, 16) and (both.lat_deg, both.lon_deg) == SUMMIT


def test_columns_may_come_in_any_order_and_lat_lon_may_be_absent(tmp_path):
    path = _write(tmp_path, "region,tx_power_dbm,gain_dbi,height_m,cell,name\n"
                            f"US915,20,3,10,{SUMMIT_CELL:x},only-cell\n")
    (station,) = read_stations(path)
    assert station.name == "only-cell" and station.cell == SUMMIT_CELL


def test_example_file_loads_within_the_eirp_limit():
    stations = read_stations(EXAMPLE, enforce_eirp_limit=True)
    assert [s.name for s in stations] == [
        "mt-washington", "gorham", "north-conway", "bretton-woods", "lincoln"]
    assert all(s.region == "US915" for s in stations)
    assert all(43.9 < s.lat_deg < 44.5 and -71.8 < s.lon_deg < -71.0 for s in stations)


def test_eirp_limit_only_when_asked(tmp_path):
    path = _write(tmp_path, HEADER + "edge,44,-71,,10,24,6,US915,6\nhot,44,-71.1,,10,6,28,,\n")
    assert len(read_stations(path)) == 2  # the simulator may model a non-compliant radio
    message = _error(path, enforce_eirp_limit=True)
    assert message.startswith(f"{path} line 3 ('hot'): tx_power_dbm:")
    assert "34" in message and "30 dBm" in message and "US915" in message


def test_geojson_from_other_tools(tmp_path):
    coarse = h3.latlng_to_cell(*SUMMIT, 7)
    data = {"type": "FeatureCollection", "features": [
        _feature({"name": "plain", "owner": "x", "height_m": None}, (-71.3033, 44.2706, 1917)),
        _feature({"name": "checked", "cell": f"{coarse:x}", "region": "eu868", "gain_dbi": 2}),
        {"type": "Feature", "geometry": None,
         "properties": {"name": "by-cell", "cell": f"{coarse:x}"}},
    ]}
    plain, checked, by_cell = read_stations(_write(tmp_path, json.dumps(data), "s.geojson"))
    assert plain.cell == SUMMIT_CELL and plain.antenna_height_m == 10.0
    assert checked.cell == coarse and checked.antenna_gain_dbi == 2.0
    assert checked.region == "EU868"
    assert (by_cell.lat_deg, by_cell.lon_deg) == h3.cell_to_latlng(coarse)


def test_fmt_overrides_the_file_name(tmp_path):
    path = _write(tmp_path, HEADER + GOOD_ROW, "stations.txt")
    assert read_stations(path, fmt="csv")[0].name == "washington"
    assert "not valid JSON" in _error(path, fmt="geojson")
    assert "fmt is 'xml'" in _error(path, fmt="xml")


# --- bad CSV rows: each error names the file, the line, the station and the column ---------

BAD_ROWS = [
    pytest.param(",44,-71,,10,3,20,US915,6", "line 3: name is empty", id="empty-name"),
    pytest.param("   ,44,-71,,10,3,20,US915,6", "line 3: name is empty", id="blank-name"),
    pytest.param("a\x01b,44,-71,,10,3,20,US915,6", "printable", id="unprintable-name"),
    pytest.param("washington,44.1,-71.1,,10,3,20,US915,6",
                 "line 3 ('washington'): name appears twice (first on line 2)",
                 id="duplicate-name"),
    pytest.param("b,44,-71,,ten,3,20,US915,6", "line 3 ('b'): height_m is 'ten', not a number",
                 id="non-numeric-height"),
    pytest.param("b,44,-71,,-1,3,20,US915,6", "line 3 ('b'): height_m is -1; it must lie in "
                 "[0, 1000]", id="negative-height"),
    pytest.param("b,44,-71,,nan,3,20,US915,6", "line 3 ('b'): height_m is nan; it must be "
                 "finite", id="nan-height"),
    pytest.param("b,44,-71,,10,1e999,20,US915,6", "line 3 ('b'): gain_dbi is inf; it must be "
                 "finite", id="inf-gain"),
    pytest.param("b,44,-71,,10,3,50,US915,6", "line 3 ('b'): tx_power_dbm is 50; it must lie "
                 "in [-30, 40]", id="power-too-high"),
    pytest.param("b,44,-71,,10,3,20,US915,-1", "line 3 ('b'): noise_figure_db is -1",
                 id="negative-noise-figure"),
    pytest.param("b,nan,-71,,10,3,20,US915,6", "line 3 ('b'): lat is nan; it must be finite",
                 id="nan-lat"),
    pytest.param("b,91,-71,,10,3,20,US915,6", "line 3 ('b'): lat is 91; it must lie in "
                 "[-90, 90]", id="lat-too-big"),
    pytest.param("b,44,181,,10,3,20,US915,6", "line 3 ('b'): lon is 181; it must lie in "
                 "[-180, 180]", id="lon-too-big"),
    pytest.param("b,44,abc,,10,3,20,US915,6", "line 3 ('b'): lon is 'abc', not a number",
                 id="non-numeric-lon"),
    pytest.param("b,44,,,10,3,20,US915,6", "line 3 ('b'): give both lat and lon, or a cell",
                 id="no-lon"),
    pytest.param("b,,,,10,3,20,US915,6", "line 3 ('b'): no position", id="no-place"),
    pytest.param("b,,,8c2b8a0e2b6a9fz,10,3,20,US915,6",
                 "line 3 ('b'): cell '8c2b8a0e2b6a9fz' is not a valid H3 cell", id="invalid-cell"),
    pytest.param("b,,,123456789abcdef,10,3,20,US915,6", "line 3 ('b'): cell '123456789abcdef' "
                 "is not a valid H3 cell", id="hex-not-a-cell"),
    pytest.param("b,,,ffffffffffffffffffff,10,3,20,US915,6", "cell 'ffffffffffffffffffff'",
                 id="cell-too-wide"),
    pytest.param("b,,,-5,10,3,20,US915,6", "cell '-5' is not a valid H3 cell",
                 id="negative-cell"),
    pytest.param(f"b,45.5,-71,{h3.latlng_to_cell(*SUMMIT, 9):x},10,3,20,US915,6",
                 "line 3 ('b'): lat/lon 45.5, -71 lie outside cell", id="cell-disagrees"),
    pytest.param("b,44,-71,,10,3,20,MARS433,6", "line 3 ('b'): region: name='MARS433' is not a "
                 "known region", id="unknown-region"),
    pytest.param("b,44,-71,,10,3,20,US915", "line 3: has 8 fields, the header has 9",
                 id="short-row"),
    pytest.param("b,44,-71", "line 3: has 3 fields, the header has 9", id="very-short-row"),
    pytest.param("b,44,-71,,10,3,20,US915,6,7", "line 3: has 10 fields, the header has 9",
                 id="long-row"),
    pytest.param('b,44,-71,,10,3,20,"US915,6', "line 3: not valid CSV", id="open-quote"),
]


@pytest.mark.parametrize(("row", "message"), BAD_ROWS)
def test_bad_csv_row_names_file_line_station_and_column(tmp_path, row, message):
    path = _write(tmp_path, HEADER + GOOD_ROW + row + "\n")
    error = _error(path)
    assert error.startswith(f"{path} line 3")
    assert message in error


def test_unknown_region_lists_the_valid_ones(tmp_path):
    error = _error(_write(tmp_path, HEADER + "b,44,-71,,10,3,20,MARS433,6\n"))
    assert all(name in error for name in REGIONS)


def test_errors_count_comment_and_blank_lines(tmp_path):
    path = _write(tmp_path, "# a comment\n" + HEADER + "# another\n\n" + GOOD_ROW
                  + "b,44,-71,,ten,3,20,US915,6\n")
    assert _error(path).startswith(f"{path} line 6 ('b'): height_m")


@pytest.mark.parametrize(("header", "message"), [
    ("lat,lon", "line 1: missing column(s) name;"),
    ("name,lat,height_m", "line 1: missing column(s) lat and lon (or cell);"),
    ("name,lat,lon,hieght_m", "line 1: unknown column(s) 'hieght_m'; the columns are "
     + ", ".join(STATION_COLUMNS)),
    ("name,lat,lon,lat", "line 1: column(s) lat appear twice"),
])
def test_bad_header_is_named(tmp_path, header, message):
    assert message in _error(_write(tmp_path, header + "\nx,1,2,3\n"))


@pytest.mark.parametrize(("text", "message"), [
    ("", "the file is empty"), ("\ufeff", "the file is empty"),
    ("# only a comment\n\n", "the file is empty"),
    ("# none yet\n" + HEADER, "no stations in the file, only a header"),
], ids=["empty", "bom", "comment", "header-only"])
def test_empty_files(tmp_path, text, message):
    path = _write(tmp_path, text)
    assert _error(path).startswith(f"{path}: {message}")


def test_missing_unreadable_and_undecodable_files(tmp_path):
    assert _error(tmp_path / "nope.csv") == f"{tmp_path / 'nope.csv'}: no such station file"
    assert "cannot read the station file" in _error(tmp_path)  # a directory
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(HEADER.encode() + b"m\xfcnster,52,7.6,,10,3,14,EU868,6\n")
    assert "cannot read the station file" in _error(bad)


def test_oversized_field(tmp_path):
    path = _write(tmp_path, HEADER + "x" * 200_000 + ",44,-71,,10,3,20,US915,6\n")
    assert _error(path).startswith(f"{path} line 2")


# --- bad GeoJSON features ------------------------------------------------------------------


def _feature(props: dict | None, coords=(-71.3033, 44.2706)) -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(coords)},
            "properties": props}


def _collection(*features) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


@pytest.mark.parametrize(("data", "message"), [
    ('{"type": "FeatureCollection",\n "features": [,]}', "s.geojson line 2 column 15: not valid"
                                                        " JSON"),
    ({"type": "Feature"}, "expected a GeoJSON FeatureCollection"),
    (_collection(), "no stations in the file"),
    (_collection({"type": "Polygon"}), "feature 0: not a GeoJSON Feature"),
    (_collection({"type": "Feature", "geometry": {"type": "LineString"}, "properties": {}}),
     "feature 0: geometry must be a Point"),
    (_collection(_feature({"name": "a"}, (1,))), "feature 0: Point coordinates must be [lon, lat]"),
    (_collection(_feature(None)), "feature 0: properties must be an object"),
    (_collection(_feature({"name": 7})), "feature 0: property name is 7"),
    (_collection(_feature({"name": " "})), "feature 0: name is empty"),
    (_collection(_feature({"name": "a"}), _feature({"name": "a"})),
     "feature 1 ('a'): name appears twice (first on feature 0)"),
    (_collection(_feature({"name": "a", "height_m": "10"})),
     "feature 0 ('a'): height_m is '10'; give a JSON number"),
    (_collection(_feature({"name": "a", "height_m": True})),
     "feature 0 ('a'): height_m is True; it must be a number"),
    (_collection(_feature({"name": "a", "gain_dbi": 1e999})),
     "feature 0 ('a'): gain_dbi is inf; it must be finite"),
    (_collection(_feature({"name": "a", "region": 915})),
     "feature 0 ('a'): region is 915; give a string"),
    (_collection(_feature({"name": "a", "region": "XX"})),
     "feature 0 ('a'): region: name='XX' is not a known region"),
    (_collection(_feature({"name": "a", "cell": "nope"})),
     "feature 0 ('a'): cell 'nope' is not a valid H3 cell"),
    (_collection(_feature({"name": "a", "cell": 5})), "feature 0 ('a'): cell is 5; give a string"),
    (_collection(_feature({"name": "a"}, (-71.3, 91.0))),
     "feature 0 ('a'): lat is 91; it must lie in [-90, 90]"),
    (_collection(_feature({"name": "a"}, (-71.3, "44"))),
     "feature 0 ('a'): lat is '44'; it must be a number"),
    (_collection(_feature({"name": "a", "cell": f"{h3.latlng_to_cell(*SUMMIT, 9):x}"},
                          (-70.0, 44.0))),
     "feature 0 ('a'): lat/lon 44, -70 lie outside cell"),
    (_collection({"type": "Feature", "geometry": None, "properties": {"name": "a"}}),
     "feature 0 ('a'): no position"),
])
def test_bad_geojson_names_file_feature_station_and_property(tmp_path, data, message):
    text = data if isinstance(data, str) else json.dumps(data)
    path = _write(tmp_path, text, "s.geojson")
    error = _error(path)
    assert error.startswith(str(path)) and message in error


# --- round trips ---------------------------------------------------------------------------

_NAMES = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1,
                 max_size=12).map(str.strip).filter(lambda s: s and s.isprintable())


def _number(field: str):
    lo, hi = STATION_LIMITS[field]
    return st.floats(lo, hi, allow_nan=False)


@st.composite
def _stations(draw) -> Station:
    params = {field: draw(_number(field)) for field in STATION_LIMITS}
    params["region"] = draw(st.sampled_from(sorted(REGIONS)))
    lat = draw(st.floats(-90, 90, allow_nan=False))
    lon = draw(st.floats(-180, 180, allow_nan=False))
    placing = draw(st.sampled_from(["latlon", "cell", "both"]))
    res = draw(st.integers(0, 15))
    cell = h3.latlng_to_cell(lat, lon, res)
    if placing == "latlon":
        return Station(draw(_NAMES), lat_deg=lat, lon_deg=lon, **params)
    if placing == "cell":
        return Station(draw(_NAMES), cell=cell, **params)
    return Station(draw(_NAMES), cell=cell, lat_deg=lat, lon_deg=lon, **params)


_UNIQUE = st.lists(_stations(), min_size=1, max_size=6, unique_by=lambda s: s.name)


@pytest.mark.parametrize("suffix", [".csv", ".geojson"])
@FUZZ
@given(stations=_UNIQUE)
def test_round_trip_gives_equal_stations_and_identical_bytes(tmp_path, suffix, stations):
    first, second = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    write_stations(stations, first)
    again = read_stations(first)
    assert again == stations
    write_stations(again, second)
    assert first.read_bytes() == second.read_bytes()


def test_csv_writer_quotes_names_that_would_read_as_comments(tmp_path):
    stations = [Station("#hash, \"quoted\"", cell=SUMMIT_CELL),
                Station("#bare", lat_deg=44.1, lon_deg=-71.1)]
    path = tmp_path / "s.csv"
    write_stations(stations, path)
    assert read_stations(path) == stations


# --- fuzzing: anything goes in, StationError or stations come out --------------------------


def _check_loads_or_station_error(path: Path) -> None:
    try:
        stations = read_stations(path)
    except StationError as exc:
        assert str(path) in str(exc)  # every message names the file
        return
    assert stations, "an accepted file holds at least one station"
    assert len({s.name for s in stations}) == len(stations)
    for s in stations:
        assert s.name == s.name.strip() and s.name
        assert -90.0 <= s.lat_deg <= 90.0 and -180.0 <= s.lon_deg <= 180.0
        assert h3.is_valid_cell(s.cell) and s.region in REGIONS
        for field, (lo, hi) in STATION_LIMITS.items():
            assert lo <= getattr(s, field) <= hi


@FUZZ
@given(text=st.text())
def test_fuzz_arbitrary_text(tmp_path, text):
    path = tmp_path / "fuzz.csv"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _check_loads_or_station_error(path)


@FUZZ
@given(data=st.binary(max_size=2000))
def test_fuzz_arbitrary_bytes(tmp_path, data):
    for name in ("fuzz.csv", "fuzz.geojson"):
        path = tmp_path / name
        path.write_bytes(data)
        _check_loads_or_station_error(path)


_GOOD_FIELDS = ("", "44.27", "-71.3", "", "10", "3", "20", "US915", "6")
_FIELD = st.one_of(
    st.sampled_from(["", "10", "-1", "3", "20", "44.27", "-71.3", "nan", "inf", "1e999",
                     "US915", "eu868", "XX", f"{SUMMIT_CELL:x}", "0", "91", "ffffffffffffffffff"]),
    st.text(max_size=8),
)
# a good row with some fields replaced (None keeps the good value) and cut or padded
_ROW = st.tuples(st.lists(st.one_of(st.none(), _FIELD), min_size=9, max_size=9),
                 st.integers(min_value=1, max_value=10))


@settings(FUZZ, derandomize=True, report_multiple_bugs=False)
@given(rows=st.lists(_ROW, min_size=1, max_size=4))
def test_fuzz_mutated_rows_after_a_valid_header(tmp_path, rows):
    path = tmp_path / "fuzz.csv"
    lines = []
    for i, (mutations, length) in enumerate(rows):
        fields = [good if m is None else m for good, m in zip(_GOOD_FIELDS, mutations,
                                                                strict=True)]
        fields[0] = fields[0] or f"h{i}"
        fields = (fields + ["extra"])[:length]
        lines.append(",".join(f.replace(",", ";").replace("\n", " ") for f in fields) + "\n")
    path.write_text(HEADER + "".join(lines), encoding="utf-8", errors="surrogatepass")
    _check_loads_or_station_error(path)


_JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=8)
_PROPS = st.fixed_dictionaries({}, optional={
    "name": st.one_of(_NAMES, _JSON_VALUE), "cell": st.one_of(st.just(f"{SUMMIT_CELL:x}"),
                                                              _JSON_VALUE),
    "height_m": _JSON_VALUE, "gain_dbi": _JSON_VALUE, "tx_power_dbm": _JSON_VALUE,
    "region": st.one_of(st.sampled_from(["US915", "eu868"]), _JSON_VALUE),
    "noise_figure_db": _JSON_VALUE})


@FUZZ
@given(features=st.lists(st.fixed_dictionaries({
    "type": st.sampled_from(["Feature", "Point"]),
    "geometry": st.one_of(st.none(), st.fixed_dictionaries({
        "type": st.just("Point"), "coordinates": st.one_of(
            st.lists(st.floats(-200, 200) | st.integers(-10**400, 10**400), max_size=4),
            _JSON_VALUE)})),
    "properties": st.one_of(_PROPS, _JSON_VALUE)}), max_size=4))
def test_fuzz_geojson_features(tmp_path, features):
    path = tmp_path / "fuzz.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}),
                    encoding="utf-8")
    _check_loads_or_station_error(path)


# --- the announcement ----------------------------------------------------------------------


@pytest.mark.parametrize("station", [
    Station("summit", lat_deg=SUMMIT[0], lon_deg=SUMMIT[1], antenna_height_m=12.5,
            antenna_gain_dbi=5.8, region="eu868"),
    Station("coarse", cell=h3.latlng_to_cell(*SUMMIT, 7), antenna_height_m=0.0,
            antenna_gain_dbi=-2.0, region="AS923-1"),
], ids=["by-latlon", "by-coarse-cell"])
def test_announcement_from_a_station_verifies_and_carries_its_radio(station):
    keypair = Keypair.from_seed(bytes(range(32)))
    announcement = announcement_for(station, keypair, timestamp_ms=1_700_000_000_000)
    assert isinstance(announcement, HotspotAnnouncement)
    assert announcement.verify() == announcement
    assert decode(announcement.to_cbor()) == announcement  # over the wire, checked again
    assert announcement.hotspot_key == keypair.public_key
    assert announcement.cell == station.cell
    assert announcement.antenna_height_m == station.antenna_height_m
    assert announcement.antenna_gain_dbi == station.antenna_gain_dbi
    assert announcement.region == station.region
    assert announcement.timestamp_ms == 1_700_000_000_000


@FUZZ
@given(station=_stations())
def test_every_valid_station_can_be_announced(station):
    keypair = Keypair.from_seed(b"\x07" * 32)
    announcement_for(station, keypair, timestamp_ms=0).verify()
