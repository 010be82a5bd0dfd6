"""Loading hotspot CSV files: good files, every kind of bad row, and fuzzed input."""

from __future__ import annotations

import math
from pathlib import Path

import h3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coverage_net.coverage import CoverageError, Hotspot, HotspotFileError, load_hotspots
from coverage_net.radio import REGIONS

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "white_mountains.csv"
HEADER = "name,lat,lon,cell,height_m,gain_dbi,tx_power_dbm,region\n"
GOOD_ROW = "washington,44.2706,-71.3033,,10,3,20,US915\n"
# a res-12 cell on the summit of Mount Washington
SUMMIT_CELL = h3.latlng_to_cell(44.2706, -71.3033, 12)

# run hypothesis without writing its example database into the source tree
FUZZ = settings(max_examples=150, database=None, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _write(tmp_path: Path, text: str, name: str = "hotspots.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _load_error(path: Path) -> str:
    with pytest.raises(HotspotFileError) as info:
        load_hotspots(path)
    return str(info.value)


# --- good files ---------------------------------------------------------------------


def test_good_file_with_bom_comments_latlon_and_cell_rows(tmp_path):
    path = tmp_path / "good.csv"
    text = ("# White Mountains test hotspots\n"
            + HEADER
            + "# a comment between rows is skipped too\n"
            + " washington ,44.2706,-71.3033,,10,3,20,US915\n"
            + f"summit-cell,,,{SUMMIT_CELL},8,5.5,14,us915\n"
            + "europe,46.0,7.0,,2,2.15,13,EU863-870\n")
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))  # UTF-8 BOM, as Excel writes

    hotspots = load_hotspots(path)

    assert [h.name for h in hotspots] == ["washington", "summit-cell", "europe"]
    washington, summit, europe = hotspots
    assert washington == Hotspot("washington", 44.2706, -71.3033, 10.0, 3.0, 20.0, "US915")
    # an H3 cell places the hotspot at the cell's centre
    lat, lon = h3.cell_to_latlng(SUMMIT_CELL)
    assert (summit.lat_deg, summit.lon_deg) == (lat, lon)
    assert math.dist((summit.lat_deg, summit.lon_deg), (44.2706, -71.3033)) < 1e-3
    assert summit.region == "US915"  # case-insensitive, stored canonical
    assert summit.eirp_dbm == pytest.approx(19.5)
    assert europe.region == "EU868"  # alias resolved
    assert europe.eirp_dbm == pytest.approx(15.15)


def test_cell_wins_over_lat_lon_when_both_are_given(tmp_path):
    path = _write(tmp_path, HEADER + f"x,10.0,10.0,{SUMMIT_CELL},10,3,20,US915\n")
    (hotspot,) = load_hotspots(path)
    assert (hotspot.lat_deg, hotspot.lon_deg) == h3.cell_to_latlng(SUMMIT_CELL)


def test_columns_may_come_in_any_order_and_lat_lon_may_be_absent(tmp_path):
    path = _write(tmp_path, "region,tx_power_dbm,gain_dbi,height_m,cell,name\n"
                            f"US915,20,3,10,{SUMMIT_CELL},only-cell\n")
    (hotspot,) = load_hotspots(path)
    assert hotspot.name == "only-cell"
    assert hotspot.height_m == 10.0 and hotspot.tx_power_dbm == 20.0


def test_eirp_exactly_at_the_region_maximum_is_allowed(tmp_path):
    path = _write(tmp_path, HEADER + "edge,44,-71,,10,24,6,US915\n")  # 24 + 6 = 30 dBm
    (hotspot,) = load_hotspots(path)
    assert hotspot.eirp_dbm == REGIONS["US915"].max_eirp_dbm


def test_example_file_loads():
    hotspots = load_hotspots(EXAMPLE)
    assert [h.name for h in hotspots] == [
        "mt-washington", "gorham", "north-conway", "bretton-woods", "lincoln"]
    assert all(h.region == "US915" for h in hotspots)
    assert all(43.9 < h.lat_deg < 44.5 and -71.8 < h.lon_deg < -71.0 for h in hotspots)


def test_accepts_str_paths(tmp_path):
    path = _write(tmp_path, HEADER + GOOD_ROW)
    assert load_hotspots(str(path)) == load_hotspots(path)


# --- bad rows -------------------------------------------------------------------------

# (second data row, on file line 3: fragments the message must contain besides the file)
BAD_ROWS = [
    pytest.param(",44,-71,,10,3,20,US915", ["name is empty"], id="empty-name"),
    pytest.param("   ,44,-71,,10,3,20,US915", ["name is empty"], id="blank-name"),
    pytest.param("washington,44.1,-71.1,,10,3,20,US915", ["'washington'", "twice"],
                 id="duplicate-name"),
    pytest.param("b,44,-71,,ten,3,20,US915", ["height_m", "'ten'", "not a number"],
                 id="non-numeric-height"),
    pytest.param("b,44,-71,,-1,3,20,US915", ["height_m", "-1", ">= 0"], id="negative-height"),
    pytest.param("b,44,-71,,nan,3,20,US915", ["height_m", "finite"], id="nan-height"),
    pytest.param("b,nan,-71,,10,3,20,US915", ["lat", "finite"], id="nan-lat"),
    pytest.param("b,44,-71,,10,inf,20,US915", ["gain_dbi", "finite"], id="inf-gain"),
    pytest.param("b,44,-71,,10,3,,US915", ["tx_power_dbm", "not a number"], id="empty-power"),
    pytest.param("b,91,-71,,10,3,20,US915", ["lat", "91", "[-90, 90]"], id="lat-too-big"),
    pytest.param("b,-90.5,-71,,10,3,20,US915", ["lat", "-90.5"], id="lat-too-small"),
    pytest.param("b,44,181,,10,3,20,US915", ["lon", "181", "[-180, 180]"], id="lon-too-big"),
    pytest.param("b,44,,,10,3,20,US915", ["lat and lon, or an H3 cell"], id="no-lon"),
    pytest.param("b,,,,10,3,20,US915", ["lat and lon, or an H3 cell"], id="no-place"),
    pytest.param("b,,,8c2b8a0e2b6a9fz,10,3,20,US915", ["cell", "8c2b8a0e2b6a9fz", "H3"],
                 id="invalid-cell"),
    pytest.param("b,,,not-a-cell,10,3,20,US915", ["cell", "not-a-cell", "H3"],
                 id="cell-not-hex"),
    pytest.param("b,44,-71,,10,3,20,MARS433", ["(b)", "MARS433", *REGIONS],
                 id="unknown-region-lists-valid-ones"),
    pytest.param("b,44,-71,,10,3,20,", ["(b)", "not a known region"], id="empty-region"),
    pytest.param("b,44,-71,,10,6,28,US915", ["(b)", "34", "30", "US915"],
                 id="eirp-above-us915-max"),
    pytest.param("b,46,7,,10,3,14,EU868", ["(b)", "17", "16", "EU868"],
                 id="eirp-above-eu868-max"),
]


@pytest.mark.parametrize(("row", "fragments"), BAD_ROWS)
def test_bad_row_names_file_row_and_problem(tmp_path, row, fragments):
    path = _write(tmp_path, HEADER + GOOD_ROW + row + "\n")
    message = _load_error(path)
    assert message.startswith(f"{path} line 3")
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize("column", ["name", "height_m", "gain_dbi", "tx_power_dbm", "region"])
def test_missing_column_is_named(tmp_path, column):
    header = HEADER.strip().split(",")
    row = GOOD_ROW.strip().split(",")
    keep = [i for i, c in enumerate(header) if c != column]
    path = _write(tmp_path, ",".join(header[i] for i in keep) + "\n"
                  + ",".join(row[i] for i in keep) + "\n")
    message = _load_error(path)
    assert message.startswith(str(path))
    assert f"missing column(s) {column}" in message


def test_missing_file_is_named(tmp_path):
    path = tmp_path / "nowhere.csv"
    message = _load_error(path)
    assert str(path) in message and "no such hotspot file" in message


def test_directory_instead_of_file(tmp_path):
    message = _load_error(tmp_path)
    assert str(tmp_path) in message and "cannot read" in message


def test_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "m\xfcnster,52,7.6,,10,3,14,EU868\n").encode("latin-1"))
    message = _load_error(path)
    assert str(path) in message and "cannot read" in message


@pytest.mark.parametrize("text", ["", "\ufeff", "# only a comment\n"],
                         ids=["empty", "bom", "comment"])


def test_empty_file(tmp_path, text):
    path = _write(tmp_path, text)
    message = _load_error(path)
    assert message.startswith(str(path)) and "missing column(s)" in message


def test_header_only(tmp_path):
    path = _write(tmp_path, "# no hotspots yet\n" + HEADER)
    message = _load_error(path)
    assert message == f"{path}: no hotspots in the file"


def test_error_is_a_coverage_error_and_a_value_error(tmp_path):
    with pytest.raises(CoverageError):
        load_hotspots(tmp_path / "missing.csv")
    with pytest.raises(ValueError):
        load_hotspots(tmp_path / "missing.csv")


# --- known bugs: input that escapes as a non-HotspotFileError ---------------------------


@pytest.mark.parametrize("row", ["b,44,-71", "b,44,-71,,10,3,20"], ids=["no-height", "no-region"])
def test_short_row_is_a_hotspot_file_error(tmp_path, row):
    path = _write(tmp_path, HEADER + GOOD_ROW + row + "\n")
    message = _load_error(path)
    assert message.startswith(f"{path} line 3")


@pytest.mark.parametrize("cell", ["ffffffffffffffffffff", "-5"])
def test_unconvertible_cell_is_a_hotspot_file_error(tmp_path, cell):
    path = _write(tmp_path, HEADER + f"b,,,{cell},10,3,20,US915\n")
    message = _load_error(path)
    assert "cell" in message and cell in message


def test_oversized_field_is_a_hotspot_file_error(tmp_path):
    path = _write(tmp_path, HEADER + "x" * 200_000 + ",44,-71,,10,3,20,US915\n")
    message = _load_error(path)
    assert str(path) in message


# --- fuzzing: anything goes in, HotspotFileError or hotspots come out -------------------


def _check_loads_or_file_error(path: Path) -> None:
    try:
        hotspots = load_hotspots(path)
    except HotspotFileError as exc:
        assert str(path) in str(exc)  # every message names the file
        return
    assert hotspots, "an accepted file holds at least one hotspot"
    assert len({h.name for h in hotspots}) == len(hotspots)
    for h in hotspots:
        assert h.name == h.name.strip() and h.name
        assert -90.0 <= h.lat_deg <= 90.0 and -180.0 <= h.lon_deg <= 180.0
        assert h.height_m >= 0.0 and math.isfinite(h.height_m)
        assert math.isfinite(h.eirp_dbm) and h.eirp_dbm <= REGIONS[h.region].max_eirp_dbm


@FUZZ
@given(text=st.text())
def test_fuzz_arbitrary_text(tmp_path, text):
    path = tmp_path / "fuzz.csv"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _check_loads_or_file_error(path)


@FUZZ
@given(data=st.binary(max_size=2000))
def test_fuzz_arbitrary_bytes(tmp_path, data):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    _check_loads_or_file_error(path)


@FUZZ
@given(data=st.binary(max_size=500))
def test_fuzz_bytes_after_a_valid_header(tmp_path, data):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(HEADER.encode() + data)
    _check_loads_or_file_error(path)


_GOOD_FIELDS = ("", "44.27", "-71.3", "", "10", "3", "20", "US915")
_FIELD = st.one_of(
    st.sampled_from(["", "10", "-1", "3", "20", "44.27", "-71.3", "nan", "inf", "1e999",
                     "US915", "eu868", "XX", SUMMIT_CELL, "0", "91", "ffffffffffffffffff"]),
    st.text(max_size=8),
)
# a good row with some fields replaced (None keeps the good value) and cut or padded
_ROW = st.tuples(st.lists(st.one_of(st.none(), _FIELD), min_size=8, max_size=8),
                 st.integers(min_value=1, max_value=9))


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
    _check_loads_or_file_error(path)


def test_errors_name_the_file_line_counting_comment_lines(tmp_path):
    path = _write(tmp_path, "# a comment\n" + HEADER + "# another\n" + GOOD_ROW
                  + "b,44,-71,,ten,3,20,US915\n")
    message = _load_error(path)
    assert message.startswith(f"{path} line 5:")
    assert "height_m" in message
