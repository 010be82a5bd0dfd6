"""Model calibration from witness data: the fit on known offsets, its file, and on a simulated
world whose air hides a clutter field from the model: held-out residuals and the map's
agreement with the air both improve (figures printed; the README quotes them)."""

from __future__ import annotations

import doctest
import json

import h3
import numpy as np
import pytest
from click.testing import CliRunner

from coverage_net.cli._main import main
from coverage_net.coverage import (
    Calibration,
    CalibrationError,
    CalibrationSamples,
    PredictionSettings,
    calibrated_hotspot,
    calibration_report,
    calibration_samples,
    cell_parents,
    fit_calibration,
    holdout_mask,
    load_calibration,
    predict_hotspot,
    save_calibration,
    station_of,
)
from coverage_net.node import (
    PocScenario,
    run_poc_scenario,
    save_announcements,
    save_verdicts,
    verdict_row,
)
from coverage_net.radio import (
    FreeSpace,
    Sites,
    Station,
    Terrain,
    path_loss_db,
    shadowing_db,
    time_on_air_s,
)
from coverage_net.store import MessageStore
from radio_sim import Channel, ClutterField, Transmission, World, _clutter

CLUTTER_SIGMA_DB = 8.0
SCENARIO = PocScenario(dem_dir="", hotspots=60, beacons=300, seed=5,
                       clutter_sigma_db=CLUTTER_SIGMA_DB)


def _area(lat: float, lon: float) -> int:
    return h3.str_to_int(h3.latlng_to_cell(lat, lon, 6))


def _samples(pairs: list[tuple[int, int]], excess_db: np.ndarray) -> CalibrationSamples:
    modelled = np.full(len(pairs), -10_000, dtype=np.int64)
    return CalibrationSamples(
        tuple(i.to_bytes(4, "big") for i in range(len(pairs))),
        np.asarray([a for a, _ in pairs], dtype=np.uint64),
        np.asarray([b for _, b in pairs], dtype=np.uint64),
        modelled - np.round(excess_db * 100).astype(np.int64), modelled)


def test_the_fit_recovers_known_offsets_and_shrinks_a_thin_area():
    areas = [_area(44.1 + 0.1 * i, -71.5) for i in range(6)]
    truth_db = np.array([6.0, -4.0, 2.0, -8.0, 0.0, 10.0])
    rng = np.random.default_rng(7)
    pairs = [(int(a), int(b)) for a, b in rng.integers(0, 5, size=(1500, 2))]
    pairs.append((5, 0))  # the sixth area: one witness
    ends = np.asarray(pairs)
    excess = truth_db[ends[:, 0]] + truth_db[ends[:, 1]] + rng.normal(0, 4.0, len(pairs))
    cal = fit_calibration(_samples([(areas[a], areas[b]) for a, b in pairs], excess))
    counts = dict(zip(cal.areas.tolist(), cal.samples.tolist(), strict=True))
    assert [counts[a] for a in areas] == [int((ends == i).any(axis=1).sum()) for i in range(6)]
    # a path's correction is both ends' truth, within a few tenths of a dB
    for a, b in ((0, 1), (2, 3), (4, 4), (0, 3)):
        got = cal.path_correction_centi_db([areas[a]], [areas[b]])[0] / 100
        assert abs(got - (truth_db[a] + truth_db[b])) < 0.8, (a, b, got)
    alone = cal.offset_at([areas[5]])[0] / 100 + cal.global_offset_centi_db / 200
    assert 0 < alone < excess[-1] - truth_db[0]  # shrunk towards 0, same sign
    assert 3.6 < cal.sigma_centi_db / 100 < 4.4 < cal.sigma_before_centi_db / 100
    assert cal.offset_at([_area(40.0, -80.0)]).tolist() == [0]  # never seen: no correction


def test_cell_parents_and_the_holdout_split():
    cells = [h3.latlng_to_cell(44.0 + i / 7, -71.0 - i / 9, r) for i, r in enumerate(range(6, 16))]
    assert cell_parents([h3.str_to_int(c) for c in cells], 6).tolist() == \
        [h3.str_to_int(h3.cell_to_parent(c, 6)) for c in cells]
    with pytest.raises(CalibrationError, match="coarser"):
        cell_parents([h3.str_to_int(h3.latlng_to_cell(44.0, -71.0, 5))], 6)
    ids = [bytes([i, 7]) * 16 for i in range(256)]
    held = holdout_mask(ids, 20)
    assert held.tolist() == holdout_mask(reversed(ids), 20)[::-1].tolist()
    assert 30 < held.sum() < 75 and not holdout_mask(ids, 0).any()


def test_the_file_round_trips_and_bad_files_say_why(tmp_path):
    areas = np.asarray(sorted(_area(44.1 + 0.1 * i, -71.5) for i in range(3)), dtype=np.uint64)
    cal = Calibration(6, -35, areas, np.array([120, -40, 0]), np.array([9, 4, 1]), 470, 810,
                      12, 95)
    back = load_calibration(save_calibration(cal, tmp_path / "c.json"))
    assert back.to_json() == cal.to_json()
    assert back.offset_at(areas).tolist() == [120, -40, 0]
    good = json.loads((tmp_path / "c.json").read_text())
    for text, why in (("{", "not JSON"), ("[]", "not a calibration"),
                      (json.dumps({**good, "version": 9}), "version 9"),
                      (json.dumps({**good, "sigma_centi_db": 4.7}), "malformed"),
                      (json.dumps({**good, "areas": [{"h3": "zz"}]}), "malformed"),
                      (json.dumps({**good, "res": 7}), "not at the calibration's res 7")):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(CalibrationError, match=why):
            load_calibration(tmp_path / "bad.json")
    with pytest.raises(CalibrationError, match="cannot read"):
        load_calibration(tmp_path / "absent.json")


@pytest.fixture(scope="module")
def cluttered(dem_dir):
    """A simulated world (60 hotspots, 300 beacons) whose air hides an 8 dB clutter field,
    its valid witnesses split 80/20 by report id, and the calibration on the 80."""
    from dataclasses import replace

    result = run_poc_scenario(replace(SCENARIO, dem_dir=str(dem_dir)))
    cells = {a.hotspot_key: a.cell for a in result.registry.announcements}
    samples = calibration_samples([verdict_row(v) for v in result.verdicts], cells)
    held = holdout_mask(samples.report_ids, 20)
    training, held_out = samples.subset(~held), samples.subset(held)
    return result, training, held_out, fit_calibration(training)


def test_held_out_residuals_fall_by_a_third_on_a_hidden_clutter_field(cluttered):
    _, training, held_out, cal = cluttered
    report = calibration_report(cal, training, held_out)
    h = report.held_out
    print(f"\nheld-out witnesses {h.samples}: RMS {h.rms_before_centi_db / 100:.2f} -> "
          f"{h.rms_after_centi_db / 100:.2f} dB ({100 * h.rms_reduction:.0f} % removed), bias "
          f"{h.bias_before_centi_db / 100:+.2f} -> {h.bias_after_centi_db / 100:+.2f} dB; "
          f"{len(cal.areas)} areas; sigma {cal.sigma_before_centi_db / 100:.2f} -> "
          f"{cal.sigma_centi_db / 100:.2f} dB")
    assert h.samples > 300 and training.__len__() > 4 * h.samples - 200
    assert h.rms_reduction >= 0.30
    assert abs(h.bias_after_centi_db) < abs(h.bias_before_centi_db) + 50
    # the offsets follow the field the model does not know, where witnesses are many
    truth = ClutterField(CLUTTER_SIGMA_DB, seed=SCENARIO.seed).area_db(cal.areas)
    many = cal.samples >= 50
    assert many.sum() >= 10
    assert np.corrcoef(truth[many], cal.offset_centi_db[many])[0, 1] > 0.85
    assert {a.area for a in report.areas} == set(cal.areas.tolist())


def test_the_calibrated_map_agrees_better_with_the_air(cluttered, dem_dir):
    """Received power predicted around proven hotspots against the air's own: the model
    plus the hidden clutter at both ends and the link's persistent shadowing."""
    result, _, _, cal = cluttered
    model = result.params.propagation.build_model(Terrain(dem_dir))
    field = ClutterField(CLUTTER_SIGMA_DB, seed=SCENARIO.seed)
    settings = PredictionSettings(res=8, max_range_km=8.0)
    by_key = {a.hotspot_key: a for a in result.registry.announcements}
    witnessed = {v.challenge_id for v in result.verdicts
                 if v.report_type == "witness_report" and v.valid}
    proven = sorted({v.hotspot_key for v in result.verdicts if v.report_type == "beacon_report"
                     and v.valid and v.challenge_id in witnessed})[:20]
    errors_before, errors_after, known = [], [], []
    for key in proven:
        station = station_of(by_key[key])
        raw = predict_hotspot(station, model, settings)
        fixed = calibrated_hotspot(station, model, settings, cal)
        cells, i_raw, i_fixed = np.intersect1d(raw.cells, fixed.cells, return_indices=True)
        tx, rx = Sites.from_latlon(station.lat_deg, station.lon_deg), Sites.from_cells(cells)
        loss = path_loss_db(tx, rx, model, freq_hz=raw.freq_hz,
                            tx_height_m=station.antenna_height_m,
                            rx_height_m=settings.rx_height_m)
        air_loss = (loss + field.loss_db(station.lat_deg, station.lon_deg)
                    + field.area_db(cell_parents(cells, 6))
                    - shadowing_db(tx, rx, SCENARIO.shadowing_sigma_db, seed=SCENARIO.seed))
        truth_dbm = station.eirp_dbm + settings.rx_gain_dbi - air_loss
        errors_before.append(raw.rssi_dbm[i_raw] - truth_dbm)
        errors_after.append(fixed.rssi_dbm[i_fixed] - truth_dbm)
        known.append(np.isin(cell_parents(cells, 6), cal.areas))
    errors = [np.concatenate(e) for e in (errors_before, errors_after)]
    calibrated = np.concatenate(known)
    (before, after), (before_known, after_known) = (
        [float(np.sqrt(np.mean(e[m] ** 2))) for e in errors]
        for m in (np.ones(len(calibrated), bool), calibrated))
    print(f"\npredicted vs the air's received power over {len(calibrated)} res-8 cells around "
          f"{len(proven)} proven hotspots: RMS error {before:.2f} -> {after:.2f} dB; over the "
          f"{calibrated.sum()} in calibrated areas {before_known:.2f} -> {after_known:.2f} dB")
    assert len(calibrated) > 1000 and calibrated.sum() > 500
    assert after < 0.75 * before and after_known < 0.6 * before_known


def test_the_commands_calibrate_a_store_and_export_with_it(cluttered, tmp_path, dem_dir):
    """`map calibrate` on the world's store writes what `fit_calibration` fits on the same
    80 % (the split is by report id), and `map export --calibration` predicts with it."""
    result, _, _, cal = cluttered
    data = tmp_path / "data"
    with MessageStore.open(data) as store:
        save_verdicts(store, result.verdicts)
        save_announcements(store, result.registry.announcements, received_ms=0)
    out = tmp_path / "calibration.json"
    runner = CliRunner()
    done = runner.invoke(main, ["map", "calibrate", "--data", str(data), "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert load_calibration(out).to_json() == cal.to_json()
    assert "held out" in done.output and "RMS removed" in done.output
    assert h3.int_to_str(int(cal.areas[0])) in done.output
    csv_path = tmp_path / "map.csv"
    export = runner.invoke(main, ["map", "export", "--data", str(data), "--format", "csv",
                                  "--dem", str(dem_dir), "--max-range-km", "2",
                                  "--calibration", str(out), "--out", str(csv_path), "-q"])
    assert export.exit_code == 0, export.output
    assert "predicted" in csv_path.read_text()


def test_the_air_loses_the_clutter_of_both_ends():
    assert doctest.testmod(_clutter).failed == 0
    world = World([Station(f"s{i}", lat_deg=44.1 + 0.15 * i, lon_deg=-71.3, region="US915",
                           antenna_height_m=10.0) for i in range(4)])
    field = ClutterField(CLUTTER_SIGMA_DB, seed=11)
    here = field.loss_db(world.lat_deg, world.lon_deg)
    assert len(set(np.round(here, 6).tolist())) > 1  # the stations stand in different areas
    heard = []
    for clutter in (None, field):
        channel = Channel(world, model=FreeSpace(), clutter=clutter)
        tx = Transmission(1, 0, 0.0, float(time_on_air_s(10, 7, 125_000)), 904_300_000, 7,
                          125_000, 5, 14.0)
        channel.begin(tx)
        heard.append({r.receiver: r.rssi_dbm for r in channel.end(1)})
    assert set(heard[0]) == {1, 2, 3}
    for j, rssi in heard[1].items():
        assert rssi == pytest.approx(heard[0][j] - here[0] - here[j])


def test_predict_applies_a_calibration_to_every_path(tmp_path):
    """A global offset moves every cell by exactly that much; a gain reaches cells the
    uncorrected prediction left below sensitivity (the headroom asked of the walk)."""
    hotspots = tmp_path / "h.csv"
    hotspots.write_text("name,lat,lon,height_m,gain_dbi,tx_power_dbm,region\n"
                        "a,44.27,-71.30,10,3,20,US915\n")
    best = {}
    for name, offset in (("none", None), ("loss", 1000), ("gain", -600)):
        args = ["predict", "--hotspots", str(hotspots), "--model", "hata-suburban", "--res",
                "8", "--max-range-km", "12", "--out", str(tmp_path / name), "-q"]
        if offset is not None:
            cal = Calibration(6, offset, np.zeros(0, np.uint64), np.zeros(0, np.int64),
                              np.zeros(0, np.int64), 400, 400, 0, 100)
            args += ["--calibration", str(save_calibration(cal, tmp_path / f"{name}.json"))]
        done = CliRunner().invoke(main, args)
        assert done.exit_code == 0, done.output
        cells = json.loads((tmp_path / name / "cells.geojson").read_text())["features"]
        best[name] = {f["properties"]["cell"]: f["properties"]["best_rssi_dbm"] for f in cells}
    assert set(best["loss"]) < set(best["none"]) < set(best["gain"])
    for cell, rssi in best["loss"].items():
        assert rssi == pytest.approx(best["none"][cell] - 10.0, abs=0.011)
    for cell, rssi in best["none"].items():
        assert best["gain"][cell] == pytest.approx(rssi + 6.0, abs=0.011)
