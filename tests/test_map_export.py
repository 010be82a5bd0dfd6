"""Maps from proof: proven cells from real verdicts, the prediction around them, and every
format written from one table: CSV, RFC 7946 GeoJSON (opened with GDAL when it is
installed), a PNG whose legend and hexes are found by colour, and an offline HTML page
rendered in headless Chromium (no request, hover details, layers toggled)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import h3
import numpy as np
import pytest
import shapely
from browser_helpers import CHROMIUM, Browser
from click.testing import CliRunner
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.image import imread
from shapely.geometry import shape

from coverage_net.cli import main
from coverage_net.coverage import (
    LAYERS,
    NO_RSSI,
    MapHotspot,
    WitnessProofs,
    build_layers,
    colour_of,
    map_feature_collection,
    map_figure,
    map_from_proof,
    prove_cells,
    write_map_csv,
    write_map_geojson,
    write_map_html,
    write_map_png,
)
from coverage_net.node import load_map_inputs
from coverage_net.radio import Terrain, model_from_name
from coverage_net.store import MessageStore

CLI = str(Path(sys.executable).with_name("coverage-net"))


def _cell(lat: float, lon: float, res: int = 12) -> int:
    return h3.str_to_int(h3.latlng_to_cell(lat, lon, res))


def _key(i: int) -> bytes:
    return bytes([i]) * 32


def test_proven_cells_aggregate_valid_witnesses_and_uplinks_exactly():
    cells = {_key(1): _cell(44.1, -71.3), _key(2): _cell(44.1001, -71.3001),  # same res-8
             _key(3): _cell(44.3, -71.5), _key(4): _cell(44.5, -71.7)}
    proofs = WitnessProofs(
        witness_keys=(_key(1), _key(1), _key(2), _key(3), _key(9)),
        beaconer_keys=(_key(3), _key(4), _key(3), _key(1), _key(1)),
        epochs=np.array([4, 7, 5, 2, 9]), rssi_centi_dbm=np.array([-11000, -9000, -12050,
                                                                   -10000, -5000]))
    proven = prove_cells(proofs, cells, 8, uplinks_by_hotspot={_key(4): 3, _key(2): 2})
    by_cell = {c: i for i, c in enumerate(proven.cells.tolist())}
    a = by_cell[h3.str_to_int(h3.cell_to_parent(h3.int_to_str(cells[_key(1)]), 8))]
    assert (proven.best_rssi_centi_dbm[a], proven.witnesses[a], proven.hotspots_heard[a],
            proven.last_epoch[a], proven.uplinks[a]) == (-9000, 3, 2, 7, 2)
    b = by_cell[h3.str_to_int(h3.cell_to_parent(h3.int_to_str(cells[_key(3)]), 8))]
    assert (proven.witnesses[b], proven.hotspots_heard[b], proven.last_epoch[b]) == (1, 1, 2)
    # a cell proven by uplinks only: no RSSI, no epoch
    c = by_cell[h3.str_to_int(h3.cell_to_parent(h3.int_to_str(cells[_key(4)]), 8))]
    assert (proven.best_rssi_centi_dbm[c], proven.last_epoch[c], proven.uplinks[c]) == \
        (NO_RSSI, -1, 3)
    assert len(proven) == 3  # key 9 announced nothing: it places nothing
    assert proven.proven_hotspots == {_key(3), _key(4), _key(1)}


@pytest.fixture(scope="module")
def poc_data(tmp_path_factory, dem_dir) -> Path:
    """A real store: 60 hotspots on the tile, 150 beacons judged by the verifier."""
    out = tmp_path_factory.mktemp("poc") / "data"
    done = subprocess.run([CLI, "poc", "simulate", "--dem", str(dem_dir), "--hotspots", "60",
                           "--beacons", "150", "--data", str(out)], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def layers(poc_data, dem_dir):
    with MessageStore.open(poc_data) as store:
        inputs = load_map_inputs(store)
    model = model_from_name("terrain", terrain=Terrain(dem_dir))
    from coverage_net.coverage import PredictionSettings
    return inputs, map_from_proof(inputs.proofs, inputs.hotspots, 8, model=model,
                                  settings=PredictionSettings(res=8, max_range_km=6.0))


def test_the_proven_layer_is_exactly_the_stores_valid_witnesses(poc_data, layers):
    inputs, lay = layers
    with MessageStore.open(poc_data) as store:
        rows = store.verdict_rows()
    beacons = {r.challenge_id for r in rows if r.valid and r.report_type == "beacon_report"}
    valid = [r for r in rows if r.valid and r.report_type == "witness_report"
             and r.challenge_id in beacons]
    assert len(inputs.proofs) == len(valid) == lay.witness_count > 500
    proven = lay.mask("proven")
    assert int(lay.witnesses[proven].sum()) == len(valid)
    assert 0 < int(proven.sum()) < len(lay)  # predicted cells exist beside the proven
    assert not set(lay.cells[proven].tolist()) & set(lay.cells[~proven].tolist())
    assert all(h3.get_resolution(h3.int_to_str(c)) == 8 for c in lay.cells.tolist())


def test_csv_has_one_row_per_cell_with_its_h3_index(tmp_path, layers):
    _, lay = layers
    write_map_csv(lay, tmp_path / "map.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "map.csv").read_text())))
    assert len(rows) == len(lay) and len({r["h3"] for r in rows}) == len(lay)
    assert {r["layer"] for r in rows} == set(LAYERS)
    first = rows[0]
    assert h3.is_valid_cell(first["h3"]) and first["layer"] == "proven"
    assert float(first["rssi_dbm"]) == lay.rssi_centi_dbm[0] / 100
    assert int(first["witnesses"]) == lay.witnesses[0]


def _rings(geometry: dict) -> list[tuple[list, bool]]:
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" \
        else geometry["coordinates"]
    return [(ring, i == 0) for polygon in polygons for i, ring in enumerate(polygon)]


def test_geojson_follows_rfc_7946(tmp_path, layers):
    _, lay = layers
    path = write_map_geojson(lay, tmp_path / "map.geojson")
    collection = json.loads(path.read_text())
    classes = [f for f in collection["features"] if f["geometry"]["type"] != "Point"]
    assert [(f["properties"]["layer"], f["properties"]["class"]) for f in classes] == \
        lay.groups()
    for feature in classes:
        for ring, exterior in _rings(feature["geometry"]):
            assert ring[0] == ring[-1]
            lon, lat = np.asarray(ring).T
            assert (-180 <= lon).all() and (lon <= 180).all() and (np.abs(lat) <= 90).all()
            assert (-75 < lon).all() and (40 < lat).all()  # [lon, lat] order, not [lat, lon]
            # exteriors counter-clockwise, holes clockwise (RFC 7946 section 3.1.6)
            assert shapely.LinearRing(ring).is_ccw == exterior
        merged = shape(feature["geometry"])
        picked = lay.mask(feature["properties"]["layer"], feature["properties"]["class"])
        cells = shapely.union_all([shapely.Polygon(
            [(lng, lat) for lat, lng in h3.cell_to_boundary(h3.int_to_str(c))])
            for c in lay.cells[picked].tolist()])
        assert merged.symmetric_difference(cells).area < 1e-5 * cells.area  # 7-digit rounding
    points = [f for f in collection["features"] if f["geometry"]["type"] == "Point"]
    assert len(points) == len(lay.hotspots)


def test_geojson_cut_at_the_antimeridian():
    """Cells straddling longitude 180 (Fiji): every ring stays within [-180, 180], the
    pieces sit on both sides, and the area is the cells' area."""
    cells = h3.grid_disk(h3.latlng_to_cell(-17.0, 179.99, 7), 2)
    ints = np.asarray(sorted(h3.str_to_int(c) for c in cells), dtype=np.uint64)
    from coverage_net.coverage import ProvenCells
    n = len(ints)
    proven = ProvenCells(7, ints, np.full(n, -10000), np.ones(n, np.int64), np.ones(n, np.int64),
                         np.zeros(n, np.int64), np.zeros(n, np.int64), frozenset())
    lay = build_layers(proven, None, [], witness_count=n)
    feature = map_feature_collection(lay)["features"][0]
    assert feature["geometry"]["type"] == "MultiPolygon"
    lons = [p[0] for ring, _ in _rings(feature["geometry"]) for p in ring]
    assert min(lons) >= -180 and max(lons) <= 180 and min(lons) < -179 and max(lons) > 179
    for ring, exterior in _rings(feature["geometry"]):
        assert shapely.LinearRing(ring).is_ccw == exterior
    area = sum(h3.cell_area(c, unit="km^2") for c in cells)
    geo = shapely.geometry.shape(feature["geometry"])
    km2_per_deg2 = 111.195 ** 2 * np.cos(np.radians(17.0))
    assert geo.area * km2_per_deg2 == pytest.approx(area, rel=0.02)


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL's ogrinfo is not installed "
                    "(Debian gdal-bin; .ci/run installs it)")
def test_gdal_opens_the_geojson(tmp_path, layers):
    _, lay = layers
    path = write_map_geojson(lay, tmp_path / "map.geojson")
    done = subprocess.run(["ogrinfo", "-ro", "-al", "-so", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert f"Feature Count: {len(lay.groups()) + len(lay.hotspots)}" in done.stdout


def _pixels(png: np.ndarray, colour: str) -> np.ndarray:
    rgb = np.asarray([int(colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.uint8)
    return np.all(png[..., :3] == rgb, axis=-1)


def test_png_shows_each_class_in_its_legend_and_on_the_map(tmp_path, layers):
    _, lay = layers
    fig = map_figure(lay)
    legend = fig.axes[0].get_legend()
    FigureCanvasAgg(fig).draw()  # lay out as saving does (the aspect shrinks the axes)
    box = legend.get_window_extent()
    path = tmp_path / "map.png"
    fig.savefig(path, format="png", dpi=fig.dpi)
    png = (imread(path) * 255).round().astype(np.uint8)
    height = png.shape[0]
    in_legend = np.zeros(png.shape[:2], dtype=bool)
    in_legend[int(height - box.y1):int(height - box.y0) + 1, int(box.x0):int(box.x1) + 1] = True
    texts = [t.get_text() for t in legend.get_texts()]
    for layer, class_name in lay.groups():
        found = _pixels(png, colour_of(layer, class_name))
        assert (found & in_legend).sum() >= 20, (layer, class_name)  # its legend patch
        assert (found & ~in_legend).sum() >= 1, (layer, class_name)  # its hexes
        assert any(t.startswith(f"{layer} {class_name} (") for t in texts)
    assert any("coverage proven" in t for t in texts)
    assert "Proven:" in fig.axes[0].get_title() and "Predicted" in fig.axes[0].get_title()
    # the writer gives the same picture
    assert write_map_png(lay, tmp_path / "again.png").stat().st_size > 10_000


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_the_html_map_renders_offline_with_hover_and_toggled_layers(tmp_path, layers):
    _, lay = layers
    page = write_map_html(lay, tmp_path / "map.html")
    with Browser() as browser:
        browser.open(page)
        shot = (imread(io.BytesIO(browser.screenshot())) * 255).round().astype(np.uint8)
        for layer, class_name in lay.groups():
            assert _pixels(shot, colour_of(layer, class_name)).sum() >= 1, (layer, class_name)
        # a proven cell, where nothing is drawn over it: its figures on hover
        found = browser.evaluate("""(() => {
            for (const p of document.querySelectorAll('#layer-proven polygon')) {
              const r = p.getBoundingClientRect();
              const x = r.x + r.width / 2, y = r.y + r.height / 2;
              if (document.elementFromPoint(x, y) === p) return [x, y];
            }
            return null; })()""")
        assert found is not None
        browser.move_mouse(*found)
        tip = browser.evaluate("document.getElementById('tip').textContent")
        assert tip.startswith("proven ") and "best measured RSSI" in tip \
            and "valid witnesses" in tip and "cell 88" in tip
        browser.evaluate("document.getElementById('toggle-predicted').click()")
        hidden = (imread(io.BytesIO(browser.screenshot())) * 255).round().astype(np.uint8)
        map_area = np.zeros(hidden.shape[:2], dtype=bool)
        map_area[120:, :] = True  # below the header, where the legend keys are
        for layer, class_name in lay.groups():
            seen = (_pixels(hidden, colour_of(layer, class_name)) & map_area).sum()
            assert (seen == 0) == (layer == "predicted"), (layer, class_name, seen)
        urls = browser.requested_urls()
    assert urls == [page.resolve().as_uri()]  # the page itself, nothing else


def test_map_export_cli_writes_each_format(tmp_path, poc_data, dem_dir):
    """The real command line, in process (click's runner)."""
    for fmt in ("csv", "geojson", "png", "html"):
        out = tmp_path / f"map.{fmt}"
        done = CliRunner().invoke(main, ["map", "export", "--data", str(poc_data), "--format",
                                         fmt, "--out", str(out), "--epochs", "0..5", "--dem",
                                         str(dem_dir), "--max-range-km", "3"])
        assert done.exit_code == 0, done.output
        assert out.stat().st_size > 0 and "proven cells from" in done.output
    assert not list(tmp_path.glob("*.tmp"))
    bad = CliRunner().invoke(main, ["map", "export", "--data", str(poc_data), "--format", "csv",
                                    "--out", str(tmp_path / "x.csv"), "--epochs", "9..3"])
    assert bad.exit_code == 2 and "'9..3': expected A..B with A <= B" in bad.output


def test_hotspot_markers_say_whose_coverage_is_proven(layers):
    _, lay = layers
    assert any(h.proven for h in lay.hotspots) and all(isinstance(h, MapHotspot)
                                                        for h in lay.hotspots)
    proven_keys = {h.key_hex for h in lay.hotspots if h.proven}
    assert all(h.witnessed > 0 for h in lay.hotspots if h.key_hex in proven_keys)
